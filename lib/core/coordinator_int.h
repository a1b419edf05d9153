/* Internal: the coordinator's state, shared by coordinator.c (decisions)
 * and coordinator_json.c (renderings and persistence). */
#ifndef MCPHUB_COORDINATOR_INT_H
#define MCPHUB_COORDINATOR_INT_H

#include "mcphub/affinity.h"
#include "mcphub/balancer.h"
#include "mcphub/coordinator.h"
#include "mcphub/registry.h"
#include "mcphub/scheduler.h"

#include "map_int.h"
#include "mem_int.h"

/* A server's desired state. */
typedef struct coord_server {
    char *name;
    char *config_json;
    uint64_t config_version;
    uint32_t replicas;
    char **node_ids;
    size_t node_ids_len;
    char **exclude_node_ids;
    size_t exclude_node_ids_len;
    mcphub_lb_strategy strategy;
    char *shortfall;           /* last plan's reason, or NULL */
    uint32_t running;
    int from_api;              /* replica settings changed through the API: persisted */
    int surging;               /* rebalancing: one extra replica under way */
    /* counted afresh at each reconcile */
    uint32_t n_live, n_running, n_flux, n_nodes;
} coord_server;

/* A replica the coordinator placed or adopted. */
typedef struct coord_replica {
    mcphub_replica view;       /* strings point at the members below */
    char *id;
    char *server;
    char *node;
    char *error;
    uint64_t last_action_ms;   /* allocate/config sent */
    uint64_t pushed_version;   /* config version last pushed, 0 = none */
    int reported;              /* its node has reported it at least once */
} coord_replica;

/* A replica to stop: kept until its node confirms or stops reporting it. */
typedef struct coord_release {
    char *replica;
    char *server;
    char *node;
    uint64_t last_sent_ms;
} coord_release;

/* A node being removed through the API (drained first). */
typedef struct coord_drain {
    char *node;
    uint64_t since_ms;
} coord_drain;

/* Growable array of pointers. */
typedef struct coord_vec {
    void **items;
    size_t len, cap;
} coord_vec;

struct mcphub_coordinator {
    mcphub__mem mem;
    mcphub_mem user_mem;        /* passed on to the modules we create */
    int user_mem_set;
    mcphub_coord_callbacks cb;
    mcphub_log_fn log;
    void *log_user_data;
    mcphub_random_fn random;
    void *random_user_data;
    uint32_t xorshift;

    char *node_id;
    uint64_t heartbeat_interval_ms;
    uint64_t reconcile_interval_ms;
    uint64_t action_timeout_ms;
    uint64_t grace_until_ms;
    mcphub_lb_strategy default_strategy;
    uint32_t max_servers, max_replicas;

    mcphub_registry *registry;
    mcphub_affinity *affinity;
    mcphub_balancer *balancer;

    coord_vec servers;          /* coord_server*, in insertion order */
    mcphub__map server_by_name;
    coord_vec replicas;         /* coord_replica*, in insertion order */
    mcphub__map replica_by_id;
    coord_vec releases;         /* coord_release* */
    coord_vec drains;           /* coord_drain* */

    int dirty;                  /* reconcile at the next tick */
    uint64_t next_reconcile_ms;
    uint64_t now_ms;            /* last time seen */
    uint64_t failovers, actions_sent, actions_failed;

    /* reply buffers for register/heartbeat, reused */
    mcphub_assignment *reply_assign;
    size_t reply_assign_len, reply_assign_cap;
    mcphub_release *reply_release;
    size_t reply_release_len, reply_release_cap;
    /* while a node registers: creates for it go into its reply */
    const char *reply_node;

    char errmsg[256];
};

int mcphub__coord_vec_push(const mcphub__mem *m, coord_vec *v, void *item);
void mcphub__coord_vec_remove_at(coord_vec *v, size_t i);
coord_server *mcphub__coord_server(const mcphub_coordinator *c, const char *name);
void mcphub__coord_server_free(mcphub_coordinator *c, coord_server *s);
coord_server *mcphub__coord_server_new(mcphub_coordinator *c, const char *name);
int mcphub__coord_server_apply_rc(mcphub_coordinator *c, coord_server *s,
                                  const mcphub_replica_config *rc);
void mcphub__coord_log(mcphub_coordinator *c, mcphub_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
