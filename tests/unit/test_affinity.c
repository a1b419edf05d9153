/* Unit tests: the session affinity table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/affinity.h>

#include "fakes/fakes.h"

/* ---- helpers ---------------------------------------------------------------- */

static mcphub_affinity *new_table(uint64_t ttl_ms, size_t max_routes, const mcphub_mem *mem)
{
    mcphub_affinity_opts o;
    mcphub_affinity *a = NULL;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.ttl_ms = ttl_ms;
    o.max_routes = max_routes;
    o.hash_seed = 0x5eed;
    assert_int_equal(mcphub_affinity_new(&a, &o, mem), 0);
    assert_non_null(a);
    return a;
}

/* The whole table as text, in LRU order: a failed call must leave it equal. */
typedef struct snap {
    char buf[32768];
    size_t len;
} snap;

static int snap_visit(const mcphub_route *r, void *ud)
{
    snap *s = ud;
    int n = snprintf(s->buf + s->len, sizeof s->buf - s->len, "%s|%s>%s|%s@%llu,%llu;",
                     r->session_id, r->server, r->node, r->replica,
                     (unsigned long long)r->created_ms, (unsigned long long)r->last_activity_ms);

    assert_true(n > 0 && (size_t)n < sizeof s->buf - s->len);
    s->len += (size_t)n;
    return 0;
}

static void take_snap(const mcphub_affinity *a, snap *s)
{
    s->len = 0;
    s->buf[0] = '\0';
    mcphub_affinity_foreach(a, snap_visit, s);
}

static void assert_route(const mcphub_affinity *a, const char *session, const char *server,
                         const char *node, const char *replica, uint64_t created,
                         uint64_t last)
{
    mcphub_route r;

    assert_int_equal(mcphub_affinity_get(a, session, server, &r), 0);
    assert_string_equal(r.session_id, session);
    assert_string_equal(r.server, server);
    assert_string_equal(r.node, node);
    assert_string_equal(r.replica, replica);
    assert_int_equal(r.created_ms, created);
    assert_int_equal(r.last_activity_ms, last);
}

static void assert_absent(const mcphub_affinity *a, const char *session, const char *server)
{
    mcphub_route r;

    assert_int_equal(mcphub_affinity_get(a, session, server, &r), MCPHUB_E_NOTFOUND);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_new_and_options(void **state)
{
    mcphub_affinity_opts o;
    mcphub_affinity *a = NULL;
    struct { mcphub_affinity_opts o; char extra[8]; } bigger;

    (void)state;
    assert_int_equal(mcphub_affinity_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_new(&a, NULL, NULL), 0);
    assert_int_equal(mcphub_affinity_count(a), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), UINT64_MAX);
    /* defaults: 30 minutes of idle time */
    assert_int_equal(mcphub_affinity_bind(a, "s", "fetch", "n1", "r1", 1000), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), 1000 + 1800000);
    mcphub_affinity_free(a);
    mcphub_affinity_free(NULL);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_routes = (size_t)MCPHUB_AFFINITY_MAX_ROUTES + 1;
    a = NULL;
    assert_int_equal(mcphub_affinity_new(&a, &o, NULL), MCPHUB_E_INVAL);
    assert_null(a);
    o.size = 0;
    o.max_routes = 0;
    assert_int_equal(mcphub_affinity_new(&a, &o, NULL), MCPHUB_E_INVAL);

    /* an older, shorter struct: fields past its size are defaults */
    o.size = offsetof(mcphub_affinity_opts, ttl_ms) + sizeof o.ttl_ms;
    o.ttl_ms = 50;
    o.max_routes = 1; /* not read */
    assert_int_equal(mcphub_affinity_new(&a, &o, NULL), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s", "x", "n", "r", 10), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s", "y", "n", "r", 10), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), 60);
    mcphub_affinity_free(a);

    /* a newer caller's larger struct: zero tail accepted, non-zero refused */
    memset(&bigger, 0, sizeof bigger);
    bigger.o.size = sizeof bigger;
    assert_int_equal(mcphub_affinity_new(&a, &bigger.o, NULL), 0);
    mcphub_affinity_free(a);
    bigger.extra[5] = 1;
    assert_int_equal(mcphub_affinity_new(&a, &bigger.o, NULL), MCPHUB_E_INVAL);
}

