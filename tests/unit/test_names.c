/* Identifier quoting, table names, table templates, SQLSTATE classes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "pq_int.h"
#include "sluice/sql.h"
#include "sluice/table.h"
#include "sluice/worker.h"
#include "runner.h"

START_TEST(quoting)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_sql_ident(&sb, "plain");
    ck_assert_str_eq(sb.data, "\"plain\"");
    sl_strbuf_reset(&sb);
    sl_sql_ident(&sb, "x\"; DROP TABLE t; --");
    ck_assert_str_eq(sb.data, "\"x\"\"; DROP TABLE t; --\"");
    sl_strbuf_reset(&sb);
    sl_sql_qname(&sb, "My Schema", "Or\"ders");
    ck_assert_str_eq(sb.data, "\"My Schema\".\"Or\"\"ders\"");
    sl_strbuf_free(&sb);
}
END_TEST

START_TEST(split_names)
{
    char *s, *n;
    ck_assert_int_eq(sl_split_table_name("public.orders", "x", &s, &n), 0);
    ck_assert_str_eq(s, "public");
    ck_assert_str_eq(n, "orders");
    free(s), free(n);
    ck_assert_int_eq(sl_split_table_name("orders", "doc", &s, &n), 0);
    ck_assert_str_eq(s, "doc");
    ck_assert_str_eq(n, "orders");
    free(s), free(n);
    ck_assert_int_eq(sl_split_table_name("\"My.Schema\".\"T\"\"x\"", "x", &s, &n), 0);
    ck_assert_str_eq(s, "My.Schema");
    ck_assert_str_eq(n, "T\"x");
    free(s), free(n);
    ck_assert_int_eq(sl_split_table_name("a.b.c", "x", &s, &n), -1);
    ck_assert_int_eq(sl_split_table_name("\"open", "x", &s, &n), -1);
    ck_assert_int_eq(sl_split_table_name("", "x", &s, &n), -1);
}
END_TEST

START_TEST(templates)
{
    sl_error err;
    json_t *meta = json_loads("{\"source\":{\"schema\":\"inventory\",\"table\":\"cust.omers\"}}", 0, NULL);
    char *t = sl_expand_table("${source.schema}.${source.table}", NULL, "x", meta, &err);
    ck_assert_str_eq(t, "inventory.\"cust.omers\"");
    free(t);
    t = sl_expand_table("public.${topic}", NULL, "shop.orders", NULL, &err);
    ck_assert_str_eq(t, "public.\"shop.orders\"");
    free(t);
    t = sl_expand_table("raw_${topic}", NULL, "events", NULL, &err);
    ck_assert_str_eq(t, "raw_events");
    free(t);
    ck_assert_ptr_null(sl_expand_table("${source.db}.t", NULL, "x", meta, &err));
    ck_assert_int_eq(err.kind, SL_ERR_DATA);
    /* a value is quoted as a whole name part, never re-split: raw_${topic}
     * with topic a.b is the table "raw_a.b", not schema raw_"a, table b" */
    t = sl_expand_table("raw_${topic}", NULL, "a.b", NULL, &err);
    ck_assert_str_eq(t, "\"raw_a.b\"");
    char *sc, *nm;
    ck_assert_int_eq(sl_split_table_name(t, "public", &sc, &nm), 0);
    ck_assert_str_eq(sc, "public");
    ck_assert_str_eq(nm, "raw_a.b");
    free(sc), free(nm), free(t);
    t = sl_expand_table("stage.${topic}_v2", NULL, "we\"ird.x", NULL, &err);
    ck_assert_str_eq(t, "stage.\"we\"\"ird.x_v2\"");
    ck_assert_int_eq(sl_split_table_name(t, "public", &sc, &nm), 0);
    ck_assert_str_eq(sc, "stage");
    ck_assert_str_eq(nm, "we\"ird.x_v2");
    free(sc), free(nm), free(t);
    t = sl_expand_table("\"My Schema\".${topic}", NULL, "a.b", NULL, &err);
    ck_assert_str_eq(t, "\"My Schema\".\"a.b\"");
    free(t);
    t = sl_expand_table("\"raw ${topic}\"", NULL, "a\"b", NULL, &err);
    ck_assert_str_eq(t, "\"raw a\"\"b\"");
    free(t);
    json_decref(meta);
}
END_TEST

START_TEST(sqlstates)
{
    ck_assert_int_eq(sl_sqlstate_kind("40001"), SL_ERR_RETRY);
    ck_assert_int_eq(sl_sqlstate_kind("40P01"), SL_ERR_RETRY);
    ck_assert_int_eq(sl_sqlstate_kind("57P01"), SL_ERR_RETRY);
    ck_assert_int_eq(sl_sqlstate_kind("08006"), SL_ERR_RETRY);
    ck_assert_int_eq(sl_sqlstate_kind(NULL), SL_ERR_RETRY);
    ck_assert_int_eq(sl_sqlstate_kind("23505"), SL_ERR_DATA);
    ck_assert_int_eq(sl_sqlstate_kind("23514"), SL_ERR_DATA);
    ck_assert_int_eq(sl_sqlstate_kind("22P02"), SL_ERR_DATA);
    ck_assert_int_eq(sl_sqlstate_kind("42703"), SL_ERR_FATAL);
    ck_assert_int_eq(sl_sqlstate_kind("28P01"), SL_ERR_FATAL);
}
END_TEST

START_TEST(coltypes)
{
    sl_coltype e;
    ck_assert_int_eq(sl_coltype_from_pg("int8", &e), SL_COL_INT8);
    ck_assert_int_eq(sl_coltype_from_pg("_int4", &e), SL_COL_ARRAY);
    ck_assert_int_eq(e, SL_COL_INT4);
    ck_assert_int_eq(sl_coltype_from_pg("timestamptz", &e), SL_COL_TIMESTAMPTZ);
    ck_assert_int_eq(sl_coltype_from_pg("inet", &e), SL_COL_OTHER);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, split_names);
    tcase_add_test(tc, templates);
    tcase_add_test(tc, sqlstates);
    tcase_add_test(tc, coltypes);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
