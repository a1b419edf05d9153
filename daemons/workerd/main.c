/* mcphub-workerd: runs MCP servers as replicas and serves them — to the
 * master of a cluster, or standalone.  Everything but the command line
 * lives in the library (mcphub_worker). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mcphub/loop.h>
#include <mcphub/version.h>
#include <mcphub/worker.h>

#include "common/log.h"
#include "common/random.h"
#include "common/settings.h"

#define PROG "mcphub-workerd"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [-c mcp_settings.json] [--standalone] [--host H] [--port P]\n"
            "       [--master-url URL] [--node-id ID] [--token T] [--advertise-host H]\n"
            "       [--advertise-port P] [--max-servers N] [--tls-cert F --tls-key F]\n"
            "       [--tls-ca F] [-v|-q] [--help] [--version]\n"
            "\n"
            "Runs the MCP servers the master assigns (or, with --standalone, every enabled\n"
            "server of the settings file) and serves them on /mcp/:server and /sse/:server.\n"
            "\n"
            "  -c, --config FILE      settings file (default $MCPHUB_SETTING_PATH or\n"
            "                         ./mcp_settings.json)\n"
            "      --standalone       no master: run every enabled server of the file\n"
            "      --host H           listen address (cluster.master.host; default 0.0.0.0)\n"
            "      --port P           listen port (PORT; default 3000)\n"
            "      --master-url URL   the master (CLUSTER_MASTER_URL)\n"
            "      --node-id ID       this node's id (CLUSTER_NODE_ID; default: host name)\n"
            "      --token T          cluster token for X-Cluster-Token (CLUSTER_TOKEN)\n"
            "      --advertise-host H address the master uses to reach us\n"
            "                         (CLUSTER_ADVERTISE_HOST; default 127.0.0.1)\n"
            "      --advertise-port P port the master uses (CLUSTER_ADVERTISE_PORT)\n"
            "      --max-servers N    replicas this node takes (CLUSTER_MAX_SERVERS; 0 = any)\n"
            "      --tls-cert F, --tls-key F   serve HTTPS (CLUSTER_TLS_CERT / _KEY)\n"
            "      --tls-ca F         CA bundle to verify an https master (CLUSTER_TLS_CA)\n"
            "  -v, --verbose          debug logs;  -q, --quiet: warnings and errors only\n"
            "                         (or MCPHUB_LOG_LEVEL=debug|info|warn|error)\n"
            "\n"
            "Flags override the environment, which overrides the file.  See mcphub-workerd(8)\n"
            "and mcp_settings.json(5).\n");
}

static int on_hup(mcphub_loop *loop, int signo, void *user_data)
{
    (void)loop;
    (void)signo;
    (void)user_data;
    /* A worker takes its servers from the master; nothing to reload. */
    daemon_logf(MCPHUB_LOG_INFO, "signal name=HUP action=none reason=\"a worker's servers come "
                                 "from the master (or, standalone, from a restart)\"");
    return 0;
}

