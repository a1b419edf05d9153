/* Session affinity: (session, server) -> (node, replica); see
 * include/mcphub/affinity.h.
 *
 * The layout aims at ~100 bytes per route with a million routes:
 * - four string pools (sessions, servers, nodes, replicas) intern the ids.
 *   A route holds u32 pool indices; a pool entry counts the routes using it
 *   and heads the list of those routes (for sessions, nodes, replicas).
 * - routes live in fixed-size chunks addressed by a u32 index, so growing
 *   never copies or moves them; freed slots are reused through a free list.
 * - one open-addressing table of route indices keyed by (session index,
 *   server index): linear probing, backward-shift deletion, no tombstones.
 * - every route sits on four intrusive doubly linked lists threaded
 *   through u32 indices: least recently used, its session, its replica and
 *   its node.  Bulk removals walk exactly the routes they affect.
 *
 * Calls that may fail allocate everything first and link last, so a
 * failure changes nothing.  When the last route goes, all storage goes. */
#include <string.h>

#include "mcphub/affinity.h"
#include "map_int.h"
#include "mem_int.h"

#define NIL UINT32_MAX
#define DEFAULT_TTL_MS UINT64_C(1800000)
#define DEFAULT_MAX_ROUTES 2000000u
#define CHUNK_BITS 10u
#define CHUNK_LEN (1u << CHUNK_BITS) /* routes per chunk: 64 KiB */
#define MIN_TABLE 64u

/* Pools, and the index of each id in route.id[]. */
enum { S_SESSION, S_SERVER, S_NODE, S_REPLICA, S_KINDS };
/* Lists a route is on, and the index of each in route.link[]. */
enum { L_LRU, L_SESSION, L_REPLICA, L_NODE, L_KINDS };

/* An interned id. */
typedef struct aff_str {
    uint32_t refs; /* routes using it, plus holds taken inside one call */
    uint32_t head; /* first route of this session, node or replica, or NIL */
    uint32_t idx;  /* own index in its pool */
    char s[];
} aff_str;

typedef struct aff_pool {
    mcphub__map by_name; /* s -> aff_str *; its len counts live entries */
    aff_str **items;     /* index -> entry; NULL when free */
    uint32_t *free_idx;  /* stack of free indices, as large as items */
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
    uint32_t seed;
    aff_pool pools[S_KINDS];
    aff_route **chunks;
    size_t nchunks, chunks_cap;
    uint32_t used;       /* route indices handed out so far */
    uint32_t free_route; /* recycled route indices, or NIL */
    size_t count;
    aff_slot *table;
    size_t table_cap;    /* power of two, or 0 */
    uint32_t lru_head, lru_tail;
};

/* ---- helpers ------------------------------------------------------------ */

static int valid_id(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, MCPHUB_AFFINITY_MAX_ID + 1);
    return n > 0 && n <= MCPHUB_AFFINITY_MAX_ID;
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

/* ---- string pools --------------------------------------------------------- */

static aff_str *pool_find(const mcphub_affinity *a, int kind, const char *s)
{
    const aff_pool *p = &a->pools[kind];

    return p->by_name.len == 0 ? NULL : mcphub__map_get(&p->by_name, s);
}

