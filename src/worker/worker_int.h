/* worker_int.h - what the files of one worker share: its state and the
 * functions each job offers the others.
 *
 *   worker.c      lifecycle and the poll loop
 *   consumer.c    the Kafka consumer: configuration, subscription,
 *                 rebalance, seeks, commits, pausing, fetch restarts
 *   offsets.c     the partitions' offset state machine (pure, offsets.h)
 *   flush.c       writing what is pending, retrying, the fence
 *   deadletter.c  bad records: skip, dead-letter topic or table
 *   tables.c      the table cache and table-name templates
 *   record.c      one record: decode, map, batch
 *
 * Thread: everything here runs on the worker's own thread, including
 * librdkafka's rebalance callback (served from rd_kafka_consumer_poll). */
#ifndef SLUICE_WORKER_INT_H
#define SLUICE_WORKER_INT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offsets.h"
#include "sluice/batch.h"
#include "sluice/decoder.h"
#include "sluice/cells.h"
#include "sluice/metrics.h"
#include "sluice/mapping.h"
#include "sluice/row.h"
#include "sluice/sink.h"
#include "sluice/worker.h"

/* One table in use: the route's template expanded for some records. */
typedef struct sl_tentry {
    const sl_route_conf *route;
    char *name;       /* the expanded table name, as written */
    size_t target;
    sl_table *table;
    sl_mapping map;
    sl_cells *direct;      /* its format's direct reader (cells.h), NULL when its route needs the general path */
    sl_batch *batch;
    int last_schema_id;
    int64_t last_schema_key; /* sl_change.schema_key of the last record whose schema was checked */
    json_t *rechecked; /* fields absent from the table that made sluice read its catalog again */
} sl_tentry;

/* A dead letter to a route's dlq_topic (deadletter.c), from the moment it
 * is produced until its record's offset is committed: while it is in
 * flight the record waits; once acknowledged, reading the record again
 * (a retried write, a rewind) does not produce it again. */
typedef struct sl_dlq_letter {
    char *topic;          /* of the record */
    int32_t partition;
    int64_t offset;
    uint64_t seq;         /* matches the delivery report (msg_opaque) */
    int state;            /* DL_SENT, DL_ACKED, DL_FAILED */
    rd_kafka_resp_err_t err;
    size_t cap;           /* key and value cut to this many bytes; SIZE_MAX: whole */
    bool waited;          /* "not acknowledged yet" was logged */
    bool counted;         /* acknowledged, and counted and logged as a dead letter */
} sl_dlq_letter;

struct sl_worker {
    sl_runtime *rt;
    const sl_config *cfg;
    int id;
    char ctx[32];
    rd_kafka_t *rk;
    bool cooperative;
    sl_sink **sinks;          /* per target */
    sl_flush *flushes;        /* per target */
    sl_decoder *decoders;     /* per route */
    size_t *direct;           /* per route: tables index + 1 of its one table once a record has reached
                                 it, when that table has a direct reader; 0 otherwise */
    sl_parts parts;
    sl_tentry *tables;
    size_t ntables, captables;
    sl_rowbuilder rb;
    size_t pending_rows;
    size_t pending_bytes;
    int64_t first_pending_ms;
    bool in_flush;
    bool flush_aborted;
    bool failed;
    rd_kafka_t *dlq;          /* producer for dlq_topic, created on first use */
    sl_dlq_letter *dls;       /* dead letters to topics of records not committed yet */
    size_t ndls, capdls;
    uint64_t dl_seqs;         /* dead letters produced (their delivery reports' ids) */
    bool dl_wait;             /* a write was abandoned to wait for dl (flush.c retries it) */
    char dlq_err[512];        /* why, for the write's retry message */
    /* restarting librdkafka's fetcher after a full prefetch queue (see
     * sl_worker_restart_fetch()); 0 when librdkafka does it by itself */
    size_t refill_bytes, refill_msgs;   /* a drained queue held about this much */
    size_t drained_bytes, drained_msgs; /* taken since the last restart */
    int paused_n;             /* partitions this worker has paused (sluice_paused_partitions) */
    int assigned_n;           /* partitions assigned to this worker (sluice_assigned_partitions) */
    int64_t next_probe_ms;    /* when to try unreachable targets again while idle */
    unsigned cfg_gen;         /* the configuration generation in use (reload) */
};

