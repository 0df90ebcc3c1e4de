/* test_samples.c - every Debezium-written sample of tests/debezium/data/
 * (README.md there names each file's topic, key and expected state) goes
 * through the sluice daemon, librdkafka's mock cluster and a real
 * PostgreSQL; after each phase the tables must hold exactly the states the
 * README gives.  One daemon runs throughout; a phase ends when the group
 * has committed every topic to its end. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

/* The sample topics; each gets a unique name per run. */
enum {
    T_PGDOCS, T_MYSQLDOCS, T_TUTORIAL, T_SNAPSHOT, T_K8S, T_WASM, T_SERDE, T_PGREAD,
    T_DECIMAL, T_FRACTEST, T_ZEROTEST, T_DATE, T_JSON, T_SQLSERVER, T_ZONED,
    T_FLAT, T_FLATMETA, T_FLATROW, NTOPICS
};
static char *topic[NTOPICS];
static char *cache_prefix; /* pgcache topics: <prefix>.inventory.{purchaseorder,orderline} */
static char *cache_topic[2];
static char *schema;
static char *logpath;

static char *slurp(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/debezium/data/%s", SOURCE_ROOT, name);
    char *s = ts_read_file(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

/* Produce one record: key and value from sample files ("=..." is literal
 * text; NULL or a file holding `null` is no key / a tombstone). */
static void put(const char *t, const char *key, const char *value)
{
    char *k = key ? (key[0] == '=' ? strdup(key + 1) : slurp(key)) : NULL;
    char *v = value ? (value[0] == '=' ? strdup(value + 1) : slurp(value)) : NULL;
    if (k && !strncmp(k, "null", 4) && strspn(k + 4, " \r\n") == strlen(k + 4)) {
        free(k);
        k = NULL;
    }
    if (v && !strncmp(v, "null", 4) && strspn(v + 4, " \r\n") == strlen(v + 4)) {
        free(v);
        v = NULL;
    }
    ts_produce(t, 0, k, k ? strlen(k) : 0, v, v ? strlen(v) : 0);
    free(k);
    free(v);
}

static void settle(const char *group)
{
    ts_flush();
    for (int i = 0; i < NTOPICS; i++)
        sc_wait_committed(group, topic[i], 1, 120000, logpath);
    for (int i = 0; i < 2; i++)
        sc_wait_committed(group, cache_topic[i], 1, 120000, logpath);
}

/* The rows of @sql (one text column) joined with ';' must equal @want. */
static void expect(PGconn *c, const char *want, const char *sql)
{
    char q[2048];
    snprintf(q, sizeof(q), "SELECT coalesce(string_agg(x, ';'), '') FROM (%s) AS q(x)", sql);
    char *got = ts_pg_text(c, q, NULL);
    ck_assert_msg(got && !strcmp(got, want), "%s\n  want: %s\n  got:  %s\nlog tail:\n%s", sql, want,
                  got ? got : "(null)", sc_log_tail(logpath, 2000));
    free(got);
}

static const char tables_sql[] =
    "CREATE TABLE customers_a (id int PRIMARY KEY, first_name text, last_name text, email text,"
    "  src_op text, src_lsn bigint, src_table text);"
    "CREATE TABLE customers_b (id int PRIMARY KEY, first_name text, last_name text, email text);"
    "CREATE TABLE customers_c (id int PRIMARY KEY, first_name text, last_name text, email text);"
    "CREATE TABLE products_on_hand (product_id int PRIMARY KEY, quantity int);"
    "CREATE TABLE customers_k (id int PRIMARY KEY, first_name text, last_name text, email text);"
    "CREATE TABLE customers_w (id int PRIMARY KEY, first_name text, last_name text, email text);"
    "CREATE TABLE customers_s (id int PRIMARY KEY, first_name text, middle_name text, last_name text, email text);"
    "CREATE TABLE customers_e (id int PRIMARY KEY, first_name text, last_name text, email text, biography text);"
    "CREATE TABLE purchaseorder (id int PRIMARY KEY, customerid int, orderdate timestamp);"
    "CREATE TABLE orderline (id int PRIMARY KEY, item text, quantity int, status text,"
    "  totalprice numeric(10,2), order_id int);"
    "CREATE TABLE dbz_147 (pk_column int PRIMARY KEY, decimal_value numeric(7,2));"
    "CREATE TABLE fractest (n bigserial PRIMARY KEY, c1 date, c2 time, c3 timestamp, c4 timestamp);"
    "CREATE TABLE orders (order_number int PRIMARY KEY, order_date date, purchaser int, quantity int,"
    "  product_id int);"
    "CREATE TABLE jsontable (id int PRIMARY KEY, json jsonb, \"expectedJdbcStr\" text,"
    "  \"expectedBinlogStr\" text);"
    "CREATE TABLE emp (empno int PRIMARY KEY, fname text, lname text, job text, mgr int,"
    "  hiredate timestamp, sal numeric(19,4), comm numeric(19,4), dept int);"
    "CREATE TABLE zoned (id int PRIMARY KEY, first_name text, last_name text, email text,"
    "  created_at timestamptz);"
    "CREATE TABLE flat (pk int PRIMARY KEY, cola text, field1 text, field2 text);"
    "CREATE TABLE flat_meta (pk int PRIMARY KEY, op text, lsn text, src_ts text, src_table text);"
    "CREATE TABLE customers_u (id int PRIMARY KEY, first_name text, last_name text, email text)";

static void route(FILE *f, const char *t, const char *table, const char *extra)
{
    fprintf(f,
            "  - topics: [\"%s\"]\n"
            "    target: pg\n"
            "    table: %s.%s\n"
            "    format: debezium\n"
            "%s",
            t, schema, table, extra ? extra : "");
}

static char *write_config(const char *dir, const char *group)
{
    char *kafka = sc_kafka_yaml(group);
    char *path;
    ck_assert(asprintf(&path, "%s/sluice.yaml", dir) > 0);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "%s"
            "targets:\n"
            "  pg:\n"
            "    type: postgresql\n"
            "    dsn: \"${SLUICE_TEST_DSN}\"\n"
            "batch:\n"
            "  max_rows: 100\n"
            "  linger_ms: 20\n"
            "routes:\n",
            kafka);
    route(f, topic[T_PGDOCS], "customers_a",
          "    add_columns: {src_op: op, src_lsn: source.lsn, src_table: source.table}\n");
    route(f, topic[T_MYSQLDOCS], "customers_b", NULL);
    route(f, topic[T_TUTORIAL], "customers_c", NULL);
    route(f, topic[T_SNAPSHOT], "products_on_hand", NULL);
    route(f, topic[T_K8S], "customers_k", NULL);
    route(f, topic[T_WASM], "customers_w", NULL);
    route(f, topic[T_SERDE], "customers_s", NULL);
    route(f, topic[T_PGREAD], "customers_e", NULL);
    route(f, topic[T_DECIMAL], "dbz_147", NULL);
    /* no primary key at the source: the events carry no key, rows are appended */
    fprintf(f,
            "  - topics: [\"%s\", \"%s\"]\n"
            "    target: pg\n"
            "    table: %s.fractest\n"
            "    format: debezium\n"
            "    mode: insert\n",
            topic[T_FRACTEST], topic[T_ZEROTEST], schema);
    route(f, topic[T_DATE], "orders", NULL);
    route(f, topic[T_JSON], "jsontable", NULL);
    route(f, topic[T_SQLSERVER], "emp", NULL);
    route(f, topic[T_ZONED], "zoned", NULL);
    route(f, topic[T_FLAT], "flat", NULL);
    route(f, topic[T_FLATMETA], "flat_meta", "    add_columns: {op: op, lsn: source.lsn, src_ts: source.ts_ms, src_table: source.table}\n");
    route(f, topic[T_FLATROW], "customers_u", NULL);
    /* a whole source database through one pattern, tables named by the events;
     * schemaless MicroTimestamp values are microseconds */
    fprintf(f,
            "  - topic_pattern: '^%s\\.inventory\\..*'\n"
            "    target: pg\n"
            "    table: %s.${source.table}\n"
            "    format: debezium\n"
            "    epoch_unit: us\n",
            cache_prefix, schema);
    fclose(f);
    free(kafka);
    return path;
}

START_TEST(samples_reach_their_expected_state)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    schema = ts_pg_fresh_schema(c, "dbz_samples");
    ts_pg_exec(c, tables_sql, NULL);
    /* rows that exist before the samples that update them (README: "goes from Sally") */
    ts_pg_exec(c, "INSERT INTO customers_k VALUES (1001, 'Sally', 'Thomas', 'sally.thomas@acme.com');"
                  "INSERT INTO customers_w VALUES (1001, 'Sally', 'Thomas', 'sally.thomas@acme.com');"
                  "INSERT INTO emp (empno, fname) VALUES (11, 'Yossi')", NULL);

    static const char *const names[NTOPICS] = {
        "pgdocs", "mysqldocs", "tutorial", "snapshot", "k8s", "wasm", "serde", "pgread",
        "decimal", "fractest", "zerotest", "date", "json", "sqlserver", "zoned",
        "flat", "flatmeta", "flatrow"};
    for (int i = 0; i < NTOPICS; i++) {
        topic[i] = ts_unique_name(names[i]);
        ts_kafka_create_topic(topic[i], 1);
    }
    cache_prefix = ts_unique_name("dbserver");
    ck_assert(asprintf(&cache_topic[0], "%s.inventory.purchaseorder", cache_prefix) > 0);
    ck_assert(asprintf(&cache_topic[1], "%s.inventory.orderline", cache_prefix) > 0);
    for (int i = 0; i < 2; i++)
        ts_kafka_create_topic(cache_topic[i], 1);

    char *group = ts_unique_name("dbz_samples");
    char *dir = ts_tempdir("dbz_samples");
    char *config = write_config(dir, group);
    logpath = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, logpath);

    /* ---- phase 1: creates and snapshot reads ---- */
    put(topic[T_PGDOCS], "pg_create.key.json", "pg_create.value.json");
    put(topic[T_MYSQLDOCS], "={\"id\":1004}", "mysql_create.value.json");
    put(topic[T_TUTORIAL], "mysql_tutorial_read.key.json", "mysql_tutorial_read.value.json");
    put(topic[T_SNAPSHOT], "mysql_snapshot_read.key.json", "mysql_snapshot_read.value.json");
    put(topic[T_WASM], "=1004", "mysql_wasm_read.noschema.value.json");
    put(topic[T_SERDE], "={\"id\":1004}", "mysql_serde_create.value.json");
    for (int i = 1; i <= 4; i++) {
        char k[32], v[64];
        snprintf(k, sizeof(k), "={\"id\":%d}", 1000 + i);
        snprintf(v, sizeof(v), "pg_read_100%d.noschema.value.json", i);
        put(topic[T_PGREAD], k, v);
    }
    put(topic[T_PGREAD], "={\"id\":1005}", "pg_stream_create.value.json");
    put(cache_topic[0], "pgcache_po1_create.noschema.key.json", "pgcache_po1_create.noschema.value.json");
    put(cache_topic[1], "pgcache_ol1_create.noschema.key.json", "pgcache_ol1_create.noschema.value.json");
    put(cache_topic[1], "pgcache_ol2_create.noschema.key.json", "pgcache_ol2_create.noschema.value.json");
    put(topic[T_DECIMAL], "types_decimal.key.json", "types_decimal.value.json");
    put(topic[T_FRACTEST], "types_temporal.key.json", "types_temporal.value.json");
    put(topic[T_ZEROTEST], "types_temporal_zero.key.json", "types_temporal_zero.value.json");
    put(topic[T_DATE], "types_date.key.json", "types_date.value.json");
    put(topic[T_JSON], "types_json.key.json", "types_json.value.json");
    put(topic[T_JSON], "types_json_null_literal.key.json", "types_json_null_literal.value.json");
    put(topic[T_JSON], "types_json_sql_null.key.json", "types_json_sql_null.value.json");
    put(topic[T_ZONED], "={\"id\":1}", "types_zonedtimestamp.noschema.value.json");
    put(topic[T_FLAT], "={\"pk\":1}", "unwrap_update.value.json");
    put(topic[T_FLAT], "={\"pk\":2}", "unwrap_update.value.json");
    put(topic[T_FLAT], "={\"pk\":3}", "unwrap_input.noschema.value.json");
    put(topic[T_FLATMETA], "={\"pk\":5}", "unwrap_add_fields.value.json");
    put(topic[T_FLATROW], "={\"id\":1004}", "unwrap_serde_row.value.json");
    settle(group);

    expect(c, "1|Anne|Kretchmar|annek@noanswer.org|c|24023128|customers",
           "SELECT concat_ws('|', id, first_name, last_name, email, src_op, src_lsn, src_table) FROM customers_a");
    expect(c, "1004|Anne|Kretchmar|annek@noanswer.org",
           "SELECT concat_ws('|', id, first_name, last_name, email) FROM customers_b");
    expect(c, "1004|Anne|Kretchmar", "SELECT concat_ws('|', id, first_name, last_name) FROM customers_c");
    expect(c, "101|3", "SELECT concat_ws('|', product_id, quantity) FROM products_on_hand");
    expect(c, "1001|Sally;1004|Anne", "SELECT concat_ws('|', id, first_name) FROM customers_w ORDER BY id");
    expect(c, "1004|Anne|Kretchmar", "SELECT concat_ws('|', id, first_name, last_name) FROM customers_s");
    expect(c,
           "1001|Sally|Thomas|sally.thomas@acme.com;1002|George|Bailey|gbailey@foobar.com;"
           "1003|Edward|Walker|ed@walker.com;1004|Anne|Kretchmar|annek@noanswer.org;"
           "1005|Bob|Marley|bob@marley.com",
           "SELECT concat_ws('|', id, first_name, last_name, email) FROM customers_e ORDER BY id");
    expect(c, "1|123|2019-01-31 12:13:01",
           "SELECT concat_ws('|', id, customerid, orderdate) FROM purchaseorder");
    expect(c, "1|Debezium in Action|2|ENTERED|39.98|1;2|Debezium for Dummies|1|ENTERED|29.99|1",
           "SELECT concat_ws('|', id, item, quantity, status, totalprice, order_id) FROM orderline ORDER BY id");
    expect(c, "1|12345.67", "SELECT concat_ws('|', pk_column, decimal_value) FROM dbz_147");
    expect(c, "2014-09-08|17:51:04|2014-09-08 17:51:04.78|2014-09-08 17:51:04.78;"
              "NULL|00:00:00|NULL|1970-01-01 00:00:00",
           "SELECT concat_ws('|', coalesce(c1::text, 'NULL'), c2, coalesce(c3::text, 'NULL'), c4)"
           " FROM fractest ORDER BY c4 DESC");
    expect(c, "10001|2016-01-16|1001|1|102",
           "SELECT concat_ws('|', order_number, order_date, purchaser, quantity, product_id) FROM orders");
    /* nested object; the JSON literal null; SQL NULL: three different things */
    expect(c, "1|SQL NULL;6|object|v21;12|null",
           "SELECT concat_ws('|', id, coalesce(jsonb_typeof(json), 'SQL NULL'), json->'k2'->>'k21')"
           " FROM jsontable ORDER BY id");
    expect(c, "1|2011-01-11 16:40:30.123457+00",
           "SELECT concat_ws('|', id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00')"
           " FROM zoned");
    expect(c, "1||newvalue1|newvalue2;2||newvalue1|newvalue2;3||newvalue1|newvalue2",
           "SELECT concat_ws('|', pk, coalesce(cola, ''), field1, field2) FROM flat ORDER BY pk");
    expect(c, "5|c|123456789|123456789|MY_TABLE", "SELECT concat_ws('|', pk, op, lsn, src_ts, src_table) FROM flat_meta");
    expect(c, "1004|Anne|annek@noanswer.org", "SELECT concat_ws('|', id, first_name, email) FROM customers_u");

    /* ---- phase 2: updates ---- */
    put(topic[T_PGDOCS], "pg_create.key.json", "pg_update.value.json");
    put(topic[T_MYSQLDOCS], "={\"id\":1004}", "mysql_update.value.json");
    put(topic[T_TUTORIAL], "mysql_tutorial_update.key.json", "mysql_tutorial_update.value.json");
    put(topic[T_K8S], "={\"id\":1001}", "mysql_k8s_update.value.json");
    put(topic[T_WASM], "=1001", "mysql_wasm_update.noschema.value.json");
    put(topic[T_SERDE], "={\"id\":1004}", "mysql_serde_update.noschema.value.json");
    ts_pg_exec(c, "UPDATE customers_e SET biography = 'B' WHERE id = 1004", NULL);
    put(topic[T_PGREAD], "={\"id\":1004}", "pg_toast_update.noschema.value.json");
    put(cache_topic[1], "pgcache_ol2_update.noschema.key.json", "pgcache_ol2_update.noschema.value.json");
    settle(group);

    expect(c, "1|Anne Marie|u", "SELECT concat_ws('|', id, first_name, src_op) FROM customers_a");
    expect(c, "1004|Anne Marie", "SELECT concat_ws('|', id, first_name) FROM customers_b");
    expect(c, "1004|Anne Marie", "SELECT concat_ws('|', id, first_name) FROM customers_c");
    expect(c, "1001|Sally Marie", "SELECT concat_ws('|', id, first_name) FROM customers_k");
    expect(c, "1001|Sarah;1004|Anne", "SELECT concat_ws('|', id, first_name) FROM customers_w ORDER BY id");
    expect(c, "1004|Anne", "SELECT concat_ws('|', id, first_name) FROM customers_s");
    /* the unchanged TOAST column keeps its stored value */
    expect(c, "1004|Dana|B", "SELECT concat_ws('|', id, first_name, biography) FROM customers_e WHERE id = 1004");
    expect(c, "1|ENTERED;2|CANCELLED", "SELECT concat_ws('|', id, status) FROM orderline ORDER BY id");

    /* ---- phase 3: deletes and their tombstones, a new column ---- */
    put(topic[T_PGDOCS], "pg_create.key.json", "pg_delete.value.json");
    put(topic[T_PGDOCS], "pg_create.key.json", "pg_tombstone.value.json");
    put(topic[T_MYSQLDOCS], "={\"id\":1004}", "mysql_delete.value.json");
    put(topic[T_TUTORIAL], "mysql_tutorial_delete.key.json", "mysql_tutorial_delete.value.json");
    put(topic[T_TUTORIAL], "mysql_tutorial_tombstone.key.json", "mysql_tutorial_tombstone.value.json");
    put(topic[T_TUTORIAL], "mysql_tutorial_tombstone.key.json", "mysql_tutorial_tombstone.value.json");
    put(topic[T_SERDE], "={\"id\":1004}", "mysql_serde_update_extra_column.noschema.value.json");
    put(topic[T_SQLSERVER], "types_sqlserver_decimal.key.json", "types_sqlserver_decimal.value.json");
    put(topic[T_FLAT], "={\"pk\":2}", "unwrap_delete.value.json");
    put(topic[T_FLAT], "={\"pk\":1}", "unwrap_tombstone.value.json");
    settle(group);

    expect(c, "", "SELECT id::text FROM customers_a");
    expect(c, "", "SELECT id::text FROM customers_b");
    expect(c, "", "SELECT id::text FROM customers_c");
    expect(c, "1004|Anne|L", "SELECT concat_ws('|', id, first_name, middle_name) FROM customers_s");
    expect(c, "", "SELECT empno::text FROM emp");
    expect(c, "3", "SELECT pk::text FROM flat ORDER BY pk");

    /* ---- phase 4: truncates and a logical decoding message ---- */
    put(topic[T_PGDOCS], "pg_create.key.json", "pg_create.value.json");
    put(topic[T_MYSQLDOCS], "={\"id\":1004}", "mysql_create.value.json");
    settle(group);
    expect(c, "1", "SELECT id::text FROM customers_a");
    expect(c, "1004", "SELECT id::text FROM customers_b");
    put(topic[T_PGDOCS], "pg_truncate.key.json", "pg_truncate.value.json");
    put(topic[T_PGDOCS], "={\"prefix\":\"foo\"}", "pg_message.value.json");
    put(topic[T_MYSQLDOCS], "mysql_truncate.key.json", "mysql_truncate.value.json");
    settle(group);
    expect(c, "", "SELECT id::text FROM customers_a");
    expect(c, "", "SELECT id::text FROM customers_b");

    ck_assert_msg(ts_daemon_running(d), "sluice stopped:\n%s", sc_log_tail(logpath, 3000));
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d:\n%s", code, sc_log_tail(logpath, 3000));
    ts_daemon_free(d);

    for (int i = 0; i < NTOPICS; i++)
        free(topic[i]);
    for (int i = 0; i < 2; i++)
        free(cache_topic[i]);
    free(cache_prefix);
    free(group);
    free(dir);
    free(config);
    free(logpath);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {samples_reach_their_expected_state};
    return sc_main("debezium samples", tests, 1);
}
