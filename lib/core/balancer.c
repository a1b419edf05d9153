/* The balancer: replicas per server, picked by a per-strategy ops table.
 * See include/mcphub/balancer.h. */
#include <string.h>

#include "mcphub/balancer.h"

#include "map_int.h"
#include "mem_int.h"

#define DEFAULT_MAX_REPLICAS 65536u
#define XORSHIFT_SEED 0x9e3779b9u
/* Rejection sampling gives up after this many draws, so a broken random
 * callback costs a little bias instead of a hang. */
#define RANDOM_TRIES 16

typedef struct lb_server lb_server;

typedef struct lb_node {
    uint32_t weight;
    int healthy;
    size_t refs; /* replicas on this node; the record goes with the last */
    char id[];
} lb_node;

typedef struct lb_replica {
    lb_server *server;
    lb_node *node;
    uint32_t active;
    int healthy;
    int64_t current; /* smooth weighted round-robin state */
    char id[];
} lb_replica;

struct lb_server {
    mcphub_lb_strategy strategy; /* 0: the balancer's default */
    lb_replica **reps;           /* insertion order */
    size_t len, cap;
    size_t cursor;               /* where the next rotation starts */
    char name[];
};

struct mcphub_balancer {
    mcphub__mem mem;
    mcphub__map servers;  /* name -> lb_server */
    mcphub__map replicas; /* id -> lb_replica */
    mcphub__map nodes;    /* id -> lb_node */
    mcphub_lb_strategy default_strategy;
    mcphub_random_fn random;
    void *random_user_data;
    uint32_t xorshift;
    size_t max_replicas;
};

/* One strategy: how to pick, and what to do when a server's replica set,
 * health or weights changed. */
typedef struct lb_ops {
    lb_replica *(*pick)(mcphub_balancer *b, lb_server *s, const lb_replica *exclude);
    void (*changed)(lb_server *s);
} lb_ops;

static int usable(const lb_replica *r, const lb_replica *exclude)
{
    return r != exclude && r->healthy && r->node->healthy;
}

static void nothing_changed(lb_server *s)
{
    (void)s;
}

/* ---- round-robin: the next usable replica after the last pick ---- */

static lb_replica *rr_pick(mcphub_balancer *b, lb_server *s, const lb_replica *exclude)
{
    size_t k;

    (void)b;
    for (k = 0; k < s->len; k++) {
        size_t i = (s->cursor + k) % s->len;

        if (usable(s->reps[i], exclude)) {
            s->cursor = (i + 1) % s->len;
            return s->reps[i];
        }
    }
    return NULL;
}

/* ---- least-connections: fewest active; among equals the first after the
 * last pick, so equally loaded replicas take turns ---- */

static lb_replica *lc_pick(mcphub_balancer *b, lb_server *s, const lb_replica *exclude)
{
    lb_replica *best = NULL;
    size_t k, best_i = 0;

    (void)b;
    for (k = 0; k < s->len; k++) {
        size_t i = (s->cursor + k) % s->len;
        lb_replica *r = s->reps[i];

        if (usable(r, exclude) && (best == NULL || r->active < best->active)) {
            best = r;
            best_i = i;
        }
    }
    if (best != NULL)
        s->cursor = (best_i + 1) % s->len;
    return best;
}

/* ---- weighted: smooth weighted round-robin (each usable replica gains its
 * weight, the largest wins and pays back the total), so 3:1 comes out as
 * a a b a rather than a a a b ---- */

static lb_replica *wrr_pick(mcphub_balancer *b, lb_server *s, const lb_replica *exclude)
{
    lb_replica *best = NULL;
    int64_t total = 0;
    size_t i;

    (void)b;
    for (i = 0; i < s->len; i++) {
        lb_replica *r = s->reps[i];

        if (!usable(r, exclude))
            continue;
        r->current += r->node->weight;
        total += r->node->weight;
        if (best == NULL || r->current > best->current)
            best = r;
    }
    if (best != NULL)
        best->current -= total;
    return best;
}

/* A new set of replicas or weights starts the sequence afresh, so that
 * stale credit of a replica that was away does not make it burst. */
static void wrr_changed(lb_server *s)
{
    size_t i;

    for (i = 0; i < s->len; i++)
        s->reps[i]->current = 0;
}

