/* Session affinity: (session, server) -> (node, replica); see
 * include/mcphub/affinity.h.
 *
 * The layout aims at ~100 bytes per route with a million routes, and at
 * few dependent cache misses per lookup:
 * - four string pools (sessions, servers, nodes, replicas) intern the ids.
 *   A route holds u32 pool indices; a pool entry counts the routes using it,
 *   heads the list of those routes (for sessions, nodes, replicas) and
 *   holds its string inline.  Each pool finds its entries through its own
 *   open-addressing table whose slots hold (entry, hash, length), so a
 *   probe reads the slot and then only the matching entry.
 * - routes live in fixed-size chunks addressed by a u32 index, so growing
 *   never copies or moves them; freed slots are reused through a free list.
 *   Chunks are aligned to 64 bytes and a route is 64 bytes: one cache line.
 * - one open-addressing table of (route index, hash) slots keyed by
 *   (hash of the session string, server index): linear probing,
 *   backward-shift deletion, no tombstones.  The key hash needs no memory
 *   but the caller's strings and the (small, hot) server pool, so a lookup
 *   reads the route slot and the session's pool slot side by side, then
 *   the route and the session entry side by side: two rounds of misses.
 * - every route sits on four intrusive doubly linked lists threaded
 *   through u32 indices: least recently used, its session, its replica and
 *   its node.  Bulk removals walk exactly the routes they affect.
 *
 * Calls that may fail allocate everything first and link last, so a
 * failure changes nothing.  When the last route goes, all storage goes. */
#include <stdint.h>
#include <string.h>

#include "mcphub/affinity.h"
#include "mem_int.h"

#define NIL UINT32_MAX
#define DEFAULT_TTL_MS UINT64_C(1800000)
#define DEFAULT_MAX_ROUTES 2000000u
#define CHUNK_BITS 10u
#define CHUNK_LEN (1u << CHUNK_BITS) /* routes per chunk: 64 KiB */
#define LINE 64u                     /* cache line; routes are aligned to it */
#define MIN_TABLE 64u
#define MIN_POOL_TABLE 16u
#define HOT_SERVERS 32u /* direct-mapped cache of server entries */

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#define HOT_PATH __attribute__((always_inline)) inline
#else
#define PREFETCH(p) ((void)(p))
#define HOT_PATH inline
#endif

/* Pools, and the index of each id in route.id[]. */
enum { S_SESSION, S_SERVER, S_NODE, S_REPLICA, S_KINDS };
/* Lists a route is on, and the index of each in route.link[]. */
enum { L_LRU, L_SESSION, L_REPLICA, L_NODE, L_KINDS };

/* An interned id. */
typedef struct aff_str {
    uint32_t refs; /* routes using it, plus holds taken inside one call */
    uint32_t head; /* first route of this session, node or replica, or NIL */
    uint32_t idx;  /* own index in its pool */
    uint32_t h;    /* hash of s with its pool's seed */
    char s[];
} aff_str;

/* A slot of a pool's table; the spare bytes next to the pointer hold the
 * hash and the length, so only a matching entry is read. */
typedef struct aff_pslot {
    aff_str *e; /* NULL = empty */
    uint32_t h;
    uint32_t len;
} aff_pslot;

typedef struct aff_pool {
    aff_pslot *slots;
    size_t slots_cap;         /* power of two, or 0 */
    uint32_t live;            /* entries in the table */
    uint64_t seed;
    aff_str **items;          /* index -> entry; NULL when free */
    uint32_t *free_idx;       /* stack of free indices, as large as items */
    uint32_t cap, len, nfree; /* len: indices handed out so far */
} aff_pool;

typedef struct aff_link {
    uint32_t prev, next;
} aff_link;

typedef struct aff_route {
    uint32_t id[S_KINDS];    /* pool indices */
    aff_link link[L_KINDS];  /* free routes chain through link[L_LRU].next */
    uint64_t created_ms, last_ms;
} aff_route;

typedef struct aff_slot {
    uint32_t ref; /* route index + 1; 0 = empty */
    uint32_t h;   /* hash of the route's key */
} aff_slot;

struct mcphub_affinity {
    mcphub__mem mem;
    uint64_t ttl_ms;
    size_t max_routes;
    uint64_t key_mix;    /* seeds the route keys */
    aff_pool pools[S_KINDS];
    /* Servers are few and named on every call: a server found here needs
     * no hashing.  Filled when a server is interned (if its place is free),
     * cleared when it goes; the pool stays the authority. */
    struct {
        aff_str *e;
        size_t len;
    } hot[HOT_SERVERS];
    aff_route **chunks;  /* 64-byte aligned; see chunk_new() */
    size_t nchunks, chunks_cap;
    uint32_t used;       /* route indices handed out so far */
    uint32_t free_route; /* recycled route indices, or NIL */
    size_t count;
    aff_slot *table;
    size_t table_cap;    /* power of two, or 0 */
    uint32_t lru_head, lru_tail;
};

