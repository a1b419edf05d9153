/* Internal: allocation through a handle's mcphub_mem. */
#ifndef MCPHUB_MEM_INT_H
#define MCPHUB_MEM_INT_H

#include <stddef.h>

#include "mcphub/common.h"

/* A resolved allocator: every member set. */
typedef struct mcphub__mem {
    void *(*malloc_fn)(size_t n, void *user_data);
    void *(*realloc_fn)(void *p, size_t n, void *user_data);
    void (*free_fn)(void *p, void *user_data);
    void *user_data;
} mcphub__mem;

/* Fill *out from the caller's hooks (NULL = libc).  MCPHUB_E_INVAL when
 * size is bigger than we know and the extra bytes are not zero. */
int mcphub__mem_init(mcphub__mem *out, const mcphub_mem *in);

/* Check a caller-filled struct's size member against what we know:
 * 0 < size, and any bytes beyond known_size are zero. */
int mcphub__opts_check(const void *opts, size_t known_size);

void *mcphub__malloc(const mcphub__mem *m, size_t n);
void *mcphub__calloc(const mcphub__mem *m, size_t count, size_t n);
void *mcphub__realloc(const mcphub__mem *m, void *p, size_t n);
/* realloc for arrays: fails (NULL) on overflow of count * n. */
void *mcphub__reallocarray(const mcphub__mem *m, void *p, size_t count, size_t n);
void mcphub__free(const mcphub__mem *m, void *p);
char *mcphub__strdup(const mcphub__mem *m, const char *s);
char *mcphub__strndup(const mcphub__mem *m, const char *s, size_t n);

/* Read a field of a caller struct only when its size covers it. */
#define MCPHUB__HAS(opts, type, field) \
    ((opts) != NULL && (opts)->size >= offsetof(type, field) + sizeof((opts)->field))
#define MCPHUB__GET(opts, type, field, fallback) \
    (MCPHUB__HAS(opts, type, field) ? (opts)->field : (fallback))

#endif
