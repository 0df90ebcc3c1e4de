/* json_schema.c - `format: json-schema` and `key_format: json-schema`:
 * Confluent's wire format for JSON Schema (magic byte 0, 4-byte big-endian
 * schema id, then the JSON text), the value read as plain JSON, the
 * registered schema deciding the column types for auto_create and
 * auto_evolve (sl_change.fields):
 *
 *   integer -> bigint, or with "minimum" and "maximum" the narrowest of
 *   smallint, integer, bigint, numeric that holds them;
 *   number -> double precision, boolean -> boolean,
 *   string -> text, or by its format: date-time -> timestamptz,
 *   date -> date, time -> time, uuid -> uuid;
 *   array of one of those -> array, other arrays and objects -> jsonb;
 *   a property not in "required", or whose type admits "null", is optional.
 *
 * Local references ("$ref": "#/definitions/X" or "#/$defs/X") are followed,
 * and so are references to the schemas the registered schema references
 * (Confluent's "references"), by their names ("address.json", or
 * "address.json#/definitions/X"); a property the rules do not decide
 * (oneOf, anyOf, other references) is jsonb.  A string's maxLength is the
 * field's length (a varchar(n) column widens with it).
 *
 * The JSON after the framing is what `format: json` reads, so its direct
 * reader (json_cells.c) takes the records of a schema id once the general
 * path has written one of them (and so created or evolved the table). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_cells_int.h"
#include "json_schema_int.h"
#include "sluice/cells.h"
#include "sluice/registry.h"
#include "wire_int.h"

/* each thread's built schemas (wire_int.h) */
typedef struct js_cached {
    sl_built built;
    json_t *fields; /* NULL: the schema is not of an object with properties */
    int key_id;        /* with_key was made with the key schema of this id */
    json_t *with_key;  /* fields plus the key schema's (sl_fields_with_key()) */
} js_cached;

static void cached_free(sl_built *b)
{
    js_cached *c = (js_cached *)b;
    json_decref(c->fields);
    json_decref(c->with_key);
    free(c);
}

static const sl_built_kind js_schemas = {"json-schema", cached_free};

void sl_json_schema_thread_cleanup(void) { sl_built_clear(&js_schemas); }

/* ---- schema -> fields ---- */

/* @s with its "$ref" followed (a few steps): a local one ("#/definitions/X",
 * "#/$defs/X") against *@root, or one naming a schema the registered schema
 * references ("address.json", "address.json#/definitions/X"), found by that
 * name in @refs, which then becomes *@root.  NULL when a reference leads
 * nowhere sluice can follow. */
static const json_t *deref(const json_t *refs, const json_t **root, const json_t *s)
{
    for (int i = 0; i < 8 && json_is_object(s); i++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (!ref)
            return s;
        if (*ref != '#') {
            const char *hash = strchr(ref, '#');
            size_t n = hash ? (size_t)(hash - ref) : strlen(ref);
            const json_t *other = json_object_getn(refs, ref, n);
            if (!other)
                return NULL;
            *root = other;
            if (!hash || !hash[1]) {
                s = other;
                continue;
            }
            ref = hash;
        }
        const char *name = NULL;
        const json_t *defs = NULL;
        if (!strncmp(ref, "#/definitions/", 14))
            defs = json_object_get(*root, "definitions"), name = ref + 14;
        else if (!strncmp(ref, "#/$defs/", 8))
            defs = json_object_get(*root, "$defs"), name = ref + 8;
        if (!defs || strchr(name, '/') || strchr(name, '~'))
            return NULL;
        s = json_object_get(defs, name);
    }
    return json_is_object(s) ? s : NULL;
}

/* The one non-null type of @s (NULL when none or several) and whether
 * null is allowed. */
