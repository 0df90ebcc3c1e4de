/* types.c - Debezium values under their Kafka Connect schemas, converted to
 * the conventions of decoder.h.
 *
 * A field's schema names its Connect type ("int64", "bytes", "struct", ...)
 * and, for semantic types, a "name".  The names handled here and their
 * payloads, as Debezium documents them (PostgreSQL and MySQL connector
 * reference, "Data type mappings"; Kafka's org.apache.kafka.connect.data
 * javadoc for the Connect logical types):
 *
 *   org.apache.kafka.connect.data.Decimal   bytes: big-endian two's-complement
 *                                           unscaled value, "scale" parameter
 *   io.debezium.data.VariableScaleDecimal   struct {scale: int32, value: bytes}
 *   io.debezium.time.Date                   int32 days since the epoch
 *   io.debezium.time.Time / MicroTime / NanoTime
 *                                           ms / us / ns past midnight
 *   io.debezium.time.Timestamp / MicroTimestamp / NanoTimestamp
 *                                           ms / us / ns since the epoch, no time
 *                                           zone (a local date-time)
 *   io.debezium.time.ZonedTimestamp, ZonedTime  ISO-8601 text with an offset
 *   org.apache.kafka.connect.data.Date / Time / Timestamp  days / ms / ms (UTC)
 *   io.debezium.data.Json                   string holding a JSON document
 *   io.debezium.data.Uuid, Enum, EnumSet, Xml  strings, kept as they are
 *   io.debezium.data.Bits                   bytes: the bit string, least
 *                                           significant byte first, "length"
 *                                           parameter = number of bits
 *
 * int64 stays a jansson integer (64-bit) throughout; nothing goes through
 * a double. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../avro_int.h"
#include "../connect_schema_int.h"
#include "dbz_int.h"
#include "sluice/mapping.h"
#include "sluice/textfmt.h"

#define CONNECT SL_CONNECT
#define DBZ "io.debezium."

int sl_dbz_decimal_text(const char *b64, size_t n, int64_t scale, sl_strbuf *out, sl_error *err)
{
    unsigned char stackbuf[64];
    unsigned char *b = n + 3 <= sizeof(stackbuf) ? stackbuf : sl_xmalloc(n + 3);
    long len = sl_base64_decode(b64, n, b);
    if (len <= 0) {
        if (b != stackbuf)
            free(b);
        return sl_error_set(err, SL_ERR_DATA, "decimal \"%.40s\" is not base64", b64);
    }
    int rc = sl_fmt_decimal(out, b, (size_t)len, scale);
    if (b != stackbuf)
        free(b);
    if (rc)
        return sl_error_set(err, SL_ERR_DATA,
                            "decimal of %ld bytes with scale %" PRId64 " is beyond what sluice stores "
                            "(%d significant bytes, scale within +-%d)",
                            len, scale, SL_DECIMAL_MAX_BYTES, SL_DECIMAL_MAX_SCALE);
    return 0;
}

bool sl_dbz_is_unavailable(const json_t *v)
{
    static const char b64[] = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ"; /* base64 of the placeholder */
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, SL_DBZ_UNAVAILABLE))
            return true;
        size_t n = strlen(b64);
        return !strncmp(s, b64, n) && (!s[n] || !strcmp(s + n, "=="));
    }
    if (json_is_array(v) && json_array_size(v) == 1)
        return sl_dbz_is_unavailable(json_array_get(v, 0)) && json_is_string(json_array_get(v, 0));
    return false;
}

static bool is(const char *name, const char *want)
{
    return name && !strcmp(name, want);
}

/* The field list of a struct schema: each entry names its field with
 * "field" (JsonConverter); a hand-written variant nests the schema under
 * "schema" and names it with "name", which is accepted too. */
static const char *field_name(const json_t *f)
{
    const char *n = json_string_value(json_object_get(f, "field"));
    if (!n && json_is_object(json_object_get(f, "schema")))
        n = json_string_value(json_object_get(f, "name"));
    return n;
}

static const json_t *field_schema(const json_t *f)
{
    const json_t *s = json_object_get(f, "schema");
    return json_is_object(s) ? s : f;
}

static json_t *text(sl_strbuf *tmp)
{
    return json_stringn(tmp->data, tmp->len);
}

/* "HH:MM:SS.ffffff" or, with a sub-microsecond rest, nine digits. */
static void put_time_ns(sl_strbuf *out, int64_t ns)
{
    int64_t us = ns / 1000;
    sl_fmt_time_us(out, us);
    if (ns % 1000)
        sl_strbuf_printf(out, "%03d", (int)(ns % 1000));
}

