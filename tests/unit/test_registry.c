/* Unit tests: node registry and its rise/fall health hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/registry.h>

#include "core/mem_int.h"
#include "fakes/fakes.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef struct event {
    char id[MCPHUB_REGISTRY_ID_MAX + 1];
    mcphub_node_status from, to;
    char reason[32];
} event;

typedef struct recorder {
    event ev[64];
    int n;
    const mcphub_registry *r; /* to check the callback sees the change done */
} recorder;

static void on_status(const mcphub_node *node, mcphub_node_status old_status, const char *reason,
                      void *user_data)
{
    recorder *rec = user_data;
    event *e;

    assert_true(rec->n < 64);
    e = &rec->ev[rec->n++];
    snprintf(e->id, sizeof e->id, "%s", node->id);
    e->from = old_status;
    e->to = node->status;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    if (rec->r != NULL) /* "after the change": the registry already says so */
        assert_int_equal(mcphub_registry_get(rec->r, node->id)->status, node->status);
}

static void assert_event(const recorder *rec, int i, const char *id, mcphub_node_status from,
                         mcphub_node_status to, const char *reason)
{
    assert_true(i < rec->n);
    assert_string_equal(rec->ev[i].id, id);
    assert_int_equal(rec->ev[i].from, from);
    assert_int_equal(rec->ev[i].to, to);
    assert_string_equal(rec->ev[i].reason, reason);
}

static mcphub_node_info info_of(const char *id, const char *host, uint16_t port)
{
    mcphub_node_info in;

    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    in.id = id;
    in.role = MCPHUB_ROLE_WORKER;
    in.host = host;
    in.port = port;
    return in;
}

/* Defaults: interval 5000, unhealthy after 10000, offline after 15000,
 * fall 3, rise 2. */
typedef struct fixture {
    mcphub_registry *r;
    recorder rec;
    fake_log log;
} fixture;

static void fixture_new(fixture *fx, mcphub_registry_opts *opts)
{
    mcphub_registry_opts o;

    memset(fx, 0, sizeof *fx);
    if (opts == NULL) {
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        opts = &o;
    }
    opts->on_status = on_status;
    opts->user_data = &fx->rec;
    opts->log = fake_log_fn;
    opts->log_user_data = &fx->log;
    assert_int_equal(mcphub_registry_new(&fx->r, opts, NULL), 0);
    fx->rec.r = fx->r;
}

static void reg(fixture *fx, const char *id, uint64_t now)
{
    mcphub_node_info in = info_of(id, "10.0.0.1", 3001);

    assert_int_equal(mcphub_registry_register(fx->r, &in, now, NULL), 0);
}

static mcphub_node_status status_of(const fixture *fx, const char *id)
{
    const mcphub_node *n = mcphub_registry_get(fx->r, id);

    assert_non_null(n);
    return n->status;
}

/* ---- construction --------------------------------------------------------------- */

static void test_new_and_opts_validation(void **state)
{
    mcphub_registry *r = NULL;
    struct { mcphub_registry_opts o; char tail[8]; } big;
    mcphub_registry_opts o;

    (void)state;
    assert_int_equal(mcphub_registry_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_new(&r, NULL, NULL), 0);
    assert_non_null(r);
    assert_int_equal(mcphub_registry_count(r), 0);
    assert_null(mcphub_registry_at(r, 0));
    assert_int_equal(mcphub_registry_next_deadline(r), UINT64_MAX);
    mcphub_registry_free(r);
    mcphub_registry_free(NULL);

    memset(&o, 0, sizeof o); /* size 0 is refused */
    r = NULL;
    assert_int_equal(mcphub_registry_new(&r, &o, NULL), MCPHUB_E_INVAL);
    assert_null(r);
    memset(&big, 0, sizeof big); /* a newer caller's zero tail is fine ... */
    big.o.size = sizeof big;
    assert_int_equal(mcphub_registry_new(&r, &big.o, NULL), 0);
    mcphub_registry_free(r);
    big.tail[2] = 1; /* ... a non-zero one is not */
    r = NULL;
    assert_int_equal(mcphub_registry_new(&r, &big.o, NULL), MCPHUB_E_INVAL);
    assert_null(r);
}

static void test_older_smaller_opts_struct(void **state)
{
    mcphub_registry_opts o;
    mcphub_registry *r;
    mcphub_node_info in = info_of("w1", "h", 1);

    (void)state;
    /* A caller that only knows the timeouts: the rest reads as defaults. */
    memset(&o, 0xff, sizeof o);
    o.size = offsetof(mcphub_registry_opts, fall);
    o.heartbeat_interval_ms = 0;
    o.heartbeat_timeout_ms = 0;
    o.unhealthy_after_ms = 0;
    assert_int_equal(mcphub_registry_new(&r, &o, NULL), 0);
    assert_int_equal(mcphub_registry_register(r, &in, 0, NULL), 0);
    assert_int_equal(mcphub_registry_next_deadline(r), 10000);
    mcphub_registry_free(r);
}

