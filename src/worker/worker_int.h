/* worker_int.h - what the files of one worker share: its state and the
 * functions each job offers the others.
 *
 *   worker.c      lifecycle and the poll loop
 *   consumer.c    the Kafka consumer: configuration, subscription,
 *                 rebalance, seeks, commits, pausing, fetch restarts
 *   offsets.c     the partitions' offset state machine (pure, offsets_int.h)
 *   flush.c       handing what is pending to the writers, collecting
 *                 their results: offsets, commits, the fence, rewinds
 *   writer.c      a target's writer thread: one write at a time, retried
 *   deadletter.c  bad records: skip, dead-letter topic or table
 *   tables.c      the table cache and table-name templates
 *   record.c      one record: decode, map, batch
 *   fanout.c      one record through several routes of one target
 *
 * Threads: everything here runs on the worker's own thread, including
 * librdkafka's rebalance callback (served from rd_kafka_consumer_poll),
 * except the write itself: each target has a writer thread (writer.c) that
 * runs sl_sink_ops.write() on a job the worker handed it, so that the
 * worker decodes batch N+1 while batch N is written.  At most one job per
 * target is in flight and the worker hands over the next only once every
 * writer is idle again: a worker holds at most two batches (one written,
 * one filled).  The rules that make this safe:
 *   - while a writer is BUSY it alone uses its target's sink and its job
 *     (wr->flush, the batches in it, the sl_table they point to); the
 *     worker touches neither, and waits for the writer (sl_worker_claim_sink(),
 *     sl_worker_flush()) before describing a table, reading offsets, changing
 *     a table or the configuration;
 *   - a row the write rejects is handed back: the worker's thread runs
 *     sl_worker_on_reject() (dead-letter producer, metrics, the dead-letter
 *     table's entries go into the job's own flush, w->rejecting) and
 *     answers; it answers whenever it waits for a writer and on each turn of
 *     its loop.  Code run from there must not poll the consumer;
 *   - results are reaped on the worker's thread (flush.c), which alone
 *     changes offsets, commits to Kafka, pauses and seeks; a failed write
 *     is settled (pending rows dropped, partitions rewound) only between
 *     records, never while one is being handled;
 *   - a revoke waits for the write in flight (no further attempt) before
 *     the partitions go.
 * The writer thread reads w->cfg, w->rt (metrics are atomic, logging is
 * thread-safe) and the sink; the configuration only changes while every
 * writer is idle (take_reload()). */
#ifndef SLUICE_WORKER_INT_H
#define SLUICE_WORKER_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offsets_int.h"
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
    sl_batch *batch;  /* being filled */
    sl_batch *spare;  /* the other batch, when not in a write: reused */
    int last_schema_id;
    int64_t last_schema_key; /* sl_change.schema_key of the last record whose schema was checked */
    json_t *rechecked; /* fields absent from the table that made sluice read its catalog again */
    bool unavailable_logged; /* a key change without its unchanged values was logged (carry.c) */
} sl_tentry;

/* A dead letter to a route's dlq_topic (deadletter.c), from the moment it
 * is produced until its record's offset is committed: while it is in
 * flight the record waits; once acknowledged, reading the record again
 * (a retried write, a rewind) does not produce it again. */
typedef struct sl_dlq_letter {
    char *topic;          /* of the record */
    int32_t partition;
    int64_t offset;
    size_t route;         /* index of the route whose dead letter it is (fan-out: several per record) */
    uint64_t seq;         /* matches the delivery report (msg_opaque) */
    int state;            /* DL_SENT, DL_ACKED, DL_FAILED */
    rd_kafka_resp_err_t err;
    size_t cap;           /* key and value cut to this many bytes; SIZE_MAX: whole */
    bool waited;          /* "not acknowledged yet" was logged */
    bool counted;         /* acknowledged, and counted and logged as a dead letter */
} sl_dlq_letter;

