/* test_status.c - `sluice status` beside a running daemon: the offsets it
 * reports are the ones stored in sluice.offsets and committed in Kafka,
 * the lag is the high watermark minus them, the member holding each
 * partition is the daemon's consumer; running it does not disturb the
 * group (no rebalance). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 3

static json_t *status_json(const char *config, int *rc)
{
    char *out = NULL;
    *rc = ts_run(&out, "status", "-c", config, "--json", NULL);
    json_error_t je;
    /* the JSON document is the first '{' onwards (librdkafka may log before it) */
    const char *start = out ? strchr(out, '{') : NULL;
    json_t *j = start ? json_loads(start, JSON_DISABLE_EOF_CHECK, &je) : NULL;
    ck_assert_msg(j != NULL, "sluice status --json printed no JSON:\n%s", out ? out : "");
    free(out);
    return j;
}

static json_t *part(json_t *j, int p)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "partitions"), i, v) if (json_integer_value(json_object_get(v, "partition")) == p)
        return v;
    ck_abort_msg("partition %d missing from status", p);
    return NULL;
}

static int64_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

START_TEST(status_reads_offsets_lag_and_members)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_status");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_status");
    ts_kafka_create_topic(topic, NPARTS);
    char *dir = ts_tempdir("status");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n  - name: orders\n    topics: [%s]\n    target: pg\n"
                                 "    table: %s.orders\n    delete_on_tombstone: true\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    sc_model *m = sc_model_new(90, NPARTS, 4);
    sc_produce_orders(m, topic, 900, 10);
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 120000, log);

    int rc;
    json_t *j = status_json(config, &rc);
    ck_assert_msg(rc == 0, "status exit %d: %s", rc, json_dumps(j, 0));
    ck_assert_str_eq(json_string_value(json_object_get(j, "group")), group);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "partitions")), NPARTS);
    for (int p = 0; p < NPARTS; p++) {
        json_t *r = part(j, p);
        int64_t hw = ts_kafka_high_watermark(topic, p);
        ck_assert_str_eq(json_string_value(json_object_get(r, "route")), "orders");
        ck_assert_int_eq(num(r, "high_watermark"), hw);
        ck_assert_int_eq(num(r, "committed_offset"), ts_kafka_committed(group, topic, p));
        ck_assert_int_eq(num(r, "db_offset"), sc_stored_offset(c, group, topic, p));
        ck_assert_int_eq(num(r, "db_offset"), hw);
        ck_assert_int_eq(num(r, "lag"), 0);
        if (ts_kafka_is_mock()) {
            /* librdkafka's mock cluster answers no DescribeGroups: members unknown, and said so */
            ck_assert_msg(json_object_get(j, "members_error"), "%s", json_dumps(j, 0));
        } else {
            const char *who = json_string_value(json_object_get(r, "member"));
            ck_assert_msg(who && !strncmp(who, "sluice@", 7), "partition %d held by %s", p, who ? who : "nobody");
        }
    }
    if (!ts_kafka_is_mock()) {
        ck_assert_str_eq(json_string_value(json_object_get(j, "group_state")), "Stable");
        ck_assert_uint_eq(json_array_size(json_object_get(j, "members")), 1);
    }
    json_decref(j);
    char *table = NULL;
    ck_assert_int_eq(ts_run(&table, "status", "-c", config, NULL), 0);
    ck_assert_msg(strstr(table, "ROUTE") && strstr(table, "HIGH WATERMARK") && strstr(table, "total lag: 0 record(s)"),
                  "%s", table);
    printf("---- sluice status (daemon running) ----\n%s", table);
    free(table);
    /* status never joined the group: the daemon saw no rebalance after its first assignment */
    char *s = ts_read_file(log);
    ck_assert_msg(!strstr(s, "revoked"), "the daemon lost partitions while status ran:\n%s", s);
    free(s);

    /* stopped, then more records: lag, and nobody holds the partitions */
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    for (int i = 0; i < 7; i++)
        ts_produce_str(topic, 0, "{\"id\":1}", "{\"id\":1,\"seq\":1,\"qty\":1}");
    ts_flush();
    j = status_json(config, &rc);
    ck_assert_int_eq(num(part(j, 0), "lag"), 7);
    ck_assert_int_eq(num(part(j, 1), "lag"), 0);
    if (!ts_kafka_is_mock()) {
        ck_assert_msg(json_is_null(json_object_get(part(j, 0), "member")), "%s", json_dumps(j, 0));
        ck_assert_str_eq(json_string_value(json_object_get(j, "group_state")), "Empty");
    }
    json_decref(j);
    table = NULL;
    ts_run(&table, "status", "-c", config, NULL);
    printf("---- sluice status (daemon stopped, 7 more records) ----\n%s", table);
    free(table);
    sc_model_free(m);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

/* Issue 22, finding 6: `sluice status` printed the members' client ids as
 * they came; any client can join a group with terminal escapes in its id. */
START_TEST(status_escapes_member_client_ids)
{
    if (ts_kafka_is_mock())
        return; /* the mock cluster answers no DescribeGroups: no members to print */
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_status_esc");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_status_esc");
    ts_kafka_create_topic(topic, 1);
    char *dir = ts_tempdir("status-esc");
    char *kafka = ts_kafka_yaml(group, "  client.id: \"evil\\e]0;owned\\a\\e[2J\\x9b\"\n");
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n  - name: orders\n    topics: [%s]\n    target: pg\n"
                                 "    table: %s.orders\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    sc_model *m = sc_model_new(10, 1, 5);
    sc_produce_orders(m, topic, 20, 0);
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, 1, 120000, log);
    char *table = NULL;
    ck_assert_int_eq(ts_run(&table, "status", "-c", config, NULL), 0);
    ck_assert_msg(!strchr(table, '\x1b') && !strchr(table, '\a') && !strstr(table, "\xc2\x9b"),
                  "a control character reached the terminal:\n%s", table);
    ck_assert_msg(strstr(table, "evil\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b@"), "the member is not shown escaped:\n%s",
                  table);
    free(table);
    int rc;
    json_t *j = status_json(config, &rc);
    ck_assert_int_eq(rc, 0);
    const char *cid = json_string_value(json_object_get(json_array_get(json_object_get(j, "members"), 0), "client_id"));
    ck_assert_msg(cid && !strcmp(cid, "evil\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b"), "client_id %s", cid ? cid : "(none)");
    json_decref(j);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    sc_model_free(m);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {status_reads_offsets_lag_and_members, status_escapes_member_client_ids};
    return sc_main("integration status", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
