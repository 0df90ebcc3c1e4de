/* dbz_int.h - internals of `format: debezium`, shared by the files of
 * src/format/debezium/ and their unit tests (not part of the public API). */
#ifndef SLUICE_DBZ_INT_H
#define SLUICE_DBZ_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/cells.h"
#include "sluice/error.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

/* Debezium's default `unavailable.value.placeholder`: what the PostgreSQL
 * connector sends for an unchanged TOASTed column whose old value logical
 * decoding does not carry (Debezium PostgreSQL connector documentation,
 * "Considerations about TOASTed values"). */
#define SL_DBZ_UNAVAILABLE "__debezium_unavailable_value"


/**
 * sl_dbz_convert_cell() - the Debezium format's convert_cell (decoder.h):
 * a value of a schemaless Debezium event (JsonConverter with
 * schemas.enable=false) that only the target column can explain: a base64
 * Decimal into a numeric column (the scale is the column's), a
 * VariableScaleDecimal {"scale","value"} object, base64 bytes into a bytea
 * column.
 * Return: 1 when handled, 0 when the generic conversion applies, -1 with
 * SL_ERR_DATA in @err.
 */
int sl_dbz_convert_cell(const sl_column *col, const json_t *v, sl_strbuf *out, sl_error *err);

/**
 * sl_dbz_is_unavailable() - true when @v is the unchanged-TOAST placeholder
 * as a Debezium value can carry it: the string itself, the base64 of it (a
 * bytea column) or an array holding only it (an array column).
 */
bool sl_dbz_is_unavailable(const json_t *v);

/* sl_dbz_unavailable_text() - the same for a string's bytes @s, @n. */
bool sl_dbz_unavailable_text(const char *s, size_t n);

/**
 * sl_dbz_convert() - one Connect-schema'd value into the decoder.h
 * conventions, driven by the schema's type and semantic name: the walk of
 * connect_value.c with Debezium's own semantic types.
 * @schema: the field's Connect schema ({"type":..., "name":..., "parameters":...})
 * @v: the payload value
 * @json_text: when not NULL and @schema is a struct, receives
 *   field -> JSON text for io.debezium.data.Json fields of that struct
 * @tmp: scratch
 * Return: a new reference, or NULL with SL_ERR_DATA naming the problem.
 */
json_t *sl_dbz_convert(const json_t *schema, const json_t *v, json_t *json_text, sl_strbuf *tmp,
                       sl_error *err);

/**
 * sl_dbz_convert_field() - one scalar value @v of a struct field whose
 * schema is @field, converted as sl_dbz_convert() converts it inside its
 * struct; *@json_text is set when the struct's walk would also hand the
 * value to sl_change.json_text (an io.debezium.data.Json string).
 * Return: a new reference, or NULL with SL_ERR_DATA.
 */
json_t *sl_dbz_convert_field(const json_t *field, const json_t *v, bool *json_text, sl_strbuf *tmp,
                             sl_error *err);

/**
 * sl_dbz_token_plan() - how sl_dbz_convert_token() converts the values of
 * a field whose schema is @field, read once: 0 when it never can.
 *
 * sl_dbz_convert_token() - sl_dbz_convert_field() for a value of such a
 * field given as its token: a JSON string's bytes @s, @n (no NUL), or an
 * integer *@integer (@s unused).  Where the converted value is a string:
 * 1 with its bytes in *@out, *@out_len (@s itself or @tmp's text) and
 * *@json_text as sl_dbz_convert_field() sets it; 0 when only
 * sl_dbz_convert_field() on a JSON value can say (another result, an
 * error, the placeholder).  The same rules: the same functions.
 */
int64_t sl_dbz_token_plan(const json_t *field);
int sl_dbz_convert_token(int64_t plan, const char *s, size_t n, const int64_t *integer, sl_strbuf *tmp,
                         const char **out, size_t *out_len, bool *json_text);

/**
 * sl_dbz_fields() - sl_change.fields (schema_sync.h) for a Connect struct
 * schema of a row, so that auto_create / auto_evolve can shape tables from
 * a Debezium feed.  @key_schema (may be NULL) marks the key columns.
 * Return: a new array, or NULL when @schema is not a struct.
 */
json_t *sl_dbz_fields(const json_t *schema, const json_t *key_schema);

/* ---- schema_cache.c: each distinct Connect schema parsed and read once ---- */

