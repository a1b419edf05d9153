/* The master's client sessions across a restart.  Every open Streamable
 * HTTP session is listed in <state dir>/sessions.json: its Mcp-Session-Id,
 * route, negotiated protocol version and the client's initialize params.
 * The file is written from the tick, at most once a second and only when a
 * session was opened or closed (and on shutdown), never on a request's
 * path.  At start the master loads it; a request that carries one of those
 * ids brings its session back (mcp_http's session_restore hook) without a
 * new initialize, and the session's upstreams open again lazily on its
 * next request for each server.  Legacy HTTP+SSE sessions are not kept:
 * their stream is gone with the process.
 *
 * Session ids are secrets: the file lives in the 0700 state directory, is
 * written 0600 (mcphub_statefile_write), and logs name ids by their first
 * 8 characters only.
 *
 * An entry loaded and not claimed expires like an idle session: sessionTtl
 * after the session was last known alive ("seen", wall clock, refreshed on
 * every write while it is open). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/statefile.h"

#include "master_int.h"

#define SESSIONS_FILE "sessions.json"
#define MAX_ENTRIES 10000            /* mcp_http's default max_sessions */
#define MAX_INIT_PARAMS 8192         /* bigger initialize params: not kept */
#define MAX_FILE (96u << 20)         /* MAX_ENTRIES entries of MAX_INIT_PARAMS, and more */
#define WRITE_EVERY_MS 1000

/* A session of an earlier process, not back yet. */
typedef struct pending {
    char *id;                        /* key */
    char *route, *protocol, *init_params;
    uint64_t seen_wall;              /* last known alive (ms since the epoch) */
    uint64_t expires_ms;             /* monotonic */
} pending;

struct master_sessions {
    mcphub__map live;                /* id (the session's own) -> mcphub_mcp_session */
    mcphub__map pending;             /* id -> pending */
    int dirty;                       /* opened or closed since the last write */
    uint64_t written_ms;             /* monotonic, last write attempt */
    uint64_t swept_ms;               /* monotonic, last look for expired entries */
    int write_failing;               /* logged once per streak */
};

static uint64_t ttl_ms(const mcphub_master *m)
{
    uint64_t t = mcphub_config_cluster(m->config)->master.session_ttl_ms;

    return t ? t : 1800000; /* mcp_http's default */
}

static int valid_id(const char *id)
{
    size_t i, n = id ? strlen(id) : 0;

    if (n == 0 || n > 32)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return 0;
    return 1;
}

static void pending_free(pending *p)
{
    if (p == NULL)
        return;
    free(p->id);
    free(p->route);
    free(p->protocol);
    free(p->init_params);
    free(p);
}

/* ---- the file --------------------------------------------------------------------------- */

static int add_entry(json_t *arr, const char *id, const char *route, const char *protocol,
                     const char *init_params, uint64_t seen)
{
    json_t *params = json_loads(init_params, 0, NULL), *e;

    if (!json_is_object(params)) {
        json_decref(params);
        return 0;
    }
    e = json_pack("{s:s, s:s, s:s, s:o, s:I}", "id", id, "route", route, "protocol", protocol,
                  "initParams", params, "seen", (json_int_t)seen);
    return e != NULL && json_array_append_new(arr, e) == 0 ? 0 : MCPHUB_E_NOMEM;
}

