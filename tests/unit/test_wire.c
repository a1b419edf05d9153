/* Unit tests: the wire codecs — golden messages from the design, round
 * trips, every validation rule with its exact text, parse errors, limits,
 * and failing allocations (ours and jansson's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <mcphub/wire.h>

#include "fakes/fakes.h"

/* ---- the design's examples, byte for byte ---- */

#define REGISTER_JSON                                                                      \
    "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"10.0.0.2\",\"port\":3001,"          \
    "\"internalPort\":3001,\"weight\":1,\"maxServers\":10,\"metadata\":{\"hostname\":"     \
    "\"h\",\"version\":\"0.1.0\",\"os\":\"Linux 6.1\",\"cpuCount\":2,\"memoryTotal\":"     \
    "25769803776},\"replicas\":[{\"replicaId\":\"fetch-1a2b\",\"serverName\":\"fetch\","   \
    "\"status\":\"running\",\"tools\":3,\"configVersion\":2,\"error\":null}]}"

#define FETCH_CONFIG "{\"command\":\"uvx\",\"args\":[\"mcp-server-fetch\"],\"env\":{\"A\":\"1\"}}"

#define FETCH_ASSIGNMENT                                                                   \
    "{\"replicaId\":\"fetch-1a2b\",\"serverName\":\"fetch\",\"config\":" FETCH_CONFIG     \
    ",\"configVersion\":2}"

#define REGISTER_REPLY_JSON                                                                \
    "{\"success\":true,\"data\":{\"nodeId\":\"w1\",\"heartbeatInterval\":5000,"            \
    "\"assignments\":[" FETCH_ASSIGNMENT "]}}"

#define HEARTBEAT_JSON                                                                     \
    "{\"nodeId\":\"w1\",\"timestamp\":1732600000000,\"configVersion\":7,\"metrics\":"      \
    "{\"cpu\":12.5,\"memoryUsed\":123,\"memoryTotal\":456,\"activeConnections\":3},"       \
    "\"replicas\":[{\"replicaId\":\"fetch-1a2b\",\"serverName\":\"fetch\",\"status\":"     \
    "\"running\",\"tools\":3,\"configVersion\":2,\"error\":null},{\"replicaId\":"          \
    "\"time-9\",\"serverName\":\"time\",\"status\":\"error\",\"tools\":0,"                 \
    "\"configVersion\":7,\"error\":\"exited with status 1\"}]}"

#define HEARTBEAT_REPLY_JSON                                                               \
    "{\"success\":true,\"data\":{\"known\":true,\"assignments\":[" FETCH_ASSIGNMENT "],"  \
    "\"releases\":[{\"replicaId\":\"time-9\",\"serverName\":\"time\"}]}}"

#define UNKNOWN_NODE_JSON                                                                  \
    "{\"success\":false,\"message\":\"unknown node w1; register again\",\"data\":"         \
    "{\"known\":false}}"

#define ALLOCATE_JSON                                                                      \
    "{\"serverName\":\"fetch\",\"replicaId\":\"fetch-1a2b\",\"config\":" FETCH_CONFIG     \
    ",\"configVersion\":2}"

#define ALLOCATE_REPLY_JSON                                                                \
    "{\"success\":true,\"data\":{\"replicaId\":\"fetch-1a2b\",\"status\":\"starting\"}}"

#define RELEASE_JSON "{\"serverName\":\"fetch\",\"replicaId\":\"fetch-1a2b\"}"

#define RELEASE_REPLY_JSON                                                                 \
    "{\"success\":true,\"data\":{\"replicaId\":\"fetch-1a2b\",\"status\":\"terminated\"}}"

#define RELEASE_404_JSON                                                                   \
    "{\"success\":false,\"message\":\"replica fetch-9 is not running on this node\"}"

#define STATUS_RULE "one of pending, starting, running, error, stopped, terminated"
#define ID_RULE "1..128 characters of A-Z a-z 0-9 . _ : -"
#define SERVER_RULE "1..128 characters of A-Z a-z 0-9 . _ - (server names appear in URLs)"
#define HOST_RULE "a host name or IP address of 1..253 characters of A-Z a-z 0-9 . _ - : [ ]"

/* ---- helpers ---- */

/* Which decoder a table row uses. */
typedef enum { W_REG, W_REGREPLY, W_HB, W_HBREPLY, W_ALLOC, W_REL, W_REPREPLY, W_ENV } which;

static int sentinel;
#define SENTINEL ((void *)&sentinel)

/* Decode with the given decoder, check that a failure left *out alone and a
 * success cleared err, free the result; returns the decoder's code. */
static int decode_any(which w, const char *json, size_t len, const mcphub_mem *mem,
                      mcphub_wire_error *err)
{
    void *out = SENTINEL;
    int rc = MCPHUB_E_FATAL;

    switch (w) {
    case W_REG: {
        mcphub_wire_register *m = SENTINEL;
        rc = mcphub_wire_register_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_register_free(m);
        break;
    }
    case W_REGREPLY: {
        mcphub_wire_register_reply *m = SENTINEL;
        rc = mcphub_wire_register_reply_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_register_reply_free(m);
        break;
    }
    case W_HB: {
        mcphub_wire_heartbeat *m = SENTINEL;
        rc = mcphub_wire_heartbeat_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_heartbeat_free(m);
        break;
    }
    case W_HBREPLY: {
        mcphub_wire_heartbeat_reply *m = SENTINEL;
        rc = mcphub_wire_heartbeat_reply_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_heartbeat_reply_free(m);
        break;
    }
    case W_ALLOC: {
        mcphub_wire_allocate *m = SENTINEL;
        rc = mcphub_wire_allocate_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_allocate_free(m);
        break;
    }
    case W_REL: {
        mcphub_wire_release *m = SENTINEL;
        rc = mcphub_wire_release_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_release_free(m);
        break;
    }
    case W_REPREPLY: {
        mcphub_wire_replica_reply *m = SENTINEL;
        rc = mcphub_wire_replica_reply_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_replica_reply_free(m);
        break;
    }
    case W_ENV: {
        mcphub_wire_envelope *m = SENTINEL;
        rc = mcphub_wire_envelope_decode(json, len, &m, mem, err);
        out = m;
        if (rc == 0) mcphub_wire_envelope_free(m);
        break;
    }
    }
    if (rc != 0) {
        assert_ptr_equal(out, SENTINEL);
        assert_true(err == NULL || err->text[0] != '\0');
    } else {
        assert_ptr_not_equal(out, SENTINEL);
        assert_true(err == NULL || (err->field[0] == '\0' && err->text[0] == '\0'));
    }
    return rc;
}

static void expect_ok(which w, const char *json)
{
    mcphub_wire_error err;
    int rc = decode_any(w, json, strlen(json), NULL, &err);

    if (rc != 0)
        fail_msg("rc %d for %s: %s", rc, json, err.text);
}

static void expect_fail(which w, const char *json, int code, const char *field, const char *text)
{
    mcphub_wire_error err;
    int rc = decode_any(w, json, strlen(json), NULL, &err);

    if (rc != code || strcmp(err.field, field) != 0 || strcmp(err.text, text) != 0)
        fail_msg("for %s\n  got rc %d field \"%s\" text \"%s\"\n  want rc %d field \"%s\" text \"%s\"",
                 json, rc, err.field, err.text, code, field, text);
}

