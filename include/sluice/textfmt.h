/* textfmt.h - canonical text of typed values (the decoder.h conventions),
 * shared by the decoders and the mapper: dates, times, timestamps,
 * decimals, bytes, and base64; and the light checks that decide whether a
 * string goes into a date, time or uuid column as it is.  Dates use the proleptic Gregorian calendar;
 * years before 1 are written the PostgreSQL way, "0001-01-01 BC". */
#ifndef SLUICE_TEXTFMT_H
#define SLUICE_TEXTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/config.h"
#include "sluice/strbuf.h"
#include "sluice/table.h"

/* sl_days_from_civil() - proleptic Gregorian @y-@m-@d as days since
 * 1970-01-01 (@m 1..12, @d 1..31). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
/* sl_fmt_date() - days since 1970-01-01: "1969-12-31". */
void sl_fmt_date(sl_strbuf *out, int64_t days);
/* sl_fmt_time_us() - microseconds since midnight: "13:45:10.500000". */
void sl_fmt_time_us(sl_strbuf *out, int64_t us);
/* sl_fmt_timestamp_us() - microseconds since the epoch:
 * "2024-05-01T12:00:00.123456Z" (@utc) or without the zone. */
void sl_fmt_timestamp_us(sl_strbuf *out, int64_t us, bool utc);
/* sl_fmt_int() - as "%" PRId64 writes it. */
void sl_fmt_int(sl_strbuf *out, int64_t x);
/* sl_utf8_seq() - the length of the well-formed UTF-8 sequence (RFC 3629:
 * no overlong forms, no encoded UTF-16 surrogates, nothing past U+10FFFF)
 * that starts at @p, of the @avail bytes there; 0 when it is ill-formed.
 * The one UTF-8 rule of sluice: jansson, which the general path uses,
 * refuses the same sequences. */
