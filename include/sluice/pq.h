/* pq.h - libpq connections for the sinks that speak the PostgreSQL wire
 * protocol (postgresql, cratedb over pgwire). */
#ifndef SLUICE_PQ_H
#define SLUICE_PQ_H

#include <libpq-fe.h>

#include "sluice/sink.h"

/* sl_pq_connect() - connect to @s->conf->dsn with its connect timeout,
 * routing server notices to @s's log.  NULL with SL_ERR_RETRY in @err. */
PGconn *sl_pq_connect(sl_sink *s, sl_error *err);

#endif
