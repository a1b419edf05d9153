/* The master's HTTP APIs: the cluster API (/api/cluster/...), MCPHub's REST
 * API answered for the whole cluster (/api/servers, /api/tools/call), the
 * health endpoint and Prometheus metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/jsonrpc.h"

#include "http_util_int.h"
#include "master_int.h"

/* ---- metrics -------------------------------------------------------------------------- */

static const double latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void mcphub__master_count(mcphub_master *m, const char *server, const char *method, int error,
                          double seconds)
{
    const char *labels[] = {"server", server, "method", method, NULL};

    mcphub_metrics_counter_add(m->metrics, "mcphub_requests_total",
                               "MCP requests routed, by server and method", labels, 1);
    if (error)
        mcphub_metrics_counter_add(m->metrics, "mcphub_request_errors_total",
                                   "MCP requests that ended in an error", labels, 1);
    mcphub_metrics_histogram_observe(m->metrics, "mcphub_request_duration_seconds",
                                     "Time from a client request to its answer", labels,
                                     latency_buckets,
                                     sizeof latency_buckets / sizeof latency_buckets[0], seconds);
}

/* Gauges are read when scraped. */
static void refresh_gauges(mcphub_master *m)
{
    static const char *const states[] = {"online", "unhealthy", "offline"};
    size_t i, n;

    mcphub_metrics_gauge_set(m->metrics, "mcphub_sessions", "Open client sessions", NULL,
                             (double)mcphub_mcp_http_session_count(m->mcp));
    if (!m->cluster)
        return;
    {
        mcphub_cluster_stats st;
        double by[3];

        mcphub_coordinator_stats(m->coord, &st);
        by[0] = (double)st.nodes_online;
        by[1] = (double)st.nodes_unhealthy;
        by[2] = (double)st.nodes_offline;
        for (i = 0; i < 3; i++) {
            const char *l[] = {"status", states[i], NULL};

            mcphub_metrics_gauge_set(m->metrics, "mcphub_nodes", "Worker nodes by status", l, by[i]);
        }
        /* counters: add what happened since the last scrape */
        mcphub_metrics_counter_add(m->metrics, "mcphub_failovers_total",
                                   "Sessions re-bound to another replica after a failure", NULL,
                                   (double)(st.failovers - m->last.failovers));
        mcphub_metrics_counter_add(m->metrics, "mcphub_reconcile_actions_total",
                                   "Allocate, release and config actions sent to workers", NULL,
                                   (double)(st.actions_sent - m->last.actions_sent));
        mcphub_metrics_counter_add(m->metrics, "mcphub_reconcile_action_failures_total",
                                   "Actions that failed", NULL,
                                   (double)(st.actions_failed - m->last.actions_failed));
        m->last = st;
    }
    n = mcphub_coordinator_server_count(m->coord);
    for (i = 0; i < n; i++) {
        mcphub_server_state s;
        const char *l[3] = {"server", NULL, NULL};

        if (mcphub_coordinator_server_at(m->coord, i, &s) != 0)
            continue;
        l[1] = s.server;
        mcphub_metrics_gauge_set(m->metrics, "mcphub_replicas_desired", "Desired replicas", l,
                                 (double)s.replicas);
        mcphub_metrics_gauge_set(m->metrics, "mcphub_replicas_running", "Running replicas", l,
                                 (double)s.running);
    }
}

void mcphub__master_metrics(mcphub_master *m, mcphub_http_request *req)
{
    static const mcphub_http_header ct = {"Content-Type", "text/plain; version=0.0.4"};
    char *out = NULL;
    size_t len = 0;

    refresh_gauges(m);
    if (mcphub_metrics_render(m->metrics, &out, &len) != 0) {
        mcphub__respond_envelope(req, 500, 0, "could not render metrics", NULL);
        return;
    }
    mcphub_http_respond(req, 200, &ct, 1, out, len);
    mcphub_metrics_text_free(m->metrics, out);
}

