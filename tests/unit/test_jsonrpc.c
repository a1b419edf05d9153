/* Unit tests: JSON-RPC classification, rewriting and builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/jsonrpc.h>

#include "core/jsonrpc_int.h"
#include "fakes/fakes.h"

static int classify(mcphub_jsonrpc_msg *m, const char *s)
{
    return mcphub_jsonrpc_classify(m, s, strlen(s), 0);
}

static int span_eq(mcphub_jsonrpc_span sp, const char *want)
{
    if (want == NULL)
        return sp.ptr == NULL;
    return sp.ptr != NULL && sp.len == strlen(want) && memcmp(sp.ptr, want, sp.len) == 0;
}

/* ---- classification table --------------------------------------------- */

typedef struct row {
    const char *json;
    int rc;
    mcphub_jsonrpc_kind kind;
    const char *method;  /* expected decoded method, or NULL for "" */
    const char *id;      /* raw id, or NULL when absent */
    int reply;           /* error_reply */
} row;

static const row table[] = {
    /* valid */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 0, MCPHUB_JSONRPC_REQUEST,
     "tools/list", "1", 0},
    {"{\"method\":\"ping\",\"id\":\"hb1\",\"jsonrpc\":\"2.0\"}", 0, MCPHUB_JSONRPC_REQUEST,
     "ping", "\"hb1\"", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"method\":\"x\",\"params\":[1,2]}", 0,
     MCPHUB_JSONRPC_REQUEST, "x", "\"7\"", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":-42,\"method\":\"x\",\"params\":{}}", 0,
     MCPHUB_JSONRPC_REQUEST, "x", "-42", 0},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 0,
     MCPHUB_JSONRPC_NOTIFICATION, "notifications/initialized", NULL, 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}", 0, MCPHUB_JSONRPC_RESPONSE, NULL, "0", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}", 0, MCPHUB_JSONRPC_RESPONSE, NULL,
     "\"a\"", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}",
     0, MCPHUB_JSONRPC_ERROR, NULL, "null", 0},
    {"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"m\",\"data\":[1]}}", 0,
     MCPHUB_JSONRPC_ERROR, NULL, NULL, 0},
    {"[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"b\"},3]",
     0, MCPHUB_JSONRPC_BATCH, NULL, NULL, 0},
    {" \r\n\t{\"jsonrpc\" : \"2.0\" ,\n \"id\" : 5 , \"method\" : \"m\" } \n", 0,
     MCPHUB_JSONRPC_REQUEST, "m", "5", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools\\/call\\u00e9\"}", 0,
     MCPHUB_JSONRPC_REQUEST, "tools/call\xc3\xa9", "1", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"extra\":{\"id\":9},\"extra\":1}", 0,
     MCPHUB_JSONRPC_REQUEST, "x", "1", 0},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"s\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}}", 0,
     MCPHUB_JSONRPC_RESPONSE, NULL, "1", 0},
    /* not JSON */
    {"", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"   ", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID,
     NULL, NULL, -32700},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}}", MCPHUB_E_PARSE,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"x\"}", MCPHUB_E_PARSE,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",}", MCPHUB_E_PARSE,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"jsonrpc\":'2.0'}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\\x\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\\u12g4\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"tab\there\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\xc3\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\xc0\xaf\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\xed\xa0\x80\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":\"\xf4\x90\x80\x80\"}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL,
     -32700},
    {"{\"a\":tru}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":1.}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":-}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    {"{\"a\":1e}", MCPHUB_E_PARSE, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32700},
    /* JSON, not JSON-RPC */
    {"42", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"\"str\"", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"[]", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{\"id\":1,\"method\":\"x\"}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID,
     NULL, "1", -32600},
    {"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"x\"}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID,
     NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, NULL, -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "null", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID,
     NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"s\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "1", -32602},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"m\"}}",
     MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"result\":{}}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, NULL,
     -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID,
     NULL, "null", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,\"message\":\"m\"}}",
     MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":99999999999999999999,\"message\":\"m\"}}",
     MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1",
     -32600},
    /* a repeated member would let two parsers see two different messages */
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "2", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"\\u0069d\":2,\"method\":\"x\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "2", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"_meta\":{}},"
     "\"params\":{}}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"_meta\":"
     "{\"progressToken\":1,\"progressToken\":2}}}", MCPHUB_E_INVAL, MCPHUB_JSONRPC_INVALID,
     NULL, "1", -32600},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", MCPHUB_E_INVAL,
     MCPHUB_JSONRPC_INVALID, NULL, "1", -32600},
};

