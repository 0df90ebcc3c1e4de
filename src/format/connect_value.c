/* connect_value.c - one Kafka Connect value under its schema, converted to
 * the conventions of decoder.h: the walk that both `format: connect-json`
 * (connect_json.c) and Debezium (debezium/types.c) use.  Structs, arrays
 * and maps are walked here, bytes (base64) become hex, and Connect's own
 * logical types are converted here:
 *
 *   org.apache.kafka.connect.data.Decimal    bytes: big-endian two's-complement
 *                                            unscaled value, "scale" parameter
 *                                            (JsonConverter's decimal.format=NUMERIC:
 *                                            a JSON number)
 *   org.apache.kafka.connect.data.Date       int32 days since the epoch
 *   org.apache.kafka.connect.data.Time       int32 ms past midnight
 *   org.apache.kafka.connect.data.Timestamp  int64 ms since the epoch (UTC)
 *
 * A format adds the semantic types it knows by name (sl_connect_walk.named).
 * Type names are compared without regard to case: JsonConverter writes them
 * in lower case, Connect's Schema.Type spells them in upper case.
 * Reference: Apache Kafka, connect/json JsonConverter and JsonSchema, and
 * connect/api org.apache.kafka.connect.data.{Decimal,Date,Time,Timestamp}. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avro_int.h"
#include "connect_schema_int.h"
#include "sluice/textfmt.h"

static json_t *text(const sl_strbuf *tmp)
{
    return json_stringn(tmp->data, tmp->len);
}

static bool type_is(const char *type, const char *want)
{
    return !strcasecmp(type, want);
}

int sl_connect_decimal_text(const char *b64, size_t n, int64_t scale, sl_strbuf *out, sl_error *err)
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

/* "HH:MM:SS.ffffff" or, with a sub-microsecond rest, nine digits. */
static void put_time_ns(sl_strbuf *out, int64_t ns)
{
    sl_fmt_time_us(out, ns / 1000);
    if (ns % 1000)
        sl_strbuf_printf(out, "%03d", (int)(ns % 1000));
}

/* A local (@utc false) or UTC date-time: @us since the epoch and three
 * more digits @subus. */
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

int sl_connect_temporal_text(const char *name, const char *unit, bool utc, int64_t x, sl_strbuf *tmp,
                             sl_error *err)
{
    if (!strcmp(unit, "Date")) {
        if (x > 100000000 || x < -100000000)
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is out of range", name, x);
        sl_fmt_date(tmp, x);
        return 1;
    }
    int64_t mul = 0; /* ns a unit */
    bool timeofday = false;
    if (!strcmp(unit, "Time"))
        mul = 1000000, timeofday = true;
    else if (!strcmp(unit, "MicroTime"))
        mul = 1000, timeofday = true;
    else if (!strcmp(unit, "NanoTime"))
        mul = 1, timeofday = true;
    else if (!strcmp(unit, "Timestamp"))
        mul = 1000000;
    else if (!strcmp(unit, "MicroTimestamp"))
        mul = 1000;
    else if (!strcmp(unit, "NanoTimestamp"))
        mul = 1;
    if (!mul) /* Year and other integer semantics: the number itself */
        return 0;
    if (timeofday) {
        /* 24:00:00 is a valid time of day in PostgreSQL and MySQL */
        if (x < 0 || x > 86400000000000LL / mul)
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is not a time of day", name, x);
        put_time_ns(tmp, x * mul);
        return 1;
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
            return sl_error_set(err, SL_ERR_DATA, "%s %" PRId64 " is out of range", name, x);
        us = x * k;
    }
    put_timestamp_ns(tmp, us, subus, utc);
    return 1;
}

json_t *sl_connect_temporal(const char *name, const char *unit, bool utc, bool strict, const json_t *v,
                            sl_strbuf *tmp, sl_error *err)
{
    if (!json_is_integer(v)) {
        if (json_is_string(v) && !strict) /* already text (a converter's string mode): keep it */
            return json_incref((json_t *)v);
        return sl_error_set(err, SL_ERR_DATA, "%s value is not an integer", name), NULL;
    }
    int rc = sl_connect_temporal_text(name, unit, utc, json_integer_value(v), tmp, err);
    if (rc < 0)
        return NULL;
    return rc ? text(tmp) : json_incref((json_t *)v);
}

