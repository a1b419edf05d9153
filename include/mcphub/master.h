/* libmcphub-cluster: the master node — the cluster's front door.
 *
 * All of mcphub-masterd but its command line.  MCP clients connect over
 * Streamable HTTP (/mcp, /mcp/:group) and legacy SSE (/sse, /sse/:group,
 * POST /messages); the master terminates their sessions, lists the tools of
 * every server of the route from its catalog, and routes each call to a
 * healthy replica with session affinity, over an upstream MCP session it
 * holds with the replica's worker — re-bound to another replica if the
 * worker dies, without the client re-initializing.  It serves the cluster
 * API (/api/cluster/...), MCPHub's REST API (/api/servers, /api/tools/call),
 * /health, /metrics and the workers' internal API, and persists its desired
 * state.  With the cluster disabled it runs every server itself (the same
 * runner as a worker) and serves them the same way.
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks. */
#ifndef MCPHUB_MASTER_H
#define MCPHUB_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_master mcphub_master;

typedef struct mcphub_master_opts {
    size_t size;
    mcphub_loop *loop;              /* required; borrowed */
    const mcphub_config *config;    /* settings after every layer; borrowed */
    const char *tls_cert_pem;       /* PEM text; both or neither */
    const char *tls_key_pem;
    const char *tls_ca_file;        /* to verify https workers */
    const char *const *allowed_origins; /* Origin allow-list (copied); NULL: no check */
    size_t allowed_origins_len;
    /* Serve this HTML at / (the dashboard), or NULL. */
    const char *dashboard_html;
    size_t dashboard_len;
    mcphub_random_fn random;        /* required */
    void *random_user_data;
    mcphub_log_fn log;
    void *log_user_data;
} mcphub_master_opts;

MCPHUB_API int mcphub_master_new(mcphub_master **out, const mcphub_master_opts *opts,
                                 const mcphub_mem *mem);
/* Listen, restore the state directory, start local servers (standalone).
 * Returns 0 or an error with mcphub_master_errmsg() saying why. */
MCPHUB_API int mcphub_master_start(mcphub_master *m);
MCPHUB_API uint16_t mcphub_master_port(const mcphub_master *m);
/* Apply a reloaded settings file (SIGHUP): servers added, changed (new config
 * version pushed to their replicas) or removed.  new_config replaces the
 * borrowed one and must live as long as the master. */
MCPHUB_API int mcphub_master_reload(mcphub_master *m, const mcphub_config *new_config);
MCPHUB_API void mcphub_master_shutdown(mcphub_master *m);
MCPHUB_API int mcphub_master_stopped(const mcphub_master *m);
MCPHUB_API const char *mcphub_master_errmsg(const mcphub_master *m);
MCPHUB_API void mcphub_master_free(mcphub_master *m);

#ifdef __cplusplus
}
#endif
#endif
