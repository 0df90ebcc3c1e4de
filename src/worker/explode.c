/* explode.c - child tables from nested arrays (routes[].explode): each
 * element of the array at the route's pointer becomes a row of its table,
 * keyed by the parent's key (explode_parent) and its index
 * (explode_index).  A parent record replaces its children as a whole: the
 * rows carry `replace`, so the write deletes every stored child of the
 * parent before inserting them, and the batch drops the rows of the
 * parent's earlier versions (batch.h: child_index).  A parent without
 * children (an empty or absent array, a delete, a tombstone) is one delete
 * row at index -1, which deletes them all.  Every element is mapped first,
 * so that a record bad for the route leaves no row of it in the batch. */
#include <string.h>

#include "sluice/log.h"
#include "sluice/kafka_record.h"
#include "worker_int.h"

/* The parent's key values by child column, looked up in the value, else
 * in the record's key: the same pointer into an object key, or a scalar
 * key whole when the parent's key is one column (an empty pointer: the
 * scalar key always).  NULL with @err when one is missing. */
static json_t *parent_key(const sl_route_conf *r, const sl_record *rec, const sl_change *c, sl_error *err)
{
    json_t *out = json_object();
    for (size_t i = 0; i < r->nexplode_parent; i++) {
        const sl_kv *kv = &r->explode_parent[i];
        json_t *v = NULL;
        bool scalar_key = c->key && !json_is_object(c->key) && !json_is_array(c->key);
        if (*kv->value) {
            v = c->value ? sl_json_pointer(c->value, kv->value) : NULL;
            if ((!v || json_is_null(v)) && json_is_object(c->key))
                v = sl_json_pointer(c->key, kv->value);
            /* a tombstone of a parent keyed by one scalar */
            if ((!v || json_is_null(v)) && scalar_key && r->nexplode_parent == 1)
                v = c->key;
        } else if (scalar_key) {
            v = c->key;
        }
        if (!v || json_is_null(v)) {
            sl_error_set(err, SL_ERR_DATA, SL_REC_FMT ": the parent's key for column %s (%s%s) is missing",
                         SL_REC_ARGS(rec), kv->key, *kv->value ? kv->value : "the record key",
                         *kv->value ? " in the value or the key" : "");
            json_decref(out);
            return NULL;
        }
        json_object_set(out, kv->key, v);
    }
    return out;
}

/* The change of child row @i (-1: the delete of every child). */
static sl_change child_change(const sl_route_conf *r, const sl_change *c, const json_t *parent, json_t *el, long i)
{
    json_t *o = !el ? json_object() : json_is_object(el) ? json_copy(el) : json_pack("{s:O}", "value", el);
    json_object_update(o, (json_t *)parent);
    json_object_set_new(o, r->explode_index, json_integer(i));
    return (sl_change){.op = i < 0 ? SL_OP_DELETE : SL_OP_UPSERT, .value = o, .meta = c->meta, .schema_id = -1};
}

/* The array of @c (NULL: none), or -1 with @err when the value there is
 * neither an array nor null. */
static int children(const sl_route_conf *r, const sl_record *rec, const sl_change *c, json_t **arr, sl_error *err)
{
    *arr = c->op == SL_OP_UPSERT && c->value ? sl_json_pointer(c->value, r->explode) : NULL;
    if (*arr && !json_is_array(*arr) && !json_is_null(*arr))
        return sl_error_set(err, SL_ERR_DATA, SL_REC_FMT ": %s is not an array", SL_REC_ARGS(rec), r->explode);
    if (*arr && !json_is_array(*arr))
        *arr = NULL;
    return 0;
}

sl_tentry *sl_worker_explode_table(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                                   sl_error *err)
{
    json_t *parent = json_object();
    sl_change e = child_change(r, c, parent, NULL, -1);
    sl_tentry *te = sl_worker_table_for(w, r, rec, &e, err);
    json_decref(e.value);
    json_decref(parent);
    return te;
}

int sl_worker_explode(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                      uint64_t assignment, sl_change *c, sl_error *err)
{
    json_t *arr = NULL;
    json_t *parent = parent_key(r, rec, c, err);
    if (!parent || children(r, rec, c, &arr, err)) {
        json_decref(parent);
        return -1;
    }
    size_t n = arr ? json_array_size(arr) : 0;
    sl_change *e = sl_xcalloc(n ? n : 1, sizeof(*e));
    if (n == 0)
        e[0] = child_change(r, c, parent, NULL, -1);
    for (size_t i = 0; i < n; i++)
        e[i] = child_change(r, c, parent, json_array_get(arr, i), (long)i);
    size_t ne = n ? n : 1;
    int rc = 0;
    /* every row mapped before any is batched: all of the record, or none */
    sl_tentry *te = sl_worker_table_for(w, r, rec, &e[0], err);
    if (!te)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < ne; i++)
        if (e[i].op == SL_OP_UPSERT && sl_map_change(&te->map, &e[i], rec, &w->rb, err))
            rc = -1;
    for (size_t i = 0; rc == 0 && i < ne; i++)
        rc = sl_worker_take_one(w, r, rec, topic, assignment, &e[i], err);
    for (size_t i = 0; i < ne; i++)
        json_decref(e[i].value);
    free(e);
    json_decref(parent);
    return rc;
}
