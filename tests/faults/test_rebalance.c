/* test_rebalance.c - group members come and go while records flow: a
 * first daemon (two workers) runs throughout, a second and a third join,
 * then the second leaves cleanly (SIGTERM) and the third dies (SIGKILL, its
 * partitions move after the session timeout).  Every membership change
 * happens with records in flight; the append-only table (mode: insert, no
 * key) must end with every record exactly once.  And a member joins while
 * a write is retried before a table is read again (a record with a new
 * field): no crash, every record once; a revoke cancels the statement of
 * the write it gives up.  And the worker's seek back waits its 10 s with
 * every librdkafka version, however slowly the seeks are served. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "sluice/kafka.h"

#define NPARTS 6
#define STEP 12000

typedef struct run {
    PGconn *c;
    char *qtable;
    char *group;
    char *topic;
    int64_t produced;
    int64_t t0;
} run;

static void produce(run *r, int64_t n)
{
    char value[128];
    for (int64_t i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 "}", seq);
        ts_produce(r->topic, (int32_t)(seq % NPARTS), NULL, 0, value, (size_t)len);
    }
    ts_flush();
}

static bool all_stored(void *arg)
{
    run *r = arg;
    int64_t rows = 0;
    char why[1024];
    return fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why)) && rows == r->produced;
}

static bool has_assignment(void *arg)
{
    return fk_log_count(arg, "assigned ") > 0;
}

static void step(run *r, const char *what)
{
    printf("%6.1f s  %s\n", (ts_now_ms() - r->t0) / 1000.0, what);
}

START_TEST(members_joining_and_leaving_under_load_keep_exactly_once)
{
    ts_kafka_start(1);
    run r = {0};
    r.t0 = ts_now_ms();
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_rebal");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("rebal");
    r.group = ts_unique_name("sluice_rebal");
    ts_kafka_create_topic(r.topic, NPARTS);

    char *dir = ts_tempdir("rebal");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *configs[2];
    for (int i = 0; i < 2; i++)
        configs[i] = ts_write_file(dir, i ? "one.yaml" : "two.yaml",
                                   "%s"
                                   "workers: %d\n"
                                   "targets:\n"
                                   "  pg:\n"
                                   "    type: postgresql\n"
                                   "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                   "routes:\n"
                                   "  - topics: [%s]\n"
                                   "    target: pg\n"
                                   "    table: %s\n"
                                   "    mode: insert\n"
                                   "    add_columns:\n"
                                   "      kp: kafka.partition\n"
                                   "      ko: kafka.offset\n"
                                   "batch:\n"
                                   "  max_rows: 500\n"
                                   "  linger_ms: 20\n",
                                   kafka, i ? 1 : 2, r.topic, r.qtable);
    char *logs[3] = {ts_write_file(dir, "a.log", "%s", ""), ts_write_file(dir, "b.log", "%s", ""),
                     ts_write_file(dir, "c.log", "%s", "")};

    produce(&r, STEP);
    ts_daemon *a = ts_daemon_start(configs[0], logs[0]);
    step(&r, "first member (two workers) started");
    produce(&r, STEP);

    ts_daemon *b = ts_daemon_start(configs[1], logs[1]);
    produce(&r, STEP);
    ck_assert_msg(ts_wait_until(has_assignment, b, 60000), "the second member got no partitions; log:\n%s",
                  fk_tail(b));
    step(&r, "second member joined");
    produce(&r, STEP);

    ts_daemon *c = ts_daemon_start(configs[1], logs[2]);
    produce(&r, STEP);
    ck_assert_msg(ts_wait_until(has_assignment, c, 60000), "the third member got no partitions; log:\n%s",
                  fk_tail(c));
    step(&r, "third member joined");
    produce(&r, STEP);

    ts_daemon_signal(b, SIGTERM);
    produce(&r, STEP);
    ck_assert_msg(ts_daemon_wait(b, 60000) && ts_daemon_exit_code(b) == 0, "the second member did not leave cleanly");
    step(&r, "second member left (SIGTERM)");
    produce(&r, STEP);

    ts_daemon_signal(c, SIGKILL);
    ck_assert(ts_daemon_wait(c, 10000));
    produce(&r, STEP);
    step(&r, "third member killed (SIGKILL)");

    if (!ts_wait_until(all_stored, &r, 120000)) {
        int64_t rows = 0;
        char why[1024];
        fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        ck_abort_msg("%" PRId64 " of %" PRId64 " records stored (%s); first member's log:\n%s", rows, r.produced, why,
                     fk_tail(a));
    }
    step(&r, "everything stored");
    ck_assert_msg(ts_daemon_running(a), "the first member exited; log:\n%s", fk_tail(a));
    int code = ts_daemon_stop(a, 60000);
    ck_assert_msg(code == 0, "the first member exited with %d; log:\n%s", code, fk_tail(a));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, r.produced);
    printf("%" PRId64 " records, each stored once\n", r.produced);

    ts_daemon_free(a);
    ts_daemon_free(b);
    ts_daemon_free(c);
    PQfinish(r.c);
    ts_kafka_stop();
    for (int i = 0; i < 3; i++)
        free(logs[i]);
    free(configs[0]);
    free(configs[1]);
    free(kafka);
    free(dir);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
}
END_TEST

static PGconn *watcher;

/* A write of sluice waits for a lock on @qtable's table ("schema.events"). */
static bool write_waits(void *arg)
{
    const char *schema = arg;
    return ts_pg_int(watcher,
                     "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE NOT l.granted AND c.relname = 'events' AND n.nspname = $1",
                     schema, NULL) > 0;
}

