/* Unit tests: the event loop — timers, fd watches, signals, defer, limits.
 * Real epoll, real pipes, real signals. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <mcphub/loop.h>

#include "fakes/fakes.h"

/* A log of which callbacks ran, in order. */
typedef struct trace {
    int order[64];
    int n;
    uint64_t ids[64];
    mcphub_loop *loop;
    uint64_t victim;      /* a timer to cancel from a callback */
    int ticks;
    int fds[4][2];
} trace;

typedef struct tag {
    trace *t;
    int value;
} tag;

static void note(trace *t, int v)
{
    assert_true(t->n < 64);
    t->order[t->n++] = v;
}

static int on_timer(mcphub_loop *loop, uint64_t id, void *ud)
{
    tag *g = ud;

    (void)loop;
    g->t->ids[g->t->n] = id;
    note(g->t, g->value);
    return 0;
}

static mcphub_loop *new_loop(void)
{
    mcphub_loop *loop = NULL;

    assert_int_equal(mcphub_loop_new(&loop, NULL, NULL), 0);
    assert_true(mcphub_loop_fd(loop) >= 0);
    return loop;
}

static void test_timers_run_in_due_order(void **state)
{
    mcphub_loop *loop = new_loop();
    trace t;
    tag g[6];
    uint64_t ids[6];
    static const uint64_t delay[6] = {30, 10, 20, 0, 10, 0};
    int i;

    (void)state;
    memset(&t, 0, sizeof t);
    for (i = 0; i < 6; i++) {
        g[i].t = &t;
        g[i].value = i;
        assert_int_equal(mcphub_loop_timer_add(loop, &ids[i], delay[i], 0, on_timer, &g[i]), 0);
        assert_true(ids[i] != 0);
    }
    assert_int_equal(mcphub_loop_timeout_ms(loop), 0);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* returns: nothing left */
    /* by due time; equal due times in the order added */
    assert_int_equal(t.n, 6);
    assert_int_equal(t.order[0], 3);
    assert_int_equal(t.order[1], 5);
    assert_int_equal(t.order[2], 1);
    assert_int_equal(t.order[3], 4);
    assert_int_equal(t.order[4], 2);
    assert_int_equal(t.order[5], 0);
    assert_true(t.ids[0] == ids[3] && t.ids[5] == ids[0]);
    /* one-shot timers are gone once run */
    assert_int_equal(mcphub_loop_timer_cancel(loop, ids[0]), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_loop_timeout_ms(loop), -1);
    mcphub_loop_free(loop);
}

static int repeat_then_cancel(mcphub_loop *loop, uint64_t id, void *ud)
{
    trace *t = ud;

    note(t, 100 + t->ticks);
    if (++t->ticks == 3)
        assert_int_equal(mcphub_loop_timer_cancel(loop, id), 0);   /* itself */
    return 0;
}

static int cancel_victim(mcphub_loop *loop, uint64_t id, void *ud)
{
    trace *t = ud;

    (void)id;
    note(t, 1);
    /* due in this same pass, but cancelled first: it must not run */
    assert_int_equal(mcphub_loop_timer_cancel(loop, t->victim), 0);
    assert_int_equal(mcphub_loop_timer_cancel(loop, t->victim), MCPHUB_E_NOTFOUND);
    return 0;
}

static int must_not_run(mcphub_loop *loop, uint64_t id, void *ud)
{
    (void)loop, (void)id, (void)ud;
    fail_msg("a cancelled timer ran");
    return 0;
}

