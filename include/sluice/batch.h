/* batch.h - the rows bound for one table since the last flush.  In upsert
 * mode rows collapse per key in offset order (last write wins, a partial row
 * merges into the one before it, a delete followed by an upsert re-creates),
 * so each key is written once.  When a refused row goes to a dead letter
 * or is skipped, the record rows a key's row stands for are kept with it
 * (counted in bytes) for a write that must apply them one by one.  A
 * truncate empties the batch and is applied first.  In insert mode rows are
 * kept in order.  A delete that follows an upsert of its key keeps that
 * upsert's cells (only the key is used to delete), so that a key change
 * later in the batch can take them over. */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/config.h"
#include "sluice/row.h"
#include "sluice/table.h"

/* A row re-created under a new key (a primary-key change) without some of
 * its values, which the source did not send because they did not change
 * (Debezium's unchanged-TOAST placeholder): cells `fill` of rows[row] come
 * from the stored row of `old_key` (src/worker/carry.c), read by the sink in
 * the write's transaction before the batch's deletes. */
typedef enum sl_carry_state {
    SL_CARRY_PENDING = 0, /* not yet read */
    SL_CARRY_FILLED,      /* filled from the stored row, or nothing left to fill */
    SL_CARRY_GONE,        /* the old key has no stored row: the cells stay unfilled */
} sl_carry_state;

typedef struct sl_carry {
    size_t row;           /* index into rows (slots keep their index while rows collapse) */
    int32_t partition;    /* the create's own record (its row in a merged row's chain) */
    int64_t offset;
    struct sl_row *old_key; /* the old key's cells (the key columns), owned */
    uint32_t *fill;       /* column indexes, owned */
    size_t nfill;
    sl_carry_state state;
} sl_carry;

/* A key change's delete whose create is not in the batch: before deleting,
 * the sink reads the old key's stored row into `old` (every column, the
 * cells the delete row kept over them), which the worker keeps after the
 * commit for the create that a later batch brings (src/worker/carry.c). */
typedef struct sl_stash {
    size_t row;           /* index into rows of the delete */
    struct sl_row *old;   /* read by the sink, or NULL; owned */
} sl_stash;

typedef struct sl_batch {
    const sl_route_conf *route;
    const sl_table *table;
    bool collapse;        /* upsert mode with a key */
    bool keep;            /* collapse, and a refused row goes on (on_error dlq or skip):
                             the record rows behind each key's row are kept */
    bool truncate;        /* truncate the table before writing the rows */
    sl_row **rows;        /* NULL holes are allowed (removed by collapsing) */
    size_t nrows;
    size_t cap;
    size_t live;          /* non-NULL rows */
    size_t bytes;         /* sum of row sizes */
    size_t *slots;        /* open-addressing key index: rows index + 1, 0 = empty */
    size_t nslots;
    sl_carry *carries;
    size_t ncarries, carry_cap;
    /* a child table (routes[].explode, src/worker/explode.c): the index of
     * its explode_index column, -1 otherwise.  Its key is the parent's key
     * columns and that one.  Each upsert row deletes the parent's stored
     * children before it is written (replace), and a row at index 0, or
     * the delete at index -1 that stands for a parent without children,
     * starts a new version of the parent: the rows of its earlier versions
     * leave the batch. */
    long child_index;
    sl_stash *stashes;
    size_t nstashes, stash_cap;
} sl_batch;

sl_batch *sl_batch_new(const sl_route_conf *route, const sl_table *table);
void sl_batch_free(sl_batch *b);
/* sl_batch_add() - take ownership of @row.  Return: the index in rows
 * where it (or what it collapsed into) is. */
size_t sl_batch_add(sl_batch *b, sl_row *row);
/* sl_batch_find() - the index of the row of @key_row's key (upsert mode),
 * or -1. */
long sl_batch_find(const sl_batch *b, const sl_row *key_row);
/* sl_batch_add_carry() - cells @fill (@nfill of them) of rows[@row] come
 * from the stored row of @old_key; the create is the record at @partition,
 * @offset.  Takes ownership of @old_key and @fill. */
void sl_batch_add_carry(sl_batch *b, size_t row, int32_t partition, int64_t offset, sl_row *old_key, uint32_t *fill,
                        size_t nfill);
/* sl_batch_fill_carry() - @c's cells taken from @from where rows[c->row]
 * lacks them; the row is replaced, and so is the create's own record row
 * in a merged row's chain (unrolled, it must bring them too).  Marks @c
 * filled. */
void sl_batch_fill_carry(sl_batch *b, sl_carry *c, const sl_row *from);
/* sl_batch_add_stash() - rows[@row] is a key change's delete whose create
 * is still to come; sl_batch_drop_stash(): it came. */
void sl_batch_add_stash(sl_batch *b, size_t row);
void sl_batch_drop_stash(sl_batch *b, size_t row);
void sl_batch_truncate(sl_batch *b);
/* sl_batch_unroll() - the record rows that @row (a row of a collapsing
 * batch) stands for, oldest first, in a new array (the caller frees it, not
 * the rows); their number in @n.  A write that refuses @row applies these
 * one by one instead, so that the records of a key before a refused one
 * are not lost with it. */
sl_row **sl_batch_unroll(const sl_row *row, size_t *n);
/* sl_batch_clear() - free every row; keep the allocation for reuse. */
void sl_batch_clear(sl_batch *b);
static inline bool sl_batch_empty(const sl_batch *b) { return b->live == 0 && !b->truncate; }

#endif
