/* support.h - what sluice's integration tests share: a Kafka cluster
 * (librdkafka's mock cluster in this process, or a real one named by
 * SLUICE_TEST_BOOTSTRAP), a producer, committed-offset and watermark queries,
 * PostgreSQL helpers (SLUICE_TEST_DSN) and a way to run the sluice daemon.
 *
 * Every helper fails the current Check test (ck_abort) on error, so a test
 * reads as a list of steps.  Kafka and daemon helpers must be called inside a
 * test function (after Check's fork), never from main().
 */
#ifndef SLUICE_TEST_SUPPORT_H
#define SLUICE_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "sluice/strbuf.h"
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Exit status that tells meson a test was skipped. */
#define TS_SKIP 77

/* Exit status the SLUICE_TEST_WRAPPER command (valgrind --error-exitcode=99)
 * uses when it found memory errors or leaks in the daemon. */
#define TS_WRAPPER_ERROR_EXIT 99

/* ---- Kafka ------------------------------------------------------------ */

/**
 * ts_kafka_start() - start a mock cluster of @nbrokers brokers in this
 * process, or use the real cluster of SLUICE_TEST_BOOTSTRAP when it is set.
 * Also opens the producer used by ts_produce().
 */
void ts_kafka_start(int nbrokers);

/** ts_kafka_start_mock() - always the mock cluster, even with
 * SLUICE_TEST_BOOTSTRAP: for tests that inject request errors or set
 * brokers down through ts_kafka_mock(). */
void ts_kafka_start_mock(int nbrokers);

/** ts_kafka_mock() - the mock cluster of ts_kafka_start_mock() (or of
 * ts_kafka_start() without SLUICE_TEST_BOOTSTRAP). */
rd_kafka_mock_cluster_t *ts_kafka_mock(void);

/**
 * ts_kafka_yaml() - the `kafka:` section of a test configuration: the
 * cluster in use, @group, earliest, session.timeout.ms 6000, heartbeat 500,
 * and @extra (more "  key: value\n" lines, or NULL).  free() it.
 */
char *ts_kafka_yaml(const char *group, const char *extra);

/** ts_kafka_stop() - flush and close the producer, stop the mock cluster. */
void ts_kafka_stop(void);

/** ts_kafka_bootstrap() - "host:port,..." of the cluster in use. */
const char *ts_kafka_bootstrap(void);

/** ts_kafka_is_mock() - true when the cluster is this process's mock. */
bool ts_kafka_is_mock(void);

/**
 * ts_unique_name() - @base followed by this process's id and a counter, so
 * topics, groups and schemas never collide between tests or runs.
 * Return: a string owned by the caller (free()).
 */
char *ts_unique_name(const char *base);

/** ts_kafka_create_topic() - create @topic with @partitions partitions,
 * replicated on every broker (at most 3 on a real cluster), once the
 * cluster's metadata shows it. */
void ts_kafka_create_topic(const char *topic, int partitions);

/**
 * ts_produce() - queue one record for @partition of @topic.  @key may be
 * NULL (no key); @value NULL produces a tombstone.  Records of one partition
 * keep their order.
 */
void ts_produce(const char *topic, int32_t partition, const void *key, size_t key_len,
                const void *value, size_t value_len);

/** ts_produce_header() - ts_produce() with one header @header (NUL-terminated
 * @header_value; NULL: a null header); @header NULL: none. */
void ts_produce_header(const char *topic, int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len, const char *header, const char *header_value);

/** ts_produce_str() - ts_produce() with NUL-terminated key and value. */
void ts_produce_str(const char *topic, int32_t partition, const char *key, const char *value);

/** ts_flush() - wait until every queued record is acknowledged; fails the
 * test if any delivery failed. */
void ts_flush(void);

/**
 * ts_kafka_committed() - the offset group @group committed for
 * @topic[@partition], or -1 when it has none.
 */
int64_t ts_kafka_committed(const char *group, const char *topic, int32_t partition);

/** ts_kafka_high_watermark() - the next offset to be written to @topic[@partition]. */
int64_t ts_kafka_high_watermark(const char *topic, int32_t partition);

/* ---- PostgreSQL ------------------------------------------------------- */

/**
 * ts_require_pg() - call from main() before running the suite: exits with
 * TS_SKIP (77) and a message when SLUICE_TEST_DSN is not set.
 */
void ts_require_pg(void);

/** ts_pg_dsn() - the value of SLUICE_TEST_DSN. */
const char *ts_pg_dsn(void);

/** ts_pg_connect() - a new connection to SLUICE_TEST_DSN (PQfinish() it). */
PGconn *ts_pg_connect(void);

/**
 * ts_pg_exec() - run @sql (no values spliced in: pass them as the
 * NULL-terminated text parameters $1, $2, ... after @sql).
 */
void ts_pg_exec(PGconn *c, const char *sql, ...);

/** ts_pg_int() - the single integer the query returns; -1 for NULL. */
int64_t ts_pg_int(PGconn *c, const char *sql, ...);

