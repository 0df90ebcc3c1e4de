/* test_avro_decode.c - the Avro and Connect JSON decoders and the schema
 * registry client against the test registry (tests/avro/registry_server.py):
 * every type to its canonical JSON, corrupt inputs, registry down and up,
 * failover, basic auth, one request per new id under concurrency, and the
 * column types auto_create uses. */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"
#include "avro_support.h"
#include "sluice/decoder.h"
#include "sluice/registry.h"
#include "sluice/schema_sync.h"
#include "runner.h"
#include "support.h"

static sl_registry *registry_for(const char *url, const char *user, const char *password)
{
    char *u = (char *)url;
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .user = (char *)user,
                             .password = (char *)password, .timeout_ms = 5000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

static char *fmt_decimal(__int128 x, int scale)
{
    unsigned char be[16];
    size_t n = ar_be_bytes(x, be);
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_decimal(&sb, be, n, scale);
    return sl_strbuf_steal(&sb);
}

#define CHECK_DEC(x, scale, want)                                                                  \
    do {                                                                                           \
        char *got = fmt_decimal((x), (scale));                                                     \
        ck_assert_str_eq(got, (want));                                                             \
        free(got);                                                                                 \
    } while (0)

START_TEST(test_text_forms)
{
    CHECK_DEC(0, 0, "0");
    CHECK_DEC(0, 3, "0.000");
    CHECK_DEC(12340, 4, "1.2340");
    CHECK_DEC(-5, 2, "-0.05");
    CHECK_DEC(-128, 0, "-128");
    CHECK_DEC(127, 1, "12.7");
    CHECK_DEC(INT64_MIN, 0, "-9223372036854775808");
    /* more than 8 bytes: the long-division path */
    __int128 big = (__int128)1234567890123456789LL * 1000000000 + 123456789;
    CHECK_DEC(big, 9, "1234567890123456789.123456789");
    CHECK_DEC(-big, 30, "-0.001234567890123456789123456789");

    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_date(&sb, -1);
    ck_assert_str_eq(sb.data, "1969-12-31");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, -719162);
    ck_assert_str_eq(sb.data, "0001-01-01");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, -719163);
    ck_assert_str_eq(sb.data, "0001-12-31 BC");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, 11016); /* 2000-02-29 */
    ck_assert_str_eq(sb.data, "2000-02-29");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, -1, true);
    ck_assert_str_eq(sb.data, "1969-12-31T23:59:59.999999Z");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, 1714564800123456LL, false);
    ck_assert_str_eq(sb.data, "2024-05-01T12:00:00.123456");
    sl_strbuf_free(&sb);
}
END_TEST

static json_t *decode_ok(sl_registry *r, const char *buf, size_t len, int *id)
{
    json_t *v = NULL;
    sl_error err;
    int rc = sl_avro_decode_wire(r, buf, len, &v, NULL, id, &err);
    ck_assert_msg(rc == 0, "decode failed: %s", err.msg);
    return v;
}

static void expect(json_t *v, const char *field, const char *want_json)
{
    json_t *got = json_object_get(v, field);
    ck_assert_msg(got != NULL, "field %s missing", field);
    json_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(want);
    char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
    ck_assert_msg(json_equal(got, want), "field %s: got %s, want %s", field, g, want_json);
    free(g);
    json_decref(want);
}

