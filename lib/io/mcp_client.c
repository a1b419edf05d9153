/* MCP over HTTP, client side: Streamable HTTP with a fallback to the
 * legacy HTTP+SSE transport.  See include/mcphub/mcp_client.h.
 *
 * Each HTTP exchange we start is an `xchg`: a POST carrying one message,
 * the GET stream, or the legacy event stream.  An exchange lives on one of
 * three lists: `queue` (waiting for the session or the legacy endpoint),
 * `live` (handed to the HTTP client) or `dead` (ended or cancelled, freed
 * once no callback of ours is running).  Each request the owner sent is a
 * `pend` in the `pending` table (id -> pend) and in a list kept in send
 * order, until its answer — real or synthesized — has been delivered.
 *
 * Callbacks of the owner may free or close the client.  Every entry from
 * the outside (API calls, HTTP and timer callbacks) brackets its work with
 * enter()/leave(): free() inside only marks the client doomed and cancels
 * its exchanges, and the outermost leave() releases the memory.  After
 * each owner callback the code checks alive() before going on.
 *
 * libcurl hands the body to on_data without the response headers, so the
 * answer to a request POST is recognised by its first byte: '{' or '['
 * is a JSON body, anything else an SSE stream (the two cannot be confused
 * in valid answers).  The session id header is read when the POST ends;
 * that is why later messages wait while initialize is in flight. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "mcphub/jsonrpc.h"
#include "mcphub/mcp_client.h"
#include "mcphub/sse.h"

#include "core/jsonrpc_int.h"
#include "core/map_int.h"
#include "core/mem_int.h"

#define DEFAULT_MAX_MESSAGE ((size_t)16 << 20)
#define DEFAULT_MAX_IN_FLIGHT ((size_t)1024)
#define DEFAULT_MAX_QUEUED ((size_t)256)
#define MAX_STATIC_HEADERS 64
#define MAX_ID_TEXT 256
#define MAX_SESSION_ID 256
#define MAX_PROTOCOL 31
#define MAX_URL 4096
#define MAX_ERROR_BODY 1024       /* kept of an HTTP error answer, for the message */
#define GET_RETRY_MIN_MS 500u
#define GET_RETRY_MAX_MS 30000u
#define SYNTH_CODE MCPHUB_MCP_CLIENT_TRANSPORT_ERROR

typedef enum { X_POST, X_GET, X_LEGACY_GET } xkind;
typedef enum { W_NONE, W_QUEUE, W_LIVE, W_DEAD } xwhere;
typedef enum { BODY_UNKNOWN, BODY_JSON, BODY_SSE } body_mode;

struct xchg;

/* A request awaiting its answer. */
typedef struct pend {
    char *id;                   /* raw JSON id, NUL-terminated: the table key */
    struct xchg *x;             /* the POST carrying it, while that runs */
    int is_init;
    struct pend *prev, *next;   /* send order */
} pend;

typedef struct xchg {
    mcphub_mcp_client *c;
    xkind kind;
    xwhere where;
    uint64_t http_id;           /* 0: not started, ended or cancelled */
    char *msg;                  /* POST: the message */
    size_t msg_len;
    pend *req;                  /* POST of a request: its entry, until answered */
    int is_init;                /* an initialize request */
    int is_initialized;         /* notifications/initialized */
    int legacy;                 /* POST to the legacy endpoint */
    int with_session;           /* sent with an Mcp-Session-Id */
    body_mode mode;
    char *in;                   /* JSON body, or the start of an error answer */
    size_t in_len, in_cap;
    const char *fail;           /* why we stopped the transfer ourselves */
    mcphub_sse_parser *sse;
    struct xchg *prev, *next;   /* on its list */
} xchg;

typedef struct xlist {
    xchg *head, *tail;
    size_t len;
} xlist;

struct mcphub_mcp_client {
    mcphub__mem mem;
    mcphub_loop *loop;
    mcphub_http_client *http;
    char *url;
    mcphub_http_kv *headers;
    size_t n_headers;
    mcphub_mcp_transport want, transport;
    uint64_t request_timeout_ms;
    int open_get_stream;
    mcphub_mcp_client_message_fn on_message;
    mcphub_mcp_client_closed_fn on_closed;
    void *user_data;
    mcphub_log_fn log;
    void *log_user_data;
    size_t max_message, max_in_flight, max_queued;

    char where[160];            /* scheme://host:port, for logs */
    char session_id[MAX_SESSION_ID + 1];
    char protocol[MAX_PROTOCOL + 1];
    char *endpoint;             /* legacy: where to POST */

    mcphub__map pending;        /* id -> pend */
    pend *pend_head, *pend_tail;
    xlist queue, live;
    xchg *dead;
    xchg *init;                 /* the initialize POST while it runs */
    xchg *get;                  /* the GET stream, or the legacy stream */
    int get_off;                /* no GET stream from this server */
    uint64_t get_timer;         /* reopens the GET stream */
    uint64_t get_delay_ms;
    int closed;                 /* no more sends */
    int quiet;                  /* no more callbacks */
    int depth, doomed;
};

