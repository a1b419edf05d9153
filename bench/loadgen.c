/* loadgen: keeps N MCP tools/call requests in flight against a Streamable
 * HTTP endpoint (mcphub-workerd's /mcp/:server, mcphub-masterd's /mcp) and
 * reports throughput, latency percentiles and errors.
 *
 *   loadgen --url http://127.0.0.1:3199/mcp/example --sessions S
 *           --inflight N --calls C [--tool NAME] [--token T] [--bearer KEY]
 *           [--payload BYTES] [--timeout SECONDS] [--json]
 *
 * It opens S MCP sessions (initialize + notifications/initialized), then
 * runs N connection slots, each a keep-alive HTTP/1.1 connection carrying
 * one call of the echo tool (named NAME at this endpoint: "echo" on a
 * worker, "example-echo" through the master) at a time on session (slot mod
 * S).  Every answer must carry the request's id and the exact text sent, or
 * it counts as an error.  --token sends X-Cluster-Token, --bearer sends
 * Authorization: Bearer.
 *
 *   loadgen --url ... --streams N [--hold SECONDS]
 *
 * The idle mode: opens N sessions, each on its own connection (initialize,
 * notifications/initialized, then GET: an open SSE stream), prints one JSON
 * line once they are open, holds them for SECONDS (default 10; SIGTERM or
 * SIGINT ends the hold early) reading whatever arrives (keep-alives),
 * prints a second line (how many the server closed meanwhile), then closes
 * them and DELETEs the sessions.  For measuring what idle streams cost the
 * server.
 *
 * Raw non-blocking sockets, level-triggered epoll and a minimal response
 * parser (Content-Length and chunked): the client has to cost little CPU
 * next to the gateway it measures, which is why this is not libcurl.
 * Exit status: 0 if every call succeeded, 1 if some failed, 2 if the run
 * could not start. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 1024
#define MAX_STREAMS 1000000
#define MAX_INFLIGHT 4096
#define MAX_PAYLOAD (1u << 20)
#define MAX_RESPONSE (8u << 20) /* a bigger answer is an error, not a realloc storm */
#define PROTOCOL "2025-11-25"

typedef struct options {
    const char *url, *token, *bearer, *tool;
    char host[256], port[8], path[512];
    long sessions, inflight, calls, payload, timeout_s, streams, hold_s;
    int json;
} options;

typedef struct session {
    char id[128];
    char version[32];
    char *head;        /* request line and headers, up to "Content-Length: " */
    size_t head_len;
} session;

typedef struct slot {
    int fd;
    session *s;
    int busy, want_out;
    uint64_t id, t0_ns;
    char *out;         /* the request being written */
    size_t out_len, out_off, out_cap;
    char *in;          /* bytes of the response so far */
    size_t in_len, in_cap;
    char *text;        /* the echo text of the call in flight */
} slot;

typedef struct http_resp {
    int status, close;
    const char *body;
    size_t body_len, total;
    const char *sid;   /* Mcp-Session-Id, not terminated */
    size_t sid_len;
} http_resp;

static options O;
static struct addrinfo *addr;
static int ep = -1;
static uint64_t *lat_ns;
static long issued, done, errors, shown;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

/* Reports the first few failures in full; the rest are only counted. */
static void fail(uint64_t id, const char *why, const char *body, size_t len)
{
    errors++;
    if (shown++ < 3)
        fprintf(stderr, "loadgen: call %llu: %s%s%.*s\n", (unsigned long long)id, why,
                len ? ": " : "", (int)(len > 300 ? 300 : len), body ? body : "");
}

/* ---- the echo text: the call's id, then letters; exactly O.payload bytes ---- */

static void make_text(char *out, size_t bytes, uint64_t id)
{
    char num[32];
    size_t i, n = (size_t)snprintf(num, sizeof num, "%llu.", (unsigned long long)id);

    for (i = 0; i < bytes; i++)
        out[i] = i < n ? num[i] : (char)('a' + (i + id) % 26);
    out[bytes] = '\0';
}

/* ---- a minimal HTTP/1.1 response parser ---- */

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; n <= len && i <= len - n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* Walks a chunked body.  Returns the encoded length once the last chunk
 * and trailers are in, 0 if more bytes are needed, -1 if malformed.  With
 * dst, also copies the data there (dst may be p: the output never
 * overtakes the input). */
