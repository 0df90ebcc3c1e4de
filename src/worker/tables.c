/* tables.c - the tables a worker writes: route templates expanded per
 * record (${topic}, ${source.table}), each table described (and with
 * auto_create/auto_evolve shaped) on first use and again when its records'
 * schema moves on, with its mapping and batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/schema_sync.h"
#include "sluice/strbuf.h"
#include "sluice/transform.h"
#include "worker_int.h"

/* The value of ${@name} for one record, or NULL. */
static const char *template_value(const char *name, const char *topic, const json_t *meta, char *num, size_t numlen)
{
    if (!strcmp(name, "topic"))
        return topic;
    char path[256];
    snprintf(path, sizeof(path), "%s", name);
    const json_t *cur = meta;
    char *save = NULL;
    for (char *tok = strtok_r(path, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
    if (json_is_string(cur))
        return json_string_value(cur);
    if (json_is_integer(cur)) {
        snprintf(num, numlen, "%lld", (long long)json_integer_value(cur));
        return num;
    }
    return NULL;
}

/* One name part of the expansion: @text holds it as written (literal
 * quotes included), @quote says a substituted value needs the whole part
 * quoted, @literal_quotes that the template quoted some of it itself. */
static int put_part(sl_strbuf *out, const sl_strbuf *text, bool quote, bool literal_quotes, const char *tmpl,
                    sl_error *err)
{
    if (!quote) {
        sl_strbuf_append(out, text->data ? text->data : "", text->len);
        return 0;
    }
    if (literal_quotes)
        return sl_error_set(err, SL_ERR_DATA,
                            "table template '%s': a value with '.' or '\"' next to a quoted part of the template", tmpl);
    sl_strbuf_putc(out, '"');
    for (size_t i = 0; i < text->len; i++) {
        if (text->data[i] == '"')
            sl_strbuf_putc(out, '"');
        sl_strbuf_putc(out, text->data[i]);
    }
    sl_strbuf_putc(out, '"');
    return 0;
}

char *sl_expand_table(const char *tmpl, const struct sl_name_rules *rules, const char *topic, const json_t *meta,
                      sl_error *err)
{
    sl_strbuf out = SL_STRBUF_INIT, part = SL_STRBUF_INIT, ruled = SL_STRBUF_INIT;
    bool quote = false, literal_quotes = false, in_quotes = false;
    int rc = 0;
    for (const char *s = tmpl; *s && !rc;) {
        if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s, '}');
            char name[256], num[32];
            size_t len = end ? (size_t)(end - s - 2) : 0;
            if (!end || len == 0 || len >= sizeof(name)) {
                rc = sl_error_set(err, SL_ERR_FATAL, "bad template in table '%s'", tmpl);
                break;
            }
            memcpy(name, s + 2, len);
            name[len] = '\0';
            const char *val = template_value(name, topic, meta, num, sizeof(num));
            if (!val || !*val) {
                rc = sl_error_set(err, SL_ERR_DATA, "table template '%s': ${%s} has no value in this record", tmpl,
                                  name);
                break;
            }
            if (rules) { /* the route's name_* rules (src/transform/naming.c) */
                if ((rc = sl_name_rules_apply(rules, val, &ruled, err)))
                    break;
                val = ruled.data;
            }
            for (const char *v = val; *v; v++) {
                if (in_quotes && *v == '"')
                    sl_strbuf_putc(&part, '"'); /* inside the template's own quotes */
                sl_strbuf_putc(&part, *v);
            }
            /* a value is one name part, whole: its dots and quotes never split it */
            if (!in_quotes && strpbrk(val, ".\""))
                quote = true;
            s = end + 1;
            continue;
        }
        if (*s == '"') {
            in_quotes = !in_quotes;
            literal_quotes = true;
        }
        if (*s == '.' && !in_quotes) {
            rc = put_part(&out, &part, quote, literal_quotes, tmpl, err);
            sl_strbuf_putc(&out, '.');
            sl_strbuf_reset(&part);
            quote = literal_quotes = false;
            s++;
            continue;
        }
        sl_strbuf_putc(&part, *s++);
    }
    if (!rc)
        rc = put_part(&out, &part, quote, literal_quotes, tmpl, err);
    sl_strbuf_free(&part);
    sl_strbuf_free(&ruled);
    if (rc) {
        sl_strbuf_free(&out);
        return NULL;
    }
    return sl_strbuf_steal(&out);
}

