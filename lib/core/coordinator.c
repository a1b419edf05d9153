/* The coordinator: the master's brain.  See include/mcphub/coordinator.h.
 *
 * Model.  The desired state is a list of servers (config + replica settings).
 * The actual state is the replica table: every replica the coordinator
 * placed or adopted, with the status its worker last reported.  Reconcile
 * asks the scheduler for a plan from both and carries it out through the
 * action callback; heartbeats and action outcomes update the actual state.
 * Nothing here waits: an action that is not confirmed in time is sent again,
 * and a worker that lost a replica is told again in its heartbeat reply. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator_int.h"
#include "wire_int.h"

/* Replicas of one server; the scheduler's per-server bound. */
#define MAX_REPLICAS_PER_SERVER 1024u

/* ---- small helpers ---------------------------------------------------------- */

void mcphub__coord_log(mcphub_coordinator *c, mcphub_log_level level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->log(level, buf, c->log_user_data);
}

static int fail(mcphub_coordinator *c, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(mcphub_coordinator *c, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

int mcphub__coord_vec_push(const mcphub__mem *m, coord_vec *v, void *item)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void **items = mcphub__reallocarray(m, v->items, cap, sizeof *items);

        if (items == NULL)
            return MCPHUB_E_NOMEM;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = item;
    return 0;
}

void mcphub__coord_vec_remove_at(coord_vec *v, size_t i)
{
    memmove(&v->items[i], &v->items[i + 1], (v->len - i - 1) * sizeof v->items[0]);
    v->len--;
}

static size_t vec_index(const coord_vec *v, const void *item)
{
    size_t i;

    for (i = 0; i < v->len; i++)
        if (v->items[i] == item)
            return i;
    return v->len;
}

static uint32_t next_random(mcphub_coordinator *c)
{
    uint32_t x;

    if (c->random != NULL)
        return c->random(c->random_user_data);
    x = c->xorshift;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->xorshift = x;
    return x;
}

static int node_is(const mcphub_coordinator *c, const char *node, mcphub_node_status s)
{
    const mcphub_node *n = mcphub_registry_get(c->registry, node);

    return n != NULL && n->status == s;
}

/* ---- servers ------------------------------------------------------------------- */

coord_server *mcphub__coord_server(const mcphub_coordinator *c, const char *name)
{
    return mcphub__map_get(&c->server_by_name, name);
}

static void free_strv(const mcphub__mem *m, char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        mcphub__free(m, v[i]);
    mcphub__free(m, v);
}

void mcphub__coord_server_free(mcphub_coordinator *c, coord_server *s)
{
    if (s == NULL)
        return;
    mcphub__free(&c->mem, s->name);
    mcphub__free(&c->mem, s->config_json);
    free_strv(&c->mem, s->node_ids, s->node_ids_len);
    free_strv(&c->mem, s->exclude_node_ids, s->exclude_node_ids_len);
    mcphub__free(&c->mem, s->shortfall);
    mcphub__free(&c->mem, s);
}

coord_server *mcphub__coord_server_new(mcphub_coordinator *c, const char *name)
{
    coord_server *s = mcphub__calloc(&c->mem, 1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->name = mcphub__strdup(&c->mem, name);
    s->config_json = mcphub__strdup(&c->mem, "{}");
    if (s->name == NULL || s->config_json == NULL) {
        mcphub__coord_server_free(c, s);
        return NULL;
    }
    s->replicas = 1;
    return s;
}

static int dup_strv(const mcphub__mem *m, const char *const *in, size_t n, char ***out)
{
    char **v;
    size_t i;

    *out = NULL;
    if (n == 0)
        return 0;
    v = mcphub__calloc(m, n, sizeof *v);
    if (v == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        if (in[i] == NULL || (v[i] = mcphub__strdup(m, in[i])) == NULL) {
            free_strv(m, v, i);
            return in[i] == NULL ? MCPHUB_E_INVAL : MCPHUB_E_NOMEM;
        }
    }
    *out = v;
    return 0;
}

/* Copy rc's replica settings into s; all or nothing. */
int mcphub__coord_server_apply_rc(mcphub_coordinator *c, coord_server *s,
                                  const mcphub_replica_config *rc)
{
    char **nodes = NULL, **excl = NULL;
    size_t nn = MCPHUB__GET(rc, mcphub_replica_config, node_ids_len, 0);
    size_t ne = MCPHUB__GET(rc, mcphub_replica_config, exclude_node_ids_len, 0);
    mcphub_lb_strategy st = MCPHUB__GET(rc, mcphub_replica_config, strategy, (mcphub_lb_strategy)0);
    int rc_ = mcphub__opts_check(rc, sizeof *rc);

    if (rc_ != 0)
        return fail(c, rc_, "replica config: unknown fields set");
    if (st != 0 && (st < MCPHUB_LB_ROUND_ROBIN || st > MCPHUB_LB_RANDOM))
        return fail(c, MCPHUB_E_INVAL, "replica config: unknown strategy %d", (int)st);
    if (rc->replicas > MAX_REPLICAS_PER_SERVER)
        return fail(c, MCPHUB_E_INVAL, "replicas (%u) must be at most %u", rc->replicas,
                    MAX_REPLICAS_PER_SERVER);
    if ((rc_ = dup_strv(&c->mem, MCPHUB__GET(rc, mcphub_replica_config, node_ids, NULL), nn,
                        &nodes)) != 0)
        return fail(c, rc_, "replica config: bad affinity.nodeIds");
    if ((rc_ = dup_strv(&c->mem, MCPHUB__GET(rc, mcphub_replica_config, exclude_node_ids, NULL),
                        ne, &excl)) != 0) {
        free_strv(&c->mem, nodes, nn);
        return fail(c, rc_, "replica config: bad affinity.excludeNodeIds");
    }
    if (st != s->strategy && c->balancer != NULL &&
        (rc_ = mcphub_balancer_set_strategy(c->balancer, s->name, st)) != 0) {
        free_strv(&c->mem, nodes, nn);
        free_strv(&c->mem, excl, ne);
        return fail(c, rc_, "balancer: %s", mcphub_strerror(rc_));
    }
    free_strv(&c->mem, s->node_ids, s->node_ids_len);
    free_strv(&c->mem, s->exclude_node_ids, s->exclude_node_ids_len);
    s->node_ids = nodes;
    s->node_ids_len = nn;
    s->exclude_node_ids = excl;
    s->exclude_node_ids_len = ne;
    s->replicas = rc->replicas;
    s->strategy = st;
    c->dirty = 1;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = 0;

    if (s == NULL || *s == '\0')
        return 0;
    for (; s[n] != '\0'; n++) {
        char ch = s[n];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return n <= 128;
}

static void push_config(mcphub_coordinator *c, coord_server *s);
static void release_replica(mcphub_coordinator *c, struct coord_replica *r, const char *reason);

/* A server's config goes to workers in allocate messages, so it must be
 * what the wire carries: one JSON object the wire parser accepts.  (Found
 * by fuzzing: any text used to be stored, then every allocate of the
 * server failed to encode and the saved state held {} instead.) */
static int config_ok(mcphub_coordinator *c, const char *server, const char *config_json)
{
    mcphub_wire_error err;
    json_t *v = NULL;
    int rc = mcphub__wire_parse(config_json, strlen(config_json), &c->mem, &v, &err);
    int is_object = rc == 0 && json_is_object(v);

    json_decref(v);
    if (rc == MCPHUB_E_NOMEM)
        return fail(c, MCPHUB_E_NOMEM, "out of memory");
    if (rc != 0)
        return fail(c, MCPHUB_E_INVAL, "config of server %s is not valid JSON: %s", server,
                    err.text);
    if (!is_object)
        return fail(c, MCPHUB_E_INVAL, "config of server %s must be a JSON object", server);
    return 0;
}

MCPHUB_API int mcphub_coordinator_set_server(mcphub_coordinator *c, const char *server,
                                             const char *config_json,
                                             const mcphub_replica_config *rc)
{
    coord_server *s;
    char *cfg = NULL;
    int created = 0, rc_;

    if (c == NULL || !valid_name(server))
        return c ? fail(c, MCPHUB_E_INVAL, "server name \"%s\" must be 1-128 characters of "
                        "A-Z a-z 0-9 . _ -", server ? server : "") : MCPHUB_E_INVAL;
    if (rc != NULL && rc->server != NULL && strcmp(rc->server, server) != 0)
        return fail(c, MCPHUB_E_INVAL, "replica config names server %s, not %s", rc->server,
                    server);
    if (config_json != NULL && (rc_ = config_ok(c, server, config_json)) != 0)
        return rc_;
    s = mcphub__coord_server(c, server);
    if (s == NULL) {
        if (c->servers.len >= c->max_servers)
            return fail(c, MCPHUB_E_FULL, "at most %u servers", c->max_servers);
        if ((s = mcphub__coord_server_new(c, server)) == NULL)
            return fail(c, MCPHUB_E_NOMEM, "out of memory");
        created = 1;
    }
    if (config_json != NULL && strcmp(config_json, s->config_json) != 0 &&
        (cfg = mcphub__strdup(&c->mem, config_json)) == NULL) {
        rc_ = MCPHUB_E_NOMEM;
        goto err;
    }
    if (created && ((rc_ = mcphub__map_reserve(&c->server_by_name, 1)) != 0 ||
                    (rc_ = mcphub__coord_vec_push(&c->mem, &c->servers, s)) != 0))
        goto err;
    if (rc != NULL && (rc_ = mcphub__coord_server_apply_rc(c, s, rc)) != 0) {
        if (created)
            c->servers.len--;
        mcphub__free(&c->mem, cfg);
        if (created)
            mcphub__coord_server_free(c, s);
        return rc_;
    }
    if (created)
        mcphub__map_put(&c->server_by_name, s->name, s, NULL); /* reserved: cannot fail */
    if (cfg != NULL || created) {
        if (cfg != NULL) {
            mcphub__free(&c->mem, s->config_json);
            s->config_json = cfg;
        }
        s->config_version++;
        mcphub__coord_log(c, MCPHUB_LOG_INFO, "server_config server=%s config_version=%llu",
                          s->name, (unsigned long long)s->config_version);
        if (!created)
            push_config(c, s);
    }
    c->dirty = 1;
    return 0;
err:
    mcphub__free(&c->mem, cfg);
    if (created)
        mcphub__coord_server_free(c, s);
    return fail(c, rc_, "out of memory");
}

MCPHUB_API int mcphub_coordinator_set_replicas(mcphub_coordinator *c,
                                               const mcphub_replica_config *rc)
{
    coord_server *s;
    int rc_;

    if (c == NULL || rc == NULL || rc->server == NULL)
        return c ? fail(c, MCPHUB_E_INVAL, "replica config needs a server") : MCPHUB_E_INVAL;

    s = mcphub__coord_server(c, rc->server);
    if (s == NULL)
        return fail(c, MCPHUB_E_NOTFOUND, "unknown server %s", rc->server);
    if ((rc_ = mcphub__coord_server_apply_rc(c, s, rc)) == 0)
        s->from_api = 1;
    return rc_;
}

MCPHUB_API int mcphub_coordinator_remove_server(mcphub_coordinator *c, const char *server)
{
    coord_server *s;
    size_t i;

    if (c == NULL || server == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__coord_server(c, server)) == NULL)
        return fail(c, MCPHUB_E_NOTFOUND, "unknown server %s", server);
    for (i = c->replicas.len; i-- > 0;) {
        coord_replica *r = c->replicas.items[i];

        if (strcmp(r->server, server) == 0)
            release_replica(c, r, "server-removed");
    }
    mcphub_balancer_set_strategy(c->balancer, server, (mcphub_lb_strategy)0);
    mcphub__map_del(&c->server_by_name, s->name);
    mcphub__coord_vec_remove_at(&c->servers, vec_index(&c->servers, s));
    mcphub__coord_log(c, MCPHUB_LOG_INFO, "server_removed server=%s", s->name);
    mcphub__coord_server_free(c, s);
    c->dirty = 1;
    return 0;
}

static void fill_server_state(const mcphub_coordinator *c, const coord_server *s,
                              mcphub_server_state *out)
{
    (void)c;
    memset(out, 0, sizeof *out);
    out->server = s->name;
    out->config_json = s->config_json;
    out->config_version = s->config_version;
    out->replicas = s->replicas;
    out->node_ids = (const char *const *)s->node_ids;
    out->node_ids_len = s->node_ids_len;
    out->exclude_node_ids = (const char *const *)s->exclude_node_ids;
    out->exclude_node_ids_len = s->exclude_node_ids_len;
    out->strategy = s->strategy;
    out->running = s->running;
    out->shortfall = s->shortfall;
}

MCPHUB_API size_t mcphub_coordinator_server_count(const mcphub_coordinator *c)
{
    return c ? c->servers.len : 0;
}

MCPHUB_API int mcphub_coordinator_server_at(const mcphub_coordinator *c, size_t i,
                                            mcphub_server_state *out)
{
    if (c == NULL || out == NULL || i >= c->servers.len)
        return MCPHUB_E_NOTFOUND;
    fill_server_state(c, c->servers.items[i], out);
    return 0;
}

MCPHUB_API int mcphub_coordinator_server_get(const mcphub_coordinator *c, const char *server,
                                             mcphub_server_state *out)
{
    const coord_server *s;

    if (c == NULL || server == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__coord_server(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    fill_server_state(c, s, out);
    return 0;
}

/* ---- replicas --------------------------------------------------------------------- */

static coord_replica *replica_get(const mcphub_coordinator *c, const char *id)
{
    return mcphub__map_get(&c->replica_by_id, id);
}

static void replica_free(mcphub_coordinator *c, coord_replica *r)
{
    if (r == NULL)
        return;
    mcphub__free(&c->mem, r->id);
    mcphub__free(&c->mem, r->server);
    mcphub__free(&c->mem, r->node);
    mcphub__free(&c->mem, r->error);
    mcphub__free(&c->mem, r);
}

static int replica_routable(const mcphub_coordinator *c, const coord_replica *r)
{
    return r->view.status == MCPHUB_REPLICA_RUNNING && node_is(c, r->node, MCPHUB_NODE_ONLINE);
}

/* Keep the balancer's view of one replica in step with ours. */
static void sync_balancer(mcphub_coordinator *c, const coord_replica *r)
{
    const mcphub_node *n = mcphub_registry_get(c->registry, r->node);
    int rc;

    rc = mcphub_balancer_set_replica(c->balancer, r->server, r->id, r->node,
                                     n != NULL && n->weight ? n->weight : 1,
                                     replica_routable(c, r));
    if (rc != 0)
        mcphub__coord_log(c, MCPHUB_LOG_WARN, "balancer_update_failed replica=%s error=\"%s\"",
                          r->id, mcphub_strerror(rc));
}

static void recount_running(mcphub_coordinator *c)
{
    size_t i;

    for (i = 0; i < c->servers.len; i++)
        ((coord_server *)c->servers.items[i])->running = 0;
    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];
        coord_server *s = mcphub__coord_server(c, r->server);

        if (s != NULL && r->view.status == MCPHUB_REPLICA_RUNNING)
            s->running++;
    }
}

static void set_status(mcphub_coordinator *c, coord_replica *r, mcphub_replica_status st,
                       const char *error)
{
    mcphub_replica_status old = r->view.status;
    char *e = NULL;

    if (error != NULL && (r->error == NULL || strcmp(error, r->error) != 0)) {
        e = mcphub__strdup(&c->mem, error);
        if (e != NULL) { /* on OOM keep the old text: status still changes */
            mcphub__free(&c->mem, r->error);
            r->error = e;
        }
    } else if (error == NULL && st == MCPHUB_REPLICA_RUNNING) {
        mcphub__free(&c->mem, r->error);
        r->error = NULL;
    }
    r->view.error = r->error;
    if (old == st)
        return;
    r->view.status = st;
    r->view.since_ms = c->now_ms;
    sync_balancer(c, r);
    recount_running(c);
    mcphub__coord_log(c, st == MCPHUB_REPLICA_ERROR ? MCPHUB_LOG_WARN : MCPHUB_LOG_INFO,
                      "replica_status replica=%s server=%s node=%s from=%s to=%s%s%s%s",
                      r->id, r->server, r->node, mcphub_replica_status_name(old),
                      mcphub_replica_status_name(st), r->error ? " error=\"" : "",
                      r->error ? r->error : "", r->error ? "\"" : "");
    if (c->cb.replica_status != NULL)
        c->cb.replica_status(&r->view, old, c->cb.user_data);
}

static coord_replica *replica_add(mcphub_coordinator *c, const char *id, const char *server,
                                  const char *node, mcphub_replica_status st)
{
    coord_replica *r;

    if (c->replicas.len >= c->max_replicas) {
        fail(c, MCPHUB_E_FULL, "at most %u replicas", c->max_replicas);
        return NULL;
    }
    r = mcphub__calloc(&c->mem, 1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->id = mcphub__strdup(&c->mem, id);
    r->server = mcphub__strdup(&c->mem, server);
    r->node = mcphub__strdup(&c->mem, node);
    if (r->id == NULL || r->server == NULL || r->node == NULL ||
        mcphub__map_reserve(&c->replica_by_id, 1) != 0 ||
        mcphub__coord_vec_push(&c->mem, &c->replicas, r) != 0) {
        replica_free(c, r);
        return NULL;
    }
    mcphub__map_put(&c->replica_by_id, r->id, r, NULL);
    r->view.id = r->id;
    r->view.server = r->server;
    r->view.node = r->node;
    r->view.status = st;
    r->view.since_ms = c->now_ms;
    sync_balancer(c, r);
    recount_running(c);
    return r;
}

/* Forget a replica: the balancer stops picking it; sessions bound to it are
 * re-bound on their next request. */
static void replica_forget(mcphub_coordinator *c, coord_replica *r)
{
    size_t i = vec_index(&c->replicas, r);

    mcphub_balancer_remove_replica(c->balancer, r->id);
    mcphub__map_del(&c->replica_by_id, r->id);
    if (i < c->replicas.len)
        mcphub__coord_vec_remove_at(&c->replicas, i);
    replica_free(c, r);
    recount_running(c);
}

static int new_replica_id(mcphub_coordinator *c, const char *server, char *buf, size_t len)
{
    int tries;

    for (tries = 0; tries < 16; tries++) {
        snprintf(buf, len, "%.100s-%08x", server, (unsigned)next_random(c));
        if (replica_get(c, buf) == NULL)
            return 0;
    }
    return MCPHUB_E_EXISTS;
}

/* ---- actions -------------------------------------------------------------------------- */

static void send_action(mcphub_coordinator *c, mcphub_action_kind kind, const char *node,
                        const char *replica, const char *server, const coord_server *s)
{
    const mcphub_node *n = mcphub_registry_get(c->registry, node);
    mcphub_action a;
    int rc;

    if (c->cb.action == NULL || n == NULL || n->status == MCPHUB_NODE_OFFLINE)
        return;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.node = node;
    a.replica = replica;
    a.server = server;
    a.config_json = s != NULL ? s->config_json : NULL;
    a.config_version = s != NULL ? s->config_version : 0;
    a.node_host = n->host;
    a.node_port = n->internal_port ? n->internal_port : n->port;
    rc = c->cb.action(&a, c->cb.user_data);
    c->actions_sent++;
    if (rc != 0) {
        c->actions_failed++;
        mcphub__coord_log(c, MCPHUB_LOG_WARN, "action_failed kind=%s node=%s replica=%s error=\"%s\"",
                          kind == MCPHUB_ACTION_ALLOCATE ? "allocate"
                          : kind == MCPHUB_ACTION_RELEASE ? "release" : "config",
                          node, replica, mcphub_strerror(rc));
    }
}

static void send_allocate(mcphub_coordinator *c, coord_replica *r)
{
    coord_server *s = mcphub__coord_server(c, r->server);

    r->last_action_ms = c->now_ms;
    if (s == NULL)
        return;
    r->pushed_version = s->config_version;
    if (c->reply_node != NULL && strcmp(c->reply_node, r->node) == 0)
        return; /* goes into the registering node's reply instead */
    send_action(c, MCPHUB_ACTION_ALLOCATE, r->node, r->id, r->server, s);
}

/* syncConfig: a server's config changed; its replicas get the new version. */
static void push_config(mcphub_coordinator *c, coord_server *s)
{
    size_t i;

    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];

        if (strcmp(r->server, s->name) != 0)
            continue;
        r->pushed_version = s->config_version;
        r->last_action_ms = c->now_ms;
        send_action(c, MCPHUB_ACTION_CONFIG, r->node, r->id, r->server, s);
    }
}

static coord_release *release_find(const mcphub_coordinator *c, const char *replica,
                                   size_t *index)
{
    size_t i;

    for (i = 0; i < c->releases.len; i++) {
        coord_release *x = c->releases.items[i];

        if (strcmp(x->replica, replica) == 0) {
            if (index != NULL)
                *index = i;
            return x;
        }
    }
    return NULL;
}

static void release_drop(mcphub_coordinator *c, size_t i)
{
    coord_release *x = c->releases.items[i];

    mcphub__coord_vec_remove_at(&c->releases, i);
    mcphub__free(&c->mem, x->replica);
    mcphub__free(&c->mem, x->server);
    mcphub__free(&c->mem, x->node);
    mcphub__free(&c->mem, x);
}

/* Stop a replica on a node: remembered until the node confirms, so a node
 * that was unreachable hears of it when it comes back. */
static void release_add(mcphub_coordinator *c, const char *replica, const char *server,
                        const char *node)
{
    coord_release *x;

    if (release_find(c, replica, NULL) != NULL)
        return;
    x = mcphub__calloc(&c->mem, 1, sizeof *x);
    if (x == NULL)
        return;
    x->replica = mcphub__strdup(&c->mem, replica);
    x->server = mcphub__strdup(&c->mem, server);
    x->node = mcphub__strdup(&c->mem, node);
    if (x->replica == NULL || x->server == NULL || x->node == NULL ||
        mcphub__coord_vec_push(&c->mem, &c->releases, x) != 0) {
        mcphub__free(&c->mem, x->replica);
        mcphub__free(&c->mem, x->server);
        mcphub__free(&c->mem, x->node);
        mcphub__free(&c->mem, x);
        return;
    }
    x->last_sent_ms = c->now_ms;
    send_action(c, MCPHUB_ACTION_RELEASE, node, replica, server, NULL);
}

static void release_replica(mcphub_coordinator *c, coord_replica *r, const char *reason)
{
    mcphub__coord_log(c, MCPHUB_LOG_INFO, "replica_release replica=%s server=%s node=%s reason=%s",
                      r->id, r->server, r->node, reason);
    release_add(c, r->id, r->server, r->node);
    replica_forget(c, r);
}

/* ---- reconciliation ---------------------------------------------------------------- */

static int is_draining(const mcphub_coordinator *c, const char *node)
{
    size_t i;

    for (i = 0; i < c->drains.len; i++)
        if (strcmp(((coord_drain *)c->drains.items[i])->node, node) == 0)
            return 1;
    return 0;
}

/* Order replicas by server then node, to count distinct nodes per server. */
static int cmp_server_node(const void *a, const void *b)
{
    const coord_replica *x = *(const coord_replica *const *)a, *y = *(const coord_replica *const *)b;
    int d = strcmp(x->server, y->server);

    return d != 0 ? d : strcmp(x->node, y->node);
}

/* Count each server's live, running and starting replicas and the nodes
 * they are on.  Live: not on an offline node, not stopped or terminated. */
static int count_replicas(mcphub_coordinator *c)
{
    const coord_replica **v;
    coord_server *s;
    size_t i;

    for (i = 0; i < c->servers.len; i++) {
        s = c->servers.items[i];
        s->n_live = s->n_running = s->n_flux = s->n_nodes = 0;
    }
    v = mcphub__calloc(&c->mem, c->replicas.len ? c->replicas.len : 1, sizeof *v);
    if (v == NULL)
        return MCPHUB_E_NOMEM;
    if (c->replicas.len > 0) /* items is NULL while there are none */
        memcpy(v, c->replicas.items, c->replicas.len * sizeof *v);
    qsort(v, c->replicas.len, sizeof *v, cmp_server_node);
    for (i = 0; i < c->replicas.len; i++) {
        const coord_replica *r = v[i];

        if (r->view.status == MCPHUB_REPLICA_STOPPED || r->view.status == MCPHUB_REPLICA_TERMINATED ||
            node_is(c, r->node, MCPHUB_NODE_OFFLINE) || (s = mcphub__coord_server(c, r->server)) == NULL)
            continue;
        s->n_live++;
        s->n_running += r->view.status == MCPHUB_REPLICA_RUNNING;
        s->n_flux += r->view.status == MCPHUB_REPLICA_PENDING ||
                     r->view.status == MCPHUB_REPLICA_STARTING;
        if (i == 0 || strcmp(v[i - 1]->server, r->server) != 0 ||
            strcmp(v[i - 1]->node, r->node) != 0)
            s->n_nodes++;
    }
    mcphub__free(&c->mem, v);
    return 0;
}

/* An online node that could take a replica of s and holds none. */
static int has_free_node(const mcphub_coordinator *c, const coord_server *s)
{
    size_t i, j, k, n = mcphub_registry_count(c->registry);

    for (i = 0; i < n; i++) {
        const mcphub_node *nd = mcphub_registry_at(c->registry, i);
        size_t load = 0;
        int holds = 0, excl = 0;

        if (nd->status != MCPHUB_NODE_ONLINE || is_draining(c, nd->id))
            continue;
        for (k = 0; k < s->exclude_node_ids_len; k++)
            excl |= strcmp(s->exclude_node_ids[k], nd->id) == 0;
        for (j = 0; j < c->replicas.len && !holds; j++) {
            const coord_replica *r = c->replicas.items[j];

            if (strcmp(r->node, nd->id) == 0) {
                load++;
                holds = strcmp(r->server, s->name) == 0;
            }
        }
        if (!excl && !holds && (nd->max_servers == 0 || load < nd->max_servers))
            return 1;
    }
    return 0;
}

/* How many replicas the plan asks of s.  Replicas placed while few nodes
 * were known may share a node once more join: then one extra replica is
 * started on a node that has none (a surge), the count is held while it
 * starts, and when everything runs the scheduler's scale-down removes a
 * replica from the node holding two — no moment with fewer running. */
static uint32_t plan_replicas(mcphub_coordinator *c, coord_server *s)
{
    if (s->surging) {
        if (s->n_flux > 0 && s->n_live > s->replicas)
            return s->n_live;
        s->surging = 0;
        return s->replicas;
    }
    if (s->replicas > 1 && s->n_live == s->replicas && s->n_running == s->n_live &&
        s->n_nodes < s->n_live && has_free_node(c, s)) {
        s->surging = 1;
        mcphub__coord_log(c, MCPHUB_LOG_INFO,
                          "replicas_rebalance server=%s replicas=%u nodes=%u reason=shared-node",
                          s->name, s->replicas, s->n_nodes);
        return s->replicas + 1;
    }
    return s->replicas;
}

static int build_input(mcphub_coordinator *c, mcphub_sched_input *in, mcphub_sched_node **nodes,
                       mcphub_sched_replica **reps, mcphub_replica_config **cfgs)
{
    size_t i, nn = mcphub_registry_count(c->registry);

    *nodes = mcphub__calloc(&c->mem, nn ? nn : 1, sizeof **nodes);
    *reps = mcphub__calloc(&c->mem, c->replicas.len ? c->replicas.len : 1, sizeof **reps);
    *cfgs = mcphub__calloc(&c->mem, c->servers.len ? c->servers.len : 1, sizeof **cfgs);
    if (*nodes == NULL || *reps == NULL || *cfgs == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < nn; i++) {
        const mcphub_node *n = mcphub_registry_at(c->registry, i);

        (*nodes)[i].id = n->id;
        (*nodes)[i].status = is_draining(c, n->id) ? MCPHUB_NODE_OFFLINE : n->status;
        (*nodes)[i].max_servers = n->max_servers;
        (*nodes)[i].cpu_percent = n->metrics.cpu_percent;
    }
    for (i = 0; i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];

        (*reps)[i].id = r->id;
        (*reps)[i].server = r->server;
        (*reps)[i].node = r->node;
        (*reps)[i].status = r->view.status;
    }
    if (count_replicas(c) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < c->servers.len; i++) {
        coord_server *s = c->servers.items[i];
        mcphub_replica_config *rc = &(*cfgs)[i];

        rc->size = sizeof *rc;
        rc->server = s->name;
        rc->replicas = plan_replicas(c, s);
        rc->node_ids = (const char *const *)s->node_ids;
        rc->node_ids_len = s->node_ids_len;
        rc->exclude_node_ids = (const char *const *)s->exclude_node_ids;
        rc->exclude_node_ids_len = s->exclude_node_ids_len;
        rc->strategy = s->strategy;
    }
    memset(in, 0, sizeof *in);
    in->size = sizeof *in;
    in->nodes = *nodes;
    in->nodes_len = nn;
    in->replicas = *reps;
    in->replicas_len = c->replicas.len;
    in->configs = *cfgs;
    in->configs_len = c->servers.len;
    in->max_replicas = MAX_REPLICAS_PER_SERVER;
    return 0;
}

