/* Groups: members in order, each with an exposed prefix (alias or server
 * name) and selections of tools, prompts and resources.  A group is built
 * whole from the caller's data and then swapped in, so a failed call
 * changes nothing. */
#include <string.h>

#include "catalog_int.h"

static void sel_free(const mcphub__mem *mem, mcphub__cat_sel *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        mcphub__free(mem, s->names[i]);
    mcphub__free(mem, s->names);
    mcphub__map_free(&s->set);
    s->names = NULL;
    s->n = 0;
}

static int sel_build(const mcphub_catalog *c, const mcphub_name_list *in, mcphub__cat_sel *s)
{
    size_t i;

    s->all = in->all != 0;
    if (s->all)
        return 0;
    if (in->len > c->max_items)
        return MCPHUB_E_FULL;
    if (in->len > 0 && in->names == NULL)
        return MCPHUB_E_INVAL;
    if ((s->names = mcphub__calloc(&c->mem, in->len ? in->len : 1, sizeof *s->names)) == NULL ||
        mcphub__map_reserve(&s->set, in->len) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < in->len; i++) {
        if (in->names[i] == NULL)
            return MCPHUB_E_INVAL;
        if ((s->names[i] = mcphub__strdup(&c->mem, in->names[i])) == NULL)
            return MCPHUB_E_NOMEM;
        s->n = i + 1;
        (void)mcphub__map_put(&s->set, s->names[i], s->names[i], NULL); /* reserved */
    }
    return 0;
}

int mcphub__cat_sel_allows(const mcphub__cat_sel *sel, mcphub_catalog_list which,
                           const mcphub__cat_item *it)
{
    size_t i;

    if (sel->all || mcphub__map_get(&sel->set, it->key) != NULL)
        return 1;
    if (which != MCPHUB_CATALOG_TEMPLATES || it->prefix_len == 0)
        return 0;
    /* A template also comes with any selected URI it would serve. */
    for (i = 0; i < sel->n; i++)
        if (strncmp(sel->names[i], it->key, it->prefix_len) == 0)
            return 1;
    return 0;
}

void mcphub__cat_group_free(const mcphub__mem *mem, mcphub__cat_group *g)
{
    size_t i, k;

    if (g == NULL)
        return;
    for (i = 0; i < g->n; i++) {
        mcphub__cat_member *m = &g->members[i];

        mcphub__free(mem, m->server);
        mcphub__free(mem, m->prefix);
        for (k = 0; k < 3; k++)
            sel_free(mem, &m->sel[k]);
    }
    mcphub__free(mem, g->members);
    mcphub__map_free(&g->by_prefix);
    mcphub__free(mem, g->id);
    mcphub__free(mem, g->name);
    mcphub__free(mem, g);
}

static int member_build(const mcphub_catalog *c, const mcphub_group_member *in,
                        mcphub__cat_member *m)
{
    const char *prefix = in->alias != NULL && in->alias[0] != '\0' ? in->alias : in->server;
    int rc;

    if (!mcphub__cat_name_ok(in->server, MCPHUB_CATALOG_MAX_NAME) ||
        !mcphub__cat_name_ok(prefix, MCPHUB_CATALOG_MAX_NAME))
        return MCPHUB_E_INVAL;
    if ((m->server = mcphub__strdup(&c->mem, in->server)) == NULL ||
        (m->prefix = mcphub__strdup(&c->mem, prefix)) == NULL)
        return MCPHUB_E_NOMEM;
    m->prefix_len = strlen(prefix);
    if ((rc = sel_build(c, &in->tools, &m->sel[MCPHUB__CAT_SEL_TOOLS])) != 0 ||
        (rc = sel_build(c, &in->prompts, &m->sel[MCPHUB__CAT_SEL_PROMPTS])) != 0)
        return rc;
    return sel_build(c, &in->resources, &m->sel[MCPHUB__CAT_SEL_RESOURCES]);
}

