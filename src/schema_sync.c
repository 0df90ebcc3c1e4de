/* schema_sync.c - auto_create and auto_evolve: the table follows the
 * schema of the records (sl_change.fields), by adding only.  DDL goes
 * through the sink's create_table/add_column operations, which use
 * IF NOT EXISTS so that two workers evolving one table both succeed. */
#include "sluice/schema_sync.h"

#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/sql.h"
#include "sluice/strbuf.h"

static const char *fstr(const json_t *f, const char *k)
{
    const char *s = json_string_value(json_object_get(f, k));
    return s ? s : "";
}

const char *sl_schema_column_type(int target, const json_t *field, char *buf, size_t len)
{
    return sl_sinks[target]->column_type(field, buf, len);
}

static sl_coltype sluice_coltype(const char *t, sl_coltype *elem)
{
    static const struct {
        const char *name;
        sl_coltype type;
    } map[] = {
        {"text", SL_COL_TEXT},       {"smallint", SL_COL_INT2},   {"integer", SL_COL_INT4},
        {"bigint", SL_COL_INT8},     {"numeric", SL_COL_NUMERIC}, {"real", SL_COL_FLOAT4},
        {"double precision", SL_COL_FLOAT8}, {"boolean", SL_COL_BOOL},
        {"timestamptz", SL_COL_TIMESTAMPTZ}, {"timestamp", SL_COL_TIMESTAMP},
        {"date", SL_COL_DATE},       {"time", SL_COL_TIME},       {"uuid", SL_COL_UUID},
        {"json", SL_COL_JSON},       {"jsonb", SL_COL_JSONB},     {"bytea", SL_COL_BYTEA},
        {"array", SL_COL_ARRAY},
    };
    *elem = SL_COL_OTHER;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].name, t))
            return map[i].type;
    return SL_COL_TEXT;
}

static bool is_int(sl_coltype t) { return t == SL_COL_INT2 || t == SL_COL_INT4 || t == SL_COL_INT8; }
static bool is_num(sl_coltype t)
{
    return is_int(t) || t == SL_COL_NUMERIC || t == SL_COL_FLOAT4 || t == SL_COL_FLOAT8;
}
static bool is_time(sl_coltype t)
{
    return t == SL_COL_TIMESTAMPTZ || t == SL_COL_TIMESTAMP || t == SL_COL_DATE;
}

/* Can values of field type @f go into a column of type @c?  Text-like and
 * JSON columns take anything; otherwise the families must agree. */
static bool compatible(sl_coltype f, sl_coltype c)
{
    if (c == SL_COL_TEXT || c == SL_COL_OTHER || c == SL_COL_JSON || c == SL_COL_JSONB ||
        c == SL_COL_OBJECT)
        return true;
    if (f == c)
        return true;
    if (is_num(c))
        return is_num(f);
    if (is_time(c))
        return is_time(f);
    if (c == SL_COL_UUID || c == SL_COL_BYTEA)
        return f == SL_COL_TEXT;
    if (c == SL_COL_ARRAY)
        return f == SL_COL_ARRAY || f == SL_COL_JSONB || f == SL_COL_JSON;
    return false;
}

/* Per thread: (table, registry schema id) pairs already found in sync.
 * Changes without a schema id (connect-json) are checked every time. */
#define SEEN 16
static _Thread_local struct {
    const sl_table *table;
    size_t ncols;
    int schema_id;
    size_t nfields;
} seen[SEEN];
static _Thread_local unsigned seen_next;

static bool already_seen(const sl_table *t, const sl_change *c)
{
    if (c->schema_id < 0)
        return false;
    for (unsigned i = 0; i < SEEN; i++)
        if (seen[i].table == t && seen[i].schema_id == c->schema_id && seen[i].ncols == t->ncols &&
            seen[i].nfields == json_array_size(c->fields))
            return true;
    return false;
}

