/* test_avro_debezium.c - Debezium change events that Debezium's PostgreSQL
 * connector wrote through Apicurio Registry's Avro converter (recorded from
 * a live capture by tests/debezium/cdc/record_avro.sh into
 * tests/debezium/data/pg_avro.*) replayed through the sluice daemon into
 * PostgreSQL with auto_create.  The recorded schemas are registered with the
 * test registry (or SLUICE_TEST_SCHEMA_REGISTRY), each record's schema ids
 * rewritten to the ids it gave; afterwards every table must hold exactly the
 * rows the source held when the events were recorded. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "avro_support.h"
#include "support.h"
#include "runner.h"

#define DATA SOURCE_ROOT "/tests/debezium/data/"

enum { T_TYPES, T_TDOC, NTABLES };
static const char *const table_name[NTABLES] = {"types", "tdoc"};

/* The recorded ids and the ids the registry gave the same schemas. */
typedef struct id_map {
    int from[64], to[64];
    int n;
} id_map;

static int table_index(const char *name)
{
    for (int i = 0; i < NTABLES; i++)
        if (!strcmp(name, table_name[i]))
            return i;
    ck_abort_msg("pg_avro.events: unknown table %s", name);
    return -1;
}

/* hex_record() - the bytes of @hex ("-": none), its schema id rewritten
 * through @m; *@len set.  NULL for "-". */
static unsigned char *hex_record(const char *hex, const id_map *m, size_t *len)
{
    *len = 0;
    if (!strcmp(hex, "-"))
        return NULL;
    size_t n = strlen(hex) / 2;
    ck_assert_msg(n >= 5 && strlen(hex) % 2 == 0, "pg_avro.events: bad record %.40s", hex);
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        b[i] = (unsigned char)v;
    }
    ck_assert_msg(b[0] == 0, "pg_avro.events: not Confluent's wire format");
    int id = (b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4];
    int i = 0;
    while (i < m->n && m->from[i] != id)
        i++;
    ck_assert_msg(i < m->n, "pg_avro.events: schema id %d not in pg_avro.schemas.json", id);
    b[1] = (unsigned char)(m->to[i] >> 24);
    b[2] = (unsigned char)(m->to[i] >> 16);
    b[3] = (unsigned char)(m->to[i] >> 8);
    b[4] = (unsigned char)m->to[i];
    *len = n;
    return b;
}

/* The target's rows, each read as the source column's type, as the
 * recorder printed the source's (pg_avro.expected). */
static const char *const rows_sql[NTABLES] = {
    "SELECT to_json(row(id, si, i, bi, n, n2, r, d, b, t, vc::varchar(20), c::char(5), by, u, j::jsonb, jb,"
    " dt, tm, ttz::timetz, ts, tstz, iv::interval, ai, at, e::text)::text)::text FROM types ORDER BY id",
    "SELECT to_json(row(id, title, body)::text)::text FROM tdoc ORDER BY id",
};

