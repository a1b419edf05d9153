/* Unit tests: the replica scheduler (placement, removal, shortfalls).
 *
 * The score every expectation below is worked out with:
 *     100 - 20 * (replicas of the server on the node) - 0.5 * cpu
 *         + 30 if affine - 1 * load,
 * load = live replicas of every server on the node, after the removals and
 * with the creates planned so far.  A create reports the score its node had
 * just before it (so without itself in count or load). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/scheduler.h>

#include "fakes/fakes.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NODE(id, st, max, cpu) {id, MCPHUB_NODE_##st, max, cpu}
#define REP(id, srv, node, st) {id, srv, node, MCPHUB_REPLICA_##st}

static mcphub_replica_config cfg(const char *server, uint32_t replicas)
{
    mcphub_replica_config c;

    memset(&c, 0, sizeof c);
    c.size = sizeof c;
    c.server = server;
    c.replicas = replicas;
    return c;
}

static mcphub_sched_input input(const mcphub_sched_node *nodes, size_t nn,
                                const mcphub_sched_replica *reps, size_t nr,
                                const mcphub_replica_config *cfgs, size_t nc)
{
    mcphub_sched_input in;

    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    in.nodes = nodes;
    in.nodes_len = nn;
    in.replicas = reps;
    in.replicas_len = nr;
    in.configs = cfgs;
    in.configs_len = nc;
    return in;
}

static mcphub_plan *plan_of(const mcphub_sched_node *nodes, size_t nn,
                            const mcphub_sched_replica *reps, size_t nr,
                            const mcphub_replica_config *cfgs, size_t nc)
{
    mcphub_sched_input in = input(nodes, nn, reps, nr, cfgs, nc);
    mcphub_plan *p = NULL;

    assert_int_equal(mcphub_scheduler_plan(&p, &in, NULL), 0);
    assert_non_null(p);
    return p;
}

static void assert_create(const mcphub_plan *p, size_t i, const char *server, const char *node,
                          double score)
{
    const mcphub_plan_create *c = mcphub_plan_create_at(p, i);

    assert_non_null(c);
    assert_string_equal(c->server, server);
    assert_string_equal(c->node, node);
    assert_true(fabs(c->score - score) < 1e-9);
}

static void assert_remove(const mcphub_plan *p, size_t i, const char *replica, const char *reason)
{
    const mcphub_plan_remove *r = mcphub_plan_remove_at(p, i);

    assert_non_null(r);
    assert_string_equal(r->replica, replica);
    assert_string_equal(r->reason, reason);
}

static void test_scale_up_from_zero_one_per_node(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w2", ONLINE, 0, 0), NODE("w3", ONLINE, 0, 0),
                                 NODE("w1", ONLINE, 0, 0)};
    mcphub_replica_config c[] = {cfg("fetch", 3)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 3);
    assert_int_equal(mcphub_plan_remove_count(p), 0);
    assert_int_equal(mcphub_plan_shortfall_count(p), 0);
    /* all score 100 (count 0, load 0 on each node when it is chosen): ties
     * go to the smallest id, one replica per node */
    assert_create(p, 0, "fetch", "w1", 100.0);
    assert_create(p, 1, "fetch", "w2", 100.0);
    assert_create(p, 2, "fetch", "w3", 100.0);
    assert_null(mcphub_plan_create_at(p, 3));
    mcphub_plan_free(p);
}

static void test_two_replicas_on_three_nodes_distinct(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 50), NODE("w2", ONLINE, 0, 10),
                                 NODE("w3", ONLINE, 0, 30)};
    mcphub_replica_config c[] = {cfg("fetch", 2), cfg("time", 2)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 4);
    /* cpu influence: 100 - 0.5*10 = 95 beats 85 beats 75 */
    assert_create(p, 0, "fetch", "w2", 95.0);
    assert_create(p, 1, "fetch", "w3", 85.0);
    /* time: w2 and w3 now hold one replica of fetch each (load 1): 94 and
     * 84 still beat w1's 75 */
    assert_create(p, 2, "time", "w2", 94.0);
    assert_create(p, 3, "time", "w3", 84.0);
    mcphub_plan_free(p);
}

static void test_affinity_bonus(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0),
                                 NODE("w3", ONLINE, 0, 40)};
    const char *prefer[] = {"w3", "ghost"};
    mcphub_replica_config c[] = {cfg("fetch", 2)};
    mcphub_plan *p;

    (void)state;
    c[0].node_ids = prefer;
    c[0].node_ids_len = LEN(prefer);
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 2);
    /* 100 - 20 + 30 = 110 beats 100; an unknown affinity id is ignored */
    assert_create(p, 0, "fetch", "w3", 110.0);
    /* the second goes elsewhere even though w3 would still score
     * 100 - 20 - 20 + 30 - 1 = 89 */
    assert_create(p, 1, "fetch", "w1", 100.0);
    mcphub_plan_free(p);
}

static void test_affinity_wins_second_round_when_all_hold_one(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0)};
    const char *prefer[] = {"w2"};
    mcphub_replica_config c[] = {cfg("fetch", 3)};
    mcphub_plan *p;

    (void)state;
    c[0].node_ids = prefer;
    c[0].node_ids_len = 1;
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_create(p, 0, "fetch", "w2", 130.0);
    assert_create(p, 1, "fetch", "w1", 100.0);
    /* both hold one (count 1, load 1): w2 100 - 20 + 30 - 1 = 109 beats
     * w1 100 - 20 - 1 = 79 */
    assert_create(p, 2, "fetch", "w2", 109.0);
    mcphub_plan_free(p);
}

static void test_exclude(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 20),
                                 NODE("w3", ONLINE, 0, 60)};
    mcphub_sched_replica reps[] = {REP("r1", "fetch", "w1", RUNNING),
                                   REP("r2", "fetch", "w2", RUNNING)};
    const char *never[] = {"w1"};
    const char *prefer[] = {"w1"};
    mcphub_replica_config c[] = {cfg("fetch", 2)};
    mcphub_plan *p;

    (void)state;
    c[0].exclude_node_ids = never;
    c[0].exclude_node_ids_len = 1;
    /* exclusion beats affinity */
    c[0].node_ids = prefer;
    c[0].node_ids_len = 1;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 1);
    assert_remove(p, 0, "r1", "excluded");
    assert_string_equal(mcphub_plan_remove_at(p, 0)->node, "w1");
    assert_string_equal(mcphub_plan_remove_at(p, 0)->server, "fetch");
    assert_int_equal(mcphub_plan_create_count(p), 1);
    /* w2 already holds r2; w3 (count 0, load 0): 100 - 30 = 70 */
    assert_create(p, 0, "fetch", "w3", 70.0);
    mcphub_plan_free(p);
}

static void test_cpu_clamped_and_nan_rejected(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 150), NODE("w2", ONLINE, 0, -5)};
    mcphub_replica_config c[] = {cfg("fetch", 2)};
    mcphub_sched_input in;
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_create(p, 0, "fetch", "w2", 100.0);
    assert_create(p, 1, "fetch", "w1", 50.0);
    mcphub_plan_free(p);
    nodes[0].cpu_percent = nan("");
    in = input(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    p = NULL;
    assert_int_equal(mcphub_scheduler_plan(&p, &in, NULL), MCPHUB_E_INVAL);
    assert_null(p);
}

