/* Metrics registry and Prometheus text rendering; see metrics.h.
 *
 * A series is found by its key "name{l1=\"v1\",l2=\"v2\"}" (labels sorted
 * by name, values escaped) in one hash map, so an update builds the key on
 * the stack and costs one lookup.  The key is also the rendered label
 * text.  Families (name, type, help, buckets) live in a second map. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "mcphub/metrics.h"
#include "map_int.h"
#include "mem_int.h"

#define MAX_KEY 4096
#define DEFAULT_SEED 0x6d747263u
#define DROPPED_NAME "mcphub_metrics_dropped_total"

typedef enum { T_COUNTER = 1, T_GAUGE = 2, T_HISTOGRAM = 3 } mtype;

typedef struct family {
    const char *name;      /* in the same block */
    const char *help;      /* in the same block, or NULL */
    mtype type;
    const double *bounds;  /* histogram upper bounds, +Inf not included */
    size_t n_bounds;
} family;

typedef struct series {
    const family *fam;
    const char *key;       /* "name{labels}", in the same block */
    const char *labels;    /* into key, after '{'; labels_len bytes */
    size_t labels_len;
    double value;          /* counter, gauge; a histogram's sum */
    uint64_t count;        /* histogram observations */
    uint64_t *buckets;     /* histogram: n_bounds + 1 counts, not cumulative */
} series;

struct mcphub_metrics {
    mcphub__mem mem;
    mcphub__map families;  /* name -> family */
    mcphub__map series;    /* key -> series */
    size_t max_series;
    uint64_t dropped;
};

/* ---- life cycle ---- */

MCPHUB_API int mcphub_metrics_new(mcphub_metrics **out, const mcphub_metrics_opts *opts,
                                  const mcphub_mem *mem)
{
    mcphub__mem mm;
    mcphub_metrics *m;
    uint32_t max, seed;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&mm, mem)) != 0)
        return rc;
    max = MCPHUB__GET(opts, mcphub_metrics_opts, max_series, 0);
    seed = MCPHUB__GET(opts, mcphub_metrics_opts, hash_seed, 0);
    m = mcphub__calloc(&mm, 1, sizeof *m);
    if (m == NULL)
        return MCPHUB_E_NOMEM;
    m->mem = mm;
    m->max_series = max ? max : MCPHUB_METRICS_MAX_SERIES_DEFAULT;
    mcphub__map_init(&m->families, &m->mem, seed ? seed : DEFAULT_SEED);
    mcphub__map_init(&m->series, &m->mem, (seed ? seed : DEFAULT_SEED) ^ 0x5bd1e995u);
    *out = m;
    return 0;
}

MCPHUB_API void mcphub_metrics_free(mcphub_metrics *m)
{
    size_t i = 0;
    const char *k;
    void *v;

    if (m == NULL)
        return;
    while (mcphub__map_next(&m->series, &i, &k, &v))
        mcphub__free(&m->mem, v);
    i = 0;
    while (mcphub__map_next(&m->families, &i, &k, &v))
        mcphub__free(&m->mem, v);
    mcphub__map_free(&m->series);
    mcphub__map_free(&m->families);
    mcphub__free(&m->mem, m);
}

MCPHUB_API size_t mcphub_metrics_series_count(const mcphub_metrics *m)
{
    return m != NULL ? m->series.len : 0;
}

MCPHUB_API uint64_t mcphub_metrics_dropped(const mcphub_metrics *m)
{
    return m != NULL ? m->dropped : 0;
}

/* ---- validation and the series key ---- */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Metric names may also hold ':' (recording rules); label names not. */
static int valid_name(const char *s, int colon)
{
    size_t i;

    if (s == NULL || !(is_alpha(s[0]) || (colon && s[0] == ':')))
        return 0;
    for (i = 1; s[i] != '\0'; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || (colon && s[i] == ':')) ||
            i >= MCPHUB_METRICS_MAX_TEXT)
            return 0;
    return 1;
}

static int short_text(const char *s)
{
    return s == NULL || strlen(s) <= MCPHUB_METRICS_MAX_TEXT;
}