static void test_bind_get_touch_rebind_unbind(void **state)
{
    mcphub_affinity *a = new_table(1000, 0, NULL);
    mcphub_route r;
    char longest[MCPHUB_AFFINITY_MAX_ID + 2];

    (void)state;
    fake_now_ms = 100;
    assert_int_equal(mcphub_affinity_bind(a, "sess-1", "fetch", "node-a", "fetch-1", fake_now_ms), 0);
    assert_route(a, "sess-1", "fetch", "node-a", "fetch-1", 100, 100);
    assert_int_equal(mcphub_affinity_count(a), 1);
    assert_int_equal(mcphub_affinity_session_count(a), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-1"), 1);

    /* the key is the pair: another server or another session is absent */
    assert_absent(a, "sess-1", "time");
    assert_absent(a, "sess-2", "fetch");

    /* touch moves only the activity time */
    fake_now_ms = 150;
    assert_int_equal(mcphub_affinity_touch(a, "sess-1", "fetch", fake_now_ms), 0);
    assert_route(a, "sess-1", "fetch", "node-a", "fetch-1", 100, 150);
    assert_int_equal(mcphub_affinity_next_deadline(a), 1150);
    assert_int_equal(mcphub_affinity_touch(a, "sess-1", "time", 160), MCPHUB_E_NOTFOUND);

    /* re-bind keeps created_ms and moves the replica counts */
    fake_now_ms = 200;
    assert_int_equal(mcphub_affinity_bind(a, "sess-1", "fetch", "node-b", "fetch-2", fake_now_ms), 0);
    assert_route(a, "sess-1", "fetch", "node-b", "fetch-2", 100, 200);
    assert_int_equal(mcphub_affinity_count(a), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-1"), 0);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-2"), 1);
    assert_int_equal(mcphub_affinity_unbind_node(a, "node-a"), 0);
    /* re-bind to the same target is just activity */
    assert_int_equal(mcphub_affinity_bind(a, "sess-1", "fetch", "node-b", "fetch-2", 250), 0);
    assert_route(a, "sess-1", "fetch", "node-b", "fetch-2", 100, 250);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-2"), 1);

    /* a failed get leaves *out alone */
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(mcphub_affinity_get(a, "nobody", "fetch", &r), MCPHUB_E_NOTFOUND);
    assert_int_equal(r.created_ms, 0x5a5a5a5a5a5a5a5aULL);

    assert_int_equal(mcphub_affinity_unbind(a, "sess-1", "fetch"), 0);
    assert_absent(a, "sess-1", "fetch");
    assert_int_equal(mcphub_affinity_unbind(a, "sess-1", "fetch"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_affinity_count(a), 0);
    assert_int_equal(mcphub_affinity_session_count(a), 0);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-2"), 0);

    /* invalid identifiers */
    memset(longest, 'x', sizeof longest);
    longest[MCPHUB_AFFINITY_MAX_ID] = '\0'; /* exactly the limit: fine */
    assert_int_equal(mcphub_affinity_bind(a, longest, "fetch", "n", "r", 1), 0);
    assert_route(a, longest, "fetch", "n", "r", 1, 1);
    longest[MCPHUB_AFFINITY_MAX_ID] = 'x';
    longest[MCPHUB_AFFINITY_MAX_ID + 1] = '\0'; /* one over */
    assert_int_equal(mcphub_affinity_bind(a, longest, "fetch", "n", "r", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_bind(a, "s", longest, "n", "r", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_get(a, longest, "fetch", &r), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_bind(a, "", "fetch", "n", "r", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_bind(a, "s", "fetch", "", "r", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_bind(a, "s", "fetch", "n", NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_bind(NULL, "s", "fetch", "n", "r", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_get(a, "s", "fetch", NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_get(a, NULL, "fetch", &r), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_touch(a, "s", "", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_unbind(a, NULL, "fetch"), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_affinity_unbind_session(a, ""), 0);
    assert_int_equal(mcphub_affinity_count(a), 1);
    mcphub_affinity_free(a);
}

static void test_unbind_session(void **state)
{
    mcphub_affinity *a = new_table(0, 0, NULL);

    (void)state;
    assert_int_equal(mcphub_affinity_bind(a, "s1", "fetch", "n1", "fetch-1", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s1", "time", "n1", "time-1", 2), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s1", "git", "n2", "git-1", 3), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "fetch", "n1", "fetch-1", 4), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "git", "n2", "git-2", 5), 0);
    assert_int_equal(mcphub_affinity_session_count(a), 2);

    assert_int_equal(mcphub_affinity_unbind_session(a, "s1"), 3);
    assert_absent(a, "s1", "fetch");
    assert_absent(a, "s1", "time");
    assert_absent(a, "s1", "git");
    assert_route(a, "s2", "fetch", "n1", "fetch-1", 4, 4);
    assert_route(a, "s2", "git", "n2", "git-2", 5, 5);
    assert_int_equal(mcphub_affinity_count(a), 2);
    assert_int_equal(mcphub_affinity_session_count(a), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-1"), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "time-1"), 0);
    assert_int_equal(mcphub_affinity_unbind_session(a, "s1"), 0);
    assert_int_equal(mcphub_affinity_unbind_session(a, "unknown"), 0);

    /* the session can come back */
    assert_int_equal(mcphub_affinity_bind(a, "s1", "fetch", "n3", "fetch-3", 9), 0);
    assert_route(a, "s1", "fetch", "n3", "fetch-3", 9, 9);
    assert_int_equal(mcphub_affinity_unbind_session(a, "s2"), 2);
    assert_int_equal(mcphub_affinity_unbind_session(a, "s1"), 1);
    assert_int_equal(mcphub_affinity_count(a), 0);
    mcphub_affinity_free(a);
}

typedef struct order {
    char names[16][16];
    int n;
    int stop_after;
} order;

static int order_visit(const mcphub_route *r, void *ud)
{
    order *o = ud;

    snprintf(o->names[o->n], sizeof o->names[0], "%s/%s", r->session_id, r->server);
    o->n++;
    return o->stop_after != 0 && o->n >= o->stop_after;
}

static void assert_order(const mcphub_affinity *a, const char *expect)
{
    order o;
    char got[256] = "";
    int i;

    memset(&o, 0, sizeof o);
    mcphub_affinity_foreach(a, order_visit, &o);
    for (i = 0; i < o.n; i++) {
        strcat(got, o.names[i]);
        strcat(got, " ");
    }
    assert_string_equal(got, expect);
}

static void test_expire_with_fake_clock(void **state)
{
    mcphub_affinity *a = new_table(1000, 0, NULL);

    (void)state;
    fake_now_ms = 0;
    assert_int_equal(mcphub_affinity_bind(a, "a", "x", "n", "r", fake_now_ms), 0);
    fake_now_ms = 100;
    assert_int_equal(mcphub_affinity_bind(a, "b", "x", "n", "r", fake_now_ms), 0);
    fake_now_ms = 200;
    assert_int_equal(mcphub_affinity_bind(a, "c", "x", "n", "r", fake_now_ms), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), 1000);
    assert_order(a, "a/x b/x c/x ");

    /* touching a keeps it alive: b becomes the oldest */
    fake_now_ms = 500;
    assert_int_equal(mcphub_affinity_touch(a, "a", "x", fake_now_ms), 0);
    assert_order(a, "b/x c/x a/x ");
    assert_int_equal(mcphub_affinity_next_deadline(a), 1100);

    fake_now_ms = 1099;
    assert_int_equal(mcphub_affinity_expire(a, fake_now_ms, 0), 0);
    assert_int_equal(mcphub_affinity_count(a), 3);
    fake_now_ms = 1100; /* idle exactly ttl_ms: expired */
    assert_int_equal(mcphub_affinity_expire(a, fake_now_ms, 0), 1);
    assert_absent(a, "b", "x");
    assert_route(a, "c", "x", "n", "r", 200, 200);
    assert_int_equal(mcphub_affinity_next_deadline(a), 1200);

    /* a re-bind is activity too */
    fake_now_ms = 1150;
    assert_int_equal(mcphub_affinity_bind(a, "c", "x", "n", "r2", fake_now_ms), 0);
    assert_order(a, "a/x c/x ");
    fake_now_ms = 1600;
    assert_int_equal(mcphub_affinity_expire(a, fake_now_ms, 0), 1);
    assert_absent(a, "a", "x");
    assert_route(a, "c", "x", "n", "r2", 200, 1150);
    assert_int_equal(mcphub_affinity_next_deadline(a), 2150);
    assert_int_equal(mcphub_affinity_expire(a, 5000, 0), 1);
    assert_int_equal(mcphub_affinity_count(a), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), UINT64_MAX);
    assert_int_equal(mcphub_affinity_expire(a, 9000, 0), 0);

    /* max caps one call; the oldest go first */
    {
        char s[16];
        int i;

        for (i = 0; i < 5; i++) {
            snprintf(s, sizeof s, "s%d", i);
            assert_int_equal(mcphub_affinity_bind(a, s, "x", "n", "r", (uint64_t)(10000 + i)), 0);
        }
        assert_int_equal(mcphub_affinity_expire(a, 20000, 2), 2);
        assert_order(a, "s2/x s3/x s4/x ");
        assert_int_equal(mcphub_affinity_expire(a, 20000, 2), 2);
        assert_order(a, "s4/x ");
        assert_int_equal(mcphub_affinity_expire(a, 20000, 2), 1);
        assert_int_equal(mcphub_affinity_count(a), 0);
    }
    mcphub_affinity_free(a);

    /* a huge ttl saturates instead of wrapping */
    a = new_table(UINT64_MAX - 5, 0, NULL);
    assert_int_equal(mcphub_affinity_bind(a, "a", "x", "n", "r", 100), 0);
    assert_int_equal(mcphub_affinity_next_deadline(a), UINT64_MAX);
    assert_int_equal(mcphub_affinity_expire(a, UINT64_MAX - 1, 0), 0);
    assert_int_equal(mcphub_affinity_count(a), 1);
    mcphub_affinity_free(a);
}

static void test_migrate_replica(void **state)
{
    mcphub_affinity *a = new_table(0, 0, NULL);
    snap before, after;

    (void)state;
    assert_int_equal(mcphub_affinity_bind(a, "s1", "fetch", "n1", "fetch-1", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "fetch", "n1", "fetch-1", 2), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s3", "fetch", "n1", "fetch-1", 3), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s4", "fetch", "n2", "fetch-2", 4), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s1", "time", "n1", "time-1", 5), 0);

    /* invalid calls change nothing */
    take_snap(a, &before);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-1", NULL, "fetch-3"), 0);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-1", "", "fetch-3"), 0);
    assert_int_equal(mcphub_affinity_migrate_replica(a, NULL, "n3", "fetch-3"), 0);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-9", "n3", "fetch-3"), 0);
    take_snap(a, &after);
    assert_string_equal(before.buf, after.buf);

    /* to another replica: times kept, counts moved, other routes alone */
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-1", "n3", "fetch-3"), 3);
    assert_route(a, "s1", "fetch", "n3", "fetch-3", 1, 1);
    assert_route(a, "s2", "fetch", "n3", "fetch-3", 2, 2);
    assert_route(a, "s3", "fetch", "n3", "fetch-3", 3, 3);
    assert_route(a, "s4", "fetch", "n2", "fetch-2", 4, 4);
    assert_route(a, "s1", "time", "n1", "time-1", 5, 5);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-1"), 0);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-3"), 3);
    assert_int_equal(mcphub_affinity_count(a), 5);
    assert_order(a, "s1/fetch s2/fetch s3/fetch s4/fetch s1/time ");

    /* onto a replica that already has routes: the lists merge */
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-2", "n3", "fetch-3"), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-3"), 4);
    assert_route(a, "s4", "fetch", "n3", "fetch-3", 4, 4);

    /* same replica, new node (it was moved) */
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-3", "n4", "fetch-3"), 4);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-3"), 4);
    assert_route(a, "s2", "fetch", "n4", "fetch-3", 2, 2);
    assert_int_equal(mcphub_affinity_unbind_node(a, "n3"), 0);
    assert_int_equal(mcphub_affinity_unbind_node(a, "n2"), 0);

    /* to nowhere: the routes go, to be bound again on the next request */
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-3", NULL, NULL), 4);
    assert_absent(a, "s1", "fetch");
    assert_absent(a, "s4", "fetch");
    assert_route(a, "s1", "time", "n1", "time-1", 5, 5);
    assert_int_equal(mcphub_affinity_count(a), 1);
    assert_int_equal(mcphub_affinity_session_count(a), 1);
    assert_int_equal(mcphub_affinity_count_replica(a, "fetch-3"), 0);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "fetch-3", NULL, NULL), 0);
    mcphub_affinity_free(a);
}

