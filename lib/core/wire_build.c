/* Wire codecs, encoding side: a small builder over jansson whose first
 * failure latches (so encoders read straight through), and the renderer
 * that checks a finished tree with the decoder's rules and writes it out
 * through the caller's allocator. */
#include <math.h>
#include <string.h>

#include "wire_int.h"

void mcphub__we_init(mcphub__wenc *e, const mcphub_mem *mem)
{
    e->rc = mcphub__mem_init(&e->mem, mem) != 0 ? MCPHUB_E_INVAL : 0;
}

json_t *mcphub__we_object(mcphub__wenc *e)
{
    json_t *o;

    if (e->rc != 0)
        return NULL;
    o = json_object();
    if (o == NULL)
        e->rc = MCPHUB_E_NOMEM;
    return o;
}

json_t *mcphub__we_add(mcphub__wenc *e, json_t *obj, const char *key, json_t *child)
{
    if (e->rc != 0 || obj == NULL) {
        json_decref(child);
        return NULL;
    }
    /* set_new releases child when it fails */
    if (child == NULL || json_object_set_new_nocheck(obj, key, child) != 0) {
        e->rc = MCPHUB_E_NOMEM;
        return NULL;
    }
    return child;
}

json_t *mcphub__we_append(mcphub__wenc *e, json_t *arr)
{
    json_t *o = mcphub__we_object(e);

    if (o == NULL)
        return NULL;
    if (json_array_append_new(arr, o) != 0) {
        e->rc = MCPHUB_E_NOMEM;
        return NULL;
    }
    return o;
}

void mcphub__we_str(mcphub__wenc *e, json_t *obj, const char *key, const char *s, int if_null)
{
    if (e->rc != 0)
        return;
    if (s == NULL) {
        if (if_null == MCPHUB__WE_REQUIRED)
            e->rc = MCPHUB_E_INVAL;
        else if (if_null == MCPHUB__WE_NULL)
            mcphub__we_add(e, obj, key, json_null());
        return;
    }
    if (!mcphub__wire_utf8_ok(s, strlen(s))) {
        e->rc = MCPHUB_E_INVAL;
        return;
    }
    mcphub__we_add(e, obj, key, json_string_nocheck(s));
}

void mcphub__we_uint(mcphub__wenc *e, json_t *obj, const char *key, uint64_t v)
{
    if (e->rc == 0 && v > (uint64_t)INT64_MAX)
        e->rc = MCPHUB_E_INVAL;
    mcphub__we_add(e, obj, key, e->rc == 0 ? json_integer((json_int_t)v) : NULL);
}

void mcphub__we_real(mcphub__wenc *e, json_t *obj, const char *key, double v)
{
    if (e->rc == 0 && !isfinite(v))
        e->rc = MCPHUB_E_INVAL;
    mcphub__we_add(e, obj, key, e->rc == 0 ? json_real(v) : NULL);
}

void mcphub__we_bool(mcphub__wenc *e, json_t *obj, const char *key, int v)
{
    mcphub__we_add(e, obj, key, json_boolean(v));
}

void mcphub__we_json(mcphub__wenc *e, json_t *obj, const char *key, const char *text)
{
    mcphub_wire_error err;
    json_t *v = NULL;
    int rc;

    if (e->rc != 0)
        return;
    if (text == NULL) {
        e->rc = MCPHUB_E_INVAL;
        return;
    }
    rc = mcphub__wire_parse(text, strlen(text), &e->mem, &v, &err);
    if (rc != 0) {
        e->rc = rc == MCPHUB_E_NOMEM ? rc : MCPHUB_E_INVAL;
        return;
    }
    mcphub__we_add(e, obj, key, v);
}

int mcphub__wire_render(const json_t *root, const mcphub__mem *mem, char **out,
                        size_t *len_out)
{
    char probe[1], *buf;
    size_t n = json_dumpb(root, probe, 0, MCPHUB__WIRE_DUMP_FLAGS);

    if (n == 0)
        return MCPHUB_E_NOMEM;
    if (n > MCPHUB_WIRE_MAX_BYTES)
        return MCPHUB_E_TOOBIG;
    buf = mcphub__malloc(mem, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    if (json_dumpb(root, buf, n, MCPHUB__WIRE_DUMP_FLAGS) != n) {
        mcphub__free(mem, buf);
        return MCPHUB_E_NOMEM;
    }
    buf[n] = '\0';
    *out = buf;
    if (len_out != NULL)
        *len_out = n;
    return 0;
}

/* Nesting of a finished tree: configs are parsed on their own, and then
 * sit a few levels down in the message the peer parses. */
static int too_deep(json_t *v, int depth)
{
    const char *key;
    json_t *child;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth >= MCPHUB__WIRE_MAX_DEPTH)
        return 1;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            if (too_deep(child, depth + 1))
                return 1;
        return 0;
    }
    json_object_foreach(v, key, child)
        if (too_deep(child, depth + 1))
            return 1;
    return 0;
}

int mcphub__wire_encode(mcphub__wenc *e, json_t *root, mcphub__wire_kind kind,
                        mcphub__wd_walk_fn walk, void *scratch, char **out,
                        size_t *len_out)
{
    mcphub_wire_error err;
    mcphub__wdec d;

    if (e->rc == 0 && out == NULL)
        e->rc = MCPHUB_E_INVAL;
    if (e->rc == 0 && kind != MCPHUB__WIRE_REQUEST) {
        json_t *env = mcphub__we_object(e);

        mcphub__we_bool(e, env, "success", 1);
        mcphub__we_add(e, env, "data", root);
        root = env;
    }
    if (e->rc == 0 && too_deep(root, 0))
        e->rc = MCPHUB_E_INVAL;
    if (e->rc == 0) {
        /* The decoder's rules, so that whatever we send is accepted. */
        d.buf = NULL;
        d.used = 0;
        d.err = &err;
        e->rc = mcphub__wire_walk(&d, root, kind, walk, scratch);
    }
    if (e->rc == 0)
        e->rc = mcphub__wire_render(root, &e->mem, out, len_out);
    json_decref(root);
    return e->rc;
}
