/* libmcphub-cluster: the node registry — which nodes exist, where they are,
 * what they last reported, and whether they are healthy.
 *
 * Health is HAProxy-style rise/fall hysteresis computed only from what the
 * caller reports (registrations, heartbeats, active check results) and the
 * now_ms it passes in; the registry reads no clock and does no I/O.
 *
 *   online    --(no heartbeat for unhealthy_after_ms, or a failed check)--> unhealthy
 *   online/unhealthy --(no heartbeat for heartbeat_timeout_ms,
 *                       or `fall` consecutive failed checks)--> offline
 *   unhealthy/offline --(`rise` consecutive successes and a fresh heartbeat)--> online
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks. */
#ifndef MCPHUB_REGISTRY_H
#define MCPHUB_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_registry mcphub_registry;

/* Bounds on what a node reports. */
#define MCPHUB_REGISTRY_ID_MAX 128   /* node id: [A-Za-z0-9._:-], 1..128 chars */
#define MCPHUB_REGISTRY_HOST_MAX 253 /* host: 1..253 chars */
#define MCPHUB_REGISTRY_META_MAX 255 /* each meta string: at most 255 chars */

/* Called after every status change of a node.  node is borrowed for the
 * call only.  old_status is what the node was before; a brand-new node is
 * reported once as MCPHUB_NODE_OFFLINE -> online with reason "registered".
 * reason is one of "missed-heartbeat", "heartbeat-timeout", "check-failed",
 * "recovered", "registered" (static text).  The callback may read the
 * registry (get, at, count) but must not call a function that changes it. */
typedef void (*mcphub_registry_status_fn)(const mcphub_node *node,
                                          mcphub_node_status old_status,
                                          const char *reason, void *user_data);

/* Options; copied by mcphub_registry_new().  Set size = sizeof(opts); a
 * field that is 0 takes its default. */
typedef struct mcphub_registry_opts {
    size_t size;
    uint64_t heartbeat_interval_ms; /* 0 -> 5000; only used for the next default */
    uint64_t heartbeat_timeout_ms;  /* 0 -> 15000: no heartbeat this long -> offline */
    uint64_t unhealthy_after_ms;    /* 0 -> 2 x interval: no heartbeat this long ->
                                     * unhealthy; at most heartbeat_timeout_ms (a larger
                                     * value is lowered to it: the node then goes
                                     * straight from online to offline) */
    uint32_t fall;                  /* 0 -> 3: consecutive failed checks -> offline;
                                     * the first failure already makes it unhealthy */
    uint32_t rise;                  /* 0 -> 2: consecutive successes before a node that
                                     * is not online is online again */
    uint32_t max_nodes;             /* 0 -> 1024; registering more -> MCPHUB_E_FULL */
    mcphub_registry_status_fn on_status; /* NULL: none */
    void *user_data;                     /* passed to on_status */
    mcphub_log_fn log;                   /* NULL: silent */
    void *log_user_data;
    /* Seeds the id hash table once at creation so that ids picked by a peer
     * cannot be made to collide.  NULL: a fixed seed (fine for tests). */
    mcphub_random_fn random;
    void *random_user_data;
} mcphub_registry_opts;

/* What a node says about itself when it registers (caller-filled; every
 * string is copied, nothing is retained).  Set size = sizeof(info). */
typedef struct mcphub_node_info {
    size_t size;
    const char *id;            /* required: 1..128 chars of [A-Za-z0-9._:-] */
    mcphub_node_role role;     /* 0 -> MCPHUB_ROLE_WORKER; or MCPHUB_ROLE_MASTER */
    const char *host;          /* required: 1..253 printable chars, none of
                                * space / ? # @ \ (it ends up in a URL) */
    uint16_t port;             /* required, != 0 */
    uint16_t internal_port;    /* 0: none */
    mcphub_node_meta meta;     /* strings may be NULL; each at most 255 chars */
    uint32_t weight;           /* 0 -> 1 */
    uint32_t max_servers;      /* 0 = no limit */
} mcphub_node_info;