/* ---- health --------------------------------------------------------------------------- */

/* A server is connected when one of its replicas runs and the master knows
 * its tools (ready for clients: a call would not meet "Unknown tool"). */
static int server_up(const mcphub_master *m, const char *server)
{
    const cat_server *cs = mcphub__map_get(&m->cat, server);

    if (cs == NULL || cs->saved[1] == NULL)
        return 0;
    if (m->cluster) {
        mcphub_server_state st;

        return mcphub_coordinator_server_get(m->coord, server, &st) == 0 && st.running > 0;
    }
    return mcphub__master_local(m, server) != NULL &&
           mcphub_runner_status(mcphub__master_local(m, server)) == MCPHUB_REPLICA_RUNNING;
}

static size_t server_names(const mcphub_master *m, const char **out, size_t cap)
{
    return mcphub_catalog_route_servers(m->catalog, "", out, cap);
}

void mcphub__master_health(mcphub_master *m, mcphub_http_request *req)
{
    const char *names[4096];
    size_t i, n = server_names(m, names, 4096), up = 0;
    char ts[40];
    json_t *v;

    for (i = 0; i < n; i++)
        up += (size_t)server_up(m, names[i]);
    mcphub__iso_now(ts, sizeof ts);
    v = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:s, s:s, s:s}", "status",
                  m->shutting_down ? "unhealthy" : up == n ? "healthy" : "degraded", "message",
                  m->shutting_down ? "shutting down"
                  : up == n        ? "All enabled MCP servers are ready"
                                   : "Some enabled MCP servers are not ready",
                  "servers", "total", (json_int_t)n, "connected", (json_int_t)up, "disconnected",
                  (json_int_t)(n - up), "timestamp", ts, "nodeId", m->node_id, "role", "master");
    if (v != NULL && m->cluster) {
        mcphub_cluster_stats st;

        mcphub_coordinator_stats(m->coord, &st);
        json_object_set_new(v, "cluster",
                            json_pack("{s:I, s:I, s:I, s:I}", "nodes", (json_int_t)st.nodes,
                                      "online", (json_int_t)st.nodes_online, "replicasDesired",
                                      (json_int_t)st.replicas_desired, "replicasRunning",
                                      (json_int_t)st.replicas_running));
    }
    mcphub__respond_json(req, m->shutting_down ? 503 : 200, v);
}

/* ---- the cluster API ------------------------------------------------------------------- */

static void coord_json(mcphub_master *m, mcphub_http_request *req, int rc, char *out,
                       const char *what)
{
    char msg[300];

    if (rc == 0) {
        json_t *data = json_loads(out, JSON_DECODE_ANY, NULL);

        mcphub__respond_envelope(req, 200, 1, NULL, data);
    } else if (rc == MCPHUB_E_NOTFOUND) {
        snprintf(msg, sizeof msg, "%s not found", what);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
    } else {
        mcphub__respond_envelope(req, 500, 0, mcphub_strerror(rc), NULL);
    }
    mcphub_coordinator_free_string(m->coord, out);
}

