/* The worker's MCP sessions: each client session on /mcp/:server is bound
 * to one replica of that server and multiplexed onto it (mcphub_runner).
 * The settings' tool overrides (enabled / description) apply: tools/list is
 * answered from the replica's cached list with them applied, and a call to a
 * disabled tool is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcphub/jsonrpc.h"

#include "worker_int.h"

typedef struct binding {
    char key[24];                 /* the session serial, decimal */
    char *replica;
    char *server;
    mcphub_mcp_session *s;
} binding;

static void serial_key(uint64_t serial, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)serial);
}

static int has_overrides(const mcphub_worker *w, const char *server)
{
    const mcphub_server_def *d = mcphub__worker_def(w, server);

    return d != NULL && d->tools_len > 0;
}

static const mcphub_tool_override *override_of(const mcphub_worker *w, const char *server,
                                               const char *tool)
{
    const mcphub_tool_override *ov = mcphub_config_tool_find(w->allocated, server, tool);

    return ov != NULL ? ov : mcphub_config_tool_find(w->config, server, tool);
}

/* tools/list from the cached list, overrides applied. */
static int answer_tools_list(mcphub_worker *w, binding *b, wrep *r, const mcphub_jsonrpc_msg *msg)
{
    json_t *tools = json_loads(mcphub_runner_tools(r->runner) ? mcphub_runner_tools(r->runner)
                                                              : "[]",
                               0, NULL);
    json_t *out = json_array(), *t, *res;
    char *result, *resp = NULL, idbuf[300];
    size_t i, rlen = 0;
    int rc;

    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const mcphub_tool_override *ov = name ? override_of(w, b->server, name) : NULL;
        json_t *copy;

        if (ov != NULL && !ov->enabled)
            continue;
        copy = json_deep_copy(t);
        if (ov != NULL && ov->description != NULL)
            json_object_set_new(copy, "description", json_string(ov->description));
        json_array_append_new(out, copy);
    }
    res = json_pack("{s:o}", "tools", out);
    result = res ? json_dumps(res, JSON_COMPACT) : NULL;
    rc = result ? mcphub_jsonrpc_result_response(&resp, &rlen, msg->id.ptr, msg->id.len, result,
                                                 strlen(result), NULL)
                : MCPHUB_E_NOMEM;
    if (rc == 0 && msg->id.len < sizeof idbuf) {
        memcpy(idbuf, msg->id.ptr, msg->id.len);
        idbuf[msg->id.len] = '\0';
        mcphub_mcp_session_send(b->s, resp, rlen, idbuf);
    }
    free(resp);
    free(result);
    json_decref(res);
    json_decref(tools);
    return rc;
}

/* A call to a tool the settings disable: refused as an unknown tool. */
static int disabled_call(mcphub_worker *w, binding *b, const mcphub_jsonrpc_msg *msg)
{
    json_t *params = json_loadb(msg->params.ptr, msg->params.len, 0, NULL);
    const char *name = json_string_value(json_object_get(params, "name"));
    const mcphub_tool_override *ov = name ? override_of(w, b->server, name) : NULL;
    char text[300], idbuf[300], *resp = NULL;
    size_t len = 0;
    int refused = 0;

    if (ov != NULL && !ov->enabled && msg->id.len < sizeof idbuf) {
        snprintf(text, sizeof text, "Tool not available: %s", name);
        if (mcphub_jsonrpc_error_response(&resp, &len, msg->id.ptr, msg->id.len,
                                          MCPHUB_JSONRPC_INVALID_PARAMS, text, NULL) == 0) {
            memcpy(idbuf, msg->id.ptr, msg->id.len);
            idbuf[msg->id.len] = '\0';
            mcphub_mcp_session_send(b->s, resp, len, idbuf);
            free(resp);
        }
        refused = 1;
    }
    json_decref(params);
    return refused;
}

