/* The catalog handle: servers in config order, their tool overrides and
 * availability, and loading all of it from a config; see mcphub/catalog.h.
 *
 * Servers sit in an array (the order) and a map by name.  Each server owns
 * what it offers (catalog_items.c) and its overrides; groups are in
 * catalog_groups.c.  Every setter builds what it needs first and commits
 * only when nothing can fail any more. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "catalog_int.h"

#define FIXED_SEED 0x63617467u

/* ---- small helpers --------------------------------------------------------- */

int mcphub__cat_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i];
        size_t k, more;
        uint32_t cp;

        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= more)
            return 0;
        for (k = 1; k <= more; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += more + 1;
    }
    return 1;
}

int mcphub__cat_name_ok(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n >= 1 && n <= max && mcphub__cat_utf8_ok(s, n);
}

void mcphub__cat_logf(const mcphub_catalog *c, mcphub_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(level, msg, c->log_user_data);
}

void mcphub__cat_bump_all(mcphub_catalog *c)
{
    size_t k;

    for (k = 0; k < MCPHUB__CAT_NLISTS; k++)
        c->gen[k]++;
}

/* Whether the server's items reach any route now. */
static int live(const mcphub_catalog *c, const mcphub__cat_server *s)
{
    return s->enabled && (s->available || !c->hide_unavailable);
}

/* A server appearing or vanishing changes the lists it has items in. */
static void bump_server(mcphub_catalog *c, const mcphub__cat_server *s)
{
    size_t k;

    for (k = 0; k < MCPHUB__CAT_NLISTS; k++)
        if (s->lists[k].n > 0)
            c->gen[k]++;
}

static int valid_list(mcphub_catalog_list which)
{
    return (int)which >= 0 && (int)which < MCPHUB__CAT_NLISTS;
}

/* ---- overrides ---------------------------------------------------------------- */

static void overrides_init(mcphub__cat_overrides *o, const mcphub__mem *mem, uint32_t seed)
{
    memset(o, 0, sizeof *o);
    mcphub__map_init(&o->bare, mem, seed);
    mcphub__map_init(&o->prefixed, mem, seed ^ 0x5bd1e995u);
}

static void override_free(const mcphub__mem *mem, mcphub__cat_override *ov)
{
    if (ov == NULL)
        return;
    mcphub__free(mem, ov->key);
    mcphub__free(mem, ov->desc);
    mcphub__free(mem, ov);
}

static void overrides_free(mcphub__cat_overrides *o, const mcphub__mem *mem)
{
    size_t i;

    for (i = 0; i < o->n; i++)
        override_free(mem, o->v[i]);
    mcphub__free(mem, o->v);
    mcphub__map_free(&o->bare);
    mcphub__map_free(&o->prefixed);
    memset(o, 0, sizeof *o);
}

/* The part of key after "<server><sep>", or NULL when key is not prefixed. */
static const char *unprefixed(const char *key, const char *server, size_t server_len,
                              const char *sep, size_t sep_len)
{
    if (strncmp(key, server, server_len) != 0 || strncmp(key + server_len, sep, sep_len) != 0 ||
        key[server_len + sep_len] == '\0')
        return NULL;
    return key + server_len + sep_len;
}

/* Add or replace the override keyed key.  Returns 0 and sets *changed, or
 * an error with nothing changed. */
