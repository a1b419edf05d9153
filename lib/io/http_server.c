/* HTTP server glue: libmicrohttpd (MHD) in external epoll mode, driven by an
 * mcphub_loop; see http_server.h.
 *
 * How the pieces meet:
 *   - MHD's epoll fd is watched for reading; each readiness runs MHD_run(),
 *     after which one loop timer is kept at MHD_get_timeout().
 *   - The URI log callback (once per request, with the raw target) creates
 *     our request; MHD hands it back as the access handler's *con_cls and in
 *     the completion notice, where it is freed.  MHD calls that notice for
 *     every request the URI callback saw, also those it refused itself.
 *   - A request waiting for its answer, and a stream with nothing queued,
 *     are suspended.  A suspended connection is out of MHD's epoll set and
 *     MHD would not notice the client leaving, so we watch the socket
 *     ourselves meanwhile: a hang-up sets req->gone and resumes it, and the
 *     next MHD callback for it (access handler or content reader) makes MHD
 *     close it.
 *   - NOTIFY_CONNECTION gives a per-connection record: the whole-request
 *     deadline (slowloris) and stop_accepting's closing of idle keep-alive
 *     connections use it.  Both close a connection by shutting its socket
 *     down; MHD then reads end-of-file and closes it the usual way.
 *   - User callbacks run inside MHD_run(); a server freed from one is only
 *     marked, and destroyed when MHD_run() has returned. */
#define _GNU_SOURCE 1   /* POLLRDHUP */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/mem_int.h"
#include "http_path_int.h"
#include "mcphub/http_server.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_MAX_HEADER ((size_t)8 << 10)
#define DEFAULT_MAX_CONNECTIONS 4096u
#define DEFAULT_IDLE_TIMEOUT_S 60u
#define DEFAULT_MAX_STREAM_BUFFER ((size_t)4 << 20)
/* MHD's per-connection memory holds the request head, its parsed headers
 * and the response head; the stream block is MHD's buffer per stream.
 * Together they are most of the ~20 KiB an idle stream costs. */
#define MIN_POOL ((size_t)16 << 10)
#define STREAM_BLOCK ((size_t)4 << 10)
#define KEEP_QUEUE ((size_t)4096)         /* a drained stream queue above this is freed */
#define FIRST_BODY ((size_t)4096)

/* Request states, in order. */
enum { R_HEAD, R_BODY, R_HANDLER, R_SENT, R_STREAM };

typedef struct conn conn;

struct mcphub_http_request {
    mcphub_http_server *srv;
    struct MHD_Connection *mc;
    conn *c;                       /* NULL if its record could not be made */
    mcphub_http_request *prev, *next;
    int state;
    const char *method;            /* MHD's, valid until completion */
    const char *bad;               /* why the target is refused (400) */
    char *path;                    /* decoded, inside this allocation */
    const char **query;            /* n_query (name, value) pairs */
    size_t n_query;
    char remote[64];
    char *body;
    size_t body_len, body_cap;
    unsigned char over;            /* body past max_body: discard, then 413 */
    unsigned char oom;             /* no memory for the body: discard, then 503 */
    unsigned char handled;         /* the handler was called */
    unsigned char suspended;
    unsigned char watching;        /* our loop watches the socket */
    uint64_t recheck;              /* timer looking for a hang-up after bytes */
    uint64_t recheck_ms;
    unsigned char gone;            /* the client left; close at the next chance */
    unsigned char closing;         /* inside the close callback */
    unsigned char ended;           /* stream_end was called */
    unsigned char pending_stream;
    struct MHD_Response *pending;  /* the answer, until MHD takes it */
    unsigned pending_status;
    char *q;                       /* stream queue: q_len bytes at q + q_off */
    size_t q_off, q_len, q_cap;
    mcphub_http_close_fn on_close;
    void *close_ud;
    void *data;
};

/* One per TCP connection. */
struct conn {
    mcphub_http_server *srv;
    int fd;
    int busy;                      /* a request is under way on it */
    uint64_t deadline_ms;          /* 0: not in the deadline queue */
    conn *prev, *next;             /* all connections */
    conn *dprev, *dnext;           /* deadline queue, earliest first */
};

struct mcphub_http_server {
    mcphub__mem mem;
    mcphub_loop *loop;
    struct MHD_Daemon *mhd;
    int epfd;                      /* MHD's epoll fd, watched by the loop */
    uint16_t port;
    size_t max_body, max_header, max_stream;
    uint64_t idle_ms;
    mcphub_http_handler_fn handler;
    void *user_data;
    mcphub_log_fn log;
    void *log_ud;

