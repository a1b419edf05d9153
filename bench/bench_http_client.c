/* Benchmark: sequential HTTP requests through mcphub_http_client to a
 * libmicrohttpd server on 127.0.0.1, one keep-alive connection.
 *
 * Each request is sent from the previous one's on_done (the master's
 * proxy path at concurrency 1).  Reported per request, median of RUNS runs
 * of REQUESTS requests: wall time, CPU time of the client's thread (the
 * server runs in its own thread), allocations through the client's
 * mcphub_mem and through libcurl's allocator.  Baseline in the same run: a
 * blocking client on a raw socket writing the same request and reading the
 * response, i.e. the cost of the server and the kernel alone.  Timing on
 * shared machines is noisy; nothing here asserts on time. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include <mcphub/http_client.h>
#include <mcphub/loop.h>

#define REQUESTS 10000
#define RUNS 5
#define BODY "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"

/* ---- counting allocators ---- */

static long curl_allocs, our_allocs;

static void *c_malloc(size_t n) { curl_allocs++; return malloc(n); }
static void c_free(void *p) { free(p); }
static void *c_realloc(void *p, size_t n) { curl_allocs++; return realloc(p, n); }
static char *c_strdup(const char *s) { curl_allocs++; return strdup(s); }
static void *c_calloc(size_t n, size_t s) { curl_allocs++; return calloc(n, s); }

static void *o_malloc(size_t n, void *ud) { (void)ud; our_allocs++; return malloc(n); }
static void *o_realloc(void *p, size_t n, void *ud) { (void)ud; our_allocs++; return realloc(p, n); }
static void o_free(void *p, void *ud) { (void)ud; free(p); }

/* ---- server ---- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **ctx)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)data;
    if (*ctx == NULL) {
        *ctx = conn;
        return MHD_YES;
    }
    if (*data_size > 0) {   /* the body: read and ignored */
        *data_size = 0;
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static struct MHD_Daemon *server_start(uint16_t *port)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, handle, NULL,
                         MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench_http_client: cannot start the server\n");
        exit(1);
    }
    *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

/* ---- timing ---- */

static double now_us(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- the client under test ---- */

typedef struct chain {
    mcphub_http_client *c;
    char url[64];
    int left, done, bad;
} chain;

static void on_done(uint64_t id, const mcphub_http_response *resp, void *ud);

static void send_next(chain *ch)
{
    static const mcphub_http_kv h[] = {{"Content-Type", "application/json"},
                                       {"X-Cluster-Token", "not-logged"}};
    mcphub_http_call call;

    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.method = "POST";
    call.url = ch->url;
    call.headers = h;
    call.n_headers = 2;
    call.body = BODY;
    call.body_len = sizeof BODY - 1;
    call.on_done = on_done;
    call.user_data = ch;
    ch->left--;
    if (mcphub_http_client_send(ch->c, &call, NULL) != 0)
        ch->bad++;
}

static void on_done(uint64_t id, const mcphub_http_response *resp, void *ud)
{
    chain *ch = ud;

    (void)id;
    if (resp->status != 200 || resp->error != NULL || resp->body_len != sizeof BODY - 1) {
        fprintf(stderr, "bench_http_client: status %ld, %zu bytes, error %s\n", resp->status,
                resp->body_len, resp->error != NULL ? resp->error : "none");
        ch->bad++;
    }
    ch->done++;
    if (ch->left > 0)
        send_next(ch);
}

static void run_chain(mcphub_loop *loop, chain *ch, int n)
{
    ch->left = n;
    ch->done = 0;
    send_next(ch);
    while (ch->done < n && ch->bad == 0)
        if (mcphub_loop_run_once(loop, 1000) < 0)
            break;
    if (ch->bad != 0 || ch->done != n) {
        fprintf(stderr, "bench_http_client: %d requests failed\n", ch->bad);
        exit(1);
    }
}

/* ---- baseline: blocking raw socket ---- */

static int raw_connect(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "bench_http_client: raw connect failed\n");
        exit(1);
    }
    return fd;
}