typedef enum { SL_WRITER_IDLE, SL_WRITER_BUSY, SL_WRITER_DONE } sl_writer_state;

/* A target's writer thread and its one job (writer.c). */
typedef struct sl_writer {
    struct sl_worker *w;
    size_t target;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* any change under mu is broadcast */
    /* the job: set by the worker while IDLE, the writer's while BUSY */
    sl_flush flush;          /* batches, offsets, dead letters */
    size_t *tables;          /* w->tables index of each batch */
    size_t *parts;           /* w->parts index of each offset */
    size_t rows, deletes;
    bool retry;              /* retry until it works, else one attempt */
    /* written under mu; state, retrying and asking are also read without
     * it, so that the worker's loop checks a busy writer with no lock */
    _Atomic sl_writer_state state;
    atomic_bool retrying;    /* an attempt failed: backing off */
    atomic_llong attempt_ms; /* when the attempt in progress began (monotonic ms); 0 between attempts */
    bool abort;              /* no further attempt */
    bool quit;
    int rc;                  /* DONE: 0 written, 1 given up, -1 failed */
    double seconds;
    atomic_bool asking;      /* a rejected row waits for the worker's answer */
    sl_batch *ask_batch;
    size_t ask_row;
    const sl_error *ask_why;
    int ask_rc;
    bool dl_wait;            /* a rejected row's dead letter waits for its topic: retry */
    char dl_err[512];        /* why */
} sl_writer;

/* The routes of one pipeline a topic's records go through, when there are
 * several (fanout.c): indexes into cfg->routes, the first one the
 * partition's route.  Indexes survive a reload (routes are never added or
 * removed by one). */
typedef struct sl_fan {
    char *topic;
    size_t *routes;
    size_t n;
} sl_fan;

struct sl_worker {
    sl_runtime *rt;
    const sl_config *cfg;
    int id;
    /* fan-out (pipeline.h): the pipeline this worker belongs to */
    size_t pipe_target;       /* SL_PIPE_MAIN, or the one target of a fan-out pipeline */
    char *group;              /* its group.id */
    bool *uses;               /* per target: whether this pipeline writes to it (connected, probed) */
    sl_fan **fans;            /* per topic with several routes, built at assignment */
    size_t nfans;
    char ctx[32];
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;  /* rk's consumer queue (sl_worker_caught_up()) */
    bool cooperative;
    sl_sink **sinks;          /* per target */
    sl_flush *flushes;        /* per target: dead letters of the batch being filled */
    sl_writer *writers;       /* per target */
    sl_decoder *decoders;     /* per route */
    struct sl_direct_route *direct; /* per route: the tables its direct reader fills (direct.c) */
    sl_strbuf direct_key;     /* scratch of direct.c */
    sl_parts parts;
    sl_tentry *tables;
    size_t ntables, captables;
    sl_rowbuilder rb;
    size_t pending_rows;
    size_t pending_bytes;
    int64_t first_pending_ms;
    sl_flush *rejecting;      /* the write whose rejected row is being answered (writer.c), else NULL */
    bool paused_for_write;    /* partitions paused while a write is retried */
    bool revoking;            /* in the revoke callback: commits are synchronous */
    int write_rc;             /* worst result settled since sl_worker_flush() began */
    bool failed;
    rd_kafka_t *dlq;          /* producer for dlq_topic, created on first use */
    sl_dlq_letter *dls;       /* dead letters to topics of records not committed yet */
    size_t ndls, capdls;
    uint64_t dl_seqs;         /* dead letters produced (their delivery reports' ids) */
    bool dl_wait;             /* set by sl_worker_on_reject(): the write must wait for a dead letter (writer.c) */
    bool table_absent;        /* set by sl_worker_table_for(): the table it failed on does not exist */
    char dlq_err[512];        /* why, for the write's retry message */
    /* restarting librdkafka's fetcher after a full prefetch queue (see
     * sl_worker_restart_fetch()); 0 when librdkafka does it by itself */
    size_t refill_bytes, refill_msgs;   /* a drained queue held about this much */
    size_t drained_bytes, drained_msgs; /* taken since the last restart */
    int paused_n;             /* partitions this worker has paused (sluice_paused_partitions) */
    bool paused_all;          /* the whole assignment paused (sl_worker_pause()) */
    bool offsets_unknown;     /* some partition's stored offset is still to be read */
    int offsets_attempt;      /* failed attempts to read them since the last success */
    int64_t offsets_next_ms;  /* when to try again */
    int assigned_n;           /* partitions assigned to this worker (sluice_assigned_partitions) */
    int64_t next_probe_ms;    /* when to try unreachable targets again while idle */
    unsigned cfg_gen;         /* the configuration generation in use (reload) */
    json_t *awaited;          /* new keys of key changes whose create is still to come (carry.c), or NULL */
    int64_t awaited_ms;       /* when the first of them was taken */
    struct sl_kept_row *kept; /* old rows of key changes whose create is still to come (carry.c) */
    size_t nkept, kept_cap, kept_bytes;
    bool kept_held;           /* revoked (eager): kept until the next assignment says which stay */
};

