/* test_rebalance.c - group members come and go while records flow: a
 * first daemon (two workers) runs throughout, a second and a third join,
 * then the second leaves cleanly (SIGTERM) and the third dies (SIGKILL, its
 * partitions move after the session timeout).  Every membership change
 * happens with records in flight; the append-only table (mode: insert, no
 * key) must end with every record exactly once.  And a member joins while
 * a write is retried before a table is read again (a record with a new
 * field): no crash, every record once; a revoke cancels the statement of
 * the write it gives up.  And the worker's seek back waits its 10 s with
 * every librdkafka version, however slowly the seeks are served.  And a
 * member joins while another cannot read its table's description or its
 * stored offsets (its target unreachable): the group is served meanwhile. */
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

/* The worker asks which rebalance protocol the group uses in every
 * rebalance callback.  A revoke called from rd_kafka_consumer_close() can
 * come after the group handler is gone, when librdkafka answers NULL: the
 * worker compared that with strcmp() and died (SIGSEGV at a SIGTERM; the
 * soak's seed 220113511, TSan build).  After a close librdkafka answers NULL
 * every time: the protocol the group was joined with is kept. */
static void drop_error(rd_kafka_error_t *e)
{
    if (e)
        rd_kafka_error_destroy(e);
}

static void note_assign(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l, void *opaque)
{
    int *assigned = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        drop_error(rd_kafka_incremental_assign(rk, l));
        *assigned = 1;
    } else {
        drop_error(rd_kafka_incremental_unassign(rk, l));
    }
}

START_TEST(revoke_at_close_keeps_the_rebalance_protocol)
{
    ts_kafka_start(1);
    char *topic = ts_unique_name("protocol"), *group = ts_unique_name("protocol");
    ts_kafka_create_topic(topic, 1);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", ts_kafka_bootstrap()}, {"group.id", group},
                              {"partition.assignment.strategy", "cooperative-sticky"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        ck_assert_msg(rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK,
                      "%s", errstr);
    int assigned = 0;
    rd_kafka_conf_set_rebalance_cb(conf, note_assign);
    rd_kafka_conf_set_opaque(conf, &assigned);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk, "%s", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    ck_assert_int_eq(rd_kafka_subscribe(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    for (int64_t deadline = ts_now_ms() + 60000; !assigned && ts_now_ms() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m)
            rd_kafka_message_destroy(m);
    }
    ck_assert_msg(assigned, "never assigned");
    ck_assert(sl_kafka_cooperative(rk, false));
    rd_kafka_consumer_close(rk);
    ck_assert_ptr_null(rd_kafka_rebalance_protocol(rk)); /* the answer the worker met */
    ck_assert(sl_kafka_cooperative(rk, true));
    ck_assert(!sl_kafka_cooperative(rk, false));
    rd_kafka_destroy(rk);
    free(topic);
    free(group);
}
END_TEST

/* ---- a table read while its target is unreachable ---- */

typedef struct tw {
    PGconn *c;
    const char *qtable, *topic, *group, *url;
    int32_t part;      /* the partition asked about */
    int64_t want;      /* its rows, or its lag */
    double lag;        /* the last scraped lag */
    sl_strbuf body;
} tw;

/* @n more records, seq s to partition s %% 2. */
static void produce2(run *r, int64_t n)
{
    char value[128];
    for (int64_t i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 "}", seq);
        ts_produce(r->topic, (int32_t)(seq % 2), NULL, 0, value, (size_t)len);
    }
    ts_flush();
}

/* The table holds every record of partition tw.part, and Kafka has its
 * offset committed at the high watermark. */
static bool part_written(void *arg)
{
    tw *t = arg;
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)t->part);
    char *sql = NULL;
    ck_assert(asprintf(&sql, "SELECT count(*) FROM %s WHERE kp = $1", t->qtable) > 0);
    int64_t rows = ts_pg_int(t->c, sql, part, NULL);
    free(sql);
    int64_t hw = ts_kafka_high_watermark(t->topic, t->part);
    return rows == hw && ts_kafka_committed(t->group, t->topic, t->part) == hw;
}

/* The first member's /metrics reports sluice_consumer_lag of tw.part, and
 * it equals the broker's high watermark minus the group's committed offset. */
static bool lag_reported(void *arg)
{
    tw *t = arg;
    if (ts_http_get(t->url, &t->body) != 200)
        return false;
    char series[600];
    snprintf(series, sizeof(series), "sluice_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"%d\"}", t->group,
             t->topic, (int)t->part);
    t->lag = ts_metric(t->body.data, series);
    t->want = ts_kafka_high_watermark(t->topic, t->part) - ts_kafka_committed(t->group, t->topic, t->part);
    return t->lag == (double)t->want;
}

