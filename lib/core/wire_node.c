/* Wire codecs, node family: what a worker sends the master (register,
 * heartbeat) and the master's replies. */
#include <stdio.h>
#include <string.h>

#include "wire_int.h"

/* ---- register ---- */

static int walk_meta(mcphub__wdec *d, const json_t *obj, const char *path,
                     mcphub_node_meta *meta)
{
    uint64_t cpus;
    int rc;

    if ((rc = mcphub__wd_text(d, obj, path, "hostname", MCPHUB_WIRE_MAX_META,
                              &meta->hostname)) != 0 ||
        (rc = mcphub__wd_text(d, obj, path, "version", MCPHUB_WIRE_MAX_META,
                              &meta->version)) != 0 ||
        (rc = mcphub__wd_text(d, obj, path, "os", MCPHUB_WIRE_MAX_META, &meta->os)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "cpuCount", 0, 0, MCPHUB_WIRE_MAX_CPUS, 0,
                              &cpus)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "memoryTotal", 0, 0, INT64_MAX, 0,
                              &meta->memory_total)) != 0)
        return rc;
    meta->cpu_count = (uint32_t)cpus;
    return 0;
}

static int walk_register(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    static const mcphub_node_meta no_meta = {NULL, NULL, NULL, 0, 0};
    mcphub_wire_register *m = msg;
    const json_t *meta;
    uint64_t port, internal_port, weight, max_servers;
    char meta_path[sizeof d->err->field];
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "nodeId", &m->node_id)) != 0 ||
        (rc = mcphub__wd_role(d, obj, path, "role", &m->role)) != 0 ||
        (rc = mcphub__wd_host(d, obj, path, "host", &m->host)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "port", 1, 1, 65535, 0, &port)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "internalPort", 0, 0, 65535, 0,
                              &internal_port)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "weight", 0, 1, MCPHUB_WIRE_MAX_WEIGHT, 1,
                              &weight)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "maxServers", 0, 0, MCPHUB_WIRE_MAX_SERVERS, 0,
                              &max_servers)) != 0 ||
        (rc = mcphub__wd_object(d, obj, path, "metadata", 0, &meta)) != 0)
        return rc;
    m->port = (uint16_t)port;
    m->internal_port = (uint16_t)internal_port;
    m->weight = (uint32_t)weight;
    m->max_servers = (uint32_t)max_servers;
    m->meta = no_meta;
    mcphub__wd_join(meta_path, sizeof meta_path, path, "metadata");
    if (meta != NULL && (rc = walk_meta(d, meta, meta_path, &m->meta)) != 0)
        return rc;
    return mcphub__wd_reports(d, obj, path, "replicas", &m->replicas, &m->replicas_len);
}

MCPHUB_API int mcphub_wire_register_encode(const mcphub_wire_register *m, char **out,
                                           size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_register scratch;
    json_t *root, *meta;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    root = mcphub__we_object(&e);
    mcphub__we_str(&e, root, "nodeId", m->node_id, MCPHUB__WE_REQUIRED);
    mcphub__we_str(&e, root, "role", mcphub_node_role_name(m->role), MCPHUB__WE_REQUIRED);
    mcphub__we_str(&e, root, "host", m->host, MCPHUB__WE_REQUIRED);
    mcphub__we_uint(&e, root, "port", m->port);
    mcphub__we_uint(&e, root, "internalPort", m->internal_port);
    mcphub__we_uint(&e, root, "weight", m->weight);
    mcphub__we_uint(&e, root, "maxServers", m->max_servers);
    meta = mcphub__we_add(&e, root, "metadata", mcphub__we_object(&e));
    mcphub__we_str(&e, meta, "hostname", m->meta.hostname, MCPHUB__WE_OMIT);
    mcphub__we_str(&e, meta, "version", m->meta.version, MCPHUB__WE_OMIT);
    mcphub__we_str(&e, meta, "os", m->meta.os, MCPHUB__WE_OMIT);
    mcphub__we_uint(&e, meta, "cpuCount", m->meta.cpu_count);
    mcphub__we_uint(&e, meta, "memoryTotal", m->meta.memory_total);
    mcphub__we_reports(&e, root, "replicas", m->replicas, m->replicas_len);
    return mcphub__wire_encode(&e, root, MCPHUB__WIRE_REQUEST, walk_register, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_register_decode(const char *json, size_t len,
                                           mcphub_wire_register **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err)
{
    mcphub_wire_register scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REQUEST, walk_register,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_register_free(mcphub_wire_register *m)
{
    mcphub__wire_msg_free(m);
}

/* ---- register reply ---- */

static int walk_register_reply(mcphub__wdec *d, const json_t *obj, const char *path,
                               void *msg)
{
    mcphub_wire_register_reply *m = msg;
    uint64_t interval;
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "nodeId", &m->node_id)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "heartbeatInterval", 1, 1,
                              MCPHUB_WIRE_MAX_INTERVAL, 0, &interval)) != 0)
        return rc;
    m->heartbeat_interval_ms = (uint32_t)interval;
    return mcphub__wd_assignments(d, obj, path, "assignments", &m->assignments,
                                  &m->assignments_len);
}

