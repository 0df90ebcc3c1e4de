/* test_avro_hostile.c - records crafted against the decoders, offline
 * (schemas cached with sl_registry_put()): named types that sluice and
 * avro-c could resolve differently, arrays of zero-byte items, decimal
 * scales and lengths from the data, and recursive Avro schemas read as
 * Kafka Connect records.  Each must end in a prompt SL_ERR_DATA (or a
 * correct value), never a crash, a stall or gigabytes of memory. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avro_int.h"
#include "sluice/decoder.h"
#include "sluice/registry.h"
#include "runner.h"

static sl_registry *offline_registry(void)
{
    char *u = "http://127.0.0.1:9"; /* never asked: every schema is put in place */
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .timeout_ms = 1000};
    sl_error err;
    sl_registry *r = sl_registry_new(&conf, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

/* A growing Confluent wire-format datum. */
typedef struct wire {
    unsigned char *p;
    size_t len, cap;
} wire;

static void put(wire *w, const void *b, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        ck_assert(w->p != NULL);
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void put_long(wire *w, long long x)
{
    unsigned long long u = ((unsigned long long)x << 1) ^ (unsigned long long)(x >> 63);
    do {
        unsigned char b = (unsigned char)(u & 0x7f);
        u >>= 7;
        if (u)
            b |= 0x80;
        put(w, &b, 1);
    } while (u);
}

static void put_header(wire *w, int id)
{
    unsigned char h[5] = {0, (unsigned char)(id >> 24), (unsigned char)(id >> 16), (unsigned char)(id >> 8),
                          (unsigned char)id};
    put(w, h, 5);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void expect_data_error(int rc, json_t *v, const sl_error *err, const char *needle)
{
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    ck_assert_msg(rc == -1, "decoded, but should have been refused: %.200s", s ? s : "");
    free(s);
    ck_assert_msg(err->kind == SL_ERR_DATA, "kind %s: %s", sl_errkind_name(err->kind), err->msg);
    ck_assert_msg(strstr(err->msg, needle), "\"%s\" does not mention \"%s\"", err->msg, needle);
}

/* Two fixed types named F, one in the null namespace (a 16-byte uuid), one
 * in ns (1 byte); inside ns, "F" means ns.F (specification, "Names"; avro-c
 * agrees).  Resolved by bare name first, the bounds check would skip 16
 * bytes where avro-c reads 1, and the uuid text would be read from 16
 * bytes of a 1-byte buffer. */
static const char named_schema[] =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    " {\"name\":\"a\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":16,\"logicalType\":\"uuid\"}},"
    " {\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"namespace\":\"ns\",\"fields\":["
    "   {\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":1}},"
    "   {\"name\":\"c\",\"type\":\"F\"},"
    "   {\"name\":\"d\",\"type\":\"bytes\"}]}}]}";

START_TEST(named_types_resolve_as_avro_c_does)
{
    sl_registry *r = offline_registry();
    ck_assert_int_eq(sl_registry_put(r, 1, NULL, named_schema), 0);
    wire w = {0};
    put_header(&w, 1);
    for (int i = 0; i < 16; i++) /* a: 16 bytes */
        put(&w, (unsigned char[]){(unsigned char)(0x10 + i)}, 1);
    put(&w, "\x01", 1); /* b.x */
    put(&w, "\x02", 1); /* b.c: ns.F, 1 byte */
    /* b.d: 15 bytes; its first is 0, which a 16-byte c would take for d's length */
    put_long(&w, 15);
    unsigned char d[15] = {0};
    put(&w, d, sizeof(d));
    json_t *v = NULL;
    sl_error err;
    int rc = sl_avro_decode_wire(r, w.p, w.len, &v, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    json_t *b = json_object_get(v, "b");
    ck_assert_str_eq(json_string_value(json_object_get(v, "a")), "10111213-1415-1617-1819-1a1b1c1d1e1f");
    ck_assert_str_eq(json_string_value(json_object_get(b, "x")), "\\x01");
    ck_assert_str_eq(json_string_value(json_object_get(b, "c")), "\\x02");
    ck_assert_str_eq(json_string_value(json_object_get(b, "d")), "\\x000000000000000000000000000000");
    json_decref(v);
    free(w.p);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

START_TEST(named_type_defined_twice_is_refused)
{
    sl_error err;
    const char *text = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                       "{\"name\":\"a\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
                       "{\"name\":\"b\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":16}}]}";
    sl_av_schema *s = sl_av_schema_parse(text, strlen(text), &err);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.msg, "defined twice"), "%s", err.msg);
}
END_TEST

