/* Unit and scenario tests for the coordinator, with a fake clock and a
 * scripted fake cluster: each fake worker runs what it is told and reports
 * it in its heartbeats, exactly as mcphub-workerd does over HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <mcphub/coordinator.h>

#include "fakes/fakes.h"

#define MAX_NODES 4
#define MAX_REPS 32

typedef struct fake_rep {
    char id[96];
    char server[64];
    uint64_t version;
    int live;
} fake_rep;

typedef struct fake_node {
    char id[16];
    int up;          /* answers actions and heartbeats */
    fake_rep reps[MAX_REPS];
} fake_node;

typedef struct fake_cluster {
    fake_node nodes[MAX_NODES];
    int n;
    int allocs, releases, configs;
    int deliver;     /* carry actions out at once */
    mcphub_coordinator *c;
    fake_log log;
} fake_cluster;

static fake_node *node_by_id(fake_cluster *fc, const char *id)
{
    int i;

    for (i = 0; i < fc->n; i++)
        if (strcmp(fc->nodes[i].id, id) == 0)
            return &fc->nodes[i];
    return NULL;
}

static fake_rep *rep_find(fake_node *n, const char *id)
{
    int i;

    for (i = 0; i < MAX_REPS; i++)
        if (n->reps[i].live && strcmp(n->reps[i].id, id) == 0)
            return &n->reps[i];
    return NULL;
}

static void rep_start(fake_node *n, const char *id, const char *server, uint64_t version)
{
    fake_rep *r = rep_find(n, id);
    int i;

    if (r == NULL)
        for (i = 0; i < MAX_REPS && r == NULL; i++)
            if (!n->reps[i].live)
                r = &n->reps[i];
    assert_non_null(r);
    if (r == NULL)
        fail_msg("no free replica slot");
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->server, sizeof r->server, "%s", server);
    r->version = version;
    r->live = 1;
}

static void rep_stop(fake_node *n, const char *id)
{
    fake_rep *r = rep_find(n, id);

    if (r != NULL)
        r->live = 0;
}

/* Actions are recorded and, when the node is up, carried out at once. */
static int on_action(const mcphub_action *a, void *ud)
{
    fake_cluster *fc = ud;
    fake_node *n = node_by_id(fc, a->node);

    if (a->kind == MCPHUB_ACTION_ALLOCATE)
        fc->allocs++;
    else if (a->kind == MCPHUB_ACTION_RELEASE)
        fc->releases++;
    else
        fc->configs++;
    if (n == NULL || !n->up || !fc->deliver)
        return 0; /* sent, but never answered */
    if (a->kind == MCPHUB_ACTION_RELEASE)
        rep_stop(n, a->replica);
    else
        rep_start(n, a->replica, a->server, a->config_version);
    return 0;
}

static size_t reports_of(fake_node *n, mcphub_replica_report *out)
{
    size_t k = 0;
    int i;

    for (i = 0; i < MAX_REPS; i++) {
        if (!n->reps[i].live)
            continue;
        memset(&out[k], 0, sizeof out[k]);
        out[k].replica = n->reps[i].id;
        out[k].server = n->reps[i].server;
        out[k].status = MCPHUB_REPLICA_RUNNING;
        out[k].tool_count = 2;
        out[k].config_version = n->reps[i].version;
        k++;
    }
    return k;
}

/* The worker applies a register/heartbeat reply, as workerd does. */
static void apply_reply(fake_node *n, const mcphub_worker_reply *rep)
{
    size_t i;

    for (i = 0; i < rep->assignments_len; i++)
        rep_start(n, rep->assignments[i].replica, rep->assignments[i].server,
                  rep->assignments[i].config_version);
    for (i = 0; i < rep->releases_len; i++)
        rep_stop(n, rep->releases[i].replica);
}

static int do_register(fake_cluster *fc, fake_node *n)
{
    mcphub_node_info info;
    mcphub_replica_report reps[MAX_REPS];
    mcphub_worker_reply reply;
    size_t k = reports_of(n, reps);
    int rc;

    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    info.id = n->id;
    info.role = MCPHUB_ROLE_WORKER;
    info.host = "127.0.0.1";
    info.port = 4000;
    rc = mcphub_coordinator_register(fc->c, &info, reps, k, fake_now_ms, &reply);
    if (rc == 0)
        apply_reply(n, &reply);
    return rc;
}

