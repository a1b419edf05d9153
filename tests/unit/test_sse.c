/* Unit tests: SSE parser (chunking, line ends, BOM, bounds) and writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/sse.h>

#include "fakes/fakes.h"

/* Events flattened to "event|data|id|retry" lines, so runs compare as text. */
typedef struct seen {
    char text[8192];
    size_t len;
    int count;
    int stop_at; /* return an error from this event (1-based); 0 never */
} seen;

static int on_event(const mcphub_sse_event *ev, void *ud)
{
    seen *s = ud;
    int n;

    /* the lengths agree with the NUL-terminated strings */
    assert_int_equal(strlen(ev->event), ev->event_len);
    assert_int_equal(strlen(ev->data), ev->data_len);
    assert_int_equal(strlen(ev->id), ev->id_len);
    n = snprintf(s->text + s->len, sizeof s->text - s->len, "%s|%s|%s|%lld\n", ev->event,
                 ev->data, ev->id, (long long)ev->retry_ms);
    assert_true(n > 0 && (size_t)n < sizeof s->text - s->len);
    s->len += (size_t)n;
    s->count++;
    return s->count == s->stop_at ? MCPHUB_E_CALLBACK : 0;
}

static mcphub_sse_parser *parser(seen *s, size_t max)
{
    mcphub_sse_parser *p = NULL;

    memset(s, 0, sizeof *s);
    assert_int_equal(mcphub_sse_parser_new(&p, on_event, s, max, NULL), 0);
    return p;
}

/* Parse a whole stream in one feed. */
static void parse_all(seen *s, const char *stream, size_t len)
{
    mcphub_sse_parser *p = parser(s, 0);

    assert_int_equal(mcphub_sse_parser_feed(p, stream, len), 0);
    mcphub_sse_parser_free(p);
}

static void test_fields_and_multiline_data(void **state)
{
    const char *stream = "event: endpoint\ndata: /messages?sessionId=abc\n\n"
                         ": keep-alive\n\n"
                         "id: 7\nretry: 1500\ndata: {\"a\":1}\ndata:  two spaces\ndata\n"
                         "data:\n\n"
                         "event: message\ndata: x\n\n"
                         "id\ndata: after empty id\n\n"
                         "data: unterminated at end of stream";
    seen s;

    (void)state;
    parse_all(&s, stream, strlen(stream));
    assert_int_equal(s.count, 4);
    assert_string_equal(s.text, "endpoint|/messages?sessionId=abc||-1\n"
                                "message|{\"a\":1}\n two spaces\n\n|7|1500\n"
                                "message|x|7|-1\n"
                                "message|after empty id||-1\n");
}

static void test_line_endings_are_equivalent(void **state)
{
    const char *lf = "event: a\ndata: 1\ndata: 2\n\n: c\nid: x\ndata: 3\n\n";
    const char *crlf = "event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: c\r\nid: x\r\ndata: 3\r\n\r\n";
    const char *cr = "event: a\rdata: 1\rdata: 2\r\r: c\rid: x\rdata: 3\r\r";
    const char *mixed = "event: a\r\ndata: 1\rdata: 2\n\r: c\r\nid: x\ndata: 3\r\n\n";
    seen a, b;

    (void)state;
    parse_all(&a, lf, strlen(lf));
    assert_int_equal(a.count, 2);
    assert_string_equal(a.text, "a|1\n2||-1\nmessage|3|x|-1\n");
    parse_all(&b, crlf, strlen(crlf));
    assert_string_equal(a.text, b.text);
    parse_all(&b, cr, strlen(cr));
    assert_string_equal(a.text, b.text);
    parse_all(&b, mixed, strlen(mixed));
    assert_string_equal(a.text, b.text);
}

static void test_events_without_data_and_odd_fields(void **state)
{
    const char *stream = "event: ignored\nid: 5\n\n"     /* no data: not dispatched */
                         "data: a\n\n"                    /* type reset, id kept */
                         "retry: 12x\nretry: \nfoo: bar\nid: has\0nul\ndata: b\n\n"
                         "data:c\n\n";
    size_t len = 22 + 9 + 49 + 8;
    seen s;

    (void)state;
    parse_all(&s, stream, len);
    assert_string_equal(s.text, "message|a|5|-1\nmessage|b|5|-1\nmessage|c|5|-1\n");
}

static void test_bom_only_at_start(void **state)
{
    const char *with_bom = "\xef\xbb\xbf" "data: x\n\n";
    const char *bom_later = "data: x\n\n\xef\xbb\xbf" "data: y\n\n";
    const char *half_bom = "\xef\xbb" "data: z\n\n";
    mcphub_sse_parser *p;
    seen s;
    size_t i;

    (void)state;
    parse_all(&s, with_bom, strlen(with_bom));
    assert_string_equal(s.text, "message|x||-1\n");
    /* a BOM fed one byte at a time is still dropped */
    p = parser(&s, 0);
    for (i = 0; i < strlen(with_bom); i++)
        assert_int_equal(mcphub_sse_parser_feed(p, with_bom + i, 1), 0);
    assert_string_equal(s.text, "message|x||-1\n");
    mcphub_sse_parser_free(p);
    /* later it is part of a field name: the line is an unknown field */
    parse_all(&s, bom_later, strlen(bom_later));
    assert_string_equal(s.text, "message|x||-1\n");
    /* a partial BOM is content, so the first line is not "data" */
    parse_all(&s, half_bom, strlen(half_bom));
    assert_int_equal(s.count, 0);
}

