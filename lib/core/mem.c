/* Allocation through per-handle hooks; see mem_int.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem_int.h"

static void *libc_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *libc_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void libc_free(void *p, void *ud) { (void)ud; free(p); }

int mcphub__opts_check(const void *opts, size_t known_size)
{
    size_t size, i;
    const unsigned char *b = opts;

    if (opts == NULL)
        return 0;
    memcpy(&size, opts, sizeof size);
    if (size < sizeof(size_t))
        return MCPHUB_E_INVAL;
    for (i = known_size; i < size; i++)
        if (b[i] != 0)
            return MCPHUB_E_INVAL;
    return 0;
}

int mcphub__mem_init(mcphub__mem *out, const mcphub_mem *in)
{
    int rc = mcphub__opts_check(in, sizeof *in);

    if (rc != 0)
        return rc;
    out->malloc_fn = MCPHUB__GET(in, mcphub_mem, malloc_fn, NULL);
    out->realloc_fn = MCPHUB__GET(in, mcphub_mem, realloc_fn, NULL);
    out->free_fn = MCPHUB__GET(in, mcphub_mem, free_fn, NULL);
    out->user_data = MCPHUB__GET(in, mcphub_mem, user_data, NULL);
    /* All three hooks or none: mixing allocators would free foreign memory. */
    if (out->malloc_fn == NULL || out->realloc_fn == NULL || out->free_fn == NULL) {
        if (out->malloc_fn != NULL || out->realloc_fn != NULL || out->free_fn != NULL)
            return MCPHUB_E_INVAL;
        out->malloc_fn = libc_malloc;
        out->realloc_fn = libc_realloc;
        out->free_fn = libc_free;
        out->user_data = NULL;
    }
    return 0;
}

void *mcphub__malloc(const mcphub__mem *m, size_t n)
{
    return m->malloc_fn(n ? n : 1, m->user_data);
}

void *mcphub__calloc(const mcphub__mem *m, size_t count, size_t n)
{
    void *p;

    if (n != 0 && count > SIZE_MAX / n)
        return NULL;
    p = mcphub__malloc(m, count * n);
    if (p != NULL && count * n != 0)
        memset(p, 0, count * n);
    return p;
}

void *mcphub__realloc(const mcphub__mem *m, void *p, size_t n)
{
    return m->realloc_fn(p, n ? n : 1, m->user_data);
}

void *mcphub__reallocarray(const mcphub__mem *m, void *p, size_t count, size_t n)
{
    if (n != 0 && count > SIZE_MAX / n)
        return NULL;
    return mcphub__realloc(m, p, count * n);
}

void mcphub__free(const mcphub__mem *m, void *p)
{
    if (p != NULL)
        m->free_fn(p, m->user_data);
}

char *mcphub__strndup(const mcphub__mem *m, const char *s, size_t n)
{
    char *d = mcphub__malloc(m, n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *mcphub__strdup(const mcphub__mem *m, const char *s)
{
    return s == NULL ? NULL : mcphub__strndup(m, s, strlen(s));
}
