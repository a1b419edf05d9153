/* Wire codecs: a strict JSON parser (RFC 8259) that builds a jansson tree.
 *
 * Why not json_loadb: jansson's lexer ignores a failed allocation while it
 * collects a token longer than 16 bytes and carries on without that byte
 * (lex_save ignores strbuffer_append_byte's result, jansson 2.14), so under
 * memory pressure "heartbeatInterval" can silently arrive as
 * "heartbeatInteral" or a number can lose a digit.  Here every allocation is
 * checked, so a message is either parsed exactly or refused.  jansson still
 * holds the tree and renders it; both of those fail cleanly.
 *
 * Also: duplicate keys are refused (two parsers could pick different
 * copies), \u0000 is refused (our strings are C strings), nesting is bounded. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_int.h"

#define MAX_NUMBER 64          /* characters in one number */
#define STACK_TEXT 256         /* escaped strings up to this decode on the stack */

typedef struct parser {
    const char *start, *p, *end;
    int depth;
    int rc;                    /* first failure: MCPHUB_E_PARSE or _NOMEM */
    const char *why;           /* reason for MCPHUB_E_PARSE */
    const char *at;            /* where the reason applies */
    const mcphub__mem *mem;
    char *heap;                /* decode buffer for long escaped strings */
    size_t heap_cap;
} parser;

static json_t *parse_value(parser *ps);

/* Record the first failure; both return "nothing" for their callers. */
static int bad(parser *ps, const char *at, const char *why)
{
    if (ps->rc == 0) {
        ps->rc = MCPHUB_E_PARSE;
        ps->at = at;
        ps->why = why;
    }
    return 0;
}

static json_t *fail(parser *ps, const char *at, const char *why)
{
    bad(ps, at, why);
    return NULL;
}

static json_t *nomem(parser *ps)
{
    if (ps->rc == 0)
        ps->rc = MCPHUB_E_NOMEM;
    return NULL;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* ---- strings ---- */

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape at s (just after the backslash); writes its bytes to out (when
 * not NULL) and returns how many, with *used the source bytes consumed, or
 * 0 with ps->why set. */
static size_t unescape(parser *ps, const char *s, char *out, size_t *used)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char tmp[4];
    const char *hit;
    uint32_t cp, lo;

    if (s >= ps->end)
        return (size_t)bad(ps, s, "unterminated string");
    if (*s != 'u') {
        hit = *s != '\0' ? strchr(from, *s) : NULL;
        if (hit == NULL)
            return (size_t)bad(ps, s - 1, "invalid escape in a string");
        if (out != NULL)
            out[0] = to[hit - from];
        *used = 1;
        return 1;
    }
    if (ps->end - s < 5 || !hex4(s + 1, &cp))
        return (size_t)bad(ps, s - 1, "invalid \\u escape in a string");
    *used = 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return (size_t)bad(ps, s - 1, "lone UTF-16 surrogate in a string");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - s < 11 || s[5] != '\\' || s[6] != 'u' || !hex4(s + 7, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return (size_t)bad(ps, s - 1, "lone UTF-16 surrogate in a string");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *used = 11;
    }
    if (cp == 0)
        return (size_t)bad(ps, s - 1, "\\u0000 is not allowed in a string");
    return put_utf8(out != NULL ? out : tmp, cp);
}

/* Scan the string at ps->p (on its opening quote): check it, and give its
 * decoded length and whether it has escapes.  ps->p is left alone. */
static int scan_string(parser *ps, size_t *len, int *escaped, const char **close)
{
    const char *s = ps->p + 1, *run = s;
    size_t n = 0, used = 0, k;

    *escaped = 0;
    while (s < ps->end && *s != '"') {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20)
            return bad(ps, s, "control character in a string");
        if (c == '\\') {
            if (!mcphub__wire_utf8_ok(run, (size_t)(s - run)))
                return bad(ps, run, "invalid UTF-8 in a string");
            k = unescape(ps, s + 1, NULL, &used);
            if (k == 0)
                return 0;
            n += k;
            s += 1 + used;
            run = s;
            *escaped = 1;
            continue;
        }
        n++;
        s++;
    }
    if (s >= ps->end)
        return bad(ps, ps->p, "unterminated string");
    if (!mcphub__wire_utf8_ok(run, (size_t)(s - run)))
        return bad(ps, run, "invalid UTF-8 in a string");
    *len = n;
    *close = s;
    return 1;
}

