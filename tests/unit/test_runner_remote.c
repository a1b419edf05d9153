/* Unit tests: a runner for a remote MCP server (type streamable-http and
 * sse) against a real MCP server on 127.0.0.1 (mcphub_http_server +
 * mcphub_mcp_http with a small tool backend), all on one mcphub_loop: the
 * handshake (running, tools cached), a session's tools/call through
 * mcphub_runner_from_downstream, and reconnecting after the server
 * restarts.
 *
 * Backend: tools/list (one tool, "echo"), tools/call (echoes its params;
 * the tool "hang" never answers). */
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
#include <unistd.h>

#include <cmocka.h>

#include <mcphub/config.h>
#include <mcphub/http_server.h>
#include <mcphub/jsonrpc.h>
#include <mcphub/loop.h>
#include <mcphub/mcp_http.h>
#include <mcphub/runner.h>

#include "fakes/fakes.h"

/* ---- the remote MCP server ---- */

typedef struct srv {
    mcphub_loop *loop;
    mcphub_http_server *http;
    mcphub_mcp_http *mcp;
    uint16_t port;
    fake_random rnd;
    int calls, hung, deletes;
    char auth[64];
} srv;

static int be_open(mcphub_mcp_session *ss, const char *params, size_t plen, char **result,
                   const char **err, void *ud)
{
    (void)ss;
    (void)params;
    (void)plen;
    (void)err;
    (void)ud;
    *result = strdup("{\"capabilities\":{\"tools\":{\"listChanged\":true}},\"serverInfo\":{"
                     "\"name\":\"remote\",\"version\":\"1\"}}");
    return 0;
}

static int be_message(mcphub_mcp_session *ss, const char *json, size_t len, void *ud)
{
    srv *s = ud;
    mcphub_jsonrpc_msg m;
    char id[64], params[1024], res[2048], *out = NULL;
    size_t n = 0;

    assert_int_equal(mcphub_jsonrpc_classify(&m, json, len, 0), 0);
    if (m.kind != MCPHUB_JSONRPC_REQUEST)
        return 0;
    snprintf(id, sizeof id, "%.*s", (int)m.id.len, m.id.ptr);
    snprintf(params, sizeof params, "%.*s", (int)m.params.len, m.params.ptr ? m.params.ptr : "");
    if (strcmp(m.method, "tools/list") == 0) {
        snprintf(res, sizeof res, "{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":"
                                  "\"object\"}}]}");
    } else if (strcmp(m.method, "tools/call") == 0) {
        if (strstr(params, "\"name\":\"hang\"") != NULL) {
            s->hung++;
            return 0;
        }
        s->calls++;
        snprintf(res, sizeof res,
                 "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"echo\":%s}",
                 params[0] ? params : "{}");
    } else {
        snprintf(res, sizeof res, "{}");
    }
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, id, strlen(id), res, strlen(res),
                                                    NULL),
                     0);
    mcphub_mcp_session_send(ss, out, n, id);
    free(out);
    return 0;
}

static void handler(mcphub_http_request *req, void *ud)
{
    srv *s = ud;
    const char *path = mcphub_http_request_path(req);
    const char *method = mcphub_http_request_method(req);
    const char *auth = mcphub_http_request_header(req, "Authorization");

    snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
    if (strcmp(method, "DELETE") == 0)
        s->deletes++;
    if (strcmp(path, "/mcp") == 0)
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_STREAMABLE, "");
    else if (strcmp(path, "/sse") == 0)
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_LEGACY_SSE, "");
    else if (strcmp(path, "/messages") == 0)
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_LEGACY_POST, "");
    else
        mcphub_http_respond(req, 404, NULL, 0, "", 0);
}

/* Start on port (0: an ephemeral one). */
static void srv_start(srv *s, mcphub_loop *loop, uint16_t port)
{
    mcphub_http_server_opts o;
    mcphub_mcp_http_opts mo;

    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->rnd.state = 99;
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.backend.size = sizeof mo.backend;
    mo.backend.session_open = be_open;
    mo.backend.message = be_message;
    mo.backend.user_data = s;
    mo.random = fake_random_next;
    mo.random_user_data = &s->rnd;
    assert_int_equal(mcphub_mcp_http_new(&s->mcp, loop, &mo, NULL), 0);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.port = port;
    o.handler = handler;
    o.user_data = s;
    assert_int_equal(mcphub_http_server_new(&s->http, loop, &o, NULL), 0);
    s->port = mcphub_http_server_port(s->http);
}

static void srv_stop(srv *s)
{
    mcphub_http_server_free(s->http);
    mcphub_mcp_http_free(s->mcp);
    s->http = NULL;
    s->mcp = NULL;
}

/* ---- the runner's owner ---- */

