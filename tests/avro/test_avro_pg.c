/* test_avro_pg.c - Avro end to end: records in Confluent's wire format,
 * produced with avro-c into Kafka (librdkafka's mock cluster, or
 * SLUICE_TEST_BOOTSTRAP), read by the sluice daemon through the test schema
 * registry (or SLUICE_TEST_SCHEMA_REGISTRY) and stored in the PostgreSQL of
 * SLUICE_TEST_DSN.  Every assertion reads what PostgreSQL stored. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "avro_support.h"
#include "sluice/strbuf.h"
#include "support.h"
#include "runner.h"

static void produce_avro(const char *topic, int part, int key_id, avro_value_t *key, int id, avro_value_t *v)
{
    size_t klen = 0, vlen = 0;
    char *k = key ? ar_wire(key_id, key, &klen) : NULL;
    char *b = v ? ar_wire(id, v, &vlen) : NULL;
    ts_produce(topic, part, k, klen, b, vlen);
    free(k);
    free(b);
}

static char *config(const char *dir, const char *group, const char *registry, const char *topic,
                    const char *table, const char *route_extra)
{
    char *kafka = sc_kafka_yaml(group);
    char *path = ts_write_file(dir, "sluice.yaml",
                               "%s"
                               "schema_registry:\n"
                               "  url: [\"%s\"]\n"
                               "  timeout_ms: 2000\n"
                               "retry:\n"
                               "  initial_backoff_ms: 50\n"
                               "  max_backoff_ms: 500\n"
                               "targets:\n"
                               "  pg:\n"
                               "    type: postgresql\n"
                               "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                               "routes:\n"
                               "  - topics: [%s]\n"
                               "    target: pg\n"
                               "    table: %s\n"
                               "    format: avro\n"
                               "%s"
                               "batch:\n"
                               "  max_rows: 1000\n"
                               "  linger_ms: 50\n",
                               kafka, registry, topic, table, route_extra);
    free(kafka);
    return path;
}

static void expect_text(PGconn *c, const char *table, const char *col, const char *id, const char *want)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT \"%s\"::text FROM %s WHERE id = $1", col, table);
    char *got = ts_pg_text(c, sql, id, NULL);
    if (!want)
        ck_assert_msg(got == NULL, "%s.%s (id %s): got '%s', want NULL", table, col, id, got);
    else
        ck_assert_msg(got && !strcmp(got, want), "%s.%s (id %s): got '%s', want '%s'", table, col, id,
                      got ? got : "NULL", want);
    free(got);
}

static const char key_schema[] =
    "{\"type\":\"record\",\"name\":\"Key\",\"namespace\":\"sluice.test\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}";

/* Every Avro type, stored exactly; the table created from the schema with
 * the key schema's field as primary key. */
