/* test_upsert.c - 50,000 order events over 4 partitions, with repeated keys
 * and tombstones, sunk by the sluice daemon: the table must end equal to the
 * last state of every key, and the committed offsets (in Kafka and in
 * sluice.offsets) must equal the high watermarks. */
#include <check.h>
#include <stdlib.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 4
#define NKEYS 1000
#define NEVENTS 50000

START_TEST(fifty_thousand_events_end_as_last_state_per_key)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_upsert");
    ts_pg_exec(c, sc_orders_table_sql, NULL);

    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_upsert");
    ts_kafka_create_topic(topic, NPARTS);

    sc_model *m = sc_model_new(NKEYS, NPARTS, 42);
    sc_produce_orders(m, topic, NEVENTS, 10);
    int deleted = 0;
    for (int k = 0; k < NKEYS; k++)
        deleted += m->last_seq[k] < 0;
    ck_assert_msg(deleted > 0 && deleted < NKEYS, "the scenario must end with some keys deleted (%d)", deleted);

    char *dir = ts_tempdir("upsert");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.orders\n"
                                 "    format: json\n"
                                 "    mode: upsert\n"
                                 "    key: [id]\n"
                                 "    delete_on_tombstone: true\n"
                                 "batch:\n"
                                 "  max_rows: 2000\n"
                                 "  max_bytes: 4MiB\n"
                                 "  linger_ms: 50\n"
                                 "workers: 1\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 300000, log);
    sc_assert_stored_offsets_at_end(c, group, topic, NPARTS);

    int code = ts_daemon_stop(d, 60000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log tail:\n%s", code, tail);
    free(tail);

    sc_assert_orders(c, "orders", m);
    /* Stopping committed nothing beyond the end, and nothing went back. */
    ck_assert(sc_offsets_at_end(group, topic, NPARTS));

    ts_daemon_free(d);
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
    const TTest *tests[] = {fifty_thousand_events_end_as_last_state_per_key};
    return sc_main("integration upsert", tests, 1);
}
