/* faults.h - what sluice's fault and bad-input tests share, on top of
 * support.h: the real Kafka cluster of SLUICE_TEST_BOOTSTRAP or a mock
 * cluster whose handle the tests drive (injected request errors, brokers
 * set down and up), a compressing producer that
 * takes large values, a reader for dead-letter topics, a private
 * PostgreSQL server that a test may stop and restart, and checks that the
 * rows stored and the offsets stored agree.
 *
 * Like support.h, every helper fails the current Check test on error and
 * must be called inside a test function (after Check's fork).
 */
#ifndef SLUICE_TEST_FAULTS_H
#define SLUICE_TEST_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "support.h"

/* Kafka protocol request types, for rd_kafka_mock_push_request_errors(). */
enum {
    FK_API_PRODUCE = 0,
    FK_API_FETCH = 1,
    FK_API_OFFSET_COMMIT = 8,
    FK_API_JOIN_GROUP = 11,
    FK_API_HEARTBEAT = 12,
    FK_API_SYNC_GROUP = 14,
};

/* ---- Kafka ------------------------------------------------------------ */

/* The Kafka cluster and producer are test support's (support.h):
 * ts_kafka_start() or, for tests that inject errors, ts_kafka_start_mock()
 * and ts_kafka_mock(); ts_produce(), ts_flush(), ts_kafka_yaml(). */

/**
 * fk_events_config() - write DIR/sluice.yaml: @kafka (from ts_kafka_yaml),
 * one route from @topic into the append-only table @qtable in insert mode
 * with kp/ko filled from kafka.partition/kafka.offset, then @tail (the
 * batch: and retry: sections of the test).  Returns the file's path.
 */
char *fk_events_config(const char *dir, const char *kafka, const char *topic, const char *qtable,
                       const char *tail);

/* A record read back from a topic (dead letters). */
typedef struct fk_msg {
    int32_t partition;
    int64_t offset;
    void *key;       /* NULL: none */
    size_t key_len;
    void *value;     /* NULL: tombstone */
    size_t value_len;
    char *hdr_error, *hdr_topic, *hdr_partition, *hdr_offset, *hdr_route; /* sluice.* headers, NULL if absent */
    char *hdr_truncated; /* sluice.truncated: the original value's length, when cut */
} fk_msg;

/**
 * fk_read_topic() - read @topic from the beginning, without a group, until
 * @expected records arrived (fails the test after @timeout_ms) and one more
 * second brought nothing new.  Return: the records; *@n their count.
 */
fk_msg *fk_read_topic(const char *topic, int partitions, size_t expected, int timeout_ms, size_t *n);
void fk_msgs_free(fk_msg *m, size_t n);

/* ---- PostgreSQL ------------------------------------------------------- */

/**
 * fk_pg_private_start() - a PostgreSQL server of this test alone, started
 * by tests/support/pgserver.sh in a new directory; SLUICE_TEST_DSN is pointed at it
 * (for ts_pg_connect() and for the daemon's ${SLUICE_TEST_DSN}).
 * Return: the server's directory (for fk_pg_ctl()), owned by the caller.
 */
char *fk_pg_private_start(void);
/** fk_pg_ctl() - run pg_ctl @action ("stop -m immediate", "start", "restart -m fast") on it. */
void fk_pg_ctl(const char *dir, const char *action);
/** fk_pg_private_stop() - stop the private server and remove its directory. */
void fk_pg_private_stop(char *dir);

/** fk_pg_try_int() - like ts_pg_int() but -2 instead of failing when the query fails. */
int64_t fk_pg_try_int(PGconn *c, const char *sql);
/** fk_stored_offset() - the next offset sluice.offsets holds for @topic in
 * @group (the highest over its partitions); -1 while none is stored or the
 * table does not exist yet. */
int64_t fk_stored_offset(PGconn *c, const char *group, const char *topic);

/**
 * fk_consistent() - the table @qtable (quoted, schema-qualified; columns
 * kp = Kafka partition and ko = Kafka offset) and sluice.offsets of @group
 * agree, read in one snapshot: every partition of @topic holds exactly the
 * rows of offsets [0, stored next_offset), each once.  On a mismatch,
 * describes it in @why.  Return: the number of rows covered.
 */
bool fk_consistent(PGconn *c, const char *qtable, const char *group, const char *topic, int64_t *rows,
                   char *why, size_t whylen);

/** fk_wait_at_end() - wait up to @timeout_ms until @group has committed
 * every partition of @topic at its high watermark; fails the test, with the
 * daemon's log, if @d exits or the time passes. */
void fk_wait_at_end(ts_daemon *d, const char *group, const char *topic, int partitions, int timeout_ms);

/** fk_assert_exact() - @qtable holds @n rows, seq 0..@n-1 each once, and
 * sluice.offsets of @group holds every partition's high watermark. */
/** fk_assert_as_broker() - @qtable (with add_columns kp, ko: the record's
 * partition and offset) holds every record the broker holds for @topic,
 * each once: per partition, offsets 0..high watermark - 1, each in one row;
 * no seq twice; and sluice.offsets of @group at every high watermark.
 * Returns how many records that is, for the caller to compare with what
 * its producer had acknowledged. */
int64_t fk_assert_as_broker(PGconn *c, const char *qtable, const char *group, const char *topic, int partitions);
void fk_assert_exact(PGconn *c, const char *qtable, const char *group, const char *topic, int partitions,
                     int64_t n);

/* ---- the daemon ------------------------------------------------------- */

/** fk_rss_kib() - VmRSS of @pid in KiB, -1 when gone. */
long fk_rss_kib(pid_t pid);

/** fk_log_count() - how often @needle occurs in the daemon's log. */
int fk_log_count(const ts_daemon *d, const char *needle);

/** fk_tail() - the last 3000 bytes of the daemon's log (for messages); free() it. */
char *fk_tail(const ts_daemon *d);

/** fk_rand() - a deterministic generator; the seed is printed so a run can be replayed. */
uint64_t fk_rand(uint64_t *state);

/**
 * fk_main() - run the @n Check tests as suite @name (fork mode, @timeout_s
 * each), after skipping (exit 77) when SLUICE_TEST_DSN is unset.
 */
struct TTest;
int fk_main(const char *name, const struct TTest *const *tests, int n, int timeout_s);

#endif
