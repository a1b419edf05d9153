/* libmcphub-cluster: the worker agent — the state machine a worker uses to
 * be a member of the cluster: register at the master, heartbeat, start and
 * stop the replicas the master asks for, ride out master outages.
 *
 * The agent does no I/O and reads no clock.  It asks its owner to POST a
 * JSON body to the master (callbacks.send), the owner reports the outcome
 * with mcphub_agent_response(), and time arrives as now_ms (any monotonic
 * millisecond clock).  The owner's loop calls mcphub_agent_tick() when
 * mcphub_agent_next_deadline() is reached.
 *
 *   idle --start--> registering --ok--> active --(heartbeat every interval)
 *   registering --failure--> backoff --(delay)--> registering
 *   active --3rd heartbeat failure in a row, or 401/403--> backoff
 *   active --"unknown node" (404, known:false)--> registering at once
 *
 * Rules it keeps:
 *   - One request in flight at a time: nothing is sent between a send and
 *     its mcphub_agent_response().
 *   - A master outage never stops a replica: release is called only for a
 *     release the master asked for in a heartbeat reply.
 *   - Retries: a failed heartbeat is retried at the heartbeat interval; the
 *     third consecutive failure (and any 401/403) makes the agent register
 *     again after a backoff delay; a failed register is retried after a
 *     backoff delay.  Backoff delays start at 1000 ms, double with each
 *     failure, move by +/- 20 % (only with opts.random) and never exceed
 *     30000 ms; a successful exchange starts them over.
 *
 * Bounds: the agent keeps no tables.  Messages and replies are bounded by
 * the wire limits (MCPHUB_WIRE_MAX_BYTES, MCPHUB_WIRE_MAX_ITEMS).
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks. */
#ifndef MCPHUB_AGENT_H
#define MCPHUB_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"
#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_agent mcphub_agent;

typedef enum {
    MCPHUB_AGENT_IDLE = 0,     /* created, not started */
    MCPHUB_AGENT_REGISTERING,  /* a register request is in flight */
    MCPHUB_AGENT_ACTIVE,       /* registered: heartbeats every interval */
    MCPHUB_AGENT_BACKOFF       /* waiting to register again */
} mcphub_agent_state;

typedef enum {
    MCPHUB_AGENT_REQ_REGISTER = 1,  /* POST /internal/cluster/register */
    MCPHUB_AGENT_REQ_HEARTBEAT = 2  /* POST /internal/cluster/heartbeat */
} mcphub_agent_request;

/* Default heartbeat interval until the master's register reply sets one. */
#define MCPHUB_AGENT_DEFAULT_INTERVAL_MS 5000u
/* Consecutive failed heartbeats after which the agent registers again. */
#define MCPHUB_AGENT_HEARTBEAT_FAILURES 3u
/* Retry pacing of register (exponential, jittered, capped). */
#define MCPHUB_AGENT_RETRY_BASE_MS 1000u
#define MCPHUB_AGENT_RETRY_MAX_MS 30000u

/* What the agent asks of its owner (caller-filled; copied by
 * mcphub_agent_new).  Set size = sizeof(mcphub_agent_callbacks).  The
 * callbacks may read the agent (get_state, last_error, ...) but must not
 * call mcphub_agent_start, _tick, _response or _free: such a call is
 * ignored (and logged as an error). */
typedef struct mcphub_agent_callbacks {
    size_t size;
    /* Required.  POST body (JSON, len bytes, NUL-terminated; borrowed for
     * the call: copy it) to the master's path ("/internal/cluster/register"
     * or "/internal/cluster/heartbeat").  Must not block: the outcome comes
     * back later through exactly one mcphub_agent_response() call, never
     * from inside send.  Return 0 when the request was started, else a
     * negative code (treated like a transport failure; no response is then
     * expected). */
    int (*send)(mcphub_agent_request kind, const char *path, const char *body, size_t len,
                void *user_data);
    /* Required.  What this node runs now and its load, for a message being
     * built: set *reports to an array of *n reports (borrowed until collect
     * is called again or the agent is freed; the agent reads it only during
     * this send) and fill *metrics.  The agent zeroes all three first. */
    void (*collect)(const mcphub_wire_replica_report **reports, size_t *n,
                    mcphub_node_metrics *metrics, void *user_data);
    /* Required.  The master wants this replica running with this config.
     * Idempotent by replica id: a replica already running with the same
     * config_version is left alone; a newer config_version means restart it
     * with the new config.  *a is borrowed for the call. */
    void (*assign)(const mcphub_wire_assignment *a, void *user_data);
    /* Required.  The master wants this replica stopped.  *r is borrowed for
     * the call.  Only ever called for a release in a heartbeat reply. */
    void (*release)(const mcphub_wire_release *r, void *user_data);
    /* Optional.  Wall-clock milliseconds since the epoch for a heartbeat's
     * "timestamp"; NULL: now_ms is sent. */
    uint64_t (*wall_clock)(void *user_data);
    void *user_data;  /* given to every callback; borrowed until free */
} mcphub_agent_callbacks;

