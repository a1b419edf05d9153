/* A server's answers (tools/list and friends, initialize) turned into the
 * items the catalog keeps.
 *
 * jansson parses the text; the parts we keep are written back as compact
 * JSON by our own writer, so they are allocated with the handle's mem,
 * members keep upstream order and numbers keep their shortest form (jansson
 * would print 0.1 as 0.10000000000000001). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog_int.h"

/* ---- lists ----------------------------------------------------------------- */

void mcphub__cat_list_init(mcphub__cat_list *l, const mcphub__mem *mem, uint32_t seed)
{
    memset(l, 0, sizeof *l);
    mcphub__map_init(&l->by_key, mem, seed);
}

static void item_free(const mcphub__mem *mem, mcphub__cat_item *it)
{
    mcphub__free(mem, it->key);
    mcphub__free(mem, it->desc);
    mcphub__free(mem, it->body);
    memset(it, 0, sizeof *it);
}

void mcphub__cat_list_free(mcphub__cat_list *l, const mcphub__mem *mem)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        item_free(mem, &l->items[i]);
    mcphub__free(mem, l->items);
    mcphub__map_free(&l->by_key);
    l->items = NULL;
    l->n = 0;
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int mcphub__cat_list_equal(const mcphub__cat_list *a, const mcphub__cat_list *b)
{
    size_t i;

    if (a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++)
        if (!str_eq(a->items[i].key, b->items[i].key) ||
            !str_eq(a->items[i].desc, b->items[i].desc) ||
            !str_eq(a->items[i].body, b->items[i].body))
            return 0;
    return 1;
}

/* ---- a compact JSON writer ------------------------------------------------------ */

static void write_json(mcphub__sbuf *b, const json_t *v);

/* The shortest of %.15g..%.17g that reads back as the same double. */
static void write_real(mcphub__sbuf *b, double d)
{
    char buf[40];
    char *p;
    int prec;

    for (prec = 15; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (prec == 17)
        snprintf(buf, sizeof buf, "%.17g", d);
    for (p = buf; *p != '\0'; p++) /* a locale's decimal comma */
        if (*p == ',')
            *p = '.';
    mcphub__sbuf_puts(b, buf);
}

static void write_member(mcphub__sbuf *b, const char *key, const json_t *v, int *first)
{
    if (!*first)
        mcphub__sbuf_add(b, ",", 1);
    *first = 0;
    mcphub__sbuf_json_str(b, key, strlen(key));
    mcphub__sbuf_add(b, ":", 1);
    write_json(b, v);
}

/* The members of object v, without braces, skipping the key skip (NULL:
 * none).  Returns 1 when something was written. */
static int write_members(mcphub__sbuf *b, const json_t *v, const char *skip)
{
    const char *key;
    json_t *m;
    int first = 1;

    json_object_foreach((json_t *)(uintptr_t)v, key, m) {
        if (skip == NULL || strcmp(key, skip) != 0)
            write_member(b, key, m, &first);
    }
    return !first;
}

static void write_json(mcphub__sbuf *b, const json_t *v)
{
    char num[32];
    size_t i;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        mcphub__sbuf_add(b, "{", 1);
        write_members(b, v, NULL);
        mcphub__sbuf_add(b, "}", 1);
        break;
    case JSON_ARRAY:
        mcphub__sbuf_add(b, "[", 1);
        for (i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                mcphub__sbuf_add(b, ",", 1);
            write_json(b, json_array_get(v, i));
        }
        mcphub__sbuf_add(b, "]", 1);
        break;
    case JSON_STRING:
        mcphub__sbuf_json_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        mcphub__sbuf_puts(b, num);
        break;
    case JSON_REAL:
        write_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        mcphub__sbuf_puts(b, "true");
        break;
    case JSON_FALSE:
        mcphub__sbuf_puts(b, "false");
        break;
    default:
        mcphub__sbuf_puts(b, "null");
        break;
    }
}

/* ---- parsing ------------------------------------------------------------------- */

static int json_fail(const json_error_t *je)
{
    /* jansson leaves the text blank when an allocation fails while it
     * builds the tree (it reports some lexer failures as syntax errors). */
    return je->text[0] == '\0' || json_error_code(je) == json_error_out_of_memory
               ? MCPHUB_E_NOMEM
               : MCPHUB_E_PARSE;
}

static const char *const key_member[MCPHUB__CAT_NLISTS] = {"name", "name", "uri", "uriTemplate"};
static const char *const list_member[MCPHUB__CAT_NLISTS] = {"tools", "prompts", "resources",
                                                            "resourceTemplates"};

static int hint(const json_t *annotations, const char *name)
{
    return json_is_true(json_object_get(annotations, name));
}

