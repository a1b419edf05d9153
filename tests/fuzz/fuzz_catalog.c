/* Fuzz target: the catalog (catalog.h) — the input as a server's tools
 * array (and as its prompts, resources, templates and initialize result),
 * then list_result and resolve_tool on the global, server and group routes.
 *
 * Checked: the same catalog renders the same bytes; every listed tool has
 * an object inputSchema without "$schema"; every listed name resolves, on
 * its route, to a server and upstream name that spell it (server or alias,
 * separator, upstream name); a tool disabled by an override is neither
 * listed nor resolved; a failed set_list changes nothing; the input as a
 * name or URI resolves only to what is listed. */
#include <jansson.h>

#include <mcphub/catalog.h>

#include "fuzz_util.h"

static char *list(const mcphub_catalog *c, const char *route, mcphub_catalog_list which)
{
    char *json = NULL, *again = NULL;
    size_t skipped = 0;
    int rc = mcphub_catalog_list_result(c, route, which, &json, &skipped);

    FUZZ_CHECK(rc == 0 && json != NULL);
    FUZZ_CHECK(mcphub_catalog_list_result(c, route, which, &again, NULL) == 0);
    FUZZ_CHECK(strcmp(json, again) == 0);
    mcphub_catalog_free_string(c, again);
    return json;
}

/* Every tool listed on route resolves to (server, tool) with
 * prefix(server) + "-" + tool == name.  Returns how many were listed. */
static size_t check_tools(const mcphub_catalog *c, const char *route, const char *alias_of_a)
{
    char *json = list(c, route, MCPHUB_CATALOG_TOOLS);
    json_error_t e;
    json_t *v = json_loads(json, 0, &e), *arr, *t;
    size_t i, n;

    if (v == NULL)
        fprintf(stderr, "list_result is not JSON (%s): %s\n", e.text, json);
    FUZZ_CHECK(v != NULL);
    arr = json_object_get(v, "tools");
    FUZZ_CHECK(json_is_array(arr));
    n = json_array_size(arr);
    json_array_foreach(arr, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *schema = json_object_get(t, "inputSchema");
        const char *server = NULL, *tool = NULL, *prefix;
        char want[600];

        FUZZ_CHECK(name != NULL && strlen(name) <= MCPHUB_CATALOG_MAX_EXPOSED);
        FUZZ_CHECK(json_is_object(schema));
        FUZZ_CHECK(json_object_get(schema, "$schema") == NULL);
        FUZZ_CHECK(mcphub_catalog_resolve_tool(c, route, name, &server, &tool) == 0);
        FUZZ_CHECK(server != NULL && tool != NULL);
        prefix = alias_of_a != NULL && strcmp(server, "a") == 0 ? alias_of_a : server;
        snprintf(want, sizeof want, "%s-%s", prefix, tool);
        if (strcmp(want, name) != 0)
            fprintf(stderr, "%s resolves to %s / %s\n", name, server, tool);
        FUZZ_CHECK(strcmp(want, name) == 0);
    }
    json_decref(v);
    mcphub_catalog_free_string(c, json);
    return n;
}

static void check_other_lists(const mcphub_catalog *c, const char *route)
{
    static const mcphub_catalog_list lists[] = {MCPHUB_CATALOG_PROMPTS,
                                                MCPHUB_CATALOG_RESOURCES,
                                                MCPHUB_CATALOG_TEMPLATES};
    size_t k;

    for (k = 0; k < 3; k++) {
        char *json = list(c, route, lists[k]);
        json_t *v = json_loads(json, 0, NULL);
        json_t *arr, *item;
        size_t i;

        FUZZ_CHECK(json_is_object(v));
        arr = json_object_iter_value(json_object_iter(v));
        FUZZ_CHECK(json_is_array(arr));
        json_array_foreach(arr, i, item) {
            const char *server = NULL, *name = NULL;

            if (lists[k] == MCPHUB_CATALOG_PROMPTS) {
                name = json_string_value(json_object_get(item, "name"));
                FUZZ_CHECK(name != NULL);
                FUZZ_CHECK(mcphub_catalog_resolve_prompt(c, route, name, &server, &name) == 0);
            } else if (lists[k] == MCPHUB_CATALOG_RESOURCES) {
                const char *uri = json_string_value(json_object_get(item, "uri"));
                FUZZ_CHECK(uri != NULL);
                FUZZ_CHECK(mcphub_catalog_resolve_resource(c, route, uri, &server) == 0);
            }
        }
        json_decref(v);
        mcphub_catalog_free_string(c, json);
    }
}

