/* libmcphub-cluster: stdio MCP server processes and their supervision.
 *
 * mcphub_process runs one child program with pipes on its stdin, stdout and
 * stderr, driven by an mcphub_loop:
 *   - the child runs in its own session and process group (setsid), with
 *     an empty signal mask, default signal dispositions, only fds 0, 1 and
 *     2 open, the parent's environment plus the given "K=V" entries, and
 *     optionally another working directory;
 *   - stdout is cut into lines (mcphub_linebuf) and handed to on_line,
 *     stderr likewise to on_stderr; a line over max_line is dropped and
 *     reported to on_line_dropped;
 *   - bytes written with mcphub_process_write are queued (bounded) and
 *     written as the pipe takes them;
 *   - the end of the child is seen through a pidfd (or SIGCHLD through the
 *     loop when pidfds are missing); on_exit is called exactly once per
 *     start, after the remaining output was delivered.
 *
 * No zombie, no orphan: when the child ends, however it ends, its whole
 * process group is sent SIGKILL before the child is reaped (so its pid, and
 * with it the group id, cannot have been reused), which takes any
 * grandchildren with it.  A grandchild that leaves the group (setsid) is
 * out of reach; a daemon that must catch those too can make itself a child
 * subreaper (prctl PR_SET_CHILD_SUBREAPER).
 *
 * The program must not ignore SIGCHLD (children would not stay waitable)
 * nor reap children it did not start with waitpid(-1, ...).  SIGPIPE needs
 * no care: the parent keeps a read end of the child's stdin pipe, so a
 * write never meets a pipe without reader.
 *
 * mcphub_supervisor keeps one replica's process running: it restarts the
 * child after a backoff (mcphub_backoff) when it ends, and reports a state
 * (mcphub_replica_status), the last error, the restart count and the pid.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  Use a process or supervisor
 * from the thread that runs its loop. */
#ifndef MCPHUB_PROCESS_H
#define MCPHUB_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "common.h"
#include "loop.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_process mcphub_process;

/* Streams, as given to on_line_dropped. */
#define MCPHUB_PROCESS_STDOUT 1
#define MCPHUB_PROCESS_STDERR 2

/* Flags. */
#define MCPHUB_PROCESS_NO_PIDFD 0x1u  /* watch for SIGCHLD even if pidfds work */

/* A line from stdout (on_line) or stderr (on_stderr), without "\n" and one
 * trailing "\r"; borrowed until the callback returns, not NUL-terminated.
 * Lines are delivered as they are: the caller drops what is not JSON. */
typedef void (*mcphub_process_line_fn)(mcphub_process *proc, const char *line, size_t len,
                                       void *user_data);
/* A line of len bytes on stream (MCPHUB_PROCESS_STDOUT/STDERR) was longer
 * than max_line and was dropped. */
typedef void (*mcphub_process_drop_fn)(mcphub_process *proc, int stream, size_t len,
                                       void *user_data);
/* The child ended; status is its wait status (see mcphub_process_status_text).
 * Called once per successful start.  The process is idle again: the
 * callback may start it again or free it. */
typedef void (*mcphub_process_exit_fn)(mcphub_process *proc, int status, void *user_data);

/* Caller-filled; strings and arrays are copied by mcphub_process_new.
 * 0/NULL means the default. */
typedef struct mcphub_process_opts {
    size_t size;                   /* sizeof(mcphub_process_opts) */
    mcphub_loop *loop;             /* required; borrowed until free */
    const char *command;           /* required; without "/" it is looked up
                                      in PATH (the child's, when env sets
                                      it); with "/" it is used as is, so a
                                      relative one is relative to cwd */
    const char *const *args;       /* argv[1..]; may be NULL when args_len is 0 */
    size_t args_len;
    const char *const *env;        /* "KEY=VALUE" added to the parent's
                                      environment, replacing the same KEY */
    size_t env_len;
    const char *cwd;               /* NULL: the parent's working directory */
    size_t max_line;               /* stdout/stderr line limit; default 4 MiB */
    size_t max_stdin_queue;        /* queued stdin bytes; default 16 MiB */
    uint32_t kill_wait_ms;         /* mcphub_process_free's wait for a killed
                                      child; default 5000 */
    uint32_t flags;                /* MCPHUB_PROCESS_* */
    mcphub_process_line_fn on_line;
    mcphub_process_line_fn on_stderr;       /* NULL: stderr is read and dropped */
    mcphub_process_drop_fn on_line_dropped; /* NULL: not reported */
    mcphub_process_exit_fn on_exit;
    void *user_data;               /* passed to the callbacks; borrowed */
} mcphub_process_opts;