static uint32_t counting_random(void *user_data)
{
    int *calls = user_data;

    (*calls)++;
    return 0x12345678u;
}

static void test_random_seeds_once(void **state)
{
    mcphub_registry_opts o;
    mcphub_registry *r;
    int calls = 0, i;
    char id[32];

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.random = counting_random;
    o.random_user_data = &calls;
    assert_int_equal(mcphub_registry_new(&r, &o, NULL), 0);
    assert_int_equal(calls, 1);
    for (i = 0; i < 100; i++) {
        mcphub_node_info in;

        snprintf(id, sizeof id, "n%d", i);
        in = info_of(id, "h", 1);
        assert_int_equal(mcphub_registry_register(r, &in, 0, NULL), 0);
    }
    for (i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_string_equal(mcphub_registry_get(r, id)->id, id);
        assert_int_equal(mcphub_registry_heartbeat(r, id, NULL, 0, 1), 0);
    }
    assert_int_equal(calls, 1);
    mcphub_registry_free(r);
}

/* ---- register ------------------------------------------------------------------------ */

static void test_register_validation(void **state)
{
    fixture fx;
    mcphub_node_info in;
    char id[MCPHUB_REGISTRY_ID_MAX + 2], host[MCPHUB_REGISTRY_HOST_MAX + 2],
        meta[MCPHUB_REGISTRY_META_MAX + 2];
    const char *bad_ids[] = {"", "a b", "w/1", "w1\n", "ü", "a@b", "x%y"};
    const char *bad_hosts[] = {"", "a b", "h/x", "h?x", "h#x", "u@h", "h\\x", "h\x7f"};
    size_t i;

    (void)state;
    fixture_new(&fx, NULL);
    in = info_of("w1", "h", 1);
    assert_int_equal(mcphub_registry_register(NULL, &in, 0, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_register(fx.r, NULL, 0, NULL), MCPHUB_E_INVAL);
    for (i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        in = info_of(bad_ids[i], "h", 1);
        assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    }
    in = info_of(NULL, "h", 1);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    for (i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        in = info_of("w1", bad_hosts[i], 1);
        assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    }
    in = info_of("w1", NULL, 1);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    in = info_of("w1", "h", 0); /* port 0 */
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    in = info_of("w1", "h", 1);
    in.role = (mcphub_node_role)7;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    in = info_of("w1", "h", 1);
    in.size = 0;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);

    /* Lengths: exactly at the bound passes, one more fails. */
    memset(id, 'a', sizeof id);
    id[MCPHUB_REGISTRY_ID_MAX + 1] = '\0';
    memset(host, 'h', sizeof host);
    host[MCPHUB_REGISTRY_HOST_MAX + 1] = '\0';
    memset(meta, 'm', sizeof meta);
    meta[MCPHUB_REGISTRY_META_MAX + 1] = '\0';
    in = info_of(id, "h", 1);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    in = info_of("w1", host, 1);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    in = info_of("w1", "h", 1);
    in.meta.os = meta;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), MCPHUB_E_INVAL);
    /* nothing was registered, nothing was reported */
    assert_int_equal(mcphub_registry_count(fx.r), 0);
    assert_int_equal(fx.rec.n, 0);

    id[MCPHUB_REGISTRY_ID_MAX] = '\0';
    host[MCPHUB_REGISTRY_HOST_MAX] = '\0';
    meta[MCPHUB_REGISTRY_META_MAX] = '\0';
    in = info_of(id, host, 1);
    in.meta.os = meta;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), 0);
    in = info_of("Node_1.a:b-c", "[::1]", 65535);
    in.role = MCPHUB_ROLE_MASTER;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, NULL), 0);
    assert_int_equal(mcphub_registry_count(fx.r), 2);
    assert_int_equal(mcphub_registry_get(fx.r, "Node_1.a:b-c")->role, MCPHUB_ROLE_MASTER);
    mcphub_registry_free(fx.r);
}

