/* Fuzz target: JSON-RPC classification (jsonrpc.h), batch iteration and
 * id rewriting.
 *
 * The input is classified; a batch is walked with batch_next and each
 * element classified too.  Every message that classifies is rewritten with
 * edits at the spans classify found (id, progress token, cancelled request
 * id) and without edits; the rewritten text must be compact, classify again
 * to the same kind and method, and carry the replacements exactly where
 * the originals were.  Text the scanner accepts as JSON must be JSON for
 * jansson too.  The error and result builders are fed the ids found. */
#include <jansson.h>

#include <mcphub/jsonrpc.h>

#include "core/jsonrpc_int.h"
#include "fuzz_util.h"

static int span_eq(mcphub_jsonrpc_span a, const char *text, size_t len)
{
    return a.ptr != NULL && a.len == len && memcmp(a.ptr, text, len) == 0;
}

static int span_inside(mcphub_jsonrpc_span s, const char *json, size_t len)
{
    return s.ptr == NULL || (s.ptr >= json && s.len <= len && s.ptr + s.len <= json + len);
}

/* Text the scanner took for JSON: jansson must agree, except where the
 * two differ by design: jansson refuses integers beyond 64 bits, reals
 * beyond double and \u0000 in object keys (JSON allows them all), and lone
 * surrogate escapes, which the scanner accepts as JavaScript does
 * (decoding them to U+FFFD). */
static void jansson_agrees(const char *json, size_t len)
{
    json_error_t e;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

    if (v == NULL && strstr(e.text, "too big") == NULL && strstr(e.text, "overflow") == NULL &&
        strstr(e.text, "invalid Unicode") == NULL && strstr(e.text, "NUL byte in object key") == NULL) {
        fprintf(stderr, "jansson refuses what classify accepted: %s\n", e.text);
        FUZZ_CHECK(v != NULL);
    }
    json_decref(v);
}

static void rewrite_and_check(const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    static const char new_id[] = "987654321";
    static const char new_token[] = "\"tok-\\u00e9\"";
    static const char new_req[] = "42";
    mcphub_jsonrpc_edit ed[3];
    mcphub_jsonrpc_msg m2;
    size_t n = 0, i, j, need, got;
    char *buf;

    if (m->id.ptr != NULL && m->id.len > 0) {
        ed[n].at = m->id;
        ed[n].with = new_id;
        ed[n].with_len = sizeof new_id - 1;
        n++;
    }
    if (m->progress_token.ptr != NULL) {
        ed[n].at = m->progress_token;
        ed[n].with = new_token;
        ed[n].with_len = sizeof new_token - 1;
        n++;
    }
    if (m->request_id.ptr != NULL) {
        ed[n].at = m->request_id;
        ed[n].with = new_req;
        ed[n].with_len = sizeof new_req - 1;
        n++;
    }
    /* sorted by position; the spans never overlap */
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && ed[j].at.ptr < ed[j - 1].at.ptr; j--) {
            mcphub_jsonrpc_edit t = ed[j];
            ed[j] = ed[j - 1];
            ed[j - 1] = t;
        }
    for (i = 1; i < n; i++)
        FUZZ_CHECK(ed[i - 1].at.ptr + ed[i - 1].at.len <= ed[i].at.ptr);

    /* measure, then write into exactly that much */
    need = mcphub_jsonrpc_rewrite(NULL, 0, json, len, ed, n);
    {
        size_t bound = len;
        for (i = 0; i < n; i++)
            bound += ed[i].with_len;
        FUZZ_CHECK(need <= bound);
    }
    buf = malloc(need ? need : 1);
    if (buf == NULL)
        return;
    got = mcphub_jsonrpc_rewrite(buf, need, json, len, ed, n);
    FUZZ_CHECK(got == need);
    /* a short buffer: nothing written past cap (ASan), the same length */
    if (need > 1) {
        char *half = malloc(need / 2);
        if (half != NULL) {
            FUZZ_CHECK(mcphub_jsonrpc_rewrite(half, need / 2, json, len, ed, n) == need);
            free(half);
        }
    }
    FUZZ_CHECK(memchr(buf, '\n', need) == NULL);
    FUZZ_CHECK(mcphub_jsonrpc_classify(&m2, buf, need, 0) == 0);
    FUZZ_CHECK(m2.kind == m->kind);
    FUZZ_CHECK(m2.compact == 1);
    FUZZ_CHECK(strcmp(m2.method, m->method) == 0);
    FUZZ_CHECK(m2.error_code == m->error_code);
    if (m->id.ptr != NULL && m->id.len > 0)
        FUZZ_CHECK(span_eq(m2.id, new_id, sizeof new_id - 1));
    else
        FUZZ_CHECK(m2.id.ptr == NULL);
    if (m->progress_token.ptr != NULL)
        FUZZ_CHECK(span_eq(m2.progress_token, new_token, sizeof new_token - 1));
    else
        FUZZ_CHECK(m2.progress_token.ptr == NULL);
    if (m->request_id.ptr != NULL)
        FUZZ_CHECK(span_eq(m2.request_id, new_req, sizeof new_req - 1));
    else
        FUZZ_CHECK(m2.request_id.ptr == NULL);
    free(buf);

    /* no edits: the same message, compacted; ids byte for byte */
    need = mcphub_jsonrpc_rewrite(NULL, 0, json, len, NULL, 0);
    FUZZ_CHECK(need <= len);
    buf = malloc(need ? need : 1);
    if (buf == NULL)
        return;
    FUZZ_CHECK(mcphub_jsonrpc_rewrite(buf, need, json, len, NULL, 0) == need);
    FUZZ_CHECK(mcphub_jsonrpc_classify(&m2, buf, need, 0) == 0);
    FUZZ_CHECK(m2.kind == m->kind && m2.compact == 1);
    FUZZ_CHECK(strcmp(m2.method, m->method) == 0);
    if (m->id.ptr != NULL)
        FUZZ_CHECK(span_eq(m2.id, m->id.ptr, m->id.len));
    if (m->progress_token.ptr != NULL)
        FUZZ_CHECK(span_eq(m2.progress_token, m->progress_token.ptr, m->progress_token.len));
    if (m->compact)
        FUZZ_CHECK(need == len && memcmp(buf, json, len) == 0);
    free(buf);
}

