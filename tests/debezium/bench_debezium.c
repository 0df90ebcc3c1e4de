/* bench_debezium.c - how fast a Debezium feed goes into PostgreSQL compared
 * with plain JSON of the same rows.  Not a test (it asserts only that every
 * run ends with the right row count): it prints records per second.
 *
 *   SLUICE_TEST_DSN=... build/tests/debezium/bench-debezium [EVENTS]
 *
 * The same EVENTS row changes (upserts of KEYS keys over 4 partitions:
 * bigint, text, numeric(12,2), timestamptz, jsonb) are produced to three
 * topics of librdkafka's mock cluster: plain JSON, Debezium envelopes with
 * the Connect schema (JsonConverter schemas.enable=true) and without it.
 * For each, a fresh daemon drains its topic into its own table; the time
 * from start to the group's commit of the last offset gives the rate.
 * SLUICE_BENCH_TEMPLATE=1 gives the Debezium routes the table
 * `<schema>.${source.table}` (each event names its own table). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scenario.h"
#include "support.h"

#define KEYS 10000
#define NPARTS 4

static int nevents = 100000;

static const char schema_json[] =
    "{\"type\":\"struct\",\"name\":\"bench.public.t.Envelope\",\"optional\":false,\"fields\":["
    "{\"field\":\"before\",\"type\":\"struct\",\"optional\":true,\"name\":\"bench.public.t.Value\",\"fields\":["
    "{\"field\":\"id\",\"type\":\"int64\",\"optional\":false},{\"field\":\"name\",\"type\":\"string\",\"optional\":true},"
    "{\"field\":\"amount\",\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
    "\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"12\"}},"
    "{\"field\":\"at\",\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1},"
    "{\"field\":\"doc\",\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1}]},"
    "{\"field\":\"after\",\"type\":\"struct\",\"optional\":true,\"name\":\"bench.public.t.Value\",\"fields\":["
    "{\"field\":\"id\",\"type\":\"int64\",\"optional\":false},{\"field\":\"name\",\"type\":\"string\",\"optional\":true},"
    "{\"field\":\"amount\",\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
    "\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"12\"}},"
    "{\"field\":\"at\",\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1},"
    "{\"field\":\"doc\",\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1}]},"
    "{\"field\":\"source\",\"type\":\"struct\",\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\","
    "\"fields\":[{\"field\":\"schema\",\"type\":\"string\"},{\"field\":\"table\",\"type\":\"string\"},"
    "{\"field\":\"ts_ms\",\"type\":\"int64\"},{\"field\":\"lsn\",\"type\":\"int64\"}]},"
    "{\"field\":\"op\",\"type\":\"string\",\"optional\":false},{\"field\":\"ts_ms\",\"type\":\"int64\",\"optional\":true}]}";

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of the 3-byte big-endian two's complement of @v (|v| < 2^23) */
static void dec_b64(int64_t v, char out[5])
{
    unsigned x = (unsigned)v & 0xffffff;
    out[0] = b64[x >> 18];
    out[1] = b64[(x >> 12) & 63];
    out[2] = b64[(x >> 6) & 63];
    out[3] = b64[x & 63];
    out[4] = '\0';
}

