/* protobuf.c - `format: protobuf` and `key_format: protobuf`: Confluent's
 * wire format for Protobuf (magic byte 0, 4-byte big-endian schema id, the
 * message-index path as zigzag varints: a count, then that many indexes,
 * where a count of 0 means [0], the file's first message; then the message;
 * see https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format),
 * decoded by descriptor through libprotobuf's reflection (protobuf_int.h)
 * against the schema and references the registry holds.
 *
 * Each thread keeps its own built schemas (a descriptor pool each), keyed by
 * registry and schema id; the registry's answers are shared (registry.c). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf_int.h"
#include "sluice/cells.h"
#include "sluice/decoder.h"
#include "sluice/registry.h"
#include "sluice/textfmt.h"
#include "wire_int.h"

#define MAX_INDEXES 64 /* message nesting a path may name */

/* each thread's built schemas (wire_int.h) */
typedef struct pb_cached {
    sl_built built;
    sl_pb_schema *schema;
} pb_cached;

static void cached_free(sl_built *b)
{
    sl_pb_schema_free(((pb_cached *)b)->schema);
    free(b);
}

static const sl_built_kind pb_schemas = {"protobuf", cached_free};

void sl_protobuf_thread_cleanup(void) { sl_built_clear(&pb_schemas); }

/* ---- text forms (decoder.h) for protobuf_reflect.cc ---- */

json_t *sl_pb_timestamp_json(int64_t seconds, int32_t nanos)
{
    /* google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
    if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 || nanos > 999999999)
        return NULL;
    sl_strbuf sb = SL_STRBUF_INIT;
    /* PostgreSQL keeps microseconds: finer digits are dropped, never rounded up a second */
    sl_fmt_timestamp_us(&sb, seconds * 1000000 + nanos / 1000, true);
    json_t *j = json_stringn(sb.data, sb.len);
    sl_strbuf_free(&sb);
    return j;
}

json_t *sl_pb_duration_json(int64_t seconds, int32_t nanos)
{
    /* google/protobuf/duration.proto: about ±10,000 years; nanos of the seconds' sign */
    if (seconds < -315576000000LL || seconds > 315576000000LL || nanos < -999999999 || nanos > 999999999 ||
        (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0))
        return NULL;
    bool neg = seconds < 0 || nanos < 0;
    uint64_t s = (uint64_t)(neg ? -seconds : seconds);
    uint32_t ns = (uint32_t)(neg ? -nanos : nanos);
    char buf[64];
    /* ISO 8601, which PostgreSQL's interval reads: PT3600.5S */
    int n = snprintf(buf, sizeof(buf), "%sPT%" PRIu64, neg ? "-" : "", s);
    if (ns) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%09" PRIu32, ns);
        while (buf[n - 1] == '0')
            buf[--n] = '\0';
    }
    snprintf(buf + n, sizeof(buf) - (size_t)n, "S");
    return json_string(buf);
}

json_t *sl_pb_bytes_json(const void *buf, size_t len)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_hex(&sb, buf, len);
    json_t *j = json_stringn(sb.data, sb.len);
    sl_strbuf_free(&sb);
    return j;
}

/* ---- schemas ---- */

static sl_pb_schema *schema_for(sl_registry *reg, int id, sl_error *err)
{
    pb_cached *found = (pb_cached *)sl_built_find(&pb_schemas, reg, id);
    if (found)
        return found->schema;
    const sl_registry_schema *rs;
    if (sl_registry_get(reg, id, &rs, err))
        return NULL;
    if (strcmp(rs->type, "PROTOBUF"))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d is a %s schema, not Protobuf", id, rs->type), NULL;
    sl_pb_file *files = sl_xcalloc(rs->nrefs + 1, sizeof(*files));
    for (size_t i = 0; i < rs->nrefs; i++)
        files[i] = (sl_pb_file){rs->refs[i].name, rs->refs[i].text};
    char name[48];
    snprintf(name, sizeof(name), "schema-id-%d.proto", id);
    files[rs->nrefs] = (sl_pb_file){name, rs->text};
    sl_strbuf why = SL_STRBUF_INIT;
    sl_pb_schema *s = sl_pb_schema_new(files, rs->nrefs + 1, &why);
    free(files);
    if (!s) {
        sl_error_set(err, SL_ERR_DATA, "schema id %d: %s", id, why.data ? why.data : "does not build");
        sl_strbuf_free(&why);
        return NULL;
    }
    sl_strbuf_free(&why);
    pb_cached *c = sl_xcalloc(1, sizeof(*c));
    c->schema = s;
    sl_built_add(&c->built, &pb_schemas, reg, id);
    return s;
}

