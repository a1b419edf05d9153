/* libmcphub-cluster: the MCP server side of HTTP — Streamable HTTP
 * (protocol 2025-03-26 .. 2025-11-25: POST / GET / DELETE with
 * Mcp-Session-Id) and the legacy HTTP+SSE transport (2024-11-05: GET /sse,
 * POST /messages?sessionId=) — over mcphub_http_server requests.
 *
 * It owns client sessions and their streams and nothing else: what a
 * session's messages mean is the backend's business (the worker multiplexes
 * them onto a replica, the master routes them across the cluster).  The
 * backend answers through mcphub_mcp_session_send(), now or later; a message
 * that belongs to a client request travels on that request's POST (JSON, or
 * an SSE stream once progress or other messages come before the result), an
 * unrelated one on the session's GET stream.
 *
 * Transport rules kept here: initialize creates the session and returns its
 * id; a request without a session id gets 400, an unknown or ended one 404
 * (the spec's rule; MCPHub answers 400; an id the optional session_restore
 * hook knows is brought back instead); notifications and responses get 202;
 * an unsupported MCP-Protocol-Version gets 400; every stream carries
 * Cache-Control: no-cache and X-Accel-Buffering: no and a keep-alive comment
 * at least every keepalive_ms.
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks. */
#ifndef MCPHUB_MCP_HTTP_H
#define MCPHUB_MCP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "http_server.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_mcp_http mcphub_mcp_http;
typedef struct mcphub_mcp_session mcphub_mcp_session;

/* Client capabilities declared in initialize, as flags. */
#define MCPHUB_MCP_CAP_SAMPLING 0x1u
#define MCPHUB_MCP_CAP_ELICITATION 0x2u
#define MCPHUB_MCP_CAP_ROOTS 0x4u

typedef struct mcphub_mcp_backend {
    size_t size;
    /* A client sent initialize on route (the group or server name of the
     * URL, "" for the global route).  Fill *result_json with the initialize
     * result object (allocated with malloc; the transport frees it) and
     * return 0, or return a negative code with *error_text set to a static
     * text explaining why (the client gets it in a JSON-RPC error).  The
     * session is usable from here on. */
    int (*session_open)(mcphub_mcp_session *s, const char *params_json, size_t params_len,
                        char **result_json, const char **error_text, void *user_data);
    /* The session ended (DELETE, idle expiry, legacy stream closed, shutdown).
     * After this call s is gone. */
    void (*session_close)(mcphub_mcp_session *s, void *user_data);
    /* A request, notification or response from the client (never
     * initialize).  Answer requests with mcphub_mcp_session_send().  Return
     * 0, or a negative code to have the transport answer a request with a
     * JSON-RPC internal error. */
    int (*message)(mcphub_mcp_session *s, const char *json, size_t len, void *user_data);
    void *user_data;
} mcphub_mcp_backend;

typedef struct mcphub_mcp_http_opts {
    size_t size;
    mcphub_mcp_backend backend;
    size_t max_sessions;          /* 0 -> 10000; beyond -> 503 */
    uint64_t session_idle_ms;     /* 0 -> 1800000: a session with no stream and no request this long ends */
    uint64_t keepalive_ms;        /* 0 -> 15000 */
    size_t max_queued;            /* unrelated messages kept for a session without a GET stream; 0 -> 256 */
    const char *messages_path;    /* legacy endpoint event; NULL -> "/messages" */
    mcphub_random_fn random;      /* session ids; required (the daemons use getrandom) */
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
    /* Optional: Streamable HTTP sessions that outlive the process (the
     * master keeps its own in its state directory across a restart).
     * Called, before answering 404, for a request whose Mcp-Session-Id
     * names no live session, with that id (1 to 32 visible ASCII
     * characters; any other id gets 404 without a call) and the request's
     * route ("" for the global route).  Return 0 with *protocol_out (the
     * protocol version negotiated at initialize) and *init_params_out (the
     * client's initialize params, a JSON object), both allocated with
     * malloc (the transport frees them, also on failure): the transport
     * creates the session again under that id, initialized with that
     * version and those params, calls backend.session_open (its initialize
     * result is dropped: the client has had it) and serves the request.
     * Return MCPHUB_E_NOTFOUND for an id it does not know (or a session of
     * another route): the client gets 404; any other negative code: 503.
     * A version no longer served, params that are not an object, a full
     * table or a failed session_open answer 404 or 503 too (logged).
     * Legacy HTTP+SSE sessions are never restored.  user_data is
     * backend.user_data. */
    int (*session_restore)(const char *id, const char *route, char **protocol_out,
                           char **init_params_out, void *user_data);
} mcphub_mcp_http_opts;