/* One request, then read until the headers' end plus Content-Length. */
static void raw_request(int fd, const char *req, size_t req_len)
{
    char buf[4096];
    size_t have = 0;

    if (write(fd, req, req_len) != (ssize_t)req_len)
        exit(1);
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        char *end, *cl;

        if (n <= 0)
            exit(1);
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        cl = strstr(buf, "Content-Length:");
        if (end != NULL && cl != NULL &&
            have >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))
            return;
    }
}

int main(void)
{
    double wall[RUNS], cpu[RUNS], base[RUNS];
    long curl_per[RUNS], ours_per[RUNS];
    char req[512];
    mcphub_mem mem = {sizeof(mcphub_mem), o_malloc, o_realloc, o_free, NULL};
    mcphub_http_client_opts o;
    struct MHD_Daemon *d;
    mcphub_loop *loop;
    chain ch;
    uint16_t port;
    int r, i, fd;
    size_t req_len;

    curl_global_init_mem(CURL_GLOBAL_DEFAULT, c_malloc, c_free, c_realloc, c_strdup, c_calloc);
    d = server_start(&port);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    memset(&ch, 0, sizeof ch);
    snprintf(ch.url, sizeof ch.url, "http://127.0.0.1:%u/mcp", (unsigned)port);
    if (mcphub_loop_new(&loop, NULL, NULL) != 0 ||
        mcphub_http_client_new(&ch.c, loop, &o, &mem) != 0) {
        fprintf(stderr, "bench_http_client: setup failed\n");
        return 1;
    }
    run_chain(loop, &ch, 100);   /* warm: connection, pool */
    for (r = 0; r < RUNS; r++) {
        double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
        long ca = curl_allocs, oa = our_allocs;

        run_chain(loop, &ch, REQUESTS);
        wall[r] = (now_us(CLOCK_MONOTONIC) - w0) / REQUESTS;
        cpu[r] = (now_us(CLOCK_THREAD_CPUTIME_ID) - c0) / REQUESTS;
        curl_per[r] = (curl_allocs - ca) / REQUESTS;
        ours_per[r] = our_allocs - oa;
    }
    mcphub_http_client_free(ch.c);
    mcphub_loop_free(loop);

    req_len = (size_t)snprintf(req, sizeof req,
                               "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: */*\r\n"
                               "Content-Type: application/json\r\nX-Cluster-Token: x\r\n"
                               "Content-Length: %zu\r\n\r\n%s",
                               (unsigned)port, sizeof BODY - 1, BODY);
    fd = raw_connect(port);
    for (i = 0; i < 100; i++)
        raw_request(fd, req, req_len);
    for (r = 0; r < RUNS; r++) {
        double w0 = now_us(CLOCK_MONOTONIC);

        for (i = 0; i < REQUESTS; i++)
            raw_request(fd, req, req_len);
        base[r] = (now_us(CLOCK_MONOTONIC) - w0) / REQUESTS;
    }
    close(fd);
    MHD_stop_daemon(d);

    {
        double w = median(wall, RUNS), c = median(cpu, RUNS), b = median(base, RUNS);
        long ours = 0, cu = 0;

        for (r = 0; r < RUNS; r++) {
            ours += ours_per[r];
            cu += curl_per[r];
        }
        printf("http_client: %d x %d sequential POSTs, one keep-alive connection (medians)\n",
               RUNS, REQUESTS);
        printf("  mcphub_http_client   %7.1f us/request wall  %7.1f us/request client CPU\n", w, c);
        printf("  raw blocking socket  %7.1f us/request wall  (baseline: server + kernel)\n", b);
        printf("  overhead             %7.1f us/request (x%.2f of baseline)\n", w - b, w / b);
        printf("  allocations          %ld through mcphub_mem in %d requests, "
               "~%ld per request in libcurl\n", ours, RUNS * REQUESTS, cu / RUNS);
    }
    curl_global_cleanup();
    return 0;
}
