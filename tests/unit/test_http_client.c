/* Unit tests: the HTTP client against a real libmicrohttpd server on
 * 127.0.0.1 (an ephemeral port, a thread per connection), driven by a real
 * mcphub_loop.
 *
 * Server paths: /echo (method, X-Test, Content-Type, Expect and the body
 * back), /status/N, /sleep/MS, /big/N (N bytes), /sse (five events 30 ms
 * apart), /stall (one event, then nothing). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include <mcphub/http_client.h>
#include <mcphub/loop.h>

#include "fakes/fakes.h"

/* ---- the test server ---- */

/* A throwaway self-signed certificate for 127.0.0.1 (P-256, valid for 100
 * years), for the TLS test only. */
static const char test_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkzCCATqgAwIBAgIUHH4evpXdj11XCXtcsomtxFecKLYwCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLbWNwaHViLXRlc3QwIBcNMjYxMTI2MTg0MDI1WhgPMjEyNjEx\n"
    "MDIxODQwMjVaMBYxFDASBgNVBAMMC21jcGh1Yi10ZXN0MFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAE9gjkU1BYL0Yuz+qao3X7kgeAcbgp6t2dT1mjvj2aAulnoaeB\n"
    "jwGOrMrDAVD882+WMQGw9HOIjnMkiDVYj7plOaNkMGIwHQYDVR0OBBYEFKQkryCB\n"
    "Ns51AKJetSkpUUDYL1gAMB8GA1UdIwQYMBaAFKQkryCBNs51AKJetSkpUUDYL1gA\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAKBggqhkjOPQQDAgNH\n"
    "ADBEAiBu6ceP6cEGt+HHdOro39bT6wmL7An8sfvb+09aGgbYQgIgKkeYAr7sMhxF\n"
    "R6NDPnlBVURxetKGnl/5sfKBDrvF6QA=\n"
    "-----END CERTIFICATE-----\n";
static const char test_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKiXhvmeqWft1UJ+c\n"
    "gIKQd6DdRzrEqPSFnSQd00jPUxihRANCAAT2CORTUFgvRi7P6pqjdfuSB4BxuCnq\n"
    "3Z1PWaO+PZoC6Wehp4GPAY6sysMBUPzzb5YxAbD0c4iOcySINViPumU5\n"
    "-----END PRIVATE KEY-----\n";

typedef struct server {
    struct MHD_Daemon *d;
    uint16_t port;
    int conns;      /* connections accepted (atomic) */
    int stopping;   /* set before stop: sleeping handlers return (atomic) */
    char base[64];
} server;

typedef struct upload {
    char *data;
    size_t len;
} upload;

typedef struct events {
    server *s;
    int sent, total, stall;
} events;

static int stopping(server *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST);
}