static void expect_invalid(which w, const char *json, const char *field, const char *text)
{
    expect_fail(w, json, MCPHUB_E_INVAL, field, text);
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void assert_reports_equal(const mcphub_wire_replica_report *a, size_t an,
                                 const mcphub_wire_replica_report *b, size_t bn)
{
    size_t i;

    assert_int_equal(an, bn);
    for (i = 0; i < an; i++) {
        assert_string_equal(a[i].replica_id, b[i].replica_id);
        assert_string_equal(a[i].server, b[i].server);
        assert_int_equal(a[i].status, b[i].status);
        assert_int_equal(a[i].tools, b[i].tools);
        assert_int_equal(a[i].config_version, b[i].config_version);
        assert_true(str_eq(a[i].error, b[i].error));
    }
}

static void assert_assignments_equal(const mcphub_wire_assignment *a, size_t an,
                                     const mcphub_wire_assignment *b, size_t bn)
{
    size_t i;

    assert_int_equal(an, bn);
    for (i = 0; i < an; i++) {
        assert_string_equal(a[i].replica_id, b[i].replica_id);
        assert_string_equal(a[i].server, b[i].server);
        assert_string_equal(a[i].config_json, b[i].config_json);
        assert_int_equal(a[i].config_version, b[i].config_version);
    }
}

/* Test buffers: a failed malloc ends the test run. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL)
        abort();
    return p;
}

/* A heap string: prefix, n copies of unit, suffix. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), ul = strlen(unit), sl = strlen(suffix), i;
    char *s = xmalloc(pl + ul * n + sl + 1), *p;

    memcpy(s, prefix, pl);
    p = s + pl;
    for (i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, suffix, sl + 1);
    return s;
}

/* ---- golden decoding ---- */

static void test_golden_register(void **state)
{
    mcphub_wire_register *m = NULL;
    mcphub_wire_error err;
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(mcphub_wire_register_decode(REGISTER_JSON, strlen(REGISTER_JSON), &m,
                                                 NULL, &err), 0);
    assert_string_equal(m->node_id, "w1");
    assert_int_equal(m->role, MCPHUB_ROLE_WORKER);
    assert_string_equal(m->host, "10.0.0.2");
    assert_int_equal(m->port, 3001);
    assert_int_equal(m->internal_port, 3001);
    assert_int_equal(m->weight, 1);
    assert_int_equal(m->max_servers, 10);
    assert_string_equal(m->meta.hostname, "h");
    assert_string_equal(m->meta.version, "0.1.0");
    assert_string_equal(m->meta.os, "Linux 6.1");
    assert_int_equal(m->meta.cpu_count, 2);
    assert_int_equal(m->meta.memory_total, 25769803776ull);
    assert_int_equal(m->replicas_len, 1);
    assert_string_equal(m->replicas[0].replica_id, "fetch-1a2b");
    assert_string_equal(m->replicas[0].server, "fetch");
    assert_int_equal(m->replicas[0].status, MCPHUB_REPLICA_RUNNING);
    assert_int_equal(m->replicas[0].tools, 3);
    assert_int_equal(m->replicas[0].config_version, 2);
    assert_null(m->replicas[0].error);
    /* and back to the very same bytes */
    assert_int_equal(mcphub_wire_register_encode(m, &text, &len, NULL), 0);
    assert_string_equal(text, REGISTER_JSON);
    assert_int_equal(len, strlen(REGISTER_JSON));
    mcphub_wire_free(NULL, text);
    mcphub_wire_register_free(m);
}

static void test_golden_register_reply(void **state)
{
    mcphub_wire_register_reply *m = NULL;
    mcphub_wire_error err;
    char *text = NULL;

    (void)state;
    assert_int_equal(mcphub_wire_register_reply_decode(REGISTER_REPLY_JSON,
                                                       strlen(REGISTER_REPLY_JSON), &m, NULL,
                                                       &err), 0);
    assert_string_equal(m->node_id, "w1");
    assert_int_equal(m->heartbeat_interval_ms, 5000);
    assert_int_equal(m->assignments_len, 1);
    assert_string_equal(m->assignments[0].replica_id, "fetch-1a2b");
    assert_string_equal(m->assignments[0].server, "fetch");
    /* the config object comes back as compact text, key order kept */
    assert_string_equal(m->assignments[0].config_json, FETCH_CONFIG);
    assert_int_equal(m->assignments[0].config_version, 2);
    assert_int_equal(mcphub_wire_register_reply_encode(m, &text, NULL, NULL), 0);
    assert_string_equal(text, REGISTER_REPLY_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_register_reply_free(m);
}

static void test_golden_heartbeat(void **state)
{
    mcphub_wire_heartbeat *m = NULL;
    mcphub_wire_error err;
    char *text = NULL;

    (void)state;
    assert_int_equal(mcphub_wire_heartbeat_decode(HEARTBEAT_JSON, strlen(HEARTBEAT_JSON), &m,
                                                  NULL, &err), 0);
    assert_string_equal(m->node_id, "w1");
    assert_int_equal(m->timestamp_ms, 1732600000000ull);
    assert_int_equal(m->config_version, 7);
    assert_true(m->metrics.cpu_percent == 12.5);
    assert_int_equal(m->metrics.memory_used, 123);
    assert_int_equal(m->metrics.memory_total, 456);
    assert_int_equal(m->metrics.active_connections, 3);
    assert_int_equal(m->replicas_len, 2);
    assert_int_equal(m->replicas[1].status, MCPHUB_REPLICA_ERROR);
    assert_string_equal(m->replicas[1].server, "time");
    assert_string_equal(m->replicas[1].error, "exited with status 1");
    assert_int_equal(mcphub_wire_heartbeat_encode(m, &text, NULL, NULL), 0);
    assert_string_equal(text, HEARTBEAT_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_heartbeat_free(m);
}

static void test_golden_heartbeat_reply(void **state)
{
    mcphub_wire_heartbeat_reply *m = NULL, *untouched = SENTINEL;
    mcphub_wire_error err;
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(mcphub_wire_heartbeat_reply_decode(HEARTBEAT_REPLY_JSON,
                                                        strlen(HEARTBEAT_REPLY_JSON), &m, NULL,
                                                        &err), 0);
    assert_int_equal(m->assignments_len, 1);
    assert_string_equal(m->assignments[0].config_json, FETCH_CONFIG);
    assert_int_equal(m->releases_len, 1);
    assert_string_equal(m->releases[0].replica_id, "time-9");
    assert_string_equal(m->releases[0].server, "time");
    assert_int_equal(mcphub_wire_heartbeat_reply_encode(m, &text, NULL, NULL), 0);
    assert_string_equal(text, HEARTBEAT_REPLY_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_heartbeat_reply_free(m);

    /* the master's 404 for an unknown node: exactly the design's body, and
     * the worker reads it as "register again" */
    assert_int_equal(mcphub_wire_unknown_node_encode("w1", &text, &len, NULL), 0);
    assert_string_equal(text, UNKNOWN_NODE_JSON);
    assert_int_equal(len, strlen(UNKNOWN_NODE_JSON));
    mcphub_wire_free(NULL, text);
    assert_int_equal(mcphub_wire_heartbeat_reply_decode(UNKNOWN_NODE_JSON,
                                                        strlen(UNKNOWN_NODE_JSON), &untouched,
                                                        NULL, &err), MCPHUB_E_NOTFOUND);
    assert_ptr_equal(untouched, SENTINEL);
    assert_string_equal(err.field, "data.known");
    assert_string_equal(err.text, "unknown node w1; register again");
    assert_int_equal(mcphub_wire_unknown_node_encode("w 1", &text, &len, NULL), MCPHUB_E_INVAL);
    /* known false inside a success envelope means the same */
    expect_fail(W_HBREPLY, "{\"success\":true,\"data\":{\"known\":false}}", MCPHUB_E_NOTFOUND,
                "data.known", "the master does not know this node; register again");
    /* any other refusal is not "unknown node" */
    expect_fail(W_HBREPLY, "{\"success\":false,\"message\":\"busy\"}", MCPHUB_WIRE_E_REFUSED,
                "success", "busy");
}

static void test_golden_allocate_release(void **state)
{
    mcphub_wire_allocate *a = NULL;
    mcphub_wire_release *r = NULL;
    mcphub_wire_replica_reply *rep = NULL;
    mcphub_wire_error err;
    char *text = NULL;

    (void)state;
    assert_int_equal(mcphub_wire_allocate_decode(ALLOCATE_JSON, strlen(ALLOCATE_JSON), &a, NULL,
                                                 &err), 0);
    assert_string_equal(a->server, "fetch");
    assert_string_equal(a->replica_id, "fetch-1a2b");
    assert_string_equal(a->config_json, FETCH_CONFIG);
    assert_int_equal(a->config_version, 2);
    assert_int_equal(mcphub_wire_allocate_encode(a, &text, NULL, NULL), 0);
    assert_string_equal(text, ALLOCATE_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_allocate_free(a);

    assert_int_equal(mcphub_wire_replica_reply_decode(ALLOCATE_REPLY_JSON,
                                                      strlen(ALLOCATE_REPLY_JSON), &rep, NULL,
                                                      &err), 0);
    assert_string_equal(rep->replica_id, "fetch-1a2b");
    assert_int_equal(rep->status, MCPHUB_REPLICA_STARTING);
    assert_int_equal(mcphub_wire_replica_reply_encode(rep, &text, NULL, NULL), 0);
    assert_string_equal(text, ALLOCATE_REPLY_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_replica_reply_free(rep);

    assert_int_equal(mcphub_wire_release_decode(RELEASE_JSON, strlen(RELEASE_JSON), &r, NULL,
                                                &err), 0);
    assert_string_equal(r->server, "fetch");
    assert_string_equal(r->replica_id, "fetch-1a2b");
    assert_int_equal(mcphub_wire_release_encode(r, &text, NULL, NULL), 0);
    assert_string_equal(text, RELEASE_JSON);
    mcphub_wire_free(NULL, text);
    mcphub_wire_release_free(r);

    rep = NULL;
    assert_int_equal(mcphub_wire_replica_reply_decode(RELEASE_REPLY_JSON,
                                                      strlen(RELEASE_REPLY_JSON), &rep, NULL,
                                                      &err), 0);
    assert_int_equal(rep->status, MCPHUB_REPLICA_TERMINATED);
    mcphub_wire_replica_reply_free(rep);

    /* the worker's 404: the peer's message is handed over */
    expect_fail(W_REPREPLY, RELEASE_404_JSON, MCPHUB_WIRE_E_REFUSED, "success",
                "replica fetch-9 is not running on this node");
    expect_fail(W_REGREPLY, "{\"success\":false}", MCPHUB_WIRE_E_REFUSED, "success",
                "the peer answered success false without a message");
}

static void test_envelope(void **state)
{
    mcphub_wire_envelope *m = NULL;
    mcphub_wire_error err;
    char *text = NULL, *before;
    size_t len = 0;

    (void)state;
    assert_int_equal(mcphub_wire_envelope_encode(0, "replica fetch-9 is not running on this node",
                                                 NULL, &text, &len, NULL), 0);
    assert_string_equal(text, RELEASE_404_JSON);
    assert_int_equal(len, strlen(RELEASE_404_JSON));
    mcphub_wire_free(NULL, text);

    /* data is re-rendered compactly; message left out when NULL */
    assert_int_equal(mcphub_wire_envelope_encode(1, NULL, " [1, {\"a\": \"b\"}] ", &text, NULL,
                                                 NULL), 0);
    assert_string_equal(text, "{\"success\":true,\"data\":[1,{\"a\":\"b\"}]}");
    assert_int_equal(mcphub_wire_envelope_decode(text, strlen(text), &m, NULL, &err), 0);
    assert_int_equal(m->success, 1);
    assert_null(m->message);
    assert_string_equal(m->data_json, "[1,{\"a\":\"b\"}]");
    mcphub_wire_envelope_free(m);
    mcphub_wire_free(NULL, text);

    assert_int_equal(mcphub_wire_envelope_decode(UNKNOWN_NODE_JSON, strlen(UNKNOWN_NODE_JSON), &m,
                                                 NULL, &err), 0);
    assert_int_equal(m->success, 0);
    assert_string_equal(m->message, "unknown node w1; register again");
    assert_string_equal(m->data_json, "{\"known\":false}");
    mcphub_wire_envelope_free(m);

    /* scalar data, null data */
    assert_int_equal(mcphub_wire_envelope_encode(1, "ok", "42", &text, NULL, NULL), 0);
    assert_string_equal(text, "{\"success\":true,\"message\":\"ok\",\"data\":42}");
    mcphub_wire_free(NULL, text);
    expect_ok(W_ENV, "{\"success\":true,\"data\":null}");
    expect_invalid(W_ENV, "{\"message\":\"x\"}", "success", "success is required");
    expect_invalid(W_ENV, "{\"success\":1}", "success", "success (1) must be true or false");

    /* bad input to the encoder: nothing produced */
    before = SENTINEL;
    text = before;
    assert_int_equal(mcphub_wire_envelope_encode(1, NULL, "{nope", &text, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_wire_envelope_encode(1, "\xff\xfe", NULL, &text, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_wire_envelope_encode(1, NULL, NULL, NULL, NULL, NULL),
                     MCPHUB_E_INVAL);
    assert_ptr_equal(text, before);
}

/* ---- round trips ---- */

static void test_round_trip_register_heartbeat(void **state)
{
    mcphub_wire_replica_report reps[3] = {
        {"fetch-1", "fetch", MCPHUB_REPLICA_RUNNING, 3, 2, NULL},
        {"time:2", "time_v2", MCPHUB_REPLICA_ERROR, 0, 9, "spawn failed: \"uvx\" not found \xc3\xa9"},
        {"a.b_c-d", "x", MCPHUB_REPLICA_PENDING, 4294967295u, 9223372036854775807ull, ""},
    };
    mcphub_wire_register in, *out = NULL;
    mcphub_wire_heartbeat hb, *hb_out = NULL;
    char *text = NULL;
    size_t len = 0;

    (void)state;
    memset(&in, 0, sizeof in);
    in.node_id = "worker-07.eu:a";
    in.role = MCPHUB_ROLE_MASTER;
    in.host = "[fe80::1]";
    in.port = 65535;
    in.internal_port = 0;
    in.weight = 1000;
    in.max_servers = 0;
    in.meta.hostname = "box";
    in.meta.version = NULL; /* absent */
    in.meta.os = "Linux \xe2\x9c\x93";
    in.meta.cpu_count = 64;
    in.meta.memory_total = 1ull << 40;
    in.replicas = reps;
    in.replicas_len = 3;
    assert_int_equal(mcphub_wire_register_encode(&in, &text, &len, NULL), 0);
    assert_int_equal(strlen(text), len);
    assert_int_equal(mcphub_wire_register_decode(text, len, &out, NULL, NULL), 0);
    assert_string_equal(out->node_id, in.node_id);
    assert_int_equal(out->role, in.role);
    assert_string_equal(out->host, in.host);
    assert_int_equal(out->port, in.port);
    assert_int_equal(out->internal_port, 0);
    assert_int_equal(out->weight, 1000);
    assert_int_equal(out->max_servers, 0);
    assert_string_equal(out->meta.hostname, "box");
    assert_null(out->meta.version);
    assert_string_equal(out->meta.os, in.meta.os);
    assert_int_equal(out->meta.cpu_count, 64);
    assert_int_equal(out->meta.memory_total, 1ull << 40);
    assert_reports_equal(out->replicas, out->replicas_len, reps, 3);
    mcphub_wire_register_free(out);
    mcphub_wire_free(NULL, text);

    /* empty replica list */
    in.replicas = NULL;
    in.replicas_len = 0;
    assert_int_equal(mcphub_wire_register_encode(&in, &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_register_decode(text, len, &out, NULL, NULL), 0);
    assert_int_equal(out->replicas_len, 0);
    assert_null(out->replicas);
    mcphub_wire_register_free(out);
    mcphub_wire_free(NULL, text);

    memset(&hb, 0, sizeof hb);
    hb.node_id = "w1";
    hb.timestamp_ms = 0;
    hb.config_version = 12345678901ull;
    hb.metrics.cpu_percent = 0.1; /* no exact binary form: must still come back equal */
    hb.metrics.memory_used = 9223372036854775807ull;
    hb.metrics.memory_total = 0;
    hb.metrics.active_connections = 4294967295u;
    hb.replicas = reps;
    hb.replicas_len = 2;
    assert_int_equal(mcphub_wire_heartbeat_encode(&hb, &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_heartbeat_decode(text, len, &hb_out, NULL, NULL), 0);
    assert_string_equal(hb_out->node_id, "w1");
    assert_int_equal(hb_out->timestamp_ms, 0);
    assert_int_equal(hb_out->config_version, 12345678901ull);
    assert_true(hb_out->metrics.cpu_percent == 0.1);
    assert_int_equal(hb_out->metrics.memory_used, 9223372036854775807ull);
    assert_int_equal(hb_out->metrics.active_connections, 4294967295u);
    assert_reports_equal(hb_out->replicas, hb_out->replicas_len, reps, 2);
    mcphub_wire_heartbeat_free(hb_out);
    mcphub_wire_free(NULL, text);
}

static void test_round_trip_replies(void **state)
{
    mcphub_wire_assignment as[2] = {
        {"fetch-1", "fetch", "{\"type\":\"stdio\",\"command\":\"uvx\",\"args\":[\"a\",\"b\"]}", 3},
        {"web-2", "web", "{}", 0},
    };
    mcphub_wire_release rel[2] = {{"old-1", "old"}, {"old-2", "old"}};
    mcphub_wire_register_reply rr = {"w1", 5000, as, 2}, *rr_out = NULL;
    mcphub_wire_heartbeat_reply hr, *hr_out = NULL;
    mcphub_wire_allocate *al_out = NULL;
    mcphub_wire_release *rel_out = NULL;
    mcphub_wire_replica_reply rp = {"fetch-1", MCPHUB_REPLICA_STOPPED}, *rp_out = NULL;
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(mcphub_wire_register_reply_encode(&rr, &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_register_reply_decode(text, len, &rr_out, NULL, NULL), 0);
    assert_string_equal(rr_out->node_id, "w1");
    assert_int_equal(rr_out->heartbeat_interval_ms, 5000);
    assert_assignments_equal(rr_out->assignments, rr_out->assignments_len, as, 2);
    mcphub_wire_register_reply_free(rr_out);
    mcphub_wire_free(NULL, text);

    hr.assignments = as;
    hr.assignments_len = 2;
    hr.releases = rel;
    hr.releases_len = 2;
    assert_int_equal(mcphub_wire_heartbeat_reply_encode(&hr, &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_heartbeat_reply_decode(text, len, &hr_out, NULL, NULL), 0);
    assert_assignments_equal(hr_out->assignments, hr_out->assignments_len, as, 2);
    assert_int_equal(hr_out->releases_len, 2);
    assert_string_equal(hr_out->releases[1].replica_id, "old-2");
    assert_string_equal(hr_out->releases[1].server, "old");
    mcphub_wire_heartbeat_reply_free(hr_out);
    mcphub_wire_free(NULL, text);

    /* nothing to do: empty arrays, still known */
    memset(&hr, 0, sizeof hr);
    assert_int_equal(mcphub_wire_heartbeat_reply_encode(&hr, &text, &len, NULL), 0);
    assert_string_equal(text, "{\"success\":true,\"data\":{\"known\":true,\"assignments\":[],"
                              "\"releases\":[]}}");
    assert_int_equal(mcphub_wire_heartbeat_reply_decode(text, len, &hr_out, NULL, NULL), 0);
    assert_int_equal(hr_out->assignments_len + hr_out->releases_len, 0);
    mcphub_wire_heartbeat_reply_free(hr_out);
    mcphub_wire_free(NULL, text);

    assert_int_equal(mcphub_wire_allocate_encode(&as[0], &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_allocate_decode(text, len, &al_out, NULL, NULL), 0);
    assert_assignments_equal(al_out, 1, as, 1);
    mcphub_wire_allocate_free(al_out);
    mcphub_wire_free(NULL, text);

    assert_int_equal(mcphub_wire_release_encode(&rel[0], &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_release_decode(text, len, &rel_out, NULL, NULL), 0);
    assert_string_equal(rel_out->replica_id, "old-1");
    assert_string_equal(rel_out->server, "old");
    mcphub_wire_release_free(rel_out);
    mcphub_wire_free(NULL, text);

    assert_int_equal(mcphub_wire_replica_reply_encode(&rp, &text, &len, NULL), 0);
    assert_int_equal(mcphub_wire_replica_reply_decode(text, len, &rp_out, NULL, NULL), 0);
    assert_string_equal(rp_out->replica_id, "fetch-1");
    assert_int_equal(rp_out->status, MCPHUB_REPLICA_STOPPED);
    mcphub_wire_replica_reply_free(rp_out);
    mcphub_wire_free(NULL, text);
}

/* ---- decoding: defaults, unknown fields ---- */

static void test_optional_fields_and_unknown_fields(void **state)
{
    const char *minimal =
        "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":1,\"replicas\":"
        "[{\"replicaId\":\"r\",\"serverName\":\"s\",\"status\":\"starting\"}]}";
    const char *nulls =
        "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":1,\"internalPort\":null,"
        "\"weight\":null,\"maxServers\":null,\"metadata\":null,\"replicas\":[]}";
    const char *extra =
        "{\"future\":{\"x\":[1,2]},\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\","
        "\"port\":1,\"metadata\":{\"gpu\":\"none\",\"cpuCount\":4},\"replicas\":[{\"replicaId\":"
        "\"r\",\"serverName\":\"s\",\"status\":\"stopped\",\"pid\":77}],\"labels\":[\"a\"]}";
    mcphub_wire_register *m = NULL;
    mcphub_wire_heartbeat *hb = NULL;
    const char *hb_min = "{\"nodeId\":\"w1\",\"timestamp\":5,\"metrics\":{\"cpu\":3},\"replicas\":[]}";

    (void)state;
    assert_int_equal(mcphub_wire_register_decode(minimal, strlen(minimal), &m, NULL, NULL), 0);
    assert_int_equal(m->internal_port, 0);
    assert_int_equal(m->weight, 1); /* default weight */
    assert_int_equal(m->max_servers, 0);
    assert_null(m->meta.hostname);
    assert_null(m->meta.os);
    assert_int_equal(m->meta.cpu_count, 0);
    assert_int_equal(m->replicas[0].tools, 0);
    assert_int_equal(m->replicas[0].config_version, 0);
    assert_null(m->replicas[0].error);
    mcphub_wire_register_free(m);

    assert_int_equal(mcphub_wire_register_decode(nulls, strlen(nulls), &m, NULL, NULL), 0);
    assert_int_equal(m->weight, 1);
    mcphub_wire_register_free(m);

    assert_int_equal(mcphub_wire_register_decode(extra, strlen(extra), &m, NULL, NULL), 0);
    assert_int_equal(m->meta.cpu_count, 4);
    assert_int_equal(m->replicas[0].status, MCPHUB_REPLICA_STOPPED);
    mcphub_wire_register_free(m);

    /* an integer cpu is a number too; missing metric fields are 0 */
    assert_int_equal(mcphub_wire_heartbeat_decode(hb_min, strlen(hb_min), &hb, NULL, NULL), 0);
    assert_true(hb->metrics.cpu_percent == 3.0);
    assert_int_equal(hb->metrics.memory_total, 0);
    assert_int_equal(hb->config_version, 0);
    mcphub_wire_heartbeat_free(hb);

    expect_ok(W_REPREPLY, "{\"success\":true,\"message\":\"ok\",\"data\":{\"replicaId\":\"r\","
                          "\"status\":\"running\",\"node\":\"w2\"},\"meta\":1}");
}

/* ---- validation: each rule, exact text ---- */

#define REG_HEAD "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":1"
#define REP(x) "{\"replicaId\":\"r\",\"serverName\":\"s\",\"status\":\"running\"" x "}"
#define HB_HEAD "{\"nodeId\":\"w1\",\"timestamp\":1"

static void test_validation_register(void **state)
{
    char *s, text[256];

    (void)state;
    expect_invalid(W_REG,
                   REG_HEAD ",\"replicas\":[" REP("") "," REP("") ",{\"replicaId\":\"c\","
                   "\"serverName\":\"s\",\"status\":\"runing\"}]}",
                   "replicas[2].status",
                   "replicas[2].status (\"runing\") must be " STATUS_RULE);
    expect_invalid(W_REG, "{\"role\":\"worker\",\"host\":\"h\",\"port\":1,\"replicas\":[]}",
                   "nodeId", "nodeId is required");
    expect_invalid(W_REG, "{\"nodeId\":\"w 1\",\"role\":\"worker\"}", "nodeId",
                   "nodeId (\"w 1\") must be " ID_RULE);
    expect_invalid(W_REG, "{\"nodeId\":7}", "nodeId", "nodeId (7) must be " ID_RULE);
    expect_invalid(W_REG, "{\"nodeId\":\"\"}", "nodeId", "nodeId (\"\") must be " ID_RULE);
    expect_invalid(W_REG, "{\"nodeId\":\"w/1\"}", "nodeId", "nodeId (\"w/1\") must be " ID_RULE);
    /* 128 characters are fine, 129 are not (the value is shown shortened) */
    s = repeat("{\"nodeId\":\"", "a", 128, "\",\"role\":\"worker\",\"host\":\"h\",\"port\":1,"
                                           "\"replicas\":[]}");
    expect_ok(W_REG, s);
    free(s);
    s = repeat("{\"nodeId\":\"", "a", 129, "\"}");
    snprintf(text, sizeof text, "nodeId (\"%.40s...\") must be " ID_RULE,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_invalid(W_REG, s, "nodeId", text);
    free(s);
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"boss\"}", "role",
                   "role (\"boss\") must be one of master, worker");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\"}", "role", "role is required");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"a b\"}", "host",
                   "host (\"a b\") must be " HOST_RULE);
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h/x\"}", "host",
                   "host (\"h/x\") must be " HOST_RULE);
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"u@h\"}", "host",
                   "host (\"u@h\") must be " HOST_RULE);
    s = repeat("{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"", "h", 254, "\"}");
    snprintf(text, sizeof text, "host (\"%s...\") must be " HOST_RULE,
             "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh");
    expect_invalid(W_REG, s, "host", text);
    free(s);
}

static void test_validation_numbers(void **state)
{
    (void)state;
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":0}",
                   "port", "port (0) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":70000}",
                   "port", "port (70000) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":1.5}",
                   "port", "port (1.5) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":1.0}",
                   "port", "port (1) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":-1}",
                   "port", "port (-1) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":\"3001\"}",
                   "port", "port (\"3001\") must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":null}",
                   "port", "port (null) must be an integer 1..65535");
    expect_invalid(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\"}", "port",
                   "port is required");
    expect_invalid(W_REG, REG_HEAD ",\"internalPort\":65536}", "internalPort",
                   "internalPort (65536) must be an integer 0..65535");
    expect_invalid(W_REG, REG_HEAD ",\"weight\":0}", "weight",
                   "weight (0) must be an integer 1..1000");
    expect_invalid(W_REG, REG_HEAD ",\"maxServers\":true}", "maxServers",
                   "maxServers (true) must be an integer 0..1000000");
    expect_invalid(W_REG, REG_HEAD ",\"metadata\":\"x\"}", "metadata",
                   "metadata (\"x\") must be an object");
    expect_invalid(W_REG, REG_HEAD ",\"metadata\":{\"cpuCount\":1.5}}", "metadata.cpuCount",
                   "metadata.cpuCount (1.5) must be an integer 0..65536");
    expect_invalid(W_REG, REG_HEAD ",\"metadata\":{\"memoryTotal\":-5}}", "metadata.memoryTotal",
                   "metadata.memoryTotal (-5) must be a non-negative integer");
    expect_invalid(W_REG, REG_HEAD ",\"metadata\":{\"os\":[]}}", "metadata.os",
                   "metadata.os (an array) must be a string of at most 256 bytes, or null");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[" REP(",\"tools\":-1") "]}", "replicas[0].tools",
                   "replicas[0].tools (-1) must be an integer 0..4294967295");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[" REP(",\"configVersion\":2.5") "]}",
                   "replicas[0].configVersion",
                   "replicas[0].configVersion (2.5) must be a non-negative integer");
    /* integers too big for the parser are a parse error, not a wrap-around */
    expect_fail(W_REG, REG_HEAD ",\"replicas\":[" REP(",\"configVersion\":99999999999999999999") "]}",
                MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 133: integer too big");
    expect_invalid(W_HB, HB_HEAD ",\"metrics\":{\"cpu\":-1}}", "metrics.cpu",
                   "metrics.cpu (-1) must be a number 0..100000");
    expect_invalid(W_HB, HB_HEAD ",\"metrics\":{\"cpu\":100000.5}}", "metrics.cpu",
                   "metrics.cpu (100000.5) must be a number 0..100000");
    expect_invalid(W_HB, HB_HEAD ",\"metrics\":{\"cpu\":\"12\"}}", "metrics.cpu",
                   "metrics.cpu (\"12\") must be a number 0..100000");
    expect_invalid(W_HB, HB_HEAD ",\"metrics\":{\"activeConnections\":4294967296}}",
                   "metrics.activeConnections",
                   "metrics.activeConnections (4294967296) must be an integer 0..4294967295");
    expect_invalid(W_HB, HB_HEAD ",\"metrics\":{\"memoryUsed\":0.5}}", "metrics.memoryUsed",
                   "metrics.memoryUsed (0.5) must be a non-negative integer");
    expect_invalid(W_HB, "{\"nodeId\":\"w1\",\"replicas\":[]}", "timestamp",
                   "timestamp is required");
    expect_invalid(W_HB, "{\"nodeId\":\"w1\",\"timestamp\":-1}", "timestamp",
                   "timestamp (-1) must be a non-negative integer");
    expect_invalid(W_REGREPLY, "{\"success\":true,\"data\":{\"nodeId\":\"w1\",\"heartbeatInterval\":0}}",
                   "data.heartbeatInterval",
                   "data.heartbeatInterval (0) must be an integer 1..3600000");
    expect_invalid(W_ALLOC, "{\"serverName\":\"s\",\"replicaId\":\"r\",\"config\":{},"
                            "\"configVersion\":-1}",
                   "configVersion", "configVersion (-1) must be a non-negative integer");
    /* the edges themselves are accepted */
    expect_ok(W_REG, "{\"nodeId\":\"w1\",\"role\":\"worker\",\"host\":\"h\",\"port\":65535,\"internalPort\":0,\"weight\":1000,"
                     "\"maxServers\":1000000,\"metadata\":{\"cpuCount\":65536,"
                     "\"memoryTotal\":9223372036854775807},\"replicas\":[]}");
    expect_ok(W_HB, HB_HEAD ",\"metrics\":{\"cpu\":100000},\"replicas\":[]}");
    expect_ok(W_HB, HB_HEAD ",\"metrics\":{\"cpu\":0.0},\"replicas\":[]}");
}

static void test_validation_items(void **state)
{
    char *s, *items;
    size_t n;

    (void)state;
    expect_invalid(W_REG, REG_HEAD "}", "replicas", "replicas is required");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":null}", "replicas",
                   "replicas (null) must be an array");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":{}}", "replicas",
                   "replicas (an object) must be an array");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[" REP("") ",1]}", "replicas[1]",
                   "replicas[1] (1) must be an object");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"serverName\":"
                              "\"my server\",\"status\":\"running\"}]}",
                   "replicas[0].serverName",
                   "replicas[0].serverName (\"my server\") must be " SERVER_RULE);
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"serverName\":"
                              "\"a:b\",\"status\":\"running\"}]}",
                   "replicas[0].serverName",
                   "replicas[0].serverName (\"a:b\") must be " SERVER_RULE);
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"status\":\"running\"}]}",
                   "replicas[0].serverName", "replicas[0].serverName is required");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"serverName\":\"s\"}]}",
                   "replicas[0].status", "replicas[0].status is required");
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"serverName\":\"s\","
                              "\"status\":\"RUNNING\"}]}",
                   "replicas[0].status", "replicas[0].status (\"RUNNING\") must be " STATUS_RULE);
    expect_invalid(W_REG, REG_HEAD ",\"replicas\":[" REP(",\"error\":5") "]}", "replicas[0].error",
                   "replicas[0].error (5) must be a string of at most 4096 bytes, or null");
    s = repeat(REG_HEAD ",\"replicas\":[{\"replicaId\":\"r\",\"serverName\":\"s\","
               "\"status\":\"running\",\"error\":\"", "e", 4097, "\"}]}");
    expect_invalid(W_REG, s, "replicas[0].error",
                   "replicas[0].error (\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee...\") must be "
                   "a string of at most 4096 bytes, or null");
    free(s);
    /* non-printable bytes in a shown value are masked */
    expect_invalid(W_REG, "{\"nodeId\":\"a\\nb\\u00e9\"}", "nodeId",
                   "nodeId (\"a?b??\") must be " ID_RULE);

    /* assignments */
    expect_invalid(W_REGREPLY, "{\"success\":true,\"data\":{\"nodeId\":\"w1\",\"heartbeatInterval\":"
                               "5000,\"assignments\":[{\"replicaId\":\"r\",\"serverName\":\"s\","
                               "\"config\":\"x\"}]}}",
                   "data.assignments[0].config",
                   "data.assignments[0].config (\"x\") must be an object");
    expect_invalid(W_REGREPLY, "{\"success\":true,\"data\":{\"nodeId\":\"w1\",\"heartbeatInterval\":"
                               "5000,\"assignments\":[{\"replicaId\":\"r\",\"serverName\":\"s\"}]}}",
                   "data.assignments[0].config", "data.assignments[0].config is required");
    expect_invalid(W_ALLOC, "{\"serverName\":\"s\",\"replicaId\":\"r\",\"config\":[]}", "config",
                   "config (an array) must be an object");
    expect_invalid(W_ALLOC, "{\"serverName\":\"s\",\"replicaId\":\"r\",\"config\":null}", "config",
                   "config (null) must be an object");
    expect_invalid(W_REL, "{\"replicaId\":\"r\"}", "serverName", "serverName is required");
    expect_invalid(W_REL, "{\"serverName\":\"s\",\"replicaId\":\"r?x=1\"}", "replicaId",
                   "replicaId (\"r?x=1\") must be " ID_RULE);
    expect_invalid(W_HBREPLY, "{\"success\":true,\"data\":{\"known\":true,\"releases\":"
                              "[{\"replicaId\":\"\",\"serverName\":\"s\"}]}}",
                   "data.releases[0].replicaId",
                   "data.releases[0].replicaId (\"\") must be " ID_RULE);
    expect_invalid(W_HBREPLY, "{\"success\":true,\"data\":{\"assignments\":[]}}", "data.known",
                   "data.known is required");
    expect_invalid(W_REPREPLY, "{\"success\":true,\"data\":{\"replicaId\":\"r\",\"status\":\"done\"}}",
                   "data.status", "data.status (\"done\") must be " STATUS_RULE);

    /* 4096 entries are fine, 4097 are not */
    items = repeat("", REP("") ",", 4096, "");
    items[strlen(items) - 1] = '\0';
    n = strlen(items) + 200;
    s = xmalloc(n);
    snprintf(s, n, HB_HEAD ",\"replicas\":[%s]}", items);
    expect_ok(W_HB, s);
    snprintf(s, n, HB_HEAD ",\"replicas\":[%s," REP("") "]}", items);
    expect_invalid(W_HB, s, "replicas", "replicas has 4097 entries; at most 4096 are allowed");
    free(s);
    free(items);
}

