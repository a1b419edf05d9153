/* Node registry with rise/fall health hysteresis; see mcphub/registry.h.
 *
 * Nodes live in an array (registration order, for mcphub_registry_at and
 * tick) and in a seeded hash map keyed by id (for O(1) heartbeats).  Each
 * node is one allocation holding its id; the strings that a re-registration
 * may change (host, meta) share a second allocation that is swapped whole. */
#include <stdio.h>
#include <string.h>

#include "mcphub/registry.h"

#include "map_int.h"
#include "mem_int.h"

#define DEFAULT_INTERVAL_MS 5000u
#define DEFAULT_TIMEOUT_MS 15000u
#define DEFAULT_FALL 3u
#define DEFAULT_RISE 2u
#define DEFAULT_MAX_NODES 1024u
#define FIXED_SEED 0x6d637068u /* without a random source */

typedef struct reg_node {
    mcphub_node view;    /* handed out by get/at; strings point into id and strs */
    char *strs;          /* host and meta strings, one block */
    size_t index;        /* position in registry->nodes */
    uint32_t fails;      /* consecutive failed checks */
    uint32_t successes;  /* consecutive successes while not online; 0 while online */
    uint64_t last_success_ms; /* heartbeat, passed check or registration */
    char id[];           /* the map key */
} reg_node;

