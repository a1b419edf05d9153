/* Fuzz target: the coordinator (coordinator.h) fed decoded wire messages,
 * exactly as mcphub-masterd does (lib/io/master_cluster.c).
 *
 * The input is a script, one line each.  A line that decodes as a register
 * or a heartbeat (mcphub_wire_*_decode) is handed to the coordinator; its
 * reply must encode (the master answers with it) and decode again as the
 * worker would.  Other lines, by first byte:
 *   t<n>      time passes (n * 97 ms) and the coordinator ticks
 *   d<ok>     the last action the coordinator sent is done (ok: odd byte)
 *   s<id>     session <id> is routed to "fetch" (then "time")
 *   f<id>     that route failed;  e<id>  the session ended
 *   k<node>   an active health check of <node> passed or failed
 *   x<node>   the admin removes <node>
 *   p<n>      fetch wants n % 6 replicas;  c<json>  fetch's config changes
 * After each step the cluster views must be consistent, and every 8 steps
 * and at the end render as JSON;
 * at the end the persisted state must restore into a fresh coordinator
 * and persist again to the same JSON. */
#include <jansson.h>

#include <mcphub/coordinator.h>
#include <mcphub/wire.h>

#include "fuzz_util.h"

typedef struct fx {
    mcphub_coordinator *c;
    uint64_t now;
    char node[MCPHUB_WIRE_MAX_ID + 1];
    char replica[MCPHUB_WIRE_MAX_ID + 1];
    mcphub_action_kind kind;
    int have_action;
    unsigned actions;
} fx;

static int on_action(const mcphub_action *a, void *ud)
{
    fx *f = ud;

    FUZZ_CHECK(a->node != NULL && a->replica != NULL && a->server != NULL);
    FUZZ_CHECK(a->kind >= MCPHUB_ACTION_ALLOCATE && a->kind <= MCPHUB_ACTION_CONFIG);
    if (a->kind != MCPHUB_ACTION_RELEASE)
        FUZZ_CHECK(a->config_json != NULL);
    /* what the master would send: it must encode */
    if (a->kind == MCPHUB_ACTION_ALLOCATE || a->kind == MCPHUB_ACTION_CONFIG) {
        mcphub_wire_allocate m = {a->replica, a->server, a->config_json, a->config_version};
        char *out = NULL;
        FUZZ_CHECK(mcphub_wire_allocate_encode(&m, &out, NULL, NULL) == 0);
        mcphub_wire_free(NULL, out);
    } else {
        mcphub_wire_release m = {a->replica, a->server};
        char *out = NULL;
        FUZZ_CHECK(mcphub_wire_release_encode(&m, &out, NULL, NULL) == 0);
        mcphub_wire_free(NULL, out);
    }
    snprintf(f->node, sizeof f->node, "%s", a->node);
    snprintf(f->replica, sizeof f->replica, "%s", a->replica);
    f->kind = a->kind;
    f->have_action = 1;
    f->actions++;
    return f->actions % 7 == 3 ? MCPHUB_E_UNAVAILABLE : 0; /* some sends fail */
}

static mcphub_replica_report *reports_of(const mcphub_wire_replica_report *in, size_t n)
{
    mcphub_replica_report *out = calloc(n ? n : 1, sizeof *out);
    size_t i;

    for (i = 0; out != NULL && i < n; i++) {
        out[i].replica = in[i].replica_id;
        out[i].server = in[i].server;
        out[i].status = in[i].status;
        out[i].tool_count = in[i].tools;
        out[i].config_version = in[i].config_version;
        out[i].error = in[i].error;
    }
    return out;
}

/* The reply goes back to the worker: it must encode and decode. */
static void send_reply(const mcphub_worker_reply *r, const char *node_id, int is_register)
{
    mcphub_wire_assignment *as = calloc(r->assignments_len + 1, sizeof *as);
    mcphub_wire_release *rel = calloc(r->releases_len + 1, sizeof *rel);
    char *out = NULL;
    size_t len = 0, i;
    mcphub_wire_error e;

    FUZZ_CHECK(as != NULL && rel != NULL);
    for (i = 0; i < r->assignments_len; i++) {
        as[i].replica_id = r->assignments[i].replica;
        as[i].server = r->assignments[i].server;
        as[i].config_json = r->assignments[i].config_json;
        as[i].config_version = r->assignments[i].config_version;
    }
    for (i = 0; i < r->releases_len; i++) {
        rel[i].replica_id = r->releases[i].replica;
        rel[i].server = r->releases[i].server;
    }
    if (is_register) {
        mcphub_wire_register_reply rr = {node_id, (uint32_t)r->heartbeat_interval_ms, as,
                                         r->assignments_len};
        mcphub_wire_register_reply *back = NULL;

        FUZZ_CHECK(mcphub_wire_register_reply_encode(&rr, &out, &len, NULL) == 0);
        FUZZ_CHECK(mcphub_wire_register_reply_decode(out, len, &back, NULL, &e) == 0);
        FUZZ_CHECK(back->assignments_len == r->assignments_len);
        mcphub_wire_register_reply_free(back);
    } else {
        mcphub_wire_heartbeat_reply hr = {as, r->assignments_len, rel, r->releases_len};
        mcphub_wire_heartbeat_reply *back = NULL;

        FUZZ_CHECK(mcphub_wire_heartbeat_reply_encode(&hr, &out, &len, NULL) == 0);
        FUZZ_CHECK(mcphub_wire_heartbeat_reply_decode(out, len, &back, NULL, &e) == 0);
        FUZZ_CHECK(back->assignments_len == r->assignments_len);
        FUZZ_CHECK(back->releases_len == r->releases_len);
        mcphub_wire_heartbeat_reply_free(back);
    }
    mcphub_wire_free(NULL, out);
    free(as);
    free(rel);
}

