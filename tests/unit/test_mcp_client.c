/* Unit tests: the MCP HTTP client against a real MCP server on 127.0.0.1
 * (mcphub_http_server + mcphub_mcp_http with a small echo backend), all
 * on one mcphub_loop.
 *
 * Server paths: /mcp (Streamable HTTP), /sse (POST -> 405, GET -> a legacy
 * HTTP+SSE session whose endpoint is /messages), /messages (legacy POSTs),
 * /fail500 (every POST -> 500 with a JSON-RPC error body), /ts400
 * (Streamable HTTP, except that echo with a session id gets 400 "No valid
 * session ID provided", as servers built on the TypeScript SDK's examples
 * answer for a session they lost).
 *
 * Backend methods: echo (JSON answer), slow (a progress notification
 * related to the request, then the result from a timer: the POST becomes
 * an SSE stream), tools/list, tools/call, big (a result of 4 KiB), hang
 * (never answered). */
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

#include <mcphub/http_client.h>
#include <mcphub/http_server.h>
#include <mcphub/jsonrpc.h>
#include <mcphub/loop.h>
#include <mcphub/mcp_client.h>
#include <mcphub/mcp_http.h>

#include "fakes/fakes.h"

/* ---- the test server ---- */

typedef struct seen {
    char method[8], path[32], accept[64], session[80], protocol[32], auth[64];
} seen;

struct rec;

typedef struct srv {
    mcphub_loop *loop;
    mcphub_http_server *http;
    mcphub_mcp_http *mcp;
    uint16_t port;
    fake_random rnd;
    seen reqs[64];
    int nreqs;
    int notifications, responses, hung, closed_sessions;
    char last_notification[96];
    uint64_t slow_delay_ms;
    char slow_sid[40], slow_id[64];
    uint64_t slow_timer;
    struct rec *probe;            /* the client's record, read when slow answers */
    int progress_seen_before_result;
} srv;

/* Copy s (NULL: "") into dst[n], cut to fit. */
static void copy_str(char *dst, size_t n, const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;

    if (len >= n)
        len = n - 1;
    memcpy(dst, s != NULL ? s : "", len);
    dst[len] = '\0';
}

static int be_open(mcphub_mcp_session *ss, const char *params, size_t plen, char **result,
                   const char **err, void *ud)
{
    static const char res[] = "{\"protocolVersion\":\"x\",\"capabilities\":{\"tools\":{"
                              "\"listChanged\":true}},\"serverInfo\":{\"name\":\"echo\","
                              "\"version\":\"1\"}}";

    (void)ss;
    (void)params;
    (void)plen;
    (void)err;
    (void)ud;
    *result = strdup(res);
    return 0;
}

static void be_close(mcphub_mcp_session *ss, void *ud)
{
    srv *s = ud;

    (void)ss;
    s->closed_sessions++;
}

static void answer(mcphub_mcp_session *ss, const char *id, const char *result)
{
    char *out = NULL;
    size_t n = 0;

    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, id, strlen(id), result,
                                                    result ? strlen(result) : 0, NULL),
                     0);
    mcphub_mcp_session_send(ss, out, n, id);
    free(out);
}

static int slow_done(mcphub_loop *loop, uint64_t id, void *ud);

