/* Unit tests: the line framer (splitting, CRLF, limits, stop, OOM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/linebuf.h>

#include "fakes/fakes.h"

/* What the callbacks saw: lines joined with "|", drops as "<drop N>". */
typedef struct seen {
    char text[4096];
    size_t used;
    int lines;
    int drops;
    size_t last_drop;
    int stop_at;    /* return 77 from this line (1-based); 0 = never */
} seen;

static void append(seen *s, const char *p, size_t n)
{
    assert_true(s->used + n + 1 < sizeof s->text);
    memcpy(s->text + s->used, p, n);
    s->used += n;
    s->text[s->used] = '\0';
}

static int on_line(const char *line, size_t len, void *ud)
{
    seen *s = ud;

    append(s, line, len);
    append(s, "|", 1);
    s->lines++;
    return s->stop_at != 0 && s->lines == s->stop_at ? 77 : 0;
}

static int on_drop(size_t len, void *ud)
{
    seen *s = ud;
    char buf[32];

    snprintf(buf, sizeof buf, "<drop %zu>|", len);
    append(s, buf, strlen(buf));
    s->drops++;
    s->last_drop = len;
    return 0;
}

static mcphub_linebuf *make(seen *s, size_t max_line, const mcphub_mem *mem)
{
    mcphub_linebuf_opts o;
    mcphub_linebuf *lb = NULL;

    memset(s, 0, sizeof *s);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_line = max_line;
    o.on_line = on_line;
    o.on_drop = on_drop;
    o.user_data = s;
    assert_int_equal(mcphub_linebuf_new(&lb, &o, mem), 0);
    return lb;
}

static void feed(mcphub_linebuf *lb, const char *str)
{
    size_t used = 99;

    assert_int_equal(mcphub_linebuf_feed(lb, str, strlen(str), &used), 0);
    assert_int_equal(used, strlen(str));
}

static void test_lines_across_pieces(void **state)
{
    seen s;
    mcphub_linebuf *lb = make(&s, 0, NULL);

    (void)state;
    feed(lb, "a\nbb\r\nccc");
    assert_string_equal(s.text, "a|bb|");
    assert_int_equal(mcphub_linebuf_pending(lb), 3);
    feed(lb, "c");
    feed(lb, "\r");
    feed(lb, "\n\n\r\nx\r\r\n");
    /* one trailing \r is stripped, an inner one kept; empty lines count */
    assert_string_equal(s.text, "a|bb|cccc|||x\r|");
    assert_int_equal(s.lines, 6);
    assert_int_equal(mcphub_linebuf_pending(lb), 0);
    assert_int_equal(mcphub_linebuf_feed(lb, NULL, 0, NULL), 0);
    mcphub_linebuf_free(lb);
}