static long chunked(const char *p, size_t len, char *dst, size_t *out_len)
{
    size_t pos = 0, o = 0;

    for (;;) {
        const char *eol = find(p + pos, len - pos, "\r\n");
        unsigned long long size = 0;
        size_t i;

        if (eol == NULL)
            return 0;
        for (i = pos; p + i < eol && p[i] != ';'; i++) {
            int c = p[i], d = c >= '0' && c <= '9' ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

            if (d < 0 || size > MAX_RESPONSE)
                return -1;
            size = size * 16 + (unsigned)d;
        }
        if (i == pos)
            return -1;
        pos = (size_t)(eol - p) + 2;
        if (size == 0)
            break;
        if (len - pos < size + 2)
            return 0;
        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n')
            return -1;
        if (dst != NULL)
            memmove(dst + o, p + pos, (size_t)size);
        o += (size_t)size;
        pos += (size_t)size + 2;
    }
    for (;;) { /* trailers, up to an empty line */
        const char *eol = find(p + pos, len - pos, "\r\n");

        if (eol == NULL)
            return 0;
        if (eol == p + pos) {
            *out_len = o;
            return (long)(pos + 2);
        }
        pos = (size_t)(eol - p) + 2;
    }
}

static int header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static void header_value(const char *line, size_t len, const char **v, size_t *vlen)
{
    const char *p = (const char *)memchr(line, ':', len) + 1, *end = line + len;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *v = p;
    *vlen = (size_t)(end - p);
}

/* Returns 1 with *r filled when buf holds a whole response (a chunked body
 * is decoded in place), 0 if more bytes are needed, -1 if malformed. */
static int http_parse(char *buf, size_t len, http_resp *r)
{
    const char *end = find(buf, len, "\r\n\r\n"), *line, *v;
    size_t hlen, vlen;
    long long clen = -1;
    int is_chunked = 0, minor;

    if (end == NULL)
        return len > 65536 ? -1 : 0;
    hlen = (size_t)(end - buf) + 4;
    memset(r, 0, sizeof *r);
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    minor = buf[7] - '0';
    r->status = atoi(buf + 9);
    r->close = minor == 0;
    for (line = find(buf, hlen, "\r\n") + 2; line < end;) {
        const char *eol = find(line, hlen - (size_t)(line - buf), "\r\n");
        size_t ll = (size_t)(eol - line);

        if (memchr(line, ':', ll) != NULL) {
            header_value(line, ll, &v, &vlen);
            if (header_is(line, ll, "Content-Length"))
                clen = strtoll(v, NULL, 10);
            else if (header_is(line, ll, "Transfer-Encoding"))
                is_chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
            else if (header_is(line, ll, "Connection"))
                r->close = vlen == 5 ? strncasecmp(v, "close", 5) == 0
                                     : r->close && strncasecmp(v, "keep-alive", 10) != 0;
            else if (header_is(line, ll, "Mcp-Session-Id"))
                r->sid = v, r->sid_len = vlen;
        }
        line = eol + 2;
    }
    r->body = buf + hlen;
    if (is_chunked) {
        long n = chunked(buf + hlen, len - hlen, NULL, &r->body_len);

        if (n <= 0)
            return (int)n;
        chunked(buf + hlen, len - hlen, buf + hlen, &r->body_len);
        r->total = hlen + (size_t)n;
        return 1;
    }
    if (clen < 0) {
        /* No length: only bodiless statuses are understood; reading to the
         * end of the connection would defeat keep-alive anyway. */
        if (r->status == 204 || r->status == 304 || r->status / 100 == 1)
            clen = 0;
        else
            return -1;
    }
    if (clen > (long long)MAX_RESPONSE)
        return -1;
    if (len - hlen < (size_t)clen)
        return 0;
    r->body_len = (size_t)clen;
    r->total = hlen + (size_t)clen;
    return 1;
}

/* ---- connections ---- */

