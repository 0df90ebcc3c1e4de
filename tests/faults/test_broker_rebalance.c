/* test_broker_rebalance.c - group joins on a real Kafka broker: sluice
 * with `workers: 2` and `workers: 4` started again and again (20 times each
 * unless SLUICE_TEST_STALL_RUNS says otherwise) with librdkafka's default
 * session timeout (45 s), and a `topic_pattern` route while new matching
 * topics are created.  Every start must have consumed one record of every
 * partition well inside one session timeout, and every new topic must be
 * consumed within topic.metadata.refresh.interval.ms plus one rebalance: a
 * coordinator that answers JoinGroup only near the session timeout (as
 * librdkafka's mock cluster does, ~44 s) fails it.  Prints, per start, the
 * time to the last commit and the JoinGroup round trips that librdkafka's
 * debug log (`debug: cgrp,protocol`) recorded.
 * Runs against SLUICE_TEST_BOOTSTRAP; with SLUICE_TEST_STALL_ON_MOCK=1 also
 * against the mock cluster (for comparison; not part of the suite). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 8
#define START_BOUND_MS 20000      /* far below the 45 s session timeout */
/* SLUICE_TEST_STALL_BOUND_MS raises the bounds, to watch a stalling
 * coordinator (the mock's) to the end instead of failing at the bound */
#define REFRESH_MS 2000           /* topic.metadata.refresh.interval.ms of the pattern run */
#define REBALANCE_BOUND_MS 10000  /* one rebalance of one member, generously */
#define NEW_TOPICS 4

/* JoinGroup round trips in @log: count, largest, sum (milliseconds). */
typedef struct join_stats {
    int n;
    double max_ms, sum_ms;
} join_stats;

static join_stats join_rtts(const char *log_path)
{
    join_stats s = {0};
    char *log = ts_read_file(log_path);
    for (const char *p = log; p && (p = strstr(p, "Received JoinGroupResponse")); p++) {
        const char *eol = strchr(p, '\n');
        const char *rtt = strstr(p, "rtt ");
        if (!rtt || (eol && rtt > eol))
            continue;
        double ms = atof(rtt + 4);
        s.n++;
        s.sum_ms += ms;
        if (ms > s.max_ms)
            s.max_ms = ms;
    }
    free(log);
    return s;
}

static char *kafka_yaml(const char *group, const char *extra)
{
    char *s;
    /* librdkafka's defaults for session.timeout.ms (45 s) and
     * heartbeat.interval.ms (3 s): a stall near the session timeout shows */
    ck_assert(asprintf(&s,
                       "log_level: debug\n"
                       "kafka:\n"
                       "  bootstrap.servers: \"%s\"\n"
                       "  group.id: \"%s\"\n"
                       "  auto.offset.reset: earliest\n"
                       "  debug: \"cgrp,protocol\"\n"
                       "%s",
                       ts_kafka_bootstrap(), group, extra ? extra : "") > 0);
    return s;
}

static bool all_committed(const char *group, const char *topic, int parts)
{
    for (int p = 0; p < parts; p++)
        if (ts_kafka_committed(group, topic, p) != ts_kafka_high_watermark(topic, p))
            return false;
    return true;
}

static int64_t bound(int64_t ms)
{
    const char *e = getenv("SLUICE_TEST_STALL_BOUND_MS");
    return e && atoll(e) > ms ? atoll(e) : ms;
}

static int runs(void)
{
    const char *e = getenv("SLUICE_TEST_STALL_RUNS");
    return e && atoi(e) > 0 ? atoi(e) : 20;
}

static void starts_with_workers(int workers)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_join");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *topic = ts_unique_name("join");
    ts_kafka_create_topic(topic, NPARTS);
    char tail[64];
    snprintf(tail, sizeof(tail), "batch:\n  linger_ms: 50\nworkers: %d\n", workers);

    int n = runs();
    int64_t worst = 0, seq = 0;
    double worst_rtt = 0;
    int joins = 0;
    printf("workers: %d, %d starts, %d partitions, session.timeout.ms 45000 (default)\n", workers, n, NPARTS);
    printf("  run  ms-to-last-commit  joingroups  max-joingroup-rtt-ms\n");
    for (int run = 1; run <= n; run++) {
        /* one new record per partition, for a new group each time */
        for (int p = 0; p < NPARTS; p++) {
            char v[48];
            int len = snprintf(v, sizeof(v), "{\"seq\":%" PRId64 "}", seq++);
            ts_produce(topic, p, NULL, 0, v, (size_t)len);
        }
        ts_flush();
        char *group = ts_unique_name("sluice_join");
        char *dir = ts_tempdir("broker_join");
        char *kafka = kafka_yaml(group, NULL);
        char *config = fk_events_config(dir, kafka, topic, qtable, tail);
        char *log = ts_write_file(dir, "sluice.log", "%s", "");
        int64_t t0 = ts_now_ms();
        ts_daemon *d = ts_daemon_start(config, log);
        while (!all_committed(group, topic, NPARTS)) {
            ck_assert_msg(ts_daemon_running(d), "run %d: sluice exited; log:\n%s", run, fk_tail(d));
            ck_assert_msg(ts_now_ms() - t0 < bound(START_BOUND_MS),
                          "run %d (workers: %d): not every partition consumed within %" PRId64 " ms of the "
                          "start; JoinGroup round trips so far: %d, largest %.0f ms; log in %s",
                          run, workers, bound(START_BOUND_MS), join_rtts(log).n, join_rtts(log).max_ms, log);
            usleep(20 * 1000);
        }
        int64_t took = ts_now_ms() - t0;
        int code = ts_daemon_stop(d, 60000);
        ck_assert_msg(code == 0, "run %d: sluice exited with %d after SIGTERM; log:\n%s", run, code, fk_tail(d));
        join_stats js = join_rtts(log);
        ck_assert_msg(js.n >= workers, "run %d: %d JoinGroup responses in the debug log, expected %d or more (%s)",
                      run, js.n, workers, log);
        printf("  %3d  %17" PRId64 "  %10d  %20.2f\n", run, took, js.n, js.max_ms);
        if (took > worst)
            worst = took;
        if (js.max_ms > worst_rtt)
            worst_rtt = js.max_ms;
        joins += js.n;
        ts_daemon_free(d);
        free(log);
        free(config);
        free(kafka);
        free(dir);
        free(group);
    }
    int64_t rows = ts_pg_int(c, "SELECT count(*) FROM events", NULL);
    printf("workers: %d: %d starts, slowest %" PRId64 " ms to the last commit, %d JoinGroups, the slowest "
           "answered in %.2f ms; %" PRId64 " rows\n",
           workers, n, worst, joins, worst_rtt, rows);
    ck_assert_int_eq(rows, seq * n - (int64_t)NPARTS * n * (n - 1) / 2);
    free(topic);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}

