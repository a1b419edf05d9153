/* The worker as a cluster member: the master's allocate and release calls,
 * and the agent that registers and heartbeats (over the HTTP client). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mcphub/wire.h"

#include "http_util_int.h"
#include "worker_int.h"

/* ---- allocate / release ------------------------------------------------------------- */

static void reply_replica(mcphub_http_request *req, const char *replica, mcphub_replica_status st)
{
    mcphub_wire_replica_reply rr;
    char *out = NULL;
    size_t len = 0;

    rr.replica_id = replica;
    rr.status = st;
    if (mcphub_wire_replica_reply_encode(&rr, &out, &len, NULL) == 0)
        mcphub__respond_raw_json(req, 200, out, len);
    else
        mcphub__respond_envelope(req, 500, 0, "could not encode the reply", NULL);
    mcphub_wire_free(NULL, out);
}

/* Start (or restart with a newer config) replica a->replica_id of a->server.
 * Returns the HTTP status; *msg says why when it is not 200. */
static unsigned assign(mcphub_worker *w, const mcphub_wire_assignment *a, char *msg, size_t cap)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(w->config);
    wrep *r = mcphub__map_get(&w->replicas, a->replica_id);
    mcphub_config_error err;
    const mcphub_server_def *def;

    if (r != NULL && strcmp(r->server, a->server) != 0) {
        snprintf(msg, cap, "replica %s already runs server %s", a->replica_id, r->server);
        return 409;
    }
    if (r != NULL && !r->releasing && r->config_version >= a->config_version)
        return 200; /* allocate is idempotent by replica id */
    if (r == NULL && cs->worker.max_servers != 0 &&
        mcphub__worker_replica_count(w) >= cs->worker.max_servers) {
        snprintf(msg, cap, "node full: %zu/%u servers", mcphub__worker_replica_count(w),
                 cs->worker.max_servers);
        return 503;
    }
    if (mcphub_config_add_server_json(w->allocated, a->server, a->config_json, &err) != 0) {
        snprintf(msg, cap, "config: %.280s", err.text);
        return 400;
    }
    def = mcphub_config_server_find(w->allocated, a->server);
    if (r != NULL) {
        /* a new config version: this replica restarts with it */
        mcphub__worker_log(w, MCPHUB_LOG_INFO,
                           "replica_reconfigure server=%s replica=%s config_version=%llu",
                           a->server, a->replica_id, (unsigned long long)a->config_version);
        mcphub__worker_end_sessions_of(w, r->id);
        mcphub__map_del(&w->replicas, r->id);
        mcphub_runner_free(r->runner);
        mcphub__free(&w->mem, r->id);
        mcphub__free(&w->mem, r->server);
        mcphub__free(&w->mem, r);
    }
    if (mcphub__worker_replica_add(w, a->replica_id, def, a->config_version) == NULL) {
        snprintf(msg, cap, "could not create replica %s", a->replica_id);
        return 500;
    }
    mcphub__worker_log(w, MCPHUB_LOG_INFO, "replica_allocated server=%s replica=%s config_version=%llu",
                       a->server, a->replica_id, (unsigned long long)a->config_version);
    return 200;
}

void mcphub__worker_allocate(mcphub_worker *w, mcphub_http_request *req)
{
    size_t len = 0;
    const char *body = mcphub_http_request_body(req, &len);
    mcphub_wire_allocate *a = NULL;
    mcphub_wire_error err;
    char msg[300];
    unsigned st;

    if (w->shutting_down) {
        mcphub__respond_envelope(req, 503, 0, "this node is shutting down", NULL);
        return;
    }
    if (mcphub_wire_allocate_decode(body ? body : "", len, &a, NULL, &err) != 0) {
        mcphub__respond_envelope(req, 400, 0, err.text, NULL);
        return;
    }
    st = assign(w, a, msg, sizeof msg);
    if (st == 200)
        reply_replica(req, a->replica_id, MCPHUB_REPLICA_STARTING);
    else
        mcphub__respond_envelope(req, st, 0, msg, NULL);
    mcphub_wire_allocate_free(a);
}

void mcphub__worker_release(mcphub_worker *w, mcphub_http_request *req)
{
    size_t len = 0;
    const char *body = mcphub_http_request_body(req, &len);
    mcphub_wire_release *rel = NULL;
    mcphub_wire_error err;
    wrep *r;

    if (mcphub_wire_release_decode(body ? body : "", len, &rel, NULL, &err) != 0) {
        mcphub__respond_envelope(req, 400, 0, err.text, NULL);
        return;
    }
    r = mcphub__map_get(&w->replicas, rel->replica_id);
    if (r == NULL || r->releasing || strcmp(r->server, rel->server) != 0) {
        char msg[300];

        snprintf(msg, sizeof msg, "replica %s is not running on this node", rel->replica_id);
        mcphub__respond_envelope(req, 404, 0, msg, NULL);
    } else {
        mcphub__worker_log(w, MCPHUB_LOG_INFO, "replica_release server=%s replica=%s",
                           r->server, r->id);
        mcphub__worker_replica_release(w, r);
        reply_replica(req, rel->replica_id, MCPHUB_REPLICA_TERMINATED);
    }
    mcphub_wire_release_free(rel);
}

/* ---- the agent ------------------------------------------------------------------------ */

typedef struct agent_call {
    mcphub_worker *w;
    mcphub_agent_request kind;
} agent_call;

static void agent_done(uint64_t id, const mcphub_http_response *resp, void *user_data)
{
    agent_call *c = user_data;
    mcphub_worker *w = c->w;

    (void)id;
    w->agent_call = NULL;
    mcphub_agent_response(w->agent, c->kind, resp->status, resp->body, resp->body_len,
                          resp->error, mcphub_loop_now_ms(w->loop));
    free(c);
}