/* A local (utc false) or UTC date-time from @ns since the epoch. */
static void put_timestamp_ns(sl_strbuf *out, int64_t us, int subus, bool utc)
{
    size_t start = out->len;
    sl_fmt_timestamp_us(out, us, utc);
    if (subus) { /* insert the three digits after the microseconds */
        char *t = memchr(out->data + start, 'T', out->len - start);
        size_t at = (size_t)(t - out->data) + 16; /* "THH:MM:SS.ffffff" */
        char extra[4];
        snprintf(extra, sizeof(extra), "%03d", subus);
        sl_strbuf_reserve(out, 3);
        memmove(out->data + at + 3, out->data + at, out->len - at + 1);
        memcpy(out->data + at, extra, 3);
        out->len += 3;
    }
}

static json_t *temporal(const char *name, const json_t *v, sl_strbuf *tmp, sl_error *err)
{
    if (!json_is_integer(v)) {
        if (json_is_string(v)) /* already text (a converter's string mode): keep it */
            return json_incref((json_t *)v);
        return sl_error_set(err, SL_ERR_DATA, "%s value is not an integer", name), NULL;
    }
    int64_t x = json_integer_value(v);
    const char *t = name + (strncmp(name, DBZ "time.", strlen(DBZ "time.")) ? strlen(CONNECT) : strlen(DBZ "time."));
    bool connect = !strncmp(name, CONNECT, strlen(CONNECT));
    if (!strcmp(t, "Date")) {
        if (x > 100000000 || x < -100000000)
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is out of range", name, x), NULL;
        sl_fmt_date(tmp, x);
        return text(tmp);
    }
    int64_t mul = 0;
    bool timeofday = false;
    if (!strcmp(t, "Time"))
        mul = 1000000, timeofday = true;
    else if (!strcmp(t, "MicroTime"))
        mul = 1000, timeofday = true;
    else if (!strcmp(t, "NanoTime"))
        mul = 1, timeofday = true;
    else if (!strcmp(t, "Timestamp"))
        mul = 1000000;
    else if (!strcmp(t, "MicroTimestamp"))
        mul = 1000;
    else if (!strcmp(t, "NanoTimestamp"))
        mul = 1;
    if (!mul) /* Year and other integer semantics: the number itself */
        return json_incref((json_t *)v);
    if (timeofday) {
        /* 24:00:00 is a valid time of day in PostgreSQL and MySQL */
        if (x < 0 || x > 86400000000000LL / mul)
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is not a time of day", name, x), NULL;
        put_time_ns(tmp, x * mul);
        return text(tmp);
    }
    /* timestamps: whole microseconds plus a sub-microsecond rest */
    int64_t us;
    int subus = 0;
    if (mul == 1) { /* the remainder first: us * 1000 overflows near INT64_MIN */
        us = x / 1000;
        subus = (int)(x % 1000);
        if (subus < 0) {
            subus += 1000;
            us--;
        }
    } else {
        int64_t k = mul / 1000; /* 1000 for ms, 1 for us */
        if (x > INT64_MAX / k || x < INT64_MIN / k)
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is out of range", name, x), NULL;
        us = x * k;
    }
    put_timestamp_ns(tmp, us, subus, connect);
    return text(tmp);
}

/* io.debezium.data.Bits: bit i of the value is bit (i % 8) of byte i / 8;
 * written most significant bit first, as PostgreSQL's bit input reads it. */
static json_t *bits(const json_t *schema, const json_t *v, sl_strbuf *tmp, sl_error *err)
{
    size_t n = json_string_length(v);
    unsigned char *b = sl_xmalloc(n + 3);
    long len = sl_base64_decode(json_string_value(v), n, b);
    if (len < 0) {
        free(b);
        return sl_error_set(err, SL_ERR_DATA, "Bits value is not base64"), NULL;
    }
    long nbits = sl_connect_param(schema, "length", len * 8);
    if (nbits < 0 || nbits > 8 * 1024 * 1024)
        nbits = len * 8;
    for (long i = nbits - 1; i >= 0; i--) {
        int bit = i / 8 < len ? (b[i / 8] >> (i % 8)) & 1 : 0;
        sl_strbuf_putc(tmp, bit ? '1' : '0');
    }
    free(b);
    return text(tmp);
}

