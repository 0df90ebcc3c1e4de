/* deadletter.c - bad records under on_error skip or dlq: counted and
 * logged, produced to the dead-letter topic (acknowledged before the
 * record's offset moves on) or queued for the dead-letter table, which is
 * written in the same transaction as the batch.
 *
 * The dead-letter topic: each dead letter is produced once and waited for
 * briefly; when Kafka has not acknowledged it by then (the topic is
 * unavailable, its leader moves, its metadata is not known yet), the record
 * is read again later - the worker keeps serving its consumer with
 * partitions paused meanwhile (the same path as a record waiting for the
 * registry, or a write being retried, see worker.c and flush.c), and finds
 * its dead letter still in flight, acknowledged or failed.  A failure
 * librdkafka gave up on (message.timeout.ms) is produced again; a permanent
 * one (no such topic, not authorized, invalid record, the producer fenced or
 * fatal) stops the worker before it commits past the record.  A record the
 * topic refuses as too large is dead-lettered as a
 * truncated copy, with a header saying so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kafka.h"
#include "sluice/log.h"
#include "worker_int.h"

enum { DL_SENT, DL_ACKED, DL_FAILED };

/* How long a dead letter is waited for before the record is set aside and
 * read again later (the consumer is not served during this wait). */
#define DL_ACK_WAIT_MS 500
/* Room for sluice's own headers on top of the largest record the consumer
 * may receive. */
#define DL_HEADERS_ROOM 65536
/* A truncated copy starts at this many bytes and halves until it fits. */
#define DL_FIRST_CUT (256 * 1024)

/* One record may have a dead letter per route (fan-out: pipeline.h). */
static sl_dlq_letter *dl_find(sl_worker *w, size_t route, const char *topic, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < w->ndls; i++)
        if (w->dls[i].offset == offset && w->dls[i].partition == partition && w->dls[i].route == route &&
            !strcmp(w->dls[i].topic, topic))
            return &w->dls[i];
    return NULL;
}

static void dl_remove(sl_worker *w, sl_dlq_letter *d)
{
    free(d->topic);
    *d = w->dls[--w->ndls];
}

static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sl_worker *w = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    for (size_t i = 0; i < w->ndls; i++) {
        if (w->dls[i].seq == seq) {
            w->dls[i].state = m->err ? DL_FAILED : DL_ACKED;
            w->dls[i].err = m->err;
            return;
        }
    }
    /* a dead letter given up on (its partition was revoked) */
}

/* Errors retrying cannot cure.  Everything else (timeouts, leaders moving,
 * brokers down, not enough replicas) is transient: librdkafka retries it
 * until message.timeout.ms, then sluice produces the dead letter again. */
static bool dl_permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:      /* metadata says it does not exist, */
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: /* after topic.metadata.propagation.max.ms */
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        return true;
    default:
        return false;
    }
}

