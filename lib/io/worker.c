/* The worker node: life, HTTP routes and MCPHub's REST API.  See
 * include/mcphub/worker.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcphub/version.h"

#include "http_util_int.h"
#include "worker_int.h"

void mcphub__worker_log(mcphub_worker *w, mcphub_log_level lvl, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    if (w->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    w->log(lvl, buf, w->log_user_data);
}

/* ---- replicas ------------------------------------------------------------------------------ */

/* The config of a server: what the master sent, else the settings file. */
const mcphub_server_def *mcphub__worker_def(const mcphub_worker *w, const char *server)
{
    const mcphub_server_def *d = mcphub_config_server_find(w->allocated, server);

    return d != NULL ? d : mcphub_config_server_find(w->config, server);
}

size_t mcphub__worker_replica_count(const mcphub_worker *w)
{
    size_t i = 0, n = 0;
    void *v;

    while (mcphub__map_next(&w->replicas, &i, NULL, &v))
        n += !((wrep *)v)->releasing;
    return n;
}

static void on_runner_status(mcphub_runner *r, mcphub_replica_status st, void *user_data);

static void on_runner_stderr(mcphub_runner *r, const char *line, size_t len, void *user_data)
{
    mcphub_worker *w = user_data;

    mcphub__worker_log(w, MCPHUB_LOG_INFO, "server_stderr server=%s replica=%s line=\"%.*s\"",
                       mcphub_runner_server(r), mcphub_runner_replica(r),
                       (int)(len > 500 ? 500 : len), line);
}

static void wrep_free(mcphub_worker *w, wrep *r)
{
    mcphub_runner_free(r->runner);
    mcphub__free(&w->mem, r->id);
    mcphub__free(&w->mem, r->server);
    mcphub__free(&w->mem, r);
}

wrep *mcphub__worker_replica_add(mcphub_worker *w, const char *id, const mcphub_server_def *def,
                                 uint64_t config_version)
{
    mcphub_runner_opts o;
    mcphub_runner_callbacks cb;
    mcphub_mem m = {sizeof m, w->mem.malloc_fn, w->mem.realloc_fn, w->mem.free_fn,
                    w->mem.user_data};
    wrep *r = mcphub__calloc(&w->mem, 1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->id = mcphub__strdup(&w->mem, id);
    r->server = mcphub__strdup(&w->mem, def->name);
    r->config_version = config_version;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = w->loop;
    o.server = def->name;
    o.replica = id;
    o.def = def;
    o.config_version = config_version;
    /* One child serves many sessions: offer what clients may declare; a
     * server->client request only goes to a session that declared it. */
    o.client_caps = 0x7;
    o.init_timeout_ms = def->timeout_ms > 60000 ? def->timeout_ms : 60000;
    o.random = w->random;
    o.random_user_data = w->random_user_data;
    o.log = w->log;
    o.log_user_data = w->log_user_data;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.send_downstream = mcphub__worker_send_downstream;
    cb.status = on_runner_status;
    cb.stderr_line = on_runner_stderr;
    cb.user_data = w;
    if (r->id == NULL || r->server == NULL || mcphub_runner_new(&r->runner, &o, &cb, &m) != 0 ||
        mcphub__map_put(&w->replicas, r->id, r, NULL) != 0) {
        wrep_free(w, r);
        return NULL;
    }
    if (mcphub_runner_start(r->runner) != 0)
        mcphub__worker_log(w, MCPHUB_LOG_WARN, "replica_start_failed server=%s replica=%s error=\"%s\"",
                           r->server, r->id, mcphub_runner_last_error(r->runner));
    return r;
}

static int free_released(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_worker *w = user_data;
    size_t i = 0;
    void *v;

    (void)loop;
    (void)id;
    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;

        if (r->releasing && mcphub_runner_status(r->runner) != MCPHUB_REPLICA_RUNNING &&
            mcphub_runner_status(r->runner) != MCPHUB_REPLICA_STARTING &&
            mcphub_runner_pid(r->runner) == 0) {
            mcphub__map_del(&w->replicas, r->id);
            mcphub__worker_log(w, MCPHUB_LOG_INFO, "replica_released server=%s replica=%s",
                               r->server, r->id);
            wrep_free(w, r);
        }
    }
    return 0;
}

