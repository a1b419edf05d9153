/* Unit tests: the HTTP server on 127.0.0.1 with an ephemeral port, talked
 * to by libcurl (in a thread, while this thread runs the loop) and by raw
 * sockets (byte-exact requests: "..", oversized headers, aborts, many
 * connections).  Nothing here asserts on time except generous upper bounds. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include <mcphub/http_server.h>
#include <mcphub/loop.h>

#include "fakes/fakes.h"

/* Self-signed, CN=localhost, SAN DNS:localhost IP:127.0.0.1, valid
 * 2000..2100; made once with openssl (P-256).  Test use only. */
static const char test_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBijCCAS+gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv\n"
    "c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM\n"
    "CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLDie1BaRLI3olNU\n"
    "S/dGy9ZJgC5vq7WAtwGf8nc139xbF07bJFUr/mh4JmSxL8WMJIQUG7AWgYLIhbiY\n"
    "z5ScpZ2jcDBuMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIJbG9jYWxob3N0\n"
    "hwR/AAABMAsGA1UdDwQEAwIChDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4E\n"
    "FgQUCEZfnaEn+9y3DgTCet0Z3bXr4DkwCgYIKoZIzj0EAwIDSQAwRgIhALKR02Pv\n"
    "lxNJ7+uLBQmK8XEmxJjqKDKiZdKb6sXLUSnlAiEAiKuCFbfI4lVApxiiNiwyNQYR\n"
    "gi4Sspo7rgf5pPg4jrs=\n"
    "-----END CERTIFICATE-----\n";
static const char test_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOqfqrF3WB54BY9lP\n"
    "/aAqaK5kat1zclk728jD61vZIBShRANCAASw4ntQWkSyN6JTVEv3RsvWSYAub6u1\n"
    "gLcBn/J3Nd/cWxdO2yRVK/5oeCZksS/FjCSEFBuwFoGCyIW4mM+UnKWd\n"
    "-----END PRIVATE KEY-----\n";

/* Idle streams in test_idle_streams_cost_nothing.  10000 works too (build
 * with EXTRA_CFLAGS=-DTEST_STREAMS=10000 and run under ulimit -n 30000):
 * each stream holds one fd in the server and one in this test. */
#ifndef TEST_STREAMS
#define TEST_STREAMS 200
#endif
#define MAX_HELD (TEST_STREAMS + 16)
#define PUMP_LIMIT_MS 10000

/* ---- the server under test and what its handler saw ---- */

typedef struct fixture {
    mcphub_loop *loop;
    mcphub_http_server *srv;
    fake_log log;
    int handled;
    char method[16], path[256], query_q[64], header_x[64], remote[64];
    size_t body_len;
    char body[64];
    mcphub_http_request *held[MAX_HELD];   /* parked requests and streams */
    int n_held;
    int closed, closed_ok;
    uint64_t async_timer;
    mcphub_http_request *async_req;
    int handler_returned_first;            /* /async: the handler returned unanswered */
    int free_in_handler;
    int respond_retried;                   /* a NOMEM answer was retried */
} fixture;

static void on_close(mcphub_http_request *r, int completed, void *ud)
{
    fixture *f = ud;
    int i;

    /* accessors still work inside the close callback; answering does not */
    assert_non_null(mcphub_http_request_path(r));
    assert_int_equal(mcphub_http_respond(r, 200, NULL, 0, "x", 1), MCPHUB_E_STATE);
    f->closed++;
    f->closed_ok += completed;
    for (i = 0; i < f->n_held; i++)
        if (f->held[i] == r)
            f->held[i] = NULL;
    if (f->async_req == r)
        f->async_req = NULL;
}

static int answer_async(mcphub_loop *loop, uint64_t id, void *ud)
{
    fixture *f = ud;
    static const mcphub_http_header h[] = {{"Content-Type", "text/plain"}};

    (void)loop;
    (void)id;
    f->async_timer = 0;
    if (f->async_req != NULL)
        assert_int_equal(mcphub_http_respond(f->async_req, 202, h, 1, "later", 5), 0);
    return 0;
}

static int respond_retrying(fixture *f, mcphub_http_request *r, unsigned status,
                            const mcphub_http_header *h, size_t n, const char *body, size_t len)
{
    int rc = mcphub_http_respond(r, status, h, n, body, len);

    if (rc == MCPHUB_E_NOMEM) {
        /* a failed call changed nothing: the request can still be answered */
        f->respond_retried++;
        rc = mcphub_http_respond(r, status, h, n, body, len);
    }
    return rc;
}

static void handler(mcphub_http_request *r, void *ud)
{
    fixture *f = ud;
    const char *path = mcphub_http_request_path(r), *q, *x, *body;
    char text[512];
    size_t len;
    int n;

    f->handled++;
    snprintf(f->method, sizeof f->method, "%s", mcphub_http_request_method(r));
    snprintf(f->path, sizeof f->path, "%s", path);
    q = mcphub_http_request_query(r, "q");
    x = mcphub_http_request_header(r, "x-test");
    snprintf(f->query_q, sizeof f->query_q, "%s", q != NULL ? q : "(null)");
    snprintf(f->header_x, sizeof f->header_x, "%s", x != NULL ? x : "(null)");
    snprintf(f->remote, sizeof f->remote, "%s", mcphub_http_request_remote(r));
    body = mcphub_http_request_body(r, &len);
    f->body_len = len;
    snprintf(f->body, sizeof f->body, "%s", body);
    mcphub_http_request_on_close(r, on_close, f);
    if (f->free_in_handler) {
        mcphub_http_server_free(f->srv);   /* finished after MHD_run returns */
        f->srv = NULL;
        return;
    }
    if (strcmp(path, "/echo") == 0 || strncmp(path, "/echo/", 6) == 0) {
        static const mcphub_http_header h[] = {{"Content-Type", "text/plain"},
                                               {"X-Echo", "1"}};

        n = snprintf(text, sizeof text, "%s %s q=%s h=%s len=%zu body=%.*s",
                     f->method, path, f->query_q, f->header_x, len, (int)(len < 64 ? len : 64),
                     body);
        assert_int_equal(respond_retrying(f, r, 200, h, 2, text, (size_t)n), 0);
    } else if (strcmp(path, "/async") == 0) {
        f->async_req = r;
        assert_int_equal(mcphub_loop_timer_add(f->loop, &f->async_timer, 50, 0, answer_async, f),
                         0);
        f->handler_returned_first = 1;
    } else if (strcmp(path, "/poke") == 0) {
        /* answer other requests from inside this one's handler */
        int i, poked = 0;

        for (i = 0; i < f->n_held; i++)
            if (f->held[i] != NULL) {
                if (mcphub_http_stream_write(f->held[i], "data: poked\n\n", 13) == 0 ||
                    mcphub_http_respond(f->held[i], 200, NULL, 0, "poked", 5) == 0)
                    poked++;
            }
        n = snprintf(text, sizeof text, "%d", poked);
        assert_int_equal(mcphub_http_respond(r, 200, NULL, 0, text, (size_t)n), 0);
    } else if (strcmp(path, "/park") == 0) {
        if (f->n_held < MAX_HELD)
            f->held[f->n_held++] = r;
    } else if (strcmp(path, "/sse") == 0) {
        static const mcphub_http_header h[] = {{"Content-Type", "text/event-stream"}};

        assert_int_equal(mcphub_http_stream_start(r, 200, h, 1), 0);
        /* one answer only */
        assert_int_equal(mcphub_http_respond(r, 200, NULL, 0, NULL, 0), MCPHUB_E_STATE);
        assert_int_equal(mcphub_http_stream_start(r, 200, NULL, 0), MCPHUB_E_STATE);
        assert_true(f->n_held < MAX_HELD);
        f->held[f->n_held++] = r;
    } else {
        assert_int_equal(respond_retrying(f, r, 404, NULL, 0, "{}", 2), 0);
    }
}