static void test_cancel_inside_callbacks(void **state)
{
    mcphub_loop *loop = new_loop();
    trace t;
    uint64_t rep, first;

    (void)state;
    memset(&t, 0, sizeof t);
    assert_int_equal(mcphub_loop_timer_add(loop, &rep, 1, 2, repeat_then_cancel, &t), 0);
    assert_int_equal(mcphub_loop_timer_add(loop, &first, 5, 0, cancel_victim, &t), 0);
    assert_int_equal(mcphub_loop_timer_add(loop, &t.victim, 5, 0, must_not_run, &t), 0);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(t.ticks, 3);
    assert_int_equal(mcphub_loop_timer_cancel(loop, rep), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_loop_timer_cancel(loop, 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_loop_timer_cancel(loop, UINT64_MAX), MCPHUB_E_NOTFOUND);
    mcphub_loop_free(loop);
}

/* ---- fd watches ---- */

static int on_readable(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    tag *g = ud;
    char buf[64];
    ssize_t n;

    assert_true(events & MCPHUB_LOOP_READ);
    n = read(fd, buf, sizeof buf);
    note(g->t, g->value);
    if (g->value == 3 && g->t->ticks)
        fail_msg("event for a watch removed earlier in the same iteration");
    /* 0 removes itself at EOF, 1 and 2 at once, and 2 also removes 3,
     * which is readable in the same batch */
    if (n == 0 || g->value == 1 || g->value == 2) {
        assert_int_equal(mcphub_loop_fd_remove(loop, fd), 0);
        assert_int_equal(mcphub_loop_fd_remove(loop, fd), MCPHUB_E_NOTFOUND);
    }
    if (g->value == 2) {
        assert_int_equal(mcphub_loop_fd_remove(loop, g->t->fds[3][0]), 0);
        g->t->ticks = 1;
    }
    return 0;
}

static int on_writable(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    tag *g = ud;

    assert_true(events & MCPHUB_LOOP_WRITE);
    assert_false(events & MCPHUB_LOOP_READ);
    assert_int_equal(write(fd, "w", 1), 1);
    note(g->t, g->value);
    /* written once: no more interest */
    assert_int_equal(mcphub_loop_fd_modify(loop, fd, 0), 0);
    return 0;
}

static void test_fd_watches(void **state)
{
    mcphub_loop *loop = new_loop();
    trace t;
    tag g[4];
    int i, rc;

    (void)state;
    memset(&t, 0, sizeof t);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pipe(t.fds[i]), 0);
        g[i].t = &t;
        g[i].value = i;
    }
    /* pipe 0: a reader that sees data then EOF */
    assert_int_equal(mcphub_loop_fd_add(loop, t.fds[0][0], MCPHUB_LOOP_READ, on_readable, &g[0]), 0);
    assert_int_equal(mcphub_loop_fd_add(loop, t.fds[0][0], MCPHUB_LOOP_READ, on_readable, &g[0]),
                     MCPHUB_E_EXISTS);
    /* pipe 1: removes itself; pipes 2 and 3: 2 removes 3 */
    for (i = 1; i < 4; i++)
        assert_int_equal(mcphub_loop_fd_add(loop, t.fds[i][0], MCPHUB_LOOP_READ, on_readable, &g[i]), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(write(t.fds[i][1], "x", 1), 1);
    rc = mcphub_loop_run_once(loop, 1000);
    assert_true(rc >= 3);
    close(t.fds[0][1]);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* 0 sees EOF and removes itself */
    assert_int_equal(t.order[t.n - 1], 0);
    /* write interest, then modify to none */
    assert_int_equal(mcphub_loop_fd_add(loop, t.fds[1][1], MCPHUB_LOOP_WRITE, on_writable, &g[1]), 0);
    t.n = 0;
    assert_int_equal(mcphub_loop_run(loop), 0);   /* idle watch: nothing left */
    assert_int_equal(t.n, 1);
    assert_int_equal(mcphub_loop_fd_modify(loop, t.fds[1][1], 99), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_loop_fd_remove(loop, t.fds[1][1]), 0);
    assert_int_equal(mcphub_loop_fd_modify(loop, t.fds[1][1], 0), MCPHUB_E_NOTFOUND);
    assert_int_equal(mcphub_loop_fd_add(loop, -1, MCPHUB_LOOP_READ, on_readable, &g[0]), MCPHUB_E_INVAL);
    for (i = 0; i < 4; i++) {
        if (i > 0)
            close(t.fds[i][1]);
        close(t.fds[i][0]);
    }
    mcphub_loop_free(loop);
}

/* The reader of a pipe whose writer closed gets READ|HUP, and an idle
 * (interest 0) watch on it does not spin. */
static int count_hup(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    int *n = ud;

    assert_true(events & MCPHUB_LOOP_READ);
    assert_true(events & MCPHUB_LOOP_HUP);
    (*n)++;
    assert_int_equal(mcphub_loop_fd_modify(loop, fd, 0), 0);
    return 0;
}

static void test_hangup_and_idle_watch(void **state)
{
    mcphub_loop *loop = new_loop();
    int p[2], n = 0;

    (void)state;
    assert_int_equal(pipe(p), 0);
    close(p[1]);
    assert_int_equal(mcphub_loop_fd_add(loop, p[0], MCPHUB_LOOP_READ, count_hup, &n), 0);
    assert_true(mcphub_loop_run_once(loop, 1000) >= 1);
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_run_once(loop, 20), 0);   /* idle: no event */
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_fd_remove(loop, p[0]), 0);
    close(p[0]);
    mcphub_loop_free(loop);
}

