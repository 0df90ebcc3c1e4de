/* pg.c - the CrateDB sink over the PostgreSQL wire protocol (libpq).
 *
 * CrateDB speaks pgwire but is not PostgreSQL: no COPY, no transactions
 * (BEGIN/COMMIT are ignored, ROLLBACK is an error), and executions are
 * batched until Sync and grouped by statement, so statements of different
 * kinds must never share a Sync (reference: "PostgreSQL wire protocol",
 * differences from PostgreSQL).  So a bulk statement is sent as one Parse
 * followed by one Bind/Execute per row in libpq's pipeline mode, then one
 * Sync, in chunks of CHUNK rows.  Every row's CommandComplete tag is
 * checked: an upsert that reports 0 rows was not written, even without an
 * ErrorResponse.
 *
 * On PostgreSQL (how this transport is tested) the rows before a Sync form
 * one implicit transaction, so when one row of a chunk fails the others were
 * rolled back: they are sent again, which the idempotent statements allow.
 * On CrateDB they stay written and sending them again changes nothing. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cratedb_int.h"
#include "sluice/log.h"
#include "../pq_int.h"

#define CHUNK 1000 /* rows per Sync: keeps both directions' buffers small */

typedef struct pgw_sink {
    crate_common common; /* first: CRATE(s) */
    PGconn *conn;
    bool is_crate;       /* the server reports crate_version */
    sl_strbuf params;    /* cells rewritten for pgwire (geo points) */
} pgw_sink;

#define PGW(s) ((pgw_sink *)(s)->impl)

static void drop_conn(sl_sink *s)
{
    pgw_sink *p = PGW(s);
    sl_pq_track(s, NULL);
    if (p->conn)
        PQfinish(p->conn);
    p->conn = NULL;
    s->connected = false;
}

static int pgw_open(sl_sink *s, sl_error *err)
{
    if (!s->impl) {
        pgw_sink *p = sl_xcalloc(1, sizeof(*p));
        extern const crate_transport crate_pg_transport;
        p->common.tp = &crate_pg_transport;
        s->impl = p;
    }
    pgw_sink *p = PGW(s);
    int rc = sl_pq_reconnect(s, &p->conn, drop_conn, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    s->connected = true;
    const char *ver = PQparameterStatus(p->conn, "crate_version");
    p->is_crate = ver != NULL;
    log_info(s->ctx, "connected over pgwire to %s %s", ver ? "CrateDB" : "a PostgreSQL-protocol server",
             ver ? ver : PQparameterStatus(p->conn, "server_version"));
    return 0;
}

static void pgw_close(sl_sink *s)
{
    pgw_sink *p = PGW(s);
    if (!p)
        return;
    drop_conn(s);
    crate_common_free(&p->common);
    sl_strbuf_free(&p->params);
    free(p);
    s->impl = NULL;
}

/* Fill @err from a failed result or the connection. */
static int pgw_fail(sl_sink *s, PGresult *res, const char *what, sl_error *err)
{
    pgw_sink *p = PGW(s);
    sl_pq_error(p->conn, res, what, err);
    if (res)
        PQclear(res);
    if (p->conn && PQstatus(p->conn) != CONNECTION_OK)
        drop_conn(s);
    return -1;
}

static int pgw_query(sl_sink *s, const char *sql, const char *const *args, size_t nargs, crate_result *res,
                     sl_error *err)
{
    if (pgw_open(s, err))
        return -1;
    PGresult *r = PQexecParams(PGW(s)->conn, sql, (int)nargs, NULL, args, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pgw_fail(s, r, "query", err);
        /* outside a bulk, a "data" error is the statement's fault */
        if (err->kind == SL_ERR_DATA)
            err->kind = SL_ERR_FATAL;
        return -1;
    }
    if (res) {
        res->nrows = (size_t)PQntuples(r);
        res->ncols = (size_t)PQnfields(r);
        res->cells = sl_xcalloc(res->nrows * res->ncols + 1, sizeof(char *));
        for (size_t i = 0; i < res->nrows; i++)
            for (size_t c = 0; c < res->ncols; c++)
                if (!PQgetisnull(r, (int)i, (int)c))
                    res->cells[i * res->ncols + c] = sl_xstrdup(PQgetvalue(r, (int)i, (int)c));
    }
    PQclear(r);
    return 0;
}

/* GEO_POINT cells hold JSON ("[lon, lat]" or a WKT string); CrateDB's
 * pgwire takes WKT text ("Data types": geo_point); a server that is not
 * CrateDB (the tests' PostgreSQL, where geo_point is a domain over
 * double precision[]) takes an array literal. */
static const char *geo_param(sl_strbuf *b, const char *v, bool crate)
{
    double lon, lat;
    if (sscanf(v, " [ %lf , %lf ] ", &lon, &lat) == 2) {
        if (crate)
            sl_strbuf_printf(b, "POINT (%.17g %.17g)", lon, lat);
        else
            sl_strbuf_printf(b, "{%.17g,%.17g}", lon, lat);
        return NULL; /* caller takes the text from @b */
    }
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        sl_strbuf_append(b, v + 1, n - 2);
        return NULL;
    }
    return v;
}

