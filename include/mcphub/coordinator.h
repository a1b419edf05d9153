/* libmcphub-cluster: the coordinator — the master's brain.
 *
 * It composes the registry (nodes and their health), the scheduler
 * (where replicas go), the balancer (which replica serves a new session) and
 * the affinity table (which replica a session is bound to), and keeps the
 * desired state: each server's config, config version and replica settings.
 *
 * It does no I/O.  Everything it wants done on a worker — start a replica,
 * stop one, push a new config — leaves through mcphub_coord_callbacks, and
 * the outcome comes back in through mcphub_coordinator_action_done(), the
 * next heartbeat, or a re-registration.  mcphub_coordinator_tick() drives
 * health and reconciliation, so the desired replica count is reached again
 * after any failure without anyone asking.
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks.  Callbacks must not call back into the coordinator. */
#ifndef MCPHUB_COORDINATOR_H
#define MCPHUB_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "registry.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_coordinator mcphub_coordinator;

typedef enum {
    MCPHUB_ACTION_ALLOCATE = 1, /* start replica R of server S with config C on node N */
    MCPHUB_ACTION_RELEASE = 2,  /* stop replica R on node N */
    MCPHUB_ACTION_CONFIG = 3    /* push config version V of S to replica R on node N */
} mcphub_action_kind;

/* One action for a worker.  Strings are borrowed for the duration of the
 * callback only: copy what you keep. */
typedef struct mcphub_action {
    mcphub_action_kind kind;
    const char *node;
    const char *replica;
    const char *server;
    const char *config_json;   /* ALLOCATE / CONFIG: the server's config object */
    uint64_t config_version;
    const char *node_host;     /* where to reach the node */
    uint16_t node_port;
} mcphub_action;

typedef struct mcphub_coord_callbacks {
    size_t size;
    /* Carry an action out, without blocking.  Return 0 when it was sent (the
     * outcome comes later through mcphub_coordinator_action_done), or a
     * negative code: the action counts as failed and is retried later. */
    int (*action)(const mcphub_action *action, void *user_data);
    /* A replica changed status (catalog refresh, logs, metrics).  Optional. */
    void (*replica_status)(const mcphub_replica *replica, mcphub_replica_status old_status,
                           void *user_data);
    /* A node changed status.  Optional. */
    void (*node_status)(const mcphub_node *node, mcphub_node_status old_status,
                        const char *reason, void *user_data);
    void *user_data;
} mcphub_coord_callbacks;

typedef struct mcphub_coordinator_opts {
    size_t size;
    const char *node_id;              /* the master's own id, for status; copied */
    uint64_t heartbeat_interval_ms;   /* 0 -> 5000 */
    uint64_t heartbeat_timeout_ms;    /* 0 -> 15000 */
    uint32_t fall;                    /* 0 -> 3 failed active checks */
    uint32_t rise;                    /* 0 -> 2 successes to come back */
    uint32_t max_nodes;               /* 0 -> 1024 */
    uint64_t session_ttl_ms;          /* 0 -> 1800000 */
    size_t max_routes;                /* 0 -> 2000000 */
    mcphub_lb_strategy default_strategy; /* 0 -> least-connections */
    uint64_t reconcile_interval_ms;   /* 0 -> 2000 */
    uint64_t action_timeout_ms;       /* 0 -> 10000: unconfirmed allocate/release retried */
    uint64_t startup_grace_ms;        /* no new replicas this long after start (workers re-register first) */
    uint32_t max_servers;             /* 0 -> 4096 */
    uint32_t max_replicas;            /* 0 -> 65536 */
    mcphub_random_fn random;          /* replica ids; NULL -> fixed-seed xorshift */
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
} mcphub_coordinator_opts;

MCPHUB_API int mcphub_coordinator_new(mcphub_coordinator **out, const mcphub_coordinator_opts *opts,
                                      const mcphub_coord_callbacks *callbacks,
                                      const mcphub_mem *mem, uint64_t now_ms);
MCPHUB_API void mcphub_coordinator_free(mcphub_coordinator *c);

/* Human-readable detail of the last failed call (never NULL). */
MCPHUB_API const char *mcphub_coordinator_errmsg(const mcphub_coordinator *c);

/* ---- desired state --------------------------------------------------------- */

/* Add or update a server.  config_json is the server's config object (copied);
 * a changed config gets the next config version and is pushed to the running
 * replicas (syncConfig).  rc (may be NULL: keep the current replica settings,
 * 1 replica for a new server) sets the desired replicas, affinity and strategy;
 * rc->server must equal server when given. */
