/* avro.c - `format: avro` and `key_format: avro`: Confluent wire format
 * (magic byte 0, 4-byte big-endian schema id, Avro binary; see
 * https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format)
 * decoded with avro-c against the writer schema, then turned into the JSON
 * object that decoder.h describes.
 *
 * Each thread keeps its own cache of parsed schemas (avro-c schema, generic
 * value class and a reusable value, plus sluice's own view of the logical
 * types); the text of each schema comes once per process from the shared
 * registry (registry.c). */
#include <avro.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"
#include "wire_int.h"
#include "sluice/cells.h"
#include "sluice/log.h"

/* ---- each thread's schemas (wire_int.h) ---- */

typedef struct cached {
    sl_built built;           /* first: found again by schema id */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;       /* reused for every datum of this schema */
    sl_av_schema *tree;
    json_t *fields;           /* record schemas: sl_change.fields; else NULL */
    int key_id;               /* fields_with_key was built for this key schema id */
    json_t *fields_with_key;  /* fields plus the key schema's fields */
    json_t *connect_schema;   /* sl_av_connect_schema(), built on first use */
} cached;

static void cached_free(sl_built *b)
{
    cached *c = (cached *)b;
    avro_value_decref(&c->value);
    avro_value_iface_decref(c->iface);
    avro_schema_decref(c->schema);
    sl_av_schema_free(c->tree);
    json_decref(c->fields);
    json_decref(c->fields_with_key);
    json_decref(c->connect_schema);
    free(c);
}

static const sl_built_kind avro_schemas = {"avro", cached_free};

/* The thread's memory reader, pointed at each datum in turn: a built thing
 * of its own kind, under schema id 0 of no registry. */
typedef struct thread_reader {
    sl_built built;
    avro_reader_t reader;
} thread_reader;

static void reader_free(sl_built *b)
{
    avro_reader_free(((thread_reader *)b)->reader);
    free(b);
}

static const sl_built_kind avro_readers = {"avro", reader_free};

static avro_reader_t thread_avro_reader(void)
{
    thread_reader *t = (thread_reader *)sl_built_find(&avro_readers, NULL, 0);
    if (!t) {
        t = sl_xcalloc(1, sizeof(*t));
        t->reader = avro_reader_memory("", 0);
        sl_built_add(&t->built, &avro_readers, NULL, 0);
    }
    return t->reader;
}

void sl_avro_thread_cleanup(void)
{
    sl_built_clear(&avro_schemas);
    sl_built_clear(&avro_readers);
}

/* ---- agreement with avro-c ----
 *
 * The bounds check below walks sluice's own parse of the schema and avro-c
 * reads the datum with its own; both must see the same layout, or data that
 * passed the check is read as something else (a different fixed size, a
 * record where a string was checked).  So each schema is walked once in
 * both parses side by side, and refused when they differ anywhere. */

/* avro-c's type for each of sluice's kinds */
static const avro_type_t kinds[] = {
    [SL_AV_NULL] = AVRO_NULL,     [SL_AV_BOOLEAN] = AVRO_BOOLEAN, [SL_AV_INT] = AVRO_INT32,
    [SL_AV_LONG] = AVRO_INT64,    [SL_AV_FLOAT] = AVRO_FLOAT,     [SL_AV_DOUBLE] = AVRO_DOUBLE,
    [SL_AV_BYTES] = AVRO_BYTES,   [SL_AV_STRING] = AVRO_STRING,   [SL_AV_RECORD] = AVRO_RECORD,
    [SL_AV_ENUM] = AVRO_ENUM,     [SL_AV_ARRAY] = AVRO_ARRAY,     [SL_AV_MAP] = AVRO_MAP,
    [SL_AV_UNION] = AVRO_UNION,   [SL_AV_FIXED] = AVRO_FIXED,
};

typedef struct shape_pair {
    const sl_av_node *n;
    avro_schema_t a;
} shape_pair;

typedef struct shape_walk {
    shape_pair *seen; /* named types already compared: recursion ends there */
    size_t nseen, cap;
    const char *why;
} shape_walk;