/* Sleep ms, in small steps so that a stopping server is not held up. */
static void nap(server *s, int ms)
{
    struct timespec ts = {0, 5 * 1000000L};
    int t;

    for (t = 0; t < ms && !stopping(s); t += 5)
        nanosleep(&ts, NULL);
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max)
{
    events *ev = cls;

    (void)pos;
    if (ev->sent > 0)
        nap(ev->s, ev->stall ? 5000 : 30);
    if (ev->sent == ev->total || stopping(ev->s))
        return MHD_CONTENT_READER_END_OF_STREAM;
    return snprintf(buf, max, "data: %d\n\n", ev->sent++);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    MHD_add_response_header(r, "Content-Type", "text/plain");
    MHD_add_response_header(r, "X-Echo", "yes");
    MHD_add_response_header(r, "X-Twice", "one");
    MHD_add_response_header(r, "X-Twice", "two");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static const char *hdr(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    return v != NULL ? v : "-";
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size, void **ctx)
{
    server *s = cls;
    upload *u = *ctx;

    (void)version;
    if (u == NULL) {
        *ctx = u = calloc(1, sizeof *u);
        return u != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        u->data = realloc(u->data, u->len + *upload_data_size);
        memcpy(u->data + u->len, upload_data, *upload_data_size);
        u->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/echo") == 0) {
        size_t head = strlen(method) + 256, n;
        char *out = malloc(head + u->len);
        enum MHD_Result rc;

        n = (size_t)snprintf(out, head, "%s\n%s\nct=%s expect=%s\n", method, hdr(conn, "X-Test"),
                             hdr(conn, "Content-Type"), hdr(conn, "Expect"));
        if (u->len > 0)
            memcpy(out + n, u->data, u->len);
        rc = reply(conn, 200, out, n + u->len);
        free(out);
        return rc;
    }
    if (strncmp(url, "/status/", 8) == 0)
        return reply(conn, (unsigned)atoi(url + 8), "nope", 4);
    if (strncmp(url, "/sleep/", 7) == 0) {
        nap(s, atoi(url + 7));
        return reply(conn, 200, "slept", 5);
    }
    if (strncmp(url, "/big/", 5) == 0) {
        size_t n = (size_t)atoi(url + 5);
        char *out = malloc(n);
        enum MHD_Result rc;

        memset(out, 'x', n);
        rc = reply(conn, 200, out, n);
        free(out);
        return rc;
    }
    if (strcmp(url, "/sse") == 0 || strcmp(url, "/stall") == 0) {
        events *ev = calloc(1, sizeof *ev);
        struct MHD_Response *r;
        enum MHD_Result rc;

        ev->s = s;
        ev->stall = strcmp(url, "/stall") == 0;
        ev->total = ev->stall ? 2 : 5;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, read_events, ev, free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        rc = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return rc;
    }
    return reply(conn, 404, "no such path", 12);
}

static void completed(void *cls, struct MHD_Connection *conn, void **ctx,
                      enum MHD_RequestTerminationCode toe)
{
    upload *u = *ctx;

    (void)cls;
    (void)conn;
    (void)toe;
    if (u != NULL) {
        free(u->data);
        free(u);
        *ctx = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    server *s = cls;

    (void)conn;
    (void)socket_ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        __atomic_add_fetch(&s->conns, 1, __ATOMIC_SEQ_CST);
}

static void server_start_tls(server *s, int tls)
{
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;

    memset(s, 0, sizeof *s);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (tls)
        s->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle, s,
                                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_HTTPS_MEM_KEY, test_key,
                                MHD_OPTION_HTTPS_MEM_CERT, test_cert,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    else
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    assert_non_null(s->d);
    s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    assert_true(s->port != 0);
    snprintf(s->base, sizeof s->base, "%s://127.0.0.1:%u", tls ? "https" : "http",
             (unsigned)s->port);
}

static void server_start(server *s)
{
    server_start_tls(s, 0);
}

static void server_stop(server *s)
{
    __atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
    MHD_stop_daemon(s->d);
}

static int server_conns(server *s)
{
    return __atomic_load_n(&s->conns, __ATOMIC_SEQ_CST);
}

/* ---- fixture and results ---- */

typedef struct fx {
    mcphub_loop *loop;
    server srv;
    mcphub_http_client *c;
    fake_log log;
} fx;

static mcphub_http_client_opts client_opts(fx *f)
{
    mcphub_http_client_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.log = fake_log_fn;
    o.log_user_data = &f->log;
    return o;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    mcphub_http_client_opts o = client_opts(f);

    assert_int_equal(mcphub_loop_new(&f->loop, NULL, NULL), 0);
    server_start(&f->srv);
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    mcphub_http_client_free(f->c);
    /* The client left nothing behind on the loop. */
    assert_int_equal(mcphub_loop_timeout_ms(f->loop), -1);
    assert_int_equal(mcphub_loop_run_once(f->loop, 0), 0);
    server_stop(&f->srv);
    mcphub_loop_free(f->loop);
    free(f);
    return 0;
}

/* What on_done / on_data saw, copied (responses are borrowed). */
typedef struct result {
    fx *f;
    int done;
    uint64_t id;
    long status;
    char body[16384];
    size_t body_len;
    char error[256];
    int has_error;
    char x_echo[32], x_twice[32], ctype[64];
    int missing_was_null;
    char data[4096];
    size_t data_len;
    int chunks;
    long data_status;
    int stop_after;       /* on_data returns 1 at this chunk (0: never) */
    /* on_data or on_done side effects */
    uint64_t cancel_id;   /* cancel this one */
    int cancel_rc;
    int cancel_self;
    int free_client;
    struct result *spawn; /* send a GET /echo into this result */
    uint64_t spawn_id;
    int spawn_rc;
} result;

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s != NULL ? s : "(null)");
}

static void on_done(uint64_t id, const mcphub_http_response *resp, void *ud);

static int send_get(fx *f, const char *path, result *res, uint64_t *id)
{
    char url[128];
    mcphub_http_call call;

    snprintf(url, sizeof url, "%s%s", f->srv.base, path);
    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.url = url;
    call.on_done = on_done;
    call.user_data = res;
    res->f = f;
    return mcphub_http_client_send(f->c, &call, id);
}

static void side_effects(result *r)
{
    fx *f = r->f;

    if (r->cancel_id != 0) {
        r->cancel_rc = mcphub_http_client_cancel(f->c, r->cancel_id);
        r->cancel_id = 0;
    }
    if (r->spawn != NULL) {
        r->spawn_rc = send_get(f, "/echo", r->spawn, &r->spawn_id);
        r->spawn = NULL;
    }
    if (r->cancel_self) {
        assert_int_equal(mcphub_http_client_cancel(f->c, r->id), 0);
        r->cancel_self = 0;
    }
    if (r->free_client) {
        mcphub_http_client_free(f->c);
        f->c = NULL;
        r->free_client = 0;
    }
}

