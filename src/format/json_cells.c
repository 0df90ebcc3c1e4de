/* json_cells.c - `format: json` read straight into a row's cells, token by
 * token (each token handed to the callback of its kind, which writes the
 * cell or declines), and the same for the "after" row of a Debezium change
 * event (found by debezium/envelope.c); declines whatever the general path
 * must judge (see json_cells_int.h for the exact scope).  The text is
 * checked as jansson reads it (json_valid.c's rules, UTF-8 by
 * sl_utf8_strict()), so that nothing the general path refuses is taken. */
#include "json_cells_int.h"
#include "json_valid_int.h"

#include "sluice/cells.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/textfmt.h"
#include "sluice/transform.h"

/* A field that names no column and was already reported by the mapper is
 * skipped, nested values included, down to this depth. */
#define SKIP_MAX_DEPTH 64

struct sl_json_cells {
    const sl_mapping *m;
    const sl_table *t;
    sl_strbuf str;          /* a string token's bytes, its escapes decoded */
    uint32_t *slots;        /* field-name hash: index in names + 1, 0 = empty */
    size_t nslots;
    const char **names;     /* the field names a record's may be: the columns', or the plan's */
    /* a route with transforms: its chain as a plan (transform.h) */
    sl_tx_plan *plan;
    sl_tx_run *run;
    long *pcol;             /* per plan name: its column, -1 none (or generated), -2 none and
                             * no column of its final name (the mapper reports it) */
    const sl_record *rec;
    long cur;               /* the plan name of the current field, -1 none */
    bool stepping;          /* transforms read or change the current field's value */
    /* per record */
    sl_rowbuilder *b;
    long col;               /* column of the current field, -1 = skipping it */
    int depth;              /* 1 inside the top-level object */
    const json_t *only;     /* the row's field names allowed, or NULL: any */
    sl_json_cells_convert conv; /* converts the values of fields that @only gives a schema */
    sl_json_cells_convert_token token; /* the same from the token, where it can; or NULL */
    const json_t *fschema;  /* that schema for the current field, else NULL */
    int64_t fplan;          /* and its plan for token, 0 = none */
    bool fnested;           /* and its value may be an object or an array (nested_value()) */
    sl_strbuf tmp;          /* scratch of conv */
    sl_error err;           /* what conv or the cell's rule found: the general path reports it */
    bool in_row;            /* inside the row's object */
    const char *const *refuse; /* a string value that begins with one of these declines, or NULL */
    int skip_depth;         /* depth at which a skipped field's value started */
    bool done;              /* the top-level object has ended */
    char name[256];         /* scratch for a field name */
};

static uint64_t name_hash(const unsigned char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* The index in jc->names of the name @s, or -1. */
static long find_col(const sl_json_cells *jc, const unsigned char *s, size_t n)
{
    size_t i = name_hash(s, n) & (jc->nslots - 1);
    while (jc->slots[i]) {
        const char *c = jc->names[jc->slots[i] - 1];
        if (strlen(c) == n && !memcmp(c, s, n))
            return (long)jc->slots[i] - 1;
        i = (i + 1) & (jc->nslots - 1);
    }
    return -1;
}

/* ---- cells ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* JSON's integer grammar (the tokenizer has checked it) into an int64; false when it
 * has a fraction or exponent or does not fit. */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-')
        neg = true, i++;
    if (i == n)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* A decimal without exponent of 1 to 15 significant digits: read as a
 * double and printed back shortest, it is the same number, so PostgreSQL
 * gets from its text what it gets from mapping.c's. */
static bool plain_decimal(const char *s, size_t n)
{
    size_t i = 0, sig = 0;
    bool dot = false, lead = true;
    if (i < n && s[i] == '-')
        i++;
    if (i == n)
        return false;
    for (; i < n; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!is_digit(s[i]))
            return false;
        if (s[i] != '0')
            lead = false;
        if (!lead)
            sig++;
    }
    return sig <= 15;
}

/* Start the current column's cell; false when it is set already (a
 * duplicate field, which the general path resolves). */
static bool cell_free(const sl_json_cells *jc)
{
    return jc->b->len[jc->col] == SL_CELL_ABSENT;
}

static int cell_text(sl_json_cells *jc, const void *s, size_t n)
{
    sl_rowbuilder_set(jc->b, (uint32_t)jc->col, s, n);
    return 1;
}

