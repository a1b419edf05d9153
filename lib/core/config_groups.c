/* groups: MCPHub's array form, and the object-map form its docs show,
 * converted to the same mcphub_group_def. */
#include <stdio.h>
#include <string.h>

#include "config_int.h"

static int read_selection(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                          const char *path, mcphub_name_list *out)
{
    out->all = 1;
    if (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), "all") == 0))
        return 0;
    if (!json_is_array(v))
        return mcphub__cfg_bad(c, path, v, "\"all\" or an array of strings");
    out->all = 0;
    return mcphub__cfg_read_strlist(c, a, v, path, &out->names, &out->len);
}

/* A plain string member is {name, tools: "all", prompts: "all",
 * resources: "all"} (MCPHub's normalizeGroupServers). */
static int read_member(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                       const char *path, mcphub_group_member *m)
{
    char p[300];
    int rc;

    m->tools.all = m->prompts.all = m->resources.all = 1;
    if (json_is_string(v))
        return mcphub__cfg_read_str(c, a, v, path, &m->server);
    if (!json_is_object(v))
        return mcphub__cfg_bad(c, path, v, "a server name or an object");
    mcphub__cfg_path(p, sizeof p, "%s.name", path);
    if (!json_is_string(json_object_get(v, "name")))
        return json_object_get(v, "name") == NULL
                   ? mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s is required", p)
                   : mcphub__cfg_bad(c, p, json_object_get(v, "name"), "a string");
    rc = mcphub__cfg_read_str(c, a, json_object_get(v, "name"), p, &m->server);
    mcphub__cfg_path(p, sizeof p, "%s.alias", path);
    if (rc == 0)
        rc = mcphub__cfg_read_str(c, a, json_object_get(v, "alias"), p, &m->alias);
    mcphub__cfg_path(p, sizeof p, "%s.tools", path);
    if (rc == 0)
        rc = read_selection(c, a, json_object_get(v, "tools"), p, &m->tools);
    mcphub__cfg_path(p, sizeof p, "%s.prompts", path);
    if (rc == 0)
        rc = read_selection(c, a, json_object_get(v, "prompts"), p, &m->prompts);
    mcphub__cfg_path(p, sizeof p, "%s.resources", path);
    if (rc == 0)
        rc = read_selection(c, a, json_object_get(v, "resources"), p, &m->resources);
    return rc;
}

static const char *exposed(const mcphub_group_member *m)
{
    return m->alias != NULL && m->alias[0] != '\0' ? m->alias : m->server;
}

/* Members naming unknown servers, or exposing a name an earlier member
 * already exposes, are dropped with a warning, as MCPHub drops them on
 * save. */
static int read_members(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *v,
                        const char *path, mcphub_group_def *g)
{
    mcphub_group_member *members;
    size_t i, j, n, kept = 0;
    int rc;

    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return mcphub__cfg_bad(c, path, v, "an array");
    n = json_array_size(v);
    if (n > c->lim->max_items)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "%s has %zu items, more than %zu", path, n,
                                c->lim->max_items);
    members = mcphub__cfg_alloc(&d->arena, n * sizeof *members);
    if (members == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        mcphub_group_member *m = &members[kept];
        char p[300];
        int dup = 0;

        mcphub__cfg_path(p, sizeof p, "%s[%zu]", path, i);
        rc = read_member(c, &d->arena, json_array_get(v, i), p, m);
        if (rc != 0)
            return rc;
        if (mcphub__map_get(&d->server_by_name, m->server) == NULL) {
            rc = mcphub__cfg_warn(d, "%s: unknown server \"%s\" dropped", p, m->server);
            if (rc != 0)
                return rc;
            continue;
        }
        for (j = 0; j < kept; j++)
            dup |= strcmp(exposed(&members[j]), exposed(m)) == 0;
        if (dup) {
            rc = mcphub__cfg_warn(d, "%s: \"%s\" is already exposed in this group; dropped", p,
                                  exposed(m));
            if (rc != 0)
                return rc;
            continue;
        }
        kept++;
    }
    g->members = members;
    g->members_len = kept;
    return 0;
}

