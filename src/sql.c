/* sql.c - identifier quoting, and the lists of quoted column names every
 * statement builder uses. */
#include "sluice/sql.h"

void sl_sql_ident(sl_strbuf *sb, const char *name)
{
    sl_strbuf_putc(sb, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            sl_strbuf_putc(sb, '"');
        sl_strbuf_putc(sb, *p);
    }
    sl_strbuf_putc(sb, '"');
}

void sl_sql_qname(sl_strbuf *sb, const char *schema, const char *name)
{
    if (schema && *schema) {
        sl_sql_ident(sb, schema);
        sl_strbuf_putc(sb, '.');
    }
    sl_sql_ident(sb, name);
}

void sl_sql_ident_list(sl_strbuf *sb, const sl_table *t, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_strbuf_puts(sb, ", ");
        sl_sql_ident(sb, t->cols[idx[i]].name);
    }
}

size_t sl_sql_mask_list(sl_strbuf *sb, const sl_table *t, const bool *mask, bool skip_generated)
{
    size_t n = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        if (!mask[c] || (skip_generated && t->cols[c].generated))
            continue;
        if (n++)
            sl_strbuf_puts(sb, ", ");
        sl_sql_ident(sb, t->cols[c].name);
    }
    return n;
}

void sl_sql_create_table(sl_strbuf *sb, const sl_table *def)
{
    sl_strbuf_printf(sb, "CREATE TABLE IF NOT EXISTS %s (", def->qname);
    for (size_t i = 0; i < def->ncols; i++) {
        if (i)
            sl_strbuf_puts(sb, ", ");
        sl_sql_ident(sb, def->cols[i].name);
        /* type names come from sluice's own type mapping, never from input */
        sl_strbuf_printf(sb, " %s%s", def->cols[i].type_name, def->cols[i].not_null ? " NOT NULL" : "");
    }
    if (def->nkey) {
        sl_strbuf_puts(sb, ", PRIMARY KEY (");
        sl_sql_ident_list(sb, def, def->key, def->nkey);
        sl_strbuf_putc(sb, ')');
    }
    sl_strbuf_putc(sb, ')');
}
