/* libmcphub-cluster: client authentication decisions for the master's front
 * door — bearer keys on the MCP endpoints, who may use the management API,
 * and the 401/403 responses MCPHub sends.
 *
 * Pure functions over a loaded mcphub_config: no I/O, no allocation, no
 * state.  The daemon reads the header, resolves the route (group or server
 * of the URL) and asks here; it never compares tokens itself.
 *
 * Tokens are compared with mcphub_secret_equal against every key, without
 * stopping at the first match, so the time taken does not tell which key
 * (or how much of one) matched.  Tokens are never copied out or logged.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  (These functions keep no
 * handle of their own: they only read the config, which must not change
 * during the call.) */
#ifndef MCPHUB_AUTH_H
#define MCPHUB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Presented tokens longer than this never match (MCPHub's are 71 bytes). */
#define MCPHUB_AUTH_MAX_TOKEN 4096

typedef enum {
    MCPHUB_AUTH_OK = 0,
    MCPHUB_AUTH_MISSING = 1,   /* no token: 401 "No authorization provided" */
    MCPHUB_AUTH_INVALID = 2,   /* no enabled key has it: 401 "Invalid bearer token" */
    MCPHUB_AUTH_FORBIDDEN = 3  /* a valid key, but not for this route: 403 */
} mcphub_auth_result;

/* The route a request asks for, resolved by the caller (caller-filled,
 * borrowed for the call).  Exactly one kind:
 *   global = 1                   /mcp, /sse, and "$smart"
 *   group_id or group_name set   a group ("$smart/<group>" too); the group
 *                                wins when a group and a server share a name
 *   server set                   one server
 * A route with none of them set counts as global (the strictest).
 * group_servers lists every server of the group (members' server names,
 * not aliases); it decides "servers" and "custom" keys on group routes. */
typedef struct mcphub_auth_route {
    int global;
    const char *group_id;
    const char *group_name;
    const char *server;
    const char *const *group_servers;
    size_t group_servers_len;
} mcphub_auth_route;

/* May a request carrying header_value (the value of the header named by
 * systemConfig.routing.bearerAuthHeaderName, NULL when absent) reach route?
 *
 * With enableBearerAuth off every request is MCPHUB_AUTH_OK (a valid key
 * that fits the route is still reported in *key_out, for attribution).
 * Otherwise the token must equal the token of an enabled bearer key, and
 * the key must allow the route:
 *   all      everything, global routes included (the only type that may
 *            use a global route);
 *   groups   a group listed in allowedGroups by name or by id; no server
 *            routes;
 *   servers  a server listed in allowedServers; a group only when EVERY
 *            server of the group is listed, and the group is not empty
 *            (GHSA-454m-4vm6-842f);
 *   custom   a group listed in allowedGroups, or whose every server is in
 *            allowedServers; a server listed in allowedServers.
 * key_out (may be NULL) receives the matching key on MCPHUB_AUTH_OK with a
 * recognised key, else NULL; it is borrowed from cfg until cfg changes.
 * Log its id or name, never its token.
 * NULL cfg or route gives MCPHUB_AUTH_INVALID (fail closed). */
MCPHUB_API mcphub_auth_result mcphub_auth_check_mcp(const mcphub_config *cfg,
                                                    const char *header_value,
                                                    const mcphub_auth_route *route,
                                                    const mcphub_bearer_key **key_out);

/* May a request to the management API (/api/...) carrying the Authorization
 * header value header_value (NULL when absent) go on?  OK when:
 * systemConfig.routing.skipAuth is on; or the config has no bearer key at
 * all (enabled or not) and no cluster token (the daemon warns at start
 * that /api is open); or header_value is "Bearer <t>" with t the token of
 * an enabled key with accessType all, or the cluster token (operators and
 * tools).  A valid key of another access type gives MCPHUB_AUTH_FORBIDDEN.
 * NULL cfg gives MCPHUB_AUTH_INVALID. */
MCPHUB_API mcphub_auth_result mcphub_auth_check_api(const mcphub_config *cfg,
                                                    const char *header_value);

/* Find the token in a header value: "Bearer <t>" (scheme case-insensitive,
 * spaces or tabs around the token ignored); for a custom header
 * (custom_header non-zero) also a raw token.  Returns a pointer into
 * header_value (borrowed, not NUL-terminated at the token's end) and its
 * length in *len (len may be NULL), or NULL when there is no token
 * (NULL or empty value, another scheme, "Bearer" alone). */
MCPHUB_API const char *mcphub_auth_token(const char *header_value, int custom_header,
                                         size_t *len);

/* The response MCPHub sends for a refusal r, written to the caller's
 * buffers:
 *   MISSING, INVALID  *status 401, body {"error":"invalid_token",
 *                     "error_description":"No authorization provided"}
 *                     (or "Invalid bearer token"), WWW-Authenticate
 *                     Bearer error="invalid_token", error_description="..."
 *   FORBIDDEN         *status 403, body {"error":"insufficient_scope",
 *                     "error_description":"The bearer key does not allow
 *                     this route"}, WWW-Authenticate
 *                     Bearer error="insufficient_scope", error_description="..."
 *                     (RFC 6750; MCPHub answers an out-of-scope key with the
 *                     401 of INVALID: pass INVALID here to do the same)
 * When resource_metadata_url is not NULL, the body gets
 * "resource_metadata":"<url>" and the header resource_metadata="<url>"
 * (RFC 9728).  body and www_auth are NUL-terminated; www_auth is the header's
 * value, without "WWW-Authenticate: ".  Returns 0; MCPHUB_E_INVAL when r is
 * MCPHUB_AUTH_OK or unknown, a pointer is NULL, or the URL holds a control
 * character; MCPHUB_E_TOOBIG when a buffer is too small (512 bytes plus
 * twice the URL's length is always enough).  On failure nothing is
 * written. */
MCPHUB_API int mcphub_auth_response(mcphub_auth_result r, const char *resource_metadata_url,
                                    unsigned *status, char *body, size_t body_cap,
                                    char *www_auth, size_t www_cap);

#ifdef __cplusplus
}
#endif
#endif
