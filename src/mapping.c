/* mapping.c - change -> row: column values found by name, JSON pointer or
 * envelope path, converted to the text form of each column's type. */
#include "sluice/mapping.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/textfmt.h"

int sl_mapping_init(sl_mapping *m, const sl_route_conf *route, const sl_table *table, sl_error *err)
{
    memset(m, 0, sizeof(*m));
    m->route = route;
    m->table = table;
    m->convert_cell = sl_format_lookup(route->format)->convert_cell;
    m->soft_delete_col = -1;
    m->pointer = sl_xcalloc(table->ncols ? table->ncols : 1, sizeof(char *));
    m->meta = sl_xcalloc(table->ncols ? table->ncols : 1, sizeof(char *));
    m->unmapped_seen = json_object();
    for (size_t i = 0; i < route->ncolumns; i++) {
        long c = sl_table_find(table, route->columns[i].key);
        if (c < 0) {
            sl_mapping_fini(m);
            return sl_error_set(err, SL_ERR_FATAL, "route '%s': columns: table %s has no column '%s'",
                                route->name, table->qname, route->columns[i].key);
        }
        const char *ptr = route->columns[i].value;
        if (ptr[0] != '/' && ptr[0] != '\0') {
            sl_mapping_fini(m);
            return sl_error_set(err, SL_ERR_FATAL,
                                "route '%s': columns.%s: '%s' is not a JSON pointer (it must start with /)",
                                route->name, route->columns[i].key, ptr);
        }
        m->pointer[c] = ptr;
    }
    for (size_t i = 0; i < route->nadd_columns; i++) {
        long c = sl_table_find(table, route->add_columns[i].key);
        if (c < 0) {
            sl_mapping_fini(m);
            return sl_error_set(err, SL_ERR_FATAL, "route '%s': add_columns: table %s has no column '%s'",
                                route->name, table->qname, route->add_columns[i].key);
        }
        m->meta[c] = route->add_columns[i].value;
    }
    if (route->append_key) {
        long c = sl_table_find(table, route->append_key);
        if (c < 0 || !table->cols[c].in_key || table->cols[c].type != SL_COL_TEXT) {
            sl_mapping_fini(m);
            return sl_error_set(err, SL_ERR_FATAL,
                                "route '%s': append_key: %s must be a TEXT column of the primary key of %s", route->name,
                                route->append_key, table->qname);
        }
        m->meta[c] = "kafka.coordinates";
    }
    if (route->delete_mode == SL_DELETE_SOFT) {
        m->soft_delete_col = sl_table_find(table, route->soft_delete_column);
        if (m->soft_delete_col < 0) {
            sl_mapping_fini(m);
            return sl_error_set(err, SL_ERR_FATAL,
                                "route '%s': delete_mode soft: table %s has no column '%s'",
                                route->name, table->qname, route->soft_delete_column);
        }
    }
    if (route->mode != SL_MODE_INSERT && table->nkey == 0) {
        sl_mapping_fini(m);
        return sl_error_set(err, SL_ERR_FATAL,
                            "route '%s': table %s has no primary key: set `key:` on the route, or use mode: insert",
                            route->name, table->qname);
    }
    return 0;
}

void sl_mapping_fini(sl_mapping *m)
{
    free(m->pointer);
    free(m->meta);
    json_decref(m->unmapped_seen);
    memset(m, 0, sizeof(*m));
}