START_TEST(twenty_starts_with_two_workers)
{
    starts_with_workers(2);
}
END_TEST

START_TEST(twenty_starts_with_four_workers)
{
    starts_with_workers(4);
}
END_TEST

START_TEST(new_topics_matching_a_pattern_are_consumed_within_one_refresh_and_rebalance)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_pattern");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *prefix = ts_unique_name("pat");
    char *group = ts_unique_name("sluice_pattern");
    char first[160];
    snprintf(first, sizeof(first), "%s_0", prefix);
    ts_kafka_create_topic(first, 2);
    ts_produce(first, 0, NULL, 0, "{\"seq\":0}", 9);
    ts_flush();

    char *dir = ts_tempdir("broker_pattern");
    char extra[64];
    snprintf(extra, sizeof(extra), "  topic.metadata.refresh.interval.ms: \"%d\"\n", REFRESH_MS);
    char *kafka = kafka_yaml(group, extra);
    char pattern[200];
    snprintf(pattern, sizeof(pattern), "^%s_.*", prefix);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - topic_pattern: \"%s\"\n"
                                 "    target: pg\n"
                                 "    table: %s\n"
                                 "    mode: insert\n"
                                 "    add_columns:\n"
                                 "      kp: kafka.partition\n"
                                 "      ko: kafka.offset\n"
                                 "batch:\n"
                                 "  linger_ms: 50\n",
                                 kafka, pattern, qtable);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);
    int64_t t0 = ts_now_ms();
    while (ts_kafka_committed(group, first, 0) != 1) {
        ck_assert_msg(ts_daemon_running(d) && ts_now_ms() - t0 < bound(START_BOUND_MS),
                      "the first topic was not consumed within %" PRId64 " ms; log:\n%s", bound(START_BOUND_MS),
                      fk_tail(d));
        usleep(20 * 1000);
    }
    printf("topic_pattern %s, topic.metadata.refresh.interval.ms %d: first topic consumed %" PRId64
           " ms after the start\n",
           pattern, REFRESH_MS, ts_now_ms() - t0);
    for (int i = 1; i <= NEW_TOPICS; i++) {
        char topic[160];
        snprintf(topic, sizeof(topic), "%s_%d", prefix, i);
        int before = join_rtts(log).n;
        ts_kafka_create_topic(topic, 2);
        int64_t created = ts_now_ms();
        char v[32];
        int len = snprintf(v, sizeof(v), "{\"seq\":%d}", i);
        ts_produce(topic, 1, NULL, 0, v, (size_t)len);
        ts_flush();
        while (ts_kafka_committed(group, topic, 1) != 1) {
            ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
            ck_assert_msg(ts_now_ms() - created < bound(REFRESH_MS + REBALANCE_BOUND_MS),
                          "new topic %s not consumed within %" PRId64 " ms (refresh %d ms + one rebalance); "
                          "JoinGroup round trips: largest %.0f ms; log in %s",
                          topic, bound(REFRESH_MS + REBALANCE_BOUND_MS), REFRESH_MS, join_rtts(log).max_ms, log);
            usleep(20 * 1000);
        }
        join_stats js = join_rtts(log);
        printf("  new topic %d consumed %" PRId64 " ms after its creation; %d more JoinGroup(s), the slowest "
               "answered so far in %.2f ms\n",
               i, ts_now_ms() - created, js.n - before, js.max_ms);
    }
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, fk_tail(d));
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM events", NULL), NEW_TOPICS + 1);
    ts_daemon_free(d);
    free(log);
    free(config);
    free(kafka);
    free(dir);
    free(group);
    free(prefix);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const char *b = getenv("SLUICE_TEST_BOOTSTRAP");
    const char *mock = getenv("SLUICE_TEST_STALL_ON_MOCK");
    if ((!b || !*b) && !(mock && !strcmp(mock, "1"))) {
        printf("SKIP: needs a real Kafka cluster (SLUICE_TEST_BOOTSTRAP; tests/run.sh starts one)\n");
        return TS_SKIP;
    }
    const TTest *tests[] = {twenty_starts_with_two_workers, twenty_starts_with_four_workers,
                            new_topics_matching_a_pattern_are_consumed_within_one_refresh_and_rebalance};
    return fk_main("broker rebalance", tests, 3, 900);
}