    uint64_t mhd_timer, mhd_due;   /* 0: no timer */
    uint64_t dl_timer;
    mcphub_http_request *reqs;     /* every live request */
    size_t handled;                /* of those, how many reached the handler */
    conn *conns;
    unsigned n_conns, max_conns;
    conn *dl_head, *dl_tail;
    int in_mhd;                    /* > 0 inside MHD_run */
    int rerun;                     /* a connection was resumed inside MHD_run */
    int doomed;                    /* freed inside MHD_run: destroy after */
    int closing;
    int draining;                  /* stop_accepting was called */
};

typedef struct body_block {
    const mcphub__mem *mem;
    char data[];
} body_block;

static const char empty[] = "";

/* ---- logging ---- */

static void logf_(const mcphub_http_server *srv, mcphub_log_level level, const char *fmt, ...)
{
    char msg[320];
    va_list ap;

    if (srv->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv->log(level, msg, srv->log_ud);
}

/* MHD's own messages (bind failures, bad certificates, ...). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    mcphub_http_server *srv = cls;
    char text[256];
    size_t n;

    if (srv->log == NULL)
        return;
    vsnprintf(text, sizeof text, fmt, ap);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    /* A stream whose client went away ends this way: normal, not a warning. */
    logf_(srv, strstr(text, "application error generating response") ? MCPHUB_LOG_DEBUG
                                                                       : MCPHUB_LOG_WARN,
          "http_mhd msg=\"%s\"", text);
}

/* ---- the request target: /path?query, decoded once (http_path.c) ---- */

/* A request with its decoded target, in one allocation: the struct, the
 * query pointer pairs, then the strings. */
static mcphub_http_request *request_new(mcphub_http_server *srv, const char *target)
{
    size_t n = 0;
    size_t chars = mcphub__http_target_measure(target, &n);
    size_t size = sizeof(mcphub_http_request) + 2 * n * sizeof(char *) + chars;
    mcphub_http_request *req;

    if (n > (SIZE_MAX / 4) / sizeof(char *))
        return NULL;
    req = mcphub__calloc(&srv->mem, 1, size);
    if (req == NULL)
        return NULL;
    req->srv = srv;
    req->query = (const char **)(void *)(req + 1);
    req->n_query = n;
    req->path = (char *)(req->query + 2 * n);
    req->bad = mcphub__http_target_decode(target, req->path, req->query);
    if (req->bad != NULL) {
        req->path[0] = '\0';
        req->n_query = 0;
    }
    return req;
}

static void format_remote(char *out, size_t n, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;

        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, n, "unknown");
    }
}

/* ---- connections and the whole-request deadline ---- */

static conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

static int on_deadline(mcphub_loop *loop, uint64_t id, void *user_data);
static void kick(mcphub_http_server *srv);

static void arm_deadline(mcphub_http_server *srv)
{
    uint64_t now;

    if (srv->dl_timer != 0 || srv->dl_head == NULL)
        return;
    now = mcphub_loop_now_ms(srv->loop);
    if (mcphub_loop_timer_add(srv->loop, &srv->dl_timer,
                              srv->dl_head->deadline_ms > now ? srv->dl_head->deadline_ms - now : 0,
                              0, on_deadline, srv) != 0) {
        srv->dl_timer = 0;
        logf_(srv, MCPHUB_LOG_WARN, "http_deadline_timer_failed");
    }
}

static void deadline_clear(conn *c)
{
    mcphub_http_server *srv;

    if (c == NULL || c->deadline_ms == 0)
        return;
    srv = c->srv;
    if (c->dprev != NULL)
        c->dprev->dnext = c->dnext;
    else
        srv->dl_head = c->dnext;
    if (c->dnext != NULL)
        c->dnext->dprev = c->dprev;
    else
        srv->dl_tail = c->dprev;
    c->dprev = c->dnext = NULL;
    c->deadline_ms = 0;
}

/* Start the clock for the next request on c; the queue stays ordered
 * because every deadline is now + the same timeout. */
static void deadline_start(conn *c)
{
    mcphub_http_server *srv = c->srv;

    deadline_clear(c);
    c->deadline_ms = mcphub_loop_now_ms(srv->loop) + srv->idle_ms;
    c->dprev = srv->dl_tail;
    if (srv->dl_tail != NULL)
        srv->dl_tail->dnext = c;
    else
        srv->dl_head = c;
    srv->dl_tail = c;
    arm_deadline(srv);
}

