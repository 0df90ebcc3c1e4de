/* Batches: collapse per key in offset order, merges, deletes, truncates. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/batch.h"
#include "runner.h"

static sl_table table;
static sl_column cols[3];
static size_t keyidx[1] = {0};

static void setup(void)
{
    memset(&table, 0, sizeof(table));
    memset(cols, 0, sizeof(cols));
    cols[0].name = "id";
    cols[0].in_key = true;
    cols[1].name = "a";
    cols[2].name = "b";
    table.cols = cols;
    table.ncols = 3;
    table.key = keyidx;
    table.nkey = 1;
}

/* row(op, id, a, b): NULL cell = absent, "\\N" = SQL NULL */
static sl_row *row(sl_op op, const char *id, const char *a, const char *b, int64_t off)
{
    sl_rowbuilder rb;
    sl_rowbuilder_init(&rb);
    sl_rowbuilder_start(&rb, 3);
    const char *v[3] = {id, a, b};
    for (uint32_t i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (!strcmp(v[i], "\\N"))
            sl_rowbuilder_set_null(&rb, i);
        else
            sl_rowbuilder_set(&rb, i, v[i], strlen(v[i]));
    }
    sl_row *r = sl_rowbuilder_finish(&rb, op, "t", 0, off, NULL, 0, NULL, 0);
    sl_rowbuilder_free(&rb);
    return r;
}

static const sl_row *find(const sl_batch *b, const char *id)
{
    for (size_t i = 0; i < b->nrows; i++)
        if (b->rows[i] && !strcmp(sl_row_cell(b->rows[i], 0), id))
            return b->rows[i];
    return NULL;
}

START_TEST(last_write_wins_per_key)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert(b->collapse);
    for (int i = 0; i < 5000; i++) {
        char id[16], a[16];
        snprintf(id, sizeof(id), "%d", i % 100);
        snprintf(a, sizeof(a), "v%d", i);
        sl_batch_add(b, row(SL_OP_UPSERT, id, a, "x", i));
    }
    ck_assert_uint_eq(b->live, 100);
    ck_assert_str_eq(sl_row_cell(find(b, "7"), 1), "v4907");
    ck_assert_int_eq(find(b, "7")->offset, 4907);
    size_t bytes = 0;
    for (size_t i = 0; i < b->nrows; i++)
        bytes += b->rows[i]->size;
    ck_assert_uint_eq(b->bytes, bytes);
    sl_batch_free(b);
}
END_TEST

START_TEST(partial_rows_merge)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a1", "b1", 1));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", NULL, "b2", 2));   /* a not supplied: keeps a1 */
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "\\N", NULL, 3)); /* a set to NULL */
    const sl_row *x = find(b, "1");
    ck_assert_int_eq(x->len[1], SL_CELL_NULL);
    ck_assert_str_eq(sl_row_cell(x, 2), "b2");
    ck_assert_uint_eq(b->live, 1);
    sl_batch_free(b);
}
END_TEST

START_TEST(delete_then_upsert_recreates)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a1", "b1", 1));
    sl_batch_add(b, row(SL_OP_DELETE, "1", NULL, NULL, 2));
    ck_assert_int_eq(find(b, "1")->op, SL_OP_DELETE);
    /* the delete keeps the deleted row's cells, for a key change to take over */
    ck_assert_str_eq(sl_row_cell(find(b, "1"), 1), "a1");
    ck_assert_str_eq(sl_row_cell(find(b, "1"), 2), "b1");
    ck_assert_int_eq(find(b, "1")->offset, 2);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a3", NULL, 3));
    const sl_row *x = find(b, "1");
    ck_assert_int_eq(x->op, SL_OP_UPSERT);
    ck_assert(x->replace);                      /* the stored row goes first */
    ck_assert_int_eq(x->len[2], SL_CELL_ABSENT); /* nothing merged from before the delete */
    sl_batch_add(b, row(SL_OP_UPSERT, "1", NULL, "b4", 4));
    x = find(b, "1");
    ck_assert(x->replace);
    ck_assert_str_eq(sl_row_cell(x, 1), "a3");
    ck_assert_str_eq(sl_row_cell(x, 2), "b4");
    sl_batch_free(b);
}
END_TEST