/* What a lookup learnt on its way, for bind to reuse. */
typedef struct aff_found {
    aff_str *session, *server; /* the interned ids, or NULL */
    uint32_t session_h;
} aff_found;

/* ---- helpers ------------------------------------------------------------ */

/* Length of a valid id, 0 if s is NULL, empty or too long. */
static size_t id_len(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, MCPHUB_AFFINITY_MAX_ID + 1);
    return n <= MCPHUB_AFFINITY_MAX_ID ? n : 0;
}

static aff_route *R(const mcphub_affinity *a, uint32_t r)
{
    return &a->chunks[r >> CHUNK_BITS][r & (CHUNK_LEN - 1)];
}

static aff_str *str_at(const mcphub_affinity *a, int kind, uint32_t idx)
{
    return a->pools[kind].items[idx];
}

static uint64_t deadline(const mcphub_affinity *a, const aff_route *rt)
{
    return rt->last_ms > UINT64_MAX - a->ttl_ms ? UINT64_MAX : rt->last_ms + a->ttl_ms;
}

static HOT_PATH uint64_t load64(const char *p)
{
    uint64_t w;

    memcpy(&w, p, sizeof w);
    return w;
}

static HOT_PATH uint32_t load32(const char *p)
{
    uint32_t w;

    memcpy(&w, p, sizeof w);
    return w;
}

static HOT_PATH uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* Hash of an id of len (1..MCPHUB_AFFINITY_MAX_ID) bytes, seeded.  Two
 * 64-bit lanes take 16 bytes a step by xor-then-multiply (an odd
 * multiplier makes each step a bijection of the lane); the last bytes are
 * read as whole words overlapping what came before; murmur3's finalizer
 * folds the lanes.  About half the instructions of mcphub__hash() on a
 * 36-byte session id, which matters here: a lookup of a random route waits
 * on cache misses, and the fewer instructions it takes, the further the
 * processor runs ahead into the next lookups and starts their misses. */
static HOT_PATH uint32_t id_hash(const char *s, size_t len, uint64_t seed)
{
    const char *end = s + len;
    uint64_t a = seed ^ (uint64_t)len * UINT64_C(0x9e3779b97f4a7c15);
    uint64_t b = rotl64(seed, 32) ^ UINT64_C(0xc2b2ae3d27d4eb4f), h;

    while (end - s > 16) {
        a = (a ^ load64(s)) * UINT64_C(0x9e3779b97f4a7c15);
        b = (b ^ load64(s + 8)) * UINT64_C(0xc2b2ae3d27d4eb4f);
        s += 16;
    }
    if (len >= 16) {
        a ^= load64(end - 16);
        b ^= load64(end - 8);
    } else if (len >= 8) {
        a ^= load64(s);
        b ^= load64(end - 8);
    } else if (len >= 4) {
        a ^= load32(s);
        b ^= load32(end - 4);
    } else {
        a ^= (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len / 2] << 8 |
             (uint64_t)(unsigned char)s[len - 1] << 16;
    }
    h = a * UINT64_C(0x9e3779b97f4a7c15) ^ rotl64(b * UINT64_C(0xc2b2ae3d27d4eb4f), 31);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return (uint32_t)h;
}

/* Whether two ids of len bytes each are equal: whole words, no branch on
 * the data but the answer's. */
static HOT_PATH int same_id(const char *x, const char *y, size_t len)
{
    uint64_t diff = 0;
    size_t i;

    if (len >= 8) {
        for (i = 0; i + 8 < len; i += 8)
            diff |= load64(x + i) ^ load64(y + i);
        diff |= load64(x + len - 8) ^ load64(y + len - 8);
    } else if (len >= 4) {
        diff = (uint64_t)(load32(x) ^ load32(y)) | (load32(x + len - 4) ^ load32(y + len - 4));
    } else {
        for (i = 0; i < len; i++)
            diff |= (uint64_t)((unsigned char)x[i] ^ (unsigned char)y[i]);
    }
    return diff == 0;
}

static HOT_PATH uint32_t str_hash(const mcphub_affinity *a, int kind, const char *s, size_t len)
{
    return id_hash(s, len, a->pools[kind].seed);
}

/* Place of a server name in a->hot[]: from its length and end bytes. */
static unsigned hot_index(const char *s, size_t len)
{
    return ((unsigned)len * 13u + (unsigned char)s[0] * 7u + (unsigned char)s[len - 1]) &
           (HOT_SERVERS - 1);
}

/* ---- string pools --------------------------------------------------------- */

