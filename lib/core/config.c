/* The config handle: loading a settings document, the layers on top of it,
 * the server list workers change one entry at a time, and the getters. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

#define DEFAULT_SEED 0x9e3779b9u

struct mcphub_config {
    mcphub__mem mem;
    mcphub__cfg_limits lim;
    uint32_t seed;
    mcphub__cfg_doc *doc;
    mcphub__cfg_settings set;
};

/* ---- the document ---- */

static void doc_free(const mcphub__mem *mem, mcphub__cfg_doc *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->nservers; i++)
        mcphub__cfg_server_free(mem, d->servers[i]);
    mcphub__free(mem, d->servers);
    mcphub__map_free(&d->server_by_name);
    mcphub__map_free(&d->group_by_name);
    mcphub__map_free(&d->group_by_id);
    mcphub__cfg_arena_free(&d->arena);
    mcphub__free(mem, d);
}

static mcphub__cfg_doc *doc_new(const mcphub_config *cfg)
{
    mcphub__cfg_doc *d = mcphub__calloc(&cfg->mem, 1, sizeof *d);

    if (d == NULL)
        return NULL;
    mcphub__cfg_arena_init(&d->arena, &cfg->mem);
    mcphub__map_init(&d->server_by_name, &cfg->mem, cfg->seed);
    mcphub__map_init(&d->group_by_name, &cfg->mem, cfg->seed);
    mcphub__map_init(&d->group_by_id, &cfg->mem, cfg->seed);
    return d;
}

int mcphub__cfg_warn(mcphub__cfg_doc *d, const char *fmt, ...)
{
    char text[320];
    va_list ap;

    if (d->nwarnings == MCPHUB__CFG_MAX_WARNINGS)
        return 0;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    d->warnings[d->nwarnings] = mcphub__cfg_strdup(&d->arena, text);
    if (d->warnings[d->nwarnings] == NULL)
        return MCPHUB_E_NOMEM;
    d->nwarnings++;
    return 0;
}

/* Room for one more server, so that adding it cannot fail. */
static int reserve_server(mcphub__cfg_doc *d, const mcphub__mem *mem)
{
    if (d->nservers == d->cap_servers) {
        size_t cap = d->cap_servers ? d->cap_servers * 2 : 8;
        mcphub__cfg_server **p = mcphub__reallocarray(mem, d->servers, cap, sizeof *p);

        if (p == NULL)
            return MCPHUB_E_NOMEM;
        d->servers = p;
        d->cap_servers = cap;
    }
    return mcphub__map_reserve(&d->server_by_name, 1);
}

static int odd_name_warning(mcphub__cfg_doc *d, const mcphub__cfg_server *s)
{
    if (!s->odd_name)
        return 0;
    return mcphub__cfg_warn(d,
                            "server name \"%s\" has characters outside [A-Za-z0-9._-]; "
                            "clients may reject its tool names",
                            s->pub.name);
}

static int servers_parse(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *servers)
{
    const char *name;
    json_t *v;
    int rc;

    rc = mcphub__cfg_read_object(c, servers, "mcpServers", &servers);
    if (rc != 0 || servers == NULL)
        return rc;
    if (json_object_size(servers) > c->lim->max_servers)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "mcpServers has %zu servers, more than %zu",
                                json_object_size(servers), c->lim->max_servers);
    json_object_foreach((json_t *)(uintptr_t)servers, name, v) {
        mcphub__cfg_server *s;
        char path[256];

        mcphub__cfg_path(path, sizeof path, "mcpServers.%s", name);
        rc = mcphub__cfg_server_parse(c, name, v, path, &s);
        if (rc == 0) {
            rc = reserve_server(d, c->mem);
            if (rc == 0)
                rc = odd_name_warning(d, s);
            if (rc != 0)
                mcphub__cfg_server_free(c->mem, s);
        }
        if (rc != 0)
            return rc;
        d->servers[d->nservers++] = s;
        mcphub__map_put(&d->server_by_name, s->pub.name, s, NULL);
    }
    return 0;
}

/* Values that follow other settings: servers without replicas take
 * defaultReplicas; bearer auth without enableBearerAuth follows the keys. */
static void refresh(mcphub_config *cfg)
{
    mcphub__cfg_doc *d = cfg->doc;
    int any_key = 0;
    size_t i;

    for (i = 0; i < d->nservers; i++)
        if (!d->servers[i]->replicas_given)
            d->servers[i]->pub.replicas = cfg->set.cluster.default_replicas;
    for (i = 0; i < d->nkeys; i++)
        any_key |= d->keys[i].enabled;
    cfg->set.routing.enable_bearer_auth =
        cfg->set.bearer_auth >= 0 ? cfg->set.bearer_auth : any_key;
}

