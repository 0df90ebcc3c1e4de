/* debezium.c - `format: debezium`: Debezium change events into changes.
 *
 * A record value is one of (Debezium reference, "Data change events" of the
 * PostgreSQL and MySQL connectors, and "New Record State Extraction"):
 *
 *   - the change event envelope {"before", "after", "source", "op", "ts_ms",
 *     "transaction"}, written by JsonConverter with schemas.enable=true as
 *     {"schema": <Connect schema>, "payload": <envelope>}, with
 *     schemas.enable=false as the bare envelope, or by the Avro converter in
 *     the Confluent wire format (magic byte 0, schema id, Avro binary);
 *   - the flattened row that the ExtractNewRecordState transform makes of
 *     it: the `after` fields plus the fields it adds, named "__" + name
 *     ("__op", "__table", "__source_ts_ms", "__lsn", ...), and "__deleted"
 *     ("true" on a rewritten delete);
 *   - null (a tombstone), or {"schema": null, "payload": null}.
 *
 * The op decides the change:
 *   c (create), r (snapshot read), u (update)  upsert of `after`;
 *   d (delete)      delete by key: the record key (Debezium keys every event
 *                   by the row's primary key), completed from `before`, which
 *                   with PostgreSQL's default replica identity holds only
 *                   the key columns;
 *   t (truncate)    empty the table (the route's `truncate: apply|ignore`);
 *   m (message)     a logical decoding message: nothing to write.
 * The tombstone Debezium emits right after a delete (for log compaction) is
 * ignored; a tombstone that follows no delete of its key in its partition
 * (ExtractNewRecordState with delete.tombstone.handling.mode=tombstone)
 * deletes by key.  Schema-change, heartbeat and transaction-metadata events
 * are ignored and counted.
 *
 * Unchanged TOASTed columns arrive as a placeholder (the route's
 * `unavailable_value`, Debezium's default in dbz_int.h); such a field is
 * left out of the change, so the column keeps its stored value on an
 * update, and listed in sl_change.unavailable.  When the event re-creates
 * its row under a new key (a primary-key change: the create carries the
 * header `__debezium.oldkey`), the old key goes into sl_change.carry_key,
 * so that the worker fills those columns from the old key's row
 * (src/worker/carry.c).
 *
 * Under JsonConverter with schemas every event repeats its schema: each
 * distinct schema is parsed and read once (schema_cache.c), and the change
 * carries its identity (sl_change.schema_key), so that the worker checks
 * the table against a schema only when it changes.
 */
#include <stdlib.h>
#include <string.h>

#include "../avro_int.h"
#include "dbz_int.h"
#include "sluice/decoder.h"
#include "sluice/cells.h"
#include "../json_cells_int.h"
#include "../json_valid_int.h"
#include "sluice/log.h"
#include "sluice/textfmt.h"

/* The last delete seen per partition, to recognise the tombstone that
 * follows it.  Bounded: past DBZ_MAX_PARTS partitions, entries are reused
 * round-robin (a forgotten delete only turns its tombstone into a second,
 * harmless delete of the same key). */
#define DBZ_MAX_PARTS 4096

typedef struct dbz_delete {
    char *topic;
    int32_t partition;
    json_t *key; /* the decoded key of the last delete; NULL once matched */
} dbz_delete;

/* A record's payload as sl_dbz_cache_split() and sl_dbz_envelope_scan()
 * found it: read by names() for the direct reader's map() of the same
 * record, which takes it (read once, not twice, on templated routes).
 * Anything else the decoder does forgets it, so that its schema (owned by
 * the cache) is never used after another record's split. */
typedef struct dbz_scan {
    const sl_record *rec; /* which record: NULL none */
    const void *value;
    size_t len;
    int64_t offset;
    int32_t partition;
    sl_dbz_schema *vs;    /* NULL: not a kept schema's frame, or the scan declined */
    const char *payload;
    size_t payload_len;
    sl_dbz_envelope env;
} dbz_scan;