static const char ab_tools[] = "[{\"name\":\"c\"},{\"name\":\"d\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    mcphub_catalog *c = NULL;
    mcphub_catalog_opts o;
    mcphub_group_member m[2];
    const char *server, *tool;
    char *before, *after, *text, *init = NULL;
    size_t listed;
    int rc;

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.gateway_version = "0.0-fuzz";
    o.max_items = 256;
    FUZZ_CHECK(mcphub_catalog_new(&c, &o, NULL) == 0);
    FUZZ_CHECK(mcphub_catalog_add_server(c, "a", 1) == 0);
    FUZZ_CHECK(mcphub_catalog_add_server(c, "a-b", 1) == 0);
    FUZZ_CHECK(mcphub_catalog_add_server(c, "off", 0) == 0);
    FUZZ_CHECK(mcphub_catalog_set_list(c, "a-b", MCPHUB_CATALOG_TOOLS, ab_tools,
                                       sizeof ab_tools - 1) == 0);

    /* a failed set_list changes nothing */
    before = list(c, "", MCPHUB_CATALOG_TOOLS);
    rc = mcphub_catalog_set_list(c, "a", MCPHUB_CATALOG_TOOLS, json, size);
    after = list(c, "", MCPHUB_CATALOG_TOOLS);
    if (rc != 0)
        FUZZ_CHECK(strcmp(before, after) == 0);
    mcphub_catalog_free_string(c, before);
    mcphub_catalog_free_string(c, after);
    (void)mcphub_catalog_set_list(c, "off", MCPHUB_CATALOG_TOOLS, json, size);
    (void)mcphub_catalog_set_list(c, "a", MCPHUB_CATALOG_PROMPTS, json, size);
    (void)mcphub_catalog_set_list(c, "a", MCPHUB_CATALOG_RESOURCES, json, size);
    (void)mcphub_catalog_set_list(c, "a", MCPHUB_CATALOG_TEMPLATES, json, size);
    (void)mcphub_catalog_set_initialize(c, "a", json, size);

    listed = check_tools(c, "", NULL);
    (void)check_tools(c, "a", NULL);
    check_other_lists(c, "");
    check_other_lists(c, "a");

    /* a group with an alias for a, all tools, and a-b's prompts only */
    memset(m, 0, sizeof m);
    m[0].server = "a";
    m[0].alias = "x";
    m[0].tools.all = 1;
    m[0].prompts.all = 1;
    m[0].resources.all = 1;
    m[1].server = "a-b";
    m[1].tools.all = 1;
    m[1].prompts.all = 1;
    m[1].resources.all = 1;
    rc = mcphub_catalog_set_group(c, "g1", "grp", m, 2);
    FUZZ_CHECK(rc == 0 || rc == MCPHUB_E_EXISTS);
    if (rc == 0) {
        (void)check_tools(c, "grp", "x");
        check_other_lists(c, "g1");
    }

    /* the input as a name and as a URI */
    text = fuzz_strndup(data, size < 300 ? size : 300);
    if (text != NULL) {
        if (mcphub_catalog_resolve_tool(c, "", text, &server, &tool) == 0)
            FUZZ_CHECK(strcmp(server, "a") == 0 || strcmp(server, "a-b") == 0);
        (void)mcphub_catalog_resolve_tool(c, "a", text, &server, &tool);
        (void)mcphub_catalog_resolve_prompt(c, "grp", text, &server, &tool);
        (void)mcphub_catalog_resolve_resource(c, "", text, &server);
        (void)mcphub_catalog_route_check(c, text, NULL);
        (void)mcphub_catalog_tool_annotations(c, "a", text, NULL, NULL);
        /* an override keyed by the input: a disabled tool is gone */
        if (text[0] != '\0' &&
            mcphub_catalog_set_tool_override(c, "a", text, 0, NULL) == 0) {
            FUZZ_CHECK(mcphub_catalog_resolve_tool(c, "a", text, &server, &tool) ==
                       MCPHUB_E_NOTFOUND);
            FUZZ_CHECK(check_tools(c, "", NULL) <= listed);
        }
        free(text);
    }

    /* initialize results on every kind of route */
    FUZZ_CHECK(mcphub_catalog_initialize_result(c, "a", "2025-06-18", &init) == 0);
    {
        json_t *v = json_loads(init, 0, NULL);
        FUZZ_CHECK(json_is_object(v));
        FUZZ_CHECK(json_is_object(json_object_get(v, "serverInfo")));
        json_decref(v);
    }
    mcphub_catalog_free_string(c, init);
    FUZZ_CHECK(mcphub_catalog_initialize_result(c, "", NULL, &init) == 0);
    mcphub_catalog_free_string(c, init);

    mcphub_catalog_free(c);
    return 0;
}
