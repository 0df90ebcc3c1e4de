/* table.c - table metadata helpers and type classification. */
#include "sluice/table.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/sql.h"
#include "sluice/strbuf.h"

sl_table *sl_table_new(const char *schema, const char *name, size_t cap)
{
    sl_table *t = sl_xcalloc(1, sizeof(*t));
    t->schema = sl_xstrdup(schema);
    t->name = sl_xstrdup(name);
    sl_strbuf q = SL_STRBUF_INIT;
    sl_sql_qname(&q, schema, name);
    t->qname = sl_strbuf_steal(&q);
    t->cols = sl_xcalloc(cap ? cap : 1, sizeof(sl_column));
    t->key = sl_xcalloc(cap ? cap : 1, sizeof(size_t));
    return t;
}

void sl_table_free(sl_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].type_name);
    }
    free(t->cols);
    free(t->key);
    free(t->schema);
    free(t->name);
    free(t->qname);
    free(t);
}

long sl_table_find(const sl_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return (long)i;
    return -1;
}

static const struct {
    const char *udt;
    sl_coltype type;
} pg_types[] = {
    {"text", SL_COL_TEXT},         {"varchar", SL_COL_TEXT},     {"bpchar", SL_COL_TEXT},
    {"name", SL_COL_TEXT},         {"citext", SL_COL_TEXT},      {"int2", SL_COL_INT2},
    {"int4", SL_COL_INT4},         {"int8", SL_COL_INT8},        {"numeric", SL_COL_NUMERIC},
    {"float4", SL_COL_FLOAT4},     {"float8", SL_COL_FLOAT8},    {"bool", SL_COL_BOOL},
    {"timestamptz", SL_COL_TIMESTAMPTZ}, {"timestamp", SL_COL_TIMESTAMP},
    {"date", SL_COL_DATE},         {"time", SL_COL_TIME},        {"timetz", SL_COL_TIME},
    {"uuid", SL_COL_UUID},         {"json", SL_COL_JSON},        {"jsonb", SL_COL_JSONB},
    {"bytea", SL_COL_BYTEA},
    /* CrateDB's information_schema names */
    {"string", SL_COL_TEXT},       {"integer", SL_COL_INT4},     {"bigint", SL_COL_INT8},
    {"smallint", SL_COL_INT2},     {"real", SL_COL_FLOAT4},      {"double precision", SL_COL_FLOAT8},
    {"boolean", SL_COL_BOOL},      {"object", SL_COL_OBJECT},    {"geo_point", SL_COL_GEO_POINT},
    {"timestamp with time zone", SL_COL_TIMESTAMPTZ},
    {"timestamp without time zone", SL_COL_TIMESTAMP},
};

sl_coltype sl_coltype_from_pg(const char *udt, sl_coltype *elem)
{
    if (elem)
        *elem = SL_COL_OTHER;
    if (udt[0] == '_') { /* PostgreSQL array types: _int4, _text, ... */
        if (elem)
            *elem = sl_coltype_from_pg(udt + 1, NULL);
        return SL_COL_ARRAY;
    }
    for (size_t i = 0; i < sizeof(pg_types) / sizeof(pg_types[0]); i++)
        if (!strcmp(pg_types[i].udt, udt))
            return pg_types[i].type;
    return SL_COL_OTHER;
}

const char *sl_coltype_name(sl_coltype t)
{
    static const char *const names[] = {
        [SL_COL_TEXT] = "text",         [SL_COL_INT2] = "smallint",
        [SL_COL_INT4] = "integer",      [SL_COL_INT8] = "bigint",
        [SL_COL_NUMERIC] = "numeric",   [SL_COL_FLOAT4] = "real",
        [SL_COL_FLOAT8] = "double precision", [SL_COL_BOOL] = "boolean",
        [SL_COL_TIMESTAMPTZ] = "timestamptz", [SL_COL_TIMESTAMP] = "timestamp",
        [SL_COL_DATE] = "date",         [SL_COL_TIME] = "time",
        [SL_COL_UUID] = "uuid",         [SL_COL_JSON] = "json",
        [SL_COL_JSONB] = "jsonb",       [SL_COL_BYTEA] = "bytea",
        [SL_COL_OBJECT] = "object",     [SL_COL_GEO_POINT] = "geo_point",
        [SL_COL_ARRAY] = "array",       [SL_COL_OTHER] = "other",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* One dot-separated part: "quoted""name" or bare; returns the end or NULL. */
static const char *split_part(const char *p, char **out)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    if (*p == '"') {
        p++;
        for (;;) {
            if (!*p) {
                sl_strbuf_free(&sb);
                return NULL;
            }
            if (*p == '"') {
                if (p[1] == '"') {
                    sl_strbuf_putc(&sb, '"');
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            sl_strbuf_putc(&sb, *p++);
        }
    } else {
        while (*p && *p != '.')
            sl_strbuf_putc(&sb, *p++);
    }
    if (sb.len == 0) {
        sl_strbuf_free(&sb);
        return NULL;
    }
    *out = sl_strbuf_steal(&sb);
    return p;
}

int sl_split_table_name(const char *q, const char *default_schema, char **schema, char **name)
{
    char *a = NULL, *b = NULL;
    const char *p = split_part(q, &a);
    if (!p)
        return -1;
    if (*p == '.') {
        p = split_part(p + 1, &b);
        if (!p || *p) {
            free(a);
            free(b);
            return -1;
        }
        *schema = a;
        *name = b;
        return 0;
    }
    if (*p) {
        free(a);
        return -1;
    }
    *schema = sl_xstrdup(default_schema);
    *name = a;
    return 0;
}
