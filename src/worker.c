/* worker.c - one consumer-group member.
 *
 * Thread model: everything here runs on the worker's own thread, including
 * librdkafka's rebalance callback (served from rd_kafka_consumer_poll).
 *
 * Offsets: for each assigned partition the worker knows `db` (the next
 * offset stored in the database with exactly-once, -1 when none), `safe`
 * (where consumption would resume if everything pending were lost) and
 * `next` (the offset after the last record taken into the pending batch).
 * A flush covers [safe, next) of every dirty partition; after it commits,
 * safe = db = next and the offsets are committed to Kafka. */
#include "sluice/worker.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/batch.h"
#include "sluice/decoder.h"
#include "sluice/kafka.h"
#include "sluice/log.h"
#include "sluice/mapping.h"
#include "sluice/record.h"
#include "sluice/registry.h"
#include "sluice/row.h"
#include "sluice/schema_sync.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"

typedef struct part {
    char *topic;
    int32_t partition;
    const sl_route_conf *route;
    size_t target;    /* index into cfg->targets */
    int64_t db;       /* stored in the database (exactly-once), -1 none */
    int64_t safe;     /* resume point if pending work is lost, -1 unknown */
    int64_t next;     /* after the last record taken, -1 none yet */
    bool dirty;       /* records taken since the last flush */
    bool needs_seek;  /* records were dropped while paused: seek to next */
    bool revoked;     /* revoked while a flush was retrying */
} part;

typedef struct tentry {
    const sl_route_conf *route;
    char *name;       /* the expanded table name, as written */
    size_t target;
    sl_table *table;
    sl_mapping map;
    sl_batch *batch;
    int last_schema_id;
} tentry;

struct sl_worker {
    sl_runtime *rt;
    const sl_config *cfg;
    int id;
    char ctx[32];
    rd_kafka_t *rk;
    bool cooperative;
    sl_sink **sinks;          /* per target */
    sl_flush *flushes;        /* per target */
    sl_decoder *decoders;     /* per route */
    part *parts;
    size_t nparts, capparts;
    tentry *tables;
    size_t ntables, captables;
    sl_rowbuilder rb;
    size_t pending_rows;
    size_t pending_bytes;
    int64_t first_pending_ms;
    bool in_flush;
    bool flush_aborted;
    bool failed;
    rd_kafka_t *dlq;          /* producer for dlq_topic, created on first use */
    char dlq_err[512];
    /* restarting librdkafka's fetcher after a full prefetch queue (see
     * restart_fetch()); 0 when librdkafka does it by itself */
    size_t refill_bytes, refill_msgs;   /* a drained queue held about this much */
    size_t drained_bytes, drained_msgs; /* taken since the last restart */
};

/* A poll that waits this long without a record means the consumer has
 * caught up with its partitions. */
#define IDLE_FLUSH_MS 2
/* ... and a batch this old is worth writing then: younger ones wait for
 * more, so that a consumer briefly outrunning its fetches keeps batches large. */
#define IDLE_FLUSH_MIN_AGE_MS 15

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(const sl_worker *w)
{
    return atomic_load(&w->rt->stop);
}

static void fail_worker(sl_worker *w, int code)
{
    w->failed = true;
    int zero = 0;
    atomic_compare_exchange_strong(&w->rt->exit_code, &zero, code);
    atomic_store(&w->rt->stop, true);
}

/* Backoff with +-25% jitter, in small steps so that a stop is noticed. */
static int64_t backoff_ms(const sl_worker *w, int attempt)
{
    int64_t b = w->cfg->retry.initial_backoff_ms;
    for (int i = 0; i < attempt && b < w->cfg->retry.max_backoff_ms; i++)
        b *= 2;
    if (b > w->cfg->retry.max_backoff_ms)
        b = w->cfg->retry.max_backoff_ms;
    int64_t j = b / 4;
    if (j > 0)
        b += (rand() % (2 * j + 1)) - j;
    return b;
}

static void nap(const sl_worker *w, int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (!stopping(w) && now_ms() < end)
        usleep(20000);
}

/* ---- partitions ---- */

static part *find_part(sl_worker *w, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i].partition == partition && !strcmp(w->parts[i].topic, topic))
            return &w->parts[i];
    return NULL;
}

static size_t target_index(const sl_config *cfg, const sl_target_conf *t)
{
    return (size_t)(t - cfg->targets);
}

static part *add_part(sl_worker *w, const char *topic, int32_t partition)
{
    part *p = find_part(w, topic, partition);
    if (p && !p->revoked)
        return p;
    if (p) { /* revoked during a retried flush, and assigned again */
        p->revoked = p->dirty = p->needs_seek = false;
        p->db = p->safe = p->next = -1;
        return p;
    }
    if (w->nparts == w->capparts) {
        w->capparts = w->capparts ? w->capparts * 2 : 16;
        w->parts = sl_xrealloc(w->parts, w->capparts * sizeof(part));
    }
    p = &w->parts[w->nparts++];
    memset(p, 0, sizeof(*p));
    p->topic = sl_xstrdup(topic);
    p->partition = partition;
    p->route = sl_config_route_for_topic(w->cfg, topic);
    p->target = p->route ? target_index(w->cfg, p->route->target) : 0;
    p->db = p->safe = p->next = -1;
    return p;
}

