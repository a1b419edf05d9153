/* MCP over HTTP, server side: sessions, Streamable HTTP and legacy SSE.
 * See include/mcphub/mcp_http.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcphub/jsonrpc.h"
#include "mcphub/mcp_http.h"
#include "mcphub/sse.h"

#include "core/map_int.h"
#include "core/mem_int.h"

#define MAX_ID_TEXT 256 /* a JSON-RPC id we keep as a key */

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                       NULL};

/* A client request whose answer travels on its own POST. */
typedef struct pending_post {
    char *id;                     /* raw JSON id text */
    mcphub_http_request *req;
    int streaming;                /* SSE started: the answer ends the stream */
    struct mcphub_mcp_session *s;
    struct pending_post *next;
} pending_post;

typedef struct queued_msg {
    char *data;
    size_t len;
} queued_msg;

struct mcphub_mcp_session {
    mcphub_mcp_http *h;
    char id[33];
    uint64_t serial;
    char *route;
    char protocol[16];
    char *init_params;
    uint32_t caps;
    int legacy;
    int opened;                   /* the backend knows it */
    mcphub_http_request *stream;  /* GET stream, or the legacy SSE stream */
    pending_post *posts;
    queued_msg *queue;
    size_t queue_len;
    uint64_t last_activity_ms;
    void *data;
};

struct mcphub_mcp_http {
    mcphub__mem mem;
    mcphub_loop *loop;
    mcphub_mcp_backend be;
    size_t max_sessions, max_queued;
    uint64_t idle_ms, keepalive_ms;
    char *messages_path;
    mcphub_random_fn random;
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
    int (*restore)(const char *id, const char *route, char **protocol_out,
                   char **init_params_out, void *user_data);
    mcphub__map sessions;         /* id -> session */
    uint64_t next_serial;
    uint64_t timer;
};