static int save(mcphub_master *m)
{
    master_sessions *t = m->sessions;
    uint64_t now = mcphub__master_wall();
    json_t *root = json_object(), *arr = json_array();
    char *text = NULL, err[256];
    size_t i = 0, n = 0;
    const char *key;
    void *v;
    int rc = MCPHUB_E_NOMEM;

    t->written_ms = mcphub__master_now(m);
    if (root == NULL || arr == NULL || json_object_set_new(root, "version", json_integer(1)) != 0 ||
        json_object_set_new(root, "savedAt", json_integer((json_int_t)now)) != 0 ||
        json_object_set(root, "sessions", arr) != 0)
        goto out;
    while (mcphub__map_next(&t->live, &i, &key, &v) && n < MAX_ENTRIES) {
        mcphub_mcp_session *s = v;
        const char *params = mcphub_mcp_session_init_params(s);

        if (strlen(params) > MAX_INIT_PARAMS)
            continue;
        if (add_entry(arr, key, mcphub_mcp_session_route(s), mcphub_mcp_session_protocol(s),
                      params, now) != 0)
            goto out;
        n++;
    }
    i = 0;
    while (mcphub__map_next(&t->pending, &i, NULL, &v) && n < MAX_ENTRIES) {
        pending *p = v;

        if (add_entry(arr, p->id, p->route, p->protocol, p->init_params, p->seen_wall) != 0)
            goto out;
        n++;
    }
    if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
        goto out;
    rc = mcphub_statefile_write(m->state_dir, SESSIONS_FILE, text, strlen(text), err, sizeof err);
    if (rc != 0) {
        if (!t->write_failing)
            mcphub__master_log(m, MCPHUB_LOG_ERROR, "sessions_write_failed dir=%s error=\"%s\"",
                               m->state_dir, err);
        t->write_failing = 1;
        goto out;
    }
    if (t->write_failing)
        mcphub__master_log(m, MCPHUB_LOG_INFO, "sessions_write_ok dir=%s sessions=%zu",
                           m->state_dir, n);
    t->write_failing = 0;
    t->dirty = 0;
out:
    free(text);
    json_decref(arr);
    json_decref(root);
    return rc;
}

/* One entry of the file into the pending table; 0 kept, 1 skipped. */
static int load_entry(mcphub_master *m, json_t *e, uint64_t now_wall, uint64_t now_ms)
{
    master_sessions *t = m->sessions;
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *route = json_string_value(json_object_get(e, "route"));
    const char *protocol = json_string_value(json_object_get(e, "protocol"));
    json_t *params = json_object_get(e, "initParams"), *seen = json_object_get(e, "seen");
    uint64_t ttl = ttl_ms(m), seen_wall, left;
    pending *p;

    if (!valid_id(id) || route == NULL || protocol == NULL || !json_is_object(params) ||
        !json_is_integer(seen) || json_integer_value(seen) < 0 ||
        mcphub__map_get(&t->pending, id) != NULL)
        return 1;
    seen_wall = (uint64_t)json_integer_value(seen);
    if (seen_wall > now_wall)
        seen_wall = now_wall; /* the clock went back: as if seen now */
    if (now_wall - seen_wall >= ttl)
        return 1; /* idle too long: it would have expired */
    left = ttl - (now_wall - seen_wall);
    p = calloc(1, sizeof *p);
    if (p == NULL || (p->id = strdup(id)) == NULL || (p->route = strdup(route)) == NULL ||
        (p->protocol = strdup(protocol)) == NULL ||
        (p->init_params = json_dumps(params, JSON_COMPACT)) == NULL ||
        mcphub__map_put(&t->pending, p->id, p, NULL) != 0) {
        pending_free(p);
        return 1;
    }
    p->seen_wall = seen_wall;
    p->expires_ms = now_ms + left;
    return 0;
}

int mcphub__master_sessions_load(mcphub_master *m)
{
    master_sessions *t;
    char *text = NULL, err[256];
    size_t len = 0, i, kept = 0, skipped = 0;
    json_t *root, *arr;
    int rc;

    if (m->state_dir == NULL || m->sessions != NULL)
        return 0;
    if (!m->cluster &&
        (rc = mcphub_statefile_prepare_dir(m->state_dir, err, sizeof err)) != 0) {
        /* standalone: the cluster start did not prepare it */
        mcphub__master_log(m, MCPHUB_LOG_WARN, "sessions_not_kept dir=%s error=\"%s\"",
                           m->state_dir, err);
        return 0;
    }
    if ((t = calloc(1, sizeof *t)) == NULL)
        return MCPHUB_E_NOMEM;
    mcphub__map_init(&t->live, &m->mem, m->random(m->random_user_data));
    mcphub__map_init(&t->pending, &m->mem, m->random(m->random_user_data));
    m->sessions = t;
    rc = mcphub_statefile_read(m->state_dir, SESSIONS_FILE, &text, &len, MAX_FILE, err, sizeof err);
    if (rc == MCPHUB_E_NOTFOUND)
        return 0;
    if (rc != 0) {
        /* not desired state: the master starts anyway, the clients initialize again */
        mcphub__master_log(m, MCPHUB_LOG_WARN, "sessions_unreadable dir=%s error=\"%s\"",
                           m->state_dir, err);
        return 0;
    }
    root = json_loadb(text, len, 0, NULL);
    free(text);
    arr = json_object_get(root, "sessions");
    if (!json_is_array(arr)) {
        mcphub__master_log(m, MCPHUB_LOG_WARN, "sessions_unreadable dir=%s file=%s error=\"%s\"",
                           m->state_dir, SESSIONS_FILE, "not a sessions document");
    } else {
        uint64_t now_wall = mcphub__master_wall(), now_ms = mcphub__master_now(m);

        for (i = 0; i < json_array_size(arr); i++) {
            if (kept < MAX_ENTRIES && load_entry(m, json_array_get(arr, i), now_wall, now_ms) == 0)
                kept++;
            else
                skipped++;
        }
        mcphub__master_log(m, MCPHUB_LOG_INFO, "sessions_loaded dir=%s sessions=%zu skipped=%zu",
                           m->state_dir, kept, skipped);
    }
    json_decref(root);
    return 0;
}

