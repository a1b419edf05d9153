/* libmcphub-cluster: the event loop — epoll, one thread, non-blocking.
 *
 * One loop per daemon process drives everything that waits: fd watches
 * (read/write interest), timers (one-shot and repeating, kept in a
 * min-heap), signals (through a signalfd) and deferred callbacks.  Linux
 * only.  This is the one place in the library that calls epoll,
 * clock_gettime or touches signal masks.
 *
 * One iteration (mcphub_loop_run_once): wait in epoll_wait until an fd is
 * ready, a signal arrives, the next timer is due or max_wait_ms passed; run
 * the fd and signal callbacks; then run the timers and deferred callbacks
 * that are due.  Callbacks may add, modify and remove watches, timers and
 * signal handlers freely, including their own: a watch removed (or removed
 * and re-added) during an iteration gets no stale event from it, a timer or
 * callback added during the timer pass first runs in the next pass.
 *
 * Callbacks return 0.  A negative value (e.g. MCPHUB_E_CALLBACK) stops the
 * iteration at once and is returned by mcphub_loop_run_once and
 * mcphub_loop_run: it is how a fatal error leaves the loop.
 *
 * Driving libcurl multi and libmicrohttpd from this loop needs nothing
 * more than fd watches and timers:
 *   - curl: CURLMOPT_SOCKETFUNCTION adds/modifies/removes a watch for each
 *     socket (CURL_POLL_IN -> MCPHUB_LOOP_READ, ...), CURLMOPT_TIMERFUNCTION
 *     cancels and re-adds one one-shot timer; both callbacks call
 *     curl_multi_socket_action() with the fd (or CURL_SOCKET_TIMEOUT).
 *   - libmicrohttpd (MHD_USE_EPOLL): watch the fd from
 *     MHD_get_daemon_info(MHD_DAEMON_INFO_EPOLL_FD) for reading; after each
 *     MHD_run() re-arm one timer from MHD_get_timeout64().
 * The other way round, mcphub_loop_fd() and mcphub_loop_timeout_ms() let
 * another loop wait on this one (the epoll fd becomes readable when an
 * iteration has work), then call mcphub_loop_run_once(loop, 0).
 *
 * Signals: mcphub_loop_signal_add() blocks the signal in the calling thread
 * (call it before starting other threads, which inherit the mask) and
 * delivers it through the loop.  Child processes started by mcphub_process
 * get an empty signal mask and default dispositions.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  Signal masks are per thread and
 * process-wide dispositions are not changed. */
#ifndef MCPHUB_LOOP_H
#define MCPHUB_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcphub_loop mcphub_loop;

/* Interest (what to watch) and events (what happened) of an fd watch. */
#define MCPHUB_LOOP_READ 0x1u   /* readable, or EOF/error to be read */
#define MCPHUB_LOOP_WRITE 0x2u  /* writable, or an error to be written */
#define MCPHUB_LOOP_ERROR 0x4u  /* events only: an error condition (EPOLLERR) */
#define MCPHUB_LOOP_HUP 0x8u    /* events only: hang-up (EPOLLHUP) */

/* fd is ready: events holds MCPHUB_LOOP_* bits (READ/WRITE only when
 * interested; ERROR/HUP always). */
typedef int (*mcphub_loop_fd_fn)(mcphub_loop *loop, int fd, uint32_t events, void *user_data);
/* A timer (or deferred callback) with this id is due. */
typedef int (*mcphub_loop_timer_fn)(mcphub_loop *loop, uint64_t id, void *user_data);
/* Signal signo arrived (once or more since the last call: signals of the
 * same number coalesce). */
typedef int (*mcphub_loop_signal_fn)(mcphub_loop *loop, int signo, void *user_data);

/* Caller-filled; copied.  0 means the default. */
typedef struct mcphub_loop_opts {
    size_t size;          /* sizeof(mcphub_loop_opts) */
    size_t max_fd;        /* fds >= this are refused (MCPHUB_E_FULL); default
                             65536; the watch table grows with the highest fd
                             watched, about 32 bytes per number */
    size_t max_timers;    /* live timers + deferred callbacks; default 65536 */
    size_t max_signals;   /* signal handlers; default 64 */
} mcphub_loop_opts;

/* Create a loop (an epoll instance, close-on-exec).  Returns 0,
 * MCPHUB_E_INVAL, MCPHUB_E_NOMEM or MCPHUB_E_FULL (out of fds).  Caller
 * frees with mcphub_loop_free. */
MCPHUB_API int mcphub_loop_new(mcphub_loop **out, const mcphub_loop_opts *opts,
                               const mcphub_mem *mem);

/* Free the loop: watches are dropped (their fds are NOT closed; they belong
 * to the caller), timers never run, signals this loop blocked are unblocked
 * (a pending one is then delivered with its normal disposition).  NULL is
 * allowed.  Not from inside a callback of this loop. */
MCPHUB_API void mcphub_loop_free(mcphub_loop *loop);

/* ---- fd watches: one per fd, level-triggered ---- */

