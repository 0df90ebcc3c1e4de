/* pq.h - libpq connections for the sinks that speak the PostgreSQL wire
 * protocol (postgresql, cratedb over pgwire). */
#ifndef SLUICE_PQ_H
#define SLUICE_PQ_H

#include <libpq-fe.h>

#include "sluice/sink.h"

/* sl_pq_connect() - connect to @s->conf->dsn with its connect timeout,
 * routing server notices to @s's log.  NULL with SL_ERR_RETRY in @err. */
PGconn *sl_pq_connect(sl_sink *s, sl_error *err);

/* sl_pq_error() - fill @err from a failed @res (or, when @res is NULL or
 * says nothing, from @conn): "@what: first line of the message", the
 * SQLSTATE and its kind; RETRY whenever the connection is gone.  Does not
 * free @res.  Returns -1. */
int sl_pq_error(PGconn *conn, const PGresult *res, const char *what, sl_error *err);

#endif