START_TEST(test_every_type_roundtrip)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_types");
    char *topic = ts_unique_name("avro_types");
    char *group = ts_unique_name("sluice_avro");
    ts_kafka_create_topic(topic, 1);
    char *subject = NULL;
    if (asprintf(&subject, "%s-value", topic) < 0)
        ck_abort();
    int vid = ar_register(reg, subject, ar_alltypes_schema);
    free(subject);
    if (asprintf(&subject, "%s-key", topic) < 0)
        ck_abort();
    int kid = ar_register(reg, subject, key_schema);
    free(subject);

    avro_type v, k;
    at_init(&v, ar_alltypes_schema);
    at_init(&k, key_schema);
    for (int variant = 0; variant < 2; variant++) {
        avro_value_t kf;
        avro_value_get_by_name(&k.value, "id", &kf, NULL);
        avro_value_set_long(&kf, 1 + variant);
        ar_alltypes_fill(&v.value, 1 + variant, variant);
        produce_avro(topic, 0, kid, &k.value, vid, &v.value);
    }
    ts_flush();

    char *dir = ts_tempdir("avro_types");
    char table[256];
    snprintf(table, sizeof(table), "%s.alltypes", schema);
    char *cfg = config(dir, group, reg->url, topic, table,
                       "    key_format: avro\n"
                       "    auto_create: true\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    ts_pg_exec(c, "SET TimeZone = 'UTC'", NULL);
    ts_pg_exec(c, "SET extra_float_digits = 0", NULL);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM alltypes", NULL), 2);
    /* the primary key came from the key schema */
    char *pk = ts_pg_text(c, "SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a "
                             "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                             "WHERE i.indrelid = 'alltypes'::regclass AND i.indisprimary", NULL);
    ck_assert_str_eq(pk, "id");
    free(pk);
    ts_pg_expect_coltype(c, "alltypes", "dec", "numeric(20,4)");
    ts_pg_expect_coltype(c, "alltypes", "decfx", "numeric(20,2)");
    ts_pg_expect_coltype(c, "alltypes", "tsus", "timestamp with time zone");
    ts_pg_expect_coltype(c, "alltypes", "ltus", "timestamp without time zone");
    ts_pg_expect_coltype(c, "alltypes", "day", "date");
    ts_pg_expect_coltype(c, "alltypes", "tus", "time without time zone");
    ts_pg_expect_coltype(c, "alltypes", "u", "uuid");
    ts_pg_expect_coltype(c, "alltypes", "raw", "bytea");
    ts_pg_expect_coltype(c, "alltypes", "tags", "text[]");
    ts_pg_expect_coltype(c, "alltypes", "inner", "jsonb");

    static const char *const want0[][2] = {
        {"b", "true"}, {"i", "-2147483648"}, {"f", "1.5"}, {"d", "-0.1"},
        {"s", "h\xc3\xa9llo \"quoted\""}, {"raw", "\\x00ff10"}, {"fx", "\\x01020304"},
        {"color", "GREEN"}, {"dec", "-123456789012345.6789"}, {"decfx", "1.00"},
        {"day", "1969-12-31"}, {"tms", "12:34:56.789"}, {"tus", "12:34:56.789012"},
        {"tsms", "1969-12-31 23:59:59.999+00"}, {"tsus", "2024-05-01 12:00:00.123456+00"},
        {"ltms", "1970-01-01 00:00:00"}, {"ltus", "1969-12-30 23:59:59.999999"},
        {"u", "0f8fad5b-d9cb-469f-a165-70867728950e"}, {"opt", NULL}, {"tags", "{a,\"b,c\"}"},
        {"attrs", "{\"k\": 1}"}, {"inner", "{\"x\": 7}"},
    };
    for (size_t i = 0; i < sizeof(want0) / sizeof(want0[0]); i++)
        expect_text(c, "alltypes", want0[i][0], "1", want0[i][1]);
    static const char *const want1[][2] = {
        {"b", "false"}, {"i", "2147483647"}, {"f", "-0.25"}, {"d", "1e+300"}, {"s", ""},
        {"raw", "\\x"}, {"color", "RED"}, {"dec", "0.0000"}, {"decfx", "-0.05"},
        {"day", "0001-01-01"}, {"tms", "00:00:00"}, {"tus", "23:59:59.999999"},
        {"tsms", "2024-05-01 12:00:00.123+00"}, {"tsus", "0001-01-01 00:00:00+00"},
        {"ltms", "2024-05-01 12:00:00.123"}, {"ltus", "2024-05-01 12:00:00.000001"},
        {"opt", "set"}, {"tags", "{}"}, {"attrs", "{\"k\": -9007199254740993}"},
    };
    for (size_t i = 0; i < sizeof(want1) / sizeof(want1[0]); i++)
        expect_text(c, "alltypes", want1[i][0], "2", want1[i][1]);

    at_fini(&v);
    at_fini(&k);
    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

/* A flat record into a table of plain columns: after the first record of
 * its schema, sluice reads the datum straight into the row's cells
 * (avro_cells.c).  Every stored value is checked, for records the direct
 * reader takes, one it leaves to the general path (a NaN double), a field
 * without a column, and a key written twice. */
static const char flat_schema[] =
    "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"d\",\"type\":\"double\"},{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"tsms\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tms\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":12,\"scale\":2}},"
    "{\"name\":\"raw\",\"type\":\"bytes\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\",\"GREEN\"]}},"
    "{\"name\":\"extra\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"n\",\"type\":\"long\"},{\"name\":\"flag\",\"type\":\"long\"}]}";

static void fill_flat(avro_value_t *v, int k, int round)
{
    avro_value_t f, br;
    char text[64];
    unsigned char be[16];
    avro_value_get_by_name(v, "id", &f, NULL);
    avro_value_set_long(&f, k);
    snprintf(text, sizeof(text), "row %d r%d \xc3\xa9", k, round);
    avro_value_get_by_name(v, "s", &f, NULL);
    avro_value_set_string(&f, text);
    avro_value_get_by_name(v, "i", &f, NULL);
    avro_value_set_int(&f, -1000 * k - round);
    avro_value_get_by_name(v, "d", &f, NULL);
    avro_value_set_double(&f, k == 7 ? NAN : k + 0.25);
    avro_value_get_by_name(v, "f", &f, NULL);
    avro_value_set_float(&f, (float)k * 0.5f);
    avro_value_get_by_name(v, "b", &f, NULL);
    avro_value_set_boolean(&f, k % 2);
    avro_value_get_by_name(v, "ts", &f, NULL);
    avro_value_set_long(&f, 1714564800123450LL + k);
    avro_value_get_by_name(v, "tsms", &f, NULL);
    avro_value_set_long(&f, -k);
    avro_value_get_by_name(v, "day", &f, NULL);
    avro_value_set_int(&f, -k);
    avro_value_get_by_name(v, "tms", &f, NULL);
    avro_value_set_int(&f, 3723004);
    avro_value_get_by_name(v, "dec", &f, NULL);
    avro_value_set_bytes(&f, be, ar_be_bytes(-12345 * k, be));
    avro_value_get_by_name(v, "raw", &f, NULL);
    unsigned char raw[3] = {0, (unsigned char)k, 0xff};
    avro_value_set_bytes(&f, raw, sizeof(raw));
    avro_value_get_by_name(v, "color", &f, NULL);
    avro_value_set_enum(&f, k % 2);
    avro_value_get_by_name(v, "extra", &f, NULL);
    avro_value_reset(&f);
    avro_value_append(&f, &br, NULL);
    avro_value_set_string(&br, "no column for this");
    avro_value_get_by_name(v, "opt", &f, NULL);
    if (k % 3 == 0) {
        avro_value_set_branch(&f, 0, &br);
        avro_value_set_null(&br);
    } else {
        avro_value_set_branch(&f, 1, &br);
        snprintf(text, sizeof(text), "o%d", k);
        avro_value_set_string(&br, text);
    }
    avro_value_get_by_name(v, "n", &f, NULL);
    avro_value_set_long(&f, 9007199254740993LL + k);
    avro_value_get_by_name(v, "flag", &f, NULL);
    avro_value_set_long(&f, (k + 1) % 2);
}

START_TEST(test_direct_cells)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_direct");
    char *topic = ts_unique_name("avro_direct");
    char *group = ts_unique_name("sluice_direct");
    ts_kafka_create_topic(topic, 1);
    char *subject;
    if (asprintf(&subject, "%s-value", topic) < 0)
        ck_abort();
    int id = ar_register(reg, subject, flat_schema);
    free(subject);
    ts_pg_exec(c, "CREATE TABLE flat (id bigint PRIMARY KEY, s text, i integer, d double precision, f real, "
                  "b boolean, ts timestamptz, tsms timestamptz, day date, tms time, dec numeric(12,2), raw bytea, "
                  "color text, opt text, n numeric, flag boolean)", NULL);
    avro_type t;
    at_init(&t, flat_schema);
    /* rows 1-7, then rows 2 and 5 again */
    int order[] = {1, 2, 3, 4, 5, 6, 7, 2, 5};
    for (size_t x = 0; x < sizeof(order) / sizeof(order[0]); x++) {
        int k = order[x];
        fill_flat(&t.value, k, x >= 7);
        size_t len;
        char *b = ar_wire(id, &t.value, &len);
        char key[16];
        snprintf(key, sizeof(key), "%d", k);
        ts_produce(topic, 0, key, strlen(key), b, len);
        free(b);
    }
    ts_flush();
    char *dir = ts_tempdir("avro_direct");
    char table[256];
    snprintf(table, sizeof(table), "%s.flat", schema);
    char *cfg = config(dir, group, reg->url, topic, table, "    key_format: string\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    ts_pg_exec(c, "SET TimeZone = 'UTC'", NULL);
    ts_pg_exec(c, "SET extra_float_digits = 0", NULL);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM flat", NULL), 7);
    for (int k = 1; k <= 7; k++) {
        int round = k == 2 || k == 5;
        char idt[16], want[96];
        snprintf(idt, sizeof(idt), "%d", k);
        snprintf(want, sizeof(want), "row %d r%d \xc3\xa9", k, round);
        expect_text(c, "flat", "s", idt, want);
        snprintf(want, sizeof(want), "%d", -1000 * k - round);
        expect_text(c, "flat", "i", idt, want);
        snprintf(want, sizeof(want), "%d.25", k);
        expect_text(c, "flat", "d", idt, k == 7 ? "NaN" : want);
        snprintf(want, sizeof(want), k % 2 ? "%d.5" : "%d", k / 2);
        expect_text(c, "flat", "f", idt, want);
        expect_text(c, "flat", "b", idt, k % 2 ? "true" : "false");
        snprintf(want, sizeof(want), "2024-05-01 12:00:00.12345%d+00", k);
        expect_text(c, "flat", "ts", idt, want);
        snprintf(want, sizeof(want), "1969-12-31 23:59:59.%03d+00", 1000 - k);
        expect_text(c, "flat", "tsms", idt, want);
        snprintf(want, sizeof(want), "1969-12-%02d", 32 - k);
        expect_text(c, "flat", "day", idt, want);
        expect_text(c, "flat", "tms", idt, "01:02:03.004");
        snprintf(want, sizeof(want), "-%d.%02d", 12345 * k / 100, 12345 * k % 100);
        expect_text(c, "flat", "dec", idt, want);
        snprintf(want, sizeof(want), "\\x00%02xff", k);
        expect_text(c, "flat", "raw", idt, want);
        expect_text(c, "flat", "color", idt, k % 2 ? "GREEN" : "RED");
        snprintf(want, sizeof(want), "o%d", k);
        expect_text(c, "flat", "opt", idt, k % 3 == 0 ? NULL : want);
        snprintf(want, sizeof(want), "%lld", 9007199254740993LL + k);
        expect_text(c, "flat", "n", idt, want);
        expect_text(c, "flat", "flag", idt, (k + 1) % 2 ? "true" : "false");
    }
    char *all = ts_read_file(log);
    ck_assert_msg(strstr(all, "field \"extra\""), "the field without a column was not reported:\n%s", all);
    free(all);

    at_fini(&t);
    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

static const char v1[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"}]}";
static const char v2[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"},"
                         "{\"name\":\"qty\",\"type\":\"int\",\"default\":0}]}";
static const char v3[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"},"
                         "{\"name\":\"qty\",\"type\":\"int\",\"default\":0},"
                         "{\"name\":\"note\",\"type\":[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":9,\"scale\":3}],\"default\":null}]}";

/* Item @rid of schema @version (registry id @id) to @part of @topic, key "rid". */
static void produce_item_to(const char *topic, int32_t part, avro_type *t, int id, int version, int64_t rid)
{
    avro_value_t f, br;
    avro_value_get_by_name(&t->value, "id", &f, NULL);
    avro_value_set_long(&f, rid);
    char name[32];
    snprintf(name, sizeof(name), "item %" PRId64 " v%d", rid, version);
    avro_value_get_by_name(&t->value, "name", &f, NULL);
    avro_value_set_string(&f, name);
    if (version >= 2) {
        avro_value_get_by_name(&t->value, "qty", &f, NULL);
        avro_value_set_int(&f, (int)rid * 10);
    }
    if (version >= 3) {
        avro_value_get_by_name(&t->value, "note", &f, NULL);
        if (rid % 2) {
            unsigned char be[16];
            size_t n = ar_be_bytes(-(__int128)rid * 1001, be); /* -rid*1.001 */
            avro_value_set_branch(&f, 1, &br);
            avro_value_set_bytes(&br, be, n);
        } else {
            avro_value_set_branch(&f, 0, &br);
            avro_value_set_null(&br);
        }
    }
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, rid);
    size_t len;
    char *b = ar_wire(id, &t->value, &len);
    ts_produce(topic, part, key, strlen(key), b, len);
    free(b);
}

static void produce_item(const char *topic, avro_type *t, int id, int version, int64_t rid)
{
    produce_item_to(topic, 0, t, id, version, rid);
}

/* Three schema versions while records flow: the table is created from v1,
 * gains qty (v2) and note (v3); records of all versions interleave. */
START_TEST(test_evolution)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_evolve");
    char *topic = ts_unique_name("avro_evolve");
    char *group = ts_unique_name("sluice_evolve");
    ts_kafka_create_topic(topic, 1);
    char *subject;
    if (asprintf(&subject, "%s-value", topic) < 0)
        ck_abort();
    int id1 = ar_register(reg, subject, v1);
    int id2 = ar_register(reg, subject, v2);
    int id3 = ar_register(reg, subject, v3);
    free(subject);
    avro_type t1, t2, t3;
    at_init(&t1, v1);
    at_init(&t2, v2);
    at_init(&t3, v3);

    char *dir = ts_tempdir("avro_evolve");
    char table[256];
    snprintf(table, sizeof(table), "%s.items", schema);
    char *cfg = config(dir, group, reg->url, topic, table,
                       "    key_format: string\n"
                       "    key: [id]\n"
                       "    auto_create: true\n"
                       "    auto_evolve: true\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* v1 only, then the daemon creates the table */
    for (int i = 1; i <= 10; i++)
        produce_item(topic, &t1, id1, 1, i);
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items", NULL), 10);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 "
                                  "AND table_name = 'items'", schema, NULL), 2);
    /* while it runs: v2, v1, v3, v1, v2 interleaved */
    for (int i = 11; i <= 60; i++) {
        int ver = (int[]){2, 1, 3, 1, 2}[i % 5];
        produce_item(topic, ver == 1 ? &t1 : ver == 2 ? &t2 : &t3, ver == 1 ? id1 : ver == 2 ? id2 : id3, ver, i);
    }
    ts_flush();
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    ts_pg_expect_coltype(c, "items", "qty", "integer");
    ts_pg_expect_coltype(c, "items", "note", "numeric(9,3)");
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items", NULL), 60);
    for (int i = 1; i <= 60; i++) {
        int ver = i <= 10 ? 1 : (int[]){2, 1, 3, 1, 2}[i % 5];
        char id[16], want[64];
        snprintf(id, sizeof(id), "%d", i);
        snprintf(want, sizeof(want), "item %d v%d", i, ver);
        expect_text(c, "items", "name", id, want);
        snprintf(want, sizeof(want), "%d", i * 10);
        expect_text(c, "items", "qty", id, ver >= 2 ? want : NULL);
        snprintf(want, sizeof(want), "-%d.%03d", i * 1001 / 1000, i * 1001 % 1000);
        expect_text(c, "items", "note", id, ver == 3 && i % 2 ? want : NULL);
    }
    char *all = ts_read_file(log);
    ck_assert_msg(strstr(all, "auto_evolve: added nullable column \"qty\""), "no evolve log line:\n%s", all);
    ck_assert_msg(strstr(all, "auto_evolve: added nullable column \"note\""), "no evolve log line:\n%s", all);
    free(all);

    at_fini(&t1);
    at_fini(&t2);
    at_fini(&t3);
    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

static const char *wait_log_path;
static bool log_mentions_registry_down(void *arg)
{
    (void)arg;
    char *s = ts_read_file(wait_log_path);
    bool found = s && strstr(s, "Couldn't connect") != NULL;
    free(s);
    return found;
}

/* Registry down when records arrive: nothing is committed or dropped; once
 * it is back, every record is stored. */
START_TEST(test_registry_down_then_up)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, false);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_down");
    char *topic = ts_unique_name("avro_down");
    char *group = ts_unique_name("sluice_down");
    ts_kafka_create_topic(topic, 1);
    int id1 = ar_register(reg, "items-value", v1);
    avro_type t1;
    at_init(&t1, v1);
    for (int i = 1; i <= 200; i++)
        produce_item(topic, &t1, id1, 1, i);
    ts_flush();
    ar_stop(reg);

    char *dir = ts_tempdir("avro_down");
    char table[256];
    snprintf(table, sizeof(table), "%s.items", schema);
    char *cfg = config(dir, group, reg->url, topic, table,
                       "    key_format: string\n"
                       "    key: [id]\n"
                       "    auto_create: true\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    wait_log_path = log;
    ck_assert_msg(ts_wait_until(log_mentions_registry_down, NULL, 60000), "the daemon never tried the registry");
    /* it tried and failed: nothing stored, nothing committed, still running */
    ck_assert(ts_daemon_running(d));
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), -1);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema, NULL), 0);

    ar_restart(reg); /* same port; the test registry starts empty: register again, same id */
    ck_assert_int_eq(ar_register(reg, "items-value", v1), id1);
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items", NULL), 200);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE name = 'item ' || id || ' v1'", NULL), 200);

    at_fini(&t1);
    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

