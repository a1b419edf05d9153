/* JSON-RPC 2.0 classification by one strict, allocation-free scan of the
 * text, plus compact rewriting and error/result builders; see jsonrpc.h.
 *
 * Why not jansson here: a parse/dump round trip reformats numbers (0.1
 * comes back as 0.10000000000000001), loses duplicate members silently and
 * allocates through a process-global allocator.  The multiplexer only has to
 * swap a few values, so it rewrites the text itself and leaves everything
 * else byte for byte. */
#include <stdio.h>
#include <string.h>

#include "jsonrpc_int.h"
#include "mem_int.h"

/* ---- scanner ---------------------------------------------------------- */

/* What an object means to us, so that its members land in the right slot. */
enum role { ROLE_NONE, ROLE_TOP, ROLE_PARAMS, ROLE_META, ROLE_ERROR };

/* Values of the members we care about, raw. */
typedef struct fields {
    mcphub_jsonrpc_span jsonrpc, id, method, params, result, error;
    mcphub_jsonrpc_span p_token, p_reqid, p_meta, m_token;
    mcphub_jsonrpc_span e_code, e_message, e_data;
    int dup;
} fields;

typedef struct scan {
    const char *p, *end;
    int depth;
    int ws;         /* saw whitespace outside strings */
    int err;        /* first MCPHUB_E_* met, or 0 */
    const char *why;
    fields *f;      /* NULL: validate only */
    size_t top_count; /* elements of the top-level array */
} scan;

static int fail(scan *s, int err, const char *why)
{
    if (s->err == 0) {
        s->err = err;
        s->why = why;
    }
    return -1;
}

static void skip_ws(scan *s)
{
    const char *p = s->p;

    while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    if (p != s->p)
        s->ws = 1;
    s->p = p;
}

/* Length of the UTF-8 sequence at p (first byte >= 0x80), 0 if invalid:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n, i;
    unsigned lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s->p is on the opening quote; leaves s->p after the closing one. */
static int scan_string(scan *s, int *escaped)
{
    const unsigned char *p = (const unsigned char *)s->p + 1;
    const unsigned char *end = (const unsigned char *)s->end;
    int i;

    *escaped = 0;
    for (;;) {
        unsigned c;

        if (p >= end)
            return fail(s, MCPHUB_E_PARSE, "unterminated string");
        c = *p;
        if (c == '"') {
            s->p = (const char *)p + 1;
            return 0;
        }
        if (c == '\\') {
            *escaped = 1;
            if (end - p < 2)
                return fail(s, MCPHUB_E_PARSE, "unterminated string");
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                break;
            case 'u':
                if (end - p < 6)
                    return fail(s, MCPHUB_E_PARSE, "unterminated string");
                for (i = 2; i < 6; i++)
                    if (hexval((char)p[i]) < 0)
                        return fail(s, MCPHUB_E_PARSE, "bad \\u escape");
                p += 6;
                break;
            default:
                return fail(s, MCPHUB_E_PARSE, "bad escape in string");
            }
        } else if (c < 0x20) {
            return fail(s, MCPHUB_E_PARSE, "control character in string");
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_seq(p, end);

            if (n == 0)
                return fail(s, MCPHUB_E_PARSE, "invalid UTF-8");
            p += n;
        }
    }
}

static int is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static int scan_number(scan *s)
{
    const char *p = s->p, *end = s->end;

    if (*p == '-')
        p++;
    if (!is_digit(p, end))
        return fail(s, MCPHUB_E_PARSE, "bad number");
    if (*p == '0')
        p++;
    else
        while (is_digit(p, end))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end))
            return fail(s, MCPHUB_E_PARSE, "bad number");
        while (is_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return fail(s, MCPHUB_E_PARSE, "bad number");
        while (is_digit(p, end))
            p++;
    }
    s->p = p;
    return 0;
}

static int scan_literal(scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, MCPHUB_E_PARSE, "unexpected character");
    s->p += n;
    return 0;
}

/* Decode a string token (with quotes) into dst; returns the length, or
 * (size_t)-1 when it does not fit in cap - 1 bytes or holds a NUL.  The
 * token was checked by scan_string. */
