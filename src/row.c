/* row.c - building rows into one allocation each. */
#include "sluice/row.h"

#include <stdlib.h>
#include <string.h>

void sl_rowbuilder_init(sl_rowbuilder *b)
{
    memset(b, 0, sizeof(*b));
}

void sl_rowbuilder_start(sl_rowbuilder *b, uint32_t ncols)
{
    if (ncols > b->cap) {
        b->len = sl_xrealloc(b->len, ncols * sizeof(*b->len));
        b->off = sl_xrealloc(b->off, ncols * sizeof(*b->off));
        b->cap = ncols;
    }
    b->ncols = ncols;
    for (uint32_t i = 0; i < ncols; i++) {
        b->len[i] = SL_CELL_ABSENT;
        b->off[i] = 0;
    }
    sl_strbuf_reset(&b->bytes);
}

sl_strbuf *sl_rowbuilder_cell_begin(sl_rowbuilder *b, uint32_t i)
{
    b->off[i] = (uint32_t)b->bytes.len;
    return &b->bytes;
}

void sl_rowbuilder_cell_end(sl_rowbuilder *b, uint32_t i)
{
    b->len[i] = (int32_t)(b->bytes.len - b->off[i]);
    sl_strbuf_putc(&b->bytes, '\0');
}

void sl_rowbuilder_set(sl_rowbuilder *b, uint32_t i, const char *data, size_t len)
{
    sl_strbuf *sb = sl_rowbuilder_cell_begin(b, i);
    sl_strbuf_append(sb, data, len);
    sl_rowbuilder_cell_end(b, i);
}

void sl_rowbuilder_set_null(sl_rowbuilder *b, uint32_t i)
{
    b->len[i] = SL_CELL_NULL;
}

static sl_row *row_alloc(uint32_t ncols, size_t bytes)
{
    size_t hdr = sizeof(sl_row) + ncols * (sizeof(int32_t) + sizeof(uint32_t));
    hdr = (hdr + 7) & ~(size_t)7;
    sl_row *r = sl_xmalloc(hdr + bytes + 8);
    memset(r, 0, sizeof(*r));
    r->ncols = ncols;
    r->size = (uint32_t)(hdr + bytes + 8);
    r->len = (int32_t *)(r + 1);
    r->off = (uint32_t *)(r->len + ncols);
    /* data[] starts right after the header struct; cells live past the arrays */
    return r;
}

sl_row *sl_rowbuilder_finish(sl_rowbuilder *b, sl_op op, const char *topic, int32_t partition,
                             int64_t offset, const void *src_key, size_t src_key_len,
                             const void *src_value, size_t src_value_len)
{
    size_t extra = (src_key ? src_key_len + 1 : 0) + (src_value ? src_value_len + 1 : 0);
    sl_row *r = row_alloc(b->ncols, b->bytes.len + extra);
    /* cell offsets are relative to r->data; the arrays occupy its front */
    size_t base = (size_t)((char *)(r->off + b->ncols) - r->data);
    base = (base + 7) & ~(size_t)7;
    r->op = op;
    r->topic = topic;
    r->partition = partition;
    r->offset = offset;
    memcpy(r->len, b->len, b->ncols * sizeof(int32_t));
    for (uint32_t i = 0; i < b->ncols; i++)
        r->off[i] = (uint32_t)base + b->off[i];
    if (b->bytes.len)
        memcpy(r->data + base, b->bytes.data, b->bytes.len);
    char *p = r->data + base + b->bytes.len;
    if (src_key) {
        r->src_key = p;
        r->src_key_len = (uint32_t)src_key_len;
        memcpy(p, src_key, src_key_len);
        p += src_key_len + 1;
    }
    if (src_value) {
        r->src_value = p;
        r->src_value_len = (uint32_t)src_value_len;
        memcpy(p, src_value, src_value_len);
    }
    return r;
}

void sl_rowbuilder_free(sl_rowbuilder *b)
{
    free(b->len);
    free(b->off);
    sl_strbuf_free(&b->bytes);
    memset(b, 0, sizeof(*b));
}

bool sl_row_covers(const sl_row *later, const sl_row *earlier)
{
    for (uint32_t i = 0; i < later->ncols; i++)
        if (later->len[i] == SL_CELL_ABSENT && earlier->len[i] != SL_CELL_ABSENT)
            return false;
    return true;
}

sl_row *sl_row_merge(const sl_row *earlier, const sl_row *later)
{
    /* each cell from @later unless absent there: sized first, then one allocation */
    uint32_t n = later->ncols;
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        const sl_row *from = later->len[i] != SL_CELL_ABSENT ? later : earlier;
        if (from->len[i] >= 0)
            bytes += (size_t)from->len[i] + 1;
    }
    size_t extra = (later->src_key ? later->src_key_len + 1 : 0) + (later->src_value ? later->src_value_len + 1 : 0);
    sl_row *r = row_alloc(n, bytes + extra);
    size_t base = (size_t)((char *)(r->off + n) - r->data);
    base = (base + 7) & ~(size_t)7;
    r->op = later->op;
    r->topic = later->topic;
    r->partition = later->partition;
    r->offset = later->offset;
    r->replace = earlier->replace || later->replace;
    char *p = r->data + base;
    for (uint32_t i = 0; i < n; i++) {
        const sl_row *from = later->len[i] != SL_CELL_ABSENT ? later : earlier;
        r->len[i] = from->len[i];
        r->off[i] = 0;
        if (from->len[i] >= 0) {
            r->off[i] = (uint32_t)(p - r->data);
            memcpy(p, from->data + from->off[i], (size_t)from->len[i]);
            p[from->len[i]] = '\0';
            p += from->len[i] + 1;
        }
    }
    if (later->src_key) {
        r->src_key = p;
        r->src_key_len = later->src_key_len;
        memcpy(p, later->src_key, later->src_key_len);
        p += later->src_key_len + 1;
    }
    if (later->src_value) {
        r->src_value = p;
        r->src_value_len = later->src_value_len;
        memcpy(p, later->src_value, later->src_value_len);
    }
    return r;
}
