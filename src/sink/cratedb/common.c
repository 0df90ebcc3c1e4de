/* common.c - CrateDB: statements and the handling of per-row outcomes,
 * shared by the HTTP and pgwire transports (the catalog: describe.c).
 *
 * A flush runs, per table: a DELETE of all rows (CrateDB has no TRUNCATE
 * for a batch that starts with a truncate), one bulk DELETE by key for the
 * deleted keys (and for rows that replace a deleted one), then one bulk
 * upsert per set of supplied columns.  The batch is already collapsed per
 * key, so no key appears twice and the order of the statements after the
 * deletes does not matter.  In insert mode rows keep their order: runs of
 * consecutive rows with the same operation and columns become one statement.
 *
 * Outcomes: a row that fails because of its values goes to the route's
 * on_error handling through the flush's reject callback (once: rejected rows
 * are remembered until the flush succeeds); a row that fails for a passing
 * reason makes the whole write SL_ERR_RETRY, and the worker runs the
 * idempotent flush again after a backoff with its partitions paused; a row
 * reported as not written without any reason is sent again on its own, then
 * retried, and after CRATE_UNKNOWN_TRIES tries counts as failed for good.
 * Offsets are committed by the worker only when write() returned 0, that is
 * when every row was confirmed written or handed to on_error. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cratedb_int.h"
#include "sluice/textfmt.h"
#include "sluice/log.h"
#include "sluice/sql.h"

void crate_result_free(crate_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    r->cells = NULL;
    r->nrows = r->ncols = 0;
}

void crate_common_free(crate_common *c)
{
    if (!c)
        return;
    free(c->memo);
    for (size_t i = 0; i < c->ndlq_ready; i++)
        free(c->dlq_ready[i]);
    free(c->dlq_ready);
    sl_strbuf_free(&c->sql);
}

/* ---- statements ---- */

crate_expect crate_build_upsert(sl_strbuf *q, const sl_table *t, const size_t *cols, size_t ncols, bool upsert)
{
    sl_strbuf_printf(q, "INSERT INTO %s (", t->qname);
    sl_sql_ident_list(q, t, cols, ncols);
    sl_strbuf_puts(q, ") VALUES (");
    for (size_t i = 0; i < ncols; i++)
        sl_strbuf_printf(q, "%s$%zu", i ? ", " : "", i + 1);
    sl_strbuf_putc(q, ')');
    if (t->nkey == 0)
        return CR_EXPECT_ONE;
    /* CrateDB's INSERT: ON CONFLICT (pk) DO UPDATE SET col = excluded.col,
     * no WHERE; primary key, CLUSTERED BY and PARTITIONED BY columns cannot be
     * updated (reference: "INSERT", ON CONFLICT DO UPDATE SET). */
    sl_strbuf_puts(q, " ON CONFLICT (");
    sl_sql_ident_list(q, t, t->key, t->nkey);
    sl_strbuf_puts(q, ") DO ");
    bool first = true;
    for (size_t i = 0; upsert && i < ncols; i++) {
        const sl_column *c = &t->cols[cols[i]];
        if (c->in_key || c->no_update || c->generated)
            continue;
        sl_strbuf_puts(q, first ? "UPDATE SET " : ", ");
        sl_sql_ident(q, c->name);
        sl_strbuf_puts(q, " = excluded.");
        sl_sql_ident(q, c->name);
        first = false;
    }
    if (first) {
        sl_strbuf_puts(q, "NOTHING");
        return CR_EXPECT_ANY;
    }
    return CR_EXPECT_ONE;
}

size_t crate_build_delete(sl_strbuf *q, const sl_table *t, size_t *cols)
{
    size_t n = 0;
    sl_strbuf_printf(q, "DELETE FROM %s WHERE ", t->qname);
    for (size_t k = 0; k < t->nkey; k++) {
        const sl_column *c = &t->cols[t->key[k]];
        if (c->computed)
            continue; /* CrateDB derives it from the others, or searches */
        if (n)
            sl_strbuf_puts(q, " AND ");
        sl_sql_ident(q, c->name);
        cols[n++] = t->key[k];
        sl_strbuf_printf(q, " = $%zu", n);
    }
    return n;
}

/* ---- error classification ---- */

