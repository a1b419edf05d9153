/* embed-gateway — an MCP gateway of its own that embeds libmcphub-cluster.
 *
 * Its HTTP server (POSIX sockets, poll, a thread per connection) and its
 * HTTP client (libcurl's easy interface) are its own; the library makes the
 * decisions: mcphub_registry (workers and their health), mcphub_balancer
 * (which healthy replica takes a new session: least connections),
 * mcphub_affinity (which replica a session is bound to), mcphub_jsonrpc
 * (classifies each message, builds our error replies).
 *
 * MCP clients speak Streamable HTTP to http://HOST:PORT/mcp/SERVER.  An
 * initialize goes to the replica the balancer picks and the worker's
 * Mcp-Session-Id is bound to it; the session's later requests (POST, GET,
 * DELETE) go to http://WORKER/mcp/SERVER?replica=ID with X-Cluster-Token,
 * and the answer (JSON or an SSE stream) is relayed as it arrives.  A worker
 * that cannot be reached fails a check in the registry: it turns unhealthy,
 * the balancer skips it, an initialize is retried on another replica, and a
 * session bound to it gets 404 "Session not found" (the client then opens a
 * new session).  Every --check-interval ms (default 1000; 0: never) each
 * worker's /health is probed, so a worker that comes back is used again.
 *
 *   embed-gateway [--host 127.0.0.1] [--port 3400] [--token T | $CLUSTER_TOKEN]
 *                 [--check-interval MS] --worker ID=HOST:PORT/SERVER[:REPLICA][,...]
 *
 * --worker (1 to 3 times) names a worker and the servers it runs, each with
 * its replica id there (default SERVER-local, as on a standalone worker):
 *
 *   mcphub-workerd -c s.json --standalone --port 3301 --token T    (and 3302)
 *   embed-gateway --token T --worker w1=127.0.0.1:3301/example \
 *                           --worker w2=127.0.0.1:3302/example
 *
 * Build: cc -std=c99 embed-gateway.c \
 *            $(pkg-config --cflags --libs libmcphub-cluster libcurl) -pthread
 * Logs: stderr, "embed-gateway event=NAME key=value ...", gateway_start first
 * (with the port).  A sketch: IPv4, no TLS, one request per connection. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mcphub/affinity.h>
#include <mcphub/balancer.h>
#include <mcphub/jsonrpc.h>
#include <mcphub/registry.h>

#define MAX_WORKERS 3
#define MAX_REPLICAS 24
#define MAX_CONNS 256
#define MAX_BODY (4u << 20)
#define LOCK() pthread_mutex_lock(&G.lock)
#define UNLOCK() pthread_mutex_unlock(&G.lock)
#define LOG(fmt, ...) fprintf(stderr, "embed-gateway " fmt "\n", __VA_ARGS__)

typedef struct { char id[64], host[128]; unsigned port; } worker_t;
/* key ("w1/example-local") names the replica in the library: unique per worker */
typedef struct { const worker_t *w; char server[64], remote[64], key[160]; } replica_t;
typedef struct { /* a client's request */
    char method[8], path[256], sid[160], proto[48], accept[128], ctype[128], last_id[128];
    char *body;
    size_t len;
} request_t;
typedef struct { /* a worker's answer, relayed as it arrives */
    int fd, head_sent;
    long status;
    char ctype[128], sid[160];
} relay_t;

static struct {
    pthread_mutex_t lock; /* the library's handles are single-threaded */
    mcphub_registry *reg;
    mcphub_affinity *aff;
    mcphub_balancer *bal;
    worker_t workers[MAX_WORKERS];
    replica_t reps[MAX_REPLICAS];
    size_t nworkers, nreps, conns;
    const char *token;
    long check_ms;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .check_ms = 1000};
static volatile sig_atomic_t stopping;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int safe_name(const char *s, size_t max) /* 1..max-1 of [A-Za-z0-9._:-] */
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");
    return n > 0 && n < max && s[n] == '\0';
}

/* ---- the library's side, always with G.lock held ------------------------------------------ */

