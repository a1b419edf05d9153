/* Tests for examples/servers/mcp-example-server. Each test runs the built
 * server as a child with pipes and speaks MCP to it over stdio, as the
 * worker daemon does. The binary is $MCPHUB_TEST_BIN/examples/servers/
 * mcp-example-server ($MCPHUB_TEST_BIN defaults to "build"). Building this
 * test also builds the server, because the Makefile lists the example servers
 * as prerequisites of every unit test. Every read has a deadline, so a broken
 * server makes a test fail instead of hang. Set MCPHUB_TEST_VERBOSE to see
 * the server's stderr. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define WAIT_MS 3000 /* longest wait for any one message */

typedef struct server {
    pid_t pid;
    int to, from; /* our ends: the server's stdin and stdout */
    char *buf;    /* bytes read from the server, not yet a whole line */
    size_t len, cap;
} server;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int setup(void **state)
{
    server *s = calloc(1, sizeof *s);

    if (s == NULL)
        return -1;
    s->pid = -1;
    s->to = s->from = -1;
    *state = s;
    return 0;
}

/* Kills the server if it still runs and closes the pipes. */
static void srv_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    if (s->to >= 0)
        close(s->to);
    if (s->from >= 0)
        close(s->from);
    s->pid = s->to = s->from = -1;
    s->len = 0;
}

static int teardown(void **state)
{
    server *s = *state;

    srv_stop(s);
    free(s->buf);
    free(s);
    return 0;
}

/* Starts the server with MCPHUB_REPLICA_ID = replica (NULL: unset) and the
 * extra arguments, a NULL-terminated list. */
static void srv_start(server *s, const char *replica, ...)
{
    const char *dir = getenv("MCPHUB_TEST_BIN");
    char path[4096];
    char *argv[16];
    int to[2], from[2], argc = 0;
    va_list ap;

    snprintf(path, sizeof path, "%s/examples/servers/mcp-example-server", dir && *dir ? dir : "build");
    if (access(path, X_OK) != 0)
        fail_msg("example server not found at %s: build it first (make examples) "
                 "or point MCPHUB_TEST_BIN at the build directory", path);
    argv[argc++] = path;
    va_start(ap, replica);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(to[0], STDIN_FILENO);
        dup2(from[1], STDOUT_FILENO);
        if (null >= 0 && getenv("MCPHUB_TEST_VERBOSE") == NULL)
            dup2(null, STDERR_FILENO);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        if (replica)
            setenv("MCPHUB_REPLICA_ID", replica, 1);
        else
            unsetenv("MCPHUB_REPLICA_ID");
        execv(path, argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    s->to = to[1];
    s->from = from[0];
    fcntl(s->to, F_SETFD, FD_CLOEXEC);
    fcntl(s->from, F_SETFD, FD_CLOEXEC);
}

static void srv_write(server *s, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(s->to, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("writing to the server: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* Sends one line, printf-style (the newline is added). */
static void srv_send(server *s, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line - 1);
    line[n++] = '\n';
    srv_write(s, line, (size_t)n);
}

/* The next message from the server, or NULL after timeout_ms or at EOF. */
static json_t *srv_recv(server *s, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;
        struct pollfd fd = {s->from, POLLIN, 0};
        uint64_t now = now_ms();
        ssize_t n;

        if (nl != NULL) {
            size_t len = (size_t)(nl - s->buf);
            json_error_t err;
            json_t *msg = json_loadb(s->buf, len, 0, &err);

            if (msg == NULL)
                fail_msg("the server wrote a line that is not JSON: %s", err.text);
            memmove(s->buf, nl + 1, s->len - len - 1);
            s->len -= len + 1;
            return msg;
        }
        if (now >= deadline || poll(&fd, 1, (int)(deadline - now)) <= 0)
            return NULL;
        if (s->cap - s->len < 65536) {
            s->cap = s->cap ? s->cap * 2 : 65536 * 2;
            s->buf = realloc(s->buf, s->cap);
            assert_non_null(s->buf);
        }
        n = read(s->from, s->buf + s->len, s->cap - s->len);
        if (n <= 0)
            return NULL;
        s->len += (size_t)n;
    }
}

static int is_response_to(json_t *msg, json_int_t id)
{
    json_t *v = json_object_get(msg, "id");

    return json_object_get(msg, "method") == NULL && json_is_integer(v) &&
           json_integer_value(v) == id;
}

/* Reads until the response to request id, skipping notifications. */
static json_t *srv_response(server *s, json_int_t id)
{
    json_t *msg;

    int status;

    while ((msg = srv_recv(s, WAIT_MS)) != NULL) {
        if (is_response_to(msg, id))
            return msg;
        json_decref(msg);
    }
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
        s->pid = -1;
        fail_msg("no response to request %lld: the server exited (wait status %d)", (long long)id,
                 status);
    }
    fail_msg("no response to request %lld within %d ms", (long long)id, WAIT_MS);
    return NULL;
}

/* Sends a request and returns its whole response message. */
static json_t *srv_call(server *s, json_int_t id, const char *method, const char *params)
{
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\",\"params\":%s}", (long long)id,
             method, params);
    return srv_response(s, id);
}

