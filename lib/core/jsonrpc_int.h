/* Internal: JSON helpers of the jsonrpc module that the multiplexer shares. */
#ifndef MCPHUB_JSONRPC_INT_H
#define MCPHUB_JSONRPC_INT_H

#include <stddef.h>

#include "mcphub/jsonrpc.h"

/* Write s[0..n) as a JSON string token (quotes included) at dst and return
 * its length; dst NULL only measures.  (size_t)-1 when s is not UTF-8. */
size_t mcphub__json_quote(char *dst, const char *s, size_t n);

/* 0 when text is exactly one JSON value (no surrounding whitespace needed,
 * depth <= MCPHUB_JSONRPC_MAX_DEPTH); MCPHUB_E_PARSE or MCPHUB_E_TOOBIG. */
int mcphub__json_check(const char *text, size_t len);

/* 1 when text is exactly one string token or integer (or null when
 * allow_null): the shapes a JSON-RPC id may take. */
int mcphub__jsonrpc_is_id(const char *text, size_t len, int allow_null);

/* snprintf-like body of mcphub_jsonrpc_error_response(): returns the
 * text's length without its NUL, or (size_t)-1 on a bad id_json or message;
 * the text in buf is complete and NUL-terminated only when that length is
 * below cap. */
size_t mcphub__jsonrpc_error_format(char *buf, size_t cap, const char *id_json, size_t id_len,
                                    int code, const char *message);

#endif
