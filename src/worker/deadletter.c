/* deadletter.c - bad records under on_error skip or dlq: counted and
 * logged, produced to the dead-letter topic (acknowledged before the
 * record's offset moves on) or queued for the dead-letter table, which is
 * written in the same transaction as the batch. */
#include <stdio.h>
#include <string.h>

#include "sluice/kafka.h"
#include "sluice/log.h"
#include "worker_int.h"

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
        sl_flush_add_deadletter(&w->flushes[sl_worker_target_index(w->cfg, r->target)], r, topic, partition, offset,
                                key, klen, val, vlen, why->msg);
    } else {
        sl_error e;
        for (int attempt = 0;; attempt++) {
            if (dlq_produce(w, r, topic, partition, offset, key, klen, val, vlen, why->msg, &e) == 0)
                break;
            if (e.kind != SL_ERR_RETRY || sl_worker_stopping(w)) {
                log_error(r->name, "cannot dead-letter %s[%d]@%lld: %s", topic, partition, (long long)offset, e.msg);
                return -1;
            }
            log_warn(r->name, "%s; retrying (attempt %d)", e.msg, attempt + 1);
            sl_worker_nap(w, sl_worker_backoff_ms(w, attempt));
        }
    }
    sl_metrics_add(w->rt->metrics, SL_M_DEAD_LETTERS, 1, r->name, NULL, NULL);
    log_warn(r->name, "dead-lettered %s[%d]@%lld to %s: %s", topic, partition, (long long)offset,
             r->dlq_table ? r->dlq_table : r->dlq_topic, why->msg);
    return 0;
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
    return sl_worker_handle_bad(w, r, row->topic, row->partition, row->offset, row->src_key, row->src_key_len,
                      row->src_value, row->src_value_len, why);
}