bool crate_message_is_data(const char *msg)
{
    static const char *const pats[] = {
        "Cannot cast", "cannot cast", "ColumnValidationException", "ConversionException",
        "must not be null", "Cannot insert null", "null value", "invalid input", "Invalid",
        "out of range", "not a valid", "Mixed dataTypes", "mapping", "too long",
    };
    if (!msg)
        return false;
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
        if (strstr(msg, pats[i]))
            return true;
    return false;
}

/* Error codes from CrateDB's reference, "HTTP endpoint / Error handling":
 * 4000 invalid syntax or unsupported statement, 4003 field type validation
 * failed, 4010/4011 not authorized / missing privilege, 4031 read-only node,
 * 404x unknown relation/column/schema/..., 4091 duplicate primary key, 4092
 * version conflict, 5000 unhandled server error, 5001 task failed, 5002
 * shards not available, 5003 query failed on shards, 5030 killed. */
sl_errkind crate_code_kind(int code, const char *msg)
{
    /* five digits: a four-digit class and one more (40000 bad request,
     * 40410 unknown user, 40411 document missing) */
    if (code == CRATE_DOCUMENT_MISSING)
        return SL_ERR_RETRY; /* the document went away between two reads: it passes */
    if (code >= 10000 && code < 100000)
        code /= 10;
    if (code == 4003 || code == 4091)
        return SL_ERR_DATA;
    if (code == 4092 || code == 4031 || code == 5030 || code == 5002)
        return SL_ERR_RETRY;
    if (code >= 4000 && code < 5000)
        return code == 4000 && crate_message_is_data(msg) ? SL_ERR_DATA : SL_ERR_FATAL;
    /* a server-side failure is the server's, whatever its message quotes
     * (a 5000 "... mapping ..." is not a bad value): by the code only */
    return SL_ERR_RETRY;
}

/* ---- remembering failed rows ---- */

static crate_memo *memo_find(crate_common *c, const sl_row *r, bool add)
{
    for (size_t i = 0; i < c->nmemo; i++)
        if (c->memo[i].row == r && c->memo[i].offset == r->offset && c->memo[i].partition == r->partition)
            return &c->memo[i];
    if (!add)
        return NULL;
    if (c->nmemo == c->memo_cap) {
        c->memo_cap = c->memo_cap ? c->memo_cap * 2 : 16;
        c->memo = sl_xrealloc(c->memo, c->memo_cap * sizeof(*c->memo));
    }
    crate_memo *m = &c->memo[c->nmemo++];
    *m = (crate_memo){r, r->offset, r->partition, 0, false};
    return m;
}

static bool rejected(crate_common *c, const sl_row *r)
{
    if (c->nmemo == 0)
        return false;
    crate_memo *m = memo_find(c, r, false);
    return m && m->rejected;
}

/* Hand row @i of @b to the route's on_error handling. */
static int reject_row(sl_sink *s, sl_flush *f, sl_batch *b, size_t i, const char *msg, sl_error *err)
{
    sl_row *r = b->rows[i];
    sl_error why;
    sl_error_set(&why, SL_ERR_DATA, "%s", msg);
    log_warn(s->ctx, "%s[%d]@%" PRId64 " not written to %s: %s", r->topic, r->partition, r->offset,
             b->table->qname, msg);
    if (!f->reject || f->reject(f->reject_opaque, f, b, i, &why)) {
        *err = why;
        return -1;
    }
    memo_find(CRATE(s), r, true)->rejected = true;
    return 0;
}

/* ---- running one statement over rows ---- */

typedef struct run_ctx {
    sl_sink *s;
    sl_flush *f;
    crate_stmt st;
} run_ctx;

static int run_rows(run_ctx *rc, const size_t *rows, size_t n, int depth, sl_error *err);

/* DELETE by key for @rows of the statement's batch (a depth that stops the
 * deletes' own outcomes from coming back here). */
static int delete_rows(run_ctx *rc, const size_t *rows, size_t n, sl_error *err)
{
    const sl_table *t = rc->st.table;
    size_t *cols = sl_xmalloc((t->nkey ? t->nkey : 1) * sizeof(size_t));
    sl_strbuf q = SL_STRBUF_INIT;
    size_t ncols = crate_build_delete(&q, t, cols);
    run_ctx dc = {rc->s, rc->f, {q.data, t, rc->st.b, cols, ncols, NULL, 0, CR_EXPECT_ANY}};
    log_info(rc->s->ctx, "%s: %zu rows found their key taken and their document missing (CrateDB error %d):"
             " deleting the key and writing them again", t->qname, n, CRATE_DOCUMENT_MISSING);
    int r = ncols ? run_rows(&dc, rows, n, 1, err)
                  : sl_error_set(err, SL_ERR_RETRY, "%s: no key column to delete by", t->qname);
    sl_strbuf_free(&q);
    free(cols);
    return r;
}