/* The entry of s (len bytes, hash h), or NULL. */
static HOT_PATH aff_str *pool_find(const aff_pool *p, const char *s, size_t len, uint32_t h)
{
    size_t mask, i;

    if (p->live == 0)
        return NULL;
    mask = p->slots_cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        const aff_pslot *sl = &p->slots[i];

        if (sl->e == NULL)
            return NULL;
        if (sl->h == h && sl->len == len && same_id(sl->e->s, s, len))
            return sl->e;
    }
}

static void pslot_place(aff_pslot *slots, size_t cap, aff_pslot s)
{
    size_t i;

    for (i = s.h & (cap - 1); slots[i].e != NULL; i = (i + 1) & (cap - 1))
        ;
    slots[i] = s;
}

/* Make room for n entries in all, at most 3/4 load. */
static int pool_reserve(mcphub_affinity *a, aff_pool *p, size_t n)
{
    size_t cap = p->slots_cap ? p->slots_cap : MIN_POOL_TABLE, i;
    aff_pslot *slots;

    while (n > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / sizeof *slots)
            return MCPHUB_E_NOMEM;
        cap *= 2;
    }
    if (cap == p->slots_cap)
        return 0;
    slots = mcphub__calloc(&a->mem, cap, sizeof *slots);
    if (slots == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < p->slots_cap; i++)
        if (p->slots[i].e != NULL)
            pslot_place(slots, cap, p->slots[i]);
    mcphub__free(&a->mem, p->slots);
    p->slots = slots;
    p->slots_cap = cap;
    return 0;
}

/* Take the slot of e out of p's table (backward-shift deletion). */
static void pool_unindex(aff_pool *p, const aff_str *e)
{
    size_t mask = p->slots_cap - 1, i, j;

    for (i = e->h & mask; p->slots[i].e != e; i = (i + 1) & mask)
        ;
    for (j = i;;) {
        size_t home;

        j = (j + 1) & mask;
        if (p->slots[j].e == NULL)
            break;
        home = p->slots[j].h & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            p->slots[i] = p->slots[j];
            i = j;
        }
    }
    memset(&p->slots[i], 0, sizeof p->slots[i]);
    p->live--;
}

/* Take one reference on s (len bytes, hash h), interning it if new; *idx
 * receives its index.  e is s's entry when the caller already found it. */
static int pool_hold(mcphub_affinity *a, int kind, aff_str *e, const char *s, size_t len,
                     uint32_t h, uint32_t *idx)
{
    aff_pool *p = &a->pools[kind];
    aff_pslot slot;
    int rc;

    if (e == NULL)
        e = pool_find(p, s, len, h);
    if (e != NULL) {
        e->refs++;
        *idx = e->idx;
        return 0;
    }
    if (p->nfree == 0 && p->len == p->cap) {
        /* Grow both arrays before using either, so a push onto the free
         * stack can never need memory. */
        uint32_t cap = p->cap ? p->cap * 2 : 16;
        aff_str **items = mcphub__reallocarray(&a->mem, p->items, cap, sizeof *items);
        uint32_t *free_idx;

        if (items == NULL)
            return MCPHUB_E_NOMEM;
        p->items = items;
        free_idx = mcphub__reallocarray(&a->mem, p->free_idx, cap, sizeof *free_idx);
        if (free_idx == NULL)
            return MCPHUB_E_NOMEM;
        p->free_idx = free_idx;
        p->cap = cap;
    }
    e = mcphub__malloc(&a->mem, offsetof(aff_str, s) + len + 1);
    if (e == NULL)
        return MCPHUB_E_NOMEM;
    rc = pool_reserve(a, p, (size_t)p->live + 1);
    if (rc != 0) {
        mcphub__free(&a->mem, e);
        return rc;
    }
    memcpy(e->s, s, len);
    e->s[len] = '\0';
    e->refs = 1;
    e->head = NIL;
    e->h = h;
    e->idx = p->nfree ? p->free_idx[--p->nfree] : p->len++;
    p->items[e->idx] = e;
    slot.e = e;
    slot.h = h;
    slot.len = (uint32_t)len;
    pslot_place(p->slots, p->slots_cap, slot);
    p->live++;
    if (kind == S_SERVER && a->hot[hot_index(s, len)].e == NULL) {
        a->hot[hot_index(s, len)].e = e;
        a->hot[hot_index(s, len)].len = len;
    }
    *idx = e->idx;
    return 0;
}

/* Drop one reference; the last one frees the string. */
static void pool_release(mcphub_affinity *a, int kind, uint32_t idx)
{
    aff_pool *p = &a->pools[kind];
    aff_str *e = p->items[idx];

    if (--e->refs != 0)
        return;
    if (kind == S_SERVER) {
        unsigned i = hot_index(e->s, strlen(e->s));

        if (a->hot[i].e == e)
            a->hot[i].e = NULL;
    }
    pool_unindex(p, e);
    p->items[idx] = NULL;
    p->free_idx[p->nfree++] = idx;
    mcphub__free(&a->mem, e);
}

