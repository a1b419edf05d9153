/* libmcphub-cluster: the replica scheduler — a pure function from (nodes,
 * current replicas, desired replica configs) to a plan: replicas to create
 * (server -> node), replicas to remove, and servers that cannot get all the
 * replicas they want.
 *
 * The scheduler keeps no state between calls and does no I/O; the caller
 * (the coordinator) carries the plan out and calls again when something
 * changes: a config, a node's status, a replica's status.
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks.  A plan is never changed after it is
 * returned, so several threads may read one plan at the same time. */
#ifndef MCPHUB_SCHEDULER_H
#define MCPHUB_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default for mcphub_sched_input.max_replicas. */
#define MCPHUB_SCHED_DEFAULT_MAX_REPLICAS 64u

/* A node as the scheduler sees it.  Strings are borrowed for the call. */
typedef struct mcphub_sched_node {
    const char *id;              /* unique, non-empty */
    mcphub_node_status status;   /* only online nodes get new replicas */
    uint32_t max_servers;        /* replicas the node may hold, all servers; 0 = no limit */
    double cpu_percent;          /* 0..100; clamped; NaN/inf is invalid */
} mcphub_sched_node;

/* A replica that exists (or was planned before).  Strings borrowed. */
typedef struct mcphub_sched_replica {
    const char *id;              /* unique, non-empty */
    const char *server;
    const char *node;            /* may name a node not in the input */
    mcphub_replica_status status;
} mcphub_sched_replica;

/* Everything one plan is computed from (caller-filled; borrowed for the
 * call, never retained).  size = sizeof(mcphub_sched_input). */
typedef struct mcphub_sched_input {
    size_t size;
    const mcphub_sched_node *nodes;
    size_t nodes_len;
    const mcphub_sched_replica *replicas;
    size_t replicas_len;
    const mcphub_replica_config *configs;  /* one per server, in priority order */
    size_t configs_len;
    /* Bound: a config asking for more replicas than this makes the call
     * fail with MCPHUB_E_FULL.  0 = MCPHUB_SCHED_DEFAULT_MAX_REPLICAS. */
    uint32_t max_replicas;
} mcphub_sched_input;

/* A computed plan (opaque, read-only).  Every string in it is a copy owned
 * by the plan, valid until mcphub_plan_free. */
typedef struct mcphub_plan mcphub_plan;

/* Start a replica of server on node.  score is the node's score for the
 * server when it was chosen (see mcphub_scheduler_plan). */
typedef struct mcphub_plan_create {
    const char *server;
    const char *node;
    double score;
} mcphub_plan_create;

/* Stop and forget replica.  reason is one of "node-offline",
 * "node-unknown", "excluded", "server-removed", "scale-down", "duplicate". */
typedef struct mcphub_plan_remove {
    const char *replica;
    const char *server;
    const char *node;
    const char *reason;
} mcphub_plan_remove;

/* A server that will have fewer replicas than desired after the plan.
 * reason is English naming every node and why it could not be used, e.g.
 * "3 replicas desired, 2 placed: 4 nodes known; w3 offline,
 * w4 full (10/10 servers), w1 excluded". */
typedef struct mcphub_plan_shortfall {
    const char *server;
    uint32_t desired;
    uint32_t placed;   /* replicas kept + replicas created */
    const char *reason;
} mcphub_plan_shortfall;

/* Compute the plan that brings the replicas in line with the configs.
 *
 * Counting: replicas in status stopped or terminated are ignored (neither
 * counted nor removed).  Every other replica is removed when its server has
 * no config ("server-removed"), its node is not in the input
 * ("node-unknown") or offline ("node-offline"), its node is in the
 * server's exclude list ("excluded"), or the server wants 0 replicas
 * ("scale-down"); otherwise it counts, also on an unhealthy node.
 *
 * Score of a node for a server:
 *     100 - 20 * (replicas of the server on the node) - 0.5 * cpu_percent
 *         + 30 if the node is in the config's node_ids
 *         - 1 * load,
 * load = the replicas of every server on the node as planned so far: the
 * live ones, minus the removals and plus the creates planned before this
 * step.  (cpu_percent only changes with the next heartbeat; without the
 * load term every server with one replica would go to the same node.)  One
 * replica of load weighs as much as 2 points of cpu_percent.
 *
 * Scale down: while a server has more replicas than desired, remove first
 * those in status error or pending, then those on the node holding most
 * replicas of the server (reason "duplicate" when it holds two or more),
 * then the one on the lowest-scoring node (so, other things equal, the
 * most loaded), then the largest replica id.  Removals are planned one by
 * one (replicas of servers without a config first, then server by server
 * in config order), each seeing the loads left by those before it.
 *
 * Scale up, one replica at a time, servers in config order: a node is
 * eligible when online, not excluded and below max_servers (counting its
 * load as above).  Among eligible nodes those with the fewest replicas of
 * the server are kept, then the highest score wins, ties going to the
 * smallest node id (strcmp).  A create's score is the node's score just
 * before it.  When no node is eligible a shortfall is recorded.  All
 * removals are planned before any create, so a slot freed by one server is
 * usable by another.
 *
 * The result depends only on the input (not on its order, except the order
 * of entries inside the plan).  in and everything it points to is borrowed
 * for the duration of the call.  On success *out receives a plan the
 * caller frees with mcphub_plan_free.  mem: allocator hooks (copied; NULL =
 * libc), also used to free the plan.
 *
 * Returns 0, MCPHUB_E_INVAL (NULL out or in; a bad size; a NULL or empty
 * id, server or node string; a duplicate node id, replica id or config
 * server; an unknown status value; a NaN cpu_percent; a NULL list with a
 * non-zero length), MCPHUB_E_FULL (a config wants more than max_replicas)
 * or MCPHUB_E_NOMEM.  On failure *out is left unchanged. */
MCPHUB_API int mcphub_scheduler_plan(mcphub_plan **out, const mcphub_sched_input *in,
                                     const mcphub_mem *mem);

/* Free a plan and every string in it.  NULL is accepted. */
MCPHUB_API void mcphub_plan_free(mcphub_plan *p);

/* Entries of a plan.  The _count functions return 0 for NULL; the _at
 * functions return NULL when i >= count.  The pointers returned are
 * borrowed from the plan, valid until mcphub_plan_free. */
MCPHUB_API size_t mcphub_plan_create_count(const mcphub_plan *p);
MCPHUB_API const mcphub_plan_create *mcphub_plan_create_at(const mcphub_plan *p, size_t i);
MCPHUB_API size_t mcphub_plan_remove_count(const mcphub_plan *p);
MCPHUB_API const mcphub_plan_remove *mcphub_plan_remove_at(const mcphub_plan *p, size_t i);
MCPHUB_API size_t mcphub_plan_shortfall_count(const mcphub_plan *p);
MCPHUB_API const mcphub_plan_shortfall *mcphub_plan_shortfall_at(const mcphub_plan *p, size_t i);

#ifdef __cplusplus
}
#endif
#endif