/* The string at ps->p, decoded; *text points into the input or into a
 * decode buffer valid until the next call. */
static int take_string(parser *ps, char *stack, const char **text, size_t *len)
{
    const char *close, *s;
    char *out;
    size_t used, n;
    int escaped;

    if (!scan_string(ps, len, &escaped, &close))
        return 0;
    if (!escaped) {
        *text = ps->p + 1;
    } else {
        if (*len <= STACK_TEXT) {
            out = stack;
        } else {
            if (*len > ps->heap_cap) {
                char *bigger = mcphub__realloc(ps->mem, ps->heap, *len);

                if (bigger == NULL) {
                    nomem(ps);
                    return 0;
                }
                ps->heap = bigger;
                ps->heap_cap = *len;
            }
            out = ps->heap;
        }
        /* the scan checked everything: decode without checks */
        for (s = ps->p + 1, n = 0; s < close;) {
            if (*s == '\\') {
                n += unescape(ps, s + 1, out + n, &used);
                s += 1 + used;
            } else {
                out[n++] = *s++;
            }
        }
        *text = out;
    }
    ps->p = close + 1;
    return 1;
}

static json_t *parse_string(parser *ps)
{
    char stack[STACK_TEXT];
    const char *text;
    size_t len;
    json_t *v;

    if (!take_string(ps, stack, &text, &len))
        return NULL;
    v = json_stringn_nocheck(text, len);
    return v != NULL ? v : nomem(ps);
}

/* ---- numbers ---- */

static json_t *parse_number(parser *ps)
{
    const char *s = ps->p, *q = s, *digits;
    char buf[MAX_NUMBER + 1], point, *endp;
    int is_int = 1;
    size_t n;
    json_t *v;

    if (q < ps->end && *q == '-')
        q++;
    digits = q;
    if (q < ps->end && *q == '0') {
        q++;
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q == digits)
        return fail(ps, s, "invalid number");
    if (q < ps->end && *q == '.') {
        const char *f = ++q;

        is_int = 0;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        if (q == f)
            return fail(ps, s, "invalid number");
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        const char *x;

        is_int = 0;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        x = q;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        if (q == x)
            return fail(ps, s, "invalid number");
    }
    n = (size_t)(q - s);
    if (n > MAX_NUMBER)
        return fail(ps, s, "number too long");
    if (is_int) {
        /* exact, no locale: accumulate with an overflow check */
        uint64_t u = 0, limit = (uint64_t)INT64_MAX + (*s == '-' ? 1u : 0u);
        const char *d;

        for (d = digits; d < q; d++) {
            unsigned digit = (unsigned)(*d - '0');

            if (u > (limit - digit) / 10)
                return fail(ps, s, "integer too big");
            u = u * 10 + digit;
        }
        ps->p = q;
        if (*s == '-')
            v = json_integer(u == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(json_int_t)u);
        else
            v = json_integer((json_int_t)u);
        return v != NULL ? v : nomem(ps);
    }
    /* strtod follows LC_NUMERIC: give it the locale's decimal point */
    memcpy(buf, s, n);
    buf[n] = '\0';
    point = localeconv()->decimal_point[0];
    if (point != '.') {
        char *dot = strchr(buf, '.');

        if (dot != NULL)
            *dot = point;
    }
    errno = 0;
    {
        double x = strtod(buf, &endp);

        if (endp != buf + n)
            return fail(ps, s, "invalid number");
        if (errno == ERANGE && isinf(x))
            return fail(ps, s, "real number overflow");
        ps->p = q;
        v = json_real(x);
    }
    return v != NULL ? v : nomem(ps);
}

