/* libmcphub-cluster: the HTTP server the daemons serve from — requests in,
 * answers out, driven by an mcphub_loop.
 *
 * The interface is request-level and names no HTTP library: an embedder
 * could implement it with another stack.  The implementation is
 * libmicrohttpd in external-polling epoll mode, so everything happens on the
 * loop's thread and nothing blocks:
 *
 *   - The handler is called once per request, with the whole body.  It
 *     answers at once or later, from any later loop callback (after an
 *     upstream answered, from a timer, ...): exactly one of
 *     mcphub_http_respond() or mcphub_http_stream_start().  A request that
 *     waits for its answer, and a stream that waits for data, are parked
 *     (libmicrohttpd's suspend/resume): they hold no thread and cost no CPU.
 *   - Streams (Server-Sent Events, Streamable HTTP) use chunked transfer
 *     encoding; mcphub_http_stream_write() queues bytes that go out as the
 *     socket allows.
 *   - A client that goes away, also while its request is parked, is noticed
 *     and reported once through the request's close callback.
 *
 * The server answers some requests itself, without calling the handler
 * (JSON bodies {"error":"..."} unless said otherwise; the connection is
 * closed after each):
 *   400  a request target that is not an absolute path, a path with a ".."
 *        segment (also written %2e%2e), bad or NUL percent-escapes, spaces
 *        or control bytes in the target, HTTP/1.1 without Host, both
 *        Content-Length and Transfer-Encoding; malformed header lines,
 *        lengths or chunks (libmicrohttpd's answer, an HTML body);
 *   413  a body over max_body: {"error":"request body exceeds the
 *        1048576-byte limit"} (the configured number), before the body is
 *        read when Content-Length announces it, after discarding it when
 *        chunked;
 *   431  request line + headers over max_header_bytes; past
 *        libmicrohttpd's per-connection memory (2 * max_header_bytes +
 *        4 KiB, at least 16 KiB) libmicrohttpd answers 431 itself (HTML);
 *   505  an HTTP version other than 1.0 and 1.1 (libmicrohttpd, HTML);
 *   503  out of memory while taking the request in.
 * A request line libmicrohttpd cannot split into method, target and
 * version gets no answer: the connection is closed (libmicrohttpd 0.9.75).
 * Methods, routing and authentication belong to the handler.
 *
 * Timeouts: a connection idle for idle_timeout_s is closed, and a request
 * must arrive in full (TLS handshake, head and body) within idle_timeout_s
 * of the connection opening or of the previous exchange on it ending — a
 * client trickling bytes (slowloris) is cut off.  Parked requests and
 * streams never time out: ending them is the caller's business.
 *
 * Capacity: each connection holds one fd and, idle, about 20 KiB of
 * memory (libmicrohttpd's connection buffer and stream block): 10,000
 * open streams take ~200 MB and no CPU.  Raise the fd limit above
 * max_connections + 32 (ulimit -n, or LimitNOFILE= in a systemd unit; a
 * warning is logged when it is lower) and keep the loop's max_fd above it
 * too.  Past max_connections new connections are not accepted: they wait
 * in the kernel's listen queue until one closes.  The process should
 * ignore SIGPIPE (the daemons do).
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  (libmicrohttpd keeps a
 * process-wide panic hook; this module leaves it alone.) */
#ifndef MCPHUB_HTTP_SERVER_H
#define MCPHUB_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_http_server mcphub_http_server;

/* One request: valid from the handler call until its close callback has
 * returned (the exchange completed, or the client went away). */
typedef struct mcphub_http_request mcphub_http_request;

/* A response header (caller-filled; copied). */
typedef struct mcphub_http_header {
    const char *name;
    const char *value;
} mcphub_http_header;

/* Called once per request with the complete body.  It must answer, now or
 * later, with mcphub_http_respond() or mcphub_http_stream_start(). */
typedef void (*mcphub_http_handler_fn)(mcphub_http_request *req, void *user_data);

/* Called once when the exchange ends: completed is 1 when the whole answer
 * was handed to the network, 0 when the client went away, a timeout or an
 * error cut it short, or the server was freed.  After it returns r is
 * freed; inside it r's accessors still work, answering does not. */
typedef void (*mcphub_http_close_fn)(mcphub_http_request *r, int completed, void *user_data);

/* Caller-filled; copied (strings too).  0 / NULL means the default. */
typedef struct mcphub_http_server_opts {
    size_t size;                  /* sizeof(mcphub_http_server_opts) */
    const char *host;             /* numeric bind address, default "127.0.0.1";
                                     "0.0.0.0", "::" (also takes IPv4) allowed */
    uint16_t port;                /* 0: an ephemeral port (see _port()) */
    const char *tls_cert_pem;     /* PEM text, both or neither: HTTPS */
    const char *tls_key_pem;
    size_t max_body;              /* request body limit, default 1 MiB -> 413 */
    size_t max_header_bytes;      /* request line + headers, default 8 KiB -> 431 */
    unsigned max_connections;     /* default 4096; more wait to be accepted */
    unsigned idle_timeout_s;      /* default 60 (see the timeouts above) */
    mcphub_http_handler_fn handler;  /* required */
    void *user_data;
    mcphub_log_fn log;            /* default silent */
    void *log_user_data;
    size_t max_stream_buffer;     /* bytes queued per stream, default 4 MiB */
} mcphub_http_server_opts;

