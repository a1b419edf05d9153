/* Unit tests: bearer key decisions for MCP routes and /api, token parsing,
 * MCPHub's 401/403 responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/auth.h>
#include <mcphub/config.h>

#include "fakes/fakes.h"

/* Servers a, b, c; group "ab" (id g-ab) = a + b, group "solo" (id g-solo)
 * = a, group "empty" with no server.  One key per access type, plus a
 * disabled all-key. */
static const char settings[] =
    "{\"mcpServers\":{\"a\":{\"command\":\"x\"},\"b\":{\"command\":\"x\"},"
    "\"c\":{\"command\":\"x\"}},"
    "\"groups\":[{\"id\":\"g-ab\",\"name\":\"ab\",\"servers\":[\"a\",{\"name\":\"b\",\"alias\":\"bee\"}]},"
    "{\"id\":\"g-solo\",\"name\":\"solo\",\"servers\":[\"a\"]},"
    "{\"id\":\"g-empty\",\"name\":\"empty\",\"servers\":[]}],"
    "\"bearerKeys\":["
    "{\"id\":\"k-all\",\"name\":\"admin\",\"token\":\"tok-all\",\"accessType\":\"all\"},"
    "{\"id\":\"k-grp-name\",\"token\":\"tok-grp-name\",\"accessType\":\"groups\",\"allowedGroups\":[\"ab\"]},"
    "{\"id\":\"k-grp-id\",\"token\":\"tok-grp-id\",\"accessType\":\"groups\",\"allowedGroups\":[\"g-solo\"]},"
    "{\"id\":\"k-srv-a\",\"token\":\"tok-srv-a\",\"accessType\":\"servers\",\"allowedServers\":[\"a\"]},"
    "{\"id\":\"k-srv-ab\",\"token\":\"tok-srv-ab\",\"accessType\":\"servers\",\"allowedServers\":[\"b\",\"a\"]},"
    "{\"id\":\"k-cus\",\"token\":\"tok-cus\",\"accessType\":\"custom\",\"allowedGroups\":[\"ab\"],\"allowedServers\":[\"c\"]},"
    "{\"id\":\"k-cus-srv\",\"token\":\"tok-cus-srv\",\"accessType\":\"custom\",\"allowedServers\":[\"a\"]},"
    "{\"id\":\"k-off\",\"token\":\"tok-off\",\"accessType\":\"all\",\"enabled\":false}"
    "]%s}";

static mcphub_config *load(const char *extra)
{
    char text[4096];
    mcphub_config *cfg = NULL;
    mcphub_config_error err;

    snprintf(text, sizeof text, settings, extra);
    if (mcphub_config_parse(&cfg, text, strlen(text), NULL, &err) != 0)
        fail_msg("settings: %s", err.text);
    return cfg;
}

static mcphub_config *load_json(const char *text)
{
    mcphub_config *cfg = NULL;
    mcphub_config_error err;

    if (mcphub_config_parse(&cfg, text, strlen(text), NULL, &err) != 0)
        fail_msg("settings: %s", err.text);
    return cfg;
}

/* A route as the daemon builds it: the group from the config, its
 * members' server names. */
typedef struct route_buf {
    mcphub_auth_route r;
    const char *servers[8];
} route_buf;

static const mcphub_auth_route *group_route(const mcphub_config *cfg, const char *name_or_id,
                                            route_buf *rb)
{
    const mcphub_group_def *g = mcphub_config_group_find(cfg, name_or_id);
    size_t i;

    assert_non_null(g);
    memset(rb, 0, sizeof *rb);
    rb->r.group_id = g->id;
    rb->r.group_name = g->name;
    for (i = 0; i < g->members_len && i < 8; i++)
        rb->servers[i] = g->members[i].server;
    rb->r.group_servers = rb->servers;
    rb->r.group_servers_len = g->members_len;
    return &rb->r;
}

static const mcphub_auth_route global_route = {1, NULL, NULL, NULL, NULL, 0};

static mcphub_auth_route server_route(const char *name)
{
    mcphub_auth_route r;

    memset(&r, 0, sizeof r);
    r.server = name;
    return r;
}