static const replica_t *find_replica(const char *key)
{
    size_t i;
    for (i = 0; i < G.nreps; i++)
        if (strcmp(G.reps[i].key, key) == 0)
            return &G.reps[i];
    return NULL;
}

static void sync_active(void) /* least connections counts each replica's sessions */
{
    size_t i;
    for (i = 0; i < G.nreps; i++)
        mcphub_balancer_set_active(G.bal, G.reps[i].key,
                                   (uint32_t)mcphub_affinity_count_replica(G.aff, G.reps[i].key));
}

/* The registry decides health; the balancer follows it. */
static void on_node_status(const mcphub_node *n, mcphub_node_status old, const char *why, void *u)
{
    (void)u;
    mcphub_balancer_set_node_health(G.bal, n->id, n->status == MCPHUB_NODE_ONLINE);
    if (n->status == MCPHUB_NODE_OFFLINE && mcphub_affinity_unbind_node(G.aff, n->id) > 0)
        sync_active(); /* its sessions are gone with it */
    LOG("event=node_status node=%s old=%s new=%s reason=%s", n->id, mcphub_node_status_name(old),
        mcphub_node_status_name(n->status), why);
}

/* An answer from w (ok) or none.  An answer is a heartbeat: for a node that
 * is not online, one success toward rise.  Only a node that is online also
 * gets a passed check (it clears the failed ones; for the others it would be
 * a second success for the same answer). */
static void report(const worker_t *w, int ok)
{
    const mcphub_node *n;
    if (ok)
        mcphub_registry_heartbeat(G.reg, w->id, NULL, 0, now_ms());
    n = mcphub_registry_get(G.reg, w->id);
    if (!ok || (n != NULL && n->status == MCPHUB_NODE_ONLINE))
        mcphub_registry_check_result(G.reg, w->id, ok, now_ms());
}

/* ---- our HTTP server's output: the body runs until we close ------------------------------- */

static int send_all(int fd, const char *p, size_t len) /* blocking: all or an error */
{
    return send(fd, p, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int send_head(int fd, long status, const char *ctype, const char *sid)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %ld %s\r\nConnection: close\r\n%s%s%s%s%s%s\r\n",
                     status, status < 300 ? "OK" : "Error", *ctype ? "Content-Type: " : "", ctype,
                     *ctype ? "\r\n" : "", *sid ? "Mcp-Session-Id: " : "", sid, *sid ? "\r\n" : "");
    return n > 0 && (size_t)n < sizeof head ? send_all(fd, head, (size_t)n) : -1;
}

static void send_error(int fd, long status, const mcphub_jsonrpc_span *id, int code,
                       const char *text)
{
    char *body = NULL;
    size_t len = 0;
    if (mcphub_jsonrpc_error_response(&body, &len, id ? id->ptr : NULL, id ? id->len : 0, code,
                                      text, NULL) == 0 &&
        send_head(fd, status, "application/json", "") == 0)
        send_all(fd, body, len);
    free(body);
}

/* ---- our HTTP client: libcurl ---------------------------------------------------------------- */

/* Header line "Name: value\r\n" called name?  Then copy its value, if it
 * fits and has no control character (nothing can be smuggled into our own
 * requests or answers). */
