/* Unit tests: mcp_settings.json parsing, the cluster section, environment
 * and flag layers, validation, server add/replace/remove, ${VAR} expansion,
 * bounds, and allocation failures (ours and jansson's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <mcphub/config.h>

#include "fakes/fakes.h"

#define COMPAT_EXAMPLE "tests/unit/data/mcphub-compat-1.5.json"
#define CLUSTER_EXAMPLE "tests/unit/data/cluster-master.json"
#define FIXTURE_2025 "../shared/fixtures/mcphub/settings-2025-05.json"
#define FIXTURE_2026 "../shared/fixtures/mcphub/settings-2026.json"

/* ---- helpers ---- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static mcphub_config *parse_ok(const char *text)
{
    mcphub_config_error err;
    mcphub_config *cfg = NULL;
    int rc = mcphub_config_parse(&cfg, text, strlen(text), NULL, &err);

    if (rc != 0)
        fail_msg("parse failed (%d): %s", rc, err.text);
    return cfg;
}

static mcphub_config *parse_file(const char *path)
{
    char *text = read_text(path);
    mcphub_config *cfg;

    if (text == NULL)
        fail_msg("cannot read %s (tests run from the repository root)", path);
    cfg = parse_ok(text);
    free(text);
    return cfg;
}

static int load_text(mcphub_config *cfg, const char *text, mcphub_config_error *err)
{
    return mcphub_config_load(cfg, text, strlen(text), err);
}

/* Parse text expecting failure rc with exactly msg. */
static void parse_fails(const char *text, int rc, const char *msg)
{
    mcphub_config_error err;
    mcphub_config *cfg = (mcphub_config *)&err; /* must come back NULL */

    assert_int_equal(mcphub_config_parse(&cfg, text, strlen(text), NULL, &err), rc);
    assert_null(cfg);
    assert_string_equal(err.text, msg);
}

static int has_warning(const mcphub_config *cfg, const char *needle)
{
    size_t i;

    for (i = 0; i < mcphub_config_warning_count(cfg); i++)
        if (strstr(mcphub_config_warning_at(cfg, i), needle) != NULL)
            return 1;
    return 0;
}

/* ---- the fixtures and the compatibility example ---- */

static void check_fixture_servers(const mcphub_config *cfg)
{
    static const char *const names[] = {"amap", "playwright", "fetch", "slack"};
    const mcphub_server_def *s;
    size_t i;

    assert_int_equal(mcphub_config_server_count(cfg), 4);
    for (i = 0; i < 4; i++) {
        s = mcphub_config_server_at(cfg, i);
        assert_string_equal(s->name, names[i]); /* file order */
        assert_int_equal(s->type, MCPHUB_SERVER_STDIO);
        assert_int_equal(s->enabled, 1);
        assert_int_equal(s->replicas, 1);
        assert_int_equal(s->timeout_ms, 60000);
    }
    s = mcphub_config_server_find(cfg, "playwright");
    assert_string_equal(s->command, "npx");
    assert_int_equal(s->args_len, 2);
    assert_string_equal(s->args[1], "--headless");
    s = mcphub_config_server_find(cfg, "slack");
    assert_int_equal(s->env_len, 2);
    assert_string_equal(s->env[0].key, "SLACK_BOT_TOKEN");
    assert_string_equal(s->env[1].value, "your-team-id");
    assert_null(mcphub_config_server_at(cfg, 4));
    assert_int_equal(mcphub_config_validate(cfg, NULL), 0);
}

static void test_fixture_2025_05(void **state)
{
    char *text = read_text(FIXTURE_2025);
    mcphub_config *cfg;

    (void)state;
    if (text == NULL) {
        print_message("fixture %s missing; skipped\n", FIXTURE_2025);
        skip();
    }
    cfg = parse_ok(text);
    free(text);
    check_fixture_servers(cfg);
    /* no keys, no routing: MCP endpoints stay open */
    assert_int_equal(mcphub_config_key_count(cfg), 0);
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 0);
    assert_int_equal(mcphub_config_group_count(cfg), 0);
    assert_int_equal(mcphub_config_cluster(cfg)->enabled, 0);
    assert_int_equal(mcphub_config_warning_count(cfg), 0);
    mcphub_config_free(cfg);
}

static void test_fixture_2026_legacy_key(void **state)
{
    char *text = read_text(FIXTURE_2026);
    const mcphub_bearer_key *k;
    mcphub_config *cfg;

    (void)state;
    if (text == NULL) {
        print_message("fixture %s missing; skipped\n", FIXTURE_2026);
        skip();
    }
    cfg = parse_ok(text);
    free(text);
    check_fixture_servers(cfg);
    /* oauthServer, smartRouting, mcpRouter, install, oauthClients, users:
     * ignored; the legacy bearerAuthKey is a key with access all */
    assert_int_equal(mcphub_config_key_count(cfg), 1);
    k = mcphub_config_key_at(cfg, 0);
    assert_string_equal(k->token, "t3QTQVcF4HWtF7v3IOSygxlV0RgSGuwk");
    assert_int_equal(k->access, MCPHUB_KEY_ACCESS_ALL);
    assert_int_equal(k->enabled, 1);
    assert_int_equal(k->legacy, 1);
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 1);
    assert_int_equal(mcphub_config_routing(cfg)->skip_auth, 0);
    mcphub_config_free(cfg);
}