static void test_validation_envelope_and_root(void **state)
{
    char msg[600], text[256];
    size_t i;

    (void)state;
    expect_invalid(W_REG, "[]", "", "the message (an array) must be a JSON object");
    expect_invalid(W_REL, "\"release\"", "", "the message (\"release\") must be a JSON object");
    expect_invalid(W_REGREPLY, "{\"data\":{}}", "success", "success is required");
    expect_invalid(W_REGREPLY, "{\"success\":\"yes\"}", "success",
                   "success (\"yes\") must be true or false");
    expect_invalid(W_REGREPLY, "{\"success\":true}", "data", "data is required");
    expect_invalid(W_REGREPLY, "{\"success\":true,\"data\":[]}", "data",
                   "data (an array) must be an object");
    expect_invalid(W_REGREPLY, "{\"success\":true,\"data\":{\"heartbeatInterval\":5000}}",
                   "data.nodeId", "data.nodeId is required");

    /* a long refusal is cut to fit, on a character boundary, control
     * characters blanked */
    strcpy(msg, "{\"success\":false,\"message\":\"line1\\nline2 ");
    for (i = 0; i < 150; i++)
        strcat(msg, "\xc3\xa9"); /* two bytes each */
    strcat(msg, "\"}");
    strcpy(text, "line1 line2 ");
    for (i = 0; i < 121; i++)
        strcat(text, "\xc3\xa9");
    expect_fail(W_REPREPLY, msg, MCPHUB_WIRE_E_REFUSED, "success", text);
    assert_int_equal(strlen(text), 254);
}