static int be_message(mcphub_mcp_session *ss, const char *json, size_t len, void *ud)
{
    srv *s = ud;
    mcphub_jsonrpc_msg m;
    char id[64], buf[8192];

    assert_int_equal(mcphub_jsonrpc_classify(&m, json, len, 0), 0);
    if (m.kind == MCPHUB_JSONRPC_NOTIFICATION) {
        s->notifications++;
        copy_str(s->last_notification, sizeof s->last_notification, m.method);
        return 0;
    }
    if (m.kind != MCPHUB_JSONRPC_REQUEST) {
        s->responses++;
        return 0;
    }
    snprintf(id, sizeof id, "%.*s", (int)m.id.len, m.id.ptr);
    if (strcmp(m.method, "echo") == 0 || strcmp(m.method, "tools/call") == 0) {
        snprintf(buf, sizeof buf, "{\"echo\":%.*s}", m.params.ptr ? (int)m.params.len : 2,
                 m.params.ptr ? m.params.ptr : "{}");
        answer(ss, id, buf);
    } else if (strcmp(m.method, "tools/list") == 0) {
        answer(ss, id, "{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":\"object\"}}]}");
    } else if (strcmp(m.method, "big") == 0) {
        memset(buf, 'x', 4096);
        buf[0] = '"';
        buf[4095] = '"';
        buf[4096] = '\0';
        answer(ss, id, buf);
    } else if (strcmp(m.method, "slow") == 0) {
        snprintf(buf, sizeof buf,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{"
                 "\"progressToken\":%.*s,\"progress\":1,\"total\":2}}",
                 m.progress_token.ptr ? (int)m.progress_token.len : 1,
                 m.progress_token.ptr ? m.progress_token.ptr : "0");
        assert_int_equal(mcphub_mcp_session_send(ss, buf, strlen(buf), id), 0);
        copy_str(s->slow_sid, sizeof s->slow_sid, mcphub_mcp_session_id(ss));
        copy_str(s->slow_id, sizeof s->slow_id, id);
        assert_int_equal(
            mcphub_loop_timer_add(s->loop, &s->slow_timer, s->slow_delay_ms, 0, slow_done, s), 0);
    } else if (strcmp(m.method, "hang") == 0) {
        s->hung++;
    } else {
        char *out = NULL;
        size_t n = 0;

        mcphub_jsonrpc_error_response(&out, &n, id, strlen(id), MCPHUB_JSONRPC_METHOD_NOT_FOUND,
                                      NULL, NULL);
        mcphub_mcp_session_send(ss, out, n, id);
        free(out);
    }
    return 0;
}

static void handler(mcphub_http_request *req, void *ud)
{
    srv *s = ud;
    const char *path = mcphub_http_request_path(req);
    const char *method = mcphub_http_request_method(req);
    seen *v = &s->reqs[s->nreqs++ % 64];

    copy_str(v->method, sizeof v->method, method);
    copy_str(v->path, sizeof v->path, path);
    copy_str(v->accept, sizeof v->accept, mcphub_http_request_header(req, "Accept"));
    copy_str(v->session, sizeof v->session, mcphub_http_request_header(req, "Mcp-Session-Id"));
    copy_str(v->protocol, sizeof v->protocol,
             mcphub_http_request_header(req, "MCP-Protocol-Version"));
    copy_str(v->auth, sizeof v->auth, mcphub_http_request_header(req, "Authorization"));
    if (strcmp(path, "/mcp") == 0) {
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_STREAMABLE, "");
    } else if (strcmp(path, "/sse") == 0) {
        if (strcmp(method, "GET") == 0)
            mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_LEGACY_SSE, "");
        else
            mcphub_http_respond(req, 405, NULL, 0, "", 0);
    } else if (strcmp(path, "/messages") == 0) {
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_LEGACY_POST, "");
    } else if (strcmp(path, "/fail500") == 0) {
        static const char body[] =
            "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"boom\"},\"id\":null}";

        mcphub_http_respond(req, 500, NULL, 0, body, strlen(body));
    } else if (strcmp(path, "/ts400") == 0 && v->session[0] != '\0' &&
               strstr(mcphub_http_request_body(req, NULL), "\"echo\"") != NULL) {
        static const char body[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":"
                                   "\"Bad Request: No valid session ID provided\"},\"id\":null}";

        mcphub_http_respond(req, 400, NULL, 0, body, strlen(body));
    } else if (strcmp(path, "/ts400") == 0) {
        mcphub_mcp_http_handle(s->mcp, req, MCPHUB_MCP_STREAMABLE, "");
    } else {
        mcphub_http_respond(req, 404, NULL, 0, "no such path", 12);
    }
}

static mcphub_mcp_http *mcp_new(srv *s, const char *messages_path)
{
    mcphub_mcp_http_opts o;
    mcphub_mcp_http *h = NULL;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.backend.size = sizeof o.backend;
    o.backend.session_open = be_open;
    o.backend.session_close = be_close;
    o.backend.message = be_message;
    o.backend.user_data = s;
    o.random = fake_random_next;
    o.random_user_data = &s->rnd;
    o.messages_path = messages_path;
    assert_int_equal(mcphub_mcp_http_new(&h, s->loop, &o, NULL), 0);
    return h;
}

static void srv_start(srv *s, mcphub_loop *loop)
{
    mcphub_http_server_opts o;

    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->rnd.state = 12345;
    s->slow_delay_ms = 100;
    s->mcp = mcp_new(s, NULL);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.handler = handler;
    o.user_data = s;
    assert_int_equal(mcphub_http_server_new(&s->http, loop, &o, NULL), 0);
    s->port = mcphub_http_server_port(s->http);
}

static int slow_done(mcphub_loop *loop, uint64_t id, void *ud);

static void srv_stop(srv *s)
{
    if (s->slow_timer != 0)
        mcphub_loop_timer_cancel(s->loop, s->slow_timer);
    mcphub_http_server_free(s->http);
    mcphub_mcp_http_free(s->mcp);
}

static int count_reqs(const srv *s, const char *method, const char *path)
{
    int i, n = 0;

    for (i = 0; i < s->nreqs && i < 64; i++)
        n += strcmp(s->reqs[i].method, method) == 0 && strcmp(s->reqs[i].path, path) == 0;
    return n;
}

/* ---- the client side ---- */

typedef struct rec {
    int messages;
    char msg[32][4608];
    int closed;
    char why[256];
    mcphub_mcp_client *c;
    int free_at;      /* free the client in on_message number free_at */
    int close_at;     /* close it there */
    int send_at;      /* send `send_text` there */
    const char *send_text;
    int send_rc;
    int free_on_closed;
} rec;

static void on_message(mcphub_mcp_client *c, const char *json, size_t len, void *ud)
{
    rec *r = ud;

    assert_ptr_equal(c, r->c);
    snprintf(r->msg[r->messages % 32], sizeof r->msg[0], "%.*s", (int)len, json);
    r->messages++;
    if (r->send_at == r->messages)
        r->send_rc = mcphub_mcp_client_send(c, r->send_text, strlen(r->send_text));
    if (r->close_at == r->messages)
        assert_int_equal(mcphub_mcp_client_close(c), 0);
    if (r->free_at == r->messages) {
        mcphub_mcp_client_free(c);
        r->c = NULL;
    }
}