static int do_heartbeat(fake_cluster *fc, fake_node *n)
{
    mcphub_replica_report reps[MAX_REPS];
    mcphub_worker_reply reply;
    mcphub_node_metrics m;
    size_t k = reports_of(n, reps);
    int rc;

    memset(&m, 0, sizeof m);
    m.cpu_percent = 10;
    rc = mcphub_coordinator_heartbeat(fc->c, n->id, &m, 0, reps, k, fake_now_ms, &reply);
    if (rc == 0)
        apply_reply(n, &reply);
    return rc;
}

/* Advance time in heartbeat steps: live nodes beat, the coordinator ticks. */
static void run_for(fake_cluster *fc, uint64_t ms)
{
    uint64_t end = fake_now_ms + ms;
    int i;

    while (fake_now_ms < end) {
        fake_now_ms += 1000;
        for (i = 0; i < fc->n; i++)
            if (fc->nodes[i].up && fake_now_ms % 5000 == 0)
                do_heartbeat(fc, &fc->nodes[i]);
        mcphub_coordinator_tick(fc->c, fake_now_ms);
    }
}

static int setup_cluster(fake_cluster *fc, int nodes, const mcphub_mem *mem)
{
    mcphub_coordinator_opts o;
    mcphub_coord_callbacks cb;
    int i, rc;

    memset(fc, 0, sizeof *fc);
    fc->deliver = 1;
    fc->n = nodes;
    for (i = 0; i < nodes; i++) {
        snprintf(fc->nodes[i].id, sizeof fc->nodes[i].id, "w%d", i + 1);
        fc->nodes[i].up = 1;
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.node_id = "master-1";
    o.log = fake_log_fn;
    o.log_user_data = &fc->log;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.action = on_action;
    cb.user_data = fc;
    fake_now_ms = 1000000;
    rc = mcphub_coordinator_new(&fc->c, &o, &cb, mem, fake_now_ms);
    if (rc != 0)
        return rc;
    for (i = 0; i < nodes; i++)
        if ((rc = do_register(fc, &fc->nodes[i])) != 0)
            return rc;
    return 0;
}

static mcphub_replica_config rc_of(const char *server, uint32_t replicas)
{
    mcphub_replica_config rc;

    memset(&rc, 0, sizeof rc);
    rc.size = sizeof rc;
    rc.server = server;
    rc.replicas = replicas;
    return rc;
}

static int live_on(fake_node *n, const char *server)
{
    int i, k = 0;

    for (i = 0; i < MAX_REPS; i++)
        k += n->reps[i].live && strcmp(n->reps[i].server, server) == 0;
    return k;
}

static int live_total(fake_cluster *fc, const char *server)
{
    int i, k = 0;

    for (i = 0; i < fc->n; i++)
        k += live_on(&fc->nodes[i], server);
    return k;
}

static void test_two_replicas_on_two_distinct_nodes(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("fetch", 2);
    mcphub_server_state ss;
    int i, nodes_with = 0;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 3, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "fetch", "{\"command\":\"uvx\"}", &rc), 0);
    run_for(&fc, 10000);
    for (i = 0; i < 3; i++) {
        assert_true(live_on(&fc.nodes[i], "fetch") <= 1);
        nodes_with += live_on(&fc.nodes[i], "fetch");
    }
    assert_int_equal(nodes_with, 2);
    assert_int_equal(mcphub_coordinator_server_get(fc.c, "fetch", &ss), 0);
    assert_int_equal(ss.running, 2);
    assert_int_equal(ss.config_version, 1);
    assert_null(ss.shortfall);
    mcphub_coordinator_free(fc.c);
}

/* The scenario: a node stops heartbeating, goes unhealthy, then
 * offline at the timeout; its replica is planned elsewhere and its session
 * routes move; it comes back, is online only after the rise checks, and no
 * duplicate replica remains. */
