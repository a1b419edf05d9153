/* The daemons' log; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static mcphub_log_level current = MCPHUB_LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};

void daemon_log_set_level(mcphub_log_level level)
{
    current = level;
}

mcphub_log_level daemon_log_get_level(void)
{
    return current;
}

int daemon_log_parse_level(const char *s)
{
    int i;

    for (i = 0; s != NULL && i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (s != NULL && strcasecmp(s, "warning") == 0)
        return MCPHUB_LOG_WARN;
    return -1;
}

/* Copy in to out (cap bytes), replacing the value after any key that
 * names a secret with [redacted]. */
static void redact(const char *in, char *out, size_t cap)
{
    static const char *const keys[] = {"token=", "Token=", "authorization=", "Authorization=",
                                       "Bearer ", "password=", "secret=", "apiKey=", "api_key="};
    size_t o = 0, k;

    while (*in != '\0' && o + 1 < cap) {
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (strncmp(in, keys[k], strlen(keys[k])) == 0)
                break;
        if (k == sizeof keys / sizeof keys[0]) {
            out[o++] = *in++;
            continue;
        }
        o += (size_t)snprintf(out + o, cap - o, "%s[redacted]", keys[k]);
        if (o >= cap)
            o = cap - 1;
        in += strlen(keys[k]);
        if (*in == '"')
            for (in++; *in != '\0' && *in++ != '"';)
                ;
        else
            while (*in != '\0' && *in != ' ')
                in++;
    }
    out[o] = '\0';
}

void daemon_log(mcphub_log_level level, const char *msg, void *user_data)
{
    char line[2048], clean[2100];
    struct timespec ts;
    struct tm tm;

    (void)user_data;
    if (level > current)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, names[level], msg);
    redact(line, clean, sizeof clean);
    fprintf(stderr, "%s\n", clean);
}

void daemon_logf(mcphub_log_level level, const char *fmt, ...)
{
    char buf[1536];
    va_list ap;

    if (level > current)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    daemon_log(level, buf, NULL);
}
