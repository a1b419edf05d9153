/* Stdio child processes: spawn, pipes, exit detection, stop; see process.h.
 *
 * Re-entrancy: user callbacks run from loop callbacks and may free the
 * process.  Every loop entry point brackets its work with enter()/leave();
 * mcphub_process_free inside a callback only kills the child and closes
 * everything ("doomed"), and the memory is released when the outermost
 * entry point leaves.  After each user callback the code checks doomed
 * and returns at once. */
#define _GNU_SOURCE 1   /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/mem_int.h"
#include "mcphub/linebuf.h"
#include "mcphub/process.h"

#define DEFAULT_MAX_QUEUE ((size_t)16 << 20)
#define DEFAULT_KILL_WAIT_MS 5000u
#define KEEP_QUEUE ((size_t)64 << 10)   /* an idle queue bigger than this is freed */
#define READ_CHUNK 65536
#define READS_PER_EVENT 16   /* then let other fds have a turn */
#define READS_AT_EXIT 64     /* draining what a dead child left in a pipe */
#define DEFAULT_PATH "/usr/local/bin:/bin:/usr/bin"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

enum { IDLE, RUNNING, EXITING };

typedef struct stream {
    mcphub_process *proc;
    int which;              /* MCPHUB_PROCESS_STDOUT / _STDERR */
    int fd;                 /* our read end, -1 when closed */
    mcphub_linebuf *lb;
    int skipping;           /* out of memory mid-line: skip to "\n" */
    size_t skipped;
} stream;

struct mcphub_process {
    mcphub__mem mem;
    mcphub_loop *loop;
    char *command;
    char **args;
    size_t args_len;
    char **env;
    size_t env_len;
    char *cwd;
    size_t max_queue;
    uint32_t kill_wait_ms;
    uint32_t flags;
    mcphub_process_line_fn on_line;
    mcphub_process_line_fn on_stderr;
    mcphub_process_drop_fn on_drop;
    mcphub_process_exit_fn on_exit;
    void *user_data;

    int state;
    int pid;
    stream out, err;
    int in_fd;              /* our write end of the child's stdin */
    int in_keep;            /* a read end we hold: no SIGPIPE, ever */
    int pid_fd;
    uint64_t sigchld_id;
    uint64_t check_timer;   /* a first look after SIGCHLD was set up late */
    uint64_t kill_timer;
    uint64_t kill_due_ms;
    int stopping;
    int close_after_flush;
    unsigned char *q;       /* stdin queue: q_len bytes at q + q_off */
    size_t q_off, q_len, q_cap;
    int busy;
    int doomed;
    char errmsg[512];
};

/* What the child reports through the close-on-exec pipe when it cannot
 * exec; end-of-file on that pipe means exec succeeded. */
enum { STAGE_SETUP = 1, STAGE_CHDIR = 2, STAGE_EXEC = 3 };
typedef struct report {
    int stage;
    int err;
} report;

static int errno_code(int err)
{
    switch (err) {
    case ENOENT: return MCPHUB_E_NOTFOUND;
    case ENOMEM: return MCPHUB_E_NOMEM;
    case EMFILE: case ENFILE: case EAGAIN: case ENOSPC: return MCPHUB_E_FULL;
    default: return MCPHUB_E_INVAL;
    }
}

static void set_err(mcphub_process *p, const char *what, int err)
{
    snprintf(p->errmsg, sizeof p->errmsg, "spawn \"%s\": %s%s%s", p->command,
             what != NULL ? what : "", what != NULL ? ": " : "", strerror(err));
}

/* ---- setup ---- */

static void free_strv(const mcphub__mem *m, char **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        mcphub__free(m, v[i]);
    mcphub__free(m, v);
}

static int copy_strv(const mcphub__mem *m, char ***out, const char *const *in, size_t n)
{
    size_t i;
    char **v;

    *out = NULL;
    if (n == 0)
        return 0;
    v = mcphub__calloc(m, n, sizeof *v);
    if (v == NULL)
        return MCPHUB_E_NOMEM;
    for (i = 0; i < n; i++)
        if ((v[i] = mcphub__strdup(m, in[i])) == NULL) {
            free_strv(m, v, i);
            return MCPHUB_E_NOMEM;
        }
    *out = v;
    return 0;
}

static void release(mcphub_process *p)
{
    mcphub_linebuf_free(p->out.lb);
    mcphub_linebuf_free(p->err.lb);
    mcphub__free(&p->mem, p->q);
    mcphub__free(&p->mem, p->command);
    free_strv(&p->mem, p->args, p->args_len);
    free_strv(&p->mem, p->env, p->env_len);
    mcphub__free(&p->mem, p->cwd);
    mcphub__free(&p->mem, p);
}

