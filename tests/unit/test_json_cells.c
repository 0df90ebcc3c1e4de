/* The direct JSON reader (json_cells.c) against the general path (json.c
 * decoding, mapping.c mapping): whatever it takes must come out as the
 * same row, and the plain records of a workload must not be declined. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/decoder.h"
#include "json_cells_int.h"
#include "json_valid_int.h"
#include "sluice/mapping.h"
#include "sluice/textfmt.h"
#include "sluice/transform.h"
#include "runner.h"

static sl_error err;

static const struct {
    const char *n;
    sl_coltype ty;
} cols[] = {
    {"id", SL_COL_INT8},        {"device", SL_COL_TEXT},  {"ts", SL_COL_TIMESTAMPTZ}, {"temp", SL_COL_FLOAT8},
    {"ok", SL_COL_BOOL},        {"small", SL_COL_INT2},   {"n", SL_COL_INT4},         {"amount", SL_COL_NUMERIC},
    {"f4", SL_COL_FLOAT4},      {"day", SL_COL_DATE},     {"u", SL_COL_UUID},         {"doc", SL_COL_JSONB},
    {"other", SL_COL_OTHER},    {"gen", SL_COL_INT4},     {"at", SL_COL_TIME},        {"local", SL_COL_TIMESTAMP},
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static sl_table *make_table(void)
{
    sl_table *t = calloc(1, sizeof(*t));
    t->ncols = NCOLS;
    t->cols = calloc(NCOLS, sizeof(sl_column));
    for (size_t i = 0; i < NCOLS; i++) {
        t->cols[i].name = strdup(cols[i].n);
        t->cols[i].type_name = strdup("x");
        t->cols[i].type = cols[i].ty;
    }
    t->cols[13].generated = true;
    t->cols[0].in_key = true;
    t->key = calloc(1, sizeof(size_t));
    t->nkey = 1;
    t->schema = strdup("public");
    t->name = strdup("t");
    t->qname = strdup("\"public\".\"t\"");
    return t;
}

typedef struct fixture {
    sl_table *t;
    sl_route_conf r;
    sl_mapping m;
    sl_decoder d;
    sl_json_cells *jc;
    sl_rowbuilder fast, slow;
} fixture;

/* The fixture's route, with the chain @tx (@n transforms) when @n. */
static void setup_chain(fixture *f, sl_keyformat kf, sl_transform_conf *tx, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->t = make_table();
    f->r.name = (char *)"r";
    f->r.mode = SL_MODE_UPSERT;
    f->r.format = SL_FMT_JSON;
    f->r.key_format = kf;
    f->r.epoch_unit = SL_EPOCH_MS;
    f->r.transforms = tx;
    f->r.ntransforms = n;
    size_t bad;
    const char *badkey;
    if (n) {
        f->r.chain = sl_tx_chain_new(&f->r, &bad, &badkey, &err);
        ck_assert_msg(f->r.chain != NULL, "%s", err.msg);
    }
    ck_assert_int_eq(sl_mapping_init(&f->m, &f->r, f->t, &err), 0);
    ck_assert_int_eq(sl_decoder_init(&f->d, &f->r, NULL, &err), 0);
    f->jc = sl_json_cells_new(&f->m);
    sl_rowbuilder_init(&f->fast);
    sl_rowbuilder_init(&f->slow);
}

static void setup(fixture *f, sl_keyformat kf)
{
    setup_chain(f, kf, NULL, 0);
}

static void teardown(fixture *f)
{
    sl_json_cells_free(f->jc);
    sl_rowbuilder_free(&f->fast);
    sl_rowbuilder_free(&f->slow);
    sl_decoder_fini(&f->d);
    sl_mapping_fini(&f->m);
    sl_table_free(f->t);
}

