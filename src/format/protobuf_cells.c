/* protobuf_cells.c - `format: protobuf` read straight into a row's cells:
 * the message's wire encoding walked field by field against its
 * descriptor, each top-level field written into the cell of the column of
 * its name, with neither libprotobuf's message nor a JSON tree in between.
 *
 * As for Avro (avro_cells.c), the plan - which column each field fills - is
 * made per schema id once the general path has written a record of that
 * schema to the table (sl_cells_learn()).  What it takes: the message-index
 * path [0] (the file's first message); a message whose fields are all
 * singular scalars, enums, strings, bytes or Timestamps, each with a
 * conversion to its column's type as mapping.c makes it, and fields without
 * a column that the mapper has already reported; each field at most once,
 * in its declared wire type, no unknown fields; every key column present and
 * not null.  Fields the record leaves out get proto3's default, or NULL
 * where the field has presence, as protobuf_reflect.cc reads them.
 * Anything else is declined to the general path (protobuf.c and mapping.c),
 * which also reports what is wrong; tests/fuzz holds the two to the same
 * rows. */
#include <stdlib.h>
#include <string.h>

#include "cell_put_int.h"
#include "protobuf_int.h"
#include "sluice/cells.h"
#include "sluice/textfmt.h"

#define MAX_PLANS 32
#define MAX_NUMBER 512 /* field numbers a plan indexes directly */

/* FieldDescriptorProto.Type */
enum { T_DOUBLE = 1, T_FLOAT, T_INT64, T_UINT64, T_INT32, T_FIXED64, T_FIXED32, T_BOOL, T_STRING, T_GROUP,
       T_MESSAGE, T_BYTES, T_UINT32, T_ENUM, T_SFIXED32, T_SFIXED64, T_SINT32, T_SINT64 };

typedef struct pfield {
    sl_pb_field f;
    size_t index; /* in the message, for enum names */
    long col;     /* -1: no column, the value is checked and skipped */
} pfield;

typedef struct plan {
    int id;
    bool usable;
    sl_pb_msg *msg; /* owned by the thread's schema cache (protobuf.c) */
    pfield *fields;
    size_t nfields;
    short by_number[MAX_NUMBER]; /* field number -> 1 + index in fields, 0: none */
    struct plan *next;
} plan;

typedef struct pb_cells {
    const sl_mapping *m;
    const sl_table *t;
    sl_registry *reg;
    plan *plans;
    size_t nplans;
    unsigned char *seen; /* per field of the plan in use */
    size_t seen_cap;
} pb_cells;

static int wire_type(int type)
{
    switch (type) {
    case T_DOUBLE: case T_FIXED64: case T_SFIXED64: return 1;
    case T_FLOAT: case T_FIXED32: case T_SFIXED32: return 5;
    case T_STRING: case T_BYTES: case T_MESSAGE: return 2;
    default: return 0;
    }
}

/* ---- reading ---- */

typedef struct cursor {
    const unsigned char *p, *end;
} cursor;

/* as libprotobuf reads a varint: at most 10 bytes */
static bool varint(cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10 && c->p < c->end; i++) {
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 9 && b > 1)
                return false;
            *out = v;
            return true;
        }
    }
    return false;
}

/* A field's key and a length prefix are shorter in libprotobuf (3.21,
 * parse_context.h ReadTag and ReadSize): a key takes at most 5 bytes, its
 * last below 16; a length at most 5 bytes, its last below 8, and no more
 * than INT_MAX less the parser's 16 bytes of slop.  Longer spellings of
 * the same number are refused there, so they are here too. */
static bool varint_at_most5(cursor *c, unsigned last_below, uint64_t *out)
{
    const unsigned char *p = c->p;
    if (!varint(c, out))
        return false;
    ptrdiff_t n = c->p - p;
    return n < 5 || (n == 5 && p[4] < last_below);
}

static bool tag(cursor *c, uint64_t *out)
{
    return varint_at_most5(c, 16, out);
}