/* direct.c: the table entry of a record on the direct path, and why a
 * record took the general path (sluice_direct_declined_total{route,reason}) */
typedef enum {
    SL_DIRECT_ROUTE,  /* the route or its table's mapping needs the general path for every record */
    SL_DIRECT_TABLE,  /* the record's table has had no record from the general path yet */
    SL_DIRECT_RECORD, /* the format's reader declined the record (cells.h) */
    SL_DIRECT_NREASONS
} sl_direct_reason;
void sl_worker_direct_init(sl_worker *w);
void sl_worker_direct_fini(sl_worker *w);
/* sl_worker_direct_table() - the entry whose direct reader may take @rec
 * (of @r, decoded by @d; @topic its name), or NULL when it must take the
 * general path (counted). */
sl_tentry *sl_worker_direct_table(sl_worker *w, const sl_route_conf *r, sl_decoder *d, const sl_record *rec,
                                  const char *topic);
/* sl_worker_direct_learn() - the general path wrote @c (of @r, from topic
 * @topic) into @te: the next records named alike may go direct. */
void sl_worker_direct_learn(sl_worker *w, const sl_route_conf *r, const sl_tentry *te, const char *topic,
                            const sl_change *c);
void sl_worker_direct_declined(sl_worker *w, const sl_route_conf *r, sl_direct_reason why);
void sl_worker_direct_taken(sl_worker *w, const sl_route_conf *r);

/* worker.c */
int64_t sl_worker_now_ms(void);
static inline bool sl_worker_stopping(const sl_worker *w)
{
    return atomic_load(&w->rt->stop);
}
void sl_worker_fail(sl_worker *w, int code);
/* sl_worker_beat() - the worker's loop is turning (liveness, /healthz);
 * so is the write of each writer, unless an attempt of it has not
 * returned for a while (also published for /healthz). */
void sl_worker_beat(const sl_worker *w);
/* sl_worker_backoff_ms() - the wait before retry @attempt, with +-25% jitter. */
int64_t sl_worker_backoff_ms(const sl_worker *w, int attempt);
/* sl_worker_nap() - wait @ms in small steps, so that a stop is noticed. */
void sl_worker_nap(const sl_worker *w, int64_t ms);
static inline size_t sl_worker_target_index(const sl_config *cfg, const sl_target_conf *t)
{
    return (size_t)(t - cfg->targets);
}

/* carry.c */
/* sl_worker_carry_prepare() - for an upsert @c of @te that re-creates a row
 * under a new key without some values (sl_change.carry_key), mapped into
 * w->rb: the cells the batch's row of the old key holds are set in w->rb;
 * *@out (zeroed when nothing is left) names the rest and the old key, for
 * sl_batch_add_carry() once the row is added.  -1 with SL_ERR_DATA when
 * the old key does not map to the table's key. */