/* The partition the daemon whose log is @d was last assigned (one). */
static int32_t assigned_part(const ts_daemon *d, const char *topic)
{
    char *tail = fk_tail(d), needle[256];
    snprintf(needle, sizeof(needle), "assigned %s[", topic);
    int32_t part = -1;
    for (const char *s = strstr(tail, needle); s; s = strstr(s + 1, needle))
        part = (int32_t)atoi(s + strlen(needle));
    free(tail);
    return part;
}

/* Role @role's connection limit set to @limit, the name quoted by format(). */
static void role_limit(PGconn *c, const char *role, const char *limit)
{
    char *sql = ts_pg_text(c, "SELECT format('ALTER ROLE %I CONNECTION LIMIT %s', $1::text, $2::int)", role, limit,
                           NULL);
    ts_pg_exec(c, sql, NULL);
    free(sql);
}

/* A member joins while another's target is unreachable (its database role
 * may not connect: CONNECTION LIMIT 0, each attempt refused as by a server
 * that is down) when it restarts with records waiting.  The second member,
 * whose role may connect, gets a partition and writes its records while
 * the first still waits, whose lag keeps being reported; the rebalance does
 * not wait for the first (max.poll.interval.ms is 60 s: the second member
 * must have written within 20 s of its start).  Once the role may connect
 * again, every record is in the table once and every offset committed at
 * the end (with exactly-once, sluice.offsets agrees with the table).
 *
 * With at-least-once the first member waits for its table's description
 * (finding: the worker retried in a loop that never polled its consumer, so
 * no statistics and no rebalance were served).  With exactly-once it waits
 * first for the stored offsets of the partitions it is assigned (finding:
 * the rebalance callback retried that read, the whole group's rebalance
 * waiting for it until librdkafka dropped the member after
 * max.poll.interval.ms). */