static mcphub_http_server_opts base_opts(fixture *f)
{
    mcphub_http_server_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.handler = handler;
    o.user_data = f;
    o.log = fake_log_fn;
    o.log_user_data = &f->log;
    return o;
}

static void fixture_start(fixture *f, const mcphub_http_server_opts *o, const mcphub_mem *mem)
{
    assert_int_equal(mcphub_http_server_new(&f->srv, f->loop, o, mem), 0);
    assert_true(mcphub_http_server_port(f->srv) != 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    mcphub_http_server_opts o;

    assert_non_null(f);
    assert_int_equal(mcphub_loop_new(&f->loop, NULL, NULL), 0);
    o = base_opts(f);
    fixture_start(f, &o, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    mcphub_http_server_free(f->srv);
    mcphub_loop_free(f->loop);
    free(f);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run the loop until done(arg) or the limit; returns done(arg). */
typedef int (*cond_fn)(void *arg);

static int pump_until(fixture *f, cond_fn done, void *arg, int limit_ms)
{
    uint64_t end = now_ms() + (uint64_t)limit_ms;

    while (!done(arg)) {
        if (now_ms() > end)
            return 0;
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
    }
    return 1;
}

static void pump_for(fixture *f, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;

    while (now_ms() < end)
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
}

/* ---- libcurl in a thread ---- */

typedef struct job {
    CURL *easy;
    struct curl_slist *hdrs;
    char head[4096];
    size_t head_len;
    char *body;
    size_t body_len, body_cap;
    long status;
    CURLcode res;
    int abort_after;          /* > 0: abort once this many body bytes came */
    pthread_t tid;
    pthread_mutex_t mu;
    int done;
} job;

static size_t job_body(char *p, size_t sz, size_t n, void *ud)
{
    job *j = ud;
    size_t len = sz * n;

    pthread_mutex_lock(&j->mu);
    if (j->body_len + len + 1 > j->body_cap) {
        j->body_cap = (j->body_len + len + 1) * 2;
        j->body = realloc(j->body, j->body_cap);
    }
    memcpy(j->body + j->body_len, p, len);
    j->body_len += len;
    j->body[j->body_len] = '\0';
    pthread_mutex_unlock(&j->mu);
    if (j->abort_after > 0 && j->body_len >= (size_t)j->abort_after)
        return 0;   /* makes curl close the connection */
    return len;
}

static size_t job_head(char *p, size_t sz, size_t n, void *ud)
{
    job *j = ud;
    size_t len = sz * n;

    if (j->head_len + len < sizeof j->head) {
        memcpy(j->head + j->head_len, p, len);
        j->head_len += len;
        j->head[j->head_len] = '\0';
    }
    return len;
}

static void job_init(job *j, fixture *f, const char *scheme, const char *target)
{
    char url[512];

    memset(j, 0, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    j->easy = curl_easy_init();
    assert_non_null(j->easy);
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, mcphub_http_server_port(f->srv),
             target);
    curl_easy_setopt(j->easy, CURLOPT_URL, url);
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, job_body);
    curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, job_head);
    curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)PUMP_LIMIT_MS);
    curl_easy_setopt(j->easy, CURLOPT_PATH_AS_IS, 1L);
}

static void *job_main(void *arg)
{
    job *j = arg;

    j->res = curl_easy_perform(j->easy);
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static int job_done(void *arg)
{
    job *j = arg;
    int d;

    pthread_mutex_lock(&j->mu);
    d = j->done;
    pthread_mutex_unlock(&j->mu);
    return d;
}

static size_t job_body_len(job *j)
{
    size_t n;

    pthread_mutex_lock(&j->mu);
    n = j->body_len;
    pthread_mutex_unlock(&j->mu);
    return n;
}

static void job_start(job *j)
{
    assert_int_equal(pthread_create(&j->tid, NULL, job_main, j), 0);
}

static void job_finish(fixture *f, job *j)
{
    assert_true(pump_until(f, job_done, j, PUMP_LIMIT_MS + 2000));
    pthread_join(j->tid, NULL);
}

static void job_free(job *j)
{
    curl_slist_free_all(j->hdrs);
    curl_easy_cleanup(j->easy);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
}

static void job_run(fixture *f, job *j)
{
    job_start(j);
    job_finish(f, j);
}

/* ---- raw sockets ---- */

typedef struct raw {
    int fd;
    char buf[1 << 16];
    size_t len;
    int eof;
    int status;
    size_t head_len;          /* bytes of the response head, 0 until complete */
} raw;

static int raw_connect(raw *c, uint16_t port)
{
    struct sockaddr_in a;

    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int err = errno;

        close(c->fd);
        c->fd = -1;
        return err;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static void raw_close(raw *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void raw_send(fixture *f, raw *c, const char *data, size_t n)
{
    uint64_t end = now_ms() + PUMP_LIMIT_MS;

    while (n > 0) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);

        if (w > 0) {
            data += w;
            n -= (size_t)w;
        } else {
            assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
            assert_true(now_ms() < end);
            assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
        }
    }
}

static void raw_sends(fixture *f, raw *c, const char *s)
{
    raw_send(f, c, s, strlen(s));
}

/* Read what is there without blocking; parse the status line when the
 * head is complete. */
static void raw_poll(raw *c)
{
    for (;;) {
        ssize_t n;

        if (c->len + 1 >= sizeof c->buf)
            break;
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->eof = 1;
        break;
    }
    if (c->head_len == 0) {
        char *end = strstr(c->buf, "\r\n\r\n");

        if (end != NULL) {
            c->head_len = (size_t)(end - c->buf) + 4;
            c->status = atoi(c->buf + 9);
        }
    }
}

static const char *raw_header(const raw *c, const char *name)
{
    static char val[256];
    const char *p = c->buf;
    size_t nl = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL && (size_t)(p - c->buf) < c->head_len) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            snprintf(val, sizeof val, "%.*s", (int)(e - v), v);
            return val;
        }
    }
    return NULL;
}

