/* postgresql.c - the PostgreSQL sink (libpq).
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

#include "sluice/log.h"
#include "pgbinary_int.h"
#include "pq_int.h"
#include "sluice/sink.h"
#include "sluice/sql.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

typedef struct stage {
    char *qname;           /* the target table ... */
    size_t ncols;          /* ... and its width: a table that gained a column gets a new stage */
    char *name;            /* quoted temp table name */
    bool created;          /* exists on this connection (a rollback may have undone it) */
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
    size_t isolated;      /* row sets it finished */
    bool stopped;         /* it ended early at a stop: ... */
    size_t stop_row;      /* ... at this row of the current batch */
} pg_sink;

#define PG(s) ((pg_sink *)(s)->impl)

static void drop_conn(sl_sink *s)
{
    pg_sink *p = PG(s);
    sl_pq_track(s, NULL);
    if (p->conn)
        PQfinish(p->conn);
    p->conn = NULL;
    for (stage *st = p->stages, *n; st; st = n) {
        n = st->next;
        free(st->qname);
        free(st->name);
        free(st);
    }
    p->stages = NULL;
    p->offsets_ready = false;
    for (size_t i = 0; i < p->ndlq_ready; i++)
        free(p->dlq_ready[i]);
    free(p->dlq_ready);
    p->dlq_ready = NULL;
    p->ndlq_ready = 0;
    s->connected = false;
}

/* After a rollback, objects created inside the transaction are gone. */
static void rollback(sl_sink *s)
{
    pg_sink *p = PG(s);
    if (!p->conn)
        return;
    PQclear(PQexec(p->conn, "ROLLBACK"));
    for (stage *st = p->stages; st; st = st->next)
        st->created = false;
    for (size_t i = 0; i < p->ndlq_ready; i++)
        free(p->dlq_ready[i]);
    p->ndlq_ready = 0;
}

/* Fill @err from a failed result (or the connection when @res is NULL). */
static int pg_fail(sl_sink *s, PGresult *res, const char *what, sl_error *err)
{
    pg_sink *p = PG(s);
    sl_pq_error(p->conn, res, what, err);
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (detail) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, " (%s)", detail);
    }
    bool read_only = !strcmp(err->sqlstate, "25006");
    if (res)
        PQclear(res);
    /* a server that became read-only (a failed-over primary) stays so: the
     * retry needs a new connection, which target_session_attrs=read-write in
     * the DSN sends to the new primary */
    if (p->conn && (PQstatus(p->conn) != CONNECTION_OK || read_only))
        drop_conn(s);
    return -1;
}

