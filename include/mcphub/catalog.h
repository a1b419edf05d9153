/* libmcphub-cluster: the catalog — name resolution and list merging of an
 * MCP gateway, with MCPHub's rules.
 *
 * The catalog knows the servers (in config order, enabled or not), what
 * each one offers (its own initialize result and its tools, prompts,
 * resources and resource templates, as it answered them), per-tool
 * overrides and groups.  From that it answers, for a route:
 *
 *   - which servers the route covers: "" is the global route (every enabled
 *     server); any other name is a group by name (unless group-name routes
 *     are off), else a group by id, else a single server by name.  A group
 *     wins over a server of the same name;
 *   - the "result" objects of initialize, tools/list, prompts/list,
 *     resources/list and resources/templates/list, ready to send;
 *   - which server, and which upstream name, a name sent by a client means.
 *
 * Naming (MCPHub): a tool or prompt is exposed as
 * <server><separator><upstream name> ("fetch-get" with the default "-");
 * inside a group a member's alias replaces the server name.  Resources and
 * templates keep their URIs.  Servers come in config order (members in
 * group order), items in upstream order.  A tool disabled by an override
 * (keyed by its bare or its prefixed name) is neither listed nor resolved;
 * a description override replaces the upstream description.  "$schema" is
 * removed from input schemas.  An exposed name longer than
 * MCPHUB_CATALOG_MAX_EXPOSED bytes is left out (and counted).
 *
 * Ambiguity: with server "a" offering "b-c" and server "a-b" offering "c",
 * both expose "a-b-c".  Both are listed (as MCPHub does); a call resolves to
 * the first server in route order (config order, or group order) that
 * offers the exact name.
 *
 * Unavailable servers (no healthy replica): by default they keep listing
 * their last known items, and names still resolve to them, so clients see
 * a stable list and a call gets an error result from the caller instead
 * of "unknown tool".  (MCPHub lists only connected servers; set
 * hide_unavailable for that.)
 *
 * The catalog does no I/O.  JSON texts are parsed with jansson, whose own
 * (process-wide) allocator is used for the temporary trees during a call;
 * everything the catalog keeps or returns is allocated with the handle's
 * mcphub_mem.  Strings handed out by the resolve calls are borrowed until
 * the next call that changes the catalog (any call taking a non-const
 * handle).
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks.  (jansson's allocator is process-wide;
 * do not change it while a call runs.) */
#ifndef MCPHUB_CATALOG_H
#define MCPHUB_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest exposed tool or prompt name, in bytes (the MCP guidance). */
#define MCPHUB_CATALOG_MAX_EXPOSED 128u
/* Longest server name, group id or name, alias, separator (bytes). */
#define MCPHUB_CATALOG_MAX_NAME 256u
#define MCPHUB_CATALOG_MAX_SEPARATOR 16u

/* Default bounds (see mcphub_catalog_opts). */
#define MCPHUB_CATALOG_MAX_SERVERS 4096u
#define MCPHUB_CATALOG_MAX_ITEMS 10000u
#define MCPHUB_CATALOG_MAX_GROUPS 1024u

typedef struct mcphub_catalog mcphub_catalog;

/* The four lists a server offers. */
typedef enum {
    MCPHUB_CATALOG_TOOLS = 0,
    MCPHUB_CATALOG_PROMPTS = 1,
    MCPHUB_CATALOG_RESOURCES = 2,
    MCPHUB_CATALOG_TEMPLATES = 3  /* resources/templates/list */
} mcphub_catalog_list;

typedef enum {
    MCPHUB_ROUTE_GLOBAL = 1,
    MCPHUB_ROUTE_GROUP = 2,
    MCPHUB_ROUTE_SERVER = 3
} mcphub_route_kind;

/* Options; set size = sizeof(mcphub_catalog_opts); 0 or NULL in a field
 * means its default.  Copied by mcphub_catalog_new(). */