/* ---- the tokens' callbacks: return 0 to decline the record ---- */

#define JC(ctx) ((sl_json_cells *)(ctx))

/* A value at depth 1 for a field being skipped, or nested in one. */
static bool skipping(const sl_json_cells *jc)
{
    return jc->col < 0;
}

/* Where a scalar value (@s: a string's bytes, else NULL) goes: -1 into the
 * current column, else the callback's answer (a Debezium member, a skipped
 * field, or a column given twice, which declines). */
static inline int scalar_target(sl_json_cells *jc, const unsigned char *s, size_t n)
{
    if (skipping(jc))
        return 1;
    if (!cell_free(jc))
        return 0;
    return -1;
}

/* True when the current value is that of a row field that @only gives a
 * schema: converted, not taken as it is. */
static bool converting(const sl_json_cells *jc)
{
    return jc->fschema && jc->in_row && jc->depth == 1;
}

/* A converted field's value @v (taken over): through the format's
 * conversion, then the mapper's rule for the column's cell; a skipped
 * field's value is converted only to find what the general path rejects. */
static int converted(sl_json_cells *jc, json_t *v, const unsigned char *s, size_t n)
{
    if (!skipping(jc) && !cell_free(jc)) {
        json_decref(v);
        return 0;
    }
    bool raw = false;
    json_t *cv = jc->conv(jc->fschema, v, &raw, &jc->tmp, &jc->err);
    int ok = 0;
    if (cv) {
        if (skipping(jc))
            ok = 1;
        else if (raw && s && sl_map_json_text_column(&jc->t->cols[jc->col]))
            ok = cell_text(jc, s, n); /* the general path's json_text */
        else
            ok = sl_map_cell(jc->m, jc->b, (uint32_t)jc->col, cv, &jc->err) == 0;
    }
    json_decref(cv);
    json_decref(v);
    return ok;
}

/* A converted field's value from its token (@s, @n a string's, or
 * *@integer), without JSON values where the format's token conversion
 * can: its string result goes to the mapper's rule for the cell as
 * converted() gives it; -1 when the caller must take converted(). */
static int converted_token(sl_json_cells *jc, const unsigned char *s, size_t n, const int64_t *integer)
{
    if (!jc->token || !jc->fplan)
        return -1;
    if (!skipping(jc) && !cell_free(jc))
        return 0;
    const char *t;
    size_t tn;
    bool raw = false;
    if (!jc->token(jc->fplan, (const char *)s, n, integer, &jc->tmp, &t, &tn, &raw))
        return -1;
    if (skipping(jc))
        return 1;
    if (raw && !integer && sl_map_json_text_column(&jc->t->cols[jc->col]))
        return cell_text(jc, s, n); /* the general path's json_text */
    json_t *v = json_stringn(t, tn);
    if (!v)
        return 0;
    int ok = sl_map_cell(jc->m, jc->b, (uint32_t)jc->col, v, &jc->err) == 0;
    json_decref(v);
    return ok;
}

/* A value the route's transforms read or change (jc->stepping), taken
 * over: through them (sl_tx_run_field()), then the mapper's rule for its
 * column's cell; -1 when they only read it (filters): the caller then
 * writes the value it has, as for a route without transforms. */
static int stepped(sl_json_cells *jc, json_t *v)
{
    int ok = sl_tx_run_field(jc->run, (size_t)jc->cur, &v) == 0;
    if (ok && !sl_tx_plan_changes(jc->plan, (size_t)jc->cur)) {
        json_decref(v);
        return sl_tx_run_dropped(jc->run) ? 1 : -1; /* a dropped record's cells do not matter */
    }
    if (ok && jc->col >= 0)
        ok = cell_free(jc) && sl_map_cell(jc->m, jc->b, (uint32_t)jc->col, v, &jc->err) == 0;
    json_decref(v);
    return ok;
}

static bool stepping(const sl_json_cells *jc)
{
    return jc->stepping && jc->depth == 1;
}

static int on_null(void *ctx)
{
    sl_json_cells *jc = JC(ctx);
    int rc = stepping(jc) ? stepped(jc, json_null()) : -1;
    if (rc >= 0)
        return rc;
    rc = scalar_target(jc, NULL, 0);
    if (rc >= 0)
        return rc;
    sl_rowbuilder_set_null(jc->b, (uint32_t)jc->col);
    return 1;
}