static void on_runner_status(mcphub_runner *rn, mcphub_replica_status st, void *user_data)
{
    mcphub_worker *w = user_data;
    wrep *r = mcphub__map_get(&w->replicas, mcphub_runner_replica(rn));

    mcphub__worker_log(w, st == MCPHUB_REPLICA_ERROR ? MCPHUB_LOG_WARN : MCPHUB_LOG_INFO,
                       "replica_status server=%s replica=%s status=%s",
                       mcphub_runner_server(rn), mcphub_runner_replica(rn),
                       mcphub_replica_status_name(st));
    if (r != NULL && r->releasing && st == MCPHUB_REPLICA_STOPPED)
        mcphub_loop_defer(w->loop, NULL, free_released, w); /* not inside its own callback */
}

/* Stop a replica for good: its sessions end, the process group is stopped
 * and reaped, then it is forgotten. */
void mcphub__worker_replica_release(mcphub_worker *w, wrep *r)
{
    if (r->releasing)
        return;
    r->releasing = 1;
    mcphub__worker_end_sessions_of(w, r->id);
    mcphub_runner_stop(r->runner);
    if (mcphub_runner_status(r->runner) == MCPHUB_REPLICA_STOPPED ||
        mcphub_runner_pid(r->runner) == 0)
        mcphub_loop_defer(w->loop, NULL, free_released, w);
}

/* ---- health and MCPHub's REST API ----------------------------------------------------- */

static const char *server_status(const mcphub_worker *w, const char *server)
{
    size_t i = 0;
    void *v;
    int starting = 0;

    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;

        if (r->releasing || strcmp(r->server, server) != 0)
            continue;
        if (mcphub_runner_status(r->runner) == MCPHUB_REPLICA_RUNNING)
            return "connected";
        starting |= mcphub_runner_status(r->runner) == MCPHUB_REPLICA_STARTING ||
                    mcphub_runner_status(r->runner) == MCPHUB_REPLICA_PENDING;
    }
    return starting ? "connecting" : "disconnected";
}

static void health(mcphub_worker *w, mcphub_http_request *req)
{
    size_t i = 0, total = 0, up = 0;
    void *v;
    char ts[40];
    const char *st;

    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;

        if (r->releasing)
            continue;
        total++;
        up += mcphub_runner_status(r->runner) == MCPHUB_REPLICA_RUNNING;
    }
    mcphub__iso_now(ts, sizeof ts);
    st = w->shutting_down ? "unhealthy" : up == total ? "healthy" : "degraded";
    mcphub__respond_json(
        req, w->shutting_down ? 503 : 200,
        json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:s, s:s, s:s, s:s}", "status", st, "message",
                  w->shutting_down ? "shutting down"
                  : up == total    ? "All enabled MCP servers are ready"
                                   : "Some enabled MCP servers are not ready",
                  "servers", "total", (json_int_t)total, "connected", (json_int_t)up,
                  "disconnected", (json_int_t)(total - up), "timestamp", ts, "nodeId",
                  w->node_id, "role", "worker", "version", MCPHUB_VERSION_STRING));
}

/* Tools as MCPHub shows them: prefixed names, overrides applied. */
static json_t *tools_view(const mcphub_worker *w, const char *server, const wrep *r)
{
    const mcphub_routing_settings *rt = mcphub_config_routing(w->config);
    json_t *tools = json_loads(r && mcphub_runner_tools(r->runner) ? mcphub_runner_tools(r->runner)
                                                                   : "[]",
                               0, NULL);
    json_t *out = json_array(), *t;
    size_t i;

    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const mcphub_tool_override *ov;
        char full[300];

        if (name == NULL)
            continue;
        ov = mcphub_config_tool_find(w->allocated, server, name);
        if (ov == NULL)
            ov = mcphub_config_tool_find(w->config, server, name);
        snprintf(full, sizeof full, "%s%s%s", server, rt->name_separator, name);
        json_array_append_new(
            out, json_pack("{s:s, s:O?, s:O?, s:b, s:b}", "name", full, "description",
                           ov && ov->description ? json_string(ov->description)
                                                 : json_object_get(t, "description"),
                           "inputSchema", json_object_get(t, "inputSchema"), "enabled",
                           ov ? ov->enabled : 1, "hasDescriptionOverride",
                           ov && ov->description != NULL));
    }
    json_decref(tools);
    return out;
}