static size_t running_elsewhere(const mcphub_coordinator *c, const char *server,
                                const char *not_node)
{
    size_t i, n = 0;

    for (i = 0; i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];

        if (strcmp(r->server, server) == 0 && strcmp(r->node, not_node) != 0 &&
            replica_routable(c, r))
            n++;
    }
    return n;
}

static void set_shortfall(mcphub_coordinator *c, coord_server *s, const char *reason)
{
    if (reason == NULL) {
        mcphub__free(&c->mem, s->shortfall);
        s->shortfall = NULL;
        return;
    }
    if (s->shortfall != NULL && strcmp(s->shortfall, reason) == 0)
        return;
    mcphub__free(&c->mem, s->shortfall);
    s->shortfall = mcphub__strdup(&c->mem, reason);
    mcphub__coord_log(c, MCPHUB_LOG_WARN, "replicas_short server=%s reason=\"%s\"", s->name,
                      reason);
}

static void apply_plan(mcphub_coordinator *c, const mcphub_plan *p)
{
    size_t i, n;
    char id[160];

    for (i = 0; i < c->servers.len; i++) {
        coord_server *s = c->servers.items[i];
        size_t j, k = mcphub_plan_shortfall_count(p);
        const char *why = NULL;

        for (j = 0; j < k && why == NULL; j++)
            if (strcmp(mcphub_plan_shortfall_at(p, j)->server, s->name) == 0)
                why = mcphub_plan_shortfall_at(p, j)->reason;
        set_shortfall(c, s, why);
    }
    n = mcphub_plan_remove_count(p);
    for (i = 0; i < n; i++) {
        const mcphub_plan_remove *rm = mcphub_plan_remove_at(p, i);
        coord_replica *r = replica_get(c, rm->replica);
        coord_server *s = mcphub__coord_server(c, rm->server);

        if (r == NULL)
            continue;
        /* A drained node keeps serving until the replacement runs. */
        if (is_draining(c, r->node) && s != NULL && s->replicas > 0 &&
            running_elsewhere(c, r->server, r->node) < s->replicas)
            continue;
        release_replica(c, r, rm->reason);
    }
    n = mcphub_plan_create_count(p);
    for (i = 0; i < n; i++) {
        const mcphub_plan_create *cr = mcphub_plan_create_at(p, i);
        coord_replica *r;

        if (new_replica_id(c, cr->server, id, sizeof id) != 0)
            continue;
        r = replica_add(c, id, cr->server, cr->node, MCPHUB_REPLICA_PENDING);
        if (r == NULL) {
            mcphub__coord_log(c, MCPHUB_LOG_ERROR, "replica_create_failed server=%s node=%s error=\"%s\"",
                              cr->server, cr->node, c->errmsg);
            continue;
        }
        mcphub__coord_log(c, MCPHUB_LOG_INFO, "replica_create replica=%s server=%s node=%s score=%.1f",
                          r->id, r->server, r->node, cr->score);
        send_allocate(c, r);
    }
}