static bool same_shape(shape_walk *w, const sl_av_node *n, avro_schema_t a, int depth)
{
    while (a && is_avro_link(a))
        a = avro_schema_link_target(a);
    if (!a || depth > 128)
        return w->why = "unresolved or too deep", false;
    if (avro_typeof(a) != kinds[n->kind])
        return w->why = "a type differs", false;
    if (n->name) {
        for (size_t i = 0; i < w->nseen; i++)
            if (w->seen[i].n == n)
                return w->seen[i].a == a || (w->why = "a named type resolves differently", false);
        if (w->nseen == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 16;
            w->seen = sl_xrealloc(w->seen, w->cap * sizeof(*w->seen));
        }
        w->seen[w->nseen++] = (shape_pair){n, a};
    }
    switch (n->kind) {
    case SL_AV_RECORD:
        if (avro_schema_record_size(a) != n->n)
            return w->why = "a record's field count differs", false;
        for (size_t i = 0; i < n->n; i++)
            if (!same_shape(w, n->child[i], avro_schema_record_field_get_by_index(a, (int)i), depth + 1))
                return false;
        return true;
    case SL_AV_ENUM:
        return (size_t)avro_schema_enum_number_of_symbols(a) == n->n ||
               (w->why = "an enum's symbol count differs", false);
    case SL_AV_FIXED:
        return avro_schema_fixed_size(a) == n->size || (w->why = "a fixed size differs", false);
    case SL_AV_ARRAY:
        return same_shape(w, n->child[0], avro_schema_array_items(a), depth + 1);
    case SL_AV_MAP:
        return same_shape(w, n->child[0], avro_schema_map_values(a), depth + 1);
    case SL_AV_UNION:
        if (avro_schema_union_size(a) != n->n)
            return w->why = "a union's branch count differs", false;
        for (size_t i = 0; i < n->n; i++)
            if (!same_shape(w, n->child[i], avro_schema_union_branch(a, (int)i), depth + 1))
                return false;
        return true;
    default:
        return true;
    }
}

/* The thread's schema @id, fetched and parsed on first use. */
static cached *schema_for(sl_registry *reg, int id, sl_error *err)
{
    cached *found = (cached *)sl_built_find(&avro_schemas, reg, id);
    if (found)
        return found;
    if (!reg)
        return sl_error_set(err, SL_ERR_FATAL, "Avro needs a schema_registry section"), NULL;
    const sl_registry_schema *rs;
    if (sl_registry_get(reg, id, &rs, err))
        return NULL;
    if (strcmp(rs->type, "AVRO"))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d is a %s schema, not Avro", id, rs->type),
               NULL;
    sl_av_schema *tree = sl_av_schema_parse(rs->text, strlen(rs->text), err);
    if (!tree) {
        sl_error_prefix(err, "schema id %d: ", id);
        return NULL;
    }
    avro_schema_t schema;
    if (avro_schema_from_json_length(rs->text, strlen(rs->text), &schema)) {
        sl_av_schema_free(tree);
        return sl_error_set(err, SL_ERR_DATA, "schema id %d: avro-c rejects it: %s", id, avro_strerror()),
               NULL;
    }
    shape_walk w = {0};
    bool same = same_shape(&w, tree->root, schema, 0);
    free(w.seen);
    if (!same) {
        sl_av_schema_free(tree);
        avro_schema_decref(schema);
        return sl_error_set(err, SL_ERR_DATA,
                            "schema id %d: avro-c reads it differently (%s): refused rather than misread",
                            id, w.why),
               NULL;
    }
    cached *c = sl_xcalloc(1, sizeof(*c));
    c->schema = schema;
    c->tree = tree;
    c->key_id = -1;
    c->iface = avro_generic_class_from_schema(schema);
    if (!c->iface || avro_generic_value_new(c->iface, &c->value)) {
        sl_error_set(err, SL_ERR_DATA, "schema id %d: avro-c cannot build a reader: %s", id,
                     avro_strerror());
        if (c->iface)
            avro_value_iface_decref(c->iface);
        avro_schema_decref(schema);
        sl_av_schema_free(tree);
        free(c);
        return NULL;
    }
    c->fields = sl_av_fields(tree->root);
    sl_built_add(&c->built, &avro_schemas, reg, id);
    return c;
}

/* ---- avro value -> JSON ---- */

static json_t *conv(const avro_value_t *v, const sl_av_node *n, bool connect, sl_strbuf *tmp, sl_error *err);

static json_t *text(sl_strbuf *tmp)
{
    return json_stringn_nocheck(tmp->data, tmp->len);
}

