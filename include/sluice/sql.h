/* sql.h - identifier quoting.  Values never enter SQL text: they travel as
 * parameters or COPY data.  Names (tables, columns) are always quoted here. */
#ifndef SLUICE_SQL_H
#define SLUICE_SQL_H

#include <stddef.h>

#include "sluice/strbuf.h"
#include "sluice/table.h"

/* sl_sql_ident() - append "name" with embedded quotes doubled. */
void sl_sql_ident(sl_strbuf *sb, const char *name);
/* sl_sql_qname() - append "schema"."name". */
void sl_sql_qname(sl_strbuf *sb, const char *schema, const char *name);

/* sl_sql_create_table() - append CREATE TABLE IF NOT EXISTS for @def
 * (auto_create); column type names come from sluice's type mapping. */
void sl_sql_create_table(sl_strbuf *sb, const sl_table *def);

#endif
