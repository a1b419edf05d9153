/* Line framer; see linebuf.h.
 *
 * Lines that arrive whole inside one fed piece are delivered straight from
 * the caller's bytes; only a line split across pieces is copied into buf. */
#include <string.h>

#include "mcphub/linebuf.h"
#include "mem_int.h"

#define DEFAULT_MAX_LINE ((size_t)4 << 20)
#define MIN_CAP ((size_t)256)
/* An idle buffer bigger than this is given back, so that one huge message
 * does not pin megabytes for the life of the framer. */
#define KEEP_CAP ((size_t)64 << 10)

struct mcphub_linebuf {
    mcphub__mem mem;
    size_t max_line;
    mcphub_linebuf_line_fn on_line;
    mcphub_linebuf_drop_fn on_drop;
    void *user_data;
    char *buf;        /* the partial line, len bytes, cap <= max_line */
    size_t len;
    size_t cap;
    int dropping;     /* inside an over-long line: discard up to "\n" */
    size_t dropped;   /* its length so far */
};

MCPHUB_API int mcphub_linebuf_new(mcphub_linebuf **out, const mcphub_linebuf_opts *opts,
                                  const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_linebuf *lb;
    size_t max_line;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    if (MCPHUB__GET(opts, mcphub_linebuf_opts, on_line, NULL) == NULL)
        return MCPHUB_E_INVAL;
    max_line = MCPHUB__GET(opts, mcphub_linebuf_opts, max_line, 0);
    lb = mcphub__calloc(&m, 1, sizeof *lb);
    if (lb == NULL)
        return MCPHUB_E_NOMEM;
    lb->mem = m;
    lb->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
    lb->on_line = opts->on_line;
    lb->on_drop = MCPHUB__GET(opts, mcphub_linebuf_opts, on_drop, NULL);
    lb->user_data = MCPHUB__GET(opts, mcphub_linebuf_opts, user_data, NULL);
    *out = lb;
    return 0;
}

MCPHUB_API void mcphub_linebuf_free(mcphub_linebuf *lb)
{
    if (lb == NULL)
        return;
    mcphub__free(&lb->mem, lb->buf);
    mcphub__free(&lb->mem, lb);
}

/* Make buf hold need bytes (need <= max_line).  Only called while buf holds
 * nothing that may be lost, or grows it keeping the content. */
static int reserve(mcphub_linebuf *lb, size_t need)
{
    size_t cap;
    char *p;

    if (lb->len == 0 && lb->cap > KEEP_CAP && need <= KEEP_CAP) {
        mcphub__free(&lb->mem, lb->buf);
        lb->buf = NULL;
        lb->cap = 0;
    }
    if (need <= lb->cap)
        return 0;
    cap = lb->cap < MIN_CAP ? MIN_CAP : lb->cap;
    while (cap < need)
        cap = cap > lb->max_line / 2 ? lb->max_line : cap * 2;
    if (cap > lb->max_line)
        cap = lb->max_line;
    p = mcphub__realloc(&lb->mem, lb->buf, cap);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    lb->buf = p;
    lb->cap = cap;
    return 0;
}

/* How much buffer this piece needs: the first line if it completes a
 * buffered partial one, and the trailing partial line. */
static size_t needed(const mcphub_linebuf *lb, const char *d, size_t n)
{
    const char *first = memchr(d, '\n', n);
    size_t need = 0, tail = 0;

    if (first == NULL) {
        if (!lb->dropping && lb->len + n <= lb->max_line)
            need = lb->len + n;
        return need;
    }
    if (!lb->dropping && lb->len > 0 && lb->len + (size_t)(first - d) <= lb->max_line)
        need = lb->len + (size_t)(first - d);
    while (d[n - 1 - tail] != '\n')
        tail++;
    if (tail <= lb->max_line && tail > need)
        need = tail;
    return need;
}

static int deliver(mcphub_linebuf *lb, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return lb->on_line(line, len, lb->user_data);
}

static int drop(mcphub_linebuf *lb, size_t len)
{
    return lb->on_drop != NULL ? lb->on_drop(len, lb->user_data) : 0;
}

MCPHUB_API int mcphub_linebuf_feed(mcphub_linebuf *lb, const void *data, size_t len,
                                   size_t *consumed)
{
    const char *d = data;
    size_t off = 0;
    int rc = 0;

    if (consumed != NULL)
        *consumed = 0;
    if (len == 0)
        return 0;
    if (lb == NULL || data == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = reserve(lb, needed(lb, d, len))) != 0)
        return rc;
    while (off < len && rc == 0) {
        const char *nl = memchr(d + off, '\n', len - off);
        size_t seg = nl != NULL ? (size_t)(nl - (d + off)) : len - off;

        if (nl == NULL) {            /* a partial line: keep or discard it */
            if (lb->dropping) {
                lb->dropped += seg;
            } else if (lb->len + seg > lb->max_line) {
                lb->dropping = 1;
                lb->dropped = lb->len + seg;
                lb->len = 0;
            } else {
                memcpy(lb->buf + lb->len, d + off, seg);
                lb->len += seg;
            }
            off = len;
        } else if (lb->dropping || lb->len + seg > lb->max_line) {
            size_t total = (lb->dropping ? lb->dropped : lb->len) + seg;

            lb->dropping = 0;
            lb->dropped = 0;
            lb->len = 0;
            off += seg + 1;
            rc = drop(lb, total);
        } else if (lb->len == 0) {   /* whole line inside this piece */
            off += seg + 1;
            rc = deliver(lb, d + off - seg - 1, seg);
        } else {                     /* completes a buffered partial line */
            size_t total = lb->len + seg;

            memcpy(lb->buf + lb->len, d + off, seg);
            lb->len = 0;
            off += seg + 1;
            rc = deliver(lb, lb->buf, total);
        }
    }
    if (consumed != NULL)
        *consumed = off;
    return rc;
}

MCPHUB_API int mcphub_linebuf_finish(mcphub_linebuf *lb)
{
    size_t n;

    if (lb == NULL)
        return MCPHUB_E_INVAL;
    if (lb->dropping) {
        n = lb->dropped;
        lb->dropping = 0;
        lb->dropped = 0;
        return drop(lb, n);
    }
    if (lb->len == 0)
        return 0;
    n = lb->len;
    lb->len = 0;
    return deliver(lb, lb->buf, n);
}

MCPHUB_API void mcphub_linebuf_reset(mcphub_linebuf *lb)
{
    lb->len = 0;
    lb->dropping = 0;
    lb->dropped = 0;
}

MCPHUB_API size_t mcphub_linebuf_pending(const mcphub_linebuf *lb)
{
    return lb->dropping ? lb->dropped : lb->len;
}
