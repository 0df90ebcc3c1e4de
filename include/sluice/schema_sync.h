/* schema_sync.h - auto_create / auto_evolve: make the target table fit the
 * schema a change carries (sl_change.fields) before its row is mapped.
 *
 * sl_change.fields is an array of objects, one per field of the value:
 *   "name"        field (= column) name
 *   "type"        sluice type: text, smallint, integer, bigint, numeric, real,
 *                 double precision, boolean, timestamptz, timestamp, date,
 *                 time, uuid, json, jsonb, bytea, array
 *   "optional"    the schema allows null
 *   "precision", "scale"   numeric (when the schema says)
 *   "length"      text: the largest length the source declares (a Connect
 *                 schema's __debezium.source.column.length), when it says
 *   "items"       array: the element's sluice type
 *   "key"         the field belongs to the record key's schema (auto_create
 *                 makes these the primary key when the route has no `key`)
 *   "source_type" the type as the schema spells it, for messages
 * Type names per database: docs/avro.md. */
#ifndef SLUICE_SCHEMA_SYNC_H
#define SLUICE_SCHEMA_SYNC_H

#include "sluice/config.h"
#include "sluice/decoder.h"
#include "sluice/sink.h"
#include "sluice/table.h"

/* sl_schema_sync() - @table is the table as known (NULL: it does not exist).
 * When DDL ran, *@changed is set and the caller re-describes the table.
 * Columns are added (nullable, ADD COLUMN IF NOT EXISTS) and, with
 * auto_evolve: widen, widened (sl_sink_ops.alter_column); never dropped,
 * renamed or narrowed.  A field that cannot be stored in its existing
 * column (a type's kind changed; with widen, also a wider field the target
 * cannot widen to) is SL_ERR_FATAL naming the field, the schema id and both
 * types.  Cheap when nothing changed: a (table, fields) pair already checked
 * by this thread is not checked again. */
int sl_schema_sync(sl_sink *sink, const sl_route_conf *route, const char *schema,
                   const char *name, const sl_table *table, const sl_change *c, int *changed,
                   sl_error *err);

/* sl_schema_column_type() - the column type auto_create / auto_evolve use
 * for @field on @target (e.g. "numeric(12,4)", "bigint[]",
 * "TIMESTAMP WITH TIME ZONE"); written into @buf. */
const char *sl_schema_column_type(int target, const json_t *field, char *buf, size_t len);

#endif
