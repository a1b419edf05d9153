/* The master's client sessions.  A client talks to the route it connected
 * to (all servers, a group, or one server); lists come from the catalog,
 * names are resolved MCPHub's way, and each request for a server travels
 * over this session's upstream to the replica the coordinator bound it to.
 * Answers, progress, logs and server->client requests come back to the
 * session that caused them.  When a replica dies mid-request the request
 * ends with an error naming the cause — or, when it is safe to repeat, is
 * sent once more to another replica — and the next request re-binds the
 * route: the client keeps its Mcp-Session-Id throughout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/jsonrpc.h"

#include "master_int.h"

#define OWN_ID_PREFIX "\"mcphub-"

typedef struct inflight {
    char *id;              /* the client's id, raw JSON (key) */
    char *server;
    char *method;
    char *tool;            /* tools/call: the client-facing name */
    char *replica;
    char *node;            /* where the replica runs */
    char *progress;        /* raw progress token, or NULL */
    char *retry_msg;       /* the message, kept when it is safe to repeat */
    size_t retry_len;
    int retried;
    uint64_t started_ms;
    /* waiting for a healthy replica (the server's only one was lost) */
    struct gsession *gs;
    char *wait_msg;
    size_t wait_len;
    uint64_t wait_timer, wait_until;
} inflight;

/* How long a request waits for a replacement replica before it fails. */
#define WAIT_FOR_REPLICA_MS 15000
#define WAIT_POLL_MS 200

typedef struct srvreq {
    char gid[40];          /* the id the client sees (key) */
    char *server;
    char *orig;            /* the server's own id, raw JSON */
} srvreq;

typedef struct gsession {
    mcphub_master *m;
    mcphub_mcp_session *s;
    char *sid;
    char *route;
    mcphub__map ups;       /* server -> upstream */
    mcphub__map inflight;  /* id -> inflight */
    mcphub__map srvreqs;   /* gid -> srvreq */
    uint64_t next_gid;
    char *log_level;       /* logging/setLevel, replayed to new upstreams */
} gsession;

/* ---- small helpers ------------------------------------------------------------------ */

static char *span_dup(mcphub_jsonrpc_span sp)
{
    char *s = malloc(sp.len + 1);

    if (s != NULL) {
        memcpy(s, sp.ptr, sp.len);
        s[sp.len] = '\0';
    }
    return s;
}

static void send_result(gsession *gs, const char *id, const char *result)
{
    char *out = NULL;
    size_t len = 0;

    if (mcphub_jsonrpc_result_response(&out, &len, id, strlen(id), result,
                                       result ? strlen(result) : 0, NULL) == 0)
        mcphub_mcp_session_send(gs->s, out, len, id);
    free(out);
}

static void send_error(gsession *gs, const char *id, int code, const char *text)
{
    char *out = NULL;
    size_t len = 0;

    if (mcphub_jsonrpc_error_response(&out, &len, id, strlen(id), code, text, NULL) == 0)
        mcphub_mcp_session_send(gs->s, out, len, id);
    free(out);
}

/* MCPHub's shape for a tool that cannot run: a result with isError. */
static void send_tool_error(gsession *gs, const char *id, const char *text)
{
    json_t *r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
                          "isError", 1);
    char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;

    if (s != NULL)
        send_result(gs, id, s);
    free(s);
    json_decref(r);
}

static void inflight_free(inflight *f)
{
    if (f->wait_timer != 0)
        mcphub_loop_timer_cancel(f->gs->m->loop, f->wait_timer);
    free(f->wait_msg);
    free(f->id);
    free(f->server);
    free(f->method);
    free(f->tool);
    free(f->replica);
    free(f->node);
    free(f->progress);
    free(f->retry_msg);
    free(f);
}

/* One line per MCP request, and the metrics. */
static void account(gsession *gs, const inflight *f, const char *status)
{
    mcphub_master *m = gs->m;
    double secs = (double)(mcphub__master_now(m) - f->started_ms) / 1000.0;

    mcphub__master_log(m, MCPHUB_LOG_INFO,
                       "mcp_request session=%.8s route=%s server=%s method=%s tool=%s replica=%s "
                       "node=%s status=%s latency_ms=%.1f",
                       gs->sid, gs->route[0] ? gs->route : "(global)", f->server, f->method,
                       f->tool ? f->tool : "-", f->replica ? f->replica : "-",
                       f->node ? f->node : "-", status, secs * 1000.0);
    mcphub__master_count(m, f->server, f->method, strcmp(status, "ok") != 0, secs);
}

/* ---- upstreams ------------------------------------------------------------------------ */

