/* avro_schema.c - Avro schema JSON -> a small type graph that knows the
 * logical types (avro-c 1.11 parses them but offers no API to read them),
 * and the canonical text forms of dates, times, timestamps and decimals.
 *
 * Schema rules: Avro specification 1.11.1, "Schema Declaration", "Names"
 * and "Logical Types" (https://avro.apache.org/docs/1.11.1/specification/). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"

typedef struct parser {
    sl_av_schema *s;
    sl_error *err;
    int depth;
} parser;

static sl_av_node *new_node(parser *p, sl_av_kind kind)
{
    sl_av_schema *s = p->s;
    if (s->nnodes == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->nodes = sl_xrealloc(s->nodes, s->cap * sizeof(*s->nodes));
    }
    sl_av_node *n = sl_xcalloc(1, sizeof(*n));
    n->kind = kind;
    s->nodes[s->nnodes++] = n;
    return n;
}

void sl_av_schema_free(sl_av_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++) {
        sl_av_node *n = s->nodes[i];
        if (n->names)
            for (size_t k = 0; k < n->n; k++)
                free(n->names[k]);
        free(n->names);
        free(n->child);
        free(n->name);
        free(n->connect_name);
        free(n->connect_type);
        json_decref(n->connect_params);
        free(n);
    }
    free(s->nodes);
    free(s);
}

static const struct {
    const char *name;
    sl_av_kind kind;
} primitives[] = {
    {"null", SL_AV_NULL},   {"boolean", SL_AV_BOOLEAN}, {"int", SL_AV_INT},
    {"long", SL_AV_LONG},   {"float", SL_AV_FLOAT},     {"double", SL_AV_DOUBLE},
    {"bytes", SL_AV_BYTES}, {"string", SL_AV_STRING},
};

static int primitive(const char *name)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
        if (!strcmp(primitives[i].name, name))
            return (int)primitives[i].kind;
    return -1;
}

/* "Names": a name containing a dot is a full name; otherwise the namespace
 * is the enclosing one. */
static char *full_name(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return sl_xstrdup(name);
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "%s.%s", ns, name);
    return sl_strbuf_steal(&sb);
}

/* "Names": a reference is resolved by its full name only (a bare name
 * takes the enclosing namespace), as avro-c does; a name defined twice is
 * refused (parse_named). */
static sl_av_node *lookup_named(parser *p, const char *name, const char *ns)
{
    char *fn = full_name(name, ns);
    sl_av_node *found = NULL;
    for (size_t i = 0; i < p->s->nnodes && !found; i++) {
        sl_av_node *n = p->s->nodes[i];
        if (n->name && !strcmp(n->name, fn))
            found = n;
    }
    free(fn);
    return found;
}

/* A logical type valid for its underlying type, or SL_LT_NONE. */
static void apply_logical(sl_av_node *n, const json_t *j)
{
    const char *lt = json_string_value(json_object_get(j, "logicalType"));
    if (!lt)
        return;
    sl_av_kind k = n->kind;
    if (!strcmp(lt, "decimal") && (k == SL_AV_BYTES || k == SL_AV_FIXED)) {
        json_t *prec = json_object_get(j, "precision"), *scale = json_object_get(j, "scale");
        if (!json_is_integer(prec) || json_integer_value(prec) <= 0)
            return;
        if (scale && (!json_is_integer(scale) || json_integer_value(scale) < 0 ||
                      json_integer_value(scale) > json_integer_value(prec)))
            return;
        if (json_integer_value(prec) > 1000)
            return;
        n->logical = SL_LT_DECIMAL;
        n->precision = (int)json_integer_value(prec);
        n->scale = scale ? (int)json_integer_value(scale) : 0;
    } else if (!strcmp(lt, "uuid") && (k == SL_AV_STRING || (k == SL_AV_FIXED && n->size == 16))) {
        n->logical = SL_LT_UUID;
    } else if (!strcmp(lt, "date") && k == SL_AV_INT) {
        n->logical = SL_LT_DATE;
    } else if (!strcmp(lt, "time-millis") && k == SL_AV_INT) {
        n->logical = SL_LT_TIME_MILLIS;
    } else if (!strcmp(lt, "time-micros") && k == SL_AV_LONG) {
        n->logical = SL_LT_TIME_MICROS;
    } else if (!strcmp(lt, "timestamp-millis") && k == SL_AV_LONG) {
        n->logical = SL_LT_TIMESTAMP_MILLIS;
    } else if (!strcmp(lt, "timestamp-micros") && k == SL_AV_LONG) {
        n->logical = SL_LT_TIMESTAMP_MICROS;
    } else if (!strcmp(lt, "local-timestamp-millis") && k == SL_AV_LONG) {
        n->logical = SL_LT_LOCAL_TIMESTAMP_MILLIS;
    } else if (!strcmp(lt, "local-timestamp-micros") && k == SL_AV_LONG) {
        n->logical = SL_LT_LOCAL_TIMESTAMP_MICROS;
    } else if (!strcmp(lt, "duration") && k == SL_AV_FIXED && n->size == 12) {
        n->logical = SL_LT_DURATION;
    }
}

