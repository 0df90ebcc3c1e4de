/* wire_int.h - what the registry formats (Avro, Protobuf, JSON Schema)
 * share: the Confluent framing's header, and each thread's schemas built
 * from the registry's text. */
#ifndef SLUICE_WIRE_INT_H
#define SLUICE_WIRE_INT_H

#include <stddef.h>

#include "sluice/error.h"
#include "sluice/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sl_wire_header() - the Confluent wire format's first five bytes (magic
 * byte 0, 4-byte big-endian schema id): the schema id into @id.  @min is the
 * shortest framed record the format allows (5 or more) and @rest names what
 * follows the id, for the error:
 * "N bytes, too short for the Confluent wire format (magic byte 0, 4-byte
 * schema id, <rest>)".  SL_ERR_DATA on a short buffer, another magic byte or
 * an id beyond INT32_MAX. */
int sl_wire_header(const void *buf, size_t len, size_t min, const char *rest, int *id, sl_error *err);

/* A schema built by this thread from the registry's text, for one format
 * (@kind): the format's own struct starts with an sl_built and is found again
 * by (registry, schema id).  A thread's built schemas are freed at its exit,
 * or at sl_built_clear(). */
typedef struct sl_built sl_built;
typedef struct sl_built_kind {
    const char *name;           /* for the debug log */
    void (*free)(sl_built *b);  /* frees the whole struct around @b */
} sl_built_kind;
struct sl_built {
    const sl_built_kind *kind;
    unsigned long reg; /* sl_registry_serial() */
    int id;
    sl_built *next;
};

/* sl_built_find() - this thread's @kind schema of id @id from @reg, or NULL;
 * a found one moves to the front (most topics use one schema at a time). */
sl_built *sl_built_find(const sl_built_kind *kind, const sl_registry *reg, int id);
/* sl_built_add() - give @b (zeroed sl_built header) to this thread's list. */
void sl_built_add(sl_built *b, const sl_built_kind *kind, const sl_registry *reg, int id);
/* sl_built_clear() - free this thread's @kind schemas now. */
void sl_built_clear(const sl_built_kind *kind);

/* sl_registry_serial() - distinguishes registries across their lifetimes
 * (an address can be reused after sl_registry_free()); 0 for NULL. */
unsigned long sl_registry_serial(const sl_registry *r);

#ifdef __cplusplus
}
#endif

#endif
