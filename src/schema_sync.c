/* schema_sync.c - auto_create and auto_evolve: the table follows the
 * schema of the records (sl_change.fields), by adding columns and (widen)
 * widening them.  DDL goes
 * through the sink's create_table/add_column operations, which use
 * IF NOT EXISTS so that two workers evolving one table both succeed. */
#include "sluice/schema_sync.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
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

static int int_rank(sl_coltype t) { return t == SL_COL_INT2 ? 1 : t == SL_COL_INT4 ? 2 : t == SL_COL_INT8 ? 3 : 0; }

/* "numeric(12,2)" -> 12, 2; "numeric" (unconstrained) -> false */
static bool numeric_typmod(const char *type_name, int *p, int *s)
{
    *s = 0;
    return sscanf(type_name, "numeric(%d,%d)", p, s) >= 1;
}

/* "character varying(20)" (PostgreSQL's format_type), "varchar(20)" -> 20; else 0 */
static int varchar_len(const char *type_name)
{
    int n = 0;
    if (sscanf(type_name, "character varying(%d)", &n) == 1 || sscanf(type_name, "varchar(%d)", &n) == 1)
        return n;
    return 0;
}

/* PostgreSQL's longest varchar (10485760); a longer declared length is text */
#define VARCHAR_MAX 10485760

/* auto_evolve: widen - what column @col needs to hold field @f: *@type the
 * wider type (or NULL), *@drop_nn NOT NULL dropped.  -1 with @err: the
 * field's type is of another kind, or narrower in a way no widening
 * serves (a decimal's scale changed): sluice does not rewrite values. */
static int widen_plan(const sl_route_conf *route, const sl_table *table, const sl_column *col, const json_t *f,
                      const char *want, int schema_id, char *type, size_t tlen, bool *drop_nn, sl_error *err)
{
    sl_coltype elem;
    sl_coltype ft = sluice_coltype(fstr(f, "type"), &elem), ct = col->type;
    const char *ctn = col->type_name ? col->type_name : "?";
    *type = 0;
    *drop_nn = col->not_null && !col->in_key && json_is_true(json_object_get(f, "optional"));
    const char *why = NULL;
    if (int_rank(ct) && is_num(ft) && !int_rank(ft))
        why = "a fraction cannot go into an integer column";
    else if (int_rank(ct) && int_rank(ft) > int_rank(ct))
        snprintf(type, tlen, "%s", want);
    else if ((ct == SL_COL_FLOAT4 || ct == SL_COL_FLOAT8) && ft == SL_COL_NUMERIC)
        why = "a decimal would be rounded in a floating-point column";
    else if (ct == SL_COL_FLOAT4 && ft == SL_COL_FLOAT8)
        snprintf(type, tlen, "%s", want);
    else if (ct == SL_COL_NUMERIC && (ft == SL_COL_FLOAT4 || ft == SL_COL_FLOAT8))
        why = "a floating-point value has no fixed scale";
    else if (ct == SL_COL_NUMERIC && ft == SL_COL_NUMERIC) {
        int cp, cs;
        json_t *jp = json_object_get(f, "precision"), *js = json_object_get(f, "scale");
        if (numeric_typmod(ctn, &cp, &cs) && json_is_integer(jp)) {
            int fp = (int)json_integer_value(jp), fs = (int)json_integer_value(js);
            if (fs == cs && fp > cp)
                snprintf(type, tlen, "%s", want);
            else if (fs > cs || fp - fs > cp - cs)
                why = "a decimal's scale changed (every stored value would be rewritten)";
        }
    } else if (ct == SL_COL_TEXT && ft == SL_COL_TEXT && varchar_len(ctn)) {
        json_t *jl = json_object_get(f, "length");
        if (json_is_integer(jl) && json_integer_value(jl) > varchar_len(ctn))
            snprintf(type, tlen, json_integer_value(jl) > VARCHAR_MAX ? "text" : "varchar(%d)",
                     (int)json_integer_value(jl));
    }
    if (why)
        return sl_error_set(err, SL_ERR_FATAL,
                            "%s: auto_evolve: field \"%s\" of schema id %d is %s (%s) but column %s.\"%s\" is %s: "
                            "%s; sluice widens a column but never narrows it or changes its kind: alter the "
                            "table or the schema",
                            route->name, fstr(f, "name"), schema_id, fstr(f, "source_type"), want, table->qname,
                            col->name, ctn, why);
    return 0;
}

static int widen(sl_sink *sink, const sl_route_conf *route, const sl_table *table, const sl_column *col,
                 const json_t *f, const char *want, int schema_id, int *changed, sl_error *err)
{
    char type[96];
    bool drop_nn;
    if (widen_plan(route, table, col, f, want, schema_id, type, sizeof(type), &drop_nn, err))
        return -1;
    if (!*type && !drop_nn)
        return 0;
    const char *ctn = col->type_name ? col->type_name : "?";
    if (!sink->ops->alter_column)
        return sl_error_set(err, SL_ERR_FATAL,
                            "%s: auto_evolve: field \"%s\" of schema id %d is %s (%s%s) but column %s.\"%s\" is "
                            "%s%s: %s cannot change a column's type or drop its NOT NULL (its ALTER TABLE has no "
                            "ALTER COLUMN): alter the table yourself (a new table, copied) or keep the schema",
                            route->name, fstr(f, "name"), schema_id, fstr(f, "source_type"), want,
                            drop_nn ? ", optional" : "", table->qname, col->name, ctn,
                            col->not_null ? " NOT NULL" : "", sink->ops->title);
    sl_strbuf ddl = SL_STRBUF_INIT;
    int rc = sink->ops->alter_column(sink, table, col, *type ? type : NULL, drop_nn, &ddl, err);
    if (rc == 0 && ddl.len)
        log_info(sink->ctx, "auto_evolve: widened column \"%s\" of %s from %s%s to %s%s for schema id %d: %s",
                 col->name, table->qname, ctn, col->not_null ? " NOT NULL" : "", *type ? type : ctn,
                 col->not_null && !drop_nn ? " NOT NULL" : "", schema_id, ddl.data);
    else if (rc == 0)
        log_info(sink->ctx, "auto_evolve: column \"%s\" of %s changed meanwhile; reading the table again",
                 col->name, table->qname);
    sl_strbuf_free(&ddl);
    if (rc == 0)
        *changed = 1;
    return rc;
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
        if (def.nkey == 0 && route->mode != SL_MODE_INSERT)
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
                if (route->auto_evolve >= SL_EVOLVE_WIDEN &&
                    widen(sink, route, table, col, f, want, c->schema_id, changed, err))
                    return -1;
                continue;
            }
            return sl_error_set(err, SL_ERR_FATAL,
                                "%s: field \"%s\" of schema id %d is %s (%s) but column %s.\"%s\" is %s: "
                                "sluice never changes a column's kind; alter the table or the schema",
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
