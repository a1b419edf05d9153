/* Version, error text and enum names shared by every module. */
#include <string.h>

#include "mcphub/common.h"
#include "mcphub/types.h"
#include "mcphub/version.h"

MCPHUB_API const char *mcphub_version(void)
{
    return MCPHUB_VERSION_STRING;
}

MCPHUB_API unsigned mcphub_version_num(void)
{
    return MCPHUB_VERSION_NUM;
}

MCPHUB_API const char *mcphub_strerror(int code)
{
    switch (code) {
    case MCPHUB_OK: return "success";
    case MCPHUB_E_INVAL: return "invalid argument";
    case MCPHUB_E_NOMEM: return "out of memory";
    case MCPHUB_E_NOTFOUND: return "not found";
    case MCPHUB_E_EXISTS: return "already exists";
    case MCPHUB_E_FULL: return "limit reached";
    case MCPHUB_E_PARSE: return "malformed message";
    case MCPHUB_E_UNAVAILABLE: return "no healthy replica or node available";
    case MCPHUB_E_WOULDBLOCK: return "operation would block";
    case MCPHUB_E_DEFERRED: return "operation deferred";
    case MCPHUB_E_TOOBIG: return "message too big";
    case MCPHUB_E_STATE: return "not allowed in the current state";
    case MCPHUB_E_REFUSED: return "the peer refused the request";
    case MCPHUB_E_FATAL: return "fatal error";
    case MCPHUB_E_CALLBACK: return "callback failed";
    default: return "unknown error";
    }
}

MCPHUB_API int mcphub_secret_equal(const char *a, const char *b)
{
    size_t i, la, lb;
    unsigned char diff;

    if (a == NULL || b == NULL)
        return 0;
    la = strlen(a);
    lb = strlen(b);
    diff = (unsigned char)(la != lb);
    /* Walk all of b; read a only inside its own length. */
    for (i = 0; i < lb; i++)
        diff |= (unsigned char)((unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

/* One table per enum: wire name by value, value by name. */
typedef struct { int value; const char *name; } name_entry;

static const name_entry node_status_names[] = {
    {MCPHUB_NODE_ONLINE, "online"},
    {MCPHUB_NODE_UNHEALTHY, "unhealthy"},
    {MCPHUB_NODE_OFFLINE, "offline"},
};
static const name_entry role_names[] = {
    {MCPHUB_ROLE_MASTER, "master"},
    {MCPHUB_ROLE_WORKER, "worker"},
};
static const name_entry replica_status_names[] = {
    {MCPHUB_REPLICA_PENDING, "pending"},
    {MCPHUB_REPLICA_STARTING, "starting"},
    {MCPHUB_REPLICA_RUNNING, "running"},
    {MCPHUB_REPLICA_ERROR, "error"},
    {MCPHUB_REPLICA_STOPPED, "stopped"},
    {MCPHUB_REPLICA_TERMINATED, "terminated"},
};
static const name_entry strategy_names[] = {
    {MCPHUB_LB_ROUND_ROBIN, "round-robin"},
    {MCPHUB_LB_LEAST_CONNECTIONS, "least-connections"},
    {MCPHUB_LB_WEIGHTED, "weighted"},
    {MCPHUB_LB_RANDOM, "random"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const name_entry *t, size_t n, int v)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (t[i].value == v)
            return t[i].name;
    return "unknown";
}

static int value_of(const name_entry *t, size_t n, const char *name, int *out)
{
    size_t i;

    if (name == NULL)
        return MCPHUB_E_INVAL;
    for (i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) {
            *out = t[i].value;
            return 0;
        }
    return MCPHUB_E_INVAL;
}

MCPHUB_API const char *mcphub_node_status_name(mcphub_node_status s)
{
    return name_of(node_status_names, COUNT(node_status_names), (int)s);
}

MCPHUB_API const char *mcphub_node_role_name(mcphub_node_role r)
{
    return name_of(role_names, COUNT(role_names), (int)r);
}

MCPHUB_API const char *mcphub_replica_status_name(mcphub_replica_status s)
{
    return name_of(replica_status_names, COUNT(replica_status_names), (int)s);
}

MCPHUB_API const char *mcphub_lb_strategy_name(mcphub_lb_strategy s)
{
    return name_of(strategy_names, COUNT(strategy_names), (int)s);
}

MCPHUB_API int mcphub_node_status_parse(const char *name, mcphub_node_status *out)
{
    int v = 0, rc = value_of(node_status_names, COUNT(node_status_names), name, &v);

    if (rc == 0)
        *out = (mcphub_node_status)v;
    return rc;
}

MCPHUB_API int mcphub_node_role_parse(const char *name, mcphub_node_role *out)
{
    int v = 0, rc = value_of(role_names, COUNT(role_names), name, &v);

    if (rc == 0)
        *out = (mcphub_node_role)v;
    return rc;
}

MCPHUB_API int mcphub_replica_status_parse(const char *name, mcphub_replica_status *out)
{
    int v = 0, rc = value_of(replica_status_names, COUNT(replica_status_names), name, &v);

    if (rc == 0)
        *out = (mcphub_replica_status)v;
    return rc;
}

MCPHUB_API int mcphub_lb_strategy_parse(const char *name, mcphub_lb_strategy *out)
{
    int v = 0, rc = value_of(strategy_names, COUNT(strategy_names), name, &v);

    if (rc == 0)
        *out = (mcphub_lb_strategy)v;
    return rc;
}
