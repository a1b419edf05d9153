/* HTTP client: libcurl's multi-socket API on an mcphub_loop; see
 * http_client.h.
 *
 * A request is a pooled struct (an easy handle plus its buffers) found by
 * id through a slot table (id = generation << 32 | slot + 1), so a request
 * on a warm client allocates nothing through the caller's allocator.
 *
 * libcurl forbids calling the multi API from inside its callbacks, and
 * on_data runs inside curl's write callback.  So while curl runs
 * (in_curl > 0) send() queues new requests on `pending` and cancel() marks
 * requests dead and queues them on `reap`; settle() does that curl work
 * once curl has returned, then reports finished transfers.  on_done only
 * ever runs from settle() or the idle timer, outside curl.
 *
 * Every loop callback brackets its work with enter()/leave().  free()
 * inside one of them only marks the client doomed (no callback runs after
 * that) and the outermost leave() destroys it. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/mem_int.h"
#include "mcphub/http_client.h"

#define DEFAULT_MAX_TOTAL_CONN 256u
#define DEFAULT_MAX_HOST_CONN 64u
#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_RESPONSE ((size_t)16 << 20)
#define DEFAULT_MAX_REQUESTS ((size_t)4096)
#define DEFAULT_MAX_REQUEST_BYTES ((size_t)16 << 20)
#define DEFAULT_MAX_HEADER_BYTES ((size_t)64 << 10)
#define POOL_MAX 64                    /* idle requests kept for reuse */
#define KEEP_BYTES ((size_t)64 << 10)  /* bigger buffers are not kept idle */
#define MAX_METHOD 32
#define MAX_HEADERS 256                /* request headers per call */
#define NO_SLOT UINT32_MAX
#define EXTRA_HEADERS 2                /* "Expect:" and "Content-Type:" */

#ifdef CURL_WRITEFUNC_ERROR
#define WRITE_ABORT ((size_t)CURL_WRITEFUNC_ERROR)
#else
#define WRITE_ABORT ((size_t)-1)
#endif

/* Request states. */
enum { R_IDLE, R_PENDING, R_ACTIVE, R_DEAD };

/* Why we stopped a transfer ourselves (the error text is made at the end). */
enum { FAIL_NONE, FAIL_TOOBIG, FAIL_HEADERS, FAIL_NOMEM, FAIL_ABORTED, FAIL_IDLE, FAIL_WATCH };

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

typedef struct req {
    mcphub_http_client *c;
    CURL *easy;
    struct req *prev, *next;   /* every request the client owns */
    struct req *link;          /* pool, pending or reap queue */
    int state;
    int in_multi;
    int queued;                /* on the reap queue */
    int fail;                  /* FAIL_* */
    int watch_rc;              /* for FAIL_WATCH */
    uint64_t id;               /* 0 when not live */
    uint32_t slot;
    mcphub_http_done_fn on_done;
    mcphub_http_data_fn on_data;
    void *user_data;
    int stream;
    uint64_t timeout_ms;       /* 0: none */
    uint64_t idle_ms, last_ms, idle_timer;
    long status;
    buf out;                   /* method, header lines, request body */
    struct curl_slist *sl;     /* header list, nodes point into out */
    size_t sl_cap;
    buf body;                  /* buffered response body */
    buf head;                  /* response headers: "name\0value\0"... */
    char cerr[CURL_ERROR_SIZE];
    char msg[512];
    mcphub_http_response resp;
} req;

typedef struct slot {
    req *r;
    uint32_t gen;
    uint32_t next_free;
} slot;

struct mcphub_http_client {
    mcphub__mem mem;
    mcphub_loop *loop;
    CURLM *multi;
    char *ca_file, *proxy;
    int insecure;
    uint64_t timeout_ms, connect_ms;
    size_t max_response, max_requests, max_request_bytes, max_header;
    mcphub_log_fn log;
    void *log_ud;

    slot *slots;
    size_t slot_cap;
    uint32_t free_slot;
    size_t live;

    req *all;                  /* doubly linked through prev/next */
    req *pool;
    size_t pool_len;
    req *pending, *pending_tail;
    req *reap;

    int *socks;                /* fds we watch for curl */
    size_t socks_len, socks_cap;

    uint64_t timer;            /* loop timer for curl's timeout; 0: none */
    int timer_lost;            /* arming it failed: retry in leave() */
    int in_curl;
    int depth;
    int doomed;
};

static void destroy(mcphub_http_client *c);

/* ---- logging ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void logf_(const mcphub_http_client *c, mcphub_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(level, msg, c->log_ud);
}

/* ---- small helpers ---- */