static void on_up_message(upstream *up, const char *json, size_t len, void *user_data);
static void on_up_closed(upstream *up, const char *why, void *user_data);

/* The upstream serving (session, server), opened or re-bound as needed.
 * NULL with *why set when no replica can take it. */
static upstream *upstream_for(gsession *gs, const char *server, const char **why)
{
    mcphub_master *m = gs->m;
    upstream *up = mcphub__map_get(&gs->ups, server);
    const char *replica = NULL, *node = NULL;
    upstream_owner owner = {on_up_message, on_up_closed, gs};
    int rc;

    if (m->cluster) {
        rc = mcphub_coordinator_route(m->coord, gs->sid, server, mcphub__master_now(m), &replica,
                                      &node);
        if (rc != 0) {
            *why = rc == MCPHUB_E_NOTFOUND ? "unknown server" : "no healthy replica is available";
            return NULL;
        }
        if (up != NULL && up->state != UP_CLOSED && strcmp(up->replica, replica) == 0)
            return up;
    } else if (up != NULL && up->state != UP_CLOSED) {
        return up;
    }
    if (up != NULL) {
        /* the route moved (failover): this session's upstream follows it */
        mcphub__map_del(&gs->ups, server);
        mcphub__upstream_close(up);
    }
    up = mcphub__upstream_open(m, server, replica, node, mcphub_mcp_session_init_params(gs->s),
                               &owner);
    if (up == NULL) {
        if (m->cluster)
            mcphub_coordinator_route_failed(m->coord, gs->sid, server, replica);
        *why = "no healthy replica is available";
        return NULL;
    }
    if (mcphub__map_put(&gs->ups, up->server, up, NULL) != 0) {
        mcphub__upstream_close(up);
        *why = "out of memory";
        return NULL;
    }
    if (gs->log_level != NULL) {
        char msg[200];

        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":" OWN_ID_PREFIX "level\",\"method\":\"logging/"
                 "setLevel\",\"params\":{\"level\":\"%s\"}}",
                 gs->log_level);
        mcphub__upstream_send(up, msg, strlen(msg));
    }
    return up;
}

static void unavailable(gsession *gs, inflight *f, const char *why)
{
    char text[300];

    snprintf(text, sizeof text, "Error: %s for server %s", why, f->server);
    mcphub__master_log(gs->m, MCPHUB_LOG_WARN, "mcp_unavailable session=%.8s server=%s reason=\"%s\"",
                       gs->sid, f->server, why);
    if (strcmp(f->method, "tools/call") == 0)
        send_tool_error(gs, f->id, text);
    else
        send_error(gs, f->id, -32000, text);
    account(gs, f, "unavailable");
}

static int waited(mcphub_loop *loop, uint64_t id, void *user_data)
{
    inflight *f = user_data;
    gsession *gs = f->gs;
    const char *why = "no healthy replica is available";
    upstream *up = upstream_for(gs, f->server, &why);

    (void)loop;
    (void)id;
    if (up == NULL && mcphub__master_now(gs->m) < f->wait_until)
        return 0; /* poll again */
    mcphub_loop_timer_cancel(gs->m->loop, f->wait_timer);
    f->wait_timer = 0;
    if (up == NULL) {
        mcphub__map_del(&gs->inflight, f->id);
        unavailable(gs, f, why);
        inflight_free(f);
        return 0;
    }
    f->replica = strdup(up->replica);
    f->node = strdup(up->node);
    if (mcphub__upstream_send(up, f->wait_msg, f->wait_len) != 0) {
        mcphub__map_del(&gs->inflight, f->id);
        send_error(gs, f->id, -32000, "the replica cannot take the request now");
        account(gs, f, "error");
        inflight_free(f);
        return 0;
    }
    free(f->wait_msg);
    f->wait_msg = NULL;
    return 0;
}

/* The server has replicas desired but none healthy (its only one was lost
 * and a replacement is starting): hold the request until one runs, for a
 * while, instead of failing it at once.  0 when it now waits. */
static int wait_for_replica(gsession *gs, inflight *f, const char *json, size_t len)
{
    mcphub_master *m = gs->m;
    mcphub_server_state st;

    if (!m->cluster || mcphub_coordinator_server_get(m->coord, f->server, &st) != 0 ||
        st.replicas == 0 || (f->wait_msg = malloc(len + 1)) == NULL)
        return -1;
    memcpy(f->wait_msg, json, len);
    f->wait_len = len;
    f->wait_until = mcphub__master_now(m) + WAIT_FOR_REPLICA_MS;
    if (mcphub__map_put(&gs->inflight, f->id, f, NULL) != 0 ||
        mcphub_loop_timer_add(m->loop, &f->wait_timer, WAIT_POLL_MS, WAIT_POLL_MS, waited, f) != 0) {
        mcphub__map_del(&gs->inflight, f->id);
        free(f->wait_msg);
        f->wait_msg = NULL;
        f->wait_timer = 0;
        return -1;
    }
    mcphub__master_log(m, MCPHUB_LOG_INFO, "mcp_wait session=%.8s server=%s reason=no-healthy-replica",
                       gs->sid, f->server);
    return 0;
}