static void test_max_servers(void **state)
{
    /* w1 is full with other servers' replicas; w2 has one slot left; w3 is
     * full but one of its replicas belongs to a removed server. */
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 2, 0), NODE("w2", ONLINE, 2, 10),
                                 NODE("w3", ONLINE, 1, 20)};
    mcphub_sched_replica reps[] = {
        REP("a1", "a", "w1", RUNNING), REP("b1", "b", "w1", STARTING),
        REP("a2", "a", "w2", RUNNING), REP("old", "gone", "w3", RUNNING),
        /* stopped replicas hold no slot */
        REP("s1", "a", "w3", STOPPED)};
    mcphub_replica_config c[] = {cfg("a", 2), cfg("b", 1), cfg("fetch", 2)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 1);
    assert_remove(p, 0, "old", "server-removed");
    /* fetch: w1 full, so w2 (100 - 5 - load 1 = 94) then w3 (100 - 10 = 90,
     * load 0: freed by the removal, the stopped s1 not counted) */
    assert_int_equal(mcphub_plan_create_count(p), 2);
    assert_create(p, 0, "fetch", "w2", 94.0);
    assert_create(p, 1, "fetch", "w3", 90.0);
    assert_int_equal(mcphub_plan_shortfall_count(p), 0);
    mcphub_plan_free(p);
}

static void test_deterministic_ties_and_input_order(void **state)
{
    mcphub_sched_node a[] = {NODE("n-b", ONLINE, 0, 10), NODE("n-a", ONLINE, 0, 10),
                             NODE("n-c", ONLINE, 0, 10), NODE("n-d", UNHEALTHY, 0, 0)};
    mcphub_sched_node b[] = {NODE("n-d", UNHEALTHY, 0, 0), NODE("n-c", ONLINE, 0, 10),
                             NODE("n-a", ONLINE, 0, 10), NODE("n-b", ONLINE, 0, 10)};
    mcphub_replica_config c[] = {cfg("x", 2), cfg("y", 1)};
    mcphub_plan *p1, *p2;
    size_t i;

    (void)state;
    p1 = plan_of(a, LEN(a), NULL, 0, c, LEN(c));
    p2 = plan_of(b, LEN(b), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p1), 3);
    assert_int_equal(mcphub_plan_create_count(p2), 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(mcphub_plan_create_at(p1, i)->node, mcphub_plan_create_at(p2, i)->node);
        assert_string_equal(mcphub_plan_create_at(p1, i)->server,
                            mcphub_plan_create_at(p2, i)->server);
    }
    assert_create(p1, 0, "x", "n-a", 95.0);
    assert_create(p1, 1, "x", "n-b", 95.0);
    /* n-a and n-b now hold x (load 1, 94): y goes to the idle n-c */
    assert_create(p1, 2, "y", "n-c", 95.0);
    mcphub_plan_free(p1);
    mcphub_plan_free(p2);
}

static void test_scale_down_choice_order(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 10),
                                 NODE("w3", ONLINE, 0, 50), NODE("w4", ONLINE, 0, 50),
                                 NODE("w5", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {
        REP("r1", "fetch", "w1", RUNNING), REP("r2", "fetch", "w1", RUNNING),
        REP("r3", "fetch", "w2", RUNNING), REP("r4", "fetch", "w5", ERROR),
        REP("r5", "fetch", "w3", RUNNING), REP("r6", "fetch", "w4", RUNNING)};
    mcphub_replica_config c[] = {cfg("fetch", 6)};
    const char *expect[] = {"r4", "r2", "r6", "r5", "r3", "r1"};
    size_t k;

    (void)state;
    /* Each step down removes exactly the next one in the expected order:
     * the error replica (on the best node), the duplicate on w1 (largest
     * id), then the lowest score with one replica and load 1 on every node
     * (w3 and w4 tie at 100 - 20 - 25 - 1 = 54: largest id r6), then r5
     * (54), r3 (74), r1 (79). */
    for (k = 1; k <= 6; k++) {
        mcphub_plan *p;
        size_t i;

        c[0].replicas = (uint32_t)(6 - k);
        p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
        assert_int_equal(mcphub_plan_remove_count(p), k);
        assert_int_equal(mcphub_plan_create_count(p), 0);
        if (c[0].replicas == 0) {
            /* scale to zero: everything goes, in input order */
            for (i = 0; i < k; i++) {
                assert_string_equal(mcphub_plan_remove_at(p, i)->reason, "scale-down");
                assert_string_equal(mcphub_plan_remove_at(p, i)->replica, reps[i].id);
            }
        } else {
            for (i = 0; i < k; i++)
                assert_string_equal(mcphub_plan_remove_at(p, i)->replica, expect[i]);
            assert_remove(p, 0, "r4", "scale-down");
            if (k >= 2)
                assert_remove(p, 1, "r2", "duplicate");
            if (k >= 3)
                assert_remove(p, 2, "r6", "scale-down");
        }
        mcphub_plan_free(p);
    }
}

/* The scale-down rule written the slow, obvious way: remove one at a time,
 * each time the worst live replica of "s" by (error/pending, count of "s"
 * on its node, node score, id) with counts and loads as they are then.
 * load counts every live replica of a configured server ("s" and the
 * filler "f"); replicas of the unconfigured "g" are removed before any
 * scale-down and stopped ones hold no slot, so neither counts. */
static double ref_score(unsigned count, double cpu, int affine, unsigned load)
{
    return 100.0 - 20.0 * count - 0.5 * cpu + (affine ? 30.0 : 0.0) - 1.0 * load;
}

static int ref_live(const mcphub_sched_replica *r)
{
    return r->status != MCPHUB_REPLICA_STOPPED && r->status != MCPHUB_REPLICA_TERMINATED;
}

static void reference_scale_down(const mcphub_sched_node *nodes, const int *affine,
                                 const mcphub_sched_replica *reps, size_t nr, size_t extras,
                                 size_t *order, int *dup)
{
    unsigned count[5] = {0}, load[5] = {0};
    int gone[32] = {0};
    size_t i, k;

    for (i = 0; i < nr; i++) {
        size_t n = (size_t)(reps[i].node[1] - '0');

        if (!ref_live(&reps[i]) || strcmp(reps[i].server, "g") == 0)
            continue;
        load[n]++;
        if (strcmp(reps[i].server, "s") == 0)
            count[n]++;
    }
    for (k = 0; k < extras; k++) {
        size_t best = nr, b;

        for (i = 0; i < nr; i++) {
            size_t a = (size_t)(reps[i].node[1] - '0');
            int bad_a, bad_b;
            double sa, sb;

            if (gone[i] || strcmp(reps[i].server, "s") != 0 || !ref_live(&reps[i]))
                continue;
            if (best == nr) {
                best = i;
                continue;
            }
            b = (size_t)(reps[best].node[1] - '0');
            bad_a = reps[i].status == MCPHUB_REPLICA_ERROR || reps[i].status == MCPHUB_REPLICA_PENDING;
            bad_b = reps[best].status == MCPHUB_REPLICA_ERROR ||
                    reps[best].status == MCPHUB_REPLICA_PENDING;
            sa = ref_score(count[a], nodes[a].cpu_percent, affine[a], load[a]);
            sb = ref_score(count[b], nodes[b].cpu_percent, affine[b], load[b]);
            if (bad_a != bad_b ? bad_a
                : count[a] != count[b] ? count[a] > count[b]
                : sa != sb ? sa < sb
                : strcmp(reps[i].id, reps[best].id) > 0)
                best = i;
        }
        assert_true(best < nr);
        b = (size_t)(reps[best].node[1] - '0');
        order[k] = best;
        dup[k] = count[b] >= 2;
        count[b]--;
        load[b]--;
        gone[best] = 1;
    }
}

