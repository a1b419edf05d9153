/* Unit tests: the worker agent — register, heartbeats, master replies,
 * unknown-node re-registration, retries with backoff, one request in
 * flight, deadlines, and allocation failures.  A scripted fake send records
 * what the agent posts; the tests decode it with the wire decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/agent.h>
#include <mcphub/wire.h>

#include "fakes/fakes.h"

#define MAX_SENT 1024
#define MAX_CALLS 256

typedef struct harness {
    mcphub_agent *a;
    mcphub_agent_opts opts;
    mcphub_agent_callbacks cb;
    fake_random rnd;
    fake_log log;
    int oom_logged;
    /* send */
    int send_rc;                /* what send returns */
    int sent;                   /* messages sent so far */
    int kinds[MAX_SENT];
    uint64_t sent_at[MAX_SENT];
    char path[64];
    char *body;                 /* the last body (libc copy) */
    size_t body_len;
    uint64_t now;               /* the test's clock, for sent_at */
    /* collect */
    mcphub_wire_replica_report reports[4];
    size_t n_reports;
    mcphub_node_metrics metrics;
    uint64_t wall;
    /* assign / release, in call order: 'A' or 'R' then the replica id */
    char calls[MAX_CALLS][64];
    int n_calls, n_assign, n_release;
    uint64_t last_config_version;
    char last_config[128];
    /* re-entry probe */
    int reenter;
} harness;

/* ---- callbacks ----------------------------------------------------------- */

static int h_send(mcphub_agent_request kind, const char *path, const char *body, size_t len,
                  void *ud)
{
    harness *h = ud;

    assert_non_null(body);
    assert_int_equal(body[len], '\0');
    if (h->send_rc != 0)
        return h->send_rc;
    if (h->sent < MAX_SENT) {
        h->kinds[h->sent] = (int)kind;
        h->sent_at[h->sent] = h->now;
    }
    h->sent++;
    snprintf(h->path, sizeof h->path, "%s", path);
    free(h->body);
    h->body = malloc(len + 1);
    assert_non_null(h->body);
    memcpy(h->body, body, len + 1);
    h->body_len = len;
    return 0;
}

static void h_collect(const mcphub_wire_replica_report **reports, size_t *n,
                      mcphub_node_metrics *metrics, void *ud)
{
    harness *h = ud;

    *reports = h->reports;
    *n = h->n_reports;
    *metrics = h->metrics;
}

static void record(harness *h, char tag, const char *id)
{
    assert_true(h->n_calls < MAX_CALLS);
    snprintf(h->calls[h->n_calls++], sizeof h->calls[0], "%c %s", tag, id);
}

static void h_assign(const mcphub_wire_assignment *as, void *ud)
{
    harness *h = ud;

    record(h, 'A', as->replica_id);
    h->n_assign++;
    h->last_config_version = as->config_version;
    snprintf(h->last_config, sizeof h->last_config, "%s",
             as->config_json != NULL ? as->config_json : "");
    if (h->reenter) {
        /* must be refused: the agent is in the middle of a reply */
        mcphub_agent_tick(h->a, UINT64_MAX);
        mcphub_agent_response(h->a, MCPHUB_AGENT_REQ_HEARTBEAT, 200, "", 0, NULL, 0);
        mcphub_agent_start(h->a, 0);
    }
}

static void h_release(const mcphub_wire_release *r, void *ud)
{
    harness *h = ud;

    record(h, 'R', r->replica_id);
    h->n_release++;
}

static uint64_t h_wall(void *ud)
{
    return ((harness *)ud)->wall;
}

static void h_log(mcphub_log_level level, const char *msg, void *ud)
{
    harness *h = ud;

    if (strstr(msg, "out of memory") != NULL)
        h->oom_logged++;
    if (level <= MCPHUB_LOG_INFO)
        fake_log_fn(level, msg, &h->log);
}

/* ---- set-up -------------------------------------------------------------- */