static void remove_part(sl_worker *w, const char *topic, int32_t partition)
{
    part *p = find_part(w, topic, partition);
    if (!p)
        return;
    free(p->topic);
    *p = w->parts[--w->nparts];
}

/* ---- Kafka offsets ---- */

static void commit_to_kafka(sl_worker *w, const size_t *ps, size_t n, bool sync)
{
    if (n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const part *p = &w->parts[ps[i]];
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->next;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(w->rk, l, sync ? 0 : 1);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn(w->ctx, "committing offsets to Kafka failed: %s%s", rd_kafka_err2str(e),
                 sl_sink_exactly_once(w->sinks[w->parts[ps[0]].target])
                     ? " (the database holds them: no effect on delivery)"
                     : " (they will be committed with the next batch)");
    rd_kafka_topic_partition_list_destroy(l);
}

/* Seek partitions back to where pending work started, dropping it. */
static void rewind_parts(sl_worker *w, bool only_dirty)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        if (p->revoked || (only_dirty && !p->dirty && !p->needs_seek))
            continue;
        int64_t to = p->dirty ? p->safe : (p->needs_seek ? p->next : -1);
        if (to >= 0) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = to;
            p->next = to;
        }
        p->dirty = p->needs_seek = false;
    }
    if (l->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, l, 10000);
        if (e) {
            log_error(w->ctx, "seeking back failed: %s; restarting the worker's consumption is needed",
                      rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            fail_worker(w, 1);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* librdkafka without fetch.queue.backoff.ms (2.0.2, as Debian 12 ships it)
 * stops fetching a partition while its prefetch queue holds
 * queued.max.messages.kbytes or queued.min.messages, and looks at it
 * again only on its broker thread's next wakeup: up to a second
 * later, however soon the worker empties the queue.  A worker that catches
 * up faster than that then idles for the rest of the second, so throughput
 * would be capped at one queue per second (4 MiB/s with the defaults).
 * Versions that have fetch.queue.backoff.ms get it set instead
 * (make_consumer()).
 *
 * When the worker finds the queue empty after taking half a queue's worth
 * of records since the last time, it seeks every partition to the offset it
 * reads next.  The seek is served by the broker thread at once and restarts
 * fetching from exactly that offset; nothing is skipped or read twice, and
 * the queue being empty, nothing prefetched is thrown away.  A trickle of
 * records never triggers it. */
static void restart_fetch(sl_worker *w)
{
    if (!w->refill_bytes || (w->drained_bytes < w->refill_bytes && w->drained_msgs < w->refill_msgs))
        return;
    w->drained_bytes = w->drained_msgs = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        if (!p->revoked && !p->needs_seek && p->next >= 0)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->next;
    }
    if (l->cnt) {
        /* asynchronous: a partition revoked meanwhile is simply not sought */
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, l, 0);
        if (e)
            rd_kafka_error_destroy(e);
        atomic_fetch_add(&w->rt->stats.fetch_restarts, 1);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void discard_pending(sl_worker *w)
{
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].batch)
            sl_batch_clear(w->tables[i].batch);
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        sl_flush_clear_deadletters(&w->flushes[t]);
    w->pending_rows = w->pending_bytes = 0;
    w->first_pending_ms = 0;
}

/* ---- dead letters ---- */

static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    sl_worker *w = opaque;
    if (m->err)
        snprintf(w->dlq_err, sizeof(w->dlq_err), "%s", rd_kafka_err2str(m->err));
}

