/* Scalar settings (routing and cluster) and their three layers.  One table
 * names each setting by its JSON path, its kind and its field; the file
 * reader, mcphub_config_set and the CLUSTER_* environment all go through it
 * (environment variable -> key -> field parser). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

typedef enum {
    K_BOOL,        /* int */
    K_TRIBOOL,     /* int, -1 until given */
    K_MS,          /* uint64_t milliseconds, 0 allowed */
    K_MS_POS,      /* uint64_t milliseconds, > 0 */
    K_UINT,        /* uint32_t */
    K_UINT_POS,    /* uint32_t, > 0 */
    K_PORT,        /* uint32_t; range checked by validate */
    K_STR,         /* const char *, owned */
    K_STR_NONEMPTY,
    K_ROLE,        /* mcphub_node_role */
    K_STRATEGY,    /* mcphub_lb_strategy */
    K_BYTES        /* uint64_t, "1mb" or a number */
} kind;

typedef struct setting {
    const char *key;
    kind k;
    int secret;    /* never quote the value in messages */
    size_t off;    /* in mcphub__cfg_settings */
    uint64_t max;  /* 0: the kind's own */
} setting;

#define F(field) offsetof(mcphub__cfg_settings, field)

static const setting table[] = {
    {"cluster.enabled", K_BOOL, 0, F(cluster.enabled), 0},
    {"cluster.mode", K_ROLE, 0, F(cluster.mode), 0},
    {"cluster.nodeId", K_STR, 0, F(cluster.node_id), 0},
    {"cluster.token", K_STR, 1, F(cluster.token), 0},
    {"cluster.defaultReplicas", K_UINT, 0, F(cluster.default_replicas), 65535},
    {"cluster.master.host", K_STR, 0, F(cluster.master.host), 0},
    {"cluster.master.port", K_PORT, 0, F(cluster.master.port), 0},
    {"cluster.master.heartbeatInterval", K_MS_POS, 0, F(cluster.master.heartbeat_interval_ms), 0},
    {"cluster.master.heartbeatTimeout", K_MS_POS, 0, F(cluster.master.heartbeat_timeout_ms), 0},
    {"cluster.master.unhealthyThreshold", K_UINT_POS, 0, F(cluster.master.unhealthy_threshold), 1000},
    {"cluster.master.healthyThreshold", K_UINT_POS, 0, F(cluster.master.healthy_threshold), 1000},
    {"cluster.master.healthCheckInterval", K_MS, 0, F(cluster.master.health_check_interval_ms), 0},
    {"cluster.master.healthCheckTimeout", K_MS_POS, 0, F(cluster.master.health_check_timeout_ms), 0},
    {"cluster.master.sessionTtl", K_MS_POS, 0, F(cluster.master.session_ttl_ms), 0},
    {"cluster.master.reconcileInterval", K_MS_POS, 0, F(cluster.master.reconcile_interval_ms), 0},
    {"cluster.master.stateDir", K_STR, 0, F(cluster.master.state_dir), 0},
    {"cluster.worker.masterUrl", K_STR, 0, F(cluster.worker.master_url), 0},
    {"cluster.worker.advertiseHost", K_STR, 0, F(cluster.worker.advertise_host), 0},
    {"cluster.worker.advertisePort", K_PORT, 0, F(cluster.worker.advertise_port), 0},
    {"cluster.worker.maxServers", K_UINT, 0, F(cluster.worker.max_servers), 0},
    {"cluster.worker.weight", K_UINT_POS, 0, F(cluster.worker.weight), 1000000},
    {"cluster.loadBalancing.strategy", K_STRATEGY, 0, F(cluster.lb_strategy), 0},
    {"cluster.tls.cert", K_STR, 0, F(cluster.tls.cert), 0},
    {"cluster.tls.key", K_STR, 0, F(cluster.tls.key), 0},
    {"cluster.tls.ca", K_STR, 0, F(cluster.tls.ca), 0},
    {"systemConfig.routing.enableGlobalRoute", K_BOOL, 0, F(routing.enable_global_route), 0},
    {"systemConfig.routing.enableGroupNameRoute", K_BOOL, 0, F(routing.enable_group_name_route), 0},
    {"systemConfig.routing.enableBearerAuth", K_TRIBOOL, 0, F(bearer_auth), 0},
    {"systemConfig.routing.bearerAuthHeaderName", K_STR_NONEMPTY, 0,
     F(routing.bearer_auth_header_name), 0},
    {"systemConfig.routing.jsonBodyLimit", K_BYTES, 0, F(routing.json_body_limit), 0},
    {"systemConfig.routing.skipAuth", K_BOOL, 0, F(routing.skip_auth), 0},
    {"systemConfig.nameSeparator", K_STR_NONEMPTY, 0, F(routing.name_separator), 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Other names of a key.  In the file, the cluster.* aliases are a shorthand
 * that the full path overrides. */
static const struct alias { const char *alias, *key; } aliases[] = {
    {"port", "cluster.master.port"},
    {"cluster.heartbeatInterval", "cluster.master.heartbeatInterval"},
    {"cluster.heartbeatTimeout", "cluster.master.heartbeatTimeout"},
};

/* Applied in this order, so CLUSTER_MODE wins over its alias CLUSTER_ROLE. */
static const struct env_var { const char *name, *key; } env_vars[] = {
    {"CLUSTER_ENABLED", "cluster.enabled"},
    {"CLUSTER_ROLE", "cluster.mode"},
    {"CLUSTER_MODE", "cluster.mode"},
    {"CLUSTER_NODE_ID", "cluster.nodeId"},
    {"CLUSTER_TOKEN", "cluster.token"},
    {"CLUSTER_DEFAULT_REPLICAS", "cluster.defaultReplicas"},
    {"PORT", "cluster.master.port"},
    {"CLUSTER_HEARTBEAT_INTERVAL", "cluster.master.heartbeatInterval"},
    {"CLUSTER_HEARTBEAT_TIMEOUT", "cluster.master.heartbeatTimeout"},
    {"CLUSTER_UNHEALTHY_THRESHOLD", "cluster.master.unhealthyThreshold"},
    {"CLUSTER_HEALTHY_THRESHOLD", "cluster.master.healthyThreshold"},
    {"CLUSTER_HEALTH_CHECK_INTERVAL", "cluster.master.healthCheckInterval"},
    {"CLUSTER_HEALTH_CHECK_TIMEOUT", "cluster.master.healthCheckTimeout"},
    {"CLUSTER_SESSION_TTL", "cluster.master.sessionTtl"},
    {"CLUSTER_RECONCILE_INTERVAL", "cluster.master.reconcileInterval"},
    {"CLUSTER_STATE_DIR", "cluster.master.stateDir"},
    {"CLUSTER_MASTER_URL", "cluster.worker.masterUrl"},
    {"CLUSTER_ADVERTISE_HOST", "cluster.worker.advertiseHost"},
    {"CLUSTER_ADVERTISE_PORT", "cluster.worker.advertisePort"},
    {"CLUSTER_MAX_SERVERS", "cluster.worker.maxServers"},
    {"CLUSTER_WEIGHT", "cluster.worker.weight"},
    {"CLUSTER_LB_STRATEGY", "cluster.loadBalancing.strategy"},
    {"CLUSTER_TLS_CERT", "cluster.tls.cert"},
    {"CLUSTER_TLS_KEY", "cluster.tls.key"},
    {"CLUSTER_TLS_CA", "cluster.tls.ca"},
};

static const setting *find_setting(const char *key)
{
    size_t i;

    for (i = 0; i < COUNT(aliases); i++)
        if (strcmp(key, aliases[i].alias) == 0)
            key = aliases[i].key;
    for (i = 0; i < COUNT(table); i++)
        if (strcmp(key, table[i].key) == 0)
            return &table[i];
    return NULL;
}

/* ---- kinds ---- */

static const char *what(kind k)
{
    switch (k) {
    case K_BOOL:
    case K_TRIBOOL: return "true or false";
    case K_MS: return "a non-negative integer (milliseconds)";
    case K_MS_POS: return "a positive integer (milliseconds)";
    case K_UINT:
    case K_PORT: return "a non-negative integer";
    case K_UINT_POS: return "a positive integer";
    case K_STR: return "a string";
    case K_STR_NONEMPTY: return "a non-empty string";
    case K_ROLE: return "one of master, worker";
    case K_STRATEGY: return "one of round-robin, least-connections, weighted, random";
    case K_BYTES: return "a size such as \"1mb\", \"100kb\" or a number of bytes";
    }
    return "valid";
}

static uint64_t min_of(const setting *s)
{
    return s->k == K_MS_POS || s->k == K_UINT_POS || s->k == K_BYTES ? 1 : 0;
}

static uint64_t max_of(const setting *s)
{
    if (s->max != 0)
        return s->max;
    if (s->k == K_MS || s->k == K_MS_POS)
        return 4294967295u; /* ~49 days */
    if (s->k == K_BYTES)
        return (uint64_t)1 << 40;
    return 4294967295u;
}

static int is_numeric(kind k)
{
    return k == K_MS || k == K_MS_POS || k == K_UINT || k == K_UINT_POS || k == K_PORT;
}

/* A value parsed and allocated, not yet stored: a failed call stores
 * nothing. */
typedef struct staged {
    const setting *s;
    uint64_t u;
    char *str;
} staged;

static int bad_value(mcphub__cfg_ctx *c, const setting *s, const char *name, const char *val)
{
    if (s->secret)
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s must be %s", name, what(s->k));
    return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s (%s) must be %s", name, val, what(s->k));
}

static int bad_text(mcphub__cfg_ctx *c, const setting *s, const char *name, const char *text)
{
    char val[96];

    mcphub__cfg_render_text(text, val, sizeof val);
    return bad_value(c, s, name, val);
}

static int parse_digits(const char *t, uint64_t *out)
{
    uint64_t u = 0;

    if (*t == '\0')
        return -1;
    for (; *t != '\0'; t++) {
        if (*t < '0' || *t > '9' || u > (UINT64_MAX - 9) / 10)
            return -1;
        u = u * 10 + (uint64_t)(*t - '0');
    }
    *out = u;
    return 0;
}

static int parse_bool(const char *t, uint64_t *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(t, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(t, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_role(const char *t, uint64_t *out)
{
    if (strcmp(t, "master") == 0 || strcmp(t, "coordinator") == 0)
        *out = MCPHUB_ROLE_MASTER;
    else if (strcmp(t, "worker") == 0 || strcmp(t, "node") == 0)
        *out = MCPHUB_ROLE_WORKER;
    else
        return -1;
    return 0;
}

static int stage_text(mcphub__cfg_ctx *c, const setting *s, const char *text, const char *name,
                      staged *out)
{
    mcphub_lb_strategy lb = MCPHUB_LB_ROUND_ROBIN;
    uint64_t u = 0;
    int bad = 0;

    out->s = s;
    out->str = NULL;
    switch (s->k) {
    case K_BOOL:
    case K_TRIBOOL: bad = parse_bool(text, &u); break;
    case K_ROLE: bad = parse_role(text, &u); break;
    case K_STRATEGY:
        bad = mcphub_lb_strategy_parse(text, &lb);
        u = (uint64_t)lb;
        break;
    case K_BYTES: bad = mcphub__cfg_parse_size(text, &u); break;
    case K_STR_NONEMPTY:
        bad = text[0] == '\0';
        /* fall through */
    case K_STR:
        if (bad)
            break;
        if (strlen(text) > c->lim->max_string)
            return mcphub__cfg_fail(c, MCPHUB_E_TOOBIG, "%s is longer than %zu bytes", name,
                                    c->lim->max_string);
        out->str = mcphub__strdup(c->mem, text);
        return out->str == NULL ? MCPHUB_E_NOMEM : 0;
    default: bad = parse_digits(text, &u); break;
    }
    if (bad != 0 || u < min_of(s))
        return bad_text(c, s, name, text);
    if ((is_numeric(s->k) || s->k == K_BYTES) && u > max_of(s)) {
        char val[96];

        mcphub__cfg_render_text(text, val, sizeof val);
        return mcphub__cfg_fail(c, MCPHUB_E_INVAL, "%s (%s) must be at most %llu", name, val,
                                (unsigned long long)max_of(s));
    }
    out->u = u;
    return 0;
}

static int stage_json(mcphub__cfg_ctx *c, const setting *s, const json_t *v, const char *name,
                      staged *out)
{
    char val[96];
    int b = 0, rc;

    out->s = s;
    out->str = NULL;
    if (s->k == K_BOOL || s->k == K_TRIBOOL) {
        rc = mcphub__cfg_read_bool(c, v, name, &b);
        out->u = (uint64_t)b;
        return rc;
    }
    if (is_numeric(s->k) || (s->k == K_BYTES && !json_is_string(v)))
        return mcphub__cfg_read_uint(c, v, name, min_of(s), max_of(s), what(s->k), &out->u);
    if (json_is_string(v))
        return stage_text(c, s, json_string_value(v), name, out);
    mcphub__cfg_render_json(v, val, sizeof val);
    return bad_value(c, s, name, val);
}

static void staged_free(const mcphub__mem *mem, staged *v)
{
    mcphub__free(mem, v->str);
    v->str = NULL;
}

/* Store; cannot fail. */
static void commit(mcphub__cfg_settings *set, const mcphub__mem *mem, staged *v)
{
    char *field = (char *)set + v->s->off;

    switch (v->s->k) {
    case K_BOOL:
    case K_TRIBOOL: *(int *)(void *)field = (int)v->u; break;
    case K_MS:
    case K_MS_POS:
    case K_BYTES: *(uint64_t *)(void *)field = v->u; break;
    case K_UINT:
    case K_UINT_POS:
    case K_PORT: *(uint32_t *)(void *)field = (uint32_t)v->u; break;
    case K_ROLE: *(mcphub_node_role *)(void *)field = (mcphub_node_role)v->u; break;
    case K_STRATEGY: *(mcphub_lb_strategy *)(void *)field = (mcphub_lb_strategy)v->u; break;
    case K_STR:
    case K_STR_NONEMPTY: {
        const char **p = (const char **)(void *)field;

        mcphub__free(mem, (void *)(uintptr_t)*p);
        *p = v->str;
        v->str = NULL;
        break;
    }
    }
}

/* ---- defaults ---- */

void mcphub__cfg_settings_free(mcphub__cfg_settings *set, const mcphub__mem *mem)
{
    size_t i;

    for (i = 0; i < COUNT(table); i++) {
        if (table[i].k == K_STR || table[i].k == K_STR_NONEMPTY) {
            const char **p = (const char **)(void *)((char *)set + table[i].off);

            mcphub__free(mem, (void *)(uintptr_t)*p);
            *p = NULL;
        }
    }
}

int mcphub__cfg_settings_init(mcphub__cfg_settings *set, const mcphub__mem *mem)
{
    static const struct { const char *key, *value; } strings[] = {
        {"cluster.master.host", "0.0.0.0"},
        {"systemConfig.routing.bearerAuthHeaderName", "Authorization"},
        {"systemConfig.nameSeparator", "-"},
    };
    mcphub_cluster_settings *cl = &set->cluster;
    size_t i, j;

    memset(set, 0, sizeof *set);
    set->routing.enable_global_route = 1;
    set->routing.enable_group_name_route = 1;
    set->routing.json_body_limit = 1024 * 1024;
    set->bearer_auth = -1;
    cl->mode = MCPHUB_ROLE_MASTER;
    cl->default_replicas = 1;
    cl->master.port = 3000;
    cl->master.heartbeat_interval_ms = 5000;
    cl->master.heartbeat_timeout_ms = 15000;
    cl->master.unhealthy_threshold = 3;
    cl->master.healthy_threshold = 2;
    cl->master.health_check_interval_ms = 10000;
    cl->master.health_check_timeout_ms = 3000;
    cl->master.session_ttl_ms = 1800000;
    cl->master.reconcile_interval_ms = 2000;
    cl->worker.weight = 1;
    cl->lb_strategy = MCPHUB_LB_LEAST_CONNECTIONS;
    /* Every string is owned, so replacing one is always a free + store. */
    for (i = 0; i < COUNT(table); i++) {
        const char *def = "";
        const char **p;

        if (table[i].k != K_STR && table[i].k != K_STR_NONEMPTY)
            continue;
        for (j = 0; j < COUNT(strings); j++)
            if (strcmp(strings[j].key, table[i].key) == 0)
                def = strings[j].value;
        p = (const char **)(void *)((char *)set + table[i].off);
        *p = mcphub__strdup(mem, def);
        if (*p == NULL) {
            mcphub__cfg_settings_free(set, mem);
            return MCPHUB_E_NOMEM;
        }
    }
    return 0;
}

/* ---- file layer ---- */

/* The value at the dotted path rel inside obj; *out NULL when absent.  A
 * non-object on the way is an error naming prefix + the part walked. */
static int walk(mcphub__cfg_ctx *c, const json_t *obj, const char *prefix, const char *rel,
                const json_t **out)
{
    char part[64], name[256];
    const char *dot, *start = rel;

    *out = NULL;
    while (obj != NULL) {
        size_t n;

        dot = strchr(rel, '.');
        n = dot != NULL ? (size_t)(dot - rel) : strlen(rel);
        if (n >= sizeof part)
            return 0;
        memcpy(part, rel, n);
        part[n] = '\0';
        obj = json_object_get(obj, part);
        if (obj == NULL || dot == NULL) {
            *out = obj;
            return 0;
        }
        if (!json_is_object(obj)) {
            mcphub__cfg_path(name, sizeof name, "%s.%.*s", prefix, (int)(dot - start), start);
            return mcphub__cfg_bad(c, name, obj, "an object");
        }
        rel = dot + 1;
    }
    return 0;
}

static int apply_json(mcphub__cfg_ctx *c, mcphub__cfg_settings *set, const setting *s,
                      const json_t *section, const char *prefix, const char *rel)
{
    const json_t *v;
    char name[256];
    staged st;
    int rc;

    rc = walk(c, section, prefix, rel, &v);
    if (rc != 0 || v == NULL)
        return rc;
    mcphub__cfg_path(name, sizeof name, "%s.%s", prefix, rel);
    rc = stage_json(c, s, v, name, &st);
    if (rc == 0)
        commit(set, c->mem, &st);
    return rc;
}

static int known_prefix(const char *path)
{
    size_t i, n = strlen(path);

    for (i = 0; i < COUNT(table); i++)
        if (strncmp(table[i].key, path, n) == 0 && table[i].key[n] == '.')
            return 1;
    return 0;
}

/* A typo in the cluster section would silently keep a default. */
static int warn_unknown(mcphub__cfg_doc *d, const json_t *obj, const char *path,
                        const char *shown)
{
    const char *key;
    json_t *v;
    int rc = 0;

    json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
        char p[256], q[256];

        mcphub__cfg_path(p, sizeof p, "%s.%s", path, key);
        mcphub__cfg_path(q, sizeof q, "%s.%s", shown, key);
        if (find_setting(p) != NULL)
            continue;
        if (json_is_object(v) && known_prefix(p))
            rc = warn_unknown(d, v, p, q);
        else
            rc = mcphub__cfg_warn(d, "unknown setting %s ignored", q);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int mcphub__cfg_settings_from_json(mcphub__cfg_ctx *c, mcphub__cfg_settings *set,
                                   mcphub__cfg_doc *d, const json_t *root)
{
    const json_t *sys, *cluster, *top;
    const char *cprefix = "cluster";
    size_t i;
    int rc;

    rc = mcphub__cfg_read_object(c, json_object_get(root, "systemConfig"), "systemConfig", &sys);
    if (rc != 0)
        return rc;
    /* Top level wins over systemConfig.cluster, as a whole section. */
    rc = mcphub__cfg_read_object(c, json_object_get(root, "cluster"), "cluster", &top);
    if (rc != 0)
        return rc;
    cluster = top;
    if (sys != NULL && json_object_get(sys, "cluster") != NULL) {
        if (top != NULL) {
            rc = mcphub__cfg_warn(d, "both cluster and systemConfig.cluster given; "
                                     "systemConfig.cluster ignored");
        } else {
            cprefix = "systemConfig.cluster";
            rc = mcphub__cfg_read_object(c, json_object_get(sys, "cluster"), cprefix, &cluster);
        }
        if (rc != 0)
            return rc;
    }
    /* Shorthands first so that the full paths override them. */
    for (i = 0; i < COUNT(aliases) && cluster != NULL; i++) {
        if (strncmp(aliases[i].alias, "cluster.", 8) != 0)
            continue;
        rc = apply_json(c, set, find_setting(aliases[i].key), cluster, cprefix,
                        aliases[i].alias + 8);
        if (rc != 0)
            return rc;
    }
    for (i = 0; i < COUNT(table); i++) {
        const setting *s = &table[i];

        if (strncmp(s->key, "cluster.", 8) == 0)
            rc = apply_json(c, set, s, cluster, cprefix, s->key + 8);
        else
            rc = apply_json(c, set, s, sys, "systemConfig", s->key + 13);
        if (rc != 0)
            return rc;
    }
    return cluster != NULL ? warn_unknown(d, cluster, "cluster", cprefix) : 0;
}

/* ---- flags and environment ---- */

int mcphub__cfg_settings_set(mcphub__cfg_ctx *c, mcphub__cfg_settings *set, const char *key,
                             const char *value)
{
    const setting *s = find_setting(key);
    staged st;
    int rc;

    if (s == NULL) {
        char k[96];

        mcphub__cfg_render_text(key, k, sizeof k);
        return mcphub__cfg_fail(c, MCPHUB_E_NOTFOUND, "unknown setting %s", k);
    }
    rc = stage_text(c, s, value, key, &st);
    if (rc == 0)
        commit(set, c->mem, &st);
    return rc;
}

static const char *env_get(const char *const *envp, const char *name)
{
    size_t n = strlen(name);

    for (; envp != NULL && *envp != NULL; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

int mcphub__cfg_settings_env(mcphub__cfg_ctx *c, mcphub__cfg_settings *set,
                             const char *const *envp)
{
    staged st[COUNT(env_vars)];
    size_t i, n = 0;
    int rc = 0;

    for (i = 0; i < COUNT(env_vars); i++) {
        const char *v = env_get(envp, env_vars[i].name);

        if (v == NULL || v[0] == '\0')
            continue;
        rc = stage_text(c, find_setting(env_vars[i].key), v, env_vars[i].name, &st[n]);
        if (rc != 0)
            break;
        n++;
    }
    for (i = 0; i < n; i++) {
        if (rc == 0)
            commit(set, c->mem, &st[i]);
        staged_free(c->mem, &st[i]);
    }
    return rc;
}

/* ---- sizes ---- */

int mcphub__cfg_parse_size(const char *s, uint64_t *out)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        {"", 1}, {"b", 1}, {"kb", 1024}, {"mb", 1024 * 1024}, {"gb", 1024 * 1024 * 1024},
        {"tb", (uint64_t)1024 * 1024 * 1024 * 1024},
    };
    uint64_t ip = 0, frac = 0, scale = 1;
    size_t i;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (ip > ((uint64_t)1 << 50))
            return -1;
        ip = ip * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (scale < 1000000) { /* further digits cannot matter */
                frac = frac * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
    }
    while (*s == ' ')
        s++;
    for (i = 0; i < COUNT(units); i++) {
        if (strcasecmp(s, units[i].unit) == 0) {
            uint64_t m = units[i].mult;

            if (ip > (((uint64_t)1 << 62) / m))
                return -1;
            /* Like the bytes package: fractions of a byte are dropped. */
            *out = ip * m + frac * m / scale;
            return 0;
        }
    }
    return -1;
}
