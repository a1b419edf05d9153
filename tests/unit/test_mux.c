/* Unit tests: the MCP multiplexer.  Scripted callbacks record every message;
 * the recorded JSON is checked with jansson, independently of our scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <mcphub/mux.h>

#include "fakes/fakes.h"

/* ---- recording fixture ------------------------------------------------- */

enum { UP = 1, DOWN = 2, INTERNAL = 3 };

typedef struct msg {
    int dir;
    uint64_t session; /* DOWN: the session; INTERNAL: the token */
    char *json;
    char *related;    /* DOWN: related request id, or NULL */
} msg;

typedef struct fx {
    msg *m;
    size_t n, cap;
    int fail_up;              /* returned by send_upstream while non-zero */
    int fail_down;            /* returned by send_downstream for fail_session */
    uint64_t fail_session;
    mcphub_mux *mux;
} fx;

static void push(fx *f, int dir, uint64_t s, const char *json, size_t len, const char *related)
{
    msg *m;

    /* every message is one compact line: stdio framing never breaks */
    assert_null(memchr(json, '\n', len));
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->m = realloc(f->m, f->cap * sizeof *f->m);
        assert_non_null(f->m);
    }
    m = &f->m[f->n++];
    m->dir = dir;
    m->session = s;
    m->json = malloc(len + 1);
    memcpy(m->json, json, len);
    m->json[len] = '\0';
    m->related = related != NULL ? strdup(related) : NULL;
}

static void clear(fx *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        free(f->m[i].json);
        free(f->m[i].related);
    }
    f->n = 0;
}

static int on_up(const char *json, size_t len, void *ud)
{
    fx *f = ud;

    if (f->fail_up != 0)
        return f->fail_up;
    push(f, UP, 0, json, len, NULL);
    return 0;
}

static int on_down(uint64_t session, const char *json, size_t len, const char *related,
                   void *ud)
{
    fx *f = ud;

    if (f->fail_down != 0 && session == f->fail_session)
        return f->fail_down;
    push(f, DOWN, session, json, len, related);
    return 0;
}

static int on_internal(uint64_t token, const char *json, size_t len, void *ud)
{
    push(ud, INTERNAL, token, json, len, NULL);
    return 0;
}

static mcphub_mux_callbacks callbacks(fx *f)
{
    mcphub_mux_callbacks cb;

    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.send_upstream = on_up;
    cb.send_downstream = on_down;
    cb.internal_response = on_internal;
    cb.user_data = f;
    return cb;
}

static void setup_with(fx *f, const mcphub_mux_opts *opts, const mcphub_mem *mem)
{
    mcphub_mux_callbacks cb = callbacks(f);

    memset(f, 0, sizeof *f);
    cb.user_data = f;
    assert_int_equal(mcphub_mux_new(&f->mux, &cb, opts, mem), 0);
}

static void setup(fx *f)
{
    mcphub_mux_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.hash_seed = 0x5eed;
    setup_with(f, &o, NULL);
}

static void teardown(fx *f)
{
    mcphub_mux_free(f->mux);
    clear(f);
    free(f->m);
}

static int vfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, cap, fmt, ap);

    assert_true(n >= 0 && (size_t)n < cap);
    return n;
}

/* A message from a session / from the server, printf-style. */
static int down(fx *f, uint64_t s, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfmt(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mcphub_mux_from_downstream(f->mux, s, buf, (size_t)n);
}

static int up(fx *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfmt(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mcphub_mux_from_upstream(f->mux, buf, (size_t)n);
}

static mcphub_mux_stats stats(const fx *f)
{
    mcphub_mux_stats st;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    mcphub_mux_get_stats(f->mux, &st);
    return st;
}

/* ---- reading recorded JSON --------------------------------------------- */

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL)
        fail_msg("bad JSON (%s): %s", e.text, s);
    return j;
}

/* Follow a dotted path of object keys. */
static json_t *at(json_t *v, const char *path)
{
    char key[64];

    while (v != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");

        memcpy(key, path, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return v;
}

static long long int_at(const char *json, const char *path)
{
    json_t *j = parse(json), *v = at(j, path);
    long long r;

    if (!json_is_integer(v))
        fail_msg("%s is not an integer in %s", path, json);
    r = (long long)json_integer_value(v);
    json_decref(j);
    return r;
}

static int has(const char *json, const char *needle)
{
    return strstr(json, needle) != NULL;
}

static size_t count(const fx *f, int dir, uint64_t s)
{
    size_t i, n = 0;

    for (i = 0; i < f->n; i++)
        if (f->m[i].dir == dir && (dir != DOWN || s == 0 || f->m[i].session == s))
            n++;
    return n;
}

static const msg *last(const fx *f)
{
    assert_true(f->n > 0);
    return &f->m[f->n - 1];
}

/* The upstream id the last upstream message carries. */
static long long last_up_id(const fx *f)
{
    size_t i = f->n;

    while (i-- > 0)
        if (f->m[i].dir == UP)
            return int_at(f->m[i].json, "id");
    fail_msg("no upstream message");
    return -1;
}

#define TOOL_CALL(id, who)                                                                  \
    "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/call\",\"params\":{\"name\":"  \
    "\"echo\",\"arguments\":{\"who\":" who "},\"_meta\":{\"progressToken\":\"tok\"}}}"

/* ---- tests -------------------------------------------------------------- */

static void test_fifty_sessions_same_ids(void **state)
{
    enum { N = 50 };
    long long up_id[N], seen_ids[N];
    int order[N], i, j;
    fake_random rnd = {7};
    fx f;

    (void)state;
    setup(&f);
    for (i = 0; i < N; i++)
        assert_int_equal(mcphub_mux_session_open(f.mux, 1000 + (uint64_t)i,
                                                 i % 3 ? 0 : MCPHUB_MUX_CAP_SAMPLING), 0);
    /* every session: id 1, progress token "tok" */
    for (i = 0; i < N; i++) {
        assert_int_equal(down(&f, 1000 + (uint64_t)i, TOOL_CALL("1", "%d"), i), 0);
        assert_int_equal(f.n, (size_t)i + 1);
        assert_int_equal(last(&f)->dir, UP);
        up_id[i] = int_at(last(&f)->json, "id");
        /* a fresh token, not "tok", and the arguments untouched */
        assert_int_equal(int_at(last(&f)->json, "params._meta.progressToken"), up_id[i]);
        assert_int_equal(int_at(last(&f)->json, "params.arguments.who"), i);
        for (j = 0; j < i; j++)
            assert_true(seen_ids[j] != up_id[i]);
        seen_ids[i] = up_id[i];
    }
    assert_int_equal(stats(&f).in_flight, N);
    clear(&f);
    /* the server answers in a random order, progress first */
    for (i = 0; i < N; i++)
        order[i] = i;
    for (i = N - 1; i > 0; i--) {
        int k = (int)(fake_random_next(&rnd) % (uint32_t)(i + 1)), t = order[i];

        order[i] = order[k];
        order[k] = t;
    }
    for (j = 0; j < N; j++) {
        i = order[j];
        assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                                "\"params\":{\"progressToken\":%lld,\"progress\":0.5,\"total\":1}}",
                            up_id[i]), 0);
        assert_int_equal(last(&f)->dir, DOWN);
        assert_int_equal(last(&f)->session, 1000 + (uint64_t)i);
        assert_string_equal(last(&f)->related, "1");
        assert_true(has(last(&f)->json, "\"progressToken\":\"tok\",\"progress\":0.5"));
        assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"content\":"
                                "[{\"type\":\"text\",\"text\":\"who=%d\"}]}}",
                            up_id[i], i), 0);
        assert_int_equal(last(&f)->dir, DOWN);
        assert_int_equal(last(&f)->session, 1000 + (uint64_t)i);
        assert_string_equal(last(&f)->related, "1");
        {
            char want[128];

            snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":"
                                        "[{\"type\":\"text\",\"text\":\"who=%d\"}]}}", i);
            assert_string_equal(last(&f)->json, want);
        }
    }
    /* exactly its own two messages per session, nothing else */
    for (i = 0; i < N; i++)
        assert_int_equal(count(&f, DOWN, 1000 + (uint64_t)i), 2);
    assert_int_equal(f.n, 2 * N);
    assert_int_equal(stats(&f).in_flight, 0);
    assert_int_equal(stats(&f).dropped, 0);
    /* answered: a repeat of any response is late and dropped */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", up_id[3]),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":%lld,\"progress\":1}}", up_id[3]),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(stats(&f).dropped, 2);
    assert_int_equal(f.n, 2 * N);
    teardown(&f);
}

