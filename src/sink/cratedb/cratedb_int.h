/* cratedb_int.h - what the two CrateDB transports share.
 *
 * CrateDB has no transactions (BEGIN and COMMIT are accepted and ignored,
 * ROLLBACK is an error), so a flush is a sequence of bulk statements, each
 * row of which succeeds or fails on its own.  The transports (http.c: the
 * HTTP endpoint /_sql with bulk_args; pg.c: the PostgreSQL wire protocol)
 * only run "this statement for these rows" and report one outcome per row;
 * common.c plans the statements of a flush, decides what each outcome means
 * (reject the row, retry the flush, or stop) and remembers the rows it has
 * already rejected so that a retried flush never rejects a row twice.
 *
 * Delivery is at-least-once: every statement is idempotent (upsert by
 * primary key, delete by key, insert .. ON CONFLICT DO NOTHING), so a flush
 * that failed half-way is simply run again. */
#ifndef SLUICE_CRATEDB_INT_H
#define SLUICE_CRATEDB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/batch.h"
#include "sluice/error.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

/* What happened to one row of a bulk statement. */
typedef enum crate_outcome_kind {
    CR_OK = 0,   /* written (or, for a delete, nothing left to delete) */
    CR_AGAIN,    /* not executed, or its effect is not certain: send it again */
    CR_RETRY,    /* failed for a reason that passes (shard unavailable, conflict) */
    CR_DATA,     /* failed because of its values: retrying cannot help */
    CR_UNKNOWN,  /* reported as not written, without a reason */
    CR_MISSING,  /* an upsert found the row's document and then lost it (40411
                  * DocumentMissingException): delete the key, then write again */
} crate_outcome_kind;

typedef struct crate_outcome {
    crate_outcome_kind kind;
    char msg[256];
} crate_outcome;

/* What a statement expects each row to report. */
typedef enum crate_expect {
    CR_EXPECT_ONE,      /* upsert with DO UPDATE, plain insert: exactly 1 */
    CR_EXPECT_ANY,      /* delete, insert .. DO NOTHING: 0 or 1 */
} crate_expect;

/* A bulk statement: @sql with $1..$ncols bound from the cells @cols of each
 * row @rows[i] of @b; outcome i goes to @out[i]. */
typedef struct crate_stmt {
    const char *sql;
    const sl_table *table;
    sl_batch *b;
    const size_t *cols;
    size_t ncols;
    const size_t *rows;
    size_t nrows;
    crate_expect expect;
} crate_stmt;

/* A query's answer as text cells (NULL for SQL NULL), row-major. */
typedef struct crate_result {
    size_t nrows, ncols;
    char **cells;
} crate_result;

void crate_result_free(crate_result *r);
static inline const char *crate_cell(const crate_result *r, size_t row, size_t col)
{
    return r->cells[row * r->ncols + col];
}

typedef struct crate_transport {
    /* bulk() - run @st.  0: @out filled for every row.  -1: the statement as
     * a whole failed; @err says how (SL_ERR_DATA: because of a row's values,
     * which only a smaller set of rows can tell). */
    int (*bulk)(sl_sink *s, const crate_stmt *st, crate_outcome *out, sl_error *err);
    /* query() - one statement with text arguments; @res may be NULL. */
    int (*query)(sl_sink *s, const char *sql, const char *const *args, size_t nargs, crate_result *res,
                 sl_error *err);
} crate_transport;

/* A rejected or repeatedly failing row, remembered across tries of one flush. */
typedef struct crate_memo {
    const sl_row *row;
    int64_t offset;
    int32_t partition;
    int fails;
    bool rejected;
} crate_memo;

/* State both transports keep in their sink (first member of their impl). */
typedef struct crate_common {
    const crate_transport *tp;
    crate_memo *memo;
    size_t nmemo, memo_cap;
    char **dlq_ready;   /* dead-letter tables created by this sink */
    size_t ndlq_ready;
    sl_strbuf sql;
} crate_common;

#define CRATE(s) ((crate_common *)(s)->impl)

/* Rows reported as not written without a reason are sent again this many
 * times (one flush retry each) before they count as failed for good. */
#define CRATE_UNKNOWN_TRIES 3

void crate_common_free(crate_common *c);