static int lb_line(const char *line, size_t len, void *user_data);
static int lb_drop(size_t len, void *user_data);

static int stream_init(mcphub_process *p, stream *s, int which, size_t max_line)
{
    mcphub_linebuf_opts lo;
    mcphub_mem mm;

    memset(&lo, 0, sizeof lo);
    lo.size = sizeof lo;
    lo.max_line = max_line;
    lo.on_line = lb_line;
    lo.on_drop = lb_drop;
    lo.user_data = s;
    memset(&mm, 0, sizeof mm);
    mm.size = sizeof mm;
    mm.malloc_fn = p->mem.malloc_fn;
    mm.realloc_fn = p->mem.realloc_fn;
    mm.free_fn = p->mem.free_fn;
    mm.user_data = p->mem.user_data;
    s->proc = p;
    s->which = which;
    s->fd = -1;
    return mcphub_linebuf_new(&s->lb, &lo, &mm);
}

static int valid_env(const char *const *env, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (env[i] == NULL || env[i][0] == '=' || strchr(env[i], '=') == NULL)
            return 0;
    return 1;
}

static int valid_args(const char *const *args, size_t n)
{
    size_t i;

    if (n > 0 && args == NULL)
        return 0;
    for (i = 0; i < n; i++)
        if (args[i] == NULL)
            return 0;
    return 1;
}

