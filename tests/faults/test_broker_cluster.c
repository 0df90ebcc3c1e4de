/* test_broker_cluster.c - three real Kafka brokers (each also a controller,
 * the three forming the controller quorum), a topic with replication factor
 * 3 and min.insync.replicas=2, records arriving all along: the leader of the
 * partition being read is killed with SIGKILL, then the active controller,
 * then both are started again.  sluice must keep running and resume by
 * itself; afterwards the keyless insert table holds every record exactly
 * once, and sluice.offsets and the group's Kafka commits stand at the high
 * watermarks.  Starts its own brokers with tests/support/kafka.sh; needs java, mvn
 * and kcat (skipped without them). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

#define NPARTS 3
#define RATE_PER_S 1000
#define DOWN_MS 10000

static int64_t stored(PGconn *c, const char *qtable)
{
    char *sql;
    ck_assert(asprintf(&sql, "SELECT count(*) FROM %s", qtable) > 0);
    int64_t n = fk_pg_try_int(c, sql);
    free(sql);
    return n;
}

/* Wait until more rows than @than are stored; returns the time it took. */
static int64_t wait_progress(PGconn *c, const char *qtable, int64_t than, ts_daemon *d, const char *when)
{
    int64_t t0 = ts_now_ms();
    while (stored(c, qtable) <= than) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited %s; log:\n%s", when, fk_tail(d));
        ck_assert_msg(ts_now_ms() - t0 < 120000, "no progress within 120 s %s; log:\n%s", when, fk_tail(d));
        usleep(100 * 1000);
    }
    return ts_now_ms() - t0;
}

static void stay_up(ts_daemon *d, int ms, const char *when)
{
    int64_t t0 = ts_now_ms();
    while (ts_now_ms() - t0 < ms) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited %s; log:\n%s", when, fk_tail(d));
        usleep(200 * 1000);
    }
}

START_TEST(leader_and_controller_killed_and_restarted)
{
    char *kdir = fb_start(3, NULL);
    ts_kafka_start(3);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_cluster");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *topic = ts_unique_name("rf3");
    char *group = ts_unique_name("sluice_rf3");
    fb_create_topic(topic, NPARTS, 3, "min.insync.replicas=2", NULL);

    char *dir = ts_tempdir("broker_cluster");
    char *kafka = ts_kafka_yaml(group, NULL);
    char *config = fk_events_config(dir, kafka, topic, qtable, "batch:\n  linger_ms: 50\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);
    fb_producer *prod = fb_producer_start(topic, NPARTS, RATE_PER_S);
    wait_progress(c, qtable, RATE_PER_S, d, "before any fault");

    int leader = fb_leader(topic, 0);
    ck_assert_msg(leader >= 1 && leader <= 3, "%s[0] has no leader", topic);
    fb_kill(kdir, leader);
    int64_t n = stored(c, qtable);
    int64_t resumed = wait_progress(c, qtable, n + RATE_PER_S, d, "after the leader was killed");
    printf("broker %d (leader of %s[0]) killed: %" PRId64 " rows stored, %d more within %" PRId64 " ms\n", leader,
           topic, n, RATE_PER_S, resumed);
    stay_up(d, DOWN_MS, "with one broker down");

    int controller = fb_controller(kdir);
    ck_assert_msg(controller != leader, "the active controller is the killed broker %d", controller);
    fb_kill(kdir, controller);
    printf("broker %d (the active controller) killed: one broker of three left, no quorum, "
           "min.insync.replicas not met\n", controller);
    stay_up(d, DOWN_MS, "with two brokers down");

    fb_restart(kdir, leader);
    fb_restart(kdir, controller);
    n = stored(c, qtable);
    resumed = wait_progress(c, qtable, n + RATE_PER_S, d, "after the restarts");
    printf("brokers %d and %d restarted: %d more rows within %" PRId64 " ms\n", leader, controller, RATE_PER_S,
           resumed);
    stay_up(d, 3000, "after the restarts");

    int64_t total = fb_producer_stop(prod);
    fk_wait_at_end(d, group, topic, NPARTS, 180000);
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, fk_tail(d));
    fk_assert_exact(c, qtable, group, topic, NPARTS, total);
    printf("%" PRId64 " records stored exactly once; sluice.offsets and Kafka commits at the high watermarks\n",
           total);

    ts_daemon_free(d);
    ts_kafka_stop();
    fb_stop(kdir);
    free(log);
    free(config);
    free(kafka);
    free(dir);
    free(group);
    free(topic);
    free(schema);
    PQfinish(c);
}
END_TEST

int main(void)
{
    if (!fb_available())
        return TS_SKIP;
    const TTest *tests[] = {leader_and_controller_killed_and_restarted};
    return fk_main("broker cluster", tests, 1, 600);
}
