/* Fuzz target: the settings file (config.h) — mcphub_config_parse, then
 * mcphub_config_set and mcphub_config_apply_env with keys and values from
 * the input, validation, every getter, and ${VAR} expansion.
 *
 * Input: the settings text, optionally followed by a NUL byte and lines
 * "key=value" (a key in capitals is an environment variable instead).
 * Checked: a failed set, apply_env or load changes nothing (a dump of the
 * settings and servers before and after must match); each server's
 * canonical JSON, added to an empty config, is accepted and comes back the
 * same; the find functions return what the at functions list. */
#include <ctype.h>

#include <jansson.h>

#include <mcphub/config.h>

#include "fuzz_util.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sput(sbuf *b, const char *s)
{
    size_t n;

    if (s == NULL)
        s = "(null)";
    n = strlen(s) + 1; /* with a separator */
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        FUZZ_CHECK(p != NULL);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n - 1);
    b->p[b->len + n - 1] = '|';
    b->len += n;
    b->p[b->len] = '\0';
}

static void sputu(sbuf *b, unsigned long long v)
{
    char t[32];

    snprintf(t, sizeof t, "%llu", v);
    sput(b, t);
}

/* Everything a caller can read, as one string. */
static char *dump(const mcphub_config *cfg)
{
    sbuf b = {NULL, 0, 0};
    const mcphub_cluster_settings *c = mcphub_config_cluster(cfg);
    const mcphub_routing_settings *r = mcphub_config_routing(cfg);
    size_t i, j;

    sputu(&b, (unsigned)c->enabled);
    sputu(&b, (unsigned)c->mode);
    sput(&b, c->node_id);
    sput(&b, c->token);
    sputu(&b, c->default_replicas);
    sput(&b, c->master.host);
    sputu(&b, c->master.port);
    sputu(&b, c->master.heartbeat_interval_ms);
    sputu(&b, c->master.heartbeat_timeout_ms);
    sputu(&b, c->master.unhealthy_threshold);
    sputu(&b, c->master.healthy_threshold);
    sputu(&b, c->master.health_check_interval_ms);
    sputu(&b, c->master.health_check_timeout_ms);
    sputu(&b, c->master.session_ttl_ms);
    sputu(&b, c->master.reconcile_interval_ms);
    sput(&b, c->master.state_dir);
    sput(&b, c->worker.master_url);
    sput(&b, c->worker.advertise_host);
    sputu(&b, c->worker.advertise_port);
    sputu(&b, c->worker.max_servers);
    sputu(&b, c->worker.weight);
    sputu(&b, (unsigned)c->lb_strategy);
    sput(&b, c->tls.cert);
    sput(&b, c->tls.key);
    sput(&b, c->tls.ca);
    sputu(&b, (unsigned)r->enable_global_route);
    sputu(&b, (unsigned)r->enable_group_name_route);
    sputu(&b, (unsigned)r->enable_bearer_auth);
    sput(&b, r->bearer_auth_header_name);
    sputu(&b, r->json_body_limit);
    sputu(&b, (unsigned)r->skip_auth);
    sput(&b, r->name_separator);
    for (i = 0; i < mcphub_config_server_count(cfg); i++) {
        const mcphub_server_def *d = mcphub_config_server_at(cfg, i);

        sput(&b, d->name);
        sput(&b, d->json);
        sputu(&b, d->replicas);
        sputu(&b, (unsigned)d->type);
    }
    for (i = 0; i < mcphub_config_group_count(cfg); i++) {
        const mcphub_group_def *g = mcphub_config_group_at(cfg, i);

        sput(&b, g->id);
        sput(&b, g->name);
        for (j = 0; j < g->members_len; j++)
            sput(&b, g->members[j].server);
    }
    for (i = 0; i < mcphub_config_key_count(cfg); i++)
        sput(&b, mcphub_config_key_at(cfg, i)->id);
    if (b.p == NULL)
        sput(&b, "");
    return b.p;
}

static const char *lookup(const char *name, void *ud)
{
    (void)ud;
    if (name[0] == 'H')
        return "/home/fuzz";
    if (name[0] == 'L')
        return "${LOOP}$LOOP";
    return NULL;
}

static void expand(const char *s)
{
    char *out = NULL;
    int rc = mcphub_expand_vars(s, lookup, NULL, &out, NULL);

    if (rc == 0) {
        FUZZ_CHECK(out != NULL);
        free(out);
    } else {
        FUZZ_CHECK(out == NULL);
        FUZZ_CHECK(rc == MCPHUB_E_TOOBIG || rc == MCPHUB_E_NOMEM);
    }
}

