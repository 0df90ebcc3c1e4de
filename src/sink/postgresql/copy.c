/* copy.c - staging a batch's rows: a temporary table per target table, filled
 * by COPY in PostgreSQL's binary format when every cell has one (pgbinary.c),
 * else in its text format. */
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
int copy_rows(sl_sink *s, const char *target, const rowset *rs, const bool *colmask,
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

/* FNV-1a over the columns' names and types as the catalog spells them: a
 * stage copies the table's types when it is created, so a table whose
 * column was widened (auto_evolve: widen, here or in another process)
 * needs a new one. */
static uint64_t table_shape(const sl_table *t)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < t->ncols; i++) {
        const char *parts[] = {t->cols[i].name, t->cols[i].type_name ? t->cols[i].type_name : ""};
        for (size_t k = 0; k < 2; k++)
            for (const char *c = parts[k];; c++) {
                h = (h ^ (unsigned char)*c) * 1099511628211ULL;
                if (!*c)
                    break;
            }
    }
    return h;
}

stage *stage_entry(sl_sink *s, const sl_table *t)
{
    pg_sink *p = PG(s);
    stage *st;
    uint64_t shape = table_shape(t);
    for (st = p->stages; st; st = st->next)
        if (st->ncols == t->ncols && st->shape == shape && !strcmp(st->qname, t->qname))
            break;
    if (!st) {
        st = sl_xcalloc(1, sizeof(*st));
        char name[64];
        snprintf(name, sizeof(name), "\"sluice_stage_%d\"", ++p->nstages);
        st->name = sl_xstrdup(name);
        st->qname = sl_xstrdup(t->qname);
        st->ncols = t->ncols;
        st->shape = shape;
        st->next = p->stages;
        p->stages = st;
    }
    return st;
}

const char *stage_for(sl_sink *s, const sl_table *t, sl_error *err)
{
    pg_sink *p = PG(s);
    stage *st = stage_entry(s, t);
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
