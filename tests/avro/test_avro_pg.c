/* test_avro_pg.c - Avro end to end: records in Confluent's wire format,
 * produced with avro-c into Kafka (librdkafka's mock cluster, or
 * SLUICE_TEST_BOOTSTRAP), read by the sluice daemon through the test schema
 * registry (or SLUICE_TEST_SCHEMA_REGISTRY) and stored in the PostgreSQL of
 * SLUICE_TEST_DSN.  Every assertion reads what PostgreSQL stored. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/scenario.h"
#include "avro_support.h"
#include "sluice/strbuf.h"
#include "support.h"

typedef struct avro_type {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
} avro_type;

static void at_init(avro_type *t, const char *json)
{
    ck_assert_msg(avro_schema_from_json_length(json, strlen(json), &t->schema) == 0, "%s", avro_strerror());
    t->iface = avro_generic_class_from_schema(t->schema);
    ck_assert_int_eq(avro_generic_value_new(t->iface, &t->value), 0);
}

static void at_fini(avro_type *t)
{
    avro_value_decref(&t->value);
    avro_value_iface_decref(t->iface);
    avro_schema_decref(t->schema);
}

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

static void expect_coltype(PGconn *c, const char *table, const char *col, const char *want)
{
    char *got = ts_pg_text(c,
                           "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped",
                           table, col, NULL);
    ck_assert_msg(got && !strcmp(got, want), "column %s.%s is %s, want %s", table, col, got ? got : "missing", want);
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
    expect_coltype(c, "alltypes", "dec", "numeric(20,4)");
    expect_coltype(c, "alltypes", "decfx", "numeric(20,2)");
    expect_coltype(c, "alltypes", "tsus", "timestamp with time zone");
    expect_coltype(c, "alltypes", "ltus", "timestamp without time zone");
    expect_coltype(c, "alltypes", "day", "date");
    expect_coltype(c, "alltypes", "tus", "time without time zone");
    expect_coltype(c, "alltypes", "u", "uuid");
    expect_coltype(c, "alltypes", "raw", "bytea");
    expect_coltype(c, "alltypes", "tags", "text[]");
    expect_coltype(c, "alltypes", "inner", "jsonb");

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

static const char v1[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"}]}";
static const char v2[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"},"
                         "{\"name\":\"qty\",\"type\":\"int\",\"default\":0}]}";
static const char v3[] = "{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"},"
                         "{\"name\":\"qty\",\"type\":\"int\",\"default\":0},"
                         "{\"name\":\"note\",\"type\":[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":9,\"scale\":3}],\"default\":null}]}";

static void produce_item(const char *topic, avro_type *t, int id, int version, int64_t rid)
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
    ts_produce(topic, 0, key, strlen(key), b, len);
    free(b);
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

    expect_coltype(c, "items", "qty", "integer");
    expect_coltype(c, "items", "note", "numeric(9,3)");
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

int main(void)
{
    ts_require_pg();
    Suite *s = suite_create("avro end to end");
    TCase *tc = tcase_create("avro");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_type_roundtrip);
    tcase_add_test(tc, test_evolution);
    tcase_add_test(tc, test_registry_down_then_up);
    tcase_add_test(tc, test_corrupt_skip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