/* sl_batch_find() by key, sl_batch_add()'s index, carries freed with the rows. */
START_TEST(find_and_carries)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    sl_row *probe = row(SL_OP_DELETE, "2", NULL, NULL, 0);
    ck_assert_int_eq(sl_batch_find(b, probe), -1);
    ck_assert_uint_eq(sl_batch_add(b, row(SL_OP_UPSERT, "1", "a1", "b1", 1)), 0);
    ck_assert_uint_eq(sl_batch_add(b, row(SL_OP_UPSERT, "2", "a2", NULL, 2)), 1);
    ck_assert_uint_eq(sl_batch_add(b, row(SL_OP_UPSERT, "1", NULL, "b3", 3)), 0);
    ck_assert_int_eq(sl_batch_find(b, probe), 1);
    uint32_t *fill = malloc(sizeof(uint32_t));
    fill[0] = 2;
    sl_batch_add_carry(b, 1, 0, 2, row(SL_OP_DELETE, "9", NULL, NULL, 0), fill, 1);
    ck_assert_uint_eq(b->ncarries, 1);
    sl_batch_clear(b); /* frees the carry (valgrind and ASan check) */
    ck_assert_uint_eq(b->ncarries, 0);
    ck_assert_int_eq(sl_batch_find(b, probe), -1);
    free(probe);
    sl_batch_free(b);
}
END_TEST

/* A carry filled into a merged row that stands for its records (on_error:
 * dlq keeps them): the create's own record row gets the carried cell too,
 * since a refused row is applied record by record (sl_batch_unroll()). */
START_TEST(fill_carry_reaches_the_create_record)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT, .on_error = SL_ONERR_DLQ};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert(b->keep);
    size_t at = sl_batch_add(b, row(SL_OP_UPSERT, "2", "a5", NULL, 5)); /* the create, b unavailable */
    uint32_t *fill = malloc(sizeof(uint32_t));
    fill[0] = 2;
    sl_batch_add_carry(b, at, 0, 5, row(SL_OP_DELETE, "1", NULL, NULL, 0), fill, 1);
    ck_assert_uint_eq(sl_batch_add(b, row(SL_OP_UPSERT, "2", NULL, NULL, 6)), at); /* merged: a from the create */
    ck_assert(b->rows[at]->merged);
    sl_row *from = row(SL_OP_UPSERT, "1", "old a", "old b", 0);
    sl_batch_fill_carry(b, &b->carries[0], from);
    free(from);
    ck_assert_int_eq(b->carries[0].state, SL_CARRY_FILLED);
    const sl_row *x = find(b, "2");
    ck_assert(x->merged);
    ck_assert_str_eq(sl_row_cell(x, 1), "a5");
    ck_assert_str_eq(sl_row_cell(x, 2), "old b");
    size_t n;
    sl_row **recs = sl_batch_unroll(x, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(recs[0]->offset, 5);
    ck_assert_str_eq(sl_row_cell(recs[0], 1), "a5");
    ck_assert_str_eq(sl_row_cell(recs[0], 2), "old b"); /* the create brings the carried cell */
    ck_assert_int_eq(recs[1]->offset, 6);
    ck_assert_int_eq(recs[1]->len[2], SL_CELL_ABSENT); /* the update keeps what the create stored */
    free(recs);
    size_t bytes = 0;
    for (const sl_row *q = x; q; q = q->superseded)
        bytes += q->size;
    ck_assert_uint_eq(b->bytes, bytes);
    sl_batch_free(b);
}
END_TEST

/* A row that supplies every cell its key's pending row has replaces it
 * whole, keeping what merging would keep: the delete before it, the
 * latest offset, cells absent from both. */
START_TEST(full_row_replaces_and_keeps_replace)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    sl_batch_add(b, row(SL_OP_DELETE, "1", NULL, NULL, 1));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a2", NULL, 2));
    ck_assert(find(b, "1")->replace);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a3", "\\N", 3)); /* covers every cell */
    const sl_row *x = find(b, "1");
    ck_assert(x->replace);
    ck_assert_int_eq(x->offset, 3);
    ck_assert_str_eq(sl_row_cell(x, 1), "a3");
    ck_assert_int_eq(x->len[2], SL_CELL_NULL);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a4", NULL, 4)); /* b absent: merged from the row before */
    x = find(b, "1");
    ck_assert(x->replace);
    ck_assert_str_eq(sl_row_cell(x, 1), "a4");
    ck_assert_int_eq(x->len[2], SL_CELL_NULL);
    ck_assert_int_eq(x->offset, 4);
    ck_assert_uint_eq(b->live, 1);
    ck_assert_uint_eq(b->bytes, x->size);
    sl_batch_free(b);
}
END_TEST

