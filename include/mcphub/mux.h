/* libmcphub-cluster: the MCP multiplexer — many client sessions sharing one
 * connection to an MCP server (typically a stdio child) without ever seeing
 * each other's traffic.
 *
 * Every session numbers its requests from 0 or 1 and picks its own progress
 * tokens, so the multiplexer rewrites them on the way up: each request gets
 * a fresh integer id unique on the connection, each progress token a fresh
 * integer token, and both are mapped back on the way down.  Cancellations
 * are translated in both directions.  Server-to-client requests (sampling,
 * elicitation, roots) go, under a fresh id that is mapped back when it
 * answers, to the session that has requests in flight, only when no other
 * session has any and that session declared the capability; otherwise they
 * are refused (see mcphub_mux_from_upstream).  List-changed,
 * resource-updated and logging notifications go to every session.
 * Messages are rewritten in one pass over their text: only
 * the swapped values change; everything else, numbers included, stays byte
 * for byte, minus whitespace outside strings (so an upstream line never
 * holds a raw newline).
 *
 * The owner performs the upstream handshake once (mcphub_mux_request with
 * "initialize", then mcphub_mux_notify "notifications/initialized") and
 * answers each session's initialize from the cached result.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  Callbacks must not call back
 * into the same multiplexer, except its stats getter. */
#ifndef MCPHUB_MUX_H
#define MCPHUB_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_mux mcphub_mux;

/* Client capabilities a session's client declared in its initialize. */
#define MCPHUB_MUX_CAP_SAMPLING (1u << 0)    /* sampling/createMessage */
#define MCPHUB_MUX_CAP_ELICITATION (1u << 1) /* elicitation/create */
#define MCPHUB_MUX_CAP_ROOTS (1u << 2)       /* roots/list */

/* Positive results of mcphub_mux_from_downstream/_from_upstream (0 means
 * forwarded or delivered). */
#define MCPHUB_MUX_INITIALIZE 1 /* a session's initialize: not forwarded; answer it
                                   yourself from the cached InitializeResult */
#define MCPHUB_MUX_CONSUMED 2   /* handled inside (initialized notification swallowed,
                                   ping answered, refusal sent upstream) */
#define MCPHUB_MUX_DROPPED 3    /* ignored and counted: an unknown or late id,
                                   token or cancellation */

/* Ids and progress tokens longer than this (in JSON form) are refused. */
#define MCPHUB_MUX_MAX_ID_BYTES 256

/* Where the multiplexer's output goes.  json/len is one compact JSON-RPC
 * message (not NUL-terminated, no trailing newline: a stdio owner adds
 * "\n"), borrowed until the callback returns.  Return 0, or a non-zero code
 * that the multiplexer passes back to its caller; see each operation for
 * what a failure undoes. */
typedef struct mcphub_mux_callbacks {
    size_t size; /* sizeof(mcphub_mux_callbacks) */
    /* One message toward the MCP server. */
    int (*send_upstream)(const char *json, size_t len, void *user_data);
    /* One message toward one session.  related_request_id_json is the JSON
     * id (NUL-terminated, as the session wrote it) of the session's request
     * this message belongs to — send it on that request's response stream —
     * or NULL when unrelated (the session's GET stream). */
    int (*send_downstream)(uint64_t session, const char *json, size_t len,
                           const char *related_request_id_json, void *user_data);
    /* The answer to a request made with mcphub_mux_request(), as the server
     * sent it (its id is the token).  May be NULL if the owner sends none. */
    int (*internal_response)(uint64_t token, const char *json, size_t len, void *user_data);
    void *user_data;
} mcphub_mux_callbacks;

/* Bounds.  0 in any field means its default. */
typedef struct mcphub_mux_opts {
    size_t size;                 /* sizeof(mcphub_mux_opts) */
    uint32_t max_sessions;       /* default 1024 */
    uint32_t max_in_flight;      /* requests awaiting the server; default 4096 */
    uint32_t max_server_requests; /* server->client requests awaiting a session; 256 */
    size_t max_message_bytes;    /* one message, either way; default 16 MiB */
    /* Seeds the hash tables (whose keys include ids sessions choose); take
     * it from a random source.  0 is allowed but predictable. */
    uint32_t hash_seed;
} mcphub_mux_opts;