/* Corrupt records under on_error: skip: each is logged with
 * topic[partition]@offset and its reason; the good ones are stored. */
START_TEST(test_corrupt_skip)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, false);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_bad");
    char *topic = ts_unique_name("avro_bad");
    char *group = ts_unique_name("sluice_bad");
    ts_kafka_create_topic(topic, 1);
    ts_pg_exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, name text)", NULL);
    int id1 = ar_register(reg, "items-value", v1);
    avro_type t1;
    at_init(&t1, v1);
    size_t len;
    avro_value_t f;
    avro_value_get_by_name(&t1.value, "id", &f, NULL);
    avro_value_set_long(&f, 99);
    avro_value_get_by_name(&t1.value, "name", &f, NULL);
    avro_value_set_string(&f, "a name long enough to truncate");
    char *good = ar_wire(id1, &t1.value, &len);

    produce_item(topic, &t1, id1, 1, 1);             /* @0 */
    char *bad = sl_xmalloc(len);
    memcpy(bad, good, len);
    bad[0] = 7;
    ts_produce(topic, 0, "x", 1, bad, len);          /* @1 magic byte */
    produce_item(topic, &t1, id1, 1, 2);             /* @2 */
    ts_produce(topic, 0, "x", 1, good, len - 10);    /* @3 truncated */
    memcpy(bad, good, len);
    bad[4] = 77;
    ts_produce(topic, 0, "x", 1, bad, len);          /* @4 unknown schema id */
    produce_item(topic, &t1, id1, 1, 3);             /* @5 */
    ts_flush();

    char *dir = ts_tempdir("avro_bad");
    char table[256];
    snprintf(table, sizeof(table), "%s.items", schema);
    char *cfg = config(dir, group, reg->url, topic, table,
                       "    key_format: string\n"
                       "    key: [id]\n"
                       "    on_error: skip\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items", NULL), 3);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE id IN (1, 2, 3)", NULL), 3);
    char *all = ts_read_file(log);
    const char *want[][2] = {{"[0]@1", "magic byte 0x07"}, {"[0]@3", "corrupt or truncated"}, {"[0]@4", "40403"}};
    for (int i = 0; i < 3; i++) {
        char where[256];
        snprintf(where, sizeof(where), "%s%s", topic, want[i][0]);
        const char *line = strstr(all, where);
        ck_assert_msg(line, "the log does not name %s:\n%s", where, all);
        const char *eol = strchr(line, '\n');
        char *l = strndup(line, eol ? (size_t)(eol - line) : strlen(line));
        ck_assert_msg(strstr(l, want[i][1]), "%s: reason missing in: %s", where, l);
        free(l);
    }
    free(all);
    free(good);
    free(bad);
    at_fini(&t1);
    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