static void put_replicas(mcphub_master *m, mcphub_http_request *req, const char *server)
{
    size_t len = 0, i;
    const char *body = mcphub_http_request_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL), *n, *aff, *v;
    mcphub_server_state cur;
    mcphub_replica_config rc;
    const char *nodes[256], *excl[256], *strategy;
    char msg[400], *out = NULL;
    int err;

    if (mcphub_coordinator_server_get(m->coord, server, &cur) != 0) {
        snprintf(msg, sizeof msg, "Server not found: %.200s", server);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
        json_decref(in);
        return;
    }
    memset(&rc, 0, sizeof rc);
    rc.size = sizeof rc;
    rc.server = server;
    rc.replicas = cur.replicas;
    rc.node_ids = cur.node_ids;
    rc.node_ids_len = cur.node_ids_len;
    rc.exclude_node_ids = cur.exclude_node_ids;
    rc.exclude_node_ids_len = cur.exclude_node_ids_len;
    rc.strategy = cur.strategy;
    err = !json_is_object(in);
    snprintf(msg, sizeof msg, "body must be a JSON object like {\"replicas\": 2}");
    if (!err && (n = json_object_get(in, "replicas")) != NULL) {
        if (!json_is_integer(n) || json_integer_value(n) < 0 || json_integer_value(n) > 1024) {
            snprintf(msg, sizeof msg, "replicas must be an integer from 0 to 1024");
            err = 1;
        } else {
            rc.replicas = (uint32_t)json_integer_value(n);
        }
    }
    if (!err && (aff = json_object_get(in, "affinity")) != NULL) {
        json_t *ids = json_object_get(aff, "nodeIds"), *ex = json_object_get(aff, "excludeNodeIds");

        if (!json_is_object(aff) || (ids && !json_is_array(ids)) || (ex && !json_is_array(ex)) ||
            json_array_size(ids) > 256 || json_array_size(ex) > 256) {
            snprintf(msg, sizeof msg, "affinity must be {\"nodeIds\": [...], \"excludeNodeIds\": [...]}");
            err = 1;
        }
        rc.node_ids_len = 0;
        rc.exclude_node_ids_len = 0;
        json_array_foreach(ids, i, v) {
            if (!json_is_string(v)) {
                snprintf(msg, sizeof msg, "affinity.nodeIds[%zu] must be a string", i);
                err = 1;
                break;
            }
            nodes[rc.node_ids_len++] = json_string_value(v);
        }
        json_array_foreach(ex, i, v) {
            if (!json_is_string(v)) {
                snprintf(msg, sizeof msg, "affinity.excludeNodeIds[%zu] must be a string", i);
                err = 1;
                break;
            }
            excl[rc.exclude_node_ids_len++] = json_string_value(v);
        }
        rc.node_ids = nodes;
        rc.exclude_node_ids = excl;
    }
    if (!err && (strategy = json_string_value(json_object_get(in, "strategy"))) != NULL &&
        mcphub_lb_strategy_parse(strategy, &rc.strategy) != 0) {
        snprintf(msg, sizeof msg,
                 "strategy (\"%.40s\") must be round-robin, least-connections, weighted or random",
                 strategy);
        err = 1;
    }
    if (err || mcphub_coordinator_set_replicas(m->coord, &rc) != 0) {
        mcphub__respond_envelope(req, 400, 0, err ? msg : mcphub_coordinator_errmsg(m->coord), NULL);
        json_decref(in);
        return;
    }
    /* Written to the state directory before we answer: acknowledged means kept. */
    if (mcphub__master_save_state(m) != 0) {
        mcphub__respond_envelope(req, 500, 0, "the change applies but could not be saved", NULL);
        json_decref(in);
        return;
    }
    mcphub__master_log(m, MCPHUB_LOG_INFO, "replicas_set server=%s replicas=%u source=api", server,
                       rc.replicas);
    mcphub_coordinator_tick(m->coord, mcphub__master_now(m));
    err = mcphub_coordinator_replicas_json(m->coord, server, mcphub__master_now(m),
                                           mcphub__master_wall(), &out);
    coord_json(m, req, err, out, "server");
    json_decref(in);
}