static json_t *conv_long(int64_t x, const sl_av_node *n, sl_strbuf *tmp, sl_error *err)
{
    sl_strbuf_reset(tmp);
    switch (n->logical) {
    case SL_LT_DATE:
        sl_fmt_date(tmp, x);
        return text(tmp);
    case SL_LT_TIME_MILLIS:
    case SL_LT_TIME_MICROS: {
        int64_t us = n->logical == SL_LT_TIME_MILLIS ? x * 1000 : x;
        if (us < 0 || us > 86400000000LL) /* 24:00:00 is a valid PostgreSQL time */
            return sl_error_set(err, SL_ERR_DATA, "time of day %" PRId64 " out of range", x), NULL;
        sl_fmt_time_us(tmp, us);
        return text(tmp);
    }
    case SL_LT_TIMESTAMP_MILLIS:
    case SL_LT_LOCAL_TIMESTAMP_MILLIS:
        if (x > INT64_MAX / 1000 || x < INT64_MIN / 1000)
            return sl_error_set(err, SL_ERR_DATA, "timestamp %" PRId64 " ms out of range", x), NULL;
        sl_fmt_timestamp_us(tmp, x * 1000, n->logical == SL_LT_TIMESTAMP_MILLIS);
        return text(tmp);
    case SL_LT_TIMESTAMP_MICROS:
    case SL_LT_LOCAL_TIMESTAMP_MICROS:
        sl_fmt_timestamp_us(tmp, x, n->logical == SL_LT_TIMESTAMP_MICROS);
        return text(tmp);
    default:
        return json_integer(x);
    }
}