typedef struct obs {
    int msgs;
    char msg[16][2048];
    uint64_t sess[16];
    int statuses;
    mcphub_replica_status st[256];
    int running, errors, stopped;
} obs;

static int send_downstream(mcphub_runner *r, uint64_t session, const char *json, size_t len,
                           const char *related, void *ud)
{
    obs *o = ud;

    (void)r;
    (void)related;
    snprintf(o->msg[o->msgs % 16], sizeof o->msg[0], "%.*s", (int)len, json);
    o->sess[o->msgs % 16] = session;
    o->msgs++;
    return 0;
}

static void on_status(mcphub_runner *r, mcphub_replica_status st, void *ud)
{
    obs *o = ud;

    (void)r;
    o->st[o->statuses++ % 256] = st;
    o->running += st == MCPHUB_REPLICA_RUNNING;
    o->errors += st == MCPHUB_REPLICA_ERROR;
    o->stopped += st == MCPHUB_REPLICA_STOPPED;
}

static int find(const obs *o, const char *needle)
{
    int i;

    for (i = 0; i < o->msgs && i < 16; i++)
        if (strstr(o->msg[i], needle) != NULL)
            return i;
    return -1;
}

typedef struct fx {
    mcphub_loop *loop;
    srv s;
    obs o;
    fake_log log;
    fake_random rnd;
    char port[8];
    mcphub_str_pair headers[1];
    mcphub_server_def def;
    mcphub_runner *r;
} fx;

static const char *test_getenv(const char *name, void *ud)
{
    fx *f = ud;

    if (strcmp(name, "PORT") == 0)
        return f->port;
    if (strcmp(name, "TOKEN") == 0)
        return "sekrit";
    return NULL;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(mcphub_loop_new(&f->loop, NULL, NULL), 0);
    srv_start(&f->s, f->loop, 0);
    snprintf(f->port, sizeof f->port, "%u", (unsigned)f->s.port);
    f->rnd.state = 7;
    f->headers[0].key = "Authorization";
    f->headers[0].value = "Bearer ${TOKEN}";
    f->def.name = "remote";
    f->def.type = MCPHUB_SERVER_STREAMABLE_HTTP;
    f->def.url = "http://127.0.0.1:${PORT}/mcp";
    f->def.headers = f->headers;
    f->def.headers_len = 1;
    f->def.enabled = 1;
    f->def.timeout_ms = 5000;
    *state = f;
    return 0;
}

static void run_for(fx *f, uint64_t ms)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + ms;

    while (mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
}

static int teardown(void **state)
{
    fx *f = *state;

    mcphub_runner_free(f->r);
    run_for(f, 20);
    if (f->s.http != NULL)
        srv_stop(&f->s);
    mcphub_loop_free(f->loop);
    free(f);
    return 0;
}

/* Run until *counter >= target or ms pass; 1 when reached. */
static int run_until(fx *f, const int *counter, int target, uint64_t ms)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + ms;

    while (*counter < target && mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
    return *counter >= target;
}

static mcphub_runner_opts runner_opts(fx *f)
{
    mcphub_runner_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = f->loop;
    o.server = "remote";
    o.replica = "r1";
    o.def = &f->def;
    o.init_timeout_ms = 5000;
    o.getenv_fn = test_getenv;
    o.getenv_user_data = f;
    o.random = fake_random_next;
    o.random_user_data = &f->rnd;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 200;
    o.log = fake_log_fn;
    o.log_user_data = &f->log;
    return o;
}

static mcphub_runner_callbacks runner_cbs(fx *f)
{
    mcphub_runner_callbacks cb;

    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.send_downstream = send_downstream;
    cb.status = on_status;
    cb.user_data = &f->o;
    return cb;
}

static void runner_start(fx *f)
{
    mcphub_runner_opts o = runner_opts(f);
    mcphub_runner_callbacks cb = runner_cbs(f);

    assert_int_equal(mcphub_runner_new(&f->r, &o, &cb, NULL), 0);
    assert_int_equal(mcphub_runner_start(f->r), 0);
    assert_true(run_until(f, &f->o.running, 1, 5000));
}