static void test_compat_example(void **state)
{
    mcphub_config *cfg = parse_file(COMPAT_EXAMPLE);
    const mcphub_server_def *s;
    const mcphub_group_def *g;
    const mcphub_group_member *m;
    const mcphub_bearer_key *k;
    const mcphub_routing_settings *r;
    const mcphub_tool_override *t;

    (void)state;
    assert_int_equal(mcphub_config_server_count(cfg), 6);
    /* types: inferred from command, or explicit */
    assert_int_equal(mcphub_config_server_find(cfg, "fetch")->type, MCPHUB_SERVER_STDIO);
    assert_int_equal(mcphub_config_server_find(cfg, "amap")->type, MCPHUB_SERVER_STDIO);
    assert_int_equal(mcphub_config_server_find(cfg, "playwright")->type,
                     MCPHUB_SERVER_STREAMABLE_HTTP);
    assert_int_equal(mcphub_config_server_find(cfg, "remote-sse")->type, MCPHUB_SERVER_SSE);
    assert_int_equal(mcphub_config_server_find(cfg, "jira")->type, MCPHUB_SERVER_STDIO);
    s = mcphub_config_server_find(cfg, "petstore");
    assert_int_equal(s->type, MCPHUB_SERVER_OPENAPI);
    assert_string_equal(s->openapi_url, "https://petstore3.swagger.io/api/v3/openapi.json");
    assert_string_equal(mcphub_server_type_name(s->type), "openapi");

    s = mcphub_config_server_find(cfg, "amap");
    assert_int_equal(s->timeout_ms, 120000);
    assert_string_equal(s->env[0].value, "${AMAP_API_KEY}"); /* kept as written */
    assert_int_equal(s->tools_len, 2);
    assert_string_equal(s->tools[0].name, "maps_weather");
    assert_string_equal(s->tools[0].description, "Weather by city name");
    assert_null(s->tools[1].description);
    /* overrides by bare and by prefixed name */
    t = mcphub_config_tool_find(cfg, "amap", "maps_weather");
    assert_non_null(t);
    assert_int_equal(t->enabled, 1);
    t = mcphub_config_tool_find(cfg, "amap", "maps_geo");
    assert_non_null(t);
    assert_string_equal(t->name, "amap-maps_geo");
    assert_int_equal(t->enabled, 0);
    assert_null(mcphub_config_tool_find(cfg, "amap", "maps_route"));
    assert_null(mcphub_config_tool_find(cfg, "nope", "maps_weather"));

    s = mcphub_config_server_find(cfg, "remote-sse");
    assert_string_equal(s->url, "https://example.com/sse");
    assert_int_equal(s->headers_len, 1);
    assert_string_equal(s->headers[0].key, "Authorization");
    assert_string_equal(s->headers[0].value, "Bearer ${REMOTE_TOKEN}");

    /* groups: plain member, member with alias and a tool selection */
    assert_int_equal(mcphub_config_group_count(cfg), 1);
    g = mcphub_config_group_find(cfg, "web");
    assert_non_null(g);
    assert_ptr_equal(mcphub_config_group_find(cfg, "8f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), g);
    assert_null(mcphub_config_group_find(cfg, "nope"));
    assert_string_equal(g->description, "Web tools");
    assert_int_equal(g->members_len, 2);
    m = &g->members[0];
    assert_string_equal(m->server, "fetch");
    assert_null(m->alias);
    assert_int_equal(m->tools.all, 1);
    m = &g->members[1];
    assert_string_equal(m->server, "amap");
    assert_string_equal(m->alias, "maps");
    assert_int_equal(m->tools.all, 0);
    assert_int_equal(m->tools.len, 1);
    assert_string_equal(m->tools.names[0], "maps_weather");
    assert_int_equal(m->prompts.all, 1);
    assert_int_equal(m->resources.all, 1);

    /* keys */
    assert_int_equal(mcphub_config_key_count(cfg), 2);
    k = mcphub_config_key_at(cfg, 1);
    assert_string_equal(k->id, "k2");
    assert_string_equal(k->name, "web-only");
    assert_int_equal(k->access, MCPHUB_KEY_ACCESS_GROUPS);
    assert_int_equal(k->allowed_groups_len, 1);
    assert_string_equal(k->allowed_groups[0], "web");
    assert_int_equal(k->legacy, 0);
    assert_null(mcphub_config_key_at(cfg, 2));

    /* routing */
    r = mcphub_config_routing(cfg);
    assert_int_equal(r->enable_global_route, 1);
    assert_int_equal(r->enable_group_name_route, 1);
    assert_int_equal(r->enable_bearer_auth, 1);
    assert_string_equal(r->bearer_auth_header_name, "Authorization");
    assert_int_equal(r->json_body_limit, 1048576);
    assert_string_equal(r->name_separator, "-");
    assert_int_equal(mcphub_config_warning_count(cfg), 0);
    mcphub_config_free(cfg);
}

static void test_type_inference_and_requirements(void **state)
{
    mcphub_config *cfg;

    (void)state;
    cfg = parse_ok("{\"mcpServers\":{"
                   "\"a\":{\"url\":\"http://x/sse\"},"
                   "\"b\":{\"openapi\":{\"schema\":{\"openapi\":\"3.1.0\"}}},"
                   "\"c\":{\"type\":\"streamable-http\",\"url\":\"http://x/mcp\",\"command\":\"x\"},"
                   "\"d\":{\"url\":\"http://x/sse\",\"command\":\"also\"},"
                   "\"e\":{\"command\":\"x\",\"timeout\":5000},"
                   "\"f\":{\"command\":\"x\",\"timeout\":5000,\"options\":{\"timeout\":7000}}}}");
    assert_int_equal(mcphub_config_server_find(cfg, "a")->type, MCPHUB_SERVER_SSE);
    assert_int_equal(mcphub_config_server_find(cfg, "b")->type, MCPHUB_SERVER_OPENAPI);
    assert_null(mcphub_config_server_find(cfg, "b")->openapi_url);
    assert_int_equal(mcphub_config_server_find(cfg, "c")->type, MCPHUB_SERVER_STREAMABLE_HTTP);
    assert_int_equal(mcphub_config_server_find(cfg, "d")->type, MCPHUB_SERVER_SSE);
    assert_int_equal(mcphub_config_server_find(cfg, "e")->timeout_ms, 5000); /* legacy */
    assert_int_equal(mcphub_config_server_find(cfg, "f")->timeout_ms, 7000);
    mcphub_config_free(cfg);

    parse_fails("{\"mcpServers\":{\"x\":{\"enabled\":true}}}", MCPHUB_E_INVAL,
                "mcpServers.x needs a command, a url or an openapi url");
    parse_fails("{\"mcpServers\":{\"x\":{\"type\":\"stdio\",\"url\":\"http://x\"}}}",
                MCPHUB_E_INVAL, "mcpServers.x.command is required for a stdio server");
    parse_fails("{\"mcpServers\":{\"x\":{\"type\":\"sse\",\"command\":\"x\"}}}", MCPHUB_E_INVAL,
                "mcpServers.x.url is required for a sse server");
    parse_fails("{\"mcpServers\":{\"x\":{\"type\":\"grpc\",\"command\":\"x\"}}}", MCPHUB_E_INVAL,
                "mcpServers.x.type (\"grpc\") must be one of stdio, sse, streamable-http, openapi");
    parse_fails("{\"mcpServers\":{\"\":{\"command\":\"x\"}}}", MCPHUB_E_INVAL,
                "mcpServers: a server name must not be empty");
}

static void test_server_cluster_fields_and_name_warning(void **state)
{
    mcphub_config *cfg = parse_file(CLUSTER_EXAMPLE);
    const mcphub_server_def *s = mcphub_config_server_find(cfg, "fetch");

    (void)state;
    assert_int_equal(s->replicas, 3);
    assert_int_equal(s->node_ids_len, 2);
    assert_string_equal(s->node_ids[1], "node-b");
    assert_int_equal(s->exclude_node_ids_len, 1);
    assert_string_equal(s->exclude_node_ids[0], "node-gpu");
    assert_int_equal(s->strategy, MCPHUB_LB_ROUND_ROBIN);
    /* no replicas given: cluster.defaultReplicas, and it follows later layers */
    s = mcphub_config_server_find(cfg, "time");
    assert_int_equal(s->replicas, 2);
    assert_int_equal(s->strategy, 0);
    assert_int_equal(mcphub_config_set(cfg, "cluster.defaultReplicas", "4", NULL), 0);
    assert_int_equal(mcphub_config_server_find(cfg, "time")->replicas, 4);
    assert_int_equal(mcphub_config_server_find(cfg, "fetch")->replicas, 3);
    mcphub_config_free(cfg);

    /* MCPHub warns about, but accepts, names outside [A-Za-z0-9._-] */
    cfg = parse_ok("{\"mcpServers\":{\"my server\":{\"command\":\"x\"},\"ok.name_1-2\":"
                   "{\"command\":\"y\"}}}");
    assert_int_equal(mcphub_config_server_count(cfg), 2);
    assert_int_equal(mcphub_config_warning_count(cfg), 1);
    assert_true(has_warning(cfg, "\"my server\""));
    mcphub_config_free(cfg);
    parse_fails("{\"mcpServers\":{\"x\":{\"command\":\"x\",\"strategy\":\"fastest\"}}}",
                MCPHUB_E_INVAL,
                "mcpServers.x.strategy (\"fastest\") must be one of round-robin, "
                "least-connections, weighted, random");
    parse_fails("{\"mcpServers\":{\"x\":{\"command\":\"x\",\"affinity\":{\"nodeIds\":[1]}}}}",
                MCPHUB_E_INVAL, "mcpServers.x.affinity.nodeIds[0] (1) must be a string");
}

static void test_groups_forms_and_dropped_members(void **state)
{
    mcphub_config *cfg;
    const mcphub_group_def *g;

    (void)state;
    /* the object-map form of MCPHub's docs, both shapes */
    cfg = parse_ok("{\"mcpServers\":{\"a\":{\"command\":\"x\"},\"b\":{\"command\":\"y\"}},"
                   "\"groups\":{\"dev\":{\"description\":\"d\",\"servers\":[\"a\","
                   "{\"name\":\"b\",\"tools\":\"all\",\"prompts\":[\"p\"]}]},"
                   "\"ops\":[\"b\",\"ghost\",\"b\"]}}");
    assert_int_equal(mcphub_config_group_count(cfg), 2);
    g = mcphub_config_group_at(cfg, 0);
    assert_string_equal(g->name, "dev");
    assert_string_equal(g->id, "dev"); /* no id: the name */
    assert_string_equal(g->description, "d");
    assert_int_equal(g->members_len, 2);
    assert_int_equal(g->members[1].tools.all, 1);
    assert_int_equal(g->members[1].prompts.all, 0);
    assert_string_equal(g->members[1].prompts.names[0], "p");
    g = mcphub_config_group_find(cfg, "ops");
    assert_null(g->description);
    /* unknown server and a second "b" dropped, with warnings */
    assert_int_equal(g->members_len, 1);
    assert_string_equal(g->members[0].server, "b");
    assert_true(has_warning(cfg, "groups.ops.servers[1]: unknown server \"ghost\" dropped"));
    assert_true(has_warning(cfg, "groups.ops.servers[2]: \"b\" is already exposed"));
    mcphub_config_free(cfg);

    parse_fails("{\"groups\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", MCPHUB_E_INVAL,
                "groups[1].name (\"a\") is used by another group");
    parse_fails("{\"groups\":[{\"id\":\"1\"}]}", MCPHUB_E_INVAL, "groups[0].name is required");
    parse_fails("{\"mcpServers\":{\"a\":{\"command\":\"x\"}},\"groups\":[{\"name\":\"g\","
                "\"servers\":[{\"name\":\"a\",\"tools\":\"some\"}]}]}",
                MCPHUB_E_INVAL,
                "groups[0].servers[0].tools (\"some\") must be \"all\" or an array of strings");
    parse_fails("{\"groups\":5}", MCPHUB_E_INVAL, "groups (5) must be an array");
}

static void test_bearer_keys_and_auth_default(void **state)
{
    mcphub_config *cfg;
    const mcphub_bearer_key *k;

    (void)state;
    /* enableBearerAuth not given: on when an enabled key exists */
    cfg = parse_ok("{\"bearerKeys\":[{\"token\":\"t1\",\"enabled\":false}]}");
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 0);
    k = mcphub_config_key_at(cfg, 0);
    assert_string_equal(k->id, "key1");
    assert_string_equal(k->name, "key1");
    assert_int_equal(k->access, MCPHUB_KEY_ACCESS_ALL);
    mcphub_config_free(cfg);
    cfg = parse_ok("{\"bearerKeys\":[{\"id\":\"a\",\"token\":\"t1\",\"accessType\":\"servers\","
                   "\"allowedServers\":[\"fetch\"]}]}");
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 1);
    assert_int_equal(mcphub_config_key_at(cfg, 0)->access, MCPHUB_KEY_ACCESS_SERVERS);
    assert_string_equal(mcphub_config_key_at(cfg, 0)->allowed_servers[0], "fetch");
    /* a later layer can still turn it off */
    assert_int_equal(mcphub_config_set(cfg, "systemConfig.routing.enableBearerAuth", "false",
                                       NULL), 0);
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 0);
    mcphub_config_free(cfg);
    /* explicit false wins over keys; an already migrated legacy key is not
     * added twice */
    cfg = parse_ok("{\"bearerKeys\":[{\"token\":\"same\"}],\"systemConfig\":{\"routing\":"
                   "{\"enableBearerAuth\":false,\"bearerAuthKey\":\"same\"}}}");
    assert_int_equal(mcphub_config_routing(cfg)->enable_bearer_auth, 0);
    assert_int_equal(mcphub_config_key_count(cfg), 1);
    assert_int_equal(mcphub_config_key_at(cfg, 0)->legacy, 0);
    mcphub_config_free(cfg);
    /* an empty legacy key is no key */
    cfg = parse_ok("{\"systemConfig\":{\"routing\":{\"bearerAuthKey\":\"\"}}}");
    assert_int_equal(mcphub_config_key_count(cfg), 0);
    mcphub_config_free(cfg);

    /* messages never quote a token */
    parse_fails("{\"bearerKeys\":[{\"id\":\"a\"}]}", MCPHUB_E_INVAL,
                "bearerKeys[0].token must be a non-empty string");
    parse_fails("{\"bearerKeys\":[{\"token\":\"secret\",\"accessType\":\"root\"}]}",
                MCPHUB_E_INVAL,
                "bearerKeys[0].accessType (\"root\") must be one of all, groups, servers, custom");
    parse_fails("{\"cluster\":{\"token\":12345}}", MCPHUB_E_INVAL,
                "cluster.token must be a string");
}

