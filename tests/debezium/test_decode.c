/* test_decode.c - `format: debezium` decoding, without servers: the
 * Debezium-written samples of tests/debezium/data/ (see its README.md) and
 * hand-made events for the semantic types the samples lack. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/decoder.h"
#include "dbz_int.h"
#include "runner.h"
#include "support.h"

static sl_route_conf route;
static sl_decoder dec;

static void setup(void)
{
    memset(&route, 0, sizeof(route));
    route.name = "test";
    route.format = SL_FMT_DEBEZIUM;
    route.key_format = SL_KEYFMT_JSON;
    sl_error err;
    ck_assert_int_eq(sl_decoder_init(&dec, &route, NULL, &err), 0);
}

static void teardown(void)
{
    sl_decoder_fini(&dec);
}

static char *slurp(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/debezium/data/%s", SOURCE_ROOT, name);
    char *s = ts_read_file(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

/* Decode @key / @value text (NULL: none; the text "null" in a sample file
 * is a tombstone, as the README says). */
static int decode_text(const char *key, const char *value, int32_t partition, sl_change *c, sl_error *err)
{
    sl_record rec = {.topic = "t", .partition = partition, .offset = 0, .timestamp = -1};
    if (key && strcmp(key, "null") && strncmp(key, "null\n", 5)) {
        rec.key = key;
        rec.key_len = strlen(key);
    }
    if (value && strcmp(value, "null") && strncmp(value, "null\n", 5)) {
        rec.value = value;
        rec.value_len = strlen(value);
    }
    sl_error_clear(err);
    return sl_decode(&dec, &rec, c, err);
}

static void decode_files(const char *keyfile, const char *valuefile, sl_change *c)
{
    char *k = keyfile ? slurp(keyfile) : NULL, *v = valuefile ? slurp(valuefile) : NULL;
    sl_error err;
    int rc = decode_text(k, v, 0, c, &err);
    ck_assert_msg(rc == 0, "%s: %s", valuefile, err.msg);
    free(k);
    free(v);
}

static const char *str(const json_t *o, const char *field)
{
    const json_t *v = json_object_get(o, field);
    ck_assert_msg(json_is_string(v), "field %s is not a string", field);
    return json_string_value(v);
}

static const char *path_str(const json_t *o, const char *a, const char *b)
{
    return str(json_object_get(o, a), b);
}

