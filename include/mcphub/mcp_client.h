/* libmcphub-cluster: the MCP client side of HTTP — Streamable HTTP
 * (protocol 2025-03-26 .. 2025-11-25) with a fallback to the legacy
 * HTTP+SSE transport (2024-11-05) — over an mcphub_http_client.
 *
 * Used by the worker for remote servers (mcp_settings.json "type": "sse"
 * and "streamable-http") and by the master for its upstream sessions to the
 * workers' /mcp/:server endpoints.
 *
 * The owner speaks JSON-RPC: it hands each message to
 * mcphub_mcp_client_send() and gets every message of the server through
 * on_message.  What the transport needs is done here:
 *
 *   Streamable HTTP: each message is one POST with "Accept:
 *   application/json, text/event-stream".  A request's answer comes back
 *   as one JSON body or as an SSE stream whose events (progress, logs,
 *   server->client requests, then the response) are delivered one by one
 *   as they arrive; notifications and responses get 202 and deliver
 *   nothing.  The Mcp-Session-Id of the initialize answer and the
 *   negotiated protocol version (MCP-Protocol-Version) go on every later
 *   request.  While initialize is in flight, later messages wait, so
 *   they leave with the session id.  With open_get_stream, a GET stream
 *   for server-initiated messages opens once notifications/initialized was
 *   accepted, and is reopened (with a growing delay, or the server's
 *   retry:) when it ends.  mcphub_mcp_client_close() DELETEs the session.
 *
 *   Legacy HTTP+SSE: GET url opens the event stream; its "endpoint" event
 *   names the URL to POST messages to (resolved against url; another
 *   origin is refused); answers arrive as "message" events on the stream.
 *   Messages sent before the endpoint is known wait for it.
 *
 *   MCPHUB_MCP_TRANSPORT_AUTO POSTs initialize first and switches to the
 *   legacy transport when that POST is answered 400, 404 or 405.
 *
 * Every request sent gets exactly one answer through on_message — the
 * server's, or a synthesized JSON-RPC error response with its id (code
 * MCPHUB_MCP_CLIENT_TRANSPORT_ERROR, -32099, the message naming the HTTP
 * status or the transport error — a code of its own, so that an owner can
 * tell "the server could not be reached" from an error the server sent) when
 * its exchange failed — unless the owner closes or frees the client first.
 * When the connection becomes unusable (the session is gone: 404 on a
 * request that carried the session id, or a 400 whose answer names the
 * session, as servers built on the TypeScript SDK's examples send; the
 * legacy stream ended; the GET stream cannot reach the server any more),
 * every request still waiting gets its error, then on_closed is called
 * once and nothing else follows: the owner frees this client and connects
 * again.
 *
 * Ordering: the messages of one stream (one POST, the GET stream, the
 * legacy stream) are delivered in the order the server wrote them;
 * answers to different requests may interleave.  Callbacks never run from
 * inside mcphub_mcp_client_send(), only from the loop; they may call send,
 * close and free on this client (after free nothing more is delivered).
 *
 * Not done: resuming a broken SSE stream with Last-Event-ID (a request
 * whose POST stream ends without its response gets an error), a request
 * timeout on the legacy transport, the 2026-07-28 stateless protocol,
 * OAuth.
 *
 * Bounds: max_message_bytes per message either way, max_in_flight
 * requests awaiting answers, max_queued messages waiting for the session
 * or the legacy endpoint; past them send returns MCPHUB_E_TOOBIG or
 * MCPHUB_E_FULL.  Logs name host:port and at most 8 characters of the
 * session id, never paths, queries or header values.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  Use the client from the thread
 * that runs its loop. */
#ifndef MCPHUB_MCP_CLIENT_H
#define MCPHUB_MCP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "http_client.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_mcp_client mcphub_mcp_client;

/* The code of the errors the client synthesizes for failed exchanges. */
#define MCPHUB_MCP_CLIENT_TRANSPORT_ERROR (-32099)

typedef enum {
    MCPHUB_MCP_TRANSPORT_AUTO = 0,       /* Streamable HTTP, else legacy on 400/404/405 */
    MCPHUB_MCP_TRANSPORT_STREAMABLE = 1, /* Streamable HTTP only */
    MCPHUB_MCP_TRANSPORT_SSE = 2         /* legacy HTTP+SSE only; url is the SSE URL */
} mcphub_mcp_transport;

/* One JSON-RPC message from the server (json is borrowed until the call
 * returns; not NUL-terminated).  c may be closed or freed inside. */
typedef void (*mcphub_mcp_client_message_fn)(mcphub_mcp_client *c, const char *json, size_t len,
                                             void *user_data);
/* The connection is unusable; why is a static or borrowed English text
 * ("session not found", "the legacy SSE stream ended", ...), valid until
 * the call returns.  Called at most once; nothing follows it. */
