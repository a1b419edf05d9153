/* The master and its workers: the internal API (register, heartbeat), the
 * coordinator's actions carried out over HTTP (allocate, release, config),
 * active health checks, and the desired state kept in the state directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/statefile.h"
#include "mcphub/wire.h"

#include "http_util_int.h"
#include "master_int.h"

#define STATE_FILE "cluster-state.json"

/* ---- actions ------------------------------------------------------------------------ */

typedef struct action_call {
    mcphub_master *m;
    mcphub_action_kind kind;
    char node[132];
    char replica[200];
} action_call;

static void action_done(uint64_t id, const mcphub_http_response *resp, void *user_data)
{
    action_call *a = user_data;
    mcphub_master *m = a->m;
    int ok = resp->status == 200;
    char err[300];

    (void)id;
    if (!ok) {
        mcphub_wire_envelope *env = NULL;
        mcphub_wire_error we;

        if (resp->error != NULL)
            snprintf(err, sizeof err, "%s", resp->error);
        else if (mcphub_wire_envelope_decode(resp->body, resp->body_len, &env, NULL, &we) == 0 &&
                 env->message != NULL)
            snprintf(err, sizeof err, "HTTP %ld: %s", resp->status, env->message);
        else
            snprintf(err, sizeof err, "HTTP %ld", resp->status);
        mcphub_wire_envelope_free(env);
    }
    mcphub_coordinator_action_done(m->coord, a->kind, a->node, a->replica, ok, ok ? NULL : err,
                                   mcphub__master_now(m));
    mcphub__master_log(m, ok ? MCPHUB_LOG_DEBUG : MCPHUB_LOG_WARN,
                       "action_result kind=%s node=%s replica=%s ok=%d%s%s%s",
                       a->kind == MCPHUB_ACTION_RELEASE ? "release"
                       : a->kind == MCPHUB_ACTION_ALLOCATE ? "allocate" : "config",
                       a->node, a->replica, ok, ok ? "" : " error=\"", ok ? "" : err,
                       ok ? "" : "\"");
    free(a);
}

static int on_action(const mcphub_action *act, void *user_data)
{
    mcphub_master *m = user_data;
    action_call *a;
    char url[600], *body = NULL;
    size_t len = 0;
    int rc;

    if (act->kind == MCPHUB_ACTION_RELEASE) {
        mcphub_wire_release r = {act->replica, act->server};

        rc = mcphub_wire_release_encode(&r, &body, &len, NULL);
    } else {
        mcphub_wire_allocate al = {act->replica, act->server, act->config_json,
                                   act->config_version};

        rc = mcphub_wire_allocate_encode(&al, &body, &len, NULL);
    }
    if (rc != 0)
        return rc;
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        mcphub_wire_free(NULL, body);
        return MCPHUB_E_NOMEM;
    }
    a->m = m;
    a->kind = act->kind;
    snprintf(a->node, sizeof a->node, "%s", act->node);
    snprintf(a->replica, sizeof a->replica, "%s", act->replica);
    snprintf(url, sizeof url, "%s://%s:%u/internal/servers/%s", m->tls_ca ? "https" : "http",
             act->node_host, (unsigned)act->node_port,
             act->kind == MCPHUB_ACTION_RELEASE ? "release" : "allocate");
    rc = mcphub__post_json(m->client, url, m->token, body, len, 10000, action_done, a);
    mcphub_wire_free(NULL, body);
    if (rc != 0)
        free(a);
    return rc;
}

static void on_replica_status(const mcphub_replica *r, mcphub_replica_status old, void *user_data)
{
    (void)r;
    (void)old;
    (void)user_data; /* logged by the coordinator; the catalog tick notices */
}

typedef struct lost_node {
    mcphub_master *m;
    char node[132];
} lost_node;

static int node_lost_later(mcphub_loop *loop, uint64_t id, void *user_data)
{
    lost_node *l = user_data;

    (void)loop;
    (void)id;
    mcphub__upstream_node_lost(l->m, l->node);
    free(l);
    return 0;
}