static size_t decode_string(const char *tok, size_t tok_len, char *dst, size_t cap)
{
    const char *p = tok + 1, *end = tok + tok_len - 1;
    size_t n = 0;

    while (p < end) {
        unsigned long cp;
        unsigned char enc[4];
        size_t k, i;

        if (*p != '\\') {
            if (n + 1 >= cap)
                return (size_t)-1;
            dst[n++] = *p++;
            continue;
        }
        switch (p[1]) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = 0;
            for (i = 2; i < 6; i++)
                cp = cp * 16 + (unsigned long)hexval(p[i]);
            /* a surrogate pair makes one code point; a lone half becomes U+FFFD */
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
                unsigned long lo = 0;

                for (i = 8; i < 12; i++)
                    lo = lo * 16 + (unsigned long)hexval(p[i]);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            break;
        default: cp = (unsigned char)p[1]; break;
        }
        p += p[1] == 'u' ? 6 : 2;
        if (cp == 0)
            return (size_t)-1;
        if (cp < 0x80) {
            enc[0] = (unsigned char)cp;
            k = 1;
        } else if (cp < 0x800) {
            enc[0] = (unsigned char)(0xC0 | (cp >> 6));
            enc[1] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 2;
        } else if (cp < 0x10000) {
            enc[0] = (unsigned char)(0xE0 | (cp >> 12));
            enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            enc[2] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 3;
        } else {
            enc[0] = (unsigned char)(0xF0 | (cp >> 18));
            enc[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            enc[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            enc[3] = (unsigned char)(0x80 | (cp & 0x3F));
            k = 4;
        }
        if (n + k >= cap)
            return (size_t)-1;
        memcpy(dst + n, enc, k);
        n += k;
    }
    dst[n] = '\0';
    return n;
}

/* Is the key token (with quotes) the member name `name`?  Escaped keys are
 * decoded first: "\u0069d" is "id" to every other parser, so it is to us. */
static int key_is(const char *tok, size_t tok_len, int escaped, const char *name)
{
    size_t n = strlen(name);
    char buf[32];

    if (!escaped)
        return tok_len == n + 2 && memcmp(tok + 1, name, n) == 0;
    return decode_string(tok, tok_len, buf, sizeof buf) == n && memcmp(buf, name, n) == 0;
}

/* Which slot a member of an object with role `role` fills, and the role of
 * its value. */
static mcphub_jsonrpc_span *member_slot(fields *f, enum role role, const char *tok, size_t len,
                                        int esc, enum role *child)
{
    *child = ROLE_NONE;
    if (f == NULL)
        return NULL;
    switch (role) {
    case ROLE_TOP:
        if (key_is(tok, len, esc, "jsonrpc"))
            return &f->jsonrpc;
        if (key_is(tok, len, esc, "id"))
            return &f->id;
        if (key_is(tok, len, esc, "method"))
            return &f->method;
        if (key_is(tok, len, esc, "params")) {
            *child = ROLE_PARAMS;
            return &f->params;
        }
        if (key_is(tok, len, esc, "result"))
            return &f->result;
        if (key_is(tok, len, esc, "error")) {
            *child = ROLE_ERROR;
            return &f->error;
        }
        return NULL;
    case ROLE_PARAMS:
        if (key_is(tok, len, esc, "_meta")) {
            *child = ROLE_META;
            return &f->p_meta;
        }
        if (key_is(tok, len, esc, "progressToken"))
            return &f->p_token;
        if (key_is(tok, len, esc, "requestId"))
            return &f->p_reqid;
        return NULL;
    case ROLE_META:
        return key_is(tok, len, esc, "progressToken") ? &f->m_token : NULL;
    case ROLE_ERROR:
        if (key_is(tok, len, esc, "code"))
            return &f->e_code;
        if (key_is(tok, len, esc, "message"))
            return &f->e_message;
        if (key_is(tok, len, esc, "data"))
            return &f->e_data;
        return NULL;
    default:
        return NULL;
    }
}

static int scan_value(scan *s, enum role role, mcphub_jsonrpc_span *out);

static int scan_object(scan *s, enum role role)
{
    if (++s->depth > MCPHUB_JSONRPC_MAX_DEPTH)
        return fail(s, MCPHUB_E_TOOBIG, "nested deeper than 64 levels");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        const char *key;
        mcphub_jsonrpc_span *slot, val;
        enum role child;
        int esc;

        skip_ws(s);
        if (s->p >= s->end || *s->p != '"')
            return fail(s, MCPHUB_E_PARSE, "expected a member name");
        key = s->p;
        if (scan_string(s, &esc) != 0)
            return -1;
        slot = member_slot(s->f, role, key, (size_t)(s->p - key), esc, &child);
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return fail(s, MCPHUB_E_PARSE, "expected ':'");
        s->p++;
        if (slot != NULL && slot->ptr != NULL)
            s->f->dup = 1;
        if (scan_value(s, child, &val) != 0)
            return -1;
        if (slot != NULL)
            *slot = val;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        return fail(s, MCPHUB_E_PARSE, "expected ',' or '}'");
    }
    s->depth--;
    return 0;
}

