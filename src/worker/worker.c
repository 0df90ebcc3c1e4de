/* worker.c - one consumer-group member: its lifecycle and its poll loop,
 * which hands records to record.c and writes (flush.c) when a batch is due
 * or the consumer has caught up.  The jobs it delegates are listed in
 * worker_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/log.h"
#include "sluice/pipeline.h"
#include "worker_int.h"

/* A poll that waits this long without a record means the consumer has
 * caught up with its partitions (so does sl_worker_caught_up(), which a
 * steady stream needs: its records may arrive more often than this). */
#define IDLE_FLUSH_MS 2
/* ... and a batch this old is worth writing then: younger ones wait for
 * more, so that a consumer briefly outrunning its fetches keeps batches large. */
#define IDLE_FLUSH_MIN_AGE_MS 15
/* While a write is in flight and nothing is pending, poll in steps this
 * short (rows the write rejects are answered between polls). */
#define WRITING_POLL_MS 5

int64_t sl_worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sl_worker_fail(sl_worker *w, int code)
{
    w->failed = true;
    int zero = 0;
    atomic_compare_exchange_strong(&w->rt->exit_code, &zero, code);
    atomic_store(&w->rt->stop, true);
}

void sl_worker_beat(const sl_worker *w)
{
    if (w->id <= 0 || w->id > SL_MAX_WORKERS)
        return;
    int64_t now = sl_worker_now_ms(), oldest = 0;
    int target = 0;
    for (size_t t = 0; w->writers && t < w->cfg->ntargets; t++) {
        int64_t since = atomic_load(&w->writers[t].attempt_ms);
        if (since && (!oldest || since < oldest)) {
            oldest = since;
            target = (int)t;
        }
    }
    atomic_store(&w->rt->worker_write_target[w->id], target);
    atomic_store(&w->rt->worker_write_ms[w->id], oldest);
    atomic_store(&w->rt->worker_beat_ms[w->id], now);
}

void sl_worker_cancel_writes(sl_worker *w)
{
    for (size_t t = 0; w && w->writers && t < w->cfg->ntargets; t++)
        if (w->writers[t].w)
            sl_writer_abort(&w->writers[t]);
}

int64_t sl_worker_backoff_ms(const sl_worker *w, int attempt)
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

void sl_worker_nap(const sl_worker *w, int64_t ms)
{
    int64_t end = sl_worker_now_ms() + ms;
    while (!sl_worker_stopping(w) && sl_worker_now_ms() < end) {
        sl_worker_beat(w);
        usleep(20000);
    }
}