MCPHUB_API int mcphub_process_new(mcphub_process **out, const mcphub_process_opts *opts,
                                  const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_process *p;
    const char *command, *cwd;
    const char *const *args, *const *env;
    size_t args_len, env_len, v;
    int rc;

    if (out == NULL || opts == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    command = MCPHUB__GET(opts, mcphub_process_opts, command, NULL);
    args = MCPHUB__GET(opts, mcphub_process_opts, args, NULL);
    args_len = MCPHUB__GET(opts, mcphub_process_opts, args_len, 0);
    env = MCPHUB__GET(opts, mcphub_process_opts, env, NULL);
    env_len = MCPHUB__GET(opts, mcphub_process_opts, env_len, 0);
    cwd = MCPHUB__GET(opts, mcphub_process_opts, cwd, NULL);
    if (MCPHUB__GET(opts, mcphub_process_opts, loop, NULL) == NULL || command == NULL ||
        command[0] == '\0' || !valid_args(args, args_len) || (env_len > 0 && env == NULL) ||
        !valid_env(env, env_len) || (cwd != NULL && cwd[0] == '\0'))
        return MCPHUB_E_INVAL;
    p = mcphub__calloc(&m, 1, sizeof *p);
    if (p == NULL)
        return MCPHUB_E_NOMEM;
    p->mem = m;
    p->loop = opts->loop;
    p->in_fd = p->in_keep = p->pid_fd = -1;
    p->args_len = args_len;
    p->env_len = env_len;
    v = MCPHUB__GET(opts, mcphub_process_opts, max_line, 0);
    if ((rc = stream_init(p, &p->out, MCPHUB_PROCESS_STDOUT, v)) != 0 ||
        (rc = stream_init(p, &p->err, MCPHUB_PROCESS_STDERR, v)) != 0 ||
        (p->command = mcphub__strdup(&m, command)) == NULL ||
        (cwd != NULL && (p->cwd = mcphub__strdup(&m, cwd)) == NULL) ||
        copy_strv(&m, &p->args, args, args_len) != 0 ||
        copy_strv(&m, &p->env, env, env_len) != 0) {
        /* Unset arrays are NULL and free_strv skips them. */
        if (p->args == NULL)
            p->args_len = 0;
        if (p->env == NULL)
            p->env_len = 0;
        release(p);
        return rc != 0 ? rc : MCPHUB_E_NOMEM;
    }
    v = MCPHUB__GET(opts, mcphub_process_opts, max_stdin_queue, 0);
    p->max_queue = v ? v : DEFAULT_MAX_QUEUE;
    p->kill_wait_ms = MCPHUB__GET(opts, mcphub_process_opts, kill_wait_ms, 0);
    if (p->kill_wait_ms == 0)
        p->kill_wait_ms = DEFAULT_KILL_WAIT_MS;
    p->flags = MCPHUB__GET(opts, mcphub_process_opts, flags, 0);
    p->on_line = MCPHUB__GET(opts, mcphub_process_opts, on_line, NULL);
    p->on_stderr = MCPHUB__GET(opts, mcphub_process_opts, on_stderr, NULL);
    p->on_drop = MCPHUB__GET(opts, mcphub_process_opts, on_line_dropped, NULL);
    p->on_exit = MCPHUB__GET(opts, mcphub_process_opts, on_exit, NULL);
    p->user_data = MCPHUB__GET(opts, mcphub_process_opts, user_data, NULL);
    *out = p;
    return 0;
}

/* ---- entering from the loop ---- */

static void enter(mcphub_process *p)
{
    p->busy++;
}

/* Returns 1 when p is gone. */
static int leave(mcphub_process *p)
{
    if (--p->busy == 0 && p->doomed) {
        release(p);
        return 1;
    }
    return 0;
}

/* ---- output: pipes -> linebuf -> callbacks ---- */

static void report_drop(mcphub_process *p, int which, size_t len)
{
    if (p->on_drop != NULL && !p->doomed)
        p->on_drop(p, which, len, p->user_data);
}

static int lb_line(const char *line, size_t len, void *user_data)
{
    stream *s = user_data;
    mcphub_process *p = s->proc;
    mcphub_process_line_fn fn = s->which == MCPHUB_PROCESS_STDOUT ? p->on_line : p->on_stderr;

    if (fn != NULL)
        fn(p, line, len, p->user_data);
    return p->doomed ? MCPHUB_E_STATE : 0;
}

static int lb_drop(size_t len, void *user_data)
{
    stream *s = user_data;

    report_drop(s->proc, s->which, len);
    return s->proc->doomed ? MCPHUB_E_STATE : 0;
}

/* Feed bytes read from a pipe.  The bytes cannot be given back, so when the
 * framer has no memory for a partial line that line is dropped (reported
 * like an over-long one) and framing goes on at the next "\n". */
static void feed_stream(mcphub_process *p, stream *s, const char *d, size_t n)
{
    while (n > 0 && !p->doomed) {
        const char *nl;
        size_t keep;

        if (s->skipping) {
            nl = memchr(d, '\n', n);
            if (nl == NULL) {
                s->skipped += n;
                return;
            }
            s->skipping = 0;
            report_drop(p, s->which, s->skipped + (size_t)(nl - d));
            n -= (size_t)(nl - d) + 1;
            d = nl + 1;
            continue;
        }
        if (mcphub_linebuf_feed(s->lb, d, n, NULL) != MCPHUB_E_NOMEM)
            return;
        if (mcphub_linebuf_pending(s->lb) > 0) {
            /* Drop the buffered partial line; retry without it. */
            s->skipping = 1;
            s->skipped = mcphub_linebuf_pending(s->lb);
            mcphub_linebuf_reset(s->lb);
            continue;
        }
        /* Only the trailing partial line needs memory: deliver the whole
         * lines before it (no memory needed) and skip the rest of it. */
        for (keep = n; keep > 0 && d[keep - 1] != '\n'; keep--)
            ;
        if (keep > 0 && mcphub_linebuf_feed(s->lb, d, keep, NULL) != 0)
            return;
        s->skipping = 1;
        s->skipped = n - keep;
        return;
    }
}

static void close_stream(mcphub_process *p, stream *s)
{
    if (s->fd < 0)
        return;
    mcphub_loop_fd_remove(p->loop, s->fd);
    close(s->fd);
    s->fd = -1;
}

/* No more output on s: close it, then deliver an unterminated last line. */
static void end_stream(mcphub_process *p, stream *s)
{
    close_stream(p, s);
    if (s->skipping) {
        s->skipping = 0;
        report_drop(p, s->which, s->skipped);
    } else {
        mcphub_linebuf_finish(s->lb);
    }
}

static void read_stream(mcphub_process *p, stream *s, int max_reads)
{
    char buf[READ_CHUNK];
    int i;

    for (i = 0; i < max_reads && s->fd >= 0 && !p->doomed; i++) {
        ssize_t n = read(s->fd, buf, sizeof buf);

        if (n > 0) {
            feed_stream(p, s, buf, (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            end_stream(p, s);   /* EOF, or an error that ends the stream */
            return;
        }
    }
}

static int stream_ready(mcphub_loop *loop, int fd, uint32_t events, void *user_data)
{
    stream *s = user_data;
    mcphub_process *p = s->proc;

    (void)loop, (void)fd, (void)events;
    enter(p);
    read_stream(p, s, READS_PER_EVENT);
    leave(p);
    return 0;
}

/* ---- input: queue -> stdin pipe ---- */

static void close_stdin_now(mcphub_process *p)
{
    if (p->in_fd >= 0) {
        mcphub_loop_fd_remove(p->loop, p->in_fd);
        close(p->in_fd);
        p->in_fd = -1;
    }
    if (p->in_keep >= 0) {
        close(p->in_keep);
        p->in_keep = -1;
    }
    p->q_off = p->q_len = 0;
    p->close_after_flush = 0;
}

static void shrink_queue(mcphub_process *p)
{
    if (p->q_len == 0 && p->q_cap > KEEP_QUEUE) {
        mcphub__free(&p->mem, p->q);
        p->q = NULL;
        p->q_cap = 0;
    }
}

static void flush_stdin(mcphub_process *p)
{
    while (p->q_len > 0) {
        ssize_t n = write(p->in_fd, p->q + p->q_off, p->q_len);

        if (n > 0) {
            p->q_off += (size_t)n;
            p->q_len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;   /* still watched for WRITE */
        } else {
            close_stdin_now(p);
            return;
        }
    }
    p->q_off = 0;
    shrink_queue(p);
    if (p->close_after_flush)
        close_stdin_now(p);
    else
        mcphub_loop_fd_modify(p->loop, p->in_fd, 0);
}

static int stdin_ready(mcphub_loop *loop, int fd, uint32_t events, void *user_data)
{
    mcphub_process *p = user_data;

    (void)loop, (void)fd, (void)events;
    flush_stdin(p);
    return 0;
}

/* Room for need queued bytes, compacting first. */
static int queue_reserve(mcphub_process *p, size_t need)
{
    size_t cap;
    unsigned char *q;

    if (p->q_off > 0) {
        memmove(p->q, p->q + p->q_off, p->q_len);
        p->q_off = 0;
    }
    if (need <= p->q_cap)
        return 0;
    cap = p->q_cap ? p->q_cap : 4096;
    while (cap < need)
        cap = cap > p->max_queue / 2 ? p->max_queue : cap * 2;
    q = mcphub__realloc(&p->mem, p->q, cap);
    if (q == NULL)
        return MCPHUB_E_NOMEM;
    p->q = q;
    p->q_cap = cap;
    return 0;
}

/* Queue a then b as one unit: both or nothing.  With an empty queue the
 * bytes go straight to the pipe (one writev), only the rest is queued. */
static int queue_write(mcphub_process *p, const char *a, size_t alen, const char *b,
                       size_t blen)
{
    size_t len, done = 0;

    if (p->state != RUNNING || p->in_fd < 0 || p->close_after_flush || p->doomed)
        return MCPHUB_E_STATE;
    if (alen > SIZE_MAX - blen)
        return MCPHUB_E_FULL;
    len = alen + blen;
    if (len == 0)
        return 0;
    if (len > p->max_queue - p->q_len)
        return MCPHUB_E_FULL;
    /* Reserve before writing anything: a message is queued whole or not
     * at all, never cut by a failed allocation. */
    if (queue_reserve(p, p->q_len + len) != 0)
        return MCPHUB_E_NOMEM;
    if (p->q_len == 0) {
        int werr = 0;

        while (done < len) {
            struct iovec iov[2];
            int n = 0;
            ssize_t w;

            if (done < alen) {
                iov[n].iov_base = (void *)(a + done);
                iov[n++].iov_len = alen - done;
            }
            if (blen > 0) {
                size_t boff = done > alen ? done - alen : 0;

                iov[n].iov_base = (void *)(b + boff);
                iov[n++].iov_len = blen - boff;
            }
            w = writev(p->in_fd, iov, n);
            if (w > 0) {
                done += (size_t)w;
            } else if (w < 0 && errno != EINTR) {
                werr = errno;
                break;
            }
        }
        if (done == len) {
            shrink_queue(p);
            return 0;
        }
        if (werr != EAGAIN && werr != EWOULDBLOCK) {
            close_stdin_now(p);
            return MCPHUB_E_STATE;
        }
        if (mcphub_loop_fd_modify(p->loop, p->in_fd, MCPHUB_LOOP_WRITE) != 0) {
            /* The kernel refused the watch and part of the message may be
             * in the pipe: the stream to the child is broken; end it. */
            close_stdin_now(p);
            return MCPHUB_E_STATE;
        }
    }
    if (done < alen) {
        memcpy(p->q + p->q_len, a + done, alen - done);
        p->q_len += alen - done;
        done = alen;
    }
    memcpy(p->q + p->q_len, b + (done - alen), blen - (done - alen));
    p->q_len += blen - (done - alen);
    return 0;
}

MCPHUB_API int mcphub_process_write(mcphub_process *p, const void *data, size_t len)
{
    if (p == NULL || (data == NULL && len > 0))
        return MCPHUB_E_INVAL;
    return queue_write(p, data, len, "", 0);
}

MCPHUB_API int mcphub_process_write_line(mcphub_process *p, const void *data, size_t len)
{
    if (p == NULL || (data == NULL && len > 0))
        return MCPHUB_E_INVAL;
    return queue_write(p, data, len, "\n", 1);
}

MCPHUB_API int mcphub_process_close_stdin(mcphub_process *p)
{
    if (p == NULL)
        return MCPHUB_E_INVAL;
    if (p->state != RUNNING)
        return MCPHUB_E_STATE;
    if (p->q_len == 0)
        close_stdin_now(p);
    else
        p->close_after_flush = 1;
    return 0;
}

MCPHUB_API size_t mcphub_process_stdin_queued(const mcphub_process *p)
{
    return p->q_len;
}

/* ---- exit ---- */

static void stop_exit_watch(mcphub_process *p)
{
    if (p->pid_fd >= 0) {
        mcphub_loop_fd_remove(p->loop, p->pid_fd);
        close(p->pid_fd);
        p->pid_fd = -1;
    }
    if (p->sigchld_id != 0) {
        mcphub_loop_signal_remove(p->loop, p->sigchld_id);
        p->sigchld_id = 0;
    }
    if (p->check_timer != 0) {
        mcphub_loop_timer_cancel(p->loop, p->check_timer);
        p->check_timer = 0;
    }
    if (p->kill_timer != 0) {
        mcphub_loop_timer_cancel(p->loop, p->kill_timer);
        p->kill_timer = 0;
    }
}

/* The child has ended (it is a zombie, or someone else reaped it). */
static void child_ended(mcphub_process *p, int reapable)
{
    int status = -1;

    /* Kill the group before reaping: while the zombie exists its pid, and
     * so the group id, cannot be reused by an unrelated process. */
    if (reapable) {
        kill(-p->pid, SIGKILL);
        while (waitpid(p->pid, &status, 0) < 0)
            if (errno != EINTR) {
                status = -1;
                break;
            }
    }
    p->pid = 0;
    p->state = EXITING;
    stop_exit_watch(p);
    close_stdin_now(p);
    /* What the child wrote before it ended comes before on_exit. */
    read_stream(p, &p->out, READS_AT_EXIT);
    if (!p->doomed && p->out.fd >= 0)
        end_stream(p, &p->out);
    if (!p->doomed)
        read_stream(p, &p->err, READS_AT_EXIT);
    if (!p->doomed && p->err.fd >= 0)
        end_stream(p, &p->err);
    if (p->doomed)
        return;
    p->state = IDLE;
    p->stopping = 0;
    if (p->on_exit != NULL)
        p->on_exit(p, status, p->user_data);
}

static void check_exit(mcphub_process *p)
{
    siginfo_t si;

    if (p->state != RUNNING)
        return;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (si.si_pid != 0)
            child_ended(p, 1);
    } else if (errno == ECHILD) {
        child_ended(p, 0);   /* reaped behind our back: status unknown */
    }
}

static int pidfd_ready(mcphub_loop *loop, int fd, uint32_t events, void *user_data)
{
    mcphub_process *p = user_data;

    (void)loop, (void)fd, (void)events;
    enter(p);
    check_exit(p);
    leave(p);
    return 0;
}

static int sigchld_seen(mcphub_loop *loop, int signo, void *user_data)
{
    mcphub_process *p = user_data;

    (void)loop, (void)signo;
    enter(p);
    check_exit(p);
    leave(p);
    return 0;
}

static int first_check(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_process *p = user_data;

    (void)loop, (void)id;
    p->check_timer = 0;
    enter(p);
    check_exit(p);
    leave(p);
    return 0;
}

static int kill_now(mcphub_loop *loop, uint64_t id, void *user_data)
{
    mcphub_process *p = user_data;

    (void)loop, (void)id;
    p->kill_timer = 0;
    if (p->pid > 0)
        kill(-p->pid, SIGKILL);
    return 0;
}

/* ---- spawn ---- */

/* Look command up in path_list like execvp, before fork (so the child
 * needs no allocation).  NULL with *err set when there is none. */
static char *find_program(mcphub_process *p, const char *path_list, int *err)
{
    size_t cmd_len = strlen(p->command);
    char *buf = mcphub__malloc(&p->mem, strlen(path_list) + cmd_len + 3);
    const char *dir = path_list;

    *err = ENOMEM;
    if (buf == NULL)
        return NULL;
    *err = ENOENT;
    for (;;) {
        const char *end = strchr(dir, ':');
        size_t dlen = end != NULL ? (size_t)(end - dir) : strlen(dir);
        struct stat st;

        if (dlen == 0) {
            buf[0] = '.';
            dlen = 1;
        } else {
            memcpy(buf, dir, dlen);
        }
        buf[dlen] = '/';
        memcpy(buf + dlen + 1, p->command, cmd_len + 1);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(buf, X_OK) == 0)
                return buf;
            *err = EACCES;
        }
        if (end == NULL)
            break;
        dir = end + 1;
    }
    mcphub__free(&p->mem, buf);
    return NULL;
}