static void test_unbind_node(void **state)
{
    mcphub_affinity *a = new_table(0, 0, NULL);

    (void)state;
    assert_int_equal(mcphub_affinity_bind(a, "s1", "fetch", "n1", "fetch-1", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s1", "time", "n1", "time-1", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "fetch", "n2", "fetch-2", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s3", "fetch", "n1", "fetch-1", 1), 0);
    /* a route moved off n1 by a re-bind no longer counts as on n1 */
    assert_int_equal(mcphub_affinity_bind(a, "s3", "fetch", "n2", "fetch-2", 2), 0);

    assert_int_equal(mcphub_affinity_unbind_node(a, "n1"), 2);
    assert_absent(a, "s1", "fetch");
    assert_absent(a, "s1", "time");
    assert_route(a, "s2", "fetch", "n2", "fetch-2", 1, 1);
    assert_route(a, "s3", "fetch", "n2", "fetch-2", 1, 2);
    assert_int_equal(mcphub_affinity_session_count(a), 2);
    assert_int_equal(mcphub_affinity_unbind_node(a, "n1"), 0);
    assert_int_equal(mcphub_affinity_unbind_node(a, NULL), 0);
    assert_int_equal(mcphub_affinity_unbind_node(a, "n2"), 2);
    assert_int_equal(mcphub_affinity_count(a), 0);
    assert_int_equal(mcphub_affinity_session_count(a), 0);
    mcphub_affinity_free(a);
}