static void test_ids_and_tokens_keep_their_form(void **state)
{
    static const char *const ids[] = {"\"7\"", "7", "\"\\u00e9x\"", "-3", "\"a b\""};
    long long up_id[5];
    fx f;
    int i;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\","
                                     "\"params\":{\"_meta\":{\"progressToken\":%s}}}",
                              ids[i], i == 1 ? "0" : ids[(i + 1) % 5]), 0);
        up_id[i] = last_up_id(&f);
    }
    assert_int_equal(stats(&f).in_flight, 5); /* "7" and 7 are different ids */
    for (i = 4; i >= 0; i--) {
        char want[256];

        assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                                "\"params\":{\"progressToken\":%lld,\"progress\":1}}",
                            up_id[i]), 0);
        snprintf(want, sizeof want, "\"progressToken\":%s,", i == 1 ? "0" : ids[(i + 1) % 5]);
        assert_true(has(last(&f)->json, want));
        /* the server may echo our id as a string; numbers stay byte for byte */
        if (i == 2)
            assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"%lld\",\"result\":"
                                    "{\"x\":0.1,\"y\":1E400}}", up_id[i]), 0);
        else
            assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":"
                                    "{\"x\":0.1,\"y\":1E400}}", up_id[i]), 0);
        snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
                                    "{\"x\":0.1,\"y\":1E400}}", ids[i]);
        assert_string_equal(last(&f)->json, want);
        assert_string_equal(last(&f)->related, ids[i]);
    }
    /* an error response is mapped like a result */
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"x\"}"), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32601,"
                            "\"message\":\"no\"}}", last_up_id(&f)), 0);
    assert_string_equal(last(&f)->json, "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"error\":{\"code\":"
                                        "-32601,\"message\":\"no\"}}");
    teardown(&f);
}

static void test_cancellation_from_sessions(void **state)
{
    long long a, b;
    fx f;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 2, 0), 0);
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    a = last_up_id(&f);
    assert_int_equal(down(&f, 2, TOOL_CALL("1", "2")), 0);
    b = last_up_id(&f);
    /* session 2 cannot cancel what session 1 asked, even with the same id */
    assert_int_equal(down(&f, 2, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                 "\"params\":{\"requestId\":99}}"), MCPHUB_MUX_DROPPED);
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                 "\"params\":{\"requestId\":1,\"reason\":\"user\"}}"), 0);
    assert_int_equal(last(&f)->dir, UP);
    assert_int_equal(int_at(last(&f)->json, "params.requestId"), a);
    assert_true(has(last(&f)->json, "\"reason\":\"user\""));
    assert_int_equal(stats(&f).in_flight, 1);
    /* a second cancel, the late answer and late progress are all ignored */
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                 "\"params\":{\"requestId\":1}}"), MCPHUB_MUX_DROPPED);
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":%lld,\"progress\":1}}", a),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(f.n, 0);
    /* session 2 is untouched */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b), 0);
    assert_int_equal(last(&f)->session, 2);
    assert_int_equal(stats(&f).dropped, 4);
    /* the id is free again once cancelled */
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    teardown(&f);
}

/* Sessions: A sampling+roots, B none, C sampling, D elicitation. */
enum { SA = 1, SB = 2, SC = 3, SD = 4 };

static void open_four(fx *f)
{
    assert_int_equal(mcphub_mux_session_open(f->mux, SA, MCPHUB_MUX_CAP_SAMPLING |
                                                             MCPHUB_MUX_CAP_ROOTS), 0);
    assert_int_equal(mcphub_mux_session_open(f->mux, SB, 0), 0);
    assert_int_equal(mcphub_mux_session_open(f->mux, SC, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(mcphub_mux_session_open(f->mux, SD, MCPHUB_MUX_CAP_ELICITATION), 0);
}

static const char sampling[] = "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":"
                               "\"sampling/createMessage\",\"params\":{\"messages\":[],"
                               "\"maxTokens\":10}}";

/* The refusal a shared server gets when several sessions (capable or not)
 * have requests in flight: exactly one message, upstream, answering id_json
 * with -32603, and nothing to any session. */
static void assert_ambiguous_refusal(const fx *f, size_t n_before, const char *id_json,
                                     const char *method)
{
    json_t *j, *id;
    const char *text;

    assert_int_equal(f->n, n_before + 1);
    assert_int_equal(last(f)->dir, UP);
    j = parse(last(f)->json);
    id = json_loads(id_json, JSON_DECODE_ANY, NULL);
    assert_non_null(id);
    assert_true(json_equal(json_object_get(j, "id"), id));
    assert_null(json_object_get(j, "result"));
    assert_int_equal(json_integer_value(at(j, "error.code")), -32603);
    text = json_string_value(at(j, "error.message"));
    assert_non_null(text);
    assert_true(has(text, method));
    assert_true(has(text, "cannot be routed"));
    assert_true(has(text, "several client sessions have requests in flight"));
    json_decref(id);
    json_decref(j);
}

static void test_session_close(void **state)
{
    long long a1, a2, b;
    fx f;
    size_t i;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 10, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 20, 0), 0);
    assert_int_equal(down(&f, 10, TOOL_CALL("1", "1")), 0);
    a1 = last_up_id(&f);
    assert_int_equal(down(&f, 10, TOOL_CALL("2", "1")), 0);
    a2 = last_up_id(&f);
    /* session 10 owes the server an answer (asked while alone in flight) */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":"
                            "\"sampling/createMessage\",\"params\":{\"maxTokens\":5}}"), 0);
    assert_int_equal(last(&f)->session, 10);
    assert_int_equal(down(&f, 20, TOOL_CALL("1", "2")), 0);
    b = last_up_id(&f);
    /* both sessions in flight: not routable */
    assert_int_equal(up(&f, sampling, "\"s0\""), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, 4, "\"s0\"", "sampling/createMessage");
    clear(&f);
    assert_int_equal(mcphub_mux_session_close(f.mux, 10), 0);
    /* two cancellations and one error, all upstream */
    assert_int_equal(f.n, 3);
    for (i = 0; i < 2; i++) {
        long long rid = int_at(f.m[i].json, "params.requestId");

        assert_int_equal(f.m[i].dir, UP);
        assert_true(has(f.m[i].json, "\"method\":\"notifications/cancelled\""));
        assert_true(has(f.m[i].json, "\"reason\":\"client session closed\""));
        assert_true(rid == a1 || rid == a2);
    }
    assert_true(int_at(f.m[0].json, "params.requestId") != int_at(f.m[1].json,
                                                                  "params.requestId"));
    assert_int_equal(f.m[2].dir, UP);
    assert_true(has(f.m[2].json, "\"id\":\"s1\",\"error\":{\"code\":-32603"));
    {
        mcphub_mux_stats st = stats(&f);

        assert_int_equal(st.sessions, 1);
        assert_int_equal(st.in_flight, 1);
        assert_int_equal(st.server_requests, 0);
    }
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a1),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a2),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(f.n, 0);
    assert_int_equal(mcphub_mux_session_close(f.mux, 10), MCPHUB_E_NOTFOUND);
    assert_int_equal(down(&f, 10, TOOL_CALL("3", "1")), MCPHUB_E_NOTFOUND);
    /* nobody capable is left: the server hears why (-32601, not the
     * several-sessions refusal: only session 20 is in flight now) */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"s2\",\"method\":"
                            "\"sampling/createMessage\",\"params\":{}}"), MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"s2\",\"error\":{\"code\":-32601,"));
    assert_false(has(last(&f)->json, "several"));
    /* reopening the same session id starts clean: its closed requests no
     * longer count, so with 20 still in flight it is ambiguous, and once 20
     * is done the reopened session alone is routed to */
    assert_int_equal(mcphub_mux_session_open(f.mux, 10, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(down(&f, 10, TOOL_CALL("1", "1")), 0);
    clear(&f);
    assert_int_equal(up(&f, sampling, "\"s3\""), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, 0, "\"s3\"", "sampling/createMessage");
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b), 0);
    assert_int_equal(last(&f)->session, 20);
    clear(&f);
    assert_int_equal(up(&f, sampling, "\"s4\""), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, 10);
    assert_string_equal(last(&f)->related, "1");
    teardown(&f);
}