/** ts_pg_text() - the single value the query returns, or NULL for SQL NULL
 * or no row; free() it. */
char *ts_pg_text(PGconn *c, const char *sql, ...);

/** ts_pg_expect_coltype() - fail the test unless column @col of @table
 * (a regclass name) has the type @want, as format_type() writes it. */
void ts_pg_expect_coltype(PGconn *c, const char *table, const char *col, const char *want);

/**
 * ts_pg_fresh_schema() - drop and create a schema named after @base (see
 * ts_unique_name()) and make it @c's search_path.
 * Return: the schema name, owned by the caller.
 */
char *ts_pg_fresh_schema(PGconn *c, const char *base);

/* ---- files and the daemon ------------------------------------------- */

/** ts_tempdir() - a new directory under $TMPDIR (or /tmp); free() the name. */
char *ts_tempdir(const char *base);

/** ts_write_file() - write printf-formatted text to @dir/@name.
 * Return: the path, owned by the caller. */
char *ts_write_file(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** ts_read_file() - the whole file as a string, or NULL; free() it. */
char *ts_read_file(const char *path);

/** ts_decimal_base64() - the unscaled value @v of a Connect Decimal (and
 * of a Debezium VariableScaleDecimal's "value") as Connect writes it: big-endian
 * two's complement in as few bytes as hold it, base64, appended to @out. */
void ts_decimal_base64(sl_strbuf *out, int64_t v);

typedef struct ts_daemon {
    pid_t pid;
    char *log_path;  /* stdout and stderr of the process */
    bool exited;
    int status;      /* waitpid() status once exited */
} ts_daemon;

/**
 * ts_daemon_spawn() - run the sluice binary with the NULL-terminated
 * arguments after @log_path; stdout and stderr go to @log_path.  When
 * SLUICE_TEST_WRAPPER is set (e.g. "valgrind --error-exitcode=99
 * --leak-check=full"), the binary runs under that command.
 */
ts_daemon *ts_daemon_spawn(const char *log_path, ...);

/** ts_daemon_start() - `sluice -c @config`, logging to @log_path. */
ts_daemon *ts_daemon_start(const char *config, const char *log_path);

/** ts_daemon_signal() - send @sig to a running daemon. */
void ts_daemon_signal(ts_daemon *d, int sig);

/** ts_daemon_running() - reap it if it exited; true while it runs. */
bool ts_daemon_running(ts_daemon *d);

/**
 * ts_daemon_wait() - wait up to @timeout_ms for the daemon to exit.
 * Return: true when it exited (status in d->status).
 */
bool ts_daemon_wait(ts_daemon *d, int timeout_ms);

/** ts_daemon_stop() - SIGTERM, wait up to @timeout_ms, and return the exit
 * code (128+signal when killed, -1 when it did not exit). */
int ts_daemon_stop(ts_daemon *d, int timeout_ms);

/** ts_daemon_exit_code() - exit code of an exited daemon (128+signal when killed). */
int ts_daemon_exit_code(const ts_daemon *d);

/** ts_daemon_log() - what the daemon wrote so far; free() it. */
char *ts_daemon_log(const ts_daemon *d);

/** ts_daemon_free() - SIGKILL it if still running, reap, free.  NULL is fine. */
void ts_daemon_free(ts_daemon *d);

/**
 * ts_run() - run the sluice binary with the NULL-terminated arguments to
 * completion (up to 60 s); its output goes to *@output when not NULL.
 * Return: its exit code.
 */
int ts_run(char **output, ...);

/* ---- waiting ---------------------------------------------------------- */

/**
 * ts_wait_until() - call @fn(@arg) every 50 ms until it returns true or
 * @timeout_ms pass.  Return: the last result of @fn.
 */
bool ts_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms);

/** ts_now_ms() - a monotonic clock in milliseconds. */
int64_t ts_now_ms(void);

/* ---- HTTP (http.c) ---------------------------------------------------- */

/** ts_free_port() - a loopback TCP port nothing listens on right now. */
int ts_free_port(void);

/* One request: GET, or POST when @body is set. */
typedef struct ts_http_req {
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* POST this when not NULL */
    long timeout_s;             /* 10 when 0 */
    bool must_answer;           /* fail the test when nothing answers */
    char *ctype;                /* the response's Content-Type, when not NULL */
    size_t ctype_len;
} ts_http_req;

/**
 * ts_http() - perform @req; the response body goes to @body (reset first,
 * never NULL data afterwards).
 * Return: the HTTP status, 0 when nothing answered (and !must_answer).
 */
long ts_http(const ts_http_req *req, sl_strbuf *body);

/** ts_http_get() - GET @url, which must answer; the status. */
long ts_http_get(const char *url, sl_strbuf *body);

/** ts_metric() - the value of the sample @series ("name{labels}", exactly
 * as exposed) in Prometheus exposition @text; -1 when absent. */
double ts_metric(const char *text, const char *series);

/** ts_scrape() - ts_metric() of the /metrics of the admin server on
 * 127.0.0.1:@port; -1 when the sample is absent. */
double ts_scrape(int port, const char *series);

#endif
