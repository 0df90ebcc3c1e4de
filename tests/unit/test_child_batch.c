/* test_child_batch.c - a child table's batch (routes[].explode, batch.h:
 * child_index): each upsert replaces the parent's stored children, and a
 * new version of a parent (index 0, or the delete at -1) drops the rows of
 * its earlier versions from the batch, other parents' rows untouched. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "runner.h"
#include "sluice/batch.h"
#include "sluice/config.h"

static sl_table table;
static sl_column cols[3];
static size_t keyidx[2] = {0, 1};

static void setup(void)
{
    memset(&table, 0, sizeof(table));
    memset(cols, 0, sizeof(cols));
    cols[0].name = "order_id";
    cols[1].name = "idx";
    cols[2].name = "sku";
    cols[0].in_key = cols[1].in_key = true;
    table.cols = cols;
    table.ncols = 3;
    table.key = keyidx;
    table.nkey = 2;
}

static sl_row *row(sl_op op, const char *parent, const char *idx, const char *sku)
{
    sl_rowbuilder rb;
    sl_rowbuilder_init(&rb);
    sl_rowbuilder_start(&rb, 3);
    const char *v[3] = {parent, idx, sku};
    for (uint32_t i = 0; i < 3; i++)
        if (v[i])
            sl_rowbuilder_set(&rb, i, v[i], strlen(v[i]));
    sl_row *r = sl_rowbuilder_finish(&rb, op, "t", 0, 0, NULL, 0, NULL, 0);
    sl_rowbuilder_free(&rb);
    return r;
}

/* "parent/idx:sku" of the live rows, in batch order */
static char *live(const sl_batch *b)
{
    static char out[512];
    out[0] = '\0';
    for (size_t i = 0; i < b->nrows; i++) {
        const sl_row *r = b->rows[i];
        if (!r)
            continue;
        char one[64];
        snprintf(one, sizeof(one), "%s%s/%s:%s%s", out[0] ? " " : "", sl_row_cell(r, 0), sl_row_cell(r, 1),
                 r->op == SL_OP_DELETE ? "-" : sl_row_cell(r, 2), r->replace ? "" : "!");
        strncat(out, one, sizeof(out) - strlen(out) - 1);
    }
    return out;
}

START_TEST(versions_replace_earlier_ones)
{
    setup();
    sl_route_conf r = {.mode = SL_MODE_UPSERT, .explode = "/items", .explode_index = "idx"};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert_int_eq(b->child_index, 1);
    /* parent 1 with three children, parent 2 with one */
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "0", "A"));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "1", "B"));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "2", "C"));
    sl_batch_add(b, row(SL_OP_UPSERT, "2", "0", "X"));
    ck_assert_str_eq(live(b), "1/0:A 1/1:B 1/2:C 2/0:X");
    /* parent 1 again, one child: B and C leave (every row replaces) */
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "0", "D"));
    ck_assert_str_eq(live(b), "2/0:X 1/0:D");
    ck_assert_uint_eq(b->live, 2);
    /* parent 2 without children: one delete of them all */
    sl_batch_add(b, row(SL_OP_DELETE, "2", "-1", NULL));
    ck_assert_str_eq(live(b), "1/0:D 2/-1:-!");
    /* and with one again: the delete leaves, the row replaces */
    sl_batch_add(b, row(SL_OP_UPSERT, "2", "0", "Y"));
    sl_batch_add(b, row(SL_OP_UPSERT, "2", "1", "Z"));
    ck_assert_str_eq(live(b), "1/0:D 2/0:Y 2/1:Z");
    ck_assert_uint_eq(b->live, 3);
    /* the key index still finds every live row */
    sl_row *k = row(SL_OP_UPSERT, "2", "1", "?");
    ck_assert_int_ge(sl_batch_find(b, k), 0);
    free(k);
    sl_batch_free(b);
}
END_TEST

START_TEST(other_tables_untouched)
{
    setup();
    sl_route_conf r = {.mode = SL_MODE_UPSERT};
    sl_batch *b = sl_batch_new(&r, &table);
    ck_assert_int_eq(b->child_index, -1);
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "0", "A"));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "1", "B"));
    sl_batch_add(b, row(SL_OP_UPSERT, "1", "0", "C"));
    ck_assert_str_eq(live(b), "1/0:C! 1/1:B!");
    sl_batch_free(b);
}
END_TEST

/* The configuration's checks name file:line:key. */
static void expect_error(const char *route, const char *needle)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-test-child-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
               "targets:\n  pg:\n    type: postgresql\n    dsn: host=127.0.0.1\n"
               "  crate:\n    type: cratedb\n    url: http://127.0.0.1:4200\n"
               "routes:\n  - topics: [orders]\n    table: order_items\n%s", route);
    fclose(f);
    sl_error err;
    sl_config *cfg = sl_config_load(path, &err);
    unlink(path);
    ck_assert_ptr_null(cfg);
    char where[128];
    snprintf(where, sizeof(where), "%s:", path);
    ck_assert_msg(strstr(err.msg, where) && strstr(err.msg, "routes[0].explode") && strstr(err.msg, needle),
                  "%s", err.msg);
}

START_TEST(configuration_checks)
{
    expect_error("    target: pg\n    explode: /items\n", "explode needs explode_parent");
    expect_error("    target: pg\n    explode: items\n    explode_parent: {order_id: /id}\n", "JSON pointer");
    expect_error("    target: pg\n    mode: insert\n    explode: /items\n    explode_parent: {order_id: /id}\n",
                 "needs mode: upsert");
    expect_error("    target: crate\n    explode: /items\n    explode_parent: {order_id: /id}\n",
                 "target crate has no transactions");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("child batch");
    TCase *tc = tcase_create("child");
    tcase_add_test(tc, versions_replace_earlier_ones);
    tcase_add_test(tc, other_tables_untouched);
    tcase_add_test(tc, configuration_checks);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
