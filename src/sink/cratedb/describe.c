/* describe.c - a CrateDB table as sluice sees it, read from CrateDB's
 * information_schema through either transport: its columns and their types,
 * its primary key, which columns can never be updated (key, CLUSTERED BY,
 * PARTITIONED BY) and which the database computes itself (generated). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cratedb_int.h"
#include "sluice/log.h"
#include "sluice/sql.h"

static const struct {
    const char *name;
    sl_coltype type;
} crate_types[] = {
    /* CrateDB's data_type names (reference: "Data types"), their aliases,
     * and the PostgreSQL spellings information_schema uses there. */
    {"text", SL_COL_TEXT},           {"string", SL_COL_TEXT},
    {"character varying", SL_COL_TEXT}, {"varchar", SL_COL_TEXT},
    {"character", SL_COL_TEXT},      {"char", SL_COL_TEXT},
    {"smallint", SL_COL_INT2},       {"short", SL_COL_INT2},
    {"integer", SL_COL_INT4},        {"int", SL_COL_INT4},
    {"bigint", SL_COL_INT8},         {"long", SL_COL_INT8},
    {"real", SL_COL_FLOAT4},         {"float", SL_COL_FLOAT4},
    {"double precision", SL_COL_FLOAT8}, {"double", SL_COL_FLOAT8},
    {"numeric", SL_COL_NUMERIC},     {"boolean", SL_COL_BOOL},
    {"timestamp with time zone", SL_COL_TIMESTAMPTZ}, {"timestamptz", SL_COL_TIMESTAMPTZ},
    {"timestamp without time zone", SL_COL_TIMESTAMP}, {"timestamp", SL_COL_TIMESTAMP},
    {"date", SL_COL_DATE},           {"time with time zone", SL_COL_TIME},
    {"object", SL_COL_OBJECT},       {"json", SL_COL_JSON},
    {"jsonb", SL_COL_JSONB},         {"geo_point", SL_COL_GEO_POINT},
    {"geo_shape", SL_COL_GEO_POINT}, {"uuid", SL_COL_UUID},
    {"bytea", SL_COL_BYTEA},
};

static sl_coltype crate_type_name(const char *n, size_t len)
{
    for (size_t i = 0; i < sizeof(crate_types) / sizeof(crate_types[0]); i++)
        if (strlen(crate_types[i].name) == len && !strncasecmp(crate_types[i].name, n, len))
            return crate_types[i].type;
    /* "object(dynamic)" and friends */
    if (len >= 6 && !strncasecmp(n, "object", 6))
        return SL_COL_OBJECT;
    return SL_COL_OTHER;
}

sl_coltype crate_coltype(const char *data_type, const char *udt, const char *domain, sl_coltype *elem)
{
    sl_coltype t;
    *elem = SL_COL_OTHER;
    /* FLOAT_VECTOR(n): a fixed-length array of REAL (CrateDB's "Data types");
     * information_schema says "float_vector" (the stand-in: a domain of that name) */
    if ((domain && !strcasecmp(domain, "float_vector")) || (data_type && !strncasecmp(data_type, "float_vector", 12))) {
        *elem = SL_COL_FLOAT4;
        return SL_COL_ARRAY;
    }
    if (domain && *domain) {
        if (!strncasecmp(domain, "geo_", 4) || !strcasecmp(domain, "object"))
            return crate_type_name(domain, strlen(domain));
    }
    if (!data_type)
        return SL_COL_OTHER;
    if ((!strcmp(data_type, "ARRAY") || !strcmp(data_type, "USER-DEFINED")) && udt)
        return sl_coltype_from_pg(udt, elem);
    size_t len = strlen(data_type);
    if (len > 6 && !strcasecmp(data_type + len - 6, "_array")) {
        *elem = crate_type_name(data_type, len - 6);
        return SL_COL_ARRAY;
    }
    t = crate_type_name(data_type, len);
    return t;
}

