/* libmcphub-cluster: the cluster design's shared types — nodes, replicas,
 * replica configs, session routes, balancing strategies.
 *
 * Structs here that the library hands out are read-only views: their string
 * members are borrowed and stay valid until the next call that changes the
 * handle they came from.  Structs the caller fills begin with a size member. */
#ifndef MCPHUB_TYPES_H
#define MCPHUB_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MCPHUB_ROLE_MASTER = 1,
    MCPHUB_ROLE_WORKER = 2
} mcphub_node_role;

typedef enum {
    MCPHUB_NODE_ONLINE = 1,
    MCPHUB_NODE_UNHEALTHY = 2,
    MCPHUB_NODE_OFFLINE = 3
} mcphub_node_status;

/* Replica lifecycle: pending -> starting -> running <-> error/stopped ->
 * terminated.  pending: planned, not yet sent to a worker; starting: the
 * worker accepted it and is starting the server. */
typedef enum {
    MCPHUB_REPLICA_PENDING = 1,
    MCPHUB_REPLICA_STARTING = 2,
    MCPHUB_REPLICA_RUNNING = 3,
    MCPHUB_REPLICA_ERROR = 4,
    MCPHUB_REPLICA_STOPPED = 5,
    MCPHUB_REPLICA_TERMINATED = 6
} mcphub_replica_status;

typedef enum {
    MCPHUB_LB_ROUND_ROBIN = 1,
    MCPHUB_LB_LEAST_CONNECTIONS = 2,
    MCPHUB_LB_WEIGHTED = 3,
    MCPHUB_LB_RANDOM = 4
} mcphub_lb_strategy;

/* Node metadata reported at registration. */
typedef struct mcphub_node_meta {
    const char *hostname;
    const char *version;
    const char *os;
    uint32_t cpu_count;
    uint64_t memory_total; /* bytes */
} mcphub_node_meta;

/* Load reported with each heartbeat. */
typedef struct mcphub_node_metrics {
    double cpu_percent;     /* 0..100 */
    uint64_t memory_used;   /* bytes */
    uint64_t memory_total;  /* bytes */
    uint32_t active_connections;
} mcphub_node_metrics;

/* A node as the registry knows it (read-only view). */
typedef struct mcphub_node {
    const char *id;
    mcphub_node_role role;
    const char *host;
    uint16_t port;
    uint16_t internal_port;
    mcphub_node_status status;
    uint64_t last_heartbeat_ms;
    uint64_t registered_at_ms;
    mcphub_node_meta meta;
    mcphub_node_metrics metrics;
    uint32_t weight;       /* >= 1; for the weighted strategy */
    uint32_t max_servers;  /* 0 = no limit */
    uint64_t config_version; /* last reported */
} mcphub_node;

/* A replica of one MCP server on one node (read-only view). */
typedef struct mcphub_replica {
    const char *id;
    const char *server;
    const char *node;
    mcphub_replica_status status;
    const char *error;      /* last error text, or NULL */
    uint64_t since_ms;      /* when it entered its status */
    uint32_t tool_count;
    uint64_t config_version;
} mcphub_replica;

/* Desired replicas of a server (caller-filled; copied by the library). */
typedef struct mcphub_replica_config {
    size_t size;
    const char *server;
    uint32_t replicas;               /* desired count, >= 0 */
    const char *const *node_ids;     /* affinity: prefer these nodes */
    size_t node_ids_len;
    const char *const *exclude_node_ids; /* never place here */
    size_t exclude_node_ids_len;
    mcphub_lb_strategy strategy;     /* 0 = the cluster default */
} mcphub_replica_config;

/* A client session's binding to one replica of one server (read-only). */
typedef struct mcphub_route {
    const char *session_id;
    const char *server;
    const char *node;
    const char *replica;
    uint64_t created_ms;
    uint64_t last_activity_ms;
} mcphub_route;

/* Names as used on the wire and in the settings file ("online",
 * "round-robin", ...), and back.  The parsers return 0 or MCPHUB_E_INVAL. */
MCPHUB_API const char *mcphub_node_status_name(mcphub_node_status s);
MCPHUB_API const char *mcphub_node_role_name(mcphub_node_role r);
MCPHUB_API const char *mcphub_replica_status_name(mcphub_replica_status s);
MCPHUB_API const char *mcphub_lb_strategy_name(mcphub_lb_strategy s);
MCPHUB_API int mcphub_node_status_parse(const char *name, mcphub_node_status *out);
MCPHUB_API int mcphub_node_role_parse(const char *name, mcphub_node_role *out);
MCPHUB_API int mcphub_replica_status_parse(const char *name, mcphub_replica_status *out);
MCPHUB_API int mcphub_lb_strategy_parse(const char *name, mcphub_lb_strategy *out);

#ifdef __cplusplus
}
#endif
#endif
