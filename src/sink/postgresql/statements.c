/* statements.c - from the staging table into the target table: one DELETE for
 * deleted keys and one INSERT .. SELECT .. ON CONFLICT DO UPDATE per set of
 * supplied columns (upsert), or plain INSERT .. SELECT (insert); an upsert
 * batch of new keys only goes by one COPY straight into the table (insert
 * first). */
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

/* The key equality "t.k1 = s.k1 AND ..."; for a child table (batch.h:
 * child_index) the parent's part of the key only, so that a delete takes
 * every child of the parent. */
static void key_match(sl_strbuf *q, const sl_table *t, long skip)
{
    bool first = true;
    for (size_t k = 0; k < t->nkey; k++) {
        if ((long)t->key[k] == skip)
            continue;
        const char *col = t->cols[t->key[k]].name;
        if (!first)
            sl_strbuf_puts(q, " AND ");
        first = false;
        sl_strbuf_puts(q, "t.");
        sl_sql_ident(q, col);
        sl_strbuf_puts(q, " = s.");
        sl_sql_ident(q, col);
    }
}

/* Update mode (Kafka Connect's insert.mode=update): the rows of column set
 * @g that find their key in the table update it; the others change nothing. */
static int update_group(sl_sink *s, const sl_table *t, const char *stg, const bool *m, int g, sl_error *err)
{
    sl_strbuf *q = &PG(s)->sql;
    sl_strbuf_reset(q);
    sl_strbuf_printf(q, "UPDATE %s AS t SET ", t->qname);
    bool first = true;
    for (size_t c = 0; c < t->ncols; c++) {
        if (!m[c] || t->cols[c].generated || t->cols[c].in_key)
            continue;
        if (!first)
            sl_strbuf_puts(q, ", ");
        sl_sql_ident(q, t->cols[c].name);
        sl_strbuf_puts(q, " = s.");
        sl_sql_ident(q, t->cols[c].name);
        first = false;
    }
    if (first)
        return 0; /* nothing but the key: nothing to change */
    sl_strbuf_printf(q, " FROM %s AS s WHERE s.\"__sluice_group\" = %d AND ", stg, g);
    key_match(q, t, -1);
    return exec_ok(s, q->data, 0, NULL, "UPDATE", err);
}

/* Insert first (targets.<name>.insert_first): an upsert batch whose rows
 * all supply the same columns may hold new keys only (a snapshot, an
 * initial load, a table that grows).  Then one COPY straight into the
 * table stores what the stage and its INSERT .. ON CONFLICT would, at half
 * PostgreSQL's CPU time (650,000 rows of bench/cdc_sinks.sh's table: COPY
 * 1.5 s; COPY into the stage 1.0 s and the INSERT 2.1 s).  It is tried
 * under a savepoint; a key already stored (unique_violation) or any other
 * data error rolls it back, the stage takes the batch as before (and
 * reports a real error as before), and the table's next 1, 2, 4 .. 64
 * batches after each failure go to the stage without trying.  COPY refused
 * for the table (row-level security, ...) turns it off for the table; a
 * transient failure fails the flush, which is retried as any other.
 * Only where the conflict key is the table's primary key: without a unique
 * index under it, COPY would store a key twice where the upsert refuses.
 * Return: 1 written, 0 not (the stage's turn), -1 the flush fails. */
static int insert_first(sl_sink *s, const rowset *rs, const bool *m, sl_error *err)
{
    pg_sink *p = PG(s);
    const sl_table *t = rs->b->table;
    const sl_route_conf *r = rs->b->route;
    if (!s->conf->insert_first || p->careful || r->mode != SL_MODE_UPSERT || r->nkey || rs->b->child_index >= 0)
        return 0;
    stage *st = stage_entry(s, t);
    if (st->first_off)
        return 0;
    if (st->first_skip) {
        st->first_skip--;
        return 0;
    }
    if (exec_ok(s, "SAVEPOINT sluice_first", 0, NULL, "SAVEPOINT", err))
        return -1;
    bool *cols = sl_xcalloc(t->ncols ? t->ncols : 1, sizeof(bool));
    for (size_t c = 0; c < t->ncols; c++)
        cols[c] = m[c] && !t->cols[c].generated;
    int rc = copy_rows(s, t->qname, rs, cols, NULL, false, err);
    free(cols);
    if (rc == 0) {
        st->first_backoff /= 2;
        return exec_ok(s, "RELEASE SAVEPOINT sluice_first", 0, NULL, "RELEASE", err) ? -1 : 1;
    }
    if (!p->conn || err->kind == SL_ERR_RETRY)
        return -1; /* the connection is gone, a timeout, a deadlock: the flush fails and is retried */
    sl_error why = *err;
    if (exec_ok(s, "ROLLBACK TO SAVEPOINT sluice_first", 0, NULL, "ROLLBACK TO SAVEPOINT", err))
        return -1;
    if (why.kind == SL_ERR_DATA) {
        st->first_skip = st->first_backoff ? st->first_backoff : 1;
        st->first_backoff = st->first_skip < 64 ? st->first_skip * 2 : 64;
        log_debug(s->ctx, "%s: insert first: %s; upserts through the stage for %u batches", t->qname, why.msg,
                  st->first_skip);
    } else {
        st->first_off = true;
        log_info(s->ctx, "%s: insert first is off for this table: %s", t->qname, why.msg);
    }
    sl_error_clear(err);
    return 0;
}

/* Upsert mode: COPY into the stage, delete, then one INSERT per column set
 * (update mode: one UPDATE per column set); insert first when it can. */
