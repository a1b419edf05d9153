/* The master node: life, HTTP routing and authentication.  See
 * include/mcphub/master.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcphub/auth.h"
#include "mcphub/version.h"

#include "http_util_int.h"
#include "master_int.h"

void mcphub__master_log(mcphub_master *m, mcphub_log_level lvl, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (m->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    m->log(lvl, buf, m->log_user_data);
}

uint64_t mcphub__master_now(const mcphub_master *m)
{
    return mcphub_loop_now_ms(m->loop);
}

uint64_t mcphub__master_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- standalone: the master runs the servers itself ---------------------------------- */

mcphub_runner *mcphub__master_local(const mcphub_master *m, const char *server)
{
    local_rep *l = mcphub__map_get(&m->locals, server);

    return l ? l->runner : NULL;
}

static int start_locals(mcphub_master *m)
{
    mcphub_mem mm = {sizeof mm, m->mem.malloc_fn, m->mem.realloc_fn, m->mem.free_fn,
                     m->mem.user_data};
    size_t i, n = mcphub_config_server_count(m->config);

    for (i = 0; i < n; i++) {
        const mcphub_server_def *d = mcphub_config_server_at(m->config, i);
        mcphub_runner_opts o;
        mcphub_runner_callbacks cb;
        local_rep *l;
        char id[300];

        if (!d->enabled || mcphub__map_get(&m->locals, d->name) != NULL)
            continue;
        l = calloc(1, sizeof *l);
        if (l == NULL || (l->server = strdup(d->name)) == NULL) {
            free(l);
            return MCPHUB_E_NOMEM;
        }
        snprintf(id, sizeof id, "%s-local", d->name);
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.loop = m->loop;
        o.server = d->name;
        o.replica = id;
        o.def = d;
        o.client_caps = 0x7;
        o.init_timeout_ms = d->timeout_ms > 60000 ? d->timeout_ms : 60000;
        o.random = m->random;
        o.random_user_data = m->random_user_data;
        o.log = m->log;
        o.log_user_data = m->log_user_data;
        memset(&cb, 0, sizeof cb);
        cb.size = sizeof cb;
        cb.send_downstream = mcphub__master_local_downstream;
        cb.user_data = m;
        if (mcphub_runner_new(&l->runner, &o, &cb, &mm) != 0 ||
            mcphub__map_put(&m->locals, l->server, l, NULL) != 0) {
            mcphub_runner_free(l->runner);
            free(l->server);
            free(l);
            mcphub__master_log(m, MCPHUB_LOG_ERROR, "server_start_failed server=%s", d->name);
            continue;
        }
        mcphub_runner_start(l->runner);
    }
    return 0;
}

static void free_locals(mcphub_master *m)
{
    size_t i = 0;
    void *v;

    while (mcphub__map_next(&m->locals, &i, NULL, &v)) {
        local_rep *l = v;

        mcphub_runner_free(l->runner);
        free(l->server);
        free(l);
    }
    mcphub__map_free(&m->locals);
}

/* ---- routing --------------------------------------------------------------------------- */

static int origin_allowed(const mcphub_master *m, mcphub_http_request *req, const char *origin)
{
    const char *host = mcphub_http_request_header(req, "Host");
    const char *rest;
    size_t i;

    if (m->allowed_origins_len == 0 || origin == NULL)
        return 1;
    /* Our own pages (the dashboard) are always allowed: same origin. */
    rest = strncmp(origin, "http://", 7) == 0 ? origin + 7
           : strncmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
    if (rest != NULL && host != NULL && strcmp(rest, host) == 0)
        return 1;
    for (i = 0; i < m->allowed_origins_len; i++)
        if (strcmp(m->allowed_origins[i], origin) == 0)
            return 1;
    return 0;
}