typedef struct mcphub_catalog_opts {
    size_t size;
    const char *name_separator;   /* "-" (systemConfig.nameSeparator) */
    /* 1: a route is never looked up as a group name, only as a group id
     * (systemConfig.routing.enableGroupNameRoute = false). */
    int disable_group_name_route;
    /* 1: servers marked unavailable contribute nothing (MCPHub's way). */
    int hide_unavailable;
    const char *gateway_name;     /* "mcphub": serverInfo.name */
    const char *gateway_version;  /* mcphub_version() */
    size_t max_servers;           /* MCPHUB_CATALOG_MAX_SERVERS */
    size_t max_items;             /* per server per list; MCPHUB_CATALOG_MAX_ITEMS;
                                   * also bounds overrides per server and
                                   * the names of one group selection */
    size_t max_groups;            /* MCPHUB_CATALOG_MAX_GROUPS; members of one
                                   * group are bounded by max_servers */
    uint32_t hash_seed;           /* seed of the name tables; 0 = fixed */
    mcphub_log_fn log;            /* NULL: silent */
    void *log_user_data;          /* borrowed until mcphub_catalog_free */
} mcphub_catalog_opts;

/* ---- life cycle ---- */

/* An empty catalog in *out.  opts and mem may be NULL; both are copied
 * (the strings in opts too).  Caller frees *out with mcphub_catalog_free().
 * Returns 0, MCPHUB_E_INVAL (out NULL, bad size, separator empty or longer
 * than MCPHUB_CATALOG_MAX_SEPARATOR, bad mem hooks) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_catalog_new(mcphub_catalog **out, const mcphub_catalog_opts *opts,
                                  const mcphub_mem *mem);

/* Free the catalog and everything in it; NULL is allowed. */
MCPHUB_API void mcphub_catalog_free(mcphub_catalog *c);

/* ---- servers ---- */

/* Add server at the end of the order, or, when it is there, set its
 * enabled flag and keep its place and what it offers.  A new server is
 * available and offers nothing yet.  server is copied; it is non-empty
 * UTF-8 of at most MCPHUB_CATALOG_MAX_NAME bytes.
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_FULL (max_servers) or
 * MCPHUB_E_NOMEM; on failure nothing changed. */
MCPHUB_API int mcphub_catalog_add_server(mcphub_catalog *c, const char *server, int enabled);

/* Remove a server with what it offers and its overrides.  Group members
 * naming it stay and contribute nothing until it is added again.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_catalog_remove_server(mcphub_catalog *c, const char *server);

/* Set the override of one tool of server (mcpServers.<s>.tools.<tool>).
 * tool is the key as written: the bare upstream name or the prefixed
 * <server><separator><name>; when both keys exist for a tool the bare one
 * wins (as in MCPHub).  enabled 0 hides the tool and refuses calls to it;
 * description, if not NULL, replaces the upstream description.  Strings
 * are copied.  Setting the same key again replaces it.
 * Returns 0, MCPHUB_E_INVAL (NULL or empty tool, bad UTF-8),
 * MCPHUB_E_NOTFOUND (unknown server), MCPHUB_E_FULL (max_items overrides
 * for this server) or MCPHUB_E_NOMEM; on failure nothing changed. */
MCPHUB_API int mcphub_catalog_set_tool_override(mcphub_catalog *c, const char *server,
                                                const char *tool, int enabled,
                                                const char *description);

/* Replace the servers (order, enabled), tool overrides, groups, separator
 * and group-name-route setting with those of cfg (borrowed for the call).
 * What servers that stay have offered (lists, initialize result,
 * availability) is kept; servers that are gone are removed.
 * Returns 0, MCPHUB_E_INVAL (cfg NULL, or a name the setters would
 * refuse), MCPHUB_E_EXISTS (a group name used twice), MCPHUB_E_FULL or
 * MCPHUB_E_NOMEM; on failure nothing changed. */
MCPHUB_API int mcphub_catalog_load_config(mcphub_catalog *c, const mcphub_config *cfg);

/* ---- what a server offers, from its own answers ---- */