MCPHUB_API int mcphub_mcp_http_new(mcphub_mcp_http **out, mcphub_loop *loop,
                                   const mcphub_mcp_http_opts *opts, const mcphub_mem *mem);
/* Ends every session (session_close for each) and frees. */
MCPHUB_API void mcphub_mcp_http_free(mcphub_mcp_http *h);

typedef enum {
    MCPHUB_MCP_STREAMABLE = 1,    /* POST / GET / DELETE on /mcp[/:route] */
    MCPHUB_MCP_LEGACY_SSE = 2,    /* GET /sse[/:route]: opens a legacy session */
    MCPHUB_MCP_LEGACY_POST = 3    /* POST /messages?sessionId= */
} mcphub_mcp_endpoint;

/* Serve one HTTP request for an MCP endpoint.  Routing and authentication
 * are the caller's: call this after deciding the request may go on.  The
 * request is answered (now or later) by the transport. */
MCPHUB_API void mcphub_mcp_http_handle(mcphub_mcp_http *h, mcphub_http_request *req,
                                       mcphub_mcp_endpoint endpoint, const char *route);

/* Send a JSON-RPC message to the client.  related_id is the raw JSON id of
 * the client request this message belongs to (its response, progress,
 * logs, server->client requests made while serving it), or NULL for an
 * unrelated message (list_changed, ...).  Copies json.  Returns 0,
 * MCPHUB_E_NOTFOUND (the session or the request's stream is gone: the
 * message is dropped), MCPHUB_E_FULL, MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_mcp_session_send(mcphub_mcp_session *s, const char *json, size_t len,
                                       const char *related_id);
/* Send to every session (optionally only those on route). */
MCPHUB_API void mcphub_mcp_http_broadcast(mcphub_mcp_http *h, const char *route, const char *json,
                                          size_t len);
/* End a session from the server side. */
MCPHUB_API void mcphub_mcp_session_end(mcphub_mcp_session *s);

MCPHUB_API const char *mcphub_mcp_session_id(const mcphub_mcp_session *s);
MCPHUB_API uint64_t mcphub_mcp_session_serial(const mcphub_mcp_session *s);
MCPHUB_API const char *mcphub_mcp_session_route(const mcphub_mcp_session *s);
MCPHUB_API const char *mcphub_mcp_session_protocol(const mcphub_mcp_session *s);
MCPHUB_API uint32_t mcphub_mcp_session_client_caps(const mcphub_mcp_session *s);
/* 1 for a legacy HTTP+SSE session (GET /sse), 0 for Streamable HTTP. */
MCPHUB_API int mcphub_mcp_session_legacy(const mcphub_mcp_session *s);
/* The client's initialize params, kept for upstream sessions (e.g. the
 * master opens worker sessions with the client's declared capabilities). */
MCPHUB_API const char *mcphub_mcp_session_init_params(const mcphub_mcp_session *s);
MCPHUB_API void *mcphub_mcp_session_get_data(const mcphub_mcp_session *s);
MCPHUB_API void mcphub_mcp_session_set_data(mcphub_mcp_session *s, void *data);
/* Look a session up by its Mcp-Session-Id. */
MCPHUB_API mcphub_mcp_session *mcphub_mcp_http_session(const mcphub_mcp_http *h, const char *id);
MCPHUB_API size_t mcphub_mcp_http_session_count(const mcphub_mcp_http *h);

/* The protocol versions served, newest first, NULL-terminated. */
MCPHUB_API const char *const *mcphub_mcp_protocol_versions(void);

#ifdef __cplusplus
}
#endif
#endif
