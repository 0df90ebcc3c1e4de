/* deadletter.c - dead letters into the route's dlq_table, created when missing
 * (also when another session creates it at the same moment), in the flush's
 * own transaction. */
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

bool dlq_ready(pg_sink *p, const char *table)
{
    for (size_t i = 0; i < p->ndlq_ready; i++)
        if (!strcmp(p->dlq_ready[i], table))
            return true;
    return false;
}

/* Another worker (or process) creating the same table in a transaction
 * not yet committed makes CREATE TABLE IF NOT EXISTS wait for it, then
 * fail: 23505 on pg_type's unique index; 42P07 or 42710 when it committed
 * between PostgreSQL's checks.  The table is there by then: that failure is
 * rolled back to a savepoint (the flush's transaction goes on) and the
 * CREATE run once more, which finds it. */
static int create_table(sl_sink *s, const char *qname, sl_error *err)
{
    sl_strbuf q = SL_STRBUF_INIT;
    sl_strbuf_printf(&q, "CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, route text NOT NULL,"
                         " topic text NOT NULL, partition int NOT NULL, kafka_offset bigint NOT NULL,"
                         " record_key bytea, record_value bytea, error text NOT NULL,"
                         " failed_at timestamptz NOT NULL DEFAULT now())", qname);
    int rc = exec_ok(s, "SAVEPOINT sluice_dlq_create", 0, NULL, "creating the dead-letter table", err);
    if (!rc)
        rc = exec_ok(s, q.data, 0, NULL, "creating the dead-letter table", err);
    if (rc && (!strcmp(err->sqlstate, "23505") || !strcmp(err->sqlstate, "42P07") ||
               !strcmp(err->sqlstate, "42710"))) {
        log_info(s->ctx, "%s: created meanwhile by another session; looking again", err->msg);
        sl_error_clear(err);
        rc = exec_ok(s, "ROLLBACK TO SAVEPOINT sluice_dlq_create", 0, NULL, "creating the dead-letter table", err);
        if (!rc)
            rc = exec_ok(s, q.data, 0, NULL, "creating the dead-letter table", err);
    }
    if (!rc)
        rc = exec_ok(s, "RELEASE SAVEPOINT sluice_dlq_create", 0, NULL, "creating the dead-letter table", err);
    sl_strbuf_free(&q);
    return rc;
}

int write_deadletters(sl_sink *s, sl_flush *f, sl_error *err)
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
            rc = create_table(s, qname, err);
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