/* ---- containers ---- */

static json_t *parse_object(parser *ps)
{
    json_t *obj = json_object(), *v;
    char stack[STACK_TEXT], *copy = NULL;
    const char *key, *key_at;
    size_t key_len;

    if (obj == NULL)
        return nomem(ps);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, ps->p, "expected a string key");
            break;
        }
        key_at = ps->p;
        if (!take_string(ps, stack, &key, &key_len))
            break;
        if (json_object_getn(obj, key, key_len) != NULL) {
            fail(ps, key_at, "duplicate key");
            break;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            fail(ps, ps->p, "expected ':'");
            break;
        }
        ps->p++;
        /* a long escaped key sits in the shared decode buffer, which the
         * value may reuse: keep a copy of that one (rare) */
        if (key == ps->heap) {
            copy = mcphub__strndup(ps->mem, key, key_len);
            if (copy == NULL) {
                nomem(ps);
                break;
            }
            key = copy;
        }
        v = parse_value(ps);
        if (v != NULL && json_object_setn_new_nocheck(obj, key, key_len, v) != 0)
            nomem(ps); /* set_new released v */
        mcphub__free(ps->mem, copy);
        copy = NULL;
        if (ps->rc != 0)
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, ps->p, "expected ',' or '}'");
        break;
    }
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(parser *ps)
{
    json_t *arr = json_array(), *v;

    if (arr == NULL)
        return nomem(ps);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        v = parse_value(ps);
        if (v == NULL)
            break;
        if (json_array_append_new(arr, v) != 0) { /* releases v */
            nomem(ps);
            break;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, ps->p, "expected ',' or ']'");
        break;
    }
    json_decref(arr);
    return NULL;
}

static json_t *literal(parser *ps, const char *word, json_t *v)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, ps->p, "expected a value");
    ps->p += n;
    return v;
}

static json_t *parse_value(parser *ps)
{
    json_t *v;

    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "expected a value");
    switch (*ps->p) {
    case '{':
    case '[':
        if (ps->depth >= MCPHUB__WIRE_MAX_DEPTH)
            return fail(ps, ps->p, "nested too deeply");
        ps->depth++;
        v = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
        ps->depth--;
        return v;
    case '"': return parse_string(ps);
    case 't': return literal(ps, "true", json_true());
    case 'f': return literal(ps, "false", json_false());
    case 'n': return literal(ps, "null", json_null());
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps);
        return fail(ps, ps->p, "expected a value");
    }
}

/* Line and column (1-based, in characters) of a position. */
static void position(const parser *ps, const char *at, int *line, int *column)
{
    const char *s, *line_start = ps->start;
    int l = 1, c = 1;

    for (s = ps->start; s < at; s++)
        if (*s == '\n') {
            l++;
            line_start = s + 1;
        }
    for (s = line_start; s < at; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            c++;
    *line = l;
    *column = c;
}

int mcphub__wire_parse(const char *text, size_t len, const mcphub__mem *mem, json_t **out,
                       mcphub_wire_error *err)
{
    parser ps;
    json_t *v;
    int line, column;

    memset(&ps, 0, sizeof ps);
    ps.start = ps.p = text;
    ps.end = text + len;
    ps.mem = mem;
    v = parse_value(&ps);
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            fail(&ps, ps.p, "unexpected text after the JSON value");
            json_decref(v);
            v = NULL;
        }
    }
    mcphub__free(mem, ps.heap);
    if (v == NULL) {
        if (ps.rc == MCPHUB_E_PARSE) {
            position(&ps, ps.at, &line, &column);
            snprintf(err->field, sizeof err->field, "%s", "");
            snprintf(err->text, sizeof err->text, "invalid JSON at line %d, column %d: %s", line,
                     column, ps.why);
        } else {
            snprintf(err->field, sizeof err->field, "%s", "");
            snprintf(err->text, sizeof err->text, "out of memory");
        }
        return ps.rc;
    }
    *out = v;
    return 0;
}