static void reconcile(mcphub_coordinator *c)
{
    mcphub_sched_input in;
    mcphub_sched_node *nodes = NULL;
    mcphub_sched_replica *reps = NULL;
    mcphub_replica_config *cfgs = NULL;
    mcphub_plan *plan = NULL;
    int rc;

    rc = build_input(c, &in, &nodes, &reps, &cfgs);
    if (rc == 0)
        rc = mcphub_scheduler_plan(&plan, &in, c->user_mem_set ? &c->user_mem : NULL);
    mcphub__free(&c->mem, nodes);
    mcphub__free(&c->mem, reps);
    mcphub__free(&c->mem, cfgs);
    c->dirty = 0;
    if (rc != 0) {
        /* tried again at the next reconcile interval, not in a busy loop */
        mcphub__coord_log(c, MCPHUB_LOG_ERROR, "reconcile_failed error=\"%s\"",
                          mcphub_strerror(rc));
        return;
    }
    apply_plan(c, plan);
    mcphub_plan_free(plan);
}

/* ---- nodes: status changes ---------------------------------------------------------- */

/* Least-connections counts the sessions bound to each replica. */
static void sync_active(mcphub_coordinator *c, const char *replica)
{
    if (replica != NULL && replica_get(c, replica) != NULL)
        mcphub_balancer_set_active(c->balancer, replica,
                                   (uint32_t)mcphub_affinity_count_replica(c->affinity, replica));
}