static int exec_ok(sl_sink *s, const char *sql, int nparams, const char *const *params,
                   const char *what, sl_error *err)
{
    PGresult *res = PQexecParams(PG(s)->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(s, res, what, err);
    PQclear(res);
    return 0;
}

/* Run @sql; return the first column of the first row as an integer. */
static int exec_count(sl_sink *s, const char *sql, int nparams, const char *const *params,
                      const char *what, long long *out, sl_error *err)
{
    PGresult *res = PQexecParams(PG(s)->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(s, res, what, err);
    *out = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

static int pg_open(sl_sink *s, sl_error *err)
{
    if (!s->impl)
        s->impl = sl_xcalloc(1, sizeof(pg_sink));
    pg_sink *p = PG(s);
    if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
        return 0;
    drop_conn(s);
    p->conn = sl_pq_connect(s, err);
    if (!p->conn) {
        drop_conn(s);
        return -1;
    }
    char st[64];
    snprintf(st, sizeof(st), "%" PRId64, s->conf->statement_timeout_ms);
    const char *params[] = {st};
    if (exec_ok(s, "SELECT set_config('statement_timeout', $1, false)", 1, params, "set statement_timeout", err))
        return -1;
    if (s->conf->replication_role == SL_ROLE_REPLICA &&
        exec_ok(s, "SET session_replication_role = replica", 0, NULL, "session_replication_role: replica", err)) {
        /* a role that may not set it: no retry helps */
        if (!strcmp(err->sqlstate, "42501")) {
            err->kind = SL_ERR_FATAL;
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof(err->msg) - n,
                     "; the role %s needs to be a superuser or, on PostgreSQL 15 and later, "
                     "GRANT SET ON PARAMETER session_replication_role TO %s",
                     PQuser(p->conn), PQuser(p->conn));
        }
        drop_conn(s);
        return -1;
    }
    sl_pq_track(s, p->conn);
    s->connected = true;
    log_info(s->ctx, "connected to PostgreSQL %d (%s)", PQserverVersion(p->conn), PQdb(p->conn));
    return 0;
}

static void pg_close(sl_sink *s)
{
    if (!s->impl)
        return;
    drop_conn(s);
    sl_strbuf_free(&PG(s)->sql);
    sl_strbuf_free(&PG(s)->copy);
    free(PG(s)->kinds);
    free(s->impl);
    s->impl = NULL;
}

static const char describe_sql[] =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
    "       COALESCE(bt.typname, t.typname), a.attnotnull, a.atthasdef,"
    "       (a.attgenerated <> '' OR a.attidentity = 'a'),"
    "       COALESCE((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(att, n)"
    "                  WHERE k.att = a.attnum), 0)"
    "  FROM pg_catalog.pg_attribute a"
    "  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
    "  LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype"
    "  LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary"
    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')"
    "   AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum";

static int pg_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err)
{
    *out = NULL;
    if (pg_open(s, err))
        return -1;
    const char *params[] = {schema, name};
    PGresult *res = PQexecParams(PG(s)->conn, describe_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(s, res, "reading the catalog", err);
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    sl_table *t = sl_table_new(schema, name, (size_t)n);
    t->ncols = (size_t)n;
    size_t keypos[1600] = {0};
    for (int i = 0; i < n; i++) {
        sl_column *c = &t->cols[i];
        c->name = sl_xstrdup(PQgetvalue(res, i, 0));
        c->type_name = sl_xstrdup(PQgetvalue(res, i, 1));
        c->type = sl_coltype_from_pg(PQgetvalue(res, i, 2), &c->elem);
        c->not_null = PQgetvalue(res, i, 3)[0] == 't';
        c->has_default = PQgetvalue(res, i, 4)[0] == 't';
        c->generated = PQgetvalue(res, i, 5)[0] == 't';
        int kp = atoi(PQgetvalue(res, i, 6));
        if (kp > 0 && kp < 1600) {
            keypos[kp] = (size_t)i + 1;
            c->in_key = true;
        }
    }
    for (size_t kp = 1; kp < 1600; kp++)
        if (keypos[kp])
            t->key[t->nkey++] = keypos[kp] - 1;
    PQclear(res);
    *out = t;
    return 0;
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static void copy_cell(sl_strbuf *b, const char *data, int32_t len)
{
    sl_strbuf_reserve(b, (size_t)len * 2);
    for (int32_t i = 0; i < len; i++) {
        char c = data[i];
        switch (c) {
        case '\\': sl_strbuf_append(b, "\\\\", 2); break;
        case '\t': sl_strbuf_append(b, "\\t", 2); break;
        case '\n': sl_strbuf_append(b, "\\n", 2); break;
        case '\r': sl_strbuf_append(b, "\\r", 2); break;
        default: b->data[b->len++] = c;
        }
    }
    b->data[b->len] = '\0';
}

static int copy_flush(sl_sink *s, sl_error *err, bool final)
{
    pg_sink *p = PG(s);
    if (p->copy.len && PQputCopyData(p->conn, p->copy.data, (int)p->copy.len) != 1)
        return pg_fail(s, NULL, "COPY", err);
    sl_strbuf_reset(&p->copy);
    if (final) {
        if (PQputCopyEnd(p->conn, NULL) != 1)
            return pg_fail(s, NULL, "COPY", err);
        PGresult *res = PQgetResult(p->conn);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return pg_fail(s, res, "COPY", err);
        PQclear(res);
        while ((res = PQgetResult(p->conn)))
            PQclear(res);
    }
    return 0;
}

/* Rows to write: indexes into b->rows (so that bisection can take halves). */
typedef struct rowset {
    sl_batch *b;
    const size_t *idx;
    size_t n;
} rowset;

static const sl_row *rs_row(const rowset *rs, size_t i)
{
    return rs->b->rows[rs->idx[i]];
}

/* The rows in PostgreSQL's binary COPY format, into p->copy, when every
 * column has a binary form and every cell converts; false (p->copy empty)
 * otherwise. */
static bool binary_rows(pg_sink *p, const rowset *rs, const bool *colmask, const int *group, bool with_group)
{
    const sl_table *t = rs->b->table;
    if (p->nkinds < t->ncols) {
        p->kinds = sl_xrealloc(p->kinds, t->ncols * sizeof(*p->kinds));
        p->nkinds = t->ncols;
    }
    int nfields = with_group ? 2 : 0;
    for (size_t c = 0; c < t->ncols; c++) {
        if (!colmask[c])
            continue;
        p->kinds[c] = sl_pgbin_kind_of(&t->cols[c]);
        if (p->kinds[c] == SL_PGBIN_NONE)
            return false;
        nfields++;
    }
    sl_strbuf_reset(&p->copy);
    sl_pgbin_header(&p->copy);
    for (size_t i = 0; i < rs->n; i++) {
        const sl_row *r = rs_row(rs, i);
        sl_pgbin_row(&p->copy, nfields);
        for (size_t c = 0; c < t->ncols; c++) {
            if (!colmask[c])
                continue;
            if (r->len[c] < 0)
                sl_pgbin_null(&p->copy);
            else if (!sl_pgbin_cell(&p->copy, p->kinds[c], r->data + r->off[c], (size_t)r->len[c])) {
                sl_strbuf_reset(&p->copy);
                return false;
            }
        }
        if (with_group) {
            sl_pgbin_int4(&p->copy, group[i]);
            sl_pgbin_bool(&p->copy, r->op == SL_OP_DELETE || r->replace);
        }
    }
    sl_pgbin_trailer(&p->copy);
    return true;
}

/* COPY the rows into @target (column list @cols, plus an optional group
 * column); @group[i] is row i's group (only with @with_group).  Binary when
 * binary_rows() can, else text. */
static int copy_rows(sl_sink *s, const char *target, const rowset *rs, const bool *colmask,
                     const int *group, bool with_group, sl_error *err)
{
    pg_sink *p = PG(s);
    const sl_table *t = rs->b->table;
    bool binary = binary_rows(p, rs, colmask, group, with_group);
    sl_strbuf *q = &p->sql;
    sl_strbuf_reset(q);
    sl_strbuf_printf(q, "COPY %s (", target);
    bool first = sl_sql_mask_list(q, t, colmask, false) == 0;
    if (with_group)
        sl_strbuf_puts(q, first ? "\"__sluice_group\", \"__sluice_delete\"" : ", \"__sluice_group\", \"__sluice_delete\"");
    sl_strbuf_puts(q, binary ? ") FROM STDIN WITH (FORMAT binary)" : ") FROM STDIN");
    PGresult *res = PQexec(p->conn, q->data);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        sl_strbuf_reset(&p->copy);
        return pg_fail(s, res, "COPY", err);
    }
    PQclear(res);
    if (binary) {
        for (size_t at = 0; at < p->copy.len;) {
            size_t n = p->copy.len - at < 256 * 1024 ? p->copy.len - at : 256 * 1024;
            if (PQputCopyData(p->conn, p->copy.data + at, (int)n) != 1) {
                sl_strbuf_reset(&p->copy);
                return pg_fail(s, NULL, "COPY", err);
            }
            at += n;
        }
        sl_strbuf_reset(&p->copy);
        return copy_flush(s, err, true);
    }
    sl_strbuf_reset(&p->copy);
    for (size_t i = 0; i < rs->n; i++) {
        const sl_row *r = rs_row(rs, i);
        first = true;
        for (size_t c = 0; c < t->ncols; c++) {
            if (!colmask[c])
                continue;
            if (!first)
                sl_strbuf_putc(&p->copy, '\t');
            first = false;
            if (r->len[c] >= 0)
                copy_cell(&p->copy, r->data + r->off[c], r->len[c]);
            else
                sl_strbuf_append(&p->copy, "\\N", 2);
        }
        if (with_group) {
            if (!first)
                sl_strbuf_putc(&p->copy, '\t');
            sl_fmt_int(&p->copy, group[i]);
            sl_strbuf_append(&p->copy, (r->op == SL_OP_DELETE || r->replace) ? "\tt" : "\tf", 2);
        }
        sl_strbuf_putc(&p->copy, '\n');
        if (p->copy.len >= 256 * 1024 && copy_flush(s, err, false))
            return -1;
    }
    return copy_flush(s, err, true);
}

static const char *stage_for(sl_sink *s, const sl_table *t, sl_error *err)
{
    pg_sink *p = PG(s);
    stage *st;
    for (st = p->stages; st; st = st->next)
        if (st->ncols == t->ncols && !strcmp(st->qname, t->qname))
            break;
    if (!st) {
        st = sl_xcalloc(1, sizeof(*st));
        char name[64];
        snprintf(name, sizeof(name), "\"sluice_stage_%d\"", ++p->nstages);
        st->name = sl_xstrdup(name);
        st->qname = sl_xstrdup(t->qname);
        st->ncols = t->ncols;
        st->next = p->stages;
        p->stages = st;
    }
    if (st->created)
        return st->name;
    sl_strbuf *q = &p->sql;
    sl_strbuf_reset(q);
    /* Same column types as the target, no constraints; emptied at commit. */
    sl_strbuf_printf(q, "CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS SELECT * FROM %s WITH NO DATA; "
                        "ALTER TABLE %s ADD COLUMN IF NOT EXISTS \"__sluice_group\" int,"
                        " ADD COLUMN IF NOT EXISTS \"__sluice_delete\" bool",
                     st->name, t->qname, st->name);
    PGresult *res = PQexec(p->conn, q->data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(s, res, "creating the staging table", err);
        return NULL;
    }
    PQclear(res);
    st->created = true;
    return st->name;
}

/* The key equality "t.k1 = s.k1 AND ..." */
static void key_match(sl_strbuf *q, const sl_table *t)
{
    for (size_t k = 0; k < t->nkey; k++) {
        const char *col = t->cols[t->key[k]].name;
        if (k)
            sl_strbuf_puts(q, " AND ");
        sl_strbuf_puts(q, "t.");
        sl_sql_ident(q, col);
        sl_strbuf_puts(q, " = s.");
        sl_sql_ident(q, col);
    }
}

/* Upsert mode: COPY into the stage, delete, then one INSERT per column set. */
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
    for (size_t c = 0; c < nc; c++)
        all[c] = !t->cols[c].generated;
    int rc = copy_rows(s, stg, rs, all, group, true, err);
    sl_strbuf *q = &p->sql;
    if (!rc && any_delete) {
        sl_strbuf_reset(q);
        sl_strbuf_printf(q, "DELETE FROM %s AS t USING %s AS s WHERE s.\"__sluice_delete\" AND ", t->qname, stg);
        key_match(q, t);
        rc = exec_ok(s, q->data, 0, NULL, "DELETE", err);
    }
    for (int g = 0; !rc && g < ngroups; g++) {
        const bool *m = &masks[(size_t)g * nc];
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

static int write_rows(sl_sink *s, const rowset *rs, sl_error *err)
{
    if (rs->n == 0)
        return 0;
    if (rs->b->collapse)
        return write_upserts(s, rs, err);
    return write_inserts(s, rs, err);
}

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
        c->state = SL_CARRY_FILLED;
        if (!r || r->op != SL_OP_UPSERT)
            continue;
        sl_strbuf_reset(&q);
        size_t n = 0;
        for (size_t k = 0; k < c->nfill; k++) {
            if (r->len[c->fill[k]] != SL_CELL_ABSENT)
                continue;
            sl_strbuf_puts(&q, n++ ? ", " : "SELECT ");
            sl_sql_ident(&q, t->cols[c->fill[k]].name);
        }
        if (!n)
            continue;
        sl_strbuf_printf(&q, " FROM %s WHERE ", t->qname);
        for (size_t k = 0; k < t->nkey; k++) {
            if (k)
                sl_strbuf_puts(&q, " AND ");
            sl_sql_ident(&q, t->cols[t->key[k]].name);
            sl_strbuf_printf(&q, " = $%zu", k + 1);
            params[k] = sl_row_cell(c->old_key, t->key[k]);
        }
        PGresult *res = PQexecParams(PG(s)->conn, q.data, (int)t->nkey, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(s, res, "reading the old row of a key change", err);
            c->state = SL_CARRY_PENDING;
            break;
        }
        if (PQntuples(res) == 0) {
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
        sl_row *now = sl_row_merge(from, r);
        free(from);
        b->bytes += now->size;
        b->bytes -= r->size;
        free(r);
        b->rows[c->row] = now;
    }
    sl_rowbuilder_free(&rb);
    free(params);
    sl_strbuf_free(&q);
    return rc;
}

/* The isolation ended early in batch @bi: lower each partition's next
 * offset to its first record not written (a row of batch @bi from
 * stop_row on, or of a later batch), and drop the dead letters from there
 * on, which the records' next reading makes again. */
static void stop_early(sl_sink *s, sl_flush *f, size_t bi)
{
    pg_sink *p = PG(s);
    size_t rows = 0;
    for (size_t i = bi; i < f->nbatches; i++) {
        const sl_batch *b = f->batches[i];
        for (size_t r = i == bi ? p->stop_row : 0; r < b->nrows; r++) {
            const sl_row *row = b->rows[r];
            if (!row)
                continue;
            rows++;
            for (size_t o = 0; o < f->noffsets; o++) {
                sl_offset *off = &f->offsets[o];
                if (off->partition == row->partition && !strcmp(off->topic, row->topic) && row->offset < off->next)
                    off->next = row->offset;
            }
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < f->ndead; i++) {
        sl_deadletter *d = &f->dead[i];
        bool keep = true;
        for (size_t o = 0; o < f->noffsets; o++)
            if (f->offsets[o].partition == d->partition && !strcmp(f->offsets[o].topic, d->topic))
                keep = d->offset < f->offsets[o].next;
        if (keep) {
            f->dead[kept++] = *d;
        } else {
            free((void *)d->key);
            free((void *)d->value);
            free(d->error);
        }
    }
    log_warn(s->ctx, "stopping: the isolation of bad rows ends early; committing what it finished (%zu dead "
             "letters), %zu rows are left to be read again", kept, rows);
    f->ndead = kept;
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
    if (b->ncarries && fill_carries(s, b, err)) {
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

static int ensure_offsets_table(sl_sink *s, sl_error *err)
{
    if (PG(s)->offsets_ready)
        return 0;
    /* The advisory lock keeps concurrent workers from racing on CREATE. */
    PGresult *res = PQexec(PG(s)->conn,
                           "BEGIN; SELECT pg_advisory_xact_lock(7405391);"
                           "CREATE SCHEMA IF NOT EXISTS sluice;"
                           "CREATE TABLE IF NOT EXISTS sluice.offsets ("
                           "  group_id text NOT NULL, topic text NOT NULL, partition int NOT NULL,"
                           "  next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
                           "  PRIMARY KEY (group_id, topic, partition));"
                           "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(s, res, "creating sluice.offsets", err);
        rollback(s);
        return -1;
    }
    PQclear(res);
    PG(s)->offsets_ready = true;
    return 0;
}

/* {"a","b"} array literal for a text[] parameter. */
static void text_array(sl_strbuf *b, const char *const *v, size_t n)
{
    sl_strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_strbuf_putc(b, ',');
        sl_strbuf_putc(b, '"');
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                sl_strbuf_putc(b, '\\');
            sl_strbuf_putc(b, *p);
        }
        sl_strbuf_putc(b, '"');
    }
    sl_strbuf_putc(b, '}');
}

static void int_array(sl_strbuf *b, const int64_t *v, size_t n)
{
    sl_strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        sl_strbuf_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
    sl_strbuf_putc(b, '}');
}

/* Advance the stored offsets; fenced when another consumer moved them. */
static int write_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n,
                         bool guarded, sl_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: rows that exist (expected >= 0); pass 1: new rows */
        const char **topics = sl_xcalloc(n ? n : 1, sizeof(char *));
        int64_t *parts = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        int64_t *exp = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        int64_t *next = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (guarded && (pass == 0) != (offs[i].expected >= 0))
                continue;
            if (!guarded && pass == 1)
                continue;
            topics[m] = offs[i].topic;
            parts[m] = offs[i].partition;
            exp[m] = offs[i].expected;
            next[m] = offs[i].next;
            m++;
        }
        int rc = 0;
        if (m) {
            sl_strbuf a1 = SL_STRBUF_INIT, a2 = SL_STRBUF_INIT, a3 = SL_STRBUF_INIT, a4 = SL_STRBUF_INIT;
            text_array(&a1, topics, m);
            int_array(&a2, parts, m);
            int_array(&a3, exp, m);
            int_array(&a4, next, m);
            const char *sql;
            if (!guarded)
                sql = "WITH w AS (INSERT INTO sluice.offsets AS o (group_id, topic, partition, next_offset)"
                      " SELECT $1, v.t, v.p, v.n FROM unnest($2::text[], $3::int[], $5::bigint[]) AS v(t, p, n)"
                      " ON CONFLICT (group_id, topic, partition) DO UPDATE"
                      " SET next_offset = EXCLUDED.next_offset, updated_at = now() RETURNING 1)"
                      " SELECT count(*) FROM w WHERE $4::bigint[] IS NOT NULL";
            else if (pass == 0)
                sql = "WITH w AS (UPDATE sluice.offsets AS o SET next_offset = v.n, updated_at = now()"
                      " FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS v(t, p, e, n)"
                      " WHERE o.group_id = $1 AND o.topic = v.t AND o.partition = v.p AND o.next_offset = v.e"
                      " RETURNING 1) SELECT count(*) FROM w";
            else
                sql = "WITH w AS (INSERT INTO sluice.offsets (group_id, topic, partition, next_offset)"
                      " SELECT $1, v.t, v.p, v.n FROM unnest($2::text[], $3::int[], $5::bigint[]) AS v(t, p, n)"
                      " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM w WHERE $4::bigint[] IS NOT NULL";
            const char *params[] = {group, a1.data, a2.data, a3.data, a4.data};
            long long count = 0;
            rc = exec_count(s, sql, 5, params, "writing sluice.offsets", &count, err);
            if (!rc && guarded && (size_t)count != m) {
                rc = sl_error_set(err, SL_ERR_RETRY,
                                  "stored offsets of group '%s' moved underneath this worker (another consumer "
                                  "wrote %zu of its %zu partitions); rolling back and re-reading them",
                                  group, m - (size_t)count, m);
                err->fenced = true;
            }
            sl_strbuf_free(&a1);
            sl_strbuf_free(&a2);
            sl_strbuf_free(&a3);
            sl_strbuf_free(&a4);
        }
        free(topics);
        free(parts);
        free(exp);
        free(next);
        if (rc)
            return -1;
    }
    return 0;
}

