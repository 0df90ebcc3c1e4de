/* test_cratedb_real.c - the orders scenario against a real CrateDB, opt-in:
 * SLUICE_TEST_CRATEDB_URL=http://host:4200 runs it over HTTP,
 * SLUICE_TEST_CRATEDB_DSN="host=... port=5432 user=crate" over pgwire
 * (both when both are set); skipped (77) otherwise.  Kafka is the mock
 * cluster, or SLUICE_TEST_BOOTSTRAP.  After the group committed the topic,
 * REFRESH TABLE makes the writes visible, then the stored rows are compared
 * with the model: count, sum of qty and the set of ids. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "scenario.h"
#include "support.h"
#include "runner.h"

#define NPARTS 4

static const char table_sql[] =
    "CREATE TABLE %s (id BIGINT PRIMARY KEY, customer TEXT NOT NULL, qty INTEGER, amount NUMERIC(12, 2),"
    " ts TIMESTAMP WITH TIME ZONE, attrs OBJECT(DYNAMIC), note TEXT) CLUSTERED INTO 4 SHARDS";

/* One statement on the real CrateDB; the first row's first column as text. */
static char *crate_exec(const char *url, const char *dsn, const char *sql)
{
    if (url) {
        char *body = NULL;
        long st = cf_sql(url, "doc", sql, &body);
        ck_assert_msg(st == 200, "%s: HTTP %ld %s", sql, st, body);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        json_t *v = json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0);
        char *out = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        json_decref(j);
        return out;
    }
    PGconn *c = PQconnectdb(dsn);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    char *out = PQntuples(r) && PQnfields(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    PQfinish(c);
    return out;
}

static void scenario(const char *url, const char *dsn)
{
    ts_kafka_start(1);
    char *table = ts_unique_name("sluice_orders"), *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_real");
    ts_kafka_create_topic(topic, NPARTS);
    char sql[1024];
    snprintf(sql, sizeof(sql), table_sql, table);
    free(crate_exec(url, dsn, sql));
    sc_model *m = sc_model_new(300, NPARTS, 9);
    sc_produce_orders(m, topic, 5000, 10);
    char *dir = ts_tempdir("crate_real"), *kafka = sc_kafka_yaml(group);
    char target[512];
    if (url)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", url);
    else
        snprintf(target, sizeof(target), "    dsn: \"%s\"\n", dsn);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n%s    schema: doc\n"
                              "routes:\n  - topics: [%s]\n    target: crate\n    table: %s\n    format: json\n"
                              "    mode: upsert\n    delete_on_tombstone: true\nbatch:\n  max_rows: 1000\n",
                              kafka, target, topic, table);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, NPARTS, 300000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    snprintf(sql, sizeof(sql), "REFRESH TABLE %s", table);
    free(crate_exec(url, dsn, sql));
    int64_t rows = 0, qty = 0;
    for (int k = 0; k < m->nkeys; k++)
        if (m->last_seq[k] >= 0)
            rows++, qty += m->last_seq[k];
    snprintf(sql, sizeof(sql), "SELECT count(*) || '/' || coalesce(sum(qty), 0) FROM %s", table);
    char *got = crate_exec(url, dsn, sql), want[64];
    snprintf(want, sizeof(want), url ? "\"%" PRId64 "/%" PRId64 "\"" : "%" PRId64 "/%" PRId64, rows, qty);
    ck_assert_msg(got && !strcmp(got, want), "CrateDB holds %s rows/sum(qty), expected %s", got, want);
    free(got);
    snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
    free(crate_exec(url, dsn, sql));
    sc_model_free(m);
    free(cfg), free(kafka), free(dir), free(log), free(table), free(topic), free(group);
    ts_kafka_stop();
}

START_TEST(real_http) { scenario(getenv("SLUICE_TEST_CRATEDB_URL"), NULL); }
END_TEST
START_TEST(real_pgwire) { scenario(NULL, getenv("SLUICE_TEST_CRATEDB_DSN")); }
END_TEST

int main(void)
{
    const char *url = getenv("SLUICE_TEST_CRATEDB_URL"), *dsn = getenv("SLUICE_TEST_CRATEDB_DSN");
    if (!url && !dsn) {
        printf("SKIP: set SLUICE_TEST_CRATEDB_URL and/or SLUICE_TEST_CRATEDB_DSN to run against a real CrateDB\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("cratedb real");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, 600);
    if (url)
        tcase_add_test(tc, real_http);
    if (dsn)
        tcase_add_test(tc, real_pgwire);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
