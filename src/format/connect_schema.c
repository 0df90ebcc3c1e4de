/* connect_schema.c - Kafka Connect schemas read the same way by the Connect
 * JSON and Debezium formats (see connect_schema_int.h).  Reference: Apache
 * Kafka, connect/api org.apache.kafka.connect.data.{Schema,Decimal}. */
#include "connect_schema_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

long long sl_connect_param(const json_t *schema, const char *key, long long dflt)
{
    json_t *p = json_object_get(json_object_get(schema, "parameters"), key);
    if (json_is_string(p))
        return strtoll(json_string_value(p), NULL, 10);
    if (json_is_integer(p))
        return json_integer_value(p);
    return dflt;
}

const char *sl_connect_plain_type(const char *type)
{
    static const struct {
        const char *connect, *sluice;
    } map[] = {
        {"int8", "smallint"}, {"int16", "smallint"},  {"int32", "integer"},
        {"int64", "bigint"},  {"float", "real"},      {"float32", "real"},
        {"double", "double precision"}, {"float64", "double precision"},
        {"boolean", "boolean"}, {"string", "text"},   {"bytes", "bytea"},
        {"struct", "jsonb"},  {"map", "jsonb"},
    };
    for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcasecmp(map[i].connect, type))
            return map[i].sluice;
    return NULL;
}

const char *sl_connect_sluice_type(const json_t *schema, json_t *f, const sl_connect_named *named)
{
    const char *type = sl_connect_stype(schema), *name = sl_connect_sname(schema);
    if (!type)
        return "text";
    if (name && !strcmp(name, SL_CONNECT "Decimal")) {
        const char *prec = json_string_value(
            json_object_get(json_object_get(schema, "parameters"), "connect.decimal.precision"));
        if (f && prec)
            json_object_set_new(f, "precision", json_integer(atoi(prec)));
        if (f)
            json_object_set_new(f, "scale", json_integer((json_int_t)sl_connect_param(schema, "scale", 0)));
        return "numeric";
    }
    for (size_t i = 0; name && named[i].name; i++)
        if (!strcmp(name, named[i].name))
            return named[i].type;
    const char *plain = sl_connect_plain_type(type);
    /* a string column's declared length, which Debezium sends with
     * column.propagate.source.type (auto_evolve: widen follows it) */
    long long len = sl_connect_param(schema, "__debezium.source.column.length", -1);
    if (f && plain && !strcmp(plain, "text") && len > 0)
        json_object_set_new(f, "length", json_integer((json_int_t)len));
    if (plain)
        return plain;
    if (!strcasecmp(type, "array")) {
        const json_t *items = json_object_get(schema, "items");
        const char *it = sl_connect_sluice_type(items, NULL, named);
        if (!strcmp(it, "jsonb") || !strcmp(it, "array"))
            return "jsonb";
        if (f) {
            json_object_set_new(f, "items", json_string(it));
            if (!strcmp(it, "numeric"))
                sl_connect_sluice_type(items, f, named);
        }
        return "array";
    }
    return "text";
}