static void test_register_copies_and_defaults(void **state)
{
    fixture fx;
    mcphub_node_info in;
    char id[8] = "w1", host[16] = "10.0.0.7", hn[16] = "box7", ver[8] = "0.1.0";
    const mcphub_node *n;
    int created = -1;

    (void)state;
    fixture_new(&fx, NULL);
    in = info_of(id, host, 3000);
    in.internal_port = 3100;
    in.meta.hostname = hn;
    in.meta.version = ver;
    in.meta.os = NULL;
    in.role = (mcphub_node_role)0; /* 0 -> worker */
    in.meta.cpu_count = 8;
    in.meta.memory_total = 1u << 30;
    in.weight = 0;
    in.max_servers = 12;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 1000, &created), 0);
    assert_int_equal(created, 1);
    /* the caller's buffers are not retained */
    strcpy(id, "xx");
    strcpy(host, "evil");
    strcpy(hn, "gone");
    n = mcphub_registry_get(fx.r, "w1");
    assert_non_null(n);
    assert_null(mcphub_registry_get(fx.r, "xx"));
    assert_string_equal(n->id, "w1");
    assert_string_equal(n->host, "10.0.0.7");
    assert_string_equal(n->meta.hostname, "box7");
    assert_string_equal(n->meta.version, "0.1.0");
    assert_null(n->meta.os);
    assert_int_equal(n->meta.cpu_count, 8);
    assert_int_equal(n->meta.memory_total, 1u << 30);
    assert_int_equal(n->port, 3000);
    assert_int_equal(n->internal_port, 3100);
    assert_int_equal(n->weight, 1); /* 0 -> 1 */
    assert_int_equal(n->max_servers, 12);
    assert_int_equal(n->role, MCPHUB_ROLE_WORKER);
    assert_int_equal(n->status, MCPHUB_NODE_ONLINE);
    assert_int_equal(n->registered_at_ms, 1000);
    assert_int_equal(n->last_heartbeat_ms, 1000);
    assert_ptr_equal(mcphub_registry_at(fx.r, 0), n);
    /* a brand-new node is reported once, offline -> online, "registered" */
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "registered");
    assert_true(fake_log_has(&fx.log, "node_status node=w1 from=offline to=online reason=registered"));
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_ONLINE), 1);
    mcphub_registry_free(fx.r);
}

static void test_reregister_idempotent_and_updates(void **state)
{
    fixture fx;
    mcphub_node_info in;
    const mcphub_node *n;
    int created = -1;

    (void)state;
    fixture_new(&fx, NULL);
    in = info_of("w1", "10.0.0.1", 3001);
    in.meta.hostname = "a";
    assert_int_equal(mcphub_registry_register(fx.r, &in, 1000, &created), 0);
    assert_int_equal(created, 1);
    /* the very same again: nothing new, no event */
    assert_int_equal(mcphub_registry_register(fx.r, &in, 2000, &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(mcphub_registry_count(fx.r), 1);
    assert_int_equal(fx.rec.n, 1);
    n = mcphub_registry_get(fx.r, "w1");
    assert_int_equal(n->last_heartbeat_ms, 2000); /* counts as a sign of life */
    assert_int_equal(n->registered_at_ms, 1000);

    /* a new address and metadata replace the old */
    in = info_of("w1", "10.0.0.9", 4001);
    in.meta.hostname = "b";
    in.meta.os = "linux";
    in.weight = 5;
    in.role = MCPHUB_ROLE_MASTER;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 3000, &created), 0);
    assert_int_equal(created, 0);
    n = mcphub_registry_get(fx.r, "w1");
    assert_string_equal(n->host, "10.0.0.9");
    assert_int_equal(n->port, 4001);
    assert_string_equal(n->meta.hostname, "b");
    assert_string_equal(n->meta.os, "linux");
    assert_int_equal(n->weight, 5);
    assert_int_equal(n->role, MCPHUB_ROLE_MASTER);
    assert_int_equal(n->registered_at_ms, 1000);
    assert_int_equal(n->status, MCPHUB_NODE_ONLINE);
    assert_int_equal(mcphub_registry_count(fx.r), 1);
    assert_int_equal(fx.rec.n, 1);
    mcphub_registry_free(fx.r);
}

/* ---- heartbeats and timeouts ----------------------------------------------------------- */