static void h_setup(harness *h)
{
    memset(h, 0, sizeof *h);
    h->rnd.state = 2024;
    memset(&h->opts, 0, sizeof h->opts);
    h->opts.size = sizeof h->opts;
    h->opts.node_id = "worker-1";
    h->opts.host = "10.0.0.7";
    h->opts.port = 3001;
    h->opts.internal_port = 3101;
    h->opts.meta.hostname = "w1.example";
    h->opts.meta.version = "0.1.0";
    h->opts.meta.os = "linux";
    h->opts.meta.cpu_count = 4;
    h->opts.meta.memory_total = 8ull << 30;
    h->opts.weight = 2;
    h->opts.max_servers = 10;
    h->opts.random = fake_random_next;
    h->opts.random_user_data = &h->rnd;
    h->opts.log = h_log;
    h->opts.log_user_data = h;
    memset(&h->cb, 0, sizeof h->cb);
    h->cb.size = sizeof h->cb;
    h->cb.send = h_send;
    h->cb.collect = h_collect;
    h->cb.assign = h_assign;
    h->cb.release = h_release;
    h->cb.wall_clock = h_wall;
    h->cb.user_data = h;
    h->reports[0].replica_id = "fs-1";
    h->reports[0].server = "fs";
    h->reports[0].status = MCPHUB_REPLICA_RUNNING;
    h->reports[0].tools = 12;
    h->reports[0].config_version = 5;
    h->reports[1].replica_id = "git-1";
    h->reports[1].server = "git";
    h->reports[1].status = MCPHUB_REPLICA_ERROR;
    h->reports[1].config_version = 7;
    h->reports[1].error = "exited with status 1";
    h->n_reports = 2;
    h->metrics.cpu_percent = 37.5;
    h->metrics.memory_used = 3ull << 30;
    h->metrics.memory_total = 8ull << 30;
    h->metrics.active_connections = 42;
    h->wall = 1700000000123ull;
}

static void h_new(harness *h)
{
    h_setup(h);
    assert_int_equal(mcphub_agent_new(&h->a, &h->opts, &h->cb, NULL), 0);
}

static void h_done(harness *h)
{
    mcphub_agent_free(h->a);
    h->a = NULL;
    free(h->body);
    h->body = NULL;
}

/* ---- the fake master ------------------------------------------------------ */

static const mcphub_wire_assignment reg_assignments[] = {
    {"fs-2", "fs", "{\"command\":\"npx\",\"args\":[\"fs\"]}", 5},
    {"db-1", "db", "{\"url\":\"http://db:8080/mcp\"}", 9},
};

static void answer(harness *h, mcphub_agent_request kind, long status, const char *body,
                   uint64_t now)
{
    h->now = now;
    mcphub_agent_response(h->a, kind, status, body, body != NULL ? strlen(body) : 0,
                          status == 0 ? "connect to 10.0.0.1:3000 failed: Connection refused"
                                      : NULL,
                          now);
}

static void register_ok(harness *h, uint32_t interval, size_t n_assign, uint64_t now)
{
    mcphub_wire_register_reply r;
    char *out = NULL;

    memset(&r, 0, sizeof r);
    r.node_id = "worker-1";
    r.heartbeat_interval_ms = interval;
    r.assignments = n_assign > 0 ? reg_assignments : NULL;
    r.assignments_len = n_assign;
    assert_int_equal(mcphub_wire_register_reply_encode(&r, &out, NULL, NULL), 0);
    answer(h, MCPHUB_AGENT_REQ_REGISTER, 200, out, now);
    mcphub_wire_free(NULL, out);
}

static void heartbeat_ok(harness *h, size_t n_assign, size_t n_release, uint64_t now)
{
    static const mcphub_wire_assignment as[] = {{"web-3", "web", "{\"type\":\"sse\"}", 11}};
    static const mcphub_wire_release rel[] = {{"git-1", "git"}};
    mcphub_wire_heartbeat_reply r;
    char *out = NULL;

    memset(&r, 0, sizeof r);
    r.assignments = n_assign > 0 ? as : NULL;
    r.assignments_len = n_assign;
    r.releases = n_release > 0 ? rel : NULL;
    r.releases_len = n_release;
    assert_int_equal(mcphub_wire_heartbeat_reply_encode(&r, &out, NULL, NULL), 0);
    answer(h, MCPHUB_AGENT_REQ_HEARTBEAT, 200, out, now);
    mcphub_wire_free(NULL, out);
}

static void heartbeat_unknown(harness *h, uint64_t now)
{
    char *out = NULL;

    assert_int_equal(mcphub_wire_unknown_node_encode("worker-1", &out, NULL, NULL), 0);
    answer(h, MCPHUB_AGENT_REQ_HEARTBEAT, 404, out, now);
    mcphub_wire_free(NULL, out);
}

static void tick(harness *h, uint64_t now)
{
    h->now = now;
    mcphub_agent_tick(h->a, now);
}

static void start(harness *h, uint64_t now)
{
    h->now = now;
    mcphub_agent_start(h->a, now);
}

/* Start at 1000 and register with this interval and no assignments. */
static void h_active(harness *h, uint32_t interval)
{
    h_new(h);
    start(h, 1000);
    register_ok(h, interval, 0, 1010);
    assert_int_equal(mcphub_agent_get_state(h->a), MCPHUB_AGENT_ACTIVE);
}

static mcphub_wire_register *sent_register(const harness *h)
{
    mcphub_wire_register *m = NULL;
    mcphub_wire_error err;

    assert_string_equal(h->path, "/internal/cluster/register");
    assert_int_equal(mcphub_wire_register_decode(h->body, h->body_len, &m, NULL, &err), 0);
    return m;
}

