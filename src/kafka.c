/* kafka.c - librdkafka configuration and logging, and a waiting seek that
 * works around librdkafka 2.0's timeout unit. */
#include "sluice/kafka.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/kafka_record.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    sl_loglevel l = level <= 3 ? SL_LOG_ERROR : level == 4 ? SL_LOG_WARN : level <= 6 ? SL_LOG_INFO : SL_LOG_DEBUG;
    char ctx[64];
    snprintf(ctx, sizeof(ctx), "kafka %s", rd_kafka_name(rk));
    sl_log(l, ctx, "%s: %s", fac, buf);
}

static bool consumer_only(const char *k)
{
    static const char *const prefixes[] = {"group.", "enable.auto", "auto.", "session.", "heartbeat.",
                                           "partition.assignment", "max.poll", "fetch.", "queued.",
                                           "isolation.level", "check.crcs", "consume.", "enable.partition.eof",
                                           "max.partition.fetch"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(k, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

/* Properties only the dead-letter producer reads: given to the consumer too,
 * librdkafka would warn (CONFWARN) at every start. */
static bool producer_only(const char *k)
{
    static const char *const prefixes[] = {"message.timeout.ms", "delivery.timeout.ms", "acks", "request.required.acks",
                                           "request.timeout.ms", "enable.idempotence", "linger.ms",
                                           "queue.buffering.", "batch.", "message.send.max.retries", "retries",
                                           "transactional.id", "transaction.timeout.ms", "compression.",
                                           "enable.gapless.guarantee", "sticky.partitioning.linger.ms",
                                           "partitioner", "queuing.strategy", "produce.offset.report",
                                           "delivery.report.only.error"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(k, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

rd_kafka_conf_t *sl_kafka_conf(const sl_config *cfg, bool producer, char *errstr, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, log_cb);
    for (size_t i = 0; i < cfg->nkafka; i++) {
        const sl_kv *kv = &cfg->kafka[i];
        if (producer ? consumer_only(kv->key) : producer_only(kv->key))
            continue;
        char es[512];
        if (rd_kafka_conf_set(c, kv->key, kv->value, es, sizeof(es)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errlen, "%s:%d: kafka.%s: %s", cfg->path, kv->line, kv->key, es);
            rd_kafka_conf_destroy(c);
            return NULL;
        }
    }
    return c;
}

int sl_record_header(const sl_record *rec, const char *name, const void **val, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    *val = NULL;
    *len = 0;
    if (!rec->msg || rd_kafka_message_headers((const rd_kafka_message_t *)rec->msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    return rd_kafka_header_get_last(hdrs, name, val, len) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_error_t *sl_kafka_seek(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, int timeout_ms)
{
    /* librdkafka before 2.1.0 waits for the seeks' replies with the time
     * left in milliseconds given to a wait that counts microseconds (its
     * fix #4230): a thousandth of the timeout, 10 ms for 10 s, which a
     * broker thread busy for a moment exceeds.  Given the timeout times
     * 1000, those versions wait about the timeout for each reply. */
    if (timeout_ms > 0 && rd_kafka_version() < 0x02010000)
        timeout_ms = timeout_ms > INT_MAX / 1000 ? INT_MAX : timeout_ms * 1000;
    return rd_kafka_seek_partitions(rk, l, timeout_ms);
}

bool sl_kafka_cooperative(rd_kafka_t *rk, bool last)
{
    const char *p = rd_kafka_rebalance_protocol(rk);
    if (!p || (strcmp(p, "COOPERATIVE") && strcmp(p, "EAGER")))
        return last;
    return !strcmp(p, "COOPERATIVE");
}
