/* Internal: the request target (/path?query) of the HTTP server, decoded
 * and checked — a pure function (no I/O, no allocation), shared by
 * http_server.c and the fuzz target tests/fuzz/fuzz_http_path.c.
 *
 * The path is percent-decoded (a malformed escape or %00 is refused) and
 * must not have a ".." segment; the query is split on '&', each non-empty
 * parameter into name and value at its first '=' (no '=': the value is
 * ""), both percent-decoded with '+' as a space.  A space or control byte
 * anywhere, or a target not starting with '/', is refused. */
#ifndef MCPHUB_HTTP_PATH_INT_H
#define MCPHUB_HTTP_PATH_INT_H

#include <stddef.h>

/* Sizes for decoding target (NUL-terminated): *n_query gets the number of
 * non-empty query parameters; returns the bytes the decoded path and query
 * strings need (path length + 1 + query length + 2 * *n_query). */
size_t mcphub__http_target_measure(const char *target, size_t *n_query);

/* Decode target into chars (the size measure returned: the path first,
 * NUL-terminated, then the query strings) and query (room for 2 * n_query
 * pointers from measure: name, value, name, value, ...; each points into
 * chars, or to a static "").  Returns NULL, or a static English reason why
 * the target is refused (answered with 400); the caller then treats the
 * path as "" and the query as empty. */
const char *mcphub__http_target_decode(const char *target, char *chars, const char **query);

/* The value of the first parameter called name among n pairs, or NULL. */
const char *mcphub__http_query_find(const char *const *query, size_t n, const char *name);

#endif
