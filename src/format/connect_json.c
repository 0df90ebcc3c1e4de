/* connect_json.c - `format: connect-json`: JSON written by Kafka Connect's
 * JsonConverter with schemas.enable=true, an envelope
 *   {"schema": {"type": "struct", "fields": [{"field": "id", "type": "int64",
 *               "optional": false}, ...], "name": ..., "optional": ...},
 *    "payload": {"id": 42, ...}}
 * The schema types are Connect's (int8, int16, int32, int64, float32/float,
 * float64/double, boolean, string, bytes, array, map, struct); bytes travel
 * as base64; the logical types are named by "name":
 * org.apache.kafka.connect.data.Decimal (bytes, "parameters": {"scale"}),
 * .Date (int32 days), .Time (int32 ms of the day), .Timestamp (int64 ms).
 * Reference: Apache Kafka, connect/json JsonConverter and JsonSchema, and
 * connect/api org.apache.kafka.connect.data.{Decimal,Date,Time,Timestamp}. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avro_int.h"
#include "connect_schema_int.h"

#define CONNECT SL_CONNECT

static json_t *conv(const json_t *schema, const json_t *v, sl_strbuf *tmp, sl_error *err);

static json_t *conv_struct(const json_t *schema, const json_t *v, sl_strbuf *tmp, sl_error *err)
{
    if (!json_is_object(v))
        return sl_error_set(err, SL_ERR_DATA, "a struct payload must be a JSON object"), NULL;
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = json_string_value(json_object_get(f, "field"));
        if (!name)
            continue;
        json_t *fv = json_object_get(v, name);
        if (!fv) /* JsonConverter writes every field; absent means not supplied */
            continue;
        json_t *cv = conv(f, fv, tmp, err);
        if (!cv) {
            sl_error_prefix(err, "%s: ", name);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, name, cv);
    }
    return out;
}

