/* decoder.c - the table of formats, format dispatch and record-key decoding. */
#include "sluice/decoder.h"

#include <string.h>

#include "avro_int.h"
#include "json_schema_int.h"
#include "protobuf_int.h"

/* One entry a format; a route's `format` is an index into it.  The first
 * ones are in the order of sl_format (config.h), whose constants exist for
 * the code that names a format; a new format is appended and needs none. */
extern const sl_format_ops sl_format_json, sl_format_avro, sl_format_connect_json, sl_format_debezium,
    sl_format_protobuf, sl_format_json_schema;
const sl_format_ops *const sl_formats[] = {
    &sl_format_json,
    &sl_format_avro,
    &sl_format_connect_json,
    &sl_format_debezium,
    &sl_format_protobuf,
    &sl_format_json_schema,
    NULL,
};

void sl_change_clear(sl_change *c)
{
    json_decref(c->value);
    json_decref(c->key);
    json_decref(c->meta);
    json_decref(c->fields);
    json_decref(c->json_text);
    json_decref(c->unavailable);
    json_decref(c->carry_key);
    json_decref(c->new_key);
    memset(c, 0, sizeof(*c));
    c->schema_id = -1;
}

const sl_format_ops *sl_format_lookup(sl_format f)
{
    return (size_t)f < sizeof(sl_formats) / sizeof(sl_formats[0]) ? sl_formats[f] : NULL;
}

int sl_decoder_init(sl_decoder *d, const sl_route_conf *route, struct sl_registry *reg, sl_error *err)
{
    memset(d, 0, sizeof(*d));
    d->route = route;
    d->registry = reg;
    const sl_format_ops *ops = sl_format_lookup(route->format);
    if (ops && ops->needs_registry && !reg)
        return sl_error_set(err, SL_ERR_FATAL, "%s: format %s needs a schema_registry section", route->name,
                            ops->name);
    if (ops && ops->init)
        return ops->init(d, err);
    return 0;
}

void sl_decoder_fini(sl_decoder *d)
{
    const sl_format_ops *ops = d->route ? sl_format_lookup(d->route->format) : NULL;
    if (ops && ops->fini)
        ops->fini(d);
    memset(d, 0, sizeof(*d));
}

int sl_decode_tombstone(const sl_decoder *d, sl_change *out)
{
    if (d->route->delete_on_tombstone) {
        out->op = SL_OP_DELETE;
        return 0;
    }
    out->op = SL_OP_IGNORE;
    out->reason = "tombstone";
    return 0;
}

int sl_decode_key_plain(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    *out = NULL;
    if (!rec->key)
        return 0;
    switch (d->route->key_format) {
    case SL_KEYFMT_STRING:
        *out = json_stringn_nocheck(rec->key, rec->key_len);
        return 0;
    case SL_KEYFMT_AVRO:
        return sl_avro_decode_key(d, rec, out, err);
    case SL_KEYFMT_PROTOBUF:
        return sl_protobuf_decode_key(d, rec, out, err);
    case SL_KEYFMT_JSON_SCHEMA:
        return sl_json_schema_decode_key(d, rec, out, err);
    case SL_KEYFMT_JSON: {
        json_error_t je;
        *out = json_loadb(rec->key, rec->key_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!*out) /* a key that is not JSON is taken as a string (e.g. "1004") */
            *out = json_stringn_nocheck(rec->key, rec->key_len);
        return 0;
    }
    }
    return 0;
}

int sl_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    const sl_format_ops *ops = sl_format_lookup(d->route->format);
    if (ops->decode_key)
        return ops->decode_key(d, rec, out, err);
    return sl_decode_key_plain(d, rec, out, err);
}

int sl_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    memset(out, 0, sizeof(*out));
    out->schema_id = -1;
    if (sl_decode_key(d, rec, &out->key, err))
        return -1;
    const sl_format_ops *ops = sl_format_lookup(d->route->format);
    if (ops->decode(d, rec, out, err)) {
        sl_change_clear(out);
        return -1;
    }
    return 0;
}

json_t *sl_fields_with_key(const json_t *value_fields, const json_t *key_fields)
{
    json_t *all = json_deep_copy(value_fields);
    size_t i, k;
    json_t *f, *g;
    json_array_foreach(key_fields, k, g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        bool found = false;
        json_array_foreach(all, i, f) {
            if (name && !strcmp(json_string_value(json_object_get(f, "name")), name)) {
                json_object_set_new(f, "key", json_true());
                found = true;
            }
        }
        if (!found) {
            json_t *copy = json_deep_copy(g);
            json_object_set_new(copy, "key", json_true());
            json_array_append_new(all, copy);
        }
    }
    return all;
}