static mcphub_wire_heartbeat *sent_heartbeat(const harness *h)
{
    mcphub_wire_heartbeat *m = NULL;
    mcphub_wire_error err;

    assert_string_equal(h->path, "/internal/cluster/heartbeat");
    assert_int_equal(mcphub_wire_heartbeat_decode(h->body, h->body_len, &m, NULL, &err), 0);
    return m;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_new_checks_its_input(void **state)
{
    harness h;
    mcphub_agent *a = (mcphub_agent *)&h;
    struct { mcphub_agent_opts o; char extra[8]; } bigger;

    (void)state;
    h_setup(&h);
    assert_int_equal(mcphub_agent_new(NULL, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_agent_new(&a, NULL, &h.cb, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_agent_new(&a, &h.opts, NULL, NULL), MCPHUB_E_INVAL);
    h.cb.release = NULL;
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.cb.release = h_release;
    h.opts.node_id = "worker 1"; /* space: breaks the id rule */
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.opts.node_id = NULL;
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.opts.node_id = "worker-1";
    h.opts.port = 0;
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.opts.port = 3001;
    h.opts.weight = MCPHUB_WIRE_MAX_WEIGHT + 1;
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.opts.weight = 0;
    h.opts.heartbeat_interval_ms = MCPHUB_WIRE_MAX_INTERVAL + 1;
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), MCPHUB_E_INVAL);
    h.opts.heartbeat_interval_ms = 0;
    memset(&bigger, 0, sizeof bigger);
    bigger.o = h.opts;
    bigger.o.size = sizeof bigger;
    bigger.extra[2] = 1; /* a newer caller's field we do not know */
    assert_int_equal(mcphub_agent_new(&a, &bigger.o, &h.cb, NULL), MCPHUB_E_INVAL);
    assert_ptr_equal(a, (mcphub_agent *)&h); /* failures left *out alone */
    assert_int_equal(h.sent, 0);

    /* a valid set: idle, nothing scheduled, defaults in place */
    assert_int_equal(mcphub_agent_new(&a, &h.opts, &h.cb, NULL), 0);
    assert_int_equal(mcphub_agent_get_state(a), MCPHUB_AGENT_IDLE);
    assert_int_equal(mcphub_agent_next_deadline(a), UINT64_MAX);
    assert_int_equal(mcphub_agent_heartbeat_interval(a), 5000);
    assert_string_equal(mcphub_agent_last_error(a), "");
    assert_int_equal(mcphub_agent_last_contact_ms(a), 0);
    mcphub_agent_tick(a, 1000000); /* idle: tick sends nothing */
    assert_int_equal(h.sent, 0);
    mcphub_agent_free(a);
    mcphub_agent_free(NULL);
    free(h.body);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(mcphub_agent_state_name(MCPHUB_AGENT_IDLE), "idle");
    assert_string_equal(mcphub_agent_state_name(MCPHUB_AGENT_REGISTERING), "registering");
    assert_string_equal(mcphub_agent_state_name(MCPHUB_AGENT_ACTIVE), "active");
    assert_string_equal(mcphub_agent_state_name(MCPHUB_AGENT_BACKOFF), "backoff");
    assert_string_equal(mcphub_agent_state_name((mcphub_agent_state)42), "unknown");
}

static void test_first_register_carries_node_and_reports(void **state)
{
    harness h;
    mcphub_wire_register *m;

    (void)state;
    h_new(&h);
    start(&h, 1000);
    assert_int_equal(h.sent, 1);
    assert_int_equal(h.kinds[0], MCPHUB_AGENT_REQ_REGISTER);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_REGISTERING);
    m = sent_register(&h);
    assert_string_equal(m->node_id, "worker-1");
    assert_int_equal(m->role, MCPHUB_ROLE_WORKER);
    assert_string_equal(m->host, "10.0.0.7");
    assert_int_equal(m->port, 3001);
    assert_int_equal(m->internal_port, 3101);
    assert_int_equal(m->weight, 2);
    assert_int_equal(m->max_servers, 10);
    assert_string_equal(m->meta.hostname, "w1.example");
    assert_string_equal(m->meta.os, "linux");
    assert_int_equal(m->meta.cpu_count, 4);
    assert_int_equal(m->replicas_len, 2);
    assert_string_equal(m->replicas[0].replica_id, "fs-1");
    assert_string_equal(m->replicas[0].server, "fs");
    assert_int_equal(m->replicas[0].status, MCPHUB_REPLICA_RUNNING);
    assert_int_equal(m->replicas[0].tools, 12);
    assert_int_equal(m->replicas[1].status, MCPHUB_REPLICA_ERROR);
    assert_string_equal(m->replicas[1].error, "exited with status 1");
    assert_int_equal(m->replicas[1].config_version, 7);
    mcphub_wire_register_free(m);

    /* one request in flight: nothing is scheduled, ticks send nothing, a
     * second start does nothing */
    assert_int_equal(mcphub_agent_next_deadline(h.a), UINT64_MAX);
    tick(&h, 1000000);
    start(&h, 1000000);
    assert_int_equal(h.sent, 1);
    assert_true(fake_log_has(&h.log, "agent_start node=worker-1"));
    h_done(&h);
}