static void test_classification_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        const row *t = &table[i];
        mcphub_jsonrpc_msg m;
        int rc = classify(&m, t->json);

        if (rc != t->rc || m.kind != t->kind)
            fail_msg("row %zu (%s): rc %d kind %d, want %d %d (%s)", i, t->json, rc, m.kind,
                     t->rc, t->kind, m.reason ? m.reason : "");
        assert_string_equal(m.method, t->method ? t->method : "");
        if (!span_eq(m.id, t->id))
            fail_msg("row %zu: id %.*s", i, (int)m.id.len, m.id.ptr ? m.id.ptr : "");
        assert_int_equal(m.error_reply, t->reply);
        if (rc == 0)
            assert_null(m.reason);
        else
            assert_non_null(m.reason);
    }
}

static void test_members_and_spans(void **state)
{
    mcphub_jsonrpc_msg m;
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"tools/call\",\"params\":"
                      "{\"name\":\"echo\",\"progressToken\":\"outer\",\"_meta\":"
                      "{\"progressToken\":17}}}";
    const char *prog = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                       "{\"progressToken\":\"p7\",\"progress\":0.5,\"_meta\":{\"progressToken\":1}}}";
    const char *canc = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                       "{\"requestId\":\"r\\\"1\",\"reason\":\"x\"}}";
    const char *err = "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,"
                      "\"message\":\"Method not found\",\"data\":{\"m\":\"x\"}}}";

    (void)state;
    assert_int_equal(classify(&m, req), 0);
    assert_true(span_eq(m.id, "\"x-1\""));
    assert_true(span_eq(m.progress_token, "17")); /* requests: _meta.progressToken */
    assert_null(m.request_id.ptr);
    assert_true(m.params.ptr != NULL && m.params.ptr[0] == '{');
    assert_int_equal(m.params.ptr[m.params.len - 1], '}');
    assert_int_equal(m.compact, 1);

    assert_int_equal(classify(&m, prog), 0);
    assert_int_equal(m.kind, MCPHUB_JSONRPC_NOTIFICATION);
    assert_true(span_eq(m.progress_token, "\"p7\"")); /* progress: params.progressToken */

    assert_int_equal(classify(&m, canc), 0);
    assert_true(span_eq(m.request_id, "\"r\\\"1\""));
    assert_null(m.progress_token.ptr);

    assert_int_equal(classify(&m, err), 0);
    assert_int_equal(m.kind, MCPHUB_JSONRPC_ERROR);
    assert_int_equal(m.error_code, -32601);
    assert_true(span_eq(m.error_message, "\"Method not found\""));
    assert_true(span_eq(m.error_data, "{\"m\":\"x\"}"));

    assert_int_equal(classify(&m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":[1, 2]}}"), 0);
    assert_true(span_eq(m.result, "{\"a\":[1, 2]}"));
    assert_int_equal(m.compact, 0);
    /* whitespace inside strings does not count */
    assert_int_equal(classify(&m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a b\\n\"}"), 0);
    assert_int_equal(m.compact, 1);
    assert_int_equal(classify(&m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":"
                                  "-9223372036854775808,\"message\":\"\"}}"), 0);
    assert_true(m.error_code == INT64_MIN);
    assert_int_equal(mcphub_jsonrpc_classify(NULL, "{}", 2, 0), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_classify(&m, NULL, 0, 0), MCPHUB_E_INVAL);
}