/* Take one reference on s, interning it if new; *idx receives its index. */
static int pool_hold(mcphub_affinity *a, int kind, const char *s, uint32_t *idx)
{
    aff_pool *p = &a->pools[kind];
    aff_str *e = pool_find(a, kind, s);
    size_t len;

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
    len = strlen(s);
    e = mcphub__malloc(&a->mem, offsetof(aff_str, s) + len + 1);
    if (e == NULL)
        return MCPHUB_E_NOMEM;
    memcpy(e->s, s, len + 1);
    e->refs = 1;
    e->head = NIL;
    e->idx = p->nfree ? p->free_idx[p->nfree - 1] : p->len;
    if (mcphub__map_put(&p->by_name, e->s, e, NULL) != 0) {
        mcphub__free(&a->mem, e);
        return MCPHUB_E_NOMEM;
    }
    if (p->nfree)
        p->nfree--;
    else
        p->len++;
    p->items[e->idx] = e;
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
    mcphub__map_del(&p->by_name, e->s);
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
    mcphub__map_free(&p->by_name);
    mcphub__free(&a->mem, p->items);
    mcphub__free(&a->mem, p->free_idx);
    p->items = NULL;
    p->free_idx = NULL;
    p->cap = p->len = p->nfree = 0;
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
    chunk = mcphub__malloc(&a->mem, CHUNK_LEN * sizeof *chunk);
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

static uint32_t key_hash(const mcphub_affinity *a, uint32_t session, uint32_t server)
{
    /* The indices are ours, not a peer's, but seed anyway; then a 64-bit
     * finalizer (murmur3's) so every key bit reaches the low bits. */
    uint64_t k = ((uint64_t)session << 32 | server) ^ ((uint64_t)a->seed * UINT64_C(0x9e3779b97f4a7c15));

    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return (uint32_t)k;
}

/* Route index of (session, server), or NIL; *pos gets its slot. */
static uint32_t table_find(const mcphub_affinity *a, uint32_t session, uint32_t server,
                           size_t *pos)
{
    uint32_t h;
    size_t mask, i;

    if (a->table_cap == 0)
        return NIL;
    h = key_hash(a, session, server);
    mask = a->table_cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        const aff_slot *s = &a->table[i];

        if (s->ref == 0)
            return NIL;
        if (s->h == h) {
            const aff_route *rt = R(a, s->ref - 1);

            if (rt->id[S_SESSION] == session && rt->id[S_SERVER] == server) {
                if (pos != NULL)
                    *pos = i;
                return s->ref - 1;
            }
        }
    }
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
        mcphub__free(&a->mem, a->chunks[i]);
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

static uint32_t lookup(const mcphub_affinity *a, const char *session_id, const char *server)
{
    const aff_str *s = pool_find(a, S_SESSION, session_id);
    const aff_str *v;

    if (s == NULL)
        return NIL;
    v = pool_find(a, S_SERVER, server);
    if (v == NULL)
        return NIL;
    return table_find(a, s->idx, v->idx, NULL);
}

static void route_remove(mcphub_affinity *a, uint32_t r)
{
    aff_route *rt = R(a, r);
    size_t pos = 0;
    int k;

    if (table_find(a, rt->id[S_SESSION], rt->id[S_SERVER], &pos) == r)
        table_remove_at(a, pos);
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
    a->seed = MCPHUB__GET(opts, mcphub_affinity_opts, hash_seed, 0);
    for (k = 0; k < S_KINDS; k++)
        mcphub__map_init(&a->pools[k].by_name, &a->mem, a->seed + (uint32_t)k);
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

static int rebind(mcphub_affinity *a, uint32_t r, const char *node, const char *replica,
                  uint64_t now_ms)
{
    uint32_t node_id, replica_id;
    int rc;

    rc = pool_hold(a, S_NODE, node, &node_id);
    if (rc != 0)
        return rc;
    rc = pool_hold(a, S_REPLICA, replica, &replica_id);
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
    uint32_t ids[S_KINDS], r;
    aff_route *rt;
    int rc = 0, k, held = 0;

    if (a == NULL || !valid_id(session_id) || !valid_id(server) || !valid_id(node) ||
        !valid_id(replica))
        return MCPHUB_E_INVAL;
    r = lookup(a, session_id, server);
    if (r != NIL)
        return rebind(a, r, node, replica, now_ms);
    if (a->count >= a->max_routes)
        return MCPHUB_E_FULL;

    names[S_SESSION] = session_id;
    names[S_SERVER] = server;
    names[S_NODE] = node;
    names[S_REPLICA] = replica;
    for (held = 0; held < S_KINDS; held++) {
        rc = pool_hold(a, held, names[held], &ids[held]);
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
        s.h = key_hash(a, ids[S_SESSION], ids[S_SERVER]);
        table_place(a->table, a->table_cap, s);
    }
    a->count++;
    return 0;
}

int mcphub_affinity_get(const mcphub_affinity *a, const char *session_id, const char *server,
                        mcphub_route *out)
{
    const aff_route *rt;
    uint32_t r;

    if (a == NULL || out == NULL || !valid_id(session_id) || !valid_id(server))
        return MCPHUB_E_INVAL;
    r = lookup(a, session_id, server);
    if (r == NIL)
        return MCPHUB_E_NOTFOUND;
    rt = R(a, r);
    out->session_id = str_at(a, S_SESSION, rt->id[S_SESSION])->s;
    out->server = str_at(a, S_SERVER, rt->id[S_SERVER])->s;
    out->node = str_at(a, S_NODE, rt->id[S_NODE])->s;
    out->replica = str_at(a, S_REPLICA, rt->id[S_REPLICA])->s;
    out->created_ms = rt->created_ms;
    out->last_activity_ms = rt->last_ms;
    return 0;
}

int mcphub_affinity_touch(mcphub_affinity *a, const char *session_id, const char *server,
                          uint64_t now_ms)
{
    uint32_t r;

    if (a == NULL || !valid_id(session_id) || !valid_id(server))
        return MCPHUB_E_INVAL;
    r = lookup(a, session_id, server);
    if (r == NIL)
        return MCPHUB_E_NOTFOUND;
    R(a, r)->last_ms = now_ms;
    list_unlink(a, r, L_LRU);
    lru_append(a, r);
    return 0;
}

int mcphub_affinity_unbind(mcphub_affinity *a, const char *session_id, const char *server)
{
    uint32_t r;

    if (a == NULL || !valid_id(session_id) || !valid_id(server))
        return MCPHUB_E_INVAL;
    r = lookup(a, session_id, server);
    if (r == NIL)
        return MCPHUB_E_NOTFOUND;
    route_remove(a, r);
    drop_storage_if_empty(a);
    return 0;
}

size_t mcphub_affinity_unbind_session(mcphub_affinity *a, const char *session_id)
{
    aff_str *e;

    if (a == NULL || !valid_id(session_id))
        return 0;
    e = pool_find(a, S_SESSION, session_id);
    return e == NULL ? 0 : remove_all(a, e);
}

size_t mcphub_affinity_unbind_node(mcphub_affinity *a, const char *node)
{
    aff_str *e;

    if (a == NULL || !valid_id(node))
        return 0;
    e = pool_find(a, S_NODE, node);
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
    aff_str *e;
    uint32_t node_id, replica_id, r;
    size_t n, i;

    if (a == NULL || !valid_id(old_replica))
        return 0;
    if (new_replica != NULL && (!valid_id(new_node) || !valid_id(new_replica)))
        return 0;
    e = pool_find(a, S_REPLICA, old_replica);
    if (e == NULL)
        return 0;
    if (new_replica == NULL)
        return remove_all(a, e);

    n = e->refs; /* before the holds: new_replica may be old_replica */
    if (pool_hold(a, S_NODE, new_node, &node_id) != 0)
        return 0;
    if (pool_hold(a, S_REPLICA, new_replica, &replica_id) != 0) {
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
    const aff_str *e;

    if (a == NULL || !valid_id(replica))
        return 0;
    e = pool_find(a, S_REPLICA, replica);
    return e == NULL ? 0 : e->refs;
}

size_t mcphub_affinity_session_count(const mcphub_affinity *a)
{
    return a == NULL ? 0 : a->pools[S_SESSION].by_name.len;
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