static void test_counts_and_foreach(void **state)
{
    mcphub_affinity *a = new_table(0, 0, NULL);
    order o;

    (void)state;
    assert_int_equal(mcphub_affinity_count(NULL), 0);
    assert_int_equal(mcphub_affinity_session_count(NULL), 0);
    assert_int_equal(mcphub_affinity_count_replica(a, "r"), 0);
    memset(&o, 0, sizeof o);
    mcphub_affinity_foreach(a, order_visit, &o);
    assert_int_equal(o.n, 0);

    assert_int_equal(mcphub_affinity_bind(a, "s1", "fetch", "n1", "r1", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "fetch", "n1", "r1", 2), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "time", "n1", "r2", 3), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s3", "time", "n2", "r2", 4), 0);
    assert_int_equal(mcphub_affinity_count(a), 4);
    assert_int_equal(mcphub_affinity_session_count(a), 3);
    assert_int_equal(mcphub_affinity_count_replica(a, "r1"), 2);
    assert_int_equal(mcphub_affinity_count_replica(a, "r2"), 2);
    /* a node's name is not a replica's */
    assert_int_equal(mcphub_affinity_count_replica(a, "n1"), 0);
    assert_int_equal(mcphub_affinity_count_replica(a, NULL), 0);

    assert_order(a, "s1/fetch s2/fetch s2/time s3/time ");
    memset(&o, 0, sizeof o);
    o.stop_after = 2;
    mcphub_affinity_foreach(a, order_visit, &o);
    assert_int_equal(o.n, 2);
    mcphub_affinity_foreach(a, NULL, NULL);
    mcphub_affinity_foreach(NULL, order_visit, &o);
    assert_int_equal(o.n, 2);
    mcphub_affinity_free(a);
}

static void test_max_routes(void **state)
{
    mcphub_affinity *a = new_table(0, 3, NULL);
    snap before, after;

    (void)state;
    assert_int_equal(mcphub_affinity_bind(a, "s1", "x", "n", "r", 1), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s2", "x", "n", "r", 2), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s3", "x", "n", "r", 3), 0);
    take_snap(a, &before);
    assert_int_equal(mcphub_affinity_bind(a, "s4", "x", "n", "r", 4), MCPHUB_E_FULL);
    assert_int_equal(mcphub_affinity_bind(a, "s1", "y", "n", "r", 4), MCPHUB_E_FULL);
    take_snap(a, &after);
    assert_string_equal(before.buf, after.buf);
    assert_int_equal(mcphub_affinity_session_count(a), 3);
    /* re-binding an existing route is no new route */
    assert_int_equal(mcphub_affinity_bind(a, "s1", "x", "n2", "r2", 5), 0);
    assert_route(a, "s1", "x", "n2", "r2", 1, 5);
    assert_int_equal(mcphub_affinity_unbind(a, "s2", "x"), 0);
    assert_int_equal(mcphub_affinity_bind(a, "s4", "x", "n", "r", 6), 0);
    assert_int_equal(mcphub_affinity_count(a), 3);
    mcphub_affinity_free(a);
}

static int not_on_node3(const mcphub_route *r, void *ud)
{
    (void)ud;
    assert_string_not_equal(r->node, "node-3");
    return 0;
}

