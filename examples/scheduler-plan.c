/* scheduler-plan: print the replica plan for a cluster described in JSON.
 *
 *   scheduler-plan [--json] FILE.json
 *
 * FILE.json (see examples/scheduler-plan.json):
 *   {"nodes":    [{"id", "status", "maxServers", "cpu"}],
 *    "replicas": [{"id", "server", "node", "status"}],
 *    "servers":  [{"server", "replicas",
 *                  "affinity": {"nodeIds": [], "excludeNodeIds": []}}]}
 * Defaults: node status "online", maxServers 0 (no limit), cpu 0; replica
 * status "running"; replicas 1.
 *
 * Output, one line per entry:
 *   create fetch on w2 (score 95.0)
 *   remove r-3 of fetch on w3: node-offline
 *   shortfall fetch: 3 replicas desired, 2 placed: ...
 * or, with --json, {"create": [...], "remove": [...], "shortfall": [...]}.
 * Exit 0 ok (shortfalls included), 1 out of memory, 2 usage or bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <mcphub/scheduler.h>

static const char *file;

/* Report a bad field, e.g. "cluster.json: nodes[2].status: unknown value". */
static int bad(const char *array, size_t i, const char *field, const char *why)
{
    fprintf(stderr, "scheduler-plan: %s: %s[%zu]%s%s: %s\n", file, array, i,
            field[0] ? "." : "", field, why);
    return 2;
}

static const char *get_string(json_t *obj, const char *key, const char *fallback)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return fallback;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A required, non-empty, unique (within seen) string; NULL when not. */
static const char *get_id(json_t *obj, const char *key, json_t *seen)
{
    const char *s = get_string(obj, key, NULL);

    if (s == NULL || s[0] == '\0')
        return NULL;
    if (seen != NULL) {
        if (json_object_get(seen, s) != NULL || json_object_set(seen, s, json_true()) != 0)
            return NULL;
    }
    return s;
}

static int read_nodes(json_t *arr, mcphub_sched_node *out, json_t *seen)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o) {
        const char *status = get_string(o, "status", "online");
        json_t *max = json_object_get(o, "maxServers"), *cpu = json_object_get(o, "cpu");

        if ((out[i].id = get_id(o, "id", seen)) == NULL)
            return bad("nodes", i, "id", "missing, empty, not a string or a duplicate");
        if (status == NULL || mcphub_node_status_parse(status, &out[i].status) != 0)
            return bad("nodes", i, "status", "expected \"online\", \"unhealthy\" or \"offline\"");
        if (max != NULL && (!json_is_integer(max) || json_integer_value(max) < 0 ||
                            json_integer_value(max) > 1000000))
            return bad("nodes", i, "maxServers", "expected an integer 0..1000000");
        if (cpu != NULL && !json_is_number(cpu))
            return bad("nodes", i, "cpu", "expected a number (percent)");
        out[i].max_servers = max != NULL ? (uint32_t)json_integer_value(max) : 0;
        out[i].cpu_percent = cpu != NULL ? json_number_value(cpu) : 0.0;
    }
    return 0;
}

static int read_replicas(json_t *arr, mcphub_sched_replica *out, json_t *seen)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o) {
        const char *status = get_string(o, "status", "running");

        if ((out[i].id = get_id(o, "id", seen)) == NULL)
            return bad("replicas", i, "id", "missing, empty, not a string or a duplicate");
        if ((out[i].server = get_id(o, "server", NULL)) == NULL)
            return bad("replicas", i, "server", "missing, empty or not a string");
        if ((out[i].node = get_id(o, "node", NULL)) == NULL)
            return bad("replicas", i, "node", "missing, empty or not a string");
        if (status == NULL || mcphub_replica_status_parse(status, &out[i].status) != 0)
            return bad("replicas", i, "status", "expected \"pending\", \"starting\", "
                       "\"running\", \"error\", \"stopped\" or \"terminated\"");
    }
    return 0;
}

/* An array of node ids, or NULL with *len 0 when absent.  *ids is set
 * (for the caller to free) even when the array turns out bad: -1. */
