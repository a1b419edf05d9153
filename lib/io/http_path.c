/* The request target of the HTTP server, decoded; see http_path_int.h.
 * (Factored out of http_server.c unchanged, so that it can be fuzzed.) */
#include <stdint.h>
#include <string.h>

#include "http_path_int.h"

static const char empty[] = "";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..n) into dst (room for n bytes + NUL); plus_space
 * turns '+' into ' ' (query strings).  Returns 0, or -1 for a malformed
 * escape or one that decodes to NUL. */
static int decode(char *dst, const char *src, size_t n, int plus_space)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char ch = src[i];

        if (ch == '%') {
            int hi, lo;

            if (n - i < 3)
                return -1;
            hi = hexval((unsigned char)src[i + 1]);
            lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return 0;
}

/* Does the decoded path have a ".." segment? */
static int has_dotdot(const char *path)
{
    const char *seg = path;

    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);

        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return 1;
        if (end == NULL)
            return 0;
        seg = end + 1;
    }
}

static size_t count_params(const char *q)
{
    size_t n = 0;

    while (*q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);

        n += len > 0;
        q += len + (amp != NULL);
    }
    return n;
}

/* Split and decode the query into query[]; the strings go to *chars. */
static const char *parse_query(const char **query, const char *q, char *chars)
{
    size_t k = 0;

    while (*q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t nlen = eq != NULL ? (size_t)(eq - q) : len;

        if (len > 0) {
            query[2 * k] = chars;
            if (decode(chars, q, nlen, 1) != 0)
                return "malformed percent-escape in the query";
            chars += strlen(chars) + 1;
            if (eq != NULL) {
                query[2 * k + 1] = chars;
                if (decode(chars, eq + 1, len - nlen - 1, 1) != 0)
                    return "malformed percent-escape in the query";
                chars += strlen(chars) + 1;
            } else {
                query[2 * k + 1] = empty;
            }
            k++;
        }
        q += len + (amp != NULL);
    }
    return NULL;
}

size_t mcphub__http_target_measure(const char *target, size_t *n_query)
{
    const char *qmark = strchr(target, '?');
    size_t plen = qmark != NULL ? (size_t)(qmark - target) : strlen(target);
    size_t qlen = qmark != NULL ? strlen(qmark + 1) : 0;
    size_t n = qmark != NULL ? count_params(qmark + 1) : 0;

    *n_query = n;
    return plen + 1 + qlen + 2 * n;
}

const char *mcphub__http_target_decode(const char *target, char *chars, const char **query)
{
    const char *qmark = strchr(target, '?'), *p;
    size_t plen = qmark != NULL ? (size_t)(qmark - target) : strlen(target);
    const char *bad = NULL;

    for (p = target; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            bad = "space or control byte in the request target";
    if (bad == NULL && target[0] != '/')
        bad = "the request target is not an absolute path";
    else if (bad == NULL && decode(chars, target, plen, 0) != 0)
        bad = "malformed percent-escape in the path";
    else if (bad == NULL && has_dotdot(chars))
        bad = "dot-dot segment in the path";
    else if (bad == NULL && qmark != NULL)
        bad = parse_query(query, qmark + 1, chars + plen + 1);
    return bad;
}

const char *mcphub__http_query_find(const char *const *query, size_t n, const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (strcmp(query[2 * i], name) == 0)
            return query[2 * i + 1];
    return NULL;
}