/* Connect's properties on a type object (see sl_av_node). */
static void apply_connect(sl_av_node *n, const json_t *j)
{
    const char *name = json_string_value(json_object_get(j, "connect.name"));
    const char *type = json_string_value(json_object_get(j, "connect.type"));
    json_t *params = json_object_get(j, "connect.parameters");
    if (name && !n->connect_name)
        n->connect_name = sl_xstrdup(name);
    if (type && !n->connect_type)
        n->connect_type = sl_xstrdup(type);
    if (json_is_object(params) && !n->connect_params)
        n->connect_params = json_incref(params);
}

static sl_av_node *parse(parser *p, const json_t *j, const char *ns);

static int bad(parser *p, const char *fmt, const char *what)
{
    sl_error_set(p->err, SL_ERR_DATA, fmt, what);
    return -1;
}

static sl_av_node *parse_named(parser *p, const json_t *j, const char *type, const char *ns)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name)
        return bad(p, "a %s without a name", type), NULL;
    const char *own_ns = json_string_value(json_object_get(j, "namespace"));
    char *fn = full_name(name, own_ns ? own_ns : ns);
    for (size_t i = 0; i < p->s->nnodes; i++) {
        if (p->s->nodes[i]->name && !strcmp(p->s->nodes[i]->name, fn)) {
            bad(p, "type %s is defined twice", fn);
            free(fn);
            return NULL;
        }
    }
    /* the namespace for what is nested: the part of the full name before the last dot */
    char *inner_ns = sl_xstrdup(fn);
    char *dot = strrchr(inner_ns, '.');
    if (dot)
        *dot = '\0';
    else
        inner_ns[0] = '\0';

    sl_av_node *n = NULL;
    if (!strcmp(type, "record") || !strcmp(type, "error")) {
        n = new_node(p, SL_AV_RECORD);
        n->name = fn;
        fn = NULL;
        json_t *fields = json_object_get(j, "fields");
        if (!json_is_array(fields)) {
            bad(p, "record %s has no fields array", n->name);
            n = NULL;
            goto out;
        }
        n->n = json_array_size(fields);
        n->child = sl_xcalloc(n->n ? n->n : 1, sizeof(*n->child));
        n->names = sl_xcalloc(n->n ? n->n : 1, sizeof(*n->names));
        for (size_t i = 0; i < n->n; i++) {
            json_t *f = json_array_get(fields, i);
            const char *fname = json_string_value(json_object_get(f, "name"));
            json_t *ftype = json_object_get(f, "type");
            if (!fname || !ftype) {
                bad(p, "a field of record %s lacks a name or a type", n->name);
                n = NULL;
                goto out;
            }
            n->names[i] = sl_xstrdup(fname);
            if (!(n->child[i] = parse(p, ftype, inner_ns))) {
                sl_error_prefix(p->err, "field %s: ", fname);
                n = NULL;
                goto out;
            }
        }
    } else if (!strcmp(type, "enum")) {
        n = new_node(p, SL_AV_ENUM);
        n->name = fn;
        fn = NULL;
        json_t *symbols = json_object_get(j, "symbols");
        if (!json_is_array(symbols)) {
            bad(p, "enum %s has no symbols", n->name);
            n = NULL;
            goto out;
        }
        n->n = json_array_size(symbols);
        n->names = sl_xcalloc(n->n ? n->n : 1, sizeof(*n->names));
        for (size_t i = 0; i < n->n; i++) {
            const char *sym = json_string_value(json_array_get(symbols, i));
            n->names[i] = sl_xstrdup(sym ? sym : "");
        }
    } else { /* fixed */
        n = new_node(p, SL_AV_FIXED);
        n->name = fn;
        fn = NULL;
        json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            bad(p, "fixed %s has no valid size", n->name);
            n = NULL;
            goto out;
        }
        n->size = (long)json_integer_value(size);
        apply_logical(n, j);
    }