/* The child's PATH: the last PATH= in env, else ours. */
static const char *child_path(const mcphub_process *p)
{
    const char *path = NULL;
    size_t i;

    for (i = 0; i < p->env_len; i++)
        if (strncmp(p->env[i], "PATH=", 5) == 0)
            path = p->env[i] + 5;
    if (path == NULL)
        path = getenv("PATH");
    return path != NULL ? path : DEFAULT_PATH;
}

static int same_key(const char *a, const char *b)
{
    size_t k = strcspn(a, "=");

    return strncmp(a, b, k) == 0 && b[k] == '=';
}

/* environ without the keys env overrides, then env (the last of equal keys
 * wins).  The strings are borrowed; only the array is allocated. */
static char **build_envp(mcphub_process *p)
{
    size_t n = 0, i, j, k = 0;
    char **envp;

    while (environ != NULL && environ[n] != NULL)
        n++;
    envp = mcphub__calloc(&p->mem, n + p->env_len + 1, sizeof *envp);
    if (envp == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        for (j = 0; j < p->env_len && !same_key(p->env[j], environ[i]); j++)
            ;
        if (j == p->env_len)
            envp[k++] = environ[i];
    }
    for (i = 0; i < p->env_len; i++) {
        for (j = i + 1; j < p->env_len && !same_key(p->env[j], p->env[i]); j++)
            ;
        if (j == p->env_len)
            envp[k++] = p->env[i];
    }
    envp[k] = NULL;
    return envp;
}

