/* Internal: the pieces of the catalog module (catalog*.c).  Not used by
 * other modules; they go through include/mcphub/catalog.h.
 *
 * catalog.c          handle, servers, overrides, availability, config load
 * catalog_items.c    parsing a server's answers into items (jansson)
 * catalog_groups.c   groups and their selections
 * catalog_route.c    routes, views, visibility, name resolution
 * catalog_render.c   initialize and list results */
#ifndef MCPHUB_CATALOG_INT_H
#define MCPHUB_CATALOG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mcphub/catalog.h"
#include "map_int.h"
#include "mem_int.h"

#define MCPHUB__CAT_NLISTS 4

/* ---- a growing string (catalog_render.c) ---- */

typedef struct mcphub__sbuf {
    const mcphub__mem *mem;
    char *p;
    size_t len, cap;
    int nomem;          /* sticky: an append failed */
} mcphub__sbuf;

void mcphub__sbuf_init(mcphub__sbuf *b, const mcphub__mem *mem);
void mcphub__sbuf_add(mcphub__sbuf *b, const char *s, size_t n);
void mcphub__sbuf_puts(mcphub__sbuf *b, const char *s);
/* s (n bytes) as a JSON string, quotes included. */
void mcphub__sbuf_json_str(mcphub__sbuf *b, const char *s, size_t n);
/* The text, NUL-terminated, now owned by the caller; NULL when an append
 * failed (the buffer is freed either way). */
char *mcphub__sbuf_take(mcphub__sbuf *b);
void mcphub__sbuf_free(mcphub__sbuf *b);

/* 1 when s (n bytes) is valid UTF-8 without NUL bytes. */
int mcphub__cat_utf8_ok(const char *s, size_t n);

/* ---- items: one tool, prompt, resource or template ---- */

typedef struct mcphub__cat_item {
    char *key;          /* name; resources: uri; templates: uriTemplate */
    size_t key_len;
    char *desc;         /* tools, prompts: upstream description or NULL */
    char *body;         /* the other members, compact JSON without braces;
                         * resources and templates: all members */
    size_t prefix_len;  /* templates: bytes before the first '{' */
    unsigned char read_only, idempotent; /* tools: annotations */
} mcphub__cat_item;

typedef struct mcphub__cat_list {
    mcphub__cat_item *items;
    size_t n;
    mcphub__map by_key;
} mcphub__cat_list;

void mcphub__cat_list_init(mcphub__cat_list *l, const mcphub__mem *mem, uint32_t seed);
void mcphub__cat_list_free(mcphub__cat_list *l, const mcphub__mem *mem);
/* 1 when both hold the same items in the same order. */
int mcphub__cat_list_equal(const mcphub__cat_list *a, const mcphub__cat_list *b);

/* ---- overrides of one server's tools ---- */

typedef struct mcphub__cat_override {
    char *key;          /* as written: bare or prefixed */
    int enabled;
    char *desc;         /* NULL: keep upstream */
} mcphub__cat_override;

typedef struct mcphub__cat_overrides {
    mcphub__cat_override **v; /* each one allocated: the maps point at them */
    size_t n, cap;
    mcphub__map bare;     /* key -> override */
    mcphub__map prefixed; /* key minus "<server><sep>" -> override */
} mcphub__cat_overrides;

/* ---- servers ---- */

typedef struct mcphub__cat_server {
    char *name;
    size_t name_len;
    size_t pos;           /* index in the catalog's order */
    int enabled, available;
    mcphub__cat_overrides ov;
    char *server_info;    /* compact JSON object, or NULL */
    char *instructions;   /* or NULL */
    mcphub__cat_list lists[MCPHUB__CAT_NLISTS];
} mcphub__cat_server;

/* ---- groups ---- */

typedef struct mcphub__cat_sel {
    int all;
    char **names;
    size_t n;
    mcphub__map set;
} mcphub__cat_sel;

/* Selections by list: tools, prompts, resources (templates use resources). */
#define MCPHUB__CAT_SEL_TOOLS 0
#define MCPHUB__CAT_SEL_PROMPTS 1
#define MCPHUB__CAT_SEL_RESOURCES 2