const char *sl_connect_field_name(const json_t *f)
{
    const char *n = json_string_value(json_object_get(f, "field"));
    if (!n && json_is_object(json_object_get(f, "schema")))
        n = json_string_value(json_object_get(f, "name"));
    return n;
}

const json_t *sl_connect_field_schema(const json_t *f)
{
    const json_t *s = json_object_get(f, "schema");
    return json_is_object(s) ? s : f;
}

/* A value that does not match its schema: an error where the format is
 * strict, else the value as it came. */
static json_t *mismatch(const sl_connect_walk *w, const json_t *v, sl_error *err, const char *what, const char *type)
{
    if (!w->strict)
        return json_incref((json_t *)v);
    return sl_error_set(err, SL_ERR_DATA, what, type), NULL;
}

static json_t *walk_struct(const sl_connect_walk *w, const json_t *schema, const json_t *v, json_t *collect,
                           sl_strbuf *tmp, sl_error *err)
{
    if (!json_is_object(v))
        return sl_error_set(err, SL_ERR_DATA, "a struct value must be a JSON object"), NULL;
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = sl_connect_field_name(f);
        if (!name)
            continue;
        json_t *fv = json_object_get(v, name);
        if (!fv) /* JsonConverter writes every field; absent means not supplied */
            continue;
        const json_t *fs = sl_connect_field_schema(f);
        const char *sname = sl_connect_sname(fs);
        if (collect && w->collect_name && sname && !strcmp(sname, w->collect_name) && json_is_string(fv))
            json_object_set(collect, name, fv);
        json_t *cv = sl_connect_value(w, fs, fv, NULL, tmp, err);
        if (!cv) {
            sl_error_prefix(err, "%s: ", name);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, name, cv);
    }
    return out;
}

static json_t *walk_array(const sl_connect_walk *w, const json_t *schema, const json_t *v, sl_strbuf *tmp,
                          sl_error *err)
{
    if (!json_is_array(v))
        return sl_error_set(err, SL_ERR_DATA, "array value is not a JSON array"), NULL;
    const json_t *items = json_object_get(schema, "items");
    json_t *out = json_array(), *e;
    size_t i;
    json_array_foreach(v, i, e) {
        json_t *ce = sl_connect_value(w, items, e, NULL, tmp, err);
        if (!ce) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, ce);
    }
    return out;
}

static json_t *walk_map(const sl_connect_walk *w, const json_t *schema, const json_t *v, sl_strbuf *tmp,
                        sl_error *err)
{
    const json_t *vals = json_object_get(schema, "values");
    if (json_is_object(v)) { /* string keys: a JSON object */
        json_t *out = json_object(), *e;
        const char *k;
        json_object_foreach((json_t *)v, k, e) {
            json_t *ce = sl_connect_value(w, vals, e, NULL, tmp, err);
            if (!ce) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, ce);
        }
        return out;
    }
    if (json_is_array(v)) { /* other keys: [[key, value], ...], kept as pairs */
        const json_t *keys = json_object_get(schema, "keys");
        json_t *out = json_array(), *pair;
        size_t i;
        json_array_foreach(v, i, pair) {
            json_t *ck = sl_connect_value(w, keys, json_array_get(pair, 0), NULL, tmp, err);
            json_t *cv = ck ? sl_connect_value(w, vals, json_array_get(pair, 1), NULL, tmp, err) : NULL;
            if (!ck || !cv) {
                json_decref(ck);
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, json_pack("[oo]", ck, cv));
        }
        return out;
    }
    return mismatch(w, v, err, "%s value is neither an object nor an array", "map");
}

