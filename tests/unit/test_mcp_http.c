/* Unit tests: mcp_http's session_restore hook — a Streamable HTTP session
 * of an earlier process comes back under its own id, initialized as it
 * was, without a new initialize.  The transport runs over a real
 * mcphub_http_server on 127.0.0.1 (ephemeral port), talked to with raw
 * sockets; a fake backend and a one-entry restore table record what the
 * transport did.  No timing assertions. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <mcphub/http_server.h>
#include <mcphub/jsonrpc.h>
#include <mcphub/loop.h>
#include <mcphub/mcp_http.h>

#include "fakes/fakes.h"

#define LIMIT_MS 10000
#define SID "0123456789abcdef0123456789abcdef"
#define PARAMS "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"sampling\":{},\"roots\":{}}," \
               "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}"

typedef struct fixture {
    mcphub_loop *loop;
    mcphub_http_server *srv;
    mcphub_mcp_http *mcp;
    fake_log log;
    fake_random rnd;
    /* the restore table: one entry */
    int entry_present;
    char entry_route[32], entry_protocol[32], entry_params[512];
    int entry_rc;                 /* what the hook answers for it (0: restore) */
    int restore_calls;
    char restore_id[64];
    /* the backend */
    int opens, closes;
    char open_params[512];
} fixture;

/* ---- the transport's callbacks ---- */

static int be_open(mcphub_mcp_session *s, const char *params, size_t len, char **result,
                   const char **error_text, void *ud)
{
    fixture *f = ud;

    (void)s;
    (void)error_text;
    f->opens++;
    snprintf(f->open_params, sizeof f->open_params, "%.*s", (int)len, params);
    *result = strdup("{\"capabilities\":{},\"serverInfo\":{\"name\":\"fake\",\"version\":\"1\"}}");
    return *result ? 0 : MCPHUB_E_NOMEM;
}

static void be_close(mcphub_mcp_session *s, void *ud)
{
    (void)s;
    ((fixture *)ud)->closes++;
}

/* Requests are answered with what the session knows of itself. */
static int be_message(mcphub_mcp_session *s, const char *json, size_t len, void *ud)
{
    mcphub_jsonrpc_msg msg;
    char out[512], id[64];

    (void)ud;
    if (mcphub_jsonrpc_classify(&msg, json, len, 0) != 0 || msg.kind != MCPHUB_JSONRPC_REQUEST)
        return 0;
    snprintf(id, sizeof id, "%.*s", (int)msg.id.len, msg.id.ptr);
    snprintf(out, sizeof out,
             "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"session\":\"%s\",\"route\":\"%s\","
             "\"protocol\":\"%s\",\"caps\":%u}}",
             id, mcphub_mcp_session_id(s), mcphub_mcp_session_route(s),
             mcphub_mcp_session_protocol(s), (unsigned)mcphub_mcp_session_client_caps(s));
    return mcphub_mcp_session_send(s, out, strlen(out), id);
}

static int restore_hook(const char *id, const char *route, char **protocol_out,
                        char **init_params_out, void *ud)
{
    fixture *f = ud;

    f->restore_calls++;
    snprintf(f->restore_id, sizeof f->restore_id, "%s", id);
    if (!f->entry_present || strcmp(id, SID) != 0 || strcmp(route, f->entry_route) != 0)
        return MCPHUB_E_NOTFOUND;
    if (f->entry_rc != 0)
        return f->entry_rc;
    f->entry_present = 0; /* taken: it is live again */
    *protocol_out = strdup(f->entry_protocol);
    *init_params_out = strdup(f->entry_params);
    return 0;
}

static void handler(mcphub_http_request *r, void *ud)
{
    fixture *f = ud;
    const char *path = mcphub_http_request_path(r);

    if (strcmp(path, "/mcp") == 0)
        mcphub_mcp_http_handle(f->mcp, r, MCPHUB_MCP_STREAMABLE, "");
    else if (strncmp(path, "/mcp/", 5) == 0)
        mcphub_mcp_http_handle(f->mcp, r, MCPHUB_MCP_STREAMABLE, path + 5);
    else if (strcmp(path, "/messages") == 0)
        mcphub_mcp_http_handle(f->mcp, r, MCPHUB_MCP_LEGACY_POST, NULL);
    else
        mcphub_http_respond(r, 404, NULL, 0, NULL, 0);
}