/* Send a request for server; on failure answer the client. */
static void forward(gsession *gs, const char *server, const char *json, size_t len,
                    const mcphub_jsonrpc_msg *msg, const char *tool, int retry_ok)
{
    const char *why = NULL;
    inflight *f = calloc(1, sizeof *f);
    upstream *up;

    if (f == NULL || (f->id = span_dup(msg->id)) == NULL || (f->server = strdup(server)) == NULL ||
        (f->method = strdup(msg->method)) == NULL || (tool && (f->tool = strdup(tool)) == NULL) ||
        (msg->progress_token.len && (f->progress = span_dup(msg->progress_token)) == NULL) ||
        (retry_ok && (f->retry_msg = malloc(len + 1)) == NULL)) {
        if (f != NULL && f->id != NULL)
            send_error(gs, f->id, MCPHUB_JSONRPC_INTERNAL_ERROR, "out of memory");
        if (f != NULL)
            inflight_free(f);
        return;
    }
    if (retry_ok) {
        memcpy(f->retry_msg, json, len);
        f->retry_len = len;
    }
    f->started_ms = mcphub__master_now(gs->m);
    f->gs = gs;
    up = upstream_for(gs, server, &why);
    if (up == NULL && wait_for_replica(gs, f, json, len) == 0)
        return;
    if (up == NULL) {
        unavailable(gs, f, why);
        inflight_free(f);
        return;
    }
    f->replica = strdup(up->replica);
    f->node = strdup(up->node);
    if (mcphub__map_put(&gs->inflight, f->id, f, NULL) != 0) {
        send_error(gs, f->id, MCPHUB_JSONRPC_INTERNAL_ERROR, "out of memory");
        inflight_free(f);
        return;
    }
    if (mcphub__upstream_send(up, json, len) != 0) {
        mcphub__map_del(&gs->inflight, f->id);
        send_error(gs, f->id, -32000, "the replica cannot take the request now");
        account(gs, f, "error");
        inflight_free(f);
    }
}

/* The replica serving f is gone: repeat f elsewhere once when it is safe,
 * else end it with an error that names the cause. */
static void fail_over(gsession *gs, inflight *f, const char *why)
{
    mcphub_master *m = gs->m;
    char text[512];
    upstream *up = NULL;
    const char *reason = NULL;

    mcphub__map_del(&gs->inflight, f->id);
    if (f->retry_msg != NULL && !f->retried && (up = upstream_for(gs, f->server, &reason)) != NULL &&
        strcmp(up->replica, f->replica ? f->replica : "") != 0) {
        f->retried = 1;
        free(f->replica);
        free(f->node);
        f->replica = strdup(up->replica);
        f->node = strdup(up->node);
        if (mcphub__map_put(&gs->inflight, f->id, f, NULL) == 0 &&
            mcphub__upstream_send(up, f->retry_msg, f->retry_len) == 0) {
            mcphub__master_log(m, MCPHUB_LOG_WARN,
                               "mcp_retry session=%.8s server=%s method=%s to=%s reason=\"%s\"",
                               gs->sid, f->server, f->method, up->replica, why);
            return;
        }
        mcphub__map_del(&gs->inflight, f->id);
    } else if (f->retry_msg != NULL && !f->retried && up == NULL) {
        /* safe to repeat, but nothing healthy yet: wait for the replacement */
        f->retried = 1;
        free(f->replica);
        free(f->node);
        f->replica = f->node = NULL;
        if (wait_for_replica(gs, f, f->retry_msg, f->retry_len) == 0)
            return;
    }
    snprintf(text, sizeof text,
             "The replica %s of server %s became unavailable during this request (%s)%s",
             f->replica ? f->replica : "?", f->server, why,
             f->retry_msg == NULL ? "; it was not retried because repeating it may not be safe"
                                  : "; no other replica could take it");
    send_error(gs, f->id, -32000, text);
    account(gs, f, "failed");
    inflight_free(f);
}