static void on_node_status(const mcphub_node *n, mcphub_node_status old, const char *reason,
                           void *user_data)
{
    mcphub_master *m = user_data;

    (void)old;
    if (n->status == MCPHUB_NODE_OFFLINE) {
        lost_node *l = calloc(1, sizeof *l);

        mcphub__master_log(m, MCPHUB_LOG_WARN, "node_offline node=%s reason=%s failover=begin",
                           n->id, reason ? reason : "-");
        /* Requests in flight there fail over now, not at a socket timeout;
         * from the loop, since we are inside the coordinator here. */
        if (l != NULL) {
            l->m = m;
            snprintf(l->node, sizeof l->node, "%s", n->id);
            if (mcphub_loop_defer(m->loop, NULL, node_lost_later, l) != 0)
                free(l);
        }
    }
}

/* ---- the settings' servers into the coordinator ----------------------------------------- */

/* A server's config without its placement fields: changing replicas or
 * affinity must not restart the replicas with a new config version. */
char *mcphub__master_runtime_config(const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    char *s;

    if (v == NULL)
        return NULL;
    json_object_del(v, "replicas");
    json_object_del(v, "affinity");
    json_object_del(v, "strategy");
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    return s;
}

static int load_servers(mcphub_master *m)
{
    size_t i, n = mcphub_config_server_count(m->config);

    for (i = 0; i < n; i++) {
        const mcphub_server_def *d = mcphub_config_server_at(m->config, i);
        mcphub_replica_config rc;
        char *cfg;
        int err;

        if (!d->enabled)
            continue;
        memset(&rc, 0, sizeof rc);
        rc.size = sizeof rc;
        rc.server = d->name;
        rc.replicas = d->replicas;
        rc.node_ids = d->node_ids;
        rc.node_ids_len = d->node_ids_len;
        rc.exclude_node_ids = d->exclude_node_ids;
        rc.exclude_node_ids_len = d->exclude_node_ids_len;
        rc.strategy = d->strategy;
        cfg = mcphub__master_runtime_config(d->json);
        err = cfg ? mcphub_coordinator_set_server(m->coord, d->name, cfg, &rc) : MCPHUB_E_NOMEM;
        free(cfg);
        if (err != 0) {
            mcphub__master_log(m, MCPHUB_LOG_ERROR, "server_rejected server=%s error=\"%s\"",
                               d->name, mcphub_coordinator_errmsg(m->coord));
            continue;
        }
    }
    return 0;
}

int mcphub__master_save_state(mcphub_master *m)
{
    char *json = NULL, err[256];
    int rc;

    if (m->state_dir == NULL || m->coord == NULL)
        return 0;
    if ((rc = mcphub_coordinator_state_json(m->coord, &json)) != 0)
        return rc;
    rc = mcphub_statefile_write(m->state_dir, STATE_FILE, json, strlen(json), err, sizeof err);
    mcphub_coordinator_free_string(m->coord, json);
    if (rc != 0)
        mcphub__master_log(m, MCPHUB_LOG_ERROR, "state_write_failed dir=%s error=\"%s\"",
                           m->state_dir, err);
    return rc;
}

static int restore_state(mcphub_master *m, int *restored)
{
    char *json = NULL, err[256];
    size_t len = 0;
    int rc;

    *restored = 0;
    if (m->state_dir == NULL)
        return 0;
    if ((rc = mcphub_statefile_prepare_dir(m->state_dir, err, sizeof err)) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "state directory %s: %s", m->state_dir, err);
        return rc;
    }
    rc = mcphub_statefile_read(m->state_dir, STATE_FILE, &json, &len, 16u << 20, err, sizeof err);
    if (rc == MCPHUB_E_NOTFOUND)
        return 0;
    if (rc != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "state file: %s", err);
        return rc;
    }
    rc = mcphub_coordinator_restore(m->coord, json, len);
    free(json);
    if (rc != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "state file %s/%s: %s", m->state_dir, STATE_FILE,
                 mcphub_coordinator_errmsg(m->coord));
        return rc;
    }
    *restored = 1;
    mcphub__master_log(m, MCPHUB_LOG_INFO, "state_restored dir=%s servers=%zu", m->state_dir,
                       mcphub_coordinator_server_count(m->coord));
    return 0;
}