typedef struct dbz_state {
    dbz_scan scan;
    dbz_delete *del;
    size_t ndel, next_victim;
    sl_strbuf tmp;
    sl_dbz_cache *schemas;
    const char *ph;  /* the unavailable-value placeholder (the route's) */
    char *ph_b64;    /* its base64 without padding, as a bytea column carries it */
} dbz_state;

static int dbz_init(sl_decoder *d, sl_error *err)
{
    (void)err;
    dbz_state *st = sl_xcalloc(1, sizeof(dbz_state));
    st->schemas = sl_dbz_cache_new();
    st->ph = d->route->unavailable_value ? d->route->unavailable_value : SL_DBZ_UNAVAILABLE;
    sl_strbuf b = SL_STRBUF_INIT;
    sl_fmt_base64(&b, st->ph, strlen(st->ph));
    while (b.len && b.data[b.len - 1] == '=')
        b.data[--b.len] = '\0';
    st->ph_b64 = sl_xstrdup(b.data ? b.data : "");
    sl_strbuf_free(&b);
    d->state = st;
    return 0;
}

static void dbz_fini(sl_decoder *d)
{
    dbz_state *st = d->state;
    if (!st)
        return;
    for (size_t i = 0; i < st->ndel; i++) {
        free(st->del[i].topic);
        json_decref(st->del[i].key);
    }
    free(st->del);
    sl_strbuf_free(&st->tmp);
    sl_dbz_cache_free(st->schemas);
    free(st->ph_b64);
    free(st);
    d->state = NULL;
}

void sl_dbz_schema_stats(const sl_decoder *d, size_t *entries, size_t *bytes)
{
    const dbz_state *st = d->state;
    sl_dbz_cache_stats(st ? st->schemas : NULL, entries, bytes);
}

static dbz_delete *find_part(dbz_state *st, const sl_record *rec)
{
    for (size_t i = 0; i < st->ndel; i++)
        if (st->del[i].partition == rec->partition && !strcmp(st->del[i].topic, rec->topic))
            return &st->del[i];
    return NULL;
}

static void note_delete(dbz_state *st, const sl_record *rec, const json_t *key)
{
    dbz_delete *e = find_part(st, rec);
    if (!e) {
        if (st->ndel < DBZ_MAX_PARTS) {
            st->del = sl_xrealloc(st->del, (st->ndel + 1) * sizeof(*st->del));
            e = &st->del[st->ndel++];
        } else {
            e = &st->del[st->next_victim++ % DBZ_MAX_PARTS];
            free(e->topic);
            json_decref(e->key);
        }
        e->topic = sl_xstrdup(rec->topic);
        e->partition = rec->partition;
        e->key = NULL;
    }
    json_decref(e->key);
    e->key = key ? json_incref((json_t *)key) : NULL;
}

/* True when a tombstone of @key in @rec's partition follows a delete of
 * the same key (compared as decoded values, not bytes). */
static bool take_delete(dbz_state *st, const sl_record *rec, const json_t *key)
{
    dbz_delete *e = find_part(st, rec);
    if (!e || !e->key || !key || !json_equal(e->key, (json_t *)key))
        return false;
    json_decref(e->key);
    e->key = NULL;
    return true;
}

static void forget_delete(dbz_state *st, const sl_record *rec)
{
    dbz_delete *e = find_part(st, rec);
    if (e) {
        json_decref(e->key);
        e->key = NULL;
    }
}

/* {"schema": ..., "payload": ...} as JsonConverter writes it (schema null
 * or elided as {} included, or left out altogether). */
static bool is_connect_envelope(const json_t *j)
{
    if (!json_is_object(j) || !json_object_get(j, "payload"))
        return false;
    json_t *s = json_object_get(j, "schema");
    if (!s)
        return json_object_size(j) == 1;
    return json_object_size(j) == 2 && (json_is_object(s) || json_is_null(s));
}

/* A row object under its schema (or as it came, without one); fields for
 * io.debezium.data.Json go to @json_text. */
