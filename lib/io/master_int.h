/* Internal: the master's state, shared by
 *   master.c           life, HTTP routing, auth
 *   master_api.c       cluster API, MCPHub REST, health, metrics
 *   master_cluster.c   workers: register/heartbeat, actions, health checks,
 *                      persistence
 *   master_catalog.c   filling the catalog from replicas
 *   master_upstream.c  one MCP session from the master to one replica
 *   master_gateway.c   client sessions: lists, name resolution, routing,
 *                      relaying, failover
 *   master_sessions.c  client sessions kept across a restart (sessions.json) */
#ifndef MCPHUB_MASTER_INT_H
#define MCPHUB_MASTER_INT_H

#include <jansson.h>

#include "mcphub/catalog.h"
#include "mcphub/coordinator.h"
#include "mcphub/http_client.h"
#include "mcphub/http_server.h"
#include "mcphub/master.h"
#include "mcphub/mcp_client.h"
#include "mcphub/mcp_http.h"
#include "mcphub/metrics.h"
#include "mcphub/runner.h"

#include "core/map_int.h"
#include "core/mem_int.h"

typedef struct upstream upstream;
typedef struct master_sessions master_sessions;

/* Who owns an upstream and hears from it. */
typedef struct upstream_owner {
    void (*on_message)(upstream *up, const char *json, size_t len, void *user_data);
    void (*on_closed)(upstream *up, const char *why, void *user_data);
    void *user_data;
} upstream_owner;

typedef enum { UP_CONNECTING = 1, UP_READY, UP_CLOSED } upstream_state;

/* One MCP session from the master to one replica: over HTTP to a worker
 * (cluster), or straight into a local runner (standalone). */
struct upstream {
    mcphub_master *m;
    upstream *lprev, *lnext;      /* the master's list of open upstreams */
    char *server, *replica, *node;
    upstream_state state;
    upstream_owner owner;
    mcphub_mcp_client *client;    /* remote */
    mcphub_runner *runner;        /* local */
    uint64_t serial;              /* local: the runner's session id */
    char key[24];                 /* local: serial in decimal (map key) */
    char *init_params;            /* remote: our initialize params */
    char *init_result;            /* the replica's initialize result (JSON) */
    char **queue;                 /* messages waiting for READY */
    size_t *queue_len, queued;
    char why[200];
};

/* A local replica (standalone mode). */
typedef struct local_rep {
    mcphub_runner *runner;
    char *server;
} local_rep;

/* One server's entry in the catalog refresher. */
typedef struct cat_server {
    char *server;
    upstream *up;                 /* session used to read its lists */
    json_t *acc[4];               /* pages gathered so far, per list */
    uint64_t refreshed_ms;
    int initialized;              /* the initialize result is in */
    char *saved[5];               /* last good initialize result and lists,
                                     kept in the state dir across restarts */
} cat_server;

struct mcphub_master {
    mcphub__mem mem;
    mcphub_loop *loop;
    const mcphub_config *config;
    int cluster;                  /* 0: standalone, runs servers itself */
    mcphub_random_fn random;
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
    char *node_id;                /* copies: the config may be replaced (reload) */
    char *token;
    char *tls_cert, *tls_key, *tls_ca;
    char *state_dir;
    char **allowed_origins;
    size_t allowed_origins_len;
    const char *dashboard;
    size_t dashboard_len;

    mcphub_http_server *http;
    mcphub_http_client *client;
    mcphub_mcp_http *mcp;
    mcphub_catalog *catalog;
    mcphub_coordinator *coord;    /* cluster mode */
    mcphub_metrics *metrics;
    uint64_t tick_timer, check_timer;

    mcphub__map locals;           /* standalone: server -> local_rep */
    mcphub__map upstream_serials; /* local upstreams: serial (decimal) -> upstream */
    uint64_t next_serial;
    mcphub__map cat;              /* server -> cat_server */
    uint64_t cat_generation[4];   /* last generations broadcast */
    int cat_dirty;                /* the saved lists changed: write them */
    upstream *ups;                /* every open upstream (node failures reach them) */
    unsigned ticks;               /* 100 ms ticks since start */
    mcphub_cluster_stats last;    /* stats at the last scrape (counter deltas) */

    int shutting_down;
    int freeing;                  /* upstreams are freed at once, not deferred */
    master_sessions *sessions;    /* master_sessions.c; NULL without a state dir */
    char errmsg[640];
};

void mcphub__master_log(mcphub_master *m, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
uint64_t mcphub__master_now(const mcphub_master *m);
uint64_t mcphub__master_wall(void);

/* master_upstream.c */
upstream *mcphub__upstream_open(mcphub_master *m, const char *server, const char *replica,
                                const char *node, const char *init_params,
                                const upstream_owner *owner);
int mcphub__upstream_send(upstream *up, const char *json, size_t len);
void mcphub__upstream_close(upstream *up); /* no callbacks afterwards */
/* A node went offline: every upstream to it closes now (its owners fail
 * their requests over), not when its sockets finally time out. */
void mcphub__upstream_node_lost(mcphub_master *m, const char *node);
int mcphub__master_local_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                    size_t len, const char *related, void *user_data);

/* master_gateway.c */
extern const mcphub_mcp_backend mcphub__master_backend;

/* master_catalog.c */
void mcphub__master_catalog_tick(mcphub_master *m);
void mcphub__master_catalog_drop(mcphub_master *m, const char *server);
void mcphub__master_catalog_free(mcphub_master *m);
void mcphub__master_catalog_restore(mcphub_master *m);

/* master_cluster.c */
int mcphub__master_cluster_start(mcphub_master *m);
void mcphub__master_register(mcphub_master *m, mcphub_http_request *req);
void mcphub__master_heartbeat(mcphub_master *m, mcphub_http_request *req);
int mcphub__master_save_state(mcphub_master *m);
/* A server's config JSON without its placement fields (replicas, affinity,
 * strategy): changing those must not restart replicas.  Caller frees. */
char *mcphub__master_runtime_config(const char *json);
void mcphub__master_cluster_tick(mcphub_master *m);

/* master_sessions.c: client sessions across a restart */
int mcphub__master_sessions_load(mcphub_master *m);        /* start */
void mcphub__master_sessions_opened(mcphub_master *m, mcphub_mcp_session *s); /* be_open */
void mcphub__master_sessions_closed(mcphub_master *m, mcphub_mcp_session *s); /* be_close */
int mcphub__master_sessions_restore(const char *id, const char *route, char **protocol_out,
                                    char **init_params_out, void *user_data); /* mcp_http hook */
void mcphub__master_sessions_tick(mcphub_master *m);       /* writes, debounced */
void mcphub__master_sessions_save(mcphub_master *m);       /* shutdown */
void mcphub__master_sessions_free(mcphub_master *m);

/* master_api.c */
void mcphub__master_api(mcphub_master *m, mcphub_http_request *req, const char *path);
void mcphub__master_health(mcphub_master *m, mcphub_http_request *req);
void mcphub__master_metrics(mcphub_master *m, mcphub_http_request *req);
void mcphub__master_count(mcphub_master *m, const char *server, const char *method, int error,
                          double seconds);

/* standalone: the runner of a server, or NULL */
mcphub_runner *mcphub__master_local(const mcphub_master *m, const char *server);

#endif