static int buf_reserve(const mcphub__mem *m, buf *b, size_t need)
{
    size_t cap;
    char *p;

    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = mcphub__realloc(m, b->p, cap);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Free a buffer that grew past what is worth keeping in the pool. */
static void buf_trim(const mcphub__mem *m, buf *b)
{
    b->len = 0;
    if (b->cap > KEEP_BYTES) {
        mcphub__free(m, b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_token(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (i >= max || !is_tchar((unsigned char)s[i]))
            return 0;
    return i > 0;
}

/* "host:port" of a URL for error texts: no user, password, path or query. */
static void url_authority(const char *url, char *out, size_t n)
{
    const char *host, *end, *q;
    int https = url != NULL && strncasecmp(url, "https:", 6) == 0, has_port;

    host = url != NULL ? strstr(url, "://") : NULL;
    if (host == NULL) {
        snprintf(out, n, "?");
        return;
    }
    host += 3;
    end = host + strcspn(host, "/?#");
    for (q = host; q < end; q++)
        if (*q == '@')
            host = q + 1;
    if (*host == '[') {
        q = memchr(host, ']', (size_t)(end - host));
        has_port = q != NULL && q + 1 < end && q[1] == ':';
    } else {
        has_port = memchr(host, ':', (size_t)(end - host)) != NULL;
    }
    snprintf(out, n, "%.*s%s", (int)(end - host), host, has_port ? "" : https ? ":443" : ":80");
}

/* ---- the slot table: ids to live requests ---- */

static int slot_reserve(mcphub_http_client *c)
{
    size_t cap, i;
    slot *s;

    if (c->free_slot != NO_SLOT)
        return 0;
    if (c->slot_cap >= c->max_requests)
        return MCPHUB_E_FULL;
    cap = c->slot_cap ? c->slot_cap * 2 : 16;
    if (cap > c->max_requests)
        cap = c->max_requests;
    s = mcphub__reallocarray(&c->mem, c->slots, cap, sizeof *s);
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    for (i = cap; i-- > c->slot_cap;) {
        s[i].r = NULL;
        s[i].gen = 1;
        s[i].next_free = c->free_slot;
        c->free_slot = (uint32_t)i;
    }
    c->slots = s;
    c->slot_cap = cap;
    return 0;
}

/* Room was reserved by slot_reserve. */
static void slot_take(mcphub_http_client *c, req *r)
{
    uint32_t i = c->free_slot;

    c->free_slot = c->slots[i].next_free;
    c->slots[i].r = r;
    r->slot = i;
    r->id = (uint64_t)c->slots[i].gen << 32 | (uint64_t)(i + 1);
    c->live++;
}

static void slot_release(mcphub_http_client *c, req *r)
{
    slot *s;

    if (r->id == 0)
        return;
    s = &c->slots[r->slot];
    s->r = NULL;
    s->gen = s->gen + 1 ? s->gen + 1 : 1;
    s->next_free = c->free_slot;
    c->free_slot = r->slot;
    c->live--;
    r->id = 0;
}

static req *slot_find(const mcphub_http_client *c, uint64_t id)
{
    uint64_t low = id & 0xffffffffu;
    const slot *s;

    if (c == NULL || low == 0 || low > c->slot_cap)
        return NULL;
    s = &c->slots[low - 1];
    return s->r != NULL && s->gen == (uint32_t)(id >> 32) ? s->r : NULL;
}

/* ---- request structs and their pool ---- */

static void req_destroy(mcphub_http_client *c, req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->all = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    if (r->in_multi)
        curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    mcphub__free(&c->mem, r->out.p);
    mcphub__free(&c->mem, r->sl);
    mcphub__free(&c->mem, r->body.p);
    mcphub__free(&c->mem, r->head.p);
    mcphub__free(&c->mem, r);
}

static int req_get(mcphub_http_client *c, req **out)
{
    req *r = c->pool;

    if (r != NULL) {
        c->pool = r->link;
        c->pool_len--;
    } else {
        r = mcphub__calloc(&c->mem, 1, sizeof *r);
        if (r == NULL)
            return MCPHUB_E_NOMEM;
        r->easy = curl_easy_init();
        if (r->easy == NULL) {
            mcphub__free(&c->mem, r);
            return MCPHUB_E_NOMEM;
        }
        r->c = c;
        r->next = c->all;
        if (c->all != NULL)
            c->all->prev = r;
        c->all = r;
    }
    r->link = NULL;
    *out = r;
    return 0;
}

static void idle_stop(mcphub_http_client *c, req *r)
{
    if (r->idle_timer != 0) {
        mcphub_loop_timer_cancel(c->loop, r->idle_timer);
        r->idle_timer = 0;
    }
}

/* Back to the pool (or freed when the pool is full).  Not in the multi. */
static void req_put(mcphub_http_client *c, req *r)
{
    idle_stop(c, r);
    r->state = R_IDLE;
    r->queued = 0;
    r->on_done = NULL;
    r->on_data = NULL;
    r->user_data = NULL;
    if (c->pool_len >= POOL_MAX) {
        req_destroy(c, r);
        return;
    }
    buf_trim(&c->mem, &r->out);
    buf_trim(&c->mem, &r->body);
    buf_trim(&c->mem, &r->head);
    r->link = c->pool;
    c->pool = r;
    c->pool_len++;
}

/* ---- filling a request ---- */

static int has_header(const mcphub_http_kv *h, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return 1;
    return 0;
}

static void sl_push(req *r, size_t *k, char *line)
{
    r->sl[*k].data = line;
    r->sl[*k].next = NULL;
    if (*k > 0)
        r->sl[*k - 1].next = &r->sl[*k];
    (*k)++;
}

/* Copy method, headers and body into the request's own buffers and build
 * curl's header list over them (our memory, so no curl_slist_append). */
static int req_fill(mcphub_http_client *c, req *r, const char *method, const mcphub_http_kv *h,
                    size_t nh, const char *body, size_t body_len, int with_body)
{
    int no_expect = !has_header(h, nh, "Expect");
    int no_ctype = with_body && !has_header(h, nh, "Content-Type");
    size_t need = strlen(method) + 1 + body_len, i, k = 0, nsl = nh + EXTRA_HEADERS;
    char *p;

    for (i = 0; i < nh; i++) {
        size_t one = strlen(h[i].name) + strlen(h[i].value) + 3;

        if (need > SIZE_MAX - one)
            return MCPHUB_E_NOMEM;
        need += one;
    }
    need += sizeof "Expect:" + sizeof "Content-Type:";
    if (buf_reserve(&c->mem, &r->out, need) != 0)
        return MCPHUB_E_NOMEM;
    if (nsl > r->sl_cap) {
        struct curl_slist *sl = mcphub__reallocarray(&c->mem, r->sl, nsl, sizeof *sl);

        if (sl == NULL)
            return MCPHUB_E_NOMEM;
        r->sl = sl;
        r->sl_cap = nsl;
    }
    p = r->out.p;
    if (body_len > 0)
        memcpy(p, body, body_len);   /* first: curl gets the buffer as is */
    p += body_len;
    strcpy(p, method);
    p += strlen(method) + 1;
    for (i = 0; i < nh; i++) {
        /* curl sends "Name:" with an empty value only when written "Name;". */
        int n = *h[i].value ? sprintf(p, "%s: %s", h[i].name, h[i].value)
                            : sprintf(p, "%s;", h[i].name);

        sl_push(r, &k, p);
        p += n + 1;
    }
    /* Drop curl's defaults: no 100-continue round trip, no form type. */
    if (no_expect) {
        strcpy(p, "Expect:");
        sl_push(r, &k, p);
        p += sizeof "Expect:";
    }
    if (no_ctype) {
        strcpy(p, "Content-Type:");
        sl_push(r, &k, p);
        p += sizeof "Content-Type:";
    }
    r->out.len = (size_t)(p - r->out.p);
    if (k == 0)
        r->sl[0].data = NULL;   /* unused: no list is set */
    return (int)k;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud);
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud);

static long clamp_long(uint64_t v)
{
    return v > (uint64_t)LONG_MAX ? LONG_MAX : (long)v;
}

/* Set every option of the transfer; the handle may have served others. */
static int req_setup(mcphub_http_client *c, req *r, const char *url, const char *method,
                     int nsl, size_t body_len, int with_body)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    curl_easy_reset(e);
    r->cerr[0] = '\0';
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, c->proxy != NULL ? c->proxy : "");   /* "": not from the environment */
    SET(CURLOPT_NOPROXY, "");
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    SET(CURLOPT_ERRORBUFFER, r->cerr);
    SET(CURLOPT_TIMEOUT_MS, clamp_long(r->timeout_ms));
    SET(CURLOPT_CONNECTTIMEOUT_MS, clamp_long(c->connect_ms));
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (nsl > 0)
        SET(CURLOPT_HTTPHEADER, r->sl);
    if (strcmp(method, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || with_body)
        SET(CURLOPT_CUSTOMREQUEST, r->out.p + body_len);
    if (with_body) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SET(CURLOPT_POSTFIELDS, r->out.p);
    }
    if (c->ca_file != NULL)
        SET(CURLOPT_CAINFO, c->ca_file);
    if (c->insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    if (rc == CURLE_OK)
        return 0;
    return rc == CURLE_OUT_OF_MEMORY ? MCPHUB_E_NOMEM : MCPHUB_E_INVAL;
}

/* ---- finishing ---- */

static const char *resp_header(const mcphub_http_response *resp, const char *name)
{
    const req *r;
    const char *p, *end;

    if (resp == NULL || name == NULL)
        return NULL;
    r = resp->priv;
    if (r->head.len == 0)
        return NULL;
    p = r->head.p;
    end = p + r->head.len;
    while (p < end) {
        const char *value = p + strlen(p) + 1;

        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

static void error_text(mcphub_http_client *c, req *r, CURLcode res)
{
    char where[160], sys[128];
    char *url = NULL;
    long os_errno = 0;

    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
    url_authority(url, where, sizeof where);
    switch (r->fail) {
    case FAIL_TOOBIG:
        snprintf(r->msg, sizeof r->msg, "response exceeds %zu bytes", c->max_response);
        return;
    case FAIL_HEADERS:
        snprintf(r->msg, sizeof r->msg, "response headers exceed %zu bytes", c->max_header);
        return;
    case FAIL_NOMEM:
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return;
    case FAIL_ABORTED:
        snprintf(r->msg, sizeof r->msg, "aborted by the data callback");
        return;
    case FAIL_IDLE:
        snprintf(r->msg, sizeof r->msg, "idle timeout: no data for %llu ms",
                 (unsigned long long)r->idle_ms);
        return;
    case FAIL_WATCH:
        snprintf(r->msg, sizeof r->msg, "cannot watch the socket to %s: %s", where,
                 mcphub_strerror(r->watch_rc));
        return;
    default:
        break;
    }
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        long connects = 0;

        curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
        if (connect_us == 0 && connects > 0 &&
            (r->timeout_ms == 0 || c->connect_ms < r->timeout_ms))
            snprintf(r->msg, sizeof r->msg, "connect to %s timed out after %llu ms", where,
                     (unsigned long long)c->connect_ms);
        else
            snprintf(r->msg, sizeof r->msg, "timed out after %llu ms",
                     (unsigned long long)r->timeout_ms);
        return;
    }
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno != 0 && strerror_r((int)os_errno, sys, sizeof sys) == 0)
            snprintf(r->msg, sizeof r->msg, "connect to %s failed: %s", where, sys);
        else
            snprintf(r->msg, sizeof r->msg, "connect to %s failed: %.255s", where,
                     r->cerr[0] ? r->cerr : curl_easy_strerror(res));
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(r->msg, sizeof r->msg, "cannot resolve the host of %s", where);
        return;
    default:
        snprintf(r->msg, sizeof r->msg, "%.255s", r->cerr[0] ? r->cerr : curl_easy_strerror(res));
        return;
    }
}

static void build_response(mcphub_http_client *c, req *r, CURLcode res)
{
    mcphub_http_response *resp = &r->resp;
    long status = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    memset(resp, 0, sizeof *resp);
    resp->status = status;
    resp->priv = r;
    resp->header = resp_header;
    if (r->body.len > 0) {
        r->body.p[r->body.len] = '\0';   /* on_write kept room for it */
        resp->body = r->body.p;
        resp->body_len = r->body.len;
    } else {
        resp->body = "";
    }
    resp->content_type = resp_header(resp, "content-type");
    if (res != CURLE_OK || r->fail != FAIL_NONE) {
        error_text(c, r, res);
        resp->error = r->msg;
        /* The caller's own abort is no failure worth a warning. */
        logf_(c, r->fail == FAIL_ABORTED ? MCPHUB_LOG_DEBUG : MCPHUB_LOG_WARN,
              "http_request_failed id=%llu status=%ld error=\"%s\"", (unsigned long long)r->id,
              status, r->msg);
    }
}

/* The transfer is over: report it (unless the client is doomed) and pool
 * the request.  Outside curl only. */
static void complete(mcphub_http_client *c, req *r, CURLcode res)
{
    mcphub_http_done_fn cb = r->on_done;
    uint64_t id = r->id;

    if (r->in_multi) {
        curl_multi_remove_handle(c->multi, r->easy);
        r->in_multi = 0;
    }
    idle_stop(c, r);
    build_response(c, r, res);
    slot_release(c, r);
    r->state = R_IDLE;
    if (cb != NULL && !c->doomed)
        cb(id, &r->resp, r->user_data);
    req_put(c, r);
}

/* Drop a dead request (cancelled while curl ran): no callback. */
static void reap_one(mcphub_http_client *c, req *r)
{
    if (r->in_multi) {
        curl_multi_remove_handle(c->multi, r->easy);
        r->in_multi = 0;
    }
    req_put(c, r);
}

static void activate(mcphub_http_client *c, req *r)
{
    if (r->state == R_DEAD) {
        req_put(c, r);
        return;
    }
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        r->fail = FAIL_NOMEM;
        complete(c, r, CURLE_OK);
        return;
    }
    r->in_multi = 1;
    r->state = R_ACTIVE;
}