static void logf_(mcphub_mcp_client *c, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void logf_(mcphub_mcp_client *c, mcphub_log_level lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(lvl, msg, c->log_user_data);
}

static int alive(const mcphub_mcp_client *c)
{
    return !c->doomed && !c->quiet;
}

static mcphub_mem public_mem(const mcphub_mcp_client *c)
{
    mcphub_mem m;

    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    m.malloc_fn = c->mem.malloc_fn;
    m.realloc_fn = c->mem.realloc_fn;
    m.free_fn = c->mem.free_fn;
    m.user_data = c->mem.user_data;
    return m;
}

/* ---- lists ------------------------------------------------------------------------- */

static void list_remove(xlist *l, xchg *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        l->head = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    else
        l->tail = x->prev;
    x->prev = x->next = NULL;
    l->len--;
}

static void list_push(xlist *l, xchg *x, int front)
{
    x->prev = x->next = NULL;
    if (l->head == NULL) {
        l->head = l->tail = x;
    } else if (front) {
        x->next = l->head;
        l->head->prev = x;
        l->head = x;
    } else {
        x->prev = l->tail;
        l->tail->next = x;
        l->tail = x;
    }
    l->len++;
}

static void unlist(mcphub_mcp_client *c, xchg *x)
{
    if (x->where == W_QUEUE)
        list_remove(&c->queue, x);
    else if (x->where == W_LIVE)
        list_remove(&c->live, x);
    x->where = W_NONE;
}

static void xchg_free(mcphub_mcp_client *c, xchg *x)
{
    mcphub_sse_parser_free(x->sse);
    mcphub__free(&c->mem, x->msg);
    mcphub__free(&c->mem, x->in);
    mcphub__free(&c->mem, x);
}

/* Drop an exchange: cancel its transfer, forget it; the memory goes at
 * the outermost leave() (its own callback may be running). */
static void kill(mcphub_mcp_client *c, xchg *x)
{
    if (x->where == W_DEAD)
        return;
    if (x->http_id != 0) {
        mcphub_http_client_cancel(c->http, x->http_id);
        x->http_id = 0;
    }
    unlist(c, x);
    if (x->req != NULL) {
        x->req->x = NULL;
        x->req = NULL;
    }
    if (c->get == x)
        c->get = NULL;
    if (c->init == x)
        c->init = NULL;
    x->where = W_DEAD;
    x->next = c->dead;
    c->dead = x;
}

static void pend_drop(mcphub_mcp_client *c, pend *p)
{
    mcphub__map_del(&c->pending, p->id);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        c->pend_head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        c->pend_tail = p->prev;
    if (p->x != NULL)
        p->x->req = NULL;
    mcphub__free(&c->mem, p->id);
    mcphub__free(&c->mem, p);
}

/* Cancel every exchange and the GET timer; pending requests stay. */
static void stop_all(mcphub_mcp_client *c)
{
    while (c->live.head != NULL)
        kill(c, c->live.head);
    while (c->queue.head != NULL)
        kill(c, c->queue.head);
    if (c->get_timer != 0) {
        mcphub_loop_timer_cancel(c->loop, c->get_timer);
        c->get_timer = 0;
    }
}

static void destroy(mcphub_mcp_client *c)
{
    size_t i;

    stop_all(c);
    while (c->pend_head != NULL)
        pend_drop(c, c->pend_head);
    while (c->dead != NULL) {
        xchg *x = c->dead;

        c->dead = x->next;
        xchg_free(c, x);
    }
    mcphub__map_free(&c->pending);
    for (i = 0; i < c->n_headers; i++) {
        mcphub__free(&c->mem, (char *)c->headers[i].name);
        mcphub__free(&c->mem, (char *)c->headers[i].value);
    }
    mcphub__free(&c->mem, c->headers);
    mcphub__free(&c->mem, c->url);
    mcphub__free(&c->mem, c->endpoint);
    mcphub__free(&c->mem, c);
}

static void enter(mcphub_mcp_client *c)
{
    c->depth++;
}

/* Leave an entry point; the client may be gone afterwards. */
static void leave(mcphub_mcp_client *c)
{
    if (--c->depth > 0)
        return;
    while (c->dead != NULL) {
        xchg *x = c->dead;

        c->dead = x->next;
        xchg_free(c, x);
    }
    if (c->doomed)
        destroy(c);
}

/* ---- delivering messages ------------------------------------------------------------- */

/* Printable ASCII only, so that the text is valid in any JSON string. */
static void sanitize(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

/* Answer request p with a synthesized error and forget it.  Needs no
 * memory, so it cannot fail.  Returns 1 when the owner closed or freed
 * the client meanwhile (stop), else 0. */
static int synth(mcphub_mcp_client *c, pend *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int synth(mcphub_mcp_client *c, pend *p, const char *fmt, ...)
{
    char text[400], out[MAX_ID_TEXT + 2 * sizeof text + 100];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    sanitize(text);
    n = mcphub__jsonrpc_error_format(out, sizeof out, p->id, strlen(p->id), SYNTH_CODE, text);
    pend_drop(c, p);
    if (!alive(c))
        return 1;
    if (n < sizeof out)
        c->on_message(c, out, n, c->user_data);
    return alive(c) ? 0 : 1;
}

/* The initialize result names the protocol version for later requests. */
static void note_protocol(mcphub_mcp_client *c, const mcphub_jsonrpc_msg *m)
{
    json_t *res = json_loadb(m->result.ptr, m->result.len, 0, NULL);
    const char *v = json_string_value(json_object_get(res, "protocolVersion"));
    size_t i, n = v != NULL ? strlen(v) : 0;

    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] > 0x7e)
            break;
    if (n > 0 && n <= MAX_PROTOCOL && i == n)
        memcpy(c->protocol, v, n + 1);
    json_decref(res);
}

static int deliver_one(mcphub_mcp_client *c, const mcphub_jsonrpc_msg *m, const char *json,
                       size_t len)
{
    if ((m->kind == MCPHUB_JSONRPC_RESPONSE || m->kind == MCPHUB_JSONRPC_ERROR) &&
        m->id.ptr != NULL) {
        pend *p = mcphub__map_getn(&c->pending, m->id.ptr, m->id.len);

        if (p != NULL) {
            if (p->is_init && m->kind == MCPHUB_JSONRPC_RESPONSE)
                note_protocol(c, m);
            pend_drop(c, p);
        }
    }
    c->on_message(c, json, len, c->user_data);
    return alive(c) ? 0 : 1;
}

/* A message (or a batch of them) from the server to the owner.  Returns 1
 * when the owner closed or freed the client (stop), else 0. */
static int deliver(mcphub_mcp_client *c, const char *json, size_t len)
{
    mcphub_jsonrpc_msg m;
    mcphub_jsonrpc_span item;
    size_t pos = 0;
    int rc;

    if (!alive(c))
        return 1;
    rc = mcphub_jsonrpc_classify(&m, json, len, c->max_message);
    if (rc != 0 || m.kind == MCPHUB_JSONRPC_INVALID) {
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_bad_message upstream=%s bytes=%zu reason=\"%s\"",
              c->where, len, m.reason ? m.reason : mcphub_strerror(rc));
        return 0;
    }
    if (m.kind != MCPHUB_JSONRPC_BATCH)
        return deliver_one(c, &m, json, len);
    while (mcphub_jsonrpc_batch_next(json, len, &pos, &item) == 1) {
        if (mcphub_jsonrpc_classify(&m, item.ptr, item.len, c->max_message) != 0 ||
            m.kind == MCPHUB_JSONRPC_INVALID || m.kind == MCPHUB_JSONRPC_BATCH)
            continue;
        if (deliver_one(c, &m, item.ptr, item.len))
            return 1;
    }
    return 0;
}