static int cluster_api(mcphub_master *m, mcphub_http_request *req, const char *path)
{
    const char *method = mcphub_http_request_method(req), *tail;
    uint64_t now = mcphub__master_now(m), wall = mcphub__master_wall();
    char seg[256], *out = NULL;
    int rc;

    if (strncmp(path, "/api/cluster/", 13) != 0 && strcmp(path, "/api/cluster") != 0)
        return 0;
    if (!m->cluster) {
        if (strcmp(path, "/api/cluster/status") == 0)
            mcphub__respond_envelope(req, 200, 1, NULL,
                                     json_pack("{s:b, s:s, s:s}", "enabled", 0, "mode",
                                               "standalone", "nodeId", m->node_id));
        else
            mcphub__respond_envelope(req, 404, 0,
                                     "the cluster is not enabled (CLUSTER_ENABLED=false)", NULL);
        return 1;
    }
    if (strcmp(path, "/api/cluster/status") == 0) {
        if (mcphub__want_method(req, "GET")) {
            rc = mcphub_coordinator_status_json(m->coord, now, wall, &out);
            coord_json(m, req, rc, out, "status");
        }
    } else if (strcmp(path, "/api/cluster/nodes") == 0) {
        if (mcphub__want_method(req, "GET")) {
            rc = mcphub_coordinator_nodes_json(m->coord, now, wall, &out);
            coord_json(m, req, rc, out, "nodes");
        }
    } else if ((tail = mcphub__path_tail(path, "/api/cluster/nodes/", seg, sizeof seg)) != NULL) {
        if (strcmp(method, "DELETE") == 0) {
            char msg[300];

            rc = mcphub_coordinator_remove_node(m->coord, tail, now);
            snprintf(msg, sizeof msg, rc == 0 ? "node %s is being removed: its replicas move first"
                                              : "Node not found: %s",
                     tail);
            mcphub__respond_envelope(req, rc == 0 ? 200 : 404, rc == 0, msg, NULL);
        } else if (mcphub__want_method(req, "GET")) {
            rc = mcphub_coordinator_node_json(m->coord, tail, now, wall, &out);
            coord_json(m, req, rc, out, "node");
        }
    } else if (strcmp(path, "/api/cluster/replicas") == 0) {
        if (mcphub__want_method(req, "GET")) {
            rc = mcphub_coordinator_replicas_json(m->coord, NULL, now, wall, &out);
            coord_json(m, req, rc, out, "replicas");
        }
    } else if ((tail = mcphub__path_tail(path, "/api/cluster/replicas/", seg, sizeof seg)) != NULL) {
        if (strcmp(method, "PUT") == 0) {
            put_replicas(m, req, tail);
        } else if (mcphub__want_method(req, "GET")) {
            rc = mcphub_coordinator_replicas_json(m->coord, tail, now, wall, &out);
            coord_json(m, req, rc, out, "server");
        }
    } else if (strcmp(path, "/api/cluster/sessions") == 0) {
        if (mcphub__want_method(req, "GET")) {
            const char *lim = mcphub_http_request_query(req, "limit");
            long l = lim ? strtol(lim, NULL, 10) : 1000;

            rc = mcphub_coordinator_sessions_json(m->coord, now, wall,
                                                  (size_t)(l > 0 && l <= 100000 ? l : 1000), &out);
            coord_json(m, req, rc, out, "sessions");
        }
    } else {
        char msg[300];

        snprintf(msg, sizeof msg, "Not found: %.200s", path);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
    }
    return 1;
}

/* ---- MCPHub's REST API ----------------------------------------------------------------------- */

static json_t *server_view(mcphub_master *m, const char *server)
{
    char *tools = NULL, *reps = NULL;
    size_t skipped = 0;
    json_t *v, *tl, *lr;
    const char *status = server_up(m, server) ? "connected" : "disconnected";

    mcphub_catalog_list_result(m->catalog, server, MCPHUB_CATALOG_TOOLS, &tools, &skipped);
    lr = tools ? json_loads(tools, 0, NULL) : NULL;
    tl = json_object_get(lr, "tools");
    v = json_pack("{s:s, s:s, s:O?}", "name", server, "status", status, "tools", tl);
    json_decref(lr); /* v holds its own reference to tl */
    mcphub_catalog_free_string(m->catalog, tools);
    if (v != NULL && m->cluster &&
        mcphub_coordinator_replicas_json(m->coord, server, mcphub__master_now(m),
                                         mcphub__master_wall(), &reps) == 0) {
        json_t *r = json_loads(reps, 0, NULL);

        json_object_set(v, "replicas", json_object_get(r, "instances"));
        json_decref(r);
        mcphub_coordinator_free_string(m->coord, reps);
    }
    return v;
}