static void on_closed(mcphub_mcp_client *c, const char *why, void *ud)
{
    rec *r = ud;

    assert_ptr_equal(c, r->c);
    r->closed++;
    copy_str(r->why, sizeof r->why, why);
    if (r->free_on_closed) {
        mcphub_mcp_client_free(c);
        r->c = NULL;
    }
}

/* The index of the first message containing needle, or -1. */
static int find(const rec *r, const char *needle)
{
    int i;

    for (i = 0; i < r->messages && i < 32; i++)
        if (strstr(r->msg[i], needle) != NULL)
            return i;
    return -1;
}

typedef struct fx {
    mcphub_loop *loop;
    mcphub_http_client *http;
    srv s;
    fake_log log;
    char url[128];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(mcphub_loop_new(&f->loop, NULL, NULL), 0);
    assert_int_equal(mcphub_http_client_new(&f->http, f->loop, NULL, NULL), 0);
    srv_start(&f->s, f->loop);
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

    run_for(f, 20); /* let DELETEs and closes finish */
    srv_stop(&f->s);
    mcphub_http_client_free(f->http);
    mcphub_loop_free(f->loop);
    free(f);
    return 0;
}

/* Run the loop until *counter >= target (or 10 s pass); 1 when reached. */
static int run_until(fx *f, const int *counter, int target)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + 10000;

    while (*counter < target && mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
    return *counter >= target;
}

static const char *url_of(fx *f, const char *path)
{
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u%s", (unsigned)f->s.port, path);
    return f->url;
}

static mcphub_mcp_client_opts client_opts(fx *f, rec *r, const char *path)
{
    mcphub_mcp_client_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = f->loop;
    o.http = f->http;
    o.url = url_of(f, path);
    o.on_message = on_message;
    o.on_closed = on_closed;
    o.user_data = r;
    o.log = fake_log_fn;
    o.log_user_data = &f->log;
    return o;
}

static mcphub_mcp_client *client_new(fx *f, rec *r, const char *path, mcphub_mcp_transport t,
                                     int get_stream)
{
    mcphub_mcp_client_opts o = client_opts(f, r, path);

    o.transport = t;
    o.open_get_stream = get_stream;
    assert_int_equal(mcphub_mcp_client_new(&r->c, &o, NULL), 0);
    return r->c;
}

static int send_str(mcphub_mcp_client *c, const char *s)
{
    return mcphub_mcp_client_send(c, s, strlen(s));
}

static const char init_msg[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
static const char initialized_msg[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

/* initialize + initialized; returns with the answer delivered. */
static void handshake(fx *f, rec *r)
{
    int base = r->messages, notes = f->s.notifications;

    assert_int_equal(send_str(r->c, init_msg), 0);
    assert_true(run_until(f, &r->messages, base + 1));
    assert_non_null(strstr(r->msg[base % 32], "\"id\":1,\"result\""));
    assert_int_equal(send_str(r->c, initialized_msg), 0);
    assert_true(run_until(f, &f->s.notifications, notes + 1));
}

/* ---- tests ---- */

static void test_initialize_session_and_headers(void **state)
{
    fx *f = *state;
    rec r;
    mcphub_mcp_client_opts o;
    mcphub_http_kv hv[2] = {{"Authorization", "Bearer tok"}, {"Accept", "text/html"}};
    const char *sid;
    seen *last;

    memset(&r, 0, sizeof r);
    o = client_opts(f, &r, "/mcp");
    o.headers = hv;
    o.n_headers = 2;
    assert_int_equal(mcphub_mcp_client_new(&r.c, &o, NULL), 0);
    assert_null(mcphub_mcp_client_session_id(r.c));
    assert_null(mcphub_mcp_client_protocol_version(r.c));
    assert_int_equal(mcphub_mcp_client_transport(r.c), MCPHUB_MCP_TRANSPORT_AUTO);
    assert_true(fake_log_has(&f->log, "mcp_client_header_dropped"));

    assert_int_equal(send_str(r.c, init_msg), 0);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 1);
    assert_int_equal(r.messages, 0); /* never from inside send */
    assert_true(run_until(f, &r.messages, 1));
    assert_non_null(strstr(r.msg[0], "\"protocolVersion\":\"2025-06-18\""));
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    sid = mcphub_mcp_client_session_id(r.c);
    assert_non_null(sid);
    assert_non_null(mcphub_mcp_http_session(f->s.mcp, sid));
    assert_string_equal(mcphub_mcp_client_protocol_version(r.c), "2025-06-18");
    assert_int_equal(mcphub_mcp_client_transport(r.c), MCPHUB_MCP_TRANSPORT_STREAMABLE);
    /* The initialize POST: both media types, no session, no version. */
    last = &f->s.reqs[0];
    assert_string_equal(last->method, "POST");
    assert_non_null(strstr(last->accept, "application/json"));
    assert_non_null(strstr(last->accept, "text/event-stream"));
    assert_string_equal(last->session, "");
    assert_string_equal(last->protocol, "");
    assert_string_equal(last->auth, "Bearer tok");

    assert_int_equal(send_str(r.c, initialized_msg), 0);
    assert_true(run_until(f, &f->s.notifications, 1));
    assert_string_equal(f->s.last_notification, "notifications/initialized");
    /* JSON answer to a request. */
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"echo\","
                                   "\"params\":{\"x\":1}}"),
                     0);
    assert_true(run_until(f, &r.messages, 2));
    assert_string_equal(r.msg[1], "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"result\":{\"echo\":{"
                                  "\"x\":1}}}");
    /* Later requests carry the session and the negotiated version. */
    last = &f->s.reqs[(f->s.nreqs - 1) % 64];
    assert_string_equal(last->session, sid);
    assert_string_equal(last->protocol, "2025-06-18");
    assert_non_null(strstr(last->accept, "text/event-stream"));
    assert_int_equal(r.closed, 0);
    mcphub_mcp_client_free(r.c);
}

