/* json_schema_int.h - `format: json-schema` (json_schema.c) to the rest of
 * src/format/: the key reader and the schema-to-fields rules. */
#ifndef SLUICE_JSON_SCHEMA_INT_H
#define SLUICE_JSON_SCHEMA_INT_H

#include "sluice/decoder.h"
#include "sluice/registry.h"

/* sl_json_schema_wire() - the Confluent framing of @buf: the JSON text after
 * it, and the fields its schema gives (borrowed; NULL when the schema is not
 * of an object with properties).  SL_ERR_DATA for bad framing, an unknown
 * id or a schema that is not JSON Schema; SL_ERR_RETRY from the registry. */
int sl_json_schema_wire(sl_registry *reg, const void *buf, size_t len, const char **body, size_t *body_len,
                        const json_t **fields, int *schema_id, sl_error *err);
/* sl_json_schema_fields() - the fields (sl_change.fields) of a JSON Schema
 * document, or NULL when it is not of an object with properties; @refs
 * (or NULL) maps the names of the schemas it references to those schemas. */
json_t *sl_json_schema_fields(const json_t *schema, const json_t *refs);
/* sl_json_schema_decode_key() - key_format: json-schema. */
int sl_json_schema_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);
void sl_json_schema_thread_cleanup(void);

#endif
