/* kafka.h - librdkafka configuration from the `kafka:` section, a seek
 * that waits as long as it is told with every librdkafka version, and the
 * group's rebalance protocol. */
#ifndef SLUICE_KAFKA_H
#define SLUICE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "sluice/config.h"

/* sl_kafka_conf() - a librdkafka configuration holding the `kafka:`
 * properties, logging through sluice's log.  @producer: leave out the
 * consumer-only properties (for the dead-letter producer).  NULL with
 * "FILE:LINE: kafka.KEY: reason" in @errstr when librdkafka refuses one. */
rd_kafka_conf_t *sl_kafka_conf(const sl_config *cfg, bool producer, char *errstr, size_t errlen);

/* sl_kafka_seek() - rd_kafka_seek_partitions() that waits up to
 * @timeout_ms (0: not at all) for the seeks to be done, with every
 * librdkafka version (those before 2.1.0 wait a thousandth of what they
 * are given).  NULL when done; else the error, to be destroyed. */
rd_kafka_error_t *sl_kafka_seek(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, int timeout_ms);

/* sl_kafka_cooperative() - whether the group's rebalance protocol is
 * COOPERATIVE (incremental assign/unassign) rather than EAGER.  @last is the
 * answer to keep when librdkafka cannot tell: its rd_kafka_rebalance_protocol()
 * returns NULL once the consumer's group handler is gone, which a revoke
 * called from rd_kafka_consumer_close() can meet, and "NONE" before the
 * consumer has joined. */
bool sl_kafka_cooperative(rd_kafka_t *rk, bool last);

#endif
