/* Event loop: epoll + a timer min-heap + a signalfd; see loop.h.
 *
 * Safe removal during callbacks: the watch table is indexed by fd and every
 * watch carries a generation number that also travels in the epoll event
 * (data.u64 = generation << 32 | fd).  An event whose generation no longer
 * matches belongs to a watch removed since epoll_wait returned; it is
 * skipped.  Timers live in a slot array (id = generation << 32 | slot + 1)
 * and the heap holds slot numbers. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/mem_int.h"
#include "mcphub/loop.h"

#define DEFAULT_MAX_FD ((size_t)65536)
#define DEFAULT_MAX_TIMERS ((size_t)65536)
#define DEFAULT_MAX_SIGNALS ((size_t)64)
#define MAX_EVENTS 64
#define NO_POS UINT32_MAX
#define SIGFD_TAG UINT64_MAX

typedef struct watch {
    mcphub_loop_fd_fn cb;
    void *user_data;
    uint32_t interest;
    uint32_t gen;        /* 0: never used */
    unsigned char active;
    unsigned char in_epoll;  /* idle watches (interest 0) stay out of epoll */
} watch;

typedef struct timer {
    uint64_t due_ms;
    uint64_t repeat_ms;
    uint64_t seq;        /* tie-break: first added, first run */
    mcphub_loop_timer_fn cb;
    void *user_data;
    uint32_t gen;
    uint32_t pos;        /* index in the heap, NO_POS when not in it */
    uint32_t next_free;
    unsigned char live;
} timer;

typedef struct sig_handler {
    uint64_t id;         /* 0: removed, compacted after dispatch */
    int signo;
    mcphub_loop_signal_fn cb;
    void *user_data;
} sig_handler;

struct mcphub_loop {
    mcphub__mem mem;
    int epfd;
    size_t max_fd, max_timers, max_signals;

    watch *watches;      /* indexed by fd */
    size_t watch_cap;
    size_t watch_count;  /* active watches with interest */

    timer *timers;
    size_t timer_cap;
    size_t timer_count;
    uint32_t free_head;  /* NO_POS: none */
    uint32_t *heap;
    size_t heap_cap;
    size_t heap_len;
    uint64_t seq;

    int sigfd;
    sigset_t sigmask;    /* signals read through sigfd */
    sigset_t we_blocked; /* those this loop blocked (to unblock later) */
    sig_handler *sigs;
    size_t sig_len, sig_cap;
    uint64_t sig_next_id;
    int sig_dispatching;
    int sig_dirty;

    int depth;           /* > 0 inside run_once */
    int stop;
};

static int errno_code(int err)
{
    switch (err) {
    case ENOMEM: return MCPHUB_E_NOMEM;
    case EMFILE: case ENFILE: case ENOSPC: return MCPHUB_E_FULL;
    default: return MCPHUB_E_INVAL;
    }
}

MCPHUB_API uint64_t mcphub_loop_now_ms(const mcphub_loop *loop)
{
    struct timespec ts;

    (void)loop;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

MCPHUB_API int mcphub_loop_new(mcphub_loop **out, const mcphub_loop_opts *opts,
                               const mcphub_mem *mem)
{
    mcphub__mem m;
    mcphub_loop *loop;
    size_t v;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = mcphub__opts_check(opts, sizeof *opts)) != 0 || (rc = mcphub__mem_init(&m, mem)) != 0)
        return rc;
    loop = mcphub__calloc(&m, 1, sizeof *loop);
    if (loop == NULL)
        return MCPHUB_E_NOMEM;
    loop->mem = m;
    v = MCPHUB__GET(opts, mcphub_loop_opts, max_fd, 0);
    loop->max_fd = v ? v : DEFAULT_MAX_FD;
    if (loop->max_fd > (size_t)INT_MAX)
        loop->max_fd = (size_t)INT_MAX;
    v = MCPHUB__GET(opts, mcphub_loop_opts, max_timers, 0);
    loop->max_timers = v ? v : DEFAULT_MAX_TIMERS;
    if (loop->max_timers >= NO_POS)
        loop->max_timers = NO_POS - 1;
    v = MCPHUB__GET(opts, mcphub_loop_opts, max_signals, 0);
    loop->max_signals = v ? v : DEFAULT_MAX_SIGNALS;
    loop->free_head = NO_POS;
    loop->sigfd = -1;
    loop->sig_next_id = 1;
    sigemptyset(&loop->sigmask);
    sigemptyset(&loop->we_blocked);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        rc = errno_code(errno);
        mcphub__free(&m, loop);
        return rc;
    }
    *out = loop;
    return 0;
}

