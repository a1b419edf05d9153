/* Unit tests: the balancer — strategies, health, exclude, counts, bounds,
 * and a failing allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/balancer.h>

#include "fakes/fakes.h"

/* A balancer with the given default strategy and libc allocation. */
static mcphub_balancer *make(mcphub_lb_strategy strategy, size_t max_replicas)
{
    mcphub_balancer_opts o;
    mcphub_balancer *b = NULL;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.default_strategy = strategy;
    o.max_replicas = max_replicas;
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), 0);
    assert_non_null(b);
    return b;
}

/* Pick from server and return the replica id (asserting success). */
static const char *pick(mcphub_balancer *b, const char *server)
{
    const char *r = NULL, *n = NULL;

    assert_int_equal(mcphub_balancer_pick(b, server, NULL, &r, &n), 0);
    assert_non_null(r);
    assert_non_null(n);
    return r;
}

/* Picks as one string of the replicas' last characters, e.g. "aaba". */
static void pick_sequence(mcphub_balancer *b, const char *server, int n, char *out)
{
    int i;

    for (i = 0; i < n; i++) {
        const char *r = pick(b, server);

        out[i] = r[strlen(r) - 1];
    }
    out[n] = '\0';
}

static void count_picks(mcphub_balancer *b, const char *server, int n, int counts[3])
{
    int i;

    counts[0] = counts[1] = counts[2] = 0;
    for (i = 0; i < n; i++) {
        const char *r = pick(b, server);

        assert_true(r[strlen(r) - 1] >= 'a' && r[strlen(r) - 1] <= 'c');
        counts[r[strlen(r) - 1] - 'a']++;
    }
}

static void add3(mcphub_balancer *b, const char *server)
{
    char id[32], node[32];
    int i;

    for (i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "%s-%c", server, 'a' + i);
        snprintf(node, sizeof node, "node-%d", i + 1);
        assert_int_equal(mcphub_balancer_set_replica(b, server, id, node, 1, 1), 0);
    }
}

static void test_new_and_options(void **state)
{
    mcphub_balancer *b = NULL;
    mcphub_balancer_opts o;
    struct { mcphub_balancer_opts o; char extra[8]; } bigger;

    (void)state;
    assert_int_equal(mcphub_balancer_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_new(&b, NULL, NULL), 0);
    assert_non_null(b);
    /* the default strategy is least-connections: a busy replica is avoided */
    add3(b, "s");
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-b"), 0);
    assert_string_equal(pick(b, "s"), "s-c");
    assert_string_equal(pick(b, "s"), "s-c");
    mcphub_balancer_free(b);
    mcphub_balancer_free(NULL);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.default_strategy = (mcphub_lb_strategy)9;
    b = (mcphub_balancer *)&o; /* must be reset to NULL on failure */
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), MCPHUB_E_INVAL);
    assert_null(b);
    o.default_strategy = (mcphub_lb_strategy)0;
    o.size = 0;
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), MCPHUB_E_INVAL);

    /* a newer caller's bigger struct: zero tail accepted, non-zero refused */
    memset(&bigger, 0, sizeof bigger);
    bigger.o.size = sizeof bigger;
    assert_int_equal(mcphub_balancer_new(&b, &bigger.o, NULL), 0);
    mcphub_balancer_free(b);
    bigger.extra[0] = 1;
    assert_int_equal(mcphub_balancer_new(&b, &bigger.o, NULL), MCPHUB_E_INVAL);

    /* an older caller's smaller struct: missing fields take defaults */
    o.size = offsetof(mcphub_balancer_opts, random);
    o.default_strategy = MCPHUB_LB_ROUND_ROBIN;
    o.max_replicas = 1; /* outside size: ignored */
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), 0);
    add3(b, "s");
    assert_string_equal(pick(b, "s"), "s-a");
    assert_string_equal(pick(b, "s"), "s-b");
    mcphub_balancer_free(b);
}