static const char *one_type(const json_t *s, bool *nullable)
{
    const json_t *t = json_object_get(s, "type");
    *nullable = false;
    if (json_is_string(t)) {
        if (!strcmp(json_string_value(t), "null"))
            return *nullable = true, NULL;
        return json_string_value(t);
    }
    const char *only = NULL;
    size_t i, n = 0;
    const json_t *x;
    json_array_foreach(t, i, x) {
        const char *v = json_string_value(x);
        if (v && !strcmp(v, "null"))
            *nullable = true;
        else if (v)
            only = v, n++;
    }
    return n == 1 ? only : NULL;
}

/* @s's bound @k ("minimum", "maximum"), whole, into *@v */
static bool bound(const json_t *s, const char *k, double *v)
{
    const json_t *b = json_object_get(s, k);
    if (!json_is_number(b))
        return false;
    *v = json_number_value(b);
    return true;
}

/* An integer's column: the narrowest that holds its declared range (both
 * "minimum" and "maximum"), so that a later version's wider range widens
 * the column (auto_evolve: widen); bigint without a range, numeric for a
 * range beyond bigint's. */
static const char *int_type(const json_t *s)
{
    double lo, hi;
    if (!bound(s, "minimum", &lo) || !bound(s, "maximum", &hi))
        return "bigint";
    if (lo >= -32768 && hi <= 32767)
        return "smallint";
    if (lo >= -2147483648.0 && hi <= 2147483647.0)
        return "integer";
    if (lo >= -9223372036854775808.0 && hi < 9223372036854775808.0)
        return "bigint";
    return "numeric";
}

static const char *scalar(const json_t *s, const char *type)
{
    if (!type)
        return "jsonb";
    if (!strcmp(type, "integer"))
        return int_type(s);
    if (!strcmp(type, "number"))
        return "double precision";
    if (!strcmp(type, "boolean"))
        return "boolean";
    if (!strcmp(type, "string")) {
        const char *f = json_string_value(json_object_get(s, "format"));
        if (f && !strcmp(f, "date-time"))
            return "timestamptz";
        if (f && !strcmp(f, "date"))
            return "date";
        if (f && !strcmp(f, "time"))
            return "time";
        if (f && !strcmp(f, "uuid"))
            return "uuid";
        return "text";
    }
    return "jsonb";
}

json_t *sl_json_schema_fields(const json_t *schema, const json_t *refs)
{
    const json_t *root = schema;
    const json_t *top = deref(refs, &root, schema);
    bool nullable;
    const char *t = top ? one_type(top, &nullable) : NULL;
    const json_t *props = top ? json_object_get(top, "properties") : NULL;
    if ((t && strcmp(t, "object")) || !json_is_object(props))
        return NULL;
    const json_t *required = json_object_get(top, "required");
    json_t *out = json_array();
    const char *name;
    json_t *p;
    json_object_foreach((json_t *)props, name, p) {
        const json_t *proot = root;
        const json_t *s = deref(refs, &proot, p);
        const char *type = s ? one_type(s, &nullable) : NULL;
        bool is_required = false;
        size_t i;
        json_t *r;
        json_array_foreach(required, i, r)
            if (json_is_string(r) && !strcmp(json_string_value(r), name))
                is_required = true;
        const char *st = s ? scalar(s, type) : "jsonb";
        json_t *f = json_pack("{s:s, s:s, s:b, s:s}", "name", name, "type", st, "optional",
                              nullable || !is_required, "source_type", type ? type : "(no single type)");
        const char *format = s ? json_string_value(json_object_get(s, "format")) : NULL;
        double lo, hi;
        char src[160];
        if (format) {
            snprintf(src, sizeof(src), "%s (format %s)", type ? type : "", format);
            json_object_set_new(f, "source_type", json_string(src));
        } else if (type && !strcmp(type, "integer") && bound(s, "minimum", &lo) && bound(s, "maximum", &hi)) {
            snprintf(src, sizeof(src), "integer %.17g..%.17g", lo, hi);
            json_object_set_new(f, "source_type", json_string(src));
        }
        /* a column the user declared varchar(n) widens with maxLength */
        const json_t *ml = s && type && !strcmp(type, "string") ? json_object_get(s, "maxLength") : NULL;
        if (json_is_integer(ml) && json_integer_value(ml) > 0)
            json_object_set_new(f, "length", json_integer(json_integer_value(ml)));
        if (type && !strcmp(type, "array")) {
            const json_t *iroot = proot;
            const json_t *items = deref(refs, &iroot, json_object_get(s, "items"));
            bool item_null;
            const char *it = items ? scalar(items, one_type(items, &item_null)) : "jsonb";
            if (strcmp(it, "jsonb")) { /* arrays of objects or arrays stay jsonb */
                json_object_set_new(f, "type", json_string("array"));
                json_object_set_new(f, "items", json_string(it));
            }
        }
        json_array_append_new(out, f);
    }
    return out;
}

