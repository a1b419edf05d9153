/* libmcphub-cluster: the HTTP client — libcurl's multi interface driven by
 * an mcphub_loop.
 *
 * Used by the worker (register and heartbeat to the master; remote MCP
 * servers over SSE and Streamable HTTP) and by the master (calls to the
 * workers: allocate/release, proxied MCP requests, health checks).
 *
 * Everything is non-blocking: sockets are fd watches on the loop and
 * libcurl's timeouts one loop timer.  Connections are kept alive and reused
 * across requests to the same host (up to max_total_connections in all,
 * max_host_connections per host; requests beyond wait in libcurl's queue).
 * Only http:// and https:// URLs are accepted; redirects are not followed;
 * the http_proxy/https_proxy/no_proxy environment variables are ignored
 * (opts.proxy sets a proxy explicitly).  Host names are resolved by
 * libcurl's threaded resolver (one short-lived thread per lookup, the one
 * thread this module may cause) when libcurl is built with it, as Debian's
 * is; with a blocking resolver, give IP addresses.  TLS uses libcurl's
 * backend (GnuTLS on Debian) with peer and host verification on.
 *
 * A request either ends with exactly one on_done call, never from inside
 * mcphub_http_client_send itself, or is cancelled (mcphub_http_client_cancel
 * or mcphub_http_client_free), after which none of its callbacks run.
 * Callbacks may send new requests and cancel any request, the current one
 * included, and may free the client.
 *
 * Memory: the client's own memory (request and response buffers, tables)
 * comes from mem and is pooled: after warm-up a request allocates nothing
 * through mem.  libcurl's own memory comes from libcurl's global allocator.
 * The client calls curl_global_init/curl_global_cleanup, which are
 * thread-safe in libcurl 7.84 and later ("threadsafe" feature).
 *
 * Logs (opts.log) carry events and host:port, never URLs' paths or
 * queries, user names, passwords or header values (tokens).
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  Use the client from the thread
 * that runs its loop. */
#ifndef MCPHUB_HTTP_CLIENT_H
#define MCPHUB_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_http_client mcphub_http_client;

/* Caller-filled; copied (strings too).  0/NULL means the default. */
typedef struct mcphub_http_client_opts {
    size_t size;                     /* sizeof(mcphub_http_client_opts) */
    const char *ca_file;             /* PEM CA bundle; NULL: the system's */
    int insecure_skip_verify;        /* 1: no TLS peer/host check (tests only) */
    unsigned max_total_connections;  /* open connections in all; 256 */
    unsigned max_host_connections;   /* open connections per host; 64 */
    uint64_t default_timeout_ms;     /* whole request; 30000 */
    size_t max_response_bytes;       /* buffered body; 16 MiB */
    mcphub_log_fn log;               /* NULL: silent */
    void *log_user_data;
    uint64_t connect_timeout_ms;     /* TCP + TLS connect; 10000 */
    size_t max_requests;             /* requests in flight; 4096 */
    size_t max_request_bytes;        /* request body; 16 MiB */
    size_t max_header_bytes;         /* response headers; 64 KiB */
    const char *proxy;               /* e.g. "http://proxy:3128"; NULL: none */
} mcphub_http_client_opts;

/* A request header.  name is an HTTP token, value has no CR or LF; an
 * empty value is sent as an empty header.  Up to 256 per request. */
typedef struct mcphub_http_kv {
    const char *name;
    const char *value;
} mcphub_http_kv;

/* The outcome of a request, given to on_done; the struct and everything it
 * points to are borrowed until on_done returns. */
typedef struct mcphub_http_response {
    long status;            /* HTTP status; 0 when no response arrived
                               (see error) */
    const char *body;       /* buffered body, NUL-terminated (never NULL;
                               "" for streamed requests) */
    size_t body_len;
    const char *content_type;  /* the Content-Type header, or NULL */
    /* Case-insensitive lookup of a response header: its value (the first
     * when repeated, without surrounding blanks), or NULL.  Call as
     * resp->header(resp, "mcp-session-id"). */
    const char *(*header)(const struct mcphub_http_response *r, const char *name);
    /* NULL on success (any status, 404 and 500 included), else why the
     * exchange failed: "connect to 10.0.0.2:3001 failed: Connection
     * refused", "timed out after 5000 ms", "response exceeds 1024 bytes",
     * "idle for 30000 ms", ...  status is kept when the response began
     * before the failure. */
    const char *error;
    const void *priv;       /* the library's */
} mcphub_http_response;