/* Run the statement for @rows; a statement-level data error is narrowed
 * down by halving until the row it blames is alone. */
static int run_rows(run_ctx *rc, const size_t *rows, size_t n, int depth, sl_error *err)
{
    sl_sink *s = rc->s;
    crate_common *c = CRATE(s);
    if (n == 0)
        return 0;
    size_t *pending = sl_xmalloc(n * sizeof(size_t));
    size_t *next = sl_xmalloc(n * sizeof(size_t));
    size_t *missing = sl_xmalloc(n * sizeof(size_t));
    crate_outcome *out = sl_xcalloc(n, sizeof(crate_outcome));
    memcpy(pending, rows, n * sizeof(size_t));
    size_t np = n;
    int result = 0;
    sl_error retry;
    bool transient = false;
    for (int round = 0; np > 0; round++) {
        if (round > 8) { /* rows keep coming back "send again" */
            sl_error_set(&retry, SL_ERR_RETRY, "%zu rows of %s were not confirmed after %d tries", np,
                         rc->st.table->qname, round);
            transient = true;
            break;
        }
        crate_stmt st = rc->st;
        st.rows = pending;
        st.nrows = np;
        memset(out, 0, np * sizeof(*out));
        if (c->tp->bulk(s, &st, out, err)) {
            if (err->kind != SL_ERR_DATA) {
                result = -1;
                break;
            }
            if (np == 1) {
                result = reject_row(s, rc->f, st.b, pending[0], err->msg, err);
                break;
            }
            size_t half = np / 2;
            result = run_rows(rc, pending, half, depth + 1, err);
            if (result == 0)
                result = run_rows(rc, pending + half, np - half, depth + 1, err);
            break;
        }
        size_t nn = 0, nmiss = 0;
        for (size_t i = 0; i < np && result == 0; i++) {
            const sl_row *r = st.b->rows[pending[i]];
            switch (out[i].kind) {
            case CR_OK:
                break;
            case CR_AGAIN:
                next[nn++] = pending[i];
                break;
            case CR_MISSING: {
                crate_memo *m = memo_find(c, r, true);
                if (++m->fails <= CRATE_UNKNOWN_TRIES && depth == 0) {
                    missing[nmiss++] = pending[i];
                    next[nn++] = pending[i];
                } else if (!transient) {
                    sl_error_set(&retry, SL_ERR_RETRY, "%s[%d]@%" PRId64 " not written to %s: %s (try %d)", r->topic,
                                 r->partition, r->offset, st.table->qname, out[i].msg, m->fails);
                    transient = true;
                }
                break;
            }
            case CR_DATA:
                result = reject_row(s, rc->f, st.b, pending[i], out[i].msg, err);
                break;
            case CR_RETRY:
                if (!transient)
                    sl_error_set(&retry, SL_ERR_RETRY, "%s[%d]@%" PRId64 " not written to %s: %s", r->topic,
                                 r->partition, r->offset, st.table->qname, out[i].msg);
                transient = true;
                break;
            case CR_UNKNOWN: {
                crate_memo *m = memo_find(c, r, true);
                m->fails++;
                if (m->fails >= CRATE_UNKNOWN_TRIES) {
                    char msg[400];
                    snprintf(msg, sizeof(msg), "reported as not written %d times (%s)", m->fails, out[i].msg);
                    result = reject_row(s, rc->f, st.b, pending[i], msg, err);
                } else if (np > 1 && m->fails == 1) {
                    /* alone, a server may say why (older CrateDB versions
                     * report a failed single-row bulk as an error) */
                    sl_error one;
                    if (run_rows(rc, &pending[i], 1, depth + 1, &one)) {
                        if (one.kind != SL_ERR_RETRY) {
                            *err = one;
                            result = -1;
                        } else if (!transient) {
                            retry = one;
                            transient = true;
                        }
                    }
                } else {
                    if (!transient)
                        sl_error_set(&retry, SL_ERR_RETRY, "%s[%d]@%" PRId64 " not written to %s: %s (try %d)",
                                     r->topic, r->partition, r->offset, st.table->qname, out[i].msg, m->fails);
                    transient = true;
                }
                break;
            }
            }
        }
        if (result == 0 && nmiss > 0) {
            /* the upsert found these keys taken, then found no document to
             * update: delete whatever is left under the key, and the next
             * round inserts the row afresh (a row over the same key) */
            sl_error derr;
            if (delete_rows(rc, missing, nmiss, &derr)) {
                if (derr.kind != SL_ERR_RETRY) {
                    *err = derr;
                    result = -1;
                } else if (!transient) {
                    retry = derr;
                    transient = true;
                }
            }
        }
        if (result)
            break;
        memcpy(pending, next, nn * sizeof(size_t));
        np = nn;
    }
    free(pending);
    free(next);
    free(missing);
    free(out);
    if (result == 0 && transient) {
        *err = retry;
        result = -1;
    }
    return result;
}

