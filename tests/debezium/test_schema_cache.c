/* test_schema_cache.c - `format: debezium` with JsonConverter schemas: each
 * distinct schema is parsed once and kept (schema_cache.c).  Without
 * servers: a kept schema decodes every event exactly as parsing the whole
 * event does, different schemas never mix, the cache stays within its
 * bounds, and hostile schemas or frames are refused or parsed whole. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/decoder.h"
#include "sluice/cells.h"
#include "sluice/mapping.h"
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

static int decode(const char *key, const char *value, sl_change *c, sl_error *err)
{
    sl_record rec = {.topic = "t", .partition = 0, .offset = 0, .timestamp = -1};
    if (key) {
        rec.key = key;
        rec.key_len = strlen(key);
    }
    if (value) {
        rec.value = value;
        rec.value_len = strlen(value);
    }
    sl_error_clear(err);
    return sl_decode(&dec, &rec, c, err);
}

static size_t cached(void)
{
    size_t n, bytes;
    sl_dbz_schema_stats(&dec, &n, &bytes);
    ck_assert_uint_le(n, SL_DBZ_SCHEMA_CACHE_ENTRIES);
    ck_assert_uint_le(bytes, SL_DBZ_SCHEMA_CACHE_BYTES);
    return n;
}

/* The same JSON object with "payload" first: a form the cache never takes,
 * so the event is parsed whole. */
static char *payload_first(const char *value)
{
    json_error_t je;
    json_t *j = json_loads(value, JSON_ALLOW_NUL, &je);
    ck_assert_msg(j != NULL, "%s", je.text);
    if (!json_object_get(j, "payload") || !json_object_get(j, "schema")) { /* not an envelope */
        json_decref(j);
        return strdup(value);
    }
    json_t *o = json_object();
    json_object_set(o, "payload", json_object_get(j, "payload"));
    json_object_set(o, "schema", json_object_get(j, "schema"));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(o);
    json_decref(j);
    return s;
}

static bool same(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

static void assert_same_change(const sl_change *a, const sl_change *b, const char *what)
{
    ck_assert_msg(a->op == b->op, "%s: op %d vs %d", what, a->op, b->op);
    ck_assert_msg(same(a->value, b->value), "%s: value differs", what);
    ck_assert_msg(same(a->key, b->key), "%s: key differs", what);
    ck_assert_msg(same(a->meta, b->meta), "%s: meta differs", what);
    ck_assert_msg(same(a->fields, b->fields), "%s: fields differ", what);
    ck_assert_msg(same(a->json_text, b->json_text), "%s: json_text differs", what);
}

/* Every Debezium-written sample with a schema (tests/debezium/data/):
 * the first event (schema parsed and kept), the second (schema found by
 * its bytes) and the event parsed whole decode to the same change. */
START_TEST(kept_schema_decodes_as_whole_parse)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/debezium/data", SOURCE_ROOT);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int samples = 0, kept = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 11 || strcmp(e->d_name + n - 11, ".value.json") || strstr(e->d_name, ".noschema."))
            continue;
        char path[2048], keypath[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(keypath, sizeof(keypath), "%s/%.*s.key.json", dir, (int)(n - 11), e->d_name);
        char *value = ts_read_file(path), *key = ts_read_file(keypath);
        if (!strncmp(value, "null", 4)) { /* a tombstone sample */
            free(value);
            free(key);
            continue;
        }
        char *whole = payload_first(value);
        sl_change a, b, c;
        sl_error ea, eb, ec;
        int ra = decode(key, value, &a, &ea), rb = decode(key, value, &b, &eb), rc = decode(key, whole, &c, &ec);
        ck_assert_msg(ra == rc && rb == rc, "%s: %d %d %d (%s)", e->d_name, ra, rb, rc, ec.msg);
        if (rc == 0) {
            assert_same_change(&a, &c, e->d_name);
            assert_same_change(&b, &c, e->d_name);
            ck_assert_int_eq(c.schema_key, 0);
            ck_assert_msg(a.schema_key == b.schema_key, "%s: the second event has another schema key", e->d_name);
            if (a.schema_key)
                kept++;
            sl_change_clear(&a);
            sl_change_clear(&b);
            sl_change_clear(&c);
        } else {
            ck_assert_str_eq(ea.msg, ec.msg);
        }
        samples++;
        free(whole);
        free(value);
        free(key);
    }
    closedir(d);
    ck_assert_int_ge(samples, 20);
    ck_assert_int_ge(kept, 20);
    ck_assert_uint_ge(cached(), 2);
}
END_TEST

/* An envelope whose "after" row is {id int64, amount Decimal with @scale,
 * and @extra more int32 fields}, named @table; @pad: bytes of padding in a
 * schema parameter. */
static char *schema_for(const char *table, int scale, int extra, size_t pad)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb,
                     "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":["
                     "{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
                     "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
                     "\"version\":1,\"parameters\":{\"scale\":\"%d\",\"pad\":\"",
                     scale);
    for (size_t i = 0; i < pad; i++)
        sl_strbuf_putc(&sb, 'x');
    sl_strbuf_printf(&sb, "\"},\"field\":\"amount\"}");
    for (int i = 0; i < extra; i++)
        sl_strbuf_printf(&sb, ",{\"type\":\"int32\",\"optional\":true,\"field\":\"x%d\"}", i);
    sl_strbuf_printf(&sb,
                     "],\"optional\":true,\"name\":\"s.%s.Value\",\"field\":\"after\"},"
                     "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],"
                     "\"optional\":false,\"name\":\"s.%s.Envelope\"}",
                     table, table);
    return sl_strbuf_steal(&sb);
}