static bool same_cell(sl_coltype ty, const sl_rowbuilder *a, const sl_rowbuilder *b, uint32_t i)
{
    if (a->len[i] != b->len[i] && (a->len[i] < 0 || b->len[i] < 0))
        return false;
    if (a->len[i] < 0)
        return true;
    const char *x = a->bytes.data + a->off[i], *y = b->bytes.data + b->off[i];
    if (ty == SL_COL_FLOAT8 || ty == SL_COL_FLOAT4) /* the same number, maybe spelt differently */
        return strtod(x, NULL) == strtod(y, NULL) && (strtod(x, NULL) != 0 || (*x == '-') == (*y == '-'));
    return a->len[i] == b->len[i] && !memcmp(x, y, (size_t)a->len[i]);
}

/* Both paths on @json: 1 when the direct reader took it (and agreed), 2
 * when it dropped it (and the route's chain does too), 0 when it declined;
 * the general path's verdict in *slow_ok. */
static int both(fixture *f, const char *json, bool *slow_ok)
{
    sl_record rec = {.topic = "t", .partition = 0, .offset = 7, .value = json, .value_len = strlen(json),
                     .key = "1", .key_len = 1};
    /* in this order, as the worker does: the direct reader first */
    int took = sl_json_cells_map(f->jc, &rec, &f->fast);
    sl_change c;
    sl_error_clear(&err);
    *slow_ok = sl_decode(&f->d, &rec, &c, &err) == 0;
    bool decoded = *slow_ok;
    if (*slow_ok && f->r.chain)
        *slow_ok = sl_tx_apply(f->r.chain, &rec, &c, &err) == 0;
    bool dropped = *slow_ok && c.op == SL_OP_IGNORE;
    if (*slow_ok && !dropped)
        *slow_ok = sl_map_change(&f->m, &c, &rec, &f->slow, &err) == 0;
    if (decoded)
        sl_change_clear(&c);
    if (took == 2)
        ck_assert_msg(dropped, "dropped directly, but the general path %s (%s): %s",
                      *slow_ok ? "keeps it" : "rejects it", err.msg, json);
    if (took == 1) {
        ck_assert_msg(!dropped, "taken directly, but the general path drops it: %s", json);
        ck_assert_msg(*slow_ok, "taken directly, but the general path rejects it (%s): %s", err.msg, json);
        for (uint32_t i = 0; i < NCOLS; i++)
            ck_assert_msg(same_cell(cols[i].ty, &f->fast, &f->slow, i), "column %s differs for %s", cols[i].n,
                          json);
    }
    return took;
}

#define TAKEN(json)                                                                                \
    do {                                                                                           \
        bool ok_;                                                                                  \
        int r_ = both(&f, json, &ok_); ck_assert_msg(r_ == 1, "declined (%d, slow %d %s): %s", r_, ok_, err.msg, json);                            \
    } while (0)
#define DROPPED(json)                                                                              \
    do {                                                                                           \
        bool ok_;                                                                                  \
        ck_assert_msg(both(&f, json, &ok_) == 2, "not dropped: %s", json);                         \
    } while (0)
#define DECLINED(json)                                                                             \
    do {                                                                                           \
        bool ok_;                                                                                  \
        ck_assert_msg(both(&f, json, &ok_) == 0, "taken: %s", json);                               \
    } while (0)

START_TEST(plain_records_are_taken)
{
    fixture f;
    setup(&f, SL_KEYFMT_STRING);
    ck_assert_ptr_nonnull(f.jc);
    for (int rep = 0; rep < 3; rep++) { /* one parser handle, record after record */
        TAKEN("{\"id\":1,\"device\":\"dev-1\",\"ts\":\"2024-05-01T12:00:00.123Z\",\"temp\":21.7,\"ok\":true}");
        TAKEN(" {\"id\":-9223372036854775808,\"device\":\"a\\tb\\\"\\u00e9\",\"temp\":-0.5,\"ok\":false}\n");
        TAKEN("{\"id\":9223372036854775807,\"temp\":3,\"ok\":1,\"small\":-32768,\"n\":2147483647}");
        TAKEN("{\"id\":2,\"amount\":12,\"f4\":0.1,\"day\":19844,\"u\":\"123e4567-e89b-12d3-a456-426614174000\"}");
        TAKEN("{\"id\":3,\"ts\":1714564800123,\"local\":-1,\"day\":\"2024-05-01\",\"other\":5,\"device\":null}");
        TAKEN("{\"id\":4,\"ts\":\"infinity\",\"local\":\"-Infinity\",\"other\":true,\"gen\":[1,{\"x\":2}]}");
        TAKEN("{\"id\":5,\"temp\":123456789012345,\"f4\":-0.0,\"doc\":null,\"at\":null}");
        TAKEN("{\"id\":-0,\"temp\":0.000000000000001}");
        /* an epoch number of the route's unit into a time of day (the rule in textfmt.c) */
        TAKEN("{\"id\":6,\"at\":45000123,\"ts\":0}");
    }
    teardown(&f);
}
END_TEST

