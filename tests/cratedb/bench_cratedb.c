/* bench_cratedb.c - rows per second of the sluice daemon into CrateDB's
 * dialect, per transport, measured end to end: N order events (distinct
 * keys, 4 partitions) are produced to the mock Kafka first, then the clock
 * runs from the daemon's start until the group has committed every offset,
 * and the stored rows are checked.  Against the stand-in (crate_server.py,
 * which executes every row on PostgreSQL through psycopg2) and the local
 * PostgreSQL over pgwire, this measures sluice with those servers, not
 * CrateDB.  Not a test: `bench_cratedb [N] [http|pg]`, SLUICE_TEST_DSN set. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "scenario.h"
#include "support.h"

static int nevents = 200000;
static const char *which = "http";

START_TEST(bench)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "crate_bench");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("bench"), *group = ts_unique_name("sluice_bench");
    ts_kafka_create_topic(topic, 4);
    sc_model *m = sc_model_new(nevents, 4, 3);
    for (int k = 0; k < nevents; k++) { /* every key once: rows/s, not collapse/s */
        char key[32], val[512];
        snprintf(key, sizeof(key), "{\"id\":%d}", k);
        snprintf(val, sizeof(val),
                 "{\"id\":%d,\"customer\":\"cust-%d\",\"qty\":%d,\"amount\":%d.25,\"ts\":\"2024-01-01T00:00:%02dZ\","
                 "\"attrs\":{\"n\":%d},\"note\":\"bench\"}", k, k % 97, k, k % 1000, k % 60, k);
        ts_produce_str(topic, k % 4, key, val);
    }
    ts_flush();
    cf_server *srv = !strcmp(which, "http") ? cf_start() : NULL;
    char *dir = ts_tempdir("bench");
    char *kafka = sc_kafka_yaml(group);
    char target[256];
    if (srv)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", srv->url);
    else
        snprintf(target, sizeof(target), "    dsn: \"${SLUICE_TEST_DSN}\"\n");
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n%s    schema: \"%s\"\n"
                              "routes:\n  - topics: [%s]\n    target: crate\n    table: orders\n"
                              "    format: json\n    mode: upsert\nbatch:\n  max_rows: 10000\n  linger_ms: 100\n"
                              "log_level: warn\n",
                              kafka, target, schema, topic);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    int64_t t0 = ts_now_ms();
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 4, 1800000, log);
    int64_t ms = ts_now_ms() - t0;
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM orders", NULL), nevents);
    printf("cratedb %s: %d rows in %.2f s = %.0f rows/s (daemon start to last offset committed)\n", which,
           nevents, ms / 1000.0, nevents * 1000.0 / (double)ms);
    if (srv)
        printf("stand-in: %ld bulk requests, %ld rows\n", cf_stat_int(srv, "bulk_requests"),
               cf_stat_int(srv, "bulk_rows"));
    cf_stop(srv);
    sc_model_free(m);
    free(cfg), free(kafka), free(dir), free(log), free(topic), free(group), free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1)
        nevents = atoi(argv[1]);
    if (argc > 2)
        which = argv[2];
    const TTest *tests[] = {bench};
    return sc_main("cratedb bench", tests, 1);
}
