/* Filling the master's catalog — each server's tools, prompts, resources and
 * templates — from one of its replicas, and telling clients when a list
 * changed.  Each server has one catalog session to a running replica; lists
 * are read after it opens, again when the server says a list changed, and
 * once a minute as a safety net. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/jsonrpc.h"
#include "mcphub/statefile.h"

#include "master_int.h"

#define CAT_ID_PREFIX "\"mcphub-cat-"
#define REFRESH_MS 60000
#define CATALOG_FILE "catalog.json"

static const struct {
    const char *method;
    const char *member;
    const char *notify;
} kinds[4] = {
    {"tools/list", "tools", "notifications/tools/list_changed"},
    {"prompts/list", "prompts", "notifications/prompts/list_changed"},
    {"resources/list", "resources", "notifications/resources/list_changed"},
    {"resources/templates/list", "resourceTemplates", "notifications/resources/list_changed"},
};

/* Keep a copy of what the catalog was given, for the state file. */
static void keep(mcphub_master *m, cat_server *cs, int slot, const char *text)
{
    char *copy = strdup(text);

    if (copy == NULL)
        return;
    free(cs->saved[slot]);
    cs->saved[slot] = copy;
    m->cat_dirty = 1;
}

static cat_server *entry(mcphub_master *m, const char *server)
{
    cat_server *cs = mcphub__map_get(&m->cat, server);

    if (cs != NULL)
        return cs;
    cs = calloc(1, sizeof *cs);
    if (cs == NULL || (cs->server = strdup(server)) == NULL ||
        mcphub__map_put(&m->cat, cs->server, cs, NULL) != 0) {
        if (cs != NULL)
            free(cs->server);
        free(cs);
        return NULL;
    }
    return cs;
}

/* The last lists of every server go to the state directory, so that a
 * restarted master lists tools at once instead of after its first reads. */
static void save(mcphub_master *m)
{
    static const char *const names[5] = {"initialize", "tools", "prompts", "resources",
                                         "resourceTemplates"};
    size_t i = 0, len = 0, cap = 4096;
    char *out = malloc(cap), err[256];
    const char *name;
    void *v;
    int first = 1, k;

    if (out == NULL)
        return;
    len = (size_t)snprintf(out, cap, "{\"version\":1,\"servers\":{");
    while (mcphub__map_next(&m->cat, &i, &name, &v)) {
        cat_server *cs = v;
        size_t need = strlen(name) + 64;

        for (k = 0; k < 5; k++)
            need += cs->saved[k] ? strlen(cs->saved[k]) + 32 : 0;
        if (len + need + 8 > cap) {
            char *bigger = realloc(out, cap = (len + need) * 2);

            if (bigger == NULL) {
                free(out);
                return;
            }
            out = bigger;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\":{", first ? "" : ",", name);
        first = 0;
        for (k = 0, need = 0; k < 5; k++)
            if (cs->saved[k] != NULL)
                len += (size_t)snprintf(out + len, cap - len, "%s\"%s\":%s", need++ ? "," : "",
                                        names[k], cs->saved[k]);
        len += (size_t)snprintf(out + len, cap - len, "}");
    }
    len += (size_t)snprintf(out + len, cap - len, "}}");
    if (mcphub_statefile_write(m->state_dir, CATALOG_FILE, out, len, err, sizeof err) != 0)
        mcphub__master_log(m, MCPHUB_LOG_WARN, "catalog_save_failed error=\"%s\"", err);
    else
        m->cat_dirty = 0;
    free(out);
}

void mcphub__master_catalog_restore(mcphub_master *m)
{
    static const char *const lists[4] = {"tools", "prompts", "resources", "resourceTemplates"};
    char *text = NULL, err[256];
    size_t len = 0, n = 0;
    json_t *root, *servers, *o, *v;
    const char *name;
    int k;

    if (m->state_dir == NULL ||
        mcphub_statefile_read(m->state_dir, CATALOG_FILE, &text, &len, 64u << 20, err,
                              sizeof err) != 0)
        return;
    root = json_loadb(text, len, 0, NULL);
    free(text);
    servers = json_object_get(root, "servers");
    json_object_foreach(servers, name, o) {
        cat_server *cs;
        char *s;

        if (mcphub_catalog_route_check(m->catalog, name, NULL) != 0 || (cs = entry(m, name)) == NULL)
            continue; /* a server no longer configured */
        if ((v = json_object_get(o, "initialize")) != NULL && (s = json_dumps(v, JSON_COMPACT)) != NULL) {
            mcphub_catalog_set_initialize(m->catalog, name, s, strlen(s));
            keep(m, cs, 0, s);
            free(s);
        }
        for (k = 0; k < 4; k++)
            if ((v = json_object_get(o, lists[k])) != NULL &&
                (s = json_dumps(v, JSON_COMPACT)) != NULL) {
                mcphub_catalog_set_list(m->catalog, name, (mcphub_catalog_list)k, s, strlen(s));
                keep(m, cs, k + 1, s);
                free(s);
            }
        n++;
    }
    json_decref(root);
    m->cat_dirty = 0;
    mcphub__master_log(m, MCPHUB_LOG_INFO, "catalog_restored servers=%zu", n);
}