static bool dlq_ready(pg_sink *p, const char *table)
{
    for (size_t i = 0; i < p->ndlq_ready; i++)
        if (!strcmp(p->dlq_ready[i], table))
            return true;
    return false;
}

static int write_deadletters(sl_sink *s, sl_flush *f, sl_error *err)
{
    pg_sink *p = PG(s);
    for (size_t i = 0; i < f->ndead; i++) {
        sl_deadletter *d = &f->dead[i];
        const char *tbl = d->route->dlq_table;
        char *schema = NULL, *name = NULL;
        if (sl_split_table_name(tbl, s->conf->schema, &schema, &name))
            return sl_error_set(err, SL_ERR_FATAL, "dlq_table '%s' is not a valid table name", tbl);
        sl_strbuf q = SL_STRBUF_INIT;
        sl_sql_qname(&q, schema, name);
        char *qname = sl_strbuf_steal(&q);
        free(schema);
        free(name);
        int rc = 0;
        if (!dlq_ready(p, tbl)) {
            sl_strbuf_printf(&q, "CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, route text NOT NULL,"
                                 " topic text NOT NULL, partition int NOT NULL, kafka_offset bigint NOT NULL,"
                                 " record_key bytea, record_value bytea, error text NOT NULL,"
                                 " failed_at timestamptz NOT NULL DEFAULT now())", qname);
            rc = exec_ok(s, q.data, 0, NULL, "creating the dead-letter table", err);
            sl_strbuf_reset(&q);
            if (!rc) {
                p->dlq_ready = sl_xrealloc(p->dlq_ready, (p->ndlq_ready + 1) * sizeof(char *));
                p->dlq_ready[p->ndlq_ready++] = sl_xstrdup(tbl);
            }
        }
        if (!rc) {
            sl_strbuf_printf(&q, "INSERT INTO %s (route, topic, partition, kafka_offset, record_key, record_value, error)"
                                 " VALUES ($1, $2, $3, $4, $5, $6, $7)", qname);
            char part[16], off[24];
            snprintf(part, sizeof(part), "%d", d->partition);
            snprintf(off, sizeof(off), "%" PRId64, d->offset);
            const char *vals[] = {d->route->name, d->topic, part, off, d->key, d->value, d->error};
            int lens[] = {0, 0, 0, 0, (int)d->key_len, (int)d->value_len, 0};
            int fmts[] = {0, 0, 0, 0, 1, 1, 0};
            PGresult *res = PQexecParams(p->conn, q.data, 7, NULL, vals, lens, fmts, 0);
            if (PQresultStatus(res) != PGRES_COMMAND_OK)
                rc = pg_fail(s, res, "writing a dead letter", err);
            else
                PQclear(res);
        }
        sl_strbuf_free(&q);
        free(qname);
        if (rc)
            return -1;
    }
    return 0;
}