static void test_node_failure_and_return(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("fetch", 2);
    const char *rep = NULL, *node = NULL;
    char victim[16], bound_before[96];
    fake_node *vn;
    int i;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 3, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "fetch", "{}", &rc), 0);
    run_for(&fc, 10000);
    /* a session bound to a replica; remember the node it lives on */
    assert_int_equal(mcphub_coordinator_route(fc.c, "sess-1", "fetch", fake_now_ms, &rep, &node), 0);
    snprintf(victim, sizeof victim, "%s", node);
    snprintf(bound_before, sizeof bound_before, "%s", rep);
    vn = node_by_id(&fc, victim);
    vn->up = 0; /* stops heartbeating and answering */

    run_for(&fc, 11000); /* > 2 x interval without a heartbeat */
    assert_int_equal(mcphub_registry_get(mcphub_coordinator_registry(fc.c), victim)->status,
                     MCPHUB_NODE_UNHEALTHY);
    run_for(&fc, 5000);  /* past the 15 s timeout */
    assert_int_equal(mcphub_registry_get(mcphub_coordinator_registry(fc.c), victim)->status,
                     MCPHUB_NODE_OFFLINE);
    assert_true(fake_log_has(&fc.log, "routes_migrated"));
    run_for(&fc, 5000);
    /* two live replicas on the two other nodes, none planned on the dead one */
    for (i = 0; i < 3; i++)
        if (&fc.nodes[i] != vn)
            assert_int_equal(live_on(&fc.nodes[i], "fetch"), 1);
    /* the session goes on, re-bound away from the lost replica */
    assert_int_equal(mcphub_coordinator_route(fc.c, "sess-1", "fetch", fake_now_ms, &rep, &node), 0);
    assert_string_not_equal(node, victim);
    assert_string_not_equal(rep, bound_before);

    /* it comes back (still running its old replica, as after a partition) */
    vn->up = 1;
    assert_int_equal(do_heartbeat(&fc, vn), 0);
    assert_int_not_equal(mcphub_registry_get(mcphub_coordinator_registry(fc.c), victim)->status,
                         MCPHUB_NODE_ONLINE); /* one success is not enough */
    fake_now_ms += 5000;
    assert_int_equal(do_heartbeat(&fc, vn), 0);
    assert_int_equal(mcphub_registry_get(mcphub_coordinator_registry(fc.c), victim)->status,
                     MCPHUB_NODE_ONLINE);
    run_for(&fc, 15000);
    assert_int_equal(live_total(&fc, "fetch"), 2);
    for (i = 0; i < 3; i++)
        assert_true(live_on(&fc.nodes[i], "fetch") <= 1);
    mcphub_coordinator_free(fc.c);
}

/* Two replicas placed while one node was known end up one per node once a
 * second node joins, and never fewer than two run meanwhile. */
static void test_rebalance_when_a_node_joins(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 2);
    int step;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    fc.n = 2; /* w2 exists but has not registered */
    snprintf(fc.nodes[1].id, sizeof fc.nodes[1].id, "w2");
    fc.nodes[1].up = 0;
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    assert_int_equal(live_on(&fc.nodes[0], "a"), 2);
    fc.nodes[1].up = 1;
    assert_int_equal(do_register(&fc, &fc.nodes[1]), 0);
    for (step = 0; step < 20; step++) {
        run_for(&fc, 1000);
        assert_true(live_total(&fc, "a") >= 2);
    }
    assert_int_equal(live_on(&fc.nodes[0], "a"), 1);
    assert_int_equal(live_on(&fc.nodes[1], "a"), 1);
    assert_true(fake_log_has(&fc.log, "replicas_rebalance"));
    mcphub_coordinator_free(fc.c);
}

static void test_scale_down_and_remove_server(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 3);

    (void)state;
    assert_int_equal(setup_cluster(&fc, 3, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    assert_int_equal(live_total(&fc, "a"), 3);
    rc.replicas = 1;
    assert_int_equal(mcphub_coordinator_set_replicas(fc.c, &rc), 0);
    run_for(&fc, 5000);
    assert_int_equal(live_total(&fc, "a"), 1);
    assert_int_equal(mcphub_coordinator_remove_server(fc.c, "a"), 0);
    run_for(&fc, 5000);
    assert_int_equal(live_total(&fc, "a"), 0);
    assert_int_equal(mcphub_coordinator_server_count(fc.c), 0);
    rc.server = "nope";
    assert_int_equal(mcphub_coordinator_set_replicas(fc.c, &rc), MCPHUB_E_NOTFOUND);
    assert_non_null(strstr(mcphub_coordinator_errmsg(fc.c), "nope"));
    mcphub_coordinator_free(fc.c);
}

static void test_config_change_reaches_workers(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 2);
    mcphub_server_state ss;
    int i, j;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 2, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{\"command\":\"x\"}", &rc), 0);
    run_for(&fc, 5000);
    /* the same config again is not a change */
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{\"command\":\"x\"}", NULL), 0);
    assert_int_equal(fc.configs, 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{\"command\":\"y\"}", NULL), 0);
    assert_int_equal(mcphub_coordinator_server_get(fc.c, "a", &ss), 0);
    assert_int_equal(ss.config_version, 2);
    assert_int_equal(ss.replicas, 2); /* NULL rc keeps replica settings */
    assert_int_equal(fc.configs, 2);
    run_for(&fc, 5000);
    for (i = 0; i < 2; i++)
        for (j = 0; j < MAX_REPS; j++)
            if (fc.nodes[i].reps[j].live)
                assert_int_equal(fc.nodes[i].reps[j].version, 2);
    mcphub_coordinator_free(fc.c);
}

