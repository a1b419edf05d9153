/* Config helpers: an arena for the many small strings of one entry, error
 * messages that name the field and its value, and typed readers of JSON
 * values that produce those messages. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

/* ---- arena ---- */

typedef union {
    long double ld;
    long long ll;
    void *p;
    void (*fn)(void);
} max_align;

struct mcphub__cfg_chunk {
    mcphub__cfg_chunk *next;
    size_t used, cap;
    max_align data[1]; /* cap bytes from here */
};

#define CHUNK_MIN 1024

void mcphub__cfg_arena_init(mcphub__cfg_arena *a, const mcphub__mem *mem)
{
    a->mem = mem;
    a->head = NULL;
}

void mcphub__cfg_arena_free(mcphub__cfg_arena *a)
{
    while (a->head != NULL) {
        mcphub__cfg_chunk *next = a->head->next;

        mcphub__free(a->mem, a->head);
        a->head = next;
    }
}

void *mcphub__cfg_alloc(mcphub__cfg_arena *a, size_t n)
{
    mcphub__cfg_chunk *c = a->head;
    size_t align = sizeof(max_align);
    void *p;

    n = n == 0 ? align : n;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;

        c = mcphub__malloc(a->mem, offsetof(mcphub__cfg_chunk, data) + cap);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big block gets its own chunk behind the head so the head's
         * free space is not wasted. */
        if (a->head != NULL && cap == n && a->head->cap - a->head->used > 0) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *mcphub__cfg_strdup(mcphub__cfg_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *d = mcphub__cfg_alloc(a, n + 1);

    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

/* ---- messages ---- */

static void verr(mcphub_config_error *err, const char *fmt, va_list ap)
{
    if (err == NULL)
        return;
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    err->line = 0;
    err->column = 0;
}

void mcphub__cfg_path(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

void mcphub__cfg_err_set(mcphub_config_error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verr(err, fmt, ap);
    va_end(ap);
}

int mcphub__cfg_fail(mcphub__cfg_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verr(c->err, fmt, ap);
    va_end(ap);
    return code;
}

void mcphub__cfg_render_text(const char *s, char *buf, size_t cap)
{
    size_t o = 0, i;

    if (cap < 8) {
        if (cap > 0)
            buf[0] = '\0';
        return;
    }
    buf[o++] = '"';
    for (i = 0; s[i] != '\0' && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (i == 64) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

void mcphub__cfg_render_json(const json_t *v, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        mcphub__cfg_render_text(json_string_value(v), buf, cap);
        break;
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, cap, "%g", json_real_value(v));
        break;
    case JSON_TRUE: snprintf(buf, cap, "true"); break;
    case JSON_FALSE: snprintf(buf, cap, "false"); break;
    case JSON_NULL: snprintf(buf, cap, "null"); break;
    case JSON_OBJECT: snprintf(buf, cap, "{...}"); break;
    case JSON_ARRAY: snprintf(buf, cap, "[...]"); break;
    default: snprintf(buf, cap, "?"); break;
    }
}

int mcphub__cfg_bad(mcphub__cfg_ctx *c, const char *path, const json_t *v, const char *what)
{
    char val[96];

    mcphub__cfg_render_json(v, val, sizeof val);
    return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s (%s) must be %s", path, val, what);
}

int mcphub__cfg_json_error(mcphub__cfg_ctx *c, const json_error_t *je)
{
    /* jansson 2.14 leaves the error blank (its code byte unset) when an
     * allocation fails while building the tree, and reports some failures
     * inside its lexer as syntax errors, which we cannot tell apart. */
    if (je->text[0] == '\0' || json_error_code(je) == json_error_out_of_memory)
        return mcphub__cfg_fail(c, MCPHUB_E_NOMEM, "out of memory while parsing JSON");
    if (c->err != NULL) {
        snprintf(c->err->text, sizeof c->err->text, "line %d, column %d: %s", je->line,
                 je->column, je->text);
        c->err->line = je->line;
        c->err->column = je->column;
    }
    return MCPHUB_E_PARSE;
}

/* ---- typed readers ---- */

static int check_len(mcphub__cfg_ctx *c, const char *path, const char *s)
{
    size_t n = strlen(s);

    if (n > c->lim->max_string)
        return mcphub__cfg_fail(c, MCPHUB_E_TOOBIG, "%s is longer than %zu bytes", path,
                                c->lim->max_string);
    return 0;
}

int mcphub__cfg_read_str(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                         const char *path, const char **out)
{
    const char *s;
    int rc;

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return mcphub__cfg_bad(c, path, v, "a string");
    rc = check_len(c, path, json_string_value(v));
    if (rc != 0)
        return rc;
    s = mcphub__cfg_strdup(a, json_string_value(v));
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    *out = s;
    return 0;
}

int mcphub__cfg_read_bool(mcphub__cfg_ctx *c, const json_t *v, const char *path, int *out)
{
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return mcphub__cfg_bad(c, path, v, "true or false");
    *out = json_is_true(v);
    return 0;
}

int mcphub__cfg_read_uint(mcphub__cfg_ctx *c, const json_t *v, const char *path, uint64_t min,
                          uint64_t max, const char *what, uint64_t *out)
{
    uint64_t u;

    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);

        if (i < 0)
            return mcphub__cfg_bad(c, path, v, what);
        u = (uint64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);

        /* 2^63 bounds every limit we use and converts exactly. */
        if (!(d >= 0.0 && d < 9223372036854775808.0) || floor(d) != d)
            return mcphub__cfg_bad(c, path, v, what);
        u = (uint64_t)d;
    } else {
        return mcphub__cfg_bad(c, path, v, what);
    }
    if (u < min)
        return mcphub__cfg_bad(c, path, v, what);
    if (u > max) {
        char val[96];

        mcphub__cfg_render_json(v, val, sizeof val);
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s (%s) must be at most %llu", path, val,
                                (unsigned long long)max);
    }
    *out = u;
    return 0;
}

