/* libmcphub-cluster: the settings — MCPHub's mcp_settings.json plus our
 * cluster section, layered with CLUSTER_* environment variables and
 * command-line flags (file < environment < flags).
 *
 * The library never reads files or the environment: the caller passes the
 * file's text and an environment array.  JSON is parsed with jansson, whose
 * own allocator (json_set_alloc_funcs) is used for the temporary tree during
 * a call; everything the config keeps is allocated through the handle's
 * mcphub_mem.
 *
 * Typical use (a daemon):
 *     mcphub_config_parse(&cfg, text, len, NULL, &err);
 *     mcphub_config_apply_env(cfg, (const char *const *)environ, &err);
 *     mcphub_config_set(cfg, "cluster.master.port", "3100", &err);  (a flag)
 *     mcphub_config_validate(cfg, &err);
 *
 * The structs below are read-only views.  Pointers returned by accessors,
 * and every pointer inside them, are borrowed from the handle and stay valid
 * until the next call that changes it (load, set, apply_env, add_server_json,
 * remove_server, free).  Getters never fail.
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks.  (jansson's allocator is process-wide;
 * do not change it while a call runs.) */
#ifndef MCPHUB_CONFIG_H
#define MCPHUB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bounds (see mcphub_config_opts). */
#define MCPHUB_CONFIG_MAX_SERVERS 4096
#define MCPHUB_CONFIG_MAX_GROUPS 1024
#define MCPHUB_CONFIG_MAX_KEYS 1024
#define MCPHUB_CONFIG_MAX_ITEMS 1024   /* items of one list or map (args, env, ...) */
#define MCPHUB_CONFIG_MAX_STRING 65536 /* bytes of one string */

typedef struct mcphub_config mcphub_config;

/* What went wrong, in English, naming the field and its value, e.g.
 * "mcpServers.fetch.replicas (\"two\") must be a non-negative integer".
 * line and column are set (1-based) for JSON syntax errors, else 0.
 * Secrets (tokens) are never quoted. */
typedef struct mcphub_config_error {
    char text[512];
    int line;
    int column;
} mcphub_config_error;

/* Bounds of one handle; 0 means the default.  Past a bound a call fails
 * with MCPHUB_E_FULL (a string: MCPHUB_E_TOOBIG). */
typedef struct mcphub_config_opts {
    size_t size;          /* sizeof(mcphub_config_opts) */
    uint32_t max_servers; /* MCPHUB_CONFIG_MAX_SERVERS */
    uint32_t max_groups;  /* MCPHUB_CONFIG_MAX_GROUPS */
    uint32_t max_keys;    /* MCPHUB_CONFIG_MAX_KEYS, the legacy key included */
    uint32_t max_items;   /* MCPHUB_CONFIG_MAX_ITEMS */
    uint32_t max_string;  /* MCPHUB_CONFIG_MAX_STRING */
    uint32_t hash_seed;   /* seed of the name tables; 0 = a fixed seed */
} mcphub_config_opts;

typedef enum {
    MCPHUB_SERVER_STDIO = 1,
    MCPHUB_SERVER_SSE = 2,
    MCPHUB_SERVER_STREAMABLE_HTTP = 3,
    MCPHUB_SERVER_OPENAPI = 4
} mcphub_server_type;

/* "stdio", "sse", "streamable-http", "openapi"; "unknown" otherwise. */
MCPHUB_API const char *mcphub_server_type_name(mcphub_server_type t);

/* One entry of a string map (env, headers), in file order. */
typedef struct mcphub_str_pair {
    const char *key;
    const char *value;
} mcphub_str_pair;

/* mcpServers.<name>.tools.<tool>: name is the key as written, bare
 * ("get") or prefixed ("fetch-get"). */
typedef struct mcphub_tool_override {
    const char *name;
    int enabled;             /* default 1 */
    const char *description; /* NULL: keep the upstream description */
} mcphub_tool_override;

/* mcpServers.<name>.  Optional strings are NULL when absent.  Values are as
 * written: ${VAR} references are expanded by the worker at spawn time
 * (mcphub_expand_vars), not here. */
