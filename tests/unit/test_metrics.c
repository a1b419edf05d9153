/* Unit tests: metrics registry and its Prometheus text rendering. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/metrics.h>

#include "fakes/fakes.h"

#define DROPPED_0 \
    "# HELP mcphub_metrics_dropped_total New series refused because the registry was full.\n" \
    "# TYPE mcphub_metrics_dropped_total counter\n" \
    "mcphub_metrics_dropped_total 0\n"

static mcphub_metrics *new_metrics(uint32_t max_series)
{
    mcphub_metrics *m = NULL;
    mcphub_metrics_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_series = max_series;
    assert_int_equal(mcphub_metrics_new(&m, &o, NULL), 0);
    return m;
}

static void assert_render(const mcphub_metrics *m, const char *want)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(mcphub_metrics_render(m, &text, &len), 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    mcphub_metrics_text_free(m, text);
}

static void test_empty_registry(void **state)
{
    mcphub_metrics *m = new_metrics(0);

    (void)state;
    assert_int_equal(mcphub_metrics_series_count(m), 0);
    assert_render(m, DROPPED_0);
    mcphub_metrics_free(m);
    mcphub_metrics_free(NULL);
}

static void test_counters_and_gauges_exact_text(void **state)
{
    mcphub_metrics *m = new_metrics(0);
    const char *const get[] = {"method", "GET", "code", "200", NULL};
    const char *const get_reordered[] = {"code", "200", "method", "GET", NULL};
    const char *const post[] = {"method", "POST", "code", "500", NULL};

    (void)state;
    assert_int_equal(mcphub_metrics_counter_add(m, "http_requests_total", "Requests served.",
                                                get, 1), 0);
    /* same labels in another order: the same series */
    assert_int_equal(mcphub_metrics_counter_add(m, "http_requests_total", NULL, get_reordered,
                                                2), 0);
    assert_int_equal(mcphub_metrics_counter_add(m, "http_requests_total", "ignored later",
                                                post, 0.5), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "mcphub_nodes", "Nodes by status.",
                                              (const char *const[]){"status", "online", NULL}, 3),
                     0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "mcphub_nodes", NULL,
                                              (const char *const[]){"status", "offline", NULL}, 1),
                     0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "mcphub_nodes", NULL,
                                              (const char *const[]){"status", "online", NULL}, 2),
                     0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "a_gauge", NULL, NULL, -1.25), 0);
    assert_int_equal(mcphub_metrics_series_count(m), 5);
    assert_render(m,
                  "# TYPE a_gauge gauge\n"
                  "a_gauge -1.25\n"
                  "# HELP http_requests_total Requests served.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{code=\"200\",method=\"GET\"} 3\n"
                  "http_requests_total{code=\"500\",method=\"POST\"} 0.5\n"
                  DROPPED_0
                  "# HELP mcphub_nodes Nodes by status.\n"
                  "# TYPE mcphub_nodes gauge\n"
                  "mcphub_nodes{status=\"offline\"} 1\n"
                  "mcphub_nodes{status=\"online\"} 2\n");
    mcphub_metrics_free(m);
}

static void test_number_forms(void **state)
{
    mcphub_metrics *m = new_metrics(0);

    (void)state;
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_a", NULL, NULL, 0.1), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_b", NULL, NULL, 0.1 + 0.2), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_c", NULL, NULL, 1e21), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_d", NULL, NULL, INFINITY), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_e", NULL, NULL, -INFINITY), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_f", NULL, NULL, NAN), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g_g", NULL, NULL, 123456789012.0), 0);
    assert_render(m,
                  "# TYPE g_a gauge\ng_a 0.1\n"
                  "# TYPE g_b gauge\ng_b 0.30000000000000004\n"
                  "# TYPE g_c gauge\ng_c 1e+21\n"
                  "# TYPE g_d gauge\ng_d +Inf\n"
                  "# TYPE g_e gauge\ng_e -Inf\n"
                  "# TYPE g_f gauge\ng_f NaN\n"
                  "# TYPE g_g gauge\ng_g 123456789012\n"
                  DROPPED_0);
    mcphub_metrics_free(m);
}

