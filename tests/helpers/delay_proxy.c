/* A delaying TCP forwarder for the fault tests (tests/integration/faults.sh):
 * the kernel here has no sch_netem, so added latency comes from this proxy
 * put between two nodes.
 *
 *   usage: delay_proxy [--delay MS] [--on] LISTEN_IP:PORT=TARGET_IP:PORT ...
 *
 * Every pair is a listener (port 0 picks one) forwarding each accepted
 * connection to its target.  While the delay is on, every chunk read on
 * either side is written to the other side MS milliseconds after it was
 * read (default 200), in order; while it is off chunks go on at once (a
 * chunk never overtakes one read before it).  The delay starts off unless
 * --on is given; SIGUSR1 turns it on, SIGUSR2 off.  A half-close travels
 * once the data before it has, a reset or error closes both sides.
 *
 * Prints "event=delay_proxy_start listen=IP:PORT target=IP:PORT port=N" for
 * each pair once listening (N: the port bound), "event=delay_proxy_delay
 * on=0|1 ms=MS" at the start and on each change, and on SIGTERM or SIGINT
 * "event=delay_proxy_stop ..." (connections, bytes each way), then exits 0.
 * Bounded: at most MAX_CONNS connections (more are refused by closing
 * them), at most QUEUE_MAX bytes waiting per direction (the proxy stops
 * reading that side until it drains). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 8
#define MAX_CONNS 256
#define CHUNK 16384
#define QUEUE_MAX (1024 * 1024)

typedef struct chunk {
    struct chunk *next;
    uint64_t due_ms;
    size_t len, off;
    char data[];
} chunk;

/* One direction of a connection: from fd `from` to fd `to`. */
typedef struct flow {
    chunk *head, *tail;
    size_t queued;
    int eof;      /* read EOF on `from` */
    int shut;     /* shutdown(to, SHUT_WR) done */
    uint64_t bytes;
} flow;

typedef struct conn {
    int used;
    int fd[2];       /* 0: the accepted side, 1: the target side */
    int connecting;  /* the target connect() is in progress */
    flow f[2];       /* f[0]: fd[0] -> fd[1], f[1]: fd[1] -> fd[0] */
} conn;

typedef struct pair {
    int lfd;
    struct sockaddr_in target;
    char spec[300];
} pair;

static volatile sig_atomic_t g_stop, g_want = -1; /* g_want: the last of SIGUSR1 (1), SIGUSR2 (0) */
static pair g_pairs[MAX_PAIRS];
static size_t g_npairs;
static conn g_conns[MAX_CONNS];
static uint64_t g_accepted, g_refused, g_bytes[2];

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_want = 1;
    else if (sig == SIGUSR2)
        g_want = 0;
    else
        g_stop = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_addr(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);

    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void flow_clear(flow *f)
{
    chunk *c = f->head;

    while (c != NULL) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(f, 0, sizeof *f);
}

static void conn_close(conn *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        g_bytes[i] += c->f[i].bytes;
        flow_clear(&c->f[i]);
    }
    memset(c, 0, sizeof *c);
    c->fd[0] = c->fd[1] = -1;
}

static void accept_one(pair *p)
{
    int cfd = accept(p->lfd, NULL, NULL), tfd, one = 1;
    conn *c = NULL;

    if (cfd < 0)
        return;
    g_accepted++;
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (!g_conns[i].used) {
            c = &g_conns[i];
            break;
        }
    tfd = c != NULL ? socket(AF_INET, SOCK_STREAM, 0) : -1;
    if (tfd < 0) {
        g_refused++;
        close(cfd);
        return;
    }
    set_nonblock(cfd);
    set_nonblock(tfd);
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(c, 0, sizeof *c);
    c->used = 1;
    c->fd[0] = cfd;
    c->fd[1] = tfd;
    if (connect(tfd, (struct sockaddr *)&p->target, sizeof p->target) == 0)
        c->connecting = 0;
    else if (errno == EINPROGRESS)
        c->connecting = 1;
    else {
        g_refused++;
        conn_close(c);
    }
}

/* Read what fd `from` has into flow f; 0, or -1 when the connection must close. */
static int flow_read(conn *c, int dir, uint64_t delay)
{
    flow *f = &c->f[dir];
    char buf[CHUNK];
    ssize_t n = read(c->fd[dir], buf, sizeof buf);
    chunk *k;

    if (n == 0) {
        f->eof = 1;
        return 0;
    }
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    k = malloc(sizeof *k + (size_t)n);
    if (k == NULL)
        return -1;
    k->next = NULL;
    k->due_ms = now_ms() + delay;
    k->len = (size_t)n;
    k->off = 0;
    memcpy(k->data, buf, (size_t)n);
    if (f->tail != NULL)
        f->tail->next = k;
    else
        f->head = k;
    f->tail = k;
    f->queued += (size_t)n;
    return 0;
}