/* The connection is unusable: every request still waiting gets its error,
 * then the owner hears why, once. */
static void connection_lost(mcphub_mcp_client *c, const char *why)
{
    if (c->closed)
        return;
    c->closed = 1;
    logf_(c, MCPHUB_LOG_WARN, "mcp_client_closed upstream=%s reason=\"%s\" pending=%zu", c->where,
          why, c->pending.len);
    stop_all(c);
    while (c->pend_head != NULL)
        if (synth(c, c->pend_head, "MCP connection closed: %s", why))
            return;
    if (alive(c) && c->on_closed != NULL)
        c->on_closed(c, why, c->user_data);
    c->quiet = 1;
}

/* ---- starting exchanges ---------------------------------------------------------------- */

typedef enum { H_POST, H_GET, H_DELETE, H_LEGACY_GET } hkind;

/* The headers of a request: the static ones, then ours.  hv has room for
 * MAX_STATIC_HEADERS + 4. */
static size_t fill_headers(const mcphub_mcp_client *c, mcphub_http_kv *hv, hkind k)
{
    size_t n = 0, i;

    for (i = 0; i < c->n_headers; i++)
        hv[n++] = c->headers[i];
    if (k == H_POST) {
        hv[n].name = "Content-Type";
        hv[n++].value = "application/json";
        hv[n].name = "Accept";
        hv[n++].value = "application/json, text/event-stream";
    } else if (k == H_GET || k == H_LEGACY_GET) {
        hv[n].name = "Accept";
        hv[n++].value = "text/event-stream";
    }
    if (k == H_LEGACY_GET)
        return n;
    if (c->session_id[0] != '\0') {
        hv[n].name = "Mcp-Session-Id";
        hv[n++].value = c->session_id;
    }
    if (c->protocol[0] != '\0') {
        hv[n].name = "MCP-Protocol-Version";
        hv[n++].value = c->protocol;
    }
    return n;
}

static int on_post_data(uint64_t id, long status, const char *data, size_t len, void *ud);
static void on_post_done(uint64_t id, const mcphub_http_response *resp, void *ud);
static int on_stream_data(uint64_t id, long status, const char *data, size_t len, void *ud);
static void on_stream_done(uint64_t id, const mcphub_http_response *resp, void *ud);

/* Hand a POST to the HTTP client; on failure nothing changed. */
static int start_post(mcphub_mcp_client *c, xchg *x)
{
    mcphub_http_kv hv[MAX_STATIC_HEADERS + 4];
    mcphub_http_call call;
    int rc;

    x->legacy = c->transport == MCPHUB_MCP_TRANSPORT_SSE;
    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.method = "POST";
    call.url = x->legacy ? c->endpoint : c->url;
    call.n_headers = fill_headers(c, hv, H_POST);
    call.headers = hv;
    call.body = x->msg;
    call.body_len = x->msg_len;
    if (x->req != NULL && !x->legacy) {
        /* The answer may stream (progress first): take it as it comes. */
        call.stream = 1;
        call.on_data = on_post_data;
        call.timeout_ms = c->request_timeout_ms;
    }
    call.on_done = on_post_done;
    call.user_data = x;
    rc = mcphub_http_client_send(c->http, &call, &x->http_id);
    if (rc != 0)
        return rc;
    x->with_session = !x->legacy && c->session_id[0] != '\0';
    if (!x->is_init) { /* the HTTP client has its copy; initialize may be replayed */
        mcphub__free(&c->mem, x->msg);
        x->msg = NULL;
    }
    x->where = W_LIVE;
    list_push(&c->live, x, 0);
    if (x->is_init && !x->legacy)
        c->init = x;
    if (x->req != NULL)
        x->req->x = x;
    return 0;
}

/* The GET stream (streamable) or the legacy event stream. */
static int start_stream(mcphub_mcp_client *c, xkind kind)
{
    mcphub_http_kv hv[MAX_STATIC_HEADERS + 4];
    mcphub_http_call call;
    xchg *x = mcphub__calloc(&c->mem, 1, sizeof *x);
    int rc;

    if (x == NULL)
        return MCPHUB_E_NOMEM;
    x->c = c;
    x->kind = kind;
    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.method = "GET";
    call.url = c->url;
    call.n_headers = fill_headers(c, hv, kind == X_GET ? H_GET : H_LEGACY_GET);
    call.headers = hv;
    call.stream = 1;
    call.on_data = on_stream_data;
    call.on_done = on_stream_done;
    call.user_data = x;
    rc = mcphub_http_client_send(c->http, &call, &x->http_id);
    if (rc != 0) {
        mcphub__free(&c->mem, x);
        return rc;
    }
    x->where = W_LIVE;
    list_push(&c->live, x, 0);
    c->get = x;
    return 0;
}

/* Messages wait while initialize runs (for its session id) and, on the
 * legacy transport, until the endpoint is known. */
