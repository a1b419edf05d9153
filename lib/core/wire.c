/* Wire codecs, shared part: the two-pass decoder, the field readers and
 * their error texts, and the generic MCPHub envelope.  See wire_int.h for
 * the design. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_int.h"

/* Decoded messages are one block: [head][message struct][arrays, strings].
 * The head keeps the allocator so that the free functions need no mem. */
typedef union wire_align {
    long double ld;
    void *p;
    uint64_t u;
    double d;
} wire_align;

#define WIRE_ALIGN sizeof(wire_align)
#define WIRE_ROUND(n) (((n) + WIRE_ALIGN - 1) / WIRE_ALIGN * WIRE_ALIGN)
#define WIRE_HEAD WIRE_ROUND(sizeof(mcphub__mem))

#define ID_RULE "1..128 characters of A-Z a-z 0-9 . _ : -"
#define SERVER_RULE "1..128 characters of A-Z a-z 0-9 . _ - (server names appear in URLs)"
#define HOST_RULE "a host name or IP address of 1..253 characters of A-Z a-z 0-9 . _ - : [ ]"
#define STATUS_RULE "one of pending, starting, running, error, stopped, terminated"
#define ROLE_RULE "one of master, worker"

/* ---- errors ---- */

static void err_clear(mcphub_wire_error *err)
{
    err->field[0] = '\0';
    err->text[0] = '\0';
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int err_set(mcphub_wire_error *err, int rc, const char *field, const char *fmt, ...);

static int err_set(mcphub_wire_error *err, int rc, const char *field, const char *fmt, ...)
{
    va_list ap;

    snprintf(err->field, sizeof err->field, "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return rc;
}

void mcphub__wd_join(char *out, size_t n, const char *path, const char *key)
{
    if (path[0] == '\0')
        snprintf(out, n, "%s", key);
    else
        snprintf(out, n, "%s.%s", path, key);
}

/* Copy at most max bytes of s, keeping printable ASCII and replacing the rest
 * so that an error text is always safe to log. */
static size_t safe_copy(char *out, size_t n, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
    return i;
}

/* A short rendering of a JSON value for error texts. */
static void describe(const json_t *v, char *out, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        char body[41];
        size_t len = json_string_length(v);

        safe_copy(body, sizeof body, json_string_value(v), len);
        snprintf(out, n, "\"%s%s\"", body, len > 40 ? "..." : "");
        break;
    }
    case JSON_INTEGER:
        snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        double x = json_real_value(v);

        snprintf(out, n, "%.15g", x);
        if (strtod(out, NULL) != x)
            snprintf(out, n, "%.17g", x);
        break;
    }
    case JSON_TRUE: snprintf(out, n, "true"); break;
    case JSON_FALSE: snprintf(out, n, "false"); break;
    case JSON_NULL: snprintf(out, n, "null"); break;
    case JSON_OBJECT: snprintf(out, n, "an object"); break;
    case JSON_ARRAY: snprintf(out, n, "an array"); break;
    }
}

/* "<field> (<value>) must be <rule>". */
static int fail_rule(mcphub__wdec *d, const char *path, const char *key, const json_t *v,
                     const char *rule)
{
    char field[sizeof d->err->field], value[64];

    mcphub__wd_join(field, sizeof field, path, key);
    describe(v, value, sizeof value);
    return err_set(d->err, MCPHUB_E_INVAL, field, "%s (%s) must be %s", field, value, rule);
}

static int fail_missing(mcphub__wdec *d, const char *path, const char *key)
{
    char field[sizeof d->err->field];

    mcphub__wd_join(field, sizeof field, path, key);
    return err_set(d->err, MCPHUB_E_INVAL, field, "%s is required", field);
}

static int fail_nomem(mcphub_wire_error *err)
{
    return err_set(err, MCPHUB_E_NOMEM, "", "out of memory");
}

/* ---- the result block ---- */

void *mcphub__wd_alloc(mcphub__wdec *d, size_t count, size_t size)
{
    void *p;

    if (count == 0)
        return NULL;
    d->used = WIRE_ROUND(d->used);
    p = d->buf != NULL ? d->buf + d->used : NULL;
    d->used += count * size; /* count <= MCPHUB_WIRE_MAX_ITEMS: no overflow */
    return p;
}

static const char *wd_copy(mcphub__wdec *d, const char *s, size_t n)
{
    char *p = d->buf != NULL ? d->buf + d->used : NULL;

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    d->used += n + 1;
    return p;
}

