/* test_sigterm.c - SIGTERM while a batch is being written (writes are
 * slowed down by a trigger, and the signal is sent once PostgreSQL shows
 * sluice's COPY running).  The daemon must finish or abandon that batch
 * whole, exit 0, and leave rows and sluice.offsets in agreement; in some
 * rounds a SIGKILL follows the SIGTERM 100 ms later, in the middle of the
 * shutdown.  After every round the daemon is restarted; at the end every
 * record is stored exactly once.
 *
 * Then a topic whose every record the database refuses (a CHECK), under
 * on_error: dlq into a table: SIGTERM while sluice isolates the bad rows one
 * by one (far longer than shutdown_timeout for the whole batch), three
 * times.  Each stop exits 0 and commits the dead letters finished so far
 * with the offsets just past them; each start goes on from there, so every
 * round adds dead letters, none twice. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 4
#define TOTAL 40000
#define ROUNDS 4

typedef struct run {
    PGconn *c;
    char *qtable;
    char *group;
    char *topic;
    int64_t produced;
} run;

static bool writing(void *arg)
{
    run *r = arg;
    return ts_pg_int(r->c,
                     "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                     " AND state = 'active' AND query LIKE 'COPY %'",
                     r->group, NULL) > 0;
}

/* A killed daemon's backend may still run its statement for a moment. */
static bool no_sluice_backend(void *arg)
{
    run *r = arg;
    /* only this test's daemon: its connections carry the group name (PGAPPNAME),
     * so sluice processes of tests running beside this one do not count */
    return ts_pg_int(r->c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", r->group, NULL) == 0;
}

static bool all_stored(void *arg)
{
    run *r = arg;
    int64_t rows = 0;
    char why[1024];
    return fk_consistent(r->c, r->qtable, r->group, r->topic, &rows, why, sizeof(why)) && rows == r->produced;
}

START_TEST(sigterm_during_a_write_applies_batches_whole)
{
    ts_kafka_start(1);
    run r = {0};
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "f_term");
    ts_pg_exec(r.c,
               "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL);"
               "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$"
               " BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;"
               "CREATE TRIGGER slow AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION slow()",
               NULL);
    ck_assert(asprintf(&r.qtable, "%s.events", schema) > 0);
    r.topic = ts_unique_name("term");
    r.group = ts_unique_name("sluice_term");
    ts_kafka_create_topic(r.topic, NPARTS);
    char value[96];
    for (int64_t seq = 0; seq < TOTAL; seq++) {
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 "}", seq);
        ts_produce(r.topic, (int32_t)(seq % NPARTS), NULL, 0, value, (size_t)len);
    }
    ts_flush();
    r.produced = TOTAL;

    char *dir = ts_tempdir("term");
    char *kafka = ts_kafka_yaml(r.group, NULL);
    char *config = fk_events_config(dir, kafka, r.topic, r.qtable,
                                    "batch:\n"
                                    "  max_rows: 2500\n"
                                    "  linger_ms: 50\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    setenv("PGAPPNAME", r.group, 1); /* libpq: names the daemon's connections */

    for (int round = 0; round < ROUNDS; round++) {
        ck_assert(ts_wait_until(no_sluice_backend, &r, 30000));
        ts_daemon *d = ts_daemon_start(config, log);
        ck_assert_msg(ts_wait_until(writing, &r, 60000), "round %d: no write seen; log:\n%s", round, fk_tail(d));
        ts_daemon_signal(d, SIGTERM);
        bool kill_too = round % 2 == 1;
        if (kill_too) {
            usleep(100 * 1000);
            if (ts_daemon_running(d))
                ts_daemon_signal(d, SIGKILL);
        }
        ck_assert_msg(ts_daemon_wait(d, 60000), "round %d: sluice did not stop after SIGTERM", round);
        int code = ts_daemon_exit_code(d);
        ck_assert_msg(kill_too ? (code == 0 || code == 128 + SIGKILL) : code == 0,
                      "round %d: sluice exited with %d; log:\n%s", round, code, fk_tail(d));
        int64_t rows = 0;
        char why[1024];
        bool ok = fk_consistent(r.c, r.qtable, r.group, r.topic, &rows, why, sizeof(why));
        printf("round %d: SIGTERM%s during a write, exit %d; %" PRId64 " of %d records stored\n", round,
               kill_too ? " then SIGKILL" : "", code, rows, TOTAL);
        ck_assert_msg(ok, "round %d: rows and sluice.offsets disagree after the stop: %s", round, why);
        ts_daemon_free(d);
    }

    ts_daemon *d = ts_daemon_start(config, log);
    ck_assert_msg(ts_wait_until(all_stored, &r, 120000), "not everything stored after the restarts; log:\n%s",
                  fk_tail(d));
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    fk_assert_exact(r.c, r.qtable, r.group, r.topic, NPARTS, TOTAL);
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

#define BAD 20000

typedef struct dl_run {
    ts_daemon *d;
} dl_run;

static bool isolating(void *arg)
{
    dl_run *r = arg;
    return fk_log_count(r->d, "isolating the failing rows") > 0 || !ts_daemon_running(r->d);
}

START_TEST(sigterm_while_isolating_bad_rows_keeps_their_dead_letters)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "f_termdl");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL CHECK (seq < 0), kp int NOT NULL, ko bigint NOT NULL)",
               NULL);
    char *topic = ts_unique_name("termdl"), *group = ts_unique_name("sluice_termdl");
    ts_kafka_create_topic(topic, 1);
    char value[64];
    for (int64_t seq = 0; seq < BAD; seq++) {
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 "}", seq);
        ts_produce(topic, 0, NULL, 0, value, (size_t)len);
    }
    ts_flush();
    char *dir = ts_tempdir("termdl");
    char *kafka = ts_kafka_yaml(group, NULL);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - name: bad\n"
                                 "    topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.events\n"
                                 "    mode: insert\n"
                                 "    add_columns:\n"
                                 "      kp: kafka.partition\n"
                                 "      ko: kafka.offset\n"
                                 "    on_error: dlq\n"
                                 "    dlq_table: %s.dead\n"
                                 "batch:\n"
                                 "  max_rows: %d\n"
                                 "  linger_ms: 50\n"
                                 "shutdown_timeout: 10s\n",
                                 kafka, topic, schema, schema, BAD);
    char q_dead[256], q_distinct[256], q_max[256], q_rows[256];
    snprintf(q_dead, sizeof(q_dead), "SELECT count(*) FROM %s.dead", schema);
    snprintf(q_distinct, sizeof(q_distinct), "SELECT count(DISTINCT kafka_offset) FROM %s.dead", schema);
    snprintf(q_max, sizeof(q_max), "SELECT max(kafka_offset) FROM %s.dead", schema);
    snprintf(q_rows, sizeof(q_rows), "SELECT count(*) FROM %s.events", schema);
    int64_t before = 0;
    for (int round = 0; round < 3; round++) {
        char name[32];
        snprintf(name, sizeof(name), "sluice-%d.log", round);
        char *log = ts_write_file(dir, name, "%s", ""); /* a log of its own: isolating() reads it */
        dl_run r = {ts_daemon_start(config, log)};
        ck_assert_msg(ts_wait_until(isolating, &r, 60000) && ts_daemon_running(r.d),
                      "round %d: the isolation of bad rows did not begin; log:\n%s", round, fk_tail(r.d));
        ts_daemon_signal(r.d, SIGTERM);
        ck_assert_msg(ts_daemon_wait(r.d, 60000), "round %d: sluice did not stop after SIGTERM", round);
        int code = ts_daemon_exit_code(r.d);
        ck_assert_msg(code == 0, "round %d: exit %d after SIGTERM; log:\n%s", round, code, fk_tail(r.d));
        int64_t stored = ts_pg_int(c, "SELECT coalesce(max(next_offset), 0) FROM sluice.offsets WHERE group_id = $1"
                                      " AND topic = $2 AND partition = 0", group, topic, NULL);
        int64_t committed = ts_kafka_committed(group, topic, 0);
        int64_t dead = ts_pg_int(c, q_dead, NULL), distinct = ts_pg_int(c, q_distinct, NULL);
        int64_t last = ts_pg_int(c, q_max, NULL);
        printf("round %d: SIGTERM while isolating bad rows, exit %d; %" PRId64 " dead letters, offset %" PRId64
               " stored, %" PRId64 " committed in Kafka\n", round, code, dead, stored, committed);
        ck_assert_int_eq(ts_pg_int(c, q_rows, NULL), 0);
        ck_assert_msg(stored > before, "round %d: no progress: offset %" PRId64 " stored, %" PRId64 " before", round,
                      stored, before);
        /* every record below the stored offset is a dead letter, once; none above */
        ck_assert_int_eq(dead, stored);
        ck_assert_int_eq(distinct, dead);
        ck_assert_int_eq(last, stored - 1);
        ck_assert_int_eq(committed, stored);
        before = stored;
        ts_daemon_free(r.d);
        free(log);
    }
    free(kafka);
    free(config);
    free(dir);
    free(schema);
    free(topic);
    free(group);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {sigterm_during_a_write_applies_batches_whole,
                            sigterm_while_isolating_bad_rows_keeps_their_dead_letters};
    return fk_main("faults SIGTERM", tests, 2, 300);
}