void sl_tentry_fini(sl_tentry *te)
{
    sl_batch_free(te->batch);
    sl_batch_free(te->spare);
    te->spare = NULL;
    sl_cells_free(te->direct);
    te->direct = NULL;
    sl_mapping_fini(&te->map);
    sl_table_free(te->table);
    free(te->name);
    json_decref(te->rechecked);
    te->batch = NULL;
    te->table = NULL;
    te->rechecked = NULL;
}

/* Describe (and with auto_create/auto_evolve, shape) the table.  A target
 * that cannot be reached is not waited for here: the error (SL_ERR_RETRY)
 * goes back with the record, which is read again after a backoff with the
 * partitions paused and the group served (worker.c, wait_for_dependency()),
 * as for any dependency that is down.  Waiting here would serve nothing:
 * no statistics, no rebalance (a member joining would wait for this one),
 * and past max.poll.interval.ms librdkafka leaves the group. */
static int load_table(sl_worker *w, sl_tentry *te, const sl_change *c, sl_error *err)
{
    sl_sink *s = w->sinks[te->target];
    char *schema = NULL, *name = NULL;
    /* a name that comes from the record (a template) is the record's fault */
    sl_errkind named_by_data = strstr(te->route->table, "${") ? SL_ERR_DATA : SL_ERR_FATAL;
    if (sl_split_table_name(te->name, s->conf->schema, &schema, &name))
        return sl_error_set(err, named_by_data, "route '%s': '%s' is not a valid table name", te->route->name,
                            te->name);
    sl_worker_claim_sink(w, te->target);
    sl_table *t = NULL;
    int rc = s->ops->describe(s, schema, name, &t, err);
    if (rc == 0 && (te->route->auto_create || te->route->auto_evolve) && c && c->fields) {
        int changed = 0;
        rc = sl_schema_sync(s, te->route, schema, name, t, c, &changed, err);
        if (rc == 0 && changed) {
            sl_table_free(t);
            t = NULL;
            rc = s->ops->describe(s, schema, name, &t, err);
        }
    }
    if (rc == 0 && !t) {
        w->table_absent = true;
        rc = sl_error_set(err, named_by_data, "route '%s': table %s.%s does not exist%s", te->route->name, schema,
                          name, te->route->auto_create ? " (auto_create needs records with a schema)" : "");
    }
    if (rc == 0 && sl_route_apply_key(te->route, t, err))
        rc = -1;
    if (rc == 0 && sl_mapping_init(&te->map, te->route, t, err))
        rc = -1;
    if (rc == 0) {
        te->table = t;
        te->batch = sl_batch_new(te->route, t);
        te->direct = sl_cells_new(&te->map, w->decoders[te->route - w->cfg->routes].registry);
        te->last_schema_id = c ? c->schema_id : -1;
        te->last_schema_key = c && c->op == SL_OP_UPSERT ? c->schema_key : 0;
    } else {
        sl_table_free(t);
        if (err->kind == SL_ERR_RETRY) {
            sl_worker_target_up(w, te->target, err);
            log_warn(s->ctx, "reading table %s.%s failed: %s; the record is read again later", schema, name,
                     err->msg);
        }
    }
    free(schema);
    free(name);
    return rc;
}

/* A field the table has no column for, seen for the first time: the table
 * may have gained the column since it was read (a user's ALTER TABLE ahead of
 * a schemaless feed), so its catalog is read again, once per field name. */
static bool unknown_field(sl_tentry *te, const sl_change *c)
{
    if (c->op == SL_OP_DELETE || !json_is_object(c->value))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(c->value, k, v) {
        if (sl_table_find(te->table, k) >= 0)
            continue;
        if (!te->rechecked)
            te->rechecked = json_object();
        if (json_object_get(te->rechecked, k) || json_object_size(te->rechecked) >= 1000)
            continue;
        json_object_set_new(te->rechecked, k, json_true());
        log_info(te->route->name, "field \"%s\" has no column in %s: reading the table's columns again", k,
                 te->table->qname);
        return true;
    }
    return false;
}