/* ---- describe ---- */

static bool is_false(const char *v)
{
    return v && (!strcasecmp(v, "NO") || !strcasecmp(v, "false") || !strcmp(v, "f"));
}

/* "[\"a\", \"b\"]" (HTTP) or "{a,b}" (pgwire) or "a" -> does it name @col? */
static bool list_has(const char *list, const char *col)
{
    if (!list)
        return false;
    const char *p = list;
    size_t clen = strlen(col);
    while (*p) {
        while (*p && strchr("[]{}\", ", *p))
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != '"' && *p != ']' && *p != '}')
            p++;
        size_t n = (size_t)(p - start);
        while (n && start[n - 1] == ' ')
            n--;
        if (n == clen && !memcmp(start, col, n))
            return true;
        if (*p)
            p++;
    }
    return false;
}

/* Does the generation expression @expr of key column @c name a column
 * outside the key?  Then a delete by the other key columns cannot compute
 * it: CrateDB finds the row by a query, not by its primary key (the
 * optimizer derives a generated key or partition column from an equality
 * on the columns of its expression: reference "Generated columns",
 * partition pruning).  Unknown (@expr NULL): assume it does. */
static bool derived_outside_key(const sl_table *t, size_t c, const char *expr)
{
    if (!expr)
        return true;
    const char *p = expr;
    char name[256];
    while (*p) {
        size_t n = 0;
        if (*p == '\'') { /* a string literal, '' inside */
            for (p++; *p && !(*p == '\'' && p[1] != '\''); p++)
                if (*p == '\'')
                    p++;
            if (*p)
                p++;
            continue;
        }
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"')
                    p++;
                if (n < sizeof(name) - 1)
                    name[n++] = *p;
            }
            if (*p)
                p++;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            while (isalnum((unsigned char)*p) || *p == '_')
                if (n < sizeof(name) - 1)
                    name[n++] = *p++;
                else
                    p++;
        } else {
            p++;
            continue;
        }
        name[n] = '\0';
        long i = sl_table_find(t, name);
        if (i >= 0 && (size_t)i != c && !t->cols[i].in_key)
            return true;
    }
    return false;
}

static const char columns_sql[] =
    "SELECT column_name, data_type, udt_name, domain_name, is_nullable, column_default, is_generated,"
    " ordinal_position, generation_expression FROM information_schema.columns"
    " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position";
static const char pk_name_sql[] =
    "SELECT constraint_name FROM information_schema.table_constraints"
    " WHERE table_schema = $1 AND table_name = $2 AND constraint_type = 'PRIMARY KEY'";
static const char pk_cols_sql[] =
    "SELECT column_name FROM information_schema.key_column_usage"
    " WHERE table_schema = $1 AND table_name = $2 AND constraint_name = $3 ORDER BY ordinal_position";
/* CrateDB only: information_schema.tables has clustered_by and partitioned_by
 * (reference: "Information schema", tables). */
static const char routing_sql[] =
    "SELECT clustered_by, partitioned_by FROM information_schema.tables"
    " WHERE table_schema = $1 AND table_name = $2";

