/* Unit tests: stdio child processes and their supervision.  Real
 * processes (tests/helpers/testchild), real pipes, real signals.  The test
 * process is a child subreaper so that grandchildren orphaned by a test
 * come back to it and can be checked (and reaped) here. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <mcphub/process.h>

#include "fakes/fakes.h"

#define LIMIT_MS 5000

static char child_path[4096];

/* What a process's callbacks saw. */
typedef struct seen {
    char lines[32][256];
    size_t lens[32];
    int nlines;
    long stderr_lines;
    int drops;
    int drop_stream;
    size_t drop_len;
    int exits;
    int status;
    int free_on_line;   /* free the process from inside on_line */
    mcphub_process **self;
} seen;

static void on_line(mcphub_process *p, const char *line, size_t len, void *ud)
{
    seen *s = ud;

    if (s->nlines < 32) {
        size_t n = len < 255 ? len : 255;

        memcpy(s->lines[s->nlines], line, n);
        s->lines[s->nlines][n] = '\0';
        s->lens[s->nlines] = len;
    }
    s->nlines++;
    if (s->free_on_line) {
        mcphub_process_free(p);
        *s->self = NULL;
    }
}

static void on_stderr(mcphub_process *p, const char *line, size_t len, void *ud)
{
    seen *s = ud;

    (void)p;
    assert_true(len > 0);
    assert_memory_equal(line, "log line ", 9);
    s->stderr_lines++;
}

static void on_drop(mcphub_process *p, int stream, size_t len, void *ud)
{
    seen *s = ud;

    (void)p;
    s->drops++;
    s->drop_stream = stream;
    s->drop_len = len;
}

static void on_exit_cb(mcphub_process *p, int status, void *ud)
{
    seen *s = ud;

    assert_false(mcphub_process_running(p));
    assert_int_equal(mcphub_process_pid(p), 0);
    s->exits++;
    s->status = status;
}

static mcphub_process_opts child_opts(mcphub_loop *loop, seen *s, const char *const *args,
                                      size_t nargs)
{
    mcphub_process_opts o;

    memset(s, 0, sizeof *s);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loop = loop;
    o.command = child_path;
    o.args = args;
    o.args_len = nargs;
    o.on_line = on_line;
    o.on_stderr = on_stderr;
    o.on_line_dropped = on_drop;
    o.on_exit = on_exit_cb;
    o.user_data = s;
    return o;
}

