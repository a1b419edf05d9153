/* libmcphub-cluster: JSON-RPC 2.0 message classification and small builders
 * for MCP traffic.
 *
 * mcphub_jsonrpc_classify() checks one message (strict JSON, UTF-8, nesting
 * at most MCPHUB_JSONRPC_MAX_DEPTH) and tells what it is without allocating:
 * every value it reports is a span of the caller's text, except the decoded
 * method name, which is copied into the result struct.  Ids, progress tokens
 * and request ids are reported in their exact JSON form ("7" stays "7", 7
 * stays 7), so they can be echoed back byte for byte.
 *
 * mcphub_jsonrpc_rewrite() copies a classified message compactly (no
 * whitespace outside strings, hence no raw newline: fit for stdio framing)
 * while replacing some of its values; the multiplexer (mcphub_mux) uses it
 * to swap ids and tokens with one pass over the text.
 *
 * Thread safety: no handles; every function is reentrant.  A handle must not
 * be used by two threads at once; no global mutable state; no internal locks. */
#ifndef MCPHUB_JSONRPC_H
#define MCPHUB_JSONRPC_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Standard JSON-RPC error codes. */
#define MCPHUB_JSONRPC_PARSE_ERROR (-32700)
#define MCPHUB_JSONRPC_INVALID_REQUEST (-32600)
#define MCPHUB_JSONRPC_METHOD_NOT_FOUND (-32601)
#define MCPHUB_JSONRPC_INVALID_PARAMS (-32602)
#define MCPHUB_JSONRPC_INTERNAL_ERROR (-32603)

/* Arrays and objects may nest this deep, no deeper. */
#define MCPHUB_JSONRPC_MAX_DEPTH 64
/* Room for a decoded method name and its NUL; longer names are refused. */
#define MCPHUB_JSONRPC_METHOD_MAX 128

typedef enum {
    MCPHUB_JSONRPC_INVALID = 0,      /* not a JSON-RPC message: see reason */
    MCPHUB_JSONRPC_REQUEST = 1,      /* method + id */
    MCPHUB_JSONRPC_NOTIFICATION = 2, /* method, no id */
    MCPHUB_JSONRPC_RESPONSE = 3,     /* id + result */
    MCPHUB_JSONRPC_ERROR = 4,        /* id (maybe null) + error{code, message} */
    MCPHUB_JSONRPC_BATCH = 5         /* a non-empty array (2025-03-26 batching) */
} mcphub_jsonrpc_kind;

/* A piece of the caller's text: borrowed, not NUL-terminated.  ptr is NULL
 * when the member is absent. */
typedef struct mcphub_jsonrpc_span {
    const char *ptr;
    size_t len;
} mcphub_jsonrpc_span;

/* What mcphub_jsonrpc_classify() found.  Spans point into the classified
 * text and are valid while that text is. */
typedef struct mcphub_jsonrpc_msg {
    mcphub_jsonrpc_kind kind;
    /* Request/notification: the method, unescaped and NUL-terminated;
     * otherwise "". */
    char method[MCPHUB_JSONRPC_METHOD_MAX];
    /* The id exactly as written: a string token with its quotes, an integer,
     * or null (only in error responses).  Also set, when it could be read,
     * for an invalid message, so that the error reply can carry it. */
    mcphub_jsonrpc_span id;
    mcphub_jsonrpc_span params;        /* raw params value */
    mcphub_jsonrpc_span result;        /* raw result value */
    int64_t error_code;                /* error responses */
    mcphub_jsonrpc_span error_message; /* raw string token, with quotes */
    mcphub_jsonrpc_span error_data;    /* raw data value */
    /* MCP members the multiplexer rewrites, raw:
     *   requests:               params._meta.progressToken
     *   notifications/progress: params.progressToken */
    mcphub_jsonrpc_span progress_token;
    /* notifications/cancelled: params.requestId, raw. */
    mcphub_jsonrpc_span request_id;
    size_t batch_len;  /* batches: number of elements */
    int compact;       /* 1 when the text has no whitespace outside strings */
    /* Invalid messages: the JSON-RPC code to answer with (-32700 when the
     * text is not JSON, -32600 otherwise) and a static English reason.
     * Valid messages: 0 and NULL. */
    int error_reply;
    const char *reason;
} mcphub_jsonrpc_msg;