static int on_boolean(void *ctx, int v)
{
    sl_json_cells *jc = JC(ctx);
    int rc = stepping(jc) ? stepped(jc, json_boolean(v)) : -1;
    if (rc >= 0)
        return rc;
    if (converting(jc))
        return converted(jc, json_boolean(v), NULL, 0);
    rc = scalar_target(jc, NULL, 0);
    if (rc >= 0)
        return rc;
    switch (jc->t->cols[jc->col].type) {
    case SL_COL_BOOL: return cell_text(jc, v ? "t" : "f", 1);
    case SL_COL_TEXT:
    case SL_COL_OTHER: return v ? cell_text(jc, "true", 4) : cell_text(jc, "false", 5);
    default: return 0;
    }
}

static int on_number(void *ctx, const char *s, size_t n)
{
    sl_json_cells *jc = JC(ctx);
    if (sl_json_number_refused(s, n)) /* json.c would reject the whole record */
        return 0;
    if (stepping(jc)) { /* as jansson reads it: an integer, else a real */
        int64_t i;
        json_t *v;
        if (parse_int(s, n, &i)) {
            v = json_integer(i);
        } else {
            char buf[512];
            if (n >= sizeof(buf))
                return 0;
            memcpy(buf, s, n);
            buf[n] = '\0';
            v = json_real(strtod(buf, NULL));
        }
        int rc = stepped(jc, v);
        if (rc >= 0)
            return rc;
    }
    if (converting(jc)) {
        int64_t i;
        if (!parse_int(s, n, &i))
            return 0;
        int rc = converted_token(jc, NULL, 0, &i);
        return rc >= 0 ? rc : converted(jc, json_integer(i), NULL, 0);
    }
    int rc = scalar_target(jc, NULL, 0);
    if (rc >= 0)
        return rc;
    const sl_column *c = &jc->t->cols[jc->col];
    int64_t x;
    bool integer = parse_int(s, n, &x);
    if (!integer) {
        /* a fraction or an exponent: plain decimals into float columns only */
        if ((c->type == SL_COL_FLOAT8 || c->type == SL_COL_FLOAT4) && plain_decimal(s, n))
            return cell_text(jc, s, n);
        return 0;
    }
    /* the rule every format shares (textfmt.h) */
    if (sl_fmt_integer_cell(sl_rowbuilder_cell_begin(jc->b, (uint32_t)jc->col), x, c->type,
                            jc->m->route->epoch_unit) != SL_INTCELL_OK)
        return 0;
    sl_rowbuilder_cell_end(jc->b, (uint32_t)jc->col);
    return 1;
}

/* A string value that begins with one of jc->refuse's. */
static bool refused(const sl_json_cells *jc, const unsigned char *s, size_t n)
{
    for (const char *const *r = jc->refuse; *r; r++) {
        if (!n || s[0] != (unsigned char)(*r)[0])
            continue;
        size_t rn = strlen(*r);
        if (n >= rn && !memcmp(s, *r, rn))
            return true;
    }
    return false;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    sl_json_cells *jc = JC(ctx);
    if (jc->refuse && refused(jc, s, n))
        return 0;
    if (stepping(jc)) {
        int rc = memchr(s, '\0', n) ? 0 : stepped(jc, json_stringn((const char *)s, n));
        if (rc >= 0)
            return rc;
    }
    if (converting(jc)) {
        if (memchr(s, '\0', n))
            return 0;
        int rc = converted_token(jc, s, n, NULL);
        return rc >= 0 ? rc : converted(jc, json_stringn((const char *)s, n), s, n);
    }
    int rc = scalar_target(jc, s, n);
    if (rc >= 0)
        return rc;
    if (memchr(s, '\0', n))
        return 0;
    switch (jc->t->cols[jc->col].type) {
    case SL_COL_TEXT:
    case SL_COL_OTHER:
        return cell_text(jc, s, n);
    case SL_COL_TIMESTAMPTZ:
    case SL_COL_TIMESTAMP:
    case SL_COL_DATE:
        return sl_text_is_date((const char *)s, n) ? cell_text(jc, s, n) : 0;
    case SL_COL_UUID:
        return sl_text_is_uuid((const char *)s, n) ? cell_text(jc, s, n) : 0;
    default:
        return 0;
    }
}

