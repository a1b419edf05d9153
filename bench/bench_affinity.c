/* Benchmark: the session affinity table at 1,000,000 routes.
 *
 * 250,000 sessions (UUID-like ids, as Mcp-Session-Id) x 4 servers, 25
 * replicas per server (100 in all) on 10 nodes.  Prints ns per operation
 * (median of several rounds, wall and CPU time) and bytes per route counted
 * through a counting mcphub_mem.  Timings are informative only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mcphub/affinity.h>

#define SESSIONS 250000u
#define SERVERS 4u
#define REPLICAS_PER_SERVER 25u
#define NODES 10u
#define ROUTES (SESSIONS * SERVERS)
#define ROUNDS 5

/* ---- counting allocator ------------------------------------------------------ */

typedef struct counter {
    size_t bytes;     /* requested and live */
    size_t blocks;    /* live */
    size_t estimated; /* live, as a 64-bit glibc malloc would round them */
} counter;

typedef union { size_t n; long double ld; void *p; } head;

/* glibc: 8 bytes of header, 16-byte granules, 32-byte minimum chunk. */
static size_t glibc_chunk(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;

    return c < 32 ? 32 : c;
}

static void *c_malloc(size_t n, void *ud)
{
    counter *c = ud;
    head *h = malloc(sizeof *h + n);

    if (h == NULL)
        return NULL;
    h->n = n;
    c->bytes += n;
    c->blocks++;
    c->estimated += glibc_chunk(n);
    return h + 1;
}

static void c_free(void *p, void *ud)
{
    counter *c = ud;
    head *h;

    if (p == NULL)
        return;
    h = (head *)p - 1;
    c->bytes -= h->n;
    c->blocks--;
    c->estimated -= glibc_chunk(h->n);
    free(h);
}

static void *c_realloc(void *p, size_t n, void *ud)
{
    counter *c = ud;
    head *h, *nh;
    size_t old;

    if (p == NULL)
        return c_malloc(n, ud);
    h = (head *)p - 1;
    old = h->n;
    nh = realloc(h, sizeof *nh + n);
    if (nh == NULL)
        return NULL;
    nh->n = n;
    c->bytes = c->bytes - old + n;
    c->estimated = c->estimated - glibc_chunk(old) + glibc_chunk(n);
    return nh + 1;
}

/* ---- timing -------------------------------------------------------------------- */

typedef struct stamp { struct timespec wall, cpu; } stamp;

static stamp now(void)
{
    stamp s;

    clock_gettime(CLOCK_MONOTONIC, &s.wall);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &s.cpu);
    return s;
}

static double ns_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e9 + (double)(b->tv_nsec - a->tv_nsec);
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

/* ---- workload ------------------------------------------------------------------ */

static char (*session_ids)[40];
static uint32_t *order; /* a random permutation of route numbers */
static uint32_t rng = 2463534242u;

static uint32_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static const char *server_name(uint32_t j)
{
    static const char *const names[SERVERS] = {"fetch", "github", "time", "filesystem"};

    return names[j];
}

/* Replica names, "fetch-replica-3", and the node each runs on. */
static char replica_names[SERVERS * REPLICAS_PER_SERVER][48];
static char node_names[SERVERS * REPLICAS_PER_SERVER][32];

/* The replica of route k = session * SERVERS + server: one of its own
 * server's; shift moves it to another. */
static uint32_t replica_of(uint32_t k, uint32_t shift)
{
    return k % SERVERS * REPLICAS_PER_SERVER + (k / SERVERS + shift) % REPLICAS_PER_SERVER;
}

typedef int (*op_fn)(mcphub_affinity *a, uint32_t k, uint32_t round);

static int op_get(mcphub_affinity *a, uint32_t k, uint32_t round)
{
    mcphub_route r;

    (void)round;
    return mcphub_affinity_get(a, session_ids[k / SERVERS], server_name(k % SERVERS), &r);
}

static int op_touch(mcphub_affinity *a, uint32_t k, uint32_t round)
{
    return mcphub_affinity_touch(a, session_ids[k / SERVERS], server_name(k % SERVERS),
                                 1000 + round);
}

static int op_rebind(mcphub_affinity *a, uint32_t k, uint32_t round)
{
    uint32_t r = replica_of(k, round + 1);

    return mcphub_affinity_bind(a, session_ids[k / SERVERS], server_name(k % SERVERS),
                                node_names[r], replica_names[r], 2000 + round);
}

/* Latency of one dependent load from a random place in 64 MiB: the price
 * of a cache and TLB miss on this machine, to read the numbers against. */
static double miss_ns;

static void measure_miss(void)
{
    size_t n = (size_t)8 << 20, i, p = 0;
    size_t *chain = malloc(n * sizeof *chain);
    stamp t0, t1;

    if (chain == NULL)
        return;
    for (i = 0; i < n; i++)
        chain[i] = i;
    /* Sattolo's shuffle: one cycle through every element */
    for (i = n - 1; i > 0; i--) {
        size_t j = xorshift() % i, tmp = chain[i];

        chain[i] = chain[j];
        chain[j] = tmp;
    }
    t0 = now();
    for (i = 0; i < 2000000; i++)
        p = chain[p];
    t1 = now();
    miss_ns = ns_between(&t0.wall, &t1.wall) / 2e6;
    printf("baseline: one dependent random load in 64 MiB, %.1f ns (%zu)\n", miss_ns, p % 2);
    free(chain);
}