static int read_ids(json_t *affinity, const char *key, const char ***ids, size_t *len)
{
    json_t *arr = json_object_get(affinity, key), *v;
    size_t i;

    *ids = NULL;
    *len = 0;
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr) || (*ids = calloc(json_array_size(arr) + 1, sizeof **ids)) == NULL)
        return -1;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return -1;
        (*ids)[i] = json_string_value(v);
    }
    *len = json_array_size(arr);
    return 0;
}

static int read_servers(json_t *arr, mcphub_replica_config *out, json_t *seen)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o) {
        json_t *n = json_object_get(o, "replicas"), *aff = json_object_get(o, "affinity");
        const char **ids;
        int bad_ids;

        out[i].size = sizeof out[i];
        if ((out[i].server = get_id(o, "server", seen)) == NULL)
            return bad("servers", i, "server", "missing, empty, not a string or a duplicate");
        if (n != NULL && (!json_is_integer(n) || json_integer_value(n) < 0 ||
                          json_integer_value(n) > MCPHUB_SCHED_DEFAULT_MAX_REPLICAS))
            return bad("servers", i, "replicas", "expected an integer 0..64");
        out[i].replicas = n != NULL ? (uint32_t)json_integer_value(n) : 1;
        if (aff != NULL && !json_is_object(aff))
            return bad("servers", i, "affinity", "expected an object");
        bad_ids = read_ids(aff, "nodeIds", &ids, &out[i].node_ids_len);
        out[i].node_ids = ids;
        if (bad_ids)
            return bad("servers", i, "affinity.nodeIds", "expected an array of node ids");
        bad_ids = read_ids(aff, "excludeNodeIds", &ids, &out[i].exclude_node_ids_len);
        out[i].exclude_node_ids = ids;
        if (bad_ids)
            return bad("servers", i, "affinity.excludeNodeIds", "expected an array of node ids");
    }
    return 0;
}

static void print_text(const mcphub_plan *p)
{
    size_t i;

    for (i = 0; i < mcphub_plan_remove_count(p); i++) {
        const mcphub_plan_remove *r = mcphub_plan_remove_at(p, i);

        printf("remove %s of %s on %s: %s\n", r->replica, r->server, r->node, r->reason);
    }
    for (i = 0; i < mcphub_plan_create_count(p); i++) {
        const mcphub_plan_create *c = mcphub_plan_create_at(p, i);

        printf("create %s on %s (score %.1f)\n", c->server, c->node, c->score);
    }
    for (i = 0; i < mcphub_plan_shortfall_count(p); i++) {
        const mcphub_plan_shortfall *s = mcphub_plan_shortfall_at(p, i);

        printf("shortfall %s: %s\n", s->server, s->reason);
    }
    if (mcphub_plan_remove_count(p) + mcphub_plan_create_count(p) +
        mcphub_plan_shortfall_count(p) == 0)
        printf("nothing to do\n");
}

static int print_json(const mcphub_plan *p)
{
    json_t *root = json_pack("{s:[], s:[], s:[]}", "create", "remove", "shortfall");
    size_t i;
    int rc = 0;

    for (i = 0; root != NULL && i < mcphub_plan_create_count(p); i++) {
        const mcphub_plan_create *c = mcphub_plan_create_at(p, i);

        rc |= json_array_append_new(json_object_get(root, "create"),
                                    json_pack("{s:s, s:s, s:f}", "server", c->server,
                                              "node", c->node, "score", c->score));
    }
    for (i = 0; root != NULL && i < mcphub_plan_remove_count(p); i++) {
        const mcphub_plan_remove *r = mcphub_plan_remove_at(p, i);

        rc |= json_array_append_new(json_object_get(root, "remove"),
                                    json_pack("{s:s, s:s, s:s, s:s}", "replica", r->replica,
                                              "server", r->server, "node", r->node,
                                              "reason", r->reason));
    }
    for (i = 0; root != NULL && i < mcphub_plan_shortfall_count(p); i++) {
        const mcphub_plan_shortfall *s = mcphub_plan_shortfall_at(p, i);

        rc |= json_array_append_new(json_object_get(root, "shortfall"),
                                    json_pack("{s:s, s:I, s:I, s:s}", "server", s->server,
                                              "desired", (json_int_t)s->desired,
                                              "placed", (json_int_t)s->placed,
                                              "reason", s->reason));
    }
    if (root == NULL || rc != 0 || json_dumpf(root, stdout, JSON_INDENT(2)) != 0)
        rc = -1;
    else
        putchar('\n');
    json_decref(root);
    return rc;
}

