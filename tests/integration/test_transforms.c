/* test_transforms.c - a route's transforms, table-name rules and mode
 * update, end to end on the real broker and PostgreSQL, combined: two
 * routes with chains of several transforms (one route's table named by the
 * rules from its dotted topic), an update-only route, and a fan-out route
 * with transforms of its own on the first route's topic, across a SIGHUP
 * that changes a filter.  Filtered records are never written, yet the
 * offsets, in sluice.offsets and in Kafka, reach the ends of the topics:
 * each phase ends with a record the filter drops.  Then value_to_key on a
 * keyless topic, and table names the rules refuse, dead-lettered. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

static const char *config_fmt =
    "%s"
    "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
    "batch:\n  linger_ms: 20\n"
    "routes:\n"
    "  - name: orders\n    topics: [%s]\n    target: pg\n    table: %s.orders_t\n"
    "    transforms:\n"
    "      - {type: filter, field: status, predicate: equals, value: %s}\n"
    "      - {type: flatten}\n"
    "      - {type: replace_field, exclude: [internal], rename: {customer_tier: tier}}\n"
    "      - {type: insert_field, static: {origin: shop}, topic_field: src_topic, partition_field: src_partition,\n"
    "         offset_field: src_offset, timestamp_field: kafka_ts}\n"
    "      - {type: header_to_value, headers: [trace], fields: [trace_id]}\n"
    "      - {type: timestamp_converter, field: placed, target_type: timestamp}\n"
    "      - {type: cast, spec: {amount: float64}}\n"
    "      - {type: mask_field, fields: [card]}\n"
    "      - {type: value_to_key, fields: [id]}\n"
    "  - name: items\n    topic_pattern: '^%s\\..*'\n    target: pg\n    table: %s.${topic}\n"
    "    name_strip_prefix: ['%s.']\n    name_replace: {'\\.': _}\n    name_case: lower\n"
    "    transforms:\n"
    "      - {type: filter, field: qty, predicate: gt, value: '0', negate: true}\n"
    "      - {type: replace_field, include: [id, qty, sku], rename: {sku: product}}\n"
    "  - name: prices\n    topics: [%s]\n    target: pg\n    table: %s.prices\n    mode: update\n"
    "    transforms:\n" /* a chain the direct JSON reader reads (docs/transforms.md) */
    "      - {type: filter, field: price, predicate: gt, value: '100'}\n"
    "      - {type: replace_field, exclude: [junk]}\n"
    "  - name: paid\n    topics: [%s]\n    target: pg\n    table: %s.paid\n    fan_out: true\n"
    "    transforms:\n"
    "      - {type: filter, field: status, predicate: equals, value: paid, negate: true}\n"
    "      - {type: replace_field, include: [id, status]}\n";

static bool log_has(void *arg)
{
    const char **a = arg;
    char *s = ts_read_file(a[0]);
    bool found = s && strstr(s, a[1]);
    free(s);
    return found;
}

static void produce(const char *topic, const char *value, const char *trace)
{
    ts_produce_header(topic, 0, NULL, 0, value, strlen(value), trace ? "trace" : NULL, trace);
}

