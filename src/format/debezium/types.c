/* types.c - Debezium values under their Kafka Connect schemas, converted to
 * the conventions of decoder.h: Debezium's own semantic types on the walk
 * of ../connect_value.c (which converts Connect's Decimal, Date, Time and
 * Timestamp, structs, arrays, maps and bytes).
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

bool sl_dbz_unavailable_text(const char *s, size_t n)
{
    static const char b64[] = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ"; /* base64 of the placeholder */
    size_t ph = strlen(SL_DBZ_UNAVAILABLE), len = strlen(b64);
    if (n == ph && !memcmp(s, SL_DBZ_UNAVAILABLE, ph))
        return true;
    return n >= len && !memcmp(s, b64, len) && (n == len || (n == len + 2 && !memcmp(s + len, "==", 2)));
}

bool sl_dbz_is_unavailable(const json_t *v)
{
    if (json_is_string(v)) { /* compared as C strings: the text up to a NUL */
        const char *s = json_string_value(v);
        return sl_dbz_unavailable_text(s, strlen(s));
    }
    if (json_is_array(v) && json_array_size(v) == 1)
        return sl_dbz_is_unavailable(json_array_get(v, 0)) && json_is_string(json_array_get(v, 0));
    return false;
}

static bool is(const char *name, const char *want)
{
    return name && !strcmp(name, want);
}