START_TEST(anything_else_is_declined)
{
    fixture f;
    setup(&f, SL_KEYFMT_STRING);
    /* not JSON, not one object, trailing data */
    DECLINED("");
    DECLINED("{\"id\":1");
    DECLINED("{\"id\":1}}");
    DECLINED("{\"id\":1} {\"id\":2}");
    DECLINED("{\"id\":1} 2");
    DECLINED("{\"id\":1} x");
    DECLINED("[{\"id\":1}]");
    DECLINED("17");
    DECLINED("{\"id\":01}");
    DECLINED("{\"id\":1,}");
    DECLINED("{\"id\":1,\"device\":\"\xff\"}");
    /* UTF-8 that jansson refuses (a looser check would take): overlong forms, encoded
     * surrogates, code points past U+10FFFF, in a column or a skipped field */
    DECLINED("{\"id\":1,\"device\":\"\xc1\xb7\"}");
    DECLINED("{\"id\":1,\"device\":\"\xe0\x80\xaf\"}");
    DECLINED("{\"id\":1,\"device\":\"\xed\xa0\x80\"}");
    DECLINED("{\"id\":1,\"device\":\"\xf0\x80\x80\xaf\"}");
    DECLINED("{\"id\":1,\"device\":\"\xf4\x90\x80\x80\"}");
    DECLINED("{\"id\":1,\"other\":[\"a\xc1\xb7\"]}");
    /* a NUL escape in a key, which jansson refuses */
    /* while well-formed UTF-8 of every length is taken */
    TAKEN("{\"id\":1,\"device\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
    /* the record must still be parsed right after a declined one */
    TAKEN("{\"id\":1,\"device\":\"d\"}");
    /* keys: absent (the record key holds it), null, out of range, not integer */
    DECLINED("{\"device\":\"d\"}");
    DECLINED("{\"id\":null}");
    DECLINED("{\"id\":9223372036854775808}");
    DECLINED("{\"id\":1.0}");
    DECLINED("{\"id\":1e2}");
    DECLINED("{\"id\":\"1\"}");
    /* conversions the general path must judge */
    DECLINED("{\"id\":1,\"small\":32768}");
    DECLINED("{\"id\":1,\"n\":-2147483649}");
    DECLINED("{\"id\":1,\"amount\":1.10}");
    DECLINED("{\"id\":1,\"temp\":1e400}");
    DECLINED("{\"id\":1,\"temp\":1e-400}");
    DECLINED("{\"id\":1,\"temp\":0.1234567890123456}");
    DECLINED("{\"id\":1,\"temp\":\"NaN\"}");
    DECLINED("{\"id\":1,\"ok\":2}");
    DECLINED("{\"id\":1,\"ok\":\"yes\"}");
    DECLINED("{\"id\":1,\"device\":1.5}");
    DECLINED("{\"id\":1,\"device\":{\"a\":1}}");
    DECLINED("{\"id\":1,\"device\":\"a\\u0000b\"}");
    DECLINED("{\"id\":1,\"ts\":\"yesterday\"}");
    DECLINED("{\"id\":1,\"ts\":1.5}");
    DECLINED("{\"id\":1,\"day\":100000001}");
    DECLINED("{\"id\":1,\"at\":86400001}");
    DECLINED("{\"id\":1,\"at\":-1}");
    DECLINED("{\"id\":1,\"u\":\"not-a-uuid\"}");
    DECLINED("{\"id\":1,\"doc\":{\"a\":1}}");
    DECLINED("{\"id\":1,\"at\":\"12:00\"}");
    DECLINED("{\"id\":1,\"id\":2}");
    DECLINED("{\"id\":1,\"ts\":9223372036854775807}");
    /* what jansson refuses and a lenient tokenizer takes: \v and \f as whitespace,
     * unpaired surrogate escapes (found by tests/fuzz) */
    DECLINED("{\"id\":1,\v\"device\":\"x\"}");
    DECLINED("{\"id\":1,\"device\":\"x\"\f}");
    DECLINED("{\"id\":1,\"device\":\"\\ud800a\"}");
    DECLINED("{\"id\":1,\"device\":\"\\uDC00\"}");
    TAKEN("{\"id\":1,\"device\":\"\\\\ud800\"}"); /* an escaped backslash, then text */
    /* numbers jansson refuses, also where the direct reader would skip or store them as text */
    DECLINED("{\"id\":1,\"temp\":3429129000912900024712972}");
    DECLINED("{\"id\":1,\"temp\":-1e999}");
    teardown(&f);
}
END_TEST

START_TEST(unmapped_fields_once_reported)
{
    fixture f;
    setup(&f, SL_KEYFMT_STRING);
    /* the general path reports the field first; afterwards it is skipped here */
    DECLINED("{\"id\":1,\"extra\":{\"deep\":[1,2,{\"x\":null}]}}");
    TAKEN("{\"id\":1,\"extra\":{\"deep\":[1,2,{\"x\":null}]}}");
    TAKEN("{\"extra\":\"s\",\"id\":2,\"device\":\"d\"}");
    /* a skipped field still holds JSON that jansson must accept (found by tests/fuzz) */
    DECLINED("{\"id\":4,\"extra\":3429129000912900024712972}");
    DECLINED("{\"id\":4,\"extra\":[1e400]}");
    DECLINED("{\"id\":1,\"another\":1}");
    teardown(&f);
}
END_TEST

/* The UTF-8 check reads ASCII eight bytes at a time: an ill-formed
 * sequence is found at every offset, across and after such words. */
START_TEST(utf8_checked_at_every_offset)
{
    static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82"};
    static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f"};
    char buf[64];
    for (size_t at = 0; at < 20; at++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            memset(buf, 'a', sizeof(buf));
            memcpy(buf + at, bad[k], strlen(bad[k]));
            ck_assert_msg(!sl_utf8_strict((const unsigned char *)buf, at + strlen(bad[k]) + 9), "bad %zu at %zu", k, at);
        }
        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
            memset(buf, 'a', sizeof(buf));
            memcpy(buf + at, good[k], strlen(good[k]));
            ck_assert_msg(sl_utf8_strict((const unsigned char *)buf, at + strlen(good[k]) + 9), "good %zu at %zu", k, at);
        }
    }
}
END_TEST

