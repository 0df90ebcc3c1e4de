/* test_schema_change.c - Debezium events with JsonConverter schemas, whose
 * schemas sluice reads once and keeps (schema_cache.c), through the daemon,
 * librdkafka's mock cluster and a real PostgreSQL: two tables of one topic
 * with different schemas in turn, a column added mid-stream whose first
 * event is a delete (auto_evolve must still add the column with the first
 * upsert), and an event under the old schema after the new one. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sluice/strbuf.h"
#include "support.h"

static char *schema;
static char *logpath;

/* A row field of a Connect struct schema: "name:type" with type int64,
 * int32, string, dec2 (Connect Decimal, scale 2; dec2p12: precision 12
 * rather than 10), vcN (a string with the source's VARCHAR(N), as
 * Debezium's column.propagate.source.type sends it) or vtext (its TEXT:
 * Debezium's PostgreSQL connector gives TEXT the length 2147483647). */
static void row_field(sl_strbuf *sb, const char *spec, bool first)
{
    const char *colon = strchr(spec, ':');
    int n = (int)(colon - spec);
    const char *type = colon + 1;
    if (!first)
        sl_strbuf_putc(sb, ',');
    if (!strncmp(type, "dec2", 4))
        sl_strbuf_printf(sb,
                         "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
                         "\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"%s\"},"
                         "\"field\":\"%.*s\"}",
                         strcmp(type, "dec2p12") ? "10" : "12", n, spec);
    else if (!strncmp(type, "vc", 2) || !strcmp(type, "vtext"))
        sl_strbuf_printf(sb,
                         "{\"type\":\"string\",\"optional\":true,\"parameters\":{\"__debezium.source.column.type\":"
                         "\"%s\",\"__debezium.source.column.length\":\"%s\"},\"field\":\"%.*s\"}",
                         strcmp(type, "vtext") ? "VARCHAR" : "TEXT", strcmp(type, "vtext") ? type + 2 : "2147483647",
                         n, spec);
    else
        sl_strbuf_printf(sb, "{\"type\":\"%s\",\"optional\":%s,\"field\":\"%.*s\"}", type,
                         strncmp(spec, "id:", 3) ? "true" : "false", n, spec);
}

static void row_schema(sl_strbuf *sb, const char *table, const char *const *fields, const char *which)
{
    sl_strbuf_printf(sb, "{\"type\":\"struct\",\"fields\":[");
    for (int i = 0; fields[i]; i++)
        row_field(sb, fields[i], i == 0);
    sl_strbuf_printf(sb, "],\"optional\":true,\"name\":\"dbz.public.%s.Value\",\"field\":\"%s\"}", table, which);
}

/* The envelope schema JsonConverter writes for @table with row @fields. */
static char *envelope_schema(const char *table, const char *const *fields)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "{\"type\":\"struct\",\"fields\":[");
    row_schema(&sb, table, fields, "before");
    sl_strbuf_putc(&sb, ',');
    row_schema(&sb, table, fields, "after");
    sl_strbuf_printf(&sb,
                     ",{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
                     "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"}],\"optional\":false,"
                     "\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"},"
                     "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],"
                     "\"optional\":false,\"name\":\"dbz.public.%s.Envelope\",\"version\":2}",
                     table);
    return sl_strbuf_steal(&sb);
}

/* One change event: @before and @after are JSON objects or "null". */
static void put(const char *topic, const char *table, const char *sch, long id, const char *op, const char *before,
                const char *after)
{
    sl_strbuf v = SL_STRBUF_INIT, k = SL_STRBUF_INIT;
    sl_strbuf_printf(&v,
                     "{\"schema\":%s,\"payload\":{\"before\":%s,\"after\":%s,"
                     "\"source\":{\"schema\":\"public\",\"table\":\"%s\"},\"op\":\"%s\"}}",
                     sch, before, after, table, op);
    sl_strbuf_printf(&k,
                     "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,"
                     "\"field\":\"id\"}],\"optional\":false,\"name\":\"dbz.public.%s.Key\"},\"payload\":{\"id\":%ld}}",
                     table, id);
    ts_produce(topic, 0, k.data, k.len, v.data, v.len);
    sl_strbuf_free(&v);
    sl_strbuf_free(&k);
}

static void expect(PGconn *c, const char *want, const char *sql)
{
    char q[2048];
    snprintf(q, sizeof(q), "SELECT coalesce(string_agg(x, ';'), '') FROM (%s) AS q(x)", sql);
    char *got = ts_pg_text(c, q, NULL);
    ck_assert_msg(got && !strcmp(got, want), "%s\n  want: %s\n  got:  %s\nlog tail:\n%s", sql, want,
                  got ? got : "(null)", sc_log_tail(logpath, 3000));
    free(got);
}