static int call(fx *f, uint64_t session, const char *id, const char *tool)
{
    char m[256];

    snprintf(m, sizeof m,
             "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":{\"n\":1}}}",
             id, tool);
    return mcphub_runner_from_downstream(f->r, session, m, strlen(m));
}

/* ---- tests ---- */

static void test_streamable_handshake_call_and_reconnect(void **state)
{
    fx *f = *state;
    uint16_t port = f->s.port;
    int i;

    runner_start(f);
    assert_int_equal(mcphub_runner_status(f->r), MCPHUB_REPLICA_RUNNING);
    assert_int_equal(f->o.st[0], MCPHUB_REPLICA_STARTING);
    assert_non_null(mcphub_runner_tools(f->r));
    assert_non_null(strstr(mcphub_runner_tools(f->r), "\"name\":\"echo\""));
    assert_int_equal(mcphub_runner_tool_count(f->r), 1);
    assert_non_null(strstr(mcphub_runner_initialize_result(f->r), "\"serverInfo\""));
    assert_int_equal(mcphub_runner_pid(f->r), 0);
    assert_int_equal(mcphub_runner_restarts(f->r), 0);
    assert_string_equal(mcphub_runner_last_error(f->r), "");
    /* ${VAR} expanded in the url and the headers. */
    assert_string_equal(f->s.auth, "Bearer sekrit");
    /* The connection's logs name the replica, and the upstream by host:port. */
    assert_true(fake_log_has(&f->log, "mcp_client_session server=remote replica=r1 upstream="
                                      "http://127.0.0.1:"));
    assert_false(fake_log_has(&f->log, "sekrit"));
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 1);

    /* A session's tools/call, its id and arguments kept. */
    assert_int_equal(mcphub_runner_session_open(f->r, 7, 0), 0);
    assert_int_equal(call(f, 7, "c1", "echo"), 0);
    assert_true(run_until(f, &f->o.msgs, 1, 5000));
    assert_int_equal(f->o.sess[0], 7);
    assert_non_null(strstr(f->o.msg[0], "\"id\":\"c1\",\"result\""));
    assert_non_null(strstr(f->o.msg[0], "\"arguments\":{\"n\":1}"));
    assert_int_equal(f->s.calls, 1);

    /* The server restarts with a call in flight: the call gets an error,
     * the replica reconnects with a new session and runs again. */
    assert_int_equal(call(f, 7, "h1", "hang"), 0);
    assert_true(run_until(f, &f->s.hung, 1, 5000));
    srv_stop(&f->s);
    assert_true(run_until(f, &f->o.msgs, 2, 5000));
    assert_int_equal(f->o.sess[1], 7);
    assert_non_null(strstr(f->o.msg[1], "\"id\":\"h1\",\"error\":{\"code\":-32099"));
    assert_true(run_until(f, &f->o.errors, 1, 5000));
    assert_int_equal(mcphub_runner_status(f->r), MCPHUB_REPLICA_ERROR);
    assert_true(strlen(mcphub_runner_last_error(f->r)) > 0);
    assert_int_equal(call(f, 7, "x1", "echo"), MCPHUB_E_UNAVAILABLE);
    run_for(f, 100);
    srv_start(&f->s, f->loop, port);
    assert_true(run_until(f, &f->o.running, 2, 5000));
    assert_true(mcphub_runner_restarts(f->r) >= 1);
    assert_string_equal(mcphub_runner_last_error(f->r), "");
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 1);
    /* The session lived through it. */
    assert_int_equal(call(f, 7, "c2", "echo"), 0);
    assert_true(run_until(f, &f->o.msgs, 3, 5000));
    i = find(&f->o, "\"id\":\"c2\",\"result\"");
    assert_true(i >= 0);

    /* Stop: the session is deleted on the server. */
    mcphub_runner_stop(f->r);
    assert_int_equal(mcphub_runner_status(f->r), MCPHUB_REPLICA_STOPPED);
    run_for(f, 150);
    assert_int_equal(f->s.deletes, 1);
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 0);
    assert_int_equal(f->o.stopped, 1);
}

static void test_sse_remote(void **state)
{
    fx *f = *state;
    uint16_t port = f->s.port;

    f->def.type = MCPHUB_SERVER_SSE;
    f->def.url = "http://127.0.0.1:${PORT}/sse";
    runner_start(f);
    assert_int_equal(mcphub_runner_tool_count(f->r), 1);
    assert_int_equal(mcphub_runner_session_open(f->r, 1, 0), 0);
    assert_int_equal(call(f, 1, "s1", "echo"), 0);
    assert_true(run_until(f, &f->o.msgs, 1, 5000));
    assert_non_null(strstr(f->o.msg[0], "\"id\":\"s1\",\"result\""));
    assert_string_equal(f->s.auth, "Bearer sekrit");
    /* The legacy stream ends with the server: reconnect. */
    srv_stop(&f->s);
    assert_true(run_until(f, &f->o.errors, 1, 5000));
    assert_non_null(strstr(mcphub_runner_last_error(f->r), "legacy SSE stream"));
    srv_start(&f->s, f->loop, port);
    assert_true(run_until(f, &f->o.running, 2, 5000));
    assert_int_equal(call(f, 1, "s2", "echo"), 0);
    assert_true(run_until(f, &f->o.msgs, 2, 5000));
    assert_non_null(strstr(f->o.msg[1], "\"id\":\"s2\",\"result\""));
}

