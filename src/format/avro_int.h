/* avro_int.h - internals of the Avro and Connect JSON decoders, shared by
 * the Avro and Connect decoders of src/format/ and their unit tests (not part of the public API). */
#ifndef SLUICE_AVRO_INT_H
#define SLUICE_AVRO_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/decoder.h"
#include "sluice/error.h"
#include "sluice/registry.h"
#include "sluice/strbuf.h"

/* Avro types as written in a schema (https://avro.apache.org/docs/1.11.1/specification/). */
typedef enum sl_av_kind {
    SL_AV_NULL, SL_AV_BOOLEAN, SL_AV_INT, SL_AV_LONG, SL_AV_FLOAT, SL_AV_DOUBLE,
    SL_AV_BYTES, SL_AV_STRING, SL_AV_RECORD, SL_AV_ENUM, SL_AV_ARRAY, SL_AV_MAP,
    SL_AV_UNION, SL_AV_FIXED,
} sl_av_kind;

/* Logical types; one that is invalid for its type (decimal on a string,
 * precision 0, ...) is ignored, as the specification asks. */
typedef enum sl_av_logical {
    SL_LT_NONE, SL_LT_DECIMAL, SL_LT_UUID, SL_LT_DATE, SL_LT_TIME_MILLIS, SL_LT_TIME_MICROS,
    SL_LT_TIMESTAMP_MILLIS, SL_LT_TIMESTAMP_MICROS, SL_LT_LOCAL_TIMESTAMP_MILLIS,
    SL_LT_LOCAL_TIMESTAMP_MICROS, SL_LT_DURATION,
} sl_av_logical;

typedef struct sl_av_node {
    sl_av_kind kind;
    sl_av_logical logical;
    int precision, scale;       /* decimal */
    long size;                  /* fixed */
    char *name;                 /* full name of records, enums, fixed */
    size_t n;                   /* fields, branches, symbols; 1 for array/map */
    struct sl_av_node **child;  /* record fields, union branches, array items, map values */
    char **names;               /* record field names, enum symbols */
    /* Kafka Connect's schema properties, as Confluent's AvroConverter writes
     * them beside the Avro type: "connect.name" (a semantic type such as
     * io.debezium.time.MicroTimestamp), "connect.type" (int8, int16) and
     * "connect.parameters"; NULL when absent. */
    char *connect_name, *connect_type;
    json_t *connect_params;
} sl_av_node;

/* A parsed schema: the nodes form a graph (records may refer to themselves),
 * so they are owned by one list and freed together. */
typedef struct sl_av_schema {
    sl_av_node *root;
    sl_av_node **nodes;
    size_t nnodes, cap;
} sl_av_schema;

/* sl_av_schema_parse() - parse Avro schema JSON text; NULL with SL_ERR_DATA. */
sl_av_schema *sl_av_schema_parse(const char *text, size_t len, sl_error *err);
void sl_av_schema_free(sl_av_schema *s);

/* sl_av_fields() - sl_change.fields for a record node (see schema_sync.h). */
json_t *sl_av_fields(const sl_av_node *record);

/* sl_av_connect_schema() - the Kafka Connect schema (JsonConverter's JSON
 * form) that an Avro schema written by Confluent's AvroConverter stands
 * for: the inverse of the converter's mapping, with the Connect semantic
 * names restored from "connect.name".  Avro logical types without a
 * Connect counterpart get the Debezium name of the same meaning.  Pairs
 * with the payloads of sl_avro_decode_connect().  A record met again
 * inside itself becomes {} (its value passes as plain JSON); NULL when the
 * schema would expand to more than 20000 Connect schema nodes. */
json_t *sl_av_connect_schema(const sl_av_node *n);

#include "sluice/textfmt.h" /* canonical text forms */

/* ---- reading Avro binary (specification 1.11.1, "Binary Encoding") ---- */

/* Items of all arrays and maps in one datum.  An item of null or of an
 * empty record takes no bytes, so the data's length bounds nothing:
 * nested blocks of them could claim billions of items in a few kilobytes. */
#define SL_AV_MAX_ITEMS 1000000

typedef struct sl_av_cursor {
    const unsigned char *p, *end;
    const char *why;  /* what was wrong, when a read fails */
    int64_t items;    /* array and map items so far */
} sl_av_cursor;

/* sl_av_varint() - a zig-zag varint of up to 10 bytes. */
bool sl_av_varint(sl_av_cursor *c, int64_t *out);
/* sl_av_check() - walk the datum at @c against node @n (at nesting @depth)
 * without allocating: every length, count, union branch and enum index fits
 * the bytes present; false with c->why set otherwise (avro_check.c). */
bool sl_av_check(sl_av_cursor *c, const sl_av_node *n, int depth);

/* sl_avro_decode_wire() - decode one Confluent wire-format datum
 * (https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format:
 * magic byte 0, 4-byte big-endian schema id, Avro binary) against its
 * writer schema.  *@value: JSON per decoder.h; *@fields (optional): the
 * record's field list (a new reference) or NULL for a non-record schema.
 * The schemas are cached per thread. */
int sl_avro_decode_wire(sl_registry *reg, const void *buf, size_t len, json_t **value,
                        json_t **fields, int *schema_id, sl_error *err);

/* sl_avro_decode_connect() - decode one wire-format datum into the Kafka
 * Connect JSON envelope {"schema": ..., "payload": ...} that JsonConverter
 * would have written for the same Connect record: how `format: debezium`
 * reads Avro events, with one code path for both converters.  Payload
 * values follow JsonConverter: bytes and decimals in base64, Connect dates
 * and times as integers. */
int sl_avro_decode_connect(sl_registry *reg, const void *buf, size_t len, json_t **envelope,
                           int *schema_id, sl_error *err);

/* sl_avro_thread_cleanup() - free the calling thread's schema cache now
 * (it is freed at thread exit otherwise). */
void sl_avro_thread_cleanup(void);

/* sl_avro_decode_key() - key_format: avro (called by sl_decode_key_plain()). */
int sl_avro_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);

#endif