static void on_up_closed(upstream *up, const char *why, void *user_data)
{
    gsession *gs = user_data;
    mcphub_master *m = gs->m;
    char server[256], replica[256];
    inflight **lost;
    size_t i = 0, n;
    void *v;

    snprintf(server, sizeof server, "%s", up->server);
    snprintf(replica, sizeof replica, "%s", up->replica);
    if (mcphub__map_get(&gs->ups, server) == up) {
        mcphub__map_del(&gs->ups, server);
        mcphub__upstream_close(up);
    }
    if (m->cluster)
        mcphub_coordinator_route_failed(m->coord, gs->sid, server, replica);
    /* Collect first: failing over changes the table being walked. */
    n = 0;
    lost = calloc(gs->inflight.len ? gs->inflight.len : 1, sizeof *lost);
    while (lost != NULL && mcphub__map_next(&gs->inflight, &i, NULL, &v)) {
        inflight *f = v;

        if (strcmp(f->server, server) == 0 && f->replica && strcmp(f->replica, replica) == 0)
            lost[n++] = f;
    }
    for (i = 0; i < n; i++)
        fail_over(gs, lost[i], why);
    free(lost);
}

/* The most recent request in flight on a server: where its server's
 * requests to the client belong. */
static inflight *latest_on(gsession *gs, const char *server)
{
    inflight *best = NULL;
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&gs->inflight, &i, NULL, &v)) {
        inflight *f = v;

        if (strcmp(f->server, server) == 0 && (best == NULL || f->started_ms >= best->started_ms))
            best = f;
    }
    return best;
}

static inflight *by_progress(gsession *gs, mcphub_jsonrpc_span tok)
{
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&gs->inflight, &i, NULL, &v)) {
        inflight *f = v;

        if (f->progress && strlen(f->progress) == tok.len && memcmp(f->progress, tok.ptr, tok.len) == 0)
            return f;
    }
    return NULL;
}

/* Replace one span of json with text; the caller frees the result. */
static char *replace_span(const char *json, size_t len, mcphub_jsonrpc_span at, const char *with,
                          size_t *out_len)
{
    mcphub_jsonrpc_edit e = {at, with, strlen(with)};
    size_t need = mcphub_jsonrpc_rewrite(NULL, 0, json, len, &e, 1);
    char *out = need ? malloc(need + 1) : NULL;

    if (out == NULL)
        return NULL;
    mcphub_jsonrpc_rewrite(out, need, json, len, &e, 1);
    out[need] = '\0';
    *out_len = need;
    return out;
}

static void on_up_message(upstream *up, const char *json, size_t len, void *user_data)
{
    gsession *gs = user_data;
    mcphub_jsonrpc_msg msg;
    char *id = NULL, *out = NULL;
    size_t out_len = 0;
    inflight *f;

    if (mcphub_jsonrpc_classify(&msg, json, len, 0) != 0 || msg.kind == MCPHUB_JSONRPC_INVALID)
        return;
    switch (msg.kind) {
    case MCPHUB_JSONRPC_RESPONSE:
    case MCPHUB_JSONRPC_ERROR:
        if (msg.id.len >= sizeof OWN_ID_PREFIX - 1 &&
            memcmp(msg.id.ptr, OWN_ID_PREFIX, sizeof OWN_ID_PREFIX - 1) == 0)
            return; /* an answer to our own request (setLevel) */
        id = span_dup(msg.id);
        f = id ? mcphub__map_get(&gs->inflight, id) : NULL;
        if (f == NULL)
            break; /* late: cancelled, or answered by a retry already */
        if (msg.kind == MCPHUB_JSONRPC_ERROR && msg.error_code == MCPHUB_MCP_CLIENT_TRANSPORT_ERROR &&
            up->client != NULL) {
            /* the replica could not be reached: fail over */
            char why[200];

            snprintf(why, sizeof why, "%.*s", (int)(msg.error_message.len > 2 ? msg.error_message.len - 2 : 0),
                     msg.error_message.ptr + 1);
            on_up_closed(up, why, gs);
            break;
        }
        mcphub__map_del(&gs->inflight, id);
        mcphub_mcp_session_send(gs->s, json, len, id);
        account(gs, f, msg.kind == MCPHUB_JSONRPC_ERROR ? "error" : "ok");
        inflight_free(f);
        break;
    case MCPHUB_JSONRPC_REQUEST: {
        /* a server->client request: a fresh id the client cannot confuse */
        srvreq *r = calloc(1, sizeof *r);
        inflight *rel = latest_on(gs, up->server);

        if (r == NULL)
            break;
        snprintf(r->gid, sizeof r->gid, OWN_ID_PREFIX "%llu\"", (unsigned long long)++gs->next_gid);
        r->server = strdup(up->server);
        r->orig = span_dup(msg.id);
        out = replace_span(json, len, msg.id, r->gid, &out_len);
        if (r->server == NULL || r->orig == NULL || out == NULL ||
            mcphub__map_put(&gs->srvreqs, r->gid, r, NULL) != 0) {
            free(r->server);
            free(r->orig);
            free(r);
            break;
        }
        mcphub_mcp_session_send(gs->s, out, out_len, rel ? rel->id : NULL);
        break;
    }
    case MCPHUB_JSONRPC_NOTIFICATION:
        if (strcmp(msg.method, "notifications/progress") == 0) {
            f = by_progress(gs, msg.progress_token);
            mcphub_mcp_session_send(gs->s, json, len, f ? f->id : NULL);
        } else if (strcmp(msg.method, "notifications/cancelled") == 0 && msg.request_id.len) {
            /* the server gave up on its own request to the client */
            size_t i = 0;
            void *v;

            while (mcphub__map_next(&gs->srvreqs, &i, NULL, &v)) {
                srvreq *r = v;

                if (strcmp(r->server, up->server) == 0 && strlen(r->orig) == msg.request_id.len &&
                    memcmp(r->orig, msg.request_id.ptr, msg.request_id.len) == 0) {
                    out = replace_span(json, len, msg.request_id, r->gid, &out_len);
                    if (out != NULL)
                        mcphub_mcp_session_send(gs->s, out, out_len, NULL);
                    break;
                }
            }
        } else if (strstr(msg.method, "list_changed") == NULL) {
            /* logs and resource updates; list changes come from the catalog */
            mcphub_mcp_session_send(gs->s, json, len, NULL);
        }
        break;
    default:
        break;
    }
    free(out);
    free(id);
}