static json_t *get_array(json_t *root, const char *key, int *rc)
{
    json_t *a = json_object_get(root, key);

    if (a != NULL && !json_is_array(a)) {
        fprintf(stderr, "scheduler-plan: %s: %s: expected an array\n", file, key);
        *rc = 2;
    }
    return a;
}

int main(int argc, char **argv)
{
    json_t *root, *jn, *jr, *js, *seen[3];
    json_error_t err;
    mcphub_sched_node *nodes = NULL;
    mcphub_sched_replica *reps = NULL;
    mcphub_replica_config *cfgs = NULL;
    mcphub_sched_input in;
    mcphub_plan *plan = NULL;
    int as_json = argc == 3 && strcmp(argv[1], "--json") == 0, rc = 0;
    size_t i;
    FILE *f;

    if (argc != 2 + as_json || argv[1 + as_json][0] == '-') {
        fprintf(stderr, "usage: scheduler-plan [--json] FILE.json\n");
        return 2;
    }
    file = argv[1 + as_json];
    if ((f = fopen(file, "r")) == NULL) {
        perror(file);
        return 2;
    }
    root = json_loadf(f, 0, &err);
    fclose(f);
    if (root == NULL || !json_is_object(root)) {
        fprintf(stderr, "scheduler-plan: %s:%d:%d: %s\n", file, err.line, err.column,
                root == NULL ? err.text : "expected a JSON object");
        json_decref(root);
        return 2;
    }
    jn = get_array(root, "nodes", &rc);
    jr = get_array(root, "replicas", &rc);
    js = get_array(root, "servers", &rc);
    memset(&in, 0, sizeof in);
    in.size = sizeof in;
    in.nodes_len = json_array_size(jn);
    in.replicas_len = json_array_size(jr);
    in.configs_len = json_array_size(js);
    in.nodes = nodes = calloc(in.nodes_len + 1, sizeof *nodes);
    in.replicas = reps = calloc(in.replicas_len + 1, sizeof *reps);
    in.configs = cfgs = calloc(in.configs_len + 1, sizeof *cfgs);
    for (i = 0; i < 3; i++)
        seen[i] = json_object(); /* ids met so far, to name duplicates */
    if (nodes == NULL || reps == NULL || cfgs == NULL || !seen[0] || !seen[1] || !seen[2])
        rc = 1;
    if (rc == 0)
        rc = read_nodes(jn, nodes, seen[0]);
    if (rc == 0)
        rc = read_replicas(jr, reps, seen[1]);
    if (rc == 0)
        rc = read_servers(js, cfgs, seen[2]);
    if (rc == 0) {
        int e = mcphub_scheduler_plan(&plan, &in, NULL);

        if (e != 0) {
            fprintf(stderr, "scheduler-plan: %s: %s\n", file, mcphub_strerror(e));
            rc = e == MCPHUB_E_NOMEM ? 1 : 2;
        }
    }
    if (rc == 0) {
        if (as_json)
            rc = print_json(plan) != 0 ? 1 : 0;
        else
            print_text(plan);
    }
    mcphub_plan_free(plan);
    for (i = 0; cfgs != NULL && i < in.configs_len; i++) {
        free((void *)cfgs[i].node_ids);
        free((void *)cfgs[i].exclude_node_ids);
    }
    free(nodes);
    free(reps);
    free(cfgs);
    for (i = 0; i < 3; i++)
        json_decref(seen[i]);
    json_decref(root);
    return rc;
}
