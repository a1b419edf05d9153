/* The coordinator's JSON: cluster API renderings and the persisted state.
 * Shapes are documented in mcphub_coordinator(3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coordinator_int.h"

/* ISO 8601 UTC from ms since the epoch, without the C library's time zone
 * machinery (days-to-civil, proleptic Gregorian). */
static void iso_time(uint64_t ms, char *buf, size_t len)
{
    uint64_t secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
    int64_t z = (int64_t)days + 719468, era = z / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);

    snprintf(buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
             (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
             (unsigned)(ms % 1000));
}

/* A monotonic instant rendered as wall-clock time. */
static json_t *when(uint64_t at_ms, uint64_t now_ms, uint64_t wall_ms)
{
    char buf[40];
    uint64_t ago = now_ms > at_ms ? now_ms - at_ms : 0;

    if (at_ms == 0)
        return json_null();
    iso_time(wall_ms > ago ? wall_ms - ago : 0, buf, sizeof buf);
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *strv(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Hand a JSON value out as a string from the coordinator's allocator. */
static int finish(const mcphub_coordinator *c, json_t *v, char **out)
{
    char *s;

    *out = NULL;
    if (v == NULL)
        return MCPHUB_E_NOMEM;
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    *out = mcphub__strdup(&c->mem, s);
    free(s);
    return *out != NULL ? 0 : MCPHUB_E_NOMEM;
}

MCPHUB_API void mcphub_coordinator_free_string(const mcphub_coordinator *c, char *s)
{
    if (c != NULL)
        mcphub__free(&c->mem, s);
}

MCPHUB_API int mcphub_coordinator_status_json(const mcphub_coordinator *c, uint64_t now_ms,
                                              uint64_t wall_ms, char **out)
{
    mcphub_cluster_stats st;
    json_t *v;

    (void)now_ms;
    (void)wall_ms;
    if (c == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    mcphub_coordinator_stats(c, &st);
    v = json_pack("{s:b, s:s, s:s?, s:{s:I, s:I, s:I, s:I}, s:I, s:{s:I, s:I, s:I, s:I},"
                  " s:I, s:I, s:I, s:I, s:{s:I, s:I}}",
                  "enabled", 1, "mode", "master", "nodeId", c->node_id,
                  "nodes", "total", (json_int_t)st.nodes, "online", (json_int_t)st.nodes_online,
                  "unhealthy", (json_int_t)st.nodes_unhealthy, "offline",
                  (json_int_t)st.nodes_offline,
                  "servers", (json_int_t)st.servers,
                  "replicas", "desired", (json_int_t)st.replicas_desired, "running",
                  (json_int_t)st.replicas_running, "pending", (json_int_t)st.replicas_pending,
                  "error", (json_int_t)st.replicas_error,
                  "sessions", (json_int_t)st.sessions, "routes", (json_int_t)st.routes,
                  "failovers", (json_int_t)st.failovers, "configVersion",
                  (json_int_t)st.config_version,
                  "actions", "sent", (json_int_t)st.actions_sent, "failed",
                  (json_int_t)st.actions_failed);
    return finish(c, v, out);
}

static json_t *node_obj(const mcphub_coordinator *c, const mcphub_node *n, uint64_t now_ms,
                        uint64_t wall_ms)
{
    json_t *reps = json_array(), *v;
    size_t i, count = 0;

    for (i = 0; reps != NULL && i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];

        if (strcmp(r->node, n->id) != 0)
            continue;
        count++;
        json_array_append_new(reps, json_pack("{s:s, s:s, s:s}", "id", r->id, "server", r->server,
                                              "status", mcphub_replica_status_name(r->view.status)));
    }
    v = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:o, s:I, s:o,"
                  " s:{s:s?, s:s?, s:s?, s:I, s:I},"
                  " s:{s:f, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:o}",
                  "id", n->id, "role", mcphub_node_role_name(n->role), "host", n->host,
                  "port", (int)n->port, "internalPort", (int)n->internal_port,
                  "status", mcphub_node_status_name(n->status),
                  "lastHeartbeat", when(n->last_heartbeat_ms, now_ms, wall_ms),
                  "lastHeartbeatAgoMs",
                  (json_int_t)(now_ms > n->last_heartbeat_ms ? now_ms - n->last_heartbeat_ms : 0),
                  "registeredAt", when(n->registered_at_ms, now_ms, wall_ms),
                  "metadata", "hostname", n->meta.hostname, "version", n->meta.version, "os",
                  n->meta.os, "cpuCount", (json_int_t)n->meta.cpu_count, "memoryTotal",
                  (json_int_t)n->meta.memory_total,
                  "metrics", "cpu", n->metrics.cpu_percent, "memoryUsed",
                  (json_int_t)n->metrics.memory_used, "memoryTotal",
                  (json_int_t)n->metrics.memory_total, "activeConnections",
                  (json_int_t)n->metrics.active_connections,
                  "weight", (json_int_t)n->weight, "maxServers", (json_int_t)n->max_servers,
                  "configVersion", (json_int_t)n->config_version,
                  "serverCount", (json_int_t)count, "replicas", reps);
    return v;
}

MCPHUB_API int mcphub_coordinator_nodes_json(const mcphub_coordinator *c, uint64_t now_ms,
                                             uint64_t wall_ms, char **out)
{
    json_t *a;
    size_t i, n;

    if (c == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    a = json_array();
    n = mcphub_registry_count(c->registry);
    for (i = 0; a != NULL && i < n; i++) {
        json_t *o = node_obj(c, mcphub_registry_at(c->registry, i), now_ms, wall_ms);

        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return MCPHUB_E_NOMEM;
        }
    }
    return finish(c, a, out);
}

MCPHUB_API int mcphub_coordinator_node_json(const mcphub_coordinator *c, const char *node_id,
                                            uint64_t now_ms, uint64_t wall_ms, char **out)
{
    const mcphub_node *n;

    if (c == NULL || node_id == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    if ((n = mcphub_registry_get(c->registry, node_id)) == NULL)
        return MCPHUB_E_NOTFOUND;
    return finish(c, node_obj(c, n, now_ms, wall_ms), out);
}

static json_t *server_obj(const mcphub_coordinator *c, const coord_server *s, uint64_t now_ms,
                          uint64_t wall_ms)
{
    json_t *inst = json_array();
    size_t i;

    for (i = 0; inst != NULL && i < c->replicas.len; i++) {
        const coord_replica *r = c->replicas.items[i];
        const mcphub_node *n;

        if (strcmp(r->server, s->name) != 0)
            continue;
        n = mcphub_registry_get(c->registry, r->node);
        json_array_append_new(
            inst, json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:o, s:I, s:I}", "id", r->id, "node",
                            r->node, "nodeStatus",
                            n != NULL ? mcphub_node_status_name(n->status) : "unknown", "status",
                            mcphub_replica_status_name(r->view.status), "since",
                            when(r->view.since_ms ? r->view.since_ms : 1, now_ms, wall_ms),
                            "sinceAgoMs",
                            (json_int_t)(now_ms > r->view.since_ms ? now_ms - r->view.since_ms : 0),
                            "error", str_or_null(r->error), "tools",
                            (json_int_t)r->view.tool_count, "configVersion",
                            (json_int_t)r->view.config_version));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:s, s:{s:o, s:o}, s:o, s:o}", "server", s->name,
                     "replicas", (json_int_t)s->replicas, "running", (json_int_t)s->running,
                     "configVersion", (json_int_t)s->config_version, "strategy",
                     mcphub_lb_strategy_name(s->strategy ? s->strategy : c->default_strategy),
                     "affinity", "nodeIds", strv(s->node_ids, s->node_ids_len), "excludeNodeIds",
                     strv(s->exclude_node_ids, s->exclude_node_ids_len), "shortfall",
                     str_or_null(s->shortfall), "instances", inst);
}