static json_t *convert_row(dbz_state *st, const json_t *schema, const json_t *row, json_t *json_text,
                           sl_error *err)
{
    if (!schema || !json_is_object(row)) {
        if (!json_is_object(row))
            return sl_error_set(err, SL_ERR_DATA, "a row must be a JSON object, not %s",
                                json_is_array(row) ? "an array" : "a scalar"), NULL;
        json_t *v = json_copy((json_t *)row);
        /* Without a schema a json/jsonb column's value is a string of JSON
         * text, which the column stores as it is (decoder.h json_text); other
         * columns take the string as the value. */
        if (json_text) {
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x)
                if (json_is_string(x))
                    json_object_set(json_text, k, x);
        }
        return v;
    }
    return sl_dbz_convert(schema, row, json_text, &st->tmp, err);
}

/* True when @v is the unchanged-TOAST placeholder as a Debezium value can
 * carry it: the text itself, its base64 (a bytea column, padded or not) or
 * an array holding only it (an array column). */
static bool unavailable(const dbz_state *st, const json_t *v)
{
    if (json_is_array(v) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (!strcmp(s, st->ph))
        return true;
    size_t n = strlen(st->ph_b64);
    return n && !strncmp(s, st->ph_b64, n) && strspn(s + n, "=") == strlen(s + n) && strlen(s + n) <= 2;
}

/* @row (an object) without its placeholder fields, whose names go to a
 * new array in *@names (NULL when there are none).  Return: a new
 * reference. */
static json_t *strip_unavailable(const dbz_state *st, json_t *row, json_t **names)
{
    const char *k;
    json_t *v;
    *names = NULL;
    json_object_foreach(row, k, v)
        if (unavailable(st, v)) {
            if (!*names)
                *names = json_array();
            json_array_append_new(*names, json_string(k));
        }
    if (!*names)
        return json_incref(row);
    json_t *copy = json_copy(row);
    size_t i;
    json_array_foreach(*names, i, v)
        json_object_del(copy, json_string_value(v));
    return copy;
}

/* A key of a primary-key change from the header @name
 * (`__debezium.oldkey` on the create of the new key, `__debezium.newkey` on
 * the delete of the old one) as the Connect worker's header.converter wrote
 * it (JsonConverter, with or without schemas), into *@out; NULL when there
 * is no such header. */
static int header_key(dbz_state *st, const sl_record *rec, const char *name, json_t **out, sl_error *err)
{
    const void *v;
    size_t n;
    *out = NULL;
    if (!sl_record_header(rec, name, &v, &n) || !v)
        return 0;
    json_error_t je;
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, &je);
    if (!j)
        return sl_error_set(err, SL_ERR_DATA,
                            "header %s is not JSON (%s): the Connect worker's header.converter "
                            "must be org.apache.kafka.connect.json.JsonConverter", name, je.text);
    json_t *key = j;
    if (is_connect_envelope(j)) {
        json_t *ks = json_object_get(j, "schema"), *payload = json_object_get(j, "payload");
        if (!json_is_object(ks) || !json_is_string(json_object_get(ks, "type")))
            ks = NULL;
        key = ks ? sl_dbz_convert(ks, payload, NULL, &st->tmp, err) : json_incref(payload);
        json_decref(j);
        if (!key)
            return sl_error_prefix(err, "header %s: ", name), -1;
    }
    if (!json_is_object(key) || !json_object_size(key)) {
        json_decref(key);
        return sl_error_set(err, SL_ERR_DATA, "header %s: not a key object", name);
    }
    *out = key;
    return 0;
}

/* An upsert's row: @row converted under @schema without its placeholder
 * fields (listed in out->unavailable); for a create that re-creates its
 * row under a new key, the old key (out->carry_key). */
static int upsert_value(dbz_state *st, const sl_record *rec, const char *op, const json_t *schema, json_t *row,
                        sl_change *out, sl_error *err)
{
    json_t *names, *r = strip_unavailable(st, row, &names);
    out->value = convert_row(st, schema, r, out->json_text, err);
    json_decref(r);
    out->unavailable = names;
    if (!out->value)
        return -1;
    return op && op[0] == 'c' ? header_key(st, rec, "__debezium.oldkey", &out->carry_key, err) : 0;
}