static void test_method_length_bound(void **state)
{
    char buf[400], name[200];
    mcphub_jsonrpc_msg m;

    (void)state;
    memset(name, 'a', sizeof name);
    name[MCPHUB_JSONRPC_METHOD_MAX - 1] = '\0';
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}", name);
    assert_int_equal(classify(&m, buf), 0);
    assert_int_equal(strlen(m.method), MCPHUB_JSONRPC_METHOD_MAX - 1);
    name[MCPHUB_JSONRPC_METHOD_MAX - 1] = 'a';
    name[MCPHUB_JSONRPC_METHOD_MAX] = '\0';
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}", name);
    assert_int_equal(classify(&m, buf), MCPHUB_E_INVAL);
    assert_string_equal(m.method, "");
}

static char *nested(int depth, char open, char close)
{
    char *s = malloc((size_t)depth * 2 + 64);
    size_t n = 0;
    int i;

    n += (size_t)sprintf(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":");
    for (i = 1; i < depth; i++)
        s[n++] = open;
    for (i = 1; i < depth; i++)
        s[n++] = close;
    if (depth == 1)
        s[n++] = '0';
    strcpy(s + n, "}");
    return s;
}

static void test_depth_and_size_limits(void **state)
{
    mcphub_jsonrpc_msg m;
    char *ok = nested(MCPHUB_JSONRPC_MAX_DEPTH, '[', ']');
    char *deep = nested(MCPHUB_JSONRPC_MAX_DEPTH + 1, '[', ']');
    char *huge = nested(100000, '[', ']');
    const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}";

    (void)state;
    assert_int_equal(classify(&m, ok), 0); /* the outer object is level 1 */
    assert_int_equal(classify(&m, deep), MCPHUB_E_TOOBIG);
    assert_non_null(strstr(m.reason, "64"));
    assert_true(span_eq(m.id, "1")); /* still useful for the error reply */
    assert_int_equal(classify(&m, huge), MCPHUB_E_TOOBIG); /* no stack overflow */
    assert_int_equal(mcphub_jsonrpc_classify(&m, msg, strlen(msg), strlen(msg)), 0);
    assert_int_equal(mcphub_jsonrpc_classify(&m, msg, strlen(msg), strlen(msg) - 1),
                     MCPHUB_E_TOOBIG);
    assert_int_equal(m.error_reply, MCPHUB_JSONRPC_INVALID_REQUEST);
    assert_non_null(strstr(m.reason, "size limit"));
    {
        const char *r = strstr(ok, "\"result\":") + 9;

        assert_int_equal(mcphub__json_check(r, strlen(r) - 1), 0);
    }
    free(ok);
    free(deep);
    free(huge);
}

static void test_truncations_never_parse(void **state)
{
    const char *msgs[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"a\\u00e9\\n\",\"arguments\":{\"x\":[1,-2.5e3,true,false,null,{}]}}}",
        "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"id\":\"\xe2\x82\xac\","
        "\"result\":{}}]",
    };
    size_t k, n;

    (void)state;
    for (k = 0; k < 2; k++) {
        size_t len = strlen(msgs[k]);

        for (n = 0; n < len; n++) {
            mcphub_jsonrpc_msg m;
            char *copy = malloc(n + 1);
            int rc;

            memcpy(copy, msgs[k], n); /* exact length: a read past it trips ASan */
            rc = mcphub_jsonrpc_classify(&m, copy, n, 0);
            if (rc != MCPHUB_E_PARSE)
                fail_msg("prefix %zu of message %zu gave %d", n, k, rc);
            free(copy);
        }
    }
}

static void test_random_bytes_stay_in_bounds(void **state)
{
    static const char alphabet[] = "{}[]\":,\\ 0123456789.-eEtrufalsn\"\"\"u\x80\xc3\xa9\n";
    fake_random rnd = {12345};
    int round;

    (void)state;
    for (round = 0; round < 20000; round++) {
        size_t len = fake_random_next(&rnd) % 40, i;
        char *buf = malloc(len + 1);
        mcphub_jsonrpc_msg m;
        int rc;

        for (i = 0; i < len; i++)
            buf[i] = alphabet[fake_random_next(&rnd) % (sizeof alphabet - 1)];
        rc = mcphub_jsonrpc_classify(&m, buf, len, 0);
        assert_true(rc == 0 || rc == MCPHUB_E_PARSE || rc == MCPHUB_E_INVAL);
        if (m.id.ptr != NULL)
            assert_true(m.id.ptr >= buf && m.id.ptr + m.id.len <= buf + len);
        free(buf);
    }
}

