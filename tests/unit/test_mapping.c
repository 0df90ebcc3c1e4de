/* JSON -> column text conversions, and change -> row mapping. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/mapping.h"
#include "runner.h"

static sl_strbuf out;
static sl_error err;

static const char *conv(const char *json, sl_coltype t)
{
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    ck_assert_msg(v != NULL, "bad test JSON %s", json);
    sl_strbuf_reset(&out);
    int rc = sl_convert_value(v, t, SL_COL_TEXT, SL_EPOCH_MS, &out, &err);
    json_decref(v);
    return rc ? NULL : (out.data ? out.data : "");
}

static const char *conv_array(const char *json, sl_coltype elem)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    sl_strbuf_reset(&out);
    int rc = sl_convert_value(v, SL_COL_ARRAY, elem, SL_EPOCH_MS, &out, &err);
    json_decref(v);
    return rc ? NULL : out.data;
}

#define OK(json, type, want) ck_assert_str_eq(conv(json, type), want)
#define BAD(json, type, needle)                                                                    \
    do {                                                                                           \
        ck_assert_ptr_null(conv(json, type));                                                      \
        ck_assert_int_eq(err.kind, SL_ERR_DATA);                                                   \
        ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);                \
    } while (0)

START_TEST(integers)
{
    OK("42", SL_COL_INT4, "42");
    OK("\"-7\"", SL_COL_INT8, "-7");
    OK("3.0", SL_COL_INT2, "3");
    OK("9223372036854775807", SL_COL_INT8, "9223372036854775807");
    OK("-9223372036854775808", SL_COL_INT8, "-9223372036854775808");
    BAD("32768", SL_COL_INT2, "out of range");
    BAD("2147483648", SL_COL_INT4, "out of range");
    BAD("3.5", SL_COL_INT4, "not an integer");
    BAD("\"12abc\"", SL_COL_INT4, "not an integer");
    BAD("true", SL_COL_INT4, "boolean");
}
END_TEST

START_TEST(numbers_and_booleans)
{
    OK("12.5", SL_COL_NUMERIC, "12.5");
    OK("21.7", SL_COL_NUMERIC, "21.7");   /* not 21.699999999999999 */
    OK("0.1", SL_COL_FLOAT8, "0.1");
    OK("2.2250738585072014e-308", SL_COL_FLOAT8, "2.2250738585072014e-308");
    OK("-0.30000000000000004", SL_COL_NUMERIC, "-0.30000000000000004");
    OK("\"123456789012345678901234567890.000001\"", SL_COL_NUMERIC, "123456789012345678901234567890.000001");
    OK("\"NaN\"", SL_COL_FLOAT8, "NaN");
    OK("1e3", SL_COL_FLOAT8, "1000");
    BAD("\"12,5\"", SL_COL_NUMERIC, "not a number");
    OK("true", SL_COL_BOOL, "t");
    OK("\"no\"", SL_COL_BOOL, "f");
    OK("1", SL_COL_BOOL, "t");
    BAD("\"perhaps\"", SL_COL_BOOL, "not a boolean");
}
END_TEST

START_TEST(times)
{
    OK("\"2024-05-01T12:00:00.123456Z\"", SL_COL_TIMESTAMPTZ, "2024-05-01T12:00:00.123456Z");
    OK("0", SL_COL_TIMESTAMPTZ, "1970-01-01T00:00:00.000000Z");
    OK("1714564800123", SL_COL_TIMESTAMPTZ, "2024-05-01T12:00:00.123000Z");
    /* beyond int64 microseconds: refused before multiplying (found by tests/fuzz under UBSan) */
    BAD("171456480012356487", SL_COL_TIMESTAMPTZ, "out of range");
    BAD("-9223372036854775807", SL_COL_DATE, "out of range");
    BAD("1e300", SL_COL_TIMESTAMP, "out of range");
    OK("-1", SL_COL_TIMESTAMP, "1969-12-31T23:59:59.999000");
    OK("-1", SL_COL_DATE, "1969-12-31");
    OK("19844", SL_COL_DATE, "2024-05-01");
    OK("-719528", SL_COL_DATE, "0001-01-01 BC"); /* year 0 = 1 BC */
    OK("\"2024-02-29\"", SL_COL_DATE, "2024-02-29");
    OK("\"13:45:10.5\"", SL_COL_TIME, "13:45:10.5");
    OK("49510500", SL_COL_TIME, "13:45:10.500000");
    BAD("\"yesterday\"", SL_COL_TIMESTAMPTZ, "not an ISO-8601");
    BAD("\"hello\"", SL_COL_DATE, "not a date");
}
END_TEST

START_TEST(uuid_json_bytea_text)
{
    OK("\"123e4567-e89b-12d3-a456-426614174000\"", SL_COL_UUID, "123e4567-e89b-12d3-a456-426614174000");
    BAD("\"not-a-uuid\"", SL_COL_UUID, "not a UUID");
    OK("{\"a\": [1, 2, {\"b\": null}]}", SL_COL_JSONB, "{\"a\":[1,2,{\"b\":null}]}");
    OK("\"plain\"", SL_COL_JSON, "\"plain\"");
    BAD("{\"a\": \"x\\u0000y\"}", SL_COL_JSONB, "\\u0000");
    OK("\"\\\\x00ff\"", SL_COL_BYTEA, "\\x00ff");
    OK("\"AB\"", SL_COL_BYTEA, "\\x4142");
    OK("\"it's \\\"quoted\\\"; DROP TABLE x;\"", SL_COL_TEXT, "it's \"quoted\"; DROP TABLE x;");
    OK("17", SL_COL_TEXT, "17");
    OK("{\"k\":1}", SL_COL_TEXT, "{\"k\":1}");
    BAD("\"a\\u0000b\"", SL_COL_TEXT, "NUL byte");
}
END_TEST