/* Counters for tests and metrics. */
typedef struct mcphub_mux_stats {
    size_t size;              /* set by the caller: sizeof(mcphub_mux_stats) */
    uint32_t sessions;        /* open sessions */
    uint32_t in_flight;       /* requests awaiting the server (sessions' + owner's) */
    uint32_t server_requests; /* server->client requests awaiting a session */
    uint64_t dropped;         /* messages ignored: malformed upstream lines, unknown or
                                 late ids, tokens and cancellations */
    uint64_t refused;         /* server->client requests answered with an error because
                                 no single session could take them */
    uint64_t upstream_msgs;   /* messages passed to send_upstream */
    uint64_t downstream_msgs; /* messages passed to send_downstream */
} mcphub_mux_stats;

/* Make a multiplexer.  cb is required (send_upstream and send_downstream
 * set) and copied, as are opts (NULL: defaults) and mem (NULL: C library).
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOMEM.  Free with mcphub_mux_free(). */
MCPHUB_API int mcphub_mux_new(mcphub_mux **out, const mcphub_mux_callbacks *cb,
                              const mcphub_mux_opts *opts, const mcphub_mem *mem);

/* Forget everything without sending anything; NULL is fine. */
MCPHUB_API void mcphub_mux_free(mcphub_mux *mux);

/* Open a session; caps is a set of MCPHUB_MUX_CAP_* flags.
 * Returns 0, MCPHUB_E_EXISTS (already open), MCPHUB_E_FULL (max_sessions),
 * MCPHUB_E_INVAL (unknown flag), MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_mux_session_open(mcphub_mux *mux, uint64_t session, uint32_t caps);

/* Close a session: each of its requests still in flight is cancelled
 * upstream (notifications/cancelled, reason "client session closed"), each
 * server->client request it still owes an answer is answered upstream with
 * error -32603, and all its mappings are forgotten, so late answers are
 * dropped.  Needs no memory.  The session is gone even if a callback fails;
 * the first callback failure is returned.  MCPHUB_E_NOTFOUND if not open. */
MCPHUB_API int mcphub_mux_session_close(mcphub_mux *mux, uint64_t session);

/* A message from a session (json is only read during the call).
 *  - request: id and params._meta.progressToken rewritten, forwarded; 0.
 *    "initialize" is not forwarded: MCPHUB_MUX_INITIALIZE.
 *  - notifications/cancelled: params.requestId translated and the request
 *    forgotten; MCPHUB_MUX_DROPPED when it names no request in flight.
 *  - notifications/initialized: swallowed, MCPHUB_MUX_CONSUMED.
 *  - other notifications: forwarded as they are.
 *  - response or error: the answer to a server->client request this session
 *    was given; its id is mapped back; MCPHUB_MUX_DROPPED when unknown,
 *    already cancelled, or given to another session.
 * Failures change nothing: MCPHUB_E_NOTFOUND (session not open),
 * MCPHUB_E_PARSE / MCPHUB_E_INVAL / MCPHUB_E_TOOBIG (not a single JSON-RPC
 * message: split batches with mcphub_jsonrpc_batch_next(); classify with
 * mcphub_jsonrpc_classify() to build the error reply), MCPHUB_E_EXISTS (a
 * request id already in flight for this session), MCPHUB_E_FULL
 * (max_in_flight), MCPHUB_E_NOMEM, or send_upstream's non-zero value (the
 * request is then not recorded). */
MCPHUB_API int mcphub_mux_from_downstream(mcphub_mux *mux, uint64_t session, const char *json,
                                          size_t len);

