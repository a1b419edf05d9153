/* Supervision of one replica's process: restart with backoff; see
 * process.h.
 *
 * States (mcphub_replica_status):
 *   STOPPED --start--> STARTING --set_running--> RUNNING
 *   STARTING/RUNNING --child ended / fail--> ERROR --backoff--> STARTING
 *   any --stop--> (child ends) STOPPED
 * A spawn that fails counts like a child that ended at once. */
#include <stdio.h>
#include <string.h>

#include "core/mem_int.h"
#include "mcphub/process.h"

#define DEFAULT_FAIL_GRACE_MS 2000u

struct mcphub_supervisor {
    mcphub__mem mem;
    mcphub_loop *loop;
    mcphub_process *proc;
    mcphub_backoff *backoff;
    uint32_t fail_grace_ms;
    mcphub_supervisor_line_fn on_line;
    mcphub_supervisor_line_fn on_stderr;
    mcphub_supervisor_drop_fn on_drop;
    mcphub_supervisor_state_fn on_state;
    void *user_data;

    mcphub_replica_status state;
    int supervising;      /* restarts wanted */
    int child_alive;      /* started and on_exit not yet seen */
    int failing;          /* fail() gave the error text of this exit */
    uint64_t retry_timer;
    uint32_t restarts;
    char last_error[512];
    int busy;
    int doomed;
};

static void release(mcphub_supervisor *s)
{
    mcphub_backoff_free(s->backoff);
    mcphub__free(&s->mem, s);
}

static void enter(mcphub_supervisor *s)
{
    s->busy++;
}

static void leave(mcphub_supervisor *s)
{
    if (--s->busy == 0 && s->doomed)
        release(s);
}

static void notify(mcphub_supervisor *s)
{
    if (s->on_state != NULL && !s->doomed)
        s->on_state(s, s->state, s->user_data);
}

static void on_proc_line(mcphub_process *p, const char *line, size_t len, void *user_data)
{
    mcphub_supervisor *s = user_data;

    (void)p;
    if (s->on_line != NULL && !s->doomed) {
        enter(s);
        s->on_line(s, line, len, s->user_data);
        leave(s);
    }
}

static void on_proc_stderr(mcphub_process *p, const char *line, size_t len, void *user_data)
{
    mcphub_supervisor *s = user_data;

    (void)p;
    if (s->on_stderr != NULL && !s->doomed) {
        enter(s);
        s->on_stderr(s, line, len, s->user_data);
        leave(s);
    }
}

static void on_proc_drop(mcphub_process *p, int stream, size_t len, void *user_data)
{
    mcphub_supervisor *s = user_data;

    (void)p;
    if (s->on_drop != NULL && !s->doomed) {
        enter(s);
        s->on_drop(s, stream, len, s->user_data);
        leave(s);
    }
}

static int retry_due(mcphub_loop *loop, uint64_t id, void *user_data);

static int schedule_retry(mcphub_supervisor *s)
{
    uint64_t now = mcphub_loop_now_ms(s->loop);

    return mcphub_loop_timer_add(s->loop, &s->retry_timer, mcphub_backoff_next(s->backoff, now),
                                 0, retry_due, s);
}

/* Spawn the child; on failure record why. */
static int spawn(mcphub_supervisor *s)
{
    int rc = mcphub_process_start(s->proc);

    if (rc == 0) {
        s->child_alive = 1;
        s->state = MCPHUB_REPLICA_STARTING;
        s->last_error[0] = '\0';
        mcphub_backoff_run_started(s->backoff, mcphub_loop_now_ms(s->loop));
        return 0;
    }
    snprintf(s->last_error, sizeof s->last_error, "%s", mcphub_process_errmsg(s->proc));
    s->state = MCPHUB_REPLICA_ERROR;
    return rc;
}

static void note_unscheduled(mcphub_supervisor *s, int rc)
{
    size_t n = strlen(s->last_error);

    snprintf(s->last_error + n, sizeof s->last_error - n, "%srestart not scheduled: %s",
             n > 0 ? "; " : "", mcphub_strerror(rc));
}

static int retry_due(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_supervisor *s = user_data;
    int rc;

    (void)loop, (void)id;
    s->retry_timer = 0;
    if (!s->supervising)
        return 0;
    enter(s);
    s->restarts++;
    if (spawn(s) != 0 && (rc = schedule_retry(s)) != 0)
        note_unscheduled(s, rc);
    notify(s);
    leave(s);
    return 0;
}

static void on_proc_exit(mcphub_process *p, int status, void *user_data)
{
    mcphub_supervisor *s = user_data;
    int rc;

    (void)p;
    enter(s);
    s->child_alive = 0;
    if (!s->supervising) {
        s->state = MCPHUB_REPLICA_STOPPED;
    } else {
        if (!s->failing)
            mcphub_process_status_text(status, s->last_error, sizeof s->last_error);
        s->failing = 0;
        s->state = MCPHUB_REPLICA_ERROR;
        if ((rc = schedule_retry(s)) != 0)
            note_unscheduled(s, rc);
    }
    notify(s);
    leave(s);
}