/* A whole response with a Content-Length, or one ended by close. */
static int raw_has_response(void *arg)
{
    raw *c = arg;
    const char *cl;

    raw_poll(c);
    if (c->head_len == 0)
        return c->eof;
    cl = raw_header(c, "Content-Length");
    if (cl != NULL)
        return c->len >= c->head_len + (size_t)atol(cl);
    return c->eof;
}

static int raw_has_head(void *arg)
{
    raw *c = arg;

    raw_poll(c);
    return c->head_len > 0 || c->eof;
}

static int raw_has_eof(void *arg)
{
    raw *c = arg;

    raw_poll(c);
    return c->eof;
}

/* Forget the response read so far (keep-alive: the next one follows). */
static void raw_consume(raw *c)
{
    const char *cl = raw_header(c, "Content-Length");
    size_t used = c->head_len + (cl != NULL ? (size_t)atol(cl) : 0);

    if (used > c->len)
        used = c->len;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->buf[c->len] = '\0';
    c->head_len = 0;
    c->status = 0;
}

/* One request on a fresh connection; returns the status (0: none). */
static int raw_request(fixture *f, raw *c, const char *req)
{
    assert_int_equal(raw_connect(c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, c, req);
    assert_true(pump_until(f, raw_has_response, c, PUMP_LIMIT_MS));
    return c->status;
}

static const char *raw_body(const raw *c)
{
    return c->buf + c->head_len;
}

/* Decode the chunked body read so far into out; *last tells whether the
 * closing zero-size chunk came.  Returns the decoded length. */
static size_t raw_dechunk(const raw *c, char *out, size_t cap, int *last)
{
    const char *p = c->buf + c->head_len, *end = c->buf + c->len;
    size_t o = 0;

    *last = 0;
    while (p < end) {
        char *e;
        unsigned long n = strtoul(p, &e, 16);
        const char *crlf = strstr(p, "\r\n");

        if (crlf == NULL || e == p)
            break;
        p = crlf + 2;
        if (n == 0) {
            *last = 1;
            break;
        }
        if ((size_t)(end - p) < n + 2)
            break;
        if (o + n <= cap) {
            memcpy(out + o, p, n);
            o += n;
        }
        p += n + 2;
    }
    return o;
}

static int raw_has_last_chunk(void *arg)
{
    raw *c = arg;
    static char scratch[1 << 16];
    int last;

    raw_poll(c);
    if (c->head_len == 0)
        return c->eof;
    raw_dechunk(c, scratch, sizeof scratch, &last);
    return last || c->eof;
}

/* ---- tests ---- */

static int handled_one(void *arg)
{
    return ((fixture *)arg)->handled >= 1;
}

static int closed_at_least(void *arg)
{
    fixture *f = arg;

    return f->closed >= f->handled;
}

static void test_get_and_post(void **state)
{
    fixture *f = *state;
    job j;

    job_init(&j, f, "http", "/echo?q=a%20b+c&empty&x=1");
    j.hdrs = curl_slist_append(NULL, "X-Test: hello");
    curl_easy_setopt(j.easy, CURLOPT_HTTPHEADER, j.hdrs);
    job_run(f, &j);
    assert_int_equal(j.res, CURLE_OK);
    assert_int_equal(j.status, 200);
    assert_string_equal(j.body, "GET /echo q=a b c h=hello len=0 body=");
    assert_non_null(strstr(j.head, "X-Echo: 1"));
    assert_non_null(strstr(j.head, "Content-Type: text/plain"));
    assert_int_equal(strncmp(f->remote, "127.0.0.1:", 10), 0);
    job_free(&j);

    job_init(&j, f, "http", "/echo/%41b%2Fc");
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDS, "payload=1&more");
    job_run(f, &j);
    assert_int_equal(j.status, 200);
    assert_string_equal(j.body, "POST /echo/Ab/c q=(null) h=(null) len=14 body=payload=1&more");
    assert_int_equal(f->body_len, 14);
    job_free(&j);

    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 2);
    assert_int_equal(mcphub_http_server_requests(f->srv), 0);
}

static void test_query_and_header_accessors(void **state)
{
    fixture *f = *state;
    raw c;

    assert_int_equal(raw_request(f, &c, "GET /echo?a=1&q=%7E%2b+x&q=second&flag HTTP/1.1\r\n"
                                        "Host: h\r\nX-TEST: Mixed Case\r\n"
                                        "Connection: close\r\n\r\n"), 200);
    /* the first q wins, '+' is a space, %2b is a plus, header names are
     * case-insensitive */
    assert_string_equal(f->query_q, "~+ x");
    assert_string_equal(f->header_x, "Mixed Case");
    assert_string_equal(raw_body(&c), "GET /echo q=~+ x h=Mixed Case len=0 body=");
    raw_close(&c);
}

static void test_async_answer_from_timer(void **state)
{
    fixture *f = *state;
    job j;

    job_init(&j, f, "http", "/async");
    job_start(&j);
    assert_true(pump_until(f, handled_one, f, PUMP_LIMIT_MS));
    /* parked: the handler returned without answering */
    assert_true(f->handler_returned_first);
    assert_non_null(f->async_req);
    assert_int_equal(f->closed, 0);
    assert_int_equal(mcphub_http_server_requests(f->srv), 1);
    job_finish(f, &j);
    assert_int_equal(j.res, CURLE_OK);
    assert_int_equal(j.status, 202);
    assert_string_equal(j.body, "later");
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 1);
    job_free(&j);
}