MCPHUB_API int mcphub_coordinator_set_server(mcphub_coordinator *c, const char *server,
                                             const char *config_json,
                                             const mcphub_replica_config *rc);
/* setServerReplicas: change replicas/affinity/strategy only.  MCPHUB_E_NOTFOUND
 * for an unknown server. */
MCPHUB_API int mcphub_coordinator_set_replicas(mcphub_coordinator *c,
                                               const mcphub_replica_config *rc);
/* Remove a server: its replicas are released; sessions routed to it get
 * MCPHUB_E_NOTFOUND from mcphub_coordinator_route and their routes expire. */
MCPHUB_API int mcphub_coordinator_remove_server(mcphub_coordinator *c, const char *server);

/* Read a server's desired state; strings borrowed until the next change. */
typedef struct mcphub_server_state {
    const char *server;
    const char *config_json;
    uint64_t config_version;
    uint32_t replicas;
    const char *const *node_ids;
    size_t node_ids_len;
    const char *const *exclude_node_ids;
    size_t exclude_node_ids_len;
    mcphub_lb_strategy strategy;      /* 0 = cluster default */
    uint32_t running;                 /* replicas running now */
    const char *shortfall;            /* why desired cannot be met, or NULL */
} mcphub_server_state;
MCPHUB_API size_t mcphub_coordinator_server_count(const mcphub_coordinator *c);
MCPHUB_API int mcphub_coordinator_server_at(const mcphub_coordinator *c, size_t i,
                                            mcphub_server_state *out);
MCPHUB_API int mcphub_coordinator_server_get(const mcphub_coordinator *c, const char *server,
                                             mcphub_server_state *out);

/* ---- workers talking to the master ------------------------------------------ */

/* What a worker says it runs (register and heartbeat). */
typedef struct mcphub_replica_report {
    const char *replica;
    const char *server;
    mcphub_replica_status status;
    uint32_t tool_count;
    uint64_t config_version;
    const char *error;                /* may be NULL */
} mcphub_replica_report;

/* What the master wants a worker to do, returned by register and heartbeat. */
typedef struct mcphub_assignment {
    const char *replica;
    const char *server;
    const char *config_json;
    uint64_t config_version;
} mcphub_assignment;

typedef struct mcphub_release {
    const char *replica;
    const char *server;
} mcphub_release;

/* Borrowed until the next call that changes the coordinator. */
typedef struct mcphub_worker_reply {
    const mcphub_assignment *assignments;
    size_t assignments_len;
    const mcphub_release *releases;
    size_t releases_len;
    uint64_t heartbeat_interval_ms;
} mcphub_worker_reply;

/* registerNode: idempotent by node id.  The reported replicas are adopted
 * when the cluster wants them (a restarted master learns what runs where),
 * released otherwise.  The reply lists what this node should run. */
MCPHUB_API int mcphub_coordinator_register(mcphub_coordinator *c, const mcphub_node_info *info,
                                           const mcphub_replica_report *reports, size_t reports_len,
                                           uint64_t now_ms, mcphub_worker_reply *reply);
/* handleHeartbeat: MCPHUB_E_NOTFOUND for an unknown node (it must register
 * again).  The reply carries assignments the node did not report and
 * releases of replicas it should not run. */
MCPHUB_API int mcphub_coordinator_heartbeat(mcphub_coordinator *c, const char *node_id,
                                            const mcphub_node_metrics *metrics,
                                            uint64_t config_version,
                                            const mcphub_replica_report *reports,
                                            size_t reports_len, uint64_t now_ms,
                                            mcphub_worker_reply *reply);
/* Outcome of an active health check (GET /health on the worker). */
MCPHUB_API int mcphub_coordinator_check_result(mcphub_coordinator *c, const char *node_id, int ok,
                                               uint64_t now_ms);
/* Outcome of an action the callback sent.  ok = 0 with an error text. */
MCPHUB_API int mcphub_coordinator_action_done(mcphub_coordinator *c, mcphub_action_kind kind,
                                              const char *node_id, const char *replica, int ok,
                                              const char *error, uint64_t now_ms);
/* Remove a node (admin): its replicas are moved first — new ones are planned
 * elsewhere, the old ones released — then it is forgotten. */
MCPHUB_API int mcphub_coordinator_remove_node(mcphub_coordinator *c, const char *node_id,
                                              uint64_t now_ms);