int sl_worker_carry_prepare(sl_worker *w, sl_tentry *te, const sl_change *c, const sl_record *rec, sl_carry *out,
                            sl_error *err);
/* How long a batch waits at least for the create of a key change whose
 * delete it holds (carry.c), when batch.linger_ms is shorter: the two are
 * a few offsets apart in one partition, but may come in different fetches. */
#define SL_KEY_CHANGE_WAIT_MS 1000

/* sl_worker_carry_note() - a delete that names its row's new key starts
 * awaiting that key's create (w->awaited); the create ends it. */
void sl_worker_carry_note(sl_worker *w, const sl_change *c);
static inline bool sl_worker_awaiting(const sl_worker *w)
{
    return w->awaited && json_array_size(w->awaited);
}
/* sl_worker_carry_keep() - a committed batch's stashes (batch.h): the old
 * rows of key changes whose creates are still to come, kept for them
 * (at most SL_KEPT_ROWS, and batch.max_bytes of them; the oldest go first);
 * the kept rows its carries were filled from are let go. */
#define SL_KEPT_ROWS 1024
void sl_worker_carry_keep(sl_worker *w, sl_batch *b);
/* sl_worker_carry_settle() - before @b is written: its carries still
 * pending are filled from the old rows kept for them. */
void sl_worker_carry_settle(sl_worker *w, sl_batch *b);
void sl_worker_carry_free(sl_worker *w);
/* sl_worker_carry_forget() - drop every kept old row (partitions lost, the
 * worker failed or leaves: without it the create's value is counted as
 * unavailable, never wrong). */
void sl_worker_carry_forget(sl_worker *w);
/* sl_worker_carry_revoke(), sl_worker_carry_assign() - a kept row is let go
 * when the partition of the delete it was read for goes: once elsewhere,
 * its keys may change again under another owner, and a row kept from
 * before would fill a later create with a stale value.  A cooperative
 * revoke drops the rows of the partitions in @l.  An eager one revokes
 * every partition: the rows are held until the assignment that follows
 * (called once on_assign() has read the stored offsets into @l), which
 * keeps those whose partitions come back at the offset the database held
 * at the revoke: nothing of them was written by another consumer between. */
void sl_worker_carry_revoke(sl_worker *w, const rd_kafka_topic_partition_list_t *l, bool eager);
void sl_worker_carry_assign(sl_worker *w, const rd_kafka_topic_partition_list_t *l);
/* sl_worker_count_unavailable() - a committed batch's carries whose old
 * row was gone: counted and logged (the worker's thread). */
void sl_worker_count_unavailable(sl_worker *w, const sl_batch *b);

/* consumer.c */
rd_kafka_t *sl_worker_make_consumer(sl_worker *w);
int sl_worker_subscribe(sl_worker *w);
/* sl_worker_commit() - commit the safe offsets of parts @ps[0..n) to Kafka
 * (revoked ones are left out). */
void sl_worker_commit(sl_worker *w, const size_t *ps, size_t n, bool sync);
/* sl_worker_rewind() - seek partitions back to where pending work started,
 * dropping it (sl_parts_rewind()). */
void sl_worker_rewind(sl_worker *w);
/* sl_worker_refetch() - seek back to records dropped while paused, keeping
 * what is pending (sl_parts_refetch()). */
void sl_worker_refetch(sl_worker *w);
void sl_worker_restart_fetch(sl_worker *w);
/* sl_worker_caught_up() - every record the broker had for this worker's
 * partitions when last asked has been taken: nothing waits in the local
 * queue and each partition's next offset has reached its high watermark as
 * of librdkafka's last fetch.  False when that is not known. */
bool sl_worker_caught_up(sl_worker *w);
/* sl_worker_pause() - pause the whole assignment, or resume it but for the
 * partitions whose stored offset is not known yet (they stay paused). */