/* hot: the same 1024 routes over and over, so the table sits in cache and
 * what is left is the cost of the code itself. */
static void run(const char *name, mcphub_affinity *a, op_fn op, int hot)
{
    double wall[ROUNDS], cpu[ROUNDS], med;
    uint32_t round, i;
    long failures = 0;

    for (round = 0; round < ROUNDS; round++) {
        stamp t0 = now(), t1;

        for (i = 0; i < ROUTES; i++)
            failures += op(a, order[hot ? i % 1024 : i], round) != 0;
        t1 = now();
        wall[round] = ns_between(&t0.wall, &t1.wall) / ROUTES;
        cpu[round] = ns_between(&t0.cpu, &t1.cpu) / ROUTES;
    }
    med = median(wall, ROUNDS);
    printf("affinity %s%s: %zu routes, %.1f ns/op (cpu %.1f ns/op, %.1f x baseline, median of %d x %u)%s\n",
           name, hot ? " (1024 hot routes)" : "", mcphub_affinity_count(a), med,
           median(cpu, ROUNDS), miss_ns > 0 ? med / miss_ns : 0.0, ROUNDS, (unsigned)ROUTES,
           failures ? " FAILED CALLS" : "");
}

int main(void)
{
    counter c;
    mcphub_mem mem;
    mcphub_affinity_opts o;
    mcphub_affinity *a = NULL;
    uint32_t i, r;
    stamp t0, t1;
    size_t n;
    int rc;

    memset(&c, 0, sizeof c);
    memset(&mem, 0, sizeof mem);
    mem.size = sizeof mem;
    mem.malloc_fn = c_malloc;
    mem.realloc_fn = c_realloc;
    mem.free_fn = c_free;
    mem.user_data = &c;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.hash_seed = 0x9e3779b9u;
    if (mcphub_affinity_new(&a, &o, &mem) != 0)
        return 1;

    session_ids = malloc(SESSIONS * sizeof *session_ids);
    order = malloc(ROUTES * sizeof *order);
    if (session_ids == NULL || order == NULL)
        return 1;
    for (i = 0; i < SESSIONS; i++)
        sprintf(session_ids[i], "%08x-%04x-4%03x-%04x-%08x%04x", (unsigned)xorshift(),
                (unsigned)(xorshift() & 0xffff), (unsigned)(xorshift() & 0xfff),
                (unsigned)(0x8000 | (xorshift() & 0x3fff)), (unsigned)xorshift(),
                (unsigned)(xorshift() & 0xffff));
    for (i = 0; i < ROUTES; i++)
        order[i] = i;
    for (i = ROUTES - 1; i > 0; i--) {
        uint32_t j = xorshift() % (i + 1), tmp = order[i];

        order[i] = order[j];
        order[j] = tmp;
    }
    for (r = 0; r < SERVERS * REPLICAS_PER_SERVER; r++) {
        sprintf(replica_names[r], "%s-replica-%u", server_name(r / REPLICAS_PER_SERVER),
                (unsigned)r);
        sprintf(node_names[r], "worker-%u", (unsigned)(r % NODES));
    }

    /* Fill, sessions in order as they would arrive. */
    t0 = now();
    for (i = 0; i < ROUTES; i++) {
        r = replica_of(i, 0);
        rc = mcphub_affinity_bind(a, session_ids[i / SERVERS], server_name(i % SERVERS),
                                  node_names[r], replica_names[r], 1);
        if (rc != 0) {
            fprintf(stderr, "bind: %s\n", mcphub_strerror(rc));
            return 1;
        }
    }
    t1 = now();
    printf("affinity bind new: %zu routes, %.1f ns/op (cpu %.1f ns/op, one fill)\n",
           mcphub_affinity_count(a), ns_between(&t0.wall, &t1.wall) / ROUTES,
           ns_between(&t0.cpu, &t1.cpu) / ROUTES);
    printf("affinity memory: %zu routes, %.1f bytes/route requested, %.1f bytes/route "
           "with glibc malloc rounding (%zu blocks)\n",
           mcphub_affinity_count(a), (double)c.bytes / ROUTES, (double)c.estimated / ROUTES,
           c.blocks);

    measure_miss();
    run("get", a, op_get, 0);
    run("get", a, op_get, 1);
    run("bind", a, op_rebind, 0);
    run("bind", a, op_rebind, 1);
    run("touch", a, op_touch, 0);

    t0 = now();
    n = mcphub_affinity_expire(a, UINT64_MAX, 0);
    t1 = now();
    printf("affinity expire: %zu routes, %.1f ns/op (cpu %.1f ns/op, all at once)\n", n,
           ns_between(&t0.wall, &t1.wall) / (double)n, ns_between(&t0.cpu, &t1.cpu) / (double)n);
    printf("affinity after expire: %zu routes, %zu bytes in %zu blocks\n",
           mcphub_affinity_count(a), c.bytes, c.blocks);

    mcphub_affinity_free(a);
    free(session_ids);
    free(order);
    return 0;
}
