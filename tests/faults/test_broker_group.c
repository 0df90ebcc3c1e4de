/* test_broker_group.c - a group of three sluice processes on a real Kafka
 * broker while records keep arriving: a rolling restart with SIGTERM (each
 * process exits 0 within its shutdown time and is started again), then a
 * kill -9 of one member, started again 2 s later (as a service manager
 * would).  Run with eager rebalancing (librdkafka's default), with
 * cooperative-sticky, and with static membership (group.instance.id from
 * each process's environment).  Measures the rebalance pause - the longest
 * time in which no partition made progress, from the rows' insert times -
 * and checks exactly-once: every record stored once, stored and committed
 * offsets at the high watermarks.  Skipped on the mock cluster. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

#define NPARTS 6
#define MEMBERS 3
#define RATE_PER_S 1500
#define SHUTDOWN_MS 25000 /* sluice's default shutdown_timeout */

typedef struct group_run {
    const char *name;
    const char *extra; /* more kafka: lines */
    PGconn *c;
    char *topic, *group, *qtable;
    char *dirs[MEMBERS], *cfgs[MEMBERS], *logs[MEMBERS];
    ts_daemon *d[MEMBERS];
} group_run;

/* Start member @i (again) and wait until it owns partitions: its log (which
 * a restart appends to) shows one more "assigned" line than before. */
static void wait_assigned(group_run *r, int i, int before);
static int assigned_lines(group_run *r, int i);

static void start_member(group_run *r, int i)
{
    char *path = r->logs[i];
    char *text = ts_read_file(path);
    int before = 0;
    for (const char *p = text; p && (p = strstr(p, "] assigned ")); p++)
        before++;
    free(text);
    char member[16];
    snprintf(member, sizeof(member), "m%d", i + 1);
    /* each process its own instance id, as ${HOSTNAME} gives each pod its own */
    setenv("SLUICE_TEST_MEMBER", member, 1);
    r->d[i] = ts_daemon_start(r->cfgs[i], r->logs[i]);
    wait_assigned(r, i, before);
}

/* Lines "[worker N] assigned" in member @i's log. */
static int assigned_lines(group_run *r, int i)
{
    return fk_log_count(r->d[i], "] assigned ");
}

static void wait_assigned(group_run *r, int i, int before)
{
    int64_t deadline = ts_now_ms() + 60000;
    while (assigned_lines(r, i) <= before) {
        ck_assert_msg(ts_daemon_running(r->d[i]), "member %d exited; log:\n%s", i + 1, fk_tail(r->d[i]));
        ck_assert_msg(ts_now_ms() < deadline, "member %d got no partitions within 60 s; log:\n%s", i + 1,
                      fk_tail(r->d[i]));
        usleep(50 * 1000);
    }
}

static char *pg_now(PGconn *c)
{
    return ts_pg_text(c, "SELECT clock_timestamp()::text", NULL);
}

/* The longest time between [from, to] in which no row was stored. */
static int64_t longest_pause_ms(group_run *r, const char *from, const char *to)
{
    char *sql;
    ck_assert(asprintf(&sql,
                       "SELECT coalesce(max(gap), 0)::bigint FROM ("
                       " SELECT (extract(epoch FROM t - lag(t) OVER (ORDER BY t)) * 1000) AS gap FROM ("
                       "  SELECT $1::timestamptz AS t UNION ALL SELECT $2::timestamptz"
                       "  UNION ALL SELECT at FROM %s WHERE at BETWEEN $1::timestamptz AND $2::timestamptz) x) y",
                       r->qtable) > 0);
    int64_t ms = ts_pg_int(r->c, sql, from, to, NULL);
    free(sql);
    return ms;
}

static void settle(void)
{
    usleep(3000 * 1000); /* steady flow between two disturbances */
}