static int setup_with(void **state, int with_hook)
{
    fixture *f = calloc(1, sizeof *f);
    mcphub_http_server_opts so;
    mcphub_mcp_http_opts mo;

    assert_non_null(f);
    f->rnd.state = 12345;
    f->entry_present = 1;
    snprintf(f->entry_route, sizeof f->entry_route, "r");
    snprintf(f->entry_protocol, sizeof f->entry_protocol, "2025-06-18");
    snprintf(f->entry_params, sizeof f->entry_params, "%s", PARAMS);
    assert_int_equal(mcphub_loop_new(&f->loop, NULL, NULL), 0);
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.backend.size = sizeof mo.backend;
    mo.backend.session_open = be_open;
    mo.backend.session_close = be_close;
    mo.backend.message = be_message;
    mo.backend.user_data = f;
    mo.random = fake_random_next;
    mo.random_user_data = &f->rnd;
    mo.log = fake_log_fn;
    mo.log_user_data = &f->log;
    mo.session_restore = with_hook ? restore_hook : NULL;
    assert_int_equal(mcphub_mcp_http_new(&f->mcp, f->loop, &mo, NULL), 0);
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.host = "127.0.0.1";
    so.handler = handler;
    so.user_data = f;
    assert_int_equal(mcphub_http_server_new(&f->srv, f->loop, &so, NULL), 0);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 1); }
static int setup_no_hook(void **state) { return setup_with(state, 0); }

static int teardown(void **state)
{
    fixture *f = *state;

    mcphub_mcp_http_free(f->mcp);
    mcphub_http_server_free(f->srv);
    mcphub_loop_free(f->loop);
    free(f);
    return 0;
}

/* ---- one request, one connection ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct reply {
    int status;
    char head[8192];
    char body[8192];
} reply;

/* Send method path with an optional Mcp-Session-Id and body; read the
 * whole answer (Connection: close) while running the loop. */
static void request(fixture *f, const char *method, const char *path, const char *sid,
                    const char *body, reply *out)
{
    struct sockaddr_in a;
    char req[4096], buf[8192], *sep;
    size_t len = 0, off = 0;
    uint64_t end = now_ms() + LIMIT_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), n;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(mcphub_http_server_port(f->srv));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    n = snprintf(req, sizeof req,
                 "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Accept: application/json, text/event-stream\r\n"
                 "Content-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n%s",
                 method, path, sid ? "Mcp-Session-Id: " : "", sid ? sid : "", sid ? "\r\n" : "",
                 body ? strlen(body) : 0, body ? body : "");
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);

        if (w > 0)
            off += (size_t)w;
        else
            assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
        assert_true(now_ms() < end);
    }
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);

        if (r > 0) {
            len += (size_t)r;
            assert_true(len < sizeof buf - 1);
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
        assert_true(now_ms() < end);
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
    }
    close(fd);
    buf[len] = '\0';
    sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    *sep = '\0';
    out->status = atoi(buf + 9);
    snprintf(out->head, sizeof out->head, "%s", buf);
    snprintf(out->body, sizeof out->body, "%s", sep + 4);
}

static int has_header(const reply *r, const char *name, const char *value)
{
    char want[256];
    const char *p;

    snprintf(want, sizeof want, "\r\n%s: %s", name, value);
    p = strcasestr(r->head, want);
    return p != NULL && (p[strlen(want)] == '\r' || p[strlen(want)] == '\0');
}

static const char call[] =
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}";

/* ---- tests ---- */

/* A known id comes back: same id, the stored version and capabilities, the
 * backend opened once with the stored params; then it is an ordinary
 * session (no second restore), and a DELETE ends it for good. */