/* ---- string rules ---- */

static int charset_ok(const char *s, size_t n, size_t max, const char *extra)
{
    size_t i;

    if (n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

int mcphub__wire_id_ok(const char *s)
{
    return s != NULL && charset_ok(s, strlen(s), MCPHUB_WIRE_MAX_ID, "._:-");
}

int mcphub__wire_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        unsigned c = *p;
        size_t k, i;
        uint32_t cp, min;

        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            k = 1; cp = c & 0x1F; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2; cp = c & 0x0F; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= k)
            return 0;
        for (i = 1; i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        /* no overlong forms, no surrogates, nothing past U+10FFFF */
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += k + 1;
    }
    return 1;
}

/* ---- field readers ---- */

static const json_t *get(const json_t *obj, const char *key)
{
    return json_object_get(obj, key);
}

static int wd_charset(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                      size_t max, const char *extra, const char *rule, const char **out)
{
    const json_t *v = get(obj, key);

    if (v == NULL)
        return fail_missing(d, path, key);
    if (!json_is_string(v) ||
        !charset_ok(json_string_value(v), json_string_length(v), max, extra))
        return fail_rule(d, path, key, v, rule);
    *out = wd_copy(d, json_string_value(v), json_string_length(v));
    return 0;
}

int mcphub__wd_id(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                  const char **out)
{
    return wd_charset(d, obj, path, key, MCPHUB_WIRE_MAX_ID, "._:-", ID_RULE, out);
}

int mcphub__wd_server(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, const char **out)
{
    return wd_charset(d, obj, path, key, MCPHUB_WIRE_MAX_ID, "._-", SERVER_RULE, out);
}

int mcphub__wd_host(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    const char **out)
{
    return wd_charset(d, obj, path, key, MCPHUB_WIRE_MAX_HOST, "._-:[]", HOST_RULE, out);
}

int mcphub__wd_text(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    size_t max, const char **out)
{
    const json_t *v = get(obj, key);
    char rule[64];

    if (v == NULL || json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) > max) {
        snprintf(rule, sizeof rule, "a string of at most %zu bytes, or null", max);
        return fail_rule(d, path, key, v, rule);
    }
    *out = wd_copy(d, json_string_value(v), json_string_length(v));
    return 0;
}

int mcphub__wd_uint(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    int required, uint64_t min, uint64_t max, uint64_t dflt, uint64_t *out)
{
    const json_t *v = get(obj, key);
    json_int_t iv;
    char rule[64];

    if (v == NULL || (!required && json_is_null(v))) {
        if (required)
            return fail_missing(d, path, key);
        *out = dflt;
        return 0;
    }
    iv = json_is_integer(v) ? json_integer_value(v) : -1;
    if (iv < 0 || (uint64_t)iv < min || (uint64_t)iv > max) {
        if (max >= (uint64_t)INT64_MAX)
            snprintf(rule, sizeof rule, "%s integer", min > 0 ? "a positive" : "a non-negative");
        else
            snprintf(rule, sizeof rule, "an integer %llu..%llu", (unsigned long long)min,
                     (unsigned long long)max);
        return fail_rule(d, path, key, v, rule);
    }
    *out = (uint64_t)iv;
    return 0;
}

int mcphub__wd_number(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, double min, double max, double *out)
{
    const json_t *v = get(obj, key);
    char rule[64];

    if (v == NULL || json_is_null(v)) {
        *out = 0.0;
        return 0;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= min && json_number_value(v) <= max)) {
        snprintf(rule, sizeof rule, "a number %g..%g", min, max);
        return fail_rule(d, path, key, v, rule);
    }
    *out = json_number_value(v);
    return 0;
}

int mcphub__wd_bool(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    int *out)
{
    const json_t *v = get(obj, key);

    if (v == NULL)
        return fail_missing(d, path, key);
    if (!json_is_boolean(v))
        return fail_rule(d, path, key, v, "true or false");
    *out = json_is_true(v);
    return 0;
}

int mcphub__wd_status(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, mcphub_replica_status *out)
{
    const json_t *v = get(obj, key);

    if (v == NULL)
        return fail_missing(d, path, key);
    if (!json_is_string(v) || mcphub_replica_status_parse(json_string_value(v), out) != 0)
        return fail_rule(d, path, key, v, STATUS_RULE);
    return 0;
}