static bool size(cursor *c, uint64_t *out)
{
    return varint_at_most5(c, 8, out) && *out <= (uint64_t)INT32_MAX - 16 &&
           *out <= (uint64_t)(c->end - c->p);
}

static bool fixed(cursor *c, int n, uint64_t *out)
{
    if (c->end - c->p < n)
        return false;
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | c->p[k];
    c->p += n;
    *out = v;
    return true;
}

static bool put_bool(sl_rowbuilder *b, uint32_t i, const sl_column *col, bool v)
{
    if (col->type == SL_COL_BOOL)
        sl_rowbuilder_set(b, i, v ? "t" : "f", 1);
    else if (col->type == SL_COL_TEXT || col->type == SL_COL_OTHER)
        sl_rowbuilder_set(b, i, v ? "true" : "false", v ? 4 : 5);
    else
        return false;
    return true;
}

static bool put_enum(const plan *p, const pfield *pf, sl_rowbuilder *b, const sl_column *col, int number)
{
    const char *name = sl_pb_msg_enum_name(p->msg, pf->index, number);
    char digits[16];
    if (!name) {
        snprintf(digits, sizeof(digits), "%d", number);
        name = digits;
    }
    return sl_cell_put_string(b, (uint32_t)pf->col, col, (const unsigned char *)name, strlen(name));
}

static bool put_timestamp(pb_cells *pc, sl_rowbuilder *b, uint32_t i, const sl_column *col, const unsigned char *s,
                          size_t n)
{
    cursor c = {s, s + n};
    int64_t seconds = 0, nanos = 0;
    bool had[3] = {false, false, false};
    while (c.p < c.end) {
        uint64_t key, v;
        if (!tag(&c, &key) || (key >> 3 != 1 && key >> 3 != 2) || (key & 7) != 0 || had[key >> 3] ||
            !varint(&c, &v))
            return false;
        had[key >> 3] = true;
        if (key >> 3 == 1)
            seconds = (int64_t)v;
        else
            nanos = (int32_t)(uint32_t)v;
    }
    if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 || nanos > 999999999)
        return false;
    (void)pc;
    sl_fmt_timestamp_us(sl_rowbuilder_cell_begin(b, i), seconds * 1000000 + nanos / 1000, true);
    return sl_cell_end_text(b, i, col);
}

/* The value of @pf read at @c into its column (or checked, without one). */
static bool put(pb_cells *pc, const plan *p, const pfield *pf, cursor *c, sl_rowbuilder *b)
{
    const sl_column *col = pf->col >= 0 ? &pc->t->cols[pf->col] : NULL;
    uint32_t i = (uint32_t)pf->col;
    sl_epoch_unit epoch = pc->m->route->epoch_unit;
    uint64_t v;
    switch (pf->f.type) {
    case T_INT32: case T_INT64: case T_UINT32: case T_UINT64: case T_SINT32: case T_SINT64: case T_BOOL:
    case T_ENUM: {
        if (!varint(c, &v))
            return false;
        int64_t x;
        switch (pf->f.type) {
        case T_INT32: x = (int32_t)(uint32_t)v; break;
        case T_UINT32: x = (uint32_t)v; break;
        case T_UINT64:
            if (v > (uint64_t)INT64_MAX)
                return false; /* numeric text on the general path */
            x = (int64_t)v;
            break;
        case T_SINT32: {
            uint32_t u = (uint32_t)v;
            x = (int32_t)((u >> 1) ^ (0u - (u & 1)));
            break;
        }
        case T_SINT64: x = (int64_t)(v >> 1) ^ -(int64_t)(v & 1); break;
        case T_ENUM: x = (int32_t)(uint32_t)v; break;
        default: x = (int64_t)v; break;
        }
        if (!col)
            return true;
        if (pf->f.type == T_BOOL)
            return put_bool(b, i, col, v != 0);
        if (pf->f.type == T_ENUM)
            return put_enum(p, pf, b, col, (int)x);
        return sl_cell_put_integer(b, i, col, epoch, x);
    }
    case T_FIXED32: case T_SFIXED32: case T_FLOAT:
        if (!fixed(c, 4, &v))
            return false;
        if (!col)
            return true;
        if (pf->f.type == T_FLOAT) {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, sizeof(f));
            return sl_cell_put_real(b, i, col, (double)f);
        }
        return sl_cell_put_integer(b, i, col, epoch,
                                   pf->f.type == T_FIXED32 ? (int64_t)(uint32_t)v : (int64_t)(int32_t)(uint32_t)v);
    case T_FIXED64: case T_SFIXED64: case T_DOUBLE:
        if (!fixed(c, 8, &v))
            return false;
        if (!col)
            return true;
        if (pf->f.type == T_DOUBLE) {
            double d;
            memcpy(&d, &v, sizeof(d));
            return sl_cell_put_real(b, i, col, d);
        }
        if (pf->f.type == T_FIXED64 && v > (uint64_t)INT64_MAX)
            return false;
        return sl_cell_put_integer(b, i, col, epoch, (int64_t)v);
    case T_STRING: case T_BYTES: case T_MESSAGE: {
        if (!size(c, &v))
            return false;
        const unsigned char *s = c->p;
        size_t n = (size_t)v;
        c->p += n;
        if (pf->f.type == T_STRING) {
            if (!sl_utf8_strict(s, n))
                return false;
            return !col || sl_cell_put_string(b, i, col, s, n);
        }
        if (pf->f.type == T_BYTES) {
            if (!col)
                return true;
            sl_fmt_hex(sl_rowbuilder_cell_begin(b, i), s, n);
            return sl_cell_end_text(b, i, col);
        }
        if (!col)
            return false; /* a Timestamp without a column: left to the general path */
        return put_timestamp(pc, b, i, col, s, n);
    }
    default:
        return false;
    }
}

