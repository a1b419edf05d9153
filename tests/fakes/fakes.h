/* Test fakes for the I/O-free core: an allocator that fails the Nth
 * allocation and counts what is live, a fake clock, a seeded random source,
 * and a log sink that keeps the last lines. */
#ifndef MCPHUB_TEST_FAKES_H
#define MCPHUB_TEST_FAKES_H

#include <stddef.h>
#include <stdint.h>

#include <mcphub/common.h>

/* ---- failing allocator ---- */
typedef struct fake_alloc {
    long fail_at;     /* fail the allocation with this 1-based number; 0 = never */
    long count;       /* allocations (malloc + growing realloc) so far */
    long live;        /* blocks allocated and not freed */
    size_t live_bytes;
} fake_alloc;

/* An mcphub_mem whose hooks go to *fa. */
mcphub_mem fake_alloc_mem(fake_alloc *fa);
void fake_alloc_reset(fake_alloc *fa, long fail_at);

/* Run scenario(fail_at) for fail_at = 1, 2, ... until a run completes
 * without meeting its failure.  scenario returns 0 when it finished, or the
 * error it stopped at; each run must leave fa->live == 0 (checked with
 * cmocka asserts).  Returns how many allocations the full scenario made. */
typedef int (*fake_alloc_scenario)(fake_alloc *fa, void *arg);
long fake_alloc_loop(fake_alloc_scenario scenario, void *arg);

/* ---- fake clock ---- */
extern uint64_t fake_now_ms;

/* ---- seeded random (xorshift32) ---- */
typedef struct fake_random { uint32_t state; } fake_random;
uint32_t fake_random_next(void *user_data); /* user_data: fake_random* */

/* ---- log capture ---- */
typedef struct fake_log {
    char lines[64][256];
    int count;
} fake_log;
void fake_log_fn(mcphub_log_level level, const char *msg, void *user_data);
/* 1 if any captured line contains needle. */
int fake_log_has(const fake_log *l, const char *needle);

#endif