/* An upsert event under @schema: amount's unscaled value is 1 (base64 "AQ=="). */
static char *event(const char *schema, long id, const char *trailer)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "{\"schema\":%s,\"payload\":{\"after\":{\"id\":%ld,\"amount\":\"AQ==\"},\"op\":\"c\"}}%s",
                     schema, id, trailer ? trailer : "");
    return sl_strbuf_steal(&sb);
}

/* Decode @value and check its amount is @amount; returns its schema key. */
static int64_t expect_amount(const char *value, const char *amount)
{
    sl_change c;
    sl_error err;
    ck_assert_msg(decode(NULL, value, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    ck_assert_str_eq(json_string_value(json_object_get(c.value, "amount")), amount);
    int64_t key = c.schema_key;
    sl_change_clear(&c);
    return key;
}

/* Two tables' schemas in turn (two topics into one route): each event is
 * read under its own schema, and each schema keeps its key. */
START_TEST(two_schemas_interleaved)
{
    char *s2 = schema_for("a", 2, 0, 0), *s3 = schema_for("b", 3, 0, 0);
    char *e2 = event(s2, 1, NULL), *e3 = event(s3, 1, NULL);
    int64_t k2 = expect_amount(e2, "0.01"), k3 = expect_amount(e3, "0.001");
    ck_assert(k2 != 0 && k3 != 0 && k2 != k3);
    for (int i = 0; i < 5; i++) {
        ck_assert(expect_amount(e3, "0.001") == k3);
        ck_assert(expect_amount(e2, "0.01") == k2);
    }
    ck_assert_uint_eq(cached(), 2);
    free(s2);
    free(s3);
    free(e2);
    free(e3);
}
END_TEST

/* A column added mid-stream: the new schema has a new key and its fields
 * name the new column; the old schema's events still decode as before. */
START_TEST(schema_change_mid_stream)
{
    char *v1 = schema_for("t", 2, 0, 0), *v2 = schema_for("t", 2, 1, 0);
    char *e1 = event(v1, 1, NULL), *e2 = event(v2, 2, NULL);
    sl_change c;
    sl_error err;
    ck_assert_int_eq(decode(NULL, e1, &c, &err), 0);
    int64_t k1 = c.schema_key;
    ck_assert_int_eq(json_array_size(c.fields), 2);
    sl_change_clear(&c);
    ck_assert_int_eq(decode(NULL, e2, &c, &err), 0);
    ck_assert(c.schema_key != 0 && c.schema_key != k1);
    ck_assert_int_eq(json_array_size(c.fields), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c.fields, 2), "name")), "x0");
    sl_change_clear(&c);
    ck_assert(expect_amount(e1, "0.01") == k1);
    free(v1);
    free(v2);
    free(e1);
    free(e2);
}
END_TEST

/* More schemas than the cache holds: the least recently used go, every
 * event still decodes under its own schema, and a schema that went comes
 * back under a new key. */
START_TEST(eviction_by_count)
{
    int n = SL_DBZ_SCHEMA_CACHE_ENTRIES + 40;
    int64_t first = 0;
    for (int i = 0; i < n; i++) {
        char table[16];
        snprintf(table, sizeof(table), "t%d", i);
        char *s = schema_for(table, i % 3, i % 4, 0), *e = event(s, i, NULL);
        const char *want = i % 3 == 0 ? "1" : i % 3 == 1 ? "0.1" : "0.01";
        int64_t k = expect_amount(e, want);
        ck_assert(expect_amount(e, want) == k);
        if (i == 0)
            first = k;
        free(s);
        free(e);
    }
    ck_assert_uint_eq(cached(), SL_DBZ_SCHEMA_CACHE_ENTRIES);
    char *s = schema_for("t0", 0, 0, 0), *e = event(s, 0, NULL);
    int64_t again = expect_amount(e, "1");
    ck_assert(again != 0 && again != first);
    free(s);
    free(e);
}
END_TEST

/* Large schemas: the bytes bound holds, and a schema beyond the longest
 * kept is parsed with its event, not kept. */
START_TEST(eviction_by_bytes_and_long_schema)
{
    size_t pad = SL_DBZ_SCHEMA_MAX_BYTES / 2;
    int n = (int)(SL_DBZ_SCHEMA_CACHE_BYTES / pad) + 4;
    for (int i = 0; i < n; i++) {
        char table[16];
        snprintf(table, sizeof(table), "big%d", i);
        char *s = schema_for(table, 2, 0, pad), *e = event(s, i, NULL);
        ck_assert(expect_amount(e, "0.01") != 0);
        free(s);
        free(e);
    }
    size_t entries, bytes;
    sl_dbz_schema_stats(&dec, &entries, &bytes);
    ck_assert_uint_lt(entries, (size_t)n);
    ck_assert_uint_le(bytes, SL_DBZ_SCHEMA_CACHE_BYTES);
    char *s = schema_for("huge", 2, 0, SL_DBZ_SCHEMA_MAX_BYTES), *e = event(s, 1, NULL);
    ck_assert_int_eq(expect_amount(e, "0.01"), 0);
    size_t entries2, bytes2;
    sl_dbz_schema_stats(&dec, &entries2, &bytes2);
    ck_assert_uint_eq(entries2, entries);
    ck_assert_uint_eq(bytes2, bytes);
    free(s);
    free(e);
}
END_TEST