/* Bounds of a decoder's schema cache: schemas held, bytes of their text
 * (the parsed form takes several times that), and the longest schema kept
 * (a longer one is parsed with each of its events, as without the cache). */
#define SL_DBZ_SCHEMA_CACHE_ENTRIES 128
#define SL_DBZ_SCHEMA_CACHE_BYTES (2u << 20)
#define SL_DBZ_SCHEMA_MAX_BYTES (256u << 10)

/* A value schema of a JsonConverter envelope, read once. */
typedef struct sl_dbz_schema {
    json_t *tree;          /* the "schema" member as parsed (owned), or NULL */
    const json_t *schema;  /* tree when it is a schema proper (has a "type"), else NULL */
    const json_t *after;   /* the envelope's "after" / "before" struct schemas, or NULL */
    const json_t *before;
    json_t *after_names;   /* when every field of "after" is a plain or primitive value, a
                              VariableScaleDecimal or an array of primitive values: its
                              field names -> true (kept as it is), [the field's schema
                              (sl_dbz_convert_field()), its sl_dbz_token_plan()] or [the
                              field's schema, 0, true] (nested), for the direct reader;
                              else NULL */
    json_t *before_names;  /* the same of "before", for the direct reader's deletes */
    int64_t key;           /* sl_change.schema_key: unique in the process; 0 when not cached */
    char *text;            /* cached: the schema's exact bytes, the cache key */
    size_t text_len;
    /* sl_change.fields of the last row schema asked for, and the key
     * schema it was built with */
    const json_t *fields_row;
    json_t *fields_key_schema;
    json_t *fields;
} sl_dbz_schema;

/* sl_dbz_schema_init() - read @tree (a reference taken over, may be NULL). */
void sl_dbz_schema_init(sl_dbz_schema *s, json_t *tree);
void sl_dbz_schema_fini(sl_dbz_schema *s);

/* sl_dbz_schema_fields() - sl_dbz_fields(@row, @key_schema) of @row (one of
 * @s's struct schemas), built once while the key schema stays equal.
 * Return: a new reference, or NULL. */
json_t *sl_dbz_schema_fields(sl_dbz_schema *s, const json_t *row, const json_t *key_schema);

typedef struct sl_dbz_cache sl_dbz_cache;

sl_dbz_cache *sl_dbz_cache_new(void);
void sl_dbz_cache_free(sl_dbz_cache *c);
void sl_dbz_cache_stats(const sl_dbz_cache *c, size_t *entries, size_t *bytes);

struct sl_decoder;
/* sl_dbz_schema_stats() - what the schema cache of a `format: debezium`
 * decoder holds: schemas and bytes of their text. */
void sl_dbz_schema_stats(const struct sl_decoder *d, size_t *entries, size_t *bytes);

/**
 * sl_dbz_cache_split() - a record value of the exact form
 * {"schema": {...}, "payload": P}: its schema from the cache (added when
 * new) and where P's text is.
 * Return: the schema, owned by @c and valid until the next call; NULL when
 * the value is not of that form, its schema is not valid JSON or too long
 * to keep: the caller then parses the value whole.  P is not checked: the
 * caller parses it, and parses the value whole when that fails.
 */
sl_dbz_schema *sl_dbz_cache_split(sl_dbz_cache *c, const char *value, size_t len, const char **payload,
                                  size_t *payload_len);

/* ---- envelope.c ---- */

/* What one pass over a payload's text finds (sl_dbz_envelope_scan()). */
typedef struct sl_dbz_envelope {
    const char *after;     /* the text of the "after" member's value (not checked), or NULL */
    size_t after_len;
    const char *before;    /* the text of the "before" member's value (checked), or NULL */
    size_t before_len;
    char op;               /* the op's letter, '?' when it is longer, 0 when absent */
    bool names_ok;         /* false: a name below holds an escape (only a parse can tell) */
    sl_cells_names names;  /* source.db, .schema, .table: strings without escapes, else NULL */
} sl_dbz_envelope;

/**
 * sl_dbz_envelope_scan() - the payload text @s, @n (an object) in one pass:
 * every member but "after" checked as jansson reads it, "after" only found.
 * Return: 1, or 0 when it is not valid JSON or only a parse can tell (an
 * escape in a member name or in the op, a repeated "after", "op", "source"
 * or name member of "source", an op that is not a string).
 */
int sl_dbz_envelope_scan(const char *s, size_t n, sl_dbz_envelope *e);

#endif