static int scan_array(scan *s)
{
    int top = s->depth == 0;

    if (++s->depth > MCPHUB_JSONRPC_MAX_DEPTH)
        return fail(s, MCPHUB_E_TOOBIG, "nested deeper than 64 levels");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (scan_value(s, ROLE_NONE, NULL) != 0)
            return -1;
        if (top)
            s->top_count++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        return fail(s, MCPHUB_E_PARSE, "expected ',' or ']'");
    }
    s->depth--;
    return 0;
}

/* One value, whitespace before it skipped; *out (may be NULL) gets its raw
 * text.  Object members are recorded according to role. */
static int scan_value(scan *s, enum role role, mcphub_jsonrpc_span *out)
{
    const char *start;
    int rc, esc;

    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, MCPHUB_E_PARSE, "unexpected end of message");
    start = s->p;
    switch (*s->p) {
    case '{': rc = scan_object(s, role); break;
    case '[': rc = scan_array(s); break;
    case '"': rc = scan_string(s, &esc); break;
    case 't': rc = scan_literal(s, "true", 4); break;
    case 'f': rc = scan_literal(s, "false", 5); break;
    case 'n': rc = scan_literal(s, "null", 4); break;
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            rc = scan_number(s);
        else
            rc = fail(s, MCPHUB_E_PARSE, "unexpected character");
        break;
    }
    if (rc == 0 && out != NULL) {
        out->ptr = start;
        out->len = (size_t)(s->p - start);
    }
    return rc;
}

/* Scan exactly one value filling the whole text (whitespace around it
 * allowed); records into f when given. */
static int scan_text(scan *s, const char *text, size_t len, fields *f, enum role role,
                     mcphub_jsonrpc_span *out)
{
    memset(s, 0, sizeof *s);
    s->p = text;
    s->end = text + len;
    s->f = f;
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, MCPHUB_E_PARSE, "empty message");
    if (scan_value(s, role, out) != 0)
        return -1;
    skip_ws(s);
    if (s->p != s->end)
        return fail(s, MCPHUB_E_PARSE, "trailing bytes after the message");
    return 0;
}

/* ---- classification --------------------------------------------------- */

enum vtype { V_NONE, V_STRING, V_INT, V_NUMBER, V_OBJECT, V_ARRAY, V_BOOL, V_NULL };

static enum vtype vtype(mcphub_jsonrpc_span v)
{
    size_t i;

    if (v.ptr == NULL)
        return V_NONE;
    switch (v.ptr[0]) {
    case '"': return V_STRING;
    case '{': return V_OBJECT;
    case '[': return V_ARRAY;
    case 't': case 'f': return V_BOOL;
    case 'n': return V_NULL;
    default:
        for (i = 0; i < v.len; i++)
            if (v.ptr[i] == '.' || v.ptr[i] == 'e' || v.ptr[i] == 'E')
                return V_NUMBER;
        return V_INT;
    }
}

