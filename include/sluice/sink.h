/* sink.h - a target database behind a small table of operations.
 * Every target lives in src/sink/: postgresql.c (with pq.c, the libpq
 * connection it shares with CrateDB's pgwire transport) and the folder
 * cratedb/ (http.c, pg.c, common.c).  One sink instance per worker per
 * target, used by one thread at a time: the worker's, or its writer thread
 * for that target while a write is in flight (src/worker/writer.c).  The
 * reject callback of a write runs on the writer thread. */
#ifndef SLUICE_SINK_H
#define SLUICE_SINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/batch.h"
#include "sluice/config.h"
#include "sluice/error.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

/* The next offset of one partition, written with the data when the sink is
 * transactional (exactly-once). */
typedef struct sl_offset {
    const char *topic;
    int32_t partition;
    int64_t expected;  /* next offset the database held when this batch began; -1 none */
    int64_t next;      /* next offset after this batch */
} sl_offset;

/* A record that could not be written or decoded and goes to the route's
 * dead-letter table (dlq_table) in the same transaction as the batch. */
typedef struct sl_deadletter {
    const sl_route_conf *route;
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    char *error;
} sl_deadletter;

struct sl_flush;
/* Called by a sink for a row that fails permanently (SL_ERR_DATA) while
 * the rest of its batch can be written.  Return 0 when the row was handled
 * (dead-lettered durably, or skipped), -1 to abort the whole flush (on_error:
 * fail) - the sink then rolls back and write() fails with @why. */
typedef int (*sl_reject_fn)(void *opaque, struct sl_flush *f, sl_batch *b, size_t row,
                            const sl_error *why);

/* Asked by a sink between the steps of a long write (the row-by-row
 * isolation of bad rows): true when sluice is stopping, and what was done so
 * far should be committed at the next safe boundary rather than all of it
 * thrown away (see sl_sink_ops.write()). */
typedef bool (*sl_stopping_fn)(void *opaque);

typedef struct sl_flush {
    const char *group_id;
    sl_batch **batches;    /* tables of this target with pending rows */
    size_t nbatches;
    sl_offset *offsets;    /* partitions this flush covers */
    size_t noffsets;
    sl_deadletter *dead;   /* dead letters bound for tables */
    size_t ndead;
    size_t dead_cap;
    sl_reject_fn reject;
    void *reject_opaque;   /* for reject() and stopping() */
    sl_stopping_fn stopping;
} sl_flush;

/* sl_flush_add_deadletter() - copy the record bytes into a new entry. */
void sl_flush_add_deadletter(sl_flush *f, const sl_route_conf *route, const char *topic,
                             int32_t partition, int64_t offset, const void *key, size_t key_len,
                             const void *value, size_t value_len, const char *error);
void sl_flush_clear_deadletters(sl_flush *f);
/* sl_flush_truncate_deadletters() - drop all but the first @keep (those
 * rejected by a write that was then rolled back and will be retried). */
void sl_flush_truncate_deadletters(sl_flush *f, size_t keep);

typedef struct sl_sink sl_sink;

/* What a target is to the rest of sluice: everything that differs between
 * targets is here, so that nothing outside src/sink/ asks which type a
 * target has.  sl_sinks[] holds one table a target type; a type served by
 * several transports (CrateDB: HTTP or the PostgreSQL wire protocol) has
 * one table a transport besides, chosen by transport(). */
