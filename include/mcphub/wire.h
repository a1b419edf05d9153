/* libmcphub-cluster: the cluster's internal messages as JSON — encode and
 * decode, with every field validated.
 *
 * Messages (field names are camelCase on the wire; see mcphub_wire(3) for a
 * JSON example of each):
 *   worker -> master  POST /internal/cluster/register   mcphub_wire_register
 *                     reply                             mcphub_wire_register_reply
 *   worker -> master  POST /internal/cluster/heartbeat  mcphub_wire_heartbeat
 *                     reply                             mcphub_wire_heartbeat_reply
 *   master -> worker  POST /internal/servers/allocate   mcphub_wire_allocate
 *   master -> worker  POST /internal/servers/release    mcphub_wire_release
 *                     reply to either                   mcphub_wire_replica_reply
 * Replies travel in MCPHub's envelope {"success":bool,"message":"...","data":...};
 * the reply codecs wrap and unwrap it, mcphub_wire_envelope_* handle any other.
 *
 * Encoding: the caller fills a struct (its pointers are only read during the
 * call) and gets compact JSON text in *out, NUL-terminated, its length (without
 * the NUL) in *len_out (len_out may be NULL).  The caller frees *out with
 * mcphub_wire_free(mem, *out) using the same mem.  The struct is checked with
 * the rules the decoder applies, so whatever encodes also decodes.  On
 * failure *out and *len_out are left untouched.
 *
 * Decoding: json/len is the message body (len bytes, no NUL needed; at most
 * MCPHUB_WIRE_MAX_BYTES).  On success *out is a struct whose strings and arrays
 * all live in one allocation made through mem; free it with the matching
 * mcphub_wire_<msg>_free(), which accepts NULL.  Unknown fields are ignored
 * (forward compatibility); a JSON null counts as absent for optional fields.
 * On failure *out is left untouched, nothing stays allocated, and err (may be
 * NULL) names the field and the bad value, for example field
 * "replicas[2].status" and text
 * "replicas[2].status (\"runing\") must be one of pending, starting, running,
 * error, stopped, terminated".
 *
 * The JSON parser is strict (RFC 8259): it refuses duplicate keys, \u0000,
 * invalid UTF-8, lone surrogates, trailing text, integers beyond 64 signed
 * bits, numbers longer than 64 characters and nesting deeper than 64.
 *
 * Return codes of every encode and decode function:
 *   0                      success
 *   MCPHUB_E_INVAL         an argument is NULL or mem is invalid; a field
 *                          breaks a rule (decode: err says which)
 *   MCPHUB_E_PARSE         decode: not JSON; err->text is "invalid JSON at
 *                          line L, column C: <why>"
 *   MCPHUB_E_TOOBIG        the message (in or out) is over MCPHUB_WIRE_MAX_BYTES
 *   MCPHUB_E_NOMEM         an allocation failed (through mem or in jansson)
 *   MCPHUB_WIRE_E_REFUSED  reply decode: the envelope says success false;
 *                          err->field is "success", err->text the peer's message
 *   MCPHUB_E_NOTFOUND      heartbeat reply decode: the master does not know
 *                          this node ("known": false); register again
 *
 * Field rules: node and replica ids are 1..128 characters of A-Z a-z 0-9 . _ : -;
 * server names 1..128 of A-Z a-z 0-9 . _ - (they appear in URLs); host 1..253
 * of A-Z a-z 0-9 . _ - : [ ]; integers are JSON integers (1.5 and -1 are
 * refused) within each field's range; at most MCPHUB_WIRE_MAX_ITEMS entries
 * per array; a server config is a JSON object.
 *
 * A handle must not be used by two threads at once; no global mutable state;
 * no internal locks.  (This module has no handle: every call is independent.
 * The JSON trees in between live in jansson, whose allocator is set process
 * wide with json_set_alloc_funcs.) */
#ifndef MCPHUB_WIRE_H
#define MCPHUB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol limits (fixed: both ends must agree on them). */
#define MCPHUB_WIRE_MAX_BYTES (4u * 1024u * 1024u) /* one message */
#define MCPHUB_WIRE_MAX_ITEMS 4096u  /* replicas, assignments, releases */
#define MCPHUB_WIRE_MAX_ID 128u      /* node, replica id, server name */
#define MCPHUB_WIRE_MAX_HOST 253u
#define MCPHUB_WIRE_MAX_META 256u    /* bytes of hostname, version, os */
#define MCPHUB_WIRE_MAX_ERROR 4096u  /* bytes of a replica's error text */
#define MCPHUB_WIRE_MAX_WEIGHT 1000u
#define MCPHUB_WIRE_MAX_SERVERS 1000000u
#define MCPHUB_WIRE_MAX_CPUS 65536u
#define MCPHUB_WIRE_MAX_CPU 100000.0 /* percent: 100 per CPU, generously */
#define MCPHUB_WIRE_MAX_INTERVAL 3600000u /* heartbeatInterval, ms */