sl_worker *sl_worker_new(sl_runtime *rt, int id, const sl_pipeline *pipe)
{
    sl_worker *w = sl_xcalloc(1, sizeof(*w));
    w->rt = rt;
    w->cfg = rt->cfg;
    w->id = id;
    w->pipe_target = pipe ? pipe->target : SL_PIPE_MAIN;
    const char *group = sl_config_kafka_get(w->cfg, "group.id");
    w->group = sl_xstrdup(pipe ? pipe->group : group ? group : "");
    if (w->pipe_target == SL_PIPE_MAIN)
        snprintf(w->ctx, sizeof(w->ctx), "worker %d", id);
    else
        snprintf(w->ctx, sizeof(w->ctx), "worker %d (%.16s)", id, pipe->name);
    sl_rowbuilder_init(&w->rb);
    w->uses = sl_xcalloc(w->cfg->ntargets ? w->cfg->ntargets : 1, sizeof(bool));
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        w->uses[t] = sl_pipeline_writes(w->cfg, w->pipe_target, t);
    w->sinks = sl_xcalloc(w->cfg->ntargets, sizeof(sl_sink *));
    w->flushes = sl_xcalloc(w->cfg->ntargets, sizeof(sl_flush));
    w->decoders = sl_xcalloc(w->cfg->nroutes, sizeof(sl_decoder));
    sl_worker_direct_init(w);
    sl_error err;
    for (size_t t = 0; t < w->cfg->ntargets; t++)
        w->sinks[t] = sl_sink_new(&w->cfg->targets[t], id);
    w->writers = sl_xcalloc(w->cfg->ntargets ? w->cfg->ntargets : 1, sizeof(sl_writer));
    for (size_t t = 0; t < w->cfg->ntargets; t++) {
        if (sl_writer_init(&w->writers[t], w, t)) {
            log_error(w->ctx, "cannot start the writer thread of target '%s'", w->cfg->targets[t].name);
            sl_worker_free(w);
            return NULL;
        }
    }
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
    for (size_t r = 0; r < w->cfg->nroutes; r++)
        if (w->decoders[r].route)
            sl_decoder_fini(&w->decoders[r]);
    free(w->decoders);
    sl_worker_direct_fini(w);
    sl_strbuf_free(&w->direct_key);
    /* the writers first: a write they give up may still ask about a row */
    for (size_t t = 0; w->writers && t < w->cfg->ntargets; t++)
        if (w->writers[t].w)
            sl_writer_fini(&w->writers[t]);
    free(w->writers);
    for (size_t i = 0; i < w->ntables; i++)
        sl_tentry_fini(&w->tables[i]);
    free(w->tables);
    for (size_t t = 0; t < w->cfg->ntargets; t++) {
        sl_flush_clear_deadletters(&w->flushes[t]);
        free(w->flushes[t].dead);
        free(w->flushes[t].batches);
        free(w->flushes[t].offsets);
        sl_sink_free(w->sinks[t]);
    }
    free(w->flushes);
    free(w->sinks);
    sl_worker_deadletters_free(w);
    sl_parts_free(&w->parts);
    sl_worker_fans_free(w);
    free(w->group);
    free(w->uses);
    sl_rowbuilder_free(&w->rb);
    json_decref(w->awaited);
    sl_worker_carry_free(w);
    free(w);
}

static bool due(const sl_worker *w)
{
    if (w->pending_rows == 0)
        return false;
    if (w->pending_rows >= (size_t)w->cfg->batch.max_rows || w->pending_bytes >= (size_t)w->cfg->batch.max_bytes)
        return true;
    int64_t now = sl_worker_now_ms();
    /* a key change's create still to come: counted from its delete, the
     * batch waits for linger_ms or SL_KEY_CHANGE_WAIT_MS, the longer (carry.c) */
    if (sl_worker_awaiting(w)) {
        int64_t wait = w->cfg->batch.linger_ms > SL_KEY_CHANGE_WAIT_MS ? w->cfg->batch.linger_ms : SL_KEY_CHANGE_WAIT_MS;
        return now - w->awaited_ms >= wait;
    }
    return now - w->first_pending_ms >= w->cfg->batch.linger_ms;
}

void sl_worker_target_up(sl_worker *w, size_t t, const sl_error *err)
{
    /* a failure to reach the server, as the sink judges it */
    bool down = sl_sink_unreachable(w->sinks[t], err);
    if (!err || down)
        sl_series_set(sl_metrics_series(w->rt->metrics, SL_M_TARGET_UP, w->cfg->targets[t].name, NULL, NULL),
                      down ? 0 : 1);
}

/* Connect every target not connected yet: at start, and while idle every
 * few seconds until it answers, so that readiness reflects it before
 * records arrive. */
static void probe_targets(sl_worker *w)
{
    int64_t now = sl_worker_now_ms();
    if (now < w->next_probe_ms)
        return;
    w->next_probe_ms = now + 5000;
    for (size_t t = 0; t < w->cfg->ntargets; t++) {
        if (!sl_worker_uses_target(w, t) || w->sinks[t]->connected || sl_writer_check(&w->writers[t], NULL) != SL_WRITER_IDLE)
            continue;
        sl_error err;
        sl_error_clear(&err);
        if (w->sinks[t]->ops->open(w->sinks[t], &err) == 0)
            sl_worker_target_up(w, t, NULL);
        else
            sl_worker_target_up(w, t, &err);
    }
}