static int try_register(fx *f, const char *line, size_t len)
{
    mcphub_wire_register *reg = NULL;
    mcphub_node_info info;
    mcphub_worker_reply reply;
    mcphub_replica_report *reps;
    int rc;

    if (mcphub_wire_register_decode(line, len, &reg, NULL, NULL) != 0)
        return 0;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    info.id = reg->node_id;
    info.role = reg->role;
    info.host = reg->host;
    info.port = reg->port;
    info.internal_port = reg->internal_port;
    info.meta = reg->meta;
    info.weight = reg->weight;
    info.max_servers = reg->max_servers;
    reps = reports_of(reg->replicas, reg->replicas_len);
    FUZZ_CHECK(reps != NULL);
    rc = mcphub_coordinator_register(f->c, &info, reps, reg->replicas_len, f->now, &reply);
    if (rc == 0)
        send_reply(&reply, reg->node_id, 1);
    else
        FUZZ_CHECK(mcphub_coordinator_errmsg(f->c)[0] != '\0');
    free(reps);
    mcphub_wire_register_free(reg);
    return 1;
}

static int try_heartbeat(fx *f, const char *line, size_t len)
{
    mcphub_wire_heartbeat *hb = NULL;
    mcphub_worker_reply reply;
    mcphub_replica_report *reps;
    int rc;

    if (mcphub_wire_heartbeat_decode(line, len, &hb, NULL, NULL) != 0)
        return 0;
    reps = reports_of(hb->replicas, hb->replicas_len);
    FUZZ_CHECK(reps != NULL);
    rc = mcphub_coordinator_heartbeat(f->c, hb->node_id, &hb->metrics, hb->config_version,
                                      reps, hb->replicas_len, f->now, &reply);
    if (rc == 0) {
        send_reply(&reply, hb->node_id, 0);
    } else if (rc == MCPHUB_E_NOTFOUND) {
        char *out = NULL;
        FUZZ_CHECK(mcphub_wire_unknown_node_encode(hb->node_id, &out, NULL, NULL) == 0);
        mcphub_wire_free(NULL, out);
    }
    free(reps);
    mcphub_wire_heartbeat_free(hb);
    return 1;
}

static void json_ok(const mcphub_coordinator *c, int rc, char *s, const char *what)
{
    json_t *v;

    if (rc != 0)
        fprintf(stderr, "%s: %d %s\n", what, rc, mcphub_coordinator_errmsg(c));
    FUZZ_CHECK(rc == 0 && s != NULL);
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(v != NULL);
    json_decref(v);
    mcphub_coordinator_free_string(c, s);
}

static void consistent(fx *f, int render)
{
    mcphub_cluster_stats st;
    size_t i, n = mcphub_coordinator_replica_count(f->c), running = 0;
    char *s = NULL;

    mcphub_coordinator_stats(f->c, &st);
    for (i = 0; i < n; i++) {
        const mcphub_replica *r = mcphub_coordinator_replica_at(f->c, i);

        FUZZ_CHECK(r != NULL && r->id != NULL && r->server != NULL && r->node != NULL);
        FUZZ_CHECK(mcphub_coordinator_replica_get(f->c, r->id) == r);
        running += r->status == MCPHUB_REPLICA_RUNNING;
    }
    FUZZ_CHECK(st.replicas_running == running);
    FUZZ_CHECK(st.nodes == st.nodes_online + st.nodes_unhealthy + st.nodes_offline);
    FUZZ_CHECK(mcphub_coordinator_next_deadline(f->c) > 0);
    if (!render)
        return;
    json_ok(f->c, mcphub_coordinator_status_json(f->c, f->now, 1700000000000ull, &s), s, "status");
    json_ok(f->c, mcphub_coordinator_nodes_json(f->c, f->now, 1700000000000ull, &s), s, "nodes");
    json_ok(f->c, mcphub_coordinator_replicas_json(f->c, NULL, f->now, 1700000000000ull, &s), s,
            "replicas");
    json_ok(f->c, mcphub_coordinator_sessions_json(f->c, f->now, 1700000000000ull, 50, &s), s,
            "sessions");
}