/* MCPHub's bearer auth for the MCP endpoints; 0 when the request may go on. */
static int mcp_auth(mcphub_master *m, mcphub_http_request *req, const char *route)
{
    const mcphub_routing_settings *rt = mcphub_config_routing(m->config);
    const char *hv = mcphub_http_request_header(req, rt->bearer_auth_header_name);
    const mcphub_bearer_key *key = NULL;
    mcphub_auth_route ar;
    const char *servers[1024];
    mcphub_route_kind kind = MCPHUB_ROUTE_GLOBAL;
    mcphub_auth_result r;
    const mcphub_group_def *g = NULL;

    if (!rt->enable_bearer_auth)
        return 0;
    memset(&ar, 0, sizeof ar);
    if (*route == '\0') {
        ar.global = 1;
    } else {
        mcphub_catalog_route_check(m->catalog, route, &kind);
        if (kind == MCPHUB_ROUTE_GROUP && (g = mcphub_config_group_find(m->config, route)) != NULL) {
            ar.group_id = g->id;
            ar.group_name = g->name;
            ar.group_servers = servers;
            ar.group_servers_len = mcphub_catalog_route_servers(m->catalog, route, servers, 1024);
        } else {
            ar.server = route;
        }
    }
    r = mcphub_auth_check_mcp(m->config, hv, &ar, &key);
    if (r != MCPHUB_AUTH_OK) {
        unsigned status = 401;
        char body[512], www[512];
        mcphub_http_header hd[2] = {{"Content-Type", "application/json"},
                                    {"WWW-Authenticate", www}};

        mcphub_auth_response(r, NULL, &status, body, sizeof body, www, sizeof www);
        mcphub__master_log(m, MCPHUB_LOG_WARN, "auth_refused route=%s result=%s remote=%s",
                           *route ? route : "(global)",
                           r == MCPHUB_AUTH_MISSING ? "missing"
                           : r == MCPHUB_AUTH_INVALID ? "invalid" : "forbidden",
                           mcphub_http_request_remote(req));
        mcphub_http_respond(req, status, hd, 2, body, strlen(body));
        return -1;
    }
    return 0;
}

static int api_auth(mcphub_master *m, mcphub_http_request *req)
{
    const char *hv = mcphub_http_request_header(req, "Authorization");
    mcphub_auth_result r = mcphub_auth_check_api(m->config, hv);

    if (r == MCPHUB_AUTH_OK)
        return 0;
    mcphub__respond_envelope(req, r == MCPHUB_AUTH_FORBIDDEN ? 403 : 401, 0,
                             r == MCPHUB_AUTH_MISSING ? "No token, authorization denied"
                                                      : "Token is not valid",
                             NULL);
    return -1;
}

static void mcp_endpoint(mcphub_master *m, mcphub_http_request *req, mcphub_mcp_endpoint ep,
                         const char *route)
{
    const mcphub_routing_settings *rt = mcphub_config_routing(m->config);
    char msg[300];

    if (ep != MCPHUB_MCP_LEGACY_POST) {
        if (*route == '\0' && !rt->enable_global_route) {
            static const mcphub_http_header ct = {"Content-Type", "text/plain; charset=utf-8"};
            static const char text[] = "Global routes are disabled. Please specify a group ID.";

            mcphub_http_respond(req, 403, &ct, 1, text, sizeof text - 1);
            return;
        }
        if (*route != '\0' && mcphub_catalog_route_check(m->catalog, route, NULL) != 0) {
            snprintf(msg, sizeof msg, "No group or server named %.200s", route);
            mcphub__respond_envelope(req, 404, 0, msg, NULL);
            return;
        }
        if (mcp_auth(m, req, route) != 0)
            return;
    } else {
        /* /messages carries no route: authorize against the session's */
        const char *sid = mcphub_http_request_query(req, "sessionId");
        mcphub_mcp_session *s = sid ? mcphub_mcp_http_session(m->mcp, sid) : NULL;

        if (s != NULL && mcp_auth(m, req, mcphub_mcp_session_route(s)) != 0)
            return;
    }
    mcphub_mcp_http_handle(m->mcp, req, ep, route);
}

