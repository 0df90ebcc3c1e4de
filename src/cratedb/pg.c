/* Placeholder until the CrateDB pgwire sink lands. */
#include "sluice/sink.h"
static int cp_open(sl_sink *s, sl_error *err) { return sl_error_set(err, SL_ERR_FATAL, "cratedb over pgwire is not available in this build"); }
static void cp_close(sl_sink *s) { (void)s; }
const sl_sink_ops sl_sink_cratedb_pg = { .name = "cratedb-pg", .open = cp_open, .close = cp_close };