static json_t *conv_real(double x)
{
    if (isfinite(x))
        return json_real(x);
    /* JSON has no NaN or infinities; PostgreSQL reads these spellings */
    return json_string(isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static json_t *conv_binary(const void *buf, size_t size, const sl_av_node *n, sl_strbuf *tmp,
                           sl_error *err)
{
    sl_strbuf_reset(tmp);
    if (n->logical == SL_LT_DECIMAL) {
        if (sl_fmt_decimal(tmp, buf, size, n->scale))
            return sl_error_set(err, SL_ERR_DATA, "decimal of %zu bytes beyond the %d sluice stores", size,
                                SL_DECIMAL_MAX_BYTES), NULL;
    } else if (n->logical == SL_LT_UUID) { /* fixed(16) uuid: the 16 bytes in order */
        const unsigned char *b = buf;
        if (size != 16)
            return sl_error_set(err, SL_ERR_DATA, "uuid of %zu bytes, not 16", size), NULL;
        for (int i = 0; i < 16; i++)
            sl_strbuf_printf(tmp, "%s%02x", (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", b[i]);
    } else if (n->logical == SL_LT_DURATION) {
        /* three little-endian unsigned 32-bit ints: months, days, milliseconds
         * (specification, "Duration"); ISO-8601 text PostgreSQL's interval reads */
        const unsigned char *b = buf;
        if (size != 12)
            return sl_error_set(err, SL_ERR_DATA, "duration of %zu bytes, not 12", size), NULL;
        uint32_t ms = le32(b + 8);
        sl_strbuf_printf(tmp, "P%" PRIu32 "M%" PRIu32 "DT%" PRIu32 ".%03" PRIu32 "S", le32(b), le32(b + 4),
                         ms / 1000, ms % 1000);
    } else {
        sl_fmt_hex(tmp, buf, size);
    }
    return text(tmp);
}

static json_t *base64(const void *buf, size_t size, sl_strbuf *tmp)
{
    sl_strbuf_reset(tmp);
    sl_fmt_base64(tmp, buf, size);
    return text(tmp);
}

/* @connect: the payload JsonConverter writes for the Connect value that
 * AvroConverter read from this datum (sl_avro_decode_connect(); the schema
 * is sl_av_connect_schema()), else sluice's own forms.  The two differ only
 * at ints, longs, bytes and fixed: in Connect's form they stay raw numbers
 * and base64 (a Decimal's unscaled value too), for the Debezium reader to
 * convert by their Connect names, except the logical types that schema
 * gives as sluice's text forms. */
static json_t *conv(const avro_value_t *cv, const sl_av_node *n, bool connect, sl_strbuf *tmp, sl_error *err)
{
    avro_value_t *v = (avro_value_t *)cv; /* avro-c's getters take non-const */
    bool raw = connect && n->logical != SL_LT_TIMESTAMP_MICROS && n->logical != SL_LT_UUID &&
               n->logical != SL_LT_DURATION;
    /* schema_for() compared both parses; this keeps a mismatch from ever being trusted */
    size_t count = 0;
    if (avro_value_get_type(v) != kinds[n->kind] ||
        (n->kind == SL_AV_RECORD && (avro_value_get_size(v, &count) || count != n->n)))
        return sl_error_set(err, SL_ERR_DATA, "Avro value does not match its schema"), NULL;
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return json_null();
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return json_boolean(b);
    }
    case AVRO_INT32:
    case AVRO_INT64: { /* an int widened: one rule for both */
        int32_t i = 0;
        int64_t x = 0;
        if (avro_value_get_type(v) == AVRO_INT32)
            avro_value_get_int(v, &i), x = i;
        else
            avro_value_get_long(v, &x);
        return raw ? json_integer(x) : conv_long(x, n, tmp, err);
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        float f = 0;
        double x = 0;
        if (avro_value_get_type(v) == AVRO_FLOAT)
            avro_value_get_float(v, &f), x = f;
        else
            avro_value_get_double(v, &x);
        return conv_real(x);
    }
    case AVRO_BYTES: {
        const void *buf = NULL;
        size_t size = 0;
        avro_value_get_bytes(v, &buf, &size);
        return raw ? base64(buf, size, tmp) : conv_binary(buf, size, n, tmp, err);
    }
    case AVRO_FIXED: {
        const void *buf = NULL;
        size_t size = 0;
        avro_value_get_fixed(v, &buf, &size);
        return raw ? base64(buf, size, tmp) : conv_binary(buf, size, n, tmp, err);
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t size = 0; /* includes the NUL avro-c adds */
        avro_value_get_string(v, &s, &size);
        json_t *j = json_stringn(s, size ? size - 1 : 0);
        if (!j)
            return sl_error_set(err, SL_ERR_DATA, "string is not valid UTF-8"), NULL;
        return j;
    }
    case AVRO_ENUM: {
        int sym = -1;
        avro_value_get_enum(v, &sym);
        if (sym < 0 || (size_t)sym >= n->n)
            return sl_error_set(err, SL_ERR_DATA, "enum index %d out of range", sym), NULL;
        return json_string(n->names[sym]);
    }
    case AVRO_RECORD: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->n; i++) {
            avro_value_t field;
            avro_value_get_by_index(v, i, &field, NULL);
            json_t *fj = conv(&field, n->child[i], connect, tmp, err);
            if (!fj) {
                sl_error_prefix(err, "%s: ", n->names[i]);
                json_decref(o);
                return NULL;
            }
            json_object_set_new_nocheck(o, n->names[i], fj);
        }
        return o;
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        bool map = avro_value_get_type(v) == AVRO_MAP;
        size_t count = 0;
        avro_value_get_size(v, &count);
        json_t *o = map ? json_object() : json_array();
        for (size_t i = 0; i < count; i++) {
            avro_value_t item;
            const char *key = NULL;
            avro_value_get_by_index(v, i, &item, &key);
            json_t *ij = conv(&item, n->child[0], connect, tmp, err);
            if (!ij) {
                json_decref(o);
                return NULL;
            }
            if (map) {
                if (json_object_set_new(o, key, ij)) {
                    json_decref(o);
                    return sl_error_set(err, SL_ERR_DATA, "map key is not valid UTF-8"), NULL;
                }
            } else {
                json_array_append_new(o, ij);
            }
        }
        return o;
    }
    case AVRO_UNION: {
        int d = -1;
        avro_value_t branch;
        avro_value_get_discriminant(v, &d);
        avro_value_get_current_branch(v, &branch);
        if (d < 0 || (size_t)d >= n->n)
            return sl_error_set(err, SL_ERR_DATA, "union branch %d out of range", d), NULL;
        /* in Connect's form, ["null", T] is an optional T; a wider union has
         * no Connect schema (sl_av_connect_schema) and keeps sluice's form */
        bool optional = n->n == 2 && (n->child[0]->kind == SL_AV_NULL) != (n->child[1]->kind == SL_AV_NULL);
        return conv(&branch, n->child[d], connect && optional, tmp, err);
    }
    default:
        return sl_error_set(err, SL_ERR_DATA, "unsupported Avro type"), NULL;
    }
}

/* ---- wire format ---- */

static int wire_header(const void *buf, size_t len, int *id, sl_error *err)
{
    return sl_wire_header(buf, len, 5, "Avro data", id, err);
}