/* A delete's value: what `before` holds, with the record key on top. */
static void delete_value(dbz_state *st, sl_change *out, json_t *before)
{
    json_t *names = NULL;
    out->value = json_is_object(before) ? strip_unavailable(st, before, &names) : json_object();
    json_decref(before);
    json_decref(names);
    if (json_is_object(out->key))
        json_object_update(out->value, out->key);
}

/* True when the route's table template names a field of the event (any
 * ${...} but ${topic}). */
static bool table_from_event(const char *tmpl)
{
    for (const char *s = tmpl ? strstr(tmpl, "${") : NULL; s; s = strstr(s + 2, "${"))
        if (strncmp(s, "${topic}", 8))
            return true;
    return false;
}

static int tombstone(sl_decoder *d, const sl_record *rec, sl_change *out)
{
    dbz_state *st = d->state;
    if (take_delete(st, rec, out->key)) {
        out->op = SL_OP_IGNORE;
        out->reason = "tombstone after a delete";
        return 0;
    }
    if (!out->key || json_is_null(out->key)) {
        out->op = SL_OP_IGNORE;
        out->reason = "tombstone without a key";
        return 0;
    }
    if (table_from_event(d->route->table)) {
        /* A tombstone carries no source block, so its table cannot be
         * known.  Debezium sends the delete event first: this one's delete
         * was read before this run began (the usual case: a restart between
         * the two), so its row is already gone. */
        out->op = SL_OP_IGNORE;
        out->reason = "tombstone whose delete came before this run (its table comes from the event)";
        return 0;
    }
    /* a tombstone alone stands for a delete (log compaction semantics) */
    out->op = SL_OP_DELETE;
    return 0;
}

static int envelope(sl_decoder *d, const sl_record *rec, sl_dbz_schema *vs, const json_t *key_schema,
                    json_t *payload, sl_change *out, sl_error *err)
{
    dbz_state *st = d->state;
    const char *op = json_string_value(json_object_get(payload, "op"));
    out->meta = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(payload, k, v)
        if (strcmp(k, "before") && strcmp(k, "after"))
            json_object_set(out->meta, k, v);
    if (op[0] && op[1]) /* every op is one letter */
        return sl_error_set(err, SL_ERR_DATA, "unknown Debezium op \"%.16s\"", op);
    switch (op[0]) {
    case 'c':
    case 'r':
    case 'u': {
        json_t *after = json_object_get(payload, "after");
        if (!json_is_object(after))
            return sl_error_set(err, SL_ERR_DATA, "op \"%s\" without an \"after\" object", op);
        const json_t *as = vs->after;
        out->json_text = json_object();
        if (upsert_value(st, rec, op, as, after, out, err))
            return out->value ? -1 : (sl_error_prefix(err, "after: "), -1);
        out->fields = sl_dbz_schema_fields(vs, as, key_schema);
        out->op = SL_OP_UPSERT;
        forget_delete(st, rec);
        return 0;
    }
    case 'd': {
        json_t *before = json_object_get(payload, "before");
        json_t *bv = json_is_object(before) ? convert_row(st, vs->before, before, NULL, err) : json_object();
        if (!bv)
            return sl_error_prefix(err, "before: "), -1;
        delete_value(st, out, bv);
        out->op = SL_OP_DELETE;
        note_delete(st, rec, out->key);
        return header_key(st, rec, "__debezium.newkey", &out->new_key, err);
    }
    case 't':
        out->op = SL_OP_TRUNCATE;
        return 0;
    case 'm':
        out->op = SL_OP_IGNORE;
        out->reason = "logical decoding message";
        return 0;
    }
    return sl_error_set(err, SL_ERR_DATA, "unknown Debezium op \"%.16s\"", op);
}

