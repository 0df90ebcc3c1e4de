/* textfmt.c - canonical text of typed values (see textfmt.h). */
#include "sluice/textfmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Days since 1970-01-01 -> proleptic Gregorian y/m/d: the era-based
 * method of H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"
 * (https://howardhinnant.github.io/date_algorithms.html#civil_from_days). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2; /* the same method, the other way (days_from_civil) */
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* @x's decimal digits, at least @width of them (zero-padded), into @p
 * backwards from its end; returns where they start.  @x >= 0. */
static char *digits_back(char *p, uint64_t x, int width)
{
    do {
        *--p = (char)('0' + x % 10);
        x /= 10;
        width--;
    } while (x || width > 0);
    return p;
}

void sl_fmt_int(sl_strbuf *out, int64_t x)
{
    char buf[24], *end = buf + sizeof(buf);
    char *p = digits_back(end, x < 0 ? 0 - (uint64_t)x : (uint64_t)x, 1);
    if (x < 0)
        *--p = '-';
    sl_strbuf_append(out, p, (size_t)(end - p));
}

/* Year 0 is 1 BC in PostgreSQL's notation. */
static bool put_ymd(sl_strbuf *out, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    bool bc = y <= 0;
    /* "%04" PRId64 "-%02u-%02u" by hand: this runs for every timestamp */
    uint64_t year = bc ? (uint64_t)1 - (uint64_t)y : (uint64_t)y;
    char buf[32], *end = buf + sizeof(buf);
    char *p = digits_back(end - 6, year, 4);
    end[-6] = '-';
    end[-5] = (char)('0' + m / 10);
    end[-4] = (char)('0' + m % 10);
    end[-3] = '-';
    end[-2] = (char)('0' + d / 10);
    end[-1] = (char)('0' + d % 10);
    sl_strbuf_append(out, p, (size_t)(end - p));
    return bc;
}

void sl_fmt_date(sl_strbuf *out, int64_t days)
{
    if (put_ymd(out, days))
        sl_strbuf_puts(out, " BC");
}

void sl_fmt_time_us(sl_strbuf *out, int64_t us)
{
    if (us < 0 || us / 3600000000LL > 99) { /* not a time of day: printf's spelling */
        sl_strbuf_printf(out, "%02d:%02d:%02d.%06d", (int)(us / 3600000000LL), (int)(us / 60000000 % 60),
                         (int)(us / 1000000 % 60), (int)(us % 1000000));
        return;
    }
    /* "%02d:%02d:%02d.%06d" by hand */
    char buf[15];
    unsigned h = (unsigned)(us / 3600000000LL), mi = (unsigned)(us / 60000000 % 60),
             s = (unsigned)(us / 1000000 % 60);
    buf[0] = (char)('0' + h / 10);
    buf[1] = (char)('0' + h % 10);
    buf[2] = ':';
    buf[3] = (char)('0' + mi / 10);
    buf[4] = (char)('0' + mi % 10);
    buf[5] = ':';
    buf[6] = (char)('0' + s / 10);
    buf[7] = (char)('0' + s % 10);
    buf[8] = '.';
    digits_back(buf + 15, (uint64_t)(us % 1000000), 6);
    sl_strbuf_append(out, buf, sizeof(buf));
}

void sl_fmt_timestamp_us(sl_strbuf *out, int64_t us, bool utc)
{
    /* the remainder first: days * 86400000000 overflows near INT64_MIN */
    int64_t days = us / 86400000000LL, tod = us % 86400000000LL;
    if (tod < 0) {
        tod += 86400000000LL;
        days--;
    }
    bool bc = put_ymd(out, days);
    sl_strbuf_putc(out, 'T');
    sl_fmt_time_us(out, tod);
    if (utc)
        sl_strbuf_putc(out, 'Z');
    if (bc)
        sl_strbuf_puts(out, " BC");
}

void sl_fmt_hex(sl_strbuf *out, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = p;
    sl_strbuf_reserve(out, 2 + 2 * n);
    sl_strbuf_puts(out, "\\x");
    for (size_t i = 0; i < n; i++) {
        char two[2] = {hex[b[i] >> 4], hex[b[i] & 15]};
        sl_strbuf_append(out, two, 2);
    }
}

/* Avro decimal: "the two's-complement representation of the unscaled
 * integer value in big-endian byte order" (specification, "Decimal").
 * The magnitude is divided by 10^9 repeatedly in 32-bit limbs: quadratic in
 * the length, which SL_DECIMAL_MAX_BYTES keeps small. */
int sl_fmt_decimal(sl_strbuf *out, const unsigned char *be, size_t n, int64_t scale)
{
    if (scale < -SL_DECIMAL_MAX_SCALE || scale > SL_DECIMAL_MAX_SCALE)
        return -1;
    bool neg = n > 0 && (be[0] & 0x80);
    /* drop sign-extension bytes (a fixed is often wider than its value) */
    while (n > 1 && ((be[0] == 0 && !(be[1] & 0x80)) || (be[0] == 0xff && (be[1] & 0x80)))) {
        be++;
        n--;
    }
    if (n > SL_DECIMAL_MAX_BYTES)
        return -1;
    /* magnitude as big-endian 32-bit limbs */
    size_t nl = (n + 3) / 4;
    uint32_t *limb = sl_xcalloc(nl ? nl : 1, sizeof(*limb));
    unsigned carry = neg; /* two's complement: invert, add one */
    for (size_t i = n; i-- > 0;) {
        unsigned v = (neg ? (unsigned)(unsigned char)~be[i] : be[i]) + carry;
        carry = v >> 8;
        size_t from_end = n - 1 - i;
        limb[nl - 1 - from_end / 4] |= (uint32_t)(v & 0xff) << (8 * (from_end % 4));
    }
    /* little-endian decimal digits */
    char *digits = sl_xmalloc(nl * 10 + 10);
    size_t nd = 0, start = 0;
    while (start < nl && limb[start] == 0)
        start++;
    do {
        uint64_t rem = 0;
        for (size_t i = start; i < nl; i++) {
            uint64_t cur = rem << 32 | limb[i];
            limb[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (start < nl && limb[start] == 0)
            start++;
        for (int k = 0; k < 9 && (rem || start < nl || k == 0); k++) {
            digits[nd++] = (char)('0' + rem % 10);
            rem /= 10;
        }
    } while (start < nl);
    free(limb);
    sl_strbuf_reserve(out, nd + (size_t)(scale < 0 ? -scale : scale) + 4);
    if (neg)
        sl_strbuf_putc(out, '-');
    if (scale < 0) {
        for (size_t i = nd; i-- > 0;)
            sl_strbuf_putc(out, digits[i]);
        for (int64_t i = 0; i < -scale && !(nd == 1 && digits[0] == '0'); i++)
            sl_strbuf_putc(out, '0');
    } else if ((size_t)scale >= nd) {
        sl_strbuf_puts(out, "0");
        if (scale > 0) {
            sl_strbuf_putc(out, '.');
            for (size_t i = nd; i < (size_t)scale; i++)
                sl_strbuf_putc(out, '0');
        }
        for (size_t i = nd; i-- > 0;)
            sl_strbuf_putc(out, digits[i]);
    } else {
        for (size_t i = nd; i-- > 0;) {
            sl_strbuf_putc(out, digits[i]);
            if (i == (size_t)scale && scale > 0)
                sl_strbuf_putc(out, '.');
        }
    }
    free(digits);
    return 0;
}

void sl_fmt_base64(sl_strbuf *out, const void *p, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) |
                     (i + 2 < n ? b[i + 2] : 0);
        sl_strbuf_putc(out, alphabet[v >> 18 & 63]);
        sl_strbuf_putc(out, alphabet[v >> 12 & 63]);
        sl_strbuf_putc(out, i + 1 < n ? alphabet[v >> 6 & 63] : '=');
        sl_strbuf_putc(out, i + 2 < n ? alphabet[v & 63] : '=');
    }
}

/* RFC 4648, section 4 (standard) and 5 (URL and filename safe alphabet). */
long sl_base64_decode(const char *s, size_t n, unsigned char *out)
{
    unsigned acc = 0;
    int bits = 0;
    long len = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int v;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+' || ch == '-')
            v = 62;
        else if (ch == '/' || ch == '_')
            v = 63;
        else if (ch == '=') {
            for (size_t k = i; k < n; k++)
                if (s[k] != '=')
                    return -1;
            break;
        } else
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)(acc >> bits);
        }
    }
    return len;
}

