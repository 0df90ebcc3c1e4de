/* pq.c - libpq connections shared by the PostgreSQL and CrateDB pgwire sinks. */
#include "sluice/pq.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/redact.h"

/* Server notices go to the log, not to stderr raw. */
static void on_notice(void *arg, const char *msg)
{
    const sl_sink *s = arg;
    log_debug(s->ctx, "server: %.*s", (int)strcspn(msg, "\n"), msg);
}

PGconn *sl_pq_connect(sl_sink *s, sl_error *err)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%" PRId64, (s->conf->connect_timeout_ms + 999) / 1000);
    if (!sl_dsn_parses(s->conf->dsn)) /* libpq's message would quote the bad part, password or not */
        return sl_error_set(err, SL_ERR_FATAL, "cannot connect: libpq cannot parse the connection string %s",
                            "(check quoting and %-escapes)"),
               NULL;
    /* client_encoding after the DSN's own settings: text from records is
     * UTF-8 whatever the server's or the DSN's default says */
    const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", "client_encoding", NULL};
    const char *vals[] = {s->conf->dsn, timeout, "sluice", "UTF8", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c);
        sl_error_set(err, SL_ERR_RETRY, "cannot connect: %.*s", (int)strcspn(m, "\n"), m);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, on_notice, s);
    return c;
}

int sl_pq_error(PGconn *conn, const PGresult *res, const char *what, sl_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    sl_errkind kind = sl_sqlstate_kind(state);
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        kind = SL_ERR_RETRY;
    sl_error_set(err, kind, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    if (state)
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
    return -1;
}