/* Calls a tool and returns its result (the response's "result"). */
static json_t *srv_tool(server *s, json_int_t id, const char *name, const char *args)
{
    char params[3072];
    json_t *msg, *result;

    snprintf(params, sizeof params, "{\"name\":\"%s\",\"arguments\":%s}", name, args);
    msg = srv_call(s, id, "tools/call", params);
    result = json_incref(json_object_get(msg, "result"));
    if (result == NULL)
        fail_msg("tools/call %s failed: %s", name, json_dumps(msg, JSON_COMPACT));
    json_decref(msg);
    return result;
}

/* Initializes with the protocol version and client capabilities (JSON);
 * returns the initialize result. */
static json_t *srv_init(server *s, const char *version, const char *caps)
{
    char params[1024];
    json_t *msg, *result;

    snprintf(params, sizeof params,
             "{\"protocolVersion\":\"%s\",\"capabilities\":%s,"
             "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}", version, caps);
    msg = srv_call(s, 0, "initialize", params);
    result = json_incref(json_object_get(msg, "result"));
    assert_non_null(result);
    json_decref(msg);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    return result;
}

static void srv_start_init(server *s)
{
    srv_start(s, NULL, NULL);
    json_decref(srv_init(s, "2025-11-25", "{}"));
}

/* The text of a tool result's first content block. */
static const char *text_of(json_t *result)
{
    json_t *block = json_array_get(json_object_get(result, "content"), 0);

    assert_string_equal(json_string_value(json_object_get(block, "type")), "text");
    assert_non_null(json_string_value(json_object_get(block, "text")));
    return json_string_value(json_object_get(block, "text"));
}

static int is_error(json_t *result)
{
    return json_is_true(json_object_get(result, "isError"));
}

static int error_code(json_t *msg)
{
    json_t *code = json_object_get(json_object_get(msg, "error"), "code");

    assert_true(json_is_integer(code));
    return (int)json_integer_value(code);
}

/* Waits for the server to exit; returns its wait status, or -1. */
static int srv_wait_exit(server *s, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    int status;

    while (now_ms() < deadline) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            return status;
        }
        sleep_ms(5);
    }
    return -1;
}

/* ---- tests ---- */