static void set_outcome(crate_outcome *o, crate_outcome_kind k, const char *msg)
{
    o->kind = k;
    snprintf(o->msg, sizeof(o->msg), "%s", msg ? msg : "");
}

/* One chunk: Parse, Bind/Execute per row, Sync; outcomes per row. */
static int bulk_chunk(sl_sink *s, const crate_stmt *st, size_t from, size_t n, crate_outcome *out, sl_error *err)
{
    pgw_sink *p = PGW(s);
    PGconn *c = p->conn;
    const char **vals = sl_xcalloc(st->ncols ? st->ncols : 1, sizeof(char *));
    size_t *geo_off = sl_xcalloc(st->ncols ? st->ncols : 1, sizeof(size_t));
    if (!PQenterPipelineMode(c)) {
        free(vals);
        free(geo_off);
        return pgw_fail(s, NULL, "entering pipeline mode", err);
    }
    int rc = 0;
    if (!PQsendPrepare(c, "", st->sql, (int)st->ncols, NULL))
        rc = pgw_fail(s, NULL, "sending the statement", err);
    for (size_t i = 0; !rc && i < n; i++) {
        const sl_row *r = st->b->rows[st->rows[from + i]];
        sl_strbuf_reset(&p->params);
        for (size_t k = 0; k < st->ncols; k++) {
            size_t col = st->cols[k];
            vals[k] = sl_row_cell(r, col);
            geo_off[k] = (size_t)-1;
            if (vals[k] && st->table->cols[col].type == SL_COL_GEO_POINT) {
                size_t before = p->params.len;
                if (!geo_param(&p->params, vals[k], p->is_crate)) {
                    sl_strbuf_putc(&p->params, '\0');
                    geo_off[k] = before;
                }
            }
        }
        for (size_t k = 0; k < st->ncols; k++)
            if (geo_off[k] != (size_t)-1)
                vals[k] = p->params.data + geo_off[k];
        if (!PQsendQueryPrepared(c, "", (int)st->ncols, vals, NULL, NULL, 0))
            rc = pgw_fail(s, NULL, "sending a row", err);
    }
    if (!rc && !PQpipelineSync(c))
        rc = pgw_fail(s, NULL, "Sync", err);
    free(vals);
    free(geo_off);
    if (rc)
        return -1;
    /* the Parse's answer */
    PGresult *res = PQgetResult(c);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pgw_fail(s, res, "preparing the statement", err);
        if (!p->conn)
            return -1;
        res = NULL;
        rc = -1;
    } else {
        PQclear(res);
    }
    if (res)
        while ((res = PQgetResult(c)))
            PQclear(res); /* the NULL after the Parse */
    bool failed = false;
    for (size_t i = 0; i < n && rc == 0; i++) {
        res = PQgetResult(c);
        if (!res) {
            rc = pgw_fail(s, NULL, "reading results", err);
            break;
        }
        ExecStatusType es = PQresultStatus(res);
        crate_outcome *o = &out[from + i];
        if (es == PGRES_COMMAND_OK) {
            const char *tag = PQcmdTuples(res);
            long count = tag && *tag ? strtol(tag, NULL, 10) : -1;
            if (count == 1 || (count == 0 && st->expect == CR_EXPECT_ANY))
                set_outcome(o, CR_OK, NULL);
            else {
                char msg[96];
                snprintf(msg, sizeof(msg), "command tag \"%s\"", PQcmdStatus(res));
                set_outcome(o, CR_UNKNOWN, msg);
            }
        } else if (es == PGRES_PIPELINE_ABORTED) {
            set_outcome(o, CR_AGAIN, "not executed: an earlier row of its Sync failed");
        } else {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            sl_errkind k = sl_sqlstate_kind(state);
            char msg[256];
            snprintf(msg, sizeof(msg), "%s (SQLSTATE %s)", m ? m : "error", state ? state : "?");
            set_outcome(o, k == SL_ERR_DATA ? CR_DATA : CR_RETRY, msg);
            if (k == SL_ERR_FATAL) {
                /* the statement itself is wrong: stop */
                rc = sl_error_set(err, SL_ERR_FATAL, "%s", msg);
                if (state)
                    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
            }
            failed = true;
        }
        PQclear(res);
        while ((res = PQgetResult(c)))
            PQclear(res); /* the NULL that ends each query's results */
    }
    /* the Sync's answer, then back to normal mode */
    for (;;) {
        res = PQgetResult(c);
        if (!res) {
            if (PQstatus(c) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType es = PQresultStatus(res);
        PQclear(res);
        if (es == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQstatus(c) != CONNECTION_OK)
        return pgw_fail(s, NULL, "connection lost", err);
    PQexitPipelineMode(c);
    if (rc == 0 && failed) {
        /* PostgreSQL rolled the Sync's other rows back; CrateDB kept them */
        for (size_t i = 0; i < n; i++)
            if (out[from + i].kind == CR_OK)
                set_outcome(&out[from + i], CR_AGAIN, "its Sync had a failed row");
    }
    return rc;
}

static int pgw_bulk(sl_sink *s, const crate_stmt *st, crate_outcome *out, sl_error *err)
{
    if (pgw_open(s, err))
        return -1;
    for (size_t from = 0; from < st->nrows; from += CHUNK) {
        size_t n = st->nrows - from < CHUNK ? st->nrows - from : CHUNK;
        if (bulk_chunk(s, st, from, n, out, err))
            return -1;
    }
    return 0;
}

const crate_transport crate_pg_transport = {pgw_bulk, pgw_query};

static int pgw_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err)
{
    if (pgw_open(s, err))
        return -1;
    return crate_describe(s, schema, name, out, err);
}

static int pgw_write(sl_sink *s, sl_flush *f, sl_error *err)
{
    if (pgw_open(s, err))
        return -1;
    return crate_write(s, f, err);
}

static int pgw_create_table(sl_sink *s, const sl_table *def, sl_error *err)
{
    return pgw_open(s, err) ? -1 : crate_create_table(s, def, err);
}

static int pgw_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err)
{
    return pgw_open(s, err) ? -1 : crate_add_column(s, t, c, err);
}

const sl_sink_ops sl_sink_cratedb_pg = {
    .name = "cratedb-pgwire",
    .transactional = false,
    .column_type = crate_column_type,
    .open = pgw_open,
    .close = pgw_close,
    .describe = pgw_describe,
    .write = pgw_write,
    .read_offsets = NULL,
    .set_offsets = NULL,
    .create_table = pgw_create_table,
    .add_column = pgw_add_column,
    .unreachable = sl_pq_unreachable,
    .title = "CrateDB",
    .cancel = sl_pq_cancel,
};