static uint16_t closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_unreachable_backs_off(void **state)
{
    fx *f = *state;
    mcphub_runner_opts o = runner_opts(f);
    mcphub_runner_callbacks cb = runner_cbs(f);
    uint32_t restarts;

    snprintf(f->port, sizeof f->port, "%u", (unsigned)closed_port());
    assert_int_equal(mcphub_runner_new(&f->r, &o, &cb, NULL), 0);
    assert_int_equal(mcphub_runner_start(f->r), 0);
    assert_int_equal(mcphub_runner_start(f->r), MCPHUB_E_STATE);
    assert_true(run_until(f, &f->o.errors, 1, 5000));
    assert_non_null(strstr(mcphub_runner_last_error(f->r), "refused"));
    run_for(f, 400);
    assert_true(mcphub_runner_restarts(f->r) >= 2);
    assert_true(f->o.errors >= 3);
    assert_int_equal(f->o.running, 0);
    mcphub_runner_stop(f->r);
    assert_int_equal(mcphub_runner_status(f->r), MCPHUB_REPLICA_STOPPED);
    restarts = mcphub_runner_restarts(f->r);
    run_for(f, 300);
    assert_int_equal(mcphub_runner_restarts(f->r), restarts);
}

static void test_bad_definitions(void **state)
{
    fx *f = *state;
    mcphub_runner_opts o = runner_opts(f);
    mcphub_runner_callbacks cb = runner_cbs(f);
    mcphub_str_pair bad = {"Bad Header", "x"};
    mcphub_runner *r = NULL;

    f->def.url = NULL;
    assert_int_equal(mcphub_runner_new(&r, &o, &cb, NULL), MCPHUB_E_INVAL);
    assert_null(r);
    f->def.url = "ftp://127.0.0.1/mcp";
    assert_int_equal(mcphub_runner_new(&r, &o, &cb, NULL), MCPHUB_E_INVAL);
    f->def.url = "http://127.0.0.1:${PORT}/mcp";
    f->def.headers = &bad;
    assert_int_equal(mcphub_runner_new(&r, &o, &cb, NULL), MCPHUB_E_INVAL);
    f->def.headers = f->headers;
    /* openapi is not run here. */
    f->def.type = MCPHUB_SERVER_OPENAPI;
    assert_int_equal(mcphub_runner_new(&r, &o, &cb, NULL), 0);
    assert_int_equal(mcphub_runner_start(r), MCPHUB_E_STATE);
    assert_int_equal(mcphub_runner_status(r), MCPHUB_REPLICA_ERROR);
    assert_non_null(strstr(mcphub_runner_last_error(r), "not supported"));
    mcphub_runner_free(r);
}

/* ---- failing allocator ---- */

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    fx *f = arg;
    mcphub_mem m = fake_alloc_mem(fa);
    mcphub_runner_opts o = runner_opts(f);
    mcphub_runner_callbacks cb = runner_cbs(f);
    int rc;

    memset(&f->o, 0, sizeof f->o);
    o.log = NULL;
    o.init_timeout_ms = 300;
    o.backoff_base_ms = 5;
    o.backoff_max_ms = 20;
    rc = mcphub_runner_new(&f->r, &o, &cb, &m);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(f->r);
        return rc;
    }
    rc = mcphub_runner_start(f->r);
    if (rc == 0 && !run_until(f, &f->o.running, 1, 3000))
        rc = MCPHUB_E_UNAVAILABLE;
    if (rc == 0) {
        rc = mcphub_runner_session_open(f->r, 3, 0);
        if (rc == MCPHUB_E_NOMEM) /* nothing changed: it works the second time */
            rc = mcphub_runner_session_open(f->r, 3, 0);
        assert_int_equal(rc, 0);
        rc = call(f, 3, "a1", "echo");
        if (rc == MCPHUB_E_NOMEM)
            rc = call(f, 3, "a1", "echo");
        assert_int_equal(rc, 0);
        assert_true(run_until(f, &f->o.msgs, 1, 3000));
        if (strstr(f->o.msg[0], "\"result\"") == NULL)
            rc = MCPHUB_E_NOMEM; /* a clean error answer */
        mcphub_runner_stop(f->r);
    }
    mcphub_runner_free(f->r);
    f->r = NULL;
    run_for(f, 5);
    return rc;
}

static void test_failing_allocator(void **state)
{
    fx *f = *state;

    assert_true(fake_alloc_loop(alloc_scenario, f) > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streamable_handshake_call_and_reconnect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sse_remote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_definitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_allocator, setup, teardown),
    };

    return cmocka_run_group_tests_name("runner_remote", tests, NULL, NULL);
}