/* ---- client requests ------------------------------------------------------------------ */

static void list(gsession *gs, const char *id, mcphub_catalog_list which)
{
    char *result = NULL;
    size_t skipped = 0;

    if (mcphub_catalog_list_result(gs->m->catalog, gs->route, which, &result, &skipped) == 0)
        send_result(gs, id, result);
    else
        send_error(gs, id, MCPHUB_JSONRPC_INTERNAL_ERROR, "could not build the list");
    mcphub_catalog_free_string(gs->m->catalog, result);
}

/* Rewrite params.<member> (a client-facing name) to the upstream name and
 * forward; NULL name → invalid params. */
static void forward_renamed(gsession *gs, const char *id, const char *json, size_t len,
                            const mcphub_jsonrpc_msg *msg, json_t *root, json_t *holder,
                            const char *member, const char *server, const char *upstream_name,
                            const char *tool, int retry_ok)
{
    char *text, shown[300];

    (void)len;
    (void)json;
    /* the client-facing name dies with the member we replace: keep a copy */
    snprintf(shown, sizeof shown, "%s", tool ? tool : "");
    tool = tool ? shown : NULL;
    json_object_set_new(holder, member, json_string(upstream_name));
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        send_error(gs, id, MCPHUB_JSONRPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    forward(gs, server, text, strlen(text), msg, tool, retry_ok);
    free(text);
}

/* ---- tools/call without a parse tree ---------------------------------------------------- */

/* The end of the JSON value starting at p (text classify accepted, so
 * well-formed), or NULL if it runs past end. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    do {
        if (p >= end)
            return NULL;
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
        } else if (*p == '}' || *p == ']') {
            depth--, p++;
        } else if (depth > 0) {
            p++; /* ws, ':', ',', numbers and literals inside a container */
        } else {
            while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
                   *p != '\n' && *p != '\r')
                p++;
        }
    } while (depth > 0);
    return p;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The span of params.name: a string token (quotes included) that has no
 * escape, in a params object where no other member is called "name" and no
 * key has an escape (so that no other reader could see another name).
 * Returns 0, or -1 when the message needs the general path. */