typedef struct mcphub_server_def {
    const char *name;
    mcphub_server_type type;  /* explicit, else inferred like MCPHub */
    const char *command;
    const char *const *args;
    size_t args_len;
    const mcphub_str_pair *env;
    size_t env_len;
    const char *url;
    const mcphub_str_pair *headers;
    size_t headers_len;
    const char *openapi_url;  /* openapi.url */
    int enabled;              /* default 1 */
    const char *description;
    const mcphub_tool_override *tools;
    size_t tools_len;
    uint64_t timeout_ms;      /* options.timeout, legacy timeout; 60000 */
    /* ours */
    uint32_t replicas;        /* default cluster.defaultReplicas */
    const char *const *node_ids;          /* affinity.nodeIds */
    size_t node_ids_len;
    const char *const *exclude_node_ids;  /* affinity.excludeNodeIds */
    size_t exclude_node_ids_len;
    mcphub_lb_strategy strategy;          /* 0 = the cluster default */
    /* The server's JSON object as given, compact with sorted keys: what is
     * sent to workers and compared to detect a change. */
    const char *json;
} mcphub_server_def;

/* A selection of tools, prompts or resources in a group member. */
typedef struct mcphub_name_list {
    int all;                   /* 1: "all" (or absent); names unused */
    const char *const *names;  /* bare upstream names (resources: URIs) */
    size_t len;
} mcphub_name_list;

typedef struct mcphub_group_member {
    const char *server;
    const char *alias;         /* NULL: the server's own name */
    mcphub_name_list tools;
    mcphub_name_list prompts;
    mcphub_name_list resources;
} mcphub_group_member;

typedef struct mcphub_group_def {
    const char *id;            /* the name when the file gives none */
    const char *name;
    const char *description;   /* NULL when absent */
    const mcphub_group_member *members;
    size_t members_len;
} mcphub_group_def;

typedef enum {
    MCPHUB_KEY_ACCESS_ALL = 1,
    MCPHUB_KEY_ACCESS_GROUPS = 2,
    MCPHUB_KEY_ACCESS_SERVERS = 3,
    MCPHUB_KEY_ACCESS_CUSTOM = 4
} mcphub_key_access;

typedef struct mcphub_bearer_key {
    const char *id;
    const char *name;
    const char *token;         /* a secret: never log it */
    int enabled;               /* default 1 */
    mcphub_key_access access;  /* default all */
    const char *const *allowed_groups;   /* names or ids */
    size_t allowed_groups_len;
    const char *const *allowed_servers;
    size_t allowed_servers_len;
    int legacy;                /* 1: systemConfig.routing.bearerAuthKey */
} mcphub_bearer_key;

/* systemConfig.routing and systemConfig.nameSeparator. */
typedef struct mcphub_routing_settings {
    int enable_global_route;       /* 1 */
    int enable_group_name_route;   /* 1 */
    /* enableBearerAuth; when not given: 1 if any enabled bearer key exists,
     * else 0 (MCPHub defaults to 1 but also accepts tokens of its own OAuth
     * server, which we do not have). */
    int enable_bearer_auth;
    const char *bearer_auth_header_name; /* "Authorization" */
    uint64_t json_body_limit;      /* bytes; "1mb" = 1048576 */
    int skip_auth;                 /* 0 */
    const char *name_separator;    /* "-" */
} mcphub_routing_settings;

/* The cluster section.  Strings are "" when not set. */
typedef struct mcphub_cluster_settings {
    int enabled;                   /* 0 */
    mcphub_node_role mode;         /* master */
    const char *node_id;           /* "": the daemon chooses (hostname) */
    const char *token;             /* X-Cluster-Token shared secret */
    uint32_t default_replicas;     /* 1 */
    struct mcphub_cluster_master {
        const char *host;          /* "0.0.0.0": where the daemon listens */
        uint32_t port;             /* 3000; PORT sets it for either role */
        uint64_t heartbeat_interval_ms;   /* 5000 */
        uint64_t heartbeat_timeout_ms;    /* 15000 */
        uint32_t unhealthy_threshold;     /* 3 (fall) */
        uint32_t healthy_threshold;       /* 2 (rise) */
        uint64_t health_check_interval_ms; /* 10000; 0 = no active checks */
        uint64_t health_check_timeout_ms;  /* 3000 */
        uint64_t session_ttl_ms;          /* 1800000 */
        uint64_t reconcile_interval_ms;   /* 2000 */
        const char *state_dir;            /* "" */
    } master;
    struct mcphub_cluster_worker {
        const char *master_url;    /* required for an enabled worker */
        const char *advertise_host;
        uint32_t advertise_port;   /* 0 = the listening port */
        uint32_t max_servers;      /* 0 = no limit */
        uint32_t weight;           /* 1 */
    } worker;
    mcphub_lb_strategy lb_strategy; /* least-connections */
    struct mcphub_cluster_tls {
        const char *cert;
        const char *key;
        const char *ca;
    } tls;
} mcphub_cluster_settings;