static int overrides_put(const mcphub_catalog *c, mcphub__cat_overrides *o, const char *server,
                         const char *sep, const char *key, int enabled, const char *desc,
                         int *changed)
{
    const mcphub__mem *mem = &c->mem;
    mcphub__cat_override *ov = mcphub__map_get(&o->bare, key);
    const char *rest;
    char *d = NULL;
    int rc;

    enabled = enabled != 0;
    if (desc != NULL && (d = mcphub__strdup(mem, desc)) == NULL)
        return MCPHUB_E_NOMEM;
    if (ov != NULL) {
        *changed = ov->enabled != enabled ||
                   (ov->desc == NULL) != (d == NULL) ||
                   (d != NULL && strcmp(ov->desc, d) != 0);
        mcphub__free(mem, ov->desc);
        ov->desc = d;
        ov->enabled = enabled;
        return 0;
    }
    rc = MCPHUB_E_FULL;
    if (o->n >= c->max_items)
        goto fail;
    rc = MCPHUB_E_NOMEM;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        mcphub__cat_override **v = mcphub__reallocarray(mem, o->v, cap, sizeof *v);

        if (v == NULL)
            goto fail;
        o->v = v;
        o->cap = cap;
    }
    if ((ov = mcphub__calloc(mem, 1, sizeof *ov)) == NULL)
        goto fail;
    if ((ov->key = mcphub__strdup(mem, key)) == NULL || mcphub__map_reserve(&o->bare, 1) != 0 ||
        mcphub__map_reserve(&o->prefixed, 1) != 0) {
        override_free(mem, ov);
        goto fail;
    }
    ov->enabled = enabled;
    ov->desc = d;
    /* Room was reserved: these puts cannot fail. */
    (void)mcphub__map_put(&o->bare, ov->key, ov, NULL);
    rest = unprefixed(ov->key, server, strlen(server), sep, strlen(sep));
    if (rest != NULL && mcphub__map_get(&o->prefixed, rest) == NULL)
        (void)mcphub__map_put(&o->prefixed, rest, ov, NULL);
    o->v[o->n++] = ov;
    *changed = 1;
    return 0;
fail:
    mcphub__free(mem, d);
    return rc;
}

const mcphub__cat_override *mcphub__cat_override_find(const mcphub__cat_server *s,
                                                      const char *tool)
{
    const mcphub__cat_override *ov = mcphub__map_get(&s->ov.bare, tool);

    return ov != NULL ? ov : mcphub__map_get(&s->ov.prefixed, tool);
}

/* ---- servers ------------------------------------------------------------------ */

static mcphub__cat_server *server_new(const mcphub_catalog *c, const char *name)
{
    mcphub__cat_server *s = mcphub__calloc(&c->mem, 1, sizeof *s);
    size_t k;

    if (s == NULL)
        return NULL;
    if ((s->name = mcphub__strdup(&c->mem, name)) == NULL) {
        mcphub__free(&c->mem, s);
        return NULL;
    }
    s->name_len = strlen(name);
    s->enabled = s->available = 1;
    overrides_init(&s->ov, &c->mem, c->seed);
    for (k = 0; k < MCPHUB__CAT_NLISTS; k++)
        mcphub__cat_list_init(&s->lists[k], &c->mem, c->seed);
    return s;
}

static void server_free(const mcphub_catalog *c, mcphub__cat_server *s)
{
    size_t k;

    if (s == NULL)
        return;
    overrides_free(&s->ov, &c->mem);
    for (k = 0; k < MCPHUB__CAT_NLISTS; k++)
        mcphub__cat_list_free(&s->lists[k], &c->mem);
    mcphub__free(&c->mem, s->server_info);
    mcphub__free(&c->mem, s->instructions);
    mcphub__free(&c->mem, s->name);
    mcphub__free(&c->mem, s);
}

mcphub__cat_server *mcphub__cat_server_find(const mcphub_catalog *c, const char *name)
{
    return name != NULL ? mcphub__map_get(&c->server_by_name, name) : NULL;
}

static void groups_free(const mcphub_catalog *c, mcphub__cat_group **g, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        mcphub__cat_group_free(&c->mem, g[i]);
    mcphub__free(&c->mem, g);
}

/* ---- life cycle ------------------------------------------------------------------ */

static char *dup_or(const mcphub__mem *mem, const char *s, const char *fallback)
{
    return mcphub__strdup(mem, s != NULL && s[0] != '\0' ? s : fallback);
}

