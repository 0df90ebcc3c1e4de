/* import-connect: Kafka Connect JDBC sink configurations (Confluent and
 * Debezium, written after their documented options) translate into sluice
 * configurations that load, with a warning per key that does not translate. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/import_connect.h"
#include "sluice/strbuf.h"
#include "sluice/transform.h"
#include "sluice/worker.h"
#include "runner.h"

#define EXAMPLES SOURCE_ROOT "/tests/unit/connect/"

static char *out_text, *diag_text;

/* Translate @name; load the result as a sluice configuration (NULL when
 * the translation failed). */
static sl_config *import(const char *name, bool strict, int *rc)
{
    size_t olen = 0, dlen = 0;
    free(out_text);
    free(diag_text);
    FILE *out = open_memstream(&out_text, &olen);
    FILE *diag = open_memstream(&diag_text, &dlen);
    *rc = sl_import_connect(name, strict, out, diag);
    fclose(out);
    fclose(diag);
    if (*rc || !olen)
        return NULL;
    char path[96];
    snprintf(path, sizeof(path), "/tmp/sluice-test-import-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(out_text, f);
    fclose(f);
    sl_error err;
    sl_config *cfg = sl_config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg != NULL, "the translation does not load: %s\n%s", err.msg, out_text);
    return cfg;
}

START_TEST(confluent_upsert_properties)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "confluent-upsert.properties", false, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strcmp(diag_text, "") == 0, "unexpected warnings: %s", diag_text);
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), "connect-orders-sink");
    ck_assert_int_eq(cfg->workers, 2);
    ck_assert_int_eq(cfg->batch.max_rows, 500);
    ck_assert_str_eq(cfg->registry.urls[0], "http://registry.internal:8081");
    ck_assert_str_eq(cfg->targets[0].dsn,
                     "postgresql://sink@db.internal:5432/shop?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem");
    ck_assert_str_eq(cfg->targets[0].schema, "sales");
    ck_assert_int_eq(cfg->targets[0].delivery, SL_DELIVERY_AT_LEAST_ONCE);
    ck_assert_msg(strstr(out_text, "not-for-the-output") == NULL, "the password was copied:\n%s", out_text);
    const sl_route_conf *r = &cfg->routes[0];
    ck_assert_uint_eq(r->ntopics, 2);
    ck_assert_str_eq(r->topics[1], "refunds");
    ck_assert_str_eq(r->table, "sales_${topic}");
    ck_assert_int_eq(r->format, SL_FMT_AVRO);
    ck_assert_int_eq(r->key_format, SL_KEYFMT_STRING);
    ck_assert_int_eq(r->mode, SL_MODE_UPSERT);
    ck_assert_uint_eq(r->nkey, 1);
    ck_assert_str_eq(r->key[0], "id");
    ck_assert(r->auto_create && r->auto_evolve);
    ck_assert_int_eq(r->on_error, SL_ONERR_FAIL);
    sl_config_free(cfg);
}
END_TEST

START_TEST(confluent_with_debezium_transforms_json)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "confluent-unwrap.json", false, &rc);
    ck_assert_int_eq(rc, 0);
    /* max.poll.records is a Java consumer property librdkafka does not have */
    ck_assert_msg(strstr(diag_text, "warning: consumer.override.max.poll.records: not a librdkafka") != NULL, "%s",
                  diag_text);
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), "connect-inventory-sink");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "auto.offset.reset"), "earliest");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "partition.assignment.strategy"), "cooperative-sticky");
    ck_assert_ptr_null(sl_config_kafka_get(cfg, "max.poll.records"));
    /* RegexRouter applied per topic: one route per table */
    ck_assert_uint_eq(cfg->nroutes, 2);
    ck_assert_str_eq(cfg->routes[0].topics[0], "dbserver1.inventory.customers");
    ck_assert_str_eq(cfg->routes[0].table, "customers");
    ck_assert_str_eq(cfg->routes[1].table, "orders");
    for (size_t i = 0; i < 2; i++) {
        const sl_route_conf *r = &cfg->routes[i];
        ck_assert_int_eq(r->format, SL_FMT_DEBEZIUM);
        ck_assert_int_eq(r->delete_mode, SL_DELETE_SOFT);
        ck_assert_str_eq(r->soft_delete_column, "__deleted");
        ck_assert_uint_eq(r->nadd_columns, 2);
        ck_assert_str_eq(r->add_columns[1].key, "__source_ts_ms");
        ck_assert_str_eq(r->add_columns[1].value, "source.ts_ms");
        ck_assert_int_eq(r->on_error, SL_ONERR_DLQ);
        ck_assert_str_eq(r->dlq_topic, "inventory-sink-dlq");
        ck_assert(r->auto_create);
    }
    sl_config_free(cfg);
}
END_TEST