/* A field the mapper has reported as having no column, by the name @s it
 * has there (the same JSON is skipped). */
static bool reported(sl_json_cells *jc, const char *s, size_t n)
{
    if (n >= sizeof(jc->name) || memchr(s, '\0', n))
        return false;
    memcpy(jc->name, s, n);
    jc->name[n] = '\0';
    return json_object_get(jc->m->unmapped_seen, jc->name) != NULL;
}

/* A field of a record of a route with transforms: what the plan says of
 * its name. */
static int plan_key(sl_json_cells *jc, const unsigned char *s, size_t n)
{
    long k = memchr(s, '\0', n) ? -1 : find_col(jc, s, n);
    jc->cur = k;
    jc->stepping = false;
    jc->col = -1;
    if (k < 0) /* a name no transform mentions: dropped, or kept without a column */
        return sl_tx_plan_drops_others(jc->plan) || reported(jc, (const char *)s, n);
    if (jc->pcol[k] == -2) {
        const char *final = sl_tx_plan_final(jc->plan, (size_t)k);
        if (!reported(jc, final, strlen(final)))
            return 0;
    }
    jc->col = jc->pcol[k] >= 0 ? jc->pcol[k] : -1;
    jc->stepping = sl_tx_plan_steps(jc->plan, (size_t)k);
    return jc->stepping || sl_tx_run_field(jc->run, (size_t)k, NULL) == 0;
}

/* An added field (sl_tx_run_finish()): its value into its column. */
static int put_added(void *ctx, size_t i, const json_t *v)
{
    sl_json_cells *jc = ctx;
    long c = jc->pcol[i];
    if (c == -2) {
        const char *final = sl_tx_plan_final(jc->plan, i);
        return reported(jc, final, strlen(final)) ? 0 : -1;
    }
    if (c < 0)
        return 0;
    if (jc->b->len[c] != SL_CELL_ABSENT)
        return -1;
    return sl_map_cell(jc->m, jc->b, (uint32_t)c, v, &jc->err) ? -1 : 0;
}

static int on_map_key(void *ctx, const unsigned char *s, size_t n)
{
    sl_json_cells *jc = JC(ctx);
    if (!jc->in_row || jc->depth != 1)
        return 1; /* inside a skipped value */
    if (jc->plan)
        return plan_key(jc, s, n);
    /* a field the row's schema lacks: the general path drops it */
    const json_t *kind = jc->only ? json_object_getn(jc->only, (const char *)s, n) : NULL;
    if (jc->only && !kind)
        return 0;
    jc->fplan = 0;
    jc->fnested = false;
    if (json_is_array(kind)) { /* [schema, plan] or [schema, 0, true] */
        jc->fplan = json_integer_value(json_array_get(kind, 1));
        jc->fnested = json_is_true(json_array_get(kind, 2));
        kind = json_array_get(kind, 0);
    }
    jc->fschema = json_is_object(kind) && jc->conv ? kind : NULL;
    if (json_is_object(kind) && !jc->conv)
        return 0;
    long c = memchr(s, '\0', n) ? -1 : find_col(jc, s, n);
    if (c >= 0 && !jc->t->cols[c].generated) {
        jc->col = c;
        return 1;
    }
    if (c < 0 && !reported(jc, (const char *)s, n))
        return 0; /* a field without a column: skipped once the mapper has reported it */
    jc->col = -1; /* the mapper ignores generated columns' values too */
    return 1;
}

static int open_nested(sl_json_cells *jc)
{
    if (jc->done)
        return 0; /* a second value after the record's object */
    if (jc->depth == 0) {
        jc->depth = 1;
        jc->in_row = true;
        return 1;
    }
    if (!skipping(jc) || jc->depth >= SKIP_MAX_DEPTH || converting(jc) || stepping(jc))
        return 0; /* objects and arrays go into columns by the general path */
    jc->depth++;
    return 1;
}

static int on_start_map(void *ctx)
{
    sl_json_cells *jc = JC(ctx);
    if (jc->plan && jc->depth == 1 && sl_tx_plan_no_objects(jc->plan))
        return 0; /* flatten would make fields of it */
    return open_nested(jc);
}

static int on_start_array(void *ctx)
{
    sl_json_cells *jc = JC(ctx);
    if (jc->depth == 0)
        return 0; /* not an object */
    return open_nested(jc);
}