out:
    if (n)
        apply_connect(n, j);
    free(fn);
    free(inner_ns);
    return n;
}

static sl_av_node *parse(parser *p, const json_t *j, const char *ns)
{
    if (++p->depth > 64) {
        bad(p, "schema nested deeper than %s levels", "64");
        return NULL;
    }
    sl_av_node *n = NULL;
    if (json_is_string(j)) {
        const char *name = json_string_value(j);
        int k = primitive(name);
        if (k >= 0)
            n = new_node(p, (sl_av_kind)k);
        else if (!(n = lookup_named(p, name, ns)))
            bad(p, "unknown type \"%s\"", name);
    } else if (json_is_array(j)) { /* union */
        n = new_node(p, SL_AV_UNION);
        n->n = json_array_size(j);
        n->child = sl_xcalloc(n->n ? n->n : 1, sizeof(*n->child));
        for (size_t i = 0; i < n->n; i++)
            if (!(n->child[i] = parse(p, json_array_get(j, i), ns))) {
                n = NULL;
                break;
            }
    } else if (json_is_object(j)) {
        json_t *t = json_object_get(j, "type");
        const char *type = json_string_value(t);
        if (!t) {
            bad(p, "a type object without \"type\"%s", "");
        } else if (!type) {
            n = parse(p, t, ns); /* {"type": {...}} or {"type": [...]} */
        } else if (primitive(type) >= 0) {
            n = new_node(p, (sl_av_kind)primitive(type));
            apply_logical(n, j);
            apply_connect(n, j);
        } else if (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
                   !strcmp(type, "fixed")) {
            n = parse_named(p, j, type, ns);
        } else if (!strcmp(type, "array") || !strcmp(type, "map")) {
            json_t *inner = json_object_get(j, !strcmp(type, "array") ? "items" : "values");
            n = new_node(p, !strcmp(type, "array") ? SL_AV_ARRAY : SL_AV_MAP);
            n->n = 1;
            n->child = sl_xcalloc(1, sizeof(*n->child));
            if (!inner) {
                bad(p, "%s without its item type", type);
                n = NULL;
            } else if (!(n->child[0] = parse(p, inner, ns))) {
                n = NULL;
            }
        } else if (!(n = lookup_named(p, type, ns))) {
            bad(p, "unknown type \"%s\"", type);
        }
    } else {
        bad(p, "a type must be a string, an object or an array%s", "");
    }
    p->depth--;
    return n;
}

sl_av_schema *sl_av_schema_parse(const char *text, size_t len, sl_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!j) {
        sl_error_set(err, SL_ERR_DATA, "schema is not JSON: %s", je.text);
        return NULL;
    }
    parser p = {.s = sl_xcalloc(1, sizeof(sl_av_schema)), .err = err};
    p.s->root = parse(&p, j, "");
    json_decref(j);
    if (!p.s->root) {
        sl_av_schema_free(p.s);
        return NULL;
    }
    return p.s;
}

/* ---- sl_change.fields ---- */

static const char *kind_name(sl_av_kind k)
{
    static const char *const names[] = {
        [SL_AV_NULL] = "null",     [SL_AV_BOOLEAN] = "boolean", [SL_AV_INT] = "int",
        [SL_AV_LONG] = "long",     [SL_AV_FLOAT] = "float",     [SL_AV_DOUBLE] = "double",
        [SL_AV_BYTES] = "bytes",   [SL_AV_STRING] = "string",   [SL_AV_RECORD] = "record",
        [SL_AV_ENUM] = "enum",     [SL_AV_ARRAY] = "array",     [SL_AV_MAP] = "map",
        [SL_AV_UNION] = "union",   [SL_AV_FIXED] = "fixed",
    };
    return names[k];
}