static int run_stmt(sl_sink *s, sl_flush *f, sl_batch *b, const char *sql, const size_t *cols, size_t ncols,
                    const size_t *rows, size_t n, crate_expect expect, sl_error *err)
{
    run_ctx rc = {s, f, {sql, b->table, b, cols, ncols, NULL, 0, expect}};
    log_debug(s->ctx, "%zu rows: %s", n, sql);
    return run_rows(&rc, rows, n, 0, err);
}

/* Columns a row supplies (neither absent nor generated). */
static size_t row_cols(const sl_table *t, const sl_row *r, size_t *cols)
{
    size_t n = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (r->len[c] != SL_CELL_ABSENT && !t->cols[c].generated)
            cols[n++] = c;
    return n;
}

static bool same_cols(const sl_table *t, const sl_row *a, const sl_row *b)
{
    for (size_t c = 0; c < t->ncols; c++)
        if ((a->len[c] == SL_CELL_ABSENT) != (b->len[c] == SL_CELL_ABSENT))
            return false;
    return true;
}

static int write_deletes(sl_sink *s, sl_flush *f, sl_batch *b, const size_t *rows, size_t n, sl_error *err)
{
    const sl_table *t = b->table;
    if (n == 0)
        return 0;
    if (t->nkey == 0)
        return sl_error_set(err, SL_ERR_FATAL, "%s has no primary key: deletes need one", t->qname);
    sl_strbuf *q = &CRATE(s)->sql;
    bool refresh = false;
    for (size_t k = 0; k < t->nkey; k++)
        refresh |= t->cols[t->key[k]].refresh_to_delete;
    if (refresh) {
        /* the delete is a query, and a query sees only what a refresh made
         * visible (reference: "Refresh"): rows written moments ago would
         * survive it */
        sl_strbuf_reset(q);
        sl_strbuf_printf(q, "REFRESH TABLE %s", t->qname);
        if (CRATE(s)->tp->query(s, q->data, NULL, 0, NULL, err))
            return -1;
    }
    size_t *cols = sl_xmalloc(t->nkey * sizeof(size_t));
    sl_strbuf_reset(q);
    size_t ncols = crate_build_delete(q, t, cols);
    if (ncols == 0) {
        free(cols);
        return sl_error_set(err, SL_ERR_FATAL, "%s: every primary-key column is generated: a delete cannot name a row",
                            t->qname);
    }
    char *sql = sl_xstrdup(q->data);
    int rc = run_stmt(s, f, b, sql, cols, ncols, rows, n, CR_EXPECT_ANY, err);
    free(sql);
    free(cols);
    return rc;
}

static int write_inserts(sl_sink *s, sl_flush *f, sl_batch *b, const size_t *rows, size_t n, bool upsert,
                         sl_error *err)
{
    const sl_table *t = b->table;
    size_t *cols = sl_xmalloc((t->ncols ? t->ncols : 1) * sizeof(size_t));
    size_t ncols = row_cols(t, b->rows[rows[0]], cols);
    int rc = 0;
    if (ncols == 0) {
        free(cols);
        return 0;
    }
    sl_strbuf *q = &CRATE(s)->sql;
    sl_strbuf_reset(q);
    crate_expect ex = crate_build_upsert(q, t, cols, ncols, upsert);
    char *sql = sl_xstrdup(q->data);
    rc = run_stmt(s, f, b, sql, cols, ncols, rows, n, ex, err);
    free(sql);
    free(cols);
    return rc;
}