static char **build_argv(mcphub_process *p)
{
    char **argv = mcphub__calloc(&p->mem, p->args_len + 2, sizeof *argv);
    size_t i;

    if (argv == NULL)
        return NULL;
    argv[0] = p->command;
    for (i = 0; i < p->args_len; i++)
        argv[i + 1] = p->args[i];
    return argv;
}

/* A close-on-exec pipe whose ends are both >= 3, so that the child's dup2
 * onto 0, 1 and 2 can never overwrite one of them. */
static int open_pipe(int fds[2])
{
    int i;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return errno;
    for (i = 0; i < 2; i++)
        if (fds[i] < 3) {
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            int e = errno;

            close(fds[i]);
            fds[i] = moved;
            if (moved < 0) {
                if (i == 0)
                    close(fds[1]);
                else
                    close(fds[0]);
                fds[0] = fds[1] = -1;
                return e;
            }
        }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

typedef struct child_plan {
    const char *path;
    char **argv;
    char **envp;
    const char *cwd;
    int in_r, out_w, err_w, report_w;
    struct sigaction dfl;
    sigset_t empty;
} child_plan;

/* Between fork and exec: async-signal-safe calls only, no allocation. */
static void child_exec(const child_plan *c)
{
    report r;
    ssize_t w;
    int s;

    r.stage = STAGE_SETUP;
    if (setsid() < 0)
        goto fail;
    /* Handlers are reset by exec anyway; ignored signals (SIGPIPE in most
     * daemons) and the blocked mask (the loop's signals) would survive. */
    for (s = 1; s < NSIG; s++)
        sigaction(s, &c->dfl, NULL);
    sigprocmask(SIG_SETMASK, &c->empty, NULL);
    if (dup2(c->in_r, 0) < 0 || dup2(c->out_w, 1) < 0 || dup2(c->err_w, 2) < 0)
        goto fail;
#ifdef SYS_close_range
    /* Fds the embedding program opened without O_CLOEXEC stay ours too. */
    syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
#endif
    if (c->cwd != NULL) {
        r.stage = STAGE_CHDIR;
        if (chdir(c->cwd) != 0)
            goto fail;
    }
    r.stage = STAGE_EXEC;
    execve(c->path, c->argv, c->envp);
fail:
    r.err = errno;
    w = write(c->report_w, &r, sizeof r);
    (void)w;
    _exit(127);
}

/* Wait until the child exec'd (end-of-file on the report pipe) or said why
 * it could not. */
static int wait_exec(mcphub_process *p, int pid, int report_r)
{
    report r;
    ssize_t n;
    int st;

    do
        n = read(report_r, &r, sizeof r);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof r) {
        snprintf(p->errmsg, sizeof p->errmsg, "spawn \"%s\": lost the child before exec",
                 p->command);
        return MCPHUB_E_INVAL;
    }
    if (r.stage == STAGE_CHDIR) {
        char what[300];

        snprintf(what, sizeof what, "chdir \"%s\"", p->cwd);
        set_err(p, what, r.err);
    } else {
        set_err(p, r.stage == STAGE_SETUP ? "child setup" : NULL, r.err);
    }
    return errno_code(r.err);
}

