/* types.c - the PostgreSQL type names auto_create and auto_evolve declare for
 * a field of a change (sl_sink_ops.column_type). */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "sluice/log.h"
#include "sluice/sink.h"
#include "sluice/sql.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

static const char *pg_scalar_type(const char *t, const json_t *f, char *buf, size_t len)
{
    if (!strcmp(t, "numeric")) {
        json_t *p = json_object_get(f, "precision"), *s = json_object_get(f, "scale");
        /* precision and scale come from data (Connect parameters): only a
         * pair PostgreSQL can declare is used, else unconstrained numeric */
        if (json_is_integer(p) && json_integer_value(p) > 0 && json_integer_value(p) <= 1000 &&
            json_is_integer(s) && json_integer_value(s) >= 0 && json_integer_value(s) <= json_integer_value(p))
            snprintf(buf, len, "numeric(%d,%d)", (int)json_integer_value(p),
                     (int)json_integer_value(s));
        else
            snprintf(buf, len, "numeric");
        return buf;
    }
    static const char *const known[] = {"text", "smallint", "integer", "bigint", "real",
                                        "double precision", "boolean", "timestamptz", "timestamp",
                                        "date", "time", "uuid", "json", "jsonb", "bytea", NULL};
    for (size_t i = 0; known[i]; i++)
        if (!strcmp(known[i], t))
            return snprintf(buf, len, "%s", t), buf;
    return snprintf(buf, len, "text"), buf;
}

/* sluice's type names are PostgreSQL's; arrays of JSON are jsonb. */
const char *pg_column_type(const json_t *field, char *buf, size_t len)
{
    const char *it, *t = sl_field_type(field, &it);
    char inner[64];
    if (!it)
        return pg_scalar_type(t, field, buf, len);
    if (!*it || !strcmp(it, "jsonb") || !strcmp(it, "json"))
        snprintf(buf, len, "jsonb");
    else
        snprintf(buf, len, "%s[]", pg_scalar_type(it, field, inner, sizeof(inner)));
    return buf;
}
