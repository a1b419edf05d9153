/* Unit tests: the catalog — prefixing, separators, aliases, selections,
 * overrides, $schema, config order, ambiguous prefixes, prompts, resources
 * and templates, name length, routes, initialize results, generations,
 * loading a real config, bounds and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mcphub/catalog.h>
#include <mcphub/config.h>

#include "fakes/fakes.h"

#define COMPAT_EXAMPLE "tests/unit/data/mcphub-compat-1.5.json"

#define T MCPHUB_CATALOG_TOOLS
#define P MCPHUB_CATALOG_PROMPTS
#define R MCPHUB_CATALOG_RESOURCES
#define RT MCPHUB_CATALOG_TEMPLATES

/* ---- fixtures ---- */

static const char FETCH_TOOLS[] =
    "[{\"name\":\"fetch\",\"description\":\"Fetch a URL\",\"inputSchema\":{\"$schema\":"
    "\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\",\"properties\":{\"url\":"
    "{\"type\":\"string\"}},\"required\":[\"url\"]}},"
    "{\"name\":\"head\",\"inputSchema\":{\"type\":\"object\"},\"annotations\":"
    "{\"readOnlyHint\":true,\"idempotentHint\":true}}]";

static const char FETCH_LISTED[] =
    "{\"name\":\"fetch-fetch\",\"description\":\"Fetch a URL\",\"inputSchema\":{\"type\":"
    "\"object\",\"properties\":{\"url\":{\"type\":\"string\"}},\"required\":[\"url\"]}},"
    "{\"name\":\"fetch-head\",\"inputSchema\":{\"type\":\"object\"},\"annotations\":"
    "{\"readOnlyHint\":true,\"idempotentHint\":true}}";

static const char AMAP_TOOLS[] =
    "[{\"name\":\"maps_weather\",\"description\":\"Weather\",\"inputSchema\":{\"type\":"
    "\"object\"}},{\"name\":\"maps_geo\",\"description\":\"Geocode\",\"inputSchema\":"
    "{\"type\":\"object\"}}]";

/* ---- helpers ---- */

static mcphub_catalog *cat_new_opts(const mcphub_catalog_opts *opts)
{
    mcphub_catalog *c = NULL;

    assert_int_equal(mcphub_catalog_new(&c, opts, NULL), 0);
    assert_non_null(c);
    return c;
}

static mcphub_catalog *cat_new(const char *sep)
{
    mcphub_catalog_opts o;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.name_separator = sep;
    o.gateway_version = "9.9";
    return cat_new_opts(&o);
}

/* set_list with the length of a literal taken for us */
#define SET(c, server, which, lit) mcphub_catalog_set_list((c), (server), (which), (lit), strlen(lit))
#define INIT(c, server, lit) mcphub_catalog_set_initialize((c), (server), (lit), strlen(lit))

static void set_list(mcphub_catalog *c, const char *server, mcphub_catalog_list which,
                     const char *json)
{
    assert_int_equal(mcphub_catalog_set_list(c, server, which, json, strlen(json)), 0);
}

static void add(mcphub_catalog *c, const char *server, const char *tools)
{
    assert_int_equal(mcphub_catalog_add_server(c, server, 1), 0);
    if (tools != NULL)
        set_list(c, server, T, tools);
}

static void check_list(const mcphub_catalog *c, const char *route, mcphub_catalog_list which,
                       const char *expected)
{
    char *json = NULL;

    assert_int_equal(mcphub_catalog_list_result(c, route, which, &json, NULL), 0);
    assert_non_null(json);
    assert_string_equal(json, expected);
    mcphub_catalog_free_string(c, json);
}

static void check_tool(const mcphub_catalog *c, const char *route, const char *name,
                       const char *server, const char *tool)
{
    const char *s = NULL, *t = NULL;

    assert_int_equal(mcphub_catalog_resolve_tool(c, route, name, &s, &t), 0);
    assert_string_equal(s, server);
    assert_string_equal(t, tool);
}

static void check_no_tool(const mcphub_catalog *c, const char *route, const char *name)
{
    const char *s = NULL, *t = NULL;

    assert_int_equal(mcphub_catalog_resolve_tool(c, route, name, &s, &t), MCPHUB_E_NOTFOUND);
}

/* A group member with "all" selections. */
static mcphub_group_member member(const char *server, const char *alias)
{
    mcphub_group_member m;

    memset(&m, 0, sizeof m);
    m.server = server;
    m.alias = alias;
    m.tools.all = m.prompts.all = m.resources.all = 1;
    return m;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
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

static mcphub_config *compat_config(void)
{
    char *text = read_text(COMPAT_EXAMPLE);
    mcphub_config *cfg = NULL;

    assert_int_equal(mcphub_config_parse(&cfg, text, strlen(text), NULL, NULL), 0);
    free(text);
    return cfg;
}

/* ---- construction ---- */

static void test_new_rejects_bad_options(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *c = (mcphub_catalog *)&o;

    (void)state;
    assert_int_equal(mcphub_catalog_new(NULL, NULL, NULL), MCPHUB_E_INVAL);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.name_separator = "0123456789abcdefg"; /* 17 bytes */
    assert_int_equal(mcphub_catalog_new(&c, &o, NULL), MCPHUB_E_INVAL);
    assert_null(c);
    o.name_separator = "__";
    o.size = 0;
    assert_int_equal(mcphub_catalog_new(&c, &o, NULL), MCPHUB_E_INVAL);
    o.size = sizeof o;
    assert_int_equal(mcphub_catalog_new(&c, &o, NULL), 0);
    mcphub_catalog_free(c);
    mcphub_catalog_free(NULL);
    /* defaults: "-" and the library version */
    c = cat_new_opts(NULL);
    add(c, "fetch", FETCH_TOOLS);
    check_tool(c, "", "fetch-head", "fetch", "head");
    {
        char *json = NULL;
        char expect[200];

        snprintf(expect, sizeof expect, "\"serverInfo\":{\"name\":\"mcphub\",\"version\":\"%s\"}",
                 mcphub_version());
        assert_int_equal(mcphub_catalog_initialize_result(c, "", NULL, &json), 0);
        assert_non_null(strstr(json, expect));
        mcphub_catalog_free_string(c, json);
    }
    mcphub_catalog_free(c);
}

/* ---- naming ---- */

static void test_tools_prefixed_schema_stripped_order_kept(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    char expect[1024];

    (void)state;
    add(c, "fetch", FETCH_TOOLS);
    snprintf(expect, sizeof expect, "{\"tools\":[%s]}", FETCH_LISTED);
    check_list(c, "", T, expect);
    check_list(c, "fetch", T, expect);
    check_tool(c, "", "fetch-fetch", "fetch", "fetch");
    check_tool(c, "", "fetch-head", "fetch", "head");
    check_no_tool(c, "", "fetch-nope");
    check_no_tool(c, "", "fetch");      /* bare names are not taken globally */
    check_no_tool(c, "", "fetch-");
    check_no_tool(c, "", "");
    mcphub_catalog_free(c);
}

static void test_custom_separator(void **state)
{
    mcphub_catalog *c = cat_new("__");

    (void)state;
    add(c, "my-srv", "[{\"name\":\"get_x\",\"inputSchema\":{}}]");
    check_list(c, "", T, "{\"tools\":[{\"name\":\"my-srv__get_x\",\"inputSchema\":{}}]}");
    check_tool(c, "", "my-srv__get_x", "my-srv", "get_x");
    check_no_tool(c, "", "my-srv-get_x");
    check_no_tool(c, "", "my-srv_get_x");
    mcphub_catalog_free(c);
}

static void test_missing_schema_and_item_shapes(void **state)
{
    mcphub_catalog *c = cat_new(NULL);

    (void)state;
    add(c, "s", "[{\"name\":\"a\"},{\"name\":\"b\",\"inputSchema\":null,\"title\":\"B\"}]");
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"s-a\",\"inputSchema\":{\"type\":\"object\"}},"
               "{\"name\":\"s-b\",\"title\":\"B\",\"inputSchema\":{\"type\":\"object\"}}]}");
    /* numbers keep their shortest form, strings are escaped */
    set_list(c, "s", T,
             "{\"tools\":[{\"name\":\"n\",\"description\":\"say \\\"hi\\\"\\n\",\"inputSchema\":"
             "{\"maximum\":0.1,\"minimum\":-3,\"x\":1e300}}]}");
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"s-n\",\"description\":\"say \\\"hi\\\"\\n\","
               "\"inputSchema\":{\"maximum\":0.1,\"minimum\":-3,\"x\":1e+300}}]}");
    mcphub_catalog_free(c);
}

