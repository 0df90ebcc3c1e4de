/* connect_json.c - `format: connect-json`: JSON written by Kafka Connect's
 * JsonConverter with schemas.enable=true, an envelope
 *   {"schema": {"type": "struct", "fields": [{"field": "id", "type": "int64",
 *               "optional": false}, ...], "name": ..., "optional": ...},
 *    "payload": {"id": 42, ...}}
 * The schema types are Connect's (int8, int16, int32, int64, float32/float,
 * float64/double, boolean, string, bytes, array, map, struct); bytes travel
 * as base64; the logical types are named by "name":
 * org.apache.kafka.connect.data.Decimal (bytes, "parameters": {"scale"}),
 * .Date (int32 days), .Time (int32 ms of the day), .Timestamp (int64 ms),
 * converted by the walk connect_value.c shares with Debezium.
 * Reference: Apache Kafka, connect/json JsonConverter and JsonSchema, and
 * connect/api org.apache.kafka.connect.data.{Decimal,Date,Time,Timestamp}. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avro_int.h"
#include "connect_schema_int.h"

#define CONNECT SL_CONNECT

/* JsonConverter's payloads match their schema, or the record is bad data;
 * Connect's own logical types are all it names (connect_value.c). */
static const sl_connect_walk connect_walk = {.strict = true};

static json_t *conv(const json_t *schema, const json_t *v, sl_strbuf *tmp, sl_error *err)
{
    return sl_connect_value(&connect_walk, schema, v, NULL, tmp, err);
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
