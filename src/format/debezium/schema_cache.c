/* schema_cache.c - the Connect schemas of Debezium's JSON events (JsonConverter
 * with schemas.enable=true), parsed and read once per distinct schema.
 *
 * Every such event is {"schema": <the same schema again>, "payload": ...}.
 * sl_dbz_cache_split() finds the schema's text among the schemas it holds by
 * comparing bytes, so that only the payload is parsed; a schema it does not
 * hold is parsed on its own and kept.  Entries are keyed by the schema's
 * exact bytes (no hash: a hit is a byte-for-byte comparison, so two schemas
 * are never taken for one another).  Bounded: at most
 * SL_DBZ_SCHEMA_CACHE_ENTRIES schemas and SL_DBZ_SCHEMA_CACHE_BYTES bytes of
 * schema text per decoder, the least recently used dropped first; a schema
 * longer than SL_DBZ_SCHEMA_MAX_BYTES is never kept (its events are parsed
 * whole, as without the cache).
 *
 * Why a match of bytes is enough: a JSON object's text ends at its own
 * closing brace, so when the bytes after "schema": begin with a held
 * schema's text, that text is exactly the member's value, already known to
 * be valid JSON.  The rest of the event must be the fixed frame
 * {"schema": S, "payload": P} (JSON whitespace allowed between the tokens)
 * and P must parse on its own; then the whole value is valid JSON with the
 * same meaning.  Anything else (other members, another order, escapes in the
 * member names) returns NULL and the event is parsed whole. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../connect_schema_int.h"
#include "dbz_int.h"

struct sl_dbz_cache {
    sl_dbz_schema **e; /* entries; e[0] is the most recently used */
    size_t n;
    size_t bytes;      /* schema text held */
};

/* sl_change.schema_key values: unique within the process, never 0. */
static atomic_uint_fast64_t next_key = 1;

/* ---- a schema read once ---- */

/* The schema proper: NULL when absent, null or elided ({}). */
static const json_t *usable(const json_t *s)
{
    return json_is_object(s) && json_is_string(json_object_get(s, "type")) ? s : NULL;
}

/* The schema of field @name of struct schema @s, or NULL. */
static const json_t *field(const json_t *s, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s, "fields"), i, f) {
        const char *n = json_string_value(json_object_get(f, "field"));
        if (n && !strcmp(n, name))
            return f;
    }
    return NULL;
}

/* A field whose JSON value sl_dbz_convert() keeps as it is and whose
 * column takes it as plain JSON's: Connect's integer, floating point,
 * boolean and string types without a semantic name, and strings named
 * ZonedTimestamp (ISO text), Uuid or Enum. */
static bool plain_field(const json_t *f)
{
    static const char *const types[] = {"int8", "int16", "int32", "int64", "float", "float32", "float64",
                                        "double", "boolean", "string"};
    static const char *const names[] = {"io.debezium.time.ZonedTimestamp", "io.debezium.data.Uuid",
                                        "io.debezium.data.Enum"};
    if (json_object_get(f, "schema") || !json_is_string(json_object_get(f, "field")))
        return false;
    const char *type = json_string_value(json_object_get(f, "type"));
    const json_t *name = json_object_get(f, "name");
    bool known = false;
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        known = known || !strcmp(type, types[i]);
    if (!known || !name)
        return known;
    for (size_t i = 0; json_is_string(name) && !strcmp(type, "string") && i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(json_string_value(name), names[i]))
            return true;
    return false;
}

/* One of Connect's primitive types (bytes included). */
static bool primitive_type(const char *type)
{
    static const char *const types[] = {"int8", "int16", "int32", "int64", "float", "float32", "float64",
                                        "double", "boolean", "string", "bytes"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(type, types[i]))
            return true;
    return false;
}

/* A field of a primitive Connect type (bytes included) under a semantic
 * name (Decimal, Date, MicroTimestamp, Json, ...): its scalar values are
 * converted one by one by sl_dbz_convert_field(), the general path's walk. */
static bool converted_field(const json_t *f)
{
    if (json_object_get(f, "schema") || !json_is_string(json_object_get(f, "field")))
        return false;
    const char *type = json_string_value(json_object_get(f, "type"));
    return type && primitive_type(type);
}