static void test_sse_answer_progress_first(void **state)
{
    fx *f = *state;
    rec r;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_STREAMABLE, 0);
    handshake(f, &r);
    f->s.probe = &r;
    f->s.progress_seen_before_result = -1;
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"slow\",\"params\":{"
                                   "\"_meta\":{\"progressToken\":\"p7\"}}}"),
                     0);
    assert_true(run_until(f, &r.messages, 3));
    assert_non_null(strstr(r.msg[1], "notifications/progress"));
    assert_non_null(strstr(r.msg[1], "\"progressToken\":\"p7\""));
    assert_non_null(strstr(r.msg[2], "\"id\":7,\"result\""));
    /* The progress reached the client while the result did not exist yet. */
    assert_int_equal(f->s.progress_seen_before_result, 1);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    f->s.probe = NULL;
    mcphub_mcp_client_free(r.c);
}

static int slow_done(mcphub_loop *loop, uint64_t id, void *ud)
{
    srv *s = ud;
    mcphub_mcp_session *ss = mcphub_mcp_http_session(s->mcp, s->slow_sid);

    (void)loop;
    (void)id;
    s->slow_timer = 0;
    if (s->probe != NULL)
        s->progress_seen_before_result = find(s->probe, "notifications/progress") >= 0;
    if (ss != NULL)
        answer(ss, s->slow_id, "{\"done\":true}");
    return 0;
}

static void test_notification_gets_202_and_nothing(void **state)
{
    fx *f = *state;
    rec r;
    int n;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    handshake(f, &r);
    n = f->s.notifications;
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/roots/"
                                   "list_changed\"}"),
                     0);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    assert_true(run_until(f, &f->s.notifications, n + 1));
    /* A response of ours (to a server->client request) is accepted too. */
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}"), 0);
    assert_true(run_until(f, &f->s.responses, 1));
    run_for(f, 100);
    assert_int_equal(r.messages, 1); /* only the initialize answer */
    assert_int_equal(r.closed, 0);
    mcphub_mcp_client_free(r.c);
}

static void test_get_stream_delivers_broadcast(void **state)
{
    fx *f = *state;
    rec r;
    static const char note[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}";
    int i, gets = 0;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 1);
    handshake(f, &r);
    run_for(f, 100);
    mcphub_mcp_http_broadcast(f->s.mcp, NULL, note, strlen(note));
    assert_true(run_until(f, &r.messages, 2));
    assert_string_equal(r.msg[1], note);
    for (i = 0; i < f->s.nreqs; i++)
        if (strcmp(f->s.reqs[i].method, "GET") == 0) {
            gets++;
            assert_string_equal(f->s.reqs[i].accept, "text/event-stream");
            assert_string_equal(f->s.reqs[i].session, mcphub_mcp_client_session_id(r.c));
            assert_string_equal(f->s.reqs[i].protocol, "2025-06-18");
        }
    assert_int_equal(gets, 1);
    /* A second one arrives on the same stream, in order. */
    mcphub_mcp_http_broadcast(f->s.mcp, NULL, note, strlen(note));
    assert_true(run_until(f, &r.messages, 3));
    assert_string_equal(r.msg[2], note);
    mcphub_mcp_client_free(r.c);
    run_for(f, 50);
}