/* Hostile schemas: nested beyond what the parser takes, unterminated, a
 * string that never ends.  Each is refused as the record's fault and
 * nothing is kept. */
START_TEST(hostile_schemas)
{
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 256), *p = deep;
    p += sprintf(p, "{\"schema\":{\"type\":\"struct\",\"x\":");
    memset(p, '[', depth);
    p += depth;
    memset(p, ']', depth);
    p += depth;
    sprintf(p, "},\"payload\":{\"after\":{\"id\":1},\"op\":\"c\"}}");
    static const char *const bad[] = {
        "{\"schema\":{\"type\":\"struct\",\"fields\":[[[[[[,\"payload\":{\"op\":\"c\",\"after\":{}}}",
        "{\"schema\":{\"type\":\"struct\",\"name\":\"never ends},\"payload\":{\"op\":\"c\",\"after\":{}}}",
        "{\"schema\":{\"type\":\"struct\"]},\"payload\":{\"op\":\"c\",\"after\":{}}}",
        "{\"schema\":{\"type\":\"struct\"}]},\"payload\":{\"op\":\"c\",\"after\":{}}}",
        /* a valid schema in a broken frame: the schema may be kept, the event is refused */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"c\",\"after\":{}}",
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"c\",\"after\":{}}} x",
    };
    sl_change c;
    sl_error err;
    ck_assert_int_eq(decode(NULL, deep, &c, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (i == 4)
            ck_assert_uint_eq(cached(), 0);
        ck_assert_msg(decode(NULL, bad[i], &c, &err) == -1, "accepted: %s", bad[i]);
        ck_assert_int_eq(err.kind, SL_ERR_DATA);
    }
    ck_assert_uint_le(cached(), 1);
    free(deep);
}
END_TEST

/* Frames around a kept schema that are not the plain envelope: each
 * decodes exactly as the same JSON object with its members in another
 * order (parsed whole), or is refused as invalid JSON. */
START_TEST(frames_around_a_kept_schema)
{
    char *s = schema_for("t", 2, 0, 0), *e = event(s, 1, NULL);
    int64_t k = expect_amount(e, "0.01");
    ck_assert(k != 0);
    static const char *const trailers[] = {" \n", " x", "}", ",", "{}"};
    for (size_t i = 0; i < sizeof(trailers) / sizeof(trailers[0]); i++) {
        char *t = event(s, 1, trailers[i]);
        sl_change c;
        sl_error err;
        int rc = decode(NULL, t, &c, &err);
        ck_assert_msg(rc == (i == 0 ? 0 : -1), "trailer '%s': %d", trailers[i], rc);
        if (rc == 0)
            sl_change_clear(&c);
        free(t);
    }
    /* another member after the payload; a member name written with an
     * escape; whitespace everywhere the grammar allows it */
    sl_strbuf sb = SL_STRBUF_INIT;
    const char *payload = "{\"after\":{\"id\":1,\"amount\":\"AQ==\"},\"op\":\"c\"}";
    sl_strbuf_printf(&sb, "{\"schema\":%s,\"payload\":%s,\"extra\":1}", s, payload);
    char *extra = sl_strbuf_steal(&sb);
    sl_strbuf_printf(&sb, "{\"payload\":%s,\"extra\":1,\"schema\":%s}", payload, s);
    char *extra2 = sl_strbuf_steal(&sb);
    sl_strbuf_printf(&sb, "{\"\\u0073chema\":%s,\"payload\":%s}", s, payload);
    char *escaped = sl_strbuf_steal(&sb);
    sl_strbuf_printf(&sb, " \r\n{ \"schema\"\t:\n%s \n, \"payload\" :\r%s \t}\n ", s, payload);
    char *spaced = sl_strbuf_steal(&sb);
    sl_change a, b;
    sl_error ea, eb;
    int ra = decode(NULL, extra, &a, &ea), rb = decode(NULL, extra2, &b, &eb);
    ck_assert_int_eq(ra, rb);
    if (ra == 0) {
        assert_same_change(&a, &b, "extra member");
        sl_change_clear(&a);
        sl_change_clear(&b);
    }
    ck_assert(expect_amount(escaped, "0.01") == 0);
    ck_assert(expect_amount(spaced, "0.01") == k);
    free(extra);
    free(extra2);
    free(escaped);
    free(spaced);
    free(s);
    free(e);
}
END_TEST

/* ---- the direct reader under a kept schema ---- */

static const char plain_schema[] =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"name\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"field\":\"ts\"},"
    "{\"type\":\"double\",\"optional\":true,\"field\":\"temp\"},"
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"ok\"}],"
    "\"optional\":true,\"name\":\"s.t.Value\",\"field\":\"after\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"s.t.Envelope\"}";

typedef struct direct_fixture {
    sl_table table;
    sl_mapping map;
    sl_cells *cells;
    sl_rowbuilder general, direct;
} direct_fixture;