/* RFC 6901 JSON pointer. */
json_t *sl_json_pointer(const json_t *root, const char *ptr)
{
    json_t *cur = (json_t *)root;
    const char *p = ptr;
    char tok[512];
    while (*p == '/' && cur) {
        p++;
        size_t n = 0;
        while (*p && *p != '/' && n < sizeof(tok) - 1) {
            if (p[0] == '~' && p[1] == '0') {
                tok[n++] = '~';
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                tok[n++] = '/';
                p += 2;
            } else {
                tok[n++] = *p++;
            }
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = (*tok && !*end) ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return *p ? NULL : cur;
}

/* Dotted path into the envelope ("source.ts_ms"). */
static json_t *meta_path(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
    return cur;
}

/* ---- time helpers ---- */

/* A fractional epoch number in @unit as microseconds (integers take
 * sl_fmt_integer_cell()). */
static int64_t epoch_to_us(const json_t *v, sl_epoch_unit unit, bool *ok)
{
    static const double mul[] = {[SL_EPOCH_S] = 1e6, [SL_EPOCH_MS] = 1e3, [SL_EPOCH_US] = 1};
    *ok = true;
    double d = json_real_value(v) * mul[unit];
    if (!isfinite(d) || fabs(d) > 9.2e18)
        return *ok = false, 0;
    return (int64_t)llround(d);
}

/* ---- numbers ---- */

static bool valid_numeric(const char *s)
{
    if (!strcasecmp(s, "NaN") || !strcasecmp(s, "Infinity") || !strcasecmp(s, "-Infinity") ||
        !strcasecmp(s, "+Infinity"))
        return true;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool any = false;
    while (isdigit((unsigned char)*p))
        p++, any = true;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, any = true;
    }
    if (!any)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

static int put_integer(const json_t *v, sl_coltype type, sl_strbuf *out, sl_error *err)
{
    static const int64_t lo[] = {[SL_COL_INT2] = -32768, [SL_COL_INT4] = INT32_MIN, [SL_COL_INT8] = INT64_MIN};
    static const int64_t hi[] = {[SL_COL_INT2] = 32767, [SL_COL_INT4] = INT32_MAX, [SL_COL_INT8] = INT64_MAX};
    int64_t x;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) > 9.2e18)
            return sl_error_set(err, SL_ERR_DATA, "%g is not an integer (column type %s)", d,
                                sl_coltype_name(type));
        x = (int64_t)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (!*s || *end || errno)
            return sl_error_set(err, SL_ERR_DATA, "\"%.64s\" is not an integer (column type %s)", s,
                                sl_coltype_name(type));
        x = ll;
    } else {
        return sl_error_set(err, SL_ERR_DATA, "a %s cannot be stored in a %s column",
                            json_is_boolean(v) ? "boolean" : json_is_object(v) ? "object" : "array",
                            sl_coltype_name(type));
    }
    if (x < lo[type] || x > hi[type])
        return sl_error_set(err, SL_ERR_DATA, "%" PRId64 " is out of range for a %s column", x,
                            sl_coltype_name(type));
    sl_fmt_int(out, x);
    return 0;
}

/* The shortest text that reads back as the same double: JSON 21.7 is stored
 * as 21.7 in a numeric or text column, not as 21.699999999999999.  (Digits
 * beyond a double's precision are lost when the JSON is parsed; send such
 * numbers as strings to keep them exactly.) */
static void put_double(sl_strbuf *out, double d)
{
    sl_fmt_double(out, d);
}

static int put_number(const json_t *v, sl_coltype type, sl_strbuf *out, sl_error *err)
{
    if (json_is_real(v)) {
        put_double(out, json_real_value(v));
        return 0;
    }
    if (json_is_string(v) && valid_numeric(json_string_value(v))) {
        sl_strbuf_puts(out, json_string_value(v));
        return 0;
    }
    if (json_is_string(v))
        return sl_error_set(err, SL_ERR_DATA, "\"%.64s\" is not a number (column type %s)",
                            json_string_value(v), sl_coltype_name(type));
    return sl_error_set(err, SL_ERR_DATA, "a %s cannot be stored in a %s column",
                        json_is_boolean(v) ? "boolean" : json_is_object(v) ? "object" : "array",
                        sl_coltype_name(type));
}

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static int put_json(const json_t *v, sl_strbuf *out, sl_error *err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return sl_error_set(err, SL_ERR_DATA, "value cannot be encoded as JSON");
    if (strstr(s, "\\u0000")) {
        free(s);
        return sl_error_set(err, SL_ERR_DATA, "JSON with a \\u0000 character cannot be stored in PostgreSQL");
    }
    sl_strbuf_puts(out, s);
    free(s);
    return 0;
}

static int put_array(const json_t *v, sl_coltype elem, sl_epoch_unit epoch, sl_strbuf *out, sl_error *err)
{
    if (!json_is_array(v))
        return sl_error_set(err, SL_ERR_DATA, "a %s cannot be stored in an array column", kind_of(v));
    sl_strbuf_putc(out, '{');
    sl_strbuf tmp = SL_STRBUF_INIT;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (i)
            sl_strbuf_putc(out, ',');
        if (json_is_null(e)) {
            sl_strbuf_puts(out, "NULL");
            continue;
        }
        if (json_is_array(e)) { /* multi-dimensional */
            if (put_array(e, elem, epoch, out, err)) {
                sl_strbuf_free(&tmp);
                return -1;
            }
            continue;
        }
        sl_strbuf_reset(&tmp);
        if (sl_convert_value(e, elem, SL_COL_OTHER, epoch, &tmp, err)) {
            sl_error_prefix(err, "array element %zu: ", i);
            sl_strbuf_free(&tmp);
            return -1;
        }
        sl_strbuf_putc(out, '"');
        for (size_t k = 0; k < tmp.len; k++) {
            if (tmp.data[k] == '"' || tmp.data[k] == '\\')
                sl_strbuf_putc(out, '\\');
            sl_strbuf_putc(out, tmp.data[k]);
        }
        sl_strbuf_putc(out, '"');
    }
    sl_strbuf_free(&tmp);
    sl_strbuf_putc(out, '}');
    return 0;
}

