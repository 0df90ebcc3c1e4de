/* schema_sync.h - auto_create / auto_evolve: make the target table fit the
 * schema a change carries (sl_change.fields) before its row is mapped. */
#ifndef SLUICE_SCHEMA_SYNC_H
#define SLUICE_SCHEMA_SYNC_H

#include "sluice/config.h"
#include "sluice/decoder.h"
#include "sluice/sink.h"
#include "sluice/table.h"

/* sl_schema_sync() - @table is the table as known (NULL: it does not exist).
 * When DDL ran, *@changed is set and the caller re-describes the table.
 * A field that cannot be stored in its existing column is SL_ERR_FATAL
 * naming the field, the schema id and both types. */
int sl_schema_sync(sl_sink *sink, const sl_route_conf *route, const char *schema,
                   const char *name, const sl_table *table, const sl_change *c, int *changed,
                   sl_error *err);

#endif