static int write_tx(sl_sink *s, sl_flush *f, bool careful, sl_error *err)
{
    if (exec_ok(s, "BEGIN", 0, NULL, "BEGIN", err))
        return -1;
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

static int pg_write(sl_sink *s, sl_flush *f, sl_error *err)
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

static int pg_read_offsets(sl_sink *s, const char *group, const char *topic, const int32_t *parts,
                           size_t n, int64_t *out, sl_error *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    if (pg_open(s, err) || ensure_offsets_table(s, err))
        return -1;
    sl_strbuf a = SL_STRBUF_INIT;
    sl_strbuf_putc(&a, '{');
    for (size_t i = 0; i < n; i++)
        sl_strbuf_printf(&a, "%s%d", i ? "," : "", parts[i]);
    sl_strbuf_putc(&a, '}');
    const char *params[] = {group, topic, a.data};
    PGresult *res = PQexecParams(PG(s)->conn,
                                 "SELECT partition, next_offset FROM sluice.offsets"
                                 " WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])",
                                 3, NULL, params, NULL, NULL, 0);
    sl_strbuf_free(&a);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(s, res, "reading sluice.offsets", err);
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t part = atoi(PQgetvalue(res, r, 0));
        for (size_t i = 0; i < n; i++)
            if (parts[i] == part)
                out[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    return 0;
}

static int pg_set_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n, sl_error *err)
{
    if (pg_open(s, err) || ensure_offsets_table(s, err))
        return -1;
    if (exec_ok(s, "BEGIN", 0, NULL, "BEGIN", err))
        return -1;
    if (write_offsets(s, group, offs, n, false, err) || exec_ok(s, "COMMIT", 0, NULL, "COMMIT", err)) {
        rollback(s);
        return -1;
    }
    return 0;
}

static int pg_create_table(sl_sink *s, const sl_table *def, sl_error *err)
{
    if (pg_open(s, err))
        return -1;
    sl_strbuf q = SL_STRBUF_INIT;
    sl_sql_create_table(&q, def);
    /* Concurrent CREATE TABLE IF NOT EXISTS can still collide on the
     * catalog when another worker creates the same table: 23505 on
     * pg_type's unique index while the winner has not committed yet; 42P07
     * when it committed after our IF NOT EXISTS check; 42710 "type ...
     * already exists" when it committed between PostgreSQL's check of the
     * relation name and that of the table's row type.  42710 also means a
     * type of that name that is not a table, so it counts only when the
     * table is now there. */
    int rc = exec_ok(s, q.data, 0, NULL, "CREATE TABLE", err);
    if (rc && err->sqlstate[0] && (!strcmp(err->sqlstate, "23505") || !strcmp(err->sqlstate, "42P07")))
        rc = 0;
    if (rc && !strcmp(err->sqlstate, "42710")) {
        const char *params[] = {def->qname};
        PGresult *res = PQexecParams(PG(s)->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL,
                                     NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
            rc = 0;
        PQclear(res);
    }
    sl_strbuf_free(&q);
    return rc;
}

static int pg_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err)
{
    if (pg_open(s, err))
        return -1;
    sl_strbuf q = SL_STRBUF_INIT;
    sl_strbuf_printf(&q, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS ", t->qname);
    sl_sql_ident(&q, c->name);
    sl_strbuf_printf(&q, " %s", c->type_name);
    int rc = exec_ok(s, q.data, 0, NULL, "ALTER TABLE ADD COLUMN", err);
    if (rc && err->sqlstate[0] && (!strcmp(err->sqlstate, "23505") || !strcmp(err->sqlstate, "42701")))
        rc = 0;
    sl_strbuf_free(&q);
    return rc;
}

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

static const char *pg_scalar_type(const char *t, const json_t *f, char *buf, size_t len)
{
    if (!strcmp(t, "numeric")) {
        json_t *p = json_object_get(f, "precision"), *s = json_object_get(f, "scale");
        /* precision and scale come from data (Connect parameters): only a
         * pair PostgreSQL can declare is used, else unconstrained numeric */
        if (json_is_integer(p) && json_integer_value(p) > 0 && json_integer_value(p) <= 1000 &&
            json_is_integer(s) && json_integer_value(s) >= 0 && json_integer_value(s) <= json_integer_value(p))
            snprintf(buf, len, "numeric(%d,%d)", (int)json_integer_value(p),
                     (int)json_integer_value(s));
        else
            snprintf(buf, len, "numeric");
        return buf;
    }
    static const char *const known[] = {"text", "smallint", "integer", "bigint", "real",
                                        "double precision", "boolean", "timestamptz", "timestamp",
                                        "date", "time", "uuid", "json", "jsonb", "bytea", NULL};
    for (size_t i = 0; known[i]; i++)
        if (!strcmp(known[i], t))
            return snprintf(buf, len, "%s", t), buf;
    return snprintf(buf, len, "text"), buf;
}

/* sluice's type names are PostgreSQL's; arrays of JSON are jsonb. */
static const char *pg_column_type(const json_t *field, char *buf, size_t len)
{
    const char *t = json_string_value(json_object_get(field, "type"));
    if (t && !strcmp(t, "array")) {
        const char *it = json_string_value(json_object_get(field, "items"));
        char inner[64];
        if (!it || !*it || !strcmp(it, "jsonb") || !strcmp(it, "json"))
            snprintf(buf, len, "jsonb");
        else
            snprintf(buf, len, "%s[]", pg_scalar_type(it, field, inner, sizeof(inner)));
        return buf;
    }
    return pg_scalar_type(t ? t : "", field, buf, len);
}

const sl_sink_ops sl_sink_postgresql = {
    .name = "postgresql",
    .transactional = true,
    .check_conf = pg_check_conf,
    .column_type = pg_column_type,
    .open = pg_open,
    .close = pg_close,
    .describe = pg_describe,
    .write = pg_write,
    .read_offsets = pg_read_offsets,
    .set_offsets = pg_set_offsets,
    .create_table = pg_create_table,
    .add_column = pg_add_column,
    .guard_conf = sl_pq_guard_conf,
    .unreachable = sl_pq_unreachable,
    /* NAMEDATALEN - 1: a longer name is cut, and never found again under its own */
    .max_name_len = 63,
    .title = "PostgreSQL",
    .cancel = sl_pq_cancel,
};
