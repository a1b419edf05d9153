/* The MCP multiplexer: many sessions over one server connection; see mux.h.
 *
 * State is five hash tables keyed by strings that live in the entries:
 *   sessions  "<hex session>"            -> mux_session
 *   reqs      "<upstream id>"             -> mux_req (also finds progress
 *                                            tokens: a request's token is
 *                                            its upstream id)
 *   by_down   "<hex session>:<their id>"  -> mux_req (their cancellations)
 *   s2c_down  "<fresh id>"                -> mux_s2c (their answers)
 *   s2c_up    "<server's id>"             -> mux_s2c (server cancellations)
 * plus intrusive lists: each session's requests and pending server->client
 * requests (so closing it costs its own entries only), and per capability
 * the requests in start order (so routing a sampling request looks at the
 * newest session's requests only).
 * Every message is classified once and rewritten in one pass into a scratch
 * buffer that is reused. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "jsonrpc_int.h"
#include "map_int.h"
#include "mem_int.h"
#include "mcphub/jsonrpc.h"
#include "mcphub/mux.h"

#define CAP_N 3
#define ALL_CAPS (MCPHUB_MUX_CAP_SAMPLING | MCPHUB_MUX_CAP_ELICITATION | MCPHUB_MUX_CAP_ROOTS)
#define HEX_KEY 17  /* 16 hex digits + NUL */
#define DEC_KEY 21  /* 20 digits + NUL */
#define DKEY_MAX (HEX_KEY + MCPHUB_MUX_MAX_ID_BYTES + 1)

typedef struct mux_req mux_req;
typedef struct mux_s2c mux_s2c;

typedef struct mux_session {
    uint64_t id;
    uint32_t caps;
    char key[HEX_KEY];
    mux_req *reqs;  /* requests in flight */
    mux_s2c *asked; /* server->client requests it owes an answer */
} mux_session;

struct mux_req {
    mux_req *sprev, *snext;                 /* session's list */
    mux_req *cprev[CAP_N], *cnext[CAP_N];   /* start order, per capability */
    mux_session *sess;                      /* NULL: the owner's request */
    uint64_t up_id;
    uint32_t tick;                          /* mux->tick when it was forwarded */
    int has_token;
    char up_key[DEC_KEY];
    const char *orig_id;    /* NUL-terminated, inside text */
    const char *orig_token; /* NUL-terminated, inside text */
    size_t orig_token_len;
    char text[];            /* "<hex session>:<orig id>\0<orig token>\0" */
};

struct mux_s2c {
    mux_s2c *prev, *next; /* session's list */
    mux_session *sess;
    char down_key[DEC_KEY];
    size_t up_id_len;
    const char *related;  /* orig id of the request it was routed by, inside text */
    char text[];          /* "<server's id>\0<related id>\0" */
};

struct mcphub_mux {
    mcphub__mem mem;
    mcphub_mux_callbacks cb;
    uint32_t max_sessions, max_in_flight, max_s2c;
    size_t max_msg;
    uint64_t next_id;   /* last upstream id (and progress token) given */
    uint64_t next_down; /* last id given to a forwarded server->client request */
    mcphub__map sessions, reqs, by_down, s2c_down, s2c_up;
    mux_req *cap_head[CAP_N], *cap_tail[CAP_N];
    uint32_t busy;  /* sessions with at least one request in flight */
    uint32_t tick;  /* mcphub_mux_tick() calls so far (wraps) */
    char *buf; /* scratch for one outgoing message */
    size_t buf_cap;
    mcphub_mux_stats st;
};

static const char *const cap_names[CAP_N] = {"sampling", "elicitation", "roots"};

/* ---- small helpers ---------------------------------------------------- */

static void hex_key(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    int i;

    for (i = 15; i >= 0; i--) {
        out[i] = digits[v & 15];
        v >>= 4;
    }
    out[16] = '\0';
}