/* A field whose value is an object or an array that sl_dbz_convert_field()
 * turns into one value, as the general path's walk does: Debezium's
 * VariableScaleDecimal (a struct of a scale and base64 digits: PostgreSQL's
 * numeric without a scale) and arrays of primitive values (PostgreSQL's
 * array columns).  The direct reader parses such a value on its own. */
static bool nested_field(const json_t *f)
{
    if (json_object_get(f, "schema") || !json_is_string(json_object_get(f, "field")))
        return false;
    const char *type = json_string_value(json_object_get(f, "type"));
    const char *name = json_string_value(json_object_get(f, "name"));
    if (type && !strcmp(type, "struct"))
        return name && !strcmp(name, "io.debezium.data.VariableScaleDecimal");
    if (!type || strcmp(type, "array"))
        return false;
    const json_t *items = json_object_get(f, "items");
    return json_is_object(items) && json_is_string(json_object_get(items, "type")) &&
           primitive_type(json_string_value(json_object_get(items, "type")));
}

/* For the direct reader, when every field of @row is plain, converted or
 * nested: field name -> true (plain), [the field's schema, its token plan]
 * (converted) or [the field's schema, 0, true] (nested); else NULL (any
 * other struct, array or map field, or a name given twice). */
static json_t *plain_row(const json_t *row)
{
    json_t *names = json_object(), *f;
    size_t i;
    json_array_foreach(json_object_get(row, "fields"), i, f) {
        const char *name = json_string_value(json_object_get(f, "field"));
        bool plain = plain_field(f), nested = !plain && nested_field(f);
        if ((!plain && !nested && !converted_field(f)) || json_object_get(names, name)) {
            json_decref(names);
            return NULL;
        }
        if (plain)
            json_object_set(names, name, json_true());
        else if (nested)
            json_object_set_new(names, name, json_pack("[O,I,b]", f, (json_int_t)0, 1));
        else
            json_object_set_new(names, name, json_pack("[O,I]", f, (json_int_t)sl_dbz_token_plan(f)));
    }
    return names;
}

void sl_dbz_schema_init(sl_dbz_schema *s, json_t *tree)
{
    memset(s, 0, sizeof(*s));
    s->tree = tree;
    s->schema = usable(tree);
    if (s->schema) {
        s->after = usable(field(s->schema, "after"));
        s->before = usable(field(s->schema, "before"));
    }
}

void sl_dbz_schema_fini(sl_dbz_schema *s)
{
    json_decref(s->fields);
    json_decref(s->fields_key_schema);
    json_decref(s->after_names);
    json_decref(s->before_names);
    json_decref(s->tree);
    free(s->text);
    memset(s, 0, sizeof(*s));
}

json_t *sl_dbz_schema_fields(sl_dbz_schema *s, const json_t *row, const json_t *key_schema)
{
    if (!row)
        return NULL;
    bool same_key = key_schema ? s->fields_key_schema && json_equal(s->fields_key_schema, (json_t *)key_schema)
                               : !s->fields_key_schema;
    if (!s->fields || s->fields_row != row || !same_key) {
        json_decref(s->fields);
        json_decref(s->fields_key_schema);
        s->fields = sl_dbz_fields(row, key_schema);
        s->fields_row = row;
        s->fields_key_schema = key_schema ? json_incref((json_t *)key_schema) : NULL;
    }
    return s->fields ? json_incref(s->fields) : NULL;
}

/* ---- the cache ---- */

sl_dbz_cache *sl_dbz_cache_new(void)
{
    return sl_xcalloc(1, sizeof(sl_dbz_cache));
}

void sl_dbz_cache_free(sl_dbz_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        sl_dbz_schema_fini(c->e[i]);
        free(c->e[i]);
    }
    free(c->e);
    free(c);
}

void sl_dbz_cache_stats(const sl_dbz_cache *c, size_t *entries, size_t *bytes)
{
    *entries = c ? c->n : 0;
    *bytes = c ? c->bytes : 0;
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && space(s[i]))
        i++;
    return i;
}

/* @word at s[*i] (after whitespace); advances past it. */
static bool expect(const char *s, size_t *i, size_t n, const char *word)
{
    size_t at = skip_space(s, *i, n), len = strlen(word);
    if (n - at < len || memcmp(s + at, word, len))
        return false;
    *i = at + len;
    return true;
}