static int on_deadline(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_http_server *srv = user_data;
    uint64_t now = mcphub_loop_now_ms(loop);

    (void)id;
    srv->dl_timer = 0;
    while (srv->dl_head != NULL && srv->dl_head->deadline_ms <= now) {
        conn *c = srv->dl_head;

        logf_(srv, MCPHUB_LOG_INFO, "http_request_timeout fd=%d", c->fd);
        deadline_clear(c);
        shutdown(c->fd, SHUT_RDWR);
    }
    arm_deadline(srv);
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    mcphub_http_server *srv = cls;
    conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

        srv->n_conns++;
        c = mcphub__calloc(&srv->mem, 1, sizeof *c);
        if (c == NULL || ci == NULL) {
            /* Unguarded by a deadline it could be held forever: refuse it. */
            logf_(srv, MCPHUB_LOG_WARN, "http_connection_refused reason=nomem");
            mcphub__free(&srv->mem, c);
            if (ci != NULL)
                shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        c->srv = srv;
        c->fd = ci->connect_fd;
        c->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = c;
        srv->conns = c;
        *socket_context = c;
        deadline_start(c);
        return;
    }
    /* At the limit MHD took its listening socket out of its epoll set; it
     * puts it back at the start of a run, and nothing else would start
     * one while the remaining connections are quiet. */
    if (srv->n_conns-- >= srv->max_conns)
        kick(srv);
    if (c == NULL)
        return;
    deadline_clear(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    *socket_context = NULL;
    mcphub__free(&srv->mem, c);
}

/* ---- driving MHD from the loop ---- */

static int on_mhd_timer(mcphub_loop *loop, uint64_t id, void *user_data);
static void destroy(mcphub_http_server *srv);

/* Keep one timer at MHD's next deadline; an earlier one already set is
 * kept (running MHD early is harmless). */
static void arm_mhd_timer(mcphub_http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG ms;
    uint64_t due;

    if (MHD_get_timeout(srv->mhd, &ms) != MHD_YES)
        return;
    due = mcphub_loop_now_ms(srv->loop) + (uint64_t)ms;
    if (srv->mhd_timer != 0) {
        if (srv->mhd_due <= due)
            return;
        mcphub_loop_timer_cancel(srv->loop, srv->mhd_timer);
        srv->mhd_timer = 0;
    }
    if (mcphub_loop_timer_add(srv->loop, &srv->mhd_timer, (uint64_t)ms, 0, on_mhd_timer, srv) != 0) {
        srv->mhd_timer = 0;
        logf_(srv, MCPHUB_LOG_WARN, "http_timer_failed");
        return;
    }
    srv->mhd_due = due;
}

static void run_mhd(mcphub_http_server *srv)
{
    srv->in_mhd++;
    MHD_run(srv->mhd);
    srv->in_mhd--;
    if (srv->doomed && srv->in_mhd == 0) {
        destroy(srv);
        return;
    }
    if (srv->rerun) {
        srv->rerun = 0;
        kick(srv);
    } else {
        arm_mhd_timer(srv);
    }
}

static int on_mhd_ready(mcphub_loop *loop, int fd, uint32_t events, void *user_data)
{
    (void)loop;
    (void)fd;
    (void)events;
    run_mhd(user_data);
    return 0;
}

static int on_mhd_timer(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_http_server *srv = user_data;

    (void)loop;
    (void)id;
    srv->mhd_timer = 0;
    run_mhd(srv);
    return 0;
}

/* ---- suspend / resume, and watching a suspended connection ---- */

static void stop_watching(mcphub_http_request *req)
{
    if (req->watching) {
        mcphub_loop_fd_remove(req->srv->loop, req->c->fd);
        req->watching = 0;
    }
    if (req->recheck != 0) {
        mcphub_loop_timer_cancel(req->srv->loop, req->recheck);
        req->recheck = 0;
    }
    req->recheck_ms = 0;
}

/* MHD takes resumed connections back at its next run, and in external
 * mode nothing wakes it for that: ask the loop for a run soon (after the
 * current one, when inside it). */
static void kick(mcphub_http_server *srv)
{
    if (srv->closing || (srv->mhd_timer != 0 && srv->mhd_due == 0))
        return;
    if (srv->in_mhd > 0) {
        srv->rerun = 1;
        return;
    }
    if (srv->mhd_timer != 0)
        mcphub_loop_timer_cancel(srv->loop, srv->mhd_timer);
    srv->mhd_timer = 0;
    if (mcphub_loop_defer(srv->loop, &srv->mhd_timer, on_mhd_timer, srv) != 0) {
        srv->mhd_timer = 0;
        logf_(srv, MCPHUB_LOG_WARN, "http_timer_failed");
        return;
    }
    srv->mhd_due = 0;
}

static void resume(mcphub_http_request *req)
{
    stop_watching(req);
    if (req->suspended) {
        req->suspended = 0;
        MHD_resume_connection(req->mc);
        kick(req->srv);
    }
}

static int hung_up(int fd)
{
    struct pollfd p;

    p.fd = fd;
    p.events = POLLIN | POLLRDHUP;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void client_gone(mcphub_http_request *req)
{
    logf_(req->srv, MCPHUB_LOG_INFO, "http_client_gone remote=%s", req->remote);
    req->gone = 1;
    resume(req);
}

static int on_recheck(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_http_request *req = user_data;

    (void)id;
    req->recheck = 0;
    if (hung_up(req->c->fd)) {
        client_gone(req);
        return 0;
    }
    req->recheck_ms = req->recheck_ms < 4000 ? req->recheck_ms * 2 : 8000;
    if (mcphub_loop_timer_add(loop, &req->recheck, req->recheck_ms, 0, on_recheck, req) != 0)
        req->recheck = 0;
    return 0;
}

/* The client's socket moved while MHD was not looking at it. */
static int on_peer(mcphub_loop *loop, int fd, uint32_t events, void *user_data)
{
    mcphub_http_request *req = user_data;

    if ((events & (MCPHUB_LOOP_ERROR | MCPHUB_LOOP_HUP)) != 0 || hung_up(fd)) {
        client_gone(req);
        return 0;
    }
    /* Bytes without a hang-up: a pipelined request, or a TLS close_notify
     * whose FIN is still on its way.  They stay for MHD to read, so the fd
     * stays readable: stop watching it and look for a hang-up now and
     * then instead (backing off). */
    mcphub_loop_fd_modify(loop, fd, 0);
    if (req->recheck == 0) {
        req->recheck_ms = req->recheck_ms != 0 ? req->recheck_ms : 125;
        if (mcphub_loop_timer_add(loop, &req->recheck, req->recheck_ms, 0, on_recheck, req) != 0)
            req->recheck = 0;
    }
    return 0;
}

static void suspend(mcphub_http_request *req)
{
    MHD_suspend_connection(req->mc);
    req->suspended = 1;
    if (req->c != NULL &&
        mcphub_loop_fd_add(req->srv->loop, req->c->fd, MCPHUB_LOOP_READ, on_peer, req) == 0)
        req->watching = 1;
    else
        logf_(req->srv, MCPHUB_LOG_DEBUG, "http_watch_failed remote=%s", req->remote);
}

/* ---- request lifetime ---- */

static void request_free(mcphub_http_request *req)
{
    mcphub_http_server *srv = req->srv;

    stop_watching(req);
    if (req->pending != NULL)
        MHD_destroy_response(req->pending);
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        srv->reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    if (req->handled)
        srv->handled--;
    mcphub__free(&srv->mem, req->body);
    mcphub__free(&srv->mem, req->q);
    mcphub__free(&srv->mem, req);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    mcphub_http_server *srv = cls;
    mcphub_http_request *req = request_new(srv, uri);
    const union MHD_ConnectionInfo *ci;
    conn *c = conn_of(mc);

    if (c != NULL)
        c->busy = 1;
    if (req == NULL)
        return NULL;   /* the access handler answers 503 */
    req->mc = mc;
    req->c = c;
    ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    format_remote(req->remote, sizeof req->remote, ci != NULL ? ci->client_addr : NULL);
    req->next = srv->reqs;
    if (srv->reqs != NULL)
        srv->reqs->prev = req;
    srv->reqs = req;
    return req;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    mcphub_http_server *srv = cls;
    mcphub_http_request *req = *con_cls;
    conn *c = conn_of(mc);

    *con_cls = NULL;
    if (c != NULL) {
        c->busy = 0;
        if (!srv->closing)
            deadline_start(c);   /* for the next request on a kept-alive connection */
    }
    if (req == NULL)
        return;
    stop_watching(req);
    if (req->handled && req->on_close != NULL) {
        req->closing = 1;
        req->on_close(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->gone,
                      req->close_ud);
    }
    request_free(req);
}

/* ---- answers the server gives itself ---- */

static enum MHD_Result reject(mcphub_http_server *srv, mcphub_http_request *req,
                              struct MHD_Connection *mc, unsigned status, const char *msg)
{
    char body[200];
    struct MHD_Response *resp;
    enum MHD_Result rc;
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);

    logf_(srv, MCPHUB_LOG_INFO, "http_reject status=%u remote=%s reason=\"%s\"", status,
          req != NULL ? req->remote : "unknown", msg);
    if (req != NULL) {
        req->state = R_SENT;
        if (req->c != NULL)
            deadline_clear(req->c);
    }
    resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    /* The body may not have been read: the connection cannot be reused. */
    MHD_add_response_header(resp, "Connection", "close");
    rc = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static uint64_t content_length(struct MHD_Connection *mc, int *known)
{
    const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    uint64_t n = 0;

    *known = v != NULL && *v >= '0' && *v <= '9';
    if (!*known)
        return 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10)
            return UINT64_MAX;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    return n;
}

/* Headers are in: check what can be checked before the body. */
static enum MHD_Result on_head(mcphub_http_request *req, const char *method,
                               const char *version)
{
    mcphub_http_server *srv = req->srv;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    char msg[96];
    uint64_t cl;
    int known;

    req->method = method;
    if (req->bad != NULL)
        return reject(srv, req, req->mc, 400, req->bad);
    if (strcmp(version, "HTTP/1.1") == 0 &&
        MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Host") == NULL)
        return reject(srv, req, req->mc, 400, "no Host header");
    /* Both framings at once is how request smuggling starts. */
    if (MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Transfer-Encoding") != NULL &&
        MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Content-Length") != NULL)
        return reject(srv, req, req->mc, 400, "both Content-Length and Transfer-Encoding");
    if (ci != NULL && ci->header_size > srv->max_header) {
        snprintf(msg, sizeof msg, "request header fields exceed the %zu-byte limit",
                 srv->max_header);
        return reject(srv, req, req->mc, 431, msg);
    }
    cl = content_length(req->mc, &known);
    if (known && cl > srv->max_body) {
        snprintf(msg, sizeof msg, "request body exceeds the %zu-byte limit", srv->max_body);
        return reject(srv, req, req->mc, 413, msg);
    }
    if (known && cl > 0) {
        req->body = mcphub__malloc(&srv->mem, (size_t)cl + 1);
        if (req->body == NULL)
            return reject(srv, req, req->mc, 503, "out of memory");
        req->body_cap = (size_t)cl + 1;
    }
    req->state = R_BODY;
    return MHD_YES;
}

static void take_body(mcphub_http_request *req, const char *data, size_t n)
{
    const mcphub__mem *mem = &req->srv->mem;
    size_t max = req->srv->max_body;

    if (req->over || req->oom)
        return;   /* discarding until the end; the deadline bounds it */
    if (n > max - req->body_len) {
        req->over = 1;
        return;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap > 0 ? req->body_cap : FIRST_BODY;
        char *b;

        while (cap < req->body_len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        b = mcphub__realloc(mem, req->body, cap);
        if (b == NULL) {
            req->oom = 1;
            return;
        }
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
}

/* Hand a ready answer to MHD, or park the request until there is one. */
static enum MHD_Result dispatch(mcphub_http_request *req)
{
    struct MHD_Response *resp = req->pending;
    enum MHD_Result rc;

    if (req->gone || req->srv->closing)
        return MHD_NO;   /* MHD closes the connection */
    if (resp == NULL) {
        if (req->state == R_HANDLER)
            suspend(req);
        return MHD_YES;
    }
    if (req->srv->draining && MHD_get_response_header(resp, "Connection") == NULL)
        MHD_add_response_header(resp, "Connection", "close");
    req->pending = NULL;
    req->state = req->pending_stream ? R_STREAM : R_SENT;
    rc = MHD_queue_response(req->mc, req->pending_status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    mcphub_http_server *srv = cls;
    mcphub_http_request *req = *con_cls;
    char msg[96];

    (void)url;      /* MHD's decoding of it is not used: ours is stricter */
    if (req == NULL)
        return reject(srv, NULL, mc, 503, "out of memory");
    switch (req->state) {
    case R_HEAD:
        return on_head(req, method, version);
    case R_BODY:
        if (*upload_data_size > 0) {
            take_body(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (req->over) {
            snprintf(msg, sizeof msg, "request body exceeds the %zu-byte limit", srv->max_body);
            return reject(srv, req, mc, 413, msg);
        }
        if (req->oom)
            return reject(srv, req, mc, 503, "out of memory");
        if (req->c != NULL)
            deadline_clear(req->c);
        req->state = R_HANDLER;
        req->handled = 1;
        srv->handled++;
        srv->handler(req, srv->user_data);
        return dispatch(req);
    default:
        return dispatch(req);   /* resumed */
    }
}

/* ---- streaming ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    mcphub_http_request *req = cls;

    (void)pos;
    if (req->gone || req->srv->closing)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (req->q_len > 0) {
        size_t n = req->q_len < max ? req->q_len : max;

        memcpy(buf, req->q + req->q_off, n);
        req->q_off += n;
        req->q_len -= n;
        if (req->q_len == 0) {
            req->q_off = 0;
            if (req->q_cap > KEEP_QUEUE) {
                mcphub__free(&req->srv->mem, req->q);
                req->q = NULL;
                req->q_cap = 0;
            }
        }
        return (ssize_t)n;
    }
    if (req->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    suspend(req);   /* 0 with a suspend: no busy polling until data comes */
    return 0;
}

/* ---- answering ---- */

static void free_block(void *cls)
{
    body_block *b = cls;

    mcphub__free(b->mem, b);
}

static int header_is(const mcphub_http_header *h, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return 1;
    return 0;
}

static int add_headers(struct MHD_Response *resp, const mcphub_http_header *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (h[i].name == NULL || h[i].value == NULL ||
            strcasecmp(h[i].name, "Content-Length") == 0 ||
            strcasecmp(h[i].name, "Transfer-Encoding") == 0 ||
            strpbrk(h[i].value, "\r\n") != NULL ||
            MHD_add_response_header(resp, h[i].name, h[i].value) != MHD_YES)
            return MCPHUB_E_INVAL;
    }
    return 0;
}

static int can_answer(const mcphub_http_request *req, unsigned status,
                      const mcphub_http_header *headers, size_t n_headers)
{
    if (req->srv->closing || req->closing || req->gone || req->state != R_HANDLER ||
        req->pending != NULL)
        return MCPHUB_E_STATE;
    if (status < 200 || status > 599 || (n_headers > 0 && headers == NULL))
        return MCPHUB_E_INVAL;
    return 0;
}

/* The answer is built and checked here, handed to MHD from its callback. */
static void commit(mcphub_http_request *req, struct MHD_Response *resp, unsigned status,
                   int stream)
{
    req->pending = resp;
    req->pending_status = status;
    req->pending_stream = (unsigned char)stream;
    resume(req);
}

MCPHUB_API int mcphub_http_respond(mcphub_http_request *r, unsigned status,
                                   const mcphub_http_header *headers, size_t n_headers,
                                   const char *body, size_t len)
{
    struct MHD_Response *resp;
    body_block *b;
    int rc;

    if (r == NULL || (len > 0 && body == NULL))
        return MCPHUB_E_INVAL;
    if ((rc = can_answer(r, status, headers, n_headers)) != 0)
        return rc;
    if (len > SIZE_MAX - sizeof *b)
        return MCPHUB_E_NOMEM;
    b = mcphub__malloc(&r->srv->mem, sizeof *b + len);
    if (b == NULL)
        return MCPHUB_E_NOMEM;
    b->mem = &r->srv->mem;
    if (len > 0)
        memcpy(b->data, body, len);
    resp = MHD_create_response_from_buffer_with_free_callback_cls(len, b->data, free_block, b);
    if (resp == NULL) {
        free_block(b);
        return MCPHUB_E_NOMEM;
    }
    if ((rc = add_headers(resp, headers, n_headers)) != 0) {
        MHD_destroy_response(resp);   /* frees b */
        return rc;
    }
    commit(r, resp, status, 0);
    return 0;
}

MCPHUB_API int mcphub_http_stream_start(mcphub_http_request *r, unsigned status,
                                        const mcphub_http_header *headers, size_t n_headers)
{
    struct MHD_Response *resp;
    int rc;

    if (r == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = can_answer(r, status, headers, n_headers)) != 0)
        return rc;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, r, NULL);
    if (resp == NULL)
        return MCPHUB_E_NOMEM;
    if ((rc = add_headers(resp, headers, n_headers)) != 0 ||
        (!header_is(headers, n_headers, "Cache-Control") &&
         MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES) ||
        (!header_is(headers, n_headers, "X-Accel-Buffering") &&
         MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES)) {
        MHD_destroy_response(resp);
        return rc != 0 ? rc : MCPHUB_E_NOMEM;
    }
    commit(r, resp, status, 1);
    return 0;
}

static int is_stream(const mcphub_http_request *r)
{
    return r->state == R_STREAM || (r->state == R_HANDLER && r->pending_stream);
}

MCPHUB_API int mcphub_http_stream_write(mcphub_http_request *r, const char *data, size_t len)
{
    size_t max;

    if (r == NULL || (len > 0 && data == NULL))
        return MCPHUB_E_INVAL;
    if (!is_stream(r) || r->ended || r->gone || r->closing || r->srv->closing)
        return MCPHUB_E_STATE;
    if (len == 0)
        return 0;
    max = r->srv->max_stream;
    if (len > max - r->q_len)
        return MCPHUB_E_FULL;
    if (r->q_off + r->q_len + len > r->q_cap) {
        if (r->q_len + len <= r->q_cap) {
            memmove(r->q, r->q + r->q_off, r->q_len);
        } else {
            size_t cap = r->q_cap > 0 ? r->q_cap : 1024;
            char *q;

            while (cap < r->q_len + len)
                cap = cap <= max / 2 ? cap * 2 : max;
            q = mcphub__malloc(&r->srv->mem, cap);
            if (q == NULL)
                return MCPHUB_E_NOMEM;
            if (r->q_len > 0)
                memcpy(q, r->q + r->q_off, r->q_len);
            mcphub__free(&r->srv->mem, r->q);
            r->q = q;
            r->q_cap = cap;
        }
        r->q_off = 0;
    }
    memcpy(r->q + r->q_off + r->q_len, data, len);
    r->q_len += len;
    if (r->state == R_STREAM)
        resume(r);
    return 0;
}

MCPHUB_API int mcphub_http_stream_end(mcphub_http_request *r)
{
    if (r == NULL)
        return MCPHUB_E_INVAL;
    if (!is_stream(r) || r->ended || r->gone || r->closing || r->srv->closing)
        return MCPHUB_E_STATE;
    r->ended = 1;
    if (r->state == R_STREAM)
        resume(r);
    return 0;
}

/* ---- request accessors ---- */

MCPHUB_API const char *mcphub_http_request_method(const mcphub_http_request *r)
{
    return r->method != NULL ? r->method : empty;
}

MCPHUB_API const char *mcphub_http_request_path(const mcphub_http_request *r)
{
    return r->path;
}

MCPHUB_API const char *mcphub_http_request_query(const mcphub_http_request *r, const char *name)
{
    return mcphub__http_query_find(r->query, r->n_query, name);
}

MCPHUB_API const char *mcphub_http_request_header(const mcphub_http_request *r, const char *name)
{
    if (name == NULL)
        return NULL;
    return MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name);
}

MCPHUB_API const char *mcphub_http_request_body(const mcphub_http_request *r, size_t *len)
{
    if (len != NULL)
        *len = r->body_len;
    return r->body != NULL ? r->body : empty;
}

MCPHUB_API const char *mcphub_http_request_remote(const mcphub_http_request *r)
{
    return r->remote;
}

MCPHUB_API void *mcphub_http_request_get_data(const mcphub_http_request *r)
{
    return r->data;
}

MCPHUB_API void mcphub_http_request_set_data(mcphub_http_request *r, void *data)
{
    r->data = data;
}

MCPHUB_API void mcphub_http_request_on_close(mcphub_http_request *r, mcphub_http_close_fn fn,
                                             void *user_data)
{
    r->on_close = fn;
    r->close_ud = user_data;
}

/* ---- the server ---- */

static int parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      unsigned *flags)
{
    struct sockaddr_in *in = (void *)ss;
    struct sockaddr_in6 *in6 = (void *)ss;

    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *flags = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        /* "::" means every address, IPv4 ones too. */
        *flags = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
        return 0;
    }
    return MCPHUB_E_INVAL;
}

/* Each connection is an fd: say so when the limit is below what was
 * asked for (raise it with ulimit -n or LimitNOFILE). */
static void check_fd_limit(const mcphub_http_server *srv, unsigned max_conn)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max_conn + 32)
        logf_(srv, MCPHUB_LOG_WARN, "http_fd_limit max_connections=%u nofile=%llu", max_conn,
              (unsigned long long)rl.rlim_cur);
}