static void test_register_reply_assignments_become_assign_calls(void **state)
{
    harness h;

    (void)state;
    h_new(&h);
    start(&h, 1000);
    register_ok(&h, 2000, 2, 1040);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_int_equal(mcphub_agent_heartbeat_interval(h.a), 2000);
    assert_int_equal(mcphub_agent_last_contact_ms(h.a), 1040);
    assert_int_equal(h.n_assign, 2);
    assert_int_equal(h.n_release, 0);
    assert_string_equal(h.calls[0], "A fs-2");
    assert_string_equal(h.calls[1], "A db-1");
    assert_int_equal(h.last_config_version, 9);
    assert_string_equal(h.last_config, "{\"url\":\"http://db:8080/mcp\"}");
    /* the interval counts from when the register was sent */
    assert_int_equal(mcphub_agent_next_deadline(h.a), 1000 + 2000);
    assert_true(fake_log_has(&h.log, "agent_registered node=worker-1 "
                                     "master_heartbeat_interval=2000 assignments=2"));
    h_done(&h);
}

static void test_heartbeats_every_interval_with_reports_and_metrics(void **state)
{
    harness h;
    mcphub_wire_heartbeat *m;
    uint64_t due;
    int i;

    (void)state;
    h_active(&h, 3000);
    due = mcphub_agent_next_deadline(h.a);
    assert_int_equal(due, 4000);
    for (i = 0; i < 4; i++) {
        tick(&h, due - 1); /* early: nothing */
        assert_int_equal(h.sent, 1 + i);
        tick(&h, due);
        assert_int_equal(h.sent, 2 + i);
        assert_int_equal(h.kinds[1 + i], MCPHUB_AGENT_REQ_HEARTBEAT);
        m = sent_heartbeat(&h);
        assert_string_equal(m->node_id, "worker-1");
        assert_int_equal(m->timestamp_ms, 1700000000123ull + (uint64_t)i);
        assert_int_equal(m->config_version, 7); /* the highest reported */
        assert_true(m->metrics.cpu_percent > 37.4 && m->metrics.cpu_percent < 37.6);
        assert_int_equal(m->metrics.memory_used, 3ull << 30);
        assert_int_equal(m->metrics.memory_total, 8ull << 30);
        assert_int_equal(m->metrics.active_connections, 42);
        assert_int_equal(m->replicas_len, 2);
        assert_string_equal(m->replicas[1].replica_id, "git-1");
        assert_string_equal(m->replicas[1].error, "exited with status 1");
        mcphub_wire_heartbeat_free(m);
        /* in flight: no deadline, ticks do nothing */
        assert_int_equal(mcphub_agent_next_deadline(h.a), UINT64_MAX);
        tick(&h, due + 100000);
        assert_int_equal(h.sent, 2 + i);
        heartbeat_ok(&h, 0, 0, due + 250);
        assert_int_equal(mcphub_agent_last_contact_ms(h.a), due + 250);
        /* the next one is one interval after this one was sent */
        assert_int_equal(mcphub_agent_next_deadline(h.a), due + 3000);
        due += 3000;
        h.wall++;
    }
    /* what collect says changes the next message */
    h.n_reports = 0;
    h.metrics.cpu_percent = -3.0; /* an odd probe reading is sent as 0 */
    tick(&h, due);
    m = sent_heartbeat(&h);
    assert_int_equal(m->replicas_len, 0);
    assert_int_equal(m->config_version, 0);
    assert_true(m->metrics.cpu_percent == 0.0);
    mcphub_wire_heartbeat_free(m);
    assert_int_equal(h.n_assign + h.n_release, 0);
    h_done(&h);
}

static void test_heartbeat_reply_assignments_and_releases(void **state)
{
    harness h;

    (void)state;
    h_active(&h, 1000);
    tick(&h, 2000);
    heartbeat_ok(&h, 1, 1, 2010);
    assert_int_equal(h.n_release, 1);
    assert_int_equal(h.n_assign, 1);
    /* releases first, then assignments */
    assert_string_equal(h.calls[0], "R git-1");
    assert_string_equal(h.calls[1], "A web-3");
    assert_int_equal(h.last_config_version, 11);
    assert_string_equal(h.last_config, "{\"type\":\"sse\"}");
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_true(fake_log_has(&h.log, "agent_heartbeat_ok assignments=1 releases=1"));
    h_done(&h);
}