static const char *logical_name(sl_av_logical l)
{
    static const char *const names[] = {
        [SL_LT_NONE] = NULL,
        [SL_LT_DECIMAL] = "decimal",
        [SL_LT_UUID] = "uuid",
        [SL_LT_DATE] = "date",
        [SL_LT_TIME_MILLIS] = "time-millis",
        [SL_LT_TIME_MICROS] = "time-micros",
        [SL_LT_TIMESTAMP_MILLIS] = "timestamp-millis",
        [SL_LT_TIMESTAMP_MICROS] = "timestamp-micros",
        [SL_LT_LOCAL_TIMESTAMP_MILLIS] = "local-timestamp-millis",
        [SL_LT_LOCAL_TIMESTAMP_MICROS] = "local-timestamp-micros",
        [SL_LT_DURATION] = "duration",
    };
    return names[l];
}

/* The sluice type of a non-union node (schema_sync.h lists the names). */
static const char *sluice_type(const sl_av_node *n)
{
    switch (n->logical) {
    case SL_LT_DECIMAL: return "numeric";
    case SL_LT_UUID: return "uuid";
    case SL_LT_DATE: return "date";
    case SL_LT_TIME_MILLIS:
    case SL_LT_TIME_MICROS: return "time";
    case SL_LT_TIMESTAMP_MILLIS:
    case SL_LT_TIMESTAMP_MICROS: return "timestamptz";
    case SL_LT_LOCAL_TIMESTAMP_MILLIS:
    case SL_LT_LOCAL_TIMESTAMP_MICROS: return "timestamp";
    case SL_LT_DURATION: return "text";
    case SL_LT_NONE: break;
    }
    switch (n->kind) {
    case SL_AV_NULL: return "text";
    case SL_AV_BOOLEAN: return "boolean";
    case SL_AV_INT: return "integer";
    case SL_AV_LONG: return "bigint";
    case SL_AV_FLOAT: return "real";
    case SL_AV_DOUBLE: return "double precision";
    case SL_AV_BYTES:
    case SL_AV_FIXED: return "bytea";
    case SL_AV_STRING:
    case SL_AV_ENUM: return "text";
    case SL_AV_RECORD:
    case SL_AV_MAP:
    case SL_AV_UNION: return "jsonb";
    case SL_AV_ARRAY: return "array";
    }
    return "text";
}

static void describe_type(sl_strbuf *sb, const sl_av_node *n)
{
    if (n->kind == SL_AV_UNION) {
        sl_strbuf_putc(sb, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                sl_strbuf_puts(sb, ", ");
            describe_type(sb, n->child[i]);
        }
        sl_strbuf_putc(sb, ']');
        return;
    }
    if (n->logical == SL_LT_DECIMAL)
        sl_strbuf_printf(sb, "%s decimal(%d,%d)", kind_name(n->kind), n->precision, n->scale);
    else if (n->logical)
        sl_strbuf_printf(sb, "%s %s", kind_name(n->kind), logical_name(n->logical));
    else if (n->kind == SL_AV_ARRAY) {
        sl_strbuf_puts(sb, "array<");
        describe_type(sb, n->child[0]);
        sl_strbuf_putc(sb, '>');
    } else if (n->name)
        sl_strbuf_printf(sb, "%s %s", kind_name(n->kind), n->name);
    else
        sl_strbuf_puts(sb, kind_name(n->kind));
}

static bool scalar_type(const char *t)
{
    return strcmp(t, "jsonb") && strcmp(t, "array");
}

