/* libmcphub-cluster: line framer — bytes in, complete lines out.
 *
 * Used for MCP's stdio transport: one JSON-RPC message per line, separated
 * by "\n"; one trailing "\r" is stripped.  Feed bytes as they arrive, in
 * pieces of any size; each complete line is handed to on_line.
 *
 * A line longer than max_line bytes (counted before the "\n", "\r"
 * included) is dropped whole: its bytes are discarded as they arrive, the
 * framer never holds more than max_line bytes, and when its "\n" arrives
 * (or at mcphub_linebuf_finish) on_drop reports the line's full length.
 * Framing resumes with the next line.
 *
 * I/O-free.  Thread safety: a handle must not be used by two threads at
 * once; no global mutable state; no internal locks. */
#ifndef MCPHUB_LINEBUF_H
#define MCPHUB_LINEBUF_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_linebuf mcphub_linebuf;

/* A complete line without its "\n" (and without one trailing "\r").  line
 * is borrowed until the callback returns and is NOT NUL-terminated; len may
 * be 0 for an empty line.  Return 0 to go on; any other value stops
 * mcphub_linebuf_feed, which returns it. */
typedef int (*mcphub_linebuf_line_fn)(const char *line, size_t len, void *user_data);

/* A line of len bytes (> max_line) was dropped.  Return as for on_line. */
typedef int (*mcphub_linebuf_drop_fn)(size_t len, void *user_data);

/* Caller-filled; copied by mcphub_linebuf_new.  0/NULL means the default. */
typedef struct mcphub_linebuf_opts {
    size_t size;                   /* sizeof(mcphub_linebuf_opts) */
    size_t max_line;               /* default 4 MiB */
    mcphub_linebuf_line_fn on_line;  /* required */
    mcphub_linebuf_drop_fn on_drop;  /* NULL: drop silently */
    void *user_data;               /* passed to the callbacks; borrowed */
} mcphub_linebuf_opts;

/* Create an empty framer.  Returns 0, MCPHUB_E_INVAL (no on_line, bad
 * size) or MCPHUB_E_NOMEM.  Caller frees with mcphub_linebuf_free. */
MCPHUB_API int mcphub_linebuf_new(mcphub_linebuf **out, const mcphub_linebuf_opts *opts,
                                  const mcphub_mem *mem);

/* Free; NULL is allowed.  A pending partial line is discarded. */
MCPHUB_API void mcphub_linebuf_free(mcphub_linebuf *lb);

/* Take len bytes (borrowed for the call) and deliver every line they
 * complete, in order.  The memory needed to keep a trailing partial line is
 * reserved before any callback runs, so MCPHUB_E_NOMEM means nothing was
 * consumed and no callback ran.  When a callback returns non-zero the feed
 * stops right after that line and returns the value; *consumed (may be
 * NULL) tells how many bytes were taken (all of them on success), so the
 * rest may be fed again later.  Callbacks must not call back into this
 * framer. */
MCPHUB_API int mcphub_linebuf_feed(mcphub_linebuf *lb, const void *data, size_t len,
                                   size_t *consumed);

/* End of input: deliver a pending unterminated line through on_line (or
 * report a pending over-long one through on_drop) and empty the framer.
 * Returns 0 or the callback's value. */
MCPHUB_API int mcphub_linebuf_finish(mcphub_linebuf *lb);

/* Forget any pending partial line without delivering it. */
MCPHUB_API void mcphub_linebuf_reset(mcphub_linebuf *lb);

/* Bytes of the current partial line, dropped bytes included. */
MCPHUB_API size_t mcphub_linebuf_pending(const mcphub_linebuf *lb);

#ifdef __cplusplus
}
#endif
#endif
