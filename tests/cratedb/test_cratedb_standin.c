/* test_cratedb_standin.c - the stand-in answers as the real CrateDB 6.4.1
 * was seen to answer, one test per behaviour (crate_server.py names each
 * one's source), and sluice copes with the answers that stopped it there:
 * 40411 DocumentMissingException on bulk upserts, and rows reported -2
 * without an error once a request has more than 10 failed rows. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "runner.h"
#include "scenario.h"
#include "support.h"

#define NPARTS 4

typedef struct env {
    cf_server *srv;
    PGconn *pg;
    char *schema;
} env;

static void env_start(env *e, const char *base)
{
    memset(e, 0, sizeof(*e));
    e->pg = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->pg, base);
    e->srv = cf_start();
}

static void env_stop(env *e)
{
    cf_stop(e->srv);
    PQfinish(e->pg);
    free(e->schema);
}

/* POST @req; the answer parsed, its status in *@status. */
static json_t *post(env *e, const char *req, long *status)
{
    char *body = NULL;
    *status = cf_post(e->srv->url, e->schema, req, &body);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_msg(j, "not JSON: %s", body);
    free(body);
    return j;
}

static void sql_ok(env *e, const char *stmt)
{
    char *body = NULL;
    long st = cf_sql(e->srv->url, e->schema, stmt, &body);
    ck_assert_msg(st == 200, "%s: HTTP %ld %s", stmt, st, body);
    free(body);
}

static int64_t pg_count(env *e, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".%s", e->schema, table);
    return ts_pg_int(e->pg, sql, NULL);
}

/* real server: a duplicate key inside one bulk INSERT fails only that row */
START_TEST(duplicate_key_in_bulk_fails_only_that_row)
{
    env e;
    env_start(&e, "standin_dup");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)");
    long st;
    json_t *j = post(&e, "{\"stmt\": \"INSERT INTO t (id, v) VALUES ($1, $2)\", "
                         "\"bulk_args\": [[1, \"a\"], [1, \"b\"], [2, \"c\"]]}", &st);
    ck_assert_int_eq(st, 200);
    json_t *r = json_object_get(j, "results");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r, 0), "rowcount")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r, 1), "rowcount")), -2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_array_get(r, 1), "error"), "code")),
                     4091);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r, 2), "rowcount")), 1);
    json_decref(j);
    ck_assert_int_eq(pg_count(&e, "t"), 2);
    env_stop(&e);
}
END_TEST

/* real server: a value that cannot be cast fails the whole request (HTTP
 * 400), before any row is written */
START_TEST(cast_failure_fails_the_whole_request)
{
    env e;
    env_start(&e, "standin_cast");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY, ts TIMESTAMP WITH TIME ZONE)");
    long st;
    json_t *j = post(&e, "{\"stmt\": \"INSERT INTO t (id, ts) VALUES ($1, $2)\", "
                         "\"bulk_args\": [[1, 1700000000000], [2, \"not a time\"], [3, 1700000000000]]}", &st);
    ck_assert_int_eq(st, 400);
    json_t *err = json_object_get(j, "error");
    ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), 4000);
    ck_assert_msg(strstr(json_string_value(json_object_get(err, "message")), "Cannot cast"), "%s",
                  json_string_value(json_object_get(err, "message")));
    json_decref(j);
    ck_assert_int_eq(pg_count(&e, "t"), 0);
    env_stop(&e);
}
END_TEST

/* CrateDB keeps the error objects of the first 10 failed rows of a shard
 * request; the others are -2 alone */
START_TEST(errors_beyond_ten_come_without_reason)
{
    env e;
    env_start(&e, "standin_ten");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY)");
    sl_strbuf req = SL_STRBUF_INIT;
    sl_strbuf_puts(&req, "{\"stmt\": \"INSERT INTO t (id) VALUES ($1)\", \"bulk_args\": [[7]");
    for (int i = 0; i < 14; i++)
        sl_strbuf_puts(&req, ", [7]");
    sl_strbuf_puts(&req, "]}");
    long st;
    json_t *j = post(&e, req.data, &st);
    sl_strbuf_free(&req);
    ck_assert_int_eq(st, 200);
    json_t *r = json_object_get(j, "results");
    ck_assert_uint_eq(json_array_size(r), 15);
    int with = 0, without = 0;
    for (size_t i = 1; i < 15; i++) {
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r, i), "rowcount")), -2);
        json_object_get(json_array_get(r, i), "error") ? with++ : without++;
    }
    ck_assert_int_eq(with, 10);
    ck_assert_int_eq(without, 4);
    json_decref(j);
    env_stop(&e);
}
END_TEST

