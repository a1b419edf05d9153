/* bearerKeys, and MCPHub's legacy single systemConfig.routing.bearerAuthKey
 * (which MCPHub migrates once into bearerKeys with accessType all). */
#include <stdio.h>
#include <string.h>

#include "config_int.h"

static const char *const access_names[] = {"all", "groups", "servers", "custom"};

static int read_key(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *v, const char *path,
                    size_t index, mcphub_bearer_key *k)
{
    mcphub__cfg_arena *a = &d->arena;
    const json_t *t;
    char p[128];
    int rc;
    size_t i;

    if (!json_is_object(v))
        return mcphub__cfg_bad(c, path, v, "an object");
    /* The token is a secret: messages never quote it. */
    t = json_object_get(v, "token");
    if (!json_is_string(t) || json_string_value(t)[0] == '\0')
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s.token must be a non-empty string", path);
    mcphub__cfg_path(p, sizeof p, "%s.token", path);
    rc = mcphub__cfg_read_str(c, a, t, p, &k->token);
    mcphub__cfg_path(p, sizeof p, "%s.id", path);
    if (rc == 0)
        rc = mcphub__cfg_read_str(c, a, json_object_get(v, "id"), p, &k->id);
    mcphub__cfg_path(p, sizeof p, "%s.name", path);
    if (rc == 0)
        rc = mcphub__cfg_read_str(c, a, json_object_get(v, "name"), p, &k->name);
    k->enabled = 1;
    mcphub__cfg_path(p, sizeof p, "%s.enabled", path);
    if (rc == 0)
        rc = mcphub__cfg_read_bool(c, json_object_get(v, "enabled"), p, &k->enabled);
    mcphub__cfg_path(p, sizeof p, "%s.allowedGroups", path);
    if (rc == 0)
        rc = mcphub__cfg_read_strlist(c, a, json_object_get(v, "allowedGroups"), p,
                                      &k->allowed_groups, &k->allowed_groups_len);
    mcphub__cfg_path(p, sizeof p, "%s.allowedServers", path);
    if (rc == 0)
        rc = mcphub__cfg_read_strlist(c, a, json_object_get(v, "allowedServers"), p,
                                      &k->allowed_servers, &k->allowed_servers_len);
    if (rc != 0)
        return rc;
    k->access = MCPHUB_KEY_ACCESS_ALL;
    t = json_object_get(v, "accessType");
    if (t != NULL) {
        k->access = 0;
        for (i = 0; i < 4; i++)
            if (json_is_string(t) && strcmp(json_string_value(t), access_names[i]) == 0)
                k->access = (mcphub_key_access)(i + 1);
        mcphub__cfg_path(p, sizeof p, "%s.accessType", path);
        if (k->access == 0)
            return mcphub__cfg_bad(c, p, t, "one of all, groups, servers, custom");
    }
    if (k->id == NULL) {
        mcphub__cfg_path(p, sizeof p, "key%zu", index + 1);
        k->id = mcphub__cfg_strdup(a, p);
        if (k->id == NULL)
            return MCPHUB_E_NOMEM;
    }
    if (k->name == NULL)
        k->name = k->id;
    return 0;
}

static int has_token(const mcphub__cfg_doc *d, const char *token)
{
    size_t i;

    for (i = 0; i < d->nkeys; i++)
        if (strcmp(d->keys[i].token, token) == 0)
            return 1;
    return 0;
}

int mcphub__cfg_keys_parse(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *keys,
                           const json_t *legacy_key)
{
    size_t i, n = 0;
    int rc;

    if (keys != NULL && !json_is_array(keys))
        return mcphub__cfg_bad(c, "bearerKeys", keys, "an array");
    if (legacy_key != NULL && !json_is_string(legacy_key))
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL,
                                "systemConfig.routing.bearerAuthKey must be a string");
    if (keys != NULL)
        n = json_array_size(keys);
    if (n + (legacy_key != NULL) > c->lim->max_keys)
        return mcphub__cfg_fail(c, MCPHUB_E_FULL, "bearerKeys has %zu keys, more than %zu",
                                n + (legacy_key != NULL), c->lim->max_keys);
    d->keys = mcphub__cfg_alloc(&d->arena, (n + 1) * sizeof *d->keys);
    if (d->keys == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        char p[64];

        mcphub__cfg_path(p, sizeof p, "bearerKeys[%zu]", i);
        rc = read_key(c, d, json_array_get(keys, i), p, i, &d->keys[i]);
        if (rc != 0)
            return rc;
        d->nkeys++;
    }
    /* The legacy key counts unless it was already migrated. */
    if (legacy_key != NULL && json_string_value(legacy_key)[0] != '\0' &&
        !has_token(d, json_string_value(legacy_key))) {
        mcphub_bearer_key *k = &d->keys[d->nkeys];

        rc = mcphub__cfg_read_str(c, &d->arena, legacy_key, "systemConfig.routing.bearerAuthKey",
                                  &k->token);
        if (rc != 0)
            return rc;
        k->id = "legacy";
        k->name = "bearerAuthKey";
        k->enabled = 1;
        k->access = MCPHUB_KEY_ACCESS_ALL;
        k->legacy = 1;
        d->nkeys++;
    }
    return 0;
}