static void run_group(const char *name, const char *extra, int workers, int64_t *roll_pause, int64_t *kill_pause)
{
    group_run r = {.name = name, .extra = extra};
    ts_kafka_start(1);
    ck_assert_msg(!ts_kafka_is_mock(), "this test needs a real broker");
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "broker_group");
    ts_pg_exec(r.c,
               "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL,"
               " at timestamptz NOT NULL DEFAULT clock_timestamp())",
               NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("group3");
    r.group = ts_unique_name("sluice_group3");
    ts_kafka_create_topic(r.topic, NPARTS);
    char *kafka = ts_kafka_yaml(r.group, extra);
    for (int i = 0; i < MEMBERS; i++) {
        r.dirs[i] = ts_tempdir("broker_group");
        char tail[64];
        snprintf(tail, sizeof(tail), "batch:\n  linger_ms: 50\nworkers: %d\n", workers);
        r.cfgs[i] = fk_events_config(r.dirs[i], kafka, r.topic, r.qtable, tail);
        r.logs[i] = ts_write_file(r.dirs[i], "sluice.log", "%s", "");
    }
    fb_producer *prod = fb_producer_start(r.topic, NPARTS, RATE_PER_S);
    for (int i = 0; i < MEMBERS; i++)
        start_member(&r, i);
    settle();

    /* rolling restart: SIGTERM, exit 0, start again, wait for partitions */
    char *t0 = pg_now(r.c);
    for (int i = 0; i < MEMBERS; i++) {
        int64_t s0 = ts_now_ms();
        int code = ts_daemon_stop(r.d[i], SHUTDOWN_MS + 5000);
        int64_t took = ts_now_ms() - s0;
        ck_assert_msg(code == 0, "%s: member %d exited with %d after SIGTERM; log:\n%s", name, i + 1, code,
                      fk_tail(r.d[i]));
        ck_assert_msg(took < SHUTDOWN_MS, "%s: member %d took %lld ms to stop", name, i + 1, (long long)took);
        ts_daemon_free(r.d[i]);
        start_member(&r, i);
        settle();
    }
    char *t1 = pg_now(r.c);
    *roll_pause = longest_pause_ms(&r, t0, t1);

    /* kill -9 of member 2, started again 2 s later */
    char *t2 = pg_now(r.c);
    ts_daemon_signal(r.d[1], SIGKILL);
    ck_assert(ts_daemon_wait(r.d[1], 10000));
    ts_daemon_free(r.d[1]);
    usleep(2000 * 1000);
    start_member(&r, 1);
    settle();
    usleep(6000 * 1000); /* past session.timeout.ms: whatever the dead member held has moved */
    char *t3 = pg_now(r.c);
    *kill_pause = longest_pause_ms(&r, t2, t3);

    int64_t total = fb_producer_stop(prod);
    int64_t deadline = ts_now_ms() + 120000;
    for (;;) {
        bool done = true;
        for (int p = 0; p < NPARTS && done; p++)
            done = ts_kafka_committed(r.group, r.topic, p) == ts_kafka_high_watermark(r.topic, p);
        if (done)
            break;
        ck_assert_msg(ts_now_ms() < deadline, "%s: the group did not reach the end", name);
        usleep(100 * 1000);
    }
    for (int i = 0; i < MEMBERS; i++) {
        int code = ts_daemon_stop(r.d[i], SHUTDOWN_MS + 5000);
        ck_assert_msg(code == 0, "%s: member %d exited with %d; log:\n%s", name, i + 1, code, fk_tail(r.d[i]));
        ts_daemon_free(r.d[i]);
    }
    /* What sluice owes is what the broker holds.  The test's producer
     * (idempotent, acks=all) has had records acknowledged that the freshly
     * created topic then did not hold: once, 3 of 44,736, the first three
     * of one partition, absent when the partition was read back with kcat
     * (librdkafka's issues #3712 and #4904 describe idempotent producers
     * and topics whose metadata flaps just after creation).  So the rows
     * are held to the broker's records, offset by offset, and a gap
     * between the producer's count and the broker's is said. */
    int64_t held = fk_assert_as_broker(r.c, r.qtable, r.group, r.topic, NPARTS);
    if (held != total)
        printf("%s: NOTE: the broker holds %" PRId64 " of the %" PRId64 " records its producer had acknowledged\n",
               name, held, total);
    else
        fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, total);
    printf("%s: %" PRId64 " records stored exactly once; longest pause: rolling SIGTERM restart %" PRId64
           " ms, kill -9 and restart of one member %" PRId64 " ms\n",
           name, total, *roll_pause, *kill_pause);

    for (int i = 0; i < MEMBERS; i++) {
        free(r.dirs[i]);
        free(r.cfgs[i]);
        free(r.logs[i]);
    }
    free(t0);
    free(t1);
    free(t2);
    free(t3);
    free(kafka);
    free(r.topic);
    free(r.group);
    free(r.qtable);
    free(schema);
    PQfinish(r.c);
    ts_kafka_stop();
}

START_TEST(eager)
{
    int64_t roll, kill;
    run_group("eager (range)", NULL, 1, &roll, &kill);
}
END_TEST

START_TEST(cooperative_sticky)
{
    int64_t roll, kill;
    run_group("cooperative-sticky", "  partition.assignment.strategy: cooperative-sticky\n", 1, &roll, &kill);
}
END_TEST

START_TEST(static_membership)
{
    int64_t roll, kill;
    run_group("static membership (eager)", "  group.instance.id: \"sluice-${SLUICE_TEST_MEMBER}\"\n", 1, &roll, &kill);
}
END_TEST

/* two workers per process: each consumer gets an instance id of its own
 * (the configured one and its number), or they would fence each other */
START_TEST(static_membership_two_workers)
{
    int64_t roll, kill;
    run_group("static membership, workers: 2", "  group.instance.id: \"sluice-${SLUICE_TEST_MEMBER}\"\n", 2, &roll,
              &kill);
}
END_TEST

int main(void)
{
    const char *b = getenv("SLUICE_TEST_BOOTSTRAP");
    if (!b || !*b) {
        printf("SKIP: needs a real Kafka cluster (SLUICE_TEST_BOOTSTRAP; tests/run.sh starts one)\n");
        return TS_SKIP;
    }
    const TTest *tests[] = {eager, cooperative_sticky, static_membership, static_membership_two_workers};
    return fk_main("broker group of three", tests, 4, 400);
}
