/* libmcphub-cluster: restart backoff — exponential delays with jitter.
 *
 * The delay before restart n (counting from 0) is base_ms * 2^n, capped at
 * max_ms, then moved by a random amount of up to +/- jitter_pct percent (and
 * capped at max_ms again).  A run that lasted reset_after_ms or longer
 * counts as stable: the next delay starts from base_ms again.
 *
 * Defaults: 500 ms doubling, +/- 20 %, at most 30 s, reset after 60 s.
 *
 * Pure computation: time arrives as now_ms (any monotonic millisecond
 * clock), randomness through an mcphub_random_fn.  Without a random
 * function there is no jitter (deterministic delays).
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks. */
#ifndef MCPHUB_BACKOFF_H
#define MCPHUB_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_backoff mcphub_backoff;

/* Caller-filled; copied by mcphub_backoff_new.  0 means the default. */
typedef struct mcphub_backoff_opts {
    size_t size;                 /* sizeof(mcphub_backoff_opts) */
    uint32_t base_ms;            /* first delay; default 500 */
    uint32_t max_ms;             /* cap; default 30000; must be >= base_ms */
    uint32_t jitter_pct;         /* +/- percent, 0..100; default 20 */
    uint32_t reset_after_ms;     /* a run this long is stable; default 60000 */
    mcphub_random_fn random;     /* NULL: no jitter */
    void *random_user_data;      /* passed to random; borrowed until free */
} mcphub_backoff_opts;

/* Create a backoff state with no failures yet.  opts may be NULL (all
 * defaults).  Returns 0, MCPHUB_E_INVAL (bad size, base_ms > max_ms,
 * jitter_pct > 100) or MCPHUB_E_NOMEM.  Caller frees with
 * mcphub_backoff_free. */
MCPHUB_API int mcphub_backoff_new(mcphub_backoff **out, const mcphub_backoff_opts *opts,
                                  const mcphub_mem *mem);

/* Free; NULL is allowed. */
MCPHUB_API void mcphub_backoff_free(mcphub_backoff *b);

/* Record that a run (a child process) started at now_ms. */
MCPHUB_API void mcphub_backoff_run_started(mcphub_backoff *b, uint64_t now_ms);

/* The run ended (or never started) at now_ms: return the delay in ms to
 * wait before the next attempt, and count one more failure.  When the run
 * recorded by mcphub_backoff_run_started lasted at least reset_after_ms,
 * the failure count is first reset to 0.  Never fails. */
MCPHUB_API uint64_t mcphub_backoff_next(mcphub_backoff *b, uint64_t now_ms);

/* Forget all failures: the next delay is about base_ms again. */
MCPHUB_API void mcphub_backoff_reset(mcphub_backoff *b);

/* Failures counted since creation or the last reset. */
MCPHUB_API uint32_t mcphub_backoff_failures(const mcphub_backoff *b);

#ifdef __cplusplus
}
#endif
#endif