static int on_signal(mcphub_loop *loop, int signo, void *user_data)
{
    mcphub_worker *w = user_data;

    (void)loop;
    daemon_logf(MCPHUB_LOG_INFO, "signal name=%s", signo == SIGTERM ? "TERM" : "INT");
    mcphub_worker_shutdown(w);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"standalone", no_argument, NULL, 'S'},
        {"host", required_argument, NULL, 'H'}, {"port", required_argument, NULL, 'p'},
        {"master-url", required_argument, NULL, 'm'}, {"node-id", required_argument, NULL, 'n'},
        {"token", required_argument, NULL, 't'}, {"advertise-host", required_argument, NULL, 'A'},
        {"advertise-port", required_argument, NULL, 'P'},
        {"max-servers", required_argument, NULL, 'M'}, {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'}, {"tls-ca", required_argument, NULL, 'a'},
        {"verbose", no_argument, NULL, 'v'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    daemon_setting flags[24];
    size_t nflags = 0;
    const char *path = NULL, *lvl = getenv("MCPHUB_LOG_LEVEL");
    char *loaded = NULL, *cert = NULL, *key = NULL, host[256];
    int standalone = 0, c, rc = 1;
    mcphub_config *cfg;
    const mcphub_cluster_settings *cs;
    mcphub_loop *loop = NULL;
    mcphub_worker *w = NULL;
    mcphub_worker_opts wo;

    if (lvl != NULL && daemon_log_parse_level(lvl) >= 0)
        daemon_log_set_level((mcphub_log_level)daemon_log_parse_level(lvl));
    while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
        const char *key_of = NULL;

        switch (c) {
        case 'c': path = optarg; break;
        case 'S': standalone = 1; break;
        case 'H': key_of = "cluster.master.host"; break;
        case 'p': key_of = "port"; break;
        case 'm': key_of = "cluster.worker.masterUrl"; break;
        case 'n': key_of = "cluster.nodeId"; break;
        case 't': key_of = "cluster.token"; break;
        case 'A': key_of = "cluster.worker.advertiseHost"; break;
        case 'P': key_of = "cluster.worker.advertisePort"; break;
        case 'M': key_of = "cluster.worker.maxServers"; break;
        case 'C': key_of = "cluster.tls.cert"; break;
        case 'K': key_of = "cluster.tls.key"; break;
        case 'a': key_of = "cluster.tls.ca"; break;
        case 'v': daemon_log_set_level(MCPHUB_LOG_DEBUG); break;
        case 'q': daemon_log_set_level(MCPHUB_LOG_WARN); break;
        case 'h': usage(stdout); return 0;
        case 'V': printf(PROG " %s (libmcphub-cluster %s)\n", MCPHUB_VERSION_STRING,
                         mcphub_version()); return 0;
        default: usage(stderr); return 2;
        }
        /* two slots stay free for the mode flags added below */
        if (key_of != NULL && nflags < sizeof flags / sizeof flags[0] - 2) {
            flags[nflags].key = key_of;
            flags[nflags++].value = optarg;
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
    /* A worker is a worker: the mode in a shared settings file is the master's. */
    flags[nflags].key = "cluster.mode";
    flags[nflags++].value = "worker";
    if (!standalone) {
        flags[nflags].key = "cluster.enabled";
        flags[nflags++].value = "true";
    }
    if (gethostname(host, sizeof host) != 0 || *host == '\0')
        snprintf(host, sizeof host, "worker");
    cfg = daemon_settings_load(PROG, path, flags, nflags, &loaded);
    if (cfg == NULL)
        return 2;
    cs = mcphub_config_cluster(cfg);
    if (cs->node_id == NULL || *cs->node_id == '\0')
        mcphub_config_set(cfg, "cluster.nodeId", host, NULL);
    if (daemon_read_tls(PROG, cfg, &cert, &key) != 0) {
        rc = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (mcphub_loop_new(&loop, NULL, NULL) != 0) {
        fprintf(stderr, PROG ": cannot create the event loop\n");
        goto out;
    }
    memset(&wo, 0, sizeof wo);
    wo.size = sizeof wo;
    wo.loop = loop;
    wo.config = cfg;
    wo.standalone = standalone;
    wo.tls_cert_pem = cert;
    wo.tls_key_pem = key;
    wo.tls_ca_file = cs->tls.ca && *cs->tls.ca ? cs->tls.ca : NULL;
    wo.random = daemon_random;
    wo.log = daemon_log;
    if (mcphub_worker_new(&w, &wo, NULL) != 0 || mcphub_worker_start(w) != 0) {
        fprintf(stderr, PROG ": %s\n", w ? mcphub_worker_errmsg(w) : "out of memory");
        goto out;
    }
    daemon_logf(MCPHUB_LOG_INFO, "workerd_start version=%s settings=%s node=%s port=%u",
                MCPHUB_VERSION_STRING, loaded ? loaded : "(defaults)", cs->node_id,
                (unsigned)mcphub_worker_port(w));
    mcphub_loop_signal_add(loop, NULL, SIGTERM, on_signal, w);
    mcphub_loop_signal_add(loop, NULL, SIGINT, on_signal, w);
    mcphub_loop_signal_add(loop, NULL, SIGHUP, on_hup, w);
    while (!mcphub_worker_stopped(w))
        if (mcphub_loop_run_once(loop, 1000) < 0)
            break;
    daemon_logf(MCPHUB_LOG_INFO, "workerd_exit");
    rc = 0;
out:
    mcphub_worker_free(w);
    mcphub_loop_free(loop);
    mcphub_config_free(cfg);
    free(loaded);
    free(cert);
    free(key);
    return rc;
}