static void api_servers(mcphub_master *m, mcphub_http_request *req)
{
    const char *names[4096];
    size_t i, n = server_names(m, names, 4096);
    json_t *a = json_array();

    for (i = 0; i < n; i++)
        json_array_append_new(a, server_view(m, names[i]));
    mcphub__respond_envelope(req, 200, 1, NULL, a);
}

/* POST /api/tools/call/:server — through a short-lived upstream. */
typedef struct rest_call {
    mcphub_master *m;
    mcphub_http_request *req;
    upstream *up;
    char sid[64];
    char tool[256];
    json_t *args;
    uint64_t started;
} rest_call;

static void rest_finish(rest_call *c)
{
    mcphub_master *m = c->m;

    if (c->req != NULL)
        mcphub_http_request_on_close(c->req, NULL, NULL);
    mcphub__upstream_close(c->up);
    if (m->cluster)
        mcphub_coordinator_session_end(m->coord, c->sid);
    json_decref(c->args);
    free(c);
}

static void rest_gone(mcphub_http_request *req, int completed, void *user_data)
{
    rest_call *c = user_data;

    (void)req;
    (void)completed;
    c->req = NULL; /* the answer will be dropped */
}

static void rest_message(upstream *up, const char *json, size_t len, void *user_data)
{
    rest_call *c = user_data;
    json_t *resp = json_loadb(json, len, 0, NULL), *result;
    int failed;

    (void)up;
    if (!json_is_object(resp) || json_object_get(resp, "id") == NULL ||
        json_object_get(resp, "method") != NULL) {
        json_decref(resp);
        return; /* progress or logs: not for the REST caller */
    }
    result = json_object_get(resp, "result");
    if (c->req != NULL) {
        /* c is freed below: the request must not call rest_gone later */
        mcphub_http_request_on_close(c->req, NULL, NULL);
        if (json_is_object(result))
            mcphub__respond_envelope(
                c->req, 200, 1, NULL,
                json_pack("{s:O?, s:O?, s:b, s:s, s:O}", "content",
                          json_object_get(result, "content"), "structuredContent",
                          json_object_get(result, "structuredContent"), "isError",
                          json_is_true(json_object_get(result, "isError")), "toolName", c->tool,
                          "arguments", c->args));
        else
            mcphub__respond_json(
                c->req, 500,
                json_pack("{s:b, s:s, s:s}", "success", 0, "message", "Failed to call tool",
                          "error",
                          json_string_value(json_object_get(json_object_get(resp, "error"), "message"))
                              ? json_string_value(
                                    json_object_get(json_object_get(resp, "error"), "message"))
                              : "no result"));
        c->req = NULL;
    }
    failed = !json_is_object(result); /* result lives in resp */
    json_decref(resp);
    mcphub__master_count(c->m, c->up->server, "tools/call", failed,
                         (double)(mcphub__master_now(c->m) - c->started) / 1000.0);
    rest_finish(c);
}

static void rest_closed(upstream *up, const char *why, void *user_data)
{
    rest_call *c = user_data;

    (void)up;
    if (c->req != NULL) {
        mcphub_http_request_on_close(c->req, NULL, NULL); /* c is freed below */
        mcphub__respond_json(c->req, 502,
                             json_pack("{s:b, s:s, s:s}", "success", 0, "message",
                                       "Failed to call tool", "error", why));
        c->req = NULL;
    }
    rest_finish(c);
}

