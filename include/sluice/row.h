/* row.h - a mapped row: one cell per table column, in the text form that
 * PostgreSQL's input functions (and COPY's text format) accept, each
 * NUL-terminated.  One allocation per row; the batch owns it. */
#ifndef SLUICE_ROW_H
#define SLUICE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/decoder.h"
#include "sluice/strbuf.h"

#define SL_CELL_NULL   (-1) /* SQL NULL */
#define SL_CELL_ABSENT (-2) /* not supplied: keep on update, default on insert */

typedef struct sl_row {
    sl_op op;              /* SL_OP_UPSERT or SL_OP_DELETE */
    bool replace;          /* upsert that follows a delete of the same key in one batch:
                              the old row goes first, absent cells take defaults */
    bool merged;           /* made by sl_row_merge() in a batch: no record's own row */
    struct sl_row *superseded; /* the record rows of the same key this one collapsed in its
                              batch, latest first; kept (owned) so that a write refusing
                              this row can apply them one by one (sl_batch_unroll()) */
    uint32_t ncols;
    uint32_t size;         /* bytes of this allocation (for batch.max_bytes) */
    const char *topic;     /* where the row came from (interned, not owned) */
    int32_t partition;
    int64_t offset;
    int32_t *len;          /* ncols lengths: >= 0, SL_CELL_NULL or SL_CELL_ABSENT */
    uint32_t *off;         /* ncols offsets into data */
    void *src_key;         /* the original record bytes, kept only for on_error: dlq */
    uint32_t src_key_len;  /* (points into data; NULL when not kept) */
    void *src_value;
    uint32_t src_value_len;
    char data[];
} sl_row;

static inline const char *sl_row_cell(const sl_row *r, size_t i)
{
    return r->len[i] >= 0 ? r->data + r->off[i] : NULL;
}

/* Building a row: reusable scratch, one per worker. */
typedef struct sl_rowbuilder {
    uint32_t ncols;
    int32_t *len;
    uint32_t *off;
    size_t cap;
    sl_strbuf bytes;
} sl_rowbuilder;

void sl_rowbuilder_init(sl_rowbuilder *b);
void sl_rowbuilder_start(sl_rowbuilder *b, uint32_t ncols); /* every cell ABSENT */
/* sl_rowbuilder_cell_begin() - start cell @i; append its bytes to the
 * returned buffer, then call sl_rowbuilder_cell_end(). */
sl_strbuf *sl_rowbuilder_cell_begin(sl_rowbuilder *b, uint32_t i);
void sl_rowbuilder_cell_end(sl_rowbuilder *b, uint32_t i);
void sl_rowbuilder_set(sl_rowbuilder *b, uint32_t i, const char *data, size_t len);
void sl_rowbuilder_set_null(sl_rowbuilder *b, uint32_t i);
/* sl_rowbuilder_finish() - copy into a new sl_row; @src_key/@src_value are
 * kept in it when non-NULL. */
sl_row *sl_rowbuilder_finish(sl_rowbuilder *b, sl_op op, const char *topic, int32_t partition,
                             int64_t offset, const void *src_key, size_t src_key_len,
                             const void *src_value, size_t src_value_len);
void sl_rowbuilder_free(sl_rowbuilder *b);

/* sl_row_merge() - @later applied on top of @earlier (same key): cells absent
 * from @later are taken from @earlier.  Returns a new row; frees neither. */
sl_row *sl_row_merge(const sl_row *earlier, const sl_row *later);
/* sl_row_covers() - true when @later supplies every cell @earlier does, so
 * that merging them gives @later's cells (only `replace` may differ). */
bool sl_row_covers(const sl_row *later, const sl_row *earlier);

#endif