static void test_missed_heartbeat_then_timeout(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    fake_now_ms = 100000;
    reg(&fx, "w1", fake_now_ms);
    fx.rec.n = 0;
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 110000);

    fake_now_ms = 109999; /* just before unhealthy_after */
    mcphub_registry_tick(fx.r, fake_now_ms);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_int_equal(fx.rec.n, 0);

    fake_now_ms = 110000;
    mcphub_registry_tick(fx.r, fake_now_ms);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_ONLINE, MCPHUB_NODE_UNHEALTHY, "missed-heartbeat");
    assert_true(fake_log_has(&fx.log,
                             "node_status node=w1 from=online to=unhealthy reason=missed-heartbeat"));
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 115000);
    /* ticking again changes nothing and reports nothing */
    mcphub_registry_tick(fx.r, 112000);
    assert_int_equal(fx.rec.n, 1);

    fake_now_ms = 115000;
    mcphub_registry_tick(fx.r, fake_now_ms);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_int_equal(fx.rec.n, 2);
    assert_event(&fx.rec, 1, "w1", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_true(fake_log_has(&fx.log,
                             "node_status node=w1 from=unhealthy to=offline reason=heartbeat-timeout"));
    assert_int_equal(mcphub_registry_next_deadline(fx.r), UINT64_MAX);

    /* a timed-out node does not come back by itself */
    mcphub_registry_tick(fx.r, 500000);
    mcphub_registry_tick(fx.r, UINT64_MAX);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_int_equal(fx.rec.n, 2);
    mcphub_registry_free(fx.r);
}

static void test_heartbeats_keep_node_online(void **state)
{
    fixture fx;
    mcphub_node_metrics m = {42.5, 100, 200, 7};
    const mcphub_node *n;
    uint64_t t;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    for (t = 5000; t <= 60000; t += 5000) {
        assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", &m, t / 1000, t), 0);
        mcphub_registry_tick(fx.r, t + 4999);
        assert_int_equal(mcphub_registry_next_deadline(fx.r), t + 10000);
    }
    assert_int_equal(fx.rec.n, 1); /* only the registration */
    n = mcphub_registry_get(fx.r, "w1");
    assert_int_equal(n->status, MCPHUB_NODE_ONLINE);
    assert_int_equal(n->last_heartbeat_ms, 60000);
    assert_int_equal(n->config_version, 60);
    assert_true(n->metrics.cpu_percent == 42.5);
    assert_int_equal(n->metrics.memory_used, 100);
    assert_int_equal(n->metrics.memory_total, 200);
    assert_int_equal(n->metrics.active_connections, 7);
    /* NULL metrics keep the previous ones */
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", NULL, 61, 61000), 0);
    assert_int_equal(n->metrics.active_connections, 7);
    assert_int_equal(n->config_version, 61);
    /* out-of-range cpu is clamped; a heartbeat from the past does not move time back */
    m.cpu_percent = 250.0;
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", &m, 61, 50000), 0);
    assert_true(n->metrics.cpu_percent == 100.0);
    assert_int_equal(n->last_heartbeat_ms, 61000);
    m.cpu_percent = -3.0;
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", &m, 61, 61000), 0);
    assert_true(n->metrics.cpu_percent == 0.0);
    m.cpu_percent = NAN;
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", &m, 61, 61000), 0);
    assert_true(n->metrics.cpu_percent == 0.0);
    mcphub_registry_free(fx.r);
}

static void test_late_tick_goes_straight_offline(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 1000);
    fx.rec.n = 0;
    mcphub_registry_tick(fx.r, 1000 + 15000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_OFFLINE), 1);
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_UNHEALTHY), 0);
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_ONLINE), 0);
    mcphub_registry_free(fx.r);
}

/* ---- active checks: fall --------------------------------------------------------------------- */

static void test_fall_on_failed_checks(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    fx.rec.n = 0;
    assert_int_equal(mcphub_registry_check_result(fx.r, "w1", 0, 1000), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY); /* the first failure */
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_ONLINE, MCPHUB_NODE_UNHEALTHY, "check-failed");
    assert_int_equal(mcphub_registry_check_result(fx.r, "w1", 0, 2000), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    assert_int_equal(fx.rec.n, 1); /* no change, no event */
    assert_int_equal(mcphub_registry_check_result(fx.r, "w1", 0, 3000), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE); /* fall = 3 */
    assert_int_equal(fx.rec.n, 2);
    assert_event(&fx.rec, 1, "w1", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_OFFLINE, "check-failed");
    assert_true(fake_log_has(&fx.log, "node_status node=w1 from=unhealthy to=offline reason=check-failed"));
    assert_int_equal(mcphub_registry_check_result(fx.r, "w1", 0, 4000), 0);
    assert_int_equal(fx.rec.n, 2);
    mcphub_registry_free(fx.r);
}

static void test_passed_check_breaks_fall_run(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_check_result(fx.r, "w1", 0, 100);
    mcphub_registry_check_result(fx.r, "w1", 0, 200);
    mcphub_registry_check_result(fx.r, "w1", 1, 300); /* the run of failures ends */
    mcphub_registry_check_result(fx.r, "w1", 0, 400);
    mcphub_registry_check_result(fx.r, "w1", 0, 500);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    mcphub_registry_check_result(fx.r, "w1", 0, 600);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    mcphub_registry_free(fx.r);
}