static void produce_all(const char *topic, int format, const char *tname)
{
    char value[4096], key[128];
    for (int i = 0; i < nevents; i++) {
        int64_t id = i % KEYS, cents = (int64_t)(i * 7919) % 800000 - 400000;
        int part = (int)(id % NPARTS);
        char at[40], amount[24];
        snprintf(at, sizeof(at), "2024-05-%02dT12:%02d:%02d.%06dZ", 1 + i % 28, i % 60, (i / 60) % 60, i % 1000000);
        snprintf(amount, sizeof(amount), "%s%lld.%02lld", cents < 0 ? "-" : "", (long long)(llabs(cents) / 100),
                 (long long)(llabs(cents) % 100));
        if (format == 0) {
            snprintf(key, sizeof(key), "{\"id\":%" PRId64 "}", id);
            snprintf(value, sizeof(value),
                     "{\"id\":%" PRId64 ",\"name\":\"customer %d\",\"amount\":\"%s\",\"at\":\"%s\","
                     "\"doc\":{\"seq\":%d,\"tags\":[\"a\",\"b\"]}}",
                     id, i, amount, at, i);
        } else {
            char dec[5];
            dec_b64(cents, dec);
            const char *dv = format == 1 ? dec : amount;
            int n = snprintf(value, sizeof(value), "%s", format == 1 ? "{\"schema\":" : "");
            if (format == 1)
                n += snprintf(value + n, sizeof(value) - (size_t)n, "%s,\"payload\":", schema_json);
            n += snprintf(value + n, sizeof(value) - (size_t)n,
                          "{\"before\":null,\"after\":{\"id\":%" PRId64 ",\"name\":\"customer %d\",\"amount\":\"%s\","
                          "\"at\":\"%s\",\"doc\":\"{\\\"seq\\\":%d,\\\"tags\\\":[\\\"a\\\",\\\"b\\\"]}\"},"
                          "\"source\":{\"schema\":\"public\",\"table\":\"%s\",\"ts_ms\":1700000000000,\"lsn\":%d},"
                          "\"op\":\"%s\",\"ts_ms\":1700000000001}%s",
                          id, i, dv, at, i, tname, 1000 + i, i < KEYS ? "c" : "u", format == 1 ? "}" : "");
            if (format == 1)
                snprintf(key, sizeof(key),
                         "{\"schema\":{\"type\":\"struct\",\"name\":\"bench.public.t.Key\",\"fields\":"
                         "[{\"field\":\"id\",\"type\":\"int64\",\"optional\":false}]},\"payload\":{\"id\":%" PRId64 "}}",
                         id);
            else
                snprintf(key, sizeof(key), "{\"id\":%" PRId64 "}", id);
        }
        ts_produce(topic, part, key, strlen(key), value, strlen(value));
    }
    ts_flush();
}

START_TEST(bench)
{
    static const char *const names[] = {"plain JSON", "Debezium, JSON with schema", "Debezium, JSON without schema"};
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "dbz_bench");
    char *dir = ts_tempdir("dbz_bench");
    const char *only = getenv("SLUICE_BENCH_ONLY"); /* run one format: 0, 1 or 2 */
    /* SLUICE_BENCH_TEMPLATE=1: the Debezium routes name their table from the
     * event (`${source.table}`), as CDC configurations usually do */
    bool tmpl = getenv("SLUICE_BENCH_TEMPLATE") && atoi(getenv("SLUICE_BENCH_TEMPLATE"));
    for (int f = 0; f < 3; f++) {
        if (only && atoi(only) != f)
            continue;
        char *topic = ts_unique_name("bench"), *group = ts_unique_name("bench_group"), tname[32];
        snprintf(tname, sizeof(tname), "t%d", f);
        char ddl[256];
        snprintf(ddl, sizeof(ddl),
                 "CREATE TABLE %s (id bigint PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, doc jsonb)",
                 tname);
        ts_pg_exec(c, ddl, NULL);
        ts_kafka_create_topic(topic, NPARTS);
        produce_all(topic, f, tname);
        char *kafka = sc_kafka_yaml(group);
        char *config = ts_write_file(dir, "sluice.yaml",
                                     "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                     "routes:\n  - topics: [\"%s\"]\n    target: pg\n    table: %s.%s\n"
                                     "    format: %s\nbatch:\n  max_rows: 10000\n  linger_ms: 100\n",
                                     kafka, topic, schema, f && tmpl ? "${source.table}" : tname,
                                     f ? "debezium" : "json");
        char *log = ts_write_file(dir, "sluice.log", "%s", "");
        int64_t t0 = ts_now_ms();
        ts_daemon *d = ts_daemon_start(config, log);
        sc_wait_committed(group, topic, NPARTS, 600000, log);
        int64_t ms = ts_now_ms() - t0;
        ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
        ts_daemon_free(d);
        char q[128];
        snprintf(q, sizeof(q), "SELECT count(*) FROM %s", tname);
        ck_assert_int_eq(ts_pg_int(c, q, NULL), KEYS);
        printf("%-32s %d events in %" PRId64 " ms: %.0f events/s\n", names[f], nevents, ms,
               nevents * 1000.0 / (double)ms);
        fflush(stdout);
        free(topic);
        free(group);
        free(kafka);
        free(config);
        free(log);
    }
    free(dir);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1)
        nevents = atoi(argv[1]);
    const TTest *tests[] = {bench};
    return sc_main("debezium bench", tests, 1);
}