static void pool_clear(mcphub_affinity *a, int kind)
{
    aff_pool *p = &a->pools[kind];
    uint32_t i;

    for (i = 0; i < p->len; i++)
        mcphub__free(&a->mem, p->items[i]);
    mcphub__free(&a->mem, p->slots);
    mcphub__free(&a->mem, p->items);
    mcphub__free(&a->mem, p->free_idx);
    p->slots = NULL;
    p->slots_cap = 0;
    p->live = 0;
    p->items = NULL;
    p->free_idx = NULL;
    p->cap = p->len = p->nfree = 0;
    if (kind == S_SERVER)
        memset(a->hot, 0, sizeof a->hot);
}

/* The entry of s in its pool, or NULL (s must be a valid id). */
static aff_str *pool_lookup(const mcphub_affinity *a, int kind, const char *s, size_t len)
{
    if (a->pools[kind].live == 0)
        return NULL;
    return pool_find(&a->pools[kind], s, len, str_hash(a, kind, s, len));
}

/* The entry of a server name, or NULL: the hot cache first. */
static HOT_PATH aff_str *server_find(const mcphub_affinity *a, const char *s, size_t len)
{
    unsigned i = hot_index(s, len);
    aff_str *e = a->hot[i].e;

    if (e != NULL && a->hot[i].len == len && same_id(e->s, s, len))
        return e;
    return pool_lookup(a, S_SERVER, s, len);
}

/* ---- intrusive lists ------------------------------------------------------ */

static uint32_t *list_head(mcphub_affinity *a, const aff_route *rt, int list)
{
    switch (list) {
    case L_SESSION: return &str_at(a, S_SESSION, rt->id[S_SESSION])->head;
    case L_REPLICA: return &str_at(a, S_REPLICA, rt->id[S_REPLICA])->head;
    case L_NODE: return &str_at(a, S_NODE, rt->id[S_NODE])->head;
    default: return &a->lru_head;
    }
}

static void list_unlink(mcphub_affinity *a, uint32_t r, int list)
{
    aff_route *rt = R(a, r);
    aff_link *l = &rt->link[list];

    if (l->prev != NIL)
        R(a, l->prev)->link[list].next = l->next;
    else
        *list_head(a, rt, list) = l->next;
    if (l->next != NIL)
        R(a, l->next)->link[list].prev = l->prev;
    else if (list == L_LRU)
        a->lru_tail = l->prev;
}

/* Session, node and replica lists are unordered: push at the front. */
static void list_push(mcphub_affinity *a, uint32_t r, int list)
{
    aff_route *rt = R(a, r);
    uint32_t *head = list_head(a, rt, list);

    rt->link[list].prev = NIL;
    rt->link[list].next = *head;
    if (*head != NIL)
        R(a, *head)->link[list].prev = r;
    *head = r;
}

/* The LRU list is ordered by last activity: the newest goes at the tail. */
static void lru_append(mcphub_affinity *a, uint32_t r)
{
    aff_route *rt = R(a, r);

    rt->link[L_LRU].prev = a->lru_tail;
    rt->link[L_LRU].next = NIL;
    if (a->lru_tail != NIL)
        R(a, a->lru_tail)->link[L_LRU].next = r;
    else
        a->lru_head = r;
    a->lru_tail = r;
}

/* ---- route storage -------------------------------------------------------- */

/* A chunk of CHUNK_LEN routes aligned to LINE bytes, so that every route
 * is one cache line; the block's own address sits just before it. */
static aff_route *chunk_new(mcphub_affinity *a)
{
    unsigned char *raw = mcphub__malloc(&a->mem, CHUNK_LEN * sizeof(aff_route) + LINE +
                                                     sizeof(void *));
    uintptr_t at;

    if (raw == NULL)
        return NULL;
    at = ((uintptr_t)raw + sizeof(void *) + LINE - 1) & ~(uintptr_t)(LINE - 1);
    memcpy((unsigned char *)at - sizeof(void *), &raw, sizeof raw);
    return (aff_route *)at;
}

static void chunk_free(mcphub_affinity *a, aff_route *chunk)
{
    void *raw;

    memcpy(&raw, (unsigned char *)chunk - sizeof raw, sizeof raw);
    mcphub__free(&a->mem, raw);
}

/* Make sure route_take() has a slot to give. */
static int route_reserve(mcphub_affinity *a)
{
    aff_route *chunk;

    if (a->free_route != NIL || a->used < a->nchunks * CHUNK_LEN)
        return 0;
    if (a->nchunks == a->chunks_cap) {
        size_t cap = a->chunks_cap ? a->chunks_cap * 2 : 8;
        aff_route **chunks = mcphub__reallocarray(&a->mem, a->chunks, cap, sizeof *chunks);

        if (chunks == NULL)
            return MCPHUB_E_NOMEM;
        a->chunks = chunks;
        a->chunks_cap = cap;
    }
    chunk = chunk_new(a);
    if (chunk == NULL)
        return MCPHUB_E_NOMEM;
    a->chunks[a->nchunks++] = chunk;
    return 0;
}