/* ExtractNewRecordState's added fields into the envelope shape, so that
 * `${source.table}` and `add_columns: {lsn: source.lsn}` read the same from
 * either form: __op -> op, __ts_ms -> ts_ms, __source_ts_ms -> source.ts_ms,
 * __table / __lsn / __db / ... (source fields) -> source.table, ...; every
 * "__x" is also kept under its own name. */
static json_t *flat_meta(const json_t *row)
{
    json_t *meta = json_object(), *source = json_object(), *v;
    const char *k;
    json_object_foreach((json_t *)row, k, v) {
        if (strncmp(k, "__", 2) || !k[2])
            continue;
        const char *n = k + 2;
        json_object_set(meta, k, v);
        if (!strcmp(n, "deleted"))
            continue;
        if (!strcmp(n, "op") || !strncmp(n, "ts_", 3))
            json_object_set(meta, n, v);
        else if (!strncmp(n, "source_", 7) && n[7])
            json_object_set(source, n + 7, v);
        else
            json_object_set(source, n, v);
    }
    json_object_set_new(meta, "source", source);
    return meta;
}

static bool truthy(const json_t *v)
{
    return json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "true"));
}

static int flattened(sl_decoder *d, const sl_record *rec, sl_dbz_schema *vs, const json_t *key_schema,
                     json_t *row, sl_change *out, sl_error *err)
{
    dbz_state *st = d->state;
    const json_t *schema = vs->schema;
    const char *op = json_string_value(json_object_get(row, "__op"));
    bool deleted = truthy(json_object_get(row, "__deleted")) || (op && !strcmp(op, "d"));
    out->meta = flat_meta(row);
    if (op && !json_object_get(out->meta, "op"))
        json_object_set_new(out->meta, "op", json_string(op));
    out->json_text = deleted ? NULL : json_object();
    if (deleted) {
        json_t *v = convert_row(st, schema, row, NULL, err);
        if (!v)
            return -1;
        delete_value(st, out, v);
        out->op = SL_OP_DELETE;
        note_delete(st, rec, out->key);
        return header_key(st, rec, "__debezium.newkey", &out->new_key, err);
    }
    if (upsert_value(st, rec, op, schema, row, out, err))
        return -1;
    out->fields = sl_dbz_schema_fields(vs, schema, key_schema);
    out->op = SL_OP_UPSERT;
    forget_delete(st, rec);
    return 0;
}

/* Events that share the table topics' pattern but change no row. */
static const char *not_a_row(const json_t *p)
{
    if (json_object_get(p, "ddl") || json_object_get(p, "tableChanges"))
        return "schema change";
    if (json_is_string(json_object_get(p, "status")) && json_object_get(p, "data_collections"))
        return "transaction metadata";
    if (json_object_size(p) == 1 && json_object_get(p, "ts_ms"))
        return "heartbeat";
    return NULL;
}

static int decode_key(dbz_state *st, sl_change *out, const json_t **key_schema, json_t **key_env,
                      sl_error *err)
{
    *key_schema = NULL;
    *key_env = NULL;
    if (!is_connect_envelope(out->key))
        return 0;
    *key_env = out->key;
    out->key = NULL;
    json_t *ks = json_object_get(*key_env, "schema");
    if (!json_is_object(ks) || !json_is_string(json_object_get(ks, "type")))
        ks = NULL;
    json_t *payload = json_object_get(*key_env, "payload");
    if (json_is_null(payload))
        return 0;
    out->key = ks ? sl_dbz_convert(ks, payload, NULL, &st->tmp, err) : json_incref(payload);
    if (!out->key)
        return sl_error_prefix(err, "key: "), -1;
    *key_schema = ks;
    return 0;
}

/* The value parsed: with a held schema (cache hit or new entry), only its
 * payload is parsed, into *@root; else the whole value, and a schema it
 * carries is read for this event alone into @tmp.  *@vs is the schema
 * either way (one without a schema proper when there is none), *@payload
 * what the event holds. */