static int must_queue(const mcphub_mcp_client *c)
{
    if (c->transport == MCPHUB_MCP_TRANSPORT_SSE)
        return c->endpoint == NULL;
    return c->init != NULL;
}

/* Start what waited, in order, as far as the state allows. */
static void flush_queue(mcphub_mcp_client *c)
{
    while (c->queue.head != NULL && alive(c) && !c->closed && !must_queue(c)) {
        xchg *x = c->queue.head;
        int rc;

        unlist(c, x);
        rc = start_post(c, x);
        if (rc == 0)
            continue;
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_send_failed upstream=%s error=\"%s\"", c->where,
              mcphub_strerror(rc));
        if (x->req != NULL) {
            pend *p = x->req;

            kill(c, x);
            if (synth(c, p, "could not send the request: %s", mcphub_strerror(rc)))
                return;
        } else {
            kill(c, x);
        }
    }
}

static int on_get_timer(mcphub_loop *loop, uint64_t id, void *user_data);

/* Reopen the GET stream later: the server's retry: when it gave one, else
 * a delay that doubles up to GET_RETRY_MAX_MS. */
static void reopen_get_later(mcphub_mcp_client *c, int64_t retry_ms)
{
    uint64_t d;

    if (retry_ms >= 100 && retry_ms <= 600000) {
        d = (uint64_t)retry_ms;
    } else {
        d = c->get_delay_ms == 0 ? GET_RETRY_MIN_MS : c->get_delay_ms * 2;
        if (d > GET_RETRY_MAX_MS)
            d = GET_RETRY_MAX_MS;
    }
    c->get_delay_ms = d;
    if (c->get_timer == 0 &&
        mcphub_loop_timer_add(c->loop, &c->get_timer, d, 0, on_get_timer, c) != 0) {
        c->get_timer = 0;
        c->get_off = 1;
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_get_stream_off upstream=%s reason=no-timer",
              c->where);
    }
}

static void open_get(mcphub_mcp_client *c)
{
    int rc;

    if (!c->open_get_stream || c->get != NULL || c->get_off || c->closed ||
        c->session_id[0] == '\0' || c->get_timer != 0)
        return;
    rc = start_stream(c, X_GET);
    if (rc != 0) {
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_get_stream_failed upstream=%s error=\"%s\"", c->where,
              mcphub_strerror(rc));
        reopen_get_later(c, -1);
    }
}

static int on_get_timer(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_mcp_client *c = user_data;

    (void)loop;
    (void)id;
    enter(c);
    c->get_timer = 0;
    if (alive(c))
        open_get(c);
    leave(c);
    return 0;
}

/* ---- reading answers ------------------------------------------------------------------- */

static int keep(mcphub_mcp_client *c, xchg *x, const char *data, size_t len, size_t limit)
{
    if (len > limit - x->in_len)
        return MCPHUB_E_TOOBIG;
    if (x->in_len + len > x->in_cap) {
        size_t cap = x->in_cap ? x->in_cap : 1024;
        char *p;

        while (cap < x->in_len + len)
            cap = cap > limit / 2 ? limit : cap * 2;
        p = mcphub__realloc(&c->mem, x->in, cap);
        if (p == NULL)
            return MCPHUB_E_NOMEM;
        x->in = p;
        x->in_cap = cap;
    }
    memcpy(x->in + x->in_len, data, len);
    x->in_len += len;
    return 0;
}

/* The start of an HTTP error answer, to name it in the error message. */
static void keep_error_text(mcphub_mcp_client *c, xchg *x, const char *data, size_t len)
{
    if (x->in_len < MAX_ERROR_BODY)
        keep(c, x, data, len < MAX_ERROR_BODY - x->in_len ? len : MAX_ERROR_BODY - x->in_len,
             MAX_ERROR_BODY);
}

