/* Wire codecs, replica family: the replica report, assignment and release
 * items, and the master -> worker messages built from them (allocate,
 * release, and their reply). */
#include <string.h>

#include "wire_int.h"

/* ---- items: decode ---- */

static int walk_report(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    mcphub_wire_replica_report *r = msg;
    uint64_t tools;
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "replicaId", &r->replica_id)) != 0 ||
        (rc = mcphub__wd_server(d, obj, path, "serverName", &r->server)) != 0 ||
        (rc = mcphub__wd_status(d, obj, path, "status", &r->status)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "tools", 0, 0, UINT32_MAX, 0, &tools)) != 0 ||
        (rc = mcphub__wd_uint(d, obj, path, "configVersion", 0, 0, INT64_MAX, 0,
                              &r->config_version)) != 0 ||
        (rc = mcphub__wd_text(d, obj, path, "error", MCPHUB_WIRE_MAX_ERROR, &r->error)) != 0)
        return rc;
    r->tools = (uint32_t)tools;
    return 0;
}

/* Shared by assignments and the allocate message. */
static int walk_assignment(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    mcphub_wire_assignment *a = msg;
    const json_t *config;
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "replicaId", &a->replica_id)) != 0 ||
        (rc = mcphub__wd_server(d, obj, path, "serverName", &a->server)) != 0 ||
        (rc = mcphub__wd_object(d, obj, path, "config", 1, &config)) != 0 ||
        (rc = mcphub__wd_json(d, config, &a->config_json)) != 0)
        return rc;
    return mcphub__wd_uint(d, obj, path, "configVersion", 0, 0, INT64_MAX, 0,
                           &a->config_version);
}

static int walk_release(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    mcphub_wire_release *r = msg;
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "replicaId", &r->replica_id)) != 0)
        return rc;
    return mcphub__wd_server(d, obj, path, "serverName", &r->server);
}

int mcphub__wd_reports(mcphub__wdec *d, const json_t *obj, const char *path,
                       const char *key, const mcphub_wire_replica_report **items,
                       size_t *len)
{
    mcphub_wire_replica_report scratch;
    void *p;
    int rc = mcphub__wd_items(d, obj, path, key, 1, sizeof scratch, &scratch, walk_report,
                              &p, len);

    *items = p;
    return rc;
}

int mcphub__wd_assignments(mcphub__wdec *d, const json_t *obj, const char *path,
                           const char *key, const mcphub_wire_assignment **items,
                           size_t *len)
{
    mcphub_wire_assignment scratch;
    void *p;
    int rc = mcphub__wd_items(d, obj, path, key, 0, sizeof scratch, &scratch,
                              walk_assignment, &p, len);

    *items = p;
    return rc;
}

int mcphub__wd_releases(mcphub__wdec *d, const json_t *obj, const char *path,
                        const char *key, const mcphub_wire_release **items, size_t *len)
{
    mcphub_wire_release scratch;
    void *p;
    int rc = mcphub__wd_items(d, obj, path, key, 0, sizeof scratch, &scratch, walk_release,
                              &p, len);

    *items = p;
    return rc;
}

/* ---- items: encode ---- */

/* An array under key, or NULL (with e->rc set) when n items cannot be sent. */
static json_t *we_array(mcphub__wenc *e, json_t *obj, const char *key, const void *items,
                        size_t n)
{
    if (e->rc == 0 && ((n > 0 && items == NULL) || n > MCPHUB_WIRE_MAX_ITEMS))
        e->rc = MCPHUB_E_INVAL;
    return mcphub__we_add(e, obj, key, e->rc == 0 ? json_array() : NULL);
}

void mcphub__we_reports(mcphub__wenc *e, json_t *obj, const char *key,
                        const mcphub_wire_replica_report *items, size_t n)
{
    json_t *arr = we_array(e, obj, key, items, n);
    size_t i;

    for (i = 0; i < n && e->rc == 0; i++) {
        const mcphub_wire_replica_report *r = &items[i];
        json_t *o = mcphub__we_append(e, arr);

        mcphub__we_str(e, o, "replicaId", r->replica_id, MCPHUB__WE_REQUIRED);
        mcphub__we_str(e, o, "serverName", r->server, MCPHUB__WE_REQUIRED);
        mcphub__we_str(e, o, "status", mcphub_replica_status_name(r->status),
                       MCPHUB__WE_REQUIRED);
        mcphub__we_uint(e, o, "tools", r->tools);
        mcphub__we_uint(e, o, "configVersion", r->config_version);
        mcphub__we_str(e, o, "error", r->error, MCPHUB__WE_NULL);
    }
}

static void we_assignment(mcphub__wenc *e, json_t *obj, const mcphub_wire_assignment *a)
{
    mcphub__we_str(e, obj, "replicaId", a->replica_id, MCPHUB__WE_REQUIRED);
    mcphub__we_str(e, obj, "serverName", a->server, MCPHUB__WE_REQUIRED);
    mcphub__we_json(e, obj, "config", a->config_json);
    mcphub__we_uint(e, obj, "configVersion", a->config_version);
}