static void test_known_id_is_restored(void **state)
{
    fixture *f = *state;
    reply r;

    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Mcp-Session-Id", SID));
    assert_non_null(strstr(r.body, "\"id\":7"));
    assert_non_null(strstr(r.body, "\"session\":\"" SID "\""));
    assert_non_null(strstr(r.body, "\"protocol\":\"2025-06-18\""));
    assert_non_null(strstr(r.body, "\"caps\":5")); /* sampling | roots */
    assert_int_equal(f->restore_calls, 1);
    assert_string_equal(f->restore_id, SID);
    assert_int_equal(f->opens, 1);
    assert_string_equal(f->open_params, PARAMS);
    assert_int_equal(mcphub_mcp_http_session_count(f->mcp), 1);
    assert_non_null(mcphub_mcp_http_session(f->mcp, SID));
    assert_string_equal(mcphub_mcp_session_init_params(mcphub_mcp_http_session(f->mcp, SID)),
                        PARAMS);
    assert_int_equal(mcphub_mcp_session_legacy(mcphub_mcp_http_session(f->mcp, SID)), 0);
    assert_true(fake_log_has(&f->log, "session_restored session=01234567 route=r"));
    for (int i = 0; i < f->log.count; i++)
        assert_null(strstr(f->log.lines[i], SID)); /* the id is a secret: 8 characters only */

    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->restore_calls, 1);
    assert_int_equal(f->opens, 1);

    request(f, "DELETE", "/mcp/r", SID, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->closes, 1);
    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "Session not found"));
    assert_int_equal(f->restore_calls, 2);
    assert_int_equal(f->opens, 1);
}

/* Unknown ids, ids of another route, and ids the spec does not allow all
 * get 404; the last ones never reach the hook. */
static void test_unknown_and_malformed_ids(void **state)
{
    fixture *f = *state;
    reply r;

    request(f, "POST", "/mcp/r", "ffffffffffffffffffffffffffffffff", call, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 1);
    request(f, "POST", "/mcp/other", SID, call, &r); /* the entry is route r's */
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 2);
    request(f, "POST", "/mcp", SID, call, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 3);
    request(f, "POST", "/mcp/r", SID "0", call, &r); /* 33 characters */
    assert_int_equal(r.status, 404);
    request(f, "POST", "/mcp/r", "0123 4567", call, &r); /* a space */
    assert_int_equal(r.status, 404);
    request(f, "POST", "/mcp/r", "caf\xc3\xa9", call, &r); /* not ASCII */
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 3);
    assert_int_equal(f->opens, 0);
    assert_int_equal(mcphub_mcp_http_session_count(f->mcp), 0);
    /* the misses left the entry alone */
    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->opens, 1);
}

/* The hook or the transport may refuse: 503 when asked to come back later,
 * 404 for a version no longer served or params that are not an object. */
static void test_refusals(void **state)
{
    fixture *f = *state;
    reply r;

    f->entry_rc = MCPHUB_E_UNAVAILABLE;
    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 503);
    assert_int_equal(f->opens, 0);

    f->entry_rc = 0;
    snprintf(f->entry_protocol, sizeof f->entry_protocol, "1999-01-01");
    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 404);
    assert_true(fake_log_has(&f->log, "session_restore_refused session=01234567"));

    f->entry_present = 1;
    snprintf(f->entry_protocol, sizeof f->entry_protocol, "2025-03-26");
    snprintf(f->entry_params, sizeof f->entry_params, "[1]");
    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(f->opens, 0);
    assert_int_equal(mcphub_mcp_http_session_count(f->mcp), 0);
}

/* Legacy /messages never asks the hook: a legacy session's stream is gone. */
static void test_legacy_never_restored(void **state)
{
    fixture *f = *state;
    reply r;

    request(f, "POST", "/messages?sessionId=" SID, NULL, call, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 0);
}

/* Without the hook an unknown id is a plain 404, as before. */
static void test_no_hook(void **state)
{
    fixture *f = *state;
    reply r;

    request(f, "POST", "/mcp/r", SID, call, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(f->restore_calls, 0);
    assert_int_equal(f->opens, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_id_is_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_malformed_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_never_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_hook, setup_no_hook, teardown),
    };

    return cmocka_run_group_tests_name("mcp_http", tests, NULL, NULL);
}