/* ---- crafted records through the daemon ----
 *
 * Records that once took sluice down or held it for seconds: an array of
 * arrays of null claiming millions of zero-byte items in 8 KB, a 32 KB
 * decimal.  Under on_error: dlq each is dead-lettered at once and the
 * records around it stored; under on_error: fail the daemon stops naming
 * topic[partition]@offset, nothing committed past it. */

static const char hostile_schema[] =
    "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"blob\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":\"null\"}}},"
    "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2}}]}";

static void zz(sl_strbuf *b, long long x)
{
    unsigned long long u = ((unsigned long long)x << 1) ^ (unsigned long long)(x >> 63);
    do {
        unsigned char c = (unsigned char)(u & 0x7f);
        u >>= 7;
        sl_strbuf_putc(b, (char)(c | (u ? 0x80 : 0)));
    } while (u);
}

/* The wire form of Item @id; @hostile 0: ordinary, 1: zero-byte items, 2: a 32 KB decimal. */
static sl_strbuf hostile_item(int schema_id, long long id, int hostile)
{
    sl_strbuf b = SL_STRBUF_INIT;
    char h[5] = {0, (char)(schema_id >> 24), (char)(schema_id >> 16), (char)(schema_id >> 8), (char)schema_id};
    sl_strbuf_append(&b, h, 5);
    zz(&b, id);
    zz(&b, 4);
    sl_strbuf_puts(&b, "item");
    if (hostile == 1) {
        zz(&b, 2600);
        for (int i = 0; i < 2600; i++) {
            zz(&b, 8000 - 3 * i);
            zz(&b, 0);
        }
    }
    zz(&b, 0);
    size_t n = hostile == 2 ? 32768 : 2;
    zz(&b, (long long)n);
    for (size_t i = 0; i < n; i++)
        sl_strbuf_putc(&b, i ? 0x10 : 0x01);
    return b;
}

static void produce_hostile_topic(const char *topic, int schema_id)
{
    for (int i = 0; i < 5; i++) { /* @0 good, @1 items, @2 good, @3 decimal, @4 good */
        sl_strbuf b = hostile_item(schema_id, i + 1, i == 1 ? 1 : i == 3 ? 2 : 0);
        char key[16];
        snprintf(key, sizeof(key), "%d", i + 1);
        ts_produce(topic, 0, key, strlen(key), b.data, b.len);
        sl_strbuf_free(&b);
    }
    ts_flush();
}