static void test_broadcast_notifications(void **state)
{
    static const char *const notes[] = {
        "{ \"jsonrpc\": \"2.0\",\n  \"method\": \"notifications/tools/list_changed\" }",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\","
        "\"params\":{\"uri\":\"file:///a\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
        "{\"level\":\"info\",\"data\":\"hello\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/prompts/list_changed\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/list_changed\"}",
    };
    fx f;
    size_t i, k;

    (void)state;
    setup(&f);
    /* nobody to tell: fine */
    assert_int_equal(mcphub_mux_from_upstream(f.mux, notes[0], strlen(notes[0])), 0);
    assert_int_equal(f.n, 0);
    for (i = 1; i <= 3; i++)
        assert_int_equal(mcphub_mux_session_open(f.mux, i, 0), 0);
    for (k = 0; k < 5; k++) {
        clear(&f);
        assert_int_equal(mcphub_mux_from_upstream(f.mux, notes[k], strlen(notes[k])), 0);
        assert_int_equal(f.n, 3);
        for (i = 1; i <= 3; i++)
            assert_int_equal(count(&f, DOWN, i), 1);
        for (i = 0; i < 3; i++)
            assert_null(f.m[i].related);
    }
    /* compacted, otherwise byte for byte */
    clear(&f);
    assert_int_equal(mcphub_mux_from_upstream(f.mux, notes[0], strlen(notes[0])), 0);
    assert_string_equal(f.m[0].json,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
    /* one session's failure does not keep it from the others */
    clear(&f);
    f.fail_down = MCPHUB_E_WOULDBLOCK;
    f.fail_session = 2;
    assert_int_equal(mcphub_mux_from_upstream(f.mux, notes[1], strlen(notes[1])),
                     MCPHUB_E_WOULDBLOCK);
    assert_int_equal(count(&f, DOWN, 1), 1);
    assert_int_equal(count(&f, DOWN, 2), 0);
    assert_int_equal(count(&f, DOWN, 3), 1);
    teardown(&f);
}

static void test_server_requests_routing(void **state)
{
    long long a2, a3, b1, c1, x0, x1, x4;
    mcphub_mux_stats st;
    size_t n;
    fx f;

    (void)state;
    setup(&f);
    open_four(&f);
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    clear(&f);
    /* A: the only session with a request in flight (B, C, D open, idle) */
    assert_int_equal(up(&f, sampling, "0"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a1\"");
    x0 = int_at(last(&f)->json, "id");
    assert_true(has(last(&f)->json, "\"maxTokens\":10"));
    /* several requests of that one session are not ambiguous: its newest */
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a2\"", "1")), 0);
    a2 = last_up_id(&f);
    assert_int_equal(up(&f, sampling, "1"), 0);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a2\"");
    x1 = int_at(last(&f)->json, "id");
    assert_true(x0 != x1);
    assert_int_equal(stats(&f).server_requests, 2);
    assert_int_equal(stats(&f).refused, 0);
    /* B, which cannot sample, starts a call: the next request may be its
     * call's, and handing it to A would leak B's prompt; refused */
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), 0);
    b1 = last_up_id(&f);
    clear(&f);
    assert_int_equal(up(&f, sampling, "2"), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, 0, "2", "sampling/createMessage");
    st = stats(&f);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.server_requests, 2);
    assert_int_equal(st.in_flight, 3);
    /* roots too, though A is the only session that declared it */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}"),
                     MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, 1, "5", "roots/list");
    assert_int_equal(count(&f, DOWN, 0), 0);
    assert_int_equal(stats(&f).refused, 2);
    /* B's call is over: A alone again, and the refused id may be reused */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1), 0);
    assert_int_equal(last(&f)->session, SB);
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"roots/list\"}"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a2\"");
    assert_int_equal(stats(&f).server_requests, 3);
    /* C, also capable, starts a request: refused */
    assert_int_equal(down(&f, SC, TOOL_CALL("\"c1\"", "3")), 0);
    c1 = last_up_id(&f);
    n = f.n;
    assert_int_equal(up(&f, sampling, "\"s-3\""), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, n, "\"s-3\"", "sampling/createMessage");
    /* the same with the starts the other way round (A newest) */
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a3\"", "1")), 0);
    a3 = last_up_id(&f);
    n = f.n;
    assert_int_equal(up(&f, sampling, "2"), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, n, "2", "sampling/createMessage");
    assert_int_equal(count(&f, DOWN, 0), 1); /* the roots/list above only */
    assert_int_equal(stats(&f).refused, 4);
    /* once C's request is answered, A alone is left: routed again */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", c1), 0);
    assert_int_equal(last(&f)->session, SC);
    clear(&f);
    assert_int_equal(up(&f, sampling, "4"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a3\"");
    x4 = int_at(last(&f)->json, "id");
    assert_int_equal(stats(&f).refused, 4);
    assert_int_equal(stats(&f).server_requests, 4);
    /* answers map back to the server's ids; only the asked session may answer */
    clear(&f);
    assert_int_equal(down(&f, SC, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", x0),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":"
                                  "\"assistant\",\"model\":\"m\"}}", x0), 0);
    assert_string_equal(last(&f)->json, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"role\":"
                                        "\"assistant\",\"model\":\"m\"}}");
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", x0),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-1,"
                                  "\"message\":\"declined\"}}", x1), 0);
    assert_int_equal(int_at(last(&f)->json, "id"), 1);
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", x4), 0);
    assert_int_equal(int_at(last(&f)->json, "id"), 4);
    assert_int_equal(f.n, 3);
    assert_int_equal(stats(&f).server_requests, 1); /* roots/list 5 still owed */
    /* C back in flight with two requests: ambiguous again; C closing its
     * session ends it too */
    assert_int_equal(down(&f, SC, TOOL_CALL("\"c2\"", "3")), 0);
    assert_int_equal(down(&f, SC, TOOL_CALL("\"c2b\"", "3")), 0);
    n = f.n;
    assert_int_equal(up(&f, sampling, "6"), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, n, "6", "sampling/createMessage");
    assert_int_equal(mcphub_mux_session_close(f.mux, SC), 0);
    assert_int_equal(up(&f, sampling, "7"), 0);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a3\"");
    /* and when A's requests end, C's turn comes (reopened, capable) */
    assert_int_equal(mcphub_mux_session_open(f.mux, SC, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(down(&f, SC, TOOL_CALL("\"c3\"", "3")), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a2), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a3), 0);
    n = f.n;
    assert_int_equal(up(&f, sampling, "\"still-a1\""), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, n, "\"still-a1\"", "sampling/createMessage");
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":\"a1\"}}"), 0);
    clear(&f);
    assert_int_equal(up(&f, sampling, "8"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->session, SC);
    assert_string_equal(last(&f)->related, "\"c3\"");
    assert_int_equal(stats(&f).refused, 6);
    /* C alone in flight did not declare roots: no capable session, -32601 */
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"roots/list\"}"),
                     MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":9,\"error\":{\"code\":-32601,"));
    assert_true(has(last(&f)->json, "roots capability"));
    /* elicitation: D declared it but has nothing in flight */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"elicitation/create\","
                            "\"params\":{\"message\":\"?\"}}"), MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"e\",\"error\":{\"code\":-32601,"));
    assert_true(has(last(&f)->json, "elicitation/create"));
    assert_true(has(last(&f)->json, "elicitation capability"));
    /* unknown methods and ping */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tasks/get\"}"),
                     MCPHUB_MUX_CONSUMED);
    assert_true(has(last(&f)->json, "\"code\":-32601"));
    assert_true(has(last(&f)->json, "tasks/get"));
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"hb\",\"method\":\"ping\"}"),
                     MCPHUB_MUX_CONSUMED);
    assert_string_equal(last(&f)->json, "{\"jsonrpc\":\"2.0\",\"id\":\"hb\",\"result\":{}}");
    assert_int_equal(f.n, 4);
    assert_int_equal(stats(&f).refused, 9);
    /* B and D never saw any of it */
    assert_int_equal(count(&f, DOWN, 0), 0);
    teardown(&f);
}

