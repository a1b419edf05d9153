/* One replica of one MCP server; see include/mcphub/runner.h.
 *
 * Life of a stdio replica: the supervisor spawns the child (state
 * starting); the runner sends initialize through the multiplexer as a
 * request of its own, then notifications/initialized and the list requests;
 * when the tool list is in, the supervisor is told the replica runs.  If
 * the child dies, everything in flight is answered with an error, the
 * supervisor restarts it after a backoff, and the handshake runs again:
 * client sessions stay open throughout.
 *
 * A remote replica (sse, streamable-http) goes the same way, with
 * runner_remote.c in the supervisor's place: an MCP client connection
 * instead of a child, reconnected with backoff when it breaks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcphub/mux.h"
#include "mcphub/process.h"
#include "mcphub/runner.h"
#include "mcphub/version.h"

#include "core/map_int.h"
#include "core/mem_int.h"

#include "runner_int.h"

typedef enum { LIST_TOOLS, LIST_PROMPTS, LIST_RESOURCES, LIST_TEMPLATES, LIST_COUNT } list_kind;

static const struct {
    const char *method;   /* request */
    const char *member;   /* result member holding the array */
    const char *cap;      /* server capability that must be present */
} lists[LIST_COUNT] = {
    {"tools/list", "tools", "tools"},
    {"prompts/list", "prompts", "prompts"},
    {"resources/list", "resources", "resources"},
    {"resources/templates/list", "resourceTemplates", "resources"},
};

/* An internal request awaiting its answer. */
typedef struct pending_call {
    uint64_t token;
    enum { CALL_INIT, CALL_LIST, CALL_OWNER } kind;
    list_kind list;
    json_t *acc;                   /* lists: items so far (pagination) */
    mcphub_runner_done_fn done;
    void *user_data;
    struct pending_call *next;
} pending_call;

struct mcphub_runner {
    mcphub__mem mem;
    mcphub_loop *loop;
    mcphub_runner_callbacks cb;
    mcphub_log_fn log;
    void *log_user_data;
    char *server, *replica;
    uint64_t config_version;
    uint32_t client_caps;
    uint64_t init_timeout_ms;
    uint32_t stop_grace_ms;

    mcphub_server_type type;
    mcphub_supervisor *sup;
    mcphub__remote *remote;       /* instead of sup for sse, streamable-http */
    mcphub_mux *mux;
    mcphub_replica_status status;
    char last_error[256];
    uint32_t sessions;

    char *init_result;
    char *list_json[LIST_COUNT];
    json_t *server_caps;
    uint32_t tool_count;
    int handshake_done;
    int lists_outstanding;
    uint64_t init_timer;
    uint64_t fail_timer;          /* a deferred handshake failure */
    uint64_t tick_timer;          /* stdio: mcphub_mux_tick() every second */
    uint64_t request_timeout_ms;  /* the server's options.timeout */
    uint32_t request_timeout_s;   /* the same in ticks of one second, at least 1 */
    pending_call *calls;
};

