/* textfmt.c - canonical text of typed values (see textfmt.h). */
#include "sluice/textfmt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

/* Year 0 is 1 BC in PostgreSQL's notation. */
static bool put_ymd(sl_strbuf *out, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    bool bc = y <= 0;
    sl_strbuf_printf(out, "%04" PRId64 "-%02u-%02u", bc ? 1 - y : y, m, d);
    return bc;
}

void sl_fmt_date(sl_strbuf *out, int64_t days)
{
    if (put_ymd(out, days))
        sl_strbuf_puts(out, " BC");
}

void sl_fmt_time_us(sl_strbuf *out, int64_t us)
{
    sl_strbuf_printf(out, "%02d:%02d:%02d.%06d", (int)(us / 3600000000LL), (int)(us / 60000000 % 60),
                     (int)(us / 1000000 % 60), (int)(us % 1000000));
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
