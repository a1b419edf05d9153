/* Fuzz target: the Server-Sent Events parser (sse.h).
 *
 * The first four bytes of the input seed the chunk sizes, the rest is the
 * stream.  It is parsed three times — in one piece, in random chunks taken
 * from the seed, and byte by byte — and all three must yield the same
 * events, the same result code, the same last event id and retry value
 * (the parser promises chunking makes no difference).  Each event is then
 * formatted with mcphub_sse_format and parsed again: the data, type and id
 * must come back (a CR or CRLF in data comes back as LF). */
#include <mcphub/sse.h>

#include "fuzz_util.h"

#define MAX_EVENT 2048

typedef struct rec {
    char *p;
    size_t len, cap;
    unsigned count;
    int stop_at;   /* return 7 from the callback on this event (1-based); 0: never */
} rec;

static void put(rec *r, const void *s, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        char *p;

        while (cap < r->len + n)
            cap *= 2;
        p = realloc(r->p, cap);
        FUZZ_CHECK(p != NULL);
        r->p = p;
        r->cap = cap;
    }
    memcpy(r->p + r->len, s, n);
    r->len += n;
}

static void put_field(rec *r, const char *s, size_t n)
{
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(s[n] == '\0');
    FUZZ_CHECK(strlen(s) <= n); /* NUL bytes may come inside */
    put(r, &n, sizeof n);
    put(r, s, n);
}

static int on_event(const mcphub_sse_event *ev, void *ud)
{
    rec *r = ud;

    put_field(r, ev->event, ev->event_len);
    put_field(r, ev->data, ev->data_len);
    put_field(r, ev->id, ev->id_len);
    put(r, &ev->retry_ms, sizeof ev->retry_ms);
    FUZZ_CHECK(ev->event_len > 0);
    FUZZ_CHECK(ev->retry_ms >= -1);
    r->count++;
    if (r->stop_at != 0 && r->count == (unsigned)r->stop_at)
        return 7;
    return 0;
}

typedef struct result {
    rec r;
    int rc;
    char *last_id;
    size_t last_id_len;
    int64_t retry;
} result;

/* Parse the stream in chunks: sizes from seed (0: one piece; ~0u: bytes). */
static void parse(result *out, const char *s, size_t n, uint32_t seed, int one_piece,
                  int stop_at)
{
    mcphub_sse_parser *p = NULL;
    size_t off = 0, idl = 0;
    const char *id;

    memset(out, 0, sizeof *out);
    out->r.stop_at = stop_at;
    FUZZ_CHECK(mcphub_sse_parser_new(&p, on_event, &out->r, MAX_EVENT, NULL) == 0);
    while (off < n) {
        size_t chunk;

        if (one_piece)
            chunk = n - off;
        else if (seed == 0)
            chunk = 1;
        else
            chunk = fuzz_rand(&seed) % 17;  /* 0-byte chunks too */
        if (chunk > n - off)
            chunk = n - off;
        out->rc = mcphub_sse_parser_feed(p, s + off, chunk);
        off += chunk;
        if (out->rc != 0)
            break;
    }
    if (out->rc != 0)  /* failures are sticky */
        FUZZ_CHECK(mcphub_sse_parser_feed(p, "\n\n", 2) == out->rc);
    id = mcphub_sse_parser_last_id(p, &idl);
    FUZZ_CHECK(id != NULL && strlen(id) <= idl && id[idl] == '\0');
    out->last_id = fuzz_strndup(id, idl);
    out->last_id_len = idl;
    out->retry = mcphub_sse_parser_retry(p);
    mcphub_sse_parser_free(p);
}

static void same(const result *a, const result *b)
{
    FUZZ_CHECK(a->rc == b->rc);
    FUZZ_CHECK(a->r.count == b->r.count);
    FUZZ_CHECK(a->r.len == b->r.len && (a->r.len == 0 || memcmp(a->r.p, b->r.p, a->r.len) == 0));
    if (a->rc == 0) {
        FUZZ_CHECK(a->last_id_len == b->last_id_len &&
                   memcmp(a->last_id, b->last_id, a->last_id_len) == 0);
        FUZZ_CHECK(a->retry == b->retry);
    }
}

