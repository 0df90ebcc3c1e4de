/* dbz_int.h - internals of `format: debezium`, shared by the files of
 * src/format/debezium/ and their unit tests (not part of the public API). */
#ifndef SLUICE_DBZ_INT_H
#define SLUICE_DBZ_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * sl_dbz_decimal_text() - a base64 big-endian two's-complement unscaled
 * integer (Connect's Decimal, the `value` of VariableScaleDecimal) with
 * @scale digits after the point, appended to @out as exact decimal text.
 * Return: 0, or -1 with SL_ERR_DATA when @b64 is not base64 or the value
 * is beyond sl_fmt_decimal()'s bounds.
 */
int sl_dbz_decimal_text(const char *b64, size_t n, int64_t scale, sl_strbuf *out, sl_error *err);

/**
 * sl_dbz_is_unavailable() - true when @v is the unchanged-TOAST placeholder
 * as a Debezium value can carry it: the string itself, the base64 of it (a
 * bytea column) or an array holding only it (an array column).
 */
bool sl_dbz_is_unavailable(const json_t *v);

/**
 * sl_dbz_convert() - one Connect-schema'd value into the decoder.h
 * conventions, driven by the schema's type and semantic name.
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
 * sl_dbz_fields() - sl_change.fields (schema_sync.h) for a Connect struct
 * schema of a row, so that auto_create / auto_evolve can shape tables from
 * a Debezium feed.  @key_schema (may be NULL) marks the key columns.
 * Return: a new array, or NULL when @schema is not a struct.
 */
json_t *sl_dbz_fields(const json_t *schema, const json_t *key_schema);

#endif