void mcphub__we_assignments(mcphub__wenc *e, json_t *obj, const char *key,
                            const mcphub_wire_assignment *items, size_t n)
{
    json_t *arr = we_array(e, obj, key, items, n);
    size_t i;

    for (i = 0; i < n && e->rc == 0; i++)
        we_assignment(e, mcphub__we_append(e, arr), &items[i]);
}

void mcphub__we_releases(mcphub__wenc *e, json_t *obj, const char *key,
                         const mcphub_wire_release *items, size_t n)
{
    json_t *arr = we_array(e, obj, key, items, n);
    size_t i;

    for (i = 0; i < n && e->rc == 0; i++) {
        json_t *o = mcphub__we_append(e, arr);

        mcphub__we_str(e, o, "replicaId", items[i].replica_id, MCPHUB__WE_REQUIRED);
        mcphub__we_str(e, o, "serverName", items[i].server, MCPHUB__WE_REQUIRED);
    }
}

/* ---- allocate ---- */

MCPHUB_API int mcphub_wire_allocate_encode(const mcphub_wire_allocate *m, char **out,
                                           size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_allocate scratch;
    json_t *root;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    root = mcphub__we_object(&e);
    /* the design's field order: serverName first */
    mcphub__we_str(&e, root, "serverName", m->server, MCPHUB__WE_REQUIRED);
    mcphub__we_str(&e, root, "replicaId", m->replica_id, MCPHUB__WE_REQUIRED);
    mcphub__we_json(&e, root, "config", m->config_json);
    mcphub__we_uint(&e, root, "configVersion", m->config_version);
    return mcphub__wire_encode(&e, root, MCPHUB__WIRE_REQUEST, walk_assignment, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_allocate_decode(const char *json, size_t len,
                                           mcphub_wire_allocate **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err)
{
    mcphub_wire_allocate scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REQUEST, walk_assignment,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_allocate_free(mcphub_wire_allocate *m)
{
    mcphub__wire_msg_free(m);
}

/* ---- release ---- */

MCPHUB_API int mcphub_wire_release_encode(const mcphub_wire_release *m, char **out,
                                          size_t *len_out, const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_release scratch;
    json_t *root;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    root = mcphub__we_object(&e);
    mcphub__we_str(&e, root, "serverName", m->server, MCPHUB__WE_REQUIRED);
    mcphub__we_str(&e, root, "replicaId", m->replica_id, MCPHUB__WE_REQUIRED);
    return mcphub__wire_encode(&e, root, MCPHUB__WIRE_REQUEST, walk_release, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_release_decode(const char *json, size_t len,
                                          mcphub_wire_release **out,
                                          const mcphub_mem *mem, mcphub_wire_error *err)
{
    mcphub_wire_release scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REQUEST, walk_release,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_release_free(mcphub_wire_release *m)
{
    mcphub__wire_msg_free(m);
}

/* ---- reply to allocate and release ---- */

static int walk_replica_reply(mcphub__wdec *d, const json_t *obj, const char *path, void *msg)
{
    mcphub_wire_replica_reply *r = msg;
    int rc;

    if ((rc = mcphub__wd_id(d, obj, path, "replicaId", &r->replica_id)) != 0)
        return rc;
    return mcphub__wd_status(d, obj, path, "status", &r->status);
}

MCPHUB_API int mcphub_wire_replica_reply_encode(const mcphub_wire_replica_reply *m,
                                                char **out, size_t *len_out,
                                                const mcphub_mem *mem)
{
    mcphub__wenc e;
    mcphub_wire_replica_reply scratch;
    json_t *data;

    if (m == NULL)
        return MCPHUB_E_INVAL;
    mcphub__we_init(&e, mem);
    data = mcphub__we_object(&e);
    mcphub__we_str(&e, data, "replicaId", m->replica_id, MCPHUB__WE_REQUIRED);
    mcphub__we_str(&e, data, "status", mcphub_replica_status_name(m->status),
                   MCPHUB__WE_REQUIRED);
    return mcphub__wire_encode(&e, data, MCPHUB__WIRE_REPLY, walk_replica_reply, &scratch, out,
                               len_out);
}

MCPHUB_API int mcphub_wire_replica_reply_decode(const char *json, size_t len,
                                                mcphub_wire_replica_reply **out,
                                                const mcphub_mem *mem,
                                                mcphub_wire_error *err)
{
    mcphub_wire_replica_reply scratch;
    void *p = NULL;
    int rc = mcphub__wire_decode(json, len, mem, err, MCPHUB__WIRE_REPLY, walk_replica_reply,
                                 sizeof scratch, &scratch,
                                 out != NULL ? &p : NULL);

    if (rc == 0)
        *out = p;
    return rc;
}

MCPHUB_API void mcphub_wire_replica_reply_free(mcphub_wire_replica_reply *m)
{
    mcphub__wire_msg_free(m);
}