static int connect_to(int nonblocking)
{
    int fd = socket(addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    if (connect(fd, addr->ai_addr, addr->ai_addrlen) != 0) { /* loopback: immediate */
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblocking) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    } else { /* setup steps: a server that never answers is an error, not a hang */
        struct timeval tv = {O.timeout_s, 0};

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One request and its response on a blocking socket (setup and teardown
 * only): on fd, kept open, or on a fresh connection when fd < 0.  Returns 0
 * with the response in *buf (caller frees), or -1. */
static int exchange(int keep_fd, const char *req, size_t len, char **buf, http_resp *r)
{
    size_t have = 0, cap = 65536;
    int fd = keep_fd >= 0 ? keep_fd : connect_to(0), rc = -1;

    *buf = xmalloc(cap);
    memset(r, 0, sizeof *r);
    if (fd < 0 || write_all(fd, req, len) != 0)
        goto out;
    for (;;) {
        ssize_t n = read(fd, *buf + have, cap - have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        have += (size_t)n;
        if ((rc = http_parse(*buf, have, r)) != 0)
            break;
        if (have == cap)
            goto out;
    }
    rc = rc == 1 && r->total == have ? 0 : -1;
out:
    if (fd >= 0 && keep_fd < 0)
        close(fd);
    return rc;
}

static size_t headers(char *out, size_t cap, const char *method, const session *s)
{
    int n = snprintf(out, cap,
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\n%s%s%s%s%s%s%s%s%s%s%s%s",
                     method, O.path, O.host, O.port, s ? "Mcp-Session-Id: " : "",
                     s ? s->id : "", s ? "\r\n" : "", s ? "MCP-Protocol-Version: " : "",
                     s ? s->version : "", s ? "\r\n" : "", O.token ? "X-Cluster-Token: " : "",
                     O.token ? O.token : "", O.token ? "\r\n" : "",
                     O.bearer ? "Authorization: Bearer " : "", O.bearer ? O.bearer : "",
                     O.bearer ? "\r\n" : "");

    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* POSTs one JSON message (on session s, or none) on fd, or on a fresh
 * connection when fd < 0. */
static int post(int fd, const session *s, const char *body, char **buf, http_resp *r)
{
    char req[8192];
    size_t h = headers(req, sizeof req, "POST", s);
    int n = h ? snprintf(req + h, sizeof req - h, "Content-Length: %zu\r\n\r\n%s",
                         strlen(body), body)
              : -1;

    *buf = NULL;
    if (n < 0 || (size_t)n >= sizeof req - h)
        return -1;
    return exchange(fd, req, h + (size_t)n, buf, r);
}

/* initialize + notifications/initialized, on fd or on fresh connections
 * (fd < 0).  With head, keeps the request head for calls on the session. */
static int session_open(session *s, long n, int fd, int head)
{
    char body[512], *buf = NULL;
    const char *v, *q;
    http_resp r;

    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":\"init-%ld\",\"method\":\"initialize\","
             "\"params\":{\"protocolVersion\":\"" PROTOCOL "\",\"capabilities\":{},"
             "\"clientInfo\":{\"name\":\"loadgen\",\"version\":\"1\"}}}", n);
    if (post(fd, NULL, body, &buf, &r) != 0 || r.status != 200 || r.sid == NULL ||
        r.sid_len >= sizeof s->id || (fd >= 0 && r.close)) {
        fprintf(stderr, "loadgen: session %ld: initialize failed (status %d)\n", n,
                buf ? r.status : 0);
        free(buf);
        return -1;
    }
    memcpy(s->id, r.sid, r.sid_len);
    s->id[r.sid_len] = '\0';
    /* later requests carry the version the server chose */
    snprintf(s->version, sizeof s->version, "%s", PROTOCOL);
    v = find(r.body, r.body_len, "\"protocolVersion\":\"");
    if (v != NULL) {
        v += 19;
        q = memchr(v, '"', r.body_len - (size_t)(v - r.body));
        if (q != NULL && (size_t)(q - v) < sizeof s->version)
            snprintf(s->version, sizeof s->version, "%.*s", (int)(q - v), v);
    }
    free(buf);
    if (post(fd, s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &buf,
             &r) != 0 ||
        r.status / 100 != 2 || (fd >= 0 && r.close)) {
        fprintf(stderr, "loadgen: session %ld: notifications/initialized failed\n", n);
        free(buf);
        return -1;
    }
    free(buf);
    if (!head)
        return 0;
    s->head = xmalloc(4096);
    s->head_len = headers(s->head, 4096, "POST", s);
    return s->head_len > 0 ? 0 : -1;
}

/* DELETE ends the session so that repeated runs do not pile them up. */
static void session_close(session *s)
{
    char req[4096], *buf = NULL;
    size_t h = headers(req, sizeof req, "DELETE", s);
    http_resp r;

    if (h > 0 && h + 24 < sizeof req) {
        memcpy(req + h, "Content-Length: 0\r\n\r\n", 21);
        exchange(-1, req, h + 21, &buf, &r);
    }
    free(buf);
    free(s->head);
    s->head = NULL;
}

/* ---- the measured phase ---- */

static void watch(slot *c, int out)
{
    struct epoll_event ev;

    if (c->want_out == out)
        return;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (out ? (uint32_t)EPOLLOUT : 0u);
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static int slot_connect(slot *c)
{
    struct epoll_event ev;

    c->fd = connect_to(1);
    if (c->fd < 0)
        return -1;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    c->want_out = 0;
    c->in_len = 0;
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void slot_close(slot *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
}

/* Writes what the socket takes; asks for EPOLLOUT if some is left. */
static int flush(slot *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return -1;
        c->out_off += (size_t)n;
    }
    watch(c, c->out_off < c->out_len);
    return 0;
}

static void slot_send(slot *c)
{
    size_t need = c->s->head_len + 2 * ((size_t)O.payload + strlen(O.tool)) + 512, off;
    int n;

    c->id = (uint64_t)++issued;
    make_text(c->text, (size_t)O.payload, c->id);
    if (c->out_cap < need) {
        free(c->out);
        c->out = xmalloc(need);
        c->out_cap = need;
    }
    /* the body goes in the upper half first, to learn its length */
    off = need / 2;
    n = snprintf(c->out + off, need - off,
                 "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"%s\",\"arguments\":{\"text\":\"%s\"}}}",
                 (unsigned long long)c->id, O.tool, c->text);
    memcpy(c->out, c->s->head, c->s->head_len);
    c->out_len = c->s->head_len;
    c->out_len += (size_t)snprintf(c->out + c->out_len, 32, "Content-Length: %d\r\n\r\n", n);
    memmove(c->out + c->out_len, c->out + off, (size_t)n);
    c->out_len += (size_t)n;
    c->out_off = 0;
    c->busy = 1;
    c->t0_ns = now_ns();
    if (flush(c) != 0) { /* the slot stays idle; the stall timeout ends a dead run */
        slot_close(c);
        fail(c->id, "write failed", NULL, 0);
        lat_ns[done++] = now_ns() - c->t0_ns;
        c->busy = 0;
    }
}

/* The answer must be a 200 whose JSON carries our id and our text. */
static void check(slot *c, const http_resp *r)
{
    char want[48];
    size_t n = (size_t)snprintf(want, sizeof want, "\"id\":%llu", (unsigned long long)c->id);
    const char *at = find(r->body, r->body_len, want);
    const char *t = find(r->body, r->body_len, "\"text\":\"");

    if (r->status != 200)
        fail(c->id, "HTTP status not 200", r->body, r->body_len);
    else if (at == NULL || (at[n] != ',' && at[n] != '}'))
        fail(c->id, "wrong or missing id", r->body, r->body_len);
    else if (find(r->body, r->body_len, "\"result\"") == NULL ||
             find(r->body, r->body_len, "\"isError\":true") != NULL)
        fail(c->id, "not a successful result", r->body, r->body_len);
    else if (t == NULL || (size_t)(r->body + r->body_len - t) < 9 + (size_t)O.payload ||
             memcmp(t + 8, c->text, (size_t)O.payload) != 0 || t[8 + O.payload] != '"')
        fail(c->id, "echoed text differs", r->body, r->body_len);
}

/* The call on c is over (answered or failed): record it, start the next. */
static void finish(slot *c)
{
    lat_ns[done++] = now_ns() - c->t0_ns;
    c->busy = 0;
    if (c->fd < 0 && issued < O.calls && slot_connect(c) != 0) {
        fprintf(stderr, "loadgen: cannot reconnect\n");
        return;
    }
    if (issued < O.calls)
        slot_send(c);
}

static void on_event(slot *c, uint32_t events)
{
    http_resp r;
    ssize_t n;
    int rc;

    if ((events & EPOLLOUT) && flush(c) != 0)
        goto broken;
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    if (c->in_cap - c->in_len < 16384) {
        size_t cap = c->in_cap * 2;
        char *p;

        if (cap > MAX_RESPONSE + 65536 || (p = realloc(c->in, cap)) == NULL)
            goto broken;
        c->in = p;
        c->in_cap = cap;
    }
    n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        goto broken;
    c->in_len += (size_t)n;
    if ((rc = http_parse(c->in, c->in_len, &r)) == 0)
        return;
    if (rc < 0 || !c->busy || r.total != c->in_len) {
        fail(c->id, "malformed or unexpected response", c->in, c->in_len);
        goto broken;
    }
    check(c, &r);
    c->in_len = 0;
    if (r.close)
        slot_close(c);
    finish(c);
    return;
broken:
    slot_close(c);
    if (c->busy) {
        fail(c->id, "connection lost", NULL, 0);
        finish(c);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of the sample at or below it. */
static double pct_us(const uint64_t *v, long n, double p)
{
    long k = (long)(p * (double)n + 0.999999);

    if (n == 0)
        return 0;
    k = k < 1 ? 1 : k > n ? n : k;
    return (double)v[k - 1] / 1e3;
}

/* ---- the idle mode: N sessions, each with an open GET stream ---- */

static volatile sig_atomic_t stop_hold;

static void on_stop(int sig)
{
    (void)sig;
    stop_hold = 1;
}

/* Opens one session on its own connection and turns that connection into
 * the session's GET stream.  Returns the fd (non-blocking), or -1. */
static int stream_open(session *s, long n)
{
    char req[4096], buf[4096];
    size_t h, have = 0;
    const char *end;
    int fd = connect_to(0);

    if (fd < 0) {
        fprintf(stderr, "loadgen: stream %ld: cannot connect\n", n);
        return -1;
    }
    if (session_open(s, n, fd, 0) != 0)
        goto fail;
    h = headers(req, sizeof req, "GET", s); /* its Accept names text/event-stream */
    if (h == 0 || h + 2 >= sizeof req)
        goto fail;
    memcpy(req + h, "\r\n", 2);
    if (write_all(fd, req, h + 2) != 0)
        goto fail;
    for (;;) { /* the response head; the body is the stream, read later */
        ssize_t k = read(fd, buf + have, sizeof buf - 1 - have);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            fprintf(stderr, "loadgen: stream %ld: no answer to GET\n", n);
            goto fail_quiet;
        }
        have += (size_t)k;
        buf[have] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")) != NULL)
            break;
        if (have == sizeof buf - 1)
            goto fail;
    }
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 ||
        find(buf, (size_t)(end - buf), "text/event-stream") == NULL) {
        fprintf(stderr, "loadgen: stream %ld: GET answered %.*s\n", n,
                (int)(strcspn(buf, "\r\n")), buf);
        goto fail_quiet;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
fail:
    fprintf(stderr, "loadgen: stream %ld: session setup failed\n", n);
fail_quiet:
    close(fd);
    return -1;
}

static int run_streams(void)
{
    session *ss = calloc((size_t)O.streams, sizeof *ss);
    int *fds = malloc((size_t)O.streams * sizeof *fds);
    struct epoll_event ev, evs[256];
    struct sigaction sa;
    uint64_t t0, t1, deadline;
    long i, opened = 0, lost = 0;
    char sink[65536];

    if (ss == NULL || fds == NULL || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 2;
    }
    t0 = now_ns();
    for (i = 0; i < O.streams; i++) {
        fds[i] = stream_open(&ss[i], i);
        if (fds[i] < 0)
            break; /* the rest would fail the same way: hold what is open */
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = (uint64_t)i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            close(fds[i]);
            fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
            break;
        }
        opened++;
    }
    t1 = now_ns();
    printf("{\"streams\":%ld,\"opened\":%ld,\"open_seconds\":%.3f,\"errors\":%ld}\n",
           O.streams, opened, (double)(t1 - t0) / 1e9, O.streams - opened);
    fflush(stdout);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    deadline = now_ns() + (uint64_t)O.hold_s * 1000000000u;
    while (!stop_hold && now_ns() < deadline) {
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), 200), k;

        for (k = 0; k < n; k++) {
            long at = (long)evs[k].data.u64;
            ssize_t got = read(fds[at], sink, sizeof sink); /* keep-alives: discarded */

            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                close(fds[at]); /* the server ended the stream */
                fds[at] = -1;
                lost++;
            }
        }
    }
    printf("{\"held_seconds\":%.1f,\"open\":%ld,\"closed_by_server\":%ld}\n",
           (double)(now_ns() - t1) / 1e9, opened - lost, lost);
    fflush(stdout);
    for (i = 0; i < opened; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (i = 0; i < opened; i++) /* sessions outlive their streams: end them */
        session_close(&ss[i]);
    close(ep);
    free(fds);
    free(ss);
    return opened == O.streams && lost == 0 ? 0 : 1;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen --url http://HOST:PORT/PATH --sessions S --inflight N --calls C\n"
               "               [--tool NAME] [--token T] [--bearer KEY] [--payload BYTES]\n"
               "               [--timeout SECONDS] [--json]\n"
               "       loadgen --url http://HOST:PORT/PATH --streams N [--hold SECONDS]\n"
               "               [--token T] [--bearer KEY] [--timeout SECONDS]\n"
               "  calls: S sessions, N calls in flight (one keep-alive connection each) of\n"
               "    the echo tool NAME (default echo), C calls in all; every answer checked\n"
               "  streams: N sessions each holding an open GET stream for SECONDS\n"
               "    (default 10), one JSON line when open and one when the hold ends\n"
               "  --token sends X-Cluster-Token, --bearer Authorization: Bearer;\n"
               "  --timeout: seconds without an answer before giving up (default 10)\n");
}

static long num_arg(const char *name, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "loadgen: %s must be an integer from %ld to %ld\n", name, lo, hi);
        exit(2);
    }
    return n;
}