MCPHUB_API int mcphub_coordinator_replicas_json(const mcphub_coordinator *c, const char *server,
                                                uint64_t now_ms, uint64_t wall_ms, char **out)
{
    const coord_server *s;
    json_t *a;
    size_t i;

    if (c == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    if (server != NULL) {
        if ((s = mcphub__coord_server(c, server)) == NULL)
            return MCPHUB_E_NOTFOUND;
        return finish(c, server_obj(c, s, now_ms, wall_ms), out);
    }
    a = json_array();
    for (i = 0; a != NULL && i < c->servers.len; i++) {
        json_t *o = server_obj(c, c->servers.items[i], now_ms, wall_ms);

        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return MCPHUB_E_NOMEM;
        }
    }
    return finish(c, a, out);
}

typedef struct sessions_ctx {
    json_t *array;
    size_t limit;
    uint64_t now_ms, wall_ms;
    int failed;
} sessions_ctx;

static int add_session(const mcphub_route *r, void *user_data)
{
    sessions_ctx *x = user_data;
    json_t *o;

    if (json_array_size(x->array) >= x->limit)
        return 1;
    o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "sessionId", r->session_id, "server", r->server,
                  "node", r->node, "replica", r->replica, "createdAt",
                  when(r->created_ms, x->now_ms, x->wall_ms), "lastActivity",
                  when(r->last_activity_ms, x->now_ms, x->wall_ms));
    if (o == NULL || json_array_append_new(x->array, o) != 0) {
        x->failed = 1;
        return 1;
    }
    return 0;
}