static int find_tool_name(mcphub_jsonrpc_span params, mcphub_jsonrpc_span *name)
{
    const char *p = params.ptr, *end = params.ptr + params.len, *k, *v;
    size_t klen;
    int found = 0;

    if (p == NULL || params.len < 2 || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return -1; /* no name */
    for (;;) {
        if (p >= end || *p != '"')
            return -1;
        for (k = ++p; p < end && *p != '"'; p++)
            if (*p == '\\')
                return -1;
        if (p >= end)
            return -1;
        klen = (size_t)(p - k);
        p = skip_ws(p + 1, end);
        if (p >= end || *p != ':')
            return -1;
        v = skip_ws(p + 1, end);
        if ((p = skip_value(v, end)) == NULL)
            return -1;
        if (klen == 4 && memcmp(k, "name", 4) == 0) {
            if (found++ || *v != '"' || memchr(v, '\\', (size_t)(p - v)) != NULL)
                return -1;
            name->ptr = v;
            name->len = (size_t)(p - v);
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' && found ? 0 : -1;
    }
}

/* The hot path: a tools/call whose tool name is plain text is resolved and
 * renamed in the message's own text, with no parse tree and no
 * re-serialisation.  Returns 0 when it answered or forwarded, -1 to leave
 * the message to the general path (which gives the same outcome). */
static int tools_call_fast(gsession *gs, const char *id, const char *json, size_t len,
                           const mcphub_jsonrpc_msg *msg)
{
    mcphub_master *m = gs->m;
    mcphub_jsonrpc_span at;
    const char *server = NULL, *upname = NULL, *c;
    char name[256], token[260], text[400], *out;
    size_t n, out_len = 0;
    int ro = 0, idem = 0;

    if (find_tool_name(msg->params, &at) != 0 || at.len - 2 >= sizeof name)
        return -1;
    memcpy(name, at.ptr + 1, at.len - 2);
    name[at.len - 2] = '\0';
    if (strlen(name) != at.len - 2)
        return -1;
    if (mcphub_catalog_resolve_tool(m->catalog, gs->route, name, &server, &upname) != 0) {
        snprintf(text, sizeof text, "Unknown tool: %.300s", name);
        send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, text);
        return 0;
    }
    for (c = upname; *c; c++) /* the upstream name goes in verbatim: plain text only */
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return -1;
    if ((n = strlen(upname)) + 2 >= sizeof token)
        return -1;
    token[0] = '"';
    memcpy(token + 1, upname, n);
    token[n + 1] = '"';
    token[n + 2] = '\0';
    mcphub_catalog_tool_annotations(m->catalog, server, upname, &ro, &idem);
    if (msg->compact) { /* nothing to squeeze: splice */
        size_t head = (size_t)(at.ptr - json), tail = len - head - at.len;

        out_len = head + n + 2 + tail;
        if ((out = malloc(out_len + 1)) != NULL) {
            memcpy(out, json, head);
            memcpy(out + head, token, n + 2);
            memcpy(out + head + n + 2, at.ptr + at.len, tail);
            out[out_len] = '\0';
        }
    } else {
        out = replace_span(json, len, at, token, &out_len);
    }
    if (out == NULL) {
        send_error(gs, id, MCPHUB_JSONRPC_INTERNAL_ERROR, "out of memory");
        return 0;
    }
    forward(gs, server, out, out_len, msg, name, idem);
    free(out);
    return 0;
}

static void request(gsession *gs, const char *json, size_t len, const mcphub_jsonrpc_msg *msg)
{
    mcphub_master *m = gs->m;
    char *id = span_dup(msg->id), text[400];
    json_t *root = NULL, *params;
    const char *server = NULL, *name = NULL, *upname = NULL;
    int ro = 0, idem = 0;

    if (id == NULL)
        return;
    if (strcmp(msg->method, "ping") == 0) {
        send_result(gs, id, NULL);
    } else if (strcmp(msg->method, "tools/call") == 0 &&
               tools_call_fast(gs, id, json, len, msg) == 0) {
        /* answered or forwarded */
    } else if (strcmp(msg->method, "tools/list") == 0) {
        list(gs, id, MCPHUB_CATALOG_TOOLS);
    } else if (strcmp(msg->method, "prompts/list") == 0) {
        list(gs, id, MCPHUB_CATALOG_PROMPTS);
    } else if (strcmp(msg->method, "resources/list") == 0) {
        list(gs, id, MCPHUB_CATALOG_RESOURCES);
    } else if (strcmp(msg->method, "resources/templates/list") == 0) {
        list(gs, id, MCPHUB_CATALOG_TEMPLATES);
    } else if ((root = json_loadb(json, len, 0, NULL)) == NULL ||
               !json_is_object(params = json_object_get(root, "params"))) {
        send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, "params must be an object");
    } else if (strcmp(msg->method, "tools/call") == 0) {
        name = json_string_value(json_object_get(params, "name"));
        if (name == NULL || mcphub_catalog_resolve_tool(m->catalog, gs->route, name, &server,
                                                        &upname) != 0) {
            snprintf(text, sizeof text, "Unknown tool: %.300s", name ? name : "(no name)");
            send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, text);
        } else {
            mcphub_catalog_tool_annotations(m->catalog, server, upname, &ro, &idem);
            forward_renamed(gs, id, json, len, msg, root, params, "name", server, upname, name,
                            idem);
        }
    } else if (strcmp(msg->method, "prompts/get") == 0) {
        name = json_string_value(json_object_get(params, "name"));
        if (name == NULL || mcphub_catalog_resolve_prompt(m->catalog, gs->route, name, &server,
                                                          &upname) != 0) {
            snprintf(text, sizeof text, "Unknown prompt: %.300s", name ? name : "(no name)");
            send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, text);
        } else {
            forward_renamed(gs, id, json, len, msg, root, params, "name", server, upname, NULL, 1);
        }
    } else if (strcmp(msg->method, "resources/read") == 0 ||
               strcmp(msg->method, "resources/subscribe") == 0 ||
               strcmp(msg->method, "resources/unsubscribe") == 0) {
        name = json_string_value(json_object_get(params, "uri"));
        if (name == NULL || mcphub_catalog_resolve_resource(m->catalog, gs->route, name,
                                                            &server) != 0) {
            snprintf(text, sizeof text, "Resource not found: %.300s", name ? name : "(no uri)");
            send_error(gs, id, -32002, text);
        } else {
            forward(gs, server, json, len, msg, NULL, strcmp(msg->method, "resources/read") == 0);
        }
    } else if (strcmp(msg->method, "completion/complete") == 0) {
        json_t *ref = json_object_get(params, "ref");
        const char *type = json_string_value(json_object_get(ref, "type"));

        if (type != NULL && strcmp(type, "ref/prompt") == 0 &&
            (name = json_string_value(json_object_get(ref, "name"))) != NULL &&
            mcphub_catalog_resolve_prompt(m->catalog, gs->route, name, &server, &upname) == 0)
            forward_renamed(gs, id, json, len, msg, root, ref, "name", server, upname, NULL, 1);
        else if (type != NULL && strcmp(type, "ref/resource") == 0 &&
                 (name = json_string_value(json_object_get(ref, "uri"))) != NULL &&
                 mcphub_catalog_resolve_resource(m->catalog, gs->route, name, &server) == 0)
            forward(gs, server, json, len, msg, NULL, 1);
        else
            send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, "unknown completion reference");
    } else if (strcmp(msg->method, "logging/setLevel") == 0) {
        const char *level = json_string_value(json_object_get(params, "level"));
        static const char *const levels[] = {"debug", "info", "notice", "warning", "error",
                                             "critical", "alert", "emergency"};
        size_t i, ok = 0;

        for (i = 0; level && i < sizeof levels / sizeof levels[0]; i++)
            ok |= strcmp(level, levels[i]) == 0;
        if (!ok) {
            send_error(gs, id, MCPHUB_JSONRPC_INVALID_PARAMS, "unknown log level");
        } else {
            size_t k = 0;
            void *v;
            char msgtxt[200];

            free(gs->log_level);
            gs->log_level = strdup(level);
            snprintf(msgtxt, sizeof msgtxt,
                     "{\"jsonrpc\":\"2.0\",\"id\":" OWN_ID_PREFIX "level\",\"method\":\"logging/"
                     "setLevel\",\"params\":{\"level\":\"%s\"}}",
                     level);
            while (mcphub__map_next(&gs->ups, &k, NULL, &v))
                mcphub__upstream_send(v, msgtxt, strlen(msgtxt));
            send_result(gs, id, NULL);
        }
    } else {
        snprintf(text, sizeof text, "Method not found: %.100s", msg->method);
        send_error(gs, id, MCPHUB_JSONRPC_METHOD_NOT_FOUND, text);
    }
    json_decref(root);
    free(id);
}

