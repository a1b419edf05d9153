/* Replica placement planning; see include/mcphub/scheduler.h.
 *
 * How it runs.  Node ids and config names are sorted once, so every lookup
 * is a binary search and a node's index is also its id rank (the
 * tie-break).  Sorting rather than hashing keeps the function pure: no hash
 * seed is needed to resist ids chosen by a peer.  Phase 1 decides every
 * removal; phase 2 places the creates.  In phase 2 the eligible nodes sit in
 * a list ordered by their score for a server that has nothing on them
 * (100 - 0.5 * cpu - load), so the best such node is the first unmarked one;
 * only the few nodes marked for the server being planned (hosting it,
 * affine, excluded) are scored one by one.  The chosen node then sinks past
 * the nodes whose score it fell below (one point per replica).  A create
 * costs O(marked nodes + nodes passed), not O(nodes). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcphub/scheduler.h"
#include "mem_int.h"

#define NIL ((size_t)-1)
#define REASON_LIST_MAX 8 /* nodes named one by one in a shortfall reason */

typedef struct snode {
    const char *id;
    mcphub_node_status status;
    uint32_t max;      /* 0 = no limit */
    uint32_t load;     /* live replicas here, every server, as planned so far */
    double cpu;
    double base;       /* score for a server with no replica here, no affinity */
    size_t prev, next; /* eligible list, best first (phase 2) */
    /* Marks for the server being planned, cleared after it. */
    uint32_t count;    /* its live replicas here */
    unsigned char excluded, affine, marked;
} snode;

typedef struct sserver {
    const char *name;
    uint32_t desired;
    const char *const *affinity;
    size_t affinity_len;
    const char *const *exclude;
    size_t exclude_len;
    size_t first, n; /* its replicas: by_server[first .. first + n) */
    uint32_t kept;   /* live replicas left after phase 1 */
} sserver;

typedef struct srep {
    const mcphub_sched_replica *in;
    size_t node;   /* NIL: not among the nodes */
    size_t server; /* NIL: no config */
    unsigned char live, removed;
} srep;

typedef struct skey { const char *key; size_t idx; } skey;
typedef struct sorder { double base; size_t idx; } sorder;

/* A counted replica of the server being scaled down, with the key it has
 * when its turn to go comes (see scale_down). */
typedef struct victim {
    size_t rep, node;
    const char *id;
    int bad;      /* status error or pending */
    uint32_t eff; /* replicas of the server on its node just before it goes */
    double score; /* its node's score at that count */
} victim;

typedef struct wcreate { size_t server, node; double score; } wcreate;
typedef struct wremove { size_t rep; const char *reason; } wremove;
typedef struct wshort { size_t server; uint32_t desired, placed; char *reason; } wshort;

typedef struct work {
    const mcphub__mem *mem;
    snode *nodes;
    size_t nnodes;
    sserver *servers;
    size_t nservers;
    skey *names; /* config names, sorted */
    srep *reps;
    size_t nreps;
    size_t *by_server;
    victim *victims;
    size_t *marked;
    size_t nmarked;
    sorder *order;
    size_t head; /* eligible list */
    wcreate *creates;
    size_t ncreates;
    wremove *removes;
    size_t nremoves;
    wshort *shorts;
    size_t nshorts;
} work;

struct mcphub_plan {
    mcphub__mem mem;
    mcphub_plan_create *creates;
    size_t ncreates;
    mcphub_plan_remove *removes;
    size_t nremoves;
    mcphub_plan_shortfall *shorts;
    size_t nshorts;
};

/* ---- scoring ------------------------------------------------------------ */

/* The design's score, plus a load term: without it every server with one
 * replica would land on the same lowest-cpu node, because cpu only changes
 * when the next heartbeat reports it.  One replica already on the node (of
 * any server) costs what 2 % of cpu does. */
#define LOAD_WEIGHT 1.0

static double score(uint32_t count, double cpu, int affine, uint32_t load)
{
    return 100.0 - 20.0 * (double)count - 0.5 * cpu + (affine ? 30.0 : 0.0) -
           LOAD_WEIGHT * (double)load;
}

static double node_score(const snode *n)
{
    return score(n->count, n->cpu, n->affine, n->load);
}

