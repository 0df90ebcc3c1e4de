/* batch.c - per-table pending rows, collapsed per key in upsert mode. */
#include "sluice/batch.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/strbuf.h"

sl_batch *sl_batch_new(const sl_route_conf *route, const sl_table *table)
{
    sl_batch *b = sl_xcalloc(1, sizeof(*b));
    b->route = route;
    b->table = table;
    b->collapse = route->mode != SL_MODE_INSERT && table->nkey > 0; /* upsert, update */
    /* under on_error: fail a refused row stops the worker before its batch
     * commits, and the records are read again: nothing to keep */
    b->keep = b->collapse && route->on_error != SL_ONERR_FAIL;
    b->child_index = -1;
    for (size_t c = 0; route->explode && c < table->ncols; c++)
        if (!strcmp(table->cols[c].name, route->explode_index))
            b->child_index = (long)c;
    return b;
}

static void row_free(sl_row *r)
{
    while (r) {
        sl_row *next = r->superseded;
        free(r);
        r = next;
    }
}

void sl_batch_clear(sl_batch *b)
{
    for (size_t i = 0; i < b->nrows; i++)
        row_free(b->rows[i]);
    for (size_t i = 0; i < b->ncarries; i++) {
        free(b->carries[i].old_key);
        free(b->carries[i].fill);
    }
    b->ncarries = 0;
    for (size_t i = 0; i < b->nstashes; i++)
        free(b->stashes[i].old);
    b->nstashes = 0;
    b->nrows = b->live = b->bytes = 0;
    b->truncate = false;
    if (b->slots)
        memset(b->slots, 0, b->nslots * sizeof(*b->slots));
}

void sl_batch_free(sl_batch *b)
{
    if (!b)
        return;
    sl_batch_clear(b);
    free(b->rows);
    free(b->slots);
    free(b->carries);
    free(b->stashes);
    free(b);
}

