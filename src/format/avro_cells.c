/* avro_cells.c - `format: avro` read straight into a row's cells: the
 * Confluent wire-format datum walked against its writer schema, each
 * top-level field written into the cell of the column of that name, with
 * neither avro-c's value nor a JSON tree in between.
 *
 * The plan - which column each field of a writer schema fills - is made
 * per (schema id, table) once the general path has written a record of
 * that schema to the table (sl_cells_learn()), so that a new schema still
 * meets the general path first (auto_create, auto_evolve, the report of
 * fields without a column).  What it takes: a record whose fields hold
 * null, booleans, ints and longs (with the date, time and timestamp
 * logical types), floats and doubles, strings, enums, bytes and fixed
 * (plain or decimal), each with a conversion to its column's type as
 * mapping.c makes it, and fields without a column that the mapper has
 * already reported; every key column present and not null.  Everything
 * else - a record, array or map for a column, a value the column's type
 * refuses or would round, data the general path would refuse, a
 * `key_format: avro` route, `columns:`, `add_columns:`, soft deletes - is
 * declined to the general path (avro.c and mapping.c), which also reports
 * what is wrong. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avro_int.h"
#include "sluice/textfmt.h"
#include "sluice/cells.h"
#include "json_cells_int.h"
#include "cell_put_int.h"
#include "sluice/registry.h"

/* Writer schemas planned per table; beyond this the oldest plan goes. */
#define MAX_PLANS 32

typedef struct plan {
    int id;
    bool usable;        /* false: every record of this schema takes the general path */
    sl_av_schema *tree; /* sluice's parse of the writer schema */
    long *col;          /* per top-level field: column index, -1 = skip the value */
    struct plan *next;
} plan;

typedef struct avro_cells {
    const sl_mapping *m;
    const sl_table *t;
    sl_registry *reg;
    plan *plans;        /* most recently used first */
    size_t nplans;
} avro_cells;

static void plan_free(plan *p)
{
    if (!p)
        return;
    sl_av_schema_free(p->tree);
    free(p->col);
    free(p);
}

/* ---- reading ---- */