static void test_scale_down_matches_reference(void **state)
{
    static const char *node_ids[] = {"n0", "n1", "n2", "n3", "n4"};
    static const double cpus[] = {0, 2, 10, 10, 30, 50};
    static const mcphub_replica_status statuses[] = {
        MCPHUB_REPLICA_RUNNING, MCPHUB_REPLICA_RUNNING, MCPHUB_REPLICA_STARTING,
        MCPHUB_REPLICA_ERROR, MCPHUB_REPLICA_PENDING};
    fake_random rnd = {99};
    int trial;

    (void)state;
    for (trial = 0; trial < 2000; trial++) {
        mcphub_sched_node nodes[5];
        mcphub_sched_replica reps[32];
        char ids[32][8];
        const char *prefer[5];
        int affine[5];
        size_t ns = 1 + fake_random_next(&rnd) % 16, nf = fake_random_next(&rnd) % 10,
               ng = fake_random_next(&rnd) % 4, nr = 0, nprefer = 0, i, order[16];
        uint32_t f_live = 0;
        int dup[16];
        mcphub_replica_config c[2];
        mcphub_plan *p;

        for (i = 0; i < 5; i++) {
            nodes[i].id = node_ids[i];
            nodes[i].status = MCPHUB_NODE_ONLINE;
            nodes[i].max_servers = 0;
            nodes[i].cpu_percent = cpus[fake_random_next(&rnd) % LEN(cpus)];
            affine[i] = fake_random_next(&rnd) % 4 == 0;
            if (affine[i])
                prefer[nprefer++] = node_ids[i];
        }
        /* "g" (no config) first: its removals come first in the plan */
        for (i = 0; i < ng; i++, nr++) {
            snprintf(ids[nr], sizeof ids[nr], "g%zu", i);
            reps[nr].id = ids[nr];
            reps[nr].server = "g";
            reps[nr].node = node_ids[fake_random_next(&rnd) % 5];
            reps[nr].status = MCPHUB_REPLICA_RUNNING;
        }
        for (i = 0; i < ns; i++, nr++) {
            /* ids with a non-monotone order: "r3" > "r12" */
            snprintf(ids[nr], sizeof ids[nr], "r%zu", (i * 7) % 16);
            reps[nr].id = ids[nr];
            reps[nr].server = "s";
            reps[nr].node = node_ids[fake_random_next(&rnd) % 5];
            reps[nr].status = statuses[fake_random_next(&rnd) % 5];
        }
        /* the filler "f" keeps every live replica (it wants exactly those):
         * it only adds load; its stopped replicas add none */
        for (i = 0; i < nf; i++, nr++) {
            snprintf(ids[nr], sizeof ids[nr], "f%zu", i);
            reps[nr].id = ids[nr];
            reps[nr].server = "f";
            reps[nr].node = node_ids[fake_random_next(&rnd) % 5];
            reps[nr].status = fake_random_next(&rnd) % 4 == 0 ? MCPHUB_REPLICA_STOPPED
                                                               : MCPHUB_REPLICA_RUNNING;
            f_live += reps[nr].status == MCPHUB_REPLICA_RUNNING;
        }
        c[0] = cfg("s", (uint32_t)(1 + fake_random_next(&rnd) % ns));
        c[0].node_ids = prefer;
        c[0].node_ids_len = nprefer;
        c[1] = cfg("f", f_live);
        p = plan_of(nodes, 5, reps, nr, c, 2);
        reference_scale_down(nodes, affine, reps, nr, ns - c[0].replicas, order, dup);
        assert_int_equal(mcphub_plan_create_count(p), 0);
        assert_int_equal(mcphub_plan_remove_count(p), ng + ns - c[0].replicas);
        for (i = 0; i < ng; i++)
            assert_remove(p, i, reps[i].id, "server-removed");
        for (i = 0; i < ns - c[0].replicas; i++) {
            assert_string_equal(mcphub_plan_remove_at(p, ng + i)->replica, reps[order[i]].id);
            assert_string_equal(mcphub_plan_remove_at(p, ng + i)->reason,
                                dup[i] ? "duplicate" : "scale-down");
        }
        mcphub_plan_free(p);
    }
}

/* Equal counts of the server, equal cpu: the replica on the node holding
 * more replicas (of any server) goes first, whatever its id. */
static void test_scale_down_most_loaded_node_first(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {REP("a1", "fetch", "w2", RUNNING),
                                   REP("a2", "fetch", "w1", RUNNING),
                                   REP("o1", "other", "w2", RUNNING)};
    mcphub_sched_replica reps2[] = {REP("s1", "fetch", "w2", RUNNING),
                                    REP("s2", "fetch", "w1", RUNNING),
                                    REP("s3", "fetch", "w1", RUNNING),
                                    REP("o1", "other", "w2", RUNNING)};
    mcphub_replica_config c[] = {cfg("fetch", 1), cfg("other", 1)};
    mcphub_plan *p;

    (void)state;
    /* w1: 100 - 20 - 1 = 79, w2: 100 - 20 - 2 = 78; the smaller id a1 goes
     * (by id alone a2 would) */
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 1);
    assert_remove(p, 0, "a1", "scale-down");
    assert_int_equal(mcphub_plan_create_count(p), 0);
    mcphub_plan_free(p);

    /* w1 holds two of fetch: its largest id s3 goes first ("duplicate").
     * Then w1 holds s2 alone (count 1, load 1: 79) and w2 s1 and o1
     * (count 1, load 2: 78): s1 goes.  The load of w1 is the one after s3
     * left, not before (which would tie at 78 and pick s2 by id). */
    p = plan_of(nodes, LEN(nodes), reps2, LEN(reps2), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 2);
    assert_remove(p, 0, "s3", "duplicate");
    assert_remove(p, 1, "s1", "scale-down");
    mcphub_plan_free(p);
}

static void test_pending_removed_before_running(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 90), NODE("w2", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {REP("r1", "fetch", "w1", RUNNING),
                                   REP("r2", "fetch", "w2", PENDING)};
    mcphub_replica_config c[] = {cfg("fetch", 1)};
    mcphub_plan *p;

    (void)state;
    /* w1 scores far lower, but the pending replica goes first */
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 1);
    assert_remove(p, 0, "r2", "scale-down");
    mcphub_plan_free(p);
}