static void test_escaping(void **state)
{
    mcphub_metrics *m = new_metrics(0);
    const char *const labels[] = {"path", "C:\\tmp \"x\"\nend", NULL};

    (void)state;
    assert_int_equal(mcphub_metrics_counter_add(m, "odd_total", "Line one\nback\\slash \"q\"",
                                                labels, 1), 0);
    assert_render(m,
                  DROPPED_0
                  "# HELP odd_total Line one\\nback\\\\slash \"q\"\n"
                  "# TYPE odd_total counter\n"
                  "odd_total{path=\"C:\\\\tmp \\\"x\\\"\\nend\"} 1\n");
    mcphub_metrics_free(m);
}

static void test_histogram(void **state)
{
    mcphub_metrics *m = new_metrics(0);
    const double b[] = {0.005, 0.1, 1, 2.5};
    const double b_inf[] = {0.005, 0.1, 1, 2.5, INFINITY};
    const char *const fetch[] = {"server", "fetch", NULL};
    const double obs[] = {0.001, 0.005, 0.05, 0.1, 0.7, 3, 100};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof obs / sizeof obs[0]; i++)
        assert_int_equal(mcphub_metrics_histogram_observe(m, "call_seconds", "Call latency.",
                                                          fetch, b, 4, obs[i]), 0);
    /* the same bounds with +Inf spelled out are the same bounds */
    assert_int_equal(mcphub_metrics_histogram_observe(m, "call_seconds", NULL, NULL, b_inf, 5,
                                                      2.5), 0);
    assert_render(m,
                  "# HELP call_seconds Call latency.\n"
                  "# TYPE call_seconds histogram\n"
                  "call_seconds_bucket{le=\"0.005\"} 0\n"
                  "call_seconds_bucket{le=\"0.1\"} 0\n"
                  "call_seconds_bucket{le=\"1\"} 0\n"
                  "call_seconds_bucket{le=\"2.5\"} 1\n"
                  "call_seconds_bucket{le=\"+Inf\"} 1\n"
                  "call_seconds_sum 2.5\n"
                  "call_seconds_count 1\n"
                  "call_seconds_bucket{server=\"fetch\",le=\"0.005\"} 2\n"
                  "call_seconds_bucket{server=\"fetch\",le=\"0.1\"} 4\n"
                  "call_seconds_bucket{server=\"fetch\",le=\"1\"} 5\n"
                  "call_seconds_bucket{server=\"fetch\",le=\"2.5\"} 5\n"
                  "call_seconds_bucket{server=\"fetch\",le=\"+Inf\"} 7\n"
                  "call_seconds_sum{server=\"fetch\"} 103.856\n"
                  "call_seconds_count{server=\"fetch\"} 7\n"
                  DROPPED_0);
    /* other bounds, another type, "le" as a label: refused */
    assert_int_equal(mcphub_metrics_histogram_observe(m, "call_seconds", NULL, NULL, b, 3, 1),
                     MCPHUB_E_EXISTS);
    assert_int_equal(mcphub_metrics_counter_add(m, "call_seconds", NULL, NULL, 1),
                     MCPHUB_E_EXISTS);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h2", NULL,
                                                      (const char *const[]){"le", "1", NULL}, b,
                                                      4, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "call_seconds", NULL, fetch, b, 4, NAN),
                     MCPHUB_E_INVAL);
    mcphub_metrics_free(m);
}

static void test_histogram_bounds_rules(void **state)
{
    mcphub_metrics *m = new_metrics(0);
    const double unsorted[] = {1, 0.5};
    const double dup[] = {1, 1};
    const double nan_b[] = {NAN};
    const double inf_mid[] = {1, INFINITY, 2};
    double many[MCPHUB_METRICS_MAX_BUCKETS + 1];
    size_t i;

    (void)state;
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, unsorted, 2, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, dup, 2, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, nan_b, 1, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, inf_mid, 3, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, NULL, 2, 1),
                     MCPHUB_E_INVAL);
    for (i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = (double)i;
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, many,
                                                      MCPHUB_METRICS_MAX_BUCKETS + 1, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_series_count(m), 0);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, NULL, many,
                                                      MCPHUB_METRICS_MAX_BUCKETS, 62.5), 0);
    /* no bounds at all: only +Inf */
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h0", NULL, NULL, NULL, 0, -7), 0);
    {
        char *text = NULL;

        assert_int_equal(mcphub_metrics_render(m, &text, NULL), 0);
        assert_non_null(strstr(text, "h_bucket{le=\"63\"} 1\nh_bucket{le=\"+Inf\"} 1\n"));
        assert_non_null(strstr(text, "h_bucket{le=\"62\"} 0\n"));
        assert_non_null(strstr(text, "# TYPE h0 histogram\nh0_bucket{le=\"+Inf\"} 1\n"
                                     "h0_sum -7\nh0_count 1\n"));
        mcphub_metrics_text_free(m, text);
    }
    mcphub_metrics_free(m);
}

