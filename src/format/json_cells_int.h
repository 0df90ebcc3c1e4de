/* json_cells_int.h - `format: json` read straight into a row's cells: one pass
 * of a tokenizer (json_cells.c) over the record's value, each field's text
 * written into the cell of the column of that name, with no JSON tree in
 * between.
 *
 * It is a shortcut, never a second set of rules: it takes a record only
 * when it can build exactly the row that decoding (json.c) and mapping
 * (mapping.c) would build, and declines it otherwise, leaving the record to
 * that general path, which also reports whatever is wrong with it.  What it
 * takes: an object whose fields are columns of the table (or fields already
 * reported as having none), holding null, strings, booleans and numbers
 * whose conversion to the column's type is plain (integers into integer,
 * float, numeric, boolean and text columns; decimals of up to 15 significant
 * digits into float columns; strings into text, timestamp, date and uuid
 * columns as mapping.c accepts them; epoch integers into timestamps and
 * dates), with every key column present and not null.  Routes with
 * `columns:` pointers, `add_columns:`, soft deletes or `key_format: avro`
 * always take the general path.  A route with transforms is read through
 * its chain's plan (sl_tx_plan, transform.h) when the chain has one: the
 * fields the transforms read or change are made JSON values, run through
 * those transforms and written by the mapper's rule (sl_map_cell()); a
 * filter that holds drops the record.
 *
 * The same reader takes the row of a Debezium change event under a kept
 * Connect schema (sl_json_cells_map_row(); the Debezium format decides
 * when: every field of the row's schema a plain type whose JSON value is
 * the row's value as it is, or a primitive one (Decimal, MicroTimestamp,
 * Json, ...) whose string, integer or boolean values the format's own
 * conversion turns into the value that the mapper's rule for a cell
 * (sl_map_cell()) then writes, exactly as the general path does). */
#ifndef SLUICE_JSON_CELLS_INT_H
#define SLUICE_JSON_CELLS_INT_H

#include "sluice/mapping.h"
#include "sluice/kafka_record.h"
#include "sluice/row.h"
#include "sluice/strbuf.h"

typedef struct sl_json_cells sl_json_cells;

/* sl_json_cells_new() - the reader for @m's table, or NULL when @m's route
 * needs the general path for every record.  @m must outlive it. */
sl_json_cells *sl_json_cells_new(const sl_mapping *m);
void sl_json_cells_free(sl_json_cells *jc);

/* sl_json_cells_map() - build the upsert row of @rec into @b: 1 when done,
 * 2 when the route's transforms drop the record (a route with a chain is
 * read through its plan, transform.h's sl_tx_plan: the fields each
 * transform concerns go through its own apply(), then sl_map_cell()),
 * 0 when the record must take the general path (@b is then left for that
 * path to restart). */
int sl_json_cells_map(sl_json_cells *jc, const sl_record *rec, sl_rowbuilder *b);


/* A format's conversion of one scalar value @v of a field whose schema is
 * @field (see sl_json_cells_map_row()); *@json_text set when the value is
 * JSON text that a json/jsonb column stores as it is.  NULL with @err when
 * the general path would reject it. */
typedef json_t *(*sl_json_cells_convert)(const json_t *field, const json_t *v, bool *json_text, sl_strbuf *tmp,
                                         sl_error *err);

/* The same conversion for a value given as its token (a string's bytes @s,
 * @n, or the integer *@integer) by the field's @plan (the format's, read
 * once from the field's schema): 1 with the converted value, a string, in
 * *@out, *@out_len; 0 when only the conversion above can say. */
typedef int (*sl_json_cells_convert_token)(int64_t plan, const char *s, size_t n, const int64_t *integer,
                                           sl_strbuf *tmp, const char **out, size_t *out_len, bool *json_text);

/* sl_json_cells_map_row() - the same for the text of one row object (a
 * Debezium change event's "after", found by debezium/envelope.c), whose
 * field names must all be members of @only (the row's Connect schema,
 * whose fields are all that the general path reads), or any when @only is
 * NULL; a member of @only that is an object (a field's schema), or an
 * array of a field's schema and an integer (its plan for @token), has its
 * values converted by @conv (skipped fields' too, since the general path
 * converts every field; by @token first, when given, which saves the JSON
 * values) and declines for an object, array or non-integer number, but
 * for a field whose entry is [schema, 0, true]: its object or array value
 * is parsed on its own and converted as a whole (Debezium's
 * VariableScaleDecimal, arrays of primitive values).  A
 * string value anywhere in the row, as decoded, that begins with one of
 * @refuse (a NULL-ended list, or NULL) declines. */
int sl_json_cells_map_row(sl_json_cells *jc, const char *row, size_t len, const json_t *only,
                          sl_json_cells_convert conv, sl_json_cells_convert_token token, const char *const *refuse,
                          sl_rowbuilder *b);

/* sl_json_cells_key_row() - the row of a delete whose value holds @key's
 * members on top (a Debezium delete: its record key, decoded): the key
 * columns' cells, each from @key's member of its name by the mapper's
 * rule, as the mapper builds a delete's row.  1 when done; 0 when the
 * general path must decide (a key column @key does not hold, a null one,
 * a value the column refuses). */
int sl_json_cells_key_row(sl_json_cells *jc, const json_t *key, sl_rowbuilder *b);

#endif