static mcphub_auth_result check(const mcphub_config *cfg, const char *token,
                                const mcphub_auth_route *r)
{
    char h[256];

    snprintf(h, sizeof h, "Bearer %s", token);
    return mcphub_auth_check_mcp(cfg, h, r, NULL);
}

/* ---- token parsing ---- */

static void test_token_parsing(void **state)
{
    size_t n = 99;
    const char *t;

    (void)state;
    t = mcphub_auth_token("Bearer abc", 0, &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "abc", 3);
    /* scheme is case-insensitive, blanks around the token are not part of it */
    t = mcphub_auth_token("  bEaReR \t abc-def  ", 0, &n);
    assert_non_null(t);
    assert_int_equal(n, 7);
    assert_memory_equal(t, "abc-def", 7);
    assert_null(mcphub_auth_token("Basic dXNlcjpwdw==", 0, &n));
    assert_int_equal(n, 0);
    assert_null(mcphub_auth_token("Bearer", 0, &n));
    assert_null(mcphub_auth_token("Bearer    ", 0, &n));
    assert_null(mcphub_auth_token("", 0, &n));
    assert_null(mcphub_auth_token(NULL, 0, &n));
    assert_null(mcphub_auth_token("Bearerabc", 0, &n)); /* no separator: another scheme */
    assert_null(mcphub_auth_token("abc", 0, NULL));
    /* custom header: a raw token, or the bearer form */
    t = mcphub_auth_token("abc", 1, &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    t = mcphub_auth_token("bearer abc", 1, &n);
    assert_non_null(t);
    assert_memory_equal(t, "abc", 3);
    assert_int_equal(n, 3);
    t = mcphub_auth_token("Bearerabc", 1, &n);
    assert_int_equal(n, 9);
    assert_null(mcphub_auth_token("  ", 1, &n));
    assert_null(mcphub_auth_token("Bearer", 1, &n));
}

/* ---- MCP routes ---- */

static void test_missing_and_invalid(void **state)
{
    mcphub_config *cfg = load("");
    const mcphub_bearer_key *k = (const mcphub_bearer_key *)1;

    (void)state;
    assert_true(mcphub_config_routing(cfg)->enable_bearer_auth);
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, &k), MCPHUB_AUTH_MISSING);
    assert_null(k);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "", &global_route, NULL), MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Basic tok-all", &global_route, NULL),
                     MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer ", &global_route, NULL),
                     MCPHUB_AUTH_MISSING);
    assert_int_equal(check(cfg, "nope", &global_route), MCPHUB_AUTH_INVALID);
    assert_int_equal(check(cfg, "tok-al", &global_route), MCPHUB_AUTH_INVALID);
    assert_int_equal(check(cfg, "tok-all2", &global_route), MCPHUB_AUTH_INVALID);
    assert_int_equal(check(cfg, "TOK-ALL", &global_route), MCPHUB_AUTH_INVALID);
    /* a disabled key never matches, even for an all-access route */
    assert_int_equal(check(cfg, "tok-off", &global_route), MCPHUB_AUTH_INVALID);
    /* on Authorization the raw token (no scheme) is not a bearer token */
    assert_int_equal(mcphub_auth_check_mcp(cfg, "tok-all", &global_route, NULL),
                     MCPHUB_AUTH_MISSING);
    /* fail closed on bad arguments */
    assert_int_equal(mcphub_auth_check_mcp(NULL, "Bearer tok-all", &global_route, NULL),
                     MCPHUB_AUTH_INVALID);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-all", NULL, NULL),
                     MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);
}

static void test_too_long_token(void **state)
{
    static char h[MCPHUB_AUTH_MAX_TOKEN + 64];
    mcphub_config *cfg = load("");

    (void)state;
    strcpy(h, "Bearer tok-all");
    memset(h + strlen(h), 'x', MCPHUB_AUTH_MAX_TOKEN);
    assert_int_equal(mcphub_auth_check_mcp(cfg, h, &global_route, NULL), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);
}