static json_t *text(sl_strbuf *tmp)
{
    return json_stringn(tmp->data, tmp->len);
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

/* Debezium's semantic types, and its placeholder for an unchanged TOAST
 * column, which passes whatever the schema says (sl_connect_walk.named). */
static bool dbz_semantic(const json_t *schema, const char *type, const char *name, const json_t *v,
                         sl_strbuf *tmp, json_t **out, sl_error *err)
{
    if (!name)
        goto bytes;
    if (is(name, CONNECT "Decimal") && sl_dbz_is_unavailable(v)) {
        *out = json_incref((json_t *)v);
        return true;
    }
    if (is(name, DBZ "data.VariableScaleDecimal")) {
        json_t *sc = json_object_get(v, "scale"), *val = json_object_get(v, "value");
        if (!json_is_object(v))
            *out = json_incref((json_t *)v);
        else if (!json_is_integer(sc) || !json_is_string(val))
            *out = NULL, sl_error_set(err, SL_ERR_DATA, "VariableScaleDecimal needs {\"scale\": int, \"value\": base64}");
        else if (sl_connect_decimal_text(json_string_value(val), json_string_length(val), json_integer_value(sc), tmp, err))
            *out = NULL;
        else
            *out = text(tmp);
        return true;
    }
    if (!strncmp(name, DBZ "time.", strlen(DBZ "time."))) {
        if (!strcasecmp(type, "string")) /* ZonedTimestamp, ZonedTime, Interval: ISO text */
            *out = json_incref((json_t *)v);
        else /* local date-times: no time zone */
            *out = sl_connect_temporal(name, name + strlen(DBZ "time."), false, false, v, tmp, err);
        return true;
    }
    if (is(name, DBZ "data.Bits") && json_is_string(v)) {
        *out = bits(schema, v, tmp, err);
        return true;
    }
bytes:
    if (!strcasecmp(type, "bytes") && sl_dbz_is_unavailable(v)) {
        *out = json_string(SL_DBZ_UNAVAILABLE);
        return true;
    }
    return false;
}

static const sl_connect_walk dbz_walk = {
    .named = dbz_semantic,
    .strict = false,
    .collect_name = DBZ "data.Json",
};

json_t *sl_dbz_convert(const json_t *schema, const json_t *v, json_t *json_text, sl_strbuf *tmp,
                       sl_error *err)
{
    return sl_connect_value(&dbz_walk, schema, v, json_text, tmp, err);
}

/* ---- schema -> sl_change.fields ---- */

json_t *sl_dbz_convert_field(const json_t *field, const json_t *v, bool *json_text, sl_strbuf *tmp,
                             sl_error *err)
{
    const json_t *fs = sl_connect_field_schema(field);
    const char *sname = sl_connect_sname(fs);
    *json_text = sname && !strcmp(sname, dbz_walk.collect_name) && json_is_string(v);
    return sl_connect_value(&dbz_walk, fs, v, NULL, tmp, err);
}

/* A converted field's plan for sl_dbz_convert_token(), from its schema
 * once (schema_cache.c keeps it with the field): what dbz_semantic() and
 * sl_connect_value() do with a string or an integer under that schema.
 * Bits 0-3 the kind, 4 an io.debezium.data.Json field, 5 UTC, 8-11 the
 * temporal unit (units[]), 32-63 a Decimal's scale. */
enum { TOKEN_NONE, TOKEN_STRING, TOKEN_DECIMAL, TOKEN_TEMPORAL };
#define TOKEN_JSON 0x10
#define TOKEN_UTC 0x20
static const char *const units[] = {"Date", "Time", "MicroTime", "NanoTime", "Timestamp", "MicroTimestamp",
                                    "NanoTimestamp"};

static int64_t temporal_plan(const char *unit, bool utc)
{
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
        if (!strcmp(unit, units[u]))
            return TOKEN_TEMPORAL | (utc ? TOKEN_UTC : 0) | (int64_t)u << 8;
    return TOKEN_STRING; /* Year and the like: strings kept, integers stay numbers */
}

int64_t sl_dbz_token_plan(const json_t *field)
{
    const json_t *fs = sl_connect_field_schema(field);
    const char *type = sl_connect_stype(fs), *name = sl_connect_sname(fs);
    if (!type || !name || is(name, DBZ "data.Bits"))
        return TOKEN_NONE; /* unnamed (bytes) and Bits: sl_dbz_convert_field() */
    int64_t json = is(name, dbz_walk.collect_name) ? TOKEN_JSON : 0;
    if (is(name, DBZ "data.VariableScaleDecimal")) /* a string is not its struct: kept */
        return TOKEN_STRING | json;
    if (!strncmp(name, DBZ "time.", strlen(DBZ "time.")))
        return (strcasecmp(type, "string") ? temporal_plan(name + strlen(DBZ "time."), false) : TOKEN_STRING) | json;
    if (!strncmp(name, CONNECT, strlen(CONNECT))) {
        const char *unit = name + strlen(CONNECT);
        if (!strcmp(unit, "Decimal")) {
            long long scale = sl_connect_param(fs, "scale", 0);
            if (scale < INT32_MIN || scale > INT32_MAX)
                return TOKEN_NONE;
            return TOKEN_DECIMAL | json | (int64_t)((uint64_t)(uint32_t)(int32_t)scale << 32);
        }
        if (!strcmp(unit, "Date") || !strcmp(unit, "Time") || !strcmp(unit, "Timestamp"))
            return (strcasecmp(type, "string") ? temporal_plan(unit, true) : TOKEN_STRING) | json;
        return TOKEN_NONE;
    }
    return !strcasecmp(type, "string") ? TOKEN_STRING | json : TOKEN_NONE;
}

int sl_dbz_convert_token(int64_t plan, const char *s, size_t n, const int64_t *integer, sl_strbuf *tmp,
                         const char **out, size_t *out_len, bool *json_text)
{
    int kind = (int)(plan & 0xf);
    sl_error scratch = {0};
    if (kind == TOKEN_NONE)
        return 0;
    if (!integer) {
        if (sl_dbz_unavailable_text(s, n))
            return 0; /* the placeholder: dbz_semantic() decides by name and type */
        *json_text = plan & TOKEN_JSON;
        if (kind != TOKEN_DECIMAL) { /* kept as it is */
            *out = s, *out_len = n;
            return 1;
        }
        sl_strbuf_reset(tmp);
        if (sl_connect_decimal_text(s, n, (int32_t)(uint32_t)((uint64_t)plan >> 32), tmp, &scratch))
            return 0;
        *out = tmp->data, *out_len = tmp->len;
        return 1;
    }
    if (kind != TOKEN_TEMPORAL)
        return 0; /* integers kept as numbers */
    const char *unit = units[(plan >> 8) & 0xf];
    sl_strbuf_reset(tmp);
    if (sl_connect_temporal_text(unit, unit, plan & TOKEN_UTC, *integer, tmp, &scratch) != 1)
        return 0;
    *json_text = false;
    *out = tmp->data, *out_len = tmp->len;
    return 1;
}

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
        const char *name = sl_connect_field_name(f);
        if (!name)
            continue;
        const json_t *fs = sl_connect_field_schema(f);
        json_t *o = json_pack("{s:s, s:b}", "name", name, "optional", json_is_true(json_object_get(fs, "optional")));
        json_object_set_new(o, "type", json_string(sl_connect_sluice_type(fs, o, dbz_named)));
        json_object_set_new(o, "source_type", json_string(sl_connect_sname(fs) ? sl_connect_sname(fs) : sl_connect_stype(fs) ? sl_connect_stype(fs) : "?"));
        size_t k;
        json_t *kf;
        json_array_foreach(json_object_get(key_schema, "fields"), k, kf) {
            const char *kn = sl_connect_field_name(kf);
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
            return sl_connect_decimal_text(json_string_value(val), json_string_length(val),
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
            return sl_connect_decimal_text(json_string_value(v), json_string_length(v), scale, out, err) ? -1 : 1;
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
