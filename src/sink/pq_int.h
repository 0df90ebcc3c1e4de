/* pq_int.h - libpq connections for the sinks that speak the PostgreSQL wire
 * protocol (postgresql, cratedb over pgwire). */
#ifndef SLUICE_PQ_INT_H
#define SLUICE_PQ_INT_H

#include <libpq-fe.h>

#include "sluice/sink.h"

/* sl_pq_connect() - connect to @s->conf->dsn with its connect timeout,
 * routing server notices to @s's log.  NULL with SL_ERR_RETRY in @err. */
PGconn *sl_pq_connect(sl_sink *s, sl_error *err);

/* sl_pq_track() - @conn (NULL: none) is the connection @s uses now: what
 * sl_pq_cancel() needs of it is taken (on the thread using @conn). */
void sl_pq_track(sl_sink *s, PGconn *conn);

/* sl_pq_cancel() - sl_sink_ops.cancel: from any thread, ask the server to
 * cancel the statement running on @s's connection (PQcancel). */
void sl_pq_cancel(sl_sink *s);

/* sl_pq_reconnect() - the connection of a sink whose state holds it in
 * *@conn: 1 when it is still up; else what is left is dropped through
 * @drop and a new one made and tracked (sl_pq_track()), 0; -1 with SL_ERR_RETRY in @err (after @drop
 * again) when the server cannot be reached. */
int sl_pq_reconnect(sl_sink *s, PGconn **conn, void (*drop)(sl_sink *s), sl_error *err);

/* sl_pq_error() - fill @err from a failed @res (or, when @res is NULL or
 * says nothing, from @conn): "@what: first line of the message", the
 * SQLSTATE and its kind; RETRY whenever the connection is gone.  Does not
 * free @res.  Returns -1. */
int sl_pq_error(PGconn *conn, const PGresult *res, const char *what, sl_error *err);

/* sl_sqlstate_kind() - classify a PostgreSQL SQLSTATE (NULL or "" means the
 * connection itself failed, which is retriable).  Class 08 (connection), 40001
 * (serialization), 40P01 (deadlock), 57P0x (admin shutdown, crash shutdown,
 * cannot connect now, database dropped), 57014 (query canceled: statement
 * timeout), 53xxx (insufficient resources), 55P03 (lock not available) and
 * 58xxx (system error) are RETRY; class 22 (data exception) and
 * 23 (integrity constraint) are DATA; everything else (42 syntax or undefined
 * object, 28 auth, ...) is FATAL. */
sl_errkind sl_sqlstate_kind(const char *sqlstate);

/* sl_pq_unreachable() - a retriable @err that says the server could not be
 * reached: no SQLSTATE (the connection failed), class 08 (connection
 * exception) or 57P (shutdown, cannot connect now).  sl_sink_ops.unreachable. */
bool sl_pq_unreachable(const sl_error *err);

/* sl_pq_check_conf() - what every target with a dsn refuses: user,
 * password, ca_file and insecure, which belong to an HTTP url (a DSN
 * carries its own: sslrootcert=, sslmode=); silently ignoring them would
 * look like TLS or authentication that is not there.  0, or -2 with the
 * option in @key (sl_sink_ops.check_conf). */
int sl_pq_check_conf(const sl_target_conf *t, const char **key, sl_error *err);

/* sl_pq_guard_conf() - sl_sink_ops.guard_conf for a target with a dsn:
 * a DSN libpq cannot parse, its password (a secret), and sslmode weaker
 * than require towards a host that is not loopback. */
void sl_pq_guard_conf(const sl_target_conf *t, const char *path);

#endif