static int valid_url_text(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* Length of "scheme://authority" at the start of url. */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");

    if (p == NULL)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

/* The legacy endpoint: data resolved against the SSE URL, same origin
 * only.  NULL when it is bad (*why says) or memory ran out. */
static char *resolve_endpoint(mcphub_mcp_client *c, const char *data, size_t n, const char **why)
{
    size_t olen = origin_len(c->url), base;
    char *out;

    *why = "the endpoint event is empty, too long or has blanks";
    if (n == 0 || n > MAX_URL || !valid_url_text(data, n))
        return NULL;
    *why = "the endpoint event names another origin";
    if (n >= 7 && (strncasecmp(data, "http://", 7) == 0 || strncasecmp(data, "https://", 8) == 0)) {
        if (origin_len(data) != olen || strncasecmp(data, c->url, olen) != 0)
            return NULL;
        base = 0;
    } else if (n >= 2 && data[0] == '/' && data[1] == '/') {
        return NULL; /* another authority, or ours spelled oddly: refuse */
    } else if (data[0] == '/') {
        base = olen;
    } else {
        /* relative: replaces the query, or the last path segment */
        size_t path_end = olen + strcspn(c->url + olen, "?#");

        if (data[0] == '?') {
            base = path_end;
        } else {
            base = path_end;
            while (base > olen && c->url[base - 1] != '/')
                base--;
        }
    }
    *why = "out of memory";
    out = mcphub__malloc(&c->mem, base + n + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, c->url, base);
    if (base == olen && data[0] != '/' && data[0] != '?' && base > 0)
        out[base++] = '/'; /* "http://h:1" + "messages" */
    memcpy(out + base, data, n);
    out[base + n] = '\0';
    return out;
}

static void got_endpoint(mcphub_mcp_client *c, const char *data, size_t n)
{
    const char *why = NULL;
    char *url;

    if (c->endpoint != NULL)
        return; /* the first one holds */
    url = resolve_endpoint(c, data, n, &why);
    if (url == NULL) {
        connection_lost(c, why);
        return;
    }
    c->endpoint = url;
    logf_(c, MCPHUB_LOG_INFO, "mcp_client_legacy_ready upstream=%s queued=%zu", c->where,
          c->queue.len);
    flush_queue(c);
}

/* One SSE event of a POST answer, the GET stream or the legacy stream.
 * Non-zero stops the parser (the client or the exchange is gone). */
static int on_event(const mcphub_sse_event *ev, void *user_data)
{
    xchg *x = user_data;
    mcphub_mcp_client *c = x->c;

    if (x->kind == X_LEGACY_GET && strcmp(ev->event, "endpoint") == 0)
        got_endpoint(c, ev->data, ev->data_len);
    else if (strcmp(ev->event, "message") == 0 && ev->data_len > 0 &&
             deliver(c, ev->data, ev->data_len))
        return 1;
    return alive(c) && x->where == W_LIVE ? 0 : 1;
}

static int feed_sse(mcphub_mcp_client *c, xchg *x, const char *data, size_t len)
{
    int rc;

    if (x->sse == NULL) {
        mcphub_mem m = public_mem(c);

        if (mcphub_sse_parser_new(&x->sse, on_event, x, c->max_message, &m) != 0) {
            x->fail = "out of memory";
            return 1;
        }
    }
    rc = mcphub_sse_parser_feed(x->sse, data, len);
    if (rc == 0)
        return 0;
    if (alive(c) && x->where == W_LIVE)
        x->fail = rc == MCPHUB_E_TOOBIG ? "an event of the answer exceeds the message limit"
                                        : "out of memory";
    return 1;
}

static int post_data(mcphub_mcp_client *c, xchg *x, long status, const char *data, size_t len)
{
    if (!alive(c) || x->where != W_LIVE)
        return 1;
    if (status < 200 || status > 299) {
        keep_error_text(c, x, data, len);
        return 0;
    }
    if (x->mode == BODY_UNKNOWN) {
        while (len > 0 && (*data == ' ' || *data == '\t' || *data == '\r' || *data == '\n')) {
            data++;
            len--;
        }
        if (len == 0)
            return 0;
        x->mode = *data == '{' || *data == '[' ? BODY_JSON : BODY_SSE;
    }
    if (x->mode == BODY_SSE)
        return feed_sse(c, x, data, len);
    switch (keep(c, x, data, len, c->max_message)) {
    case 0:
        return 0;
    case MCPHUB_E_TOOBIG:
        x->fail = "the answer exceeds the message limit";
        return 1;
    default:
        x->fail = "out of memory";
        return 1;
    }
}

static int on_post_data(uint64_t id, long status, const char *data, size_t len, void *ud)
{
    xchg *x = ud;
    mcphub_mcp_client *c = x->c;
    int stop;

    (void)id;
    enter(c);
    stop = post_data(c, x, status, data, len);
    leave(c);
    return stop;
}

/* Why an exchange failed, for the synthesized error. */
static void describe(const xchg *x, const mcphub_http_response *resp, char *buf, size_t cap)
{
    const char *body = x->in_len > 0 ? x->in : resp->body;
    size_t len = x->in_len > 0 ? x->in_len : resp->body_len;
    char detail[200] = "";

    if (x->fail != NULL) {
        snprintf(buf, cap, "MCP request failed: %s", x->fail);
        return;
    }
    if (resp->error != NULL) {
        snprintf(buf, cap, "MCP request failed: %s", resp->error);
        return;
    }
    if (len > MAX_ERROR_BODY)
        len = MAX_ERROR_BODY;
    if (len > 0 && body[0] == '{') {
        /* {"error":{"message":...}} (JSON-RPC) or {"message":...} */
        json_t *v = json_loadb(body, len, 0, NULL);
        json_t *e = json_object_get(v, "error");
        const char *m = json_string_value(json_object_get(e, "message"));

        if (m == NULL)
            m = json_string_value(json_object_get(v, "message"));
        if (m == NULL)
            m = json_string_value(e);
        if (m != NULL)
            snprintf(detail, sizeof detail, ": %s", m);
        json_decref(v);
    } else if (len > 0) {
        size_t n = 0;

        while (n < len && n < sizeof detail - 3 && body[n] != '\r' && body[n] != '\n')
            n++;
        detail[0] = ':';
        detail[1] = ' ';
        memcpy(detail + 2, body, n);
        detail[n + 2] = '\0';
    }
    snprintf(buf, cap, "HTTP %ld from the MCP server%s", resp->status, detail);
}

/* The server no longer knows our session: 404 (the spec's answer), or a
 * 400 that names the session, as servers built on the TypeScript SDK's
 * examples answer ("Bad Request: No valid session ID provided"). */
static int session_gone(const xchg *x, const mcphub_http_response *resp)
{
    const char *body = x->in_len > 0 ? x->in : resp->body;
    size_t len = x->in_len > 0 ? x->in_len : resp->body_len, i;

    if (resp->error != NULL || x->fail != NULL)
        return 0;
    if (resp->status == 404)
        return 1;
    if (resp->status != 400)
        return 0;
    for (i = 0; i + 7 <= len && i < MAX_ERROR_BODY; i++)
        if (strncasecmp(body + i, "session", 7) == 0)
            return 1;
    return 0;
}

static int session_id_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > MAX_SESSION_ID)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* initialize was accepted: keep the session id, send what waited. */
static void init_done(mcphub_mcp_client *c, const mcphub_http_response *resp)
{
    const char *sid = resp->header(resp, "mcp-session-id");

    if (sid != NULL && session_id_ok(sid)) {
        memcpy(c->session_id, sid, strlen(sid) + 1);
    } else if (sid != NULL) {
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_bad_session_id upstream=%s", c->where);
    }
    c->transport = MCPHUB_MCP_TRANSPORT_STREAMABLE;
    c->init = NULL;
    c->get_off = 0;
    logf_(c, MCPHUB_LOG_INFO, "mcp_client_session upstream=%s session=%.8s", c->where,
          c->session_id[0] ? c->session_id : "(none)");
    flush_queue(c);
}

