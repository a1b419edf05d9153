/* The runner's connection to a remote MCP server; see runner_int.h.
 *
 * One mcphub_mcp_client at a time, over an HTTP client of our own (the
 * replica's connections stay apart from the worker's cluster traffic).
 * Connecting does no I/O: the runner's initialize is the first request,
 * and its failure (connect refused, an HTTP error, a timeout) is the
 * handshake failure that brings the backoff.  A connection that becomes
 * unusable later (the server lost the session, the legacy stream ended,
 * the GET stream cannot reach the server) reports on_closed: everything in
 * flight was already answered with an error, and we reconnect. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mcphub/http_client.h"
#include "mcphub/mcp_client.h"

#include "runner_int.h"

#define MAX_HEADERS 64

struct mcphub__remote {
    mcphub__mem mem;
    mcphub_loop *loop;
    mcphub_http_client *http;
    mcphub_mcp_client *client;      /* the current connection, or NULL */
    mcphub_backoff *backoff;
    char *url;
    mcphub_http_kv *headers;
    size_t n_headers;
    mcphub_mcp_transport transport;
    uint64_t request_timeout_ms;
    char *server, *replica;
    void (*on_message)(const char *json, size_t len, void *user_data);
    void (*on_state)(mcphub_replica_status st, void *user_data);
    void *user_data;
    mcphub_log_fn log;
    void *log_user_data;

    mcphub_replica_status state;
    int supervising;                /* reconnects wanted */
    char last_error[300];
    uint32_t restarts;
    uint64_t retry_timer;
    uint64_t fail_defer;            /* reports a fail() from the loop */
    int busy, doomed;
};

