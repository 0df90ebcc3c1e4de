/* pgbinary.c - cells in PostgreSQL's binary COPY format (see pgbinary_int.h).
 *
 * PostgreSQL parses binary integers, doubles, numerics and timestamps with
 * less work than their text.  A cell is converted only when its text is in
 * the plain form whose value is certain: integers without sign or blanks
 * beyond a leading minus, decimals read by strtod() as float8in does,
 * numerics as [-]digits[.digits] (their base-10000 digits, weight and
 * display scale as numeric_in() finds them), "t" and "f", ISO timestamps
 * with an explicit offset; text, json and jsonb go as their text (jsonb's
 * after its format version, 1), which the server parses as it would in a
 * text COPY.  Anything else makes the caller fall back to a text COPY,
 * where PostgreSQL's input functions decide. */
#include "pgbinary_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

sl_pgbin_kind sl_pgbin_kind_of(const sl_column *c)
{
    static const struct {
        const char *name;
        sl_pgbin_kind kind;
    } kinds[] = {
        {"text", SL_PGBIN_TEXT},
        {"smallint", SL_PGBIN_INT2},
        {"integer", SL_PGBIN_INT4},
        {"bigint", SL_PGBIN_INT8},
        {"double precision", SL_PGBIN_FLOAT8},
        {"boolean", SL_PGBIN_BOOL},
        {"timestamp with time zone", SL_PGBIN_TIMESTAMPTZ},
        {"numeric", SL_PGBIN_NUMERIC},
        {"json", SL_PGBIN_TEXT},
        {"jsonb", SL_PGBIN_JSONB},
    };
    if (!c->type_name)
        return SL_PGBIN_NONE;
    /* numeric(p) and numeric(p,s): numeric_recv() applies the column's
     * typmod as numeric_in() does (an array of them has no binary form here) */
    const char *t = c->type_name;
    if (!strncmp(t, "numeric(", 8)) {
        t += 8 + strspn(t + 8, "0123456789");
        if (*t == ',')
            t += 1 + strspn(t + 1, "0123456789");
        if (!strcmp(t, ")"))
            return SL_PGBIN_NUMERIC;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(c->type_name, kinds[i].name))
            return kinds[i].kind;
    return SL_PGBIN_NONE;
}