static bool dl_too_large(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* The producer, sized for the largest record the consumer can receive
 * (receive.message.max.bytes) plus sluice's headers, unless the kafka:
 * section sets message.max.bytes itself. */
static int dl_producer(sl_worker *w, sl_error *err)
{
    if (w->dlq)
        return 0;
    char es[512];
    rd_kafka_conf_t *c = sl_kafka_conf(w->cfg, true, es, sizeof(es));
    if (!c)
        return sl_error_set(err, SL_ERR_FATAL, "%s", es);
    rd_kafka_conf_set(c, "enable.idempotence", "true", es, sizeof(es));
    rd_kafka_conf_set(c, "acks", "all", es, sizeof(es));
    if (!sl_config_kafka_get(w->cfg, "message.max.bytes")) {
        char v[32];
        size_t n = sizeof(v);
        long long recv = rd_kafka_conf_get(c, "receive.message.max.bytes", v, &n) == RD_KAFKA_CONF_OK ? atoll(v) : 0;
        long long max = recv + DL_HEADERS_ROOM;
        if (max > 1000000000)
            max = 1000000000; /* librdkafka's limit */
        if (max > 1000000) {
            snprintf(v, sizeof(v), "%lld", max);
            if (max > recv)
                rd_kafka_conf_set(c, "receive.message.max.bytes", v, es, sizeof(es));
            rd_kafka_conf_set(c, "message.max.bytes", v, es, sizeof(es));
        }
    }
    rd_kafka_conf_set_dr_msg_cb(c, dlq_dr);
    rd_kafka_conf_set_opaque(c, w);
    w->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
    if (!w->dlq)
        return sl_error_set(err, SL_ERR_FATAL, "cannot create the dead-letter producer: %s", es);
    return 0;
}

/* Produce dead letter @d (key and value cut to d->cap bytes when it was
 * refused as too large). */
static void dl_send(sl_worker *w, sl_dlq_letter *d, const sl_route_conf *r, const void *key, size_t klen,
                    const void *val, size_t vlen, const char *why)
{
    char part_s[16], off_s[24], vlen_s[24], klen_s[24];
    snprintf(part_s, sizeof(part_s), "%d", d->partition);
    snprintf(off_s, sizeof(off_s), "%lld", (long long)d->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(7);
    rd_kafka_header_add(h, "sluice.error", -1, why, -1);
    rd_kafka_header_add(h, "sluice.topic", -1, d->topic, -1);
    rd_kafka_header_add(h, "sluice.partition", -1, part_s, -1);
    rd_kafka_header_add(h, "sluice.offset", -1, off_s, -1);
    rd_kafka_header_add(h, "sluice.route", -1, r->name, -1);
    if (val && vlen > d->cap) {
        snprintf(vlen_s, sizeof(vlen_s), "%zu", vlen);
        rd_kafka_header_add(h, "sluice.truncated", -1, vlen_s, -1);
        vlen = d->cap;
    }
    if (key && klen > d->cap) {
        snprintf(klen_s, sizeof(klen_s), "%zu", klen);
        rd_kafka_header_add(h, "sluice.key_truncated", -1, klen_s, -1);
        klen = d->cap;
    }
    d->seq = ++w->dl_seqs;
    d->state = DL_SENT;
    rd_kafka_resp_err_t e = rd_kafka_producev(w->dlq, RD_KAFKA_V_TOPIC(r->dlq_topic),
                                              RD_KAFKA_V_KEY((void *)key, key ? klen : 0),
                                              RD_KAFKA_V_VALUE((void *)val, val ? vlen : 0), RD_KAFKA_V_HEADERS(h),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_OPAQUE((void *)(uintptr_t)d->seq), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        d->state = DL_FAILED;
        d->err = e;
    }
}

/* Dead letter @d is acknowledged: true the first time this is seen. */
static bool dl_acked(const sl_route_conf *r, sl_dlq_letter *d, size_t vlen)
{
    if (d->counted)
        return false;
    d->counted = true;
    if (d->cap != SIZE_MAX)
        log_warn(r->name, "the dead letter of " SL_REC_FMT " was truncated to %zu bytes (%s refuses the %zu bytes "
                          "of the record; header sluice.truncated holds its length)",
                 d->topic, d->partition, (long long)d->offset, d->cap, r->dlq_topic, vlen);
    return true;
}

/* The dead letter of one record to the route's topic: 0 acknowledged (*@now:
 * seen acknowledged for the first time, not at an earlier reading of the
 * record), 1 wait (read the record again later), -1 it cannot be
 * dead-lettered. */
static int dl_topic(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition, int64_t offset,
                    const void *key, size_t klen, const void *val, size_t vlen, const char *why, bool *now)
{
    *now = false;
    size_t route = (size_t)(r - w->cfg->routes);
    sl_dlq_letter *d = dl_find(w, route, topic, partition, offset);
    if (d && d->state == DL_ACKED) {
        /* acknowledged meanwhile, or read again (a retried write, a rewind):
         * it is in the topic already */
        *now = dl_acked(r, d, vlen);
        return 0;
    }
    sl_error e;
    if (dl_producer(w, &e)) {
        log_error(r->name, "cannot dead-letter " SL_REC_FMT " to %s: %s", topic, partition, (long long)offset,
                  r->dlq_topic, e.msg);
        return -1;
    }
    if (!d) {
        if (w->ndls == w->capdls) {
            w->capdls = w->capdls ? w->capdls * 2 : 16;
            w->dls = sl_xrealloc(w->dls, w->capdls * sizeof(*w->dls));
        }
        d = &w->dls[w->ndls++];
        *d = (sl_dlq_letter){.topic = sl_xstrdup(topic), .partition = partition, .offset = offset, .route = route,
                             .cap = SIZE_MAX};
        dl_send(w, d, r, key, klen, val, vlen, why);
    }
    for (;;) {
        int64_t end = sl_worker_now_ms() + DL_ACK_WAIT_MS;
        while (d->state == DL_SENT && sl_worker_now_ms() < end && !sl_worker_stopping(w))
            rd_kafka_poll(w->dlq, 10);
        if (d->state == DL_ACKED) {
            *now = dl_acked(r, d, vlen);
            return 0;
        }
        if (d->state == DL_SENT) {
            snprintf(w->dlq_err, sizeof(w->dlq_err), "the dead letter of " SL_REC_FMT " to %s is not acknowledged yet",
                     topic, partition, (long long)offset, r->dlq_topic);
            if (!d->waited)
                log_warn(r->name, "%s; partitions paused until it is", w->dlq_err);
            d->waited = true;
            return 1;
        }
        rd_kafka_resp_err_t err = d->err;
        if (dl_too_large(err)) {
            size_t whole = klen > vlen ? klen : vlen;
            size_t cap = d->cap == SIZE_MAX ? (whole > DL_FIRST_CUT ? DL_FIRST_CUT : whole / 2) : d->cap / 2;
            if (whole > 0 && (d->cap == SIZE_MAX || d->cap > 0)) {
                log_debug(r->name, "the dead letter of " SL_REC_FMT " is too large for %s (%s): trying %zu bytes",
                          topic, partition, (long long)offset, r->dlq_topic, rd_kafka_err2str(err), cap);
                d->cap = cap;
                dl_send(w, d, r, key, klen, val, vlen, why);
                continue;
            }
        }
        dl_remove(w, d);
        if (dl_permanent(err) || dl_too_large(err)) {
            char fatal[256] = "";
            if (err == RD_KAFKA_RESP_ERR__FATAL)
                rd_kafka_fatal_error(w->dlq, fatal, sizeof(fatal));
            log_error(r->name,
                      "cannot dead-letter " SL_REC_FMT " to topic %s: %s%s%s; stopping: offsets are committed up "
                      "to, not past, " SL_REC_FMT,
                      topic, partition, (long long)offset, r->dlq_topic, rd_kafka_err2str(err), *fatal ? ": " : "",
                      fatal, topic, partition, (long long)offset);
            return -1;
        }
        snprintf(w->dlq_err, sizeof(w->dlq_err), "the dead letter of " SL_REC_FMT " to %s failed: %s", topic,
                 partition, (long long)offset, r->dlq_topic, rd_kafka_err2str(err));
        log_warn(r->name, "%s; producing it again later, partitions paused meanwhile", w->dlq_err);
        return 1;
    }
}

int sl_worker_handle_bad(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition,
                         int64_t offset, const void *key, size_t klen, const void *val, size_t vlen,
                         const sl_error *why)
{
    if (r->on_error == SL_ONERR_SKIP) {
        sl_metrics_add(w->rt->metrics, SL_M_SKIPPED, 1, r->name, NULL, NULL);
        log_warn(r->name, "skipped %s[%d]@%lld: %s", topic, partition, (long long)offset, why->msg);
        return 0;
    }
    if (r->on_error != SL_ONERR_DLQ)
        return -1;
    if (r->dlq_table) {
        /* counted and logged when the write holding it commits; a row a
         * write rejected goes into that write's transaction */
        sl_flush *f = w->rejecting ? w->rejecting : &w->flushes[sl_worker_target_index(w->cfg, r->target)];
        sl_flush_add_deadletter(f, r, topic, partition, offset, key, klen, val, vlen, why->msg);
        return 0;
    }
    bool now;
    int rc = dl_topic(w, r, topic, partition, offset, key, klen, val, vlen, why->msg, &now);
    if (rc == 0 && now) {
        sl_metrics_add(w->rt->metrics, SL_M_DEAD_LETTERS, 1, r->name, NULL, NULL);
        log_warn(r->name, "dead-lettered %s[%d]@%lld to %s: %s", topic, partition, (long long)offset, r->dlq_topic,
                 why->msg);
    }
    return rc;
}

int sl_worker_on_reject(void *opaque, sl_flush *f, sl_batch *b, size_t idx, const sl_error *why)
{
    sl_worker *w = opaque;
    const sl_row *row = b->rows[idx];
    const sl_route_conf *r = b->route;
    sl_metrics_add(w->rt->metrics, SL_M_ERRORS, 1, r->target->name, sl_metrics_kind(why->kind), NULL);
    if (r->on_error == SL_ONERR_FAIL) {
        log_error(r->name, "%s[%d]@%lld cannot be written to %s: %s", row->topic, row->partition,
                  (long long)row->offset, b->table->qname, why->msg);
        return -1;
    }
    (void)f;
    int rc = sl_worker_handle_bad(w, r, row->topic, row->partition, row->offset, row->src_key, row->src_key_len,
                                  row->src_value, row->src_value_len, why);
    if (rc == 1) {
        /* the write is abandoned and retried (flush.c), partitions paused */
        w->dl_wait = true;
        return -1;
    }
    return rc;
}

void sl_worker_deadletters_committed(sl_worker *w, const sl_flush *f)
{
    for (size_t i = 0; i < f->ndead; i++) {
        const sl_deadletter *d = &f->dead[i];
        sl_metrics_add(w->rt->metrics, SL_M_DEAD_LETTERS, 1, d->route->name, NULL, NULL);
        log_warn(d->route->name, "dead-lettered %s[%d]@%lld to %s: %s", d->topic, d->partition,
                 (long long)d->offset, d->route->dlq_table, d->error);
    }
    /* topic dead letters: forget those whose records are committed now and
     * those of partitions this worker no longer has */
    for (size_t i = 0; i < w->ndls;) {
        sl_dlq_letter *d = &w->dls[i];
        const sl_part *p = sl_parts_find(&w->parts, d->topic, d->partition);
        if (!p || p->revoked || (d->state == DL_ACKED && p->safe >= 0 && d->offset < p->safe))
            dl_remove(w, d);
        else
            i++;
    }
}

void sl_worker_deadletters_free(sl_worker *w)
{
    if (w->dlq) {
        rd_kafka_flush(w->dlq, 10000);
        rd_kafka_destroy(w->dlq);
        w->dlq = NULL;
    }
    for (size_t i = 0; i < w->ndls; i++)
        free(w->dls[i].topic);
    free(w->dls);
    w->dls = NULL;
    w->ndls = w->capdls = 0;
}