START_TEST(transform_chains_name_rules_and_update_across_a_reload)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_tx");
    ts_pg_exec(c, "CREATE TABLE orders_t (id bigint PRIMARY KEY, status text, tier text, amount float8,"
                  " placed timestamptz, card text, origin text, src_topic text, src_partition int,"
                  " src_offset bigint, kafka_ts timestamptz, trace_id text)", NULL);
    ts_pg_exec(c, "CREATE TABLE inventory_line_items (id bigint PRIMARY KEY, qty int, product text)", NULL);
    ts_pg_exec(c, "CREATE TABLE prices (id bigint PRIMARY KEY, price int, note text)", NULL);
    ts_pg_exec(c, "INSERT INTO prices VALUES (1, 10, 'old'), (2, 20, 'old')", NULL);
    ts_pg_exec(c, "CREATE TABLE paid (id bigint PRIMARY KEY, status text)", NULL);
    char *orders = ts_unique_name("tx_orders"), *prefix = ts_unique_name("txsrv"), *prices = ts_unique_name("tx_prices");
    char items[160];
    snprintf(items, sizeof(items), "%s.Inventory.Line_Items", prefix);
    char *group = ts_unique_name("sluice_tx");
    ts_kafka_create_topic(orders, 1);
    ts_kafka_create_topic(items, 1);
    ts_kafka_create_topic(prices, 1);
    char *dir = ts_tempdir("transforms");
    int port = ts_free_port();
    char *kafka_only = sc_kafka_yaml(group);
    char kafka[4096];
    snprintf(kafka, sizeof(kafka), "%sadmin:\n  listen: 127.0.0.1:%d\n", kafka_only, port);
    free(kafka_only);
    char *config = ts_write_file(dir, "sluice.yaml", config_fmt, kafka, orders, schema, "test", prefix, schema, prefix,
                                 prices, schema, orders, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    produce(orders, "{\"id\":1,\"status\":\"paid\",\"customer\":{\"tier\":\"gold\"},\"internal\":\"x\","
                    "\"card\":\"4111\",\"amount\":\"12.5\",\"placed\":1700000000000}", "t-1");
    produce(orders, "{\"id\":2,\"status\":\"test\",\"customer\":{\"tier\":\"gold\"}}", NULL);
    produce(orders, "{\"id\":3,\"status\":\"draft\",\"customer\":{\"tier\":\"silver\"},\"card\":\"5500\","
                    "\"amount\":7,\"placed\":\"2024-05-01T12:00:00+02:00\"}", NULL);
    produce(orders, "{\"id\":4,\"status\":\"test\"}", NULL); /* dropped, and the last one */
    produce(items, "{\"id\":1,\"qty\":2,\"sku\":\"A\"}", NULL);
    produce(items, "{\"id\":2,\"qty\":0,\"sku\":\"B\"}", NULL);
    produce(items, "{\"id\":3,\"qty\":5,\"sku\":\"C\",\"extra\":1}", NULL);
    produce(items, "{\"id\":4,\"qty\":-1,\"sku\":\"D\"}", NULL);
    produce(prices, "{\"id\":1,\"price\":11}", NULL);
    produce(prices, "{\"id\":3,\"price\":30,\"junk\":[1]}", NULL); /* no row 3: nothing is inserted */
    produce(prices, "{\"id\":1,\"price\":500}", NULL);               /* dropped */
    ts_flush();
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, orders, 1, 120000, log);
    sc_wait_committed(group, items, 1, 120000, log);
    sc_wait_committed(group, prices, 1, 120000, log);
    /* prices' chain (a filter, replace_field) is one the direct JSON reader
     * reads: its first record took the general path, which read the table;
     * the next two went direct, the last of them dropped there by the filter */
    ck_assert_int_eq((int)ts_scrape(port, "sluice_direct_records_total{route=\"prices\"}"), 2);
    ck_assert_int_eq((int)ts_scrape(port, "sluice_direct_declined_total{route=\"prices\",reason=\"table\"}"), 1);
    ck_assert_int_eq((int)ts_scrape(port, "sluice_records_ignored_total{route=\"prices\"}"), 1);

    /* the filter now drops drafts instead of tests */
    free(ts_write_file(dir, "sluice.yaml", config_fmt, kafka, orders, schema, "draft", prefix, schema, prefix, prices,
                       schema, orders, schema));
    ts_daemon_signal(d, SIGHUP);
    const char *lw[] = {log, "every worker uses the new configuration"};
    ck_assert_msg(ts_wait_until(log_has, lw, 60000), "the reload was never applied; tail:\n%s", sc_log_tail(log, 3000));
    produce(orders, "{\"id\":5,\"status\":\"test\",\"customer\":{\"tier\":\"bronze\"}}", "t-5");
    produce(orders, "{\"id\":6,\"status\":\"draft\"}", NULL);
    produce(items, "{\"id\":5,\"qty\":1,\"sku\":\"E\"}", NULL);
    produce(items, "{\"id\":6,\"qty\":0,\"sku\":\"F\"}", NULL);
    produce(prices, "{\"id\":2,\"price\":21,\"note\":\"new\"}", NULL);
    ts_flush();
    sc_wait_committed(group, orders, 1, 120000, log);
    sc_wait_committed(group, items, 1, 120000, log);
    sc_wait_committed(group, prices, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    /* (format() writes NULL as nothing; a masked card is '', an absent one NULL: '-') */
    char *got = ts_pg_text(c, "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, status, tier, "
                              "amount, placed AT TIME ZONE 'UTC', coalesce(card, '-'), origin, src_topic = $1, "
                              "src_partition, src_offset, trace_id, abs(extract(epoch FROM now() - kafka_ts)) < 600), "
                              "';' ORDER BY id) FROM orders_t",
                           orders, NULL);
    ck_assert_str_eq(got, "1|paid|gold|12.5|2023-11-14 22:13:20||shop|t|0|0|t-1|t;"
                          "3|draft|silver|7|2024-05-01 10:00:00||shop|t|0|2||t;"
                          "5|test|bronze|||-|shop|t|0|4|t-5|t");
    free(got);
    got = ts_pg_text(c, "SELECT string_agg(concat_ws('|', id, qty, product), ';' ORDER BY id) FROM inventory_line_items",
                     NULL);
    ck_assert_str_eq(got, "1|2|A;3|5|C;5|1|E");
    free(got);
    got = ts_pg_text(c, "SELECT string_agg(concat_ws('|', id, price, note), ';' ORDER BY id) FROM prices", NULL);
    ck_assert_str_eq(got, "1|11|old;2|21|new");
    free(got);
    /* the fan-out route's own chain on the same records: only the paid order */
    got = ts_pg_text(c, "SELECT string_agg(concat_ws('|', id, status), ';' ORDER BY id) FROM paid", NULL);
    ck_assert_str_eq(got, "1|paid");
    free(got);
    /* offsets past the dropped records, in the database as in Kafka */
    ck_assert_int_eq(sc_stored_offset(c, group, orders, 0), 6);
    ck_assert_int_eq(sc_stored_offset(c, group, items, 0), 6);
    ck_assert_int_eq(sc_stored_offset(c, group, prices, 0), 4);
    ck_assert_int_eq(ts_kafka_committed(group, orders, 0), 6);

    ts_daemon_free(d);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(orders);
    free(prefix);
    free(prices);
    free(group);
    free(dir);
    free(config);
    free(log);
}
END_TEST

