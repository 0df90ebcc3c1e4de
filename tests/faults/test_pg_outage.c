/* test_pg_outage.c - the database goes away under a running daemon, on a
 * private PostgreSQL server of this test (the shared one stays untouched):
 *   1. its connections are killed with pg_terminate_backend, repeatedly;
 *   2. the server is restarted (pg_ctl restart -m fast) mid-stream;
 *   3. the server is down (pg_ctl stop -m immediate) while 240 MiB of
 *      records are produced: sluice pauses its partitions, retries with
 *      backoff, logs every attempt, and its resident memory stays bounded;
 *      once the server is back everything is written.
 * After each step the table (append-only, no key) holds every record once. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 4
#define PAD 4096                  /* bytes of padding per outage record (not stored) */
#define OUTAGE_RECORDS 60000      /* 60,000 x 4 KiB = 240 MiB produced while the server is down */
#define RSS_BOUND_KIB (160 * 1024)

typedef struct run {
    PGconn *c;
    char *qtable;
    char *group;
    char *topic;
    int64_t produced;
    ts_daemon *d;
} run;

static void produce(run *r, int64_t n, size_t pad)
{
    char *value = malloc(pad + 128);
    ck_assert(value != NULL);
    for (int64_t i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int len = snprintf(value, 128, "{\"seq\":%" PRId64 ",\"pad\":\"", seq);
        for (size_t k = 0; k < pad; k++)
            value[len++] = (char)('a' + (k + (size_t)seq) % 26);
        len += snprintf(value + len, 8, "\"}");
        ts_produce(r->topic, (int32_t)(seq % NPARTS), NULL, 0, value, (size_t)len);
    }
    free(value);
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
    if (ts_wait_until(all_stored, r, 180000))
        return;
    int64_t rows = 0;
    char why[1024];
    fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why));
    ck_abort_msg("%s: %" PRId64 " of %" PRId64 " records stored after 180 s (%s); log:\n%s", step, rows, r->produced,
                 why, fk_tail(r->d));
}

static int64_t stored_rows(run *r)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", r->qtable);
    return fk_pg_try_int(r->c, sql);
}

typedef struct above {
    run *r;
    int64_t n;
} above;

static bool rows_above(void *arg)
{
    above *a = arg;
    return stored_rows(a->r) > a->n;
}

static int64_t terminate_sluice_backends(PGconn *c)
{
    return ts_pg_int(c,
                     "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = 'sluice' AND pid <> pg_backend_pid()",
                     NULL);
}

static bool log_has_paused(void *arg)
{
    return fk_log_count(arg, "partitions paused") >= 3;
}

START_TEST(database_restarts_and_outages_lose_nothing_and_memory_stays_bounded)
{
    char *pgdir = fk_pg_private_start();
    ts_kafka_start(1);
    run r = {0};
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_pg");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("pgout");
    r.group = ts_unique_name("sluice_pgout");
    ts_kafka_create_topic(r.topic, NPARTS);

    char *dir = ts_tempdir("pgout");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "    connect_timeout_ms: 2s\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s\n"
                                 "    mode: insert\n"
                                 "    add_columns:\n"
                                 "      kp: kafka.partition\n"
                                 "      ko: kafka.offset\n"
                                 "batch:\n"
                                 "  max_rows: 2000\n"
                                 "  linger_ms: 50\n"
                                 "retry:\n"
                                 "  initial_backoff_ms: 100\n"
                                 "  max_backoff_ms: 1s\n",
                                 kafka, r.topic, r.qtable);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* 1. connections killed while records flow */
    produce(&r, 20000, 16);
    ts_flush();
    r.d = ts_daemon_start(config, log);
    int64_t killed = 0;
    for (int i = 0; i < 4; i++) {
        above a = {&r, stored_rows(&r)};
        ck_assert_msg(ts_wait_until(rows_above, &a, 90000), "no progress; log:\n%s", fk_tail(r.d));
        killed += terminate_sluice_backends(r.c);
        produce(&r, 10000, 16);
        ts_flush();
    }
    ck_assert_msg(killed >= 3, "only %" PRId64 " sluice connections were found to terminate", killed);
    wait_all_stored(&r, "after pg_terminate_backend");

    /* 2. a restart of the server mid-stream */
    produce(&r, 30000, 16);
    ts_flush();
    above a = {&r, stored_rows(&r)};
    ck_assert(ts_wait_until(rows_above, &a, 60000));
    PQfinish(r.c);
    fk_pg_ctl(pgdir, "restart -m fast");
    r.c = ts_pg_connect();
    wait_all_stored(&r, "after pg_ctl restart");

    /* 3. the server down while much more arrives than memory could hold */
    PQfinish(r.c);
    r.c = NULL;
    int paused_before = fk_log_count(r.d, "partitions paused");
    fk_pg_ctl(pgdir, "stop -m immediate");
    long max_rss = 0;
    for (int i = 0; i < OUTAGE_RECORDS / 1000; i++) {
        produce(&r, 1000, PAD);
        long rss = fk_rss_kib(r.d->pid);
        if (rss > max_rss)
            max_rss = rss;
    }
    ts_flush();
    /* Keep watching while sluice retries: it must stay paused, not fill up. */
    int64_t until = ts_now_ms() + 5000;
    while (ts_now_ms() < until || !log_has_paused(r.d)) {
        ck_assert_msg(ts_daemon_running(r.d) && ts_now_ms() < until + 60000,
                      "sluice did not report paused partitions during the outage; log:\n%s", fk_tail(r.d));
        long rss = fk_rss_kib(r.d->pid);
        if (rss > max_rss)
            max_rss = rss;
        usleep(100 * 1000);
    }
    printf("outage: %d records of %d bytes produced while the server was down; sluice's largest RSS %ld KiB\n",
           OUTAGE_RECORDS, PAD, max_rss);
    ck_assert_msg(max_rss > 0 && max_rss < RSS_BOUND_KIB, "sluice's RSS reached %ld KiB during the outage (bound %d)",
                  max_rss, RSS_BOUND_KIB);
    int attempts = fk_log_count(r.d, "write failed (attempt");
    ck_assert_msg(fk_log_count(r.d, "partitions paused") > paused_before && attempts >= 3,
                  "expected logged retries with paused partitions, found %d attempts; log:\n%s", attempts,
                  fk_tail(r.d));
    fk_pg_ctl(pgdir, "start");
    r.c = ts_pg_connect();
    wait_all_stored(&r, "after the outage");

    int code = ts_daemon_stop(r.d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d; log:\n%s", code, fk_tail(r.d));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, r.produced);
    printf("%" PRId64 " records, all stored once; %d logged write retries\n", r.produced,
           fk_log_count(r.d, "write failed (attempt"));
    ts_daemon_free(r.d);
    PQfinish(r.c);
    ts_kafka_stop();
    fk_pg_private_stop(pgdir);
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

int main(void)
{
    const TTest *tests[] = {database_restarts_and_outages_lose_nothing_and_memory_stays_bounded};
    return fk_main("faults database outage", tests, 1, 420);
}