/* A message from the server (one line of a stdio child; json is only read
 * during the call).
 *  - response/error: delivered to the session whose request it answers with
 *    its own id restored, related to that request, which is then forgotten;
 *    the owner's own requests go to internal_response.
 *  - notifications/progress: token restored, delivered to the owning
 *    session, related to its request.
 *  - notifications/cancelled: cancels a server->client request; translated
 *    and delivered to the session that was asked.
 *  - other notifications: delivered to every open session, unrelated.
 *  - ping: answered upstream with an empty result (MCPHUB_MUX_CONSUMED).
 *  - sampling/createMessage, elicitation/create, roots/list: a shared
 *    server process does not say which client request such a request
 *    serves, so it is delivered only when exactly one session has requests
 *    in flight (any session, whatever it declared; the owner's own requests
 *    do not count) and that session declared the capability: to that
 *    session, with a fresh id, related to its most recent request still in
 *    flight.  Sessions that are open but have nothing in flight do not
 *    count.  When several sessions have requests in flight and at least one
 *    of them declared the capability, it is refused: the server gets error
 *    -32603 saying it cannot be routed because several client sessions have
 *    requests in flight (MCPHUB_MUX_CONSUMED), and no session sees it.  The
 *    request may come from a call of a session that cannot answer it, and
 *    any pick could hand one client another's prompt; safety over
 *    convenience.  (Serving concurrent sampling for several sessions from a
 *    stdio server takes one server process per session.)  When no session
 *    with a request in flight declared the capability (or for any other
 *    method) the server gets error -32601 saying why; an id too long or
 *    already pending gets -32600, and one past max_server_requests -32603.
 *  - batches: each element handled in turn; the first failure is returned.
 * Returns 0 or a positive code above; MCPHUB_MUX_DROPPED for unknown or
 * late ids and tokens; MCPHUB_E_PARSE / MCPHUB_E_INVAL / MCPHUB_E_TOOBIG for
 * malformed lines (dropped and counted; nothing else changes);
 * MCPHUB_E_NOMEM; or a callback's non-zero value, in which case the mapping
 * it concerned is kept (a broadcast still reaches every other session). */
MCPHUB_API int mcphub_mux_from_upstream(mcphub_mux *mux, const char *json, size_t len);

/* Send a request of the owner's own (initialize, tools/list refresh, ...).
 * params_json is a JSON object or array, or NULL; it must not carry a
 * progress token.  *token_out identifies the answer given to
 * internal_response.  Returns 0, MCPHUB_E_INVAL (bad method or params),
 * MCPHUB_E_FULL, MCPHUB_E_NOMEM, or send_upstream's value (nothing
 * recorded then). */
MCPHUB_API int mcphub_mux_request(mcphub_mux *mux, const char *method, const char *params_json,
                                  uint64_t *token_out);

/* Send a notification of the owner's own (e.g. notifications/initialized).
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOMEM, or send_upstream's value. */
MCPHUB_API int mcphub_mux_notify(mcphub_mux *mux, const char *method, const char *params_json);

/* The server connection is gone (child exited, stream closed): every
 * request in flight is answered with error -32000 and message (NULL: "MCP
 * server connection closed") — sessions' through send_downstream, the
 * owner's through internal_response — and server->client requests are
 * forgotten.  Sessions stay open.  Returns 0, MCPHUB_E_INVAL (message not
 * UTF-8), MCPHUB_E_NOMEM (nothing changed), or the first callback failure
 * (everything is forgotten anyway). */
MCPHUB_API int mcphub_mux_upstream_closed(mcphub_mux *mux, const char *message);

/* The JSON-RPC error code of a request that mcphub_mux_tick() expired. */
#define MCPHUB_MUX_TIMEOUT_CODE (-32001)

/* Advance the multiplexer's tick counter by one and expire every session
 * request forwarded at least max_age_ticks ticks ago (the owner's own
 * requests are never expired).  The multiplexer has no clock: the owner
 * calls this at a fixed period P, so a request expires between
 * (max_age_ticks - 1) * P and max_age_ticks * P after it was forwarded.
 * Each expired request's session gets error MCPHUB_MUX_TIMEOUT_CODE
 * (-32001) with message (NULL: "Request timed out") under its own id,
 * related to that request; the server gets notifications/cancelled with
 * the upstream id and reason "timed out"; and the request is forgotten, so
 * a late answer is dropped.  A callback failure does not stop the sweep:
 * the request is forgotten (and counted) anyway.  Returns the number of
 * requests expired (0 or more), MCPHUB_E_INVAL (mux NULL, max_age_ticks 0,
 * message not UTF-8) or MCPHUB_E_NOMEM; after an error nothing changed,
 * the counter included. */
MCPHUB_API int mcphub_mux_tick(mcphub_mux *mux, uint32_t max_age_ticks, const char *message);

/* Fill the fields of *out that out->size covers.  Never fails. */
MCPHUB_API void mcphub_mux_get_stats(const mcphub_mux *mux, mcphub_mux_stats *out);

#ifdef __cplusplus
}
#endif
#endif
