/* test_restart.c - a daemon stopped with SIGTERM exits 0 with everything
 * committed; started again after more events, it resumes from the
 * committed offsets: the table ends right and no event of the first run is
 * written a second time (a trigger records every row written).  A new
 * group told auto.offset.reset: latest skips what the topic held before it
 * joined. */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 4
#define NKEYS 200
#define NEVENTS 5000

static const char audit_sql[] =
    "CREATE TABLE audit (n bigserial PRIMARY KEY, id bigint, qty integer);"
    "CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql"
    "  SET search_path FROM CURRENT AS $$"
    "  BEGIN INSERT INTO audit (id, qty) VALUES (NEW.id, NEW.qty); RETURN NEW; END $$;"
    "CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders"
    "  FOR EACH ROW EXECUTE FUNCTION audit_orders()";

/* Run the daemon until the group has committed the whole topic, then stop it. */
static void run_to_end(const char *config, const char *log, const char *group, const char *topic)
{
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 180000, log);
    int code = ts_daemon_stop(d, 60000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log tail:\n%s", code, tail);
    free(tail);
    ts_daemon_free(d);
}

START_TEST(restart_resumes_from_committed_offsets)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_restart");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    ts_pg_exec(c, audit_sql, NULL);

    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_restart");
    ts_kafka_create_topic(topic, NPARTS);

    char *dir = ts_tempdir("restart");
    char *kafka = sc_kafka_yaml(group);
    /* at-least-once: the resume point is the Kafka-committed offset alone. */
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "    delivery: at-least-once\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.orders\n"
                                 "    format: json\n"
                                 "    mode: upsert\n"
                                 "    delete_on_tombstone: true\n"
                                 "batch:\n"
                                 "  max_rows: 500\n"
                                 "  linger_ms: 20\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    sc_model *m = sc_model_new(NKEYS, NPARTS, 7);

    /* First run. */
    sc_produce_orders(m, topic, NEVENTS, 15);
    run_to_end(config, log, group, topic);
    sc_assert_orders(c, "orders", m);
    int64_t first_seqs = m->next_seq;
    int64_t audit_mark = ts_pg_int(c, "SELECT coalesce(max(n), 0) FROM audit", NULL);
    ck_assert_int_gt(audit_mark, 0);

    /* More events while it is down, then a second run. */
    sc_produce_orders(m, topic, NEVENTS, 15);
    ck_assert(!sc_offsets_at_end(group, topic, NPARTS));
    run_to_end(config, log, group, topic);
    sc_assert_orders(c, "orders", m);

    char mark[32], seqs[32];
    snprintf(mark, sizeof(mark), "%" PRId64, audit_mark);
    snprintf(seqs, sizeof(seqs), "%" PRId64, first_seqs);
    int64_t rewritten = ts_pg_int(c, "SELECT count(*) FROM audit WHERE n > $1 AND qty < $2", mark, seqs, NULL);
    int64_t written = ts_pg_int(c, "SELECT count(*) FROM audit WHERE n > $1", mark, NULL);
    ck_assert_msg(written > 0, "the second run wrote nothing");
    ck_assert_msg(rewritten == 0,
                  "the second run wrote %" PRId64 " rows from events the first run had committed", rewritten);

    sc_model_free(m);
    free(kafka);
    free(config);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

/* ---- a new group with auto.offset.reset: latest ---- */

typedef struct latest_probe {
    PGconn *c;
    const char *topic;
    const char *log;
    int sent;
} latest_probe;

static bool latest_assigned(void *arg)
{
    latest_probe *p = arg;
    char *text = ts_read_file(p->log), a0[256], a1[256];
    snprintf(a0, sizeof(a0), "assigned %s[0], ", p->topic);
    snprintf(a1, sizeof(a1), "assigned %s[1], ", p->topic);
    bool ok = text && strstr(text, a0) && strstr(text, a1);
    free(text);
    return ok;
}

/* One more new record per partition and call (those produced before the
 * consumer knew where a partition ended are skipped), until each partition
 * has one in the table: even ids go to partition 0, odd ones to 1. */
static bool latest_flowing(void *arg)
{
    latest_probe *p = arg;
    for (int part = 0; part < 2; part++) {
        char key[32], value[64];
        int id = 1000 + 2 * p->sent + part;
        snprintf(key, sizeof(key), "%d", id);
        snprintf(value, sizeof(value), "{\"id\": %d, \"qty\": 2}", id);
        ts_produce_str(p->topic, part, key, value);
    }
    ts_flush();
    p->sent++;
    return ts_pg_int(p->c, "SELECT count(DISTINCT id % 2) FROM latest_t WHERE qty = 2", NULL) == 2;
}

