/* registry.h - Confluent Schema Registry client (libcurl): schemas fetched
 * by id, cached for the life of the process, shared by all workers.
 *
 * Schema ids are global and a registered schema never changes, so a schema
 * fetched once is kept forever.  Concurrent lookups of an id not yet cached
 * are deduplicated: one thread fetches, the others wait for its answer.
 * Several URLs are tried in turn (failover); the last one that answered is
 * tried first next time.
 *
 * REST API: https://docs.confluent.io/platform/current/schema-registry/develop/api.html
 *   GET  /schemas/ids/{id}             -> {"schema": "<text>", "schemaType"?: "AVRO"|"JSON"|"PROTOBUF",
 *                                          "references"?: [{"name", "subject", "version"}]}
 *   GET  /subjects/{s}/versions/{v}    -> the same, for a reference
 *   POST /subjects/{subject}/versions  {"schema": "<text>"} -> {"id": N}
 *   errors: HTTP status + {"error_code": 40403, "message": "Schema not found"}
 */
#ifndef SLUICE_REGISTRY_H
#define SLUICE_REGISTRY_H

#include "sluice/config.h"
#include "sluice/error.h"

typedef struct sl_registry sl_registry;

/* A schema another one references (an imported .proto file), by the name
 * the referencing schema uses for it. */
typedef struct sl_registry_ref {
    const char *name;
    const char *text;
} sl_registry_ref;

/* A registered schema, immutable once returned; owned by the registry and
 * valid until sl_registry_free(). */
typedef struct sl_registry_schema {
    int id;
    const char *type; /* "AVRO" (the default when the registry omits schemaType), "JSON", "PROTOBUF" */
    const char *text; /* the schema as registered (JSON text for Avro); Protobuf: as
                         GET /schemas/ids/{id}?format=serialized answers it (base64 of a
                         FileDescriptorProto where the registry can, else .proto text) */
    size_t nrefs;     /* its references, transitively, each after those it references
                         (GET /subjects/{subject}/versions/{version}, the same way) */
    const sl_registry_ref *refs;
} sl_registry_schema;

/* sl_registry_new() - NULL with @err when the configuration is unusable;
 * does not contact the registry.  Calls curl_global_init() once. */
sl_registry *sl_registry_new(const sl_registry_conf *conf, sl_error *err);
void sl_registry_free(sl_registry *r);

/**
 * sl_registry_get() - the schema registered under @id.
 * @r: the registry (thread-safe: any worker, any time)
 * @id: schema id from the record
 * @out: set to the cached schema
 * @err: filled on failure
 *
 * Return: 0, or -1 with @err: SL_ERR_DATA when the registry says the id does
 * not exist (error code 40403) or returns something that is not a schema;
 * SL_ERR_FATAL for any other 4xx (a wrong path or prefix, a proxy's 404 or
 * 400: the configuration's fault, not the record's);
 * SL_ERR_RETRY when no URL answered (connection refused, timeout, 5xx, 429);
 * SL_ERR_FATAL when the registry refuses our credentials (401/403).
 */
int sl_registry_get(sl_registry *r, int id, const sl_registry_schema **out, sl_error *err);

/**
 * sl_registry_register() - register @schema_text (Avro) under @subject.
 * Used by tests and tooling; sluice itself only reads.
 *
 * Return: 0 with *@id set, or -1 with @err classified as for sl_registry_get().
 */
int sl_registry_register(sl_registry *r, const char *subject, const char *schema_text, int *id,
                         sl_error *err);

/* sl_registry_put() - cache @text as schema @id (@type NULL: "AVRO") as
 * if the registry had answered it, without asking it: for tests and fuzz
 * harnesses that decode offline.  -1 when @id is already cached. */
int sl_registry_put(sl_registry *r, int id, const char *type, const char *text);

/* sl_registry_requests() - HTTP requests sent so far (all URLs, all
 * outcomes); lets tests check that lookups are deduplicated. */
long sl_registry_requests(sl_registry *r);

#endif