START_TEST(truncate_clears_earlier_rows)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a", "b", 1));
    sl_batch_truncate(b);
    ck_assert(b->truncate);
    ck_assert_uint_eq(b->live, 0);
    ck_assert(!sl_batch_empty(b));
    sl_batch_add(b, row(SL_OP_UPSERT, "2", "a", "b", 3));
    ck_assert_ptr_null(find(b, "1"));
    ck_assert_ptr_nonnull(find(b, "2"));
    sl_batch_clear(b);
    ck_assert(sl_batch_empty(b));
    sl_batch_free(b);
}
END_TEST

START_TEST(insert_mode_keeps_every_row)
{
    sl_route_conf r = {.mode = SL_MODE_INSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert(!b->collapse);
    for (int i = 0; i < 10; i++)
        sl_batch_add(b, row(SL_OP_UPSERT, "1", "a", "b", i));
    ck_assert_uint_eq(b->live, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(b->rows[i]->offset, i);
    sl_batch_free(b);
}
END_TEST

/* Under on_error: dlq (or skip) each key's row keeps the record rows it
 * stands for, oldest first, counted in bytes: a write that refuses the
 * key's row applies them one by one (the last may be the bad one).  Rows
 * merged on the way are no record's and are not kept. */
START_TEST(refusable_rows_keep_their_records)
{
    sl_route_conf r = {.mode = SL_MODE_UPSERT, .on_error = SL_ONERR_DLQ};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert(b->keep);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a1", "b1", 1));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", NULL, "b2", 2)); /* merged */
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a3", NULL, 3)); /* merged again */
    sl_batch_add(b, row(SL_OP_DELETE, "1", NULL, NULL, 4));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a5", "b5", 5));
    sl_batch_add(b, row(SL_OP_UPSERT, "2", "x", "y", 6));
    const sl_row *x = find(b, "1");
    ck_assert_int_eq(x->offset, 5);
    ck_assert(x->replace);
    size_t n;
    sl_row **recs = sl_batch_unroll(x, &n);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(recs[i]->offset, (int64_t)i + 1);
        ck_assert(!recs[i]->merged);
    }
    ck_assert_int_eq(recs[1]->len[1], SL_CELL_ABSENT); /* the record as it came, not merged */
    ck_assert_int_eq(recs[3]->op, SL_OP_DELETE);
    free(recs);
    recs = sl_batch_unroll(find(b, "2"), &n);
    ck_assert_uint_eq(n, 1);
    free(recs);
    size_t bytes = 0;
    for (size_t i = 0; i < b->nrows; i++)
        for (const sl_row *k = b->rows[i]; k; k = k->superseded)
            bytes += k->size;
    ck_assert_uint_eq(b->bytes, bytes);
    ck_assert_uint_eq(b->live, 2);
    sl_batch_clear(b); /* frees every kept row (valgrind and ASan check it) */
    ck_assert_uint_eq(b->bytes, 0);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a", "b", 7));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", NULL, "c", 8));
    sl_batch_free(b);

    sl_route_conf f = {.mode = SL_MODE_UPSERT, .on_error = SL_ONERR_FAIL};
    b = sl_batch_new(&f, &table);
    ck_assert(b->collapse && !b->keep);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a1", "b1", 1));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "a2", "b2", 2));
    ck_assert_ptr_null(find(b, "1")->superseded);
    sl_batch_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, last_write_wins_per_key);
    tcase_add_test(tc, fill_carry_reaches_the_create_record);
    tcase_add_test(tc, partial_rows_merge);
    tcase_add_test(tc, delete_then_upsert_recreates);
    tcase_add_test(tc, find_and_carries);
    tcase_add_test(tc, full_row_replaces_and_keeps_replace);
    tcase_add_test(tc, truncate_clears_earlier_rows);
    tcase_add_test(tc, insert_mode_keeps_every_row);
    tcase_add_test(tc, refusable_rows_keep_their_records);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