static void test_access_all(void **state)
{
    mcphub_config *cfg = load("");
    const mcphub_bearer_key *k = NULL;
    mcphub_auth_route s = server_route("c");
    route_buf rb;

    (void)state;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-all", &global_route, &k),
                     MCPHUB_AUTH_OK);
    assert_non_null(k);
    assert_string_equal(k->id, "k-all");
    assert_string_equal(k->name, "admin");
    assert_int_equal(check(cfg, "tok-all", group_route(cfg, "ab", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-all", group_route(cfg, "empty", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-all", &s), MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);
}

static void test_access_groups(void **state)
{
    mcphub_config *cfg = load("");
    mcphub_auth_route sa = server_route("a");
    const mcphub_bearer_key *k = NULL;
    route_buf rb;

    (void)state;
    /* listed by name */
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-grp-name",
                                           group_route(cfg, "ab", &rb), &k),
                     MCPHUB_AUTH_OK);
    assert_string_equal(k->id, "k-grp-name");
    /* the URL may name the group by its id: still the same group */
    assert_int_equal(check(cfg, "tok-grp-name", group_route(cfg, "g-ab", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-grp-name", group_route(cfg, "solo", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    /* listed by id */
    assert_int_equal(check(cfg, "tok-grp-id", group_route(cfg, "solo", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-grp-id", group_route(cfg, "ab", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    /* no global, no server routes, even a server inside an allowed group */
    k = (const mcphub_bearer_key *)1;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-grp-name", &global_route, &k),
                     MCPHUB_AUTH_FORBIDDEN);
    assert_null(k);
    assert_int_equal(check(cfg, "tok-grp-name", &sa), MCPHUB_AUTH_FORBIDDEN);
    mcphub_config_free(cfg);
}

static void test_access_servers_whole_group_rule(void **state)
{
    mcphub_config *cfg = load("");
    mcphub_auth_route sa = server_route("a"), sb = server_route("b");
    route_buf rb;

    (void)state;
    assert_int_equal(check(cfg, "tok-srv-a", &sa), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-srv-a", &sb), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-srv-a", &global_route), MCPHUB_AUTH_FORBIDDEN);
    /* GHSA-454m-4vm6-842f: a reaches group ab only if b is allowed too */
    assert_int_equal(check(cfg, "tok-srv-a", group_route(cfg, "ab", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-srv-a", group_route(cfg, "solo", &rb)), MCPHUB_AUTH_OK);
    /* every member allowed, in any order; the member's alias is irrelevant */
    assert_int_equal(check(cfg, "tok-srv-ab", group_route(cfg, "ab", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-srv-ab", group_route(cfg, "g-ab", &rb)), MCPHUB_AUTH_OK);
    /* an empty group opens nothing */
    assert_int_equal(check(cfg, "tok-srv-ab", group_route(cfg, "empty", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    mcphub_config_free(cfg);
}

static void test_access_custom(void **state)
{
    mcphub_config *cfg = load("");
    mcphub_auth_route sa = server_route("a"), sc = server_route("c");
    route_buf rb;

    (void)state;
    /* group by listing (name), not by its servers */
    assert_int_equal(check(cfg, "tok-cus", group_route(cfg, "ab", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-cus", group_route(cfg, "solo", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    /* servers only through allowedServers: group ab's member a is not enough */
    assert_int_equal(check(cfg, "tok-cus", &sc), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-cus", &sa), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-cus", &global_route), MCPHUB_AUTH_FORBIDDEN);
    /* group by containment */
    assert_int_equal(check(cfg, "tok-cus-srv", group_route(cfg, "solo", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-cus-srv", group_route(cfg, "ab", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-cus-srv", group_route(cfg, "empty", &rb)),
                     MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-cus-srv", &sa), MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);
}

static void test_route_kinds(void **state)
{
    mcphub_config *cfg = load("");
    mcphub_auth_route r;
    const char *members[] = {"a"};

    (void)state;
    /* nothing set: treated as global */
    memset(&r, 0, sizeof r);
    assert_int_equal(check(cfg, "tok-srv-a", &r), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-all", &r), MCPHUB_AUTH_OK);
    /* global wins over anything else set */
    r.global = 1;
    r.server = "a";
    assert_int_equal(check(cfg, "tok-srv-a", &r), MCPHUB_AUTH_FORBIDDEN);
    /* a group wins over a server of the same name */
    memset(&r, 0, sizeof r);
    r.group_name = "a";
    r.server = "a";
    assert_int_equal(check(cfg, "tok-srv-a", &r), MCPHUB_AUTH_FORBIDDEN);
    r.group_servers = members;
    r.group_servers_len = 1;
    assert_int_equal(check(cfg, "tok-srv-a", &r), MCPHUB_AUTH_OK);
    /* a group known by its id only */
    memset(&r, 0, sizeof r);
    r.group_id = "g-solo";
    assert_int_equal(check(cfg, "tok-grp-id", &r), MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);
}

static void test_first_matching_enabled_key_wins(void **state)
{
    /* Two keys share a token: the first enabled one decides. */
    mcphub_config *cfg = load_json(
        "{\"mcpServers\":{\"a\":{\"command\":\"x\"}},\"bearerKeys\":["
        "{\"id\":\"off\",\"token\":\"dup\",\"enabled\":false},"
        "{\"id\":\"narrow\",\"token\":\"dup\",\"accessType\":\"servers\",\"allowedServers\":[\"a\"]},"
        "{\"id\":\"wide\",\"token\":\"dup\"}]}");
    mcphub_auth_route sa = server_route("a");
    const mcphub_bearer_key *k = NULL;

    (void)state;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer dup", &sa, &k), MCPHUB_AUTH_OK);
    assert_string_equal(k->id, "narrow");
    assert_int_equal(check(cfg, "dup", &global_route), MCPHUB_AUTH_FORBIDDEN);
    mcphub_config_free(cfg);
}

static void test_custom_header_name(void **state)
{
    mcphub_config *cfg = load(",\"systemConfig\":{\"routing\":{\"bearerAuthHeaderName\":\"X-API-Key\"}}");
    const mcphub_bearer_key *k = NULL;

    (void)state;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "tok-all", &global_route, &k), MCPHUB_AUTH_OK);
    assert_string_equal(k->id, "k-all");
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-all", &global_route, NULL),
                     MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "  tok-all  ", &global_route, NULL),
                     MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "tok-none", &global_route, NULL),
                     MCPHUB_AUTH_INVALID);
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, NULL), MCPHUB_AUTH_MISSING);
    mcphub_config_free(cfg);
    /* "authorization" in another case is still the standard header */
    cfg = load(",\"systemConfig\":{\"routing\":{\"bearerAuthHeaderName\":\"authorization\"}}");
    assert_int_equal(mcphub_auth_check_mcp(cfg, "tok-all", &global_route, NULL),
                     MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_mcp(cfg, "bearer tok-all", &global_route, NULL),
                     MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);
}

static void test_auth_disabled(void **state)
{
    mcphub_config *cfg = load(",\"systemConfig\":{\"routing\":{\"enableBearerAuth\":false}}");
    mcphub_auth_route sb = server_route("b");
    const mcphub_bearer_key *k = (const mcphub_bearer_key *)1;

    (void)state;
    assert_false(mcphub_config_routing(cfg)->enable_bearer_auth);
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, &k), MCPHUB_AUTH_OK);
    assert_null(k);
    assert_int_equal(check(cfg, "garbage", &global_route), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-off", &global_route), MCPHUB_AUTH_OK);
    /* a valid key is still recognised for attribution ... */
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-srv-ab", &sb, &k), MCPHUB_AUTH_OK);
    assert_non_null(k);
    assert_string_equal(k->id, "k-srv-ab");
    /* ... but not when it does not fit the route */
    k = (const mcphub_bearer_key *)1;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer tok-srv-a", &sb, &k), MCPHUB_AUTH_OK);
    assert_null(k);
    mcphub_config_free(cfg);
    /* no keys at all: auth is off by default (config rule) */
    cfg = load_json("{}");
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, NULL), MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);
    /* forced on without keys: nothing can pass */
    cfg = load_json("{\"systemConfig\":{\"routing\":{\"enableBearerAuth\":true}}}");
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, NULL), MCPHUB_AUTH_MISSING);
    assert_int_equal(check(cfg, "x", &global_route), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);
}

static void test_legacy_key(void **state)
{
    mcphub_config *cfg = load_json(
        "{\"systemConfig\":{\"routing\":{\"bearerAuthKey\":\"legacy-secret\"}}}");
    const mcphub_bearer_key *k = NULL;

    (void)state;
    assert_int_equal(mcphub_auth_check_mcp(cfg, "Bearer legacy-secret", &global_route, &k),
                     MCPHUB_AUTH_OK);
    assert_true(k->legacy);
    assert_int_equal(check(cfg, "legacy", &global_route), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);
}

/* ---- /api ---- */

static void test_api_rules(void **state)
{
    mcphub_config *cfg = load(",\"cluster\":{\"token\":\"cluster-secret\"}");

    (void)state;
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer tok-all"), MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer cluster-secret"), MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_api(cfg, "bearer  cluster-secret "), MCPHUB_AUTH_OK);
    /* scoped keys are valid, but not for the management API */
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer tok-grp-name"), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer tok-cus"), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer tok-off"), MCPHUB_AUTH_INVALID);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer cluster-secre"), MCPHUB_AUTH_INVALID);
    assert_int_equal(mcphub_auth_check_api(cfg, "cluster-secret"), MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_api(cfg, NULL), MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_api(NULL, "Bearer tok-all"), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);

    /* skipAuth opens /api (not the MCP routes) */
    cfg = load(",\"systemConfig\":{\"routing\":{\"skipAuth\":true}}");
    assert_int_equal(mcphub_auth_check_api(cfg, NULL), MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_mcp(cfg, NULL, &global_route, NULL), MCPHUB_AUTH_MISSING);
    mcphub_config_free(cfg);

    /* nothing configured at all: open */
    cfg = load_json("{}");
    assert_int_equal(mcphub_auth_check_api(cfg, NULL), MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer whatever"), MCPHUB_AUTH_OK);
    mcphub_config_free(cfg);

    /* only the cluster token */
    cfg = load_json("{\"cluster\":{\"token\":\"ct\"}}");
    assert_int_equal(mcphub_auth_check_api(cfg, NULL), MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer ct"), MCPHUB_AUTH_OK);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer c"), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);

    /* a disabled key alone still closes /api: the operator meant auth */
    cfg = load_json("{\"bearerKeys\":[{\"token\":\"t\",\"enabled\":false}]}");
    assert_int_equal(mcphub_auth_check_api(cfg, NULL), MCPHUB_AUTH_MISSING);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer t"), MCPHUB_AUTH_INVALID);
    mcphub_config_free(cfg);
}

