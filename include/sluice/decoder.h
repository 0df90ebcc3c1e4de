/* decoder.h - record -> change.  One decoder per format (src/format/),
 * chosen by the route's `format`.  A decoder turns the record's value (and
 * key) into a change: an operation plus a JSON object of field values.
 *
 * Conventions every decoder follows, so that one mapper (mapping.h) serves
 * them all:
 *   - integers stay integers (json_integer is 64-bit: no detour via double);
 *   - values whose exact type the format knows are canonical strings:
 *     decimal "12.3400", date "1969-12-31", time "13:45:10.123456",
 *     timestamp with time zone "2024-05-01T12:00:00.123456Z",
 *     timestamp without time zone "2024-05-01T12:00:00.123456",
 *     uuid "...", bytes as PostgreSQL hex text "\\x00ff";
 *   - a field missing from `value` means "not supplied": the column keeps
 *     its stored value on update and gets its default on insert (this is how
 *     Debezium's unchanged-TOAST placeholder is honoured);
 *   - JSON null is SQL NULL.  A field whose value is JSON text meant for a
 *     json/jsonb column as-is (Debezium's io.debezium.data.Json, where the
 *     JSON literal null is not SQL NULL) goes into `json_text` instead.
 */
#ifndef SLUICE_DECODER_H
#define SLUICE_DECODER_H

#include <jansson.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/error.h"
#include "sluice/kafka_record.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

typedef enum sl_op {
    SL_OP_UPSERT = 0, /* insert or update `value` (mode insert: insert) */
    SL_OP_DELETE,     /* delete by key */
    SL_OP_TRUNCATE,   /* empty the table */
    SL_OP_IGNORE,     /* nothing to write (heartbeat, logical message, the tombstone after a delete) */
} sl_op;

typedef struct sl_change {
    sl_op op;
    json_t *value;    /* upsert: object of field -> value; delete: may hold key fields */
    json_t *key;      /* the record key, decoded per key_format (object or scalar), or NULL */
    json_t *meta;     /* envelope data for table templates and add_columns
                         ({"op":"u","source":{...},"ts_ms":...}), or NULL */
    json_t *fields;   /* schema, when the format carries one (auto_create / auto_evolve):
                         [{"name":..., "type": sluice type name, "optional": bool}], or NULL */
    json_t *json_text; /* object of field -> string of JSON text, stored verbatim into
                          json/jsonb/object columns; takes precedence over value; or NULL */
    int schema_id;    /* registry schema id, -1 when none */
    int64_t schema_key; /* a schema the format read once and kept (Debezium's JsonConverter
                           schemas): equal keys, equal schemas; unique in the process; 0 when none */
    const char *reason; /* SL_OP_IGNORE: why, for the counters ("logical message") */
    json_t *unavailable; /* upsert: array of the fields the source did not send (Debezium's
                            unchanged-TOAST placeholder), left out of `value`; or NULL */
    json_t *carry_key;  /* upsert that re-creates a row under a new key (a primary-key change):
                           the old key, whose stored row supplies the `unavailable` fields
                           (src/worker/carry.c); or NULL */
    json_t *new_key;    /* delete of a primary-key change: the key the row moves to, whose create
                           follows (Debezium's header __debezium.newkey); or NULL */
} sl_change;

void sl_change_clear(sl_change *c);

struct sl_registry;

/* Per worker, per route decoding state. */
typedef struct sl_decoder {
    const sl_route_conf *route;
    struct sl_registry *registry; /* shared across workers, thread-safe; NULL if none configured */
    void *state;                  /* format-private */
} sl_decoder;

/* What a format is to the rest of sluice: everything that differs between
 * formats is here, so that nothing outside src/format/ asks which format a
 * route has. */
typedef struct sl_format_ops {
    const char *name;        /* the route's `format:` value */
    bool needs_registry;     /* refused without schema_registry */
    int (*init)(sl_decoder *d, sl_error *err);   /* may be NULL */
    void (*fini)(sl_decoder *d);                 /* may be NULL */
    /* decode() - fill @out from @rec.  Errors: SL_ERR_DATA for bad input
     * (the message names what is wrong; the caller adds topic/partition/offset),
     * SL_ERR_RETRY when a dependency (the schema registry) is unavailable. */
    int (*decode)(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err);
    /* decode_key() - the record key into a JSON value (NULL if no key), for
     * formats that read keys their own way; NULL: sl_decode_key_plain(). */
    int (*decode_key)(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);
    /* convert_cell() - for formats whose values only the target column can
     * explain: append @v's text for @col to @out and return 1, return 0 to
     * leave @v to the generic conversion (mapping.h), -1 with SL_ERR_DATA.
     * NULL: the generic conversion always. */
    int (*convert_cell)(const sl_column *col, const json_t *v, sl_strbuf *out, sl_error *err);
    /* cells - the format's direct reader (cells.h), or NULL */
    const struct sl_cells_ops *cells;
} sl_format_ops;

/* Every format, indexed by sl_format (a route's `format`), NULL-terminated:
 * the option table takes the format names from here. */
extern const sl_format_ops *const sl_formats[];

const sl_format_ops *sl_format_lookup(sl_format f);

int sl_decoder_init(sl_decoder *d, const sl_route_conf *route, struct sl_registry *reg, sl_error *err);
void sl_decoder_fini(sl_decoder *d);
/* sl_decode() - decode @rec; the record key is decoded per key_format here,
 * then the format's decode() runs. */
int sl_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err);
/* sl_decode_key() - the record key into a JSON value (NULL if no key): the
 * format's decode_key(), else sl_decode_key_plain(). */
int sl_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);
/* sl_decode_tombstone() - a record without a value: a delete when the
 * route has delete_on_tombstone, else nothing to write.  Returns 0. */
int sl_decode_tombstone(const sl_decoder *d, sl_change *out);
/* sl_fields_with_key() - @value_fields plus @key_fields (sl_change.fields
 * of a value and of its record key): those of the key are marked "key": true
 * (auto_create takes the primary key from them), and one the value lacks is
 * appended (the mapper fills it from the record key).  A new array. */
json_t *sl_fields_with_key(const json_t *value_fields, const json_t *key_fields);
/* sl_decode_key_plain() - the record key per the route's key_format. */
int sl_decode_key_plain(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);

#endif
