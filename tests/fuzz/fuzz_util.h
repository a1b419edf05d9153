/* Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c). */
#ifndef MCPHUB_FUZZ_UTIL_H
#define MCPHUB_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which and abort, so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* A NUL-terminated copy of n bytes (NULL only when out of memory, which
 * libFuzzer's malloc limit turns into a report of its own). */
static inline char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        if (n > 0)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* The next line of [*pos, size) (without its '\n'); 0 at the end. */
static inline int fuzz_next_line(const uint8_t *data, size_t size, size_t *pos,
                                 const char **line, size_t *len)
{
    const uint8_t *nl;

    if (*pos >= size)
        return 0;
    nl = memchr(data + *pos, '\n', size - *pos);
    *line = (const char *)data + *pos;
    *len = nl != NULL ? (size_t)(nl - (data + *pos)) : size - *pos;
    *pos += *len + (nl != NULL);
    return 1;
}

/* xorshift32: deterministic "randomness" seeded from the input. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

#endif