static void on_done(uint64_t id, const mcphub_http_response *resp, void *ud)
{
    result *r = ud;

    r->done++;
    r->id = id;
    r->status = resp->status;
    assert_non_null(resp->body);
    assert_true(resp->body_len < sizeof r->body);
    memcpy(r->body, resp->body, resp->body_len + 1);   /* NUL-terminated */
    r->body_len = resp->body_len;
    r->has_error = resp->error != NULL;
    copy_str(r->error, sizeof r->error, resp->error);
    copy_str(r->x_echo, sizeof r->x_echo, resp->header(resp, "x-echo"));
    copy_str(r->x_twice, sizeof r->x_twice, resp->header(resp, "X-TWICE"));
    copy_str(r->ctype, sizeof r->ctype, resp->content_type);
    r->missing_was_null = resp->header(resp, "x-not-there") == NULL;
    side_effects(r);
}

static int on_data(uint64_t id, long status, const char *data, size_t len, void *ud)
{
    result *r = ud;

    r->id = id;
    r->data_status = status;
    assert_true(r->data_len + len < sizeof r->data);
    memcpy(r->data + r->data_len, data, len);
    r->data_len += len;
    r->data[r->data_len] = '\0';
    r->chunks++;
    side_effects(r);
    return r->stop_after != 0 && r->chunks >= r->stop_after;
}

/* Run the loop until *counter reaches target (or 10 s pass). */
static void run_until(fx *f, const int *counter, int target)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + 10000;

    while (*counter < target && mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 50) >= 0);
    assert_int_equal(*counter, target);
}

/* Run the loop for ms, whatever happens. */
static void run_for(fx *f, uint64_t ms)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + ms;

    while (mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 20) >= 0);
}

static mcphub_http_call make_call(fx *f, result *res, const char *url)
{
    mcphub_http_call call;

    res->f = f;
    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.url = url;
    call.on_done = on_done;
    call.on_data = on_data;
    call.user_data = res;
    return call;
}

/* ---- tests ---- */

static void test_get_and_post_echo(void **state)
{
    fx *f = *state;
    static result get, post, put, head;
    static const mcphub_http_kv h[] = {{"X-Test", "hello"}, {"Content-Type", "application/json"}};
    char url[128], body[] = "{\"a\":1}\0tail";   /* binary-safe: a NUL inside */
    mcphub_http_call call;
    uint64_t id1 = 0, id2 = 0, id3 = 0, id4 = 0;

    memset(&get, 0, sizeof get);
    memset(&post, 0, sizeof post);
    memset(&put, 0, sizeof put);
    memset(&head, 0, sizeof head);
    snprintf(url, sizeof url, "%s/echo", f->srv.base);

    call = make_call(f, &get, url);
    call.headers = h;
    call.n_headers = 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id1), 0);

    call = make_call(f, &post, url);
    call.headers = h;
    call.n_headers = 2;
    call.body = body;
    call.body_len = sizeof body - 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id2), 0);
    memset(body, '#', sizeof body - 1);   /* the body was copied */

    call = make_call(f, &put, url);
    call.method = "PUT";
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id3), 0);

    call = make_call(f, &head, url);
    call.method = "HEAD";
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id4), 0);

    assert_true(id1 != 0 && id2 != 0 && id3 != 0 && id4 != 0);
    assert_true(id1 != id2 && id2 != id3 && id3 != id4);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 4);
    /* on_done never runs inside send */
    assert_int_equal(get.done + post.done + put.done + head.done, 0);

    run_until(f, &get.done, 1);
    run_until(f, &post.done, 1);
    run_until(f, &put.done, 1);
    run_until(f, &head.done, 1);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);

    assert_int_equal(get.id, id1);
    assert_int_equal(get.status, 200);
    assert_false(get.has_error);
    /* no body: no form Content-Type and no Expect from curl */
    assert_string_equal(get.body, "GET\nhello\nct=- expect=-\n");
    assert_string_equal(get.x_echo, "yes");
    assert_string_equal(get.x_twice, "one");
    assert_string_equal(get.ctype, "text/plain");
    assert_true(get.missing_was_null);

    assert_int_equal(post.status, 200);
    assert_int_equal(post.body_len, strlen("POST\nhello\nct=application/json expect=-\n") + 12);
    assert_memory_equal(post.body, "POST\nhello\nct=application/json expect=-\n{\"a\":1}\0tail",
                        post.body_len);

    assert_int_equal(put.status, 200);
    assert_string_equal(put.body, "PUT\n-\nct=- expect=-\n");

    assert_int_equal(head.status, 200);
    assert_int_equal(head.body_len, 0);
    assert_string_equal(head.body, "");
    assert_string_equal(head.x_echo, "yes");
}

static void test_error_statuses_are_responses(void **state)
{
    fx *f = *state;
    static result r404, r500;

    memset(&r404, 0, sizeof r404);
    memset(&r500, 0, sizeof r500);
    assert_int_equal(send_get(f, "/status/404", &r404, NULL), 0);
    assert_int_equal(send_get(f, "/status/500", &r500, NULL), 0);
    run_until(f, &r404.done, 1);
    run_until(f, &r500.done, 1);
    assert_int_equal(r404.status, 404);
    assert_false(r404.has_error);
    assert_string_equal(r404.body, "nope");
    assert_int_equal(r500.status, 500);
    assert_false(r500.has_error);
    assert_string_equal(r500.body, "nope");
}