/* Options (caller-filled; copied, strings too, by mcphub_agent_new).  Set
 * size = sizeof(mcphub_agent_opts); a field that is 0 takes its default. */
typedef struct mcphub_agent_opts {
    size_t size;
    const char *node_id;      /* required: 1..128 of A-Z a-z 0-9 . _ : - */
    const char *host;         /* required: how the master reaches this node */
    uint16_t port;            /* required: the node's public port */
    uint16_t internal_port;   /* 0: same as port */
    mcphub_node_meta meta;    /* optional strings (NULL: absent), each at most
                               * MCPHUB_WIRE_MAX_META bytes */
    uint32_t weight;          /* 0 -> 1; at most MCPHUB_WIRE_MAX_WEIGHT */
    uint32_t max_servers;     /* 0 = no limit */
    uint64_t heartbeat_interval_ms; /* 0 -> 5000, at most
                               * MCPHUB_WIRE_MAX_INTERVAL; the register reply's
                               * heartbeatInterval overrides it */
    mcphub_random_fn random;  /* jitter of retry delays; NULL: none */
    void *random_user_data;   /* borrowed until free */
    mcphub_log_fn log;        /* NULL: silent */
    void *log_user_data;      /* borrowed until free */
} mcphub_agent_opts;

/* Create an agent in the idle state.  opts and cb are required; mem may be
 * NULL (the C library's allocator).  The node fields are checked with the
 * wire rules now, so that every later register can be encoded.  Returns 0
 * (*out is a new handle the caller frees with mcphub_agent_free),
 * MCPHUB_E_INVAL (out, opts or cb NULL; a bad size member or a non-zero
 * unknown tail; a missing callback; a node field that breaks a wire rule;
 * heartbeat_interval_ms too large) or MCPHUB_E_NOMEM.  On failure *out is
 * untouched and nothing was called. */
MCPHUB_API int mcphub_agent_new(mcphub_agent **out, const mcphub_agent_opts *opts,
                                const mcphub_agent_callbacks *cb, const mcphub_mem *mem);

/* Free the agent.  NULL is allowed.  Nothing is called: a request still in
 * flight is the owner's to cancel. */
MCPHUB_API void mcphub_agent_free(mcphub_agent *a);

/* Leave the idle state: collect, then send the first register.  Does
 * nothing when the agent is not idle. */
MCPHUB_API void mcphub_agent_start(mcphub_agent *a, uint64_t now_ms);

/* The outcome of the request in flight of this kind.  http_status is the
 * HTTP status, or 0 when no HTTP answer came (connect error, timeout);
 * error_text (may be NULL; borrowed for the call) says why.  body/len is
 * the response body (may be NULL when len is 0; borrowed for the call).
 * It may call assign and release (register reply: assign for each
 * assignment; heartbeat reply: release for each release, then assign for
 * each assignment), and send (a register right away when the master does
 * not know this node).  A response when no request of this kind is in
 * flight is ignored.  An allocation failure while decoding counts as a
 * failed request (retried like a transport failure). */
MCPHUB_API void mcphub_agent_response(mcphub_agent *a, mcphub_agent_request kind,
                                      long http_status, const char *body, size_t len,
                                      const char *error_text, uint64_t now_ms);

/* Do what is due at now_ms: send a heartbeat (active) or a register
 * (backoff) when its time has come and nothing is in flight.  Call it when
 * mcphub_agent_next_deadline() is reached; calling it earlier or more often
 * is harmless. */
MCPHUB_API void mcphub_agent_tick(mcphub_agent *a, uint64_t now_ms);

/* When mcphub_agent_tick() has something to do next (a time on the now_ms
 * clock, possibly already past), or UINT64_MAX when nothing is scheduled
 * (idle, or a request is in flight).  It changes after start, tick and
 * response. */
MCPHUB_API uint64_t mcphub_agent_next_deadline(const mcphub_agent *a);

MCPHUB_API mcphub_agent_state mcphub_agent_get_state(const mcphub_agent *a);

/* "idle", "registering", "active", "backoff"; "unknown" otherwise.  Static. */
MCPHUB_API const char *mcphub_agent_state_name(mcphub_agent_state s);

/* Why the last request failed ("heartbeat: HTTP 503 from the master: ...",
 * "register reply: data.heartbeatInterval (0) must be ..."), or "" when
 * none failed since the last successful exchange.  Borrowed until the next
 * call that changes the agent. */
MCPHUB_API const char *mcphub_agent_last_error(const mcphub_agent *a);

/* now_ms of the last successful exchange with the master (a decoded
 * register or heartbeat reply), 0 = never. */
MCPHUB_API uint64_t mcphub_agent_last_contact_ms(const mcphub_agent *a);

/* Consecutive failed heartbeats since the last success (0..3). */
MCPHUB_API uint32_t mcphub_agent_heartbeat_failures(const mcphub_agent *a);

/* The heartbeat interval in use (the master's, once registered). */
MCPHUB_API uint64_t mcphub_agent_heartbeat_interval(const mcphub_agent *a);

#ifdef __cplusplus
}
#endif
#endif