static json_t *conv_struct(const json_t *schema, const json_t *v, json_t *json_text, sl_strbuf *tmp,
                           sl_error *err)
{
    if (!json_is_object(v))
        return sl_error_set(err, SL_ERR_DATA, "a struct value must be a JSON object"), NULL;
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = field_name(f);
        if (!name)
            continue;
        json_t *fv = json_object_get(v, name);
        if (!fv) /* absent: not supplied */
            continue;
        const json_t *fs = field_schema(f);
        if (json_text && is(sl_connect_sname(fs), DBZ "data.Json") && json_is_string(fv))
            json_object_set(json_text, name, fv);
        json_t *cv = sl_dbz_convert(fs, fv, NULL, tmp, err);
        if (!cv) {
            sl_error_prefix(err, "%s: ", name);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, name, cv);
    }
    return out;
}

json_t *sl_dbz_convert(const json_t *schema, const json_t *v, json_t *json_text, sl_strbuf *tmp,
                       sl_error *err)
{
    const char *type = sl_connect_stype(schema), *name = sl_connect_sname(schema);
    if (json_is_null(v))
        return json_null();
    if (!type) /* an elided or unknown schema: the value as it came */
        return json_incref((json_t *)v);
    sl_strbuf_reset(tmp);
    if (is(name, CONNECT "Decimal")) {
        long scale = sl_connect_param(schema, "scale", 0);
        if (json_is_string(v) && !sl_dbz_is_unavailable(v)) {
            if (sl_dbz_decimal_text(json_string_value(v), json_string_length(v), scale, tmp, err))
                return NULL;
            return text(tmp);
        }
        return json_incref((json_t *)v); /* decimal.handling.mode double or string */
    }
    if (is(name, DBZ "data.VariableScaleDecimal")) {
        json_t *sc = json_object_get(v, "scale"), *val = json_object_get(v, "value");
        if (!json_is_object(v))
            return json_incref((json_t *)v);
        if (!json_is_integer(sc) || !json_is_string(val))
            return sl_error_set(err, SL_ERR_DATA, "VariableScaleDecimal needs {\"scale\": int, \"value\": base64}"), NULL;
        if (sl_dbz_decimal_text(json_string_value(val), json_string_length(val), json_integer_value(sc),
                                tmp, err))
            return NULL;
        return text(tmp);
    }
    if (name && (!strncmp(name, DBZ "time.", strlen(DBZ "time.")) || is(name, CONNECT "Date") || is(name, CONNECT "Time") ||
                 is(name, CONNECT "Timestamp"))) {
        if (!strcasecmp(type, "string")) /* ZonedTimestamp, ZonedTime, Interval: ISO text */
            return json_incref((json_t *)v);
        return temporal(name, v, tmp, err);
    }
    if (is(name, DBZ "data.Bits") && json_is_string(v))
        return bits(schema, v, tmp, err);
    if (!strcasecmp(type, "bytes")) {
        if (!json_is_string(v))
            return sl_error_set(err, SL_ERR_DATA, "bytes value is not base64 text"), NULL;
        if (sl_dbz_is_unavailable(v))
            return json_string(SL_DBZ_UNAVAILABLE);
        if (sl_fmt_hex_base64(tmp, json_string_value(v), json_string_length(v)))
            return sl_error_set(err, SL_ERR_DATA, "bytes value is not base64"), NULL;
        return text(tmp);
    }
    if (!strcasecmp(type, "struct"))
        return conv_struct(schema, v, json_text, tmp, err);
    if (!strcasecmp(type, "array")) {
        if (!json_is_array(v))
            return sl_error_set(err, SL_ERR_DATA, "array value is not a JSON array"), NULL;
        const json_t *items = json_object_get(schema, "items");
        json_t *out = json_array(), *e;
        size_t i;
        json_array_foreach(v, i, e) {
            json_t *ce = sl_dbz_convert(items, e, NULL, tmp, err);
            if (!ce) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, ce);
        }
        return out;
    }
    if (!strcasecmp(type, "map") && json_is_object(v)) {
        const json_t *vals = json_object_get(schema, "values");
        json_t *out = json_object(), *e;
        const char *k;
        json_object_foreach((json_t *)v, k, e) {
            json_t *ce = sl_dbz_convert(vals, e, NULL, tmp, err);
            if (!ce) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, ce);
        }
        return out;
    }
    /* int8..int64, float32/64, boolean, string and the string semantic types
     * (Json, Uuid, Enum, Xml, ...): the JSON value is already right. */
    return json_incref((json_t *)v);
}

/* ---- schema -> sl_change.fields ---- */

