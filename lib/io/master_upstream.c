/* One MCP session from the master to one replica, on behalf of one client
 * session (or of the catalog).  Remote replicas are reached over Streamable
 * HTTP at their worker's /mcp/:server?replica=ID with the cluster token; the
 * handshake is sent with the client's own initialize params, so the server
 * sees the capabilities the client declared.  Local replicas (standalone)
 * are a runner session: the runner did the handshake once for everyone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/jsonrpc.h"

#include "master_int.h"

#define INIT_ID "\"mcphub-upstream-init\""
#define MAX_QUEUED 64

static void up_free(upstream *up)
{
    size_t i;

    for (i = 0; i < up->queued; i++)
        free(up->queue[i]);
    free(up->queue);
    free(up->queue_len);
    free(up->server);
    free(up->replica);
    free(up->node);
    free(up->init_params);
    free(up->init_result);
    free(up);
}

static void closed(upstream *up, const char *why)
{
    if (up->state == UP_CLOSED)
        return;
    up->state = UP_CLOSED;
    snprintf(up->why, sizeof up->why, "%s", why);
    mcphub__master_log(up->m, MCPHUB_LOG_INFO, "upstream_closed server=%s replica=%s reason=\"%s\"",
                       up->server, up->replica, why);
    if (up->owner.on_closed != NULL)
        up->owner.on_closed(up, why, up->owner.user_data);
}

static int raw_send(upstream *up, const char *json, size_t len)
{
    int rc;

    if (up->runner != NULL) {
        rc = mcphub_runner_from_downstream(up->runner, up->serial, json, len);
        return rc > 0 ? 0 : rc;
    }
    return mcphub_mcp_client_send(up->client, json, len);
}

static void flush(upstream *up)
{
    size_t i;

    for (i = 0; i < up->queued; i++) {
        raw_send(up, up->queue[i], up->queue_len[i]);
        free(up->queue[i]);
    }
    up->queued = 0;
}

/* ---- remote ------------------------------------------------------------------------- */

static void on_client_message(mcphub_mcp_client *c, const char *json, size_t len, void *user_data)
{
    upstream *up = user_data;
    mcphub_jsonrpc_msg msg;

    (void)c;
    if (up->state == UP_CONNECTING && mcphub_jsonrpc_classify(&msg, json, len, 0) == 0 &&
        (msg.kind == MCPHUB_JSONRPC_RESPONSE || msg.kind == MCPHUB_JSONRPC_ERROR) &&
        msg.id.len == sizeof INIT_ID - 1 && memcmp(msg.id.ptr, INIT_ID, msg.id.len) == 0) {
        static const char initialized[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

        if (msg.kind == MCPHUB_JSONRPC_ERROR) {
            closed(up, "the replica refused initialize");
            return;
        }
        free(up->init_result);
        up->init_result = msg.result.len ? strndup(msg.result.ptr, msg.result.len) : NULL;
        mcphub_mcp_client_send(up->client, initialized, sizeof initialized - 1);
        up->state = UP_READY;
        flush(up);
        return;
    }
    if (up->state != UP_CLOSED && up->owner.on_message != NULL)
        up->owner.on_message(up, json, len, up->owner.user_data);
}

static void on_client_closed(mcphub_mcp_client *c, const char *why, void *user_data)
{
    (void)c;
    closed(user_data, why ? why : "connection closed");
}

static int open_remote(upstream *up, const char *init_params)
{
    mcphub_master *m = up->m;
    const mcphub_node *n = mcphub_registry_get(mcphub_coordinator_registry(m->coord), up->node);
    mcphub_mcp_client_opts o;
    mcphub_http_kv hd[1] = {{"X-Cluster-Token", m->token ? m->token : ""}};
    mcphub_mem mm = {sizeof mm, m->mem.malloc_fn, m->mem.realloc_fn, m->mem.free_fn,
                     m->mem.user_data};
    char url[768], *init;
    size_t n_init;
    int rc;

    if (n == NULL)
        return MCPHUB_E_NOTFOUND;
    snprintf(url, sizeof url, "%s://%s:%u/mcp/%s?replica=%s", m->tls_ca ? "https" : "http",
             n->host, (unsigned)(n->internal_port ? n->internal_port : n->port), up->server,
             up->replica);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = m->loop;
    o.http = m->client;
    o.url = url;
    o.headers = hd;
    o.n_headers = m->token && *m->token ? 1 : 0;
    o.transport = MCPHUB_MCP_TRANSPORT_STREAMABLE;
    o.open_get_stream = 1;
    o.on_message = on_client_message;
    o.on_closed = on_client_closed;
    o.user_data = up;
    o.log = m->log;
    o.log_user_data = m->log_user_data;
    if ((rc = mcphub_mcp_client_new(&up->client, &o, &mm)) != 0)
        return rc;
    n_init = strlen(init_params) + 128;
    init = malloc(n_init);
    if (init == NULL)
        return MCPHUB_E_NOMEM;
    snprintf(init, n_init, "{\"jsonrpc\":\"2.0\",\"id\":" INIT_ID ",\"method\":\"initialize\",\"params\":%s}",
             init_params);
    rc = mcphub_mcp_client_send(up->client, init, strlen(init));
    free(init);
    up->state = UP_CONNECTING;
    return rc;
}

/* ---- local -------------------------------------------------------------------------- */

int mcphub__master_local_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                    size_t len, const char *related, void *user_data)
{
    mcphub_master *m = user_data;
    char key[24];
    upstream *up;

    (void)r;
    (void)related;
    snprintf(key, sizeof key, "%llu", (unsigned long long)session);
    up = mcphub__map_get(&m->upstream_serials, key);
    if (up == NULL || up->state == UP_CLOSED)
        return 0;
    if (up->owner.on_message != NULL)
        up->owner.on_message(up, json, len, up->owner.user_data);
    return 0;
}