/* AUTO: the server does not speak Streamable HTTP; initialize goes again,
 * first in line, once the legacy stream names its endpoint. */
static void fall_back(mcphub_mcp_client *c, xchg *x, long status)
{
    int rc;

    logf_(c, MCPHUB_LOG_INFO, "mcp_client_fallback upstream=%s status=%ld transport=sse", c->where,
          status);
    c->transport = MCPHUB_MCP_TRANSPORT_SSE;
    c->init = NULL;
    unlist(c, x);
    mcphub_sse_parser_free(x->sse);
    x->sse = NULL;
    x->mode = BODY_UNKNOWN;
    x->in_len = 0;
    x->fail = NULL;
    x->where = W_QUEUE;
    list_push(&c->queue, x, 1);
    rc = start_stream(c, X_LEGACY_GET);
    if (rc != 0)
        connection_lost(c, "could not open the legacy SSE stream");
}

static void post_done(mcphub_mcp_client *c, xchg *x, const mcphub_http_response *resp)
{
    long st = resp->status;
    int ok = resp->error == NULL && x->fail == NULL && st >= 200 && st <= 299;
    char why[400];

    if (ok && x->legacy) {
        if (x->req != NULL) { /* the answer comes on the stream */
            x->req->x = NULL;
            x->req = NULL;
        }
        return;
    }
    if (ok) {
        if (x->is_init)
            init_done(c, resp);
        else if (c->transport == MCPHUB_MCP_TRANSPORT_AUTO)
            c->transport = MCPHUB_MCP_TRANSPORT_STREAMABLE;
        if (x->mode == BODY_JSON && x->in_len > 0 && deliver(c, x->in, x->in_len))
            return;
        if (x->req != NULL &&
            synth(c, x->req, "the MCP server ended its answer without a response (HTTP %ld)", st))
            return;
        if (x->is_initialized)
            open_get(c);
        return;
    }
    if (x->is_init && !x->legacy && c->want == MCPHUB_MCP_TRANSPORT_AUTO &&
        c->transport == MCPHUB_MCP_TRANSPORT_AUTO && resp->error == NULL &&
        (st == 400 || st == 404 || st == 405)) {
        fall_back(c, x, st);
        return;
    }
    describe(x, resp, why, sizeof why);
    logf_(c, MCPHUB_LOG_WARN, "mcp_client_post_failed upstream=%s status=%ld", c->where, st);
    if (x->is_init)
        c->init = NULL;
    if (x->req != NULL && synth(c, x->req, "%s", why))
        return;
    if ((x->with_session || x->legacy) && session_gone(x, resp)) {
        connection_lost(c, "session not found");
        return;
    }
    flush_queue(c); /* when initialize failed, what waited goes now */
}

static void on_post_done(uint64_t id, const mcphub_http_response *resp, void *ud)
{
    xchg *x = ud;
    mcphub_mcp_client *c = x->c;

    (void)id;
    enter(c);
    x->http_id = 0;
    if (alive(c))
        post_done(c, x, resp);
    if (x->where == W_LIVE)
        kill(c, x);
    leave(c);
}

static int on_stream_data(uint64_t id, long status, const char *data, size_t len, void *ud)
{
    xchg *x = ud;
    mcphub_mcp_client *c = x->c;
    int stop = 1;

    (void)id;
    enter(c);
    if (alive(c) && x->where == W_LIVE) {
        if (status < 200 || status > 299) {
            keep_error_text(c, x, data, len);
            stop = 0;
        } else {
            if (x->kind == X_GET)
                c->get_delay_ms = 0; /* it works: the next retry starts small */
            stop = feed_sse(c, x, data, len);
        }
    }
    leave(c);
    return stop;
}

static void legacy_stream_done(mcphub_mcp_client *c, xchg *x, const mcphub_http_response *resp)
{
    char why[400], text[440];

    if (c->endpoint != NULL) {
        connection_lost(c, resp->error != NULL || x->fail != NULL
                               ? "the legacy SSE stream broke"
                               : "the legacy SSE stream ended");
        return;
    }
    if (resp->error == NULL && x->fail == NULL && resp->status >= 200 && resp->status <= 299)
        snprintf(why, sizeof why, "ended before its endpoint event");
    else
        describe(x, resp, why, sizeof why);
    snprintf(text, sizeof text, "legacy SSE stream: %s", why);
    connection_lost(c, text);
}

static void get_done(mcphub_mcp_client *c, xchg *x, const mcphub_http_response *resp)
{
    long st = resp->status;
    int64_t retry = x->sse != NULL ? mcphub_sse_parser_retry(x->sse) : -1;
    char why[400], text[440];

    if (st == 0) {
        /* No answer at all: the server is not there any more. */
        describe(x, resp, why, sizeof why);
        snprintf(text, sizeof text, "MCP server unreachable: %s", why);
        connection_lost(c, text);
    } else if (session_gone(x, resp)) {
        connection_lost(c, "session not found");
    } else if (st == 405) {
        c->get_off = 1;
        logf_(c, MCPHUB_LOG_INFO, "mcp_client_get_stream_off upstream=%s reason=405", c->where);
    } else if ((st >= 200 && st <= 299) || st >= 500 || st == 429) {
        logf_(c, MCPHUB_LOG_DEBUG, "mcp_client_get_stream_ended upstream=%s status=%ld", c->where,
              st);
        reopen_get_later(c, retry);
    } else {
        c->get_off = 1;
        logf_(c, MCPHUB_LOG_WARN, "mcp_client_get_stream_off upstream=%s status=%ld", c->where, st);
    }
}

static void on_stream_done(uint64_t id, const mcphub_http_response *resp, void *ud)
{
    xchg *x = ud;
    mcphub_mcp_client *c = x->c;

    (void)id;
    enter(c);
    x->http_id = 0;
    if (x->where == W_LIVE)
        kill(c, x); /* first: the stream is over whatever follows */
    if (alive(c) && !c->closed) {
        if (x->kind == X_LEGACY_GET)
            legacy_stream_done(c, x, resp);
        else
            get_done(c, x, resp);
    }
    leave(c);
}