/* The semantic types Debezium sends, by name (Decimal is common to all). */
static const sl_connect_named dbz_named[] = {
    {DBZ "data.VariableScaleDecimal", "numeric"},
    {DBZ "time.Date", "date"},
    {CONNECT "Date", "date"},
    {DBZ "time.Time", "time"},
    {DBZ "time.MicroTime", "time"},
    {DBZ "time.NanoTime", "time"},
    {CONNECT "Time", "time"},
    {DBZ "time.Timestamp", "timestamp"},
    {DBZ "time.MicroTimestamp", "timestamp"},
    {DBZ "time.NanoTimestamp", "timestamp"},
    {CONNECT "Timestamp", "timestamptz"},
    {DBZ "time.ZonedTimestamp", "timestamptz"},
    {DBZ "data.Json", "jsonb"},
    {DBZ "data.Uuid", "uuid"},
    {NULL, NULL},
};

json_t *sl_dbz_fields(const json_t *schema, const json_t *key_schema)
{
    if (!sl_connect_stype(schema) || strcasecmp(sl_connect_stype(schema), "struct"))
        return NULL;
    json_t *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = field_name(f);
        if (!name)
            continue;
        const json_t *fs = field_schema(f);
        json_t *o = json_pack("{s:s, s:b}", "name", name, "optional", json_is_true(json_object_get(fs, "optional")));
        json_object_set_new(o, "type", json_string(sl_connect_sluice_type(fs, o, dbz_named)));
        json_object_set_new(o, "source_type", json_string(sl_connect_sname(fs) ? sl_connect_sname(fs) : sl_connect_stype(fs) ? sl_connect_stype(fs) : "?"));
        size_t k;
        json_t *kf;
        json_array_foreach(json_object_get(key_schema, "fields"), k, kf) {
            const char *kn = field_name(kf);
            if (kn && !strcmp(kn, name))
                json_object_set_new(o, "key", json_true());
        }
        json_array_append_new(out, o);
    }
    return out;
}

/* ---- schemaless values, read by the target column's type ---- */

static bool plain_numeric(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool any = false;
    while (*p >= '0' && *p <= '9')
        p++, any = true;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            any = true;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return any && !*p;
}

/* The scale of "numeric(12,2)"; 0 for "numeric(12)"; -1 when unconstrained. */
static int column_scale(const char *type_name)
{
    const char *p = type_name ? strchr(type_name, '(') : NULL;
    if (!p)
        return -1;
    const char *comma = strchr(p, ',');
    return comma ? atoi(comma + 1) : 0;
}

int sl_dbz_convert_cell(const sl_column *col, const json_t *v, sl_strbuf *out, sl_error *err)
{
    if (col->type == SL_COL_NUMERIC) {
        if (json_is_object(v) && json_is_integer(json_object_get(v, "scale")) &&
            json_is_string(json_object_get(v, "value"))) { /* VariableScaleDecimal */
            const json_t *val = json_object_get(v, "value");
            return sl_dbz_decimal_text(json_string_value(val), json_string_length(val),
                                       json_integer_value(json_object_get(v, "scale")), out, err)
                       ? -1
                       : 1;
        }
        if (json_is_string(v) && !plain_numeric(json_string_value(v)) &&
            strcasecmp(json_string_value(v), "NaN") && strcasecmp(json_string_value(v), "Infinity") &&
            strcasecmp(json_string_value(v), "-Infinity")) {
            int scale = column_scale(col->type_name);
            if (scale < 0)
                return sl_error_set(err, SL_ERR_DATA,
                                    "\"%.40s\" looks like a base64 decimal, but without a schema its scale is "
                                    "unknown and the column %s has none: enable schemas, or set "
                                    "decimal.handling.mode=string on the connector",
                                    json_string_value(v), col->type_name ? col->type_name : "numeric");
            return sl_dbz_decimal_text(json_string_value(v), json_string_length(v), scale, out, err) ? -1 : 1;
        }
        return 0;
    }
    if (col->type == SL_COL_BYTEA && json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] == '\\' && s[1] == 'x')
            return 0; /* already hex (decoded under a schema) */
        size_t n = json_string_length(v);
        unsigned char *b = sl_xmalloc(n + 3);
        long len = sl_base64_decode(s, n, b);
        if (len < 0) {
            free(b);
            return sl_error_set(err, SL_ERR_DATA, "bytes value is not base64 (binary.handling.mode=bytes)");
        }
        sl_fmt_hex(out, b, (size_t)len);
        free(b);
        return 1;
    }
    return 0;
}