/* Watch fd for interest (MCPHUB_LOOP_READ | MCPHUB_LOOP_WRITE, or 0 for a
 * watch that is kept but idle).  cb and user_data are borrowed until the
 * watch is removed.  Remove the watch before closing the fd.  Returns 0,
 * MCPHUB_E_INVAL (bad fd, no cb, an fd epoll cannot watch such as a regular
 * file), MCPHUB_E_EXISTS (already watched), MCPHUB_E_FULL (fd >= max_fd, or
 * the kernel's watch limit), MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_loop_fd_add(mcphub_loop *loop, int fd, uint32_t interest,
                                  mcphub_loop_fd_fn cb, void *user_data);

/* Change a watch's interest.  Returns 0, MCPHUB_E_NOTFOUND, MCPHUB_E_INVAL
 * or MCPHUB_E_NOMEM/MCPHUB_E_FULL (kernel). */
MCPHUB_API int mcphub_loop_fd_modify(mcphub_loop *loop, int fd, uint32_t interest);

/* Stop watching fd.  Returns 0 or MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_loop_fd_remove(mcphub_loop *loop, int fd);

/* ---- timers and deferred callbacks ---- */

/* Call cb after delay_ms, then (when repeat_ms > 0) every repeat_ms until
 * cancelled; a late loop runs a repeating timer once, not once per missed
 * period.  Timers due at the same time run in the order they were added.
 * *id_out receives the timer's id (never 0).  cb and user_data are
 * borrowed until the timer is cancelled or, when one-shot, has run.
 * Returns 0, MCPHUB_E_INVAL, MCPHUB_E_FULL (max_timers) or
 * MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_loop_timer_add(mcphub_loop *loop, uint64_t *id_out, uint64_t delay_ms,
                                     uint64_t repeat_ms, mcphub_loop_timer_fn cb,
                                     void *user_data);

/* Cancel a timer or deferred callback; allowed inside its own callback (a
 * repeating timer then does not run again).  Returns 0, or
 * MCPHUB_E_NOTFOUND when id is unknown, has run (one-shot) or was
 * cancelled. */
MCPHUB_API int mcphub_loop_timer_cancel(mcphub_loop *loop, uint64_t id);

/* Run cb once, soon, from the loop: after the current callback returns and
 * never inside the caller (a one-shot timer with no delay; deferred
 * callbacks run in the order they were deferred).  id_out may be NULL; the
 * id can be given to mcphub_loop_timer_cancel.  Returns as
 * mcphub_loop_timer_add. */
MCPHUB_API int mcphub_loop_defer(mcphub_loop *loop, uint64_t *id_out, mcphub_loop_timer_fn cb,
                                 void *user_data);

/* ---- signals ---- */

/* Deliver signal signo through the loop: the signal is blocked in the
 * calling thread and read from a signalfd.  Several handlers may exist for
 * one signal; each is called.  *id_out (may be NULL) receives the handler's
 * id for mcphub_loop_signal_remove.  Returns 0, MCPHUB_E_INVAL (bad signo,
 * SIGKILL, SIGSTOP, no cb), MCPHUB_E_FULL (max_signals, out of fds) or
 * MCPHUB_E_NOMEM. */
MCPHUB_API int mcphub_loop_signal_add(mcphub_loop *loop, uint64_t *id_out, int signo,
                                      mcphub_loop_signal_fn cb, void *user_data);

/* Remove a signal handler.  With the last handler of a signal gone, the
 * signal is unblocked again if this loop blocked it.  Returns 0 or
 * MCPHUB_E_NOTFOUND. */
MCPHUB_API int mcphub_loop_signal_remove(mcphub_loop *loop, uint64_t id);

/* ---- running ---- */

/* One iteration, waiting at most max_wait_ms (negative: as long as needed;
 * 0: do not wait).  Returns the number of callbacks run (>= 0), a
 * callback's negative value, MCPHUB_E_STATE when called from inside a
 * callback of this loop, or MCPHUB_E_FATAL when epoll_wait failed. */
MCPHUB_API int mcphub_loop_run_once(mcphub_loop *loop, int max_wait_ms);

/* Iterate until mcphub_loop_stop() or until nothing is left to wait for
 * (no watch with interest, no timer, no signal handler).  Returns 0 or a
 * negative value as mcphub_loop_run_once. */
MCPHUB_API int mcphub_loop_run(mcphub_loop *loop);

/* Make mcphub_loop_run return after the current iteration.  Callable from
 * callbacks; the request is cleared when mcphub_loop_run returns, and a
 * stop before mcphub_loop_run makes it return at once. */
MCPHUB_API void mcphub_loop_stop(mcphub_loop *loop);

/* Milliseconds of CLOCK_MONOTONIC: the clock timers use, and the now_ms to
 * give the I/O-free core. */
MCPHUB_API uint64_t mcphub_loop_now_ms(const mcphub_loop *loop);

/* The epoll fd, to nest this loop in another one (watch it for reading,
 * then call mcphub_loop_run_once(loop, 0)).  Borrowed: do not close it. */
MCPHUB_API int mcphub_loop_fd(const mcphub_loop *loop);

/* Milliseconds until the next timer is due: -1 when there is none, 0 when
 * one is due now. */
MCPHUB_API int mcphub_loop_timeout_ms(const mcphub_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