/* Kill a child that start could not finish setting up, and reap it. */
static void kill_and_reap(int pid, uint32_t wait_ms)
{
    uint32_t i;
    struct timespec ms = {0, 1000000};

    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    for (i = 0; i <= wait_ms; i++) {
        int r = waitpid(pid, NULL, WNOHANG);

        if (r == pid || (r < 0 && errno != EINTR))
            return;
        nanosleep(&ms, NULL);
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

MCPHUB_API int mcphub_process_start(mcphub_process *p)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
    char *found = NULL, **argv = NULL, **envp = NULL;
    uint64_t sig_id = 0, check_id = 0;
    int pid_fd = -1, pid = -1, rc, e, watched = 0;
    child_plan c;

    if (p == NULL)
        return MCPHUB_E_INVAL;
    if (p->state != IDLE || p->doomed)
        return MCPHUB_E_STATE;
    p->errmsg[0] = '\0';
    memset(&c, 0, sizeof c);
    c.path = p->command;
    if (strchr(p->command, '/') == NULL) {
        found = find_program(p, child_path(p), &e);
        if (found == NULL) {
            set_err(p, NULL, e);
            return errno_code(e);
        }
        c.path = found;
    }
    rc = MCPHUB_E_NOMEM;
    if ((argv = build_argv(p)) == NULL || (envp = build_envp(p)) == NULL)
        goto fail;
    if ((e = open_pipe(in)) != 0 || (e = open_pipe(out)) != 0 || (e = open_pipe(err)) != 0 ||
        (e = open_pipe(rep)) != 0) {
        set_err(p, "pipe", e);
        rc = errno_code(e);
        goto fail;
    }
    /* Without pidfds, SIGCHLD must be blocked (by the loop) before the
     * child can end, or its signal could be lost. */
    if ((p->flags & MCPHUB_PROCESS_NO_PIDFD) &&
        (rc = mcphub_loop_signal_add(p->loop, &sig_id, SIGCHLD, sigchld_seen, p)) != 0)
        goto fail;
    c.argv = argv;
    c.envp = envp;
    c.cwd = p->cwd;
    c.in_r = in[0];
    c.out_w = out[1];
    c.err_w = err[1];
    c.report_w = rep[1];
    c.dfl.sa_handler = SIG_DFL;
    sigemptyset(&c.dfl.sa_mask);
    sigemptyset(&c.empty);
    pid = fork();
    if (pid == 0)
        child_exec(&c);
    if (pid < 0) {
        e = errno;
        set_err(p, "fork", e);
        rc = errno_code(e);
        goto fail;
    }
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&rep[1]);
    rc = wait_exec(p, pid, rep[0]);
    close_fd(&rep[0]);
    if (rc != 0) {
        pid = -1;   /* reaped by wait_exec */
        goto fail;
    }
    /* From here on a setup failure kills and reaps the running child. */
    if (sig_id == 0) {
#ifdef SYS_pidfd_open
        pid_fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
        if (pid_fd < 0) {
            /* No pidfds (old kernel): SIGCHLD, plus one look soon in case
             * the child ended before the signal was blocked. */
            if ((rc = mcphub_loop_signal_add(p->loop, &sig_id, SIGCHLD, sigchld_seen, p)) != 0 ||
                (rc = mcphub_loop_defer(p->loop, &check_id, first_check, p)) != 0)
                goto fail_child;
        }
    }
    rc = MCPHUB_E_INVAL;
    if (set_nonblock(in[1]) != 0 || set_nonblock(out[0]) != 0 || set_nonblock(err[0]) != 0)
        goto fail_child;
    if ((rc = mcphub_loop_fd_add(p->loop, out[0], MCPHUB_LOOP_READ, stream_ready, &p->out)) != 0)
        goto fail_child;
    watched = 1;
    if ((rc = mcphub_loop_fd_add(p->loop, err[0], MCPHUB_LOOP_READ, stream_ready, &p->err)) != 0)
        goto fail_child;
    watched = 2;
    if ((rc = mcphub_loop_fd_add(p->loop, in[1], 0, stdin_ready, p)) != 0)
        goto fail_child;
    watched = 3;
    if (pid_fd >= 0 &&
        (rc = mcphub_loop_fd_add(p->loop, pid_fd, MCPHUB_LOOP_READ, pidfd_ready, p)) != 0)
        goto fail_child;
    mcphub__free(&p->mem, found);
    mcphub__free(&p->mem, argv);
    mcphub__free(&p->mem, envp);
    mcphub_linebuf_reset(p->out.lb);
    mcphub_linebuf_reset(p->err.lb);
    p->out.fd = out[0];
    p->err.fd = err[0];
    p->out.skipping = p->err.skipping = 0;
    p->in_fd = in[1];
    p->in_keep = in[0];
    p->pid_fd = pid_fd;
    p->sigchld_id = sig_id;
    p->check_timer = check_id;
    p->pid = pid;
    p->state = RUNNING;
    p->stopping = 0;
    p->close_after_flush = 0;
    p->q_off = p->q_len = 0;
    return 0;

fail_child:
    if (watched >= 1)
        mcphub_loop_fd_remove(p->loop, out[0]);
    if (watched >= 2)
        mcphub_loop_fd_remove(p->loop, err[0]);
    if (watched >= 3)
        mcphub_loop_fd_remove(p->loop, in[1]);
    kill_and_reap(pid, p->kill_wait_ms);
    if (rc == MCPHUB_E_NOMEM || rc == MCPHUB_E_FULL)
        snprintf(p->errmsg, sizeof p->errmsg, "spawn \"%s\": %s", p->command,
                 mcphub_strerror(rc));
fail:
    if (check_id != 0)
        mcphub_loop_timer_cancel(p->loop, check_id);
    if (sig_id != 0)
        mcphub_loop_signal_remove(p->loop, sig_id);
    close_fd(&pid_fd);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    mcphub__free(&p->mem, found);
    mcphub__free(&p->mem, argv);
    mcphub__free(&p->mem, envp);
    if (p->errmsg[0] == '\0')
        snprintf(p->errmsg, sizeof p->errmsg, "spawn \"%s\": %s", p->command,
                 mcphub_strerror(rc));
    return rc;
}