START_TEST(debezium_sink_json)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "debezium-sink.json", false, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), "connect-jdbc-sink");
    ck_assert_str_eq(cfg->targets[0].dsn, "postgresql://dbz@target-db/warehouse");
    const sl_route_conf *r = &cfg->routes[0];
    ck_assert_str_eq(r->topic_pattern, "^(server1\\.public\\..*)$");
    ck_assert_ptr_eq(sl_config_route_for_topic(cfg, "server1.public.orders"), r);
    ck_assert_ptr_null(sl_config_route_for_topic(cfg, "xserver1.public.orders"));
    ck_assert_str_eq(r->table, "${source.table}");
    ck_assert_int_eq(r->format, SL_FMT_DEBEZIUM);
    ck_assert_int_eq(r->truncate, SL_TRUNCATE_APPLY);
    ck_assert(r->auto_create && r->auto_evolve);
    ck_assert_uint_eq(r->ncolumns, 2);
    ck_assert_str_eq(r->columns[1].key, "total");
    ck_assert_msg(strstr(diag_text, "warning: field.include.list:") != NULL, "%s", diag_text);
    sl_config_free(cfg);
}
END_TEST

/* The Debezium JDBC sink configuration tests/support/connect.sh registers with
 * Kafka Connect (the live comparison in tests/debezium/cdc.sh): translated
 * without a single warning. */
START_TEST(connect_sh_jdbc_sink)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "connect-sh-jdbc-sink.json", true, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(diag_text, "");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), "connect-jdbc_cdc");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "auto.offset.reset"), "earliest");
    ck_assert_str_eq(cfg->targets[0].dsn, "postgresql://postgres@127.0.0.1:5432/t_jdbc");
    const sl_route_conf *r = &cfg->routes[0];
    ck_assert_str_eq(r->topic_pattern, "^(dbz_json\\..*)$");
    ck_assert_str_eq(r->table, "r_${source.schema}.${source.table}");
    ck_assert_int_eq(r->format, SL_FMT_DEBEZIUM);
    ck_assert_int_eq(r->mode, SL_MODE_UPSERT);
    ck_assert_int_eq(r->truncate, SL_TRUNCATE_APPLY);
    ck_assert(r->auto_create && r->auto_evolve);
    sl_config_free(cfg);
}
END_TEST

START_TEST(unknown_keys_warn_and_fail_under_strict)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "unknown.properties", false, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(diag_text, "warning: frobnicate.level: unknown") != NULL, "%s", diag_text);
    ck_assert_msg(strstr(diag_text, "warning: transforms.stamp: transform org.apache.kafka.connect.transforms."
                                    "TimestampRouter has no sluice equivalent") != NULL,
                  "%s", diag_text);
    ck_assert_msg(strstr(diag_text, "tcpKeepAlive") != NULL, "%s", diag_text);
    /* the transform's own options are part of its one warning */
    ck_assert_msg(strstr(diag_text, "timestamp.format") == NULL, "%s", diag_text);
    ck_assert_int_eq(cfg->routes[0].format, SL_FMT_JSON);
    ck_assert_int_eq(cfg->routes[0].mode, SL_MODE_INSERT);
    ck_assert_int_eq(cfg->targets[0].connect_timeout_ms, 10000);
    sl_config_free(cfg);

    cfg = import(EXAMPLES "unknown.properties", true, &rc);
    ck_assert_ptr_null(cfg);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(out_text, "");
    ck_assert_msg(strstr(diag_text, "error: frobnicate.level") != NULL, "%s", diag_text);
    ck_assert_msg(strstr(diag_text, "3 key(s) cannot be translated exactly (--strict)") != NULL, "%s", diag_text);
}
END_TEST