int mcphub__wd_role(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    mcphub_node_role *out)
{
    const json_t *v = get(obj, key);

    if (v == NULL)
        return fail_missing(d, path, key);
    if (!json_is_string(v) || mcphub_node_role_parse(json_string_value(v), out) != 0)
        return fail_rule(d, path, key, v, ROLE_RULE);
    return 0;
}

int mcphub__wd_object(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, int required, const json_t **out)
{
    const json_t *v = get(obj, key);

    if (v == NULL || (!required && json_is_null(v))) {
        *out = NULL;
        return required ? fail_missing(d, path, key) : 0;
    }
    if (!json_is_object(v))
        return fail_rule(d, path, key, v, "an object");
    *out = v;
    return 0;
}

int mcphub__wd_json(mcphub__wdec *d, const json_t *v, const char **out)
{
    char probe[1];
    size_t n = json_dumpb(v, probe, 0, MCPHUB__WIRE_DUMP_FLAGS);
    char *p = d->buf != NULL ? d->buf + d->used : NULL;

    /* jansson fails to render a parsed value only when it cannot allocate */
    if (n == 0 || (p != NULL && json_dumpb(v, p, n, MCPHUB__WIRE_DUMP_FLAGS) != n))
        return fail_nomem(d->err);
    if (p != NULL)
        p[n] = '\0';
    d->used += n + 1;
    *out = p;
    return 0;
}

int mcphub__wd_items(mcphub__wdec *d, const json_t *obj, const char *path,
                     const char *key, int required, size_t elem_size, void *scratch,
                     mcphub__wd_walk_fn fn, void **items, size_t *len)
{
    const json_t *v = get(obj, key);
    char field[sizeof d->err->field], item[sizeof d->err->field + 16], value[64];
    char *arr;
    size_t i, n;
    int rc;

    *items = NULL;
    *len = 0;
    if (v == NULL || (!required && json_is_null(v)))
        return required ? fail_missing(d, path, key) : 0;
    if (!json_is_array(v))
        return fail_rule(d, path, key, v, "an array");
    mcphub__wd_join(field, sizeof field, path, key);
    n = json_array_size(v);
    if (n > MCPHUB_WIRE_MAX_ITEMS)
        return err_set(d->err, MCPHUB_E_INVAL, field, "%s has %zu entries; at most %u are allowed",
                       field, n, MCPHUB_WIRE_MAX_ITEMS);
    arr = mcphub__wd_alloc(d, n, elem_size);
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);

        snprintf(item, sizeof item, "%s[%zu]", field, i);
        if (!json_is_object(e)) {
            describe(e, value, sizeof value);
            return err_set(d->err, MCPHUB_E_INVAL, item, "%s (%s) must be an object", item,
                           value);
        }
        rc = fn(d, e, item, arr != NULL ? arr + i * elem_size : scratch);
        if (rc != 0)
            return rc;
    }
    *items = arr;
    *len = n;
    return 0;
}

/* ---- decoding driver ---- */

/* The peer's message from a success-false envelope, cut at a character
 * boundary and with control characters blanked. */