json_t *sl_av_fields(const sl_av_node *rec)
{
    if (rec->kind != SL_AV_RECORD)
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < rec->n; i++) {
        const sl_av_node *t = rec->child[i];
        bool optional = false;
        if (t->kind == SL_AV_UNION) {
            /* ["null", X] is an optional X; a union of several types is jsonb */
            const sl_av_node *only = NULL;
            size_t nonnull = 0;
            for (size_t b = 0; b < t->n; b++) {
                if (t->child[b]->kind == SL_AV_NULL)
                    optional = true;
                else {
                    only = t->child[b];
                    nonnull++;
                }
            }
            if (nonnull == 1)
                t = only;
        }
        const char *type = sluice_type(t);
        sl_strbuf src = SL_STRBUF_INIT;
        describe_type(&src, rec->child[i]);
        json_t *f = json_pack("{s:s, s:s, s:b, s:s}", "name", rec->names[i], "type", type,
                              "optional", optional, "source_type", src.data);
        sl_strbuf_free(&src);
        if (t->logical == SL_LT_DECIMAL) {
            json_object_set_new(f, "precision", json_integer(t->precision));
            json_object_set_new(f, "scale", json_integer(t->scale));
        }
        if (t->kind == SL_AV_ARRAY) {
            const sl_av_node *item = t->child[0];
            bool item_optional = false;
            if (item->kind == SL_AV_UNION && item->n == 2 &&
                (item->child[0]->kind == SL_AV_NULL || item->child[1]->kind == SL_AV_NULL)) {
                item = item->child[item->child[0]->kind == SL_AV_NULL ? 1 : 0];
                item_optional = true;
            }
            (void)item_optional;
            const char *it = sluice_type(item);
            if (scalar_type(it) && item->kind != SL_AV_NULL) {
                json_object_set_new(f, "items", json_string(it));
                if (item->logical == SL_LT_DECIMAL) {
                    json_object_set_new(f, "precision", json_integer(item->precision));
                    json_object_set_new(f, "scale", json_integer(item->scale));
                }
            } else {
                json_object_set_new(f, "type", json_string("jsonb")); /* arrays of records, maps, arrays */
            }
        }
        json_array_append_new(out, f);
    }
    return out;
}

/* ---- Kafka Connect schemas ----
 *
 * Confluent's AvroConverter (io.confluent.connect.avro.AvroData, documented
 * in "Kafka Connect converters" of the Confluent Platform docs) writes a
 * Connect struct as an Avro record, int8/int16 as an int with
 * "connect.type", an optional field as the union ["null", T], and keeps a
 * Connect schema's name and parameters as "connect.name" and
 * "connect.parameters"; Connect's Decimal, Date, Time and Timestamp also
 * become the Avro logical types decimal, date, time-millis and
 * timestamp-millis.  This reverses it. */

#define CONNECT_DATA "org.apache.kafka.connect.data."
#define DEBEZIUM_TIME "io.debezium.time."

/* Records on the path from the root (a record met again inside itself is
 * recursion, which a Connect schema cannot express), and a budget of
 * nodes: a record used twice is written out twice, so a chain of records
 * each using the next twice doubles at every link. */
#define CONNECT_MAX_NODES 20000

typedef struct connect_walk {
    const sl_av_node *path[64];
    int depth;
    long nodes;
} connect_walk;

static json_t *connect_schema(connect_walk *w, const sl_av_node *n);

/* The Connect name and type standing for an Avro logical type. */
static void connect_logical(const sl_av_node *n, json_t *s)
{
    static const struct {
        sl_av_logical lt;
        const char *type, *name;
    } map[] = {
        {SL_LT_DATE, "int32", CONNECT_DATA "Date"},
        {SL_LT_TIME_MILLIS, "int32", CONNECT_DATA "Time"},
        {SL_LT_TIMESTAMP_MILLIS, "int64", CONNECT_DATA "Timestamp"},
        {SL_LT_TIME_MICROS, "int64", DEBEZIUM_TIME "MicroTime"},
        {SL_LT_LOCAL_TIMESTAMP_MILLIS, "int64", DEBEZIUM_TIME "Timestamp"},
        {SL_LT_LOCAL_TIMESTAMP_MICROS, "int64", DEBEZIUM_TIME "MicroTimestamp"},
        /* the payload is sluice's text form: an instant with its offset */
        {SL_LT_TIMESTAMP_MICROS, "string", DEBEZIUM_TIME "ZonedTimestamp"},
        {SL_LT_UUID, "string", "io.debezium.data.Uuid"},
        {SL_LT_DURATION, "string", NULL},
    };
    if (n->logical == SL_LT_DECIMAL) {
        char scale[16], precision[16];
        snprintf(scale, sizeof(scale), "%d", n->scale);
        snprintf(precision, sizeof(precision), "%d", n->precision);
        json_object_set_new(s, "type", json_string("bytes"));
        json_object_set_new(s, "name", json_string(CONNECT_DATA "Decimal"));
        json_object_set_new(s, "parameters", json_pack("{s:s, s:s}", "scale", scale,
                                                       "connect.decimal.precision", precision));
        return;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].lt != n->logical)
            continue;
        json_object_set_new(s, "type", json_string(map[i].type));
        if (map[i].name)
            json_object_set_new(s, "name", json_string(map[i].name));
    }
}