static void test_initialize_negotiates_version(void **state)
{
    static const char *const known[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
    server *s = *state;
    json_t *r, *caps;
    size_t i;

    srv_start(s, NULL, "--name", "demo-srv", NULL);
    for (i = 0; i < 4; i++) {
        r = srv_init(s, known[i], "{}");
        assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), known[i]);
        json_decref(r);
    }
    r = srv_init(s, "2099-01-01", "{}");
    assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), "2025-11-25");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "serverInfo"), "name")),
                        "demo-srv");
    caps = json_object_get(r, "capabilities");
    assert_true(json_is_true(json_object_get(json_object_get(caps, "tools"), "listChanged")));
    assert_true(json_is_object(json_object_get(caps, "prompts")));
    assert_true(json_is_object(json_object_get(caps, "resources")));
    assert_true(json_is_object(json_object_get(caps, "logging")));
    assert_true(json_is_object(json_object_get(caps, "completions")));
    json_decref(r);
    r = srv_call(s, 9, "ping", "{}");
    assert_true(json_is_object(json_object_get(r, "result")));
    assert_int_equal(json_object_size(json_object_get(r, "result")), 0);
    json_decref(r);
}

static json_t *find_tool(json_t *tools, const char *name)
{
    size_t i;

    for (i = 0; i < json_array_size(tools); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(tools, i), "name")), name) == 0)
            return json_array_get(tools, i);
    return NULL;
}

static void test_tools_list(void **state)
{
    static const char *const names[] = {"echo", "add", "whoami", "slow", "sample",
                                        "fail", "log", "toggle_extra", "exit"};
    server *s = *state;
    json_t *msg, *tools, *echo;
    size_t i;

    srv_start_init(s);
    msg = srv_call(s, 1, "tools/list", "{}");
    tools = json_object_get(json_object_get(msg, "result"), "tools");
    assert_int_equal(json_array_size(tools), 9);
    for (i = 0; i < 9; i++) {
        json_t *t = find_tool(tools, names[i]);

        assert_non_null(t);
        assert_string_equal(json_string_value(json_object_get(json_object_get(t, "inputSchema"), "type")),
                            "object");
    }
    assert_null(find_tool(tools, "extra"));
    echo = find_tool(tools, "echo");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(echo, "inputSchema"), "required"), 0)),
                        "text");
    assert_true(json_is_true(json_object_get(json_object_get(echo, "annotations"), "readOnlyHint")));
    assert_true(json_is_true(json_object_get(json_object_get(echo, "annotations"), "idempotentHint")));
    assert_true(json_is_object(json_object_get(find_tool(tools, "add"), "outputSchema")));
    json_decref(msg);
}

static void test_tool_prefix(void **state)
{
    server *s = *state;
    json_t *msg, *r;

    srv_start(s, NULL, "--tool-prefix", "ex_", NULL);
    json_decref(srv_init(s, "2025-06-18", "{}"));
    msg = srv_call(s, 1, "tools/list", "{}");
    assert_non_null(find_tool(json_object_get(json_object_get(msg, "result"), "tools"), "ex_echo"));
    assert_null(find_tool(json_object_get(json_object_get(msg, "result"), "tools"), "echo"));
    json_decref(msg);
    r = srv_tool(s, 2, "ex_echo", "{\"text\":\"prefixed\"}");
    assert_string_equal(text_of(r), "prefixed");
    json_decref(r);
    msg = srv_call(s, 3, "tools/call", "{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}}");
    assert_int_equal(error_code(msg), -32602);
    json_decref(msg);
}

static void test_echo_returns_exact_text(void **state)
{
    static const char *const args[] = {
        "{\"text\":\"token-7f3a9c\"}", "{\"text\":\"\"}",
        "{\"text\":\"two\\nlines, \\\"quotes\\\" and \\u00e9\\u4e2d\"}"};
    static const char *const want[] = {"token-7f3a9c", "", "two\nlines, \"quotes\" and \xc3\xa9\xe4\xb8\xad"};
    server *s = *state;
    json_t *r;
    int i;

    srv_start_init(s);
    for (i = 0; i < 3; i++) {
        r = srv_tool(s, 10 + i, "echo", args[i]);
        assert_false(is_error(r));
        assert_string_equal(text_of(r), want[i]);
        json_decref(r);
    }
    r = srv_tool(s, 20, "echo", "{\"text\":42}");
    assert_true(is_error(r));
    assert_non_null(strstr(text_of(r), "'text'"));
    json_decref(r);
}

