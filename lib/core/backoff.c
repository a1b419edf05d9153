/* Restart backoff: exponential delays with jitter; see backoff.h. */
#include <stdint.h>

#include "mcphub/backoff.h"
#include "mem_int.h"

#define DEFAULT_BASE_MS 500u
#define DEFAULT_MAX_MS 30000u
#define DEFAULT_JITTER_PCT 20u
#define DEFAULT_RESET_AFTER_MS 60000u

struct mcphub_backoff {
    mcphub__mem mem;
    uint64_t base_ms;
    uint64_t max_ms;
    uint64_t jitter_pct;
    uint64_t reset_after_ms;
    mcphub_random_fn random;
    void *random_user_data;
    uint32_t failures;
    int run_active;
    uint64_t run_started_ms;
};

MCPHUB_API int mcphub_backoff_new(mcphub_backoff **out, const mcphub_backoff_opts *opts,
                                  const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_backoff *b;
    uint32_t base, max, jitter, reset;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    base = MCPHUB__GET(opts, mcphub_backoff_opts, base_ms, 0);
    max = MCPHUB__GET(opts, mcphub_backoff_opts, max_ms, 0);
    jitter = MCPHUB__GET(opts, mcphub_backoff_opts, jitter_pct, 0);
    reset = MCPHUB__GET(opts, mcphub_backoff_opts, reset_after_ms, 0);
    base = base ? base : DEFAULT_BASE_MS;
    max = max ? max : DEFAULT_MAX_MS;
    jitter = jitter ? jitter : DEFAULT_JITTER_PCT;
    reset = reset ? reset : DEFAULT_RESET_AFTER_MS;
    if (base > max || jitter > 100)
        return MCPHUB_E_INVAL;
    b = mcphub__calloc(&m, 1, sizeof *b);
    if (b == NULL)
        return MCPHUB_E_NOMEM;
    b->mem = m;
    b->base_ms = base;
    b->max_ms = max;
    b->jitter_pct = jitter;
    b->reset_after_ms = reset;
    b->random = MCPHUB__GET(opts, mcphub_backoff_opts, random, NULL);
    b->random_user_data = MCPHUB__GET(opts, mcphub_backoff_opts, random_user_data, NULL);
    *out = b;
    return 0;
}

MCPHUB_API void mcphub_backoff_free(mcphub_backoff *b)
{
    if (b != NULL)
        mcphub__free(&b->mem, b);
}

MCPHUB_API void mcphub_backoff_run_started(mcphub_backoff *b, uint64_t now_ms)
{
    b->run_active = 1;
    b->run_started_ms = now_ms;
}

MCPHUB_API uint64_t mcphub_backoff_next(mcphub_backoff *b, uint64_t now_ms)
{
    uint64_t d;

    if (b->run_active && now_ms >= b->run_started_ms &&
        now_ms - b->run_started_ms >= b->reset_after_ms)
        b->failures = 0;
    b->run_active = 0;
    /* base * 2^failures without overflow: stop doubling at the cap. */
    d = b->base_ms;
    if (b->failures >= 63 || d > (b->max_ms >> b->failures))
        d = b->max_ms;
    else
        d <<= b->failures;
    if (b->random != NULL && b->jitter_pct > 0) {
        uint64_t span = d * b->jitter_pct / 100;

        d = d - span + (uint64_t)b->random(b->random_user_data) % (2 * span + 1);
    }
    if (d > b->max_ms)
        d = b->max_ms;
    if (b->failures < UINT32_MAX)
        b->failures++;
    return d;
}

MCPHUB_API void mcphub_backoff_reset(mcphub_backoff *b)
{
    b->failures = 0;
    b->run_active = 0;
}

MCPHUB_API uint32_t mcphub_backoff_failures(const mcphub_backoff *b)
{
    return b->failures;
}