/* ---- responses ---- */

static void test_responses(void **state)
{
    char body[512], www[512];
    unsigned status = 0;

    (void)state;
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_MISSING, NULL, &status, body, sizeof body,
                                          www, sizeof www), 0);
    assert_int_equal(status, 401);
    assert_string_equal(body, "{\"error\":\"invalid_token\",\"error_description\":"
                              "\"No authorization provided\"}");
    assert_string_equal(www, "Bearer error=\"invalid_token\", "
                             "error_description=\"No authorization provided\"");

    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_INVALID,
                                          "https://hub.example/.well-known/oauth-protected-resource",
                                          &status, body, sizeof body, www, sizeof www), 0);
    assert_int_equal(status, 401);
    assert_string_equal(body, "{\"error\":\"invalid_token\",\"error_description\":"
                              "\"Invalid bearer token\",\"resource_metadata\":"
                              "\"https://hub.example/.well-known/oauth-protected-resource\"}");
    assert_string_equal(www, "Bearer error=\"invalid_token\", error_description=\"Invalid bearer "
                             "token\", resource_metadata=\"https://hub.example/.well-known/"
                             "oauth-protected-resource\"");

    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_FORBIDDEN, NULL, &status, body, sizeof body,
                                          www, sizeof www), 0);
    assert_int_equal(status, 403);
    assert_string_equal(body, "{\"error\":\"insufficient_scope\",\"error_description\":"
                              "\"The bearer key does not allow this route\"}");
    assert_string_equal(www, "Bearer error=\"insufficient_scope\", "
                             "error_description=\"The bearer key does not allow this route\"");

    /* quotes and backslashes in the URL are escaped for JSON and the header */
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_MISSING, "http://h/a\"b\\c", &status, body,
                                          sizeof body, www, sizeof www), 0);
    assert_non_null(strstr(body, ",\"resource_metadata\":\"http://h/a\\\"b\\\\c\"}"));
    assert_non_null(strstr(www, ", resource_metadata=\"http://h/a\\\"b\\\\c\""));
}