/* Do what had to wait until curl returned, then report finished
 * transfers.  Callbacks run from here may send and cancel freely. */
static void settle(mcphub_http_client *c)
{
    while (!c->doomed) {
        CURLMsg *m;
        req *r;
        int left;

        if ((r = c->reap) != NULL) {
            c->reap = r->link;
            r->queued = 0;
            if (r->state == R_DEAD)
                reap_one(c, r);
            else
                complete(c, r, CURLE_OK);   /* r->fail says why */
            continue;
        }
        if ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
            char *priv = NULL;

            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            r = (req *)(void *)priv;
            if (r == NULL || r->queued)
                continue;   /* the reap queue has it */
            if (r->state == R_DEAD)
                reap_one(c, r);
            else
                complete(c, r, m->data.result);
            continue;
        }
        if ((r = c->pending) != NULL) {
            c->pending = r->link;
            if (c->pending == NULL)
                c->pending_tail = NULL;
            activate(c, r);
            continue;
        }
        break;
    }
}

/* ---- loop glue ---- */

static int on_curl_timeout(mcphub_loop *loop, uint64_t id, void *ud);

static int arm_timer(mcphub_http_client *c, long ms)
{
    if (c->timer != 0) {
        mcphub_loop_timer_cancel(c->loop, c->timer);
        c->timer = 0;
    }
    c->timer_lost = 0;
    if (ms < 0)
        return 0;
    if (mcphub_loop_timer_add(c->loop, &c->timer, (uint64_t)ms, 0, on_curl_timeout, c) != 0) {
        c->timer = 0;
        c->timer_lost = 1;
        return -1;
    }
    return 0;
}

