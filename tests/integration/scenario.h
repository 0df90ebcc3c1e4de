/* scenario.h - the "orders" scenario the integration tests share: a table,
 * a generator of order events with repeated keys and tombstones, the model
 * of what the table must hold afterwards, and checks of stored rows and
 * committed offsets. */
#ifndef SLUICE_TEST_SCENARIO_H
#define SLUICE_TEST_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

/* What the orders table must hold: the last event of every key, or nothing
 * when the last event was a tombstone. */
typedef struct sc_model {
    int nkeys;
    int npartitions;
    int64_t *last_seq;   /* per key: seq of the last upsert, -1 absent (never or deleted) */
    int64_t next_seq;    /* seq of the next event produced */
    uint64_t rng;
} sc_model;

/** sc_model_new() - keys 0..@nkeys-1; key k always goes to partition k % @npartitions. */
sc_model *sc_model_new(int nkeys, int npartitions, uint64_t seed);
void sc_model_free(sc_model *m);

/**
 * sc_produce_orders() - produce @n events to @topic: each picks a key at
 * random, and is a tombstone with probability @tombstone_pct percent (only
 * for keys that exist, so deletes matter), else an upsert carrying the next
 * seq.  Updates the model; flushes the producer.
 */
void sc_produce_orders(sc_model *m, const char *topic, int n, int tombstone_pct);

/** sc_orders_table_sql - CREATE TABLE orders in the current search_path. */
extern const char sc_orders_table_sql[];

/**
 * sc_assert_orders() - the table @table (in @c's search_path) holds exactly
 * the model's state, compared column by column (EXCEPT both ways).
 */
void sc_assert_orders(PGconn *c, const char *table, const sc_model *m);

/** sc_offsets_at_end() - every partition's Kafka-committed offset of @group equals its high watermark. */
bool sc_offsets_at_end(const char *group, const char *topic, int npartitions);

/**
 * sc_wait_committed() - poll until sc_offsets_at_end() or @timeout_ms; fails
 * the test with the offsets seen and the tail of @log_path otherwise.
 */
void sc_wait_committed(const char *group, const char *topic, int npartitions, int timeout_ms,
                       const char *log_path);

/** sc_stored_offset() - next_offset in sluice.offsets, -1 when none. */
int64_t sc_stored_offset(PGconn *c, const char *group, const char *topic, int partition);

/** sc_assert_stored_offsets_at_end() - sluice.offsets holds the high watermark of every partition. */
void sc_assert_stored_offsets_at_end(PGconn *c, const char *group, const char *topic, int npartitions);

/** sc_log_tail() - the last @bytes of the file at @path (for failure messages); free() it. */
char *sc_log_tail(const char *path, size_t bytes);

/**
 * sc_kafka_yaml() - the kafka: section every test uses (bootstrap, group,
 * earliest, short session timeout); free() it.
 */
char *sc_kafka_yaml(const char *group);

/**
 * sc_main() - run the @n Check tests of @tests as suite @name (fork mode,
 * 10 minutes each), after skipping (exit 77) when SLUICE_TEST_DSN is unset.
 * Return: the process exit status.
 */
struct TTest;
int sc_main(const char *name, const struct TTest *const *tests, int n);

#endif
