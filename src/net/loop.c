/* loop.c: the event loop (libev), timers, signal and child watchers, the
 * before-block hook and the flush of queued frames, clocks. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "net/internal.h"

/* The default libev loop is process-wide: at most one net_loop owns it. */
static atomic_int default_taken;
/* Which loop watches each signal (libev allows one loop per signal). */
static _Atomic(struct net_loop *) signal_owner[65];
static atomic_int signal_watchers[65];

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t net_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
uint64_t net_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }
uint64_t nloop_now(void) { return clock_ms(CLOCK_MONOTONIC); }

/* ------------------------------------------------------------------------
 * Before blocking: deferred completions, the host's hook, flush, free.
 * ------------------------------------------------------------------------ */

void nloop_mark_dirty(struct net_loop *loop, struct conn *c)
{
    if (c->dirty || c->state == CS_CLOSED)
        return;
    c->dirty = 1;
    c->dirty_next = loop->dirty;
    loop->dirty = c;
}

static void run_done(struct net_loop *loop)
{
    /* Completions may fail more calls (a callback closing a peer); each
     * pass takes the list as it is, so this ends when callbacks stop
     * adding. The bound only guards against a callback loop. */
    for (int pass = 0; pass < 64 && loop->done; pass++) {
        struct out_call *oc = loop->done;
        loop->done = NULL;
        while (oc) {
            struct out_call *next = oc->done_next;
            out_call_complete(oc, oc->status, NULL);
            oc = next;
        }
    }
}

static void flush_dirty(struct net_loop *loop, int may_close)
{
    /* Take the list as it is: a connection that has to stay dirty (a
     * failed write with MAY_CLOSE 0) re-queues itself on the new list. */
    struct conn *c = loop->dirty;
    loop->dirty = NULL;
    while (c) {
        struct conn *next = c->dirty_next;
        c->dirty = 0;
        c->dirty_next = NULL;
        if (c->state != CS_CLOSED)
            conn_flush(c, may_close);
        c = next;
    }
}

void net_loop_flush(struct net_loop *loop) { flush_dirty(loop, 0); }

static void free_graveyard(struct net_loop *loop)
{
    struct conn *c = loop->graveyard;
    loop->graveyard = NULL;
    while (c) {
        struct conn *next = c->grave_next;
        conn_destroy(c);
        c = next;
    }
}

static void prepare_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net_loop *loop = w->data;
    run_done(loop);
    if (loop->before_block)
        loop->before_block(loop->before_ctx);
    run_done(loop);
    flush_dirty(loop, 1);
    /* A failed write may have closed a connection during the flush. */
    run_done(loop);
    flush_dirty(loop, 1);
    if (!loop->dirty)
        free_graveyard(loop);
}

int net_loop_new(struct net_loop **out)
{
    struct net_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return -PM_ENOMEM;
    int expected = 0;
    if (atomic_compare_exchange_strong(&default_taken, &expected, 1)) {
        loop->ev = ev_default_loop(EVFLAG_AUTO);
        loop->is_default = loop->ev != NULL;
        if (!loop->is_default)
            atomic_store(&default_taken, 0);
    }
    if (loop->ev == NULL)
        loop->ev = ev_loop_new(EVFLAG_AUTO);
    if (loop->ev == NULL) {
        free(loop);
        return -PM_ENOMEM;
    }
    ev_prepare_init(&loop->prepare, prepare_cb);
    loop->prepare.data = loop;
    /* Lowest priority: the hook runs after every other prepare-time task,
     * which only matters if someone adds one later. */
    ev_set_priority(&loop->prepare, EV_MINPRI);
    ev_prepare_start(loop->ev, &loop->prepare);
    /* The prepare watcher alone must not keep ev_run() alive. */
    ev_unref(loop->ev);
    *out = loop;
    return 0;
}