/* ---- public ------------------------------------------------------------------------------ */

static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s) != NULL))
            return 0;
    return 1;
}

static int reserved_header(const char *name)
{
    return strcasecmp(name, "Accept") == 0 || strcasecmp(name, "Content-Type") == 0 ||
           strcasecmp(name, "Mcp-Session-Id") == 0 ||
           strcasecmp(name, "MCP-Protocol-Version") == 0 ||
           strcasecmp(name, "Content-Length") == 0;
}

static int copy_headers(mcphub_mcp_client *c, const mcphub_http_kv *h, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    c->headers = mcphub__calloc(&c->mem, n, sizeof *c->headers);
    if (c->headers == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++) {
        if (reserved_header(h[i].name)) {
            logf_(c, MCPHUB_LOG_WARN, "mcp_client_header_dropped upstream=%s name=%s", c->where,
                  h[i].name);
            continue;
        }
        c->headers[c->n_headers].name = mcphub__strdup(&c->mem, h[i].name);
        c->headers[c->n_headers].value = mcphub__strdup(&c->mem, h[i].value);
        c->n_headers++;
        if (c->headers[c->n_headers - 1].name == NULL ||
            c->headers[c->n_headers - 1].value == NULL)
            return MCPHUB_E_NOMEM;
    }
    return 0;
}

/* "scheme://host:port" without user information, for logs. */
static void set_where(mcphub_mcp_client *c)
{
    size_t olen = origin_len(c->url), s = (size_t)(strstr(c->url, "://") - c->url) + 3;
    const char *at = memchr(c->url + s, '@', olen - s);
    size_t from = at != NULL ? (size_t)(at - c->url) + 1 : s;

    snprintf(c->where, sizeof c->where, "%.*s%.*s", (int)s, c->url, (int)(olen - from),
             c->url + from);
}