/* A server->client request of the given method and JSON id. */
static int ask(fx *f, const char *method, const char *id_json)
{
    return up(f, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"%s\",\"params\":{}}", id_json,
              method);
}

/* The leak the rule closes: B, which did not declare the capability, calls
 * a tool that asks the server for it while A, which did, has a slow call
 * running.  The server's request names neither call; handing it to A would
 * show A's client B's prompt.  It must be refused, whatever the order the
 * calls started in, and reach neither A nor B. */
static void test_incapable_session_in_flight_blocks_routing(void **state)
{
    static const char *const methods[3] = {"sampling/createMessage", "elicitation/create",
                                           "roots/list"};
    static const uint32_t caps[3] = {MCPHUB_MUX_CAP_SAMPLING, MCPHUB_MUX_CAP_ELICITATION,
                                     MCPHUB_MUX_CAP_ROOTS};
    long long a1, b1;
    int k, b_first;
    fx f;

    (void)state;
    for (k = 0; k < 3; k++) {
        for (b_first = 0; b_first <= 1; b_first++) {
            setup(&f);
            assert_int_equal(mcphub_mux_session_open(f.mux, SA, caps[k]), 0);
            assert_int_equal(mcphub_mux_session_open(f.mux, SB, 0), 0);
            if (b_first) {
                assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), 0);
                b1 = last_up_id(&f);
            }
            assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
            a1 = last_up_id(&f);
            if (!b_first) {
                assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), 0);
                b1 = last_up_id(&f);
            }
            clear(&f);
            assert_int_equal(ask(&f, methods[k], "\"leak\""), MCPHUB_MUX_CONSUMED);
            assert_ambiguous_refusal(&f, 0, "\"leak\"", methods[k]);
            assert_int_equal(count(&f, DOWN, 0), 0);
            assert_int_equal(stats(&f).refused, 1);
            assert_int_equal(stats(&f).server_requests, 0);
            /* B with several calls in flight: still refused */
            assert_int_equal(down(&f, SB, TOOL_CALL("\"b2\"", "2")), 0);
            assert_int_equal(ask(&f, methods[k], "\"leak2\""), MCPHUB_MUX_CONSUMED);
            assert_ambiguous_refusal(&f, 2, "\"leak2\"", methods[k]);
            assert_int_equal(count(&f, DOWN, 0), 0);
            /* one of B's calls answered, the other still running: refused */
            assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1), 0);
            assert_int_equal(last(&f)->session, SB);
            assert_int_equal(ask(&f, methods[k], "\"leak3\""), MCPHUB_MUX_CONSUMED);
            assert_ambiguous_refusal(&f, 4, "\"leak3\"", methods[k]);
            /* B cancels its last call: A alone, routed to A */
            assert_int_equal(down(&f, SB, "{\"jsonrpc\":\"2.0\",\"method\":"
                                          "\"notifications/cancelled\",\"params\":"
                                          "{\"requestId\":\"b2\"}}"), 0);
            clear(&f);
            assert_int_equal(ask(&f, methods[k], "\"ok\""), 0);
            assert_int_equal(f.n, 1);
            assert_int_equal(last(&f)->dir, DOWN);
            assert_int_equal(last(&f)->session, SA);
            assert_string_equal(last(&f)->related, "\"a1\"");
            assert_int_equal(stats(&f).refused, 3);
            /* A's call over, B alone in flight: nobody capable (-32601) */
            assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a1), 0);
            assert_int_equal(down(&f, SB, TOOL_CALL("\"b3\"", "2")), 0);
            clear(&f);
            assert_int_equal(ask(&f, methods[k], "\"b-alone\""), MCPHUB_MUX_CONSUMED);
            assert_int_equal(f.n, 1);
            assert_int_equal(last(&f)->dir, UP);
            assert_true(has(last(&f)->json, "\"id\":\"b-alone\",\"error\":{\"code\":-32601,"));
            assert_int_equal(stats(&f).refused, 4);
            teardown(&f);
        }
    }
}

/* Idle sessions do not count, capable or not, nor do the owner's own
 * requests: with one session in flight, it is asked. */
static void test_routed_when_only_capable_session_busy(void **state)
{
    long long b1, d1, x;
    uint64_t tok;
    fx f;

    (void)state;
    setup(&f);
    open_four(&f); /* A sampling+roots, B none, C sampling, D elicitation */
    /* B, C and D have had calls, now over: answered, cancelled, answered */
    assert_int_equal(down(&f, SB, TOOL_CALL("1", "2")), 0);
    b1 = last_up_id(&f);
    assert_int_equal(down(&f, SC, TOOL_CALL("1", "3")), 0);
    assert_int_equal(down(&f, SD, TOOL_CALL("1", "4")), 0);
    d1 = last_up_id(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1), 0);
    assert_int_equal(down(&f, SC, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":1}}"), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", d1), 0);
    /* A calls; the owner has a request of its own in flight */
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok), 0);
    assert_int_equal(stats(&f).sessions, 4);
    assert_int_equal(stats(&f).in_flight, 2);
    clear(&f);
    assert_int_equal(up(&f, sampling, "\"s1\""), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a1\"");
    x = int_at(last(&f)->json, "id");
    assert_int_equal(ask(&f, "roots/list", "\"r1\""), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(last(&f)->session, SA);
    /* D declared elicitation but is idle; A, in flight, did not: -32601 */
    assert_int_equal(ask(&f, "elicitation/create", "\"e1\""), MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"e1\",\"error\":{\"code\":-32601,"));
    assert_int_equal(count(&f, DOWN, SA), 2);
    assert_int_equal(count(&f, DOWN, 0), 2);
    assert_int_equal(stats(&f).refused, 1);
    assert_int_equal(stats(&f).server_requests, 2);
    /* A's answer goes back under the server's id */
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":"
                                  "\"assistant\",\"model\":\"m\"}}", x), 0);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"s1\",\"result\":"));
    teardown(&f);
}