/* Past the end of the object whose '{' is s[i], bracket by bracket outside
 * strings (no recursion: any depth costs nothing); 0 when it does not end.
 * Only a guess at the span: the span is then parsed, which decides. */
static size_t object_end(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            if (i >= n)
                return 0;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if ((ch == '}' || ch == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* The held schema whose text starts at s[at], or -1.  The last bytes are
 * compared first: schemas of one connector share long beginnings, and
 * JsonConverter writes the envelope's name (the table) at the end. */
static long find(const sl_dbz_cache *c, const char *s, size_t at, size_t n)
{
    for (size_t i = 0; i < c->n; i++) {
        const sl_dbz_schema *e = c->e[i];
        size_t len = e->text_len, tail = len < 64 ? len : 64;
        if (n - at < len || s[at + len - 1] != '}')
            continue;
        if (memcmp(s + at + len - tail, e->text + len - tail, tail) || memcmp(s + at, e->text, len - tail))
            continue;
        return (long)i;
    }
    return -1;
}

/* Entry @i to the front (most recently used). */
static void touch(sl_dbz_cache *c, size_t i)
{
    sl_dbz_schema *e = c->e[i];
    memmove(c->e + 1, c->e, i * sizeof(*c->e));
    c->e[0] = e;
}

static sl_dbz_schema *add(sl_dbz_cache *c, const char *text, size_t len, json_t *tree)
{
    while (c->n && (c->n >= SL_DBZ_SCHEMA_CACHE_ENTRIES || c->bytes + len > SL_DBZ_SCHEMA_CACHE_BYTES)) {
        sl_dbz_schema *old = c->e[--c->n];
        c->bytes -= old->text_len;
        sl_dbz_schema_fini(old);
        free(old);
    }
    sl_dbz_schema *e = sl_xmalloc(sizeof(*e));
    sl_dbz_schema_init(e, tree);
    if (e->after && sl_connect_stype(e->after) && !strcmp(sl_connect_stype(e->after), "struct"))
        e->after_names = plain_row(e->after);
    if (e->before && sl_connect_stype(e->before) && !strcmp(sl_connect_stype(e->before), "struct"))
        e->before_names = plain_row(e->before);
    e->text = sl_xmalloc(len);
    memcpy(e->text, text, len);
    e->text_len = len;
    e->key = (int64_t)atomic_fetch_add(&next_key, 1);
    c->e = sl_xrealloc(c->e, (c->n + 1) * sizeof(*c->e));
    memmove(c->e + 1, c->e, c->n * sizeof(*c->e));
    c->e[0] = e;
    c->n++;
    c->bytes += len;
    return e;
}

sl_dbz_schema *sl_dbz_cache_split(sl_dbz_cache *c, const char *s, size_t n, const char **payload,
                                  size_t *payload_len)
{
    size_t i = 0;
    if (!expect(s, &i, n, "{") || !expect(s, &i, n, "\"schema\"") || !expect(s, &i, n, ":"))
        return NULL;
    i = skip_space(s, i, n);
    if (i >= n || s[i] != '{')
        return NULL;
    size_t at = i, end;
    sl_dbz_schema *e;
    long hit = find(c, s, at, n);
    if (hit >= 0) {
        touch(c, (size_t)hit);
        e = c->e[0];
        end = at + e->text_len;
    } else {
        end = object_end(s, at, n);
        if (!end || end - at > SL_DBZ_SCHEMA_MAX_BYTES)
            return NULL;
        e = NULL; /* parsed below, once the frame is known to fit */
    }
    i = end;
    if (!expect(s, &i, n, ",") || !expect(s, &i, n, "\"payload\"") || !expect(s, &i, n, ":"))
        return NULL;
    size_t p = skip_space(s, i, n), last = n;
    while (last > p && space(s[last - 1]))
        last--;
    if (last <= p + 1 || s[last - 1] != '}')
        return NULL;
    if (!e) {
        json_error_t je;
        json_t *tree = json_loadb(s + at, end - at, JSON_ALLOW_NUL, &je);
        if (!tree)
            return NULL; /* the whole value's parse reports it */
        e = add(c, s + at, end - at, tree);
    }
    *payload = s + p;
    *payload_len = last - 1 - p;
    return e;
}