/* A worker that missed a config push is brought up to date by its heartbeat. */
static void test_stale_config_version_is_pushed_again(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    int before;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    fc.deliver = 0; /* the push is lost */
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{\"v\":2}", NULL), 0);
    fc.deliver = 1;
    before = fc.configs;
    run_for(&fc, 15000); /* heartbeats report version 1 */
    assert_true(fc.configs > before);
    assert_int_equal(fc.nodes[0].reps[0].version, 2);
    mcphub_coordinator_free(fc.c);
}

static void test_lost_allocate_is_assigned_in_heartbeat(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    fc.deliver = 0; /* allocate calls vanish */
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    mcphub_coordinator_tick(fc.c, fake_now_ms);
    assert_int_equal(fc.allocs, 1);
    assert_int_equal(live_total(&fc, "a"), 0);
    run_for(&fc, 15000); /* the heartbeat reply carries the assignment */
    assert_int_equal(live_total(&fc, "a"), 1);
    mcphub_coordinator_free(fc.c);
}

static void test_unknown_node_heartbeat(void **state)
{
    fake_cluster fc;
    mcphub_node_metrics m;

    (void)state;
    memset(&m, 0, sizeof m);
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    assert_int_equal(mcphub_coordinator_heartbeat(fc.c, "ghost", &m, 0, NULL, 0, fake_now_ms, NULL),
                     MCPHUB_E_NOTFOUND);
    mcphub_coordinator_free(fc.c);
}

/* Fuzzing found (tests/fuzz/corpus/fuzz_coordinator/regress-empty-replicas):
 * planning with no replica at all passed a NULL array to memcpy (undefined
 * behaviour, reported by clang's UBSan) in count_replicas.  The first
 * register, the first tick and a route with nothing running all plan with
 * zero replicas; the plan must then ask for exactly the desired replica. */
static void test_plan_with_no_replicas(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    mcphub_cluster_stats st;
    const char *rep, *node;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    fc.deliver = 0;
    assert_int_equal(mcphub_coordinator_replica_count(fc.c), 0);
    mcphub_coordinator_tick(fc.c, fake_now_ms);
    assert_int_equal(fc.allocs, 0);
    assert_int_equal(mcphub_coordinator_route(fc.c, "s", "a", fake_now_ms, &rep, &node),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    mcphub_coordinator_tick(fc.c, fake_now_ms + 1);
    assert_int_equal(fc.allocs, 1);
    assert_int_equal(mcphub_coordinator_replica_count(fc.c), 1);
    mcphub_coordinator_stats(fc.c, &st);
    assert_int_equal(st.replicas_running, 0);
    assert_int_equal(st.servers, 1);
    mcphub_coordinator_free(fc.c);
}

/* A restarted master learns what runs where from re-registering workers
 * and starts nothing new. */
static void test_master_restart_adopts_running_replicas(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 2);
    mcphub_coordinator_opts o;
    mcphub_coord_callbacks cb;
    char *saved = NULL;
    int allocs_before;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 3, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    rc.replicas = 2;
    assert_int_equal(mcphub_coordinator_set_replicas(fc.c, &rc), 0); /* from the API */
    assert_int_equal(mcphub_coordinator_state_json(fc.c, &saved), 0);
    mcphub_coordinator_free(fc.c);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.startup_grace_ms = 6000;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.action = on_action;
    cb.user_data = &fc;
    assert_int_equal(mcphub_coordinator_new(&fc.c, &o, &cb, NULL, fake_now_ms), 0);
    rc.replicas = 1; /* the settings file says 1; the API said 2 and wins */
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    assert_int_equal(mcphub_coordinator_restore(fc.c, saved, strlen(saved)), 0);
    allocs_before = fc.allocs;
    assert_int_equal(do_register(&fc, &fc.nodes[0]), 0);
    assert_int_equal(do_register(&fc, &fc.nodes[1]), 0);
    assert_int_equal(do_register(&fc, &fc.nodes[2]), 0);
    run_for(&fc, 15000);
    assert_int_equal(live_total(&fc, "a"), 2);
    assert_int_equal(fc.allocs, allocs_before);
    assert_int_equal(mcphub_coordinator_replica_count(fc.c), 2);
    assert_int_equal(mcphub_coordinator_restore(fc.c, "{\"version\":9}", 13), MCPHUB_E_PARSE);
    free(saved);
    mcphub_coordinator_free(fc.c);
}