MCPHUB_API int mcphub_supervisor_new(mcphub_supervisor **out, const mcphub_supervisor_opts *opts,
                                     const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_supervisor *s;
    mcphub_process_opts po;
    const mcphub_process_opts *in;
    int rc;

    if (out == NULL || opts == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    in = MCPHUB__GET(opts, mcphub_supervisor_opts, process, NULL);
    if (in == NULL || (rc = mcphub__opts_check(in, sizeof *in)) != 0)
        return MCPHUB_E_INVAL;
    /* Our callbacks replace the caller's; unknown newer fields were
     * rejected above, so a copy of the known size is complete. */
    memset(&po, 0, sizeof po);
    memcpy(&po, in, in->size < sizeof po ? in->size : sizeof po);
    po.size = sizeof po;
    s = mcphub__calloc(&m, 1, sizeof *s);
    if (s == NULL)
        return MCPHUB_E_NOMEM;
    s->mem = m;
    po.on_line = on_proc_line;
    po.on_stderr = on_proc_stderr;
    po.on_line_dropped = on_proc_drop;
    po.on_exit = on_proc_exit;
    po.user_data = s;
    if ((rc = mcphub_backoff_new(&s->backoff, MCPHUB__GET(opts, mcphub_supervisor_opts, backoff, NULL),
                                 mem)) != 0 ||
        (rc = mcphub_process_new(&s->proc, &po, mem)) != 0) {
        release(s);
        return rc;
    }
    s->loop = po.loop;
    s->fail_grace_ms = MCPHUB__GET(opts, mcphub_supervisor_opts, fail_grace_ms, 0);
    if (s->fail_grace_ms == 0)
        s->fail_grace_ms = DEFAULT_FAIL_GRACE_MS;
    s->on_line = MCPHUB__GET(opts, mcphub_supervisor_opts, on_line, NULL);
    s->on_stderr = MCPHUB__GET(opts, mcphub_supervisor_opts, on_stderr, NULL);
    s->on_drop = MCPHUB__GET(opts, mcphub_supervisor_opts, on_line_dropped, NULL);
    s->on_state = MCPHUB__GET(opts, mcphub_supervisor_opts, on_state, NULL);
    s->user_data = MCPHUB__GET(opts, mcphub_supervisor_opts, user_data, NULL);
    s->state = MCPHUB_REPLICA_STOPPED;
    *out = s;
    return 0;
}

/* The last action of a call that changed the state: tell the owner.  The
 * callback may free s, so nothing may touch s after this. */
static void notify_last(mcphub_supervisor *s)
{
    enter(s);
    notify(s);
    leave(s);
}

MCPHUB_API int mcphub_supervisor_start(mcphub_supervisor *s)
{
    int rc;

    if (s == NULL)
        return MCPHUB_E_INVAL;
    if (s->state != MCPHUB_REPLICA_STOPPED || s->child_alive || s->doomed)
        return MCPHUB_E_STATE;
    mcphub_backoff_reset(s->backoff);
    if (spawn(s) != 0 && (rc = schedule_retry(s)) != 0) {
        /* Not supervised after all: back to where we were. */
        mcphub_backoff_reset(s->backoff);
        s->state = MCPHUB_REPLICA_STOPPED;
        return rc;
    }
    s->supervising = 1;
    notify_last(s);
    return 0;
}

MCPHUB_API int mcphub_supervisor_set_running(mcphub_supervisor *s)
{
    if (s == NULL)
        return MCPHUB_E_INVAL;
    if (s->state != MCPHUB_REPLICA_STARTING || !s->child_alive || s->doomed)
        return MCPHUB_E_STATE;
    s->state = MCPHUB_REPLICA_RUNNING;
    notify_last(s);
    return 0;
}

MCPHUB_API int mcphub_supervisor_fail(mcphub_supervisor *s, const char *reason)
{
    int rc;

    if (s == NULL)
        return MCPHUB_E_INVAL;
    if (!s->supervising || !s->child_alive || s->doomed ||
        (s->state != MCPHUB_REPLICA_STARTING && s->state != MCPHUB_REPLICA_RUNNING))
        return MCPHUB_E_STATE;
    if ((rc = mcphub_process_stop(s->proc, s->fail_grace_ms)) != 0)
        return rc;
    snprintf(s->last_error, sizeof s->last_error, "%s",
             reason != NULL && reason[0] != '\0' ? reason : "failed");
    s->failing = 1;
    s->state = MCPHUB_REPLICA_ERROR;
    notify_last(s);
    return 0;
}

MCPHUB_API int mcphub_supervisor_stop(mcphub_supervisor *s, uint32_t grace_ms)
{
    int rc;

    if (s == NULL)
        return MCPHUB_E_INVAL;
    if (s->child_alive && (rc = mcphub_process_stop(s->proc, grace_ms)) != 0)
        return rc;
    s->supervising = 0;
    s->failing = 0;
    if (s->retry_timer != 0) {
        mcphub_loop_timer_cancel(s->loop, s->retry_timer);
        s->retry_timer = 0;
    }
    if (!s->child_alive && s->state != MCPHUB_REPLICA_STOPPED) {
        s->state = MCPHUB_REPLICA_STOPPED;
        notify_last(s);
    }
    return 0;
}

MCPHUB_API mcphub_replica_status mcphub_supervisor_state(const mcphub_supervisor *s)
{
    return s->state;
}

MCPHUB_API const char *mcphub_supervisor_last_error(const mcphub_supervisor *s)
{
    return s->last_error;
}

MCPHUB_API uint32_t mcphub_supervisor_restarts(const mcphub_supervisor *s)
{
    return s->restarts;
}

MCPHUB_API int mcphub_supervisor_pid(const mcphub_supervisor *s)
{
    return mcphub_process_pid(s->proc);
}

MCPHUB_API mcphub_process *mcphub_supervisor_process(mcphub_supervisor *s)
{
    return s->proc;
}

MCPHUB_API void mcphub_supervisor_free(mcphub_supervisor *s)
{
    if (s == NULL || s->doomed)
        return;
    s->doomed = 1;
    if (s->retry_timer != 0)
        mcphub_loop_timer_cancel(s->loop, s->retry_timer);
    /* The process defers its own release if it is inside a callback. */
    mcphub_process_free(s->proc);
    s->proc = NULL;
    if (s->busy == 0)
        release(s);
}