int mcphub__master_cluster_start(mcphub_master *m)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(m->config);
    mcphub_mem mm = {sizeof mm, m->mem.malloc_fn, m->mem.realloc_fn, m->mem.free_fn,
                     m->mem.user_data};
    mcphub_coordinator_opts o;
    mcphub_coord_callbacks cb;
    int rc, restored = 0;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.node_id = m->node_id;
    o.heartbeat_interval_ms = cs->master.heartbeat_interval_ms;
    o.heartbeat_timeout_ms = cs->master.heartbeat_timeout_ms;
    o.fall = cs->master.unhealthy_threshold;
    o.rise = cs->master.healthy_threshold;
    o.session_ttl_ms = cs->master.session_ttl_ms;
    o.default_strategy = cs->lb_strategy;
    o.reconcile_interval_ms = cs->master.reconcile_interval_ms;
    o.random = m->random;
    o.random_user_data = m->random_user_data;
    o.log = m->log;
    o.log_user_data = m->log_user_data;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.action = on_action;
    cb.replica_status = on_replica_status;
    cb.node_status = on_node_status;
    cb.user_data = m;
    /* With a state file the workers re-register before anything is planned. */
    if (m->state_dir != NULL) {
        char *probe = NULL, err[64];
        size_t len;

        if (mcphub_statefile_read(m->state_dir, STATE_FILE, &probe, &len, 16u << 20, err,
                                  sizeof err) == 0)
            o.startup_grace_ms = cs->master.heartbeat_interval_ms * 2 + 1000;
        free(probe);
    }
    /* Workers started with the master register within an interval: place
     * replicas after that, not all on the first one to arrive. */
    if (o.startup_grace_ms == 0)
        o.startup_grace_ms = cs->master.heartbeat_interval_ms;
    if ((rc = mcphub_coordinator_new(&m->coord, &o, &cb, &mm, mcphub__master_now(m))) != 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "coordinator: %s", mcphub_strerror(rc));
        return rc;
    }
    load_servers(m);
    if ((rc = restore_state(m, &restored)) != 0)
        return rc;
    mcphub__master_catalog_restore(m);
    if (o.startup_grace_ms != 0)
        mcphub__master_log(m, MCPHUB_LOG_INFO, "startup_grace ms=%llu reason=workers-re-register",
                           (unsigned long long)o.startup_grace_ms);
    return 0;
}

/* ---- the internal API ------------------------------------------------------------------- */

static void reply_wire(mcphub_http_request *req, unsigned status, int rc, char *out, size_t len)
{
    if (rc == 0)
        mcphub__respond_raw_json(req, status, out, len);
    else
        mcphub__respond_envelope(req, 500, 0, "could not encode the reply", NULL);
    mcphub_wire_free(NULL, out);
}

static mcphub_replica_report *reports_of(const mcphub_wire_replica_report *in, size_t n)
{
    mcphub_replica_report *out = calloc(n ? n : 1, sizeof *out);
    size_t i;

    for (i = 0; out != NULL && i < n; i++) {
        out[i].replica = in[i].replica_id;
        out[i].server = in[i].server;
        out[i].status = in[i].status;
        out[i].tool_count = in[i].tools;
        out[i].config_version = in[i].config_version;
        out[i].error = in[i].error;
    }
    return out;
}

static mcphub_wire_assignment *assignments_of(const mcphub_worker_reply *r)
{
    mcphub_wire_assignment *a = calloc(r->assignments_len ? r->assignments_len : 1, sizeof *a);
    size_t i;

    for (i = 0; a != NULL && i < r->assignments_len; i++) {
        a[i].replica_id = r->assignments[i].replica;
        a[i].server = r->assignments[i].server;
        a[i].config_json = r->assignments[i].config_json;
        a[i].config_version = r->assignments[i].config_version;
    }
    return a;
}