static int agent_send(mcphub_agent_request kind, const char *path, const char *body, size_t len,
                      void *user_data)
{
    mcphub_worker *w = user_data;
    const mcphub_cluster_settings *cs = mcphub_config_cluster(w->config);
    char url[1024];
    agent_call *c = malloc(sizeof *c);
    size_t ul = strlen(cs->worker.master_url);
    int rc;

    if (c == NULL)
        return MCPHUB_E_NOMEM;
    c->w = w;
    c->kind = kind;
    /* the master URL may end with a slash */
    snprintf(url, sizeof url, "%.*s%s",
             (int)(ul > 0 && cs->worker.master_url[ul - 1] == '/' ? ul - 1 : ul),
             cs->worker.master_url, path);
    rc = mcphub__post_json(w->client, url, cs->token, body, len, 5000, agent_done, c);
    if (rc != 0)
        free(c);
    else
        w->agent_call = c;
    return rc;
}

static void agent_collect(const mcphub_wire_replica_report **reports, size_t *n,
                          mcphub_node_metrics *metrics, void *user_data)
{
    mcphub_worker *w = user_data;
    size_t i = 0, k = 0;
    void *v;

    if (w->reports_cap < w->replicas.len) {
        mcphub_wire_replica_report *a =
            mcphub__reallocarray(&w->mem, w->reports, w->replicas.len, sizeof *a);

        /* On OOM report what fits: the master re-assigns the rest, which is
         * idempotent, and never releases a replica for being unreported. */
        if (a != NULL) {
            w->reports = a;
            w->reports_cap = w->replicas.len;
        }
    }
    while (k < w->reports_cap && mcphub__map_next(&w->replicas, &i, NULL, &v)) {
        wrep *r = v;
        mcphub_wire_replica_report *rp = &w->reports[k];
        const char *err = mcphub_runner_last_error(r->runner);

        if (r->releasing)
            continue;
        memset(rp, 0, sizeof *rp);
        rp->replica_id = r->id;
        rp->server = r->server;
        rp->status = mcphub_runner_status(r->runner);
        if (rp->status == MCPHUB_REPLICA_PENDING)
            rp->status = MCPHUB_REPLICA_STARTING;
        rp->tools = mcphub_runner_tool_count(r->runner);
        rp->config_version = r->config_version;
        rp->error = rp->status == MCPHUB_REPLICA_ERROR && *err ? err : NULL;
        k++;
    }
    *reports = w->reports;
    *n = k;
    mcphub__sysinfo_sample(&w->sysinfo, mcphub_loop_now_ms(w->loop), metrics);
    metrics->active_connections = (uint32_t)mcphub_mcp_http_session_count(w->mcp);
}

static void agent_assign(const mcphub_wire_assignment *a, void *user_data)
{
    mcphub_worker *w = user_data;
    char msg[300];

    if (w->shutting_down)
        return;
    if (assign(w, a, msg, sizeof msg) != 200)
        mcphub__worker_log(w, MCPHUB_LOG_WARN, "replica_assign_failed replica=%s error=\"%s\"",
                           a->replica_id, msg);
}

static void agent_release(const mcphub_wire_release *rel, void *user_data)
{
    mcphub_worker *w = user_data;
    wrep *r = mcphub__map_get(&w->replicas, rel->replica_id);

    if (r != NULL)
        mcphub__worker_replica_release(w, r);
}

static uint64_t wall_clock(void *user_data)
{
    struct timespec ts;

    (void)user_data;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int mcphub__worker_agent_new(mcphub_worker *w)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(w->config);
    mcphub_mem m = {sizeof m, w->mem.malloc_fn, w->mem.realloc_fn, w->mem.free_fn,
                    w->mem.user_data};
    uint16_t port = mcphub_http_server_port(w->http);
    mcphub_agent_opts o;
    mcphub_agent_callbacks cb;
    int rc;

    if (cs->worker.master_url == NULL || *cs->worker.master_url == '\0') {
        snprintf(w->errmsg, sizeof w->errmsg,
                 "no master URL: set CLUSTER_MASTER_URL, --master-url or "
                 "cluster.worker.masterUrl, or run --standalone");
        return MCPHUB_E_INVAL;
    }
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.node_id = w->node_id;
    o.host = cs->worker.advertise_host && *cs->worker.advertise_host ? cs->worker.advertise_host
                                                                     : "127.0.0.1";
    o.port = cs->worker.advertise_port ? (uint16_t)cs->worker.advertise_port : port;
    o.meta = w->meta;
    o.weight = cs->worker.weight;
    o.max_servers = cs->worker.max_servers;
    o.heartbeat_interval_ms = cs->master.heartbeat_interval_ms;
    o.random = w->random;
    o.random_user_data = w->random_user_data;
    o.log = w->log;
    o.log_user_data = w->log_user_data;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.send = agent_send;
    cb.collect = agent_collect;
    cb.assign = agent_assign;
    cb.release = agent_release;
    cb.wall_clock = wall_clock;
    cb.user_data = w;
    if ((rc = mcphub_agent_new(&w->agent, &o, &cb, &m)) != 0)
        return rc;
    mcphub__worker_log(w, MCPHUB_LOG_INFO, "worker_join master=%s advertise=%s:%u",
                       cs->worker.master_url, o.host, (unsigned)o.port);
    mcphub_agent_start(w->agent, mcphub_loop_now_ms(w->loop));
    return 0;
}

void mcphub__worker_agent_tick(mcphub_worker *w)
{
    if (w->agent != NULL && !w->shutting_down)
        mcphub_agent_tick(w->agent, mcphub_loop_now_ms(w->loop));
}