static bool take(sl_av_cursor *c, size_t n, const unsigned char **out)
{
    if (n > (size_t)(c->end - c->p))
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

/* avro-c reads an int from at most 5 bytes, a long from at most 10: a
 * longer (padded) varint is left to it and the general path. */
static bool read_int(sl_av_cursor *c, const sl_av_node *n, int64_t *x)
{
    const unsigned char *start = c->p;
    if (!sl_av_varint(c, x))
        return false;
    if (n->kind == SL_AV_INT)
        return c->p - start <= 5 && *x >= INT32_MIN && *x <= INT32_MAX;
    return c->p - start < 10 || (c->p - start == 10 && start[9] <= 1);
}

static bool read_len(sl_av_cursor *c, const unsigned char **s, size_t *n)
{
    int64_t len;
    const unsigned char *start = c->p;
    if (!sl_av_varint(c, &len) || len < 0 || c->p - start > 10)
        return false;
    *n = (size_t)len;
    return take(c, *n, s);
}

/* The checks the general path makes of a value whose field has no column:
 * the whole datum becomes JSON there, so what fails in conversion (a string
 * that is not UTF-8, a time of day out of range, ...) fails the record. */
static bool pass(sl_av_cursor *c, const sl_av_node *n, int depth)
{
    int64_t x;
    const unsigned char *s;
    size_t len;
    if (depth > 64)
        return false;
    switch (n->kind) {
    case SL_AV_NULL:
        return true;
    case SL_AV_BOOLEAN:
        return take(c, 1, &s) && *s <= 1;
    case SL_AV_INT:
    case SL_AV_LONG:
        if (!read_int(c, n, &x))
            return false;
        switch (n->logical) {
        case SL_LT_TIME_MILLIS:
            return x >= 0 && x <= 86400000;
        case SL_LT_TIME_MICROS:
            return x >= 0 && x <= 86400000000LL;
        case SL_LT_TIMESTAMP_MILLIS:
        case SL_LT_LOCAL_TIMESTAMP_MILLIS:
            return x <= INT64_MAX / 1000 && x >= INT64_MIN / 1000;
        default:
            return true;
        }
    case SL_AV_FLOAT:
        return take(c, 4, &s);
    case SL_AV_DOUBLE:
        return take(c, 8, &s);
    case SL_AV_STRING:
        return read_len(c, &s, &len) && sl_utf8_strict(s, len);
    case SL_AV_BYTES:
        return n->logical == SL_LT_NONE && read_len(c, &s, &len);
    case SL_AV_FIXED:
        return n->logical == SL_LT_NONE && take(c, (size_t)n->size, &s);
    case SL_AV_ENUM:
        return sl_av_varint(c, &x) && x >= 0 && (uint64_t)x < n->n;
    case SL_AV_UNION:
        return sl_av_varint(c, &x) && x >= 0 && (uint64_t)x < n->n && pass(c, n->child[x], depth + 1);
    case SL_AV_RECORD:
        for (size_t i = 0; i < n->n; i++)
            if (!pass(c, n->child[i], depth + 1))
                return false;
        return true;
    case SL_AV_ARRAY:
    case SL_AV_MAP:
        for (;;) {
            int64_t count, size;
            if (!sl_av_varint(c, &count))
                return false;
            if (count == 0)
                return true;
            if (count < 0) {
                if (count < -SL_AV_MAX_ITEMS || !sl_av_varint(c, &size))
                    return false;
                count = -count;
            }
            if (count > SL_AV_MAX_ITEMS || c->items + count > SL_AV_MAX_ITEMS)
                return false;
            c->items += count;
            for (int64_t i = 0; i < count; i++) {
                /* a map key: jansson takes it up to a NUL, as UTF-8 */
                if (n->kind == SL_AV_MAP && !(read_len(c, &s, &len) && sl_cell_no_nul(s, len) && sl_utf8_strict(s, len)))
                    return false;
                if (!pass(c, n->child[0], depth + 1))
                    return false;
            }
        }
    }
    return false;
}

/* ---- cells: each as mapping.c's sl_convert_value() makes it from the
 * JSON value avro.c would have built ---- */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

/* One top-level field's value into column @i. */
static bool put(avro_cells *ac, sl_av_cursor *c, const sl_av_node *n, uint32_t i, sl_rowbuilder *b)
{
    const sl_column *col = &ac->t->cols[i];
    const unsigned char *s;
    size_t len;
    int64_t x;
    sl_strbuf *sb;
    if (n->kind == SL_AV_UNION) {
        if (!sl_av_varint(c, &x) || x < 0 || (uint64_t)x >= n->n)
            return false;
        n = n->child[x]; /* avro.c's value is the branch's */
    }
    switch (n->kind) {
    case SL_AV_NULL:
        sl_rowbuilder_set_null(b, i);
        return true;
    case SL_AV_BOOLEAN:
        if (!take(c, 1, &s) || *s > 1)
            return false;
        if (col->type == SL_COL_BOOL)
            sl_rowbuilder_set(b, i, *s ? "t" : "f", 1);
        else if (col->type == SL_COL_TEXT || col->type == SL_COL_OTHER)
            sl_rowbuilder_set(b, i, *s ? "true" : "false", *s ? 4 : 5);
        else
            return false;
        return true;
    case SL_AV_INT:
    case SL_AV_LONG:
        if (!read_int(c, n, &x))
            return false;
        switch (n->logical) {
        case SL_LT_NONE:
            return sl_cell_put_integer(b, i, col, ac->m->route->epoch_unit, x);
        case SL_LT_DATE:
            sl_fmt_date(sl_rowbuilder_cell_begin(b, i), x);
            return sl_cell_end_text(b, i, col);
        case SL_LT_TIME_MILLIS:
        case SL_LT_TIME_MICROS: {
            int64_t us = n->logical == SL_LT_TIME_MILLIS ? x * 1000 : x;
            if (us < 0 || us > 86400000000LL)
                return false;
            sl_fmt_time_us(sl_rowbuilder_cell_begin(b, i), us);
            return sl_cell_end_text(b, i, col);
        }
        case SL_LT_TIMESTAMP_MILLIS:
        case SL_LT_LOCAL_TIMESTAMP_MILLIS:
            if (x > INT64_MAX / 1000 || x < INT64_MIN / 1000)
                return false;
            sl_fmt_timestamp_us(sl_rowbuilder_cell_begin(b, i), x * 1000, n->logical == SL_LT_TIMESTAMP_MILLIS);
            return sl_cell_end_text(b, i, col);
        case SL_LT_TIMESTAMP_MICROS:
        case SL_LT_LOCAL_TIMESTAMP_MICROS:
            sl_fmt_timestamp_us(sl_rowbuilder_cell_begin(b, i), x, n->logical == SL_LT_TIMESTAMP_MICROS);
            return sl_cell_end_text(b, i, col);
        default:
            return false;
        }
    case SL_AV_FLOAT: {
        if (!take(c, 4, &s))
            return false;
        uint32_t u = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
        float f;
        memcpy(&f, &u, sizeof(f));
        return sl_cell_put_real(b, i, col, (double)f);
    }
    case SL_AV_DOUBLE: {
        if (!take(c, 8, &s))
            return false;
        uint64_t u = le64(s);
        double d;
        memcpy(&d, &u, sizeof(d));
        return sl_cell_put_real(b, i, col, d);
    }
    case SL_AV_STRING:
        return read_len(c, &s, &len) && sl_utf8_strict(s, len) && sl_cell_put_string(b, i, col, s, len);
    case SL_AV_ENUM:
        if (!sl_av_varint(c, &x) || x < 0 || (uint64_t)x >= n->n)
            return false;
        return sl_cell_put_string(b, i, col, (const unsigned char *)n->names[x], strlen(n->names[x]));
    case SL_AV_BYTES:
    case SL_AV_FIXED:
        if (n->kind == SL_AV_BYTES ? !read_len(c, &s, &len) : !take(c, len = (size_t)n->size, &s))
            return false;
        if (n->logical == SL_LT_DECIMAL) {
            /* numeric text, which number and text columns take as it is */
            if (col->type != SL_COL_NUMERIC && col->type != SL_COL_FLOAT4 && col->type != SL_COL_FLOAT8 &&
                col->type != SL_COL_TEXT && col->type != SL_COL_OTHER)
                return false;
            sb = sl_rowbuilder_cell_begin(b, i);
            size_t mark = sb->len;
            if (sl_fmt_decimal(sb, s, len, n->scale)) {
                sb->len = mark;
                return false;
            }
            sl_rowbuilder_cell_end(b, i);
            return true;
        }
        if (n->logical != SL_LT_NONE)
            return false;
        sl_fmt_hex(sl_rowbuilder_cell_begin(b, i), s, len);
        return sl_cell_end_text(b, i, col);
    default:
        return false; /* records, arrays and maps: jsonb and arrays by the general path */
    }
}

/* ---- plans ---- */

static plan *plan_for(avro_cells *ac, int id)
{
    plan **pp = &ac->plans;
    for (plan *p = ac->plans; p; pp = &p->next, p = p->next) {
        if (p->id != id)
            continue;
        if (p != ac->plans) { /* move to front: a topic mostly has one schema at a time */
            *pp = p->next;
            p->next = ac->plans;
            ac->plans = p;
        }
        return p;
    }
    return NULL;
}

static plan *make_plan(avro_cells *ac, int id)
{
    plan *p = sl_xcalloc(1, sizeof(*p));
    p->id = id;
    const sl_registry_schema *rs;
    sl_error err;
    if (sl_registry_get(ac->reg, id, &rs, &err) || strcmp(rs->type, "AVRO") ||
        !(p->tree = sl_av_schema_parse(rs->text, strlen(rs->text), &err)) || p->tree->root->kind != SL_AV_RECORD)
        return p;
    const sl_av_node *rec = p->tree->root;
    const sl_table *t = ac->t;
    p->col = sl_xcalloc(rec->n ? rec->n : 1, sizeof(*p->col));
    bool *taken = sl_xcalloc(t->ncols, sizeof(*taken));
    p->usable = true;
    for (size_t f = 0; f < rec->n && p->usable; f++) {
        long c = sl_table_find(t, rec->names[f]);
        if (c < 0) {
            /* a field without a column: skipped once the mapper has reported it */
            p->usable = json_object_get(ac->m->unmapped_seen, rec->names[f]) != NULL;
        } else if (taken[c]) {
            p->usable = false; /* two fields of one name: the general path's last one wins */
        } else {
            taken[c] = true;
        }
        p->col[f] = c >= 0 && !t->cols[c].generated ? c : -1;
    }
    free(taken);
    return p;
}

static void cells_learn(void *r, const sl_change *ch)
{
    avro_cells *ac = r;
    if (!ch || ch->schema_id < 0 || ch->op != SL_OP_UPSERT || plan_for(ac, ch->schema_id))
        return;
    plan *p = make_plan(ac, ch->schema_id);
    p->next = ac->plans;
    ac->plans = p;
    if (++ac->nplans > MAX_PLANS) { /* the least recently used goes */
        plan **pp = &ac->plans;
        while ((*pp)->next)
            pp = &(*pp)->next;
        plan_free(*pp);
        *pp = NULL;
        ac->nplans--;
    }
}

static int cells_map(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    (void)d;
    avro_cells *ac = r;
    const unsigned char *v = rec->value;
    if (!v || rec->value_len < 5 || v[0] != 0)
        return 0;
    uint32_t id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
    plan *p = id <= INT32_MAX ? plan_for(ac, (int)id) : NULL;
    if (!p || !p->usable)
        return 0;
    const sl_table *t = ac->t;
    const sl_av_node *root = p->tree->root;
    sl_rowbuilder_start(b, (uint32_t)t->ncols);
    sl_av_cursor c = {v + 5, v + rec->value_len, NULL, 0};
    for (size_t f = 0; f < root->n; f++) {
        bool ok = p->col[f] < 0 ? pass(&c, root->child[f], 1) : put(ac, &c, root->child[f], (uint32_t)p->col[f], b);
        if (!ok)
            return 0;
    }
    if (c.p != c.end)
        return 0; /* trailing bytes: the general path says so */
    for (size_t k = 0; k < t->nkey; k++)
        if (b->len[t->key[k]] < 0 && !t->cols[t->key[k]].computed)
            return 0; /* absent (the record key may hold it) or null: the general path decides;
                       * a computed key column is the database's to fill, as in the mapper */
    return 1;
}

static void *cells_new(const sl_mapping *m, sl_registry *reg)
{
    const sl_table *t = m->table;
    if (!reg || !sl_cells_plain(m))
        return NULL;
    avro_cells *ac = sl_xcalloc(1, sizeof(*ac));
    ac->m = m;
    ac->t = t;
    ac->reg = reg;
    return ac;
}

static void cells_free(void *r)
{
    avro_cells *ac = r;
    if (!ac)
        return;
    for (plan *p = ac->plans, *next; p; p = next) {
        next = p->next;
        plan_free(p);
    }
    free(ac);
}

const sl_cells_ops sl_avro_cells_ops = {
    .new = cells_new,
    .free = cells_free,
    .map = cells_map,
    .learn = cells_learn,
};