/* Store the server's initialize result (the JSON "result" object, len
 * bytes, need not be NUL-terminated; copied): its serverInfo and
 * instructions are what a single-server route answers.
 * Returns 0, MCPHUB_E_INVAL (NULL argument, not an object, serverInfo not
 * an object, instructions not a string), MCPHUB_E_PARSE (bad JSON),
 * MCPHUB_E_NOTFOUND (unknown server) or MCPHUB_E_NOMEM; on failure nothing
 * changed. */
MCPHUB_API int mcphub_catalog_set_initialize(mcphub_catalog *c, const char *server,
                                             const char *result_json, size_t len);

/* Replace one list of server with json (len bytes, need not be
 * NUL-terminated; copied): either the array of items, or the whole result
 * object holding it under "tools", "prompts", "resources" or
 * "resourceTemplates".  Pass the full list (all pages joined).  Items are
 * objects; a tool or prompt needs a non-empty string "name", a resource a
 * string "uri", a template a string "uriTemplate".  A later item with the
 * same name (or URI) as an earlier one is dropped, with a warning logged.
 * Tools keep "inputSchema" without its top-level "$schema"; a tool without
 * an object inputSchema gets {"type":"object"}.
 * Returns 0, MCPHUB_E_INVAL (NULL argument, bad which, an item of the
 * wrong shape), MCPHUB_E_PARSE (bad JSON; also integers beyond 64 bits),
 * MCPHUB_E_NOTFOUND (unknown server), MCPHUB_E_FULL (more than max_items
 * items) or MCPHUB_E_NOMEM; on failure nothing changed. */
MCPHUB_API int mcphub_catalog_set_list(mcphub_catalog *c, const char *server,
                                       mcphub_catalog_list which, const char *json,
                                       size_t len);

/* Mark server available (1) or not (0); new servers are available.  Lists
 * change only with hide_unavailable (see the top of this file).
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_catalog_set_available(mcphub_catalog *c, const char *server,
                                            int available);

/* A counter per list that grows whenever a change may alter that list on
 * some route (it may also grow when no route's list changed, never stays
 * when one did): compare it after a change to send
 * notifications/<list>/list_changed.  Starts at 0.  0 for a bad which. */
MCPHUB_API uint64_t mcphub_catalog_generation(const mcphub_catalog *c,
                                              mcphub_catalog_list which);

/* ---- groups ---- */

/* Add or replace (by id) a group.  id NULL or "" means the name.  Members
 * (mcphub_group_member, config.h) come in order; a member's alias, when
 * not NULL or "", replaces the server name in exposed names; its tools and
 * prompts selections hold bare upstream names, its resources selection
 * URIs (a template is selected by its uriTemplate, or by a selected URI
 * that starts with the template's text before the first '{').  Members may
 * name servers the catalog does not know (yet): they contribute nothing.
 * Everything is copied.
 * Returns 0, MCPHUB_E_INVAL (bad name, NULL members with n > 0, a NULL
 * selection name), MCPHUB_E_EXISTS (two members expose the same name, or
 * another group has this name), MCPHUB_E_FULL (max_groups groups, more than
 * max_servers members, a selection over max_items) or MCPHUB_E_NOMEM; on
 * failure nothing changed. */
MCPHUB_API int mcphub_catalog_set_group(mcphub_catalog *c, const char *id, const char *name,
                                        const mcphub_group_member *members, size_t n);

/* Remove the group with this id.  Returns 0, MCPHUB_E_INVAL or
 * MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_catalog_remove_group(mcphub_catalog *c, const char *id);

/* ---- routes ---- */

/* What route names: NULL or "" is the global route; else a group by name
 * (unless disable_group_name_route), then a group by id, then a server by
 * name (also a disabled one: it lists nothing).  kind_out may be NULL.
 * Returns 0 or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_catalog_route_check(const mcphub_catalog *c, const char *route,
                                          mcphub_route_kind *kind_out);

/* The servers whose items the route merges, in order: enabled (and, with
 * hide_unavailable, available) servers the catalog knows.  Up to cap names
 * go to out (borrowed until the next change; out may be NULL when cap is
 * 0).  Returns how many there are (more than cap when out was too short);
 * 0 for an unknown route. */