static void test_unknown_node_registers_again_at_once(void **state)
{
    harness h;
    mcphub_wire_register *m;

    (void)state;
    h_active(&h, 1000);
    tick(&h, 2000);
    assert_int_equal(h.sent, 2);
    heartbeat_unknown(&h, 2020);
    /* no waiting: the register went out inside the response */
    assert_int_equal(h.sent, 3);
    assert_int_equal(h.kinds[2], MCPHUB_AGENT_REQ_REGISTER);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_REGISTERING);
    assert_true(fake_log_has(&h.log, "agent_reregister reason=unknown-node"));
    /* it reports what runs so that the master adopts it */
    m = sent_register(&h);
    assert_int_equal(m->replicas_len, 2);
    assert_string_equal(m->replicas[0].replica_id, "fs-1");
    mcphub_wire_register_free(m);
    assert_int_equal(h.n_release, 0);
    register_ok(&h, 1000, 0, 2030);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_int_equal(mcphub_agent_next_deadline(h.a), 2020 + 1000);
    /* known:false only counts with 2xx or 404; a 5xx is an outage */
    tick(&h, 3020);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 500,
           "{\"success\":false,\"message\":\"x\",\"data\":{\"known\":false}}", 3021);
    assert_int_equal(h.sent, 4);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 1);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    h_done(&h);
}

/* Drive: register ok at 1000 (interval 1000), three heartbeats that find no
 * master, then registers answered 503 `rounds` times.  Fills delays[] with
 * each backoff delay.  Returns the harness still alive. */
static void fail_run(harness *h, uint32_t seed, uint64_t *delays, int rounds)
{
    uint64_t t, due;
    int i;

    h_setup(h);
    h->rnd.state = seed;
    assert_int_equal(mcphub_agent_new(&h->a, &h->opts, &h->cb, NULL), 0);
    start(h, 1000);
    register_ok(h, 1000, 2, 1010);
    for (i = 1; i <= 3; i++) {
        due = mcphub_agent_next_deadline(h->a);
        assert_int_equal(due, 1000 + 1000 * (uint64_t)i); /* the interval, not backoff */
        tick(h, due);
        assert_int_equal(h->kinds[h->sent - 1], MCPHUB_AGENT_REQ_HEARTBEAT);
        answer(h, MCPHUB_AGENT_REQ_HEARTBEAT, 0, NULL, due + 5);
        assert_int_equal(mcphub_agent_heartbeat_failures(h->a), (uint32_t)i);
        /* the replicas keep running */
        assert_int_equal(mcphub_agent_get_state(h->a),
                         i < 3 ? MCPHUB_AGENT_ACTIVE : MCPHUB_AGENT_BACKOFF);
    }
    t = 1000 + 3000 + 5;
    for (i = 0; i < rounds; i++) {
        due = mcphub_agent_next_deadline(h->a);
        assert_true(due > t);
        delays[i] = due - t;
        tick(h, due - 1);
        assert_int_equal(h->kinds[h->sent - 1], i == 0 ? MCPHUB_AGENT_REQ_HEARTBEAT
                                                       : MCPHUB_AGENT_REQ_REGISTER);
        tick(h, due);
        assert_int_equal(h->kinds[h->sent - 1], MCPHUB_AGENT_REQ_REGISTER);
        assert_int_equal(mcphub_agent_get_state(h->a), MCPHUB_AGENT_REGISTERING);
        t = due + 7;
        answer(h, MCPHUB_AGENT_REQ_REGISTER, 503,
               "{\"success\":false,\"message\":\"starting up\"}", t);
        assert_int_equal(mcphub_agent_get_state(h->a), MCPHUB_AGENT_BACKOFF);
    }
}