static int internal_auth(mcphub_master *m, mcphub_http_request *req)
{
    if (m->token == NULL || *m->token == '\0')
        return 0;
    if (mcphub_secret_equal(mcphub_http_request_header(req, "X-Cluster-Token"), m->token))
        return 0;
    mcphub__master_log(m, MCPHUB_LOG_WARN, "token_refused path=%s remote=%s",
                       mcphub_http_request_path(req), mcphub_http_request_remote(req));
    mcphub__respond_envelope(req, 401, 0, "missing or invalid X-Cluster-Token", NULL);
    return -1;
}

static void on_request(mcphub_http_request *req, void *user_data)
{
    mcphub_master *m = user_data;
    const char *path = mcphub_http_request_path(req), *tail;
    char seg[256];

    if (!origin_allowed(m, req, mcphub_http_request_header(req, "Origin"))) {
        mcphub__respond_envelope(req, 403, 0, "Origin not allowed", NULL);
        return;
    }
    if (strcmp(path, "/health") == 0) {
        if (mcphub__want_method(req, "GET"))
            mcphub__master_health(m, req);
    } else if (strcmp(path, "/mcp") == 0) {
        mcp_endpoint(m, req, MCPHUB_MCP_STREAMABLE, "");
    } else if ((tail = mcphub__path_tail(path, "/mcp/", seg, sizeof seg)) != NULL) {
        mcp_endpoint(m, req, MCPHUB_MCP_STREAMABLE, tail);
    } else if (strcmp(path, "/sse") == 0) {
        mcp_endpoint(m, req, MCPHUB_MCP_LEGACY_SSE, "");
    } else if ((tail = mcphub__path_tail(path, "/sse/", seg, sizeof seg)) != NULL) {
        mcp_endpoint(m, req, MCPHUB_MCP_LEGACY_SSE, tail);
    } else if (strcmp(path, "/messages") == 0) {
        mcp_endpoint(m, req, MCPHUB_MCP_LEGACY_POST, NULL);
    } else if (strncmp(path, "/internal/cluster/", 18) == 0) {
        if (!m->cluster) {
            mcphub__respond_envelope(req, 404, 0, "the cluster is not enabled on this master", NULL);
        } else if (internal_auth(m, req) == 0 && mcphub__want_method(req, "POST")) {
            if (strcmp(path, "/internal/cluster/register") == 0)
                mcphub__master_register(m, req);
            else if (strcmp(path, "/internal/cluster/heartbeat") == 0)
                mcphub__master_heartbeat(m, req);
            else
                mcphub__respond_envelope(req, 404, 0, "Not found", NULL);
        }
    } else if (strcmp(path, "/metrics") == 0) {
        if (api_auth(m, req) == 0 && mcphub__want_method(req, "GET"))
            mcphub__master_metrics(m, req);
    } else if (strncmp(path, "/api/", 5) == 0) {
        if (api_auth(m, req) == 0)
            mcphub__master_api(m, req, path);
    } else if (strcmp(path, "/") == 0 && m->dashboard != NULL) {
        static const mcphub_http_header hd[2] = {{"Content-Type", "text/html; charset=utf-8"},
                                                 {"Cache-Control", "no-cache"}};

        mcphub_http_respond(req, 200, hd, 2, m->dashboard, m->dashboard_len);
    } else {
        char msg[300];

        snprintf(msg, sizeof msg, "Not found: %.200s", path);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
    }
}

/* ---- life ------------------------------------------------------------------------------- */

static int on_tick(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_master *m = user_data;

    (void)loop;
    (void)id;
    if (m->cluster)
        mcphub__master_cluster_tick(m);
    if (++m->ticks % 10 == 0) /* lists: once a second is plenty */
        mcphub__master_catalog_tick(m);
    mcphub__master_sessions_tick(m);
    return 0;
}