/* The count of sessions in flight, through every way a request starts,
 * fails to start or ends.  After each step the server asks for sampling:
 * routed to A when A alone is in flight, refused when B is too.  Counting
 * too many sessions shows as a wrong refusal, too few as a wrong delivery. */
static void expect_routed(fx *f, int id, const char *related)
{
    char idj[16];

    snprintf(idj, sizeof idj, "%d", id);
    clear(f);
    assert_int_equal(up(f, sampling, idj), 0);
    assert_int_equal(f->n, 1);
    assert_int_equal(last(f)->dir, DOWN);
    assert_int_equal(last(f)->session, SA);
    assert_string_equal(last(f)->related, related);
}

static void expect_refused(fx *f, int id)
{
    char idj[16];

    snprintf(idj, sizeof idj, "%d", id);
    clear(f);
    assert_int_equal(up(f, sampling, idj), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(f, 0, idj, "sampling/createMessage");
}

static void test_busy_count_on_every_path(void **state)
{
    char big[MCPHUB_MUX_MAX_ID_BYTES + 8];
    long long a1, b1, b2;
    uint64_t tok;
    int id = 0;
    fx f;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, SA, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, SB, 0), 0);
    assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok), 0);
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    a1 = last_up_id(&f);
    expect_routed(&f, ++id, "\"a1\"");
    /* A's second request does not make A count twice */
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a2\"", "1")), 0);
    expect_routed(&f, ++id, "\"a2\"");
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":\"a2\"}}"), 0);
    expect_routed(&f, ++id, "\"a1\"");
    /* B's requests that never start: forwarding fails, id too long */
    f.fail_up = MCPHUB_E_WOULDBLOCK;
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), MCPHUB_E_WOULDBLOCK);
    f.fail_up = 0;
    expect_routed(&f, ++id, "\"a1\"");
    memset(big, 'i', sizeof big);
    big[MCPHUB_MUX_MAX_ID_BYTES] = '\0';
    assert_int_equal(down(&f, SB, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"x\"}", big),
                     MCPHUB_E_TOOBIG);
    expect_routed(&f, ++id, "\"a1\"");
    /* B in flight; a repeated id is refused and changes nothing */
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), 0);
    b1 = last_up_id(&f);
    expect_refused(&f, ++id);
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b1\"", "2")), MCPHUB_E_EXISTS);
    expect_refused(&f, ++id);
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b2\"", "2")), 0);
    b2 = last_up_id(&f);
    /* b1's answer cannot be delivered: kept, B still in flight */
    f.fail_down = MCPHUB_E_CALLBACK;
    f.fail_session = SB;
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1),
                     MCPHUB_E_CALLBACK);
    f.fail_down = 0;
    expect_refused(&f, ++id);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1), 0);
    expect_refused(&f, ++id); /* b2 still in flight */
    /* b2's cancellation cannot be sent: kept; then sent: B idle */
    f.fail_up = MCPHUB_E_WOULDBLOCK;
    assert_int_equal(down(&f, SB, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":\"b2\"}}"), MCPHUB_E_WOULDBLOCK);
    f.fail_up = 0;
    expect_refused(&f, ++id);
    assert_int_equal(down(&f, SB, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":\"b2\"}}"), 0);
    expect_routed(&f, ++id, "\"a1\"");
    /* the late answer to b2 is dropped and changes nothing */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b2),
                     MCPHUB_MUX_DROPPED);
    expect_routed(&f, ++id, "\"a1\"");
    /* counted exactly once again when B starts over */
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b3\"", "2")), 0);
    expect_refused(&f, ++id);
    /* B closes with a request in flight */
    assert_int_equal(mcphub_mux_session_close(f.mux, SB), 0);
    expect_routed(&f, ++id, "\"a1\"");
    assert_int_equal(mcphub_mux_session_open(f.mux, SB, 0), 0);
    expect_routed(&f, ++id, "\"a1\"");
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b4\"", "2")), 0);
    expect_refused(&f, ++id);
    /* the connection goes: nobody is in flight any more */
    assert_int_equal(mcphub_mux_upstream_closed(f.mux, NULL), 0);
    assert_int_equal(stats(&f).in_flight, 0);
    clear(&f);
    assert_int_equal(up(&f, sampling, "\"none\""), MCPHUB_MUX_CONSUMED);
    assert_true(has(last(&f)->json, "\"code\":-32601"));
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a3\"", "1")), 0);
    expect_routed(&f, ++id, "\"a3\"");
    assert_int_equal(down(&f, SB, TOOL_CALL("\"b5\"", "2")), 0);
    b1 = last_up_id(&f);
    expect_refused(&f, ++id);
    /* A's calls end (the old a1 was answered by the close): B alone,
     * nobody capable; then A again, both in flight */
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                  "\"params\":{\"requestId\":\"a3\"}}"), 0);
    clear(&f);
    assert_int_equal(up(&f, sampling, "\"b-alone\""), MCPHUB_MUX_CONSUMED);
    assert_true(has(last(&f)->json, "\"code\":-32601"));
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a1),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a4\"", "1")), 0);
    expect_refused(&f, ++id);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b1), 0);
    expect_routed(&f, ++id, "\"a4\"");
    teardown(&f);
}

static void test_server_cancels_its_request(void **state)
{
    long long a1, x, fresh;
    fx f;

    (void)state;
    setup(&f);
    open_four(&f);
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    a1 = last_up_id(&f);
    assert_int_equal(up(&f, sampling, "\"srv-9\""), 0);
    x = int_at(last(&f)->json, "id");
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                            "\"params\":{\"requestId\":\"srv-9\",\"reason\":\"timeout\"}}"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a1\"");
    fresh = int_at(last(&f)->json, "params.requestId");
    assert_int_equal(fresh, x);
    assert_int_equal(stats(&f).server_requests, 0);
    /* the session's late answer goes nowhere; unknown cancels are ignored */
    assert_int_equal(down(&f, SA, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", x),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                            "\"params\":{\"requestId\":\"srv-9\"}}"), MCPHUB_MUX_DROPPED);
    assert_int_equal(f.n, 1);
    /* once a1 is over, a cancellation travels unrelated (GET stream) */
    assert_int_equal(up(&f, sampling, "\"srv-10\""), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a1), 0);
    clear(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                            "\"params\":{\"requestId\":\"srv-10\"}}"), 0);
    assert_int_equal(last(&f)->session, SA);
    assert_null(last(&f)->related);
    teardown(&f);
}

