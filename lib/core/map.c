/* String-keyed open-addressing hash map; see map_int.h. */
#include <string.h>

#include "map_int.h"

const char mcphub__map_tomb[] = "";

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* The last n (0..7) bytes of a key, as memcpy(&w, tail, n) into a zeroed w
 * would give; whole is the key's full length.  Never through memory: a
 * variable-length memcpy into w compiles to byte stores and a wide load
 * that cannot be forwarded from them, so the load waits until the stores
 * retire, i.e. until every older cache miss has been served, and hashing
 * a key after a lookup that missed the cache would serialize behind it. */
static uint64_t tail_word(const char *tail, size_t n, size_t whole)
{
    uint64_t w = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 0)
        return 0;
    if (whole >= 8) {
        /* the 8 bytes ending with the key, its tail in the high ones */
        memcpy(&w, tail + n - 8, 8);
        return w >> (64 - 8 * n);
    }
    while (n > 0)
        w = w << 8 | (unsigned char)tail[--n];
#else
    (void)whole;
    memcpy(&w, tail, n);
#endif
    return w;
}

uint32_t mcphub__hash(const char *key, size_t len, uint32_t seed)
{
    /* Eight bytes a step (ids are 36-byte UUIDs and the like), each word
     * mixed by multiply-rotate, seeded, then a murmur3 64-bit finalizer. */
    uint64_t h = ((uint64_t)seed << 32 | seed) ^ ((uint64_t)len * 0x9e3779b97f4a7c15u);
    size_t whole = len;
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, key, 8);
        h ^= rotl64(w * 0x87c37b91114253d5u, 31) * 0x4cf5ad432745937fu;
        h = rotl64(h, 27) * 5 + 0x52dce729;
        key += 8;
        len -= 8;
    }
    w = tail_word(key, len, whole);
    h ^= rotl64(w * 0x87c37b91114253d5u, 31) * 0x4cf5ad432745937fu;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return (uint32_t)h;
}

void mcphub__map_init(mcphub__map *m, const mcphub__mem *mem, uint32_t seed)
{
    memset(m, 0, sizeof *m);
    m->mem = mem;
    m->seed = seed;
}

void mcphub__map_free(mcphub__map *m)
{
    mcphub__free(m->mem, m->slots);
    m->slots = NULL;
    m->cap = m->len = m->used = 0;
}

static mcphub__map_slot *find(const mcphub__map *m, const char *key, size_t len, uint32_t h)
{
    size_t mask, i;

    if (m->cap == 0)
        return NULL;
    mask = m->cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        mcphub__map_slot *s = &m->slots[i];

        if (s->key == NULL)
            return NULL;
        if (s->key != MCPHUB__MAP_TOMB && s->hash == h && strncmp(s->key, key, len) == 0 &&
            s->key[len] == '\0')
            return s;
    }
}

void *mcphub__map_getn(const mcphub__map *m, const char *key, size_t len)
{
    mcphub__map_slot *s = find(m, key, len, mcphub__hash(key, len, m->seed));

    return s != NULL ? s->value : NULL;
}

void *mcphub__map_get(const mcphub__map *m, const char *key)
{
    return mcphub__map_getn(m, key, strlen(key));
}

static int rehash(mcphub__map *m, size_t cap)
{
    mcphub__map_slot *slots = mcphub__calloc(m->mem, cap, sizeof *slots);
    size_t i;

    if (slots == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < m->cap; i++) {
        mcphub__map_slot *s = &m->slots[i];
        size_t j;

        if (s->key == NULL || s->key == MCPHUB__MAP_TOMB)
            continue;
        for (j = s->hash & (cap - 1); slots[j].key != NULL; j = (j + 1) & (cap - 1))
            ;
        slots[j] = *s;
    }
    mcphub__free(m->mem, m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->len;
    return 0;
}

int mcphub__map_reserve(mcphub__map *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 8;

    if ((m->used + n) * 4 < cap * 3 && m->cap != 0)
        return 0;
    while ((m->len + n) * 4 >= cap * 3) {
        if (cap > SIZE_MAX / 2 / sizeof(mcphub__map_slot))
            return MCPHUB_E_NOMEM;
        cap *= 2;
    }
    return rehash(m, cap);
}

int mcphub__map_put(mcphub__map *m, const char *key, void *value, void **old_out)
{
    size_t len = strlen(key);
    uint32_t h = mcphub__hash(key, len, m->seed);
    mcphub__map_slot *s = find(m, key, len, h);
    size_t i;
    int rc;

    if (old_out != NULL)
        *old_out = NULL;
    if (s != NULL) {
        if (old_out != NULL)
            *old_out = s->value;
        s->key = key;
        s->value = value;
        return 0;
    }
    rc = mcphub__map_reserve(m, 1);
    if (rc != 0)
        return rc;
    for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        s = &m->slots[i];
        if (s->key == NULL || s->key == MCPHUB__MAP_TOMB)
            break;
    }
    if (s->key == NULL)
        m->used++;
    s->key = key;
    s->value = value;
    s->hash = h;
    m->len++;
    return 0;
}

void *mcphub__map_del(mcphub__map *m, const char *key)
{
    size_t len = strlen(key);
    mcphub__map_slot *s = find(m, key, len, mcphub__hash(key, len, m->seed));
    void *v;

    if (s == NULL)
        return NULL;
    v = s->value;
    s->key = MCPHUB__MAP_TOMB;
    s->value = NULL;
    m->len--;
    return v;
}

int mcphub__map_next(const mcphub__map *m, size_t *i, const char **key, void **value)
{
    for (; *i < m->cap; (*i)++) {
        mcphub__map_slot *s = &m->slots[*i];

        if (s->key != NULL && s->key != MCPHUB__MAP_TOMB) {
            if (key != NULL)
                *key = s->key;
            if (value != NULL)
                *value = s->value;
            (*i)++;
            return 1;
        }
    }
    return 0;
}