static void test_routing_values_and_body_limit(void **state)
{
    static const struct { const char *text; uint64_t bytes; } sizes[] = {
        {"100kb", 102400}, {"2mb", 2097152}, {"1gb", 1073741824}, {"512", 512},
        {"1.5mb", 1572864}, {"1MB", 1048576}, {"10 kb", 10240}, {"64b", 64},
    };
    mcphub_config_error err;
    mcphub_config *cfg;
    const mcphub_routing_settings *r;
    size_t i;

    (void)state;
    cfg = parse_ok("{\"systemConfig\":{\"nameSeparator\":\"__\",\"routing\":{"
                   "\"enableGlobalRoute\":false,\"enableGroupNameRoute\":false,"
                   "\"bearerAuthHeaderName\":\"X-Api-Key\",\"jsonBodyLimit\":2048,"
                   "\"skipAuth\":true}}}");
    r = mcphub_config_routing(cfg);
    assert_int_equal(r->enable_global_route, 0);
    assert_int_equal(r->enable_group_name_route, 0);
    assert_string_equal(r->bearer_auth_header_name, "X-Api-Key");
    assert_int_equal(r->json_body_limit, 2048);
    assert_int_equal(r->skip_auth, 1);
    assert_string_equal(r->name_separator, "__");
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(mcphub_config_set(cfg, "systemConfig.routing.jsonBodyLimit",
                                           sizes[i].text, &err), 0);
        assert_int_equal(mcphub_config_routing(cfg)->json_body_limit, sizes[i].bytes);
    }
    assert_int_equal(mcphub_config_set(cfg, "systemConfig.routing.jsonBodyLimit", "lots", &err),
                     MCPHUB_E_INVAL);
    assert_string_equal(err.text, "systemConfig.routing.jsonBodyLimit (\"lots\") must be a size "
                                  "such as \"1mb\", \"100kb\" or a number of bytes");
    assert_int_equal(mcphub_config_routing(cfg)->json_body_limit, 64); /* unchanged */
    assert_int_equal(mcphub_config_set(cfg, "systemConfig.nameSeparator", "", &err),
                     MCPHUB_E_INVAL);
    assert_string_equal(err.text, "systemConfig.nameSeparator (\"\") must be a non-empty string");
    /* the separator feeds prefixed tool overrides */
    mcphub_config_free(cfg);

    /* defaults */
    cfg = parse_ok("{}");
    r = mcphub_config_routing(cfg);
    assert_int_equal(r->enable_global_route, 1);
    assert_int_equal(r->enable_group_name_route, 1);
    assert_int_equal(r->enable_bearer_auth, 0);
    assert_string_equal(r->bearer_auth_header_name, "Authorization");
    assert_int_equal(r->json_body_limit, 1048576);
    assert_int_equal(r->skip_auth, 0);
    assert_string_equal(r->name_separator, "-");
    assert_int_equal(mcphub_config_server_count(cfg), 0);
    mcphub_config_free(cfg);
    parse_fails("{\"systemConfig\":{\"routing\":{\"jsonBodyLimit\":\"1 parsec\"}}}",
                MCPHUB_E_INVAL,
                "systemConfig.routing.jsonBodyLimit (\"1 parsec\") must be a size such as "
                "\"1mb\", \"100kb\" or a number of bytes");
}

/* ---- the cluster section ---- */

static void check_cluster_example(const mcphub_cluster_settings *cl)
{
    assert_int_equal(cl->enabled, 1);
    assert_int_equal(cl->mode, MCPHUB_ROLE_MASTER);
    assert_string_equal(cl->node_id, "master-1");
    assert_string_equal(cl->token, "change-me-shared-secret");
    assert_int_equal(cl->default_replicas, 2);
    assert_string_equal(cl->master.host, "127.0.0.1");
    assert_int_equal(cl->master.port, 3100);
    assert_int_equal(cl->master.heartbeat_interval_ms, 4000);
    assert_int_equal(cl->master.heartbeat_timeout_ms, 12000);
    assert_int_equal(cl->master.unhealthy_threshold, 4);
    assert_int_equal(cl->master.healthy_threshold, 3);
    assert_int_equal(cl->master.health_check_interval_ms, 8000);
    assert_int_equal(cl->master.health_check_timeout_ms, 2000);
    assert_int_equal(cl->master.session_ttl_ms, 600000);
    assert_int_equal(cl->master.reconcile_interval_ms, 1000);
    assert_string_equal(cl->master.state_dir, "/var/lib/mcphub");
    assert_string_equal(cl->worker.master_url, "http://127.0.0.1:3100");
    assert_string_equal(cl->worker.advertise_host, "10.0.0.5");
    assert_int_equal(cl->worker.advertise_port, 3200);
    assert_int_equal(cl->worker.max_servers, 10);
    assert_int_equal(cl->worker.weight, 5);
    assert_int_equal(cl->lb_strategy, MCPHUB_LB_WEIGHTED);
    assert_string_equal(cl->tls.cert, "/etc/mcphub/cert.pem");
    assert_string_equal(cl->tls.key, "/etc/mcphub/key.pem");
    assert_string_equal(cl->tls.ca, "/etc/mcphub/ca.pem");
}

