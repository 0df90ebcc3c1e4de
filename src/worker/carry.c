/* carry.c - values a primary-key change did not send, carried from the old
 * key's row.  When a source changes a row's key, Debezium sends a delete of
 * the old key and a create of the new one; PostgreSQL does not log an
 * unchanged out-of-line (TOAST) value, so under REPLICA IDENTITY DEFAULT
 * that create holds the unavailable-value placeholder, which the decoder
 * leaves out (sl_change.unavailable) and names the old key
 * (sl_change.carry_key).  Those cells are taken from the old key's row:
 *   - from the batch, when it holds that key's row with the cells (an
 *     upsert, or a delete that kept the upsert's cells, batch.h);
 *   - else from the stored row, which the sink reads in the write's
 *     transaction before the batch's deletes (sl_carry in batch.h).
 * A carry whose old row is gone when the write reads it (deleted by an
 * earlier write: another partition, another worker) leaves its cells
 * unfilled: counted in sluice_unavailable_values_total{table} once the
 * write commits and logged once per table, never silently.
 *
 * So that the old key's delete and the new key's create land in one batch
 * whenever this worker reads both, a delete that names the key its row
 * moves to (sl_change.new_key) holds the batch back from the early,
 * caught-up hand-off until that key's create is taken, for
 * batch.linger_ms or SL_KEY_CHANGE_WAIT_MS after the delete, whichever is
 * longer; max_rows and max_bytes still bound the batch. */
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "worker_int.h"

/* Keys awaited at most: past them a key change just does not hold the batch. */
#define MAX_AWAITED 1024

void sl_worker_carry_note(sl_worker *w, const sl_change *c)
{
    if (c->op == SL_OP_DELETE && c->new_key) {
        if (!w->awaited)
            w->awaited = json_array();
        if (!json_array_size(w->awaited))
            w->awaited_ms = sl_worker_now_ms();
        if (json_array_size(w->awaited) < MAX_AWAITED)
            json_array_append(w->awaited, c->new_key);
    } else if (c->op == SL_OP_UPSERT && c->carry_key && c->key && w->awaited) {
        for (size_t i = json_array_size(w->awaited); i-- > 0;)
            if (json_equal(json_array_get(w->awaited, i), c->key))
                json_array_remove(w->awaited, i);
    }
}

/* The column a field of the change lands in, or -1. */
static long field_column(const sl_tentry *te, const char *field)
{
    const sl_table *t = te->table;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *p = te->map.pointer ? te->map.pointer[c] : NULL;
        if (p ? (p[0] == '/' && !strcmp(p + 1, field)) : !strcmp(t->cols[c].name, field))
            return (long)c;
    }
    return -1;
}

int sl_worker_carry_prepare(sl_worker *w, sl_tentry *te, const sl_change *c, const sl_record *rec, sl_carry *out,
                            sl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!c->carry_key || !c->unavailable || c->op != SL_OP_UPSERT || !te->batch->collapse)
        return 0;
    const sl_table *t = te->table;
    sl_rowbuilder *rb = &w->rb;
    uint32_t *fill = sl_xmalloc((json_array_size(c->unavailable) + 1) * sizeof(uint32_t));
    size_t nfill = 0, i;
    json_t *f;
    json_array_foreach(c->unavailable, i, f) {
        long col = field_column(te, json_string_value(f));
        if (col < 0 || t->cols[col].in_key || t->cols[col].generated || rb->len[col] != SL_CELL_ABSENT)
            continue;
        fill[nfill++] = (uint32_t)col;
    }
    if (!nfill) {
        free(fill);
        return 0;
    }
    /* the old key's cells, mapped as a delete of that key */
    sl_change kc = {.op = SL_OP_DELETE, .value = json_copy(c->carry_key), .key = json_incref(c->carry_key),
                    .schema_id = -1};
    sl_rowbuilder kb;
    sl_rowbuilder_init(&kb);
    int rc = sl_map_change(&te->map, &kc, rec, &kb, err);
    sl_change_clear(&kc);
    if (rc) {
        sl_error_prefix(err, "the old key of a key change (header __debezium.oldkey): ");
        sl_rowbuilder_free(&kb);
        free(fill);
        return -1;
    }
    sl_row *old = sl_rowbuilder_finish(&kb, SL_OP_DELETE, rec->topic, rec->partition, rec->offset, NULL, 0, NULL, 0);
    sl_rowbuilder_free(&kb);
    /* the old key's row in this batch supplies what it holds */
    long at = sl_batch_find(te->batch, old);
    if (at >= 0) {
        const sl_row *prev = te->batch->rows[at];
        size_t keep = 0;
        for (size_t k = 0; k < nfill; k++) {
            uint32_t col = fill[k];
            if (prev->len[col] == SL_CELL_NULL)
                sl_rowbuilder_set_null(rb, col);
            else if (prev->len[col] >= 0)
                sl_rowbuilder_set(rb, col, sl_row_cell(prev, col), (size_t)prev->len[col]);
            else
                fill[keep++] = col;
        }
        nfill = keep;
    }
    if (!nfill) {
        free(fill);
        free(old);
        return 0;
    }
    out->old_key = old;
    out->fill = fill;
    out->nfill = nfill;
    return 0;
}

/* The old key of @c as "col=value, ..." for a log line. */
static void key_text(const sl_table *t, const sl_row *key, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < t->nkey && n < len; k++) {
        size_t col = t->key[k];
        const char *v = sl_row_cell(key, col);
        int m = snprintf(buf + n, len - n, "%s%s=%s", k ? ", " : "", t->cols[col].name, v ? v : "NULL");
        if (m < 0)
            break;
        n += (size_t)m;
    }
}

void sl_worker_count_unavailable(sl_worker *w, const sl_batch *b)
{
    const sl_table *t = b->table;
    int64_t cells = 0;
    const sl_carry *first = NULL;
    for (size_t i = 0; i < b->ncarries; i++) {
        const sl_carry *c = &b->carries[i];
        const sl_row *r = b->rows[c->row];
        if (c->state == SL_CARRY_FILLED || !r || r->op != SL_OP_UPSERT)
            continue;
        /* gone, or a sink that does not read stored rows: what stayed unfilled */
        int64_t n = 0;
        for (size_t k = 0; k < c->nfill; k++)
            n += r->len[c->fill[k]] == SL_CELL_ABSENT;
        if (n && !first)
            first = c;
        cells += n;
    }
    if (!cells)
        return;
    char table[512];
    snprintf(table, sizeof(table), "%s.%s", t->schema, t->name);
    sl_metrics_add(w->rt->metrics, SL_M_UNAVAILABLE, cells, table, NULL, NULL);
    for (size_t i = 0; i < w->ntables; i++) {
        sl_tentry *te = &w->tables[i];
        if (te->table != t || te->unavailable_logged)
            continue;
        te->unavailable_logged = true;
        char key[256], nkey[256];
        key_text(t, first->old_key, key, sizeof(key));
        key_text(t, b->rows[first->row], nkey, sizeof(nkey));
        log_warn(te->route->name,
                 "%s: the primary-key change from (%s) to (%s) came without its unchanged values "
                 "(the unavailable-value placeholder) and the old key's row was already gone: they are "
                 "NULL or the column default, counted in sluice_unavailable_values_total (further cases in "
                 "this table are counted, not logged). Remedy: REPLICA IDENTITY FULL on the source table "
                 "(docs/cdc.md)", t->qname, key, nkey);
        break;
    }
}