/* crate_describe() - columns and key of @schema.@name from
 * information_schema (columns, table_constraints, key_column_usage, and
 * tables.clustered_by / partitioned_by where the server has them). */
int crate_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err);

/* crate_write() - every batch of @f, then its dead letters. */
int crate_write(sl_sink *s, sl_flush *f, sl_error *err);

/* crate_create_table() / crate_add_column() - auto_create / auto_evolve DDL. */
int crate_create_table(sl_sink *s, const sl_table *def, sl_error *err);
int crate_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err);

/* crate_coltype() - classify a column from information_schema.columns:
 * CrateDB's data_type ("text", "bigint", "object", "text_array",
 * "geo_point", "timestamp with time zone", ...) or, on a server that speaks
 * the PostgreSQL catalog, data_type "ARRAY"/"USER-DEFINED" with udt_name, and
 * a domain named after a CrateDB type (@domain, may be NULL). */
sl_coltype crate_coltype(const char *data_type, const char *udt_name, const char *domain, sl_coltype *elem);

/* crate_build_upsert() - INSERT INTO t (cols) VALUES ($1..) [ON CONFLICT (key)
 * DO UPDATE SET c = excluded.c | DO NOTHING]; key, CLUSTERED BY and
 * PARTITIONED BY columns never appear in the SET list.  Returns what each row
 * must report. */
crate_expect crate_build_upsert(sl_strbuf *q, const sl_table *t, const size_t *cols, size_t ncols,
                                bool upsert);
/* crate_build_delete() - DELETE FROM t WHERE k1 = $1 AND ... over the key
 * columns CrateDB does not compute; their indexes go to @cols (room for
 * t->nkey), their number is returned. */
size_t crate_build_delete(sl_strbuf *q, const sl_table *t, size_t *cols);

/* CrateDB's code for DocumentMissingException ("HTTP endpoint / Error
 * handling": 40411 document not found).  Codes have four or five digits:
 * 4041 unknown relation, 40410 unknown user, 40411 document not found. */
#define CRATE_DOCUMENT_MISSING 40411

/* crate_code_kind() - what a CrateDB error code (documented in "HTTP
 * endpoint / Error handling") and message mean for sluice. */
sl_errkind crate_code_kind(int code, const char *msg);

/* crate_message_is_data() - an error message that blames a value. */
bool crate_message_is_data(const char *msg);

/* ---- HTTP rendering and parsing (http.c), exposed for the unit tests ---- */

/* crate_json_cell() - append cell @data (PostgreSQL text form, as mapped)
 * of a column of type @type (@elem for arrays) as a JSON value: numbers
 * unquoted, booleans, OBJECT/json as objects, arrays as arrays, timestamps
 * as epoch milliseconds, GEO_POINT [lon, lat] as is.  -1 (SL_ERR_DATA) when
 * the cell cannot be expressed (e.g. text that is not UTF-8). */
int crate_json_cell(sl_strbuf *out, const char *data, size_t len, sl_coltype type, sl_coltype elem,
                    sl_error *err);

/* crate_write_deadletters() - the flush's dead letters into their tables
 * (deadletter.c). */
int crate_write_deadletters(sl_sink *s, sl_flush *f, sl_error *err);

/* crate_json_string() - append @s as a JSON string; -1 when not UTF-8. */
int crate_json_string(sl_strbuf *out, const char *s, size_t len);

/* crate_http_parse() - the answer to a bulk request of @n rows: HTTP @status
 * and @body.  0: @out filled (rowcount >= 0 per @expect is CR_OK, -2 is
 * classified by its error object, or error_message in older versions).  -1:
 * the request failed as a whole (@err: RETRY for 429/502/503/504 and shard
 * errors, DATA for a failure that blames values, FATAL for analysis errors
 * such as an unknown column). */
int crate_http_parse(long status, const char *body, size_t len, size_t n, crate_expect expect,
                     crate_outcome *out, sl_error *err);

/* The transports' operation tables (http.c, pg.c), chosen by cratedb.c. */
extern const sl_sink_ops sl_sink_cratedb_http;
extern const sl_sink_ops sl_sink_cratedb_pg;

/* crate_column_type() - the CrateDB column type for a field (sl_sink_ops.column_type). */
const char *crate_column_type(const json_t *field, char *buf, size_t len);

#endif