MCPHUB_API size_t mcphub_catalog_route_servers(const mcphub_catalog *c, const char *route,
                                               const char **out, size_t cap);

/* ---- results ready to send ---- */

/* The initialize "result" object for route, as compact JSON in *json
 * (caller frees with mcphub_catalog_free_string()):
 * {"protocolVersion":..., "capabilities":{"tools":{"listChanged":true},
 * "prompts":{"listChanged":true},"resources":{"listChanged":true},
 * "logging":{},"completions":{}}, "serverInfo":..., "instructions":...}.
 * protocol_version is the one negotiated with the client; NULL leaves the
 * member out.  serverInfo: on a server route the server's own (from
 * mcphub_catalog_set_initialize(), else {"name":<server>,"version":
 * <gateway_version>}) and its instructions; on a group route
 * {"name":"<gateway_name>_<group name>_group","version":...}; on the
 * global route {"name":<gateway_name>,"version":...}.
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOTFOUND (unknown route) or
 * MCPHUB_E_NOMEM; on failure *json is NULL. */
MCPHUB_API int mcphub_catalog_initialize_result(const mcphub_catalog *c, const char *route,
                                                const char *protocol_version, char **json);

/* The list "result" object for route: {"tools":[...]}, {"prompts":[...]},
 * {"resources":[...]} or {"resourceTemplates":[...]}, compact JSON in
 * *json (caller frees with mcphub_catalog_free_string()).  The same
 * catalog always renders the same bytes.  A tool or prompt is written as
 * {"name":<exposed>,"description":...,<its other members in upstream
 * order>}.  *skipped (may be NULL) gets how many items were left out
 * because their exposed name is longer than MCPHUB_CATALOG_MAX_EXPOSED
 * (for the caller to log).
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_NOTFOUND (unknown route) or
 * MCPHUB_E_NOMEM; on failure *json is NULL. */
MCPHUB_API int mcphub_catalog_list_result(const mcphub_catalog *c, const char *route,
                                          mcphub_catalog_list which, char **json,
                                          size_t *skipped);

/* Free a string returned by the catalog; NULL is allowed. */
MCPHUB_API void mcphub_catalog_free_string(const mcphub_catalog *c, char *s);

/* ---- resolving what a client sent ---- */

/* The server and upstream tool name behind name on route: the listed item
 * whose exposed name is name (the first in route order when several are);
 * on a group or server route that covers exactly one server the bare
 * upstream name is accepted too (never on the global route).  *server_out and *tool_out are borrowed until the next
 * change.  Average cost: one hash lookup per occurrence of the separator
 * in name.
 * Returns 0, MCPHUB_E_INVAL (NULL argument) or MCPHUB_E_NOTFOUND: unknown
 * route or name, a disabled tool, or one outside the group's selection
 * alike (MCPHub #1103: callers must not tell them apart). */
MCPHUB_API int mcphub_catalog_resolve_tool(const mcphub_catalog *c, const char *route,
                                           const char *name, const char **server_out,
                                           const char **tool_out);

/* The same for prompts (prompts have no overrides). */
MCPHUB_API int mcphub_catalog_resolve_prompt(const mcphub_catalog *c, const char *route,
                                             const char *name, const char **server_out,
                                             const char **prompt_out);

/* The server that serves uri on route: the first in route order listing
 * that exact URI, else the listed template whose text before its first
 * '{' is the longest non-empty prefix of uri (the first in route order on
 * a tie).  *server_out is borrowed until the next change.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_catalog_resolve_resource(const mcphub_catalog *c, const char *route,
                                               const char *uri, const char **server_out);

/* The annotations of a server's tool (upstream name) that decide whether a
 * call may be retried safely: readOnlyHint and idempotentHint, 0 when
 * absent (the MCP defaults).  Either out pointer may be NULL.  Overrides
 * and routes do not matter here.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND (unknown server or tool). */
MCPHUB_API int mcphub_catalog_tool_annotations(const mcphub_catalog *c, const char *server,
                                               const char *tool, int *read_only,
                                               int *idempotent);

#ifdef __cplusplus
}
#endif
#endif
