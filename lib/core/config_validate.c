/* Cross-field checks, run after every layer (file, environment, flags)
 * has been applied: each layer alone cannot know the final values. */
#include <string.h>

#include "config_int.h"

static int url_ok(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

int mcphub__cfg_settings_validate(const mcphub__cfg_settings *set, mcphub_config_error *err)
{
    const mcphub_cluster_settings *cl = &set->cluster;
    char val[96];

    if (cl->master.heartbeat_timeout_ms <= cl->master.heartbeat_interval_ms) {
        mcphub__cfg_err_set(err,
                            "cluster.master.heartbeatTimeout (%llu) must be greater than "
                            "heartbeatInterval (%llu)",
                            (unsigned long long)cl->master.heartbeat_timeout_ms,
                            (unsigned long long)cl->master.heartbeat_interval_ms);
        return MCPHUB_E_INVAL;
    }
    if (cl->master.health_check_interval_ms != 0 &&
        cl->master.health_check_timeout_ms >= cl->master.health_check_interval_ms) {
        mcphub__cfg_err_set(err,
                            "cluster.master.healthCheckTimeout (%llu) must be less than "
                            "healthCheckInterval (%llu)",
                            (unsigned long long)cl->master.health_check_timeout_ms,
                            (unsigned long long)cl->master.health_check_interval_ms);
        return MCPHUB_E_INVAL;
    }
    if (cl->master.port > 65535) {
        mcphub__cfg_err_set(err, "cluster.master.port (%lu) must be between 0 and 65535",
                            (unsigned long)cl->master.port);
        return MCPHUB_E_INVAL;
    }
    if (cl->worker.advertise_port > 65535) {
        mcphub__cfg_err_set(err, "cluster.worker.advertisePort (%lu) must be between 0 and 65535",
                            (unsigned long)cl->worker.advertise_port);
        return MCPHUB_E_INVAL;
    }
    if (cl->enabled && cl->mode == MCPHUB_ROLE_WORKER && cl->worker.master_url[0] == '\0') {
        mcphub__cfg_err_set(err, "cluster.worker.masterUrl must be set when cluster.mode is "
                                 "worker (CLUSTER_MASTER_URL)");
        return MCPHUB_E_INVAL;
    }
    if (cl->worker.master_url[0] != '\0' && !url_ok(cl->worker.master_url)) {
        mcphub__cfg_render_text(cl->worker.master_url, val, sizeof val);
        mcphub__cfg_err_set(err, "cluster.worker.masterUrl (%s) must start with http:// or https://",
                            val);
        return MCPHUB_E_INVAL;
    }
    if ((cl->tls.cert[0] != '\0') != (cl->tls.key[0] != '\0')) {
        mcphub__cfg_err_set(err, "cluster.tls.cert and cluster.tls.key must be given together "
                                 "(cert %s, key %s)",
                            cl->tls.cert[0] != '\0' ? "set" : "missing",
                            cl->tls.key[0] != '\0' ? "set" : "missing");
        return MCPHUB_E_INVAL;
    }
    return 0;
}