static void test_session_404_synthesizes_and_closes(void **state)
{
    fx *f = *state;
    rec r;
    mcphub_mcp_session *ss;

    /* A request in flight when the server ends the session. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    handshake(f, &r);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"hang\"}"), 0);
    assert_true(run_until(f, &f->s.hung, 1));
    ss = mcphub_mcp_http_session(f->s.mcp, mcphub_mcp_client_session_id(r.c));
    assert_non_null(ss);
    mcphub_mcp_session_end(ss);
    assert_true(run_until(f, &r.closed, 1));
    assert_int_equal(r.messages, 2);
    assert_non_null(strstr(r.msg[1], "\"id\":4,\"error\":{\"code\":-32099"));
    assert_non_null(strstr(r.msg[1], "HTTP 404"));
    assert_string_equal(r.why, "session not found");
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}"),
                     MCPHUB_E_STATE);
    mcphub_mcp_client_free(r.c);

    /* A request sent after the session ended; on_closed frees the client. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    handshake(f, &r);
    mcphub_mcp_session_end(mcphub_mcp_http_session(f->s.mcp, mcphub_mcp_client_session_id(r.c)));
    r.free_on_closed = 1;
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}"), 0);
    assert_true(run_until(f, &r.closed, 1));
    assert_null(r.c);
    assert_int_equal(r.messages, 2);
    assert_non_null(strstr(r.msg[1], "\"id\":5,\"error\":{\"code\":-32099,\"message\":\"HTTP 404 "
                                     "from the MCP server: Session not found\"}"));
}

static void test_http_errors_name_the_status(void **state)
{
    fx *f = *state;
    rec r;

    /* 5xx: an error for the request, the connection stays usable. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/fail500", MCPHUB_MCP_TRANSPORT_STREAMABLE, 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}"), 0);
    assert_true(run_until(f, &r.messages, 1));
    assert_string_equal(r.msg[0], "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32099,"
                                  "\"message\":\"HTTP 500 from the MCP server: boom\"}}");
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\"}"), 0);
    assert_true(run_until(f, &r.messages, 2));
    assert_int_equal(r.closed, 0);
    mcphub_mcp_client_free(r.c);

    /* 400 naming the session (TypeScript SDK examples): the session is gone. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/ts400", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    handshake(f, &r);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"echo\"}"), 0);
    assert_true(run_until(f, &r.closed, 1));
    assert_non_null(strstr(r.msg[1], "HTTP 400 from the MCP server: Bad Request: No valid "
                                     "session ID provided"));
    assert_string_equal(r.why, "session not found");
    mcphub_mcp_client_free(r.c);
}

/* The server goes away: the request in flight fails, the GET stream ends
 * and cannot be opened again, so the connection is reported closed. */
static void test_server_gone_closes_via_get_stream(void **state)
{
    fx *f = *state;
    rec r;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 1);
    handshake(f, &r);
    run_for(f, 50); /* the GET stream is open */
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"hang\"}"), 0);
    assert_true(run_until(f, &f->s.hung, 1));
    srv_stop(&f->s);
    assert_true(run_until(f, &r.messages, 2));
    assert_non_null(strstr(r.msg[1], "\"id\":4,\"error\":{\"code\":-32099,\"message\":\"MCP "
                                     "request failed: "));
    assert_int_equal(r.closed, 0);
    assert_true(run_until(f, &r.closed, 1));
    assert_non_null(strstr(r.why, "MCP server unreachable: "));
    assert_non_null(strstr(r.why, "refused"));
    assert_int_equal(r.messages, 2);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}"),
                     MCPHUB_E_STATE);
    mcphub_mcp_client_free(r.c);
    srv_start(&f->s, f->loop); /* for teardown */
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

static void test_connect_refused(void **state)
{
    fx *f = *state;
    rec r;
    mcphub_mcp_client_opts o;
    char url[64];
    int t;

    for (t = MCPHUB_MCP_TRANSPORT_AUTO; t <= MCPHUB_MCP_TRANSPORT_SSE; t++) {
        memset(&r, 0, sizeof r);
        o = client_opts(f, &r, "/mcp");
        snprintf(url, sizeof url, "http://127.0.0.1:%u/mcp", (unsigned)closed_port());
        o.url = url;
        o.transport = (mcphub_mcp_transport)t;
        assert_int_equal(mcphub_mcp_client_new(&r.c, &o, NULL), 0);
        assert_int_equal(send_str(r.c, init_msg), 0);
        assert_true(run_until(f, &r.messages, 1));
        assert_non_null(
            strstr(r.msg[0], "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32099"));
        assert_non_null(strstr(r.msg[0], "refused"));
        assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
        /* A failed POST leaves the client usable; the legacy stream is the
         * connection, so there it is closed. */
        assert_int_equal(r.closed, t == MCPHUB_MCP_TRANSPORT_SSE);
        mcphub_mcp_client_free(r.c);
    }
}