static json_t *conv(const json_t *schema, const json_t *v, sl_strbuf *tmp, sl_error *err)
{
    const char *type = sl_connect_stype(schema), *name = sl_connect_sname(schema);
    if (!type)
        return sl_error_set(err, SL_ERR_DATA, "schema without a \"type\""), NULL;
    if (json_is_null(v))
        return json_null(); /* optional or not, the mapper decides what NULL means for its column */
    sl_strbuf_reset(tmp);
    if (name && !strcmp(name, CONNECT "Decimal")) {
        long long scale = sl_connect_param(schema, "scale", 0);
        if (scale < -SL_DECIMAL_MAX_SCALE || scale > SL_DECIMAL_MAX_SCALE)
            return sl_error_set(err, SL_ERR_DATA, "Decimal scale %lld beyond +-%d", scale,
                                SL_DECIMAL_MAX_SCALE), NULL;
        if (json_is_string(v)) {
            size_t n = json_string_length(v);
            unsigned char *b = sl_xmalloc(n + 1);
            long len = sl_base64_decode(json_string_value(v), n, b);
            if (len < 0) {
                free(b);
                return sl_error_set(err, SL_ERR_DATA, "Decimal is not base64"), NULL;
            }
            int rc = sl_fmt_decimal(tmp, b, (size_t)len, scale);
            free(b);
            if (rc)
                return sl_error_set(err, SL_ERR_DATA, "Decimal of %ld bytes beyond the %d sluice stores",
                                    len, SL_DECIMAL_MAX_BYTES), NULL;
            return json_stringn(tmp->data, tmp->len);
        }
        if (json_is_integer(v)) /* decimal.format=NUMERIC with no fraction */
            return json_integer(json_integer_value(v));
        if (json_is_real(v)) { /* decimal.format=NUMERIC: JSON number, scale digits */
            sl_strbuf_printf(tmp, "%.*f", scale < 0 ? 0 : (int)scale, json_real_value(v));
            return json_stringn(tmp->data, tmp->len);
        }
        return sl_error_set(err, SL_ERR_DATA, "Decimal payload must be base64 text or a number"), NULL;
    }
    if (name && (!strcmp(name, CONNECT "Date") || !strcmp(name, CONNECT "Time") ||
                 !strcmp(name, CONNECT "Timestamp"))) {
        if (!json_is_integer(v))
            return sl_error_set(err, SL_ERR_DATA, "%s payload must be an integer", name), NULL;
        json_int_t x = json_integer_value(v);
        if (!strcmp(name, CONNECT "Date")) {
            sl_fmt_date(tmp, x);
        } else if (!strcmp(name, CONNECT "Time")) {
            if (x < 0 || x > 86400000)
                return sl_error_set(err, SL_ERR_DATA, "Time %" JSON_INTEGER_FORMAT " ms out of range", x), NULL;
            sl_fmt_time_us(tmp, x * 1000);
        } else {
            if (x > INT64_MAX / 1000 || x < INT64_MIN / 1000)
                return sl_error_set(err, SL_ERR_DATA, "Timestamp out of range"), NULL;
            sl_fmt_timestamp_us(tmp, x * 1000, true);
        }
        return json_stringn(tmp->data, tmp->len);
    }
    if (!strcmp(type, "int8") || !strcmp(type, "int16") || !strcmp(type, "int32") ||
        !strcmp(type, "int64")) {
        if (!json_is_integer(v))
            return sl_error_set(err, SL_ERR_DATA, "%s payload is not an integer", type), NULL;
        return json_incref((json_t *)v);
    }
    if (!strcmp(type, "float") || !strcmp(type, "double") || !strcmp(type, "float32") ||
        !strcmp(type, "float64")) {
        if (!json_is_number(v) && !json_is_string(v)) /* "NaN", "Infinity" */
            return sl_error_set(err, SL_ERR_DATA, "%s payload is not a number", type), NULL;
        return json_incref((json_t *)v);
    }
    if (!strcmp(type, "boolean")) {
        if (!json_is_boolean(v))
            return sl_error_set(err, SL_ERR_DATA, "boolean payload is not true/false"), NULL;
        return json_incref((json_t *)v);
    }
    if (!strcmp(type, "string")) {
        if (!json_is_string(v))
            return sl_error_set(err, SL_ERR_DATA, "string payload is not a string"), NULL;
        return json_incref((json_t *)v);
    }
    if (!strcmp(type, "bytes")) {
        if (!json_is_string(v))
            return sl_error_set(err, SL_ERR_DATA, "bytes payload is not base64 text"), NULL;
        if (sl_fmt_hex_base64(tmp, json_string_value(v), json_string_length(v)))
            return sl_error_set(err, SL_ERR_DATA, "bytes payload is not base64"), NULL;
        return json_stringn(tmp->data, tmp->len);
    }
    if (!strcmp(type, "struct"))
        return conv_struct(schema, v, tmp, err);
    if (!strcmp(type, "array")) {
        if (!json_is_array(v))
            return sl_error_set(err, SL_ERR_DATA, "array payload is not an array"), NULL;
        json_t *items = json_object_get(schema, "items"), *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            json_t *ce = conv(items, e, tmp, err);
            if (!ce) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, ce);
        }
        return out;
    }
    if (!strcmp(type, "map")) {
        json_t *vals = json_object_get(schema, "values");
        if (json_is_object(v)) { /* string keys: a JSON object */
            json_t *out = json_object(), *e;
            const char *k;
            json_object_foreach((json_t *)v, k, e) {
                json_t *ce = conv(vals, e, tmp, err);
                if (!ce) {
                    json_decref(out);
                    return NULL;
                }
                json_object_set_new(out, k, ce);
            }
            return out;
        }
        if (json_is_array(v)) { /* other keys: [[key, value], ...], kept as pairs */
            json_t *keys = json_object_get(schema, "keys"), *out = json_array(), *pair;
            size_t i;
            json_array_foreach(v, i, pair) {
                json_t *ck = conv(keys, json_array_get(pair, 0), tmp, err);
                json_t *cv = ck ? conv(vals, json_array_get(pair, 1), tmp, err) : NULL;
                if (!ck || !cv) {
                    json_decref(ck);
                    json_decref(out);
                    return NULL;
                }
                json_array_append_new(out, json_pack("[oo]", ck, cv));
            }
            return out;
        }
        return sl_error_set(err, SL_ERR_DATA, "map payload is neither an object nor an array"), NULL;
    }
    return sl_error_set(err, SL_ERR_DATA, "unknown Connect type \"%s\"", type), NULL;
}

/* The semantic types of Connect JSON, by name (Decimal is common to all). */
static const sl_connect_named connect_named[] = {
    {CONNECT "Date", "date"},
    {CONNECT "Time", "time"},
    {CONNECT "Timestamp", "timestamptz"},
    {NULL, NULL},
};