/* Least-connections spreads sessions; each sticks to its replica. */
static void test_sessions_spread_and_stick(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 2);
    const char *rep, *node;
    char first[20][96];
    int i, on_first = 0;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 2, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    for (i = 0; i < 20; i++) {
        char sid[16];

        snprintf(sid, sizeof sid, "s%d", i);
        assert_int_equal(mcphub_coordinator_route(fc.c, sid, "a", fake_now_ms, &rep, &node), 0);
        snprintf(first[i], sizeof first[i], "%s", rep);
    }
    for (i = 0; i < 20; i++) {
        char sid[16];

        snprintf(sid, sizeof sid, "s%d", i);
        assert_int_equal(mcphub_coordinator_route(fc.c, sid, "a", fake_now_ms, &rep, &node), 0);
        assert_string_equal(rep, first[i]);
        on_first += strcmp(first[i], first[0]) == 0;
    }
    assert_int_equal(on_first, 10);
    /* a failed request drops the route; the session re-binds */
    assert_int_equal(mcphub_coordinator_route_failed(fc.c, "s0", "a", first[0]), 0);
    assert_int_equal(mcphub_coordinator_route(fc.c, "s0", "a", fake_now_ms, &rep, &node), 0);
    assert_int_equal(mcphub_coordinator_session_end(fc.c, "s1"), 0);
    assert_int_equal(mcphub_coordinator_session_end(fc.c, "s1"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_coordinator_route(fc.c, "s1", "nope", fake_now_ms, &rep, &node),
                     MCPHUB_E_NOTFOUND);
    mcphub_coordinator_free(fc.c);
}

static void test_no_healthy_replica(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    const char *rep, *node;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    fc.deliver = 0;
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    mcphub_coordinator_tick(fc.c, fake_now_ms);
    assert_int_equal(mcphub_coordinator_route(fc.c, "s", "a", fake_now_ms, &rep, &node),
                     MCPHUB_E_UNAVAILABLE);
    assert_non_null(strstr(mcphub_coordinator_errmsg(fc.c), "no healthy replica"));
    mcphub_coordinator_free(fc.c);
}

static void test_shortfall_is_explained(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 3);
    mcphub_server_state ss;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 2, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 3000);
    assert_int_equal(mcphub_coordinator_server_get(fc.c, "a", &ss), 0);
    /* 3 wanted on 2 nodes: the scheduler doubles up only when it must */
    assert_int_equal(live_total(&fc, "a"), 3);
    mcphub_coordinator_free(fc.c);
}