static void ctx_init(mcphub__cfg_ctx *c, const mcphub_config *cfg, mcphub_config_error *err)
{
    c->mem = &cfg->mem;
    c->lim = &cfg->lim;
    c->err = err;
    if (err != NULL)
        memset(err, 0, sizeof *err);
}

/* ---- life cycle ---- */

MCPHUB_API int mcphub_config_new_empty(mcphub_config **out, const mcphub_config_opts *opts,
                                       const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_config *cfg;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if (mcphub__mem_init(&m, mem) != 0 || mcphub__opts_check(opts, sizeof *opts) != 0)
        return MCPHUB_E_INVAL;
    cfg = mcphub__calloc(&m, 1, sizeof *cfg);
    if (cfg == NULL)
        return MCPHUB_E_NOMEM;
    cfg->mem = m;
#define LIMIT(field, def) \
    (MCPHUB__GET(opts, mcphub_config_opts, field, 0) ? MCPHUB__GET(opts, mcphub_config_opts, field, 0) : (def))
    cfg->lim.max_servers = LIMIT(max_servers, MCPHUB_CONFIG_MAX_SERVERS);
    cfg->lim.max_groups = LIMIT(max_groups, MCPHUB_CONFIG_MAX_GROUPS);
    cfg->lim.max_keys = LIMIT(max_keys, MCPHUB_CONFIG_MAX_KEYS);
    cfg->lim.max_items = LIMIT(max_items, MCPHUB_CONFIG_MAX_ITEMS);
    cfg->lim.max_string = LIMIT(max_string, MCPHUB_CONFIG_MAX_STRING);
    cfg->seed = LIMIT(hash_seed, DEFAULT_SEED);
#undef LIMIT
    cfg->doc = doc_new(cfg);
    if (cfg->doc == NULL) {
        mcphub__free(&m, cfg);
        return MCPHUB_E_NOMEM;
    }
    rc = mcphub__cfg_settings_init(&cfg->set, &cfg->mem);
    if (rc != 0) {
        doc_free(&m, cfg->doc);
        mcphub__free(&m, cfg);
        return rc;
    }
    refresh(cfg);
    *out = cfg;
    return 0;
}

MCPHUB_API void mcphub_config_free(mcphub_config *cfg)
{
    mcphub__mem m;

    if (cfg == NULL)
        return;
    m = cfg->mem;
    doc_free(&m, cfg->doc);
    mcphub__cfg_settings_free(&cfg->set, &m);
    mcphub__free(&m, cfg);
}

static int load_root(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, mcphub__cfg_settings *set,
                     const json_t *root)
{
    const json_t *sys, *routing;
    int rc;

    if (!json_is_object(root))
        return mcphub__cfg_bad(c, "the settings", root, "a JSON object");
    rc = mcphub__cfg_settings_from_json(c, set, d, root);
    if (rc == 0)
        rc = servers_parse(c, d, json_object_get(root, "mcpServers"));
    if (rc == 0)
        rc = mcphub__cfg_groups_parse(c, d, json_object_get(root, "groups"));
    if (rc != 0)
        return rc;
    /* settings_from_json has checked that these are objects. */
    sys = json_object_get(root, "systemConfig");
    routing = json_object_get(sys, "routing");
    return mcphub__cfg_keys_parse(c, d, json_object_get(root, "bearerKeys"),
                                  json_object_get(routing, "bearerAuthKey"));
}

MCPHUB_API int mcphub_config_load(mcphub_config *cfg, const char *text, size_t len,
                                  mcphub_config_error *err)
{
    mcphub__cfg_settings set;
    mcphub__cfg_doc *d;
    mcphub__cfg_ctx c;
    json_error_t je;
    json_t *root;
    int rc;

    if (cfg == NULL || text == NULL)
        return MCPHUB_E_INVAL;
    ctx_init(&c, cfg, err);
    memset(&je, 0, sizeof je);
    root = json_loadb(text, len, 0, &je);
    if (root == NULL)
        return mcphub__cfg_json_error(&c, &je);
    d = doc_new(cfg);
    if (d == NULL) {
        json_decref(root);
        return MCPHUB_E_NOMEM;
    }
    rc = mcphub__cfg_settings_init(&set, &cfg->mem);
    if (rc == 0) {
        rc = load_root(&c, d, &set, root);
        if (rc != 0)
            mcphub__cfg_settings_free(&set, &cfg->mem);
    }
    json_decref(root);
    if (rc != 0) {
        doc_free(&cfg->mem, d);
        return rc;
    }
    doc_free(&cfg->mem, cfg->doc);
    mcphub__cfg_settings_free(&cfg->set, &cfg->mem);
    cfg->doc = d;
    cfg->set = set;
    refresh(cfg);
    return 0;
}

