/* ddl.c - the catalog and DDL of the PostgreSQL sink: describing a table
 * (columns, types, key), CREATE TABLE for auto_create, ADD COLUMN and (widen)
 * ALTER COLUMN for auto_evolve. */
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

int pg_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err)
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

int pg_create_table(sl_sink *s, const sl_table *def, sl_error *err)
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

int pg_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err)
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

/* The column as the catalog has it now, under the lock taken for the change. */
static const char column_now_sql[] =
    "SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_catalog.pg_attribute a"
    " WHERE a.attrelid = $1::regclass AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped";

int pg_alter_column(sl_sink *s, const sl_table *t, const sl_column *c, const char *new_type, bool drop_not_null,
                    sl_strbuf *ddl, sl_error *err)
{
    if (pg_open(s, err))
        return -1;
    /* SHARE ROW EXCLUSIVE conflicts with itself and with writers: two
     * workers widening one column take turns, and the second sees what
     * the first did (a column never goes back to a narrower type) */
    sl_strbuf q = SL_STRBUF_INIT;
    sl_strbuf_printf(&q, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", t->qname);
    int rc = exec_ok(s, "BEGIN", 0, NULL, "BEGIN", err);
    if (rc == 0)
        rc = exec_ok(s, q.data, 0, NULL, "LOCK TABLE", err);
    bool same = false;
    if (rc == 0) {
        const char *params[] = {t->qname, c->name};
        PGresult *res = PQexecParams(PG(s)->conn, column_now_sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(s, res, "reading the catalog", err);
        } else {
            same = PQntuples(res) == 1 && c->type_name && !strcmp(PQgetvalue(res, 0, 0), c->type_name) &&
                   (PQgetvalue(res, 0, 1)[0] == 't') == c->not_null;
            PQclear(res);
        }
    }
    if (rc == 0 && same) {
        sl_strbuf_printf(ddl, "ALTER TABLE %s", t->qname);
        if (new_type) {
            sl_strbuf_puts(ddl, " ALTER COLUMN ");
            sl_sql_ident(ddl, c->name);
            sl_strbuf_printf(ddl, " TYPE %s", new_type);
        }
        if (drop_not_null) {
            sl_strbuf_puts(ddl, new_type ? ", ALTER COLUMN " : " ALTER COLUMN ");
            sl_sql_ident(ddl, c->name);
            sl_strbuf_puts(ddl, " DROP NOT NULL");
        }
        rc = exec_ok(s, ddl->data, 0, NULL, "ALTER TABLE ALTER COLUMN", err);
    }
    if (rc == 0)
        rc = exec_ok(s, "COMMIT", 0, NULL, "COMMIT", err);
    if (rc) {
        if (ddl->len)
            ddl->data[ddl->len = 0] = 0;
        if (PG(s)->conn && PQtransactionStatus(PG(s)->conn) != PQTRANS_IDLE) {
            PGresult *res = PQexec(PG(s)->conn, "ROLLBACK");
            PQclear(res);
        }
    }
    sl_strbuf_free(&q);
    return rc;
}