/* ---- life cycle ---- */

/* A config holding only defaults.  opts may be NULL; it is copied.
 * Caller frees *out with mcphub_config_free.  Returns 0, MCPHUB_E_INVAL
 * (bad opts or mem), MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_config_new_empty(mcphub_config **out, const mcphub_config_opts *opts,
                                       const mcphub_mem *mem);

/* Replace everything in cfg with the settings text (len bytes, need not be
 * NUL-terminated); earlier apply_env/set layers are gone, apply them again.
 * Unknown fields are ignored.  Returns 0, MCPHUB_E_PARSE (JSON syntax; err
 * has line and column), MCPHUB_E_INVAL (a field), MCPHUB_E_FULL,
 * MCPHUB_E_TOOBIG, MCPHUB_E_NOMEM.  (When jansson's allocator fails inside
 * its lexer jansson reports a syntax error: PARSE then.)  On failure cfg is
 * unchanged. */
MCPHUB_API int mcphub_config_load(mcphub_config *cfg, const char *text, size_t len,
                                  mcphub_config_error *err);

/* mcphub_config_new_empty with default opts, then mcphub_config_load.  On
 * failure *out is NULL.  err may be NULL in every call. */
MCPHUB_API int mcphub_config_parse(mcphub_config **out, const char *text, size_t len,
                                   const mcphub_mem *mem, mcphub_config_error *err);

/* Accepts NULL. */
MCPHUB_API void mcphub_config_free(mcphub_config *cfg);

/* ---- layers ---- */

/* Set one setting from text, by its JSON path: "cluster.enabled",
 * "cluster.mode", "cluster.nodeId", "cluster.token",
 * "cluster.defaultReplicas", "cluster.master.<host|port|heartbeatInterval|
 * heartbeatTimeout|unhealthyThreshold|healthyThreshold|healthCheckInterval|
 * healthCheckTimeout|sessionTtl|reconcileInterval|stateDir>",
 * "cluster.worker.<masterUrl|advertiseHost|advertisePort|maxServers|weight>",
 * "cluster.loadBalancing.strategy", "cluster.tls.<cert|key|ca>",
 * "systemConfig.routing.<enableGlobalRoute|enableGroupNameRoute|
 * enableBearerAuth|bearerAuthHeaderName|jsonBodyLimit|skipAuth>",
 * "systemConfig.nameSeparator"; aliases "port" (cluster.master.port),
 * "cluster.heartbeatInterval", "cluster.heartbeatTimeout".  Booleans:
 * true/false/1/0/yes/no/on/off; numbers: decimal digits.  value is copied.
 * Returns 0, MCPHUB_E_NOTFOUND (unknown key), MCPHUB_E_INVAL (bad value),
 * MCPHUB_E_TOOBIG, MCPHUB_E_NOMEM; on failure nothing changed. */
MCPHUB_API int mcphub_config_set(mcphub_config *cfg, const char *key, const char *value,
                                 mcphub_config_error *err);

/* Apply the CLUSTER_* variables (and PORT) found in envp, a NULL-terminated
 * array of "KEY=VALUE" strings (borrowed for the call; pass environ).  Each
 * variable maps to one key of mcphub_config_set; empty values count as not
 * set; the first occurrence of a name wins; CLUSTER_MODE wins over its alias
 * CLUSTER_ROLE.  Errors name the variable.  All or nothing: on failure
 * nothing changed.  Returns as mcphub_config_set (never NOTFOUND). */
MCPHUB_API int mcphub_config_apply_env(mcphub_config *cfg, const char *const *envp,
                                       mcphub_config_error *err);

/* Cross-field checks, after all layers: heartbeatTimeout > heartbeatInterval,
 * healthCheckTimeout < healthCheckInterval (when checks are on), an enabled
 * worker has an http(s) masterUrl, ports within 0..65535, TLS cert and key
 * together.  Returns 0 or MCPHUB_E_INVAL with err naming the fields. */