static void test_node_offline_replicas_moved(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", OFFLINE, 0, 0), NODE("w2", ONLINE, 0, 0),
                                 NODE("w3", ONLINE, 0, 20)};
    mcphub_sched_replica reps[] = {
        REP("r1", "fetch", "w1", RUNNING), REP("r2", "fetch", "w2", RUNNING),
        REP("r3", "time", "w1", RUNNING), REP("r4", "time", "gone-node", RUNNING),
        /* terminated replicas on the dead node are neither counted nor removed */
        REP("r5", "time", "w1", TERMINATED)};
    mcphub_replica_config c[] = {cfg("fetch", 2), cfg("time", 1)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 3);
    assert_remove(p, 0, "r1", "node-offline");
    assert_remove(p, 1, "r3", "node-offline");
    assert_remove(p, 2, "r4", "node-unknown");
    assert_string_equal(mcphub_plan_remove_at(p, 2)->node, "gone-node");
    assert_int_equal(mcphub_plan_create_count(p), 2);
    /* fetch keeps r2 on w2: its second goes to w3, 100 - 10 = 90 */
    assert_create(p, 0, "fetch", "w3", 90.0);
    /* time: w2 holds r2 (100 - 1 = 99), w3 the create just planned
     * (90 - 1 = 89) */
    assert_create(p, 1, "time", "w2", 99.0);
    mcphub_plan_free(p);
}

static void test_unhealthy_not_moved(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", UNHEALTHY, 0, 0), NODE("w2", ONLINE, 0, 0),
                                 NODE("w3", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {REP("r1", "fetch", "w1", RUNNING)};
    mcphub_replica_config c[] = {cfg("fetch", 1), cfg("time", 3)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 0);
    /* fetch keeps r1; time gets no replica on the unhealthy node: w2 gets
     * two before w1 gets any */
    assert_int_equal(mcphub_plan_create_count(p), 3);
    assert_create(p, 0, "time", "w2", 100.0);
    assert_create(p, 1, "time", "w3", 100.0);
    /* count 1, load 1 on both: 100 - 20 - 1 = 79, tie to w2 */
    assert_create(p, 2, "time", "w2", 79.0);
    mcphub_plan_free(p);
}

static void test_partition_heal_removes_duplicates(void **state)
{
    /* w1 was cut off; its replica was replaced on w2 (the only node left,
     * so it now holds two).  w1 is back: one of w2's two goes. */
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {REP("r-1", "fetch", "w1", RUNNING),
                                   REP("r-2", "fetch", "w2", RUNNING),
                                   REP("r-3", "fetch", "w2", RUNNING),
                                   /* time: replaced on w2 while w1 was away */
                                   REP("t-1", "time", "w1", RUNNING),
                                   REP("t-2", "time", "w2", RUNNING)};
    mcphub_replica_config c[] = {cfg("fetch", 2), cfg("time", 1)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 0);
    assert_int_equal(mcphub_plan_remove_count(p), 2);
    assert_remove(p, 0, "r-3", "duplicate");
    /* equal counts and scores (w1 and w2 both hold one time and one fetch
     * once r-3 is planned out: 100 - 20 - 2 = 78): the larger id goes */
    assert_remove(p, 1, "t-2", "scale-down");
    mcphub_plan_free(p);
}

static void test_more_replicas_than_nodes(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 4),
                                 NODE("w3", OFFLINE, 0, 0)};
    mcphub_replica_config c[] = {cfg("fetch", 5)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 5);
    /* the fewest replicas first, so w1 and w2 alternate; each holds only
     * fetch, so load = count: 100 - 21 * count - 0.5 * cpu */
    assert_create(p, 0, "fetch", "w1", 100.0);
    assert_create(p, 1, "fetch", "w2", 98.0);
    assert_create(p, 2, "fetch", "w1", 79.0);
    assert_create(p, 3, "fetch", "w2", 77.0);
    assert_create(p, 4, "fetch", "w1", 58.0);
    assert_int_equal(mcphub_plan_shortfall_count(p), 0);
    mcphub_plan_free(p);
}

static void test_shortfall_reasons(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 2, 0),
                                 NODE("w3", OFFLINE, 0, 0), NODE("w4", ONLINE, 10, 0),
                                 NODE("w5", UNHEALTHY, 0, 0)};
    mcphub_sched_replica reps[10];
    char ids[10][16];
    const char *never[] = {"w1"};
    mcphub_replica_config c[] = {cfg("fetch", 3), cfg("other", 0)};
    const mcphub_plan_shortfall *s;
    mcphub_plan *p;
    int i;

    (void)state;
    for (i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "o%d", i);
        reps[i].id = ids[i];
        reps[i].server = "filler";
        reps[i].node = "w4";
        reps[i].status = MCPHUB_REPLICA_RUNNING;
    }
    c[0].exclude_node_ids = never;
    c[0].exclude_node_ids_len = 1;
    c[1] = cfg("filler", 10);
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 2);
    /* w2 is the only usable node: 100, then 100 - 20 - 1 = 79 */
    assert_create(p, 0, "fetch", "w2", 100.0);
    assert_create(p, 1, "fetch", "w2", 79.0);
    assert_int_equal(mcphub_plan_shortfall_count(p), 1);
    s = mcphub_plan_shortfall_at(p, 0);
    assert_non_null(s);
    assert_string_equal(s->server, "fetch");
    assert_int_equal(s->desired, 3);
    assert_int_equal(s->placed, 2);
    assert_string_equal(s->reason, "3 replicas desired, 2 placed: 5 nodes known; w3 offline, "
                                   "w5 unhealthy, w2 full (2/2 servers), "
                                   "w4 full (10/10 servers), w1 excluded");
    assert_null(mcphub_plan_shortfall_at(p, 1));
    mcphub_plan_free(p);

    /* no nodes at all */
    p = plan_of(NULL, 0, NULL, 0, c, 1);
    assert_int_equal(mcphub_plan_shortfall_count(p), 1);
    assert_string_equal(mcphub_plan_shortfall_at(p, 0)->reason,
                        "3 replicas desired, 0 placed: no nodes known");
    mcphub_plan_free(p);
}

static void test_shortfall_reason_is_bounded(void **state)
{
    mcphub_sched_node nodes[20];
    char ids[20][16];
    mcphub_replica_config c[] = {cfg("fetch", 1)};
    mcphub_plan *p;
    const char *reason;
    int i;

    (void)state;
    for (i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "n%02d", i);
        nodes[i].id = ids[i];
        nodes[i].status = MCPHUB_NODE_OFFLINE;
        nodes[i].max_servers = 0;
        nodes[i].cpu_percent = 0;
    }
    p = plan_of(nodes, 20, NULL, 0, c, 1);
    reason = mcphub_plan_shortfall_at(p, 0)->reason;
    assert_string_equal(reason, "1 replica desired, 0 placed: 20 nodes known; n00 offline, "
                                "n01 offline, n02 offline, n03 offline, n04 offline, "
                                "n05 offline, n06 offline, n07 offline, and 12 more");
    mcphub_plan_free(p);
}