START_TEST(test_hostile_records)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, false);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_hostile");
    char *t_dlq = ts_unique_name("avro_hostile_dlq"), *t_fail = ts_unique_name("avro_hostile_fail");
    char *g_dlq = ts_unique_name("sluice_hostile"), *g_fail = ts_unique_name("sluice_hostile_fail");
    ts_kafka_create_topic(t_dlq, 1);
    ts_kafka_create_topic(t_fail, 1);
    ts_pg_exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, name text)", NULL);
    int id = ar_register(reg, "hostile-value", hostile_schema);
    produce_hostile_topic(t_dlq, id);
    produce_hostile_topic(t_fail, id);
    char table[256];
    snprintf(table, sizeof(table), "%s.items", schema);

    char *dir = ts_tempdir("avro_hostile");
    char extra[512];
    snprintf(extra, sizeof(extra),
             "    key_format: string\n"
             "    key: [id]\n"
             "    on_error: dlq\n"
             "    dlq_table: %s.dead_letters\n",
             schema);
    char *cfg = config(dir, g_dlq, reg->url, t_dlq, table, extra);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(g_dlq, t_dlq, 1, 60000, log);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped");
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    char *ids = ts_pg_text(c, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items", NULL);
    ck_assert_str_eq(ids, "1,3,5");
    free(ids);
    char q[512];
    snprintf(q, sizeof(q),
             "SELECT string_agg(kafka_offset::text || ':' || (error LIKE '%%items%%')::text"
             " || ':' || (error LIKE '%%bytes%%')::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters",
             schema);
    char *dead = ts_pg_text(c, q, NULL);
    ck_assert_str_eq(dead, "1:true:false,3:false:true");
    free(dead);
    free(cfg);
    free(log);

    /* on_error: fail stops at @1, naming it */
    free(dir);
    dir = ts_tempdir("avro_hostile_fail");
    cfg = config(dir, g_fail, reg->url, t_fail, table, "    key_format: string\n    key: [id]\n    on_error: fail\n");
    log = ts_write_file(dir, "sluice.log", "%s", "");
    d = ts_daemon_start(cfg, log);
    ck_assert_msg(ts_daemon_wait(d, 60000), "sluice kept running under on_error: fail");
    ck_assert_int_ne(ts_daemon_exit_code(d), 0);
    char where[256];
    snprintf(where, sizeof(where), "%s[0]@1", t_fail);
    char *all = ts_read_file(log);
    ck_assert_msg(strstr(all, where), "the log does not name %s:\n%s", where, all);
    free(all);
    ck_assert_int_le(ts_pg_int(c,
                               "SELECT coalesce(max(next_offset), 0) FROM sluice.offsets WHERE group_id = $1"
                               " AND topic = $2",
                               g_fail, t_fail, NULL),
                     1);
    ids = ts_pg_text(c, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items", NULL);
    ck_assert_str_eq(ids, "1,3,5"); /* nothing more from the second topic */
    free(ids);
    ts_daemon_free(d);

    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(t_dlq);
    free(t_fail);
    free(g_dlq);
    free(g_fail);
    free(schema);
}
END_TEST

/* ---- credentials never leave the process ----
 *
 * Passwords in the registry URL's userinfo, in the PostgreSQL DSN and in a
 * CrateDB URL; records whose errors name the registry (an unknown schema
 * id) dead-lettered to a table and to a topic.  None of the secrets may
 * appear on stderr, in `sluice --check`'s output, in the dead letters (the
 * table's rows, the topic's records and headers) or in the metrics file. */

#define SECRET_REG "SecretReg-91bd"
#define SECRET_PG "SecretPg-7f3a"
#define SECRET_CRATE "SecretCrate-22c1"

static void assert_no_secret(const char *channel, const char *text)
{
    static const char *const secrets[] = {SECRET_REG, SECRET_PG, SECRET_CRATE};
    ck_assert_msg(text != NULL, "%s: nothing to read", channel);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(!strstr(text, secrets[i]), "%s shows the secret %s:\n%s", channel, secrets[i], text);
}

/* Everything one record of @topic[0] carries - key, value, every header's
 * name and value - as text, once it arrived (fails after 60 s); free() it.
 * *@error gets its sluice.error header. */
static char *read_dead_letter(const char *topic, char **error)
{
    char es[512];
    char *group = ts_unique_name("secrets_reader");
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    ck_assert(rd_kafka_conf_set(c, "bootstrap.servers", ts_kafka_bootstrap(), es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "group.id", group, es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "enable.auto.commit", "false", es, sizeof(es)) == RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    ck_assert_msg(rk != NULL, "%s", es);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert(rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    sl_strbuf out = SL_STRBUF_INIT;
    *error = NULL;
    int64_t deadline = ts_now_ms() + 60000;
    while (ts_now_ms() < deadline && !out.len) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            sl_strbuf_printf(&out, "key=%.*s\nvalue=%.*s\n", (int)m->key_len, m->key ? (const char *)m->key : "",
                             (int)m->len, m->payload ? (const char *)m->payload : "");
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *v;
                size_t vl;
                for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &vl); i++) {
                    sl_strbuf_printf(&out, "%s: %.*s\n", name, (int)vl, v ? (const char *)v : "");
                    if (!strcmp(name, "sluice.error") && v)
                        *error = strndup(v, vl);
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(group);
    ck_assert_msg(out.len, "no dead letter in %s within 60 s", topic);
    return out.data;
}

START_TEST(test_secrets_never_leave)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, "reguser", SECRET_REG, false);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_secrets");
    char *topic = ts_unique_name("avro_secrets");
    char *topic2 = ts_unique_name("avro_secrets_t");
    char *dlq = ts_unique_name("avro_secrets_dlq");
    char *group = ts_unique_name("sluice_secrets");
    ts_kafka_create_topic(topic, 1);
    ts_kafka_create_topic(topic2, 1);
    ts_kafka_create_topic(dlq, 1);
    ts_pg_exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, name text)", NULL);
    int id = ar_register(reg, "items-value", v1);
    avro_type t1;
    at_init(&t1, v1);
    produce_item(topic, &t1, id, 1, 1);   /* @0 stored */
    size_t len;
    char *bad = ar_wire(id, &t1.value, &len);
    bad[4] = 77;                           /* an id the registry does not know */
    ts_produce(topic, 0, "2", 1, bad, len); /* @1 dead letter naming the registry */
    produce_item(topic, &t1, id, 1, 3);   /* @2 stored */
    ts_produce(topic2, 0, "4", 1, bad, len); /* @0 dead letter to a topic */
    ts_flush();

    char url[256];
    snprintf(url, sizeof(url), "http://reguser:" SECRET_REG "@127.0.0.1:%d", reg->port);
    char *dir = ts_tempdir("avro_secrets");
    char *metrics = ts_write_file(dir, "metrics.prom", "%s", "");
    char *kafka = sc_kafka_yaml(group);
    const char *dsn = getenv("SLUICE_TEST_DSN");
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%s"
                              "metrics_file: %s\n"
                              "schema_registry:\n"
                              "  url: [\"%s\"]\n"
                              "  timeout_ms: 2000\n"
                              "targets:\n"
                              "  pg:\n"
                              "    type: postgresql\n"
                              "    dsn: \"%s password=" SECRET_PG "\"\n"
                              "routes:\n"
                              "  - topics: [%s]\n"
                              "    target: pg\n"
                              "    table: %s.items\n"
                              "    format: avro\n"
                              "    key_format: string\n"
                              "    key: [id]\n"
                              "    on_error: dlq\n"
                              "    dlq_table: %s.dead_letters\n"
                              "  - topics: [%s]\n"
                              "    target: pg\n"
                              "    table: %s.items\n"
                              "    format: avro\n"
                              "    key_format: string\n"
                              "    key: [id]\n"
                              "    on_error: dlq\n"
                              "    dlq_topic: %s\n"
                              "batch:\n"
                              "  linger_ms: 50\n",
                              kafka, metrics, url, dsn, topic, schema, schema, topic2, schema, dlq);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 1, 60000, log);
    sc_wait_committed(group, topic2, 1, 60000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    /* the dead-letter topic: its headers (sluice.error names the registry) and the record */
    char *dl_error = NULL;
    char *dl = read_dead_letter(dlq, &dl_error);
    ck_assert_msg(dl_error && strstr(dl_error, "reguser:***@"), "sluice.error does not name the registry: %s",
                  dl_error ? dl_error : "missing");
    assert_no_secret("the dead-letter topic", dl);
    free(dl_error);
    free(dl);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items", NULL), 2);
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters WHERE error LIKE '%%reguser:***@%%'", schema);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), 1); /* the error names the registry, without its password */
    snprintf(q, sizeof(q), "SELECT string_agg(d::text, E'\\n') FROM %s.dead_letters d", schema);
    char *dead = ts_pg_text(c, q, NULL);
    assert_no_secret("the dead-letter table", dead);
    free(dead);
    char *text = ts_read_file(log);
    assert_no_secret("stderr", text);
    free(text);
    text = ts_read_file(metrics);
    ck_assert_msg(strstr(text, "sluice_dead_letters_total"), "no metrics written:\n%s", text);
    assert_no_secret("the metrics file", text);
    free(text);

    /* --check, with a CrateDB target that cannot be reached and a DSN libpq
     * cannot parse (its %-escape is broken right after the password) */
    char *check_cfg = ts_write_file(dir, "check.yaml",
                                    "%s"
                                    "schema_registry:\n"
                                    "  url: [\"%s\"]\n"
                                    "targets:\n"
                                    "  pg:\n"
                                    "    type: postgresql\n"
                                    "    dsn: \"%s password=" SECRET_PG "\"\n"
                                    "  broken:\n"
                                    "    type: postgresql\n"
                                    "    dsn: \"postgresql://u:" SECRET_PG "@127.0.0.1:1/db?x=%%zz\"\n"
                                    "  crate:\n"
                                    "    type: cratedb\n"
                                    "    url: \"http://crateuser:" SECRET_CRATE "@127.0.0.1:1/\"\n"
                                    "routes:\n"
                                    "  - topics: [%s]\n"
                                    "    target: pg\n"
                                    "    table: %s.items\n"
                                    "  - topics: [%s]\n"
                                    "    target: crate\n"
                                    "    table: items\n"
                                    "  - topics: [%s]\n"
                                    "    target: broken\n"
                                    "    table: items\n",
                                    kafka, url, dsn, topic, schema, topic, topic);
    char *check_log = ts_write_file(dir, "check.log", "%s", "");
    d = ts_daemon_spawn(check_log, "--check", "-c", check_cfg, NULL);
    ck_assert(ts_daemon_wait(d, 60000));
    text = ts_read_file(check_log);
    ck_assert_msg(strstr(text, "crateuser:***@"), "--check does not name the CrateDB URL:\n%s", text);
    ck_assert_msg(strstr(text, "plain http://"), "no warning about credentials over http:\n%s", text);
    assert_no_secret("sluice --check", text);
    free(text);
    ts_daemon_free(d);

    free(bad);
    at_fini(&t1);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(kafka);
    free(cfg);
    free(check_cfg);
    free(check_log);
    free(log);
    free(metrics);
    free(dir);
    free(topic);
    free(topic2);
    free(dlq);
    free(group);
    free(schema);
}
END_TEST

/* ---- two consumers evolving one table at once ---- */

#define EVOLVE_PARTS 4
#define EVOLVE_MAX_ID 80

/* Two consumers of one group (two workers of one daemon, or two daemons),
 * a table they both auto_create and auto_evolve, and the schema versions
 * of every record so far. */
typedef struct evolve_run {
    PGconn *c;
    char *schema, *topic, *group;
    int ndaemons;
    ts_daemon *d[2];
    char *logs[2];
    int ids[3];
    avro_type t[3];
    int last_ver[EVOLVE_MAX_ID + 1]; /* 0: never written */
} evolve_run;

static void evolve_produce(evolve_run *r, int64_t rid, int version)
{
    ck_assert(rid > 0 && rid <= EVOLVE_MAX_ID && version >= r->last_ver[rid]);
    produce_item_to(r->topic, (int32_t)(rid % EVOLVE_PARTS), &r->t[version - 1], r->ids[version - 1], version, rid);
    r->last_ver[rid] = version;
}