/* A bounded writer: appends what fits, remembers that something did not. */
typedef struct text {
    char *buf;
    size_t len;
    size_t cap;
    int over;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->over || n >= t->cap - t->len) {
        t->over = 1;
        return;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void put_str(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Label values: backslash, double quote and newline escaped. */
static void put_label_value(text *t, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            put(t, "\\\\", 2);
        else if (*s == '"')
            put(t, "\\\"", 2);
        else if (*s == '\n')
            put(t, "\\n", 2);
        else
            put(t, s, 1);
    }
}

/* Write "name{k1=\"v1\",...}" into key (MAX_KEY + 1 bytes), labels sorted
 * by name.  0, MCPHUB_E_INVAL (a rule broken) or MCPHUB_E_TOOBIG. */
static int build_key(char *key, const char *name, const char *const *kv, int histogram,
                     size_t *key_len)
{
    const char *names[MCPHUB_METRICS_MAX_LABELS], *values[MCPHUB_METRICS_MAX_LABELS];
    text t = {key, 0, MAX_KEY + 1, 0};
    size_t n = 0, i, j;

    key[0] = '\0';
    for (i = 0; kv != NULL && kv[2 * i] != NULL; i++) {
        const char *ln = kv[2 * i], *lv = kv[2 * i + 1];

        if (n == MCPHUB_METRICS_MAX_LABELS || lv == NULL || !valid_name(ln, 0) ||
            (ln[0] == '_' && ln[1] == '_') || (histogram && strcmp(ln, "le") == 0) ||
            !short_text(lv))
            return MCPHUB_E_INVAL;
        /* insertion sort: at most 16 labels */
        for (j = n; j > 0 && strcmp(names[j - 1], ln) > 0; j--) {
            names[j] = names[j - 1];
            values[j] = values[j - 1];
        }
        names[j] = ln;
        values[j] = lv;
        n++;
    }
    for (i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return MCPHUB_E_INVAL;
    put_str(&t, name);
    put(&t, "{", 1);
    for (i = 0; i < n; i++) {
        if (i > 0)
            put(&t, ",", 1);
        put_str(&t, names[i]);
        put(&t, "=\"", 2);
        put_label_value(&t, values[i]);
        put(&t, "\"", 1);
    }
    put(&t, "}", 1);
    if (t.over)
        return MCPHUB_E_TOOBIG;
    *key_len = t.len;
    return 0;
}

/* Bounds: finite, strictly increasing; a trailing +Inf is implicit. */
static int check_bounds(const double *b, size_t *n)
{
    size_t i;

    if (*n > 0 && b == NULL)
        return MCPHUB_E_INVAL;
    if (*n > 0 && isinf(b[*n - 1]) && b[*n - 1] > 0)
        (*n)--;
    if (*n > MCPHUB_METRICS_MAX_BUCKETS)
        return MCPHUB_E_INVAL;
    for (i = 0; i < *n; i++)
        if (!isfinite(b[i]) || (i > 0 && !(b[i - 1] < b[i])))
            return MCPHUB_E_INVAL;
    return 0;
}

static int same_family(const family *f, mtype type, const double *b, size_t n)
{
    if (f->type != type)
        return 0;
    return type != T_HISTOGRAM ||
           (f->n_bounds == n && (n == 0 || memcmp(f->bounds, b, n * sizeof *b) == 0));
}

/* ---- creating ---- */

static family *family_new(const mcphub__mem *mem, const char *name, const char *help, mtype type,
                          const double *b, size_t n)
{
    size_t nl = strlen(name) + 1, hl = help != NULL ? strlen(help) + 1 : 0;
    family *f = mcphub__malloc(mem, sizeof *f + n * sizeof *b + nl + hl);
    char *p;

    if (f == NULL)
        return NULL;
    p = (char *)(f + 1);
    f->bounds = n > 0 ? memcpy(p, b, n * sizeof *b) : NULL;
    p += n * sizeof *b;
    f->name = memcpy(p, name, nl);
    f->help = help != NULL ? memcpy(p + nl, help, hl) : NULL;
    f->type = type;
    f->n_bounds = n;
    return f;
}

static series *series_new(const mcphub__mem *mem, const family *f, const char *key,
                          size_t key_len)
{
    size_t nb = f->type == T_HISTOGRAM ? f->n_bounds + 1 : 0;
    series *s = mcphub__calloc(mem, 1, sizeof *s + nb * sizeof(uint64_t) + key_len + 1);
    char *k;
    size_t name_len = strlen(f->name);

    if (s == NULL)
        return NULL;
    s->fam = f;
    s->buckets = nb > 0 ? (uint64_t *)(s + 1) : NULL;
    k = (char *)(s + 1) + nb * sizeof(uint64_t);
    memcpy(k, key, key_len + 1);
    s->key = k;
    s->labels = k + name_len + 1;
    s->labels_len = key_len - name_len - 2;
    return s;
}

/* Find or create the series of an update.  Everything is checked before
 * anything changes; a new series is committed only once both maps have
 * room. */
static int lookup(mcphub_metrics *m, mtype type, const char *name, const char *help,
                  const char *const *kv, const double *bounds, size_t n_bounds, series **out)
{
    char key[MAX_KEY + 1];
    size_t key_len;
    const family *f;
    family *nf = NULL;
    series *s;
    int rc;

    if (m == NULL || !valid_name(name, 1) || strcmp(name, DROPPED_NAME) == 0 || !short_text(help))
        return MCPHUB_E_INVAL;
    if (type == T_HISTOGRAM && (rc = check_bounds(bounds, &n_bounds)) != 0)
        return rc;
    if ((rc = build_key(key, name, kv, type == T_HISTOGRAM, &key_len)) != 0)
        return rc;
    s = mcphub__map_getn(&m->series, key, key_len);
    f = s != NULL ? s->fam : mcphub__map_get(&m->families, name);
    if (f != NULL && !same_family(f, type, bounds, n_bounds))
        return MCPHUB_E_EXISTS;
    if (s != NULL) {
        *out = s;
        return 0;
    }
    if (m->series.len >= m->max_series) {
        m->dropped++;
        return MCPHUB_E_FULL;
    }
    if (f == NULL && (f = nf = family_new(&m->mem, name, help, type, bounds, n_bounds)) == NULL)
        return MCPHUB_E_NOMEM;
    s = series_new(&m->mem, f, key, key_len);
    if (s == NULL || (nf != NULL && mcphub__map_reserve(&m->families, 1) != 0) ||
        mcphub__map_reserve(&m->series, 1) != 0) {
        mcphub__free(&m->mem, s);
        mcphub__free(&m->mem, nf);
        return MCPHUB_E_NOMEM;
    }
    if (nf != NULL)
        mcphub__map_put(&m->families, nf->name, nf, NULL);
    mcphub__map_put(&m->series, s->key, s, NULL);
    *out = s;
    return 0;
}

/* ---- updates ---- */

MCPHUB_API int mcphub_metrics_counter_add(mcphub_metrics *m, const char *name, const char *help,
                                          const char *const *label_kv, double v)
{
    series *s;
    int rc;

    if (!isfinite(v) || v < 0)
        return MCPHUB_E_INVAL;
    if ((rc = lookup(m, T_COUNTER, name, help, label_kv, NULL, 0, &s)) != 0)
        return rc;
    s->value += v;
    return 0;
}

MCPHUB_API int mcphub_metrics_gauge_set(mcphub_metrics *m, const char *name, const char *help,
                                        const char *const *label_kv, double v)
{
    series *s;
    int rc;

    if ((rc = lookup(m, T_GAUGE, name, help, label_kv, NULL, 0, &s)) != 0)
        return rc;
    s->value = v;
    return 0;
}

MCPHUB_API int mcphub_metrics_histogram_observe(mcphub_metrics *m, const char *name,
                                                const char *help, const char *const *label_kv,
                                                const double *buckets, size_t n_buckets,
                                                double v)
{
    series *s;
    size_t lo, hi;
    int rc;

    if (isnan(v))
        return MCPHUB_E_INVAL;
    if ((rc = lookup(m, T_HISTOGRAM, name, help, label_kv, buckets, n_buckets, &s)) != 0)
        return rc;
    /* first bound >= v; n_bounds is the +Inf bucket */
    lo = 0;
    hi = s->fam->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v <= s->fam->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    s->buckets[lo]++;
    s->count++;
    s->value += v;
    return 0;
}

/* ---- rendering ---- */

/* A growing output buffer through the handle's allocator. */
typedef struct out {
    const mcphub__mem *mem;
    char *buf;
    size_t len;
    size_t cap;
    int oom;
} out;

static void emit(out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (n >= o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 1024;
        char *nb;

        while (n >= cap - o->len)
            cap *= 2;
        nb = mcphub__realloc(o->mem, o->buf, cap);
        if (nb == NULL) {
            o->oom = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void emit_str(out *o, const char *s)
{
    emit(o, s, strlen(s));
}

/* The shortest "%g" form that reads back as the same double. */
static const char *format_number(char *b, size_t cap, double v)
{
    int prec;

    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (prec = 15; prec <= 17; prec++) {
        snprintf(b, cap, "%.*g", prec, v);
        if (prec == 17 || strtod(b, NULL) == v)
            break;
    }
    return b;
}

static void emit_number(out *o, double v)
{
    char b[40];

    emit_str(o, format_number(b, sizeof b, v));
}

static void emit_count(out *o, uint64_t v)
{
    char b[24];

    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    emit_str(o, b);
}

/* HELP text: backslash and newline escaped. */
static void emit_help(out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            emit(o, "\\\\", 2);
        else if (*s == '\n')
            emit(o, "\\n", 2);
        else
            emit(o, s, 1);
    }
}

/* name + suffix + {labels[,le="x"]} */
static void emit_series_name(out *o, const series *s, const char *suffix, const char *le)
{
    emit_str(o, s->fam->name);
    emit_str(o, suffix);
    if (s->labels_len == 0 && le == NULL)
        return;
    emit(o, "{", 1);
    emit(o, s->labels, s->labels_len);
    if (le != NULL) {
        if (s->labels_len > 0)
            emit(o, ",", 1);
        emit(o, "le=\"", 4);
        emit_str(o, le);
        emit(o, "\"", 1);
    }
    emit(o, "}", 1);
}

static void emit_histogram(out *o, const series *s)
{
    uint64_t cum = 0;
    size_t i;
    char b[40];

    /* the last bucket is le="+Inf" and holds every observation */
    for (i = 0; i <= s->fam->n_bounds; i++) {
        cum += s->buckets[i];
        emit_series_name(o, s, "_bucket",
                         i < s->fam->n_bounds ? format_number(b, sizeof b, s->fam->bounds[i])
                                              : "+Inf");
        emit(o, " ", 1);
        emit_count(o, cum);
        emit(o, "\n", 1);
    }
    emit_series_name(o, s, "_sum", NULL);
    emit(o, " ", 1);
    emit_number(o, s->value);
    emit(o, "\n", 1);
    emit_series_name(o, s, "_count", NULL);
    emit(o, " ", 1);
    emit_count(o, s->count);
    emit(o, "\n", 1);
}

static int by_family_then_labels(const void *a, const void *b)
{
    const series *x = *(const series *const *)a, *y = *(const series *const *)b;
    size_t n;
    int c;

    if (x->fam != y->fam)
        return strcmp(x->fam->name, y->fam->name);
    n = x->labels_len < y->labels_len ? x->labels_len : y->labels_len;
    c = memcmp(x->labels, y->labels, n);
    if (c != 0)
        return c;
    return x->labels_len < y->labels_len ? -1 : x->labels_len > y->labels_len;
}

MCPHUB_API int mcphub_metrics_render(const mcphub_metrics *m, char **out_text, size_t *len)
{
    static const char *const type_names[] = {"", "counter", "gauge", "histogram"};
    family dropped_fam = {DROPPED_NAME, "New series refused because the registry was full.",
                          T_COUNTER, NULL, 0};
    series dropped;
    const series **all;
    out o;
    size_t i = 0, n = 0;
    const char *k;
    void *v;

    if (out_text != NULL)
        *out_text = NULL;
    if (len != NULL)
        *len = 0;
    if (m == NULL || out_text == NULL)
        return MCPHUB_E_INVAL;
    /* The dropped counter takes part like any series, sorted among them. */
    memset(&dropped, 0, sizeof dropped);
    dropped.fam = &dropped_fam;
    dropped.key = DROPPED_NAME "{}";
    dropped.labels = "";
    dropped.value = (double)m->dropped;
    all = mcphub__reallocarray(&m->mem, NULL, m->series.len + 1, sizeof *all);
    if (all == NULL)
        return MCPHUB_E_NOMEM;
    while (mcphub__map_next(&m->series, &i, &k, &v))
        all[n++] = v;
    all[n++] = &dropped;
    qsort(all, n, sizeof *all, by_family_then_labels);

    o.mem = &m->mem;
    o.buf = NULL;
    o.len = o.cap = 0;
    o.oom = 0;
    for (i = 0; i < n && !o.oom; i++) {
        const series *s = all[i];

        if (i == 0 || all[i - 1]->fam != s->fam) {
            if (s->fam->help != NULL) {
                emit_str(&o, "# HELP ");
                emit_str(&o, s->fam->name);
                emit(&o, " ", 1);
                emit_help(&o, s->fam->help);
                emit(&o, "\n", 1);
            }
            emit_str(&o, "# TYPE ");
            emit_str(&o, s->fam->name);
            emit(&o, " ", 1);
            emit_str(&o, type_names[s->fam->type]);
            emit(&o, "\n", 1);
        }
        if (s->fam->type == T_HISTOGRAM) {
            emit_histogram(&o, s);
        } else {
            emit_series_name(&o, s, "", NULL);
            emit(&o, " ", 1);
            emit_number(&o, s->value);
            emit(&o, "\n", 1);
        }
    }
    mcphub__free(&m->mem, all);
    if (o.oom) {
        mcphub__free(&m->mem, o.buf);
        return MCPHUB_E_NOMEM;
    }
    *out_text = o.buf;
    if (len != NULL)
        *len = o.len;
    return 0;
}

MCPHUB_API void mcphub_metrics_text_free(const mcphub_metrics *m, char *text_)
{
    if (m != NULL)
        mcphub__free(&m->mem, text_);
}