/* The builders, with the id the message carried. */
static void builders(const mcphub_jsonrpc_msg *m)
{
    char *out = NULL;
    size_t out_len = 0;
    mcphub_jsonrpc_msg r;
    const char *id = m->id.ptr;
    size_t id_len = m->id.len;
    int rc;

    rc = mcphub_jsonrpc_error_response(&out, &out_len, id, id_len, m->error_reply
                                       ? m->error_reply : MCPHUB_JSONRPC_INTERNAL_ERROR,
                                       m->reason, NULL);
    if (id == NULL || mcphub__jsonrpc_is_id(id, id_len, 1))
        FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(strlen(out) == out_len);
        FUZZ_CHECK(mcphub_jsonrpc_classify(&r, out, out_len, 0) == 0);
        FUZZ_CHECK(r.kind == MCPHUB_JSONRPC_ERROR);
        if (id != NULL)
            FUZZ_CHECK(span_eq(r.id, id, id_len));
        free(out);
    }
    if (id != NULL && m->result.ptr != NULL) {
        rc = mcphub_jsonrpc_result_response(&out, &out_len, id, id_len, m->result.ptr,
                                            m->result.len, NULL);
        if (mcphub__jsonrpc_is_id(id, id_len, 0))
            FUZZ_CHECK(rc == 0);
        if (rc == 0) {
            FUZZ_CHECK(mcphub_jsonrpc_classify(&r, out, out_len, 0) == 0);
            FUZZ_CHECK(r.kind == MCPHUB_JSONRPC_RESPONSE);
            FUZZ_CHECK(span_eq(r.id, id, id_len));
            free(out);
        }
    }
}

static void one(const char *json, size_t len, int depth)
{
    mcphub_jsonrpc_msg m;
    int rc = mcphub_jsonrpc_classify(&m, json, len, 0);

    FUZZ_CHECK(span_inside(m.id, json, len));
    FUZZ_CHECK(span_inside(m.params, json, len));
    FUZZ_CHECK(span_inside(m.result, json, len));
    FUZZ_CHECK(span_inside(m.error_message, json, len));
    FUZZ_CHECK(span_inside(m.error_data, json, len));
    FUZZ_CHECK(span_inside(m.progress_token, json, len));
    FUZZ_CHECK(span_inside(m.request_id, json, len));
    FUZZ_CHECK(memchr(m.method, '\0', sizeof m.method) != NULL);
    FUZZ_CHECK(mcphub_jsonrpc_kind_name(m.kind) != NULL);
    if (rc != MCPHUB_E_PARSE && rc != MCPHUB_E_TOOBIG)
        jansson_agrees(json, len);
    FUZZ_CHECK((rc == MCPHUB_E_PARSE) == (mcphub__json_check(json, len) == MCPHUB_E_PARSE) ||
               rc == MCPHUB_E_TOOBIG);
    if (rc != 0) {
        FUZZ_CHECK(m.kind == MCPHUB_JSONRPC_INVALID && m.reason != NULL);
        /* (jsonrpc.h names -32700 and -32600; params that are neither an
         * object nor an array get -32602) */
        FUZZ_CHECK(m.error_reply == MCPHUB_JSONRPC_PARSE_ERROR ||
                   m.error_reply == MCPHUB_JSONRPC_INVALID_REQUEST ||
                   m.error_reply == MCPHUB_JSONRPC_INVALID_PARAMS);
        FUZZ_CHECK((rc == MCPHUB_E_PARSE) == (m.error_reply == MCPHUB_JSONRPC_PARSE_ERROR));
        builders(&m);
        return;
    }
    FUZZ_CHECK(m.kind != MCPHUB_JSONRPC_INVALID && m.reason == NULL);
    if (m.kind == MCPHUB_JSONRPC_BATCH) {
        size_t pos = 0, count = 0;
        mcphub_jsonrpc_span item;

        while ((rc = mcphub_jsonrpc_batch_next(json, len, &pos, &item)) == 1) {
            FUZZ_CHECK(span_inside(item, json, len) && item.len > 0);
            FUZZ_CHECK(pos <= len);
            count++;
            if (depth < 2)
                one(item.ptr, item.len, depth + 1);
        }
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(count == m.batch_len);
        return;
    }
    rewrite_and_check(&m, json, len);
    builders(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    size_t pos = 0;
    mcphub_jsonrpc_span item;
    int rc, guard = 0;

    one(json, size, 0);
    /* batch_next on anything: never past the end, never stuck */
    while ((rc = mcphub_jsonrpc_batch_next(json, size, &pos, &item)) == 1 && guard++ < 100000)
        FUZZ_CHECK(span_inside(item, json, size) && pos <= size);
    FUZZ_CHECK(rc <= 1);
    /* the id shape test on the raw input */
    (void)mcphub__jsonrpc_is_id(json, size, 1);
    return 0;
}
