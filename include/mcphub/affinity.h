/* libmcphub-cluster: session affinity — which replica serves a session.
 *
 * A route is keyed by (session id, server name) and points at (node id,
 * replica id); it remembers when it was created and when it was last used.
 * Every per-route call is O(1) on average.  Calls that touch many routes
 * (mcphub_affinity_unbind_session(), _unbind_node(), _migrate_replica(),
 * _expire()) cost O(routes affected): routes sit on intrusive lists per
 * session, per replica, per node, and on one least-recently-used list.
 *
 * A route expires when it has been idle for ttl_ms.  Times are caller
 * supplied monotonic milliseconds that must not go backwards; if they do,
 * routes may expire late, never early.
 *
 * Memory: strings are interned (a session, server, node or replica id is
 * stored once however many routes use it, and freed with its last route),
 * so a table of 1,000,000 routes over 250,000 sessions takes about 110
 * bytes per route.  An emptied table holds no memory besides the handle.
 *
 * Identifiers (session ids, server names, node and replica ids) are
 * non-empty and at most MCPHUB_AFFINITY_MAX_ID bytes long.
 *
 * Thread safety: a handle must not be used by two threads at once; no global
 * mutable state; no internal locks. */
#ifndef MCPHUB_AFFINITY_H
#define MCPHUB_AFFINITY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest identifier accepted, in bytes without the terminating NUL. */
#define MCPHUB_AFFINITY_MAX_ID 256u

/* Largest max_routes accepted. */
#define MCPHUB_AFFINITY_MAX_ROUTES 0x7fffffffu

typedef struct mcphub_affinity mcphub_affinity;

/* Options; set size = sizeof(mcphub_affinity_opts), 0 in a field means its
 * default.  Copied by mcphub_affinity_new(). */
typedef struct mcphub_affinity_opts {
    size_t size;
    /* A route idle this long expires.  0 means 1800000 (30 minutes). */
    uint64_t ttl_ms;
    /* Most routes held at once (1..MCPHUB_AFFINITY_MAX_ROUTES); binding a
     * new route past it fails with MCPHUB_E_FULL.  0 means 2000000. */
    size_t max_routes;
    /* Seed of the hash tables; daemons pass a random one so that peers
     * cannot choose session ids that collide. */
    uint32_t hash_seed;
} mcphub_affinity_opts;

/* Create an empty table in *out.  opts may be NULL (all defaults); mem may
 * be NULL (the C library's allocator); both are copied.  The caller frees
 * *out with mcphub_affinity_free().
 * Returns 0, MCPHUB_E_INVAL (out NULL, bad size, max_routes too large, bad
 * mem hooks) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_affinity_new(mcphub_affinity **out, const mcphub_affinity_opts *opts,
                                   const mcphub_mem *mem);

/* Free the table and every route in it; NULL is allowed. */
MCPHUB_API void mcphub_affinity_free(mcphub_affinity *a);

/* Bind (session_id, server) to (node, replica) at now_ms.  Creates the
 * route, or re-binds an existing one: then created_ms is kept and only the
 * target and last_activity_ms change.  Either way the route counts as used
 * at now_ms.  All strings are copied (interned).
 * Returns 0, MCPHUB_E_INVAL (NULL, empty or too long string), MCPHUB_E_FULL
 * (a new route and max_routes routes held) or MCPHUB_E_NOMEM.  On error
 * nothing changed. */
MCPHUB_API int mcphub_affinity_bind(mcphub_affinity *a, const char *session_id,
                                    const char *server, const char *node,
                                    const char *replica, uint64_t now_ms);

/* Look up the route of (session_id, server) into *out.  The strings in *out
 * are borrowed until the next call that changes the table.  Does not count
 * as activity (see mcphub_affinity_touch()).
 * Returns 0, MCPHUB_E_INVAL (a NULL argument, empty or too long string) or
 * MCPHUB_E_NOTFOUND; on error *out is left alone. */
MCPHUB_API int mcphub_affinity_get(const mcphub_affinity *a, const char *session_id,
                                   const char *server, mcphub_route *out);

/* Record activity on a route at now_ms: it becomes the most recently used
 * and its idle time starts again.
 * Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_affinity_touch(mcphub_affinity *a, const char *session_id,
                                     const char *server, uint64_t now_ms);

/* Remove one route.  Returns 0, MCPHUB_E_INVAL or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_affinity_unbind(mcphub_affinity *a, const char *session_id,
                                      const char *server);

/* Remove every route of a session (it ended).  Returns how many were
 * removed; 0 for an unknown session or an invalid argument. */
MCPHUB_API size_t mcphub_affinity_unbind_session(mcphub_affinity *a, const char *session_id);

/* Remove routes idle for ttl_ms or more at now_ms, least recently used
 * first, at most max of them (0 = no cap) so that a caller can spread a
 * large expiry over several loop turns.  Returns how many were removed. */
MCPHUB_API size_t mcphub_affinity_expire(mcphub_affinity *a, uint64_t now_ms, size_t max);

/* When the least recently used route expires (its last activity + ttl_ms,
 * saturating), for the event loop's timer; UINT64_MAX with no routes. */
MCPHUB_API uint64_t mcphub_affinity_next_deadline(const mcphub_affinity *a);

/* Move every route of old_replica to (new_node, new_replica), e.g. after a
 * failover.  With new_replica NULL the routes are removed instead (the next
 * request of each session binds again); new_node is then ignored.  Creation
 * and activity times are kept.  Returns how many routes were moved or
 * removed: 0 for an unknown old_replica, an invalid argument (new_replica
 * given without new_node, empty or too long strings) or when out of memory;
 * in those cases nothing changed, so mcphub_affinity_count_replica() of
 * old_replica still tells whether routes are left on it. */
MCPHUB_API size_t mcphub_affinity_migrate_replica(mcphub_affinity *a, const char *old_replica,
                                                  const char *new_node, const char *new_replica);

/* Remove every route whose node is node (it went away).  Returns how many
 * were removed; 0 for an unknown node or an invalid argument. */
MCPHUB_API size_t mcphub_affinity_unbind_node(mcphub_affinity *a, const char *node);

/* Routes held; 0 for a NULL handle. */
MCPHUB_API size_t mcphub_affinity_count(const mcphub_affinity *a);

/* Routes pointing at replica; 0 if none or an invalid argument. */
MCPHUB_API size_t mcphub_affinity_count_replica(const mcphub_affinity *a, const char *replica);

/* Sessions with at least one route. */
MCPHUB_API size_t mcphub_affinity_session_count(const mcphub_affinity *a);

/* Visitor: route and its strings are borrowed for the call only.  Return
 * non-zero to stop the walk.  It must not change the table. */
typedef int (*mcphub_affinity_visit_fn)(const mcphub_route *route, void *user_data);

/* Call fn for every route, least recently used first.  user_data is passed
 * through. */
MCPHUB_API void mcphub_affinity_foreach(const mcphub_affinity *a, mcphub_affinity_visit_fn fn,
                                        void *user_data);

#ifdef __cplusplus
}
#endif
#endif
