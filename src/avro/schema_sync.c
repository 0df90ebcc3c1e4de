/* Placeholder until auto_create/auto_evolve land. */
#include "sluice/schema_sync.h"
int sl_schema_sync(sl_sink *sink, const sl_route_conf *route, const char *schema, const char *name,
                   const sl_table *table, const sl_change *c, int *changed, sl_error *err)
{ *changed = 0; return sl_error_set(err, SL_ERR_FATAL, "auto_create/auto_evolve are not available in this build"); }