static void test_removed_and_ignored_replicas(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {
        REP("g1", "gone", "w1", RUNNING), REP("g2", "gone", "w2", TERMINATED),
        REP("z1", "zero", "w1", RUNNING), REP("z2", "zero", "w2", ERROR),
        REP("k1", "keep", "w1", STOPPED), REP("k2", "keep", "w2", RUNNING)};
    mcphub_replica_config c[] = {cfg("zero", 0), cfg("keep", 1)};
    mcphub_plan *p;

    (void)state;
    p = plan_of(nodes, LEN(nodes), reps, LEN(reps), c, LEN(c));
    assert_int_equal(mcphub_plan_remove_count(p), 3);
    assert_remove(p, 0, "g1", "server-removed");
    assert_remove(p, 1, "z1", "scale-down");
    assert_remove(p, 2, "z2", "scale-down");
    /* the stopped k1 does not count, the running k2 is enough */
    assert_int_equal(mcphub_plan_create_count(p), 0);
    mcphub_plan_free(p);
}

static void test_invalid_input(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 0)};
    mcphub_sched_replica reps[] = {REP("r1", "fetch", "w1", RUNNING),
                                   REP("r2", "fetch", "w2", RUNNING)};
    mcphub_replica_config c[] = {cfg("fetch", 2), cfg("time", 1)};
    const char *bad_list[] = {"w1", NULL};
    mcphub_sched_input in = input(nodes, 2, reps, 2, c, 2);
    mcphub_plan *sentinel = (mcphub_plan *)(void *)&in, *p = sentinel;

    (void)state;
#define EXPECT(rc_) assert_int_equal(mcphub_scheduler_plan(&p, &in, NULL), rc_); \
    assert_ptr_equal(p, sentinel)
    assert_int_equal(mcphub_scheduler_plan(NULL, &in, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_scheduler_plan(&p, NULL, NULL), MCPHUB_E_INVAL);
    nodes[1].id = "w1";
    EXPECT(MCPHUB_E_INVAL); /* duplicate node id */
    nodes[1].id = "";
    EXPECT(MCPHUB_E_INVAL);
    nodes[1].id = NULL;
    EXPECT(MCPHUB_E_INVAL);
    nodes[1].id = "w2";
    nodes[1].status = (mcphub_node_status)7;
    EXPECT(MCPHUB_E_INVAL);
    nodes[1].status = MCPHUB_NODE_ONLINE;
    reps[1].id = "r1";
    EXPECT(MCPHUB_E_INVAL); /* duplicate replica id */
    reps[1].id = "r2";
    reps[1].server = NULL;
    EXPECT(MCPHUB_E_INVAL);
    reps[1].server = "fetch";
    reps[1].node = NULL;
    EXPECT(MCPHUB_E_INVAL);
    reps[1].node = "w2";
    reps[1].status = (mcphub_replica_status)0;
    EXPECT(MCPHUB_E_INVAL);
    reps[1].status = MCPHUB_REPLICA_RUNNING;
    c[1].server = "fetch";
    EXPECT(MCPHUB_E_INVAL); /* two configs for one server */
    c[1].server = NULL;
    EXPECT(MCPHUB_E_INVAL);
    c[1].server = "time";
    c[1].exclude_node_ids = bad_list;
    c[1].exclude_node_ids_len = 2;
    EXPECT(MCPHUB_E_INVAL);
    c[1].exclude_node_ids = NULL;
    EXPECT(MCPHUB_E_INVAL); /* NULL list with a length */
    c[1].exclude_node_ids_len = 0;
    c[1].size = 0;
    EXPECT(MCPHUB_E_INVAL);
    c[1].size = sizeof c[1];
    in.nodes = NULL;
    EXPECT(MCPHUB_E_INVAL);
    in.nodes = nodes;
    in.size = 0;
    EXPECT(MCPHUB_E_INVAL);
    in.size = sizeof in;
    /* bound on desired replicas */
    c[1].replicas = MCPHUB_SCHED_DEFAULT_MAX_REPLICAS + 1;
    EXPECT(MCPHUB_E_FULL);
    in.max_replicas = MCPHUB_SCHED_DEFAULT_MAX_REPLICAS + 1;
    assert_int_equal(mcphub_scheduler_plan(&p, &in, NULL), 0);
    assert_int_equal(mcphub_plan_create_count(p), MCPHUB_SCHED_DEFAULT_MAX_REPLICAS + 1);
    mcphub_plan_free(p);
    mcphub_plan_free(NULL);
#undef EXPECT
    /* getters accept NULL */
    assert_int_equal(mcphub_plan_create_count(NULL), 0);
    assert_int_equal(mcphub_plan_remove_count(NULL), 0);
    assert_int_equal(mcphub_plan_shortfall_count(NULL), 0);
    assert_null(mcphub_plan_create_at(NULL, 0));
    assert_null(mcphub_plan_remove_at(NULL, 0));
    assert_null(mcphub_plan_shortfall_at(NULL, 0));
}

static void test_older_smaller_input_struct(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0)};
    mcphub_replica_config c[] = {cfg("fetch", 1)};
    mcphub_sched_input in = input(nodes, 1, NULL, 0, c, 1);
    mcphub_plan *p = NULL;

    (void)state;
    /* a caller built before max_replicas existed gets the default */
    in.size = offsetof(mcphub_sched_input, configs_len) + sizeof in.configs_len;
    assert_int_equal(mcphub_scheduler_plan(&p, &in, NULL), 0);
    assert_int_equal(mcphub_plan_create_count(p), 1);
    mcphub_plan_free(p);
}

/* ---- a random cluster: apply the plan, plan again, nothing left to do ---- */

typedef struct cluster {
    mcphub_sched_node nodes[40];
    char node_ids[40][16];
    mcphub_sched_replica reps[400];
    char rep_ids[120][24];
    char new_ids[400][24];
    size_t nreps;
    mcphub_replica_config cfgs[30];
    char names[32][16]; /* s30 and s31 have no config */
    const char *excl[30][1];
    const char *all_nodes[40];
} cluster;

/* tight: most nodes offline, the rest small, so shortfalls happen */
static void random_cluster(cluster *cl, fake_random *rnd, int tight)
{
    size_t i;

    memset(cl, 0, sizeof *cl);
    for (i = 0; i < 40; i++) {
        uint32_t r = fake_random_next(rnd);

        snprintf(cl->node_ids[i], sizeof cl->node_ids[i], "n%zu", i);
        cl->nodes[i].id = cl->node_ids[i];
        cl->all_nodes[i] = cl->node_ids[i];
        cl->nodes[i].status = r % 10 < (tight ? 6u : 1u) ? MCPHUB_NODE_OFFLINE
                              : r % 10 == 3 ? MCPHUB_NODE_UNHEALTHY : MCPHUB_NODE_ONLINE;
        cl->nodes[i].max_servers = tight ? 1 + (r >> 12) % 2
                                   : (r >> 8) % 3 == 0 ? 0 : 3 + (r >> 12) % 5;
        cl->nodes[i].cpu_percent = (double)((r >> 16) % 1000) / 10.0;
    }
    for (i = 0; i < 32; i++)
        snprintf(cl->names[i], sizeof cl->names[i], "s%zu", i);
    for (i = 0; i < 30; i++) {
        cl->cfgs[i] = cfg(cl->names[i], fake_random_next(rnd) % 5);
        cl->excl[i][0] = cl->node_ids[fake_random_next(rnd) % 40];
        cl->cfgs[i].exclude_node_ids = cl->excl[i];
        cl->cfgs[i].exclude_node_ids_len = 1;
    }
    for (i = 0; i < 120; i++) {
        snprintf(cl->rep_ids[i], sizeof cl->rep_ids[i], "r%zu", i);
        cl->reps[i].id = cl->rep_ids[i];
        cl->reps[i].server = cl->names[fake_random_next(rnd) % 32];
        cl->reps[i].node = cl->node_ids[fake_random_next(rnd) % 40];
        cl->reps[i].status = (mcphub_replica_status)(1 + fake_random_next(rnd) % 6);
    }
    cl->nreps = 120;
}