static inline size_t sl_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below U+0800 */
        else if (c == 0xed)
            hi = 0x9f; /* U+D800..U+DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte first, 0xc0, 0xc1, 0xf5.. */
    }
    if (avail < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* sl_utf8_strict() - every byte sequence of @s is well-formed UTF-8
 * (sl_utf8_seq()), as jansson requires; the direct readers and
 * CrateDB's JSON bodies check with this. */
static inline bool sl_utf8_strict(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ULL))) {
            i += 8; /* eight ASCII bytes */
            continue;
        }
        size_t len = sl_utf8_seq(s + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

/* What sl_fmt_integer_cell() did with an integer. */
typedef enum sl_intcell {
    SL_INTCELL_OK,    /* its text is appended */
    SL_INTCELL_RANGE, /* out of the column's range: nothing appended */
    SL_INTCELL_TYPE,  /* the column's type takes no integer as such: nothing appended */
} sl_intcell;

/* sl_fmt_integer_cell() (defined at the end of this header) - the one rule for an integer from a record put
 * into a column of @type, whichever format it came in (mapping.c, and the
 * direct readers format/json_cells.c and format/avro_cells.c): smallint and
 * integer within their range; bigint, numeric, real, double, text and
 * other as they are; boolean 0 or 1; timestamps an epoch number in @epoch
 * units; time of day the same units since midnight; a date days since
 * 1970-01-01.  Other types: SL_INTCELL_TYPE, their caller decides. */

/* sl_fmt_double() - the shortest of %.15g, %.16g and %.17g that reads back
 * as @d: 21.7, not 21.699999999999999. */
void sl_fmt_double(sl_strbuf *out, double d);
/* Bounds on decimals from data.  A scale beyond PostgreSQL's numeric (16383
 * digits after the point; the same bound applies to a negative scale) cannot
 * be stored anyway; an unscaled value of more
 * than 1024 significant bytes (2466 digits, more than numeric's declared
 * precision limit of 1000 allows) is refused rather than converted. */
#define SL_DECIMAL_MAX_SCALE 16383
#define SL_DECIMAL_MAX_BYTES 1024

/* sl_fmt_decimal() - a big-endian two's-complement unscaled integer of @n
 * bytes with @scale digits after the point, exactly: "-12.3400"; a
 * negative @scale multiplies by 10^-scale ("1200" for 12 and -2).
 * Return: 0, or -1 (nothing written) when |@scale| exceeds
 * SL_DECIMAL_MAX_SCALE or the value has more than SL_DECIMAL_MAX_BYTES
 * significant bytes. */
int sl_fmt_decimal(sl_strbuf *out, const unsigned char *be, size_t n, int64_t scale);
/* sl_fmt_hex() - bytes as PostgreSQL's bytea hex text: "\\x00ff". */
void sl_fmt_hex(sl_strbuf *out, const void *p, size_t n);
/* sl_fmt_base64() - @n bytes as RFC 4648 base64, standard alphabet, padded. */
void sl_fmt_base64(sl_strbuf *out, const void *p, size_t n);
/* sl_base64_decode() - RFC 4648 base64 (standard or URL alphabet, padding
 * optional) of @n chars into @out (room for 3n/4 bytes); -1 on bad input. */
long sl_base64_decode(const char *s, size_t n, unsigned char *out);

/* sl_fmt_hex_base64() - base64 text @s of @n chars as bytea hex text
 * (sl_fmt_hex of its bytes).  Return: 0, or -1 (nothing written) when @s
 * is not base64. */
int sl_fmt_hex_base64(sl_strbuf *out, const char *s, size_t n);

/* Light checks of a string bound for a typed column, the same for the
 * general mapper and the direct readers: they catch what is clearly not a
 * date, time or uuid, so that the error names the record; PostgreSQL's input
 * function has the last word.  @s need not be NUL-terminated. */
/* sl_text_is_date() - "YYYY-MM-DD..." or (-)infinity: date and timestamp columns. */
bool sl_text_is_date(const char *s, size_t n);
/* sl_text_is_time() - "HH:MM...": time columns. */
bool sl_text_is_time(const char *s, size_t n);
/* sl_text_is_uuid() - 32 hex digits, with any '-', '{' and '}'. */
bool sl_text_is_uuid(const char *s, size_t n);

/* sl_fmt_integer_cell() is defined here, inline: the direct readers call it
 * per cell (declared above with sl_intcell). */
static inline sl_intcell sl_fmt_integer_cell(sl_strbuf *out, int64_t x, sl_coltype type, sl_epoch_unit epoch)
{
    static const int64_t mul[] = {[SL_EPOCH_S] = 1000000, [SL_EPOCH_MS] = 1000, [SL_EPOCH_US] = 1};
    switch (type) {
    case SL_COL_INT2:
        if (x < -32768 || x > 32767)
            return SL_INTCELL_RANGE;
        break;
    case SL_COL_INT4:
        if (x < INT32_MIN || x > INT32_MAX)
            return SL_INTCELL_RANGE;
        break;
    case SL_COL_INT8:
    case SL_COL_NUMERIC:
    case SL_COL_FLOAT4:
    case SL_COL_FLOAT8:
    case SL_COL_TEXT:
    case SL_COL_OTHER:
        break;
    case SL_COL_BOOL:
        if (x != 0 && x != 1)
            return SL_INTCELL_RANGE;
        sl_strbuf_putc(out, x ? 't' : 'f');
        return SL_INTCELL_OK;
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
    case SL_COL_TIME: {
        int64_t k = mul[epoch];
        if (x > INT64_MAX / k || x < INT64_MIN / k)
            return SL_INTCELL_RANGE; /* the product would overflow */
        int64_t us = x * k;
        if (type == SL_COL_TIME) {
            if (us < 0 || us > 86400000000LL)
                return SL_INTCELL_RANGE;
            sl_fmt_time_us(out, us);
        } else {
            sl_fmt_timestamp_us(out, us, type == SL_COL_TIMESTAMPTZ);
        }
        return SL_INTCELL_OK;
    }
    case SL_COL_DATE:
        if (x > 100000000 || x < -100000000)
            return SL_INTCELL_RANGE;
        sl_fmt_date(out, x);
        return SL_INTCELL_OK;
    default:
        return SL_INTCELL_TYPE;
    }
    sl_fmt_int(out, x);
    return SL_INTCELL_OK;
}

#endif
