/* libmcphub-cluster: the runner — one replica of one MCP server, kept alive
 * and shared by many client sessions.
 *
 * A stdio server runs as a supervised child process (restarted with backoff
 * when it dies); a remote one (sse, streamable-http) is reached through an
 * MCP client connection.  Either way the runner performs the MCP handshake
 * itself, caches the server's initialize result and its tool, prompt and
 * resource lists (refreshed on list_changed), and multiplexes the sessions
 * onto the one connection with mcphub_mux, so each session only ever sees
 * its own traffic.
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks. */
#ifndef MCPHUB_RUNNER_H
#define MCPHUB_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "loop.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_runner mcphub_runner;

typedef struct mcphub_runner_callbacks {
    size_t size;
    /* A message for one session (see mcphub_mux_callbacks.send_downstream). */
    int (*send_downstream)(mcphub_runner *r, uint64_t session, const char *json, size_t len,
                           const char *related_request_id, void *user_data);
    /* The replica's status changed (starting, running, error, stopped). */
    void (*status)(mcphub_runner *r, mcphub_replica_status status, void *user_data);
    /* The cached lists changed (after a list_changed and a refresh). */
    void (*lists_changed)(mcphub_runner *r, void *user_data);
    /* A line the server wrote to stderr (already without its newline). */
    void (*stderr_line)(mcphub_runner *r, const char *line, size_t len, void *user_data);
    void *user_data;
} mcphub_runner_callbacks;

/* Looks a variable up for ${VAR} expansion; NULL when unset. */
typedef const char *(*mcphub_runner_getenv_fn)(const char *name, void *user_data);

typedef struct mcphub_runner_opts {
    size_t size;
    mcphub_loop *loop;                /* required */
    const char *server;               /* required; copied */
    const char *replica;              /* required; copied */
    const mcphub_server_def *def;     /* required; what to run (copied, vars expanded) */
    uint64_t config_version;
    uint32_t client_caps;             /* MCPHUB_MUX_CAP_* advertised to the server (see below) */
    uint64_t init_timeout_ms;         /* handshake limit; 0 -> 60000 */
    uint32_t stop_grace_ms;           /* SIGTERM -> SIGKILL; 0 -> 3000 */
    mcphub_runner_getenv_fn getenv_fn; /* NULL -> getenv(3) */
    void *getenv_user_data;
    mcphub_random_fn random;          /* jitter and hash seeds */
    void *random_user_data;
    uint32_t backoff_base_ms;         /* 0 -> 500 */
    uint32_t backoff_max_ms;          /* 0 -> 30000 */
    mcphub_log_fn log;
    void *log_user_data;
} mcphub_runner_opts;

MCPHUB_API int mcphub_runner_new(mcphub_runner **out, const mcphub_runner_opts *opts,
                                 const mcphub_runner_callbacks *cb, const mcphub_mem *mem);
/* Start the server (stdio: spawn; remote: connect) and its handshake. */
MCPHUB_API int mcphub_runner_start(mcphub_runner *r);
/* Stop: SIGTERM, SIGKILL after the grace, the whole process group reaped.
 * Sessions get an error for anything in flight. */
MCPHUB_API void mcphub_runner_stop(mcphub_runner *r);
MCPHUB_API void mcphub_runner_free(mcphub_runner *r);

MCPHUB_API const char *mcphub_runner_server(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_replica(const mcphub_runner *r);
MCPHUB_API mcphub_replica_status mcphub_runner_status(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_last_error(const mcphub_runner *r); /* "" when none */
MCPHUB_API uint32_t mcphub_runner_restarts(const mcphub_runner *r);
MCPHUB_API int mcphub_runner_pid(const mcphub_runner *r);                /* 0 when none */
MCPHUB_API uint64_t mcphub_runner_config_version(const mcphub_runner *r);
MCPHUB_API uint32_t mcphub_runner_tool_count(const mcphub_runner *r);
MCPHUB_API uint32_t mcphub_runner_session_count(const mcphub_runner *r);

/* Cached answers of the server, as JSON text (NULL until the handshake is
 * done): the initialize result object, and the tools / prompts / resources /
 * resourceTemplates arrays.  Borrowed until the next loop iteration. */
MCPHUB_API const char *mcphub_runner_initialize_result(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_tools(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_prompts(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_resources(const mcphub_runner *r);
MCPHUB_API const char *mcphub_runner_resource_templates(const mcphub_runner *r);

/* Sessions: see mcphub_mux_session_open / _close / _from_downstream. */
MCPHUB_API int mcphub_runner_session_open(mcphub_runner *r, uint64_t session, uint32_t caps);
MCPHUB_API void mcphub_runner_session_close(mcphub_runner *r, uint64_t session);
MCPHUB_API int mcphub_runner_from_downstream(mcphub_runner *r, uint64_t session, const char *json,
                                             size_t len);

/* A request of the owner's own (e.g. tools/call for the REST API).  done
 * gets the server's whole JSON-RPC response (or a synthesized error
 * response when the server went away) exactly once, unless the runner is
 * freed first. */
typedef void (*mcphub_runner_done_fn)(mcphub_runner *r, const char *response_json, size_t len,
                                      void *user_data);
MCPHUB_API int mcphub_runner_call(mcphub_runner *r, const char *method, const char *params_json,
                                  mcphub_runner_done_fn done, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