void net_loop_free(struct net_loop *loop)
{
    if (loop == NULL)
        return;
    run_done(loop);
    loop->dirty = NULL;
    free_graveyard(loop);
    ev_ref(loop->ev);
    ev_prepare_stop(loop->ev, &loop->prepare);
    if (loop->is_default) {
        ev_loop_destroy(loop->ev);
        atomic_store(&default_taken, 0);
    } else {
        ev_loop_destroy(loop->ev);
    }
    free(loop);
}

static void wake_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)w;
    (void)revents;
}

int net_loop_run(struct net_loop *loop)
{
    /* ev_run returns as soon as no watcher is active; the host decides
     * when to stop, so a long timer keeps the loop alive. */
    ev_timer keep;
    ev_timer_init(&keep, wake_cb, 3600., 3600.);
    ev_timer_start(loop->ev, &keep);
    ev_run(loop->ev, 0);
    ev_timer_stop(loop->ev, &keep);
    return 0;
}

void net_loop_stop(struct net_loop *loop) { ev_break(loop->ev, EVBREAK_ALL); }

int net_loop_run_until(struct net_loop *loop, int (*fn)(void *ctx), void *ctx,
                       uint32_t timeout_ms)
{
    uint64_t deadline = net_mono_ms() + timeout_ms;
    ev_timer wake;
    int rc = -PM_ETIMEOUT;
    /* A short repeating wake-up so that fn is re-checked even when no
     * event arrives, and the deadline is honoured. */
    ev_timer_init(&wake, wake_cb, 0.01, 0.01);
    ev_timer_start(loop->ev, &wake);
    for (;;) {
        if (fn(ctx)) {
            rc = 0;
            break;
        }
        if (net_mono_ms() >= deadline)
            break;
        ev_run(loop->ev, EVRUN_ONCE);
    }
    ev_timer_stop(loop->ev, &wake);
    return rc;
}

void net_loop_set_before_block(struct net_loop *loop, void (*fn)(void *ctx),
                               void *ctx)
{
    loop->before_block = fn;
    loop->before_ctx = ctx;
}

/* ------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------ */

struct net_timer {
    struct net_loop *loop;
    ev_timer w;
    void (*fn)(void *ctx);
    void *ctx;
};

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net_timer *t = w->data;
    t->fn(t->ctx);
}

int net_timer_new(struct net_loop *loop, void (*fn)(void *ctx), void *ctx,
                  struct net_timer **out)
{
    if (fn == NULL)
        return -PM_EINVAL;
    struct net_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -PM_ENOMEM;
    t->loop = loop;
    t->fn = fn;
    t->ctx = ctx;
    ev_timer_init(&t->w, timer_cb, 0., 0.);
    t->w.data = t;
    *out = t;
    return 0;
}

void net_timer_start(struct net_timer *t, uint64_t after_ms,
                     uint64_t repeat_ms)
{
    ev_timer_stop(t->loop->ev, &t->w);
    ev_timer_set(&t->w, (double)after_ms / 1000., (double)repeat_ms / 1000.);
    ev_timer_start(t->loop->ev, &t->w);
}

void net_timer_stop(struct net_timer *t) { ev_timer_stop(t->loop->ev, &t->w); }

int net_timer_active(const struct net_timer *t) { return ev_is_active(&t->w); }

void net_timer_free(struct net_timer *t)
{
    if (t == NULL)
        return;
    ev_timer_stop(t->loop->ev, &t->w);
    free(t);
}

/* ------------------------------------------------------------------------
 * Signals and children
 * ------------------------------------------------------------------------ */

struct net_signal {
    struct net_loop *loop;
    ev_signal w;
    int signum;
    void (*fn)(void *ctx, int signum);
    void *ctx;
};

static void signal_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net_signal *s = w->data;
    s->fn(s->ctx, s->signum);
}