/* curl's timer could not be armed (the loop's timer table was full or out
 * of memory): try again, outside curl. */
static void retry_timer(mcphub_http_client *c)
{
    long ms = -1;

    if (!c->timer_lost || c->depth > 0)
        return;
    curl_multi_timeout(c->multi, &ms);
    if (arm_timer(c, ms) != 0)
        logf_(c, MCPHUB_LOG_ERROR, "http_timer_failed retry=next_event");
}

static void enter(mcphub_http_client *c)
{
    c->depth++;
}

static void leave(mcphub_http_client *c)
{
    if (--c->depth > 0)
        return;
    if (c->doomed)
        destroy(c);
    else
        retry_timer(c);
}

static void drive(mcphub_http_client *c, curl_socket_t s, int action)
{
    int running = 0;

    c->in_curl++;
    curl_multi_socket_action(c->multi, s, action, &running);
    c->in_curl--;
    settle(c);
}

static int on_fd(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    mcphub_http_client *c = ud;
    int action = 0;

    (void)loop;
    if (events & MCPHUB_LOOP_READ)
        action |= CURL_CSELECT_IN;
    if (events & MCPHUB_LOOP_WRITE)
        action |= CURL_CSELECT_OUT;
    if (events & (MCPHUB_LOOP_ERROR | MCPHUB_LOOP_HUP))
        action |= CURL_CSELECT_ERR;
    enter(c);
    drive(c, fd, action);
    leave(c);
    return 0;
}

