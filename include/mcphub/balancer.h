/* libmcphub-cluster: the balancer — picks a healthy replica of a server.
 *
 * The balancer keeps, per server, its replicas in insertion order with the
 * node each runs on, the node's weight, health and the replica's count of
 * active connections/sessions.  A pick follows the server's strategy
 * (mcphub_lb_strategy): round-robin, least-connections (ties rotate, like
 * HAProxy leastconn), weighted (smooth weighted round-robin by node weight)
 * or random (through a mcphub_random_fn).  A pick costs O(replicas of that
 * server); it is I/O-free and deterministic for a given random source.
 *
 * A replica is usable when it is healthy itself and its node is healthy.
 * Node records (weight, health) live while at least one replica is on the
 * node.  A server record lives while it has replicas or a strategy of its
 * own.
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks. */
#ifndef MCPHUB_BALANCER_H
#define MCPHUB_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node weights lie in 1..MCPHUB_BALANCER_MAX_WEIGHT. */
#define MCPHUB_BALANCER_MAX_WEIGHT 1000000u

typedef struct mcphub_balancer mcphub_balancer;

/* Options; set size = sizeof(mcphub_balancer_opts), 0 in a field means its
 * default.  Copied by mcphub_balancer_new(). */
typedef struct mcphub_balancer_opts {
    size_t size;
    /* Strategy of servers without one of their own.
     * 0 means MCPHUB_LB_LEAST_CONNECTIONS. */
    mcphub_lb_strategy default_strategy;
    /* Random source for MCPHUB_LB_RANDOM and for the hash seed; called with
     * random_user_data.  NULL means a built-in fixed-seed xorshift, so
     * picks are deterministic. */
    mcphub_random_fn random;
    void *random_user_data;
    /* Most replicas held at once, and separately most servers.
     * 0 means 65536. */
    size_t max_replicas;
} mcphub_balancer_opts;

/* Create a balancer in *out.  opts may be NULL (all defaults); mem may be
 * NULL (the C library's allocator); both are copied.  random_user_data is
 * borrowed until mcphub_balancer_free().  The caller frees *out with
 * mcphub_balancer_free().
 * Returns 0, MCPHUB_E_INVAL (out NULL, bad size, unknown strategy, bad mem
 * hooks) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_balancer_new(mcphub_balancer **out, const mcphub_balancer_opts *opts,
                                   const mcphub_mem *mem);

/* Free the balancer and everything in it; NULL is allowed. */
MCPHUB_API void mcphub_balancer_free(mcphub_balancer *b);

/* Add replica (of server, on node) or update it.  All strings are copied.
 * weight (1..MCPHUB_BALANCER_MAX_WEIGHT) is the node's weight: it becomes
 * the weight of every replica on that node.  healthy (non-zero = healthy)
 * is the replica's own health; the node's health is set with
 * mcphub_balancer_set_node_health() (a node first seen here is healthy).
 * An update keeps the replica's active count and its place in the
 * rotation; it may move the replica to another node but not to another
 * server.
 * Returns 0, MCPHUB_E_INVAL (NULL or empty string, weight out of range),
 * MCPHUB_E_EXISTS (replica belongs to another server), MCPHUB_E_FULL
 * (max_replicas replicas or servers reached) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_balancer_set_replica(mcphub_balancer *b, const char *server,
                                           const char *replica, const char *node,
                                           uint32_t weight, int healthy);

/* Remove a replica; its server is forgotten with its last replica unless
 * it has a strategy of its own, its node with its last replica.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_balancer_remove_replica(mcphub_balancer *b, const char *replica);

/* Mark a node healthy (non-zero) or not: while it is unhealthy no replica
 * on it is picked; when it is healthy again its replicas count with their
 * own health.  Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND (no replica
 * is on that node). */
MCPHUB_API int mcphub_balancer_set_node_health(mcphub_balancer *b, const char *node, int healthy);

/* Set a node's weight (1..MCPHUB_BALANCER_MAX_WEIGHT) for every replica on
 * it.  Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_balancer_set_node_weight(mcphub_balancer *b, const char *node,
                                               uint32_t weight);

/* Give server its own strategy, or 0 to follow the default again.  A
 * strategy may be set before the server has replicas and is kept when its
 * replicas come and go.  Returns 0, MCPHUB_E_INVAL (bad name or strategy),
 * MCPHUB_E_FULL (max_replicas servers reached) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_balancer_set_strategy(mcphub_balancer *b, const char *server,
                                            mcphub_lb_strategy s);

/* Pick a usable replica of server other than exclude (a replica id, or
 * NULL; used to retry on another replica; an id not of this server excludes
 * nothing).  Does not count a connection: call mcphub_balancer_acquire()
 * when one is bound.  On success *replica_out and, when node_out is not
 * NULL, *node_out are borrowed until the next call that changes b other
 * than pick, acquire and release; on failure they are set to NULL.
 * Returns 0, MCPHUB_E_INVAL (b, server or replica_out NULL),
 * MCPHUB_E_NOTFOUND (server unknown) or MCPHUB_E_UNAVAILABLE (no usable
 * replica). */
MCPHUB_API int mcphub_balancer_pick(mcphub_balancer *b, const char *server, const char *exclude,
                                    const char **replica_out, const char **node_out);

/* Count one more active connection or session bound to replica.
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOTFOUND or MCPHUB_E_FULL (the count
 * is at UINT32_MAX). */
MCPHUB_API int mcphub_balancer_acquire(mcphub_balancer *b, const char *replica);

/* Count one connection fewer; the count never goes below 0 (releasing at
 * 0 is a no-op that returns 0, e.g. after the replica was re-added).
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_balancer_release(mcphub_balancer *b, const char *replica);

/* Set the active count outright, for owners that count elsewhere (the
 * coordinator counts the sessions bound to each replica).
 * MCPHUB_E_NOTFOUND for an unknown replica. */
MCPHUB_API int mcphub_balancer_set_active(mcphub_balancer *b, const char *replica,
                                          uint32_t active);

/* Active count of replica; 0 when it (or b) is unknown or NULL. */
MCPHUB_API uint32_t mcphub_balancer_active(const mcphub_balancer *b, const char *replica);

/* Number of usable replicas of server; 0 when unknown or NULL. */
MCPHUB_API size_t mcphub_balancer_healthy_count(const mcphub_balancer *b, const char *server);

#ifdef __cplusplus
}
#endif
#endif