/* "Refresh": SELECT sees a write after REFRESH TABLE (or the interval) */
START_TEST(writes_visible_after_refresh)
{
    env e;
    env_start(&e, "standin_refresh");
    cf_faults(e.srv, "{\"refresh_interval_ms\": 600000}");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY)");
    long st;
    json_decref(post(&e, "{\"stmt\": \"INSERT INTO t (id) VALUES ($1)\", \"bulk_args\": [[1], [2]]}", &st));
    ck_assert_int_eq(st, 200);
    json_t *j = post(&e, "{\"stmt\": \"SELECT count(*) FROM t\"}", &st);
    ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0)), 0);
    json_decref(j);
    /* a DELETE by a column that is not the whole key is a query: it misses them too */
    json_decref(post(&e, "{\"stmt\": \"CREATE TABLE p (id BIGINT, ts TIMESTAMP WITH TIME ZONE, month TIMESTAMP WITH "
                         "TIME ZONE GENERATED ALWAYS AS date_trunc('month', ts), PRIMARY KEY (id, month)) "
                         "PARTITIONED BY (month)\"}", &st));
    ck_assert_int_eq(st, 200);
    json_decref(post(&e, "{\"stmt\": \"INSERT INTO p (id, ts) VALUES ($1, $2)\", \"bulk_args\": [[1, 1700000000000]]}",
                     &st));
    j = post(&e, "{\"stmt\": \"DELETE FROM p WHERE id = $1\", \"bulk_args\": [[1]]}", &st);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "rowcount")),
                     0);
    json_decref(j);
    ck_assert_int_eq(pg_count(&e, "p"), 1);
    sql_ok(&e, "REFRESH TABLE t");
    j = post(&e, "{\"stmt\": \"SELECT count(*) FROM t\"}", &st);
    ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0)), 2);
    json_decref(j);
    sql_ok(&e, "REFRESH TABLE p");
    j = post(&e, "{\"stmt\": \"DELETE FROM p WHERE id = $1\", \"bulk_args\": [[1]]}", &st);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "rowcount")),
                     1);
    json_decref(j);
    env_stop(&e);
}
END_TEST

/* real server: routing and partition columns cannot be updated */
START_TEST(routing_columns_refused_in_set)
{
    env e;
    env_start(&e, "standin_set");
    sql_ok(&e, "CREATE TABLE t (id BIGINT, tenant TEXT, v TEXT, PRIMARY KEY (id, tenant)) CLUSTERED BY (tenant) "
               "INTO 4 SHARDS");
    sql_ok(&e, "CREATE TABLE p (id BIGINT, region TEXT, v TEXT) PARTITIONED BY (region)");
    long st;
    json_t *j;
    char req[512];
    snprintf(req, sizeof(req), "{\"stmt\": \"SELECT clustered_by, partitioned_by FROM information_schema.tables "
                               "WHERE table_schema = $1 AND table_name = $2\", \"args\": [\"%s\", \"t\"]}", e.schema);
    j = post(&e, req, &st);
    char *trows = json_dumps(json_object_get(j, "rows"), JSON_COMPACT);
    ck_assert_str_eq(trows, "[[\"tenant\",null]]");
    free(trows);
    json_decref(j);
    j = post(&e, "{\"stmt\": \"INSERT INTO t (id, tenant, v) VALUES ($1, $2, $3) ON CONFLICT (id, tenant) DO UPDATE "
                 "SET tenant = excluded.tenant\", \"bulk_args\": [[1, \"a\", \"x\"]]}", &st);
    ck_assert_int_eq(st, 400);
    json_decref(j);
    snprintf(req, sizeof(req), "{\"stmt\": \"SELECT clustered_by, partitioned_by FROM information_schema.tables "
                               "WHERE table_schema = $1 AND table_name = $2\", \"args\": [\"%s\", \"p\"]}", e.schema);
    j = post(&e, req, &st);
    char *rows = json_dumps(json_object_get(j, "rows"), JSON_COMPACT);
    ck_assert_str_eq(rows, "[[\"_id\",[\"region\"]]]");
    free(rows);
    json_decref(j);
    j = post(&e, "{\"stmt\": \"INSERT INTO p (id, region, v) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
                 "region = excluded.region\", \"bulk_args\": [[1, \"eu\", \"x\"]]}", &st);
    ck_assert_int_eq(st, 400);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     "ColumnValidationException[Validation failed for region: Updating a partitioned-by column is not "
                     "supported]");
    json_decref(j);
    env_stop(&e);
}
END_TEST

/* pgwire, as seen there: server_version 14.0, no COPY FROM STDIN, ROLLBACK a
 * syntax error, a duplicate key SQLSTATE 23505 */
START_TEST(pgwire_dialect)
{
    env e;
    env_start(&e, "standin_pgwire");
    PGconn *c = PQconnectdb(e.srv->dsn);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    ck_assert_str_eq(PQparameterStatus(c, "server_version"), "14.0");
    PGresult *r = PQexec(c, "SHOW server_version");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "14.0");
    PQclear(r);
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE TABLE \"%s\".t (id BIGINT PRIMARY KEY) CLUSTERED INTO 2 SHARDS", e.schema);
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    snprintf(sql, sizeof(sql), "COPY \"%s\".t FROM STDIN", e.schema);
    r = PQexec(c, sql);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
    PQclear(r);
    r = PQexec(c, "ROLLBACK");
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42601");
    PQclear(r);
    snprintf(sql, sizeof(sql), "INSERT INTO \"%s\".t (id) VALUES (1)", e.schema);
    PQclear(PQexec(c, sql));
    r = PQexec(c, sql);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
    PQclear(r);
    snprintf(sql, sizeof(sql), "REFRESH TABLE \"%s\".t", e.schema);
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    env_stop(&e);
}
END_TEST

