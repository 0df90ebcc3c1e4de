/* consumer.c - the worker's Kafka consumer: its configuration, the
 * subscription, rebalances, seeks, offset commits, pausing and the fetch
 * restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kafka.h"
#include "sluice/log.h"
#include "sluice/pipeline.h"
#include "worker_int.h"

void sl_worker_commit(sl_worker *w, const size_t *ps, size_t n, bool sync)
{
    if (n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const sl_part *p = &w->parts.v[ps[i]];
        if (!p->revoked && p->safe >= 0)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->safe;
    }
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(w->rk, l, sync ? 0 : 1);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn(w->ctx, "committing offsets to Kafka failed: %s%s", rd_kafka_err2str(e),
                 sl_sink_exactly_once(w->sinks[w->parts.v[ps[0]].target])
                     ? " (the database holds them: no effect on delivery)"
                     : " (they will be committed with the next batch)");
    rd_kafka_topic_partition_list_destroy(l);
}

static void seek_parts(sl_worker *w, bool keep_pending)
{
    size_t *seek = sl_xcalloc(w->parts.n ? w->parts.n : 1, sizeof(size_t));
    size_t n = keep_pending ? sl_parts_refetch(&w->parts, seek) : sl_parts_rewind(&w->parts, seek);
    if (n) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
        for (size_t i = 0; i < n; i++) {
            const sl_part *p = &w->parts.v[seek[i]];
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->next;
        }
        rd_kafka_error_t *e = sl_kafka_seek(w->rk, l, 10000);
        if (e) {
            log_error(w->ctx, "seeking back failed: %s; restarting the worker's consumption is needed",
                      rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            sl_worker_fail(w, 1);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    free(seek);
}

void sl_worker_rewind(sl_worker *w)
{
    seek_parts(w, false);
}

void sl_worker_refetch(sl_worker *w)
{
    seek_parts(w, true);
}

/* librdkafka without fetch.queue.backoff.ms (2.0.2, as Debian 12 ships it)
 * stops fetching a partition while its prefetch queue holds
 * queued.max.messages.kbytes or queued.min.messages, and looks at it
 * again only on its broker thread's next wakeup: up to a second
 * later, however soon the worker empties the queue.  A worker that catches
 * up faster than that then idles for the rest of the second, so throughput
 * would be capped at one queue per second (with the defaults 4 MiB or
 * 20,000 records a second, whichever is fewer).
 * Versions that have fetch.queue.backoff.ms get it set instead
 * (sl_worker_make_consumer()).
 *
 * When the worker finds the queue empty after taking half a queue's worth
 * of records since the last time, it seeks every partition to the offset it
 * reads next.  The seek is served by the broker thread at once and restarts
 * fetching from exactly that offset; nothing is skipped or read twice, and
 * the queue being empty, nothing prefetched is thrown away.  A trickle of
 * records never triggers it. */
void sl_worker_restart_fetch(sl_worker *w)
{
    if (!w->refill_bytes || (w->drained_bytes < w->refill_bytes && w->drained_msgs < w->refill_msgs))
        return;
    w->drained_bytes = w->drained_msgs = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < w->parts.n; i++) {
        const sl_part *p = &w->parts.v[i];
        int64_t from = sl_part_fetch_from(p);
        if (from >= 0)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = from;
    }
    if (l->cnt) {
        /* asynchronous: a partition revoked meanwhile is simply not sought */
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->rk, l, 0);
        if (e)
            rd_kafka_error_destroy(e);
        sl_metrics_add(w->rt->metrics, SL_M_FETCH_RESTARTS, 1, NULL, NULL, NULL);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

bool sl_worker_caught_up(sl_worker *w)
{
    if (!w->queue || rd_kafka_queue_length(w->queue) > 0 || w->parts.n == 0)
        return false;
    for (size_t i = 0; i < w->parts.n; i++) {
        const sl_part *p = &w->parts.v[i];
        if (p->revoked || !p->route || p->unknown)
            continue; /* (an unknown one has nothing to take until it is sought) */
        /* where it reads next: after the last record taken, else where it resumed */
        int64_t pos = p->next >= 0 ? p->next : p->safe, lo = -1, hi = -1;
        /* cached from the last fetch response: no request to the broker */
        if (pos < 0 || rd_kafka_get_watermark_offsets(w->rk, p->topic, p->partition, &lo, &hi) || hi < 0 || pos < hi)
            return false;
    }
    return true;
}