static uint32_t route_take(mcphub_affinity *a)
{
    uint32_t r = a->free_route;

    if (r != NIL)
        a->free_route = R(a, r)->link[L_LRU].next;
    else
        r = a->used++;
    return r;
}

/* ---- the (session, server) -> route table --------------------------------- */

/* Key of a route from its session string's hash and its server's index:
 * computable before reading any of the table, and, kept in each session
 * entry, again when the route goes.  Seeded through the session hash and
 * key_mix; murmur3's 64-bit finalizer spreads it to the low bits. */
static HOT_PATH uint32_t key_hash(const mcphub_affinity *a, uint32_t session_h, uint32_t server)
{
    uint64_t k = ((uint64_t)session_h << 32 | server) ^ a->key_mix;

    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return (uint32_t)k;
}

static void table_place(aff_slot *table, size_t cap, aff_slot s)
{
    size_t i;

    for (i = s.h & (cap - 1); table[i].ref != 0; i = (i + 1) & (cap - 1))
        ;
    table[i] = s;
}

/* Make room for n routes in all, at most 3/4 load. */
static int table_reserve(mcphub_affinity *a, size_t n)
{
    size_t cap = a->table_cap ? a->table_cap : MIN_TABLE, i;
    aff_slot *table;

    while (n > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / sizeof *table)
            return MCPHUB_E_NOMEM;
        cap *= 2;
    }
    if (cap == a->table_cap)
        return 0;
    table = mcphub__calloc(&a->mem, cap, sizeof *table);
    if (table == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < a->table_cap; i++)
        if (a->table[i].ref != 0)
            table_place(table, cap, a->table[i]);
    mcphub__free(&a->mem, a->table);
    a->table = table;
    a->table_cap = cap;
    return 0;
}

/* Empty slot i and shift later entries of its probe run back into the hole,
 * so lookups never need tombstones. */
