/* Results ready to send: initialize and the four lists of a route, written
 * as compact JSON straight from the kept items (no JSON tree is built, so
 * rendering is one pass over the route's items). */
#include <string.h>

#include "catalog_int.h"

/* ---- growing string ------------------------------------------------------- */

void mcphub__sbuf_init(mcphub__sbuf *b, const mcphub__mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void mcphub__sbuf_add(mcphub__sbuf *b, const char *s, size_t n)
{
    if (b->nomem)
        return;
    if (n >= b->cap - b->len || b->p == NULL) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (n >= cap - b->len) {
            if (cap > (size_t)-1 / 2) {
                b->nomem = 1;
                return;
            }
            cap *= 2;
        }
        if ((p = mcphub__realloc(b->mem, b->p, cap)) == NULL) {
            b->nomem = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void mcphub__sbuf_puts(mcphub__sbuf *b, const char *s)
{
    mcphub__sbuf_add(b, s, strlen(s));
}

/* s escaped for the inside of a JSON string: quote, backslash and control
 * characters, as JSON.stringify does; UTF-8 passes through. */
static void json_esc(mcphub__sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        mcphub__sbuf_add(b, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        mcphub__sbuf_add(b, esc, elen);
    }
    mcphub__sbuf_add(b, s + run, n - run);
}

void mcphub__sbuf_json_str(mcphub__sbuf *b, const char *s, size_t n)
{
    mcphub__sbuf_add(b, "\"", 1);
    json_esc(b, s, n);
    mcphub__sbuf_add(b, "\"", 1);
}

char *mcphub__sbuf_take(mcphub__sbuf *b)
{
    char *p;

    if (!b->nomem && b->p == NULL)
        mcphub__sbuf_add(b, "", 0); /* an empty text is still a text */
    if (b->nomem) {
        mcphub__sbuf_free(b);
        return NULL;
    }
    p = b->p;
    p[b->len] = '\0'; /* add() always leaves room for it */
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void mcphub__sbuf_free(mcphub__sbuf *b)
{
    mcphub__free(b->mem, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int finish(mcphub__sbuf *b, char **json)
{
    *json = mcphub__sbuf_take(b);
    return *json != NULL ? 0 : MCPHUB_E_NOMEM;
}

/* ---- initialize ------------------------------------------------------------------ */

static void gateway_info(const mcphub_catalog *c, mcphub__sbuf *b, const char *group)
{
    mcphub__sbuf_puts(b, "{\"name\":\"");
    json_esc(b, c->gw_name, strlen(c->gw_name));
    if (group != NULL) {
        mcphub__sbuf_add(b, "_", 1);
        json_esc(b, group, strlen(group));
        mcphub__sbuf_puts(b, "_group");
    }
    mcphub__sbuf_puts(b, "\",\"version\":");
    mcphub__sbuf_json_str(b, c->gw_version, strlen(c->gw_version));
    mcphub__sbuf_add(b, "}", 1);
}

int mcphub_catalog_initialize_result(const mcphub_catalog *c, const char *route,
                                     const char *protocol_version, char **json)
{
    mcphub__cat_route r;
    mcphub__sbuf b;

    if (json == NULL)
        return MCPHUB_E_INVAL;
    *json = NULL;
    if (c == NULL ||
        (protocol_version != NULL && !mcphub__cat_utf8_ok(protocol_version, strlen(protocol_version))))
        return MCPHUB_E_INVAL;
    if (mcphub__cat_route_find(c, route, &r) != 0)
        return MCPHUB_E_NOTFOUND;
    mcphub__sbuf_init(&b, &c->mem);
    mcphub__sbuf_add(&b, "{", 1);
    if (protocol_version != NULL) {
        mcphub__sbuf_puts(&b, "\"protocolVersion\":");
        mcphub__sbuf_json_str(&b, protocol_version, strlen(protocol_version));
        mcphub__sbuf_add(&b, ",", 1);
    }
    /* The gateway merges lists that change as servers come and go, so it
     * always announces list changes; logging and completions are relayed. */
    mcphub__sbuf_puts(&b, "\"capabilities\":{\"tools\":{\"listChanged\":true},"
                          "\"prompts\":{\"listChanged\":true},"
                          "\"resources\":{\"listChanged\":true},"
                          "\"logging\":{},\"completions\":{}},\"serverInfo\":");
    if (r.kind == MCPHUB_ROUTE_SERVER && r.server->server_info != NULL) {
        mcphub__sbuf_puts(&b, r.server->server_info);
    } else if (r.kind == MCPHUB_ROUTE_SERVER) {
        mcphub__sbuf_puts(&b, "{\"name\":");
        mcphub__sbuf_json_str(&b, r.server->name, r.server->name_len);
        mcphub__sbuf_puts(&b, ",\"version\":");
        mcphub__sbuf_json_str(&b, c->gw_version, strlen(c->gw_version));
        mcphub__sbuf_add(&b, "}", 1);
    } else {
        gateway_info(c, &b, r.kind == MCPHUB_ROUTE_GROUP ? r.group->name : NULL);
    }
    if (r.kind == MCPHUB_ROUTE_SERVER && r.server->instructions != NULL) {
        mcphub__sbuf_puts(&b, ",\"instructions\":");
        mcphub__sbuf_json_str(&b, r.server->instructions, strlen(r.server->instructions));
    }
    mcphub__sbuf_add(&b, "}", 1);
    return finish(&b, json);
}

/* ---- lists ----------------------------------------------------------------------- */

static void write_item(const mcphub_catalog *c, mcphub__sbuf *b, const mcphub__cat_view *v,
                       mcphub_catalog_list which, const mcphub__cat_item *it)
{
    const char *desc = it->desc;

    mcphub__sbuf_add(b, "{", 1);
    if (which == MCPHUB_CATALOG_TOOLS || which == MCPHUB_CATALOG_PROMPTS) {
        mcphub__sbuf_puts(b, "\"name\":\"");
        json_esc(b, v->prefix, v->prefix_len);
        json_esc(b, c->sep, c->sep_len);
        json_esc(b, it->key, it->key_len);
        mcphub__sbuf_add(b, "\"", 1);
        if (which == MCPHUB_CATALOG_TOOLS) {
            const mcphub__cat_override *ov = mcphub__cat_override_find(v->srv, it->key);

            if (ov != NULL && ov->desc != NULL)
                desc = ov->desc;
        }
        if (desc != NULL) {
            mcphub__sbuf_puts(b, ",\"description\":");
            mcphub__sbuf_json_str(b, desc, strlen(desc));
        }
        if (it->body[0] != '\0')
            mcphub__sbuf_add(b, ",", 1);
    }
    mcphub__sbuf_puts(b, it->body);
    mcphub__sbuf_add(b, "}", 1);
}

int mcphub_catalog_list_result(const mcphub_catalog *c, const char *route,
                               mcphub_catalog_list which, char **json, size_t *skipped)
{
    static const char *const head[MCPHUB__CAT_NLISTS] = {
        "{\"tools\":[", "{\"prompts\":[", "{\"resources\":[", "{\"resourceTemplates\":["};
    mcphub__cat_route r;
    mcphub__cat_view v;
    mcphub__sbuf b;
    size_t i = 0, k, left_out = 0;
    int first = 1;

    if (skipped != NULL)
        *skipped = 0;
    if (json == NULL)
        return MCPHUB_E_INVAL;
    *json = NULL;
    if (c == NULL || (int)which < 0 || (int)which >= MCPHUB__CAT_NLISTS)
        return MCPHUB_E_INVAL;
    if (mcphub__cat_route_find(c, route, &r) != 0)
        return MCPHUB_E_NOTFOUND;
    mcphub__sbuf_init(&b, &c->mem);
    mcphub__sbuf_puts(&b, head[which]);
    while (mcphub__cat_view_next(c, &r, &i, &v)) {
        const mcphub__cat_list *l = &v.srv->lists[which];

        for (k = 0; k < l->n; k++) {
            int too_long;

            if (!mcphub__cat_visible(c, &v, which, &l->items[k], &too_long)) {
                left_out += (size_t)too_long;
                continue;
            }
            if (!first)
                mcphub__sbuf_add(&b, ",", 1);
            first = 0;
            write_item(c, &b, &v, which, &l->items[k]);
        }
    }
    mcphub__sbuf_puts(&b, "]}");
    if (skipped != NULL)
        *skipped = left_out;
    return finish(&b, json);
}
