/* test_protobuf_decode.c - `format: protobuf` and `format: json-schema`
 * offline: schemas put in the registry's cache as a registry would answer
 * them (.proto text here; the end-to-end test, e2e.py, covers serialized
 * descriptors and references), records crafted byte by byte, and what the
 * decoders make of them: values, fields, and the exact errors of bad
 * framing, bad indexes, corrupt messages and out-of-range well-known
 * types. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json_schema_int.h"
#include "protobuf_int.h"
#include "sluice/cells.h"
#include "sluice/decoder.h"
#include "sluice/mapping.h"
#include "sluice/registry.h"
#include "sluice/strbuf.h"
#include "runner.h"

static const char order_proto[] =
    "syntax = \"proto3\";\n"
    "package t;\n"
    "import \"google/protobuf/timestamp.proto\";\n"
    "message Order {\n"
    "  int32 a = 1;\n"
    "  string s = 2;\n"
    "  Inner inner = 3;\n"
    "  google.protobuf.Timestamp at = 4;\n"
    "  repeated sint64 r = 5;\n"
    "  map<int32, string> m = 6;\n"
    "  uint64 big = 7;\n"
    "  message Inner { bool ok = 1; }\n"
    "}\n";

static sl_registry *registry(void)
{
    char *u = "http://127.0.0.1:9"; /* never asked: every schema is put in place */
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .timeout_ms = 1000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(sl_registry_put(r, 7, "PROTOBUF", order_proto), 0);
    ck_assert_int_eq(sl_registry_put(r, 8, "AVRO", "\"string\""), 0);
    ck_assert_int_eq(sl_registry_put(r, 9, "PROTOBUF", "syntax = \"proto3\";\nmessage X { int32 a = 1 }\n"), 0);
    ck_assert_int_eq(sl_registry_put(r, 10, "JSON",
                                     "{\"type\":\"object\",\"properties\":{"
                                     "\"id\":{\"type\":\"integer\"},"
                                     "\"at\":{\"type\":\"string\",\"format\":\"date-time\"},"
                                     "\"d\":{\"type\":[\"string\",\"null\"],\"format\":\"date\"},"
                                     "\"u\":{\"$ref\":\"#/$defs/U\"},"
                                     "\"xs\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}},"
                                     "\"o\":{\"type\":\"object\"},"
                                     "\"any\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}},"
                                     "\"required\":[\"id\",\"at\",\"d\"],"
                                     "\"$defs\":{\"U\":{\"type\":\"string\",\"format\":\"uuid\"}}}"),
                     0);
    return r;
}

/* decode @len bytes with schema-id header @id; returns the value's JSON
 * text or NULL with @err */
static char *decode(sl_registry *r, const unsigned char *b, size_t len, sl_error *err, char **fields)
{
    json_t *v = NULL, *f = NULL;
    sl_error_clear(err);
    if (sl_protobuf_decode_wire(r, b, len, &v, fields ? &f : NULL, NULL, err))
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (fields)
        *fields = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    json_decref(f);
    return s;
}

#define HDR(id) 0, 0, 0, 0, id