static uint64_t key_hash(const sl_batch *b, const sl_row *r)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < b->table->nkey; k++) {
        size_t c = b->table->key[k];
        int32_t len = r->len[c];
        const unsigned char *p = (const unsigned char *)r->data + r->off[c];
        h = (h ^ (uint64_t)(uint32_t)len) * 1099511628211ULL;
        for (int32_t i = 0; i < len; i++)
            h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static bool key_equal(const sl_batch *b, const sl_row *x, const sl_row *y)
{
    for (size_t k = 0; k < b->table->nkey; k++) {
        size_t c = b->table->key[k];
        if (x->len[c] != y->len[c])
            return false;
        if (x->len[c] > 0 && memcmp(x->data + x->off[c], y->data + y->off[c], (size_t)x->len[c]))
            return false;
    }
    return true;
}

static void rehash(sl_batch *b)
{
    free(b->slots);
    b->nslots = b->nslots ? b->nslots * 2 : 1024;
    b->slots = sl_xcalloc(b->nslots, sizeof(*b->slots));
    for (size_t i = 0; i < b->nrows; i++) {
        if (!b->rows[i])
            continue; /* a child of an earlier version of its parent, dropped */
        size_t s = key_hash(b, b->rows[i]) & (b->nslots - 1);
        while (b->slots[s])
            s = (s + 1) & (b->nslots - 1);
        b->slots[s] = i + 1;
    }
}

static void append(sl_batch *b, sl_row *row)
{
    if (b->nrows == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->rows = sl_xrealloc(b->rows, b->cap * sizeof(*b->rows));
    }
    b->rows[b->nrows++] = row;
    b->live++;
    b->bytes += row->size;
}

long sl_batch_find(const sl_batch *b, const sl_row *key_row)
{
    if (!b->collapse || !b->nslots)
        return -1;
    size_t s = key_hash(b, key_row) & (b->nslots - 1);
    while (b->slots[s]) {
        size_t i = b->slots[s] - 1;
        if (b->rows[i] && key_equal(b, b->rows[i], key_row))
            return (long)i;
        s = (s + 1) & (b->nslots - 1);
    }
    return -1;
}

void sl_batch_add_carry(sl_batch *b, size_t row, int32_t partition, int64_t offset, sl_row *old_key, uint32_t *fill,
                        size_t nfill)
{
    if (b->ncarries == b->carry_cap) {
        b->carry_cap = b->carry_cap ? b->carry_cap * 2 : 16;
        b->carries = sl_xrealloc(b->carries, b->carry_cap * sizeof(*b->carries));
    }
    b->carries[b->ncarries++] = (sl_carry){.row = row, .partition = partition, .offset = offset, .old_key = old_key, .fill = fill, .nfill = nfill};
}

/* @r with @c's cells from @from where @r lacks them: a new row standing
 * where @r stood (its chain and flags), or NULL when nothing was lacking. */
static sl_row *filled(const sl_carry *c, const sl_row *r, const sl_row *from)
{
    sl_rowbuilder rb;
    sl_rowbuilder_init(&rb);
    sl_rowbuilder_start(&rb, r->ncols);
    size_t n = 0;
    for (size_t k = 0; k < c->nfill; k++) {
        uint32_t col = c->fill[k];
        if (r->len[col] != SL_CELL_ABSENT || from->len[col] == SL_CELL_ABSENT)
            continue;
        if (from->len[col] == SL_CELL_NULL)
            sl_rowbuilder_set_null(&rb, col);
        else
            sl_rowbuilder_set(&rb, col, sl_row_cell(from, col), (size_t)from->len[col]);
        n++;
    }
    sl_row *now = NULL;
    if (n) {
        sl_row *cells = sl_rowbuilder_finish(&rb, SL_OP_UPSERT, r->topic, r->partition, r->offset, NULL, 0, NULL, 0);
        now = sl_row_merge(cells, r);
        free(cells);
        now->replace = r->replace;
        now->merged = r->merged;
        now->superseded = r->superseded;
    }
    sl_rowbuilder_free(&rb);
    return now;
}

void sl_batch_fill_carry(sl_batch *b, sl_carry *c, const sl_row *from)
{
    c->state = SL_CARRY_FILLED;
    sl_row *r = b->rows[c->row];
    if (!r || r->op != SL_OP_UPSERT)
        return;
    sl_row *now = filled(c, r, from);
    if (now) {
        b->bytes += now->size;
        b->bytes -= r->size;
        free(r);
        b->rows[c->row] = now;
        r = now;
    }
    /* the record rows behind the key's row (batch.h): the create's own
     * gets the cells too, for a write that applies them one by one */
    for (sl_row **pp = &r->superseded; *pp; pp = &(*pp)->superseded) {
        sl_row *rec = *pp;
        if (rec->merged || rec->op != SL_OP_UPSERT || rec->partition != c->partition || rec->offset != c->offset)
            continue;
        sl_row *f = filled(c, rec, from);
        if (f) {
            b->bytes += f->size;
            b->bytes -= rec->size;
            *pp = f;
            free(rec);
        }
        break;
    }
}

void sl_batch_add_stash(sl_batch *b, size_t row)
{
    for (size_t i = 0; i < b->nstashes; i++)
        if (b->stashes[i].row == row)
            return;
    if (b->nstashes == b->stash_cap) {
        b->stash_cap = b->stash_cap ? b->stash_cap * 2 : 16;
        b->stashes = sl_xrealloc(b->stashes, b->stash_cap * sizeof(*b->stashes));
    }
    b->stashes[b->nstashes++] = (sl_stash){.row = row};
}

void sl_batch_drop_stash(sl_batch *b, size_t row)
{
    for (size_t i = 0; i < b->nstashes; i++)
        if (b->stashes[i].row == row) {
            free(b->stashes[i].old);
            b->stashes[i] = b->stashes[--b->nstashes];
            return;
        }
}

/* A child table's row: a new version of its parent drops the rows of the
 * earlier ones (batch.h). */
static bool cell_is(const sl_row *r, size_t c, const char *text)
{
    size_t n = strlen(text);
    return r->len[c] == (int32_t)n && !memcmp(r->data + r->off[c], text, n);
}

static void child_version(sl_batch *b, sl_row *row)
{
    size_t ci = (size_t)b->child_index;
    if (row->op != SL_OP_DELETE)
        row->replace = true; /* the stored children go first */
    if (!cell_is(row, ci, "0") && !cell_is(row, ci, "-1"))
        return;
    for (size_t i = 0; i < b->nrows; i++) {
        sl_row *old = b->rows[i];
        if (!old)
            continue;
        bool same = true;
        for (size_t k = 0; k < b->table->nkey && same; k++) {
            size_t c = b->table->key[k];
            same = c == ci || (old->len[c] == row->len[c] &&
                               (old->len[c] <= 0 || !memcmp(old->data + old->off[c], row->data + row->off[c],
                                                            (size_t)old->len[c])));
        }
        if (!same)
            continue;
        for (const sl_row *r = old; r; r = r->superseded)
            b->bytes -= r->size;
        row_free(old);
        b->rows[i] = NULL;
        b->live--;
    }
}

size_t sl_batch_add(sl_batch *b, sl_row *row)
{
    if (b->child_index >= 0)
        child_version(b, row);
    if (!b->collapse) {
        append(b, row);
        return b->nrows - 1;
    }
    if ((b->nrows + 1) * 2 > b->nslots)
        rehash(b);
    size_t s = key_hash(b, row) & (b->nslots - 1);
    while (b->slots[s]) {
        size_t i = b->slots[s] - 1;
        sl_row *old = b->rows[i];
        if (old && key_equal(b, old, row)) {
            sl_row *now;
            if (row->op == SL_OP_DELETE && old->op != SL_OP_DELETE && !sl_row_covers(row, old)) {
                /* keeps the deleted row's cells for a key change (batch.h) */
                now = sl_row_merge(old, row);
                now->merged = true;
                b->bytes += now->size;
            } else if (row->op == SL_OP_DELETE) {
                now = row;
            } else if (old->op == SL_OP_DELETE) {
                row->replace = true; /* the delete runs first, then this re-creates the key */
                now = row;
            } else if (sl_row_covers(row, old)) {
                row->replace = row->replace || old->replace; /* what merging would give */
                now = row;
            } else {
                now = sl_row_merge(old, row);
                now->merged = true;
                b->bytes += now->size;
            }
            if (!b->keep) {
                if (now != row)
                    free(row);
                else
                    b->bytes += row->size;
                b->bytes -= old->size;
                free(old);
                b->rows[i] = now;
                return i;
            }
            /* the record rows stay behind the key's row; a merged row made
             * earlier is no record's and is dropped */
            if (old->merged) {
                row->superseded = old->superseded;
                b->bytes -= old->size;
                free(old);
            } else {
                row->superseded = old;
            }
            if (now != row)
                now->superseded = row;
            b->bytes += row->size;
            b->rows[i] = now;
            return i;
        }
        s = (s + 1) & (b->nslots - 1);
    }
    b->slots[s] = b->nrows + 1;
    append(b, row);
    return b->nrows - 1;
}

sl_row **sl_batch_unroll(const sl_row *row, size_t *n)
{
    size_t k = 0;
    for (const sl_row *r = row; r; r = r->superseded)
        k += !r->merged;
    sl_row **out = sl_xmalloc((k ? k : 1) * sizeof(*out));
    size_t i = k;
    for (sl_row *r = (sl_row *)row; r; r = r->superseded)
        if (!r->merged)
            out[--i] = r;
    *n = k;
    return out;
}

void sl_batch_truncate(sl_batch *b)
{
    sl_batch_clear(b);
    b->truncate = true;
}