MCPHUB_API void mcphub_loop_free(mcphub_loop *loop)
{
    int s;

    if (loop == NULL)
        return;
    for (s = 1; s < NSIG; s++)
        if (sigismember(&loop->we_blocked, s) == 1) {
            sigset_t one;

            sigemptyset(&one);
            sigaddset(&one, s);
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        }
    if (loop->sigfd >= 0)
        close(loop->sigfd);
    close(loop->epfd);
    mcphub__free(&loop->mem, loop->watches);
    mcphub__free(&loop->mem, loop->timers);
    mcphub__free(&loop->mem, loop->heap);
    mcphub__free(&loop->mem, loop->sigs);
    mcphub__free(&loop->mem, loop);
}

/* ---- fd watches ---- */

static uint32_t epoll_bits(uint32_t interest)
{
    return ((interest & MCPHUB_LOOP_READ) ? (uint32_t)EPOLLIN : 0u) |
           ((interest & MCPHUB_LOOP_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

/* Bring the kernel's view of fd in line with w->interest. */
static int sync_epoll(mcphub_loop *loop, int fd, watch *w, uint32_t interest)
{
    struct epoll_event ev;
    int op;

    memset(&ev, 0, sizeof ev);
    ev.events = epoll_bits(interest);
    ev.data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd;
    if (interest == 0)
        op = w->in_epoll ? EPOLL_CTL_DEL : -1;
    else
        op = w->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (op >= 0 && epoll_ctl(loop->epfd, op, fd, &ev) != 0)
        return errno_code(errno == EPERM ? EINVAL : errno);
    w->in_epoll = interest != 0;
    return 0;
}

static watch *find_watch(mcphub_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->watch_cap || !loop->watches[fd].active)
        return NULL;
    return &loop->watches[fd];
}

MCPHUB_API int mcphub_loop_fd_add(mcphub_loop *loop, int fd, uint32_t interest,
                                  mcphub_loop_fd_fn cb, void *user_data)
{
    watch *w;
    int rc;

    if (loop == NULL || fd < 0 || cb == NULL ||
        (interest & ~(MCPHUB_LOOP_READ | MCPHUB_LOOP_WRITE)) != 0)
        return MCPHUB_E_INVAL;
    if ((size_t)fd >= loop->max_fd)
        return MCPHUB_E_FULL;
    if (find_watch(loop, fd) != NULL)
        return MCPHUB_E_EXISTS;
    if ((size_t)fd >= loop->watch_cap) {
        size_t cap = loop->watch_cap ? loop->watch_cap : 64;
        watch *p;

        while (cap <= (size_t)fd)
            cap *= 2;
        if (cap > loop->max_fd)
            cap = loop->max_fd;
        p = mcphub__reallocarray(&loop->mem, loop->watches, cap, sizeof *p);
        if (p == NULL)
            return MCPHUB_E_NOMEM;
        memset(p + loop->watch_cap, 0, (cap - loop->watch_cap) * sizeof *p);
        loop->watches = p;
        loop->watch_cap = cap;
    }
    w = &loop->watches[fd];
    w->gen = w->gen + 1 ? w->gen + 1 : 1;
    w->in_epoll = 0;
    if ((rc = sync_epoll(loop, fd, w, interest)) != 0)
        return rc;
    w->cb = cb;
    w->user_data = user_data;
    w->interest = interest;
    w->active = 1;
    if (interest != 0)
        loop->watch_count++;
    return 0;
}

MCPHUB_API int mcphub_loop_fd_modify(mcphub_loop *loop, int fd, uint32_t interest)
{
    watch *w;
    int rc;

    if (loop == NULL || (interest & ~(MCPHUB_LOOP_READ | MCPHUB_LOOP_WRITE)) != 0)
        return MCPHUB_E_INVAL;
    if ((w = find_watch(loop, fd)) == NULL)
        return MCPHUB_E_NOTFOUND;
    if (interest == w->interest)
        return 0;
    if ((rc = sync_epoll(loop, fd, w, interest)) != 0)
        return rc;
    if (w->interest == 0)
        loop->watch_count++;
    else if (interest == 0)
        loop->watch_count--;
    w->interest = interest;
    return 0;
}

MCPHUB_API int mcphub_loop_fd_remove(mcphub_loop *loop, int fd)
{
    watch *w;

    if (loop == NULL || (w = find_watch(loop, fd)) == NULL)
        return MCPHUB_E_NOTFOUND;
    /* EBADF/ENOENT here mean the fd was closed first; the watch goes anyway. */
    if (w->in_epoll)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    if (w->interest != 0)
        loop->watch_count--;
    w->active = 0;
    w->in_epoll = 0;
    w->interest = 0;
    w->cb = NULL;
    w->user_data = NULL;
    return 0;
}

/* ---- timer heap, ordered by (due_ms, seq) ---- */

static int before(const mcphub_loop *loop, uint32_t a, uint32_t b)
{
    const timer *x = &loop->timers[a], *y = &loop->timers[b];

    return x->due_ms < y->due_ms || (x->due_ms == y->due_ms && x->seq < y->seq);
}

static void heap_set(mcphub_loop *loop, size_t i, uint32_t slot)
{
    loop->heap[i] = slot;
    loop->timers[slot].pos = (uint32_t)i;
}

static void sift_up(mcphub_loop *loop, size_t i)
{
    uint32_t slot = loop->heap[i];

    while (i > 0 && before(loop, slot, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, slot);
}

static void sift_down(mcphub_loop *loop, size_t i)
{
    uint32_t slot = loop->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= loop->heap_len)
            break;
        if (c + 1 < loop->heap_len && before(loop, loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!before(loop, loop->heap[c], slot))
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, slot);
}

/* Room is guaranteed: heap_cap >= timer_cap. */
static void heap_push(mcphub_loop *loop, uint32_t slot)
{
    loop->heap[loop->heap_len++] = slot;
    sift_up(loop, loop->heap_len - 1);
}

static void heap_remove(mcphub_loop *loop, uint32_t slot)
{
    size_t i = loop->timers[slot].pos;
    uint32_t last = loop->heap[--loop->heap_len];

    loop->timers[slot].pos = NO_POS;
    if (i == loop->heap_len)
        return;
    heap_set(loop, i, last);
    sift_up(loop, i);
    sift_down(loop, loop->timers[last].pos);
}

static uint64_t timer_id(const mcphub_loop *loop, uint32_t slot)
{
    return (uint64_t)loop->timers[slot].gen << 32 | (uint64_t)(slot + 1);
}

static void release_slot(mcphub_loop *loop, uint32_t slot)
{
    timer *t = &loop->timers[slot];

    t->live = 0;
    t->cb = NULL;
    t->user_data = NULL;
    t->gen = t->gen + 1 ? t->gen + 1 : 1;
    t->next_free = loop->free_head;
    loop->free_head = slot;
    loop->timer_count--;
}

/* Grow the slot array (and the heap with it) so that one more fits. */
static int timer_reserve(mcphub_loop *loop)
{
    size_t cap, i;
    timer *t;
    uint32_t *h;

    if (loop->free_head != NO_POS)
        return 0;
    if (loop->timer_cap >= loop->max_timers)
        return MCPHUB_E_FULL;
    cap = loop->timer_cap ? loop->timer_cap * 2 : 16;
    if (cap > loop->max_timers)
        cap = loop->max_timers;
    if (cap > loop->heap_cap) {
        h = mcphub__reallocarray(&loop->mem, loop->heap, cap, sizeof *h);
        if (h == NULL)
            return MCPHUB_E_NOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t = mcphub__reallocarray(&loop->mem, loop->timers, cap, sizeof *t);
    if (t == NULL)
        return MCPHUB_E_NOMEM;
    memset(t + loop->timer_cap, 0, (cap - loop->timer_cap) * sizeof *t);
    for (i = cap; i-- > loop->timer_cap;) {
        t[i].pos = NO_POS;
        t[i].gen = 1;
        t[i].next_free = loop->free_head;
        loop->free_head = (uint32_t)i;
    }
    loop->timers = t;
    loop->timer_cap = cap;
    return 0;
}

MCPHUB_API int mcphub_loop_timer_add(mcphub_loop *loop, uint64_t *id_out, uint64_t delay_ms,
                                     uint64_t repeat_ms, mcphub_loop_timer_fn cb,
                                     void *user_data)
{
    uint64_t now;
    uint32_t slot;
    timer *t;
    int rc;

    if (loop == NULL || cb == NULL)
        return MCPHUB_E_INVAL;
    if ((rc = timer_reserve(loop)) != 0)
        return rc;
    now = mcphub_loop_now_ms(loop);
    slot = loop->free_head;
    t = &loop->timers[slot];
    loop->free_head = t->next_free;
    loop->timer_count++;
    t->live = 1;
    t->due_ms = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    t->repeat_ms = repeat_ms;
    t->seq = loop->seq++;
    t->cb = cb;
    t->user_data = user_data;
    heap_push(loop, slot);
    if (id_out != NULL)
        *id_out = timer_id(loop, slot);
    return 0;
}

MCPHUB_API int mcphub_loop_defer(mcphub_loop *loop, uint64_t *id_out, mcphub_loop_timer_fn cb,
                                 void *user_data)
{
    return mcphub_loop_timer_add(loop, id_out, 0, 0, cb, user_data);
}

MCPHUB_API int mcphub_loop_timer_cancel(mcphub_loop *loop, uint64_t id)
{
    uint64_t low = id & 0xffffffffu;
    uint32_t slot;

    if (loop == NULL || low == 0 || low > loop->timer_cap)
        return MCPHUB_E_NOTFOUND;
    slot = (uint32_t)(low - 1);
    if (!loop->timers[slot].live || loop->timers[slot].gen != (uint32_t)(id >> 32))
        return MCPHUB_E_NOTFOUND;
    if (loop->timers[slot].pos != NO_POS)
        heap_remove(loop, slot);
    release_slot(loop, slot);
    return 0;
}

MCPHUB_API int mcphub_loop_timeout_ms(const mcphub_loop *loop)
{
    uint64_t now, due;

    if (loop->heap_len == 0)
        return -1;
    due = loop->timers[loop->heap[0]].due_ms;
    now = mcphub_loop_now_ms(loop);
    if (due <= now)
        return 0;
    return due - now > (uint64_t)INT_MAX ? INT_MAX : (int)(due - now);
}

/* Run the timers due now that existed when the pass began.  A repeating
 * timer is out of the heap while its callback runs and goes back in after,
 * unless the callback cancelled it. */
static int run_timers(mcphub_loop *loop, int *ran)
{
    uint64_t now = mcphub_loop_now_ms(loop), first_new = loop->seq;

    while (loop->heap_len > 0) {
        uint32_t slot = loop->heap[0];
        timer *t = &loop->timers[slot];
        mcphub_loop_timer_fn cb = t->cb;
        void *ud = t->user_data;
        uint64_t id = timer_id(loop, slot);
        int rc;

        if (t->due_ms > now || t->seq >= first_new)
            break;
        heap_remove(loop, slot);
        if (t->repeat_ms == 0)
            release_slot(loop, slot);
        rc = cb(loop, id, ud);
        (*ran)++;
        t = &loop->timers[slot];   /* the array may have moved */
        if (t->repeat_ms != 0 && t->live && timer_id(loop, slot) == id && t->pos == NO_POS) {
            /* Keep the period; when late, skip the missed ticks. */
            uint64_t base = t->due_ms + t->repeat_ms > now ? t->due_ms : now;

            t->due_ms = t->repeat_ms > UINT64_MAX - base ? UINT64_MAX : base + t->repeat_ms;
            t->seq = loop->seq++;
            heap_push(loop, slot);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- signals ---- */

static int update_sigfd(mcphub_loop *loop, const sigset_t *mask)
{
    struct epoll_event ev;
    int fd;

    if (loop->sigfd >= 0)
        return signalfd(loop->sigfd, mask, 0) < 0 ? errno_code(errno) : 0;
    fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return errno_code(errno);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = SIGFD_TAG;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int rc = errno_code(errno);

        close(fd);
        return rc;
    }
    loop->sigfd = fd;
    return 0;
}

static int signo_handled(const mcphub_loop *loop, int signo)
{
    size_t i;

    for (i = 0; i < loop->sig_len; i++)
        if (loop->sigs[i].id != 0 && loop->sigs[i].signo == signo)
            return 1;
    return 0;
}

static size_t live_signals(const mcphub_loop *loop)
{
    size_t i, n = 0;

    for (i = 0; i < loop->sig_len; i++)
        n += loop->sigs[i].id != 0;
    return n;
}

MCPHUB_API int mcphub_loop_signal_add(mcphub_loop *loop, uint64_t *id_out, int signo,
                                      mcphub_loop_signal_fn cb, void *user_data)
{
    sig_handler *h;
    int rc;

    if (loop == NULL || cb == NULL || signo <= 0 || signo >= NSIG || signo == SIGKILL ||
        signo == SIGSTOP)
        return MCPHUB_E_INVAL;
    if (live_signals(loop) >= loop->max_signals)
        return MCPHUB_E_FULL;
    if (loop->sig_len == loop->sig_cap) {
        size_t cap = loop->sig_cap ? loop->sig_cap * 2 : 4;

        h = mcphub__reallocarray(&loop->mem, loop->sigs, cap, sizeof *h);
        if (h == NULL)
            return MCPHUB_E_NOMEM;
        loop->sigs = h;
        loop->sig_cap = cap;
    }
    if (!signo_handled(loop, signo)) {
        sigset_t mask = loop->sigmask, one, old;

        sigemptyset(&one);
        sigaddset(&one, signo);
        sigaddset(&mask, signo);
        /* Block first: a signal arriving in between stays pending and is
         * then read from the signalfd instead of killing the process. */
        pthread_sigmask(SIG_BLOCK, &one, &old);
        if ((rc = update_sigfd(loop, &mask)) != 0) {
            if (!sigismember(&old, signo))
                pthread_sigmask(SIG_UNBLOCK, &one, NULL);
            return rc;
        }
        loop->sigmask = mask;
        if (!sigismember(&old, signo))
            sigaddset(&loop->we_blocked, signo);
    }
    h = &loop->sigs[loop->sig_len++];
    h->id = loop->sig_next_id++;
    h->signo = signo;
    h->cb = cb;
    h->user_data = user_data;
    if (id_out != NULL)
        *id_out = h->id;
    return 0;
}

static void compact_signals(mcphub_loop *loop)
{
    size_t i, j = 0;

    for (i = 0; i < loop->sig_len; i++)
        if (loop->sigs[i].id != 0)
            loop->sigs[j++] = loop->sigs[i];
    loop->sig_len = j;
    loop->sig_dirty = 0;
}

MCPHUB_API int mcphub_loop_signal_remove(mcphub_loop *loop, uint64_t id)
{
    size_t i;
    int signo;

    if (loop == NULL || id == 0)
        return MCPHUB_E_NOTFOUND;
    for (i = 0; i < loop->sig_len && loop->sigs[i].id != id; i++)
        ;
    if (i == loop->sig_len)
        return MCPHUB_E_NOTFOUND;
    signo = loop->sigs[i].signo;
    loop->sigs[i].id = 0;
    loop->sig_dirty = 1;
    if (!loop->sig_dispatching)
        compact_signals(loop);
    if (!signo_handled(loop, signo)) {
        sigdelset(&loop->sigmask, signo);
        /* Shrinking the signalfd mask cannot fail for lack of memory. */
        update_sigfd(loop, &loop->sigmask);
        if (sigismember(&loop->we_blocked, signo) == 1) {
            sigset_t one;

            sigemptyset(&one);
            sigaddset(&one, signo);
            sigdelset(&loop->we_blocked, signo);
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        }
    }
    return 0;
}

static int dispatch_signals(mcphub_loop *loop, int *ran)
{
    struct signalfd_siginfo si[16];
    int rc = 0;

    loop->sig_dispatching++;
    for (;;) {
        ssize_t n = read(loop->sigfd, si, sizeof si);
        size_t k, count;

        if (n <= 0)
            break;
        count = (size_t)n / sizeof si[0];
        for (k = 0; k < count && rc >= 0; k++) {
            /* sig_len may grow inside callbacks; new handlers see the
             * next signal, not this one. */
            size_t i, len = loop->sig_len;

            for (i = 0; i < len && rc >= 0; i++) {
                sig_handler h = loop->sigs[i];

                if (h.id == 0 || h.signo != (int)si[k].ssi_signo)
                    continue;
                rc = h.cb(loop, h.signo, h.user_data);
                (*ran)++;
            }
        }
        if (rc < 0)
            break;
    }
    if (--loop->sig_dispatching == 0 && loop->sig_dirty)
        compact_signals(loop);
    return rc;
}

/* ---- running ---- */

static uint32_t loop_events(uint32_t ev, uint32_t interest)
{
    uint32_t out = 0;

    if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        out |= MCPHUB_LOOP_READ;
    if (ev & (EPOLLOUT | EPOLLERR))
        out |= MCPHUB_LOOP_WRITE;
    out &= interest;
    if (ev & EPOLLERR)
        out |= MCPHUB_LOOP_ERROR;
    if (ev & EPOLLHUP)
        out |= MCPHUB_LOOP_HUP;
    return out;
}

static int run_once(mcphub_loop *loop, int max_wait_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int timeout = mcphub_loop_timeout_ms(loop), n, i, rc = 0, ran = 0;

    if (max_wait_ms >= 0 && (timeout < 0 || max_wait_ms < timeout))
        timeout = max_wait_ms;
    n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return MCPHUB_E_FATAL;
        n = 0;
    }
    for (i = 0; i < n && rc >= 0; i++) {
        uint64_t tag = evs[i].data.u64;
        int fd = (int)(uint32_t)tag;
        watch *w;
        uint32_t what;

        if (tag == SIGFD_TAG) {
            rc = dispatch_signals(loop, &ran);
            continue;
        }
        w = find_watch(loop, fd);
        if (w == NULL || w->gen != (uint32_t)(tag >> 32) || w->interest == 0)
            continue;   /* removed or idled since epoll_wait returned */
        what = loop_events(evs[i].events, w->interest);
        if (what == 0)
            continue;
        rc = w->cb(loop, fd, what, w->user_data);
        ran++;
    }
    if (rc >= 0)
        rc = run_timers(loop, &ran);
    return rc < 0 ? rc : ran;
}

MCPHUB_API int mcphub_loop_run_once(mcphub_loop *loop, int max_wait_ms)
{
    int rc;

    if (loop == NULL)
        return MCPHUB_E_INVAL;
    if (loop->depth > 0)
        return MCPHUB_E_STATE;
    loop->depth++;
    rc = run_once(loop, max_wait_ms);
    loop->depth--;
    return rc;
}

static int has_work(const mcphub_loop *loop)
{
    return loop->watch_count > 0 || loop->heap_len > 0 || live_signals(loop) > 0;
}

MCPHUB_API int mcphub_loop_run(mcphub_loop *loop)
{
    int rc = 0;

    if (loop == NULL)
        return MCPHUB_E_INVAL;
    while (!loop->stop && has_work(loop)) {
        rc = mcphub_loop_run_once(loop, -1);
        if (rc < 0)
            break;
        rc = 0;
    }
    loop->stop = 0;
    return rc;
}

MCPHUB_API void mcphub_loop_stop(mcphub_loop *loop)
{
    if (loop != NULL)
        loop->stop = 1;
}

MCPHUB_API int mcphub_loop_fd(const mcphub_loop *loop)
{
    return loop->epfd;
}