static size_t node_index(const cluster *cl, const char *id)
{
    size_t j;

    for (j = 0; j < 40 && strcmp(cl->node_ids[j], id) != 0; j++)
        ;
    assert_true(j < 40);
    return j;
}

/* Carry the plan out: drop removed replicas, add created ones as running.
 * created[j] counts the creates on node j. */
static void apply(cluster *cl, const mcphub_plan *p, unsigned created[40])
{
    size_t i, j, k = 0;

    memset(created, 0, 40 * sizeof created[0]);
    for (i = 0; i < cl->nreps; i++) {
        int gone = 0;

        for (j = 0; j < mcphub_plan_remove_count(p); j++)
            if (strcmp(mcphub_plan_remove_at(p, j)->replica, cl->reps[i].id) == 0)
                gone = 1;
        if (!gone)
            cl->reps[k++] = cl->reps[i];
    }
    cl->nreps = k;
    for (i = 0; i < mcphub_plan_create_count(p); i++) {
        const mcphub_plan_create *c = mcphub_plan_create_at(p, i);
        mcphub_sched_replica *r = &cl->reps[cl->nreps];
        size_t n;

        assert_true(cl->nreps < LEN(cl->reps));
        snprintf(cl->new_ids[cl->nreps], sizeof cl->new_ids[0], "c%zu", i);
        for (n = 0; n < 30 && strcmp(cl->names[n], c->server) != 0; n++)
            ;
        assert_true(n < 30);
        j = node_index(cl, c->node);
        r->id = cl->new_ids[cl->nreps];
        r->server = cl->names[n];
        r->node = cl->node_ids[j];
        r->status = MCPHUB_REPLICA_RUNNING;
        /* never on an unhealthy, offline or excluded node */
        assert_int_equal(cl->nodes[j].status, MCPHUB_NODE_ONLINE);
        assert_ptr_not_equal(r->node, cl->excl[n][0]);
        created[j]++;
        cl->nreps++;
    }
}

static int is_live(const mcphub_sched_replica *r)
{
    return r->status != MCPHUB_REPLICA_STOPPED && r->status != MCPHUB_REPLICA_TERMINATED;
}

static void check_invariants(const cluster *cl, const unsigned created[40])
{
    size_t i, j;

    for (j = 0; j < 40; j++) {
        const mcphub_sched_node *n = &cl->nodes[j];
        uint32_t load = 0;

        for (i = 0; i < cl->nreps; i++)
            if (cl->reps[i].node == n->id && is_live(&cl->reps[i])) {
                load++;
                /* nothing live is left on an offline node */
                assert_int_not_equal(n->status, MCPHUB_NODE_OFFLINE);
            }
        /* a node that received replicas is not over its limit */
        if (created[j] != 0 && n->max_servers != 0)
            assert_true(load <= n->max_servers);
    }
    for (i = 0; i < cl->nreps; i++) {
        size_t s;

        if (!is_live(&cl->reps[i]))
            continue;
        for (s = 0; s < 30 && cl->names[s] != cl->reps[i].server; s++)
            ;
        assert_true(s < 30); /* replicas of unconfigured servers are gone */
        assert_ptr_not_equal(cl->reps[i].node, cl->excl[s][0]);
    }
}

static void test_random_clusters_converge(void **state)
{
    fake_random rnd = {12345};
    cluster *cl = malloc(sizeof *cl);
    unsigned created[40];
    size_t creates = 0, removes = 0, shorts = 0;
    int trial;

    (void)state;
    assert_non_null(cl);
    for (trial = 0; trial < 50; trial++) {
        mcphub_sched_input in;
        mcphub_plan *p1, *p2;
        size_t i;

        random_cluster(cl, &rnd, trial % 2);
        in = input(cl->nodes, 40, cl->reps, cl->nreps, cl->cfgs, 30);
        assert_int_equal(mcphub_scheduler_plan(&p1, &in, NULL), 0);
        creates += mcphub_plan_create_count(p1);
        removes += mcphub_plan_remove_count(p1);
        shorts += mcphub_plan_shortfall_count(p1);
        apply(cl, p1, created);
        check_invariants(cl, created);
        /* a plan carried out leaves nothing to do but the same shortfalls */
        in = input(cl->nodes, 40, cl->reps, cl->nreps, cl->cfgs, 30);
        assert_int_equal(mcphub_scheduler_plan(&p2, &in, NULL), 0);
        assert_int_equal(mcphub_plan_create_count(p2), 0);
        assert_int_equal(mcphub_plan_remove_count(p2), 0);
        assert_int_equal(mcphub_plan_shortfall_count(p2), mcphub_plan_shortfall_count(p1));
        for (i = 0; i < mcphub_plan_shortfall_count(p1); i++)
            assert_string_equal(mcphub_plan_shortfall_at(p1, i)->server,
                                mcphub_plan_shortfall_at(p2, i)->server);
        mcphub_plan_free(p1);
        mcphub_plan_free(p2);
    }
    /* the random clusters exercised every kind of entry */
    assert_true(creates > 100 && removes > 100 && shorts > 0);
    free(cl);
}

/* From scratch and with no capacity limits every server is spread evenly:
 * per-node counts over the usable nodes differ by at most one. */
static void test_spread_is_even(void **state)
{
    mcphub_sched_node nodes[7];
    char ids[7][16];
    mcphub_replica_config c[] = {cfg("a", 10), cfg("b", 3), cfg("c", 7)};
    mcphub_plan *p;
    size_t i, s;

    (void)state;
    for (i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof ids[i], "w%zu", i);
        nodes[i].id = ids[i];
        nodes[i].status = i == 3 ? MCPHUB_NODE_OFFLINE : MCPHUB_NODE_ONLINE;
        nodes[i].max_servers = 0;
        nodes[i].cpu_percent = (double)(i * 13 % 7) * 10.0;
    }
    p = plan_of(nodes, 7, NULL, 0, c, 3);
    assert_int_equal(mcphub_plan_create_count(p), 20);
    for (s = 0; s < 3; s++) {
        unsigned count[7] = {0}, lo = 1000, hi = 0;

        for (i = 0; i < mcphub_plan_create_count(p); i++) {
            const mcphub_plan_create *cr = mcphub_plan_create_at(p, i);

            if (strcmp(cr->server, c[s].server) == 0)
                count[cr->node[1] - '0']++;
        }
        assert_int_equal(count[3], 0);
        for (i = 0; i < 7; i++) {
            if (i == 3)
                continue;
            lo = count[i] < lo ? count[i] : lo;
            hi = count[i] > hi ? count[i] : hi;
        }
        assert_true(hi - lo <= 1);
    }
    mcphub_plan_free(p);
}

