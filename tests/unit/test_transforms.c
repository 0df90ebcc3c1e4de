/* Transforms (src/transform/): each one on decoded changes, a chain, the
 * table-name rules, and the configuration errors that name file:line:key. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/transform.h"
#include "sluice/worker.h"
#include "runner.h"

static char path[64];

static sl_config *load(const char *text, sl_error *err)
{
    snprintf(path, sizeof(path), "/tmp/sluice-test-tx-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    sl_config *cfg = sl_config_load(path, err);
    unlink(path);
    return cfg;
}

#define BASE                                                                                      \
    "kafka:\n  bootstrap.servers: 127.0.0.1:9092\n  group.id: g\n"                                \
    "targets:\n  pg:\n    type: postgresql\n    dsn: \"host=127.0.0.1\"\n"                        \
    "routes:\n  - topics: [shop.orders]\n    target: pg\n    table: t\n"

/* The chain of a one-route configuration whose route ends in @route_tail,
 * run over @value; returns the resulting value as compact JSON ("DROP" when
 * filtered, "ERR: msg" on error). */
static char *run(const char *route_tail, const char *value)
{
    char text[4096];
    snprintf(text, sizeof(text), BASE "%s", route_tail);
    sl_error err;
    sl_config *cfg = load(text, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    sl_change ch = {.op = SL_OP_UPSERT, .value = json_loads(value, 0, NULL), .schema_id = -1};
    ck_assert_ptr_nonnull(ch.value);
    sl_record rec = {.topic = "shop.orders", .partition = 3, .offset = 42, .timestamp = 1700000000123};
    char *out;
    if (sl_tx_apply(cfg->routes[0].chain, &rec, &ch, &err)) {
        out = malloc(strlen(err.msg) + 6);
        sprintf(out, "ERR: %s", err.msg);
    } else if (ch.op == SL_OP_IGNORE) {
        out = strdup("DROP");
    } else {
        char *v = json_dumps(ch.value, JSON_COMPACT | JSON_SORT_KEYS);
        char *k = ch.key ? json_dumps(ch.key, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        out = malloc(strlen(v) + (k ? strlen(k) : 0) + 8);
        sprintf(out, k ? "%s key=%s" : "%s", v, k);
        free(v);
        free(k);
    }
    sl_change_clear(&ch);
    sl_config_free(cfg);
    return out;
}

static void expect(const char *route_tail, const char *value, const char *want)
{
    char *got = run(route_tail, value);
    ck_assert_msg(!strcmp(got, want), "got %s, want %s", got, want);
    free(got);
}

static void expect_error(const char *route_tail, int line, const char *needle)
{
    char text[4096];
    snprintf(text, sizeof(text), BASE "%s", route_tail);
    sl_error err;
    sl_config *cfg = load(text, &err);
    ck_assert_msg(cfg == NULL, "expected an error containing '%s'", needle);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    ck_assert_msg(!strncmp(err.msg, prefix, strlen(prefix)), "'%s' does not start with '%s'", err.msg, prefix);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' does not contain '%s'", err.msg, needle);
}

#define TX(s) "    transforms:\n" s

START_TEST(filter_predicates)
{
    const char *eq = TX("      - {type: filter, field: status, predicate: equals, value: test}\n");
    expect(eq, "{\"status\":\"test\"}", "DROP");
    expect(eq, "{\"status\":\"paid\"}", "{\"status\":\"paid\"}");
    expect(eq, "{}", "{}");
    /* numbers compare as numbers: 10 > 9 although "10" < "9" */
    const char *gt = TX("      - {type: filter, field: /a/n, predicate: gt, value: '9'}\n");
    expect(gt, "{\"a\":{\"n\":10}}", "DROP");
    expect(gt, "{\"a\":{\"n\":9}}", "{\"a\":{\"n\":9}}");
    expect(gt, "{\"a\":{\"n\":null}}", "{\"a\":{\"n\":null}}");
    const char *in = TX("      - {type: filter, field: s, predicate: in, values: [a, b]}\n");
    expect(in, "{\"s\":\"b\"}", "DROP");
    expect(in, "{\"s\":\"c\"}", "{\"s\":\"c\"}");
    /* negate: keep only what matches */
    const char *keep = TX("      - {type: filter, field: s, predicate: regex, value: '^ok', negate: true}\n");
    expect(keep, "{\"s\":\"ok-1\"}", "{\"s\":\"ok-1\"}");
    expect(keep, "{\"s\":\"bad\"}", "DROP");
    expect(keep, "{\"s\":5}", "DROP");
    const char *null = TX("      - {type: filter, field: s, predicate: 'null'}\n");
    expect(null, "{\"s\":null}", "DROP");
    expect(null, "{}", "DROP");
    expect(null, "{\"s\":0}", "{\"s\":0}");
    expect(TX("      - {type: filter, predicate: topic_matches, value: '^shop\\.'}\n"), "{}", "DROP");
    expect(TX("      - {type: filter, predicate: le, field: d, value: '2024-01-01'}\n"), "{\"d\":\"2023-12-31\"}",
           "DROP");
}
END_TEST

START_TEST(field_shaping)
{
    expect(TX("      - {type: replace_field, include: [a, b, c], exclude: [b], rename: {a: x}}\n"),
           "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", "{\"c\":3,\"x\":1}");
    expect(TX("      - {type: flatten}\n"), "{\"a\":{\"b\":{\"c\":1},\"d\":[1]},\"e\":{}}",
           "{\"a_b_c\":1,\"a_d\":[1]}");
    expect(TX("      - {type: flatten, delimiter: .}\n"), "{\"a\":{\"b\":1}}", "{\"a.b\":1}");
    expect(TX("      - {type: insert_field, static: {src: shop}, topic_field: t, partition_field: p, "
              "offset_field: o, timestamp_field: ts}\n"),
           "{}", "{\"o\":42,\"p\":3,\"src\":\"shop\",\"t\":\"shop.orders\",\"ts\":\"2023-11-14T22:13:20.123000Z\"}");
    expect(TX("      - {type: value_to_key, fields: [id, b]}\n"), "{\"id\":7}", "{\"id\":7} key={\"b\":null,\"id\":7}");
    expect(TX("      - {type: cast, spec: {a: int16, b: string, c: boolean, d: float64, e: int64}}\n"),
           "{\"a\":\"12\",\"b\":1.5,\"c\":\"TRUE\",\"d\":\"2.5\",\"e\":3.9}",
           "{\"a\":12,\"b\":\"1.5\",\"c\":true,\"d\":2.5,\"e\":3}");
    char *e = run(TX("      - {type: cast, spec: {a: int8}}\n"), "{\"a\":300}");
    ck_assert_str_eq(e, "ERR: transforms[0] (cast): a: 300 does not fit int8");
    free(e);
    expect(TX("      - {type: mask_field, fields: [s, n, b, o]}\n"), "{\"s\":\"x\",\"n\":5,\"b\":true,\"o\":{\"k\":1}}",
           "{\"b\":false,\"n\":0,\"o\":{},\"s\":\"\"}");
    expect(TX("      - {type: mask_field, fields: [s], value: '***'}\n"), "{\"s\":\"x\"}", "{\"s\":\"***\"}");
}
END_TEST

START_TEST(timestamps)
{
    const char *ts = TX("      - {type: timestamp_converter, field: t, target_type: timestamp}\n");
    expect(ts, "{\"t\":1700000000123}", "{\"t\":\"2023-11-14T22:13:20.123000Z\"}");
    expect(ts, "{\"t\":\"2024-05-01 12:00:00.5+02:00\"}", "{\"t\":\"2024-05-01T10:00:00.500000Z\"}");
    expect(TX("      - {type: timestamp_converter, field: t, target_type: unix, unix_precision: seconds}\n"),
           "{\"t\":\"1970-01-02\"}", "{\"t\":86400}");
    expect(TX("      - {type: timestamp_converter, field: t, target_type: date}\n"), "{\"t\":-1}",
           "{\"t\":\"1969-12-31\"}");
    expect(TX("      - {type: timestamp_converter, field: t, target_type: string, format: '%d/%m/%Y'}\n"),
           "{\"t\":0}", "{\"t\":\"01/01/1970\"}");
    expect(TX("      - {type: timestamp_converter, field: t, target_type: time, format: '%d/%m/%Y %H:%M'}\n"),
           "{\"t\":\"02/01/1970 13:45\"}", "{\"t\":\"13:45:00.000000\"}");
    /* out of int64 microseconds (found by fuzz_json_transforms): refused, never wrapped */
    char *e = run(ts, "{\"t\":171456480012356487}");
    ck_assert_str_eq(e, "ERR: transforms[0] (timestamp_converter): t: 171456480012356487 is out of range");
    free(e);
    e = run(TX("      - {type: timestamp_converter, field: t, target_type: unix, unix_precision: nanoseconds}\n"),
            "{\"t\":\"9999-12-31\"}");
    ck_assert_str_eq(e, "ERR: transforms[0] (timestamp_converter): t: does not fit in nanoseconds");
    free(e);
    e = run(ts, "{\"t\":\"yesterday\"}");
    ck_assert_str_eq(e, "ERR: transforms[0] (timestamp_converter): t: 'yesterday' is not an ISO 8601 date, time or timestamp");
    free(e);
}
END_TEST

/* A chain runs in order: the filter sees the renamed field. */
START_TEST(chain_in_order)
{
    const char *chain = TX("      - {type: flatten}\n"
                           "      - {type: replace_field, rename: {customer_tier: tier}}\n"
                           "      - {type: filter, field: tier, predicate: equals, value: test}\n");
    expect(chain, "{\"id\":1,\"customer\":{\"tier\":\"gold\"}}", "{\"id\":1,\"tier\":\"gold\"}");
    expect(chain, "{\"id\":1,\"customer\":{\"tier\":\"test\"}}", "DROP");
}
END_TEST

START_TEST(name_rules)
{
    sl_error err;
    sl_config *cfg = load(BASE "    name_strip_prefix: [dbserver1.]\n"
                               "    name_replace: {'\\.': _, '^(inv)entory_': '\\1_'}\n"
                               "    name_case: lower\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    char *t = sl_expand_table("public.${topic}", cfg->routes[0].name_rules, "dbserver1.inventory.Orders", NULL, &err);
    ck_assert_str_eq(t, "public.inv_orders");
    free(t);
    /* a dot the rules leave stays inside one quoted name part */
    sl_config_free(cfg);
    cfg = load(BASE "    name_case: upper\n", &err);
    t = sl_expand_table("s.${topic}", cfg->routes[0].name_rules, "a.b", NULL, &err);
    ck_assert_str_eq(t, "s.\"A.B\"");
    free(t);
    sl_config_free(cfg);
    cfg = load(BASE "    name_strip_prefix: [shop.orders]\n", &err);
    ck_assert_ptr_null(sl_expand_table("${topic}", cfg->routes[0].name_rules, "shop.orders", NULL, &err));
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    ck_assert_str_eq(err.msg, "the table-name rules made an empty table name of ''");
    sl_config_free(cfg);
}
END_TEST

START_TEST(config_errors)
{
    expect_error(TX("      - {type: filter, field: s}\n"), 13, "routes[0].transforms[0].predicate: filter needs a predicate");
    expect_error(TX("      - type: flatten\n        include: [a]\n"), 14,
                 "routes[0].transforms[0].include: does not apply to a flatten transform");
    expect_error(TX("      - {type: filter, field: s, predicate: regex, value: '('}\n"), 13,
                 "routes[0].transforms[0].value: invalid regular expression '('");
    expect_error(TX("      - {type: cast, spec: {a: long}}\n"), 13, "routes[0].transforms[0].spec: a: 'long' is not one of");
    expect_error(TX("      - {type: sort}\n"), 13, "routes[0].transforms[0].type: 'sort' is not one of");
    expect_error("    name_replace: {'(': x}\n", 12, "routes[0].name_replace: invalid regular expression '('");
    /* update mode is PostgreSQL's: a CrateDB route is refused */
    char text[1024];
    sl_error err;
    snprintf(text, sizeof(text), "kafka:\n  bootstrap.servers: 127.0.0.1:9092\n  group.id: g\n"
                                 "targets:\n  cr:\n    type: cratedb\n    url: http://127.0.0.1:4200\n"
                                 "routes:\n  - topics: [t]\n    target: cr\n    table: t\n    mode: update\n");
    ck_assert_ptr_null(load(text, &err));
    ck_assert_msg(strstr(err.msg, ":12: routes[0].mode: mode update is not supported by a cratedb target"), "%s", err.msg);
    expect_error("    auto_create: true\n" TX("      - {type: flatten}\n"), 12, "routes[0].auto_create: a table cannot be created");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transforms");
    TCase *tc = tcase_create("transforms");
    tcase_add_test(tc, filter_predicates);
    tcase_add_test(tc, field_shaping);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, chain_in_order);
    tcase_add_test(tc, name_rules);
    tcase_add_test(tc, config_errors);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
