/* One mcpServers entry: MCPHub's fields, our cluster fields, and the
 * canonical JSON text workers receive. */
#include <stdio.h>
#include <string.h>

#include "config_int.h"

#define DEFAULT_TIMEOUT_MS 60000u
#define MAX_REPLICAS 65535u
#define MAX_MS 4294967295u /* ~49 days; any sane timeout fits */

static const char *const type_names[] = {"stdio", "sse", "streamable-http", "openapi"};

MCPHUB_API const char *mcphub_server_type_name(mcphub_server_type t)
{
    if (t >= MCPHUB_SERVER_STDIO && t <= MCPHUB_SERVER_OPENAPI)
        return type_names[t - 1];
    return "unknown";
}

int mcphub__cfg_server_name_ok(const char *name)
{
    const char *p;

    for (p = name; *p != '\0'; p++) {
        char ch = *p;

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

void mcphub__cfg_server_free(const mcphub__mem *mem, mcphub__cfg_server *s)
{
    if (s == NULL)
        return;
    mcphub__cfg_arena_free(&s->arena);
    mcphub__free(mem, s);
}

/* base.name (cut when long: still a fine message). */
static void field(char *buf, size_t cap, const char *base, const char *name)
{
    mcphub__cfg_path(buf, cap, "%s.%s", base, name);
}

/* explicit type wins; openapi.url/schema => openapi; url => sse (MCPHub
 * wants streamable-http spelled out); command => stdio. */
static int read_type(mcphub__cfg_ctx *c, const json_t *obj, const char *path,
                     mcphub_server_def *d)
{
    const json_t *t = json_object_get(obj, "type");
    const json_t *oa = json_object_get(obj, "openapi");
    char p[256];
    size_t i;

    field(p, sizeof p, path, "type");
    if (t != NULL) {
        for (i = 0; i < 4; i++)
            if (json_is_string(t) && strcmp(json_string_value(t), type_names[i]) == 0)
                d->type = (mcphub_server_type)(i + 1);
        if (d->type == 0)
            return mcphub__cfg_bad(c, p, t, "one of stdio, sse, streamable-http, openapi");
    } else if (json_is_object(oa) &&
               (json_object_get(oa, "url") != NULL || json_object_get(oa, "schema") != NULL)) {
        d->type = MCPHUB_SERVER_OPENAPI;
    } else if (d->url != NULL) {
        d->type = MCPHUB_SERVER_SSE;
    } else if (d->command != NULL) {
        d->type = MCPHUB_SERVER_STDIO;
    } else {
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s needs a command, a url or an openapi url",
                                path);
    }
    /* What each transport cannot start without. */
    if (d->type == MCPHUB_SERVER_STDIO && d->command == NULL)
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s.command is required for a stdio server",
                                path);
    if ((d->type == MCPHUB_SERVER_SSE || d->type == MCPHUB_SERVER_STREAMABLE_HTTP) &&
        d->url == NULL)
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s.url is required for a %s server", path,
                                type_names[d->type - 1]);
    if (d->type == MCPHUB_SERVER_OPENAPI &&
        !(json_is_object(oa) &&
          (json_object_get(oa, "url") != NULL || json_object_get(oa, "schema") != NULL)))
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL,
                                "%s.openapi needs a url or a schema for an openapi server", path);
    return 0;
}

static int read_tools(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                      const char *path, mcphub_server_def *d)
{
    mcphub_tool_override *tools;
    const char *key;
    json_t *t;
    size_t i = 0, n;
    int rc;

    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return mcphub__cfg_bad(c, path, v, "an object");
    n = json_object_size(v);
    if (n > c->lim->max_items)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "%s has %zu items, more than %zu", path, n,
                                c->lim->max_items);
    tools = mcphub__cfg_alloc(a, n * sizeof *tools);
    if (tools == NULL)
        return MCPHUB_E_NOMEM;
    json_object_foreach((json_t *)(uintptr_t)v, key, t) {
        char p[256], q[300];

        field(p, sizeof p, path, key);
        if (!json_is_object(t))
            return mcphub__cfg_bad(c, p, t, "an object");
        tools[i].enabled = 1;
        field(q, sizeof q, p, "enabled");
        rc = mcphub__cfg_read_bool(c, json_object_get(t, "enabled"), q, &tools[i].enabled);
        field(q, sizeof q, p, "description");
        if (rc == 0)
            rc = mcphub__cfg_read_str(c, a, json_object_get(t, "description"), q,
                                      &tools[i].description);
        if (rc != 0)
            return rc;
        tools[i].name = mcphub__cfg_strdup(a, key);
        if (tools[i].name == NULL)
            return MCPHUB_E_NOMEM;
        i++;
    }
    d->tools = tools;
    d->tools_len = n;
    return 0;
}

static int read_cluster_fields(mcphub__cfg_ctx *c, mcphub__cfg_server *s, const json_t *obj,
                               const char *path)
{
    mcphub_server_def *d = &s->pub;
    const json_t *aff, *v;
    char p[256], q[300];
    uint64_t u;
    int rc;

    field(p, sizeof p, path, "replicas");
    v = json_object_get(obj, "replicas");
    rc = mcphub__cfg_read_uint(c, v, p, 0, MAX_REPLICAS, "a non-negative integer", &u);
    if (rc != 0)
        return rc;
    if (v != NULL) {
        d->replicas = (uint32_t)u;
        s->replicas_given = 1;
    }
    field(p, sizeof p, path, "affinity");
    rc = mcphub__cfg_read_object(c, json_object_get(obj, "affinity"), p, &aff);
    if (rc == 0 && aff != NULL) {
        field(q, sizeof q, p, "nodeIds");
        rc = mcphub__cfg_read_strlist(c, &s->arena, json_object_get(aff, "nodeIds"), q,
                                      &d->node_ids, &d->node_ids_len);
        field(q, sizeof q, p, "excludeNodeIds");
        if (rc == 0)
            rc = mcphub__cfg_read_strlist(c, &s->arena, json_object_get(aff, "excludeNodeIds"),
                                          q, &d->exclude_node_ids, &d->exclude_node_ids_len);
    }
    if (rc != 0)
        return rc;
    v = json_object_get(obj, "strategy");
    if (v != NULL) {
        field(p, sizeof p, path, "strategy");
        if (!json_is_string(v) || mcphub_lb_strategy_parse(json_string_value(v), &d->strategy) != 0)
            return mcphub__cfg_bad(c, p, v,
                                   "one of round-robin, least-connections, weighted, random");
    }
    return 0;
}

