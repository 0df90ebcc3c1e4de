/* flush.c - writing what is pending: one transaction per target covering
 * its batches, its dead letters and its partitions' offsets; retries with
 * partitions paused; the fence (another consumer stored our partitions'
 * offsets) and the rewind after a write that is given up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/log.h"
#include "worker_int.h"

void sl_worker_discard_pending(sl_worker *w)
{
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].batch)
            sl_batch_clear(w->tables[i].batch);
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        sl_flush_clear_deadletters(&w->flushes[t]);
    w->pending_rows = w->pending_bytes = 0;
    w->first_pending_ms = 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A committed flush in the metrics: rows per table and operation, the
 * batch's size and time, the commit's wall-clock time. */
static void count_flush(sl_worker *w, size_t t, const sl_flush *f, size_t rows, double seconds)
{
    sl_metrics *m = w->rt->metrics;
    const char *target = w->cfg->targets[t].name;
    for (size_t i = 0; i < f->nbatches; i++) {
        const sl_batch *b = f->batches[i];
        int64_t n[3] = {0, 0, 0}; /* upsert, insert, delete */
        for (size_t r = 0; r < b->nrows; r++) {
            if (!b->rows[r])
                continue;
            if (b->rows[r]->op == SL_OP_DELETE)
                n[2]++;
            else if (b->route->mode == SL_MODE_INSERT)
                n[1]++;
            else
                n[0]++;
        }
        static const char *const ops[] = {"upsert", "insert", "delete"};
        char table[512];
        snprintf(table, sizeof(table), "%s.%s", b->table->schema, b->table->name);
        for (int k = 0; k < 3; k++)
            if (n[k])
                sl_metrics_add(m, SL_M_ROWS_WRITTEN, n[k], target, table, ops[k]);
    }
    sl_series_observe(sl_metrics_series(m, SL_M_FLUSH_SECONDS, target, NULL, NULL), seconds);
    sl_series_observe(sl_metrics_series(m, SL_M_FLUSH_ROWS, target, NULL, NULL), (double)rows);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sl_series_set(sl_metrics_series(m, SL_M_LAST_COMMIT, target, NULL, NULL),
                  (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    sl_worker_target_up(w, t, NULL);
}

/* 0 written, 1 dropped (read again), -1 failed. */
static int flush_target(sl_worker *w, size_t t, bool retry)
{
    sl_flush *f = &w->flushes[t];
    sl_sink *s = w->sinks[t];
    f->nbatches = 0;
    f->noffsets = 0;
    size_t nb = 0, no = 0;
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].target == t && w->tables[i].batch && !sl_batch_empty(w->tables[i].batch))
            nb++;
    for (size_t i = 0; i < w->parts.n; i++)
        if (w->parts.v[i].target == t && w->parts.v[i].dirty)
            no++;
    if (nb == 0 && no == 0 && f->ndead == 0)
        return 0;
    f->batches = sl_xrealloc(f->batches, (nb ? nb : 1) * sizeof(sl_batch *));
    f->offsets = sl_xrealloc(f->offsets, (no ? no : 1) * sizeof(sl_offset));
    size_t *ps = sl_xcalloc(no ? no : 1, sizeof(size_t)); /* indexes: parts may be added meanwhile */
    size_t rows = 0, deletes = 0;
    for (size_t i = 0; i < w->ntables; i++) {
        sl_batch *b = w->tables[i].batch;
        if (w->tables[i].target == t && b && !sl_batch_empty(b)) {
            f->batches[f->nbatches++] = b;
            for (size_t r = 0; r < b->nrows; r++) {
                if (!b->rows[r])
                    continue;
                rows++;
                deletes += b->rows[r]->op == SL_OP_DELETE;
            }
        }
    }
    for (size_t i = 0; i < w->parts.n; i++) {
        sl_part *p = &w->parts.v[i];
        if (p->target != t || !p->dirty)
            continue;
        ps[f->noffsets] = i;
        f->offsets[f->noffsets++] = (sl_offset){p->topic, p->partition, p->db, p->next};
    }
    f->group_id = sl_config_kafka_get(w->cfg, "group.id");
    f->reject = sl_worker_on_reject;
    f->reject_opaque = w;
    int rc = 0;
    bool paused = false;
    w->in_flush = true;
    w->flush_aborted = false;
    double started = mono_s();
    const char *tname = w->cfg->targets[t].name;
    /* dead letters queued before this write (bad records at decoding); those
     * a write's bisection adds are rolled back with it, and its retry
     * bisects again: they must not be written twice */
    size_t dead_before = f->ndead;
    for (int attempt = 0;; attempt++) {
        sl_error err;
        sl_error_clear(&err);
        sl_flush_truncate_deadletters(f, dead_before);
        w->dl_wait = false;
        if (s->ops->write(s, f, &err) == 0)
            break;
        if (w->dl_wait) {
            /* a dead letter of its bisection waits for the dead-letter
             * topic: not the target's fault; retried like a transient error */
            sl_error_set(&err, SL_ERR_RETRY, "%s", w->dlq_err);
        } else {
            sl_worker_target_up(w, t, &err);
            if (!err.fenced)
                sl_metrics_add(w->rt->metrics, SL_M_ERRORS, 1, tname, sl_metrics_kind(err.kind), NULL);
        }
        if (err.fenced) {
            log_warn(s->ctx, "%s", err.msg);
            rc = 1;
            break;
        }
        if (err.kind != SL_ERR_RETRY) {
            log_error(s->ctx, "write failed (%s): %s", sl_errkind_name(err.kind), err.msg);
            rc = -1;
            break;
        }
        if (!w->dl_wait)
            sl_metrics_add(w->rt->metrics, SL_M_RETRIES, 1, tname, NULL, NULL);
        if (!retry || sl_worker_stopping(w)) {
            log_warn(s->ctx, "write failed: %s; %s", err.msg,
                     sl_worker_stopping(w) ? "stopping: nothing of it was committed, it will be read again"
                                           : "dropping the pending rows, they will be read again");
            rc = 1;
            break;
        }
        int64_t wait = sl_worker_backoff_ms(w, attempt);
        log_warn(s->ctx, "write failed (attempt %d): %s; partitions paused, retrying in %lld ms", attempt + 1,
                 err.msg, (long long)wait);
        if (!paused) {
            sl_worker_pause(w, true);
            paused = true;
        }
        sl_worker_serve_paused(w, wait);
        if (w->flush_aborted) {
            log_warn(s->ctx, "partitions were revoked while retrying; the pending rows are dropped and will be "
                             "read again by their new owner");
            rc = 1;
            break;
        }
    }
    w->in_flush = false;
    w->dl_wait = false;
    if (rc == 0) {
        count_flush(w, t, f, rows, mono_s() - started);
        bool eo = sl_sink_exactly_once(s);
        for (size_t i = 0; i < f->noffsets; i++)
            sl_part_flushed(&w->parts.v[ps[i]], eo);
        for (size_t i = 0; i < f->nbatches; i++)
            sl_batch_clear(f->batches[i]);
        sl_worker_deadletters_committed(w, f);
        sl_flush_clear_deadletters(f);
        sl_worker_commit(w, ps, f->noffsets, !retry);
        log_debug(s->ctx, "committed %zu rows (%zu deletes) over %zu partitions", rows, deletes, f->noffsets);
    }
    free(ps);
    if (paused)
        sl_worker_pause(w, false);
    return rc;
}

