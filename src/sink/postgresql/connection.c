/* connection.c - the PostgreSQL sink's libpq connection: opening and closing it,
 * running a statement and turning a failure into an sl_error, rolling back. */
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
void rollback(sl_sink *s)
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
int pg_fail(sl_sink *s, PGresult *res, const char *what, sl_error *err)
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

int exec_ok(sl_sink *s, const char *sql, int nparams, const char *const *params,
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
int exec_count(sl_sink *s, const char *sql, int nparams, const char *const *params,
                      const char *what, long long *out, sl_error *err)
{
    PGresult *res = PQexecParams(PG(s)->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(s, res, what, err);
    *out = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

int pg_open(sl_sink *s, sl_error *err)
{
    if (!s->impl)
        s->impl = sl_xcalloc(1, sizeof(pg_sink));
    pg_sink *p = PG(s);
    int rc = sl_pq_reconnect(s, &p->conn, drop_conn, err);
    if (rc)
        return rc < 0 ? -1 : 0;
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
    s->connected = true;
    log_info(s->ctx, "connected to PostgreSQL %d (%s)", PQserverVersion(p->conn), PQdb(p->conn));
    return 0;
}

void pg_close(sl_sink *s)
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

/* The isolation ended early in batch @bi: lower each partition's next
 * offset to its first record not written (a row of batch @bi from
 * stop_row on, or of a later batch), and drop the dead letters from there
 * on, which the records' next reading makes again. */
void stop_early(sl_sink *s, sl_flush *f, size_t bi)
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