static void test_global_route_config_order_and_disabled(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    const char *names[4];

    (void)state;
    add(c, "zeta", "[{\"name\":\"z\",\"inputSchema\":{}}]");
    add(c, "alpha", "[{\"name\":\"b\",\"inputSchema\":{}},{\"name\":\"a\",\"inputSchema\":{}}]");
    add(c, "mid", "[{\"name\":\"m\",\"inputSchema\":{}}]");
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"zeta-z\",\"inputSchema\":{}},"
               "{\"name\":\"alpha-b\",\"inputSchema\":{}},{\"name\":\"alpha-a\",\"inputSchema\":{}},"
               "{\"name\":\"mid-m\",\"inputSchema\":{}}]}");
    /* disabling keeps the place; a disabled server contributes nothing */
    assert_int_equal(mcphub_catalog_add_server(c, "zeta", 0), 0);
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"alpha-b\",\"inputSchema\":{}},"
               "{\"name\":\"alpha-a\",\"inputSchema\":{}},{\"name\":\"mid-m\",\"inputSchema\":{}}]}");
    check_list(c, "zeta", T, "{\"tools\":[]}");
    check_no_tool(c, "", "zeta-z");
    check_no_tool(c, "zeta", "zeta-z");
    assert_int_equal(mcphub_catalog_route_servers(c, "", names, 4), 2);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "mid");
    assert_int_equal(mcphub_catalog_add_server(c, "zeta", 1), 0);
    assert_int_equal(mcphub_catalog_route_servers(c, "", names, 1), 3);
    assert_string_equal(names[0], "zeta");
    check_tool(c, "", "zeta-z", "zeta", "z");
    /* removal keeps the order of the rest */
    assert_int_equal(mcphub_catalog_remove_server(c, "alpha"), 0);
    assert_int_equal(mcphub_catalog_remove_server(c, "alpha"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_route_servers(c, "", names, 4), 2);
    assert_string_equal(names[0], "zeta");
    assert_string_equal(names[1], "mid");
    check_no_tool(c, "", "alpha-a");
    mcphub_catalog_free(c);
}

static void test_overrides_disable_and_describe(void **state)
{
    mcphub_catalog *c = cat_new(NULL);

    (void)state;
    add(c, "amap", AMAP_TOOLS);
    /* prefixed key disables, bare key describes */
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "amap-maps_geo", 0, NULL), 0);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "maps_weather", 1, "By city"), 0);
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"amap-maps_weather\",\"description\":\"By city\","
               "\"inputSchema\":{\"type\":\"object\"}}]}");
    check_no_tool(c, "", "amap-maps_geo");
    check_no_tool(c, "amap", "maps_geo");
    check_tool(c, "amap", "maps_weather", "amap", "maps_weather");
    /* the bare key wins over the prefixed one */
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "maps_geo", 1, NULL), 0);
    check_tool(c, "", "amap-maps_geo", "amap", "maps_geo");
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "maps_geo", 0, NULL), 0);
    check_no_tool(c, "", "amap-maps_geo");
    /* an override for a tool the server does not have is harmless */
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "nothing", 0, NULL), 0);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "nope", "x", 0, NULL),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "", 0, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "x", 0, "\xff"), MCPHUB_E_INVAL);
    mcphub_catalog_free(c);
}

static void test_group_alias_and_selection(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m[2];
    const char *only_weather[] = {"maps_weather"};

    (void)state;
    add(c, "fetch", FETCH_TOOLS);
    add(c, "amap", AMAP_TOOLS);
    m[0] = member("amap", "maps");
    m[0].tools.all = 0;
    m[0].tools.names = only_weather;
    m[0].tools.len = 1;
    m[1] = member("fetch", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, "g-1", "web", m, 2), 0);
    /* group order, alias prefix, selection by bare names */
    {
        char expect[1024];

        snprintf(expect, sizeof expect,
                 "{\"tools\":[{\"name\":\"maps-maps_weather\",\"description\":\"Weather\","
                 "\"inputSchema\":{\"type\":\"object\"}},%s]}", FETCH_LISTED);
        check_list(c, "web", T, expect);
    }
    check_tool(c, "web", "maps-maps_weather", "amap", "maps_weather");
    check_no_tool(c, "web", "amap-maps_weather"); /* the alias replaces the name */
    check_no_tool(c, "web", "maps-maps_geo");     /* outside the selection */
    check_no_tool(c, "web", "maps_weather");      /* two servers: no bare names */
    check_tool(c, "web", "fetch-head", "fetch", "head");
    check_tool(c, "", "amap-maps_geo", "amap", "maps_geo"); /* global is unaffected */
    /* a disabled tool stays hidden inside the group */
    assert_int_equal(mcphub_catalog_set_tool_override(c, "amap", "maps_weather", 0, NULL), 0);
    check_no_tool(c, "web", "maps-maps_weather");
    /* a one-member group takes bare names */
    m[0] = member("fetch", "f");
    assert_int_equal(mcphub_catalog_set_group(c, "g-2", "solo", m, 1), 0);
    check_tool(c, "solo", "head", "fetch", "head");
    check_tool(c, "solo", "f-head", "fetch", "head");
    check_no_tool(c, "solo", "fetch-head");
    mcphub_catalog_free(c);
}