static int close_nested(sl_json_cells *jc)
{
    jc->depth--;
    if (jc->depth == 0)
        jc->done = true;
    return 1;
}

/* Scalars at the top level are not objects. */
static int top_null(void *ctx)
{
    return JC(ctx)->depth ? on_null(ctx) : 0;
}

static int top_boolean(void *ctx, int v)
{
    return JC(ctx)->depth ? on_boolean(ctx, v) : 0;
}

static int top_number(void *ctx, const char *s, size_t n)
{
    return JC(ctx)->depth ? on_number(ctx, s, n) : 0;
}

static int top_string(void *ctx, const unsigned char *s, size_t n)
{
    return JC(ctx)->depth ? on_string(ctx, s, n) : 0;
}

/* A string anywhere in @v (a nested value's) that begins with one of
 * jc->refuse's. */
static bool refused_in(const sl_json_cells *jc, const json_t *v)
{
    if (json_is_string(v))
        return refused(jc, (const unsigned char *)json_string_value(v), json_string_length(v));
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v))
        json_array_foreach(v, i, x)
            if (refused_in(jc, x))
                return true;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x)
            if (refused_in(jc, x))
                return true;
    return false;
}

/* The object or array at s[i], the value of a converted field that may
 * hold one (jc->fnested): parsed on its own, which gives the value the
 * general path's parse of the whole row has there (the span checked as
 * jansson reads it, sl_json_valid_skip(), nesting bounded), then converted
 * as a scalar is.  Past it, or 0 to decline. */
static size_t nested_value(sl_json_cells *jc, const char *s, size_t i, size_t n)
{
    size_t end = sl_json_valid_skip(s, i, n);
    if (!end)
        return 0;
    json_t *v = json_loadb(s + i, end - i, JSON_DECODE_ANY, NULL);
    if (!v || (jc->refuse && refused_in(jc, v))) {
        json_decref(v);
        return 0;
    }
    return converted(jc, v, NULL, 0) ? end : 0;
}

/* ---- the tokenizer ---- */

/* The string token at s[i] ('"'): its bytes as jansson decodes them in
 * *@out, *@on (those with escapes decoded into jc->str); past it, or 0
 * when it is not one jansson takes (sl_json_string_end()). */
static size_t string_token(sl_json_cells *jc, const char *s, size_t i, size_t n, const unsigned char **out,
                           size_t *on)
{
    bool esc;
    size_t end = sl_json_string_end(s, i, n, true, &esc);
    if (!end)
        return 0;
    const char *p = s + i + 1, *last = s + end - 1;
    if (!esc) {
        *out = (const unsigned char *)p;
        *on = (size_t)(last - p);
        return end;
    }
    sl_strbuf *d = &jc->str;
    sl_strbuf_reset(d);
    while (p < last) {
        const char *bs = memchr(p, '\\', (size_t)(last - p));
        if (!bs) {
            sl_strbuf_append(d, p, (size_t)(last - p));
            break;
        }
        sl_strbuf_append(d, p, (size_t)(bs - p));
        char e = bs[1];
        p = bs + 2;
        switch (e) {
        case 'b': sl_strbuf_putc(d, '\b'); break;
        case 'f': sl_strbuf_putc(d, '\f'); break;
        case 'n': sl_strbuf_putc(d, '\n'); break;
        case 'r': sl_strbuf_putc(d, '\r'); break;
        case 't': sl_strbuf_putc(d, '\t'); break;
        case 'u': { /* checked: four hex digits, neither NUL nor a surrogate */
            unsigned v = (unsigned)sl_json_hex4(p);
            p += 4;
            if (v < 0x80) {
                sl_strbuf_putc(d, (char)v);
            } else if (v < 0x800) {
                sl_strbuf_putc(d, (char)(0xc0 | v >> 6));
                sl_strbuf_putc(d, (char)(0x80 | (v & 0x3f)));
            } else {
                sl_strbuf_putc(d, (char)(0xe0 | v >> 12));
                sl_strbuf_putc(d, (char)(0x80 | ((v >> 6) & 0x3f)));
                sl_strbuf_putc(d, (char)(0x80 | (v & 0x3f)));
            }
            break;
        }
        default: sl_strbuf_putc(d, e); break; /* " \ / */
        }
    }
    *out = (const unsigned char *)(d->data ? d->data : "");
    *on = d->len;
    return end;
}