MCPHUB_API int mcphub_master_new(mcphub_master **out, const mcphub_master_opts *opts,
                                 const mcphub_mem *mem)
{
    mcphub_master *m;
    mcphub__mem mm;
    const mcphub_cluster_settings *cs;
    size_t i;
    int rc;

    if (out == NULL || opts == NULL || opts->loop == NULL || opts->config == NULL ||
        opts->random == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&mm, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0)
        return rc;
    m = mcphub__calloc(&mm, 1, sizeof *m);
    if (m == NULL)
        return MCPHUB_E_NOMEM;
    m->mem = mm;
    m->loop = opts->loop;
    m->config = opts->config;
    m->random = opts->random;
    m->random_user_data = opts->random_user_data;
    m->log = opts->log;
    m->log_user_data = opts->log_user_data;
    m->dashboard = opts->dashboard_html;
    m->dashboard_len = opts->dashboard_len;
    cs = mcphub_config_cluster(m->config);
    m->cluster = cs->enabled;
    /* Copies: a reload (SIGHUP) frees the config these came from. */
    m->node_id = strdup(cs->node_id && *cs->node_id ? cs->node_id : "master");
    m->token = cs->token ? strdup(cs->token) : NULL;
    mcphub__map_init(&m->locals, &m->mem, m->random(m->random_user_data));
    mcphub__map_init(&m->upstream_serials, &m->mem, m->random(m->random_user_data));
    mcphub__map_init(&m->cat, &m->mem, m->random(m->random_user_data));
    if (m->node_id == NULL || (cs->token && m->token == NULL) ||
        (opts->tls_cert_pem && (m->tls_cert = strdup(opts->tls_cert_pem)) == NULL) ||
        (opts->tls_key_pem && (m->tls_key = strdup(opts->tls_key_pem)) == NULL) ||
        (opts->tls_ca_file && (m->tls_ca = strdup(opts->tls_ca_file)) == NULL) ||
        (cs->master.state_dir && *cs->master.state_dir &&
         (m->state_dir = strdup(cs->master.state_dir)) == NULL))
        goto nomem;
    if (opts->allowed_origins_len > 0) {
        m->allowed_origins = calloc(opts->allowed_origins_len, sizeof *m->allowed_origins);
        if (m->allowed_origins == NULL)
            goto nomem;
        for (i = 0; i < opts->allowed_origins_len; i++)
            if ((m->allowed_origins[m->allowed_origins_len++] = strdup(opts->allowed_origins[i])) ==
                NULL)
                goto nomem;
    }
    *out = m;
    return 0;
nomem:
    mcphub_master_free(m);
    return MCPHUB_E_NOMEM;
}

