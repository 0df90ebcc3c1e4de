/* kafka.h - librdkafka configuration from the `kafka:` section. */
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

#endif
