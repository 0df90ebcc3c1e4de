/* json.c - cells for CrateDB's HTTP endpoint: the row's text cells (the
 * PostgreSQL text forms mapping.c writes) rendered as JSON typed by the
 * target column: numbers unquoted, booleans, OBJECT as objects, arrays as
 * arrays, timestamps as epoch milliseconds (CrateDB's own representation),
 * GEO_POINT as [lon, lat]. */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cratedb_int.h"
#include "sluice/textfmt.h"

int crate_json_string(sl_strbuf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t start = out->len;
    sl_strbuf_reserve(out, len + 2);
    sl_strbuf_putc(out, '"');
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                char e[2] = {'\\', (char)c};
                sl_strbuf_append(out, e, 2);
            } else if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sl_strbuf_append(out, e, 6);
            } else {
                sl_strbuf_putc(out, (char)c);
            }
            p++;
            continue;
        }
        size_t n = sl_utf8_seq(p, (size_t)(end - p)); /* textfmt.h */
        if (n == 0)
            goto bad;
        sl_strbuf_append(out, p, n);
        p += n;
    }
    sl_strbuf_putc(out, '"');
    return 0;
bad:
    out->len = start;
    out->data[start] = '\0';
    return -1;
}

/* A JSON number exactly as JSON spells it. */
static bool json_number_text(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !isdigit((unsigned char)s[i]))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    return i == n;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool num(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][Z|(+|-)HH[[:]MM]]" -> epoch ms; the
 * offset is applied only for columns WITH TIME ZONE. */
static bool parse_timestamp(const char *s, size_t n, bool tz, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
    int64_t frac_ms = 0;
    if (n < 10 || s[4] != '-' || s[7] != '-' || !num(s, 4, &y) || !num(s + 5, 2, &mo) || !num(s + 8, 2, &d) ||
        mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    size_t i = 10;
    if (i < n) {
        if ((s[i] != 'T' && s[i] != ' ') || n < i + 6 || !num(s + i + 1, 2, &h) || s[i + 3] != ':' ||
            !num(s + i + 4, 2, &mi))
            return false;
        i += 6;
        if (i < n && s[i] == ':') {
            if (n < i + 3 || !num(s + i + 1, 2, &sec))
                return false;
            i += 3;
            if (i < n && s[i] == '.') {
                i++;
                int digits = 0;
                int64_t scale = 100;
                while (i < n && isdigit((unsigned char)s[i])) {
                    if (digits < 3)
                        frac_ms += (s[i] - '0') * scale, scale /= 10;
                    digits++;
                    i++;
                }
                if (!digits)
                    return false;
            }
        }
        if (h > 24 || mi > 59 || sec > 60)
            return false;
        if (i < n) {
            int sign = 1;
            if (s[i] == 'Z' && i + 1 == n) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                sign = s[i] == '-' ? -1 : 1;
                if (n < i + 3 || !num(s + i + 1, 2, &oh))
                    return false;
                i += 3;
                if (i < n && s[i] == ':')
                    i++;
                if (i < n) {
                    if (n != i + 2 || !num(s + i, 2, &om))
                        return false;
                    i += 2;
                }
                oh *= sign;
                om *= sign;
            } else {
                return false;
            }
        }
    }
    if (i != n)
        return false;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    if (tz)
        secs -= oh * 3600 + om * 60;
    *ms = secs * 1000 + frac_ms;
    return true;
}

static int json_array_literal(sl_strbuf *out, const char **pp, const char *end, sl_coltype elem, sl_error *err);

/* One element of a PostgreSQL array literal, unquoted, into @tmp. */
static int array_element(const char **pp, const char *end, sl_strbuf *tmp, bool *is_null)
{
    const char *p = *pp;
    sl_strbuf_reset(tmp);
    *is_null = false;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end)
                p++;
            sl_strbuf_putc(tmp, *p++);
        }
        if (p >= end)
            return -1;
        p++;
    } else {
        const char *start = p;
        while (p < end && *p != ',' && *p != '}')
            p++;
        const char *e = p;
        while (start < e && *start == ' ')
            start++;
        while (e > start && e[-1] == ' ')
            e--;
        if (e - start == 4 && !strncasecmp(start, "NULL", 4))
            *is_null = true;
        else
            sl_strbuf_append(tmp, start, (size_t)(e - start));
    }
    *pp = p;
    return 0;
}