int crate_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err)
{
    const crate_transport *tp = CRATE(s)->tp;
    crate_result cols = {0}, pk = {0}, kc = {0}, rt = {0};
    const char *args[3] = {schema, name, NULL};
    *out = NULL;
    if (tp->query(s, columns_sql, args, 2, &cols, err))
        return -1;
    size_t n = 0;
    for (size_t r = 0; r < cols.nrows; r++) {
        const char *cn = crate_cell(&cols, r, 0);
        if (cn && !strchr(cn, '[') && crate_cell(&cols, r, 7))
            n++;
    }
    if (n == 0) {
        crate_result_free(&cols);
        return 0;
    }
    sl_table *t = sl_table_new(schema, name, n);
    char **gexpr = sl_xcalloc(n, sizeof(char *)); /* generation expressions, per column */
    for (size_t r = 0; r < cols.nrows; r++) {
        const char *cn = crate_cell(&cols, r, 0);
        /* sub-columns of objects ("obj['x']") are not columns of their own */
        if (!cn || strchr(cn, '[') || !crate_cell(&cols, r, 7))
            continue;
        sl_column *c = &t->cols[t->ncols++];
        const char *dt = crate_cell(&cols, r, 1), *udt = crate_cell(&cols, r, 2);
        const char *dom = crate_cell(&cols, r, 3);
        c->name = sl_xstrdup(cn);
        c->type_name = sl_xstrdup(dom ? dom : (dt && udt && (!strcmp(dt, "ARRAY") || !strcmp(dt, "USER-DEFINED")))
                                                  ? udt : dt ? dt : "text");
        c->type = crate_coltype(dt, udt, dom, &c->elem);
        c->not_null = is_false(crate_cell(&cols, r, 4));
        c->has_default = crate_cell(&cols, r, 5) != NULL;
        const char *gen = crate_cell(&cols, r, 6);
        c->generated = gen && !strcasecmp(gen, "ALWAYS");
        /* CrateDB computes a generated column from the written ones, in the
         * key too (reference: "Generated columns"; a partition column
         * generated from a timestamp must be part of the primary key) */
        c->computed = c->generated;
        gexpr[t->ncols - 1] = crate_cell(&cols, r, 8) ? sl_xstrdup(crate_cell(&cols, r, 8)) : NULL;
    }
    crate_result_free(&cols);

    int rc = tp->query(s, pk_name_sql, args, 2, &pk, err);
    if (!rc && pk.nrows > 0 && crate_cell(&pk, 0, 0)) {
        args[2] = crate_cell(&pk, 0, 0);
        rc = tp->query(s, pk_cols_sql, args, 3, &kc, err);
        for (size_t r = 0; !rc && r < kc.nrows; r++) {
            long i = crate_cell(&kc, r, 0) ? sl_table_find(t, crate_cell(&kc, r, 0)) : -1;
            /* what the server lists is bounded by the table's own columns,
             * each once: t->key has room for ncols entries */
            if (i < 0 || t->cols[i].in_key || t->nkey >= t->ncols)
                continue;
            t->cols[i].in_key = true;
            t->cols[i].no_update = true;
            t->key[t->nkey++] = (size_t)i;
        }
    }
    crate_result_free(&pk);
    crate_result_free(&kc);
    for (size_t i = 0; i < t->ncols; i++) {
        if (!rc && t->cols[i].in_key && t->cols[i].computed)
            t->cols[i].refresh_to_delete = derived_outside_key(t, i, gexpr[i]);
        free(gexpr[i]);
    }
    free(gexpr);
    if (rc) {
        sl_table_free(t);
        return -1;
    }
    sl_error rerr;
    if (tp->query(s, routing_sql, args, 2, &rt, &rerr) == 0) {
        for (size_t r = 0; r < rt.nrows && r < 1; r++) {
            for (size_t i = 0; i < t->ncols; i++) {
                if (list_has(crate_cell(&rt, r, 0), t->cols[i].name) ||
                    list_has(crate_cell(&rt, r, 1), t->cols[i].name)) {
                    t->cols[i].no_update = true;
                    log_debug(s->ctx, "%s: column \"%s\" routes or partitions rows: never updated",
                              t->qname, t->cols[i].name);
                }
            }
        }
        crate_result_free(&rt);
    } else {
        /* a server without those columns (PostgreSQL) */
        log_debug(s->ctx, "%s: no clustered_by/partitioned_by: %s", t->qname, rerr.msg);
        crate_result_free(&rt);
        if (rerr.kind == SL_ERR_RETRY) {
            *err = rerr;
            sl_table_free(t);
            return -1;
        }
    }
    *out = t;
    return 0;
}