/* ---- parse errors and size limits ---- */

static void test_parse_errors(void **state)
{
    mcphub_wire_error err;
    char *big;
    size_t n;

    (void)state;
    expect_fail(W_REG, "{\"nodeId\":\"w1\",}", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 16: expected a string key");
    expect_fail(W_HB, "{\n  \"nodeId\": \"w1\",\n  \"timestamp\": tru\n}", MCPHUB_E_PARSE, "",
                "invalid JSON at line 3, column 16: expected a value");
    expect_fail(W_REL, "{\"serverName\":\"a\",\"serverName\":\"b\",\"replicaId\":\"r\"}",
                MCPHUB_E_PARSE, "", "invalid JSON at line 1, column 19: duplicate key");
    expect_fail(W_REL, "{} x", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 4: unexpected text after the JSON value");
    expect_fail(W_REL, "", MCPHUB_E_PARSE, "", "invalid JSON at line 1, column 1: expected a value");
    expect_fail(W_REL, "{\"serverName\":\"a\\u0000b\"}", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 17: \\u0000 is not allowed in a string");
    expect_fail(W_REL, "{\"serverName\":\"\xff\"}", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 16: invalid UTF-8 in a string");
    /* columns count characters, not bytes */
    expect_fail(W_REL, "{\"h\xc3\xa9\":1,]", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 9: expected a string key");
    /* len is honoured: the bytes past it are not read */
    assert_int_equal(decode_any(W_REL, RELEASE_JSON "garbage", strlen(RELEASE_JSON), NULL, &err), 0);
    assert_int_equal(decode_any(W_REL, RELEASE_JSON, strlen(RELEASE_JSON) - 1, NULL, &err),
                     MCPHUB_E_PARSE);

    /* size: exactly the limit is fine, one byte more is refused unread */
    n = MCPHUB_WIRE_MAX_BYTES;
    big = xmalloc(n + 2);
    memset(big, ' ', n + 1);
    memcpy(big, RELEASE_JSON, strlen(RELEASE_JSON));
    big[n + 1] = '\0';
    assert_int_equal(decode_any(W_REL, big, n, NULL, &err), 0);
    assert_int_equal(decode_any(W_REL, big, n + 1, NULL, &err), MCPHUB_E_TOOBIG);
    assert_string_equal(err.text, "the message is 4194305 bytes; at most 4194304 are allowed");
    free(big);

    /* bad arguments */
    assert_int_equal(decode_any(W_REL, NULL, 0, NULL, &err), MCPHUB_E_INVAL);
    assert_int_equal(decode_any(W_REL, RELEASE_JSON, strlen(RELEASE_JSON), NULL, NULL), 0);
    {
        fake_alloc fa;
        mcphub_mem bad;

        fake_alloc_reset(&fa, 0);
        bad = fake_alloc_mem(&fa);
        bad.free_fn = NULL; /* a partial set of hooks */
        assert_int_equal(decode_any(W_REL, RELEASE_JSON, strlen(RELEASE_JSON), &bad, &err),
                         MCPHUB_E_INVAL);
    }
    assert_int_equal(mcphub_wire_release_decode(RELEASE_JSON, strlen(RELEASE_JSON), NULL, NULL,
                                                &err), MCPHUB_E_INVAL);
}

/* ---- the JSON parser itself, seen through the envelope ---- */

/* Decode {"success":true,"data":<data>} and compare data's rendering. */
static void expect_data(const char *data, const char *rendered)
{
    char json[1024];
    mcphub_wire_envelope *m = NULL;
    mcphub_wire_error err;
    int rc;

    snprintf(json, sizeof json, "{\"success\":true,\"data\":%s}", data);
    rc = mcphub_wire_envelope_decode(json, strlen(json), &m, NULL, &err);
    if (rc != 0)
        fail_msg("rc %d for %s: %s", rc, data, err.text);
    assert_string_equal(m->data_json, rendered);
    mcphub_wire_envelope_free(m);
}

/* Same, expecting a parse error at a column of the data (the prefix
 * {"success":true,"data": is 23 characters). */
static void expect_data_error(const char *data, int data_column, const char *why)
{
    char json[1024], text[256];

    snprintf(json, sizeof json, "{\"success\":true,\"data\":%s}", data);
    snprintf(text, sizeof text, "invalid JSON at line 1, column %d: %s", 23 + data_column, why);
    expect_fail(W_ENV, json, MCPHUB_E_PARSE, "", text);
}

static void test_parser(void **state)
{
    const char *esc = "{\"success\":true,\"message\":\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9"
                      "\\u20AC\\ud83d\\ude00.\"}";
    mcphub_wire_envelope *m = NULL;
    char *s, *deep;
    size_t i;

    (void)state;
    assert_int_equal(mcphub_wire_envelope_decode(esc, strlen(esc), &m, NULL, NULL), 0);
    assert_string_equal(m->message, "q\"b\\s/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80.");
    mcphub_wire_envelope_free(m);

    /* values and how they come back */
    expect_data(" [ -0 , 0,1.5, -2.5e3,1E2, 1e-400, 9223372036854775807, -9223372036854775808 ] ",
                "[0,0,1.5,-2500.0,100.0,0.0,9223372036854775807,-9223372036854775808]");
    expect_data("\t{\r\n\"b\" : true, \"a\":[ ], \"c\":{}, \"d\":null, \"e\":false}",
                "{\"b\":true,\"a\":[],\"c\":{},\"d\":null,\"e\":false}");
    expect_data("\"\xe2\x82\xac raw UTF-8\"", "\"\xe2\x82\xac raw UTF-8\"");

    /* strings */
    expect_data_error("\"\\ud83d\"", 2, "lone UTF-16 surrogate in a string");
    expect_data_error("\"\\ude00\"", 2, "lone UTF-16 surrogate in a string");
    expect_data_error("\"\\ud83d\\u0041\"", 2, "lone UTF-16 surrogate in a string");
    expect_data_error("\"ab\\x\"", 4, "invalid escape in a string");
    expect_data_error("\"\\u12G4\"", 2, "invalid \\u escape in a string");
    expect_data_error("\"\\u12\"", 2, "invalid \\u escape in a string");
    expect_data_error("\"a\x01\"", 3, "control character in a string");
    expect_data_error("\"a\tb\"", 3, "control character in a string");
    expect_data_error("\"\xc0\xaf\"", 2, "invalid UTF-8 in a string");
    expect_data_error("\"\xed\xa0\x80\"", 2, "invalid UTF-8 in a string");
    expect_data_error("\"abc", 1, "unterminated string");
    expect_data_error("{\"a\":1,\"\\u0061\":2}", 8, "duplicate key");
    expect_data_error("{\"a\" 1}", 6, "expected ':'");
    expect_data_error("{\"a\":1 \"b\":2}", 8, "expected ',' or '}'");
    expect_data_error("{1:2}", 2, "expected a string key");
    expect_data_error("[1 2]", 4, "expected ',' or ']'");
    expect_data_error("[1,]", 4, "expected a value");
    /* numbers */
    expect_data_error("9223372036854775808", 1, "integer too big");
    expect_data_error("-9223372036854775809", 1, "integer too big");
    expect_data_error("1e400", 1, "real number overflow");
    expect_data_error("-", 1, "invalid number");
    expect_data_error("1.", 1, "invalid number");
    expect_data_error("1e+", 1, "invalid number");
    expect_data_error(".5", 1, "expected a value");
    expect_data_error("+1", 1, "expected a value");
    expect_data_error("[01]", 3, "expected ',' or ']'");
    expect_data_error("0.00000000000000000000000000000000000000000000000000000000000000001", 1,
                      "number too long");
    expect_data_error("NaN", 1, "expected a value");
    /* literals */
    expect_data_error("tru", 1, "expected a value");
    expect_data_error("True", 1, "expected a value");
    expect_data_error("nul}", 1, "expected a value");
    expect_fail(W_ENV, "\xef\xbb\xbf{\"success\":true}", MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 1: expected a value");

    /* nesting: the root object and 63 arrays are fine, one more is not */
    s = repeat("{\"success\":true,\"data\":", "[", 63, "");
    deep = repeat(s, "]", 63, "}");
    expect_ok(W_ENV, deep);
    free(s);
    free(deep);
    s = repeat("{\"success\":true,\"data\":", "[", 64, "");
    deep = repeat(s, "]", 64, "}");
    expect_fail(W_ENV, deep, MCPHUB_E_PARSE, "",
                "invalid JSON at line 1, column 87: nested too deeply");
    free(s);
    free(deep);

    /* long escaped strings and keys (past the on-stack buffer); a long
     * escaped key whose value holds another one */
    s = xmalloc(4000);
    strcpy(s, "{\"success\":true,\"message\":\"");
    for (i = 0; i < 300; i++)
        strcat(s, "\\n");
    strcat(s, "\",\"data\":{\"");
    for (i = 0; i < 300; i++)
        strcat(s, "k\\u00e9");
    strcat(s, "\":{\"");
    for (i = 0; i < 400; i++)
        strcat(s, "\\t");
    strcat(s, "\":1}}}");
    assert_int_equal(mcphub_wire_envelope_decode(s, strlen(s), &m, NULL, NULL), 0);
    assert_int_equal(strlen(m->message), 300);
    assert_int_equal(strspn(m->message, "\n"), 300);
    assert_int_equal(strlen(m->data_json), 2 + 300 * 3 + 4 + 400 * 2 + 5);
    assert_memory_equal(m->data_json, "{\"k\xc3\xa9k\xc3\xa9", 8);
    assert_non_null(strstr(m->data_json, "\xc3\xa9\":{\"\\t\\t"));
    mcphub_wire_envelope_free(m);
    free(s);
}

static int parser_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_wire_envelope *m = SENTINEL;
    mcphub_wire_error err;
    const char *json = arg;
    int rc = mcphub_wire_envelope_decode(json, strlen(json), &m, &mem, &err);

    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(m, SENTINEL);
        assert_string_equal(err.text, "out of memory");
        return rc;
    }
    assert_int_equal(strlen(m->message), 600);
    mcphub_wire_envelope_free(m);
    return 0;
}

static void test_parser_failing_allocator(void **state)
{
    char *s = xmalloc(8000);
    size_t i;

    (void)state;
    /* decode buffer grown twice, one key copied, then the result block */
    strcpy(s, "{\"success\":true,\"data\":{\"");
    for (i = 0; i < 300; i++)
        strcat(s, "\\n");
    strcat(s, "\":[\"");
    for (i = 0; i < 500; i++)
        strcat(s, "\\r");
    strcat(s, "\"]},\"message\":\"");
    for (i = 0; i < 600; i++)
        strcat(s, "\\t");
    strcat(s, "\"}");
    assert_int_equal(fake_alloc_loop(parser_scenario, s), 5);
    free(s);
}

/* ---- encoding refuses what the decoder would refuse ---- */

static void test_encode_rejects(void **state)
{
    mcphub_wire_replica_report rep = {"r", "s", MCPHUB_REPLICA_RUNNING, 0, 0, NULL};
    mcphub_wire_register reg;
    mcphub_wire_heartbeat hb;
    mcphub_wire_assignment as = {"r", "s", "{}", 0};
    mcphub_wire_release rel = {"r", "s"};
    mcphub_wire_replica_reply rp = {"r", MCPHUB_REPLICA_RUNNING};
    mcphub_wire_register_reply rr = {"w1", 5000, NULL, 0};
    mcphub_wire_heartbeat_reply hr = {NULL, 0, NULL, 0};
    char *out = SENTINEL;
    size_t len = 12345;

    (void)state;
    memset(&reg, 0, sizeof reg);
    reg.node_id = "w1";
    reg.role = MCPHUB_ROLE_WORKER;
    reg.host = "h";
    reg.port = 1;
    reg.weight = 1;
    reg.replicas = &rep;
    reg.replicas_len = 1;
#define REJECT(call) \
    do { assert_int_equal((call), MCPHUB_E_INVAL); assert_ptr_equal(out, SENTINEL); \
         assert_int_equal(len, 12345); } while (0)
    reg.node_id = "w 1";
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.node_id = NULL;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.node_id = "w1";
    reg.host = NULL;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.host = "h";
    reg.port = 0;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.port = 1;
    reg.weight = 0;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.weight = 1;
    reg.role = (mcphub_node_role)9;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.role = MCPHUB_ROLE_WORKER;
    reg.meta.os = "bad \xc0\xaf utf-8"; /* overlong '/' */
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.meta.os = "\xed\xa0\x80"; /* a surrogate */
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.meta.os = NULL;
    reg.meta.memory_total = 1ull << 63;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.meta.memory_total = 0;
    rep.status = (mcphub_replica_status)0;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    rep.status = MCPHUB_REPLICA_RUNNING;
    rep.server = "a b";
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    rep.server = "s";
    reg.replicas = NULL; /* a length without items */
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.replicas = &rep;
    reg.replicas_len = MCPHUB_WIRE_MAX_ITEMS + 1;
    REJECT(mcphub_wire_register_encode(&reg, &out, &len, NULL));
    reg.replicas_len = 1;
    REJECT(mcphub_wire_register_encode(NULL, &out, &len, NULL));
    REJECT(mcphub_wire_register_encode(&reg, NULL, &len, NULL));
    /* the fixed struct encodes */
    assert_int_equal(mcphub_wire_register_encode(&reg, &out, NULL, NULL), 0);
    mcphub_wire_free(NULL, out);
    out = SENTINEL;

    memset(&hb, 0, sizeof hb);
    hb.node_id = "w1";
    hb.metrics.cpu_percent = -0.5;
    REJECT(mcphub_wire_heartbeat_encode(&hb, &out, &len, NULL));
    hb.metrics.cpu_percent = HUGE_VAL;
    REJECT(mcphub_wire_heartbeat_encode(&hb, &out, &len, NULL));
    hb.metrics.cpu_percent = 100001.0;
    REJECT(mcphub_wire_heartbeat_encode(&hb, &out, &len, NULL));

    as.config_json = "[1]";
    REJECT(mcphub_wire_allocate_encode(&as, &out, &len, NULL));
    as.config_json = "{\"a\":1,}";
    REJECT(mcphub_wire_allocate_encode(&as, &out, &len, NULL));
    as.config_json = NULL;
    REJECT(mcphub_wire_allocate_encode(&as, &out, &len, NULL));
    as.config_json = "{}";
    as.config_version = (uint64_t)-1;
    REJECT(mcphub_wire_allocate_encode(&as, &out, &len, NULL));
    as.config_version = 0;
    rr.assignments = &as;
    rr.assignments_len = 1;
    rr.heartbeat_interval_ms = 0;
    REJECT(mcphub_wire_register_reply_encode(&rr, &out, &len, NULL));
    hr.releases_len = 1; /* no items */
    REJECT(mcphub_wire_heartbeat_reply_encode(&hr, &out, &len, NULL));
    hr.releases = &rel;
    rel.server = "";
    REJECT(mcphub_wire_heartbeat_reply_encode(&hr, &out, &len, NULL));
    REJECT(mcphub_wire_release_encode(&rel, &out, &len, NULL));
    rp.status = (mcphub_replica_status)7;
    REJECT(mcphub_wire_replica_reply_encode(&rp, &out, &len, NULL));
    {
        fake_alloc fa;
        mcphub_mem bad;

        fake_alloc_reset(&fa, 0);
        bad = fake_alloc_mem(&fa);
        bad.free_fn = NULL;
        rp.status = MCPHUB_REPLICA_RUNNING;
        REJECT(mcphub_wire_replica_reply_encode(&rp, &out, &len, &bad));
    }
    /* a config that parses alone but nests too deeply inside the message */
    {
        char *open = repeat("{\"a\":", "[", 62, ""), *cfg = repeat(open, "]", 62, "}");
        mcphub_wire_allocate *back = NULL;
        size_t n;

        as.config_json = cfg;
        as.config_version = 0;
        assert_int_equal(mcphub_wire_allocate_encode(&as, &out, &n, NULL), 0);
        assert_int_equal(mcphub_wire_allocate_decode(out, n, &back, NULL, NULL), 0);
        assert_string_equal(back->config_json, cfg);
        mcphub_wire_allocate_free(back);
        mcphub_wire_free(NULL, out);
        out = SENTINEL;
        free(cfg);
        free(open);
        open = repeat("{\"a\":", "[", 63, "");
        cfg = repeat(open, "]", 63, "}");
        as.config_json = cfg;
        REJECT(mcphub_wire_allocate_encode(&as, &out, &len, NULL));
        free(cfg);
        free(open);
    }
#undef REJECT
    /* freeing NULL is fine everywhere */
    mcphub_wire_free(NULL, NULL);
    mcphub_wire_register_free(NULL);
    mcphub_wire_register_reply_free(NULL);
    mcphub_wire_heartbeat_free(NULL);
    mcphub_wire_heartbeat_reply_free(NULL);
    mcphub_wire_allocate_free(NULL);
    mcphub_wire_release_free(NULL);
    mcphub_wire_replica_reply_free(NULL);
    mcphub_wire_envelope_free(NULL);
}

static void test_encode_too_big(void **state)
{
    /* 4096 replicas with long error texts pass every rule but make a
     * message over the limit: refused before anything reaches the caller */
    mcphub_wire_replica_report *reps = xmalloc(MCPHUB_WIRE_MAX_ITEMS * sizeof *reps);
    char *error = xmalloc(MCPHUB_WIRE_MAX_ERROR + 1);
    mcphub_wire_heartbeat hb;
    char *out = SENTINEL;
    size_t i;

    (void)state;
    memset(reps, 0, MCPHUB_WIRE_MAX_ITEMS * sizeof *reps);
    memset(error, 'x', MCPHUB_WIRE_MAX_ERROR);
    error[MCPHUB_WIRE_MAX_ERROR] = '\0';
    for (i = 0; i < MCPHUB_WIRE_MAX_ITEMS; i++) {
        reps[i].replica_id = "r";
        reps[i].server = "s";
        reps[i].status = MCPHUB_REPLICA_ERROR;
        reps[i].error = error;
    }
    memset(&hb, 0, sizeof hb);
    hb.node_id = "w1";
    hb.replicas = reps;
    hb.replicas_len = MCPHUB_WIRE_MAX_ITEMS;
    assert_int_equal(mcphub_wire_heartbeat_encode(&hb, &out, NULL, NULL), MCPHUB_E_TOOBIG);
    assert_ptr_equal(out, SENTINEL);
    hb.replicas_len = 100;
    assert_int_equal(mcphub_wire_heartbeat_encode(&hb, &out, NULL, NULL), 0);
    mcphub_wire_free(NULL, out);
    free(error);
    free(reps);
}

/* ---- allocation: one block, and every failure handled ---- */

static void test_decode_is_one_block(void **state)
{
    fake_alloc fa;
    mcphub_mem mem;
    mcphub_wire_heartbeat *hb = NULL;
    mcphub_wire_error err;

    (void)state;
    fake_alloc_reset(&fa, 0);
    mem = fake_alloc_mem(&fa);
    assert_int_equal(mcphub_wire_heartbeat_decode(HEARTBEAT_JSON, strlen(HEARTBEAT_JSON), &hb,
                                                  &mem, &err), 0);
    assert_int_equal(fa.count, 1);
    assert_int_equal(fa.live, 1);
    mcphub_wire_heartbeat_free(hb);
    assert_int_equal(fa.live, 0);
    /* a bad message allocates nothing at all */
    fake_alloc_reset(&fa, 0);
    {
        const char *bad = "{\"nodeId\":\"w1\",\"timestamp\":1,\"replicas\":[1]}";

        assert_int_equal(decode_any(W_HB, bad, strlen(bad), &mem, &err), MCPHUB_E_INVAL);
    }
    assert_int_equal(fa.count, 0);
}

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_wire_register *reg = SENTINEL;
    mcphub_wire_heartbeat_reply *hr = SENTINEL;
    mcphub_wire_error err;
    char *text = SENTINEL;
    size_t len = 777;
    int rc;

    (void)arg;
    rc = mcphub_wire_register_decode(REGISTER_JSON, strlen(REGISTER_JSON), &reg, &mem, &err);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(reg, SENTINEL);
        assert_string_equal(err.text, "out of memory");
        return rc;
    }
    rc = mcphub_wire_register_encode(reg, &text, &len, &mem);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(text, SENTINEL);
        assert_int_equal(len, 777);
        mcphub_wire_register_free(reg);
        return rc;
    }
    assert_string_equal(text, REGISTER_JSON);
    mcphub_wire_free(&mem, text);
    mcphub_wire_register_free(reg);
    rc = mcphub_wire_heartbeat_reply_decode(HEARTBEAT_REPLY_JSON, strlen(HEARTBEAT_REPLY_JSON),
                                            &hr, &mem, &err);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(hr, SENTINEL);
        return rc;
    }
    assert_string_equal(hr->releases[0].replica_id, "time-9");
    mcphub_wire_heartbeat_reply_free(hr);
    return 0;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    /* decode, encode, decode: one block each */
    assert_int_equal(fake_alloc_loop(alloc_scenario, NULL), 3);
}