int mcphub_catalog_new(mcphub_catalog **out, const mcphub_catalog_opts *opts,
                       const mcphub_mem *mem)
{
    mcphub_catalog *c;
    mcphub__mem m;
    const char *sep;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    sep = MCPHUB__GET(opts, mcphub_catalog_opts, name_separator, NULL);
    if (sep == NULL || sep[0] == '\0')
        sep = "-";
    if (!mcphub__cat_name_ok(sep, MCPHUB_CATALOG_MAX_SEPARATOR))
        return MCPHUB_E_INVAL;
    if ((c = mcphub__calloc(&m, 1, sizeof *c)) == NULL)
        return MCPHUB_E_NOMEM;
    c->mem = m;
    c->seed = MCPHUB__GET(opts, mcphub_catalog_opts, hash_seed, 0);
    if (c->seed == 0)
        c->seed = FIXED_SEED;
    c->group_name_route = !MCPHUB__GET(opts, mcphub_catalog_opts, disable_group_name_route, 0);
    c->hide_unavailable = MCPHUB__GET(opts, mcphub_catalog_opts, hide_unavailable, 0) != 0;
    c->max_servers = MCPHUB__GET(opts, mcphub_catalog_opts, max_servers, 0);
    c->max_items = MCPHUB__GET(opts, mcphub_catalog_opts, max_items, 0);
    c->max_groups = MCPHUB__GET(opts, mcphub_catalog_opts, max_groups, 0);
    if (c->max_servers == 0)
        c->max_servers = MCPHUB_CATALOG_MAX_SERVERS;
    if (c->max_items == 0)
        c->max_items = MCPHUB_CATALOG_MAX_ITEMS;
    if (c->max_groups == 0)
        c->max_groups = MCPHUB_CATALOG_MAX_GROUPS;
    c->log = MCPHUB__GET(opts, mcphub_catalog_opts, log, NULL);
    c->log_user_data = MCPHUB__GET(opts, mcphub_catalog_opts, log_user_data, NULL);
    mcphub__map_init(&c->server_by_name, &c->mem, c->seed);
    mcphub__map_init(&c->group_by_name, &c->mem, c->seed);
    mcphub__map_init(&c->group_by_id, &c->mem, c->seed);
    c->sep = mcphub__strdup(&c->mem, sep);
    c->gw_name = dup_or(&c->mem, MCPHUB__GET(opts, mcphub_catalog_opts, gateway_name, NULL),
                        "mcphub");
    c->gw_version = dup_or(&c->mem,
                           MCPHUB__GET(opts, mcphub_catalog_opts, gateway_version, NULL),
                           mcphub_version());
    if (c->sep == NULL || c->gw_name == NULL || c->gw_version == NULL) {
        mcphub_catalog_free(c);
        return MCPHUB_E_NOMEM;
    }
    c->sep_len = strlen(c->sep);
    *out = c;
    return 0;
}

void mcphub_catalog_free(mcphub_catalog *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->nservers; i++)
        server_free(c, c->servers[i]);
    mcphub__free(&c->mem, c->servers);
    mcphub__map_free(&c->server_by_name);
    groups_free(c, c->groups, c->ngroups);
    mcphub__map_free(&c->group_by_name);
    mcphub__map_free(&c->group_by_id);
    mcphub__free(&c->mem, c->sep);
    mcphub__free(&c->mem, c->gw_name);
    mcphub__free(&c->mem, c->gw_version);
    mcphub__free(&c->mem, c);
}

void mcphub_catalog_free_string(const mcphub_catalog *c, char *s)
{
    if (c != NULL)
        mcphub__free(&c->mem, s);
}

uint64_t mcphub_catalog_generation(const mcphub_catalog *c, mcphub_catalog_list which)
{
    return c != NULL && valid_list(which) ? c->gen[which] : 0;
}

/* ---- servers: the public setters ----------------------------------------------------- */