/* A field the record left out: proto3's default, or NULL with presence. */
static bool put_default(pb_cells *pc, const plan *p, const pfield *pf, sl_rowbuilder *b)
{
    const sl_column *col = &pc->t->cols[pf->col];
    uint32_t i = (uint32_t)pf->col;
    if (pf->f.presence) {
        sl_rowbuilder_set_null(b, i);
        return true;
    }
    switch (pf->f.type) {
    case T_BOOL: return put_bool(b, i, col, false);
    case T_ENUM: return put_enum(p, pf, b, col, 0);
    case T_STRING: return sl_cell_put_string(b, i, col, (const unsigned char *)"", 0);
    case T_BYTES:
        sl_strbuf_puts(sl_rowbuilder_cell_begin(b, i), "\\x");
        return sl_cell_end_text(b, i, col);
    case T_DOUBLE: case T_FLOAT: return sl_cell_put_real(b, i, col, 0.0);
    default: return sl_cell_put_integer(b, i, col, pc->m->route->epoch_unit, 0);
    }
}

/* ---- plans ---- */

static void plan_free(plan *p)
{
    if (p) {
        free(p->fields);
        free(p);
    }
}

static plan *plan_for(pb_cells *pc, int id)
{
    plan **pp = &pc->plans;
    for (plan *p = pc->plans; p; pp = &p->next, p = p->next) {
        if (p->id != id)
            continue;
        if (p != pc->plans) {
            *pp = p->next;
            p->next = pc->plans;
            pc->plans = p;
        }
        return p;
    }
    return NULL;
}