/* A reply's envelope says "success": false; err->text has the reason. */
#define MCPHUB_WIRE_E_REFUSED MCPHUB_E_REFUSED

/* Why a decode failed.  field: the path of the field ("port",
 * "metadata.cpuCount", "data.assignments[0].config"; "" for the whole
 * message); text: one English sentence naming the field and its value.
 * Both are empty after a successful call. */
typedef struct mcphub_wire_error {
    char field[96];
    char text[256];
} mcphub_wire_error;

/* A replica as its worker reports it (in register and heartbeat). */
typedef struct mcphub_wire_replica_report {
    const char *replica_id;        /* "replicaId", required */
    const char *server;            /* "serverName", required */
    mcphub_replica_status status;  /* "status", required */
    uint32_t tools;                /* "tools": tool count; default 0 */
    uint64_t config_version;       /* "configVersion"; default 0 */
    const char *error;             /* "error": last error or NULL (JSON null) */
} mcphub_wire_replica_report;

/* A replica the master wants a worker to run. */
typedef struct mcphub_wire_assignment {
    const char *replica_id;   /* "replicaId", required */
    const char *server;       /* "serverName", required */
    const char *config_json;  /* "config": the server config object as JSON
                               * text; decoded as compact JSON, key order kept */
    uint64_t config_version;  /* "configVersion"; default 0 */
} mcphub_wire_assignment;

/* A replica the master wants a worker to stop. */
typedef struct mcphub_wire_release {
    const char *replica_id;   /* "replicaId", required */
    const char *server;       /* "serverName", required */
} mcphub_wire_release;

/* POST /internal/servers/allocate carries exactly one assignment. */
typedef mcphub_wire_assignment mcphub_wire_allocate;

/* POST /internal/cluster/register. */
typedef struct mcphub_wire_register {
    const char *node_id;     /* "nodeId", required */
    mcphub_node_role role;   /* "role", required */
    const char *host;        /* "host", required */
    uint16_t port;           /* "port", required, 1..65535 */
    uint16_t internal_port;  /* "internalPort"; 0 (default) = same as port */
    uint32_t weight;         /* "weight", 1..MCPHUB_WIRE_MAX_WEIGHT; default 1 */
    uint32_t max_servers;    /* "maxServers"; 0 (default) = no limit */
    mcphub_node_meta meta;   /* "metadata", optional; NULL strings = absent,
                              * each at most MCPHUB_WIRE_MAX_META bytes */
    const mcphub_wire_replica_report *replicas; /* "replicas", required (may
                              * be empty): what the worker already runs */
    size_t replicas_len;
} mcphub_wire_register;

/* Reply to register: data {"nodeId", "heartbeatInterval", "assignments"}. */
typedef struct mcphub_wire_register_reply {
    const char *node_id;             /* required */
    uint32_t heartbeat_interval_ms;  /* required, 1..MCPHUB_WIRE_MAX_INTERVAL */
    const mcphub_wire_assignment *assignments; /* default none */
    size_t assignments_len;
} mcphub_wire_register_reply;

/* POST /internal/cluster/heartbeat. */
typedef struct mcphub_wire_heartbeat {
    const char *node_id;           /* "nodeId", required */
    uint64_t timestamp_ms;         /* "timestamp", required (worker's wall clock) */
    uint64_t config_version;       /* "configVersion"; default 0 */
    mcphub_node_metrics metrics;   /* "metrics" {cpu, memoryUsed, memoryTotal,
                                    * activeConnections}; each default 0;
                                    * cpu 0..MCPHUB_WIRE_MAX_CPU */
    const mcphub_wire_replica_report *replicas; /* "replicas", required */
    size_t replicas_len;
} mcphub_wire_heartbeat;

/* Reply to a heartbeat from a known node: data {"known": true,
 * "assignments": [...], "releases": [...]}.  For an unknown node the master
 * sends mcphub_wire_unknown_node_encode() instead (HTTP 404). */
typedef struct mcphub_wire_heartbeat_reply {
    const mcphub_wire_assignment *assignments; /* to run; not reported yet */
    size_t assignments_len;
    const mcphub_wire_release *releases;       /* to stop */
    size_t releases_len;
} mcphub_wire_heartbeat_reply;

/* Reply to allocate ("starting") and release ("terminated"):
 * data {"replicaId", "status"}. */
typedef struct mcphub_wire_replica_reply {
    const char *replica_id;        /* required */
    mcphub_replica_status status;  /* required */
} mcphub_wire_replica_reply;