/* Write the chunks of flow f that are due; 0, or -1 when the connection must close. */
static int flow_write(conn *c, int dir, uint64_t now)
{
    flow *f = &c->f[dir];
    int to = c->fd[1 - dir];

    while (f->head != NULL && f->head->due_ms <= now) {
        chunk *k = f->head;
        ssize_t n = send(to, k->data + k->off, k->len - k->off, MSG_NOSIGNAL);

        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        k->off += (size_t)n;
        f->bytes += (uint64_t)n;
        f->queued -= (size_t)n;
        if (k->off < k->len)
            return 0;
        f->head = k->next;
        if (f->head == NULL)
            f->tail = NULL;
        free(k);
    }
    if (f->head == NULL && f->eof && !f->shut) {
        shutdown(to, SHUT_WR);
        f->shut = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long delay_ms = 200;
    int on = 0;
    struct sigaction sa;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--delay") == 0 && i + 1 < argc) {
            delay_ms = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--on") == 0) {
            on = 1;
        } else {
            char spec[128], *eq;
            pair *p;
            struct sockaddr_in la;
            socklen_t len = sizeof la;
            int one = 1;

            snprintf(spec, sizeof spec, "%s", argv[i]);
            eq = strchr(spec, '=');
            if (eq == NULL || g_npairs == MAX_PAIRS) {
                fprintf(stderr, "usage: delay_proxy [--delay MS] [--on] LISTEN_IP:PORT=TARGET_IP:PORT ...\n");
                return 2;
            }
            *eq = '\0';
            p = &g_pairs[g_npairs];
            if (parse_addr(spec, &la) != 0 || parse_addr(eq + 1, &p->target) != 0) {
                fprintf(stderr, "delay_proxy: bad address in %s\n", argv[i]);
                return 2;
            }
            p->lfd = socket(AF_INET, SOCK_STREAM, 0);
            if (p->lfd < 0 ||
                setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                bind(p->lfd, (struct sockaddr *)&la, sizeof la) != 0 || listen(p->lfd, 128) != 0 ||
                getsockname(p->lfd, (struct sockaddr *)&la, &len) != 0) {
                fprintf(stderr, "delay_proxy: cannot listen on %s: %s\n", spec, strerror(errno));
                return 1;
            }
            set_nonblock(p->lfd);
            snprintf(p->spec, sizeof p->spec, "listen=%s target=%s", spec, eq + 1);
            printf("event=delay_proxy_start %s port=%u\n", p->spec, (unsigned)ntohs(la.sin_port));
            g_npairs++;
        }
    }
    if (g_npairs == 0 || delay_ms < 0) {
        fprintf(stderr, "usage: delay_proxy [--delay MS] [--on] LISTEN_IP:PORT=TARGET_IP:PORT ...\n");
        return 2;
    }
    for (size_t i = 0; i < MAX_CONNS; i++)
        g_conns[i].fd[0] = g_conns[i].fd[1] = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("event=delay_proxy_delay on=%d ms=%ld\n", on, delay_ms);

    while (!g_stop) {
        struct pollfd pfd[MAX_PAIRS + 2 * MAX_CONNS];
        conn *owner[MAX_PAIRS + 2 * MAX_CONNS];
        int side[MAX_PAIRS + 2 * MAX_CONNS];
        nfds_t n = 0;
        uint64_t now = now_ms(), next = now + 100;
        int timeout;

        if (g_want >= 0) {
            on = g_want;
            g_want = -1;
            printf("event=delay_proxy_delay on=%d ms=%ld\n", on, delay_ms);
        }
        for (size_t i = 0; i < g_npairs; i++) {
            pfd[n].fd = g_pairs[i].lfd;
            pfd[n].events = POLLIN;
            owner[n] = NULL;
            side[n] = (int)i;
            n++;
        }
        for (size_t i = 0; i < MAX_CONNS; i++) {
            conn *c = &g_conns[i];

            if (!c->used)
                continue;
            for (int d = 0; d < 2; d++) {
                short ev = 0;

                if (c->connecting) {
                    if (d == 1)
                        ev = POLLOUT;
                } else {
                    /* read side d while its flow has room */
                    if (!c->f[d].eof && c->f[d].queued < QUEUE_MAX)
                        ev |= POLLIN;
                    /* write to side d what flows toward it (flow 1-d) when due */
                    if (c->f[1 - d].head != NULL) {
                        if (c->f[1 - d].head->due_ms <= now)
                            ev |= POLLOUT;
                        else if (c->f[1 - d].head->due_ms < next)
                            next = c->f[1 - d].head->due_ms;
                    }
                }
                pfd[n].fd = c->fd[d];
                pfd[n].events = ev;
                owner[n] = c;
                side[n] = d;
                n++;
            }
        }
        timeout = next > now ? (int)(next - now) : 0;
        if (poll(pfd, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            perror("delay_proxy: poll");
            return 1;
        }
        now = now_ms();
        for (nfds_t i = 0; i < n; i++) {
            conn *c = owner[i];
            int d = side[i];

            if (c == NULL) {
                if (pfd[i].revents & POLLIN)
                    for (int k = 0; k < 16; k++)
                        accept_one(&g_pairs[d]);
                continue;
            }
            if (!c->used || pfd[i].revents == 0)
                continue;
            if (c->connecting) {
                int err = 0;
                socklen_t len = sizeof err;

                if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
                    conn_close(c); /* the accepted side sees the close: target unreachable */
                    continue;
                }
                c->connecting = 0;
                continue;
            }
            if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                flow_read(c, d, on ? (uint64_t)delay_ms : 0) != 0) {
                conn_close(c);
                continue;
            }
            if ((pfd[i].revents & POLLERR) && !(pfd[i].revents & POLLIN)) {
                conn_close(c);
                continue;
            }
        }
        /* Write whatever is due, and retire finished connections. */
        for (size_t i = 0; i < MAX_CONNS; i++) {
            conn *c = &g_conns[i];

            if (!c->used || c->connecting)
                continue;
            if (flow_write(c, 0, now) != 0 || flow_write(c, 1, now) != 0) {
                conn_close(c);
                continue;
            }
            if (c->f[0].shut && c->f[1].shut)
                conn_close(c);
        }
    }
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (g_conns[i].used)
            conn_close(&g_conns[i]);
    printf("event=delay_proxy_stop accepted=%llu refused=%llu bytes_forward=%llu "
           "bytes_back=%llu\n", (unsigned long long)g_accepted, (unsigned long long)g_refused,
           (unsigned long long)g_bytes[0], (unsigned long long)g_bytes[1]);
    return 0;
}
