/* kafka_record.h - one Kafka record as the pipeline sees it (borrowed from
 * librdkafka's message; valid until the message is destroyed). */
#ifndef SLUICE_KAFKA_RECORD_H
#define SLUICE_KAFKA_RECORD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;      /* ms since epoch, -1 unknown */
    const void *key;        /* NULL: no key */
    size_t key_len;
    const void *value;      /* NULL: tombstone */
    size_t value_len;
    const void *msg;        /* the rd_kafka_message_t, for sl_record_header(); may be NULL */
} sl_record;

/* sl_record_header() - the last header named @name: 1 with its bytes in
 * *@val / *@len (NULL, 0 for a null header), 0 when there is none
 * (src/kafka.c). */
int sl_record_header(const sl_record *rec, const char *name, const void **val, size_t *len);

/* SL_REC_FMT / SL_REC_ARGS - "topic[partition]@offset", the way every log
 * line and error names a record. */
#define SL_REC_FMT "%s[%d]@%lld"
#define SL_REC_ARGS(r) (r)->topic, (int)(r)->partition, (long long)(r)->offset

#endif