static json_t *server_view(const mcphub_worker *w, const char *server)
{
    const mcphub_server_def *d = mcphub__worker_def(w, server);
    json_t *reps = json_array();
    const wrep *any = NULL;
    const char *err = NULL;
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        const wrep *r = v;

        if (r->releasing || strcmp(r->server, server) != 0)
            continue;
        if (any == NULL || mcphub_runner_status(r->runner) == MCPHUB_REPLICA_RUNNING)
            any = r;
        if (*mcphub_runner_last_error(r->runner))
            err = mcphub_runner_last_error(r->runner);
        json_array_append_new(
            reps, json_pack("{s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:s?}", "id", r->id, "status",
                            mcphub_replica_status_name(mcphub_runner_status(r->runner)),
                            "restarts", (json_int_t)mcphub_runner_restarts(r->runner), "pid",
                            mcphub_runner_pid(r->runner), "tools",
                            (json_int_t)mcphub_runner_tool_count(r->runner), "sessions",
                            (json_int_t)mcphub_runner_session_count(r->runner), "configVersion",
                            (json_int_t)r->config_version, "lastError",
                            *mcphub_runner_last_error(r->runner)
                                ? mcphub_runner_last_error(r->runner)
                                : NULL));
    }
    return json_pack("{s:s, s:s, s:s?, s:o, s:o, s:b, s:{s:s, s:s?, s:s?}}", "name", server,
                     "status", server_status(w, server), "error", err, "tools",
                     tools_view(w, server, any), "replicas", reps, "enabled",
                     d ? d->enabled : 1, "config", "type",
                     d ? mcphub_server_type_name(d->type) : "stdio", "command",
                     d ? d->command : NULL, "url", d ? d->url : NULL);
}

/* The servers this worker knows: running replicas' and, standalone, the
 * settings file's. */
int mcphub__worker_server_known(const mcphub_worker *w, const char *server)
{
    size_t i = 0;
    void *v;

    if (w->standalone && mcphub_config_server_find(w->config, server) != NULL)
        return 1;
    while (mcphub__map_next(&w->replicas, &i, NULL, &v))
        if (strcmp(((wrep *)v)->server, server) == 0 && !((wrep *)v)->releasing)
            return 1;
    return 0;
}

static void api_servers(mcphub_worker *w, mcphub_http_request *req)
{
    json_t *a = json_array(), *seen = json_object();
    size_t i, n = mcphub_config_server_count(w->config);
    void *v;

    if (w->standalone)
        for (i = 0; i < n; i++) {
            const char *name = mcphub_config_server_at(w->config, i)->name;

            json_object_set_new(seen, name, json_true());
            json_array_append_new(a, server_view(w, name));
        }
    i = 0;
    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;

        if (r->releasing || json_object_get(seen, r->server) != NULL)
            continue;
        json_object_set_new(seen, r->server, json_true());
        json_array_append_new(a, server_view(w, r->server));
    }
    json_decref(seen);
    mcphub__respond_envelope(req, 200, 1, NULL, a);
}

static void api_server(mcphub_worker *w, mcphub_http_request *req, const char *name)
{
    char msg[300];

    if (!mcphub__worker_server_known(w, name)) {
        snprintf(msg, sizeof msg, "Server not found: %s", name);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
        return;
    }
    mcphub__respond_envelope(req, 200, 1, NULL, server_view(w, name));
}

/* POST /api/tools/call/:server — a tool call outside any MCP session. */
typedef struct rest_call {
    mcphub_http_request *req;  /* NULL once the client left */
    char *tool;
    json_t *args;
} rest_call;