static void test_internal_requests_and_handshake(void **state)
{
    uint64_t tok, tok2;
    long long sid;
    fx f;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_request(f.mux, "initialize",
                                        "{\n  \"protocolVersion\": \"2025-06-18\",\n"
                                        "  \"capabilities\": {}, \"clientInfo\": {\"name\": \"w\"}\n}",
                                        &tok), 0);
    assert_string_equal(last(&f)->json,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                        "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                        "\"clientInfo\":{\"name\":\"w\"}}}");
    assert_int_equal(tok, 1);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":"
                            "\"2025-06-18\",\"capabilities\":{\"tools\":{}}}}"), 0);
    assert_int_equal(last(&f)->dir, INTERNAL);
    assert_int_equal(last(&f)->session, tok);
    assert_true(has(last(&f)->json, "\"capabilities\":{\"tools\":{}}"));
    assert_int_equal(mcphub_mux_notify(f.mux, "notifications/initialized", NULL), 0);
    assert_string_equal(last(&f)->json,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    /* sessions' own handshake never reaches the server */
    assert_int_equal(mcphub_mux_session_open(f.mux, 5, 0), 0);
    clear(&f);
    assert_int_equal(down(&f, 5, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                                 "\"params\":{}}"), MCPHUB_MUX_INITIALIZE);
    assert_int_equal(down(&f, 5, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
                     MCPHUB_MUX_CONSUMED);
    assert_int_equal(f.n, 0);
    /* owner and session requests share one id space */
    assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok2), 0);
    assert_int_equal(down(&f, 5, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"), 0);
    sid = last_up_id(&f);
    assert_true((uint64_t)sid != tok2);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"tools\":[]}}", sid),
                     0);
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":%llu,\"progress\":1}}",
                        (unsigned long long)tok2), MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":{\"tools\":[]}}",
                        (unsigned long long)tok2), 0);
    assert_int_equal(last(&f)->dir, INTERNAL);
    assert_int_equal(last(&f)->session, tok2);
    /* bad input is refused and nothing is sent */
    clear(&f);
    assert_int_equal(mcphub_mux_request(f.mux, "x", "{\"_meta\":{\"progressToken\":1}}", &tok),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_request(f.mux, "x", "[", &tok), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_request(f.mux, "x", "5", &tok), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_request(f.mux, "", NULL, &tok), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_request(f.mux, NULL, NULL, &tok), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_request(f.mux, "x", NULL, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_notify(f.mux, "bad\xff", NULL), MCPHUB_E_INVAL);
    assert_int_equal(f.n, 0);
    assert_int_equal(stats(&f).in_flight, 0);
    /* odd method names are escaped, not injected */
    assert_int_equal(mcphub_mux_notify(f.mux, "a\"b", "[1, 2]"), 0);
    assert_string_equal(last(&f)->json,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"a\\\"b\",\"params\":[1,2]}");
    teardown(&f);
}

static void test_malformed_upstream_is_dropped(void **state)
{
    static const char *const junk[] = {
        "not json",
        "{\"jsonrpc\":\"2.0\",\"id\":1",
        "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
        "{\"progressToken\":\"tok\",\"progress\":1}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"result\":{}}",
        "\xff\xfe",
        "",
    };
    long long a, b;
    fx f;
    size_t i;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 2, 0), 0);
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    a = last_up_id(&f);
    assert_int_equal(down(&f, 2, TOOL_CALL("1", "2")), 0);
    b = last_up_id(&f);
    clear(&f);
    for (i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int rc = mcphub_mux_from_upstream(f.mux, junk[i], strlen(junk[i]));

        assert_true(rc < 0 || rc == MCPHUB_MUX_DROPPED);
    }
    assert_int_equal(f.n, 0);
    assert_int_equal(stats(&f).dropped, sizeof junk / sizeof junk[0]);
    assert_int_equal(stats(&f).in_flight, 2);
    /* a batch: each element on its own, junk among them counted */
    assert_int_equal(up(&f, "[{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"n\":2}}, 7,"
                            " {\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"n\":1}}]", b, a),
                     MCPHUB_E_INVAL);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.m[0].session, 2);
    assert_string_equal(f.m[0].json, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"n\":2}}");
    assert_int_equal(f.m[1].session, 1);
    assert_string_equal(f.m[1].json, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"n\":1}}");
    assert_int_equal(stats(&f).dropped, sizeof junk / sizeof junk[0] + 1);
    /* sessions' junk is refused without side effects */
    assert_int_equal(down(&f, 1, "{\"id\":1}"), MCPHUB_E_INVAL);
    assert_int_equal(down(&f, 1, "{"), MCPHUB_E_PARSE);
    assert_int_equal(down(&f, 1, "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]"), MCPHUB_E_INVAL);
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}"),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(f.n, 2);
    teardown(&f);
}

static void test_bounds(void **state)
{
    mcphub_mux_opts o;
    char big[600];
    fx f;
    int i;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_sessions = 2;
    o.max_in_flight = 3;
    o.max_server_requests = 1;
    o.max_message_bytes = 300;
    setup_with(&f, &o, NULL);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), MCPHUB_E_EXISTS);
    assert_int_equal(mcphub_mux_session_open(f.mux, 2, 8), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_session_open(f.mux, 2, 0), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 3, 0), MCPHUB_E_FULL);
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), MCPHUB_E_EXISTS);
    assert_int_equal(down(&f, 1, TOOL_CALL("2", "1")), 0);
    assert_int_equal(down(&f, 2, TOOL_CALL("1", "2")), 0);
    assert_int_equal(down(&f, 2, TOOL_CALL("2", "2")), MCPHUB_E_FULL);
    assert_int_equal(f.n, 3);
    assert_int_equal(stats(&f).in_flight, 3);
    /* message size, either way */
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    assert_int_equal(down(&f, 2, "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"x\":\"%s\"}}",
                          big), MCPHUB_E_TOOBIG);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"x\":\"%s\"}}",
                        big), MCPHUB_E_TOOBIG);
    assert_int_equal(f.n, 3);
    /* session 2's call (upstream id 3) ends, so session 1 alone is in flight */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}"), 0);
    assert_int_equal(last(&f)->session, 2);
    /* one server request pending at most; a repeated server id is refused */
    assert_int_equal(up(&f, sampling, "1"), 0);
    assert_int_equal(last(&f)->session, 1);
    assert_int_equal(up(&f, sampling, "1"), MCPHUB_MUX_CONSUMED);
    assert_true(has(last(&f)->json, "\"code\":-32600"));
    assert_int_equal(up(&f, sampling, "2"), MCPHUB_MUX_CONSUMED);
    assert_true(has(last(&f)->json, "\"id\":2,\"error\":{\"code\":-32603"));
    assert_true(has(last(&f)->json, "too many server requests pending"));
    assert_int_equal(stats(&f).server_requests, 1);
    teardown(&f);

    /* ids and tokens past MCPHUB_MUX_MAX_ID_BYTES */
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), 0);
    for (i = 0; i < 300; i++)
        big[i] = 'i';
    big[MCPHUB_MUX_MAX_ID_BYTES - 2] = '\0'; /* with quotes: exactly the bound */
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"x\"}", big), 0);
    big[MCPHUB_MUX_MAX_ID_BYTES - 2] = 'i';
    big[MCPHUB_MUX_MAX_ID_BYTES - 1] = '\0';
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"x\"}", big),
                     MCPHUB_E_TOOBIG);
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":"
                                 "{\"_meta\":{\"progressToken\":\"%s\"}}}", big),
                     MCPHUB_E_TOOBIG);
    assert_int_equal(stats(&f).in_flight, 1);
    teardown(&f);
}

static void test_callback_failures_change_nothing(void **state)
{
    long long a;
    fx f;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, 0), 0);
    f.fail_up = MCPHUB_E_WOULDBLOCK;
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), MCPHUB_E_WOULDBLOCK);
    assert_int_equal(stats(&f).in_flight, 0);
    assert_int_equal(stats(&f).upstream_msgs, 0);
    f.fail_up = 0;
    /* the retry is accepted and the failed attempt used no id */
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    a = last_up_id(&f);
    assert_int_equal(a, 1);
    f.fail_down = MCPHUB_E_CALLBACK;
    f.fail_session = 1;
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"), MCPHUB_E_CALLBACK);
    assert_int_equal(stats(&f).in_flight, 1);
    f.fail_down = 0;
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"), 0);
    assert_int_equal(last(&f)->session, 1);
    assert_int_equal(stats(&f).in_flight, 0);
    /* the owner's request is not recorded when it cannot be sent */
    {
        uint64_t tok = 77;

        f.fail_up = MCPHUB_E_CALLBACK;
        assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok), MCPHUB_E_CALLBACK);
        assert_int_equal(tok, 77);
        assert_int_equal(stats(&f).in_flight, 0);
        /* closing still forgets everything, and reports the failure */
        f.fail_up = 0;
        assert_int_equal(down(&f, 1, TOOL_CALL("2", "1")), 0);
        f.fail_up = MCPHUB_E_CALLBACK;
        assert_int_equal(mcphub_mux_session_close(f.mux, 1), MCPHUB_E_CALLBACK);
        assert_int_equal(stats(&f).sessions, 0);
        assert_int_equal(stats(&f).in_flight, 0);
    }
    teardown(&f);
}