START_TEST(non_postgresql_url_is_an_error)
{
    char path[96];
    snprintf(path, sizeof(path), "/tmp/sluice-test-import-%d.properties", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("name=m\nconnector.class=io.confluent.connect.jdbc.JdbcSinkConnector\ntopics=t\n"
          "connection.url=jdbc:mysql://db/x\n",
          f);
    fclose(f);
    int rc;
    ck_assert_ptr_null(import(path, false, &rc));
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(diag_text, "connection.url: 'jdbc:mysql://db/x...' is not a PostgreSQL JDBC URL") != NULL,
                  "%s", diag_text);
    f = fopen(path, "w");
    fputs("name=m\nconnector.class=com.example.OtherSink\n", f);
    fclose(f);
    ck_assert_ptr_null(import(path, false, &rc));
    ck_assert_msg(strstr(diag_text, "only the Confluent and Debezium JDBC sink connectors") != NULL, "%s", diag_text);
    unlink(path);
}
END_TEST

/* Write @text to a file ending in @ext and import it. */
static sl_config *import_text(const char *ext, const char *text, size_t len, int *rc)
{
    char path[96];
    snprintf(path, sizeof(path), "/tmp/sluice-test-import-in-%d.%s", (int)getpid(), ext);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    sl_config *cfg = import(path, false, rc);
    unlink(path);
    return cfg;
}

#define SINK_PROPS                                                                                                 \
    "connector.class=io.confluent.connect.jdbc.JdbcSinkConnector\nconnection.url=jdbc:postgresql://db/app\n"

/* Issue 22, finding 5: a connector name with a line break wrote keys of its
 * own into the output (admin: listen: 0.0.0.0:9464); every value is one
 * YAML scalar, loaded back as given. */
START_TEST(import_value_with_line_break_adds_no_key)
{
    const char *json = "{\"name\": \"x'\\nadmin:\\n  listen: 0.0.0.0:9464\\n#\\r\\u0085\\u2028\\u0001\","
                       " \"config\": {\"connector.class\": \"io.confluent.connect.jdbc.JdbcSinkConnector\","
                       " \"connection.url\": \"jdbc:postgresql://db/app\", \"topics\": \"t\","
                       " \"pk.mode\": \"kafka\", \"pk.fields\": \"a\\nadmin: {listen: 0.0.0.0:1},b,c\","
                       " \"fields.whitelist\": \"f\\nworkers: 9\"}}";
    int rc;
    sl_config *cfg = import_text("json", json, strlen(json), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_msg(cfg->admin.listen == NULL, "the name added admin.listen:\n%s", out_text);
    ck_assert_int_eq(cfg->workers, 1);
    const char *name = "x'\nadmin:\n  listen: 0.0.0.0:9464\n#\r\xc2\x85\xe2\x80\xa8\x01";
    char group[128];
    snprintf(group, sizeof(group), "connect-%s", name);
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), group);
    ck_assert_str_eq(cfg->routes[0].name, name);
    sl_config_free(cfg);
}
END_TEST

/* Issue 22, finding 5: ${file:...} and ${ENV} inside imported values were
 * expanded when the output was loaded (ApplicationName=${file:/etc/hostname}
 * went to the database server); they are now written $${ and load as text. */
START_TEST(import_values_are_not_expanded_on_load)
{
    setenv("SLUICE_TEST_IMPORT_SECRET", "expanded", 1);
    const char *props = "name=n${SLUICE_TEST_IMPORT_SECRET}\n" SINK_PROPS
                        "connection.url=jdbc:postgresql://db/app?ApplicationName=${file:/etc/hostname}\n"
                        "topics=t$${SLUICE_TEST_IMPORT_SECRET},u\n"
                        "table.name.format=raw_${topic}\n";
    int rc;
    sl_config *cfg = import_text("properties", props, strlen(props), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg->targets[0].dsn, "postgresql://db/app?application_name=${file:/etc/hostname}");
    ck_assert_str_eq(cfg->routes[0].name, "n${SLUICE_TEST_IMPORT_SECRET}");
    ck_assert_str_eq(cfg->routes[0].topics[0], "t$${SLUICE_TEST_IMPORT_SECRET}");
    ck_assert_str_eq(cfg->routes[0].table, "raw_${topic}"); /* Connect's ${topic} is sluice's */
    sl_config_free(cfg);

    /* any other ${...} in a table name would become a per-record template */
    props = "name=n\n" SINK_PROPS "topics=t\ntable.name.format=t_${file:/etc/hostname}\n";
    ck_assert_ptr_null(import_text("properties", props, strlen(props), &rc));
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(diag_text, "table.name.format: 't_${file:/etc/hostname}': only ${topic} and dotted names") !=
                      NULL,
                  "%s", diag_text);
    unsetenv("SLUICE_TEST_IMPORT_SECRET");
}
END_TEST