static uint32_t caps_of(const char *init_params)
{
    json_t *p = json_loads(init_params, 0, NULL), *caps = json_object_get(p, "capabilities");
    uint32_t f = 0;

    if (json_object_get(caps, "sampling") != NULL)
        f |= MCPHUB_MCP_CAP_SAMPLING;
    if (json_object_get(caps, "elicitation") != NULL)
        f |= MCPHUB_MCP_CAP_ELICITATION;
    if (json_object_get(caps, "roots") != NULL)
        f |= MCPHUB_MCP_CAP_ROOTS;
    json_decref(p);
    return f;
}

static int open_local(upstream *up, const char *init_params)
{
    mcphub_master *m = up->m;
    int rc;

    up->runner = mcphub__master_local(m, up->server);
    if (up->runner == NULL || mcphub_runner_status(up->runner) != MCPHUB_REPLICA_RUNNING)
        return MCPHUB_E_UNAVAILABLE;
    up->serial = ++m->next_serial;
    snprintf(up->key, sizeof up->key, "%llu", (unsigned long long)up->serial);
    if ((rc = mcphub_runner_session_open(up->runner, up->serial, caps_of(init_params))) != 0)
        return rc;
    if (mcphub__map_put(&m->upstream_serials, up->key, up, NULL) != 0) {
        mcphub_runner_session_close(up->runner, up->serial);
        return MCPHUB_E_NOMEM;
    }
    up->state = UP_READY;
    if (mcphub_runner_initialize_result(up->runner) != NULL)
        up->init_result = strdup(mcphub_runner_initialize_result(up->runner));
    return 0;
}

/* ---- public -------------------------------------------------------------------------- */

