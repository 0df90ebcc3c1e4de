/* write.c - one flush as one transaction: every batch, the dead letters and the
 * offsets; a flush failing on bad data is re-run under savepoints, halving
 * the rows until the bad ones are isolated (bisection). */
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

/* Savepoint-guarded try; on failure the savepoint is rolled back. */
static int try_rows(sl_sink *s, const rowset *rs, sl_error *err)
{
    if (exec_ok(s, "SAVEPOINT sluice_try", 0, NULL, "SAVEPOINT", err))
        return -1;
    if (write_rows(s, rs, err) == 0) {
        /* the stage keeps rows until commit: empty it for the next try */
        if (rs->b->collapse) {
            sl_strbuf q = SL_STRBUF_INIT;
            sl_strbuf_printf(&q, "DELETE FROM %s", stage_for(s, rs->b->table, err));
            int rc = exec_ok(s, q.data, 0, NULL, "emptying the staging table", err);
            sl_strbuf_free(&q);
            if (rc)
                return -1;
        }
        return exec_ok(s, "RELEASE SAVEPOINT sluice_try", 0, NULL, "RELEASE", err);
    }
    sl_error why = *err;
    if (!PG(s)->conn || why.kind != SL_ERR_DATA)
        return -1;
    if (exec_ok(s, "ROLLBACK TO SAVEPOINT sluice_try", 0, NULL, "ROLLBACK TO SAVEPOINT", err))
        return -1;
    *err = why;
    return 1; /* data error, rolled back */
}

/* A refused row that a collapsing batch made of several records: write
 * those records one by one, oldest first, each in its own try; only those
 * refused alone go to the reject callback.  The row's last record alone
 * may be the bad one: the ones before it must not be lost with it. */
static int unroll(sl_sink *s, sl_flush *f, const sl_batch *b, const sl_row *row, sl_error *err)
{
    size_t n;
    sl_row **recs = sl_batch_unroll(row, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* a one-row view of the batch, for the write and the callback */
        sl_batch one = *b;
        one.rows = &recs[i];
        one.nrows = one.live = 1;
        one.bytes = recs[i]->size;
        size_t zero = 0;
        rowset rs = {&one, &zero, 1};
        rc = try_rows(s, &rs, err);
        if (rc == 1)
            rc = f->reject && !f->reject(f->reject_opaque, f, &one, 0, err) ? 0 : -1;
    }
    free(recs);
    return rc;
}

/* Write @rs, isolating rows that fail with a data error by halving: 0
 * done, -1 failed, 1 ended early at a stop (PG(s)->stop_row: the first row
 * not written; the sets are taken in row order). */
static int bisect(sl_sink *s, sl_flush *f, const rowset *rs, sl_error *err)
{
    pg_sink *p = PG(s);
    if (p->isolated > 0 && f->stopping && f->stopping(f->reject_opaque)) {
        p->stopped = true;
        p->stop_row = rs->idx[0];
        return 1;
    }
    int rc = try_rows(s, rs, err);
    if (rc <= 0) {
        p->isolated += rc == 0;
        return rc;
    }
    if (rs->n == 1) {
        const sl_row *row = rs->b->rows[rs->idx[0]];
        if (row->superseded)
            return unroll(s, f, rs->b, row, err);
        if (!f->reject || f->reject(f->reject_opaque, f, rs->b, rs->idx[0], err))
            return -1;
        p->isolated++;
        return 0;
    }
    size_t half = rs->n / 2;
    rowset a = {rs->b, rs->idx, half}, b = {rs->b, rs->idx + half, rs->n - half};
    if ((rc = bisect(s, f, &a, err)) != 0)
        return rc;
    return bisect(s, f, &b, err);
}

/* " FROM table WHERE key = $1 ..." for the key of @row, its cells in @params. */
static void from_key(sl_strbuf *q, const sl_table *t, const sl_row *row, const char **params)
{
    sl_strbuf_printf(q, " FROM %s WHERE ", t->qname);
    for (size_t k = 0; k < t->nkey; k++) {
        if (k)
            sl_strbuf_puts(q, " AND ");
        sl_sql_ident(q, t->cols[t->key[k]].name);
        sl_strbuf_printf(q, " = $%zu", k + 1);
        params[k] = sl_row_cell(row, t->key[k]);
    }
}

/* Rows re-created under a new key without some values (batch.h sl_carry):
 * those cells from the stored row of the old key, read in this
 * transaction before the batch's deletes.  Filled rows replace their
 * slot's row, so a retried write does not read them again. */