static void test_legacy_fallback_round_trip(void **state)
{
    fx *f = *state;
    rec r;
    static const char note[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}";

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/sse", MCPHUB_MCP_TRANSPORT_AUTO, 1);
    assert_int_equal(send_str(r.c, init_msg), 0);
    /* Sent before the endpoint is known: it waits, then follows in order. */
    assert_int_equal(send_str(r.c, initialized_msg), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":"
                                   "{\"via\":\"sse\"}}"),
                     0);
    assert_true(run_until(f, &r.messages, 2));
    assert_non_null(strstr(r.msg[0], "\"id\":1,\"result\""));
    assert_string_equal(r.msg[1], "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"echo\":{\"via\":"
                                  "\"sse\"}}}");
    assert_int_equal(mcphub_mcp_client_transport(r.c), MCPHUB_MCP_TRANSPORT_SSE);
    assert_null(mcphub_mcp_client_session_id(r.c));
    assert_string_equal(mcphub_mcp_client_protocol_version(r.c), "2025-06-18");
    assert_int_equal(f->s.notifications, 1);
    assert_int_equal(count_reqs(&f->s, "POST", "/sse"), 1);
    assert_int_equal(count_reqs(&f->s, "GET", "/sse"), 1);
    assert_int_equal(count_reqs(&f->s, "POST", "/messages"), 3);
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 1);
    /* Unrelated messages arrive on the same stream. */
    mcphub_mcp_http_broadcast(f->s.mcp, NULL, note, strlen(note));
    assert_true(run_until(f, &r.messages, 3));
    assert_string_equal(r.msg[2], note);
    /* close ends the stream, and with it the server's session. */
    assert_int_equal(mcphub_mcp_client_close(r.c), 0);
    run_for(f, 100);
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 0);
    assert_int_equal(r.closed, 0);
    mcphub_mcp_client_free(r.c);

    /* Explicit legacy transport: no POST to the SSE URL at all; the legacy
     * stream ending closes the connection. */
    memset(&r, 0, sizeof r);
    f->s.nreqs = 0;
    client_new(f, &r, "/sse", MCPHUB_MCP_TRANSPORT_SSE, 0);
    assert_int_equal(mcphub_mcp_client_transport(r.c), MCPHUB_MCP_TRANSPORT_SSE);
    handshake(f, &r);
    assert_int_equal(count_reqs(&f->s, "POST", "/sse"), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"hang\"}"), 0);
    assert_true(run_until(f, &f->s.hung, 1));
    /* The server goes away, and the stream with it. */
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 1);
    srv_stop(&f->s);
    srv_start(&f->s, f->loop);
    assert_true(run_until(f, &r.closed, 1));
    assert_non_null(strstr(r.why, "legacy SSE stream"));
    assert_int_equal(r.messages, 2);
    assert_non_null(strstr(r.msg[1], "\"id\":3,\"error\":{\"code\":-32099,\"message\":\"MCP "
                                     "connection closed: "));
    mcphub_mcp_client_free(r.c);
}

/* The endpoint event is resolved against the SSE URL; another origin is
 * refused. */
static void test_legacy_endpoint_forms(void **state)
{
    fx *f = *state;
    static const struct {
        const char *path; /* messages_path; "%u" is the port */
        int ok;
    } cases[] = {
        {"messages", 1},
        {"http://127.0.0.1:%u/messages", 1},
        {"http://127.0.0.2:%u/messages", 0},
        {"//127.0.0.1:%u/messages", 0},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec r;
        char mp[96];

        snprintf(mp, sizeof mp, cases[i].path, (unsigned)f->s.port);
        mcphub_mcp_http_free(f->s.mcp);
        f->s.mcp = mcp_new(&f->s, mp);
        memset(&r, 0, sizeof r);
        client_new(f, &r, "/sse", MCPHUB_MCP_TRANSPORT_SSE, 0);
        assert_int_equal(send_str(r.c, init_msg), 0);
        assert_true(run_until(f, &r.messages, 1));
        if (cases[i].ok) {
            assert_non_null(strstr(r.msg[0], "\"id\":1,\"result\""));
            assert_int_equal(r.closed, 0);
        } else {
            assert_non_null(strstr(r.msg[0], "\"id\":1,\"error\""));
            assert_int_equal(r.closed, 1);
            assert_non_null(strstr(r.why, "origin"));
        }
        mcphub_mcp_client_free(r.c);
    }
}

static void test_close_sends_delete(void **state)
{
    fx *f = *state;
    rec r;
    char sid[80];

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 1);
    handshake(f, &r);
    copy_str(sid, sizeof sid, mcphub_mcp_client_session_id(r.c));
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"hang\"}"), 0);
    assert_true(run_until(f, &f->s.hung, 1));
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 1);
    assert_int_equal(mcphub_mcp_client_close(r.c), 0);
    assert_int_equal(mcphub_mcp_client_close(r.c), 0);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}"),
                     MCPHUB_E_STATE);
    /* The DELETE outlives the client. */
    mcphub_mcp_client_free(r.c);
    run_for(f, 150);
    assert_int_equal(mcphub_mcp_http_session_count(f->s.mcp), 0);
    assert_int_equal(count_reqs(&f->s, "DELETE", "/mcp"), 1);
    assert_string_equal(f->s.reqs[(f->s.nreqs - 1) % 64].session, sid);
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.closed, 0);
}