static void test_group_errors_change_nothing(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m[3];
    mcphub_catalog_opts o;
    const char *names[4];
    uint64_t gen;

    (void)state;
    add(c, "a", "[{\"name\":\"x\",\"inputSchema\":{}}]");
    add(c, "b", "[{\"name\":\"x\",\"inputSchema\":{}}]");
    m[0] = member("a", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, "id-1", "one", m, 1), 0);
    gen = mcphub_catalog_generation(c, T);
    /* an alias equal to another member's name: duplicate exposed names */
    m[0] = member("a", "b");
    m[1] = member("b", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, "id-1", "one", m, 2), MCPHUB_E_EXISTS);
    m[0] = member("a", NULL);
    m[1] = member("a", "");
    assert_int_equal(mcphub_catalog_set_group(c, "id-1", "one", m, 2), MCPHUB_E_EXISTS);
    /* another group's name */
    m[1] = member("b", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, "id-2", "one", m, 2), MCPHUB_E_EXISTS);
    assert_int_equal(mcphub_catalog_set_group(c, "id-2", "", m, 2), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_catalog_set_group(c, "id-2", "two", NULL, 2), MCPHUB_E_INVAL);
    m[2] = member(NULL, NULL);
    assert_int_equal(mcphub_catalog_set_group(c, "id-2", "two", m, 3), MCPHUB_E_INVAL);
    /* nothing changed */
    assert_int_equal(mcphub_catalog_generation(c, T), gen);
    assert_int_equal(mcphub_catalog_route_servers(c, "one", names, 4), 1);
    assert_string_equal(names[0], "a");
    assert_int_equal(mcphub_catalog_route_check(c, "two", NULL), MCPHUB_E_NOTFOUND);
    /* replacing by id, renaming */
    assert_int_equal(mcphub_catalog_set_group(c, "id-1", "uno", m, 2), 0);
    assert_int_equal(mcphub_catalog_route_check(c, "one", NULL), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_route_servers(c, "uno", names, 4), 2);
    assert_int_equal(mcphub_catalog_remove_group(c, "id-1"), 0);
    assert_int_equal(mcphub_catalog_remove_group(c, "id-1"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_route_check(c, "uno", NULL), MCPHUB_E_NOTFOUND);
    mcphub_catalog_free(c);

    /* bounds: groups and members */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_groups = 1;
    o.max_servers = 2;
    c = cat_new_opts(&o);
    m[0] = member("a", NULL);
    m[1] = member("b", NULL);
    m[2] = member("c", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 3), MCPHUB_E_FULL);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 2), 0);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "h", m, 1), MCPHUB_E_FULL);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 1), 0); /* id = name: replace */
    /* members naming unknown servers contribute nothing until added */
    assert_int_equal(mcphub_catalog_route_servers(c, "g", NULL, 0), 0);
    add(c, "a", NULL);
    assert_int_equal(mcphub_catalog_route_servers(c, "g", NULL, 0), 1);
    mcphub_catalog_free(c);
}

static void test_ambiguous_prefix_first_in_config_order(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m[2];

    (void)state;
    add(c, "a", "[{\"name\":\"b-c\",\"inputSchema\":{}}]");
    add(c, "a-b", "[{\"name\":\"c\",\"inputSchema\":{}}]");
    /* both listed, as MCPHub does */
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"a-b-c\",\"inputSchema\":{}},"
               "{\"name\":\"a-b-c\",\"inputSchema\":{}}]}");
    check_tool(c, "", "a-b-c", "a", "b-c");
    /* the first one in order that has the exact, visible name */
    assert_int_equal(mcphub_catalog_set_tool_override(c, "a", "b-c", 0, NULL), 0);
    check_tool(c, "", "a-b-c", "a-b", "c");
    mcphub_catalog_free(c);

    c = cat_new(NULL);
    add(c, "a-b", "[{\"name\":\"c\",\"inputSchema\":{}}]");
    add(c, "a", "[{\"name\":\"b-c\",\"inputSchema\":{}}]");
    check_tool(c, "", "a-b-c", "a-b", "c");
    /* in a group: member order */
    m[0] = member("a", NULL);
    m[1] = member("a-b", NULL);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 2), 0);
    check_tool(c, "g", "a-b-c", "a", "b-c");
    mcphub_catalog_free(c);
}

static void fill_for_determinism(mcphub_catalog *c)
{
    mcphub_group_member m[3];
    char name[16];
    int i;

    for (i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "srv%02d", (i * 7) % 40);
        add(c, name, FETCH_TOOLS);
    }
    m[0] = member("srv13", "x");
    m[1] = member("srv02", NULL);
    m[2] = member("srv31", "y");
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 3), 0);
}

