/* Fuzz target: every decoder of the cluster's wire messages (wire.h).
 * The whole input is offered to each decoder.  Whatever decodes is encoded
 * again, the encoding decoded again, and the two decoded structs must be
 * equal field by field; encoding the second one must give the same bytes
 * (the encoder's output is canonical).  A decode that fails must leave
 * *out alone and fill err. */
#include <math.h>

#include <mcphub/wire.h>

#include "fuzz_util.h"

static int sentinel;
#define SENTINEL ((void *)&sentinel)

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_failed(int rc, void *out, const mcphub_wire_error *err)
{
    FUZZ_CHECK(rc < 0);
    FUZZ_CHECK(out == SENTINEL);
    FUZZ_CHECK(err->text[0] != '\0');
    FUZZ_CHECK(memchr(err->field, '\0', sizeof err->field) != NULL);
    FUZZ_CHECK(memchr(err->text, '\0', sizeof err->text) != NULL);
}

static void reports_eq(const mcphub_wire_replica_report *a, size_t na,
                       const mcphub_wire_replica_report *b, size_t nb)
{
    size_t i;

    FUZZ_CHECK(na == nb);
    for (i = 0; i < na; i++) {
        FUZZ_CHECK(str_eq(a[i].replica_id, b[i].replica_id));
        FUZZ_CHECK(str_eq(a[i].server, b[i].server));
        FUZZ_CHECK(a[i].status == b[i].status);
        FUZZ_CHECK(a[i].tools == b[i].tools);
        FUZZ_CHECK(a[i].config_version == b[i].config_version);
        FUZZ_CHECK(str_eq(a[i].error, b[i].error));
    }
}

static void assignments_eq(const mcphub_wire_assignment *a, size_t na,
                           const mcphub_wire_assignment *b, size_t nb)
{
    size_t i;

    FUZZ_CHECK(na == nb);
    for (i = 0; i < na; i++) {
        FUZZ_CHECK(str_eq(a[i].replica_id, b[i].replica_id));
        FUZZ_CHECK(str_eq(a[i].server, b[i].server));
        FUZZ_CHECK(str_eq(a[i].config_json, b[i].config_json));
        FUZZ_CHECK(a[i].config_version == b[i].config_version);
    }
}

static void releases_eq(const mcphub_wire_release *a, size_t na, const mcphub_wire_release *b,
                        size_t nb)
{
    size_t i;

    FUZZ_CHECK(na == nb);
    for (i = 0; i < na; i++) {
        FUZZ_CHECK(str_eq(a[i].replica_id, b[i].replica_id));
        FUZZ_CHECK(str_eq(a[i].server, b[i].server));
    }
}

static void meta_eq(const mcphub_node_meta *a, const mcphub_node_meta *b)
{
    FUZZ_CHECK(str_eq(a->hostname, b->hostname));
    FUZZ_CHECK(str_eq(a->version, b->version));
    FUZZ_CHECK(str_eq(a->os, b->os));
    FUZZ_CHECK(a->cpu_count == b->cpu_count);
    FUZZ_CHECK(a->memory_total == b->memory_total);
}

/* Encode twice (from the first and the second decode) and compare. */
#define ROUND_TRIP(T, enc, dec, fre, eq)                                                  \
    do {                                                                                  \
        T *m1 = SENTINEL, *m2 = SENTINEL;                                                 \
        mcphub_wire_error e1, e2;                                                         \
        char *t1 = NULL, *t2 = NULL;                                                      \
        size_t l1 = 0, l2 = 0;                                                            \
        int rc = dec(json, size, &m1, NULL, &e1);                                         \
                                                                                          \
        if (rc != 0) {                                                                    \
            check_failed(rc, m1, &e1);                                                    \
            break;                                                                        \
        }                                                                                 \
        FUZZ_CHECK(m1 != SENTINEL && m1 != NULL);                                         \
        FUZZ_CHECK(e1.field[0] == '\0' && e1.text[0] == '\0');                            \
        rc = enc(m1, &t1, &l1, NULL);                                                     \
        FUZZ_CHECK(rc == 0);                                                              \
        FUZZ_CHECK(strlen(t1) == l1);                                                     \
        rc = dec(t1, l1, &m2, NULL, &e2);                                                 \
        if (rc != 0)                                                                      \
            fprintf(stderr, "re-decode of %s failed: %d %s: %s\n", t1, rc, e2.field,      \
                    e2.text);                                                             \
        FUZZ_CHECK(rc == 0);                                                              \
        eq(m1, m2);                                                                       \
        FUZZ_CHECK(enc(m2, &t2, &l2, NULL) == 0);                                         \
        FUZZ_CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);                                  \
        mcphub_wire_free(NULL, t1);                                                       \
        mcphub_wire_free(NULL, t2);                                                       \
        fre(m1);                                                                          \
        fre(m2);                                                                          \
    } while (0)

static void register_eq(const mcphub_wire_register *a, const mcphub_wire_register *b)
{
    FUZZ_CHECK(str_eq(a->node_id, b->node_id));
    FUZZ_CHECK(a->role == b->role);
    FUZZ_CHECK(str_eq(a->host, b->host));
    FUZZ_CHECK(a->port == b->port);
    FUZZ_CHECK(a->internal_port == b->internal_port);
    FUZZ_CHECK(a->weight == b->weight);
    FUZZ_CHECK(a->max_servers == b->max_servers);
    meta_eq(&a->meta, &b->meta);
    reports_eq(a->replicas, a->replicas_len, b->replicas, b->replicas_len);
}