/* The shortest decimal of up to 15 significant digits without exponent
 * that reads back as @d, written as %.15g writes it; false when there is
 * none (then printf decides).  A decimal of at most 15 significant digits
 * survives the trip through a double and back to 15 digits (DBL_DIG), so
 * n / 10^k == d with |n| < 10^15 is exactly what %.15g prints; the
 * division of two exactly representable numbers is correctly rounded, as
 * strtod is. */
static bool short_double(sl_strbuf *out, double d)
{
    static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) /* also zero (its sign) and NaN: %g's own spelling */
        return false;
    for (int k = 0; k < 9; k++) {
        double s = d * p10[k];
        if (fabs(s) >= 1e15)
            return false;
        double n = nearbyint(s);
        if (n / p10[k] != d)
            continue;
        uint64_t u = (uint64_t)fabs(n);
        char buf[40], *end = buf + sizeof(buf), *p = end;
        if (k) {
            p = digits_back(end, u % (uint64_t)p10[k], k);
            *--p = '.';
            u /= (uint64_t)p10[k];
        }
        p = digits_back(p, u, 1);
        if (d < 0)
            *--p = '-';
        sl_strbuf_append(out, p, (size_t)(end - p));
        return true;
    }
    return false;
}

void sl_fmt_double(sl_strbuf *out, double d)
{
    if (short_double(out, d))
        return;
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    sl_strbuf_puts(out, buf);
}

int sl_fmt_hex_base64(sl_strbuf *out, const char *s, size_t n)
{
    unsigned char *b = sl_xmalloc(n / 4 * 3 + 3);
    long len = sl_base64_decode(s, n, b);
    if (len >= 0)
        sl_fmt_hex(out, b, (size_t)len);
    free(b);
    return len < 0 ? -1 : 0;
}

/* ---- checks of text bound for typed columns ---- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool sl_text_is_date(const char *s, size_t n)
{
    if (n >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' && all_digits(s + 8, 2))
        return true;
    return (n == 8 && !strncasecmp(s, "infinity", 8)) || (n == 9 && !strncasecmp(s, "-infinity", 9));
}

bool sl_text_is_time(const char *s, size_t n)
{
    return n >= 5 && all_digits(s, 2) && s[2] == ':' && all_digits(s + 3, 2);
}

bool sl_text_is_uuid(const char *s, size_t n)
{
    int hex = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            hex++;
        else if (c != '-' && c != '{' && c != '}')
            return false;
    }
    return hex == 32;
}