/* ---- hooks ------------------------------------------------------------------------------ */

void mcphub__master_sessions_opened(mcphub_master *m, mcphub_mcp_session *s)
{
    master_sessions *t = m->sessions;
    const char *id = mcphub_mcp_session_id(s);

    if (t == NULL || mcphub_mcp_session_legacy(s))
        return; /* legacy: its stream cannot outlive the process */
    pending_free(mcphub__map_del(&t->pending, id));
    if (mcphub__map_put(&t->live, id, s, NULL) == 0)
        t->dirty = 1;
}

void mcphub__master_sessions_closed(mcphub_master *m, mcphub_mcp_session *s)
{
    master_sessions *t = m->sessions;

    if (t != NULL && mcphub__map_del(&t->live, mcphub_mcp_session_id(s)) != NULL)
        t->dirty = 1;
}

int mcphub__master_sessions_restore(const char *id, const char *route, char **protocol_out,
                                    char **init_params_out, void *user_data)
{
    mcphub_master *m = user_data;
    master_sessions *t = m->sessions;
    pending *p = t ? mcphub__map_get(&t->pending, id) : NULL;

    *protocol_out = NULL;
    *init_params_out = NULL;
    if (p == NULL || strcmp(p->route, route) != 0)
        return MCPHUB_E_NOTFOUND;
    if (m->shutting_down)
        return MCPHUB_E_UNAVAILABLE; /* kept in the file for the next process */
    mcphub__map_del(&t->pending, id);
    *protocol_out = p->protocol;
    *init_params_out = p->init_params;
    p->protocol = p->init_params = NULL;
    pending_free(p);
    t->dirty = 1; /* it is live again (session_open said so): rewritten either way */
    return 0;
}

void mcphub__master_sessions_tick(mcphub_master *m)
{
    master_sessions *t = m->sessions;
    uint64_t now = mcphub__master_now(m);

    if (t == NULL || m->shutting_down)
        return;
    if (t->pending.len > 0 && now - t->swept_ms >= 1000) {
        size_t i = 0;
        void *v;

        t->swept_ms = now;
        while (mcphub__map_next(&t->pending, &i, NULL, &v)) {
            pending *p = v;

            if (now >= p->expires_ms) {
                mcphub__master_log(m, MCPHUB_LOG_INFO, "session_expired session=%.8s "
                                   "reason=not-resumed-after-restart", p->id);
                mcphub__map_del(&t->pending, p->id);
                pending_free(p);
                t->dirty = 1;
            }
        }
    }
    /* At most once a second; also now and then while sessions are open:
     * their "seen" stays recent should the process die without a shutdown. */
    if (now - t->written_ms >= WRITE_EVERY_MS &&
        (t->dirty || (t->live.len > 0 && now - t->written_ms >= ttl_ms(m) / 4)))
        save(m);
}

void mcphub__master_sessions_save(mcphub_master *m)
{
    if (m->sessions != NULL)
        save(m);
}

void mcphub__master_sessions_free(mcphub_master *m)
{
    master_sessions *t = m->sessions;
    size_t i = 0;
    void *v;

    if (t == NULL)
        return;
    while (mcphub__map_next(&t->pending, &i, NULL, &v))
        pending_free(v);
    mcphub__map_free(&t->pending);
    mcphub__map_free(&t->live);
    free(t);
    m->sessions = NULL;
}
