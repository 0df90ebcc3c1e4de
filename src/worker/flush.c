/* flush.c - the worker's side of writing: what is pending is handed to the
 * targets' writer threads (writer.c), one transaction per target covering
 * its batches, its dead letters and its partitions' offsets, and their
 * results are reaped: offsets committed, or the failure settled - pending
 * rows dropped and partitions rewound (the fence: another consumer stored
 * our partitions' offsets).  While a write is retried the worker fills the
 * next batch, then waits with its partitions paused, serving the group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    if (w->awaited)
        json_array_clear(w->awaited);
}

/* A committed flush in the metrics: rows per table and operation, the
 * batch's size and time, the commit's wall-clock time. */
static void count_flush(sl_worker *w, size_t t, const sl_flush *f, size_t rows, double seconds)
{
    sl_metrics *m = w->rt->metrics;
    const char *target = w->cfg->targets[t].name;
    for (size_t i = 0; i < f->nbatches; i++) {
        sl_batch *b = f->batches[i];
        sl_worker_count_unavailable(w, b);
        sl_worker_carry_keep(w, b);
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

/* Re-read stored offsets after a fence: another consumer wrote our partitions. */
static void reload_db_offsets(sl_worker *w)
{
    for (size_t i = 0; i < w->parts.n; i++) {
        sl_part *p = &w->parts.v[i];
        sl_sink *s = w->sinks[p->target];
        if (!sl_sink_exactly_once(s) || p->unknown)
            continue; /* (an unknown one is read by sl_worker_read_unknown_offsets()) */
        int64_t off = -1;
        sl_error err;
        if (s->ops->read_offsets(s, w->group, p->topic, &p->partition, 1, &off, &err) == 0 &&
            off >= 0)
            sl_part_fenced(p, off);
    }
}

/* -1 (failed) over 1 (dropped) over 0 (written). */
static int worse(int a, int b)
{
    return a < 0 || b < 0 ? -1 : (a > b ? a : b);
}

bool sl_worker_writing(sl_worker *w)
{
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        if (sl_writer_check(&w->writers[t], NULL) != SL_WRITER_IDLE)
            return true;
    return false;
}

void sl_worker_abort_writes(sl_worker *w)
{
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        sl_writer_abort(&w->writers[t]);
}

/* Wait until no writer is busy, answering rejected rows.  While a write is
 * retried, with @serve the partitions are paused and the group served
 * (records arriving meanwhile are dropped and fetched again later). */
static void wait_writers(sl_worker *w, bool serve)
{
    for (;;) {
        bool busy = false, retrying = false;
        size_t first = 0;
        for (size_t t = 0; t < w->cfg->ntargets; t++) {
            bool r = false;
            if (sl_writer_check(&w->writers[t], &r) == SL_WRITER_BUSY) {
                if (!busy)
                    first = t;
                busy = true;
                retrying |= r;
            }
        }
        if (!busy)
            return;
        sl_worker_beat(w);
        if (retrying && serve && w->rk) {
            if (!w->paused_for_write) {
                sl_worker_pause(w, true);
                w->paused_for_write = true;
            }
            sl_worker_serve_paused(w, 50);
        } else if (retrying) {
            usleep(5000); /* an aborted write ends after its attempt */
        } else {
            sl_writer_wait(&w->writers[first], 50, NULL);
        }
    }
}

/* The end of the job of writer @t: offsets and commits when it was
 * written; the batches go back to their tables as spares. */
static int reap_one(sl_worker *w, size_t t)
{
    sl_writer *wr = &w->writers[t];
    sl_flush *f = &wr->flush;
    sl_sink *s = w->sinks[t];
    int rc = wr->rc;
    bool partial = false;
    if (rc == 0) {
        count_flush(w, t, f, wr->rows, wr->seconds);
        bool eo = sl_sink_exactly_once(s);
        for (size_t i = 0; i < f->noffsets; i++) {
            sl_part *p = &w->parts.v[wr->parts[i]];
            /* a write that ended early at a stop (sl_sink_ops.write()):
             * committed up to where the rest begins, which is read again */
            bool early = p->writing >= 0 && f->offsets[i].next < p->writing;
            if (early)
                p->writing = f->offsets[i].next;
            sl_part_flushed(p, eo);
            partial |= early;
        }
        sl_worker_commit(w, wr->parts, f->noffsets, !wr->retry || w->revoking);
        log_debug(s->ctx, "committed %zu rows (%zu deletes) over %zu partitions", wr->rows, wr->deletes,
                  f->noffsets);
    }
    for (size_t i = 0; i < f->nbatches; i++) {
        sl_batch *b = f->batches[i];
        sl_tentry *te = &w->tables[wr->tables[i]];
        sl_batch_clear(b);
        if (!te->spare && te->batch != b)
            te->spare = b;
        else
            sl_batch_free(b);
    }
    if (rc == 0)
        sl_worker_deadletters_committed(w, f);
    sl_flush_clear_deadletters(f);
    f->nbatches = f->noffsets = 0;
    sl_writer_reaped(wr);
    /* what was taken after the part left unwritten must not be committed
     * without it: settled as a write given up */
    return partial ? 1 : rc;
}

/* A write failed (@rc 1: given up, -1: the worker stops): once every other
 * write has ended, drop what is pending and read it again from the last
 * committed point. */
static void settle(sl_worker *w, int rc)
{
    wait_writers(w, false);
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        if (sl_writer_check(&w->writers[t], NULL) == SL_WRITER_DONE)
            rc = worse(rc, reap_one(w, t));
    w->write_rc = worse(w->write_rc, rc);
    /* what was taken after the failed write must not be written (nor its
     * offsets committed) without it */
    sl_worker_discard_pending(w);
    if (rc < 0) {
        sl_worker_fail(w, 1);
    } else if (!sl_worker_stopping(w)) {
        /* exactly-once partitions resume where the database says (it may
         * have moved: a fence); reload_db_offsets() skips the others */
        reload_db_offsets(w);
    }
    sl_worker_rewind(w);
}

/* Partitions paused while a write was retried: fetch again what arrived
 * meanwhile, and resume.  Records dropped while serving are fetched again
 * even when the pause already ended: a revoke served meanwhile ends it
 * (its own flush reaps the write), and the partitions assigned right after
 * deliver records that the serving loop still drops; nothing else would
 * ever read them again. */
static void end_pause(sl_worker *w)
{
    if (sl_parts_any_seek(&w->parts))
        sl_worker_refetch(w);
    if (!w->paused_for_write)
        return;
    w->paused_for_write = false;
    sl_worker_pause(w, false);
}

void sl_worker_reap(sl_worker *w)
{
    int rc = 0;
    bool busy = false;
    for (size_t t = 0; t < w->cfg->ntargets; t++) {
        sl_writer_state st = sl_writer_check(&w->writers[t], NULL);
        if (st == SL_WRITER_DONE)
            rc = worse(rc, reap_one(w, t));
        busy |= st == SL_WRITER_BUSY;
    }
    if (rc)
        settle(w, rc);
    if (!busy || rc) {
        end_pause(w);
        sl_parts_sweep(&w->parts); /* partitions revoked while a write referred to them */
    }
}

/* Hand target @t's part of what is pending to its (idle) writer. */
static bool hand_off_target(sl_worker *w, size_t t, bool retry)
{
    sl_writer *wr = &w->writers[t];
    sl_flush *f = &wr->flush;
    sl_flush *pending = &w->flushes[t];
    size_t nb = 0, no = 0;
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].target == t && w->tables[i].batch && !sl_batch_empty(w->tables[i].batch))
            nb++;
    for (size_t i = 0; i < w->parts.n; i++)
        if (w->parts.v[i].target == t && w->parts.v[i].dirty && !w->parts.v[i].revoked)
            no++;
    if (nb == 0 && no == 0 && pending->ndead == 0)
        return false;
    f->batches = sl_xrealloc(f->batches, (nb ? nb : 1) * sizeof(sl_batch *));
    wr->tables = sl_xrealloc(wr->tables, (nb ? nb : 1) * sizeof(size_t));
    f->offsets = sl_xrealloc(f->offsets, (no ? no : 1) * sizeof(sl_offset));
    wr->parts = sl_xrealloc(wr->parts, (no ? no : 1) * sizeof(size_t)); /* indexes: parts may be added meanwhile */
    f->nbatches = f->noffsets = 0;
    wr->rows = wr->deletes = 0;
    for (size_t i = 0; i < w->ntables; i++) {
        sl_tentry *te = &w->tables[i];
        sl_batch *b = te->batch;
        if (te->target != t || !b || sl_batch_empty(b))
            continue;
        for (size_t r = 0; r < b->nrows; r++) {
            if (!b->rows[r])
                continue;
            wr->rows++;
            wr->deletes += b->rows[r]->op == SL_OP_DELETE;
        }
        sl_worker_carry_settle(w, b);
        wr->tables[f->nbatches] = i;
        f->batches[f->nbatches++] = b;
        te->batch = te->spare ? te->spare : sl_batch_new(te->route, te->table);
        te->spare = NULL;
    }
    for (size_t i = 0; i < w->parts.n; i++) {
        sl_part *p = &w->parts.v[i];
        if (p->target != t || !p->dirty || p->revoked)
            continue;
        wr->parts[f->noffsets] = i;
        f->offsets[f->noffsets++] = (sl_offset){p->topic, p->partition, p->db, p->next};
        sl_part_handed(p);
    }
    /* the dead letters queued while decoding go with it; the writer's
     * (empty, reaped) list becomes the pending one */
    sl_deadletter *dead = f->dead;
    size_t dead_cap = f->dead_cap;
    f->dead = pending->dead;
    f->ndead = pending->ndead;
    f->dead_cap = pending->dead_cap;
    pending->dead = dead;
    pending->ndead = 0;
    pending->dead_cap = dead_cap;
    f->group_id = w->group;
    sl_writer_submit(wr, retry);
    return true;
}