MCPHUB_API int mcphub_master_start(mcphub_master *m)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(m->config);
    const mcphub_routing_settings *rt = mcphub_config_routing(m->config);
    mcphub_mem mm = {sizeof mm, m->mem.malloc_fn, m->mem.realloc_fn, m->mem.free_fn,
                     m->mem.user_data};
    mcphub_http_server_opts so;
    mcphub_http_client_opts co;
    mcphub_mcp_http_opts mo;
    mcphub_catalog_opts cato;
    int rc;

    memset(&cato, 0, sizeof cato);
    cato.size = sizeof cato;
    cato.name_separator = rt->name_separator;
    cato.disable_group_name_route = !rt->enable_group_name_route;
    cato.gateway_version = MCPHUB_VERSION_STRING;
    cato.hash_seed = m->random(m->random_user_data);
    cato.log = m->log;
    cato.log_user_data = m->log_user_data;
    if ((rc = mcphub_catalog_new(&m->catalog, &cato, &mm)) != 0 ||
        (rc = mcphub_catalog_load_config(m->catalog, m->config)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "catalog: %s", mcphub_strerror(rc));
        return rc;
    }
    if ((rc = mcphub_metrics_new(&m->metrics, NULL, &mm)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "metrics: %s", mcphub_strerror(rc));
        return rc;
    }
    memset(&co, 0, sizeof co);
    co.size = sizeof co;
    co.ca_file = m->tls_ca;
    co.default_timeout_ms = 10000;
    co.log = m->log;
    co.log_user_data = m->log_user_data;
    if ((rc = mcphub_http_client_new(&m->client, m->loop, &co, &mm)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "http client: %s", mcphub_strerror(rc));
        return rc;
    }
    if (m->cluster) {
        if ((rc = mcphub__master_cluster_start(m)) != 0)
            return rc;
    } else if ((rc = start_locals(m)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "servers: %s", mcphub_strerror(rc));
        return rc;
    }
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.backend = mcphub__master_backend;
    mo.backend.user_data = m;
    mo.session_idle_ms = cs->master.session_ttl_ms;
    mo.random = m->random;
    mo.random_user_data = m->random_user_data;
    mo.log = m->log;
    mo.log_user_data = m->log_user_data;
    mo.session_restore = mcphub__master_sessions_restore;
    if ((rc = mcphub_mcp_http_new(&m->mcp, m->loop, &mo, &mm)) != 0 ||
        (rc = mcphub__master_sessions_load(m)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "mcp transport: %s", mcphub_strerror(rc));
        return rc;
    }
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.host = cs->master.host;
    so.port = (uint16_t)cs->master.port;
    so.tls_cert_pem = m->tls_cert;
    so.tls_key_pem = m->tls_key;
    so.max_body = rt->json_body_limit;
    /* Every client holding a GET stream keeps a connection: the server's
     * default (4096) would stop the master below the sessions it takes
     * (mcp_http's max_sessions, 10,000) and the 10,000 idle streams it is
     * meant to hold.  Each costs an fd: the process needs a nofile limit
     * above this (+32), or http_server logs http_fd_limit at start. */
    so.max_connections = 16384;
    so.handler = on_request;
    so.user_data = m;
    so.log = m->log;
    so.log_user_data = m->log_user_data;
    errno = 0;
    if ((rc = mcphub_http_server_new(&m->http, m->loop, &so, &mm)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "cannot listen on %s:%u: %s", so.host,
                 (unsigned)so.port, errno ? strerror(errno) : mcphub_strerror(rc));
        return rc;
    }
    if (!rt->enable_bearer_auth && mcphub_config_key_count(m->config) == 0 &&
        (m->token == NULL || *m->token == '\0'))
        mcphub__master_log(m, MCPHUB_LOG_WARN,
                           "api_open reason=no-bearer-keys-and-no-token hint=\"add bearerKeys or "
                           "set CLUSTER_TOKEN to protect /api\"");
    mcphub__master_log(m, MCPHUB_LOG_INFO, "master_listen node=%s host=%s port=%u tls=%d mode=%s",
                       m->node_id, so.host, (unsigned)mcphub_http_server_port(m->http),
                       m->tls_cert != NULL, m->cluster ? "cluster" : "standalone");
    return mcphub_loop_timer_add(m->loop, &m->tick_timer, 100, 100, on_tick, m);
}

MCPHUB_API uint16_t mcphub_master_port(const mcphub_master *m)
{
    return m && m->http ? mcphub_http_server_port(m->http) : 0;
}