static void test_master_outage_heartbeats_then_register_with_backoff(void **state)
{
    enum { ROUNDS = 10 };
    harness h, h2;
    uint64_t d[ROUNDS], d2[ROUNDS], d3[ROUNDS];
    int i, exact = 1, same = 1;

    (void)state;
    fail_run(&h, 77, d, ROUNDS);
    for (i = 0; i < ROUNDS; i++) {
        uint64_t want = (1000ull << i) < 30000 ? (1000ull << i) : 30000;
        uint64_t hi = want * 12 / 10 < 30000 ? want * 12 / 10 : 30000;

        assert_in_range(d[i], want * 8 / 10, hi);
        assert_true(d[i] <= 30000);
        if (i > 0 && want < 30000)
            assert_true(d[i] > d[i - 1]); /* grows */
        if (d[i] != want)
            exact = 0;
    }
    assert_true(d[ROUNDS - 1] >= 24000); /* reached the cap */
    assert_false(exact);                 /* jitter moved them */
    /* an outage never stops a replica; no assignment came either */
    assert_int_equal(h.n_release, 0);
    assert_int_equal(h.n_assign, 2);     /* only the register reply's */
    assert_int_equal(mcphub_agent_last_contact_ms(h.a), 1010);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "HTTP 503"));
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "starting up"));
    assert_true(fake_log_has(&h.log, "agent_master_unreachable request=register"));
    assert_true(fake_log_has(&h.log, "next=register retry_in_ms="));

    /* back: the delays start over */
    tick(&h, mcphub_agent_next_deadline(h.a));
    register_ok(&h, 1000, 0, h.now + 1);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_string_equal(mcphub_agent_last_error(h.a), "");
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 0);
    for (i = 0; i < 3; i++) {
        tick(&h, mcphub_agent_next_deadline(h.a));
        answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 0, NULL, h.now);
    }
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_in_range(mcphub_agent_next_deadline(h.a) - h.now, 800, 1200);
    assert_int_equal(h.n_release, 0);
    h_done(&h);

    /* the same seed gives the same delays; another seed other ones */
    fail_run(&h2, 77, d2, ROUNDS);
    h_done(&h2);
    fail_run(&h2, 78, d3, ROUNDS);
    h_done(&h2);
    for (i = 0; i < ROUNDS; i++) {
        assert_int_equal(d[i], d2[i]);
        if (d[i] != d3[i])
            same = 0;
    }
    assert_false(same);
}

static void test_heartbeat_recovers_before_the_third_failure(void **state)
{
    harness h;

    (void)state;
    h_active(&h, 1000);
    tick(&h, 2000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 502, "<html>bad gateway</html>", 2005);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 1);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "HTTP 502"));
    tick(&h, 3000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 0, NULL, 3005);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 2);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "Connection refused"));
    tick(&h, 4000);
    heartbeat_ok(&h, 0, 0, 4005);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 0);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_string_equal(mcphub_agent_last_error(h.a), "");
    assert_true(fake_log_has(&h.log, "agent_master_reachable after_failures=2"));
    /* only heartbeats went out: no re-register */
    assert_int_equal(h.sent, 4);
    assert_int_equal(h.kinds[3], MCPHUB_AGENT_REQ_HEARTBEAT);
    h_done(&h);
}

static void test_wrong_token_backs_off_with_a_clear_error(void **state)
{
    harness h;
    uint64_t due;

    (void)state;
    h_new(&h);
    start(&h, 1000);
    answer(&h, MCPHUB_AGENT_REQ_REGISTER, 401,
           "{\"success\":false,\"message\":\"invalid cluster token\"}", 1010);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "HTTP 401"));
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "invalid cluster token"));
    assert_true(fake_log_has(&h.log, "agent_auth_failed request=register"));
    assert_true(fake_log_has(&h.log, "configuration error"));
    due = mcphub_agent_next_deadline(h.a);
    assert_in_range(due - 1010, 800, 1200);
    tick(&h, due);
    answer(&h, MCPHUB_AGENT_REQ_REGISTER, 403, "", due + 1);
    assert_in_range(mcphub_agent_next_deadline(h.a) - (due + 1), 1600, 2400);
    h_done(&h);

    /* a heartbeat refused for its token goes straight to backoff */
    h_active(&h, 1000);
    tick(&h, 2000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 403, NULL, 2001);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_in_range(mcphub_agent_next_deadline(h.a) - 2001, 800, 1200);
    assert_true(fake_log_has(&h.log, "agent_auth_failed request=heartbeat"));
    assert_int_equal(h.n_release, 0);
    h_done(&h);
}

static void test_malformed_replies_fail_with_the_field_named(void **state)
{
    static const char bad_interval[] =
        "{\"success\":true,\"data\":{\"nodeId\":\"worker-1\",\"heartbeatInterval\":0}}";
    static const char other_node[] =
        "{\"success\":true,\"data\":{\"nodeId\":\"worker-9\",\"heartbeatInterval\":1000}}";
    static const char bad_assignment[] =
        "{\"success\":true,\"data\":{\"known\":true,\"assignments\":[{\"replicaId\":"
        "\"ok-1\",\"serverName\":\"a\",\"config\":{}},{\"replicaId\":\"bad id\","
        "\"serverName\":\"a\",\"config\":{}}],\"releases\":[]}}";
    harness h;

    (void)state;
    h_new(&h);
    start(&h, 1000);
    answer(&h, MCPHUB_AGENT_REQ_REGISTER, 200, bad_interval, 1001);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "register reply"));
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "data.heartbeatInterval"));
    assert_true(fake_log_has(&h.log, "agent_request_failed request=register"));
    tick(&h, mcphub_agent_next_deadline(h.a));
    answer(&h, MCPHUB_AGENT_REQ_REGISTER, 200, other_node, h.now + 1);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "data.nodeId"));
    tick(&h, mcphub_agent_next_deadline(h.a));
    answer(&h, MCPHUB_AGENT_REQ_REGISTER, 200, "not json", h.now + 1);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "invalid JSON"));
    assert_int_equal(mcphub_agent_last_contact_ms(h.a), 0);
    h_done(&h);

    /* a heartbeat reply with one bad assignment acts on none of them */
    h_active(&h, 1000);
    tick(&h, 2000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 200, bad_assignment, 2001);
    assert_int_equal(h.n_assign, 0);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 1);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "data.assignments[1].replicaId"));
    /* an empty body */
    tick(&h, 3000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 200, NULL, 3001);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 2);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "heartbeat reply"));
    /* a 404 that is not the unknown-node answer (a wrong path) is a failure */
    tick(&h, 4000);
    answer(&h, MCPHUB_AGENT_REQ_HEARTBEAT, 404, "Not Found", 4001);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "HTTP 404"));
    assert_false(fake_log_has(&h.log, "agent_reregister"));
    h_done(&h);
}