static void test_long_lines(void **state)
{
    server *s = *state;
    size_t n = 1u << 20, big = 9u << 20;
    char *line = malloc(big);
    const char *head;
    json_t *msg, *r;

    assert_non_null(line);
    srv_start_init(s);
    /* a 1 MiB text comes back whole */
    memset(line, 'x', big);
    head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"echo\",\"arguments\":{\"text\":\"";
    srv_write(s, head, strlen(head));
    srv_write(s, line, n);
    srv_write(s, "\"}}}\n", 5);
    msg = srv_response(s, 1);
    r = json_object_get(msg, "result");
    assert_int_equal(strlen(text_of(r)), n);
    json_decref(msg);
    /* a valid request over 8 MiB is refused with a parse error (it is
     * not answered), and the server goes on */
    head = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
           "{\"name\":\"echo\",\"arguments\":{\"text\":\"";
    srv_write(s, head, strlen(head));
    srv_write(s, line, big);
    srv_write(s, "\"}}}\n", 5);
    msg = srv_recv(s, WAIT_MS);
    assert_non_null(msg);
    assert_int_equal(error_code(msg), -32700);
    assert_true(json_is_null(json_object_get(msg, "id")));
    json_decref(msg);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    msg = srv_recv(s, WAIT_MS);
    assert_true(is_response_to(msg, 2));
    json_decref(msg);
    free(line);
}

static void test_add_structured_content(void **state)
{
    server *s = *state;
    json_t *r;

    srv_start_init(s);
    r = srv_tool(s, 1, "add", "{\"a\":2,\"b\":3}");
    assert_false(is_error(r));
    assert_string_equal(text_of(r), "5");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "structuredContent"), "sum")), 5);
    json_decref(r);
    r = srv_tool(s, 2, "add", "{\"a\":2.5,\"b\":-0.25}");
    assert_string_equal(text_of(r), "2.25");
    assert_true(json_real_value(json_object_get(json_object_get(r, "structuredContent"), "sum")) == 2.25);
    json_decref(r);
    /* bad arguments: a tool error that names the argument */
    r = srv_tool(s, 3, "add", "{\"a\":1,\"b\":\"3\"}");
    assert_true(is_error(r));
    assert_non_null(strstr(text_of(r), "'b'"));
    assert_null(json_object_get(r, "structuredContent"));
    json_decref(r);
    r = srv_tool(s, 4, "add", "{\"b\":1}");
    assert_true(is_error(r));
    assert_non_null(strstr(text_of(r), "'a'"));
    json_decref(r);
}

static void check_whoami(server *s, const char *replica, const char *name)
{
    json_t *r = srv_tool(s, 5, "whoami", "{}"), *sc = json_object_get(r, "structuredContent");

    assert_string_equal(json_string_value(json_object_get(sc, "replica")), replica);
    assert_string_equal(json_string_value(json_object_get(sc, "server")), name);
    assert_int_equal(json_integer_value(json_object_get(sc, "pid")), s->pid);
    assert_non_null(strstr(text_of(r), replica));
    json_decref(r);
}

static void test_whoami_replica(void **state)
{
    server *s = *state;

    srv_start(s, "r-env-3", NULL);
    json_decref(srv_init(s, "2025-11-25", "{}"));
    check_whoami(s, "r-env-3", "example");
    srv_stop(s);
    /* --replica beats the environment; without either it is "local" */
    srv_start(s, "r-env-3", "--replica", "r-opt", "--name", "n1", NULL);
    check_whoami(s, "r-opt", "n1");
    srv_stop(s);
    srv_start(s, NULL, NULL);
    check_whoami(s, "local", "example");
}

