/* table.h - a target table as read from the database catalog once, at first
 * use: its columns, their types and its key. */
#ifndef SLUICE_TABLE_H
#define SLUICE_TABLE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sl_coltype {
    SL_COL_TEXT = 0,  /* text, varchar, char, and anything unknown (passed as text) */
    SL_COL_INT2,
    SL_COL_INT4,
    SL_COL_INT8,
    SL_COL_NUMERIC,
    SL_COL_FLOAT4,
    SL_COL_FLOAT8,
    SL_COL_BOOL,
    SL_COL_TIMESTAMPTZ,
    SL_COL_TIMESTAMP,
    SL_COL_DATE,
    SL_COL_TIME,
    SL_COL_UUID,
    SL_COL_JSON,
    SL_COL_JSONB,
    SL_COL_BYTEA,
    SL_COL_OBJECT,    /* CrateDB OBJECT */
    SL_COL_GEO_POINT, /* CrateDB GEO_POINT */
    SL_COL_ARRAY,     /* element type in sl_column.elem */
    SL_COL_OTHER,     /* passed as text; PostgreSQL's input function decides */
} sl_coltype;

typedef struct sl_column {
    char *name;
    char *type_name;  /* as the database spells it, e.g. "numeric(12,2)", "integer[]" */
    sl_coltype type;
    sl_coltype elem;  /* for SL_COL_ARRAY */
    bool not_null;
    bool has_default;
    bool generated;   /* generated/identity-always columns are never written */
    bool computed;    /* CrateDB: a generated column the database computes from the written
                       * ones: never required from a record, even in the key; deletes
                       * match on the other key columns */
    bool refresh_to_delete; /* CrateDB: a computed key column derived from a column outside
                             * the key, so a delete by the rest of the key is a query that
                             * sees only refreshed rows */
    bool in_key;      /* part of the conflict key */
    bool no_update;   /* CrateDB: key, CLUSTERED BY or PARTITIONED BY: never in a SET list */
} sl_column;

typedef struct sl_table {
    char *schema;     /* unquoted */
    char *name;       /* unquoted */
    char *qname;      /* quoted, schema-qualified: "public"."orders" */
    sl_column *cols;
    size_t ncols;
    size_t *key;      /* indexes into cols of the conflict key, in key order */
    size_t nkey;
} sl_table;

/* sl_table_new() - an empty table @schema.@name (copied, and quoted into
 * qname) with room for @cap columns and key entries. */
sl_table *sl_table_new(const char *schema, const char *name, size_t cap);
void sl_table_free(sl_table *t);
/* sl_table_find() - index of column @name, or -1. */
long sl_table_find(const sl_table *t, const char *name);
sl_coltype sl_coltype_from_pg(const char *udt_name, sl_coltype *elem);
const char *sl_coltype_name(sl_coltype t);

/* sl_split_table_name() - "public.orders" -> "public", "orders";
 * "\"My.Schema\".\"T\"" -> "My.Schema", "T"; "orders" -> @default_schema.
 * Returns -1 on a malformed name. Caller frees *schema and *name. */
int sl_split_table_name(const char *qualified, const char *default_schema,
                        char **schema, char **name);

#endif