int mcphub__cfg_read_object(mcphub__cfg_ctx *c, const json_t *v, const char *path,
                            const json_t **out)
{
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return mcphub__cfg_bad(c, path, v, "an object");
    *out = v;
    return 0;
}

static int too_many(mcphub__cfg_ctx *c, const char *path, size_t n)
{
    if (n > c->lim->max_items)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "%s has %zu items, more than %zu", path, n,
                                c->lim->max_items);
    return 0;
}

int mcphub__cfg_read_strlist(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                             const char *path, const char *const **out, size_t *len)
{
    const char **list;
    size_t i, n;
    int rc;

    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return mcphub__cfg_bad(c, path, v, "an array of strings");
    n = json_array_size(v);
    rc = too_many(c, path, n);
    if (rc != 0)
        return rc;
    list = mcphub__cfg_alloc(a, n * sizeof *list);
    if (list == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        char p[256];

        mcphub__cfg_path(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_string(json_array_get(v, i)))
            return mcphub__cfg_bad(c, p, json_array_get(v, i), "a string");
        rc = mcphub__cfg_read_str(c, a, json_array_get(v, i), p, &list[i]);
        if (rc != 0)
            return rc;
    }
    *out = list;
    *len = n;
    return 0;
}

int mcphub__cfg_read_strmap(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                            const char *path, const mcphub_str_pair **out, size_t *len)
{
    mcphub_str_pair *pairs;
    const char *key;
    json_t *val;
    size_t i = 0, n;
    int rc;

    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return mcphub__cfg_bad(c, path, v, "an object of strings");
    n = json_object_size(v);
    rc = too_many(c, path, n);
    if (rc != 0)
        return rc;
    pairs = mcphub__cfg_alloc(a, n * sizeof *pairs);
    if (pairs == NULL)
        return MCPHUB_E_NOMEM;
    json_object_foreach((json_t *)(uintptr_t)v, key, val) {
        char p[256];

        mcphub__cfg_path(p, sizeof p, "%s.%s", path, key);
        if (!json_is_string(val))
            return mcphub__cfg_bad(c, p, val, "a string");
        rc = check_len(c, p, key);
        if (rc == 0)
            rc = mcphub__cfg_read_str(c, a, val, p, &pairs[i].value);
        if (rc != 0)
            return rc;
        pairs[i].key = mcphub__cfg_strdup(a, key);
        if (pairs[i].key == NULL)
            return MCPHUB_E_NOMEM;
        i++;
    }
    *out = pairs;
    *len = n;
    return 0;
}