static void test_cluster_section_both_places(void **state)
{
    char *text = read_text(CLUSTER_EXAMPLE);
    json_t *root, *sys;
    char *moved;
    mcphub_config *cfg;
    const mcphub_cluster_settings *cl;

    (void)state;
    assert_non_null(text);
    cfg = parse_ok(text);
    check_cluster_example(mcphub_config_cluster(cfg));
    assert_int_equal(mcphub_config_validate(cfg, NULL), 0);
    assert_int_equal(mcphub_config_warning_count(cfg), 0);
    mcphub_config_free(cfg);

    /* the same section under systemConfig.cluster */
    root = json_loads(text, 0, NULL);
    sys = json_object_get(root, "systemConfig");
    json_object_set(sys, "cluster", json_object_get(root, "cluster"));
    json_object_del(root, "cluster");
    moved = json_dumps(root, 0);
    cfg = parse_ok(moved);
    check_cluster_example(mcphub_config_cluster(cfg));
    mcphub_config_free(cfg);
    free(moved);
    json_decref(root);
    free(text);

    /* both: top level wins; defaults elsewhere */
    cfg = parse_ok("{\"cluster\":{\"nodeId\":\"top\"},"
                   "\"systemConfig\":{\"cluster\":{\"nodeId\":\"inner\",\"enabled\":true}}}");
    cl = mcphub_config_cluster(cfg);
    assert_string_equal(cl->node_id, "top");
    assert_int_equal(cl->enabled, 0);
    assert_true(has_warning(cfg, "systemConfig.cluster ignored"));
    mcphub_config_free(cfg);

    /* defaults */
    cfg = parse_ok("{}");
    cl = mcphub_config_cluster(cfg);
    assert_int_equal(cl->enabled, 0);
    assert_int_equal(cl->mode, MCPHUB_ROLE_MASTER);
    assert_string_equal(cl->node_id, "");
    assert_string_equal(cl->token, "");
    assert_int_equal(cl->default_replicas, 1);
    assert_string_equal(cl->master.host, "0.0.0.0");
    assert_int_equal(cl->master.port, 3000);
    assert_int_equal(cl->master.heartbeat_interval_ms, 5000);
    assert_int_equal(cl->master.heartbeat_timeout_ms, 15000);
    assert_int_equal(cl->master.unhealthy_threshold, 3);
    assert_int_equal(cl->master.healthy_threshold, 2);
    assert_int_equal(cl->master.health_check_interval_ms, 10000);
    assert_int_equal(cl->master.health_check_timeout_ms, 3000);
    assert_int_equal(cl->master.session_ttl_ms, 1800000);
    assert_int_equal(cl->master.reconcile_interval_ms, 2000);
    assert_int_equal(cl->worker.advertise_port, 0);
    assert_int_equal(cl->worker.max_servers, 0);
    assert_int_equal(cl->worker.weight, 1);
    assert_int_equal(cl->lb_strategy, MCPHUB_LB_LEAST_CONNECTIONS);
    assert_string_equal(cl->tls.cert, "");
    assert_int_equal(mcphub_config_validate(cfg, NULL), 0);
    mcphub_config_free(cfg);
}

static void test_cluster_shorthand_aliases_unknown(void **state)
{
    mcphub_config *cfg;
    const mcphub_cluster_settings *cl;

    (void)state;
    cfg = parse_ok("{\"cluster\":{\"mode\":\"node\",\"heartbeatInterval\":1000,"
                   "\"heartbeatTimeout\":9000,\"master\":{\"heartbeatTimeout\":7000,"
                   "\"heartbeatIntrval\":3},\"colour\":\"blue\"}}");
    cl = mcphub_config_cluster(cfg);
    assert_int_equal(cl->mode, MCPHUB_ROLE_WORKER);
    assert_int_equal(cl->master.heartbeat_interval_ms, 1000); /* shorthand */
    assert_int_equal(cl->master.heartbeat_timeout_ms, 7000);  /* full path wins */
    assert_true(has_warning(cfg, "unknown setting cluster.master.heartbeatIntrval ignored"));
    assert_true(has_warning(cfg, "unknown setting cluster.colour ignored"));
    assert_int_equal(mcphub_config_warning_count(cfg), 2);
    assert_int_equal(mcphub_config_set(cfg, "cluster.mode", "coordinator", NULL), 0);
    assert_int_equal(cl->mode, MCPHUB_ROLE_MASTER);
    mcphub_config_free(cfg);

    parse_fails("{\"cluster\":{\"master\":5}}", MCPHUB_E_INVAL,
                "cluster.master (5) must be an object");
    parse_fails("{\"systemConfig\":{\"cluster\":{\"master\":{\"heartbeatInterval\":0}}}}",
                MCPHUB_E_INVAL,
                "systemConfig.cluster.master.heartbeatInterval (0) must be a positive integer "
                "(milliseconds)");
    parse_fails("{\"cluster\":{\"mode\":\"boss\"}}", MCPHUB_E_INVAL,
                "cluster.mode (\"boss\") must be one of master, worker");
    parse_fails("{\"cluster\":{\"enabled\":\"yes\"}}", MCPHUB_E_INVAL,
                "cluster.enabled (\"yes\") must be true or false");
    parse_fails("{\"cluster\":{\"worker\":{\"weight\":0}}}", MCPHUB_E_INVAL,
                "cluster.worker.weight (0) must be a positive integer");
    parse_fails("{\"cluster\":{\"loadBalancing\":{\"strategy\":\"fastest\"}}}", MCPHUB_E_INVAL,
                "cluster.loadBalancing.strategy (\"fastest\") must be one of round-robin, "
                "least-connections, weighted, random");
    parse_fails("{\"cluster\":[]}", MCPHUB_E_INVAL, "cluster ([...]) must be an object");
}

/* ---- layers ---- */

static void test_env_overrides_file(void **state)
{
    const char *const envp[] = {
        "HOME=/root",
        "CLUSTER_HEARTBEAT_INTERVAL=6000",
        "CLUSTER_HEARTBEAT_INTERVAL=1", /* getenv sees the first */
        "CLUSTER_MODE=master",
        "CLUSTER_ROLE=worker",          /* alias loses to CLUSTER_MODE */
        "CLUSTER_ENABLED=yes",
        "CLUSTER_NODE_ID=",             /* empty: not set */
        "CLUSTER_TOKEN=s3cret",
        "PORT=3101",
        "CLUSTER_MASTER_URL=http://m:3000",
        "CLUSTER_ADVERTISE_HOST=w1.local",
        "CLUSTER_ADVERTISE_PORT=4000",
        "CLUSTER_MAX_SERVERS=7",
        "CLUSTER_WEIGHT=3",
        "CLUSTER_LB_STRATEGY=random",
        "CLUSTER_HEARTBEAT_TIMEOUT=20000",
        "CLUSTER_UNHEALTHY_THRESHOLD=5",
        "CLUSTER_HEALTHY_THRESHOLD=4",
        "CLUSTER_HEALTH_CHECK_INTERVAL=0",
        "CLUSTER_HEALTH_CHECK_TIMEOUT=1500",
        "CLUSTER_SESSION_TTL=60000",
        "CLUSTER_RECONCILE_INTERVAL=500",
        "CLUSTER_STATE_DIR=/tmp/state",
        "CLUSTER_TLS_CERT=/c.pem",
        "CLUSTER_TLS_KEY=/k.pem",
        "CLUSTER_TLS_CA=/ca.pem",
        "CLUSTER_DEFAULT_REPLICAS=2",
        "CLUSTER_SOMETHING_ELSE=1",
        NULL,
    };
    mcphub_config_error err;
    mcphub_config *cfg;
    const mcphub_cluster_settings *cl;

    (void)state;
    cfg = parse_ok("{\"mcpServers\":{\"a\":{\"command\":\"x\"}},\"cluster\":{\"nodeId\":\"n1\","
                   "\"master\":{\"heartbeatInterval\":4000}}}");
    cl = mcphub_config_cluster(cfg);
    assert_int_equal(cl->master.heartbeat_interval_ms, 4000);
    assert_int_equal(mcphub_config_apply_env(cfg, envp, &err), 0);
    assert_int_equal(cl->master.heartbeat_interval_ms, 6000);
    assert_int_equal(cl->mode, MCPHUB_ROLE_MASTER);
    assert_int_equal(cl->enabled, 1);
    assert_string_equal(cl->node_id, "n1");
    assert_string_equal(cl->token, "s3cret");
    assert_int_equal(cl->master.port, 3101);
    assert_string_equal(cl->worker.master_url, "http://m:3000");
    assert_string_equal(cl->worker.advertise_host, "w1.local");
    assert_int_equal(cl->worker.advertise_port, 4000);
    assert_int_equal(cl->worker.max_servers, 7);
    assert_int_equal(cl->worker.weight, 3);
    assert_int_equal(cl->lb_strategy, MCPHUB_LB_RANDOM);
    assert_int_equal(cl->master.heartbeat_timeout_ms, 20000);
    assert_int_equal(cl->master.unhealthy_threshold, 5);
    assert_int_equal(cl->master.healthy_threshold, 4);
    assert_int_equal(cl->master.health_check_interval_ms, 0);
    assert_int_equal(cl->master.health_check_timeout_ms, 1500);
    assert_int_equal(cl->master.session_ttl_ms, 60000);
    assert_int_equal(cl->master.reconcile_interval_ms, 500);
    assert_string_equal(cl->master.state_dir, "/tmp/state");
    assert_string_equal(cl->tls.cert, "/c.pem");
    assert_string_equal(cl->tls.key, "/k.pem");
    assert_string_equal(cl->tls.ca, "/ca.pem");
    assert_int_equal(mcphub_config_server_find(cfg, "a")->replicas, 2);
    assert_int_equal(mcphub_config_validate(cfg, &err), 0);
    /* CLUSTER_ROLE alone works */
    {
        const char *const role[] = {"CLUSTER_ROLE=worker", NULL};

        assert_int_equal(mcphub_config_apply_env(cfg, role, &err), 0);
        assert_int_equal(cl->mode, MCPHUB_ROLE_WORKER);
    }
    assert_int_equal(mcphub_config_apply_env(cfg, NULL, &err), 0);
    mcphub_config_free(cfg);
}