static int two_responses(void *arg)
{
    raw *c = arg;

    raw_poll(c);
    return strstr(c->buf, "\r\n\r\nlater") != NULL &&
           strstr(c->buf, "len=0 body=") != NULL;
}

/* A second request sent while the first is parked: the parked one's
 * socket turns readable without a hang-up, which must neither spin nor
 * count as the client leaving; answers come back in order. */
static void test_pipelined_behind_parked(void **state)
{
    fixture *f = *state;
    raw c;
    char *later, *echo;

    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, handled_one, f, PUMP_LIMIT_MS));
    raw_sends(f, &c, "GET /echo?q=second HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, two_responses, &c, PUMP_LIMIT_MS));
    later = strstr(c.buf, "later");
    echo = strstr(c.buf, "GET /echo q=second");
    assert_non_null(later);
    assert_non_null(echo);
    assert_true(later < echo);
    assert_int_equal(f->handled, 2);
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 2);
    assert_false(fake_log_has(&f->log, "http_client_gone"));
    raw_close(&c);
}

static int held_count(fixture *f)
{
    int i, n = 0;

    for (i = 0; i < f->n_held; i++)
        n += f->held[i] != NULL;
    return n;
}

static int one_held(void *arg)
{
    return held_count(arg) >= 1;
}

static int two_held(void *arg)
{
    return held_count(arg) == 2;
}

typedef struct body_wait {
    job *j;
    size_t len;
} body_wait;

static int job_has_bytes(void *arg)
{
    body_wait *w = arg;

    return job_body_len(w->j) >= w->len || job_done(w->j);
}

static void test_sse_stream_in_order(void **state)
{
    fixture *f = *state;
    mcphub_http_request *r;
    static char expect[200000], big[100000];
    size_t elen = 0;
    body_wait w;
    job j;
    int i;

    job_init(&j, f, "http", "/sse");
    job_start(&j);
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    r = f->held[0];
    for (i = 0; i < 5; i++) {
        char ev[64];
        int n = snprintf(ev, sizeof ev, "id: %d\ndata: {\"n\":%d}\n\n", i, i);

        assert_int_equal(mcphub_http_stream_write(r, ev, (size_t)n), 0);
        memcpy(expect + elen, ev, (size_t)n);
        elen += (size_t)n;
        if (i % 2 == 1) {
            /* let it reach the client before the next write */
            w.j = &j;
            w.len = elen;
            assert_true(pump_until(f, job_has_bytes, &w, PUMP_LIMIT_MS));
        }
    }
    /* a large event goes out in several pieces */
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', sizeof big - 8);
    memcpy(big + sizeof big - 2, "\n\n", 2);
    assert_int_equal(mcphub_http_stream_write(r, big, sizeof big), 0);
    memcpy(expect + elen, big, sizeof big);
    elen += sizeof big;
    assert_int_equal(mcphub_http_stream_write(r, "", 0), 0);
    assert_int_equal(mcphub_http_stream_end(r), 0);
    assert_int_equal(mcphub_http_stream_end(r), MCPHUB_E_STATE);
    assert_int_equal(mcphub_http_stream_write(r, "late", 4), MCPHUB_E_STATE);
    job_finish(f, &j);
    assert_int_equal(j.res, CURLE_OK);
    assert_int_equal(j.status, 200);
    assert_int_equal(j.body_len, elen);
    assert_memory_equal(j.body, expect, elen);
    assert_non_null(strstr(j.head, "Cache-Control: no-cache"));
    assert_non_null(strstr(j.head, "X-Accel-Buffering: no"));
    assert_non_null(strstr(j.head, "Content-Type: text/event-stream"));
    assert_non_null(strstr(j.head, "Transfer-Encoding: chunked"));
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 1);
    job_free(&j);
}

static int stream_has_poke(void *arg)
{
    raw *c = arg;
    char got[256];
    int last;
    size_t n;

    raw_poll(c);
    n = raw_dechunk(c, got, sizeof got - 1, &last);
    got[n] = '\0';
    return strstr(got, "data: poked") != NULL || c->eof;
}

static void test_answer_from_another_handler(void **state)
{
    fixture *f = *state;
    raw stream, parked, poke;

    assert_int_equal(raw_connect(&stream, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &stream, "GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    assert_true(pump_until(f, raw_has_head, &stream, PUMP_LIMIT_MS));
    assert_int_equal(raw_connect(&parked, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &parked, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, two_held, f, PUMP_LIMIT_MS));
    /* both parked connections are resumed from inside MHD's run */
    assert_int_equal(raw_request(f, &poke, "GET /poke HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    assert_string_equal(raw_body(&poke), "2");
    assert_true(pump_until(f, stream_has_poke, &stream, PUMP_LIMIT_MS));
    assert_false(stream.eof);
    assert_true(pump_until(f, raw_has_response, &parked, PUMP_LIMIT_MS));
    assert_int_equal(parked.status, 200);
    assert_string_equal(raw_body(&parked), "poked");
    raw_close(&stream);
    raw_close(&parked);
    raw_close(&poke);
}

static void test_client_abort_mid_stream(void **state)
{
    fixture *f = *state;
    mcphub_http_request *r;
    job j;

    /* curl hangs up after the first event */
    job_init(&j, f, "http", "/sse");
    j.abort_after = 1;
    job_start(&j);
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    r = f->held[0];
    assert_int_equal(mcphub_http_stream_write(r, "data: 1\n\n", 9), 0);
    job_finish(f, &j);
    assert_int_equal(j.res, CURLE_WRITE_ERROR);
    /* noticed while the stream is idle, without writing again */
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->closed_ok, 0);
    assert_null(f->held[0]);
    job_free(&j);
    assert_true(fake_log_has(&f->log, "http_client_gone"));
}

static void test_client_abort_while_parked(void **state)
{
    fixture *f = *state;
    raw c;

    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "POST /park HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    assert_string_equal(f->body, "abc");
    assert_int_equal(mcphub_http_server_requests(f->srv), 1);
    raw_close(&c);
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 0);
    assert_int_equal(mcphub_http_server_requests(f->srv), 0);
}

static void test_body_over_limit_413(void **state)
{
    fixture *f = *state;
    size_t n = ((size_t)1 << 20) + 1;
    char *big = malloc(n);
    raw c;
    job j;

    /* curl announces the size (and Expect: 100-continue): refused up front */
    assert_non_null(big);
    memset(big, 'a', n);
    job_init(&j, f, "http", "/echo");
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDS, big);
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    job_run(f, &j);
    assert_int_equal(j.status, 413);
    assert_string_equal(j.body, "{\"error\":\"request body exceeds the 1048576-byte limit\"}");
    assert_non_null(strstr(j.head, "application/json"));
    job_free(&j);

    /* exactly the limit is fine */
    job_init(&j, f, "http", "/echo");
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDS, big);
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(n - 1));
    job_run(f, &j);
    assert_int_equal(j.status, 200);
    assert_int_equal(f->body_len, n - 1);
    job_free(&j);
    assert_int_equal(f->handled, 1);

    /* chunked, no length given: the overflow is found while reading */
    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    {
        size_t sent = 0, chunk = 65536;
        char line[32];

        while (sent <= n) {
            snprintf(line, sizeof line, "%zx\r\n", chunk);
            raw_sends(f, &c, line);
            raw_send(f, &c, big, chunk);
            raw_sends(f, &c, "\r\n");
            sent += chunk;
        }
        raw_sends(f, &c, "0\r\n\r\n");
    }
    assert_true(pump_until(f, raw_has_response, &c, PUMP_LIMIT_MS));
    assert_int_equal(c.status, 413);
    assert_string_equal(raw_body(&c), "{\"error\":\"request body exceeds the 1048576-byte limit\"}");
    raw_close(&c);
    assert_int_equal(f->handled, 1);   /* the handler never saw either */
    free(big);
}

