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
 * When the create comes in a later batch than the delete (the batch was
 * due, written before a schema change or a revoke, or the create came
 * late), the delete's write reads the old row before deleting it (a stash,
 * batch.h), and the worker keeps that row after the commit for the create,
 * whose carry is filled from it when its batch is handed over.  Kept rows
 * live in the worker's memory: a create read after a restart, or by
 * another worker, finds none (counted, as above).
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

/* An old row kept for its key change's create (sl_worker_carry_keep()). */
typedef struct sl_kept_row {
    char *target;  /* the target's name: tables of one name in two targets are two tables */
    char *table;   /* qualified name */
    char *topic;   /* the partition of the delete it was read for (the row's
                      topic points here: a part's name goes with its revoke) */
    int32_t partition;
    int64_t db;    /* held over an eager revoke: the partition's offset stored
                      in the database then, which it must resume at */
    sl_row *row;   /* every column of the table when it was read; owned */
} sl_kept_row;

static bool same_key(const sl_table *t, const sl_row *x, const sl_row *y)
{
    for (size_t k = 0; k < t->nkey; k++) {
        size_t c = t->key[k];
        if (x->len[c] != y->len[c] || (x->len[c] > 0 && memcmp(sl_row_cell(x, c), sl_row_cell(y, c), (size_t)x->len[c])))
            return false;
    }
    return true;
}

/* The kept row of @b's table's @key (in @b's target), or -1. */
static long kept_find(const sl_worker *w, const sl_batch *b, const sl_row *key)
{
    const sl_table *t = b->table;
    for (size_t i = w->nkept; i-- > 0;) {
        const sl_kept_row *k = &w->kept[i];
        if (k->row->ncols == t->ncols && !strcmp(k->table, t->qname) && !strcmp(k->target, b->route->target_name) &&
            same_key(t, k->row, key))
            return (long)i;
    }
    return -1;
}

static void kept_drop(sl_worker *w, size_t i)
{
    w->kept_bytes -= w->kept[i].row->size;
    free(w->kept[i].target);
    free(w->kept[i].table);
    free(w->kept[i].topic);
    free(w->kept[i].row);
    memmove(&w->kept[i], &w->kept[i + 1], (w->nkept - i - 1) * sizeof(*w->kept));
    w->nkept--;
}

/* The key cells of @key as "col=value, ..." for a log line. */
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

void sl_worker_carry_keep(sl_worker *w, sl_batch *b)
{
    const sl_table *t = b->table;
    for (size_t i = 0; w->nkept && i < b->ncarries; i++) {
        long at = kept_find(w, b, b->carries[i].old_key);
        if (at >= 0)
            kept_drop(w, (size_t)at);
    }
    for (size_t i = 0; i < b->nstashes; i++) {
        sl_stash *st = &b->stashes[i];
        if (!st->old)
            continue;
        long at = kept_find(w, b, st->old);
        if (at >= 0)
            kept_drop(w, (size_t)at);
        while (w->nkept && (w->nkept >= SL_KEPT_ROWS || w->kept_bytes + st->old->size > (size_t)w->cfg->batch.max_bytes))
            kept_drop(w, 0);
        if (w->nkept == w->kept_cap) {
            w->kept_cap = w->kept_cap ? w->kept_cap * 2 : 16;
            w->kept = sl_xrealloc(w->kept, w->kept_cap * sizeof(*w->kept));
        }
        char *topic = sl_xstrdup(st->old->topic ? st->old->topic : "");
        st->old->topic = topic;
        w->kept[w->nkept++] =
            (sl_kept_row){.target = sl_xstrdup(b->route->target_name), .table = sl_xstrdup(t->qname), .topic = topic,
                          .partition = st->old->partition, .row = st->old};
        w->kept_bytes += st->old->size;
        if (sl_log_enabled(SL_LOG_DEBUG)) {
            char key[256];
            key_text(t, st->old, key, sizeof(key));
            log_debug(w->ctx, "%s: the old row of (%s) kept for its key change's create (%zu kept)", t->qname, key,
                      w->nkept);
        }
        st->old = NULL;
    }
}

void sl_worker_carry_settle(sl_worker *w, sl_batch *b)
{
    for (size_t i = 0; w->nkept && i < b->ncarries; i++) {
        sl_carry *c = &b->carries[i];
        if (c->state != SL_CARRY_PENDING)
            continue;
        long at = kept_find(w, b, c->old_key);
        if (sl_log_enabled(SL_LOG_DEBUG)) {
            char key[256];
            key_text(b->table, c->old_key, key, sizeof(key));
            log_debug(w->ctx, "%s: key change from (%s) at %s[%d]@%lld: %s", b->table->qname, key,
                      b->rows[c->row] ? b->rows[c->row]->topic : "?", (int)c->partition, (long long)c->offset,
                      at < 0 ? "no kept old row, the write reads the stored one" : "filled from the kept old row");
        }
        if (at < 0)
            continue;
        sl_batch_fill_carry(b, c, w->kept[at].row); /* let go once the batch commits: a write given up reads it again */
    }
}

void sl_worker_carry_forget(sl_worker *w)
{
    while (w->nkept)
        kept_drop(w, w->nkept - 1);
    w->kept_held = false;
}

/* The entry of @k's partition in @l, or NULL. */
static const rd_kafka_topic_partition_t *listed(const rd_kafka_topic_partition_list_t *l, const sl_kept_row *k)
{
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].partition == k->partition && !strcmp(l->elems[i].topic, k->topic))
            return &l->elems[i];
    return NULL;
}

void sl_worker_carry_revoke(sl_worker *w, const rd_kafka_topic_partition_list_t *l, bool eager)
{
    for (size_t i = w->nkept; i-- > 0;) {
        sl_kept_row *k = &w->kept[i];
        if (!eager) {
            if (listed(l, k))
                kept_drop(w, i);
            continue;
        }
        const sl_part *p = sl_parts_find(&w->parts, k->topic, k->partition);
        k->db = p && !p->unknown ? p->db : -1;
    }
    w->kept_held = eager && w->nkept > 0; /* until the assignment that follows */
}

void sl_worker_carry_assign(sl_worker *w, const rd_kafka_topic_partition_list_t *l)
{
    if (!w->kept_held)
        return;
    w->kept_held = false;
    size_t before = w->nkept;
    for (size_t i = w->nkept; i-- > 0;) {
        const rd_kafka_topic_partition_t *tp = listed(l, &w->kept[i]);
        if (!tp || w->kept[i].db < 0 || tp->offset != w->kept[i].db)
            kept_drop(w, i);
    }
    log_debug(w->ctx, "%zu of %zu kept old rows of key changes stay: their partitions came back where they were",
              w->nkept, before);
}

void sl_worker_carry_free(sl_worker *w)
{
    sl_worker_carry_forget(w);
    free(w->kept);
}

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
        sl_batch_drop_stash(te->batch, (size_t)at); /* its create is here: nothing to keep for it */
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