/* Replays the "[worker N] assigned T[p]" / "revoked T[p]" / "partitions
 * lost" lines of each log on its own (the logs of two processes interleave
 * in time, so one log's revocations say nothing about another's
 * assignments): true when every partition has an owner and the owners are
 * at least two different consumers. */
static bool shared_assignment(void *arg)
{
    evolve_run *r = arg;
    int owner[EVOLVE_PARTS];
    for (int p = 0; p < EVOLVE_PARTS; p++)
        owner[p] = -1;
    for (int l = 0; l < r->ndaemons; l++) {
        int mine[EVOLVE_PARTS]; /* owner within this log */
        for (int p = 0; p < EVOLVE_PARTS; p++)
            mine[p] = -1;
        char *all = ts_read_file(r->logs[l]);
        for (char *line = all, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            const char *w = strstr(line, "[worker ");
            if (!w)
                continue;
            int worker = atoi(w + 8), who = l * 100 + worker;
            const char *what = strchr(w, ']');
            if (!what)
                continue;
            if (strstr(what, "partitions lost")) {
                for (int p = 0; p < EVOLVE_PARTS; p++)
                    if (mine[p] == who)
                        mine[p] = -1;
                continue;
            }
            bool assigned = !strncmp(what, "] assigned ", 11), revoked = !strncmp(what, "] revoked ", 10);
            if (!assigned && !revoked)
                continue;
            const char *tp = what + (assigned ? 11 : 10);
            size_t tl = strlen(r->topic);
            if (strncmp(tp, r->topic, tl) || tp[tl] != '[')
                continue;
            int p = atoi(tp + tl + 1);
            if (p >= 0 && p < EVOLVE_PARTS)
                mine[p] = assigned ? who : (mine[p] == who ? -1 : mine[p]);
        }
        free(all);
        for (int p = 0; p < EVOLVE_PARTS; p++)
            if (mine[p] >= 0)
                owner[p] = mine[p];
    }
    int first = owner[0];
    bool two = false;
    for (int p = 0; p < EVOLVE_PARTS; p++) {
        if (owner[p] < 0)
            return false;
        two |= owner[p] != first;
    }
    return two;
}

static bool committed_or_stopped(void *arg)
{
    evolve_run *r = arg;
    for (int i = 0; i < r->ndaemons; i++)
        if (!ts_daemon_running(r->d[i]))
            return true;
    return sc_offsets_at_end(r->group, r->topic, EVOLVE_PARTS);
}

/* For failure messages: each log's ERROR lines, then its tail. */
static char *evolve_tails(evolve_run *r)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    for (int i = 0; i < r->ndaemons; i++) {
        sl_strbuf_printf(&sb, "\n--- log %d%s, errors:\n", i, ts_daemon_running(r->d[i]) ? "" : " (exited)");
        char *all = ts_read_file(r->logs[i]);
        for (char *line = all, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (strstr(line, "Z ERROR "))
                sl_strbuf_printf(&sb, "%.400s\n", line);
        }
        free(all);
        char *t = sc_log_tail(r->logs[i], 2000);
        sl_strbuf_printf(&sb, "--- log %d, tail:\n%s", i, t);
        free(t);
    }
    return sl_strbuf_steal(&sb);
}

/* Every daemon still runs and the group committed every partition to its
 * high watermark. */
static void evolve_wait_committed(evolve_run *r, const char *what)
{
    ts_wait_until(committed_or_stopped, r, 120000);
    bool running = true;
    for (int i = 0; i < r->ndaemons; i++)
        running &= ts_daemon_running(r->d[i]);
    if (!running || !sc_offsets_at_end(r->group, r->topic, EVOLVE_PARTS)) {
        char *tails = evolve_tails(r);
        ck_abort_msg("%s: %s%s", what, running ? "offsets not committed to the end within 120 s" : "sluice stopped",
                     tails);
    }
}

/* How many connections of the test database wait for a lock in an ALTER
 * TABLE of our table that adds column @col. */
typedef struct alter_wait {
    evolve_run *r;
    const char *col;
    int64_t n;
} alter_wait;

static bool two_alters_waiting(void *arg)
{
    alter_wait *a = arg;
    char pattern[512];
    snprintf(pattern, sizeof(pattern), "ALTER TABLE \"%s\".\"items\" ADD COLUMN%%\"%s\"%%", a->r->schema, a->col);
    a->n = ts_pg_int(a->r->c,
                     "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND wait_event_type = 'Lock' AND state = 'active' AND query LIKE $1",
                     pattern, NULL);
    return a->n >= 2;
}

/* One round of records while the test holds an ACCESS SHARE lock on the
 * table, which lets nothing but ALTER TABLE wait: both consumers end up
 * inside ALTER TABLE ... ADD COLUMN @col at the same moment, and the test
 * sees both wait before it lets go.  The first record of every partition
 * is of schema @version, so each consumer meets the new schema before
 * anything else: once one ALTER TABLE waits, PostgreSQL queues later lock
 * requests (the other consumer's INSERTs) behind it.  @rest produces the
 * rest of the round. */
static void evolve_round_at_once(evolve_run *r, int version, const char *col, void (*rest)(evolve_run *))
{
    PGconn *lock = ts_pg_connect();
    ts_pg_exec(lock, "BEGIN", NULL);
    char sql[256];
    snprintf(sql, sizeof(sql), "LOCK TABLE \"%s\".items IN ACCESS SHARE MODE", r->schema);
    ts_pg_exec(lock, sql, NULL);
    int base = version == 2 ? 41 : 61;
    for (int i = 0; i < EVOLVE_PARTS; i++)
        evolve_produce(r, base + i, version);
    rest(r);
    ts_flush();
    alter_wait a = {r, col, 0};
    if (!ts_wait_until(two_alters_waiting, &a, 60000)) {
        char *tails = evolve_tails(r);
        ck_abort_msg("%" PRId64 " consumer(s), not 2, waited in ALTER TABLE ADD COLUMN \"%s\"%s", a.n, col, tails);
    }
    ts_pg_exec(lock, "COMMIT", NULL);
    PQfinish(lock);
}

/* v2 round: after its first records, upgrades of 1..20 and new 45..60 of v1 and v2 */
static void round2_rest(evolve_run *r)
{
    for (int i = 1; i <= 20; i++)
        evolve_produce(r, i, 2);
    for (int i = 45; i <= 60; i++)
        evolve_produce(r, i, i % 2 ? 1 : 2);
}

/* v3 round: upgrades of 1..10 and 41..50, new 65..80 of all three versions */
static void round3_rest(evolve_run *r)
{
    for (int i = 1; i <= 10; i++)
        evolve_produce(r, i, 3);
    for (int i = 41; i <= 50; i++)
        evolve_produce(r, i, 3);
    for (int i = 65; i <= EVOLVE_MAX_ID; i++)
        evolve_produce(r, i, (int[]){3, 1, 2}[i % 3]);
}

/* Lines of @log holding both @a and @b (NULL: any). */
static int count_lines(const char *log, const char *a, const char *b)
{
    char *all = ts_read_file(log);
    int n = 0;
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
    }
    free(all);
    return n;
}

/* docs/avro.md: "Two workers adding the same column at once both succeed."
 * v1 records create the table; then v2 (adds qty) and v3 (adds note,
 * optional with a default) reach all partitions while both consumers own
 * some, and a lock the test holds makes both wait inside the same ALTER
 * TABLE ... ADD COLUMN before one of them wins.  Neither may stop or log
 * an error; every record's final row must be stored, new columns included,
 * and the group must commit every partition to its end. */