/* The reason for the load term: ten servers with one replica each on three
 * idle nodes of equal cpu.  Each server finds every node without a replica
 * of its own (count 0, affinity none), so only the load separates them:
 * 100 - load, ties to the smallest id.  Round by round: w1 w2 w3 at 100,
 * at 99, at 98, then w1 at 97 - 4/3/3, not all ten on w1. */
static void test_single_replica_servers_spread(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w3", ONLINE, 0, 0), NODE("w1", ONLINE, 0, 0),
                                 NODE("w2", ONLINE, 0, 0)};
    static const char *names[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"};
    static const char *where[] = {"w1", "w2", "w3", "w1", "w2", "w3", "w1", "w2", "w3", "w1"};
    static const double score[] = {100, 100, 100, 99, 99, 99, 98, 98, 98, 97};
    mcphub_replica_config c[10];
    unsigned per_node[3] = {0};
    mcphub_plan *p;
    size_t i;

    (void)state;
    for (i = 0; i < 10; i++)
        c[i] = cfg(names[i], 1);
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 10);
    assert_int_equal(mcphub_plan_shortfall_count(p), 0);
    for (i = 0; i < 10; i++) {
        assert_create(p, i, names[i], where[i], score[i]);
        per_node[mcphub_plan_create_at(p, i)->node[1] - '1']++;
    }
    assert_int_equal(per_node[0], 4);
    assert_int_equal(per_node[1], 3);
    assert_int_equal(per_node[2], 3);
    mcphub_plan_free(p);
}

/* One replica costs what 2 % of cpu does: w1 at cpu 0 against w2 at cpu 10
 * (100 - 5 = 95 when empty) wins while it holds fewer than 5 replicas more;
 * at 5 they tie and the smaller id, w1, wins. */