typedef struct log_needle {
    ts_daemon *d;
    const char *needle;
} log_needle;

static bool log_shows(void *arg)
{
    log_needle *n = arg;
    return fk_log_count(n->d, n->needle) > 0;
}

static void wait_for_log(ts_daemon *d, const char *needle)
{
    log_needle n = {d, needle};
    ck_assert_msg(ts_wait_until(log_shows, &n, 60000), "the log never showed '%s':\n%s", needle, fk_tail(d));
}

/* Finding: a record with a field the table lacks makes the worker read the
 * table again, and first write what is pending; while that write is
 * retried (the table locked past the statement timeout) the worker serves
 * the group, and a member joining revoked the partition whose entry the
 * record's handling still held: a use after free (ASan), a garbage topic
 * name and exit 1 (release).  Now the record is left to the partition's
 * next owner, and every record ends in the table once. */
START_TEST(rebalance_during_a_retried_write_before_a_schema_reread)
{
    ts_kafka_start(1);
    run r = {0};
    r.t0 = ts_now_ms();
    r.c = ts_pg_connect();
    watcher = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_rebal_reread");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("reread");
    r.group = ts_unique_name("sluice_reread");
    ts_kafka_create_topic(r.topic, NPARTS);
    char *dir = ts_tempdir("reread");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    /* batches wait (linger 60 s) unless the consumer catches up: the record
     * with a new field is taken while the first write still runs */
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "    statement_timeout_ms: 1s\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: %s\n    mode: insert\n"
                                 "    add_columns:\n      kp: kafka.partition\n      ko: kafka.offset\n"
                                 "batch:\n  max_rows: 100000\n  linger_ms: 60000\n"
                                 "retry:\n  initial_backoff_ms: 200\n  max_backoff_ms: 1000\n",
                                 kafka, r.topic, r.qtable);
    char *logs[2] = {ts_write_file(dir, "a.log", "%s", ""), ts_write_file(dir, "b.log", "%s", "")};
    ts_daemon *a = ts_daemon_start(config, logs[0]);
    produce(&r, 600);
    ck_assert_msg(ts_wait_until(all_stored, &r, 60000), "the first records were not stored:\n%s", fk_tail(a));
    step(&r, "first member caught up");

    /* the table locked: the next write waits, times out after 1 s, is retried */
    PGconn *locker = ts_pg_connect();
    ts_pg_exec(locker, "BEGIN", NULL);
    char *lock = NULL;
    ck_assert(asprintf(&lock, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", r.qtable) > 0);
    ts_pg_exec(locker, lock, NULL);
    produce(&r, 600);
    ck_assert_msg(ts_wait_until(write_waits, schema, 60000), "no write waited on the lock:\n%s", fk_tail(a));
    step(&r, "a write waits on the lock");
    /* a record with a field the table lacks: its table is read again, once
     * what is pending is written */
    char value[128];
    int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"extra\":1}", r.produced);
    ts_produce(r.topic, (int32_t)(r.produced % NPARTS), NULL, 0, value, (size_t)len);
    r.produced++;
    ts_flush();
    wait_for_log(a, "field \"extra\" has no column");
    wait_for_log(a, "write failed (attempt 1)");
    step(&r, "the write before the schema re-read is retried");

    /* a second member joins meanwhile: the first one's partitions are revoked */
    ts_daemon *b = ts_daemon_start(config, logs[1]);
    ck_assert_msg(ts_wait_until(has_assignment, b, 60000), "the second member got no partitions; log:\n%s",
                  fk_tail(b));
    wait_for_log(a, "revoked ");
    step(&r, "second member joined");
    ts_pg_exec(locker, "ROLLBACK", NULL);
    PQfinish(locker);
    produce(&r, 600);

    if (!ts_wait_until(all_stored, &r, 120000)) {
        int64_t rows = 0;
        char why[1024];
        fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        ck_abort_msg("%" PRId64 " of %" PRId64 " records stored (%s); first member's log:\n%s", rows, r.produced, why,
                     fk_tail(a));
    }
    step(&r, "everything stored");
    ck_assert_msg(ts_daemon_running(a), "the first member exited; log:\n%s", fk_tail(a));
    int code = ts_daemon_stop(a, 60000);
    ck_assert_msg(code == 0, "the first member exited with %d; log:\n%s", code, fk_tail(a));
    code = ts_daemon_stop(b, 60000);
    ck_assert_msg(code == 0, "the second member exited with %d; log:\n%s", code, fk_tail(b));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, r.produced);
    for (int p = 0; p < NPARTS; p++)
        ck_assert_int_eq(ts_kafka_committed(r.group, r.topic, p), ts_kafka_high_watermark(r.topic, p));
    printf("%" PRId64 " records, each stored once\n", r.produced);

    ts_daemon_free(a);
    ts_daemon_free(b);
    PQfinish(watcher);
    PQfinish(r.c);
    ts_kafka_stop();
    free(logs[0]);
    free(logs[1]);
    free(config);
    free(lock);
    free(kafka);
    free(dir);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
}
END_TEST

