/* mcphub-masterd: the cluster's front door.  MCP clients connect here; the
 * master places replicas on workers, routes every request to a healthy
 * replica and serves the cluster API.  Everything but the command line
 * lives in the library (mcphub_master). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mcphub/loop.h>
#include <mcphub/master.h>
#include <mcphub/version.h>

#include "common/log.h"
#include "common/random.h"
#include "common/settings.h"
#include "masterd/dashboard.h"

#define PROG "mcphub-masterd"

typedef struct daemon_state {
    mcphub_master *master;
    mcphub_config *config;
    const char *path;
    daemon_setting *flags;
    size_t nflags;
} daemon_state;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [-c mcp_settings.json] [--host H] [--port P] [--node-id ID]\n"
            "       [--token T] [--state-dir DIR] [--tls-cert F --tls-key F] [--tls-ca F]\n"
            "       [--allow-origin URL]... [-v|-q] [--help] [--version]\n"
            "\n"
            "Serves MCP clients on /mcp[/:group] (Streamable HTTP) and /sse[/:group]\n"
            "(legacy SSE), the cluster API on /api/cluster, MCPHub's /api/servers and\n"
            "/api/tools/call, /health, /metrics and the dashboard on /.  With\n"
            "CLUSTER_ENABLED=false (the default) it runs every enabled server itself.\n"
            "\n"
            "  -c, --config FILE     settings file (default $MCPHUB_SETTING_PATH or\n"
            "                        ./mcp_settings.json)\n"
            "      --host H          listen address (cluster.master.host; default 0.0.0.0)\n"
            "      --port P          listen port (PORT; default 3000)\n"
            "      --node-id ID      this node's id (CLUSTER_NODE_ID; default: host name)\n"
            "      --token T         cluster token workers must send (CLUSTER_TOKEN)\n"
            "      --state-dir DIR   where desired state is kept (CLUSTER_STATE_DIR)\n"
            "      --tls-cert F, --tls-key F   serve HTTPS (CLUSTER_TLS_CERT / _KEY)\n"
            "      --tls-ca F        CA bundle to verify https workers (CLUSTER_TLS_CA)\n"
            "      --allow-origin U  accept browser requests only from these origins\n"
            "  -v, --verbose         debug logs;  -q, --quiet: warnings and errors only\n"
            "                        (or MCPHUB_LOG_LEVEL=debug|info|warn|error)\n"
            "\n"
            "Flags override the environment, which overrides the file.  SIGHUP reloads\n"
            "the settings file; SIGTERM stops.  See mcphub-masterd(8), mcp_settings.json(5).\n");
}

static int on_term(mcphub_loop *loop, int signo, void *user_data)
{
    daemon_state *d = user_data;

    (void)loop;
    daemon_logf(MCPHUB_LOG_INFO, "signal name=%s", signo == SIGTERM ? "TERM" : "INT");
    mcphub_master_shutdown(d->master);
    return 0;
}

static int on_hup(mcphub_loop *loop, int signo, void *user_data)
{
    daemon_state *d = user_data;
    mcphub_config *cfg;
    char *loaded = NULL;

    (void)loop;
    (void)signo;
    cfg = daemon_settings_load(PROG, d->path, d->flags, d->nflags, &loaded);
    free(loaded);
    if (cfg == NULL) {
        daemon_logf(MCPHUB_LOG_ERROR, "reload_failed reason=\"see the message above; keeping "
                                      "the running settings\"");
        return 0;
    }
    if (mcphub_master_reload(d->master, cfg) != 0) {
        daemon_logf(MCPHUB_LOG_ERROR, "reload_failed reason=\"%s\"",
                    mcphub_master_errmsg(d->master));
    }
    mcphub_config_free(d->config); /* the master now reads the new one */
    d->config = cfg;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'}, {"node-id", required_argument, NULL, 'n'},
        {"token", required_argument, NULL, 't'}, {"state-dir", required_argument, NULL, 's'},
        {"tls-cert", required_argument, NULL, 'C'}, {"tls-key", required_argument, NULL, 'K'},
        {"tls-ca", required_argument, NULL, 'a'}, {"allow-origin", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    daemon_setting flags[16];
    const char *origins[32], *lvl = getenv("MCPHUB_LOG_LEVEL");
    size_t norigins = 0;
    char *loaded = NULL, *cert = NULL, *key = NULL, host[256];
    int c, rc = 1;
    const mcphub_cluster_settings *cs;
    mcphub_loop *loop = NULL;
    mcphub_master_opts mo;
    daemon_state d;

    memset(&d, 0, sizeof d);
    d.flags = flags;
    if (lvl != NULL && daemon_log_parse_level(lvl) >= 0)
        daemon_log_set_level((mcphub_log_level)daemon_log_parse_level(lvl));
    while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
        const char *key_of = NULL;

        switch (c) {
        case 'c': d.path = optarg; break;
        case 'H': key_of = "cluster.master.host"; break;
        case 'p': key_of = "port"; break;
        case 'n': key_of = "cluster.nodeId"; break;
        case 't': key_of = "cluster.token"; break;
        case 's': key_of = "cluster.master.stateDir"; break;
        case 'C': key_of = "cluster.tls.cert"; break;
        case 'K': key_of = "cluster.tls.key"; break;
        case 'a': key_of = "cluster.tls.ca"; break;
        case 'o':
            if (norigins < sizeof origins / sizeof origins[0])
                origins[norigins++] = optarg;
            break;
        case 'v': daemon_log_set_level(MCPHUB_LOG_DEBUG); break;
        case 'q': daemon_log_set_level(MCPHUB_LOG_WARN); break;
        case 'h': usage(stdout); return 0;
        case 'V': printf(PROG " %s (libmcphub-cluster %s)\n", MCPHUB_VERSION_STRING,
                         mcphub_version()); return 0;
        default: usage(stderr); return 2;
        }
        if (key_of != NULL && d.nflags < sizeof flags / sizeof flags[0] - 1) {
            flags[d.nflags].key = key_of;
            flags[d.nflags++].value = optarg;
        }
    }
    if (optind != argc) {
        fprintf(stderr, PROG ": unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (mcphub_version_num() != MCPHUB_VERSION_NUM) {
        fprintf(stderr, PROG ": built for libmcphub-cluster %s but runs %s\n",
                MCPHUB_VERSION_STRING, mcphub_version());
        return 2;
    }
    flags[d.nflags].key = "cluster.mode"; /* a master is a master */
    flags[d.nflags++].value = "master";
    d.config = daemon_settings_load(PROG, d.path, flags, d.nflags, &loaded);
    if (d.config == NULL)
        return 2;
    cs = mcphub_config_cluster(d.config);
    if ((cs->node_id == NULL || *cs->node_id == '\0') && gethostname(host, sizeof host) == 0)
        mcphub_config_set(d.config, "cluster.nodeId", host, NULL);
    if (cs->enabled && (cs->token == NULL || *cs->token == '\0'))
        daemon_logf(MCPHUB_LOG_WARN, "no_cluster_token hint=\"any process that can reach this "
                                     "port can register as a worker: set CLUSTER_TOKEN\"");
    if (daemon_read_tls(PROG, d.config, &cert, &key) != 0) {
        rc = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (mcphub_loop_new(&loop, NULL, NULL) != 0) {
        fprintf(stderr, PROG ": cannot create the event loop\n");
        goto out;
    }
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.loop = loop;
    mo.config = d.config;
    mo.tls_cert_pem = cert;
    mo.tls_key_pem = key;
    mo.tls_ca_file = cs->tls.ca && *cs->tls.ca ? cs->tls.ca : NULL;
    mo.allowed_origins = origins;
    mo.allowed_origins_len = norigins;
    mo.dashboard_html = masterd_dashboard_html;
    mo.dashboard_len = masterd_dashboard_len;
    mo.random = daemon_random;
    mo.log = daemon_log;
    if (mcphub_master_new(&d.master, &mo, NULL) != 0 || mcphub_master_start(d.master) != 0) {
        fprintf(stderr, PROG ": %s\n", d.master ? mcphub_master_errmsg(d.master) : "out of memory");
        rc = d.master && *mcphub_master_errmsg(d.master) && strstr(mcphub_master_errmsg(d.master), "state") ? 2 : 1;
        goto out;
    }
    daemon_logf(MCPHUB_LOG_INFO, "masterd_start version=%s settings=%s node=%s port=%u cluster=%d",
                MCPHUB_VERSION_STRING, loaded ? loaded : "(defaults)", cs->node_id,
                (unsigned)mcphub_master_port(d.master), cs->enabled);
    mcphub_loop_signal_add(loop, NULL, SIGTERM, on_term, &d);
    mcphub_loop_signal_add(loop, NULL, SIGINT, on_term, &d);
    mcphub_loop_signal_add(loop, NULL, SIGHUP, on_hup, &d);
    while (!mcphub_master_stopped(d.master))
        if (mcphub_loop_run_once(loop, 1000) < 0)
            break;
    daemon_logf(MCPHUB_LOG_INFO, "masterd_exit");
    rc = 0;
out:
    mcphub_master_free(d.master);
    mcphub_loop_free(loop);
    mcphub_config_free(d.config);
    free(loaded);
    free(cert);
    free(key);
    return rc;
}