static void test_strings_freed(void **state)
{
    fake_alloc fa;
    mcphub_mem mem;
    mcphub_affinity *a;
    long base_live;
    size_t base_bytes, count, n;
    char s[48], srv[48], node[48], rep[48];
    int i, j;

    (void)state;
    fake_alloc_reset(&fa, 0);
    mem = fake_alloc_mem(&fa);
    a = new_table(100, 0, &mem);
    base_live = fa.live;
    base_bytes = fa.live_bytes;

    for (i = 0; i < 300; i++) {
        snprintf(s, sizeof s, "session-%04d", i);
        for (j = 0; j < 3; j++) {
            snprintf(srv, sizeof srv, "server-%d", j);
            snprintf(node, sizeof node, "node-%d", (i + j) % 7);
            snprintf(rep, sizeof rep, "rep-%d-%d", j, i % 11);
            assert_int_equal(mcphub_affinity_bind(a, s, srv, node, rep, (uint64_t)i), 0);
        }
    }
    assert_int_equal(mcphub_affinity_count(a), 900);
    assert_true(fa.live > base_live + 300); /* at least the session strings */

    /* a route with three new strings: its unbind frees exactly those three */
    {
        long with;

        assert_int_equal(mcphub_affinity_bind(a, "lonely", "server-0", "node-x", "rep-x", 400), 0);
        with = fa.live;
        assert_int_equal(mcphub_affinity_unbind(a, "lonely", "server-0"), 0);
        assert_int_equal(fa.live, with - 3);
        /* migrating every route off a replica frees its string */
        assert_int_equal(mcphub_affinity_bind(a, "lonely", "server-0", "node-x", "rep-x", 400), 0);
        with = fa.live;
        assert_int_equal(mcphub_affinity_migrate_replica(a, "rep-x", "node-0", "rep-0-0"), 1);
        assert_int_equal(fa.live, with - 2); /* rep-x and node-x */
        assert_int_equal(mcphub_affinity_unbind(a, "lonely", "server-0"), 0);
    }

    /* everything goes, through every removal path: memory back to baseline */
    assert_int_equal(mcphub_affinity_unbind_session(a, "session-0000"), 3);
    assert_int_equal(mcphub_affinity_unbind(a, "session-0001", "server-1"), 0);
    count = mcphub_affinity_count(a);
    n = mcphub_affinity_unbind_node(a, "node-3");
    assert_true(n > 100);
    assert_int_equal(mcphub_affinity_count(a), count - n);
    mcphub_affinity_foreach(a, not_on_node3, NULL);
    count = mcphub_affinity_count(a);
    n = mcphub_affinity_migrate_replica(a, "rep-2-5", NULL, NULL);
    assert_true(n > 10);
    assert_int_equal(mcphub_affinity_count(a), count - n);
    assert_true(mcphub_affinity_expire(a, 150, 0) > 0);
    count = mcphub_affinity_count(a);
    assert_true(count > 0);
    assert_int_equal(mcphub_affinity_expire(a, 1000, 0), count);
    assert_int_equal(mcphub_affinity_count(a), 0);
    assert_int_equal(mcphub_affinity_session_count(a), 0);
    assert_int_equal(fa.live, base_live);
    assert_int_equal(fa.live_bytes, base_bytes);

    /* and it is usable again; each way of removing the last route
     * releases everything */
    assert_int_equal(mcphub_affinity_bind(a, "again", "server-0", "node-0", "rep-0-0", 2000), 0);
    assert_route(a, "again", "server-0", "node-0", "rep-0-0", 2000, 2000);
    assert_int_equal(mcphub_affinity_unbind_session(a, "again"), 1);
    assert_int_equal(fa.live, base_live);
    assert_int_equal(mcphub_affinity_bind(a, "again", "server-0", "node-0", "rep-0-0", 2000), 0);
    assert_int_equal(mcphub_affinity_unbind_node(a, "node-0"), 1);
    assert_int_equal(fa.live, base_live);
    assert_int_equal(mcphub_affinity_bind(a, "again", "server-0", "node-0", "rep-0-0", 2000), 0);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "rep-0-0", NULL, NULL), 1);
    assert_int_equal(fa.live, base_live);
    assert_int_equal(mcphub_affinity_bind(a, "again", "server-0", "node-0", "rep-0-0", 2000), 0);
    assert_int_equal(mcphub_affinity_unbind(a, "again", "server-0"), 0);
    assert_int_equal(fa.live, base_live);
    assert_int_equal(fa.live_bytes, base_bytes);
    assert_int_equal(mcphub_affinity_bind(a, "again", "server-0", "node-0", "rep-0-0", 2000), 0);
    mcphub_affinity_free(a);
    assert_int_equal(fa.live, 0);
}

static void test_memory_per_route(void **state)
{
    /* 25,000 sessions x 4 servers over 100 replicas on 10 nodes: sessions
     * share strings as in production.  The bench does 1,000,000. */
    enum { SESSIONS = 25000, SERVERS = 4 };
    fake_alloc fa;
    mcphub_mem mem;
    mcphub_affinity *a;
    char s[48], srv[48], node[48], rep[64];
    double per_route;
    int i, j;

    (void)state;
    fake_alloc_reset(&fa, 0);
    mem = fake_alloc_mem(&fa);
    a = new_table(0, 0, &mem);
    for (i = 0; i < SESSIONS; i++) {
        /* as long as a UUID, the usual Mcp-Session-Id */
        snprintf(s, sizeof s, "%08x-4b1e-4c2a-9f00-%012d", (unsigned)i * 2654435761u, i);
        for (j = 0; j < SERVERS; j++) {
            int r = j * 25 + i % 25;

            snprintf(srv, sizeof srv, "server-%d", j);
            snprintf(node, sizeof node, "node-%d", r % 10);
            snprintf(rep, sizeof rep, "server-%d-replica-%d", j, r);
            assert_int_equal(mcphub_affinity_bind(a, s, srv, node, rep, 1), 0);
        }
    }
    assert_int_equal(mcphub_affinity_count(a), SESSIONS * SERVERS);
    per_route = (double)fa.live_bytes / (SESSIONS * SERVERS);
    print_message("affinity: %.1f bytes per route at %d routes\n", per_route, SESSIONS * SERVERS);
    assert_true(per_route <= 128.0);
    assert_route(a, "00000000-4b1e-4c2a-9f00-000000000000", "server-3", "node-5",
                 "server-3-replica-75", 1, 1);
    mcphub_affinity_free(a);
    assert_int_equal(fa.live, 0);
}

