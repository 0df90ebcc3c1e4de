/* timestamp_converter.c - a field between timestamp representations, as
 * Kafka Connect's TimestampConverter does: from an integer (in
 * `unix_precision`), ISO 8601 text or text in `format`, to a timestamp,
 * date, time, integer or text.  Connect's format is Java's
 * SimpleDateFormat; sluice's is strftime/strptime (import-connect
 * translates the common letters).  Everything is UTC, as in Connect.  A
 * null or absent field stays as it is. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transform_int.h"
#include "sluice/textfmt.h"

static const char *const keys[] = {"field", "target_type", "format", "unix_precision", NULL};
static const int64_t per_us[] = {1000000, 1000, 1, 0}; /* seconds, ms, us; ns divides by 1000 */

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "field";
    if (!t->conf->field)
        return sl_error_set(err, SL_ERR_FATAL, "timestamp_converter needs a field");
    *badkey = "target_type";
    if (t->conf->target_type < 0)
        return sl_error_set(err, SL_ERR_FATAL, "timestamp_converter needs a target_type");
    return 0;
}

/* @x in @prec as microseconds: false when that does not fit. */
static bool from_unix(int64_t x, int prec, int64_t *us)
{
    if (prec == SL_PREC_NS) {
        *us = x / 1000 - (x % 1000 < 0);
        return true;
    }
    return !__builtin_mul_overflow(x, per_us[prec], us);
}

/* a / b rounded toward minus infinity (b > 0), without overflow */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

/* @n digits at @p as a number, or -1. */
static int digits(const char *p, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    return x;
}

/* ISO 8601: a date, a date and time (T or space) with fraction and zone,
 * or a time of day.  0 with microseconds since the epoch in *@us. */
static int parse_iso(const char *s, int64_t *us)
{
    int y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
    const char *p = s;
    if (strlen(p) >= 10 && p[4] == '-' && p[7] == '-') {
        if ((y = digits(p, 4)) < 0 || (mo = digits(p + 5, 2)) < 0 || (d = digits(p + 8, 2)) < 0)
            return -1;
        p += 10;
        if (*p == 'T' || *p == ' ')
            p++;
        else if (*p)
            return -1;
    }
    if (*p) {
        if (strlen(p) < 8 || p[2] != ':' || p[5] != ':' || (h = digits(p, 2)) < 0 || (mi = digits(p + 3, 2)) < 0 ||
            (sec = digits(p + 6, 2)) < 0)
            return -1;
        p += 8;
    }
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 6)
                frac = frac * 10 + (*p - '0');
        if (!n)
            return -1;
        for (; n < 6; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if ((oh = digits(p, 2)) < 0)
            return -1;
        p += 2;
        if (*p == ':')
            p++;
        if ((om = digits(p, 2)) < 0)
            return -1;
        p += 2;
        off = sign * ((int64_t)oh * 3600 + om * 60);
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int64_t secs = sl_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *us = secs * 1000000 + frac;
    return 0;
}

/* @v (neither null nor absent) converted: a new value, or NULL with @err. */
static json_t *convert(const sl_tx *t, const json_t *v, sl_error *err)
{
    const sl_transform_conf *c = t->conf;
    int64_t us;
    if (json_is_integer(v) || json_is_real(v)) {
        double d = json_number_value(v);
        if (json_is_real(v) && !(d > -9.2e18 && d < 9.2e18))
            return sl_tx_fail(t, err, "%s: %g is out of range", c->field, d), NULL;
        int64_t x = json_is_integer(v) ? json_integer_value(v) : (int64_t)d;
        if (!from_unix(x, c->unix_precision, &us))
            return sl_tx_fail(t, err, "%s: %lld is out of range", c->field, (long long)x), NULL;
    } else if (json_is_string(v) && c->format) {
        struct tm tm = {0};
        const char *end = strptime(json_string_value(v), c->format, &tm);
        if (!end || *end)
            return sl_tx_fail(t, err, "%s: '%s' does not match the format '%s'", c->field, json_string_value(v),
                              c->format), NULL;
        us = (int64_t)timegm(&tm) * 1000000;
    } else if (json_is_string(v)) {
        if (parse_iso(json_string_value(v), &us))
            return sl_tx_fail(t, err, "%s: '%s' is not an ISO 8601 date, time or timestamp", c->field,
                              json_string_value(v)), NULL;
    } else {
        return sl_tx_fail(t, err, "%s: a %s is no timestamp", c->field,
                          json_is_object(v) ? "object" : "list or boolean"), NULL;
    }
    sl_strbuf sb = SL_STRBUF_INIT;
    json_t *out = NULL;
    int64_t day = 86400LL * 1000000;
    switch ((sl_tx_ts_type)c->target_type) {
    case SL_TS_TIMESTAMP: sl_fmt_timestamp_us(&sb, us, true); break;
    case SL_TS_DATE: sl_fmt_date(&sb, floor_div(us, day)); break;
    case SL_TS_TIME: sl_fmt_time_us(&sb, us % day < 0 ? us % day + day : us % day); break;
    case SL_TS_UNIX: {
        int64_t ns;
        if (c->unix_precision == SL_PREC_NS && __builtin_mul_overflow(us, 1000, &ns)) {
            sl_strbuf_free(&sb);
            return sl_tx_fail(t, err, "%s: does not fit in nanoseconds", c->field), NULL;
        }
        out = json_integer(c->unix_precision == SL_PREC_NS ? ns : floor_div(us, per_us[c->unix_precision]));
        break;
    }
    case SL_TS_STRING:
        if (c->format) {
            time_t secs = (time_t)floor_div(us, 1000000);
            struct tm tm;
            char buf[256];
            gmtime_r(&secs, &tm);
            size_t n = strftime(buf, sizeof(buf), c->format, &tm);
            sl_strbuf_append(&sb, buf, n);
        } else {
            sl_fmt_timestamp_us(&sb, us, true);
        }
        break;
    }
    if (!out)
        out = json_stringn(sb.data ? sb.data : "", sb.len);
    sl_strbuf_free(&sb);
    return out;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    const sl_transform_conf *c = t->conf;
    json_t *v = sl_tx_field(ch->value, c->field);
    if (!v || json_is_null(v))
        return 0;
    json_t *out = convert(t, v, err);
    if (!out)
        return -1;
    if (sl_tx_field_set(ch->value, c->field, out))
        return sl_tx_fail(t, err, "%s: cannot be set", c->field);
    return 0;
}

static int field(const sl_tx *t, const sl_record *rec, const char *name, json_t **v, sl_error *err)
{
    (void)rec;
    (void)name;
    if (!*v || json_is_null(*v))
        return 0;
    json_t *out = convert(t, *v, err);
    if (!out)
        return -1;
    json_decref(*v);
    *v = out;
    return 0;
}

const sl_tx_ops sl_tx_timestamp_converter = {
    .name = "timestamp_converter", .keys = keys, .shapes = true, .init = init, .apply = apply, .field = field,
};