void mcphub__master_register(mcphub_master *m, mcphub_http_request *req)
{
    size_t len = 0;
    const char *body = mcphub_http_request_body(req, &len);
    mcphub_wire_register *reg = NULL;
    mcphub_wire_error we;
    mcphub_node_info info;
    mcphub_worker_reply reply;
    mcphub_replica_report *reps;
    const mcphub_node *known;
    char msg[400];
    int rc;

    if (mcphub_wire_register_decode(body ? body : "", len, &reg, NULL, &we) != 0) {
        mcphub__respond_envelope(req, 400, 0, we.text, NULL);
        return;
    }
    /* An online node's id cannot be taken over from another address. */
    known = mcphub_registry_get(mcphub_coordinator_registry(m->coord), reg->node_id);
    if (known != NULL && known->status == MCPHUB_NODE_ONLINE &&
        (strcmp(known->host, reg->host) != 0 || known->port != reg->port) &&
        mcphub__master_now(m) - known->last_heartbeat_ms <
            mcphub_config_cluster(m->config)->master.heartbeat_timeout_ms) {
        snprintf(msg, sizeof msg,
                 "node id %s is already registered from %s:%u and online; pick another "
                 "--node-id",
                 reg->node_id, known->host, (unsigned)known->port);
        mcphub__master_log(m, MCPHUB_LOG_WARN, "register_refused node=%s from=%s:%u reason=id-in-use",
                           reg->node_id, reg->host, (unsigned)reg->port);
        mcphub__respond_envelope(req, 409, 0, msg, NULL);
        mcphub_wire_register_free(reg);
        return;
    }
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    info.id = reg->node_id;
    info.role = reg->role;
    info.host = reg->host;
    info.port = reg->port;
    info.internal_port = reg->internal_port;
    info.meta = reg->meta;
    info.weight = reg->weight;
    info.max_servers = reg->max_servers;
    reps = reports_of(reg->replicas, reg->replicas_len);
    rc = reps ? mcphub_coordinator_register(m->coord, &info, reps, reg->replicas_len,
                                            mcphub__master_now(m), &reply)
              : MCPHUB_E_NOMEM;
    if (rc != 0) {
        mcphub__respond_envelope(req, rc == MCPHUB_E_FULL ? 503 : 400, 0,
                                 mcphub_coordinator_errmsg(m->coord), NULL);
    } else {
        mcphub_wire_assignment *as = assignments_of(&reply);
        mcphub_wire_register_reply rr = {reg->node_id, (uint32_t)reply.heartbeat_interval_ms, as,
                                         reply.assignments_len};
        char *out = NULL;
        size_t olen = 0;

        rc = as ? mcphub_wire_register_reply_encode(&rr, &out, &olen, NULL) : MCPHUB_E_NOMEM;
        reply_wire(req, 200, rc, out, olen);
        free(as);
    }
    free(reps);
    mcphub_wire_register_free(reg);
}