static int fill_carries(sl_sink *s, sl_batch *b, sl_error *err)
{
    const sl_table *t = b->table;
    sl_strbuf q = SL_STRBUF_INIT;
    const char **params = sl_xcalloc(t->nkey ? t->nkey : 1, sizeof(char *));
    sl_rowbuilder rb;
    sl_rowbuilder_init(&rb);
    int rc = 0;
    for (size_t i = 0; !rc && i < b->ncarries; i++) {
        sl_carry *c = &b->carries[i];
        sl_row *r = b->rows[c->row];
        if (c->state != SL_CARRY_PENDING)
            continue;
        if (!r || r->op != SL_OP_UPSERT) {
            c->state = SL_CARRY_FILLED;
            continue;
        }
        sl_strbuf_reset(&q);
        size_t n = 0;
        for (size_t k = 0; k < c->nfill; k++) {
            if (r->len[c->fill[k]] != SL_CELL_ABSENT)
                continue;
            sl_strbuf_puts(&q, n++ ? ", " : "SELECT ");
            sl_sql_ident(&q, t->cols[c->fill[k]].name);
        }
        if (!n) {
            c->state = SL_CARRY_FILLED;
            continue;
        }
        from_key(&q, t, c->old_key, params);
        PGresult *res = PQexecParams(PG(s)->conn, q.data, (int)t->nkey, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(s, res, "reading the old row of a key change", err);
            break;
        }
        if (PQntuples(res) == 0) {
            log_debug(s->ctx, "%s: the key change at %s[%d]@%lld finds no stored old row", t->qname, r->topic,
                      (int)r->partition, (long long)r->offset);
            c->state = SL_CARRY_GONE;
            PQclear(res);
            continue;
        }
        sl_rowbuilder_start(&rb, r->ncols);
        int j = 0;
        for (size_t k = 0; k < c->nfill; k++) {
            uint32_t col = c->fill[k];
            if (r->len[col] != SL_CELL_ABSENT)
                continue;
            if (PQgetisnull(res, 0, j))
                sl_rowbuilder_set_null(&rb, col);
            else
                sl_rowbuilder_set(&rb, col, PQgetvalue(res, 0, j), (size_t)PQgetlength(res, 0, j));
            j++;
        }
        PQclear(res);
        sl_row *from = sl_rowbuilder_finish(&rb, SL_OP_UPSERT, r->topic, r->partition, r->offset, NULL, 0, NULL, 0);
        sl_batch_fill_carry(b, c, from);
        free(from);
    }
    sl_rowbuilder_free(&rb);
    free(params);
    sl_strbuf_free(&q);
    return rc;
}

/* Key changes' deletes whose creates are not in this batch (batch.h
 * sl_stash): the old key's stored row, read before the delete, every column
 * but generated ones, with the cells the delete row kept over them (newer
 * than the stored ones).  None when the row is not stored. */
static int read_stashes(sl_sink *s, sl_batch *b, sl_error *err)
{
    const sl_table *t = b->table;
    sl_strbuf q = SL_STRBUF_INIT;
    const char **params = sl_xcalloc(t->nkey ? t->nkey : 1, sizeof(char *));
    uint32_t *cols = sl_xmalloc((t->ncols ? t->ncols : 1) * sizeof(uint32_t));
    size_t ncols = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (!t->cols[c].generated && !t->cols[c].in_key)
            cols[ncols++] = (uint32_t)c;
    sl_rowbuilder rb;
    sl_rowbuilder_init(&rb);
    int rc = 0;
    for (size_t i = 0; ncols && i < b->nstashes; i++) {
        sl_stash *st = &b->stashes[i];
        const sl_row *d = b->rows[st->row];
        if (st->old || !d || d->op != SL_OP_DELETE)
            continue;
        sl_strbuf_reset(&q);
        sl_strbuf_puts(&q, "SELECT ");
        for (size_t k = 0; k < ncols; k++) {
            if (k)
                sl_strbuf_puts(&q, ", ");
            sl_sql_ident(&q, t->cols[cols[k]].name);
        }
        from_key(&q, t, d, params);
        PGresult *res = PQexecParams(PG(s)->conn, q.data, (int)t->nkey, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(s, res, "reading the old row of a key change", err);
            break;
        }
        if (PQntuples(res) == 1) {
            sl_rowbuilder_start(&rb, d->ncols);
            for (size_t k = 0; k < t->nkey; k++) {
                size_t col = t->key[k];
                if (d->len[col] >= 0)
                    sl_rowbuilder_set(&rb, (uint32_t)col, sl_row_cell(d, col), (size_t)d->len[col]);
            }
            for (size_t k = 0; k < ncols; k++) {
                uint32_t col = cols[k];
                if (d->len[col] == SL_CELL_NULL)
                    sl_rowbuilder_set_null(&rb, col);
                else if (d->len[col] >= 0)
                    sl_rowbuilder_set(&rb, col, sl_row_cell(d, col), (size_t)d->len[col]);
                else if (PQgetisnull(res, 0, (int)k))
                    sl_rowbuilder_set_null(&rb, col);
                else
                    sl_rowbuilder_set(&rb, col, PQgetvalue(res, 0, (int)k), (size_t)PQgetlength(res, 0, (int)k));
            }
            st->old = sl_rowbuilder_finish(&rb, SL_OP_UPSERT, d->topic, d->partition, d->offset, NULL, 0, NULL, 0);
        }
        log_debug(s->ctx, "%s: the delete of a key change at %s[%d]@%lld: %s", t->qname, d->topic, (int)d->partition,
                  (long long)d->offset, st->old ? "its old row read, to keep" : "no stored old row");
        PQclear(res);
    }
    sl_rowbuilder_free(&rb);
    free(cols);
    free(params);
    sl_strbuf_free(&q);
    return rc;
}