static int parse_int64(mcphub_jsonrpc_span v, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t acc = 0, limit;

    if (v.len > 0 && v.ptr[0] == '-') {
        neg = 1;
        i = 1;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < v.len; i++) {
        unsigned d = (unsigned)(v.ptr[i] - '0');

        if (acc > (limit - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return 0;
}

static int invalid(mcphub_jsonrpc_msg *out, int err, int reply, const char *why)
{
    out->kind = MCPHUB_JSONRPC_INVALID;
    out->method[0] = '\0';
    out->error_reply = reply;
    out->reason = why;
    return err;
}

static int span_is(mcphub_jsonrpc_span v, const char *text)
{
    size_t n = strlen(text);

    return v.ptr != NULL && v.len == n && memcmp(v.ptr, text, n) == 0;
}

/* The JSON-RPC rules on top of well-formed JSON. */
static int classify_object(mcphub_jsonrpc_msg *out, const fields *f)
{
    enum vtype idt = vtype(f->id);

    if (idt == V_STRING || idt == V_INT || idt == V_NULL)
        out->id = f->id;
    if (f->dup)
        return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST, "repeated member");
    if (!span_is(f->jsonrpc, "\"2.0\""))
        return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                       "missing or wrong \"jsonrpc\":\"2.0\"");
    if (idt != V_NONE && idt != V_STRING && idt != V_INT && idt != V_NULL)
        return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                       "id must be a string or an integer");
    if (f->method.ptr != NULL) {
        if (vtype(f->method) != V_STRING)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "method must be a string");
        if (f->result.ptr != NULL || f->error.ptr != NULL)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "method together with result or error");
        if (f->params.ptr != NULL && vtype(f->params) != V_OBJECT &&
            vtype(f->params) != V_ARRAY)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_PARAMS,
                           "params must be an object or an array");
        if (idt == V_NULL)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "request id must not be null");
        if (decode_string(f->method.ptr, f->method.len, out->method, sizeof out->method) ==
            (size_t)-1)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "method name too long or holds a NUL");
        out->params = f->params;
        if (idt != V_NONE) {
            out->kind = MCPHUB_JSONRPC_REQUEST;
            out->progress_token = f->m_token;
        } else {
            out->kind = MCPHUB_JSONRPC_NOTIFICATION;
            if (strcmp(out->method, "notifications/progress") == 0)
                out->progress_token = f->p_token;
            else if (strcmp(out->method, "notifications/cancelled") == 0)
                out->request_id = f->p_reqid;
        }
        return 0;
    }
    if (f->result.ptr != NULL) {
        if (f->error.ptr != NULL)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "both result and error");
        if (idt == V_NONE || idt == V_NULL)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "result without an id");
        out->kind = MCPHUB_JSONRPC_RESPONSE;
        out->result = f->result;
        return 0;
    }
    if (f->error.ptr != NULL) {
        if (vtype(f->error) != V_OBJECT || vtype(f->e_code) != V_INT ||
            parse_int64(f->e_code, &out->error_code) != 0)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "error needs an integer code");
        if (vtype(f->e_message) != V_STRING)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                           "error needs a string message");
        /* The id may be null or, since 2025-11-25, absent when unreadable. */
        out->kind = MCPHUB_JSONRPC_ERROR;
        out->error_message = f->e_message;
        out->error_data = f->e_data;
        return 0;
    }
    return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                   "neither method nor result nor error");
}

MCPHUB_API int mcphub_jsonrpc_classify(mcphub_jsonrpc_msg *out, const char *json, size_t len,
                                       size_t max_bytes)
{
    scan s;
    fields f;
    const char *p;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    memset(out, 0, sizeof *out);
    if (json == NULL)
        return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST, "no message");
    if (max_bytes != 0 && len > max_bytes)
        return invalid(out, MCPHUB_E_TOOBIG, MCPHUB_JSONRPC_INVALID_REQUEST,
                       "message over the size limit");
    memset(&f, 0, sizeof f);
    for (p = json; p < json + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r');)
        p++;
    if (scan_text(&s, json, len, &f, ROLE_TOP, NULL) != 0) {
        /* A well-formed id still helps the error reply. */
        if (s.err != MCPHUB_E_PARSE && (vtype(f.id) == V_STRING || vtype(f.id) == V_INT))
            out->id = f.id;
        return invalid(out, s.err,
                       s.err == MCPHUB_E_PARSE ? MCPHUB_JSONRPC_PARSE_ERROR
                                               : MCPHUB_JSONRPC_INVALID_REQUEST,
                       s.why);
    }
    out->compact = !s.ws;
    if (*p == '[') {
        if (s.top_count == 0)
            return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST, "empty batch");
        out->kind = MCPHUB_JSONRPC_BATCH;
        out->batch_len = s.top_count;
        return 0;
    }
    if (*p != '{')
        return invalid(out, MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID_REQUEST,
                       "not an object or an array");
    return classify_object(out, &f);
}

MCPHUB_API int mcphub_jsonrpc_batch_next(const char *json, size_t len, size_t *pos,
                                         mcphub_jsonrpc_span *item)
{
    scan s;

    if (json == NULL || pos == NULL || item == NULL)
        return MCPHUB_E_INVAL;
    if (*pos > len)
        return MCPHUB_E_INVAL;
    memset(&s, 0, sizeof s);
    s.p = json + *pos;
    s.end = json + len;
    s.depth = 1;
    skip_ws(&s);
    if (*pos == 0) {
        if (s.p >= s.end || *s.p != '[')
            return MCPHUB_E_PARSE;
        s.p++;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ']') {
            *pos = len;
            return 0;
        }
    } else {
        if (s.p < s.end && *s.p == ']') {
            *pos = len;
            return 0;
        }
        if (*pos == len && s.p == s.end)
            return 0;
        if (s.p >= s.end || *s.p != ',')
            return MCPHUB_E_PARSE;
        s.p++;
    }
    if (scan_value(&s, ROLE_NONE, item) != 0)
        return s.err;
    *pos = (size_t)(s.p - json);
    return 1;
}

