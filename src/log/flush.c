/* flush.c: the journal's background flush (log_write_unflushed, log.h).
 *
 * Why: a leader's turn writes its batch as a journal record and then
 * waited for the record's fdatasync (~0.5 ms here) with its loop stopped:
 * acknowledgements and new requests sat in the sockets meanwhile, though
 * the commit only needs the leader's flush by the time a follower's
 * acknowledgement arrives (thesis §10.2.1). Here one thread per store does
 * that fdatasync while the caller's loop goes on, and says when it is done
 * (the notify callback, from this thread).
 *
 * What recovery relies on stays true: each record is flushed before the
 * next is written (journal.c), because every write first waits for the
 * flush in progress (log__flush_wait); only the last record can be torn.
 * A failed flush fails the store as a failed fdatasync in log_write does
 * (j->failed: nothing more is written until it is reopened). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"
#include "log/log_impl.h"

struct log__flusher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a request (to the thread), a result (from it) */
    int fd;
    int want;          /* a flush is asked for and not yet started */
    int busy;          /* asked for or running, not yet done */
    int quit;
    int err;           /* errno of a failed fdatasync; sticky */
    int calling;       /* the thread runs notify (outside the lock) */
    void (*notify)(void *ctx);
    void *ctx;
};

static void *flusher_main(void *arg)
{
    struct log__flusher *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->want && !f->quit)
            pthread_cond_wait(&f->cv, &f->mu);
        if (!f->want)
            break; /* quit, nothing asked */
        f->want = 0;
        pthread_mutex_unlock(&f->mu);
        int rc = fdatasync(f->fd), e = errno;
        pthread_mutex_lock(&f->mu);
        if (rc != 0 && f->err == 0)
            f->err = e ? e : EIO;
        f->busy = 0;
        pthread_cond_broadcast(&f->cv);
        void (*fn)(void *) = f->notify;
        void *ctx = f->ctx;
        if (fn) {
            f->calling = 1;
            pthread_mutex_unlock(&f->mu);
            fn(ctx);
            pthread_mutex_lock(&f->mu);
            f->calling = 0;
            pthread_cond_broadcast(&f->cv);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static struct log__flusher *flusher(struct log *log)
{
    struct log__journal *j = &log->j;
    if (j->flusher)
        return j->flusher;
    struct log__flusher *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->fd = j->fd;
    f->notify = j->flush_notify;
    f->ctx = j->flush_ctx;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        return NULL;
    }
    if (pthread_cond_init(&f->cv, NULL) != 0 ||
        pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    j->flusher = f;
    return f;
}

int log__flush_start(struct log *log)
{
    struct log__flusher *f = flusher(log);
    if (!f)
        return -PM_ENOMEM;
    pthread_mutex_lock(&f->mu);
    f->want = f->busy = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* The result of the flush: 1 done, 0 running, -PM_EIO failed (and the
 * store failed with it). WAIT: until it is not running. */
static int flush_state(struct log *log, int wait)
{
    struct log__flusher *f = log->j.flusher;
    if (!f)
        return 1;
    pthread_mutex_lock(&f->mu);
    while (wait && f->busy)
        pthread_cond_wait(&f->cv, &f->mu);
    int busy = f->busy, err = f->err;
    pthread_mutex_unlock(&f->mu);
    if (err)
        return log__journal_flush_failed(log, err);
    return busy ? 0 : 1;
}

int log__flush_wait(struct log *log)
{
    int rc = flush_state(log, 1);
    return rc < 0 ? rc : 0;
}

int log_flushed(struct log *log)
{
    return log ? flush_state(log, 0) : -PM_EINVAL;
}

void log_set_flush_notify(struct log *log, void (*fn)(void *ctx), void *ctx)
{
    struct log__journal *j = &log->j;
    j->flush_notify = fn;
    j->flush_ctx = ctx;
    struct log__flusher *f = j->flusher;
    if (f) {
        pthread_mutex_lock(&f->mu);
        /* The old one is not running once this returns. */
        while (f->calling)
            pthread_cond_wait(&f->cv, &f->mu);
        f->notify = fn;
        f->ctx = ctx;
        pthread_mutex_unlock(&f->mu);
    }
}

void log__flush_stop(struct log *log)
{
    struct log__flusher *f = log->j.flusher;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->quit = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    log->j.flusher = NULL;
}