struct mcphub_registry {
    mcphub__mem mem;
    mcphub__map by_id;
    reg_node **nodes;
    size_t len, cap;
    size_t by_status[4]; /* indexed by mcphub_node_status */
    uint64_t timeout_ms, unhealthy_ms;
    uint32_t fall, rise, max_nodes;
    mcphub_registry_status_fn on_status;
    void *user_data;
    mcphub_log_fn log;
    void *log_user_data;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t since(uint64_t then, uint64_t now)
{
    return now > then ? now - then : 0; /* a clock that steps back reads as 0 */
}

static void inc_sat(uint32_t *c)
{
    if (*c < UINT32_MAX)
        (*c)++;
}

/* Length of s if it is at most max chars, else max + 1 (never reads past). */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;

    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

static int valid_id(const char *id)
{
    size_t i, n;

    if (id == NULL)
        return 0;
    n = bounded_len(id, MCPHUB_REGISTRY_ID_MAX);
    if (n == 0 || n > MCPHUB_REGISTRY_ID_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* The host is put into URLs by the coordinator: refuse what would change
 * their meaning (whitespace, controls, / ? # @ \). */
static int valid_host(const char *host)
{
    size_t i, n;

    if (host == NULL)
        return 0;
    n = bounded_len(host, MCPHUB_REGISTRY_HOST_MAX);
    if (n == 0 || n > MCPHUB_REGISTRY_HOST_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];

        if (c <= ' ' || c >= 0x7f || strchr("/?#@\\", c) != NULL)
            return 0;
    }
    return 1;
}

static int valid_meta_string(const char *s)
{
    return s == NULL || bounded_len(s, MCPHUB_REGISTRY_META_MAX) <= MCPHUB_REGISTRY_META_MAX;
}

static int same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* ---- status changes ----------------------------------------------------------- */

static void set_status(mcphub_registry *r, reg_node *n, mcphub_node_status to,
                       mcphub_node_status from, const char *reason)
{
    char line[256];

    if (n->view.status != to) {
        r->by_status[n->view.status]--;
        r->by_status[to]++;
        n->view.status = to;
    }
    if (r->log != NULL) {
        snprintf(line, sizeof line, "node_status node=%s from=%s to=%s reason=%s", n->id,
                 mcphub_node_status_name(from), mcphub_node_status_name(to), reason);
        r->log(to == MCPHUB_NODE_ONLINE ? MCPHUB_LOG_INFO : MCPHUB_LOG_WARN, line,
               r->log_user_data);
    }
    if (r->on_status != NULL)
        r->on_status(&n->view, from, reason, r->user_data);
}

static void change(mcphub_registry *r, reg_node *n, mcphub_node_status to, const char *reason)
{
    if (n->view.status != to)
        set_status(r, n, to, n->view.status, reason);
}

static int heartbeat_fresh(const mcphub_registry *r, const reg_node *n, uint64_t now_ms)
{
    return since(n->view.last_heartbeat_ms, now_ms) < r->unhealthy_ms;
}

/* One success toward rise for a node that is not online.  Silence as long
 * as the one that makes a node unhealthy breaks a run of successes. */
static void success(mcphub_registry *r, reg_node *n, uint64_t now_ms, const char *reason)
{
    uint64_t gap = since(n->last_success_ms, now_ms);

    if (now_ms > n->last_success_ms)
        n->last_success_ms = now_ms;
    if (n->view.status == MCPHUB_NODE_ONLINE)
        return;
    if (gap >= r->unhealthy_ms)
        n->successes = 0;
    inc_sat(&n->successes);
    if (n->successes >= r->rise && heartbeat_fresh(r, n, now_ms)) {
        n->successes = 0;
        change(r, n, MCPHUB_NODE_ONLINE, reason);
    }
}

static void touch(reg_node *n, uint64_t now_ms)
{
    if (now_ms > n->view.last_heartbeat_ms)
        n->view.last_heartbeat_ms = now_ms;
}

/* What tick would do to n at now_ms, or 0 for nothing. */
static mcphub_node_status due_status(const mcphub_registry *r, const reg_node *n,
                                     uint64_t now_ms, const char **reason)
{
    uint64_t idle = since(n->view.last_heartbeat_ms, now_ms);

    if (n->view.status == MCPHUB_NODE_OFFLINE)
        return (mcphub_node_status)0;
    if (idle >= r->timeout_ms) {
        *reason = "heartbeat-timeout";
        return MCPHUB_NODE_OFFLINE;
    }
    if (n->view.status == MCPHUB_NODE_ONLINE && idle >= r->unhealthy_ms) {
        *reason = "missed-heartbeat";
        return MCPHUB_NODE_UNHEALTHY;
    }
    return (mcphub_node_status)0;
}

/* ---- new / free ---------------------------------------------------------------- */

MCPHUB_API int mcphub_registry_new(mcphub_registry **out, const mcphub_registry_opts *opts,
                                   const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_registry *r;
    mcphub_random_fn rand_fn;
    uint64_t interval;
    uint32_t seed = FIXED_SEED;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__opts_check(opts, sizeof *opts);
    if (rc == 0)
        rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    r = mcphub__calloc(&m, 1, sizeof *r);
    if (r == NULL)
        return MCPHUB_E_NOMEM;
    r->mem = m;

    interval = MCPHUB__GET(opts, mcphub_registry_opts, heartbeat_interval_ms, 0);
    if (interval == 0)
        interval = DEFAULT_INTERVAL_MS;
    r->timeout_ms = MCPHUB__GET(opts, mcphub_registry_opts, heartbeat_timeout_ms, 0);
    if (r->timeout_ms == 0)
        r->timeout_ms = DEFAULT_TIMEOUT_MS;
    r->unhealthy_ms = MCPHUB__GET(opts, mcphub_registry_opts, unhealthy_after_ms, 0);
    if (r->unhealthy_ms == 0)
        r->unhealthy_ms = add_sat(interval, interval);
    if (r->unhealthy_ms > r->timeout_ms)
        r->unhealthy_ms = r->timeout_ms;
    r->fall = MCPHUB__GET(opts, mcphub_registry_opts, fall, 0);
    if (r->fall == 0)
        r->fall = DEFAULT_FALL;
    r->rise = MCPHUB__GET(opts, mcphub_registry_opts, rise, 0);
    if (r->rise == 0)
        r->rise = DEFAULT_RISE;
    r->max_nodes = MCPHUB__GET(opts, mcphub_registry_opts, max_nodes, 0);
    if (r->max_nodes == 0)
        r->max_nodes = DEFAULT_MAX_NODES;
    r->on_status = MCPHUB__GET(opts, mcphub_registry_opts, on_status, NULL);
    r->user_data = MCPHUB__GET(opts, mcphub_registry_opts, user_data, NULL);
    r->log = MCPHUB__GET(opts, mcphub_registry_opts, log, NULL);
    r->log_user_data = MCPHUB__GET(opts, mcphub_registry_opts, log_user_data, NULL);
    rand_fn = MCPHUB__GET(opts, mcphub_registry_opts, random, NULL);
    if (rand_fn != NULL)
        seed = rand_fn(MCPHUB__GET(opts, mcphub_registry_opts, random_user_data, NULL));

    mcphub__map_init(&r->by_id, &r->mem, seed);
    *out = r;
    return 0;
}

static void node_free(const mcphub__mem *m, reg_node *n)
{
    mcphub__free(m, n->strs);
    mcphub__free(m, n);
}

MCPHUB_API void mcphub_registry_free(mcphub_registry *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->len; i++)
        node_free(&r->mem, r->nodes[i]);
    mcphub__free(&r->mem, r->nodes);
    mcphub__map_free(&r->by_id);
    mcphub__free(&r->mem, r);
}

/* ---- register ------------------------------------------------------------------- */

/* The caller's info, read through its size and checked. */
typedef struct node_fields {
    const char *id, *host;
    mcphub_node_role role;
    uint16_t port, internal_port;
    mcphub_node_meta meta;
    uint32_t weight, max_servers;
} node_fields;

static int read_info(const mcphub_node_info *info, node_fields *f)
{
    static const mcphub_node_meta no_meta = {NULL, NULL, NULL, 0, 0};

    if (info == NULL || mcphub__opts_check(info, sizeof *info) != 0)
        return MCPHUB_E_INVAL;
    f->id = MCPHUB__GET(info, mcphub_node_info, id, NULL);
    f->role = MCPHUB__GET(info, mcphub_node_info, role, (mcphub_node_role)0);
    f->host = MCPHUB__GET(info, mcphub_node_info, host, NULL);
    f->port = MCPHUB__GET(info, mcphub_node_info, port, 0);
    f->internal_port = MCPHUB__GET(info, mcphub_node_info, internal_port, 0);
    f->meta = MCPHUB__GET(info, mcphub_node_info, meta, no_meta);
    f->weight = MCPHUB__GET(info, mcphub_node_info, weight, 0);
    f->max_servers = MCPHUB__GET(info, mcphub_node_info, max_servers, 0);
    if (f->weight == 0)
        f->weight = 1;
    if (f->role == 0)
        f->role = MCPHUB_ROLE_WORKER;
    if (!valid_id(f->id) || !valid_host(f->host) || f->port == 0)
        return MCPHUB_E_INVAL;
    if (f->role != MCPHUB_ROLE_MASTER && f->role != MCPHUB_ROLE_WORKER)
        return MCPHUB_E_INVAL;
    if (!valid_meta_string(f->meta.hostname) || !valid_meta_string(f->meta.version) ||
        !valid_meta_string(f->meta.os))
        return MCPHUB_E_INVAL;
    return 0;
}

static char *put_string(char **at, const char *s)
{
    char *start = *at;
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    memcpy(start, s, n);
    *at += n;
    return start;
}

/* Copy host and meta strings into one new block; *host_out and *meta_out
 * get pointers into it, for the caller to install once nothing can fail. */
static char *copy_strings(const mcphub__mem *m, const node_fields *f, const char **host_out,
                          mcphub_node_meta *meta_out)
{
    size_t n = strlen(f->host) + 1;
    char *block, *at;

    n += f->meta.hostname ? strlen(f->meta.hostname) + 1 : 0;
    n += f->meta.version ? strlen(f->meta.version) + 1 : 0;
    n += f->meta.os ? strlen(f->meta.os) + 1 : 0;
    block = mcphub__malloc(m, n);
    if (block == NULL)
        return NULL;
    at = block;
    *meta_out = f->meta;
    *host_out = put_string(&at, f->host);
    meta_out->hostname = put_string(&at, f->meta.hostname);
    meta_out->version = put_string(&at, f->meta.version);
    meta_out->os = put_string(&at, f->meta.os);
    return block;
}

static int strings_changed(const reg_node *n, const node_fields *f)
{
    return !same_string(n->view.host, f->host) ||
           !same_string(n->view.meta.hostname, f->meta.hostname) ||
           !same_string(n->view.meta.version, f->meta.version) ||
           !same_string(n->view.meta.os, f->meta.os);
}

static void apply_fields(reg_node *n, const node_fields *f)
{
    n->view.role = f->role;
    n->view.port = f->port;
    n->view.internal_port = f->internal_port;
    n->view.meta.cpu_count = f->meta.cpu_count;
    n->view.meta.memory_total = f->meta.memory_total;
    n->view.weight = f->weight;
    n->view.max_servers = f->max_servers;
}

static int reregister(mcphub_registry *r, reg_node *n, const node_fields *f, uint64_t now_ms)
{
    if (strings_changed(n, f)) {
        const char *host;
        mcphub_node_meta meta;
        char *block = copy_strings(&r->mem, f, &host, &meta);

        if (block == NULL)
            return MCPHUB_E_NOMEM;
        mcphub__free(&r->mem, n->strs);
        n->strs = block;
        n->view.host = host;
        n->view.meta = meta;
    }
    apply_fields(n, f);
    touch(n, now_ms);
    success(r, n, now_ms, "registered");
    return 0;
}

/* Room for one more pointer in r->nodes; growing early changes nothing
 * anyone can see. */
static int reserve_slot(mcphub_registry *r)
{
    size_t cap;
    reg_node **nodes;

    if (r->len < r->cap)
        return 0;
    cap = r->cap ? r->cap * 2 : 16;
    if (cap > r->max_nodes)
        cap = r->max_nodes;
    nodes = mcphub__reallocarray(&r->mem, r->nodes, cap, sizeof *nodes);
    if (nodes == NULL)
        return MCPHUB_E_NOMEM;
    r->nodes = nodes;
    r->cap = cap;
    return 0;
}

static int add_node(mcphub_registry *r, const node_fields *f, uint64_t now_ms)
{
    size_t idlen = strlen(f->id);
    reg_node *n;
    int rc;

    if (r->len >= r->max_nodes)
        return MCPHUB_E_FULL;
    /* Allocate everything first, then commit: a failure changes nothing. */
    n = mcphub__calloc(&r->mem, 1, sizeof *n + idlen + 1);
    if (n == NULL)
        return MCPHUB_E_NOMEM;
    n->strs = copy_strings(&r->mem, f, &n->view.host, &n->view.meta);
    if (n->strs == NULL) {
        node_free(&r->mem, n);
        return MCPHUB_E_NOMEM;
    }
    rc = reserve_slot(r);
    if (rc == 0)
        rc = mcphub__map_reserve(&r->by_id, 1);
    if (rc != 0) {
        node_free(&r->mem, n);
        return rc;
    }

    memcpy(n->id, f->id, idlen + 1);
    n->view.id = n->id;
    apply_fields(n, f);
    n->view.status = MCPHUB_NODE_ONLINE;
    n->view.last_heartbeat_ms = now_ms;
    n->view.registered_at_ms = now_ms;
    n->last_success_ms = now_ms;
    n->index = r->len;
    rc = mcphub__map_put(&r->by_id, n->id, n, NULL);
    (void)rc; /* cannot fail after the reserve above */
    r->nodes[r->len++] = n;
    r->by_status[MCPHUB_NODE_ONLINE]++;
    set_status(r, n, MCPHUB_NODE_ONLINE, MCPHUB_NODE_OFFLINE, "registered");
    return 0;
}

MCPHUB_API int mcphub_registry_register(mcphub_registry *r, const mcphub_node_info *info,
                                        uint64_t now_ms, int *created_out)
{
    node_fields f;
    reg_node *n;
    int rc;

    if (r == NULL)
        return MCPHUB_E_INVAL;
    rc = read_info(info, &f);
    if (rc != 0)
        return rc;
    n = mcphub__map_get(&r->by_id, f.id);
    rc = n != NULL ? reregister(r, n, &f, now_ms) : add_node(r, &f, now_ms);
    if (rc == 0 && created_out != NULL)
        *created_out = n == NULL;
    return rc;
}

/* ---- reports ----------------------------------------------------------------------- */

static reg_node *lookup(const mcphub_registry *r, const char *id)
{
    if (r == NULL || id == NULL)
        return NULL;
    return mcphub__map_get(&r->by_id, id);
}

MCPHUB_API int mcphub_registry_heartbeat(mcphub_registry *r, const char *id,
                                         const mcphub_node_metrics *metrics,
                                         uint64_t config_version, uint64_t now_ms)
{
    reg_node *n;

    if (r == NULL || id == NULL)
        return MCPHUB_E_INVAL;
    n = mcphub__map_get(&r->by_id, id);
    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    if (metrics != NULL) {
        n->view.metrics = *metrics;
        /* The scheduler compares these: keep them in range, NaN included. */
        if (!(metrics->cpu_percent >= 0.0))
            n->view.metrics.cpu_percent = 0.0;
        else if (metrics->cpu_percent > 100.0)
            n->view.metrics.cpu_percent = 100.0;
    }
    n->view.config_version = config_version;
    touch(n, now_ms);
    success(r, n, now_ms, "recovered");
    return 0;
}

MCPHUB_API int mcphub_registry_check_result(mcphub_registry *r, const char *id, int ok,
                                            uint64_t now_ms)
{
    reg_node *n;

    if (r == NULL || id == NULL)
        return MCPHUB_E_INVAL;
    n = mcphub__map_get(&r->by_id, id);
    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    if (ok) {
        n->fails = 0;
        success(r, n, now_ms, "recovered");
        return 0;
    }
    inc_sat(&n->fails);
    n->successes = 0;
    /* A failed check only ever moves a node down: an offline node stays
     * offline (it must not bounce back to unhealthy and fail over again). */
    if (n->fails >= r->fall)
        change(r, n, MCPHUB_NODE_OFFLINE, "check-failed");
    else if (n->view.status == MCPHUB_NODE_ONLINE)
        change(r, n, MCPHUB_NODE_UNHEALTHY, "check-failed");
    return 0;
}

MCPHUB_API int mcphub_registry_remove(mcphub_registry *r, const char *id)
{
    char line[200];
    reg_node *n;
    size_t i;

    if (r == NULL || id == NULL)
        return MCPHUB_E_INVAL;
    n = mcphub__map_del(&r->by_id, id);
    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    /* Keep registration order for the rest: removal is rare, O(n) is fine. */
    for (i = n->index + 1; i < r->len; i++) {
        r->nodes[i - 1] = r->nodes[i];
        r->nodes[i - 1]->index = i - 1;
    }
    r->len--;
    r->by_status[n->view.status]--;
    if (r->log != NULL) {
        snprintf(line, sizeof line, "node_removed node=%s", n->id);
        r->log(MCPHUB_LOG_INFO, line, r->log_user_data);
    }
    node_free(&r->mem, n);
    return 0;
}

/* ---- views ------------------------------------------------------------------------- */

MCPHUB_API const mcphub_node *mcphub_registry_get(const mcphub_registry *r, const char *id)
{
    reg_node *n = lookup(r, id);

    return n != NULL ? &n->view : NULL;
}

MCPHUB_API size_t mcphub_registry_count(const mcphub_registry *r)
{
    return r != NULL ? r->len : 0;
}

MCPHUB_API size_t mcphub_registry_count_status(const mcphub_registry *r, mcphub_node_status s)
{
    if (r == NULL || s < MCPHUB_NODE_ONLINE || s > MCPHUB_NODE_OFFLINE)
        return 0;
    return r->by_status[s];
}

MCPHUB_API const mcphub_node *mcphub_registry_at(const mcphub_registry *r, size_t i)
{
    if (r == NULL || i >= r->len)
        return NULL;
    return &r->nodes[i]->view;
}

/* ---- time ---------------------------------------------------------------------------- */

MCPHUB_API void mcphub_registry_tick(mcphub_registry *r, uint64_t now_ms)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->len; i++) {
        reg_node *n = r->nodes[i];
        const char *reason = NULL;
        mcphub_node_status to = due_status(r, n, now_ms, &reason);

        if (to != 0)
            change(r, n, to, reason);
    }
}

MCPHUB_API uint64_t mcphub_registry_next_deadline(const mcphub_registry *r)
{
    uint64_t best = UINT64_MAX;
    size_t i;

    if (r == NULL)
        return best;
    /* A plain scan: heartbeats stay O(1) with no heap to keep in order. */
    for (i = 0; i < r->len; i++) {
        const reg_node *n = r->nodes[i];
        uint64_t when;

        if (n->view.status == MCPHUB_NODE_OFFLINE)
            continue;
        when = add_sat(n->view.last_heartbeat_ms, n->view.status == MCPHUB_NODE_ONLINE
                                                      ? r->unhealthy_ms
                                                      : r->timeout_ms);
        if (when < best)
            best = when;
    }
    return best;
}