/* Create a registry.  opts may be NULL (all defaults); mem may be NULL
 * (the C library's allocator).  On success *out is a new handle the caller
 * frees with mcphub_registry_free().
 * Returns 0, MCPHUB_E_INVAL (out is NULL, or a bad size member or unknown
 * non-zero tail in opts or mem) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_registry_new(mcphub_registry **out, const mcphub_registry_opts *opts,
                                   const mcphub_mem *mem);

/* Free the registry and every node in it.  NULL is allowed. */
MCPHUB_API void mcphub_registry_free(mcphub_registry *r);

/* Register a node, or re-register one already known by its id (idempotent:
 * a new address, role, metadata, weight or max_servers replaces the old;
 * registered_at_ms keeps the first registration's time).  Registration
 * counts as a heartbeat for the timeouts.  A brand-new node starts online
 * (on_status: offline -> online, "registered").  Re-registering a node that
 * is not online counts as one success toward rise.
 * *created_out (may be NULL) is set to 1 for a new node, 0 for a known one.
 * Returns 0, MCPHUB_E_INVAL (r or info NULL, a field not valid),
 * MCPHUB_E_FULL (a new node past max_nodes) or MCPHUB_E_NOMEM.  On error
 * nothing changed and on_status was not called. */
MCPHUB_API int mcphub_registry_register(mcphub_registry *r, const mcphub_node_info *info,
                                        uint64_t now_ms, int *created_out);

/* A heartbeat from node id: records now_ms, the metrics (copied; NULL keeps
 * the previous ones; cpu_percent is clamped to 0..100, NaN reads as 0) and
 * config_version.  For a node that is not online it is one success toward
 * rise; unhealthy_after_ms or more without any success (heartbeat, passed
 * check, registration) restarts the count.  O(1) on average.
 * Returns 0, MCPHUB_E_INVAL (r or id NULL) or MCPHUB_E_NOTFOUND (unknown id:
 * the caller tells the worker to register again). */
MCPHUB_API int mcphub_registry_heartbeat(mcphub_registry *r, const char *id,
                                         const mcphub_node_metrics *metrics,
                                         uint64_t config_version, uint64_t now_ms);

/* The outcome of an active health check of node id (ok != 0: passed).
 * A failure makes an online node unhealthy, and the fall-th failure in a
 * row makes it offline; it also restarts the rise count.  A pass clears the
 * failure count and is one success toward rise; a node only comes back
 * online while its heartbeat is fresh (younger than unhealthy_after_ms).
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_registry_check_result(mcphub_registry *r, const char *id, int ok,
                                            uint64_t now_ms);

/* Forget node id.  Does not call on_status.  Nodes after it in the
 * mcphub_registry_at() order move down by one.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_registry_remove(mcphub_registry *r, const char *id);

/* The node with this id, or NULL (unknown id, r or id NULL).  Borrowed
 * until the next call that changes r. */
MCPHUB_API const mcphub_node *mcphub_registry_get(const mcphub_registry *r, const char *id);

/* How many nodes there are; how many have status s.  Both O(1). */
MCPHUB_API size_t mcphub_registry_count(const mcphub_registry *r);
MCPHUB_API size_t mcphub_registry_count_status(const mcphub_registry *r, mcphub_node_status s);

/* The i-th node, 0 <= i < count, in registration order (a removal shifts
 * the later ones down); NULL past the end.  Borrowed until the next call
 * that changes r. */
MCPHUB_API const mcphub_node *mcphub_registry_at(const mcphub_registry *r, size_t i);

/* Apply the heartbeat timeouts as of now_ms, calling on_status for each
 * change in mcphub_registry_at() order.  A node whose last heartbeat is
 * older than heartbeat_timeout_ms goes offline in one step even if it was
 * online.  Offline nodes never come back here.  O(number of nodes). */
MCPHUB_API void mcphub_registry_tick(mcphub_registry *r, uint64_t now_ms);

/* The earliest now_ms at which mcphub_registry_tick() may change a status
 * (possibly already past), or UINT64_MAX if none can change.  A scan of all
 * nodes: O(number of nodes), about as costly as a tick; call it once per
 * loop iteration, not per event. */
MCPHUB_API uint64_t mcphub_registry_next_deadline(const mcphub_registry *r);

#ifdef __cplusplus
}
#endif
#endif
