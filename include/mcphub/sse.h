/* libmcphub-cluster: Server-Sent Events (text/event-stream) parser and
 * writer, as MCP's Streamable HTTP and legacy HTTP+SSE transports use them.
 *
 * The parser is incremental: feed it byte chunks of any size and it calls
 * back once per event, exactly as if the stream had arrived in one piece.
 * It follows the WHATWG rules: lines end in \n, \r\n or \r (also split
 * across chunks), a leading UTF-8 BOM is dropped, ":" lines are comments,
 * fields are event, data, id and retry, several data lines join with \n, and
 * an empty line dispatches the event if it carried data.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks. */
#ifndef MCPHUB_SSE_H
#define MCPHUB_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bound of one event when max_event_bytes is 0. */
#define MCPHUB_SSE_DEFAULT_MAX_EVENT (16u * 1024u * 1024u)

/* One event.  All pointers are borrowed until the callback returns; each
 * string is NUL-terminated and its length given. */
typedef struct mcphub_sse_event {
    const char *event;   /* event type; "message" when the event named none */
    size_t event_len;
    const char *data;    /* data lines joined with \n (no trailing \n) */
    size_t data_len;
    const char *id;      /* last event id seen on the stream so far, or "" */
    size_t id_len;
    int64_t retry_ms;    /* a retry: field since the previous event, or -1 */
} mcphub_sse_event;

/* Called once per event.  Return 0 to go on; any other value stops the
 * parser, which returns that value from mcphub_sse_parser_feed() now and on
 * every later call.  Must not call mcphub_sse_parser_feed() itself. */
typedef int (*mcphub_sse_event_fn)(const mcphub_sse_event *ev, void *user_data);

typedef struct mcphub_sse_parser mcphub_sse_parser;

/* Make a parser.  on_event is required; user_data is handed to it.
 * max_event_bytes bounds what one event may buffer (its data, type, id and
 * the line being read, comments included); 0 means
 * MCPHUB_SSE_DEFAULT_MAX_EVENT.  mem may be NULL (C library allocator); it is
 * copied.  Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOMEM.  Free with
 * mcphub_sse_parser_free(). */
MCPHUB_API int mcphub_sse_parser_new(mcphub_sse_parser **out, mcphub_sse_event_fn on_event,
                                     void *user_data, size_t max_event_bytes,
                                     const mcphub_mem *mem);

/* Parse len more bytes of the stream (buf is only read during the call).
 * Returns 0; MCPHUB_E_TOOBIG when an event outgrows max_event_bytes;
 * MCPHUB_E_NOMEM; MCPHUB_E_INVAL (NULL arguments); or the callback's
 * non-zero value.  Streams cannot be rewound, so after any failure the
 * parser stays failed and returns the same code: close the stream and free
 * the parser. */
MCPHUB_API int mcphub_sse_parser_feed(mcphub_sse_parser *p, const char *buf, size_t len);

/* The last event id seen (borrowed until the next feed; "" when none), for
 * resuming with Last-Event-ID.  len may be NULL. */
MCPHUB_API const char *mcphub_sse_parser_last_id(const mcphub_sse_parser *p, size_t *len);

/* The last retry: value seen in milliseconds, or -1. */
MCPHUB_API int64_t mcphub_sse_parser_retry(const mcphub_sse_parser *p);

/* Free a parser and everything it buffered; NULL is fine. */
MCPHUB_API void mcphub_sse_parser_free(mcphub_sse_parser *p);

/* Format one event: "event: <event>\n" (when event is not NULL or ""),
 * "id: <id>\n" (when id is not NULL), one "data: <line>\n" per line of the
 * len bytes at data (split on \n, \r\n and \r; so \r\n comes back as \n),
 * then the empty line.  data NULL with len 0 writes no data line (an event
 * that only moves the last event id); data "" writes one empty data line
 * (the priming event of MCP 2025-11-25).  event and id must not contain CR
 * or LF.  *out is NUL-terminated, *out_len excludes the NUL; the caller frees
 * *out with mem's free_fn (free(3) when mem is NULL).
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_sse_format(const char *event, const char *id, const char *data, size_t len,
                                 char **out, size_t *out_len, const mcphub_mem *mem);

/* Format a comment block for keep-alives: ": <line>\n" per line of text
 * (":\n" when text is NULL or ""), then the empty line.  Clients ignore
 * it; idle proxies see traffic.  Ownership and errors as mcphub_sse_format().
 */
MCPHUB_API int mcphub_sse_format_comment(const char *text, char **out, size_t *out_len,
                                         const mcphub_mem *mem);

#ifdef __cplusplus
}
#endif
#endif