static void test_render_deterministic_across_seeds(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *a, *b;
    char *ja = NULL, *jb = NULL, *again = NULL;
    const char *routes[] = {"", "g", "srv07"};
    size_t r;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.hash_seed = 1;
    a = cat_new_opts(&o);
    o.hash_seed = 0xdeadbeef;
    b = cat_new_opts(&o);
    fill_for_determinism(a);
    fill_for_determinism(b);
    for (r = 0; r < 3; r++) {
        assert_int_equal(mcphub_catalog_list_result(a, routes[r], T, &ja, NULL), 0);
        assert_int_equal(mcphub_catalog_list_result(b, routes[r], T, &jb, NULL), 0);
        assert_int_equal(mcphub_catalog_list_result(a, routes[r], T, &again, NULL), 0);
        assert_string_equal(ja, jb);
        assert_string_equal(ja, again);
        mcphub_catalog_free_string(a, ja);
        mcphub_catalog_free_string(b, jb);
        mcphub_catalog_free_string(a, again);
    }
    /* insertion order, not hash order: srv00, srv07, srv14, ... */
    assert_int_equal(mcphub_catalog_list_result(a, "", T, &ja, NULL), 0);
    assert_true(strncmp(ja, "{\"tools\":[{\"name\":\"srv00-fetch\"", 31) == 0);
    assert_true(strstr(ja, "srv07-fetch") < strstr(ja, "srv14-fetch"));
    assert_true(strstr(ja, "srv34-head") < strstr(ja, "srv01-fetch"));
    mcphub_catalog_free_string(a, ja);
    assert_int_equal(mcphub_catalog_list_result(a, "g", T, &ja, NULL), 0);
    assert_true(strstr(ja, "\"x-head\"") < strstr(ja, "\"srv02-fetch\""));
    assert_true(strstr(ja, "\"srv02-head\"") < strstr(ja, "\"y-fetch\""));
    mcphub_catalog_free_string(a, ja);
    mcphub_catalog_free(a);
    mcphub_catalog_free(b);
}

/* ---- prompts, resources, templates ---- */

static void test_prompts_resources_templates(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m[2];
    const char *pick_prompt[] = {"summarize"};
    const char *pick_res[] = {"file:///b.txt", "db://users/42"};
    const char *s = NULL, *p = NULL;

    (void)state;
    add(c, "fs", NULL);
    add(c, "db", NULL);
    set_list(c, "fs", P,
             "[{\"name\":\"summarize\",\"description\":\"Sum\",\"arguments\":[{\"name\":\"x\"}]},"
             "{\"name\":\"other\"}]");
    set_list(c, "fs", R,
             "{\"resources\":[{\"uri\":\"file:///a.txt\",\"name\":\"a\"},"
             "{\"uri\":\"file:///b.txt\",\"name\":\"b\",\"mimeType\":\"text/plain\"}]}");
    set_list(c, "fs", RT, "[{\"uriTemplate\":\"file:///{path}\",\"name\":\"any\"}]");
    set_list(c, "db", RT,
             "[{\"uriTemplate\":\"db://users/{id}\",\"name\":\"user\"},"
             "{\"uriTemplate\":\"db://{table}/{id}\",\"name\":\"row\"}]");
    check_list(c, "", P,
               "{\"prompts\":[{\"name\":\"fs-summarize\",\"description\":\"Sum\",\"arguments\":"
               "[{\"name\":\"x\"}]},{\"name\":\"fs-other\"}]}");
    check_list(c, "", R,
               "{\"resources\":[{\"uri\":\"file:///a.txt\",\"name\":\"a\"},{\"uri\":"
               "\"file:///b.txt\",\"name\":\"b\",\"mimeType\":\"text/plain\"}]}");
    check_list(c, "", RT,
               "{\"resourceTemplates\":[{\"uriTemplate\":\"file:///{path}\",\"name\":\"any\"},"
               "{\"uriTemplate\":\"db://users/{id}\",\"name\":\"user\"},{\"uriTemplate\":"
               "\"db://{table}/{id}\",\"name\":\"row\"}]}");
    assert_int_equal(mcphub_catalog_resolve_prompt(c, "", "fs-summarize", &s, &p), 0);
    assert_string_equal(s, "fs");
    assert_string_equal(p, "summarize");
    assert_int_equal(mcphub_catalog_resolve_prompt(c, "", "summarize", &s, &p), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_resolve_prompt(c, "fs", "summarize", &s, &p), 0);
    /* exact URIs, then the template with the longest static part */
    assert_int_equal(mcphub_catalog_resolve_resource(c, "", "file:///a.txt", &s), 0);
    assert_string_equal(s, "fs");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "", "file:///c/d", &s), 0);
    assert_string_equal(s, "fs");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "", "db://users/7", &s), 0);
    assert_string_equal(s, "db");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "", "http://x", &s), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_resolve_resource(c, "db", "file:///a.txt", &s),
                     MCPHUB_E_NOTFOUND);

    /* group selections: prompts by bare name, resources by URI */
    m[0] = member("fs", "files");
    m[0].prompts.all = 0;
    m[0].prompts.names = pick_prompt;
    m[0].prompts.len = 1;
    m[0].resources.all = 0;
    m[0].resources.names = pick_res;
    m[0].resources.len = 1;
    m[1] = member("db", NULL);
    m[1].resources.all = 0;
    m[1].resources.names = pick_res + 1;
    m[1].resources.len = 1;
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", m, 2), 0);
    check_list(c, "g", P,
               "{\"prompts\":[{\"name\":\"files-summarize\",\"description\":\"Sum\","
               "\"arguments\":[{\"name\":\"x\"}]}]}");
    check_list(c, "g", R,
               "{\"resources\":[{\"uri\":\"file:///b.txt\",\"name\":\"b\",\"mimeType\":"
               "\"text/plain\"}]}");
    /* a template comes with a selected URI it serves: file:///{path} with
     * file:///b.txt, both db templates with db://users/42 */
    check_list(c, "g", RT,
               "{\"resourceTemplates\":[{\"uriTemplate\":\"file:///{path}\",\"name\":\"any\"},"
               "{\"uriTemplate\":\"db://users/{id}\",\"name\":\"user\"},"
               "{\"uriTemplate\":\"db://{table}/{id}\",\"name\":\"row\"}]}");
    assert_int_equal(mcphub_catalog_resolve_prompt(c, "g", "files-other", &s, &p),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_resolve_resource(c, "g", "file:///b.txt", &s), 0);
    assert_string_equal(s, "fs");
    /* not listed here, but served by a template the group has */
    assert_int_equal(mcphub_catalog_resolve_resource(c, "g", "file:///a.txt", &s), 0);
    assert_string_equal(s, "fs");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "g", "db://users/9", &s), 0);
    assert_string_equal(s, "db");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "g", "other://x", &s),
                     MCPHUB_E_NOTFOUND);
    /* a selection matching nothing: no resource, no template */
    m[0].resources.names = pick_res + 2;
    m[0].resources.len = 0;
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g2", m, 1), 0);
    check_list(c, "g2", R, "{\"resources\":[]}");
    check_list(c, "g2", RT, "{\"resourceTemplates\":[]}");
    assert_int_equal(mcphub_catalog_resolve_resource(c, "g2", "file:///a.txt", &s),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_resolve_resource(c, "", "file:///a.txt", &s), 0);
    mcphub_catalog_free(c);
}