static void notification(gsession *gs, const char *json, size_t len, const mcphub_jsonrpc_msg *msg)
{
    if (strcmp(msg->method, "notifications/cancelled") == 0 && msg->request_id.len) {
        char *rid = span_dup(msg->request_id);
        inflight *f = rid ? mcphub__map_get(&gs->inflight, rid) : NULL;
        upstream *up = f ? mcphub__map_get(&gs->ups, f->server) : NULL;

        if (f != NULL) {
            if (up != NULL)
                mcphub__upstream_send(up, json, len);
            mcphub__map_del(&gs->inflight, rid);
            account(gs, f, "cancelled");
            inflight_free(f);
        }
        free(rid);
    } else if (strcmp(msg->method, "notifications/roots/list_changed") == 0) {
        size_t i = 0;
        void *v;

        while (mcphub__map_next(&gs->ups, &i, NULL, &v))
            mcphub__upstream_send(v, json, len);
    }
}

/* The client answers a request a server made: back to that server. */
static void response(gsession *gs, const char *json, size_t len, const mcphub_jsonrpc_msg *msg)
{
    char *gid = span_dup(msg->id), *out;
    srvreq *r = gid ? mcphub__map_get(&gs->srvreqs, gid) : NULL;
    upstream *up = r ? mcphub__map_get(&gs->ups, r->server) : NULL;
    size_t out_len = 0;

    if (r != NULL) {
        mcphub__map_del(&gs->srvreqs, r->gid);
        out = up ? replace_span(json, len, msg->id, r->orig, &out_len) : NULL;
        if (out != NULL)
            mcphub__upstream_send(up, out, out_len);
        free(out);
        free(r->server);
        free(r->orig);
        free(r);
    }
    free(gid);
}