/* Issue 22, finding 5: the input was read whole, whatever its size
 * (/dev/zero ran out of memory). */
START_TEST(import_input_size_is_capped)
{
    size_t len = 2 * 1024 * 1024;
    char *big = malloc(len);
    memset(big, '#', len);
    for (size_t i = 79; i < len; i += 80)
        big[i] = '\n';
    int rc;
    ck_assert_ptr_null(import_text("properties", big, len, &rc));
    free(big);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(diag_text, ": larger than 1024 KiB: not a connector configuration") != NULL, "%s",
                  diag_text);
    ck_assert_ptr_null(import("/dev/zero", false, &rc));
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(diag_text, "/dev/zero: larger than 1024 KiB: not a connector configuration\n");
}
END_TEST

/* Issue 22, finding 5: 40,000 keys took 4.9 s (a search per key added);
 * measured in bench/import_keys.sh.  Here: the keys are all seen, and a key
 * given twice keeps its last value, as java.util.Properties does. */
START_TEST(import_many_keys_last_value_wins)
{
    sl_strbuf in = SL_STRBUF_INIT;
    sl_strbuf_puts(&in, "name=n\n" SINK_PROPS "topics=first\ninsert.mode=insert\n");
    for (int i = 0; i < 40000; i++)
        sl_strbuf_printf(&in, "x.unknown.%05d=%d\n", 39999 - i, i);
    sl_strbuf_puts(&in, "topics=last\ninsert.mode=upsert\n");
    int rc;
    sl_config *cfg = import_text("properties", in.data, in.len, &rc);
    sl_strbuf_free(&in);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_eq(cfg->routes[0].ntopics, 1);
    ck_assert_str_eq(cfg->routes[0].topics[0], "last");
    ck_assert_int_eq(cfg->routes[0].mode, SL_MODE_UPSERT);
    size_t warned = 0;
    for (const char *p = strstr(diag_text, "warning: x.unknown."); p; p = strstr(p + 1, "warning: x.unknown."))
        warned++;
    ck_assert_uint_eq(warned, 40000);
    /* in the input's order */
    ck_assert(strstr(diag_text, "x.unknown.39999") < strstr(diag_text, "x.unknown.00000"));
    sl_config_free(cfg);
}
END_TEST

/* Issue 22, finding 5: \uXXXX escapes of .properties were kept as text. */
START_TEST(import_properties_unicode_escapes_decoded)
{
    const char *props = "name=caf\\u00e9\n" SINK_PROPS "topics=t\\u00FC,\\uD83D\\uDE00x\n"
                        "table.name.format=\\u0073chema\\u002e${topic}\n"
                        "in\\u0073ert.mode=upsert\n";
    int rc;
    sl_config *cfg = import_text("properties", props, strlen(props), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg->routes[0].name, "caf\xc3\xa9");
    ck_assert_str_eq(cfg->routes[0].topics[0], "t\xc3\xbc");
    ck_assert_str_eq(cfg->routes[0].topics[1], "\xf0\x9f\x98\x80x");
    ck_assert_str_eq(cfg->routes[0].table, "schema.${topic}");
    ck_assert_int_eq(cfg->routes[0].mode, SL_MODE_UPSERT);
    sl_config_free(cfg);

    props = "name=n\n" SINK_PROPS "\ntopics=t\\u00g1\n";
    ck_assert_ptr_null(import_text("properties", props, strlen(props), &rc));
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(diag_text, ".properties:5: malformed \\uXXXX escape") != NULL, "%s", diag_text);
    props = "name=n\n" SINK_PROPS "topics=t\\uD83D\n";
    ck_assert_ptr_null(import_text("properties", props, strlen(props), &rc));
    ck_assert_msg(strstr(diag_text, ".properties:4: \\uXXXX: a high surrogate without its low surrogate") != NULL,
                  "%s", diag_text);

    /* bytes that are not UTF-8 are ISO-8859-1, as Properties.load(InputStream) reads them */
    props = "name=caf\xe9\n" SINK_PROPS "topics=t\n";
    cfg = import_text("properties", props, strlen(props), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(cfg->routes[0].name, "caf\xc3\xa9");
    sl_config_free(cfg);
}
END_TEST

