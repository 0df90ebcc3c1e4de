/* test_direct.c - Debezium events of two source tables on one topic, through
 * a route whose table is `${source.table}` with name rules (src_A -> a,
 * src_b -> b), into PostgreSQL: each record in its own table, and all but
 * the first record of each table read by the
 * direct reader (cells.h), which the daemon's counters show
 * (sluice_direct_records_total, sluice_direct_declined_total). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sluice/strbuf.h"
#include "support.h"

#define N 40 /* events per source table */

/* JsonConverter with schemas: each source table its own envelope schema,
 * the same field names with other types (v: text in a, int64 in b). */
static const char schema_a[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"v\"}],\"optional\":true,\"name\":\"srv.app.a.Value\","
    "\"field\":\"before\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"v\"}],\"optional\":true,\"name\":\"srv.app.a.Value\","
    "\"field\":\"after\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],\"optional\":false,\"field\":\"source\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"srv.app.a.Envelope\"}";
static const char schema_b[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"v\"}],\"optional\":true,\"name\":\"srv.app.b.Value\","
    "\"field\":\"before\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"v\"}],\"optional\":true,\"name\":\"srv.app.b.Value\","
    "\"field\":\"after\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],\"optional\":false,\"field\":\"source\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"srv.app.b.Envelope\"}";

/* One test's world: a fresh schema, a topic and sluice's configuration,
 * whose route `cdc` sends the topic to @table (in the schema) with the
 * route lines @extra; env_run() starts sluice and waits until it has
 * committed the topic, env_stop() stops it and frees the rest. */
typedef struct dz_env {
    PGconn *c;
    char *schema, *topic, *group, *dir, *kafka, *config, *log;
    int port;
    ts_daemon *d;
} dz_env;

static void env_start(dz_env *e, const char *name, const char *table, const char *extra)
{
    ts_kafka_start(1);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, name);
    e->topic = ts_unique_name(name);
    ts_kafka_create_topic(e->topic, 1);
    e->group = ts_unique_name(name);
    e->port = ts_free_port();
    e->dir = ts_tempdir(name);
    e->kafka = sc_kafka_yaml(e->group);
    e->config = ts_write_file(e->dir, "sluice.yaml",
                              "%s"
                              "admin:\n  listen: 127.0.0.1:%d\n"
                              "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "batch:\n  max_rows: 1000\n  linger_ms: 20\n"
                              "routes:\n"
                              "  - name: cdc\n    topics: [\"%s\"]\n    target: pg\n"
                              "    table: %s.%s\n    format: debezium\n%s",
                              e->kafka, e->port, e->topic, e->schema, table, extra);
    e->log = ts_write_file(e->dir, "sluice.log", "%s", "");
}

/* @fmt: SQL naming the schema with %s (twice at most) */
static void env_sql(dz_env *e, const char *fmt)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, e->schema, e->schema);
    ts_pg_exec(e->c, sql, NULL);
}

static void env_run(dz_env *e)
{
    ts_flush();
    e->d = ts_daemon_start(e->config, e->log);
    sc_wait_committed(e->group, e->topic, 1, 120000, e->log);
}

/* The direct reader's counters of route cdc (-1: no such series). */
static void env_direct(dz_env *e, double *direct, double *table, double *record)
{
    *direct = ts_scrape(e->port, "sluice_direct_records_total{route=\"cdc\"}");
    *table = ts_scrape(e->port, "sluice_direct_declined_total{route=\"cdc\",reason=\"table\"}");
    *record = ts_scrape(e->port, "sluice_direct_declined_total{route=\"cdc\",reason=\"record\"}");
}