int mcphub_catalog_add_server(mcphub_catalog *c, const char *server, int enabled)
{
    mcphub__cat_server *s;

    if (c == NULL || !mcphub__cat_name_ok(server, MCPHUB_CATALOG_MAX_NAME))
        return MCPHUB_E_INVAL;
    enabled = enabled != 0;
    if ((s = mcphub__cat_server_find(c, server)) != NULL) {
        if (s->enabled != enabled) {
            int was = live(c, s);

            s->enabled = enabled;
            if (was != live(c, s))
                bump_server(c, s);
        }
        return 0;
    }
    if (c->nservers >= c->max_servers)
        return MCPHUB_E_FULL;
    if (c->nservers == c->cap_servers) {
        size_t cap = c->cap_servers ? c->cap_servers * 2 : 8;
        mcphub__cat_server **v = mcphub__reallocarray(&c->mem, c->servers, cap, sizeof *v);

        if (v == NULL)
            return MCPHUB_E_NOMEM;
        c->servers = v;
        c->cap_servers = cap;
    }
    if ((s = server_new(c, server)) == NULL)
        return MCPHUB_E_NOMEM;
    if (mcphub__map_put(&c->server_by_name, s->name, s, NULL) != 0) {
        server_free(c, s);
        return MCPHUB_E_NOMEM;
    }
    s->enabled = enabled;
    s->pos = c->nservers;
    c->servers[c->nservers++] = s;
    return 0; /* it offers nothing yet: no list changed */
}

int mcphub_catalog_remove_server(mcphub_catalog *c, const char *server)
{
    mcphub__cat_server *s;
    size_t i;

    if (c == NULL || server == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    (void)mcphub__map_del(&c->server_by_name, s->name);
    for (i = s->pos + 1; i < c->nservers; i++) {
        c->servers[i - 1] = c->servers[i];
        c->servers[i - 1]->pos = i - 1;
    }
    c->nservers--;
    if (live(c, s))
        bump_server(c, s);
    server_free(c, s);
    return 0;
}

int mcphub_catalog_set_tool_override(mcphub_catalog *c, const char *server, const char *tool,
                                     int enabled, const char *description)
{
    mcphub__cat_server *s;
    int changed = 0, rc;

    if (c == NULL || server == NULL || tool == NULL || tool[0] == '\0' ||
        !mcphub__cat_utf8_ok(tool, strlen(tool)) ||
        (description != NULL && !mcphub__cat_utf8_ok(description, strlen(description))))
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    rc = overrides_put(c, &s->ov, s->name, c->sep, tool, enabled, description, &changed);
    if (rc == 0 && changed)
        c->gen[MCPHUB_CATALOG_TOOLS]++;
    return rc;
}

int mcphub_catalog_set_available(mcphub_catalog *c, const char *server, int available)
{
    mcphub__cat_server *s;
    int was;

    if (c == NULL || server == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    was = live(c, s);
    s->available = available != 0;
    if (was != live(c, s))
        bump_server(c, s);
    return 0;
}

int mcphub_catalog_set_list(mcphub_catalog *c, const char *server, mcphub_catalog_list which,
                            const char *json, size_t len)
{
    mcphub__cat_server *s;
    mcphub__cat_list fresh, old;
    int rc;

    if (c == NULL || server == NULL || json == NULL || !valid_list(which))
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    mcphub__cat_list_init(&fresh, &c->mem, c->seed);
    rc = mcphub__cat_parse_list(c, s->name, which, json, len, &fresh);
    if (rc != 0 || mcphub__cat_list_equal(&fresh, &s->lists[which])) {
        /* Unchanged: keep the old items so borrowed names stay valid. */
        mcphub__cat_list_free(&fresh, &c->mem);
        return rc;
    }
    old = s->lists[which];
    s->lists[which] = fresh;
    mcphub__cat_list_free(&old, &c->mem);
    if (live(c, s))
        c->gen[which]++;
    return 0;
}

int mcphub_catalog_set_initialize(mcphub_catalog *c, const char *server, const char *result_json,
                                  size_t len)
{
    mcphub__cat_server *s;
    char *info = NULL, *instr = NULL;
    int rc;

    if (c == NULL || server == NULL || result_json == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL)
        return MCPHUB_E_NOTFOUND;
    if ((rc = mcphub__cat_parse_initialize(c, result_json, len, &info, &instr)) != 0)
        return rc;
    mcphub__free(&c->mem, s->server_info);
    mcphub__free(&c->mem, s->instructions);
    s->server_info = info;
    s->instructions = instr;
    return 0;
}

int mcphub_catalog_tool_annotations(const mcphub_catalog *c, const char *server, const char *tool,
                                    int *read_only, int *idempotent)
{
    const mcphub__cat_server *s;
    const mcphub__cat_item *it;

    if (c == NULL || server == NULL || tool == NULL)
        return MCPHUB_E_INVAL;
    if ((s = mcphub__cat_server_find(c, server)) == NULL ||
        (it = mcphub__map_get(&s->lists[MCPHUB_CATALOG_TOOLS].by_key, tool)) == NULL)
        return MCPHUB_E_NOTFOUND;
    if (read_only != NULL)
        *read_only = it->read_only;
    if (idempotent != NULL)
        *idempotent = it->idempotent;
    return 0;
}

/* ---- loading a config ------------------------------------------------------------------ */

/* Everything load_config builds before it commits. */
typedef struct cat_load {
    char *sep;
    size_t n;
    mcphub__cat_server **servers;  /* the new order; fresh ones marked */
    unsigned char *fresh;
    mcphub__cat_overrides *ovs;    /* the new overrides, by position */
    mcphub__map by_name;
    mcphub__cat_group **groups;
    size_t ngroups;
    mcphub__map group_by_name, group_by_id;
} cat_load;

static void load_free(const mcphub_catalog *c, cat_load *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->fresh != NULL && l->fresh[i])
            server_free(c, l->servers[i]);
        if (l->ovs != NULL)
            overrides_free(&l->ovs[i], &c->mem);
    }
    mcphub__free(&c->mem, l->servers);
    mcphub__free(&c->mem, l->fresh);
    mcphub__free(&c->mem, l->ovs);
    mcphub__map_free(&l->by_name);
    groups_free(c, l->groups, l->ngroups);
    mcphub__map_free(&l->group_by_name);
    mcphub__map_free(&l->group_by_id);
    mcphub__free(&c->mem, l->sep);
}