static void test_timeout(void **state)
{
    fx *f = *state;
    static result res;
    char url[128];
    mcphub_http_call call;
    uint64_t t0;

    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/sleep/3000", f->srv.base);
    call = make_call(f, &res, url);
    call.timeout_ms = 200;
    t0 = mcphub_loop_now_ms(f->loop);
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_true(mcphub_loop_now_ms(f->loop) - t0 >= 190);
    assert_int_equal(res.status, 0);
    assert_true(res.has_error);
    assert_string_equal(res.error, "timed out after 200 ms");
    assert_true(fake_log_has(&f->log, "http_request_failed"));
}

static void test_connect_refused(void **state)
{
    fx *f = *state;
    static result res;
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    char url[128], want[128];
    mcphub_http_call call;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was just free: bind, read it back, close. */
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    snprintf(url, sizeof url, "http://user:secret@127.0.0.1:%u/x?token=abc",
             (unsigned)ntohs(sa.sin_port));
    snprintf(want, sizeof want, "connect to 127.0.0.1:%u failed: Connection refused",
             (unsigned)ntohs(sa.sin_port));
    memset(&res, 0, sizeof res);
    call = make_call(f, &res, url);
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.error, want);
    /* neither the error nor the log carries credentials or the query */
    assert_false(fake_log_has(&f->log, "secret"));
    assert_false(fake_log_has(&f->log, "token"));
}

static void test_stream_in_chunks(void **state)
{
    fx *f = *state;
    static result res;
    char url[128];
    mcphub_http_call call;

    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/sse", f->srv.base);
    call = make_call(f, &res, url);
    call.stream = 1;
    call.idle_timeout_ms = 2000;   /* events are 30 ms apart: never idle */
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_false(res.has_error);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.data_status, 200);
    assert_string_equal(res.ctype, "text/event-stream");
    assert_string_equal(res.data, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
    assert_true(res.chunks >= 3);          /* delivered as it came */
    assert_int_equal(res.body_len, 0);     /* not buffered */
}

static void test_stream_idle_timeout(void **state)
{
    fx *f = *state;
    static result res;
    char url[128];
    mcphub_http_call call;

    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/stall", f->srv.base);
    call = make_call(f, &res, url);
    call.stream = 1;
    call.idle_timeout_ms = 400;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_string_equal(res.data, "data: 0\n\n");
    assert_int_equal(res.status, 200);
    assert_string_equal(res.error, "idle timeout: no data for 400 ms");
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);
}

static void test_stream_abort_from_on_data(void **state)
{
    fx *f = *state;
    static result res;
    char url[128];
    mcphub_http_call call;

    memset(&res, 0, sizeof res);
    res.stop_after = 2;
    snprintf(url, sizeof url, "%s/sse", f->srv.base);
    call = make_call(f, &res, url);
    call.stream = 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_int_equal(res.chunks, 2);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.error, "aborted by the data callback");
}

static void test_cancel(void **state)
{
    fx *f = *state;
    static result slow, stream;
    char url[128];
    mcphub_http_call call;
    uint64_t id = 0, sid = 0;

    memset(&slow, 0, sizeof slow);
    memset(&stream, 0, sizeof stream);
    assert_int_equal(send_get(f, "/sleep/300", &slow, &id), 0);
    snprintf(url, sizeof url, "%s/stall", f->srv.base);
    call = make_call(f, &stream, url);
    call.stream = 1;
    call.idle_timeout_ms = 800;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &sid), 0);
    run_until(f, &stream.chunks, 1);        /* the stream is under way */
    assert_int_equal(mcphub_http_client_in_flight(f->c), 2);
    assert_int_equal(mcphub_http_client_cancel(f->c, id), 0);
    assert_int_equal(mcphub_http_client_cancel(f->c, sid), 0);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);
    assert_int_equal(mcphub_http_client_cancel(f->c, id), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_http_client_cancel(f->c, 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_http_client_cancel(f->c, 12345), MCPHUB_E_NOTFOUND);
    run_for(f, 1000);   /* past the sleep and the idle timeout */
    assert_int_equal(slow.done, 0);
    assert_int_equal(stream.done, 0);
    assert_int_equal(stream.chunks, 1);
}

static void test_cancel_and_send_from_callbacks(void **state)
{
    fx *f = *state;
    static result a, b, c2, s, d, e;
    char url[128];
    mcphub_http_call call;
    uint64_t bid = 0, did = 0;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c2, 0, sizeof c2);
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    memset(&e, 0, sizeof e);

    /* on_done of A cancels B (slow) and sends C. */
    assert_int_equal(send_get(f, "/sleep/400", &b, &bid), 0);
    a.cancel_id = bid;
    a.spawn = &c2;
    assert_int_equal(send_get(f, "/echo", &a, NULL), 0);
    run_until(f, &a.done, 1);
    assert_int_equal(a.cancel_rc, 0);
    assert_int_equal(a.spawn_rc, 0);
    run_until(f, &c2.done, 1);
    assert_int_equal(c2.status, 200);
    assert_int_equal(c2.id, a.spawn_id);

    /* on_data of stream S (inside curl) cancels D, sends E and cancels
     * itself. */
    assert_int_equal(send_get(f, "/sleep/400", &d, &did), 0);
    snprintf(url, sizeof url, "%s/sse", f->srv.base);
    call = make_call(f, &s, url);
    call.stream = 1;
    s.cancel_id = did;
    s.spawn = &e;
    s.cancel_self = 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &s.chunks, 1);
    assert_int_equal(s.cancel_rc, 0);
    assert_int_equal(s.spawn_rc, 0);
    run_until(f, &e.done, 1);
    assert_int_equal(e.status, 200);
    assert_string_equal(e.body, "GET\n-\nct=- expect=-\n");
    run_for(f, 600);
    assert_int_equal(b.done, 0);
    assert_int_equal(d.done, 0);
    assert_int_equal(s.done, 0);
    assert_int_equal(s.chunks, 1);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);
}

