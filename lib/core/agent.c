/* Worker agent: register, heartbeat and retry state machine; see
 * mcphub/agent.h.
 *
 * At most one request is in flight (a->in_flight holds its kind).  Outside
 * of a request the agent waits for a->due_ms: the next heartbeat when
 * active, the next register when backing off.  Every reply is decoded with
 * the wire codecs before anything else happens, so a reply either acts in
 * full (callbacks) or counts as one failed request. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mcphub/agent.h"
#include "mcphub/backoff.h"
#include "mcphub/wire.h"

#include "mem_int.h"

#define PATH_REGISTER "/internal/cluster/register"
#define PATH_HEARTBEAT "/internal/cluster/heartbeat"
#define JITTER_PCT 20u

/* How a failed request is reported and retried. */
typedef enum {
    FAIL_UNREACHABLE, /* no answer, 5xx, send refused: the master is away */
    FAIL_AUTH,        /* 401/403: the cluster token is wrong */
    FAIL_BAD          /* an answer we cannot use: bad reply, refused, other 4xx */
} fail_kind;

struct mcphub_agent {
    mcphub__mem mem;
    mcphub_mem wmem; /* the same hooks in public form, for wire and backoff */
    mcphub_backoff *backoff;
    char *strs;      /* node_id, host and meta strings, one block */
    mcphub_wire_register node; /* the register message minus its replicas */
    uint64_t interval_ms;
    mcphub_agent_callbacks cb;
    mcphub_log_fn log;
    void *log_user_data;
    mcphub_agent_state state;
    int in_flight;   /* 0, or the mcphub_agent_request in flight */
    int in_callback; /* re-entry guard */
    uint64_t sent_ms;  /* when the request in flight (or last one) was sent */
    uint64_t due_ms;   /* active: next heartbeat; backoff: next register */
    uint32_t hb_failures;
    uint64_t last_contact_ms;
    char last_error[512];
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static const char *kind_name(mcphub_agent_request kind)
{
    return kind == MCPHUB_AGENT_REQ_REGISTER ? "register" : "heartbeat";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void say(const mcphub_agent *a, mcphub_log_level level, const char *fmt, ...);

static void say(const mcphub_agent *a, mcphub_log_level level, const char *fmt, ...)
{
    char line[768];
    va_list ap;

    if (a->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    a->log(level, line, a->log_user_data);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void set_error(mcphub_agent *a, const char *fmt, ...);

/* Text from the peer or the transport goes into log values in double
 * quotes: no quote, backslash or control character may survive. */
static void set_error(mcphub_agent *a, const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    vsnprintf(a->last_error, sizeof a->last_error, fmt, ap);
    va_end(ap);
    for (p = a->last_error; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            *p = '\'';
        else if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
}

/* Run a callback with the re-entry guard up. */
#define CALLBACK(a, call)        \
    do {                         \
        (a)->in_callback = 1;    \
        call;                    \
        (a)->in_callback = 0;    \
    } while (0)

static int reentered(const mcphub_agent *a, const char *fn)
{
    if (a->in_callback)
        say(a, MCPHUB_LOG_ERROR, "agent_reentered call=%s action=ignored", fn);
    return a->in_callback;
}

/* ---- failures and retries ------------------------------------------------ */

/* The request of this kind failed at now_ms; a->last_error says why.
 * Heartbeats are retried at the interval until the third failure in a row;
 * everything else registers again after a backoff delay. */
static void failed(mcphub_agent *a, mcphub_agent_request kind, fail_kind how, uint64_t now_ms)
{
    static const char *const events[] = {"agent_master_unreachable", "agent_auth_failed",
                                         "agent_request_failed"};
    const char *next = "register";
    char failures[32] = "";

    if (kind == MCPHUB_AGENT_REQ_HEARTBEAT && a->hb_failures < MCPHUB_AGENT_HEARTBEAT_FAILURES)
        a->hb_failures++;
    if (kind == MCPHUB_AGENT_REQ_HEARTBEAT && how != FAIL_AUTH &&
        a->hb_failures < MCPHUB_AGENT_HEARTBEAT_FAILURES) {
        /* keep the cadence: the master counts missed intervals */
        a->state = MCPHUB_AGENT_ACTIVE;
        a->due_ms = add_sat(a->sent_ms, a->interval_ms);
        next = "heartbeat";
    } else {
        a->state = MCPHUB_AGENT_BACKOFF;
        a->due_ms = add_sat(now_ms, mcphub_backoff_next(a->backoff, now_ms));
    }
    if (kind == MCPHUB_AGENT_REQ_HEARTBEAT)
        snprintf(failures, sizeof failures, " heartbeat_failures=%u", (unsigned)a->hb_failures);
    say(a, how == FAIL_AUTH ? MCPHUB_LOG_ERROR : MCPHUB_LOG_WARN,
        "%s request=%s error=\"%s\"%s next=%s retry_in_ms=%llu%s", events[how],
        kind_name(kind), a->last_error, failures, next,
        (unsigned long long)(a->due_ms > now_ms ? a->due_ms - now_ms : 0),
        how == FAIL_AUTH ? " hint=\"configuration error: check the cluster token of master "
                           "and worker\"" : "");
}

/* An HTTP answer other than 2xx: say which, with the peer's message when
 * its envelope carried one. */
static void http_failed(mcphub_agent *a, mcphub_agent_request kind, long status, int rc,
                        const mcphub_wire_error *err, uint64_t now_ms)
{
    fail_kind how = status == 401 || status == 403 ? FAIL_AUTH
                    : status >= 500               ? FAIL_UNREACHABLE
                                                  : FAIL_BAD;

    set_error(a, "%s: HTTP %ld from the master%s%s%s", kind_name(kind), status,
              how == FAIL_AUTH ? " (the cluster token was refused)" : "",
              rc == MCPHUB_WIRE_E_REFUSED ? ": " : "",
              rc == MCPHUB_WIRE_E_REFUSED ? err->text : "");
    failed(a, kind, how, now_ms);
}

/* A 2xx reply that did not decode: name the field. */
static void decode_failed(mcphub_agent *a, mcphub_agent_request kind, int rc,
                          const mcphub_wire_error *err, uint64_t now_ms)
{
    if (rc == MCPHUB_E_NOMEM)
        set_error(a, "%s reply: out of memory while decoding it", kind_name(kind));
    else if (rc == MCPHUB_WIRE_E_REFUSED)
        set_error(a, "%s: the master refused it: %s", kind_name(kind), err->text);
    else
        set_error(a, "%s reply: field %s: %s", kind_name(kind),
                  err->field[0] != '\0' ? err->field : "(message)", err->text);
    failed(a, kind, FAIL_BAD, now_ms);
}

/* ---- sending ------------------------------------------------------------- */

static int encode_register(mcphub_agent *a, const mcphub_wire_replica_report *reports,
                           size_t n, char **body, size_t *len)
{
    mcphub_wire_register m = a->node;

    m.replicas = reports;
    m.replicas_len = n;
    return mcphub_wire_register_encode(&m, body, len, &a->wmem);
}

static int encode_heartbeat(mcphub_agent *a, const mcphub_wire_replica_report *reports,
                            size_t n, const mcphub_node_metrics *metrics, uint64_t now_ms,
                            char **body, size_t *len)
{
    mcphub_wire_heartbeat m;
    size_t i;

    memset(&m, 0, sizeof m);
    m.node_id = a->node.node_id;
    m.timestamp_ms = now_ms;
    if (a->cb.wall_clock != NULL)
        CALLBACK(a, m.timestamp_ms = a->cb.wall_clock(a->cb.user_data));
    if (m.timestamp_ms > (uint64_t)INT64_MAX)
        m.timestamp_ms = (uint64_t)INT64_MAX;
    m.metrics = *metrics;
    /* a probe's odd reading must not cost the heartbeat */
    if (!(m.metrics.cpu_percent >= 0.0))
        m.metrics.cpu_percent = 0.0;
    if (m.metrics.cpu_percent > MCPHUB_WIRE_MAX_CPU)
        m.metrics.cpu_percent = MCPHUB_WIRE_MAX_CPU;
    for (i = 0; i < n; i++)
        if (reports[i].config_version > m.config_version)
            m.config_version = reports[i].config_version;
    m.replicas = reports;
    m.replicas_len = n;
    return mcphub_wire_heartbeat_encode(&m, body, len, &a->wmem);
}

/* Collect, encode and send one request of this kind. */
static void send_request(mcphub_agent *a, mcphub_agent_request kind, uint64_t now_ms)
{
    const mcphub_wire_replica_report *reports = NULL;
    mcphub_node_metrics metrics;
    char *body = NULL;
    size_t n = 0, len = 0;
    int rc;

    memset(&metrics, 0, sizeof metrics);
    a->sent_ms = now_ms;
    if (kind == MCPHUB_AGENT_REQ_REGISTER)
        a->state = MCPHUB_AGENT_REGISTERING;
    CALLBACK(a, a->cb.collect(&reports, &n, &metrics, a->cb.user_data));
    if (n > 0 && reports == NULL)
        rc = MCPHUB_E_INVAL;
    else if (kind == MCPHUB_AGENT_REQ_REGISTER)
        rc = encode_register(a, reports, n, &body, &len);
    else
        rc = encode_heartbeat(a, reports, n, &metrics, now_ms, &body, &len);
    if (rc != 0) {
        set_error(a, "%s: the message cannot be built: %s%s", kind_name(kind),
                  mcphub_strerror(rc),
                  rc == MCPHUB_E_INVAL ? " (a replica report from collect breaks a wire rule)"
                                       : "");
        failed(a, kind, FAIL_BAD, now_ms);
        return;
    }
    say(a, MCPHUB_LOG_DEBUG, "agent_send request=%s replicas=%zu bytes=%zu", kind_name(kind), n,
        len);
    CALLBACK(a, rc = a->cb.send(kind,
                                kind == MCPHUB_AGENT_REQ_REGISTER ? PATH_REGISTER
                                                                  : PATH_HEARTBEAT,
                                body, len, a->cb.user_data));
    mcphub_wire_free(&a->wmem, body);
    if (rc != 0) {
        set_error(a, "%s: could not be sent: %s", kind_name(kind), mcphub_strerror(rc));
        failed(a, kind, FAIL_UNREACHABLE, now_ms);
        return;
    }
    a->in_flight = (int)kind;
}

/* ---- replies ------------------------------------------------------------- */

static void contact(mcphub_agent *a, uint64_t now_ms)
{
    a->last_contact_ms = now_ms;
    a->last_error[0] = '\0';
    a->hb_failures = 0;
    a->state = MCPHUB_AGENT_ACTIVE;
    a->due_ms = add_sat(a->sent_ms, a->interval_ms);
}

static void register_reply(mcphub_agent *a, long status, const char *body, size_t len,
                           uint64_t now_ms)
{
    mcphub_wire_register_reply *r = NULL;
    mcphub_wire_error err;
    size_t i;
    int rc = mcphub_wire_register_reply_decode(body, len, &r, &a->wmem, &err);

    if (status < 200 || status > 299) {
        http_failed(a, MCPHUB_AGENT_REQ_REGISTER, status, rc, &err, now_ms);
    } else if (rc != 0) {
        decode_failed(a, MCPHUB_AGENT_REQ_REGISTER, rc, &err, now_ms);
    } else if (strcmp(r->node_id, a->node.node_id) != 0) {
        set_error(a, "register reply: field data.nodeId (\"%s\") is not this node (\"%s\")",
                  r->node_id, a->node.node_id);
        failed(a, MCPHUB_AGENT_REQ_REGISTER, FAIL_BAD, now_ms);
    } else {
        a->interval_ms = r->heartbeat_interval_ms;
        mcphub_backoff_reset(a->backoff);
        contact(a, now_ms);
        say(a, MCPHUB_LOG_INFO, "agent_registered node=%s master_heartbeat_interval=%llu "
            "assignments=%zu", a->node.node_id, (unsigned long long)a->interval_ms,
            r->assignments_len);
        for (i = 0; i < r->assignments_len; i++)
            CALLBACK(a, a->cb.assign(&r->assignments[i], a->cb.user_data));
    }
    mcphub_wire_register_reply_free(r);
}

static void heartbeat_reply(mcphub_agent *a, long status, const char *body, size_t len,
                            uint64_t now_ms)
{
    mcphub_wire_heartbeat_reply *r = NULL;
    mcphub_wire_error err;
    uint32_t had_failures = a->hb_failures;
    size_t i;
    int rc = mcphub_wire_heartbeat_reply_decode(body, len, &r, &a->wmem, &err);

    if (rc == MCPHUB_E_NOTFOUND && ((status >= 200 && status <= 299) || status == 404)) {
        /* the master restarted and forgot us: tell it what we run, now */
        a->hb_failures = 0;
        say(a, MCPHUB_LOG_WARN, "agent_reregister reason=unknown-node node=%s",
            a->node.node_id);
        send_request(a, MCPHUB_AGENT_REQ_REGISTER, now_ms);
    } else if (status < 200 || status > 299) {
        http_failed(a, MCPHUB_AGENT_REQ_HEARTBEAT, status, rc, &err, now_ms);
    } else if (rc != 0) {
        decode_failed(a, MCPHUB_AGENT_REQ_HEARTBEAT, rc, &err, now_ms);
    } else {
        contact(a, now_ms);
        if (had_failures > 0)
            say(a, MCPHUB_LOG_INFO, "agent_master_reachable after_failures=%u",
                (unsigned)had_failures);
        say(a, r->assignments_len + r->releases_len > 0 ? MCPHUB_LOG_INFO : MCPHUB_LOG_DEBUG,
            "agent_heartbeat_ok assignments=%zu releases=%zu", r->assignments_len,
            r->releases_len);
        /* stop first: a node at max_servers needs the room */
        for (i = 0; i < r->releases_len; i++)
            CALLBACK(a, a->cb.release(&r->releases[i], a->cb.user_data));
        for (i = 0; i < r->assignments_len; i++)
            CALLBACK(a, a->cb.assign(&r->assignments[i], a->cb.user_data));
    }
    mcphub_wire_heartbeat_reply_free(r);
}

MCPHUB_API void mcphub_agent_response(mcphub_agent *a, mcphub_agent_request kind,
                                      long http_status, const char *body, size_t len,
                                      const char *error_text, uint64_t now_ms)
{
    if (a == NULL || reentered(a, "response"))
        return;
    if (a->in_flight == 0 || a->in_flight != (int)kind) {
        say(a, MCPHUB_LOG_WARN,
            "agent_unexpected_response request=%s in_flight=%s action=ignored",
            kind_name(kind),
            a->in_flight == 0 ? "none" : kind_name((mcphub_agent_request)a->in_flight));
        return;
    }
    a->in_flight = 0;
    if (http_status <= 0) {
        set_error(a, "%s: no answer from the master: %s", kind_name(kind),
                  error_text != NULL && error_text[0] != '\0' ? error_text : "unknown error");
        failed(a, kind, FAIL_UNREACHABLE, now_ms);
        return;
    }
    if (body == NULL) {
        body = "";
        len = 0;
    }
    if (kind == MCPHUB_AGENT_REQ_REGISTER)
        register_reply(a, http_status, body, len, now_ms);
    else
        heartbeat_reply(a, http_status, body, len, now_ms);
}

/* ---- the rest of the API ------------------------------------------------- */

MCPHUB_API void mcphub_agent_start(mcphub_agent *a, uint64_t now_ms)
{
    if (a == NULL || reentered(a, "start") || a->state != MCPHUB_AGENT_IDLE)
        return;
    say(a, MCPHUB_LOG_INFO, "agent_start node=%s host=%s port=%u interval_ms=%llu",
        a->node.node_id, a->node.host, (unsigned)a->node.port,
        (unsigned long long)a->interval_ms);
    send_request(a, MCPHUB_AGENT_REQ_REGISTER, now_ms);
}

MCPHUB_API void mcphub_agent_tick(mcphub_agent *a, uint64_t now_ms)
{
    if (a == NULL || reentered(a, "tick") || a->in_flight != 0 || now_ms < a->due_ms)
        return;
    if (a->state == MCPHUB_AGENT_ACTIVE)
        send_request(a, MCPHUB_AGENT_REQ_HEARTBEAT, now_ms);
    else if (a->state == MCPHUB_AGENT_BACKOFF)
        send_request(a, MCPHUB_AGENT_REQ_REGISTER, now_ms);
}

MCPHUB_API uint64_t mcphub_agent_next_deadline(const mcphub_agent *a)
{
    if (a == NULL || a->in_flight != 0 ||
        (a->state != MCPHUB_AGENT_ACTIVE && a->state != MCPHUB_AGENT_BACKOFF))
        return UINT64_MAX;
    return a->due_ms;
}

MCPHUB_API mcphub_agent_state mcphub_agent_get_state(const mcphub_agent *a)
{
    return a != NULL ? a->state : MCPHUB_AGENT_IDLE;
}

MCPHUB_API const char *mcphub_agent_state_name(mcphub_agent_state s)
{
    switch (s) {
    case MCPHUB_AGENT_IDLE: return "idle";
    case MCPHUB_AGENT_REGISTERING: return "registering";
    case MCPHUB_AGENT_ACTIVE: return "active";
    case MCPHUB_AGENT_BACKOFF: return "backoff";
    }
    return "unknown";
}

MCPHUB_API const char *mcphub_agent_last_error(const mcphub_agent *a)
{
    return a != NULL ? a->last_error : "";
}

MCPHUB_API uint64_t mcphub_agent_last_contact_ms(const mcphub_agent *a)
{
    return a != NULL ? a->last_contact_ms : 0;
}

MCPHUB_API uint32_t mcphub_agent_heartbeat_failures(const mcphub_agent *a)
{
    return a != NULL ? a->hb_failures : 0;
}

MCPHUB_API uint64_t mcphub_agent_heartbeat_interval(const mcphub_agent *a)
{
    return a != NULL ? a->interval_ms : 0;
}

/* ---- creation ------------------------------------------------------------ */

/* Copy the node's strings into one block and point a->node at them. */
static int copy_strings(mcphub_agent *a, const mcphub_wire_register *src)
{
    const char *in[5];
    const char **out[5];
    size_t lens[5], total = 0, i;
    char *p;

    in[0] = src->node_id;       out[0] = &a->node.node_id;
    in[1] = src->host;          out[1] = &a->node.host;
    in[2] = src->meta.hostname; out[2] = &a->node.meta.hostname;
    in[3] = src->meta.version;  out[3] = &a->node.meta.version;
    in[4] = src->meta.os;       out[4] = &a->node.meta.os;
    for (i = 0; i < 5; i++) {
        lens[i] = in[i] != NULL ? strlen(in[i]) + 1 : 0;
        total += lens[i];
    }
    a->strs = p = mcphub__malloc(&a->mem, total);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < 5; i++) {
        *out[i] = NULL;
        if (in[i] != NULL) {
            memcpy(p, in[i], lens[i]);
            *out[i] = p;
            p += lens[i];
        }
    }
    return 0;
}

/* The node part of every register, checked now with the wire rules. */
static int node_from_opts(mcphub_wire_register *m, const mcphub_agent_opts *o,
                          const mcphub_mem *wmem)
{
    static const mcphub_node_meta no_meta = {NULL, NULL, NULL, 0, 0};
    char *probe = NULL;
    int rc;

    memset(m, 0, sizeof *m);
    m->node_id = MCPHUB__GET(o, mcphub_agent_opts, node_id, NULL);
    m->role = MCPHUB_ROLE_WORKER;
    m->host = MCPHUB__GET(o, mcphub_agent_opts, host, NULL);
    m->port = MCPHUB__GET(o, mcphub_agent_opts, port, 0);
    m->internal_port = MCPHUB__GET(o, mcphub_agent_opts, internal_port, 0);
    m->weight = MCPHUB__GET(o, mcphub_agent_opts, weight, 0);
    m->weight = m->weight != 0 ? m->weight : 1;
    m->max_servers = MCPHUB__GET(o, mcphub_agent_opts, max_servers, 0);
    m->meta = MCPHUB__GET(o, mcphub_agent_opts, meta, no_meta);
    if (m->node_id == NULL || m->host == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub_wire_register_encode(m, &probe, NULL, wmem);
    mcphub_wire_free(wmem, probe);
    return rc == MCPHUB_E_TOOBIG ? MCPHUB_E_INVAL : rc;
}

MCPHUB_API int mcphub_agent_new(mcphub_agent **out, const mcphub_agent_opts *opts,
                                const mcphub_agent_callbacks *cb, const mcphub_mem *mem)
{
    mcphub_backoff_opts bo;
    mcphub_wire_register node;
    mcphub__mem m;
    mcphub_mem wmem;
    mcphub_agent *a;
    uint64_t interval;
    int rc;

    if (out == NULL || opts == NULL || cb == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 ||
        (rc = mcphub__opts_check(cb, sizeof *cb)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    if (MCPHUB__GET(cb, mcphub_agent_callbacks, send, NULL) == NULL ||
        MCPHUB__GET(cb, mcphub_agent_callbacks, collect, NULL) == NULL ||
        MCPHUB__GET(cb, mcphub_agent_callbacks, assign, NULL) == NULL ||
        MCPHUB__GET(cb, mcphub_agent_callbacks, release, NULL) == NULL)
        return MCPHUB_E_INVAL;
    interval = MCPHUB__GET(opts, mcphub_agent_opts, heartbeat_interval_ms, 0);
    interval = interval != 0 ? interval : MCPHUB_AGENT_DEFAULT_INTERVAL_MS;
    if (interval > MCPHUB_WIRE_MAX_INTERVAL)
        return MCPHUB_E_INVAL;
    memset(&wmem, 0, sizeof wmem);
    wmem.size = sizeof wmem;
    wmem.malloc_fn = m.malloc_fn;
    wmem.realloc_fn = m.realloc_fn;
    wmem.free_fn = m.free_fn;
    wmem.user_data = m.user_data;
    if ((rc = node_from_opts(&node, opts, &wmem)) != 0)
        return rc;

    a = mcphub__calloc(&m, 1, sizeof *a);
    if (a == NULL)
        return MCPHUB_E_NOMEM;
    a->mem = m;
    a->wmem = wmem;
    a->node = node;
    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    bo.base_ms = MCPHUB_AGENT_RETRY_BASE_MS;
    bo.max_ms = MCPHUB_AGENT_RETRY_MAX_MS;
    bo.jitter_pct = JITTER_PCT;
    bo.random = MCPHUB__GET(opts, mcphub_agent_opts, random, NULL);
    bo.random_user_data = MCPHUB__GET(opts, mcphub_agent_opts, random_user_data, NULL);
    if ((rc = copy_strings(a, &node)) != 0 ||
        (rc = mcphub_backoff_new(&a->backoff, &bo, &a->wmem)) != 0) {
        mcphub_agent_free(a);
        return rc;
    }
    a->interval_ms = interval;
    memset(&a->cb, 0, sizeof a->cb);
    a->cb.size = sizeof a->cb;
    a->cb.send = cb->send;
    a->cb.collect = cb->collect;
    a->cb.assign = cb->assign;
    a->cb.release = cb->release;
    a->cb.wall_clock = MCPHUB__GET(cb, mcphub_agent_callbacks, wall_clock, NULL);
    a->cb.user_data = MCPHUB__GET(cb, mcphub_agent_callbacks, user_data, NULL);
    a->log = MCPHUB__GET(opts, mcphub_agent_opts, log, NULL);
    a->log_user_data = MCPHUB__GET(opts, mcphub_agent_opts, log_user_data, NULL);
    a->state = MCPHUB_AGENT_IDLE;
    *out = a;
    return 0;
}

MCPHUB_API void mcphub_agent_free(mcphub_agent *a)
{
    if (a == NULL)
        return;
    mcphub_backoff_free(a->backoff);
    mcphub__free(&a->mem, a->strs);
    mcphub__free(&a->mem, a);
}