static void rest_call_free(rest_call *c)
{
    free(c->tool);
    json_decref(c->args);
    free(c);
}

static void rest_call_gone(mcphub_http_request *req, int completed, void *user_data)
{
    rest_call *c = user_data;

    (void)req;
    (void)completed;
    c->req = NULL;
}

static void rest_call_done(mcphub_runner *r, const char *json, size_t len, void *user_data)
{
    rest_call *c = user_data;
    json_t *resp = json_loadb(json, len, 0, NULL);
    json_t *result = json_object_get(resp, "result");

    (void)r;
    if (c->req != NULL) {
        mcphub_http_request_on_close(c->req, NULL, NULL);
        if (json_is_object(result)) {
            json_t *data = json_pack("{s:O?, s:O?, s:b, s:s, s:O}", "content",
                                     json_object_get(result, "content"), "structuredContent",
                                     json_object_get(result, "structuredContent"), "isError",
                                     json_is_true(json_object_get(result, "isError")), "toolName",
                                     c->tool, "arguments", c->args);

            mcphub__respond_envelope(c->req, 200, 1, NULL, data);
        } else {
            json_t *v = json_pack(
                "{s:b, s:s, s:s}", "success", 0, "message", "Failed to call tool", "error",
                json_string_value(json_object_get(json_object_get(resp, "error"), "message"))
                    ? json_string_value(json_object_get(json_object_get(resp, "error"), "message"))
                    : "no result");

            mcphub__respond_json(c->req, 500, v);
        }
    }
    json_decref(resp);
    rest_call_free(c);
}

wrep *mcphub__worker_pick(mcphub_worker *w, const char *server)
{
    wrep *best = NULL;
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;

        if (r->releasing || strcmp(r->server, server) != 0 ||
            mcphub_runner_status(r->runner) != MCPHUB_REPLICA_RUNNING)
            continue;
        if (best == NULL ||
            mcphub_runner_session_count(r->runner) < mcphub_runner_session_count(best->runner))
            best = r;
    }
    return best;
}

static void api_tool_call(mcphub_worker *w, mcphub_http_request *req, const char *server)
{
    const mcphub_routing_settings *rt = mcphub_config_routing(w->config);
    size_t len = 0, sl = strlen(server), sepl = strlen(rt->name_separator);
    const char *body = mcphub_http_request_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL), *args, *params;
    const char *tool = json_string_value(json_object_get(in, "toolName"));
    const mcphub_tool_override *ov;
    rest_call *c;
    char *ps;
    wrep *r;

    if (!json_is_object(in) || tool == NULL || *tool == '\0') {
        mcphub__respond_envelope(req, 400, 0, "toolName is required", NULL);
        json_decref(in);
        return;
    }
    /* accept "server-tool" as well as "tool" */
    if (strncmp(tool, server, sl) == 0 && strncmp(tool + sl, rt->name_separator, sepl) == 0)
        tool += sl + sepl;
    args = json_object_get(in, "arguments");
    if (args != NULL && !json_is_object(args)) {
        mcphub__respond_envelope(req, 400, 0, "arguments must be an object", NULL);
        json_decref(in);
        return;
    }
    ov = mcphub_config_tool_find(w->allocated, server, tool);
    if (ov == NULL)
        ov = mcphub_config_tool_find(w->config, server, tool);
    if (!mcphub__worker_server_known(w, server) || (ov != NULL && !ov->enabled)) {
        char msg[300];

        snprintf(msg, sizeof msg, "%s: %s", mcphub__worker_server_known(w, server) ? "Tool not available"
                                                                      : "Server not found",
                 mcphub__worker_server_known(w, server) ? tool : server);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
        json_decref(in);
        return;
    }
    r = mcphub__worker_pick(w, server);
    if (r == NULL) {
        mcphub__respond_envelope(req, 503, 0, "No running replica of this server on this node",
                                 NULL);
        json_decref(in);
        return;
    }
    params = json_pack("{s:s, s:O}", "name", tool, "arguments", args ? args : json_object());
    ps = params ? json_dumps(params, JSON_COMPACT) : NULL;
    c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->req = req;
        c->tool = strdup(tool);
        c->args = json_incref(args ? args : json_object());
    }
    if (ps == NULL || c == NULL || c->tool == NULL ||
        mcphub_runner_call(r->runner, "tools/call", ps, rest_call_done, c) != 0) {
        mcphub__respond_envelope(req, 503, 0, "Failed to call tool", NULL);
        if (c != NULL)
            rest_call_free(c);
    } else {
        mcphub_http_request_on_close(req, rest_call_gone, c);
    }
    free(ps);
    json_decref(params);
    json_decref(in);
}