/* ---- signals ---- */

static int on_signal(mcphub_loop *loop, int signo, void *ud)
{
    int *n = ud;

    (void)loop;
    assert_int_equal(signo, SIGUSR1);
    (*n)++;
    return 0;
}

static int is_blocked(int signo)
{
    sigset_t cur;

    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, signo) == 1;
}

static void test_signals_through_signalfd(void **state)
{
    mcphub_loop *loop = new_loop();
    uint64_t id1, id2;
    int a = 0, b = 0, i;

    (void)state;
    assert_false(is_blocked(SIGUSR1));
    assert_int_equal(mcphub_loop_signal_add(loop, &id1, SIGUSR1, on_signal, &a), 0);
    assert_int_equal(mcphub_loop_signal_add(loop, &id2, SIGUSR1, on_signal, &b), 0);
    assert_true(is_blocked(SIGUSR1));
    assert_int_equal(kill(getpid(), SIGUSR1), 0);   /* would kill us if not handled */
    for (i = 0; i < 100 && a == 0; i++)
        assert_true(mcphub_loop_run_once(loop, 50) >= 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 1);
    /* one handler removed: the other still gets it, the signal stays blocked */
    assert_int_equal(mcphub_loop_signal_remove(loop, id1), 0);
    assert_int_equal(mcphub_loop_signal_remove(loop, id1), MCPHUB_E_NOTFOUND);
    assert_true(is_blocked(SIGUSR1));
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    for (i = 0; i < 100 && b == 1; i++)
        assert_true(mcphub_loop_run_once(loop, 50) >= 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    /* last handler gone: unblocked again, as before */
    assert_int_equal(mcphub_loop_signal_remove(loop, id2), 0);
    assert_false(is_blocked(SIGUSR1));
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGKILL, on_signal, &a), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, 0, on_signal, &a), MCPHUB_E_INVAL);
    /* freeing the loop unblocks what it blocked */
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGUSR2, on_signal, &a), 0);
    assert_true(is_blocked(SIGUSR2));
    mcphub_loop_free(loop);
    assert_false(is_blocked(SIGUSR2));
}

static void test_signal_blocked_before_stays_blocked(void **state)
{
    mcphub_loop *loop = new_loop();
    sigset_t one;
    uint64_t id;
    int n = 0;

    (void)state;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    sigprocmask(SIG_BLOCK, &one, NULL);
    assert_int_equal(mcphub_loop_signal_add(loop, &id, SIGUSR1, on_signal, &n), 0);
    assert_int_equal(mcphub_loop_signal_remove(loop, id), 0);
    assert_true(is_blocked(SIGUSR1));   /* not ours to unblock */
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    mcphub_loop_free(loop);
}

/* ---- defer ---- */

typedef struct defer_ctx {
    trace t;
    int inside;
    tag g[3];
    uint64_t cancelled;
} defer_ctx;

static int deferred(mcphub_loop *loop, uint64_t id, void *ud)
{
    tag *g = ud;
    defer_ctx *d = (defer_ctx *)g->t;

    (void)loop, (void)id;
    assert_int_equal(d->inside, 0);   /* never inside the caller */
    note(g->t, g->value);
    return 0;
}

static int defers_from_fd(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    defer_ctx *d = ud;
    char c;

    (void)events;
    assert_int_equal(read(fd, &c, 1), 1);
    d->inside = 1;
    assert_int_equal(mcphub_loop_defer(loop, NULL, deferred, &d->g[0]), 0);
    assert_int_equal(mcphub_loop_defer(loop, NULL, deferred, &d->g[1]), 0);
    assert_int_equal(mcphub_loop_defer(loop, &d->cancelled, deferred, &d->g[2]), 0);
    assert_int_equal(mcphub_loop_timer_cancel(loop, d->cancelled), 0);
    note(&d->t, 9);
    d->inside = 0;
    assert_int_equal(mcphub_loop_fd_remove(loop, fd), 0);
    return 0;
}

