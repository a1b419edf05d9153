/* Incremental text/event-stream parser and event writer; see sse.h. */
#include <string.h>

#include "mcphub/sse.h"
#include "mem_int.h"

/* A growable byte buffer, always NUL-terminated once allocated. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

struct mcphub_sse_parser {
    mcphub__mem mem;
    mcphub_sse_event_fn on_event;
    void *user_data;
    size_t max;
    sbuf line;   /* a line split across chunks */
    sbuf data;   /* data lines, each followed by \n */
    sbuf event;  /* event type */
    sbuf id;     /* last event id: survives events, as the spec wants */
    int64_t retry;       /* last retry: value, or -1 */
    int64_t retry_event; /* retry: seen since the previous event, or -1 */
    int skip_lf;         /* the previous chunk ended in \r: a leading \n belongs to it */
    int bom;             /* BOM bytes matched at the start; 3 = past the start */
    int err;             /* sticky failure */
};

static const unsigned char bom_bytes[3] = {0xEF, 0xBB, 0xBF};

static int sbuf_put(const mcphub__mem *m, sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = mcphub__realloc(m, b->p, cap);
        if (p == NULL)
            return MCPHUB_E_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sbuf_set(const mcphub__mem *m, sbuf *b, const char *s, size_t n)
{
    b->len = 0;
    return sbuf_put(m, b, s, n);
}

MCPHUB_API int mcphub_sse_parser_new(mcphub_sse_parser **out, mcphub_sse_event_fn on_event,
                                     void *user_data, size_t max_event_bytes,
                                     const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_sse_parser *p;
    int rc;

    if (out == NULL || on_event == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    p = mcphub__calloc(&m, 1, sizeof *p);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    p->mem = m;
    p->on_event = on_event;
    p->user_data = user_data;
    p->max = max_event_bytes ? max_event_bytes : MCPHUB_SSE_DEFAULT_MAX_EVENT;
    p->retry = -1;
    p->retry_event = -1;
    *out = p;
    return 0;
}

MCPHUB_API void mcphub_sse_parser_free(mcphub_sse_parser *p)
{
    if (p == NULL)
        return;
    mcphub__free(&p->mem, p->line.p);
    mcphub__free(&p->mem, p->data.p);
    mcphub__free(&p->mem, p->event.p);
    mcphub__free(&p->mem, p->id.p);
    mcphub__free(&p->mem, p);
}

/* What the current event holds plus n more bytes must stay under max. */
static int fits(const mcphub_sse_parser *p, size_t n)
{
    size_t held = p->data.len + p->event.len + p->line.len;

    return held <= p->max && n <= p->max - held;
}

static int dispatch(mcphub_sse_parser *p)
{
    mcphub_sse_event ev;
    int rc;

    /* No data line: nothing to deliver (an id-only block just moved the id). */
    if (p->data.len == 0) {
        p->event.len = 0;
        return 0;
    }
    p->data.len--; /* the \n after the last line */
    p->data.p[p->data.len] = '\0';
    ev.event = p->event.len ? p->event.p : "message";
    ev.event_len = p->event.len ? p->event.len : 7;
    ev.data = p->data.p;
    ev.data_len = p->data.len;
    ev.id = p->id.len ? p->id.p : "";
    ev.id_len = p->id.len;
    ev.retry_ms = p->retry_event;
    rc = p->on_event(&ev, p->user_data);
    p->data.len = 0;
    p->event.len = 0;
    p->retry_event = -1;
    return rc;
}

static int field_is(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

/* One complete line without its end. */
static int process_line(mcphub_sse_parser *p, const char *l, size_t n)
{
    const char *colon, *v;
    size_t fn, vn;

    if (n == 0)
        return dispatch(p);
    if (l[0] == ':')
        return 0;
    colon = memchr(l, ':', n);
    if (colon != NULL) {
        fn = (size_t)(colon - l);
        v = colon + 1;
        vn = n - fn - 1;
        if (vn > 0 && *v == ' ') {
            v++;
            vn--;
        }
    } else {
        fn = n;
        v = l + n;
        vn = 0;
    }
    if (field_is(l, fn, "data")) {
        int rc = sbuf_put(&p->mem, &p->data, v, vn);

        return rc != 0 ? rc : sbuf_put(&p->mem, &p->data, "\n", 1);
    }
    if (field_is(l, fn, "event"))
        return sbuf_set(&p->mem, &p->event, v, vn);
    if (field_is(l, fn, "id")) {
        if (memchr(v, '\0', vn) != NULL)
            return 0; /* the spec ignores ids holding NUL */
        return sbuf_set(&p->mem, &p->id, v, vn);
    }
    if (field_is(l, fn, "retry")) {
        int64_t ms = 0;
        size_t i;

        if (vn == 0 || vn > 18)
            return 0;
        for (i = 0; i < vn; i++) {
            if (v[i] < '0' || v[i] > '9')
                return 0;
            ms = ms * 10 + (v[i] - '0');
        }
        p->retry = p->retry_event = ms;
    }
    return 0; /* unknown fields are ignored */
}

static int line_append(mcphub_sse_parser *p, const char *s, size_t n)
{
    if (!fits(p, n))
        return MCPHUB_E_TOOBIG;
    return sbuf_put(&p->mem, &p->line, s, n);
}

static int failed(mcphub_sse_parser *p, int rc)
{
    p->err = rc;
    return rc;
}

MCPHUB_API int mcphub_sse_parser_feed(mcphub_sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;
    int rc;

    if (p == NULL || (buf == NULL && len > 0))
        return MCPHUB_E_INVAL;
    if (p->err != 0)
        return p->err;
    /* A BOM may arrive a byte at a time; a partial match was content. */
    while (p->bom < 3 && i < len) {
        if ((unsigned char)buf[i] == bom_bytes[p->bom]) {
            p->bom++;
            i++;
            continue;
        }
        rc = p->bom > 0 ? line_append(p, (const char *)bom_bytes, (size_t)p->bom) : 0;
        p->bom = 3;
        if (rc != 0)
            return failed(p, rc);
    }
    while (i < len) {
        const char *s = buf + i;
        size_t n = len - i, j;

        if (p->skip_lf) {
            p->skip_lf = 0;
            if (*s == '\n') {
                i++;
                continue;
            }
        }
        for (j = 0; j < n && s[j] != '\n' && s[j] != '\r'; j++)
            ;
        if (j == n) {
            rc = line_append(p, s, n);
            if (rc != 0)
                return failed(p, rc);
            break;
        }
        if (p->line.len == 0) {
            /* The whole line is in this chunk: no copy. */
            rc = fits(p, j) ? process_line(p, s, j) : MCPHUB_E_TOOBIG;
        } else {
            rc = line_append(p, s, j);
            if (rc == 0)
                rc = process_line(p, p->line.p, p->line.len);
            p->line.len = 0;
        }
        if (rc != 0)
            return failed(p, rc);
        if (s[j] == '\r')
            p->skip_lf = 1;
        i += j + 1;
    }
    return 0;
}

MCPHUB_API const char *mcphub_sse_parser_last_id(const mcphub_sse_parser *p, size_t *len)
{
    if (len != NULL)
        *len = p != NULL ? p->id.len : 0;
    return p != NULL && p->id.len > 0 ? p->id.p : "";
}

MCPHUB_API int64_t mcphub_sse_parser_retry(const mcphub_sse_parser *p)
{
    return p != NULL ? p->retry : -1;
}

/* ---- writer ----------------------------------------------------------- */

/* Write "<name>:[ <line>]\n" for each line of s[0..n) at dst + at (dst NULL:
 * measure only); returns the new length. */
static size_t put_lines(char *dst, size_t at, const char *name, const char *s, size_t n)
{
    size_t nl = strlen(name), start = 0, i = 0;

    for (;;) {
        if (i == n || s[i] == '\n' || s[i] == '\r') {
            size_t ll = i - start;

            if (dst != NULL) {
                memcpy(dst + at, name, nl);
                dst[at + nl] = ':';
            }
            at += nl + 1;
            if (ll > 0) {
                if (dst != NULL) {
                    dst[at] = ' ';
                    memcpy(dst + at + 1, s + start, ll);
                }
                at += ll + 1;
            }
            if (dst != NULL)
                dst[at] = '\n';
            at++;
            if (i == n)
                return at;
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            start = ++i;
            continue;
        }
        i++;
    }
}

static size_t put_str(char *dst, size_t at, const char *s, size_t n)
{
    if (dst != NULL)
        memcpy(dst + at, s, n);
    return at + n;
}

static size_t put_event(char *dst, const char *event, const char *id, const char *data,
                        size_t len)
{
    size_t at = 0;

    if (event != NULL && *event != '\0') {
        at = put_str(dst, at, "event: ", 7);
        at = put_str(dst, at, event, strlen(event));
        at = put_str(dst, at, "\n", 1);
    }
    if (id != NULL) {
        at = put_str(dst, at, "id: ", 4);
        at = put_str(dst, at, id, strlen(id));
        at = put_str(dst, at, "\n", 1);
    }
    if (data != NULL)
        at = put_lines(dst, at, "data", data, len);
    return put_str(dst, at, "\n", 1);
}

static int one_line(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

static int finish(char *buf, size_t n, char **out, size_t *out_len)
{
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

MCPHUB_API int mcphub_sse_format(const char *event, const char *id, const char *data, size_t len,
                                 char **out, size_t *out_len, const mcphub_mem *mem)
{
    mcphub__mem m;
    size_t n;
    char *buf;
    int rc;

    if (out == NULL || out_len == NULL || (data == NULL && len > 0) || !one_line(event) ||
        !one_line(id))
        return MCPHUB_E_INVAL;
    if ((event == NULL || *event == '\0') && id == NULL && data == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    n = put_event(NULL, event, id, data, len);
    if (n < len) /* size_t wrapped: cannot be allocated anyway */
        return MCPHUB_E_NOMEM;
    buf = mcphub__malloc(&m, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    put_event(buf, event, id, data, len);
    return finish(buf, n, out, out_len);
}

MCPHUB_API int mcphub_sse_format_comment(const char *text, char **out, size_t *out_len,
                                         const mcphub_mem *mem)
{
    mcphub__mem m;
    size_t n, tl = text != NULL ? strlen(text) : 0;
    char *buf;
    int rc;

    if (out == NULL || out_len == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    n = put_lines(NULL, 0, "", text != NULL ? text : "", tl) + 1;
    buf = mcphub__malloc(&m, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    put_lines(buf, 0, "", text != NULL ? text : "", tl);
    buf[n - 1] = '\n';
    return finish(buf, n, out, out_len);
}