static void api_tool_call(mcphub_master *m, mcphub_http_request *req, const char *server)
{
    size_t len = 0;
    const char *body = mcphub_http_request_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL), *params, *msg;
    const char *tool = json_string_value(json_object_get(in, "toolName"));
    const char *srv = NULL, *upname = NULL, *replica = NULL, *node = NULL;
    upstream_owner owner = {rest_message, rest_closed, NULL};
    rest_call *c;
    char *text, errmsg[300];

    if (!json_is_object(in) || tool == NULL || *tool == '\0') {
        mcphub__respond_envelope(req, 400, 0, "toolName is required", NULL);
        json_decref(in);
        return;
    }
    if (mcphub_catalog_route_check(m->catalog, server, NULL) != 0) {
        snprintf(errmsg, sizeof errmsg, "Server not found: %.200s", server);
        mcphub__respond_envelope(req, 404, 0, errmsg, NULL);
        json_decref(in);
        return;
    }
    if (mcphub_catalog_resolve_tool(m->catalog, server, tool, &srv, &upname) != 0) {
        snprintf(errmsg, sizeof errmsg, "Tool not available: %.200s", tool);
        mcphub__respond_envelope(req, 404, 0, errmsg, NULL);
        json_decref(in);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        mcphub__respond_envelope(req, 500, 0, "out of memory", NULL);
        json_decref(in);
        return;
    }
    c->m = m;
    c->req = req;
    c->started = mcphub__master_now(m);
    snprintf(c->tool, sizeof c->tool, "%s", tool);
    snprintf(c->sid, sizeof c->sid, "api-%08x%08x", (unsigned)m->random(m->random_user_data),
             (unsigned)m->random(m->random_user_data));
    c->args = json_incref(json_is_object(json_object_get(in, "arguments"))
                              ? json_object_get(in, "arguments")
                              : json_object());
    owner.user_data = c;
    if (m->cluster &&
        mcphub_coordinator_route(m->coord, c->sid, srv, mcphub__master_now(m), &replica, &node) != 0) {
        mcphub__respond_envelope(req, 503, 0, "No healthy replica of this server", NULL);
        json_decref(c->args);
        free(c);
        json_decref(in);
        return;
    }
    c->up = mcphub__upstream_open(m, srv, replica, node,
                                  "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                                  "\"clientInfo\":{\"name\":\"mcphub-rest\",\"version\":\"1\"}}",
                                  &owner);
    params = json_pack("{s:s, s:O}", "name", upname, "arguments", c->args);
    msg = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", "rest-1", "method",
                    "tools/call", "params", params);
    text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (c->up == NULL || text == NULL || mcphub__upstream_send(c->up, text, strlen(text)) != 0) {
        mcphub__respond_envelope(req, 503, 0, "No healthy replica of this server", NULL);
        c->req = NULL;
        rest_finish(c);
    } else {
        mcphub_http_request_on_close(req, rest_gone, c);
    }
    free(text);
    json_decref(msg);
    json_decref(in);
}

void mcphub__master_api(mcphub_master *m, mcphub_http_request *req, const char *path)
{
    const char *tail;
    char seg[256], msg[300];

    if (cluster_api(m, req, path))
        return;
    if (strcmp(path, "/api/servers") == 0) {
        if (mcphub__want_method(req, "GET"))
            api_servers(m, req);
    } else if ((tail = mcphub__path_tail(path, "/api/servers/", seg, sizeof seg)) != NULL) {
        if (mcphub__want_method(req, "GET")) {
            if (mcphub_catalog_route_check(m->catalog, tail, NULL) != 0) {
                snprintf(msg, sizeof msg, "Server not found: %.200s", tail);
                mcphub__respond_envelope(req, 404, 0, msg, NULL);
            } else {
                mcphub__respond_envelope(req, 200, 1, NULL, server_view(m, tail));
            }
        }
    } else if ((tail = mcphub__path_tail(path, "/api/tools/call/", seg, sizeof seg)) != NULL) {
        if (mcphub__want_method(req, "POST"))
            api_tool_call(m, req, tail);
    } else {
        snprintf(msg, sizeof msg, "Not found: %.200s", path);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
    }
}