static void test_many_routes_with_removals(void **state)
{
    /* Random removals exercise the table's backward-shift deletion: every
     * route must stay findable, every removed one absent. */
    enum { N = 4000 };
    static unsigned char present[N];
    mcphub_affinity *a = new_table(0, 0, NULL);
    fake_random rnd = {12345};
    char s[48], srv[48];
    int i, round;

    (void)state;
    memset(present, 0, sizeof present);
    for (round = 0; round < 6; round++) {
        for (i = 0; i < N; i++) {
            int k = (int)(fake_random_next(&rnd) % N);

            snprintf(s, sizeof s, "s%d", k / 8);
            snprintf(srv, sizeof srv, "v%d", k % 8);
            if (present[k]) {
                assert_int_equal(mcphub_affinity_unbind(a, s, srv), 0);
                present[k] = 0;
            } else {
                assert_int_equal(mcphub_affinity_bind(a, s, srv, "n", srv, (uint64_t)round), 0);
                present[k] = 1;
            }
        }
        {
            size_t expect = 0;
            mcphub_route r;

            for (i = 0; i < N; i++) {
                snprintf(s, sizeof s, "s%d", i / 8);
                snprintf(srv, sizeof srv, "v%d", i % 8);
                assert_int_equal(mcphub_affinity_get(a, s, srv, &r),
                                 present[i] ? 0 : MCPHUB_E_NOTFOUND);
                if (present[i]) {
                    assert_string_equal(r.replica, srv);
                    expect++;
                }
            }
            assert_int_equal(mcphub_affinity_count(a), expect);
        }
    }
    mcphub_affinity_free(a);
}

/* Ids are hashed and compared a word at a time, the last word overlapping
 * the one before: ids of every length that differ in one byte anywhere, and
 * ids that are prefixes of each other, must all stay apart, as sessions,
 * servers, nodes and replicas. */
static void id_variant(char *buf, size_t len, size_t pos, char c)
{
    memset(buf, 'a', len);
    buf[len] = '\0';
    if (pos < len)
        buf[pos] = c;
}

static void test_ids_of_every_length(void **state)
{
    static const size_t lens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32,
                                  33, 36, 40, 63, 64, 65, 128, 255, MCPHUB_AFFINITY_MAX_ID};
    enum { NLENS = sizeof lens / sizeof lens[0] };
    mcphub_affinity *a = new_table(0, 0, NULL);
    char id[MCPHUB_AFFINITY_MAX_ID + 2], rep[64];
    size_t li, pos, routes = 0;
    mcphub_route r;

    (void)state;
    /* as sessions: "aaa", and one byte changed at each position */
    for (li = 0; li < NLENS; li++) {
        size_t len = lens[li];

        for (pos = 0; pos <= len; pos++) {
            id_variant(id, len, pos, 'b');
            snprintf(rep, sizeof rep, "r-%zu-%zu", len, pos);
            assert_int_equal(mcphub_affinity_bind(a, id, "srv", "n", rep, 1), 0);
            routes++;
        }
    }
    assert_int_equal(mcphub_affinity_count(a), routes);
    assert_int_equal(mcphub_affinity_session_count(a), routes);
    for (li = 0; li < NLENS; li++) {
        size_t len = lens[li];

        for (pos = 0; pos <= len; pos++) {
            id_variant(id, len, pos, 'b');
            snprintf(rep, sizeof rep, "r-%zu-%zu", len, pos);
            assert_route(a, id, "srv", "n", rep, 1, 1);
            /* another byte value at the same place is another id */
            if (pos < len)
                id_variant(id, len, pos, 'c');
            else if (len < MCPHUB_AFFINITY_MAX_ID)
                id_variant(id, len + 1, len, 'c'); /* one longer */
            else
                id_variant(id, len - 1, len - 2, 'c'); /* one shorter */
            assert_absent(a, id, "srv");
        }
    }

    /* as servers, nodes and replicas of one session */
    for (li = 0; li < NLENS; li++) {
        size_t len = lens[li];

        for (pos = 0; pos <= len; pos += (len > 40 ? 7 : 1)) {
            id_variant(id, len, pos, 'x');
            assert_int_equal(mcphub_affinity_bind(a, "one", id, id, id, 2), 0);
        }
    }
    for (li = 0; li < NLENS; li++) {
        size_t len = lens[li];

        for (pos = 0; pos <= len; pos += (len > 40 ? 7 : 1)) {
            id_variant(id, len, pos, 'x');
            assert_route(a, "one", id, id, id, 2, 2);
            assert_int_equal(mcphub_affinity_count_replica(a, id), 1);
            /* pos == len left "aa...a", which is bound too */
            id_variant(id, len, pos, 'y');
            assert_int_equal(mcphub_affinity_get(a, "one", id, &r),
                             pos == len ? 0 : MCPHUB_E_NOTFOUND);
        }
    }
    mcphub_affinity_free(a);
}

/* Server names go through a small cache before the pool: many servers whose
 * names share length and first and last bytes fight for its places, and
 * servers leaving (with the place) must not hide the others. */
