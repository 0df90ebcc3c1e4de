/* pq.c - libpq connections shared by the PostgreSQL and CrateDB pgwire sinks:
 * connecting, failures and their SQLSTATEs, the checks of a target's dsn. */
#include "pq_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/credential.h"
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
    char *dsn, *password;
    if (sl_cred_now(s->conf, &dsn, &password, err))
        return NULL;
    if (!sl_dsn_parses(dsn)) { /* libpq's message would quote the bad part, password or not */
        free(dsn);
        free(password);
        return sl_error_set(err, SL_ERR_FATAL, "cannot connect: libpq cannot parse the connection string %s",
                            "(check quoting and %-escapes)"),
               NULL;
    }
    /* Keywords before dbname are defaults the DSN may override; those
     * after it override the DSN.  A server or network that disappears
     * without closing the connection is noticed by TCP keepalives (idle
     * 30 s, then 3 probes 10 s apart) and by tcp_user_timeout (data
     * unacknowledged for 60 s), instead of leaving a write waiting for
     * the kernel's own timeouts (minutes to hours).  client_encoding after
     * the DSN's own settings: text from records is UTF-8 whatever the
     * server's or the DSN's default says; the password_command's password
     * over the DSN's (credential.h: both read for this connection). */
    const char *keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "dbname", "connect_timeout", "fallback_application_name",
                          "client_encoding", password ? "password" : NULL, NULL};
    const char *vals[] = {"1", "30", "10", "3", "60000", dsn, timeout, "sluice", "UTF8", password, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (password)
        explicit_bzero(password, strlen(password));
    free(password);
    free(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c);
        sl_error_set(err, SL_ERR_RETRY, "cannot connect: %.*s", (int)strcspn(m, "\n"), m);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, on_notice, s);
    return c;
}

void sl_pq_track(sl_sink *s, PGconn *conn)
{
    PGcancel *nu = conn ? PQgetCancel(conn) : NULL;
    pthread_mutex_lock(&s->cancel_mu);
    PGcancel *old = s->canceller;
    s->canceller = nu;
    pthread_mutex_unlock(&s->cancel_mu);
    if (old)
        PQfreeCancel(old);
}

void sl_pq_cancel(sl_sink *s)
{
    char why[256];
    pthread_mutex_lock(&s->cancel_mu);
    if (s->canceller) {
        /* a separate short connection to the server; keepalives and
         * tcp_user_timeout of the DSN apply to it too */
        if (PQcancel(s->canceller, why, sizeof(why)))
            log_info(s->ctx, "cancelling the statement in flight");
        else
            log_warn(s->ctx, "cannot cancel the statement in flight: %.*s", (int)strcspn(why, "\n"), why);
    }
    pthread_mutex_unlock(&s->cancel_mu);
}

int sl_pq_reconnect(sl_sink *s, PGconn **conn, void (*drop)(sl_sink *s), sl_error *err)
{
    if (*conn && PQstatus(*conn) == CONNECTION_OK)
        return 1;
    drop(s);
    *conn = sl_pq_connect(s, err);
    if (!*conn) {
        drop(s);
        return -1;
    }
    sl_pq_track(s, *conn);
    return 0;
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

sl_errkind sl_sqlstate_kind(const char *s)
{
    if (!s || !*s)
        return SL_ERR_RETRY; /* no SQLSTATE: the connection itself failed */
    if (!strncmp(s, "08", 2) || !strcmp(s, "40001") || !strcmp(s, "40P01") ||
        !strncmp(s, "57P0", 4) || !strncmp(s, "53", 2) || !strcmp(s, "55P03") ||
        !strncmp(s, "58", 2) || !strcmp(s, "57014") /* statement timeout / cancel */ ||
        !strcmp(s, "25006") /* read-only transaction: a primary that failed over; reconnect */)
        return SL_ERR_RETRY;
    /* 54000 program_limit_exceeded is one row's size (an index row too
     * large, an array or tsvector too long): bisection isolates it */
    if (!strncmp(s, "22", 2) || !strncmp(s, "23", 2) || !strcmp(s, "54000"))
        return SL_ERR_DATA;
    return SL_ERR_FATAL;
}

bool sl_pq_unreachable(const sl_error *err)
{
    return !err->sqlstate[0] || !strncmp(err->sqlstate, "08", 2) || !strncmp(err->sqlstate, "57P", 3);
}

int sl_pq_check_conf(const sl_target_conf *t, const char **key, sl_error *err)
{
    static const char *const http_only[] = {"user", "password", "ca_file", "insecure", NULL};
    const void *given[] = {t->user, t->password, t->ca_file, t->insecure ? "" : NULL};
    for (size_t o = 0; t->dsn && http_only[o]; o++) {
        if (!given[o])
            continue;
        *key = http_only[o];
        sl_error_set(err, SL_ERR_FATAL, "applies only to a cratedb target's HTTP url; with a dsn, give it in the dsn (%s)",
                     o == 2 ? "sslrootcert=..." : o == 3 ? "sslmode=..." : "user=... password=...");
        return -2;
    }
    return 0;
}

static bool loopback_host(const char *h)
{
    /* no host, a socket directory, or a loopback name or address */
    return !h || !*h || h[0] == '/' || h[0] == '@' || !strcmp(h, "localhost") || !strncmp(h, "127.", 4) ||
           !strcmp(h, "::1") || !strcmp(h, "[::1]");
}

void sl_pq_guard_conf(const sl_target_conf *t, const char *path)
{
    if (!t->dsn)
        return;
    if (!sl_dsn_parses(t->dsn)) /* libpq's own message may quote the password: not shown */
        log_warn("config", "%s:%d: targets.%s.dsn: libpq cannot parse this connection string: connecting will fail "
                 "(check quoting and %%-escapes; values with spaces or quotes go in single quotes)",
                 path, t->line, t->name);
    char *pw = sl_dsn_get(t->dsn, "password");
    sl_secret_add(pw);
    free(pw);
    pw = sl_dsn_get(t->dsn, "sslpassword"); /* the client key's passphrase */
    sl_secret_add(pw);
    free(pw);
    char *host = sl_dsn_get(t->dsn, "host"), *addr = sl_dsn_get(t->dsn, "hostaddr");
    char *mode = sl_dsn_get(t->dsn, "sslmode");
    bool remote = !loopback_host(host) || (addr && !loopback_host(addr));
    bool weak = !mode || !strcmp(mode, "disable") || !strcmp(mode, "allow") || !strcmp(mode, "prefer");
    if (remote && weak) {
        char *shown = sl_redact_dsn(t->dsn);
        log_warn("config", "%s:%d: targets.%s.dsn: sslmode is %s to the non-loopback host %s: the connection "
                 "may be unencrypted and unauthenticated; set sslmode=verify-full (or require) in \"%s\"",
                 path, t->line, t->name, mode ? mode : "not set (prefer)", addr ? addr : host, shown);
        free(shown);
    }
    free(host);
    free(addr);
    free(mode);
}
