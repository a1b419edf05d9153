/* stdio_floor: the floor for the worker benchmark — the same echo calls
 * as loadgen, sent straight to the MCP server over its stdin and stdout,
 * with no gateway in between.
 *
 *   stdio_floor --server PATH --inflight N --calls C [--payload BYTES]
 *               [--timeout SECONDS] [--json]
 *
 * It spawns the server, runs initialize + notifications/initialized, then
 * keeps N tools/call requests in flight (pipelined on the one pipe, a new
 * one written as each answer arrives), matching answers by id.  Every
 * answer must carry the exact text sent, or it counts as an error.  The
 * output matches loadgen's, plus the server's CPU per call (from
 * /proc/<pid>/stat), so a run through the worker can be set against it.
 * Exit status: 0 if every call succeeded, 1 if some failed, 2 if the run
 * could not start. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 4096
#define MAX_PAYLOAD (1u << 20)
#define MAX_LINE (8u << 20)
#define PROTOCOL "2025-11-25"

static struct {
    const char *server;
    long inflight, calls, payload, timeout_s;
    int json;
} O;

static pid_t child = -1;
static int to_fd = -1, from_fd = -1;   /* the server's stdin and stdout */
static char *out, *in, *text;
static size_t out_len, out_off, out_cap, in_len, in_cap;
static uint64_t *sent_ns, *lat_ns;     /* by id; by completion order */
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

/* utime + stime of a live process, in clock ticks; -1 if unreadable. */
static long long proc_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut, st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY)) < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* after "pid (comm) ": state is field 3, utime 14, stime 15 */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL) {
        fprintf(stderr, "stdio_floor: out of memory\n");
        exit(2);
    }
    return p;
}

static void fail(long id, const char *why, const char *line, size_t len)
{
    errors++;
    if (shown++ < 3)
        fprintf(stderr, "stdio_floor: call %ld: %s%s%.*s\n", id, why, len ? ": " : "",
                (int)(len > 300 ? 300 : len), line ? line : "");
}

/* Same text as loadgen's: the call's id, then letters; exactly bytes long. */
static void make_text(char *dst, size_t bytes, uint64_t id)
{
    char num[32];
    size_t i, n = (size_t)snprintf(num, sizeof num, "%llu.", (unsigned long long)id);

    for (i = 0; i < bytes; i++)
        dst[i] = i < n ? num[i] : (char)('a' + (i + id) % 26);
    dst[bytes] = '\0';
}

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; n <= len && i <= len - n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* ---- the child ---- */