static size_t dec_key(char *out, uint64_t v)
{
    char tmp[DEC_KEY];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* The digits of an id or token we issued: 17 or "17". */
static int our_key(mcphub_jsonrpc_span v, const char **k, size_t *n)
{
    const char *p = v.ptr;
    size_t len = v.len, i;

    if (p == NULL)
        return -1;
    if (len >= 2 && p[0] == '"') {
        p++;
        len -= 2;
    }
    if (len == 0 || len > 20)
        return -1;
    for (i = 0; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    *k = p;
    *n = len;
    return 0;
}

/* "<hex session>:<id>" into dkey[DKEY_MAX]; id fits (checked by callers). */
static size_t down_key(char *dkey, const mux_session *s, const char *id, size_t id_len)
{
    memcpy(dkey, s->key, 16);
    dkey[16] = ':';
    memcpy(dkey + 17, id, id_len);
    dkey[17 + id_len] = '\0';
    return 17 + id_len;
}

static int ensure_buf(mcphub_mux *mux, size_t n)
{
    char *p;
    size_t cap;

    if (n <= mux->buf_cap)
        return 0;
    cap = mux->buf_cap ? mux->buf_cap : 256;
    while (cap < n)
        cap *= 2;
    p = mcphub__realloc(&mux->mem, mux->buf, cap);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    mux->buf = p;
    mux->buf_cap = cap;
    return 0;
}

/* The message with edits applied, compact: the input itself when nothing
 * changes, else the scratch buffer. */
static int render(mcphub_mux *mux, const char *json, size_t len, const mcphub_jsonrpc_msg *m,
                  const mcphub_jsonrpc_edit *e, size_t n, const char **out, size_t *out_len)
{
    size_t bound = len, i;
    int rc;

    if (n == 0 && m->compact) {
        *out = json;
        *out_len = len;
        return 0;
    }
    for (i = 0; i < n; i++)
        bound += e[i].with_len;
    rc = ensure_buf(mux, bound);
    if (rc != 0)
        return rc;
    *out_len = mcphub_jsonrpc_rewrite(mux->buf, mux->buf_cap, json, len, e, n);
    *out = mux->buf;
    return 0;
}

/* Two edits in text order. */
static size_t two_edits(mcphub_jsonrpc_edit *e, mcphub_jsonrpc_span a, const char *wa,
                        mcphub_jsonrpc_span b, const char *wb)
{
    mcphub_jsonrpc_edit x, y;

    x.at = a;
    x.with = wa;
    x.with_len = strlen(wa);
    y.at = b;
    y.with = wb;
    y.with_len = strlen(wb);
    if (b.ptr == NULL) {
        e[0] = x;
        return 1;
    }
    e[0] = a.ptr < b.ptr ? x : y;
    e[1] = a.ptr < b.ptr ? y : x;
    return 2;
}

static int send_up(mcphub_mux *mux, const char *json, size_t len)
{
    int rc = mux->cb.send_upstream(json, len, mux->cb.user_data);

    if (rc == 0)
        mux->st.upstream_msgs++;
    return rc;
}

static int send_down(mcphub_mux *mux, const mux_session *s, const char *json, size_t len,
                     const char *related)
{
    int rc = mux->cb.send_downstream(s->id, json, len, related, mux->cb.user_data);

    if (rc == 0)
        mux->st.downstream_msgs++;
    return rc;
}

static int dropped(mcphub_mux *mux)
{
    mux->st.dropped++;
    return MCPHUB_MUX_DROPPED;
}

static mux_session *find_session(const mcphub_mux *mux, uint64_t session)
{
    char key[HEX_KEY];

    hex_key(key, session);
    return mcphub__map_getn(&mux->sessions, key, 16);
}

/* ---- requests in flight ----------------------------------------------- */

static mux_req *req_alloc(mcphub_mux *mux, mux_session *s, mcphub_jsonrpc_span id,
                          mcphub_jsonrpc_span token)
{
    /* text: "<hex>:<id>\0" (or just "\0" for the owner's), then the token */
    size_t klen = s != NULL ? HEX_KEY + id.len + 1 : 1;
    mux_req *r = mcphub__calloc(&mux->mem, 1, sizeof *r + klen + token.len + 1);

    if (r == NULL)
        return NULL;
    r->sess = s;
    r->up_id = mux->next_id + 1;
    r->tick = mux->tick;
    dec_key(r->up_key, r->up_id);
    if (s != NULL)
        down_key(r->text, s, id.ptr, id.len);
    r->orig_id = r->text + (s != NULL ? HEX_KEY : 0);
    r->has_token = token.ptr != NULL;
    if (token.len > 0)
        memcpy(r->text + klen, token.ptr, token.len);
    r->orig_token = r->text + klen;
    r->orig_token_len = token.len;
    return r;
}

/* Record r (maps reserved beforehand, so nothing here can fail). */
static void req_commit(mcphub_mux *mux, mux_req *r)
{
    mux_session *s = r->sess;
    int i;

    mux->next_id = r->up_id;
    mcphub__map_put(&mux->reqs, r->up_key, r, NULL);
    mux->st.in_flight++;
    if (s == NULL)
        return;
    mcphub__map_put(&mux->by_down, r->text, r, NULL);
    if (s->reqs == NULL)
        mux->busy++;
    r->snext = s->reqs;
    if (s->reqs != NULL)
        s->reqs->sprev = r;
    s->reqs = r;
    for (i = 0; i < CAP_N; i++) {
        if (!(s->caps & (1u << i)))
            continue;
        r->cprev[i] = mux->cap_tail[i];
        if (mux->cap_tail[i] != NULL)
            mux->cap_tail[i]->cnext[i] = r;
        else
            mux->cap_head[i] = r;
        mux->cap_tail[i] = r;
    }
}

static void req_forget(mcphub_mux *mux, mux_req *r)
{
    mux_session *s = r->sess;
    int i;

    mcphub__map_del(&mux->reqs, r->up_key);
    mux->st.in_flight--;
    if (s != NULL) {
        mcphub__map_del(&mux->by_down, r->text);
        if (r->sprev != NULL)
            r->sprev->snext = r->snext;
        else
            s->reqs = r->snext;
        if (r->snext != NULL)
            r->snext->sprev = r->sprev;
        if (s->reqs == NULL)
            mux->busy--;
        for (i = 0; i < CAP_N; i++) {
            if (!(s->caps & (1u << i)))
                continue;
            if (r->cprev[i] != NULL)
                r->cprev[i]->cnext[i] = r->cnext[i];
            else
                mux->cap_head[i] = r->cnext[i];
            if (r->cnext[i] != NULL)
                r->cnext[i]->cprev[i] = r->cprev[i];
            else
                mux->cap_tail[i] = r->cprev[i];
        }
    }
    mcphub__free(&mux->mem, r);
}

/* ---- server->client requests waiting for a session -------------------- */

static void s2c_forget(mcphub_mux *mux, mux_s2c *q)
{
    mcphub__map_del(&mux->s2c_down, q->down_key);
    mcphub__map_del(&mux->s2c_up, q->text);
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        q->sess->asked = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    mux->st.server_requests--;
    mcphub__free(&mux->mem, q);
}

/* Is the session's request with this id still in flight?  Then messages
 * about it can still travel on its stream. */
static const char *still_related(const mcphub_mux *mux, const mux_session *s, const char *id)
{
    char dkey[DKEY_MAX];
    size_t n;

    if (id == NULL || *id == '\0')
        return NULL;
    n = down_key(dkey, s, id, strlen(id));
    return mcphub__map_getn(&mux->by_down, dkey, n) != NULL ? id : NULL;
}

/* ---- construction ------------------------------------------------------ */

MCPHUB_API int mcphub_mux_new(mcphub_mux **out, const mcphub_mux_callbacks *cb,
                              const mcphub_mux_opts *opts, const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_mux *mux;
    uint32_t seed;
    int rc;

    if (out == NULL || cb == NULL)
        return MCPHUB_E_INVAL;
    if (mcphub__opts_check(cb, sizeof *cb) != 0 || mcphub__opts_check(opts, sizeof *opts) != 0)
        return MCPHUB_E_INVAL;
    if (MCPHUB__GET(cb, mcphub_mux_callbacks, send_upstream, NULL) == NULL ||
        MCPHUB__GET(cb, mcphub_mux_callbacks, send_downstream, NULL) == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&m, mem);
    if (rc != 0)
        return rc;
    mux = mcphub__calloc(&m, 1, sizeof *mux);
    if (mux == NULL)
        return MCPHUB_E_NOMEM;
    mux->mem = m;
    mux->cb.size = sizeof mux->cb;
    mux->cb.send_upstream = cb->send_upstream;
    mux->cb.send_downstream = cb->send_downstream;
    mux->cb.internal_response = MCPHUB__GET(cb, mcphub_mux_callbacks, internal_response, NULL);
    mux->cb.user_data = MCPHUB__GET(cb, mcphub_mux_callbacks, user_data, NULL);
    mux->max_sessions = MCPHUB__GET(opts, mcphub_mux_opts, max_sessions, 0);
    mux->max_in_flight = MCPHUB__GET(opts, mcphub_mux_opts, max_in_flight, 0);
    mux->max_s2c = MCPHUB__GET(opts, mcphub_mux_opts, max_server_requests, 0);
    mux->max_msg = MCPHUB__GET(opts, mcphub_mux_opts, max_message_bytes, 0);
    seed = MCPHUB__GET(opts, mcphub_mux_opts, hash_seed, 0);
    if (mux->max_sessions == 0)
        mux->max_sessions = 1024;
    if (mux->max_in_flight == 0)
        mux->max_in_flight = 4096;
    if (mux->max_s2c == 0)
        mux->max_s2c = 256;
    if (mux->max_msg == 0)
        mux->max_msg = 16u * 1024u * 1024u;
    mcphub__map_init(&mux->sessions, &mux->mem, seed);
    mcphub__map_init(&mux->reqs, &mux->mem, seed);
    mcphub__map_init(&mux->by_down, &mux->mem, seed);
    mcphub__map_init(&mux->s2c_down, &mux->mem, seed);
    mcphub__map_init(&mux->s2c_up, &mux->mem, seed);
    mux->st.size = sizeof mux->st;
    *out = mux;
    return 0;
}

MCPHUB_API void mcphub_mux_free(mcphub_mux *mux)
{
    size_t i = 0;
    void *v;

    if (mux == NULL)
        return;
    while (mcphub__map_next(&mux->reqs, &i, NULL, &v))
        mcphub__free(&mux->mem, v);
    i = 0;
    while (mcphub__map_next(&mux->s2c_down, &i, NULL, &v))
        mcphub__free(&mux->mem, v);
    i = 0;
    while (mcphub__map_next(&mux->sessions, &i, NULL, &v))
        mcphub__free(&mux->mem, v);
    mcphub__map_free(&mux->sessions);
    mcphub__map_free(&mux->reqs);
    mcphub__map_free(&mux->by_down);
    mcphub__map_free(&mux->s2c_down);
    mcphub__map_free(&mux->s2c_up);
    mcphub__free(&mux->mem, mux->buf);
    mcphub__free(&mux->mem, mux);
}

/* ---- sessions ---------------------------------------------------------- */

MCPHUB_API int mcphub_mux_session_open(mcphub_mux *mux, uint64_t session, uint32_t caps)
{
    mux_session *s;
    int rc;

    if (mux == NULL || (caps & ~(uint32_t)ALL_CAPS) != 0)
        return MCPHUB_E_INVAL;
    if (find_session(mux, session) != NULL)
        return MCPHUB_E_EXISTS;
    if (mux->st.sessions >= mux->max_sessions)
        return MCPHUB_E_FULL;
    s = mcphub__calloc(&mux->mem, 1, sizeof *s);
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    s->id = session;
    s->caps = caps;
    hex_key(s->key, session);
    rc = mcphub__map_put(&mux->sessions, s->key, s, NULL);
    if (rc != 0) {
        mcphub__free(&mux->mem, s);
        return rc;
    }
    mux->st.sessions++;
    return 0;
}

MCPHUB_API int mcphub_mux_session_close(mcphub_mux *mux, uint64_t session)
{
    /* Worst case: an error reply carrying a server id of the longest size. */
    char msg[MCPHUB_MUX_MAX_ID_BYTES + 200];
    mux_session *s;
    int rc, first = 0;

    if (mux == NULL)
        return MCPHUB_E_INVAL;
    s = find_session(mux, session);
    if (s == NULL)
        return MCPHUB_E_NOTFOUND;
    while (s->reqs != NULL) {
        mux_req *r = s->reqs;
        int n = snprintf(msg, sizeof msg,
                         "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                         "\"params\":{\"requestId\":%s,\"reason\":\"client session closed\"}}",
                         r->up_key);

        rc = send_up(mux, msg, (size_t)n);
        if (first == 0)
            first = rc;
        req_forget(mux, r);
    }
    while (s->asked != NULL) {
        mux_s2c *q = s->asked;
        size_t n = mcphub__jsonrpc_error_format(msg, sizeof msg, q->text, q->up_id_len,
                                                MCPHUB_JSONRPC_INTERNAL_ERROR,
                                                "client session closed before answering");

        rc = n < sizeof msg ? send_up(mux, msg, n) : 0;
        if (first == 0)
            first = rc;
        s2c_forget(mux, q);
    }
    mcphub__map_del(&mux->sessions, s->key);
    mux->st.sessions--;
    mcphub__free(&mux->mem, s);
    return first;
}

/* ---- from a session ----------------------------------------------------- */

static int down_request(mcphub_mux *mux, mux_session *s, const mcphub_jsonrpc_msg *m,
                        const char *json, size_t len)
{
    char dkey[DKEY_MAX];
    mcphub_jsonrpc_edit e[2];
    const char *out = NULL;
    size_t dlen, olen = 0, ne;
    mux_req *r;
    int rc;

    if (strcmp(m->method, "initialize") == 0)
        return MCPHUB_MUX_INITIALIZE;
    if (m->id.len > MCPHUB_MUX_MAX_ID_BYTES || m->progress_token.len > MCPHUB_MUX_MAX_ID_BYTES)
        return MCPHUB_E_TOOBIG;
    dlen = down_key(dkey, s, m->id.ptr, m->id.len);
    if (mcphub__map_getn(&mux->by_down, dkey, dlen) != NULL)
        return MCPHUB_E_EXISTS;
    if (mux->st.in_flight >= mux->max_in_flight)
        return MCPHUB_E_FULL;
    r = req_alloc(mux, s, m->id, m->progress_token);
    if (r == NULL)
        return MCPHUB_E_NOMEM;
    rc = mcphub__map_reserve(&mux->reqs, 1);
    if (rc == 0)
        rc = mcphub__map_reserve(&mux->by_down, 1);
    if (rc == 0) {
        /* The progress token is the upstream id: unique, and one lookup. */
        ne = two_edits(e, m->id, r->up_key, m->progress_token, r->up_key);
        rc = render(mux, json, len, m, e, ne, &out, &olen);
    }
    if (rc == 0)
        rc = send_up(mux, out, olen);
    if (rc != 0) {
        mcphub__free(&mux->mem, r);
        return rc;
    }
    req_commit(mux, r);
    return 0;
}

static int down_cancel(mcphub_mux *mux, mux_session *s, const mcphub_jsonrpc_msg *m,
                       const char *json, size_t len)
{
    char dkey[DKEY_MAX];
    mcphub_jsonrpc_edit e;
    const char *out;
    size_t dlen, olen;
    mux_req *r;
    int rc;

    if (m->request_id.ptr == NULL || m->request_id.len > MCPHUB_MUX_MAX_ID_BYTES)
        return dropped(mux);
    dlen = down_key(dkey, s, m->request_id.ptr, m->request_id.len);
    r = mcphub__map_getn(&mux->by_down, dkey, dlen);
    if (r == NULL)
        return dropped(mux);
    e.at = m->request_id;
    e.with = r->up_key;
    e.with_len = strlen(r->up_key);
    rc = render(mux, json, len, m, &e, 1, &out, &olen);
    if (rc == 0)
        rc = send_up(mux, out, olen);
    if (rc != 0)
        return rc;
    /* The sender ignores anything that still comes for it. */
    req_forget(mux, r);
    return 0;
}

static int down_answer(mcphub_mux *mux, mux_session *s, const mcphub_jsonrpc_msg *m,
                       const char *json, size_t len)
{
    mcphub_jsonrpc_edit e;
    const char *k, *out;
    size_t kn, olen;
    mux_s2c *q;
    int rc;

    if (our_key(m->id, &k, &kn) != 0)
        return dropped(mux);
    q = mcphub__map_getn(&mux->s2c_down, k, kn);
    if (q == NULL || q->sess != s)
        return dropped(mux);
    e.at = m->id;
    e.with = q->text;
    e.with_len = q->up_id_len;
    rc = render(mux, json, len, m, &e, 1, &out, &olen);
    if (rc == 0)
        rc = send_up(mux, out, olen);
    if (rc != 0)
        return rc;
    s2c_forget(mux, q);
    return 0;
}

MCPHUB_API int mcphub_mux_from_downstream(mcphub_mux *mux, uint64_t session, const char *json,
                                          size_t len)
{
    mcphub_jsonrpc_msg m;
    mux_session *s;
    const char *out;
    size_t olen;
    int rc;

    if (mux == NULL || json == NULL)
        return MCPHUB_E_INVAL;
    s = find_session(mux, session);
    if (s == NULL)
        return MCPHUB_E_NOTFOUND;
    rc = mcphub_jsonrpc_classify(&m, json, len, mux->max_msg);
    if (rc != 0)
        return rc;
    switch (m.kind) {
    case MCPHUB_JSONRPC_REQUEST:
        return down_request(mux, s, &m, json, len);
    case MCPHUB_JSONRPC_NOTIFICATION:
        if (strcmp(m.method, "notifications/initialized") == 0)
            return MCPHUB_MUX_CONSUMED;
        if (strcmp(m.method, "notifications/cancelled") == 0)
            return down_cancel(mux, s, &m, json, len);
        /* Progress on a server->client request carries the server's own
         * token; everything else needs no translation. */
        rc = render(mux, json, len, &m, NULL, 0, &out, &olen);
        return rc != 0 ? rc : send_up(mux, out, olen);
    case MCPHUB_JSONRPC_RESPONSE:
    case MCPHUB_JSONRPC_ERROR:
        return down_answer(mux, s, &m, json, len);
    default:
        return MCPHUB_E_INVAL; /* batches: split them first */
    }
}

/* ---- from the server ---------------------------------------------------- */

static int up_answer(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    mcphub_jsonrpc_edit e;
    const char *k, *out;
    size_t kn, olen;
    mux_req *r;
    int rc;

    if (our_key(m->id, &k, &kn) != 0)
        return dropped(mux);
    r = mcphub__map_getn(&mux->reqs, k, kn);
    if (r == NULL)
        return dropped(mux);
    if (r->sess == NULL) {
        rc = mux->cb.internal_response != NULL
                 ? mux->cb.internal_response(r->up_id, json, len, mux->cb.user_data)
                 : 0;
    } else {
        e.at = m->id;
        e.with = r->orig_id;
        e.with_len = strlen(r->orig_id);
        rc = render(mux, json, len, m, &e, 1, &out, &olen);
        if (rc == 0)
            rc = send_down(mux, r->sess, out, olen, r->orig_id);
    }
    if (rc != 0)
        return rc;
    req_forget(mux, r);
    return 0;
}

static int up_progress(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    mcphub_jsonrpc_edit e;
    const char *k, *out;
    size_t kn, olen;
    mux_req *r;
    int rc;

    if (our_key(m->progress_token, &k, &kn) != 0)
        return dropped(mux);
    r = mcphub__map_getn(&mux->reqs, k, kn);
    /* The owner's requests never carry tokens: nothing to deliver. */
    if (r == NULL || !r->has_token || r->sess == NULL)
        return dropped(mux);
    e.at = m->progress_token;
    e.with = r->orig_token;
    e.with_len = r->orig_token_len;
    rc = render(mux, json, len, m, &e, 1, &out, &olen);
    return rc != 0 ? rc : send_down(mux, r->sess, out, olen, r->orig_id);
}

static int up_cancel(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    mcphub_jsonrpc_edit e;
    const char *out;
    size_t olen;
    mux_s2c *q;
    int rc;

    if (m->request_id.ptr == NULL)
        return dropped(mux);
    q = mcphub__map_getn(&mux->s2c_up, m->request_id.ptr, m->request_id.len);
    if (q == NULL)
        return dropped(mux);
    e.at = m->request_id;
    e.with = q->down_key;
    e.with_len = strlen(q->down_key);
    rc = render(mux, json, len, m, &e, 1, &out, &olen);
    if (rc == 0)
        rc = send_down(mux, q->sess, out, olen, still_related(mux, q->sess, q->related));
    if (rc != 0)
        return rc;
    s2c_forget(mux, q);
    return 0;
}

static int broadcast(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    const char *out;
    size_t olen, i = 0;
    void *v;
    int rc, first = 0;

    rc = render(mux, json, len, m, NULL, 0, &out, &olen);
    if (rc != 0)
        return rc;
    while (mcphub__map_next(&mux->sessions, &i, NULL, &v)) {
        rc = send_down(mux, v, out, olen, NULL);
        if (first == 0)
            first = rc;
    }
    return first;
}

/* Answer a server->client request with an error, since nobody here can. */
static int refuse(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, int code, const char *why)
{
    size_t n;
    int rc;

    n = mcphub__jsonrpc_error_format(NULL, 0, m->id.ptr, m->id.len, code, why);
    if (n == (size_t)-1)
        return dropped(mux);
    rc = ensure_buf(mux, n + 1);
    if (rc != 0)
        return rc;
    mcphub__jsonrpc_error_format(mux->buf, mux->buf_cap, m->id.ptr, m->id.len, code, why);
    rc = send_up(mux, mux->buf, n);
    if (rc != 0)
        return rc;
    mux->st.refused++;
    return MCPHUB_MUX_CONSUMED;
}

static int cap_index(const char *method)
{
    if (strcmp(method, "sampling/createMessage") == 0)
        return 0;
    if (strcmp(method, "elicitation/create") == 0)
        return 1;
    if (strcmp(method, "roots/list") == 0)
        return 2;
    return -1;
}

static int up_request(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    static const char pong_head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    static const char pong_tail[] = ",\"result\":{}}";
    char why[MCPHUB_JSONRPC_METHOD_MAX + 400];
    mcphub_jsonrpc_edit e;
    const char *out = NULL;
    size_t olen = 0, rl;
    mux_req *r;
    mux_s2c *q;
    int cap, rc;

    if (strcmp(m->method, "ping") == 0) {
        /* The server checks its connection, which ends here. */
        rc = ensure_buf(mux, sizeof pong_head + m->id.len + sizeof pong_tail);
        if (rc != 0)
            return rc;
        memcpy(mux->buf, pong_head, sizeof pong_head - 1);
        memcpy(mux->buf + sizeof pong_head - 1, m->id.ptr, m->id.len);
        memcpy(mux->buf + sizeof pong_head - 1 + m->id.len, pong_tail, sizeof pong_tail - 1);
        rc = send_up(mux, mux->buf, sizeof pong_head - 1 + m->id.len + sizeof pong_tail - 1);
        return rc != 0 ? rc : MCPHUB_MUX_CONSUMED;
    }
    cap = cap_index(m->method);
    if (cap < 0) {
        snprintf(why, sizeof why,
                 "Method not found: %s (not a client method this gateway can route)", m->method);
        return refuse(mux, m, MCPHUB_JSONRPC_METHOD_NOT_FOUND, why);
    }
    if (m->id.len > MCPHUB_MUX_MAX_ID_BYTES)
        return refuse(mux, m, MCPHUB_JSONRPC_INVALID_REQUEST, "Invalid Request: id too long");
    if (mcphub__map_getn(&mux->s2c_up, m->id.ptr, m->id.len) != NULL)
        return refuse(mux, m, MCPHUB_JSONRPC_INVALID_REQUEST,
                      "Invalid Request: id already pending");
    r = mux->cap_tail[cap];
    if (r == NULL) {
        snprintf(why, sizeof why,
                 "Method not found: %s (no client session that declared the %s capability "
                 "has a request in flight)",
                 m->method, cap_names[cap]);
        return refuse(mux, m, MCPHUB_JSONRPC_METHOD_NOT_FOUND, why);
    }
    /* A shared server process does not say which request a server->client
     * request belongs to.  With requests of any other session in flight —
     * capable or not: the request may come from a call of a session that
     * cannot answer it — any pick could hand one client another's prompt:
     * refuse. */
    if (mux->busy > 1) {
        snprintf(why, sizeof why,
                 "%s cannot be routed: several client sessions have requests in flight on "
                 "this shared server process, which does not say which request this belongs "
                 "to; try again",
                 m->method);
        return refuse(mux, m, MCPHUB_JSONRPC_INTERNAL_ERROR, why);
    }
    if (mux->st.server_requests >= mux->max_s2c)
        return refuse(mux, m, MCPHUB_JSONRPC_INTERNAL_ERROR,
                      "Internal error: too many server requests pending");
    rl = strlen(r->orig_id);
    q = mcphub__calloc(&mux->mem, 1, sizeof *q + m->id.len + 1 + rl + 1);
    if (q == NULL)
        return MCPHUB_E_NOMEM;
    q->sess = r->sess;
    memcpy(q->text, m->id.ptr, m->id.len);
    q->up_id_len = m->id.len;
    memcpy(q->text + m->id.len + 1, r->orig_id, rl);
    q->related = q->text + m->id.len + 1;
    dec_key(q->down_key, mux->next_down + 1);
    rc = mcphub__map_reserve(&mux->s2c_down, 1);
    if (rc == 0)
        rc = mcphub__map_reserve(&mux->s2c_up, 1);
    if (rc == 0) {
        e.at = m->id;
        e.with = q->down_key;
        e.with_len = strlen(q->down_key);
        rc = render(mux, json, len, m, &e, 1, &out, &olen);
    }
    if (rc == 0)
        rc = send_down(mux, q->sess, out, olen, r->orig_id);
    if (rc != 0) {
        mcphub__free(&mux->mem, q);
        return rc;
    }
    mux->next_down++;
    mcphub__map_put(&mux->s2c_down, q->down_key, q, NULL);
    mcphub__map_put(&mux->s2c_up, q->text, q, NULL);
    q->next = q->sess->asked;
    if (q->next != NULL)
        q->next->prev = q;
    q->sess->asked = q;
    mux->st.server_requests++;
    return 0;
}

/* One classified message that is not a batch. */
static int up_message(mcphub_mux *mux, const mcphub_jsonrpc_msg *m, const char *json, size_t len)
{
    switch (m->kind) {
    case MCPHUB_JSONRPC_RESPONSE:
    case MCPHUB_JSONRPC_ERROR:
        return up_answer(mux, m, json, len);
    case MCPHUB_JSONRPC_REQUEST:
        return up_request(mux, m, json, len);
    case MCPHUB_JSONRPC_NOTIFICATION:
        if (strcmp(m->method, "notifications/progress") == 0)
            return up_progress(mux, m, json, len);
        if (strcmp(m->method, "notifications/cancelled") == 0)
            return up_cancel(mux, m, json, len);
        return broadcast(mux, m, json, len);
    default:
        mux->st.dropped++; /* a batch inside a batch */
        return MCPHUB_E_INVAL;
    }
}

MCPHUB_API int mcphub_mux_from_upstream(mcphub_mux *mux, const char *json, size_t len)
{
    mcphub_jsonrpc_msg m;
    mcphub_jsonrpc_span item;
    size_t pos = 0;
    int rc, first = 0;

    if (mux == NULL || json == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub_jsonrpc_classify(&m, json, len, mux->max_msg);
    if (rc != 0) {
        mux->st.dropped++;
        return rc;
    }
    if (m.kind != MCPHUB_JSONRPC_BATCH)
        return up_message(mux, &m, json, len);
    /* 2025-03-26 servers may batch: each element on its own. */
    while (mcphub_jsonrpc_batch_next(json, len, &pos, &item) == 1) {
        rc = mcphub_jsonrpc_classify(&m, item.ptr, item.len, 0);
        if (rc != 0)
            mux->st.dropped++;
        else
            rc = up_message(mux, &m, item.ptr, item.len);
        if (first == 0 && rc < 0)
            first = rc;
    }
    return first;
}

/* ---- the owner's own messages ----------------------------------------- */

/* {"jsonrpc":"2.0"[,"id":<id>],"method":<method>[,"params":<params>]} into
 * the scratch buffer. */
static int build_own(mcphub_mux *mux, const char *id, const char *method, const char *params,
                     size_t *out_len)
{
    size_t ml, mq, pl = 0, pc = 0, n = 0, bound;
    int rc;

    if (method == NULL || (ml = strlen(method)) == 0 || ml >= MCPHUB_JSONRPC_METHOD_MAX)
        return MCPHUB_E_INVAL;
    mq = mcphub__json_quote(NULL, method, ml);
    if (mq == (size_t)-1)
        return MCPHUB_E_INVAL;
    if (params != NULL) {
        const char *p = params;

        pl = strlen(params);
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if ((*p != '{' && *p != '[') || mcphub__json_check(params, pl) != 0)
            return MCPHUB_E_INVAL;
        pc = mcphub_jsonrpc_rewrite(NULL, 0, params, pl, NULL, 0);
    }
    bound = 64 + (id != NULL ? strlen(id) : 0) + mq + pc;
    rc = ensure_buf(mux, bound);
    if (rc != 0)
        return rc;
#define PUT(s, len) do { memcpy(mux->buf + n, s, len); n += len; } while (0)
    PUT("{\"jsonrpc\":\"2.0\",", 17);
    if (id != NULL) {
        PUT("\"id\":", 5);
        PUT(id, strlen(id));
        PUT(",", 1);
    }
    PUT("\"method\":", 9);
    n += mcphub__json_quote(mux->buf + n, method, ml);
    if (params != NULL) {
        PUT(",\"params\":", 10);
        n += mcphub_jsonrpc_rewrite(mux->buf + n, pc, params, pl, NULL, 0);
    }
    PUT("}", 1);
#undef PUT
    *out_len = n;
    return 0;
}

MCPHUB_API int mcphub_mux_request(mcphub_mux *mux, const char *method, const char *params_json,
                                  uint64_t *token_out)
{
    mcphub_jsonrpc_msg m;
    mcphub_jsonrpc_span none = {NULL, 0};
    mux_req *r;
    size_t n;
    int rc;

    if (mux == NULL || token_out == NULL)
        return MCPHUB_E_INVAL;
    if (mux->st.in_flight >= mux->max_in_flight)
        return MCPHUB_E_FULL;
    r = req_alloc(mux, NULL, none, none);
    if (r == NULL)
        return MCPHUB_E_NOMEM;
    rc = build_own(mux, r->up_key, method, params_json, &n);
    if (rc == 0 && (mcphub_jsonrpc_classify(&m, mux->buf, n, 0) != 0 ||
                    m.progress_token.ptr != NULL))
        rc = MCPHUB_E_INVAL; /* its progress could not be routed */
    if (rc == 0)
        rc = mcphub__map_reserve(&mux->reqs, 1);
    if (rc == 0)
        rc = send_up(mux, mux->buf, n);
    if (rc != 0) {
        mcphub__free(&mux->mem, r);
        return rc;
    }
    req_commit(mux, r);
    *token_out = r->up_id;
    return 0;
}

MCPHUB_API int mcphub_mux_notify(mcphub_mux *mux, const char *method, const char *params_json)
{
    size_t n;
    int rc;

    if (mux == NULL)
        return MCPHUB_E_INVAL;
    rc = build_own(mux, NULL, method, params_json, &n);
    return rc != 0 ? rc : send_up(mux, mux->buf, n);
}

MCPHUB_API int mcphub_mux_upstream_closed(mcphub_mux *mux, const char *message)
{
    size_t i = 0, n;
    void *v;
    int rc, first = 0;

    if (mux == NULL)
        return MCPHUB_E_INVAL;
    if (message == NULL)
        message = "MCP server connection closed";
    n = mcphub__json_quote(NULL, message, strlen(message));
    if (n == (size_t)-1)
        return MCPHUB_E_INVAL;
    rc = ensure_buf(mux, n + MCPHUB_MUX_MAX_ID_BYTES + 100);
    if (rc != 0)
        return rc;
    while (mcphub__map_next(&mux->reqs, &i, NULL, &v)) {
        mux_req *r = v;

        if (r->sess != NULL) {
            n = mcphub__jsonrpc_error_format(mux->buf, mux->buf_cap, r->orig_id,
                                             strlen(r->orig_id), -32000, message);
            rc = send_down(mux, r->sess, mux->buf, n, r->orig_id);
        } else if (mux->cb.internal_response != NULL) {
            n = mcphub__jsonrpc_error_format(mux->buf, mux->buf_cap, r->up_key,
                                             strlen(r->up_key), -32000, message);
            rc = mux->cb.internal_response(r->up_id, mux->buf, n, mux->cb.user_data);
        }
        if (first == 0)
            first = rc;
        rc = 0;
        req_forget(mux, r);
    }
    i = 0;
    while (mcphub__map_next(&mux->s2c_down, &i, NULL, &v))
        s2c_forget(mux, v);
    return first;
}

MCPHUB_API int mcphub_mux_tick(mcphub_mux *mux, uint32_t max_age_ticks, const char *message)
{
    char cancel[200];
    size_t i = 0, n;
    void *v;
    int rc, expired = 0;

    if (mux == NULL || max_age_ticks == 0)
        return MCPHUB_E_INVAL;
    if (message == NULL)
        message = "Request timed out";
    n = mcphub__json_quote(NULL, message, strlen(message));
    if (n == (size_t)-1)
        return MCPHUB_E_INVAL;
    /* Room for the longest error reply first: a failed call changes nothing. */
    if (mux->st.in_flight > 0) {
        rc = ensure_buf(mux, n + MCPHUB_MUX_MAX_ID_BYTES + 100);
        if (rc != 0)
            return rc;
    }
    mux->tick++;
    while (mcphub__map_next(&mux->reqs, &i, NULL, &v)) {
        mux_req *r = v;
        int k;

        /* The owner's requests have deadlines of their own. */
        if (r->sess == NULL || (uint32_t)(mux->tick - r->tick) < max_age_ticks)
            continue;
        n = mcphub__jsonrpc_error_format(mux->buf, mux->buf_cap, r->orig_id,
                                         strlen(r->orig_id), MCPHUB_MUX_TIMEOUT_CODE, message);
        (void)send_down(mux, r->sess, mux->buf, n, r->orig_id);
        k = snprintf(cancel, sizeof cancel,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                     "\"params\":{\"requestId\":%s,\"reason\":\"timed out\"}}",
                     r->up_key);
        (void)send_up(mux, cancel, (size_t)k);
        /* Forgotten even when a callback failed: a late answer is dropped. */
        req_forget(mux, r);
        if (expired < INT_MAX)
            expired++;
    }
    return expired;
}

MCPHUB_API void mcphub_mux_get_stats(const mcphub_mux *mux, mcphub_mux_stats *out)
{
    if (mux == NULL || out == NULL || out->size < sizeof(size_t))
        return;
#define COPY(f) do { if (MCPHUB__HAS(out, mcphub_mux_stats, f)) out->f = mux->st.f; } while (0)
    COPY(sessions);
    COPY(in_flight);
    COPY(server_requests);
    COPY(dropped);
    COPY(refused);
    COPY(upstream_msgs);
    COPY(downstream_msgs);
#undef COPY
}
