/* pg_int.h - what the files of the PostgreSQL sink (src/sink/postgresql/) share:
 * the sink's state, the rows of one write, and the functions one file
 * offers the others. */
#ifndef SLUICE_SINK_PG_INT_H
#define SLUICE_SINK_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "../pq_int.h"
#include "pgbinary_int.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"

typedef struct stage {
    char *qname;           /* the target table ... */
    size_t ncols;          /* ... and its width: a table that gained a column gets a new stage */
    uint64_t shape;        /* ... and its columns' names and types: so does a widened column */
    char *name;            /* quoted temp table name */
    bool created;          /* exists on this connection (a rollback may have undone it) */
    /* insert first (statements.c): batches to go before the next try, the
     * wait after the next failure, and off for good (COPY is refused) */
    unsigned first_skip, first_backoff;
    bool first_off;
    struct stage *next;
} stage;

typedef struct pg_sink {
    PGconn *conn;
    stage *stages;
    int nstages;
    bool offsets_ready;
    char **dlq_ready; /* dead-letter tables created on this connection */
    size_t ndlq_ready;
    sl_strbuf sql;
    sl_strbuf copy;
    sl_pgbin_kind *kinds; /* per column of the COPY being built */
    size_t nkinds;
    /* the isolation of bad rows (bisect()) of the flush being written */
    bool careful;         /* the flush is being written row set by row set */
    size_t isolated;      /* row sets it finished */
    bool stopped;         /* it ended early at a stop: ... */
    size_t stop_row;      /* ... at this row of the current batch */
} pg_sink;

#define PG(s) ((pg_sink *)(s)->impl)

/* Rows to write: indexes into b->rows (so that bisection can take halves). */
typedef struct rowset {
    sl_batch *b;
    const size_t *idx;
    size_t n;
} rowset;

static inline const sl_row *rs_row(const rowset *rs, size_t i)
{
    return rs->b->rows[rs->idx[i]];
}

/* After a rollback, objects created inside the transaction are gone. */
void rollback(sl_sink *s);
/* Fill @err from a failed result (or the connection when @res is NULL). */
int pg_fail(sl_sink *s, PGresult *res, const char *what, sl_error *err);
int exec_ok(sl_sink *s, const char *sql, int nparams, const char *const *params,
                   const char *what, sl_error *err);
/* Run @sql; return the first column of the first row as an integer. */
int exec_count(sl_sink *s, const char *sql, int nparams, const char *const *params,
                      const char *what, long long *out, sl_error *err);
int pg_open(sl_sink *s, sl_error *err);
void pg_close(sl_sink *s);
/* The isolation ended early in batch @bi: lower each partition's next
 * offset to its first record not written (a row of batch @bi from
 * stop_row on, or of a later batch), and drop the dead letters from there
 * on, which the records' next reading makes again. */
void stop_early(sl_sink *s, sl_flush *f, size_t bi);
int pg_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err);
int pg_create_table(sl_sink *s, const sl_table *def, sl_error *err);
int pg_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err);
int pg_alter_column(sl_sink *s, const sl_table *t, const sl_column *c, const char *new_type, bool drop_not_null,
                    sl_strbuf *ddl, sl_error *err);
/* COPY the rows into @target (column list @cols, plus an optional group
 * column); @group[i] is row i's group (only with @with_group).  Binary when
 * binary_rows() can, else text. */
int copy_rows(sl_sink *s, const char *target, const rowset *rs, const bool *colmask,
                     const int *group, bool with_group, sl_error *err);
const char *stage_for(sl_sink *s, const sl_table *t, sl_error *err);
/* The stage's entry for @t, made when missing, its temp table not yet. */
stage *stage_entry(sl_sink *s, const sl_table *t);
int write_rows(sl_sink *s, const rowset *rs, sl_error *err);
int pg_write(sl_sink *s, sl_flush *f, sl_error *err);
int ensure_offsets_table(sl_sink *s, sl_error *err);
/* Advance the stored offsets; fenced when another consumer moved them. */
int write_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n,
                         bool guarded, sl_error *err);
int pg_read_offsets(sl_sink *s, const char *group, const char *topic, const int32_t *parts,
                           size_t n, int64_t *out, sl_error *err);
int pg_set_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n, sl_error *err);
bool dlq_ready(pg_sink *p, const char *table);
int write_deadletters(sl_sink *s, sl_flush *f, sl_error *err);
/* sluice's type names are PostgreSQL's; arrays of JSON are jsonb. */
const char *pg_column_type(const json_t *field, char *buf, size_t len);

#endif
