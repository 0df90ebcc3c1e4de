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
struct sl_metrics;

#define SL_MAX_WORKERS 64

typedef struct sl_runtime {
    const sl_config *cfg;
    struct sl_registry *registry; /* NULL unless schema_registry is configured */
    struct sl_metrics *metrics;   /* every counter of the process (metrics.h) */
    atomic_bool stop;             /* set by signals, or by a worker that failed */
    atomic_int exit_code;         /* 0, or the first failure's code */
    /* liveness: each worker's loop stamps its last turn (monotonic ms),
     * and with it when the oldest write attempt of its writers that has
     * not returned yet began (0: none) and that write's target index */
    atomic_llong worker_beat_ms[SL_MAX_WORKERS + 1];
    atomic_llong worker_write_ms[SL_MAX_WORKERS + 1];
    atomic_int worker_write_target[SL_MAX_WORKERS + 1];
    /* reload: the main thread publishes a configuration and bumps cfg_gen;
     * each worker takes it at its next batch boundary and acknowledges */
    _Atomic(const sl_config *) next_cfg;
    atomic_uint cfg_gen;
    atomic_uint worker_gen[SL_MAX_WORKERS + 1];
} sl_runtime;

typedef struct sl_worker sl_worker;

struct sl_pipeline;
/* sl_worker_new() - worker @id of pipeline @pipe (pipeline.h; NULL: the
 * main pipeline, in kafka.group.id). */
sl_worker *sl_worker_new(sl_runtime *rt, int id, const struct sl_pipeline *pipe);
void sl_worker_free(sl_worker *w);
/* sl_worker_run() - the worker's thread: returns when rt->stop is set (after
 * flushing, committing and leaving the group) or when it fails (after
 * setting rt->exit_code and rt->stop). */
void *sl_worker_run(void *worker);
/* sl_worker_cancel_writes() - from any thread, when the process gives up
 * waiting for the worker (shutdown_timeout): its writes in flight make no
 * further attempt and their statements are cancelled. */
void sl_worker_cancel_writes(sl_worker *w);

/* sl_expand_table() - the route's table template for one record: ${topic}
 * and ${a.b} (a path into @meta, a jansson object or NULL).  Values
 * containing '.' or '"' are quoted so they stay one name part.  @rules (the
 * route's table-name rules, transform.h, or NULL) shape each value first.
 * Returns a new string, or NULL with @err. */
#include <jansson.h>
#include "sluice/error.h"
struct sl_name_rules;
char *sl_expand_table(const char *tmpl, const struct sl_name_rules *rules, const char *topic, const json_t *meta,
                      sl_error *err);

#endif