/* Produce one dead letter and wait until Kafka has it (acks=all). */
static int dlq_produce(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition,
                       int64_t offset, const void *key, size_t klen, const void *val, size_t vlen,
                       const char *why, sl_error *err)
{
    if (!w->dlq) {
        char es[512];
        rd_kafka_conf_t *c = sl_kafka_conf(w->cfg, true, es, sizeof(es));
        if (!c)
            return sl_error_set(err, SL_ERR_FATAL, "%s", es);
        rd_kafka_conf_set(c, "enable.idempotence", "true", es, sizeof(es));
        rd_kafka_conf_set(c, "acks", "all", es, sizeof(es));
        rd_kafka_conf_set_dr_msg_cb(c, dlq_dr);
        rd_kafka_conf_set_opaque(c, w);
        w->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
        if (!w->dlq)
            return sl_error_set(err, SL_ERR_FATAL, "cannot create the dead-letter producer: %s", es);
    }
    char part_s[16], off_s[24];
    snprintf(part_s, sizeof(part_s), "%d", partition);
    snprintf(off_s, sizeof(off_s), "%lld", (long long)offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "sluice.error", -1, why, -1);
    rd_kafka_header_add(h, "sluice.topic", -1, topic, -1);
    rd_kafka_header_add(h, "sluice.partition", -1, part_s, -1);
    rd_kafka_header_add(h, "sluice.offset", -1, off_s, -1);
    rd_kafka_header_add(h, "sluice.route", -1, r->name, -1);
    w->dlq_err[0] = '\0';
    rd_kafka_resp_err_t e = rd_kafka_producev(w->dlq, RD_KAFKA_V_TOPIC(r->dlq_topic),
                                              RD_KAFKA_V_KEY((void *)key, key ? klen : 0),
                                              RD_KAFKA_V_VALUE((void *)val, val ? vlen : 0),
                                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return sl_error_set(err, SL_ERR_RETRY, "dead letter to %s: %s", r->dlq_topic, rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(w->dlq, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return sl_error_set(err, SL_ERR_RETRY, "dead letter to %s not acknowledged within 30s", r->dlq_topic);
    if (w->dlq_err[0])
        return sl_error_set(err, SL_ERR_RETRY, "dead letter to %s: %s", r->dlq_topic, w->dlq_err);
    return 0;
}

/* A bad record under on_error dlq/skip.  Returns 0 when handled. */
static int handle_bad(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition,
                      int64_t offset, const void *key, size_t klen, const void *val, size_t vlen,
                      const sl_error *why)
{
    if (r->on_error == SL_ONERR_SKIP) {
        atomic_fetch_add(&w->rt->stats.skipped, 1);
        log_warn(r->name, "skipped %s[%d]@%lld: %s", topic, partition, (long long)offset, why->msg);
        return 0;
    }
    if (r->on_error != SL_ONERR_DLQ)
        return -1;
    if (r->dlq_table) {
        sl_flush_add_deadletter(&w->flushes[target_index(w->cfg, r->target)], r, topic, partition, offset,
                                key, klen, val, vlen, why->msg);
    } else {
        sl_error e;
        for (int attempt = 0;; attempt++) {
            if (dlq_produce(w, r, topic, partition, offset, key, klen, val, vlen, why->msg, &e) == 0)
                break;
            if (e.kind != SL_ERR_RETRY || stopping(w)) {
                log_error(r->name, "cannot dead-letter %s[%d]@%lld: %s", topic, partition, (long long)offset, e.msg);
                return -1;
            }
            log_warn(r->name, "%s; retrying (attempt %d)", e.msg, attempt + 1);
            nap(w, backoff_ms(w, attempt));
        }
    }
    atomic_fetch_add(&w->rt->stats.dead_letters, 1);
    log_warn(r->name, "dead-lettered %s[%d]@%lld to %s: %s", topic, partition, (long long)offset,
             r->dlq_table ? r->dlq_table : r->dlq_topic, why->msg);
    return 0;
}

/* Sink callback: one row failed permanently during a write. */
static int on_reject(void *opaque, sl_flush *f, sl_batch *b, size_t idx, const sl_error *why)
{
    sl_worker *w = opaque;
    const sl_row *row = b->rows[idx];
    const sl_route_conf *r = b->route;
    if (r->on_error == SL_ONERR_FAIL) {
        log_error(r->name, "%s[%d]@%lld cannot be written to %s: %s", row->topic, row->partition,
                  (long long)row->offset, b->table->qname, why->msg);
        return -1;
    }
    (void)f;
    return handle_bad(w, r, row->topic, row->partition, row->offset, row->src_key, row->src_key_len,
                      row->src_value, row->src_value_len, why);
}

/* ---- flushing ---- */

static void pause_all(sl_worker *w, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(w->rk, &l) || !l)
        return;
    if (pause)
        rd_kafka_pause_partitions(w->rk, l);
    else
        rd_kafka_resume_partitions(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* While a write is retried: keep serving the group, drop what arrives. */
static void serve_while_paused(sl_worker *w, int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (!stopping(w) && !w->flush_aborted && now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 50);
        if (!m)
            continue;
        if (!m->err && m->rkt) {
            part *p = find_part(w, rd_kafka_topic_name(m->rkt), m->partition);
            if (p && !p->needs_seek && !p->revoked) {
                /* records arrive in order: the first one dropped is where to seek back to */
                if (p->next < 0)
                    p->next = m->offset;
                p->needs_seek = true;
            }
        }
        rd_kafka_message_destroy(m);
    }
}

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
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i].target == t && w->parts[i].dirty)
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
    for (size_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        if (p->target != t || !p->dirty)
            continue;
        ps[f->noffsets] = i;
        f->offsets[f->noffsets++] = (sl_offset){p->topic, p->partition, p->db, p->next};
    }
    f->group_id = sl_config_kafka_get(w->cfg, "group.id");
    f->reject = on_reject;
    f->reject_opaque = w;
    int rc = 0;
    bool paused = false;
    w->in_flush = true;
    w->flush_aborted = false;
    for (int attempt = 0;; attempt++) {
        sl_error err;
        sl_error_clear(&err);
        if (s->ops->write(s, f, &err) == 0)
            break;
        if (err.kind == SL_ERR_RETRY && !strcmp(err.sqlstate, SL_SQLSTATE_FENCED)) {
            log_warn(s->ctx, "%s", err.msg);
            rc = 1;
            break;
        }
        if (err.kind != SL_ERR_RETRY) {
            log_error(s->ctx, "write failed (%s): %s", sl_errkind_name(err.kind), err.msg);
            rc = -1;
            break;
        }
        atomic_fetch_add(&w->rt->stats.retries, 1);
        if (!retry || stopping(w)) {
            log_warn(s->ctx, "write failed: %s; %s", err.msg,
                     stopping(w) ? "stopping: nothing of it was committed, it will be read again"
                                 : "dropping the pending rows, they will be read again");
            rc = 1;
            break;
        }
        int64_t wait = backoff_ms(w, attempt);
        log_warn(s->ctx, "write failed (attempt %d): %s; partitions paused, retrying in %lld ms", attempt + 1,
                 err.msg, (long long)wait);
        if (!paused) {
            pause_all(w, true);
            paused = true;
        }
        serve_while_paused(w, wait);
        if (w->flush_aborted) {
            log_warn(s->ctx, "partitions were revoked while retrying; the pending rows are dropped and will be "
                             "read again by their new owner");
            rc = 1;
            break;
        }
    }
    w->in_flush = false;
    if (rc == 0) {
        atomic_fetch_add(&w->rt->stats.flushes, 1);
        atomic_fetch_add(&w->rt->stats.rows, (long long)(rows - deletes));
        atomic_fetch_add(&w->rt->stats.deletes, (long long)deletes);
        for (size_t i = 0; i < f->noffsets; i++) {
            part *p = &w->parts[ps[i]];
            p->safe = p->next;
            if (sl_sink_exactly_once(s))
                p->db = p->next;
            p->dirty = false;
        }
        for (size_t i = 0; i < f->nbatches; i++)
            sl_batch_clear(f->batches[i]);
        sl_flush_clear_deadletters(f);
        commit_to_kafka(w, ps, f->noffsets, !retry);
        log_debug(s->ctx, "committed %zu rows (%zu deletes) over %zu partitions", rows, deletes, f->noffsets);
    }
    free(ps);
    if (paused)
        pause_all(w, false);
    return rc;
}

