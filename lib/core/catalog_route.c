/* Routes and names: what a route covers, what is visible on it, and which
 * server an exposed name or a URI belongs to.
 *
 * A route is walked as "views": one per server it merges, with the prefix
 * that server's items get there (its name, or its alias in a group) and
 * the group member whose selections apply.  Resolving a name never scans
 * items: each split of the name at a separator is one prefix lookup (a
 * server, or a group member) and one item lookup, all in hash maps. */
#include <string.h>

#include "catalog_int.h"

static int live(const mcphub_catalog *c, const mcphub__cat_server *s)
{
    return s != NULL && s->enabled && (s->available || !c->hide_unavailable);
}

int mcphub__cat_route_find(const mcphub_catalog *c, const char *route, mcphub__cat_route *r)
{
    memset(r, 0, sizeof *r);
    if (route == NULL || route[0] == '\0') {
        r->kind = MCPHUB_ROUTE_GLOBAL;
        return 0;
    }
    /* MCPHub: group by name, then by id, then a server by name. */
    if (c->group_name_route)
        r->group = mcphub__map_get(&c->group_by_name, route);
    if (r->group == NULL)
        r->group = mcphub__map_get(&c->group_by_id, route);
    if (r->group != NULL) {
        r->kind = MCPHUB_ROUTE_GROUP;
        return 0;
    }
    if ((r->server = mcphub__cat_server_find(c, route)) != NULL) {
        r->kind = MCPHUB_ROUTE_SERVER;
        return 0;
    }
    return MCPHUB_E_NOTFOUND;
}

static int member_view(const mcphub_catalog *c, const mcphub__cat_member *m, mcphub__cat_view *v)
{
    const mcphub__cat_server *s = mcphub__cat_server_find(c, m->server);

    if (!live(c, s))
        return 0;
    v->srv = s;
    v->m = m;
    v->prefix = m->prefix;
    v->prefix_len = m->prefix_len;
    return 1;
}

static void server_view(const mcphub__cat_server *s, mcphub__cat_view *v)
{
    v->srv = s;
    v->m = NULL;
    v->prefix = s->name;
    v->prefix_len = s->name_len;
}

int mcphub__cat_view_next(const mcphub_catalog *c, const mcphub__cat_route *r, size_t *i,
                          mcphub__cat_view *v)
{
    switch (r->kind) {
    case MCPHUB_ROUTE_GLOBAL:
        for (; *i < c->nservers; (*i)++)
            if (live(c, c->servers[*i])) {
                server_view(c->servers[(*i)++], v);
                return 1;
            }
        return 0;
    case MCPHUB_ROUTE_GROUP:
        for (; *i < r->group->n; (*i)++)
            if (member_view(c, &r->group->members[*i], v)) {
                (*i)++;
                return 1;
            }
        return 0;
    case MCPHUB_ROUTE_SERVER:
        if (*i > 0 || !live(c, r->server))
            return 0;
        *i = 1;
        server_view(r->server, v);
        return 1;
    }
    return 0;
}

int mcphub__cat_visible(const mcphub_catalog *c, const mcphub__cat_view *v,
                        mcphub_catalog_list which, const mcphub__cat_item *it, int *too_long)
{
    static const int sel_of[MCPHUB__CAT_NLISTS] = {
        MCPHUB__CAT_SEL_TOOLS, MCPHUB__CAT_SEL_PROMPTS, MCPHUB__CAT_SEL_RESOURCES,
        MCPHUB__CAT_SEL_RESOURCES};

    if (too_long != NULL)
        *too_long = 0;
    if (which == MCPHUB_CATALOG_TOOLS) {
        const mcphub__cat_override *ov = mcphub__cat_override_find(v->srv, it->key);

        if (ov != NULL && !ov->enabled)
            return 0;
    }
    if (v->m != NULL && !mcphub__cat_sel_allows(&v->m->sel[sel_of[which]], which, it))
        return 0;
    if ((which == MCPHUB_CATALOG_TOOLS || which == MCPHUB_CATALOG_PROMPTS) &&
        v->prefix_len + c->sep_len + it->key_len > MCPHUB_CATALOG_MAX_EXPOSED) {
        if (too_long != NULL)
            *too_long = 1;
        return 0;
    }
    return 1;
}

/* ---- public: routes ------------------------------------------------------------- */

int mcphub_catalog_route_check(const mcphub_catalog *c, const char *route,
                               mcphub_route_kind *kind_out)
{
    mcphub__cat_route r;

    if (c == NULL || mcphub__cat_route_find(c, route, &r) != 0)
        return MCPHUB_E_NOTFOUND;
    if (kind_out != NULL)
        *kind_out = r.kind;
    return 0;
}

size_t mcphub_catalog_route_servers(const mcphub_catalog *c, const char *route,
                                    const char **out, size_t cap)
{
    mcphub__cat_route r;
    mcphub__cat_view v;
    size_t i = 0, n = 0;

    if (c == NULL || mcphub__cat_route_find(c, route, &r) != 0)
        return 0;
    while (mcphub__cat_view_next(c, &r, &i, &v)) {
        if (out != NULL && n < cap)
            out[n] = v.srv->name;
        n++;
    }
    return n;
}

/* ---- public: names -------------------------------------------------------------- */

/* The view of route r whose prefix is name[0..len), or 0.  *rank orders
 * views along the route. */