MCPHUB_API int mcphub_master_reload(mcphub_master *m, const mcphub_config *cfg)
{
    const char *tok = mcphub_config_cluster(cfg)->token;
    char *token = tok ? strdup(tok) : NULL;
    size_t i, n;
    int rc;

    if (tok != NULL && token == NULL)
        return MCPHUB_E_NOMEM;
    /* The caller frees the old config: nothing may point into it any more
     * (the node id stays what it was at start). */
    free(m->token);
    m->token = token;
    m->config = cfg;
    if ((rc = mcphub_catalog_load_config(m->catalog, cfg)) != 0)
        return rc;
    if (!m->cluster)
        return start_locals(m); /* new servers start; changed ones keep running */
    n = mcphub_config_server_count(cfg);
    for (i = 0; i < n; i++) {
        const mcphub_server_def *d = mcphub_config_server_at(cfg, i);
        char *cfgtxt;

        if (!d->enabled)
            continue;
        cfgtxt = mcphub__master_runtime_config(d->json);
        /* a changed config gets the next version and is pushed to replicas */
        if (cfgtxt != NULL && mcphub_coordinator_set_server(m->coord, d->name, cfgtxt, NULL) != 0)
            mcphub__master_log(m, MCPHUB_LOG_ERROR, "reload_server_failed server=%s error=\"%s\"",
                               d->name, mcphub_coordinator_errmsg(m->coord));
        free(cfgtxt);
    }
    n = mcphub_coordinator_server_count(m->coord);
    for (i = n; i-- > 0;) {
        mcphub_server_state st;

        if (mcphub_coordinator_server_at(m->coord, i, &st) == 0 &&
            (mcphub_config_server_find(cfg, st.server) == NULL ||
             !mcphub_config_server_find(cfg, st.server)->enabled)) {
            char name[256];

            snprintf(name, sizeof name, "%s", st.server);
            mcphub__master_catalog_drop(m, name);
            mcphub_coordinator_remove_server(m->coord, name);
        }
    }
    mcphub__master_save_state(m);
    mcphub__master_log(m, MCPHUB_LOG_INFO, "settings_reloaded servers=%zu",
                       mcphub_config_server_count(cfg));
    return 0;
}

MCPHUB_API void mcphub_master_shutdown(mcphub_master *m)
{
    size_t i = 0;
    void *v;

    if (m == NULL || m->shutting_down)
        return;
    m->shutting_down = 1;
    mcphub__master_log(m, MCPHUB_LOG_INFO, "master_shutdown sessions=%zu",
                       mcphub_mcp_http_session_count(m->mcp));
    if (m->http != NULL)
        mcphub_http_server_stop_accepting(m->http);
    if (m->cluster)
        mcphub__master_save_state(m);
    mcphub__master_sessions_save(m); /* the last word: closes from here on are not written */
    while (mcphub__map_next(&m->locals, &i, NULL, &v))
        mcphub_runner_stop(((local_rep *)v)->runner);
}

MCPHUB_API int mcphub_master_stopped(const mcphub_master *m)
{
    size_t i = 0;
    void *v;

    if (m == NULL)
        return 1;
    if (!m->shutting_down)
        return 0;
    while (mcphub__map_next(&m->locals, &i, NULL, &v))
        if (mcphub_runner_pid(((local_rep *)v)->runner) != 0)
            return 0;
    return 1;
}

MCPHUB_API const char *mcphub_master_errmsg(const mcphub_master *m)
{
    return m ? m->errmsg : "";
}

MCPHUB_API void mcphub_master_free(mcphub_master *m)
{
    size_t i;

    if (m == NULL)
        return;
    if (m->tick_timer != 0)
        mcphub_loop_timer_cancel(m->loop, m->tick_timer);
    if (m->check_timer != 0)
        mcphub_loop_timer_cancel(m->loop, m->check_timer);
    m->freeing = 1;
    mcphub_mcp_http_free(m->mcp); /* ends client sessions and their upstreams */
    mcphub__master_sessions_free(m); /* after: be_close reports each session's end */
    mcphub__master_catalog_free(m);
    mcphub_http_server_free(m->http);
    free_locals(m);
    mcphub__map_free(&m->upstream_serials);
    mcphub_http_client_free(m->client);
    mcphub_coordinator_free(m->coord);
    mcphub_catalog_free(m->catalog);
    mcphub_metrics_free(m->metrics);
    for (i = 0; i < m->allowed_origins_len; i++)
        free(m->allowed_origins[i]);
    free(m->allowed_origins);
    free(m->tls_cert);
    free(m->tls_key);
    free(m->tls_ca);
    free(m->state_dir);
    free(m->node_id);
    free(m->token);
    mcphub__free(&m->mem, m);
}