/* Any MCPHub API envelope, decoded. */
typedef struct mcphub_wire_envelope {
    int success;              /* "success", required boolean: 1 or 0 */
    const char *message;      /* "message", or NULL when absent or null */
    const char *data_json;    /* "data" as compact JSON text, or NULL when
                               * absent or null */
} mcphub_wire_envelope;

/* Free text from an encoder (or any pointer mem allocated); NULL is fine.
 * mem must be the one given to the encoder. */
MCPHUB_API void mcphub_wire_free(const mcphub_mem *mem, void *p);

/* Register.  Encode checks the struct; decode fills a new one. */
MCPHUB_API int mcphub_wire_register_encode(const mcphub_wire_register *m, char **out,
                                           size_t *len_out, const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_register_decode(const char *json, size_t len,
                                           mcphub_wire_register **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_register_free(mcphub_wire_register *m);

/* Register reply, inside {"success":true,"data":...}. */
MCPHUB_API int mcphub_wire_register_reply_encode(const mcphub_wire_register_reply *m,
                                                 char **out, size_t *len_out,
                                                 const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_register_reply_decode(const char *json, size_t len,
                                                 mcphub_wire_register_reply **out,
                                                 const mcphub_mem *mem,
                                                 mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_register_reply_free(mcphub_wire_register_reply *m);

/* Heartbeat. */
MCPHUB_API int mcphub_wire_heartbeat_encode(const mcphub_wire_heartbeat *m, char **out,
                                            size_t *len_out, const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_heartbeat_decode(const char *json, size_t len,
                                            mcphub_wire_heartbeat **out,
                                            const mcphub_mem *mem, mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_heartbeat_free(mcphub_wire_heartbeat *m);

/* Heartbeat reply.  Decode returns MCPHUB_E_NOTFOUND when the master says it
 * does not know the node ("known": false, with success true or false). */
MCPHUB_API int mcphub_wire_heartbeat_reply_encode(const mcphub_wire_heartbeat_reply *m,
                                                  char **out, size_t *len_out,
                                                  const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_heartbeat_reply_decode(const char *json, size_t len,
                                                  mcphub_wire_heartbeat_reply **out,
                                                  const mcphub_mem *mem,
                                                  mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_heartbeat_reply_free(mcphub_wire_heartbeat_reply *m);

/* The master's answer to a heartbeat from an unknown node (send with HTTP
 * 404): {"success":false,"message":"unknown node <id>; register again",
 * "data":{"known":false}}.  node_id must follow the id rule. */
MCPHUB_API int mcphub_wire_unknown_node_encode(const char *node_id, char **out,
                                               size_t *len_out, const mcphub_mem *mem);

/* Allocate: {"serverName","replicaId","config","configVersion"}. */
MCPHUB_API int mcphub_wire_allocate_encode(const mcphub_wire_allocate *m, char **out,
                                           size_t *len_out, const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_allocate_decode(const char *json, size_t len,
                                           mcphub_wire_allocate **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_allocate_free(mcphub_wire_allocate *m);

/* Release: {"serverName","replicaId"}. */
MCPHUB_API int mcphub_wire_release_encode(const mcphub_wire_release *m, char **out,
                                          size_t *len_out, const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_release_decode(const char *json, size_t len,
                                          mcphub_wire_release **out,
                                          const mcphub_mem *mem, mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_release_free(mcphub_wire_release *m);

/* Reply to allocate or release. */
MCPHUB_API int mcphub_wire_replica_reply_encode(const mcphub_wire_replica_reply *m,
                                                char **out, size_t *len_out,
                                                const mcphub_mem *mem);
MCPHUB_API int mcphub_wire_replica_reply_decode(const char *json, size_t len,
                                                mcphub_wire_replica_reply **out,
                                                const mcphub_mem *mem,
                                                mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_replica_reply_free(mcphub_wire_replica_reply *m);

/* Any envelope: {"success":<bool>[,"message":<message>][,"data":<data_json>]}.
 * message (UTF-8) and data_json (any JSON text, re-rendered compactly) are
 * copied and may be NULL to leave the member out.  MCPHUB_E_INVAL when
 * data_json is not JSON or message is not UTF-8. */
MCPHUB_API int mcphub_wire_envelope_encode(int success, const char *message,
                                           const char *data_json, char **out,
                                           size_t *len_out, const mcphub_mem *mem);
/* Decodes any envelope; success false is not an error here. */
MCPHUB_API int mcphub_wire_envelope_decode(const char *json, size_t len,
                                           mcphub_wire_envelope **out,
                                           const mcphub_mem *mem, mcphub_wire_error *err);
MCPHUB_API void mcphub_wire_envelope_free(mcphub_wire_envelope *m);

#ifdef __cplusplus
}
#endif
#endif