/* ---- rewriting -------------------------------------------------------- */

/* Copy [p, end) without whitespace outside strings; p is outside a string. */
static size_t copy_compact(char *buf, size_t cap, size_t n, const char *p, const char *end)
{
    while (p < end) {
        char c = *p;

        if (c == '"') {
            const char *q = p + 1;

            while (q < end && *q != '"') {
                if (*q == '\\' && q + 1 < end)
                    q++;
                q++;
            }
            if (q < end)
                q++;
            if (n + (size_t)(q - p) <= cap)
                memcpy(buf + n, p, (size_t)(q - p));
            n += (size_t)(q - p);
            p = q;
            continue;
        }
        p++;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (n < cap)
            buf[n] = c;
        n++;
    }
    return n;
}

MCPHUB_API size_t mcphub_jsonrpc_rewrite(char *buf, size_t cap, const char *json, size_t len,
                                         const mcphub_jsonrpc_edit *edits, size_t n)
{
    const char *p = json, *end = json + len;
    size_t i, out = 0;

    if (json == NULL || (n > 0 && edits == NULL))
        return 0;
    if (buf == NULL)
        cap = 0;
    for (i = 0; i < n; i++) {
        const mcphub_jsonrpc_edit *e = &edits[i];

        if (e->at.ptr < p || e->at.ptr > end || e->at.len > (size_t)(end - e->at.ptr) ||
            (e->with == NULL && e->with_len > 0))
            return 0;
        p = e->at.ptr + e->at.len;
    }
    p = json;
    for (i = 0; i < n; i++) {
        const mcphub_jsonrpc_edit *e = &edits[i];

        out = copy_compact(buf, cap, out, p, e->at.ptr);
        if (out + e->with_len <= cap && e->with_len > 0)
            memcpy(buf + out, e->with, e->with_len);
        out += e->with_len;
        p = e->at.ptr + e->at.len;
    }
    return copy_compact(buf, cap, out, p, end);
}

/* ---- builders --------------------------------------------------------- */

size_t mcphub__json_quote(char *dst, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t out = 0;

#define PUT(c) do { if (dst != NULL) dst[out] = (char)(c); out++; } while (0)
    PUT('"');
    while (p < end) {
        unsigned c = *p;

        if (c >= 0x80) {
            size_t k = utf8_seq(p, end), i;

            if (k == 0)
                return (size_t)-1;
            for (i = 0; i < k; i++)
                PUT(p[i]);
            p += k;
            continue;
        }
        p++;
        switch (c) {
        case '"': PUT('\\'); PUT('"'); break;
        case '\\': PUT('\\'); PUT('\\'); break;
        case '\n': PUT('\\'); PUT('n'); break;
        case '\r': PUT('\\'); PUT('r'); break;
        case '\t': PUT('\\'); PUT('t'); break;
        case '\b': PUT('\\'); PUT('b'); break;
        case '\f': PUT('\\'); PUT('f'); break;
        default:
            if (c < 0x20) {
                PUT('\\'); PUT('u'); PUT('0'); PUT('0');
                PUT(hex[c >> 4]); PUT(hex[c & 15]);
            } else
                PUT(c);
        }
    }
    PUT('"');
#undef PUT
    return out;
}

int mcphub__json_check(const char *text, size_t len)
{
    scan s;

    if (text == NULL)
        return MCPHUB_E_PARSE;
    return scan_text(&s, text, len, NULL, ROLE_NONE, NULL) == 0 ? 0 : s.err;
}

int mcphub__jsonrpc_is_id(const char *text, size_t len, int allow_null)
{
    scan s;
    mcphub_jsonrpc_span v;
    enum vtype t;

    if (text == NULL)
        return 0;
    if (scan_text(&s, text, len, NULL, ROLE_NONE, &v) != 0 || s.ws)
        return 0;
    t = vtype(v);
    return t == V_STRING || t == V_INT || (allow_null && t == V_NULL);
}

/* Append n bytes at *out if they fit. */
static void put(char *buf, size_t cap, size_t *out, const char *s, size_t n)
{
    if (*out + n < cap)
        memcpy(buf + *out, s, n);
    *out += n;
}

