/* The direct Avro reader (avro_cells.c) against the general path (avro.c
 * decoding, mapping.c mapping) for a table whose key holds a column CrateDB
 * computes: schemas are cached in the registry client without a registry
 * process, as tests/fuzz/fuzz_decode.c does. */
#include <avro.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/cells.h"
#include "sluice/decoder.h"
#include "sluice/mapping.h"
#include "sluice/registry.h"
#include "runner.h"

static const char *schema =
    "{\"type\":\"record\",\"name\":\"reading\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"device\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";

/* CrateDB's partitioned time series: PRIMARY KEY (id, month), month
 * GENERATED ALWAYS AS date_trunc('month', ts), which the CrateDB sink
 * flags computed (src/sink/cratedb/common.c). */
static sl_table *readings(void)
{
    static const struct {
        const char *n;
        sl_coltype ty;
    } cols[] = {{"id", SL_COL_INT8}, {"device", SL_COL_TEXT}, {"ts", SL_COL_TIMESTAMPTZ}, {"month", SL_COL_TIMESTAMPTZ}};
    sl_table *t = sl_table_new("doc", "readings", 4);
    for (size_t i = 0; i < 4; i++) {
        t->cols[i].name = strdup(cols[i].n);
        t->cols[i].type_name = strdup("x");
        t->cols[i].type = cols[i].ty;
    }
    t->ncols = 4;
    t->cols[3].generated = t->cols[3].computed = true;
    t->cols[0].in_key = t->cols[3].in_key = true;
    t->key[0] = 0;
    t->key[1] = 3;
    t->nkey = 2;
    return t;
}

/* Confluent framing, schema id 1, then id, device and ts as Avro encodes them */
static size_t datum(unsigned char *out, long id, const char *device, long ts)
{
    size_t n = 0;
    memcpy(out, "\0\0\0\0\1", 5);
    n = 5;
    unsigned long z = (unsigned long)((id << 1) ^ (id >> 63));
    for (; z >= 0x80; z >>= 7)
        out[n++] = (unsigned char)(z | 0x80);
    out[n++] = (unsigned char)z;
    out[n++] = (unsigned char)(strlen(device) << 1);
    memcpy(out + n, device, strlen(device));
    n += strlen(device);
    z = (unsigned long)((ts << 1) ^ (ts >> 63));
    for (; z >= 0x80; z >>= 7)
        out[n++] = (unsigned char)(z | 0x80);
    out[n++] = (unsigned char)z;
    return n;
}

START_TEST(computed_key_column_not_expected)
{
    sl_error err;
    char *u = "http://127.0.0.1:9"; /* never asked: the schema is cached below */
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .timeout_ms = 100};
    sl_registry *reg = sl_registry_new(&conf, &err);
    ck_assert_ptr_nonnull(reg);
    ck_assert_int_eq(sl_registry_put(reg, 1, "AVRO", schema), 0);
    sl_table *t = readings();
    sl_route_conf r = {.name = (char *)"r", .mode = SL_MODE_UPSERT, .format = SL_FMT_AVRO,
                       .key_format = SL_KEYFMT_STRING, .epoch_unit = SL_EPOCH_MS};
    sl_mapping m;
    sl_decoder d;
    ck_assert_int_eq(sl_mapping_init(&m, &r, t, &err), 0);
    ck_assert_int_eq(sl_decoder_init(&d, &r, reg, &err), 0);
    sl_cells *direct = sl_cells_new(&m, reg);
    ck_assert_ptr_nonnull(direct);
    sl_rowbuilder fast, slow;
    sl_rowbuilder_init(&fast);
    sl_rowbuilder_init(&slow);
    for (long id = 1; id <= 3; id++) {
        unsigned char v[64];
        size_t len = datum(v, id * 1000003, "dev-7", 1714564800123L + id);
        sl_record rec = {.topic = "t", .partition = 0, .offset = id, .value = (const char *)v, .value_len = len};
        int took = sl_cells_map(direct, &d, &rec, &fast);
        sl_change c;
        ck_assert_int_eq(sl_decode(&d, &rec, &c, &err), 0);
        ck_assert_int_eq(sl_map_change(&m, &c, &rec, &slow, &err), 0);
        sl_cells_learn(direct, &c);
        sl_change_clear(&c);
        /* the first record of a schema meets the general path; the next ones are read directly */
        ck_assert_int_eq(took, id > 1);
        if (!took)
            continue;
        for (uint32_t i = 0; i < 4; i++) {
            ck_assert_int_eq(fast.len[i], slow.len[i]);
            if (fast.len[i] > 0)
                ck_assert_mem_eq(fast.bytes.data + fast.off[i], slow.bytes.data + slow.off[i], (size_t)fast.len[i]);
        }
        ck_assert_int_eq(fast.len[3], SL_CELL_ABSENT); /* the database's to compute */
        char want[32];
        snprintf(want, sizeof(want), "%ld", id * 1000003);
        ck_assert_int_eq(fast.len[0], (int)strlen(want));
        ck_assert_mem_eq(fast.bytes.data + fast.off[0], want, strlen(want));
    }
    sl_rowbuilder_free(&fast);
    sl_rowbuilder_free(&slow);
    sl_cells_free(direct);
    sl_decoder_fini(&d);
    sl_mapping_fini(&m);
    sl_table_free(t);
    sl_registry_free(reg);
}
END_TEST

/* Debian's avro-c keeps one error message for the whole process (built
 * without THREADSAFE).  Decoding probed for trailing bytes with a read
 * past the datum's end, which failed and so wrote that message on every
 * record: two workers decoding Avro wrote it at once (ThreadSanitizer in the
 * soak, seed 783720356), and another thread's avro_strerror() could read
 * it torn.  A good datum must leave it alone. */
START_TEST(decoding_a_good_datum_leaves_avro_c_error_alone)
{
    sl_error err;
    char *u = "http://127.0.0.1:9"; /* never asked: the schema is cached below */
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .timeout_ms = 100};
    sl_registry *reg = sl_registry_new(&conf, &err);
    ck_assert_ptr_nonnull(reg);
    ck_assert_int_eq(sl_registry_put(reg, 1, "AVRO", schema), 0);
    sl_route_conf r = {.name = (char *)"r", .mode = SL_MODE_UPSERT, .format = SL_FMT_AVRO,
                       .key_format = SL_KEYFMT_STRING, .epoch_unit = SL_EPOCH_MS};
    sl_decoder d;
    ck_assert_int_eq(sl_decoder_init(&d, &r, reg, &err), 0);
    for (long id = 1; id <= 3; id++) {
        unsigned char v[64];
        size_t len = datum(v, id, "dev-7", 1714564800123L + id);
        sl_record rec = {.topic = "t", .partition = 0, .offset = id, .value = (const char *)v, .value_len = len};
        avro_set_error("left by another thread");
        sl_change c;
        ck_assert_int_eq(sl_decode(&d, &rec, &c, &err), 0);
        sl_change_clear(&c);
        ck_assert_msg(!strcmp(avro_strerror(), "left by another thread"), "decoding record %ld wrote avro-c's "
                      "error message: \"%s\"", id, avro_strerror());
    }
    sl_decoder_fini(&d);
    sl_registry_free(reg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("avro_cells");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, computed_key_column_not_expected);
    tcase_add_test(tc, decoding_a_good_datum_leaves_avro_c_error_alone);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