int net_signal_new(struct net_loop *loop, int signum,
                   void (*fn)(void *ctx, int signum), void *ctx,
                   struct net_signal **out)
{
    if (signum <= 0 || signum >= 65 || fn == NULL)
        return -PM_EINVAL;
    struct net_loop *none = NULL;
    if (!atomic_compare_exchange_strong(&signal_owner[signum], &none, loop) &&
        none != loop)
        return -PM_EBUSY;
    struct net_signal *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (none == NULL)
            atomic_store(&signal_owner[signum], NULL);
        return -PM_ENOMEM;
    }
    atomic_fetch_add(&signal_watchers[signum], 1);
    s->loop = loop;
    s->signum = signum;
    s->fn = fn;
    s->ctx = ctx;
    ev_signal_init(&s->w, signal_cb, signum);
    s->w.data = s;
    ev_signal_start(loop->ev, &s->w);
    /* A signal watcher is no reason to keep running by itself. */
    ev_unref(loop->ev);
    *out = s;
    return 0;
}

void net_signal_free(struct net_signal *s)
{
    if (s == NULL)
        return;
    ev_ref(s->loop->ev);
    ev_signal_stop(s->loop->ev, &s->w);
    if (atomic_fetch_sub(&signal_watchers[s->signum], 1) == 1)
        atomic_store(&signal_owner[s->signum], NULL);
    free(s);
}

struct net_child {
    struct net_loop *loop;
    ev_child w;
    void (*fn)(void *ctx, pid_t pid, int status);
    void *ctx;
};

static void child_cb(struct ev_loop *ev, ev_child *w, int revents)
{
    (void)revents;
    struct net_child *c = w->data;
    ev_child_stop(ev, w);
    c->fn(c->ctx, w->rpid, w->rstatus);
}

int net_child_new(struct net_loop *loop, pid_t pid,
                  void (*fn)(void *ctx, pid_t pid, int status), void *ctx,
                  struct net_child **out)
{
    if (pid <= 0 || fn == NULL)
        return -PM_EINVAL;
    if (!loop->is_default)
        return -PM_ESTATE;
    struct net_child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -PM_ENOMEM;
    c->loop = loop;
    c->fn = fn;
    c->ctx = ctx;
    ev_child_init(&c->w, child_cb, pid, 0);
    c->w.data = c;
    ev_child_start(loop->ev, &c->w);
    *out = c;
    return 0;
}

void net_child_free(struct net_child *c)
{
    if (c == NULL)
        return;
    ev_child_stop(c->loop->ev, &c->w);
    free(c);
}

/* ------------------------------------------------------------------------
 * Wakeups from other threads
 * ------------------------------------------------------------------------ */

struct net_async {
    struct net_loop *loop;
    ev_async w;
    void (*fn)(void *ctx);
    void *ctx;
};

static void async_cb(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net_async *a = w->data;
    a->fn(a->ctx);
}

int net_async_new(struct net_loop *loop, void (*fn)(void *ctx), void *ctx,
                  struct net_async **out)
{
    if (fn == NULL)
        return -PM_EINVAL;
    struct net_async *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -PM_ENOMEM;
    a->loop = loop;
    a->fn = fn;
    a->ctx = ctx;
    ev_async_init(&a->w, async_cb);
    a->w.data = a;
    ev_async_start(loop->ev, &a->w);
    *out = a;
    return 0;
}

void net_async_send(struct net_async *a) { ev_async_send(a->loop->ev, &a->w); }

void net_async_free(struct net_async *a)
{
    if (a == NULL)
        return;
    ev_async_stop(a->loop->ev, &a->w);
    free(a);
}

/* ------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------ */

int nbuf_reserve(struct nbuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return 0;
    }
    size_t want = b->len + n, cap = b->cap ? b->cap : 4096;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -PM_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return -PM_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int nbuf_append(struct nbuf *b, const void *data, size_t n)
{
    int rc = nbuf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void nbuf_consume(struct nbuf *b, size_t n)
{
    assert(n <= nbuf_used(b));
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void nbuf_free(struct nbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