MCPHUB_API int mcphub_config_validate(const mcphub_config *cfg, mcphub_config_error *err);

/* ---- servers ---- */

/* Servers in file order (added ones at the end).  at: NULL past the end;
 * find: NULL when unknown. */
MCPHUB_API size_t mcphub_config_server_count(const mcphub_config *cfg);
MCPHUB_API const mcphub_server_def *mcphub_config_server_at(const mcphub_config *cfg, size_t i);
MCPHUB_API const mcphub_server_def *mcphub_config_server_find(const mcphub_config *cfg,
                                                              const char *name);
/* The server's canonical JSON (mcphub_server_def.json), or NULL. */
MCPHUB_API const char *mcphub_config_server_json(const mcphub_config *cfg, const char *name);

/* Add the server name from its JSON object text (NUL-terminated, copied),
 * or replace it in place when it exists (as a worker does on an allocate
 * call).  Returns 0, MCPHUB_E_INVAL (empty name, bad field), MCPHUB_E_PARSE,
 * MCPHUB_E_FULL, MCPHUB_E_TOOBIG, MCPHUB_E_NOMEM; on failure nothing
 * changed.  Groups are not re-checked. */
MCPHUB_API int mcphub_config_add_server_json(mcphub_config *cfg, const char *name,
                                             const char *json_text, mcphub_config_error *err);

/* Remove a server, and its memberships in groups.  Returns 0 or
 * MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_config_remove_server(mcphub_config *cfg, const char *name);

/* The override for tool of server: the bare name first, then
 * server + nameSeparator + tool (MCPHub checks both).  NULL when none. */
MCPHUB_API const mcphub_tool_override *mcphub_config_tool_find(const mcphub_config *cfg,
                                                               const char *server,
                                                               const char *tool);

/* ---- groups, keys, settings ---- */

MCPHUB_API size_t mcphub_config_group_count(const mcphub_config *cfg);
MCPHUB_API const mcphub_group_def *mcphub_config_group_at(const mcphub_config *cfg, size_t i);
/* By name first, then by id (MCPHub's getGroupByIdOrName). */
MCPHUB_API const mcphub_group_def *mcphub_config_group_find(const mcphub_config *cfg,
                                                            const char *name_or_id);

/* bearerKeys in file order, then the legacy key (unless a key has the same
 * token). */
MCPHUB_API size_t mcphub_config_key_count(const mcphub_config *cfg);
MCPHUB_API const mcphub_bearer_key *mcphub_config_key_at(const mcphub_config *cfg, size_t i);

MCPHUB_API const mcphub_routing_settings *mcphub_config_routing(const mcphub_config *cfg);
MCPHUB_API const mcphub_cluster_settings *mcphub_config_cluster(const mcphub_config *cfg);

/* Warnings of the last load and later add_server_json calls, for the caller
 * to log: odd server names, group members naming unknown servers (dropped),
 * unknown fields in the cluster section.  At most 64 are kept. */
MCPHUB_API size_t mcphub_config_warning_count(const mcphub_config *cfg);
MCPHUB_API const char *mcphub_config_warning_at(const mcphub_config *cfg, size_t i);

/* ---- ${VAR} expansion ---- */

/* Returns the value of variable name (NUL-terminated), or NULL when unset. */
typedef const char *(*mcphub_var_lookup_fn)(const char *name, void *user_data);

/* Expand ${NAME} (any name up to the next '}') and $NAME (NAME matching
 * [A-Z_][A-Z0-9_]*) in in, as MCPHub does; unset variables become "".
 * "$$", a lone '$', "${" without '}' and "${}" are kept literally.  One
 * pass: expanded values are not scanned again.  A pure function: the
 * worker passes a getenv-based lookup at spawn time; a NULL lookup knows
 * no variable.  *out is allocated with mem (NULL = libc); caller frees it
 * with mem's free_fn (free(3)).
 * Returns 0, MCPHUB_E_INVAL (in or out NULL, bad mem), MCPHUB_E_TOOBIG
 * (result over MCPHUB_CONFIG_MAX_STRING bytes), MCPHUB_E_NOMEM; on failure
 * *out is NULL. */
MCPHUB_API int mcphub_expand_vars(const char *in, mcphub_var_lookup_fn lookup, void *user_data,
                                  char **out, const mcphub_mem *mem);

#ifdef __cplusplus
}
#endif
#endif