static void direct_setup(direct_fixture *f)
{
    static const struct {
        const char *name, *type_name;
        sl_coltype type;
    } cols[] = {{"id", "bigint", SL_COL_INT8},        {"name", "text", SL_COL_TEXT},
                {"ts", "timestamptz", SL_COL_TIMESTAMPTZ}, {"temp", "double precision", SL_COL_FLOAT8},
                {"ok", "boolean", SL_COL_BOOL},       {"extra", "text", SL_COL_TEXT},
                {"amount", "numeric(12,2)", SL_COL_NUMERIC}, {"doc", "jsonb", SL_COL_JSONB},
                {"local", "timestamp", SL_COL_TIMESTAMP}};
    memset(f, 0, sizeof(*f));
    sl_table *t = &f->table;
    t->ncols = sizeof(cols) / sizeof(cols[0]);
    t->cols = sl_xcalloc(t->ncols, sizeof(sl_column));
    for (size_t i = 0; i < t->ncols; i++) {
        t->cols[i].name = (char *)cols[i].name;
        t->cols[i].type_name = (char *)cols[i].type_name;
        t->cols[i].type = cols[i].type;
    }
    t->cols[0].in_key = true;
    t->key = sl_xcalloc(1, sizeof(size_t));
    t->nkey = 1;
    t->qname = (char *)"\"public\".\"t\"";
    route.mode = SL_MODE_UPSERT;
    sl_error err;
    ck_assert_int_eq(sl_mapping_init(&f->map, &route, t, &err), 0);
    f->cells = sl_cells_new(&f->map, NULL);
    ck_assert_ptr_nonnull(f->cells);
    sl_rowbuilder_init(&f->general);
    sl_rowbuilder_init(&f->direct);
}

static void direct_teardown(direct_fixture *f)
{
    sl_cells_free(f->cells);
    sl_mapping_fini(&f->map);
    sl_rowbuilder_free(&f->general);
    sl_rowbuilder_free(&f->direct);
    free(f->table.cols);
    free(f->table.key);
}

/* The direct reader on the record @key (may be NULL), @value, then the
 * general path, which teaches the reader the schema of an upsert it
 * wrote, as in the worker: returns the direct reader's answer (0 declined,
 * 1 an upsert, 3 a delete), and when it took the record, checks that the
 * general path makes the same op of it and builds the same row. */
static int direct_reads(direct_fixture *f, const char *key, const char *value)
{
    sl_record rec = {.topic = "t", .partition = 0, .offset = 0, .timestamp = -1, .value = value,
                     .value_len = strlen(value), .key = key, .key_len = key ? strlen(key) : 0};
    int took = sl_cells_map(f->cells, &dec, &rec, &f->direct);
    sl_change c;
    sl_error err;
    sl_error_clear(&err);
    int rc = sl_decode(&dec, &rec, &c, &err);
    sl_op op = rc == 0 ? c.op : SL_OP_IGNORE;
    /* a row the mapper refuses (no key) is neither an upsert nor a delete */
    bool mapped = (op == SL_OP_UPSERT || op == SL_OP_DELETE) && sl_map_change(&f->map, &c, &rec, &f->general, &err) == 0;
    if (mapped && op == SL_OP_UPSERT)
        sl_cells_learn(f->cells, &c);
    if (rc == 0)
        sl_change_clear(&c);
    if (!took)
        return 0;
    ck_assert_msg(mapped && op == (took == 1 ? SL_OP_UPSERT : SL_OP_DELETE),
                  "the direct reader took as %s what the general path does not: %s", took == 1 ? "an upsert" : "a delete",
                  value);
    for (size_t i = 0; i < f->table.ncols; i++) {
        ck_assert_int_eq(f->direct.len[i], f->general.len[i]);
        if (f->direct.len[i] > 0)
            ck_assert(!memcmp(f->direct.bytes.data + f->direct.off[i], f->general.bytes.data + f->general.off[i],
                              (size_t)f->direct.len[i]));
    }
    return took;
}

static bool direct_takes(direct_fixture *f, const char *value)
{
    return direct_reads(f, NULL, value) != 0;
}

static char *plain_event(const char *schema_text, const char *payload)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "{\"schema\":%s,\"payload\":%s}", schema_text, payload);
    return sl_strbuf_steal(&sb);
}

/* Fields of Connect's and Debezium's semantic types: each value converted
 * as the general path converts it, into the cell the mapper would build;
 * whatever that conversion or the column refuses, and any value that is
 * not a string, an integer, a boolean or null, is left to the general path. */
static const char converted_schema[] =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
    "\"version\":1,\"parameters\":{\"scale\":\"2\"},\"field\":\"amount\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"field\":\"doc\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\"field\":\"local\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"field\":\"name\"},"
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
    "\"parameters\":{\"scale\":\"1\"},\"field\":\"unmapped\"}],"
    "\"optional\":true,\"name\":\"s.t.Value\",\"field\":\"after\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"s.t.Envelope\"}";