static void test_send_refused_counts_as_a_failure(void **state)
{
    harness h;

    (void)state;
    h_new(&h);
    h.send_rc = MCPHUB_E_FULL;
    start(&h, 1000);
    assert_int_equal(h.sent, 0);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "could not be sent"));
    /* nothing is in flight: a deadline is set and a late response is ignored */
    assert_in_range(mcphub_agent_next_deadline(h.a) - 1000, 800, 1200);
    register_ok(&h, 1000, 2, 1500);
    assert_int_equal(h.n_assign, 0);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_BACKOFF);
    assert_true(fake_log_has(&h.log, "agent_unexpected_response"));
    h.send_rc = 0;
    tick(&h, mcphub_agent_next_deadline(h.a));
    assert_int_equal(h.sent, 1);
    /* a response of the other kind is not this one's */
    heartbeat_ok(&h, 1, 1, h.now + 1);
    assert_int_equal(h.n_assign + h.n_release, 0);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_REGISTERING);
    register_ok(&h, 1000, 0, h.now + 1);
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    h_done(&h);
}

static void test_bad_report_from_collect_is_not_sent(void **state)
{
    harness h;

    (void)state;
    h_active(&h, 1000);
    h.reports[1].replica_id = "git 1"; /* breaks the id rule */
    tick(&h, 2000);
    assert_int_equal(h.sent, 1);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 1);
    assert_non_null(strstr(mcphub_agent_last_error(h.a), "collect"));
    h.reports[1].replica_id = "git-1";
    tick(&h, 3000);
    assert_int_equal(h.sent, 2);
    heartbeat_ok(&h, 0, 0, 3001);
    assert_int_equal(mcphub_agent_heartbeat_failures(h.a), 0);
    h_done(&h);
}

static void test_callbacks_cannot_reenter(void **state)
{
    harness h;

    (void)state;
    h_new(&h);
    h.reenter = 1;
    start(&h, 1000);
    register_ok(&h, 1000, 2, 1001);
    assert_int_equal(h.n_assign, 2);
    assert_int_equal(h.sent, 1); /* the tick from inside assign sent nothing */
    assert_int_equal(mcphub_agent_get_state(h.a), MCPHUB_AGENT_ACTIVE);
    assert_int_equal(mcphub_agent_next_deadline(h.a), 2000);
    assert_true(fake_log_has(&h.log, "agent_reentered call=tick"));
    assert_true(fake_log_has(&h.log, "agent_reentered call=response"));
    h_done(&h);
}

/* tick sends exactly when now_ms has reached next_deadline, whatever the
 * master answers. */
static void test_next_deadline_matches_tick(void **state)
{
    harness h;
    uint64_t t;
    int k = 0, sends = 0;

    (void)state;
    h_new(&h);
    start(&h, 0);
    register_ok(&h, 1000, 0, 0);
    for (t = 0; t < 400000; t += 50) {
        uint64_t d = mcphub_agent_next_deadline(h.a);
        int before = h.sent;

        tick(&h, t);
        if (d == UINT64_MAX) {
            assert_int_equal(h.sent, before);
        } else {
            assert_int_equal(h.sent - before, t >= d ? 1 : 0);
        }
        if (h.sent == before)
            continue;
        sends++;
        /* the master answers at once: ok, down, unknown, 500 in turn */
        switch (k++ % 7) {
        case 0: case 1: case 4:
            if (h.kinds[h.sent - 1] == MCPHUB_AGENT_REQ_REGISTER)
                register_ok(&h, 1000, 0, t);
            else
                heartbeat_ok(&h, 0, 0, t);
            break;
        case 2:
            if (h.kinds[h.sent - 1] == MCPHUB_AGENT_REQ_HEARTBEAT) {
                heartbeat_unknown(&h, t);
                register_ok(&h, 1000, 0, t); /* answer the re-register */
                break;
            }
            answer(&h, MCPHUB_AGENT_REQ_REGISTER, 0, NULL, t);
            break;
        case 3: case 5:
            answer(&h, (mcphub_agent_request)h.kinds[h.sent - 1], 0, NULL, t);
            break;
        default:
            answer(&h, (mcphub_agent_request)h.kinds[h.sent - 1], 500, "oops", t);
            break;
        }
        assert_int_not_equal(mcphub_agent_next_deadline(h.a), UINT64_MAX);
    }
    assert_true(sends > 100);
    assert_int_equal(h.n_release, 0);
    h_done(&h);
}