static void test_many_servers(void **state)
{
    enum { SERVERS = 300, SESSIONS = 3 };
    mcphub_affinity *a = new_table(0, 0, NULL);
    char srv[32], s[16], rep[64];
    int i, j;

    (void)state;
    for (i = 0; i < SERVERS; i++) {
        /* "srv-0001x" ... : equal length, equal first and last byte */
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        for (j = 0; j < SESSIONS; j++) {
            snprintf(s, sizeof s, "s%d", j);
            snprintf(rep, sizeof rep, "%s-%d", srv, j);
            assert_int_equal(mcphub_affinity_bind(a, s, srv, "n", rep, (uint64_t)i), 0);
        }
    }
    assert_int_equal(mcphub_affinity_count(a), SERVERS * SESSIONS);
    for (i = 0; i < SERVERS; i++) {
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        for (j = 0; j < SESSIONS; j++) {
            snprintf(s, sizeof s, "s%d", j);
            snprintf(rep, sizeof rep, "%s-%d", srv, j);
            assert_route(a, s, srv, "n", rep, (uint64_t)i, (uint64_t)i);
        }
    }
    /* every other server goes (its strings are freed), then comes back
     * after the others: lookups see exactly the servers present */
    for (i = 0; i < SERVERS; i += 2) {
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        for (j = 0; j < SESSIONS; j++) {
            snprintf(s, sizeof s, "s%d", j);
            assert_int_equal(mcphub_affinity_unbind(a, s, srv), 0);
        }
    }
    for (i = 0; i < SERVERS; i++) {
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        if (i % 2 == 0) {
            assert_absent(a, "s0", srv);
            continue;
        }
        snprintf(rep, sizeof rep, "%s-%d", srv, 1);
        assert_route(a, "s1", srv, "n", rep, (uint64_t)i, (uint64_t)i);
    }
    for (i = 0; i < SERVERS; i += 2) {
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        assert_int_equal(mcphub_affinity_bind(a, "s0", srv, "n", "back", 7), 0);
    }
    for (i = 0; i < SERVERS; i++) {
        snprintf(srv, sizeof srv, "srv-%04dx", i);
        if (i % 2 == 0) {
            assert_route(a, "s0", srv, "n", "back", 7, 7);
            assert_absent(a, "s1", srv);
        } else {
            snprintf(rep, sizeof rep, "%s-%d", srv, 0);
            assert_route(a, "s0", srv, "n", rep, (uint64_t)i, (uint64_t)i);
        }
    }
    assert_int_equal(mcphub_affinity_count_replica(a, "back"), SERVERS / 2);
    mcphub_affinity_free(a);
}

/* Routes are kept in 64-byte aligned chunks carved out of larger blocks:
 * an allocator that only guarantees 8-byte alignment must do, over several
 * chunks, with everything given back. */
typedef struct odd_alloc {
    long live;
} odd_alloc;

static void *odd_malloc(size_t n, void *ud)
{
    unsigned char *p = malloc(n + 8);

    if (p == NULL)
        return NULL;
    ((odd_alloc *)ud)->live++;
    return p + 8; /* 8 mod 16 with glibc */
}

static void odd_free(void *p, void *ud)
{
    if (p == NULL)
        return;
    ((odd_alloc *)ud)->live--;
    free((unsigned char *)p - 8);
}

static void *odd_realloc(void *p, size_t n, void *ud)
{
    unsigned char *q;

    if (p == NULL)
        return odd_malloc(n, ud);
    q = realloc((unsigned char *)p - 8, n + 8);
    return q == NULL ? NULL : q + 8;
}

static void test_unaligned_allocator(void **state)
{
    enum { N = 5000 }; /* several chunks of routes */
    odd_alloc oa = {0};
    mcphub_mem mem;
    mcphub_affinity *a;
    char s[32];
    int i;

    (void)state;
    memset(&mem, 0, sizeof mem);
    mem.size = sizeof mem;
    mem.malloc_fn = odd_malloc;
    mem.realloc_fn = odd_realloc;
    mem.free_fn = odd_free;
    mem.user_data = &oa;
    a = new_table(100, 0, &mem);
    for (i = 0; i < N; i++) {
        snprintf(s, sizeof s, "session-%d", i);
        assert_int_equal(mcphub_affinity_bind(a, s, i % 2 ? "a" : "b", "n", "r", (uint64_t)i), 0);
    }
    for (i = 0; i < N; i++) {
        snprintf(s, sizeof s, "session-%d", i);
        assert_route(a, s, i % 2 ? "a" : "b", "n", "r", (uint64_t)i, (uint64_t)i);
    }
    assert_int_equal(mcphub_affinity_expire(a, N / 2 + 100, 0), N / 2 + 1);
    assert_int_equal(mcphub_affinity_count(a), N - N / 2 - 1);
    assert_int_equal(mcphub_affinity_expire(a, N + 100, 0), N - N / 2 - 1);
    assert_int_equal(oa.live, 1); /* the handle */
    mcphub_affinity_free(a);
    assert_int_equal(oa.live, 0);
}

/* ---- failing allocator ------------------------------------------------------ */

/* Everything a caller can observe: the routes, the session count and the
 * route counts of the replicas a failed call named. */
typedef struct observed {
    snap routes;
    size_t sessions, on_replica, on_new_replica;
} observed;

static void take_state(const mcphub_affinity *a, const char *replica, const char *new_replica,
                       observed *st)
{
    take_snap(a, &st->routes);
    st->sessions = mcphub_affinity_session_count(a);
    st->on_replica = mcphub_affinity_count_replica(a, replica);
    st->on_new_replica = new_replica ? mcphub_affinity_count_replica(a, new_replica) : 0;
}