sl_pb_msg *sl_protobuf_message(sl_registry *reg, int id, const int *path, size_t n, sl_error *err)
{
    sl_pb_schema *s = schema_for(reg, id, err);
    if (!s)
        return NULL;
    sl_strbuf why = SL_STRBUF_INIT;
    sl_pb_msg *m = sl_pb_schema_message(s, path, n, &why);
    if (!m)
        sl_error_set(err, SL_ERR_DATA, "schema id %d: %s", id, why.data);
    sl_strbuf_free(&why);
    return m;
}

/* ---- wire format ---- */

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static int64_t unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

int sl_protobuf_wire(sl_registry *reg, const void *buf, size_t len, sl_pb_msg **msg, const void **body,
                     size_t *body_len, int *schema_id, sl_error *err)
{
    const unsigned char *b = buf, *end = b + len;
    int id = -1; /* set by sl_wire_header(); initialised for the compiler */
    if (sl_wire_header(buf, len, 6, "message indexes, Protobuf data", &id, err))
        return -1;
    const unsigned char *p = b + 5;
    uint64_t raw;
    int path[MAX_INDEXES] = {0};
    size_t n = 1;
    if (!varint(&p, end, &raw))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d: truncated message-index count", id);
    int64_t count = unzigzag(raw);
    if (count < 0 || count > MAX_INDEXES)
        return sl_error_set(err, SL_ERR_DATA, "schema id %d: message-index count %" PRId64 " out of range (0..%d)",
                            id, count, MAX_INDEXES);
    if (count > 0) {
        n = (size_t)count;
        for (size_t i = 0; i < n; i++) {
            if (!varint(&p, end, &raw))
                return sl_error_set(err, SL_ERR_DATA, "schema id %d: truncated message index", id);
            int64_t x = unzigzag(raw);
            if (x < 0 || x > INT32_MAX)
                return sl_error_set(err, SL_ERR_DATA, "schema id %d: message index %" PRId64 " out of range", id, x);
            path[i] = (int)x;
        }
    }
    if (!(*msg = sl_protobuf_message(reg, id, path, n, err)))
        return -1;
    *body = p;
    *body_len = (size_t)(end - p);
    if (schema_id)
        *schema_id = id;
    return 0;
}

/* A framed message into a JSON object, with the message it is. */
static int decode_msg(sl_registry *reg, const void *buf, size_t len, json_t **value, sl_pb_msg **m, int *id,
                      sl_error *err)
{
    const void *body;
    size_t body_len;
    *value = NULL;
    if (!reg)
        return sl_error_set(err, SL_ERR_FATAL, "Protobuf needs a schema_registry section");
    if (sl_protobuf_wire(reg, buf, len, m, &body, &body_len, id, err))
        return -1;
    sl_strbuf why = SL_STRBUF_INIT;
    *value = sl_pb_decode(*m, body, body_len, &why);
    if (!*value)
        sl_error_set(err, SL_ERR_DATA, "schema id %d, %s: %s", *id, sl_pb_msg_name(*m), why.data);
    sl_strbuf_free(&why);
    return *value ? 0 : -1;
}

int sl_protobuf_decode_wire(sl_registry *reg, const void *buf, size_t len, json_t **value, json_t **fields,
                            int *schema_id, sl_error *err)
{
    sl_pb_msg *m;
    int id = -1;
    if (decode_msg(reg, buf, len, value, &m, &id, err))
        return -1;
    if (fields)
        *fields = json_incref(sl_pb_msg_fields(m));
    if (schema_id)
        *schema_id = id;
    return 0;
}

static int protobuf_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    if (sl_protobuf_decode_wire(d->registry, rec->key, rec->key_len, out, NULL, NULL, err)) {
        sl_error_prefix(err, "key: ");
        return -1;
    }
    return 0;
}

static int protobuf_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    if (!rec->value)
        return sl_decode_tombstone(d, out);
    sl_pb_msg *m;
    if (decode_msg(d->registry, rec->value, rec->value_len, &out->value, &m, &out->schema_id, err))
        return -1;
    out->op = SL_OP_UPSERT;
    json_t *fields = sl_pb_msg_fields(m);
    if (rec->key && d->route->key_format == SL_KEYFMT_PROTOBUF) {
        sl_pb_msg *km;
        const void *body;
        size_t body_len;
        /* the key was decoded just before (sl_decode): its schema is cached */
        if (sl_protobuf_wire(d->registry, rec->key, rec->key_len, &km, &body, &body_len, NULL, NULL) == 0)
            fields = sl_pb_msg_fields_with_key(m, km);
    }
    out->fields = json_incref(fields);
    return 0;
}


int sl_protobuf_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    *out = NULL;
    if (!rec->key)
        return 0;
    return protobuf_decode_key(d, rec, out, err);
}

const sl_format_ops sl_format_protobuf = {
    .name = "protobuf",
    .needs_registry = true,
    .decode = protobuf_decode,
    .cells = &sl_protobuf_cells_ops,
};