static void test_max_response_bytes(void **state)
{
    fx *f = *state;
    static result big, fits;
    mcphub_http_client_opts o = client_opts(f);

    mcphub_http_client_free(f->c);
    o.max_response_bytes = 1000;
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    memset(&big, 0, sizeof big);
    memset(&fits, 0, sizeof fits);
    assert_int_equal(send_get(f, "/big/5000", &big, NULL), 0);
    assert_int_equal(send_get(f, "/big/1000", &fits, NULL), 0);
    run_until(f, &big.done, 1);
    run_until(f, &fits.done, 1);
    assert_int_equal(big.status, 200);
    assert_string_equal(big.error, "response exceeds 1000 bytes");
    assert_false(fits.has_error);
    assert_int_equal(fits.body_len, 1000);
}

#define MANY 100

static void test_hundred_concurrent(void **state)
{
    fx *f = *state;
    static result res[MANY];
    static char bodies[MANY][32];
    char url[128], want[64];
    int i, total = 0;

    snprintf(url, sizeof url, "%s/echo", f->srv.base);
    memset(res, 0, sizeof res);
    for (i = 0; i < MANY; i++) {
        mcphub_http_call call = make_call(f, &res[i], url);

        snprintf(bodies[i], sizeof bodies[i], "request %d", i);
        call.body = bodies[i];
        call.body_len = strlen(bodies[i]);
        assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    }
    assert_int_equal(mcphub_http_client_in_flight(f->c), MANY);
    while (total < MANY) {
        int before = total;

        assert_true(mcphub_loop_run_once(f->loop, 1000) >= 0);
        for (total = 0, i = 0; i < MANY; i++)
            total += res[i].done;
        assert_true(total > before || mcphub_http_client_in_flight(f->c) > 0);
    }
    for (i = 0; i < MANY; i++) {
        snprintf(want, sizeof want, "POST\n-\nct=- expect=-\nrequest %d", i);
        assert_int_equal(res[i].done, 1);
        assert_int_equal(res[i].status, 200);
        assert_string_equal(res[i].body, want);
    }
    /* max_host_connections (64) bounds the connections opened */
    assert_true(server_conns(&f->srv) <= 64);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);
}

static void test_max_requests(void **state)
{
    fx *f = *state;
    static result res[4];
    mcphub_http_client_opts o = client_opts(f);
    int i;

    mcphub_http_client_free(f->c);
    o.max_requests = 3;
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    memset(res, 0, sizeof res);
    for (i = 0; i < 3; i++)
        assert_int_equal(send_get(f, "/echo", &res[i], NULL), 0);
    assert_int_equal(send_get(f, "/echo", &res[3], NULL), MCPHUB_E_FULL);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 3);
    run_until(f, &res[2].done, 1);
    run_until(f, &res[1].done, 1);
    run_until(f, &res[0].done, 1);
    assert_int_equal(send_get(f, "/echo", &res[3], NULL), 0);
    run_until(f, &res[3].done, 1);
    assert_int_equal(res[3].status, 200);
}

static void chain_done(uint64_t id, const mcphub_http_response *resp, void *ud);

typedef struct chain {
    fx *f;
    char url[128];
    int left, done, bad;
} chain;

static void chain_next(chain *ch)
{
    mcphub_http_call call;

    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.url = ch->url;
    call.on_done = chain_done;
    call.user_data = ch;
    ch->left--;
    if (mcphub_http_client_send(ch->f->c, &call, NULL) != 0)
        ch->bad++;
}

static void chain_done(uint64_t id, const mcphub_http_response *resp, void *ud)
{
    chain *ch = ud;

    (void)id;
    if (resp->status != 200 || resp->error != NULL ||
        strcmp(resp->body, "GET\n-\nct=- expect=-\n") != 0)
        ch->bad++;
    ch->done++;
    if (ch->left > 0)
        chain_next(ch);
}

/* n requests one after the other, each sent from the last one's on_done. */
static void run_chain(fx *f, int n)
{
    chain ch;

    memset(&ch, 0, sizeof ch);
    ch.f = f;
    ch.left = n;
    snprintf(ch.url, sizeof ch.url, "%s/echo", f->srv.base);
    chain_next(&ch);
    while (ch.done < n && ch.bad == 0)
        assert_true(mcphub_loop_run_once(f->loop, 1000) >= 0);
    assert_int_equal(ch.bad, 0);
    assert_int_equal(ch.done, n);
}