/* Run the loop until cond holds; fail after LIMIT_MS. */
#define PUMP(loop, cond)                                                            \
    do {                                                                            \
        uint64_t end_ = mcphub_loop_now_ms(loop) + LIMIT_MS;                        \
        while (!(cond)) {                                                           \
            if (mcphub_loop_now_ms(loop) > end_)                                    \
                fail_msg("timed out waiting for: %s", #cond);                       \
            assert_true(mcphub_loop_run_once(loop, 20) >= 0);                       \
        }                                                                           \
    } while (0)

static mcphub_loop *new_loop(void)
{
    mcphub_loop *loop = NULL;

    assert_int_equal(mcphub_loop_new(&loop, NULL, NULL), 0);
    return loop;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* pid is neither running nor a zombie of ours. */
static void assert_gone(int pid)
{
    char path[64];
    struct stat st;

    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    snprintf(path, sizeof path, "/proc/%d", pid);
    assert_int_equal(stat(path, &st), -1);
}

static void assert_group_gone(int pgid)
{
    assert_int_equal(kill(-pgid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static int ignore_signal(mcphub_loop *loop, int signo, void *ud)
{
    (void)loop, (void)signo, (void)ud;
    return 0;
}

/* ---- the process runner ---- */

static void test_echo_round_trip(void **state)
{
    static const char *const args[] = {"echo"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);
    int pid;

    (void)state;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_false(mcphub_process_running(p));
    assert_int_equal(mcphub_process_write(p, "x\n", 2), MCPHUB_E_STATE);
    assert_int_equal(mcphub_process_start(p), 0);
    assert_string_equal(mcphub_process_errmsg(p), "");
    assert_true(mcphub_process_running(p));
    pid = mcphub_process_pid(p);
    assert_true(pid > 0);
    assert_int_equal(getpgid(pid), pid);   /* its own process group */
    assert_int_equal(getsid(pid), pid);    /* and session */
    assert_int_equal(mcphub_process_start(p), MCPHUB_E_STATE);
    assert_int_equal(mcphub_process_write_line(p, "{\"jsonrpc\":\"2.0\",\"id\":1}", 24), 0);
    assert_int_equal(mcphub_process_write(p, "par", 3), 0);
    assert_int_equal(mcphub_process_write(p, "tial\r\n", 6), 0);
    PUMP(loop, s.nlines == 2);
    assert_string_equal(s.lines[0], "{\"jsonrpc\":\"2.0\",\"id\":1}");
    assert_string_equal(s.lines[1], "partial");
    /* end of stdin: the echo child exits 0; on_exit exactly once */
    assert_int_equal(mcphub_process_write(p, "last\n", 5), 0);
    assert_int_equal(mcphub_process_close_stdin(p), 0);
    assert_int_equal(mcphub_process_write(p, "late\n", 5), MCPHUB_E_STATE);
    PUMP(loop, s.exits == 1);
    assert_string_equal(s.lines[2], "last");   /* output comes before on_exit */
    assert_true(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0);
    assert_int_equal(mcphub_loop_run_once(loop, 50), 0);
    assert_int_equal(s.exits, 1);
    assert_gone(pid);
    mcphub_process_free(p);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* nothing left behind in the loop */
    mcphub_loop_free(loop);
}

/* Crash, once with a pidfd and once through SIGCHLD. */
static void crash_once(uint32_t flags)
{
    static const char *const args[] = {"crash", "20"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 2);
    char text[64];
    int pid, round;

    o.flags = flags;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    for (round = 1; round <= 2; round++) {   /* a process can be started again */
        assert_int_equal(mcphub_process_start(p), 0);
        pid = mcphub_process_pid(p);
        PUMP(loop, s.exits == round);
        assert_true(WIFEXITED(s.status));
        assert_int_equal(WEXITSTATUS(s.status), 3);
        assert_string_equal(mcphub_process_status_text(s.status, text, sizeof text),
                            "exited with status 3");
        assert_gone(pid);
    }
    assert_int_equal(mcphub_loop_run_once(loop, 50), 0);
    assert_int_equal(s.exits, 2);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_crash_exit_once_pidfd(void **state)
{
    (void)state;
    crash_once(0);
}

static void test_crash_exit_once_sigchld(void **state)
{
    (void)state;
    crash_once(MCPHUB_PROCESS_NO_PIDFD);
    /* the loop gave SIGCHLD back */
    {
        sigset_t cur;

        sigprocmask(SIG_BLOCK, NULL, &cur);
        assert_int_equal(sigismember(&cur, SIGCHLD), 0);
    }
}

static void test_hang_killed_after_grace(void **state)
{
    static const char *const args[] = {"hang"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);
    uint64_t t0;
    int pid;

    (void)state;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    pid = mcphub_process_pid(p);
    PUMP(loop, s.nlines == 1);   /* "ready": SIGTERM is ignored from now on */
    t0 = mcphub_loop_now_ms(loop);
    assert_int_equal(mcphub_process_stop(p, 150), 0);
    assert_int_equal(mcphub_process_stop(p, 1000), 0);   /* a longer grace changes nothing */
    PUMP(loop, s.exits == 1);
    assert_true(mcphub_loop_now_ms(loop) - t0 >= 140);   /* SIGTERM did not end it */
    assert_true(WIFSIGNALED(s.status));
    assert_int_equal(WTERMSIG(s.status), SIGKILL);
    assert_gone(pid);
    assert_group_gone(pid);
    assert_int_equal(mcphub_process_stop(p, 10), 0);   /* not running: nothing to do */
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_stop_terminates_and_shorter_grace(void **state)
{
    static const char *const echo_args[] = {"echo"}, *const hang_args[] = {"hang"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, echo_args, 1);
    char text[64];
    int pid;

    (void)state;
    /* echo ends on SIGTERM (or on EOF, as stdin is closed first) */
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    assert_int_equal(mcphub_process_stop(p, 2000), 0);
    PUMP(loop, s.exits == 1);
    assert_true(WIFSIGNALED(s.status) || (WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0));
    mcphub_process_free(p);
    /* a hanging child: a second stop with a shorter grace wins */
    o = child_opts(loop, &s, hang_args, 1);
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    pid = mcphub_process_pid(p);
    PUMP(loop, s.nlines == 1);
    assert_int_equal(mcphub_process_stop(p, 60000), 0);
    assert_int_equal(mcphub_process_stop(p, 0), 0);
    PUMP(loop, s.exits == 1);
    assert_string_equal(mcphub_process_status_text(s.status, text, sizeof text),
                        "killed by signal 9");
    assert_gone(pid);
    mcphub_process_free(p);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* the 60 s timer is gone too */
    mcphub_loop_free(loop);
}

static void test_flood_stderr_does_not_block(void **state)
{
    static const char *const args[] = {"flood-stderr", "100000"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 2);

    (void)state;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    /* the child blocks on a full stderr pipe unless we keep reading it */
    PUMP(loop, s.nlines == 1);
    assert_string_equal(s.lines[0], "done");
    PUMP(loop, s.stderr_lines == 100000);
    /* stdout still works alongside */
    assert_int_equal(mcphub_process_write(p, "still here\n", 11), 0);
    PUMP(loop, s.nlines == 2);
    assert_string_equal(s.lines[1], "still here");
    assert_int_equal(s.drops, 0);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_invalid_lines_delivered_as_lines(void **state)
{
    static const char *const args[] = {"invalid-json"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);

    (void)state;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.exits == 1);
    assert_int_equal(s.nlines, 6);
    assert_string_equal(s.lines[0], "this is not json");
    assert_string_equal(s.lines[1], "{\"broken\":");
    assert_int_equal(s.lens[2], 0);
    assert_string_equal(s.lines[3], "\x01\x02 binary \xff");
    assert_string_equal(s.lines[4], "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    assert_string_equal(s.lines[5], "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_big_line_dropped_next_delivered(void **state)
{
    static const char *const args[] = {"bigline", "10"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 2);

    (void)state;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);   /* default 4 MiB limit */
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.exits == 1);
    assert_int_equal(s.drops, 1);
    assert_int_equal(s.drop_stream, MCPHUB_PROCESS_STDOUT);
    assert_int_equal(s.drop_len, (size_t)10 << 20);
    assert_int_equal(s.nlines, 1);
    assert_string_equal(s.lines[0], "after");
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

/* The leader ends (stopped, or on its own): the grandchild it forked is
 * killed with the group, nothing of the group is left, no zombie. */
static void grandchild_round(int stop)
{
    static const char *const args[] = {"fork-grandchild"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);
    int pid, gc, st, i;

    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    pid = mcphub_process_pid(p);
    PUMP(loop, s.nlines == 1);
    assert_int_equal(sscanf(s.lines[0], "gc %d", &gc), 1);
    assert_int_equal(getpgid(gc), pid);   /* in the child's group */
    if (stop)
        assert_int_equal(mcphub_process_stop(p, 2000), 0);
    else
        assert_int_equal(mcphub_process_close_stdin(p), 0);   /* echo exits 0 */
    PUMP(loop, s.exits == 1);
    /* The grandchild ignores SIGTERM: it outlived the leader and was
     * orphaned to us (subreaper), then killed with the group by SIGKILL. */
    for (i = 0; i < LIMIT_MS && waitpid(gc, &st, WNOHANG) == 0; i++)
        sleep_ms(1);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_gone(pid);
    assert_gone(gc);
    assert_group_gone(pid);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_grandchild_gone_after_stop(void **state)
{
    (void)state;
    grandchild_round(1);
}

static void test_grandchild_gone_after_leader_exit(void **state)
{
    (void)state;
    grandchild_round(0);
}

static void test_spawn_errors_are_clear(void **state)
{
    static const char *const args[] = {"echo"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);

    (void)state;
    /* looked up in PATH */
    o.command = "mcphub-no-such-command-xyz";
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), MCPHUB_E_NOTFOUND);
    assert_string_equal(mcphub_process_errmsg(p),
                        "spawn \"mcphub-no-such-command-xyz\": No such file or directory");
    assert_false(mcphub_process_running(p));
    mcphub_process_free(p);
    /* a path: exec itself fails, reported through the exec pipe */
    o.command = "/nonexistent/dir/server";
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), MCPHUB_E_NOTFOUND);
    assert_string_equal(mcphub_process_errmsg(p),
                        "spawn \"/nonexistent/dir/server\": No such file or directory");
    mcphub_process_free(p);
    /* not executable; executable but not a program */
    {
        char path[] = "/tmp/mcphub-notexec-XXXXXX", want[128];
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\x01\x02\x03garbage", 10), 10);
        close(fd);
        o.command = path;
        assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
        assert_int_equal(mcphub_process_start(p), MCPHUB_E_INVAL);
        snprintf(want, sizeof want, "spawn \"%s\": Permission denied", path);
        assert_string_equal(mcphub_process_errmsg(p), want);
        assert_int_equal(chmod(path, 0700), 0);
        assert_int_equal(mcphub_process_start(p), MCPHUB_E_INVAL);
        snprintf(want, sizeof want, "spawn \"%s\": Exec format error", path);
        assert_string_equal(mcphub_process_errmsg(p), want);
        mcphub_process_free(p);
        unlink(path);
    }
    /* a working directory that does not exist */
    o.command = child_path;
    o.cwd = "/nonexistent-cwd";
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), MCPHUB_E_NOTFOUND);
    assert_non_null(strstr(mcphub_process_errmsg(p),
                           ": chdir \"/nonexistent-cwd\": No such file or directory"));
    mcphub_process_free(p);
    assert_int_equal(s.exits, 0);   /* a failed start calls nothing */
    /* invalid options */
    o.cwd = NULL;
    o.command = "";
    assert_int_equal(mcphub_process_new(&p, &o, NULL), MCPHUB_E_INVAL);
    o.command = child_path;
    {
        static const char *const bad_env[] = {"NOEQUALS"};

        o.env = bad_env;
        o.env_len = 1;
        assert_int_equal(mcphub_process_new(&p, &o, NULL), MCPHUB_E_INVAL);
    }
    o.env = NULL;
    o.env_len = 0;
    o.loop = NULL;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_loop_run(loop), 0);
    mcphub_loop_free(loop);
}

/* Only fds 0, 1 and 2 reach the child, even an fd opened here without
 * O_CLOEXEC, and the loop's epoll/signal fds. */
static void test_no_fd_leak_into_child(void **state)
{
    static const char *const args[] = {"fds"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL, *q = NULL;
    seen s, s2;
    mcphub_process_opts o = child_opts(loop, &s, args, 1), o2;
    int leaky = open("/dev/null", O_RDONLY);   /* no O_CLOEXEC on purpose */

    (void)state;
    assert_true(leaky >= 0);
    /* the loop's signalfd exists too */
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGUSR2, ignore_signal, NULL), 0);
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    /* a second child while the first one's pipes are open */
    o2 = child_opts(loop, &s2, args, 1);
    assert_int_equal(mcphub_process_new(&q, &o2, NULL), 0);
    assert_int_equal(mcphub_process_start(q), 0);
    PUMP(loop, s.nlines == 1 && s2.nlines == 1);
    assert_string_equal(s.lines[0], "fds 3");
    assert_string_equal(s2.lines[0], "fds 3");
    mcphub_process_free(p);
    mcphub_process_free(q);
    close(leaky);
    mcphub_loop_free(loop);
}

static void test_env_cwd_and_signal_state(void **state)
{
    static const char *const env_args[] = {"env", "MCPHUB_T_A", "MCPHUB_T_B", "PATH", "HOME"};
    static const char *const env[] = {"MCPHUB_T_A=one", "MCPHUB_T_B=x", "MCPHUB_T_B=two"};
    static const char *const cwd_args[] = {"cwd"}, *const mask_args[] = {"sigmask"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, env_args, 5);
    char want[4200];
    void (*old_pipe)(int);
    uint64_t term_id;

    (void)state;
    setenv("MCPHUB_T_A", "parent", 1);
    o.env = env;
    o.env_len = 3;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.nlines == 4);
    assert_string_equal(s.lines[0], "MCPHUB_T_A=one");   /* overridden */
    assert_string_equal(s.lines[1], "MCPHUB_T_B=two");   /* the last one wins */
    snprintf(want, sizeof want, "PATH=%s", getenv("PATH"));
    assert_string_equal(s.lines[2], want);               /* inherited */
    mcphub_process_free(p);
    unsetenv("MCPHUB_T_A");
    /* working directory */
    o = child_opts(loop, &s, cwd_args, 1);
    o.cwd = "/tmp";
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.nlines == 1);
    assert_string_equal(s.lines[0], "/tmp");
    mcphub_process_free(p);
    /* the loop blocks SIGTERM and SIGHUP here and SIGPIPE is ignored (as in
     * a daemon): the child gets neither */
    old_pipe = signal(SIGPIPE, SIG_IGN);
    assert_int_equal(mcphub_loop_signal_add(loop, &term_id, SIGTERM, ignore_signal, NULL), 0);
    assert_int_equal(mcphub_loop_signal_add(loop, NULL, SIGHUP, ignore_signal, NULL), 0);
    o = child_opts(loop, &s, mask_args, 1);
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.nlines == 1);
    assert_string_equal(s.lines[0], "blocked 0 ignored 0");
    mcphub_process_free(p);
    signal(SIGPIPE, old_pipe);
    mcphub_loop_free(loop);
}