static void ask(cat_server *cs, int k, const char *cursor)
{
    char msg[700];

    if (cursor != NULL)
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":" CAT_ID_PREFIX "%d\",\"method\":\"%s\","
                 "\"params\":{\"cursor\":\"%.500s\"}}",
                 k, kinds[k].method, cursor);
    else
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":" CAT_ID_PREFIX "%d\",\"method\":\"%s\"}", k,
                 kinds[k].method);
    if (cs->acc[k] == NULL)
        cs->acc[k] = json_array();
    mcphub__upstream_send(cs->up, msg, strlen(msg));
}

/* Ask for every list the server offers. */
static void refresh(mcphub_master *m, cat_server *cs)
{
    json_t *init = cs->up->init_result ? json_loads(cs->up->init_result, 0, NULL) : NULL;
    json_t *caps = json_object_get(init, "capabilities");
    int k;

    if (init != NULL && !cs->initialized) {
        mcphub_catalog_set_initialize(m->catalog, cs->server, cs->up->init_result,
                                      strlen(cs->up->init_result));
        keep(m, cs, 0, cs->up->init_result);
        cs->initialized = 1;
    }
    for (k = 0; k < 4; k++) {
        const char *cap = k == 0 ? "tools" : k == 1 ? "prompts" : "resources";

        if (init != NULL && json_object_get(caps, cap) == NULL)
            continue;
        json_decref(cs->acc[k]);
        cs->acc[k] = NULL;
        ask(cs, k, NULL);
    }
    cs->refreshed_ms = mcphub__master_now(m);
    json_decref(init);
}

/* Clients hear of any list that changed (one notification per kind). */
static void announce(mcphub_master *m)
{
    int k;

    for (k = 0; k < 4; k++) {
        uint64_t g = mcphub_catalog_generation(m->catalog, (mcphub_catalog_list)k);
        char msg[128];

        if (g == m->cat_generation[k])
            continue;
        m->cat_generation[k] = g;
        if (k == 3 && mcphub_catalog_generation(m->catalog, MCPHUB_CATALOG_RESOURCES) !=
                          m->cat_generation[2])
            continue; /* resources already announced */
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}", kinds[k].notify);
        mcphub_mcp_http_broadcast(m->mcp, NULL, msg, strlen(msg));
    }
}

static void on_cat_message(upstream *up, const char *json, size_t len, void *user_data)
{
    mcphub_master *m = user_data;
    cat_server *cs = mcphub__map_get(&m->cat, up->server);
    mcphub_jsonrpc_msg msg;
    json_t *resp, *result, *items, *v;
    const char *cursor;
    size_t i;
    int k;

    if (cs == NULL || mcphub_jsonrpc_classify(&msg, json, len, 0) != 0)
        return;
    if (msg.kind == MCPHUB_JSONRPC_NOTIFICATION) {
        for (k = 0; k < 4; k++)
            if (strcmp(msg.method, kinds[k].notify) == 0) {
                json_decref(cs->acc[k]);
                cs->acc[k] = NULL;
                ask(cs, k, NULL);
            }
        return;
    }
    if ((msg.kind != MCPHUB_JSONRPC_RESPONSE && msg.kind != MCPHUB_JSONRPC_ERROR) ||
        msg.id.len != sizeof CAT_ID_PREFIX + 1 ||
        memcmp(msg.id.ptr, CAT_ID_PREFIX, sizeof CAT_ID_PREFIX - 1) != 0)
        return;
    k = msg.id.ptr[sizeof CAT_ID_PREFIX - 1] - '0';
    if (k < 0 || k > 3 || cs->acc[k] == NULL)
        return;
    resp = json_loadb(json, len, 0, NULL);
    result = json_object_get(resp, "result");
    if (msg.kind == MCPHUB_JSONRPC_ERROR || !json_is_object(result)) {
        /* A read that failed keeps the list we have: a replica that cannot
         * be reached (its worker died) must not empty the server's lists
         * for every client until the next read. */
        mcphub__master_log(m, MCPHUB_LOG_WARN,
                           "catalog_read_failed server=%s replica=%s list=%s error=\"%.*s\"",
                           cs->server, up->replica, kinds[k].method,
                           (int)(msg.error_message.len > 2 ? msg.error_message.len - 2 : 0),
                           msg.error_message.len > 2 ? msg.error_message.ptr + 1 : "");
        json_decref(cs->acc[k]);
        cs->acc[k] = NULL;
        json_decref(resp);
        if (msg.kind == MCPHUB_JSONRPC_ERROR && msg.error_code == MCPHUB_MCP_CLIENT_TRANSPORT_ERROR &&
            cs->up == up) {
            /* read again through another session at the next tick */
            cs->up = NULL;
            mcphub__upstream_close(up);
        }
        return;
    }
    items = json_object_get(result, kinds[k].member);
    json_array_foreach(items, i, v) json_array_append(cs->acc[k], v);
    cursor = json_string_value(json_object_get(result, "nextCursor"));
    if (cursor != NULL && *cursor != '\0' && json_array_size(cs->acc[k]) < 100000) {
        ask(cs, k, cursor);
    } else {
        char *s = json_dumps(cs->acc[k], JSON_COMPACT);

        if (s != NULL) {
            mcphub_catalog_set_list(m->catalog, cs->server, (mcphub_catalog_list)k, s, strlen(s));
            keep(m, cs, k + 1, s);
        }
        free(s);
        json_decref(cs->acc[k]);
        cs->acc[k] = NULL;
        announce(m);
    }
    json_decref(resp);
}

