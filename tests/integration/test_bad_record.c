/* test_bad_record.c - a record that cannot be mapped, in the middle of a
 * partition, under the default on_error: fail.  The daemon must stop with a
 * non-zero status, name topic[partition]@offset of the record in its log,
 * store the rows before it and commit nothing past it. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 2
#define FIRST 100  /* good records per partition before the daemon starts */
#define BEFORE 20  /* good records on partition 0 right before the bad one */
#define BAD_OFFSET (FIRST + BEFORE)

/* Rows carry their own position: id = partition * 1,000,000 + offset. */
static void produce_good(const char *topic, int part, int64_t from, int n)
{
    char key[64], value[128];
    for (int64_t off = from; off < from + n; off++) {
        int64_t id = part * 1000000 + off;
        snprintf(key, sizeof(key), "{\"id\":%" PRId64 "}", id);
        snprintf(value, sizeof(value), "{\"id\":%" PRId64 ",\"part\":%d,\"qty\":%d}", id, part, (int)(off % 50));
        ts_produce_str(topic, part, key, value);
    }
}

static void run_bad_record(const char *bad_value)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_bad");
    ts_pg_exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, part integer NOT NULL, qty integer)", NULL);

    char *topic = ts_unique_name("items");
    char *group = ts_unique_name("sluice_bad");
    ts_kafka_create_topic(topic, NPARTS);

    char *dir = ts_tempdir("bad");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n"
                                 "    target: pg\n"
                                 "    table: %s.items\n"
                                 "    format: json\n"
                                 "    mode: upsert\n"
                                 "    key: [id]\n"
                                 "batch:\n"
                                 "  max_rows: 1000\n"
                                 "  linger_ms: 50\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* A first stretch of good records is stored and committed ... */
    for (int p = 0; p < NPARTS; p++)
        produce_good(topic, p, 0, FIRST);
    ts_flush();
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 120000, log);

    /* ... then partition 0 gets more good records, the bad one, and more. */
    produce_good(topic, 0, FIRST, BEFORE);
    ts_flush();
    ck_assert_int_eq(ts_kafka_high_watermark(topic, 0), BAD_OFFSET);
    char key[64];
    snprintf(key, sizeof(key), "{\"id\":%d}", BAD_OFFSET);
    ts_produce_str(topic, 0, key, bad_value);
    produce_good(topic, 0, BAD_OFFSET + 1, 20);
    produce_good(topic, 1, FIRST, 10);
    ts_flush();

    bool exited = ts_daemon_wait(d, 120000);
    char *tail = sc_log_tail(log, 4000);
    ck_assert_msg(exited, "sluice kept running after the bad record; log tail:\n%s", tail);
    int code = ts_daemon_exit_code(d);
    ck_assert_msg(code != 0 && code < 128, "sluice exited with %d, expected a non-zero exit; log tail:\n%s",
                  code, tail);
    ck_assert_msg(code != TS_WRAPPER_ERROR_EXIT, "the memory checker found errors; log tail:\n%s", tail);

    char where[256];
    snprintf(where, sizeof(where), "%s[0]@%d", topic, BAD_OFFSET);
    char *all = ts_daemon_log(d);
    ck_assert_msg(strstr(all, where) != NULL, "the log does not name %s; log tail:\n%s", where, tail);
    free(all);

    /* Nothing past the bad record is committed, in Kafka or in the database. */
    int64_t committed = ts_kafka_committed(group, topic, 0);
    int64_t stored = sc_stored_offset(c, group, topic, 0);
    ck_assert_msg(committed >= FIRST && committed <= BAD_OFFSET,
                  "Kafka holds offset %" PRId64 " for %s[0], expected %d..%d", committed, topic, FIRST, BAD_OFFSET);
    ck_assert_msg(stored >= FIRST && stored <= BAD_OFFSET,
                  "sluice.offsets holds %" PRId64 " for %s[0], expected %d..%d", stored, topic, FIRST, BAD_OFFSET);

    /* The rows before the bad record are stored, none after it. */
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE part = 0 AND id < 100", NULL), FIRST);
    int64_t before = ts_pg_int(c, "SELECT count(*) FROM items WHERE part = 0 AND id >= 100 AND id < 120", NULL);
    ck_assert_msg(before == BEFORE, "%" PRId64 " of the %d good rows right before the bad record are stored",
                  before, BEFORE);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE part = 0 AND id >= 120", NULL), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE part = 1 AND id < 1000100", NULL), FIRST);
    /* The stored offset and the stored rows agree. */
    char s[32];
    snprintf(s, sizeof(s), "%" PRId64, stored);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM items WHERE part = 0 AND id >= $1", s, NULL), 0);
    free(tail);

    ts_daemon_free(d);
    free(kafka);
    free(config);
    free(log);
    free(dir);
    free(topic);
    free(group);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}

START_TEST(string_into_integer_column_stops_at_its_offset)
{
    run_bad_record("{\"id\":120,\"part\":0,\"qty\":\"not a number\"}");
}
END_TEST

START_TEST(invalid_json_stops_at_its_offset)
{
    run_bad_record("{\"id\":120,\"part\":0,\"qty\":");
}
END_TEST

int main(void)
{
    const TTest *tests[] = {string_into_integer_column_stops_at_its_offset, invalid_json_stops_at_its_offset};
    return sc_main("integration bad record", tests, 2);
}