static int on_curl_timeout(mcphub_loop *loop, uint64_t id, void *ud)
{
    mcphub_http_client *c = ud;

    (void)loop;
    (void)id;
    c->timer = 0;   /* one-shot: it is gone */
    enter(c);
    drive(c, CURL_SOCKET_TIMEOUT, 0);
    leave(c);
    return 0;
}

/* curl's timer callback.  Never -1: that would fail every transfer for
 * good; leave() retries instead. */
static int on_curl_timer(CURLM *multi, long ms, void *ud)
{
    mcphub_http_client *c = ud;

    (void)multi;
    arm_timer(c, ms);
    return 0;
}

static int socks_add(mcphub_http_client *c, int fd)
{
    if (c->socks_len == c->socks_cap) {
        size_t cap = c->socks_cap ? c->socks_cap * 2 : 16;
        int *s = mcphub__reallocarray(&c->mem, c->socks, cap, sizeof *s);

        if (s == NULL)
            return MCPHUB_E_NOMEM;
        c->socks = s;
        c->socks_cap = cap;
    }
    c->socks[c->socks_len++] = fd;
    return 0;
}

static void socks_del(mcphub_http_client *c, int fd)
{
    size_t i;

    for (i = 0; i < c->socks_len; i++)
        if (c->socks[i] == fd) {
            c->socks[i] = c->socks[--c->socks_len];
            return;
        }
}

/* The transfer on easy cannot go on: fail it from settle(). */
static void kill_transfer(mcphub_http_client *c, CURL *easy, int rc)
{
    char *priv = NULL;
    req *r;

    if (easy == NULL)
        return;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    r = (req *)(void *)priv;
    if (r == NULL || r->state != R_ACTIVE || r->queued)
        return;
    r->fail = FAIL_WATCH;
    r->watch_rc = rc;
    r->queued = 1;
    r->link = c->reap;
    c->reap = r;
}