/* A stream with every feature, CRs placed where chunking splits them. */
static const char big_stream[] =
    "\xef\xbb\xbf: hello\r\n"
    "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n"
    "id: 2\rdata: a\rdata: b\r\r"
    "retry: 3000\ndata: \xc3\xa9t\xc3\xa9\n\n"
    ": ping - 2025-01-01 00:00:00\r\n\r\n"
    "event: custom\ndata:no-space\r\ndata:  lead\n\r"
    "data: last\n\n";

static void test_big_stream_events(void **state)
{
    seen whole;

    (void)state;
    parse_all(&whole, big_stream, sizeof big_stream - 1);
    assert_int_equal(whole.count, 5);
    assert_string_equal(whole.text,
                        "message|{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}|1|-1\n"
                        "message|a\nb|2|-1\n"
                        "message|\xc3\xa9t\xc3\xa9|2|3000\n"
                        "custom|no-space\n lead|2|-1\n"
                        "message|last|2|-1\n");
}

static void test_chunking_byte_by_byte_and_random(void **state)
{
    size_t len = sizeof big_stream - 1, i;
    fake_random rnd = {99};
    seen whole, part;
    int round;

    (void)state;
    parse_all(&whole, big_stream, len);
    {
        mcphub_sse_parser *p = parser(&part, 0);

        for (i = 0; i < len; i++)
            assert_int_equal(mcphub_sse_parser_feed(p, big_stream + i, 1), 0);
        assert_string_equal(part.text, whole.text);
        mcphub_sse_parser_free(p);
    }
    for (round = 0; round < 500; round++) {
        mcphub_sse_parser *p = parser(&part, 0);

        for (i = 0; i < len;) {
            size_t n = fake_random_next(&rnd) % 12;
            char *chunk;

            if (n > len - i)
                n = len - i;
            chunk = malloc(n ? n : 1); /* exact size: over-reads trip ASan */
            memcpy(chunk, big_stream + i, n);
            assert_int_equal(mcphub_sse_parser_feed(p, chunk, n), 0);
            free(chunk);
            i += n;
        }
        assert_string_equal(part.text, whole.text);
        mcphub_sse_parser_free(p);
    }
}

static void test_getters(void **state)
{
    const char *stream = "id: abc\nretry: 250\n\n";
    mcphub_sse_parser *p;
    size_t n = 99;
    seen s;

    (void)state;
    p = parser(&s, 0);
    assert_string_equal(mcphub_sse_parser_last_id(p, &n), "");
    assert_int_equal(n, 0);
    assert_int_equal(mcphub_sse_parser_retry(p), -1);
    assert_int_equal(mcphub_sse_parser_feed(p, stream, strlen(stream)), 0);
    assert_int_equal(s.count, 0);
    assert_string_equal(mcphub_sse_parser_last_id(p, &n), "abc");
    assert_int_equal(n, 3);
    assert_int_equal(mcphub_sse_parser_retry(p), 250);
    mcphub_sse_parser_free(p);
    mcphub_sse_parser_free(NULL);
}