static int parse_value(sl_decoder *d, const sl_record *rec, sl_change *out, json_t **root, sl_dbz_schema *tmp,
                       sl_dbz_schema **vs, json_t **payload, sl_error *err)
{
    dbz_state *st = d->state;
    const unsigned char *val = rec->value;
    json_error_t je;
    if (rec->value_len >= 5 && val[0] == 0) { /* Confluent wire format: Avro */
        if (!d->registry)
            return sl_error_set(err, SL_ERR_FATAL, "the value is Avro (magic byte 0) but no `registry` is configured");
        /* read as the Connect record AvroConverter wrote, so semantic types
         * ("connect.name") convert exactly as under JsonConverter */
        if (sl_avro_decode_connect(d->registry, rec->value, rec->value_len, root, &out->schema_id, err))
            return -1;
    } else {
        const char *p;
        size_t pn;
        sl_dbz_schema *held = sl_dbz_cache_split(st->schemas, rec->value, rec->value_len, &p, &pn);
        if (held && (*root = json_loadb(p, pn, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je))) {
            *vs = held;
            *payload = *root;
            out->schema_key = held->key;
            return 0;
        }
        /* not the plain envelope, or its payload is not valid JSON: the
         * whole value is parsed, which also reports where it is wrong */
        *root = json_loadb(rec->value, rec->value_len, JSON_ALLOW_NUL, &je);
        if (!*root)
            return sl_error_set(err, SL_ERR_DATA, "invalid JSON at byte %d: %s", je.position, je.text);
    }
    *payload = *root;
    json_t *schema = NULL;
    if (is_connect_envelope(*root)) {
        schema = json_object_get(*root, "schema");
        *payload = json_object_get(*root, "payload");
    }
    sl_dbz_schema_init(tmp, schema ? json_incref(schema) : NULL);
    *vs = tmp;
    return 0;
}

static int dbz_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    dbz_state *st = d->state;
    const json_t *key_schema;
    json_t *key_env, *root = NULL, *payload = NULL;
    sl_dbz_schema tmp = {0}, *vs = NULL;
    int rc = -1;
    st->scan.rec = NULL;
    if (decode_key(st, out, &key_schema, &key_env, err))
        goto done;
    if (!rec->value) {
        rc = tombstone(d, rec, out);
        goto done;
    }
    if (parse_value(d, rec, out, &root, &tmp, &vs, &payload, err))
        goto done;
    if (json_is_null(payload)) {
        rc = tombstone(d, rec, out);
        goto done;
    }
    if (!json_is_object(payload)) {
        sl_error_set(err, SL_ERR_DATA, "a Debezium event must be a JSON object");
        goto done;
    }
    json_t *op = json_object_get(payload, "op");
    const char *skip;
    if (json_is_string(op) && (json_object_get(payload, "after") || json_object_get(payload, "before") ||
                               json_object_get(payload, "source"))) {
        rc = envelope(d, rec, vs, key_schema, payload, out, err);
    } else if ((skip = not_a_row(payload))) {
        out->op = SL_OP_IGNORE;
        out->reason = skip;
        rc = 0;
    } else {
        rc = flattened(d, rec, vs, key_schema, payload, out, err);
    }
done:
    sl_dbz_schema_fini(&tmp);
    json_decref(root);
    json_decref(key_env);
    return rc;
}

/* @rec's payload read for the direct reader (see dbz_scan), NULL when the
 * direct reader cannot take it. */
static const dbz_scan *scan(dbz_state *st, const sl_record *rec)
{
    dbz_scan *sc = &st->scan;
    *sc = (dbz_scan){.rec = rec, .value = rec->value, .len = rec->value_len, .offset = rec->offset,
                     .partition = rec->partition};
    if (!rec->value)
        return NULL;
    sc->vs = sl_dbz_cache_split(st->schemas, rec->value, rec->value_len, &sc->payload, &sc->payload_len);
    if (sc->vs && !sl_dbz_envelope_scan(sc->payload, sc->payload_len, &sc->env))
        sc->vs = NULL;
    return sc->vs ? sc : NULL;
}