static void test_validation(void **state)
{
    mcphub_metrics *m = new_metrics(0);
    const char *const odd[] = {"a", NULL};
    const char *const twice[] = {"a", "1", "b", "2", "a", "3", NULL};
    const char *const reserved[] = {"__name__", "x", NULL};
    const char *const bad_label[] = {"a-b", "x", NULL};
    const char *labels17[2 * 17 + 1];
    char names[17][16];
    static char long_value[MCPHUB_METRICS_MAX_TEXT + 2];
    const char *const long_label[] = {"v", long_value, NULL};
    int i;

    (void)state;
    assert_int_equal(mcphub_metrics_counter_add(m, "", NULL, NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "9lives", NULL, NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "has space", NULL, NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, NULL, NULL, NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(NULL, "x", NULL, NULL, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "mcphub_metrics_dropped_total", NULL, NULL, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, NULL, -1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, NULL, NAN), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, NULL, INFINITY),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, odd, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, twice, 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, reserved, 1),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, bad_label, 1),
                     MCPHUB_E_INVAL);
    for (i = 0; i < 17; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        labels17[2 * i] = names[i];
        labels17[2 * i + 1] = "v";
    }
    labels17[34] = NULL;
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, labels17, 1), MCPHUB_E_INVAL);
    labels17[32] = NULL; /* 16 labels are fine */
    assert_int_equal(mcphub_metrics_counter_add(m, "x_total", NULL, labels17, 1), 0);
    memset(long_value, 'v', sizeof long_value - 1);
    assert_int_equal(mcphub_metrics_counter_add(m, "y_total", NULL, long_label, 1),
                     MCPHUB_E_INVAL);
    /* values of allowed length, escaped, can still overflow the key */
    long_value[MCPHUB_METRICS_MAX_TEXT] = '\0';
    memset(long_value, '"', MCPHUB_METRICS_MAX_TEXT);
    assert_int_equal(mcphub_metrics_counter_add(m, "y_total", NULL, long_label, 1), 0);
    assert_int_equal(mcphub_metrics_counter_add(m, "z_total", NULL, (const char *const[]){
                         "a", long_value, "b", long_value, "c", long_value, NULL}, 1),
                     MCPHUB_E_TOOBIG);
    /* names with colons are metric names, not label names */
    assert_int_equal(mcphub_metrics_gauge_set(m, "job:rate:5m", NULL, NULL, 1), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "x_total", NULL, NULL, 1), MCPHUB_E_EXISTS);
    /* failed calls added nothing */
    assert_int_equal(mcphub_metrics_series_count(m), 3);
    mcphub_metrics_free(m);
}