/* The stdin queue is bounded; a refused write queues nothing.  The child
 * never reads, so the pipe fills and the queue takes the rest. */
static void test_stdin_queue_bound(void **state)
{
    static const char *const args[] = {"noread"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 1);
    static char chunk[16384];
    size_t before;
    int i, rc = 0;

    (void)state;
    memset(chunk, 'a', sizeof chunk);
    o.max_stdin_queue = 65536;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    PUMP(loop, s.nlines == 1);
    for (i = 0; i < 64 && rc == 0; i++) {
        before = mcphub_process_stdin_queued(p);
        rc = mcphub_process_write(p, chunk, 10000);
        assert_true(mcphub_process_stdin_queued(p) <= 65536);
        assert_true(mcphub_loop_run_once(loop, 0) >= 0);
    }
    assert_int_equal(rc, MCPHUB_E_FULL);
    assert_int_equal(mcphub_process_stdin_queued(p), before);   /* nothing queued */
    assert_true(before > 65536 - 10000);
    /* a line takes one byte more than its text: exactly at the bound, the
     * line is refused whole and the bare bytes fit */
    before = mcphub_process_stdin_queued(p);
    assert_true(before < 65536);
    assert_int_equal(mcphub_process_write_line(p, chunk, 65536 - before), MCPHUB_E_FULL);
    assert_int_equal(mcphub_process_stdin_queued(p), before);
    assert_int_equal(mcphub_process_write(p, chunk, 65536 - before), 0);
    assert_int_equal(mcphub_process_stdin_queued(p), 65536);
    assert_int_equal(mcphub_process_write_line(p, "", 0), MCPHUB_E_FULL);
    /* the child ends: queued bytes are dropped, no SIGPIPE, no error */
    assert_int_equal(mcphub_process_stop(p, 0), 0);
    PUMP(loop, s.exits == 1);
    assert_int_equal(mcphub_process_stdin_queued(p), 0);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

/* A child that exits while we write to it: no SIGPIPE kills the test (its
 * disposition is the default here). */
static void test_write_to_dead_child_no_sigpipe(void **state)
{
    static const char *const args[] = {"crash", "0"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, args, 2);
    int i;

    (void)state;
    assert_true(signal(SIGPIPE, SIG_DFL) == SIG_DFL);
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    sleep_ms(50);   /* it has exited; the loop has not noticed yet */
    for (i = 0; i < 10; i++)
        assert_int_equal(mcphub_process_write(p, "hello\n", 6), 0);
    PUMP(loop, s.exits == 1);
    assert_int_equal(WEXITSTATUS(s.status), 3);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
}

static void test_free_running_and_inside_callback(void **state)
{
    static const char *const echo_args[] = {"echo"}, *const gc_args[] = {"fork-grandchild"};
    mcphub_loop *loop = new_loop();
    mcphub_process *p = NULL;
    seen s;
    mcphub_process_opts o = child_opts(loop, &s, echo_args, 1);
    int pid, gc, st, i;

    (void)state;
    /* free while running: killed and reaped before free returns */
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    pid = mcphub_process_pid(p);
    mcphub_process_free(p);
    assert_gone(pid);
    assert_int_equal(s.exits, 0);   /* free does not call on_exit */
    /* free from inside on_line, with a grandchild in the group */
    o = child_opts(loop, &s, gc_args, 1);
    s.free_on_line = 1;
    s.self = &p;
    assert_int_equal(mcphub_process_new(&p, &o, NULL), 0);
    assert_int_equal(mcphub_process_start(p), 0);
    pid = mcphub_process_pid(p);
    PUMP(loop, p == NULL);
    assert_int_equal(sscanf(s.lines[0], "gc %d", &gc), 1);
    assert_gone(pid);
    for (i = 0; i < LIMIT_MS && waitpid(gc, &st, WNOHANG) == 0; i++)
        sleep_ms(1);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_group_gone(pid);
    assert_int_equal(s.exits, 0);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* no watch or timer left */
    mcphub_process_free(NULL);
    mcphub_loop_free(loop);
}

/* A whole echo session under a failing allocator: each failure is a clean
 * error with nothing leaked, no child left, and the failed call changed
 * nothing (the same call then succeeds). */
static int alloc_scenario(fake_alloc *fa, void *arg)
{
    static const char *const args[] = {"echo"};
    mcphub_mem mem = fake_alloc_mem(fa);
    mcphub_loop *loop = NULL;
    mcphub_process *p = NULL;
    mcphub_process_opts o;
    seen s;
    int rc, pid, failed = 0;

    (void)arg;
    if ((rc = mcphub_loop_new(&loop, NULL, &mem)) != 0)
        return rc;
    o = child_opts(loop, &s, args, 1);
    if ((rc = mcphub_process_new(&p, &o, &mem)) != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_null(p);
        mcphub_loop_free(loop);
        return rc;
    }
    if ((rc = mcphub_process_start(p)) != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_false(mcphub_process_running(p));
        assert_int_equal(s.exits, 0);
        failed = rc;
        assert_int_equal(mcphub_process_start(p), 0);   /* nothing was left half-done */
    }
    pid = mcphub_process_pid(p);
    if ((rc = mcphub_process_write(p, "ping\n", 5)) != 0) {
        assert_int_equal(rc, MCPHUB_E_NOMEM);
        assert_int_equal(mcphub_process_stdin_queued(p), 0);
        failed = rc;
        assert_int_equal(mcphub_process_write(p, "ping\n", 5), 0);
    }
    assert_int_equal(mcphub_process_close_stdin(p), 0);
    PUMP(loop, s.exits == 1);
    assert_true(WIFEXITED(s.status));
    /* out of memory for the line buffer drops the line, reported */
    if (s.nlines == 1) {
        assert_string_equal(s.lines[0], "ping");
    } else {
        assert_int_equal(s.drops, 1);
        failed = MCPHUB_E_NOMEM;
    }
    assert_gone(pid);
    mcphub_process_free(p);
    mcphub_loop_free(loop);
    return failed;
}

static void test_failing_allocator(void **state)
{
    (void)state;
    assert_true(fake_alloc_loop(alloc_scenario, NULL) >= 8);
}

/* ---- supervision ---- */

typedef struct sup_seen {
    int changes;
    mcphub_replica_status last;
    uint64_t at[16];
    int starts;
    mcphub_loop *loop;
    int free_in_state;
    mcphub_supervisor **self;
    int lines;
} sup_seen;

static void sup_state(mcphub_supervisor *sup, mcphub_replica_status st, void *ud)
{
    sup_seen *s = ud;

    assert_int_equal(mcphub_supervisor_state(sup), st);
    if (st == MCPHUB_REPLICA_STARTING && s->starts < 16)
        s->at[s->starts++] = mcphub_loop_now_ms(s->loop);
    s->changes++;
    s->last = st;
    if (s->free_in_state == (int)st) {
        mcphub_supervisor_free(sup);
        *s->self = NULL;
    }
}

static void sup_line(mcphub_supervisor *sup, const char *line, size_t len, void *ud)
{
    sup_seen *s = ud;

    (void)sup, (void)line, (void)len;
    s->lines++;
}

static mcphub_supervisor *new_sup(mcphub_loop *loop, sup_seen *s, const char *command,
                                  const char *const *args, size_t nargs,
                                  const mcphub_backoff_opts *bo)
{
    mcphub_process_opts po;
    mcphub_supervisor_opts so;
    mcphub_supervisor *sup = NULL;

    memset(s, 0, sizeof *s);
    s->loop = loop;
    memset(&po, 0, sizeof po);
    po.size = sizeof po;
    po.loop = loop;
    po.command = command;
    po.args = args;
    po.args_len = nargs;
    memset(&so, 0, sizeof so);
    so.size = sizeof so;
    so.process = &po;
    so.backoff = bo;
    so.fail_grace_ms = 200;
    so.on_state = sup_state;
    so.on_line = sup_line;
    so.user_data = s;
    assert_int_equal(mcphub_supervisor_new(&sup, &so, NULL), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_STOPPED);
    return sup;
}

static mcphub_backoff_opts short_backoff(fake_random *r)
{
    mcphub_backoff_opts bo;

    memset(&bo, 0, sizeof bo);
    bo.size = sizeof bo;
    bo.base_ms = 40;
    bo.max_ms = 160;
    bo.random = fake_random_next;
    bo.random_user_data = r;
    return bo;
}

static void test_supervisor_restarts_crash_with_backoff(void **state)
{
    static const char *const args[] = {"crash", "0"};
    fake_random r = {7};
    mcphub_backoff_opts bo = short_backoff(&r);
    mcphub_loop *loop = new_loop();
    sup_seen s;
    mcphub_supervisor *sup = new_sup(loop, &s, child_path, args, 2, &bo);
    int i, pid;

    (void)state;
    assert_int_equal(mcphub_supervisor_start(sup), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_STARTING);
    assert_int_equal(mcphub_supervisor_start(sup), MCPHUB_E_STATE);
    pid = mcphub_supervisor_pid(sup);
    assert_true(pid > 0);
    assert_int_equal(s.starts, 1);   /* reported by start itself */
    PUMP(loop, mcphub_supervisor_restarts(sup) >= 4);
    PUMP(loop, s.last == MCPHUB_REPLICA_ERROR);
    assert_string_equal(mcphub_supervisor_last_error(sup), "exited with status 3");
    assert_int_equal(mcphub_supervisor_pid(sup), 0);
    /* restarts waited at least the backoff: 40, 80, 160, 160 ms -20 % */
    {
        static const uint64_t base[] = {40, 80, 160, 160};

        for (i = 0; i < 4; i++)
            assert_true(s.at[i + 1] - s.at[i] >= base[i] * 8 / 10);
    }
    assert_gone(pid);
    /* stop: no more restarts */
    assert_int_equal(mcphub_supervisor_stop(sup, 100), 0);
    PUMP(loop, mcphub_supervisor_state(sup) == MCPHUB_REPLICA_STOPPED);
    i = (int)mcphub_supervisor_restarts(sup);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* nothing scheduled */
    assert_int_equal((int)mcphub_supervisor_restarts(sup), i);
    mcphub_supervisor_free(sup);
    mcphub_loop_free(loop);
}

static void test_supervisor_running_fail_and_stop(void **state)
{
    static const char *const args[] = {"echo"};
    fake_random r = {3};
    mcphub_backoff_opts bo = short_backoff(&r);
    mcphub_loop *loop = new_loop();
    sup_seen s;
    mcphub_supervisor *sup = new_sup(loop, &s, child_path, args, 1, &bo);
    int pid;

    (void)state;
    assert_int_equal(mcphub_supervisor_set_running(sup), MCPHUB_E_STATE);
    assert_int_equal(mcphub_supervisor_start(sup), 0);
    /* the owner talks to the child through the process */
    assert_int_equal(mcphub_process_write(mcphub_supervisor_process(sup), "init\n", 5), 0);
    PUMP(loop, s.lines == 1);
    assert_int_equal(s.changes, 1);   /* STARTING, from start itself */
    assert_int_equal(mcphub_supervisor_set_running(sup), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_RUNNING);
    assert_int_equal(s.changes, 2);
    assert_int_equal(s.last, MCPHUB_REPLICA_RUNNING);
    pid = mcphub_supervisor_pid(sup);
    /* the owner gives up on it: error now, restarted after the backoff */
    assert_int_equal(mcphub_supervisor_fail(sup, "initialize timed out"), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_ERROR);
    assert_int_equal(s.last, MCPHUB_REPLICA_ERROR);
    assert_string_equal(mcphub_supervisor_last_error(sup), "initialize timed out");
    PUMP(loop, s.changes == 4);   /* the child ended: ERROR again, same reason */
    assert_int_equal(s.last, MCPHUB_REPLICA_ERROR);
    assert_string_equal(mcphub_supervisor_last_error(sup), "initialize timed out");
    assert_gone(pid);
    PUMP(loop, s.last == MCPHUB_REPLICA_STARTING);
    assert_int_equal(mcphub_supervisor_restarts(sup), 1);
    assert_true(mcphub_supervisor_pid(sup) > 0 && mcphub_supervisor_pid(sup) != pid);
    assert_string_equal(mcphub_supervisor_last_error(sup), "");
    pid = mcphub_supervisor_pid(sup);
    /* stop: STOPPED once the child has ended */
    assert_int_equal(mcphub_supervisor_stop(sup, 1000), 0);
    assert_int_equal(mcphub_supervisor_start(sup), MCPHUB_E_STATE);   /* still stopping */
    PUMP(loop, s.last == MCPHUB_REPLICA_STOPPED);
    assert_gone(pid);
    assert_int_equal(mcphub_supervisor_fail(sup, "x"), MCPHUB_E_STATE);
    /* and it can be started again */
    assert_int_equal(mcphub_supervisor_start(sup), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_STARTING);
    pid = mcphub_supervisor_pid(sup);
    mcphub_supervisor_free(sup);   /* kills and reaps */
    assert_gone(pid);
    assert_int_equal(mcphub_loop_run(loop), 0);
    mcphub_loop_free(loop);
}

static void test_supervisor_spawn_failure_retries(void **state)
{
    fake_random r = {5};
    mcphub_backoff_opts bo = short_backoff(&r);
    mcphub_loop *loop = new_loop();
    sup_seen s;
    mcphub_supervisor *sup = new_sup(loop, &s, "mcphub-no-such-server", NULL, 0, &bo);

    (void)state;
    assert_int_equal(mcphub_supervisor_start(sup), 0);   /* supervised, though failing */
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_ERROR);
    assert_string_equal(mcphub_supervisor_last_error(sup),
                        "spawn \"mcphub-no-such-server\": No such file or directory");
    PUMP(loop, mcphub_supervisor_restarts(sup) == 2);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_ERROR);
    assert_int_equal(s.last, MCPHUB_REPLICA_ERROR);
    assert_int_equal(mcphub_supervisor_stop(sup, 0), 0);
    assert_int_equal(mcphub_supervisor_state(sup), MCPHUB_REPLICA_STOPPED);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* no retry left */
    mcphub_supervisor_free(sup);
    mcphub_loop_free(loop);
}