/* value_to_key and the table-name rules' refusals, end to end, in one
 * daemon:
 *  - a keyless JSON topic whose key value_to_key makes of two value fields,
 *    which replace_field then drops from the value (Connect's ValueToKey +
 *    ReplaceField idiom): the key columns can only come from that key.  An
 *    update of a key, a record missing a key field (a null key column: a
 *    dead letter), and a tombstone whose record key names the row (deletes
 *    keep their record key);
 *  - Debezium events whose ${source.table} the rules turn into an empty
 *    name or one with a control character: dead letters naming the value,
 *    with the good events around them written.
 * Offsets, in sluice.offsets, pass every record. */
START_TEST(value_to_key_and_refused_table_names)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_txk");
    ts_pg_exec(c, "CREATE TABLE balances (tenant text, acct int, balance int NOT NULL, PRIMARY KEY (tenant, acct))",
               NULL);
    ts_pg_exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, name text)", NULL);
    char *accounts = ts_unique_name("txk_accounts"), *cdc = ts_unique_name("txk_cdc");
    char *group = ts_unique_name("sluice_txk");
    ts_kafka_create_topic(accounts, 1);
    ts_kafka_create_topic(cdc, 1);
    char *dir = ts_tempdir("txk");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "batch:\n  linger_ms: 20\n"
                                 "routes:\n"
                                 "  - name: balances\n    topics: [%s]\n    target: pg\n    table: %s.balances\n"
                                 "    delete_on_tombstone: true\n    on_error: dlq\n    dlq_table: %s.dead\n"
                                 "    transforms:\n"
                                 "      - {type: value_to_key, fields: [tenant, acct]}\n"
                                 "      - {type: replace_field, exclude: [tenant, acct]}\n"
                                 "  - name: cdc\n    topics: [%s]\n    target: pg\n    table: %s.${source.table}\n"
                                 "    format: debezium\n"
                                 "    name_replace: {'^scratch_.*$': ''}\n    name_case: lower\n"
                                 "    on_error: dlq\n    dlq_table: %s.dead\n",
                                 kafka, accounts, schema, schema, cdc, schema, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* keyless, but for the last two: a tombstone, and a record whose own
     * key value_to_key replaces */
    ts_produce_str(accounts, 0, NULL, "{\"tenant\":\"a\",\"acct\":1,\"balance\":10}");
    ts_produce_str(accounts, 0, NULL, "{\"tenant\":\"b\",\"acct\":2,\"balance\":20}");
    ts_produce_str(accounts, 0, NULL, "{\"tenant\":\"a\",\"acct\":1,\"balance\":15}");
    ts_produce_str(accounts, 0, NULL, "{\"tenant\":\"c\",\"balance\":5}"); /* @3: no acct */
    const char *tomb = "{\"tenant\":\"b\",\"acct\":2}";
    ts_produce(accounts, 0, tomb, strlen(tomb), NULL, 0);
    ts_produce_str(accounts, 0, "{\"tenant\":\"x\",\"acct\":9}", "{\"tenant\":\"d\",\"acct\":4,\"balance\":40}");
    static const char *const tables[] = {"Items", "scratch_tmp", "It\\u0001ems", "ITEMS", "Items"};
    static const char *const rows[] = {"{\"id\":1,\"name\":\"a\"}", "{\"id\":2,\"name\":\"s\"}",
                                       "{\"id\":3,\"name\":\"ctl\"}", "{\"id\":1,\"name\":\"b\"}",
                                       "{\"id\":4,\"name\":\"c\"}"};
    for (int i = 0; i < 5; i++) {
        char ev[400];
        snprintf(ev, sizeof(ev),
                 "{\"before\":null,\"after\":%s,\"source\":{\"schema\":\"public\",\"table\":\"%s\"},\"op\":\"%s\","
                 "\"ts_ms\":1700000000000}",
                 rows[i], tables[i], i == 3 ? "u" : "c");
        ts_produce_str(cdc, 0, NULL, ev);
    }
    ts_flush();
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, accounts, 1, 120000, log);
    sc_wait_committed(group, cdc, 1, 120000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);

    char *got = ts_pg_text(c, "SELECT string_agg(concat_ws('|', tenant, acct, balance), ';' ORDER BY tenant) "
                              "FROM balances", NULL);
    ck_assert_str_eq(got, "a|1|15;d|4|40");
    free(got);
    got = ts_pg_text(c, "SELECT string_agg(concat_ws('|', id, name), ';' ORDER BY id) FROM items", NULL);
    ck_assert_str_eq(got, "1|b;4|c");
    free(got);
    got = ts_pg_text(c, "SELECT string_agg(format('%s|%s|%s|%s|%s', route, topic = CASE route WHEN 'cdc' THEN $2 "
                        "ELSE $1 END, partition, kafka_offset, error), E'\\n' ORDER BY route, kafka_offset) FROM dead",
                     accounts, cdc, NULL);
    ck_assert_str_eq(got, "balances|t|0|3|key column \"acct\" is null\n"
                          "cdc|t|0|1|the table-name rules made an empty table name of 'scratch_tmp'\n"
                          "cdc|t|0|2|the table-name rules made 'it\x01""ems' of 'It\x01""ems': a control character "
                          "in a table name");
    free(got);
    ck_assert_int_eq(sc_stored_offset(c, group, accounts, 0), 6);
    ck_assert_int_eq(sc_stored_offset(c, group, cdc, 0), 5);
    /* the log names each refused record's coordinates */
    char *text = ts_read_file(log), want[300];
    snprintf(want, sizeof(want), "%s[0]@1", cdc);
    ck_assert_msg(strstr(text, want), "the log does not name %s:\n%s", want, text);
    free(text);

    ts_daemon_free(d);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(accounts);
    free(cdc);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {transform_chains_name_rules_and_update_across_a_reload,
                            value_to_key_and_refused_table_names};
    return sc_main("integration transforms", tests, 2);
}