static void test_round_robin_rotates_in_insertion_order(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_ROUND_ROBIN, 0);
    char seq[16];
    int counts[3];

    (void)state;
    add3(b, "s");
    pick_sequence(b, "s", 7, seq);
    assert_string_equal(seq, "abcabca");
    count_picks(b, "s", 299, counts); /* continues from b */
    assert_int_equal(counts[0], 99);
    assert_int_equal(counts[1], 100);
    assert_int_equal(counts[2], 100);
    /* connection counts do not matter to round-robin */
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    pick_sequence(b, "s", 3, seq);
    assert_string_equal(seq, "abc");
    mcphub_balancer_free(b);
}

static void test_least_connections_counts_and_ties(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_LEAST_CONNECTIONS, 0);
    char seq[16];
    int counts[3], i;

    (void)state;
    add3(b, "s");
    /* all equal: equals take turns */
    pick_sequence(b, "s", 6, seq);
    assert_string_equal(seq, "abcabc");
    /* a is busy: b and c share */
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    pick_sequence(b, "s", 4, seq);
    assert_string_equal(seq, "bcbc");
    /* counts driven by acquire after each pick even the load out */
    for (i = 0; i < 10; i++)
        assert_int_equal(mcphub_balancer_acquire(b, pick(b, "s")), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 4);
    assert_int_equal(mcphub_balancer_active(b, "s-b"), 4);
    assert_int_equal(mcphub_balancer_active(b, "s-c"), 4);
    /* a release makes that replica the least loaded */
    assert_int_equal(mcphub_balancer_release(b, "s-b"), 0);
    assert_string_equal(pick(b, "s"), "s-b");
    assert_string_equal(pick(b, "s"), "s-b");
    /* many picks with nothing acquired: only the least loaded one */
    count_picks(b, "s", 30, counts);
    assert_int_equal(counts[1], 30);
    mcphub_balancer_free(b);
}

static void test_weighted_smooth_interleaving(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_WEIGHTED, 0);
    char seq[32];
    int counts[3];

    (void)state;
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "n1", 3, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "n2", 1, 1), 0);
    pick_sequence(b, "s", 8, seq);
    assert_string_equal(seq, "aabaaaba");
    count_picks(b, "s", 400, counts);
    assert_int_equal(counts[0], 300);
    assert_int_equal(counts[1], 100);

    /* the classic 5:1:1 sequence */
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-a", "n5", 5, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-b", "n6", 1, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-c", "n7", 1, 1), 0);
    pick_sequence(b, "t", 14, seq);
    assert_string_equal(seq, "aabacaaaabacaa");

    /* a node weight change restarts the sequence with the new ratio */
    assert_int_equal(mcphub_balancer_set_node_weight(b, "n1", 1), 0);
    pick_sequence(b, "s", 6, seq);
    assert_string_equal(seq, "ababab");
    assert_int_equal(mcphub_balancer_set_node_weight(b, "n2", 2), 0);
    count_picks(b, "s", 300, counts);
    assert_int_equal(counts[0], 100);
    assert_int_equal(counts[1], 200);
    assert_int_equal(mcphub_balancer_set_node_weight(b, "nowhere", 2), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_set_node_weight(b, "n1", 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_node_weight(b, "n1", MCPHUB_BALANCER_MAX_WEIGHT + 1),
                     MCPHUB_E_INVAL);
    mcphub_balancer_free(b);
}

static void test_weight_is_per_node(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_WEIGHTED, 0);
    int counts[3];

    (void)state;
    /* two replicas on n1; the later call sets n1's weight for both */
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "n1", 4, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "n2", 1, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "u", "u-c", "n1", 1, 1), 0);
    count_picks(b, "s", 100, counts);
    assert_int_equal(counts[0], 50);
    assert_int_equal(counts[1], 50);
    /* an update of u-c with a new weight moves s-a too */
    assert_int_equal(mcphub_balancer_set_replica(b, "u", "u-c", "n1", 3, 1), 0);
    count_picks(b, "s", 100, counts);
    assert_int_equal(counts[0], 75);
    assert_int_equal(counts[1], 25);
    mcphub_balancer_free(b);
}