typedef struct mcphub__cat_member {
    char *server;
    char *prefix;         /* alias, or a copy of the server name */
    size_t prefix_len;
    mcphub__cat_sel sel[3];
} mcphub__cat_member;

typedef struct mcphub__cat_group {
    char *id, *name;
    mcphub__cat_member *members;
    size_t n;
    mcphub__map by_prefix; /* exposed prefix -> member */
} mcphub__cat_group;

/* ---- the handle ---- */

struct mcphub_catalog {
    mcphub__mem mem;
    uint32_t seed;
    char *sep;
    size_t sep_len;
    int group_name_route;
    int hide_unavailable;
    char *gw_name, *gw_version;
    size_t max_servers, max_items, max_groups;
    mcphub_log_fn log;
    void *log_user_data;

    mcphub__cat_server **servers;  /* config order */
    size_t nservers, cap_servers;
    mcphub__map server_by_name;

    mcphub__cat_group **groups;
    size_t ngroups, cap_groups;
    mcphub__map group_by_name, group_by_id;

    uint64_t gen[MCPHUB__CAT_NLISTS];
};

/* catalog.c */
void mcphub__cat_bump_all(mcphub_catalog *c);
void mcphub__cat_logf(const mcphub_catalog *c, mcphub_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
mcphub__cat_server *mcphub__cat_server_find(const mcphub_catalog *c, const char *name);
/* The override of a server's tool: bare key first, then prefixed; NULL. */
const mcphub__cat_override *mcphub__cat_override_find(const mcphub__cat_server *s,
                                                      const char *tool);
/* Name checks shared by the setters: non-empty, UTF-8, bounded. */
int mcphub__cat_name_ok(const char *s, size_t max);

/* catalog_items.c: parse text into a fresh list (caller frees it with
 * mcphub__cat_list_free, also on failure). */
int mcphub__cat_parse_list(const mcphub_catalog *c, const char *server,
                           mcphub_catalog_list which, const char *json, size_t len,
                           mcphub__cat_list *out);
/* Parse an initialize result into new *server_info and *instructions. */
int mcphub__cat_parse_initialize(const mcphub_catalog *c, const char *json, size_t len,
                                 char **server_info, char **instructions);

/* catalog_groups.c */
/* Build a group in *out from caller data (validated); caller frees with
 * mcphub__cat_group_free, also on failure. */
int mcphub__cat_group_build(const mcphub_catalog *c, const char *id, const char *name,
                            const mcphub_group_member *members, size_t n,
                            mcphub__cat_group **out);
void mcphub__cat_group_free(const mcphub__mem *mem, mcphub__cat_group *g);
/* Whether a selection lets the item through for this list. */
int mcphub__cat_sel_allows(const mcphub__cat_sel *sel, mcphub_catalog_list which,
                           const mcphub__cat_item *it);

/* catalog_route.c: a route, and the servers it merges ("views"). */
typedef struct mcphub__cat_route {
    mcphub_route_kind kind;
    const mcphub__cat_group *group;   /* GROUP */
    const mcphub__cat_server *server; /* SERVER */
} mcphub__cat_route;

typedef struct mcphub__cat_view {
    const mcphub__cat_server *srv;
    const mcphub__cat_member *m;      /* NULL outside groups */
    const char *prefix;
    size_t prefix_len;
} mcphub__cat_view;

int mcphub__cat_route_find(const mcphub_catalog *c, const char *route, mcphub__cat_route *r);
/* Next view of r from *i (start at 0): 1 and *v set, or 0 at the end. */
int mcphub__cat_view_next(const mcphub_catalog *c, const mcphub__cat_route *r, size_t *i,
                          mcphub__cat_view *v);
/* Whether it is listed on view v (override, selection); too_long gets 1
 * when it is left out only for its exposed length (may be NULL). */
int mcphub__cat_visible(const mcphub_catalog *c, const mcphub__cat_view *v,
                        mcphub_catalog_list which, const mcphub__cat_item *it, int *too_long);

#endif