static void logf_(mcphub_mcp_http *h, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void logf_(mcphub_mcp_http *h, mcphub_log_level lvl, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (h->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->log(lvl, buf, h->log_user_data);
}

MCPHUB_API const char *const *mcphub_mcp_protocol_versions(void)
{
    return versions;
}

static int version_supported(const char *v)
{
    size_t i;

    for (i = 0; versions[i] != NULL; i++)
        if (strcmp(versions[i], v) == 0)
            return 1;
    return 0;
}

/* ---- plain answers ------------------------------------------------------------ */

static const mcphub_http_header json_ct = {"Content-Type", "application/json"};

static void answer_json(mcphub_http_request *req, unsigned status, const char *body)
{
    mcphub_http_respond(req, status, &json_ct, 1, body, strlen(body));
}

/* A JSON-RPC error as the body of an HTTP error (id null: the transport
 * could not or would not read the request). */
static void answer_rpc_error(mcphub_http_request *req, unsigned status, int code,
                             const char *message)
{
    json_t *v = json_pack("{s:s, s:{s:i, s:s}, s:n}", "jsonrpc", "2.0", "error", "code", code,
                          "message", message, "id");
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;

    answer_json(req, status, s ? s : "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,"
                                     "\"message\":\"internal error\"},\"id\":null}");
    free(s);
    json_decref(v);
}

static void answer_text(mcphub_http_request *req, unsigned status, const char *text)
{
    static const mcphub_http_header ct = {"Content-Type", "text/plain; charset=utf-8"};

    mcphub_http_respond(req, status, &ct, 1, text, strlen(text));
}

/* ---- sessions ------------------------------------------------------------------------ */

static void random_id(mcphub_mcp_http *h, char out[33])
{
    int i;

    for (i = 0; i < 4; i++)
        snprintf(out + i * 8, 9, "%08x", (unsigned)h->random(h->random_user_data));
}

/* A new session under a fresh random id, or under id (a restored one,
 * checked by the caller: not live, fits s->id). */
static mcphub_mcp_session *session_new(mcphub_mcp_http *h, const char *route, int legacy,
                                       const char *id)
{
    mcphub_mcp_session *s;
    int tries;

    if (h->sessions.len >= h->max_sessions)
        return NULL;
    s = mcphub__calloc(&h->mem, 1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->h = h;
    s->legacy = legacy;
    s->route = mcphub__strdup(&h->mem, route ? route : "");
    for (tries = 0; tries < 8; tries++) {
        if (id != NULL)
            snprintf(s->id, sizeof s->id, "%s", id);
        else
            random_id(h, s->id);
        if (mcphub__map_get(&h->sessions, s->id) == NULL)
            break;
    }
    if (s->route == NULL || tries == 8 || mcphub__map_put(&h->sessions, s->id, s, NULL) != 0) {
        mcphub__free(&h->mem, s->route);
        mcphub__free(&h->mem, s);
        return NULL;
    }
    s->serial = ++h->next_serial;
    s->last_activity_ms = mcphub_loop_now_ms(h->loop);
    snprintf(s->protocol, sizeof s->protocol, "%s", legacy ? "2024-11-05" : "2025-03-26");
    return s;
}

static void drop_queue(mcphub_mcp_session *s)
{
    size_t i;

    for (i = 0; i < s->queue_len; i++)
        mcphub__free(&s->h->mem, s->queue[i].data);
    mcphub__free(&s->h->mem, s->queue);
    s->queue = NULL;
    s->queue_len = 0;
}

static void post_free(mcphub_mcp_http *h, pending_post *p)
{
    mcphub__free(&h->mem, p->id);
    mcphub__free(&h->mem, p);
}

static void post_unlink(pending_post *p)
{
    pending_post **pp;

    for (pp = &p->s->posts; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* End a session: streams closed, pending POSTs answered, backend told. */
MCPHUB_API void mcphub_mcp_session_end(mcphub_mcp_session *s)
{
    mcphub_mcp_http *h;

    if (s == NULL)
        return;
    h = s->h;
    mcphub__map_del(&h->sessions, s->id);
    if (s->opened && h->be.session_close != NULL)
        h->be.session_close(s, h->be.user_data);
    while (s->posts != NULL) {
        pending_post *p = s->posts;

        s->posts = p->next;
        mcphub_http_request_on_close(p->req, NULL, NULL);
        if (p->streaming)
            mcphub_http_stream_end(p->req);
        else
            answer_rpc_error(p->req, 404, -32001, "Session ended");
        post_free(h, p);
    }
    if (s->stream != NULL) {
        mcphub_http_request_on_close(s->stream, NULL, NULL);
        mcphub_http_stream_end(s->stream);
    }
    logf_(h, MCPHUB_LOG_DEBUG, "session_end session=%.8s route=%s", s->id, s->route);
    drop_queue(s);
    mcphub__free(&h->mem, s->route);
    mcphub__free(&h->mem, s->init_params);
    mcphub__free(&h->mem, s);
}

/* ---- writing to streams ------------------------------------------------------------------ */

static int write_event(mcphub_mcp_session *s, mcphub_http_request *req, const char *json,
                       size_t len)
{
    mcphub_mem m;
    char *ev = NULL;
    size_t ev_len = 0;
    int rc;

    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    m.malloc_fn = s->h->mem.malloc_fn;
    m.realloc_fn = s->h->mem.realloc_fn;
    m.free_fn = s->h->mem.free_fn;
    m.user_data = s->h->mem.user_data;
    rc = mcphub_sse_format("message", NULL, json, len, &ev, &ev_len, &m);
    if (rc != 0)
        return rc;
    rc = mcphub_http_stream_write(req, ev, ev_len);
    mcphub__free(&s->h->mem, ev);
    return rc;
}

static void on_stream_close(mcphub_http_request *req, int completed, void *user_data)
{
    mcphub_mcp_session *s = user_data;

    (void)req;
    (void)completed;
    s->stream = NULL;
    s->last_activity_ms = mcphub_loop_now_ms(s->h->loop);
    if (s->legacy)
        mcphub_mcp_session_end(s); /* the legacy session lives as long as its stream */
}

static int start_stream(mcphub_mcp_session *s, mcphub_http_request *req, int with_session_id)
{
    mcphub_http_header hd[4] = {
        {"Content-Type", "text/event-stream"},
        {"Cache-Control", "no-cache"},
        {"X-Accel-Buffering", "no"},
        {"Mcp-Session-Id", s->id},
    };

    return mcphub_http_stream_start(req, 200, hd, with_session_id ? 4 : 3);
}

static pending_post *find_post(mcphub_mcp_session *s, const char *id, size_t len)
{
    pending_post *p;

    for (p = s->posts; p != NULL; p = p->next)
        if (strlen(p->id) == len && memcmp(p->id, id, len) == 0)
            return p;
    return NULL;
}

static int deliver_unrelated(mcphub_mcp_session *s, const char *json, size_t len)
{
    queued_msg *q;

    if (s->stream != NULL)
        return write_event(s, s->stream, json, len);
    if (s->queue_len >= s->h->max_queued) {
        logf_(s->h, MCPHUB_LOG_WARN, "session_queue_full session=%.8s dropped=1", s->id);
        mcphub__free(&s->h->mem, s->queue[0].data);
        memmove(&s->queue[0], &s->queue[1], (s->queue_len - 1) * sizeof s->queue[0]);
        s->queue_len--;
    }
    q = mcphub__reallocarray(&s->h->mem, s->queue, s->queue_len + 1, sizeof *q);
    if (q == NULL)
        return MCPHUB_E_NOMEM;
    s->queue = q;
    q[s->queue_len].data = mcphub__strndup(&s->h->mem, json, len);
    if (q[s->queue_len].data == NULL)
        return MCPHUB_E_NOMEM;
    q[s->queue_len].len = len;
    s->queue_len++;
    return 0;
}

MCPHUB_API int mcphub_mcp_session_send(mcphub_mcp_session *s, const char *json, size_t len,
                                       const char *related_id)
{
    mcphub_jsonrpc_msg msg;
    pending_post *p;
    int rc;

    if (s == NULL || json == NULL)
        return MCPHUB_E_INVAL;
    if (s->legacy) {
        if (s->stream == NULL)
            return MCPHUB_E_NOTFOUND;
        return write_event(s, s->stream, json, len);
    }
    if (related_id == NULL)
        return deliver_unrelated(s, json, len);
    p = find_post(s, related_id, strlen(related_id));
    if (p == NULL)
        return MCPHUB_E_NOTFOUND; /* the client went away: dropped */
    rc = mcphub_jsonrpc_classify(&msg, json, len, 0);
    if (rc == 0 && (msg.kind == MCPHUB_JSONRPC_RESPONSE || msg.kind == MCPHUB_JSONRPC_ERROR) &&
        msg.id.len == strlen(p->id) && memcmp(msg.id.ptr, p->id, msg.id.len) == 0) {
        /* The answer: the exchange is over. */
        post_unlink(p);
        mcphub_http_request_on_close(p->req, NULL, NULL);
        if (p->streaming) {
            rc = write_event(s, p->req, json, len);
            mcphub_http_stream_end(p->req);
        } else {
            mcphub_http_header hd[2] = {{"Content-Type", "application/json"},
                                        {"Mcp-Session-Id", s->id}};

            rc = mcphub_http_respond(p->req, 200, hd, 2, json, len);
        }
        post_free(s->h, p);
        s->last_activity_ms = mcphub_loop_now_ms(s->h->loop);
        return rc;
    }
    /* Something before the answer (progress, logs, a request to the
     * client): the POST becomes an SSE stream. */
    if (!p->streaming) {
        if ((rc = start_stream(s, p->req, 1)) != 0)
            return rc;
        p->streaming = 1;
    }
    return write_event(s, p->req, json, len);
}

MCPHUB_API void mcphub_mcp_http_broadcast(mcphub_mcp_http *h, const char *route, const char *json,
                                          size_t len)
{
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&h->sessions, &i, NULL, &v)) {
        mcphub_mcp_session *s = v;

        if (s->opened && (route == NULL || strcmp(route, s->route) == 0))
            mcphub_mcp_session_send(s, json, len, NULL);
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

static void on_post_close(mcphub_http_request *req, int completed, void *user_data)
{
    pending_post *p = user_data;

    (void)req;
    (void)completed;
    /* The client left before the answer: the answer will be dropped.  A
     * disconnect is not a cancellation (2025-06-18 transport rules). */
    post_unlink(p);
    post_free(p->s->h, p);
}

static mcphub_mcp_session *restore(mcphub_mcp_http *h, const char *id, const char *route,
                                   unsigned *status);

static mcphub_mcp_session *session_from(mcphub_mcp_http *h, mcphub_http_request *req,
                                        const char *route, int want_legacy)
{
    const char *id = want_legacy ? mcphub_http_request_query(req, "sessionId")
                                 : mcphub_http_request_header(req, "Mcp-Session-Id");
    mcphub_mcp_session *s;

    if (id == NULL || *id == '\0') {
        if (want_legacy)
            answer_text(req, 400, "Missing sessionId parameter");
        else
            answer_rpc_error(req, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
        return NULL;
    }
    s = mcphub__map_get(&h->sessions, id);
    if (s == NULL && !want_legacy && route != NULL && h->restore != NULL) {
        unsigned status = 404;

        s = restore(h, id, route, &status);
        if (s == NULL && status != 404) {
            answer_rpc_error(req, status, -32000,
                             "Service unavailable: the session cannot be resumed now; try again later");
            return NULL;
        }
    }
    if (s == NULL || s->legacy != want_legacy || (route != NULL && strcmp(route, s->route) != 0)) {
        if (want_legacy)
            answer_text(req, 404, "No transport found for sessionId");
        else
            answer_rpc_error(req, 404, -32001, "Session not found");
        return NULL;
    }
    s->last_activity_ms = mcphub_loop_now_ms(h->loop);
    return s;
}

static uint32_t caps_of(json_t *params)
{
    json_t *caps = json_object_get(params, "capabilities");
    uint32_t f = 0;

    if (json_object_get(caps, "sampling") != NULL)
        f |= MCPHUB_MCP_CAP_SAMPLING;
    if (json_object_get(caps, "elicitation") != NULL)
        f |= MCPHUB_MCP_CAP_ELICITATION;
    if (json_object_get(caps, "roots") != NULL)
        f |= MCPHUB_MCP_CAP_ROOTS;
    return f;
}

/* An id no live session has may name one of an earlier process (the
 * master's, before a restart): the backend's session_restore hook tells.
 * The session comes back under that id, initialized as it was, and the
 * backend opens it again.  NULL with *status 404 (unknown) or 503. */
static mcphub_mcp_session *restore(mcphub_mcp_http *h, const char *id, const char *route,
                                   unsigned *status)
{
    char *proto = NULL, *params = NULL, *result = NULL;
    const char *error_text = NULL;
    mcphub_mcp_session *s = NULL;
    json_t *p = NULL;
    size_t i, n = strlen(id);
    int rc;

    *status = 404;
    if (n == 0 || n >= sizeof s->id)
        return NULL;
    for (i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return NULL; /* the spec's charset: visible ASCII */
    if (h->sessions.len >= h->max_sessions) {
        *status = 503; /* asked later, when there is room: the entry stays */
        return NULL;
    }
    rc = h->restore(id, route, &proto, &params, h->be.user_data);
    if (rc != 0) {
        if (rc != MCPHUB_E_NOTFOUND)
            *status = 503;
        goto out;
    }
    if (params != NULL)
        p = json_loads(params, 0, NULL);
    if (proto == NULL || !version_supported(proto) || !json_is_object(p)) {
        logf_(h, MCPHUB_LOG_WARN, "session_restore_refused session=%.8s reason=\"%s\"", id,
              proto == NULL || !version_supported(proto) ? "protocol version not served"
                                                         : "initialize params not an object");
        goto out;
    }
    *status = 503;
    if ((s = session_new(h, route, 0, id)) == NULL)
        goto out;
    snprintf(s->protocol, sizeof s->protocol, "%s", proto);
    s->caps = caps_of(p);
    s->init_params = mcphub__strdup(&h->mem, params);
    if (s->init_params == NULL ||
        (rc = h->be.session_open(s, params, strlen(params), &result, &error_text,
                                 h->be.user_data)) != 0) {
        logf_(h, MCPHUB_LOG_WARN, "session_restore_failed session=%.8s reason=\"%s\"", s->id,
              s->init_params == NULL ? "out of memory"
                                     : error_text ? error_text : "the backend refused it");
        mcphub_mcp_session_end(s); /* not opened: the backend is not told */
        s = NULL;
        goto out;
    }
    s->opened = 1;
    logf_(h, MCPHUB_LOG_INFO, "session_restored session=%.8s route=%s protocol=%s", s->id,
          s->route[0] ? s->route : "(global)", s->protocol);
out:
    free(result);
    free(proto);
    free(params);
    json_decref(p);
    return s;
}

/* initialize: the backend opens the session; we negotiate the version. */
static char *do_initialize(mcphub_mcp_session *s, const mcphub_jsonrpc_msg *msg,
                           const char **error_text)
{
    mcphub_mcp_http *h = s->h;
    json_t *params = msg->params.len ? json_loadb(msg->params.ptr, msg->params.len, 0, NULL) : NULL;
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    char *result = NULL, *out = NULL, *id = NULL;
    json_t *res = NULL, *resp;
    int rc;

    *error_text = "initialize params must be an object";
    if (!json_is_object(params))
        goto done;
    snprintf(s->protocol, sizeof s->protocol, "%s",
             want != NULL && version_supported(want) ? want : versions[0]);
    s->caps = caps_of(params);
    s->init_params = mcphub__strndup(&h->mem, msg->params.ptr, msg->params.len);
    *error_text = "out of memory";
    if (s->init_params == NULL)
        goto done;
    *error_text = "the server could not start this session";
    rc = h->be.session_open(s, msg->params.ptr, msg->params.len, &result, error_text,
                            h->be.user_data);
    if (rc != 0)
        goto done;
    s->opened = 1;
    res = result ? json_loads(result, 0, NULL) : NULL;
    *error_text = "the server returned no initialize result";
    if (!json_is_object(res))
        goto done;
    json_object_set_new(res, "protocolVersion", json_string(s->protocol));
    id = mcphub__strndup(&h->mem, msg->id.ptr, msg->id.len);
    resp = json_pack("{s:s, s:o?, s:O}", "jsonrpc", "2.0", "id",
                     id ? json_loads(id, JSON_DECODE_ANY, NULL) : NULL, "result", res);
    out = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    json_decref(resp);
    *error_text = NULL;
done:
    mcphub__free(&h->mem, id);
    free(result);
    json_decref(res);
    json_decref(params);
    return out;
}

static void reply_error_for(mcphub_http_request *req, const mcphub_jsonrpc_msg *msg,
                            unsigned status, int code, const char *text)
{
    char *body = NULL;
    size_t len = 0;

    if (msg->id.len != 0 && mcphub_jsonrpc_error_response(&body, &len, msg->id.ptr, msg->id.len,
                                                          code, text, NULL) == 0) {
        mcphub_http_respond(req, status, &json_ct, 1, body, len);
        free(body);
    } else {
        answer_rpc_error(req, status, code, text);
    }
}

/* An error for a request, sent on the session (legacy: its SSE stream). */
static void session_error_for(mcphub_mcp_session *s, const mcphub_jsonrpc_msg *msg, int code,
                              const char *text)
{
    char *body = NULL, idbuf[MAX_ID_TEXT + 1];
    size_t len = 0;

    if (msg->id.len == 0 || msg->id.len > MAX_ID_TEXT)
        return;
    memcpy(idbuf, msg->id.ptr, msg->id.len);
    idbuf[msg->id.len] = '\0';
    if (mcphub_jsonrpc_error_response(&body, &len, msg->id.ptr, msg->id.len, code, text, NULL) ==
        0) {
        mcphub_mcp_session_send(s, body, len, s->legacy ? NULL : idbuf);
        free(body);
    }
}

static void handle_initialize(mcphub_mcp_http *h, mcphub_http_request *req, const char *route,
                              const mcphub_jsonrpc_msg *msg)
{
    mcphub_mcp_session *s = session_new(h, route, 0, NULL);
    const char *error_text = NULL;
    char *body;

    if (s == NULL) {
        answer_rpc_error(req, 503, -32000, "Too many sessions; try again later");
        return;
    }
    body = do_initialize(s, msg, &error_text);
    if (body == NULL) {
        reply_error_for(req, msg, 200, MCPHUB_JSONRPC_INTERNAL_ERROR,
                        error_text ? error_text : "initialize failed");
        mcphub_mcp_session_end(s);
        return;
    }
    {
        mcphub_http_header hd[2] = {{"Content-Type", "application/json"}, {"Mcp-Session-Id", s->id}};

        mcphub_http_respond(req, 200, hd, 2, body, strlen(body));
    }
    free(body);
    logf_(h, MCPHUB_LOG_INFO, "session_open session=%.8s route=%s protocol=%s", s->id,
          s->route[0] ? s->route : "(global)", s->protocol);
}

/* One JSON-RPC message from the client to the backend. */
static void dispatch(mcphub_mcp_session *s, mcphub_http_request *req,
                     const mcphub_jsonrpc_msg *msg, const char *json, size_t len)
{
    mcphub_mcp_http *h = s->h;
    pending_post *p = NULL;
    int rc;

    if (msg->kind != MCPHUB_JSONRPC_REQUEST) {
        h->be.message(s, json, len, h->be.user_data);
        if (req != NULL)
            mcphub_http_respond(req, 202, NULL, 0, NULL, 0);
        return;
    }
    if (!s->legacy) {
        if (msg->id.len > MAX_ID_TEXT) {
            reply_error_for(req, msg, 400, MCPHUB_JSONRPC_INVALID_REQUEST, "request id too long");
            return;
        }
        if (find_post(s, msg->id.ptr, msg->id.len) != NULL) {
            reply_error_for(req, msg, 400, MCPHUB_JSONRPC_INVALID_REQUEST,
                            "a request with this id is already in flight");
            return;
        }
        p = mcphub__calloc(&h->mem, 1, sizeof *p);
        if (p == NULL || (p->id = mcphub__strndup(&h->mem, msg->id.ptr, msg->id.len)) == NULL) {
            mcphub__free(&h->mem, p);
            answer_rpc_error(req, 503, -32603, "out of memory");
            return;
        }
        p->req = req;
        p->s = s;
        p->next = s->posts;
        s->posts = p;
        mcphub_http_request_on_close(req, on_post_close, p);
    } else if (req != NULL) {
        mcphub_http_respond(req, 202, NULL, 0, "Accepted", 8);
    }
    rc = h->be.message(s, json, len, h->be.user_data);
    if (rc != 0)
        session_error_for(s, msg, MCPHUB_JSONRPC_INTERNAL_ERROR, mcphub_strerror(rc));
}

static int check_version_header(mcphub_http_request *req)
{
    const char *v = mcphub_http_request_header(req, "MCP-Protocol-Version");

    if (v != NULL && !version_supported(v)) {
        char text[128];

        snprintf(text, sizeof text, "Bad Request: Unsupported protocol version: %.40s", v);
        answer_rpc_error(req, 400, -32000, text);
        return -1;
    }
    return 0;
}

static int hex4(const char *p)
{
    int i, v = 0;

    for (i = 0; i < 4; i++) {
        char c = p[i];

        v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                          : c - 'A' + 10);
    }
    return v;
}

/* Does the text (which mcphub_jsonrpc_classify accepted, so every escape
 * is well-formed) hold a \uD800-\uDFFF escape that is not half of a pair?
 * It encodes no character: strict parsers such as jansson, which C servers
 * use, refuse the whole message, and a stdio server that cannot parse a
 * request cannot answer it, so the client would wait forever (and its
 * request id would stay taken on the worker).  Refused here like invalid
 * UTF-8. */
static int lone_surrogate(const char *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        int cp;

        if (p[i] != '\\' || i + 1 >= len) {
            i++;
            continue;
        }
        if (p[i + 1] != 'u' || i + 6 > len) {
            i += 2;
            continue;
        }
        cp = hex4(p + i + 2);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return 1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = i + 12 <= len && p[i + 6] == '\\' && p[i + 7] == 'u' ? hex4(p + i + 8) : 0;

            if (lo < 0xDC00 || lo > 0xDFFF)
                return 1;
            i += 6;
        }
        i += 6;
    }
    return 0;
}

static void handle_post(mcphub_mcp_http *h, mcphub_http_request *req, const char *route,
                        int legacy)
{
    mcphub_jsonrpc_msg msg;
    mcphub_mcp_session *s = NULL;
    size_t len = 0;
    const char *body = mcphub_http_request_body(req, &len);
    int rc;

    rc = mcphub_jsonrpc_classify(&msg, body ? body : "", len, 0);
    if (rc != 0 || msg.kind == MCPHUB_JSONRPC_INVALID) {
        answer_rpc_error(req, 400, msg.error_reply ? msg.error_reply : -32700,
                         msg.reason ? msg.reason : "Parse error");
        return;
    }
    if (lone_surrogate(body, len)) {
        answer_rpc_error(req, 400, MCPHUB_JSONRPC_PARSE_ERROR,
                         "invalid Unicode: lone UTF-16 surrogate escape in a string");
        return;
    }
    if (msg.kind == MCPHUB_JSONRPC_BATCH) {
        answer_rpc_error(req, 400, MCPHUB_JSONRPC_INVALID_REQUEST,
                         "JSON-RPC batches are not supported; send one message per request");
        return;
    }
    if (!legacy && msg.kind == MCPHUB_JSONRPC_REQUEST && strcmp(msg.method, "initialize") == 0) {
        handle_initialize(h, req, route, &msg);
        return;
    }
    if (!legacy && check_version_header(req) != 0)
        return;
    s = session_from(h, req, legacy ? NULL : route, legacy);
    if (s == NULL)
        return;
    if (legacy && msg.kind == MCPHUB_JSONRPC_REQUEST && strcmp(msg.method, "initialize") == 0) {
        const char *error_text = NULL;
        char *out;

        mcphub_http_respond(req, 202, NULL, 0, "Accepted", 8);
        if (s->opened)
            error_text = "already initialized";
        out = s->opened ? NULL : do_initialize(s, &msg, &error_text);
        if (out != NULL) {
            mcphub_mcp_session_send(s, out, strlen(out), NULL);
            free(out);
        } else {
            session_error_for(s, &msg, MCPHUB_JSONRPC_INTERNAL_ERROR,
                              error_text ? error_text : "initialize failed");
        }
        return;
    }
    if (!s->opened) {
        reply_error_for(req, &msg, 400, -32000, "Bad Request: session not initialized");
        return;
    }
    dispatch(s, req, &msg, body, len);
}

static void handle_get(mcphub_mcp_http *h, mcphub_http_request *req, const char *route)
{
    mcphub_mcp_session *s;
    size_t i;

    if (check_version_header(req) != 0)
        return;
    s = session_from(h, req, route, 0);
    if (s == NULL)
        return;
    if (s->stream != NULL) {
        answer_rpc_error(req, 409, -32000, "Conflict: this session already has a GET stream");
        return;
    }
    if (start_stream(s, req, 1) != 0) {
        answer_rpc_error(req, 500, -32603, "could not open the stream");
        return;
    }
    s->stream = req;
    mcphub_http_request_on_close(req, on_stream_close, s);
    for (i = 0; i < s->queue_len; i++)
        write_event(s, req, s->queue[i].data, s->queue[i].len);
    drop_queue(s);
}

static void handle_delete(mcphub_mcp_http *h, mcphub_http_request *req, const char *route)
{
    mcphub_mcp_session *s = session_from(h, req, route, 0);

    if (s == NULL)
        return;
    logf_(h, MCPHUB_LOG_INFO, "session_delete session=%.8s", s->id);
    mcphub_mcp_session_end(s);
    mcphub_http_respond(req, 200, NULL, 0, NULL, 0);
}

static void handle_legacy_open(mcphub_mcp_http *h, mcphub_http_request *req, const char *route)
{
    mcphub_mcp_session *s = session_new(h, route, 1, NULL);
    char ev[512];
    int n;

    if (s == NULL) {
        answer_text(req, 503, "Too many sessions; try again later");
        return;
    }
    if (start_stream(s, req, 0) != 0) {
        mcphub_mcp_session_end(s);
        answer_text(req, 500, "could not open the stream");
        return;
    }
    s->stream = req;
    mcphub_http_request_on_close(req, on_stream_close, s);
    n = snprintf(ev, sizeof ev, "event: endpoint\ndata: %s?sessionId=%s\n\n", h->messages_path,
                 s->id);
    mcphub_http_stream_write(req, ev, (size_t)n);
    logf_(h, MCPHUB_LOG_INFO, "session_open session=%.8s route=%s protocol=2024-11-05 legacy=1",
          s->id, s->route[0] ? s->route : "(global)");
}

MCPHUB_API void mcphub_mcp_http_handle(mcphub_mcp_http *h, mcphub_http_request *req,
                                       mcphub_mcp_endpoint endpoint, const char *route)
{
    const char *method = mcphub_http_request_method(req);
    static const mcphub_http_header allow_sh = {"Allow", "GET, POST, DELETE"};

    if (route == NULL)
        route = "";
    switch (endpoint) {
    case MCPHUB_MCP_STREAMABLE:
        if (strcmp(method, "POST") == 0)
            handle_post(h, req, route, 0);
        else if (strcmp(method, "GET") == 0)
            handle_get(h, req, route);
        else if (strcmp(method, "DELETE") == 0)
            handle_delete(h, req, route);
        else
            mcphub_http_respond(req, 405, &allow_sh, 1, NULL, 0);
        return;
    case MCPHUB_MCP_LEGACY_SSE:
        if (strcmp(method, "GET") == 0) {
            handle_legacy_open(h, req, route);
        } else {
            static const mcphub_http_header allow = {"Allow", "GET"};

            mcphub_http_respond(req, 405, &allow, 1, NULL, 0);
        }
        return;
    case MCPHUB_MCP_LEGACY_POST:
        if (strcmp(method, "POST") == 0) {
            handle_post(h, req, NULL, 1);
        } else {
            static const mcphub_http_header allow = {"Allow", "POST"};

            mcphub_http_respond(req, 405, &allow, 1, NULL, 0);
        }
        return;
    }
    answer_text(req, 404, "Not found");
}

/* ---- time: keep-alives and idle sessions ------------------------------------------------- */

static int on_timer(mcphub_loop *loop, uint64_t id, void *user_data)
{
    static const char ka[] = ": keep-alive\n\n";
    mcphub_mcp_http *h = user_data;
    uint64_t now = mcphub_loop_now_ms(loop);
    size_t i = 0;
    void *v;

    (void)id;
    while (mcphub__map_next(&h->sessions, &i, NULL, &v)) {
        mcphub_mcp_session *s = v;
        pending_post *p;

        if (s->stream != NULL)
            mcphub_http_stream_write(s->stream, ka, sizeof ka - 1);
        for (p = s->posts; p != NULL; p = p->next)
            if (p->streaming)
                mcphub_http_stream_write(p->req, ka, sizeof ka - 1);
        if (s->stream == NULL && s->posts == NULL && now - s->last_activity_ms >= h->idle_ms) {
            logf_(h, MCPHUB_LOG_INFO, "session_expired session=%.8s idle_ms=%llu", s->id,
                  (unsigned long long)(now - s->last_activity_ms));
            mcphub_mcp_session_end(s); /* deleting the current entry is allowed */
        }
    }
    return 0;
}

/* ---- accessors and life ---------------------------------------------------------------------- */

MCPHUB_API const char *mcphub_mcp_session_id(const mcphub_mcp_session *s) { return s->id; }
MCPHUB_API uint64_t mcphub_mcp_session_serial(const mcphub_mcp_session *s) { return s->serial; }
MCPHUB_API const char *mcphub_mcp_session_route(const mcphub_mcp_session *s) { return s->route; }
MCPHUB_API const char *mcphub_mcp_session_protocol(const mcphub_mcp_session *s)
{
    return s->protocol;
}
MCPHUB_API uint32_t mcphub_mcp_session_client_caps(const mcphub_mcp_session *s) { return s->caps; }
MCPHUB_API int mcphub_mcp_session_legacy(const mcphub_mcp_session *s) { return s->legacy; }
MCPHUB_API const char *mcphub_mcp_session_init_params(const mcphub_mcp_session *s)
{
    return s->init_params ? s->init_params : "{}";
}
MCPHUB_API void *mcphub_mcp_session_get_data(const mcphub_mcp_session *s) { return s->data; }
MCPHUB_API void mcphub_mcp_session_set_data(mcphub_mcp_session *s, void *data) { s->data = data; }

MCPHUB_API mcphub_mcp_session *mcphub_mcp_http_session(const mcphub_mcp_http *h, const char *id)
{
    return h && id ? mcphub__map_get(&h->sessions, id) : NULL;
}

MCPHUB_API size_t mcphub_mcp_http_session_count(const mcphub_mcp_http *h)
{
    return h ? h->sessions.len : 0;
}

MCPHUB_API int mcphub_mcp_http_new(mcphub_mcp_http **out, mcphub_loop *loop,
                                   const mcphub_mcp_http_opts *opts, const mcphub_mem *mem)
{
    mcphub_mcp_http *h;
    mcphub__mem m;
    const char *mp;
    int rc;

    if (out == NULL || loop == NULL || opts == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&m, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0)
        return rc;
    if (opts->backend.session_open == NULL || opts->backend.message == NULL ||
        MCPHUB__GET(opts, mcphub_mcp_http_opts, random, NULL) == NULL)
        return MCPHUB_E_INVAL;
    h = mcphub__calloc(&m, 1, sizeof *h);
    if (h == NULL)
        return MCPHUB_E_NOMEM;
    h->mem = m;
    h->loop = loop;
    h->be = opts->backend;
    h->max_sessions = MCPHUB__GET(opts, mcphub_mcp_http_opts, max_sessions, 0);
    if (h->max_sessions == 0)
        h->max_sessions = 10000;
    h->idle_ms = MCPHUB__GET(opts, mcphub_mcp_http_opts, session_idle_ms, 0);
    if (h->idle_ms == 0)
        h->idle_ms = 1800000;
    h->keepalive_ms = MCPHUB__GET(opts, mcphub_mcp_http_opts, keepalive_ms, 0);
    if (h->keepalive_ms == 0)
        h->keepalive_ms = 15000;
    h->max_queued = MCPHUB__GET(opts, mcphub_mcp_http_opts, max_queued, 0);
    if (h->max_queued == 0)
        h->max_queued = 256;
    h->random = opts->random;
    h->random_user_data = MCPHUB__GET(opts, mcphub_mcp_http_opts, random_user_data, NULL);
    h->log = MCPHUB__GET(opts, mcphub_mcp_http_opts, log, NULL);
    h->log_user_data = MCPHUB__GET(opts, mcphub_mcp_http_opts, log_user_data, NULL);
    h->restore = MCPHUB__GET(opts, mcphub_mcp_http_opts, session_restore, NULL);
    mp = MCPHUB__GET(opts, mcphub_mcp_http_opts, messages_path, NULL);
    h->messages_path = mcphub__strdup(&h->mem, mp ? mp : "/messages");
    mcphub__map_init(&h->sessions, &h->mem, h->random(h->random_user_data));
    if (h->messages_path == NULL ||
        mcphub_loop_timer_add(loop, &h->timer, h->keepalive_ms, h->keepalive_ms, on_timer, h) != 0) {
        mcphub__free(&h->mem, h->messages_path);
        mcphub__free(&h->mem, h);
        return MCPHUB_E_NOMEM;
    }
    *out = h;
    return 0;
}

MCPHUB_API void mcphub_mcp_http_free(mcphub_mcp_http *h)
{
    size_t i = 0;
    void *v;

    if (h == NULL)
        return;
    while (mcphub__map_next(&h->sessions, &i, NULL, &v))
        mcphub_mcp_session_end(v);
    mcphub_loop_timer_cancel(h->loop, h->timer);
    mcphub__map_free(&h->sessions);
    mcphub__free(&h->mem, h->messages_path);
    mcphub__free(&h->mem, h);
}