/* The request ended (see mcphub_http_response).  Called once per accepted
 * request, never after it was cancelled or the client freed. */
typedef void (*mcphub_http_done_fn)(uint64_t id, const mcphub_http_response *resp,
                                    void *user_data);
/* Streaming: len bytes of the body as they arrive (status is the
 * response's, whatever it is); data is borrowed until the call returns.
 * Return 0 to go on, non-zero to abort: on_done then follows with error
 * "aborted by the data callback". */
typedef int (*mcphub_http_data_fn)(uint64_t id, long status, const char *data, size_t len,
                                   void *user_data);

/* Caller-filled; copied by mcphub_http_client_send. */
typedef struct mcphub_http_call {
    size_t size;                   /* sizeof(mcphub_http_call) */
    const char *method;            /* "GET", "POST", ...; NULL: GET, or
                                      POST when there is a body */
    const char *url;               /* http:// or https:// */
    const mcphub_http_kv *headers; /* n_headers entries */
    size_t n_headers;
    const char *body;              /* body_len bytes; POST, PUT and PATCH
                                      without body send Content-Length: 0 */
    size_t body_len;
    uint64_t timeout_ms;           /* whole request; 0: the default, or no
                                      limit when streaming */
    int stream;                    /* 1: body goes to on_data, not buffered */
    uint64_t idle_timeout_ms;      /* streams: fail when no byte arrived for
                                      this long; 0: never */
    mcphub_http_done_fn on_done;   /* may be NULL */
    mcphub_http_data_fn on_data;   /* required when streaming */
    void *user_data;               /* given to both; borrowed until the
                                      request ends or is cancelled */
} mcphub_http_call;

/* Create a client on loop (borrowed: it must outlive the client).  Returns
 * 0, MCPHUB_E_INVAL (no out or loop, bad opts or mem) or MCPHUB_E_NOMEM
 * (also when libcurl cannot start).  Caller frees with
 * mcphub_http_client_free. */
MCPHUB_API int mcphub_http_client_new(mcphub_http_client **out, mcphub_loop *loop,
                                      const mcphub_http_client_opts *opts,
                                      const mcphub_mem *mem);

/* Free the client: requests in flight are dropped without any callback,
 * connections closed, watches and timers removed from the loop.  NULL is
 * allowed.  From inside one of the client's callbacks the work finishes
 * when the callback has returned. */
MCPHUB_API void mcphub_http_client_free(mcphub_http_client *c);

/* Start a request; *id_out (may be NULL) receives its id (never 0).
 * Everything in *call is copied except user_data.  Returns 0 (on_done will
 * follow, from the loop), MCPHUB_E_INVAL (no call or URL, not http(s), a
 * blank or control character in the URL, bad method or header, more than
 * 256 headers, streaming without on_data, body_len without body),
 * MCPHUB_E_TOOBIG (body over max_request_bytes), MCPHUB_E_FULL
 * (max_requests in flight, or no room for the idle timer in the loop) or
 * MCPHUB_E_NOMEM.  A failed send calls nothing and changes nothing. */
MCPHUB_API int mcphub_http_client_send(mcphub_http_client *c, const mcphub_http_call *call,
                                       uint64_t *id_out);

/* Cancel a request: none of its callbacks runs afterwards (also when
 * called from its own on_data); libcurl closes the connection when the
 * exchange was under way.  Returns 0, or
 * MCPHUB_E_NOTFOUND when id is unknown, ended (also while its on_done
 * runs) or already cancelled. */
MCPHUB_API int mcphub_http_client_cancel(mcphub_http_client *c, uint64_t id);

/* Requests accepted and neither ended nor cancelled. */
MCPHUB_API size_t mcphub_http_client_in_flight(const mcphub_http_client *c);

#ifdef __cplusplus
}
#endif
#endif