/* Compact, sorted keys: equal configs give equal text whatever the order
 * they were written in. */
static int canonical_json(mcphub__cfg_arena *a, const json_t *obj, const char **out)
{
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS, n, m;
    char *buf;

    n = json_dumpb(obj, NULL, 0, flags);
    if (n == 0)
        return MCPHUB_E_NOMEM; /* "{}" at least: 0 means jansson failed */
    buf = mcphub__cfg_alloc(a, n + 1);
    if (buf == NULL)
        return MCPHUB_E_NOMEM;
    m = json_dumpb(obj, buf, n, flags);
    if (m != n)
        return MCPHUB_E_NOMEM;
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int parse_into(mcphub__cfg_ctx *c, mcphub__cfg_server *s, const char *name,
                      const json_t *obj, const char *path)
{
    mcphub__cfg_arena *a = &s->arena;
    mcphub_server_def *d = &s->pub;
    const json_t *opts, *oa;
    char p[256], q[300];
    uint64_t u;
    int rc;

    if (!json_is_object(obj))
        return mcphub__cfg_bad(c, path, obj, "an object");
    d->name = mcphub__cfg_strdup(a, name);
    if (d->name == NULL)
        return MCPHUB_E_NOMEM;
    d->enabled = 1;
    d->replicas = 1;
    d->timeout_ms = DEFAULT_TIMEOUT_MS;

#define STR(key, dst)                                                                       \
    do {                                                                                    \
        field(p, sizeof p, path, key);                                                      \
        rc = mcphub__cfg_read_str(c, a, json_object_get(obj, key), p, dst);                 \
        if (rc != 0)                                                                        \
            return rc;                                                                      \
    } while (0)
    STR("command", &d->command);
    STR("url", &d->url);
    STR("description", &d->description);
#undef STR
    field(p, sizeof p, path, "args");
    rc = mcphub__cfg_read_strlist(c, a, json_object_get(obj, "args"), p, &d->args, &d->args_len);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "env");
    rc = mcphub__cfg_read_strmap(c, a, json_object_get(obj, "env"), p, &d->env, &d->env_len);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "headers");
    rc = mcphub__cfg_read_strmap(c, a, json_object_get(obj, "headers"), p, &d->headers,
                                 &d->headers_len);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "openapi");
    rc = mcphub__cfg_read_object(c, json_object_get(obj, "openapi"), p, &oa);
    if (rc == 0 && oa != NULL) {
        field(q, sizeof q, p, "url");
        rc = mcphub__cfg_read_str(c, a, json_object_get(oa, "url"), q, &d->openapi_url);
    }
    if (rc != 0)
        return rc;
    rc = read_type(c, obj, path, d);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "enabled");
    rc = mcphub__cfg_read_bool(c, json_object_get(obj, "enabled"), p, &d->enabled);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "tools");
    rc = read_tools(c, a, json_object_get(obj, "tools"), p, d);
    if (rc != 0)
        return rc;
    /* options.timeout is MCPHub's field; a top-level timeout appears in its
     * docs, so accept it, with options.timeout winning. */
    field(p, sizeof p, path, "timeout");
    rc = mcphub__cfg_read_uint(c, json_object_get(obj, "timeout"), p, 1, MAX_MS,
                               "a positive integer (milliseconds)", &d->timeout_ms);
    if (rc != 0)
        return rc;
    field(p, sizeof p, path, "options");
    rc = mcphub__cfg_read_object(c, json_object_get(obj, "options"), p, &opts);
    if (rc == 0 && opts != NULL) {
        field(q, sizeof q, p, "timeout");
        u = d->timeout_ms;
        rc = mcphub__cfg_read_uint(c, json_object_get(opts, "timeout"), q, 1, MAX_MS,
                                   "a positive integer (milliseconds)", &u);
        d->timeout_ms = u;
    }
    if (rc != 0)
        return rc;
    rc = read_cluster_fields(c, s, obj, path);
    if (rc != 0)
        return rc;
    return canonical_json(a, obj, &d->json);
}

int mcphub__cfg_server_parse(mcphub__cfg_ctx *c, const char *name, const json_t *obj,
                             const char *path, mcphub__cfg_server **out)
{
    mcphub__cfg_server *s;
    int rc;

    *out = NULL;
    if (name[0] == '\0')
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "mcpServers: a server name must not be empty");
    if (strlen(name) > c->lim->max_string)
        return mcphub__cfg_fail(c, MCPHUB_E_TOOBIG, "%s: the server name is longer than %zu bytes",
                                path, c->lim->max_string);
    s = mcphub__calloc(c->mem, 1, sizeof *s);
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    mcphub__cfg_arena_init(&s->arena, c->mem);
    rc = parse_into(c, s, name, obj, path);
    if (rc != 0) {
        mcphub__cfg_server_free(c->mem, s);
        return rc;
    }
    s->odd_name = !mcphub__cfg_server_name_ok(name);
    *out = s;
    return 0;
}