/* ---- routing ----------------------------------------------------------------------------- */

static void not_found(mcphub_http_request *req, const char *path)
{
    char msg[300];

    snprintf(msg, sizeof msg, "Not found: %.200s", path);
    mcphub__respond_envelope(req, 404, 0, msg, NULL);
}

/* /mcp/:server (or /sse/:server) for a server this node does not know: 404
 * with a JSON-RPC error, whatever the method, before any session exists. */
static void unknown_server(mcphub_http_request *req, const char *server)
{
    char text[300];
    json_t *msg;

    snprintf(text, sizeof text, "Unknown server: %.200s", server);
    msg = json_string(text);
    if (msg == NULL) /* the name is not UTF-8 */
        msg = json_string("Unknown server");
    mcphub__respond_json(req, 404,
                         json_pack("{s:s, s:{s:i, s:o}, s:n}", "jsonrpc", "2.0", "error", "code",
                                   -32001, "message", msg, "id"));
}

/* "/mcp/fetch" with ?replica=fetch-1 -> route "fetch#fetch-1" (the worker's
 * own convention: one session goes to one replica). */
static const char *mcp_route(mcphub_http_request *req, const char *server, char *buf, size_t cap)
{
    const char *rep = mcphub_http_request_query(req, "replica");

    if (rep == NULL || *rep == '\0')
        return server;
    snprintf(buf, cap, "%s#%s", server, rep);
    return buf;
}

static void on_request(mcphub_http_request *req, void *user_data)
{
    mcphub_worker *w = user_data;
    const char *path = mcphub_http_request_path(req), *tail;
    char seg[256], route[512];

    if (strcmp(path, "/health") == 0) {
        if (mcphub__want_method(req, "GET"))
            health(w, req);
        return;
    }
    if (w->token != NULL && *w->token != '\0' &&
        !mcphub_secret_equal(mcphub_http_request_header(req, "X-Cluster-Token"), w->token)) {
        mcphub__respond_envelope(req, 401, 0, "missing or invalid X-Cluster-Token", NULL);
        return;
    }
    if ((tail = mcphub__path_tail(path, "/mcp/", seg, sizeof seg)) != NULL) {
        if (!mcphub__worker_server_known(w, tail))
            unknown_server(req, tail);
        else
            mcphub_mcp_http_handle(w->mcp, req, MCPHUB_MCP_STREAMABLE,
                                   mcp_route(req, tail, route, sizeof route));
    } else if ((tail = mcphub__path_tail(path, "/sse/", seg, sizeof seg)) != NULL) {
        if (!mcphub__worker_server_known(w, tail))
            unknown_server(req, tail);
        else
            mcphub_mcp_http_handle(w->mcp, req, MCPHUB_MCP_LEGACY_SSE,
                                   mcp_route(req, tail, route, sizeof route));
    } else if (strcmp(path, "/messages") == 0) {
        mcphub_mcp_http_handle(w->mcp, req, MCPHUB_MCP_LEGACY_POST, NULL);
    } else if (strcmp(path, "/internal/servers/allocate") == 0) {
        if (mcphub__want_method(req, "POST"))
            mcphub__worker_allocate(w, req);
    } else if (strcmp(path, "/internal/servers/release") == 0) {
        if (mcphub__want_method(req, "POST"))
            mcphub__worker_release(w, req);
    } else if (strcmp(path, "/api/servers") == 0) {
        if (mcphub__want_method(req, "GET"))
            api_servers(w, req);
    } else if ((tail = mcphub__path_tail(path, "/api/servers/", seg, sizeof seg)) != NULL) {
        if (mcphub__want_method(req, "GET"))
            api_server(w, req, tail);
    } else if ((tail = mcphub__path_tail(path, "/api/tools/call/", seg, sizeof seg)) != NULL) {
        if (mcphub__want_method(req, "POST"))
            api_tool_call(w, req, tail);
    } else if (strcmp(path, "/mcp") == 0 || strcmp(path, "/sse") == 0) {
        mcphub__respond_envelope(req, 404, 0,
                                 "this worker serves one server per endpoint: use /mcp/:server",
                                 NULL);
    } else {
        not_found(req, path);
    }
}