static void test_free_with_requests_in_flight(void **state)
{
    fx *f = *state;
    rec r;
    int i;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 1);
    handshake(f, &r);
    for (i = 0; i < 3; i++) {
        char m[80];

        snprintf(m, sizeof m, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"hang\"}", 10 + i);
        assert_int_equal(send_str(r.c, m), 0);
    }
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"slow\"}"), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"echo\"}"), 0);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 5);
    /* echo answers, slow sends its progress and answers 100 ms later */
    assert_true(run_until(f, &r.messages, 3));
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 4);
    mcphub_mcp_client_free(r.c);
    r.c = NULL;
    run_for(f, 200);
    assert_int_equal(r.messages, 3);
    assert_int_equal(r.closed, 0);

    /* Also before anything was started, and queued behind initialize. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/sse", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    assert_int_equal(send_str(r.c, init_msg), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}"), 0);
    mcphub_mcp_client_free(r.c);
    run_for(f, 100);
    assert_int_equal(r.messages, 0);
}

static void test_callbacks_may_free_or_close(void **state)
{
    fx *f = *state;
    rec r;

    /* Freed at the progress event, inside the SSE answer. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    handshake(f, &r);
    r.free_at = 2;
    f->s.slow_delay_ms = 0;
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"slow\",\"params\":{"
                                   "\"_meta\":{\"progressToken\":1}}}"),
                     0);
    assert_true(run_until(f, &r.messages, 2));
    assert_null(r.c);
    run_for(f, 100);
    assert_int_equal(r.messages, 2);

    /* Closed at the initialize answer (JSON), with more queued behind. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    r.close_at = 1;
    assert_int_equal(send_str(r.c, init_msg), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}"), 0);
    assert_true(run_until(f, &r.messages, 1));
    run_for(f, 100);
    assert_int_equal(r.messages, 1);
    mcphub_mcp_client_free(r.c);

    /* A send from inside on_message goes out at once. */
    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    r.send_at = 1;
    r.send_text = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}";
    assert_int_equal(send_str(r.c, init_msg), 0);
    assert_true(run_until(f, &r.messages, 2));
    assert_int_equal(r.send_rc, 0);
    assert_non_null(strstr(r.msg[1], "\"id\":3,\"result\""));
    mcphub_mcp_client_free(r.c);
}

static void test_messages_wait_for_initialize(void **state)
{
    fx *f = *state;
    rec r;

    memset(&r, 0, sizeof r);
    client_new(f, &r, "/mcp", MCPHUB_MCP_TRANSPORT_AUTO, 0);
    assert_int_equal(send_str(r.c, init_msg), 0);
    assert_int_equal(send_str(r.c, initialized_msg), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}"), 0);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 2);
    assert_true(run_until(f, &r.messages, 2));
    /* Both went out with the session id: the server accepted them. */
    assert_non_null(strstr(r.msg[1], "\"id\":2,\"result\""));
    assert_int_equal(f->s.notifications, 1);
    mcphub_mcp_client_free(r.c);
}

static void test_answer_over_limit(void **state)
{
    fx *f = *state;
    rec r;
    mcphub_mcp_client_opts o;

    memset(&r, 0, sizeof r);
    o = client_opts(f, &r, "/mcp");
    o.max_message_bytes = 1024;
    assert_int_equal(mcphub_mcp_client_new(&r.c, &o, NULL), 0);
    handshake(f, &r);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"big\"}"), 0);
    assert_true(run_until(f, &r.messages, 2));
    assert_non_null(strstr(r.msg[1], "\"id\":9,\"error\":{\"code\":-32099,\"message\":\"MCP "
                                     "request failed: the answer exceeds the message limit\"}"));
    assert_int_equal(r.closed, 0);
    mcphub_mcp_client_free(r.c);
}

static void test_invalid_calls_change_nothing(void **state)
{
    fx *f = *state;
    rec r;
    mcphub_mcp_client_opts o;
    mcphub_mcp_client *c = NULL;
    mcphub_http_kv bad[2] = {{"Bad Name", "v"}, {"X-Ok", "a\r\nb"}};
    mcphub_http_kv many[65];
    char big[200], longid[400];
    size_t i;

    memset(&r, 0, sizeof r);
    /* new */
    o = client_opts(f, &r, "/mcp");
    assert_int_equal(mcphub_mcp_client_new(NULL, &o, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mcp_client_new(&c, NULL, NULL), MCPHUB_E_INVAL);
    o.loop = NULL;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o = client_opts(f, &r, "/mcp");
    o.http = NULL;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o = client_opts(f, &r, "/mcp");
    o.on_message = NULL;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o = client_opts(f, &r, "/mcp");
    o.url = "ftp://127.0.0.1/mcp";
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o.url = "http://";
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o.url = "http://127.0.0.1/a b";
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o = client_opts(f, &r, "/mcp");
    o.transport = (mcphub_mcp_transport)7;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o = client_opts(f, &r, "/mcp");
    o.headers = bad;
    o.n_headers = 1;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o.headers = bad + 1;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    for (i = 0; i < 65; i++) {
        many[i].name = "X-A";
        many[i].value = "b";
    }
    o.headers = many;
    o.n_headers = 65;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o.n_headers = 64;
    assert_int_equal(mcphub_mcp_client_new(&c, &o, NULL), 0);
    mcphub_mcp_client_free(c);
    mcphub_mcp_client_free(NULL);
    assert_int_equal(mcphub_mcp_client_close(NULL), MCPHUB_E_INVAL);

    /* send */
    o = client_opts(f, &r, "/mcp");
    o.max_message_bytes = 150;
    o.max_in_flight = 2;
    o.max_queued = 1;
    assert_int_equal(mcphub_mcp_client_new(&r.c, &o, NULL), 0);
    assert_int_equal(mcphub_mcp_client_send(r.c, NULL, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mcp_client_send(NULL, "{}", 2), MCPHUB_E_INVAL);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":"), MCPHUB_E_PARSE);
    assert_int_equal(send_str(r.c, "{\"a\":1}"), MCPHUB_E_INVAL);
    assert_int_equal(send_str(r.c, "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]"), MCPHUB_E_INVAL);
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}", 30);
    assert_int_equal(mcphub_mcp_client_send(r.c, big, sizeof big), MCPHUB_E_TOOBIG);
    snprintf(longid, sizeof longid, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":\"%0300d\"}", 7);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    /* initialize in flight: one more may wait, not two. */
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                                   "\"params\":{}}"),
                     0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}"),
                     MCPHUB_E_EXISTS);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}"), 0);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}"), MCPHUB_E_FULL);
    assert_int_equal(send_str(r.c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}"),
                     MCPHUB_E_FULL);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 2);
    assert_int_equal(r.messages, 0);
    assert_true(run_until(f, &r.messages, 2));
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    mcphub_mcp_client_free(r.c);

    /* A request id over 256 bytes. */
    memset(&r, 0, sizeof r);
    o = client_opts(f, &r, "/mcp");
    assert_int_equal(mcphub_mcp_client_new(&r.c, &o, NULL), 0);
    assert_int_equal(send_str(r.c, longid), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mcp_client_in_flight(r.c), 0);
    mcphub_mcp_client_free(r.c);
}

