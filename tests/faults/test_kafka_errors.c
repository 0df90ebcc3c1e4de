/* test_kafka_errors.c - Kafka misbehaving under a running daemon, through
 * the mock cluster's fault API: errors on JoinGroup, SyncGroup, Fetch,
 * OffsetCommit and Heartbeat requests (retriable ones, disconnects, and
 * ones that force the member to rejoin), then the group coordinator and a
 * partition leader each set down and up again.  Records flow throughout into
 * an append-only table (mode: insert, no key): every record must land
 * exactly once, sluice.offsets must reach the high watermarks, and the
 * offsets committed to Kafka must catch up too.
 * Also errors on the dead-letter producer's Produce requests: retriable
 * ones are retried and the dead letter lands once; a permanent one
 * (INVALID_RECORD, TOPIC_AUTHORIZATION_FAILED) stops the worker at the
 * record, naming it and the dead-letter topic. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 6
#define NBROKERS 3
#define STEP 10000

typedef struct run {
    PGconn *c;
    char *qtable;
    char *group;
    char *topic;
    int64_t produced;
    ts_daemon *d;
    int64_t t0;
} run;

static void queue(run *r, int64_t n)
{
    char value[160];
    for (int64_t i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"note\":\"through injected faults\"}", seq);
        ts_produce(r->topic, (int32_t)(seq % NPARTS), NULL, 0, value, (size_t)len);
    }
}

static void produce(run *r, int64_t n)
{
    queue(r, n);
    ts_flush();
}

static int64_t stored(run *r)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", r->qtable);
    return ts_pg_int(r->c, sql, NULL);
}

static bool all_stored(void *arg)
{
    run *r = arg;
    int64_t rows = 0;
    char why[1024];
    return fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why)) && rows == r->produced;
}

static void wait_all_stored(run *r, const char *step)
{
    bool ok = ts_wait_until(all_stored, r, 120000);
    int64_t rows = 0;
    char why[1024];
    bool consistent = fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why));
    printf("%6.1f s  %-44s %7" PRId64 " of %7" PRId64 " stored\n", (ts_now_ms() - r->t0) / 1000.0, step, rows,
           r->produced);
    ck_assert_msg(ok, "%s: %" PRId64 " of %" PRId64 " records stored after 120 s (%s); log:\n%s", step, rows,
                  r->produced, consistent ? "consistent" : why, fk_tail(r->d));
}

static bool committed_at_end(void *arg)
{
    run *r = arg;
    for (int p = 0; p < NPARTS; p++)
        if (ts_kafka_committed(r->group, r->topic, p) != ts_kafka_high_watermark(r->topic, p))
            return false;
    return true;
}

START_TEST(injected_kafka_errors_keep_exactly_once)
{
    ts_kafka_start_mock(NBROKERS);
    rd_kafka_mock_cluster_t *mock = ts_kafka_mock();
    run r = {0};
    r.t0 = ts_now_ms();
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_kerr");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("kerr");
    r.group = ts_unique_name("sluice_kerr");
    ts_kafka_create_topic(r.topic, NPARTS);
    /* A known layout: the coordinator on broker 1, leaders spread over all three. */
    ck_assert(rd_kafka_mock_coordinator_set(mock, "group", r.group, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int p = 0; p < NPARTS; p++)
        ck_assert(rd_kafka_mock_partition_set_leader(mock, r.topic, p, 1 + p % NBROKERS) == RD_KAFKA_RESP_ERR_NO_ERROR);

    char *dir = ts_tempdir("kerr");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *config = fk_events_config(dir, kafka, r.topic, r.qtable,
                                    "batch:\n"
                                    "  max_rows: 1000\n"
                                    "  linger_ms: 20\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* Joining the group fails a few times before it works. */
    rd_kafka_mock_push_request_errors(mock, FK_API_JOIN_GROUP, 2, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR__TRANSPORT);
    rd_kafka_mock_push_request_errors(mock, FK_API_SYNC_GROUP, 1, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    produce(&r, STEP);
    r.d = ts_daemon_start(config, log);
    wait_all_stored(&r, "JoinGroup and SyncGroup errors");

    /* Fetches fail: leadership errors, a storage error, a dropped connection. */
    rd_kafka_mock_push_request_errors(mock, FK_API_FETCH, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
                                      RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    produce(&r, STEP);
    wait_all_stored(&r, "Fetch errors");

    /* Commits to Kafka fail, some of them telling the member to rejoin. */
    rd_kafka_mock_push_request_errors(mock, FK_API_OFFSET_COMMIT, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID);
    for (int i = 0; i < 3; i++)
        produce(&r, STEP / 3);
    wait_all_stored(&r, "OffsetCommit errors");

    /* Heartbeats answered with rebalances and a forgotten member. */
    rd_kafka_mock_push_request_errors(mock, FK_API_HEARTBEAT, 2, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION);
    for (int i = 0; i < 3; i++)
        produce(&r, STEP / 3);
    wait_all_stored(&r, "Heartbeat errors");

    /* The leader of partitions 1 and 4 goes away for 3 s while records flow. */
    int64_t before = stored(&r);
    rd_kafka_mock_broker_set_down(mock, 2);
    queue(&r, STEP / 3); /* delivered to broker 2's partitions once it is back */
    usleep(3000 * 1000);
    rd_kafka_mock_broker_set_up(mock, 2);
    produce(&r, STEP / 3);
    wait_all_stored(&r, "partition leader down for 3 s");
    ck_assert(stored(&r) > before);

    /* The group coordinator goes away for 2 s. */
    rd_kafka_mock_broker_set_down(mock, 1);
    usleep(2000 * 1000);
    rd_kafka_mock_broker_set_up(mock, 1);
    produce(&r, STEP);
    wait_all_stored(&r, "coordinator down for 2 s");

    /* Without faults, the next writes commit every partition to Kafka too. */
    produce(&r, 600);
    wait_all_stored(&r, "quiet tail");

    ck_assert_msg(ts_daemon_running(r.d), "sluice exited; log:\n%s", fk_tail(r.d));
    ck_assert_msg(ts_wait_until(committed_at_end, &r, 60000),
                  "the offsets committed to Kafka did not reach the high watermarks; log:\n%s", fk_tail(r.d));
    int code = ts_daemon_stop(r.d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d; log:\n%s", code, fk_tail(r.d));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, r.produced);
    printf("%" PRId64 " records, each stored once; %d rebalances seen by sluice\n", r.produced,
           fk_log_count(r.d, "revoked "));

    ts_daemon_free(r.d);
    PQfinish(r.c);
    ts_kafka_stop();
    free(kafka);
    free(config);
    free(log);
    free(dir);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
}
END_TEST

/* One bad record between two good ones, dead-lettered to @dlq while the
 * dead-letter producer's first Produce requests fail with @errs, and
 * metadata requests answer @topic_err for @dlq (when not 0). */
static ts_daemon *dead_letter_run(const char *base, PGconn *c, const char *schema, const char *topic,
                                  const char *dlq, const char *group, size_t nerrs, const rd_kafka_resp_err_t *errs,
                                  rd_kafka_resp_err_t topic_err, char **dir_out)
{
    rd_kafka_mock_cluster_t *mock = ts_kafka_mock();
    ts_kafka_create_topic(topic, 1);
    ts_kafka_create_topic(dlq, 1);
    if (topic_err) /* what metadata requests say about the dead-letter topic */
        rd_kafka_mock_topic_set_error(mock, dlq, topic_err);
    ts_produce_str(topic, 0, NULL, "{\"seq\":0}");
    ts_produce_str(topic, 0, NULL, "<not json>");
    ts_produce_str(topic, 0, NULL, "{\"seq\":2}");
    ts_flush(); /* the test's own Produce requests are done: the errors are the dead-letter producer's */
    rd_kafka_mock_push_request_errors_array(mock, FK_API_PRODUCE, nerrs, errs);
    char *dir = ts_tempdir(base);
    char *kafka = ts_kafka_yaml(group, NULL);
    char qtable[256], tail[512];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    snprintf(tail, sizeof(tail),
             "    on_error: dlq\n"
             "    dlq_topic: %s\n"
             "batch:\n"
             "  linger_ms: 20\n"
             "retry:\n"
             "  initial_backoff_ms: 50\n"
             "  max_backoff_ms: 500\n",
             dlq);
    char *config = fk_events_config(dir, kafka, topic, qtable, tail);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);
    free(kafka);
    free(config);
    free(log);
    *dir_out = dir;
    (void)c;
    return d;
}

START_TEST(dead_letter_produce_errors)
{
    ts_kafka_start_mock(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "f_dlqerr");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char q[256];
    snprintf(q, sizeof(q), "SELECT coalesce(max(ko), -1) FROM %s.events", schema);

    /* retriable: librdkafka retries, the dead letter lands once, the route goes on */
    char *topic = ts_unique_name("dlqerr_retry"), *dlq = ts_unique_name("dlqerr_retry_dead");
    char *group = ts_unique_name("sluice_dlqerr");
    const rd_kafka_resp_err_t transient[] = {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION};
    char *dir;
    ts_daemon *d = dead_letter_run("dlqerr_retry", c, schema, topic, dlq, group, 3, transient, 0, &dir);
    int64_t deadline = ts_now_ms() + 60000;
    while (ts_kafka_committed(group, topic, 0) != 3) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline, "offsets not at 3 after 60 s; log:\n%s", fk_tail(d));
        usleep(100 * 1000);
    }
    size_t n = 0;
    fk_msg *m = fk_read_topic(dlq, 1, 1, 30000, &n);
    ck_assert_msg(n == 1 && m[0].hdr_offset && !strcmp(m[0].hdr_offset, "1"), "%zu dead letters", n);
    fk_msgs_free(m, n);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(dir);
    free(topic);
    free(dlq);
    free(group);

    /* permanent: the worker stops at the record, nothing committed past it -
     * a record the broker refuses, a topic the client is not authorized for
     * (as a Produce response says it) */
    for (int k = 0; k < 2; k++) {
        topic = ts_unique_name("dlqerr_perm");
        dlq = ts_unique_name("dlqerr_perm_dead");
        group = ts_unique_name("sluice_dlqerr");
        const rd_kafka_resp_err_t permanent[] = {k == 0 ? RD_KAFKA_RESP_ERR_INVALID_RECORD
                                                        : RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED};
        d = dead_letter_run(k == 0 ? "dlqerr_perm" : "dlqerr_acl", c, schema, topic, dlq, group, 1, permanent, 0,
                            &dir);
        ck_assert_msg(ts_daemon_wait(d, 60000), "sluice did not stop; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_daemon_exit_code(d) != 0, "sluice exited 0; log:\n%s", fk_tail(d));
        char want[512];
        snprintf(want, sizeof(want), "cannot dead-letter %s[0]@1 to topic %s: %s", topic, dlq,
                 k == 0 ? "Broker: Broker failed to validate record" : "Broker: Topic authorization failed");
        ck_assert_msg(fk_log_count(d, want) == 1, "the log does not say \"%s\":\n%s", want, fk_tail(d));
        ck_assert_int_le(ts_kafka_committed(group, topic, 0), 1);
        ck_assert_int_le(fk_stored_offset(c, group, topic), 1);
        ts_daemon_free(d);
        free(dir);
        free(topic);
        free(dlq);
        free(group);
    }

    PQfinish(c);
    ts_kafka_stop();
    free(schema);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {injected_kafka_errors_keep_exactly_once, dead_letter_produce_errors};
    return fk_main("faults kafka errors", tests, 2, 300);
}
