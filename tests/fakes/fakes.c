/* Test fakes; see fakes.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes.h"

uint64_t fake_now_ms;

/* Each block carries its size in a header so live bytes can be counted. */
typedef union { size_t n; long double ld; void *p; long long ll; } block_head;

static void *fa_malloc(size_t n, void *ud)
{
    fake_alloc *fa = ud;
    block_head *h;

    fa->count++;
    if (fa->fail_at != 0 && fa->count == fa->fail_at)
        return NULL;
    h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    fa->live++;
    fa->live_bytes += n;
    return h + 1;
}

static void fa_free(void *p, void *ud)
{
    fake_alloc *fa = ud;
    block_head *h;

    if (p == NULL)
        return;
    h = (block_head *)p - 1;
    fa->live--;
    fa->live_bytes -= h->n;
    free(h);
}

static void *fa_realloc(void *p, size_t n, void *ud)
{
    fake_alloc *fa = ud;
    block_head *h, *nh;

    if (p == NULL)
        return fa_malloc(n, ud);
    h = (block_head *)p - 1;
    if (n > h->n) {
        fa->count++;
        if (fa->fail_at != 0 && fa->count == fa->fail_at)
            return NULL;
    }
    nh = realloc(h, sizeof *nh + n);
    if (nh == NULL)
        return NULL;
    fa->live_bytes = fa->live_bytes - nh->n + n;
    nh->n = n;
    return nh + 1;
}

mcphub_mem fake_alloc_mem(fake_alloc *fa)
{
    mcphub_mem m;

    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    m.malloc_fn = fa_malloc;
    m.realloc_fn = fa_realloc;
    m.free_fn = fa_free;
    m.user_data = fa;
    return m;
}

void fake_alloc_reset(fake_alloc *fa, long fail_at)
{
    memset(fa, 0, sizeof *fa);
    fa->fail_at = fail_at;
}

long fake_alloc_loop(fake_alloc_scenario scenario, void *arg)
{
    fake_alloc fa;
    long n;

    for (n = 1; n < 1000000; n++) {
        int rc;

        fake_alloc_reset(&fa, n);
        rc = scenario(&fa, arg);
        if (fa.live != 0)
            fprintf(stderr, "fake_alloc_loop: %ld blocks leaked when allocation %ld failed\n",
                    fa.live, n);
        assert_int_equal(fa.live, 0);
        if (fa.count < n) {
            /* The scenario finished without reaching allocation n. */
            assert_int_equal(rc, 0);
            return fa.count;
        }
    }
    fail_msg("scenario never finished");
    return -1;
}

uint32_t fake_random_next(void *user_data)
{
    fake_random *r = user_data;
    uint32_t x = r->state ? r->state : 2463534242u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->state = x;
    return x;
}

void fake_log_fn(mcphub_log_level level, const char *msg, void *user_data)
{
    fake_log *l = user_data;

    (void)level;
    snprintf(l->lines[l->count % 64], sizeof l->lines[0], "%s", msg);
    l->count++;
}

int fake_log_has(const fake_log *l, const char *needle)
{
    int i, n = l->count < 64 ? l->count : 64;

    for (i = 0; i < n; i++)
        if (strstr(l->lines[i], needle) != NULL)
            return 1;
    return 0;
}