static void test_env_error_changes_nothing(void **state)
{
    const char *const envp[] = {
        "CLUSTER_TOKEN=new-token",
        "CLUSTER_HEARTBEAT_INTERVAL=abc",
        NULL,
    };
    const char *const secret[] = {"CLUSTER_WEIGHT=0", NULL};
    mcphub_config_error err;
    mcphub_config *cfg;
    const mcphub_cluster_settings *cl;

    (void)state;
    cfg = parse_ok("{\"cluster\":{\"token\":\"old-token\"}}");
    cl = mcphub_config_cluster(cfg);
    assert_int_equal(mcphub_config_apply_env(cfg, envp, &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text,
                        "CLUSTER_HEARTBEAT_INTERVAL (\"abc\") must be a positive integer "
                        "(milliseconds)");
    assert_string_equal(cl->token, "old-token");
    assert_int_equal(cl->master.heartbeat_interval_ms, 5000);
    assert_int_equal(mcphub_config_apply_env(cfg, secret, &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "CLUSTER_WEIGHT (\"0\") must be a positive integer");
    {
        const char *const big[] = {"CLUSTER_HEARTBEAT_TIMEOUT=99999999999", NULL};

        assert_int_equal(mcphub_config_apply_env(cfg, big, &err), MCPHUB_E_INVAL);
        assert_string_equal(err.text, "CLUSTER_HEARTBEAT_TIMEOUT (\"99999999999\") must be at "
                                      "most 4294967295");
    }
    mcphub_config_free(cfg);
}

static void test_set_overrides_env(void **state)
{
    const char *const envp[] = {"PORT=4000", "CLUSTER_NODE_ID=from-env", NULL};
    mcphub_config_error err;
    mcphub_config *cfg;
    const mcphub_cluster_settings *cl;

    (void)state;
    cfg = parse_ok("{\"cluster\":{\"master\":{\"port\":3500}}}");
    cl = mcphub_config_cluster(cfg);
    assert_int_equal(mcphub_config_apply_env(cfg, envp, &err), 0);
    assert_int_equal(cl->master.port, 4000);
    assert_int_equal(mcphub_config_set(cfg, "port", "4100", &err), 0);
    assert_int_equal(cl->master.port, 4100);
    assert_int_equal(mcphub_config_set(cfg, "cluster.nodeId", "from-flag", &err), 0);
    assert_string_equal(cl->node_id, "from-flag");
    assert_int_equal(mcphub_config_set(cfg, "cluster.master.heartbeatInterval", "2500", &err), 0);
    assert_int_equal(cl->master.heartbeat_interval_ms, 2500);
    assert_int_equal(mcphub_config_set(cfg, "cluster.heartbeatTimeout", "8000", &err), 0);
    assert_int_equal(cl->master.heartbeat_timeout_ms, 8000);
    assert_int_equal(mcphub_config_set(cfg, "cluster.worker.masterUrl", "https://m", &err), 0);
    assert_string_equal(cl->worker.master_url, "https://m");
    assert_int_equal(mcphub_config_set(cfg, "cluster.token", "tok", &err), 0);
    assert_string_equal(cl->token, "tok");
    assert_int_equal(mcphub_config_set(cfg, "cluster.enabled", "ON", &err), 0);
    assert_int_equal(cl->enabled, 1);
    assert_int_equal(mcphub_config_set(cfg, "cluster.enabled", "0", &err), 0);
    assert_int_equal(cl->enabled, 0);

    assert_int_equal(mcphub_config_set(cfg, "cluster.master.colour", "1", &err),
                     MCPHUB_E_NOTFOUND);
    assert_string_equal(err.text, "unknown setting \"cluster.master.colour\"");
    assert_int_equal(mcphub_config_set(cfg, "port", "-1", &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "port (\"-1\") must be a non-negative integer");
    assert_int_equal(mcphub_config_set(cfg, "cluster.enabled", "maybe", &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "cluster.enabled (\"maybe\") must be true or false");
    assert_int_equal(mcphub_config_set(cfg, "cluster.token", "", &err), 0); /* clearing is fine */
    assert_string_equal(cl->token, "");
    assert_int_equal(cl->master.port, 4100);
    assert_int_equal(mcphub_config_set(NULL, "port", "1", &err), MCPHUB_E_INVAL);
    mcphub_config_free(cfg);
}

static void expect_invalid(const char *text, const char *msg)
{
    mcphub_config_error err;
    mcphub_config *cfg = parse_ok(text);

    assert_int_equal(mcphub_config_validate(cfg, &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, msg);
    mcphub_config_free(cfg);
}

static void test_validate_messages(void **state)
{
    mcphub_config_error err;
    mcphub_config *cfg;

    (void)state;
    expect_invalid("{\"cluster\":{\"master\":{\"heartbeatTimeout\":3000}}}",
                   "cluster.master.heartbeatTimeout (3000) must be greater than "
                   "heartbeatInterval (5000)");
    expect_invalid("{\"cluster\":{\"master\":{\"healthCheckTimeout\":10000}}}",
                   "cluster.master.healthCheckTimeout (10000) must be less than "
                   "healthCheckInterval (10000)");
    expect_invalid("{\"cluster\":{\"enabled\":true,\"mode\":\"worker\"}}",
                   "cluster.worker.masterUrl must be set when cluster.mode is worker "
                   "(CLUSTER_MASTER_URL)");
    expect_invalid("{\"cluster\":{\"worker\":{\"masterUrl\":\"m:3000\"}}}",
                   "cluster.worker.masterUrl (\"m:3000\") must start with http:// or https://");
    expect_invalid("{\"cluster\":{\"worker\":{\"advertisePort\":70000}}}",
                   "cluster.worker.advertisePort (70000) must be between 0 and 65535");
    expect_invalid("{\"cluster\":{\"master\":{\"port\":65536}}}",
                   "cluster.master.port (65536) must be between 0 and 65535");
    expect_invalid("{\"cluster\":{\"tls\":{\"cert\":\"/c.pem\"}}}",
                   "cluster.tls.cert and cluster.tls.key must be given together "
                   "(cert set, key missing)");

    /* a worker that is not enabled needs no master; health checks off need
     * no timeout below the interval */
    cfg = parse_ok("{\"cluster\":{\"mode\":\"worker\",\"master\":{\"healthCheckInterval\":0}}}");
    assert_int_equal(mcphub_config_validate(cfg, &err), 0);
    /* validation runs on the layered result */
    assert_int_equal(mcphub_config_set(cfg, "cluster.enabled", "true", &err), 0);
    assert_int_equal(mcphub_config_validate(cfg, &err), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_config_set(cfg, "cluster.worker.masterUrl", "http://m:3000", &err), 0);
    assert_int_equal(mcphub_config_validate(cfg, &err), 0);
    assert_int_equal(mcphub_config_set(cfg, "cluster.worker.advertisePort", "65535", &err), 0);
    assert_int_equal(mcphub_config_validate(cfg, &err), 0);
    mcphub_config_free(cfg);
}

static void test_json_syntax_error(void **state)
{
    const char *text = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": tru}\n  }\n}\n";
    mcphub_config_error err;
    mcphub_config *cfg = NULL;

    (void)state;
    assert_int_equal(mcphub_config_parse(&cfg, text, strlen(text), NULL, &err), MCPHUB_E_PARSE);
    assert_null(cfg);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 24);
    assert_string_equal(err.text, "line 3, column 24: invalid token near 'tru'");
    /* the length is honoured: the text need not be NUL-terminated */
    assert_int_equal(mcphub_config_parse(&cfg, "{}garbage", 2, NULL, &err), 0);
    mcphub_config_free(cfg);
    assert_int_equal(mcphub_config_parse(&cfg, "{\"a\":1}", 5, NULL, &err), MCPHUB_E_PARSE);
    assert_true(err.line >= 1);
    parse_fails("[1,2]", MCPHUB_E_INVAL, "the settings ([...]) must be a JSON object");
}

static void test_bad_field_types_name_the_field(void **state)
{
    (void)state;
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"replicas\":\"two\"}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.replicas (\"two\") must be a non-negative integer");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"replicas\":-1}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.replicas (-1) must be a non-negative integer");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"replicas\":1.5}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.replicas (1.5) must be a non-negative integer");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"args\":\"-y\"}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.args (\"-y\") must be an array of strings");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"args\":[\"a\",{}]}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.args[1] ({...}) must be a string");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"env\":{\"N\":1}}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.env.N (1) must be a string");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"enabled\":\"no\"}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.enabled (\"no\") must be true or false");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":[\"uvx\"]}}}", MCPHUB_E_INVAL,
                "mcpServers.fetch.command ([...]) must be a string");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"x\",\"tools\":{\"t\":false}}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.tools.t (false) must be an object");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"x\",\"options\":{\"timeout\":0}}}}",
                MCPHUB_E_INVAL,
                "mcpServers.fetch.options.timeout (0) must be a positive integer (milliseconds)");
    parse_fails("{\"mcpServers\":{\"fetch\":{\"command\":\"x\",\"replicas\":100000}}}",
                MCPHUB_E_INVAL, "mcpServers.fetch.replicas (100000) must be at most 65535");
    parse_fails("{\"mcpServers\":[]}", MCPHUB_E_INVAL, "mcpServers ([...]) must be an object");
    parse_fails("{\"mcpServers\":{\"x\":null}}", MCPHUB_E_INVAL,
                "mcpServers.x (null) must be an object");
    parse_fails("{\"systemConfig\":{\"routing\":{\"skipAuth\":1}}}", MCPHUB_E_INVAL,
                "systemConfig.routing.skipAuth (1) must be true or false");
    parse_fails("{\"systemConfig\":{\"routing\":true}}", MCPHUB_E_INVAL,
                "systemConfig.routing (true) must be an object");
    parse_fails("{\"systemConfig\":{\"routing\":{\"bearerAuthKey\":5}}}", MCPHUB_E_INVAL,
                "systemConfig.routing.bearerAuthKey must be a string");
    parse_fails("{\"bearerKeys\":{}}", MCPHUB_E_INVAL, "bearerKeys ({...}) must be an array");
}