static void test_fall_one_and_rise_one(void **state)
{
    fixture fx;
    mcphub_registry_opts o;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.fall = 1;
    o.rise = 1;
    fixture_new(&fx, &o);
    reg(&fx, "w1", 0);
    fx.rec.n = 0;
    mcphub_registry_check_result(fx.r, "w1", 0, 100);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "check-failed");
    mcphub_registry_check_result(fx.r, "w1", 1, 200);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_event(&fx.rec, 1, "w1", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "recovered");
    assert_int_equal(fx.rec.n, 2);
    mcphub_registry_free(fx.r);
}

/* ---- rise ------------------------------------------------------------------------------------ */

static void test_rise_after_missed_heartbeats(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_tick(fx.r, 10000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    fx.rec.n = 0;
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 11000), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY); /* 1 of 2 */
    assert_int_equal(fx.rec.n, 0);
    mcphub_registry_tick(fx.r, 12000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 16000), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_ONLINE, "recovered");
    assert_true(fake_log_has(&fx.log, "node_status node=w1 from=unhealthy to=online reason=recovered"));
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 26000);
    mcphub_registry_free(fx.r);
}

static void test_rise_reset_by_failure_in_between(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_check_result(fx.r, "w1", 0, 1000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    fx.rec.n = 0;
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 2000);  /* success 1 */
    mcphub_registry_check_result(fx.r, "w1", 0, 2500);      /* resets the run */
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 3000);  /* success 1 again */
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    assert_int_equal(fx.rec.n, 0);
    mcphub_registry_check_result(fx.r, "w1", 1, 3500);      /* success 2: a pass counts */
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_ONLINE, "recovered");
    /* online again: a fresh start, the next failure only makes it unhealthy */
    mcphub_registry_check_result(fx.r, "w1", 0, 4000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_UNHEALTHY);
    mcphub_registry_free(fx.r);
}

static void test_offline_node_returns_on_heartbeats(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_tick(fx.r, 20000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    fx.rec.n = 0;
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 30000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    /* offline nodes have no deadline even with a fresh heartbeat */
    assert_int_equal(mcphub_registry_next_deadline(fx.r), UINT64_MAX);
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 35000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "recovered");
    mcphub_registry_free(fx.r);
}

static void test_heartbeat_gap_restarts_rise(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_tick(fx.r, 20000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 30000); /* 1 */
    /* silence for unhealthy_after: the run is broken, this one is 1 again */
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 40000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 49999); /* 2, in time */
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    mcphub_registry_free(fx.r);
}

static void test_checks_alone_do_not_revive_a_silent_node(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_tick(fx.r, 16000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    fx.rec.n = 0;
    mcphub_registry_check_result(fx.r, "w1", 1, 17000);
    mcphub_registry_check_result(fx.r, "w1", 1, 18000);
    mcphub_registry_check_result(fx.r, "w1", 1, 19000);
    /* passing checks without heartbeats would flap online/unhealthy */
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_int_equal(fx.rec.n, 0);
    /* the run of passes counts once a heartbeat makes the node fresh */
    mcphub_registry_heartbeat(fx.r, "w1", NULL, 0, 19500);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_int_equal(fx.rec.n, 1);
    mcphub_registry_free(fx.r);
}

static void test_reregister_counts_toward_rise(void **state)
{
    fixture fx;
    int created = -1;
    mcphub_node_info in = info_of("w1", "10.0.0.1", 3001);

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", 0);
    mcphub_registry_tick(fx.r, 15000);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    fx.rec.n = 0;
    /* the worker restarted and registers again: one success */
    assert_int_equal(mcphub_registry_register(fx.r, &in, 20000, &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_OFFLINE);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 21000, &created), 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "registered");
    mcphub_registry_free(fx.r);
}

/* ---- unknown ids, remove, bound ----------------------------------------------------------- */