/* A node went offline: its replicas stop taking sessions, and the sessions
 * bound to them move to a healthy replica of the same server where one
 * exists (otherwise they are re-bound on their next request). */
static void node_lost(mcphub_coordinator *c, const char *node)
{
    size_t i, moved = 0;

    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];
        const char *to_replica = NULL, *to_node = NULL;

        if (strcmp(r->node, node) != 0)
            continue;
        sync_balancer(c, r);
        if (mcphub_balancer_pick(c->balancer, r->server, r->id, &to_replica, &to_node) == 0) {
            moved += mcphub_affinity_migrate_replica(c->affinity, r->id, to_node, to_replica);
            sync_active(c, to_replica);
            sync_active(c, r->id);
        }
    }
    mcphub__coord_log(c, MCPHUB_LOG_WARN, "routes_migrated node=%s routes=%zu", node, moved);
}

static void on_node_status(const mcphub_node *n, mcphub_node_status old, const char *reason,
                           void *user_data)
{
    mcphub_coordinator *c = user_data;
    size_t i;

    if (n->status == MCPHUB_NODE_OFFLINE) {
        node_lost(c, n->id);
    } else {
        for (i = 0; i < c->replicas.len; i++) {
            coord_replica *r = c->replicas.items[i];

            if (strcmp(r->node, n->id) == 0)
                sync_balancer(c, r);
        }
    }
    c->dirty = 1;
    if (c->cb.node_status != NULL)
        c->cb.node_status(n, old, reason, c->cb.user_data);
}

