/* Internal: small helpers shared by the daemons' HTTP handlers. */
#ifndef MCPHUB_HTTP_UTIL_INT_H
#define MCPHUB_HTTP_UTIL_INT_H

#include <jansson.h>

#include "mcphub/http_client.h"
#include "mcphub/http_server.h"

/* Answer with a JSON value (stolen). */
void mcphub__respond_json(mcphub_http_request *req, unsigned status, json_t *v);
/* Answer with MCPHub's envelope {success, message?, data?} (data stolen). */
void mcphub__respond_envelope(mcphub_http_request *req, unsigned status, int success,
                              const char *message, json_t *data);
/* Answer with bytes that are already JSON text. */
void mcphub__respond_raw_json(mcphub_http_request *req, unsigned status, const char *body,
                              size_t len);
/* When path is prefix followed by one non-empty segment, that segment
 * (copied into buf); else NULL.  "/api/servers/x" with "/api/servers/" -> "x". */
const char *mcphub__path_tail(const char *path, const char *prefix, char *buf, size_t cap);
/* 1 when the method is m; else answers 405 with Allow: m and returns 0. */
int mcphub__want_method(mcphub_http_request *req, const char *m);
/* POST a JSON body to another node, with the cluster token when there is
 * one (node-to-node calls always carry it).  As mcphub_http_client_send. */
int mcphub__post_json(mcphub_http_client *client, const char *url, const char *token,
                      const char *body, size_t len, uint64_t timeout_ms,
                      mcphub_http_done_fn on_done, void *user_data);

/* ISO 8601 UTC of the wall clock now. */
void mcphub__iso_now(char *buf, size_t cap);

#endif