/* What names() read of @rec, taken (forgotten); else @rec read now. */
static const dbz_scan *take_scan(dbz_state *st, const sl_record *rec)
{
    dbz_scan *sc = &st->scan;
    if (sc->rec == rec && sc->value == rec->value && sc->len == rec->value_len && sc->offset == rec->offset &&
        sc->partition == rec->partition) {
        sc->rec = NULL;
        return sc->vs ? sc : NULL;
    }
    return scan(st, rec);
}

/* The row object @row, @len of @sc's payload (its "after" or "before"),
 * whose fields are @names (the schema's plain_row()), read by the direct
 * reader into @b: true when it took it.  The text around the row is UTF-8
 * as the general path requires (the row's own is checked as it is read);
 * a string that begins with the placeholder (or its base64) declines: a
 * superset of what unavailable() finds, read as jansson decodes it. */
static bool read_row(dbz_state *st, sl_json_cells *jc, const dbz_scan *sc, const char *row, size_t len,
                     const json_t *names, sl_rowbuilder *b)
{
    const unsigned char *p = (const unsigned char *)sc->payload, *r = (const unsigned char *)row;
    size_t lead = (size_t)(r - p), tail = sc->payload_len - lead - len;
    if (!sl_utf8_strict(p, lead) || !sl_utf8_strict(r + len, tail))
        return false;
    const char *const refuse[] = {st->ph, st->ph_b64, NULL};
    return sl_json_cells_map_row(jc, row, len, names, sl_dbz_convert_field, sl_dbz_convert_token, refuse, b) == 1;
}

/* The direct reader's delete: an event under a kept schema whose "before"
 * the general path would convert without error (read by the same reader,
 * its cells then set aside), keyed by the record key decoded as the
 * general path decodes it; the key's members are on top of "before" in
 * the general path's value, so they give every key column's cell.  Left
 * to the general path: a delete whose record key lacks a key column or
 * holds a null one, a "before" that is not an object (or its fields not
 * all plain, primitive or nested), an insert-mode route (which ignores
 * deletes), and the delete of a primary-key change (header
 * __debezium.newkey: the worker keeps it for its create).  The tombstone
 * that follows is known as the general path's delete's is (note_delete()). */
static int direct_delete(sl_decoder *d, sl_json_cells *jc, const dbz_scan *sc, const sl_record *rec,
                         sl_rowbuilder *b)
{
    dbz_state *st = d->state;
    const sl_dbz_envelope *e = &sc->env;
    const void *hv;
    size_t hn;
    if (!sc->vs->before_names || !e->before || e->before[0] != '{' || d->route->mode == SL_MODE_INSERT ||
        sl_record_header(rec, "__debezium.newkey", &hv, &hn))
        return 0;
    if (e->after && sl_json_valid_skip(e->after, 0, e->after_len) != e->after_len)
        return 0; /* the scan found "after" without checking it */
    if (!read_row(st, jc, sc, e->before, e->before_len, sc->vs->before_names, b))
        return 0;
    sl_change k = {0};
    sl_error err;
    sl_error_clear(&err);
    const json_t *ks;
    json_t *kenv = NULL;
    int took = 0;
    if (!sl_decode_key(d, rec, &k.key, &err) && !decode_key(st, &k, &ks, &kenv, &err) &&
        sl_json_cells_key_row(jc, k.key, b) == 1) {
        note_delete(st, rec, k.key);
        took = 3;
    }
    json_decref(kenv);
    json_decref(k.key);
    return took;
}

/* The direct reader (json_cells_int.h) for an upsert under a kept schema the
 * table was checked against, whose row fields are all of primitive types,
 * VariableScaleDecimals or arrays of primitive values (schema_cache.c's
 * plain_row()): the row is the payload's "after" (envelope.c found it and
 * checked the rest of the payload), plain values as they are, named and
 * nested ones through sl_dbz_convert_field().  Left to the general path:
 * any other schema or op, any event whose row holds the unchanged-TOAST
 * placeholder (its field must be dropped, not written), and the create of
 * a primary-key change (header __debezium.oldkey).  A delete goes to
 * direct_delete(). */