/* jansson's allocator is process-global: install a failing one for the
 * scenario, and the default again right after. */
static long jn_count, jn_fail_at, jn_live;

static void *jn_malloc(size_t n)
{
    char *p;

    jn_count++;
    if (jn_count == jn_fail_at)
        return NULL;
    p = malloc(n + sizeof(long double));
    if (p == NULL)
        return NULL;
    jn_live++;
    return p + sizeof(long double);
}

static void jn_free(void *p)
{
    if (p == NULL)
        return;
    jn_live--;
    free((char *)p - sizeof(long double));
}

/* Every jansson allocation that fails is reported as exactly that: the
 * module parses with its own parser because jansson's lexer drops a byte of
 * a long token when its buffer cannot grow (a valid message then arrives
 * silently changed, or as a bogus syntax error). */
static int check_decode_failure(int rc, const mcphub_wire_error *err)
{
    assert_int_equal(rc, MCPHUB_E_NOMEM);
    assert_string_equal(err->field, "");
    assert_string_equal(err->text, "out of memory");
    return rc;
}

static int jansson_scenario(fake_alloc *fa)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_wire_register *reg = SENTINEL;
    mcphub_wire_register_reply *rr = SENTINEL;
    mcphub_wire_error err;
    char *text = SENTINEL;
    size_t len = 777;
    int rc;

    rc = mcphub_wire_register_decode(REGISTER_JSON, strlen(REGISTER_JSON), &reg, &mem, &err);
    if (rc != 0) {
        assert_ptr_equal(reg, SENTINEL);
        return check_decode_failure(rc, &err);
    }
    rc = mcphub_wire_register_encode(reg, &text, &len, &mem);
    mcphub_wire_register_free(reg);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM); /* no config text here */
        assert_ptr_equal(text, SENTINEL);
        assert_int_equal(len, 777);
        return rc;
    }
    assert_string_equal(text, REGISTER_JSON);
    mcphub_wire_free(&mem, text);
    text = SENTINEL;
    /* config objects go through jansson's parser and renderer both ways */
    rc = mcphub_wire_register_reply_decode(REGISTER_REPLY_JSON, strlen(REGISTER_REPLY_JSON), &rr,
                                           &mem, &err);
    if (rc != 0) {
        assert_ptr_equal(rr, SENTINEL);
        return check_decode_failure(rc, &err);
    }
    rc = mcphub_wire_register_reply_encode(rr, &text, NULL, &mem);
    mcphub_wire_register_reply_free(rr);
    if (rc != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_ptr_equal(text, SENTINEL);
        return rc;
    }
    assert_string_equal(text, REGISTER_REPLY_JSON);
    mcphub_wire_free(&mem, text);
    return 0;
}

