/* Unit tests: version, error text, enum names, allocator hooks, hash map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/mcphub.h>

#include "core/map_int.h"
#include "core/mem_int.h"
#include "fakes/fakes.h"

static void test_version(void **state)
{
    char buf[32];

    (void)state;
    snprintf(buf, sizeof buf, "%d.%d.%d", MCPHUB_VERSION_MAJOR, MCPHUB_VERSION_MINOR,
             MCPHUB_VERSION_PATCH);
    assert_string_equal(mcphub_version(), buf);
    assert_string_equal(mcphub_version(), MCPHUB_VERSION_STRING);
    assert_int_equal(mcphub_version_num(), MCPHUB_VERSION_NUM);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(mcphub_strerror(0), "success");
    assert_string_equal(mcphub_strerror(MCPHUB_E_NOMEM), "out of memory");
    assert_string_equal(mcphub_strerror(12345), "unknown error");
    assert_true(MCPHUB_E_CALLBACK <= MCPHUB_E_FATAL);
    assert_true(MCPHUB_E_INVAL > MCPHUB_E_FATAL);
}

static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(mcphub_secret_equal("s3cret-token", "s3cret-token"));
    assert_false(mcphub_secret_equal("s3cret-tokeN", "s3cret-token"));
    assert_false(mcphub_secret_equal("s3cret", "s3cret-token"));
    assert_false(mcphub_secret_equal("s3cret-token-longer", "s3cret-token"));
    assert_false(mcphub_secret_equal("", "x"));
    assert_true(mcphub_secret_equal("", ""));
    assert_false(mcphub_secret_equal(NULL, "x"));
    assert_false(mcphub_secret_equal("x", NULL));
}

static void test_enum_names_round_trip(void **state)
{
    mcphub_node_status ns;
    mcphub_replica_status rs;
    mcphub_lb_strategy lb;
    mcphub_node_role role;
    int v;

    (void)state;
    for (v = MCPHUB_NODE_ONLINE; v <= MCPHUB_NODE_OFFLINE; v++) {
        assert_int_equal(mcphub_node_status_parse(mcphub_node_status_name((mcphub_node_status)v), &ns), 0);
        assert_int_equal(ns, v);
    }
    for (v = MCPHUB_REPLICA_PENDING; v <= MCPHUB_REPLICA_TERMINATED; v++) {
        assert_int_equal(mcphub_replica_status_parse(mcphub_replica_status_name((mcphub_replica_status)v), &rs), 0);
        assert_int_equal(rs, v);
    }
    for (v = MCPHUB_LB_ROUND_ROBIN; v <= MCPHUB_LB_RANDOM; v++) {
        assert_int_equal(mcphub_lb_strategy_parse(mcphub_lb_strategy_name((mcphub_lb_strategy)v), &lb), 0);
        assert_int_equal(lb, v);
    }
    assert_int_equal(mcphub_node_role_parse("worker", &role), 0);
    assert_int_equal(role, MCPHUB_ROLE_WORKER);
    assert_string_equal(mcphub_lb_strategy_name(MCPHUB_LB_LEAST_CONNECTIONS), "least-connections");
    assert_int_equal(mcphub_lb_strategy_parse("fastest", &lb), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_node_status_parse(NULL, &ns), MCPHUB_E_INVAL);
    assert_string_equal(mcphub_node_status_name((mcphub_node_status)99), "unknown");
}

static void test_mem_init_rules(void **state)
{
    mcphub__mem m;
    mcphub_mem in;
    struct { mcphub_mem m; char extra[8]; } bigger;

    (void)state;
    assert_int_equal(mcphub__mem_init(&m, NULL), 0);
    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    in.malloc_fn = NULL;
    assert_int_equal(mcphub__mem_init(&m, &in), 0);
    /* a partial set of hooks is refused: it would mix allocators */
    {
        fake_alloc fa;
        mcphub_mem half;

        fake_alloc_reset(&fa, 0);
        half = fake_alloc_mem(&fa);
        half.free_fn = NULL;
        assert_int_equal(mcphub__mem_init(&m, &half), MCPHUB_E_INVAL);
    }
    /* a newer caller's larger struct with a zero tail is fine, non-zero not */
    memset(&bigger, 0, sizeof bigger);
    bigger.m.size = sizeof bigger;
    assert_int_equal(mcphub__mem_init(&m, &bigger.m), 0);
    bigger.extra[3] = 1;
    assert_int_equal(mcphub__mem_init(&m, &bigger.m), MCPHUB_E_INVAL);
}