static int json_array_literal(sl_strbuf *out, const char **pp, const char *end, sl_coltype elem, sl_error *err)
{
    const char *p = *pp;
    if (p >= end || *p != '{')
        return sl_error_set(err, SL_ERR_DATA, "not an array literal");
    p++;
    sl_strbuf_putc(out, '[');
    sl_strbuf tmp = SL_STRBUF_INIT;
    bool first = true;
    int rc = 0;
    while (p < end && *p != '}') {
        if (!first) {
            if (*p != ',') {
                rc = sl_error_set(err, SL_ERR_DATA, "malformed array literal");
                break;
            }
            p++;
        }
        if (!first || true)
            sl_strbuf_puts(out, first ? "" : ",");
        first = false;
        if (p < end && *p == '{') {
            if ((rc = json_array_literal(out, &p, end, elem, err)))
                break;
            continue;
        }
        bool is_null;
        if (array_element(&p, end, &tmp, &is_null)) {
            rc = sl_error_set(err, SL_ERR_DATA, "malformed array literal");
            break;
        }
        if (is_null)
            sl_strbuf_puts(out, "null");
        else if ((rc = crate_json_cell(out, tmp.data ? tmp.data : "", tmp.len, elem, SL_COL_OTHER, err)))
            break;
    }
    sl_strbuf_free(&tmp);
    if (rc)
        return -1;
    if (p >= end)
        return sl_error_set(err, SL_ERR_DATA, "unterminated array literal");
    *pp = p + 1;
    sl_strbuf_putc(out, ']');
    return 0;
}

int crate_json_cell(sl_strbuf *out, const char *data, size_t len, sl_coltype type, sl_coltype elem,
                    sl_error *err)
{
    int64_t ms;
    switch (type) {
    case SL_COL_INT2:
    case SL_COL_INT4:
    case SL_COL_INT8:
    case SL_COL_NUMERIC:
    case SL_COL_FLOAT4:
    case SL_COL_FLOAT8:
        if (json_number_text(data, len)) {
            sl_strbuf_append(out, data, len);
            return 0;
        }
        break; /* NaN, Infinity: as strings, which CrateDB casts */
    case SL_COL_BOOL:
        if ((len == 1 && data[0] == 't') || (len == 4 && !memcmp(data, "true", 4))) {
            sl_strbuf_puts(out, "true");
            return 0;
        }
        if ((len == 1 && data[0] == 'f') || (len == 5 && !memcmp(data, "false", 5))) {
            sl_strbuf_puts(out, "false");
            return 0;
        }
        break;
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
    case SL_COL_DATE:
        if (parse_timestamp(data, len, type != SL_COL_TIMESTAMP, &ms)) {
            sl_strbuf_printf(out, "%" PRId64, ms);
            return 0;
        }
        break;
    case SL_COL_JSON:
    case SL_COL_JSONB:
    case SL_COL_OBJECT:
    case SL_COL_GEO_POINT: {
        /* the mapping stored JSON text; make sure it is one JSON value */
        json_error_t jerr;
        json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (v) {
            json_decref(v);
            sl_strbuf_append(out, data, len);
            return 0;
        }
        break;
    }
    case SL_COL_ARRAY: {
        const char *p = data, *end = data + len;
        size_t start = out->len;
        if (len && data[0] == '[') { /* already JSON */
            json_error_t jerr;
            json_t *v = json_loadb(data, len, 0, &jerr);
            if (v) {
                json_decref(v);
                sl_strbuf_append(out, data, len);
                return 0;
            }
        }
        if (json_array_literal(out, &p, end, elem, err) == 0 && p == end)
            return 0;
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return sl_error_set(err, SL_ERR_DATA, "array value %.64s is not an array literal", data);
    }
    default:
        break;
    }
    if (crate_json_string(out, data, len))
        return sl_error_set(err, SL_ERR_DATA, "text is not valid UTF-8");
    return 0;
}