/* the paused-partitions gauge: the whole assignment, or the partitions
 * whose stored offset is not known yet */
static void count_paused(sl_worker *w, int assigned)
{
    int n = 0;
    if (w->paused_all)
        n = assigned;
    else
        for (size_t i = 0; i < w->parts.n; i++)
            n += w->parts.v[i].unknown && !w->parts.v[i].revoked;
    sl_series_add(sl_metrics_series(w->rt->metrics, SL_M_PAUSED, NULL, NULL, NULL), n - w->paused_n);
    w->paused_n = n;
}

static bool offset_unknown(sl_worker *w, const rd_kafka_topic_partition_t *tp)
{
    const sl_part *p = sl_parts_find(&w->parts, tp->topic, tp->partition);
    return p && p->unknown && !p->revoked;
}

void sl_worker_pause(sl_worker *w, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(w->rk, &l) || !l)
        return;
    w->paused_all = pause;
    if (pause) {
        rd_kafka_pause_partitions(w->rk, l);
    } else {
        /* a partition whose stored offset is not known stays paused */
        rd_kafka_topic_partition_list_t *r = rd_kafka_topic_partition_list_new(l->cnt);
        for (int i = 0; i < l->cnt; i++)
            if (!offset_unknown(w, &l->elems[i]))
                rd_kafka_topic_partition_list_add(r, l->elems[i].topic, l->elems[i].partition);
        if (r->cnt)
            rd_kafka_resume_partitions(w->rk, r);
        rd_kafka_topic_partition_list_destroy(r);
    }
    count_paused(w, l->cnt);
    rd_kafka_topic_partition_list_destroy(l);
}