static int create(sl_sink *sink, const sl_route_conf *route, const char *schema, const char *name,
                  const sl_change *c, sl_error *err)
{
    if (!sink->ops->create_table)
        return sl_error_set(err, SL_ERR_FATAL, "%s: auto_create: target %s cannot create tables",
                            route->name, sink->conf->name);
    sl_table def = {0};
    def.schema = (char *)schema;
    def.name = (char *)name;
    sl_strbuf q = SL_STRBUF_INIT;
    sl_sql_qname(&q, schema, name); /* quoted "schema"."name", as sinks expect in qname */
    def.qname = q.data;
    size_t n = json_array_size(c->fields);
    def.cols = sl_xcalloc(n ? n : 1, sizeof(sl_column));
    def.key = sl_xcalloc(n ? n : 1, sizeof(size_t));
    json_t *f;
    size_t i;
    int rc = 0;
    json_array_foreach(c->fields, i, f) {
        const char *fname = fstr(f, "name");
        bool dup = false;
        for (size_t k = 0; k < def.ncols; k++)
            dup |= !strcmp(def.cols[k].name, fname);
        if (dup || !*fname)
            continue;
        char buf[96];
        sl_column *col = &def.cols[def.ncols++];
        col->name = (char *)fname;
        col->type_name = sl_xstrdup(sink->ops->column_type(f, buf, sizeof(buf)));
        col->type = sluice_coltype(fstr(f, "type"), &col->elem);
    }
    /* primary key: the route's key, else the key schema's fields */
    if (route->nkey) {
        for (size_t k = 0; k < route->nkey && rc == 0; k++) {
            long idx = sl_table_find(&def, route->key[k]);
            if (idx < 0)
                rc = sl_error_set(err, SL_ERR_FATAL,
                                  "%s: auto_create %s.%s: key column \"%s\" is not a field of schema id %d",
                                  route->name, schema, name, route->key[k], c->schema_id);
            else
                def.key[def.nkey++] = (size_t)idx;
        }
    } else {
        json_array_foreach(c->fields, i, f) {
            if (json_is_true(json_object_get(f, "key"))) {
                long idx = sl_table_find(&def, fstr(f, "name"));
                if (idx >= 0)
                    def.key[def.nkey++] = (size_t)idx;
            }
        }
        if (def.nkey == 0 && route->mode == SL_MODE_UPSERT)
            rc = sl_error_set(err, SL_ERR_FATAL,
                              "%s: auto_create %s.%s: no primary key: set the route's key, or use a record key with a schema",
                              route->name, schema, name);
    }
    for (size_t k = 0; k < def.nkey; k++) {
        def.cols[def.key[k]].not_null = true;
        def.cols[def.key[k]].in_key = true;
    }
    if (rc == 0) {
        rc = sink->ops->create_table(sink, &def, err);
        if (rc == 0) {
            sl_strbuf cols = SL_STRBUF_INIT;
            for (size_t k = 0; k < def.ncols; k++)
                sl_strbuf_printf(&cols, "%s%s %s", k ? ", " : "", def.cols[k].name, def.cols[k].type_name);
            log_info(sink->ctx, "auto_create: created table %s (%s) from schema id %d", def.qname,
                     cols.data ? cols.data : "", c->schema_id);
            sl_strbuf_free(&cols);
        }
    }
    for (size_t k = 0; k < def.ncols; k++)
        free(def.cols[k].type_name);
    free(def.cols);
    free(def.key);
    sl_strbuf_free(&q);
    return rc;
}

/* Tables created per route in this process (auto_create_max), and the
 * route's auto_create_allow compiled once.  Routes are few: a short list. */
static pthread_mutex_t created_lock = PTHREAD_MUTEX_INITIALIZER;
static struct created {
    const sl_route_conf *route;
    int64_t n;
    regex_t allow;
    bool has_allow;
} created[256];
static size_t ncreated;

static struct created *created_for(const sl_route_conf *route)
{
    for (size_t i = 0; i < ncreated; i++)
        if (created[i].route == route)
            return &created[i];
    if (ncreated == sizeof(created) / sizeof(created[0]))
        return NULL;
    struct created *e = &created[ncreated++];
    e->route = route;
    e->has_allow = route->auto_create_allow &&
                   regcomp(&e->allow, route->auto_create_allow, REG_EXTENDED | REG_NOSUB) == 0;
    return e;
}

/* Table names can come from data (${source.table}): only those the route
 * allows, and no more than its cap, are created; others are the record's fault. */
static int create_allowed(const sl_route_conf *route, const char *schema, const char *name, sl_error *err)
{
    pthread_mutex_lock(&created_lock);
    struct created *e = created_for(route);
    int rc = 0;
    sl_strbuf full = SL_STRBUF_INIT;
    sl_strbuf_printf(&full, "%s.%s", schema, name);
    if (!e)
        rc = sl_error_set(err, SL_ERR_FATAL, "%s: auto_create: too many routes", route->name);
    else if (e->has_allow && regexec(&e->allow, full.data, 0, NULL, 0) != 0)
        rc = sl_error_set(err, SL_ERR_DATA, "%s: auto_create: table %s does not match auto_create_allow '%s'",
                          route->name, full.data, route->auto_create_allow);
    else if (e->n >= route->auto_create_max)
        rc = sl_error_set(err, SL_ERR_DATA,
                          "%s: auto_create: %lld tables created already (auto_create_max); not creating %s",
                          route->name, (long long)e->n, full.data);
    pthread_mutex_unlock(&created_lock);
    sl_strbuf_free(&full);
    return rc;
}