START_TEST(direct_reader_converts_semantic_types)
{
    direct_fixture f;
    direct_setup(&f);
    static const struct {
        const char *payload;
        bool takes;
        const char *amount, *doc, *local, *name; /* the cells when taken */
    } cases[] = {
        {"{\"after\":{\"id\":1,\"amount\":\"MDk=\",\"doc\":\"{\\\"a\\\": [1, 2.50]}\","
         "\"local\":1704067200000001,\"name\":\"[1]\",\"unmapped\":\"AQ==\"},\"op\":\"r\"}",
         true, "123.45", "{\"a\": [1, 2.50]}", "2024-01-01T00:00:00.000001", "[1]"},
        {"{\"after\":{\"id\":2,\"amount\":\"/88=\",\"doc\":null,\"local\":-1,\"name\":null},\"op\":\"u\"}",
         true, "-0.49", NULL, "1969-12-31T23:59:59.999999", NULL},
        /* what the general path must decide */
        {"{\"after\":{\"id\":3,\"amount\":\"not base64!\"},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":4,\"unmapped\":\"not base64!\"},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":5,\"amount\":12.5},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":6,\"doc\":{\"a\":1}},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":7,\"local\":[1]},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":8,\"amount\":\"__debezium_unavailable_value\"},\"op\":\"u\"}", false, NULL, NULL, NULL, NULL},
    };
    char *first = plain_event(converted_schema, cases[0].payload);
    ck_assert(!direct_takes(&f, first));
    free(first);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = plain_event(converted_schema, cases[i].payload);
        ck_assert_msg(direct_takes(&f, e) == cases[i].takes, "case %zu: %s", i, cases[i].payload);
        free(e);
        if (!cases[i].takes)
            continue;
        const char *want[] = {cases[i].amount, cases[i].doc, cases[i].local, cases[i].name};
        const uint32_t col[] = {6, 7, 8, 1};
        for (size_t k = 0; k < 4; k++) {
            if (!want[k]) {
                ck_assert_int_eq(f.direct.len[col[k]], SL_CELL_NULL);
                continue;
            }
            ck_assert_int_eq(f.direct.len[col[k]], (int)strlen(want[k]));
            ck_assert_msg(!memcmp(f.direct.bytes.data + f.direct.off[col[k]], want[k], strlen(want[k])), "%.*s", f.direct.len[col[k]], f.direct.bytes.data + f.direct.off[col[k]]);
        }
    }
    direct_teardown(&f);
}
END_TEST

/* Edge values of the types the reader converts from their tokens: each
 * cell equal to the general path's (direct_takes() compares the rows) and
 * to the text written here. */
static const char edge_schema[] =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
    "\"parameters\":{\"scale\":\"0\"},\"field\":\"amount\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.NanoTimestamp\",\"field\":\"local\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Timestamp\",\"field\":\"ts\"},"
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"field\":\"extra\"},"
    "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"field\":\"name\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Xml\",\"field\":\"doc\"}],"
    "\"optional\":true,\"name\":\"s.t.Value\",\"field\":\"after\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,\"name\":\"s.t.Envelope\"}";

