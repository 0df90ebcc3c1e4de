/* test_broker_outage.c - a single real Kafka broker is killed with SIGKILL
 * while records keep arriving, stays down for 20 s and is started again on
 * its data.  sluice must stay up (no exit, no crash loop), report the outage
 * a bounded number of times naming the broker's address (not once per
 * poll), keep its memory bounded, and resume by itself; afterwards the
 * keyless insert table holds every record exactly once (exact count, no
 * duplicate sequence number) and both sluice.offsets and the group's Kafka
 * commits stand at the high watermarks.  Needs java and mvn (skipped
 * without them); starts its own broker with tests/support/kafka.sh. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

#define NPARTS 3
#define OUTAGE_MS 20000
#define RATE_PER_S 2000
#define RSS_BOUND_KIB (128 * 1024)
/* librdkafka reports each connection to the lost broker (the bootstrap one
 * and the group coordinator's) as it fails, then suppresses identical
 * errors: about ten lines for the whole outage.  sluice polls every 100 ms,
 * so a report per poll would be hundreds. */
#define MAX_OUTAGE_REPORTS 30

static int64_t committed_total(const char *group, const char *topic)
{
    int64_t n = 0;
    for (int p = 0; p < NPARTS; p++) {
        int64_t off = ts_kafka_committed(group, topic, p);
        n += off > 0 ? off : 0;
    }
    return n;
}

/* Lines of the daemon's log that name @addr. */
static int lines_naming(const ts_daemon *d, const char *addr, char *first, size_t firstlen, int *repeats)
{
    char *log = ts_daemon_log(d);
    int n = 0;
    first[0] = '\0';
    *repeats = 0;
    const char *prev_ts = NULL, *prev_what = NULL;
    for (char *line = log, *end; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end)
            *end = '\0';
        const char *what = strstr(line, addr);
        if (!what)
            continue;
        if (n++ == 0)
            snprintf(first, firstlen, "%s", line);
        /* the same event (same millisecond, same text from the address on)
         * logged a second time, e.g. as a log line and as an error event */
        if (prev_ts && !strncmp(prev_ts, line, 24) && !strcmp(prev_what, what))
            ++*repeats;
        prev_ts = line;
        prev_what = what;
    }
    free(log);
    return n;
}

START_TEST(broker_killed_for_twenty_seconds_loses_and_duplicates_nothing)
{
    char *kdir = fb_start(1, NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", fb_address(kdir, 1));
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_outage");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char *topic = ts_unique_name("outage");
    char *group = ts_unique_name("sluice_outage");
    ts_kafka_create_topic(topic, NPARTS);

    char *dir = ts_tempdir("broker_outage");
    char *kafka = ts_kafka_yaml(group, NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *config = fk_events_config(dir, kafka, topic, qtable, "batch:\n  max_rows: 500\n  linger_ms: 100\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);

    fb_producer *prod = fb_producer_start(topic, NPARTS, RATE_PER_S);

    /* Streaming: something committed before the broker goes. */
    int64_t deadline = ts_now_ms() + 60000;
    while (committed_total(group, topic) < RATE_PER_S) {
        ck_assert_msg(ts_daemon_running(d) && ts_now_ms() < deadline, "sluice did not start consuming; log:\n%s",
                      fk_tail(d));
        usleep(100 * 1000);
    }
    long rss_before = fk_rss_kib(d->pid);
    char first[512];
    int repeats;
    int reports_before = lines_naming(d, addr, first, sizeof(first), &repeats);

    fb_kill(kdir, 1);
    int64_t killed_at = ts_now_ms();
    printf("broker %s killed after %lld records produced\n", addr, (long long)fb_producer_count(prod));
    long max_rss = rss_before;
    while (ts_now_ms() - killed_at < OUTAGE_MS) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited while the broker was down; log:\n%s", fk_tail(d));
        long rss = fk_rss_kib(d->pid);
        if (rss > max_rss)
            max_rss = rss;
        usleep(200 * 1000);
    }
    int reports = lines_naming(d, addr, first, sizeof(first), &repeats) - reports_before;
    fb_restart(kdir, 1);
    int64_t restarted_at = ts_now_ms();
    printf("broker down for %lld ms; sluice's RSS %ld KiB before, at most %ld KiB during the outage; "
           "%d log lines named %s during it, the first:\n  %s\n",
           (long long)(restarted_at - killed_at), rss_before, max_rss, reports, addr, first);

    /* Records keep arriving for a while after the restart, then stop. */
    usleep(5000 * 1000);
    int64_t total = fb_producer_stop(prod);

    deadline = ts_now_ms() + 180000;
    for (;;) {
        int64_t n = committed_total(group, topic);
        if (n == total)
            break;
        ck_assert_msg(ts_daemon_running(d), "sluice exited after the broker came back; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline, "%" PRId64 " of %" PRId64 " records committed 180 s after the "
                      "broker came back; log:\n%s", n, total, fk_tail(d));
        usleep(200 * 1000);
    }
    printf("all %" PRId64 " records committed %lld ms after the restart\n", total,
           (long long)(ts_now_ms() - restarted_at));

    ck_assert_msg(repeats == 0, "%d log lines naming %s repeat the line before them; log:\n%s", repeats, addr,
                  fk_tail(d));
    ck_assert_msg(reports >= 1, "sluice did not report the outage of %s; log:\n%s", addr, fk_tail(d));
    ck_assert_msg(reports <= MAX_OUTAGE_REPORTS, "%d log lines named %s during a %d s outage (at most %d); log:\n%s",
                  reports, addr, OUTAGE_MS / 1000, MAX_OUTAGE_REPORTS, fk_tail(d));
    ck_assert_msg(max_rss < RSS_BOUND_KIB, "sluice's RSS reached %ld KiB while the broker was down (bound %d)", max_rss,
                  RSS_BOUND_KIB);

    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, fk_tail(d));
    fk_assert_exact(c, qtable, group, topic, NPARTS, total);
    for (int p = 0; p < NPARTS; p++)
        ck_assert_int_eq(ts_kafka_committed(group, topic, p), ts_kafka_high_watermark(topic, p));
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
    const TTest *tests[] = {broker_killed_for_twenty_seconds_loses_and_duplicates_nothing};
    return fk_main("broker outage", tests, 1, 400);
}