static void count_created(const sl_route_conf *route)
{
    pthread_mutex_lock(&created_lock);
    struct created *e = created_for(route);
    if (e)
        e->n++;
    pthread_mutex_unlock(&created_lock);
}

int sl_schema_sync(sl_sink *sink, const sl_route_conf *route, const char *schema,
                   const char *name, const sl_table *table, const sl_change *c, int *changed,
                   sl_error *err)
{
    *changed = 0;
    if (!c->fields || !json_is_array(c->fields))
        return 0;
    /* a database that cuts longer names (the sink's max_name_len): a
     * column made from a longer field name would never be found under the
     * field's name again, and every record would run ALTER TABLE (an
     * exclusive lock) once more */
    json_t *lf;
    size_t li;
    size_t max = sink->ops->max_name_len;
    json_array_foreach(c->fields, li, lf) {
        const char *fname = fstr(lf, "name");
        if (max && strlen(fname) > max &&
            (table ? route->auto_evolve && sl_table_find(table, fname) < 0 : route->auto_create))
            return sl_error_set(err, SL_ERR_DATA,
                                "%s: field \"%.40s...\" has a %zu-byte name; %s names are at most %zu bytes: "
                                "rename the field, or create the column yourself and map it with columns:",
                                route->name, fname, strlen(fname), sink->ops->title, max);
    }
    if (!table) {
        if (!route->auto_create)
            return 0;
        if (create_allowed(route, schema, name, err))
            return -1;
        if (create(sink, route, schema, name, c, err))
            return -1;
        count_created(route);
        *changed = 1;
        return 0;
    }
    if (already_seen(table, c))
        return 0;
    json_t *f;
    size_t i;
    json_array_foreach(c->fields, i, f) {
        const char *fname = fstr(f, "name");
        long idx = sl_table_find(table, fname);
        char buf[96];
        const char *want = sink->ops->column_type(f, buf, sizeof(buf));
        if (idx >= 0) {
            const sl_column *col = &table->cols[idx];
            sl_coltype elem;
            sl_coltype ft = sluice_coltype(fstr(f, "type"), &elem);
            if (!strcmp(fstr(f, "type"), "array") && col->type == SL_COL_ARRAY) {
                sl_coltype ie = sluice_coltype(*fstr(f, "items") ? fstr(f, "items") : "text", &elem);
                if (compatible(ie, col->elem))
                    continue;
            } else if (compatible(ft, col->type)) {
                continue;
            }
            return sl_error_set(err, SL_ERR_FATAL,
                                "%s: field \"%s\" of schema id %d is %s (%s) but column %s.\"%s\" is %s: "
                                "sluice never changes a column's type; alter the table or the schema",
                                route->name, fname, c->schema_id, fstr(f, "source_type"), want,
                                table->qname, col->name, col->type_name ? col->type_name : "?");
        }
        if (!route->auto_evolve)
            continue; /* the route's rules for unmapped fields apply */
        if (!sink->ops->add_column)
            return sl_error_set(err, SL_ERR_FATAL, "%s: auto_evolve: target %s cannot add columns",
                                route->name, sink->conf->name);
        sl_column col = {.name = (char *)fname, .type_name = (char *)want};
        col.type = sluice_coltype(fstr(f, "type"), &col.elem);
        if (sink->ops->add_column(sink, table, &col, err))
            return -1;
        log_info(sink->ctx,
                 "auto_evolve: added nullable column \"%s\" %s to %s for schema id %d "
                 "(columns are only added: never dropped, renamed or narrowed)",
                 fname, want, table->qname, c->schema_id);
        *changed = 1;
    }
    if (!*changed) {
        seen[seen_next % SEEN].table = table;
        seen[seen_next % SEEN].ncols = table->ncols;
        seen[seen_next % SEEN].schema_id = c->schema_id;
        seen[seen_next % SEEN].nfields = json_array_size(c->fields);
        seen_next++;
    }
    return 0;
}
