/* sql.h - identifier quoting.  Values never enter SQL text: they travel as
 * parameters or COPY data.  Names (tables, columns) are always quoted here. */
#ifndef SLUICE_SQL_H
#define SLUICE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/strbuf.h"
#include "sluice/table.h"

/* sl_sql_ident() - append "name" with embedded quotes doubled. */
void sl_sql_ident(sl_strbuf *sb, const char *name);
/* sl_sql_qname() - append "schema"."name". */
void sl_sql_qname(sl_strbuf *sb, const char *schema, const char *name);

/* sl_sql_ident_list() - append "a", "b", ... : the names of @t's columns
 * @idx[0..n) (with t->key, t->nkey: the conflict key in key order). */
void sl_sql_ident_list(sl_strbuf *sb, const sl_table *t, const size_t *idx, size_t n);
/* sl_sql_mask_list() - the same for the columns whose @mask entry is set,
 * in table order, generated columns left out when @skip_generated.
 * Returns how many names it appended. */
size_t sl_sql_mask_list(sl_strbuf *sb, const sl_table *t, const bool *mask, bool skip_generated);

/* sl_sql_create_table() - append CREATE TABLE IF NOT EXISTS for @def
 * (auto_create); column type names come from sluice's type mapping. */
void sl_sql_create_table(sl_strbuf *sb, const sl_table *def);

#endif