MCPHUB_API int mcphub_wire_register_reply_encode(const mcphub_wire_register_reply *m,
                                                 char **out, size_t *len_out,
                                                 const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_register_reply scratch;
    json_t *data;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    data = mcphub__we_object(&e);
    mcphub__we_str(&e, data, "nodeId", m->node_id, MCPHUB__WE_REQUIRED);
    mcphub__we_uint(&e, data, "heartbeatInterval", m->heartbeat_interval_ms);
    mcphub__we_assignments(&e, data, "assignments", m->assignments, m->assignments_len);
    return mcphub__wire_encode(&e, data, MCPHUB__WIRE_REPLY, walk_register_reply, &scratch,
                               out, len_out);
}

MCPHUB_API int mcphub_wire_register_reply_decode(const char *json, size_t len,
                                                 mcphub_wire_register_reply **out,
                                                 const mcphub_mem *mem,
                                                 mcphub_wire_error *err)
{
    mcphub_wire_register_reply scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REPLY, walk_register_reply,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_register_reply_free(mcphub_wire_register_reply *m)
{
    mcphub__wire_msg_free(m);
}

/* ---- heartbeat ---- */

static int walk_metrics(mcphub__wdec *d, const json_t *obj, const char *path,
                        mcphub_node_metrics *x)
{
    uint64_t conns;
    int rc;

    if ((rc = mcphub__wd_number(d, obj, path, "cpu", 0.0, MCPHUB_WIRE_MAX_CPU,
                                &x->cpu_percent)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "memoryUsed", 0, 0, INT64_MAX, 0,
                              &x->memory_used)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "memoryTotal", 0, 0, INT64_MAX, 0,
                              &x->memory_total)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "activeConnections", 0, 0, UINT32_MAX, 0,
                              &conns)) != 0)
        return rc;
    x->active_connections = (uint32_t)conns;
    return 0;
}

static int walk_heartbeat(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    static const mcphub_node_metrics no_metrics = {0.0, 0, 0, 0};
    mcphub_wire_heartbeat *m = msg;
    const json_t *metrics;
    char metrics_path[sizeof d->err->field];
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "nodeId", &m->node_id)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "timestamp", 1, 0, INT64_MAX, 0,
                              &m->timestamp_ms)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "configVersion", 0, 0, INT64_MAX, 0,
                              &m->config_version)) != 0 ||
        (rc = mcphub__wd_object(d, obj, path, "metrics", 0, &metrics)) != 0)
        return rc;
    m->metrics = no_metrics;
    mcphub__wd_join(metrics_path, sizeof metrics_path, path, "metrics");
    if (metrics != NULL && (rc = walk_metrics(d, metrics, metrics_path, &m->metrics)) != 0)
        return rc;
    return mcphub__wd_reports(d, obj, path, "replicas", &m->replicas, &m->replicas_len);
}

