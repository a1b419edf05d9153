/* Internal: the pieces the wire codecs share (wire.c: decoder and field
 * readers; wire_parse.c: JSON parser; wire_build.c: encoder; wire_replica.c
 * and wire_node.c: the messages).
 *
 * Decoding walks the parsed JSON twice with the same code: a measuring pass
 * (buf == NULL) that validates every field and adds up the bytes the result
 * needs, then a filling pass that copies into one block of exactly that size.
 * So validation lives in one place and a bad message allocates nothing.
 *
 * Encoding builds a jansson tree, runs the decoder's measuring pass over it
 * (the same rules, so what encodes decodes), then renders it through mem. */
#ifndef MCPHUB_WIRE_INT_H
#define MCPHUB_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mcphub/wire.h"
#include "mem_int.h"

/* Objects and arrays inside each other, counting the message itself. */
#define MCPHUB__WIRE_MAX_DEPTH 64

/* How JSON is rendered: compact, scalars allowed (envelope data may be one),
 * key order kept. */
#define MCPHUB__WIRE_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* ---- decoding ---- */

/* Parse len bytes of JSON (any value) into a new tree: 0, MCPHUB_E_PARSE
 * (err->text "invalid JSON at line L, column C: why") or MCPHUB_E_NOMEM.
 * Duplicate keys, \u0000 and nesting deeper than MCPHUB__WIRE_MAX_DEPTH are
 * refused.  Temporary
 * buffers come from mem. */
int mcphub__wire_parse(const char *text, size_t len, const mcphub__mem *mem, json_t **out,
                       mcphub_wire_error *err);

typedef struct mcphub__wdec {
    char *buf;                /* NULL while measuring */
    size_t used;              /* bytes measured or filled so far */
    mcphub_wire_error *err;
} mcphub__wdec;

/* Fill one message struct from the object obj found at path ("" or "data"). */
typedef int (*mcphub__wd_walk_fn)(mcphub__wdec *d, const json_t *obj, const char *path,
                                  void *msg);

typedef enum {
    MCPHUB__WIRE_REQUEST,     /* the root object is the message */
    MCPHUB__WIRE_REPLY,       /* the message is the envelope's data */
    MCPHUB__WIRE_REPLY_KNOWN  /* as REPLY; data.known false -> NOTFOUND */
} mcphub__wire_kind;

/* Parse, validate and copy one message; *out receives the new struct.
 * scratch: a struct of msg_size bytes written during the measuring pass. */
int mcphub__wire_decode(const char *json, size_t len, const mcphub_mem *mem,
                        mcphub_wire_error *err, mcphub__wire_kind kind,
                        mcphub__wd_walk_fn walk, size_t msg_size, void *scratch,
                        void **out);
void mcphub__wire_msg_free(void *msg);
/* One pass over a parsed message (measuring when d->buf is NULL): the
 * envelope for replies, then walk on the message object. */
int mcphub__wire_walk(mcphub__wdec *d, const json_t *root, mcphub__wire_kind kind,
                      mcphub__wd_walk_fn walk, void *msg);

/* Space in the result for count items of size bytes (aligned); NULL while
 * measuring or when count is 0. */
void *mcphub__wd_alloc(mcphub__wdec *d, size_t count, size_t size);

/* Field readers: 0, or MCPHUB_E_INVAL with d->err filled.  Optional fields
 * that are absent or null leave the default. */
int mcphub__wd_id(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                  const char **out);
int mcphub__wd_server(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, const char **out);
int mcphub__wd_host(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    const char **out);
/* Optional UTF-8 text of at most max bytes; NULL when absent or null. */
int mcphub__wd_text(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    size_t max, const char **out);
int mcphub__wd_uint(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    int required, uint64_t min, uint64_t max, uint64_t dflt, uint64_t *out);
int mcphub__wd_number(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, double min, double max, double *out);
int mcphub__wd_bool(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    int *out);
int mcphub__wd_status(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, mcphub_replica_status *out);
int mcphub__wd_role(mcphub__wdec *d, const json_t *obj, const char *path, const char *key,
                    mcphub_node_role *out);