static js_cached *schema_for(sl_registry *reg, int id, sl_error *err)
{
    js_cached *found = (js_cached *)sl_built_find(&js_schemas, reg, id);
    if (found)
        return found;
    const sl_registry_schema *rs;
    if (sl_registry_get(reg, id, &rs, err))
        return NULL;
    if (strcmp(rs->type, "JSON"))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d is a %s schema, not JSON Schema", id, rs->type), NULL;
    json_error_t je;
    json_t *root = json_loads(rs->text, 0, &je);
    if (!root)
        return sl_error_set(err, SL_ERR_DATA, "schema id %d: not JSON: %s", id, je.text), NULL;
    /* the schemas it references, by the names its "$ref"s use */
    json_t *refs = json_object();
    for (size_t i = 0; i < rs->nrefs; i++) {
        json_t *r = json_loads(rs->refs[i].text, 0, &je);
        if (!r) {
            json_decref(refs);
            json_decref(root);
            return sl_error_set(err, SL_ERR_DATA, "schema id %d: its reference %s is not JSON: %s", id,
                                rs->refs[i].name, je.text),
                   NULL;
        }
        json_object_set_new(refs, rs->refs[i].name, r);
    }
    js_cached *c = sl_xcalloc(1, sizeof(*c));
    c->fields = sl_json_schema_fields(root, refs);
    json_decref(refs);
    json_decref(root);
    sl_built_add(&c->built, &js_schemas, reg, id);
    return c;
}

/* ---- wire format ---- */

static int wire(sl_registry *reg, const void *buf, size_t len, const char **body, size_t *body_len,
                js_cached **which, sl_error *err)
{
    const unsigned char *b = buf;
    int id = -1; /* set by sl_wire_header(); initialised for the compiler */
    if (sl_wire_header(buf, len, 5, "JSON", &id, err))
        return -1;
    if (!reg) {
        /* -1 spelt out: the compiler cannot see that sl_error_set() returns
         * it, and would take the outputs for unset on a 0 */
        sl_error_set(err, SL_ERR_FATAL, "JSON Schema needs a schema_registry section");
        return -1;
    }
    js_cached *c = schema_for(reg, id, err);
    if (!c)
        return -1;
    *body = (const char *)b + 5;
    *body_len = len - 5;
    *which = c;
    return 0;
}

int sl_json_schema_wire(sl_registry *reg, const void *buf, size_t len, const char **body, size_t *body_len,
                        const json_t **fields, int *schema_id, sl_error *err)
{
    js_cached *c;
    if (wire(reg, buf, len, body, body_len, &c, err))
        return -1;
    if (fields)
        *fields = c->fields;
    if (schema_id)
        *schema_id = c->built.id;
    return 0;
}