/* ---- random: uniform over usable replicas ---- */

static uint32_t next_random(mcphub_balancer *b)
{
    uint32_t x;

    if (b->random != NULL)
        return b->random(b->random_user_data);
    x = b->xorshift;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b->xorshift = x;
    return x;
}

/* A uniform number below n (n >= 1): draws under 2^32 mod n are rejected
 * so that every residue is equally likely. */
static size_t uniform_below(mcphub_balancer *b, size_t n)
{
    uint32_t m = (uint32_t)n, threshold, x = 0;
    int tries;

    if (n <= 1)
        return 0;
    threshold = (uint32_t)(0u - m) % m;
    for (tries = 0; tries < RANDOM_TRIES; tries++) {
        x = next_random(b);
        if (x >= threshold)
            break;
    }
    return (size_t)(x % m);
}

static lb_replica *random_pick(mcphub_balancer *b, lb_server *s, const lb_replica *exclude)
{
    size_t i, n = 0, want;

    for (i = 0; i < s->len; i++)
        if (usable(s->reps[i], exclude))
            n++;
    if (n == 0)
        return NULL;
    want = uniform_below(b, n);
    for (i = 0; i < s->len; i++)
        if (usable(s->reps[i], exclude) && want-- == 0)
            return s->reps[i];
    return NULL; /* not reached */
}

static const lb_ops rr_ops = {rr_pick, nothing_changed};
static const lb_ops lc_ops = {lc_pick, nothing_changed};
static const lb_ops wrr_ops = {wrr_pick, wrr_changed};
static const lb_ops random_ops = {random_pick, nothing_changed};

static const lb_ops *ops_of(const mcphub_balancer *b, const lb_server *s)
{
    switch (s->strategy ? s->strategy : b->default_strategy) {
    case MCPHUB_LB_ROUND_ROBIN: return &rr_ops;
    case MCPHUB_LB_WEIGHTED: return &wrr_ops;
    case MCPHUB_LB_RANDOM: return &random_ops;
    case MCPHUB_LB_LEAST_CONNECTIONS:
    default: return &lc_ops;
    }
}

static void server_changed(const mcphub_balancer *b, lb_server *s)
{
    ops_of(b, s)->changed(s);
}

/* A node's health or weight moved: tell every server with a replica there. */
static void node_changed(const mcphub_balancer *b, const lb_node *n)
{
    size_t it = 0;
    const char *key;
    void *v;

    while (mcphub__map_next(&b->replicas, &it, &key, &v)) {
        lb_replica *r = v;

        if (r->node == n)
            server_changed(b, r->server);
    }
}

/* ---- helpers ---- */

