/* protobuf_int.h - the small C interface over libprotobuf's reflection
 * (protobuf_reflect.cc) that `format: protobuf` (protobuf.c) decodes with.
 *
 * A schema is built from the registry's answer: the schema itself and the
 * files it imports (its references, resolved transitively), each either a
 * serialized FileDescriptorProto in base64 (what `?format=serialized`
 * answers, and what confluent-kafka's serializers register) or .proto text
 * (what some registries keep), which libprotobuf's own parser reads.  The
 * well-known types (google/protobuf/...) come from libprotobuf itself.
 *
 * Every object here is used by one thread at a time (protobuf.c keeps them
 * per thread). */
#ifndef SLUICE_PROTOBUF_INT_H
#define SLUICE_PROTOBUF_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "sluice/strbuf.h"

/* One file of a schema: its name (imports refer to it by this) and text. */
typedef struct sl_pb_file {
    const char *name;
    const char *text;
} sl_pb_file;

typedef struct sl_pb_schema sl_pb_schema;
typedef struct sl_pb_msg sl_pb_msg;

/* sl_pb_schema_new() - the schema of @files[@n - 1], whose imports are
 * among @files[0 .. @n - 2] or are well-known types; NULL with @why
 * (a sentence) when a file does not parse or an import is missing. */
sl_pb_schema *sl_pb_schema_new(const sl_pb_file *files, size_t n, sl_strbuf *why);
void sl_pb_schema_free(sl_pb_schema *s);

/* sl_pb_schema_message() - the message the Confluent message-index path
 * @path[0 .. @n - 1] names (top-level message @path[0], its nested
 * message @path[1], ...), owned by @s; NULL with @why when there is none. */
sl_pb_msg *sl_pb_schema_message(sl_pb_schema *s, const int *path, size_t n, sl_strbuf *why);

/* sl_pb_msg_name() - the message's full name ("pkg.Order"). */
const char *sl_pb_msg_name(const sl_pb_msg *m);

/* sl_pb_msg_fields() - the message's fields as sl_change.fields
 * (decoder.h): name, sluice type, optional, source_type; borrowed. */
json_t *sl_pb_msg_fields(sl_pb_msg *m);

/* sl_pb_msg_fields_with_key() - @m's fields with those of the record key's
 * message @key (decoder.h's sl_fields_with_key()), made once per key
 * message; borrowed. */
json_t *sl_pb_msg_fields_with_key(sl_pb_msg *m, sl_pb_msg *key);

/* One top-level field of a message, for the direct reader (protobuf_cells.c). */
typedef struct sl_pb_field {
    const char *name;
    int number;
    int type;       /* google.protobuf.FieldDescriptorProto.Type: 1 double .. 18 sint64 */
    bool repeated;  /* repeated fields and maps */
    bool presence;  /* NULL when unset (messages, oneof members, proto3 optional) */
    bool timestamp; /* a google.protobuf.Timestamp */
} sl_pb_field;

size_t sl_pb_msg_nfields(const sl_pb_msg *m);
void sl_pb_msg_field(const sl_pb_msg *m, size_t i, sl_pb_field *out);
/* sl_pb_msg_enum_name() - the name enum field @i gives @number, or NULL. */
const char *sl_pb_msg_enum_name(const sl_pb_msg *m, size_t i, int number);

/* sl_pb_decode() - the message in @buf into a JSON object by the decoder.h
 * conventions; NULL with @why when the bytes are not a message of @m's
 * type (corrupt, truncated, a string that is not UTF-8). */
json_t *sl_pb_decode(sl_pb_msg *m, const void *buf, size_t len, sl_strbuf *why);

/* Provided by protobuf.c, so that text forms follow textfmt.h's one set of
 * rules: a Timestamp, a Duration and bytes as decoder.h writes them. */
json_t *sl_pb_timestamp_json(int64_t seconds, int32_t nanos);
json_t *sl_pb_duration_json(int64_t seconds, int32_t nanos);
json_t *sl_pb_bytes_json(const void *buf, size_t len);

#ifndef __cplusplus
#include "sluice/decoder.h"
#include "sluice/registry.h"

/* sl_protobuf_wire() - the Confluent framing of @buf: the schema id, the
 * message its index path names (built from the registry on first use, per
 * thread) and the message's bytes.  SL_ERR_DATA for bad framing, an unknown
 * id or index, a schema that does not build; SL_ERR_RETRY from the registry. */
/* sl_protobuf_message() - the message of schema @id that @path names. */
sl_pb_msg *sl_protobuf_message(sl_registry *reg, int id, const int *path, size_t n, sl_error *err);
int sl_protobuf_wire(sl_registry *reg, const void *buf, size_t len, sl_pb_msg **msg, const void **body,
                     size_t *body_len, int *schema_id, sl_error *err);
/* sl_protobuf_decode_wire() - a whole framed message into a JSON object,
 * with its fields (sl_change.fields, a new reference) when @fields. */
int sl_protobuf_decode_wire(sl_registry *reg, const void *buf, size_t len, json_t **value, json_t **fields,
                            int *schema_id, sl_error *err);
/* sl_protobuf_decode_key() - key_format: protobuf. */
int sl_protobuf_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err);
/* sl_protobuf_thread_cleanup() - free this thread's built schemas now. */
void sl_protobuf_thread_cleanup(void);
#endif

#ifdef __cplusplus
}
#endif

#endif