typedef struct { char key[16]; int n; } item;

static int map_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem hooks = fake_alloc_mem(fa);
    mcphub__mem mem;
    mcphub__map map;
    item *items;
    int i, rc = 0, n = *(int *)arg;

    mcphub__mem_init(&mem, &hooks);
    mcphub__map_init(&map, &mem, 42);
    items = mcphub__calloc(&mem, (size_t)n, sizeof *items);
    if (items == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        items[i].n = i;
        rc = mcphub__map_put(&map, items[i].key, &items[i], NULL);
        if (rc != 0)
            break;
    }
    if (rc == 0) {
        for (i = 0; i < n; i++) {
            item *it = mcphub__map_get(&map, items[i].key);
            assert_non_null(it);
            assert_int_equal(it->n, i);
        }
        assert_int_equal(map.len, (size_t)n);
    } else {
        /* a failed put leaves the map as it was before the put */
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_int_equal(map.len, (size_t)i);
        assert_null(mcphub__map_get(&map, items[i].key));
    }
    mcphub__map_free(&map);
    mcphub__free(&mem, items);
    return rc;
}

static void test_map_put_get_under_failing_allocator(void **state)
{
    int n = 100;
    long allocs;

    (void)state;
    allocs = fake_alloc_loop(map_scenario, &n);
    assert_true(allocs > 3); /* the table grew several times */
}

static void test_map_delete_and_iterate(void **state)
{
    mcphub__mem mem;
    mcphub__map map;
    item items[50];
    size_t it = 0;
    const char *k;
    void *v;
    int i, seen = 0;

    (void)state;
    mcphub__mem_init(&mem, NULL);
    mcphub__map_init(&map, &mem, 7);
    for (i = 0; i < 50; i++) {
        snprintf(items[i].key, sizeof items[i].key, "node-%d", i);
        items[i].n = i;
        assert_int_equal(mcphub__map_put(&map, items[i].key, &items[i], NULL), 0);
    }
    for (i = 0; i < 50; i += 2)
        assert_ptr_equal(mcphub__map_del(&map, items[i].key), &items[i]);
    assert_null(mcphub__map_del(&map, "node-0"));
    assert_int_equal(map.len, 25);
    while (mcphub__map_next(&map, &it, &k, &v)) {
        assert_int_equal(((item *)v)->n % 2, 1);
        assert_string_equal(k, ((item *)v)->key);
        seen++;
    }
    assert_int_equal(seen, 25);
    /* replacing returns the old value; re-adding after delete works */
    {
        void *old = NULL;
        item again = {"node-1", 1001};

        assert_int_equal(mcphub__map_put(&map, again.key, &again, &old), 0);
        assert_ptr_equal(old, &items[1]);
        assert_ptr_equal(mcphub__map_get(&map, "node-1"), &again);
        assert_int_equal(mcphub__map_put(&map, items[0].key, &items[0], &old), 0);
        assert_null(old);
        assert_int_equal(map.len, 26);
    }
    /* lookups by length do not read past the given bytes */
    assert_ptr_equal(mcphub__map_getn(&map, "node-11xyz", 7), &items[11]);
    mcphub__map_free(&map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_enum_names_round_trip),
        cmocka_unit_test(test_mem_init_rules),
        cmocka_unit_test(test_map_put_get_under_failing_allocator),
        cmocka_unit_test(test_map_delete_and_iterate),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