/* ---- name length ---- */

static void test_long_names_skipped_and_counted(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *c;
    mcphub_group_member m;
    fake_log log;
    char tools[1024], ok[130], too_long[130], name[200];
    char *json = NULL;
    size_t skipped = 99;

    (void)state;
    memset(&log, 0, sizeof log);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.log = fake_log_fn;
    o.log_user_data = &log;
    c = cat_new_opts(&o);
    /* "srv10chars" + "-" + 117 = 128: kept; + 118 = 129: left out */
    memset(ok, 'k', 117);
    ok[117] = '\0';
    memset(too_long, 'l', 118);
    too_long[118] = '\0';
    snprintf(tools, sizeof tools,
             "[{\"name\":\"%s\",\"inputSchema\":{}},{\"name\":\"%s\",\"inputSchema\":{}}]", ok,
             too_long);
    add(c, "srv10chars", tools);
    assert_true(fake_log_has(&log, "catalog_name_too_long server=srv10chars list=tools"));
    assert_int_equal(mcphub_catalog_list_result(c, "", T, &json, &skipped), 0);
    assert_int_equal(skipped, 1);
    snprintf(name, sizeof name, "\"srv10chars-%s\"", ok);
    assert_non_null(strstr(json, name));
    assert_null(strstr(json, too_long));
    mcphub_catalog_free_string(c, json);
    snprintf(name, sizeof name, "srv10chars-%s", too_long);
    check_no_tool(c, "", name);
    check_no_tool(c, "srv10chars", too_long); /* not listed: not callable bare either */
    /* under a shorter alias it fits */
    m = member("srv10chars", "s");
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", &m, 1), 0);
    assert_int_equal(mcphub_catalog_list_result(c, "g", T, &json, &skipped), 0);
    assert_int_equal(skipped, 0);
    mcphub_catalog_free_string(c, json);
    snprintf(name, sizeof name, "s-%s", too_long);
    check_tool(c, "g", name, "srv10chars", too_long);
    mcphub_catalog_free(c);
}

/* ---- routes ---- */