START_TEST(kept_schemas_follow_the_tables)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    schema = ts_pg_fresh_schema(c, "dbz_schema_change");
    char *topic = ts_unique_name("dbzsc"), *group = ts_unique_name("dbzsc_group");
    ts_kafka_create_topic(topic, 1);
    char *dir = ts_tempdir("dbz_schema_change");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "batch:\n  max_rows: 100\n  linger_ms: 20\n"
                                 "routes:\n  - topics: [\"%s\"]\n    target: pg\n    table: %s.${source.table}\n"
                                 "    format: debezium\n    auto_create: true\n    auto_evolve: true\n",
                                 kafka, topic, schema);
    logpath = ts_write_file(dir, "sluice.log", "%s", "");

    static const char *const a1[] = {"id:int64", "name:string", NULL};
    static const char *const a2[] = {"id:int64", "name:string", "extra:int32", NULL};
    static const char *const b1[] = {"id:int64", "amount:dec2", NULL};
    char *sa1 = envelope_schema("a", a1), *sa2 = envelope_schema("a", a2), *sb1 = envelope_schema("b", b1);

    put(topic, "a", sa1, 1, "c", "null", "{\"id\":1,\"name\":\"a1\"}");
    put(topic, "b", sb1, 1, "c", "null", "{\"id\":1,\"amount\":\"AGQ=\"}");
    put(topic, "a", sa1, 4, "c", "null", "{\"id\":4,\"name\":\"a4\"}");
    /* the column "extra" appears; the first event under the new schema is a delete */
    put(topic, "a", sa2, 1, "d", "{\"id\":1,\"name\":\"a1\",\"extra\":null}", "null");
    put(topic, "a", sa2, 2, "c", "null", "{\"id\":2,\"name\":\"a2\",\"extra\":42}");
    put(topic, "b", sb1, 2, "c", "null", "{\"id\":2,\"amount\":\"AMg=\"}");
    /* an event still under the old schema (another producer, late) */
    put(topic, "a", sa1, 3, "c", "null", "{\"id\":3,\"name\":\"a3\"}");
    put(topic, "a", sa2, 5, "c", "null", "{\"id\":5,\"name\":\"a5\",\"extra\":45}");
    put(topic, "a", sa2, 4, "u", "null", "{\"id\":4,\"name\":\"a4\",\"extra\":44}");
    ts_flush();

    ts_daemon *d = ts_daemon_start(config, logpath);
    sc_wait_committed(group, topic, 1, 120000, logpath);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped:\n%s", sc_log_tail(logpath, 3000));
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT concat_ws('|', id, name, coalesce(extra::text, 'null')) FROM %s.a ORDER BY id",
             schema);
    /* 42: the first upsert under the new schema added the column before its row was built */
    expect(c, "2|a2|42;3|a3|null;4|a4|44;5|a5|45", sql);
    snprintf(sql, sizeof(sql), "SELECT concat_ws('|', id, amount) FROM %s.b ORDER BY id", schema);
    expect(c, "1|1.00;2|2.00", sql);
    snprintf(sql, sizeof(sql),
             "SELECT column_name || ' ' || data_type FROM information_schema.columns "
             "WHERE table_schema = '%s' AND table_name = 'a' ORDER BY ordinal_position", schema);
    expect(c, "id bigint;name text;extra integer", sql);

    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d:\n%s", code, sc_log_tail(logpath, 3000));
    ts_daemon_free(d);
    free(sa1);
    free(sa2);
    free(sb1);
    free(topic);
    free(group);
    free(kafka);
    free(config);
    free(dir);
    free(logpath);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

/* auto_evolve: widen, from a source table's changes as Debezium's schemas
 * carry them: a VARCHAR made longer, then TEXT; an int32 made int64; a
 * decimal's precision raised; a nullable column.  A column whose type
 * changed kind (bigint to string) stops the route before its event. */