static void member_joins_while_unreachable(bool exactly_once)
{
    ts_kafka_start(1);
    run r = {0};
    r.t0 = ts_now_ms();
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_tablewait");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    char *role = ts_unique_name("sl_tablewait");
    char *sql = ts_pg_text(r.c, "SELECT format('CREATE ROLE %I LOGIN', $1::text)", role, NULL);
    ts_pg_exec(r.c, sql, NULL);
    free(sql);
    sql = ts_pg_text(r.c, "SELECT format('GRANT USAGE ON SCHEMA %I TO %I', $1::text, $2::text)", schema, role, NULL);
    ts_pg_exec(r.c, sql, NULL);
    free(sql);
    sql = ts_pg_text(r.c, "SELECT format('GRANT SELECT, INSERT ON %I.events TO %I', $1::text, $2::text)", schema, role,
                     NULL);
    ts_pg_exec(r.c, sql, NULL);
    free(sql);
    r.topic = ts_unique_name("tablewait");
    r.group = ts_unique_name("sluice_tablewait");
    ts_kafka_create_topic(r.topic, 2);
    char *dir = ts_tempdir("tablewait");
    char *kafka = ts_kafka_yaml(r.group, "  statistics.interval.ms: \"300\"\n  max.poll.interval.ms: \"60000\"\n");
    int port = ts_free_port();
    const char *delivery = exactly_once ? "exactly-once" : "at-least-once";
    const char *fmt = "%s"
                      "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}%s%s\"\n"
                      "    delivery: %s\n"
                      "routes:\n  - topics: [%s]\n    target: pg\n    table: %s\n    mode: insert\n"
                      "    add_columns:\n      kp: kafka.partition\n      ko: kafka.offset\n"
                      "batch:\n  linger_ms: 20\n"
                      "retry:\n  initial_backoff_ms: 200\n  max_backoff_ms: 1000\n"
                      "admin:\n  listen: 127.0.0.1:%d\n";
    /* its first run as the database's owner: sluice.offsets is created
     * (when missing) by the role that owns the database */
    char *cfg_a0 = ts_write_file(dir, "a0.yaml", fmt, kafka, "", "", delivery, r.topic, r.qtable, ts_free_port());
    char *cfg_a = ts_write_file(dir, "a.yaml", fmt, kafka, " user=", role, delivery, r.topic, r.qtable, port);
    char *cfg_b = ts_write_file(dir, "b.yaml", fmt, kafka, "", "", delivery, r.topic, r.qtable, ts_free_port());
    char *logs[4] = {ts_write_file(dir, "a0.log", "%s", ""), ts_write_file(dir, "a.log", "%s", ""),
                     ts_write_file(dir, "b.log", "%s", ""), ts_write_file(dir, "a1.log", "%s", "")};
    tw t = {.c = r.c, .qtable = r.qtable, .topic = r.topic, .group = r.group, .body = SL_STRBUF_INIT};

    /* the first member writes (and commits) 10 records a partition, and stops */
    ts_daemon *a0 = ts_daemon_start(cfg_a0, logs[0]);
    produce2(&r, 20);
    for (t.part = 0; t.part < 2; t.part++)
        ck_assert_msg(ts_wait_until(part_written, &t, 60000), "partition %d was not written:\n%s", (int)t.part,
                      fk_tail(a0));
    ck_assert_int_eq(ts_daemon_stop(a0, 60000), 0);
    step(&r, "first member wrote 20 records and stopped");
    if (exactly_once) {
        /* what a worker needs of sluice.offsets (ensure_offsets_table()'s
         * IF NOT EXISTS checks the right to create first) */
        sql = ts_pg_text(r.c,
                         "SELECT format('GRANT CREATE ON DATABASE %I TO %2$I; GRANT USAGE, CREATE ON SCHEMA sluice"
                         " TO %2$I; GRANT SELECT, INSERT, UPDATE ON sluice.offsets TO %2$I', current_database(),"
                         " $1::text)",
                         role, NULL);
        ts_pg_exec(r.c, sql, NULL);
        free(sql);
    }

    /* its role refused; 10 more records a partition */
    role_limit(r.c, role, "0");
    produce2(&r, 20);
    ts_daemon *a1 = NULL;
    if (exactly_once) {
        /* stopped while its partitions wait for their stored offsets: a
         * clean stop (it was "cannot read the stored offset", exit 1) */
        a1 = ts_daemon_start(cfg_a, logs[3]);
        wait_for_log(a1, "paused until its stored offset can be read");
        int code = ts_daemon_stop(a1, 60000);
        ck_assert_msg(code == 0 && fk_log_count(a1, "cannot read the stored offset") == 0,
                      "stopped while waiting for its stored offsets, it exited with %d; log:\n%s", code, fk_tail(a1));
        step(&r, "first member stopped cleanly while its offsets could not be read");
    }
    /* it starts again */
    ts_daemon *a = ts_daemon_start(cfg_a, logs[1]);
    wait_for_log(a, exactly_once ? "reading the stored offset of" : "reading table");
    step(&r, exactly_once ? "first member cannot read its stored offsets" : "first member cannot read its table");

    /* a second member joins: the rebalance completes while the first waits */
    int64_t joined = ts_now_ms();
    ts_daemon *b = ts_daemon_start(cfg_b, logs[2]);
    ck_assert_msg(ts_wait_until(has_assignment, b, 60000), "the second member got no partitions; its log:\n%s\n"
                  "the first member's:\n%s", fk_tail(b), fk_tail(a));
    int32_t pb = assigned_part(b, r.topic);
    ck_assert_msg(pb == 0 || pb == 1, "no partition of %s in the second member's log:\n%s", r.topic, fk_tail(b));
    step(&r, "second member joined");
    t.part = pb;
    ck_assert_msg(ts_wait_until(part_written, &t, 20000),
                  "the second member did not write partition %d within 20 s (max.poll.interval.ms is 60 s):\n%s\n"
                  "the first member's log:\n%s",
                  (int)pb, fk_tail(b), fk_tail(a));
    printf("the second member wrote its partition %.1f s after it started\n", (ts_now_ms() - joined) / 1000.0);
    step(&r, "second member wrote its partition");
    /* the first member still waits, its partition's lag reported */
    t.part = 1 - pb;
    ck_assert_msg(ts_daemon_running(a), "the first member exited; log:\n%s", fk_tail(a));
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)t.part);
    char *count = NULL;
    ck_assert(asprintf(&count, "SELECT count(*) FROM %s WHERE kp = $1", r.qtable) > 0);
    ck_assert_int_eq(ts_pg_int(r.c, count, part, NULL), 10);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    t.url = url;
    ck_assert_msg(ts_wait_until(lag_reported, &t, 30000) && t.want == 10,
                  "sluice_consumer_lag of partition %d: %g, the broker's: %lld (expected 10); log:\n%s", (int)t.part,
                  t.lag, (long long)t.want, fk_tail(a));
    step(&r, "the waiting member's lag is reported");

    /* the role may connect again: the first member writes its partition */
    role_limit(r.c, role, "-1");
    ck_assert_msg(ts_wait_until(part_written, &t, 60000), "the first member did not write partition %d:\n%s",
                  (int)t.part, fk_tail(a));
    step(&r, "first member wrote its partition");
    ck_assert_msg(ts_daemon_running(a), "the first member exited; log:\n%s", fk_tail(a));
    int code = ts_daemon_stop(a, 60000);
    ck_assert_msg(code == 0, "the first member exited with %d; log:\n%s", code, fk_tail(a));
    code = ts_daemon_stop(b, 60000);
    ck_assert_msg(code == 0, "the second member exited with %d; log:\n%s", code, fk_tail(b));
    /* every record once: seq 0..39, each in its partition; no offset twice */
    char *q = NULL;
    ck_assert(asprintf(&q,
                       "SELECT count(*) FROM (SELECT seq FROM %s GROUP BY seq, kp, ko"
                       " HAVING count(*) = 1 AND kp = seq %% 2) x",
                       r.qtable) > 0);
    ck_assert_int_eq(ts_pg_int(r.c, q, NULL), 40);
    free(q);
    ck_assert(asprintf(&q, "SELECT count(DISTINCT (kp, ko)) FROM %s", r.qtable) > 0);
    ck_assert_int_eq(ts_pg_int(r.c, q, NULL), 40);
    free(q);
    ck_assert(asprintf(&q, "SELECT count(*) FROM %s", r.qtable) > 0);
    ck_assert_int_eq(ts_pg_int(r.c, q, NULL), 40);
    free(q);
    for (int32_t p = 0; p < 2; p++)
        ck_assert_int_eq(ts_kafka_committed(r.group, r.topic, p), ts_kafka_high_watermark(r.topic, p));
    if (exactly_once) {
        /* sluice.offsets at the high watermarks, the table holding exactly [0, them) */
        int64_t rows = 0;
        char why[1024] = "";
        ck_assert_msg(fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why)), "%s", why);
        ck_assert_int_eq(rows, 40);
        char *stored = NULL;
        ck_assert(asprintf(&stored, "SELECT next_offset FROM sluice.offsets WHERE group_id = $1 AND topic = $2"
                                    " AND partition = $3") > 0);
        for (int32_t p = 0; p < 2; p++) {
            snprintf(part, sizeof(part), "%d", (int)p);
            ck_assert_int_eq(ts_pg_int(r.c, stored, r.group, r.topic, part, NULL), ts_kafka_high_watermark(r.topic, p));
        }
        free(stored);
    }
    printf("%" PRId64 " records, each stored once\n", r.produced);

    sql = ts_pg_text(r.c, "SELECT format('DROP OWNED BY %I', $1::text)", role, NULL);
    ts_pg_exec(r.c, sql, NULL);
    free(sql);
    sql = ts_pg_text(r.c, "SELECT format('DROP ROLE %I', $1::text)", role, NULL);
    ts_pg_exec(r.c, sql, NULL);
    free(sql);
    ts_daemon_free(a0);
    ts_daemon_free(a1);
    ts_daemon_free(a);
    ts_daemon_free(b);
    sl_strbuf_free(&t.body);
    PQfinish(r.c);
    ts_kafka_stop();
    for (int i = 0; i < 4; i++)
        free(logs[i]);
    free(count);
    free(cfg_a0);
    free(cfg_a);
    free(cfg_b);
    free(kafka);
    free(dir);
    free(role);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
}

START_TEST(member_joins_while_a_table_cannot_be_read)
{
    member_joins_while_unreachable(false);
}
END_TEST

/* The stored offsets of exactly-once are read after the rebalance, while
 * the group is served, the partitions paused until then. */
START_TEST(member_joins_while_stored_offsets_cannot_be_read)
{
    member_joins_while_unreachable(true);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {members_joining_and_leaving_under_load_keep_exactly_once,
                            rebalance_during_a_retried_write_before_a_schema_reread,
                            revoke_cancels_the_statement_of_the_write_it_gives_up,
                            seek_back_waits_its_timeout_whatever_the_librdkafka,
                            member_joins_while_a_table_cannot_be_read,
                            revoke_at_close_keeps_the_rebalance_protocol,
                            member_joins_while_stored_offsets_cannot_be_read};
    return fk_main("faults rebalance", tests, 7, 300);
}