static void test_response_errors_change_nothing(void **state)
{
    char body[512], www[512], small[40];
    unsigned status = 7;
    size_t need;

    (void)state;
    memset(body, 'z', sizeof body);
    memset(www, 'z', sizeof www);
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_OK, NULL, &status, body, sizeof body, www,
                                          sizeof www), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_auth_response((mcphub_auth_result)9, NULL, &status, body, sizeof body,
                                          www, sizeof www), MCPHUB_E_INVAL);
    /* header splitting is refused */
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_MISSING, "http://h/\r\nSet-Cookie: x=1",
                                          &status, body, sizeof body, www, sizeof www),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_MISSING, NULL, NULL, body, sizeof body, www,
                                          sizeof www), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_MISSING, NULL, &status, small, sizeof small,
                                          www, sizeof www), MCPHUB_E_TOOBIG);
    assert_int_equal(status, 7);
    assert_int_equal(body[0], 'z');
    assert_int_equal(www[0], 'z');
    /* exactly enough room: length + NUL */
    need = strlen("{\"error\":\"invalid_token\",\"error_description\":\"Invalid bearer token\"}");
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_INVALID, NULL, &status, body, need, www,
                                          sizeof www), MCPHUB_E_TOOBIG);
    assert_int_equal(mcphub_auth_response(MCPHUB_AUTH_INVALID, NULL, &status, body, need + 1, www,
                                          sizeof www), 0);
    assert_int_equal(strlen(body), need);
}