static int write_batch(sl_sink *s, sl_flush *f, sl_batch *b, bool careful, sl_error *err)
{
    if (b->truncate) {
        sl_strbuf q = SL_STRBUF_INIT;
        sl_strbuf_printf(&q, "TRUNCATE TABLE %s", b->table->qname);
        int rc = exec_ok(s, q.data, 0, NULL, "TRUNCATE", err);
        sl_strbuf_free(&q);
        if (rc)
            return -1;
    }
    if ((b->ncarries && fill_carries(s, b, err)) || (b->nstashes && read_stashes(s, b, err))) {
        sl_error_prefix(err, "%s: ", b->table->qname);
        return -1;
    }
    /* Bisection rolls back to a savepoint after each failed try, which would
     * also undo a staging table created inside it: create it before. */
    if (careful && b->collapse && !stage_for(s, b->table, err)) {
        sl_error_prefix(err, "%s: ", b->table->qname);
        return -1;
    }
    size_t *idx = sl_xmalloc((b->nrows ? b->nrows : 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t i = 0; i < b->nrows; i++)
        if (b->rows[i])
            idx[n++] = i;
    rowset rs = {b, idx, n};
    int rc = careful ? bisect(s, f, &rs, err) : write_rows(s, &rs, err);
    free(idx);
    if (rc < 0)
        sl_error_prefix(err, "%s: ", b->table->qname);
    return rc;
}

static int write_tx(sl_sink *s, sl_flush *f, bool careful, sl_error *err)
{
    if (exec_ok(s, "BEGIN", 0, NULL, "BEGIN", err))
        return -1;
    PG(s)->careful = careful;
    PG(s)->isolated = 0;
    PG(s)->stopped = false;
    for (size_t i = 0; i < f->nbatches; i++) {
        int rc = write_batch(s, f, f->batches[i], careful, err);
        if (rc > 0) {
            stop_early(s, f, i);
            break;
        }
        if (rc)
            return -1;
    }
    if (write_deadletters(s, f, err))
        return -1;
    if (sl_sink_exactly_once(s) && f->noffsets && write_offsets(s, f->group_id, f->offsets, f->noffsets, true, err))
        return -1;
    return exec_ok(s, "COMMIT", 0, NULL, "COMMIT", err);
}

int pg_write(sl_sink *s, sl_flush *f, sl_error *err)
{
    if (pg_open(s, err))
        return -1;
    if (sl_sink_exactly_once(s) && ensure_offsets_table(s, err))
        return -1;
    size_t dead_before = f->ndead;
    if (write_tx(s, f, false, err) == 0)
        return 0;
    rollback(s);
    if (err->kind != SL_ERR_DATA)
        return -1;
    log_warn(s->ctx, "%s; isolating the failing rows", err->msg);
    /* dead letters added by the callback belong to the failed try */
    while (f->ndead > dead_before) {
        f->ndead--;
        free((void *)f->dead[f->ndead].key);
        free((void *)f->dead[f->ndead].value);
        free(f->dead[f->ndead].error);
    }
    if (write_tx(s, f, true, err) == 0)
        return 0;
    rollback(s);
    return -1;
}