static void getters(const mcphub_config *cfg)
{
    size_t i, j, n = mcphub_config_server_count(cfg);

    FUZZ_CHECK(mcphub_config_server_at(cfg, n) == NULL);
    for (i = 0; i < n; i++) {
        const mcphub_server_def *d = mcphub_config_server_at(cfg, i);
        mcphub_config *one = NULL;
        mcphub_config_error err;
        json_t *v;

        FUZZ_CHECK(d != NULL && d->name != NULL && d->json != NULL);
        FUZZ_CHECK(mcphub_config_server_find(cfg, d->name) == d);
        FUZZ_CHECK(mcphub_config_server_json(cfg, d->name) == d->json);
        FUZZ_CHECK(strcmp(mcphub_server_type_name(d->type), "unknown") != 0);
        v = json_loads(d->json, 0, NULL);
        FUZZ_CHECK(json_is_object(v));
        json_decref(v);
        for (j = 0; j < d->tools_len; j++)
            FUZZ_CHECK(mcphub_config_tool_find(cfg, d->name, d->tools[j].name) != NULL);
        for (j = 0; j < d->args_len; j++)
            expand(d->args[j]);
        for (j = 0; j < d->env_len; j++)
            expand(d->env[j].value);
        if (d->command != NULL)
            expand(d->command);
        /* the canonical JSON is accepted again, and stays canonical */
        FUZZ_CHECK(mcphub_config_new_empty(&one, NULL, NULL) == 0);
        if (d->name[0] != '\0') {
            int rc = mcphub_config_add_server_json(one, d->name, d->json, &err);

            if (rc != 0)
                fprintf(stderr, "re-adding %s %s: %s\n", d->name, d->json, err.text);
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(strcmp(mcphub_config_server_json(one, d->name), d->json) == 0);
            FUZZ_CHECK(mcphub_config_remove_server(one, d->name) == 0);
            FUZZ_CHECK(mcphub_config_server_count(one) == 0);
        }
        mcphub_config_free(one);
    }
    n = mcphub_config_group_count(cfg);
    FUZZ_CHECK(mcphub_config_group_at(cfg, n) == NULL);
    for (i = 0; i < n; i++) {
        const mcphub_group_def *g = mcphub_config_group_at(cfg, i);

        FUZZ_CHECK(g != NULL && g->id != NULL && g->name != NULL);
        FUZZ_CHECK(mcphub_config_group_find(cfg, g->name) != NULL);
        FUZZ_CHECK(mcphub_config_group_find(cfg, g->id) != NULL);
        for (j = 0; j < g->members_len; j++)
            FUZZ_CHECK(mcphub_config_server_find(cfg, g->members[j].server) != NULL);
    }
    n = mcphub_config_key_count(cfg);
    FUZZ_CHECK(mcphub_config_key_at(cfg, n) == NULL);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(mcphub_config_key_at(cfg, i)->token != NULL);
    n = mcphub_config_warning_count(cfg);
    FUZZ_CHECK(n <= 64);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(mcphub_config_warning_at(cfg, i) != NULL);
    FUZZ_CHECK(mcphub_config_warning_at(cfg, n) == NULL);
}

/* A call that fails must change nothing. */
#define UNCHANGED_ON_FAILURE(cfg, call)                              \
    do {                                                             \
        char *before_ = dump(cfg), *after_;                          \
        int rc_ = (call);                                            \
        after_ = dump(cfg);                                          \
        if (rc_ != 0)                                                \
            FUZZ_CHECK(strcmp(before_, after_) == 0);                \
        free(before_);                                               \
        free(after_);                                                \
    } while (0)

static const char base_settings[] =
    "{\"mcpServers\":{\"fetch\":{\"command\":\"uvx\",\"args\":[\"mcp-server-fetch\"],"
    "\"replicas\":2},\"time\":{\"type\":\"sse\",\"url\":\"http://h/sse\"}},"
    "\"groups\":[{\"name\":\"g\",\"servers\":[\"fetch\"]}],"
    "\"cluster\":{\"enabled\":true,\"token\":\"t\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t text_len = nul != NULL ? (size_t)(nul - data) : size;
    mcphub_config *cfg = NULL, *base = NULL;
    mcphub_config_error err;
    char *envp[9];
    size_t nenv = 0, pos, len, i;
    const char *line;
    int rc;

    rc = mcphub_config_parse(&cfg, (const char *)data, text_len, NULL, &err);
    if (rc != 0) {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(err.text[0] != '\0');
    }

    /* loading into a config that holds something: all or nothing */
    FUZZ_CHECK(mcphub_config_parse(&base, base_settings, sizeof base_settings - 1, NULL,
                                   NULL) == 0);
    UNCHANGED_ON_FAILURE(base, mcphub_config_load(base, (const char *)data, text_len, &err));
    if (cfg == NULL)
        cfg = base, base = NULL;
    getters(cfg);

    /* the trailer: key=value lines */
    pos = nul != NULL ? text_len + 1 : size;
    while (fuzz_next_line(data, size, &pos, &line, &len)) {
        const char *eq = memchr(line, '=', len);
        char *key, *value;

        if (eq == NULL)
            continue;
        key = fuzz_strndup(line, (size_t)(eq - line));
        value = fuzz_strndup(eq + 1, len - (size_t)(eq - line) - 1);
        if (key != NULL && value != NULL && key[0] != '\0' &&
            isupper((unsigned char)key[0])) {
            if (nenv < 8)
                envp[nenv++] = fuzz_strndup(line, len);
        } else if (key != NULL && value != NULL) {
            UNCHANGED_ON_FAILURE(cfg, mcphub_config_set(cfg, key, value, &err));
        }
        free(key);
        free(value);
    }
    envp[nenv] = NULL;
    if (nenv > 0)
        UNCHANGED_ON_FAILURE(cfg, mcphub_config_apply_env(cfg, (const char *const *)envp, &err));
    for (i = 0; i < nenv; i++)
        free(envp[i]);

    (void)mcphub_config_validate(cfg, &err);
    getters(cfg);
    mcphub_config_free(cfg);
    mcphub_config_free(base);
    return 0;
}
