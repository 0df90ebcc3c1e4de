/* test_kill9.c - SIGKILL at random moments during an ingest of 200,000
 * records into an append-only table (mode: insert, no key), restarted after
 * every kill.  After each kill the table and sluice.offsets must agree
 * exactly (every partition holds the rows of offsets [0, stored offset),
 * each once: nothing half-applied); at the end the table holds every record
 * exactly once and sluice.offsets the high watermarks.
 *
 * SLUICE_KILL9_SEED replays a run (the seed is printed); SLUICE_KILL9_ROUNDS
 * changes the number of kills (default 11). */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 8
#define TOTAL 200000

typedef struct run {
    PGconn *c;
    char *qtable;
    char *group;
    char *topic;
    int64_t produced;
} run;

static void produce(run *r, int64_t n)
{
    char value[256];
    for (int64_t i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int len = snprintf(value, sizeof(value),
                           "{\"seq\":%" PRId64 ",\"pad\":\"record %" PRId64 " of an append-only stream\"}", seq, seq);
        ts_produce(r->topic, (int32_t)(seq % NPARTS), NULL, 0, value, (size_t)len);
    }
    ts_flush();
}

static int64_t rows_now(run *r)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", r->qtable);
    return ts_pg_int(r->c, sql, NULL);
}

typedef struct progress {
    run *r;
    int64_t above;
    ts_daemon *d;
} progress;

static bool made_progress(void *arg)
{
    progress *p = arg;
    return rows_now(p->r) > p->above || !ts_daemon_running(p->d);
}

static bool all_stored(void *arg)
{
    run *r = arg;
    int64_t rows = 0;
    char why[1024];
    if (!fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why)) || rows != TOTAL)
        return false;
    for (int p = 0; p < NPARTS; p++)
        if (ts_kafka_committed(r->group, r->topic, p) != ts_kafka_high_watermark(r->topic, p))
            return false;
    return true;
}

START_TEST(kill9_during_ingest_loses_and_duplicates_nothing)
{
    uint64_t seed = getenv("SLUICE_KILL9_SEED") ? strtoull(getenv("SLUICE_KILL9_SEED"), NULL, 0)
                                                : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    if (!seed)
        seed = 1;
    int rounds = getenv("SLUICE_KILL9_ROUNDS") ? atoi(getenv("SLUICE_KILL9_ROUNDS")) : 11;
    printf("kill -9 test: seed %" PRIu64 ", %d kills\n", seed, rounds);
    uint64_t rng = seed;

    ts_kafka_start(1);
    run r = {0};
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_kill9");
    ts_pg_exec(r.c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL, pad text)", NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("kill9");
    r.group = ts_unique_name("sluice_kill9");
    ts_kafka_create_topic(r.topic, NPARTS);

    char *dir = ts_tempdir("kill9");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *config = fk_events_config(dir, kafka, r.topic, r.qtable,
                                    "batch:\n"
                                    "  max_rows: 1500\n"
                                    "  linger_ms: 20\n"
                                    "retry:\n"
                                    "  initial_backoff_ms: 100\n"
                                    "  max_backoff_ms: 1000\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    int64_t chunk = TOTAL / rounds;
    for (int round = 0; round < rounds; round++) {
        produce(&r, round == rounds - 1 ? TOTAL - r.produced : chunk);
        int64_t before = rows_now(&r);
        ts_daemon *d = ts_daemon_start(config, log);
        const char *when;
        int64_t delay;
        if (fk_rand(&rng) % 4 == 0) {
            /* anywhere from start-up through joining the group to the first writes */
            delay = (int64_t)(fk_rand(&rng) % 5000);
            when = "after start";
            usleep((useconds_t)delay * 1000);
        } else {
            /* in the middle of writing: shortly after the first new rows appear */
            progress p = {&r, before, d};
            ck_assert_msg(ts_wait_until(made_progress, &p, 90000), "round %d: no progress in 90 s; log:\n%s",
                          round, fk_tail(d));
            delay = (int64_t)(fk_rand(&rng) % 120);
            when = "after the first new rows";
            usleep((useconds_t)delay * 1000);
        }
        ck_assert_msg(ts_daemon_running(d), "round %d: sluice exited by itself (%d); log:\n%s", round,
                      ts_daemon_exit_code(d), fk_tail(d));
        ts_daemon_signal(d, SIGKILL);
        ck_assert(ts_daemon_wait(d, 10000));
        ts_daemon_free(d);

        /* Nothing half-applied: rows and stored offsets agree, partition by partition. */
        int64_t rows = 0;
        char why[2048];
        bool ok = fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        printf("round %2d: killed %4" PRId64 " ms %s; %6" PRId64 " of %6" PRId64 " produced records stored\n", round,
               delay, when, rows, r.produced);
        ck_assert_msg(ok, "round %d: after kill -9 the table and sluice.offsets disagree: %s", round, why);
    }

    ts_daemon *d = ts_daemon_start(config, log);
    if (!ts_wait_until(all_stored, &r, 180000)) {
        int64_t rows = 0;
        char why[2048];
        fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        ck_abort_msg("after the last restart %" PRId64 " of %d records are stored (%s); log:\n%s", rows, TOTAL, why,
                     fk_tail(d));
    }
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, fk_tail(d));
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, TOTAL);
    printf("final: %d records produced, %" PRId64 " rows stored, all distinct, offsets at the high watermarks\n",
           TOTAL, rows_now(&r));
    ts_daemon_free(d);

    free(kafka);
    free(config);
    free(log);
    free(dir);
    free(schema);
    free(r.qtable);
    free(r.topic);
    free(r.group);
    PQfinish(r.c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {kill9_during_ingest_loses_and_duplicates_nothing};
    return fk_main("faults kill -9", tests, 1, 420);
}