static void test_failing_jansson_allocator(void **state)
{
    fake_alloc fa;
    long n;
    int rc;

    (void)state;
    for (n = 1; n < 100000; n++) {
        fake_alloc_reset(&fa, 0);
        jn_count = 0;
        jn_live = 0;
        jn_fail_at = n;
        json_set_alloc_funcs(jn_malloc, jn_free);
        rc = jansson_scenario(&fa);
        json_set_alloc_funcs(malloc, free);
        assert_int_equal(jn_live, 0);
        assert_int_equal(fa.live, 0);
        if (jn_count < n) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, MCPHUB_E_NOMEM); /* a failed allocation is never ignored */
    }
    assert_true(n > 50);
    assert_true(n < 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_register),
        cmocka_unit_test(test_golden_register_reply),
        cmocka_unit_test(test_golden_heartbeat),
        cmocka_unit_test(test_golden_heartbeat_reply),
        cmocka_unit_test(test_golden_allocate_release),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_round_trip_register_heartbeat),
        cmocka_unit_test(test_round_trip_replies),
        cmocka_unit_test(test_optional_fields_and_unknown_fields),
        cmocka_unit_test(test_validation_register),
        cmocka_unit_test(test_validation_numbers),
        cmocka_unit_test(test_validation_items),
        cmocka_unit_test(test_validation_envelope_and_root),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_parser_failing_allocator),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_encode_too_big),
        cmocka_unit_test(test_decode_is_one_block),
        cmocka_unit_test(test_failing_allocator),
        cmocka_unit_test(test_failing_jansson_allocator),
    };
    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
