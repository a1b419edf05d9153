/* libmcphub-cluster: metrics — counters, gauges and histograms with
 * labels, rendered in the Prometheus text exposition format 0.0.4 (what
 * GET /metrics answers, Content-Type "text/plain; version=0.0.4").
 *
 * A metric family is a name with a type and a help text; a series is one
 * family with one set of label values.  Both are created by their first
 * update: there is no registration step.  Labels are passed as a
 * NULL-terminated array of name, value, name, value, ..., NULL (or NULL for
 * no labels); their order does not matter.  An update of an existing series
 * costs O(labels) time and allocates nothing.
 *
 * The number of series is bounded (max_series).  A new series past the
 * bound is refused with MCPHUB_E_FULL and counted in the counter
 * mcphub_metrics_dropped_total, which every rendering includes.
 *
 * Rendering is stable: families sorted by name, series by their label
 * text; labels of a series sorted by name.  Numbers are written in the
 * shortest form that reads back exactly ("+Inf", "-Inf", "NaN").
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks. */
#ifndef MCPHUB_METRICS_H
#define MCPHUB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCPHUB_METRICS_MAX_SERIES_DEFAULT 10000
#define MCPHUB_METRICS_MAX_LABELS 16   /* label pairs of one series */
#define MCPHUB_METRICS_MAX_BUCKETS 64  /* histogram bounds, +Inf not counted */
#define MCPHUB_METRICS_MAX_TEXT 1024   /* bytes of a name, a label value or a help text */

typedef struct mcphub_metrics mcphub_metrics;

/* Caller-filled; copied by mcphub_metrics_new.  0 means the default. */
typedef struct mcphub_metrics_opts {
    size_t size;          /* sizeof(mcphub_metrics_opts) */
    uint32_t max_series;  /* MCPHUB_METRICS_MAX_SERIES_DEFAULT */
    uint32_t hash_seed;   /* seed of the series table; 0 = a fixed seed */
} mcphub_metrics_opts;

/* An empty registry.  opts may be NULL; opts and mem are copied.  Returns
 * 0, MCPHUB_E_INVAL (bad opts or mem), MCPHUB_E_NOMEM.  Caller frees *out
 * with mcphub_metrics_free. */
MCPHUB_API int mcphub_metrics_new(mcphub_metrics **out, const mcphub_metrics_opts *opts,
                                  const mcphub_mem *mem);

/* Frees every series; NULL is allowed. */
MCPHUB_API void mcphub_metrics_free(mcphub_metrics *m);

/* Add v (finite, >= 0) to the counter name{labels}.  By convention counter
 * names end in "_total".  help is used when the family is created (copied;
 * NULL: no HELP line) and ignored afterwards.  name and labels are copied.
 *
 * Rules for every update: name matches [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__", no label twice, at
 * most MCPHUB_METRICS_MAX_LABELS labels, names, values and help at most
 * MCPHUB_METRICS_MAX_TEXT bytes; mcphub_metrics_dropped_total is reserved.
 * Returns 0; MCPHUB_E_INVAL (a rule broken, a negative or NaN value);
 * MCPHUB_E_EXISTS (name is a family of another type, or a histogram with
 * other buckets); MCPHUB_E_FULL (a new series past max_series);
 * MCPHUB_E_TOOBIG (the series' name and labels together over 4096 bytes);
 * MCPHUB_E_NOMEM.  On failure nothing changed (but the dropped count). */
MCPHUB_API int mcphub_metrics_counter_add(mcphub_metrics *m, const char *name, const char *help,
                                          const char *const *label_kv, double v);

/* Set the gauge name{labels} to v (any value, NaN and infinities too).
 * Rules and returns as mcphub_metrics_counter_add. */
MCPHUB_API int mcphub_metrics_gauge_set(mcphub_metrics *m, const char *name, const char *help,
                                        const char *const *label_kv, double v);

/* Count the observation v (not NaN) in the histogram name{labels}: the
 * first bucket whose upper bound is >= v, the sum and the count.  buckets
 * are the upper bounds, finite and strictly increasing (a last +Inf may be
 * given; it is always there); at most MCPHUB_METRICS_MAX_BUCKETS.  They are
 * copied when the family is created and must be the same on every later
 * call (else MCPHUB_E_EXISTS).  "le" is not a valid label name here.
 * Rules and returns as mcphub_metrics_counter_add. */
MCPHUB_API int mcphub_metrics_histogram_observe(mcphub_metrics *m, const char *name,
                                                const char *help, const char *const *label_kv,
                                                const double *buckets, size_t n_buckets,
                                                double v);

/* Render every family as exposition text: "# HELP", "# TYPE", then one
 * line per series; histograms as cumulative name_bucket{...,le="..."}
 * lines ending with le="+Inf", then name_sum and name_count.  Label values
 * escape backslash, double quote and newline; help texts backslash and
 * newline.  *out is NUL-terminated, *len its length (len may be NULL);
 * caller frees *out with mcphub_metrics_text_free.  Returns 0,
 * MCPHUB_E_INVAL, MCPHUB_E_NOMEM (then *out is NULL). */
MCPHUB_API int mcphub_metrics_render(const mcphub_metrics *m, char **out, size_t *len);

/* Free a text from mcphub_metrics_render of the same handle; NULL is
 * allowed. */
MCPHUB_API void mcphub_metrics_text_free(const mcphub_metrics *m, char *text);

/* Number of series held (mcphub_metrics_dropped_total not counted), and
 * how many new series were refused.  0 for NULL. */
MCPHUB_API size_t mcphub_metrics_series_count(const mcphub_metrics *m);
MCPHUB_API uint64_t mcphub_metrics_dropped(const mcphub_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