typedef void (*mcphub_mcp_client_closed_fn)(mcphub_mcp_client *c, const char *why,
                                            void *user_data);

/* Caller-filled; copied (strings and headers too).  0/NULL means the
 * default. */
typedef struct mcphub_mcp_client_opts {
    size_t size;                       /* sizeof(mcphub_mcp_client_opts) */
    mcphub_loop *loop;                 /* required; borrowed, outlives the client */
    mcphub_http_client *http;          /* required; borrowed, outlives the client */
    const char *url;                   /* required: the MCP endpoint (http or https) */
    const mcphub_http_kv *headers;     /* static headers on every request, e.g.
                                          Authorization; at most 64; Accept,
                                          Content-Type, Mcp-Session-Id and
                                          MCP-Protocol-Version are ours and
                                          dropped */
    size_t n_headers;
    mcphub_mcp_transport transport;    /* AUTO */
    uint64_t request_timeout_ms;       /* per request POST; 0: none (the HTTP
                                          client's connect timeout always
                                          applies) */
    int open_get_stream;               /* 1: keep a GET stream for
                                          server-initiated messages */
    mcphub_mcp_client_message_fn on_message; /* required */
    mcphub_mcp_client_closed_fn on_closed;   /* may be NULL */
    void *user_data;                   /* given to both; borrowed */
    mcphub_log_fn log;                 /* NULL: silent */
    void *log_user_data;
    size_t max_message_bytes;          /* one message either way; 16 MiB */
    size_t max_in_flight;              /* requests awaiting answers; 1024 */
    size_t max_queued;                 /* messages waiting for the session or
                                          the legacy endpoint; 256 */
} mcphub_mcp_client_opts;

/* Create a client; no I/O happens until the first send.  Returns 0,
 * MCPHUB_E_INVAL (no out, opts, loop, http, on_message; url not http(s)
 * or with blanks or control characters, or longer than 4096 bytes; an
 * unknown transport; more than 64 headers or a bad header name or value)
 * or MCPHUB_E_NOMEM.  Caller frees with mcphub_mcp_client_free. */
MCPHUB_API int mcphub_mcp_client_new(mcphub_mcp_client **out, const mcphub_mcp_client_opts *opts,
                                     const mcphub_mem *mem);

/* Send one JSON-RPC message (request, notification or response; json is
 * only read during the call).  Non-blocking: it is POSTed now, or waits
 * for the session (initialize in flight) or the legacy endpoint; answers
 * come through on_message.  Returns 0; MCPHUB_E_INVAL (NULL, not one
 * JSON-RPC message — batches too — or a request id over 256 bytes),
 * MCPHUB_E_PARSE (not JSON), MCPHUB_E_TOOBIG (over max_message_bytes),
 * MCPHUB_E_EXISTS (a request with this id awaits its answer),
 * MCPHUB_E_FULL (max_in_flight, max_queued, or the HTTP client's bounds),
 * MCPHUB_E_STATE (closed, or on_closed was called) or MCPHUB_E_NOMEM.  A
 * failed send changes nothing and calls nothing. */
MCPHUB_API int mcphub_mcp_client_send(mcphub_mcp_client *c, const char *json, size_t len);

/* End the connection: Streamable HTTP with a session sends DELETE (handed
 * to the HTTP client, which finishes it even after this client is freed;
 * best effort, its outcome is ignored), the legacy stream is closed, every
 * exchange in flight is dropped.  No callback runs afterwards and send
 * returns MCPHUB_E_STATE.  Returns 0, or MCPHUB_E_INVAL when c is NULL.
 * Calling it again does nothing. */
MCPHUB_API int mcphub_mcp_client_close(mcphub_mcp_client *c);

/* Free the client: exchanges in flight are cancelled without any
 * callback (no DELETE: call close first for that).  NULL is allowed.
 * From inside a callback, the memory goes when the callback returns. */
MCPHUB_API void mcphub_mcp_client_free(mcphub_mcp_client *c);

/* The Mcp-Session-Id the server gave, or NULL (none yet, legacy
 * transport).  Borrowed until the next loop iteration or call on c. */
MCPHUB_API const char *mcphub_mcp_client_session_id(const mcphub_mcp_client *c);

/* The transport in use: the one asked for, and for AUTO, AUTO until the
 * first POST succeeded (STREAMABLE) or the fallback began (SSE). */
MCPHUB_API mcphub_mcp_transport mcphub_mcp_client_transport(const mcphub_mcp_client *c);

/* The protocol version of the initialize result, or NULL before it.
 * Borrowed as mcphub_mcp_client_session_id. */
MCPHUB_API const char *mcphub_mcp_client_protocol_version(const mcphub_mcp_client *c);

/* Requests sent and not answered yet. */
MCPHUB_API size_t mcphub_mcp_client_in_flight(const mcphub_mcp_client *c);

#ifdef __cplusplus
}
#endif
#endif
