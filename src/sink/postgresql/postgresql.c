/* postgresql.c - the PostgreSQL target type: its options and its operations
 * table; the jobs live beside it in src/sink/postgresql/ (pg_int.h).
 *
 * A flush is one transaction: for each table, the batch's rows go by COPY
 * (binary format when pgbinary.c can write every cell, else text) into a
 * temporary staging table, then one DELETE for the
 * deleted keys and one INSERT .. SELECT .. ON CONFLICT DO UPDATE per set of
 * supplied columns; dead letters go to their tables; with exactly-once the
 * next offset of every partition the flush covers is written to
 * sluice.offsets, guarded by the offset the batch started from.  Data and
 * offsets commit or roll back together.
 *
 * A flush failing on bad data (SQLSTATE class 22 or 23) is re-run with one
 * savepoint per try, halving the rows until the bad ones are isolated; the
 * good rows commit, the bad ones go to the reject callback.  That can take
 * long (every row of a batch bad: twice as many tries as rows): when sluice
 * is stopping meanwhile (sl_flush.stopping), the isolation ends at the next
 * try and what it finished commits, so that no restart throws it away.  Its
 * rows are a prefix of each batch in the order the records came, and the
 * batches run in order: each partition's offset is lowered to its first
 * record that has not been written, the dead letters from there on are
 * dropped (the records are read again), and the rest is left to the next
 * run. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "sluice/log.h"
#include "sluice/sink.h"
#include "sluice/sql.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

static int pg_check_conf(sl_target_conf *t, const char **key, sl_error *err)
{
    if (sl_pq_check_conf(t, key, err))
        return -2;
    *key = "dsn";
    if (!t->dsn)
        return sl_error_set(err, SL_ERR_FATAL, "a postgresql target needs a dsn");
    if (t->url)
        return sl_error_set(err, SL_ERR_FATAL, "url is for cratedb targets; postgresql uses dsn");
    if ((int)t->delivery == -1)
        t->delivery = SL_DELIVERY_EXACTLY_ONCE;
    if (!t->schema)
        t->schema = sl_xstrdup("public");
    return 0;
}

const sl_sink_ops sl_sink_postgresql = {
    .name = "postgresql",
    .transactional = true,
    .update_mode = true,
    .check_conf = pg_check_conf,
    .column_type = pg_column_type,
    .open = pg_open,
    .close = pg_close,
    .cancel = sl_pq_cancel,
    .describe = pg_describe,
    .write = pg_write,
    .read_offsets = pg_read_offsets,
    .set_offsets = pg_set_offsets,
    .create_table = pg_create_table,
    .add_column = pg_add_column,
    .alter_column = pg_alter_column,
    .guard_conf = sl_pq_guard_conf,
    .unreachable = sl_pq_unreachable,
    /* NAMEDATALEN - 1: a longer name is cut, and never found again under its own */
    .max_name_len = 63,
    .title = "PostgreSQL",
};