static void test_small_body_limit(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    raw c;

    mcphub_http_server_free(f->srv);
    o.max_body = 10;
    fixture_start(f, &o, NULL);
    assert_int_equal(raw_request(f, &c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                                        "\r\n0123456789A"), 413);
    assert_string_equal(raw_body(&c), "{\"error\":\"request body exceeds the 10-byte limit\"}");
    assert_string_equal(raw_header(&c, "Connection"), "close");
    raw_close(&c);
    assert_int_equal(raw_request(f, &c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
                                        "Connection: close\r\n\r\n0123456789"), 200);
    raw_close(&c);
    assert_int_equal(f->handled, 1);
    assert_true(fake_log_has(&f->log, "http_reject status=413"));
}

static char *request_with_header(size_t value_len)
{
    char *req = malloc(value_len + 128);
    int n;

    assert_non_null(req);
    n = sprintf(req, "GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: ");
    memset(req + n, 'v', value_len);
    strcpy(req + (size_t)n + value_len, "\r\nConnection: close\r\n\r\n");
    return req;
}

static void test_header_over_limit(void **state)
{
    fixture *f = *state;
    char *req;
    raw c;

    /* just over 8 KiB: our own check, a JSON 431 */
    req = request_with_header(8192);
    assert_int_equal(raw_request(f, &c, req), 431);
    assert_string_equal(raw_body(&c),
                        "{\"error\":\"request header fields exceed the 8192-byte limit\"}");
    raw_close(&c);
    free(req);
    /* far over it, past libmicrohttpd's connection buffer: it answers */
    req = request_with_header(100000);
    assert_int_equal(raw_request(f, &c, req), 431);
    raw_close(&c);
    free(req);
    /* comfortably under it */
    req = request_with_header(7000);
    assert_int_equal(raw_request(f, &c, req), 200);
    raw_close(&c);
    free(req);
    assert_int_equal(f->handled, 1);
}