static int header(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t k = strlen(name), i;
    if (len <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    for (line += k + 1, len -= k + 1; len > 0 && (*line == ' ' || *line == '\t'); line++, len--)
        ;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    for (i = 0; i < len && ((unsigned char)line[i] >= 0x20 || line[i] == '\t'); i++)
        ;
    if (i == len && len < cap)
        snprintf(dst, cap, "%.*s", (int)len, line);
    return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    relay_t *r = ud;
    size_t len = size * n;
    if (len > 9 && strncmp(line, "HTTP/", 5) == 0) { /* a status line, maybe after a 1xx */
        r->status = strtol(line + strcspn(line, " "), NULL, 10);
        r->ctype[0] = r->sid[0] = '\0';
    } else if ((line[0] == '\r' || line[0] == '\n') && r->status >= 200 && !r->head_sent) {
        r->head_sent = 1; /* the worker answered; pass the head on now, SSE may take time */
        if (send_head(r->fd, r->status, r->ctype, r->sid) != 0)
            return 0; /* our client left: abort */
    } else {
        header(line, len, "Content-Type", r->ctype, sizeof r->ctype);
        header(line, len, "Mcp-Session-Id", r->sid, sizeof r->sid);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    return send_all(((relay_t *)ud)->fd, data, size * n) == 0 ? size * n : 0;
}

/* Called at least once a second: stop when our client left (a quiet stream would not tell). */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    char byte;
    (void)a, (void)b, (void)c, (void)d;
    return stopping || recv(((relay_t *)ud)->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static struct curl_slist *add(struct curl_slist *h, const char *name, const char *value)
{
    char line[300];
    if (value == NULL || *value == '\0')
        return h;
    snprintf(line, sizeof line, "%s: %s", name, value);
    return curl_slist_append(h, line);
}

/* Send q to rp and relay the answer.  0: done; 1: cut short after the worker
 * answered, or our client left; -1: the worker was not reached, nothing sent. */
static int forward(const replica_t *rp, const request_t *q, relay_t *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = add(add(add(NULL, "X-Cluster-Token", G.token), "Accept", q->accept),
                               "Content-Type", q->ctype);
    char url[512];
    CURLcode rc;
    h = add(add(add(h, "Mcp-Session-Id", q->sid), "MCP-Protocol-Version", q->proto),
            "Last-Event-ID", q->last_id);
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    snprintf(url, sizeof url, "http://%s:%u/mcp/%s?replica=%s", rp->w->host, rp->w->port,
             rp->server, rp->remote);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    if (strcmp(q->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15L * 60 * 1000); /* the longest tool call */
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    rc = c != NULL && h != NULL ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rc == CURLE_OK || r->head_sent || rc == CURLE_ABORTED_BY_CALLBACK)
        return rc == CURLE_OK ? 0 : 1;
    LOG("event=forward_failed node=%s replica=%s error=\"%s\"", rp->w->id, rp->key,
        curl_easy_strerror(rc));
    return -1;
}

static size_t discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data, (void)ud;
    return size * n;
}

static int probe(const worker_t *w) /* the active check: GET /health answers 200 */
{
    CURL *c = curl_easy_init();
    char url[300];
    long status = 0;
    snprintf(url, sizeof url, "http://%s:%u/health", w->host, w->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    if (c != NULL && curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status == 200;
}

/* ---- our HTTP server's input: one request per connection --------------------------------- */

/* Read one request.  0, -1 (the client left or is too slow), or an HTTP status to refuse with. */
static int read_request(FILE *in, request_t *q)
{
    char line[4096], num[24] = "";
    size_t lines = 0;
    if (fgets(line, sizeof line, in) == NULL)
        return -1;
    if (sscanf(line, "%7s %255s", q->method, q->path) != 2)
        return 400;
    while (fgets(line, sizeof line, in) != NULL && strcmp(line, "\r\n") != 0) {
        size_t len = strlen(line);
        if (++lines > 100 || len == 0 || line[len - 1] != '\n')
            return 431;
        if (header(line, len, "Transfer-Encoding", num, sizeof num))
            return 411; /* chunked request bodies: not in this sketch */
        if (header(line, len, "Content-Length", num, sizeof num))
            q->len = strtoul(num, NULL, 10);
        header(line, len, "Mcp-Session-Id", q->sid, sizeof q->sid);
        header(line, len, "MCP-Protocol-Version", q->proto, sizeof q->proto);
        header(line, len, "Accept", q->accept, sizeof q->accept);
        header(line, len, "Content-Type", q->ctype, sizeof q->ctype);
        header(line, len, "Last-Event-ID", q->last_id, sizeof q->last_id);
    }
    if (strcmp(line, "\r\n") != 0)
        return -1;
    if (q->len > MAX_BODY)
        return 413;
    if ((q->body = malloc(q->len + 1)) == NULL)
        return 503;
    q->body[q->len] = '\0';
    return fread(q->body, 1, q->len, in) == q->len ? 0 : -1;
}

/* ---- routing: the library decides, we carry it out ------------------------------------------ */

/* Where a request goes (G.lock held): a session's request to the replica
 * the affinity table names; an initialize to the one the balancer picks,
 * other than exclude (which just failed).  NULL: *rc says why not. */
static const replica_t *choose(const char *sid, const char *server, const char *exclude, int *rc)
{
    const char *key = NULL;
    mcphub_route rt;
    if (*sid == '\0') {
        *rc = mcphub_balancer_pick(G.bal, server, *exclude ? exclude : NULL, &key, NULL);
        return *rc == 0 ? find_replica(key) : NULL;
    }
    if ((*rc = mcphub_affinity_get(G.aff, sid, server, &rt)) != 0)
        return NULL;
    mcphub_affinity_touch(G.aff, sid, server, now_ms());
    return find_replica(rt.replica);
}

/* What a forward tells the library (G.lock held): the worker's health, and
 * the session's binding, made by an initialize and ended by a DELETE, a 404
 * from the worker or the worker's loss. */
static void account(const request_t *q, const relay_t *r, const char *server,
                    const replica_t *rp, int res)
{
    if (res != 1) /* 1: cut short, tells nothing */
        report(rp->w, res == 0);
    if (*q->sid &&
        (res < 0 || r->status == 404 || (!strcmp(q->method, "DELETE") && r->status < 300)))
        mcphub_affinity_unbind(G.aff, q->sid, server);
    else if (!*q->sid && res >= 0 && r->status == 200 && *r->sid)
        mcphub_affinity_bind(G.aff, r->sid, server, rp->w->id, rp->key, now_ms());
    sync_active();
}

static void route(const request_t *q, relay_t *r, const char *server,
                  const mcphub_jsonrpc_msg *msg)
{
    char exclude[160] = "", text[128];
    int rc = 0, res = -1;
    size_t attempt;
    for (attempt = 0; attempt < G.nreps && res < 0; attempt++) {
        const replica_t *rp;
        LOCK();
        rp = choose(q->sid, server, exclude, &rc);
        UNLOCK();
        if (rp == NULL)
            break;
        res = forward(rp, q, r); /* 0 done, 1 cut short, -1 the worker was not reached */
        LOCK();
        account(q, r, server, rp, res); /* -1: unhealthy now, the next pick skips it */
        UNLOCK();
        LOG("event=forward method=%s rpc=%s session=%.8s server=%s node=%s replica=%s "
            "status=%ld result=%d", q->method, msg->method, *q->sid ? q->sid : r->sid, server,
            rp->w->id, rp->key, r->status, res);
        if (*q->sid) /* a session lives on its worker: no second try */
            break;
        snprintf(exclude, sizeof exclude, "%s", rp->key);
    }
    snprintf(text, sizeof text, "Unknown server: %s", server);
    if (res >= 0)
        return;
    if (*q->sid) /* 404: an MCP client then starts a new session */
        send_error(r->fd, 404, &msg->id, -32001, "Session not found");
    else if (rc == MCPHUB_E_NOTFOUND)
        send_error(r->fd, 404, &msg->id, -32001, text);
    else
        send_error(r->fd, 503, &msg->id, -32000, "No healthy replica of this server");
}

static void handle(const request_t *q, relay_t *r)
{
    mcphub_jsonrpc_msg msg;
    char server[64] = "";
    size_t n = strncmp(q->path, "/mcp/", 5) == 0 ? strcspn(q->path + 5, "/?") : 0;
    memset(&msg, 0, sizeof msg);
    if (n < sizeof server)
        snprintf(server, sizeof server, "%.*s", (int)n, q->path + 5);
    if (!safe_name(server, sizeof server))
        send_error(r->fd, 404, NULL, -32601, "Not found: use /mcp/SERVER");
    else if (strcmp(q->method, "POST") == 0 &&
             mcphub_jsonrpc_classify(&msg, q->body, q->len, MAX_BODY) != 0)
        send_error(r->fd, 400, &msg.id, msg.error_reply, msg.reason);
    else if (strcmp(q->method, "POST") && strcmp(q->method, "GET") && strcmp(q->method, "DELETE"))
        send_error(r->fd, 405, NULL, -32000, "Method not allowed");
    else if (*q->sid || (msg.kind == MCPHUB_JSONRPC_REQUEST && !strcmp(msg.method, "initialize")))
        route(q, r, server, &msg);
    else
        send_error(r->fd, 400, &msg.id, -32000, "Bad Request: Mcp-Session-Id header is required");
}

static void *serve(void *arg)
{
    struct timeval tv = {30, 0}; /* a client has 30 s per read, and to take each write */
    request_t q = {.body = NULL};
    relay_t r = {.fd = (int)(intptr_t)arg};
    FILE *in = fdopen(r.fd, "r");
    int st = -1;
    setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(r.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (in != NULL && (st = read_request(in, &q)) == 0)
        handle(&q, &r);
    else if (in != NULL && st > 0)
        send_error(r.fd, st, NULL, MCPHUB_JSONRPC_INVALID_REQUEST, "Request refused");
    free(q.body);
    if (in != NULL)
        fclose(in); /* and the socket */
    else
        close(r.fd);
    LOCK();
    G.conns--;
    UNLOCK();
    return NULL;
}

/* ---- setup and the accept loop ------------------------------------------------------------- */

static int add_worker(char *spec) /* ID=HOST:PORT/SERVER[:REPLICA][,...] */
{
    worker_t *w = &G.workers[G.nworkers];
    char *eq = strchr(spec, '='), *slash = eq ? strchr(eq, '/') : NULL, *colon, *srv, *save;
    if (G.nworkers == MAX_WORKERS || slash == NULL)
        return -1;
    *eq = *slash = '\0';
    if ((colon = strrchr(eq + 1, ':')) == NULL || !safe_name(spec, sizeof w->id))
        return -1;
    *colon = '\0';
    snprintf(w->id, sizeof w->id, "%s", spec);
    snprintf(w->host, sizeof w->host, "%s", eq + 1);
    if ((w->port = (unsigned)strtoul(colon + 1, NULL, 10)) == 0 || w->port > 65535)
        return -1;
    for (srv = strtok_r(slash + 1, ",", &save); srv != NULL; srv = strtok_r(NULL, ",", &save)) {
        replica_t *rp = &G.reps[G.nreps];
        char *rid = strchr(srv, ':'), key[sizeof rp->key];
        if (rid != NULL)
            *rid++ = '\0';
        if (G.nreps == MAX_REPLICAS || !safe_name(srv, sizeof rp->server) ||
            (rid != NULL && !safe_name(rid, sizeof rp->remote)))
            return -1;
        rp->w = w;
        snprintf(rp->server, sizeof rp->server, "%s", srv);
        snprintf(rp->remote, sizeof rp->remote, "%s%s", rid ? rid : srv, rid ? "" : "-local");
        snprintf(key, sizeof key, "%s/%s", spec, rp->remote);
        memcpy(rp->key, key, sizeof key);
        G.nreps++;
    }
    G.nworkers++;
    return 0;
}

static int setup(void)
{
    mcphub_registry_opts ro = {.size = sizeof ro, .on_status = on_node_status};
    mcphub_affinity_opts ao = {.size = sizeof ao};
    size_t i;
    ro.heartbeat_interval_ms = (uint64_t)G.check_ms; /* 0: defaults, unused (no probes) */
    ro.heartbeat_timeout_ms = 4 * (uint64_t)G.check_ms;
    ao.hash_seed = (uint32_t)now_ms() ^ (uint32_t)getpid() * 2654435761u;
    if (mcphub_registry_new(&G.reg, &ro, NULL) != 0 ||
        mcphub_affinity_new(&G.aff, &ao, NULL) != 0 || mcphub_balancer_new(&G.bal, NULL, NULL) != 0)
        return -1;
    for (i = 0; i < G.nreps; i++)
        if (mcphub_balancer_set_replica(G.bal, G.reps[i].server, G.reps[i].key, G.reps[i].w->id,
                                        1, 1) != 0)
            return -1;
    for (i = 0; i < G.nworkers; i++) {
        mcphub_node_info info = {.size = sizeof info, .id = G.workers[i].id,
                                 .host = G.workers[i].host, .port = (uint16_t)G.workers[i].port};
        if (mcphub_registry_register(G.reg, &info, now_ms(), NULL) != 0)
            return -1;
    }
    return 0;
}

static void *prober(void *arg)
{
    struct timespec ts = {G.check_ms / 1000, (G.check_ms % 1000) * 1000000L};
    int ok[MAX_WORKERS];
    size_t i;
    (void)arg;
    for (;;) {
        nanosleep(&ts, NULL);
        for (i = 0; i < G.nworkers; i++)
            ok[i] = probe(&G.workers[i]);
        LOCK();
        for (i = 0; i < G.nworkers; i++)
            report(&G.workers[i], ok[i]);
        mcphub_registry_tick(G.reg, now_ms()); /* no answer for too long: offline */
        UNLOCK();
    }
    return NULL;
}

static void on_signal(int sig)
{
    stopping = sig;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: embed-gateway [--host H] [--port P] [--token T] [--check-interval MS]\n"
               "                     --worker ID=HOST:PORT/SERVER[:REPLICA][,...]  (1 to %d)\n"
               "Routes MCP Streamable HTTP on /mcp/SERVER to the workers' replicas.\n"
               "The token may come from $CLUSTER_TOKEN; --check-interval 0: no probes.\n",
               MAX_WORKERS);
    return status;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 3400;
    int i, lfd, one = 1;
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    struct sigaction act;
    pthread_t t;
    G.token = getenv("CLUSTER_TOKEN");
    for (i = 1; i < argc; i += 2) {
        char *v = argv[i + 1];
        if (strcmp(argv[i], "--help") == 0)
            return usage(stdout, 0);
        if (v == NULL)
            return usage(stderr, 2);
        if (strcmp(argv[i], "--host") == 0)
            host = v;
        else if (strcmp(argv[i], "--port") == 0)
            port = strtol(v, NULL, 10);
        else if (strcmp(argv[i], "--token") == 0)
            G.token = v;
        else if (strcmp(argv[i], "--check-interval") == 0)
            G.check_ms = strtol(v, NULL, 10);
        else if (strcmp(argv[i], "--worker") != 0 || add_worker(v) != 0) {
            fprintf(stderr, "embed-gateway: bad %s %s\n", argv[i], v);
            return usage(stderr, 2);
        }
    }
    if (G.nworkers == 0 || port < 0 || port > 65535 || G.check_ms < 0)
        return usage(stderr, 2);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || curl_global_init(CURL_GLOBAL_ALL) != 0 ||
        setup() != 0) {
        fprintf(stderr, "embed-gateway: bad --host or --worker, or out of memory\n");
        return 1;
    }
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
        fprintf(stderr, "embed-gateway: %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal; /* no SA_RESTART: poll returns at once */
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (G.check_ms > 0 && pthread_create(&t, NULL, prober, NULL) == 0)
        pthread_detach(t);
    LOG("event=gateway_start host=%s port=%u workers=%zu replicas=%zu check_interval=%ld", host,
        (unsigned)ntohs(sa.sin_port), G.nworkers, G.nreps, G.check_ms);
    while (!stopping) {
        struct pollfd p = {0, POLLIN, 0};
        int fd;
        p.fd = lfd;
        if (poll(&p, 1, 1000) > 0 && (fd = accept(lfd, NULL, NULL)) >= 0) {
            LOCK();
            if (G.conns < MAX_CONNS && pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0) {
                G.conns++;
                pthread_detach(t);
            } else {
                close(fd); /* over the bound: refused */
            }
            UNLOCK();
        }
        LOCK();
        if (mcphub_affinity_expire(G.aff, now_ms(), 0) > 0) /* sessions idle for 30 min */
            sync_active();
        UNLOCK();
    }
    LOCK(); /* and keep it: no thread enters the library again before exit */
    LOG("event=gateway_stop signal=%d sessions=%zu", (int)stopping, mcphub_affinity_count(G.aff));
    mcphub_balancer_free(G.bal);
    mcphub_affinity_free(G.aff);
    mcphub_registry_free(G.reg);
    return 0;
}