/* An array of arrays of null: every inner block claims as many items as
 * bytes remain, each item taking none. */
START_TEST(zero_byte_items_are_capped)
{
    sl_registry *r = offline_registry();
    ck_assert_int_eq(sl_registry_put(r, 2, NULL,
                                     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                                     "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":\"null\"}}}]}"),
                     0);
    wire w = {0};
    put_header(&w, 2);
    const int outer = 2600;
    put_long(&w, outer);
    for (int i = 0; i < outer; i++) {
        put_long(&w, 8000 - 3 * i); /* at most the bytes that remain, plus one */
        put_long(&w, 0);
    }
    put_long(&w, 0);
    ck_assert_uint_lt(w.len, 9000);
    json_t *v = NULL;
    sl_error err;
    double t0 = now_s();
    int rc = sl_avro_decode_wire(r, w.p, w.len, &v, NULL, NULL, &err);
    double took = now_s() - t0;
    expect_data_error(rc, v, &err, "items");
    ck_assert_msg(took < 1.0, "refused after %.2f s", took);
    /* a million items in all are still fine */
    w.len = 0;
    put_header(&w, 2);
    put_long(&w, 1);
    put_long(&w, 999999);
    put_long(&w, 0);
    put_long(&w, 0);
    rc = sl_avro_decode_wire(r, w.p, w.len, &v, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_uint_eq(json_array_size(json_array_get(json_object_get(v, "a"), 0)), 999999);
    json_decref(v);
    free(w.p);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

static char *fmt(const unsigned char *be, size_t n, long long scale, int *rc)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    *rc = sl_fmt_decimal(&sb, be, n, scale);
    if (*rc) {
        ck_assert_uint_eq(sb.len, 0);
        sl_strbuf_free(&sb);
        return NULL;
    }
    return sl_strbuf_steal(&sb);
}

START_TEST(decimal_bounds_and_digits)
{
    int rc;
    /* 2^128 and its negation: 17 bytes, several 10^9 limbs */
    unsigned char p128[17] = {1}, m128[17] = {0xff};
    char *s = fmt(p128, sizeof(p128), 0, &rc);
    ck_assert_str_eq(s, "340282366920938463463374607431768211456");
    free(s);
    s = fmt(m128, sizeof(m128), 5, &rc);
    ck_assert_str_eq(s, "-3402823669209384634633746074317682.11456");
    free(s);
    /* 10^18 = 0x0de0b6b3a7640000: zeros inside a 10^9 chunk */
    unsigned char e18[] = {0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00};
    s = fmt(e18, sizeof(e18), 0, &rc);
    ck_assert_str_eq(s, "1000000000000000000");
    free(s);
    s = fmt(e18, sizeof(e18), -3, &rc);
    ck_assert_str_eq(s, "1000000000000000000000");
    free(s);
    /* sign-extension padding (a wide fixed) does not count */
    unsigned char padded[2000];
    memset(padded, 0xff, sizeof(padded));
    padded[sizeof(padded) - 1] = 0x85; /* -123 */
    s = fmt(padded, sizeof(padded), 2, &rc);
    ck_assert_str_eq(s, "-1.23");
    free(s);
    /* scales and lengths beyond the bounds are refused */
    unsigned char one = 1;
    ck_assert_ptr_null(fmt(&one, 1, 200000000, &rc));
    ck_assert_ptr_null(fmt(&one, 1, -200000000, &rc));
    ck_assert_ptr_null(fmt(&one, 1, (long long)1 << 40, &rc));
    s = fmt(&one, 1, SL_DECIMAL_MAX_SCALE, &rc);
    ck_assert_uint_eq(strlen(s), SL_DECIMAL_MAX_SCALE + 2);
    free(s);
    unsigned char *big = malloc(32768);
    memset(big, 0x7f, 32768);
    double t0 = now_s();
    ck_assert_ptr_null(fmt(big, 32768, 0, &rc));
    s = fmt(big, SL_DECIMAL_MAX_BYTES, 0, &rc); /* the largest accepted: 2466 digits */
    ck_assert_msg(now_s() - t0 < 1.0, "%.2f s", now_s() - t0);
    ck_assert_uint_eq(strlen(s), 2466);
    ck_assert(!strncmp(s, "543235", 6)); /* 0x7f7f...7f, 1024 bytes, is 5.43235...e2465 */
    free(s);
    free(big);
}
END_TEST

static sl_change decode_with(sl_format format, sl_registry *r, const void *value, size_t len, int *rc,
                             sl_error *err)
{
    sl_route_conf route = {.name = "route 1", .format = format, .key_format = SL_KEYFMT_JSON};
    sl_decoder d;
    ck_assert_int_eq(sl_decoder_init(&d, &route, r, err), 0);
    sl_record rec = {.topic = "t", .value = value, .value_len = len};
    sl_change c;
    memset(&c, 0, sizeof(c));
    *rc = sl_decode(&d, &rec, &c, err);
    sl_decoder_fini(&d);
    return c;
}

/* A 173-byte record whose Decimal scale is 2*10^8: 200 MB of zeros before. */
START_TEST(decimal_scale_from_the_record_is_bounded)
{
    static const char *const values[][2] = {
        {"connect_json",
         "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"p\",\"type\":\"bytes\","
         "\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"200000000\"}}]},"
         "\"payload\":{\"p\":\"AQ==\"}}"},
        {"connect_json",
         "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"p\",\"type\":\"bytes\","
         "\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"4294967298\"}}]},"
         "\"payload\":{\"p\":\"AQ==\"}}"},
        {"connect_json",
         "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"p\",\"type\":\"double\","
         "\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"200000000\"}}]},"
         "\"payload\":{\"p\":1.5}}"},
        {"debezium",
         "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"after\",\"type\":\"struct\",\"fields\":["
         "{\"field\":\"p\",\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\","
         "\"parameters\":{\"scale\":\"-200000000\"}}]},{\"field\":\"op\",\"type\":\"string\"}]},"
         "\"payload\":{\"after\":{\"p\":\"AQ==\"},\"op\":\"c\"}}"},
        {"debezium",
         "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"after\",\"type\":\"struct\",\"fields\":["
         "{\"field\":\"p\",\"type\":\"struct\",\"name\":\"io.debezium.data.VariableScaleDecimal\","
         "\"fields\":[{\"field\":\"scale\",\"type\":\"int32\"},{\"field\":\"value\",\"type\":\"bytes\"}]}]},"
         "{\"field\":\"op\",\"type\":\"string\"}]},"
         "\"payload\":{\"after\":{\"p\":{\"scale\":200000000,\"value\":\"AQ==\"}},\"op\":\"c\"}}"},
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sl_format f = !strcmp(values[i][0], "debezium") ? SL_FMT_DEBEZIUM : SL_FMT_CONNECT_JSON;
        int rc;
        sl_error err;
        double t0 = now_s();
        sl_change c = decode_with(f, NULL, values[i][1], strlen(values[i][1]), &rc, &err);
        double took = now_s() - t0;
        if (rc == 0) {
            json_t *p = json_object_get(c.value, "p");
            size_t n = json_is_string(p) ? json_string_length(p) : 0;
            sl_change_clear(&c);
            ck_abort_msg("case %zu: decoded to a %zu-byte cell in %.2f s", i, n, took);
        }
        ck_assert_msg(err.kind == SL_ERR_DATA, "case %zu: %s", i, err.msg);
        ck_assert_msg(strstr(err.msg, "scale"), "case %zu: %s", i, err.msg);
        ck_assert_msg(took < 1.0, "case %zu: refused after %.2f s", i, took);
    }
}
END_TEST

/* A 32 KB unscaled value took seconds, a megabyte tens of minutes. */
START_TEST(long_decimal_is_refused_quickly)
{
    size_t n = 32768;
    unsigned char *raw = malloc(n);
    memset(raw, 0x5a, n);
    sl_strbuf b64 = SL_STRBUF_INIT;
    sl_fmt_base64(&b64, raw, n);
    free(raw);
    sl_strbuf value = SL_STRBUF_INIT;
    sl_strbuf_printf(&value,
                     "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"p\",\"type\":\"bytes\","
                     "\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"2\"}}]},"
                     "\"payload\":{\"p\":\"%s\"}}",
                     b64.data);
    int rc;
    sl_error err;
    double t0 = now_s();
    sl_change c = decode_with(SL_FMT_CONNECT_JSON, NULL, value.data, value.len, &rc, &err);
    double took = now_s() - t0;
    expect_data_error(rc, c.value, &err, "bytes");
    ck_assert_msg(took < 1.0, "refused after %.2f s", took);
    sl_strbuf_free(&value);
    sl_strbuf_free(&b64);
}
END_TEST

/* A record with three optional references to itself, read as a Connect
 * record (format: debezium over Avro). */
START_TEST(recursive_schema_through_connect)
{
    sl_registry *r = offline_registry();
    ck_assert_int_eq(sl_registry_put(r, 3, NULL,
                                     "{\"type\":\"record\",\"name\":\"Envelope\",\"fields\":["
                                     "{\"name\":\"after\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\","
                                     "\"fields\":[{\"name\":\"id\",\"type\":\"int\"},"
                                     "{\"name\":\"l\",\"type\":[\"null\",\"Node\"]},"
                                     "{\"name\":\"m\",\"type\":[\"null\",\"Node\"]},"
                                     "{\"name\":\"r\",\"type\":[\"null\",\"Node\"]}]}]},"
                                     "{\"name\":\"op\",\"type\":\"string\"}]}"),
                     0);
    wire w = {0};
    put_header(&w, 3);
    put_long(&w, 1);  /* after: Node */
    put_long(&w, 7);  /* id */
    put_long(&w, 1);  /* l: Node */
    put_long(&w, 8);  /*   id */
    put_long(&w, 0);  /*   l null */
    put_long(&w, 0);  /*   m null */
    put_long(&w, 0);  /*   r null */
    put_long(&w, 0);  /* m null */
    put_long(&w, 0);  /* r null */
    put_long(&w, 1);  /* op */
    put(&w, "c", 1);
    json_t *env = NULL;
    sl_error err;
    double t0 = now_s();
    int rc = sl_avro_decode_connect(r, w.p, w.len, &env, NULL, &err);
    double took = now_s() - t0;
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_msg(took < 1.0, "took %.2f s", took);
    char *schema = json_dumps(json_object_get(env, "schema"), JSON_COMPACT);
    ck_assert_msg(strlen(schema) < 2000, "a %zu-byte Connect schema", strlen(schema));
    free(schema);
    json_t *after = json_object_get(json_object_get(env, "payload"), "after");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(after, "l"), "id")), 8);
    json_decref(env);

    /* the same, decoded into a change */
    int drc;
    sl_change c = decode_with(SL_FMT_DEBEZIUM, r, w.p, w.len, &drc, &err);
    ck_assert_msg(drc == 0, "%s", err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(c.value, "id")), 7);
    sl_change_clear(&c);
    free(w.p);

    /* no recursion, but each record uses the next twice, 18 deep: 2^18
     * copies of the innermost written out; refused instead */
    enum { DEEP = 18 };
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_puts(&sb, "{\"type\":\"record\",\"name\":\"L0\",\"fields\":[");
    for (int i = 1; i <= DEEP; i++)
        sl_strbuf_printf(&sb, "{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"L%d\",\"fields\":[", i);
    sl_strbuf_puts(&sb, "{\"name\":\"x\",\"type\":\"int\"}");
    for (int i = DEEP; i >= 1; i--)
        sl_strbuf_printf(&sb, "]}},{\"name\":\"b\",\"type\":\"L%d\"}", i);
    sl_strbuf_puts(&sb, "]}");
    ck_assert_int_eq(sl_registry_put(r, 4, NULL, sb.data), 0);
    sl_strbuf_free(&sb);
    wire w2 = {0};
    put_header(&w2, 4);
    unsigned char *zeros = calloc(1, 1 << DEEP); /* one int 0 per leaf */
    put(&w2, zeros, 1 << DEEP);
    free(zeros);
    rc = sl_avro_decode_connect(r, w2.p, w2.len, &env, NULL, &err);
    expect_data_error(rc, env, &err, "20000");
    free(w2.p);
    sl_avro_thread_cleanup();
    sl_registry_free(r);
}
END_TEST

/* The extreme timestamps a record can carry (found by the Debezium over
 * Avro fuzz harness under UBSan: the day arithmetic overflowed). */
START_TEST(extreme_timestamps)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_timestamp_us(&sb, INT64_MIN, true);
    ck_assert_str_eq(sb.data, "290309-12-21T19:59:05.224192Z BC"); /* ISO year -290308 */
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, INT64_MAX, false);
    ck_assert_str_eq(sb.data, "294247-01-10T04:00:54.775807");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, -1, true);
    ck_assert_str_eq(sb.data, "1969-12-31T23:59:59.999999Z");
    sl_strbuf_free(&sb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("avro hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, named_types_resolve_as_avro_c_does);
    tcase_add_test(tc, named_type_defined_twice_is_refused);
    tcase_add_test(tc, zero_byte_items_are_capped);
    tcase_add_test(tc, decimal_bounds_and_digits);
    tcase_add_test(tc, decimal_scale_from_the_record_is_bounded);
    tcase_add_test(tc, long_decimal_is_refused_quickly);
    tcase_add_test(tc, recursive_schema_through_connect);
    tcase_add_test(tc, extreme_timestamps);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
