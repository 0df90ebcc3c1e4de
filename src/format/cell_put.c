/* cell_put.c - the direct readers' (avro_cells.c, protobuf_cells.c) common
 * rules for one value into one cell, the same conversions mapping.c makes:
 * each returns false, writing nothing final, where mapping.c would convert
 * differently or refuse, so that the reader declines the record. */
#include <math.h>
#include <string.h>

#include "cell_put_int.h"
#include "sluice/textfmt.h"

bool sl_cell_no_nul(const unsigned char *s, size_t n)
{
    return !memchr(s, '\0', n);
}

static bool hex_text(const unsigned char *s, size_t n)
{
    if (n < 2 || s[0] != '\\' || s[1] != 'x')
        return false;
    for (size_t i = 2; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* A string value (UTF-8, no NUL) that the column takes as it is. */
bool sl_cell_string_fits(const sl_column *col, const unsigned char *s, size_t n)
{
    switch (col->type) {
    case SL_COL_TEXT:
    case SL_COL_OTHER:
        return true;
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
    case SL_COL_DATE:
        return sl_text_is_date((const char *)s, n);
    case SL_COL_TIME:
        return sl_text_is_time((const char *)s, n);
    case SL_COL_UUID:
        return sl_text_is_uuid((const char *)s, n);
    case SL_COL_BYTEA:
        return hex_text(s, n); /* else mapping.c writes the text's bytes in hex */
    default:
        return false;
    }
}

bool sl_cell_put_string(sl_rowbuilder *b, uint32_t i, const sl_column *col, const unsigned char *s, size_t n)
{
    if (!sl_cell_no_nul(s, n) || !sl_cell_string_fits(col, s, n))
        return false;
    sl_rowbuilder_set(b, i, (const char *)s, n);
    return true;
}

/* Text that a decoder makes of a value (a logical type, bytes as hex) and
 * the column takes as a string: written into the cell, then judged there. */
bool sl_cell_end_text(sl_rowbuilder *b, uint32_t i, const sl_column *col)
{
    sl_strbuf *sb = &b->bytes;
    const unsigned char *s = (const unsigned char *)sb->data + b->off[i];
    size_t n = sb->len - b->off[i];
    if (!sl_cell_string_fits(col, s, n))
        return false;
    sl_rowbuilder_cell_end(b, i);
    return true;
}

/* An integer the format has no other meaning for: the rule every format shares (textfmt.h). */
bool sl_cell_put_integer(sl_rowbuilder *b, uint32_t i, const sl_column *col, sl_epoch_unit epoch, int64_t x)
{
    if (sl_fmt_integer_cell(sl_rowbuilder_cell_begin(b, i), x, col->type, epoch) != SL_INTCELL_OK)
        return false;
    sl_rowbuilder_cell_end(b, i);
    return true;
}

bool sl_cell_put_real(sl_rowbuilder *b, uint32_t i, const sl_column *col, double d)
{
    if (!isfinite(d))
        return false; /* the general path spells these as strings */
    switch (col->type) {
    case SL_COL_NUMERIC:
    case SL_COL_FLOAT4:
    case SL_COL_FLOAT8:
    case SL_COL_TEXT:
    case SL_COL_OTHER:
        sl_fmt_double(sl_rowbuilder_cell_begin(b, i), d);
        sl_rowbuilder_cell_end(b, i);
        return true;
    default:
        return false;
    }
}