MCPHUB_API int mcphub_wire_heartbeat_encode(const mcphub_wire_heartbeat *m, char **out,
                                            size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_heartbeat scratch;
    json_t *root, *metrics;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    root = mcphub__we_object(&e);
    mcphub__we_str(&e, root, "nodeId", m->node_id, MCPHUB__WE_REQUIRED);
    mcphub__we_uint(&e, root, "timestamp", m->timestamp_ms);
    mcphub__we_uint(&e, root, "configVersion", m->config_version);
    metrics = mcphub__we_add(&e, root, "metrics", mcphub__we_object(&e));
    mcphub__we_real(&e, metrics, "cpu", m->metrics.cpu_percent);
    mcphub__we_uint(&e, metrics, "memoryUsed", m->metrics.memory_used);
    mcphub__we_uint(&e, metrics, "memoryTotal", m->metrics.memory_total);
    mcphub__we_uint(&e, metrics, "activeConnections", m->metrics.active_connections);
    mcphub__we_reports(&e, root, "replicas", m->replicas, m->replicas_len);
    return mcphub__wire_encode(&e, root, MCPHUB__WIRE_REQUEST, walk_heartbeat, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_heartbeat_decode(const char *json, size_t len,
                                            mcphub_wire_heartbeat **out,
                                            const mcphub_mem *mem, mcphub_wire_error *err)
{
    mcphub_wire_heartbeat scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REQUEST, walk_heartbeat,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_heartbeat_free(mcphub_wire_heartbeat *m)
{
    mcphub__wire_msg_free(m);
}

/* ---- heartbeat reply ---- */

static int walk_heartbeat_reply(mcphub__wdec *d, const json_t *obj, const char *path,
                                void *msg)
{
    mcphub_wire_heartbeat_reply *m = msg;
    int known, rc;

    if ((rc = mcphub__wd_bool(d, obj, path, "known", &known)) != 0)
        return rc;
    if (!known) {
        snprintf(d->err->field, sizeof d->err->field, "data.known");
        snprintf(d->err->text, sizeof d->err->text,
                 "the master does not know this node; register again");
        return MCPHUB_E_NOTFOUND;
    }
    if ((rc = mcphub__wd_assignments(d, obj, path, "assignments", &m->assignments,
                                     &m->assignments_len)) != 0)
        return rc;
    return mcphub__wd_releases(d, obj, path, "releases", &m->releases, &m->releases_len);
}

MCPHUB_API int mcphub_wire_heartbeat_reply_encode(const mcphub_wire_heartbeat_reply *m,
                                                  char **out, size_t *len_out,
                                                  const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_heartbeat_reply scratch;
    json_t *data;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    data = mcphub__we_object(&e);
    mcphub__we_bool(&e, data, "known", 1);
    mcphub__we_assignments(&e, data, "assignments", m->assignments, m->assignments_len);
    mcphub__we_releases(&e, data, "releases", m->releases, m->releases_len);
    return mcphub__wire_encode(&e, data, MCPHUB__WIRE_REPLY_KNOWN, walk_heartbeat_reply,
                               &scratch, out, len_out);
}

MCPHUB_API int mcphub_wire_heartbeat_reply_decode(const char *json, size_t len,
                                                  mcphub_wire_heartbeat_reply **out,
                                                  const mcphub_mem *mem,
                                                  mcphub_wire_error *err)
{
    mcphub_wire_heartbeat_reply scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REPLY_KNOWN,
                                 walk_heartbeat_reply, sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_heartbeat_reply_free(mcphub_wire_heartbeat_reply *m)
{
    mcphub__wire_msg_free(m);
}

MCPHUB_API int mcphub_wire_unknown_node_encode(const char *node_id, char **out,
                                               size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    char message[MCPHUB_WIRE_MAX_ID + 32];
    json_t *root, *data;

    if (!mcphub__wire_id_ok(node_id) || out == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    snprintf(message, sizeof message, "unknown node %s; register again", node_id);
    root = mcphub__we_object(&e);
    mcphub__we_bool(&e, root, "success", 0);
    mcphub__we_str(&e, root, "message", message, MCPHUB__WE_REQUIRED);
    data = mcphub__we_add(&e, root, "data", mcphub__we_object(&e));
    mcphub__we_bool(&e, data, "known", 0);
    /* fixed shape from checked parts: nothing for the decoder's rules to add */
    if (e.rc == 0)
        e.rc = mcphub__wire_render(root, &e.mem, out, len_out);
    json_decref(root);
    return e.rc;
}