/* Issue 22, finding 5: a comment ending in a backslash swallowed the next
 * line (insert.mode=upsert silently became mode: insert); in
 * java.util.Properties a comment line never continues. */
START_TEST(import_comment_ending_in_backslash_ends_there)
{
    const char *props = "name=n\n" SINK_PROPS "topics=t\n"
                        "# upsert on the id \\\n"
                        "insert.mode=upsert\n"
                        "  ! also a comment \\\r\n"
                        "pk.fields=id\r"
                        "table.name.format=a\\\n"
                        "    b_${topic}\n";
    int rc;
    sl_config *cfg = import_text("properties", props, strlen(props), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(cfg->routes[0].mode, SL_MODE_UPSERT);
    ck_assert_uint_eq(cfg->routes[0].nkey, 1);
    ck_assert_str_eq(cfg->routes[0].key[0], "id");
    ck_assert_str_eq(cfg->routes[0].table, "ab_${topic}");
    sl_config_free(cfg);
}
END_TEST

/* @value through @r's chain: the result as compact JSON, "DROP" when filtered. */
static char *through(const sl_route_conf *r, const char *topic, const char *value)
{
    sl_change ch = {.op = SL_OP_UPSERT, .value = json_loads(value, 0, NULL), .schema_id = -1};
    sl_record rec = {.topic = topic, .partition = 1, .offset = 5, .timestamp = 1000};
    sl_error err;
    ck_assert_msg(sl_tx_apply(r->chain, &rec, &ch, &err) == 0, "%s", err.msg);
    char *out = ch.op == SL_OP_IGNORE ? strdup("DROP") : json_dumps(ch.value, JSON_COMPACT | JSON_SORT_KEYS);
    sl_change_clear(&ch);
    return out;
}

static void expect_table(const sl_route_conf *r, const char *topic, const char *want)
{
    sl_error err;
    char *t = sl_expand_table(r->table, r->name_rules, topic, NULL, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_str_eq(t, want);
    free(t);
}

/* Configurations as a running Kafka Connect's REST API returned them
 * (tests/unit/connect/captured/README.md): every transform and naming
 * setting translates, with no warning, into options that behave as
 * Connect's did. */
START_TEST(captured_debezium_sink_configs_translate_without_warnings)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "captured/dbz-unwrap-router.json", true, &rc);
    ck_assert_msg(rc == 0 && !strcmp(diag_text, ""), "%s", diag_text);
    const sl_route_conf *r = &cfg->routes[0];
    expect_table(r, "dbserver1.inventory.orders", "orders");
    char *v = through(r, "dbserver1.inventory.orders", "{\"id\":1,\"internal_note\":\"x\",\"qty\":2,\"card\":\"4111\"}");
    ck_assert_str_eq(v, "{\"card\":\"\",\"id\":1,\"quantity\":2}");
    free(v);
    sl_config_free(cfg);

    cfg = import(EXAMPLES "captured/dbz-extract-router.json", true, &rc);
    ck_assert_msg(rc == 0 && !strcmp(diag_text, ""), "%s", diag_text);
    r = &cfg->routes[0];
    ck_assert_int_eq(r->format, SL_FMT_DEBEZIUM);
    ck_assert_int_eq(r->delete_mode, SL_DELETE_SOFT);
    expect_table(r, "dbserver1.inventory.orders", "inventory_orders");
    sl_config_free(cfg);

    cfg = import(EXAMPLES "captured/dbz-update-naming.json", true, &rc);
    ck_assert_msg(rc == 0 && !strcmp(diag_text, ""), "%s", diag_text);
    r = &cfg->routes[0];
    ck_assert_int_eq(r->mode, SL_MODE_UPDATE);
    expect_table(r, "shop.public.orders", "archive_shop_public_orders");
    v = through(r, "shop.public.test_orders", "{\"id\":1}");
    ck_assert_str_eq(v, "DROP");
    free(v);
    v = through(r, "shop.public.orders", "{\"id\":1,\"placed\":\"2024-05-01 10:00:00\",\"amount\":\"2.5\","
                                         "\"count\":\"3\",\"secret\":\"s\"}");
    ck_assert_str_eq(v, "{\"amount\":2.5,\"count\":3,\"id\":1,\"kafka_offset\":5,\"kafka_topic\":"
                        "\"shop.public.orders\",\"origin\":\"shop\",\"placed\":\"2024-05-01T10:00:00.000000Z\"}");
    free(v);
    sl_config_free(cfg);

    cfg = import(EXAMPLES "captured/dbz-flatten-header.json", true, &rc);
    ck_assert_msg(rc == 0 && !strcmp(diag_text, ""), "%s", diag_text);
    v = through(&cfg->routes[0], "events", "{\"a\":{\"b\":1}}");
    ck_assert_str_eq(v, "{\"a_b\":1,\"tenant\":null,\"trace_id\":null}");
    free(v);
    sl_config_free(cfg);
}
END_TEST