int mcphub__cat_group_build(const mcphub_catalog *c, const char *id, const char *name,
                            const mcphub_group_member *members, size_t n,
                            mcphub__cat_group **out)
{
    mcphub__cat_group *g;
    size_t i, k;
    int rc;

    *out = NULL;
    if (id == NULL || id[0] == '\0')
        id = name;
    if (!mcphub__cat_name_ok(name, MCPHUB_CATALOG_MAX_NAME) ||
        !mcphub__cat_name_ok(id, MCPHUB_CATALOG_MAX_NAME) || (n > 0 && members == NULL))
        return MCPHUB_E_INVAL;
    if (n > c->max_servers)
        return MCPHUB_E_FULL;
    if ((g = mcphub__calloc(&c->mem, 1, sizeof *g)) == NULL)
        return MCPHUB_E_NOMEM;
    *out = g;
    mcphub__map_init(&g->by_prefix, &c->mem, c->seed);
    if ((g->id = mcphub__strdup(&c->mem, id)) == NULL ||
        (g->name = mcphub__strdup(&c->mem, name)) == NULL ||
        (g->members = mcphub__calloc(&c->mem, n ? n : 1, sizeof *g->members)) == NULL ||
        mcphub__map_reserve(&g->by_prefix, n) != 0)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        mcphub__cat_member *m = &g->members[i];

        for (k = 0; k < 3; k++)
            mcphub__map_init(&m->sel[k].set, &c->mem, c->seed);
        g->n = i + 1; /* freed with the group from here on */
        if ((rc = member_build(c, &members[i], m)) != 0)
            return rc;
        /* Two members exposing one prefix would make names ambiguous
         * (MCPHub refuses to save such a group). */
        if (mcphub__map_get(&g->by_prefix, m->prefix) != NULL)
            return MCPHUB_E_EXISTS;
        (void)mcphub__map_put(&g->by_prefix, m->prefix, m, NULL); /* reserved */
    }
    return 0;
}

static size_t group_index(const mcphub_catalog *c, const mcphub__cat_group *g)
{
    size_t i;

    for (i = 0; i < c->ngroups && c->groups[i] != g; i++)
        ;
    return i;
}

int mcphub_catalog_set_group(mcphub_catalog *c, const char *id, const char *name,
                             const mcphub_group_member *members, size_t n)
{
    mcphub__cat_group *g = NULL, *old, *other;
    int rc;

    if (c == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__cat_group_build(c, id, name, members, n, &g)) != 0)
        goto fail;
    old = mcphub__map_get(&c->group_by_id, g->id);
    other = mcphub__map_get(&c->group_by_name, g->name);
    rc = MCPHUB_E_EXISTS;
    if (other != NULL && other != old)
        goto fail;
    rc = MCPHUB_E_FULL;
    if (old == NULL && c->ngroups >= c->max_groups)
        goto fail;
    rc = MCPHUB_E_NOMEM;
    if (mcphub__map_reserve(&c->group_by_id, 1) != 0 ||
        mcphub__map_reserve(&c->group_by_name, 1) != 0)
        goto fail;
    if (old == NULL && c->ngroups == c->cap_groups) {
        size_t cap = c->cap_groups ? c->cap_groups * 2 : 8;
        mcphub__cat_group **v = mcphub__reallocarray(&c->mem, c->groups, cap, sizeof *v);

        if (v == NULL)
            goto fail;
        c->groups = v;
        c->cap_groups = cap;
    }

    /* Commit. */
    if (old != NULL) {
        c->groups[group_index(c, old)] = g;
        (void)mcphub__map_del(&c->group_by_id, old->id);
        (void)mcphub__map_del(&c->group_by_name, old->name);
        mcphub__cat_group_free(&c->mem, old);
    } else {
        c->groups[c->ngroups++] = g;
    }
    (void)mcphub__map_put(&c->group_by_id, g->id, g, NULL);
    (void)mcphub__map_put(&c->group_by_name, g->name, g, NULL);
    mcphub__cat_bump_all(c);
    return 0;
fail:
    mcphub__cat_group_free(&c->mem, g);
    return rc;
}

int mcphub_catalog_remove_group(mcphub_catalog *c, const char *id)
{
    mcphub__cat_group *g;
    size_t i;

    if (c == NULL || id == NULL)
        return MCPHUB_E_INVAL;
    if ((g = mcphub__map_get(&c->group_by_id, id)) == NULL)
        return MCPHUB_E_NOTFOUND;
    (void)mcphub__map_del(&c->group_by_id, g->id);
    (void)mcphub__map_del(&c->group_by_name, g->name);
    for (i = group_index(c, g) + 1; i < c->ngroups; i++)
        c->groups[i - 1] = c->groups[i];
    c->ngroups--;
    mcphub__cat_group_free(&c->mem, g);
    mcphub__cat_bump_all(c);
    return 0;
}