static void test_bound_and_dropped_counter(void **state)
{
    mcphub_metrics *m = new_metrics(3);
    const char *const n1[] = {"node", "n1", NULL};
    const char *const n2[] = {"node", "n2", NULL};
    const char *const n3[] = {"node", "n3", NULL};
    const char *const n4[] = {"node", "n4", NULL};

    (void)state;
    assert_int_equal(mcphub_metrics_counter_add(m, "c_total", NULL, n1, 1), 0);
    assert_int_equal(mcphub_metrics_counter_add(m, "c_total", NULL, n2, 1), 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g", NULL, NULL, 1), 0);
    assert_int_equal(mcphub_metrics_counter_add(m, "c_total", NULL, n3, 1), MCPHUB_E_FULL);
    assert_int_equal(mcphub_metrics_histogram_observe(m, "h", NULL, n4, NULL, 0, 1),
                     MCPHUB_E_FULL);
    /* existing series still update when full */
    assert_int_equal(mcphub_metrics_counter_add(m, "c_total", NULL, n1, 4), 0);
    assert_int_equal(mcphub_metrics_series_count(m), 3);
    assert_int_equal(mcphub_metrics_dropped(m), 2);
    assert_render(m,
                  "# TYPE c_total counter\n"
                  "c_total{node=\"n1\"} 5\n"
                  "c_total{node=\"n2\"} 1\n"
                  "# TYPE g gauge\n"
                  "g 1\n"
                  "# HELP mcphub_metrics_dropped_total New series refused because the registry "
                  "was full.\n"
                  "# TYPE mcphub_metrics_dropped_total counter\n"
                  "mcphub_metrics_dropped_total 2\n");
    mcphub_metrics_free(m);
}

static void test_default_bound_and_opts(void **state)
{
    mcphub_metrics *m = NULL;
    mcphub_metrics_opts o;
    char v[16];
    const char *const labels[] = {"i", v, NULL};
    int i, rc = 0;

    (void)state;
    memset(&o, 0, sizeof o);
    assert_int_equal(mcphub_metrics_new(&m, &o, NULL), MCPHUB_E_INVAL); /* size 0 */
    assert_null(m);
    assert_int_equal(mcphub_metrics_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_metrics_new(&m, NULL, NULL), 0);
    for (i = 0; i < MCPHUB_METRICS_MAX_SERIES_DEFAULT && rc == 0; i++) {
        snprintf(v, sizeof v, "%d", i);
        rc = mcphub_metrics_gauge_set(m, "g", NULL, labels, i);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(mcphub_metrics_gauge_set(m, "g", NULL, labels, 0), 0); /* existing */
    assert_int_equal(mcphub_metrics_gauge_set(m, "g2", NULL, NULL, 0), MCPHUB_E_FULL);
    assert_int_equal(mcphub_metrics_series_count(m), MCPHUB_METRICS_MAX_SERIES_DEFAULT);
    mcphub_metrics_free(m);
}

/* ---- failing allocator ---- */

static int metrics_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_metrics *m = NULL;
    mcphub_metrics_opts o;
    const double b[] = {0.01, 0.1, 1};
    char node[16], *before = NULL, *after = NULL, *text = NULL;
    const char *const labels[] = {"node", node, "status", "ok", NULL};
    int i, rc;

    (void)arg;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.hash_seed = 99;
    rc = mcphub_metrics_new(&m, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(m);
        return rc;
    }
    for (i = 0; i < 40; i++) {
        snprintf(node, sizeof node, "n%d", i % 13);
        rc = mcphub_metrics_counter_add(m, "calls_total", "Calls.", labels, 1);
        if (rc == 0)
            rc = mcphub_metrics_histogram_observe(m, "lat_seconds", "Latency.", labels, b, 3,
                                                  (double)i / 40);
        if (rc == 0)
            rc = mcphub_metrics_gauge_set(m, "up", NULL, NULL, 1);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        size_t n = mcphub_metrics_series_count(m);

        /* the failed update left the registry as it was: its rendering is
         * the same before and after a failed retry of that update */
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        fa->fail_at = 0;
        if (mcphub_metrics_render(m, &before, NULL) == 0) {
            fa->fail_at = fa->count + 1;
            assert_int_equal(mcphub_metrics_counter_add(m, "fresh_total", NULL, NULL, 1),
                             MCPHUB_E_NOMEM);
            assert_int_equal(mcphub_metrics_series_count(m), n);
            fa->fail_at = 0;
            assert_int_equal(mcphub_metrics_render(m, &after, NULL), 0);
            assert_string_equal(before, after);
            mcphub_metrics_text_free(m, after);
            mcphub_metrics_text_free(m, before);
        }
        mcphub_metrics_free(m);
        return rc;
    }
    rc = mcphub_metrics_render(m, &text, NULL);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(text);
    } else {
        assert_non_null(strstr(text, "calls_total{node=\"n0\",status=\"ok\"} 4\n"));
        assert_non_null(strstr(text, "lat_seconds_count{node=\"n12\",status=\"ok\"} 3\n"));
        assert_non_null(strstr(text, "\nup 1\n"));
        assert_int_equal(mcphub_metrics_series_count(m), 27);
        mcphub_metrics_text_free(m, text);
    }
    mcphub_metrics_free(m);
    return rc;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(metrics_scenario, NULL) > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry),
        cmocka_unit_test(test_counters_and_gauges_exact_text),
        cmocka_unit_test(test_number_forms),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_bounds_rules),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_bound_and_dropped_counter),
        cmocka_unit_test(test_default_bound_and_opts),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