/* Finding: a revoke gives up the write in flight, but a statement waiting
 * on a lock ran on until its statement timeout (here 10 minutes), holding
 * the rebalance.  Now it is cancelled on the server: the member that joins
 * gets its partitions, and once the lock goes every record is stored once. */
START_TEST(revoke_cancels_the_statement_of_the_write_it_gives_up)
{
    ts_kafka_start(1);
    run r = {0};
    r.t0 = ts_now_ms();
    r.c = ts_pg_connect();
    watcher = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_rebal_cancel");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("cancel");
    r.group = ts_unique_name("sluice_cancel");
    ts_kafka_create_topic(r.topic, NPARTS);
    char *dir = ts_tempdir("cancel");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "    statement_timeout_ms: 10m\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: %s\n    mode: insert\n"
                                 "    add_columns:\n      kp: kafka.partition\n      ko: kafka.offset\n",
                                 kafka, r.topic, r.qtable);
    char *logs[2] = {ts_write_file(dir, "a.log", "%s", ""), ts_write_file(dir, "b.log", "%s", "")};
    ts_daemon *a = ts_daemon_start(config, logs[0]);
    produce(&r, 600);
    ck_assert_msg(ts_wait_until(all_stored, &r, 60000), "the first records were not stored:\n%s", fk_tail(a));
    PGconn *locker = ts_pg_connect();
    ts_pg_exec(locker, "BEGIN", NULL);
    char *lock = NULL;
    ck_assert(asprintf(&lock, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", r.qtable) > 0);
    ts_pg_exec(locker, lock, NULL);
    produce(&r, 600);
    ck_assert_msg(ts_wait_until(write_waits, schema, 60000), "no write waited on the lock:\n%s", fk_tail(a));
    step(&r, "a write waits on the lock");

    ts_daemon *b = ts_daemon_start(config, logs[1]);
    /* the revoke gives the write up: its statement is cancelled while the
     * lock is still held (PostgreSQL's answer to a cancel request; the
     * member may start another write for partitions it gets back, which
     * waits on the lock in turn) */
    wait_for_log(a, "cancelling the statement in flight");
    wait_for_log(a, "canceling statement due to user request");
    ck_assert_msg(ts_wait_until(has_assignment, b, 60000), "the second member got no partitions; log:\n%s",
                  fk_tail(b));
    step(&r, "the statement was cancelled, the second member joined");
    ts_pg_exec(locker, "ROLLBACK", NULL);
    PQfinish(locker);
    if (!ts_wait_until(all_stored, &r, 120000)) {
        int64_t rows = 0;
        char why[1024];
        fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        ck_abort_msg("%" PRId64 " of %" PRId64 " records stored (%s); first member's log:\n%s", rows, r.produced, why,
                     fk_tail(a));
    }
    int code = ts_daemon_stop(a, 60000);
    ck_assert_msg(code == 0, "the first member exited with %d; log:\n%s", code, fk_tail(a));
    code = ts_daemon_stop(b, 60000);
    ck_assert_msg(code == 0, "the second member exited with %d; log:\n%s", code, fk_tail(b));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, r.produced);
    printf("%" PRId64 " records, each stored once\n", r.produced);

    ts_daemon_free(a);
    ts_daemon_free(b);
    PQfinish(watcher);
    PQfinish(r.c);
    ts_kafka_stop();
    free(logs[0]);
    free(logs[1]);
    free(config);
    free(lock);
    free(kafka);
    free(dir);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
}
END_TEST