size_t mcphub__jsonrpc_error_format(char *buf, size_t cap, const char *id_json, size_t id_len,
                                    int code, const char *message)
{
    char num[24];
    size_t out = 0, qlen;
    int nlen;

    if (buf == NULL)
        cap = 0;
    if (id_json == NULL) {
        id_json = "null";
        id_len = 4;
    }
    if (!mcphub__jsonrpc_is_id(id_json, id_len, 1))
        return (size_t)-1;
    if (message == NULL)
        message = mcphub_jsonrpc_error_text(code);
    qlen = mcphub__json_quote(NULL, message, strlen(message));
    if (qlen == (size_t)-1)
        return (size_t)-1;
    nlen = snprintf(num, sizeof num, "%d", code);
    put(buf, cap, &out, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
    put(buf, cap, &out, id_json, id_len);
    put(buf, cap, &out, ",\"error\":{\"code\":", 17);
    put(buf, cap, &out, num, (size_t)nlen);
    put(buf, cap, &out, ",\"message\":", 11);
    if (out + qlen < cap)
        mcphub__json_quote(buf + out, message, strlen(message));
    out += qlen;
    put(buf, cap, &out, "}}", 2);
    if (out < cap)
        buf[out] = '\0';
    return out;
}

MCPHUB_API int mcphub_jsonrpc_error_response(char **out, size_t *out_len, const char *id_json,
                                             size_t id_len, int code, const char *message,
                                             const mcphub_mem *mem)
{
    mcphub__mem m;
    size_t n;
    char *buf;
    int rc;

    if (out == NULL || out_len == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    n = mcphub__jsonrpc_error_format(NULL, 0, id_json, id_len, code, message);
    if (n == (size_t)-1)
        return MCPHUB_E_INVAL;
    buf = mcphub__malloc(&m, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    mcphub__jsonrpc_error_format(buf, n + 1, id_json, id_len, code, message);
    *out = buf;
    *out_len = n;
    return 0;
}

MCPHUB_API int mcphub_jsonrpc_result_response(char **out, size_t *out_len, const char *id_json,
                                              size_t id_len, const char *result_json,
                                              size_t result_len, const mcphub_mem *mem)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    static const char mid[] = ",\"result\":";
    mcphub__mem m;
    size_t n, body, hl = sizeof head - 1, ml = sizeof mid - 1;
    char *buf;
    int rc;

    if (out == NULL || out_len == NULL || id_json == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    if (!mcphub__jsonrpc_is_id(id_json, id_len, 0))
        return MCPHUB_E_INVAL;
    if (result_json == NULL) {
        result_json = "{}";
        result_len = 2;
    }
    if (mcphub__json_check(result_json, result_len) != 0)
        return MCPHUB_E_INVAL;
    body = mcphub_jsonrpc_rewrite(NULL, 0, result_json, result_len, NULL, 0);
    n = hl + id_len + ml + body + 1;
    buf = mcphub__malloc(&m, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    memcpy(buf, head, hl);
    memcpy(buf + hl, id_json, id_len);
    memcpy(buf + hl + id_len, mid, ml);
    mcphub_jsonrpc_rewrite(buf + hl + id_len + ml, body, result_json, result_len, NULL, 0);
    buf[n - 1] = '}';
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

MCPHUB_API const char *mcphub_jsonrpc_error_text(int code)
{
    switch (code) {
    case MCPHUB_JSONRPC_PARSE_ERROR: return "Parse error";
    case MCPHUB_JSONRPC_INVALID_REQUEST: return "Invalid Request";
    case MCPHUB_JSONRPC_METHOD_NOT_FOUND: return "Method not found";
    case MCPHUB_JSONRPC_INVALID_PARAMS: return "Invalid params";
    case MCPHUB_JSONRPC_INTERNAL_ERROR: return "Internal error";
    default: return "Server error";
    }
}

MCPHUB_API const char *mcphub_jsonrpc_kind_name(mcphub_jsonrpc_kind kind)
{
    switch (kind) {
    case MCPHUB_JSONRPC_REQUEST: return "request";
    case MCPHUB_JSONRPC_NOTIFICATION: return "notification";
    case MCPHUB_JSONRPC_RESPONSE: return "response";
    case MCPHUB_JSONRPC_ERROR: return "error";
    case MCPHUB_JSONRPC_BATCH: return "batch";
    default: return "invalid";
    }
}