static int write_upserts(sl_sink *s, const rowset *rs, sl_error *err)
{
    pg_sink *p = PG(s);
    const sl_table *t = rs->b->table;
    const char *stg = stage_for(s, t, err);
    if (!stg)
        return -1;
    /* group rows by which cells they supply */
    size_t nc = t->ncols;
    int *group = sl_xmalloc((rs->n ? rs->n : 1) * sizeof(int));
    bool *masks = NULL; /* ngroups * nc */
    int ngroups = 0;
    bool any_delete = false;
    bool *all = sl_xcalloc(nc ? nc : 1, sizeof(bool));
    for (size_t i = 0; i < rs->n; i++) {
        const sl_row *r = rs_row(rs, i);
        if (r->op == SL_OP_DELETE || r->replace)
            any_delete = true;
        if (r->op == SL_OP_DELETE) {
            group[i] = -1;
            continue;
        }
        int g;
        for (g = 0; g < ngroups; g++) {
            size_t c;
            for (c = 0; c < nc; c++)
                if (masks[(size_t)g * nc + c] != (r->len[c] != SL_CELL_ABSENT))
                    break;
            if (c == nc)
                break;
        }
        if (g == ngroups) {
            masks = sl_xrealloc(masks, (size_t)(ngroups + 1) * nc * sizeof(bool));
            for (size_t c = 0; c < nc; c++)
                masks[(size_t)g * nc + c] = r->len[c] != SL_CELL_ABSENT;
            ngroups++;
        }
        group[i] = g;
    }
    if (!any_delete && ngroups == 1) {
        int first = insert_first(s, rs, masks, err);
        if (first) {
            free(group);
            free(masks);
            free(all);
            return first > 0 ? 0 : -1;
        }
    }
    for (size_t c = 0; c < nc; c++)
        all[c] = !t->cols[c].generated;
    int rc = copy_rows(s, stg, rs, all, group, true, err);
    sl_strbuf *q = &p->sql;
    if (!rc && any_delete) {
        sl_strbuf_reset(q);
        sl_strbuf_printf(q, "DELETE FROM %s AS t USING %s AS s WHERE s.\"__sluice_delete\" AND ", t->qname, stg);
        key_match(q, t, rs->b->child_index);
        rc = exec_ok(s, q->data, 0, NULL, "DELETE", err);
    }
    for (int g = 0; !rc && g < ngroups; g++) {
        const bool *m = &masks[(size_t)g * nc];
        if (rs->b->route->mode == SL_MODE_UPDATE) {
            rc = update_group(s, t, stg, m, g, err);
            continue;
        }
        sl_strbuf_reset(q);
        sl_strbuf_printf(q, "INSERT INTO %s AS t (", t->qname);
        sl_sql_mask_list(q, t, m, true);
        sl_strbuf_puts(q, ") SELECT ");
        sl_sql_mask_list(q, t, m, true);
        /* in key order: the index (and a heap loaded in key order) is then
         * walked rather than probed at random, which took a third off
         * PostgreSQL's CPU time per upserted row */
        sl_strbuf_printf(q, " FROM %s WHERE \"__sluice_group\" = %d ORDER BY ", stg, g);
        sl_sql_ident_list(q, t, t->key, t->nkey);
        sl_strbuf_puts(q, " ON CONFLICT (");
        sl_sql_ident_list(q, t, t->key, t->nkey);
        sl_strbuf_puts(q, ") DO ");
        bool first = true;
        for (size_t c = 0; c < nc; c++) {
            if (!m[c] || t->cols[c].generated || t->cols[c].in_key)
                continue;
            sl_strbuf_puts(q, first ? "UPDATE SET " : ", ");
            sl_sql_ident(q, t->cols[c].name);
            sl_strbuf_puts(q, " = EXCLUDED.");
            sl_sql_ident(q, t->cols[c].name);
            first = false;
        }
        if (first)
            sl_strbuf_puts(q, "NOTHING");
        rc = exec_ok(s, q->data, 0, NULL, "INSERT .. ON CONFLICT", err);
    }
    free(group);
    free(masks);
    free(all);
    return rc;
}

/* Insert mode: COPY straight into the table, one COPY per column set. */
static int write_inserts(sl_sink *s, const rowset *rs, sl_error *err)
{
    const sl_table *t = rs->b->table;
    size_t nc = t->ncols;
    bool *mask = sl_xcalloc(nc ? nc : 1, sizeof(bool));
    size_t *sub = sl_xmalloc((rs->n ? rs->n : 1) * sizeof(size_t));
    bool *done = sl_xcalloc(rs->n ? rs->n : 1, sizeof(bool));
    int rc = 0;
    for (size_t i = 0; !rc && i < rs->n; i++) {
        if (done[i])
            continue;
        const sl_row *r0 = rs_row(rs, i);
        for (size_t c = 0; c < nc; c++)
            mask[c] = r0->len[c] != SL_CELL_ABSENT && !t->cols[c].generated;
        size_t n = 0;
        for (size_t j = i; j < rs->n; j++) {
            const sl_row *r = rs_row(rs, j);
            size_t c;
            for (c = 0; c < nc; c++)
                if ((r->len[c] != SL_CELL_ABSENT && !t->cols[c].generated) != mask[c])
                    break;
            if (c == nc) {
                sub[n++] = rs->idx[j];
                done[j] = true;
            }
        }
        rowset part = {rs->b, sub, n};
        rc = copy_rows(s, t->qname, &part, mask, NULL, false, err);
    }
    free(mask);
    free(sub);
    free(done);
    return rc;
}

int write_rows(sl_sink *s, const rowset *rs, sl_error *err)
{
    if (rs->n == 0)
        return 0;
    if (rs->b->collapse)
        return write_upserts(s, rs, err);
    return write_inserts(s, rs, err);
}
