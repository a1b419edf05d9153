/* Helpers for the daemons' HTTP handlers; see http_util_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_util_int.h"

void mcphub__respond_raw_json(mcphub_http_request *req, unsigned status, const char *body,
                              size_t len)
{
    static const mcphub_http_header ct = {"Content-Type", "application/json"};

    mcphub_http_respond(req, status, &ct, 1, body, len);
}

void mcphub__respond_json(mcphub_http_request *req, unsigned status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

    if (s == NULL) {
        static const char oom[] = "{\"success\":false,\"message\":\"out of memory\"}";

        mcphub__respond_raw_json(req, 500, oom, sizeof oom - 1);
    } else {
        mcphub__respond_raw_json(req, status, s, strlen(s));
    }
    free(s);
    json_decref(v);
}

void mcphub__respond_envelope(mcphub_http_request *req, unsigned status, int success,
                              const char *message, json_t *data)
{
    json_t *v = json_pack("{s:b}", "success", success);

    if (v != NULL && message != NULL)
        json_object_set_new(v, "message", json_string(message));
    if (v != NULL && data != NULL)
        json_object_set(v, "data", data);
    json_decref(data);
    mcphub__respond_json(req, status, v);
}

const char *mcphub__path_tail(const char *path, const char *prefix, char *buf, size_t cap)
{
    size_t n = strlen(prefix), rest;

    if (strncmp(path, prefix, n) != 0)
        return NULL;
    rest = strlen(path + n);
    if (rest == 0 || rest >= cap || strchr(path + n, '/') != NULL)
        return NULL;
    memcpy(buf, path + n, rest + 1);
    return buf;
}

int mcphub__want_method(mcphub_http_request *req, const char *m)
{
    char msg[96];

    if (strcmp(mcphub_http_request_method(req), m) == 0)
        return 1;
    snprintf(msg, sizeof msg, "method %.16s not allowed here; use %s",
             mcphub_http_request_method(req), m);
    {
        json_t *v = json_pack("{s:b, s:s}", "success", 0, "message", msg);
        char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
        mcphub_http_header hd[2] = {{"Content-Type", "application/json"}, {"Allow", m}};

        mcphub_http_respond(req, 405, hd, 2, s ? s : "{}", s ? strlen(s) : 2);
        free(s);
        json_decref(v);
    }
    return 0;
}

int mcphub__post_json(mcphub_http_client *client, const char *url, const char *token,
                      const char *body, size_t len, uint64_t timeout_ms,
                      mcphub_http_done_fn on_done, void *user_data)
{
    mcphub_http_kv hd[2] = {{"Content-Type", "application/json"},
                            {"X-Cluster-Token", token ? token : ""}};
    mcphub_http_call call;

    memset(&call, 0, sizeof call);
    call.size = sizeof call;
    call.method = "POST";
    call.url = url;
    call.headers = hd;
    call.n_headers = token != NULL && *token != '\0' ? 2 : 1;
    call.body = body;
    call.body_len = len;
    call.timeout_ms = timeout_ms;
    call.on_done = on_done;
    call.user_data = user_data;
    return mcphub_http_client_send(client, &call, NULL);
}

void mcphub__iso_now(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}