static struct MHD_Daemon *start_mhd(mcphub_http_server *srv, const mcphub_http_server_opts *o,
                                    unsigned flags, struct sockaddr_storage *ss)
{
    unsigned max_conn = MCPHUB__GET(o, mcphub_http_server_opts, max_connections, 0u);
    const char *cert = MCPHUB__GET(o, mcphub_http_server_opts, tls_cert_pem, NULL);
    const char *key = MCPHUB__GET(o, mcphub_http_server_opts, tls_key_pem, NULL);
    size_t pool = 2 * srv->max_header + ((size_t)4 << 10);
    struct MHD_OptionItem tls[3];

    memset(tls, 0, sizeof tls);
    tls[0].option = MHD_OPTION_END;
    if (cert != NULL) {
        flags |= MHD_USE_TLS;
        tls[0].option = MHD_OPTION_HTTPS_MEM_KEY;
        tls[0].ptr_value = (void *)(uintptr_t)key;
        tls[1].option = MHD_OPTION_HTTPS_MEM_CERT;
        tls[1].ptr_value = (void *)(uintptr_t)cert;
        tls[2].option = MHD_OPTION_END;
    }
    if (pool < MIN_POOL)
        pool = MIN_POOL;
    if (max_conn == 0)
        max_conn = DEFAULT_MAX_CONNECTIONS;
    srv->max_conns = max_conn;
    check_fd_limit(srv, max_conn);
    return MHD_start_daemon(
        flags | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, srv->port, NULL,
        NULL, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,   /* first: it covers the rest */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
        MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(srv->idle_ms / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
}

MCPHUB_API int mcphub_http_server_new(mcphub_http_server **out, mcphub_loop *loop,
                                      const mcphub_http_server_opts *opts,
                                      const mcphub_mem *mem)
{
    const mcphub_http_server_opts *o = opts;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *di;
    mcphub_http_server *srv;
    const char *host, *cert, *key;
    mcphub__mem m;
    unsigned flags, idle;
    size_t v;
    int rc;

    if (out == NULL || loop == NULL || opts == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    host = MCPHUB__GET(o, mcphub_http_server_opts, host, NULL);
    cert = MCPHUB__GET(o, mcphub_http_server_opts, tls_cert_pem, NULL);
    key = MCPHUB__GET(o, mcphub_http_server_opts, tls_key_pem, NULL);
    if (MCPHUB__GET(o, mcphub_http_server_opts, handler, NULL) == NULL ||
        (cert == NULL) != (key == NULL) ||
        (cert != NULL && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) ||
        MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES)
        return MCPHUB_E_INVAL;
    if ((rc = parse_host(host != NULL ? host : DEFAULT_HOST,
                         MCPHUB__GET(o, mcphub_http_server_opts, port, 0), &ss, &flags)) != 0)
        return rc;
    srv = mcphub__calloc(&m, 1, sizeof *srv);
    if (srv == NULL)
        return MCPHUB_E_NOMEM;
    srv->mem = m;
    srv->loop = loop;
    srv->port = MCPHUB__GET(o, mcphub_http_server_opts, port, 0);
    v = MCPHUB__GET(o, mcphub_http_server_opts, max_body, 0);
    srv->max_body = v != 0 ? v : DEFAULT_MAX_BODY;
    if (srv->max_body > SIZE_MAX / 4)
        srv->max_body = SIZE_MAX / 4;
    v = MCPHUB__GET(o, mcphub_http_server_opts, max_header_bytes, 0);
    srv->max_header = v != 0 ? v : DEFAULT_MAX_HEADER;
    if (srv->max_header > ((size_t)1 << 24))
        srv->max_header = (size_t)1 << 24;
    v = MCPHUB__GET(o, mcphub_http_server_opts, max_stream_buffer, 0);
    srv->max_stream = v != 0 ? v : DEFAULT_MAX_STREAM_BUFFER;
    if (srv->max_stream > SIZE_MAX / 4)
        srv->max_stream = SIZE_MAX / 4;
    idle = MCPHUB__GET(o, mcphub_http_server_opts, idle_timeout_s, 0u);
    srv->idle_ms = (uint64_t)(idle != 0 ? idle : DEFAULT_IDLE_TIMEOUT_S) * 1000u;
    srv->handler = o->handler;
    srv->user_data = MCPHUB__GET(o, mcphub_http_server_opts, user_data, NULL);
    srv->log = MCPHUB__GET(o, mcphub_http_server_opts, log, NULL);
    srv->log_ud = MCPHUB__GET(o, mcphub_http_server_opts, log_user_data, NULL);
    srv->epfd = -1;

    errno = 0;
    srv->mhd = start_mhd(srv, o, flags, &ss);
    if (srv->mhd == NULL) {
        rc = errno == EMFILE || errno == ENFILE ? MCPHUB_E_FULL : MCPHUB_E_INVAL;
        mcphub__free(&m, srv);
        return rc;
    }
    di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (di != NULL)
        srv->port = di->port;
    di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    rc = di != NULL ? mcphub_loop_fd_add(loop, di->epoll_fd, MCPHUB_LOOP_READ, on_mhd_ready, srv)
                    : MCPHUB_E_INVAL;
    if (rc != 0) {
        MHD_stop_daemon(srv->mhd);
        mcphub__free(&m, srv);
        return rc;
    }
    srv->epfd = di->epoll_fd;
    arm_mhd_timer(srv);
    logf_(srv, MCPHUB_LOG_INFO, "http_listen host=%s port=%u tls=%d",
          host != NULL ? host : DEFAULT_HOST, (unsigned)srv->port, cert != NULL);
    *out = srv;
    return 0;
}

MCPHUB_API uint16_t mcphub_http_server_port(const mcphub_http_server *s)
{
    return s->port;
}

MCPHUB_API size_t mcphub_http_server_requests(const mcphub_http_server *s)
{
    return s->handled;
}

MCPHUB_API void mcphub_http_server_stop_accepting(mcphub_http_server *s)
{
    MHD_socket fd;
    conn *c;

    if (s == NULL || s->draining || s->closing)
        return;
    s->draining = 1;
    fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    for (c = s->conns; c != NULL; c = c->next)
        if (!c->busy)
            shutdown(c->fd, SHUT_RDWR);
    logf_(s, MCPHUB_LOG_INFO, "http_stop_accepting port=%u", (unsigned)s->port);
}

static void destroy(mcphub_http_server *srv)
{
    mcphub_http_request *req;

    srv->closing = 1;
    /* MHD must not be stopped with suspended connections. */
    for (req = srv->reqs; req != NULL; req = req->next) {
        req->gone = 1;
        resume(req);
    }
    mcphub_loop_fd_remove(srv->loop, srv->epfd);
    if (srv->mhd_timer != 0)
        mcphub_loop_timer_cancel(srv->loop, srv->mhd_timer);
    if (srv->dl_timer != 0)
        mcphub_loop_timer_cancel(srv->loop, srv->dl_timer);
    MHD_stop_daemon(srv->mhd);   /* completion notices free every request */
    while (srv->reqs != NULL)     /* none are left; this is only a safety net */
        request_free(srv->reqs);
    while (srv->conns != NULL) {
        conn *c = srv->conns;

        srv->conns = c->next;
        mcphub__free(&srv->mem, c);
    }
    mcphub__free(&srv->mem, srv);
}

MCPHUB_API void mcphub_http_server_free(mcphub_http_server *s)
{
    if (s == NULL || s->closing)
        return;
    if (s->in_mhd > 0) {
        s->doomed = 1;
        return;
    }
    destroy(s);
}