static int full(const snode *n)
{
    return n->max != 0 && n->load >= n->max;
}

/* ---- lookups -------------------------------------------------------------- */

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const snode *)a)->id, ((const snode *)b)->id);
}

static int cmp_node_id(const void *key, const void *elem)
{
    return strcmp(key, ((const snode *)elem)->id);
}

static int cmp_skey(const void *a, const void *b)
{
    return strcmp(((const skey *)a)->key, ((const skey *)b)->key);
}

static int cmp_skey_id(const void *key, const void *elem)
{
    return strcmp(key, ((const skey *)elem)->key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Best first: higher base score, then smaller id (lower index). */
static int cmp_order(const void *a, const void *b)
{
    const sorder *x = a, *y = b;

    if (x->base != y->base)
        return x->base > y->base ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static size_t find_node(const work *w, const char *id)
{
    const snode *n;

    if (w->nnodes == 0)
        return NIL;
    n = bsearch(id, w->nodes, w->nnodes, sizeof *w->nodes, cmp_node_id);
    return n != NULL ? (size_t)(n - w->nodes) : NIL;
}

static size_t find_server(const work *w, const char *name)
{
    const skey *k;

    if (w->nservers == 0)
        return NIL;
    k = bsearch(name, w->names, w->nservers, sizeof *w->names, cmp_skey_id);
    return k != NULL ? k->idx : NIL;
}

/* ---- input ------------------------------------------------------------------ */

static int bad_str(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static int bad_list(const char *const *list, size_t len)
{
    size_t i;

    if (len != 0 && list == NULL)
        return 1;
    for (i = 0; i < len; i++)
        if (bad_str(list[i]))
            return 1;
    return 0;
}

static int load_nodes(work *w, const mcphub_sched_node *in, size_t len)
{
    size_t i;

    if (len != 0 && in == NULL)
        return MCPHUB_E_INVAL;
    for (i = 0; i < len; i++) {
        if (bad_str(in[i].id) || in[i].status < MCPHUB_NODE_ONLINE ||
            in[i].status > MCPHUB_NODE_OFFLINE || !isfinite(in[i].cpu_percent))
            return MCPHUB_E_INVAL;
    }
    w->nodes = mcphub__calloc(w->mem, len, sizeof *w->nodes);
    w->marked = mcphub__calloc(w->mem, len, sizeof *w->marked);
    w->order = mcphub__calloc(w->mem, len, sizeof *w->order);
    if (w->nodes == NULL || w->marked == NULL || w->order == NULL)
        return MCPHUB_E_NOMEM;
    w->nnodes = len;
    for (i = 0; i < len; i++) {
        snode *n = &w->nodes[i];
        double cpu = in[i].cpu_percent;

        /* Workers may report a little over 100; do not fail a plan on it. */
        cpu = cpu < 0.0 ? 0.0 : cpu > 100.0 ? 100.0 : cpu;
        n->id = in[i].id;
        n->status = in[i].status;
        n->max = in[i].max_servers;
        n->cpu = cpu;
        n->base = score(0, cpu, 0, 0);
    }
    if (len != 0)
        qsort(w->nodes, len, sizeof *w->nodes, cmp_node);
    for (i = 1; i < len; i++)
        if (strcmp(w->nodes[i - 1].id, w->nodes[i].id) == 0)
            return MCPHUB_E_INVAL;
    return 0;
}

static int load_servers(work *w, const mcphub_replica_config *in, size_t len, uint32_t max,
                        size_t *creates_max)
{
    size_t i, sum = 0;

    if (len != 0 && in == NULL)
        return MCPHUB_E_INVAL;
    for (i = 0; i < len; i++) {
        const mcphub_replica_config *c = &in[i];

        if (mcphub__opts_check(c, sizeof *c) != 0 ||
            !MCPHUB__HAS(c, mcphub_replica_config, replicas) || bad_str(c->server) ||
            bad_list(MCPHUB__GET(c, mcphub_replica_config, node_ids, NULL),
                     MCPHUB__GET(c, mcphub_replica_config, node_ids_len, 0)) ||
            bad_list(MCPHUB__GET(c, mcphub_replica_config, exclude_node_ids, NULL),
                     MCPHUB__GET(c, mcphub_replica_config, exclude_node_ids_len, 0)))
            return MCPHUB_E_INVAL;
    }
    for (i = 0; i < len; i++) {
        if (in[i].replicas > max)
            return MCPHUB_E_FULL;
        if (in[i].replicas > SIZE_MAX - sum)
            return MCPHUB_E_NOMEM;
        sum += in[i].replicas;
    }
    w->servers = mcphub__calloc(w->mem, len, sizeof *w->servers);
    w->names = mcphub__calloc(w->mem, len, sizeof *w->names);
    w->shorts = mcphub__calloc(w->mem, len, sizeof *w->shorts);
    if (w->servers == NULL || w->names == NULL || w->shorts == NULL)
        return MCPHUB_E_NOMEM;
    w->nservers = len;
    for (i = 0; i < len; i++) {
        const mcphub_replica_config *c = &in[i];
        sserver *s = &w->servers[i];

        s->name = c->server;
        s->desired = c->replicas;
        s->affinity = MCPHUB__GET(c, mcphub_replica_config, node_ids, NULL);
        s->affinity_len = MCPHUB__GET(c, mcphub_replica_config, node_ids_len, 0);
        s->exclude = MCPHUB__GET(c, mcphub_replica_config, exclude_node_ids, NULL);
        s->exclude_len = MCPHUB__GET(c, mcphub_replica_config, exclude_node_ids_len, 0);
        w->names[i].key = c->server;
        w->names[i].idx = i;
    }
    if (len != 0)
        qsort(w->names, len, sizeof *w->names, cmp_skey);
    for (i = 1; i < len; i++)
        if (strcmp(w->names[i - 1].key, w->names[i].key) == 0)
            return MCPHUB_E_INVAL;
    *creates_max = sum;
    return 0;
}

static int unique_replica_ids(work *w, const mcphub_sched_replica *in, size_t len)
{
    const char **ids;
    size_t i;
    int rc = 0;

    if (len < 2)
        return 0;
    ids = mcphub__calloc(w->mem, len, sizeof *ids);
    if (ids == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < len; i++)
        ids[i] = in[i].id;
    qsort(ids, len, sizeof *ids, cmp_str);
    for (i = 1; i < len && rc == 0; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            rc = MCPHUB_E_INVAL;
    mcphub__free(w->mem, ids);
    return rc;
}

static int load_replicas(work *w, const mcphub_sched_replica *in, size_t len)
{
    size_t i, at;
    int rc;

    if (len != 0 && in == NULL)
        return MCPHUB_E_INVAL;
    for (i = 0; i < len; i++)
        if (bad_str(in[i].id) || bad_str(in[i].server) || bad_str(in[i].node) ||
            in[i].status < MCPHUB_REPLICA_PENDING || in[i].status > MCPHUB_REPLICA_TERMINATED)
            return MCPHUB_E_INVAL;
    rc = unique_replica_ids(w, in, len);
    if (rc != 0)
        return rc;
    w->reps = mcphub__calloc(w->mem, len, sizeof *w->reps);
    w->by_server = mcphub__calloc(w->mem, len, sizeof *w->by_server);
    w->removes = mcphub__calloc(w->mem, len, sizeof *w->removes);
    w->victims = mcphub__calloc(w->mem, len, sizeof *w->victims);
    if (w->reps == NULL || w->by_server == NULL || w->removes == NULL || w->victims == NULL)
        return MCPHUB_E_NOMEM;
    w->nreps = len;
    for (i = 0; i < len; i++) {
        srep *r = &w->reps[i];

        r->in = &in[i];
        r->node = find_node(w, in[i].node);
        r->server = find_server(w, in[i].server);
        /* Stopped and terminated replicas hold no slot and are left alone. */
        r->live = in[i].status != MCPHUB_REPLICA_STOPPED &&
                  in[i].status != MCPHUB_REPLICA_TERMINATED;
        if (r->live && r->node != NIL)
            w->nodes[r->node].load++;
        if (r->server != NIL)
            w->servers[r->server].n++;
    }
    /* Group replica indices by server, input order kept within a server. */
    for (i = 0, at = 0; i < w->nservers; i++) {
        w->servers[i].first = at;
        at += w->servers[i].n;
        w->servers[i].n = 0;
    }
    for (i = 0; i < len; i++) {
        sserver *s;

        if (w->reps[i].server == NIL)
            continue;
        s = &w->servers[w->reps[i].server];
        w->by_server[s->first + s->n++] = i;
    }
    return 0;
}

/* ---- marks for the server being planned ----------------------------------- */

static void mark(work *w, size_t n)
{
    if (!w->nodes[n].marked) {
        w->nodes[n].marked = 1;
        w->marked[w->nmarked++] = n;
    }
}

static void mark_server(work *w, const sserver *s)
{
    size_t i, n;

    for (i = 0; i < s->exclude_len; i++)
        if ((n = find_node(w, s->exclude[i])) != NIL) {
            w->nodes[n].excluded = 1;
            mark(w, n);
        }
    for (i = 0; i < s->affinity_len; i++)
        if ((n = find_node(w, s->affinity[i])) != NIL) {
            w->nodes[n].affine = 1;
            mark(w, n);
        }
}

static void clear_marks(work *w)
{
    size_t i;

    for (i = 0; i < w->nmarked; i++) {
        snode *n = &w->nodes[w->marked[i]];

        n->count = 0;
        n->excluded = n->affine = n->marked = 0;
    }
    w->nmarked = 0;
}

/* ---- phase 1: removals ------------------------------------------------------ */

static void plan_remove(work *w, size_t r, const char *reason)
{
    srep *rep = &w->reps[r];

    rep->removed = 1;
    if (rep->node != NIL)
        w->nodes[rep->node].load--;
    w->removes[w->nremoves].rep = r;
    w->removes[w->nremoves].reason = reason;
    w->nremoves++;
}

/* Same node together; on a node, the order its replicas go in: error or
 * pending first, then the largest id. */
static int cmp_victim_node(const void *a, const void *b)
{
    const victim *x = a, *y = b;

    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->bad != y->bad)
        return y->bad - x->bad;
    return strcmp(y->id, x->id);
}

/* Removal order: error or pending first, then the most replicas of the
 * server on the node, then the lowest score, then the largest id. */
static int cmp_victim(const void *a, const void *b)
{
    const victim *x = a, *y = b;

    if (x->bad != y->bad)
        return y->bad - x->bad;
    if (x->eff != y->eff)
        return x->eff > y->eff ? -1 : 1;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return strcmp(y->id, x->id);
}

/* Remove extras one at a time, each time the first by cmp_victim with the
 * counts and loads as they are then.  Done as one sort, not a loop over the
 * candidates per removal: a removal changes only its own node's count and
 * load, so
 * a node's replicas always leave in the same order (cmp_victim_node) with
 * keys that only fall; picking the best head among nodes again and again
 * is a merge, the same as sorting every replica by the key it will have
 * when its turn comes.  O(k log k) for k replicas of the server. */
static void scale_down(work *w, const sserver *s, uint32_t extras)
{
    size_t i, j, n = 0;

    for (i = 0; i < s->n; i++) {
        size_t r = w->by_server[s->first + i];
        const srep *rep = &w->reps[r];

        if (!rep->live || rep->removed)
            continue;
        w->victims[n].rep = r;
        w->victims[n].node = rep->node;
        w->victims[n].id = rep->in->id;
        w->victims[n].bad = rep->in->status == MCPHUB_REPLICA_ERROR ||
                            rep->in->status == MCPHUB_REPLICA_PENDING;
        n++;
    }
    qsort(w->victims, n, sizeof *w->victims, cmp_victim_node);
    for (i = 0; i < n; i = j) {
        const snode *x = &w->nodes[w->victims[i].node];

        /* The (j - i) replicas before it on this node are gone by then:
         * both the count and the load are down by as many. */
        for (j = i; j < n && w->victims[j].node == w->victims[i].node; j++) {
            w->victims[j].eff = x->count - (uint32_t)(j - i);
            w->victims[j].score = score(w->victims[j].eff, x->cpu, x->affine,
                                        x->load - (uint32_t)(j - i));
        }
    }
    qsort(w->victims, n, sizeof *w->victims, cmp_victim);
    for (i = 0; i < extras && i < n; i++) {
        const victim *v = &w->victims[i];

        plan_remove(w, v->rep, v->eff >= 2 ? "duplicate" : "scale-down");
        w->nodes[v->node].count--;
    }
}

static void plan_removals(work *w, sserver *s)
{
    uint32_t kept = 0;
    size_t i;

    mark_server(w, s);
    for (i = 0; i < s->n; i++) {
        size_t r = w->by_server[s->first + i];
        srep *rep = &w->reps[r];
        const char *why = NULL;

        if (!rep->live)
            continue;
        if (rep->node == NIL)
            why = "node-unknown";
        else if (w->nodes[rep->node].status == MCPHUB_NODE_OFFLINE)
            why = "node-offline";
        else if (w->nodes[rep->node].excluded)
            why = "excluded";
        else if (s->desired == 0)
            why = "scale-down";
        if (why != NULL) {
            plan_remove(w, r, why);
            continue;
        }
        mark(w, rep->node);
        w->nodes[rep->node].count++;
        kept++;
    }
    if (kept > s->desired) {
        scale_down(w, s, kept - s->desired);
        kept = s->desired;
    }
    s->kept = kept;
    clear_marks(w);
}

/* ---- phase 2: creates --------------------------------------------------------- */

static void build_eligible_list(work *w)
{
    size_t i, len = 0, prev = NIL;

    for (i = 0; i < w->nnodes; i++)
        if (w->nodes[i].status == MCPHUB_NODE_ONLINE && !full(&w->nodes[i])) {
            /* load is known now that phase 1 has run */
            w->nodes[i].base = score(0, w->nodes[i].cpu, 0, w->nodes[i].load);
            w->order[len].base = w->nodes[i].base;
            w->order[len].idx = i;
            len++;
        }
    if (len != 0)
        qsort(w->order, len, sizeof *w->order, cmp_order);
    w->head = NIL;
    for (i = 0; i < len; i++) {
        size_t n = w->order[i].idx;

        w->nodes[n].prev = prev;
        w->nodes[n].next = NIL;
        if (prev == NIL)
            w->head = n;
        else
            w->nodes[prev].next = n;
        prev = n;
    }
}

static void unlink_node(work *w, size_t n)
{
    snode *x = &w->nodes[n];

    if (x->prev == NIL)
        w->head = x->next;
    else
        w->nodes[x->prev].next = x->next;
    if (x->next != NIL)
        w->nodes[x->next].prev = x->prev;
}

/* 1 when node a (score sa) beats node b: fewer replicas of the server,
 * then higher score, then smaller id. */
static int better(const work *w, size_t a, double sa, size_t b, double sb)
{
    uint32_t ca = w->nodes[a].count, cb = w->nodes[b].count;

    if (ca != cb)
        return ca < cb;
    if (sa != sb)
        return sa > sb;
    return a < b;
}

/* A node took one more replica: its base score fell, so move it back along
 * the eligible list to where it now belongs (best first, then smaller id). */
static void sink_node(work *w, size_t n)
{
    snode *x = &w->nodes[n];
    size_t after;

    x->base = score(0, x->cpu, 0, x->load);
    after = x->next;
    if (after == NIL || !(w->nodes[after].base > x->base ||
                          (w->nodes[after].base == x->base && after < n)))
        return;
    unlink_node(w, n);
    while (w->nodes[after].next != NIL) {
        size_t nx = w->nodes[after].next;

        if (!(w->nodes[nx].base > x->base || (w->nodes[nx].base == x->base && nx < n)))
            break;
        after = nx;
    }
    x->prev = after;
    x->next = w->nodes[after].next;
    if (x->next != NIL)
        w->nodes[x->next].prev = n;
    w->nodes[after].next = n;
}

static size_t pick_node(const work *w, double *score_out)
{
    size_t best = NIL, i;
    double best_score = 0.0;

    /* Unmarked eligible nodes all score their base: the first is the best. */
    for (i = w->head; i != NIL; i = w->nodes[i].next)
        if (!w->nodes[i].marked) {
            best = i;
            best_score = w->nodes[i].base;
            break;
        }
    for (i = 0; i < w->nmarked; i++) {
        size_t n = w->marked[i];
        const snode *x = &w->nodes[n];
        double sc;

        if (x->excluded || x->status != MCPHUB_NODE_ONLINE || full(x))
            continue;
        sc = node_score(x);
        if (best == NIL || better(w, n, sc, best, best_score)) {
            best = n;
            best_score = sc;
        }
    }
    *score_out = best_score;
    return best;
}

/* Text built twice: once to measure (p == NULL), once to write. */
typedef struct sbuf { char *p; size_t len, cap; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    if (b->p != NULL)
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    else
        n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

enum { WHY_OFFLINE, WHY_UNHEALTHY, WHY_FULL, WHY_EXCLUDED, WHY_NONE };

static int why_not(const snode *n)
{
    if (n->status == MCPHUB_NODE_OFFLINE)
        return WHY_OFFLINE;
    if (n->status == MCPHUB_NODE_UNHEALTHY)
        return WHY_UNHEALTHY;
    if (n->excluded)
        return WHY_EXCLUDED;
    if (full(n))
        return WHY_FULL;
    return WHY_NONE;
}

/* "3 replicas desired, 2 placed: 4 nodes known; w3 offline,
 * w4 full (10/10 servers), w1 excluded": every node is named, grouped by
 * cause, in id order, up to REASON_LIST_MAX of them. */
static void write_reason(const work *w, const sserver *s, uint32_t placed, sbuf *b)
{
    static const char *const what[] = {"offline", "unhealthy", "full", "excluded"};
    size_t listed = 0, more = 0, i;
    int why;

    sb_add(b, "%u replica%s desired, %u placed: ", (unsigned)s->desired,
           s->desired == 1 ? "" : "s", (unsigned)placed);
    if (w->nnodes == 0) {
        sb_add(b, "no nodes known");
        return;
    }
    sb_add(b, "%zu node%s known", w->nnodes, w->nnodes == 1 ? "" : "s");
    for (why = WHY_OFFLINE; why < WHY_NONE; why++)
        for (i = 0; i < w->nnodes; i++) {
            const snode *n = &w->nodes[i];

            if (why_not(n) != why)
                continue;
            if (listed == REASON_LIST_MAX) {
                more++;
                continue;
            }
            sb_add(b, "%s%s %s", listed == 0 ? "; " : ", ", n->id, what[why]);
            if (why == WHY_FULL)
                sb_add(b, " (%u/%u servers)", (unsigned)n->load, (unsigned)n->max);
            listed++;
        }
    if (more != 0)
        sb_add(b, ", and %zu more", more);
}

static int add_shortfall(work *w, size_t si, uint32_t placed)
{
    const sserver *s = &w->servers[si];
    sbuf b = {NULL, 0, 0};
    wshort *sh;

    write_reason(w, s, placed, &b);
    b.cap = b.len + 1;
    b.len = 0;
    b.p = mcphub__malloc(w->mem, b.cap);
    if (b.p == NULL)
        return MCPHUB_E_NOMEM;
    b.p[0] = '\0';
    write_reason(w, s, placed, &b);
    sh = &w->shorts[w->nshorts++];
    sh->server = si;
    sh->desired = s->desired;
    sh->placed = placed;
    sh->reason = b.p;
    return 0;
}

static int plan_creates(work *w, size_t si)
{
    const sserver *s = &w->servers[si];
    uint32_t placed = s->kept;
    size_t i;
    int rc = 0;

    if (placed >= s->desired)
        return 0;
    mark_server(w, s);
    for (i = 0; i < s->n; i++) {
        const srep *rep = &w->reps[w->by_server[s->first + i]];

        if (rep->live && !rep->removed) {
            mark(w, rep->node);
            w->nodes[rep->node].count++;
        }
    }
    while (placed < s->desired) {
        double sc;
        size_t n = pick_node(w, &sc);
        snode *x;

        if (n == NIL) {
            rc = add_shortfall(w, si, placed);
            break;
        }
        x = &w->nodes[n];
        w->creates[w->ncreates].server = si;
        w->creates[w->ncreates].node = n;
        w->creates[w->ncreates].score = sc;
        w->ncreates++;
        x->load++;
        if (full(x))
            unlink_node(w, n);
        else
            sink_node(w, n);
        mark(w, n);
        x->count++;
        placed++;
    }
    clear_marks(w);
    return rc;
}

/* ---- the plan ------------------------------------------------------------------ */

typedef union align_unit { double d; void *p; size_t s; uint64_t u; } align_unit;

static size_t round_up(size_t n)
{
    return (n + sizeof(align_unit) - 1) / sizeof(align_unit) * sizeof(align_unit);
}

/* acc += n, 1 on overflow. */
static int add_over(size_t *acc, size_t n)
{
    if (n > SIZE_MAX - *acc - sizeof(align_unit))
        return 1;
    *acc += n;
    return 0;
}

static int add_str(size_t *acc, const char *s)
{
    return add_over(acc, strlen(s) + 1);
}

static const char *put_str(char **arena, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = *arena;

    memcpy(d, s, n);
    *arena += n;
    return d;
}

/* Measure the strings, allocate plan, arrays and strings as one block, copy. */
static int build_plan(const work *w, mcphub_plan **out)
{
    size_t at_creates, at_removes, at_shorts, at_strings, total, i;
    mcphub_plan *p;
    char *arena;
    int over = 0;

    at_creates = round_up(sizeof *p);
    total = at_creates;
    over |= add_over(&total, round_up(w->ncreates * sizeof(mcphub_plan_create)));
    at_removes = total;
    over |= add_over(&total, round_up(w->nremoves * sizeof(mcphub_plan_remove)));
    at_shorts = total;
    over |= add_over(&total, round_up(w->nshorts * sizeof(mcphub_plan_shortfall)));
    at_strings = total;
    for (i = 0; i < w->ncreates; i++) {
        over |= add_str(&total, w->servers[w->creates[i].server].name);
        over |= add_str(&total, w->nodes[w->creates[i].node].id);
    }
    for (i = 0; i < w->nremoves; i++) {
        const mcphub_sched_replica *r = w->reps[w->removes[i].rep].in;

        over |= add_str(&total, r->id);
        over |= add_str(&total, r->server);
        over |= add_str(&total, r->node);
        over |= add_str(&total, w->removes[i].reason);
    }
    for (i = 0; i < w->nshorts; i++) {
        over |= add_str(&total, w->servers[w->shorts[i].server].name);
        over |= add_str(&total, w->shorts[i].reason);
    }
    if (over)
        return MCPHUB_E_NOMEM;
    p = mcphub__malloc(w->mem, total);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    p->mem = *w->mem;
    p->creates = (mcphub_plan_create *)(void *)((char *)p + at_creates);
    p->removes = (mcphub_plan_remove *)(void *)((char *)p + at_removes);
    p->shorts = (mcphub_plan_shortfall *)(void *)((char *)p + at_shorts);
    p->ncreates = w->ncreates;
    p->nremoves = w->nremoves;
    p->nshorts = w->nshorts;
    arena = (char *)p + at_strings;
    for (i = 0; i < w->ncreates; i++) {
        p->creates[i].server = put_str(&arena, w->servers[w->creates[i].server].name);
        p->creates[i].node = put_str(&arena, w->nodes[w->creates[i].node].id);
        p->creates[i].score = w->creates[i].score;
    }
    for (i = 0; i < w->nremoves; i++) {
        const mcphub_sched_replica *r = w->reps[w->removes[i].rep].in;

        p->removes[i].replica = put_str(&arena, r->id);
        p->removes[i].server = put_str(&arena, r->server);
        p->removes[i].node = put_str(&arena, r->node);
        p->removes[i].reason = put_str(&arena, w->removes[i].reason);
    }
    for (i = 0; i < w->nshorts; i++) {
        p->shorts[i].server = put_str(&arena, w->servers[w->shorts[i].server].name);
        p->shorts[i].desired = w->shorts[i].desired;
        p->shorts[i].placed = w->shorts[i].placed;
        p->shorts[i].reason = put_str(&arena, w->shorts[i].reason);
    }
    *out = p;
    return 0;
}

static void work_free(work *w)
{
    size_t i;

    for (i = 0; i < w->nshorts; i++)
        mcphub__free(w->mem, w->shorts[i].reason);
    mcphub__free(w->mem, w->nodes);
    mcphub__free(w->mem, w->marked);
    mcphub__free(w->mem, w->order);
    mcphub__free(w->mem, w->servers);
    mcphub__free(w->mem, w->names);
    mcphub__free(w->mem, w->shorts);
    mcphub__free(w->mem, w->reps);
    mcphub__free(w->mem, w->by_server);
    mcphub__free(w->mem, w->victims);
    mcphub__free(w->mem, w->removes);
    mcphub__free(w->mem, w->creates);
}

static int plan(work *w, const mcphub_sched_input *in, uint32_t max_replicas)
{
    size_t creates_max = 0, i;
    int rc;

    rc = load_nodes(w, in->nodes, in->nodes_len);
    if (rc == 0)
        rc = load_servers(w, in->configs, in->configs_len, max_replicas, &creates_max);
    if (rc == 0)
        rc = load_replicas(w, in->replicas, in->replicas_len);
    if (rc != 0)
        return rc;
    w->creates = mcphub__calloc(w->mem, creates_max, sizeof *w->creates);
    if (w->creates == NULL)
        return MCPHUB_E_NOMEM;
    /* Phase 1: every removal first, so freed slots are there for creates. */
    for (i = 0; i < w->nreps; i++)
        if (w->reps[i].live && w->reps[i].server == NIL)
            plan_remove(w, i, "server-removed");
    for (i = 0; i < w->nservers; i++)
        plan_removals(w, &w->servers[i]);
    /* Phase 2: creates, servers in config order. */
    build_eligible_list(w);
    for (i = 0; i < w->nservers && rc == 0; i++)
        rc = plan_creates(w, i);
    return rc;
}

MCPHUB_API int mcphub_scheduler_plan(mcphub_plan **out, const mcphub_sched_input *in,
                                     const mcphub_mem *hooks)
{
    mcphub__mem mem;
    work w;
    uint32_t max_replicas;
    int rc;

    if (out == NULL || in == NULL)
        return MCPHUB_E_INVAL;
    rc = mcphub__opts_check(in, sizeof *in);
    if (rc != 0 || !MCPHUB__HAS(in, mcphub_sched_input, configs_len))
        return MCPHUB_E_INVAL;
    rc = mcphub__mem_init(&mem, hooks);
    if (rc != 0)
        return rc;
    max_replicas = MCPHUB__GET(in, mcphub_sched_input, max_replicas, 0);
    if (max_replicas == 0)
        max_replicas = MCPHUB_SCHED_DEFAULT_MAX_REPLICAS;
    memset(&w, 0, sizeof w);
    w.mem = &mem;
    rc = plan(&w, in, max_replicas);
    if (rc == 0)
        rc = build_plan(&w, out);
    work_free(&w);
    return rc;
}

MCPHUB_API void mcphub_plan_free(mcphub_plan *p)
{
    if (p != NULL) {
        mcphub__mem mem = p->mem;

        mcphub__free(&mem, p);
    }
}

MCPHUB_API size_t mcphub_plan_create_count(const mcphub_plan *p)
{
    return p != NULL ? p->ncreates : 0;
}

MCPHUB_API const mcphub_plan_create *mcphub_plan_create_at(const mcphub_plan *p, size_t i)
{
    return p != NULL && i < p->ncreates ? &p->creates[i] : NULL;
}

MCPHUB_API size_t mcphub_plan_remove_count(const mcphub_plan *p)
{
    return p != NULL ? p->nremoves : 0;
}

MCPHUB_API const mcphub_plan_remove *mcphub_plan_remove_at(const mcphub_plan *p, size_t i)
{
    return p != NULL && i < p->nremoves ? &p->removes[i] : NULL;
}

MCPHUB_API size_t mcphub_plan_shortfall_count(const mcphub_plan *p)
{
    return p != NULL ? p->nshorts : 0;
}

MCPHUB_API const mcphub_plan_shortfall *mcphub_plan_shortfall_at(const mcphub_plan *p, size_t i)
{
    return p != NULL && i < p->nshorts ? &p->shorts[i] : NULL;
}