static void done(result *r)
{
    free(r->r.p);
    free(r->last_id);
}

/* Format each recorded event and parse it back. */
static int reparse_event(const mcphub_sse_event *ev, void *ud)
{
    const mcphub_sse_event *want = ud;
    size_t i, j;

    FUZZ_CHECK(ev->event_len == want->event_len &&
               memcmp(ev->event, want->event, ev->event_len) == 0);
    FUZZ_CHECK(ev->id_len == want->id_len && memcmp(ev->id, want->id, ev->id_len) == 0);
    /* data: CR and CRLF come back as LF */
    for (i = 0, j = 0; i < want->data_len; i++, j++) {
        char c = want->data[i];
        if (c == '\r') {
            if (i + 1 < want->data_len && want->data[i + 1] == '\n')
                i++;
            c = '\n';
        }
        FUZZ_CHECK(j < ev->data_len && ev->data[j] == c);
    }
    FUZZ_CHECK(j == ev->data_len);
    return 0;
}

static void format_back(const rec *r)
{
    size_t off = 0;

    while (off < r->len) {
        mcphub_sse_event ev;
        const char *f[3];
        size_t l[3];
        int k;
        char *out = NULL;
        size_t out_len = 0;
        mcphub_sse_parser *p = NULL;

        for (k = 0; k < 3; k++) {
            memcpy(&l[k], r->p + off, sizeof l[k]);
            off += sizeof l[k];
            f[k] = r->p + off;
            off += l[k];
        }
        memcpy(&ev.retry_ms, r->p + off, sizeof ev.retry_ms);
        off += sizeof ev.retry_ms;
        /* a type or id with a NUL byte cannot be formatted: skip those */
        if (memchr(f[0], '\0', l[0]) || memchr(f[2], '\0', l[2]))
            continue;
        {
            char *type = fuzz_strndup(f[0], l[0]);
            char *id = fuzz_strndup(f[2], l[2]);
            int rc = mcphub_sse_format(type, id, f[1], l[1], &out, &out_len, NULL);

            FUZZ_CHECK(rc == 0); /* parsed fields never hold CR or LF */
            ev.event = type;
            ev.event_len = l[0];
            ev.data = f[1];
            ev.data_len = l[1];
            ev.id = id;
            ev.id_len = l[2];
            FUZZ_CHECK(mcphub_sse_parser_new(&p, reparse_event, &ev, 0, NULL) == 0);
            /* an event with data dispatches exactly once */
            FUZZ_CHECK(mcphub_sse_parser_feed(p, out, out_len) == 0);
            mcphub_sse_parser_free(p);
            free(out);
            free(type);
            free(id);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    result whole, chunked, bytes, stopped;
    uint32_t seed = 0;
    const char *s;
    size_t n;
    char *text = NULL;
    size_t text_len = 0;

    if (size >= 4)
        memcpy(&seed, data, 4);
    s = (const char *)data + (size >= 4 ? 4 : size);
    n = size - (size >= 4 ? 4 : size);

    parse(&whole, s, n, 0, 1, 0);
    parse(&chunked, s, n, seed | 1, 0, 0);
    parse(&bytes, s, n, 0, 0, 0);
    same(&whole, &chunked);
    same(&whole, &bytes);
    if (whole.rc == 0)
        format_back(&whole.r);
    /* a callback that stops the parser: its code, sticky, and no more events */
    if (whole.r.count > 0) {
        parse(&stopped, s, n, seed | 1, 0, 1);
        FUZZ_CHECK(stopped.rc == 7);
        FUZZ_CHECK(stopped.r.count == 1);
        done(&stopped);
    }
    done(&whole);
    done(&chunked);
    done(&bytes);

    /* the comment writer on the raw text */
    text = fuzz_strndup(s, n < 512 ? n : 512);
    if (text != NULL) {
        char *out = NULL;
        if (mcphub_sse_format_comment(text, &out, &text_len, NULL) == 0) {
            result c;
            parse(&c, out, text_len, 0, 1, 0);
            FUZZ_CHECK(c.rc == 0 && c.r.count == 0); /* comments dispatch nothing */
            done(&c);
            free(out);
        }
    }
    free(text);
    return 0;
}