static void test_route_resolution_order(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m = member("fetch", NULL);
    mcphub_route_kind k = (mcphub_route_kind)0;
    const char *names[2];

    (void)state;
    add(c, "fetch", FETCH_TOOLS);
    add(c, "web", "[{\"name\":\"w\",\"inputSchema\":{}}]");
    assert_int_equal(mcphub_catalog_set_group(c, "8f1c2a3b-uuid", "web", &m, 1), 0);
    assert_int_equal(mcphub_catalog_route_check(c, "", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GLOBAL);
    assert_int_equal(mcphub_catalog_route_check(c, NULL, &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GLOBAL);
    /* a group wins over a server of the same name */
    assert_int_equal(mcphub_catalog_route_check(c, "web", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GROUP);
    assert_int_equal(mcphub_catalog_route_servers(c, "web", names, 2), 1);
    assert_string_equal(names[0], "fetch");
    check_no_tool(c, "web", "web-w");
    assert_int_equal(mcphub_catalog_route_check(c, "8f1c2a3b-uuid", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GROUP);
    assert_int_equal(mcphub_catalog_route_check(c, "fetch", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_SERVER);
    assert_int_equal(mcphub_catalog_route_check(c, "nope", &k), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_route_servers(c, "nope", names, 2), 0);
    check_no_tool(c, "nope", "fetch-head");
    {
        char *json = (char *)1;

        assert_int_equal(mcphub_catalog_list_result(c, "nope", T, &json, NULL),
                         MCPHUB_E_NOTFOUND);
        assert_null(json);
    }
    mcphub_catalog_free(c);

    /* without group-name routes the name reaches the server; ids still work */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.disable_group_name_route = 1;
    c = cat_new_opts(&o);
    add(c, "fetch", FETCH_TOOLS);
    add(c, "web", "[{\"name\":\"w\",\"inputSchema\":{}}]");
    assert_int_equal(mcphub_catalog_set_group(c, "8f1c2a3b-uuid", "web", &m, 1), 0);
    assert_int_equal(mcphub_catalog_route_check(c, "web", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_SERVER);
    check_tool(c, "web", "w", "web", "w");
    assert_int_equal(mcphub_catalog_route_check(c, "8f1c2a3b-uuid", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GROUP);
    mcphub_catalog_free(c);
}

static void test_initialize_results(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m = member("fetch", NULL);
    char *json = NULL;
    static const char caps[] =
        "\"capabilities\":{\"tools\":{\"listChanged\":true},\"prompts\":{\"listChanged\":true},"
        "\"resources\":{\"listChanged\":true},\"logging\":{},\"completions\":{}}";
    char expect[1024];
    const char init[] =
        "{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{\"tools\":{}},\"serverInfo\":"
        "{\"name\":\"mcp-fetch\",\"version\":\"1.2.0\"},\"instructions\":\"Use fetch.\"}";

    (void)state;
    add(c, "fetch", FETCH_TOOLS);
    assert_int_equal(mcphub_catalog_set_group(c, "id-9", "web", &m, 1), 0);
    assert_int_equal(mcphub_catalog_initialize_result(c, "", "2025-06-18", &json), 0);
    snprintf(expect, sizeof expect,
             "{\"protocolVersion\":\"2025-06-18\",%s,\"serverInfo\":{\"name\":\"mcphub\","
             "\"version\":\"9.9\"}}", caps);
    assert_string_equal(json, expect);
    mcphub_catalog_free_string(c, json);
    /* a group by id still names the group by its name */
    assert_int_equal(mcphub_catalog_initialize_result(c, "id-9", NULL, &json), 0);
    snprintf(expect, sizeof expect,
             "{%s,\"serverInfo\":{\"name\":\"mcphub_web_group\",\"version\":\"9.9\"}}", caps);
    assert_string_equal(json, expect);
    mcphub_catalog_free_string(c, json);
    /* a server route before and after the server told us who it is */
    assert_int_equal(mcphub_catalog_initialize_result(c, "fetch", NULL, &json), 0);
    snprintf(expect, sizeof expect, "{%s,\"serverInfo\":{\"name\":\"fetch\",\"version\":\"9.9\"}}",
             caps);
    assert_string_equal(json, expect);
    mcphub_catalog_free_string(c, json);
    assert_int_equal(mcphub_catalog_set_initialize(c, "fetch", init, strlen(init)), 0);
    assert_int_equal(mcphub_catalog_initialize_result(c, "fetch", "2025-11-25", &json), 0);
    snprintf(expect, sizeof expect,
             "{\"protocolVersion\":\"2025-11-25\",%s,\"serverInfo\":{\"name\":\"mcp-fetch\","
             "\"version\":\"1.2.0\"},\"instructions\":\"Use fetch.\"}", caps);
    assert_string_equal(json, expect);
    mcphub_catalog_free_string(c, json);
    /* bad answers change nothing */
    assert_int_equal(INIT(c, "fetch", "[1]"), MCPHUB_E_INVAL);
    assert_int_equal(INIT(c, "fetch", "{\"serverInfo\":1}"),
                     MCPHUB_E_INVAL);
    assert_int_equal(INIT(c, "fetch", "{"), MCPHUB_E_PARSE);
    assert_int_equal(INIT(c, "nope", "{}"), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_initialize_result(c, "fetch", "2025-11-25", &json), 0);
    assert_string_equal(json, expect);
    mcphub_catalog_free_string(c, json);
    json = (char *)1;
    assert_int_equal(mcphub_catalog_initialize_result(c, "nope", NULL, &json), MCPHUB_E_NOTFOUND);
    assert_null(json);
    mcphub_catalog_free(c);
}

/* ---- lists: errors, duplicates, bounds, generations, availability ---- */

static void test_set_list_errors_change_nothing(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *c;
    fake_log log;
    char expect[1024];
    uint64_t gen;

    (void)state;
    memset(&log, 0, sizeof log);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_items = 2;
    o.log = fake_log_fn;
    o.log_user_data = &log;
    c = cat_new_opts(&o);
    add(c, "fetch", FETCH_TOOLS);
    snprintf(expect, sizeof expect, "{\"tools\":[%s]}", FETCH_LISTED);
    gen = mcphub_catalog_generation(c, T);
    assert_int_equal(SET(c, "fetch", T, "[{"), MCPHUB_E_PARSE);
    assert_int_equal(SET(c, "fetch", T, "{\"x\":[]}"), MCPHUB_E_INVAL);
    assert_int_equal(SET(c, "fetch", T, "[{\"name\":\"\"}]"),
                     MCPHUB_E_INVAL);
    assert_int_equal(SET(c, "fetch", T, "[{\"name\":1}]"), MCPHUB_E_INVAL);
    assert_int_equal(SET(c, "fetch", T, "[{\"name\":\"a\"},3]"),
                     MCPHUB_E_INVAL);
    assert_int_equal(SET(c, "fetch", R, "[{\"name\":\"a\"}]"),
                     MCPHUB_E_INVAL); /* a resource needs a uri */
    assert_int_equal(SET(c, "fetch", T, "[{\"name\":\"a\"},{\"name\":\"b\"},"
                                             "{\"name\":\"c\"}]"), MCPHUB_E_FULL);
    assert_int_equal(SET(c, "nope", T, "[]"), MCPHUB_E_NOTFOUND);
    assert_int_equal(SET(c, "fetch", (mcphub_catalog_list)4, "[]"),
                     MCPHUB_E_INVAL);
    assert_int_equal(SET(c, "fetch", T, "[100000000000000000000]"),
                     MCPHUB_E_PARSE);
    check_list(c, "", T, expect);
    assert_int_equal(mcphub_catalog_generation(c, T), gen);
    /* a later duplicate is dropped with a warning; the first one stays */
    set_list(c, "fetch", T,
             "[{\"name\":\"a\",\"description\":\"first\"},{\"name\":\"a\",\"description\":\"2nd\"}]");
    assert_true(fake_log_has(&log, "catalog_item_dropped server=fetch list=tools name=a "
                                   "reason=duplicate"));
    check_list(c, "", T,
               "{\"tools\":[{\"name\":\"fetch-a\",\"description\":\"first\",\"inputSchema\":"
               "{\"type\":\"object\"}}]}");
    /* bounds of servers */
    mcphub_catalog_free(c);
    o.max_servers = 1;
    c = cat_new_opts(&o);
    add(c, "one", NULL);
    assert_int_equal(mcphub_catalog_add_server(c, "two", 1), MCPHUB_E_FULL);
    assert_int_equal(mcphub_catalog_add_server(c, "one", 0), 0); /* idempotent */
    assert_int_equal(mcphub_catalog_add_server(c, "", 1), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_catalog_route_servers(c, "", NULL, 0), 0);
    mcphub_catalog_free(c);
}

static void test_generation_bumps(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    mcphub_group_member m = member("fetch", NULL);
    uint64_t t, p;

    (void)state;
    assert_int_equal(mcphub_catalog_generation(c, T), 0);
    add(c, "fetch", NULL);
    assert_int_equal(mcphub_catalog_generation(c, T), 0); /* offers nothing yet */
    set_list(c, "fetch", T, FETCH_TOOLS);
    t = mcphub_catalog_generation(c, T);
    p = mcphub_catalog_generation(c, P);
    assert_int_equal(t, 1);
    set_list(c, "fetch", T, FETCH_TOOLS);                 /* the same list */
    assert_int_equal(mcphub_catalog_generation(c, T), t);
    set_list(c, "fetch", T, "[{\"name\":\"fetch\"}]");    /* a different one */
    assert_int_equal(mcphub_catalog_generation(c, T), ++t);
    assert_int_equal(mcphub_catalog_generation(c, P), p);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "fetch", "fetch", 0, NULL), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), ++t);
    assert_int_equal(mcphub_catalog_set_tool_override(c, "fetch", "fetch", 0, NULL), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), t); /* no change */
    assert_int_equal(mcphub_catalog_add_server(c, "fetch", 0), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), ++t);
    assert_int_equal(mcphub_catalog_generation(c, P), p); /* it has no prompts */
    assert_int_equal(mcphub_catalog_add_server(c, "fetch", 1), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), ++t);
    /* without hide_unavailable availability does not change lists */
    assert_int_equal(mcphub_catalog_set_available(c, "fetch", 0), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), t);
    assert_int_equal(mcphub_catalog_set_group(c, NULL, "g", &m, 1), 0);
    assert_true(mcphub_catalog_generation(c, T) > t);
    assert_true(mcphub_catalog_generation(c, P) > p);
    t = mcphub_catalog_generation(c, T);
    assert_int_equal(mcphub_catalog_remove_server(c, "fetch"), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), t + 1);
    assert_int_equal(mcphub_catalog_generation(c, (mcphub_catalog_list)9), 0);
    mcphub_catalog_free(c);
}