static void test_connection_reuse(void **state)
{
    fx *f = *state;

    run_chain(f, 50);
    assert_int_equal(server_conns(&f->srv), 1);
}

static void test_warm_requests_allocate_nothing(void **state)
{
    fx *f = *state;
    fake_alloc fa;
    mcphub_mem mem;
    mcphub_http_client_opts o = client_opts(f);
    long warm;

    mcphub_http_client_free(f->c);
    fake_alloc_reset(&fa, 0);
    mem = fake_alloc_mem(&fa);
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, &mem), 0);
    run_chain(f, 5);
    warm = fa.count;
    run_chain(f, 200);
    assert_int_equal(fa.count, warm);   /* pooled: no allocation per request */
    mcphub_http_client_free(f->c);
    f->c = NULL;
    assert_int_equal(fa.live, 0);
}

static void test_free_with_requests_in_flight(void **state)
{
    fx *f = *state;
    static result res[5], s;
    char url[128];
    mcphub_http_call call;
    int i;

    memset(res, 0, sizeof res);
    memset(&s, 0, sizeof s);
    for (i = 0; i < 5; i++)
        assert_int_equal(send_get(f, "/sleep/200", &res[i], NULL), 0);
    snprintf(url, sizeof url, "%s/stall", f->srv.base);
    call = make_call(f, &s, url);
    call.stream = 1;
    call.idle_timeout_ms = 5000;   /* armed when the client is freed */
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &s.chunks, 1);
    mcphub_http_client_free(f->c);
    f->c = NULL;
    assert_int_equal(mcphub_loop_timeout_ms(f->loop), -1);
    run_for(f, 400);
    for (i = 0; i < 5; i++)
        assert_int_equal(res[i].done, 0);
    assert_int_equal(s.done, 0);
}

static void test_free_from_callbacks(void **state)
{
    fx *f = *state;
    static result a, slow, s, other;
    mcphub_http_client_opts o = client_opts(f);
    char url[128];
    mcphub_http_call call;

    /* from on_done, with another request in flight */
    memset(&a, 0, sizeof a);
    memset(&slow, 0, sizeof slow);
    assert_int_equal(send_get(f, "/sleep/200", &slow, NULL), 0);
    a.free_client = 1;
    assert_int_equal(send_get(f, "/echo", &a, NULL), 0);
    run_until(f, &a.done, 1);
    assert_null(f->c);
    assert_int_equal(mcphub_loop_timeout_ms(f->loop), -1);
    run_for(f, 300);
    assert_int_equal(slow.done, 0);

    /* from on_data (inside curl) */
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    memset(&s, 0, sizeof s);
    memset(&other, 0, sizeof other);
    assert_int_equal(send_get(f, "/sleep/200", &other, NULL), 0);
    snprintf(url, sizeof url, "%s/sse", f->srv.base);
    call = make_call(f, &s, url);
    call.stream = 1;
    s.free_client = 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &s.chunks, 1);
    assert_null(f->c);
    run_for(f, 300);
    assert_int_equal(s.chunks, 1);
    assert_int_equal(s.done, 0);
    assert_int_equal(other.done, 0);
}

static void test_invalid_calls_change_nothing(void **state)
{
    fx *f = *state;
    static result res;
    static const mcphub_http_kv crlf[] = {{"X-Evil", "a\r\nInjected: 1"}};
    static const mcphub_http_kv badname[] = {{"X Bad", "v"}};
    mcphub_http_client_opts o = client_opts(f);
    char url[128];
    mcphub_http_call call;
    uint64_t id = 77;

    mcphub_http_client_free(f->c);
    o.max_request_bytes = 10;
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/echo", f->srv.base);

    call = make_call(f, &res, "ftp://127.0.0.1/x");
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, "file:///etc/passwd");
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, NULL);
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, url);
    call.headers = crlf;
    call.n_headers = 1;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call.headers = badname;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, url);
    call.method = "GE T";
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, url);
    call.body_len = 3;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, url);
    call.stream = 1;
    call.on_data = NULL;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_INVAL);
    call = make_call(f, &res, url);
    call.body = "12345678901";
    call.body_len = 11;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_TOOBIG);
    {
        struct { mcphub_http_call c; char tail[8]; } bigger;

        memset(&bigger, 0, sizeof bigger);
        bigger.c = make_call(f, &res, url);
        bigger.c.size = sizeof bigger;
        bigger.tail[2] = 1;   /* unknown non-zero field */
        assert_int_equal(mcphub_http_client_send(f->c, &bigger.c, &id), MCPHUB_E_INVAL);
    }
    assert_int_equal(mcphub_http_client_send(NULL, &call, &id), MCPHUB_E_INVAL);
    assert_int_equal(id, 77);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 0);
    assert_int_equal(mcphub_loop_timeout_ms(f->loop), -1);
    run_for(f, 50);
    assert_int_equal(res.done, 0);

    /* a call of exactly the bound is fine; empty header values too */
    {
        static const mcphub_http_kv empty[] = {{"X-Test", ""}};

        call = make_call(f, &res, url);
        call.body = "1234567890";
        call.body_len = 10;
        call.headers = empty;
        call.n_headers = 1;
        assert_int_equal(mcphub_http_client_send(f->c, &call, &id), 0);
        run_until(f, &res.done, 1);
        assert_string_equal(res.body, "POST\n\nct=- expect=-\n1234567890");
    }
    {
        mcphub_http_client *c = NULL;
        struct { mcphub_http_client_opts o; char tail[8]; } bad;

        memset(&bad, 0, sizeof bad);
        bad.o.size = sizeof bad;
        bad.tail[0] = 1;
        assert_int_equal(mcphub_http_client_new(&c, f->loop, &bad.o, NULL), MCPHUB_E_INVAL);
        assert_int_equal(mcphub_http_client_new(&c, NULL, NULL, NULL), MCPHUB_E_INVAL);
        assert_int_equal(mcphub_http_client_new(NULL, f->loop, NULL, NULL), MCPHUB_E_INVAL);
        assert_null(c);
    }
    mcphub_http_client_free(NULL);
}

