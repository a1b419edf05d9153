/* Benchmark: full replica plans for a large cluster.
 *
 * 1,000 nodes (seeded random cpu, 40 servers each at most), 10,000 servers
 * wanting 2 replicas each.  Times a plan from scratch, then carries it out,
 * takes 10 nodes offline and times the re-plan.  Prints the median of
 * several runs and the spread of replicas over nodes after the first plan.
 * Target: under 100 ms per full plan.
 *
 * MAX_SERVERS is the nodes' capacity, not a crutch for spreading: the
 * score's load term spreads the replicas by itself.  Without a limit
 * (MAX_SERVERS 0) the loads run from 0 (cpu near 100) to 45 (cpu near 0),
 * since a replica weighs as much as 2 points of cpu; with 40 the limit
 * binds on the lowest-cpu nodes, so the full-node path is timed too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mcphub/scheduler.h>

#define NODES 1000
#define SERVERS 10000
#define REPLICAS 2
#define MAX_SERVERS 40
#define FAILED 10
#define RUNS 9

static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median time of RUNS plans of in; *last receives the last plan. */
static double time_plan(const mcphub_sched_input *in, mcphub_plan **last)
{
    double t[RUNS];
    int i;

    *last = NULL;
    for (i = 0; i < RUNS; i++) {
        double t0 = now_ms();
        int rc;

        mcphub_plan_free(*last);
        rc = mcphub_scheduler_plan(last, in, NULL);
        t[i] = now_ms() - t0;
        if (rc != 0) {
            fprintf(stderr, "bench_scheduler: plan failed: %s\n", mcphub_strerror(rc));
            exit(1);
        }
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

int main(void)
{
    static char node_ids[NODES][16], names[SERVERS][16], rep_ids[SERVERS * REPLICAS][16];
    static mcphub_sched_node nodes[NODES];
    static mcphub_replica_config cfgs[SERVERS];
    static mcphub_sched_replica reps[SERVERS * REPLICAS];
    static unsigned load[NODES];
    mcphub_sched_input in;
    mcphub_plan *plan;
    size_t i, nreps = 0, removed = 0;
    unsigned lo = (unsigned)-1, hi = 0;
    double ms;

    for (i = 0; i < NODES; i++) {
        snprintf(node_ids[i], sizeof node_ids[i], "node-%04zu", i);
        nodes[i].id = node_ids[i];
        nodes[i].status = MCPHUB_NODE_ONLINE;
        nodes[i].max_servers = MAX_SERVERS;
        nodes[i].cpu_percent = (double)(rnd() % 1000) / 10.0;
    }
    for (i = 0; i < SERVERS; i++) {
        snprintf(names[i], sizeof names[i], "server-%05zu", i);
        memset(&cfgs[i], 0, sizeof cfgs[i]);
        cfgs[i].size = sizeof cfgs[i];
        cfgs[i].server = names[i];
        cfgs[i].replicas = REPLICAS;
    }
    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    in.nodes = nodes;
    in.nodes_len = NODES;
    in.configs = cfgs;
    in.configs_len = SERVERS;

    ms = time_plan(&in, &plan);
    printf("scheduler plan: %d servers x %d replicas over %d nodes, %.1f ms "
           "(from scratch, %zu creates)\n",
           SERVERS, REPLICAS, NODES, ms, mcphub_plan_create_count(plan));

    /* Carry the plan out: every create becomes a running replica.  The
     * plan's strings are copies, so point the replicas at our own. */
    for (i = 0; i < mcphub_plan_create_count(plan); i++) {
        const mcphub_plan_create *c = mcphub_plan_create_at(plan, i);

        snprintf(rep_ids[nreps], sizeof rep_ids[nreps], "r-%zu", nreps);
        reps[nreps].id = rep_ids[nreps];
        reps[nreps].server = names[strtoul(c->server + 7, NULL, 10)];
        reps[nreps].node = node_ids[strtoul(c->node + 5, NULL, 10)];
        reps[nreps].status = MCPHUB_REPLICA_RUNNING;
        load[strtoul(c->node + 5, NULL, 10)]++;
        nreps++;
    }
    mcphub_plan_free(plan);
    for (i = 0; i < NODES; i++) {
        lo = load[i] < lo ? load[i] : lo;
        hi = load[i] > hi ? load[i] : hi;
    }
    printf("scheduler plan: replicas per node %u..%u (limit %d)\n", lo, hi, MAX_SERVERS);
    in.replicas = reps;
    in.replicas_len = nreps;

    ms = time_plan(&in, &plan);
    printf("scheduler plan: %d servers x %d replicas over %d nodes, %.1f ms "
           "(steady state, %zu changes)\n",
           SERVERS, REPLICAS, NODES, ms,
           mcphub_plan_create_count(plan) + mcphub_plan_remove_count(plan));
    mcphub_plan_free(plan);

    for (i = 0; i < FAILED; i++)
        nodes[i * (NODES / FAILED)].status = MCPHUB_NODE_OFFLINE;
    ms = time_plan(&in, &plan);
    removed = mcphub_plan_remove_count(plan);
    printf("scheduler plan: %d servers x %d replicas over %d nodes, %.1f ms "
           "(%d nodes failed: %zu removes, %zu creates, %zu shortfalls)\n",
           SERVERS, REPLICAS, NODES, ms, FAILED, removed, mcphub_plan_create_count(plan),
           mcphub_plan_shortfall_count(plan));
    mcphub_plan_free(plan);
    return 0;
}