/* SIGHUP: take the configuration the main thread published, at a batch
 * boundary.  What may differ (sl_config_reload_diff()) is the routes' table
 * templates, columns, error handling and row options, batch and retry
 * settings: the table cache and the decoders are rebuilt from the new
 * routes; partitions, connections and the group membership stay. */
static void take_reload(sl_worker *w)
{
    unsigned gen = atomic_load(&w->rt->cfg_gen);
    if (gen == w->cfg_gen)
        return;
    /* the tables and the configuration change: nothing may be in a write */
    if (sl_worker_flush(w, true) < 0)
        return; /* failed: the worker stops */
    const sl_config *old = w->cfg, *nu = atomic_load(&w->rt->next_cfg);
    for (size_t i = 0; i < w->ntables; i++)
        sl_tentry_fini(&w->tables[i]);
    w->ntables = 0;
    /* the routes' direct-reader shortcuts are indexes into the cache just
     * emptied: the entries built next may belong to other routes */
    sl_worker_direct_fini(w);
    sl_worker_direct_init(w);
    for (size_t r = 0; r < old->nroutes; r++) {
        if (w->decoders[r].route)
            sl_decoder_fini(&w->decoders[r]);
        memset(&w->decoders[r], 0, sizeof(w->decoders[r]));
        sl_error err;
        if (sl_decoder_init(&w->decoders[r], &nu->routes[r], w->rt->registry, &err)) {
            log_error(w->ctx, "reload: route '%s': %s", nu->routes[r].name, err.msg);
            sl_worker_fail(w, 1);
            return;
        }
    }
    for (size_t i = 0; i < w->parts.n; i++)
        if (w->parts.v[i].route)
            w->parts.v[i].route = &nu->routes[w->parts.v[i].route - old->routes];
    for (size_t t = 0; t < nu->ntargets; t++)
        w->sinks[t]->conf = &nu->targets[t];
    sl_worker_direct_fini(w);
    w->cfg = nu;
    sl_worker_direct_init(w); /* the new routes' templates */
    w->cfg_gen = gen;
    if (w->id > 0 && w->id <= SL_MAX_WORKERS)
        atomic_store(&w->rt->worker_gen[w->id], gen);
    log_info(w->ctx, "reload: now using the new configuration (generation %u)", gen);
}

/* Record @m must be read again later (a dependency is down): back off with
 * the partitions paused, serving the group, then read from where pending
 * work starts.  Takes @m. */
static void wait_for_dependency(sl_worker *w, rd_kafka_message_t *m, int attempt)
{
    int64_t wait = sl_worker_backoff_ms(w, attempt);
    log_warn(w->ctx, "%s[%d]@%lld must wait for a dependency; retrying in %lld ms", rd_kafka_topic_name(m->rkt),
             m->partition, (long long)m->offset, (long long)wait);
    rd_kafka_message_destroy(m);
    sl_worker_pause(w, true);
    sl_worker_serve_paused(w, wait);
    sl_worker_pause(w, false);
    sl_worker_rewind(w);
}