/* ---- failing allocator ---- */

/* Wait for the answer to request id (needle "\"id\":N,"); an error
 * answer means an allocation failed inside a callback: a clean error. */
static int wait_answer(fx *f, rec *r, const char *needle)
{
    uint64_t end = mcphub_loop_now_ms(f->loop) + 10000;
    int i;

    while (find(r, needle) < 0 && mcphub_loop_now_ms(f->loop) < end)
        assert_true(mcphub_loop_run_once(f->loop, 10) >= 0);
    i = find(r, needle);
    assert_true(i >= 0);
    if (strstr(r->msg[i], "\"error\"") != NULL) {
        assert_non_null(strstr(r->msg[i], "-32099"));
        return MCPHUB_E_NOMEM;
    }
    return 0;
}

/* Send; when an allocation fails the call changed nothing, so the same
 * message goes through on the second try. */
static int send_retry(rec *r, const char *msg)
{
    size_t before = mcphub_mcp_client_in_flight(r->c);
    int rc = send_str(r->c, msg);

    if (rc == MCPHUB_E_NOMEM) {
        assert_int_equal(mcphub_mcp_client_in_flight(r->c), before);
        rc = send_str(r->c, msg);
    }
    assert_int_equal(rc, 0);
    return rc;
}

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    fx *f = arg;
    mcphub_mem m = fake_alloc_mem(fa);
    mcphub_mcp_client_opts o;
    mcphub_http_kv hv[1] = {{"Authorization", "Bearer t"}};
    rec r;
    int rc;

    memset(&r, 0, sizeof r);
    o = client_opts(f, &r, "/mcp");
    o.headers = hv;
    o.n_headers = 1;
    o.log = NULL;
    rc = mcphub_mcp_client_new(&r.c, &o, &m);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(r.c);
        return rc;
    }
    send_retry(&r, init_msg);
    send_retry(&r, initialized_msg);
    if ((rc = wait_answer(f, &r, "\"id\":1,")) != 0)
        goto out;
    send_retry(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"slow\",\"params\":{\"_meta\":"
                   "{\"progressToken\":2}}}");
    if ((rc = wait_answer(f, &r, "\"id\":2,")) != 0)
        goto out;
    assert_true(find(&r, "notifications/progress") >= 0);
    send_retry(&r, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"a\":[1,2]}}");
    if ((rc = wait_answer(f, &r, "\"id\":3,")) != 0)
        goto out;
    assert_int_equal(mcphub_mcp_client_close(r.c), 0);
out:
    mcphub_mcp_client_free(r.c);
    return rc;
}

/* The legacy fallback: POST refused, event stream, endpoint, POSTs. */
static int alloc_scenario_legacy(fake_alloc *fa, void *arg)
{
    fx *f = arg;
    mcphub_mem m = fake_alloc_mem(fa);
    mcphub_mcp_client_opts o;
    rec r;
    int rc;

    memset(&r, 0, sizeof r);
    o = client_opts(f, &r, "/sse");
    o.log = NULL;
    rc = mcphub_mcp_client_new(&r.c, &o, &m);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        return rc;
    }
    send_retry(&r, init_msg);
    send_retry(&r, initialized_msg);
    send_retry(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}");
    if ((rc = wait_answer(f, &r, "\"id\":1,")) == 0 && (rc = wait_answer(f, &r, "\"id\":2,")) == 0)
        assert_int_equal(mcphub_mcp_client_transport(r.c), MCPHUB_MCP_TRANSPORT_SSE);
    mcphub_mcp_client_free(r.c);
    return rc;
}

static void test_failing_allocator(void **state)
{
    fx *f = *state;

    f->s.slow_delay_ms = 0;
    assert_true(fake_alloc_loop(alloc_scenario, f) > 10);
    assert_true(fake_alloc_loop(alloc_scenario_legacy, f) > 10);
    run_for(f, 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_initialize_session_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_answer_progress_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notification_gets_202_and_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_stream_delivers_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_404_synthesizes_and_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors_name_the_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_gone_closes_via_get_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_fallback_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_endpoint_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_sends_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callbacks_may_free_or_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_wait_for_initialize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_over_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_calls_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_allocator, setup, teardown),
    };

    return cmocka_run_group_tests_name("mcp_client", tests, NULL, NULL);
}