static int valid_name(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int valid_strategy(int s)
{
    return s >= 0 && s <= MCPHUB_LB_RANDOM;
}

static int valid_weight(uint32_t w)
{
    return w >= 1 && w <= MCPHUB_BALANCER_MAX_WEIGHT;
}

/* One block holding the struct and, at offset off, its copied name.  The
 * whole struct is always allocated, padding included. */
static void *alloc_named(const mcphub__mem *mem, size_t size, size_t off, const char *name)
{
    size_t len = strlen(name);
    char *p;

    if (len > SIZE_MAX - size - 1)
        return NULL;
    p = mcphub__calloc(mem, 1, size + len + 1);
    if (p != NULL)
        memcpy(p + off, name, len + 1);
    return p;
}
#define ALLOC_NAMED(mem, type, field, str) \
    ((type *)alloc_named((mem), sizeof(type), offsetof(type, field), (str)))

static lb_server *server_alloc(mcphub_balancer *b, const char *name)
{
    return ALLOC_NAMED(&b->mem, lb_server, name, name);
}

static void server_free(mcphub_balancer *b, lb_server *s)
{
    if (s == NULL)
        return;
    mcphub__free(&b->mem, s->reps);
    mcphub__free(&b->mem, s);
}

/* Forget a server that has neither replicas nor a strategy of its own. */
static void server_maybe_drop(mcphub_balancer *b, lb_server *s)
{
    if (s->len == 0 && s->strategy == 0) {
        mcphub__map_del(&b->servers, s->name);
        server_free(b, s);
    }
}

static void node_unref(mcphub_balancer *b, lb_node *n)
{
    if (--n->refs == 0) {
        mcphub__map_del(&b->nodes, n->id);
        mcphub__free(&b->mem, n);
    }
}

/* Room for one more replica in s (capacity only; contents unchanged). */
static int server_reserve(mcphub_balancer *b, lb_server *s)
{
    lb_replica **reps;
    size_t cap;

    if (s->len < s->cap)
        return 0;
    cap = s->cap ? s->cap * 2 : 4;
    reps = mcphub__reallocarray(&b->mem, s->reps, cap, sizeof *reps);
    if (reps == NULL)
        return MCPHUB_E_NOMEM;
    s->reps = reps;
    s->cap = cap;
    return 0;
}

/* ---- public API ---- */

MCPHUB_API int mcphub_balancer_new(mcphub_balancer **out, const mcphub_balancer_opts *opts,
                                   const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_balancer *b;
    mcphub_lb_strategy strategy;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    rc = mcphub__opts_check(opts, sizeof *opts);
    if (rc != 0)
        return rc;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    strategy = MCPHUB__GET(opts, mcphub_balancer_opts, default_strategy, (mcphub_lb_strategy)0);
    if (!valid_strategy((int)strategy))
        return MCPHUB_E_INVAL;
    b = mcphub__calloc(&m, 1, sizeof *b);
    if (b == NULL)
        return MCPHUB_E_NOMEM;
    b->mem = m;
    b->default_strategy = strategy ? strategy : MCPHUB_LB_LEAST_CONNECTIONS;
    b->random = MCPHUB__GET(opts, mcphub_balancer_opts, random, NULL);
    b->random_user_data = MCPHUB__GET(opts, mcphub_balancer_opts, random_user_data, NULL);
    b->max_replicas = MCPHUB__GET(opts, mcphub_balancer_opts, max_replicas, 0);
    if (b->max_replicas == 0)
        b->max_replicas = DEFAULT_MAX_REPLICAS;
    b->xorshift = XORSHIFT_SEED;
    {
        /* Seed the maps from the random source: ids may come from peers. */
        uint32_t seed = next_random(b);

        mcphub__map_init(&b->servers, &b->mem, seed);
        mcphub__map_init(&b->replicas, &b->mem, seed ^ 0x5bd1e995u);
        mcphub__map_init(&b->nodes, &b->mem, seed ^ 0x27d4eb2fu);
    }
    *out = b;
    return 0;
}

MCPHUB_API void mcphub_balancer_free(mcphub_balancer *b)
{
    size_t it;
    const char *key;
    void *v;

    if (b == NULL)
        return;
    for (it = 0; mcphub__map_next(&b->replicas, &it, &key, &v);)
        mcphub__free(&b->mem, v);
    for (it = 0; mcphub__map_next(&b->nodes, &it, &key, &v);)
        mcphub__free(&b->mem, v);
    for (it = 0; mcphub__map_next(&b->servers, &it, &key, &v);)
        server_free(b, v);
    mcphub__map_free(&b->replicas);
    mcphub__map_free(&b->nodes);
    mcphub__map_free(&b->servers);
    mcphub__free(&b->mem, b);
}

/* Update an existing replica: node, weight, health.  Only a new node record
 * can need memory, and it is made before anything changes. */
static int replica_update(mcphub_balancer *b, lb_replica *r, const char *node, uint32_t weight,
                          int healthy)
{
    lb_node *n = mcphub__map_get(&b->nodes, node);
    int changed = 0;

    if (n == NULL) {
        n = ALLOC_NAMED(&b->mem, lb_node, id, node);
        if (n == NULL)
            return MCPHUB_E_NOMEM;
        if (mcphub__map_put(&b->nodes, n->id, n, NULL) != 0) {
            mcphub__free(&b->mem, n);
            return MCPHUB_E_NOMEM;
        }
        n->healthy = 1;
        n->weight = weight;
    }
    if (n != r->node) {
        n->refs++;
        node_unref(b, r->node);
        r->node = n;
        changed = 1;
    }
    if (n->weight != weight) {
        n->weight = weight;
        node_changed(b, n);
    }
    if (r->healthy != healthy) {
        r->healthy = healthy;
        changed = 1;
    }
    if (changed)
        server_changed(b, r->server);
    return 0;
}

MCPHUB_API int mcphub_balancer_set_replica(mcphub_balancer *b, const char *server,
                                           const char *replica, const char *node,
                                           uint32_t weight, int healthy)
{
    lb_server *s, *new_s = NULL;
    lb_node *n, *new_n = NULL;
    lb_replica *r;

    if (b == NULL || !valid_name(server) || !valid_name(replica) || !valid_name(node) ||
        !valid_weight(weight))
        return MCPHUB_E_INVAL;
    healthy = healthy != 0;
    r = mcphub__map_get(&b->replicas, replica);
    if (r != NULL) {
        if (strcmp(r->server->name, server) != 0)
            return MCPHUB_E_EXISTS;
        return replica_update(b, r, node, weight, healthy);
    }
    if (b->replicas.len >= b->max_replicas)
        return MCPHUB_E_FULL;

    /* A new replica: make every record and every table slot first, then
     * link them in with steps that cannot fail. */
    s = mcphub__map_get(&b->servers, server);
    n = mcphub__map_get(&b->nodes, node);
    if (s == NULL && b->servers.len >= b->max_replicas)
        return MCPHUB_E_FULL;
    r = ALLOC_NAMED(&b->mem, lb_replica, id, replica);
    if (r == NULL)
        goto fail;
    if (s == NULL && (s = new_s = server_alloc(b, server)) == NULL)
        goto fail;
    if (n == NULL && (n = new_n = ALLOC_NAMED(&b->mem, lb_node, id, node)) == NULL)
        goto fail;
    if (server_reserve(b, s) != 0 || mcphub__map_reserve(&b->replicas, 1) != 0 ||
        (new_s != NULL && mcphub__map_reserve(&b->servers, 1) != 0) ||
        (new_n != NULL && mcphub__map_reserve(&b->nodes, 1) != 0))
        goto fail;

    if (new_s != NULL)
        mcphub__map_put(&b->servers, s->name, s, NULL);
    if (new_n != NULL) {
        n->healthy = 1;
        n->weight = weight;
        mcphub__map_put(&b->nodes, n->id, n, NULL);
    }
    mcphub__map_put(&b->replicas, r->id, r, NULL);
    r->server = s;
    r->node = n;
    r->healthy = healthy;
    n->refs++;
    s->reps[s->len++] = r;
    if (n->weight != weight) {
        n->weight = weight;
        node_changed(b, n); /* includes s */
    } else {
        server_changed(b, s);
    }
    return 0;

fail:
    mcphub__free(&b->mem, new_n);
    server_free(b, new_s);
    mcphub__free(&b->mem, r);
    return MCPHUB_E_NOMEM;
}

MCPHUB_API int mcphub_balancer_remove_replica(mcphub_balancer *b, const char *replica)
{
    lb_replica *r;
    lb_server *s;
    size_t i;

    if (b == NULL || !valid_name(replica))
        return MCPHUB_E_INVAL;
    r = mcphub__map_del(&b->replicas, replica);
    if (r == NULL)
        return MCPHUB_E_NOTFOUND;
    s = r->server;
    for (i = 0; i < s->len && s->reps[i] != r; i++)
        ;
    memmove(&s->reps[i], &s->reps[i + 1], (s->len - i - 1) * sizeof *s->reps);
    s->len--;
    /* Keep the rotation on the replica that was next. */
    if (i < s->cursor)
        s->cursor--;
    if (s->cursor >= s->len)
        s->cursor = 0;
    node_unref(b, r->node);
    mcphub__free(&b->mem, r);
    server_changed(b, s);
    server_maybe_drop(b, s);
    return 0;
}

MCPHUB_API int mcphub_balancer_set_node_health(mcphub_balancer *b, const char *node, int healthy)
{
    lb_node *n;

    if (b == NULL || !valid_name(node))
        return MCPHUB_E_INVAL;
    n = mcphub__map_get(&b->nodes, node);
    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    healthy = healthy != 0;
    if (n->healthy != healthy) {
        n->healthy = healthy;
        node_changed(b, n);
    }
    return 0;
}

MCPHUB_API int mcphub_balancer_set_node_weight(mcphub_balancer *b, const char *node,
                                               uint32_t weight)
{
    lb_node *n;

    if (b == NULL || !valid_name(node) || !valid_weight(weight))
        return MCPHUB_E_INVAL;
    n = mcphub__map_get(&b->nodes, node);
    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    if (n->weight != weight) {
        n->weight = weight;
        node_changed(b, n);
    }
    return 0;
}

MCPHUB_API int mcphub_balancer_set_strategy(mcphub_balancer *b, const char *server,
                                            mcphub_lb_strategy strategy)
{
    lb_server *s;

    if (b == NULL || !valid_name(server) || !valid_strategy((int)strategy))
        return MCPHUB_E_INVAL;
    s = mcphub__map_get(&b->servers, server);
    if (s == NULL) {
        if (strategy == 0)
            return 0; /* already following the default */
        if (b->servers.len >= b->max_replicas)
            return MCPHUB_E_FULL;
        s = server_alloc(b, server);
        if (s == NULL)
            return MCPHUB_E_NOMEM;
        if (mcphub__map_put(&b->servers, s->name, s, NULL) != 0) {
            server_free(b, s);
            return MCPHUB_E_NOMEM;
        }
    }
    s->strategy = strategy;
    server_changed(b, s);
    server_maybe_drop(b, s);
    return 0;
}

MCPHUB_API int mcphub_balancer_pick(mcphub_balancer *b, const char *server, const char *exclude,
                                    const char **replica_out, const char **node_out)
{
    const lb_replica *ex = NULL;
    lb_replica *r;
    lb_server *s;

    if (replica_out != NULL)
        *replica_out = NULL;
    if (node_out != NULL)
        *node_out = NULL;
    if (b == NULL || server == NULL || replica_out == NULL)
        return MCPHUB_E_INVAL;
    s = mcphub__map_get(&b->servers, server);
    if (s == NULL)
        return MCPHUB_E_NOTFOUND;
    if (s->len == 0)
        return MCPHUB_E_UNAVAILABLE;
    if (exclude != NULL)
        ex = mcphub__map_get(&b->replicas, exclude);
    r = ops_of(b, s)->pick(b, s, ex);
    if (r == NULL)
        return MCPHUB_E_UNAVAILABLE;
    *replica_out = r->id;
    if (node_out != NULL)
        *node_out = r->node->id;
    return 0;
}

MCPHUB_API int mcphub_balancer_acquire(mcphub_balancer *b, const char *replica)
{
    lb_replica *r;

    if (b == NULL || replica == NULL)
        return MCPHUB_E_INVAL;
    r = mcphub__map_get(&b->replicas, replica);
    if (r == NULL)
        return MCPHUB_E_NOTFOUND;
    if (r->active == UINT32_MAX)
        return MCPHUB_E_FULL;
    r->active++;
    return 0;
}

MCPHUB_API int mcphub_balancer_release(mcphub_balancer *b, const char *replica)
{
    lb_replica *r;

    if (b == NULL || replica == NULL)
        return MCPHUB_E_INVAL;
    r = mcphub__map_get(&b->replicas, replica);
    if (r == NULL)
        return MCPHUB_E_NOTFOUND;
    if (r->active > 0)
        r->active--;
    return 0;
}

MCPHUB_API int mcphub_balancer_set_active(mcphub_balancer *b, const char *replica, uint32_t active)
{
    lb_replica *r;

    if (b == NULL || replica == NULL)
        return MCPHUB_E_INVAL;
    r = mcphub__map_get(&b->replicas, replica);
    if (r == NULL)
        return MCPHUB_E_NOTFOUND;
    r->active = active;
    return 0;
}

MCPHUB_API uint32_t mcphub_balancer_active(const mcphub_balancer *b, const char *replica)
{
    const lb_replica *r;

    if (b == NULL || replica == NULL)
        return 0;
    r = mcphub__map_get(&b->replicas, replica);
    return r != NULL ? r->active : 0;
}

MCPHUB_API size_t mcphub_balancer_healthy_count(const mcphub_balancer *b, const char *server)
{
    const lb_server *s;
    size_t i, n = 0;

    if (b == NULL || server == NULL)
        return 0;
    s = mcphub__map_get(&b->servers, server);
    if (s == NULL)
        return 0;
    for (i = 0; i < s->len; i++)
        if (usable(s->reps[i], NULL))
            n++;
    return n;
}
