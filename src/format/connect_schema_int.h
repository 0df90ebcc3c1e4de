/* connect_schema_int.h - Kafka Connect schemas ({"type", "name", "parameters",
 * "fields" / "items" / "keys" / "values"}) and the values under them, as the
 * Connect JSON and Debezium formats both read them: parameters, the sluice
 * column type of a schema (schema_sync.h) for auto_create / auto_evolve
 * (connect_schema.c), and the walk that converts a value (connect_value.c).
 * Each format adds the semantic types it knows by name. */
#ifndef SLUICE_FORMAT_CONNECT_SCHEMA_INT_H
#define SLUICE_FORMAT_CONNECT_SCHEMA_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/error.h"
#include "sluice/strbuf.h"

#define SL_CONNECT "org.apache.kafka.connect.data."

/* A semantic type ("name" of a schema) and the sluice type it is stored as. */
typedef struct sl_connect_named {
    const char *name;
    const char *type;
} sl_connect_named;

static inline const char *sl_connect_stype(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "type"));
}

static inline const char *sl_connect_sname(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "name"));
}

/* sl_connect_param() - a parameter ("scale", "length") as an integer
 * (Connect writes them as strings), @dflt when absent. */
long long sl_connect_param(const json_t *schema, const char *key, long long dflt);

/* sl_connect_plain_type() - the sluice column type of a plain Kafka Connect
 * type (int8 ... bytes, struct, map), NULL for array and unknown types. */
const char *sl_connect_plain_type(const char *type);

/* sl_connect_sluice_type() - the sluice type of @schema: Connect's Decimal
 * (numeric; its precision and scale go into @f unless NULL), a semantic
 * type of @named (ended by a NULL name) by its name, a plain type, an array
 * (its item type goes into @f), else text. */
const char *sl_connect_sluice_type(const json_t *schema, json_t *f, const sl_connect_named *named);

/* How a format walks Connect values (sl_connect_value()). */
typedef struct sl_connect_walk {
    /* named() - convert @v (not null) under @schema (its @type, its @name
     * or NULL) when it is a semantic type of the format's own: true with
     * the value in *@out (NULL with @err on bad data); false to leave it to
     * the walk. */
    bool (*named)(const json_t *schema, const char *type, const char *name, const json_t *v, sl_strbuf *tmp,
                  json_t **out, sl_error *err);
    /* true: a value that does not match its type is bad data (connect-json);
     * false: it passes as it came (Debezium, whose converters may already
     * have rendered it: decimal.handling.mode, time.precision.mode). */
    bool strict;
    /* A semantic type whose fields a top-level struct also copies, as they
     * came, into the walk's @collect object (Debezium's io.debezium.data.Json
     * text); NULL: none. */
    const char *collect_name;
} sl_connect_walk;

/* sl_connect_value() - @v under @schema in decoder.h's conventions: a new
 * reference, or NULL with @err (the path of the field at fault first).
 * @collect (may be NULL) receives the top-level fields named by
 * @w->collect_name. */
json_t *sl_connect_value(const sl_connect_walk *w, const json_t *schema, const json_t *v, json_t *collect,
                         sl_strbuf *tmp, sl_error *err);

/* sl_connect_temporal() - an integer date, time of day or timestamp in the
 * unit @unit names ("Date" days, "Time" ms, "MicroTime", "NanoTime",
 * "Timestamp" ms, "MicroTimestamp", "NanoTimestamp"; another unit: the
 * number as it is) as text, a UTC timestamp when @utc; @name for errors.  A
 * string passes as it is unless @strict. */
json_t *sl_connect_temporal(const char *name, const char *unit, bool utc, bool strict, const json_t *v,
                            sl_strbuf *tmp, sl_error *err);

/* sl_connect_temporal_text() - the same rule on the integer @x itself: 1
 * with its text appended to @tmp, 0 when @unit is none of those (the
 * number stays as it is), -1 with @err when out of range. */
int sl_connect_temporal_text(const char *name, const char *unit, bool utc, int64_t x, sl_strbuf *tmp,
                             sl_error *err);

/* sl_connect_decimal_text() - a base64 big-endian two's-complement unscaled
 * value with @scale as decimal text into @out; -1 with @err when it is not
 * base64 or beyond what sluice stores. */
int sl_connect_decimal_text(const char *b64, size_t n, int64_t scale, sl_strbuf *out, sl_error *err);

/* sl_connect_field_name() / sl_connect_field_schema() - an entry of a
 * struct schema's "fields": named by "field" (JsonConverter), or a
 * hand-written variant that nests the schema under "schema" and names it
 * with "name". */
const char *sl_connect_field_name(const json_t *f);
const json_t *sl_connect_field_schema(const json_t *f);

#endif