static void test_random_uniform_over_healthy(void **state)
{
    fake_random rnd = {12345u};
    mcphub_balancer_opts o;
    mcphub_balancer *b = NULL, *d1, *d2;
    int counts[3], i;
    char s1[64], s2[64];

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.default_strategy = MCPHUB_LB_RANDOM;
    o.random = fake_random_next;
    o.random_user_data = &rnd;
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), 0);
    add3(b, "s");
    count_picks(b, "s", 3000, counts);
    for (i = 0; i < 3; i++) {
        assert_true(counts[i] > 850);
        assert_true(counts[i] < 1150);
    }
    /* an unhealthy replica is never chosen; the others share its part */
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "node-2", 1, 0), 0);
    count_picks(b, "s", 2000, counts);
    assert_int_equal(counts[1], 0);
    assert_true(counts[0] > 850 && counts[0] < 1150);
    assert_true(counts[2] > 850 && counts[2] < 1150);
    mcphub_balancer_free(b);

    /* without a callback the built-in source is seeded: same picks twice */
    d1 = make(MCPHUB_LB_RANDOM, 0);
    d2 = make(MCPHUB_LB_RANDOM, 0);
    add3(d1, "s");
    add3(d2, "s");
    pick_sequence(d1, "s", 60, s1);
    pick_sequence(d2, "s", 60, s2);
    assert_string_equal(s1, s2);
    assert_non_null(strchr(s1, 'a'));
    assert_non_null(strchr(s1, 'b'));
    assert_non_null(strchr(s1, 'c'));
    mcphub_balancer_free(d1);
    mcphub_balancer_free(d2);
}

static uint32_t always_zero(void *user_data)
{
    (void)user_data;
    return 0;
}

static void test_random_with_broken_source_does_not_hang(void **state)
{
    mcphub_balancer_opts o;
    mcphub_balancer *b = NULL;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.default_strategy = MCPHUB_LB_RANDOM;
    o.random = always_zero;
    assert_int_equal(mcphub_balancer_new(&b, &o, NULL), 0);
    add3(b, "s");
    assert_string_equal(pick(b, "s"), "s-a");
    mcphub_balancer_free(b);
}

static void test_replica_health_excludes(void **state)
{
    static const mcphub_lb_strategy all[] = {MCPHUB_LB_ROUND_ROBIN, MCPHUB_LB_LEAST_CONNECTIONS,
                                             MCPHUB_LB_WEIGHTED, MCPHUB_LB_RANDOM};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof all / sizeof all[0]; k++) {
        mcphub_balancer *b = make(all[k], 0);
        const char *r = (const char *)1, *n = (const char *)1;
        int counts[3];

        add3(b, "s");
        assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 3);
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "node-1", 1, 0), 0);
        assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 2);
        count_picks(b, "s", 60, counts);
        assert_int_equal(counts[0], 0);
        assert_true(counts[1] > 0 && counts[2] > 0);
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "node-2", 1, 0), 0);
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-c", "node-3", 1, 0), 0);
        assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 0);
        /* known server, none healthy vs unknown server */
        assert_int_equal(mcphub_balancer_pick(b, "s", NULL, &r, &n), MCPHUB_E_UNAVAILABLE);
        assert_null(r);
        assert_null(n);
        assert_int_equal(mcphub_balancer_pick(b, "nope", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
        /* back to healthy */
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-c", "node-3", 1, 1), 0);
        assert_string_equal(pick(b, "s"), "s-c");
        mcphub_balancer_free(b);
    }
}