/* Why integer @x does not fit a @type column (SL_INTCELL_RANGE). */
static int integer_out_of_range(int64_t x, sl_coltype type, sl_error *err)
{
    switch (type) {
    case SL_COL_BOOL:
        return sl_error_set(err, SL_ERR_DATA, "a integer is not a boolean");
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
        return sl_error_set(err, SL_ERR_DATA, "epoch value out of range for a timestamp");
    case SL_COL_DATE:
        return sl_error_set(err, SL_ERR_DATA, "%" PRId64 " days is out of range for a date", x);
    case SL_COL_TIME:
        return sl_error_set(err, SL_ERR_DATA, "time of day out of range");
    default:
        return sl_error_set(err, SL_ERR_DATA, "%" PRId64 " is out of range for a %s column", x, sl_coltype_name(type));
    }
}

int sl_convert_value(const json_t *v, sl_coltype type, sl_coltype elem, sl_epoch_unit epoch,
                     sl_strbuf *out, sl_error *err)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s && strlen(s) != json_string_length(v) && type != SL_COL_JSON && type != SL_COL_JSONB &&
        type != SL_COL_OBJECT && type != SL_COL_BYTEA)
        return sl_error_set(err, SL_ERR_DATA, "string contains a NUL byte, which a %s column cannot hold",
                            sl_coltype_name(type));
    if (json_is_integer(v)) {
        /* the rule every format shares (textfmt.h); the other types' own
         * cases below say why they take no integer */
        int64_t x = json_integer_value(v);
        switch (sl_fmt_integer_cell(out, x, type, epoch)) {
        case SL_INTCELL_OK: return 0;
        case SL_INTCELL_RANGE: return integer_out_of_range(x, type, err);
        case SL_INTCELL_TYPE: break;
        }
    }
    switch (type) {
    case SL_COL_INT2:
    case SL_COL_INT4:
    case SL_COL_INT8:
        return put_integer(v, type, out, err);
    case SL_COL_NUMERIC:
    case SL_COL_FLOAT4:
    case SL_COL_FLOAT8:
        return put_number(v, type, out, err);
    case SL_COL_BOOL:
        if (json_is_boolean(v)) {
            sl_strbuf_puts(out, json_is_true(v) ? "t" : "f");
            return 0;
        }
        if (s) {
            static const char *const t[] = {"true", "t", "yes", "y", "on", "1"};
            static const char *const f[] = {"false", "f", "no", "n", "off", "0"};
            for (size_t i = 0; i < 6; i++) {
                if (!strcasecmp(s, t[i])) {
                    sl_strbuf_puts(out, "t");
                    return 0;
                }
                if (!strcasecmp(s, f[i])) {
                    sl_strbuf_puts(out, "f");
                    return 0;
                }
            }
        }
        return sl_error_set(err, SL_ERR_DATA, "%s%.64s%s is not a boolean", s ? "\"" : "a ",
                            s ? s : kind_of(v), s ? "\"" : "");
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
        if (json_is_number(v)) {
            bool ok;
            int64_t us = epoch_to_us(v, epoch, &ok);
            if (!ok)
                return sl_error_set(err, SL_ERR_DATA, "epoch value out of range for a timestamp");
            sl_fmt_timestamp_us(out, us, type == SL_COL_TIMESTAMPTZ);
            return 0;
        }
        if (s && sl_text_is_date(s, strlen(s))) {
            sl_strbuf_puts(out, s);
            return 0;
        }
        return sl_error_set(err, SL_ERR_DATA, "%s%.64s%s is not an ISO-8601 timestamp or epoch number",
                            s ? "\"" : "a ", s ? s : kind_of(v), s ? "\"" : "");
    case SL_COL_DATE:
        if (s && sl_text_is_date(s, strlen(s))) {
            sl_strbuf_puts(out, s);
            return 0;
        }
        return sl_error_set(err, SL_ERR_DATA, "%s%.64s%s is not a date (YYYY-MM-DD or days since 1970-01-01)",
                            s ? "\"" : "a ", s ? s : kind_of(v), s ? "\"" : "");
    case SL_COL_TIME:
        if (json_is_number(v)) {
            bool ok;
            int64_t us = epoch_to_us(v, epoch, &ok);
            if (!ok || us < 0 || us > 86400000000LL)
                return sl_error_set(err, SL_ERR_DATA, "time of day out of range");
            sl_fmt_time_us(out, us);
            return 0;
        }
        if (s && sl_text_is_time(s, strlen(s))) {
            sl_strbuf_puts(out, s);
            return 0;
        }
        return sl_error_set(err, SL_ERR_DATA, "%s%.64s%s is not a time of day", s ? "\"" : "a ",
                            s ? s : kind_of(v), s ? "\"" : "");
    case SL_COL_UUID:
        if (s && sl_text_is_uuid(s, strlen(s))) {
            sl_strbuf_puts(out, s);
            return 0;
        }
        return sl_error_set(err, SL_ERR_DATA, "%s%.64s%s is not a UUID", s ? "\"" : "a ",
                            s ? s : kind_of(v), s ? "\"" : "");
    case SL_COL_JSON:
    case SL_COL_JSONB:
    case SL_COL_OBJECT:
        return put_json(v, out, err);
    case SL_COL_GEO_POINT:
        if (json_is_array(v) || s)
            return put_json(v, out, err);
        return sl_error_set(err, SL_ERR_DATA, "a %s is not a geo point ([lon, lat])", kind_of(v));
    case SL_COL_BYTEA:
        if (!s)
            return sl_error_set(err, SL_ERR_DATA, "a %s cannot be stored in a bytea column", kind_of(v));
        if (s[0] == '\\' && s[1] == 'x') {
            for (const char *p = s + 2; *p; p++)
                if (!isxdigit((unsigned char)*p))
                    return sl_error_set(err, SL_ERR_DATA, "bad hex in bytea value");
            sl_strbuf_puts(out, s);
            return 0;
        }
        sl_fmt_hex(out, s, json_string_length(v));
        return 0;
    case SL_COL_ARRAY:
        return put_array(v, elem, epoch, out, err);
    case SL_COL_TEXT:
    case SL_COL_OTHER:
        if (s) {
            sl_strbuf_append(out, s, json_string_length(v));
            return 0;
        }
        if (json_is_real(v)) {
            put_double(out, json_real_value(v));
            return 0;
        }
        if (json_is_boolean(v)) {
            sl_strbuf_puts(out, json_is_true(v) ? "true" : "false");
            return 0;
        }
        return put_json(v, out, err);
    }
    return sl_error_set(err, SL_ERR_FATAL, "unsupported column type");
}