static int parse_url(const char *url)
{
    const char *p, *slash, *colon;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    if ((colon ? colon : slash) == p || (size_t)((colon ? colon : slash) - p) >= sizeof O.host)
        return -1;
    snprintf(O.host, sizeof O.host, "%.*s", (int)((colon ? colon : slash) - p), p);
    if (colon != NULL && (slash - colon - 1 < 1 || slash - colon - 1 > 5))
        return -1;
    snprintf(O.port, sizeof O.port, "%.*s", colon ? (int)(slash - colon - 1) : 2,
             colon ? colon + 1 : "80");
    snprintf(O.path, sizeof O.path, "%s", *slash ? slash : "/");
    return 0;
}

static void parse_args(int argc, char **argv)
{
    int i;

    O.sessions = 1, O.inflight = 1, O.calls = 10000, O.payload = 64, O.timeout_s = 10;
    O.tool = "echo", O.hold_s = 10;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--json") == 0) {
            O.json = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            usage(stderr);
            exit(2);
        }
        i++;
        if (strcmp(a, "--url") == 0)
            O.url = v;
        else if (strcmp(a, "--token") == 0)
            O.token = v;
        else if (strcmp(a, "--bearer") == 0)
            O.bearer = v;
        else if (strcmp(a, "--tool") == 0)
            O.tool = v;
        else if (strcmp(a, "--streams") == 0)
            O.streams = num_arg(a, v, 1, MAX_STREAMS);
        else if (strcmp(a, "--hold") == 0)
            O.hold_s = num_arg(a, v, 0, 86400);
        else if (strcmp(a, "--sessions") == 0)
            O.sessions = num_arg(a, v, 1, MAX_SESSIONS);
        else if (strcmp(a, "--inflight") == 0)
            O.inflight = num_arg(a, v, 1, MAX_INFLIGHT);
        else if (strcmp(a, "--calls") == 0)
            O.calls = num_arg(a, v, 1, 100000000);
        else if (strcmp(a, "--payload") == 0)
            O.payload = num_arg(a, v, 1, MAX_PAYLOAD);
        else if (strcmp(a, "--timeout") == 0)
            O.timeout_s = num_arg(a, v, 1, 3600);
        else {
            usage(stderr);
            exit(2);
        }
    }
    if (O.url == NULL || parse_url(O.url) != 0) {
        fprintf(stderr, "loadgen: --url http://HOST[:PORT]/PATH is required\n");
        exit(2);
    }
    /* both go into headers and JSON verbatim */
    if (*O.tool == '\0' || strpbrk(O.tool, "\"\\\r\n") != NULL ||
        (O.token && strpbrk(O.token, "\r\n")) || (O.bearer && strpbrk(O.bearer, "\r\n"))) {
        fprintf(stderr, "loadgen: --tool, --token or --bearer holds a character it cannot send\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct addrinfo hints;
    struct epoll_event evs[256];
    session *sessions;
    slot *slots;
    uint64_t t0, t1;
    double c0, c1, secs;
    long i, last = 0, stalled = 0;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(O.host, O.port, &hints, &addr) != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s\n", O.host);
        return 2;
    }
    if (O.streams > 0) {
        int rc = run_streams();

        freeaddrinfo(addr);
        return rc;
    }
    sessions = calloc((size_t)O.sessions, sizeof *sessions);
    slots = calloc((size_t)O.inflight, sizeof *slots);
    lat_ns = calloc((size_t)O.calls, sizeof *lat_ns);
    if (sessions == NULL || slots == NULL || lat_ns == NULL || (ep = epoll_create1(0)) < 0) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 2;
    }
    for (i = 0; i < O.sessions; i++)
        if (session_open(&sessions[i], i, -1, 1) != 0)
            return 2;
    for (i = 0; i < O.inflight; i++) {
        slot *c = &slots[i];

        c->s = &sessions[i % O.sessions];
        c->in_cap = 65536;
        c->in = xmalloc(c->in_cap);
        c->text = xmalloc((size_t)O.payload + 1);
        if (slot_connect(c) != 0) {
            fprintf(stderr, "loadgen: cannot connect to %s:%s\n", O.host, O.port);
            return 2;
        }
    }

    c0 = cpu_us();
    t0 = now_ns();
    for (i = 0; i < O.inflight && issued < O.calls; i++)
        slot_send(&slots[i]);
    while (done < O.calls) {
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), 1000), k;

        if (n < 0 && errno != EINTR)
            break;
        for (k = 0; k < n; k++)
            on_event(evs[k].data.ptr, evs[k].events);
        if (done != last) {
            last = done;
            stalled = 0;
        } else if (n <= 0 && ++stalled >= O.timeout_s) {
            fprintf(stderr, "loadgen: no answer for %ld s; giving up\n", O.timeout_s);
            break;
        }
    }
    t1 = now_ns();
    c1 = cpu_us();
    errors += O.calls - done; /* calls never answered */

    for (i = 0; i < O.inflight; i++) {
        slot_close(&slots[i]);
        free(slots[i].in);
        free(slots[i].out);
        free(slots[i].text);
    }
    for (i = 0; i < O.sessions; i++)
        session_close(&sessions[i]);
    qsort(lat_ns, (size_t)done, sizeof *lat_ns, cmp_u64);
    secs = (double)(t1 - t0) / 1e9;
    if (O.json)
        printf("{\"calls\":%ld,\"seconds\":%.4f,\"calls_per_s\":%.0f,\"p50_us\":%.1f,"
               "\"p99_us\":%.1f,\"p999_us\":%.1f,\"errors\":%ld,\"inflight\":%ld,"
               "\"sessions\":%ld,\"payload\":%ld,\"client_cpu_us_per_call\":%.2f}\n",
               O.calls, secs, (double)done / secs, pct_us(lat_ns, done, 0.50),
               pct_us(lat_ns, done, 0.99), pct_us(lat_ns, done, 0.999), errors, O.inflight,
               O.sessions, O.payload, (c1 - c0) / (double)O.calls);
    else
        printf("calls          %ld\nseconds        %.3f\ncalls/s        %.0f\n"
               "p50 us         %.1f\np99 us         %.1f\np99.9 us       %.1f\n"
               "errors         %ld\nclient CPU us/call %.2f\n",
               O.calls, secs, (double)done / secs, pct_us(lat_ns, done, 0.50),
               pct_us(lat_ns, done, 0.99), pct_us(lat_ns, done, 0.999), errors,
               (c1 - c0) / (double)O.calls);
    free(lat_ns);
    free(slots);
    free(sessions);
    freeaddrinfo(addr);
    close(ep);
    return errors ? 1 : 0;
}