/* ---- the backend ---------------------------------------------------------------------- */

static int be_open(mcphub_mcp_session *s, const char *params, size_t params_len, char **result,
                   const char **error_text, void *user_data)
{
    mcphub_master *m = user_data;
    gsession *gs;
    char *r = NULL;

    (void)params;
    (void)params_len;
    if (m->shutting_down) {
        *error_text = "the master is shutting down";
        return MCPHUB_E_UNAVAILABLE;
    }
    gs = calloc(1, sizeof *gs);
    if (gs == NULL)
        return MCPHUB_E_NOMEM;
    gs->m = m;
    gs->s = s;
    gs->sid = strdup(mcphub_mcp_session_id(s));
    gs->route = strdup(mcphub_mcp_session_route(s));
    mcphub__map_init(&gs->ups, &m->mem, m->random(m->random_user_data));
    mcphub__map_init(&gs->inflight, &m->mem, m->random(m->random_user_data));
    mcphub__map_init(&gs->srvreqs, &m->mem, m->random(m->random_user_data));
    if (gs->sid == NULL || gs->route == NULL ||
        mcphub_catalog_initialize_result(m->catalog, gs->route, mcphub_mcp_session_protocol(s),
                                         &r) != 0 ||
        (*result = strdup(r)) == NULL) {
        mcphub_catalog_free_string(m->catalog, r);
        free(gs->sid);
        free(gs->route);
        free(gs);
        *error_text = "could not build the initialize result";
        return MCPHUB_E_NOMEM;
    }
    mcphub_catalog_free_string(m->catalog, r);
    mcphub_mcp_session_set_data(s, gs);
    mcphub__master_sessions_opened(m, s); /* kept across a restart (master_sessions.c) */
    return 0;
}

static void be_close(mcphub_mcp_session *s, void *user_data)
{
    mcphub_master *m = user_data;
    gsession *gs = mcphub_mcp_session_get_data(s);
    size_t i = 0;
    void *v;

    mcphub__master_sessions_closed(m, s); /* no longer kept across a restart */
    if (gs == NULL)
        return;
    while (mcphub__map_next(&gs->ups, &i, NULL, &v))
        mcphub__upstream_close(v);
    i = 0;
    while (mcphub__map_next(&gs->inflight, &i, NULL, &v))
        inflight_free(v);
    i = 0;
    while (mcphub__map_next(&gs->srvreqs, &i, NULL, &v)) {
        srvreq *r = v;

        free(r->server);
        free(r->orig);
        free(r);
    }
    mcphub__map_free(&gs->ups);
    mcphub__map_free(&gs->inflight);
    mcphub__map_free(&gs->srvreqs);
    if (m->cluster)
        mcphub_coordinator_session_end(m->coord, gs->sid);
    free(gs->log_level);
    free(gs->sid);
    free(gs->route);
    free(gs);
    mcphub_mcp_session_set_data(s, NULL);
}

static int be_message(mcphub_mcp_session *s, const char *json, size_t len, void *user_data)
{
    gsession *gs = mcphub_mcp_session_get_data(s);
    mcphub_jsonrpc_msg msg;

    (void)user_data;
    if (gs == NULL || mcphub_jsonrpc_classify(&msg, json, len, 0) != 0)
        return MCPHUB_E_INVAL;
    switch (msg.kind) {
    case MCPHUB_JSONRPC_REQUEST:
        request(gs, json, len, &msg);
        break;
    case MCPHUB_JSONRPC_NOTIFICATION:
        notification(gs, json, len, &msg);
        break;
    case MCPHUB_JSONRPC_RESPONSE:
    case MCPHUB_JSONRPC_ERROR:
        response(gs, json, len, &msg);
        break;
    default:
        return MCPHUB_E_INVAL;
    }
    return 0;
}

const mcphub_mcp_backend mcphub__master_backend = {
    sizeof(mcphub_mcp_backend), be_open, be_close, be_message, NULL,
};