static void env_stop(dz_env *e)
{
    int code = ts_daemon_stop(e->d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d\n%s", code, sc_log_tail(e->log, 3000));
    ts_daemon_free(e->d);
    free(e->topic);
    free(e->group);
    free(e->dir);
    free(e->kafka);
    free(e->config);
    free(e->log);
    free(e->schema);
    PQfinish(e->c);
    ts_kafka_stop();
}

START_TEST(two_source_tables_on_one_topic_go_direct_each_to_its_table)
{
    dz_env e;
    env_start(&e, "dbz_direct", "${source.table}", "    name_strip_prefix: [src_]\n    name_case: lower\n");
    env_sql(&e, "CREATE TABLE %s.a (id int PRIMARY KEY, v text); CREATE TABLE %s.b (id int PRIMARY KEY, v bigint)");
    /* interleaved: a1 b1 a2 b2 ..., the same keys in both tables */
    for (int i = 1; i <= N; i++) {
        char key[64], value[4096];
        snprintf(key, sizeof(key), "{\"id\":%d}", i);
        snprintf(value, sizeof(value),
                 "{\"schema\":%s,\"payload\":{\"before\":null,\"after\":{\"id\":%d,\"v\":\"a-%d\"},"
                 "\"source\":{\"schema\":\"app\",\"table\":\"src_A\"},\"op\":\"%s\"}}",
                 schema_a, i, i, i % 2 ? "r" : "c");
        ts_produce(e.topic, 0, key, strlen(key), value, strlen(value));
        snprintf(value, sizeof(value),
                 "{\"schema\":%s,\"payload\":{\"before\":null,\"after\":{\"id\":%d,\"v\":%d},"
                 "\"source\":{\"schema\":\"app\",\"table\":\"src_b\"},\"op\":\"r\"}}",
                 schema_b, i, 1000 + i);
        ts_produce(e.topic, 0, key, strlen(key), value, strlen(value));
    }
    env_run(&e);

    char q[256];
    snprintf(q, sizeof(q), "SELECT count(*) || ':' || sum(id) || ':' || "
             "bool_and(v = 'a-' || id) FROM %s.a", e.schema);
    char *got = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(got && !strcmp(got, "40:820:true"), "table a: %s\n%s", got, sc_log_tail(e.log, 3000));
    free(got);
    snprintf(q, sizeof(q), "SELECT count(*) || ':' || sum(id) || ':' || bool_and(v = 1000 + id) FROM %s.b", e.schema);
    got = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(got && !strcmp(got, "40:820:true"), "table b: %s\n%s", got, sc_log_tail(e.log, 3000));
    free(got);
    /* the first record of each table took the general path, which read the
     * table and checked it against the record's schema; every other went
     * direct, to the table its ${source.table} names */
    double direct, first, other;
    env_direct(&e, &direct, &first, &other);
    ck_assert_msg(direct == 2 * N - 2 && first == 2 && other < 0, "direct %g, declined: table %g, record %g", direct,
                  first, other);
    env_stop(&e);
}
END_TEST

/* More tables than the worker's table cache first holds (8): the cache
 * grows by moving its entries, and each direct reader held its entry's
 * mapping by address.  Read after the move, it crashed the daemon (the live
 * CDC test, at its ninth table).  12 source tables, round-robin. */
#define NT 12
#define PER 4
START_TEST(more_tables_than_the_cache_first_holds)
{
    dz_env e;
    env_start(&e, "dbz_many", "${source.table}", "");
    for (int t = 0; t < NT; t++) {
        char ddl[160];
        snprintf(ddl, sizeof(ddl), "CREATE TABLE %%s.t%d (id int PRIMARY KEY, v text)", t);
        env_sql(&e, ddl);
    }
    for (int i = 1; i <= PER; i++)
        for (int t = 0; t < NT; t++) {
            char key[64], value[4096];
            snprintf(key, sizeof(key), "{\"id\":%d}", i);
            snprintf(value, sizeof(value),
                     "{\"schema\":%s,\"payload\":{\"before\":null,\"after\":{\"id\":%d,\"v\":\"t%d-%d\"},"
                     "\"source\":{\"schema\":\"app\",\"table\":\"t%d\"},\"op\":\"c\"}}",
                     schema_a, i, t, i, t);
            ts_produce(e.topic, 0, key, strlen(key), value, strlen(value));
        }
    env_run(&e);
    for (int t = 0; t < NT; t++) {
        char q[256];
        snprintf(q, sizeof(q), "SELECT count(*) || ':' || bool_and(v = 't%d-' || id) FROM %s.t%d", t, e.schema, t);
        char *got = ts_pg_text(e.c, q, NULL);
        ck_assert_msg(got && !strcmp(got, "4:true"), "table t%d: %s\n%s", t, got, sc_log_tail(e.log, 3000));
        free(got);
    }
    /* the tables' later records went direct, before and after the move */
    ck_assert_msg(ts_scrape(e.port, "sluice_direct_records_total{route=\"cdc\"}") > 0, "no record went direct");
    env_stop(&e);
}
END_TEST

/* A row whose fields are a VariableScaleDecimal (PostgreSQL's numeric
 * without a scale) and arrays (text[] and bigint[]), as the PostgreSQL
 * connector writes them under JsonConverter with schemas. */
static const char schema_c[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
    "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":true,"
    "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable scaled decimal\","
    "\"field\":\"n\"},"
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},\"optional\":true,\"field\":\"tags\"},"
    "{\"type\":\"array\",\"items\":{\"type\":\"int64\",\"optional\":true},\"optional\":true,\"field\":\"nums\"}],"
    "\"optional\":true,\"name\":\"srv.app.c.Value\",\"field\":\"after\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],\"optional\":false,\"field\":\"source\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"srv.app.c.Envelope\"}";

#define NC 24 /* rows; row NC / 2 is then updated with its tags unchanged (TOASTed) */

/* The after row of row @id (@update: the later update of row NC / 2,
 * whose tags arrive as the unchanged-TOAST placeholder). */
static void row_c(char *out, size_t size, int id, bool update)
{
    char n[96] = "null"; /* row 7's n is null */
    if (update || id != 7) {
        sl_strbuf v = SL_STRBUF_INIT;
        ts_decimal_base64(&v, update ? -7 : (int64_t)id * 100003 - 1200000);
        snprintf(n, sizeof(n), "{\"scale\":%d,\"value\":\"%s\"}", update ? 1 : 2, v.data);
        sl_strbuf_free(&v);
    }
    const char *tags = update ? "[\"__debezium_unavailable_value\"]"
                       : id % 5 == 0 ? "null"
                       : id % 3 == 0 ? "[]"
                                     : "[\"a,b\",\"q\\\"x\",\"{}\",\"back\\\\slash\",\"\",null,\"NULL\"]";
    snprintf(out, size, "{\"id\":%d,\"n\":%s,\"tags\":%s,\"nums\":[%d,%d,null,9007199254740993]}", id, n, tags,
             id, update ? 0 : -id);
}

/* Rows with a VariableScaleDecimal and arrays go direct (all but the
 * first, which the general path checks the table with, and the update
 * whose tags are the placeholder: its field must be left out, which the
 * general path does), and store what the general path would. */
START_TEST(variable_scale_decimals_and_arrays_go_direct)
{
    dz_env e;
    env_start(&e, "dbz_nested", "c", "");
    env_sql(&e, "CREATE TABLE %s.c (id int PRIMARY KEY, n numeric, tags text[], nums bigint[])");
    for (int i = 1; i <= NC + 1; i++) {
        int id = i <= NC ? i : NC / 2;
        char key[64], row[1024], value[8192];
        snprintf(key, sizeof(key), "{\"id\":%d}", id);
        row_c(row, sizeof(row), id, i > NC);
        snprintf(value, sizeof(value),
                 "{\"schema\":%s,\"payload\":{\"before\":null,\"after\":%s,"
                 "\"source\":{\"schema\":\"app\",\"table\":\"c\"},\"op\":\"%s\"}}",
                 schema_c, row, i > NC ? "u" : "r");
        ts_produce(e.topic, 0, key, strlen(key), value, strlen(value));
    }
    env_run(&e);

    /* every row as the events say, row by row */
    char q[1536];
    snprintf(q, sizeof(q),
             "SELECT count(*) || ':' || count(*) FILTER (WHERE "
             "n IS NOT DISTINCT FROM CASE WHEN id = %d THEN -0.7 WHEN id = 7 THEN NULL "
             "ELSE (id * 100003 - 1200000) / 100.0 END "
             "AND scale(n) IS NOT DISTINCT FROM CASE WHEN id = %d THEN 1 WHEN id = 7 THEN NULL ELSE 2 END "
             "AND tags IS NOT DISTINCT FROM CASE WHEN id %% 5 = 0 THEN NULL WHEN id %% 3 = 0 THEN '{}'::text[] "
             "ELSE ARRAY['a,b', 'q\"x', '{}', E'back\\\\slash', '', NULL, 'NULL'] END "
             "AND nums = ARRAY[id, CASE WHEN id = %d THEN 0 ELSE -id END, NULL, 9007199254740993]::bigint[]) "
             "FROM %s.c",
             NC / 2, NC / 2, NC / 2, e.schema);
    char *got = ts_pg_text(e.c, q, NULL);
    char want[32];
    snprintf(want, sizeof(want), "%d:%d", NC, NC);
    ck_assert_msg(got && !strcmp(got, want), "rows as the events say (count:matching): %s, want %s\n%s", got, want,
                  sc_log_tail(e.log, 3000));
    free(got);
    double direct, first, other;
    env_direct(&e, &direct, &first, &other);
    ck_assert_msg(direct == NC - 1 && first == 1 && other == 1, "direct %g, declined: table %g, record %g", direct,
                  first, other);
    env_stop(&e);
}
END_TEST

/* The record key as JsonConverter with schemas writes Debezium's. */
static void key_of(char *out, size_t size, int id)
{
    snprintf(out, size,
             "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],"
             "\"optional\":false,\"name\":\"srv.app.a.Key\"},\"payload\":{\"id\":%d}}", id);
}

/* One event of table a: @op with @before and @after (JSON text or null),
 * under schema_a; a delete is followed by its tombstone, as Debezium
 * writes them.  @header, @header_value: one header, or NULL. */
static void produce_a(const char *topic, int id, const char *op, const char *before, const char *after,
                      const char *header, const char *header_value)
{
    char key[512], value[4096];
    key_of(key, sizeof(key), id);
    snprintf(value, sizeof(value),
             "{\"schema\":%s,\"payload\":{\"before\":%s,\"after\":%s,"
             "\"source\":{\"schema\":\"app\",\"table\":\"a\"},\"op\":\"%s\"}}",
             schema_a, before, after, op);
    ts_produce_header(topic, 0, key, strlen(key), value, strlen(value), header, header_value);
    if (!strcmp(op, "d"))
        ts_produce(topic, 0, key, strlen(key), NULL, 0);
}

/* Deletes go direct (their tombstones, which carry no value, do not), and
 * meet the rest in one batch: rows deleted and created again, a delete of
 * a key never stored, and a primary-key change (its delete, with the
 * header __debezium.newkey, stays with the general path, which keeps it
 * for its create).  Each tombstone is known as its delete's: ignored, not
 * a second delete. */
START_TEST(deletes_go_direct_beside_tombstones_and_key_changes)
{
    dz_env e;
    env_start(&e, "dbz_del", "a", "");
    env_sql(&e, "CREATE TABLE %s.a (id int PRIMARY KEY, v text)");
    char row[128], key[512];
    for (int i = 1; i <= N; i++) {
        snprintf(row, sizeof(row), "{\"id\":%d,\"v\":\"a-%d\"}", i, i);
        produce_a(e.topic, i, "r", "null", row, NULL, NULL);
    }
    for (int i = 2; i <= N; i += 2) { /* REPLICA IDENTITY DEFAULT: the key alone in before */
        snprintf(row, sizeof(row), "{\"id\":%d,\"v\":null}", i);
        produce_a(e.topic, i, "d", row, "null", NULL, NULL);
    }
    for (int i = 2; i <= 4; i += 2) { /* created again */
        snprintf(row, sizeof(row), "{\"id\":%d,\"v\":\"again-%d\"}", i, i);
        produce_a(e.topic, i, "c", "null", row, NULL, NULL);
    }
    produce_a(e.topic, 999, "d", "{\"id\":999,\"v\":null}", "null", NULL, NULL); /* never stored */
    /* UPDATE a SET id = 1001 WHERE id = 1 */
    key_of(key, sizeof(key), 1001);
    produce_a(e.topic, 1, "d", "{\"id\":1,\"v\":null}", "null", "__debezium.newkey", key);
    key_of(key, sizeof(key), 1);
    produce_a(e.topic, 1001, "c", "null", "{\"id\":1001,\"v\":\"moved\"}", "__debezium.oldkey", key);
    env_run(&e);

    char q[512];
    snprintf(q, sizeof(q),
             "SELECT count(*) || ':' || string_agg(id || '=' || v, ',' ORDER BY id) FILTER (WHERE v NOT LIKE 'a-%%') || ':' || "
             "bool_and(v = 'a-' || id OR id IN (2, 4, 1001)) || ':' || bool_and(id %% 2 = 1 OR id IN (2, 4)) FROM %s.a",
             e.schema);
    char *got = ts_pg_text(e.c, q, NULL);
    /* odd ids but 1 (19), 2 and 4 again, and 1001 */
    ck_assert_msg(got && !strcmp(got, "22:2=again-2,4=again-4,1001=moved:true:true"), "table a: %s\n%s", got,
                  sc_log_tail(e.log, 3000));
    free(got);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.a WHERE id IN (1, 999)", e.schema);
    got = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(got && !strcmp(got, "0"), "ids 1, 999: %s", got);
    free(got);
    /* direct: the creates but the first (39), the deletes (20, and 999's),
     * the two created again; the general path: the first create, the key
     * change's two events and the 22 tombstones, each ignored */
    double direct, first, other;
    env_direct(&e, &direct, &first, &other);
    double ignored = ts_scrape(e.port, "sluice_records_ignored_total{route=\"cdc\"}");
    ck_assert_msg(direct == (N - 1) + N / 2 + 1 + 2 && first == 1 && other == 2 + N / 2 + 2 && ignored == N / 2 + 2,
                  "direct %g, declined: table %g, record %g; ignored %g", direct, first, other, ignored);
    env_stop(&e);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {two_source_tables_on_one_topic_go_direct_each_to_its_table,
                            more_tables_than_the_cache_first_holds, variable_scale_decimals_and_arrays_go_direct,
                            deletes_go_direct_beside_tombstones_and_key_changes};
    return sc_main("debezium direct", tests, 4);
}