static void test_unavailable_servers(void **state)
{
    mcphub_catalog_opts o;
    mcphub_catalog *c = cat_new(NULL);
    char expect[1024];
    uint64_t t;

    (void)state;
    snprintf(expect, sizeof expect, "{\"tools\":[%s]}", FETCH_LISTED);
    /* default: the last known tools stay listed and resolvable */
    add(c, "fetch", FETCH_TOOLS);
    assert_int_equal(mcphub_catalog_set_available(c, "fetch", 0), 0);
    check_list(c, "", T, expect);
    check_tool(c, "", "fetch-head", "fetch", "head");
    assert_int_equal(mcphub_catalog_set_available(c, "nope", 0), MCPHUB_E_NOTFOUND);
    mcphub_catalog_free(c);
    /* hide_unavailable: MCPHub's way */
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.hide_unavailable = 1;
    c = cat_new_opts(&o);
    add(c, "fetch", FETCH_TOOLS);
    t = mcphub_catalog_generation(c, T);
    assert_int_equal(mcphub_catalog_set_available(c, "fetch", 0), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), t + 1);
    check_list(c, "", T, "{\"tools\":[]}");
    check_no_tool(c, "", "fetch-head");
    assert_int_equal(mcphub_catalog_route_servers(c, "", NULL, 0), 0);
    assert_int_equal(mcphub_catalog_set_available(c, "fetch", 1), 0);
    assert_int_equal(mcphub_catalog_generation(c, T), t + 2);
    check_list(c, "", T, expect);
    mcphub_catalog_free(c);
}

static void test_tool_annotations(void **state)
{
    mcphub_catalog *c = cat_new(NULL);
    int ro = -1, idem = -1;

    (void)state;
    add(c, "fetch", FETCH_TOOLS);
    assert_int_equal(mcphub_catalog_tool_annotations(c, "fetch", "head", &ro, &idem), 0);
    assert_int_equal(ro, 1);
    assert_int_equal(idem, 1);
    assert_int_equal(mcphub_catalog_tool_annotations(c, "fetch", "fetch", &ro, &idem), 0);
    assert_int_equal(ro, 0);
    assert_int_equal(idem, 0);
    assert_int_equal(mcphub_catalog_tool_annotations(c, "fetch", "fetch-head", &ro, NULL),
                     MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_catalog_tool_annotations(c, "nope", "head", NULL, NULL),
                     MCPHUB_E_NOTFOUND);
    mcphub_catalog_free(c);
}

/* ---- config ---- */