static void run_concurrent_evolution(int workers, int processes)
{
    evolve_run r;
    memset(&r, 0, sizeof(r));
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    r.c = ts_pg_connect();
    r.schema = ts_pg_fresh_schema(r.c, "avro_race");
    r.topic = ts_unique_name("avro_race");
    r.group = ts_unique_name("sluice_race");
    ts_kafka_create_topic(r.topic, EVOLVE_PARTS);
    char *subject;
    if (asprintf(&subject, "%s-value", r.topic) < 0)
        ck_abort();
    const char *schemas[3] = {v1, v2, v3};
    for (int v = 0; v < 3; v++) {
        r.ids[v] = ar_register(reg, subject, schemas[v]);
        at_init(&r.t[v], schemas[v]);
    }
    free(subject);

    char table[256], extra[256];
    snprintf(table, sizeof(table), "%s.items", r.schema);
    /* the route's options, then (back at the top level) the worker count */
    snprintf(extra, sizeof(extra),
             "    key_format: string\n"
             "    key: [id]\n"
             "    auto_create: true\n"
             "    auto_evolve: true\n"
             "workers: %d\n",
             workers);
    char *dirs[2] = {0}, *cfgs[2] = {0};
    r.ndaemons = processes;
    for (int i = 0; i < processes; i++) {
        dirs[i] = ts_tempdir("avro_race");
        cfgs[i] = config(dirs[i], r.group, reg->url, r.topic, table, extra);
        r.logs[i] = ts_write_file(dirs[i], "sluice.log", "%s", "");
        r.d[i] = ts_daemon_start(cfgs[i], r.logs[i]);
    }

    /* both consumers own partitions before the first record: both meet
     * the missing table, and later both meet each new version */
    if (!ts_wait_until(shared_assignment, &r, 60000)) {
        char *tails = evolve_tails(&r);
        ck_abort_msg("the group did not share the %d partitions within 60 s%s", EVOLVE_PARTS, tails);
    }
    for (int i = 1; i <= 40; i++)
        evolve_produce(&r, i, 1);
    ts_flush();
    evolve_wait_committed(&r, "v1");
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(*) FROM items", NULL), 40);
    ck_assert_msg(shared_assignment(&r), "the partitions are no longer shared");

    evolve_round_at_once(&r, 2, "qty", round2_rest);
    evolve_wait_committed(&r, "v2");
    evolve_round_at_once(&r, 3, "note", round3_rest);
    evolve_wait_committed(&r, "v3");

    for (int i = 0; i < processes; i++) {
        int code = ts_daemon_stop(r.d[i], 60000);
        char *tail = sc_log_tail(r.logs[i], 3000);
        ck_assert_msg(code == 0, "sluice %d exited with %d after SIGTERM; log tail:\n%s", i, code, tail);
        free(tail);
    }

    /* both consumers ran each ALTER TABLE, and both succeeded */
    const char *added[2] = {"auto_evolve: added nullable column \"qty\" integer",
                            "auto_evolve: added nullable column \"note\" numeric(9,3)"};
    for (int k = 0; k < 2; k++) {
        if (processes == 2) {
            for (int i = 0; i < 2; i++)
                ck_assert_msg(count_lines(r.logs[i], added[k], NULL) == 1, "sluice %d: '%s' logged %d times", i,
                              added[k], count_lines(r.logs[i], added[k], NULL));
        } else {
            for (int w = 1; w <= workers; w++) {
                char who[32];
                snprintf(who, sizeof(who), "(worker %d)", w);
                ck_assert_msg(count_lines(r.logs[0], added[k], who) == 1, "%s: '%s' logged %d times", who, added[k],
                              count_lines(r.logs[0], added[k], who));
            }
        }
    }
    for (int i = 0; i < processes; i++) {
        /* sluice's level field follows the timestamp ("...Z ERROR "), which
         * tells its lines from a wrapper's (valgrind's "ERROR SUMMARY") */
        int errors = count_lines(r.logs[i], "Z ERROR ", NULL) + count_lines(r.logs[i], "FATAL", NULL) +
                     count_lines(r.logs[i], "write failed", NULL);
        char *all = ts_read_file(r.logs[i]);
        ck_assert_msg(errors == 0, "sluice %d logged %d error line(s):\n%s", i, errors, all);
        free(all);
    }

    /* the table: created from v1, evolved by v2 and v3 */
    ts_pg_expect_coltype(r.c, "items", "id", "bigint");
    ts_pg_expect_coltype(r.c, "items", "name", "text");
    ts_pg_expect_coltype(r.c, "items", "qty", "integer");
    ts_pg_expect_coltype(r.c, "items", "note", "numeric(9,3)");
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1"
                                    " AND table_name = 'items'", r.schema, NULL), 4);
    /* every record's final row */
    int n = 0;
    for (int i = 1; i <= EVOLVE_MAX_ID; i++)
        n += r.last_ver[i] > 0;
    ck_assert_int_eq(ts_pg_int(r.c, "SELECT count(*) FROM items", NULL), n);
    for (int i = 1; i <= EVOLVE_MAX_ID; i++) {
        int ver = r.last_ver[i];
        if (!ver)
            continue;
        char id[16], want[64];
        snprintf(id, sizeof(id), "%d", i);
        snprintf(want, sizeof(want), "item %d v%d", i, ver);
        expect_text(r.c, "items", "name", id, want);
        snprintf(want, sizeof(want), "%d", i * 10);
        expect_text(r.c, "items", "qty", id, ver >= 2 ? want : NULL);
        snprintf(want, sizeof(want), "-%d.%03d", i * 1001 / 1000, i * 1001 % 1000);
        expect_text(r.c, "items", "note", id, ver == 3 && i % 2 ? want : NULL);
    }
    ck_assert(sc_offsets_at_end(r.group, r.topic, EVOLVE_PARTS));

    for (int i = 0; i < processes; i++) {
        ts_daemon_free(r.d[i]);
        free(cfgs[i]);
        free(r.logs[i]);
        free(dirs[i]);
    }
    for (int v = 0; v < 3; v++)
        at_fini(&r.t[v]);
    PQfinish(r.c);
    ar_free(reg);
    ts_kafka_stop();
    free(r.schema);
    free(r.topic);
    free(r.group);
}

/* ---- auto_evolve: widen ---------------------------------------------- */

static const char w1[] =
    "{\"type\":\"record\",\"name\":\"Acct\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"price\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":8,\"scale\":2}},"
    "{\"name\":\"ratio\",\"type\":\"float\"},{\"name\":\"name\",\"type\":\"string\"}]}";
/* what Avro's schema resolution allows: int to long, float to double, a
 * decimal's precision raised at the same scale, a field made optional */
static const char w2[] =
    "{\"type\":\"record\",\"name\":\"Acct\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"qty\",\"type\":\"long\"},"
    "{\"name\":\"price\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":12,\"scale\":2}},"
    "{\"name\":\"ratio\",\"type\":\"double\"},{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null}]}";
/* a decimal's scale changed: every stored value would be rewritten */
static const char w3[] =
    "{\"type\":\"record\",\"name\":\"Acct\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"qty\",\"type\":\"long\"},"
    "{\"name\":\"price\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":14,\"scale\":4}},"
    "{\"name\":\"ratio\",\"type\":\"double\"},{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static void set_field_decimal(avro_value_t *rec, const char *name, __int128 unscaled)
{
    avro_value_t f;
    unsigned char be[17];
    ck_assert_int_eq(avro_value_get_by_name(rec, name, &f, NULL), 0);
    size_t n = ar_be_bytes(unscaled, be);
    ck_assert_int_eq(avro_value_set_bytes(&f, be, n), 0);
}