/* ---- life ---------------------------------------------------------------------------------- */

static int on_tick(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_worker *w = user_data;

    (void)loop;
    (void)id;
    mcphub__worker_agent_tick(w);
    return 0;
}

MCPHUB_API int mcphub_worker_new(mcphub_worker **out, const mcphub_worker_opts *opts,
                                 const mcphub_mem *mem)
{
    mcphub_worker *w;
    mcphub__mem m;
    const mcphub_cluster_settings *cs;
    int rc;

    if (out == NULL || opts == NULL || opts->loop == NULL || opts->config == NULL ||
        opts->random == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&m, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0)
        return rc;
    w = mcphub__calloc(&m, 1, sizeof *w);
    if (w == NULL)
        return MCPHUB_E_NOMEM;
    w->mem = m;
    w->loop = opts->loop;
    w->config = opts->config;
    w->standalone = opts->standalone;
    w->random = opts->random;
    w->random_user_data = opts->random_user_data;
    w->log = opts->log;
    w->log_user_data = opts->log_user_data;
    cs = mcphub_config_cluster(w->config);
    w->node_id = cs->node_id && *cs->node_id ? cs->node_id : "worker";
    w->token = cs->token;
    mcphub__map_init(&w->replicas, &w->mem, w->random(w->random_user_data));
    mcphub__map_init(&w->bindings, &w->mem, w->random(w->random_user_data));
    mcphub__sysinfo_init(&w->sysinfo, &w->meta, MCPHUB_VERSION_STRING);
    if ((opts->tls_cert_pem && (w->tls_cert = mcphub__strdup(&w->mem, opts->tls_cert_pem)) == NULL) ||
        (opts->tls_key_pem && (w->tls_key = mcphub__strdup(&w->mem, opts->tls_key_pem)) == NULL) ||
        (opts->tls_ca_file && (w->tls_ca = mcphub__strdup(&w->mem, opts->tls_ca_file)) == NULL) ||
        (rc = mcphub_config_new_empty(&w->allocated, NULL, mem)) != 0) {
        mcphub_worker_free(w);
        return MCPHUB_E_NOMEM;
    }
    *out = w;
    return 0;
}

