/* worker.h - one consumer-group member: poll, decode, map, batch, flush,
 * commit.  `workers: N` runs N of them, each on its own thread with its
 * own librdkafka consumer and its own database connections. */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"

struct sl_registry;

/* Counters shared by every worker of the process. */
typedef struct sl_stats {
    atomic_llong records;      /* records consumed */
    atomic_llong rows;         /* rows written (after collapsing) */
    atomic_llong deletes;      /* rows deleted */
    atomic_llong ignored;      /* tombstones without delete, heartbeats, logical messages */
    atomic_llong skipped;      /* bad records skipped (on_error: skip) */
    atomic_llong dead_letters; /* bad records dead-lettered (on_error: dlq) */
    atomic_llong flushes;      /* transactions committed */
    atomic_llong retries;      /* retried writes */
    atomic_llong unmapped;     /* fields without a column (first sightings) */
    atomic_llong fetch_restarts; /* prefetch restarted after a full queue (worker/consumer.c) */
} sl_stats;

typedef struct sl_runtime {
    const sl_config *cfg;
    struct sl_registry *registry; /* NULL unless schema_registry is configured */
    atomic_bool stop;             /* set by signals, or by a worker that failed */
    atomic_int exit_code;         /* 0, or the first failure's code */
    sl_stats stats;
} sl_runtime;

typedef struct sl_worker sl_worker;

sl_worker *sl_worker_new(sl_runtime *rt, int id);
void sl_worker_free(sl_worker *w);
/* sl_worker_run() - the worker's thread: returns when rt->stop is set (after
 * flushing, committing and leaving the group) or when it fails (after
 * setting rt->exit_code and rt->stop). */
void *sl_worker_run(void *worker);

/* sl_expand_table() - the route's table template for one record: ${topic}
 * and ${a.b} (a path into @meta, a jansson object or NULL).  Values
 * containing '.' or '"' are quoted so they stay one name part.
 * Returns a new string, or NULL with @err. */
#include <jansson.h>
#include "sluice/error.h"
char *sl_expand_table(const char *tmpl, const char *topic, const json_t *meta, sl_error *err);

#endif