static void test_dot_dot_and_malformed_400(void **state)
{
    fixture *f = *state;
    /* status 0: libmicrohttpd closes the connection without an answer */
    static const struct { const char *req; int status; } cases[] = {
        {"GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a/%2e%2e/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /%2E%2E HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /.%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a/%2e%2E%2fb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /.. HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /echo?q=%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET http://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
        {"GET / XTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"GET / HTTP/9.9\r\nHost: h\r\n\r\n", 505},
        {"BROKEN\r\n\r\n", 0},
    };
    size_t i;
    raw c;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = raw_request(f, &c, cases[i].req);

        if (st != cases[i].status)
            print_message("case %zu: status %d\n", i, st);
        assert_int_equal(st, cases[i].status);
        if (st == 0)
            assert_true(c.eof);
        raw_close(&c);
    }
    assert_int_equal(f->handled, 0);
    /* dots that are not a whole ".." segment are fine */
    assert_int_equal(raw_request(f, &c, "GET /echo/a..b/...?q=.. HTTP/1.1\r\nHost: h\r\n"
                                        "Connection: close\r\n\r\n"), 200);
    assert_string_equal(f->path, "/echo/a..b/...");
    assert_string_equal(f->query_q, "..");
    raw_close(&c);
    /* so is HTTP/1.0 without a Host */
    assert_int_equal(raw_request(f, &c, "GET /echo HTTP/1.0\r\n\r\n"), 200);
    raw_close(&c);
    assert_true(fake_log_has(&f->log, "dot-dot"));
}

static int eof_and_closed(void *arg)
{
    void **a = arg;
    raw *c = a[0];
    fixture *f = a[1];

    raw_poll(c);
    return c->eof && f->closed >= 1;
}

static void test_stop_accepting(void **state)
{
    fixture *f = *state;
    raw idle, parked, fresh;
    void *args[2];

    /* a kept-alive connection with no request under way ... */
    assert_int_equal(raw_connect(&idle, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &idle, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, raw_has_response, &idle, PUMP_LIMIT_MS));
    assert_int_equal(idle.status, 200);
    raw_consume(&idle);
    /* ... and one waiting for its answer */
    assert_int_equal(raw_connect(&parked, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &parked, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));

    mcphub_http_server_stop_accepting(f->srv);
    mcphub_http_server_stop_accepting(f->srv);
    assert_int_equal(raw_connect(&fresh, mcphub_http_server_port(f->srv)), ECONNREFUSED);
    assert_true(pump_until(f, raw_has_eof, &idle, PUMP_LIMIT_MS));
    raw_close(&idle);
    /* the parked request still gets its answer, then the connection closes */
    assert_int_equal(mcphub_http_server_requests(f->srv), 1);
    assert_int_equal(mcphub_http_respond(f->held[0], 200, NULL, 0, "bye", 3), 0);
    args[0] = &parked;
    args[1] = f;
    assert_true(pump_until(f, eof_and_closed, args, PUMP_LIMIT_MS));
    assert_int_equal(parked.status, 200);
    assert_string_equal(raw_body(&parked), "bye");
    assert_string_equal(raw_header(&parked, "Connection"), "close");
    assert_int_equal(mcphub_http_server_requests(f->srv), 0);
    assert_int_equal(f->closed_ok, 2);
    raw_close(&parked);
}

#define N_CONN 40
#define N_ROUNDS 5

typedef struct conns {
    raw *c;
    int n;
} conns;

static int all_responded(void *arg)
{
    conns *cs = arg;
    int i, done = 0;

    for (i = 0; i < cs->n; i++)
        done += raw_has_response(&cs->c[i]) && cs->c[i].status > 0;
    return done == cs->n;
}

static void test_many_keepalive_requests(void **state)
{
    fixture *f = *state;
    raw *c = calloc(N_CONN, sizeof *c);
    conns cs;
    int i, round;

    assert_non_null(c);
    cs.c = c;
    cs.n = N_CONN;
    for (i = 0; i < N_CONN; i++)
        assert_int_equal(raw_connect(&c[i], mcphub_http_server_port(f->srv)), 0);
    for (round = 0; round < N_ROUNDS; round++) {
        for (i = 0; i < N_CONN; i++) {
            char req[128];

            snprintf(req, sizeof req, "GET /echo?q=%d-%d HTTP/1.1\r\nHost: h\r\n\r\n", i, round);
            raw_sends(f, &c[i], req);
        }
        assert_true(pump_until(f, all_responded, &cs, PUMP_LIMIT_MS));
        for (i = 0; i < N_CONN; i++) {
            char want[64];

            snprintf(want, sizeof want, "GET /echo q=%d-%d h=(null) len=0 body=", i, round);
            assert_int_equal(c[i].status, 200);
            assert_memory_equal(raw_body(&c[i]), want, strlen(want));
            assert_false(c[i].eof);   /* kept alive */
            raw_consume(&c[i]);
        }
    }
    assert_int_equal(f->handled, N_CONN * N_ROUNDS);
    for (i = 0; i < N_CONN; i++)
        raw_close(&c[i]);
    free(c);
}

#define N_STREAMS TEST_STREAMS

static int n_held_is(void *arg)
{
    fixture *f = arg;

    return held_count(f) == N_STREAMS;
}

static int all_heads(void *arg)
{
    conns *cs = arg;
    int i;

    for (i = 0; i < cs->n; i++)
        if (!raw_has_head(&cs->c[i]))
            return 0;
    return 1;
}

static int all_got_event(void *arg)
{
    conns *cs = arg;
    int i;

    for (i = 0; i < cs->n; i++) {
        raw_poll(&cs->c[i]);
        if (strstr(raw_body(&cs->c[i]), "data: ping") == NULL)
            return 0;
    }
    return 1;
}

static int all_closed(void *arg)
{
    fixture *f = arg;

    return f->closed == N_STREAMS;
}

static long cpu_ticks(void)
{
    char buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *fp = fopen("/proc/self/stat", "r");
    size_t n;
    int i;

    assert_non_null(fp);
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    p = strrchr(buf, ')');   /* the command name may hold spaces */
    assert_non_null(p);
    for (i = 0; i < 12 && p != NULL; i++)   /* fields 3..14 */
        p = strchr(p + 1, ' ');
    assert_non_null(p);
    assert_int_equal(sscanf(p + 1, "%lu %lu", &ut, &st), 2);
    return (long)(ut + st);
}

static void test_idle_streams_cost_nothing(void **state)
{
    fixture *f = *state;
    raw *c = calloc(N_STREAMS, sizeof *c);
    struct rlimit rl;
    conns cs;
    long ticks, hz = sysconf(_SC_CLK_TCK), cpu_ms;
    int i, callbacks = 0;
    uint64_t end;

    assert_non_null(c);
    /* each stream holds one fd here and one in the server */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * N_STREAMS + 64)
        skip();
    cs.c = c;
    cs.n = N_STREAMS;
    for (i = 0; i < N_STREAMS; i++) {
        assert_int_equal(raw_connect(&c[i], mcphub_http_server_port(f->srv)), 0);
        raw_sends(f, &c[i], "GET /sse HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n");
        if (i % 64 == 63)   /* keep the listen backlog short */
            assert_true(mcphub_loop_run_once(f->loop, 0) >= 0);
    }
    assert_true(pump_until(f, n_held_is, f, PUMP_LIMIT_MS));
    assert_true(pump_until(f, all_heads, &cs, PUMP_LIMIT_MS));
    assert_int_equal(c[0].status, 200);
    assert_int_equal(mcphub_http_server_requests(f->srv), N_STREAMS);

    /* one idle second: no busy loop, (almost) no wake-ups */
    pump_for(f, 50);
    ticks = cpu_ticks();
    end = now_ms() + 1000;
    while (now_ms() < end) {
        int rc = mcphub_loop_run_once(f->loop, (int)(end - now_ms()));

        assert_true(rc >= 0);
        callbacks += rc;
    }
    cpu_ms = (cpu_ticks() - ticks) * 1000 / hz;
    print_message("idle %d streams for 1 s: %ld ms CPU, %d loop callbacks\n", N_STREAMS, cpu_ms,
                  callbacks);
    assert_true(callbacks <= 5);
    assert_true(cpu_ms <= 100);

    /* still alive: one event reaches every client */
    for (i = 0; i < f->n_held; i++)
        assert_int_equal(mcphub_http_stream_write(f->held[i], "data: ping\n\n", 12), 0);
    assert_true(pump_until(f, all_got_event, &cs, PUMP_LIMIT_MS));
    /* every client leaving is noticed */
    for (i = 0; i < N_STREAMS; i++)
        raw_close(&c[i]);
    assert_true(pump_until(f, all_closed, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 0);
    assert_int_equal(mcphub_http_server_requests(f->srv), 0);
    free(c);
}

static void test_connection_limit(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    raw c[3];
    int i, served = 0;

    mcphub_http_server_free(f->srv);
    o.max_connections = 2;
    fixture_start(f, &o, NULL);
    for (i = 0; i < 2; i++) {
        assert_int_equal(raw_connect(&c[i], mcphub_http_server_port(f->srv)), 0);
        raw_sends(f, &c[i], "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_true(pump_until(f, raw_has_response, &c[i], PUMP_LIMIT_MS));
        assert_int_equal(c[i].status, 200);
    }
    /* a third waits in the kernel's listen queue, not accepted ... */
    assert_int_equal(raw_connect(&c[2], mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c[2], "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
    pump_for(f, 300);
    raw_poll(&c[2]);
    assert_int_equal(c[2].len, 0);
    assert_false(c[2].eof);
    assert_int_equal(f->handled, 2);
    /* ... until one leaves */
    raw_close(&c[0]);
    assert_true(pump_until(f, raw_has_response, &c[2], PUMP_LIMIT_MS));
    served = c[2].status == 200;
    assert_true(served);
    assert_int_equal(f->handled, 3);
    raw_close(&c[1]);
    raw_close(&c[2]);
}

static void test_tls_round_trip(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    char path[] = "/tmp/mcphub-test-ca-XXXXXX";
    int fd;
    job j;

    mcphub_http_server_free(f->srv);
    o.tls_cert_pem = test_cert;
    o.tls_key_pem = test_key;
    fixture_start(f, &o, NULL);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, test_cert, sizeof test_cert - 1), (ssize_t)(sizeof test_cert - 1));
    close(fd);

    job_init(&j, f, "https", "/echo?q=tls");
    curl_easy_setopt(j.easy, CURLOPT_CAINFO, path);
    curl_easy_setopt(j.easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(j.easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(j.easy, CURLOPT_POSTFIELDS, "secret");
    job_run(f, &j);
    assert_int_equal(j.res, CURLE_OK);
    assert_int_equal(j.status, 200);
    assert_string_equal(j.body, "POST /echo q=tls h=(null) len=6 body=secret");
    job_free(&j);

    /* a stream over TLS, and its client leaving */
    job_init(&j, f, "https", "/sse");
    curl_easy_setopt(j.easy, CURLOPT_CAINFO, path);
    j.abort_after = 10;
    job_start(&j);
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    assert_int_equal(mcphub_http_stream_write(f->held[0], "data: over tls\n\n", 16), 0);
    job_finish(f, &j);
    assert_string_equal(j.body, "data: over tls\n\n");
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 1);
    job_free(&j);

    /* plain HTTP to the TLS port gets nothing useful */
    {
        raw c;

        assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
        raw_sends(f, &c, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_true(pump_until(f, raw_has_eof, &c, PUMP_LIMIT_MS));
        assert_int_equal(c.status, 0);
        raw_close(&c);
    }
    unlink(path);
}

static void test_slow_request_cut_off(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa"
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    uint64_t start, end;
    size_t i = 0;
    raw c;

    mcphub_http_server_free(f->srv);
    o.idle_timeout_s = 1;
    fixture_start(f, &o, NULL);
    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    /* one byte every 100 ms: never idle for a second, yet too slow */
    start = now_ms();
    end = start + 8000;
    while (!c.eof && now_ms() < end && i < sizeof req - 1) {
        if (send(c.fd, req + i, 1, MSG_NOSIGNAL) == 1)
            i++;
        else
            c.eof = 1;
        pump_for(f, 100);
        raw_poll(&c);
    }
    assert_true(c.eof);
    assert_true(i < sizeof req - 1);
    assert_true(now_ms() - start >= 900);
    assert_int_equal(f->handled, 0);
    assert_true(fake_log_has(&f->log, "http_request_timeout"));
    raw_close(&c);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    mcphub_http_server *s = NULL;
    mcphub_http_request *r;
    mcphub_http_header crlf = {"X-Bad", "a\r\nInjected: 1"};
    mcphub_http_header clen = {"content-length", "5"};
    raw c;

    o.handler = NULL;
    assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), MCPHUB_E_INVAL);
    o = base_opts(f);
    o.host = "localhost";   /* numeric only: no name lookups here */
    assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), MCPHUB_E_INVAL);
    o = base_opts(f);
    o.tls_cert_pem = test_cert;
    assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), MCPHUB_E_INVAL);
    o.tls_key_pem = "not a key";
    assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), MCPHUB_E_INVAL);
    o = base_opts(f);
    o.port = mcphub_http_server_port(f->srv);   /* in use */
    assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), MCPHUB_E_INVAL);
    assert_null(s);
    assert_int_equal(mcphub_http_server_new(&s, f->loop, NULL, NULL), MCPHUB_E_INVAL);
    /* more connections than fds: allowed, with a warning */
    {
        struct rlimit rl;

        o = base_opts(f);
        o.max_connections = 4000000;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        assert_int_equal(mcphub_http_server_new(&s, f->loop, &o, NULL), 0);
        mcphub_http_server_free(s);
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 4000000)
            assert_true(fake_log_has(&f->log, "http_fd_limit max_connections=4000000"));
    }
    /* IPv6 loopback works where the machine has it */
    o = base_opts(f);
    o.host = "::1";
    if (mcphub_http_server_new(&s, f->loop, &o, NULL) == 0)
        mcphub_http_server_free(s);

    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    r = f->held[0];
    assert_int_equal(mcphub_http_respond(r, 99, NULL, 0, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_http_respond(r, 600, NULL, 0, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_http_respond(r, 200, &crlf, 1, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_http_respond(r, 200, &clen, 1, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_http_respond(r, 200, NULL, 0, NULL, 3), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_http_stream_write(r, "x", 1), MCPHUB_E_STATE);
    assert_int_equal(mcphub_http_stream_end(r), MCPHUB_E_STATE);
    assert_null(mcphub_http_request_get_data(r));
    mcphub_http_request_set_data(r, f);
    assert_ptr_equal(mcphub_http_request_get_data(r), f);
    assert_null(mcphub_http_request_query(r, "q"));
    assert_null(mcphub_http_request_header(r, "X-Absent"));
    assert_string_equal(mcphub_http_request_header(r, "HOST"), "h");
    /* the failed calls changed nothing: a good answer still goes out */
    assert_int_equal(mcphub_http_respond(r, 204, NULL, 0, NULL, 0), 0);
    assert_int_equal(mcphub_http_respond(r, 200, NULL, 0, NULL, 0), MCPHUB_E_STATE);
    assert_true(pump_until(f, raw_has_head, &c, PUMP_LIMIT_MS));
    assert_int_equal(c.status, 204);
    assert_null(strstr(c.buf, "Injected"));
    raw_close(&c);
    mcphub_http_server_free(NULL);
}

static void test_stream_buffer_bound(void **state)
{
    fixture *f = *state;
    mcphub_http_server_opts o = base_opts(f);
    mcphub_http_request *r;
    char chunk[1000];
    raw c;
    int i;

    mcphub_http_server_free(f->srv);
    o.max_stream_buffer = 4000;
    fixture_start(f, &o, NULL);
    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, one_held, f, PUMP_LIMIT_MS));
    r = f->held[0];
    memset(chunk, 'z', sizeof chunk);
    /* without running the loop nothing drains: the bound is hit */
    for (i = 0; i < 4; i++)
        assert_int_equal(mcphub_http_stream_write(r, chunk, sizeof chunk), 0);
    assert_int_equal(mcphub_http_stream_write(r, chunk, 1), MCPHUB_E_FULL);
    assert_int_equal(mcphub_http_stream_end(r), 0);
    assert_true(pump_until(f, raw_has_last_chunk, &c, PUMP_LIMIT_MS));
    {
        static char got[8192];
        int last;
        size_t n = raw_dechunk(&c, got, sizeof got, &last);

        assert_true(last);
        assert_int_equal(n, 4000);
        for (i = 0; i < 4000; i++)
            assert_int_equal(got[i], 'z');
    }
    assert_true(pump_until(f, closed_at_least, f, PUMP_LIMIT_MS));
    assert_int_equal(f->closed_ok, 1);
    assert_false(c.eof);   /* the connection stays for the next request */
    raw_close(&c);
}

static void test_free_with_open_requests(void **state)
{
    fixture *f = *state;
    raw a, b;

    assert_int_equal(raw_connect(&a, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &a, "GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(raw_connect(&b, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &b, "GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, two_held, f, PUMP_LIMIT_MS));
    assert_int_equal(mcphub_http_server_requests(f->srv), 2);
    mcphub_http_server_free(f->srv);
    f->srv = NULL;
    assert_int_equal(f->closed, 2);
    assert_int_equal(f->closed_ok, 0);
    raw_close(&a);
    raw_close(&b);
}

static void test_free_inside_handler(void **state)
{
    fixture *f = *state;
    raw c;

    f->free_in_handler = 1;
    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f->srv)), 0);
    raw_sends(f, &c, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(pump_until(f, handled_one, f, PUMP_LIMIT_MS));
    assert_null(f->srv);
    assert_int_equal(f->closed, 1);
    assert_true(pump_until(f, raw_has_eof, &c, PUMP_LIMIT_MS));
    raw_close(&c);
}

