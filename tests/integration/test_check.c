/* test_check.c - `sluice --check -c FILE` as a user meets it: it exits 0
 * for a configuration whose topics and tables exist, and 1 with the culprit
 * named for a misspelt key (file:line), a missing table or a mapped column
 * the table lacks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

typedef struct check_env {
    PGconn *c;
    char *schema;
    char *topic;
    char *group;
    char *dir;
} check_env;

static void setup_env(check_env *e)
{
    ts_kafka_start(1);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, "it_check");
    ts_pg_exec(e->c, "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance numeric)", NULL);
    e->topic = ts_unique_name("accounts");
    e->group = ts_unique_name("sluice_check");
    ts_kafka_create_topic(e->topic, 3);
    e->dir = ts_tempdir("check");
}

static void teardown_env(check_env *e)
{
    free(e->schema);
    free(e->topic);
    free(e->group);
    free(e->dir);
    PQfinish(e->c);
    ts_kafka_stop();
}

/* A configuration whose route lines are @route_extra, routed to @table. */
static char *config(check_env *e, const char *table, const char *route_extra)
{
    char *kafka = sc_kafka_yaml(e->group);
    char *path = ts_write_file(e->dir, "sluice.yaml",
                               "%s"                         /* lines 1-6 */
                               "targets:\n"                 /* 7 */
                               "  pg:\n"                    /* 8 */
                               "    type: postgresql\n"     /* 9 */
                               "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                               "routes:\n"                  /* 11 */
                               "  - topics: [%s]\n"         /* 12 */
                               "    target: pg\n"           /* 13 */
                               "    table: %s.%s\n"         /* 14 */
                               "    format: json\n"         /* 15 */
                               "%s",                        /* 16- */
                               kafka, e->topic, e->schema, table, route_extra);
    free(kafka);
    return path;
}

START_TEST(check_passes_for_existing_topics_and_tables)
{
    check_env e;
    setup_env(&e);
    char *path = config(&e, "accounts", "    columns:\n      owner: /owner/name\n");
    char *out = NULL;
    int code = ts_run(&out, "--check", "-c", path, (char *)NULL);
    ck_assert_msg(code == 0, "--check exited %d:\n%s", code, out);
    ck_assert_msg(strstr(out, e.topic) && strstr(out, "accounts") && strstr(out, "owner"),
                  "--check does not show the topic, table and mapped column:\n%s", out);
    free(out);
    free(path);
    teardown_env(&e);
}
END_TEST

START_TEST(check_warns_of_a_route_shadowed_without_fan_out)
{
    check_env e;
    setup_env(&e);
    char extra[512], want[256];
    snprintf(extra, sizeof(extra), "  - name: shadow\n    topics: [%s]\n    target: pg\n    table: %s.accounts\n",
             e.topic, e.schema);
    char *path = config(&e, "accounts", extra);
    char *out = NULL;
    int code = ts_run(&out, "--check", "-c", path, (char *)NULL);
    ck_assert_msg(code == 0, "--check exited %d:\n%s", code, out);
    snprintf(want, sizeof(want), "topic %s: WARNING: goes through route '", e.topic);
    ck_assert_msg(strstr(out, want) && strstr(out, "this route takes it too only with fan_out: true"),
                  "--check does not say that route 'shadow' takes nothing:\n%s", out);
    free(out);
    free(path);
    teardown_env(&e);
}
END_TEST

START_TEST(check_names_a_misspelt_key_with_its_line)
{
    check_env e;
    setup_env(&e);
    char *path = config(&e, "accounts", "    delete_on_tombstones: true\n");
    char *out = NULL;
    int code = ts_run(&out, "--check", "-c", path, (char *)NULL);
    ck_assert_msg(code == 1, "--check exited %d:\n%s", code, out);
    ck_assert_msg(strstr(out, "sluice.yaml:16") && strstr(out, "delete_on_tombstones"),
                  "--check does not name sluice.yaml:16 and the key:\n%s", out);
    free(out);
    free(path);
    teardown_env(&e);
}
END_TEST

START_TEST(check_names_a_missing_table)
{
    check_env e;
    setup_env(&e);
    char *path = config(&e, "no_such_table", "");
    char *out = NULL;
    int code = ts_run(&out, "--check", "-c", path, (char *)NULL);
    ck_assert_msg(code == 1, "--check exited %d:\n%s", code, out);
    ck_assert_msg(strstr(out, "no_such_table") != NULL, "--check does not name the table:\n%s", out);
    free(out);
    free(path);
    teardown_env(&e);
}
END_TEST

START_TEST(check_names_a_mapped_column_the_table_lacks)
{
    check_env e;
    setup_env(&e);
    char *path = config(&e, "accounts", "    columns:\n      ownr: /owner/name\n");
    char *out = NULL;
    int code = ts_run(&out, "--check", "-c", path, (char *)NULL);
    ck_assert_msg(code == 1, "--check exited %d:\n%s", code, out);
    ck_assert_msg(strstr(out, "ownr") != NULL, "--check does not name the column:\n%s", out);
    free(out);
    free(path);
    teardown_env(&e);
}
END_TEST

/* Issue 22, finding 6: --check printed librdkafka's errors as they came,
 * and librdkafka quotes the values it refuses: here a ${file:} value. */
START_TEST(check_output_is_scrubbed_of_secrets)
{
    ts_kafka_start(1);
    char *dir = ts_tempdir("check-scrub");
    char *secret = ts_write_file(dir, "proto", "s3cr3t-proto\n");
    char *path = ts_write_file(dir, "sluice.yaml",
                               "kafka:\n  bootstrap.servers: \"%s\"\n  group.id: g\n"
                               "  security.protocol: \"${file:%s}\"\n"
                               "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                               "routes:\n  - topics: [t]\n    target: pg\n    table: t\n",
                               ts_kafka_bootstrap(), secret);
    const char *modes[] = {"--offline", NULL};
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        int code = ts_run(&out, "--check", "-c", path, modes[i], (char *)NULL);
        ck_assert_msg(code != 0, "--check %s passed:\n%s", modes[i] ? modes[i] : "", out);
        ck_assert_msg(!strstr(out, "s3cr3t-proto"), "--check %s printed the secret:\n%s", modes[i] ? modes[i] : "",
                      out);
        ck_assert_msg(strstr(out, "Invalid value \"***\" for configuration property \"security.protocol\""), "%s",
                      out);
        free(out);
    }
    free(path);
    free(secret);
    free(dir);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {check_passes_for_existing_topics_and_tables,
                            check_warns_of_a_route_shadowed_without_fan_out, check_names_a_misspelt_key_with_its_line,
                            check_names_a_missing_table, check_names_a_mapped_column_the_table_lacks,
                            check_output_is_scrubbed_of_secrets};
    return sc_main("integration check", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