/* Any way of cutting the input gives the same lines. */
static void test_random_cuts_give_same_lines(void **state)
{
    static const char input[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1}\n\n{\"a\":\"b\"}\r\nplain text\nlonger line that is cut"
        " in many places\r\nlast\n";
    fake_random r = {99};
    seen whole, cut;
    mcphub_linebuf *lb;
    int round;

    (void)state;
    lb = make(&whole, 0, NULL);
    feed(lb, input);
    mcphub_linebuf_free(lb);
    for (round = 0; round < 200; round++) {
        size_t off = 0, n = strlen(input);

        lb = make(&cut, 0, NULL);
        while (off < n) {
            size_t k = 1 + fake_random_next(&r) % 9;

            if (k > n - off)
                k = n - off;
            assert_int_equal(mcphub_linebuf_feed(lb, input + off, k, NULL), 0);
            off += k;
        }
        assert_string_equal(cut.text, whole.text);
        mcphub_linebuf_free(lb);
    }
    assert_int_equal(whole.lines, 6);
}

static void test_limit_exact_and_over(void **state)
{
    seen s;
    mcphub_linebuf *lb = make(&s, 8, NULL);

    (void)state;
    feed(lb, "12345678\n");          /* exactly max_line: kept */
    feed(lb, "123456789\n");         /* one over: dropped */
    feed(lb, "1234");
    feed(lb, "5678");                /* buffered, exactly max_line */
    feed(lb, "9abc");                /* now over: dropping */
    assert_int_equal(mcphub_linebuf_pending(lb), 12);
    feed(lb, "def\nok\n");
    assert_string_equal(s.text, "12345678|<drop 9>|<drop 15>|ok|");
    /* "\r" counts against the limit before it is stripped */
    feed(lb, "1234567\r\n12345678\r\n");
    assert_string_equal(s.text, "12345678|<drop 9>|<drop 15>|ok|1234567|<drop 9>|");
    mcphub_linebuf_free(lb);
}

/* A 10 MiB line with the 4 MiB default: dropped with its length, the next
 * line delivered, memory never above the limit. */
static void test_huge_line_dropped_in_bounded_memory(void **state)
{
    fake_alloc fa;
    mcphub_mem mem;
    seen s;
    mcphub_linebuf *lb;
    char *chunk = malloc(65536);
    size_t total = (size_t)10 << 20, off, peak = 0;

    (void)state;
    assert_non_null(chunk);
    memset(chunk, 'x', 65536);
    fake_alloc_reset(&fa, 0);
    mem = fake_alloc_mem(&fa);
    lb = make(&s, 0, &mem);
    for (off = 0; off < total; off += 65536) {
        assert_int_equal(mcphub_linebuf_feed(lb, chunk, 65536, NULL), 0);
        peak = fa.live_bytes > peak ? fa.live_bytes : peak;
    }
    assert_true(peak <= ((size_t)4 << 20) + 1024);
    feed(lb, "\n{\"after\":true}\n");
    assert_int_equal(s.drops, 1);
    assert_int_equal(s.last_drop, total);
    assert_string_equal(s.text, "<drop 10485760>|{\"after\":true}|");
    /* the big buffer is given back once idle */
    feed(lb, "small\n");
    assert_true(fa.live_bytes < 128 * 1024);
    mcphub_linebuf_free(lb);
    assert_int_equal(fa.live, 0);
    free(chunk);
}

static void test_callback_stops_feed(void **state)
{
    static const char in[] = "one\ntwo\nthree\nfour";
    seen s;
    mcphub_linebuf *lb = make(&s, 0, NULL);
    size_t used = 0;

    (void)state;
    s.stop_at = 2;
    assert_int_equal(mcphub_linebuf_feed(lb, in, strlen(in), &used), 77);
    assert_int_equal(used, strlen("one\ntwo\n"));
    assert_string_equal(s.text, "one|two|");
    /* the rest can be fed again */
    assert_int_equal(mcphub_linebuf_feed(lb, in + used, strlen(in) - used, &used), 0);
    assert_string_equal(s.text, "one|two|three|");
    assert_int_equal(mcphub_linebuf_finish(lb), 0);
    assert_string_equal(s.text, "one|two|three|four|");
    mcphub_linebuf_free(lb);
}

static void test_finish_and_reset(void **state)
{
    seen s;
    mcphub_linebuf *lb = make(&s, 4, NULL);

    (void)state;
    feed(lb, "ab\r");
    assert_int_equal(mcphub_linebuf_finish(lb), 0);   /* unterminated last line */
    feed(lb, "toolong");
    assert_int_equal(mcphub_linebuf_finish(lb), 0);   /* reported as dropped */
    assert_int_equal(mcphub_linebuf_finish(lb), 0);   /* nothing pending */
    feed(lb, "zz");
    mcphub_linebuf_reset(lb);
    feed(lb, "y\n");
    assert_string_equal(s.text, "ab|<drop 7>|y|");
    mcphub_linebuf_free(lb);
}

static void test_invalid_arguments(void **state)
{
    mcphub_linebuf_opts o;
    mcphub_linebuf *lb = NULL;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    assert_int_equal(mcphub_linebuf_new(&lb, &o, NULL), MCPHUB_E_INVAL);   /* no on_line */
    assert_int_equal(mcphub_linebuf_new(&lb, NULL, NULL), MCPHUB_E_INVAL);
    assert_null(lb);
    mcphub_linebuf_free(NULL);
}

/* Feeds that need memory fail cleanly: nothing consumed, no callback,
 * pending unchanged; feeding the same bytes again then works. */
static int oom_scenario(fake_alloc *fa, void *arg)
{
    static const char *pieces[] = {"first\nsec", "ond part", " of a line that grows\nthird",
                                   "\n", "x\n", "a tail that needs a bigger buffer ........"
                                   "..............................................", "\n"};
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_linebuf_opts o;
    mcphub_linebuf *lb = NULL;
    seen s;
    size_t i;
    int rc;

    (void)arg;
    memset(&s, 0, sizeof s);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.on_line = on_line;
    o.on_drop = on_drop;
    o.user_data = &s;
    if ((rc = mcphub_linebuf_new(&lb, &o, &mem)) != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        return rc;
    }
    for (i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        size_t before_pending = mcphub_linebuf_pending(lb), used = 1;
        int before_lines = s.lines;

        rc = mcphub_linebuf_feed(lb, pieces[i], strlen(pieces[i]), &used);
        if (rc != 0) {
            assert_int_equal(rc, MCPHUB_E_NOMEM);
            assert_int_equal(used, 0);
            assert_int_equal(s.lines, before_lines);
            assert_int_equal(mcphub_linebuf_pending(lb), before_pending);
            /* the next allocation succeeds: the same feed now works */
            assert_int_equal(mcphub_linebuf_feed(lb, pieces[i], strlen(pieces[i]), NULL), 0);
            break;
        }
    }
    if (rc == 0) {
        char want[512];

        snprintf(want, sizeof want, "first|second part of a line that grows|third|x|%s|",
                 pieces[5]);
        assert_string_equal(s.text, want);
    }
    mcphub_linebuf_free(lb);
    return rc;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(oom_scenario, NULL) >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_across_pieces),
        cmocka_unit_test(test_random_cuts_give_same_lines),
        cmocka_unit_test(test_limit_exact_and_over),
        cmocka_unit_test(test_huge_line_dropped_in_bounded_memory),
        cmocka_unit_test(test_callback_stops_feed),
        cmocka_unit_test(test_finish_and_reset),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("linebuf", tests, NULL, NULL);
}