static json_t *connect_fields(const json_t *schema, bool key)
{
    json_t *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = json_string_value(json_object_get(f, "field"));
        if (!name)
            continue;
        json_t *o = json_pack("{s:s, s:b}", "name", name, "optional",
                              json_is_true(json_object_get(f, "optional")));
        json_object_set_new(o, "type", json_string(sl_connect_sluice_type(f, o, connect_named)));
        const char *n = sl_connect_sname(f);
        sl_strbuf src = SL_STRBUF_INIT;
        sl_strbuf_printf(&src, "%s%s%s", sl_connect_stype(f) ? sl_connect_stype(f) : "?", n ? " " : "", n ? n : "");
        json_object_set_new(o, "source_type", json_string(src.data));
        sl_strbuf_free(&src);
        if (key)
            json_object_set_new(o, "key", json_true());
        json_array_append_new(out, o);
    }
    return out;
}

static bool is_envelope(const json_t *j)
{
    return json_is_object(j) && json_object_size(j) == 2 && json_is_object(json_object_get(j, "schema")) &&
           json_object_get(j, "payload");
}

static int cj_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    sl_strbuf tmp = SL_STRBUF_INIT;
    json_t *key_fields = NULL;
    /* a Connect JSON key (key_format json) is an envelope too: unwrap it */
    if (is_envelope(out->key)) {
        json_t *ks = json_object_get(out->key, "schema");
        json_t *k = conv(ks, json_object_get(out->key, "payload"), &tmp, err);
        if (!k) {
            sl_strbuf_free(&tmp);
            sl_error_prefix(err, "key: ");
            return -1;
        }
        if (sl_connect_stype(ks) && !strcmp(sl_connect_stype(ks), "struct"))
            key_fields = connect_fields(ks, true);
        json_decref(out->key);
        out->key = k;
    }
    json_t *payload = NULL, *env = NULL;
    if (rec->value) {
        json_error_t je;
        env = json_loadb(rec->value, rec->value_len, 0, &je);
        if (!env) {
            sl_strbuf_free(&tmp);
            json_decref(key_fields);
            return sl_error_set(err, SL_ERR_DATA, "invalid JSON at byte %d: %s", je.position, je.text);
        }
        if (!json_is_object(env) || !json_object_get(env, "schema") || !json_object_get(env, "payload")) {
            json_decref(env);
            sl_strbuf_free(&tmp);
            json_decref(key_fields);
            return sl_error_set(err, SL_ERR_DATA,
                                "not a Connect JSON envelope {\"schema\": ..., \"payload\": ...} (is schemas.enable=true?)");
        }
        payload = json_object_get(env, "payload");
    }
    if (!rec->value || json_is_null(payload)) { /* tombstone, or a null payload */
        json_decref(env);
        sl_strbuf_free(&tmp);
        json_decref(key_fields);
        return sl_decode_tombstone(d, out);
    }
    json_t *schema = json_object_get(env, "schema");
    if (!sl_connect_stype(schema) || strcmp(sl_connect_stype(schema), "struct")) {
        json_decref(env);
        sl_strbuf_free(&tmp);
        json_decref(key_fields);
        return sl_error_set(err, SL_ERR_DATA, "the Connect schema is a %s, not a struct: a row needs named fields",
                            sl_connect_stype(schema) ? sl_connect_stype(schema) : "(no type)");
    }
    out->value = conv(schema, payload, &tmp, err);
    sl_strbuf_free(&tmp);
    if (!out->value) {
        json_decref(env);
        json_decref(key_fields);
        return -1;
    }
    out->fields = connect_fields(schema, false);
    if (key_fields) { /* mark key fields; add those the value lacks */
        size_t i, k;
        json_t *f, *g;
        json_array_foreach(key_fields, k, g) {
            bool found = false;
            json_array_foreach(out->fields, i, f) {
                if (!strcmp(json_string_value(json_object_get(f, "name")),
                            json_string_value(json_object_get(g, "name")))) {
                    json_object_set_new(f, "key", json_true());
                    found = true;
                }
            }
            if (!found)
                json_array_append(out->fields, g);
        }
        json_decref(key_fields);
    }
    json_decref(env);
    out->op = SL_OP_UPSERT;
    return 0;
}

const sl_format_ops sl_format_connect_json = {
    .name = "connect-json",
    .decode = cj_decode,
};