/* curl's socket callback: keep one loop watch per socket curl uses.
 * sockp marks sockets we watch. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *sockp)
{
    mcphub_http_client *c = ud;
    uint32_t interest = 0;
    int rc;

    if (what == CURL_POLL_REMOVE) {
        if (sockp != NULL) {
            mcphub_loop_fd_remove(c->loop, s);
            socks_del(c, s);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        interest |= MCPHUB_LOOP_READ;
    if (what & CURL_POLL_OUT)
        interest |= MCPHUB_LOOP_WRITE;
    if (sockp != NULL) {
        rc = mcphub_loop_fd_modify(c->loop, s, interest);
    } else if ((rc = socks_add(c, s)) == 0) {
        rc = mcphub_loop_fd_add(c->loop, s, interest, on_fd, c);
        if (rc == 0)
            curl_multi_assign(c->multi, s, c);
        else
            c->socks_len--;
    }
    if (rc != 0) {
        logf_(c, MCPHUB_LOG_ERROR, "http_socket_watch_failed fd=%d error=\"%s\"", (int)s,
              mcphub_strerror(rc));
        kill_transfer(c, easy, rc);
    }
    return 0;
}

static int on_idle(mcphub_loop *loop, uint64_t id, void *ud)
{
    req *r = ud;
    mcphub_http_client *c = r->c;
    uint64_t now = mcphub_loop_now_ms(loop), quiet = now - r->last_ms;

    (void)id;
    r->idle_timer = 0;
    if (quiet < r->idle_ms) {
        /* Data came meanwhile: wait for the rest of the period. */
        if (mcphub_loop_timer_add(loop, &r->idle_timer, r->idle_ms - quiet, 0, on_idle, r) == 0)
            return 0;
        r->fail = FAIL_NOMEM;
    } else {
        r->fail = FAIL_IDLE;
    }
    enter(c);
    complete(c, r, CURLE_OK);
    leave(c);
    return 0;
}

/* ---- curl's data callbacks (inside curl) ---- */

static int gone(const req *r)
{
    return r->state != R_ACTIVE || r->c->doomed;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    req *r = ud;
    mcphub_http_client *c = r->c;
    size_t len = size * nmemb, nlen, vlen, need;
    const char *colon, *v, *end = data + len;

    if (gone(r))
        return 0;
    if (r->idle_ms != 0)
        r->last_ms = mcphub_loop_now_ms(c->loop);
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        r->head.len = 0;   /* a new response (after 1xx): forget the last */
        return len;
    }
    colon = memchr(data, ':', len);
    if (colon == NULL || colon == data)
        return len;   /* the blank line, or a folded line (obsolete) */
    nlen = (size_t)(colon - data);
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
        ;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    vlen = (size_t)(end - v);
    need = r->head.len + nlen + vlen + 2;
    if (need > c->max_header) {
        r->fail = FAIL_HEADERS;
        return 0;
    }
    if (buf_reserve(&c->mem, &r->head, need) != 0) {
        r->fail = FAIL_NOMEM;
        return 0;
    }
    memcpy(r->head.p + r->head.len, data, nlen);
    r->head.p[r->head.len + nlen] = '\0';
    memcpy(r->head.p + r->head.len + nlen + 1, v, vlen);
    r->head.p[need - 1] = '\0';
    r->head.len = need;
    return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    req *r = ud;
    mcphub_http_client *c = r->c;
    size_t len = size * nmemb;

    if (gone(r))
        return WRITE_ABORT;
    if (r->stream) {
        int stop;

        if (r->idle_ms != 0)
            r->last_ms = mcphub_loop_now_ms(c->loop);
        if (r->status == 0)
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        stop = r->on_data(r->id, r->status, data, len, r->user_data);
        if (gone(r))
            return WRITE_ABORT;   /* cancelled or freed from on_data */
        if (stop != 0) {
            r->fail = FAIL_ABORTED;
            return WRITE_ABORT;
        }
        return len;
    }
    if (len > c->max_response - r->body.len) {
        r->fail = FAIL_TOOBIG;
        return WRITE_ABORT;
    }
    /* + 1: room for the NUL that build_response adds. */
    if (buf_reserve(&c->mem, &r->body, r->body.len + len + 1) != 0) {
        r->fail = FAIL_NOMEM;
        return WRITE_ABORT;
    }
    memcpy(r->body.p + r->body.len, data, len);
    r->body.len += len;
    return len;
}

/* ---- public API ---- */