/* The value at s[i] (after whitespace) into the callbacks: past it, or 0
 * when the record is declined (by a callback, or not being JSON that
 * jansson takes).  The callbacks bound the depth (SKIP_MAX_DEPTH). */
static size_t drive(sl_json_cells *jc, const char *s, size_t i, size_t n)
{
    i = sl_json_ws(s, i, n);
    if (i >= n)
        return 0;
    const unsigned char *str;
    size_t sn, end;
    switch (s[i]) {
    case '"':
        return (end = string_token(jc, s, i, n, &str, &sn)) && top_string(jc, str, sn) ? end : 0;
    case 't':
        return (end = sl_json_literal_end(s, i, n, "true")) && top_boolean(jc, 1) ? end : 0;
    case 'f':
        return (end = sl_json_literal_end(s, i, n, "false")) && top_boolean(jc, 0) ? end : 0;
    case 'n':
        return (end = sl_json_literal_end(s, i, n, "null")) && top_null(jc) ? end : 0;
    case '{':
    case '[': {
        bool object = s[i] == '{';
        char close = object ? '}' : ']';
        if (converting(jc) && jc->fnested)
            return nested_value(jc, s, i, n);
        if (!(object ? on_start_map(jc) : on_start_array(jc)))
            return 0;
        i = sl_json_ws(s, i + 1, n);
        if (i < n && s[i] == close)
            return close_nested(jc) ? i + 1 : 0;
        for (;;) {
            if (object) {
                if (i >= n || s[i] != '"' || !(i = string_token(jc, s, i, n, &str, &sn)) || !on_map_key(jc, str, sn))
                    return 0;
                i = sl_json_ws(s, i, n);
                if (i >= n || s[i] != ':')
                    return 0;
                i++;
            }
            if (!(i = drive(jc, s, i, n)))
                return 0;
            i = sl_json_ws(s, i, n);
            if (i < n && s[i] == ',') {
                i = sl_json_ws(s, i + 1, n);
                continue;
            }
            return i < n && s[i] == close && close_nested(jc) ? i + 1 : 0;
        }
    }
    default: {
        bool real, exponent;
        end = sl_json_number_end(s, i, n, &real, &exponent);
        return end && top_number(jc, s + i, end - i) ? end : 0;
    }
    }
}

/* ---- the reader ---- */

sl_json_cells *sl_json_cells_new(const sl_mapping *m)
{
    const sl_route_conf *r = m->route;
    const sl_table *t = m->table;
    if ((r->format != SL_FMT_JSON && r->format != SL_FMT_DEBEZIUM && r->format != SL_FMT_JSON_SCHEMA) ||
        !sl_cells_plain(m) || (r->chain && r->format != SL_FMT_JSON))
        return NULL;
    const char **cols = sl_xcalloc(t->ncols, sizeof(char *));
    for (size_t c = 0; c < t->ncols; c++)
        cols[c] = t->cols[c].name;
    sl_tx_plan *plan = r->chain ? sl_tx_plan_new(r->chain, cols, t->ncols) : NULL;
    if (r->chain && !plan) {
        free(cols);
        return NULL;
    }
    sl_json_cells *jc = sl_xcalloc(1, sizeof(*jc));
    jc->m = m;
    jc->t = t;
    size_t nnames = t->ncols;
    jc->names = cols;
    if (plan) {
        /* the record's fields are found by the plan's names */
        jc->plan = plan;
        jc->run = sl_tx_run_new(plan);
        size_t all = sl_tx_plan_count(plan);
        nnames = sl_tx_plan_fields(plan);
        jc->names = sl_xcalloc(all, sizeof(char *));
        jc->pcol = sl_xcalloc(all, sizeof(long));
        for (size_t i = 0; i < all; i++) {
            const char *final = sl_tx_plan_final(plan, i);
            jc->names[i] = sl_tx_plan_name(plan, i);
            jc->pcol[i] = final ? -2 : -1;
            for (size_t c = 0; final && c < t->ncols; c++)
                if (!strcmp(cols[c], final)) {
                    jc->pcol[i] = t->cols[c].generated ? -1 : (long)c; /* the mapper ignores generated ones */
                    break;
                }
        }
        free(cols);
    }
    jc->nslots = 16;
    while (jc->nslots < nnames * 2)
        jc->nslots *= 2;
    jc->slots = sl_xcalloc(jc->nslots, sizeof(*jc->slots));
    for (size_t c = 0; c < nnames; c++) {
        const char *name = jc->names[c];
        size_t i = name_hash((const unsigned char *)name, strlen(name)) & (jc->nslots - 1);
        while (jc->slots[i])
            i = (i + 1) & (jc->nslots - 1);
        jc->slots[i] = (uint32_t)c + 1;
    }
    return jc;
}

