/* Internal: the runner's connection to a remote MCP server (mcp_settings
 * "type": "sse" or "streamable-http"), see runner_remote.c.
 *
 * It has the states and calls of mcphub_supervisor, so that runner.c runs
 * the same handshake over a child's stdio and over HTTP:
 *
 *   STOPPED --start--> STARTING --set_running--> RUNNING
 *   STARTING/RUNNING --connection lost / fail--> ERROR --backoff--> STARTING
 *   any --stop--> STOPPED
 *
 * on_state is called after every change, synchronously except after
 * mcphub__remote_fail, whose ERROR is reported from a deferred loop
 * callback (fail is called from inside the multiplexer, which must not be
 * re-entered). */
#ifndef MCPHUB_RUNNER_INT_H
#define MCPHUB_RUNNER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem_int.h"
#include "mcphub/backoff.h"
#include "mcphub/config.h"
#include "mcphub/loop.h"
#include "mcphub/types.h"

typedef struct mcphub__remote mcphub__remote;

typedef struct mcphub__remote_opts {
    mcphub_loop *loop;
    const mcphub_server_def *def;   /* type, url, headers, timeout_ms (read in new) */
    mcphub_var_lookup_fn lookup;    /* ${VAR} in url and header values (used in new) */
    void *lookup_user_data;
    const mcphub_backoff_opts *backoff; /* NULL: the defaults */
    const char *server, *replica;   /* for logs (borrowed) */
    /* One JSON-RPC message from the server. */
    void (*on_message)(const char *json, size_t len, void *user_data);
    void (*on_state)(mcphub_replica_status st, void *user_data);
    void *user_data;
    mcphub_log_fn log;
    void *log_user_data;
} mcphub__remote_opts;

/* Returns 0, MCPHUB_E_INVAL (no url, a bad url or header after expansion),
 * MCPHUB_E_TOOBIG or MCPHUB_E_NOMEM.  State STOPPED. */
int mcphub__remote_new(mcphub__remote **out, const mcphub__remote_opts *o, const mcphub__mem *mem);
void mcphub__remote_free(mcphub__remote *rm);

/* Connect (STARTING); a connection that cannot be made counts as a failed
 * one (ERROR, retried after the backoff).  MCPHUB_E_STATE unless STOPPED. */
int mcphub__remote_start(mcphub__remote *rm);
/* One message to the server; MCPHUB_E_UNAVAILABLE when not connected, or
 * the errors of mcphub_mcp_client_send. */
int mcphub__remote_send(mcphub__remote *rm, const char *json, size_t len);
/* The handshake succeeded: STARTING -> RUNNING, or MCPHUB_E_STATE. */
int mcphub__remote_set_running(mcphub__remote *rm);
/* Give the connection up (handshake failed or timed out): ERROR with
 * reason, reconnect after the backoff.  MCPHUB_E_STATE unless STARTING or
 * RUNNING. */
int mcphub__remote_fail(mcphub__remote *rm, const char *reason);
/* Close the connection (the session is deleted); no more reconnects. */
void mcphub__remote_stop(mcphub__remote *rm);

mcphub_replica_status mcphub__remote_state(const mcphub__remote *rm);
const char *mcphub__remote_last_error(const mcphub__remote *rm); /* "" when none */
uint32_t mcphub__remote_restarts(const mcphub__remote *rm);

/* Log msg ("event k=v ...") as "event server=S replica=R k=v ...". */
void mcphub__runner_log(mcphub_log_fn log, void *user_data, mcphub_log_level lvl,
                        const char *server, const char *replica, const char *msg);

#endif
