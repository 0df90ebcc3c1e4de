/* test_cratedb_types.c - CrateDB's types as its guides use them, from JSON
 * records and Debezium JSON change events through both transports:
 * OBJECT(DYNAMIC), OBJECT(STRICT) with declared sub-columns, OBJECT(IGNORED), each with nested values; arrays;
 * GEO_POINT; TIMESTAMP with and without time zone; TEXT with a full-text
 * index; BIT(n); FLOAT_VECTOR(n).  The stored values are read back over
 * HTTP and compared with what the records say, in the shape CrateDB answers
 * (timestamps as epoch milliseconds, BIT as B'...', geo points as
 * [lon, lat]).  Against the stand-in (crate_server.py over the test
 * PostgreSQL; it translates the DDL as its header says). */
#include <check.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "runner.h"
#include "scenario.h"
#include "support.h"

typedef enum { T_HTTP, T_PG } transport;

static const char *ddl =
    "CREATE TABLE %s (id BIGINT PRIMARY KEY,"
    " dyn OBJECT(DYNAMIC), strict_o OBJECT(STRICT) AS (a INTEGER, b TEXT, inner_o OBJECT AS (c TEXT)),"
    " ign OBJECT(IGNORED), tags ARRAY(TEXT), nums BIGINT[], loc GEO_POINT,"
    " tstz TIMESTAMP WITH TIME ZONE, tsl TIMESTAMP WITHOUT TIME ZONE,"
    " body TEXT INDEX USING FULLTEXT WITH (analyzer = 'english'),"
    " flags BIT(8), emb FLOAT_VECTOR(3))";

/* key, value: id 2 is written twice, the second value must win */
static const char *records[][2] = {
    {"{\"id\":1}",
     "{\"id\":1,\"dyn\":{\"a\":1,\"nested\":{\"b\":[1,2],\"c\":\"x\"}},"
     "\"strict_o\":{\"a\":7,\"b\":\"s\",\"inner_o\":{\"c\":\"deep\"}},\"ign\":{\"any\":{\"deep\":true},\"n\":[1,\"two\"]},"
     "\"tags\":[\"x\",\"y\"],\"nums\":[1,-2,9007199254740993],\"loc\":[13.46738,52.50463],"
     "\"tstz\":\"2024-05-01T12:00:00.123+02:00\",\"tsl\":\"2024-05-01T12:00:00.123\","
     "\"body\":\"The quick brown fox jumps\",\"flags\":\"00010010\",\"emb\":[1.5,2.25,-3.0]}"},
    {"{\"id\":2}", "{\"id\":2,\"dyn\":{\"old\":true},\"tags\":[\"old\"],\"flags\":\"11111111\"}"},
    {"{\"id\":2}",
     "{\"id\":2,\"dyn\":{},\"strict_o\":{\"a\":-1},\"ign\":{},\"tags\":[],\"nums\":[],\"loc\":[-0.5,0.25],"
     "\"tstz\":1714564800000,\"tsl\":0,\"body\":\"\",\"flags\":\"00000001\",\"emb\":[0,0,1]}"},
};
#define NRECS (sizeof(records) / sizeof(records[0]))

/* What CrateDB answers for SELECT id, dyn, strict_o, ign, tags, nums, loc, tstz, tsl, body, flags, emb
 * ORDER BY id: timestamps as epoch milliseconds ("Dates and times"),
 * BIT(n) as B'...' ("BIT(n)"), geo points as [lon, lat] ("GEO_POINT"). */
static const char *want =
    "[[1,{\"a\":1,\"nested\":{\"b\":[1,2],\"c\":\"x\"}},{\"a\":7,\"b\":\"s\",\"inner_o\":{\"c\":\"deep\"}},"
    "{\"any\":{\"deep\":true},\"n\":[1,\"two\"]},[\"x\",\"y\"],[1,-2,9007199254740993],[13.46738,52.50463],"
    "1714557600123,1714564800123,\"The quick brown fox jumps\",\"B'00010010'\",[1.5,2.25,-3.0]],"
    "[2,{},{\"a\":-1},{},[],[],[-0.5,0.25],1714564800000,0,\"\",\"B'00000001'\",[0.0,0.0,1.0]]]";