/* Re-read stored offsets after a fence: another consumer wrote our partitions. */
static void reload_db_offsets(sl_worker *w)
{
    for (size_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        sl_sink *s = w->sinks[p->target];
        if (!sl_sink_exactly_once(s))
            continue;
        int64_t off = -1;
        sl_error err;
        if (s->ops->read_offsets(s, sl_config_kafka_get(w->cfg, "group.id"), p->topic, &p->partition, 1, &off, &err) == 0 &&
            off >= 0) {
            p->db = p->safe = off;
            p->dirty = true; /* makes rewind_parts seek there */
        }
    }
}

/* Write everything pending.  @retry: retry until it works (normal path);
 * otherwise one attempt (inside a rebalance).  On a failure that is not
 * retried, pending rows are dropped and partitions rewound. */
static int flush_all(sl_worker *w, bool retry)
{
    int rc = 0;
    for (size_t t = 0; t < w->cfg->ntargets && rc == 0; t++)
        rc = flush_target(w, t, retry);
    if (rc == 1) {
        discard_pending(w);
        /* exactly-once partitions resume where the database says (it may
         * have moved: a fence); reload_db_offsets() skips the others */
        if (!stopping(w))
            reload_db_offsets(w);
        rewind_parts(w, true);
    } else if (rc == 0) {
        w->pending_rows = w->pending_bytes = 0;
        w->first_pending_ms = 0;
        bool seek = false;
        for (size_t i = 0; i < w->nparts; i++)
            seek |= w->parts[i].needs_seek;
        if (seek)
            rewind_parts(w, true);
    } else {
        fail_worker(w, 1);
    }
    for (size_t i = 0; i < w->nparts;) { /* partitions revoked during the flush */
        if (w->parts[i].revoked)
            remove_part(w, w->parts[i].topic, w->parts[i].partition);
        else
            i++;
    }
    return rc;
}

/* ---- rebalance ---- */

static void on_assign(sl_worker *w, rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        part *p = add_part(w, tp->topic, tp->partition);
        tp->offset = RD_KAFKA_OFFSET_INVALID; /* the group's committed offset, then auto.offset.reset */
        if (!p->route) {
            log_error(w->ctx, "assigned %s[%d] but no route matches it", tp->topic, tp->partition);
            continue;
        }
        sl_sink *s = w->sinks[p->target];
        if (!sl_sink_exactly_once(s))
            continue;
        for (int attempt = 0;; attempt++) {
            sl_error err;
            int64_t off = -1;
            if (s->ops->read_offsets(s, sl_config_kafka_get(w->cfg, "group.id"), p->topic, &p->partition, 1, &off, &err) == 0) {
                p->db = off;
                if (off >= 0) {
                    tp->offset = off;
                    p->safe = off;
                }
                break;
            }
            if (err.kind != SL_ERR_RETRY || stopping(w)) {
                log_error(s->ctx, "cannot read the stored offset of %s[%d]: %s", p->topic, p->partition, err.msg);
                fail_worker(w, 1);
                break;
            }
            log_warn(s->ctx, "reading the stored offset of %s[%d] failed (attempt %d): %s", p->topic, p->partition,
                     attempt + 1, err.msg);
            nap(w, backoff_ms(w, attempt));
        }
    }
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->offset >= 0)
            log_info(w->ctx, "assigned %s[%d], resuming at offset %lld (from the database)", tp->topic,
                     tp->partition, (long long)tp->offset);
        else
            log_info(w->ctx, "assigned %s[%d], resuming at the group's committed offset", tp->topic, tp->partition);
    }
}

/* The database is the source of truth; bring Kafka's committed offsets up
 * to it (a commit lost in a rebalance would otherwise show as lag until new
 * records arrive).  Called after assign(), asynchronously. */