static void test_slow_progress(void **state)
{
    server *s = *state;
    json_t *msg;
    int progress = 0;

    srv_start_init(s);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\","
                "\"arguments\":{\"ms\":200,\"steps\":4},\"_meta\":{\"progressToken\":\"tok-1\"}}}");
    while ((msg = srv_recv(s, WAIT_MS)) != NULL && !is_response_to(msg, 3)) {
        json_t *p = json_object_get(msg, "params");

        assert_string_equal(json_string_value(json_object_get(msg, "method")), "notifications/progress");
        assert_string_equal(json_string_value(json_object_get(p, "progressToken")), "tok-1");
        assert_int_equal(json_integer_value(json_object_get(p, "progress")), ++progress);
        assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
        assert_true(json_is_string(json_object_get(p, "message")));
        json_decref(msg);
    }
    assert_non_null(msg);
    assert_int_equal(progress, 4);
    assert_false(is_error(json_object_get(msg, "result")));
    json_decref(msg);
    /* without a progress token: no notifications, just the result */
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\","
                "\"arguments\":{\"ms\":50,\"steps\":3}}}");
    msg = srv_recv(s, WAIT_MS);
    assert_true(is_response_to(msg, 4));
    json_decref(msg);
    /* out-of-range steps are a tool error naming the argument */
    msg = srv_tool(s, 5, "slow", "{\"ms\":10,\"steps\":0}");
    assert_true(is_error(msg));
    assert_non_null(strstr(text_of(msg), "'steps'"));
    json_decref(msg);
}

static void test_slow_cancelled(void **state)
{
    server *s = *state;
    uint64_t until;
    json_t *msg;
    int late_progress = 0, pinged = 0;

    srv_start_init(s);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\","
                "\"arguments\":{\"ms\":400,\"steps\":4},\"_meta\":{\"progressToken\":77}}}");
    msg = srv_recv(s, WAIT_MS); /* the first step, after 100 ms */
    assert_non_null(msg);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(msg, "params"), "progressToken")), 77);
    json_decref(msg);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                "\"params\":{\"requestId\":7,\"reason\":\"test\"}}");
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}");
    /* wait well past the end of the call: no answer to 7 comes, and no
     * progress after the ping's answer (the server reads in order, so it
     * had seen the cancellation by then) */
    until = now_ms() + 700;
    while (now_ms() < until && (msg = srv_recv(s, (int)(until - now_ms()))) != NULL) {
        assert_false(is_response_to(msg, 7));
        if (is_response_to(msg, 8))
            pinged++;
        else
            late_progress += pinged;
        json_decref(msg);
    }
    assert_int_equal(pinged, 1);
    assert_int_equal(late_progress, 0);
    msg = srv_tool(s, 9, "echo", "{\"text\":\"still here\"}");
    assert_string_equal(text_of(msg), "still here");
    json_decref(msg);
}

static void test_concurrent_interleaved(void **state)
{
    server *s = *state;
    char line[65536];
    size_t used = 0;
    int i, got = 0, order = 0, last_echo = -1, first_slow = 1000, seen[20] = {0};
    uint64_t start;
    json_t *msg;

    srv_start_init(s);
    /* an echo behind a 2 s call is answered at once */
    start = now_ms();
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"slow\",\"arguments\":{\"ms\":2000}}}");
    msg = srv_tool(s, 2, "echo", "{\"text\":\"quick\"}");
    assert_string_equal(text_of(msg), "quick");
    json_decref(msg);
    assert_true(now_ms() - start < 1000);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}");
    /* 20 requests in one write: slow ones (even ids) and echoes (odd ids) */
    start = now_ms();
    for (i = 0; i < 20; i++)
        used += (size_t)snprintf(line + used, sizeof line - used,
                                 i % 2 ? "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\","
                                         "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"tok-%d\"}}}\n"
                                       : "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                                         "{\"name\":\"slow\",\"arguments\":{\"ms\":%d,\"steps\":2}}}\n",
                                 100 + i, i % 2 ? 100 + i : 100 + 50 * (i % 5));
    srv_write(s, line, used);
    while (got < 20 && (msg = srv_recv(s, WAIT_MS)) != NULL) {
        int id = (int)json_integer_value(json_object_get(msg, "id")) - 100;
        json_t *r = json_object_get(msg, "result");
        char want[64];

        assert_true(id >= 0 && id < 20);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        if (id % 2) {
            snprintf(want, sizeof want, "tok-%d", 100 + id);
            last_echo = order;
        } else {
            snprintf(want, sizeof want, "slept %d ms in 2 steps", 100 + 50 * (id % 5));
            first_slow = first_slow < order ? first_slow : order;
        }
        assert_string_equal(text_of(r), want);
        order++, got++;
        json_decref(msg);
    }
    assert_int_equal(got, 20);
    /* the echoes did not wait behind the slow calls, which ran side by
     * side: 2000 ms in total, 300 ms the longest */
    assert_true(last_echo < first_slow);
    assert_true(now_ms() - start < 1500);
}