MCPHUB_API int mcphub_mcp_client_new(mcphub_mcp_client **out, const mcphub_mcp_client_opts *opts,
                                     const mcphub_mem *mem)
{
    typedef mcphub_mcp_client_opts O;
    mcphub_mcp_client *c;
    mcphub__mem m;
    const mcphub_http_kv *h;
    const char *url;
    size_t nh, i;
    int rc, tr;

    if (out == NULL || opts == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__mem_init(&m, mem)) != 0 || (rc = mcphub__opts_check(opts, sizeof *opts)) != 0)
        return rc;
    url = MCPHUB__GET(opts, O, url, NULL);
    h = MCPHUB__GET(opts, O, headers, NULL);
    nh = MCPHUB__GET(opts, O, n_headers, 0);
    tr = (int)MCPHUB__GET(opts, O, transport, MCPHUB_MCP_TRANSPORT_AUTO);
    if (MCPHUB__GET(opts, O, loop, NULL) == NULL || MCPHUB__GET(opts, O, http, NULL) == NULL ||
        MCPHUB__GET(opts, O, on_message, NULL) == NULL || url == NULL)
        return MCPHUB_E_INVAL;
    if ((strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) ||
        strlen(url) > MAX_URL || !valid_url_text(url, strlen(url)) ||
        origin_len(url) <= (size_t)(strstr(url, "://") - url) + 3)
        return MCPHUB_E_INVAL;
    if (tr < MCPHUB_MCP_TRANSPORT_AUTO || tr > MCPHUB_MCP_TRANSPORT_SSE)
        return MCPHUB_E_INVAL;
    if (nh > MAX_STATIC_HEADERS || (nh > 0 && h == NULL))
        return MCPHUB_E_INVAL;
    for (i = 0; i < nh; i++)
        if (!is_token(h[i].name) || h[i].value == NULL || strpbrk(h[i].value, "\r\n") != NULL)
            return MCPHUB_E_INVAL;
    c = mcphub__calloc(&m, 1, sizeof *c);
    if (c == NULL)
        return MCPHUB_E_NOMEM;
    c->mem = m;
    c->loop = opts->loop;
    c->http = opts->http;
    c->want = c->transport = (mcphub_mcp_transport)tr;
    c->request_timeout_ms = MCPHUB__GET(opts, O, request_timeout_ms, 0);
    c->open_get_stream = MCPHUB__GET(opts, O, open_get_stream, 0) != 0;
    c->on_message = opts->on_message;
    c->on_closed = MCPHUB__GET(opts, O, on_closed, NULL);
    c->user_data = MCPHUB__GET(opts, O, user_data, NULL);
    c->log = MCPHUB__GET(opts, O, log, NULL);
    c->log_user_data = MCPHUB__GET(opts, O, log_user_data, NULL);
    c->max_message = MCPHUB__GET(opts, O, max_message_bytes, 0);
    c->max_in_flight = MCPHUB__GET(opts, O, max_in_flight, 0);
    c->max_queued = MCPHUB__GET(opts, O, max_queued, 0);
    if (c->max_message == 0)
        c->max_message = DEFAULT_MAX_MESSAGE;
    if (c->max_in_flight == 0)
        c->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
    if (c->max_queued == 0)
        c->max_queued = DEFAULT_MAX_QUEUED;
    /* The table's keys are the owner's request ids, not a peer's: a seed
     * from the address and the clock is enough. */
    mcphub__map_init(&c->pending, &c->mem,
                     (uint32_t)(uintptr_t)c ^ (uint32_t)mcphub_loop_now_ms(c->loop));
    c->url = mcphub__strdup(&c->mem, url);
    if (c->url == NULL) {
        destroy(c);
        return MCPHUB_E_NOMEM;
    }
    set_where(c);
    if ((rc = copy_headers(c, h, nh)) != 0) {
        destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The checks and allocations of send; nothing is committed on failure. */
static int send_message(mcphub_mcp_client *c, const char *json, size_t len)
{
    mcphub_jsonrpc_msg m;
    xchg *x;
    pend *p = NULL;
    int rc, queued;

    if (len > c->max_message)
        return MCPHUB_E_TOOBIG;
    rc = mcphub_jsonrpc_classify(&m, json, len, 0);
    if (rc != 0)
        return rc;
    if (m.kind == MCPHUB_JSONRPC_INVALID || m.kind == MCPHUB_JSONRPC_BATCH)
        return MCPHUB_E_INVAL;
    if (m.kind == MCPHUB_JSONRPC_REQUEST) {
        if (m.id.len > MAX_ID_TEXT)
            return MCPHUB_E_INVAL;
        if (mcphub__map_getn(&c->pending, m.id.ptr, m.id.len) != NULL)
            return MCPHUB_E_EXISTS;
        if (c->pending.len >= c->max_in_flight)
            return MCPHUB_E_FULL;
    }
    queued = must_queue(c);
    if (queued && c->queue.len >= c->max_queued)
        return MCPHUB_E_FULL;
    x = mcphub__calloc(&c->mem, 1, sizeof *x);
    if (x == NULL)
        return MCPHUB_E_NOMEM;
    x->c = c;
    x->kind = X_POST;
    x->msg = mcphub__malloc(&c->mem, len > 0 ? len : 1);
    if (x->msg == NULL)
        goto nomem;
    memcpy(x->msg, json, len);
    x->msg_len = len;
    x->is_initialized = m.kind == MCPHUB_JSONRPC_NOTIFICATION &&
                        strcmp(m.method, "notifications/initialized") == 0;
    if (m.kind == MCPHUB_JSONRPC_REQUEST) {
        p = mcphub__calloc(&c->mem, 1, sizeof *p);
        if (p == NULL || (p->id = mcphub__strndup(&c->mem, m.id.ptr, m.id.len)) == NULL ||
            mcphub__map_reserve(&c->pending, 1) != 0)
            goto nomem;
        p->is_init = x->is_init = strcmp(m.method, "initialize") == 0;
        x->req = p;
    }
    if (queued) {
        /* The legacy stream is opened by the first message. */
        if (c->transport == MCPHUB_MCP_TRANSPORT_SSE && c->get == NULL &&
            (rc = start_stream(c, X_LEGACY_GET)) != 0)
            goto fail;
        x->where = W_QUEUE;
        list_push(&c->queue, x, 0);
    } else if ((rc = start_post(c, x)) != 0) {
        goto fail;
    }
    if (p != NULL) {
        mcphub__map_put(&c->pending, p->id, p, NULL); /* reserved: cannot fail */
        p->prev = c->pend_tail;
        if (c->pend_tail != NULL)
            c->pend_tail->next = p;
        else
            c->pend_head = p;
        c->pend_tail = p;
    }
    return 0;
nomem:
    rc = MCPHUB_E_NOMEM;
fail:
    if (p != NULL)
        mcphub__free(&c->mem, p->id);
    mcphub__free(&c->mem, p);
    mcphub__free(&c->mem, x->msg);
    mcphub__free(&c->mem, x);
    return rc;
}

MCPHUB_API int mcphub_mcp_client_send(mcphub_mcp_client *c, const char *json, size_t len)
{
    int rc;

    if (c == NULL || json == NULL)
        return MCPHUB_E_INVAL;
    if (c->closed || c->doomed)
        return MCPHUB_E_STATE;
    enter(c);
    rc = send_message(c, json, len);
    leave(c);
    return rc;
}

MCPHUB_API int mcphub_mcp_client_close(mcphub_mcp_client *c)
{
    if (c == NULL)
        return MCPHUB_E_INVAL;
    enter(c);
    if (!c->closed && c->transport != MCPHUB_MCP_TRANSPORT_SSE && c->session_id[0] != '\0') {
        mcphub_http_kv hv[MAX_STATIC_HEADERS + 4];
        mcphub_http_call call;
        int rc;

        /* Fire and forget: no callback, so it may outlive this client. */
        memset(&call, 0, sizeof call);
        call.size = sizeof call;
        call.method = "DELETE";
        call.url = c->url;
        call.n_headers = fill_headers(c, hv, H_DELETE);
        call.headers = hv;
        rc = mcphub_http_client_send(c->http, &call, NULL);
        logf_(c, rc == 0 ? MCPHUB_LOG_INFO : MCPHUB_LOG_WARN,
              "mcp_client_delete upstream=%s session=%.8s result=\"%s\"", c->where, c->session_id,
              rc == 0 ? "sent" : mcphub_strerror(rc));
    }
    c->closed = 1;
    c->quiet = 1;
    stop_all(c);
    while (c->pend_head != NULL)
        pend_drop(c, c->pend_head);
    leave(c);
    return 0;
}

MCPHUB_API void mcphub_mcp_client_free(mcphub_mcp_client *c)
{
    if (c == NULL || c->doomed)
        return;
    enter(c);
    c->doomed = 1;
    stop_all(c);
    leave(c);
}

MCPHUB_API const char *mcphub_mcp_client_session_id(const mcphub_mcp_client *c)
{
    return c != NULL && c->session_id[0] != '\0' ? c->session_id : NULL;
}

MCPHUB_API mcphub_mcp_transport mcphub_mcp_client_transport(const mcphub_mcp_client *c)
{
    return c != NULL ? c->transport : MCPHUB_MCP_TRANSPORT_AUTO;
}

MCPHUB_API const char *mcphub_mcp_client_protocol_version(const mcphub_mcp_client *c)
{
    return c != NULL && c->protocol[0] != '\0' ? c->protocol : NULL;
}

MCPHUB_API size_t mcphub_mcp_client_in_flight(const mcphub_mcp_client *c)
{
    return c != NULL ? c->pending.len : 0;
}
