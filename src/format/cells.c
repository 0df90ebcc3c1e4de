/* cells.c - the direct readers behind one seam (cells.h). */
#include "sluice/cells.h"

#include <stdlib.h>
#include <string.h>

struct sl_cells {
    const sl_cells_ops *ops;
    void *r;
};

bool sl_cells_plain(const sl_mapping *m)
{
    if (sl_keyformat_registry(m->route->key_format) || m->soft_delete_col >= 0 || m->table->ncols == 0)
        return false;
    for (size_t i = 0; i < m->table->ncols; i++)
        if (m->pointer[i] || m->meta[i])
            return false;
    return true;
}

sl_cells *sl_cells_new(const sl_mapping *m, struct sl_registry *reg)
{
    const sl_format_ops *f = sl_format_lookup(m->route->format);
    /* a route with transforms: its values are not the record's; a reader
     * that does not read the chain into cells leaves every record to the
     * general path (decode, transform, map) */
    if (!f || !f->cells || (m->route->chain && !f->cells->transforms))
        return NULL;
    void *r = f->cells->new(m, reg);
    if (!r)
        return NULL;
    sl_cells *c = sl_xcalloc(1, sizeof(*c));
    c->ops = f->cells;
    c->r = r;
    return c;
}

void sl_cells_free(sl_cells *c)
{
    if (!c)
        return;
    c->ops->free(c->r);
    free(c);
}

int sl_cells_map(sl_cells *c, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    return c->ops->map(c->r, d, rec, b);
}

int sl_cells_names_of(sl_decoder *d, const sl_record *rec, sl_cells_names *out)
{
    const sl_format_ops *f = sl_format_lookup(d->route->format);
    memset(out, 0, sizeof(*out));
    return f && f->cells && f->cells->names ? f->cells->names(d, rec, out) : 0;
}

void sl_cells_learn(sl_cells *c, const sl_change *ch)
{
    if (c->ops->learn)
        c->ops->learn(c->r, ch);
}