START_TEST(direct_reader_converts_edge_values)
{
    direct_fixture f;
    direct_setup(&f);
    static const struct {
        const char *payload;
        bool takes;
        const char *amount, *local, *ts, *extra, *name, *doc; /* the cells when taken */
    } cases[] = {
        /* leading zero bytes; a date and timestamps before 1970; nanoseconds */
        {"{\"after\":{\"id\":1,\"amount\":\"AAAwOQ==\",\"local\":-1,\"ts\":-1,\"extra\":0,\"name\":-1,"
         "\"doc\":\"<a b=\\\"1\\\"/>\"},\"op\":\"c\"}",
         true, "12345", "1969-12-31T23:59:59.999999999", "1969-12-31T23:59:59.999000Z", "00:00:00.000000", "1969-12-31",
         "\"<a b=\\\"1\\\"/>\""},
        /* negative decimals (the smallest int64 unscaled); the last microsecond of a day */
        {"{\"after\":{\"id\":2,\"amount\":\"gAAAAAAAAAA=\",\"local\":1704067200000000001,\"ts\":0,"
         "\"extra\":86399999999,\"name\":0,\"doc\":null},\"op\":\"u\"}",
         true, "-9223372036854775808", "2024-01-01T00:00:00.000000001", "1970-01-01T00:00:00.000000Z", "23:59:59.999999",
         "1970-01-01", NULL},
        {"{\"after\":{\"id\":3,\"amount\":\"/w==\",\"local\":-9223372036854775808,\"ts\":1704067200123,"
         "\"extra\":86400000000,\"name\":19723},\"op\":\"r\"}",
         true, "-1", "1677-09-21T00:12:43.145224192", "2024-01-01T00:00:00.123000Z", "24:00:00.000000", "2024-01-01", NULL},
        {"{\"after\":{\"id\":4,\"amount\":\"AA==\",\"local\":9223372036854775807},\"op\":\"r\"}",
         true, "0", "2262-04-11T23:47:16.854775807", NULL, NULL, NULL, NULL},
        /* what the general path must decide: out of range, a time past a day */
        {"{\"after\":{\"id\":5,\"ts\":9223372036854775807},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":6,\"extra\":86400000001},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":7,\"name\":100000001},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL, NULL, NULL},
        {"{\"after\":{\"id\":8,\"amount\":\"\"},\"op\":\"c\"}", false, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    char *first = plain_event(edge_schema, cases[0].payload);
    ck_assert(!direct_takes(&f, first));
    free(first);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = plain_event(edge_schema, cases[i].payload);
        ck_assert_msg(direct_takes(&f, e) == cases[i].takes, "case %zu: %s", i, cases[i].payload);
        free(e);
        if (!cases[i].takes)
            continue;
        const char *want[] = {cases[i].amount, cases[i].local, cases[i].ts, cases[i].extra, cases[i].name, cases[i].doc};
        const uint32_t col[] = {6, 8, 2, 5, 1, 7};
        for (size_t k = 0; k < 6; k++) {
            const char *cell = f.direct.bytes.data + f.direct.off[col[k]];
            if (!want[k]) {
                ck_assert_msg(f.direct.len[col[k]] < 0, "case %zu column %u: %.*s", i, col[k],
                              f.direct.len[col[k]] > 0 ? f.direct.len[col[k]] : 0, cell);
                continue;
            }
            ck_assert_msg(f.direct.len[col[k]] == (int)strlen(want[k]) && !memcmp(cell, want[k], strlen(want[k])),
                          "case %zu column %u: %.*s, not %s", i, col[k], f.direct.len[col[k]] > 0 ? f.direct.len[col[k]] : 0,
                          cell, want[k]);
        }
    }
    direct_teardown(&f);
}
END_TEST

START_TEST(direct_reader_under_a_kept_schema)
{
    direct_fixture f;
    direct_setup(&f);
    static const struct {
        const char *payload;
        bool takes;
    } cases[] = {
        {"{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\",\"ts\":\"2024-01-01T00:00:00.001Z\",\"temp\":-1.5,"
         "\"ok\":true},\"source\":{\"table\":\"t\",\"x\":[1,{\"y\":null}]},\"op\":\"c\",\"ts_ms\":1}", true},
        {"{\"op\":\"u\",\"after\":{\"id\":2,\"name\":null,\"ok\":false},\"before\":{\"id\":2}}", true},
        {"{\"after\":{\"id\":3,\"name\":\"r\"},\"op\":\"r\"}", true},
        /* what the general path must decide */
        {"{\"before\":{\"id\":4},\"after\":null,\"op\":\"d\"}", false},
        {"{\"after\":{\"id\":5},\"op\":\"t\"}", false},
        {"{\"after\":{\"id\":6}}", false},
        {"{\"after\":{\"id\":7},\"op\":\"c\",\"op\":\"d\"}", false},
        {"{\"after\":{\"id\":8},\"after\":{\"id\":9},\"op\":\"c\"}", false},
        {"{\"after\":{\"id\":10,\"extra\":\"not in the schema\"},\"op\":\"c\"}", false},
        {"{\"after\":{\"id\":11,\"name\":\"__debezium_unavailable_value\"},\"op\":\"u\"}", false},
        {"{\"after\":{\"id\":12},\"op\":\"c\",\"source\":{\"bad\":01}}", false},
        {"{\"after\":{\"id\":13},\"op\":[\"c\"]}", false},
        {"{\"after\":[1],\"op\":\"c\"}", false},
        {"{\"after\":{\"name\":\"no key\"},\"op\":\"c\"}", false},
    };
    /* the first event of a schema takes the general path, which checks the
     * table against it; the next ones may go direct */
    char *first = plain_event(plain_schema, cases[0].payload);
    ck_assert(!direct_takes(&f, first));
    free(first);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = plain_event(plain_schema, cases[i].payload);
        ck_assert_msg(direct_takes(&f, e) == cases[i].takes, "case %zu: %s", i, cases[i].payload);
        free(e);
    }
    /* a schema with a field the reader converts (a Decimal): its first
     * event checks the table, the next goes direct (and builds the same row) */
    char *dec_schema = schema_for("t", 2, 0, 0);
    char *e = event(dec_schema, 1, NULL);
    ck_assert(!direct_takes(&f, e));
    ck_assert(direct_takes(&f, e));
    ck_assert_int_eq(f.direct.len[6], 4);
    ck_assert(!memcmp(f.direct.bytes.data + f.direct.off[6], "0.01", 4));
    free(e);
    free(dec_schema);
    /* a schema other than the one the table was last checked against */
    e = plain_event(plain_schema, "{\"after\":{\"id\":1},\"op\":\"c\"}");
    sl_record rec = {.topic = "t", .value = e, .value_len = strlen(e)};
    ck_assert(!direct_takes(&f, e)); /* the Decimal schema's upserts came last */
    ck_assert_int_eq(sl_cells_map(f.cells, &dec, &rec, &f.direct), 1);
    sl_change other = {.op = SL_OP_UPSERT, .schema_key = INT64_MAX};
    sl_cells_learn(f.cells, &other);
    ck_assert_int_eq(sl_cells_map(f.cells, &dec, &rec, &f.direct), 0);
    sl_change del = {.op = SL_OP_DELETE, .schema_key = 0};
    sl_cells_learn(f.cells, &del); /* a delete teaches nothing */
    ck_assert_int_eq(sl_cells_map(f.cells, &dec, &rec, &f.direct), 0);
    free(e);
    direct_teardown(&f);
}
END_TEST

/* Deletes go direct: the row is the record key's key cells, as the general
 * path's value (before, the key on top) gives them; "before" is read as
 * the general path converts it.  What the general path must judge is left
 * to it.  Fields of nested values (a VariableScaleDecimal, arrays) too. */
#define DELETE_ROW(field)                                                                                           \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"                    \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"name\"},"                                                   \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"                 \
    "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":true,"                               \
    "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"field\":\"amount\"},"                                     \
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},\"optional\":true,\"field\":\"extra\"}," \
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","                     \
    "\"parameters\":{\"scale\":\"1\"},\"field\":\"temp\"}],"                                                        \
    "\"optional\":true,\"name\":\"s.t.Value\",\"field\":\"" field "\"}"
static const char delete_schema[] = "{\"type\":\"struct\",\"fields\":[" DELETE_ROW("before") "," DELETE_ROW("after") ","
                                    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,"
                                    "\"name\":\"s.t.Envelope\"}";