void sl_worker_serve_paused(sl_worker *w, int64_t ms)
{
    int64_t end = sl_worker_now_ms() + ms;
    while (!sl_worker_stopping(w) && sl_worker_now_ms() < end) {
        sl_worker_beat(w);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 50);
        if (!m)
            continue;
        if (!m->err && m->rkt) {
            sl_part *p = sl_parts_find(&w->parts, rd_kafka_topic_name(m->rkt), m->partition);
            if (p)
                sl_part_dropped(p, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
}

/* ---- rebalance ---- */

static void on_assign(sl_worker *w, rd_kafka_topic_partition_list_t *l)
{
    bool *down = sl_xcalloc(w->cfg->ntargets ? w->cfg->ntargets : 1, sizeof(bool));
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        const sl_route_conf *route = sl_pipeline_route(w->cfg, w->pipe_target, tp->topic);
        sl_part *p = sl_parts_assign(&w->parts, tp->topic, tp->partition, route,
                                     route ? sl_worker_target_index(w->cfg, route->target) : 0);
        tp->offset = RD_KAFKA_OFFSET_INVALID; /* the group's committed offset, then auto.offset.reset */
        p->records = p->route ? sl_metrics_series(w->rt->metrics, SL_M_RECORDS, p->route->name, p->topic, NULL) : NULL;
        p->fan = p->route ? sl_worker_fan(w, p->topic) : NULL;
        if (!p->route && w->pipe_target != SL_PIPE_MAIN) {
            log_info(w->ctx, "assigned %s[%d]: the main pipeline writes it to target %s; its records are passed over",
                     tp->topic, tp->partition, w->cfg->targets[w->pipe_target].name);
            continue;
        }
        if (!p->route) {
            log_error(w->ctx, "assigned %s[%d] but no route matches it", tp->topic, tp->partition);
            continue;
        }
        sl_sink *s = w->sinks[p->target];
        if (!sl_sink_exactly_once(s))
            continue;
        /* one attempt: a database that cannot be reached must not hold up
         * the group's rebalance (this callback); the partition is then
         * assigned paused, its offset read from the poll loop */
        if (down[p->target]) {
            sl_part_unknown(p);
            continue;
        }
        sl_worker_claim_sink(w, p->target);
        sl_error err;
        int64_t off = -1;
        if (s->ops->read_offsets(s, w->group, p->topic, &p->partition, 1, &off, &err) == 0) {
            sl_part_stored(p, off);
            if (off >= 0)
                tp->offset = off;
        } else if (err.kind != SL_ERR_RETRY) {
            log_error(s->ctx, "cannot read the stored offset of %s[%d]: %s", p->topic, p->partition, err.msg);
            sl_worker_fail(w, 1);
        } else {
            log_warn(s->ctx, "reading the stored offset of %s[%d] failed: %s", p->topic, p->partition, err.msg);
            down[p->target] = true;
            sl_part_unknown(p);
        }
    }
    free(down);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->offset >= 0)
            log_info(w->ctx, "assigned %s[%d], resuming at offset %lld (from the database)", tp->topic,
                     tp->partition, (long long)tp->offset);
        else if (offset_unknown(w, tp))
            log_info(w->ctx, "assigned %s[%d], paused until its stored offset can be read", tp->topic,
                     tp->partition);
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

/* Partitions of @l (just assigned) whose stored offset could not be read
 * are paused (after the assignment: assigning resumes a partition only
 * from librdkafka's own pauses); records fetched before the pause takes
 * effect are dropped (record.c).  The others are resumed unless the worker
 * has paused everything: a pause of ours outlives a revoke, and a
 * partition paused while its offset was unknown, revoked, and assigned
 * again with its offset read would otherwise never be fetched. */
static void pause_unknown(sl_worker *w, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *u = rd_kafka_topic_partition_list_new(l->cnt);
    rd_kafka_topic_partition_list_t *k = rd_kafka_topic_partition_list_new(l->cnt);
    for (int i = 0; i < l->cnt; i++)
        rd_kafka_topic_partition_list_add(offset_unknown(w, &l->elems[i]) ? u : k, l->elems[i].topic,
                                          l->elems[i].partition);
    if (u->cnt) {
        rd_kafka_pause_partitions(w->rk, u);
        w->offsets_unknown = true;
        w->offsets_attempt = 0;
        w->offsets_next_ms = sl_worker_now_ms() + sl_worker_backoff_ms(w, 0);
    }
    if (k->cnt && !w->paused_all)
        rd_kafka_resume_partitions(w->rk, k);
    rd_kafka_topic_partition_list_destroy(u);
    rd_kafka_topic_partition_list_destroy(k);
    rd_kafka_topic_partition_list_t *a = NULL;
    if (!rd_kafka_assignment(w->rk, &a) && a) {
        count_paused(w, a->cnt);
        rd_kafka_topic_partition_list_destroy(a);
    }
}

/* sluice_consumer_lag of the partitions waiting for their stored offset:
 * paused before their first fetch, librdkafka's statistics do not know
 * their high watermark.  The group's committed offset and the high
 * watermark are asked of the brokers (two requests). */
static void report_unknown_lag(sl_worker *w)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < w->parts.n; i++)
        if (w->parts.v[i].unknown && !w->parts.v[i].revoked)
            rd_kafka_topic_partition_list_add(l, w->parts.v[i].topic, w->parts.v[i].partition);
    if (l->cnt && rd_kafka_committed(w->rk, l, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < l->cnt; i++) {
            int64_t lo = -1, hi = -1;
            if (l->elems[i].err || l->elems[i].offset < 0 ||
                rd_kafka_query_watermark_offsets(w->rk, l->elems[i].topic, l->elems[i].partition, &lo, &hi, 2000) ||
                hi < l->elems[i].offset)
                continue;
            sl_metrics_lag_set(w->rt->metrics, w->group, l->elems[i].topic, l->elems[i].partition,
                               hi - l->elems[i].offset);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* The stored offsets of partitions assigned while the database could not
 * be reached (on_assign()).  Each is read, the partition sought there
 * while still paused and then resumed: nothing of it is taken before (its
 * records are dropped, record.c).  A seek refused because librdkafka has
 * not started the partition yet (it is still fetching the group's committed
 * offset) is tried again on the next turn of the loop, as is a partition
 * whose target is busy writing. */
void sl_worker_read_unknown_offsets(sl_worker *w)
{
    if (!w->offsets_unknown || sl_worker_stopping(w) || sl_worker_now_ms() < w->offsets_next_ms)
        return;
    bool down = false;
    for (size_t i = 0; i < w->parts.n && !down && !w->failed; i++) {
        sl_part *p = &w->parts.v[i];
        if (!p->unknown || p->revoked)
            continue;
        sl_sink *s = w->sinks[p->target];
        if (sl_writer_check(&w->writers[p->target], NULL) != SL_WRITER_IDLE)
            continue; /* the writer holds the connection: next turn */
        sl_error err;
        int64_t db = -1;
        if (s->ops->read_offsets(s, w->group, p->topic, &p->partition, 1, &db, &err)) {
            if (err.kind != SL_ERR_RETRY) {
                log_error(s->ctx, "cannot read the stored offset of %s[%d]: %s", p->topic, p->partition, err.msg);
                sl_worker_fail(w, 1);
                return;
            }
            log_warn(s->ctx, "reading the stored offset of %s[%d] failed (attempt %d): %s; it stays paused",
                     p->topic, p->partition, w->offsets_attempt + 1, err.msg);
            down = true;
            break;
        }
        int64_t to = db >= 0 ? db : p->needs_seek ? p->next : -1;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
        bool sought = true;
        if (to >= 0) {
            tp->offset = to;
            rd_kafka_error_t *e = sl_kafka_seek(w->rk, l, 10000);
            if (e || tp->err) {
                log_debug(w->ctx, "seeking %s[%d] to %lld: %s; trying again", p->topic, p->partition, (long long)to,
                          e ? rd_kafka_error_string(e) : rd_kafka_err2str(tp->err));
                sought = false;
            }
            if (e)
                rd_kafka_error_destroy(e);
        }
        if (sought) {
            sl_part_known(p, db);
            if (!w->paused_all)
                rd_kafka_resume_partitions(w->rk, l);
            if (db >= 0) {
                /* as at assignment: Kafka's committed offset brought up to the database's */
                rd_kafka_commit(w->rk, l, 1);
            }
            if (to >= 0)
                log_info(w->ctx, "%s[%d]: stored offset read, resuming at offset %lld%s", p->topic, p->partition,
                         (long long)to, db >= 0 ? " (from the database)" : "");
            else
                log_info(w->ctx, "%s[%d]: stored offset read, resuming at the group's committed offset", p->topic,
                         p->partition);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_topic_partition_list_t *a = NULL;
    if (!rd_kafka_assignment(w->rk, &a) && a) {
        count_paused(w, a->cnt);
        rd_kafka_topic_partition_list_destroy(a);
    }
    if (down) {
        report_unknown_lag(w);
        w->offsets_next_ms = sl_worker_now_ms() + sl_worker_backoff_ms(w, w->offsets_attempt++);
        return;
    }
    w->offsets_attempt = 0;
    w->offsets_unknown = false;
    for (size_t i = 0; i < w->parts.n; i++)
        w->offsets_unknown |= w->parts.v[i].unknown && !w->parts.v[i].revoked;
    w->offsets_next_ms = sl_worker_now_ms() + 20;
}

/* Before partitions go, the write in flight ends: it makes no further
 * attempt, and its result is reaped (committed, or its rows dropped and
 * read again by the partitions' next owner).  Then what is pending gets
 * one attempt, as before any rebalance. */
static void on_revoke(sl_worker *w, rd_kafka_topic_partition_list_t *l, bool lost)
{
    /* answering a row a write rejected (the write waits for us): it cannot
     * be waited for here; the partitions are marked, and removed when it ends */
    bool in_write = w->rejecting != NULL;
    w->revoking = true;
    if (in_write) {
        log_warn(w->ctx, "partitions revoked during a write; it is given up");
        sl_worker_abort_writes(w);
    } else if (lost) {
        log_warn(w->ctx, "partitions lost (session timed out); pending rows are dropped");
        sl_worker_end_writes(w);
        sl_worker_discard_pending(w);
        sl_worker_rewind(w);
    } else if (!w->failed) {
        sl_worker_abort_writes(w);
        sl_worker_flush(w, false);
    } else {
        sl_worker_end_writes(w);
    }
    w->revoking = false;
    if (lost || w->failed)
        sl_worker_carry_forget(w);
    else
        sl_worker_carry_revoke(w, l, !w->cooperative);
    for (int i = 0; i < l->cnt; i++) {
        log_info(w->ctx, "revoked %s[%d]", l->elems[i].topic, l->elems[i].partition);
        sl_metrics_lag_forget(w->rt->metrics, w->group, l->elems[i].topic, l->elems[i].partition);
        sl_parts_revoke(&w->parts, l->elems[i].topic, l->elems[i].partition, in_write);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
                         void *opaque)
{
    sl_worker *w = opaque;
    sl_metrics *m = w->rt->metrics;
    sl_series *assigned = sl_metrics_series(m, SL_M_ASSIGNED, NULL, NULL, NULL);
    int before = w->assigned_n;
    /* the group's protocol is known here (not yet when subscribing); a
     * revoke from rd_kafka_consumer_close() may find it gone, and keeps the
     * one the assignment was made with */
    w->cooperative = sl_kafka_cooperative(rk, w->cooperative);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* eager: the list is the whole assignment; cooperative: what is added */
        w->assigned_n = w->cooperative ? w->assigned_n + l->cnt : l->cnt;
        sl_series_add(assigned, w->assigned_n - before);
        on_assign(w, l);
        sl_worker_carry_assign(w, l);
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
        pause_unknown(w, l);
    } else {
        w->assigned_n = w->cooperative ? w->assigned_n - l->cnt : 0;
        if (w->assigned_n < 0)
            w->assigned_n = 0;
        sl_series_add(assigned, w->assigned_n - before);
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
    /* counted once handled: READY=1 waits for it (app.c) */
    sl_metrics_add(m, SL_M_REBALANCES, 1, NULL, NULL, NULL);
}

/* ---- creation ---- */

/* Client-level errors (consumer errors come as messages: worker.c).  A
 * broker connection that failed was already logged by librdkafka (FAIL,
 * naming the broker: kafka.c): saying it again would double every line of
 * an outage.  A fatal error (a fenced static member) stops the worker. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sl_worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, why, sizeof(why));
        log_error(w->ctx, "Kafka consumer: fatal error %s: %s", rd_kafka_err2name(cause), why);
        sl_worker_fail(w, 1);
        return;
    }
    sl_loglevel l = err == RD_KAFKA_RESP_ERR__TRANSPORT        ? SL_LOG_DEBUG
                    : err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ? SL_LOG_WARN
                                                                 : SL_LOG_ERROR;
    sl_log(l, w->ctx, "Kafka consumer: %s", reason);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    sl_worker *w = opaque;
    sl_metrics_kafka_stats(w->rt->metrics, w->group, json, len);
    return 0; /* librdkafka frees @json */
}

rd_kafka_t *sl_worker_make_consumer(sl_worker *w)
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
    /* static membership: every consumer of the group needs an id of its
     * own, so with several workers each appends its number */
    const char *instance = sl_config_kafka_get(w->cfg, "group.instance.id");
    if (instance && w->cfg->workers > 1 && w->pipe_target == SL_PIPE_MAIN) {
        char id[512];
        snprintf(id, sizeof(id), "%s-%d", instance, w->id);
        rd_kafka_conf_set(c, "group.instance.id", id, es, sizeof(es));
    }
    if (w->pipe_target != SL_PIPE_MAIN) {
        /* a fan-out pipeline is a group of its own (pipeline.h); a static
         * member of it is named after its target too */
        rd_kafka_conf_set(c, "group.id", w->group, es, sizeof(es));
        if (instance) {
            char id[512];
            snprintf(id, sizeof(id), "%s-%s-%d", instance, w->cfg->targets[w->pipe_target].name, w->id);
            rd_kafka_conf_set(c, "group.instance.id", id, es, sizeof(es));
        }
    }
    /* Memory bounded by configuration: librdkafka's prefetch queue and fetch
     * sizes are what a worker holds besides its batch.  These defaults keep
     * a worker near 20 MiB while still fetching ahead of the writer. */
    static const char *const fetch_defaults[][2] = {
        {"queued.max.messages.kbytes", "4096"},
        /* librdkafka's overhead is per message: small records need a cap by count */
        {"queued.min.messages", "20000"},
        /* a fetch response stays in memory while any of its records is
         * queued: on a real broker 4 MiB responses took a worker's peak
         * RSS from 42 to 70 MiB, for no gain in throughput */
        {"fetch.max.bytes", "2097152"},
        {"max.partition.fetch.bytes", "1048576"},
        /* a fetch that finds nothing waits this long: bounds produce-to-visible latency */
        {"fetch.wait.max.ms", "10"},
    };
    for (size_t i = 0; i < sizeof(fetch_defaults) / sizeof(fetch_defaults[0]); i++)
        if (!sl_config_kafka_get(w->cfg, fetch_defaults[i][0]))
            rd_kafka_conf_set(c, fetch_defaults[i][0], fetch_defaults[i][1], es, sizeof(es));
    /* after a full prefetch queue, fetch again as soon as it has room: by
     * librdkafka itself where it knows how, else by sl_worker_restart_fetch().
     * Every millisecond: on the CDC benchmark's feed (1,000,000 events of
     * 3.8 KB, one partition, librdkafka 2.8.0) eight runs took 5.95 s at
     * the median, against 7.24 s looking every 10 ms; a full queue's check
     * is a few microseconds of the broker thread. */
    bool own_backoff = sl_config_kafka_get(w->cfg, "fetch.queue.backoff.ms") != NULL ||
                       rd_kafka_conf_set(c, "fetch.queue.backoff.ms", "1", es, sizeof(es)) == RD_KAFKA_CONF_OK;
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
    /* consumer lag for /metrics comes from librdkafka's statistics, each
     * pipeline's under its own group (a fan-out pipeline's is <group.id>.<target>) */
    if (!sl_config_kafka_get(w->cfg, "statistics.interval.ms"))
        rd_kafka_conf_set(c, "statistics.interval.ms", "5000", es, sizeof(es));
    rd_kafka_conf_set_stats_cb(c, stats_cb);
    rd_kafka_conf_set_error_cb(c, error_cb);
    rd_kafka_conf_set_opaque(c, w);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    if (!rk) {
        log_error(w->ctx, "cannot create the Kafka consumer: %s", es);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    w->queue = rd_kafka_queue_get_consumer(rk);
    return rk;
}

int sl_worker_subscribe(sl_worker *w)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < w->cfg->nroutes; i++) {
        const sl_route_conf *r = &w->cfg->routes[i];
        /* several routes may name one topic (fan-out): librdkafka takes each once */
        for (size_t t = 0; t < r->ntopics; t++)
            if (sl_pipeline_subscribes(w->cfg, w->pipe_target, r, r->topics[t]) &&
                !rd_kafka_topic_partition_list_find(l, r->topics[t], RD_KAFKA_PARTITION_UA))
                rd_kafka_topic_partition_list_add(l, r->topics[t], RD_KAFKA_PARTITION_UA);
        if (r->topic_pattern && sl_pipeline_subscribes(w->cfg, w->pipe_target, r, NULL) &&
            !rd_kafka_topic_partition_list_find(l, r->topic_pattern, RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(l, r->topic_pattern, RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        log_error(w->ctx, "subscribe failed: %s", rd_kafka_err2str(e));
        return -1;
    }
    /* librdkafka names the rebalance protocol only once the group is
     * joined: until the first rebalance, go by the configured assignors
     * (librdkafka takes cooperative-sticky only alone) */
    const char *strategy = sl_config_kafka_get(w->cfg, "partition.assignment.strategy");
    w->cooperative = strategy && strstr(strategy, "cooperative") != NULL;
    return 0;
}

