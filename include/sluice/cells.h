/* cells.h - a format's direct reader: a record's value read straight into
 * a row's cells for one table, with no JSON tree in between.  Formats that
 * have one (plain JSON: format/json_cells_int.h; Avro: avro_cells.c) name it in their
 * sl_format_ops; the worker asks this seam and never which format a route
 * has.
 *
 * A direct reader is a shortcut, never a second set of rules: it takes a
 * record only when it builds exactly the row that decoding and mapping
 * (mapping.h) would build, and declines it otherwise; the general path then
 * builds the row, or reports what is wrong with the record. */
#ifndef SLUICE_CELLS_H
#define SLUICE_CELLS_H

#include "sluice/decoder.h"
#include "sluice/mapping.h"
#include "sluice/kafka_record.h"
#include "sluice/row.h"

struct sl_registry;

/* The fields of a change event that a table template may name besides
 * ${topic}: ${source.db}, ${source.schema}, ${source.table}. */
typedef enum { SL_CELLS_DB, SL_CELLS_SCHEMA, SL_CELLS_TABLE, SL_CELLS_NNAMES } sl_cells_name;

/* Their values in one record, as the general path's decoding would put
 * them into sl_change.meta (bytes of the record, not NUL-terminated);
 * NULL when the record does not hold one as a string. */
typedef struct sl_cells_names {
    const char *v[SL_CELLS_NNAMES];
    size_t n[SL_CELLS_NNAMES];
} sl_cells_names;

/* What a format supplies (decoder.h's sl_format_ops.cells). */
typedef struct sl_cells_ops {
    /* new() - the reader for @m's table, or NULL when @m's route needs the
     * general path for every record.  @m (and @reg) outlive it. */
    void *(*new)(const sl_mapping *m, struct sl_registry *reg);
    void (*free)(void *r);
    /* map() - the upsert row of @rec (decoded by @d's route) into @b: 1,
     * 2 when the route's transforms drop the record, 3 for a delete's row
     * (its key cells, as the mapper builds a delete's), or 0 to decline. */
    int (*map)(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b);
    /* learn() - the general path has just built a row from @c (may be NULL). */
    void (*learn)(void *r, const sl_change *c);
    /* takes routes with transforms (transform.h): new() decides per route
     * whether its chain can be read into cells, map() per record */
    bool transforms;
    /* names() - @rec's sl_cells_names found without decoding it, so that
     * the worker picks the table of a templated route before mapping: 1,
     * or 0 when only decoding can tell (a name with escapes, a repeated
     * member, not the format's plain frame).  NULL: the format has none.
     * The values point into @rec.  What it read of @rec may be kept for
     * @d's next call, when that is map() of the same record: call map()
     * or sl_decode() with @rec next, as the worker does. */
    int (*names)(sl_decoder *d, const sl_record *rec, sl_cells_names *out);
} sl_cells_ops;

typedef struct sl_cells sl_cells;

/* sl_cells_new() - the direct reader of @m's route's format for @m's table,
 * or NULL when there is none. */
sl_cells *sl_cells_new(const sl_mapping *m, struct sl_registry *reg);
void sl_cells_free(sl_cells *c);
/* sl_cells_map() - 1 with the upsert row of @rec in @b, 3 with its delete
 * row (a Debezium delete), 2 when the route's transforms drop it (a filter:
 * what the general path makes SL_OP_IGNORE, "filtered"), 0 when the
 * general path must take the record (@b is then left for it to restart). */
int sl_cells_map(sl_cells *c, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b);
/* sl_cells_learn() - tell the reader the general path built a row from @c
 * (a reader that plans per writer schema plans for @c's now). */
void sl_cells_learn(sl_cells *c, const sl_change *ch);

/* sl_cells_names_of() - the names of @rec (decoded by @d's route) for a
 * table template: 1, or 0 when the route's format cannot find them
 * without decoding the record. */
int sl_cells_names_of(sl_decoder *d, const sl_record *rec, sl_cells_names *out);

/* sl_cells_plain() - whether @m is what every direct reader needs: columns
 * filled by name alone (no `columns:` pointers, no `add_columns:`), no soft
 * deletes, a table with columns, a record key not in a registry format. */
bool sl_cells_plain(const sl_mapping *m);

/* The formats' readers. */
extern const sl_cells_ops sl_json_cells_ops, sl_avro_cells_ops, sl_protobuf_cells_ops;

#endif