MCPHUB_API int mcphub_coordinator_sessions_json(const mcphub_coordinator *c, uint64_t now_ms,
                                                uint64_t wall_ms, size_t limit, char **out)
{
    sessions_ctx x;

    if (c == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    x.array = json_array();
    x.limit = limit ? limit : 1000;
    x.now_ms = now_ms;
    x.wall_ms = wall_ms;
    x.failed = 0;
    if (x.array == NULL)
        return MCPHUB_E_NOMEM;
    mcphub_affinity_foreach(c->affinity, add_session, &x);
    if (x.failed) {
        json_decref(x.array);
        return MCPHUB_E_NOMEM;
    }
    return finish(c, x.array, out);
}

/* ---- persistence ---------------------------------------------------------------------- */

MCPHUB_API int mcphub_coordinator_state_json(const mcphub_coordinator *c, char **out)
{
    json_t *root, *servers;
    size_t i;

    if (c == NULL || out == NULL)
        return MCPHUB_E_INVAL;
    root = json_pack("{s:i, s:{}}", "version", 1, "servers");
    servers = root ? json_object_get(root, "servers") : NULL;
    for (i = 0; servers != NULL && i < c->servers.len; i++) {
        const coord_server *s = c->servers.items[i];
        json_t *cfg = json_loads(s->config_json, 0, NULL), *o;

        o = json_pack("{s:o, s:I, s:b}", "config", cfg ? cfg : json_object(), "configVersion",
                      (json_int_t)s->config_version, "replicasFromApi", s->from_api);
        if (o != NULL && s->from_api)
            json_object_set_new(
                o, "placement",
                json_pack("{s:I, s:{s:o, s:o}, s:s?}", "replicas", (json_int_t)s->replicas,
                          "affinity", "nodeIds", strv(s->node_ids, s->node_ids_len),
                          "excludeNodeIds", strv(s->exclude_node_ids, s->exclude_node_ids_len),
                          "strategy", s->strategy ? mcphub_lb_strategy_name(s->strategy) : NULL));
        if (o == NULL || json_object_set_new(servers, s->name, o) != 0) {
            json_decref(root);
            return MCPHUB_E_NOMEM;
        }
    }
    if (servers == NULL) {
        json_decref(root);
        return MCPHUB_E_NOMEM;
    }
    return finish(c, root, out);
}

/* Read a placement object into rc; the string arrays point into obj. */
static int read_placement(json_t *obj, const char *server, mcphub_replica_config *rc,
                          const char **nodes, const char **excl, size_t max)
{
    json_t *aff = json_object_get(obj, "affinity"), *v;
    json_int_t n = json_integer_value(json_object_get(obj, "replicas"));
    const char *st = json_string_value(json_object_get(obj, "strategy"));
    size_t i;

    memset(rc, 0, sizeof *rc);
    rc->size = sizeof *rc;
    rc->server = server;
    if (!json_is_integer(json_object_get(obj, "replicas")) || n < 0 || n > 65536)
        return MCPHUB_E_PARSE;
    rc->replicas = (uint32_t)n;
    if (st != NULL && mcphub_lb_strategy_parse(st, &rc->strategy) != 0)
        return MCPHUB_E_PARSE;
    json_array_foreach(json_object_get(aff, "nodeIds"), i, v) {
        if (i >= max || !json_is_string(v))
            return MCPHUB_E_PARSE;
        nodes[rc->node_ids_len++] = json_string_value(v);
    }
    json_array_foreach(json_object_get(aff, "excludeNodeIds"), i, v) {
        if (i >= max || !json_is_string(v))
            return MCPHUB_E_PARSE;
        excl[rc->exclude_node_ids_len++] = json_string_value(v);
    }
    rc->node_ids = nodes;
    rc->exclude_node_ids = excl;
    return 0;
}

/* Restore after a master restart.  A server's config version continues
 * from the saved one (bumped if the config changed while we were down, so
 * workers are brought up to date); replica settings changed through the API
 * win over the settings file. */
MCPHUB_API int mcphub_coordinator_restore(mcphub_coordinator *c, const char *json, size_t len)
{
    json_t *root, *servers, *o;
    const char *name;
    int rc = 0;

    if (c == NULL || json == NULL)
        return MCPHUB_E_INVAL;
    root = json_loadb(json, len, 0, NULL);
    servers = json_object_get(root, "servers");
    if (!json_is_object(servers) || json_integer_value(json_object_get(root, "version")) != 1) {
        json_decref(root);
        snprintf(c->errmsg, sizeof c->errmsg, "state: not a version 1 state document");
        return MCPHUB_E_PARSE;
    }
    /* Check every entry before changing anything: all or nothing. */
    json_object_foreach(servers, name, o) {
        json_t *pl = json_object_get(o, "placement");
        const char *nodes[256], *excl[256];
        mcphub_replica_config rcfg;

        if (!json_is_object(json_object_get(o, "config")) ||
            json_integer_value(json_object_get(o, "configVersion")) < 0 ||
            (json_is_true(json_object_get(o, "replicasFromApi")) &&
             (!json_is_object(pl) || read_placement(pl, name, &rcfg, nodes, excl, 256) != 0))) {
            json_decref(root);
            snprintf(c->errmsg, sizeof c->errmsg, "state: bad entry for server %.100s", name);
            return MCPHUB_E_PARSE;
        }
    }
    json_object_foreach(servers, name, o) {
        json_t *cfg = json_object_get(o, "config"), *pl = json_object_get(o, "placement");
        json_int_t ver = json_integer_value(json_object_get(o, "configVersion"));
        const char *nodes[256], *excl[256];
        mcphub_replica_config rcfg;
        coord_server *s;
        char *cfg_text;

        if (!json_is_object(cfg) || ver < 0) {
            rc = MCPHUB_E_PARSE;
            break;
        }
        s = mcphub__coord_server(c, name);
        if (s == NULL) {
            /* a server added through the API: it comes back with its config */
            cfg_text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
            rc = cfg_text ? mcphub_coordinator_set_server(c, name, cfg_text, NULL) : MCPHUB_E_NOMEM;
            free(cfg_text);
            if (rc != 0)
                break;
            s = mcphub__coord_server(c, name);
            s->config_version = (uint64_t)ver;
        } else {
            json_t *cur = json_loads(s->config_json, 0, NULL);
            int same = cur != NULL && json_equal(cur, cfg);

            json_decref(cur);
            s->config_version = same ? ((uint64_t)ver > s->config_version ? (uint64_t)ver
                                                                            : s->config_version)
                                     : (uint64_t)ver + 1;
        }
        if (json_is_true(json_object_get(o, "replicasFromApi")) && json_is_object(pl)) {
            if ((rc = read_placement(pl, name, &rcfg, nodes, excl, 256)) != 0 ||
                (rc = mcphub_coordinator_set_replicas(c, &rcfg)) != 0)
                break;
        }
    }
    json_decref(root);
    c->dirty = 1;
    return rc;
}