static void test_loop_timer_table_full(void **state)
{
    fx *f = *state;
    static result get, s1, s2;
    mcphub_loop_opts lo;
    mcphub_http_client_opts o = client_opts(f);
    char url[128];
    mcphub_http_call call;
    uint64_t id = 5;

    /* A loop with room for two timers: curl's and one idle timer. */
    mcphub_http_client_free(f->c);
    mcphub_loop_free(f->loop);
    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.max_timers = 2;
    assert_int_equal(mcphub_loop_new(&f->loop, &lo, NULL), 0);
    assert_int_equal(mcphub_http_client_new(&f->c, f->loop, &o, NULL), 0);
    memset(&get, 0, sizeof get);
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    assert_int_equal(send_get(f, "/echo", &get, NULL), 0);   /* arms curl's timer */
    snprintf(url, sizeof url, "%s/sse", f->srv.base);
    call = make_call(f, &s1, url);
    call.stream = 1;
    call.idle_timeout_ms = 5000;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    call = make_call(f, &s2, url);
    call.stream = 1;
    call.idle_timeout_ms = 5000;
    assert_int_equal(mcphub_http_client_send(f->c, &call, &id), MCPHUB_E_FULL);
    assert_int_equal(id, 5);
    assert_int_equal(mcphub_http_client_in_flight(f->c), 2);
    run_until(f, &get.done, 1);
    run_until(f, &s1.done, 1);
    assert_int_equal(get.status, 200);
    assert_false(s1.has_error);
    assert_int_equal(s1.data_len, 45);
    assert_int_equal(s2.done + s2.chunks, 0);
}

static void test_url_and_header_limits(void **state)
{
    fx *f = *state;
    static result res;
    static mcphub_http_kv many[257];
    char url[128];
    mcphub_http_call call;
    int i;

    memset(&res, 0, sizeof res);
    snprintf(url, sizeof url, "%s/echo x", f->srv.base);
    call = make_call(f, &res, url);
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), MCPHUB_E_INVAL);
    snprintf(url, sizeof url, "%s/echo\r\nX: 1", f->srv.base);
    call = make_call(f, &res, url);
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), MCPHUB_E_INVAL);
    for (i = 0; i < 257; i++) {
        many[i].name = "X-Many";
        many[i].value = "v";
    }
    snprintf(url, sizeof url, "%s/echo", f->srv.base);
    call = make_call(f, &res, url);
    call.headers = many;
    call.n_headers = 257;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), MCPHUB_E_INVAL);
    call.n_headers = 256;
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &res.done, 1);
    assert_int_equal(res.status, 200);
}

static void test_tls(void **state)
{
    fx *f = *state;
    static result bad, good, insecure;
    char path[] = "/tmp/mcphub-test-ca-XXXXXX";
    mcphub_http_client_opts o = client_opts(f);
    mcphub_http_client *verify_ca = NULL, *no_verify = NULL;
    char url[128];
    mcphub_http_call call;
    int fd;

    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        skip();
    server_stop(&f->srv);
    server_start_tls(&f->srv, 1);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, test_cert, strlen(test_cert)), (ssize_t)strlen(test_cert));
    close(fd);
    o.ca_file = path;
    assert_int_equal(mcphub_http_client_new(&verify_ca, f->loop, &o, NULL), 0);
    o.ca_file = NULL;
    o.insecure_skip_verify = 1;
    assert_int_equal(mcphub_http_client_new(&no_verify, f->loop, &o, NULL), 0);
    assert_true(fake_log_has(&f->log, "http_client_tls_verify_off"));
    snprintf(url, sizeof url, "%s/echo", f->srv.base);

    /* the system's CAs do not know the test certificate */
    memset(&bad, 0, sizeof bad);
    call = make_call(f, &bad, url);
    assert_int_equal(mcphub_http_client_send(f->c, &call, NULL), 0);
    run_until(f, &bad.done, 1);
    assert_true(bad.has_error);
    assert_non_null(strstr(bad.error, "certificate"));
    assert_int_equal(bad.status, 0);

    memset(&good, 0, sizeof good);
    call = make_call(f, &good, url);
    assert_int_equal(mcphub_http_client_send(verify_ca, &call, NULL), 0);
    run_until(f, &good.done, 1);
    unlink(path);
    assert_false(good.has_error);
    assert_int_equal(good.status, 200);
    assert_string_equal(good.body, "GET\n-\nct=- expect=-\n");

    memset(&insecure, 0, sizeof insecure);
    call = make_call(f, &insecure, url);
    assert_int_equal(mcphub_http_client_send(no_verify, &call, NULL), 0);
    run_until(f, &insecure.done, 1);
    assert_false(insecure.has_error);
    assert_int_equal(insecure.status, 200);
    mcphub_http_client_free(verify_ca);
    mcphub_http_client_free(no_verify);
}