/* ---- sluice against those answers ---- */

static void run_daemon(env *e, const char *table, const char *topic, const char *group, const char *dir)
{
    char *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n  - topics: [%s]\n    target: crate\n    table: %s\n    format: json\n"
                              "    mode: upsert\n    delete_on_tombstone: true\n"
                              "batch:\n  max_rows: 500\n  linger_ms: 20\n"
                              "retry:\n  initial_backoff_ms: 20ms\n  max_backoff_ms: 200ms\n",
                              kafka, e->srv->url, e->schema, topic, table);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, NPARTS, 120000, log);
    int code = ts_daemon_stop(d, 60000);
    char *tail = sc_log_tail(log, 4000);
    ck_assert_msg(code == 0, "sluice exited with %d; log tail:\n%s", code, tail);
    ck_assert_msg(!strstr(tail, "not written 3 times"), "a row was given up:\n%s", tail);
    free(tail);
    ts_daemon_free(d);
    free(cfg), free(kafka), free(log);
}

/* The keys in limbo (taken, no document) answer 40411 to every upsert until
 * their key is deleted: sluice deletes it and writes the row again, and
 * neither stops nor gives the row up. */
START_TEST(document_missing_is_deleted_and_written_again)
{
    ts_kafka_start(1);
    env e;
    env_start(&e, "standin_40411");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT, note TEXT)");
    char *topic = ts_unique_name("docmissing"), *group = ts_unique_name("sluice_docmissing");
    ts_kafka_create_topic(topic, NPARTS);
    char k[32], v[96];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 100; i++) {
            snprintf(k, sizeof(k), "%d", 500000 + i);
            snprintf(v, sizeof(v), "{\"id\":%d,\"v\":%d,\"note\":\"round %d\"}", 500000 + i, round * 1000 + i, round);
            ts_produce(topic, i % NPARTS, k, strlen(k), v, strlen(v));
        }
    ts_flush();
    cf_faults(e.srv, "{\"doc_missing\": [500003, 500017, 500042]}");
    char *dir = ts_tempdir("standin_40411");
    run_daemon(&e, "t", topic, group, dir);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\".t WHERE v = 1000 + id - 500000", e.schema);
    ck_assert_int_eq(ts_pg_int(e.pg, sql, NULL), 100);
    ck_assert_int_eq(pg_count(&e, "t"), 100);
    char *stats = cf_stats(e.srv);
    ck_assert_msg(strstr(stats, "DELETE FROM"), "no delete was sent: %s", stats);
    free(stats);
    free(dir), free(topic), free(group);
    env_stop(&e);
    ts_kafka_stop();
}
END_TEST

/* 15 rows failing for a passing reason in one request: 10 say why, 5 come
 * as -2 alone; sluice sends those alone, and every row is written. */
START_TEST(many_failed_rows_without_reason_are_written)
{
    ts_kafka_start(1);
    env e;
    env_start(&e, "standin_many");
    sql_ok(&e, "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT, note TEXT)");
    char *topic = ts_unique_name("manyfail"), *group = ts_unique_name("sluice_manyfail");
    ts_kafka_create_topic(topic, NPARTS);
    char k[32], v[96];
    for (int i = 0; i < 60; i++) {
        snprintf(k, sizeof(k), "%d", i);
        snprintf(v, sizeof(v), "{\"id\":%d,\"v\":%d,\"note\":\"%s\"}", i, i, i % 4 == 0 ? "busy" : "calm");
        ts_produce(topic, 0, k, strlen(k), v, strlen(v));
    }
    ts_flush();
    cf_faults(e.srv, "{\"fail_value\": \"busy\", \"fail_code\": 5002, \"fail_message\": "
                     "\"ShardsUnavailable[shard not available]\", \"fail_count\": 15}");
    char *dir = ts_tempdir("standin_many");
    run_daemon(&e, "t", topic, group, dir);
    ck_assert_int_eq(pg_count(&e, "t"), 60);
    ck_assert_int_eq(cf_stat_int(e.srv, "failed_rows"), 15);
    free(dir), free(topic), free(group);
    env_stop(&e);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    if (!getenv("SLUICE_TEST_DSN")) {
        printf("SKIP: SLUICE_TEST_DSN is not set\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("cratedb stand-in");
    TCase *tc = tcase_create("behaviours");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, duplicate_key_in_bulk_fails_only_that_row);
    tcase_add_test(tc, cast_failure_fails_the_whole_request);
    tcase_add_test(tc, errors_beyond_ten_come_without_reason);
    tcase_add_test(tc, writes_visible_after_refresh);
    tcase_add_test(tc, routing_columns_refused_in_set);
    tcase_add_test(tc, pgwire_dialect);
    tcase_add_test(tc, document_missing_is_deleted_and_written_again);
    tcase_add_test(tc, many_failed_rows_without_reason_are_written);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