static void test_load_real_config(void **state)
{
    mcphub_config *cfg = compat_config();
    mcphub_catalog *c = cat_new(NULL);
    const char *names[8];
    mcphub_route_kind k;
    size_t n;

    (void)state;
    /* something that the config does not have goes away */
    add(c, "old", "[{\"name\":\"x\"}]");
    add(c, "amap", AMAP_TOOLS);
    assert_int_equal(mcphub_catalog_load_config(c, cfg), 0);
    n = mcphub_catalog_route_servers(c, "", names, 8);
    assert_int_equal(n, 6);
    assert_string_equal(names[0], "fetch");
    assert_string_equal(names[1], "amap");
    assert_string_equal(names[2], "playwright");
    assert_string_equal(names[3], "remote-sse");
    assert_string_equal(names[4], "petstore");
    assert_string_equal(names[5], "jira");
    assert_int_equal(mcphub_catalog_route_check(c, "old", NULL), MCPHUB_E_NOTFOUND);
    /* amap kept its tools; the file's overrides apply */
    check_list(c, "amap", T,
               "{\"tools\":[{\"name\":\"amap-maps_weather\",\"description\":"
               "\"Weather by city name\",\"inputSchema\":{\"type\":\"object\"}}]}");
    check_no_tool(c, "", "amap-maps_geo"); /* "amap-maps_geo": {"enabled": false} */
    /* group "web": fetch, then amap as "maps" with maps_weather only */
    set_list(c, "fetch", T, FETCH_TOOLS);
    set_list(c, "amap", T,
             "[{\"name\":\"maps_weather\",\"inputSchema\":{}},{\"name\":\"maps_text\","
             "\"inputSchema\":{}}]");
    {
        char expect[1024];

        snprintf(expect, sizeof expect,
                 "{\"tools\":[%s,{\"name\":\"maps-maps_weather\",\"description\":"
                 "\"Weather by city name\",\"inputSchema\":{}}]}", FETCH_LISTED);
        check_list(c, "web", T, expect);
        check_list(c, "8f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", T, expect);
    }
    assert_int_equal(mcphub_catalog_route_check(c, "web", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GROUP);
    check_tool(c, "web", "maps-maps_weather", "amap", "maps_weather");
    check_no_tool(c, "web", "maps-maps_text");
    check_tool(c, "", "amap-maps_text", "amap", "maps_text");
    /* loading again keeps what servers offered */
    assert_int_equal(mcphub_catalog_load_config(c, cfg), 0);
    check_tool(c, "web", "fetch-head", "fetch", "head");
    assert_int_equal(mcphub_catalog_load_config(c, NULL), MCPHUB_E_INVAL);
    mcphub_catalog_free(c);
    mcphub_config_free(cfg);
}

static void test_load_config_separator_and_routing(void **state)
{
    static const char text[] =
        "{\"mcpServers\":{\"b\":{\"command\":\"x\"},\"a\":{\"command\":\"x\",\"enabled\":false,"
        "\"tools\":{\"a__t\":{\"enabled\":false}}},\"c\":{\"command\":\"x\",\"tools\":"
        "{\"c__t\":{\"enabled\":false}}}},"
        "\"groups\":[{\"id\":\"gid\",\"name\":\"b\",\"servers\":[\"c\"]}],"
        "\"systemConfig\":{\"nameSeparator\":\"__\",\"routing\":{\"enableGroupNameRoute\":false}}}";
    mcphub_config *cfg = NULL;
    mcphub_catalog *c = cat_new(NULL);
    mcphub_route_kind k;
    const char *names[4];

    (void)state;
    assert_int_equal(mcphub_config_parse(&cfg, text, strlen(text), NULL, NULL), 0);
    add(c, "c", "[{\"name\":\"t\",\"inputSchema\":{}},{\"name\":\"u\",\"inputSchema\":{}}]");
    assert_int_equal(mcphub_catalog_load_config(c, cfg), 0);
    /* disabled "a" is out; order b, c; the prefixed override uses "__" */
    assert_int_equal(mcphub_catalog_route_servers(c, "", names, 4), 2);
    assert_string_equal(names[0], "b");
    assert_string_equal(names[1], "c");
    check_list(c, "", T, "{\"tools\":[{\"name\":\"c__u\",\"inputSchema\":{}}]}");
    /* group-name routes are off: "b" is the server, the id the group */
    assert_int_equal(mcphub_catalog_route_check(c, "b", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_SERVER);
    assert_int_equal(mcphub_catalog_route_check(c, "gid", &k), 0);
    assert_int_equal(k, MCPHUB_ROUTE_GROUP);
    check_list(c, "gid", T, "{\"tools\":[{\"name\":\"c__u\",\"inputSchema\":{}}]}");
    mcphub_config_free(cfg);
    mcphub_catalog_free(c);
}

/* ---- allocation failures ---- */

typedef struct fail_arg {
    const mcphub_config *cfg;
} fail_arg;

/* Everything a client can see, as one string. */
static int snapshot(const mcphub_catalog *c, char *out, size_t cap)
{
    static const char *const routes[] = {"", "web", "fetch", "amap"};
    size_t r, used = 0;
    int k;

    for (r = 0; r < 4; r++) {
        for (k = 0; k < 4; k++) {
            char *json = NULL;
            int rc = mcphub_catalog_list_result(c, routes[r], (mcphub_catalog_list)k, &json, NULL);

            if (rc == MCPHUB_E_NOTFOUND)
                continue;
            if (rc != 0) {
                assert_int_equal(rc, MCPHUB_E_NOMEM);
                assert_null(json);
                return rc;
            }
            used += (size_t)snprintf(out + used, cap - used, "%s|", json);
            mcphub_catalog_free_string(c, json);
            assert_true(used < cap);
        }
        used += (size_t)snprintf(out + used, cap - used, "%llu;",
                                 (unsigned long long)mcphub_catalog_generation(c, T));
    }
    return 0;
}

/* Run one step; when it fails it must fail cleanly and change nothing. */
static int step(mcphub_catalog *c, int rc_of_step, const char *before)
{
    static char after[16384];
    int rc;

    if (rc_of_step == 0)
        return 0;
    assert_int_equal(rc_of_step, MCPHUB_E_NOMEM);
    rc = snapshot(c, after, sizeof after);
    if (rc == 0)
        assert_string_equal(before, after);
    return rc_of_step;
}

static int catalog_scenario(fake_alloc *fa, void *arg)
{
    static char before[16384];
    const fail_arg *fx = arg;
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_catalog_opts o;
    mcphub_catalog *c = NULL;
    mcphub_group_member m[2];
    const char *only_weather[] = {"maps_weather"};
    const char *s, *t;
    char *json = NULL;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.gateway_version = "1.0";
    rc = mcphub_catalog_new(&c, &o, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(c);
        return rc;
    }
    m[0] = member("fetch", NULL);
    m[1] = member("amap", "maps");
    m[1].tools.all = 0;
    m[1].tools.names = only_weather;
    m[1].tools.len = 1;
#define STEP(call)                                                  \
    do {                                                            \
        if ((rc = snapshot(c, before, sizeof before)) != 0)         \
            goto out;                                               \
        if ((rc = step(c, (call), before)) != 0)                    \
            goto out;                                               \
    } while (0)
    STEP(mcphub_catalog_add_server(c, "fetch", 1));
    STEP(mcphub_catalog_add_server(c, "amap", 1));
    STEP(mcphub_catalog_set_list(c, "fetch", T, FETCH_TOOLS, strlen(FETCH_TOOLS)));
    STEP(mcphub_catalog_set_list(c, "amap", T, AMAP_TOOLS, strlen(AMAP_TOOLS)));
    STEP(SET(c, "amap", RT, "[{\"uriTemplate\":\"geo://{x}\"}]"));
    STEP(mcphub_catalog_set_tool_override(c, "amap", "amap-maps_geo", 0, "gone"));
    STEP(mcphub_catalog_set_group(c, "id-1", "web", m, 2));
    STEP(INIT(c, "fetch", "{\"serverInfo\":{\"name\":\"f\"}}"));
    STEP(mcphub_catalog_load_config(c, fx->cfg));
    STEP(mcphub_catalog_set_list(c, "amap", T, AMAP_TOOLS, strlen(AMAP_TOOLS)));
    STEP(mcphub_catalog_set_group(c, "id-1", "web2", m, 2));
    STEP(mcphub_catalog_remove_group(c, "id-1"));
    STEP(mcphub_catalog_remove_server(c, "fetch"));
    /* reading never changes anything */
    rc = mcphub_catalog_initialize_result(c, "amap", "2025-06-18", &json);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(json);
        goto out;
    }
    mcphub_catalog_free_string(c, json);
    assert_int_equal(mcphub_catalog_resolve_tool(c, "", "amap-maps_weather", &s, &t), 0);
    assert_string_equal(t, "maps_weather");
    rc = snapshot(c, before, sizeof before);
#undef STEP
out:
    mcphub_catalog_free(c);
    return rc;
}

static void test_failing_allocator(void **state)
{
    fail_arg fx;
    mcphub_config *cfg = compat_config();
    long allocs;

    (void)state;
    fx.cfg = cfg;
    allocs = fake_alloc_loop(catalog_scenario, &fx);
    assert_true(allocs > 50);
    mcphub_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_options),
        cmocka_unit_test(test_tools_prefixed_schema_stripped_order_kept),
        cmocka_unit_test(test_custom_separator),
        cmocka_unit_test(test_missing_schema_and_item_shapes),
        cmocka_unit_test(test_global_route_config_order_and_disabled),
        cmocka_unit_test(test_overrides_disable_and_describe),
        cmocka_unit_test(test_group_alias_and_selection),
        cmocka_unit_test(test_group_errors_change_nothing),
        cmocka_unit_test(test_ambiguous_prefix_first_in_config_order),
        cmocka_unit_test(test_render_deterministic_across_seeds),
        cmocka_unit_test(test_prompts_resources_templates),
        cmocka_unit_test(test_long_names_skipped_and_counted),
        cmocka_unit_test(test_route_resolution_order),
        cmocka_unit_test(test_initialize_results),
        cmocka_unit_test(test_set_list_errors_change_nothing),
        cmocka_unit_test(test_generation_bumps),
        cmocka_unit_test(test_unavailable_servers),
        cmocka_unit_test(test_tool_annotations),
        cmocka_unit_test(test_load_real_config),
        cmocka_unit_test(test_load_config_separator_and_routing),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