static void assert_state(const mcphub_affinity *a, const char *replica, const char *new_replica,
                         const observed *before)
{
    static observed after;

    take_state(a, replica, new_replica, &after);
    assert_string_equal(before->routes.buf, after.routes.buf);
    assert_int_equal(before->sessions, after.sessions);
    assert_int_equal(before->on_replica, after.on_replica);
    assert_int_equal(before->on_new_replica, after.on_new_replica);
}

/* Bind; if it fails it must say MCPHUB_E_NOMEM and have changed nothing.
 * The scenario stays under one chunk of routes, and arrays grow by realloc
 * or by a new table replacing the old, so a failed call also leaves the
 * number of live blocks alone: a string kept by a leaked reference (node
 * ids are not visible otherwise) would show here. */
static int bind_checked(fake_alloc *fa, mcphub_affinity *a, const char *s, const char *srv,
                        const char *node, const char *rep, uint64_t now_ms)
{
    static observed before;
    long live = fa->live;
    int rc;

    take_state(a, rep, NULL, &before);
    rc = mcphub_affinity_bind(a, s, srv, node, rep, now_ms);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_state(a, rep, NULL, &before);
        assert_int_equal(fa->live, live);
    }
    return rc;
}

static int oom_scenario(fake_alloc *fa, void *arg)
{
    static observed before;
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_affinity_opts o;
    mcphub_affinity *a = NULL;
    char s[48], srv[48], node[48], rep[48];
    size_t n;
    long live;
    int i, j, rc = 0;

    (void)arg;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.ttl_ms = 1000;
    rc = mcphub_affinity_new(&a, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(a);
        return rc;
    }
    /* 40 sessions x 3 servers, replicas and nodes shared */
    for (i = 0; i < 40 && rc == 0; i++) {
        snprintf(s, sizeof s, "sess-%d", i);
        for (j = 0; j < 3 && rc == 0; j++) {
            snprintf(srv, sizeof srv, "srv-%d", j);
            snprintf(node, sizeof node, "node-%d", i % 4);
            snprintf(rep, sizeof rep, "rep-%d-%d", j, i % 4);
            rc = bind_checked(fa, a, s, srv, node, rep, (uint64_t)i);
        }
    }
    /* re-binds to new replicas and nodes intern new strings */
    for (i = 0; i < 10 && rc == 0; i++) {
        snprintf(s, sizeof s, "sess-%d", i);
        snprintf(node, sizeof node, "node-new-%d", i);
        snprintf(rep, sizeof rep, "rep-new-%d", i);
        rc = bind_checked(fa, a, s, "srv-1", node, rep, (uint64_t)(100 + i));
    }
    if (rc != 0) {
        mcphub_affinity_free(a);
        return rc;
    }
    /* failover: migrate needs the new strings; out of memory it moves
     * nothing and the routes stay on the old replica */
    take_state(a, "rep-0-1", "rep-0-9", &before);
    live = fa->live;
    n = mcphub_affinity_migrate_replica(a, "rep-0-1", "node-9", "rep-0-9");
    if (n != 10) {
        assert_int_equal(n, 0);
        assert_int_equal(fa->live, live);
        assert_int_equal(mcphub_affinity_count_replica(a, "rep-0-1"), 10);
        assert_state(a, "rep-0-1", "rep-0-9", &before);
        mcphub_affinity_free(a);
        return MCPHUB_E_NOMEM;
    }
    /* removals never allocate */
    assert_int_equal(mcphub_affinity_unbind_session(a, "sess-3"), 3);
    assert_int_equal(mcphub_affinity_unbind_node(a, "node-2"), 28);
    assert_int_equal(mcphub_affinity_migrate_replica(a, "rep-1-0", NULL, NULL), 7);
    /* routes last used at or before 20 (re-bound ones were used at 100+) */
    assert_int_equal(mcphub_affinity_expire(a, 1020, 0), 35);
    /* the table still grows after removals */
    for (i = 0; i < 10 && rc == 0; i++) {
        snprintf(s, sizeof s, "late-%d", i);
        rc = bind_checked(fa, a, s, "srv-0", "node-0", "rep-late", 2000);
    }
    if (rc != 0) {
        mcphub_affinity_free(a);
        return rc;
    }
    assert_route(a, "sess-21", "srv-0", "node-9", "rep-0-9", 21, 21);
    assert_absent(a, "sess-9", "srv-0");
    assert_route(a, "sess-5", "srv-1", "node-new-5", "rep-new-5", 5, 105);
    assert_int_equal(mcphub_affinity_count(a), 120 - 3 - 28 - 7 - 35 + 10);
    mcphub_affinity_free(a);
    return 0;
}

static void test_failing_allocator(void **state)
{
    long allocs;

    (void)state;
    allocs = fake_alloc_loop(oom_scenario, NULL);
    assert_true(allocs > 60); /* strings, arrays, chunks, table growth */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_options),
        cmocka_unit_test(test_bind_get_touch_rebind_unbind),
        cmocka_unit_test(test_unbind_session),
        cmocka_unit_test(test_expire_with_fake_clock),
        cmocka_unit_test(test_migrate_replica),
        cmocka_unit_test(test_unbind_node),
        cmocka_unit_test(test_counts_and_foreach),
        cmocka_unit_test(test_max_routes),
        cmocka_unit_test(test_strings_freed),
        cmocka_unit_test(test_memory_per_route),
        cmocka_unit_test(test_many_routes_with_removals),
        cmocka_unit_test(test_ids_of_every_length),
        cmocka_unit_test(test_many_servers),
        cmocka_unit_test(test_unaligned_allocator),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("affinity", tests, NULL, NULL);
}
