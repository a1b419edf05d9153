/* Unit tests: restart backoff (doubling, cap, jitter, stable-run reset). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/backoff.h>

#include "fakes/fakes.h"

static void test_defaults_double_up_to_cap(void **state)
{
    static const uint64_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    mcphub_backoff *b;
    size_t i;

    (void)state;
    assert_int_equal(mcphub_backoff_new(&b, NULL, NULL), 0);
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(mcphub_backoff_failures(b), i);
        assert_int_equal(mcphub_backoff_next(b, 0), want[i]);
    }
    /* many more failures: no overflow, still the cap */
    for (i = 0; i < 200; i++)
        assert_int_equal(mcphub_backoff_next(b, 0), 30000);
    mcphub_backoff_reset(b);
    assert_int_equal(mcphub_backoff_failures(b), 0);
    assert_int_equal(mcphub_backoff_next(b, 0), 500);
    mcphub_backoff_free(b);
    mcphub_backoff_free(NULL);
}

static void test_jitter_stays_within_bounds(void **state)
{
    fake_random r = {12345};
    mcphub_backoff_opts o;
    mcphub_backoff *b;
    uint64_t lo = UINT64_MAX, hi = 0, d;
    int i, j;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.random = fake_random_next;
    o.random_user_data = &r;
    assert_int_equal(mcphub_backoff_new(&b, &o, NULL), 0);
    for (i = 0; i < 2000; i++) {
        mcphub_backoff_reset(b);
        d = mcphub_backoff_next(b, 0);       /* 500 +/- 20 % */
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        assert_in_range(d, 400, 600);
        for (j = 0; j < 8; j++)              /* at the cap: never above it */
            d = mcphub_backoff_next(b, 0);
        assert_in_range(d, 24000, 30000);
    }
    /* both sides of the base are used */
    assert_true(lo < 450);
    assert_true(hi > 550);
    mcphub_backoff_free(b);
}

static void test_stable_run_resets(void **state)
{
    mcphub_backoff_opts o;
    mcphub_backoff *b;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.base_ms = 100;
    o.max_ms = 1000;
    o.reset_after_ms = 5000;
    assert_int_equal(mcphub_backoff_new(&b, &o, NULL), 0);
    assert_int_equal(mcphub_backoff_next(b, 0), 100);
    mcphub_backoff_run_started(b, 1000);
    assert_int_equal(mcphub_backoff_next(b, 5999), 200);   /* ran 4999 ms: not stable */
    mcphub_backoff_run_started(b, 10000);
    assert_int_equal(mcphub_backoff_next(b, 12000), 400);
    mcphub_backoff_run_started(b, 20000);
    assert_int_equal(mcphub_backoff_next(b, 25000), 100);  /* ran 5000 ms: reset */
    assert_int_equal(mcphub_backoff_failures(b), 1);
    /* a failure without a run (spawn failed) keeps growing */
    assert_int_equal(mcphub_backoff_next(b, 90000), 200);
    mcphub_backoff_free(b);
}

static void test_invalid_options(void **state)
{
    struct { mcphub_backoff_opts o; uint32_t future; } big;
    mcphub_backoff_opts o;
    mcphub_backoff *b = NULL;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.base_ms = 2000;
    o.max_ms = 1000;
    assert_int_equal(mcphub_backoff_new(&b, &o, NULL), MCPHUB_E_INVAL);
    o.base_ms = 0;
    o.jitter_pct = 101;
    assert_int_equal(mcphub_backoff_new(&b, &o, NULL), MCPHUB_E_INVAL);
    memset(&big, 0, sizeof big);
    big.o.size = sizeof big;
    big.future = 1;   /* a field we do not know, not zero */
    assert_int_equal(mcphub_backoff_new(&b, &big.o, NULL), MCPHUB_E_INVAL);
    big.future = 0;
    assert_int_equal(mcphub_backoff_new(&b, &big.o, NULL), 0);
    mcphub_backoff_free(b);
    assert_int_equal(mcphub_backoff_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
}

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_backoff *b = NULL;
    int rc;

    (void)arg;
    rc = mcphub_backoff_new(&b, NULL, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(b);   /* a failed call changed nothing */
        return rc;
    }
    assert_int_equal(mcphub_backoff_next(b, 0), 500);
    mcphub_backoff_free(b);
    return 0;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_int_equal(fake_alloc_loop(alloc_scenario, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_double_up_to_cap),
        cmocka_unit_test(test_jitter_stays_within_bounds),
        cmocka_unit_test(test_stable_run_resets),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