/* ---- worker reports -------------------------------------------------------------------- */

static int reply_assign(mcphub_coordinator *c, const coord_replica *r)
{
    const coord_server *s = mcphub__coord_server(c, r->server);
    mcphub_assignment *a;

    if (s == NULL)
        return 0;
    if (c->reply_assign_len == c->reply_assign_cap) {
        size_t cap = c->reply_assign_cap ? c->reply_assign_cap * 2 : 8;
        mcphub_assignment *v = mcphub__reallocarray(&c->mem, c->reply_assign, cap, sizeof *v);

        if (v == NULL)
            return MCPHUB_E_NOMEM;
        c->reply_assign = v;
        c->reply_assign_cap = cap;
    }
    a = &c->reply_assign[c->reply_assign_len++];
    a->replica = r->id;
    a->server = r->server;
    a->config_json = s->config_json;
    a->config_version = s->config_version;
    return 0;
}

static int reply_release(mcphub_coordinator *c, const char *replica, const char *server)
{
    mcphub_release *x;

    if (c->reply_release_len == c->reply_release_cap) {
        size_t cap = c->reply_release_cap ? c->reply_release_cap * 2 : 8;
        mcphub_release *v = mcphub__reallocarray(&c->mem, c->reply_release, cap, sizeof *v);

        if (v == NULL)
            return MCPHUB_E_NOMEM;
        c->reply_release = v;
        c->reply_release_cap = cap;
    }
    x = &c->reply_release[c->reply_release_len++];
    x->replica = replica;
    x->server = server;
    return 0;
}

static size_t live_count(const mcphub_coordinator *c, const char *server)
{
    size_t i, n = 0;

    for (i = 0; i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];

        if (strcmp(r->server, server) == 0 && !node_is(c, r->node, MCPHUB_NODE_OFFLINE))
            n++;
    }
    return n;
}

static int excluded(const coord_server *s, const char *node)
{
    size_t i;

    for (i = 0; i < s->exclude_node_ids_len; i++)
        if (strcmp(s->exclude_node_ids[i], node) == 0)
            return 1;
    return 0;
}

static int reported(const mcphub_replica_report *reports, size_t n, const char *id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(reports[i].replica, id) == 0)
            return 1;
    return 0;
}

/* Learn from one report: update what we placed, adopt what the cluster
 * wants (a restarted master learns what runs where), release the rest. */
static int take_report(mcphub_coordinator *c, const char *node, const mcphub_replica_report *rp)
{
    coord_replica *r = replica_get(c, rp->replica);
    coord_server *s = mcphub__coord_server(c, rp->server);
    mcphub_replica_status st = rp->status;

    if (st == MCPHUB_REPLICA_PENDING)
        st = MCPHUB_REPLICA_STARTING;
    if (r != NULL && strcmp(r->node, node) != 0)
        return reply_release(c, rp->replica, rp->server);
    if (r == NULL) {
        if (release_find(c, rp->replica, NULL) != NULL || s == NULL ||
            st == MCPHUB_REPLICA_TERMINATED || excluded(s, node) ||
            live_count(c, s->name) >= s->replicas)
            return reply_release(c, rp->replica, rp->server);
        r = replica_add(c, rp->replica, rp->server, node, st);
        if (r == NULL)
            return MCPHUB_E_NOMEM;
        r->reported = 1;
        r->view.tool_count = rp->tool_count;
        r->view.config_version = rp->config_version;
        r->pushed_version = rp->config_version;
        mcphub__coord_log(c, MCPHUB_LOG_INFO, "replica_adopt replica=%s server=%s node=%s status=%s",
                          r->id, r->server, node, mcphub_replica_status_name(st));
        sync_balancer(c, r);
        return 0;
    }
    r->reported = 1;
    r->view.tool_count = rp->tool_count;
    r->view.config_version = rp->config_version;
    if (st == MCPHUB_REPLICA_TERMINATED) {
        set_status(c, r, MCPHUB_REPLICA_PENDING, "the worker no longer runs it");
        return reply_assign(c, r);
    }
    set_status(c, r, st, st == MCPHUB_REPLICA_ERROR ? rp->error : NULL);
    sync_balancer(c, r); /* a report clears a passive-health suspicion */
    /* A worker on an old config version is brought up to date. */
    if (s != NULL && rp->config_version < s->config_version &&
        (r->pushed_version < s->config_version ||
         c->now_ms - r->last_action_ms >= c->action_timeout_ms)) {
        r->pushed_version = s->config_version;
        r->last_action_ms = c->now_ms;
        send_action(c, MCPHUB_ACTION_CONFIG, node, r->id, r->server, s);
    }
    return 0;
}

static int check_reports(mcphub_coordinator *c, const mcphub_replica_report *reports, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (reports[i].replica == NULL || reports[i].server == NULL)
            return fail(c, MCPHUB_E_INVAL, "replica report %zu lacks replica or server", i);
    return 0;
}

static int take_reports(mcphub_coordinator *c, const char *node,
                        const mcphub_replica_report *reports, size_t n)
{
    size_t i;
    int rc;

    c->reply_assign_len = 0;
    c->reply_release_len = 0;
    for (i = 0; i < n; i++)
        if ((rc = take_report(c, node, &reports[i])) != 0)
            return fail(c, rc, "out of memory");
    /* Releases this node no longer reports are done. */
    for (i = c->releases.len; i-- > 0;) {
        coord_release *x = c->releases.items[i];

        if (strcmp(x->node, node) != 0)
            continue;
        if (!reported(reports, n, x->replica))
            release_drop(c, i);
        else if ((rc = reply_release(c, x->replica, x->server)) != 0)
            return fail(c, rc, "out of memory");
    }
    /* Replicas placed here that the node did not report. */
    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];

        if (strcmp(r->node, node) != 0 || reported(reports, n, r->id))
            continue;
        if (r->reported) {
            set_status(c, r, MCPHUB_REPLICA_PENDING, "the worker stopped reporting it");
            r->reported = 0;
        } else if (c->now_ms - r->last_action_ms < c->action_timeout_ms) {
            continue; /* just sent; the worker may not have it yet */
        }
        r->last_action_ms = c->now_ms;
        if ((rc = reply_assign(c, r)) != 0)
            return fail(c, rc, "out of memory");
    }
    return 0;
}