static void test_sampling_round_trip(void **state)
{
    server *s = *state;
    json_t *msg, *r;
    json_int_t sid;

    srv_start(s, NULL, NULL);
    json_decref(srv_init(s, "2025-06-18", "{\"sampling\":{}}"));
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"sample\",\"arguments\":{\"prompt\":\"say hi\"}}}");
    msg = srv_recv(s, WAIT_MS);
    assert_non_null(msg);
    assert_string_equal(json_string_value(json_object_get(msg, "method")), "sampling/createMessage");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(
                            json_object_get(msg, "params"), "messages"), 0), "content"), "text")),
                        "say hi");
    assert_true(json_is_integer(json_object_get(msg, "id")));
    sid = json_integer_value(json_object_get(msg, "id"));
    json_decref(msg);
    /* an echo while the sampling request is open is answered at once */
    r = srv_tool(s, 6, "echo", "{\"text\":\"meanwhile\"}");
    assert_string_equal(text_of(r), "meanwhile");
    json_decref(r);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":\"assistant\",\"content\":"
                "{\"type\":\"text\",\"text\":\"hi there\"},\"model\":\"test\",\"stopReason\":\"endTurn\"}}",
             (long long)sid);
    msg = srv_response(s, 5);
    r = json_object_get(msg, "result");
    assert_false(is_error(r));
    assert_string_equal(text_of(r), "hi there");
    json_decref(msg);
    /* the client answers with an error: a tool error */
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"sample\",\"arguments\":{\"prompt\":\"again\"}}}");
    msg = srv_recv(s, WAIT_MS);
    assert_non_null(msg);
    sid = json_integer_value(json_object_get(msg, "id"));
    json_decref(msg);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-1,\"message\":\"user declined\"}}",
             (long long)sid);
    msg = srv_response(s, 7);
    assert_true(is_error(json_object_get(msg, "result")));
    assert_non_null(strstr(text_of(json_object_get(msg, "result")), "user declined"));
    json_decref(msg);
}

static void test_sampling_needs_capability(void **state)
{
    server *s = *state;
    json_t *r;

    srv_start_init(s);
    r = srv_tool(s, 1, "sample", "{\"prompt\":\"hi\"}");
    assert_true(is_error(r));
    assert_string_equal(text_of(r), "client does not support sampling");
    json_decref(r);
}

static void test_invalid_json_keeps_working(void **state)
{
    server *s = *state;
    json_t *msg;

    srv_start_init(s);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
    msg = srv_recv(s, WAIT_MS);
    assert_non_null(msg);
    assert_int_equal(error_code(msg), -32700);
    assert_true(json_is_null(json_object_get(msg, "id")));
    json_decref(msg);
    srv_send(s, "\"just a string\"");
    msg = srv_recv(s, WAIT_MS);
    assert_int_equal(error_code(msg), -32600);
    json_decref(msg);
    /* CRLF line ends are fine; an empty line is ignored */
    srv_send(s, "\r");
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\r");
    msg = srv_recv(s, WAIT_MS);
    assert_true(is_response_to(msg, 4));
    json_decref(msg);
    msg = srv_call(s, 2, "no/such/method", "{}");
    assert_int_equal(error_code(msg), -32601);
    json_decref(msg);
    msg = srv_tool(s, 3, "echo", "{\"text\":\"alive\"}");
    assert_string_equal(text_of(msg), "alive");
    json_decref(msg);
}