START_TEST(new_group_with_latest_skips_earlier_records)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_latest");
    ts_pg_exec(c, "CREATE TABLE latest_t (id bigint PRIMARY KEY, qty integer)", NULL);
    char *topic = ts_unique_name("latest");
    char *group = ts_unique_name("sluice_latest");
    ts_kafka_create_topic(topic, 2);
    for (int i = 1; i <= 100; i++) {
        char key[16], value[64];
        snprintf(key, sizeof(key), "%d", i);
        snprintf(value, sizeof(value), "{\"id\": %d, \"qty\": 1}", i);
        ts_produce_str(topic, i % 2, key, value);
    }
    ts_flush();

    char *dir = ts_tempdir("latest");
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "kafka:\n"
                                 "  bootstrap.servers: \"%s\"\n"
                                 "  group.id: \"%s\"\n"
                                 "  auto.offset.reset: latest\n"
                                 "  session.timeout.ms: \"6000\"\n"
                                 "  heartbeat.interval.ms: \"500\"\n"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.latest_t\n"
                                 "    format: json\n"
                                 "    mode: upsert\n"
                                 "batch:\n"
                                 "  linger_ms: 20\n",
                                 ts_kafka_bootstrap(), group, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);

    latest_probe p = {c, topic, log, 0};
    bool assigned = ts_wait_until(latest_assigned, &p, 120000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(assigned, "no partition started at the latest offset; log tail:\n%s", tail);
    free(tail);
    bool flowing = ts_wait_until(latest_flowing, &p, 120000);
    tail = sc_log_tail(log, 3000);
    ck_assert_msg(flowing, "after %d records to each partition, not both partitions had one written; log tail:\n%s", p.sent, tail);
    free(tail);
    for (int i = 0; i < 50; i++) {
        char key[16], value[64];
        snprintf(key, sizeof(key), "%d", 5000 + i);
        snprintf(value, sizeof(value), "{\"id\": %d, \"qty\": 3}", 5000 + i);
        ts_produce_str(topic, i % 2, key, value);
    }
    ts_flush();
    sc_wait_committed(group, topic, 2, 120000, log);
    int code = ts_daemon_stop(d, 60000);
    ck_assert_int_eq(code, 0);

    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM latest_t WHERE qty = 1", NULL), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM latest_t WHERE qty = 3", NULL), 50);
    ck_assert_int_ge(ts_pg_int(c, "SELECT count(*) FROM latest_t WHERE qty = 2", NULL), 1);

    ts_daemon_free(d);
    free(config);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

/* Issue 22, finding 6: a SIGTERM in a short window at start was ignored
 * (after main() checked for one, before the daemon set its handler).  One
 * handler is now set on main()'s first line, and a signal the parent left
 * blocked is unblocked there: this SIGTERM, sent before sluice even ran,
 * must stop it cleanly, exit 0, before any worker joins the group. */
START_TEST(sigterm_before_the_workers_run_stops_cleanly)
{
    ts_kafka_start(1);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_early_term");
    ts_kafka_create_topic(topic, 1);
    ts_produce_str(topic, 0, "{\"id\":1}", "{\"id\":1,\"seq\":1,\"qty\":1}");
    ts_flush();
    char *dir = ts_tempdir("early-term");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: orders\n",
                                 kafka, topic);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    /* blocked across fork and exec: pending in sluice from its first instruction */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    ts_daemon *d = ts_daemon_start(config, log);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    ts_daemon_signal(d, SIGTERM);
    bool exited = ts_daemon_wait(d, 30000);
    char *out = ts_daemon_log(d);
    ck_assert_msg(exited, "sluice still runs 30 s after a SIGTERM sent at its start:\n%s", out);
    ck_assert_msg(ts_daemon_exit_code(d) == 0, "exit %d:\n%s", ts_daemon_exit_code(d), out);
    ck_assert_msg(strstr(out, "signal 15 during start-up; exiting"), "%s", out);
    ck_assert_msg(!strstr(out, "running:"), "workers started:\n%s", out);
    ck_assert_msg(ts_kafka_committed(group, topic, 0) < 0, "the group committed an offset:\n%s", out);
    free(out);
    ts_daemon_free(d);
    ts_kafka_stop();
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {restart_resumes_from_committed_offsets, new_group_with_latest_skips_earlier_records,
                            sigterm_before_the_workers_run_stops_cleanly};
    return sc_main("integration restart", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
