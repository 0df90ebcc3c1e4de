/* writer.c - a target's writer thread: it performs one write at a time
 * (sl_sink_ops.write() over the batches, dead letters and offsets the
 * worker handed it), retrying it with backoff, while the worker decodes the
 * next batch.  A row the write rejects is handed back to the worker's
 * thread, which dead-letters it (sl_worker_on_reject()) and answers.
 *
 * States: IDLE (the worker may prepare a job), BUSY (the writer owns the
 * job and the target's sink), DONE (the result waits for the worker, which
 * reaps it: flush.c).  Everything under wr->mu is broadcast on wr->cv. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/log.h"
#include "worker_int.h"

/* @locality writer thread.  The sink's reject callback: ask the worker's
 * thread to handle row @idx of @b, and wait for its answer. */
static int ask_worker(void *opaque, sl_flush *f, sl_batch *b, size_t idx, const sl_error *why)
{
    sl_writer *wr = opaque;
    (void)f;
    pthread_mutex_lock(&wr->mu);
    wr->ask_batch = b;
    wr->ask_row = idx;
    wr->ask_why = why;
    wr->asking = true;
    pthread_cond_broadcast(&wr->cv);
    while (wr->asking)
        pthread_cond_wait(&wr->cv, &wr->mu);
    int rc = wr->ask_rc;
    pthread_mutex_unlock(&wr->mu);
    return rc;
}