static void test_unknown_tool(void **state)
{
    server *s = *state;
    json_t *msg;

    srv_start_init(s);
    msg = srv_call(s, 1, "tools/call", "{\"name\":\"nope\",\"arguments\":{}}");
    assert_int_equal(error_code(msg), -32602);
    assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "error"), "message")),
                        "Unknown tool: nope");
    json_decref(msg);
    msg = srv_tool(s, 2, "fail", "{\"message\":\"it broke\"}");
    assert_true(is_error(msg));
    assert_string_equal(text_of(msg), "it broke");
    json_decref(msg);
}

static int has_tool(server *s, json_int_t id, const char *name)
{
    json_t *msg = srv_call(s, id, "tools/list", "{}");
    int found = find_tool(json_object_get(json_object_get(msg, "result"), "tools"), name) != NULL;

    json_decref(msg);
    return found;
}

static void test_toggle_extra(void **state)
{
    server *s = *state;
    json_t *msg;
    int round;

    srv_start_init(s);
    for (round = 0; round < 2; round++) {
        srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                    "{\"name\":\"toggle_extra\",\"arguments\":{}}}", 10 + round);
        msg = srv_recv(s, WAIT_MS);
        assert_non_null(msg);
        assert_string_equal(json_string_value(json_object_get(msg, "method")),
                            "notifications/tools/list_changed");
        json_decref(msg);
        msg = srv_recv(s, WAIT_MS);
        assert_true(is_response_to(msg, 10 + round));
        json_decref(msg);
        assert_int_equal(has_tool(s, 20 + round, "extra"), round == 0);
        msg = srv_call(s, 30 + round, "tools/call", "{\"name\":\"extra\",\"arguments\":{}}");
        if (round == 0)
            assert_string_equal(text_of(json_object_get(msg, "result")), "extra tool called");
        else
            assert_int_equal(error_code(msg), -32602);
        json_decref(msg);
    }
}

static void test_prompts_resources_completion(void **state)
{
    server *s = *state;
    json_t *msg, *r, *values;

    srv_start(s, "rep-9", NULL);
    json_decref(srv_init(s, "2025-11-25", "{}"));
    msg = srv_call(s, 1, "prompts/get", "{\"name\":\"greet\",\"arguments\":{\"name\":\"Zoe\"}}");
    r = json_array_get(json_object_get(json_object_get(msg, "result"), "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "role")), "user");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "content"), "text")), "Zoe"));
    json_decref(msg);
    msg = srv_call(s, 2, "prompts/get", "{\"name\":\"greet\"}");
    assert_int_equal(error_code(msg), -32602);
    json_decref(msg);
    msg = srv_call(s, 3, "prompts/list", "{}");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
                            json_object_get(msg, "result"), "prompts"), 0), "name")), "greet");
    json_decref(msg);
    msg = srv_call(s, 4, "resources/read", "{\"uri\":\"example://info\"}");
    r = json_array_get(json_object_get(json_object_get(msg, "result"), "contents"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(r, "text")), "rep-9"));
    json_decref(msg);
    msg = srv_call(s, 5, "resources/read", "{\"uri\":\"example://echo/a%2Fb%20c\"}");
    r = json_array_get(json_object_get(json_object_get(msg, "result"), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "text")), "a/b c");
    assert_string_equal(json_string_value(json_object_get(r, "uri")), "example://echo/a%2Fb%20c");
    json_decref(msg);
    msg = srv_call(s, 6, "resources/read", "{\"uri\":\"example://missing\"}");
    assert_int_equal(error_code(msg), -32002);
    json_decref(msg);
    msg = srv_call(s, 7, "resources/templates/list", "{}");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
                            json_object_get(msg, "result"), "resourceTemplates"), 0), "uriTemplate")),
                        "example://echo/{text}");
    json_decref(msg);
    msg = srv_call(s, 8, "resources/list", "{}");
    assert_int_equal(json_array_size(json_object_get(json_object_get(msg, "result"), "resources")), 1);
    json_decref(msg);
    msg = srv_call(s, 9, "completion/complete", "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"greet\"},"
                                                "\"argument\":{\"name\":\"name\",\"value\":\"e\"}}");
    values = json_object_get(json_object_get(json_object_get(msg, "result"), "completion"), "values");
    assert_int_equal(json_array_size(values), 2);
    assert_string_equal(json_string_value(json_array_get(values, 0)), "Eve");
    assert_string_equal(json_string_value(json_array_get(values, 1)), "Erin");
    json_decref(msg);
}