static int refused(mcphub__wdec *d, const json_t *root, mcphub__wire_kind kind)
{
    const json_t *msg = get(root, "message"), *data = get(root, "data");
    const char *field = "success";
    int rc = MCPHUB_WIRE_E_REFUSED;
    size_t n, i;

    if (kind == MCPHUB__WIRE_REPLY_KNOWN && json_is_object(data) &&
        json_is_false(get(data, "known"))) {
        rc = MCPHUB_E_NOTFOUND;
        field = "data.known";
    }
    if (!json_is_string(msg) || json_string_length(msg) == 0)
        return err_set(d->err, rc, field, "the peer answered success false without a message");
    snprintf(d->err->field, sizeof d->err->field, "%s", field);
    n = json_string_length(msg);
    if (n >= sizeof d->err->text) {
        n = sizeof d->err->text - 1;
        while (n > 0 && ((unsigned char)json_string_value(msg)[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(d->err->text, json_string_value(msg), n);
    d->err->text[n] = '\0';
    for (i = 0; i < n; i++)
        if ((unsigned char)d->err->text[i] < 0x20 || d->err->text[i] == 0x7f)
            d->err->text[i] = ' ';
    return rc;
}

int mcphub__wire_walk(mcphub__wdec *d, const json_t *root, mcphub__wire_kind kind,
                      mcphub__wd_walk_fn walk, void *msg)
{
    const json_t *data;
    char value[64];
    int ok, rc;

    if (!json_is_object(root)) {
        describe(root, value, sizeof value);
        return err_set(d->err, MCPHUB_E_INVAL, "", "the message (%s) must be a JSON object",
                       value);
    }
    if (kind == MCPHUB__WIRE_REQUEST)
        return walk(d, root, "", msg);
    rc = mcphub__wd_bool(d, root, "", "success", &ok);
    if (rc != 0)
        return rc;
    if (!ok)
        return refused(d, root, kind);
    rc = mcphub__wd_object(d, root, "", "data", 1, &data);
    if (rc != 0)
        return rc;
    return walk(d, data, "data", msg);
}

int mcphub__wire_decode(const char *json, size_t len, const mcphub_mem *mem,
                        mcphub_wire_error *err, mcphub__wire_kind kind,
                        mcphub__wd_walk_fn walk, size_t msg_size, void *scratch,
                        void **out)
{
    mcphub_wire_error local;
    mcphub__mem m;
    json_t *root;
    mcphub__wdec d;
    size_t need;
    char *block;
    int rc;

    if (err == NULL)
        err = &local;
    err_clear(err);
    if (json == NULL || out == NULL)
        return err_set(err, MCPHUB_E_INVAL, "", "json and out must not be NULL");
    if (mcphub__mem_init(&m, mem) != 0)
        return err_set(err, MCPHUB_E_INVAL, "", "invalid allocator hooks");
    if (len > MCPHUB_WIRE_MAX_BYTES)
        return err_set(err, MCPHUB_E_TOOBIG, "", "the message is %zu bytes; at most %u are allowed",
                       len, MCPHUB_WIRE_MAX_BYTES);
    rc = mcphub__wire_parse(json, len, &m, &root, err);
    if (rc != 0)
        return rc;
    /* Pass 1: validate and measure. */
    d.buf = NULL;
    d.used = WIRE_HEAD + msg_size;
    d.err = err;
    rc = mcphub__wire_walk(&d, root, kind, walk, scratch);
    if (rc == 0) {
        need = d.used;
        block = mcphub__calloc(&m, 1, need);
        if (block == NULL) {
            rc = fail_nomem(err);
        } else {
            /* Pass 2: the same walk, copying into the block. */
            memcpy(block, &m, sizeof m);
            d.buf = block;
            d.used = WIRE_HEAD + msg_size;
            rc = mcphub__wire_walk(&d, root, kind, walk, block + WIRE_HEAD);
            if (rc != 0) {
                mcphub__free(&m, block);
            } else {
                *out = block + WIRE_HEAD;
                err_clear(err);
            }
        }
    }
    json_decref(root);
    return rc;
}

void mcphub__wire_msg_free(void *msg)
{
    mcphub__mem m;
    char *block;

    if (msg == NULL)
        return;
    block = (char *)msg - WIRE_HEAD;
    memcpy(&m, block, sizeof m);
    mcphub__free(&m, block);
}

/* ---- public: free, envelope ---- */

MCPHUB_API void mcphub_wire_free(const mcphub_mem *mem, void *p)
{
    mcphub__mem m;

    if (p != NULL && mcphub__mem_init(&m, mem) == 0)
        mcphub__free(&m, p);
}

static int walk_envelope(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    mcphub_wire_envelope *m = msg;
    const json_t *data = get(obj, "data");
    int rc;

    m->data_json = NULL;
    if ((rc = mcphub__wd_bool(d, obj, path, "success", &m->success)) != 0 ||
        (rc = mcphub__wd_text(d, obj, path, "message", MCPHUB_WIRE_MAX_BYTES, &m->message)) != 0)
        return rc;
    if (data != NULL && !json_is_null(data))
        return mcphub__wd_json(d, data, &m->data_json);
    return 0;
}

MCPHUB_API int mcphub_wire_envelope_encode(int success, const char *message,
                                           const char *data_json, char **out,
                                           size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_envelope scratch;
    json_t *root;

    mcphub__we_init(&e, mem);
    root = mcphub__we_object(&e);
    mcphub__we_bool(&e, root, "success", success != 0);
    mcphub__we_str(&e, root, "message", message, MCPHUB__WE_OMIT);
    if (data_json != NULL)
        mcphub__we_json(&e, root, "data", data_json);
    return mcphub__wire_encode(&e, root, MCPHUB__WIRE_REQUEST, walk_envelope, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_envelope_decode(const char *json, size_t len,
                                           mcphub_wire_envelope **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err)
{
    mcphub_wire_envelope scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REQUEST, walk_envelope,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_envelope_free(mcphub_wire_envelope *m)
{
    mcphub__wire_msg_free(m);
}
