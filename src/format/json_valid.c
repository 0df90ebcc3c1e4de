/* json_valid.c - JSON text checked as jansson reads it, without values
 * (json_valid_int.h).  The grammar is RFC 8259's; what jansson adds is
 * checked too (integers within int64, reals within double), and what only
 * its decoding could settle is declined (see the header). */
#include "json_valid_int.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

/* Byte classes inside a string: its end, an escape, a control byte. */
enum { S_END = 1, S_ESC = 2, S_CTL = 4 };
static const unsigned char str_class[256] = {
    [0] = S_CTL, [1] = S_CTL, [2] = S_CTL, [3] = S_CTL, [4] = S_CTL, [5] = S_CTL, [6] = S_CTL, [7] = S_CTL,
    [8] = S_CTL, [9] = S_CTL, [10] = S_CTL, [11] = S_CTL, [12] = S_CTL, [13] = S_CTL, [14] = S_CTL,
    [15] = S_CTL, [16] = S_CTL, [17] = S_CTL, [18] = S_CTL, [19] = S_CTL, [20] = S_CTL, [21] = S_CTL,
    [22] = S_CTL, [23] = S_CTL, [24] = S_CTL, [25] = S_CTL, [26] = S_CTL, [27] = S_CTL, [28] = S_CTL,
    [29] = S_CTL, [30] = S_CTL, [31] = S_CTL, ['"'] = S_END, ['\\'] = S_ESC,
};

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long sl_json_hex4(const char *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex(p[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Past the bytes of string content at u[j] (none a quote, a backslash or a
 * control byte): sixteen at a time where SSE2 is there, then one by one. */
static inline size_t plain_run(const unsigned char *u, size_t j, size_t n)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    while (j + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(u + j));
        /* a control byte is one whose unsigned max with 0x1f is 0x1f */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        int m = _mm_movemask_epi8(hit);
        if (m)
            return j + (size_t)__builtin_ctz((unsigned)m);
        j += 16;
    }
#endif
    while (j < n && !str_class[u[j]])
        j++;
    return j;
}

size_t sl_json_string_end(const char *s, size_t i, size_t n, bool check, bool *esc)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t j = i + 1;
    *esc = false;
    for (;;) {
        j = plain_run(u, j, n);
        if (j >= n)
            return 0;
        if (u[j] == '"')
            return j + 1;
        if (u[j] != '\\') {
            if (check)
                return 0; /* a control byte */
            j++;
            continue;
        }
        *esc = true;
        if (j + 1 >= n)
            return 0;
        char e = s[j + 1];
        if (!check) {
            j += 2;
            continue;
        }
        if (e == 'u') {
            if (j + 6 > n)
                return 0;
            long v = sl_json_hex4(s + j + 2);
            if (v <= 0 || (v >= 0xd800 && v <= 0xdfff))
                return 0; /* NUL, surrogates: jansson's decoding decides */
            j += 6;
        } else if (strchr("\"\\/bfnrt", e) && e) {
            j += 2;
        } else {
            return 0;
        }
    }
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* An integer token of JSON's grammar beyond int64 (its digits have no
 * leading zero: more than 19 are too many, 19 are compared as text). */
static bool integer_refused(const char *s, size_t n)
{
    bool neg = n && s[0] == '-';
    size_t digits = n - neg;
    if (digits != 19)
        return digits > 19;
    return memcmp(s + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* A real token (with a fraction or an exponent) beyond double. */
static bool real_refused(const char *s, size_t n, bool exponent)
{
    /* without an exponent, a double overflows only past 308 integer digits */
    if (!exponent && n < 300)
        return false;
    char buf[512];
    if (n >= sizeof(buf))
        return true; /* not worth parsing here: the general path decides */
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    return d == HUGE_VAL || d == -HUGE_VAL;
}

bool sl_json_number_refused(const char *s, size_t n)
{
    bool exponent = false, fraction = false;
    for (size_t i = 0; i < n; i++) {
        exponent = exponent || s[i] == 'e' || s[i] == 'E';
        fraction = fraction || s[i] == '.';
    }
    return exponent || fraction ? real_refused(s, n, exponent) : integer_refused(s, n);
}

size_t sl_json_number_end(const char *s, size_t i, size_t n, bool *real, bool *exponent)
{
    *real = *exponent = false;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !digit(s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        *real = true;
        i++;
        if (i >= n || !digit(s[i]))
            return 0;
        while (i < n && digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *real = *exponent = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !digit(s[i]))
            return 0;
        while (i < n && digit(s[i]))
            i++;
    }
    return i;
}

/* Past the number at s[i] (JSON's grammar, within jansson's range), or 0. */
static size_t number_end(const char *s, size_t i, size_t n)
{
    bool real, exponent;
    size_t end = sl_json_number_end(s, i, n, &real, &exponent);
    if (!end)
        return 0;
    return (real ? real_refused(s + i, end - i, exponent) : integer_refused(s + i, end - i)) ? 0 : end;
}

size_t sl_json_literal_end(const char *s, size_t i, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n - i >= k && !memcmp(s + i, word, k) ? i + k : 0;
}

static size_t value_end(const char *s, size_t i, size_t n, int depth)
{
    i = sl_json_ws(s, i, n);
    if (i >= n)
        return 0;
    bool esc;
    switch (s[i]) {
    case '"':
        return sl_json_string_end(s, i, n, true, &esc);
    case 't':
        return sl_json_literal_end(s, i, n, "true");
    case 'f':
        return sl_json_literal_end(s, i, n, "false");
    case 'n':
        return sl_json_literal_end(s, i, n, "null");
    case '{':
    case '[': {
        bool object = s[i] == '{';
        char close = object ? '}' : ']';
        if (depth >= MAX_DEPTH)
            return 0;
        i = sl_json_ws(s, i + 1, n);
        if (i < n && s[i] == close)
            return i + 1;
        for (;;) {
            if (object) {
                if (i >= n || s[i] != '"' || !(i = sl_json_string_end(s, i, n, true, &esc)))
                    return 0;
                i = sl_json_ws(s, i, n);
                if (i >= n || s[i] != ':')
                    return 0;
                i++;
            }
            if (!(i = value_end(s, i, n, depth + 1)))
                return 0;
            i = sl_json_ws(s, i, n);
            if (i < n && s[i] == ',') {
                i = sl_json_ws(s, i + 1, n);
                continue;
            }
            return i < n && s[i] == close ? i + 1 : 0;
        }
    }
    default:
        return number_end(s, i, n);
    }
}

size_t sl_json_valid_skip(const char *s, size_t i, size_t n)
{
    return value_end(s, i, n, 0);
}