void sl_worker_pause(sl_worker *w, bool pause);
/* sl_worker_read_unknown_offsets() - from the poll loop: read the stored
 * offsets that could not be read at assignment (at most once per backoff),
 * seek those partitions there and resume them. */
void sl_worker_read_unknown_offsets(sl_worker *w);
/* sl_worker_serve_paused() - while a write is retried: keep serving the
 * group for @ms, drop what arrives. */
void sl_worker_serve_paused(sl_worker *w, int64_t ms);

/* sl_worker_target_up() - record in sluice_target_up whether target @t
 * answered, judging from the error of a connection or write (NULL: it did). */
void sl_worker_target_up(sl_worker *w, size_t t, const sl_error *err);

/* flush.c */
/* sl_worker_flush() - write everything pending and wait for it (and for the
 * write in flight).  @retry: retry until it works, serving the group with
 * partitions paused meanwhile (normal path); otherwise one attempt
 * (inside a rebalance).  On a failure that is not retried, pending rows are
 * dropped and partitions rewound.  Returns 0 written, 1 dropped (read
 * again), -1 failed. */
int sl_worker_flush(sl_worker *w, bool retry);
/* sl_worker_write() - hand what is pending to the writers.  @wait: wait for
 * the write in flight first (serving the group while it is retried);
 * otherwise only when every writer is free.  Returns true when handed. */
bool sl_worker_write(sl_worker *w, bool wait);
/* sl_worker_reap() - collect the writes that ended: commit their offsets,
 * or settle their failure.  Between records only. */
void sl_worker_reap(sl_worker *w);
/* sl_worker_writing() - some writer is busy or its result not reaped. */
bool sl_worker_writing(sl_worker *w);
/* sl_worker_abort_writes() - writes in flight make no further attempt. */
void sl_worker_abort_writes(sl_worker *w);
/* sl_worker_end_writes() - wait for the writes in flight to end after
 * their current attempt, and reap them. */
void sl_worker_end_writes(sl_worker *w);
/* sl_worker_claim_sink() - the worker's thread is about to use target @t's
 * sink: wait until its writer is not writing (a retried write is given
 * up; its result is reaped later). */
void sl_worker_claim_sink(sl_worker *w, size_t t);
void sl_worker_discard_pending(sl_worker *w);

/* writer.c */
int sl_writer_init(sl_writer *wr, sl_worker *w, size_t target);
/* sl_writer_fini() - stop the thread (a write in flight is given up) and free the job. */
void sl_writer_fini(sl_writer *wr);
/* sl_writer_submit() - IDLE -> BUSY: the job prepared in wr is the writer's. */
void sl_writer_submit(sl_writer *wr, bool retry);
/* sl_writer_check() - the state now (*@retrying: backing off between
 * attempts), after answering a rejected row if one waits. */
sl_writer_state sl_writer_check(sl_writer *wr, bool *retrying);
/* sl_writer_wait() - like sl_writer_check(), after waiting up to @ms for the
 * write to end or to start retrying. */
sl_writer_state sl_writer_wait(sl_writer *wr, int ms, bool *retrying);
/* sl_writer_abort() - no further attempt; the statement of an attempt in
 * progress is cancelled (sl_sink_ops.cancel).  Any thread. */
void sl_writer_abort(sl_writer *wr);
/* sl_writer_reaped() - DONE -> IDLE. */
void sl_writer_reaped(sl_writer *wr);

/* deadletter.c */
/* sl_worker_handle_bad() - a bad record under on_error dlq/skip.  Returns 0
 * when handled, 1 when its dead letter waits for the dead-letter topic (read
 * the record again later, serving the consumer meanwhile), -1 when the
 * worker must stop before committing past it. */
int sl_worker_handle_bad(sl_worker *w, const sl_route_conf *r, const char *topic, int32_t partition,
                         int64_t offset, const void *key, size_t klen, const void *val, size_t vlen,
                         const sl_error *why);