static const char *connect_primitive(const sl_av_node *n)
{
    switch (n->kind) {
    case SL_AV_BOOLEAN: return "boolean";
    case SL_AV_INT:
        if (n->connect_type && (!strcmp(n->connect_type, "int8") || !strcmp(n->connect_type, "int16")))
            return n->connect_type;
        return "int32";
    case SL_AV_LONG: return "int64";
    case SL_AV_FLOAT: return "float32";
    case SL_AV_DOUBLE: return "float64";
    case SL_AV_BYTES:
    case SL_AV_FIXED: return "bytes";
    case SL_AV_STRING:
    case SL_AV_ENUM: return "string";
    default: return NULL;
    }
}

/* The one non-null branch of ["null", T] (or [T, "null"]), else NULL. */
static const sl_av_node *optional_branch(const sl_av_node *n)
{
    if (n->kind != SL_AV_UNION || n->n != 2)
        return NULL;
    if (n->child[0]->kind == SL_AV_NULL && n->child[1]->kind != SL_AV_NULL)
        return n->child[1];
    if (n->child[1]->kind == SL_AV_NULL && n->child[0]->kind != SL_AV_NULL)
        return n->child[0];
    return NULL;
}

static json_t *connect_schema(connect_walk *w, const sl_av_node *n)
{
    if (++w->nodes > CONNECT_MAX_NODES)
        return NULL;
    for (int i = 0; i < w->depth; i++)
        if (w->path[i] == n) /* recursion: the rest goes through as plain JSON */
            return json_object();
    if (w->depth == (int)(sizeof(w->path) / sizeof(w->path[0])))
        return json_object();
    const sl_av_node *opt = optional_branch(n);
    if (opt) {
        json_t *s = connect_schema(w, opt);
        if (s)
            json_object_set_new(s, "optional", json_true());
        return s;
    }
    json_t *s = json_object();
    if (n->kind == SL_AV_UNION || n->kind == SL_AV_NULL) {
        /* no Connect type: the value passes as sluice's plain JSON form */
        for (size_t i = 0; i < n->n; i++)
            if (n->child[i]->kind == SL_AV_NULL)
                json_object_set_new(s, "optional", json_true());
        return s;
    }
    w->path[w->depth++] = n;
    bool ok = true;
    if (n->kind == SL_AV_RECORD) {
        json_t *fields = json_array();
        for (size_t i = 0; i < n->n && ok; i++) {
            json_t *f = connect_schema(w, n->child[i]);
            if (!f) {
                ok = false;
                break;
            }
            json_object_set_new(f, "field", json_string(n->names[i]));
            json_array_append_new(fields, f);
        }
        json_object_set_new(s, "type", json_string("struct"));
        json_object_set_new(s, "fields", fields);
    } else if (n->kind == SL_AV_ARRAY || n->kind == SL_AV_MAP) {
        json_t *inner = connect_schema(w, n->child[0]);
        ok = inner != NULL;
        json_object_set_new(s, "type", json_string(n->kind == SL_AV_ARRAY ? "array" : "map"));
        if (n->kind == SL_AV_MAP)
            json_object_set_new(s, "keys", json_pack("{s:s}", "type", "string"));
        json_object_set_new(s, n->kind == SL_AV_ARRAY ? "items" : "values", inner ? inner : json_null());
    } else {
        json_object_set_new(s, "type", json_string(connect_primitive(n)));
    }
    w->depth--;
    if (!ok) {
        json_decref(s);
        return NULL;
    }
    if (n->logical != SL_LT_NONE) {
        connect_logical(n, s);
    } else if (n->connect_name) {
        json_object_set_new(s, "name", json_string(n->connect_name));
        if (n->connect_params)
            json_object_set(s, "parameters", n->connect_params);
    } else if (n->name && n->kind == SL_AV_RECORD) {
        json_object_set_new(s, "name", json_string(n->name));
    }
    if (!json_object_get(s, "optional"))
        json_object_set_new(s, "optional", json_false());
    return s;
}

json_t *sl_av_connect_schema(const sl_av_node *n)
{
    connect_walk w = {.depth = 0};
    return connect_schema(&w, n);
}