static void test_batch_iteration(void **state)
{
    const char *b = " [ {\"jsonrpc\":\"2.0\",\"method\":\"a\"} ,\n{\"x\":[1,2]}, 3 ] ";
    const char *items[] = {"{\"jsonrpc\":\"2.0\",\"method\":\"a\"}", "{\"x\":[1,2]}", "3"};
    mcphub_jsonrpc_span it;
    mcphub_jsonrpc_msg m;
    size_t pos = 0;
    int i = 0, rc;

    (void)state;
    assert_int_equal(classify(&m, b), 0);
    assert_int_equal(m.batch_len, 3);
    while ((rc = mcphub_jsonrpc_batch_next(b, strlen(b), &pos, &it)) == 1) {
        assert_true(i < 3);
        assert_true(span_eq(it, items[i]));
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, 3);
    assert_int_equal(mcphub_jsonrpc_batch_next(b, strlen(b), &pos, &it), 0);
    pos = 0;
    assert_int_equal(mcphub_jsonrpc_batch_next("[]", 2, &pos, &it), 0);
    pos = 0;
    assert_int_equal(mcphub_jsonrpc_batch_next("{}", 2, &pos, &it), MCPHUB_E_PARSE);
    pos = 0;
    assert_int_equal(mcphub_jsonrpc_batch_next("[1 2]", 5, &pos, &it), 1);
    assert_int_equal(mcphub_jsonrpc_batch_next("[1 2]", 5, &pos, &it), MCPHUB_E_PARSE);
    assert_int_equal(mcphub_jsonrpc_batch_next(NULL, 0, &pos, &it), MCPHUB_E_INVAL);
}

/* ---- rewriting -------------------------------------------------------- */

static void test_rewrite_edits_and_compacts(void **state)
{
    const char *in = "{ \"jsonrpc\" : \"2.0\",\n  \"id\" : \"abc\" , \"method\":\"tools/call\","
                     " \"params\" : { \"_meta\" : { \"progressToken\" : 5 },"
                     " \"x\" : [ 0.1 , 1E400, \"s p\\\" a\\\\\" , -0 ] } }\n";
    const char *want = "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":"
                       "{\"_meta\":{\"progressToken\":\"T\"},\"x\":[0.1,1E400,\"s p\\\" a\\\\\",-0]}}";
    mcphub_jsonrpc_msg m;
    mcphub_jsonrpc_edit e[2];
    char buf[512], small[10];
    size_t n;

    (void)state;
    assert_int_equal(classify(&m, in), 0);
    e[0].at = m.id;
    e[0].with = "42";
    e[0].with_len = 2;
    e[1].at = m.progress_token;
    e[1].with = "\"T\"";
    e[1].with_len = 3;
    n = mcphub_jsonrpc_rewrite(buf, sizeof buf, in, strlen(in), e, 2);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    assert_null(memchr(buf, '\n', n));
    /* too small: the needed size is still reported */
    assert_int_equal(mcphub_jsonrpc_rewrite(small, sizeof small, in, strlen(in), e, 2), n);
    assert_int_equal(mcphub_jsonrpc_rewrite(NULL, 0, in, strlen(in), e, 2), n);
    /* no edits: plain compaction */
    n = mcphub_jsonrpc_rewrite(buf, sizeof buf, "[1, \"a  b\" ,\t{ } ]", 18, NULL, 0);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "[1,\"a  b\",{}]", 13);
    /* edits out of order or outside the text are refused */
    {
        mcphub_jsonrpc_edit bad[2] = {e[1], e[0]};

        assert_int_equal(mcphub_jsonrpc_rewrite(buf, sizeof buf, in, strlen(in), bad, 2), 0);
        bad[0].at.ptr = "elsewhere";
        assert_int_equal(mcphub_jsonrpc_rewrite(buf, sizeof buf, in, strlen(in), bad, 1), 0);
    }
}

/* ---- builders --------------------------------------------------------- */