/* ---- failing allocator ---- */

typedef struct scenario {
    fx *f;
    result res[3];
} scenario;

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    scenario *sc = arg;
    fx *f = sc->f;
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_http_client_opts o = client_opts(f);
    static const mcphub_http_kv h[] = {{"X-Test", "alloc"}};
    char url[3][128];
    int i, n = 0, rc = 0, done = 0;

    memset(sc->res, 0, sizeof sc->res);
    o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    f->c = NULL;
    rc = mcphub_http_client_new(&f->c, f->loop, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(f->c);
        return rc;
    }
    snprintf(url[0], sizeof url[0], "%s/echo", f->srv.base);
    snprintf(url[1], sizeof url[1], "%s/big/5000", f->srv.base);
    snprintf(url[2], sizeof url[2], "%s/sse", f->srv.base);
    for (i = 0; i < 3 && rc == 0; i++) {
        mcphub_http_call call = make_call(f, &sc->res[i], url[i]);

        call.headers = h;
        call.n_headers = 1;
        call.body = i == 0 ? "payload" : NULL;
        call.body_len = i == 0 ? 7 : 0;
        call.stream = i == 2;
        rc = mcphub_http_client_send(f->c, &call, NULL);
        if (rc != 0) {
            /* a failed send changed nothing */
            assert_int_equal(rc, MCPHUB_E_NOMEM);
            assert_int_equal(mcphub_http_client_in_flight(f->c), (size_t)n);
        } else {
            n++;
        }
    }
    while (done < n) {
        assert_true(mcphub_loop_run_once(f->loop, 1000) >= 0);
        for (done = 0, i = 0; i < 3; i++)
            done += sc->res[i].done;
    }
    for (i = 0; i < n; i++) {
        if (sc->res[i].has_error) {
            /* an allocation failed inside the transfer: reported, clean */
            assert_non_null(strstr(sc->res[i].error, "out of memory"));
            rc = MCPHUB_E_NOMEM;
        } else {
            assert_int_equal(sc->res[i].status, 200);
        }
    }
    if (rc == 0) {
        assert_string_equal(sc->res[0].body, "POST\nalloc\nct=- expect=-\npayload");
        assert_int_equal(sc->res[1].body_len, 5000);
        assert_int_equal(sc->res[2].data_len, 45);
    }
    mcphub_http_client_free(f->c);
    f->c = NULL;
    assert_int_equal(mcphub_loop_timeout_ms(f->loop), -1);
    return rc;
}

static void test_failing_allocator(void **state)
{
    fx *f = *state;
    static scenario sc;
    long allocs;

    mcphub_http_client_free(f->c);
    f->c = NULL;
    sc.f = f;
    allocs = fake_alloc_loop(alloc_scenario, &sc);
    assert_true(allocs >= 10);
}

/* ---- cost per request ---- */

static double cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void test_sequential_cost(void **state)
{
    fx *f = *state;
    const char *env = getenv("MCPHUB_HTTP_BENCH_N");
    int n = env != NULL ? atoi(env) : 1000;
    uint64_t t0;
    double c0, wall, cpu;

    if (n <= 0)
        n = 1000;
    run_chain(f, 10);   /* warm: connection and pool */
    t0 = mcphub_loop_now_ms(f->loop);
    c0 = cpu_us();
    run_chain(f, n);
    cpu = (cpu_us() - c0) / n;
    wall = (double)(mcphub_loop_now_ms(f->loop) - t0) * 1000.0 / n;
    printf("http_client: %d sequential requests on one connection: %.1f us/request wall, "
           "%.1f us/request client CPU (the server runs in other threads)\n", n, wall, cpu);
    assert_int_equal(server_conns(&f->srv), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_statuses_are_responses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_in_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_abort_from_on_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_send_from_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_response_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hundred_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_requests_allocate_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_calls_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_timer_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_and_header_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_allocator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_cost, setup, teardown),
    };
    return cmocka_run_group_tests_name("http_client", tests, NULL, NULL);
}