static int decode_wire(sl_registry *reg, const void *buf, size_t len, bool connect,
                       json_t **value, cached **which, sl_error *err)
{
    int id = -1; /* set by wire_header(); initialised for the compiler */
    if (wire_header(buf, len, &id, err))
        return -1;
    cached *c = schema_for(reg, id, err);
    if (!c)
        return -1;
    const char *data = (const char *)buf + 5;
    sl_av_cursor cur = {(const unsigned char *)data, (const unsigned char *)data + (len - 5), NULL, 0};
    if (!sl_av_check(&cur, c->tree->root, 0))
        return sl_error_set(err, SL_ERR_DATA, "corrupt or truncated Avro data (schema id %d): %s", id,
                            cur.why);
    if (cur.p != cur.end)
        return sl_error_set(err, SL_ERR_DATA,
                            "Avro data longer than schema id %d describes (%zu trailing bytes): corrupt, or written with another schema",
                            id, (size_t)(cur.end - cur.p));
    /* sl_av_check() read the datum to its last byte, and avro-c reads this
     * schema as the checker does (same_shape()): no probe for trailing
     * bytes here.  A read past the end would fail, and a failing avro-c
     * call writes its one error message for the whole process (Debian
     * builds it without THREADSAFE): two workers would write it at once on
     * every record. */
    avro_reader_t reader = thread_avro_reader();
    avro_reader_memory_set_source(reader, data, (int64_t)(len - 5));
    if (avro_value_read(reader, &c->value))
        return sl_error_set(err, SL_ERR_DATA, "corrupt or truncated Avro data (schema id %d): %s", id,
                            avro_strerror());
    sl_strbuf tmp = SL_STRBUF_INIT;
    *value = conv(&c->value, c->tree->root, connect, &tmp, err);
    sl_strbuf_free(&tmp);
    avro_value_reset(&c->value); /* drop the datum's strings and arrays now */
    if (!*value) {
        sl_error_prefix(err, "schema id %d: ", id);
        return -1;
    }
    *which = c;
    return 0;
}

int sl_avro_decode_wire(sl_registry *reg, const void *buf, size_t len, json_t **value,
                        json_t **fields, int *schema_id, sl_error *err)
{
    cached *c;
    *value = NULL;
    if (decode_wire(reg, buf, len, false, value, &c, err))
        return -1;
    if (fields)
        *fields = json_incref(c->fields);
    if (schema_id)
        *schema_id = c->built.id;
    return 0;
}

int sl_avro_decode_connect(sl_registry *reg, const void *buf, size_t len, json_t **envelope,
                           int *schema_id, sl_error *err)
{
    cached *c;
    json_t *payload;
    *envelope = NULL;
    if (decode_wire(reg, buf, len, true, &payload, &c, err))
        return -1;
    if (!c->connect_schema && !(c->connect_schema = sl_av_connect_schema(c->tree->root))) {
        json_decref(payload);
        return sl_error_set(err, SL_ERR_DATA,
                            "schema id %d expands to more than 20000 Kafka Connect schema nodes", c->built.id);
    }
    *envelope = json_pack("{s:O, s:o}", "schema", c->connect_schema, "payload", payload);
    if (schema_id)
        *schema_id = c->built.id;
    return 0;
}

int sl_avro_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    if (sl_avro_decode_wire(d->registry, rec->key, rec->key_len, out, NULL, NULL, err)) {
        sl_error_prefix(err, "key: ");
        return -1;
    }
    return 0;
}

/* The value's fields plus the key schema's: a field of the key record is
 * marked "key": true (auto_create takes the primary key from them) and
 * added when the value lacks it (the mapper fills it from the record key). */
static json_t *fields_with_key(sl_decoder *d, const sl_record *rec, cached *vc)
{
    int kid = -1;
    if (!vc->fields || !rec->key || d->route->key_format != SL_KEYFMT_AVRO ||
        wire_header(rec->key, rec->key_len, &kid, NULL))
        return json_incref(vc->fields);
    if (vc->fields_with_key && vc->key_id == kid)
        return json_incref(vc->fields_with_key);
    cached *kc = schema_for(d->registry, kid, NULL); /* cached by sl_avro_decode_key() */
    json_t *kf = kc ? kc->fields : NULL;
    if (!kf)
        return json_incref(vc->fields);
    json_t *all = sl_fields_with_key(vc->fields, kf);
    json_decref(vc->fields_with_key);
    vc->fields_with_key = all;
    vc->key_id = kid;
    return json_incref(all);
}

static int avro_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    if (!rec->value)
        return sl_decode_tombstone(d, out);
    cached *c;
    if (decode_wire(d->registry, rec->value, rec->value_len, false, &out->value, &c, err))
        return -1;
    if (!json_is_object(out->value))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d is not a record: a row needs named fields",
                            c->built.id);
    out->op = SL_OP_UPSERT;
    out->schema_id = c->built.id;
    out->fields = fields_with_key(d, rec, c);
    return 0;
}

const sl_format_ops sl_format_avro = {
    .name = "avro",
    .needs_registry = true,
    .decode = avro_decode,
    .cells = &sl_avro_cells_ops,
};