MCPHUB_API int mcphub_config_parse(mcphub_config **out, const char *text, size_t len,
                                   const mcphub_mem *mem, mcphub_config_error *err)
{
    mcphub_config *cfg;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    rc = mcphub_config_new_empty(&cfg, NULL, mem);
    if (rc != 0) {
        mcphub__cfg_err_set(err, "%s", mcphub_strerror(rc));
        return rc;
    }
    rc = mcphub_config_load(cfg, text, len, err);
    if (rc != 0) {
        mcphub_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* ---- layers ---- */

MCPHUB_API int mcphub_config_set(mcphub_config *cfg, const char *key, const char *value,
                                 mcphub_config_error *err)
{
    mcphub__cfg_ctx c;
    int rc;

    if (cfg == NULL || key == NULL || value == NULL)
        return MCPHUB_E_INVAL;
    ctx_init(&c, cfg, err);
    rc = mcphub__cfg_settings_set(&c, &cfg->set, key, value);
    if (rc == 0)
        refresh(cfg);
    return rc;
}

MCPHUB_API int mcphub_config_apply_env(mcphub_config *cfg, const char *const *envp,
                                       mcphub_config_error *err)
{
    mcphub__cfg_ctx c;
    int rc;

    if (cfg == NULL)
        return MCPHUB_E_INVAL;
    ctx_init(&c, cfg, err);
    rc = mcphub__cfg_settings_env(&c, &cfg->set, envp);
    if (rc == 0)
        refresh(cfg);
    return rc;
}

MCPHUB_API int mcphub_config_validate(const mcphub_config *cfg, mcphub_config_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
    if (cfg == NULL)
        return MCPHUB_E_INVAL;
    return mcphub__cfg_settings_validate(&cfg->set, err);
}

/* ---- servers ---- */

MCPHUB_API size_t mcphub_config_server_count(const mcphub_config *cfg)
{
    return cfg != NULL ? cfg->doc->nservers : 0;
}

MCPHUB_API const mcphub_server_def *mcphub_config_server_at(const mcphub_config *cfg, size_t i)
{
    return cfg != NULL && i < cfg->doc->nservers ? &cfg->doc->servers[i]->pub : NULL;
}

static mcphub__cfg_server *server_find(const mcphub_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    return mcphub__map_get(&cfg->doc->server_by_name, name);
}

MCPHUB_API const mcphub_server_def *mcphub_config_server_find(const mcphub_config *cfg,
                                                              const char *name)
{
    mcphub__cfg_server *s = server_find(cfg, name);

    return s != NULL ? &s->pub : NULL;
}

MCPHUB_API const char *mcphub_config_server_json(const mcphub_config *cfg, const char *name)
{
    mcphub__cfg_server *s = server_find(cfg, name);

    return s != NULL ? s->pub.json : NULL;
}

static size_t server_index(const mcphub__cfg_doc *d, const mcphub__cfg_server *s)
{
    size_t i;

    for (i = 0; i < d->nservers && d->servers[i] != s; i++)
        ;
    return i;
}

MCPHUB_API int mcphub_config_add_server_json(mcphub_config *cfg, const char *name,
                                             const char *json_text, mcphub_config_error *err)
{
    mcphub__cfg_server *s, *old;
    mcphub__cfg_doc *d;
    mcphub__cfg_ctx c;
    json_error_t je;
    json_t *obj;
    char path[256];
    int rc;

    if (cfg == NULL || name == NULL || json_text == NULL)
        return MCPHUB_E_INVAL;
    ctx_init(&c, cfg, err);
    d = cfg->doc;
    memset(&je, 0, sizeof je);
    obj = json_loads(json_text, 0, &je);
    if (obj == NULL)
        return mcphub__cfg_json_error(&c, &je);
    mcphub__cfg_path(path, sizeof path, "mcpServers.%s", name);
    rc = mcphub__cfg_server_parse(&c, name, obj, path, &s);
    json_decref(obj);
    if (rc != 0)
        return rc;
    old = server_find(cfg, name);
    if (old == NULL && d->nservers >= cfg->lim.max_servers)
        rc = mcphub__cfg_fail(&c, MCPHUB_E_FULL, "mcpServers has %zu servers already",
                              d->nservers);
    else if (old == NULL)
        rc = reserve_server(d, &cfg->mem);
    if (rc == 0)
        rc = odd_name_warning(d, s); /* last step that can fail */
    if (rc != 0) {
        mcphub__cfg_server_free(&cfg->mem, s);
        return rc;
    }
    if (old != NULL)
        d->servers[server_index(d, old)] = s; /* keeps its place in the order */
    else
        d->servers[d->nservers++] = s;
    mcphub__map_put(&d->server_by_name, s->pub.name, s, NULL);
    mcphub__cfg_server_free(&cfg->mem, old);
    refresh(cfg);
    return 0;
}

MCPHUB_API int mcphub_config_remove_server(mcphub_config *cfg, const char *name)
{
    mcphub__cfg_server *s = server_find(cfg, name);
    mcphub__cfg_doc *d;
    size_t i, j, k;

    if (s == NULL)
        return MCPHUB_E_NOTFOUND;
    d = cfg->doc;
    /* MCPHub drops members of servers that are gone. */
    for (i = 0; i < d->ngroups; i++) {
        mcphub_group_member *m = (mcphub_group_member *)(uintptr_t)d->groups[i].members;

        for (j = k = 0; j < d->groups[i].members_len; j++)
            if (strcmp(m[j].server, name) != 0)
                m[k++] = m[j];
        d->groups[i].members_len = k;
    }
    mcphub__map_del(&d->server_by_name, name);
    i = server_index(d, s);
    memmove(&d->servers[i], &d->servers[i + 1], (d->nservers - i - 1) * sizeof *d->servers);
    d->nservers--;
    mcphub__cfg_server_free(&cfg->mem, s);
    return 0;
}

MCPHUB_API const mcphub_tool_override *mcphub_config_tool_find(const mcphub_config *cfg,
                                                               const char *server,
                                                               const char *tool)
{
    mcphub__cfg_server *s = server_find(cfg, server);
    const char *sep;
    size_t i, ns, nsep;

    if (s == NULL || tool == NULL)
        return NULL;
    for (i = 0; i < s->pub.tools_len; i++)
        if (strcmp(s->pub.tools[i].name, tool) == 0)
            return &s->pub.tools[i];
    sep = cfg->set.routing.name_separator;
    ns = strlen(server);
    nsep = strlen(sep);
    for (i = 0; i < s->pub.tools_len; i++) {
        const char *n = s->pub.tools[i].name;

        if (strncmp(n, server, ns) == 0 && strncmp(n + ns, sep, nsep) == 0 &&
            strcmp(n + ns + nsep, tool) == 0)
            return &s->pub.tools[i];
    }
    return NULL;
}

/* ---- groups, keys, settings, warnings ---- */

MCPHUB_API size_t mcphub_config_group_count(const mcphub_config *cfg)
{
    return cfg != NULL ? cfg->doc->ngroups : 0;
}

MCPHUB_API const mcphub_group_def *mcphub_config_group_at(const mcphub_config *cfg, size_t i)
{
    return cfg != NULL && i < cfg->doc->ngroups ? &cfg->doc->groups[i] : NULL;
}

MCPHUB_API const mcphub_group_def *mcphub_config_group_find(const mcphub_config *cfg,
                                                            const char *name_or_id)
{
    const mcphub_group_def *g;

    if (cfg == NULL || name_or_id == NULL)
        return NULL;
    g = mcphub__map_get(&cfg->doc->group_by_name, name_or_id);
    return g != NULL ? g : mcphub__map_get(&cfg->doc->group_by_id, name_or_id);
}

MCPHUB_API size_t mcphub_config_key_count(const mcphub_config *cfg)
{
    return cfg != NULL ? cfg->doc->nkeys : 0;
}

MCPHUB_API const mcphub_bearer_key *mcphub_config_key_at(const mcphub_config *cfg, size_t i)
{
    return cfg != NULL && i < cfg->doc->nkeys ? &cfg->doc->keys[i] : NULL;
}

MCPHUB_API const mcphub_routing_settings *mcphub_config_routing(const mcphub_config *cfg)
{
    return cfg != NULL ? &cfg->set.routing : NULL;
}

MCPHUB_API const mcphub_cluster_settings *mcphub_config_cluster(const mcphub_config *cfg)
{
    return cfg != NULL ? &cfg->set.cluster : NULL;
}

MCPHUB_API size_t mcphub_config_warning_count(const mcphub_config *cfg)
{
    return cfg != NULL ? cfg->doc->nwarnings : 0;
}

MCPHUB_API const char *mcphub_config_warning_at(const mcphub_config *cfg, size_t i)
{
    return cfg != NULL && i < cfg->doc->nwarnings ? cfg->doc->warnings[i] : NULL;
}