static void commit_db_offsets(sl_worker *w, const rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(l->cnt);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(c, l->elems[i].topic, l->elems[i].partition)->offset = l->elems[i].offset;
    if (c->cnt)
        rd_kafka_commit(w->rk, c, 1);
    rd_kafka_topic_partition_list_destroy(c);
}

static void on_revoke(sl_worker *w, rd_kafka_topic_partition_list_t *l, bool lost)
{
    if (w->in_flush) {
        /* a write is being retried: it cannot finish for partitions we lose */
        for (int i = 0; i < l->cnt; i++) {
            part *p = find_part(w, l->elems[i].topic, l->elems[i].partition);
            if (p) {
                p->revoked = true;
                if (p->dirty)
                    w->flush_aborted = true;
            }
        }
    } else if (lost) {
        log_warn(w->ctx, "partitions lost (session timed out); pending rows are dropped");
        discard_pending(w);
        rewind_parts(w, true);
    } else if (!w->failed) {
        flush_all(w, false);
    }
    for (int i = 0; i < l->cnt; i++) {
        log_info(w->ctx, "revoked %s[%d]", l->elems[i].topic, l->elems[i].partition);
        if (!w->in_flush) /* during a flush, parts are removed when it ends */
            remove_part(w, l->elems[i].topic, l->elems[i].partition);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
                         void *opaque)
{
    sl_worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(w, l);
        if (w->cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, l);
            if (e) {
                log_error(w->ctx, "incremental assign failed: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, l);
        }
        commit_db_offsets(w, l);
    } else {
        on_revoke(w, l, rd_kafka_assignment_lost(rk));
        if (w->cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, l);
            if (e) {
                log_error(w->ctx, "incremental unassign failed: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* ---- tables ---- */

char *sl_expand_table(const char *tmpl, const char *topic, const json_t *meta, sl_error *err)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    for (const char *s = tmpl; *s;) {
        if (s[0] != '$' || s[1] != '{') {
            sl_strbuf_putc(&sb, *s++);
            continue;
        }
        const char *end = strchr(s, '}');
        char name[256];
        size_t len = end ? (size_t)(end - s - 2) : 0;
        if (!end || len == 0 || len >= sizeof(name)) {
            sl_strbuf_free(&sb);
            sl_error_set(err, SL_ERR_FATAL, "bad template in table '%s'", tmpl);
            return NULL;
        }
        memcpy(name, s + 2, len);
        name[len] = '\0';
        const char *val = NULL;
        char num[32];
        if (!strcmp(name, "topic")) {
            val = topic;
        } else {
            const json_t *cur = meta;
            char *save = NULL;
            for (char *tok = strtok_r(name, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
                cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
            if (json_is_string(cur)) {
                val = json_string_value(cur);
            } else if (json_is_integer(cur)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(cur));
                val = num;
            }
            memcpy(name, s + 2, len);
            name[len] = '\0';
        }
        if (!val || !*val) {
            sl_strbuf_free(&sb);
            sl_error_set(err, SL_ERR_DATA, "table template '%s': ${%s} has no value in this record", tmpl, name);
            return NULL;
        }
        if (strpbrk(val, ".\"")) {
            sl_strbuf_putc(&sb, '"');
            for (const char *v = val; *v; v++) {
                if (*v == '"')
                    sl_strbuf_putc(&sb, '"');
                sl_strbuf_putc(&sb, *v);
            }
            sl_strbuf_putc(&sb, '"');
        } else {
            sl_strbuf_puts(&sb, val);
        }
        s = end + 1;
    }
    return sl_strbuf_steal(&sb);
}

static void tentry_fini(tentry *te)
{
    sl_batch_free(te->batch);
    sl_mapping_fini(&te->map);
    sl_table_free(te->table);
    free(te->name);
    te->batch = NULL;
    te->table = NULL;
}

/* Describe (and with auto_create/auto_evolve, shape) the table; retries while unreachable. */
static int load_table(sl_worker *w, tentry *te, const sl_change *c, sl_error *err)
{
    sl_sink *s = w->sinks[te->target];
    char *schema = NULL, *name = NULL;
    if (sl_split_table_name(te->name, s->conf->schema, &schema, &name))
        return sl_error_set(err, SL_ERR_FATAL, "route '%s': '%s' is not a valid table name", te->route->name, te->name);
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        sl_table *t = NULL;
        rc = s->ops->describe(s, schema, name, &t, err);
        if (rc == 0 && (te->route->auto_create || te->route->auto_evolve) && c && c->fields) {
            int changed = 0;
            rc = sl_schema_sync(s, te->route, schema, name, t, c, &changed, err);
            if (rc == 0 && changed) {
                sl_table_free(t);
                t = NULL;
                rc = s->ops->describe(s, schema, name, &t, err);
            }
        }
        if (rc == 0 && !t)
            rc = sl_error_set(err, SL_ERR_FATAL, "route '%s': table %s.%s does not exist%s", te->route->name, schema,
                              name, te->route->auto_create ? " (auto_create needs records with a schema)" : "");
        if (rc == 0 && sl_route_apply_key(te->route, t, err))
            rc = -1;
        if (rc == 0 && sl_mapping_init(&te->map, te->route, t, err))
            rc = -1;
        if (rc == 0) {
            te->table = t;
            te->batch = sl_batch_new(te->route, t);
            te->last_schema_id = c ? c->schema_id : -1;
            break;
        }
        sl_table_free(t);
        if (err->kind != SL_ERR_RETRY || stopping(w))
            break;
        log_warn(s->ctx, "reading table %s.%s failed (attempt %d): %s", schema, name, attempt + 1, err->msg);
        nap(w, backoff_ms(w, attempt));
    }
    free(schema);
    free(name);
    return rc;
}

static bool schema_differs(const tentry *te, const sl_change *c)
{
    if (!c->fields || !(te->route->auto_create || te->route->auto_evolve))
        return false;
    if (c->schema_id >= 0)
        return c->schema_id != te->last_schema_id;
    size_t i;
    json_t *f;
    json_array_foreach(c->fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && sl_table_find(te->table, n) < 0)
            return true;
    }
    return false;
}

static tentry *table_for(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                         sl_error *err)
{
    char *name = sl_expand_table(r->table, rec->topic, c->meta, err);
    if (!name)
        return NULL;
    tentry *te = NULL;
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].route == r && !strcmp(w->tables[i].name, name)) {
            te = &w->tables[i];
            break;
        }
    if (te) {
        free(name);
        if (!schema_differs(te, c))
            return te;
        /* the schema moved on: write what was built for the old shape first */
        if (flush_all(w, true) != 0)
            return sl_error_set(err, SL_ERR_FATAL, "flush before a schema change failed"), NULL;
        char *keep = te->name;
        te->name = NULL;
        tentry_fini(te);
        te->name = keep;
        if (load_table(w, te, c, err))
            return NULL;
        return te;
    }
    if (w->ntables == w->captables) {
        w->captables = w->captables ? w->captables * 2 : 8;
        /* entries are addressed by index only, so moving them is safe */
        w->tables = sl_xrealloc(w->tables, w->captables * sizeof(tentry));
    }
    te = &w->tables[w->ntables];
    memset(te, 0, sizeof(*te));
    te->route = r;
    te->name = name;
    te->target = target_index(w->cfg, r->target);
    if (load_table(w, te, c, err)) {
        free(te->name);
        return NULL;
    }
    w->ntables++;
    if (w->ntables > 10000)
        log_warn(w->ctx, "more than 10000 tables in use; every table keeps a batch and its catalog entry");
    return te;
}

/* ---- records ---- */

static int take_change(sl_worker *w, const sl_route_conf *r, const sl_record *rec, sl_change *c, sl_error *err)
{
    if (c->op == SL_OP_IGNORE) {
        atomic_fetch_add(&w->rt->stats.ignored, 1);
        return 0;
    }
    tentry *te = table_for(w, r, rec, c, err);
    if (!te)
        return -1;
    if (c->op == SL_OP_TRUNCATE) {
        if (r->truncate == SL_TRUNCATE_APPLY) {
            w->pending_bytes -= te->batch->bytes;
            sl_batch_truncate(te->batch);
            log_info(r->name, "truncate of %s at " SL_REC_FMT, te->table->qname, SL_REC_ARGS(rec));
        } else {
            atomic_fetch_add(&w->rt->stats.ignored, 1);
        }
        return 0;
    }
    if (c->op == SL_OP_DELETE && r->mode == SL_MODE_INSERT) {
        atomic_fetch_add(&w->rt->stats.ignored, 1);
        return 0;
    }
    if (sl_map_change(&te->map, c, rec, &w->rb, err))
        return -1;
    sl_op op = c->op;
    if (op == SL_OP_DELETE && te->map.soft_delete_col >= 0)
        op = SL_OP_UPSERT;
    bool keep = r->on_error == SL_ONERR_DLQ;
    sl_row *row = sl_rowbuilder_finish(&w->rb, op, rec->topic, rec->partition, rec->offset,
                                       keep ? (rec->key ? rec->key : "") : NULL, keep ? rec->key_len : 0,
                                       keep ? (rec->value ? rec->value : "") : NULL, keep ? rec->value_len : 0);
    size_t before = te->batch->bytes;
    sl_batch_add(te->batch, row);
    w->pending_bytes += te->batch->bytes - before;
    return 0;
}

/* 0: taken (or handled as bad); 1: retry this record later; -1: the worker stops. */
static int handle_record(sl_worker *w, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    part *p = find_part(w, topic, m->partition);
    if (!p) {
        log_debug(w->ctx, "record from unassigned %s[%d]; ignored", topic, m->partition);
        return 0;
    }
    if (p->next >= 0 && m->offset < p->next)
        return 0; /* already taken (delivered again after a seek) */
    if (p->db >= 0 && m->offset < p->db)
        return 0; /* already in the database (e.g. auto.offset.reset after an out-of-range) */
    if (p->safe < 0)
        p->safe = m->offset;
    const sl_route_conf *r = p->route;
    if (!r) {
        log_error(w->ctx, "no route for %s[%d]@%lld", topic, m->partition, (long long)m->offset);
        fail_worker(w, 1);
        return -1;
    }
    sl_record rec = {
        .topic = p->topic,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
    };
    rd_kafka_timestamp_type_t tst;
    rec.timestamp = rd_kafka_message_timestamp(m, &tst);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rec.headers = hdrs;
    sl_decoder *d = &w->decoders[r - w->cfg->routes];
    sl_change c;
    sl_error err;
    sl_error_clear(&err);
    int rc = sl_decode(d, &rec, &c, &err);
    if (rc == 0) {
        rc = take_change(w, r, &rec, &c, &err);
        sl_change_clear(&c);
    }
    if (rc && err.kind == SL_ERR_RETRY)
        return 1;
    if (rc) {
        if (err.kind == SL_ERR_FATAL ||
            handle_bad(w, r, rec.topic, rec.partition, rec.offset, rec.key, rec.key_len, rec.value, rec.value_len,
                       &err)) {
            log_error(r->name, SL_REC_FMT ": %s", SL_REC_ARGS(&rec), err.msg);
            if (err.kind != SL_ERR_FATAL)
                log_error(r->name, "stopping (on_error: fail): offsets are committed up to, not past, "
                                   SL_REC_FMT, SL_REC_ARGS(&rec));
            return -1;
        }
    }
    atomic_fetch_add(&w->rt->stats.records, 1);
    p->next = m->offset + 1;
    p->dirty = true;
    if (w->pending_rows++ == 0)
        w->first_pending_ms = now_ms();
    return 0;
}

/* ---- lifecycle ---- */

static rd_kafka_t *make_consumer(sl_worker *w)
{
    char es[512];
    rd_kafka_conf_t *c = sl_kafka_conf(w->cfg, false, es, sizeof(es));
    if (!c) {
        log_error(w->ctx, "%s", es);
        return NULL;
    }
    /* defaults that the kafka: section may override */
    if (!sl_config_kafka_get(w->cfg, "auto.offset.reset"))
        rd_kafka_conf_set(c, "auto.offset.reset", "earliest", es, sizeof(es));
    if (!sl_config_kafka_get(w->cfg, "client.id"))
        rd_kafka_conf_set(c, "client.id", "sluice", es, sizeof(es));
    /* Memory bounded by configuration: librdkafka's prefetch queue and fetch
     * sizes are what a worker holds besides its batch.  These defaults keep
     * a worker near 20 MiB while still fetching ahead of the writer. */
    static const char *const fetch_defaults[][2] = {
        {"queued.max.messages.kbytes", "4096"},
        /* librdkafka's overhead is per message: small records need a cap by count */
        {"queued.min.messages", "20000"},
        {"fetch.max.bytes", "4194304"},
        {"max.partition.fetch.bytes", "1048576"},
        /* a fetch that finds nothing waits this long: bounds produce-to-visible latency */
        {"fetch.wait.max.ms", "10"},
    };
    for (size_t i = 0; i < sizeof(fetch_defaults) / sizeof(fetch_defaults[0]); i++)
        if (!sl_config_kafka_get(w->cfg, fetch_defaults[i][0]))
            rd_kafka_conf_set(c, fetch_defaults[i][0], fetch_defaults[i][1], es, sizeof(es));
    /* after a full prefetch queue, fetch again as soon as it has room: by
     * librdkafka itself where it knows how, else by restart_fetch() */
    bool own_backoff = sl_config_kafka_get(w->cfg, "fetch.queue.backoff.ms") != NULL ||
                       rd_kafka_conf_set(c, "fetch.queue.backoff.ms", "10", es, sizeof(es)) == RD_KAFKA_CONF_OK;
    if (!own_backoff) {
        char v[32];
        size_t n = sizeof(v);
        long kbytes = rd_kafka_conf_get(c, "queued.max.messages.kbytes", v, &n) == RD_KAFKA_CONF_OK ? atol(v) : 0;
        n = sizeof(v);
        long msgs = rd_kafka_conf_get(c, "queued.min.messages", v, &n) == RD_KAFKA_CONF_OK ? atol(v) : 0;
        /* half a queue: the queue is refilled in fetch-sized steps and
         * seldom sits exactly at its limit */
        w->refill_bytes = kbytes > 0 ? (size_t)kbytes * 1024 / 2 : 0;
        w->refill_msgs = msgs > 0 ? (size_t)msgs / 2 : 0;
    }
    rd_kafka_conf_set(c, "enable.auto.commit", "false", es, sizeof(es));
    rd_kafka_conf_set(c, "enable.auto.offset.store", "false", es, sizeof(es));
    rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
    rd_kafka_conf_set_opaque(c, w);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    if (!rk) {
        log_error(w->ctx, "cannot create the Kafka consumer: %s", es);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static int subscribe(sl_worker *w)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < w->cfg->nroutes; i++) {
        const sl_route_conf *r = &w->cfg->routes[i];
        for (size_t t = 0; t < r->ntopics; t++)
            rd_kafka_topic_partition_list_add(l, r->topics[t], RD_KAFKA_PARTITION_UA);
        if (r->topic_pattern)
            rd_kafka_topic_partition_list_add(l, r->topic_pattern, RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        log_error(w->ctx, "subscribe failed: %s", rd_kafka_err2str(e));
        return -1;
    }
    w->cooperative = !strcmp(rd_kafka_rebalance_protocol(w->rk), "COOPERATIVE");
    return 0;
}

sl_worker *sl_worker_new(sl_runtime *rt, int id)
{
    sl_worker *w = sl_xcalloc(1, sizeof(*w));
    w->rt = rt;
    w->cfg = rt->cfg;
    w->id = id;
    snprintf(w->ctx, sizeof(w->ctx), "worker %d", id);
    sl_rowbuilder_init(&w->rb);
    w->sinks = sl_xcalloc(w->cfg->ntargets, sizeof(sl_sink *));
    w->flushes = sl_xcalloc(w->cfg->ntargets, sizeof(sl_flush));
    w->decoders = sl_xcalloc(w->cfg->nroutes, sizeof(sl_decoder));
    sl_error err;
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        w->sinks[t] = sl_sink_new(&w->cfg->targets[t], id, &err);
    for (size_t r = 0; r < w->cfg->nroutes; r++) {
        if (sl_decoder_init(&w->decoders[r], &w->cfg->routes[r], rt->registry, &err)) {
            log_error(w->ctx, "route '%s': %s", w->cfg->routes[r].name, err.msg);
            sl_worker_free(w);
            return NULL;
        }
    }
    return w;
}

void sl_worker_free(sl_worker *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ntables; i++)
        tentry_fini(&w->tables[i]);
    free(w->tables);
    for (size_t i = 0; i < w->nparts; i++)
        free(w->parts[i].topic);
    free(w->parts);
    for (size_t r = 0; r < w->cfg->nroutes; r++)
        if (w->decoders[r].route)
            sl_decoder_fini(&w->decoders[r]);
    free(w->decoders);
    for (size_t t = 0; t < w->cfg->ntargets; t++) {
        sl_flush_clear_deadletters(&w->flushes[t]);
        free(w->flushes[t].dead);
        free(w->flushes[t].batches);
        free(w->flushes[t].offsets);
        sl_sink_free(w->sinks[t]);
    }
    free(w->flushes);
    free(w->sinks);
    if (w->dlq) {
        rd_kafka_flush(w->dlq, 10000);
        rd_kafka_destroy(w->dlq);
    }
    sl_rowbuilder_free(&w->rb);
    free(w);
}

static bool due(const sl_worker *w)
{
    if (w->pending_rows == 0)
        return false;
    return w->pending_rows >= (size_t)w->cfg->batch.max_rows || w->pending_bytes >= (size_t)w->cfg->batch.max_bytes ||
           now_ms() - w->first_pending_ms >= w->cfg->batch.linger_ms;
}

void *sl_worker_run(void *arg)
{
    sl_worker *w = arg;
    srand((unsigned)(time(NULL) ^ (w->id * 7919)));
    w->rk = make_consumer(w);
    if (!w->rk || subscribe(w)) {
        fail_worker(w, 1);
        return NULL;
    }
    log_info(w->ctx, "joined group '%s'%s", sl_config_kafka_get(w->cfg, "group.id"),
             w->cooperative ? " (cooperative rebalancing)" : "");
    int retry_attempt = 0;
    while (!stopping(w)) {
        /* With rows pending, a short poll tells whether the consumer has
         * caught up: if nothing more is waiting, write now (low latency for
         * a trickle); under load the queue never drains and batches fill to
         * max_rows.  linger_ms bounds the wait either way. */
        int timeout = w->pending_rows ? IDLE_FLUSH_MS : 100;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout);
        if (m && !m->err) {
            w->drained_bytes += m->len + m->key_len;
            w->drained_msgs++;
        } else if (!m) {
            restart_fetch(w);
        }
        if (!m && w->pending_rows && !stopping(w) && now_ms() - w->first_pending_ms >= IDLE_FLUSH_MIN_AGE_MS) {
            flush_all(w, true);
            continue;
        }
        if (m) {
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
                    sl_log(fatal ? SL_LOG_ERROR : SL_LOG_WARN, w->ctx, "consumer: %s", rd_kafka_message_errstr(m));
                    if (fatal)
                        fail_worker(w, 1);
                }
            } else {
                int rc = handle_record(w, m);
                if (rc < 0) {
                    rd_kafka_message_destroy(m);
                    /* records before the bad one are good: write and commit them */
                    flush_all(w, true);
                    fail_worker(w, 1);
                    break;
                }
                if (rc == 1) {
                    /* a dependency is down: write what we have, then read this record again */
                    part *p = find_part(w, rd_kafka_topic_name(m->rkt), m->partition);
                    if (flush_all(w, true) == 0 && p) {
                        p->next = m->offset;
                        p->needs_seek = true;
                        rewind_parts(w, true);
                    }
                    int64_t wait = backoff_ms(w, retry_attempt++);
                    log_warn(w->ctx, "%s[%d]@%lld must wait for a dependency; retrying in %lld ms",
                             rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset, (long long)wait);
                    rd_kafka_message_destroy(m);
                    pause_all(w, true);
                    serve_while_paused(w, wait);
                    pause_all(w, false);
                    rewind_parts(w, true);
                    continue;
                }
                retry_attempt = 0;
            }
            rd_kafka_message_destroy(m);
        }
        if (due(w))
            flush_all(w, true);
    }
    if (!w->failed || w->pending_rows)
        flush_all(w, true);
    log_info(w->ctx, "leaving the group");
    rd_kafka_consumer_close(w->rk);
    rd_kafka_destroy(w->rk);
    w->rk = NULL;
    return NULL;
}