/* ---- the failing allocator over a realistic exchange ---- */

typedef struct alloc_arg {
    int respond_retries;
    int write_retries;
} alloc_arg;

static int has_event(void *arg)
{
    raw *c = arg;
    char got[256];
    int last;
    size_t n;

    raw_poll(c);
    n = raw_dechunk(c, got, sizeof got - 1, &last);
    got[n] = '\0';
    return strstr(got, "data: two") != NULL || c->eof;
}

static fixture *scenario_fixture;

static int held_or_refused(void *arg)
{
    raw *c = arg;

    raw_poll(c);
    return held_count(scenario_fixture) == 1 || c->head_len > 0 || c->eof;
}

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    alloc_arg *aa = arg;
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_http_server_opts o;
    fixture f;
    raw c;
    int rc = 0, i;

    memset(&f, 0, sizeof f);
    scenario_fixture = &f;
    assert_int_equal(mcphub_loop_new(&f.loop, NULL, NULL), 0);
    o = base_opts(&f);
    rc = mcphub_http_server_new(&f.srv, f.loop, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(f.srv);
        mcphub_loop_free(f.loop);
        return rc;
    }
    /* a POST with a body and a query, answered by the handler */
    assert_int_equal(raw_connect(&c, mcphub_http_server_port(f.srv)), 0);
    raw_sends(&f, &c, "POST /echo?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_true(pump_until(&f, raw_has_response, &c, PUMP_LIMIT_MS));
    if (c.status == 200) {
        assert_string_equal(raw_body(&c), "POST /echo q=1 h=(null) len=5 body=hello");
        raw_consume(&c);
    } else {
        /* out of memory while taking the request in: a clean 503, or the
         * connection refused at accept */
        assert_true(c.status == 503 || (c.status == 0 && c.eof));
        if (c.status == 503)
            assert_string_equal(raw_body(&c), "{\"error\":\"out of memory\"}");
        assert_int_equal(f.handled, 0);
        rc = MCPHUB_E_NOMEM;
    }
    raw_close(&c);
    aa->respond_retries += f.respond_retried;
    /* a stream: writes that fail change nothing and can be retried */
    if (rc == 0) {
        assert_int_equal(raw_connect(&c, mcphub_http_server_port(f.srv)), 0);
        raw_sends(&f, &c, "GET /sse HTTP/1.1\r\nHost: h\r\n\r\n");
        /* the stream starts, or the request meets the failure first */
        assert_true(pump_until(&f, held_or_refused, &c, PUMP_LIMIT_MS));
        if (held_count(&f) == 1) {
            static const char *const ev[] = {"data: one\n\n", "data: two\n\n"};

            for (i = 0; i < 2; i++) {
                int wrc = mcphub_http_stream_write(f.held[0], ev[i], strlen(ev[i]));

                if (wrc == MCPHUB_E_NOMEM) {
                    aa->write_retries++;
                    wrc = mcphub_http_stream_write(f.held[0], ev[i], strlen(ev[i]));
                }
                assert_int_equal(wrc, 0);
            }
            assert_true(pump_until(&f, has_event, &c, PUMP_LIMIT_MS));
            {
                /* each event once, in order */
                char got[256];
                int last;
                size_t n = raw_dechunk(&c, got, sizeof got - 1, &last);

                got[n] = '\0';
                assert_string_equal(got, "data: one\n\ndata: two\n\n");
            }
        } else {
            rc = MCPHUB_E_NOMEM;
        }
        raw_close(&c);
    }
    mcphub_http_server_free(f.srv);
    mcphub_loop_free(f.loop);
    return rc;
}

static void test_failing_allocator(void **state)
{
    alloc_arg aa;
    long n;

    (void)state;
    memset(&aa, 0, sizeof aa);
    n = fake_alloc_loop(alloc_scenario, &aa);
    print_message("%ld allocations; respond retried %d times, stream_write %d times\n", n,
                  aa.respond_retries, aa.write_retries);
    assert_true(n >= 5);
    assert_true(aa.respond_retries >= 1);
    assert_true(aa.write_retries >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_and_header_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_answer_from_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_behind_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_stream_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_from_another_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_abort_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_abort_while_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_limit_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_over_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dot_dot_and_malformed_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_accepting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keepalive_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_streams_cost_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_request_cut_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_buffer_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_open_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_handler, setup, teardown),
        cmocka_unit_test(test_failing_allocator),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