START_TEST(widen_follows_the_source)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    schema = ts_pg_fresh_schema(c, "dbz_widen");
    char *topic = ts_unique_name("dbzwiden"), *group = ts_unique_name("dbzwiden_group");
    ts_kafka_create_topic(topic, 1);
    ts_pg_exec(c, "CREATE TABLE w (id bigint PRIMARY KEY, code varchar(10), qty integer, amount numeric(10,2),"
                  " note text NOT NULL)", NULL);
    char *dir = ts_tempdir("dbz_widen");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "batch:\n  max_rows: 100\n  linger_ms: 20\n"
                                 "routes:\n  - topics: [\"%s\"]\n    target: pg\n    table: %s.${source.table}\n"
                                 "    format: debezium\n    auto_evolve: widen\n",
                                 kafka, topic, schema);
    logpath = ts_write_file(dir, "sluice.log", "%s", "");

    static const char *const w1[] = {"id:int64", "code:vc10", "qty:int32", "amount:dec2", "note:string", NULL};
    static const char *const w2[] = {"id:int64", "code:vc40", "qty:int64", "amount:dec2p12", "note:string", NULL};
    static const char *const w3[] = {"id:int64", "code:vtext", "qty:int64", "amount:dec2p12", "note:string", NULL};
    static const char *const w4[] = {"id:int64", "code:vtext", "qty:string", "amount:dec2p12", "note:string", NULL};
    char *s1 = envelope_schema("w", w1), *s2 = envelope_schema("w", w2), *s3 = envelope_schema("w", w3),
         *s4 = envelope_schema("w", w4);
    /* amounts: 1.00, 1234567890.12 (unscaled 123456789012), 2.00 */
    put(topic, "w", s1, 1, "c", "null", "{\"id\":1,\"code\":\"ten chars!\",\"qty\":7,\"amount\":\"AGQ=\",\"note\":\"a\"}");
    put(topic, "w", s2, 2, "c", "null",
        "{\"id\":2,\"code\":\"thirty characters long, a code\",\"qty\":5000000000,\"amount\":\"ABy+mRoU\","
        "\"note\":null}");
    put(topic, "w", s3, 3, "c", "null",
        "{\"id\":3,\"code\":\"sixty characters long: no varchar the source had would take it\",\"qty\":-1,"
        "\"amount\":\"AMg=\",\"note\":\"c\"}");
    put(topic, "w", s4, 4, "c", "null", "{\"id\":4,\"code\":\"x\",\"qty\":\"many\",\"amount\":\"AMg=\",\"note\":\"d\"}");
    put(topic, "w", s3, 5, "c", "null", "{\"id\":5,\"code\":\"y\",\"qty\":5,\"amount\":\"AMg=\",\"note\":\"e\"}");
    ts_flush();

    ts_daemon *d = ts_daemon_start(config, logpath);
    ck_assert_msg(ts_daemon_wait(d, 120000), "sluice kept running past a column that changed kind:\n%s",
                  sc_log_tail(logpath, 3000));
    ck_assert_int_ne(ts_daemon_exit_code(d), 0);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT column_name || ' ' || format_type(atttypid, atttypmod) || ' ' || is_nullable FROM "
             "information_schema.columns JOIN pg_attribute ON attrelid = '%s.w'::regclass AND attname = column_name "
             "WHERE table_schema = '%s' AND table_name = 'w' ORDER BY ordinal_position",
             schema, schema);
    expect(c, "id bigint NO;code text YES;qty bigint YES;amount numeric(12,2) YES;note text YES", sql);
    snprintf(sql, sizeof(sql),
             "SELECT concat_ws('|', id, code, qty, amount, coalesce(note, 'null')) FROM %s.w ORDER BY id", schema);
    expect(c,
           "1|ten chars!|7|1.00|a;2|thirty characters long, a code|5000000000|1234567890.12|null;"
           "3|sixty characters long: no varchar the source had would take it|-1|2.00|c",
           sql);
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), 3);
    char *all = ts_read_file(logpath);
    char want[1024];
    const char *ddl[] = {
        "ALTER TABLE \"%s\".\"w\" ALTER COLUMN \"note\" DROP NOT NULL\n",
        "ALTER TABLE \"%s\".\"w\" ALTER COLUMN \"code\" TYPE varchar(40)\n",
        "ALTER TABLE \"%s\".\"w\" ALTER COLUMN \"qty\" TYPE bigint\n",
        "ALTER TABLE \"%s\".\"w\" ALTER COLUMN \"amount\" TYPE numeric(12,2)\n",
        "ALTER TABLE \"%s\".\"w\" ALTER COLUMN \"code\" TYPE text\n",
    };
    for (size_t k = 0; k < sizeof(ddl) / sizeof(ddl[0]); k++) {
        snprintf(want, sizeof(want), ddl[k], schema);
        ck_assert_msg(strstr(all, want), "no '%s' in the log:\n%s", want, sc_log_tail(logpath, 3000));
    }
    snprintf(want, sizeof(want),
             "%s[0]@3: route 1: field \"qty\" of schema id -1 is string (text) but column \"%s\".\"w\".\"qty\" is "
             "bigint: sluice never changes a column's kind; alter the table or the schema",
             topic, schema);
    ck_assert_msg(strstr(all, want), "no '%s' in the log:\n%s", want, sc_log_tail(logpath, 3000));
    free(all);
    ts_daemon_free(d);
    free(s1);
    free(s2);
    free(s3);
    free(s4);
    free(topic);
    free(group);
    free(kafka);
    free(config);
    free(dir);
    free(logpath);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {kept_schemas_follow_the_tables, widen_follows_the_source};
    return sc_main("debezium schema change", tests, 2);
}