START_TEST(test_recorded_apicurio_events)
{
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, true);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "dbz_avro");
    char *group = ts_unique_name("dbz_avro");
    char *topic[NTABLES];
    for (int i = 0; i < NTABLES; i++) {
        char base[32];
        snprintf(base, sizeof(base), "dbz_avro_%s", table_name[i]);
        topic[i] = ts_unique_name(base);
        ts_kafka_create_topic(topic[i], 1);
    }

    /* the recorded schemas, registered anew */
    json_error_t jerr;
    json_t *schemas = json_load_file(DATA "pg_avro.schemas.json", 0, &jerr);
    ck_assert_msg(schemas != NULL, "pg_avro.schemas.json:%d: %s", jerr.line, jerr.text);
    id_map m = {.n = 0};
    const char *idtext;
    json_t *text;
    json_object_foreach(schemas, idtext, text) {
        ck_assert(m.n < 64 && json_is_string(text));
        char *subject = ts_unique_name("dbz_avro_schema");
        m.from[m.n] = atoi(idtext);
        m.to[m.n] = ar_register(reg, subject, json_string_value(text));
        m.n++;
        free(subject);
    }
    json_decref(schemas);

    /* the recorded records, in order */
    char *events = ts_read_file(DATA "pg_avro.events");
    ck_assert(events != NULL);
    int produced[NTABLES] = {0};
    char *save = NULL;
    for (char *line = strtok_r(events, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[16], khex[4096], vhex[32768];
        ck_assert_msg(sscanf(line, "%15s %4095s %32767s", name, khex, vhex) == 3, "pg_avro.events: %.60s", line);
        size_t klen, vlen;
        unsigned char *k = hex_record(khex, &m, &klen);
        unsigned char *v = hex_record(vhex, &m, &vlen);
        int t = table_index(name);
        ts_produce(topic[t], 0, k, klen, v, vlen);
        produced[t]++;
        free(k);
        free(v);
    }
    free(events);
    ts_flush();
    ck_assert_int_gt(produced[T_TYPES], 0);
    ck_assert_int_gt(produced[T_TDOC], 0);

    char *dir = ts_tempdir("dbz_avro");
    char *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%s"
                              "schema_registry:\n"
                              "  url: [\"%s\"]\n"
                              "targets:\n"
                              "  pg:\n"
                              "    type: postgresql\n"
                              "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "routes:\n"
                              "  - topics: [\"%s\", \"%s\"]\n"
                              "    target: pg\n"
                              "    table: %s.${source.table}\n"
                              "    format: debezium\n"
                              "    key_format: avro\n"
                              "    auto_create: true\n"
                              "batch:\n"
                              "  max_rows: 100\n"
                              "  linger_ms: 20\n",
                              kafka, reg->url, topic[T_TYPES], topic[T_TDOC], schema);
    free(kafka);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    for (int i = 0; i < NTABLES; i++)
        sc_wait_committed(group, topic[i], 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    /* the table's columns as the Avro schema describes them */
    ts_pg_expect_coltype(c, "types", "bi", "bigint");
    ts_pg_expect_coltype(c, "types", "n", "numeric");
    ts_pg_expect_coltype(c, "types", "n2", "numeric(14,3)");
    ts_pg_expect_coltype(c, "types", "r", "real");
    ts_pg_expect_coltype(c, "types", "by", "bytea");
    ts_pg_expect_coltype(c, "types", "u", "uuid");
    ts_pg_expect_coltype(c, "types", "jb", "jsonb");
    ts_pg_expect_coltype(c, "types", "dt", "date");
    ts_pg_expect_coltype(c, "types", "tm", "time without time zone");
    ts_pg_expect_coltype(c, "types", "ts", "timestamp without time zone");
    ts_pg_expect_coltype(c, "types", "tstz", "timestamp with time zone");
    ts_pg_expect_coltype(c, "types", "ai", "integer[]");
    ts_pg_expect_coltype(c, "types", "at", "text[]");

    /* every row as the source held it */
    ts_pg_exec(c, "SET TimeZone = 'UTC'", NULL);
    json_t *want[NTABLES];
    for (int i = 0; i < NTABLES; i++)
        want[i] = json_array();
    char *expected = ts_read_file(DATA "pg_avro.expected");
    ck_assert(expected != NULL);
    save = NULL;
    for (char *line = strtok_r(expected, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        ck_assert_msg(sp != NULL, "pg_avro.expected: %.60s", line);
        *sp = '\0';
        json_t *row = json_loads(sp + 1, JSON_DECODE_ANY, &jerr);
        ck_assert_msg(row && json_is_string(row), "pg_avro.expected: %s", jerr.text);
        json_array_append_new(want[table_index(line)], row);
    }
    free(expected);
    for (int i = 0; i < NTABLES; i++) {
        char sql[512];
        snprintf(sql, sizeof(sql), "SELECT coalesce(json_agg(x)::text, '[]') FROM (%s) q(x)", rows_sql[i]);
        char *got_text = ts_pg_text(c, sql, NULL);
        json_t *got = json_loads(got_text, 0, &jerr);
        ck_assert_msg(got != NULL, "%s: %s", table_name[i], got_text);
        /* each element is the to_json() of a row's text: a JSON string */
        size_t n = json_array_size(want[i]);
        ck_assert_msg(json_array_size(got) == n, "%s: %zu rows, want %zu; stored: %s\nlog tail:\n%s",
                      table_name[i], json_array_size(got), n, got_text, sc_log_tail(log, 2000));
        for (size_t r = 0; r < n; r++) {
            json_t *g = json_loads(json_string_value(json_array_get(got, r)), JSON_DECODE_ANY, NULL);
            const char *gs = g ? json_string_value(g) : NULL;
            const char *ws = json_string_value(json_array_get(want[i], r));
            ck_assert_msg(gs && !strcmp(gs, ws), "%s row %zu:\n  want: %s\n  got:  %s", table_name[i], r + 1, ws,
                          gs ? gs : "(unreadable)");
            json_decref(g);
        }
        json_decref(got);
        json_decref(want[i]);
        free(got_text);
    }

    ts_daemon_free(d);
    PQfinish(c);
    ar_free(reg);
    ts_kafka_stop();
    for (int i = 0; i < NTABLES; i++)
        free(topic[i]);
    free(cfg);
    free(log);
    free(dir);
    free(group);
    free(schema);
}
END_TEST

int main(void)
{
    ts_require_pg();
    Suite *s = suite_create("Debezium over Avro, recorded events");
    TCase *tc = tcase_create("recorded");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_recorded_apicurio_events);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
