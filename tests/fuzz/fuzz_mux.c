/* Fuzz target: the MCP multiplexer (mux.h) fed upstream and downstream
 * messages.
 *
 * The input is a script, one command per line; the first byte says what
 * the rest of the line is:
 *   A B C D    a message from session 1, 2, 3, 4
 *   U          a message from the server
 *   r / e      the server answers the last request it was sent (result =
 *              the rest of the line, or {}; e: an error)
 *   p          the server reports progress on the last progress token
 *   s          the session last sent a server->client request answers it
 *   o<k><c>    open session k (1..8) with capabilities c (low 3 bits)
 *   c<k>       close session k
 *   x          the server connection closed (message = the rest, if any)
 *   q / n      an owner request / notification (method = the rest)
 *   f<n>       the next n callbacks fail
 *   anything else: the whole line comes from the server
 * Sessions 1..4 start open with different capabilities.
 *
 * The fake callbacks check every message the multiplexer emits: one
 * compact JSON-RPC message, no newline, to an open session, with a valid
 * related id.  At the end every session is closed and the upstream
 * closed: nothing may remain in flight. */
#include <mcphub/jsonrpc.h>
#include <mcphub/mux.h>

#include "fuzz_util.h"

#define NSESS 8

typedef struct fx {
    mcphub_mux *mux;
    int open[NSESS + 1];
    int fail;                  /* callbacks left to fail */
    char up_id[MCPHUB_MUX_MAX_ID_BYTES + 1];     /* last request sent upstream */
    char up_token[MCPHUB_MUX_MAX_ID_BYTES + 1];  /* its progress token */
    char down_id[MCPHUB_MUX_MAX_ID_BYTES + 1];   /* last server request to a session */
    uint64_t down_session;
    unsigned long up_msgs, down_msgs;
} fx;