static void test_logging(void **state)
{
    server *s = *state;
    json_t *msg, *p;

    srv_start(s, NULL, "--name", "logsrv", NULL);
    json_decref(srv_init(s, "2025-11-25", "{}"));
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"log\",\"arguments\":{\"level\":\"warning\",\"message\":\"disk low\"}}}");
    msg = srv_recv(s, WAIT_MS);
    assert_non_null(msg);
    assert_string_equal(json_string_value(json_object_get(msg, "method")), "notifications/message");
    p = json_object_get(msg, "params");
    assert_string_equal(json_string_value(json_object_get(p, "level")), "warning");
    assert_string_equal(json_string_value(json_object_get(p, "logger")), "logsrv");
    assert_string_equal(json_string_value(json_object_get(p, "data")), "disk low");
    json_decref(msg);
    msg = srv_recv(s, WAIT_MS);
    assert_string_equal(text_of(json_object_get(msg, "result")), "logged");
    json_decref(msg);
    /* below the level set by logging/setLevel: no notification */
    msg = srv_call(s, 2, "logging/setLevel", "{\"level\":\"error\"}");
    assert_non_null(json_object_get(msg, "result"));
    json_decref(msg);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"log\",\"arguments\":{\"level\":\"info\",\"message\":\"quiet\"}}}");
    msg = srv_recv(s, WAIT_MS);
    assert_true(is_response_to(msg, 3));
    json_decref(msg);
    msg = srv_call(s, 4, "logging/setLevel", "{\"level\":\"loud\"}");
    assert_int_equal(error_code(msg), -32602);
    json_decref(msg);
}

static void test_eof_exits_zero(void **state)
{
    server *s = *state;

    srv_start_init(s);
    /* even with a call in flight */
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"slow\",\"arguments\":{\"ms\":60000}}}");
    close(s->to), s->to = -1;
    assert_int_equal(srv_wait_exit(s, WAIT_MS), 0);
}

static void test_sigterm_exits_zero(void **state)
{
    server *s = *state;
    int status;

    srv_start_init(s);
    kill(s->pid, SIGTERM);
    status = srv_wait_exit(s, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_exit_tool(void **state)
{
    server *s = *state;
    int status;

    srv_start_init(s);
    srv_send(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"exit\",\"arguments\":{\"code\":3}}}");
    status = srv_wait_exit(s, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_null(srv_recv(s, 100)); /* no answer, just EOF */
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_initialize_negotiates_version),
        T(test_tools_list),
        T(test_tool_prefix),
        T(test_echo_returns_exact_text),
        T(test_long_lines),
        T(test_add_structured_content),
        T(test_whoami_replica),
        T(test_slow_progress),
        T(test_slow_cancelled),
        T(test_concurrent_interleaved),
        T(test_sampling_round_trip),
        T(test_sampling_needs_capability),
        T(test_invalid_json_keeps_working),
        T(test_unknown_tool),
        T(test_toggle_extra),
        T(test_prompts_resources_completion),
        T(test_logging),
        T(test_eof_exits_zero),
        T(test_sigterm_exits_zero),
        T(test_exit_tool),
    };

    signal(SIGPIPE, SIG_IGN); /* a dead server must fail a test, not kill the run */
    return cmocka_run_group_tests_name("example_server", tests, NULL, NULL);
}