static void test_defer_runs_after_callback_in_order(void **state)
{
    mcphub_loop *loop = new_loop();
    defer_ctx d;
    int p[2], i;

    (void)state;
    memset(&d, 0, sizeof d);
    for (i = 0; i < 3; i++) {
        d.g[i].t = &d.t;
        d.g[i].value = i;
    }
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mcphub_loop_fd_add(loop, p[0], MCPHUB_LOOP_READ, defers_from_fd, &d), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(d.t.n, 3);
    assert_int_equal(d.t.order[0], 9);
    assert_int_equal(d.t.order[1], 0);
    assert_int_equal(d.t.order[2], 1);
    close(p[0]);
    close(p[1]);
    mcphub_loop_free(loop);
}

/* A deferred callback that defers again runs in the next pass, so a chain
 * of them cannot starve the loop. */
static int redefer(mcphub_loop *loop, uint64_t id, void *ud)
{
    int *n = ud;

    (void)id;
    if (++*n < 5)
        assert_int_equal(mcphub_loop_defer(loop, NULL, redefer, n), 0);
    return 0;
}

static void test_defer_chain_one_per_iteration(void **state)
{
    mcphub_loop *loop = new_loop();
    int n = 0;

    (void)state;
    assert_int_equal(mcphub_loop_defer(loop, NULL, redefer, &n), 0);
    assert_int_equal(mcphub_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 2);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(n, 5);
    mcphub_loop_free(loop);
}

/* ---- running ---- */

static int fails(mcphub_loop *loop, uint64_t id, void *ud)
{
    (void)loop, (void)id, (void)ud;
    return MCPHUB_E_CALLBACK;
}

static int nested(mcphub_loop *loop, uint64_t id, void *ud)
{
    int *n = ud;

    (void)id;
    assert_int_equal(mcphub_loop_run_once(loop, 0), MCPHUB_E_STATE);
    (*n)++;
    mcphub_loop_stop(loop);
    return 0;
}

static void test_run_stop_errors_and_now(void **state)
{
    mcphub_loop *loop = new_loop();
    uint64_t t0, t1, id;
    int n = 0;

    (void)state;
    t0 = mcphub_loop_now_ms(loop);
    assert_int_equal(mcphub_loop_run_once(loop, 30), 0);   /* waits, nothing to do */
    t1 = mcphub_loop_now_ms(loop);
    assert_true(t1 >= t0 + 25);
    /* stop from a callback ends run although a repeating timer remains */
    assert_int_equal(mcphub_loop_timer_add(loop, &id, 0, 1, nested, &n), 0);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_timer_cancel(loop, id), 0);
    /* stop before run: run returns at once, and the request is cleared */
    assert_int_equal(mcphub_loop_timer_add(loop, &id, 0, 0, nested, &n), 0);
    mcphub_loop_stop(loop);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_run(loop), 0);
    assert_int_equal(n, 2);
    /* a failing callback's code leaves the loop */
    assert_int_equal(mcphub_loop_timer_add(loop, NULL, 0, 0, fails, NULL), 0);
    assert_int_equal(mcphub_loop_run(loop), MCPHUB_E_CALLBACK);
    mcphub_loop_free(loop);
    mcphub_loop_free(NULL);
}

/* The loop nests in another poller: its epoll fd becomes readable when a
 * watched fd is. */
static int drain_one(mcphub_loop *loop, int fd, uint32_t events, void *ud)
{
    char c;

    (void)loop, (void)events;
    assert_int_equal(read(fd, &c, 1), 1);
    (*(int *)ud)++;
    return 0;
}

static void test_nesting_through_epoll_fd(void **state)
{
    mcphub_loop *loop = new_loop();
    struct pollfd pfd;
    int p[2], n = 0;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mcphub_loop_fd_add(loop, p[0], MCPHUB_LOOP_READ, drain_one, &n), 0);
    pfd.fd = mcphub_loop_fd(loop);
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_int_equal(mcphub_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 1);
    assert_int_equal(mcphub_loop_fd_remove(loop, p[0]), 0);
    close(p[0]);
    close(p[1]);
    mcphub_loop_free(loop);
}

static int fcntl_dup_high(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 700);

    assert_true(high >= 700);
    return high;
}