static void fill_reply(const mcphub_coordinator *c, mcphub_worker_reply *reply)
{
    if (reply == NULL)
        return;
    reply->assignments = c->reply_assign;
    reply->assignments_len = c->reply_assign_len;
    reply->releases = c->reply_release;
    reply->releases_len = c->reply_release_len;
    reply->heartbeat_interval_ms = c->heartbeat_interval_ms;
}

MCPHUB_API int mcphub_coordinator_register(mcphub_coordinator *c, const mcphub_node_info *info,
                                           const mcphub_replica_report *reports, size_t reports_len,
                                           uint64_t now_ms, mcphub_worker_reply *reply)
{
    int rc, created = 0;
    size_t i;

    if (c == NULL || info == NULL || (reports == NULL && reports_len != 0))
        return MCPHUB_E_INVAL;
    if ((rc = check_reports(c, reports, reports_len)) != 0)
        return rc;
    c->now_ms = now_ms;
    rc = mcphub_registry_register(c->registry, info, now_ms, &created);
    if (rc != 0)
        return fail(c, rc, "register %s: %s", info->id ? info->id : "(null)", mcphub_strerror(rc));
    mcphub__coord_log(c, MCPHUB_LOG_INFO, "node_register node=%s host=%s port=%u replicas=%zu%s",
                      info->id, info->host, (unsigned)info->port, reports_len,
                      created ? " new=1" : "");
    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];

        if (strcmp(r->node, info->id) == 0)
            sync_balancer(c, r);
    }
    c->reply_node = info->id;
    rc = take_reports(c, info->id, reports, reports_len);
    if (rc == 0 && now_ms >= c->grace_until_ms)
        reconcile(c);
    if (rc == 0) {
        /* The reply lists everything this node should run and did not report. */
        c->reply_assign_len = 0;
        for (i = 0; i < c->replicas.len && rc == 0; i++) {
            coord_replica *r = c->replicas.items[i];

            if (strcmp(r->node, info->id) == 0 && !reported(reports, reports_len, r->id)) {
                r->last_action_ms = now_ms;
                rc = reply_assign(c, r);
            }
        }
    }
    c->reply_node = NULL;
    if (rc != 0)
        return rc;
    fill_reply(c, reply);
    return 0;
}

MCPHUB_API int mcphub_coordinator_heartbeat(mcphub_coordinator *c, const char *node_id,
                                            const mcphub_node_metrics *metrics,
                                            uint64_t config_version,
                                            const mcphub_replica_report *reports,
                                            size_t reports_len, uint64_t now_ms,
                                            mcphub_worker_reply *reply)
{
    int rc;

    if (c == NULL || node_id == NULL || (reports == NULL && reports_len != 0))
        return MCPHUB_E_INVAL;
    if ((rc = check_reports(c, reports, reports_len)) != 0)
        return rc;
    c->now_ms = now_ms;
    rc = mcphub_registry_heartbeat(c->registry, node_id, metrics, config_version, now_ms);
    if (rc != 0)
        return fail(c, rc, "heartbeat from %s: %s", node_id, mcphub_strerror(rc));
    rc = take_reports(c, node_id, reports, reports_len);
    if (rc != 0)
        return rc;
    fill_reply(c, reply);
    return 0;
}

MCPHUB_API int mcphub_coordinator_check_result(mcphub_coordinator *c, const char *node_id, int ok,
                                               uint64_t now_ms)
{
    if (c == NULL || node_id == NULL)
        return MCPHUB_E_INVAL;
    c->now_ms = now_ms;
    return mcphub_registry_check_result(c->registry, node_id, ok, now_ms);
}

MCPHUB_API int mcphub_coordinator_action_done(mcphub_coordinator *c, mcphub_action_kind kind,
                                              const char *node_id, const char *replica, int ok,
                                              const char *error, uint64_t now_ms)
{
    coord_replica *r;
    size_t i;

    if (c == NULL || node_id == NULL || replica == NULL)
        return MCPHUB_E_INVAL;
    c->now_ms = now_ms;
    if (!ok)
        c->actions_failed++;
    if (kind == MCPHUB_ACTION_RELEASE) {
        if (release_find(c, replica, &i) == NULL)
            return MCPHUB_E_NOTFOUND;
        if (ok)
            release_drop(c, i);
        return 0;
    }
    r = replica_get(c, replica);
    if (r == NULL || strcmp(r->node, node_id) != 0)
        return MCPHUB_E_NOTFOUND;
    if (!ok) {
        mcphub__coord_log(c, MCPHUB_LOG_WARN, "action_rejected kind=%s node=%s replica=%s error=\"%s\"",
                          kind == MCPHUB_ACTION_ALLOCATE ? "allocate" : "config", node_id, replica,
                          error ? error : "unknown");
        if (error != NULL)
            set_status(c, r, r->view.status, error);
        return 0;
    }
    if (kind == MCPHUB_ACTION_ALLOCATE && r->view.status == MCPHUB_REPLICA_PENDING)
        set_status(c, r, MCPHUB_REPLICA_STARTING, NULL);
    return 0;
}

MCPHUB_API int mcphub_coordinator_remove_node(mcphub_coordinator *c, const char *node_id,
                                              uint64_t now_ms)
{
    coord_drain *d;

    if (c == NULL || node_id == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub_registry_get(c->registry, node_id) == NULL)
        return fail(c, MCPHUB_E_NOTFOUND, "unknown node %s", node_id);
    c->now_ms = now_ms;
    if (is_draining(c, node_id))
        return 0;
    d = mcphub__calloc(&c->mem, 1, sizeof *d);
    if (d == NULL || (d->node = mcphub__strdup(&c->mem, node_id)) == NULL ||
        mcphub__coord_vec_push(&c->mem, &c->drains, d) != 0) {
        if (d != NULL)
            mcphub__free(&c->mem, d->node);
        mcphub__free(&c->mem, d);
        return fail(c, MCPHUB_E_NOMEM, "out of memory");
    }
    d->since_ms = now_ms;
    mcphub__coord_log(c, MCPHUB_LOG_INFO, "node_drain node=%s", node_id);
    c->dirty = 1;
    mcphub_coordinator_tick(c, now_ms);
    return 0;
}

MCPHUB_API const mcphub_registry *mcphub_coordinator_registry(const mcphub_coordinator *c)
{
    return c ? c->registry : NULL;
}

/* A drained node is forgotten once it holds nothing, or after a while. */
static void finish_drains(mcphub_coordinator *c)
{
    size_t i, j;

    for (i = c->drains.len; i-- > 0;) {
        coord_drain *d = c->drains.items[i];
        int holds = 0;

        for (j = 0; j < c->replicas.len && !holds; j++)
            holds = strcmp(((coord_replica *)c->replicas.items[j])->node, d->node) == 0;
        if (holds && c->now_ms - d->since_ms < 3 * c->action_timeout_ms)
            continue;
        for (j = c->replicas.len; j-- > 0;) {
            coord_replica *r = c->replicas.items[j];

            if (strcmp(r->node, d->node) == 0)
                release_replica(c, r, "node-removed");
        }
        for (j = c->releases.len; j-- > 0;)
            if (strcmp(((coord_release *)c->releases.items[j])->node, d->node) == 0)
                release_drop(c, j);
        mcphub_affinity_unbind_node(c->affinity, d->node);
        mcphub_registry_remove(c->registry, d->node);
        mcphub__coord_log(c, MCPHUB_LOG_INFO, "node_removed node=%s", d->node);
        mcphub__coord_vec_remove_at(&c->drains, i);
        mcphub__free(&c->mem, d->node);
        mcphub__free(&c->mem, d);
        c->dirty = 1;
    }
}

/* ---- sessions --------------------------------------------------------------------------- */