static void test_supervisor_free_inside_callback(void **state)
{
    static const char *const args[] = {"crash", "0"};
    mcphub_loop *loop = new_loop();
    sup_seen s;
    mcphub_supervisor *sup = new_sup(loop, &s, child_path, args, 2, NULL);

    (void)state;
    /* from the loop: the child crashed */
    s.free_in_state = MCPHUB_REPLICA_ERROR;
    s.self = &sup;
    assert_int_equal(mcphub_supervisor_start(sup), 0);
    PUMP(loop, sup == NULL);
    assert_int_equal(mcphub_loop_run(loop), 0);   /* no restart timer left */
    /* from inside the owner's own call */
    sup = new_sup(loop, &s, child_path, args, 2, NULL);
    s.free_in_state = MCPHUB_REPLICA_STARTING;
    s.self = &sup;
    assert_int_equal(mcphub_supervisor_start(sup), 0);
    assert_null(sup);
    assert_int_equal(mcphub_loop_run(loop), 0);
    mcphub_loop_free(loop);
}

static int setup(void **state)
{
    const char *dir = getenv("MCPHUB_TEST_BIN");

    char rel[4096];

    (void)state;
    snprintf(rel, sizeof rel, "%s/tests/helpers/testchild",
             dir != NULL && dir[0] != '\0' ? dir : "build");
    /* absolute: a relative command is looked up after the chdir to cwd */
    if (realpath(rel, child_path) == NULL || access(child_path, X_OK) != 0) {
        fprintf(stderr, "test child %s missing\n", rel);
        return -1;
    }
    /* orphaned grandchildren come to us, so tests can see how they died */
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_round_trip),
        cmocka_unit_test(test_crash_exit_once_pidfd),
        cmocka_unit_test(test_crash_exit_once_sigchld),
        cmocka_unit_test(test_hang_killed_after_grace),
        cmocka_unit_test(test_stop_terminates_and_shorter_grace),
        cmocka_unit_test(test_flood_stderr_does_not_block),
        cmocka_unit_test(test_invalid_lines_delivered_as_lines),
        cmocka_unit_test(test_big_line_dropped_next_delivered),
        cmocka_unit_test(test_grandchild_gone_after_stop),
        cmocka_unit_test(test_grandchild_gone_after_leader_exit),
        cmocka_unit_test(test_spawn_errors_are_clear),
        cmocka_unit_test(test_no_fd_leak_into_child),
        cmocka_unit_test(test_env_cwd_and_signal_state),
        cmocka_unit_test(test_stdin_queue_bound),
        cmocka_unit_test(test_write_to_dead_child_no_sigpipe),
        cmocka_unit_test(test_free_running_and_inside_callback),
        cmocka_unit_test(test_failing_allocator),
        cmocka_unit_test(test_supervisor_restarts_crash_with_backoff),
        cmocka_unit_test(test_supervisor_running_fail_and_stop),
        cmocka_unit_test(test_supervisor_spawn_failure_retries),
        cmocka_unit_test(test_supervisor_free_inside_callback),
    };
    return cmocka_run_group_tests_name("process", tests, setup, NULL);
}
