/* Loading a daemon's settings in layers: the settings file, then the
 * environment (CLUSTER_*, PORT), then command-line flags. */
#ifndef MCPHUB_DAEMON_SETTINGS_H
#define MCPHUB_DAEMON_SETTINGS_H

#include <stddef.h>

#include <mcphub/config.h>

/* One flag given on the command line, as a settings key and its value. */
typedef struct daemon_setting {
    const char *key;
    const char *value;
} daemon_setting;

/* Load: path (NULL: $MCPHUB_SETTING_PATH, else ./mcp_settings.json if it
 * exists, else defaults only), then the environment, then flags, then
 * validation.  On failure prints "mcphub-xxx: <file>:<line>:<col>: <why>"
 * style messages to stderr and returns NULL. */
mcphub_config *daemon_settings_load(const char *prog, const char *path, const daemon_setting *flags,
                                    size_t n_flags, char **loaded_path);

/* Read the TLS certificate and key the settings name (cluster.tls.cert /
 * .key) into *cert and *key (NULL when not set; the caller frees both).
 * Returns 0, or -1 after printing which file could not be read and why. */
int daemon_read_tls(const char *prog, const mcphub_config *cfg, char **cert, char **key);

/* Read a whole file (at most max bytes) into a NUL-terminated buffer the
 * caller frees; NULL with errno set on failure. */
char *daemon_read_file(const char *path, size_t max, size_t *len);

#endif
