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

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
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
    int64_t days = floor_div(us, 86400000000LL);
    int64_t tod = us - days * 86400000000LL;
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
 * integer value in big-endian byte order" (specification, "Decimal"). */
void sl_fmt_decimal(sl_strbuf *out, const unsigned char *be, size_t n, int scale)
{
    bool neg = n > 0 && (be[0] & 0x80);
    char *digits;
    size_t nd = 0;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u = (u << 8) | be[i];
        if (neg) {
            if (n < 8)
                u |= ~UINT64_C(0) << (8 * n); /* sign-extend */
            u = ~u + 1;                        /* magnitude, INT64_MIN included */
        }
        digits = sl_xmalloc(24);
        do {
            digits[nd++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
    } else {
        /* long division of the magnitude by 10, little-endian digits out */
        unsigned char *mag = sl_xmalloc(n);
        memcpy(mag, be, n);
        if (neg) {
            unsigned carry = 1;
            for (size_t i = n; i-- > 0;) {
                unsigned v = (unsigned)(unsigned char)~mag[i] + carry;
                mag[i] = (unsigned char)v;
                carry = v >> 8;
            }
        }
        digits = sl_xmalloc(n * 3 + 2);
        size_t start = 0;
        while (start < n && mag[start] == 0)
            start++;
        do {
            unsigned rem = 0;
            for (size_t i = start; i < n; i++) {
                unsigned cur = (rem << 8) | mag[i];
                mag[i] = (unsigned char)(cur / 10);
                rem = cur % 10;
            }
            digits[nd++] = (char)('0' + rem);
            while (start < n && mag[start] == 0)
                start++;
        } while (start < n);
        free(mag);
    }
    if (neg)
        sl_strbuf_putc(out, '-');
    if ((size_t)scale >= nd) {
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