static void logf_(mcphub_runner *r, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void logf_(mcphub_runner *r, mcphub_log_level lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (r->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mcphub__runner_log(r->log, r->log_user_data, lvl, r->server, r->replica, msg);
}

void mcphub__runner_log(mcphub_log_fn log, void *user_data, mcphub_log_level lvl,
                        const char *server, const char *replica, const char *msg)
{
    char buf[700];
    const char *rest = strchr(msg, ' ');

    /* "event k=v" becomes "event server=.. replica=.. k=v" */
    snprintf(buf, sizeof buf, "%.*s server=%s replica=%s%s",
             (int)(rest ? (size_t)(rest - msg) : strlen(msg)), msg, server, replica,
             rest ? rest : "");
    log(lvl, buf, user_data);
}

static void set_status(mcphub_runner *r, mcphub_replica_status st)
{
    if (r->status == st)
        return;
    r->status = st;
    if (r->cb.status != NULL)
        r->cb.status(r, st, r->cb.user_data);
}

/* ---- the upstream connection ------------------------------------------------------ */

static int send_upstream(const char *json, size_t len, void *user_data)
{
    mcphub_runner *r = user_data;
    mcphub_process *p = r->sup ? mcphub_supervisor_process(r->sup) : NULL;
    int rc;

    if (r->remote != NULL)
        return mcphub__remote_send(r->remote, json, len);
    if (p == NULL || !mcphub_process_running(p))
        return MCPHUB_E_UNAVAILABLE;
    /* one unit: a refused write never leaves half a line in the pipe */
    rc = mcphub_process_write_line(p, json, len);
    return rc;
}

static int send_downstream(uint64_t session, const char *json, size_t len, const char *related,
                           void *user_data)
{
    mcphub_runner *r = user_data;

    return r->cb.send_downstream ? r->cb.send_downstream(r, session, json, len, related,
                                                         r->cb.user_data)
                                 : 0;
}

/* ---- internal requests ------------------------------------------------------------- */

static pending_call *call_take(mcphub_runner *r, uint64_t token)
{
    pending_call **pp;

    for (pp = &r->calls; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->token == token) {
            pending_call *c = *pp;

            *pp = c->next;
            return c;
        }
    return NULL;
}

static void call_free(mcphub_runner *r, pending_call *c)
{
    json_decref(c->acc);
    mcphub__free(&r->mem, c);
}

static int call_start(mcphub_runner *r, const char *method, const char *params, int kind,
                      list_kind list, json_t *acc, mcphub_runner_done_fn done, void *ud)
{
    pending_call *c = mcphub__calloc(&r->mem, 1, sizeof *c);
    int rc;

    if (c == NULL) {
        json_decref(acc);
        return MCPHUB_E_NOMEM;
    }
    rc = mcphub_mux_request(r->mux, method, params, &c->token);
    if (rc != 0) {
        json_decref(acc);
        mcphub__free(&r->mem, c);
        return rc;
    }
    c->kind = kind;
    c->list = list;
    c->acc = acc;
    c->done = done;
    c->user_data = ud;
    c->next = r->calls;
    r->calls = c;
    return 0;
}

static int fail_now(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_runner *r = user_data;

    (void)loop;
    (void)id;
    r->fail_timer = 0;
    if (r->sup != NULL)
        mcphub_supervisor_fail(r->sup, r->last_error);
    else if (r->remote != NULL)
        mcphub__remote_fail(r->remote, r->last_error);
    return 0;
}

/* The handshake failed.  The connection is failed from the loop, not from
 * here: we may be inside the multiplexer, which must not see the
 * connection close under it. */
static void handshake_failed(mcphub_runner *r, const char *why)
{
    snprintf(r->last_error, sizeof r->last_error, "%s", why);
    logf_(r, MCPHUB_LOG_WARN, "replica_handshake_failed error=\"%s\"", why);
    if (r->fail_timer == 0)
        mcphub_loop_defer(r->loop, &r->fail_timer, fail_now, r);
}

static void lists_done(mcphub_runner *r)
{
    if (!r->handshake_done) {
        r->handshake_done = 1;
        if (r->init_timer != 0) {
            mcphub_loop_timer_cancel(r->loop, r->init_timer);
            r->init_timer = 0;
        }
        if (r->sup != NULL)
            mcphub_supervisor_set_running(r->sup);
        else if (r->remote != NULL)
            mcphub__remote_set_running(r->remote);
        r->last_error[0] = '\0';
        logf_(r, MCPHUB_LOG_INFO, "replica_ready tools=%u", r->tool_count);
    } else if (r->cb.lists_changed != NULL) {
        r->cb.lists_changed(r, r->cb.user_data);
    }
}

static int request_list(mcphub_runner *r, list_kind k, const char *cursor)
{
    json_t *acc = json_array();
    char params[512];

    if (cursor != NULL)
        snprintf(params, sizeof params, "{\"cursor\":\"%.480s\"}", cursor);
    return call_start(r, lists[k].method, cursor ? params : NULL, CALL_LIST, k, acc, NULL, NULL);
}

static void refresh_lists(mcphub_runner *r)
{
    int k;

    for (k = 0; k < LIST_COUNT; k++) {
        if (k != LIST_TOOLS && json_object_get(r->server_caps, lists[k].cap) == NULL)
            continue;
        if (request_list(r, (list_kind)k, NULL) == 0)
            r->lists_outstanding++;
    }
    if (r->lists_outstanding == 0)
        lists_done(r);
}

static void list_answer(mcphub_runner *r, pending_call *c, json_t *resp)
{
    json_t *result = json_object_get(resp, "result");
    json_t *items = json_object_get(result, lists[c->list].member);
    const char *cursor = json_string_value(json_object_get(result, "nextCursor"));
    size_t i;
    json_t *v;

    if (json_is_array(items))
        json_array_foreach(items, i, v) json_array_append(c->acc, v);
    if (cursor != NULL && *cursor != '\0' && json_array_size(c->acc) < 100000) {
        pending_call *next;

        if (request_list(r, c->list, cursor) == 0 && (next = r->calls) != NULL) {
            json_decref(next->acc);
            next->acc = json_incref(c->acc); /* keep accumulating */
            return;
        }
    }
    if (json_object_get(resp, "error") != NULL && c->list == LIST_TOOLS)
        logf_(r, MCPHUB_LOG_WARN, "replica_list_failed list=%s", lists[c->list].method);
    free(r->list_json[c->list]);
    r->list_json[c->list] = json_dumps(c->acc, JSON_COMPACT);
    if (c->list == LIST_TOOLS)
        r->tool_count = (uint32_t)json_array_size(c->acc);
    if (--r->lists_outstanding <= 0) {
        r->lists_outstanding = 0;
        lists_done(r);
    }
}

static void init_answer(mcphub_runner *r, json_t *resp)
{
    json_t *result = json_object_get(resp, "result");
    json_t *err = json_object_get(resp, "error");
    char why[200];

    if (!json_is_object(result)) {
        snprintf(why, sizeof why, "initialize failed: %s",
                 json_string_value(json_object_get(err, "message"))
                     ? json_string_value(json_object_get(err, "message"))
                     : "no result");
        handshake_failed(r, why);
        return;
    }
    free(r->init_result);
    r->init_result = json_dumps(result, JSON_COMPACT);
    json_decref(r->server_caps);
    r->server_caps = json_incref(json_object_get(result, "capabilities"));
    mcphub_mux_notify(r->mux, "notifications/initialized", NULL);
    refresh_lists(r);
}

static int internal_response(uint64_t token, const char *json, size_t len, void *user_data)
{
    mcphub_runner *r = user_data;
    pending_call *c = call_take(r, token);
    json_t *resp;

    if (c == NULL)
        return 0;
    if (c->kind == CALL_OWNER) {
        if (c->done != NULL)
            c->done(r, json, len, c->user_data);
        call_free(r, c);
        return 0;
    }
    resp = json_loadb(json, len, 0, NULL);
    if (c->kind == CALL_INIT)
        init_answer(r, resp);
    else
        list_answer(r, c, resp);
    json_decref(resp);
    call_free(r, c);
    return 0;
}

static int on_init_timeout(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_runner *r = user_data;
    char why[128];

    (void)loop;
    (void)id;
    r->init_timer = 0;
    snprintf(why, sizeof why, "initialize did not complete within %llu ms",
             (unsigned long long)r->init_timeout_ms);
    handshake_failed(r, why);
    return 0;
}

/* Once a second: requests the server has left unanswered for its
 * options.timeout are answered with an error and cancelled upstream. */
static int on_tick(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_runner *r = user_data;
    char msg[128];
    int n;

    (void)loop;
    (void)id;
    snprintf(msg, sizeof msg, "Request timed out after %llu ms (the server's options.timeout)",
             (unsigned long long)r->request_timeout_ms);
    n = mcphub_mux_tick(r->mux, r->request_timeout_s, msg);
    if (n > 0)
        logf_(r, MCPHUB_LOG_WARN, "replica_request_timeout count=%d timeout_ms=%llu", n,
              (unsigned long long)r->request_timeout_ms);
    return 0;
}

static void start_handshake(mcphub_runner *r)
{
    char params[512];
    json_t *caps = json_object();

    if (r->client_caps & MCPHUB_MUX_CAP_SAMPLING)
        json_object_set_new(caps, "sampling", json_object());
    if (r->client_caps & MCPHUB_MUX_CAP_ELICITATION)
        json_object_set_new(caps, "elicitation", json_object());
    if (r->client_caps & MCPHUB_MUX_CAP_ROOTS)
        json_object_set_new(caps, "roots", json_pack("{s:b}", "listChanged", 1));
    {
        char *cs = json_dumps(caps, JSON_COMPACT);

        snprintf(params, sizeof params,
                 "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":%s,"
                 "\"clientInfo\":{\"name\":\"mcphub-cluster\",\"version\":\"%s\"}}",
                 cs ? cs : "{}", MCPHUB_VERSION_STRING);
        free(cs);
    }
    json_decref(caps);
    r->handshake_done = 0;
    r->lists_outstanding = 0;
    if (call_start(r, "initialize", params, CALL_INIT, LIST_TOOLS, NULL, NULL, NULL) != 0) {
        handshake_failed(r, "could not send initialize");
        return;
    }
    if (r->init_timer != 0)
        mcphub_loop_timer_cancel(r->loop, r->init_timer);
    mcphub_loop_timer_add(r->loop, &r->init_timer, r->init_timeout_ms, 0, on_init_timeout, r);
}

/* ---- the child process -------------------------------------------------------------- */

/* One message from the server: a line of a stdio child, or one message of
 * a remote connection. */
static void from_upstream(mcphub_runner *r, const char *line, size_t len)
{
    int rc;

    rc = mcphub_mux_from_upstream(r->mux, line, len);
    if (rc < 0 && rc != MCPHUB_E_NOMEM)
        logf_(r, MCPHUB_LOG_WARN, "replica_bad_line bytes=%zu error=\"%s\"", len,
              mcphub_strerror(rc));
    /* A list changed: refresh our copy (the sessions were told by the mux). */
    if (r->handshake_done && len < 4096 && memchr(line, '/', len) != NULL) {
        static const char *const changed[] = {"notifications/tools/list_changed",
                                              "notifications/prompts/list_changed",
                                              "notifications/resources/list_changed"};
        size_t i, n = sizeof changed / sizeof changed[0];

        for (i = 0; i < n; i++) {
            size_t cl = strlen(changed[i]), j;

            for (j = 0; j + cl <= len; j++)
                if (memcmp(line + j, changed[i], cl) == 0) {
                    refresh_lists(r);
                    return;
                }
        }
    }
}

static void on_line(mcphub_supervisor *sup, const char *line, size_t len, void *user_data)
{
    (void)sup;
    from_upstream(user_data, line, len);
}

static void on_stderr(mcphub_supervisor *sup, const char *line, size_t len, void *user_data)
{
    mcphub_runner *r = user_data;

    (void)sup;
    if (r->cb.stderr_line != NULL)
        r->cb.stderr_line(r, line, len, r->cb.user_data);
    else
        logf_(r, MCPHUB_LOG_INFO, "replica_stderr line=\"%.*s\"", (int)(len > 400 ? 400 : len),
              line);
}

static void on_dropped(mcphub_supervisor *sup, int stream, size_t len, void *user_data)
{
    mcphub_runner *r = user_data;

    (void)sup;
    logf_(r, MCPHUB_LOG_WARN, "replica_line_dropped stream=%s bytes=%zu reason=too-long",
          stream == MCPHUB_PROCESS_STDOUT ? "stdout" : "stderr", len);
}

/* The connection is gone: the handshake's own requests die with it (the
 * owner's calls are answered with an error by the multiplexer). */
static void drop_handshake_calls(mcphub_runner *r)
{
    pending_call **pp = &r->calls;

    while (*pp != NULL) {
        pending_call *c = *pp;

        if (c->kind != CALL_OWNER) {
            *pp = c->next;
            call_free(r, c);
        } else {
            pp = &c->next;
        }
    }
    r->lists_outstanding = 0;
}

/* The connection (child or remote) changed state: run the handshake, or
 * answer what was in flight when it went away. */
static void state_changed(mcphub_runner *r, mcphub_replica_status st, const char *err,
                          uint32_t restarts)
{
    if (st == MCPHUB_REPLICA_STARTING) {
        start_handshake(r);
    } else if (st == MCPHUB_REPLICA_ERROR || st == MCPHUB_REPLICA_STOPPED) {
        char why[300];

        if (r->init_timer != 0) {
            mcphub_loop_timer_cancel(r->loop, r->init_timer);
            r->init_timer = 0;
        }
        r->handshake_done = 0;
        drop_handshake_calls(r);
        snprintf(why, sizeof why, "MCP server %s: %s", r->server,
                 err && *err ? err : "stopped");
        if (st == MCPHUB_REPLICA_ERROR) {
            snprintf(r->last_error, sizeof r->last_error, "%s", err && *err ? err : "error");
            logf_(r, MCPHUB_LOG_WARN, "replica_error error=\"%s\" restarts=%u", r->last_error,
                  restarts);
        }
        mcphub_mux_upstream_closed(r->mux, why);
    }
    set_status(r, st);
}

static void on_state(mcphub_supervisor *sup, mcphub_replica_status st, void *user_data)
{
    state_changed(user_data, st, mcphub_supervisor_last_error(sup),
                  mcphub_supervisor_restarts(sup));
}

static void on_remote_message(const char *json, size_t len, void *user_data)
{
    from_upstream(user_data, json, len);
}

static void on_remote_state(mcphub_replica_status st, void *user_data)
{
    mcphub_runner *r = user_data;

    state_changed(r, st, mcphub__remote_last_error(r->remote), mcphub__remote_restarts(r->remote));
}

/* ---- public ---------------------------------------------------------------------------- */

static const char *default_getenv(const char *name, void *user_data)
{
    (void)user_data;
    return getenv(name);
}

typedef struct expand_ctx {
    mcphub_runner_getenv_fn fn;
    void *ud;
} expand_ctx;

static const char *lookup(const char *name, void *user_data)
{
    expand_ctx *x = user_data;

    return x->fn(name, x->ud);
}

/* Build the supervisor for a stdio server: command, args and env with
 * ${VAR} expanded from the worker's environment (MCPHub's rule). */
static int make_supervisor(mcphub_runner *r, const mcphub_runner_opts *o)
{
    const mcphub_server_def *d = o->def;
    expand_ctx x = {o->getenv_fn ? o->getenv_fn : default_getenv, o->getenv_user_data};
    mcphub_mem m = {sizeof m, r->mem.malloc_fn, r->mem.realloc_fn, r->mem.free_fn, r->mem.user_data};
    size_t i, nargs = d->args_len, nenv = d->env_len + 2;
    char **args = mcphub__calloc(&r->mem, nargs + 1, sizeof *args);
    char **env = mcphub__calloc(&r->mem, nenv + 1, sizeof *env);
    char *cmd = NULL;
    mcphub_process_opts po;
    mcphub_supervisor_opts so;
    mcphub_backoff_opts bo;
    int rc = MCPHUB_E_NOMEM;

    if (args == NULL || env == NULL)
        goto out;
    if ((rc = mcphub_expand_vars(d->command, lookup, &x, &cmd, &m)) != 0)
        goto out;
    for (i = 0; i < nargs; i++)
        if ((rc = mcphub_expand_vars(d->args[i], lookup, &x, &args[i], &m)) != 0)
            goto out;
    for (i = 0; i < d->env_len; i++) {
        char *v = NULL;
        size_t n;

        if ((rc = mcphub_expand_vars(d->env[i].value, lookup, &x, &v, &m)) != 0)
            goto out;
        n = strlen(d->env[i].key) + strlen(v) + 2;
        env[i] = mcphub__malloc(&r->mem, n);
        if (env[i] != NULL)
            snprintf(env[i], n, "%s=%s", d->env[i].key, v);
        mcphub__free(&r->mem, v);
        if (env[i] == NULL) {
            rc = MCPHUB_E_NOMEM;
            goto out;
        }
    }
    /* The server can tell which replica it is (the example server reports it). */
    {
        size_t n = strlen(r->replica) + 20;

        env[d->env_len] = mcphub__malloc(&r->mem, n);
        if (env[d->env_len] == NULL) {
            rc = MCPHUB_E_NOMEM;
            goto out;
        }
        snprintf(env[d->env_len], n, "MCPHUB_REPLICA_ID=%s", r->replica);
    }
    memset(&po, 0, sizeof po);
    po.size = sizeof po;
    po.loop = r->loop;
    po.command = cmd;
    po.args = (const char *const *)args;
    po.args_len = nargs;
    po.env = (const char *const *)env;
    po.env_len = d->env_len + 1;
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    bo.base_ms = o->backoff_base_ms;
    bo.max_ms = o->backoff_max_ms;
    bo.random = o->random;
    bo.random_user_data = o->random_user_data;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.process = &po;
    so.backoff = &bo;
    so.on_line = on_line;
    so.on_stderr = on_stderr;
    so.on_line_dropped = on_dropped;
    so.on_state = on_state;
    so.user_data = r;
    rc = mcphub_supervisor_new(&r->sup, &so, &m);
out:
    for (i = 0; args != NULL && i < nargs; i++)
        mcphub__free(&r->mem, args[i]);
    for (i = 0; env != NULL && i < nenv; i++)
        mcphub__free(&r->mem, env[i]);
    mcphub__free(&r->mem, args);
    mcphub__free(&r->mem, env);
    mcphub__free(&r->mem, cmd);
    return rc;
}

/* The connection of a remote server: url and headers with ${VAR}
 * expanded from the worker's environment, like a stdio server's env. */
static int make_remote(mcphub_runner *r, const mcphub_runner_opts *o)
{
    expand_ctx x = {o->getenv_fn ? o->getenv_fn : default_getenv, o->getenv_user_data};
    mcphub__remote_opts ro;
    mcphub_backoff_opts bo;

    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    bo.base_ms = o->backoff_base_ms;
    bo.max_ms = o->backoff_max_ms;
    bo.random = o->random;
    bo.random_user_data = o->random_user_data;
    memset(&ro, 0, sizeof ro);
    ro.loop = r->loop;
    ro.def = o->def;
    ro.lookup = lookup;
    ro.lookup_user_data = &x;
    ro.backoff = &bo;
    ro.server = r->server;
    ro.replica = r->replica;
    ro.on_message = on_remote_message;
    ro.on_state = on_remote_state;
    ro.user_data = r;
    ro.log = r->log;
    ro.log_user_data = r->log_user_data;
    return mcphub__remote_new(&r->remote, &ro, &r->mem);
}

MCPHUB_API int mcphub_runner_new(mcphub_runner **out, const mcphub_runner_opts *opts,
                                 const mcphub_runner_callbacks *cb, const mcphub_mem *mem)
{
    mcphub_runner *r;
    mcphub__mem m;
    mcphub_mux_callbacks mcb;
    mcphub_mux_opts mo;
    int rc;

    if (out == NULL || opts == NULL || opts->loop == NULL || opts->server == NULL ||
        opts->replica == NULL || opts->def == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&m, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0)
        return rc;
    r = mcphub__calloc(&m, 1, sizeof *r);
    if (r == NULL)
        return MCPHUB_E_NOMEM;
    r->mem = m;
    r->loop = opts->loop;
    if (cb != NULL)
        memcpy(&r->cb, cb, cb->size < sizeof r->cb ? cb->size : sizeof r->cb);
    r->log = opts->log;
    r->log_user_data = opts->log_user_data;
    r->config_version = opts->config_version;
    r->client_caps = opts->client_caps;
    r->init_timeout_ms = opts->init_timeout_ms ? opts->init_timeout_ms : 60000;
    r->stop_grace_ms = opts->stop_grace_ms ? opts->stop_grace_ms : 3000;
    r->type = opts->def->type;
    r->status = MCPHUB_REPLICA_PENDING;
    r->server = mcphub__strdup(&r->mem, opts->server);
    r->replica = mcphub__strdup(&r->mem, opts->replica);
    if (r->server == NULL || r->replica == NULL) {
        rc = MCPHUB_E_NOMEM;
        goto err;
    }
    memset(&mcb, 0, sizeof mcb);
    mcb.size = sizeof mcb;
    mcb.send_upstream = send_upstream;
    mcb.send_downstream = send_downstream;
    mcb.internal_response = internal_response;
    mcb.user_data = r;
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.hash_seed = opts->random ? opts->random(opts->random_user_data) : 0;
    {
        mcphub_mem mm = {sizeof mm, m.malloc_fn, m.realloc_fn, m.free_fn, m.user_data};

        if ((rc = mcphub_mux_new(&r->mux, &mcb, &mo, &mm)) != 0)
            goto err;
    }
    if (r->type == MCPHUB_SERVER_STDIO) {
        if (opts->def->command == NULL || *opts->def->command == '\0') {
            rc = MCPHUB_E_INVAL;
            goto err;
        }
        if ((rc = make_supervisor(r, opts)) != 0)
            goto err;
        r->request_timeout_ms = opts->def->timeout_ms ? opts->def->timeout_ms : 60000;
        r->request_timeout_s = r->request_timeout_ms / 1000 >= UINT32_MAX
                                   ? UINT32_MAX
                                   : (uint32_t)(r->request_timeout_ms / 1000);
        if (r->request_timeout_s == 0)
            r->request_timeout_s = 1;
        if ((rc = mcphub_loop_timer_add(r->loop, &r->tick_timer, 1000, 1000, on_tick, r)) != 0)
            goto err;
    } else if (r->type == MCPHUB_SERVER_SSE || r->type == MCPHUB_SERVER_STREAMABLE_HTTP) {
        if ((rc = make_remote(r, opts)) != 0)
            goto err;
    } else {
        snprintf(r->last_error, sizeof r->last_error, "server type %s is not supported here",
                 mcphub_server_type_name(r->type));
    }
    *out = r;
    return 0;
err:
    mcphub_runner_free(r);
    return rc;
}

MCPHUB_API int mcphub_runner_start(mcphub_runner *r)
{
    if (r == NULL)
        return MCPHUB_E_INVAL;
    if (r->remote != NULL) {
        logf_(r, MCPHUB_LOG_INFO, "replica_start");
        return mcphub__remote_start(r->remote);
    }
    if (r->sup == NULL) {
        set_status(r, MCPHUB_REPLICA_ERROR);
        return MCPHUB_E_STATE;
    }
    logf_(r, MCPHUB_LOG_INFO, "replica_start");
    return mcphub_supervisor_start(r->sup);
}

MCPHUB_API void mcphub_runner_stop(mcphub_runner *r)
{
    if (r != NULL && r->remote != NULL) {
        logf_(r, MCPHUB_LOG_INFO, "replica_stop");
        mcphub__remote_stop(r->remote);
        return;
    }
    if (r == NULL || r->sup == NULL)
        return;
    logf_(r, MCPHUB_LOG_INFO, "replica_stop grace_ms=%u", r->stop_grace_ms);
    mcphub_supervisor_stop(r->sup, r->stop_grace_ms);
}

MCPHUB_API void mcphub_runner_free(mcphub_runner *r)
{
    int k;

    if (r == NULL)
        return;
    if (r->init_timer != 0)
        mcphub_loop_timer_cancel(r->loop, r->init_timer);
    if (r->fail_timer != 0)
        mcphub_loop_timer_cancel(r->loop, r->fail_timer);
    if (r->tick_timer != 0)
        mcphub_loop_timer_cancel(r->loop, r->tick_timer);
    /* Free the supervisor first: it kills and reaps the process group. */
    mcphub_supervisor_free(r->sup);
    r->sup = NULL;
    mcphub__remote_free(r->remote);
    r->remote = NULL;
    while (r->calls != NULL) {
        pending_call *c = r->calls;

        r->calls = c->next;
        call_free(r, c);
    }
    mcphub_mux_free(r->mux);
    for (k = 0; k < LIST_COUNT; k++)
        free(r->list_json[k]);
    free(r->init_result);
    json_decref(r->server_caps);
    mcphub__free(&r->mem, r->server);
    mcphub__free(&r->mem, r->replica);
    mcphub__free(&r->mem, r);
}

MCPHUB_API const char *mcphub_runner_server(const mcphub_runner *r) { return r->server; }
MCPHUB_API const char *mcphub_runner_replica(const mcphub_runner *r) { return r->replica; }
MCPHUB_API mcphub_replica_status mcphub_runner_status(const mcphub_runner *r) { return r->status; }
MCPHUB_API const char *mcphub_runner_last_error(const mcphub_runner *r) { return r->last_error; }
MCPHUB_API uint32_t mcphub_runner_restarts(const mcphub_runner *r)
{
    return r->sup      ? mcphub_supervisor_restarts(r->sup)
           : r->remote ? mcphub__remote_restarts(r->remote)
                       : 0;
}
MCPHUB_API int mcphub_runner_pid(const mcphub_runner *r)
{
    return r->sup ? mcphub_supervisor_pid(r->sup) : 0;
}
MCPHUB_API uint64_t mcphub_runner_config_version(const mcphub_runner *r)
{
    return r->config_version;
}
MCPHUB_API uint32_t mcphub_runner_tool_count(const mcphub_runner *r) { return r->tool_count; }
MCPHUB_API uint32_t mcphub_runner_session_count(const mcphub_runner *r) { return r->sessions; }
MCPHUB_API const char *mcphub_runner_initialize_result(const mcphub_runner *r)
{
    return r->handshake_done ? r->init_result : NULL;
}
MCPHUB_API const char *mcphub_runner_tools(const mcphub_runner *r)
{
    return r->list_json[LIST_TOOLS];
}
MCPHUB_API const char *mcphub_runner_prompts(const mcphub_runner *r)
{
    return r->list_json[LIST_PROMPTS];
}
MCPHUB_API const char *mcphub_runner_resources(const mcphub_runner *r)
{
    return r->list_json[LIST_RESOURCES];
}
MCPHUB_API const char *mcphub_runner_resource_templates(const mcphub_runner *r)
{
    return r->list_json[LIST_TEMPLATES];
}

MCPHUB_API int mcphub_runner_session_open(mcphub_runner *r, uint64_t session, uint32_t caps)
{
    int rc = mcphub_mux_session_open(r->mux, session, caps);

    if (rc == 0)
        r->sessions++;
    return rc;
}

MCPHUB_API void mcphub_runner_session_close(mcphub_runner *r, uint64_t session)
{
    if (mcphub_mux_session_close(r->mux, session) != MCPHUB_E_NOTFOUND && r->sessions > 0)
        r->sessions--;
}

MCPHUB_API int mcphub_runner_from_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                             size_t len)
{
    return mcphub_mux_from_downstream(r->mux, session, json, len);
}

MCPHUB_API int mcphub_runner_call(mcphub_runner *r, const char *method, const char *params_json,
                                  mcphub_runner_done_fn done, void *user_data)
{
    if (r == NULL || method == NULL)
        return MCPHUB_E_INVAL;
    if (!r->handshake_done)
        return MCPHUB_E_UNAVAILABLE;
    return call_start(r, method, params_json, CALL_OWNER, LIST_TOOLS, NULL, done, user_data);
}