static int write_batch(sl_sink *s, sl_flush *f, sl_batch *b, sl_error *err)
{
    crate_common *c = CRATE(s);
    const sl_table *t = b->table;
    int rc = 0;
    if (b->truncate) {
        /* CrateDB deletes all rows with DELETE FROM (no TRUNCATE) */
        sl_strbuf_reset(&c->sql);
        sl_strbuf_printf(&c->sql, "DELETE FROM %s", t->qname);
        if (c->tp->query(s, c->sql.data, NULL, 0, NULL, err))
            return -1;
    }
    size_t *live = sl_xmalloc((b->nrows ? b->nrows : 1) * sizeof(size_t));
    size_t *sel = sl_xmalloc((b->nrows ? b->nrows : 1) * sizeof(size_t));
    bool *done = sl_xcalloc(b->nrows ? b->nrows : 1, sizeof(bool));
    size_t n = 0;
    for (size_t i = 0; i < b->nrows; i++)
        if (b->rows[i] && !rejected(c, b->rows[i]))
            live[n++] = i;
    if (b->collapse && t->nkey) {
        size_t nd = 0;
        for (size_t i = 0; i < n; i++) {
            const sl_row *r = b->rows[live[i]];
            if (r->op == SL_OP_DELETE || r->replace)
                sel[nd++] = live[i];
        }
        rc = write_deletes(s, f, b, sel, nd, err);
        for (size_t i = 0; !rc && i < n; i++) {
            const sl_row *r0 = b->rows[live[i]];
            if (done[i] || r0->op != SL_OP_UPSERT)
                continue;
            size_t ns = 0;
            for (size_t j = i; j < n; j++) {
                const sl_row *r = b->rows[live[j]];
                if (!done[j] && r->op == SL_OP_UPSERT && same_cols(t, r0, r)) {
                    sel[ns++] = live[j];
                    done[j] = true;
                }
            }
            rc = write_inserts(s, f, b, sel, ns, true, err);
        }
    } else {
        /* in order: runs of rows with the same operation and columns */
        for (size_t i = 0; !rc && i < n;) {
            const sl_row *r0 = b->rows[live[i]];
            size_t j = i;
            while (j < n && b->rows[live[j]]->op == r0->op &&
                   (r0->op == SL_OP_DELETE || same_cols(t, r0, b->rows[live[j]])))
                j++;
            if (r0->op == SL_OP_DELETE)
                rc = write_deletes(s, f, b, live + i, j - i, err);
            else
                rc = write_inserts(s, f, b, live + i, j - i, false, err);
            i = j;
        }
    }
    free(live);
    free(sel);
    free(done);
    return rc;
}

int crate_write(sl_sink *s, sl_flush *f, sl_error *err)
{
    for (size_t i = 0; i < f->nbatches; i++) {
        if (write_batch(s, f, f->batches[i], err)) {
            sl_error_prefix(err, "%s: ", f->batches[i]->table->qname);
            return -1;
        }
    }
    if (f->ndead && crate_write_deadletters(s, f, err))
        return -1;
    CRATE(s)->nmemo = 0; /* every row written or handled */
    return 0;
}

/* ---- DDL (auto_create / auto_evolve) ---- */

int crate_create_table(sl_sink *s, const sl_table *def, sl_error *err)
{
    sl_strbuf q = SL_STRBUF_INIT;
    sl_sql_create_table(&q, def);
    int rc = CRATE(s)->tp->query(s, q.data, NULL, 0, NULL, err);
    sl_strbuf_free(&q);
    return rc;
}

int crate_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err)
{
    sl_strbuf q = SL_STRBUF_INIT;
    sl_strbuf_printf(&q, "ALTER TABLE %s ADD COLUMN ", t->qname);
    sl_sql_ident(&q, c->name);
    sl_strbuf_printf(&q, " %s", c->type_name);
    int rc = CRATE(s)->tp->query(s, q.data, NULL, 0, NULL, err);
    sl_strbuf_free(&q);
    /* a column another worker added meanwhile is what we wanted */
    if (rc && (strstr(err->msg, "already exists") || strstr(err->msg, "4093")))
        rc = 0;
    return rc;
}