/* ---- failing allocator: load settings, then decide ---- */

static int auth_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_config *cfg = NULL;
    char text[4096];
    mcphub_auth_route sa = server_route("a");
    route_buf rb;
    long before;
    int rc;

    (void)arg;
    snprintf(text, sizeof text, settings, "");
    rc = mcphub_config_parse(&cfg, text, strlen(text), &mem, NULL);
    if (rc != 0) {
        assert_true(rc == MCPHUB_E_NOMEM || rc == MCPHUB_E_PARSE);
        assert_null(cfg);
        return rc;
    }
    /* decisions allocate nothing: they cannot fail for lack of memory */
    before = fa->count;
    assert_int_equal(check(cfg, "tok-srv-a", &sa), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-srv-a", group_route(cfg, "ab", &rb)), MCPHUB_AUTH_FORBIDDEN);
    assert_int_equal(check(cfg, "tok-grp-id", group_route(cfg, "solo", &rb)), MCPHUB_AUTH_OK);
    assert_int_equal(check(cfg, "tok-off", &sa), MCPHUB_AUTH_INVALID);
    assert_int_equal(mcphub_auth_check_api(cfg, "Bearer tok-all"), MCPHUB_AUTH_OK);
    assert_int_equal(fa->count, before);
    mcphub_config_free(cfg);
    return 0;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(auth_scenario, NULL) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_parsing),
        cmocka_unit_test(test_missing_and_invalid),
        cmocka_unit_test(test_too_long_token),
        cmocka_unit_test(test_access_all),
        cmocka_unit_test(test_access_groups),
        cmocka_unit_test(test_access_servers_whole_group_rule),
        cmocka_unit_test(test_access_custom),
        cmocka_unit_test(test_route_kinds),
        cmocka_unit_test(test_first_matching_enabled_key_wins),
        cmocka_unit_test(test_custom_header_name),
        cmocka_unit_test(test_auth_disabled),
        cmocka_unit_test(test_legacy_key),
        cmocka_unit_test(test_api_rules),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_response_errors_change_nothing),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