static int dbz_map_direct(sl_decoder *d, sl_json_cells *jc, int64_t schema_key, const sl_record *rec,
                          sl_rowbuilder *b)
{
    dbz_state *st = d->state;
    const dbz_scan *sc = schema_key ? take_scan(st, rec) : NULL;
    if (!sc || sc->vs->key != schema_key)
        return 0;
    const sl_dbz_envelope *e = &sc->env;
    if (e->op == 'd')
        return direct_delete(d, jc, sc, rec, b);
    if (!sc->vs->after_names || (e->op != 'c' && e->op != 'r' && e->op != 'u') || !e->after || e->after[0] != '{')
        return 0;
    if (!read_row(st, jc, sc, e->after, e->after_len, sc->vs->after_names, b))
        return 0;
    /* the create of a primary-key change: the general path reads (and
     * judges) its old key, which the worker's key-change wait expects */
    const void *hv;
    size_t hn;
    if (e->op == 'c' && sl_record_header(rec, "__debezium.oldkey", &hv, &hn))
        return 0;
    forget_delete(st, rec);
    return 1;
}

/* ---- behind cells.h: the direct reader of a route's table ---- */

typedef struct dbz_cells {
    sl_json_cells *jc;
    int64_t schema_key; /* the kept schema of the last upsert the general path wrote to the table */
} dbz_cells;

static void *dbz_cells_new(const sl_mapping *m, struct sl_registry *reg)
{
    (void)reg;
    sl_json_cells *jc = sl_json_cells_new(m);
    if (!jc)
        return NULL;
    dbz_cells *c = sl_xcalloc(1, sizeof(*c));
    c->jc = jc;
    return c;
}

static void dbz_cells_free(void *r)
{
    dbz_cells *c = r;
    sl_json_cells_free(c->jc);
    free(c);
}

static int dbz_cells_map(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    dbz_cells *c = r;
    return dbz_map_direct(d, c->jc, c->schema_key, rec, b);
}

/* An upsert written by the general path under a kept schema: its table was
 * checked against that schema (the worker checks each new schema with its
 * first upsert), so the next events of that schema may take the direct
 * reader.  A table read again gets a new reader, which starts with none. */
static void dbz_cells_learn(void *r, const sl_change *ch)
{
    if (ch && ch->op == SL_OP_UPSERT)
        ((dbz_cells *)r)->schema_key = ch->schema_key;
}

/* The source block's names of an event under a kept schema (the direct
 * reader takes no other), found by a skip-scan of its payload. */
static int dbz_cells_names(sl_decoder *d, const sl_record *rec, sl_cells_names *out)
{
    const dbz_scan *sc = scan(d->state, rec);
    if (!sc || !sc->env.names_ok)
        return 0;
    *out = sc->env.names;
    return 1;
}

static const sl_cells_ops dbz_cells_ops = {.new = dbz_cells_new,
                                           .free = dbz_cells_free,
                                           .map = dbz_cells_map,
                                           .learn = dbz_cells_learn,
                                           .names = dbz_cells_names};

/* Debezium reads Avro keys, like values, as the Connect records
 * AvroConverter was given. */
static int dbz_decode_key(sl_decoder *d, const sl_record *rec, json_t **out, sl_error *err)
{
    if (!rec->key || d->route->key_format != SL_KEYFMT_AVRO)
        return sl_decode_key_plain(d, rec, out, err);
    *out = NULL;
    if (sl_avro_decode_connect(d->registry, rec->key, rec->key_len, out, NULL, err)) {
        sl_error_prefix(err, "key: ");
        return -1;
    }
    return 0;
}

const sl_format_ops sl_format_debezium = {
    .name = "debezium",
    .init = dbz_init,
    .fini = dbz_fini,
    .decode = dbz_decode,
    .decode_key = dbz_decode_key,
    .convert_cell = sl_dbz_convert_cell,
    .cells = &dbz_cells_ops,
};