/* name and id must be unique: a route names a group by either. */
static int index_group(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, mcphub_group_def *g,
                       const char *path)
{
    int rc;

    if (mcphub__map_get(&d->group_by_name, g->name) != NULL)
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s.name (\"%s\") is used by another group",
                                path, g->name);
    if (mcphub__map_get(&d->group_by_id, g->id) != NULL)
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s.id (\"%s\") is used by another group",
                                path, g->id);
    rc = mcphub__map_put(&d->group_by_name, g->name, g, NULL);
    if (rc == 0)
        rc = mcphub__map_put(&d->group_by_id, g->id, g, NULL);
    return rc;
}

/* One group; name is the map key in the object form, else NULL. */
static int read_group(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const char *name, const json_t *v,
                      const char *path, mcphub_group_def *g)
{
    const json_t *servers = v;
    char p[280];
    int rc = 0;

    if (name != NULL) {
        g->name = mcphub__cfg_strdup(&d->arena, name);
        if (g->name == NULL)
            return MCPHUB_E_NOMEM;
    }
    if (json_is_object(v)) {
        servers = json_object_get(v, "servers");
        mcphub__cfg_path(p, sizeof p, "%s.name", path);
        if (name == NULL) {
            const json_t *n = json_object_get(v, "name");

            if (n == NULL)
                return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s is required", p);
            rc = mcphub__cfg_read_str(c, &d->arena, n, p, &g->name);
            if (rc == 0 && g->name[0] == '\0')
                return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s must not be empty", p);
        }
        mcphub__cfg_path(p, sizeof p, "%s.id", path);
        if (rc == 0)
            rc = mcphub__cfg_read_str(c, &d->arena, json_object_get(v, "id"), p, &g->id);
        mcphub__cfg_path(p, sizeof p, "%s.description", path);
        if (rc == 0)
            rc = mcphub__cfg_read_str(c, &d->arena, json_object_get(v, "description"), p,
                                      &g->description);
        if (rc != 0)
            return rc;
    } else if (name == NULL || !json_is_array(v)) {
        return mcphub__cfg_bad(c, path, v, name == NULL ? "an object" : "an object or an array");
    }
    if (g->id == NULL || g->id[0] == '\0')
        g->id = g->name;
    mcphub__cfg_path(p, sizeof p, "%s.servers", path);
    rc = read_members(c, d, servers, p, g);
    if (rc != 0)
        return rc;
    return index_group(c, d, g, path);
}

int mcphub__cfg_groups_parse(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *groups)
{
    size_t i = 0, n;
    int rc;

    if (groups == NULL)
        return 0;
    if (!json_is_array(groups) && !json_is_object(groups))
        return mcphub__cfg_bad(c, "groups", groups, "an array");
    n = json_is_array(groups) ? json_array_size(groups) : json_object_size(groups);
    if (n > c->lim->max_groups)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "groups has %zu groups, more than %zu", n,
                                c->lim->max_groups);
    d->groups = mcphub__cfg_alloc(&d->arena, n * sizeof *d->groups);
    if (d->groups == NULL)
        return MCPHUB_E_NOMEM;
    rc = mcphub__map_reserve(&d->group_by_name, n);
    if (rc == 0)
        rc = mcphub__map_reserve(&d->group_by_id, n);
    if (rc != 0)
        return rc;
    if (json_is_array(groups)) {
        for (i = 0; i < n; i++) {
            char p[64];

            mcphub__cfg_path(p, sizeof p, "groups[%zu]", i);
            rc = read_group(c, d, NULL, json_array_get(groups, i), p, &d->groups[i]);
            if (rc != 0)
                return rc;
            d->ngroups++;
        }
    } else {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)(uintptr_t)groups, key, v) {
            char p[280];

            mcphub__cfg_path(p, sizeof p, "groups.%s", key);
            if (key[0] == '\0')
                return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "groups: a group name must not be empty");
            rc = read_group(c, d, key, v, p, &d->groups[d->ngroups]);
            if (rc != 0)
                return rc;
            d->ngroups++;
        }
    }
    return 0;
}