static void test_remove_node_moves_replicas_first(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    const mcphub_replica *r;
    char node[16];

    (void)state;
    assert_int_equal(setup_cluster(&fc, 2, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    r = mcphub_coordinator_replica_at(fc.c, 0);
    assert_non_null(r);
    snprintf(node, sizeof node, "%s", r->node);
    assert_int_equal(mcphub_coordinator_remove_node(fc.c, node, fake_now_ms), 0);
    run_for(&fc, 10000);
    assert_null(mcphub_registry_get(mcphub_coordinator_registry(fc.c), node));
    assert_int_equal(live_on(node_by_id(&fc, node), "a"), 0);
    assert_int_equal(live_total(&fc, "a"), 1);
    assert_int_equal(mcphub_coordinator_remove_node(fc.c, "ghost", fake_now_ms), MCPHUB_E_NOTFOUND);
    mcphub_coordinator_free(fc.c);
}

static void test_json_renderings(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("fetch", 2);
    const char *rep, *node;
    json_t *v;
    char *s = NULL;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 2, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "fetch", "{\"command\":\"uvx\"}", &rc), 0);
    run_for(&fc, 5000);
    assert_int_equal(mcphub_coordinator_route(fc.c, "sess", "fetch", fake_now_ms, &rep, &node), 0);

    assert_int_equal(mcphub_coordinator_status_json(fc.c, fake_now_ms, 1764115200000ull, &s), 0);
    v = json_loads(s, 0, NULL);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "nodes"), "online")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "replicas"), "running")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "sessions")), 1);
    assert_string_equal(json_string_value(json_object_get(v, "nodeId")), "master-1");
    json_decref(v);
    mcphub_coordinator_free_string(fc.c, s);

    assert_int_equal(mcphub_coordinator_nodes_json(fc.c, fake_now_ms, 1764115200000ull, &s), 0);
    v = json_loads(s, 0, NULL);
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "status")), "online");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "serverCount")), 1);
    /* the last heartbeat came at "now": it renders as the wall-clock time given */
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "lastHeartbeat")),
                        "2025-11-26T00:00:00.000Z");
    json_decref(v);
    mcphub_coordinator_free_string(fc.c, s);

    assert_int_equal(mcphub_coordinator_node_json(fc.c, "ghost", fake_now_ms, 0, &s),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_coordinator_replicas_json(fc.c, "fetch", fake_now_ms, 0, &s), 0);
    v = json_loads(s, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(v, "instances")), 2);
    assert_string_equal(json_string_value(json_object_get(v, "strategy")), "least-connections");
    json_decref(v);
    mcphub_coordinator_free_string(fc.c, s);

    assert_int_equal(mcphub_coordinator_sessions_json(fc.c, fake_now_ms, 0, 10, &s), 0);
    v = json_loads(s, 0, NULL);
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "server")), "fetch");
    json_decref(v);
    mcphub_coordinator_free_string(fc.c, s);
    mcphub_coordinator_free(fc.c);
}

static void test_bad_input(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("other", 1);

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "bad name", "{}", NULL), MCPHUB_E_INVAL);
    assert_non_null(strstr(mcphub_coordinator_errmsg(fc.c), "bad name"));
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), MCPHUB_E_INVAL);
    rc.server = "a";
    rc.strategy = (mcphub_lb_strategy)77;
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_coordinator_server_count(fc.c), 0);
    mcphub_coordinator_free(fc.c);
}

/* Fuzzing found (tests/fuzz/corpus/fuzz_coordinator/regress-config-not-json):
 * set_server stored any text as the config; every allocate of that server
 * then failed to encode and the saved state held {} instead.  A config
 * must now be a JSON object the wire accepts, and a refused one changes
 * nothing: no new server, no new config version, no config pushed. */
static void test_config_must_be_a_json_object(void **state)
{
    static const char *const bad[] = {
        "{\"command\":\"uvx&eplicaId\":\"fetch-old\",\"serverName\"", /* the fuzz input */
        "", "[1]", "\"x\"", "{\"a\":1,\"a\":2}", "{\"a\":\"\\u0000\"}", "{} {}",
    };
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    mcphub_server_state ss;
    char *saved = NULL;
    size_t i;
    int configs;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mcphub_coordinator_set_server(fc.c, "b", bad[i], NULL), MCPHUB_E_INVAL);
        assert_non_null(strstr(mcphub_coordinator_errmsg(fc.c), "config of server b"));
    }
    assert_int_equal(mcphub_coordinator_server_count(fc.c), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{\"command\":\"x\"}", &rc), 0);
    run_for(&fc, 3000);
    configs = fc.configs;
    for (i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", bad[i], NULL), MCPHUB_E_INVAL);
    run_for(&fc, 3000);
    assert_int_equal(fc.configs, configs);
    assert_int_equal(mcphub_coordinator_server_get(fc.c, "a", &ss), 0);
    assert_string_equal(ss.config_json, "{\"command\":\"x\"}");
    assert_int_equal(ss.config_version, 1);
    assert_int_equal(mcphub_coordinator_state_json(fc.c, &saved), 0);
    assert_non_null(strstr(saved, "\"config\":{\"command\":\"x\"}"));
    mcphub_coordinator_free_string(fc.c, saved);
    mcphub_coordinator_free(fc.c);
}