/* @locality writer thread.  The sink's stopping callback. */
static bool writer_stopping(void *opaque)
{
    sl_writer *wr = opaque;
    return sl_worker_stopping(wr->w);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* @locality writer thread.  Wait @ms between attempts; false when the
 * write is to be given up instead (aborted, or sluice is stopping). */
static bool back_off(sl_writer *wr, int64_t ms)
{
    int64_t end = sl_worker_now_ms() + ms;
    bool go_on = true;
    pthread_mutex_lock(&wr->mu);
    wr->retrying = true;
    pthread_cond_broadcast(&wr->cv);
    while (!wr->abort && !wr->quit && !sl_worker_stopping(wr->w)) {
        int64_t left = end - sl_worker_now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        deadline_in(&ts, left < 50 ? left : 50);
        pthread_cond_timedwait(&wr->cv, &wr->mu, &ts);
    }
    if (wr->abort || wr->quit || sl_worker_stopping(wr->w))
        go_on = false;
    pthread_mutex_unlock(&wr->mu);
    return go_on;
}

static bool aborted(sl_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    bool a = wr->abort || wr->quit;
    pthread_mutex_unlock(&wr->mu);
    return a;
}

/* @locality writer thread.  The write of the job, retried while that may
 * help: 0 written, 1 given up (read again), -1 failed. */
static int run_job(sl_writer *wr)
{
    sl_worker *w = wr->w;
    size_t t = wr->target;
    sl_flush *f = &wr->flush;
    sl_sink *s = w->sinks[t];
    const char *tname = w->cfg->targets[t].name;
    f->reject = ask_worker;
    f->reject_opaque = wr;
    f->stopping = writer_stopping;
    /* dead letters queued before this write (bad records at decoding); those
     * a write's bisection adds are rolled back with it, and its retry
     * bisects again: they must not be written twice */
    size_t dead_before = f->ndead;
    for (int attempt = 0;; attempt++) {
        sl_error err;
        sl_error_clear(&err);
        sl_flush_truncate_deadletters(f, dead_before);
        wr->dl_wait = false; /* set by answer() while this thread waits in ask_worker() */
        atomic_store(&wr->attempt_ms, sl_worker_now_ms());
        int rc = s->ops->write(s, f, &err);
        atomic_store(&wr->attempt_ms, 0);
        if (rc == 0)
            return 0;
        if (wr->dl_wait) {
            /* a dead letter of its bisection waits for the dead-letter
             * topic: not the target's fault; retried like a transient error */
            sl_error_set(&err, SL_ERR_RETRY, "%s", wr->dl_err);
        } else {
            sl_worker_target_up(w, t, &err);
            if (err.fenced) {
                log_warn(s->ctx, "%s", err.msg);
                return 1;
            }
            sl_metrics_add(w->rt->metrics, SL_M_ERRORS, 1, tname, sl_metrics_kind(err.kind), NULL);
        }
        if (err.kind != SL_ERR_RETRY) {
            log_error(s->ctx, "write failed (%s): %s", sl_errkind_name(err.kind), err.msg);
            return -1;
        }
        if (!wr->dl_wait)
            sl_metrics_add(w->rt->metrics, SL_M_RETRIES, 1, tname, NULL, NULL);
        if (!wr->retry || sl_worker_stopping(w) || aborted(wr)) {
            log_warn(s->ctx, "write failed: %s; %s", err.msg,
                     sl_worker_stopping(w) ? "stopping: nothing of it was committed, it will be read again"
                                           : "dropping the pending rows, they will be read again");
            return 1;
        }
        int64_t wait = sl_worker_backoff_ms(w, attempt);
        log_warn(s->ctx, "write failed (attempt %d): %s; partitions paused, retrying in %lld ms", attempt + 1,
                 err.msg, (long long)wait);
        if (!back_off(wr, wait)) {
            log_warn(s->ctx, "%s", sl_worker_stopping(w) ? "stopping: the write was not committed, it will be read again"
                                                         : "the retried write is given up (partitions revoked, or the "
                                                           "connection is needed): its rows are dropped and read again");
            return 1;
        }
    }
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer_main(void *arg)
{
    sl_writer *wr = arg;
    pthread_mutex_lock(&wr->mu);
    for (;;) {
        while (wr->state != SL_WRITER_BUSY && !wr->quit)
            pthread_cond_wait(&wr->cv, &wr->mu);
        if (wr->quit)
            break;
        pthread_mutex_unlock(&wr->mu);
        double started = mono_s();
        int rc = run_job(wr);
        double seconds = mono_s() - started;
        pthread_mutex_lock(&wr->mu);
        wr->rc = rc;
        wr->seconds = seconds;
        wr->retrying = false;
        wr->state = SL_WRITER_DONE;
        pthread_cond_broadcast(&wr->cv);
    }
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

int sl_writer_init(sl_writer *wr, sl_worker *w, size_t target)
{
    memset(wr, 0, sizeof(*wr));
    wr->w = w;
    wr->target = target;
    pthread_mutex_init(&wr->mu, NULL);
    pthread_cond_init(&wr->cv, NULL);
    if (pthread_create(&wr->thread, NULL, writer_main, wr))
        return -1;
    wr->started = true;
    return 0;
}

/* @locality worker thread, wr->mu held.  Answer a row the write rejected. */
static void answer(sl_writer *wr)
{
    if (!wr->asking)
        return;
    sl_batch *b = wr->ask_batch;
    size_t idx = wr->ask_row;
    const sl_error *why = wr->ask_why;
    pthread_mutex_unlock(&wr->mu);
    sl_worker *w = wr->w;
    w->rejecting = &wr->flush;
    w->dl_wait = false;
    int rc = sl_worker_on_reject(w, &wr->flush, b, idx, why);
    w->rejecting = NULL;
    if (w->dl_wait) {
        wr->dl_wait = true;
        snprintf(wr->dl_err, sizeof(wr->dl_err), "%s", w->dlq_err);
        w->dl_wait = false;
    }
    pthread_mutex_lock(&wr->mu);
    wr->ask_rc = rc;
    wr->asking = false;
    pthread_cond_broadcast(&wr->cv);
}

sl_writer_state sl_writer_check(sl_writer *wr, bool *retrying)
{
    if (!atomic_load(&wr->asking)) {
        /* nothing to answer: the state as last set (under mu, after the
         * job's results: the atomic store publishes them) */
        if (retrying)
            *retrying = atomic_load(&wr->retrying);
        return atomic_load(&wr->state);
    }
    pthread_mutex_lock(&wr->mu);
    answer(wr);
    sl_writer_state st = wr->state;
    if (retrying)
        *retrying = wr->retrying;
    pthread_mutex_unlock(&wr->mu);
    return st;
}

sl_writer_state sl_writer_wait(sl_writer *wr, int ms, bool *retrying)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&wr->mu);
    for (;;) {
        answer(wr);
        if (wr->state != SL_WRITER_BUSY || wr->retrying)
            break;
        if (pthread_cond_timedwait(&wr->cv, &wr->mu, &ts) == ETIMEDOUT) {
            answer(wr);
            break;
        }
    }
    sl_writer_state st = wr->state;
    if (retrying)
        *retrying = wr->retrying;
    pthread_mutex_unlock(&wr->mu);
    return st;
}

void sl_writer_submit(sl_writer *wr, bool retry)
{
    pthread_mutex_lock(&wr->mu);
    wr->retry = retry;
    wr->abort = false;
    wr->retrying = false;
    wr->state = SL_WRITER_BUSY;
    pthread_cond_broadcast(&wr->cv);
    pthread_mutex_unlock(&wr->mu);
}

void sl_writer_abort(sl_writer *wr)
{
    bool cancel = false;
    pthread_mutex_lock(&wr->mu);
    if (wr->state == SL_WRITER_BUSY) {
        cancel = !wr->abort && atomic_load(&wr->attempt_ms) != 0;
        wr->abort = true;
        pthread_cond_broadcast(&wr->cv);
    }
    pthread_mutex_unlock(&wr->mu);
    /* an attempt waiting on a lock or a slow statement would otherwise hold
     * the revoke, the claim of the sink or the shutdown until it ends */
    sl_sink *s = wr->w->sinks[wr->target];
    if (cancel && s->ops->cancel)
        s->ops->cancel(s);
}

void sl_writer_reaped(sl_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    wr->state = SL_WRITER_IDLE;
    pthread_mutex_unlock(&wr->mu);
}

void sl_writer_fini(sl_writer *wr)
{
    if (wr->started) {
        /* a write still running is given up; rows it rejects meanwhile are
         * still answered */
        sl_writer_abort(wr);
        while (sl_writer_wait(wr, 50, NULL) == SL_WRITER_BUSY)
            ;
        pthread_mutex_lock(&wr->mu);
        wr->quit = true;
        pthread_cond_broadcast(&wr->cv);
        pthread_mutex_unlock(&wr->mu);
        pthread_join(wr->thread, NULL);
        wr->started = false;
    }
    pthread_cond_destroy(&wr->cv);
    pthread_mutex_destroy(&wr->mu);
    sl_flush_clear_deadletters(&wr->flush);
    free(wr->flush.dead);
    free(wr->flush.batches);
    free(wr->flush.offsets);
    free(wr->tables);
    free(wr->parts);
}