static void test_limits(void **state)
{
    mcphub_loop_opts o;
    mcphub_loop *loop = NULL;
    uint64_t id;
    int i, p[2], n = 0;

    (void)state;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.max_timers = 4;
    o.max_signals = 1;
    o.max_fd = 3;   /* only fds 0..2 */
    assert_int_equal(mcphub_loop_new(&loop, &o, NULL), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(mcphub_loop_timer_add(loop, &id, 1000, 0, fails, NULL), 0);
    assert_int_equal(mcphub_loop_timer_add(loop, NULL, 0, 0, fails, NULL), MCPHUB_E_FULL);
    assert_int_equal(mcphub_loop_timer_cancel(loop, id), 0);
    assert_int_equal(mcphub_loop_defer(loop, NULL, fails, NULL), 0);   /* room again */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mcphub_loop_fd_add(loop, p[0], MCPHUB_LOOP_READ, drain_one, &n), MCPHUB_E_FULL);
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGUSR1, on_signal, &n), 0);
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGUSR2, on_signal, &n), MCPHUB_E_FULL);
    assert_false(is_blocked(SIGUSR2));   /* a failed call changed nothing */
    mcphub_loop_free(loop);
    assert_false(is_blocked(SIGUSR1));
    close(p[0]);
    close(p[1]);
    /* a regular file cannot be watched by epoll */
    assert_int_equal(mcphub_loop_new(&loop, NULL, NULL), 0);
    {
        char path[] = "/tmp/mcphub-loop-XXXXXX";
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(mcphub_loop_fd_add(loop, fd, MCPHUB_LOOP_READ, drain_one, &n),
                         MCPHUB_E_INVAL);
        assert_int_equal(mcphub_loop_fd_remove(loop, fd), MCPHUB_E_NOTFOUND);
        close(fd);
    }
    mcphub_loop_free(loop);
}

/* Building up a loop under a failing allocator: every failed call returns
 * a clean error and leaves no trace (no timer fires for it, no watch, no
 * blocked signal); what succeeded before still works. */
static int count_timer(mcphub_loop *loop, uint64_t id, void *ud)
{
    (void)loop, (void)id;
    (*(int *)ud)++;
    return 0;
}

static int alloc_scenario(fake_alloc *fa, void *arg)
{
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_loop *loop = NULL;
    int i, rc, added = 0, fired = 0, p[2], high, n = 0;

    (void)arg;
    if ((rc = mcphub_loop_new(&loop, NULL, &mem)) != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(loop);
        return rc;
    }
    for (i = 0; i < 40 && rc == 0; i++) {   /* the timer arrays grow twice */
        rc = mcphub_loop_timer_add(loop, NULL, (uint64_t)(i % 3), 0, count_timer, &fired);
        added += rc == 0;
    }
    assert_int_equal(pipe(p), 0);
    high = fcntl_dup_high(p[0]);            /* forces the watch table to grow */
    if (rc == 0) {
        rc = mcphub_loop_fd_add(loop, high, MCPHUB_LOOP_READ, drain_one, &n);
        if (rc != 0)
            assert_int_equal(mcphub_loop_fd_remove(loop, high), MCPHUB_E_NOTFOUND);
        else
            assert_int_equal(mcphub_loop_fd_remove(loop, high), 0);
    }
    if (rc == 0) {
        rc = mcphub_loop_signal_add(loop, NULL, SIGUSR1, on_signal, &n);
        assert_true(rc == 0 ? is_blocked(SIGUSR1) : !is_blocked(SIGUSR1));
    }
    if (rc != 0)
        assert_int_equal(rc, MCPHUB_E_NOMEM);
    /* exactly the timers that were added fire */
    while (fired < added)
        assert_true(mcphub_loop_run_once(loop, 10) >= 0);
    assert_int_equal(mcphub_loop_run_once(loop, 0), 0);
    assert_int_equal(fired, added);
    mcphub_loop_free(loop);
    assert_false(is_blocked(SIGUSR1));
    close(high);
    close(p[0]);
    close(p[1]);
    return rc;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(alloc_scenario, NULL) >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_run_in_due_order),
        cmocka_unit_test(test_cancel_inside_callbacks),
        cmocka_unit_test(test_fd_watches),
        cmocka_unit_test(test_hangup_and_idle_watch),
        cmocka_unit_test(test_signals_through_signalfd),
        cmocka_unit_test(test_signal_blocked_before_stays_blocked),
        cmocka_unit_test(test_defer_runs_after_callback_in_order),
        cmocka_unit_test(test_defer_chain_one_per_iteration),
        cmocka_unit_test(test_run_stop_errors_and_now),
        cmocka_unit_test(test_nesting_through_epoll_fd),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