START_TEST(direct_reader_deletes_and_nested_values)
{
    direct_fixture f;
    direct_setup(&f);
    static const char skey[] = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,"
                               "\"field\":\"id\"}],\"optional\":false,\"name\":\"s.t.Key\"},\"payload\":{\"id\":%d}}";
    static const struct {
        const char *key; /* a format with %d for the key's id, or a key as it is */
        int id;
        const char *payload;
        int took;
        const char *cell; /* column 6 (amount) or 5 (extra) when taken as an upsert; NULL: not compared */
    } cases[] = {
        /* upserts: a VariableScaleDecimal (negative, a scale of 3) and an array */
        {skey, 1, "{\"before\":null,\"after\":{\"id\":1,\"amount\":{\"scale\":3,\"value\":\"/zk=\"},"
         "\"extra\":[\"a,b\",null,\"\\\"q\"],\"temp\":\"AQ==\"},\"op\":\"c\"}", 1, "-0.199"},
        {skey, 2, "{\"after\":{\"id\":2,\"amount\":null,\"extra\":[]},\"op\":\"u\"}", 1, NULL},
        /* deletes: as Debezium writes them under REPLICA IDENTITY DEFAULT and FULL */
        {skey, 1, "{\"before\":{\"id\":1,\"name\":null,\"amount\":null,\"extra\":null,\"temp\":null},"
         "\"after\":null,\"source\":{\"table\":\"t\"},\"op\":\"d\"}", 3, NULL},
        {skey, 2, "{\"op\":\"d\",\"before\":{\"id\":2,\"name\":\"x\",\"amount\":{\"scale\":0,\"value\":\"AQ==\"},"
         "\"extra\":[\"y\"],\"temp\":\"AQ==\"},\"after\":null}", 3, NULL},
        /* a plain record key; a key with other members (the key's value wins) */
        {"{\"id\":%d}", 3, "{\"before\":{\"id\":3},\"after\":null,\"op\":\"d\"}", 3, NULL},
        {"{\"id\":%d,\"other\":1}", 4, "{\"before\":{\"id\":4},\"op\":\"d\"}", 3, NULL},
        /* an object where the schema says string: the general path's walk takes it as it is */
        {skey, 12, "{\"before\":{\"id\":12,\"extra\":[{\"a\":1}]},\"op\":\"d\"}", 3, NULL},
        /* what the general path must judge */
        {NULL, 0, "{\"before\":{\"id\":5},\"after\":null,\"op\":\"d\"}", 0, NULL},            /* no record key */
        {"{\"other\":%d}", 6, "{\"before\":{\"id\":6},\"op\":\"d\"}", 0, NULL},              /* no id in the key */
        {"{\"id\":null,\"x\":%d}", 7, "{\"before\":{\"id\":7},\"op\":\"d\"}", 0, NULL},     /* a null id */
        {"{\"id\":\"x%d\"}", 8, "{\"before\":{\"id\":8},\"op\":\"d\"}", 0, NULL},           /* not an integer */
        {skey, 9, "{\"before\":null,\"after\":null,\"op\":\"d\"}", 0, NULL},                    /* no before */
        {skey, 10, "{\"before\":{\"id\":10,\"temp\":\"not base64!\"},\"op\":\"d\"}", 0, NULL}, /* refused */
        {skey, 11, "{\"before\":{\"id\":11,\"amount\":{\"scale\":\"x\",\"value\":\"AQ==\"}},\"op\":\"d\"}", 0, NULL},
        {skey, 13, "{\"before\":{\"id\":13},\"after\":{\"id\":01},\"op\":\"d\"}", 0, NULL}, /* invalid JSON */
        {skey, 14, "{\"before\":{\"id\":14},\"before\":{\"id\":15},\"op\":\"d\"}", 0, NULL},
        {skey, 16, "{\"before\":{\"id\":16,\"extra\":[\"__debezium_unavailable_value\"]},\"op\":\"u\","
         "\"after\":{\"id\":16,\"extra\":[\"__debezium_unavailable_value\"]}}", 0, NULL},
        {skey, 17, "{\"before\":{\"id\":17},\"op\":\"d\",\"source\":{\"table\":\"\xff\"}}", 0, NULL},
    };
    char key[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].key)
            snprintf(key, sizeof(key), cases[i].key, cases[i].id);
        char *e = plain_event(delete_schema, cases[i].payload);
        if (i == 0) /* the first event of the schema checks the table */
            ck_assert_int_eq(direct_reads(&f, cases[i].key ? key : NULL, e), 0);
        int took = direct_reads(&f, cases[i].key ? key : NULL, e);
        ck_assert_msg(took == cases[i].took, "case %zu: took %d, not %d: %s", i, took, cases[i].took, cases[i].payload);
        if (took == 3) { /* the key alone */
            char id[16];
            snprintf(id, sizeof(id), "%d", cases[i].id);
            ck_assert_int_eq(f.direct.len[0], (int)strlen(id));
            ck_assert(!memcmp(f.direct.bytes.data + f.direct.off[0], id, strlen(id)));
            for (size_t c = 1; c < f.table.ncols; c++)
                ck_assert_int_eq(f.direct.len[c], SL_CELL_ABSENT);
        }
        if (took == 1 && cases[i].cell) {
            ck_assert_int_eq(f.direct.len[6], (int)strlen(cases[i].cell));
            ck_assert(!memcmp(f.direct.bytes.data + f.direct.off[6], cases[i].cell, strlen(cases[i].cell)));
        }
        free(e);
    }
    /* a delete's tombstone is known after a direct delete as after the
     * general path's: ignored, not a second delete */
    snprintf(key, sizeof(key), skey, 20);
    char *e = plain_event(delete_schema, "{\"before\":{\"id\":20},\"op\":\"d\"}");
    ck_assert_int_eq(direct_reads(&f, key, e), 3);
    free(e);
    sl_change c;
    sl_error err;
    ck_assert_int_eq(decode(key, NULL, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_IGNORE);
    ck_assert_str_eq(c.reason, "tombstone after a delete");
    sl_change_clear(&c);
    ck_assert_int_eq(decode(key, NULL, &c, &err), 0);
    ck_assert_int_eq(c.op, SL_OP_DELETE); /* a second tombstone stands for a delete */
    sl_change_clear(&c);
    direct_teardown(&f);
}
END_TEST