/* One item from obj into *it (zeroed).  On failure the caller frees *it. */
static int parse_item(const mcphub_catalog *c, mcphub_catalog_list which, const json_t *obj,
                      mcphub__cat_item *it)
{
    int named = which == MCPHUB_CATALOG_TOOLS || which == MCPHUB_CATALOG_PROMPTS;
    const json_t *key, *desc, *m;
    const char *k;
    mcphub__sbuf b;
    int first = 1, schema = 0;

    if (!json_is_object(obj))
        return MCPHUB_E_INVAL;
    key = json_object_get(obj, key_member[which]);
    if (!json_is_string(key) || json_string_length(key) == 0)
        return MCPHUB_E_INVAL;
    it->key_len = json_string_length(key);
    if ((it->key = mcphub__strndup(&c->mem, json_string_value(key), it->key_len)) == NULL)
        return MCPHUB_E_NOMEM;
    desc = json_object_get(obj, "description");
    if (named && json_is_string(desc) &&
        (it->desc = mcphub__strndup(&c->mem, json_string_value(desc),
                                    json_string_length(desc))) == NULL)
        return MCPHUB_E_NOMEM;

    /* The rest; name and description are written at render time. */
    mcphub__sbuf_init(&b, &c->mem);
    json_object_foreach((json_t *)(uintptr_t)obj, k, m) {
        if (named && (strcmp(k, "name") == 0 || strcmp(k, "description") == 0))
            continue;
        if (which == MCPHUB_CATALOG_TOOLS && strcmp(k, "inputSchema") == 0) {
            if (!json_is_object(m))
                continue;
            if (!first)
                mcphub__sbuf_add(&b, ",", 1);
            first = 0;
            schema = 1;
            mcphub__sbuf_puts(&b, "\"inputSchema\":{");
            write_members(&b, m, "$schema");
            mcphub__sbuf_add(&b, "}", 1);
            continue;
        }
        write_member(&b, k, m, &first);
    }
    /* MCP requires inputSchema; a gateway should not pass on a tool without. */
    if (which == MCPHUB_CATALOG_TOOLS && !schema)
        mcphub__sbuf_puts(&b, first ? "\"inputSchema\":{\"type\":\"object\"}"
                                    : ",\"inputSchema\":{\"type\":\"object\"}");
    if ((it->body = mcphub__sbuf_take(&b)) == NULL)
        return MCPHUB_E_NOMEM;
    if (which == MCPHUB_CATALOG_TOOLS) {
        const json_t *ann = json_object_get(obj, "annotations");

        it->read_only = (unsigned char)hint(ann, "readOnlyHint");
        it->idempotent = (unsigned char)hint(ann, "idempotentHint");
    }
    if (which == MCPHUB_CATALOG_TEMPLATES)
        it->prefix_len = strcspn(it->key, "{");
    return 0;
}

static int parse_items(const mcphub_catalog *c, const char *server, mcphub_catalog_list which,
                       const json_t *arr, mcphub__cat_list *out)
{
    size_t i, n = json_array_size(arr);
    size_t over = strlen(server) + c->sep_len;
    int rc;

    if (n > c->max_items)
        return MCPHUB_E_FULL;
    if ((out->items = mcphub__calloc(&c->mem, n ? n : 1, sizeof *out->items)) == NULL ||
        mcphub__map_reserve(&out->by_key, n) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        mcphub__cat_item *it = &out->items[out->n];

        if ((rc = parse_item(c, which, json_array_get(arr, i), it)) != 0) {
            item_free(&c->mem, it);
            return rc;
        }
        if (mcphub__map_get(&out->by_key, it->key) != NULL) {
            mcphub__cat_logf(c, MCPHUB_LOG_WARN,
                             "catalog_item_dropped server=%s list=%s name=%s reason=duplicate",
                             server, list_member[which], it->key);
            item_free(&c->mem, it);
            continue;
        }
        if ((which == MCPHUB_CATALOG_TOOLS || which == MCPHUB_CATALOG_PROMPTS) &&
            over + it->key_len > MCPHUB_CATALOG_MAX_EXPOSED)
            mcphub__cat_logf(c, MCPHUB_LOG_WARN,
                             "catalog_name_too_long server=%s list=%s name=%s max=%u", server,
                             list_member[which], it->key, MCPHUB_CATALOG_MAX_EXPOSED);
        (void)mcphub__map_put(&out->by_key, it->key, it, NULL); /* reserved */
        out->n++;
    }
    return 0;
}

int mcphub__cat_parse_list(const mcphub_catalog *c, const char *server,
                           mcphub_catalog_list which, const char *json, size_t len,
                           mcphub__cat_list *out)
{
    json_error_t je;
    json_t *root;
    const json_t *arr;
    int rc;

    if ((root = json_loadb(json, len, 0, &je)) == NULL)
        return json_fail(&je);
    arr = json_is_object(root) ? json_object_get(root, list_member[which]) : root;
    rc = json_is_array(arr) ? parse_items(c, server, which, arr, out) : MCPHUB_E_INVAL;
    json_decref(root);
    return rc;
}

int mcphub__cat_parse_initialize(const mcphub_catalog *c, const char *json, size_t len,
                                 char **server_info, char **instructions)
{
    const json_t *info, *instr;
    json_error_t je;
    json_t *root;
    int rc = MCPHUB_E_INVAL;

    *server_info = *instructions = NULL;
    if ((root = json_loadb(json, len, 0, &je)) == NULL)
        return json_fail(&je);
    info = json_object_get(root, "serverInfo");
    instr = json_object_get(root, "instructions");
    if (json_is_object(root) && (info == NULL || json_is_object(info)) &&
        (instr == NULL || json_is_string(instr))) {
        rc = 0;
        if (info != NULL) {
            mcphub__sbuf b;

            mcphub__sbuf_init(&b, &c->mem);
            write_json(&b, info);
            if ((*server_info = mcphub__sbuf_take(&b)) == NULL)
                rc = MCPHUB_E_NOMEM;
        }
        if (rc == 0 && instr != NULL &&
            (*instructions = mcphub__strndup(&c->mem, json_string_value(instr),
                                             json_string_length(instr))) == NULL)
            rc = MCPHUB_E_NOMEM;
    }
    json_decref(root);
    if (rc != 0) {
        mcphub__free(&c->mem, *server_info);
        *server_info = NULL;
    }
    return rc;
}