MCPHUB_API int mcphub_http_client_new(mcphub_http_client **out, mcphub_loop *loop,
                                      const mcphub_http_client_opts *opts,
                                      const mcphub_mem *mem)
{
    const char *ca, *proxy;
    mcphub_http_client *c;
    mcphub__mem m;
    unsigned total, host;
    size_t v;
    uint64_t t;
    int rc;

    if (out == NULL || loop == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    c = mcphub__calloc(&m, 1, sizeof *c);
    if (c == NULL)
        return MCPHUB_E_NOMEM;
    c->mem = m;
    c->loop = loop;
    c->free_slot = NO_SLOT;
    c->insecure = MCPHUB__GET(opts, mcphub_http_client_opts, insecure_skip_verify, 0) != 0;
    t = MCPHUB__GET(opts, mcphub_http_client_opts, default_timeout_ms, 0);
    c->timeout_ms = t ? t : DEFAULT_TIMEOUT_MS;
    t = MCPHUB__GET(opts, mcphub_http_client_opts, connect_timeout_ms, 0);
    c->connect_ms = t ? t : DEFAULT_CONNECT_TIMEOUT_MS;
    v = MCPHUB__GET(opts, mcphub_http_client_opts, max_response_bytes, 0);
    c->max_response = v ? v : DEFAULT_MAX_RESPONSE;
    if (c->max_response > SIZE_MAX - 1)
        c->max_response = SIZE_MAX - 1;
    v = MCPHUB__GET(opts, mcphub_http_client_opts, max_requests, 0);
    c->max_requests = v ? v : DEFAULT_MAX_REQUESTS;
    if (c->max_requests >= NO_SLOT)
        c->max_requests = NO_SLOT - 1;
    v = MCPHUB__GET(opts, mcphub_http_client_opts, max_request_bytes, 0);
    c->max_request_bytes = v ? v : DEFAULT_MAX_REQUEST_BYTES;
    v = MCPHUB__GET(opts, mcphub_http_client_opts, max_header_bytes, 0);
    c->max_header = v ? v : DEFAULT_MAX_HEADER_BYTES;
    total = MCPHUB__GET(opts, mcphub_http_client_opts, max_total_connections, 0u);
    total = total ? total : DEFAULT_MAX_TOTAL_CONN;
    host = MCPHUB__GET(opts, mcphub_http_client_opts, max_host_connections, 0u);
    host = host ? host : DEFAULT_MAX_HOST_CONN;
    c->log = MCPHUB__GET(opts, mcphub_http_client_opts, log, NULL);
    c->log_ud = MCPHUB__GET(opts, mcphub_http_client_opts, log_user_data, NULL);
    ca = MCPHUB__GET(opts, mcphub_http_client_opts, ca_file, NULL);
    proxy = MCPHUB__GET(opts, mcphub_http_client_opts, proxy, NULL);
    if ((ca != NULL && (c->ca_file = mcphub__strdup(&m, ca)) == NULL) ||
        (proxy != NULL && (c->proxy = mcphub__strdup(&m, proxy)) == NULL)) {
        mcphub__free(&m, c->ca_file);
        mcphub__free(&m, c);
        return MCPHUB_E_NOMEM;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = MCPHUB_E_NOMEM;
        goto fail;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        curl_global_cleanup();
        rc = MCPHUB_E_NOMEM;
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, (void *)c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, (void *)c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, clamp_long(total));
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, clamp_long(host));
    /* Keep as many idle connections as may be open, for reuse. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, clamp_long(total));
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
        logf_(c, MCPHUB_LOG_WARN, "http_client_blocking_resolver advice=\"use IP addresses\"");
    if (c->insecure)
        logf_(c, MCPHUB_LOG_WARN, "http_client_tls_verify_off");
    *out = c;
    return 0;
fail:
    mcphub__free(&m, c->ca_file);
    mcphub__free(&m, c->proxy);
    mcphub__free(&m, c);
    return rc;
}

static void destroy(mcphub_http_client *c)
{
    req *r, *next;
    size_t i;

    /* Transfers out of the multi first, while its callbacks still keep
     * our watches right; then drop the watches on sockets curl keeps. */
    for (r = c->all; r != NULL; r = r->next) {
        if (r->in_multi) {
            curl_multi_remove_handle(c->multi, r->easy);
            r->in_multi = 0;
        }
        idle_stop(c, r);
    }
    for (i = 0; i < c->socks_len; i++)
        mcphub_loop_fd_remove(c->loop, c->socks[i]);
    c->socks_len = 0;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(c->multi);
    if (c->timer != 0)
        mcphub_loop_timer_cancel(c->loop, c->timer);
    for (r = c->all; r != NULL; r = next) {
        next = r->next;
        curl_easy_cleanup(r->easy);
        mcphub__free(&c->mem, r->out.p);
        mcphub__free(&c->mem, r->sl);
        mcphub__free(&c->mem, r->body.p);
        mcphub__free(&c->mem, r->head.p);
        mcphub__free(&c->mem, r);
    }
    mcphub__free(&c->mem, c->slots);
    mcphub__free(&c->mem, c->socks);
    mcphub__free(&c->mem, c->ca_file);
    mcphub__free(&c->mem, c->proxy);
    mcphub__free(&c->mem, c);
    curl_global_cleanup();
}

MCPHUB_API void mcphub_http_client_free(mcphub_http_client *c)
{
    if (c == NULL || c->doomed)
        return;
    c->doomed = 1;
    if (c->depth == 0)
        destroy(c);
}

/* http(s) only, and no blank or control character that could end up
 * in the request line. */