/* librdkafka calls the log callback from the thread that serves a seek,
 * before it replies: 200 ms per seek here. */
static void slow_seek_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (!strcmp(fac, "FETCH") && !strncmp(buf, "Seek ", 5))
        usleep(200 * 1000);
}

/* The worker seeks its partitions back after a write it gave up, waiting
 * up to 10 s; Debian's librdkafka 2.0.2 waited 10 ms (its timeout unit,
 * fixed in 2.1.0), and a seek served later stopped the worker ("seeking
 * back failed: Timed out waiting for 5 remaining partition seek(s) to
 * finish", exit 1; the soak's seed 752156324, right after a rebalance). */
START_TEST(seek_back_waits_its_timeout_whatever_the_librdkafka)
{
    ts_kafka_start(1);
    char *topic = ts_unique_name("seekwait"), *group = ts_unique_name("seekwait");
    ts_kafka_create_topic(topic, 2);
    for (int32_t p = 0; p < 2; p++)
        ts_produce(topic, p, NULL, 0, "{}", 2);
    ts_flush();
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", ts_kafka_bootstrap()}, {"group.id", group},
                              {"enable.auto.commit", "false"}, {"debug", "topic"}, {"log.thread.name", "false"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        ck_assert_msg(rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK,
                      "%s", errstr);
    rd_kafka_conf_set_log_cb(conf, slow_seek_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk, "%s", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    for (int32_t p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = 0;
    ck_assert_int_eq(rd_kafka_assign(rk, l), 0);
    /* fetching has started once each partition's record came */
    int got = 0;
    for (int64_t deadline = ts_now_ms() + 30000; got < 2 && ts_now_ms() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m) {
            got += !m->err;
            rd_kafka_message_destroy(m);
        }
    }
    ck_assert_int_eq(got, 2);
    int64_t t0 = ts_now_ms();
    rd_kafka_error_t *e = sl_kafka_seek(rk, l, 10000);
    int64_t took = ts_now_ms() - t0;
    ck_assert_msg(!e, "librdkafka %s: the seek gave up after %lld ms: %s", rd_kafka_version_str(), (long long)took,
                  e ? rd_kafka_error_string(e) : "");
    for (int i = 0; i < l->cnt; i++)
        ck_assert_msg(!l->elems[i].err, "partition %d: %s", i, rd_kafka_err2str(l->elems[i].err));
    printf("librdkafka %s: two seeks served 200 ms each, done after %lld ms\n", rd_kafka_version_str(),
           (long long)took);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(topic);
    free(group);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {members_joining_and_leaving_under_load_keep_exactly_once,
                            rebalance_during_a_retried_write_before_a_schema_reread,
                            revoke_cancels_the_statement_of_the_write_it_gives_up,
                            seek_back_waits_its_timeout_whatever_the_librdkafka};
    return fk_main("faults rebalance", tests, 4, 300);
}