/* Fuzzing found (tests/fuzz/corpus/fuzz_coordinator/regress-session-not-utf8):
 * a session id that is not UTF-8 was bound, and from then on
 * sessions_json failed (with MCPHUB_E_NOMEM) for every session.  Such an
 * id is now refused and the listing keeps working. */
static void test_session_id_must_be_utf8(void **state)
{
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("a", 1);
    mcphub_cluster_stats st;
    const char *rep, *node;
    char *s = NULL;

    (void)state;
    assert_int_equal(setup_cluster(&fc, 1, NULL), 0);
    assert_int_equal(mcphub_coordinator_set_server(fc.c, "a", "{}", &rc), 0);
    run_for(&fc, 5000);
    assert_int_equal(mcphub_coordinator_route(fc.c, "sess-1", "a", fake_now_ms, &rep, &node), 0);
    assert_int_equal(mcphub_coordinator_route(fc.c, "sess\xff-2", "a", fake_now_ms, &rep, &node),
                     MCPHUB_E_INVAL);
    assert_non_null(strstr(mcphub_coordinator_errmsg(fc.c), "UTF-8"));
    assert_int_equal(mcphub_coordinator_route(fc.c, "s\xc3\xa9", "a", fake_now_ms, &rep, &node), 0);
    mcphub_coordinator_stats(fc.c, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(mcphub_coordinator_sessions_json(fc.c, fake_now_ms, 0, 0, &s), 0);
    assert_non_null(strstr(s, "sess-1"));
    assert_non_null(strstr(s, "s\xc3\xa9"));
    mcphub_coordinator_free_string(fc.c, s);
    mcphub_coordinator_free(fc.c);
}

/* Every allocation of a whole scenario fails in turn: clean error, no leak. */
static int failing_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    fake_cluster fc;
    mcphub_replica_config rc = rc_of("fetch", 2);
    const char *rep, *node;
    char *s = NULL;
    int rc_;

    (void)arg;
    rc_ = setup_cluster(&fc, 3, &mem);
    if (rc_ == 0)
        rc_ = mcphub_coordinator_set_server(fc.c, "fetch", "{}", &rc);
    if (rc_ == 0) {
        run_for(&fc, 10000);
        rc_ = mcphub_coordinator_route(fc.c, "s1", "fetch", fake_now_ms, &rep, &node);
    }
    if (rc_ == 0) {
        fc.nodes[0].up = 0;
        run_for(&fc, 20000);
        rc_ = mcphub_coordinator_state_json(fc.c, &s);
        mcphub_coordinator_free_string(fc.c, s);
    }
    if (rc_ == 0 && live_total(&fc, "fetch") != 2)
        rc_ = MCPHUB_E_NOMEM; /* a tick hit OOM and has not caught up yet */
    mcphub_coordinator_free(fc.c);
    if (rc_ != 0 && rc_ != MCPHUB_E_NOMEM && rc_ != MCPHUB_E_UNAVAILABLE)
        fail_msg("unexpected error %d", rc_);
    return fa->count >= fa->fail_at ? rc_ : 0;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(failing_scenario, NULL) > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_replicas_on_two_distinct_nodes),
        cmocka_unit_test(test_node_failure_and_return),
        cmocka_unit_test(test_rebalance_when_a_node_joins),
        cmocka_unit_test(test_scale_down_and_remove_server),
        cmocka_unit_test(test_config_change_reaches_workers),
        cmocka_unit_test(test_stale_config_version_is_pushed_again),
        cmocka_unit_test(test_lost_allocate_is_assigned_in_heartbeat),
        cmocka_unit_test(test_unknown_node_heartbeat),
        cmocka_unit_test(test_plan_with_no_replicas),
        cmocka_unit_test(test_master_restart_adopts_running_replicas),
        cmocka_unit_test(test_sessions_spread_and_stick),
        cmocka_unit_test(test_no_healthy_replica),
        cmocka_unit_test(test_shortfall_is_explained),
        cmocka_unit_test(test_remove_node_moves_replicas_first),
        cmocka_unit_test(test_json_renderings),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_config_must_be_a_json_object),
        cmocka_unit_test(test_session_id_must_be_utf8),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("coordinator", tests, NULL, NULL);
}