static void on_cat_closed(upstream *up, const char *why, void *user_data)
{
    mcphub_master *m = user_data;
    cat_server *cs = mcphub__map_get(&m->cat, up->server);

    (void)why;
    if (cs != NULL && cs->up == up) {
        cs->up = NULL;
        mcphub__upstream_close(up);
    }
}

/* A running replica of server to read the lists from. */
static int pick(mcphub_master *m, const char *server, const char **replica, const char **node)
{
    size_t i, n;

    if (!m->cluster) {
        mcphub_runner *r = mcphub__master_local(m, server);

        *replica = NULL;
        *node = NULL;
        return r != NULL && mcphub_runner_status(r) == MCPHUB_REPLICA_RUNNING;
    }
    n = mcphub_coordinator_replica_count(m->coord);
    for (i = 0; i < n; i++) {
        const mcphub_replica *r = mcphub_coordinator_replica_at(m->coord, i);
        const mcphub_node *nd = mcphub_registry_get(mcphub_coordinator_registry(m->coord), r->node);

        if (strcmp(r->server, server) == 0 && r->status == MCPHUB_REPLICA_RUNNING && nd != NULL &&
            nd->status == MCPHUB_NODE_ONLINE) {
            *replica = r->id;
            *node = r->node;
            return 1;
        }
    }
    return 0;
}

static void tend(mcphub_master *m, const char *server)
{
    cat_server *cs = entry(m, server);
    upstream_owner owner = {on_cat_message, on_cat_closed, m};
    const char *replica = NULL, *node = NULL;
    int up_ok = pick(m, server, &replica, &node);

    mcphub_catalog_set_available(m->catalog, server, up_ok);
    if (cs == NULL)
        return;
    /* first read once the session is ready, then every REFRESH_MS */
    if (cs->up != NULL && cs->up->state == UP_READY &&
        (cs->refreshed_ms == 0 || mcphub__master_now(m) - cs->refreshed_ms >= REFRESH_MS))
        refresh(m, cs);
    if (cs->up != NULL || !up_ok)
        return;
    cs->up = mcphub__upstream_open(m, server, replica, node,
                                   "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                                   "\"clientInfo\":{\"name\":\"mcphub-master-catalog\","
                                   "\"version\":\"1\"}}",
                                   &owner);
    cs->refreshed_ms = 0;
    cs->initialized = 0;
}

void mcphub__master_catalog_tick(mcphub_master *m)
{
    size_t i, n;

    if (m->cluster) {
        n = mcphub_coordinator_server_count(m->coord);
        for (i = 0; i < n; i++) {
            mcphub_server_state st;

            if (mcphub_coordinator_server_at(m->coord, i, &st) == 0)
                tend(m, st.server);
        }
    } else {
        size_t k = 0;
        const char *name;

        while (mcphub__map_next(&m->locals, &k, &name, NULL))
            tend(m, name);
    }
    announce(m);
    if (m->cat_dirty && m->state_dir != NULL)
        save(m);
}

void mcphub__master_catalog_drop(mcphub_master *m, const char *server)
{
    cat_server *cs = mcphub__map_del(&m->cat, server);
    int k;

    if (cs == NULL)
        return;
    mcphub__upstream_close(cs->up);
    for (k = 0; k < 4; k++)
        json_decref(cs->acc[k]);
    for (k = 0; k < 5; k++)
        free(cs->saved[k]);
    free(cs->server);
    free(cs);
}

void mcphub__master_catalog_free(mcphub_master *m)
{
    size_t i = 0;
    const char *name;

    while (mcphub__map_next(&m->cat, &i, &name, NULL))
        mcphub__master_catalog_drop(m, name);
    mcphub__map_free(&m->cat);
}