/* @v's low @bytes bytes, most significant first (network order) */
static inline void be(sl_strbuf *out, uint64_t v, int bytes)
{
    sl_strbuf_reserve(out, (size_t)bytes);
    unsigned char *b = (unsigned char *)out->data + out->len;
    for (int i = bytes - 1; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    out->len += (size_t)bytes;
    out->data[out->len] = '\0';
}

void sl_pgbin_header(sl_strbuf *out)
{
    sl_strbuf_append(out, "PGCOPY\n\377\r\n\0", 11);
    be(out, 0, 4); /* flags */
    be(out, 0, 4); /* header extension length */
}

void sl_pgbin_trailer(sl_strbuf *out)
{
    be(out, 0xffff, 2);
}

void sl_pgbin_row(sl_strbuf *out, int nfields)
{
    be(out, (uint64_t)nfields, 2);
}

void sl_pgbin_null(sl_strbuf *out)
{
    be(out, 0xffffffffu, 4);
}

void sl_pgbin_int4(sl_strbuf *out, int32_t v)
{
    be(out, 4, 4);
    be(out, (uint32_t)v, 4);
}

void sl_pgbin_bool(sl_strbuf *out, bool v)
{
    be(out, 1, 4);
    sl_strbuf_putc(out, v ? 1 : 0);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [-]digits, within int64 */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    if (i == n || n - i > 19)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

/* [-]digits[.digits][(e|E)[+|-]digits], at least one digit before the
 * exponent; finite, and neither overflowing nor underflowing */
static bool parse_double(const char *s, size_t n, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0, digits = 0, fraction = 0;
    uint64_t m = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    for (; i < n && is_digit(s[i]); i++, digits++)
        m = digits < 19 ? m * 10 + (uint64_t)(s[i] - '0') : m;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++, digits++, fraction++)
            m = digits < 19 ? m * 10 + (uint64_t)(s[i] - '0') : m;
    if (!digits)
        return false;
    /* a plain decimal of at most 15 digits: m and 10^fraction are exact
     * doubles and one correctly rounded division gives what strtod() does */
    if (i == n && digits <= 15 && fraction <= 22) {
        double d = (double)m / pow10[fraction];
        *out = neg ? -d : d;
        return true;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = 0;
        for (; i < n && is_digit(s[i]); i++)
            e++;
        if (!e)
            return false;
    }
    if (i != n || s[n] != '\0')
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s + n || errno || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool two(const char *s, int *v)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

bool sl_pgbin_parse_timestamptz(const char *s, size_t n, int64_t *us)
{
    int c1, c2, mo, d, h, mi, se;
    if (n < 20 || !two(s, &c1) || !two(s + 2, &c2) || s[4] != '-' || !two(s + 5, &mo) || s[7] != '-' ||
        !two(s + 8, &d) || (s[10] != 'T' && s[10] != ' ') || !two(s + 11, &h) || s[13] != ':' ||
        !two(s + 14, &mi) || s[16] != ':' || !two(s + 17, &se))
        return false;
    int y = c1 * 100 + c2;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        int k = 0;
        for (i++; i < n && is_digit(s[i]) && k < 6; i++, k++)
            frac = frac * 10 + (s[i] - '0');
        if (k == 0 || (i < n && is_digit(s[i])))
            return false; /* more than 6 digits: PostgreSQL rounds */
        for (; k < 6; k++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i + 1 == n && s[i] == 'Z') {
        /* UTC */
    } else if (i + 3 <= n && (s[i] == '+' || s[i] == '-')) {
        int oh, om = 0;
        if (!two(s + i + 1, &oh))
            return false;
        if (i + 3 != n && (i + 6 != n || s[i + 3] != ':' || !two(s + i + 4, &om)))
            return false;
        if (oh > 14 || om > 59)
            return false;
        off = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return false;
    int64_t days = days_from_civil(y, mo, d) - days_from_civil(2000, 1, 1);
    *us = (days * 86400 + h * 3600 + mi * 60 + se - off) * 1000000 + frac;
    return true;
}

/* The digits of a numeric's text, on either side of its point, beyond
 * which the text goes to numeric_in() (numeric_recv() takes at most 3,000
 * base-10000 digits; real decimals are far shorter). */
#define NUMERIC_SIDE_DIGITS 1000

/* numeric_send()'s form of "[-]digits[.digits]": base-10000 digits (the
 * first one's weight being 10000^weight), sign, display scale (the digits
 * after the point), without leading or trailing zero digits; zero is
 * positive with weight 0 and no digits. */
static bool numeric_cell(sl_strbuf *out, const char *s, size_t n)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    while (i < n && s[i] == '0')
        i++; /* leading zeros change nothing */
    size_t int_at = i;
    while (i < n && is_digit(s[i]))
        i++;
    size_t int_len = i - int_at, frac_at = i, frac_len = 0;
    bool any = i > (size_t)neg; /* a digit before the point, zeros included */
    if (i < n && s[i] == '.') {
        frac_at = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        frac_len = i - frac_at;
    }
    if (i != n || !(any || frac_len) || int_len > NUMERIC_SIDE_DIGITS || frac_len > NUMERIC_SIDE_DIGITS)
        return false;
    uint16_t d[(NUMERIC_SIDE_DIGITS + 3) / 4 * 2 + 1];
    size_t nd = 0;
    size_t head = int_len % 4 ? int_len % 4 : 4; /* digits in the first integer group */
    for (size_t at = 0; at < int_len; head = 4) {
        unsigned v = 0;
        for (size_t k = 0; k < head; k++)
            v = v * 10 + (unsigned)(s[int_at + at + k] - '0');
        d[nd++] = (uint16_t)v;
        at += head;
    }
    int weight = (int)nd - 1;
    for (size_t at = 0; at < frac_len; at += 4) {
        unsigned v = 0;
        for (size_t k = 0; k < 4; k++)
            v = v * 10 + (unsigned)(at + k < frac_len ? s[frac_at + at + k] - '0' : 0);
        d[nd++] = (uint16_t)v;
    }
    size_t first = 0;
    while (first < nd && d[first] == 0) {
        first++;
        weight--;
    }
    while (nd > first && d[nd - 1] == 0)
        nd--;
    if (first == nd) {
        weight = 0;
        neg = false;
    }
    be(out, 8 + 2 * (nd - first), 4);
    be(out, nd - first, 2);
    be(out, (uint16_t)(int16_t)weight, 2);
    be(out, neg ? 0x4000 : 0x0000, 2);
    be(out, frac_len, 2);
    for (size_t k = first; k < nd; k++)
        be(out, d[k], 2);
    return true;
}

/* A text's field: its bytes, after the format version (1) for jsonb. */
static bool text_cell(sl_strbuf *out, const char *s, size_t n, bool jsonb)
{
    if (memchr(s, '\0', n))
        return false;
    be(out, (uint64_t)n + jsonb, 4);
    if (jsonb)
        sl_strbuf_putc(out, 1);
    sl_strbuf_append(out, s, n);
    return true;
}

bool sl_pgbin_cell(sl_strbuf *out, sl_pgbin_kind k, const char *s, size_t n)
{
    int64_t i;
    double f;
    switch (k) {
    case SL_PGBIN_TEXT:
        return text_cell(out, s, n, false);
    case SL_PGBIN_INT2:
        if (!parse_int(s, n, &i) || i < INT16_MIN || i > INT16_MAX)
            return false;
        be(out, 2, 4);
        be(out, (uint16_t)i, 2);
        return true;
    case SL_PGBIN_INT4:
        if (!parse_int(s, n, &i) || i < INT32_MIN || i > INT32_MAX)
            return false;
        be(out, 4, 4);
        be(out, (uint32_t)i, 4);
        return true;
    case SL_PGBIN_INT8:
        if (!parse_int(s, n, &i))
            return false;
        be(out, 8, 4);
        be(out, (uint64_t)i, 8);
        return true;
    case SL_PGBIN_FLOAT8: {
        if (!parse_double(s, n, &f))
            return false;
        uint64_t bits;
        memcpy(&bits, &f, sizeof(bits));
        be(out, 8, 4);
        be(out, bits, 8);
        return true;
    }
    case SL_PGBIN_BOOL:
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            return false;
        sl_pgbin_bool(out, s[0] == 't');
        return true;
    case SL_PGBIN_TIMESTAMPTZ:
        if (!sl_pgbin_parse_timestamptz(s, n, &i))
            return false;
        be(out, 8, 4);
        be(out, (uint64_t)i, 8);
        return true;
    case SL_PGBIN_NUMERIC:
        return numeric_cell(out, s, n);
    case SL_PGBIN_JSONB:
        return text_cell(out, s, n, true);
    default:
        return false;
    }
}
