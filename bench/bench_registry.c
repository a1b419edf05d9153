/* Benchmark: registry heartbeats and ticks with 10,000 nodes.
 *
 * Heartbeats go round-robin over all nodes with ids from the caller's own
 * buffers (so each one pays for hashing and comparing the id).  Each figure
 * is the median of several runs; timing on shared machines is noisy, so
 * nothing here asserts on time.  A checksum of the registry's state is
 * printed so that the work cannot be optimised away. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mcphub/registry.h>

#define NODES 10000
#define HEARTBEATS 2000000
#define TICKS 200
#define RUNS 5

static char ids[NODES][16];

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
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

static mcphub_registry *fill(void)
{
    mcphub_registry_opts o;
    mcphub_registry *r;
    int i;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_nodes = NODES;
    if (mcphub_registry_new(&r, &o, NULL) != 0) {
        fprintf(stderr, "bench_registry: mcphub_registry_new failed\n");
        exit(1);
    }
    for (i = 0; i < NODES; i++) {
        mcphub_node_info in;

        memset(&in, 0, sizeof in);
        in.size = sizeof in;
        in.id = ids[i];
        in.role = MCPHUB_ROLE_WORKER;
        in.host = "10.0.0.1";
        in.port = (uint16_t)(3000 + i % 1000);
        in.meta.hostname = "worker";
        if (mcphub_registry_register(r, &in, 0, NULL) != 0) {
            fprintf(stderr, "bench_registry: register %s failed\n", ids[i]);
            exit(1);
        }
    }
    return r;
}

int main(void)
{
    double hb[RUNS], tick_quiet[RUNS], tick_busy[RUNS], deadline[RUNS], reg[RUNS];
    uint64_t sum = 0;
    int run, i;

    for (i = 0; i < NODES; i++)
        snprintf(ids[i], sizeof ids[i], "worker-%05d", i);

    for (run = 0; run < RUNS; run++) {
        mcphub_node_metrics m = {12.5, 1u << 20, 1u << 30, 3};
        mcphub_registry *r;
        double t0;
        uint64_t now = 1;

        t0 = now_ns();
        r = fill();
        reg[run] = (now_ns() - t0) / NODES;

        t0 = now_ns();
        for (i = 0; i < HEARTBEATS; i++) {
            m.active_connections = (uint32_t)i;
            /* 10,000 heartbeats per simulated second: every node stays fresh */
            if (mcphub_registry_heartbeat(r, ids[i % NODES], &m, 1, now + (uint64_t)i / 10) != 0)
                return 1;
        }
        hb[run] = (now_ns() - t0) / HEARTBEATS;
        now += HEARTBEATS / 10;

        /* Quiet ticks: every node is fresh, nothing changes. */
        t0 = now_ns();
        for (i = 0; i < TICKS; i++)
            mcphub_registry_tick(r, now + (uint64_t)i);
        tick_quiet[run] = (now_ns() - t0) / TICKS;

        t0 = now_ns();
        for (i = 0; i < TICKS; i++)
            sum += mcphub_registry_next_deadline(r);
        deadline[run] = (now_ns() - t0) / TICKS;

        /* One busy tick: all 10,000 nodes time out at once. */
        t0 = now_ns();
        mcphub_registry_tick(r, now + 1000000);
        tick_busy[run] = now_ns() - t0;

        sum += mcphub_registry_count_status(r, MCPHUB_NODE_OFFLINE);
        sum += mcphub_registry_get(r, ids[NODES - 1])->metrics.active_connections;
        mcphub_registry_free(r);
    }

    printf("registry register: %d nodes, %.1f ns/op\n", NODES, median(reg, RUNS));
    printf("registry heartbeat: %d nodes, %.1f ns/op\n", NODES, median(hb, RUNS));
    printf("registry tick (no change): %d nodes, %.1f us/op\n", NODES,
           median(tick_quiet, RUNS) / 1000.0);
    printf("registry tick (all time out): %d nodes, %.1f us/op\n", NODES,
           median(tick_busy, RUNS) / 1000.0);
    printf("registry next_deadline: %d nodes, %.1f us/op\n", NODES,
           median(deadline, RUNS) / 1000.0);
    printf("registry checksum: %llu (median of %d runs)\n", (unsigned long long)sum, RUNS);
    return 0;
}