static bool schema_check(sl_tentry *te, const sl_change *c)
{
    if (unknown_field(te, c))
        return true;
    if (!c->fields || !(te->route->auto_create || te->route->auto_evolve))
        return false;
    if (c->schema_id >= 0)
        return c->schema_id != te->last_schema_id;
    /* a kept schema new to the table may have widened a field's type
     * (only a registry id or a kept schema is checked as a whole: a schema
     * that comes with every record is checked for new fields alone) */
    if (c->schema_key && te->route->auto_evolve >= SL_EVOLVE_WIDEN)
        return true;
    size_t i;
    json_t *f;
    json_array_foreach(c->fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && sl_table_find(te->table, n) < 0)
            return true;
    }
    return false;
}

/* True when @c's schema may not fit the table as read.  A schema the
 * format keeps (schema_key) is checked with the first upsert that brings it
 * to the table, not with each of its records: its fields cannot change
 * under it.  (A delete carries no fields to check, so it does not count.) */
static bool schema_differs(sl_tentry *te, const sl_change *c)
{
    if (c->schema_key && c->schema_key == te->last_schema_key)
        return false;
    if (schema_check(te, c))
        return true;
    if (c->op == SL_OP_UPSERT)
        te->last_schema_key = c->schema_key;
    return false;
}

sl_tentry *sl_worker_table_for(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const sl_change *c,
                               sl_error *err)
{
    w->table_absent = false;
    /* a name without ${...} is its own expansion: no copy per record */
    char *name = NULL;
    const char *want = r->table;
    if (strstr(r->table, "${")) {
        if (!(name = sl_expand_table(r->table, r->name_rules, rec->topic, c->meta, err)))
            return NULL;
        want = name;
    }
    sl_tentry *te = NULL;
    for (size_t i = 0; i < w->ntables; i++)
        if (w->tables[i].route == r && !strcmp(w->tables[i].name, want)) {
            te = &w->tables[i];
            break;
        }
    if (te) {
        free(name);
        /* its last reload failed (a record whose schema could not be taken
         * went to on_error): read the table again for this record */
        if (!te->table)
            return load_table(w, te, c, err) ? NULL : te;
        if (!schema_differs(te, c))
            return te;
        /* the schema moved on: write what was built for the old shape
         * first.  That write serves the group while it is retried: the
         * caller looks its record's partition up again (record.c).  Given
         * up (a revoke, a fence), its rows are read again, and so is this
         * record. */
        int flushed = sl_worker_flush(w, true);
        if (flushed < 0)
            return sl_error_set(err, SL_ERR_FATAL, "the write before a schema change failed"), NULL;
        if (flushed > 0)
            return sl_error_set(err, SL_ERR_RETRY, "the write before a schema change was given up"), NULL;
        char *keep = te->name;
        json_t *rechecked = te->rechecked;
        te->name = NULL;
        te->rechecked = NULL;
        sl_tentry_fini(te);
        te->name = keep;
        te->rechecked = rechecked;
        if (load_table(w, te, c, err))
            return NULL;
        return te;
    }
    if (w->ntables == w->captables) {
        w->captables = w->captables ? w->captables * 2 : 8;
        /* entries are addressed by index, so moving them is safe, except
         * for what holds an entry's own address: a direct reader holds its
         * entry's mapping (&te->map), and is made again for the moved one
         * (it learns its schemas again from the general path) */
        w->tables = sl_xrealloc(w->tables, w->captables * sizeof(sl_tentry));
        for (size_t i = 0; i < w->ntables; i++) {
            sl_tentry *moved = &w->tables[i];
            if (!moved->direct)
                continue;
            sl_cells_free(moved->direct);
            moved->direct = sl_cells_new(&moved->map, w->decoders[moved->route - w->cfg->routes].registry);
        }
    }
    te = &w->tables[w->ntables];
    memset(te, 0, sizeof(*te));
    te->route = r;
    te->name = name ? name : sl_xstrdup(r->table);
    te->target = sl_worker_target_index(w->cfg, r->target);
    if (load_table(w, te, c, err)) {
        free(te->name);
        return NULL;
    }
    w->ntables++;
    if (w->ntables > 10000)
        log_warn(w->ctx, "more than 10000 tables in use; every table keeps a batch and its catalog entry");
    return te;
}