static int bind_new(mcphub_coordinator *c, const char *session, const char *server,
                    const char *exclude, uint64_t now_ms, const char **replica_out,
                    const char **node_out)
{
    const char *rep = NULL, *node = NULL;
    int rc = mcphub_balancer_pick(c->balancer, server, exclude, &rep, &node);

    if (rc == MCPHUB_E_NOTFOUND)
        rc = MCPHUB_E_UNAVAILABLE; /* known server, no replica yet */
    if (rc != 0)
        return fail(c, rc, "server %s has no healthy replica", server);
    rc = mcphub_affinity_bind(c->affinity, session, server, node, rep, now_ms);
    if (rc != 0)
        return fail(c, rc, "bind session: %s", mcphub_strerror(rc));
    sync_active(c, rep);
    *replica_out = replica_get(c, rep)->id;
    *node_out = replica_get(c, rep)->node;
    return 0;
}

MCPHUB_API int mcphub_coordinator_route(mcphub_coordinator *c, const char *session_id,
                                        const char *server, uint64_t now_ms,
                                        const char **replica_out, const char **node_out)
{
    mcphub_route route;
    coord_replica *r;
    char old[160];
    int rc;

    if (c == NULL || session_id == NULL || server == NULL || replica_out == NULL ||
        node_out == NULL)
        return MCPHUB_E_INVAL;
    /* The id is rendered in sessions_json; one that is not UTF-8 used to
     * make that fail for every session (found by fuzzing). */
    if (!mcphub__wire_utf8_ok(session_id, strlen(session_id)))
        return fail(c, MCPHUB_E_INVAL, "session id is not UTF-8");
    if (mcphub__coord_server(c, server) == NULL)
        return fail(c, MCPHUB_E_NOTFOUND, "unknown server %s", server);
    c->now_ms = now_ms;
    if (mcphub_affinity_get(c->affinity, session_id, server, &route) != 0)
        return bind_new(c, session_id, server, NULL, now_ms, replica_out, node_out);
    r = replica_get(c, route.replica);
    if (r != NULL && replica_routable(c, r)) {
        mcphub_affinity_touch(c->affinity, session_id, server, now_ms);
        *replica_out = r->id;
        *node_out = r->node;
        return 0;
    }
    /* Failover: the bound replica is gone; the session keeps its id and is
     * re-bound to another healthy replica. */
    snprintf(old, sizeof old, "%s", route.replica);
    rc = bind_new(c, session_id, server, old, now_ms, replica_out, node_out);
    if (rc != 0)
        return rc;
    sync_active(c, old);
    c->failovers++;
    mcphub__coord_log(c, MCPHUB_LOG_WARN, "route_failover session=%.8s server=%s from=%s to=%s",
                      session_id, server, old, *replica_out);
    return 0;
}

MCPHUB_API int mcphub_coordinator_route_failed(mcphub_coordinator *c, const char *session_id,
                                               const char *server, const char *replica)
{
    mcphub_route route;
    char old[160];

    if (c == NULL || session_id == NULL || server == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub_affinity_get(c->affinity, session_id, server, &route) != 0)
        return MCPHUB_E_NOTFOUND;
    if (replica != NULL && strcmp(route.replica, replica) != 0)
        return 0; /* already re-bound */
    snprintf(old, sizeof old, "%s", route.replica);
    mcphub_affinity_unbind(c->affinity, session_id, server);
    sync_active(c, old);
    c->failovers++;
    /* Passive health: no new sessions go to the replica until its worker
     * reports it running again. */
    if (replica_get(c, old) != NULL) {
        coord_replica *r = replica_get(c, old);

        mcphub_balancer_set_replica(c->balancer, r->server, r->id, r->node, 1, 0);
        mcphub__coord_log(c, MCPHUB_LOG_WARN, "replica_suspect replica=%s server=%s node=%s",
                          r->id, r->server, r->node);
    }
    return 0;
}

MCPHUB_API int mcphub_coordinator_session_end(mcphub_coordinator *c, const char *session_id)
{
    size_t i;

    if (c == NULL || session_id == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub_affinity_unbind_session(c->affinity, session_id) == 0)
        return MCPHUB_E_NOTFOUND;
    for (i = 0; i < c->replicas.len; i++)
        sync_active(c, ((coord_replica *)c->replicas.items[i])->id);
    return 0;
}

/* ---- time -------------------------------------------------------------------------------- */

static void retry_actions(mcphub_coordinator *c)
{
    size_t i;

    for (i = 0; i < c->replicas.len; i++) {
        coord_replica *r = c->replicas.items[i];

        if (r->view.status == MCPHUB_REPLICA_PENDING &&
            c->now_ms - r->last_action_ms >= c->action_timeout_ms &&
            node_is(c, r->node, MCPHUB_NODE_ONLINE))
            send_allocate(c, r);
    }
    for (i = c->releases.len; i-- > 0;) {
        coord_release *x = c->releases.items[i];

        if (mcphub_registry_get(c->registry, x->node) == NULL) {
            release_drop(c, i);
            continue;
        }
        if (c->now_ms - x->last_sent_ms >= c->action_timeout_ms &&
            !node_is(c, x->node, MCPHUB_NODE_OFFLINE)) {
            x->last_sent_ms = c->now_ms;
            send_action(c, MCPHUB_ACTION_RELEASE, x->node, x->replica, x->server, NULL);
        }
    }
}

MCPHUB_API void mcphub_coordinator_tick(mcphub_coordinator *c, uint64_t now_ms)
{
    size_t i;

    if (c == NULL)
        return;
    c->now_ms = now_ms;
    mcphub_registry_tick(c->registry, now_ms);
    if (mcphub_affinity_expire(c->affinity, now_ms, 10000) > 0)
        for (i = 0; i < c->replicas.len; i++)
            sync_active(c, ((coord_replica *)c->replicas.items[i])->id);
    if (now_ms < c->grace_until_ms)
        return; /* workers re-register first; then we plan */
    retry_actions(c);
    finish_drains(c);
    if (c->dirty || now_ms >= c->next_reconcile_ms) {
        reconcile(c);
        c->next_reconcile_ms = now_ms + c->reconcile_interval_ms;
    }
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

MCPHUB_API uint64_t mcphub_coordinator_next_deadline(const mcphub_coordinator *c)
{
    uint64_t t;

    if (c == NULL)
        return UINT64_MAX;
    /* during the startup grace nothing is planned: wake at its end */
    t = c->dirty ? (c->grace_until_ms > c->now_ms ? c->grace_until_ms : c->now_ms)
                 : c->next_reconcile_ms;
    t = min64(t, mcphub_registry_next_deadline(c->registry));
    t = min64(t, mcphub_affinity_next_deadline(c->affinity));
    if (c->grace_until_ms > c->now_ms)
        t = min64(t, c->grace_until_ms);
    return t;
}

/* ---- reading ---------------------------------------------------------------------------- */

MCPHUB_API void mcphub_coordinator_stats(const mcphub_coordinator *c, mcphub_cluster_stats *out)
{
    size_t i;

    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (c == NULL)
        return;
    out->nodes = mcphub_registry_count(c->registry);
    out->nodes_online = mcphub_registry_count_status(c->registry, MCPHUB_NODE_ONLINE);
    out->nodes_unhealthy = mcphub_registry_count_status(c->registry, MCPHUB_NODE_UNHEALTHY);
    out->nodes_offline = mcphub_registry_count_status(c->registry, MCPHUB_NODE_OFFLINE);
    out->servers = c->servers.len;
    for (i = 0; i < c->servers.len; i++) {
        const coord_server *s = c->servers.items[i];

        out->replicas_desired += s->replicas;
        if (s->config_version > out->config_version)
            out->config_version = s->config_version;
    }
    for (i = 0; i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];

        switch (r->view.status) {
        case MCPHUB_REPLICA_RUNNING: out->replicas_running++; break;
        case MCPHUB_REPLICA_ERROR: out->replicas_error++; break;
        case MCPHUB_REPLICA_PENDING:
        case MCPHUB_REPLICA_STARTING: out->replicas_pending++; break;
        default: break;
        }
    }
    out->routes = mcphub_affinity_count(c->affinity);
    out->sessions = mcphub_affinity_session_count(c->affinity);
    out->failovers = c->failovers;
    out->actions_sent = c->actions_sent;
    out->actions_failed = c->actions_failed;
}