/* Classify the len bytes at json.  max_bytes bounds len (0: no bound).
 * *out is always filled; on failure its kind is MCPHUB_JSONRPC_INVALID and
 * reason says why.  Batches are only checked to be well-formed JSON arrays:
 * walk them with mcphub_jsonrpc_batch_next() and classify each element.
 * Unknown members are ignored; a repeated member that matters ("id",
 * "method", "params", "_meta", "progressToken", ...) makes the message
 * invalid so that two readers can never see two different ids.
 * Returns 0, MCPHUB_E_PARSE (not JSON, not UTF-8, or trailing bytes),
 * MCPHUB_E_INVAL (JSON but not JSON-RPC 2.0, or out or json NULL),
 * MCPHUB_E_TOOBIG (over max_bytes, or nested deeper than
 * MCPHUB_JSONRPC_MAX_DEPTH). */
MCPHUB_API int mcphub_jsonrpc_classify(mcphub_jsonrpc_msg *out, const char *json, size_t len,
                                       size_t max_bytes);

/* Iterate the elements of a batch: start with *pos = 0; each call stores
 * the next element's raw text in *item (borrowed from json) and returns 1,
 * then 0 at the end.  MCPHUB_E_PARSE if json is not a well-formed array,
 * MCPHUB_E_INVAL on NULL arguments. */
MCPHUB_API int mcphub_jsonrpc_batch_next(const char *json, size_t len, size_t *pos,
                                         mcphub_jsonrpc_span *item);

/* One replacement for mcphub_jsonrpc_rewrite(): the value at span `at`
 * (inside the text) becomes the JSON text `with` (copied verbatim; the
 * caller makes sure it is valid JSON on one line). */
typedef struct mcphub_jsonrpc_edit {
    mcphub_jsonrpc_span at;
    const char *with;
    size_t with_len;
} mcphub_jsonrpc_edit;

/* Copy json (text that mcphub_jsonrpc_classify() accepted) without
 * whitespace outside strings, applying n edits, which must be sorted by
 * position, not overlap, and each cover whole values.  Writes at most cap
 * bytes into buf (buf may be NULL with cap 0; no NUL is added) and returns
 * the result's full length: the copy is complete when that is <= cap, and
 * len + the sum of with_len is always enough.  Returns 0 when an edit lies
 * outside the text or edits are out of order. */
MCPHUB_API size_t mcphub_jsonrpc_rewrite(char *buf, size_t cap, const char *json, size_t len,
                                         const mcphub_jsonrpc_edit *edits, size_t n);

/* Build {"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":"..."}}.
 * id_json is the id's JSON text (a string token, an integer or null), for
 * example msg.id from mcphub_jsonrpc_classify(); NULL means null.  message
 * (UTF-8, copied and escaped) may be NULL for the standard text of code.
 * *out is NUL-terminated, *out_len excludes the NUL; the caller frees *out
 * with mem's free_fn (free(3) when mem is NULL).
 * Returns 0, MCPHUB_E_INVAL (bad id_json or message), MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_jsonrpc_error_response(char **out, size_t *out_len, const char *id_json,
                                             size_t id_len, int code, const char *message,
                                             const mcphub_mem *mem);

/* Build {"jsonrpc":"2.0","id":<id>,"result":<result>}.  result_json NULL
 * means {} (the answer to ping and other empty results); otherwise it must
 * be one JSON value (checked; copied compactly).  id_json as above but must
 * not be null.  Ownership and errors as mcphub_jsonrpc_error_response(). */
MCPHUB_API int mcphub_jsonrpc_result_response(char **out, size_t *out_len, const char *id_json,
                                              size_t id_len, const char *result_json,
                                              size_t result_len, const mcphub_mem *mem);

/* Static English text for a standard code ("Parse error", "Method not
 * found", ...); "Server error" for other codes.  Never NULL. */
MCPHUB_API const char *mcphub_jsonrpc_error_text(int code);

/* Static name of a kind ("request", "notification", ...). */
MCPHUB_API const char *mcphub_jsonrpc_kind_name(mcphub_jsonrpc_kind kind);

#ifdef __cplusplus
}
#endif
#endif
