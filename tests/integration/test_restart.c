/* test_restart.c - a daemon stopped with SIGTERM exits 0 with everything
 * committed; started again after more events, it resumes from the
 * committed offsets: the table ends right and no event of the first run is
 * written a second time (a trigger records every row written). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

int main(void)
{
    const TTest *tests[] = {restart_resumes_from_committed_offsets};
    return sc_main("integration restart", tests, 1);
}
