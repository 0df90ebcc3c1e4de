/* sql.c - identifier quoting. */
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
