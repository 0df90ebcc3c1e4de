/* Placeholder until the Debezium decoder lands. */
#include "sluice/decoder.h"
static int dbz_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{ return sl_error_set(err, SL_ERR_FATAL, "format debezium is not available in this build"); }
const sl_format_ops sl_format_debezium = { .format = SL_FMT_DEBEZIUM, .name = "debezium", .decode = dbz_decode };
