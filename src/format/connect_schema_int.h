/* connect_schema_int.h - Kafka Connect schemas ({"type", "name", "parameters",
 * "fields" / "items" / "keys" / "values"}) as the Connect JSON and Debezium
 * formats both read them: parameters, and the sluice column type of a
 * schema (schema_sync.h) for auto_create / auto_evolve.  Each format adds
 * the semantic types it knows by name. */
#ifndef SLUICE_FORMAT_CONNECT_SCHEMA_INT_H
#define SLUICE_FORMAT_CONNECT_SCHEMA_INT_H

#include <jansson.h>

#define SL_CONNECT "org.apache.kafka.connect.data."

/* A semantic type ("name" of a schema) and the sluice type it is stored as. */
typedef struct sl_connect_named {
    const char *name;
    const char *type;
} sl_connect_named;

static inline const char *sl_connect_stype(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "type"));
}

static inline const char *sl_connect_sname(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "name"));
}

/* sl_connect_param() - a parameter ("scale", "length") as an integer
 * (Connect writes them as strings), @dflt when absent. */
long long sl_connect_param(const json_t *schema, const char *key, long long dflt);

/* sl_connect_plain_type() - the sluice column type of a plain Kafka Connect
 * type (int8 ... bytes, struct, map), NULL for array and unknown types. */
const char *sl_connect_plain_type(const char *type);

/* sl_connect_sluice_type() - the sluice type of @schema: Connect's Decimal
 * (numeric; its precision and scale go into @f unless NULL), a semantic
 * type of @named (ended by a NULL name) by its name, a plain type, an array
 * (its item type goes into @f), else text. */
const char *sl_connect_sluice_type(const json_t *schema, json_t *f, const sl_connect_named *named);

#endif