static int url_ok(const char *url)
{
    const unsigned char *p;

    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return 0;
    for (p = (const unsigned char *)url; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

MCPHUB_API int mcphub_http_client_send(mcphub_http_client *c, const mcphub_http_call *call,
                                       uint64_t *id_out)
{
    const char *url, *method, *body;
    const mcphub_http_kv *h;
    size_t nh, body_len, i;
    uint64_t timeout;
    int stream, with_body, nsl, rc;
    req *r;

    if (c == NULL || call == NULL || c->doomed)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(call, sizeof *call)) != 0)
        return rc;
    url = MCPHUB__GET(call, mcphub_http_call, url, NULL);
    method = MCPHUB__GET(call, mcphub_http_call, method, NULL);
    h = MCPHUB__GET(call, mcphub_http_call, headers, NULL);
    nh = MCPHUB__GET(call, mcphub_http_call, n_headers, 0);
    body = MCPHUB__GET(call, mcphub_http_call, body, NULL);
    body_len = MCPHUB__GET(call, mcphub_http_call, body_len, 0);
    stream = MCPHUB__GET(call, mcphub_http_call, stream, 0) != 0;
    timeout = MCPHUB__GET(call, mcphub_http_call, timeout_ms, 0);
    if (url == NULL || !url_ok(url) || nh > MAX_HEADERS || (nh > 0 && h == NULL) ||
        (body_len > 0 && body == NULL))
        return MCPHUB_E_INVAL;
    if (stream && MCPHUB__GET(call, mcphub_http_call, on_data, NULL) == NULL)
        return MCPHUB_E_INVAL;
    if (method == NULL)
        method = body_len > 0 ? "POST" : "GET";
    if (!is_token(method, MAX_METHOD))
        return MCPHUB_E_INVAL;
    for (i = 0; i < nh; i++)
        if (h[i].name == NULL || h[i].value == NULL || !is_token(h[i].name, SIZE_MAX) ||
            strpbrk(h[i].value, "\r\n") != NULL)
            return MCPHUB_E_INVAL;
    if (body_len > c->max_request_bytes)
        return MCPHUB_E_TOOBIG;
    if (c->live >= c->max_requests)
        return MCPHUB_E_FULL;
    with_body = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                strcmp(method, "PATCH") == 0;

    if ((rc = slot_reserve(c)) != 0 || (rc = req_get(c, &r)) != 0)
        return rc;
    r->fail = FAIL_NONE;
    r->status = 0;
    r->body.len = 0;
    r->head.len = 0;
    r->stream = stream;
    r->on_done = MCPHUB__GET(call, mcphub_http_call, on_done, NULL);
    r->on_data = MCPHUB__GET(call, mcphub_http_call, on_data, NULL);
    r->user_data = MCPHUB__GET(call, mcphub_http_call, user_data, NULL);
    r->timeout_ms = timeout ? timeout : stream ? 0 : c->timeout_ms;
    r->idle_ms = stream ? MCPHUB__GET(call, mcphub_http_call, idle_timeout_ms, 0) : 0;
    r->last_ms = r->idle_ms ? mcphub_loop_now_ms(c->loop) : 0;
    if ((nsl = req_fill(c, r, method, h, nh, body, body_len, with_body)) < 0) {
        rc = nsl;
        goto fail;
    }
    if ((rc = req_setup(c, r, url, method, nsl, body_len, with_body)) != 0)
        goto fail;
    if (r->idle_ms != 0 &&
        (rc = mcphub_loop_timer_add(c->loop, &r->idle_timer, r->idle_ms, 0, on_idle, r)) != 0)
        goto fail;
    if (c->in_curl) {
        /* Inside on_data: curl is busy; settle() adds it. */
        r->state = R_PENDING;
        if (c->pending_tail != NULL)
            c->pending_tail->link = r;
        else
            c->pending = r;
        c->pending_tail = r;
    } else {
        CURLMcode mrc = curl_multi_add_handle(c->multi, r->easy);

        if (mrc != CURLM_OK) {
            rc = mrc == CURLM_OUT_OF_MEMORY ? MCPHUB_E_NOMEM : MCPHUB_E_STATE;
            goto fail;
        }
        r->in_multi = 1;
        r->state = R_ACTIVE;
    }
    slot_take(c, r);
    if (id_out != NULL)
        *id_out = r->id;
    retry_timer(c);
    return 0;
fail:
    req_put(c, r);
    retry_timer(c);
    return rc;
}

MCPHUB_API int mcphub_http_client_cancel(mcphub_http_client *c, uint64_t id)
{
    req *r = slot_find(c, id);

    if (r == NULL || c->doomed)
        return MCPHUB_E_NOTFOUND;
    slot_release(c, r);
    idle_stop(c, r);
    if (r->state == R_PENDING || r->queued) {
        r->state = R_DEAD;   /* still on its queue; settle() drops it */
    } else if (c->in_curl) {
        r->state = R_DEAD;
        if (!r->queued) {
            r->queued = 1;
            r->link = c->reap;
            c->reap = r;
        }
    } else {
        reap_one(c, r);
        retry_timer(c);
    }
    return 0;
}

MCPHUB_API size_t mcphub_http_client_in_flight(const mcphub_http_client *c)
{
    return c != NULL ? c->live : 0;
}