START_TEST(scalars_nested_wkt)
{
    sl_registry *r = registry();
    const unsigned char rec[] = {
        HDR(7), 0x00,                       /* message index [0]: Order */
        0x08, 0x96, 0x01,                   /* a = 150 */
        0x12, 0x02, 'h', 'i',               /* s = "hi" */
        0x1a, 0x02, 0x08, 0x01,             /* inner { ok: true } */
        0x22, 0x06, 0x08, 0x80, 0xc1, 0xc4, 0xb1, 0x06, /* at { seconds: 1714495616 } */
        0x2a, 0x02, 0x03, 0x04,             /* r = [-2, 2] packed zigzag */
        0x32, 0x05, 0x08, 0x01, 0x12, 0x01, 'x', /* m = {1: "x"} */
        0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* big = 2^64 - 1 */
    };
    sl_error err;
    char *fields = NULL;
    char *s = decode(r, rec, sizeof(rec), &err, &fields);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_str_eq(s, "{\"a\":150,\"at\":\"2024-04-30T16:46:56.000000Z\",\"big\":\"18446744073709551615\","
                        "\"inner\":{\"ok\":true},\"m\":{\"1\":\"x\"},\"r\":[-2,2],\"s\":\"hi\"}");
    ck_assert_str_eq(fields,
                     "[{\"name\":\"a\",\"optional\":false,\"source_type\":\"int32\",\"type\":\"integer\"},"
                     "{\"name\":\"s\",\"optional\":false,\"source_type\":\"string\",\"type\":\"text\"},"
                     "{\"name\":\"inner\",\"optional\":true,\"source_type\":\"t.Order.Inner\",\"type\":\"jsonb\"},"
                     "{\"name\":\"at\",\"optional\":true,\"source_type\":\"google.protobuf.Timestamp\",\"type\":\"timestamptz\"},"
                     "{\"items\":\"bigint\",\"name\":\"r\",\"optional\":false,\"source_type\":\"repeated sint64\",\"type\":\"array\"},"
                     "{\"name\":\"m\",\"optional\":false,\"source_type\":\"map<int32, string>\",\"type\":\"jsonb\"},"
                     "{\"name\":\"big\",\"optional\":false,\"source_type\":\"uint64\",\"type\":\"numeric\"}]");
    free(s);
    free(fields);

    /* an empty message: proto3 defaults, unset messages NULL */
    const unsigned char empty[] = {HDR(7), 0x00};
    s = decode(r, empty, sizeof(empty), &err, NULL);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_str_eq(s, "{\"a\":0,\"at\":null,\"big\":0,\"inner\":null,\"m\":{},\"r\":[],\"s\":\"\"}");
    free(s);

    /* the index path [0, 1]: the nested Order.Inner (count 2, zigzag), after
     * the map's entry type, which the parser declares as Order's first */
    const unsigned char inner[] = {HDR(7), 0x04, 0x00, 0x02, 0x08, 0x01};
    s = decode(r, inner, sizeof(inner), &err, NULL);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_str_eq(s, "{\"ok\":true}");
    free(s);
    sl_protobuf_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

static void expect_error(sl_registry *r, const unsigned char *b, size_t len, const char *msg)
{
    sl_error err;
    char *s = decode(r, b, len, &err, NULL);
    ck_assert_msg(s == NULL, "decoded %s, expected: %s", s, msg);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    ck_assert_str_eq(err.msg, msg);
}

START_TEST(bad_records)
{
    sl_registry *r = registry();
    const unsigned char magic[] = {1, 0, 0, 0, 7, 0};
    expect_error(r, magic, sizeof(magic), "unknown magic byte 0x01 (the Confluent wire format starts with 0x00)");
    const unsigned char shortrec[] = {0, 0, 0, 7};
    expect_error(r, shortrec, sizeof(shortrec),
                 "4 bytes, too short for the Confluent wire format (magic byte 0, 4-byte schema id, message "
                 "indexes, Protobuf data)");
    const unsigned char negcount[] = {HDR(7), 0x01};
    expect_error(r, negcount, sizeof(negcount), "schema id 7: message-index count -1 out of range (0..64)");
    const unsigned char trunc[] = {HDR(7), 0x04, 0x00};
    expect_error(r, trunc, sizeof(trunc), "schema id 7: truncated message index");
    const unsigned char range[] = {HDR(7), 0x02, 0x0a};
    expect_error(r, range, sizeof(range),
                 "schema id 7: message index 5 out of range: schema-id-7.proto has 1 top-level messages");
    const unsigned char nested[] = {HDR(7), 0x04, 0x00, 0x04};
    expect_error(r, nested, sizeof(nested), "schema id 7: message index 2 out of range: t.Order has 2 nested messages");
    const unsigned char corrupt[] = {HDR(7), 0x00, 0x0f};
    expect_error(r, corrupt, sizeof(corrupt), "schema id 7, t.Order: corrupt or truncated Protobuf data for t.Order");
    const unsigned char cut[] = {HDR(7), 0x00, 0x12, 0x05, 'h'};
    expect_error(r, cut, sizeof(cut), "schema id 7, t.Order: corrupt or truncated Protobuf data for t.Order");
    /* a Timestamp past year 9999 */
    const unsigned char ts[] = {HDR(7), 0x00, 0x22, 0x07, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
    expect_error(r, ts, sizeof(ts),
                 "schema id 7, t.Order: at.Timestamp out of range (seconds 549755813888, nanos 0)");
    const unsigned char avro[] = {HDR(8), 0x00};
    expect_error(r, avro, sizeof(avro), "schema id 8 is a AVRO schema, not Protobuf");
    const unsigned char badschema[] = {HDR(9), 0x00};
    expect_error(r, badschema, sizeof(badschema), "schema id 9: schema-id-9.proto:2:25: Expected \";\".");
    sl_protobuf_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

START_TEST(json_schema_fields)
{
    sl_registry *r = registry();
    const char rec[] = "\0\0\0\0\x0a{\"id\": 5, \"at\": \"2024-05-01T00:00:00Z\"}";
    const char *body;
    size_t len;
    const json_t *fields;
    int id = -1;
    sl_error err;
    ck_assert_msg(sl_json_schema_wire(r, rec, sizeof(rec) - 1, &body, &len, &fields, &id, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(id, 10);
    ck_assert_int_eq((int)len, (int)strlen("{\"id\": 5, \"at\": \"2024-05-01T00:00:00Z\"}"));
    char *s = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s,
                     "[{\"name\":\"id\",\"optional\":false,\"source_type\":\"integer\",\"type\":\"bigint\"},"
                     "{\"name\":\"at\",\"optional\":false,\"source_type\":\"string (format date-time)\",\"type\":\"timestamptz\"},"
                     "{\"name\":\"d\",\"optional\":true,\"source_type\":\"string (format date)\",\"type\":\"date\"},"
                     "{\"name\":\"u\",\"optional\":true,\"source_type\":\"string (format uuid)\",\"type\":\"uuid\"},"
                     "{\"items\":\"double precision\",\"name\":\"xs\",\"optional\":true,\"source_type\":\"array\",\"type\":\"array\"},"
                     "{\"name\":\"o\",\"optional\":true,\"source_type\":\"object\",\"type\":\"jsonb\"},"
                     "{\"name\":\"any\",\"optional\":true,\"source_type\":\"(no single type)\",\"type\":\"jsonb\"}]");
    free(s);
    const char protobuf_id[] = "\0\0\0\0\x07{}";
    ck_assert_int_eq(sl_json_schema_wire(r, protobuf_id, sizeof(protobuf_id) - 1, &body, &len, &fields, &id, &err), -1);
    ck_assert_str_eq(err.msg, "schema id 7 is a PROTOBUF schema, not JSON Schema");
    sl_json_schema_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

/* A table (id bigint key, name text, at timestamptz, n integer) and a route
 * of @format reading it, keys as JSON. */
typedef struct fixture {
    sl_table t;
    sl_route_conf route;
    sl_mapping map;
    sl_decoder dec;
} fixture;

static void fixture_init(fixture *f, sl_registry *r, sl_format format)
{
    static const struct {
        const char *name;
        sl_coltype type;
    } cols[] = {{"id", SL_COL_INT8}, {"name", SL_COL_TEXT}, {"at", SL_COL_TIMESTAMPTZ}, {"n", SL_COL_INT4}};
    memset(f, 0, sizeof(*f));
    f->t.ncols = 4;
    f->t.cols = sl_xcalloc(4, sizeof(sl_column));
    for (size_t i = 0; i < 4; i++) {
        f->t.cols[i].name = sl_xstrdup(cols[i].name);
        f->t.cols[i].type_name = sl_xstrdup(cols[i].name);
        f->t.cols[i].type = cols[i].type;
    }
    f->t.cols[0].in_key = true;
    f->t.key = sl_xcalloc(1, sizeof(size_t));
    f->t.nkey = 1;
    f->t.schema = sl_xstrdup("public");
    f->t.name = sl_xstrdup("t");
    f->t.qname = sl_xstrdup("\"public\".\"t\"");
    f->route.name = (char *)"r";
    f->route.format = format;
    f->route.key_format = SL_KEYFMT_JSON;
    f->route.epoch_unit = SL_EPOCH_MS;
    sl_error err;
    ck_assert_msg(sl_mapping_init(&f->map, &f->route, &f->t, &err) == 0, "%s", err.msg);
    ck_assert_msg(sl_decoder_init(&f->dec, &f->route, r, &err) == 0, "%s", err.msg);
}

static void fixture_fini(fixture *f)
{
    sl_decoder_fini(&f->dec);
    sl_mapping_fini(&f->map);
    for (size_t i = 0; i < f->t.ncols; i++) {
        free(f->t.cols[i].name);
        free(f->t.cols[i].type_name);
    }
    free(f->t.cols);
    free(f->t.key);
    free(f->t.schema);
    free(f->t.name);
    free(f->t.qname);
}

static char *row_text(const sl_rowbuilder *b)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    for (uint32_t i = 0; i < b->ncols; i++) {
        if (b->len[i] < 0)
            sl_strbuf_puts(&sb, i ? "|-" : "-");
        else
            sl_strbuf_printf(&sb, "%s%.*s", i ? "|" : "", (int)b->len[i], b->bytes.data + b->off[i]);
    }
    return sl_strbuf_steal(&sb);
}

/* The direct reader takes a record of a schema id only after the general
 * path wrote one, and builds the same row; with @want2 NULL, the second
 * record is one the general path refuses, and the direct reader must
 * leave it to that path. */
static void direct_after_general(sl_registry *r, sl_format format, const void *v1, size_t l1, const void *v2,
                                 size_t l2, const char *want1, const char *want2)
{
    fixture f;
    fixture_init(&f, r, format);
    sl_cells *direct = sl_cells_new(&f.map, r);
    ck_assert_ptr_nonnull(direct);
    sl_rowbuilder fast, slow;
    sl_rowbuilder_init(&fast);
    sl_rowbuilder_init(&slow);
    sl_record rec = {.topic = "t", .value = v1, .value_len = l1, .key = "{\"id\":1}", .key_len = 8};
    ck_assert_int_eq(sl_cells_map(direct, &f.dec, &rec, &fast), 0); /* schema not seen yet */
    sl_change c;
    sl_error err;
    ck_assert_msg(sl_decode(&f.dec, &rec, &c, &err) == 0, "%s", err.msg);
    ck_assert_msg(sl_map_change(&f.map, &c, &rec, &slow, &err) == 0, "%s", err.msg);
    char *s = row_text(&slow);
    ck_assert_str_eq(s, want1);
    free(s);
    sl_cells_learn(direct, &c);
    sl_change_clear(&c);
    rec.value = v2;
    rec.value_len = l2;
    if (!want2) { /* a record the general path refuses: the direct reader declines it too */
        ck_assert_int_eq(sl_cells_map(direct, &f.dec, &rec, &fast), 0);
        ck_assert_int_ne(sl_decode(&f.dec, &rec, &c, &err), 0);
        ck_assert_int_eq(err.kind, SL_ERR_DATA);
    } else {
        ck_assert_int_eq(sl_cells_map(direct, &f.dec, &rec, &fast), 1);
        ck_assert_msg(sl_decode(&f.dec, &rec, &c, &err) == 0, "%s", err.msg);
        ck_assert_msg(sl_map_change(&f.map, &c, &rec, &slow, &err) == 0, "%s", err.msg);
        sl_change_clear(&c);
        char *a = row_text(&fast), *b = row_text(&slow);
        ck_assert_str_eq(a, b);
        ck_assert_str_eq(a, want2);
        free(a);
        free(b);
    }
    sl_rowbuilder_free(&fast);
    sl_rowbuilder_free(&slow);
    sl_cells_free(direct);
    fixture_fini(&f);
}

/* Integer ranges choose the column, maxLength is the length, and "$ref"s
 * to referenced schemas are followed (whole, by a fragment, and a local
 * "$ref" inside the referenced schema against that schema). */
START_TEST(json_schema_ranges_and_references)
{
    json_error_t je;
    json_t *schema = json_loads(
        "{\"type\": \"object\", \"properties\": {"
        "\"s\": {\"type\": \"integer\", \"minimum\": -32768, \"maximum\": 32767},"
        "\"i\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 32768},"
        "\"b\": {\"type\": \"integer\", \"minimum\": -2147483649, \"maximum\": 0},"
        "\"n\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 1e19},"
        "\"half\": {\"type\": \"integer\", \"maximum\": 10},"
        "\"code\": {\"type\": \"string\", \"maxLength\": 12},"
        "\"whole\": {\"$ref\": \"pct.json\"},"
        "\"day\": {\"$ref\": \"defs.json#/definitions/Day\"},"
        "\"alias\": {\"$ref\": \"defs.json#/$defs/Alias\"},"
        "\"lost\": {\"$ref\": \"nowhere.json\"}}}",
        0, &je);
    json_t *refs = json_loads(
        "{\"pct.json\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 100},"
        " \"defs.json\": {\"definitions\": {\"Day\": {\"type\": \"string\", \"format\": \"date\"}},"
        "               \"$defs\": {\"Alias\": {\"$ref\": \"#/definitions/Day\"}}}}",
        0, &je);
    ck_assert_ptr_nonnull(schema);
    ck_assert_ptr_nonnull(refs);
    json_t *fields = sl_json_schema_fields(schema, refs);
    sl_strbuf got = SL_STRBUF_INIT;
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        json_t *l = json_object_get(f, "length");
        sl_strbuf_printf(&got, "%s %s", json_string_value(json_object_get(f, "name")),
                         json_string_value(json_object_get(f, "type")));
        if (l)
            sl_strbuf_printf(&got, "(%lld)", (long long)json_integer_value(l));
        sl_strbuf_printf(&got, " [%s]; ", json_string_value(json_object_get(f, "source_type")));
    }
    ck_assert_str_eq(got.data, "s smallint [integer -32768..32767]; i integer [integer 0..32768]; "
                               "b bigint [integer -2147483649..0]; n numeric [integer 0..1e+19]; "
                               "half bigint [integer]; code text(12) [string]; whole smallint [integer 0..100]; "
                               "day date [string (format date)]; alias date [string (format date)]; "
                               "lost jsonb [(no single type)]; ");
    sl_strbuf_free(&got);
    json_decref(fields);
    /* without references, a "$ref" to another schema is jsonb */
    fields = sl_json_schema_fields(schema, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(fields, 6), "type")), "jsonb");
    json_decref(fields);
    json_decref(refs);
    json_decref(schema);
}
END_TEST

START_TEST(direct_readers)
{
    sl_registry *r = registry();
    ck_assert_int_eq(sl_registry_put(r, 11, "PROTOBUF",
                                     "syntax = \"proto3\";\nimport \"google/protobuf/timestamp.proto\";\n"
                                     "message Flat { int64 id = 1; string name = 2; google.protobuf.Timestamp at = 3; "
                                     "sint32 n = 4; }\n"),
                     0);
    const unsigned char p1[] = {HDR(11), 0x00, 0x08, 0x01, 0x12, 0x01, 'a'};
    const unsigned char p2[] = {HDR(11), 0x00, 0x08, 0x02, 0x1a, 0x06, 0x08, 0x80, 0xc1, 0xc4, 0xb1, 0x06, 0x20, 0x05};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), p2, sizeof(p2), "1|a|-|0",
                         "2||2024-04-30T16:46:56.000000Z|-3");
    /* libprotobuf reads a length in at most 5 bytes and a key in at most 5
     * (parse_context.h ReadSize, ReadTag): longer spellings of the same
     * numbers are refused there, and must not be taken here */
    const unsigned char len5[] = {HDR(11), 0x00, 0x08, 0x03, 0x12, 0x81, 0x80, 0x80, 0x80, 0x00, 'b'};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), len5, sizeof(len5), "1|a|-|0", "3|b|-|0");
    const unsigned char len7[] = {HDR(11), 0x00, 0x08, 0x03, 0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), len7, sizeof(len7), "1|a|-|0", NULL);
    const unsigned char len5big[] = {HDR(11), 0x00, 0x08, 0x03, 0x12, 0x80, 0x80, 0x80, 0x80, 0x08};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), len5big, sizeof(len5big), "1|a|-|0", NULL);
    const unsigned char key5[] = {HDR(11), 0x00, 0x88, 0x80, 0x80, 0x80, 0x00, 0x04};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), key5, sizeof(key5), "1|a|-|0", "4||-|0");
    const unsigned char key6[] = {HDR(11), 0x00, 0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x04};
    direct_after_general(r, SL_FMT_PROTOBUF, p1, sizeof(p1), key6, sizeof(key6), "1|a|-|0", NULL);
    const char j1[] = "\0\0\0\0\x0a{\"id\": 1, \"name\": \"a\"}";
    const char j2[] = "\0\0\0\0\x0a{\"id\": 2, \"at\": \"2024-05-01T00:00:00Z\", \"n\": 7}";
    direct_after_general(r, SL_FMT_JSON_SCHEMA, j1, sizeof(j1) - 1, j2, sizeof(j2) - 1, "1|a|-|-",
                         "2|-|2024-05-01T00:00:00Z|7");
    sl_protobuf_thread_cleanup();
    sl_json_schema_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protobuf_decode");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, scalars_nested_wkt);
    tcase_add_test(tc, bad_records);
    tcase_add_test(tc, json_schema_fields);
    tcase_add_test(tc, json_schema_ranges_and_references);
    tcase_add_test(tc, direct_readers);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
