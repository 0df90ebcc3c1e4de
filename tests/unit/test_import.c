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
                                    "InsertField$Value has no sluice equivalent") != NULL,
                  "%s", diag_text);
    ck_assert_msg(strstr(diag_text, "tcpKeepAlive") != NULL, "%s", diag_text);
    /* the transform's own options are part of its one warning */
    ck_assert_msg(strstr(diag_text, "timestamp.field") == NULL, "%s", diag_text);
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

int main(void)
{
    Suite *s = suite_create("import-connect");
    TCase *tc = tcase_create("import");
    tcase_add_test(tc, confluent_upsert_properties);
    tcase_add_test(tc, confluent_with_debezium_transforms_json);
    tcase_add_test(tc, debezium_sink_json);
    tcase_add_test(tc, connect_sh_jdbc_sink);
    tcase_add_test(tc, unknown_keys_warn_and_fail_under_strict);
    tcase_add_test(tc, non_postgresql_url_is_an_error);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    free(out_text);
    free(diag_text);
    return failed ? 1 : 0;
}