START_TEST(arrays)
{
    ck_assert_str_eq(conv_array("[1, 2, null]", SL_COL_INT4), "{\"1\",\"2\",NULL}");
    ck_assert_str_eq(conv_array("[\"a,b\", \"q\\\"uote\", \"back\\\\slash\"]", SL_COL_TEXT),
                     "{\"a,b\",\"q\\\"uote\",\"back\\\\slash\"}");
    ck_assert_str_eq(conv_array("[[1,2],[3,4]]", SL_COL_INT8), "{{\"1\",\"2\"},{\"3\",\"4\"}}");
    ck_assert_ptr_null(conv_array("[1, \"x\"]", SL_COL_INT4));
    ck_assert_msg(strstr(err.msg, "array element 1"), "%s", err.msg);
    ck_assert_ptr_null(conv_array("{\"a\":1}", SL_COL_INT4));
}
END_TEST

/* A table: id int8 key, name text, payload jsonb, cid int4. */
static sl_table *make_table(void)
{
    sl_table *t = calloc(1, sizeof(*t));
    static const struct { const char *n; sl_coltype ty; } cols[] = {
        {"id", SL_COL_INT8}, {"name", SL_COL_TEXT}, {"payload", SL_COL_JSONB}, {"cid", SL_COL_INT4}};
    t->ncols = 4;
    t->cols = calloc(4, sizeof(sl_column));
    for (int i = 0; i < 4; i++) {
        t->cols[i].name = strdup(cols[i].n);
        t->cols[i].type_name = strdup("x");
        t->cols[i].type = cols[i].ty;
    }
    t->cols[0].in_key = true;
    t->key = calloc(1, sizeof(size_t));
    t->nkey = 1;
    t->schema = strdup("public");
    t->name = strdup("t");
    t->qname = strdup("\"public\".\"t\"");
    return t;
}

START_TEST(map_change_by_name_pointer_and_key)
{
    sl_table *t = make_table();
    sl_kv cols[] = {{(char *)"cid", (char *)"/customer/id", 0}};
    sl_route_conf r = {.name = (char *)"r", .mode = SL_MODE_UPSERT, .columns = cols, .ncolumns = 1};
    sl_mapping m;
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), 0);
    sl_record rec = {.topic = "orders", .partition = 3, .offset = 1234};
    sl_change c = {.op = SL_OP_UPSERT};
    c.value = json_loads("{\"name\":\"Ann\",\"customer\":{\"id\":7},\"extra\":1}", 0, NULL);
    c.key = json_integer(99); /* id absent from the value: taken from the record key */
    sl_rowbuilder b;
    sl_rowbuilder_init(&b);
    ck_assert_int_eq(sl_map_change(&m, &c, &rec, &b, &err), 0);
    sl_row *row = sl_rowbuilder_finish(&b, SL_OP_UPSERT, rec.topic, rec.partition, rec.offset, NULL, 0, NULL, 0);
    ck_assert_str_eq(sl_row_cell(row, 0), "99");
    ck_assert_str_eq(sl_row_cell(row, 1), "Ann");
    ck_assert_int_eq(row->len[2], SL_CELL_ABSENT);
    ck_assert_str_eq(sl_row_cell(row, 3), "7");
    free(row);
    json_decref(c.value);
    json_decref(c.key);

    /* a value that does not fit names the column */
    c.value = json_loads("{\"id\":1,\"cid\":\"abc\"}", 0, NULL);
    c.key = NULL;
    json_decref(c.value);
    c.value = json_loads("{\"id\":1,\"customer\":{\"id\":\"abc\"}}", 0, NULL);
    ck_assert_int_eq(sl_map_change(&m, &c, &rec, &b, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    ck_assert_msg(strstr(err.msg, "column \"cid\""), "%s", err.msg);
    json_decref(c.value);

    /* no key anywhere */
    c.value = json_loads("{\"name\":\"x\"}", 0, NULL);
    ck_assert_int_eq(sl_map_change(&m, &c, &rec, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "key column \"id\" is missing"), "%s", err.msg);
    json_decref(c.value);

    /* explicit nulls are NULL, not absent */
    c.value = json_loads("{\"id\":5,\"name\":null}", 0, NULL);
    ck_assert_int_eq(sl_map_change(&m, &c, &rec, &b, &err), 0);
    ck_assert_int_eq(b.len[1], SL_CELL_NULL);
    json_decref(c.value);

    sl_rowbuilder_free(&b);
    sl_mapping_fini(&m);
    sl_table_free(t);
}
END_TEST

START_TEST(mapping_checks_columns)
{
    sl_table *t = make_table();
    sl_kv cols[] = {{(char *)"nope", (char *)"/x", 0}};
    sl_route_conf r = {.name = (char *)"r", .mode = SL_MODE_UPSERT, .columns = cols, .ncolumns = 1};
    sl_mapping m;
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), -1);
    ck_assert_msg(strstr(err.msg, "has no column 'nope'"), "%s", err.msg);
    cols[0].key = (char *)"cid";
    cols[0].value = (char *)"customer.id";
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), -1);
    ck_assert_msg(strstr(err.msg, "not a JSON pointer"), "%s", err.msg);
    sl_table_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mapping");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, integers);
    tcase_add_test(tc, numbers_and_booleans);
    tcase_add_test(tc, times);
    tcase_add_test(tc, uuid_json_bytea_text);
    tcase_add_test(tc, arrays);
    tcase_add_test(tc, map_change_by_name_pointer_and_key);
    tcase_add_test(tc, mapping_checks_columns);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    sl_strbuf_free(&out);
    return failed ? 1 : 0;
}
