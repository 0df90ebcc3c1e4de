/* test_cratedb_unit.c - CrateDB pieces without servers: cells rendered as
 * JSON by column type, every shape of a bulk response, error codes, column
 * types from information_schema, and the statements built. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cratedb_int.h"
#include "runner.h"

static char *render(const char *cell, sl_coltype t, sl_coltype elem, int *rc)
{
    sl_strbuf b = SL_STRBUF_INIT;
    sl_error err;
    sl_strbuf_puts(&b, "");
    *rc = crate_json_cell(&b, cell, strlen(cell), t, elem, &err);
    return sl_strbuf_steal(&b);
}

#define RENDERS(cell, type, elem, want)                                                \
    do {                                                                               \
        int rc_;                                                                       \
        char *got_ = render(cell, type, elem, &rc_);                                   \
        ck_assert_msg(rc_ == 0 && !strcmp(got_, want), "%s as %s: got %s, want %s", cell, \
                      sl_coltype_name(type), got_, want);                              \
        free(got_);                                                                    \
    } while (0)

START_TEST(cells_as_json)
{
    RENDERS("42", SL_COL_INT8, 0, "42");
    RENDERS("-7", SL_COL_INT4, 0, "-7");
    RENDERS("12.50", SL_COL_NUMERIC, 0, "12.50");
    RENDERS("1.5e+300", SL_COL_FLOAT8, 0, "1.5e+300");
    RENDERS("NaN", SL_COL_FLOAT8, 0, "\"NaN\"");
    RENDERS("t", SL_COL_BOOL, 0, "true");
    RENDERS("f", SL_COL_BOOL, 0, "false");
    RENDERS("say \"hi\"\n\\ \xc3\xbc", SL_COL_TEXT, 0, "\"say \\\"hi\\\"\\u000a\\\\ \xc3\xbc\"");
    RENDERS("{\"a\": [1, {\"b\": null}]}", SL_COL_OBJECT, 0, "{\"a\": [1, {\"b\": null}]}");
    RENDERS("{\"a\":1}", SL_COL_JSONB, 0, "{\"a\":1}");
    RENDERS("[13.4,52.5]", SL_COL_GEO_POINT, 0, "[13.4,52.5]");
    RENDERS("\"POINT (1 2)\"", SL_COL_GEO_POINT, 0, "\"POINT (1 2)\"");
    /* timestamps: epoch milliseconds; the offset counts only WITH TIME ZONE */
    RENDERS("2023-11-14 22:13:20.000000+00", SL_COL_TIMESTAMPTZ, 0, "1700000000000");
    RENDERS("2023-11-14T22:13:20Z", SL_COL_TIMESTAMPTZ, 0, "1700000000000");
    RENDERS("2023-11-15T00:13:20.123+02:00", SL_COL_TIMESTAMPTZ, 0, "1700000000123");
    RENDERS("2023-11-15T00:13:20.123+02:00", SL_COL_TIMESTAMP, 0, "1700007200123");
    RENDERS("1969-12-31", SL_COL_DATE, 0, "-86400000");
    RENDERS("infinity", SL_COL_TIMESTAMPTZ, 0, "\"infinity\"");
    /* arrays: PostgreSQL literals become JSON arrays typed by element */
    RENDERS("{\"1\",\"2\",NULL}", SL_COL_ARRAY, SL_COL_INT4, "[1,2,null]");
    RENDERS("{\"a b\",\"q\\\"uote\",\"back\\\\slash\"}", SL_COL_ARRAY, SL_COL_TEXT,
            "[\"a b\",\"q\\\"uote\",\"back\\\\slash\"]");
    RENDERS("{{1,2},{3,4}}", SL_COL_ARRAY, SL_COL_INT8, "[[1,2],[3,4]]");
    RENDERS("{}", SL_COL_ARRAY, SL_COL_TEXT, "[]");
    RENDERS("{\"t\",\"f\"}", SL_COL_ARRAY, SL_COL_BOOL, "[true,false]");
    RENDERS("{\"{\\\"k\\\": 1}\"}", SL_COL_ARRAY, SL_COL_OBJECT, "[{\"k\": 1}]");
    int rc;
    free(render("\xff\xfe", SL_COL_TEXT, 0, &rc));
    ck_assert_int_eq(rc, -1); /* not UTF-8: the row is rejected, not mangled */
    free(render("\xed\xa0\x80", SL_COL_TEXT, 0, &rc));
    ck_assert_int_eq(rc, -1); /* a UTF-16 surrogate */
    free(render("{1,2", SL_COL_ARRAY, SL_COL_INT4, &rc));
    ck_assert_int_eq(rc, -1);
}
END_TEST

