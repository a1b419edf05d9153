/* Internal: the worker's state, shared by worker.c (life, HTTP routes, REST),
 * worker_mcp.c (MCP sessions onto replicas) and worker_cluster.c (allocate,
 * release, the agent). */
#ifndef MCPHUB_WORKER_INT_H
#define MCPHUB_WORKER_INT_H

#include "mcphub/agent.h"
#include "mcphub/http_client.h"
#include "mcphub/http_server.h"
#include "mcphub/mcp_http.h"
#include "mcphub/runner.h"
#include "mcphub/worker.h"

#include "core/map_int.h"
#include "core/mem_int.h"
#include "sysinfo_int.h"

/* One replica this worker runs. */
typedef struct wrep {
    mcphub_runner *runner;
    char *id;
    char *server;
    uint64_t config_version;
    int releasing;             /* stopping for good; freed when stopped */
} wrep;

struct mcphub_worker {
    mcphub__mem mem;
    mcphub_loop *loop;
    const mcphub_config *config;
    mcphub_config *allocated;  /* server configs the master sent */
    int standalone;
    mcphub_random_fn random;
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;

    const char *node_id;
    const char *token;
    char *tls_cert, *tls_key, *tls_ca;

    mcphub_http_server *http;
    mcphub_http_client *client;
    mcphub_mcp_http *mcp;
    mcphub_agent *agent;
    void *agent_call;          /* the agent's request in flight (one at most) */
    uint64_t tick_timer;
    mcphub__sysinfo sysinfo;
    mcphub_node_meta meta;

    mcphub__map replicas;      /* id -> wrep */
    mcphub__map bindings;      /* session serial (decimal) -> mcphub_mcp_session */
    mcphub_wire_replica_report *reports;
    size_t reports_cap;
    size_t rr;                 /* rotates picks among equal replicas */

    int shutting_down;
    char errmsg[256];
};

void mcphub__worker_log(mcphub_worker *w, mcphub_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* worker.c */
const mcphub_server_def *mcphub__worker_def(const mcphub_worker *w, const char *server);
wrep *mcphub__worker_replica_add(mcphub_worker *w, const char *id, const mcphub_server_def *def,
                                 uint64_t config_version);
void mcphub__worker_replica_release(mcphub_worker *w, wrep *r);
size_t mcphub__worker_replica_count(const mcphub_worker *w);
/* The running replica of server with the fewest sessions, or NULL. */
wrep *mcphub__worker_pick(mcphub_worker *w, const char *server);
int mcphub__worker_server_known(const mcphub_worker *w, const char *server);

/* worker_mcp.c */
extern const mcphub_mcp_backend mcphub__worker_backend;
int mcphub__worker_send_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                   size_t len, const char *related, void *user_data);
void mcphub__worker_end_sessions_of(mcphub_worker *w, const char *replica);

/* worker_cluster.c */
void mcphub__worker_allocate(mcphub_worker *w, mcphub_http_request *req);
void mcphub__worker_release(mcphub_worker *w, mcphub_http_request *req);
int mcphub__worker_agent_new(mcphub_worker *w);
void mcphub__worker_agent_tick(mcphub_worker *w);

#endif
