/* debezium.h - what the rest of sluice needs from `format: debezium`
 * beyond its decoder (decoder.h): reading schemaless Debezium values whose
 * meaning depends on the target column. */
#ifndef SLUICE_DEBEZIUM_H
#define SLUICE_DEBEZIUM_H

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

/**
 * sl_debezium_convert_cell() - a value of a schemaless Debezium event
 * (JsonConverter with schemas.enable=false) that only the target column
 * can explain: a base64 Decimal into a numeric column (the scale is the
 * column's), a VariableScaleDecimal {"scale","value"} object, base64 bytes
 * into a bytea column.
 * @col: the target column
 * @v: the value (not null)
 * @out: receives the cell's text when handled
 * Return: 1 when handled, 0 when the generic conversion applies, -1 with
 * SL_ERR_DATA in @err.
 */
int sl_debezium_convert_cell(const sl_column *col, const json_t *v, sl_strbuf *out, sl_error *err);

#endif