MCPHUB_API const mcphub_registry *mcphub_coordinator_registry(const mcphub_coordinator *c);

/* ---- sessions --------------------------------------------------------------- */

/* getOrCreateSessionRoute: the replica serving (session, server).  An
 * existing route to a live replica is kept (and touched); a route whose
 * replica is gone is re-bound to another healthy one (a failover, counted);
 * otherwise the balancer picks one by the server's strategy and it is bound.
 * Outputs borrowed until the next change.  MCPHUB_E_UNAVAILABLE when the
 * server has no healthy replica, MCPHUB_E_NOTFOUND for an unknown server. */
MCPHUB_API int mcphub_coordinator_route(mcphub_coordinator *c, const char *session_id,
                                        const char *server, uint64_t now_ms,
                                        const char **replica_out, const char **node_out);
/* A request through this route failed because its replica or node is gone:
 * the route is dropped so the next request re-binds, and the replica takes
 * no new session until its worker reports it running again (passive
 * health). */
MCPHUB_API int mcphub_coordinator_route_failed(mcphub_coordinator *c, const char *session_id,
                                               const char *server, const char *replica);
/* The client session ended: all its routes go. */
MCPHUB_API int mcphub_coordinator_session_end(mcphub_coordinator *c, const char *session_id);

/* ---- time --------------------------------------------------------------------- */

/* Drive health, reconciliation, retries and route expiry. */
MCPHUB_API void mcphub_coordinator_tick(mcphub_coordinator *c, uint64_t now_ms);
/* The latest now_ms by which tick should be called again. */
MCPHUB_API uint64_t mcphub_coordinator_next_deadline(const mcphub_coordinator *c);

/* ---- reading the cluster ------------------------------------------------------ */

typedef struct mcphub_cluster_stats {
    size_t nodes, nodes_online, nodes_unhealthy, nodes_offline;
    size_t servers;
    size_t replicas_desired, replicas_running, replicas_pending, replicas_error;
    size_t routes, sessions;
    uint64_t failovers;
    uint64_t actions_sent, actions_failed;
    uint64_t config_version;          /* highest of all servers */
} mcphub_cluster_stats;
MCPHUB_API void mcphub_coordinator_stats(const mcphub_coordinator *c, mcphub_cluster_stats *out);

MCPHUB_API size_t mcphub_coordinator_replica_count(const mcphub_coordinator *c);
/* Replicas in a stable order; borrowed until the next change. */
MCPHUB_API const mcphub_replica *mcphub_coordinator_replica_at(const mcphub_coordinator *c,
                                                                size_t i);
MCPHUB_API const mcphub_replica *mcphub_coordinator_replica_get(const mcphub_coordinator *c,
                                                                 const char *replica);

/* JSON renderings in the shapes of the cluster API (the "data" member of the
 * {success, message, data} envelope).  wall_ms is the wall-clock time in ms
 * since the epoch, used for ISO timestamps; ages are computed from now_ms.
 * *out is allocated with the coordinator's allocator: free it with
 * mcphub_coordinator_free_string(). */
MCPHUB_API int mcphub_coordinator_status_json(const mcphub_coordinator *c, uint64_t now_ms,
                                              uint64_t wall_ms, char **out);
MCPHUB_API int mcphub_coordinator_nodes_json(const mcphub_coordinator *c, uint64_t now_ms,
                                             uint64_t wall_ms, char **out);
MCPHUB_API int mcphub_coordinator_node_json(const mcphub_coordinator *c, const char *node_id,
                                            uint64_t now_ms, uint64_t wall_ms, char **out);
MCPHUB_API int mcphub_coordinator_replicas_json(const mcphub_coordinator *c, const char *server,
                                                uint64_t now_ms, uint64_t wall_ms, char **out);
MCPHUB_API int mcphub_coordinator_sessions_json(const mcphub_coordinator *c, uint64_t now_ms,
                                                uint64_t wall_ms, size_t limit, char **out);
MCPHUB_API void mcphub_coordinator_free_string(const mcphub_coordinator *c, char *s);

/* ---- persistence ----------------------------------------------------------------- */

/* The state a master must not forget (servers changed through the API,
 * desired replicas, affinity rules, config versions) as JSON, and back.
 * Restoring replaces the desired state of the servers it names. */
MCPHUB_API int mcphub_coordinator_state_json(const mcphub_coordinator *c, char **out);
MCPHUB_API int mcphub_coordinator_restore(mcphub_coordinator *c, const char *json, size_t len);

#ifdef __cplusplus
}
#endif
#endif