static int parse(long status, const char *body, size_t n, crate_expect ex, crate_outcome *out, sl_error *err)
{
    memset(out, 0, n * sizeof(*out));
    sl_error_clear(err);
    return crate_http_parse(status, body, strlen(body), n, ex, out, err);
}

START_TEST(bulk_responses)
{
    crate_outcome o[4];
    sl_error err;
    /* all written */
    ck_assert_int_eq(parse(200, "{\"cols\":[],\"duration\":1.2,\"results\":[{\"rowcount\":1},{\"rowcount\":1}]}", 2,
                           CR_EXPECT_ONE, o, &err), 0);
    ck_assert(o[0].kind == CR_OK && o[1].kind == CR_OK);
    /* a delete that found nothing is fine; an upsert reporting 0 is not */
    ck_assert_int_eq(parse(200, "{\"results\":[{\"rowcount\":0}]}", 1, CR_EXPECT_ANY, o, &err), 0);
    ck_assert(o[0].kind == CR_OK);
    ck_assert_int_eq(parse(200, "{\"results\":[{\"rowcount\":0}]}", 1, CR_EXPECT_ONE, o, &err), 0);
    ck_assert(o[0].kind == CR_UNKNOWN);
    /* -2 with error objects: data, passing */
    ck_assert_int_eq(parse(200,
                           "{\"results\":[{\"rowcount\":1},"
                           "{\"rowcount\":-2,\"error\":{\"code\":4003,\"message\":\"ColumnValidationException[x]\"}},"
                           "{\"rowcount\":-2,\"error\":{\"code\":5002,\"message\":\"shards not available\"}},"
                           "{\"rowcount\":-2,\"error\":{\"code\":4092,\"message\":\"VersionConflictEngineException\"}}]}",
                           4, CR_EXPECT_ONE, o, &err),
                     0);
    ck_assert(o[0].kind == CR_OK && o[1].kind == CR_DATA && o[2].kind == CR_RETRY && o[3].kind == CR_RETRY);
    ck_assert(strstr(o[1].msg, "ColumnValidationException"));
    /* 40411: an upsert that found its key taken and no document (real CrateDB 6.4.1) */
    ck_assert_int_eq(parse(200,
                           "{\"results\":[{\"rowcount\":-2,\"error\":{\"code\":40411,"
                           "\"message\":\"DocumentMissingException[[195]: document missing]\"}}]}",
                           1, CR_EXPECT_ONE, o, &err),
                     0);
    ck_assert(o[0].kind == CR_MISSING);
    /* older versions: -2 without a reason, or an error_message */
    ck_assert_int_eq(parse(200, "{\"results\":[{\"rowcount\":-2},{\"rowcount\":-2,\"error_message\":"
                                "\"Cannot cast value\"}]}",
                           2, CR_EXPECT_ONE, o, &err),
                     0);
    ck_assert(o[0].kind == CR_UNKNOWN && o[1].kind == CR_DATA);
    /* a result count that does not match: retry, never assume */
    ck_assert_int_eq(parse(200, "{\"results\":[{\"rowcount\":1}]}", 2, CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_RETRY);
    /* top-level errors */
    ck_assert_int_eq(parse(404, "{\"error\":{\"message\":\"ColumnUnknownException[Column x unknown]\",\"code\":4043}}",
                           2, CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_FATAL);
    ck_assert(strstr(err.msg, "4043"));
    ck_assert_int_eq(parse(400, "{\"error\":{\"message\":\"ColumnValidationException[bad]\",\"code\":4003}}", 1,
                           CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_DATA); /* old version, single-row bulk: the row's fault */
    ck_assert_int_eq(parse(500, "{\"error\":{\"message\":\"UnavailableShardsException\",\"code\":5002}}", 3,
                           CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_RETRY);
    /* back-pressure and broken answers */
    ck_assert_int_eq(parse(429, "{\"error\":{\"message\":\"too many requests\",\"code\":5000}}", 1, CR_EXPECT_ONE,
                           o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_RETRY);
    ck_assert_int_eq(parse(503, "<html>unavailable</html>", 1, CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_RETRY);
    ck_assert_int_eq(parse(200, "{\"results\":[{\"rowc", 1, CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_RETRY);
    ck_assert_int_eq(parse(401, "{\"error\":{\"message\":\"auth\",\"code\":4010}}", 1, CR_EXPECT_ONE, o, &err), -1);
    ck_assert_int_eq(err.kind, SL_ERR_FATAL);
}
END_TEST

START_TEST(column_types)
{
    sl_coltype e;
    ck_assert_int_eq(crate_coltype("text", NULL, NULL, &e), SL_COL_TEXT);
    ck_assert_int_eq(crate_coltype("bigint", NULL, NULL, &e), SL_COL_INT8);
    ck_assert_int_eq(crate_coltype("object", NULL, NULL, &e), SL_COL_OBJECT);
    ck_assert_int_eq(crate_coltype("geo_point", NULL, NULL, &e), SL_COL_GEO_POINT);
    ck_assert_int_eq(crate_coltype("timestamp with time zone", NULL, NULL, &e), SL_COL_TIMESTAMPTZ);
    ck_assert_int_eq(crate_coltype("timestamp without time zone", NULL, NULL, &e), SL_COL_TIMESTAMP);
    ck_assert_int_eq(crate_coltype("text_array", NULL, NULL, &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_TEXT);
    ck_assert_int_eq(crate_coltype("object_array", NULL, NULL, &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_OBJECT);
    /* the PostgreSQL catalog's spelling */
    ck_assert_int_eq(crate_coltype("ARRAY", "_int4", NULL, &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_INT4);
    ck_assert_int_eq(crate_coltype("ARRAY", "_float8", "geo_point", &e), SL_COL_GEO_POINT);
    ck_assert_int_eq(crate_coltype("jsonb", "jsonb", NULL, &e), SL_COL_JSONB);
    /* FLOAT_VECTOR(n) is an array of REAL, as CrateDB's catalog names it and as the stand-in's domain */
    e = SL_COL_OTHER;
    ck_assert_int_eq(crate_coltype("float_vector", NULL, NULL, &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_FLOAT4);
    e = SL_COL_OTHER;
    ck_assert_int_eq(crate_coltype("ARRAY", "_float4", "float_vector", &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_FLOAT4);
    /* BIT(n): sent as the text of its digits */
    ck_assert_int_eq(crate_coltype("bit", NULL, NULL, &e), SL_COL_OTHER);
}
END_TEST

START_TEST(statements)
{
    sl_column cols[4] = {
        {.name = "id", .type = SL_COL_INT8, .in_key = true, .no_update = true},
        {.name = "month", .type = SL_COL_TIMESTAMPTZ, .in_key = true, .no_update = true},
        {.name = "tenant", .type = SL_COL_TEXT, .no_update = true}, /* CLUSTERED BY */
        {.name = "v\"q", .type = SL_COL_TEXT},
    };
    size_t key[2] = {0, 1};
    sl_table t = {.qname = "\"doc\".\"m\"", .cols = cols, .ncols = 4, .key = key, .nkey = 2};
    size_t all[4] = {0, 1, 2, 3}, keys_only[2] = {0, 1};
    sl_strbuf q = SL_STRBUF_INIT;
    ck_assert_int_eq(crate_build_upsert(&q, &t, all, 4, true), CR_EXPECT_ONE);
    ck_assert_str_eq(q.data, "INSERT INTO \"doc\".\"m\" (\"id\", \"month\", \"tenant\", \"v\"\"q\") VALUES ($1, $2, $3, $4)"
                             " ON CONFLICT (\"id\", \"month\") DO UPDATE SET \"v\"\"q\" = excluded.\"v\"\"q\"");
    sl_strbuf_reset(&q);
    ck_assert_int_eq(crate_build_upsert(&q, &t, keys_only, 2, true), CR_EXPECT_ANY);
    ck_assert_str_eq(q.data, "INSERT INTO \"doc\".\"m\" (\"id\", \"month\") VALUES ($1, $2)"
                             " ON CONFLICT (\"id\", \"month\") DO NOTHING");
    sl_strbuf_reset(&q);
    size_t dcols[2];
    ck_assert_uint_eq(crate_build_delete(&q, &t, dcols), 2);
    ck_assert_str_eq(q.data, "DELETE FROM \"doc\".\"m\" WHERE \"id\" = $1 AND \"month\" = $2");
    /* a generated key column: CrateDB computes it on insert, the delete
     * goes by the rest of the key, and ON CONFLICT names the whole key */
    cols[1].generated = cols[1].computed = true;
    sl_strbuf_reset(&q);
    ck_assert_uint_eq(crate_build_delete(&q, &t, dcols), 1);
    ck_assert_uint_eq(dcols[0], 0);
    ck_assert_str_eq(q.data, "DELETE FROM \"doc\".\"m\" WHERE \"id\" = $1");
    size_t written[3] = {0, 2, 3};
    sl_strbuf_reset(&q);
    ck_assert_int_eq(crate_build_upsert(&q, &t, written, 3, true), CR_EXPECT_ONE);
    ck_assert_str_eq(q.data, "INSERT INTO \"doc\".\"m\" (\"id\", \"tenant\", \"v\"\"q\") VALUES ($1, $2, $3)"
                             " ON CONFLICT (\"id\", \"month\") DO UPDATE SET \"v\"\"q\" = excluded.\"v\"\"q\"");
    sl_strbuf_free(&q);
}
END_TEST

START_TEST(error_codes)
{
    ck_assert_int_eq(crate_code_kind(4003, "x"), SL_ERR_DATA);
    ck_assert_int_eq(crate_code_kind(4091, "DuplicateKeyException"), SL_ERR_DATA);
    ck_assert_int_eq(crate_code_kind(4092, "VersionConflict"), SL_ERR_RETRY);
    ck_assert_int_eq(crate_code_kind(4043, "ColumnUnknownException"), SL_ERR_FATAL);
    ck_assert_int_eq(crate_code_kind(4000, "SQLParseException[line 1]"), SL_ERR_FATAL);
    ck_assert_int_eq(crate_code_kind(4000, "Cannot cast value `x` to type `bigint`"), SL_ERR_DATA);
    ck_assert_int_eq(crate_code_kind(5002, "shards"), SL_ERR_RETRY);
    ck_assert_int_eq(crate_code_kind(5000, "IOException"), SL_ERR_RETRY);
    /* 5xx by the code alone, whatever words the message holds */
    ck_assert_int_eq(crate_code_kind(5000, "failed to update mapping for [doc.t]"), SL_ERR_RETRY);
    ck_assert_int_eq(crate_code_kind(5001, "Invalid shard state"), SL_ERR_RETRY);
    ck_assert_int_eq(crate_code_kind(5003, "Cannot cast on a failed shard"), SL_ERR_RETRY);
    /* five digits: not server errors */
    ck_assert_int_eq(crate_code_kind(40410, "UserUnknownException"), SL_ERR_FATAL);
    ck_assert_int_eq(crate_code_kind(40411, "DocumentMissingException[[195]: document missing]"), SL_ERR_RETRY);
    ck_assert_int_eq(crate_code_kind(40000, "Cannot cast value"), SL_ERR_DATA);
}
END_TEST

/* A server (or something posing as one) that lists a key column many
 * times: the key holds each column once, never more entries than columns. */
static int scripted_query(sl_sink *s, const char *sql, const char *const *args, size_t nargs, crate_result *res,
                          sl_error *err)
{
    (void)s, (void)args, (void)nargs, (void)err;
    if (!res)
        return 0;
    memset(res, 0, sizeof(*res));
    const char *const col_rows[][8] = {{"id", "bigint", "int8", NULL, "NO", NULL, "NEVER", "1"},
                                       {"v", "text", "text", NULL, "YES", NULL, "NEVER", "2"}};
    if (strstr(sql, "information_schema.columns")) {
        res->nrows = 2, res->ncols = 8;
        res->cells = calloc(16, sizeof(char *));
        for (size_t i = 0; i < 16; i++)
            res->cells[i] = col_rows[i / 8][i % 8] ? strdup(col_rows[i / 8][i % 8]) : NULL;
    } else if (strstr(sql, "table_constraints")) {
        res->nrows = 1, res->ncols = 1;
        res->cells = calloc(1, sizeof(char *));
        res->cells[0] = strdup("t_pk");
    } else if (strstr(sql, "key_column_usage")) {
        res->nrows = 50, res->ncols = 1;
        res->cells = calloc(50, sizeof(char *));
        for (size_t i = 0; i < 50; i++)
            res->cells[i] = strdup(i % 2 ? "v" : "id");
    } else {
        res->cells = calloc(1, sizeof(char *));
    }
    return 0;
}

START_TEST(describe_bounds_the_key)
{
    static const crate_transport tp = {.query = scripted_query};
    crate_common common = {.tp = &tp};
    sl_target_conf conf = {.name = "crate", .type = sl_sink_type("cratedb")};
    sl_sink s = {.conf = &conf, .impl = &common};
    snprintf(s.ctx, sizeof(s.ctx), "sink crate");
    sl_table *t = NULL;
    sl_error err;
    ck_assert_int_eq(crate_describe(&s, "doc", "t", &t, &err), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->ncols, 2);
    ck_assert_uint_eq(t->nkey, 2);
    ck_assert_uint_eq(t->key[0], 0);
    ck_assert_uint_eq(t->key[1], 1);
    sl_table_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cratedb unit");
    TCase *tc = tcase_create("cratedb");
    tcase_add_test(tc, cells_as_json);
    tcase_add_test(tc, describe_bounds_the_key);
    tcase_add_test(tc, bulk_responses);
    tcase_add_test(tc, column_types);
    tcase_add_test(tc, statements);
    tcase_add_test(tc, error_codes);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