static void test_unknown_id(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "nope", NULL, 0, 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_registry_check_result(fx.r, "nope", 1, 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_registry_remove(fx.r, "nope"), MCPHUB_E_NOTFOUND);
    reg(&fx, "w1", 0);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "w2", NULL, 0, 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "W1", NULL, 0, 0), MCPHUB_E_NOTFOUND);
    assert_null(mcphub_registry_get(fx.r, "w2"));
    assert_null(mcphub_registry_get(fx.r, NULL));
    assert_null(mcphub_registry_get(NULL, "w1"));
    assert_int_equal(mcphub_registry_heartbeat(fx.r, NULL, NULL, 0, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_heartbeat(NULL, "w1", NULL, 0, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_check_result(fx.r, NULL, 1, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_remove(fx.r, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_registry_count(NULL), 0);
    assert_int_equal(mcphub_registry_count_status(fx.r, (mcphub_node_status)0), 0);
    assert_int_equal(mcphub_registry_count_status(fx.r, (mcphub_node_status)9), 0);
    assert_null(mcphub_registry_at(NULL, 0));
    assert_int_equal(mcphub_registry_next_deadline(NULL), UINT64_MAX);
    mcphub_registry_tick(NULL, 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    mcphub_registry_free(fx.r);
}

static void test_remove_keeps_order(void **state)
{
    fixture fx;
    const char *ids[] = {"a", "b", "c", "d", "e"};
    size_t i;

    (void)state;
    fixture_new(&fx, NULL);
    for (i = 0; i < 5; i++)
        reg(&fx, ids[i], 0);
    mcphub_registry_check_result(fx.r, "b", 0, 1);
    fx.rec.n = 0;
    assert_int_equal(mcphub_registry_remove(fx.r, "b"), 0);
    assert_int_equal(fx.rec.n, 0); /* removal is not a status change */
    assert_true(fake_log_has(&fx.log, "node_removed node=b"));
    assert_int_equal(mcphub_registry_count(fx.r), 4);
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_UNHEALTHY), 0);
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_ONLINE), 4);
    assert_null(mcphub_registry_get(fx.r, "b"));
    assert_string_equal(mcphub_registry_at(fx.r, 0)->id, "a");
    assert_string_equal(mcphub_registry_at(fx.r, 1)->id, "c");
    assert_string_equal(mcphub_registry_at(fx.r, 2)->id, "d");
    assert_string_equal(mcphub_registry_at(fx.r, 3)->id, "e");
    assert_null(mcphub_registry_at(fx.r, 4));
    assert_int_equal(mcphub_registry_remove(fx.r, "b"), MCPHUB_E_NOTFOUND);
    /* a node that moved down is removed from where it is now */
    assert_int_equal(mcphub_registry_remove(fx.r, "d"), 0);
    assert_int_equal(mcphub_registry_count(fx.r), 3);
    assert_string_equal(mcphub_registry_at(fx.r, 0)->id, "a");
    assert_string_equal(mcphub_registry_at(fx.r, 1)->id, "c");
    assert_string_equal(mcphub_registry_at(fx.r, 2)->id, "e");
    /* removing the last and the first, then re-adding, still finds everything */
    assert_int_equal(mcphub_registry_remove(fx.r, "e"), 0);
    assert_int_equal(mcphub_registry_remove(fx.r, "a"), 0);
    reg(&fx, "b", 5);
    reg(&fx, "d", 5);
    assert_string_equal(mcphub_registry_at(fx.r, 0)->id, "c");
    assert_string_equal(mcphub_registry_at(fx.r, 1)->id, "b");
    assert_string_equal(mcphub_registry_at(fx.r, 2)->id, "d");
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "c", NULL, 0, 6), 0);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "d", NULL, 0, 6), 0);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "b", NULL, 0, 6), 0);
    assert_int_equal(mcphub_registry_heartbeat(fx.r, "a", NULL, 0, 6), MCPHUB_E_NOTFOUND);
    /* a tick after removals reaches exactly the nodes that are left */
    fx.rec.n = 0;
    mcphub_registry_tick(fx.r, 100000);
    assert_int_equal(fx.rec.n, 3);
    assert_event(&fx.rec, 0, "c", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_event(&fx.rec, 1, "b", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_event(&fx.rec, 2, "d", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_OFFLINE), 3);
    mcphub_registry_free(fx.r);
}

