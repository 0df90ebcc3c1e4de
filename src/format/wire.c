/* wire.c - the Confluent framing's header and each thread's built schemas
 * (wire_int.h), shared by Avro, Protobuf and JSON Schema.
 *
 * The framing: magic byte 0, then the schema id as 4 big-endian bytes
 * (https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format).
 *
 * Built schemas (an avro-c schema and its reader, a libprotobuf descriptor
 * pool, a JSON Schema's fields) are not shared between threads: the
 * libraries' objects are not all safe to share, and each worker thread
 * builds what its topics need once.  The registry (registry.c) holds the
 * text once per process; what a thread built from it lives in one list a
 * thread, freed by a thread-specific key's destructor at exit. */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>

#include "sluice/log.h"
#include "wire_int.h"

int sl_wire_header(const void *buf, size_t len, size_t min, const char *rest, int *id, sl_error *err)
{
    const unsigned char *b = buf;
    if (len < min || len < 5)
        return sl_error_set(err, SL_ERR_DATA,
                            "%zu bytes, too short for the Confluent wire format (magic byte 0, 4-byte schema id, %s)",
                            len, rest);
    if (b[0] != 0)
        return sl_error_set(err, SL_ERR_DATA,
                            "unknown magic byte 0x%02x (the Confluent wire format starts with 0x00)", b[0]);
    uint32_t u = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (u > INT32_MAX)
        return sl_error_set(err, SL_ERR_DATA, "schema id %" PRIu32 " out of range", u);
    *id = (int)u;
    return 0;
}

static pthread_key_t built_key;
static pthread_once_t built_once = PTHREAD_ONCE_INIT;

static void free_list(sl_built *b)
{
    while (b) {
        sl_built *next = b->next;
        b->kind->free(b);
        b = next;
    }
}

static void thread_exit(void *head) { free_list(head); }
static void key_init(void) { pthread_key_create(&built_key, thread_exit); }

static sl_built *head(void)
{
    pthread_once(&built_once, key_init);
    return pthread_getspecific(built_key);
}

sl_built *sl_built_find(const sl_built_kind *kind, const sl_registry *reg, int id)
{
    sl_built *first = head();
    unsigned long serial = sl_registry_serial(reg);
    for (sl_built **pp = &first, *b = first; b; pp = &b->next, b = b->next) {
        if (b->kind != kind || b->id != id || b->reg != serial)
            continue;
        if (b != first) {
            *pp = b->next;
            b->next = first;
            pthread_setspecific(built_key, b);
        }
        return b;
    }
    return NULL;
}

void sl_built_add(sl_built *b, const sl_built_kind *kind, const sl_registry *reg, int id)
{
    b->kind = kind;
    b->reg = sl_registry_serial(reg);
    b->id = id;
    b->next = head();
    pthread_setspecific(built_key, b);
    log_debug(kind->name, "schema id %d built", id);
}

void sl_built_clear(const sl_built_kind *kind)
{
    sl_built *keep = NULL, **tail = &keep, *gone = NULL;
    for (sl_built *b = head(), *next; b; b = next) {
        next = b->next;
        if (b->kind == kind) {
            b->next = gone;
            gone = b;
        } else {
            *tail = b;
            tail = &b->next;
        }
    }
    *tail = NULL;
    pthread_setspecific(built_key, keep);
    free_list(gone);
}