/* ---- stop, free, getters ---- */

MCPHUB_API int mcphub_process_stop(mcphub_process *p, uint32_t grace_ms)
{
    uint64_t now, id = 0;
    int rc;

    if (p == NULL)
        return MCPHUB_E_INVAL;
    if (p->state != RUNNING)
        return 0;
    now = mcphub_loop_now_ms(p->loop);
    if (p->stopping && grace_ms > 0 && now + grace_ms >= p->kill_due_ms)
        return 0;
    if (grace_ms > 0 && (rc = mcphub_loop_timer_add(p->loop, &id, grace_ms, 0, kill_now, p)) != 0)
        return rc;
    if (p->kill_timer != 0)
        mcphub_loop_timer_cancel(p->loop, p->kill_timer);
    p->kill_timer = id;
    p->kill_due_ms = now + grace_ms;
    if (!p->stopping) {
        p->stopping = 1;
        close_stdin_now(p);
        kill(-p->pid, grace_ms > 0 ? SIGTERM : SIGKILL);
    } else if (grace_ms == 0) {
        kill(-p->pid, SIGKILL);
    }
    return 0;
}

MCPHUB_API int mcphub_process_running(const mcphub_process *p)
{
    return p != NULL && p->state == RUNNING;
}

MCPHUB_API int mcphub_process_pid(const mcphub_process *p)
{
    return p != NULL && p->state == RUNNING ? p->pid : 0;
}

MCPHUB_API const char *mcphub_process_errmsg(const mcphub_process *p)
{
    return p != NULL ? p->errmsg : "";
}

MCPHUB_API void mcphub_process_free(mcphub_process *p)
{
    if (p == NULL || p->doomed)
        return;
    p->doomed = 1;
    if (p->pid > 0)
        kill_and_reap(p->pid, p->kill_wait_ms);
    p->pid = 0;
    stop_exit_watch(p);
    close_stdin_now(p);
    close_stream(p, &p->out);
    close_stream(p, &p->err);
    if (p->busy == 0)
        release(p);
}

MCPHUB_API char *mcphub_process_status_text(int status, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return buf;
    if (status == -1)
        snprintf(buf, size, "exit status unknown");
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d%s", WTERMSIG(status),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(buf, size, "ended with wait status %d", status);
    return buf;
}
