/* libmcphub-cluster: a worker node — runs MCP servers as replicas and
 * serves them over HTTP, as a member of a cluster or standalone.
 *
 * This is all of mcphub-workerd but its command line: an HTTP server
 * (libmicrohttpd on the loop) with
 *   GET  /health                         MCPHub's health body (no token)
 *   GET  /api/servers, /api/servers/:name
 *   POST /api/tools/call/:server         {toolName, arguments}
 *   POST /internal/servers/allocate      {serverName, config, replicaId, configVersion}
 *   POST /internal/servers/release       {serverName, replicaId}
 *   /mcp/:server                         Streamable HTTP (one session -> one replica;
 *                                        ?replica=ID picks a replica)
 *   /sse/:server, POST /messages         the legacy HTTP+SSE transport
 *                                        (/mcp/ and /sse/ for a server this node
 *                                        does not know: 404, JSON-RPC error -32001
 *                                        "Unknown server: NAME", any method)
 * every path but /health requiring X-Cluster-Token when a token is set;
 * the replicas (mcphub_runner); and, in a cluster, the agent that registers
 * with the master and heartbeats (mcphub_agent over mcphub_http_client).
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks. */
#ifndef MCPHUB_WORKER_H
#define MCPHUB_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_worker mcphub_worker;

typedef struct mcphub_worker_opts {
    size_t size;
    mcphub_loop *loop;             /* required; borrowed */
    /* Settings after every layer (file, environment, flags); borrowed for
     * the worker's life.  Used: mcpServers (standalone), routing
     * (jsonBodyLimit, nameSeparator), cluster (nodeId, token, master and
     * worker sections). */
    const mcphub_config *config;
    int standalone;                /* run every enabled server; no master */
    const char *tls_cert_pem;      /* PEM text; both or neither */
    const char *tls_key_pem;
    const char *tls_ca_file;       /* to verify the master (https) */
    mcphub_random_fn random;       /* required: session ids, replica jitter */
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
} mcphub_worker_opts;

MCPHUB_API int mcphub_worker_new(mcphub_worker **out, const mcphub_worker_opts *opts,
                                 const mcphub_mem *mem);
/* Listen, start the standalone servers or register with the master.
 * Returns 0 or an error with mcphub_worker_errmsg() saying why (e.g. the
 * port is taken). */
MCPHUB_API int mcphub_worker_start(mcphub_worker *w);
MCPHUB_API uint16_t mcphub_worker_port(const mcphub_worker *w);
/* Graceful stop: stop accepting, stop every replica (SIGTERM, then SIGKILL
 * after the grace).  Run the loop until mcphub_worker_stopped(). */
MCPHUB_API void mcphub_worker_shutdown(mcphub_worker *w);
MCPHUB_API int mcphub_worker_stopped(const mcphub_worker *w);
MCPHUB_API const char *mcphub_worker_errmsg(const mcphub_worker *w);
/* Frees everything; replicas still alive are killed and reaped. */
MCPHUB_API void mcphub_worker_free(mcphub_worker *w);

#ifdef __cplusplus
}
#endif
#endif