static void test_node_health_toggling(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_ROUND_ROBIN, 0);
    const char *r, *n;
    int counts[3];

    (void)state;
    add3(b, "s");
    /* another server with a replica on node-1 too */
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-a", "node-1", 1, 1), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-b", "node-2", 1, 1), 0);

    assert_int_equal(mcphub_balancer_set_node_health(b, "node-1", 0), 0);
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 2);
    assert_int_equal(mcphub_balancer_healthy_count(b, "t"), 1);
    count_picks(b, "s", 20, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 10);
    assert_int_equal(counts[2], 10);
    assert_int_equal(mcphub_balancer_pick(b, "t", NULL, &r, &n), 0);
    assert_string_equal(r, "t-b");
    assert_string_equal(n, "node-2");

    /* a replica unhealthy on its own stays out when its node comes back */
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-a", "node-1", 1, 0), 0);
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-1", 1), 0);
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 3);
    assert_int_equal(mcphub_balancer_healthy_count(b, "t"), 1);
    count_picks(b, "s", 30, counts);
    assert_int_equal(counts[0], 10);

    /* a replica marked healthy on a down node is still not picked */
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-2", 0), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-b", "node-2", 1, 1), 0);
    assert_int_equal(mcphub_balancer_pick(b, "t", NULL, &r, &n), MCPHUB_E_UNAVAILABLE);
    /* repeated marks are harmless; unknown nodes are reported */
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-2", 0), 0);
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-9", 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_set_node_health(b, "", 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_node_health(b, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-2", 7), 0);
    assert_string_equal(pick(b, "t"), "t-b");
    mcphub_balancer_free(b);
}

static void test_exclude_argument(void **state)
{
    static const mcphub_lb_strategy all[] = {MCPHUB_LB_ROUND_ROBIN, MCPHUB_LB_LEAST_CONNECTIONS,
                                             MCPHUB_LB_WEIGHTED, MCPHUB_LB_RANDOM};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof all / sizeof all[0]; k++) {
        mcphub_balancer *b = make(all[k], 0);
        const char *r, *n;
        int i, seen_a = 0, seen_c = 0;

        add3(b, "s");
        assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-a", "node-1", 1, 1), 0);
        for (i = 0; i < 40; i++) {
            assert_int_equal(mcphub_balancer_pick(b, "s", "s-b", &r, &n), 0);
            assert_string_not_equal(r, "s-b");
            seen_a += strcmp(r, "s-a") == 0;
            seen_c += strcmp(r, "s-c") == 0;
        }
        assert_true(seen_a > 0 && seen_c > 0);
        /* excluding the only healthy replica leaves nothing */
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "node-1", 1, 0), 0);
        assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "node-2", 1, 0), 0);
        assert_int_equal(mcphub_balancer_pick(b, "s", "s-c", &r, &n), MCPHUB_E_UNAVAILABLE);
        assert_int_equal(mcphub_balancer_pick(b, "t", "t-a", &r, &n), MCPHUB_E_UNAVAILABLE);
        /* an unknown id, or one of another server, excludes nothing */
        assert_int_equal(mcphub_balancer_pick(b, "s", "ghost", &r, &n), 0);
        assert_string_equal(r, "s-c");
        assert_int_equal(mcphub_balancer_pick(b, "s", "t-a", &r, &n), 0);
        assert_string_equal(r, "s-c");
        assert_int_equal(mcphub_balancer_pick(b, "s", "", &r, NULL), 0);
        assert_string_equal(r, "s-c");
        mcphub_balancer_free(b);
    }
}

