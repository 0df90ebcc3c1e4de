/* test_rebalance.c - group members come and go while records flow: a
 * first daemon (two workers) runs throughout, a second and a third join,
 * then the second leaves cleanly (SIGTERM) and the third dies (SIGKILL, its
 * partitions move after the session timeout).  Every membership change
 * happens with records in flight; the append-only table (mode: insert, no
 * key) must end with every record exactly once. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

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

int main(void)
{
    const TTest *tests[] = {members_joining_and_leaving_under_load_keep_exactly_once};
    return fk_main("faults rebalance", tests, 1, 300);
}