static void test_event_size_bound(void **state)
{
    char line[64];
    mcphub_sse_parser *p;
    seen s;
    int i;

    (void)state;
    /* exactly at the bound: "data: 0123456789" is 16 bytes, then data holds
     * 11 ("0123456789\n") while the next line is read */
    p = parser(&s, 16);
    assert_int_equal(mcphub_sse_parser_feed(p, "data: 0123456789\n\n", 18), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(mcphub_sse_parser_feed(p, "data: 0123456789A\n\n", 19), MCPHUB_E_TOOBIG);
    /* sticky: the stream cannot be trusted any more */
    assert_int_equal(mcphub_sse_parser_feed(p, "data: x\n\n", 9), MCPHUB_E_TOOBIG);
    assert_int_equal(s.count, 1);
    mcphub_sse_parser_free(p);
    /* many data lines add up; a partial line counts too */
    p = parser(&s, 100);
    for (i = 0; i < 8; i++)
        assert_int_equal(mcphub_sse_parser_feed(p, "data: 0123456789\n", 17), 0);
    assert_int_equal(mcphub_sse_parser_feed(p, "data: 01234567", 14), MCPHUB_E_TOOBIG);
    mcphub_sse_parser_free(p);
    /* an endless comment line is bounded as well */
    p = parser(&s, 100);
    memset(line, 'x', sizeof line);
    line[0] = ':';
    assert_int_equal(mcphub_sse_parser_feed(p, line, sizeof line), 0);
    assert_int_equal(mcphub_sse_parser_feed(p, line, sizeof line), MCPHUB_E_TOOBIG);
    mcphub_sse_parser_free(p);
}

static void test_callback_error_stops(void **state)
{
    const char *stream = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    mcphub_sse_parser *p;
    seen s;

    (void)state;
    p = parser(&s, 0);
    s.stop_at = 2;
    assert_int_equal(mcphub_sse_parser_feed(p, stream, strlen(stream)), MCPHUB_E_CALLBACK);
    assert_int_equal(s.count, 2);
    assert_int_equal(mcphub_sse_parser_feed(p, "data: 4\n\n", 9), MCPHUB_E_CALLBACK);
    assert_int_equal(s.count, 2);
    mcphub_sse_parser_free(p);
    assert_int_equal(mcphub_sse_parser_new(&p, NULL, NULL, 0, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_sse_parser_feed(NULL, "x", 1), MCPHUB_E_INVAL);
}

/* ---- writer ----------------------------------------------------------- */

static void test_format_exact(void **state)
{
    char *out;
    size_t n;

    (void)state;
    assert_int_equal(mcphub_sse_format("message", "42", "{\"a\":1}", 7, &out, &n, NULL), 0);
    assert_string_equal(out, "event: message\nid: 42\ndata: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(out));
    free(out);
    assert_int_equal(mcphub_sse_format(NULL, NULL, "a\nb\r\nc\rd\n", 9, &out, &n, NULL), 0);
    assert_string_equal(out, "data: a\ndata: b\ndata: c\ndata: d\ndata:\n\n");
    free(out);
    /* priming event: an id and one empty data line */
    assert_int_equal(mcphub_sse_format(NULL, "s1-0", "", 0, &out, &n, NULL), 0);
    assert_string_equal(out, "id: s1-0\ndata:\n\n");
    free(out);
    assert_int_equal(mcphub_sse_format_comment("keepalive", &out, &n, NULL), 0);
    assert_string_equal(out, ": keepalive\n\n");
    free(out);
    assert_int_equal(mcphub_sse_format_comment(NULL, &out, &n, NULL), 0);
    assert_string_equal(out, ":\n\n");
    free(out);
    assert_int_equal(mcphub_sse_format_comment("a\nb", &out, &n, NULL), 0);
    assert_string_equal(out, ": a\n: b\n\n");
    free(out);
    /* names and ids cannot smuggle lines */
    assert_int_equal(mcphub_sse_format("a\nb", NULL, "x", 1, &out, &n, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_sse_format(NULL, "1\r", "x", 1, &out, &n, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_sse_format(NULL, NULL, NULL, 0, &out, &n, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_sse_format(NULL, NULL, NULL, 3, &out, &n, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_sse_format("m", NULL, "x", 1, NULL, &n, NULL), MCPHUB_E_INVAL);
}

static void test_format_parse_round_trip(void **state)
{
    static const char *const datas[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}",
        "line1\nline2",
        " leading space\n  two",
        "trailing newline\n",
        "\n\nblank lines\n\n",
        ": looks like a comment\ndata: looks like a field",
        "",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof datas / sizeof datas[0]; i++) {
        char *out, want[512];
        size_t n;
        seen s;

        assert_int_equal(mcphub_sse_format("message", "id-1", datas[i], strlen(datas[i]), &out,
                                           &n, NULL), 0);
        parse_all(&s, out, n);
        snprintf(want, sizeof want, "message|%s|id-1|-1\n", datas[i]);
        assert_string_equal(s.text, want);
        free(out);
    }
}

static int sse_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_sse_parser *p = NULL;
    char *out = NULL;
    size_t n, i;
    seen s;
    int rc;

    (void)arg;
    memset(&s, 0, sizeof s);
    rc = mcphub_sse_format("message", "9", "{\"x\":1}\nsecond line", 19, &out, &n, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        return rc;
    }
    rc = mcphub_sse_parser_new(&p, on_event, &s, 0, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(p);
        mem.free_fn(out, mem.user_data);
        return rc;
    }
    for (i = 0; i < n && rc == 0; i += 5)
        rc = mcphub_sse_parser_feed(p, out + i, n - i < 5 ? n - i : 5);
    if (rc == 0)
        rc = mcphub_sse_parser_feed(p, big_stream, sizeof big_stream - 1);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        /* a failed stream stays failed */
        assert_int_equal(mcphub_sse_parser_feed(p, "data: x\n\n", 9), MCPHUB_E_NOMEM);
    } else {
        assert_int_equal(s.count, 6);
        assert_non_null(strstr(s.text, "message|{\"x\":1}\nsecond line|9|-1\n"));
    }
    mcphub_sse_parser_free(p);
    mem.free_fn(out, mem.user_data);
    return rc;
}

static void test_under_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(sse_scenario, NULL) >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_multiline_data),
        cmocka_unit_test(test_line_endings_are_equivalent),
        cmocka_unit_test(test_events_without_data_and_odd_fields),
        cmocka_unit_test(test_bom_only_at_start),
        cmocka_unit_test(test_big_stream_events),
        cmocka_unit_test(test_chunking_byte_by_byte_and_random),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_event_size_bound),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_format_exact),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_under_failing_allocator),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