static void test_acquire_release_counts(void **state)
{
    mcphub_balancer *b = make(0, 0);

    (void)state;
    add3(b, "s");
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 3);
    assert_int_equal(mcphub_balancer_release(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 2);
    /* an update (health, node, weight) keeps the count */
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "node-7", 5, 0), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 2);
    assert_int_equal(mcphub_balancer_release(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_release(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_release(b, "s-a"), 0); /* never below 0 */
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 1);
    /* unknown replicas */
    assert_int_equal(mcphub_balancer_acquire(b, "ghost"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_release(b, "ghost"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_active(b, "ghost"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_release(NULL, "s-a"), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_active(NULL, "s-a"), 0);
    /* removed and added again: a fresh count */
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "node-1", 1, 1), 0);
    assert_int_equal(mcphub_balancer_active(b, "s-a"), 0);
    mcphub_balancer_free(b);
}

static void test_remove_replica(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_ROUND_ROBIN, 0);
    const char *r, *n;
    char seq[16];

    (void)state;
    add3(b, "s");
    assert_string_equal(pick(b, "s"), "s-a");
    /* removing the next one keeps the rotation going after it */
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-b"), 0);
    pick_sequence(b, "s", 4, seq);
    assert_string_equal(seq, "caca");
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-b"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 2);
    /* node-2 had only s-b: its record went with it */
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-2", 0), MCPHUB_E_NOTFOUND);
    /* a re-added replica goes to the end of the order */
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-b", "node-2", 1, 1), 0);
    pick_sequence(b, "s", 3, seq);
    assert_string_equal(seq, "cba");

    /* the last replica gone: the server is unknown again */
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-b"), 0);
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-c"), 0);
    assert_int_equal(mcphub_balancer_pick(b, "s", NULL, &r, &n), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 0);

    /* with a strategy of its own it stays known, with nothing to pick */
    assert_int_equal(mcphub_balancer_set_strategy(b, "s", MCPHUB_LB_LEAST_CONNECTIONS), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-x", "node-1", 1, 1), 0);
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-x"), 0);
    assert_int_equal(mcphub_balancer_pick(b, "s", NULL, &r, &n), MCPHUB_E_UNAVAILABLE);
    /* removing one already passed does not skip the one that was next */
    add3(b, "u");
    assert_string_equal(pick(b, "u"), "u-a");
    assert_string_equal(pick(b, "u"), "u-b");
    assert_int_equal(mcphub_balancer_remove_replica(b, "u-a"), 0);
    pick_sequence(b, "u", 3, seq);
    assert_string_equal(seq, "cbc");
    assert_int_equal(mcphub_balancer_remove_replica(b, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_remove_replica(b, ""), MCPHUB_E_INVAL);
    mcphub_balancer_free(b);
}

static void test_strategy_per_server_vs_default(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_ROUND_ROBIN, 0);
    char seq[16];

    (void)state;
    /* a strategy set before any replica is kept */
    assert_int_equal(mcphub_balancer_set_strategy(b, "lc", MCPHUB_LB_LEAST_CONNECTIONS), 0);
    add3(b, "lc");
    add3(b, "rr");
    assert_int_equal(mcphub_balancer_acquire(b, "lc-a"), 0);
    assert_int_equal(mcphub_balancer_acquire(b, "rr-a"), 0);
    pick_sequence(b, "lc", 4, seq);
    assert_string_equal(seq, "bcbc"); /* least-connections avoids a */
    pick_sequence(b, "rr", 4, seq);
    assert_string_equal(seq, "abca"); /* the default rotates over all */

    /* switch rr to weighted */
    assert_int_equal(mcphub_balancer_set_strategy(b, "rr", MCPHUB_LB_WEIGHTED), 0);
    assert_int_equal(mcphub_balancer_set_node_weight(b, "node-1", 2), 0);
    pick_sequence(b, "rr", 8, seq);
    assert_string_equal(seq, "abcaabca"); /* 2:1:1, interleaved */
    /* back to the default */
    assert_int_equal(mcphub_balancer_set_strategy(b, "lc", (mcphub_lb_strategy)0), 0);
    pick_sequence(b, "lc", 3, seq);
    assert_int_equal(strlen(seq), 3);
    assert_non_null(strchr(seq, 'a'));
    /* a default for an unknown server is nothing to do */
    assert_int_equal(mcphub_balancer_set_strategy(b, "nobody", (mcphub_lb_strategy)0), 0);
    assert_int_equal(mcphub_balancer_healthy_count(b, "nobody"), 0);
    {
        const char *r;

        assert_int_equal(mcphub_balancer_pick(b, "nobody", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
        /* a strategy alone makes it known; clearing it forgets it again */
        assert_int_equal(mcphub_balancer_set_strategy(b, "nobody", MCPHUB_LB_RANDOM), 0);
        assert_int_equal(mcphub_balancer_pick(b, "nobody", NULL, &r, NULL), MCPHUB_E_UNAVAILABLE);
        assert_int_equal(mcphub_balancer_set_strategy(b, "nobody", (mcphub_lb_strategy)0), 0);
        assert_int_equal(mcphub_balancer_pick(b, "nobody", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
    }
    assert_int_equal(mcphub_balancer_set_strategy(b, "rr", (mcphub_lb_strategy)5), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_strategy(b, "rr", (mcphub_lb_strategy)-1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_strategy(b, NULL, MCPHUB_LB_RANDOM), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_strategy(NULL, "rr", MCPHUB_LB_RANDOM), MCPHUB_E_INVAL);
    mcphub_balancer_free(b);
}

static void test_bound(void **state)
{
    mcphub_balancer *b = make(MCPHUB_LB_ROUND_ROBIN, 3);

    (void)state;
    add3(b, "s");
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-d", "node-4", 1, 1), MCPHUB_E_FULL);
    assert_int_equal(mcphub_balancer_set_replica(b, "t", "t-a", "node-1", 1, 1), MCPHUB_E_FULL);
    /* nothing changed */
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 3);
    assert_int_equal(mcphub_balancer_acquire(b, "s-d"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-4", 1), MCPHUB_E_NOTFOUND);
    {
        const char *r;

        assert_int_equal(mcphub_balancer_pick(b, "t", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
    }
    /* updates still work at the bound, and a freed slot can be reused */
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-a", "node-1", 2, 0), 0);
    assert_int_equal(mcphub_balancer_remove_replica(b, "s-a"), 0);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "s-d", "node-4", 1, 1), 0);
    assert_int_equal(mcphub_balancer_healthy_count(b, "s"), 3);
    /* servers are bounded too: s plus two with strategies only */
    assert_int_equal(mcphub_balancer_set_strategy(b, "x", MCPHUB_LB_RANDOM), 0);
    assert_int_equal(mcphub_balancer_set_strategy(b, "y", MCPHUB_LB_RANDOM), 0);
    assert_int_equal(mcphub_balancer_set_strategy(b, "z", MCPHUB_LB_RANDOM), MCPHUB_E_FULL);
    assert_int_equal(mcphub_balancer_set_strategy(b, "y", MCPHUB_LB_WEIGHTED), 0);
    mcphub_balancer_free(b);
}

static void test_invalid_arguments(void **state)
{
    mcphub_balancer *b = make(0, 0);
    const char *r;

    (void)state;
    assert_int_equal(mcphub_balancer_set_replica(NULL, "s", "r", "n", 1, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, NULL, "r", "n", 1, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "", "n", 1, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "r", NULL, 1, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "r", "n", 0, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "r", "n", MCPHUB_BALANCER_MAX_WEIGHT + 1, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_set_replica(b, "s", "r", "n", MCPHUB_BALANCER_MAX_WEIGHT, 1), 0);
    /* a replica id belongs to one server */
    assert_int_equal(mcphub_balancer_set_replica(b, "other", "r", "n", 1, 1), MCPHUB_E_EXISTS);
    assert_int_equal(mcphub_balancer_healthy_count(b, "other"), 0);
    assert_int_equal(mcphub_balancer_pick(b, "other", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_balancer_pick(b, "s", NULL, NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_pick(b, NULL, NULL, &r, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_pick(NULL, "s", NULL, &r, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_balancer_healthy_count(b, NULL), 0);
    assert_int_equal(mcphub_balancer_healthy_count(NULL, "s"), 0);
    assert_int_equal(mcphub_balancer_pick(b, "s", NULL, &r, NULL), 0);
    assert_string_equal(r, "r");
    mcphub_balancer_free(b);
}

/* ---- failing allocator ---- */

#define FA_REPLICAS 40
#define FA_SERVERS 5
#define FA_NODES 7

static int fa_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_balancer_opts o;
    mcphub_balancer *b = NULL;
    size_t per_server[FA_SERVERS] = {0};
    int node_used[FA_NODES + 1] = {0};
    char srv[16], rep[16], node[16];
    const char *r;
    int i, rc;

    (void)arg;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.default_strategy = MCPHUB_LB_WEIGHTED;
    rc = mcphub_balancer_new(&b, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(b);
        return rc;
    }
    for (i = 0; i < FA_REPLICAS; i++) {
        int s = i % FA_SERVERS, nd = i % FA_NODES;

        snprintf(srv, sizeof srv, "srv-%d", s);
        snprintf(rep, sizeof rep, "rep-%d", i);
        snprintf(node, sizeof node, "node-%d", nd);
        rc = mcphub_balancer_set_replica(b, srv, rep, node, (uint32_t)(nd + 1), 1);
        if (rc != 0) {
            /* the failed add left no trace */
            assert_int_equal(rc, MCPHUB_E_NOMEM);
            assert_int_equal(mcphub_balancer_acquire(b, rep), MCPHUB_E_NOTFOUND);
            assert_int_equal(mcphub_balancer_healthy_count(b, srv), per_server[s]);
            if (per_server[s] == 0)
                assert_int_equal(mcphub_balancer_pick(b, srv, NULL, &r, NULL), MCPHUB_E_NOTFOUND);
            if (!node_used[nd])
                assert_int_equal(mcphub_balancer_set_node_health(b, node, 1), MCPHUB_E_NOTFOUND);
            mcphub_balancer_free(b);
            return rc;
        }
        per_server[s]++;
        node_used[nd] = 1;
    }
    /* a strategy for a server not seen yet */
    rc = mcphub_balancer_set_strategy(b, "srv-late", MCPHUB_LB_ROUND_ROBIN);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_int_equal(mcphub_balancer_pick(b, "srv-late", NULL, &r, NULL), MCPHUB_E_NOTFOUND);
        mcphub_balancer_free(b);
        return rc;
    }
    /* move a replica to a node not seen yet */
    assert_int_equal(mcphub_balancer_acquire(b, "rep-0"), 0);
    rc = mcphub_balancer_set_replica(b, "srv-0", "rep-0", "node-new", 9, 1);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_int_equal(mcphub_balancer_set_node_health(b, "node-new", 1), MCPHUB_E_NOTFOUND);
        /* still on node-0: taking node-0 down takes rep-0 out */
        assert_int_equal(mcphub_balancer_set_node_health(b, "node-0", 0), 0);
        assert_int_equal(mcphub_balancer_healthy_count(b, "srv-0"), per_server[0] - 2);
        assert_int_equal(mcphub_balancer_active(b, "rep-0"), 1);
        mcphub_balancer_free(b);
        return rc;
    }
    assert_int_equal(mcphub_balancer_active(b, "rep-0"), 1);
    assert_int_equal(mcphub_balancer_set_node_health(b, "node-new", 0), 0);
    assert_int_equal(mcphub_balancer_healthy_count(b, "srv-0"), per_server[0] - 1);
    /* picks, removes and counts need no memory */
    for (i = 0; i < 50; i++)
        assert_int_equal(mcphub_balancer_pick(b, "srv-1", NULL, &r, NULL), 0);
    for (i = 0; i < FA_REPLICAS; i += 2) {
        snprintf(rep, sizeof rep, "rep-%d", i);
        assert_int_equal(mcphub_balancer_remove_replica(b, rep), 0);
    }
    assert_int_equal(mcphub_balancer_healthy_count(b, "srv-1"), per_server[1] / 2);
    mcphub_balancer_free(b);
    return 0;
}

static void test_failing_allocator(void **state)
{
    long allocs;

    (void)state;
    allocs = fake_alloc_loop(fa_scenario, NULL);
    /* handle, 40 replicas, servers, nodes, tables growing */
    assert_true(allocs > FA_REPLICAS + FA_SERVERS + FA_NODES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_options),
        cmocka_unit_test(test_round_robin_rotates_in_insertion_order),
        cmocka_unit_test(test_least_connections_counts_and_ties),
        cmocka_unit_test(test_weighted_smooth_interleaving),
        cmocka_unit_test(test_weight_is_per_node),
        cmocka_unit_test(test_random_uniform_over_healthy),
        cmocka_unit_test(test_random_with_broken_source_does_not_hang),
        cmocka_unit_test(test_replica_health_excludes),
        cmocka_unit_test(test_node_health_toggling),
        cmocka_unit_test(test_exclude_argument),
        cmocka_unit_test(test_acquire_release_counts),
        cmocka_unit_test(test_remove_replica),
        cmocka_unit_test(test_strategy_per_server_vs_default),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("balancer", tests, NULL, NULL);
}