static void test_error_response(void **state)
{
    char *out;
    size_t n;
    mcphub_jsonrpc_msg m;

    (void)state;
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, NULL, 0, -32700, NULL, NULL), 0);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                             "\"message\":\"Parse error\"}}");
    assert_int_equal(n, strlen(out));
    free(out);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "\"a\\\"b\"", 6, -32601,
                                                   "no \"x\"\n\x01 \xc3\xa9", NULL), 0);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"error\":{\"code\":-32601,"
                             "\"message\":\"no \\\"x\\\"\\n\\u0001 \xc3\xa9\"}}");
    assert_int_equal(classify(&m, out), 0);
    assert_int_equal(m.kind, MCPHUB_JSONRPC_ERROR);
    assert_int_equal(m.error_code, -32601);
    free(out);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "17", 2, -32603, "x", NULL), 0);
    assert_int_equal(classify(&m, out), 0);
    assert_true(span_eq(m.id, "17"));
    free(out);
    /* ids that are not ids, messages that are not UTF-8 */
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "1.5", 3, -32600, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "1,\"x\":2", 7, -32600, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "{}", 2, -32600, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, " 1", 2, -32600, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_error_response(&out, &n, "1", 1, -32600, "\xff", NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_error_response(NULL, &n, "1", 1, -32600, NULL, NULL),
                     MCPHUB_E_INVAL);
}

static void test_result_response(void **state)
{
    char *out;
    size_t n;

    (void)state;
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, "\"hb1\"", 5, NULL, 0, NULL), 0);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":\"hb1\",\"result\":{}}");
    assert_int_equal(n, strlen(out));
    free(out);
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, "3", 1, "{ \"a\" :\n [1, 0.1] }",
                                                    19, NULL), 0);
    assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"a\":[1,0.1]}}");
    free(out);
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, "null", 4, NULL, 0, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, "1", 1, "{", 1, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_jsonrpc_result_response(&out, &n, "1", 1, "{} {}", 5, NULL),
                     MCPHUB_E_INVAL);
}

static int builders_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    char *a = NULL, *b = NULL;
    size_t na, nb;
    int rc;

    (void)arg;
    rc = mcphub_jsonrpc_error_response(&a, &na, "1", 1, -32601, "gone", &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(a);
        return rc;
    }
    rc = mcphub_jsonrpc_result_response(&b, &nb, "1", 1, "{\"ok\":true}", 11, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(b);
        mem.free_fn(a, mem.user_data);
        return rc;
    }
    assert_string_equal(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}");
    mem.free_fn(a, mem.user_data);
    mem.free_fn(b, mem.user_data);
    return 0;
}

static void test_builders_under_failing_allocator(void **state)
{
    (void)state;
    assert_int_equal(fake_alloc_loop(builders_scenario, NULL), 2);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mcphub_jsonrpc_error_text(-32700), "Parse error");
    assert_string_equal(mcphub_jsonrpc_error_text(-32600), "Invalid Request");
    assert_string_equal(mcphub_jsonrpc_error_text(-32601), "Method not found");
    assert_string_equal(mcphub_jsonrpc_error_text(-32602), "Invalid params");
    assert_string_equal(mcphub_jsonrpc_error_text(-32603), "Internal error");
    assert_string_equal(mcphub_jsonrpc_error_text(-32001), "Server error");
    assert_string_equal(mcphub_jsonrpc_kind_name(MCPHUB_JSONRPC_BATCH), "batch");
    assert_string_equal(mcphub_jsonrpc_kind_name((mcphub_jsonrpc_kind)77), "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification_table),
        cmocka_unit_test(test_members_and_spans),
        cmocka_unit_test(test_method_length_bound),
        cmocka_unit_test(test_depth_and_size_limits),
        cmocka_unit_test(test_truncations_never_parse),
        cmocka_unit_test(test_random_bytes_stay_in_bounds),
        cmocka_unit_test(test_batch_iteration),
        cmocka_unit_test(test_rewrite_edits_and_compacts),
        cmocka_unit_test(test_error_response),
        cmocka_unit_test(test_result_response),
        cmocka_unit_test(test_builders_under_failing_allocator),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("jsonrpc", tests, NULL, NULL);
}