MCPHUB_API size_t mcphub_coordinator_replica_count(const mcphub_coordinator *c)
{
    return c ? c->replicas.len : 0;
}

MCPHUB_API const mcphub_replica *mcphub_coordinator_replica_at(const mcphub_coordinator *c,
                                                                size_t i)
{
    if (c == NULL || i >= c->replicas.len)
        return NULL;
    return &((const coord_replica *)c->replicas.items[i])->view;
}

MCPHUB_API const mcphub_replica *mcphub_coordinator_replica_get(const mcphub_coordinator *c,
                                                                 const char *replica)
{
    const coord_replica *r = c && replica ? replica_get(c, replica) : NULL;

    return r ? &r->view : NULL;
}

MCPHUB_API const char *mcphub_coordinator_errmsg(const mcphub_coordinator *c)
{
    return c ? c->errmsg : "no coordinator";
}

/* ---- life -------------------------------------------------------------------------------- */

MCPHUB_API int mcphub_coordinator_new(mcphub_coordinator **out, const mcphub_coordinator_opts *opts,
                                      const mcphub_coord_callbacks *callbacks,
                                      const mcphub_mem *mem, uint64_t now_ms)
{
    mcphub_coordinator *c;
    mcphub__mem m;
    mcphub_registry_opts ro;
    mcphub_affinity_opts ao;
    mcphub_balancer_opts bo;
    const char *node_id;
    uint32_t seed;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&m, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0 ||
        (rc = mcphub__opts_check(callbacks, sizeof *callbacks)) != 0)
        return rc;
    c = mcphub__calloc(&m, 1, sizeof *c);
    if (c == NULL)
        return MCPHUB_E_NOMEM;
    c->mem = m;
    if (mem != NULL) {
        memset(&c->user_mem, 0, sizeof c->user_mem);
        memcpy(&c->user_mem, mem, mem->size < sizeof c->user_mem ? mem->size : sizeof c->user_mem);
        c->user_mem.size = sizeof c->user_mem;
        c->user_mem_set = 1;
    }
    if (callbacks != NULL) {
        c->cb.action = MCPHUB__GET(callbacks, mcphub_coord_callbacks, action, NULL);
        c->cb.replica_status = MCPHUB__GET(callbacks, mcphub_coord_callbacks, replica_status, NULL);
        c->cb.node_status = MCPHUB__GET(callbacks, mcphub_coord_callbacks, node_status, NULL);
        c->cb.user_data = MCPHUB__GET(callbacks, mcphub_coord_callbacks, user_data, NULL);
    }
    c->log = MCPHUB__GET(opts, mcphub_coordinator_opts, log, NULL);
    c->log_user_data = MCPHUB__GET(opts, mcphub_coordinator_opts, log_user_data, NULL);
    c->random = MCPHUB__GET(opts, mcphub_coordinator_opts, random, NULL);
    c->random_user_data = MCPHUB__GET(opts, mcphub_coordinator_opts, random_user_data, NULL);
    c->xorshift = 2463534242u;
    c->heartbeat_interval_ms = MCPHUB__GET(opts, mcphub_coordinator_opts, heartbeat_interval_ms, 0);
    if (c->heartbeat_interval_ms == 0)
        c->heartbeat_interval_ms = 5000;
    c->reconcile_interval_ms = MCPHUB__GET(opts, mcphub_coordinator_opts, reconcile_interval_ms, 0);
    if (c->reconcile_interval_ms == 0)
        c->reconcile_interval_ms = 2000;
    c->action_timeout_ms = MCPHUB__GET(opts, mcphub_coordinator_opts, action_timeout_ms, 0);
    if (c->action_timeout_ms == 0)
        c->action_timeout_ms = 10000;
    c->grace_until_ms = now_ms + MCPHUB__GET(opts, mcphub_coordinator_opts, startup_grace_ms, 0);
    c->default_strategy = MCPHUB__GET(opts, mcphub_coordinator_opts, default_strategy,
                                      (mcphub_lb_strategy)0);
    if (c->default_strategy == 0)
        c->default_strategy = MCPHUB_LB_LEAST_CONNECTIONS;
    c->max_servers = MCPHUB__GET(opts, mcphub_coordinator_opts, max_servers, 0);
    if (c->max_servers == 0)
        c->max_servers = 4096;
    c->max_replicas = MCPHUB__GET(opts, mcphub_coordinator_opts, max_replicas, 0);
    if (c->max_replicas == 0)
        c->max_replicas = 65536;
    c->now_ms = now_ms;
    c->next_reconcile_ms = now_ms;
    c->dirty = 1;
    seed = next_random(c);
    mcphub__map_init(&c->server_by_name, &c->mem, seed);
    mcphub__map_init(&c->replica_by_id, &c->mem, seed ^ 0x9e3779b9u);
    node_id = MCPHUB__GET(opts, mcphub_coordinator_opts, node_id, NULL);
    if (node_id != NULL && (c->node_id = mcphub__strdup(&c->mem, node_id)) == NULL)
        goto nomem;

    memset(&ro, 0, sizeof ro);
    ro.size = sizeof ro;
    ro.heartbeat_interval_ms = c->heartbeat_interval_ms;
    ro.heartbeat_timeout_ms = MCPHUB__GET(opts, mcphub_coordinator_opts, heartbeat_timeout_ms, 0);
    ro.fall = MCPHUB__GET(opts, mcphub_coordinator_opts, fall, 0);
    ro.rise = MCPHUB__GET(opts, mcphub_coordinator_opts, rise, 0);
    ro.max_nodes = MCPHUB__GET(opts, mcphub_coordinator_opts, max_nodes, 0);
    ro.on_status = on_node_status;
    ro.user_data = c;
    ro.log = c->log;
    ro.log_user_data = c->log_user_data;
    ro.random = c->random;
    ro.random_user_data = c->random_user_data;
    if ((rc = mcphub_registry_new(&c->registry, &ro, c->user_mem_set ? &c->user_mem : NULL)) != 0)
        goto err;

    memset(&ao, 0, sizeof ao);
    ao.size = sizeof ao;
    ao.ttl_ms = MCPHUB__GET(opts, mcphub_coordinator_opts, session_ttl_ms, 0);
    ao.max_routes = MCPHUB__GET(opts, mcphub_coordinator_opts, max_routes, 0);
    ao.hash_seed = next_random(c);
    if ((rc = mcphub_affinity_new(&c->affinity, &ao, c->user_mem_set ? &c->user_mem : NULL)) != 0)
        goto err;

    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    bo.default_strategy = c->default_strategy;
    bo.random = c->random;
    bo.random_user_data = c->random_user_data;
    bo.max_replicas = c->max_replicas;
    if ((rc = mcphub_balancer_new(&c->balancer, &bo, c->user_mem_set ? &c->user_mem : NULL)) != 0)
        goto err;
    *out = c;
    return 0;
nomem:
    rc = MCPHUB_E_NOMEM;
err:
    mcphub_coordinator_free(c);
    return rc;
}

MCPHUB_API void mcphub_coordinator_free(mcphub_coordinator *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->servers.len; i++)
        mcphub__coord_server_free(c, c->servers.items[i]);
    for (i = 0; i < c->replicas.len; i++)
        replica_free(c, c->replicas.items[i]);
    while (c->releases.len > 0)
        release_drop(c, c->releases.len - 1);
    for (i = 0; i < c->drains.len; i++) {
        coord_drain *d = c->drains.items[i];

        mcphub__free(&c->mem, d->node);
        mcphub__free(&c->mem, d);
    }
    mcphub__free(&c->mem, c->servers.items);
    mcphub__free(&c->mem, c->replicas.items);
    mcphub__free(&c->mem, c->releases.items);
    mcphub__free(&c->mem, c->drains.items);
    mcphub__map_free(&c->server_by_name);
    mcphub__map_free(&c->replica_by_id);
    mcphub__free(&c->mem, c->reply_assign);
    mcphub__free(&c->mem, c->reply_release);
    mcphub_balancer_free(c->balancer);
    mcphub_affinity_free(c->affinity);
    mcphub_registry_free(c->registry);
    mcphub__free(&c->mem, c->node_id);
    mcphub__free(&c->mem, c);
}