/* Create an idle process handle (nothing runs yet).  Returns 0,
 * MCPHUB_E_INVAL (no loop or command, an env entry without "KEY=",
 * bad size) or MCPHUB_E_NOMEM.  Caller frees with mcphub_process_free. */
MCPHUB_API int mcphub_process_new(mcphub_process **out, const mcphub_process_opts *opts,
                                  const mcphub_mem *mem);

/* Start the child.  Returns once the child has exec'd the program, or
 * failed to.  Returns 0; MCPHUB_E_STATE (already running);
 * MCPHUB_E_NOTFOUND (no such program or working directory);
 * MCPHUB_E_INVAL (not executable, bad format, ...); MCPHUB_E_FULL (out of
 * fds or processes); MCPHUB_E_NOMEM.  On failure nothing runs, no callback
 * is called and mcphub_process_errmsg tells why, e.g.
 * spawn "npx": No such file or directory */
MCPHUB_API int mcphub_process_start(mcphub_process *proc);

/* Queue len bytes (copied) for the child's stdin; they are written as the
 * pipe takes them.  Returns 0; MCPHUB_E_FULL (the queue would exceed
 * max_stdin_queue; nothing queued); MCPHUB_E_STATE (not running, or stdin
 * closed); MCPHUB_E_NOMEM.  Bytes the child never read are dropped when it
 * ends. */
MCPHUB_API int mcphub_process_write(mcphub_process *proc, const void *data, size_t len);

/* Queue len bytes and a "\n" as one unit (both or nothing): one stdio
 * message.  The bytes must not contain a raw newline.  Returns as
 * mcphub_process_write. */
MCPHUB_API int mcphub_process_write_line(mcphub_process *proc, const void *data, size_t len);

/* Close the child's stdin once the queued bytes are written (the child
 * then reads end-of-file).  Returns 0 or MCPHUB_E_STATE (not running). */
MCPHUB_API int mcphub_process_close_stdin(mcphub_process *proc);

/* Bytes queued for stdin and not yet written. */
MCPHUB_API size_t mcphub_process_stdin_queued(const mcphub_process *proc);

/* Stop the child: close its stdin, send SIGTERM to its process group, and
 * SIGKILL to the group after grace_ms (at once when grace_ms is 0).
 * on_exit follows when the child has ended.  Calling it again while
 * stopping only makes a shorter grace take effect.  Returns 0 (also when
 * not running: nothing to do), or MCPHUB_E_NOMEM/MCPHUB_E_FULL when the
 * grace timer cannot be set (nothing was sent). */
MCPHUB_API int mcphub_process_stop(mcphub_process *proc, uint32_t grace_ms);

/* 1 from a successful start until on_exit, else 0. */
MCPHUB_API int mcphub_process_running(const mcphub_process *proc);

/* The child's pid (= its process group id) while running, else 0. */
MCPHUB_API int mcphub_process_pid(const mcphub_process *proc);

/* Why the last start failed, "" if it did not.  Borrowed until the next
 * mcphub_process_start. */
MCPHUB_API const char *mcphub_process_errmsg(const mcphub_process *proc);

/* Free the handle.  A running child's group is sent SIGKILL and the child
 * is reaped before this returns (waiting at most kill_wait_ms; it is
 * normally a matter of microseconds).  on_exit is not called.  May be
 * called from inside the process's own callbacks.  NULL is allowed. */
MCPHUB_API void mcphub_process_free(mcphub_process *proc);

/* Write a wait status as text into buf (always NUL-terminated when size >
 * 0): "exited with status 3", "killed by signal 9" (+ " (core dumped)").
 * Returns buf. */
MCPHUB_API char *mcphub_process_status_text(int status, char *buf, size_t size);

/* ---- supervision ---- */

typedef struct mcphub_supervisor mcphub_supervisor;

typedef void (*mcphub_supervisor_line_fn)(mcphub_supervisor *sup, const char *line, size_t len,
                                          void *user_data);
typedef void (*mcphub_supervisor_drop_fn)(mcphub_supervisor *sup, int stream, size_t len,
                                          void *user_data);
/* The state or the last error changed: called after every change, both
 * those the loop makes (the child ended, a restart was attempted, a stop
 * completed) and those the owner's own calls make (start, set_running,
 * fail, stop), as the last action of that call.  The callback may free
 * sup. */