START_TEST(routes_that_need_the_general_path)
{
    fixture f;
    setup(&f, SL_KEYFMT_AVRO);
    ck_assert_ptr_null(f.jc);
    teardown(&f);
    sl_table *t = make_table();
    sl_kv ptr[] = {{(char *)"device", (char *)"/d/name", 0}};
    sl_route_conf r = {.name = (char *)"r", .mode = SL_MODE_UPSERT, .format = SL_FMT_JSON, .columns = ptr,
                       .ncolumns = 1};
    sl_mapping m;
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), 0);
    ck_assert_ptr_null(sl_json_cells_new(&m));
    sl_mapping_fini(&m);
    r.columns = NULL;
    r.ncolumns = 0;
    r.format = SL_FMT_AVRO;
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), 0);
    ck_assert_ptr_null(sl_json_cells_new(&m));
    sl_mapping_fini(&m);
    sl_table_free(t);
}
END_TEST

static void teardown_chain(fixture *f)
{
    const sl_tx_chain *c = f->r.chain;
    teardown(f);
    sl_tx_chain_free((sl_tx_chain *)c);
}

#define S(x) ((char *)(x))

/* A route's chain read into cells (transform.h's sl_tx_plan): each
 * transform the direct reader compiles gives the general path's row, a
 * filter drops what the general path drops, and a record in doubt is left
 * to the general path. */