static int be_open(mcphub_mcp_session *s, const char *params, size_t params_len, char **result,
                   const char **error_text, void *user_data)
{
    mcphub_worker *w = user_data;
    const char *route = mcphub_mcp_session_route(s), *hash = strchr(route, '#');
    char server[256];
    binding *b;
    wrep *r;

    (void)params;
    (void)params_len;
    snprintf(server, sizeof server, "%.*s", hash ? (int)(hash - route) : (int)strlen(route), route);
    if (w->shutting_down) {
        *error_text = "this node is shutting down";
        return MCPHUB_E_UNAVAILABLE;
    }
    if (hash != NULL) {
        r = mcphub__map_get(&w->replicas, hash + 1);
        if (r != NULL && (r->releasing || strcmp(r->server, server) != 0 ||
                          mcphub_runner_status(r->runner) != MCPHUB_REPLICA_RUNNING))
            r = NULL;
    } else {
        r = mcphub__worker_pick(w, server);
    }
    if (r == NULL) {
        *error_text = mcphub__worker_server_known(w, server)
                          ? "no running replica of this server on this node"
                          : "unknown server on this node";
        return MCPHUB_E_UNAVAILABLE;
    }
    b = mcphub__calloc(&w->mem, 1, sizeof *b);
    if (b == NULL)
        return MCPHUB_E_NOMEM;
    serial_key(mcphub_mcp_session_serial(s), b->key);
    b->s = s;
    b->replica = mcphub__strdup(&w->mem, r->id);
    b->server = mcphub__strdup(&w->mem, r->server);
    *result = strdup(mcphub_runner_initialize_result(r->runner));
    if (b->replica == NULL || b->server == NULL || *result == NULL ||
        mcphub__map_put(&w->bindings, b->key, b, NULL) != 0) {
        free(*result);
        *result = NULL;
        mcphub__free(&w->mem, b->replica);
        mcphub__free(&w->mem, b->server);
        mcphub__free(&w->mem, b);
        return MCPHUB_E_NOMEM;
    }
    if (mcphub_runner_session_open(r->runner, mcphub_mcp_session_serial(s),
                                   mcphub_mcp_session_client_caps(s)) != 0) {
        mcphub__map_del(&w->bindings, b->key);
        free(*result);
        *result = NULL;
        mcphub__free(&w->mem, b->replica);
        mcphub__free(&w->mem, b->server);
        mcphub__free(&w->mem, b);
        *error_text = "the replica cannot take more sessions";
        return MCPHUB_E_FULL;
    }
    mcphub_mcp_session_set_data(s, b);
    return 0;
}

static void be_close(mcphub_mcp_session *s, void *user_data)
{
    mcphub_worker *w = user_data;
    binding *b = mcphub_mcp_session_get_data(s);
    wrep *r;

    if (b == NULL)
        return;
    r = mcphub__map_get(&w->replicas, b->replica);
    if (r != NULL)
        mcphub_runner_session_close(r->runner, mcphub_mcp_session_serial(s));
    mcphub__map_del(&w->bindings, b->key);
    mcphub__free(&w->mem, b->replica);
    mcphub__free(&w->mem, b->server);
    mcphub__free(&w->mem, b);
}

static int be_message(mcphub_mcp_session *s, const char *json, size_t len, void *user_data)
{
    mcphub_worker *w = user_data;
    binding *b = mcphub_mcp_session_get_data(s);
    wrep *r = b ? mcphub__map_get(&w->replicas, b->replica) : NULL;
    int rc;

    if (r == NULL || r->releasing)
        return MCPHUB_E_UNAVAILABLE;
    if (has_overrides(w, b->server)) {
        mcphub_jsonrpc_msg msg;

        if (mcphub_jsonrpc_classify(&msg, json, len, 0) == 0 &&
            msg.kind == MCPHUB_JSONRPC_REQUEST) {
            if (strcmp(msg.method, "tools/list") == 0)
                return answer_tools_list(w, b, r, &msg);
            if (strcmp(msg.method, "tools/call") == 0 && disabled_call(w, b, &msg))
                return 0;
        }
    }
    rc = mcphub_runner_from_downstream(r->runner, mcphub_mcp_session_serial(s), json, len);
    return rc > 0 ? 0 : rc;
}

const mcphub_mcp_backend mcphub__worker_backend = {
    sizeof(mcphub_mcp_backend), be_open, be_close, be_message, NULL,
};

int mcphub__worker_send_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                   size_t len, const char *related, void *user_data)
{
    mcphub_worker *w = user_data;
    char key[24];
    binding *b;

    (void)r;
    serial_key(session, key);
    b = mcphub__map_get(&w->bindings, key);
    if (b == NULL)
        return MCPHUB_E_NOTFOUND;
    mcphub_mcp_session_send(b->s, json, len, related);
    return 0; /* a client that went away must not stall the replica */
}

void mcphub__worker_end_sessions_of(mcphub_worker *w, const char *replica)
{
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&w->bindings, &i, NULL, &v)) {
        binding *b = v;

        if (strcmp(b->replica, replica) == 0)
            mcphub_mcp_session_end(b->s); /* removes the current entry: allowed */
    }
}
