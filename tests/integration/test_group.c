/* test_group.c - consumers sharing one group: two workers in one process,
 * and two daemon processes.  Events go into an append-only table (mode:
 * insert, no key), so a record written twice or never shows in the counts;
 * a trigger stamps each row with the backend that wrote it, which shows
 * that both consumers took part. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 4

static const char events_sql[] =
    "CREATE TABLE events (seq bigint NOT NULL, k integer, part integer, writer integer);"
    "CREATE FUNCTION stamp_writer() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN NEW.writer := pg_backend_pid(); RETURN NEW; END $$;"
    "CREATE TRIGGER events_writer BEFORE INSERT ON events"
    "  FOR EACH ROW EXECUTE FUNCTION stamp_writer()";

typedef struct group_run {
    PGconn *c;
    char *topic;
    char *group;
    int64_t produced;
    ts_daemon *d[2];
    int ndaemons;
} group_run;

static void produce_events(group_run *r, int n)
{
    char key[64], value[128];
    for (int i = 0; i < n; i++) {
        int64_t seq = r->produced++;
        int part = (int)(seq % NPARTS);
        snprintf(key, sizeof(key), "{\"seq\":%" PRId64 "}", seq);
        snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"k\":%d,\"part\":%d}", seq,
                 (int)(seq % 97), part);
        ts_produce_str(r->topic, part, key, value);
    }
    ts_flush();
}

static bool all_landed(void *arg)
{
    group_run *r = arg;
    return ts_pg_int(r->c, "SELECT count(DISTINCT seq) FROM events", NULL) == r->produced;
}

static void wait_landed(group_run *r, const char *what)
{
    if (ts_wait_until(all_landed, r, 120000))
        return;
    int64_t got = ts_pg_int(r->c, "SELECT count(DISTINCT seq) FROM events", NULL);
    char *tail = sc_log_tail(r->d[0]->log_path, 2000);
    char *tail2 = r->ndaemons > 1 ? sc_log_tail(r->d[1]->log_path, 2000) : strdup("");
    ck_abort_msg("%s: %" PRId64 " of %" PRId64 " events landed in 120 s\nlog:\n%s\nsecond log:\n%s", what,
                 got, r->produced, tail, tail2);
}

static char *write_config(const char *dir, group_run *r, const char *schema, int workers)
{
    char *kafka = sc_kafka_yaml(r->group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.events\n"
                                 "    format: json\n"
                                 "    mode: insert\n"
                                 "batch:\n"
                                 "  max_rows: 200\n"
                                 "  linger_ms: 20\n"
                                 "workers: %d\n",
                                 kafka, r->topic, schema, workers);
    free(kafka);
    return config;
}

/* Run daemons from @configs (one process each) sharing one group; produce in
 * rounds until rows come from two writers, then a last round; stop them all
 * and check that every event landed exactly once. */
static void run_group(int workers, int processes)
{
    group_run r = {0};
    char *configs[2] = {0}, *logs[2] = {0}, *dirs[2] = {0};

    ts_kafka_start(1);
    r.c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(r.c, "it_group");
    ts_pg_exec(r.c, events_sql, NULL);
    r.topic = ts_unique_name("events");
    r.group = ts_unique_name("sluice_group");
    ts_kafka_create_topic(r.topic, NPARTS);

    for (int i = 0; i < processes; i++) {
        dirs[i] = ts_tempdir("group");
        configs[i] = write_config(dirs[i], &r, schema, workers);
        logs[i] = ts_write_file(dirs[i], "sluice.log", "%s", "");
        r.d[i] = ts_daemon_start(configs[i], logs[i]);
        r.ndaemons++;
    }

    /* Until the group has settled on sharing, one consumer may take every
     * partition: keep records flowing until a second writer shows up. */
    int64_t writers = 0;
    int64_t deadline = ts_now_ms() + 120000;
    while (writers < 2 && ts_now_ms() < deadline) {
        produce_events(&r, 400);
        wait_landed(&r, "while waiting for a second consumer");
        writers = ts_pg_int(r.c, "SELECT count(DISTINCT writer) FROM events", NULL);
        for (int i = 0; i < processes; i++)
            ck_assert_msg(ts_daemon_running(r.d[i]), "sluice %d exited with %d", i,
                          ts_daemon_exit_code(r.d[i]));
    }
    ck_assert_msg(writers >= 2, "only one consumer wrote rows: the group did not share the partitions");

    produce_events(&r, 4000);
    wait_landed(&r, "last round");
    sc_wait_committed(r.group, r.topic, NPARTS, 120000, logs[0]);
    sc_assert_stored_offsets_at_end(r.c, r.group, r.topic, NPARTS);

    for (int i = 0; i < processes; i++) {
        int code = ts_daemon_stop(r.d[i], 60000);
        char *tail = sc_log_tail(logs[i], 3000);
        ck_assert_msg(code == 0, "sluice %d exited with %d after SIGTERM; log tail:\n%s", i, code, tail);
        free(tail);
    }

    char n[32];
    snprintf(n, sizeof(n), "%" PRId64, r.produced);
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(*) FROM events", NULL), r.produced);
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(DISTINCT seq) FROM events", NULL), r.produced);
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(*) FROM events WHERE seq < 0 OR seq >= $1 OR part <> seq % 4",
                               n, NULL),
                     0);
    ck_assert(sc_offsets_at_end(r.group, r.topic, NPARTS));

    for (int i = 0; i < processes; i++) {
        ts_daemon_free(r.d[i]);
        free(configs[i]);
        free(logs[i]);
        free(dirs[i]);
    }
    free(schema);
    free(r.topic);
    free(r.group);
    PQfinish(r.c);
    ts_kafka_stop();
}

START_TEST(two_workers_in_one_process_share_the_partitions)
{
    run_group(2, 1);
}
END_TEST

START_TEST(two_processes_in_one_group_share_the_partitions)
{
    run_group(1, 2);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {two_workers_in_one_process_share_the_partitions,
                            two_processes_in_one_group_share_the_partitions};
    return sc_main("integration group", tests, 2);
}