void *sl_worker_run(void *arg)
{
    sl_worker *w = arg;
    srand((unsigned)(time(NULL) ^ (w->id * 7919)));
    sl_worker_beat(w);
    probe_targets(w);
    w->rk = sl_worker_make_consumer(w);
    if (!w->rk || sl_worker_subscribe(w)) {
        sl_worker_fail(w, 1);
        return NULL;
    }
    log_info(w->ctx, "joined group '%s'%s", w->group,
             w->cooperative ? " (cooperative rebalancing)" : "");
    int retry_attempt = 0;
    while (!sl_worker_stopping(w)) {
        /* With rows pending, a short poll tells whether the consumer has
         * caught up: if nothing more is waiting, write now (low latency for
         * a trickle); under load the queue never drains and batches fill to
         * max_rows.  A steady stream whose records arrive every millisecond
         * or so never leaves the poll empty: after each record the worker
         * asks librdkafka whether it has taken everything the broker had
         * (sl_worker_caught_up()).  linger_ms bounds the wait either way.
         * While a write is in flight the loop turns often enough to answer
         * its rejected rows and to hand over the next batch soon after it
         * ends. */
        bool writing = sl_worker_writing(w);
        int timeout = w->pending_rows ? IDLE_FLUSH_MS : writing ? WRITING_POLL_MS : 100;
        sl_worker_beat(w);
        if (writing)
            sl_worker_reap(w);
        take_reload(w);
        sl_worker_read_unknown_offsets(w);
        if (!w->pending_rows)
            probe_targets(w);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout);
        if (m && !m->err) {
            w->drained_bytes += m->len + m->key_len;
            w->drained_msgs++;
        } else if (!m) {
            sl_worker_restart_fetch(w);
        }
        if (!m && w->pending_rows && !sl_worker_stopping(w) && !sl_worker_awaiting(w) &&
            sl_worker_now_ms() - w->first_pending_ms >= IDLE_FLUSH_MIN_AGE_MS) {
            /* caught up: hand the batch over if the writers are free, else
             * keep filling it until they are or it is due */
            sl_worker_write(w, false);
            continue;
        }
        if (m) {
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
                    sl_log(fatal ? SL_LOG_ERROR : SL_LOG_WARN, w->ctx, "consumer: %s", rd_kafka_message_errstr(m));
                    if (fatal)
                        sl_worker_fail(w, 1);
                }
            } else {
                int rc = sl_worker_handle_record(w, m);
                if (rc >= 3) {
                    /* part of a fan-out record is batched (fanout.c): what is
                     * pending is dropped, never written, and read again */
                    sl_worker_end_writes(w);
                    sl_worker_discard_pending(w);
                    sl_worker_rewind(w);
                    if (rc == 4) {
                        rd_kafka_message_destroy(m);
                        sl_worker_fail(w, 1);
                        break;
                    }
                    wait_for_dependency(w, m, retry_attempt++);
                    continue;
                }
                if (rc < 0) {
                    rd_kafka_message_destroy(m);
                    /* records before the bad one are good: write and commit them */
                    sl_worker_flush(w, true);
                    sl_worker_fail(w, 1);
                    break;
                }
                if (rc == 1) {
                    /* a dependency is down: write what we have, then read this record again */
                    sl_part *p = sl_parts_find(&w->parts, rd_kafka_topic_name(m->rkt), m->partition);
                    uint64_t assignment = p ? p->assignment : 0;
                    if (sl_worker_flush(w, true) >= 0) {
                        /* looked up after the write: a revoke meanwhile removes partitions,
                         * and one assigned again resumes from its committed offset.  A
                         * write given up rewound what it held: read again from the
                         * earlier of the two points (sl_part_read_again()) */
                        p = sl_parts_find(&w->parts, rd_kafka_topic_name(m->rkt), m->partition);
                        if (p && !p->revoked && p->assignment == assignment) {
                            sl_part_read_again(p, m->offset);
                            sl_worker_rewind(w);
                        }
                    }
                    wait_for_dependency(w, m, retry_attempt++);
                    continue;
                }
                retry_attempt = 0;
            }
            rd_kafka_message_destroy(m);
        }
        if (due(w))
            sl_worker_write(w, true); /* waits for the write in flight: two batches at most */
        else if (m && w->pending_rows && !sl_worker_stopping(w) &&
                 sl_worker_now_ms() - w->first_pending_ms >= IDLE_FLUSH_MIN_AGE_MS && !sl_worker_writing(w) &&
                 !sl_worker_awaiting(w) && sl_worker_caught_up(w))
            sl_worker_write(w, false); /* caught up, the writers idle: as after an empty poll */
    }
    /* what is pending, and the write in flight, end before the group is left */
    sl_worker_flush(w, true);
    log_info(w->ctx, "leaving the group");
    rd_kafka_consumer_close(w->rk);
    if (w->queue)
        rd_kafka_queue_destroy(w->queue);
    w->queue = NULL;
    rd_kafka_destroy(w->rk);
    w->rk = NULL;
    return NULL;
}
