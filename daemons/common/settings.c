/* Layered settings; see settings.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"

extern char **environ;

char *daemon_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;

        if (n + 4096 + 1 > cap) {
            char *nb;

            cap = cap ? cap * 2 : 8192;
            if (cap > max + 1)
                cap = max + 1;
            if (n + 1 >= cap) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return NULL;
    }
    fclose(f);
    if (buf == NULL && (buf = malloc(1)) == NULL)
        return NULL;
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

mcphub_config *daemon_settings_load(const char *prog, const char *path, const daemon_setting *flags,
                                    size_t n_flags, char **loaded_path)
{
    mcphub_config *cfg = NULL;
    mcphub_config_error err;
    char *text;
    size_t len = 0, i;

    *loaded_path = NULL;
    if (path == NULL && getenv("MCPHUB_SETTING_PATH") != NULL && *getenv("MCPHUB_SETTING_PATH"))
        path = getenv("MCPHUB_SETTING_PATH");
    if (path == NULL && access("mcp_settings.json", R_OK) == 0)
        path = "mcp_settings.json";
    memset(&err, 0, sizeof err);
    if (path != NULL) {
        text = daemon_read_file(path, 16u << 20, &len);
        if (text == NULL) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
            return NULL;
        }
        if (mcphub_config_parse(&cfg, text, len, NULL, &err) != 0) {
            if (err.line > 0)
                fprintf(stderr, "%s: %s:%d:%d: %s\n", prog, path, err.line, err.column, err.text);
            else
                fprintf(stderr, "%s: %s: %s\n", prog, path, err.text);
            free(text);
            return NULL;
        }
        free(text);
        *loaded_path = strdup(path);
    } else if (mcphub_config_new_empty(&cfg, NULL, NULL) != 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    for (i = 0; i < mcphub_config_warning_count(cfg); i++)
        daemon_logf(MCPHUB_LOG_WARN, "settings_warning file=%s text=\"%s\"", path ? path : "-",
                    mcphub_config_warning_at(cfg, i));
    if (mcphub_config_apply_env(cfg, (const char *const *)environ, &err) != 0) {
        fprintf(stderr, "%s: environment: %s\n", prog, err.text);
        goto fail;
    }
    for (i = 0; i < n_flags; i++)
        if (mcphub_config_set(cfg, flags[i].key, flags[i].value, &err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err.text);
            goto fail;
        }
    if (mcphub_config_validate(cfg, &err) != 0) {
        fprintf(stderr, "%s: %s%s%s\n", prog, path ? path : "", path ? ": " : "", err.text);
        goto fail;
    }
    return cfg;
fail:
    mcphub_config_free(cfg);
    free(*loaded_path);
    *loaded_path = NULL;
    return NULL;
}

int daemon_read_tls(const char *prog, const mcphub_config *cfg, char **cert, char **key)
{
    const mcphub_cluster_settings *cs = mcphub_config_cluster(cfg);
    const char *files[2] = {cs->tls.cert, cs->tls.key};
    char **out[2] = {cert, key};
    int i;

    *cert = *key = NULL;
    for (i = 0; i < 2; i++) {
        if (files[i] == NULL || *files[i] == '\0')
            continue;
        *out[i] = daemon_read_file(files[i], 1 << 20, NULL);
        if (*out[i] == NULL) {
            fprintf(stderr, "%s: cannot read the TLS %s %s: %s\n", prog,
                    i == 0 ? "certificate" : "key", files[i], strerror(errno));
            free(*cert);
            *cert = NULL;
            return -1;
        }
    }
    return 0;
}