static int load_servers(const mcphub_catalog *c, const mcphub_config *cfg, cat_load *l)
{
    size_t i, j, n = mcphub_config_server_count(cfg);
    int rc, changed;

    if (n > c->max_servers)
        return MCPHUB_E_FULL;
    l->servers = mcphub__calloc(&c->mem, n ? n : 1, sizeof *l->servers);
    l->fresh = mcphub__calloc(&c->mem, n ? n : 1, 1);
    l->ovs = mcphub__calloc(&c->mem, n ? n : 1, sizeof *l->ovs);
    if (l->servers == NULL || l->fresh == NULL || l->ovs == NULL ||
        mcphub__map_reserve(&l->by_name, n) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        const mcphub_server_def *d = mcphub_config_server_at(cfg, i);
        mcphub__cat_server *s;

        if (!mcphub__cat_name_ok(d->name, MCPHUB_CATALOG_MAX_NAME) ||
            mcphub__map_get(&l->by_name, d->name) != NULL)
            return MCPHUB_E_INVAL;
        s = mcphub__cat_server_find(c, d->name);
        if (s == NULL) {
            if ((s = server_new(c, d->name)) == NULL)
                return MCPHUB_E_NOMEM;
            l->fresh[i] = 1;
        }
        l->servers[i] = s;
        overrides_init(&l->ovs[i], &c->mem, c->seed);
        l->n = i + 1;
        (void)mcphub__map_put(&l->by_name, s->name, s, NULL); /* reserved */
        for (j = 0; j < d->tools_len; j++) {
            const mcphub_tool_override *t = &d->tools[j];

            if (t->name == NULL || t->name[0] == '\0')
                return MCPHUB_E_INVAL;
            rc = overrides_put(c, &l->ovs[i], s->name, l->sep, t->name, t->enabled,
                               t->description, &changed);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int load_groups(const mcphub_catalog *c, const mcphub_config *cfg, cat_load *l)
{
    size_t i, n = mcphub_config_group_count(cfg);
    int rc;

    if (n > c->max_groups)
        return MCPHUB_E_FULL;
    l->groups = mcphub__calloc(&c->mem, n ? n : 1, sizeof *l->groups);
    if (l->groups == NULL || mcphub__map_reserve(&l->group_by_name, n) != 0 ||
        mcphub__map_reserve(&l->group_by_id, n) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        const mcphub_group_def *d = mcphub_config_group_at(cfg, i);
        mcphub__cat_group *g = NULL;

        rc = mcphub__cat_group_build(c, d->id, d->name, d->members, d->members_len, &g);
        if (rc == 0 && (mcphub__map_get(&l->group_by_name, g->name) != NULL ||
                        mcphub__map_get(&l->group_by_id, g->id) != NULL))
            rc = MCPHUB_E_EXISTS;
        if (rc != 0) {
            mcphub__cat_group_free(&c->mem, g);
            return rc;
        }
        l->groups[l->ngroups++] = g;
        (void)mcphub__map_put(&l->group_by_name, g->name, g, NULL); /* reserved */
        (void)mcphub__map_put(&l->group_by_id, g->id, g, NULL);
    }
    return 0;
}

int mcphub_catalog_load_config(mcphub_catalog *c, const mcphub_config *cfg)
{
    const mcphub_routing_settings *rt;
    const char *sep;
    cat_load l;
    size_t i;
    int rc;

    if (c == NULL || cfg == NULL)
        return MCPHUB_E_INVAL;
    rt = mcphub_config_routing(cfg);
    sep = rt->name_separator != NULL && rt->name_separator[0] != '\0' ? rt->name_separator : "-";
    if (!mcphub__cat_name_ok(sep, MCPHUB_CATALOG_MAX_SEPARATOR))
        return MCPHUB_E_INVAL;
    memset(&l, 0, sizeof l);
    mcphub__map_init(&l.by_name, &c->mem, c->seed);
    mcphub__map_init(&l.group_by_name, &c->mem, c->seed);
    mcphub__map_init(&l.group_by_id, &c->mem, c->seed);
    rc = MCPHUB_E_NOMEM;
    if ((l.sep = mcphub__strdup(&c->mem, sep)) != NULL)
        rc = load_servers(c, cfg, &l);
    if (rc == 0)
        rc = load_groups(c, cfg, &l);
    if (rc != 0) {
        load_free(c, &l);
        return rc;
    }

    /* Commit: nothing below can fail. */
    for (i = 0; i < c->nservers; i++)
        if (mcphub__map_get(&l.by_name, c->servers[i]->name) == NULL)
            server_free(c, c->servers[i]);
    for (i = 0; i < l.n; i++) {
        mcphub__cat_server *s = l.servers[i];

        overrides_free(&s->ov, &c->mem);
        s->ov = l.ovs[i];
        s->enabled = mcphub_config_server_at(cfg, i)->enabled != 0;
        s->pos = i;
    }
    mcphub__free(&c->mem, c->servers);
    mcphub__map_free(&c->server_by_name);
    c->servers = l.servers;
    c->nservers = c->cap_servers = l.n;
    c->server_by_name = l.by_name;
    groups_free(c, c->groups, c->ngroups);
    mcphub__map_free(&c->group_by_name);
    mcphub__map_free(&c->group_by_id);
    c->groups = l.groups;
    c->ngroups = c->cap_groups = l.ngroups;
    c->group_by_name = l.group_by_name;
    c->group_by_id = l.group_by_id;
    mcphub__free(&c->mem, c->sep);
    c->sep = l.sep;
    c->sep_len = strlen(l.sep);
    c->group_name_route = rt->enable_group_name_route != 0;
    mcphub__free(&c->mem, l.fresh);
    mcphub__free(&c->mem, l.ovs);
    mcphub__cat_bump_all(c);
    return 0;
}