static void test_unknown_fields_ignored(void **state)
{
    mcphub_config *cfg;

    (void)state;
    cfg = parse_ok("{\"mcpServers\":{\"a\":{\"command\":\"x\",\"owner\":\"admin\","
                   "\"visibility\":\"public\",\"proxy\":{\"enabled\":false},\"oauth\":{},"
                   "\"prompts\":{},\"keepAliveInterval\":\"weird\"}},"
                   "\"prompts\":[],\"resources\":[],\"userConfigs\":{},\"oauthTokens\":[],"
                   "\"systemConfig\":{\"toolResultCompression\":{\"enabled\":true},"
                   "\"routing\":{\"somethingNew\":1},\"discovery\":{}},\"futureSection\":42}");
    assert_int_equal(mcphub_config_server_count(cfg), 1);
    assert_int_equal(mcphub_config_warning_count(cfg), 0);
    mcphub_config_free(cfg);
}

static void test_add_replace_remove_server(void **state)
{
    mcphub_config *cfg = parse_file(COMPAT_EXAMPLE);
    mcphub_config_error err;
    const mcphub_server_def *s;
    const mcphub_group_def *g;

    (void)state;
    /* add: at the end, defaults applied */
    assert_int_equal(mcphub_config_add_server_json(cfg, "time",
                                                   "{\"command\":\"uvx\",\"args\":[\"mcp-server-time\"]}",
                                                   &err), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 7);
    s = mcphub_config_server_at(cfg, 6);
    assert_string_equal(s->name, "time");
    assert_int_equal(s->type, MCPHUB_SERVER_STDIO);
    assert_int_equal(s->replicas, 1);
    assert_string_equal(mcphub_config_server_json(cfg, "time"),
                        "{\"args\":[\"mcp-server-time\"],\"command\":\"uvx\"}");
    /* replace: same place, new content */
    assert_int_equal(mcphub_config_add_server_json(cfg, "fetch",
                                                   "{\"url\":\"http://f/sse\",\"replicas\":0}",
                                                   &err), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 7);
    s = mcphub_config_server_at(cfg, 0);
    assert_string_equal(s->name, "fetch");
    assert_int_equal(s->type, MCPHUB_SERVER_SSE);
    assert_int_equal(s->replicas, 0);
    assert_null(s->command);
    assert_ptr_equal(mcphub_config_server_find(cfg, "fetch"), s);
    /* failures change nothing */
    assert_int_equal(mcphub_config_add_server_json(cfg, "fetch", "{\"url\": ", &err),
                     MCPHUB_E_PARSE);
    assert_int_equal(err.line, 1);
    assert_int_equal(mcphub_config_add_server_json(cfg, "fetch", "{\"replicas\":\"two\",\"url\":\"u\"}",
                                                   &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "mcpServers.fetch.replicas (\"two\") must be a non-negative integer");
    assert_int_equal(mcphub_config_add_server_json(cfg, "", "{\"command\":\"x\"}", &err),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_config_add_server_json(cfg, "x", "[]", &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "mcpServers.x ([...]) must be an object");
    assert_string_equal(mcphub_config_server_json(cfg, "fetch"),
                        "{\"replicas\":0,\"url\":\"http://f/sse\"}");
    assert_int_equal(mcphub_config_server_count(cfg), 7);
    /* an odd name is accepted with a warning */
    assert_int_equal(mcphub_config_add_server_json(cfg, "odd name", "{\"command\":\"x\"}", &err),
                     0);
    assert_true(has_warning(cfg, "\"odd name\""));

    /* remove: gone from the list, the index and the groups */
    assert_int_equal(mcphub_config_remove_server(cfg, "fetch"), 0);
    assert_int_equal(mcphub_config_remove_server(cfg, "fetch"), MCPHUB_E_NOTFOUND);
    assert_null(mcphub_config_server_find(cfg, "fetch"));
    assert_null(mcphub_config_server_json(cfg, "fetch"));
    assert_int_equal(mcphub_config_server_count(cfg), 7);
    assert_string_equal(mcphub_config_server_at(cfg, 0)->name, "amap");
    assert_string_equal(mcphub_config_server_at(cfg, 5)->name, "time");
    g = mcphub_config_group_find(cfg, "web");
    assert_int_equal(g->members_len, 1);
    assert_string_equal(g->members[0].server, "amap");
    assert_int_equal(mcphub_config_remove_server(cfg, "amap"), 0);
    assert_int_equal(g->members_len, 0);
    assert_int_equal(mcphub_config_remove_server(NULL, "amap"), MCPHUB_E_NOTFOUND);
    mcphub_config_free(cfg);

    /* a worker starts empty and receives servers one by one */
    assert_int_equal(mcphub_config_new_empty(&cfg, NULL, NULL), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 0);
    assert_int_equal(mcphub_config_add_server_json(cfg, "a", "{\"command\":\"x\"}", NULL), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 1);
    mcphub_config_free(cfg);
}

static void test_canonical_json_stable(void **state)
{
    mcphub_config *a, *b;
    const char *ja, *jb;

    (void)state;
    a = parse_ok("{\"mcpServers\":{\"s\":{\"command\":\"npx\",\"env\":{\"B\":\"2\",\"A\":\"1\"},"
                 "\"args\":[\"-y\",\"pkg\"],\"replicas\":2}}}");
    b = parse_ok("{\"mcpServers\":{\"s\":{\n  \"replicas\": 2,\n  \"args\": [\"-y\", \"pkg\"],\n"
                 "  \"env\": {\"A\": \"1\", \"B\": \"2\"},\n  \"command\": \"npx\"\n}}}");
    ja = mcphub_config_server_json(a, "s");
    jb = mcphub_config_server_json(b, "s");
    assert_string_equal(ja, "{\"args\":[\"-y\",\"pkg\"],\"command\":\"npx\",\"env\":{\"A\":\"1\","
                            "\"B\":\"2\"},\"replicas\":2}");
    assert_string_equal(ja, jb);
    assert_ptr_equal(mcphub_config_server_find(a, "s")->json, ja);
    /* round trip: a worker given the text gets the same text */
    assert_int_equal(mcphub_config_add_server_json(b, "copy", ja, NULL), 0);
    assert_string_equal(mcphub_config_server_json(b, "copy"), ja);
    /* the file's env order is kept in the struct */
    assert_string_equal(mcphub_config_server_find(a, "s")->env[0].key, "B");
    mcphub_config_free(a);
    mcphub_config_free(b);
}

/* ---- ${VAR} ---- */

static const char *lookup(const char *name, void *ud)
{
    (void)ud;
    if (strcmp(name, "HOME") == 0)
        return "/root";
    if (strcmp(name, "API_KEY") == 0)
        return "k-123";
    if (strcmp(name, "lower") == 0)
        return "L";
    if (strcmp(name, "SELF") == 0)
        return "$HOME";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static void expect_expand(const char *in, const char *want)
{
    char *out = NULL;

    assert_int_equal(mcphub_expand_vars(in, lookup, NULL, &out, NULL), 0);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void test_expand_vars(void **state)
{
    static char big[MCPHUB_CONFIG_MAX_STRING + 10];
    char *out = (char *)"x";
    fake_alloc fa;
    mcphub_mem mem = fake_alloc_mem(&fa);

    (void)state;
    expect_expand("", "");
    expect_expand("plain", "plain");
    expect_expand("${HOME}/bin", "/root/bin");
    expect_expand("$HOME/bin", "/root/bin");
    expect_expand("Bearer ${API_KEY}", "Bearer k-123");
    expect_expand("a${UNSET}b$UNSET.c", "ab.c");       /* unknown -> "" */
    expect_expand("${lower}", "L");                     /* braces: any name */
    expect_expand("$lower", "$lower");                  /* bare: upper case only */
    expect_expand("$$HOME", "$$HOME");                  /* $$ is literal */
    expect_expand("cost: 5$", "cost: 5$");
    expect_expand("${HOME", "${HOME");                  /* unclosed */
    expect_expand("${}", "${}");
    expect_expand("$1", "$1");
    expect_expand("${SELF}", "$HOME");                  /* one pass */
    expect_expand("x${EMPTY}y", "xy");
    expect_expand("$API_KEY$HOME", "k-123/root");
    expect_expand("${HOME}${HOME}", "/root/root");
    assert_int_equal(mcphub_expand_vars("$HOME", NULL, NULL, &out, NULL), 0);
    assert_string_equal(out, ""); /* no lookup: nothing is set */
    free(out);

    assert_int_equal(mcphub_expand_vars(NULL, lookup, NULL, &out, NULL), MCPHUB_E_INVAL);
    assert_null(out);
    assert_int_equal(mcphub_expand_vars("x", lookup, NULL, NULL, NULL), MCPHUB_E_INVAL);
    memset(big, 'a', sizeof big - 1);
    assert_int_equal(mcphub_expand_vars(big, lookup, NULL, &out, NULL), MCPHUB_E_TOOBIG);
    assert_null(out);
    /* our allocator, and a failure of it */
    fake_alloc_reset(&fa, 0);
    assert_int_equal(mcphub_expand_vars("${HOME}", lookup, NULL, &out, &mem), 0);
    assert_string_equal(out, "/root");
    assert_int_equal(fa.live, 1);
    mem.free_fn(out, mem.user_data);
    fake_alloc_reset(&fa, 1);
    assert_int_equal(mcphub_expand_vars("${HOME}", lookup, NULL, &out, &mem), MCPHUB_E_NOMEM);
    assert_null(out);
    assert_int_equal(fa.live, 0);
}

/* ---- bounds ---- */

static void test_bounds(void **state)
{
    mcphub_config_opts opts;
    mcphub_config_error err;
    mcphub_config *cfg;
    const char *three = "{\"mcpServers\":{\"a\":{\"command\":\"x\"},\"b\":{\"command\":\"x\"},"
                        "\"c\":{\"command\":\"x\"}}}";
    char *longstr;

    (void)state;
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.max_servers = 2;
    opts.max_items = 2;
    opts.max_groups = 1;
    opts.max_keys = 1;
    opts.max_string = 8;
    assert_int_equal(mcphub_config_new_empty(&cfg, &opts, NULL), 0);
    assert_int_equal(mcphub_config_load(cfg, three, strlen(three), &err), MCPHUB_E_FULL);
    assert_string_equal(err.text, "mcpServers has 3 servers, more than 2");
    assert_int_equal(mcphub_config_server_count(cfg), 0);
    assert_int_equal(load_text(cfg, "{\"mcpServers\":{\"a\":{\"command\":\"x\","
                                             "\"args\":[\"1\",\"2\",\"3\"]}}}", &err),
                     MCPHUB_E_FULL);
    assert_string_equal(err.text, "mcpServers.a.args has 3 items, more than 2");
    assert_int_equal(load_text(cfg, "{\"mcpServers\":{\"a\":{\"command\":\"123456789\"}}}", &err), MCPHUB_E_TOOBIG);
    assert_string_equal(err.text, "mcpServers.a.command is longer than 8 bytes");
    assert_int_equal(load_text(cfg, "{\"groups\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", &err), MCPHUB_E_FULL);
    assert_int_equal(load_text(cfg, "{\"bearerKeys\":[{\"token\":\"a\"}],\"systemConfig\":"
                                             "{\"routing\":{\"bearerAuthKey\":\"b\"}}}", &err),
                     MCPHUB_E_FULL);
    assert_int_equal(mcphub_config_set(cfg, "cluster.nodeId", "123456789", &err), MCPHUB_E_TOOBIG);
    /* add_server_json respects max_servers */
    assert_int_equal(mcphub_config_add_server_json(cfg, "a", "{\"command\":\"x\"}", &err), 0);
    assert_int_equal(mcphub_config_add_server_json(cfg, "b", "{\"command\":\"x\"}", &err), 0);
    assert_int_equal(mcphub_config_add_server_json(cfg, "c", "{\"command\":\"x\"}", &err),
                     MCPHUB_E_FULL);
    assert_int_equal(mcphub_config_add_server_json(cfg, "b", "{\"command\":\"y\"}", &err), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 2);
    mcphub_config_free(cfg);

    /* the default string bound */
    longstr = malloc(MCPHUB_CONFIG_MAX_STRING + 64);
    assert_non_null(longstr);
    strcpy(longstr, "{\"cluster\":{\"nodeId\":\"");
    memset(longstr + strlen(longstr), 'n', MCPHUB_CONFIG_MAX_STRING + 1);
    strcpy(longstr + strlen("{\"cluster\":{\"nodeId\":\"") + MCPHUB_CONFIG_MAX_STRING + 1, "\"}}");
    parse_fails(longstr, MCPHUB_E_TOOBIG, "cluster.nodeId is longer than 65536 bytes");
    free(longstr);

    /* options are checked */
    {
        struct { mcphub_config_opts o; char tail[8]; } big;

        memset(&big, 0, sizeof big);
        big.o.size = sizeof big;
        big.tail[0] = 1;
        assert_int_equal(mcphub_config_new_empty(&cfg, &big.o, NULL), MCPHUB_E_INVAL);
        assert_null(cfg);
    }
    assert_int_equal(mcphub_config_new_empty(NULL, NULL, NULL), MCPHUB_E_INVAL);
}

static void test_load_replaces_and_failed_load_keeps(void **state)
{
    mcphub_config *cfg = parse_file(COMPAT_EXAMPLE);
    mcphub_config_error err;
    const char *bad = "{\"mcpServers\":{\"n\":{\"command\":\"x\"}},\"cluster\":{\"weight\":1,"
                      "\"worker\":{\"weight\":-3}}}";

    (void)state;
    assert_int_equal(mcphub_config_set(cfg, "cluster.token", "flag", &err), 0);
    assert_int_equal(mcphub_config_load(cfg, bad, strlen(bad), &err), MCPHUB_E_INVAL);
    assert_string_equal(err.text, "cluster.worker.weight (-3) must be a positive integer");
    assert_int_equal(mcphub_config_server_count(cfg), 6);
    assert_string_equal(mcphub_config_cluster(cfg)->token, "flag");
    assert_true(has_warning(cfg, "x") == 0);
    /* a good load replaces every layer */
    assert_int_equal(load_text(cfg, "{\"mcpServers\":{\"n\":{\"command\":\"x\"}}}", &err), 0);
    assert_int_equal(mcphub_config_server_count(cfg), 1);
    assert_int_equal(mcphub_config_group_count(cfg), 0);
    assert_int_equal(mcphub_config_key_count(cfg), 0);
    assert_string_equal(mcphub_config_cluster(cfg)->token, "");
    mcphub_config_free(cfg);
}

/* ---- allocation failures: ours through mcphub_mem, jansson's through
 * json_set_alloc_funcs, counted by the same fake allocator ---- */

static fake_alloc *jansson_fa;
static int jansson_failed; /* the failed allocation was jansson's */

/* jansson 2.14's lexer ignores a failure to grow its token buffer
 * (lex_save drops strbuffer_append_byte's error) and may then overrun the
 * heap.  That is jansson's bug, not a path of ours: the buffer only ever
 * asks for powers of two from 16 up, so those requests are never failed
 * here (the failure moves on to the next allocation). */
static void *jansson_malloc(size_t n)
{
    mcphub_mem m = fake_alloc_mem(jansson_fa);
    void *p;

    if (n >= 16 && (n & (n - 1)) == 0 && jansson_fa->count + 1 == jansson_fa->fail_at)
        jansson_fa->fail_at++;
    p = m.malloc_fn(n, m.user_data);
    if (p == NULL)
        jansson_failed = 1;
    return p;
}

static void jansson_free(void *p)
{
    mcphub_mem m = fake_alloc_mem(jansson_fa);

    m.free_fn(p, m.user_data);
}

/* An allocation failure comes back as MCPHUB_E_NOMEM; inside jansson's
 * lexer it may come back as a syntax error (see mcphub_config_load). */
static void expect_nomem(int rc)
{
    if (rc == MCPHUB_E_PARSE && jansson_failed)
        return;
    assert_int_equal(rc, MCPHUB_E_NOMEM);
}

static json_malloc_t saved_malloc;
static json_free_t saved_free;

static void jansson_use(fake_alloc *fa)
{
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    jansson_fa = fa;
    jansson_failed = 0;
    json_set_alloc_funcs(jansson_malloc, jansson_free);
}

static void jansson_restore(void)
{
    json_set_alloc_funcs(saved_malloc, saved_free);
    jansson_fa = NULL;
}

static int parse_scenario(fake_alloc *fa, void *arg)
{
    const char *text = arg;
    const char *const envp[] = {"CLUSTER_TOKEN=t", "CLUSTER_NODE_ID=n1", "PORT=3300", NULL};
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_config_error err;
    mcphub_config *cfg = NULL;
    int rc;

    jansson_use(fa);
    rc = mcphub_config_parse(&cfg, text, strlen(text), &mem, &err);
    if (rc == 0)
        rc = mcphub_config_apply_env(cfg, envp, &err);
    if (rc == 0)
        rc = mcphub_config_set(cfg, "cluster.worker.masterUrl", "http://m:3000", &err);
    if (rc == 0)
        rc = mcphub_config_add_server_json(cfg, "time", "{\"command\":\"uvx\",\"args\":[\"t\"]}",
                                           &err);
    jansson_restore();
    if (rc == 0) {
        assert_int_equal(mcphub_config_server_count(cfg), 7);
        assert_int_equal(mcphub_config_group_find(cfg, "web")->members_len, 2);
        assert_string_equal(mcphub_config_cluster(cfg)->node_id, "n1");
        assert_int_equal(mcphub_config_cluster(cfg)->master.port, 3300);
        assert_int_equal(mcphub_config_validate(cfg, &err), 0);
    } else {
        expect_nomem(rc);
    }
    if (cfg == NULL)
        assert_int_not_equal(rc, 0);
    mcphub_config_free(cfg);
    return rc;
}

static void test_parse_under_failing_allocators(void **state)
{
    char *text = read_text(COMPAT_EXAMPLE);
    long allocs;

    (void)state;
    assert_non_null(text);
    allocs = fake_alloc_loop(parse_scenario, text);
    assert_true(allocs > 50); /* jansson's and ours both counted */
    free(text);
}

/* Everything observable through the API, as text. */
static void snapshot(const mcphub_config *cfg, char *buf, size_t cap)
{
    const mcphub_cluster_settings *cl = mcphub_config_cluster(cfg);
    const mcphub_routing_settings *r = mcphub_config_routing(cfg);
    size_t i, o = 0;

#define ADD(...) o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, __VA_ARGS__)
    for (i = 0; i < mcphub_config_server_count(cfg); i++) {
        const mcphub_server_def *s = mcphub_config_server_at(cfg, i);

        ADD("%s %u %s|", s->name, s->replicas, s->json);
    }
    for (i = 0; i < mcphub_config_group_count(cfg); i++)
        ADD("g %s %zu|", mcphub_config_group_at(cfg, i)->name,
            mcphub_config_group_at(cfg, i)->members_len);
    for (i = 0; i < mcphub_config_key_count(cfg); i++)
        ADD("k %s|", mcphub_config_key_at(cfg, i)->id);
    ADD("%d %s %s %s %u %llu %s %d %llu %zu", cl->enabled, cl->node_id, cl->token,
        cl->worker.master_url, cl->master.port,
        (unsigned long long)cl->master.heartbeat_interval_ms, r->name_separator,
        r->enable_bearer_auth, (unsigned long long)r->json_body_limit,
        mcphub_config_warning_count(cfg));
#undef ADD
    assert_true(o < cap);
}

typedef struct mutate_arg {
    const char *base, *other;
} mutate_arg;

#define SNAP 16384

static int mutate_scenario(fake_alloc *fa, void *arg)
{
    const mutate_arg *a = arg;
    const char *const envp[] = {"CLUSTER_TOKEN=t2", "CLUSTER_HEARTBEAT_INTERVAL=1234",
                                "CLUSTER_MASTER_URL=http://x", NULL};
    static char before[SNAP], after[SNAP];
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_config_error err;
    mcphub_config *cfg = NULL;
    long fail_at = fa->fail_at;
    int rc, step;

    /* The baseline is built without failures; then count from zero. */
    fa->fail_at = 0;
    jansson_use(fa);
    assert_int_equal(mcphub_config_parse(&cfg, a->base, strlen(a->base), &mem, &err), 0);
    fa->count = 0;
    fa->fail_at = fail_at;
    for (step = 0, rc = 0; step < 7 && rc == 0; step++) {
        snapshot(cfg, before, sizeof before);
        switch (step) {
        case 0: rc = mcphub_config_set(cfg, "cluster.token", "flag-token", &err); break;
        case 1: rc = mcphub_config_apply_env(cfg, envp, &err); break;
        case 2:
            rc = mcphub_config_add_server_json(cfg, "fetch", "{\"url\":\"http://f\",\"replicas\":2}",
                                               &err);
            break;
        case 3: rc = mcphub_config_add_server_json(cfg, "new one", "{\"command\":\"x\"}", &err); break;
        case 4: rc = mcphub_config_load(cfg, a->other, strlen(a->other), &err); break;
        case 5: rc = mcphub_config_set(cfg, "systemConfig.nameSeparator", "::", &err); break;
        case 6: rc = mcphub_config_remove_server(cfg, "amap"); break;
        }
        if (rc != 0) {
            expect_nomem(rc);
            snapshot(cfg, after, sizeof after);
            assert_string_equal(before, after); /* the failed call changed nothing */
        }
    }
    jansson_restore();
    if (rc == 0) {
        assert_int_equal(mcphub_config_server_count(cfg), 2);
        assert_string_equal(mcphub_config_routing(cfg)->name_separator, "::");
    }
    mcphub_config_free(cfg);
    return rc;
}

static void test_failed_calls_change_nothing_under_failing_allocators(void **state)
{
    mutate_arg a;
    char *base = read_text(COMPAT_EXAMPLE), *other = read_text(CLUSTER_EXAMPLE);
    long allocs;

    (void)state;
    assert_non_null(base);
    assert_non_null(other);
    /* the loaded file has no amap; step 6 then fails NOTFOUND, so add it */
    {
        json_t *root = json_loads(other, 0, NULL);

        json_object_set_new(json_object_get(root, "mcpServers"), "amap",
                            json_pack("{s:s}", "command", "npx"));
        free(other);
        other = json_dumps(root, 0);
        json_decref(root);
    }
    a.base = base;
    a.other = other;
    allocs = fake_alloc_loop(mutate_scenario, &a);
    assert_true(allocs > 20);
    free(base);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_2025_05),
        cmocka_unit_test(test_fixture_2026_legacy_key),
        cmocka_unit_test(test_compat_example),
        cmocka_unit_test(test_type_inference_and_requirements),
        cmocka_unit_test(test_server_cluster_fields_and_name_warning),
        cmocka_unit_test(test_groups_forms_and_dropped_members),
        cmocka_unit_test(test_bearer_keys_and_auth_default),
        cmocka_unit_test(test_routing_values_and_body_limit),
        cmocka_unit_test(test_cluster_section_both_places),
        cmocka_unit_test(test_cluster_shorthand_aliases_unknown),
        cmocka_unit_test(test_env_overrides_file),
        cmocka_unit_test(test_env_error_changes_nothing),
        cmocka_unit_test(test_set_overrides_env),
        cmocka_unit_test(test_validate_messages),
        cmocka_unit_test(test_json_syntax_error),
        cmocka_unit_test(test_bad_field_types_name_the_field),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_add_replace_remove_server),
        cmocka_unit_test(test_canonical_json_stable),
        cmocka_unit_test(test_expand_vars),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_load_replaces_and_failed_load_keeps),
        cmocka_unit_test(test_parse_under_failing_allocators),
        cmocka_unit_test(test_failed_calls_change_nothing_under_failing_allocators),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