MCPHUB_API int mcphub_worker_start(mcphub_worker *w)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(w->config);
    const mcphub_routing_settings *rt = mcphub_config_routing(w->config);
    mcphub_mem m = {sizeof m, w->mem.malloc_fn, w->mem.realloc_fn, w->mem.free_fn,
                    w->mem.user_data};
    mcphub_http_server_opts so;
    mcphub_http_client_opts co;
    mcphub_mcp_http_opts mo;
    size_t i;
    int rc;

    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.host = cs->master.host;
    so.port = (uint16_t)cs->master.port;
    so.tls_cert_pem = w->tls_cert;
    so.tls_key_pem = w->tls_key;
    so.max_body = rt->json_body_limit;
    so.handler = on_request;
    so.user_data = w;
    so.log = w->log;
    so.log_user_data = w->log_user_data;
    rc = mcphub_http_server_new(&w->http, w->loop, &so, &m);
    if (rc != 0) {
        snprintf(w->errmsg, sizeof w->errmsg, "cannot listen on %s:%u: %s", so.host,
                 (unsigned)so.port, mcphub_strerror(rc));
        return rc;
    }
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.backend = mcphub__worker_backend;
    mo.backend.user_data = w;
    mo.random = w->random;
    mo.random_user_data = w->random_user_data;
    mo.log = w->log;
    mo.log_user_data = w->log_user_data;
    if ((rc = mcphub_mcp_http_new(&w->mcp, w->loop, &mo, &m)) != 0) {
        snprintf(w->errmsg, sizeof w->errmsg, "mcp transport: %s", mcphub_strerror(rc));
        return rc;
    }
    memset(&co, 0, sizeof co);
    co.size = sizeof co;
    co.ca_file = w->tls_ca;
    co.default_timeout_ms = 10000;
    co.log = w->log;
    co.log_user_data = w->log_user_data;
    if ((rc = mcphub_http_client_new(&w->client, w->loop, &co, &m)) != 0) {
        snprintf(w->errmsg, sizeof w->errmsg, "http client: %s", mcphub_strerror(rc));
        return rc;
    }
    mcphub__worker_log(w, MCPHUB_LOG_INFO, "worker_listen node=%s host=%s port=%u tls=%d mode=%s",
                       w->node_id, so.host, (unsigned)mcphub_http_server_port(w->http),
                       w->tls_cert != NULL, w->standalone ? "standalone" : "cluster");
    if (w->standalone) {
        for (i = 0; i < mcphub_config_server_count(w->config); i++) {
            const mcphub_server_def *d = mcphub_config_server_at(w->config, i);
            char id[300];

            if (!d->enabled)
                continue;
            snprintf(id, sizeof id, "%s-local", d->name);
            if (mcphub__worker_replica_add(w, id, d, 0) == NULL)
                mcphub__worker_log(w, MCPHUB_LOG_ERROR, "replica_create_failed server=%s",
                                   d->name);
        }
    } else if ((rc = mcphub__worker_agent_new(w)) != 0) {
        snprintf(w->errmsg, sizeof w->errmsg, "cluster agent: %s", mcphub_strerror(rc));
        return rc;
    }
    return mcphub_loop_timer_add(w->loop, &w->tick_timer, 100, 100, on_tick, w);
}

MCPHUB_API uint16_t mcphub_worker_port(const mcphub_worker *w)
{
    return w && w->http ? mcphub_http_server_port(w->http) : 0;
}

MCPHUB_API void mcphub_worker_shutdown(mcphub_worker *w)
{
    size_t i = 0;
    void *v;

    if (w == NULL || w->shutting_down)
        return;
    w->shutting_down = 1;
    mcphub__worker_log(w, MCPHUB_LOG_INFO, "worker_shutdown replicas=%zu",
                       mcphub__worker_replica_count(w));
    if (w->http != NULL)
        mcphub_http_server_stop_accepting(w->http);
    while (mcphub__map_next(&w->replicas, &i, NULL, &v))
        mcphub__worker_replica_release(w, v);
}

MCPHUB_API int mcphub_worker_stopped(const mcphub_worker *w)
{
    return w == NULL || (w->shutting_down && w->replicas.len == 0);
}

MCPHUB_API const char *mcphub_worker_errmsg(const mcphub_worker *w)
{
    return w ? w->errmsg : "";
}

MCPHUB_API void mcphub_worker_free(mcphub_worker *w)
{
    size_t i = 0;
    void *v;

    if (w == NULL)
        return;
    if (w->tick_timer != 0)
        mcphub_loop_timer_cancel(w->loop, w->tick_timer);
    mcphub_agent_free(w->agent);
    mcphub_mcp_http_free(w->mcp); /* ends sessions: runners still exist */
    while (mcphub__map_next(&w->replicas, &i, NULL, &v))
        wrep_free(w, v);
    mcphub__map_free(&w->replicas);
    mcphub__map_free(&w->bindings);
    mcphub_http_client_free(w->client); /* drops requests without callbacks */
    free(w->agent_call);
    mcphub_http_server_free(w->http);
    mcphub_config_free(w->allocated);
    mcphub__free(&w->mem, w->reports);
    mcphub__free(&w->mem, w->tls_cert);
    mcphub__free(&w->mem, w->tls_key);
    mcphub__free(&w->mem, w->tls_ca);
    mcphub__free(&w->mem, w);
}