static void produce_acct(const char *topic, avro_type *t, int sid, int version, int64_t id, int64_t qty,
                         __int128 price, double ratio, const char *name)
{
    avro_value_t f, b;
    avro_value_reset(&t->value);
    avro_value_get_by_name(&t->value, "id", &f, NULL);
    avro_value_set_long(&f, id);
    avro_value_get_by_name(&t->value, "qty", &f, NULL);
    if (version == 1)
        avro_value_set_int(&f, (int32_t)qty);
    else
        avro_value_set_long(&f, qty);
    set_field_decimal(&t->value, "price", price);
    avro_value_get_by_name(&t->value, "ratio", &f, NULL);
    if (version == 1)
        avro_value_set_float(&f, (float)ratio);
    else
        avro_value_set_double(&f, ratio);
    avro_value_get_by_name(&t->value, "name", &f, NULL);
    if (version == 1)
        avro_value_set_string(&f, name);
    else if (name) {
        avro_value_set_branch(&f, 1, &b);
        avro_value_set_string(&b, name);
    } else {
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
    }
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    size_t len;
    char *w = ar_wire(sid, &t->value, &len);
    ts_produce(topic, 0, key, strlen(key), w, len);
    free(w);
}

static bool pg_col_nullable(PGconn *c, const char *table, const char *col)
{
    char *v = ts_pg_text(c, "SELECT is_nullable FROM information_schema.columns WHERE table_schema = "
                            "current_schema() AND table_name = $1 AND column_name = $2", table, col, NULL);
    bool yes = v && !strcmp(v, "YES");
    free(v);
    return yes;
}

/* auto_evolve: widen, from Avro schema versions: integer, float, decimal
 * precision and optionality widen the user's table (each ALTER logged);
 * a decimal whose scale changes stops the route before its record. */
START_TEST(test_widen)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "avro_widen");
    char *topic = ts_unique_name("avro_widen");
    char *group = ts_unique_name("sluice_widen");
    ts_kafka_create_topic(topic, 1);
    ts_pg_exec(c, "CREATE TABLE accts (id bigint PRIMARY KEY, qty integer NOT NULL, price numeric(8,2) NOT NULL,"
                  " ratio real, name text NOT NULL)", NULL);
    char *subject;
    if (asprintf(&subject, "%s-value", topic) < 0)
        ck_abort();
    int id1 = ar_register(reg, subject, w1), id2 = ar_register(reg, subject, w2), id3 = ar_register(reg, subject, w3);
    free(subject);
    avro_type t1, t2, t3;
    at_init(&t1, w1);
    at_init(&t2, w2);
    at_init(&t3, w3);
    produce_acct(topic, &t1, id1, 1, 1, 7, 123456, 0.5, "one");          /* @0 */
    produce_acct(topic, &t2, id2, 2, 2, 5000000000LL, 123456789012, 0.1, NULL); /* @1 */
    produce_acct(topic, &t1, id1, 1, 3, -3, -99, 0.25, "three");        /* @2 */
    produce_acct(topic, &t3, id3, 3, 4, 1, 10000, 1.0, "four");         /* @3: refused */
    produce_acct(topic, &t2, id2, 2, 5, 1, 1, 1.0, "five");             /* @4: after it */
    ts_flush();

    char *dir = ts_tempdir("avro_widen");
    char table[256];
    snprintf(table, sizeof(table), "%s.accts", schema);
    char *cfg = config(dir, group, reg->url, topic, table,
                       "    key_format: string\n"
                       "    key: [id]\n"
                       "    auto_evolve: widen\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    ck_assert_msg(ts_daemon_wait(d, 120000), "sluice kept running past a decimal's scale change");
    ck_assert_int_ne(ts_daemon_exit_code(d), 0);

    ts_pg_expect_coltype(c, "accts", "qty", "bigint");
    ts_pg_expect_coltype(c, "accts", "price", "numeric(12,2)");
    ts_pg_expect_coltype(c, "accts", "ratio", "double precision");
    ts_pg_expect_coltype(c, "accts", "name", "text");
    ck_assert(pg_col_nullable(c, "accts", "name"));
    ck_assert(!pg_col_nullable(c, "accts", "qty")); /* still required: NOT NULL kept */
    char *rows = ts_pg_text(c, "SELECT string_agg(id || ':' || qty || ':' || price || ':' || ratio || ':' || "
                               "coalesce(name, 'NULL'), ',' ORDER BY id) FROM accts", NULL);
    ck_assert_str_eq(rows, "1:7:1234.56:0.5:one,2:5000000000:1234567890.12:0.1:NULL,3:-3:-0.99:0.25:three");
    free(rows);
    /* offsets: up to the refused record, not past it */
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), 3);

    char *all = ts_read_file(log);
    char want[512];
    const char *ddl[] = {"ALTER TABLE \"%s\".\"accts\" ALTER COLUMN \"qty\" TYPE bigint",
                         "ALTER TABLE \"%s\".\"accts\" ALTER COLUMN \"ratio\" TYPE double precision",
                         "ALTER TABLE \"%s\".\"accts\" ALTER COLUMN \"name\" DROP NOT NULL"};
    for (size_t k = 0; k < 3; k++) {
        snprintf(want, sizeof(want), ddl[k], schema);
        ck_assert_msg(strstr(all, want), "no '%s' in the log:\n%s", want, all);
    }
    /* price stays required: its NOT NULL is kept */
    snprintf(want, sizeof(want), "ALTER TABLE \"%s\".\"accts\" ALTER COLUMN \"price\" TYPE numeric(12,2)\n", schema);
    ck_assert_msg(strstr(all, want), "no '%s' in the log:\n%s", want, all);
    snprintf(want, sizeof(want),
             "%s[0]@3: route 1: auto_evolve: field \"price\" of schema id %d is bytes decimal(14,4) "
             "(numeric(14,4)) but column \"%s\".\"accts\".\"price\" is numeric(12,2): a decimal's scale changed "
             "(every stored value would be rewritten); sluice widens a column but never narrows it or changes "
             "its kind: alter the table or the schema",
             topic, id3, schema);
    ck_assert_msg(strstr(all, want), "no '%s' in the log:\n%s", want, all);
    free(all);

    ts_daemon_free(d);
    at_fini(&t1);
    at_fini(&t2);
    at_fini(&t3);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    free(cfg);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
}
END_TEST

START_TEST(test_two_workers_evolve_at_once)
{
    run_concurrent_evolution(2, 1);
}
END_TEST

START_TEST(test_two_daemons_evolve_at_once)
{
    run_concurrent_evolution(1, 2);
}
END_TEST

int main(void)
{
    ts_require_pg();
    Suite *s = suite_create("avro end to end");
    TCase *tc = tcase_create("avro");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_type_roundtrip);
    tcase_add_test(tc, test_evolution);
    tcase_add_test(tc, test_direct_cells);
    tcase_add_test(tc, test_registry_down_then_up);
    tcase_add_test(tc, test_corrupt_skip);
    suite_add_tcase(s, tc);
    /* CK_RUN_CASE=hostile runs only the crafted records */
    TCase *tch = tcase_create("hostile");
    tcase_set_timeout(tch, 300);
    tcase_add_test(tch, test_hostile_records);
    tcase_add_test(tch, test_secrets_never_leave);
    suite_add_tcase(s, tch);
    /* CK_RUN_CASE=widen: auto_evolve: widen */
    TCase *tcw = tcase_create("widen");
    tcase_set_timeout(tcw, 300);
    tcase_add_test(tcw, test_widen);
    suite_add_tcase(s, tcw);
    /* a case of its own: CK_RUN_CASE=concurrent runs only these */
    TCase *tcc = tcase_create("concurrent");
    tcase_set_timeout(tcc, 600);
    tcase_add_test(tcc, test_two_workers_evolve_at_once);
    tcase_add_test(tcc, test_two_daemons_evolve_at_once);
    suite_add_tcase(s, tcc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