static char *alltypes_record(int id, int variant, size_t *len)
{
    avro_schema_t schema;
    ck_assert_int_eq(avro_schema_from_json_length(ar_alltypes_schema, strlen(ar_alltypes_schema), &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    avro_generic_value_new(iface, &rec);
    ar_alltypes_fill(&rec, 1 + variant, variant);
    char *buf = ar_wire(id, &rec, len);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return buf;
}

START_TEST(test_every_type)
{
    ar_server *srv = ar_start(0, NULL, NULL, true);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    sl_registry *r = registry_for(srv->url, NULL, NULL);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);
    int got_id;
    json_t *v = decode_ok(r, buf, len, &got_id);
    ck_assert_int_eq(got_id, id);
    expect(v, "id", "1");
    expect(v, "b", "true");
    expect(v, "i", "-2147483648");
    expect(v, "f", "1.5");
    expect(v, "d", "-0.1");
    expect(v, "s", "\"h\\u00e9llo \\\"quoted\\\"\"");
    expect(v, "raw", "\"\\\\x00ff10\"");
    expect(v, "fx", "\"\\\\x01020304\"");
    expect(v, "color", "\"GREEN\"");
    expect(v, "dec", "\"-123456789012345.6789\"");
    expect(v, "decfx", "\"1.00\"");
    expect(v, "day", "\"1969-12-31\"");
    expect(v, "tms", "\"12:34:56.789000\"");
    expect(v, "tus", "\"12:34:56.789012\"");
    expect(v, "tsms", "\"1969-12-31T23:59:59.999000Z\"");
    expect(v, "tsus", "\"2024-05-01T12:00:00.123456Z\"");
    expect(v, "ltms", "\"1970-01-01T00:00:00.000000\"");
    expect(v, "ltus", "\"1969-12-30T23:59:59.999999\"");
    expect(v, "u", "\"0f8fad5b-d9cb-469f-a165-70867728950e\"");
    expect(v, "opt", "null");
    expect(v, "tags", "[\"a\", \"b,c\"]");
    expect(v, "attrs", "{\"k\": 1}");
    expect(v, "inner", "{\"x\": 7}");
    json_decref(v);
    free(buf);

    buf = alltypes_record(id, 1, &len);
    v = decode_ok(r, buf, len, NULL);
    expect(v, "dec", "\"0.0000\"");
    expect(v, "decfx", "\"-0.05\"");
    expect(v, "day", "\"0001-01-01\"");
    expect(v, "tsus", "\"0001-01-01T00:00:00.000000Z\"");
    expect(v, "tus", "\"23:59:59.999999\"");
    expect(v, "opt", "\"set\"");
    expect(v, "tags", "[]");
    expect(v, "attrs", "{\"k\": -9007199254740993}");
    json_decref(v);
    free(buf);
    /* the schema was fetched once, then served from the cache */
    if (!srv->real)
        ck_assert_int_eq(ar_get_count(srv, id), 1);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

START_TEST(test_fields)
{
    sl_error err;
    sl_av_schema *s = sl_av_schema_parse(ar_alltypes_schema, strlen(ar_alltypes_schema), &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    json_t *f = sl_av_fields(s->root);
    const char *want[][2] = {
        {"id", "bigint"}, {"b", "boolean"}, {"i", "integer"}, {"f", "real"},
        {"d", "double precision"}, {"s", "text"}, {"raw", "bytea"}, {"fx", "bytea"},
        {"color", "text"}, {"dec", "numeric(20,4)"}, {"decfx", "numeric(20,2)"}, {"day", "date"},
        {"tms", "time"}, {"tus", "time"}, {"tsms", "timestamptz"}, {"tsus", "timestamptz"},
        {"ltms", "timestamp"}, {"ltus", "timestamp"}, {"u", "uuid"}, {"opt", "text"},
        {"tags", "text[]"}, {"attrs", "jsonb"}, {"inner", "jsonb"},
    };
    ck_assert_int_eq(json_array_size(f), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < json_array_size(f); i++) {
        json_t *e = json_array_get(f, i);
        char buf[96];
        ck_assert_str_eq(json_string_value(json_object_get(e, "name")), want[i][0]);
        ck_assert_str_eq(sl_schema_column_type(sl_sink_type("postgresql"), e, buf, sizeof(buf)), want[i][1]);
        ck_assert(json_is_true(json_object_get(e, "optional")) == !strcmp(want[i][0], "opt"));
    }
    char buf[96];
    ck_assert_str_eq(sl_schema_column_type(sl_sink_type("cratedb"), json_array_get(f, 14), buf, sizeof(buf)),
                     "TIMESTAMP WITH TIME ZONE");
    ck_assert_str_eq(sl_schema_column_type(sl_sink_type("cratedb"), json_array_get(f, 20), buf, sizeof(buf)),
                     "ARRAY(TEXT)");
    ck_assert_str_eq(sl_schema_column_type(sl_sink_type("cratedb"), json_array_get(f, 22), buf, sizeof(buf)),
                     "OBJECT(DYNAMIC)");
    json_decref(f);
    sl_av_schema_free(s);

    /* invalid logical types are ignored, as the specification says */
    const char *odd = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                      "{\"name\":\"a\",\"type\":{\"type\":\"string\",\"logicalType\":\"decimal\",\"precision\":4}},"
                      "{\"name\":\"b\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":2,\"scale\":3}},"
                      "{\"name\":\"c\",\"type\":{\"type\":\"long\",\"logicalType\":\"date\"}},"
                      "{\"name\":\"self\",\"type\":[\"null\",\"R\"]}]}";
    s = sl_av_schema_parse(odd, strlen(odd), &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_int_eq(s->root->child[0]->logical, SL_LT_NONE);
    ck_assert_int_eq(s->root->child[1]->logical, SL_LT_NONE);
    ck_assert_int_eq(s->root->child[2]->logical, SL_LT_NONE);
    ck_assert_ptr_eq(s->root->child[3]->child[1], s->root); /* recursive reference */
    sl_av_schema_free(s);
}
END_TEST

static void expect_error(sl_registry *r, const void *buf, size_t len, sl_errkind kind, const char *needle)
{
    json_t *v = NULL;
    sl_error err;
    sl_error_clear(&err);
    int rc = sl_avro_decode_wire(r, buf, len, &v, NULL, NULL, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(v);
    ck_assert_msg(err.kind == kind, "kind %s, want %s: %s", sl_errkind_name(err.kind), sl_errkind_name(kind),
                  err.msg);
    ck_assert_msg(strstr(err.msg, needle), "\"%s\" does not mention \"%s\"", err.msg, needle);
}

START_TEST(test_corrupt)
{
    ar_server *srv = ar_start(0, NULL, NULL, false);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    sl_registry *r = registry_for(srv->url, NULL, NULL);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);

    expect_error(r, buf, 3, SL_ERR_DATA, "too short");
    buf[0] = 1;
    expect_error(r, buf, len, SL_ERR_DATA, "magic byte 0x01");
    buf[0] = 0;
    for (size_t cut = 5; cut < len; cut += 7)
        expect_error(r, buf, cut, SL_ERR_DATA, "corrupt or truncated");
    char *longer = sl_xmalloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    expect_error(r, longer, len + 1, SL_ERR_DATA, "trailing bytes");
    free(longer);
    /* an id the registry does not know: 404 / 40403 */
    buf[4] = (char)(id + 50);
    expect_error(r, buf, len, SL_ERR_DATA, "40403");
    /* garbage after a valid header: an enum index, a union branch or a
     * length out of range is an error, never a crash */
    buf[4] = (char)id;
    for (size_t i = 5; i < len; i++) {
        char *bad = sl_xmalloc(len);
        memcpy(bad, buf, len);
        bad[i] = (char)0xff;
        json_t *v = NULL;
        sl_error err;
        if (sl_avro_decode_wire(r, bad, len, &v, NULL, NULL, &err) == 0)
            json_decref(v);
        else
            ck_assert_int_eq(err.kind, SL_ERR_DATA);
        free(bad);
    }
    free(buf);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

/* Only error 40403 blames the record: a registry URL with a wrong path (a
 * plain 404) stops instead, or on_error: skip would drop every record. */
START_TEST(test_misrouted_registry_is_fatal)
{
    ar_server *srv = ar_start(0, NULL, NULL, false);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    char wrong[256];
    snprintf(wrong, sizeof(wrong), "%s/not-the-registry", srv->url);
    sl_registry *r = registry_for(wrong, NULL, NULL);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);
    expect_error(r, buf, len, SL_ERR_FATAL, "HTTP 404");
    sl_registry_free(r);
    r = registry_for(srv->url, NULL, NULL);
    buf[4] = (char)(id + 50);
    expect_error(r, buf, len, SL_ERR_DATA, "40403");
    free(buf);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

START_TEST(test_registry_down_then_up)
{
    ar_server *srv = ar_start(0, NULL, NULL, false);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    sl_registry *r = registry_for(srv->url, NULL, NULL);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);

    /* HTTP 5xx from the registry: retriable */
    char *url = NULL;
    if (asprintf(&url, "%s/_test/status?code=503", srv->url) < 0)
        ck_abort();
    sl_registry *ctl = registry_for(srv->url, NULL, NULL);
    (void)ctl;
    {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
        FILE *null = fopen("/dev/null", "w");
        curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        expect_error(r, buf, len, SL_ERR_RETRY, "HTTP 503");
        free(url);
        if (asprintf(&url, "%s/_test/status?code=0", srv->url) < 0)
            ck_abort();
        curl_easy_setopt(c, CURLOPT_URL, url);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_cleanup(c);
        fclose(null);
    }
    free(url);
    sl_registry_free(ctl);

    /* the server gone (connection refused): retriable, then back */
    ar_stop(srv);
    expect_error(r, buf, len, SL_ERR_RETRY, "unavailable");
    ar_restart(srv);
    /* the restarted test registry is empty: register again, same id (1) */
    ck_assert_int_eq(ar_register(srv, "alltypes-value", ar_alltypes_schema), id);
    json_t *v = decode_ok(r, buf, len, NULL);
    expect(v, "dec", "\"-123456789012345.6789\"");
    json_decref(v);
    free(buf);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

START_TEST(test_failover_and_auth)
{
    ar_server *srv = ar_start(0, "alice", "s3cret", false);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);

    /* first URL refuses connections, the second answers */
    ar_server *dead = ar_start(0, NULL, NULL, false);
    char dead_url[128];
    snprintf(dead_url, sizeof(dead_url), "%s", dead->url);
    ar_free(dead);
    char *urls[] = {dead_url, srv->url};
    sl_registry_conf conf = {.urls = urls, .nurls = 2, .user = "alice", .password = "s3cret", .timeout_ms = 5000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_ptr_nonnull(r);
    json_t *v = decode_ok(r, buf, len, NULL);
    json_decref(v);
    sl_avro_thread_cleanup();
    sl_registry_free(r);

    /* wrong password: 401 is not retriable, it is a configuration error */
    conf.password = "wrong";
    r = sl_registry_new(&conf, &err);
    expect_error(r, buf, len, SL_ERR_FATAL, "401");
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    free(buf);
    ar_free(srv);
}
END_TEST

typedef struct {
    sl_registry *r;
    const char *buf;
    size_t len;
    int ok;
    pthread_barrier_t *start;
} worker_arg;

static void *decode_thread(void *p)
{
    worker_arg *a = p;
    pthread_barrier_wait(a->start);
    json_t *v = NULL;
    sl_error err;
    a->ok = sl_avro_decode_wire(a->r, a->buf, a->len, &v, NULL, NULL, &err) == 0 &&
            json_is_object(v);
    json_decref(v);
    return NULL; /* the thread's schema cache is freed at thread exit */
}

START_TEST(test_dedup)
{
    ar_server *srv = ar_start(0, NULL, NULL, false);
    int id = ar_register(srv, "alltypes-value", ar_alltypes_schema);
    sl_registry *r = registry_for(srv->url, NULL, NULL);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);
    enum { N = 8 };
    pthread_t th[N];
    worker_arg args[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        args[i] = (worker_arg){.r = r, .buf = buf, .len = len, .start = &start};
        pthread_create(&th[i], NULL, decode_thread, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "thread %d failed", i);
    }
    pthread_barrier_destroy(&start);
    ck_assert_int_eq(ar_get_count(srv, id), 1);
    ck_assert_int_eq(sl_registry_requests(r), 1);
    free(buf);
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

static sl_change connect_decode(const char *value, const char *key, int *rc, sl_error *err)
{
    static sl_route_conf route = {.name = "route 1", .format = SL_FMT_CONNECT_JSON,
                                  .key_format = SL_KEYFMT_JSON, .delete_on_tombstone = true};
    sl_decoder d;
    ck_assert_int_eq(sl_decoder_init(&d, &route, NULL, err), 0);
    sl_record rec = {.topic = "t", .value = value, .value_len = value ? strlen(value) : 0,
                     .key = key, .key_len = key ? strlen(key) : 0};
    sl_change c;
    *rc = sl_decode(&d, &rec, &c, err);
    sl_decoder_fini(&d);
    return c;
}

START_TEST(test_connect_json)
{
    const char *value =
        "{\"schema\":{\"type\":\"struct\",\"name\":\"x\",\"optional\":false,\"fields\":["
        "{\"field\":\"id\",\"type\":\"int64\",\"optional\":false},"
        "{\"field\":\"small\",\"type\":\"int8\",\"optional\":true},"
        "{\"field\":\"price\",\"type\":\"bytes\",\"optional\":false,\"name\":\"org.apache.kafka.connect.data.Decimal\","
        "\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"}},"
        "{\"field\":\"day\",\"type\":\"int32\",\"name\":\"org.apache.kafka.connect.data.Date\"},"
        "{\"field\":\"at\",\"type\":\"int32\",\"name\":\"org.apache.kafka.connect.data.Time\"},"
        "{\"field\":\"ts\",\"type\":\"int64\",\"name\":\"org.apache.kafka.connect.data.Timestamp\"},"
        "{\"field\":\"blob\",\"type\":\"bytes\"},"
        "{\"field\":\"ok\",\"type\":\"boolean\"},"
        "{\"field\":\"ratio\",\"type\":\"double\"},"
        "{\"field\":\"tags\",\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "{\"field\":\"m\",\"type\":\"map\",\"keys\":{\"type\":\"string\"},\"values\":{\"type\":\"int32\"}},"
        "{\"field\":\"sub\",\"type\":\"struct\",\"fields\":[{\"field\":\"a\",\"type\":\"string\"}]},"
        "{\"field\":\"none\",\"type\":\"string\",\"optional\":true}]},"
        "\"payload\":{\"id\":42,\"small\":-3,\"price\":\"/zg=\",\"day\":-1,\"at\":3723004,"
        "\"ts\":1714564800123,\"blob\":\"AP8Q\",\"ok\":true,\"ratio\":0.5,\"tags\":[\"x\"],"
        "\"m\":{\"a\":1},\"sub\":{\"a\":\"b\"},\"none\":null}}";
    const char *key = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"id\",\"type\":\"int64\"}]},"
                      "\"payload\":{\"id\":42}}";
    sl_error err;
    int rc;
    sl_change c = connect_decode(value, key, &rc, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(c.op, SL_OP_UPSERT);
    expect(c.value, "id", "42");
    expect(c.value, "small", "-3");
    expect(c.value, "price", "\"-2.00\""); /* 0xff38 = -200 */
    expect(c.value, "day", "\"1969-12-31\"");
    expect(c.value, "at", "\"01:02:03.004000\"");
    expect(c.value, "ts", "\"2024-05-01T12:00:00.123000Z\"");
    expect(c.value, "blob", "\"\\\\x00ff10\"");
    expect(c.value, "ok", "true");
    expect(c.value, "ratio", "0.5");
    expect(c.value, "tags", "[\"x\"]");
    expect(c.value, "m", "{\"a\": 1}");
    expect(c.value, "sub", "{\"a\": \"b\"}");
    expect(c.value, "none", "null");
    ck_assert_int_eq(json_integer_value(json_object_get(c.key, "id")), 42);
    /* fields: types and the key marking */
    json_t *f0 = json_array_get(c.fields, 0), *f2 = json_array_get(c.fields, 2);
    ck_assert_str_eq(json_string_value(json_object_get(f0, "type")), "bigint");
    ck_assert(json_is_true(json_object_get(f0, "key")));
    char buf[64];
    ck_assert_str_eq(sl_schema_column_type(sl_sink_type("postgresql"), f2, buf, sizeof(buf)), "numeric(10,2)");
    sl_change_clear(&c);

    c = connect_decode("{\"payload\":1}", NULL, &rc, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    ck_assert(strstr(err.msg, "schemas.enable") != NULL);
    c = connect_decode("{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"n\",\"type\":\"int32\"}]},"
                       "\"payload\":{\"n\":\"x\"}}", NULL, &rc, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert(strstr(err.msg, "n: int32 payload is not an integer") != NULL);
    c = connect_decode(NULL, key, &rc, &err);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(c.op, SL_OP_DELETE);
    sl_change_clear(&c);
}
END_TEST

/* ---- Debezium events through Confluent's AvroConverter ----
 *
 * The same change event as AvroConverter writes it (schemas with
 * "connect.name", "connect.type" and "connect.parameters"; logical type
 * decimal) and as JsonConverter writes it must decode to the same change:
 * the same values, key, metadata and column types. */

#define DBZ_OPT(t) "[\"null\"," t "],\"default\":null"
static const char dbz_avro_value_schema[] =
    "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"db1.public.t\",\"fields\":["
    "{\"name\":\"before\",\"type\":" DBZ_OPT(
        "{\"type\":\"record\",\"name\":\"Value\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"},"
        "{\"name\":\"small\",\"type\":" DBZ_OPT("{\"type\":\"int\",\"connect.type\":\"int16\"}") "},"
        "{\"name\":\"price\",\"type\":" DBZ_OPT(
            "{\"type\":\"bytes\",\"scale\":2,\"precision\":10,\"connect.version\":1,"
            "\"connect.parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"},"
            "\"connect.name\":\"org.apache.kafka.connect.data.Decimal\",\"logicalType\":\"decimal\"}") "},"
        "{\"name\":\"born\",\"type\":" DBZ_OPT("{\"type\":\"int\",\"connect.version\":1,\"connect.name\":\"io.debezium.time.Date\"}") "},"
        "{\"name\":\"created\",\"type\":" DBZ_OPT("{\"type\":\"long\",\"connect.version\":1,\"connect.name\":\"io.debezium.time.MicroTimestamp\"}") "},"
        "{\"name\":\"at\",\"type\":" DBZ_OPT("{\"type\":\"long\",\"connect.version\":1,\"connect.name\":\"io.debezium.time.MicroTime\"}") "},"
        "{\"name\":\"updated\",\"type\":" DBZ_OPT("{\"type\":\"string\",\"connect.version\":1,\"connect.name\":\"io.debezium.time.ZonedTimestamp\"}") "},"
        "{\"name\":\"doc\",\"type\":" DBZ_OPT("{\"type\":\"string\",\"connect.version\":1,\"connect.name\":\"io.debezium.data.Json\"}") "},"
        "{\"name\":\"amount\",\"type\":" DBZ_OPT(
            "{\"type\":\"record\",\"name\":\"VariableScaleDecimal\",\"namespace\":\"io.debezium.data\","
            "\"fields\":[{\"name\":\"scale\",\"type\":\"int\"},{\"name\":\"value\",\"type\":\"bytes\"}],"
            "\"connect.doc\":\"Variable scaled decimal\",\"connect.version\":1,"
            "\"connect.name\":\"io.debezium.data.VariableScaleDecimal\"}") "},"
        "{\"name\":\"flags\",\"type\":" DBZ_OPT("{\"type\":\"bytes\",\"connect.version\":1,\"connect.parameters\":{\"length\":\"3\"},\"connect.name\":\"io.debezium.data.Bits\"}") "},"
        "{\"name\":\"blob\",\"type\":" DBZ_OPT("\"bytes\"") "},"
        "{\"name\":\"tags\",\"type\":" DBZ_OPT("{\"type\":\"array\",\"items\":[\"null\",\"string\"]}") "},"
        "{\"name\":\"u\",\"type\":" DBZ_OPT("{\"type\":\"string\",\"connect.version\":1,\"connect.name\":\"io.debezium.data.Uuid\"}") "}"
        "],\"connect.name\":\"db1.public.t.Value\"}") "},"
    "{\"name\":\"after\",\"type\":" DBZ_OPT("\"Value\"") "},"
    "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"Source\",\"namespace\":\"io.debezium.connector.postgresql\","
        "\"fields\":[{\"name\":\"connector\",\"type\":\"string\"},{\"name\":\"ts_ms\",\"type\":\"long\"},"
        "{\"name\":\"db\",\"type\":\"string\"},{\"name\":\"schema\",\"type\":\"string\"},"
        "{\"name\":\"table\",\"type\":\"string\"},{\"name\":\"lsn\",\"type\":" DBZ_OPT("\"long\"") "}],"
        "\"connect.name\":\"io.debezium.connector.postgresql.Source\"}},"
    "{\"name\":\"op\",\"type\":\"string\"},"
    "{\"name\":\"ts_ms\",\"type\":" DBZ_OPT("\"long\"") "}"
    "],\"connect.name\":\"db1.public.t.Envelope\"}";
static const char dbz_avro_key_schema[] =
    "{\"type\":\"record\",\"name\":\"Key\",\"namespace\":\"db1.public.t\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"int\"}],\"connect.name\":\"db1.public.t.Key\"}";

#define JF(name, rest) "{\"field\":\"" name "\"," rest "}"
static const char dbz_json_value[] =
    "{\"schema\":{\"type\":\"struct\",\"name\":\"db1.public.t.Envelope\",\"optional\":false,\"fields\":["
    JF("before", "\"type\":\"struct\",\"name\":\"db1.public.t.Value\",\"optional\":true,\"fields\":["
        JF("id", "\"type\":\"int32\",\"optional\":false") ","
        JF("small", "\"type\":\"int16\",\"optional\":true") ","
        JF("price", "\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
                    "\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"}") ","
        JF("born", "\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1") ","
        JF("created", "\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\"version\":1") ","
        JF("at", "\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"version\":1") ","
        JF("updated", "\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1") ","
        JF("doc", "\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1") ","
        JF("amount", "\"type\":\"struct\",\"optional\":true,\"name\":\"io.debezium.data.VariableScaleDecimal\","
                     "\"version\":1,\"doc\":\"Variable scaled decimal\",\"fields\":["
                     JF("scale", "\"type\":\"int32\",\"optional\":false") ","
                     JF("value", "\"type\":\"bytes\",\"optional\":false") "]") ","
        JF("flags", "\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,"
                    "\"parameters\":{\"length\":\"3\"}") ","
        JF("blob", "\"type\":\"bytes\",\"optional\":true") ","
        JF("tags", "\"type\":\"array\",\"optional\":true,\"items\":{\"type\":\"string\",\"optional\":true}") ","
        JF("u", "\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Uuid\",\"version\":1") "]") ","
    JF("after", "\"type\":\"struct\",\"name\":\"db1.public.t.Value\",\"optional\":true,\"fields\":[]") ","
    JF("source", "\"type\":\"struct\",\"name\":\"io.debezium.connector.postgresql.Source\",\"optional\":false,\"fields\":["
        JF("connector", "\"type\":\"string\",\"optional\":false") ","
        JF("ts_ms", "\"type\":\"int64\",\"optional\":false") ","
        JF("db", "\"type\":\"string\",\"optional\":false") ","
        JF("schema", "\"type\":\"string\",\"optional\":false") ","
        JF("table", "\"type\":\"string\",\"optional\":false") ","
        JF("lsn", "\"type\":\"int64\",\"optional\":true") "]") ","
    JF("op", "\"type\":\"string\",\"optional\":false") ","
    JF("ts_ms", "\"type\":\"int64\",\"optional\":true") "]},"
    "\"payload\":{\"before\":null,\"after\":{\"id\":7,\"small\":-3,\"price\":\"/zg=\",\"born\":-1,"
    "\"created\":1714564800123456,\"at\":3723004005,\"updated\":\"2024-05-01T12:00:00.5+02:00\","
    "\"doc\":\"{\\\"a\\\": [1, 2]}\",\"amount\":{\"scale\":3,\"value\":\"MDk=\"},\"flags\":\"BQ==\","
    "\"blob\":\"AP8Q\",\"tags\":[\"x\",null],\"u\":\"4b2a8e60-9c1d-4f7b-8d3e-2a1b0c9d8e7f\"},"
    "\"source\":{\"connector\":\"postgresql\",\"ts_ms\":1714564800900,\"db\":\"shop\",\"schema\":\"public\","
    "\"table\":\"t\",\"lsn\":123456},\"op\":\"u\",\"ts_ms\":1714564800999}}";
static const char dbz_json_key[] =
    "{\"schema\":{\"type\":\"struct\",\"name\":\"db1.public.t.Key\",\"optional\":false,\"fields\":["
    JF("id", "\"type\":\"int32\",\"optional\":false") "]},\"payload\":{\"id\":7}}";

/* The JSON event's "after" schema is written once, under "before"; copy it. */
static char *dbz_json_value_text(void)
{
    json_t *j = json_loads(dbz_json_value, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *fields = json_object_get(json_object_get(j, "schema"), "fields");
    json_t *after = json_deep_copy(json_array_get(fields, 0));
    json_object_set_new(after, "field", json_string("after"));
    json_array_set_new(fields, 1, after);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static void set_opt(avro_value_t *rec, const char *field, avro_value_t *branch)
{
    avro_value_t f;
    ck_assert_int_eq(avro_value_get_by_name(rec, field, &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_branch(&f, 1, branch), 0);
}

static char *dbz_avro_value(int id, size_t *len)
{
    avro_schema_t schema;
    ck_assert_msg(avro_schema_from_json_length(dbz_avro_value_schema, strlen(dbz_avro_value_schema), &schema) == 0,
                  "%s", avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t env, after, f, b;
    avro_generic_value_new(iface, &env);
    avro_value_get_by_name(&env, "before", &f, NULL);
    avro_value_set_branch(&f, 0, &b);
    avro_value_set_null(&b);
    set_opt(&env, "after", &after);
    avro_value_get_by_name(&after, "id", &f, NULL);
    avro_value_set_int(&f, 7);
    set_opt(&after, "small", &b), avro_value_set_int(&b, -3);
    set_opt(&after, "price", &b), avro_value_set_bytes(&b, "\xff\x38", 2);
    set_opt(&after, "born", &b), avro_value_set_int(&b, -1);
    set_opt(&after, "created", &b), avro_value_set_long(&b, 1714564800123456LL);
    set_opt(&after, "at", &b), avro_value_set_long(&b, 3723004005LL);
    set_opt(&after, "updated", &b), avro_value_set_string(&b, "2024-05-01T12:00:00.5+02:00");
    set_opt(&after, "doc", &b), avro_value_set_string(&b, "{\"a\": [1, 2]}");
    set_opt(&after, "amount", &b);
    avro_value_get_by_name(&b, "scale", &f, NULL), avro_value_set_int(&f, 3);
    avro_value_get_by_name(&b, "value", &f, NULL), avro_value_set_bytes(&f, "\x30\x39", 2);
    set_opt(&after, "flags", &b), avro_value_set_bytes(&b, "\x05", 1);
    set_opt(&after, "blob", &b), avro_value_set_bytes(&b, "\x00\xff\x10", 3);
    set_opt(&after, "tags", &b);
    avro_value_t item, br;
    avro_value_append(&b, &item, NULL), avro_value_set_branch(&item, 1, &br), avro_value_set_string(&br, "x");
    avro_value_append(&b, &item, NULL), avro_value_set_branch(&item, 0, &br), avro_value_set_null(&br);
    set_opt(&after, "u", &b), avro_value_set_string(&b, "4b2a8e60-9c1d-4f7b-8d3e-2a1b0c9d8e7f");
    avro_value_t src;
    avro_value_get_by_name(&env, "source", &src, NULL);
    avro_value_get_by_name(&src, "connector", &f, NULL), avro_value_set_string(&f, "postgresql");
    avro_value_get_by_name(&src, "ts_ms", &f, NULL), avro_value_set_long(&f, 1714564800900LL);
    avro_value_get_by_name(&src, "db", &f, NULL), avro_value_set_string(&f, "shop");
    avro_value_get_by_name(&src, "schema", &f, NULL), avro_value_set_string(&f, "public");
    avro_value_get_by_name(&src, "table", &f, NULL), avro_value_set_string(&f, "t");
    set_opt(&src, "lsn", &b), avro_value_set_long(&b, 123456);
    avro_value_get_by_name(&env, "op", &f, NULL), avro_value_set_string(&f, "u");
    set_opt(&env, "ts_ms", &b), avro_value_set_long(&b, 1714564800999LL);
    char *wire = ar_wire(id, &env, len);
    avro_value_decref(&env);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return wire;
}

static char *dbz_avro_key(int id, size_t *len)
{
    avro_schema_t schema;
    ck_assert_int_eq(avro_schema_from_json_length(dbz_avro_key_schema, strlen(dbz_avro_key_schema), &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t key, f;
    avro_generic_value_new(iface, &key);
    avro_value_get_by_name(&key, "id", &f, NULL);
    avro_value_set_int(&f, 7);
    char *wire = ar_wire(id, &key, len);
    avro_value_decref(&key);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return wire;
}

static void dbz_decode(sl_keyformat kf, sl_registry *r, const char *key, size_t klen, const char *value,
                       size_t vlen, sl_change *c)
{
    sl_route_conf route = {.name = "cdc", .format = SL_FMT_DEBEZIUM, .key_format = kf};
    sl_decoder d;
    sl_error err;
    ck_assert_int_eq(sl_decoder_init(&d, &route, r, &err), 0);
    sl_record rec = {.topic = "db1.public.t", .value = value, .value_len = vlen, .key = key, .key_len = klen};
    int rc = sl_decode(&d, &rec, c, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    sl_decoder_fini(&d);
}

#define CK_JSON_EQ(a, b)                                                                           \
    do {                                                                                           \
        char *sa = json_dumps((a), JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);              \
        char *sb = json_dumps((b), JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);              \
        ck_assert_msg(json_equal((a), (b)), "%s:\n avro %s\n json %s", #a, sa, sb);               \
        free(sa);                                                                                  \
        free(sb);                                                                                  \
    } while (0)

START_TEST(test_debezium_avro)
{
    ar_server *srv = ar_start(0, NULL, NULL, false);
    int vid = ar_register(srv, "db1.public.t-value", dbz_avro_value_schema);
    int kid = ar_register(srv, "db1.public.t-key", dbz_avro_key_schema);
    sl_registry *r = registry_for(srv->url, NULL, NULL);
    size_t klen;
    char *key = dbz_avro_key(kid, &klen);
    size_t vlen;
    char *value = dbz_avro_value(vid, &vlen);
    sl_change a, j;
    dbz_decode(SL_KEYFMT_AVRO, r, key, klen, value, vlen, &a);
    char *jv = dbz_json_value_text();
    dbz_decode(SL_KEYFMT_JSON, NULL, dbz_json_key, strlen(dbz_json_key), jv, strlen(jv), &j);

    ck_assert_int_eq(a.op, SL_OP_UPSERT);
    ck_assert_int_eq(a.op, j.op);
    ck_assert_int_eq(a.schema_id, vid);
    expect(a.value, "created", "\"2024-05-01T12:00:00.123456\"");
    expect(a.value, "born", "\"1969-12-31\"");
    expect(a.value, "at", "\"01:02:03.004005\"");
    expect(a.value, "price", "\"-2.00\"");
    expect(a.value, "amount", "\"12.345\"");
    expect(a.value, "flags", "\"101\"");
    expect(a.value, "blob", "\"\\\\x00ff10\"");
    expect(a.value, "small", "-3");
    CK_JSON_EQ(a.value, j.value);
    CK_JSON_EQ(a.key, j.key);
    CK_JSON_EQ(a.meta, j.meta);
    CK_JSON_EQ(a.json_text, j.json_text);
    CK_JSON_EQ(a.fields, j.fields);
    /* the column types auto_create would use come from the semantic names */
    const char *want[][2] = {{"id", "integer"}, {"price", "numeric(10,2)"}, {"born", "date"},
                             {"created", "timestamp"}, {"at", "time"}, {"updated", "timestamptz"},
                             {"doc", "jsonb"}, {"amount", "numeric"}, {"u", "uuid"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t k;
        json_t *f;
        bool seen = false;
        json_array_foreach(a.fields, k, f) {
            if (strcmp(json_string_value(json_object_get(f, "name")), want[i][0]))
                continue;
            char buf[64];
            ck_assert_str_eq(sl_schema_column_type(sl_sink_type("postgresql"), f, buf, sizeof(buf)), want[i][1]);
            ck_assert(json_is_true(json_object_get(f, "key")) == !strcmp(want[i][0], "id"));
            seen = true;
        }
        ck_assert_msg(seen, "no field %s", want[i][0]);
    }
    sl_change_clear(&a);
    sl_change_clear(&j);
    free(jv);
    free(key);
    free(value);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    ar_free(srv);
}
END_TEST

/* A registry that takes a bearer token, rotated by rewriting a file (the
 * server reads its own file per request): sluice's client sends the token
 * of bearer_token (static), of its ${file:} read again for each request,
 * or printed by bearer_token_command; a stale token is refused with 401. */
START_TEST(test_bearer_token)
{
    char *dir = ts_tempdir("registry_bearer");
    char *srv_tok = ts_write_file(dir, "server-token", "%s\n", "tok-one");
    char *cli_tok = ts_write_file(dir, "client-token", "%s\n", "tok-one");
    const char *args[] = {"--bearer-file", srv_tok, NULL};
    ar_server *srv = ar_start_args(args, false);
    char *urls[] = {srv->url};
    char source[512], command[512];
    snprintf(source, sizeof(source), "${file:%s}", cli_tok);
    snprintf(command, sizeof(command), "cat %s", cli_tok);
    sl_registry_conf conf = {.urls = urls, .nurls = 1, .bearer_token = "tok-one", .bearer_token_source = source,
                             .timeout_ms = 5000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_ptr_nonnull(r);
    int id = -1;
    ck_assert_msg(sl_registry_register(r, "bearer-value", ar_alltypes_schema, &id, &err) == 0, "%s", err.msg);
    sl_registry_free(r);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);

    /* rotated on the server only: the client's file still has the old one */
    char *t = ts_write_file(dir, "server-token", "%s\n", "tok-two");
    free(t);
    r = sl_registry_new(&conf, &err);
    expect_error(r, buf, len, SL_ERR_RETRY, "HTTP 401");
    sl_registry_free(r);
    /* and where sluice reads it: the next request has it */
    t = ts_write_file(dir, "client-token", "%s\n", "tok-two");
    free(t);
    r = sl_registry_new(&conf, &err);
    json_decref(decode_ok(r, buf, len, NULL));
    sl_avro_thread_cleanup();
    sl_registry_free(r);

    /* a command that prints it */
    sl_registry_conf cmd = {.urls = urls, .nurls = 1, .bearer_token_command = command, .timeout_ms = 5000};
    r = sl_registry_new(&cmd, &err);
    json_decref(decode_ok(r, buf, len, NULL));
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    /* a static token the server no longer takes: configuration, not retried */
    sl_registry_conf fixed = {.urls = urls, .nurls = 1, .bearer_token = "tok-one", .timeout_ms = 5000};
    r = sl_registry_new(&fixed, &err);
    expect_error(r, buf, len, SL_ERR_FATAL, "HTTP 401");
    sl_registry_free(r);
    /* a command that fails: retried, its stderr in the message */
    sl_registry_conf bad = {.urls = urls, .nurls = 1, .bearer_token_command = "echo no token here >&2; exit 3",
                            .timeout_ms = 5000};
    r = sl_registry_new(&bad, &err);
    expect_error(r, buf, len, SL_ERR_RETRY,
                 "schema_registry.bearer_token_command failed (exit status 3): no token here");
    sl_registry_free(r);

    free(buf);
    ar_free(srv);
    free(srv_tok);
    free(cli_tok);
    free(dir);
}
END_TEST

/* Mutual TLS: the registry asks for a client certificate its CA signed
 * (certificates made here with openssl); with cert_file and key_file the
 * schema is read, without them the handshake fails. */
START_TEST(test_client_certificate)
{
    char *dir = ts_tempdir("registry_tls");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "cd %s && exec >openssl.log 2>&1 && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
             "-extfile san.ext && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key -out client.csr -subj /CN=sluice && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2",
             dir);
    ck_assert_msg(system(cmd) == 0, "openssl failed (see %s/openssl.log)", dir);
    char ca[512], scert[512], skey[512], ccert[512], ckey[512];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(scert, sizeof(scert), "%s/server.pem", dir);
    snprintf(skey, sizeof(skey), "%s/server.key", dir);
    snprintf(ccert, sizeof(ccert), "%s/client.pem", dir);
    snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
    const char *args[] = {"--tls-cert", scert, "--tls-key", skey, "--client-ca", ca, NULL};
    ar_server *srv = ar_start_args(args, true);
    char *urls[] = {srv->url};
    sl_registry_conf conf = {.urls = urls, .nurls = 1, .ca_file = ca, .cert_file = ccert, .key_file = ckey,
                             .timeout_ms = 5000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    int id = -1;
    ck_assert_msg(sl_registry_register(r, "tls-value", ar_alltypes_schema, &id, &err) == 0, "%s", err.msg);
    sl_registry_free(r);
    size_t len;
    char *buf = alltypes_record(id, 0, &len);
    r = sl_registry_new(&conf, &err);
    json_decref(decode_ok(r, buf, len, NULL));
    sl_avro_thread_cleanup();
    sl_registry_free(r);
    /* no client certificate: the server ends the handshake */
    conf.cert_file = conf.key_file = NULL;
    r = sl_registry_new(&conf, &err);
    expect_error(r, buf, len, SL_ERR_RETRY, "schema registry unavailable");
    sl_registry_free(r);
    free(buf);
    ar_free(srv);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("avro decode");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_text_forms);
    tcase_add_test(tc, test_bearer_token);
    tcase_add_test(tc, test_client_certificate);
    tcase_add_test(tc, test_every_type);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_corrupt);
    tcase_add_test(tc, test_misrouted_registry_is_fatal);
    tcase_add_test(tc, test_registry_down_then_up);
    tcase_add_test(tc, test_failover_and_auth);
    tcase_add_test(tc, test_dedup);
    tcase_add_test(tc, test_connect_json);
    tcase_add_test(tc, test_debezium_avro);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