static void test_upstream_closed(void **state)
{
    uint64_t tok;
    fx f;

    (void)state;
    setup(&f);
    open_four(&f);
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    /* the owner's request in flight does not count: A alone is routed to */
    assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok), 0);
    assert_int_equal(up(&f, sampling, "0"), 0);
    assert_int_equal(last(&f)->session, SA);
    assert_int_equal(down(&f, SB, TOOL_CALL("9", "2")), 0);
    clear(&f);
    assert_int_equal(mcphub_mux_upstream_closed(f.mux, NULL), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(count(&f, DOWN, SA), 1);
    assert_int_equal(count(&f, DOWN, SB), 1);
    assert_int_equal(count(&f, INTERNAL, 0), 1);
    {
        size_t i;

        for (i = 0; i < 3; i++) {
            const msg *m = &f.m[i];

            assert_true(has(m->json, "\"error\":{\"code\":-32000,\"message\":"
                                     "\"MCP server connection closed\"}"));
            if (m->dir == DOWN && m->session == SA)
                assert_true(has(m->json, "\"id\":\"a1\""));
            if (m->dir == DOWN && m->session == SB)
                assert_true(has(m->json, "\"id\":9,"));
            if (m->dir == INTERNAL)
                assert_int_equal(m->session, tok);
        }
    }
    assert_int_equal(stats(&f).in_flight, 0);
    assert_int_equal(stats(&f).server_requests, 0);
    assert_int_equal(stats(&f).sessions, 4);
    assert_int_equal(mcphub_mux_upstream_closed(f.mux, "bad \xff"), MCPHUB_E_INVAL);
    /* a restarted server: same sessions, fresh traffic; nobody is in flight
     * any more, so A's new call alone is routed to, and B's makes it
     * ambiguous again */
    assert_int_equal(down(&f, SA, TOOL_CALL("\"a1\"", "1")), 0);
    clear(&f);
    assert_int_equal(up(&f, sampling, "1"), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(last(&f)->session, SA);
    assert_string_equal(last(&f)->related, "\"a1\"");
    assert_int_equal(down(&f, SB, TOOL_CALL("9", "2")), 0);
    assert_int_equal(up(&f, sampling, "2"), MCPHUB_MUX_CONSUMED);
    assert_ambiguous_refusal(&f, 2, "2", "sampling/createMessage");
    teardown(&f);
}

static void test_tick_expires_unanswered_requests(void **state)
{
    long long a, a2, b;
    uint64_t tok;
    json_t *j;
    fx f;

    (void)state;
    setup(&f);
    assert_int_equal(mcphub_mux_session_open(f.mux, 1, MCPHUB_MUX_CAP_SAMPLING), 0);
    assert_int_equal(mcphub_mux_session_open(f.mux, 2, 0), 0);
    assert_int_equal(down(&f, 1, TOOL_CALL("1", "1")), 0);
    a = last_up_id(&f);
    assert_int_equal(down(&f, 2, TOOL_CALL("\"b-7\"", "2")), 0);
    b = last_up_id(&f);
    assert_int_equal(mcphub_mux_request(f.mux, "tools/list", NULL, &tok), 0);
    clear(&f);
    /* ticks 1 and 2: nothing is old enough */
    assert_int_equal(mcphub_mux_tick(f.mux, 3, NULL), 0);
    assert_int_equal(mcphub_mux_tick(f.mux, 3, NULL), 0);
    assert_int_equal(f.n, 0);
    /* session 1: one answered in time, one forwarded later (at tick 2) */
    assert_int_equal(down(&f, 1, TOOL_CALL("2", "1")), 0);
    a2 = last_up_id(&f);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a), 0);
    assert_int_equal(last(&f)->session, 1);
    assert_int_equal(stats(&f).in_flight, 3);
    clear(&f);
    /* tick 3: session 2's request is 3 ticks old, the others are not */
    assert_int_equal(mcphub_mux_tick(f.mux, 3, "Request timed out after 3000 ms"), 1);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.m[0].dir, DOWN);
    assert_int_equal(f.m[0].session, 2);
    assert_string_equal(f.m[0].related, "\"b-7\"");
    assert_string_equal(f.m[0].json, "{\"jsonrpc\":\"2.0\",\"id\":\"b-7\",\"error\":{\"code\":"
                                     "-32001,\"message\":\"Request timed out after 3000 ms\"}}");
    assert_int_equal(f.m[1].dir, UP);
    j = parse(f.m[1].json);
    assert_string_equal(json_string_value(at(j, "method")), "notifications/cancelled");
    assert_int_equal(json_integer_value(at(j, "params.requestId")), b);
    assert_string_equal(json_string_value(at(j, "params.reason")), "timed out");
    assert_null(at(j, "id"));
    json_decref(j);
    assert_int_equal(stats(&f).in_flight, 2);
    assert_int_equal(count(&f, DOWN, 1), 0);
    /* the late answer and late progress are dropped */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", b),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":%lld,\"progress\":1}}", b),
                     MCPHUB_MUX_DROPPED);
    assert_int_equal(f.n, 2);
    /* session 2 is no longer busy: session 1 alone takes a sampling request */
    assert_int_equal(up(&f, sampling, "\"s\""), 0);
    assert_int_equal(last(&f)->session, 1);
    assert_string_equal(last(&f)->related, "2");
    assert_int_equal(down(&f, 1, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
                     int_at(last(&f)->json, "id")), 0);
    /* session 1's later request still gets its answer */
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", a2), 0);
    assert_int_equal(last(&f)->session, 1);
    assert_true(has(last(&f)->json, "\"id\":2,\"result\""));
    /* the id is free again; the default message; the owner's request stays */
    assert_int_equal(down(&f, 2, TOOL_CALL("\"b-7\"", "2")), 0);
    clear(&f);
    assert_int_equal(mcphub_mux_tick(f.mux, 1, NULL), 1);
    assert_int_equal(f.n, 2);
    assert_true(has(f.m[0].json, "\"id\":\"b-7\",\"error\":{\"code\":-32001,"
                                 "\"message\":\"Request timed out\"}"));
    assert_int_equal(stats(&f).in_flight, 1);
    assert_int_equal(mcphub_mux_tick(f.mux, 1, NULL), 0);
    assert_int_equal(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":{}}",
                        (unsigned long long)tok), 0);
    assert_int_equal(last(&f)->dir, INTERNAL);
    assert_int_equal(stats(&f).in_flight, 0);
    /* a callback failure does not keep the request */
    assert_int_equal(down(&f, 2, TOOL_CALL("3", "2")), 0);
    f.fail_down = MCPHUB_E_CALLBACK;
    f.fail_session = 2;
    assert_int_equal(mcphub_mux_tick(f.mux, 1, NULL), 1);
    assert_int_equal(stats(&f).in_flight, 0);
    f.fail_down = 0;
    assert_int_equal(mcphub_mux_tick(NULL, 1, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_tick(f.mux, 0, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_mux_tick(f.mux, 1, "bad \xff"), MCPHUB_E_INVAL);
    teardown(&f);
}

static void test_new_and_stats_rules(void **state)
{
    mcphub_mux_callbacks cb;
    mcphub_mux_stats small;
    mcphub_mux *mux = NULL;
    fx f;
    struct { mcphub_mux_opts o; char extra[8]; } bigger;

    (void)state;
    cb = callbacks(&f);
    cb.send_downstream = NULL;
    assert_int_equal(mcphub_mux_new(&mux, &cb, NULL, NULL), MCPHUB_E_INVAL);
    cb = callbacks(&f);
    assert_int_equal(mcphub_mux_new(&mux, NULL, NULL, NULL), MCPHUB_E_INVAL);
    memset(&bigger, 0, sizeof bigger);
    bigger.o.size = sizeof bigger;
    bigger.extra[0] = 1;
    assert_int_equal(mcphub_mux_new(&mux, &cb, &bigger.o, NULL), MCPHUB_E_INVAL);
    bigger.extra[0] = 0;
    assert_int_equal(mcphub_mux_new(&mux, &cb, &bigger.o, NULL), 0);
    assert_int_equal(mcphub_mux_session_open(mux, 1, 0), 0);
    /* an older caller's smaller stats struct: fields past its size untouched */
    memset(&small, 0xAB, sizeof small);
    small.size = offsetof(mcphub_mux_stats, in_flight);
    mcphub_mux_get_stats(mux, &small);
    assert_int_equal(small.sessions, 1);
    assert_int_equal(small.in_flight, 0xABABABABu);
    mcphub_mux_free(mux);
    mcphub_mux_free(NULL);
}

/* ---- failing allocator over a multi-session scenario ------------------- */

/* Run call; when it fails for want of memory, check it changed nothing,
 * stop failing allocations and run it again. */
#define STEP(expr, want)                                                                  \
    do {                                                                                  \
        mcphub_mux_stats before_ = stats(&f);                                             \
        size_t n_ = f.n;                                                                  \
        int rc_ = (expr);                                                                 \
        if (rc_ == MCPHUB_E_NOMEM) {                                                      \
            mcphub_mux_stats after_ = stats(&f);                                          \
            assert_memory_equal(&before_, &after_, sizeof before_);                       \
            assert_int_equal(f.n, n_);                                                    \
            met = 1;                                                                      \
            fa->fail_at = 0;                                                              \
            rc_ = (expr);                                                                 \
        }                                                                                 \
        assert_int_equal(rc_, (want));                                                    \
    } while (0)

static int mux_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_mux_callbacks cb;
    mcphub_mux_opts o;
    long long ids[6][2], x;
    uint64_t tok = 0;
    int met = 0, rc;
    uint64_t s;
    fx f;

    (void)arg;
    memset(&f, 0, sizeof f);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    cb = callbacks(&f);
    rc = mcphub_mux_new(&f.mux, &cb, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(f.mux);
        return rc;
    }
    for (s = 1; s <= 5; s++)
        STEP(mcphub_mux_session_open(f.mux, s, s <= 2 ? MCPHUB_MUX_CAP_SAMPLING : 0), 0);
    STEP(mcphub_mux_request(f.mux, "initialize", "{\"protocolVersion\":\"2025-06-18\"}", &tok),
         0);
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":{}}", (unsigned long long)tok), 0);
    for (s = 1; s <= 5; s++) {
        STEP(down(&f, s, TOOL_CALL("1", "1")), 0);
        ids[s][0] = last_up_id(&f);
        STEP(down(&f, s, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"resources/read\","
                         "\"params\":{\"uri\":\"file:///%d\"}}", (int)s), 0);
        ids[s][1] = last_up_id(&f);
    }
    for (s = 1; s <= 5; s++)
        STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                    "{\"progressToken\":%lld,\"progress\":1}}", ids[s][0]), 0);
    /* sessions 1 and 2 both capable and in flight: refused upstream */
    STEP(up(&f, sampling, "\"q\""), MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"q\",\"error\":{\"code\":-32603,"));
    /* session 1's requests end: session 2 is the only capable one in
     * flight, but 3, 4 and 5 (not capable) still are too: refused */
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", ids[1][0]), 0);
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", ids[1][1]), 0);
    STEP(up(&f, sampling, "\"q\""), MCPHUB_MUX_CONSUMED);
    assert_int_equal(last(&f)->dir, UP);
    assert_true(has(last(&f)->json, "\"id\":\"q\",\"error\":{\"code\":-32603,"));
    /* 4 cancels one request and its other ends, 3 closes, 5's end: session
     * 2 alone is left in flight and takes it */
    STEP(down(&f, 4, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                     "\"params\":{\"requestId\":\"x\"}}"), 0);
    STEP(up(&f, "{ \"jsonrpc\": \"2.0\", \"id\": %lld, \"result\": {} }", ids[4][0]), 0);
    STEP(mcphub_mux_session_close(f.mux, 3), 0);
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", ids[5][0]), 0);
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", ids[5][1]), 0);
    STEP(up(&f, sampling, "\"q\""), 0);
    x = int_at(last(&f)->json, "id");
    assert_int_equal(last(&f)->dir, DOWN);
    assert_int_equal(last(&f)->session, 2);
    STEP(down(&f, 2, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", x), 0);
    STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}"), 0);
    for (s = 2; s <= 3; s++) {
        int gone = s == 3;

        STEP(up(&f, "{ \"jsonrpc\": \"2.0\", \"id\": %lld, \"result\": {} }", ids[s][0]),
             gone ? MCPHUB_MUX_DROPPED : 0);
        STEP(up(&f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", ids[s][1]),
             gone ? MCPHUB_MUX_DROPPED : 0);
    }
    STEP(down(&f, 1, TOOL_CALL("7", "1")), 0);
    STEP(mcphub_mux_tick(f.mux, 1, "a long message, so the scratch buffer may have to grow "
                                   "to hold it: timed out after 60000 ms"), 1);
    STEP(down(&f, 1, TOOL_CALL("7", "1")), 0);
    STEP(mcphub_mux_upstream_closed(f.mux, "child exited"), 0);
    {
        mcphub_mux_stats st = stats(&f);

        assert_int_equal(st.sessions, 4);
        assert_int_equal(st.in_flight, 0);
        assert_int_equal(st.dropped, 2);
        assert_int_equal(st.refused, 2);
        /* 5 progress + 2 answers to 1 + 1 to 4 (after its cancel) + 2 to 5
         * + 1 sampling + 4 broadcast (after 3 closed) + 2 answers to 2 + 1
         * timeout + 1 error when the connection closed */
        assert_int_equal(count(&f, DOWN, 0), 5 + 2 + 1 + 2 + 1 + 4 + 2 + 1 + 1);
    }
    mcphub_mux_free(f.mux);
    clear(&f);
    free(f.m);
    return met ? MCPHUB_E_NOMEM : 0;
}

static void test_under_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(mux_scenario, NULL) > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifty_sessions_same_ids),
        cmocka_unit_test(test_ids_and_tokens_keep_their_form),
        cmocka_unit_test(test_cancellation_from_sessions),
        cmocka_unit_test(test_session_close),
        cmocka_unit_test(test_broadcast_notifications),
        cmocka_unit_test(test_server_requests_routing),
        cmocka_unit_test(test_incapable_session_in_flight_blocks_routing),
        cmocka_unit_test(test_routed_when_only_capable_session_busy),
        cmocka_unit_test(test_busy_count_on_every_path),
        cmocka_unit_test(test_server_cancels_its_request),
        cmocka_unit_test(test_internal_requests_and_handshake),
        cmocka_unit_test(test_malformed_upstream_is_dropped),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_callback_failures_change_nothing),
        cmocka_unit_test(test_upstream_closed),
        cmocka_unit_test(test_tick_expires_unanswered_requests),
        cmocka_unit_test(test_new_and_stats_rules),
        cmocka_unit_test(test_under_failing_allocator),
    };
    return cmocka_run_group_tests_name("mux", tests, NULL, NULL);
}