upstream *mcphub__upstream_open(mcphub_master *m, const char *server, const char *replica,
                                const char *node, const char *init_params,
                                const upstream_owner *owner)
{
    upstream *up = calloc(1, sizeof *up);
    int rc;

    if (up == NULL)
        return NULL;
    up->m = m;
    up->owner = *owner;
    up->server = strdup(server);
    up->replica = strdup(replica ? replica : "local");
    up->node = strdup(node ? node : m->node_id);
    up->init_params = strdup(init_params ? init_params : "{}");
    if (up->server == NULL || up->replica == NULL || up->node == NULL || up->init_params == NULL) {
        up_free(up);
        return NULL;
    }
    rc = m->cluster ? open_remote(up, up->init_params) : open_local(up, up->init_params);
    if (rc != 0) {
        mcphub__master_log(m, MCPHUB_LOG_WARN, "upstream_open_failed server=%s replica=%s error=\"%s\"",
                           server, up->replica, mcphub_strerror(rc));
        if (up->client != NULL)
            mcphub_mcp_client_free(up->client);
        up_free(up);
        return NULL;
    }
    up->lnext = m->ups;
    if (m->ups != NULL)
        m->ups->lprev = up;
    m->ups = up;
    return up;
}

static void unlink_up(upstream *up)
{
    if (up->lprev != NULL)
        up->lprev->lnext = up->lnext;
    else if (up->m->ups == up)
        up->m->ups = up->lnext;
    if (up->lnext != NULL)
        up->lnext->lprev = up->lprev;
    up->lprev = up->lnext = NULL;
}

void mcphub__upstream_node_lost(mcphub_master *m, const char *node)
{
    upstream *up, **lost;
    size_t n = 0, i;
    char why[200];

    for (up = m->ups; up != NULL; up = up->lnext)
        n++;
    lost = calloc(n ? n : 1, sizeof *lost);
    if (lost == NULL)
        return;
    n = 0;
    for (up = m->ups; up != NULL; up = up->lnext)
        if (up->state != UP_CLOSED && strcmp(up->node, node) == 0)
            lost[n++] = up;
    snprintf(why, sizeof why, "node %.120s is offline", node);
    /* closing one may not free another (frees are deferred), but it may
     * close it: check the state each time */
    for (i = 0; i < n; i++)
        if (lost[i]->state != UP_CLOSED)
            closed(lost[i], why);
    free(lost);
}

int mcphub__upstream_send(upstream *up, const char *json, size_t len)
{
    char *copy;

    if (up->state == UP_CLOSED)
        return MCPHUB_E_UNAVAILABLE;
    if (up->state == UP_READY)
        return raw_send(up, json, len);
    if (up->queued >= MAX_QUEUED)
        return MCPHUB_E_FULL;
    if (up->queue == NULL) {
        up->queue = calloc(MAX_QUEUED, sizeof *up->queue);
        up->queue_len = calloc(MAX_QUEUED, sizeof *up->queue_len);
        if (up->queue == NULL || up->queue_len == NULL)
            return MCPHUB_E_NOMEM;
    }
    copy = malloc(len + 1);
    if (copy == NULL)
        return MCPHUB_E_NOMEM;
    memcpy(copy, json, len);
    copy[len] = '\0';
    up->queue[up->queued] = copy;
    up->queue_len[up->queued++] = len;
    return 0;
}

/* Freed from the loop, never inside one of the client's own callbacks. */
static int free_later(mcphub_loop *loop, uint64_t id, void *user_data)
{
    upstream *up = user_data;

    (void)loop;
    (void)id;
    mcphub_mcp_client_free(up->client);
    up_free(up);
    return 0;
}

void mcphub__upstream_close(upstream *up)
{
    if (up == NULL)
        return;
    unlink_up(up);
    up->owner.on_message = NULL;
    up->owner.on_closed = NULL;
    up->state = UP_CLOSED;
    if (up->runner != NULL) {
        mcphub__map_del(&up->m->upstream_serials, up->key);
        /* the runner may be gone already if the server was removed */
        if (mcphub__master_local(up->m, up->server) == up->runner)
            mcphub_runner_session_close(up->runner, up->serial);
    }
    if (up->client != NULL) {
        mcphub_mcp_client_close(up->client);
        if (!up->m->freeing && mcphub_loop_defer(up->m->loop, NULL, free_later, up) == 0)
            return;
        mcphub_mcp_client_free(up->client);
    }
    up_free(up);
}