START_TEST(pg_create_update_delete_tombstone)
{
    sl_change c;
    decode_files("pg_create.key.json", "pg_create.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_int_eq(json_integer_value(json_object_get(c.value, "id")), 1);
    ck_assert_str_eq(str(c.value, "first_name"), "Anne");
    ck_assert_str_eq(str(c.value, "email"), "annek@noanswer.org");
    ck_assert_str_eq(path_str(c.meta, "source", "table"), "customers");
    ck_assert_str_eq(path_str(c.meta, "source", "schema"), "public");
    ck_assert_str_eq(str(c.meta, "op"), "c");
    /* the key envelope is unwrapped (this doc key spells the id as "1") */
    ck_assert_str_eq(str(c.key, "id"), "1");
    ck_assert_ptr_nonnull(c.fields);
    sl_change_clear(&c);

    decode_files("pg_create.key.json", "pg_update.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_str_eq(str(c.value, "first_name"), "Anne Marie");
    sl_change_clear(&c);

    decode_files("pg_create.key.json", "pg_delete.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    ck_assert_str_eq(str(c.value, "id"), "1"); /* the record key wins over before */
    sl_change_clear(&c);

    /* the tombstone right after the delete of its key: nothing to do */
    decode_files("pg_create.key.json", "pg_tombstone.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_ptr_nonnull(c.reason);
    sl_change_clear(&c);

    /* the same tombstone again follows no delete: a delete by key */
    decode_files("pg_create.key.json", "pg_tombstone.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    ck_assert_str_eq(str(c.key, "id"), "1");
    sl_change_clear(&c);

    /* ... unless the table comes from the event, which a tombstone lacks:
     * its delete was read before (a restart between the two) */
    route.table = "public.${source.table}";
    decode_files("pg_create.key.json", "pg_tombstone.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_ptr_nonnull(strstr(c.reason, "its table comes from the event"));
    sl_change_clear(&c);
    route.table = "${topic}_copy";
    decode_files("pg_create.key.json", "pg_tombstone.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    sl_change_clear(&c);
    route.table = NULL;
}
END_TEST

START_TEST(pg_truncate_message_and_others)
{
    sl_change c;
    decode_files("pg_truncate.key.json", "pg_truncate.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_TRUNCATE);
    ck_assert_str_eq(path_str(c.meta, "source", "table"), "customers");
    sl_change_clear(&c);
    decode_files(NULL, "pg_message.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_str_eq(c.reason, "logical decoding message");
    sl_change_clear(&c);

    sl_error err;
    ck_assert_int_eq(decode_text(NULL, "{\"ts_ms\": 1700000000000}", 0, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_str_eq(c.reason, "heartbeat");
    sl_change_clear(&c);
    ck_assert_int_eq(decode_text(NULL, "{\"source\":{},\"databaseName\":\"inventory\",\"ddl\":\"CREATE TABLE x (a int)\",\"tableChanges\":[]}", 0, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_str_eq(c.reason, "schema change");
    sl_change_clear(&c);
    ck_assert_int_eq(decode_text(NULL, "{\"before\":null,\"after\":{\"id\":1},\"op\":\"x\"}", 0, &c, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    ck_assert_int_eq(decode_text(NULL, "{\"op\":\"c\",\"after\":", 0, &c, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
}
END_TEST

START_TEST(toast_placeholder_dropped)
{
    sl_change c;
    decode_files(NULL, "pg_toast_update.noschema.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_str_eq(str(c.value, "first_name"), "Dana");
    ck_assert_ptr_null(json_object_get(c.value, "biography"));
    ck_assert_ptr_null(json_object_get(c.json_text, "biography"));
    ck_assert_str_eq(path_str(c.meta, "source", "schema"), "inventory");
    sl_change_clear(&c);

    /* under a schema: string, bytes (base64 of the placeholder) and array forms */
    const char *v =
        "{\"schema\":{\"type\":\"struct\",\"fields\":["
        "{\"field\":\"after\",\"type\":\"struct\",\"fields\":["
        "{\"field\":\"id\",\"type\":\"int32\"},"
        "{\"field\":\"doc\",\"type\":\"string\",\"name\":\"io.debezium.data.Json\"},"
        "{\"field\":\"img\",\"type\":\"bytes\"},"
        "{\"field\":\"tags\",\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "{\"field\":\"note\",\"type\":\"string\"}]}]},"
        "\"payload\":{\"before\":null,\"after\":{\"id\":7,"
        "\"doc\":\"__debezium_unavailable_value\","
        "\"img\":\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\","
        "\"tags\":[\"__debezium_unavailable_value\"],\"note\":\"kept\"},\"op\":\"u\",\"source\":{}}}";
    sl_error err;
    ck_assert_int_eq(decode_text(NULL, v, 0, &c, &err), 0);
    ck_assert_int_eq(json_object_size(c.value), 2);
    ck_assert_str_eq(str(c.value, "note"), "kept");
    ck_assert_int_eq(json_object_size(c.json_text), 0);
    /* listed, for a key change to carry them (no old key: not a key change) */
    char *names = json_dumps(c.unavailable, JSON_COMPACT);
    ck_assert_str_eq(names, "[\"doc\",\"img\",\"tags\"]");
    free(names);
    ck_assert_ptr_null(c.carry_key);
    sl_change_clear(&c);
}
END_TEST

/* A connector with its own unavailable.value.placeholder: the route's
 * unavailable_value, in text, bytes (base64, padded or not) and arrays;
 * Debezium's default text is then a value like any other. */
START_TEST(toast_placeholder_of_the_route)
{
    sl_decoder_fini(&dec);
    route.unavailable_value = "@@x@@";
    sl_error err;
    ck_assert_int_eq(sl_decoder_init(&dec, &route, NULL, &err), 0);
    const char *v =
        "{\"schema\":{\"type\":\"struct\",\"fields\":["
        "{\"field\":\"after\",\"type\":\"struct\",\"fields\":["
        "{\"field\":\"id\",\"type\":\"int32\"},"
        "{\"field\":\"body\",\"type\":\"string\"},"
        "{\"field\":\"img\",\"type\":\"bytes\"},"
        "{\"field\":\"img2\",\"type\":\"bytes\"},"
        "{\"field\":\"tags\",\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "{\"field\":\"note\",\"type\":\"string\"}]}]},"
        "\"payload\":{\"before\":null,\"after\":{\"id\":7,\"body\":\"@@x@@\","
        "\"img\":\"QEB4QEA=\",\"img2\":\"QEB4QEA\",\"tags\":[\"@@x@@\"],"
        "\"note\":\"__debezium_unavailable_value\"},\"op\":\"u\",\"source\":{}}}";
    sl_change c;
    ck_assert_int_eq(decode_text(NULL, v, 0, &c, &err), 0);
    char *got = json_dumps(c.value, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(got, "{\"id\":7,\"note\":\"__debezium_unavailable_value\"}");
    free(got);
    got = json_dumps(c.unavailable, JSON_COMPACT);
    ck_assert_str_eq(got, "[\"body\",\"img\",\"img2\",\"tags\"]");
    free(got);
    sl_change_clear(&c);
    route.unavailable_value = NULL;
}
END_TEST

START_TEST(typed_samples)
{
    sl_change c;
    decode_files("types_decimal.key.json", "types_decimal.value.json", &c);
    ck_assert_str_eq(str(c.value, "decimal_value"), "12345.67");
    sl_change_clear(&c);

    decode_files("types_temporal.key.json", "types_temporal.value.json", &c);
    ck_assert_str_eq(str(c.value, "c1"), "2014-09-08");
    ck_assert_str_eq(str(c.value, "c2"), "17:51:04.000000");
    ck_assert_str_eq(str(c.value, "c3"), "2014-09-08T17:51:04.780000");
    ck_assert_str_eq(str(c.value, "c4"), "2014-09-08T17:51:04.78");
    sl_change_clear(&c);

    decode_files("types_temporal_zero.key.json", "types_temporal_zero.value.json", &c);
    ck_assert(json_is_null(json_object_get(c.value, "c1")));
    ck_assert_str_eq(str(c.value, "c2"), "00:00:00.000000");
    ck_assert(json_is_null(json_object_get(c.value, "c3")));
    sl_change_clear(&c);

    decode_files("types_date.key.json", "types_date.value.json", &c);
    ck_assert_str_eq(str(c.value, "order_date"), "2016-01-16");
    sl_change_clear(&c);

    decode_files("types_json.key.json", "types_json.value.json", &c);
    ck_assert_str_eq(str(c.json_text, "json"),
                     "{\"k1\": \"v1\", \"k2\": {\"k21\": \"v21\", \"k22\": \"v22\"}, \"k3\": [\"a\", \"b\", 1]}");
    sl_change_clear(&c);

    /* the JSON literal null is JSON text; SQL NULL is a null value */
    decode_files("types_json_null_literal.key.json", "types_json_null_literal.value.json", &c);
    ck_assert_str_eq(str(c.json_text, "json"), "null");
    sl_change_clear(&c);
    decode_files("types_json_sql_null.key.json", "types_json_sql_null.value.json", &c);
    ck_assert_ptr_null(json_object_get(c.json_text, "json"));
    ck_assert(json_is_null(json_object_get(c.value, "json")));
    sl_change_clear(&c);

    decode_files("types_sqlserver_decimal.key.json", "types_sqlserver_decimal.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    ck_assert_int_eq(json_integer_value(json_object_get(c.value, "empno")), 11);
    ck_assert_str_eq(str(c.value, "sal"), "200000.0000");
    ck_assert_str_eq(str(c.value, "comm"), "10.0000");
    ck_assert_str_eq(str(c.value, "hiredate"), "2019-07-09T00:00:00.000000");
    sl_change_clear(&c);
}
END_TEST

START_TEST(semantic_types)
{
    const char *v =
        "{\"schema\":{\"type\":\"struct\",\"name\":\"s.t.Envelope\",\"fields\":["
        "{\"field\":\"after\",\"type\":\"struct\",\"optional\":true,\"fields\":["
        "{\"field\":\"id\",\"type\":\"int64\"},"
        "{\"field\":\"neg\",\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"3\"}},"
        "{\"field\":\"vsd\",\"type\":\"struct\",\"name\":\"io.debezium.data.VariableScaleDecimal\",\"fields\":["
        "  {\"field\":\"scale\",\"type\":\"int32\"},{\"field\":\"value\",\"type\":\"bytes\"}]},"
        "{\"field\":\"mt\",\"type\":\"int64\",\"name\":\"io.debezium.time.MicroTime\"},"
        "{\"field\":\"nt\",\"type\":\"int64\",\"name\":\"io.debezium.time.NanoTime\"},"
        "{\"field\":\"mts\",\"type\":\"int64\",\"name\":\"io.debezium.time.MicroTimestamp\"},"
        "{\"field\":\"nts\",\"type\":\"int64\",\"name\":\"io.debezium.time.NanoTimestamp\"},"
        "{\"field\":\"zts\",\"type\":\"string\",\"name\":\"io.debezium.time.ZonedTimestamp\"},"
        "{\"field\":\"ct\",\"type\":\"int64\",\"name\":\"org.apache.kafka.connect.data.Timestamp\"},"
        "{\"field\":\"u\",\"type\":\"string\",\"name\":\"io.debezium.data.Uuid\"},"
        "{\"field\":\"e\",\"type\":\"string\",\"name\":\"io.debezium.data.Enum\"},"
        "{\"field\":\"b\",\"type\":\"bytes\",\"name\":\"io.debezium.data.Bits\",\"parameters\":{\"length\":\"10\"}},"
        "{\"field\":\"raw\",\"type\":\"bytes\"},"
        "{\"field\":\"big\",\"type\":\"int64\"},"
        "{\"field\":\"small\",\"type\":\"int64\"}]},"
        "{\"field\":\"op\",\"type\":\"string\"}]},"
        "\"payload\":{\"op\":\"r\",\"source\":{\"schema\":\"s\",\"table\":\"t\"},\"before\":null,\"after\":{"
        "\"id\":9007199254740993,"
        "\"neg\":\"/j4=\","                      /* 0xfe3e = -450 -> -0.450 */
        "\"vsd\":{\"scale\":2,\"value\":\"MDk=\"}," /* 0x3039 = 12345 -> 123.45 */
        "\"mt\":45296789012,"                     /* 12:34:56.789012 */
        "\"nt\":45296789012345,"
        "\"mts\":-1,"                             /* 1969-12-31 23:59:59.999999 */
        "\"nts\":1700000000123456789,"
        "\"zts\":\"2024-05-01T12:00:00.5+02:00\","
        "\"ct\":0,"
        "\"u\":\"123e4567-e89b-12d3-a456-426614174000\","
        "\"e\":\"ENTERED\","
        "\"b\":\"BQI=\","                         /* bits 0,2 of byte 0 and bit 1 of byte 1 -> 1000000101 */
        "\"raw\":\"AP8=\","
        "\"big\":9223372036854775807,\"small\":-9223372036854775808}}}";
    sl_change c;
    sl_error err;
    ck_assert_msg(decode_text(NULL, v, 0, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert(json_integer_value(json_object_get(c.value, "id")) == 9007199254740993LL);
    ck_assert_str_eq(str(c.value, "neg"), "-0.450");
    ck_assert_str_eq(str(c.value, "vsd"), "123.45");
    ck_assert_str_eq(str(c.value, "mt"), "12:34:56.789012");
    ck_assert_str_eq(str(c.value, "nt"), "12:34:56.789012345");
    ck_assert_str_eq(str(c.value, "mts"), "1969-12-31T23:59:59.999999");
    ck_assert_str_eq(str(c.value, "nts"), "2023-11-14T22:13:20.123456789");
    {
        /* the most negative NanoTimestamp: no signed overflow on the way
         * (found by the Debezium over Avro fuzz harness under UBSan) */
        const char *m = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"after\",\"type\":\"struct\","
                        "\"fields\":[{\"field\":\"id\",\"type\":\"int64\"},{\"field\":\"nts\",\"type\":\"int64\","
                        "\"name\":\"io.debezium.time.NanoTimestamp\"}]},{\"field\":\"op\",\"type\":\"string\"}]},"
                        "\"payload\":{\"op\":\"c\",\"after\":{\"id\":1,\"nts\":-9223372036854775808}}}";
        sl_change mc;
        ck_assert_msg(decode_text(NULL, m, 0, &mc, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(str(mc.value, "nts"), "1677-09-21T00:12:43.145224192");
        sl_change_clear(&mc);
    }
    ck_assert_str_eq(str(c.value, "zts"), "2024-05-01T12:00:00.5+02:00");
    ck_assert_str_eq(str(c.value, "ct"), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(str(c.value, "u"), "123e4567-e89b-12d3-a456-426614174000");
    ck_assert_str_eq(str(c.value, "e"), "ENTERED");
    ck_assert_str_eq(str(c.value, "b"), "1000000101");
    ck_assert_str_eq(str(c.value, "raw"), "\\x00ff");
    ck_assert(json_integer_value(json_object_get(c.value, "big")) == INT64_MAX);
    ck_assert(json_integer_value(json_object_get(c.value, "small")) == INT64_MIN);
    ck_assert_str_eq(path_str(c.meta, "source", "table"), "t");
    ck_assert_int_eq(json_array_size(c.fields), 15);
    sl_change_clear(&c);
}
END_TEST

START_TEST(flattened_rows)
{
    sl_change c;
    decode_files(NULL, "unwrap_serde_row.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_str_eq(str(c.value, "first_name"), "Anne");
    sl_change_clear(&c);

    decode_files(NULL, "unwrap_delete.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    ck_assert_int_eq(json_integer_value(json_object_get(c.value, "pk")), 2);
    sl_change_clear(&c);

    decode_files(NULL, "unwrap_add_fields.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_str_eq(str(c.meta, "op"), "c");
    ck_assert_str_eq(path_str(c.meta, "source", "table"), "MY_TABLE");
    ck_assert_str_eq(path_str(c.meta, "source", "lsn"), "123456789");
    ck_assert_str_eq(path_str(c.meta, "source", "ts_ms"), "123456789");
    ck_assert_str_eq(str(c.meta, "__lsn"), "123456789");
    sl_change_clear(&c);

    /* a tombstone with no delete before it: delete by key */
    sl_error err;
    ck_assert_int_eq(decode_text("{\"pk\":2}", NULL, 0, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    sl_change_clear(&c);
    /* after a rewritten delete of the same key in the same partition: ignored */
    ck_assert_int_eq(decode_text("{\"pk\":3}", "{\"pk\":3,\"__deleted\":\"true\"}", 1, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    sl_change_clear(&c);
    ck_assert_int_eq(decode_text("{\"pk\":3}", NULL, 2, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_DELETE); /* another partition: not its tombstone */
    sl_change_clear(&c);
    ck_assert_int_eq(decode_text("{\"pk\":3}", NULL, 1, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    sl_change_clear(&c);
}
END_TEST

START_TEST(connect_null_envelope_is_tombstone)
{
    sl_change c;
    decode_files("mysql_tutorial_delete.key.json", "mysql_tutorial_delete.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    ck_assert_int_eq(json_integer_value(json_object_get(c.value, "id")), 1004);
    sl_change_clear(&c);
    decode_files("mysql_tutorial_tombstone.key.json", "mysql_tutorial_tombstone.value.json", &c);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    sl_change_clear(&c);
}
END_TEST

START_TEST(schemaless_cells_by_column)
{
    sl_column num = {.name = "p", .type_name = "numeric(10,2)", .type = SL_COL_NUMERIC};
    sl_column bytea = {.name = "b", .type_name = "bytea", .type = SL_COL_BYTEA};
    sl_column anynum = {.name = "n", .type_name = "numeric", .type = SL_COL_NUMERIC};
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_error err;
    /* the format's own conversion by column, as the mapper calls it */
    int (*convert_cell)(const sl_column *, const json_t *, sl_strbuf *, sl_error *) =
        sl_format_lookup(SL_FMT_DEBEZIUM)->convert_cell;
    ck_assert_ptr_nonnull(convert_cell);
    ck_assert_ptr_null(sl_format_lookup(SL_FMT_JSON)->convert_cell);
    json_t *v = json_string("D54=");
    ck_assert_int_eq(convert_cell(&num, v, &sb, &err), 1);
    ck_assert_str_eq(sb.data, "39.98");
    json_decref(v);
    sl_strbuf_reset(&sb);
    v = json_string("12.50"); /* decimal.handling.mode=string */
    ck_assert_int_eq(convert_cell(&num, v, &sb, &err), 0);
    json_decref(v);
    v = json_string("AP8=");
    ck_assert_int_eq(convert_cell(&bytea, v, &sb, &err), 1);
    ck_assert_str_eq(sb.data, "\\x00ff");
    json_decref(v);
    sl_strbuf_reset(&sb);
    v = json_pack("{s:i, s:s}", "scale", 3, "value", "MDk=");
    ck_assert_int_eq(convert_cell(&anynum, v, &sb, &err), 1);
    ck_assert_str_eq(sb.data, "12.345");
    json_decref(v);
    v = json_string("D54=");
    ck_assert_int_eq(convert_cell(&anynum, v, &sb, &err), -1);
    json_decref(v);
    sl_strbuf_free(&sb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("debezium decode");
    TCase *tc = tcase_create("decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pg_create_update_delete_tombstone);
    tcase_add_test(tc, pg_truncate_message_and_others);
    tcase_add_test(tc, toast_placeholder_dropped);
    tcase_add_test(tc, toast_placeholder_of_the_route);
    tcase_add_test(tc, typed_samples);
    tcase_add_test(tc, semantic_types);
    tcase_add_test(tc, flattened_rows);
    tcase_add_test(tc, connect_null_envelope_is_tombstone);
    tcase_add_test(tc, schemaless_cells_by_column);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