typedef struct sl_sink_ops {
    const char *name;     /* sl_sinks[]: targets.<name>.type; else for messages */
    bool transactional;   /* data and offsets commit together: exactly-once possible */
    bool update_mode;     /* writes routes with mode: update (update existing rows, never insert) */
    /* check_conf() - complete and check a target's options once parsed
     * (delivery is -1 when not given): -1 with @err and the option at fault
     * in @key (its name within the target), the error citing the target's
     * line; -2 the same, citing the line of @key itself (an option given
     * that this target does not take). */
    int (*check_conf)(sl_target_conf *t, const char **key, sl_error *err);
    /* guard_conf() - log the warnings a valid target deserves (credentials
     * in the clear, certificates not checked, a connection string libpq
     * will not parse) and register its secrets (redact.h); @path is the
     * configuration file.  May be NULL. */
    void (*guard_conf)(const sl_target_conf *t, const char *path);
    /* column_type() - the column type auto_create / auto_evolve declare for
     * a field of sl_change.fields (e.g. "numeric(12,4)", "bigint[]",
     * "TIMESTAMP WITH TIME ZONE"), written into @buf. */
    const char *(*column_type)(const json_t *field, char *buf, size_t len);
    /* transport() - the table that serves @t, for a type with several;
     * NULL: this one. */
    const struct sl_sink_ops *(*transport)(const sl_target_conf *t);
    int (*open)(sl_sink *s, sl_error *err);      /* connect (SL_ERR_RETRY when unreachable) */
    void (*close)(sl_sink *s);
    /* describe() - read a table's columns and key; *out = NULL when it does not exist. */
    int (*describe)(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err);
    /* write() - every batch, the dead letters and (transactional) the offsets,
     * atomically where the database allows.  SL_ERR_RETRY: nothing was
     * committed (transactional) or the batch may be re-sent (idempotent).
     * A sink may end early when f->stopping() says so: it then commits a
     * consistent part, lowers f->offsets[].next to where the rest begins, and
     * returns 0; the worker commits those offsets and the rest is read
     * again. */
    int (*write)(sl_sink *s, sl_flush *f, sl_error *err);
    /* read_offsets() - stored next offsets (-1 none) for @n partitions of @topic; NULL when not transactional. */
    int (*read_offsets)(sl_sink *s, const char *group, const char *topic, const int32_t *parts,
                        size_t n, int64_t *out, sl_error *err);
    /* set_offsets() - overwrite stored offsets (sluice offsets --reset-to); NULL when not transactional. */
    int (*set_offsets)(sl_sink *s, const char *group, const sl_offset *offs, size_t n, sl_error *err);
    /* create_table() / add_column() - auto_create / auto_evolve DDL, idempotent. May be NULL. */
    int (*create_table)(sl_sink *s, const sl_table *def, sl_error *err);
    int (*add_column)(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err);
    /* alter_column() - auto_evolve: widen.  In one transaction, when column
     * @c of @t still has the type (c->type_name) and NOT NULL read before,
     * change its type to @new_type (NULL: keep it) and drop NOT NULL when
     * @drop_not_null; the statement run is appended to @ddl.  Found changed
     * meanwhile (another worker): nothing runs, @ddl stays empty, and the
     * caller reads the table again.  NULL: the database cannot alter a
     * column, and schema_sync refuses. */
    int (*alter_column)(sl_sink *s, const sl_table *t, const sl_column *c, const char *new_type,
                        bool drop_not_null, sl_strbuf *ddl, sl_error *err);
    /* unreachable() - whether a retriable @err means the server could not
     * be reached (rather than refusing one statement); NULL: every
     * retriable error does.  Read through sl_sink_unreachable(). */
    bool (*unreachable)(const sl_error *err);
    /* The longest table or column name the database keeps whole, in bytes
     * (0: no limit), and its name in messages about it ("PostgreSQL"). */
    size_t max_name_len;
    const char *title;
    /* cancel() - from another thread while write() runs: ask the server to
     * cancel the statement the write waits for, if any (the write then
     * fails).  May be NULL: a write runs its course. */
    void (*cancel)(sl_sink *s);
} sl_sink_ops;

struct sl_sink {
    const sl_sink_ops *ops;
    const sl_target_conf *conf;
    char ctx[96];        /* log context: "sink pg (worker 1)" */
    atomic_bool connected; /* set by the thread using the sink, read by the worker's */
    pthread_mutex_t cancel_mu; /* guards canceller: cancel() comes from another thread */
    void *canceller;     /* what cancel() needs of the connection in use (pq.c: a PGcancel), NULL none */
    void *impl;
};

/* sl_sink_new() - the sink for @conf (not yet connected). */
sl_sink *sl_sink_new(const sl_target_conf *conf, int worker_id);
void sl_sink_free(sl_sink *s);
/* sl_sink_exactly_once() - transactional and delivery: exactly-once. */
bool sl_sink_exactly_once(const sl_sink *s);

/* sl_field_type() - the sluice type of a field of sl_change.fields ("" when
 * it has none), and in *@items the type of its elements when it is an
 * array ("" when they are not named), else NULL: what every column_type()
 * starts from. */
const char *sl_field_type(const json_t *field, const char **items);

/* sl_sink_unreachable() - @err (may be NULL: success) says @s's server
 * could not be reached: the worker's target-up metric and readiness. */
bool sl_sink_unreachable(const sl_sink *s, const sl_error *err);

/* Every target type, indexed by sl_target_conf.type (targets.<name>.type),
 * NULL-terminated: the option table takes the type names from here. */
extern const sl_sink_ops *const sl_sinks[];

/* sl_sink_type() - the index in sl_sinks[] of the type named @name, -1 when
 * there is none. */
int sl_sink_type(const char *name);

#endif