/* An object member; *out NULL when optional and absent or null. */
int mcphub__wd_object(mcphub__wdec *d, const json_t *obj, const char *path,
                      const char *key, int required, const json_t **out);
/* Any JSON value as compact text (MCPHUB_E_NOMEM if jansson cannot render). */
int mcphub__wd_json(mcphub__wdec *d, const json_t *v, const char **out);

/* An array of objects, each filled by fn into an item of elem_size bytes
 * (scratch while measuring); at most MCPHUB_WIRE_MAX_ITEMS. */
int mcphub__wd_items(mcphub__wdec *d, const json_t *obj, const char *path,
                     const char *key, int required, size_t elem_size, void *scratch,
                     mcphub__wd_walk_fn fn, void **items, size_t *len);

/* "path.key" (or "key" when path is ""). */
void mcphub__wd_join(char *out, size_t n, const char *path, const char *key);

/* ---- the replica items, shared by several messages ---- */

int mcphub__wd_reports(mcphub__wdec *d, const json_t *obj, const char *path,
                       const char *key, const mcphub_wire_replica_report **items,
                       size_t *len);
int mcphub__wd_assignments(mcphub__wdec *d, const json_t *obj, const char *path,
                           const char *key, const mcphub_wire_assignment **items,
                           size_t *len);
int mcphub__wd_releases(mcphub__wdec *d, const json_t *obj, const char *path,
                        const char *key, const mcphub_wire_release **items, size_t *len);

/* ---- encoding ---- */

/* Builder with a latched error: after the first failure every call is a
 * no-op, so encoders read straight through and check rc once. */
typedef struct mcphub__wenc {
    int rc;
    mcphub__mem mem;
} mcphub__wenc;

/* Start encoding with the caller's hooks (MCPHUB_E_INVAL latched when they
 * are not valid). */
void mcphub__we_init(mcphub__wenc *e, const mcphub_mem *mem);

/* How we_str treats a NULL string. */
enum { MCPHUB__WE_REQUIRED, MCPHUB__WE_OMIT, MCPHUB__WE_NULL };

json_t *mcphub__we_object(mcphub__wenc *e);
/* A new object appended to the array arr, or NULL on failure. */
json_t *mcphub__we_append(mcphub__wenc *e, json_t *arr);
/* Adds child under key (taking it over) and returns it, or NULL on failure. */
json_t *mcphub__we_add(mcphub__wenc *e, json_t *obj, const char *key, json_t *child);
void mcphub__we_str(mcphub__wenc *e, json_t *obj, const char *key, const char *s,
                    int if_null);
void mcphub__we_uint(mcphub__wenc *e, json_t *obj, const char *key, uint64_t v);
void mcphub__we_real(mcphub__wenc *e, json_t *obj, const char *key, double v);
void mcphub__we_bool(mcphub__wenc *e, json_t *obj, const char *key, int v);
/* Parse JSON text and add it under key. */
void mcphub__we_json(mcphub__wenc *e, json_t *obj, const char *key, const char *text);

void mcphub__we_reports(mcphub__wenc *e, json_t *obj, const char *key,
                        const mcphub_wire_replica_report *items, size_t n);
void mcphub__we_assignments(mcphub__wenc *e, json_t *obj, const char *key,
                            const mcphub_wire_assignment *items, size_t n);
void mcphub__we_releases(mcphub__wenc *e, json_t *obj, const char *key,
                         const mcphub_wire_release *items, size_t n);

/* Check root (taken over, always released) with walk, then render it
 * compactly into *out through mem.  For replies root is the data and is
 * wrapped in {"success":true,"data":...} first.  scratch: a message struct
 * the check may write. */
int mcphub__wire_encode(mcphub__wenc *e, json_t *root, mcphub__wire_kind kind,
                        mcphub__wd_walk_fn walk, void *scratch, char **out,
                        size_t *len_out);

/* Render a finished tree (not checked) through mem. */
int mcphub__wire_render(const json_t *root, const mcphub__mem *mem, char **out,
                        size_t *len_out);

int mcphub__wire_utf8_ok(const char *s, size_t n);
/* 1 when s is a valid node or replica id. */
int mcphub__wire_id_ok(const char *s);

#endif