/* Everything pending to the writers, which must all be idle. */
static bool hand_off(sl_worker *w, bool retry)
{
    bool any = false;
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        any |= hand_off_target(w, t, retry);
    w->pending_rows = w->pending_bytes = 0;
    w->first_pending_ms = 0;
    if (w->awaited)
        json_array_clear(w->awaited); /* what is awaited now goes to another batch anyway */
    return any;
}

bool sl_worker_write(sl_worker *w, bool wait)
{
    if (wait)
        wait_writers(w, true);
    sl_worker_reap(w);
    if (sl_worker_writing(w))
        return false;
    return hand_off(w, true);
}

void sl_worker_end_writes(sl_worker *w)
{
    sl_worker_abort_writes(w);
    wait_writers(w, false);
    sl_worker_reap(w);
}

void sl_worker_claim_sink(sl_worker *w, size_t t)
{
    bool retrying = false;
    while (sl_writer_check(&w->writers[t], &retrying) == SL_WRITER_BUSY) {
        if (retrying)
            sl_writer_abort(&w->writers[t]);
        sl_worker_beat(w);
        if (retrying)
            usleep(5000);
        else
            sl_writer_wait(&w->writers[t], 50, NULL);
    }
}

int sl_worker_flush(sl_worker *w, bool retry)
{
    w->write_rc = 0;
    wait_writers(w, retry);
    sl_worker_reap(w);
    if (w->write_rc == 0 && !sl_worker_writing(w) && hand_off(w, retry)) {
        wait_writers(w, retry);
        sl_worker_reap(w);
    }
    return w->write_rc;
}