/* Connect's Decimal: base64 bytes, or a JSON number (decimal.format=NUMERIC). */
static json_t *decimal(const sl_connect_walk *w, const json_t *schema, const json_t *v, sl_strbuf *tmp,
                       sl_error *err)
{
    long long scale = sl_connect_param(schema, "scale", 0);
    if (w->strict && (scale < -SL_DECIMAL_MAX_SCALE || scale > SL_DECIMAL_MAX_SCALE))
        return sl_error_set(err, SL_ERR_DATA, "Decimal scale %lld beyond +-%d", scale, SL_DECIMAL_MAX_SCALE), NULL;
    if (json_is_string(v))
        return sl_connect_decimal_text(json_string_value(v), json_string_length(v), scale, tmp, err) ? NULL
                                                                                                     : text(tmp);
    if (json_is_integer(v)) /* a number with no fraction */
        return json_incref((json_t *)v);
    if (json_is_real(v) && w->strict) { /* a JSON number: scale digits */
        sl_strbuf_printf(tmp, "%.*f", scale < 0 ? 0 : (int)scale, json_real_value(v));
        return text(tmp);
    }
    return mismatch(w, v, err, "%s payload must be base64 text or a number", "Decimal");
}

json_t *sl_connect_value(const sl_connect_walk *w, const json_t *schema, const json_t *v, json_t *collect,
                         sl_strbuf *tmp, sl_error *err)
{
    const char *type = sl_connect_stype(schema), *name = sl_connect_sname(schema);
    if (!type) { /* an elided or unknown schema */
        if (w->strict)
            return sl_error_set(err, SL_ERR_DATA, "schema without a \"type\""), NULL;
        return json_incref((json_t *)v);
    }
    if (json_is_null(v))
        return json_null(); /* optional or not, the mapper decides what NULL means for its column */
    sl_strbuf_reset(tmp);
    json_t *out;
    if (w->named && w->named(schema, type, name, v, tmp, &out, err))
        return out; /* the format's own semantic type */
    if (name && !strncmp(name, SL_CONNECT, strlen(SL_CONNECT))) {
        const char *unit = name + strlen(SL_CONNECT);
        if (!strcmp(unit, "Decimal"))
            return decimal(w, schema, v, tmp, err);
        if (!strcmp(unit, "Date") || !strcmp(unit, "Time") || !strcmp(unit, "Timestamp")) {
            if (!w->strict && type_is(type, "string")) /* a converter's string mode: ISO text */
                return json_incref((json_t *)v);
            return sl_connect_temporal(name, unit, true, w->strict, v, tmp, err);
        }
    }
    if (type_is(type, "bytes")) {
        if (!json_is_string(v))
            return sl_error_set(err, SL_ERR_DATA, "bytes value is not base64 text"), NULL;
        if (sl_fmt_hex_base64(tmp, json_string_value(v), json_string_length(v)))
            return sl_error_set(err, SL_ERR_DATA, "bytes value is not base64"), NULL;
        return text(tmp);
    }
    if (type_is(type, "struct"))
        return walk_struct(w, schema, v, collect, tmp, err);
    if (type_is(type, "array"))
        return walk_array(w, schema, v, tmp, err);
    if (type_is(type, "map"))
        return walk_map(w, schema, v, tmp, err);
    if (type_is(type, "int8") || type_is(type, "int16") || type_is(type, "int32") || type_is(type, "int64"))
        return json_is_integer(v) ? json_incref((json_t *)v) : mismatch(w, v, err, "%s payload is not an integer", type);
    if (type_is(type, "float") || type_is(type, "double") || type_is(type, "float32") || type_is(type, "float64"))
        return json_is_number(v) || json_is_string(v) /* "NaN", "Infinity" */
                   ? json_incref((json_t *)v)
                   : mismatch(w, v, err, "%s payload is not a number", type);
    if (type_is(type, "boolean"))
        return json_is_boolean(v) ? json_incref((json_t *)v) : mismatch(w, v, err, "%s payload is not true/false", type);
    if (type_is(type, "string"))
        return json_is_string(v) ? json_incref((json_t *)v) : mismatch(w, v, err, "%s payload is not a string", type);
    return mismatch(w, v, err, "unknown Connect type \"%s\"", type);
}