/* Re-read stored offsets after a fence: another consumer wrote our partitions. */
static void reload_db_offsets(sl_worker *w)
{
    for (size_t i = 0; i < w->parts.n; i++) {
        sl_part *p = &w->parts.v[i];
        sl_sink *s = w->sinks[p->target];
        if (!sl_sink_exactly_once(s))
            continue;
        int64_t off = -1;
        sl_error err;
        if (s->ops->read_offsets(s, sl_config_kafka_get(w->cfg, "group.id"), p->topic, &p->partition, 1, &off, &err) == 0 &&
            off >= 0)
            sl_part_fenced(p, off);
    }
}

int sl_worker_flush(sl_worker *w, bool retry)
{
    int rc = 0;
    for (size_t t = 0; t < w->cfg->ntargets && rc == 0; t++)
        rc = flush_target(w, t, retry);
    if (rc == 1) {
        sl_worker_discard_pending(w);
        /* exactly-once partitions resume where the database says (it may
         * have moved: a fence); reload_db_offsets() skips the others */
        if (!sl_worker_stopping(w))
            reload_db_offsets(w);
        sl_worker_rewind(w);
    } else if (rc == 0) {
        w->pending_rows = w->pending_bytes = 0;
        w->first_pending_ms = 0;
        if (sl_parts_any_seek(&w->parts))
            sl_worker_rewind(w);
    } else {
        sl_worker_fail(w, 1);
    }
    sl_parts_sweep(&w->parts); /* partitions revoked during the flush */
    return rc;
}