START_TEST(chains_read_directly)
{
    fixture f;
    /* bench/bench.py's W1 chain */
    char *unused[] = {S("unused")};
    sl_transform_conf w1[] = {
        {.type = SL_TX_FILTER, .field = S("temp"), .predicate = SL_PRED_LT, .value = S("-1000")},
        {.type = SL_TX_REPLACE_FIELD, .exclude = unused, .nexclude = 1},
        {.type = SL_TX_TIMESTAMP_CONVERTER, .field = S("ts"), .target_type = SL_TS_TIMESTAMP},
    };
    setup_chain(&f, SL_KEYFMT_JSON, w1, 3);
    ck_assert_ptr_nonnull(f.jc);
    TAKEN("{\"id\":1,\"device\":\"d\",\"ts\":\"2024-01-01T00:00:00.123Z\",\"temp\":-3.5,\"ok\":true}");
    TAKEN("{\"id\":1,\"unused\":{\"x\":[1]},\"ts\":\"2024-01-01 10:00:00+02:00\",\"temp\":null}");
    TAKEN("{\"id\":1,\"ts\":1700000000}"); /* an epoch in seconds (unix_precision's default) */
    DROPPED("{\"id\":1,\"temp\":-2000}");
    DROPPED("{\"temp\":\"-1e4\",\"id\":null}"); /* dropped before any key is needed */
    DECLINED("{\"id\":1,\"ts\":\"yesterday\"}"); /* the converter refuses it: the general path says why */
    DECLINED("{\"id\":1,\"ts\":{\"a\":1}}");
    DECLINED("{\"id\":1,\"temp\":-2000,\"temp\":5}"); /* given twice */
    DECLINED("{\"id\":1,\"temp\":-2000"); /* not JSON: not dropped, an error */
    teardown_chain(&f);

    /* renames (a swap), casts, masks, added fields, a filter on a field the record lacks */
    sl_kv swap[] = {{S("device"), S("other"), 0}, {S("other"), S("device"), 0}};
    sl_kv spec[] = {{S("small"), S("int16"), 0}, {S("ok"), S("boolean"), 0}, {S("n"), S("string"), 0}};
    char *masked[] = {S("device")};
    sl_kv at[] = {{S("at"), S("12:34:56"), 0}};
    sl_transform_conf mix[] = {
        {.type = SL_TX_REPLACE_FIELD, .rename = swap, .nrename = 2},
        {.type = SL_TX_CAST, .spec = spec, .nspec = 3},
        {.type = SL_TX_MASK_FIELD, .fields = masked, .nfields = 1, .value = S("x")},
        {.type = SL_TX_INSERT_FIELD, .static_fields = at, .nstatic_fields = 1, .offset_field = S("amount"),
         .timestamp_field = S("local")},
        {.type = SL_TX_FILTER, .field = S("day"), .predicate = SL_PRED_NULL},
    };
    setup_chain(&f, SL_KEYFMT_JSON, mix, 5);
    ck_assert_ptr_nonnull(f.jc);
    TAKEN("{\"id\":2,\"device\":\"d\",\"other\":\"o\",\"small\":\"12\",\"ok\":1,\"n\":5,\"day\":\"2024-02-03\"}");
    TAKEN("{\"id\":2,\"other\":\"7\",\"ok\":\"TRUE\",\"day\":\"2024-02-03\"}");
    DECLINED("{\"id\":2,\"other\":7,\"day\":\"2024-02-03\"}"); /* a number masked with 'x': refused */
    DROPPED("{\"id\":2,\"device\":\"d\"}"); /* no day: the filter drops it */
    DECLINED("{\"id\":2,\"small\":70000,\"day\":\"2024-02-03\"}"); /* does not fit int16 */
    DECLINED("{\"id\":2,\"at\":\"10:00:00\",\"day\":\"2024-02-03\"}"); /* overwritten by insert_field */
    teardown_chain(&f);

    /* include drops the fields it does not name, unreported; a rename onto a field the record has */
    char *inc[] = {S("id"), S("dev"), S("device")};
    sl_kv onto[] = {{S("dev"), S("device"), 0}};
    sl_transform_conf shape[] = {
        {.type = SL_TX_REPLACE_FIELD, .include = inc, .ninclude = 3, .rename = onto, .nrename = 1},
        {.type = SL_TX_FLATTEN},
    };
    setup_chain(&f, SL_KEYFMT_JSON, shape, 2);
    ck_assert_ptr_nonnull(f.jc);
    TAKEN("{\"id\":3,\"dev\":\"a\",\"zzz\":[1,{}]}");
    TAKEN("{\"id\":3,\"device\":\"b\"}");
    DECLINED("{\"id\":3,\"dev\":\"a\",\"device\":\"b\"}"); /* one overwrites the other */
    DECLINED("{\"id\":3,\"zzz\":{\"a\":1}}");                  /* flatten of an object */
    teardown_chain(&f);

    /* what the reader does not compile: the route takes the general path */
    char *key[] = {S("id")};
    sl_transform_conf vk[] = {{.type = SL_TX_VALUE_TO_KEY, .fields = key, .nfields = 1}};
    setup_chain(&f, SL_KEYFMT_JSON, vk, 1);
    ck_assert_ptr_null(f.jc);
    teardown_chain(&f);
    sl_transform_conf ptr[] = {{.type = SL_TX_FILTER, .field = S("/doc/x"), .predicate = SL_PRED_NULL}};
    setup_chain(&f, SL_KEYFMT_JSON, ptr, 1);
    ck_assert_ptr_null(f.jc);
    teardown_chain(&f);
}
END_TEST