static void logf_(mcphub__remote *rm, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void logf_(mcphub__remote *rm, mcphub_log_level lvl, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    if (rm->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mcphub__runner_log(rm->log, rm->log_user_data, lvl, rm->server, rm->replica, msg);
}

/* The logs of our MCP and HTTP clients, with the replica named. */
static void client_log(mcphub_log_level lvl, const char *msg, void *user_data)
{
    logf_(user_data, lvl, "%s", msg);
}

static mcphub_mem public_mem(const mcphub__remote *rm)
{
    mcphub_mem m = {sizeof m, rm->mem.malloc_fn, rm->mem.realloc_fn, rm->mem.free_fn,
                    rm->mem.user_data};

    return m;
}

static void release(mcphub__remote *rm)
{
    size_t i;

    mcphub_mcp_client_free(rm->client);
    mcphub_http_client_free(rm->http);
    mcphub_backoff_free(rm->backoff);
    for (i = 0; i < rm->n_headers; i++) {
        mcphub__free(&rm->mem, (char *)rm->headers[i].name);
        mcphub__free(&rm->mem, (char *)rm->headers[i].value);
    }
    mcphub__free(&rm->mem, rm->headers);
    mcphub__free(&rm->mem, rm->url);
    mcphub__free(&rm->mem, rm->server);
    mcphub__free(&rm->mem, rm->replica);
    mcphub__free(&rm->mem, rm);
}

/* free() from inside one of our callbacks waits for it to return. */
static void enter(mcphub__remote *rm)
{
    rm->busy++;
}

static void leave(mcphub__remote *rm)
{
    if (--rm->busy == 0 && rm->doomed)
        release(rm);
}

static void notify(mcphub__remote *rm)
{
    if (rm->on_state != NULL && !rm->doomed)
        rm->on_state(rm->state, rm->user_data);
}

/* Forget the connection; close() first deletes the server's session. */
static void drop_client(mcphub__remote *rm, int close_it)
{
    if (rm->client == NULL)
        return;
    if (close_it)
        mcphub_mcp_client_close(rm->client);
    mcphub_mcp_client_free(rm->client); /* may be inside its callback: allowed */
    rm->client = NULL;
}

static int on_retry(mcphub_loop *loop, uint64_t id, void *user_data);

static void schedule_retry(mcphub__remote *rm)
{
    uint64_t delay;

    if (!rm->supervising || rm->retry_timer != 0)
        return;
    delay = mcphub_backoff_next(rm->backoff, mcphub_loop_now_ms(rm->loop));
    if (mcphub_loop_timer_add(rm->loop, &rm->retry_timer, delay, 0, on_retry, rm) != 0) {
        rm->retry_timer = 0;
        logf_(rm, MCPHUB_LOG_ERROR, "replica_retry_failed reason=no-timer");
        return;
    }
    logf_(rm, MCPHUB_LOG_INFO, "replica_reconnect_in delay_ms=%llu", (unsigned long long)delay);
}

/* The connection broke or could not be made. */
static void go_error(mcphub__remote *rm, const char *why)
{
    snprintf(rm->last_error, sizeof rm->last_error, "%s", why && *why ? why : "failed");
    rm->state = MCPHUB_REPLICA_ERROR;
    notify(rm);
    schedule_retry(rm);
}

static void on_message(mcphub_mcp_client *c, const char *json, size_t len, void *user_data)
{
    mcphub__remote *rm = user_data;

    (void)c;
    enter(rm);
    if (rm->on_message != NULL)
        rm->on_message(json, len, rm->user_data);
    leave(rm);
}

static void on_closed(mcphub_mcp_client *c, const char *why, void *user_data)
{
    mcphub__remote *rm = user_data;

    (void)c;
    enter(rm);
    drop_client(rm, 0);
    logf_(rm, MCPHUB_LOG_WARN, "replica_connection_lost error=\"%s\"", why);
    go_error(rm, why);
    leave(rm);
}

static int connect_(mcphub__remote *rm)
{
    mcphub_mcp_client_opts o;
    mcphub_mem m = public_mem(rm);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = rm->loop;
    o.http = rm->http;
    o.url = rm->url;
    o.headers = rm->headers;
    o.n_headers = rm->n_headers;
    o.transport = rm->transport;
    o.request_timeout_ms = rm->request_timeout_ms;
    o.open_get_stream = 1; /* list_changed and other server messages */
    o.on_message = on_message;
    o.on_closed = on_closed;
    o.user_data = rm;
    o.log = rm->log != NULL ? client_log : NULL;
    o.log_user_data = rm;
    mcphub_backoff_run_started(rm->backoff, mcphub_loop_now_ms(rm->loop));
    return mcphub_mcp_client_new(&rm->client, &o, &m);
}

/* Connect, or fail like a connection that broke at once. */
static void connect_or_fail(mcphub__remote *rm)
{
    int rc = connect_(rm);

    if (rc != 0) {
        char why[120];

        snprintf(why, sizeof why, "cannot create the MCP client: %s", mcphub_strerror(rc));
        go_error(rm, why);
        return;
    }
    rm->state = MCPHUB_REPLICA_STARTING;
    notify(rm);
}

static int on_retry(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub__remote *rm = user_data;

    (void)loop;
    (void)id;
    enter(rm);
    rm->retry_timer = 0;
    if (rm->supervising && rm->client == NULL) {
        rm->restarts++;
        connect_or_fail(rm);
    }
    leave(rm);
    return 0;
}

static int on_fail_deferred(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub__remote *rm = user_data;

    (void)loop;
    (void)id;
    enter(rm);
    rm->fail_defer = 0;
    notify(rm);
    schedule_retry(rm);
    leave(rm);
    return 0;
}

int mcphub__remote_start(mcphub__remote *rm)
{
    if (rm->state != MCPHUB_REPLICA_STOPPED || rm->supervising)
        return MCPHUB_E_STATE;
    rm->supervising = 1;
    enter(rm);
    connect_or_fail(rm);
    leave(rm);
    return 0;
}

int mcphub__remote_send(mcphub__remote *rm, const char *json, size_t len)
{
    int rc;

    if (rm->client == NULL ||
        (rm->state != MCPHUB_REPLICA_STARTING && rm->state != MCPHUB_REPLICA_RUNNING))
        return MCPHUB_E_UNAVAILABLE;
    rc = mcphub_mcp_client_send(rm->client, json, len);
    return rc == MCPHUB_E_STATE ? MCPHUB_E_UNAVAILABLE : rc;
}

int mcphub__remote_set_running(mcphub__remote *rm)
{
    if (rm->state != MCPHUB_REPLICA_STARTING)
        return MCPHUB_E_STATE;
    rm->state = MCPHUB_REPLICA_RUNNING;
    rm->last_error[0] = '\0';
    logf_(rm, MCPHUB_LOG_INFO, "replica_connected transport=%s",
          rm->client != NULL && mcphub_mcp_client_transport(rm->client) == MCPHUB_MCP_TRANSPORT_SSE
              ? "sse"
              : "streamable-http");
    enter(rm);
    notify(rm);
    leave(rm);
    return 0;
}

int mcphub__remote_fail(mcphub__remote *rm, const char *reason)
{
    if (rm->state != MCPHUB_REPLICA_STARTING && rm->state != MCPHUB_REPLICA_RUNNING)
        return MCPHUB_E_STATE;
    drop_client(rm, 1);
    snprintf(rm->last_error, sizeof rm->last_error, "%s",
             reason != NULL && *reason != '\0' ? reason : "failed");
    rm->state = MCPHUB_REPLICA_ERROR;
    if (mcphub_loop_defer(rm->loop, &rm->fail_defer, on_fail_deferred, rm) != 0) {
        rm->fail_defer = 0;
        schedule_retry(rm); /* the state change is reported with the next one */
    }
    return 0;
}

void mcphub__remote_stop(mcphub__remote *rm)
{
    mcphub_replica_status was = rm->state;

    rm->supervising = 0;
    if (rm->retry_timer != 0) {
        mcphub_loop_timer_cancel(rm->loop, rm->retry_timer);
        rm->retry_timer = 0;
    }
    if (rm->fail_defer != 0) {
        mcphub_loop_timer_cancel(rm->loop, rm->fail_defer);
        rm->fail_defer = 0;
    }
    drop_client(rm, 1);
    rm->state = MCPHUB_REPLICA_STOPPED;
    if (was != MCPHUB_REPLICA_STOPPED) {
        enter(rm);
        notify(rm);
        leave(rm);
    }
}

mcphub_replica_status mcphub__remote_state(const mcphub__remote *rm)
{
    return rm->state;
}

const char *mcphub__remote_last_error(const mcphub__remote *rm)
{
    return rm->last_error;
}

uint32_t mcphub__remote_restarts(const mcphub__remote *rm)
{
    return rm->restarts;
}

/* ---- creation ---------------------------------------------------------------------------- */

static int expand(mcphub__remote *rm, const mcphub__remote_opts *o, const char *in, char **out)
{
    mcphub_mem m = public_mem(rm);

    return mcphub_expand_vars(in, o->lookup, o->lookup_user_data, out, &m);
}

static int copy_headers(mcphub__remote *rm, const mcphub__remote_opts *o)
{
    const mcphub_server_def *d = o->def;
    size_t i;
    int rc;

    if (d->headers_len == 0)
        return 0;
    if (d->headers_len > MAX_HEADERS)
        return MCPHUB_E_INVAL;
    rm->headers = mcphub__calloc(&rm->mem, d->headers_len, sizeof *rm->headers);
    if (rm->headers == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < d->headers_len; i++) {
        char *name = mcphub__strdup(&rm->mem, d->headers[i].key), *value = NULL;

        if (name == NULL)
            return MCPHUB_E_NOMEM;
        rm->headers[rm->n_headers].name = name;
        rm->n_headers++;
        if ((rc = expand(rm, o, d->headers[i].value, &value)) != 0)
            return rc;
        rm->headers[rm->n_headers - 1].value = value;
    }
    return 0;
}

int mcphub__remote_new(mcphub__remote **out, const mcphub__remote_opts *o, const mcphub__mem *mem)
{
    const mcphub_server_def *d = o->def;
    mcphub__remote *rm;
    mcphub_http_client_opts ho;
    mcphub_mem m;
    int rc;

    *out = NULL;
    if (d->url == NULL || *d->url == '\0')
        return MCPHUB_E_INVAL;
    rm = mcphub__calloc(mem, 1, sizeof *rm);
    if (rm == NULL)
        return MCPHUB_E_NOMEM;
    rm->mem = *mem;
    rm->loop = o->loop;
    rm->transport = d->type == MCPHUB_SERVER_SSE ? MCPHUB_MCP_TRANSPORT_SSE
                                                  : MCPHUB_MCP_TRANSPORT_STREAMABLE;
    rm->request_timeout_ms = d->timeout_ms;
    rm->on_message = o->on_message;
    rm->on_state = o->on_state;
    rm->user_data = o->user_data;
    rm->log = o->log;
    rm->log_user_data = o->log_user_data;
    rm->state = MCPHUB_REPLICA_STOPPED;
    m = public_mem(rm);
    rm->server = mcphub__strdup(&rm->mem, o->server ? o->server : "");
    rm->replica = mcphub__strdup(&rm->mem, o->replica ? o->replica : "");
    if (rm->server == NULL || rm->replica == NULL) {
        rc = MCPHUB_E_NOMEM;
        goto err;
    }
    if ((rc = expand(rm, o, d->url, &rm->url)) != 0 || (rc = copy_headers(rm, o)) != 0 ||
        (rc = mcphub_backoff_new(&rm->backoff, o->backoff, &m)) != 0)
        goto err;
    memset(&ho, 0, sizeof ho);
    ho.size = sizeof ho;
    ho.log = o->log != NULL ? client_log : NULL;
    ho.log_user_data = rm;
    if ((rc = mcphub_http_client_new(&rm->http, rm->loop, &ho, &m)) != 0)
        goto err;
    /* A bad url or header fails here, not at every reconnect. */
    if ((rc = connect_(rm)) != 0)
        goto err;
    drop_client(rm, 0);
    *out = rm;
    return 0;
err:
    release(rm);
    return rc;
}

void mcphub__remote_free(mcphub__remote *rm)
{
    if (rm == NULL || rm->doomed)
        return;
    rm->supervising = 0;
    if (rm->retry_timer != 0)
        mcphub_loop_timer_cancel(rm->loop, rm->retry_timer);
    if (rm->fail_defer != 0)
        mcphub_loop_timer_cancel(rm->loop, rm->fail_defer);
    rm->retry_timer = rm->fail_defer = 0;
    drop_client(rm, 0);
    rm->doomed = 1;
    if (rm->busy == 0)
        release(rm);
}