/* @fmt "json": the records as they are; "debezium": each value the "after"
 * of a Debezium change event without schemas (as the JSON converter writes
 * with schemas.enable=false), a create then updates. */
static void run(transport tp, const char *fmt)
{
    bool dbz = !strcmp(fmt, "debezium");
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, tp == T_HTTP ? "crate_types_http" : "crate_types_pg");
    ts_kafka_start(1);
    cf_server *srv = cf_start();
    char *table = ts_unique_name("types"), *topic = ts_unique_name("crate_types"),
         *group = ts_unique_name("sluice_types");
    char sql[1024];
    snprintf(sql, sizeof(sql), ddl, table);
    char *body = NULL;
    long st = cf_sql(srv->url, schema, sql, &body);
    ck_assert_msg(st == 200, "%s: HTTP %ld %s", sql, st, body);
    free(body);
    ts_kafka_create_topic(topic, 1);
    for (size_t i = 0; i < NRECS; i++) {
        char *v = NULL;
        if (dbz)
            ck_assert(asprintf(&v, "{\"before\":null,\"after\":%s,\"op\":\"%s\",\"ts_ms\":1714564800000}",
                               records[i][1], i < 2 ? "c" : "u") > 0);
        else
            v = strdup(records[i][1]);
        ts_produce(topic, 0, records[i][0], strlen(records[i][0]), v, strlen(v));
        free(v);
    }
    ts_flush();

    char *dir = ts_tempdir("crate_types"), *kafka = sc_kafka_yaml(group);
    char target[640];
    if (tp == T_HTTP)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", srv->url);
    else
        snprintf(target, sizeof(target), "    dsn: \"%s\"\n", srv->dsn);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n%s    schema: \"%s\"\n"
                              "routes:\n"
                              "  - topics: [%s]\n    target: crate\n    table: %s\n    format: %s\n"
                              "    mode: upsert\n"
                              "batch:\n  max_rows: 1\n  linger_ms: 5\n",
                              kafka, target, schema, topic, table, fmt);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *dm = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    int code = ts_daemon_stop(dm, 60000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(code == 0, "sluice exited with %d; log tail:\n%s", code, tail);
    ck_assert_msg(!strstr(tail, "not written") && !strstr(tail, "ERROR"), "rows were refused:\n%s", tail);
    free(tail);
    ts_daemon_free(dm);

    snprintf(sql, sizeof(sql), "REFRESH TABLE %s", table);
    st = cf_sql(srv->url, schema, sql, &body);
    ck_assert_int_eq(st, 200);
    free(body);
    snprintf(sql, sizeof(sql),
             "SELECT id, dyn, strict_o, ign, tags, nums, loc, tstz, tsl, body, flags, emb FROM %s ORDER BY id", table);
    st = cf_sql(srv->url, schema, sql, &body);
    ck_assert_msg(st == 200, "%s: HTTP %ld %s", sql, st, body);
    json_t *ans = json_loads(body, 0, NULL), *w = json_loads(want, 0, NULL);
    ck_assert_ptr_nonnull(ans);
    ck_assert_ptr_nonnull(w);
    json_t *rows = json_object_get(ans, "rows");
    char *got = json_dumps(rows, JSON_COMPACT);
    ck_assert_msg(json_equal(rows, w), "%s over %s stored\n%s\nexpected\n%s", fmt,
                  tp == T_HTTP ? "HTTP" : "pgwire", got, want);
    printf("types from %s over %s: every value stored as the records say\n", fmt, tp == T_HTTP ? "HTTP" : "pgwire");
    free(got);
    json_decref(ans);
    json_decref(w);
    free(body);
    free(cfg), free(kafka), free(dir), free(log), free(table), free(topic), free(group);
    cf_stop(srv);
    ts_kafka_stop();
    PQfinish(pg);
    free(schema);
}

START_TEST(each_format_and_transport) { run(_i % 2 ? T_PG : T_HTTP, _i / 2 ? "debezium" : "json"); }
END_TEST

int main(void)
{
    if (!getenv("SLUICE_TEST_DSN")) {
        printf("SKIP: SLUICE_TEST_DSN (for the stand-in) is not set\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("cratedb types");
    TCase *tc = tcase_create("types");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, each_format_and_transport, 0, 4);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