/* The Confluent JDBC sink's configuration written from its documentation:
 * Confluent's Filter$Value condition, RegexRouter over topics.regex,
 * Connect's Flatten default delimiter, InsertField's "!" suffix. */
START_TEST(confluent_smt_chain_translates_without_warnings)
{
    int rc;
    sl_config *cfg = import(EXAMPLES "confluent-smt-chain.properties", true, &rc);
    ck_assert_msg(rc == 0 && !strcmp(diag_text, ""), "%s", diag_text);
    const sl_route_conf *r = &cfg->routes[0];
    ck_assert_int_eq(r->mode, SL_MODE_UPDATE);
    ck_assert(!r->delete_on_tombstone);
    expect_table(r, "shop.public.orders", "shop_orders");
    char *v = through(r, "shop.public.orders", "{\"id\":1,\"status\":\"draft\"}");
    ck_assert_str_eq(v, "DROP");
    free(v);
    v = through(r, "shop.public.orders", "{\"id\":1,\"status\":\"paid\",\"amount\":3,\"customer\":{\"tier\":\"gold\","
                                         "\"since\":2020},\"placed\":86400,\"card\":\"4111\",\"x\":1}");
    ck_assert_str_eq(v, "{\"amount\":3.0,\"card\":\"****\",\"id\":1,\"kafka_partition\":1,"
                        "\"kafka_ts\":\"1970-01-01T00:00:01.000000Z\",\"placed\":\"1970-01-02T00:00:00.000000Z\","
                        "\"status\":\"paid\",\"tier\":\"gold\"}");
    free(v);
    sl_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("import-connect");
    TCase *tc = tcase_create("import");
    tcase_add_test(tc, confluent_upsert_properties);
    tcase_add_test(tc, captured_debezium_sink_configs_translate_without_warnings);
    tcase_add_test(tc, confluent_smt_chain_translates_without_warnings);
    tcase_add_test(tc, confluent_with_debezium_transforms_json);
    tcase_add_test(tc, debezium_sink_json);
    tcase_add_test(tc, connect_sh_jdbc_sink);
    tcase_add_test(tc, unknown_keys_warn_and_fail_under_strict);
    tcase_add_test(tc, non_postgresql_url_is_an_error);
    tcase_add_test(tc, import_value_with_line_break_adds_no_key);
    tcase_add_test(tc, import_values_are_not_expanded_on_load);
    tcase_add_test(tc, import_input_size_is_capped);
    tcase_add_test(tc, import_many_keys_last_value_wins);
    tcase_add_test(tc, import_properties_unicode_escapes_decoded);
    tcase_add_test(tc, import_comment_ending_in_backslash_ends_there);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    free(out_text);
    free(diag_text);
    return failed ? 1 : 0;
}