/* A key column CrateDB computes (GENERATED ALWAYS AS, say a partition
 * month, flagged computed by the CrateDB sink) is never expected from the
 * record, by the mapper (mapping.c) or here: a record without it is taken
 * directly, with the column left out of the row for the database to fill. */
START_TEST(computed_key_column_not_expected)
{
    fixture f;
    memset(&f, 0, sizeof(f));
    f.t = make_table();
    f.t->cols[13].computed = true; /* "gen" is generated already */
    f.t->cols[13].in_key = true;
    free(f.t->key);
    f.t->key = calloc(2, sizeof(size_t));
    f.t->key[0] = 0;
    f.t->key[1] = 13;
    f.t->nkey = 2;
    f.r.name = (char *)"r";
    f.r.mode = SL_MODE_UPSERT;
    f.r.format = SL_FMT_JSON;
    f.r.key_format = SL_KEYFMT_STRING;
    f.r.epoch_unit = SL_EPOCH_MS;
    ck_assert_int_eq(sl_mapping_init(&f.m, &f.r, f.t, &err), 0);
    ck_assert_int_eq(sl_decoder_init(&f.d, &f.r, NULL, &err), 0);
    f.jc = sl_json_cells_new(&f.m);
    ck_assert_ptr_nonnull(f.jc);
    sl_rowbuilder_init(&f.fast);
    sl_rowbuilder_init(&f.slow);
    TAKEN("{\"id\":1,\"device\":\"dev-1\",\"ts\":\"2024-05-01T12:00:00Z\",\"temp\":21.5}");
    ck_assert_int_eq(f.fast.len[13], SL_CELL_ABSENT);
    ck_assert_int_eq(f.fast.len[0], 1);
    ck_assert_mem_eq(f.fast.bytes.data + f.fast.off[0], "1", 1);
    /* a value the record gives for it is ignored, as by the mapper */
    TAKEN("{\"id\":2,\"gen\":5,\"temp\":1}");
    ck_assert_int_eq(f.fast.len[13], SL_CELL_ABSENT);
    /* the key column the record must give still decides: absent, the general path judges */
    DECLINED("{\"device\":\"dev-1\",\"temp\":21.5}");
    teardown(&f);
}
END_TEST