static json_t *kafka_meta(const sl_record *rec, const char *path, json_t **owned)
{
    if (!strcmp(path, "kafka.topic"))
        return *owned = json_string(rec->topic);
    if (!strcmp(path, "kafka.partition"))
        return *owned = json_integer(rec->partition);
    if (!strcmp(path, "kafka.offset"))
        return *owned = json_integer(rec->offset);
    if (!strcmp(path, "kafka.coordinates")) { /* append_key: where the record is, once for all */
        char buf[512];
        snprintf(buf, sizeof(buf), "%s/%" PRId32 "/%" PRId64, rec->topic, rec->partition, rec->offset);
        return *owned = json_string(buf);
    }
    if (!strcmp(path, "kafka.timestamp"))
        return *owned = rec->timestamp >= 0 ? json_integer(rec->timestamp) : json_null();
    return NULL;
}

static int set_cell(const sl_mapping *m, sl_rowbuilder *b, uint32_t i, const sl_column *col, const json_t *v,
                    sl_error *err)
{
    if (json_is_null(v)) {
        sl_rowbuilder_set_null(b, i);
        return 0;
    }
    sl_strbuf *sb = sl_rowbuilder_cell_begin(b, i);
    /* a value only the column's type explains, for formats that have such */
    int done = m->convert_cell ? m->convert_cell(col, v, sb, err) : 0;
    if (done < 0 || (done == 0 && sl_convert_value(v, col->type, col->elem, m->route->epoch_unit, sb, err))) {
        sl_error_prefix(err, "column \"%s\": ", col->name);
        sb->len = b->off[i];
        return -1;
    }
    sl_rowbuilder_cell_end(b, i);
    return 0;
}