static void register_reply_eq(const mcphub_wire_register_reply *a,
                              const mcphub_wire_register_reply *b)
{
    FUZZ_CHECK(str_eq(a->node_id, b->node_id));
    FUZZ_CHECK(a->heartbeat_interval_ms == b->heartbeat_interval_ms);
    assignments_eq(a->assignments, a->assignments_len, b->assignments, b->assignments_len);
}

static void heartbeat_eq(const mcphub_wire_heartbeat *a, const mcphub_wire_heartbeat *b)
{
    FUZZ_CHECK(str_eq(a->node_id, b->node_id));
    FUZZ_CHECK(a->timestamp_ms == b->timestamp_ms);
    FUZZ_CHECK(a->config_version == b->config_version);
    /* bit for bit: jansson prints reals with 17 significant digits */
    FUZZ_CHECK(memcmp(&a->metrics.cpu_percent, &b->metrics.cpu_percent, sizeof(double)) == 0);
    FUZZ_CHECK(a->metrics.memory_used == b->metrics.memory_used);
    FUZZ_CHECK(a->metrics.memory_total == b->metrics.memory_total);
    FUZZ_CHECK(a->metrics.active_connections == b->metrics.active_connections);
    reports_eq(a->replicas, a->replicas_len, b->replicas, b->replicas_len);
}

static void heartbeat_reply_eq(const mcphub_wire_heartbeat_reply *a,
                               const mcphub_wire_heartbeat_reply *b)
{
    assignments_eq(a->assignments, a->assignments_len, b->assignments, b->assignments_len);
    releases_eq(a->releases, a->releases_len, b->releases, b->releases_len);
}

static void allocate_eq(const mcphub_wire_allocate *a, const mcphub_wire_allocate *b)
{
    assignments_eq(a, 1, b, 1);
}

static void release_eq(const mcphub_wire_release *a, const mcphub_wire_release *b)
{
    releases_eq(a, 1, b, 1);
}

static void replica_reply_eq(const mcphub_wire_replica_reply *a,
                             const mcphub_wire_replica_reply *b)
{
    FUZZ_CHECK(str_eq(a->replica_id, b->replica_id));
    FUZZ_CHECK(a->status == b->status);
}

static void envelope_eq(const mcphub_wire_envelope *a, const mcphub_wire_envelope *b)
{
    FUZZ_CHECK(a->success == b->success);
    FUZZ_CHECK(str_eq(a->message, b->message));
    FUZZ_CHECK(str_eq(a->data_json, b->data_json));
}

static int envelope_encode(const mcphub_wire_envelope *m, char **out, size_t *len,
                           const mcphub_mem *mem)
{
    return mcphub_wire_envelope_encode(m->success, m->message, m->data_json, out, len, mem);
}

/* The unknown-node answer, for every id the input gives (any text). */
static void unknown_node(const char *id)
{
    char *t = NULL;
    size_t l = 0;
    mcphub_wire_heartbeat_reply *m = SENTINEL;
    mcphub_wire_error e;

    if (mcphub_wire_unknown_node_encode(id, &t, &l, NULL) != 0) {
        FUZZ_CHECK(t == NULL);
        return;
    }
    FUZZ_CHECK(mcphub_wire_heartbeat_reply_decode(t, l, &m, NULL, &e) == MCPHUB_E_NOTFOUND);
    FUZZ_CHECK(m == SENTINEL);
    mcphub_wire_free(NULL, t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    char *id;

    ROUND_TRIP(mcphub_wire_register, mcphub_wire_register_encode, mcphub_wire_register_decode,
               mcphub_wire_register_free, register_eq);
    ROUND_TRIP(mcphub_wire_register_reply, mcphub_wire_register_reply_encode,
               mcphub_wire_register_reply_decode, mcphub_wire_register_reply_free,
               register_reply_eq);
    ROUND_TRIP(mcphub_wire_heartbeat, mcphub_wire_heartbeat_encode,
               mcphub_wire_heartbeat_decode, mcphub_wire_heartbeat_free, heartbeat_eq);
    ROUND_TRIP(mcphub_wire_heartbeat_reply, mcphub_wire_heartbeat_reply_encode,
               mcphub_wire_heartbeat_reply_decode, mcphub_wire_heartbeat_reply_free,
               heartbeat_reply_eq);
    ROUND_TRIP(mcphub_wire_allocate, mcphub_wire_allocate_encode, mcphub_wire_allocate_decode,
               mcphub_wire_allocate_free, allocate_eq);
    ROUND_TRIP(mcphub_wire_release, mcphub_wire_release_encode, mcphub_wire_release_decode,
               mcphub_wire_release_free, release_eq);
    ROUND_TRIP(mcphub_wire_replica_reply, mcphub_wire_replica_reply_encode,
               mcphub_wire_replica_reply_decode, mcphub_wire_replica_reply_free,
               replica_reply_eq);
    ROUND_TRIP(mcphub_wire_envelope, envelope_encode, mcphub_wire_envelope_decode,
               mcphub_wire_envelope_free, envelope_eq);

    /* short inputs double as a node id for the unknown-node answer */
    if (size <= 200 && (id = fuzz_strndup(data, size)) != NULL) {
        unknown_node(id);
        free(id);
    }
    return 0;
}