static json_t *load(const char *body, size_t len, int id, sl_error *err)
{
    json_error_t je;
    /* JSON_ALLOW_NUL as format: json (json.c) */
    json_t *v = json_loadb(body, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (!v)
        sl_error_set(err, SL_ERR_DATA, "schema id %d: invalid JSON at byte %d: %s", id, je.position, je.text);
    return v;
}

int sl_json_schema_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    const char *body;
    size_t len;
    int id = -1;
    *out = NULL;
    if (!rec->key)
        return 0;
    if (sl_json_schema_wire(d->registry, rec->key, rec->key_len, &body, &len, NULL, &id, err) ||
        !(*out = load(body, len, id, err))) {
        sl_error_prefix(err, "key: ");
        return -1;
    }
    return 0;
}

static int json_schema_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    if (!rec->value)
        return sl_decode_tombstone(d, out);
    const char *body;
    size_t len;
    js_cached *c;
    if (wire(d->registry, rec->value, rec->value_len, &body, &len, &c, err))
        return -1;
    out->schema_id = c->built.id;
    if (!(out->value = load(body, len, c->built.id, err)))
        return -1;
    if (!json_is_object(out->value))
        return sl_error_set(err, SL_ERR_DATA, "schema id %d: the value is JSON but not an object", c->built.id);
    out->op = SL_OP_UPSERT;
    json_t *fields = c->fields;
    js_cached *kc;
    const char *kb;
    size_t kl;
    if (fields && rec->key && d->route->key_format == SL_KEYFMT_JSON_SCHEMA &&
        wire(d->registry, rec->key, rec->key_len, &kb, &kl, &kc, NULL) == 0 && kc->fields) {
        if (!c->with_key || c->key_id != kc->built.id) {
            json_decref(c->with_key);
            c->with_key = sl_fields_with_key(c->fields, kc->fields);
            c->key_id = kc->built.id;
        }
        fields = c->with_key;
    }
    out->fields = json_incref(fields);
    return 0;
}

/* ---- the direct reader: json_cells.c behind the framing ---- */

#define MAX_IDS 32 /* schema ids remembered per table; beyond, the oldest goes */

typedef struct js_cells {
    sl_json_cells *jc;
    int ids[MAX_IDS]; /* schema ids the general path has written a row of */
    size_t nids, next;
} js_cells;

static void *cells_new(const sl_mapping *m, struct sl_registry *reg)
{
    sl_json_cells *jc = reg ? sl_json_cells_new(m) : NULL;
    if (!jc)
        return NULL;
    js_cells *c = sl_xcalloc(1, sizeof(*c));
    c->jc = jc;
    return c;
}

static void cells_free(void *r)
{
    js_cells *c = r;
    if (c) {
        sl_json_cells_free(c->jc);
        free(c);
    }
}

static bool known(const js_cells *c, int id)
{
    for (size_t i = 0; i < c->nids; i++)
        if (c->ids[i] == id)
            return true;
    return false;
}

static void cells_learn(void *r, const sl_change *ch)
{
    js_cells *c = r;
    if (!ch || ch->schema_id < 0 || ch->op != SL_OP_UPSERT || known(c, ch->schema_id))
        return;
    c->ids[c->next] = ch->schema_id;
    c->next = (c->next + 1) % MAX_IDS;
    if (c->nids < MAX_IDS)
        c->nids++;
}

static int cells_map(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    (void)d;
    js_cells *c = r;
    const unsigned char *v = (const unsigned char *)rec->value;
    if (!v || rec->value_len < 5 || v[0] != 0)
        return 0;
    uint32_t id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
    if (id > INT32_MAX || !known(c, (int)id))
        return 0;
    sl_record body = *rec;
    body.value = (const char *)rec->value + 5;
    body.value_len -= 5;
    return sl_json_cells_map(c->jc, &body, b);
}

static const sl_cells_ops json_schema_cells_ops = {
    .new = cells_new, .free = cells_free, .map = cells_map, .learn = cells_learn};

const sl_format_ops sl_format_json_schema = {
    .name = "json-schema",
    .needs_registry = true,
    .decode = json_schema_decode,
    .cells = &json_schema_cells_ops,
};