static void test_cpu_outweighs_small_load_difference(void **state)
{
    mcphub_sched_node nodes[] = {NODE("w1", ONLINE, 0, 0), NODE("w2", ONLINE, 0, 10)};
    mcphub_sched_replica reps[6];
    char ids[6][8];
    static const char *names[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"};
    static const char *where[] = {"w1", "w1", "w1", "w1", "w1", "w1", "w2", "w1", "w2", "w1"};
    static const double score[] = {100, 99, 98, 97, 96, 95, 95, 94, 94, 93};
    mcphub_replica_config c[10];
    mcphub_plan *p;
    size_t i, load;

    (void)state;
    for (i = 0; i < 6; i++) {
        snprintf(ids[i], sizeof ids[i], "o%zu", i);
        reps[i].id = ids[i];
        reps[i].server = "other";
        reps[i].node = "w1";
        reps[i].status = MCPHUB_REPLICA_RUNNING;
    }
    /* w1 already holds 4, 5 or 6 replicas of another server: 96 beats 95,
     * 95 ties (smaller id w1), 94 loses to w2's 95 */
    for (load = 4; load <= 6; load++) {
        c[0] = cfg("fetch", 1);
        c[1] = cfg("other", (uint32_t)load);
        p = plan_of(nodes, LEN(nodes), reps, load, c, 2);
        assert_int_equal(mcphub_plan_create_count(p), 1);
        assert_int_equal(mcphub_plan_remove_count(p), 0);
        assert_create(p, 0, "fetch", load <= 5 ? "w1" : "w2", load <= 5 ? 100.0 - (double)load : 95.0);
        mcphub_plan_free(p);
    }
    /* From empty, ten servers of one replica: w1 takes six (100 down to
     * 95, the last on the tie) before w2 gets one, then they alternate:
     * 8/2, cpu still counts. */
    for (i = 0; i < 10; i++)
        c[i] = cfg(names[i], 1);
    p = plan_of(nodes, LEN(nodes), NULL, 0, c, LEN(c));
    assert_int_equal(mcphub_plan_create_count(p), 10);
    for (i = 0; i < 10; i++)
        assert_create(p, i, names[i], where[i], score[i]);
    mcphub_plan_free(p);
}

/* Creates written the slow, obvious way, for inputs where phase 1 removes
 * nothing: servers in config order, one replica at a time, every node
 * scanned: online, not excluded, below max_servers; fewest replicas of the
 * server, then highest score, then smallest id. */
typedef struct ref_place { size_t server, node; double score; } ref_place;

static size_t reference_creates(const mcphub_sched_node *nodes, size_t nn,
                                const mcphub_sched_replica *reps, size_t nr,
                                const mcphub_replica_config *cfgs, size_t nc, ref_place *out)
{
    unsigned load[8] = {0}, count[8][4] = {{0}};
    size_t i, j, s, n = 0;

    for (i = 0; i < nr; i++)
        for (j = 0; j < nn; j++)
            if (strcmp(reps[i].node, nodes[j].id) == 0 && ref_live(&reps[i])) {
                load[j]++;
                count[j][reps[i].server[1] - '0']++;
            }
    for (s = 0; s < nc; s++) {
        size_t si = (size_t)(cfgs[s].server[1] - '0');
        unsigned placed = 0;

        for (j = 0; j < nn; j++)
            placed += count[j][si];
        for (; placed < cfgs[s].replicas; placed++) {
            size_t best = nn;
            double best_sc = 0;

            for (j = 0; j < nn; j++) {
                int excl = 0, aff = 0;
                double sc;
                size_t k;

                for (k = 0; k < cfgs[s].exclude_node_ids_len; k++)
                    excl |= strcmp(cfgs[s].exclude_node_ids[k], nodes[j].id) == 0;
                for (k = 0; k < cfgs[s].node_ids_len; k++)
                    aff |= strcmp(cfgs[s].node_ids[k], nodes[j].id) == 0;
                if (nodes[j].status != MCPHUB_NODE_ONLINE || excl ||
                    (nodes[j].max_servers != 0 && load[j] >= nodes[j].max_servers))
                    continue;
                sc = ref_score(count[j][si], nodes[j].cpu_percent, aff, load[j]);
                if (best == nn || count[j][si] < count[best][si] ||
                    (count[j][si] == count[best][si] &&
                     (sc > best_sc || (sc == best_sc && strcmp(nodes[j].id, nodes[best].id) < 0)))) {
                    best = j;
                    best_sc = sc;
                }
            }
            if (best == nn)
                break;
            out[n].server = s;
            out[n].node = best;
            out[n].score = best_sc;
            n++;
            load[best]++;
            count[best][si]++;
        }
    }
    return n;
}

static void test_creates_match_reference(void **state)
{
    static const char *node_ids[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"};
    static const char *names[] = {"s0", "s1", "s2", "s3"};
    /* even cpu values: every score is exact, so ties are real ties */
    static const double cpus[] = {0, 2, 4, 10, 10, 30};
    static const uint32_t maxes[] = {0, 0, 2, 3, 5, 8};
    fake_random rnd = {4242};
    size_t checked = 0, sunk = 0;
    int trial;

    (void)state;
    for (trial = 0; trial < 2000; trial++) {
        mcphub_sched_node nodes[8];
        mcphub_sched_replica reps[24];
        char ids[24][8];
        const char *excl[4][1], *prefer[4][2];
        mcphub_replica_config c[4];
        ref_place want[64];
        uint32_t have[4] = {0};
        size_t nn = 2 + fake_random_next(&rnd) % 7, nr = fake_random_next(&rnd) % 24, i, n;
        mcphub_plan *p;

        for (i = 0; i < nn; i++) {
            uint32_t r = fake_random_next(&rnd);

            /* odd trials list the nodes backwards: the input order must
             * not matter */
            nodes[i].id = node_ids[trial % 2 ? nn - 1 - i : i];
            nodes[i].status = r % 8 == 0 ? MCPHUB_NODE_OFFLINE
                              : r % 8 == 1 ? MCPHUB_NODE_UNHEALTHY : MCPHUB_NODE_ONLINE;
            nodes[i].max_servers = maxes[(r >> 4) % LEN(maxes)];
            nodes[i].cpu_percent = cpus[(r >> 8) % LEN(cpus)];
        }
        for (i = 0; i < 4; i++) {
            c[i] = cfg(names[i], 0);
            excl[i][0] = node_ids[fake_random_next(&rnd) % nn];
            prefer[i][0] = node_ids[fake_random_next(&rnd) % nn];
            prefer[i][1] = node_ids[fake_random_next(&rnd) % nn];
            c[i].exclude_node_ids = excl[i];
            c[i].exclude_node_ids_len = fake_random_next(&rnd) % 2;
            c[i].node_ids = prefer[i];
            c[i].node_ids_len = fake_random_next(&rnd) % 3;
        }
        /* existing replicas phase 1 keeps: not on an offline or excluded
         * node, never more than the server wants */
        for (i = 0, n = 0; i < nr; i++) {
            size_t s = fake_random_next(&rnd) % 4, j = fake_random_next(&rnd) % nn;

            if (nodes[j].status == MCPHUB_NODE_OFFLINE ||
                (c[s].exclude_node_ids_len != 0 && strcmp(excl[s][0], nodes[j].id) == 0))
                continue;
            snprintf(ids[n], sizeof ids[n], "r%zu", n);
            reps[n].id = ids[n];
            reps[n].server = names[s];
            reps[n].node = nodes[j].id;
            reps[n].status = fake_random_next(&rnd) % 5 == 0 ? MCPHUB_REPLICA_STOPPED
                                                              : MCPHUB_REPLICA_RUNNING;
            have[s] += reps[n].status == MCPHUB_REPLICA_RUNNING;
            n++;
        }
        nr = n;
        for (i = 0; i < 4; i++)
            c[i].replicas = have[i] + fake_random_next(&rnd) % 6;
        /* configs in a shuffled priority order */
        for (i = 3; i > 0; i--) {
            size_t j = fake_random_next(&rnd) % (i + 1);
            mcphub_replica_config t = c[i];

            c[i] = c[j];
            c[j] = t;
        }
        p = plan_of(nodes, nn, reps, nr, c, 4);
        n = reference_creates(nodes, nn, reps, nr, c, 4, want);
        assert_int_equal(mcphub_plan_remove_count(p), 0);
        assert_int_equal(mcphub_plan_create_count(p), n);
        for (i = 0; i < n; i++) {
            assert_create(p, i, c[want[i].server].server, nodes[want[i].node].id, want[i].score);
            /* a node chosen again for another server took load meanwhile */
            if (i > 0 && want[i].server != want[i - 1].server && want[i].node == want[i - 1].node)
                sunk++;
        }
        checked += n;
        mcphub_plan_free(p);
    }
    /* enough creates, and ones where a loaded node was chosen again */
    assert_true(checked > 5000);
    assert_true(sunk > 100);
}

/* ---- failing allocator ---------------------------------------------------- */

static int oom_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    cluster *cl = arg;
    mcphub_sched_input in = input(cl->nodes, 40, cl->reps, cl->nreps, cl->cfgs, 30);
    mcphub_plan *sentinel = (mcphub_plan *)(void *)cl, *p = sentinel;
    int rc;

    rc = mcphub_scheduler_plan(&p, &in, &mem);
    if (rc != 0) {
        /* a clean error, nothing changed, nothing allocated */
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(p, sentinel);
        assert_int_equal(fa->live, 0);
        return rc;
    }
    assert_true(mcphub_plan_create_count(p) > 0);
    assert_true(mcphub_plan_remove_count(p) > 0);
    assert_true(mcphub_plan_shortfall_count(p) > 0);
    assert_int_equal(fa->live, 1); /* the plan is one block */
    mcphub_plan_free(p);
    return 0;
}

static void test_failing_allocator(void **state)
{
    fake_random rnd = {777};
    cluster *cl = malloc(sizeof *cl);
    long allocs;

    (void)state;
    assert_non_null(cl);
    random_cluster(cl, &rnd, 0);
    /* a server no node can take makes a shortfall (its reason allocates) */
    cl->cfgs[0].replicas = 4;
    cl->cfgs[0].exclude_node_ids = cl->all_nodes;
    cl->cfgs[0].exclude_node_ids_len = 40;
    allocs = fake_alloc_loop(oom_scenario, cl);
    assert_true(allocs > 10);
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_up_from_zero_one_per_node),
        cmocka_unit_test(test_two_replicas_on_three_nodes_distinct),
        cmocka_unit_test(test_affinity_bonus),
        cmocka_unit_test(test_affinity_wins_second_round_when_all_hold_one),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_cpu_clamped_and_nan_rejected),
        cmocka_unit_test(test_max_servers),
        cmocka_unit_test(test_deterministic_ties_and_input_order),
        cmocka_unit_test(test_scale_down_choice_order),
        cmocka_unit_test(test_scale_down_matches_reference),
        cmocka_unit_test(test_scale_down_most_loaded_node_first),
        cmocka_unit_test(test_pending_removed_before_running),
        cmocka_unit_test(test_node_offline_replicas_moved),
        cmocka_unit_test(test_unhealthy_not_moved),
        cmocka_unit_test(test_partition_heal_removes_duplicates),
        cmocka_unit_test(test_more_replicas_than_nodes),
        cmocka_unit_test(test_shortfall_reasons),
        cmocka_unit_test(test_shortfall_reason_is_bounded),
        cmocka_unit_test(test_removed_and_ignored_replicas),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_older_smaller_input_struct),
        cmocka_unit_test(test_random_clusters_converge),
        cmocka_unit_test(test_spread_is_even),
        cmocka_unit_test(test_single_replica_servers_spread),
        cmocka_unit_test(test_cpu_outweighs_small_load_difference),
        cmocka_unit_test(test_creates_match_reference),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