static void test_max_nodes_bound(void **state)
{
    fixture fx;
    mcphub_registry_opts o;
    mcphub_node_info in = info_of("w4", "h", 1);
    int created = -1;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_nodes = 3;
    fixture_new(&fx, &o);
    reg(&fx, "w1", 0);
    reg(&fx, "w2", 0);
    reg(&fx, "w3", 0);
    fx.rec.n = 0;
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, &created), MCPHUB_E_FULL);
    assert_int_equal(created, -1); /* untouched on failure */
    assert_int_equal(mcphub_registry_count(fx.r), 3);
    assert_null(mcphub_registry_get(fx.r, "w4"));
    assert_int_equal(fx.rec.n, 0);
    /* known nodes may still re-register at the bound */
    reg(&fx, "w2", 10);
    assert_int_equal(mcphub_registry_remove(fx.r, "w1"), 0);
    assert_int_equal(mcphub_registry_register(fx.r, &in, 0, &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(mcphub_registry_count(fx.r), 3);
    mcphub_registry_free(fx.r);
}

/* ---- callbacks, several nodes -------------------------------------------------------------- */

static void test_tick_reports_in_registration_order(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "n3", 0);
    reg(&fx, "n1", 1000);
    reg(&fx, "n2", 2000);
    assert_int_equal(fx.rec.n, 3);
    assert_event(&fx.rec, 0, "n3", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "registered");
    assert_event(&fx.rec, 1, "n1", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "registered");
    assert_event(&fx.rec, 2, "n2", MCPHUB_NODE_OFFLINE, MCPHUB_NODE_ONLINE, "registered");
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 10000);
    mcphub_registry_heartbeat(fx.r, "n1", NULL, 0, 9000);
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 10000);
    fx.rec.n = 0;
    mcphub_registry_tick(fx.r, 12000);
    /* n3 and n2 missed heartbeats, n1 did not */
    assert_int_equal(fx.rec.n, 2);
    assert_event(&fx.rec, 0, "n3", MCPHUB_NODE_ONLINE, MCPHUB_NODE_UNHEALTHY, "missed-heartbeat");
    assert_event(&fx.rec, 1, "n2", MCPHUB_NODE_ONLINE, MCPHUB_NODE_UNHEALTHY, "missed-heartbeat");
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 15000); /* n3 goes offline */
    fx.rec.n = 0;
    mcphub_registry_tick(fx.r, 17000);
    assert_int_equal(fx.rec.n, 2);
    assert_event(&fx.rec, 0, "n3", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_event(&fx.rec, 1, "n2", MCPHUB_NODE_UNHEALTHY, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 19000); /* n1 */
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_ONLINE), 1);
    assert_int_equal(mcphub_registry_count_status(fx.r, MCPHUB_NODE_OFFLINE), 2);
    mcphub_registry_free(fx.r);
}

static void test_unhealthy_after_clamped_to_timeout(void **state)
{
    fixture fx;
    mcphub_registry_opts o;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.heartbeat_interval_ms = 10000; /* default unhealthy_after would be 20000 */
    o.heartbeat_timeout_ms = 12000;
    fixture_new(&fx, &o);
    reg(&fx, "w1", 0);
    assert_int_equal(mcphub_registry_next_deadline(fx.r), 12000);
    fx.rec.n = 0;
    mcphub_registry_tick(fx.r, 11999);
    assert_int_equal(fx.rec.n, 0);
    mcphub_registry_tick(fx.r, 12000);
    assert_int_equal(fx.rec.n, 1);
    assert_event(&fx.rec, 0, "w1", MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "heartbeat-timeout");
    mcphub_registry_free(fx.r);
}

static void test_time_edges_do_not_overflow(void **state)
{
    fixture fx;

    (void)state;
    fixture_new(&fx, NULL);
    reg(&fx, "w1", UINT64_MAX - 5);
    assert_int_equal(mcphub_registry_next_deadline(fx.r), UINT64_MAX);
    mcphub_registry_tick(fx.r, UINT64_MAX);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    /* a clock that steps back reads as no time passed */
    mcphub_registry_tick(fx.r, 0);
    assert_int_equal(status_of(&fx, "w1"), MCPHUB_NODE_ONLINE);
    mcphub_registry_free(fx.r);
}

/* ---- failing allocator ------------------------------------------------------------------- */

/* Register several nodes (table growth, string copies), re-register one with
 * a new address, heartbeat and remove: every failure is a clean
 * MCPHUB_E_NOMEM that changed nothing, and nothing leaks. */