typedef void (*mcphub_supervisor_state_fn)(mcphub_supervisor *sup, mcphub_replica_status state,
                                           void *user_data);

/* Caller-filled; copied by mcphub_supervisor_new.  0/NULL means the
 * default. */
typedef struct mcphub_supervisor_opts {
    size_t size;                         /* sizeof(mcphub_supervisor_opts) */
    const mcphub_process_opts *process;  /* required: what to run; its
                                            callbacks and user_data are
                                            ignored (the supervisor's are
                                            used) */
    const mcphub_backoff_opts *backoff;  /* NULL: 500 ms doubling, +/- 20 %,
                                            cap 30 s, reset after a run of
                                            60 s; give a random function for
                                            the jitter */
    uint32_t fail_grace_ms;              /* mcphub_supervisor_fail's SIGTERM
                                            grace; default 2000 */
    mcphub_supervisor_line_fn on_line;
    mcphub_supervisor_line_fn on_stderr;
    mcphub_supervisor_drop_fn on_line_dropped;
    mcphub_supervisor_state_fn on_state;
    void *user_data;                     /* borrowed */
} mcphub_supervisor_opts;

/* Create a supervisor in state MCPHUB_REPLICA_STOPPED.  Returns 0,
 * MCPHUB_E_INVAL (as mcphub_process_new, or no process opts) or
 * MCPHUB_E_NOMEM.  Caller frees with mcphub_supervisor_free. */
MCPHUB_API int mcphub_supervisor_new(mcphub_supervisor **out, const mcphub_supervisor_opts *opts,
                                     const mcphub_mem *mem);

/* Begin supervising: start the child now.  State becomes
 * MCPHUB_REPLICA_STARTING, or MCPHUB_REPLICA_ERROR when the spawn failed
 * (last error "spawn ...", a retry is scheduled after the backoff).
 * Returns 0 in both cases; MCPHUB_E_STATE when not stopped (or the previous
 * child is still stopping); MCPHUB_E_NOMEM/MCPHUB_E_FULL with nothing
 * changed. */
MCPHUB_API int mcphub_supervisor_start(mcphub_supervisor *sup);

/* The owner's MCP initialize handshake succeeded: STARTING -> RUNNING.
 * (The backoff is reset only by a run of reset_after_ms, not by a
 * handshake: a server that crashes right after initialize still backs
 * off.)  Returns 0 or MCPHUB_E_STATE. */
MCPHUB_API int mcphub_supervisor_set_running(mcphub_supervisor *sup);

/* The owner gives up on the current child (e.g. its handshake failed or
 * timed out): state ERROR with last error reason (copied), the child is
 * stopped (fail_grace_ms) and restarted after the backoff.  Returns 0,
 * MCPHUB_E_STATE (not starting or running) or MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_supervisor_fail(mcphub_supervisor *sup, const char *reason);

/* Stop supervising: no more restarts; the child is stopped with grace_ms
 * (see mcphub_process_stop).  The state becomes MCPHUB_REPLICA_STOPPED when
 * the child has ended (on_state is called then), or at once if none runs.
 * Returns 0 or MCPHUB_E_NOMEM/MCPHUB_E_FULL (nothing changed). */
MCPHUB_API int mcphub_supervisor_stop(mcphub_supervisor *sup, uint32_t grace_ms);

MCPHUB_API mcphub_replica_status mcphub_supervisor_state(const mcphub_supervisor *sup);
/* Last error text ("exited with status 1", "killed by signal 9",
 * "spawn ...: ...", or the reason given to fail), "" if none; borrowed
 * until the next call on sup or the next loop iteration. */
MCPHUB_API const char *mcphub_supervisor_last_error(const mcphub_supervisor *sup);
/* Restarts attempted since mcphub_supervisor_new. */
MCPHUB_API uint32_t mcphub_supervisor_restarts(const mcphub_supervisor *sup);
/* The child's pid while it runs, else 0. */
MCPHUB_API int mcphub_supervisor_pid(const mcphub_supervisor *sup);
/* The supervised process, to write to its stdin; borrowed until
 * mcphub_supervisor_free.  Do not start, stop or free it directly. */
MCPHUB_API mcphub_process *mcphub_supervisor_process(mcphub_supervisor *sup);

/* Free; a running child is killed and reaped (see mcphub_process_free).
 * May be called from inside the supervisor's callbacks.  NULL is allowed. */
MCPHUB_API void mcphub_supervisor_free(mcphub_supervisor *sup);

#ifdef __cplusplus
}
#endif
#endif