/* ---- the source block's names, for a `${source.table}` route ---- */

/* The names sl_dbz_envelope_scan() finds in @payload, each value as
 * "db|schema|table" ("-" for none), or "decline" (the scan declines, or a
 * name holds an escape). */
static void names_of(const char *payload, char *out, size_t cap)
{
    sl_dbz_envelope e;
    if (!sl_dbz_envelope_scan(payload, strlen(payload), &e) || !e.names_ok) {
        snprintf(out, cap, "decline");
        return;
    }
    sl_cells_names n = e.names;
    snprintf(out, cap, "%.*s|%.*s|%.*s", n.v[0] ? (int)n.n[0] : 1, n.v[0] ? n.v[0] : "-",
             n.v[1] ? (int)n.n[1] : 1, n.v[1] ? n.v[1] : "-", n.v[2] ? (int)n.n[2] : 1, n.v[2] ? n.v[2] : "-");
    /* what it found is what jansson decodes (the general path's meta) */
    json_t *j = json_loads(payload, JSON_DECODE_ANY, NULL);
    ck_assert_msg(j, "found names in invalid JSON: %s", payload);
    const char *member[3] = {"db", "schema", "table"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(json_object_get(j, "source"), member[k]);
        if (n.v[k])
            ck_assert_msg(json_is_string(v) && json_string_length(v) == n.n[k] &&
                              !memcmp(json_string_value(v), n.v[k], n.n[k]), "%s: %s", member[k], payload);
        else
            ck_assert_msg(!json_is_string(v), "%s missed: %s", member[k], payload);
    }
    json_decref(j);
}

START_TEST(source_names_found_as_decoded)
{
    static const struct {
        const char *payload, *want;
    } cases[] = {
        /* as Debezium writes it: source after the row */
        {"{\"before\":null,\"after\":{\"id\":1,\"t\":\"x\"},\"source\":{\"version\":\"3.6.1\",\"connector\":"
         "\"postgresql\",\"db\":\"app\",\"schema\":\"public\",\"table\":\"orders\",\"lsn\":7},\"op\":\"c\"}",
         "app|public|orders"},
        {" { \"source\" : { \"table\" : \"a b\" } , \"op\" : \"r\" } ", "-|-|a b"},
        /* look-alikes inside strings, nested objects and arrays are not the block */
        {"{\"after\":{\"s\":\"\\\"source\\\":{\\\"table\\\":\\\"evil\\\"}\",\"o\":{\"source\":{\"table\":\"no\"}},"
         "\"a\":[{\"table\":\"no\"},\"]\"]},\"source\":{\"x\":{\"table\":\"no\"},\"table\":\"yes\"}}",
         "-|-|yes"},
        {"{\"after\":{\"id\":1},\"op\":\"c\"}", "-|-|-"},
        {"{\"source\":{\"db\":null,\"schema\":7,\"table\":{\"n\":\"t\"}}}", "-|-|-"},
        {"{\"source\":null,\"op\":\"c\"}", "-|-|-"},
        {"{}", "-|-|-"},
        /* what only jansson can decide */
        {"{\"source\":{\"table\":\"ord\\u0065rs\"}}", "decline"},
        {"{\"sourc\\u0065\":{\"table\":\"x\"}}", "decline"},
        {"{\"source\":{\"table\":\"a\"},\"source\":{\"table\":\"b\"}}", "decline"},
        {"{\"source\":{\"table\":\"a\",\"table\":\"b\"}}", "decline"},
        {"[{\"source\":{\"table\":\"a\"}}]", "decline"},
        {"{\"source\":{\"table\":\"a\"", "decline"},
        {"{\"after\":{\"v\":\"unterminated}", "decline"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[256];
        names_of(cases[i].payload, got, sizeof(got));
        ck_assert_msg(!strcmp(got, cases[i].want), "case %zu: got %s, want %s", i, got, cases[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("debezium schema cache");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, kept_schema_decodes_as_whole_parse);
    tcase_add_test(tc, two_schemas_interleaved);
    tcase_add_test(tc, schema_change_mid_stream);
    tcase_add_test(tc, eviction_by_count);
    tcase_add_test(tc, eviction_by_bytes_and_long_schema);
    tcase_add_test(tc, hostile_schemas);
    tcase_add_test(tc, frames_around_a_kept_schema);
    tcase_add_test(tc, direct_reader_under_a_kept_schema);
    tcase_add_test(tc, direct_reader_converts_semantic_types);
    tcase_add_test(tc, direct_reader_converts_edge_values);
    tcase_add_test(tc, direct_reader_deletes_and_nested_values);
    tcase_add_test(tc, source_names_found_as_decoded);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
