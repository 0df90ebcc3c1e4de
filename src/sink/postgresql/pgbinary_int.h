/* pgbinary_int.h - cells in PostgreSQL's binary COPY format, for the column
 * types whose binary form sluice can produce exactly as PostgreSQL's own
 * input function would read the cell's text. */
#ifndef SLUICE_PGBINARY_INT_H
#define SLUICE_PGBINARY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/strbuf.h"
#include "sluice/table.h"

typedef enum {
    SL_PGBIN_NONE = 0, /* no binary form: the COPY goes as text */
    SL_PGBIN_TEXT,
    SL_PGBIN_INT2,
    SL_PGBIN_INT4,
    SL_PGBIN_INT8,
    SL_PGBIN_FLOAT8,
    SL_PGBIN_BOOL,
    SL_PGBIN_TIMESTAMPTZ,
    SL_PGBIN_NUMERIC,
    SL_PGBIN_JSONB,
} sl_pgbin_kind;

/* sl_pgbin_kind_of() - the binary form of column @c, from its declared type
 * (format_type's name: a domain or varchar(n) has none; json goes as text,
 * numeric(p,s) as numeric, whose binary input applies the typmod as
 * numeric_in() does). */
sl_pgbin_kind sl_pgbin_kind_of(const sl_column *c);

/* sl_pgbin_header() / sl_pgbin_trailer() - the COPY stream's start and end;
 * sl_pgbin_row() - a tuple's field count. */
void sl_pgbin_header(sl_strbuf *out);
void sl_pgbin_trailer(sl_strbuf *out);
void sl_pgbin_row(sl_strbuf *out, int nfields);

/* sl_pgbin_null() - a NULL field. */
void sl_pgbin_null(sl_strbuf *out);

/* sl_pgbin_int4() / sl_pgbin_bool() - fields sluice makes itself. */
void sl_pgbin_int4(sl_strbuf *out, int32_t v);
void sl_pgbin_bool(sl_strbuf *out, bool v);

/* sl_pgbin_cell() - the field for the text @s (@n bytes, NUL-terminated) of
 * a column of kind @k.  False, writing nothing, when the text is not in the
 * plain form sluice converts (leading blanks, "+1", "true", "NaN", "1e3"
 * for a numeric, a timestamp without its offset, a value out of range, a
 * NUL byte, ...): the caller then
 * sends the whole COPY as text and PostgreSQL judges the cell. */
bool sl_pgbin_cell(sl_strbuf *out, sl_pgbin_kind k, const char *s, size_t n);

/* sl_pgbin_parse_timestamptz() - microseconds since 2000-01-01 00:00 UTC of
 * "YYYY-MM-DD(T| )HH:MM:SS[.f{1,6}](Z|+HH|-HH|+HH:MM|-HH:MM)"; false for
 * anything else (exposed for tests). */
bool sl_pgbin_parse_timestamptz(const char *s, size_t n, int64_t *us);

#endif