static int register_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem hooks = fake_alloc_mem(fa);
    mcphub_registry *r = NULL;
    mcphub_registry_opts o;
    recorder rec;
    char id[32];
    int i, rc, created, n = *(int *)arg;

    memset(&rec, 0, sizeof rec);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_status = on_status;
    o.user_data = &rec;
    rc = mcphub_registry_new(&r, &o, &hooks);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(r);
        return rc;
    }
    rec.r = r;
    for (i = 0; i < n; i++) {
        mcphub_node_info in;

        snprintf(id, sizeof id, "node-%d", i);
        in = info_of(id, "10.1.1.1", (uint16_t)(3000 + i));
        in.meta.hostname = "box";
        in.meta.version = "1.0";
        created = -1;
        rc = mcphub_registry_register(r, &in, (uint64_t)i, &created);
        if (rc != 0) {
            assert_int_equal(rc, MCPHUB_E_NOMEM);
            assert_int_equal(created, -1);
            assert_int_equal(mcphub_registry_count(r), (size_t)i);
            assert_null(mcphub_registry_get(r, id));
            assert_int_equal(rec.n, i); /* no event for the failed call */
            assert_int_equal(mcphub_registry_heartbeat(r, id, NULL, 0, 0), MCPHUB_E_NOTFOUND);
            goto out;
        }
        assert_int_equal(created, 1);
    }
    /* a new address needs a new string block */
    {
        mcphub_node_info in = info_of("node-1", "10.9.9.9", 4000);
        const mcphub_node *before = mcphub_registry_get(r, "node-1");

        in.meta.hostname = "other";
        rc = mcphub_registry_register(r, &in, 100, NULL);
        if (rc != 0) {
            assert_int_equal(rc, MCPHUB_E_NOMEM);
            assert_string_equal(before->host, "10.1.1.1");
            assert_int_equal(before->port, 3001);
            assert_string_equal(before->meta.hostname, "box");
            assert_int_equal(before->last_heartbeat_ms, 1);
            goto out;
        }
        assert_string_equal(mcphub_registry_get(r, "node-1")->host, "10.9.9.9");
    }
    /* heartbeats, checks, ticks and removals never allocate */
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof id, "node-%d", i);
        assert_int_equal(mcphub_registry_heartbeat(r, id, NULL, 1, 200), 0);
    }
    assert_int_equal(mcphub_registry_check_result(r, "node-0", 0, 201), 0);
    mcphub_registry_tick(r, 300);
    assert_int_equal(mcphub_registry_remove(r, "node-2"), 0);
    assert_int_equal(mcphub_registry_count(r), (size_t)n - 1);
    rc = 0;
out:
    mcphub_registry_free(r);
    return rc;
}

static void test_register_under_failing_allocator(void **state)
{
    int n = 40; /* enough to grow the node array and the hash map */
    long allocs;

    (void)state;
    allocs = fake_alloc_loop(register_scenario, &n);
    /* registry + 2 per node + array and map growth + the new strings */
    assert_true(allocs >= 1 + 2 * n + 1);
}

/* A failed check never moves an offline node back up to unhealthy. */
static void test_failed_check_keeps_offline_node_offline(void **state)
{
    mcphub_registry *r = NULL;
    mcphub_registry_opts o;
    mcphub_node_info info;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.fall = 5;
    assert_int_equal(mcphub_registry_new(&r, &o, NULL), 0);
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    info.id = "w1";
    info.host = "127.0.0.1";
    info.port = 3001;
    assert_int_equal(mcphub_registry_register(r, &info, 1000, NULL), 0);
    mcphub_registry_tick(r, 1000 + 16000); /* past the heartbeat timeout */
    assert_int_equal(mcphub_registry_get(r, "w1")->status, MCPHUB_NODE_OFFLINE);
    assert_int_equal(mcphub_registry_check_result(r, "w1", 0, 17100), 0);
    assert_int_equal(mcphub_registry_get(r, "w1")->status, MCPHUB_NODE_OFFLINE);
    mcphub_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_check_keeps_offline_node_offline),
        cmocka_unit_test(test_new_and_opts_validation),
        cmocka_unit_test(test_older_smaller_opts_struct),
        cmocka_unit_test(test_random_seeds_once),
        cmocka_unit_test(test_register_validation),
        cmocka_unit_test(test_register_copies_and_defaults),
        cmocka_unit_test(test_reregister_idempotent_and_updates),
        cmocka_unit_test(test_missed_heartbeat_then_timeout),
        cmocka_unit_test(test_heartbeats_keep_node_online),
        cmocka_unit_test(test_late_tick_goes_straight_offline),
        cmocka_unit_test(test_fall_on_failed_checks),
        cmocka_unit_test(test_passed_check_breaks_fall_run),
        cmocka_unit_test(test_fall_one_and_rise_one),
        cmocka_unit_test(test_rise_after_missed_heartbeats),
        cmocka_unit_test(test_rise_reset_by_failure_in_between),
        cmocka_unit_test(test_offline_node_returns_on_heartbeats),
        cmocka_unit_test(test_heartbeat_gap_restarts_rise),
        cmocka_unit_test(test_checks_alone_do_not_revive_a_silent_node),
        cmocka_unit_test(test_reregister_counts_toward_rise),
        cmocka_unit_test(test_unknown_id),
        cmocka_unit_test(test_remove_keeps_order),
        cmocka_unit_test(test_max_nodes_bound),
        cmocka_unit_test(test_tick_reports_in_registration_order),
        cmocka_unit_test(test_unhealthy_after_clamped_to_timeout),
        cmocka_unit_test(test_time_edges_do_not_overflow),
        cmocka_unit_test(test_register_under_failing_allocator),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