int sl_map_cell(const sl_mapping *m, sl_rowbuilder *b, uint32_t i, const json_t *v, sl_error *err)
{
    return set_cell(m, b, i, &m->table->cols[i], v, err);
}

bool sl_map_json_text_column(const sl_column *col)
{
    return col->type == SL_COL_JSON || col->type == SL_COL_JSONB || col->type == SL_COL_OBJECT;
}

static void note_unmapped(sl_mapping *m, const sl_change *c, const sl_record *rec)
{
    const char *k;
    json_t *v;
    json_object_foreach(c->value, k, v) {
        if (sl_table_find(m->table, k) >= 0 || json_object_get(m->unmapped_seen, k))
            continue;
        if (json_object_size(m->unmapped_seen) < 1000)
            json_object_set_new(m->unmapped_seen, k, json_true());
        log_warn(m->route->name, "field \"%s\" (first seen at " SL_REC_FMT ") has no column in %s; ignored",
                 k, SL_REC_ARGS(rec), m->table->qname);
    }
}

int sl_map_change(sl_mapping *m, const sl_change *c, const sl_record *rec, sl_rowbuilder *b,
                  sl_error *err)
{
    const sl_table *t = m->table;
    const sl_route_conf *r = m->route;
    bool del = c->op == SL_OP_DELETE;
    sl_rowbuilder_start(b, (uint32_t)t->ncols);
    if (!del && json_is_object(c->value) && json_object_size(c->value) > 0)
        note_unmapped(m, c, rec);
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sl_column *col = &t->cols[i];
        if (col->generated)
            continue;
        if (del && !col->in_key)
            continue;
        json_t *owned = NULL;
        const json_t *v = NULL;
        if (m->meta[i]) {
            v = kafka_meta(rec, m->meta[i], &owned);
            if (!v)
                v = c->meta ? meta_path(c->meta, m->meta[i]) : NULL;
            if (!v)
                v = json_null();
        } else if (c->json_text && json_is_string(json_object_get(c->json_text, col->name)) &&
                   sl_map_json_text_column(col)) {
            const json_t *txt = json_object_get(c->json_text, col->name);
            sl_rowbuilder_set(b, i, json_string_value(txt), json_string_length(txt));
            continue;
        } else if (c->value) {
            v = m->pointer[i] ? sl_json_pointer(c->value, m->pointer[i]) : json_object_get(c->value, col->name);
        }
        if (!v && col->in_key && c->key) {
            if (json_is_object(c->key))
                v = json_object_get(c->key, col->name);
            else if (t->nkey == 1)
                v = c->key;
        }
        if (!v)
            continue; /* absent: default on insert, unchanged on update */
        int rc = set_cell(m, b, i, col, v, err);
        json_decref(owned);
        if (rc)
            return -1;
    }
    if (r->mode != SL_MODE_INSERT || del) {
        for (size_t k = 0; k < t->nkey; k++) {
            size_t i = t->key[k];
            if (t->cols[i].computed)
                continue; /* the database computes it; deletes go by the rest of the key */
            if (b->len[i] == SL_CELL_ABSENT)
                return sl_error_set(err, SL_ERR_DATA, "key column \"%s\" is missing from the %s and the record key",
                                    t->cols[i].name, del ? "delete" : "value");
            if (b->len[i] == SL_CELL_NULL)
                return sl_error_set(err, SL_ERR_DATA, "key column \"%s\" is null", t->cols[i].name);
        }
    }
    if (m->soft_delete_col >= 0) {
        uint32_t i = (uint32_t)m->soft_delete_col;
        sl_rowbuilder_set(b, i, del ? "t" : "f", 1);
    }
    return 0;
}

int sl_route_apply_key(const sl_route_conf *r, sl_table *t, sl_error *err)
{
    if (!r->nkey)
        return 0;
    for (size_t c = 0; c < t->ncols; c++)
        t->cols[c].in_key = false;
    t->nkey = 0;
    for (size_t k = 0; k < r->nkey; k++) {
        long c = sl_table_find(t, r->key[k]);
        if (c < 0)
            return sl_error_set(err, SL_ERR_FATAL, "route '%s': key column '%s' is not in table %s", r->name,
                                r->key[k], t->qname);
        t->cols[c].in_key = true;
        t->key[t->nkey++] = (size_t)c;
    }
    return 0;
}
