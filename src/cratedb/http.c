/* Placeholder until the CrateDB HTTP sink lands. */
#include "sluice/sink.h"
static int ch_open(sl_sink *s, sl_error *err) { return sl_error_set(err, SL_ERR_FATAL, "cratedb over HTTP is not available in this build"); }
static void ch_close(sl_sink *s) { (void)s; }
const sl_sink_ops sl_sink_cratedb_http = { .name = "cratedb-http", .open = ch_open, .close = ch_close };