/* ---- allocation failures ------------------------------------------------- */

/* A scripted master: what it answers to the k-th request it receives. */
enum { M_OK, M_OK_MORE, M_UNKNOWN, M_DOWN, M_503 };
static const int master_script[] = {M_OK,   M_OK_MORE, M_OK, M_UNKNOWN, M_OK,
                                    M_DOWN, M_DOWN,    M_DOWN, M_503,   M_OK, M_OK};

static int agent_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    harness *h = arg;
    mcphub_agent *sentinel = (mcphub_agent *)fa;
    uint64_t t = 1000;
    size_t k = 0;
    int rc, answered = 0;

    h_setup(h);
    h->a = sentinel;
    rc = mcphub_agent_new(&h->a, &h->opts, &h->cb, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(h->a, sentinel); /* a failed call changed nothing */
        assert_int_equal(fa->live, 0);
        h->a = NULL;
        return rc;
    }
    start(h, t);
    for (;;) {
        int before_assign = h->n_assign, before_release = h->n_release;
        int act = k < sizeof master_script / sizeof master_script[0] ? master_script[k] : M_OK;

        if (h->sent > answered) {
            mcphub_agent_request kind = (mcphub_agent_request)h->kinds[h->sent - 1];

            answered = h->sent;
            k++;
            t += 3;
            if (act == M_DOWN)
                answer(h, kind, 0, NULL, t);
            else if (act == M_503)
                answer(h, kind, 503, "", t);
            else if (kind == MCPHUB_AGENT_REQ_REGISTER)
                register_ok(h, 1000, act == M_OK_MORE ? 0 : 2, t);
            else if (act == M_UNKNOWN)
                heartbeat_unknown(h, t);
            else
                heartbeat_ok(h, act == M_OK_MORE ? 1 : 0, act == M_OK_MORE ? 1 : 0, t);
            /* a reply acts in full or not at all */
            if (kind == MCPHUB_AGENT_REQ_REGISTER && act != M_DOWN && act != M_503)
                assert_true(h->n_assign - before_assign == 0 ||
                            h->n_assign - before_assign == 2);
            if (act == M_DOWN || act == M_503 ||
                (act == M_UNKNOWN && kind == MCPHUB_AGENT_REQ_HEARTBEAT)) {
                assert_int_equal(h->n_release, before_release);
                assert_int_equal(h->n_assign, before_assign);
            }
            continue;
        }
        if (t >= 120000)
            break;
        t = mcphub_agent_next_deadline(h->a);
        assert_int_not_equal(t, UINT64_MAX); /* never stuck */
        tick(h, t);
    }
    /* one failed allocation cost one attempt at most: the agent is back */
    assert_int_equal(mcphub_agent_get_state(h->a), MCPHUB_AGENT_ACTIVE);
    assert_true(h->n_release <= 1);
    if (fa->count >= fa->fail_at)
        assert_true(h->oom_logged > 0); /* the failure was reported clearly */
    h_done(h);
    return 0;
}

static void test_allocation_failures(void **state)
{
    harness h;
    long allocs;

    (void)state;
    allocs = fake_alloc_loop(agent_scenario, &h);
    assert_true(allocs > 20); /* messages were built and replies decoded */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_checks_its_input),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_first_register_carries_node_and_reports),
        cmocka_unit_test(test_register_reply_assignments_become_assign_calls),
        cmocka_unit_test(test_heartbeats_every_interval_with_reports_and_metrics),
        cmocka_unit_test(test_heartbeat_reply_assignments_and_releases),
        cmocka_unit_test(test_unknown_node_registers_again_at_once),
        cmocka_unit_test(test_master_outage_heartbeats_then_register_with_backoff),
        cmocka_unit_test(test_heartbeat_recovers_before_the_third_failure),
        cmocka_unit_test(test_wrong_token_backs_off_with_a_clear_error),
        cmocka_unit_test(test_malformed_replies_fail_with_the_field_named),
        cmocka_unit_test(test_send_refused_counts_as_a_failure),
        cmocka_unit_test(test_bad_report_from_collect_is_not_sent),
        cmocka_unit_test(test_callbacks_cannot_reenter),
        cmocka_unit_test(test_next_deadline_matches_tick),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