void sl_json_cells_free(sl_json_cells *jc)
{
    if (!jc)
        return;
    sl_strbuf_free(&jc->str);
    sl_strbuf_free(&jc->tmp);
    sl_tx_run_free(jc->run);
    sl_tx_plan_free(jc->plan);
    free(jc->names);
    free(jc->pcol);
    free(jc->slots);
    free(jc);
}

static int run(sl_json_cells *jc, const char *text, size_t len, sl_rowbuilder *b)
{
    if (!text || len == 0 || !sl_utf8_strict((const unsigned char *)text, len))
        return 0;
    const sl_table *t = jc->t;
    sl_rowbuilder_start(b, (uint32_t)t->ncols);
    jc->b = b;
    jc->col = -1;
    jc->depth = 0;
    jc->done = false;
    jc->in_row = false;
    jc->fschema = NULL;
    jc->fnested = false;
    jc->cur = -1;
    jc->stepping = false;
    size_t end = drive(jc, text, 0, len);
    /* after the object only whitespace: anything else would be a second value */
    if (!end || !jc->done || sl_json_ws(text, end, len) != len)
        return 0;
    if (jc->plan) {
        int rc = sl_tx_run_finish(jc->run, put_added, jc);
        if (rc)
            return rc < 0 ? 0 : 2; /* 2: a filter drops it */
    }
    for (size_t k = 0; k < t->nkey; k++)
        if (b->len[t->key[k]] < 0 && !t->cols[t->key[k]].computed)
            return 0; /* absent (the record key may hold it) or null: the general path decides;
                       * a computed key column is the database's to fill, as in the mapper */
    return 1;
}

int sl_json_cells_map(sl_json_cells *jc, const sl_record *rec, sl_rowbuilder *b)
{
    jc->refuse = NULL;
    jc->only = NULL;
    jc->conv = NULL;
    jc->token = NULL;
    jc->rec = rec;
    if (jc->plan)
        sl_tx_run_start(jc->run, rec);
    return run(jc, rec->value, rec->value_len, b);
}

int sl_json_cells_map_row(sl_json_cells *jc, const char *row, size_t len, const json_t *only,
                          sl_json_cells_convert conv, sl_json_cells_convert_token token, const char *const *refuse,
                          sl_rowbuilder *b)
{
    jc->refuse = refuse;
    jc->only = only;
    jc->conv = conv;
    jc->token = token;
    jc->rec = NULL;
    return run(jc, row, len, b);
}

int sl_json_cells_key_row(sl_json_cells *jc, const json_t *key, sl_rowbuilder *b)
{
    const sl_table *t = jc->t;
    if (!json_is_object(key))
        return 0;
    sl_rowbuilder_start(b, (uint32_t)t->ncols);
    for (size_t i = 0; i < t->ncols; i++) { /* in the mapper's order */
        if (!t->cols[i].in_key || t->cols[i].generated)
            continue; /* a delete's row holds its key alone; generated columns never */
        const json_t *v = json_object_get(key, t->cols[i].name);
        if (!v || json_is_null(v) || sl_map_cell(jc->m, b, (uint32_t)i, v, &jc->err))
            return 0; /* absent: the general path may find it in the delete's "before" */
    }
    return 1;
}

/* ---- behind cells.h ---- */

static void *cells_new(const sl_mapping *m, struct sl_registry *reg)
{
    (void)reg;
    return sl_json_cells_new(m);
}

static void cells_free(void *r)
{
    sl_json_cells_free(r);
}

static int cells_map(void *r, sl_decoder *d, const sl_record *rec, sl_rowbuilder *b)
{
    (void)d;
    return sl_json_cells_map(r, rec, b);
}

const sl_cells_ops sl_json_cells_ops = {.new = cells_new, .free = cells_free, .map = cells_map, .transforms = true};