void mcphub__master_heartbeat(mcphub_master *m, mcphub_http_request *req)
{
    size_t len = 0, i;
    const char *body = mcphub_http_request_body(req, &len);
    mcphub_wire_heartbeat *hb = NULL;
    mcphub_wire_error we;
    mcphub_worker_reply reply;
    mcphub_replica_report *reps;
    char *out = NULL;
    size_t olen = 0;
    int rc;

    if (mcphub_wire_heartbeat_decode(body ? body : "", len, &hb, NULL, &we) != 0) {
        mcphub__respond_envelope(req, 400, 0, we.text, NULL);
        return;
    }
    reps = reports_of(hb->replicas, hb->replicas_len);
    rc = reps ? mcphub_coordinator_heartbeat(m->coord, hb->node_id, &hb->metrics,
                                             hb->config_version, reps, hb->replicas_len,
                                             mcphub__master_now(m), &reply)
              : MCPHUB_E_NOMEM;
    if (rc == MCPHUB_E_NOTFOUND) {
        rc = mcphub_wire_unknown_node_encode(hb->node_id, &out, &olen, NULL);
        reply_wire(req, 404, rc, out, olen);
    } else if (rc != 0) {
        mcphub__respond_envelope(req, 400, 0, mcphub_coordinator_errmsg(m->coord), NULL);
    } else {
        mcphub_wire_assignment *as = assignments_of(&reply);
        mcphub_wire_release *rel = calloc(reply.releases_len ? reply.releases_len : 1, sizeof *rel);
        mcphub_wire_heartbeat_reply hr;

        for (i = 0; rel != NULL && i < reply.releases_len; i++) {
            rel[i].replica_id = reply.releases[i].replica;
            rel[i].server = reply.releases[i].server;
        }
        hr.assignments = as;
        hr.assignments_len = reply.assignments_len;
        hr.releases = rel;
        hr.releases_len = reply.releases_len;
        rc = as && rel ? mcphub_wire_heartbeat_reply_encode(&hr, &out, &olen, NULL)
                       : MCPHUB_E_NOMEM;
        reply_wire(req, 200, rc, out, olen);
        free(as);
        free(rel);
    }
    free(reps);
    mcphub_wire_heartbeat_free(hb);
}

/* ---- active health checks --------------------------------------------------------------- */

typedef struct check_call {
    mcphub_master *m;
    char node[132];
} check_call;

static void check_done(uint64_t id, const mcphub_http_response *resp, void *user_data)
{
    check_call *c = user_data;
    json_t *v = resp->status == 200 ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *st = json_string_value(json_object_get(v, "status"));
    int ok = st != NULL && strcmp(st, "unhealthy") != 0;

    (void)id;
    mcphub_coordinator_check_result(c->m->coord, c->node, ok, mcphub__master_now(c->m));
    if (!ok)
        mcphub__master_log(c->m, MCPHUB_LOG_WARN, "health_check_failed node=%s error=\"%s\"",
                           c->node, resp->error ? resp->error : st ? st : "bad answer");
    json_decref(v);
    free(c);
}

static int on_check(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_master *m = user_data;
    const mcphub_registry *reg = mcphub_coordinator_registry(m->coord);
    const mcphub_cluster_settings *cs = mcphub_config_cluster(m->config);
    size_t i, n = mcphub_registry_count(reg);
    mcphub_http_kv hd[1] = {{"X-Cluster-Token", m->token ? m->token : ""}};

    (void)loop;
    (void)id;
    for (i = 0; i < n; i++) {
        const mcphub_node *nd = mcphub_registry_at(reg, i);
        check_call *c = calloc(1, sizeof *c);
        mcphub_http_call call;
        char url[400];

        if (c == NULL)
            break;
        c->m = m;
        snprintf(c->node, sizeof c->node, "%s", nd->id);
        snprintf(url, sizeof url, "%s://%s:%u/health", m->tls_ca ? "https" : "http", nd->host,
                 (unsigned)(nd->internal_port ? nd->internal_port : nd->port));
        memset(&call, 0, sizeof call);
        call.size = sizeof call;
        call.method = "GET";
        call.url = url;
        call.headers = hd;
        call.n_headers = m->token && *m->token ? 1 : 0;
        call.timeout_ms = cs->master.health_check_timeout_ms;
        call.on_done = check_done;
        call.user_data = c;
        if (mcphub_http_client_send(m->client, &call, NULL) != 0)
            free(c);
    }
    return 0;
}

void mcphub__master_cluster_tick(mcphub_master *m)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(m->config);

    mcphub_coordinator_tick(m->coord, mcphub__master_now(m));
    if (m->check_timer == 0 && cs->master.health_check_interval_ms != 0)
        mcphub_loop_timer_add(m->loop, &m->check_timer, cs->master.health_check_interval_ms,
                              cs->master.health_check_interval_ms, on_check, m);
}