/* Create a server listening on opts->host:opts->port and driven by loop
 * (borrowed; it must outlive the server).  Returns 0, MCPHUB_E_INVAL (no
 * handler, a bad host, only one of cert and key, a bad cert or key, a
 * port that cannot be bound or is in use, libmicrohttpd without TLS or
 * epoll), MCPHUB_E_NOMEM or MCPHUB_E_FULL (out of fds, the loop's bounds).
 * Caller frees with mcphub_http_server_free. */
MCPHUB_API int mcphub_http_server_new(mcphub_http_server **out, mcphub_loop *loop,
                                      const mcphub_http_server_opts *opts,
                                      const mcphub_mem *mem);

/* The port listened on (the real one when opts->port was 0). */
MCPHUB_API uint16_t mcphub_http_server_port(const mcphub_http_server *s);

/* Graceful shutdown, step 1: close the listening socket (new connections
 * are refused), close keep-alive connections that have no request under
 * way, and answer the rest with "Connection: close".  Requests under way
 * and open streams go on; mcphub_http_server_requests() tells when they
 * are done.  Idempotent. */
MCPHUB_API void mcphub_http_server_stop_accepting(mcphub_http_server *s);

/* Requests that reached the handler and have not closed yet. */
MCPHUB_API size_t mcphub_http_server_requests(const mcphub_http_server *s);

/* Close every connection and free the server.  Each open request gets its
 * close callback (completed 0) during the call; those callbacks may not
 * answer.  Inside a callback of this server the work is finished when the
 * callback returns.  NULL is allowed. */
MCPHUB_API void mcphub_http_server_free(mcphub_http_server *s);

/* ---- the request (strings borrowed until the close callback returns) ---- */

/* "GET", "POST", ... as sent. */
MCPHUB_API const char *mcphub_http_request_method(const mcphub_http_request *r);

/* The percent-decoded path, without the query.  Never has a ".." segment
 * or a NUL byte; "%2F" decodes to "/" as well. */
MCPHUB_API const char *mcphub_http_request_path(const mcphub_http_request *r);

/* The decoded value ("+" is a space) of the first query parameter called
 * name (compared exactly), "" for a name without "=", or NULL. */
MCPHUB_API const char *mcphub_http_request_query(const mcphub_http_request *r, const char *name);

/* A request header's value (name compared case-insensitively; the first
 * of repeated ones), or NULL. */
MCPHUB_API const char *mcphub_http_request_header(const mcphub_http_request *r, const char *name);

/* The body (*len bytes, len may be NULL; NUL-terminated for convenience,
 * it may hold NULs itself); "" when there was none. */
MCPHUB_API const char *mcphub_http_request_body(const mcphub_http_request *r, size_t *len);

/* The client's address: "127.0.0.1:53012", "[::1]:53012". */
MCPHUB_API const char *mcphub_http_request_remote(const mcphub_http_request *r);

/* A pointer of the caller's, NULL until set. */
MCPHUB_API void *mcphub_http_request_get_data(const mcphub_http_request *r);
MCPHUB_API void mcphub_http_request_set_data(mcphub_http_request *r, void *data);

/* Set (or replace, or clear with NULL) the close callback.  fn and
 * user_data are borrowed until it has run. */
MCPHUB_API void mcphub_http_request_on_close(mcphub_http_request *r, mcphub_http_close_fn fn,
                                             void *user_data);

/* ---- answering: exactly one of respond or stream_start, from the handler
 * or any later loop callback ---- */

/* Answer with status (200..599), headers (copied; none may be
 * Content-Length or Transfer-Encoding, nor hold CR or LF; "Connection:
 * close" closes the connection after the answer) and len bytes of body
 * (copied; the server adds Content-Length).  Returns 0, MCPHUB_E_INVAL
 * (bad status or header), MCPHUB_E_STATE (already answered, the client
 * went away, the server is closing) or MCPHUB_E_NOMEM; on failure nothing
 * was sent and the request can still be answered. */
MCPHUB_API int mcphub_http_respond(mcphub_http_request *r, unsigned status,
                                   const mcphub_http_header *headers, size_t n_headers,
                                   const char *body, size_t len);

/* Start a streamed answer (chunked).  Cache-Control: no-cache and
 * X-Accel-Buffering: no are added unless headers name them; for SSE pass
 * Content-Type: text/event-stream.  Returns as mcphub_http_respond. */
MCPHUB_API int mcphub_http_stream_start(mcphub_http_request *r, unsigned status,
                                        const mcphub_http_header *headers, size_t n_headers);

/* Queue len bytes (copied) on a started stream; they are sent as the
 * socket allows, in order.  Returns 0, MCPHUB_E_FULL (more than
 * max_stream_buffer would be queued: the client is too slow; nothing was
 * queued), MCPHUB_E_STATE (no stream started, already ended, the client
 * went away) or MCPHUB_E_NOMEM (nothing queued). */
MCPHUB_API int mcphub_http_stream_write(mcphub_http_request *r, const char *data, size_t len);

/* End the stream once the queued bytes are out; the close callback then
 * reports completed 1.  Returns 0 or MCPHUB_E_STATE. */
MCPHUB_API int mcphub_http_stream_end(mcphub_http_request *r);

#ifdef __cplusplus
}
#endif
#endif