static plan *make_plan(pb_cells *pc, int id)
{
    plan *p = sl_xcalloc(1, sizeof(*p));
    p->id = id;
    int path0 = 0;
    sl_error err;
    if (!(p->msg = sl_protobuf_message(pc->reg, id, &path0, 1, &err)))
        return p;
    const sl_table *t = pc->t;
    p->nfields = sl_pb_msg_nfields(p->msg);
    p->fields = sl_xcalloc(p->nfields ? p->nfields : 1, sizeof(*p->fields));
    bool *taken = sl_xcalloc(t->ncols ? t->ncols : 1, sizeof(*taken));
    p->usable = true;
    for (size_t k = 0; k < p->nfields && p->usable; k++) {
        pfield *pf = &p->fields[k];
        sl_pb_msg_field(p->msg, k, &pf->f);
        pf->index = k;
        if (pf->f.repeated || pf->f.type == T_GROUP || (pf->f.type == T_MESSAGE && !pf->f.timestamp) ||
            pf->f.number <= 0 || pf->f.number >= MAX_NUMBER) {
            p->usable = false;
            break;
        }
        p->by_number[pf->f.number] = (short)(k + 1);
        long c = sl_table_find(t, pf->f.name);
        if (c < 0)
            p->usable = json_object_get(pc->m->unmapped_seen, pf->f.name) != NULL;
        else if (taken[c])
            p->usable = false;
        else
            taken[c] = true;
        pf->col = c >= 0 && !t->cols[c].generated ? c : -1;
    }
    free(taken);
    return p;
}

/* ---- the reader ---- */

static void *cells_new(const sl_mapping *m, sl_registry *reg)
{
    const sl_table *t = m->table;
    if (!reg || !sl_cells_plain(m))
        return NULL;
    pb_cells *pc = sl_xcalloc(1, sizeof(*pc));
    pc->m = m;
    pc->t = t;
    pc->reg = reg;
    return pc;
}

static void cells_free(void *r)
{
    pb_cells *pc = r;
    if (!pc)
        return;
    for (plan *p = pc->plans, *next; p; p = next) {
        next = p->next;
        plan_free(p);
    }
    free(pc->seen);
    free(pc);
}

static void cells_learn(void *r, const sl_change *ch)
{
    pb_cells *pc = r;
    if (!ch || ch->schema_id < 0 || ch->op != SL_OP_UPSERT || plan_for(pc, ch->schema_id))
        return;
    plan *p = make_plan(pc, ch->schema_id);
    p->next = pc->plans;
    pc->plans = p;
    if (++pc->nplans > MAX_PLANS) {
        plan **pp = &pc->plans;
        while ((*pp)->next)
            pp = &(*pp)->next;
        plan_free(*pp);
        *pp = NULL;
        pc->nplans--;
    }
}

static int cells_map(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    (void)d;
    pb_cells *pc = r;
    const unsigned char *v = (const unsigned char *)rec->value;
    if (!v || rec->value_len < 6 || v[0] != 0 || v[5] != 0)
        return 0; /* not the wire format, or a message-index path other than [0] */
    uint32_t id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
    plan *p = id <= INT32_MAX ? plan_for(pc, (int)id) : NULL;
    if (!p || !p->usable)
        return 0;
    const sl_table *t = pc->t;
    if (pc->seen_cap < p->nfields) {
        pc->seen = sl_xrealloc(pc->seen, p->nfields);
        pc->seen_cap = p->nfields;
    }
    memset(pc->seen, 0, p->nfields);
    sl_rowbuilder_start(b, (uint32_t)t->ncols);
    cursor c = {v + 6, v + rec->value_len};
    while (c.p < c.end) {
        uint64_t key;
        if (!tag(&c, &key))
            return 0;
        uint64_t number = key >> 3;
        if (number >= MAX_NUMBER || !p->by_number[number])
            return 0; /* an unknown field: the general path */
        size_t k = (size_t)p->by_number[number] - 1;
        const pfield *pf = &p->fields[k];
        if (pc->seen[k] || (int)(key & 7) != wire_type(pf->f.type))
            return 0; /* repeated (the last wins) or another wire type: the general path */
        pc->seen[k] = 1;
        if (!put(pc, p, pf, &c, b))
            return 0;
    }
    for (size_t k = 0; k < p->nfields; k++)
        if (!pc->seen[k] && p->fields[k].col >= 0 && !put_default(pc, p, &p->fields[k], b))
            return 0;
    for (size_t k = 0; k < t->nkey; k++)
        if (b->len[t->key[k]] < 0 && !t->cols[t->key[k]].computed)
            return 0;
    return 1;
}

const sl_cells_ops sl_protobuf_cells_ops = {
    .new = cells_new, .free = cells_free, .map = cells_map, .learn = cells_learn};