static int view_by_prefix(const mcphub_catalog *c, const mcphub__cat_route *r, const char *name,
                          size_t len, mcphub__cat_view *v, size_t *rank)
{
    const mcphub__cat_server *s;
    const mcphub__cat_member *m;

    switch (r->kind) {
    case MCPHUB_ROUTE_GLOBAL:
        s = mcphub__map_getn(&c->server_by_name, name, len);
        if (!live(c, s))
            return 0;
        server_view(s, v);
        *rank = s->pos;
        return 1;
    case MCPHUB_ROUTE_GROUP:
        m = mcphub__map_getn(&r->group->by_prefix, name, len);
        if (m == NULL || !member_view(c, m, v))
            return 0;
        *rank = (size_t)(m - r->group->members);
        return 1;
    case MCPHUB_ROUTE_SERVER:
        if (len != r->server->name_len || memcmp(name, r->server->name, len) != 0 ||
            !live(c, r->server))
            return 0;
        server_view(r->server, v);
        *rank = 0;
        return 1;
    }
    return 0;
}

static const mcphub__cat_item *lookup(const mcphub_catalog *c, const mcphub__cat_view *v,
                                      mcphub_catalog_list which, const char *key)
{
    const mcphub__cat_item *it = mcphub__map_get(&v->srv->lists[which].by_key, key);

    return it != NULL && mcphub__cat_visible(c, v, which, it, NULL) ? it : NULL;
}

/* A tool or prompt by exposed name; see mcphub_catalog_resolve_tool(). */
static int resolve_named(const mcphub_catalog *c, const char *route, mcphub_catalog_list which,
                         const char *name, const char **server_out, const char **name_out)
{
    const mcphub__cat_item *best = NULL;
    const mcphub__cat_server *best_srv = NULL;
    size_t best_rank = (size_t)-1, len;
    mcphub__cat_route r;
    mcphub__cat_view v;
    const char *p;

    if (c == NULL || name == NULL || server_out == NULL || name_out == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub__cat_route_find(c, route, &r) != 0)
        return MCPHUB_E_NOTFOUND;
    len = strlen(name);
    if (len == 0 || len > MCPHUB_CATALOG_MAX_EXPOSED)
        return MCPHUB_E_NOTFOUND;
    /* Every split at a separator: "a-b-c" is a + "b-c" or a-b + "c".  The
     * first server along the route that has the exact name wins. */
    for (p = strstr(name, c->sep); p != NULL; p = strstr(p + 1, c->sep)) {
        const mcphub__cat_item *it;
        size_t rank;

        if (!view_by_prefix(c, &r, name, (size_t)(p - name), &v, &rank) || rank >= best_rank)
            continue;
        if ((it = lookup(c, &v, which, p + c->sep_len)) != NULL) {
            best = it;
            best_srv = v.srv;
            best_rank = rank;
        }
    }
    /* A group or server route with one server also takes the bare
     * upstream name (the global route never does, as in MCPHub). */
    if (best == NULL && r.kind != MCPHUB_ROUTE_GLOBAL &&
        mcphub_catalog_route_servers(c, route, NULL, 0) == 1) {
        size_t i = 0;

        (void)mcphub__cat_view_next(c, &r, &i, &v);
        if ((best = lookup(c, &v, which, name)) != NULL)
            best_srv = v.srv;
    }
    if (best == NULL)
        return MCPHUB_E_NOTFOUND;
    *server_out = best_srv->name;
    *name_out = best->key;
    return 0;
}

int mcphub_catalog_resolve_tool(const mcphub_catalog *c, const char *route, const char *name,
                                const char **server_out, const char **tool_out)
{
    return resolve_named(c, route, MCPHUB_CATALOG_TOOLS, name, server_out, tool_out);
}

int mcphub_catalog_resolve_prompt(const mcphub_catalog *c, const char *route, const char *name,
                                  const char **server_out, const char **prompt_out)
{
    return resolve_named(c, route, MCPHUB_CATALOG_PROMPTS, name, server_out, prompt_out);
}

int mcphub_catalog_resolve_resource(const mcphub_catalog *c, const char *route, const char *uri,
                                    const char **server_out)
{
    const mcphub__cat_server *best = NULL;
    size_t i = 0, best_len = 0;
    mcphub__cat_route r;
    mcphub__cat_view v;

    if (c == NULL || uri == NULL || server_out == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub__cat_route_find(c, route, &r) != 0)
        return MCPHUB_E_NOTFOUND;
    while (mcphub__cat_view_next(c, &r, &i, &v)) {
        if (lookup(c, &v, MCPHUB_CATALOG_RESOURCES, uri) != NULL) {
            *server_out = v.srv->name;
            return 0;
        }
    }
    /* No exact URI: the template with the longest matching static part. */
    i = 0;
    while (mcphub__cat_view_next(c, &r, &i, &v)) {
        const mcphub__cat_list *l = &v.srv->lists[MCPHUB_CATALOG_TEMPLATES];
        size_t k;

        for (k = 0; k < l->n; k++) {
            const mcphub__cat_item *it = &l->items[k];

            if (it->prefix_len > best_len && strncmp(uri, it->key, it->prefix_len) == 0 &&
                mcphub__cat_visible(c, &v, MCPHUB_CATALOG_TEMPLATES, it, NULL)) {
                best = v.srv;
                best_len = it->prefix_len;
            }
        }
    }
    if (best == NULL)
        return MCPHUB_E_NOTFOUND;
    *server_out = best->name;
    return 0;
}