/* worker.c */
int64_t sl_worker_now_ms(void);
static inline bool sl_worker_stopping(const sl_worker *w)
{
    return atomic_load(&w->rt->stop);
}
void sl_worker_fail(sl_worker *w, int code);
/* sl_worker_beat() - the worker's loop is turning (liveness, /healthz). */
static inline void sl_worker_beat(const sl_worker *w)
{
    if (w->id > 0 && w->id <= SL_MAX_WORKERS)
        atomic_store(&w->rt->worker_beat_ms[w->id], sl_worker_now_ms());
}
/* sl_worker_backoff_ms() - the wait before retry @attempt, with +-25% jitter. */
int64_t sl_worker_backoff_ms(const sl_worker *w, int attempt);
/* sl_worker_nap() - wait @ms in small steps, so that a stop is noticed. */
void sl_worker_nap(const sl_worker *w, int64_t ms);
static inline size_t sl_worker_target_index(const sl_config *cfg, const sl_target_conf *t)
{
    return (size_t)(t - cfg->targets);
}

/* consumer.c */
rd_kafka_t *sl_worker_make_consumer(sl_worker *w);
int sl_worker_subscribe(sl_worker *w);
/* sl_worker_commit() - commit the next offsets of parts @ps[0..n) to Kafka. */
void sl_worker_commit(sl_worker *w, const size_t *ps, size_t n, bool sync);
/* sl_worker_rewind() - seek partitions back to where pending work started,
 * dropping it (sl_parts_rewind()). */
void sl_worker_rewind(sl_worker *w);
void sl_worker_restart_fetch(sl_worker *w);
void sl_worker_pause(sl_worker *w, bool pause);
/* sl_worker_serve_paused() - while a write is retried: keep serving the
 * group for @ms, drop what arrives. */
void sl_worker_serve_paused(sl_worker *w, int64_t ms);

/* sl_worker_target_up() - record in sluice_target_up whether target @t
 * answered, judging from the error of a connection or write (NULL: it did). */
void sl_worker_target_up(sl_worker *w, size_t t, const sl_error *err);

/* flush.c */
/* sl_worker_flush() - write everything pending.  @retry: retry until it
 * works (normal path); otherwise one attempt (inside a rebalance).  On a
 * failure that is not retried, pending rows are dropped and partitions
 * rewound.  Returns 0 written, 1 dropped (read again), -1 failed. */
int sl_worker_flush(sl_worker *w, bool retry);
void sl_worker_discard_pending(sl_worker *w);

/* deadletter.c */
/* sl_worker_handle_bad() - a bad record under on_error dlq/skip.  Returns 0
 * when handled, 1 when its dead letter waits for the dead-letter topic (read
 * the record again later, serving the consumer meanwhile), -1 when the
 * worker must stop before committing past it. */
int sl_worker_handle_bad(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition,
                         int64_t offset, const void *key, size_t klen, const void *val, size_t vlen,
                         const sl_error *why);
/* sl_worker_on_reject() - sink callback: one row failed permanently during a write. */
int sl_worker_on_reject(void *opaque, sl_flush *f, sl_batch *b, size_t idx, const sl_error *why);
/* sl_worker_deadletters_committed() - a write of target @t committed: count
 * and log its dead-letter table entries, forget acknowledged topic dead
 * letters whose offsets are committed or whose partitions are gone. */
void sl_worker_deadletters_committed(sl_worker *w, const sl_flush *f);
/* sl_worker_deadletters_free() - the dead-letter producer and its state. */
void sl_worker_deadletters_free(sl_worker *w);

/* tables.c */
/* sl_worker_table_for() - the table of @rec's change, described (and
 * shaped) on first use or when its schema moved on. */
sl_tentry *sl_worker_table_for(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                               sl_error *err);
void sl_tentry_fini(sl_tentry *te);

/* record.c */
/* sl_worker_handle_record() - 0: taken (or handled as bad); 1: retry this
 * record later; -1: the worker stops. */
int sl_worker_handle_record(sl_worker *w, rd_kafka_message_t *m);

#endif
