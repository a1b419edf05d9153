/* The daemons' log: one line per event on stderr,
 *   2026-11-26T18:40:01.123Z level=info event=replica_status server=fetch ...
 * with a level filter (-v / -q, or MCPHUB_LOG_LEVEL=debug|info|warn|error)
 * and secrets redacted even if a message carried one by mistake. */
#ifndef MCPHUB_DAEMON_LOG_H
#define MCPHUB_DAEMON_LOG_H

#include <mcphub/common.h>

/* The library's log callback: user_data is ignored. */
void daemon_log(mcphub_log_level level, const char *msg, void *user_data);
void daemon_log_set_level(mcphub_log_level level);
mcphub_log_level daemon_log_get_level(void);
/* printf-style convenience for the daemons themselves. */
void daemon_logf(mcphub_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Parse "debug", "info", "warn", "error"; -1 when unknown. */
int daemon_log_parse_level(const char *s);

#endif
