/* Internal: the pieces of the config module (config*.c).  Not used by other
 * modules; they go through include/mcphub/config.h. */
#ifndef MCPHUB_CONFIG_INT_H
#define MCPHUB_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mcphub/config.h"
#include "map_int.h"
#include "mem_int.h"

#if defined(__GNUC__)
#define MCPHUB__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MCPHUB__PRINTF(f, a)
#endif

#define MCPHUB__CFG_MAX_WARNINGS 64

/* ---- arena: many small blocks freed at once (config_util.c) ---- */

typedef struct mcphub__cfg_chunk mcphub__cfg_chunk;

typedef struct mcphub__cfg_arena {
    const mcphub__mem *mem;
    mcphub__cfg_chunk *head;
} mcphub__cfg_arena;

void mcphub__cfg_arena_init(mcphub__cfg_arena *a, const mcphub__mem *mem);
void mcphub__cfg_arena_free(mcphub__cfg_arena *a);
void *mcphub__cfg_alloc(mcphub__cfg_arena *a, size_t n); /* zeroed */
char *mcphub__cfg_strdup(mcphub__cfg_arena *a, const char *s);

/* ---- parse context and typed readers of JSON values (config_util.c) ---- */

typedef struct mcphub__cfg_limits {
    size_t max_servers, max_groups, max_keys, max_items, max_string;
} mcphub__cfg_limits;

typedef struct mcphub__cfg_ctx {
    const mcphub__mem *mem;
    const mcphub__cfg_limits *lim;
    mcphub_config_error *err;   /* may be NULL */
} mcphub__cfg_ctx;

/* snprintf for field paths in messages; a cut path is still a fine
 * message (and this keeps -Wformat-truncation quiet). */
void mcphub__cfg_path(char *buf, size_t cap, const char *fmt, ...) MCPHUB__PRINTF(3, 4);
/* Sets err->text (line, column = 0); returns code. */
int mcphub__cfg_fail(mcphub__cfg_ctx *c, int code, const char *fmt, ...) MCPHUB__PRINTF(3, 4);
void mcphub__cfg_err_set(mcphub_config_error *err, const char *fmt, ...) MCPHUB__PRINTF(2, 3);

/* A JSON value as it appears in messages: "\"two\"", "3000", "{...}". */
void mcphub__cfg_render_json(const json_t *v, char *buf, size_t cap);
/* A string quoted and escaped as JSON, cut after 64 bytes. */
void mcphub__cfg_render_text(const char *s, char *buf, size_t cap);
/* "<path> (<value>) must be <what>" with MCPHUB_E_INVAL. */
int mcphub__cfg_bad(mcphub__cfg_ctx *c, const char *path, const json_t *v, const char *what);

/* Each reader leaves *out alone when v is NULL (field absent). */
int mcphub__cfg_read_str(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                         const char *path, const char **out);
int mcphub__cfg_read_bool(mcphub__cfg_ctx *c, const json_t *v, const char *path, int *out);
/* An integer in min..max; reals with an integral value are accepted (JSON
 * from JavaScript does not tell them apart).  what: "a non-negative
 * integer", "a positive integer (milliseconds)", ... */
int mcphub__cfg_read_uint(mcphub__cfg_ctx *c, const json_t *v, const char *path, uint64_t min,
                          uint64_t max, const char *what, uint64_t *out);
int mcphub__cfg_read_strlist(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                             const char *path, const char *const **out, size_t *len);
int mcphub__cfg_read_strmap(mcphub__cfg_ctx *c, mcphub__cfg_arena *a, const json_t *v,
                            const char *path, const mcphub_str_pair **out, size_t *len);
/* The object v (or NULL when absent); anything else is an error. */
int mcphub__cfg_read_object(mcphub__cfg_ctx *c, const json_t *v, const char *path,
                            const json_t **out);

/* jansson's failure to build or dump a tree is an allocation failure. */
int mcphub__cfg_json_error(mcphub__cfg_ctx *c, const json_error_t *je);

/* ---- servers (config_servers.c) ---- */

typedef struct mcphub__cfg_server {
    mcphub_server_def pub;      /* first: handed out */
    mcphub__cfg_arena arena;    /* owns everything pub points to */
    int replicas_given;         /* else pub.replicas follows defaultReplicas */
    int odd_name;               /* name outside [A-Za-z0-9._-] */
} mcphub__cfg_server;

/* Parse mcpServers.<name> from obj; messages use path ("mcpServers.x").
 * Caller frees *out with mcphub__cfg_server_free. */
int mcphub__cfg_server_parse(mcphub__cfg_ctx *c, const char *name, const json_t *obj,
                             const char *path, mcphub__cfg_server **out);
void mcphub__cfg_server_free(const mcphub__mem *mem, mcphub__cfg_server *s);
int mcphub__cfg_server_name_ok(const char *name);

/* ---- the document: servers, groups, keys, warnings (config.c) ---- */

typedef struct mcphub__cfg_doc {
    mcphub__cfg_arena arena;    /* groups, keys, warning texts */
    mcphub__cfg_server **servers;
    size_t nservers, cap_servers;
    mcphub__map server_by_name;
    mcphub_group_def *groups;
    size_t ngroups;
    mcphub__map group_by_name, group_by_id;
    mcphub_bearer_key *keys;
    size_t nkeys;
    const char *warnings[MCPHUB__CFG_MAX_WARNINGS];
    size_t nwarnings;
} mcphub__cfg_doc;

/* Add a warning (dropped silently past the bound). */
int mcphub__cfg_warn(mcphub__cfg_doc *d, const char *fmt, ...) MCPHUB__PRINTF(2, 3);

/* ---- groups and keys (config_groups.c, config_keys.c) ---- */

int mcphub__cfg_groups_parse(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *groups);
int mcphub__cfg_keys_parse(mcphub__cfg_ctx *c, mcphub__cfg_doc *d, const json_t *keys,
                           const json_t *legacy_key);

/* ---- scalar settings: routing + cluster (config_settings.c) ---- */

typedef struct mcphub__cfg_settings {
    mcphub_routing_settings routing;
    mcphub_cluster_settings cluster;
    int bearer_auth;            /* -1: not given; else 0 or 1 */
} mcphub__cfg_settings;

/* Defaults; strings allocated with mem. */
int mcphub__cfg_settings_init(mcphub__cfg_settings *s, const mcphub__mem *mem);
void mcphub__cfg_settings_free(mcphub__cfg_settings *s, const mcphub__mem *mem);
/* Read systemConfig.routing, systemConfig.nameSeparator and the cluster
 * section (top level, else systemConfig.cluster) of root into s; warns
 * about unknown cluster fields. */
int mcphub__cfg_settings_from_json(mcphub__cfg_ctx *c, mcphub__cfg_settings *s,
                                   mcphub__cfg_doc *d, const json_t *root);
int mcphub__cfg_settings_set(mcphub__cfg_ctx *c, mcphub__cfg_settings *s, const char *key,
                             const char *value);
int mcphub__cfg_settings_env(mcphub__cfg_ctx *c, mcphub__cfg_settings *s,
                             const char *const *envp);
/* config_validate.c */
int mcphub__cfg_settings_validate(const mcphub__cfg_settings *s, mcphub_config_error *err);
/* "1mb", "100kb", "2gb", "512" -> bytes. */
int mcphub__cfg_parse_size(const char *s, uint64_t *out);

#endif
