/* Internal: a string-keyed hash map with open addressing.
 *
 * Keys are borrowed: the caller keeps each key alive while it is in the map
 * (usually the key points into the value).  Values are opaque pointers.
 * Average O(1) get/put/del; the table doubles at 3/4 load and cleans
 * tombstones as it grows.  The hash is seeded so that keys chosen by a peer
 * cannot be picked to collide without knowing the seed. */
#ifndef MCPHUB_MAP_INT_H
#define MCPHUB_MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mem_int.h"

typedef struct mcphub__map_slot {
    const char *key;   /* NULL: empty; MCPHUB__MAP_TOMB: deleted */
    void *value;
    uint32_t hash;
} mcphub__map_slot;

typedef struct mcphub__map {
    mcphub__map_slot *slots;
    size_t cap;        /* power of two, or 0 */
    size_t len;        /* live entries */
    size_t used;       /* live + tombstones */
    uint32_t seed;
    const mcphub__mem *mem;
} mcphub__map;

extern const char mcphub__map_tomb[];
#define MCPHUB__MAP_TOMB (mcphub__map_tomb)

void mcphub__map_init(mcphub__map *m, const mcphub__mem *mem, uint32_t seed);
void mcphub__map_free(mcphub__map *m);
uint32_t mcphub__hash(const char *key, size_t len, uint32_t seed);

void *mcphub__map_get(const mcphub__map *m, const char *key);
void *mcphub__map_getn(const mcphub__map *m, const char *key, size_t len);
/* Insert or replace; *old_out (may be NULL) receives the replaced value. */
int mcphub__map_put(mcphub__map *m, const char *key, void *value, void **old_out);
/* Make room for n more entries so the next n puts cannot fail. */
int mcphub__map_reserve(mcphub__map *m, size_t n);
/* Remove; returns the value or NULL. */
void *mcphub__map_del(mcphub__map *m, const char *key);

/* Iterate: for (i = 0; mcphub__map_next(m, &i, &k, &v);) ... ; deleting the
 * current entry while iterating is allowed, inserting is not. */
int mcphub__map_next(const mcphub__map *m, size_t *i, const char **key, void **value);

#endif
