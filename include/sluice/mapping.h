/* mapping.h - change -> row for one table: pick each column's value (by
 * name, or by the route's explicit JSON pointer), convert it to the
 * column's type, and fill the key cells from the value or the record key. */
#ifndef SLUICE_MAPPING_H
#define SLUICE_MAPPING_H

#include <jansson.h>

#include "sluice/config.h"
#include "sluice/decoder.h"
#include "sluice/error.h"
#include "sluice/row.h"
#include "sluice/table.h"

/* Per (route, table) mapping plan, built once when a table is first seen. */
typedef struct sl_mapping {
    const sl_route_conf *route;
    const sl_table *table;
    /* the route's format's convert_cell (decoder.h), or NULL */
    int (*convert_cell)(const sl_column *col, const json_t *v, sl_strbuf *out, sl_error *err);
    const char **pointer; /* per column: JSON pointer from `columns`, or NULL (by name) */
    const char **meta;    /* per column: envelope path from `add_columns`, or NULL */
    long soft_delete_col; /* delete_mode soft: index of the flag column, else -1 */
    json_t *unmapped_seen; /* field names already reported as having no column */
} sl_mapping;

int sl_mapping_init(sl_mapping *m, const sl_route_conf *route, const sl_table *table, sl_error *err);
void sl_mapping_fini(sl_mapping *m);

/* sl_json_pointer() - the value at RFC 6901 pointer @ptr in @root, or NULL. */
json_t *sl_json_pointer(const json_t *root, const char *ptr);

/* sl_map_cell() - column @i of @b from the value @v as sl_map_change() sets
 * it (the format's convert_cell, then the generic conversion): the one rule
 * that direct readers (cells.h) share with the general path.  SL_ERR_DATA
 * when @v does not fit the column (@b's cell is then left unset). */
int sl_map_cell(const sl_mapping *m, sl_rowbuilder *b, uint32_t i, const json_t *v, sl_error *err);

/* sl_map_json_text_column() - true when @col stores a format's JSON text
 * (sl_change.json_text) as it is: json, jsonb and object columns. */
bool sl_map_json_text_column(const sl_column *col);

/* sl_map_change() - build the row for @c into @b.  @rec names the record in
 * messages.  SL_ERR_DATA for a value that does not fit its column or a key
 * that cannot be found. */
int sl_map_change(sl_mapping *m, const sl_change *c, const sl_record *rec, sl_rowbuilder *b,
                  sl_error *err);

/* sl_route_apply_key() - make the route's `key` (when given) the table's
 * conflict key; FATAL naming the column when the table lacks it. */
int sl_route_apply_key(const sl_route_conf *r, sl_table *t, sl_error *err);

/* sl_convert_value() - one JSON value into the text form of @type
 * (appended to @out).  @epoch: unit of bare numbers for time columns.
 * Exposed for tests and for the sinks that need it. */
int sl_convert_value(const json_t *v, sl_coltype type, sl_coltype elem, sl_epoch_unit epoch,
                     sl_strbuf *out, sl_error *err);

#endif