/* json_valid.c, which checks the parts of a Debezium payload the direct
 * reader passes over, against jansson (json.c's parser): what it accepts
 * jansson decodes; what jansson refuses it refuses; what only jansson's
 * decoding settles it declines. */
START_TEST(validity_as_jansson_reads_it)
{
    static const struct {
        const char *text;
        int want; /* 1 accepted, 0 refused or declined */
    } cases[] = {
        {"{}", 1}, {"[]", 1}, {" {\"a\" : [1, -2.5e3, true, false, null, \"x\"]} ", 1},
        {"{\"s\":\"tab\\tquote\\\" slash\\/ \\u00e9 \\u20AC\"}", 1}, {"0", 1}, {"-0.0E+1", 1},
        {"9223372036854775807", 1}, {"-9223372036854775808", 1}, {"1.5e308", 1}, {"1e-400", 1},
        {"{\"a\":{\"b\":{\"c\":[[[]]]}}}", 1}, {"\"caf\xc3\xa9\"", 1},
        /* refused by jansson */
        {"9223372036854775808", 0}, {"-9223372036854775809", 0}, {"1e400", 0}, {"01", 0}, {"1.", 0},
        {".5", 0}, {"-", 0}, {"1e", 0}, {"+1", 0}, {"tru", 0}, {"nul", 0}, {"{\"a\" 1}", 0},
        {"{\"a\":1,}", 0}, {"[1,]", 0}, {"{a:1}", 0}, {"\"ctl\x01\"", 0}, {"\"bad \\x escape\"", 0},
        {"\"\\u12g4\"", 0}, {"\"unterminated", 0}, {"[1", 0}, {"{\"a\":1", 0}, {"\v1", 0}, {"\f[]", 0},
        {"'x'", 0}, {"NaN", 0}, {"[1 2]", 0}, {"10000000000000000000", 0}, {"-10000000000000000000", 0},
        /* strings longer than eight bytes: the special byte at every place of a word */
        {"\"abcdefghijklmnopqrstuvwxyz\"", 1}, {"\"abcdefgh\\\"ijklmnop\\\\q\"", 1},
        {"\"abcdefghijk\x01mnop\"", 0}, {"\"abcdefgh\x1f\"", 0}, {"\"abcdefg\x7fhijklmn\"", 1},
        {"\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", 1}, {"\"abcdefghijklmno", 0},
        {"\"abcdefghijklmnopqrs\x01tuvwxyz0123456789\"", 0}, {"\"abcdefghijklmnopq\\\"rstuvwxyz0123456789\"", 1},
        {"\"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\x1e\"", 0},
        /* settled only by decoding: declined */
        {"\"\\u0000\"", 0}, {"{\"k\\u0000\":1}", 0}, {"\"\\ud83d\\ude00\"", 0}, {"\"\\udc00\"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].text;
        size_t n = strlen(t), end = sl_json_valid_skip(t, 0, n);
        int got = end && sl_json_ws(t, end, n) == n;
        ck_assert_msg(got == cases[i].want, "case %zu (%s): got %d", i, t, got);
        json_error_t je;
        json_t *j = json_loadb(t, n, JSON_DECODE_ANY, &je);
        if (got)
            ck_assert_msg(j, "case %zu (%s): accepted, jansson refuses: %s", i, t, je.text);
        json_decref(j);
    }
    /* nesting deeper than 64 is left to jansson */
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    ck_assert_uint_eq(sl_json_valid_skip(deep, 0, 130), 0);
    ck_assert_uint_eq(sl_json_valid_skip(deep + 1, 0, 128), 128);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_cells");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, plain_records_are_taken);
    tcase_add_test(tc, anything_else_is_declined);
    tcase_add_test(tc, unmapped_fields_once_reported);
    tcase_add_test(tc, routes_that_need_the_general_path);
    tcase_add_test(tc, utf8_checked_at_every_offset);
    tcase_add_test(tc, computed_key_column_not_expected);
    tcase_add_test(tc, chains_read_directly);
    tcase_add_test(tc, validity_as_jansson_reads_it);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