static void span_copy(char *dst, mcphub_jsonrpc_span s)
{
    size_t n = s.len < MCPHUB_MUX_MAX_ID_BYTES ? s.len : MCPHUB_MUX_MAX_ID_BYTES;

    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Messages to send_upstream and send_downstream are compact; the owner's
 * answers (internal_response) come as the server sent them. */
static void check_message(const char *json, size_t len, mcphub_jsonrpc_msg *m, int compact)
{
    FUZZ_CHECK(json != NULL);
    FUZZ_CHECK(memchr(json, '\n', len) == NULL);
    if (mcphub_jsonrpc_classify(m, json, len, 0) != 0) {
        fprintf(stderr, "mux emitted a bad message (%s): %.*s\n", m->reason,
                (int)(len < 4096 ? len : 4096), json);
        FUZZ_CHECK(!"message is JSON-RPC");
    }
    FUZZ_CHECK(m->kind != MCPHUB_JSONRPC_BATCH);
    if (compact)
        FUZZ_CHECK(m->compact);
}

static int on_up(const char *json, size_t len, void *ud)
{
    fx *f = ud;
    mcphub_jsonrpc_msg m;

    check_message(json, len, &m, 1);
    if (f->fail > 0) {
        f->fail--;
        return -1000;
    }
    f->up_msgs++;
    if (m.kind == MCPHUB_JSONRPC_REQUEST) {
        span_copy(f->up_id, m.id);
        f->up_token[0] = '\0';
        if (m.progress_token.ptr != NULL)
            span_copy(f->up_token, m.progress_token);
    }
    return 0;
}

static int on_down(uint64_t session, const char *json, size_t len, const char *related,
                   void *ud)
{
    fx *f = ud;
    mcphub_jsonrpc_msg m;

    check_message(json, len, &m, 1);
    FUZZ_CHECK(session >= 1 && session <= NSESS && f->open[session]);
    if (related != NULL) {
        mcphub_jsonrpc_msg r;
        FUZZ_CHECK(mcphub_jsonrpc_classify(&r, related, strlen(related), 0) != MCPHUB_E_PARSE);
    }
    if (f->fail > 0) {
        f->fail--;
        return -1001;
    }
    f->down_msgs++;
    if (m.kind == MCPHUB_JSONRPC_REQUEST) {
        span_copy(f->down_id, m.id);
        f->down_session = session;
    }
    return 0;
}

static int on_internal(uint64_t token, const char *json, size_t len, void *ud)
{
    mcphub_jsonrpc_msg m;

    (void)token;
    (void)ud;
    check_message(json, len, &m, 0);
    FUZZ_CHECK(m.kind == MCPHUB_JSONRPC_RESPONSE || m.kind == MCPHUB_JSONRPC_ERROR);
    return 0;
}

static void check_stats(fx *f)
{
    mcphub_mux_stats st;
    uint32_t n = 0;
    int k;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    mcphub_mux_get_stats(f->mux, &st);
    for (k = 1; k <= NSESS; k++)
        n += (uint32_t)f->open[k];
    FUZZ_CHECK(st.sessions == n);
    FUZZ_CHECK(st.upstream_msgs == f->up_msgs);
    FUZZ_CHECK(st.downstream_msgs == f->down_msgs);
}

static void feed_up(fx *f, const char *json, size_t len)
{
    int rc = mcphub_mux_from_upstream(f->mux, json, len);

    FUZZ_CHECK(rc <= MCPHUB_MUX_DROPPED);
}

static void run_line(fx *f, const char *line, size_t len)
{
    char buf[1024];
    const char *rest = line + 1;
    size_t rlen = len - 1;
    int n, rc;
    char c = line[0];

    switch (c) {
    case 'A': case 'B': case 'C': case 'D': {
        uint64_t s = (uint64_t)(c - 'A' + 1);
        rc = mcphub_mux_from_downstream(f->mux, s, rest, rlen);
        FUZZ_CHECK(rc <= MCPHUB_MUX_DROPPED);
        if (!f->open[s])
            FUZZ_CHECK(rc == MCPHUB_E_NOTFOUND);
        break;
    }
    case 'U':
        feed_up(f, rest, rlen);
        break;
    case 'r': case 'e':
        if (f->up_id[0] == '\0')
            break;
        if (c == 'r')
            n = snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%.*s}",
                         f->up_id, rlen > 0 ? (int)(rlen < 512 ? rlen : 512) : 2,
                         rlen > 0 ? rest : "{}");
        else
            n = snprintf(buf, sizeof buf,
                         "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-1,\"message\":\"x\"}}",
                         f->up_id);
        feed_up(f, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        break;
    case 'p':
        if (f->up_token[0] == '\0')
            break;
        n = snprintf(buf, sizeof buf,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                     "{\"progressToken\":%s,\"progress\":1,\"total\":2}}",
                     f->up_token);
        feed_up(f, buf, (size_t)n);
        break;
    case 's':
        if (f->down_id[0] == '\0' || !f->open[f->down_session])
            break;
        n = snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}",
                     f->down_id);
        rc = mcphub_mux_from_downstream(f->mux, f->down_session, buf, (size_t)n);
        FUZZ_CHECK(rc <= MCPHUB_MUX_DROPPED);
        break;
    case 'o':
        if (rlen >= 2) {
            uint64_t s = (uint64_t)((unsigned char)rest[0] % NSESS + 1);
            uint32_t caps = (uint32_t)((unsigned char)rest[1] & 7);
            rc = mcphub_mux_session_open(f->mux, s, caps);
            if (f->open[s])
                FUZZ_CHECK(rc == MCPHUB_E_EXISTS);
            else if (rc == 0)
                f->open[s] = 1;
        }
        break;
    case 'c':
        if (rlen >= 1) {
            uint64_t s = (uint64_t)((unsigned char)rest[0] % NSESS + 1);
            int was = f->open[s];
            rc = mcphub_mux_session_close(f->mux, s);
            if (!was)
                FUZZ_CHECK(rc == MCPHUB_E_NOTFOUND);
            f->open[s] = 0; /* gone even if a callback failed */
        }
        break;
    case 'x': {
        char *msg = rlen > 0 ? fuzz_strndup(rest, rlen) : NULL;
        rc = mcphub_mux_upstream_closed(f->mux, msg);
        free(msg);
        break;
    }
    case 'q': case 'n': {
        char *method = fuzz_strndup(rest, rlen);
        uint64_t token = 0;
        if (method == NULL)
            break;
        if (c == 'q')
            (void)mcphub_mux_request(f->mux, method, NULL, &token);
        else
            (void)mcphub_mux_notify(f->mux, method, NULL);
        free(method);
        break;
    }
    case 'f':
        f->fail = rlen > 0 ? (unsigned char)rest[0] % 4 : 1;
        break;
    default:
        feed_up(f, line, len);
        break;
    }
    check_stats(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fx f;
    mcphub_mux_callbacks cb;
    mcphub_mux_opts o;
    mcphub_mux_stats st;
    const char *line;
    size_t pos = 0, len;
    int k;

    memset(&f, 0, sizeof f);
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.send_upstream = on_up;
    cb.send_downstream = on_down;
    cb.internal_response = on_internal;
    cb.user_data = &f;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_sessions = NSESS;
    o.max_in_flight = 64;
    o.max_server_requests = 16;
    o.max_message_bytes = 64 * 1024;
    o.hash_seed = 1;
    FUZZ_CHECK(mcphub_mux_new(&f.mux, &cb, &o, NULL) == 0);
    FUZZ_CHECK(mcphub_mux_session_open(f.mux, 1, MCPHUB_MUX_CAP_SAMPLING) == 0);
    FUZZ_CHECK(mcphub_mux_session_open(f.mux, 2, 0) == 0);
    FUZZ_CHECK(mcphub_mux_session_open(f.mux, 3, MCPHUB_MUX_CAP_SAMPLING |
                                                     MCPHUB_MUX_CAP_ELICITATION |
                                                     MCPHUB_MUX_CAP_ROOTS) == 0);
    FUZZ_CHECK(mcphub_mux_session_open(f.mux, 4, MCPHUB_MUX_CAP_ROOTS) == 0);
    for (k = 1; k <= 4; k++)
        f.open[k] = 1;

    while (fuzz_next_line(data, size, &pos, &line, &len))
        if (len > 0)
            run_line(&f, line, len);

    /* wind down: nothing may stay in flight */
    f.fail = 0;
    for (k = 1; k <= NSESS; k++)
        if (f.open[k]) {
            (void)mcphub_mux_session_close(f.mux, (uint64_t)k);
            f.open[k] = 0;
        }
    (void)mcphub_mux_upstream_closed(f.mux, NULL);
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    mcphub_mux_get_stats(f.mux, &st);
    FUZZ_CHECK(st.sessions == 0);
    FUZZ_CHECK(st.in_flight == 0);
    FUZZ_CHECK(st.server_requests == 0);
    mcphub_mux_free(f.mux);
    return 0;
}