/* sl_worker_on_reject() - sink callback: one row failed permanently during
 * the write of @f (answered on the worker's thread, writer.c). */
int sl_worker_on_reject(void *opaque, sl_flush *f, sl_batch *b, size_t idx, const sl_error *why);
/* sl_worker_deadletters_committed() - a write of target @t committed: count
 * and log its dead-letter table entries, forget acknowledged topic dead
 * letters whose offsets are committed or whose partitions are gone. */
void sl_worker_deadletters_committed(sl_worker *w, const sl_flush *f);
/* sl_worker_deadletters_free() - the dead-letter producer and its state. */
void sl_worker_deadletters_free(sl_worker *w);

/* tables.c */
/* sl_worker_table_for() - the table of @rec's change, described (and
 * shaped) on first use or when its schema moved on.  NULL on failure, with
 * w->table_absent set when the table does not exist; a target that cannot
 * be reached is not waited for (SL_ERR_RETRY: the caller reads the record
 * again later, serving the group meanwhile).  The write before a schema
 * change serves the group: the record's partition may be gone after it. */
sl_tentry *sl_worker_table_for(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                               sl_error *err);
void sl_tentry_fini(sl_tentry *te);

/* fanout.c */
/* sl_worker_fan() - the routes of this worker's pipeline for @topic when
 * there are several (cached for the worker's life), else NULL. */
const sl_fan *sl_worker_fan(sl_worker *w, const char *topic);
void sl_worker_fans_free(sl_worker *w);
/* sl_worker_uses_target() - whether this worker's pipeline writes to target @t. */
static inline bool sl_worker_uses_target(const sl_worker *w, size_t t)
{
    return w->uses[t];
}
/* sl_worker_handle_fan() - record @m of partition @p through every route of
 * @p->fan: decoded and its tables resolved for each first, then mapped and
 * batched.  Returns as sl_worker_handle_record(); and 3 (read it again
 * later) or 4 (the worker stops) where that would say 1 or -1 after rows
 * of the record were batched: what is pending then must be dropped and read
 * again, never written (a write would hold part of the record). */
int sl_worker_handle_fan(sl_worker *w, sl_part *p, rd_kafka_message_t *m, sl_record *rec, const char *topic,
                         uint64_t assignment);

/* explode.c */
/* sl_worker_explode() - parent change @c of child route @r: its children's
 * rows into the batch (as sl_worker_take_change()). */
int sl_worker_explode(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                      uint64_t assignment, sl_change *c, sl_error *err);
/* sl_worker_explode_table() - the table of child route @r for parent change @c. */
sl_tentry *sl_worker_explode_table(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                                   sl_error *err);

/* record.c */
/* sl_worker_take_one() - sl_worker_take_change() of one row's change. */
int sl_worker_take_one(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                       uint64_t assignment, sl_change *c, sl_error *err);
/* sl_worker_take_change() - decoded change @c of @rec through route @r into
 * its table's batch: 0 taken, 2 dropped (the partition was revoked
 * meanwhile), -1 @err. */
int sl_worker_take_change(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                          uint64_t assignment, sl_change *c, sl_error *err);
/* sl_worker_still_assigned() - @topic[@partition] under @assignment, else NULL. */
sl_part *sl_worker_still_assigned(sl_worker *w, const char *topic, int32_t partition, uint64_t assignment);
/* sl_worker_bad_record() - a bad record of route @r: its on_error.  0
 * handled, 1 read it again later, -1 stop. */
int sl_worker_bad_record(sl_worker *w, const sl_route_conf *r, const sl_record *rec, sl_error *err);

/* sl_worker_handle_record() - 0: taken (or handled as bad); 1: retry this
 * record later; -1: the worker stops. */
int sl_worker_handle_record(sl_worker *w, rd_kafka_message_t *m);

#endif