static int spawn(void)
{
    int a[2], b[2], devnull;

    if (pipe(a) != 0 || pipe(b) != 0)
        return -1;
    child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        devnull = open("/dev/null", O_WRONLY);
        dup2(a[0], 0);
        dup2(b[1], 1);
        if (devnull >= 0)
            dup2(devnull, 2); /* the server's notes on stderr are not ours to show */
        close(a[0]), close(a[1]), close(b[0]), close(b[1]);
        execl(O.server, O.server, (char *)NULL);
        _exit(127);
    }
    close(a[0]);
    close(b[1]);
    to_fd = a[1];
    from_fd = b[0];
    fcntl(to_fd, F_SETFL, fcntl(to_fd, F_GETFL) | O_NONBLOCK);
    fcntl(from_fd, F_SETFL, fcntl(from_fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static void reap(void)
{
    int st;

    if (to_fd >= 0)
        close(to_fd); /* EOF on stdin: the server exits */
    if (from_fd >= 0)
        close(from_fd);
    to_fd = from_fd = -1;
    if (child > 0 && waitpid(child, &st, 0) < 0)
        perror("stdio_floor: waitpid");
    child = -1;
}

/* ---- the pipe ---- */

static void queue(const char *msg, size_t len)
{
    if (out_cap - out_len < len + 1) {
        size_t cap = (out_len + len + 1) * 2;

        if (out_off > 0) { /* drop what is written before growing */
            memmove(out, out + out_off, out_len - out_off);
            out_len -= out_off;
            out_off = 0;
        }
        if (out_cap - out_len < len + 1) {
            char *p = realloc(out, cap);

            if (p == NULL) {
                fprintf(stderr, "stdio_floor: out of memory\n");
                exit(2);
            }
            out = p;
            out_cap = cap;
        }
    }
    memcpy(out + out_len, msg, len);
    out[out_len + len] = '\n';
    out_len += len + 1;
}

static int flush(void)
{
    while (out_off < out_len) {
        ssize_t n = write(to_fd, out + out_off, out_len - out_off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        out_off += (size_t)n;
    }
    out_off = out_len = 0;
    return 0;
}

static void send_call(void)
{
    char *msg = xmalloc((size_t)O.payload + 256);
    int n;

    issued++;
    make_text(text, (size_t)O.payload, (uint64_t)issued);
    n = snprintf(msg, (size_t)O.payload + 256,
                 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"echo\",\"arguments\":{\"text\":\"%s\"}}}",
                 issued, text);
    sent_ns[issued] = now_ns();
    queue(msg, (size_t)n);
    free(msg);
}

/* One answer line: find its id, check its text, maybe send the next call. */
static void on_line(const char *line, size_t len)
{
    const char *at = find(line, len, "\"id\":"), *t = find(line, len, "\"text\":\"");
    long id = at ? strtol(at + 5, NULL, 10) : 0;

    if (id < 1 || id > issued || sent_ns[id] == 0) {
        fail(id, "answer to no call in flight", line, len);
        return;
    }
    lat_ns[done++] = now_ns() - sent_ns[id];
    sent_ns[id] = 0;
    make_text(text, (size_t)O.payload, (uint64_t)id);
    if (find(line, len, "\"result\"") == NULL || find(line, len, "\"isError\":true") != NULL)
        fail(id, "not a successful result", line, len);
    else if (t == NULL || (size_t)(line + len - t) < 9 + (size_t)O.payload ||
             memcmp(t + 8, text, (size_t)O.payload) != 0 || t[8 + O.payload] != '"')
        fail(id, "echoed text differs", line, len);
    if (issued < O.calls)
        send_call();
}

/* Reads what the server wrote; handles each whole line.  -1 at EOF. */
static int pump_in(void (*handle)(const char *, size_t))
{
    size_t start = 0, i;
    ssize_t n;

    if (in_cap - in_len < 65536) {
        char *p;

        if (in_cap > MAX_LINE || (p = realloc(in, in_cap * 2)) == NULL)
            return -1;
        in = p;
        in_cap *= 2;
    }
    n = read(from_fd, in + in_len, in_cap - in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    for (i = in_len, in_len += (size_t)n; i < in_len; i++)
        if (in[i] == '\n') {
            handle(in + start, i - start);
            start = i + 1;
        }
    memmove(in, in + start, in_len - start);
    in_len -= start;
    return 0;
}

/* Moves bytes both ways until *cond becomes true or nothing happens for
 * the timeout.  Returns 0, or -1 on a dead pipe or a stall. */
static int run_until(const long *counter, long target, void (*handle)(const char *, size_t))
{
    long stalled = 0, last = *counter;

    while (*counter < target) {
        struct pollfd p[2] = {{from_fd, POLLIN, 0}, {to_fd, POLLOUT, 0}};
        int n = poll(p, out_len > out_off ? 2 : 1, 1000);

        if (n < 0 && errno != EINTR)
            return -1;
        if ((p[1].revents & (POLLOUT | POLLERR)) && flush() != 0)
            return -1;
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && pump_in(handle) != 0)
            return -1;
        if (*counter != last)
            last = *counter, stalled = 0;
        else if (n == 0 && ++stalled >= O.timeout_s)
            return -1;
        if (out_len > out_off && flush() != 0) /* answers queue new calls: write them now */
            return -1;
    }
    return 0;
}

/* ---- the handshake ---- */

static long handshake_seen;

static void on_handshake_line(const char *line, size_t len)
{
    if (find(line, len, "\"id\":0") != NULL && find(line, len, "\"result\"") != NULL)
        handshake_seen = 1;
}

static int handshake(void)
{
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"" PROTOCOL "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"stdio_floor\","
        "\"version\":\"1\"}}}";
    static const char inited[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

    queue(init, sizeof init - 1);
    if (flush() != 0 || run_until(&handshake_seen, 1, on_handshake_line) != 0)
        return -1;
    queue(inited, sizeof inited - 1);
    return flush();
}

/* ---- report ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static double pct_us(const uint64_t *v, long n, double p)
{
    long k = (long)(p * (double)n + 0.999999);

    if (n == 0)
        return 0;
    k = k < 1 ? 1 : k > n ? n : k;
    return (double)v[k - 1] / 1e3;
}

static long num_arg(const char *name, const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "stdio_floor: %s must be an integer from %ld to %ld\n", name, lo, hi);
        exit(2);
    }
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: stdio_floor --server PATH --inflight N --calls C [--payload BYTES]\n"
               "                   [--timeout SECONDS] [--json]\n");
}

static void parse_args(int argc, char **argv)
{
    int i;

    O.inflight = 1, O.calls = 10000, O.payload = 64, O.timeout_s = 10;
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
        if (strcmp(a, "--server") == 0)
            O.server = v;
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
    if (O.server == NULL) {
        fprintf(stderr, "stdio_floor: --server PATH is required\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    uint64_t t0, t1;
    long long s0, s1;
    double c0, c1, secs;
    long i;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    sent_ns = calloc((size_t)O.calls + 1, sizeof *sent_ns);
    lat_ns = calloc((size_t)O.calls, sizeof *lat_ns);
    in_cap = 1u << 17;
    in = malloc(in_cap);
    text = malloc((size_t)O.payload + 1);
    if (sent_ns == NULL || lat_ns == NULL || in == NULL || text == NULL) {
        fprintf(stderr, "stdio_floor: out of memory\n");
        return 2;
    }
    if (spawn() != 0 || handshake() != 0) {
        fprintf(stderr, "stdio_floor: cannot start %s\n", O.server);
        reap();
        return 2;
    }

    s0 = proc_ticks(child);
    c0 = cpu_us();
    t0 = now_ns();
    for (i = 0; i < O.inflight && issued < O.calls; i++)
        send_call();
    if (flush() != 0 || run_until(&done, O.calls, on_line) != 0)
        fprintf(stderr, "stdio_floor: the server stopped answering\n");
    t1 = now_ns();
    c1 = cpu_us();
    s1 = proc_ticks(child);
    errors += O.calls - done; /* calls never answered */
    reap();

    qsort(lat_ns, (size_t)done, sizeof *lat_ns, cmp_u64);
    secs = (double)(t1 - t0) / 1e9;
    {
        double server_us = s0 >= 0 && s1 >= s0
                               ? (double)(s1 - s0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
                                     (double)O.calls
                               : -1;

        if (O.json)
            printf("{\"calls\":%ld,\"seconds\":%.4f,\"calls_per_s\":%.0f,\"p50_us\":%.1f,"
                   "\"p99_us\":%.1f,\"p999_us\":%.1f,\"errors\":%ld,\"inflight\":%ld,"
                   "\"payload\":%ld,\"client_cpu_us_per_call\":%.2f,"
                   "\"server_cpu_us_per_call\":%.2f}\n",
                   O.calls, secs, (double)done / secs, pct_us(lat_ns, done, 0.50),
                   pct_us(lat_ns, done, 0.99), pct_us(lat_ns, done, 0.999), errors, O.inflight,
                   O.payload, (c1 - c0) / (double)O.calls, server_us);
        else
            printf("calls          %ld\nseconds        %.3f\ncalls/s        %.0f\n"
                   "p50 us         %.1f\np99 us         %.1f\np99.9 us       %.1f\n"
                   "errors         %ld\nclient CPU us/call %.2f\nserver CPU us/call %.2f\n",
                   O.calls, secs, (double)done / secs, pct_us(lat_ns, done, 0.50),
                   pct_us(lat_ns, done, 0.99), pct_us(lat_ns, done, 0.999), errors,
                   (c1 - c0) / (double)O.calls, server_us);
    }
    free(sent_ns);
    free(lat_ns);
    free(in);
    free(out);
    free(text);
    return errors ? 1 : 0;
}