static void command(fx *f, const char *line, size_t len)
{
    char arg[MCPHUB_WIRE_MAX_ID + 1];
    size_t alen = len - 1 < MCPHUB_WIRE_MAX_ID ? len - 1 : MCPHUB_WIRE_MAX_ID;
    const char *rep, *node;

    memcpy(arg, line + 1, alen);
    arg[alen] = '\0';
    switch (line[0]) {
    case 't':
        f->now += 97u * (alen > 0 ? (uint64_t)strtoul(arg, NULL, 10) % 100000u : 1u);
        mcphub_coordinator_tick(f->c, f->now);
        break;
    case 'd':
        if (f->have_action)
            (void)mcphub_coordinator_action_done(f->c, f->kind, f->node, f->replica,
                                                 alen > 0 && (arg[0] & 1), "fuzz", f->now);
        break;
    case 's':
        if (mcphub_coordinator_route(f->c, arg, "fetch", f->now, &rep, &node) == 0)
            FUZZ_CHECK(mcphub_coordinator_replica_get(f->c, rep) != NULL);
        (void)mcphub_coordinator_route(f->c, arg, "time", f->now, &rep, &node);
        break;
    case 'f':
        if (mcphub_coordinator_route(f->c, arg, "fetch", f->now, &rep, &node) == 0) {
            char r[MCPHUB_WIRE_MAX_ID + 1];
            snprintf(r, sizeof r, "%s", rep);
            (void)mcphub_coordinator_route_failed(f->c, arg, "fetch", r);
        }
        break;
    case 'e':
        (void)mcphub_coordinator_session_end(f->c, arg);
        break;
    case 'k':
        (void)mcphub_coordinator_check_result(f->c, arg, (int)(alen & 1), f->now);
        break;
    case 'x':
        (void)mcphub_coordinator_remove_node(f->c, arg, f->now);
        break;
    case 'p': {
        mcphub_replica_config rc;
        memset(&rc, 0, sizeof rc);
        rc.size = sizeof rc;
        rc.server = "fetch";
        rc.replicas = alen > 0 ? (uint32_t)(unsigned char)arg[0] % 6u : 0;
        FUZZ_CHECK(mcphub_coordinator_set_replicas(f->c, &rc) == 0);
        break;
    }
    case 'c': {
        char *cfg = fuzz_strndup(line + 1, len - 1);
        if (cfg != NULL)
            (void)mcphub_coordinator_set_server(f->c, "fetch", cfg, NULL);
        free(cfg);
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fx f;
    mcphub_coordinator_opts o;
    mcphub_coord_callbacks cb;
    mcphub_replica_config rc;
    mcphub_coordinator *c2 = NULL;
    static const char *const only_w1[] = {"w1"};
    const char *line;
    size_t pos = 0, len;
    char *state = NULL, *state2 = NULL;
    int steps = 0;

    memset(&f, 0, sizeof f);
    f.now = 1000000;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.node_id = "master-1";
    o.heartbeat_interval_ms = 1000;
    o.heartbeat_timeout_ms = 4000;
    o.max_nodes = 16;
    o.max_routes = 256;
    o.max_servers = 16;
    o.max_replicas = 64;
    memset(&cb, 0, sizeof cb);
    cb.size = sizeof cb;
    cb.action = on_action;
    cb.user_data = &f;
    FUZZ_CHECK(mcphub_coordinator_new(&f.c, &o, &cb, NULL, f.now) == 0);
    memset(&rc, 0, sizeof rc);
    rc.size = sizeof rc;
    rc.server = "fetch";
    rc.replicas = 2;
    FUZZ_CHECK(mcphub_coordinator_set_server(f.c, "fetch", "{\"command\":\"uvx\"}", &rc) == 0);
    rc.server = "time";
    rc.replicas = 1;
    rc.node_ids = only_w1;
    rc.node_ids_len = 1;
    FUZZ_CHECK(mcphub_coordinator_set_server(f.c, "time", "{\"command\":\"t\"}", &rc) == 0);

    while (fuzz_next_line(data, size, &pos, &line, &len) && steps++ < 200) {
        if (len == 0)
            continue;
        f.now += 10;
        if (!try_register(&f, line, len) && !try_heartbeat(&f, line, len))
            command(&f, line, len);
        consistent(&f, steps % 8 == 0);
    }
    consistent(&f, 1);

    /* what the master persists restores into a fresh coordinator, and
     * persists again to the same text */
    FUZZ_CHECK(mcphub_coordinator_state_json(f.c, &state) == 0);
    FUZZ_CHECK(mcphub_coordinator_new(&c2, &o, &cb, NULL, f.now) == 0);
    FUZZ_CHECK(mcphub_coordinator_restore(c2, state, strlen(state)) == 0);
    FUZZ_CHECK(mcphub_coordinator_state_json(c2, &state2) == 0);
    {
        /* equal as JSON: restore stores configs with sorted keys (the
         * settings file's canonical form), set_server as given */
        json_t *a = json_loads(state, 0, NULL), *b = json_loads(state2, 0, NULL);

        if (!json_equal(a, b))
            fprintf(stderr, "state:    %s\nrestored: %s\n", state, state2);
        FUZZ_CHECK(a != NULL && json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    mcphub_coordinator_free_string(f.c, state);
    mcphub_coordinator_free_string(c2, state2);
    mcphub_coordinator_free(c2);
    mcphub_coordinator_free(f.c);
    return 0;
}