static void table_remove_at(mcphub_affinity *a, size_t i)
{
    size_t mask = a->table_cap - 1, j = i;

    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (a->table[j].ref == 0)
            break;
        home = a->table[j].h & mask;
        /* The hole may take the entry only if it lies between the entry's
         * home slot and where the entry sits now. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            a->table[i] = a->table[j];
            i = j;
        }
    }
    a->table[i].ref = 0;
    a->table[i].h = 0;
}

/* ---- routes ---------------------------------------------------------------- */

/* Free everything but the handle; only when no route is left. */
static void drop_storage(mcphub_affinity *a)
{
    size_t i;
    int k;

    for (i = 0; i < a->nchunks; i++)
        chunk_free(a, a->chunks[i]);
    mcphub__free(&a->mem, a->chunks);
    mcphub__free(&a->mem, a->table);
    a->chunks = NULL;
    a->nchunks = a->chunks_cap = 0;
    a->table = NULL;
    a->table_cap = 0;
    a->used = 0;
    a->free_route = NIL;
    a->lru_head = a->lru_tail = NIL;
    for (k = 0; k < S_KINDS; k++)
        pool_clear(a, k);
}

static void drop_storage_if_empty(mcphub_affinity *a)
{
    if (a->count == 0)
        drop_storage(a);
}

/* Route of (session, server), both valid ids of the given lengths, or NIL.
 * The slot of the route and the slot of the session entry are independent
 * of each other, and so are the route and the entry: the misses overlap. */
static HOT_PATH uint32_t lookup(const mcphub_affinity *a, const char *session, size_t session_len,
                       const char *server, size_t server_len, aff_found *f)
{
    const aff_slot *table = a->table;
    const aff_str *se, *sv;
    size_t mask, i;
    uint32_t h;

    f->session = f->server = NULL;
    f->session_h = str_hash(a, S_SESSION, session, session_len);
    if (a->count == 0)
        return NIL;
    sv = f->server = server_find(a, server, server_len);
    if (sv == NULL)
        return NIL;
    h = key_hash(a, f->session_h, sv->idx);
    mask = a->table_cap - 1;
    PREFETCH(&table[h & mask]);
    se = f->session = pool_find(&a->pools[S_SESSION], session, session_len, f->session_h);
    if (se == NULL)
        return NIL;
    for (i = h & mask;; i = (i + 1) & mask) {
        const aff_slot *s = &table[i];

        if (s->ref == 0)
            return NIL;
        if (s->h == h) {
            const aff_route *rt = R(a, s->ref - 1);

            if (rt->id[S_SESSION] == se->idx && rt->id[S_SERVER] == sv->idx)
                return s->ref - 1;
        }
    }
}

static void route_remove(mcphub_affinity *a, uint32_t r)
{
    aff_route *rt = R(a, r);
    size_t mask = a->table_cap - 1, i;
    int k;

    i = key_hash(a, str_at(a, S_SESSION, rt->id[S_SESSION])->h, rt->id[S_SERVER]) & mask;
    for (; a->table[i].ref != 0; i = (i + 1) & mask)
        if (a->table[i].ref == r + 1) {
            table_remove_at(a, i);
            break;
        }
    for (k = 0; k < L_KINDS; k++)
        list_unlink(a, r, k);
    for (k = 0; k < S_KINDS; k++)
        pool_release(a, k, rt->id[k]);
    rt->link[L_LRU].next = a->free_route;
    a->free_route = r;
    a->count--;
}

/* Point route r's id of this kind (node or replica) at new_id, which the
 * caller holds one reference on for this route. */
static void retarget(mcphub_affinity *a, uint32_t r, int kind, int list, uint32_t new_id)
{
    aff_route *rt = R(a, r);
    uint32_t old = rt->id[kind];

    if (old == new_id) {
        pool_release(a, kind, new_id); /* the route already holds one */
        return;
    }
    list_unlink(a, r, list);
    rt->id[kind] = new_id;
    list_push(a, r, list);
    pool_release(a, kind, old);
}

/* Remove every route on the list headed by e (a session, node or replica). */
static size_t remove_all(mcphub_affinity *a, aff_str *e)
{
    size_t n = e->refs, i;

    /* e is freed with its last route: read its head only while it lives. */
    for (i = 0; i < n; i++)
        route_remove(a, e->head);
    drop_storage_if_empty(a);
    return n;
}

/* ---- public API ------------------------------------------------------------ */

int mcphub_affinity_new(mcphub_affinity **out, const mcphub_affinity_opts *opts,
                        const mcphub_mem *mem)
{
    mcphub_affinity *a;
    mcphub__mem m;
    size_t max_routes;
    uint64_t ttl_ms;
    uint32_t seed;
    int rc, k;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__opts_check(opts, sizeof *opts);
    if (rc != 0)
        return rc;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    ttl_ms = MCPHUB__GET(opts, mcphub_affinity_opts, ttl_ms, 0);
    max_routes = MCPHUB__GET(opts, mcphub_affinity_opts, max_routes, 0);
    if (max_routes > MCPHUB_AFFINITY_MAX_ROUTES)
        return MCPHUB_E_INVAL;
    a = mcphub__calloc(&m, 1, sizeof *a);
    if (a == NULL)
        return MCPHUB_E_NOMEM;
    a->mem = m;
    a->ttl_ms = ttl_ms ? ttl_ms : DEFAULT_TTL_MS;
    a->max_routes = max_routes ? max_routes : DEFAULT_MAX_ROUTES;
    seed = MCPHUB__GET(opts, mcphub_affinity_opts, hash_seed, 0);
    a->key_mix = (uint64_t)seed * UINT64_C(0x9e3779b97f4a7c15);
    for (k = 0; k < S_KINDS; k++)
        a->pools[k].seed = (seed + (uint64_t)k + 1) * UINT64_C(0xbf58476d1ce4e5b9);
    a->free_route = NIL;
    a->lru_head = a->lru_tail = NIL;
    *out = a;
    return 0;
}

void mcphub_affinity_free(mcphub_affinity *a)
{
    if (a == NULL)
        return;
    drop_storage(a);
    mcphub__free(&a->mem, a);
}

static int rebind(mcphub_affinity *a, uint32_t r, const char *node, size_t node_len,
                  const char *replica, size_t replica_len, uint64_t now_ms)
{
    uint32_t node_id, replica_id;
    int rc;

    rc = pool_hold(a, S_NODE, NULL, node, node_len, str_hash(a, S_NODE, node, node_len),
                   &node_id);
    if (rc != 0)
        return rc;
    rc = pool_hold(a, S_REPLICA, NULL, replica, replica_len,
                   str_hash(a, S_REPLICA, replica, replica_len), &replica_id);
    if (rc != 0) {
        pool_release(a, S_NODE, node_id);
        return rc;
    }
    retarget(a, r, S_NODE, L_NODE, node_id);
    retarget(a, r, S_REPLICA, L_REPLICA, replica_id);
    R(a, r)->last_ms = now_ms;
    list_unlink(a, r, L_LRU);
    lru_append(a, r);
    return 0;
}

int mcphub_affinity_bind(mcphub_affinity *a, const char *session_id, const char *server,
                         const char *node, const char *replica, uint64_t now_ms)
{
    const char *names[S_KINDS];
    size_t lens[S_KINDS];
    uint32_t hashes[S_KINDS], ids[S_KINDS], r;
    aff_str *found[S_KINDS];
    aff_found f;
    aff_route *rt;
    int rc = 0, k, held = 0;

    if (a == NULL)
        return MCPHUB_E_INVAL;
    names[S_SESSION] = session_id;
    names[S_SERVER] = server;
    names[S_NODE] = node;
    names[S_REPLICA] = replica;
    for (k = 0; k < S_KINDS; k++) {
        lens[k] = id_len(names[k]);
        if (lens[k] == 0)
            return MCPHUB_E_INVAL;
    }
    r = lookup(a, session_id, lens[S_SESSION], server, lens[S_SERVER], &f);
    if (r != NIL)
        return rebind(a, r, node, lens[S_NODE], replica, lens[S_REPLICA], now_ms);
    if (a->count >= a->max_routes)
        return MCPHUB_E_FULL;

    found[S_SESSION] = f.session;
    found[S_SERVER] = f.server;
    found[S_NODE] = found[S_REPLICA] = NULL;
    hashes[S_SESSION] = f.session_h;
    hashes[S_SERVER] = f.server ? f.server->h : str_hash(a, S_SERVER, server, lens[S_SERVER]);
    hashes[S_NODE] = str_hash(a, S_NODE, node, lens[S_NODE]);
    hashes[S_REPLICA] = str_hash(a, S_REPLICA, replica, lens[S_REPLICA]);
    for (held = 0; held < S_KINDS; held++) {
        rc = pool_hold(a, held, found[held], names[held], lens[held], hashes[held], &ids[held]);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = route_reserve(a);
    if (rc == 0)
        rc = table_reserve(a, a->count + 1);
    if (rc != 0) {
        for (k = held - 1; k >= 0; k--)
            pool_release(a, k, ids[k]);
        drop_storage_if_empty(a);
        return rc;
    }

    /* Everything is allocated: link the route in. */
    r = route_take(a);
    rt = R(a, r);
    memcpy(rt->id, ids, sizeof ids);
    rt->created_ms = rt->last_ms = now_ms;
    lru_append(a, r);
    list_push(a, r, L_SESSION);
    list_push(a, r, L_REPLICA);
    list_push(a, r, L_NODE);
    {
        aff_slot s;

        s.ref = r + 1;
        s.h = key_hash(a, hashes[S_SESSION], ids[S_SERVER]);
        table_place(a->table, a->table_cap, s);
    }
    a->count++;
    return 0;
}

int mcphub_affinity_get(const mcphub_affinity *a, const char *session_id, const char *server,
                        mcphub_route *out)
{
    const aff_route *rt;
    size_t session_len, server_len;
    aff_found f;
    uint32_t r;

    if (a == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    session_len = id_len(session_id);
    server_len = id_len(server);
    if (session_len == 0 || server_len == 0)
        return MCPHUB_E_INVAL;
    r = lookup(a, session_id, session_len, server, server_len, &f);
    if (r == NIL)
        return MCPHUB_E_NOTFOUND;
    rt = R(a, r);
    out->session_id = f.session->s;
    out->server = f.server->s;
    out->node = str_at(a, S_NODE, rt->id[S_NODE])->s;
    out->replica = str_at(a, S_REPLICA, rt->id[S_REPLICA])->s;
    out->created_ms = rt->created_ms;
    out->last_activity_ms = rt->last_ms;
    return 0;
}

/* The route of (session_id, server) into *r: 0, MCPHUB_E_INVAL or
 * MCPHUB_E_NOTFOUND. */
static int find_route(const mcphub_affinity *a, const char *session_id, const char *server,
                      uint32_t *r)
{
    size_t session_len = id_len(session_id), server_len = id_len(server);
    aff_found f;

    if (session_len == 0 || server_len == 0)
        return MCPHUB_E_INVAL;
    *r = lookup(a, session_id, session_len, server, server_len, &f);
    return *r == NIL ? MCPHUB_E_NOTFOUND : 0;
}

int mcphub_affinity_touch(mcphub_affinity *a, const char *session_id, const char *server,
                          uint64_t now_ms)
{
    uint32_t r;
    int rc;

    if (a == NULL)
        return MCPHUB_E_INVAL;
    rc = find_route(a, session_id, server, &r);
    if (rc != 0)
        return rc;
    R(a, r)->last_ms = now_ms;
    list_unlink(a, r, L_LRU);
    lru_append(a, r);
    return 0;
}

int mcphub_affinity_unbind(mcphub_affinity *a, const char *session_id, const char *server)
{
    uint32_t r;
    int rc;

    if (a == NULL)
        return MCPHUB_E_INVAL;
    rc = find_route(a, session_id, server, &r);
    if (rc != 0)
        return rc;
    route_remove(a, r);
    drop_storage_if_empty(a);
    return 0;
}

size_t mcphub_affinity_unbind_session(mcphub_affinity *a, const char *session_id)
{
    size_t len = id_len(session_id);
    aff_str *e;

    if (a == NULL || len == 0)
        return 0;
    e = pool_lookup(a, S_SESSION, session_id, len);
    return e == NULL ? 0 : remove_all(a, e);
}

size_t mcphub_affinity_unbind_node(mcphub_affinity *a, const char *node)
{
    size_t len = id_len(node);
    aff_str *e;

    if (a == NULL || len == 0)
        return 0;
    e = pool_lookup(a, S_NODE, node, len);
    return e == NULL ? 0 : remove_all(a, e);
}

size_t mcphub_affinity_expire(mcphub_affinity *a, uint64_t now_ms, size_t max)
{
    size_t n = 0;

    if (a == NULL)
        return 0;
    while (a->lru_head != NIL && (max == 0 || n < max) &&
           deadline(a, R(a, a->lru_head)) <= now_ms) {
        route_remove(a, a->lru_head);
        n++;
    }
    drop_storage_if_empty(a);
    return n;
}

uint64_t mcphub_affinity_next_deadline(const mcphub_affinity *a)
{
    if (a == NULL || a->lru_head == NIL)
        return UINT64_MAX;
    return deadline(a, R(a, a->lru_head));
}

size_t mcphub_affinity_migrate_replica(mcphub_affinity *a, const char *old_replica,
                                       const char *new_node, const char *new_replica)
{
    size_t old_len = id_len(old_replica), node_len = 0, replica_len = 0, n, i;
    aff_str *e;
    uint32_t node_id, replica_id, r;

    if (a == NULL || old_len == 0)
        return 0;
    if (new_replica != NULL) {
        node_len = id_len(new_node);
        replica_len = id_len(new_replica);
        if (node_len == 0 || replica_len == 0)
            return 0;
    }
    e = pool_lookup(a, S_REPLICA, old_replica, old_len);
    if (e == NULL)
        return 0;
    if (new_replica == NULL)
        return remove_all(a, e);

    n = e->refs; /* before the holds: new_replica may be old_replica */
    if (pool_hold(a, S_NODE, NULL, new_node, node_len, str_hash(a, S_NODE, new_node, node_len),
                  &node_id) != 0)
        return 0;
    if (pool_hold(a, S_REPLICA, NULL, new_replica, replica_len,
                  str_hash(a, S_REPLICA, new_replica, replica_len), &replica_id) != 0) {
        pool_release(a, S_NODE, node_id);
        return 0;
    }
    /* One reference per route moved; retarget() consumes them. */
    str_at(a, S_NODE, node_id)->refs += (uint32_t)n;
    str_at(a, S_REPLICA, replica_id)->refs += (uint32_t)n;
    r = e->head;
    for (i = 0; i < n; i++) {
        /* Take the successor first: retarget moves r to another list (and
         * frees e after its last route). */
        uint32_t next = R(a, r)->link[L_REPLICA].next;

        retarget(a, r, S_NODE, L_NODE, node_id);
        retarget(a, r, S_REPLICA, L_REPLICA, replica_id);
        r = next;
    }
    pool_release(a, S_NODE, node_id);
    pool_release(a, S_REPLICA, replica_id);
    return n;
}

size_t mcphub_affinity_count(const mcphub_affinity *a)
{
    return a == NULL ? 0 : a->count;
}

size_t mcphub_affinity_count_replica(const mcphub_affinity *a, const char *replica)
{
    size_t len = id_len(replica);
    const aff_str *e;

    if (a == NULL || len == 0)
        return 0;
    e = pool_lookup(a, S_REPLICA, replica, len);
    return e == NULL ? 0 : e->refs;
}

size_t mcphub_affinity_session_count(const mcphub_affinity *a)
{
    return a == NULL ? 0 : a->pools[S_SESSION].live;
}

void mcphub_affinity_foreach(const mcphub_affinity *a, mcphub_affinity_visit_fn fn,
                             void *user_data)
{
    uint32_t r;

    if (a == NULL || fn == NULL)
        return;
    for (r = a->lru_head; r != NIL;) {
        const aff_route *rt = R(a, r);
        mcphub_route view;

        view.session_id = str_at(a, S_SESSION, rt->id[S_SESSION])->s;
        view.server = str_at(a, S_SERVER, rt->id[S_SERVER])->s;
        view.node = str_at(a, S_NODE, rt->id[S_NODE])->s;
        view.replica = str_at(a, S_REPLICA, rt->id[S_REPLICA])->s;
        view.created_ms = rt->created_ms;
        view.last_activity_ms = rt->last_ms;
        r = rt->link[L_LRU].next;
        if (fn(&view, user_data) != 0)
            break;
    }
}
