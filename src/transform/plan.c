/* plan.c - a route's chain compiled for a direct reader (transform.h,
 * sl_tx_plan): which name each top-level field ends under and which
 * transforms read or change its value, worked out once from the names
 * alone; per record, each such transform's field() (the code its apply()
 * runs for one field) takes the value of the one field it concerns, so
 * values are converted, tested and masked as on the general path. */
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"

typedef struct {
    size_t tx;          /* the transform's index in the chain */
    const char *name;   /* the field's name when it runs */
} step;

typedef struct {
    char *name;         /* the record's field name, or the added field's */
    const char *cur;    /* while planning: its name after the transforms so far */
    bool alive;
    step *steps;
    size_t nsteps;
    bool changes;       /* some step changes the value (not only filters) */
    size_t born;        /* an added field: the index of the transform that adds it */
} entity;

struct sl_tx_plan {
    const sl_tx_chain *c;
    entity *e;
    size_t n, nfields;        /* all names; the record's (the added ones follow) */
    size_t (*pairs)[2];       /* fields that would meet under one name */
    size_t npairs;
    bool drops_others, no_objects;
};

struct sl_tx_run {
    const sl_tx_plan *p;
    const sl_record *rec;
    bool *present;      /* per name: in this record */
    bool *seen;         /* per transform: a field filter that has run on its field */
    bool drop;
};

static bool on_field(const sl_transform_conf *c)
{
    return c->predicate != SL_PRED_TOPIC_MATCHES && c->predicate != SL_PRED_HAS_HEADER;
}

static bool listed(char *const *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i], name))
            return true;
    return false;
}

static long find(const sl_tx_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->e[i].name, name))
            return (long)i;
    return -1;
}

/* A name the chain or the table mentions; @born SIZE_MAX for a record's field. */
static void add_name(sl_tx_plan *p, const char *name, size_t born)
{
    if (born == SIZE_MAX && find(p, name) >= 0)
        return;
    p->e = sl_xrealloc(p->e, (p->n + 1) * sizeof(entity));
    entity *e = &p->e[p->n++];
    memset(e, 0, sizeof(*e));
    e->name = sl_xstrdup(name);
    e->cur = e->name;
    e->alive = born == SIZE_MAX;
    e->born = born;
}

static void add_step(entity *e, size_t tx, const char *name, bool changes)
{
    e->changes |= changes;
    e->steps = sl_xrealloc(e->steps, (e->nsteps + 1) * sizeof(step));
    e->steps[e->nsteps++] = (step){tx, name};
}

/* The fields transform @t adds (insert_field, header_to_value), one call each. */
static void added_names(const sl_transform_conf *c, void (*f)(sl_tx_plan *, const char *, size_t), sl_tx_plan *p,
                        size_t tx)
{
    if (c->type == SL_TX_HEADER_TO_VALUE) {
        for (size_t i = 0; i < c->nfields; i++)
            f(p, c->fields[i], tx);
        return;
    }
    for (size_t i = 0; i < c->nstatic_fields; i++)
        f(p, c->static_fields[i].key, tx);
    const char *more[] = {c->topic_field, c->partition_field, c->offset_field, c->timestamp_field};
    for (size_t i = 0; i < 4; i++)
        if (more[i])
            f(p, more[i], tx);
}

static void add_field_name(sl_tx_plan *p, const char *name, size_t tx)
{
    (void)tx;
    add_name(p, name, SIZE_MAX);
}

static void add_born(sl_tx_plan *p, const char *name, size_t tx)
{
    for (size_t i = p->nfields; i < p->n; i++)
        if (p->e[i].born == tx && !strcmp(p->e[i].name, name))
            return; /* set twice by one transform: the last value wins, in its apply() too */
    add_name(p, name, tx);
}

/* Every name the chain mentions, so that a name it does not know passes
 * every transform untouched. */
static bool mention(sl_tx_plan *p, const sl_transform_conf *c)
{
    switch ((sl_transform_type)c->type) {
    case SL_TX_FILTER:
    case SL_TX_TIMESTAMP_CONVERTER:
        if (c->field && c->field[0] == '/')
            return false; /* a field inside another */
        if (c->field)
            add_name(p, c->field, SIZE_MAX);
        return true;
    case SL_TX_REPLACE_FIELD:
        for (size_t i = 0; i < c->ninclude; i++)
            add_name(p, c->include[i], SIZE_MAX);
        for (size_t i = 0; i < c->nexclude; i++)
            add_name(p, c->exclude[i], SIZE_MAX);
        for (size_t i = 0; i < c->nrename; i++) {
            for (size_t j = 0; j < i; j++)
                if (!strcmp(c->rename[i].key, c->rename[j].key))
                    return false; /* one field under two new names */
            add_name(p, c->rename[i].key, SIZE_MAX);
            add_name(p, c->rename[i].value, SIZE_MAX);
        }
        return true;
    case SL_TX_CAST:
        for (size_t i = 0; i < c->nspec; i++)
            add_name(p, c->spec[i].key, SIZE_MAX);
        return true;
    case SL_TX_MASK_FIELD:
        for (size_t i = 0; i < c->nfields; i++) {
            if (c->fields[i][0] == '/')
                return false;
            add_name(p, c->fields[i], SIZE_MAX);
        }
        return true;
    case SL_TX_INSERT_FIELD:
    case SL_TX_HEADER_TO_VALUE:
        added_names(c, add_field_name, p, 0);
        return true;
    case SL_TX_FLATTEN:
        return true;
    default:
        return false; /* value_to_key */
    }
}

static bool spec_names(const sl_transform_conf *c, const char *name)
{
    for (size_t i = 0; i < c->nspec; i++)
        if (!strcmp(c->spec[i].key, name))
            return true;
    return false;
}

/* Transform @tx over every living name. */
static void plan_step(sl_tx_plan *p, size_t tx)
{
    const sl_transform_conf *c = sl_tx_chain_at(p->c, tx)->conf;
    switch ((sl_transform_type)c->type) {
    case SL_TX_FILTER:
        if (on_field(c))
            for (size_t i = 0; i < p->n; i++)
                if (p->e[i].alive && !strcmp(p->e[i].cur, c->field))
                    add_step(&p->e[i], tx, c->field, false);
        break;
    case SL_TX_TIMESTAMP_CONVERTER:
        for (size_t i = 0; i < p->n; i++)
            if (p->e[i].alive && !strcmp(p->e[i].cur, c->field))
                add_step(&p->e[i], tx, c->field, true);
        break;
    case SL_TX_CAST:
    case SL_TX_MASK_FIELD:
        for (size_t i = 0; i < p->n; i++)
            if (p->e[i].alive &&
                (c->type == SL_TX_CAST ? spec_names(c, p->e[i].cur) : listed(c->fields, c->nfields, p->e[i].cur)))
                add_step(&p->e[i], tx, p->e[i].cur, true);
        break;
    case SL_TX_REPLACE_FIELD:
        if (c->ninclude)
            p->drops_others = true;
        for (size_t i = 0; i < p->n; i++) {
            entity *e = &p->e[i];
            if (e->alive && ((c->ninclude && !listed(c->include, c->ninclude, e->cur)) ||
                             listed(c->exclude, c->nexclude, e->cur)))
                e->alive = false;
        }
        for (size_t i = 0; i < p->n; i++) {
            entity *e = &p->e[i];
            for (size_t k = 0; e->alive && k < c->nrename; k++)
                if (!strcmp(e->cur, c->rename[k].key)) {
                    e->cur = c->rename[k].value;
                    break;
                }
        }
        break;
    case SL_TX_INSERT_FIELD:
    case SL_TX_HEADER_TO_VALUE:
        /* the added fields come alive here; a record's field of the same
         * name meets one of them below */
        for (size_t i = p->nfields; i < p->n; i++)
            if (p->e[i].born == tx)
                p->e[i].alive = true;
        break;
    case SL_TX_FLATTEN:
        p->no_objects = true;
        break;
    default:
        break;
    }
}

/* Pairs of living names that are now one name: a record that has both
 * needs the general path (one overwrites the other there). */
static void meet(sl_tx_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (size_t j = i + 1; j < p->n; j++) {
            if (!p->e[i].alive || !p->e[j].alive || strcmp(p->e[i].cur, p->e[j].cur))
                continue;
            bool known = false;
            for (size_t k = 0; k < p->npairs && !known; k++)
                known = p->pairs[k][0] == i && p->pairs[k][1] == j;
            if (!known) {
                p->pairs = sl_xrealloc(p->pairs, (p->npairs + 1) * sizeof(*p->pairs));
                p->pairs[p->npairs][0] = i;
                p->pairs[p->npairs++][1] = j;
            }
        }
}

sl_tx_plan *sl_tx_plan_new(const sl_tx_chain *c, const char *const *cols, size_t ncols)
{
    sl_tx_plan *p = sl_xcalloc(1, sizeof(*p));
    p->c = c;
    size_t n = sl_tx_chain_len(c);
    for (size_t i = 0; i < ncols; i++)
        add_name(p, cols[i], SIZE_MAX);
    for (size_t i = 0; i < n; i++)
        if (!mention(p, sl_tx_chain_at(c, i)->conf)) {
            sl_tx_plan_free(p);
            return NULL;
        }
    p->nfields = p->n;
    for (size_t i = 0; i < n; i++) {
        const sl_transform_conf *tc = sl_tx_chain_at(c, i)->conf;
        if (tc->type == SL_TX_INSERT_FIELD || tc->type == SL_TX_HEADER_TO_VALUE)
            added_names(tc, add_born, p, i);
    }
    for (size_t i = 0; i < n; i++) {
        plan_step(p, i);
        meet(p);
    }
    for (size_t k = 0; k < p->npairs; k++)
        if (p->pairs[k][0] >= p->nfields) { /* two added fields: in every record */
            sl_tx_plan_free(p);
            return NULL;
        }
    return p;
}

void sl_tx_plan_free(sl_tx_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->e[i].name);
        free(p->e[i].steps);
    }
    free(p->e);
    free(p->pairs);
    free(p);
}

size_t sl_tx_plan_count(const sl_tx_plan *p)
{
    return p->n;
}

size_t sl_tx_plan_fields(const sl_tx_plan *p)
{
    return p->nfields;
}

const char *sl_tx_plan_name(const sl_tx_plan *p, size_t i)
{
    return p->e[i].name;
}

const char *sl_tx_plan_final(const sl_tx_plan *p, size_t i)
{
    return p->e[i].alive ? p->e[i].cur : NULL;
}

bool sl_tx_plan_steps(const sl_tx_plan *p, size_t i)
{
    return p->e[i].nsteps > 0;
}

bool sl_tx_plan_changes(const sl_tx_plan *p, size_t i)
{
    return p->e[i].changes;
}

bool sl_tx_plan_drops_others(const sl_tx_plan *p)
{
    return p->drops_others;
}

bool sl_tx_plan_no_objects(const sl_tx_plan *p)
{
    return p->no_objects;
}

/* ---- per record ---- */

sl_tx_run *sl_tx_run_new(const sl_tx_plan *p)
{
    sl_tx_run *r = sl_xcalloc(1, sizeof(*r));
    r->p = p;
    r->present = sl_xcalloc(p->n ? p->n : 1, sizeof(bool));
    r->seen = sl_xcalloc(sl_tx_chain_len(p->c) + 1, sizeof(bool));
    return r;
}

void sl_tx_run_free(sl_tx_run *r)
{
    if (!r)
        return;
    free(r->present);
    free(r->seen);
    free(r);
}

void sl_tx_run_start(sl_tx_run *r, const sl_record *rec)
{
    memset(r->present, 0, r->p->n * sizeof(bool));
    memset(r->seen, 0, sl_tx_chain_len(r->p->c) * sizeof(bool));
    r->rec = rec;
    r->drop = false;
}

/* Transform @tx on field @name, whose value is *@v (NULL: absent, when
 * @v is NULL): its field() (transform_int.h), the very code its apply()
 * runs; *@v becomes the field's value after it. */
static int run_one(sl_tx_run *r, size_t tx, const char *name, json_t **v)
{
    const sl_tx *t = sl_tx_chain_at(r->p->c, tx);
    json_t *none = NULL;
    sl_error err;
    int rc = sl_tx_ops_of(t->conf->type)->field(t, r->rec, name, v ? v : &none, &err);
    json_decref(none);
    if (rc < 0 || (v && !*v))
        return -1; /* its message is the general path's to give */
    if (rc == 1)
        r->drop = true;
    r->seen[tx] = true;
    return 0;
}

static int run_steps(sl_tx_run *r, const entity *e, json_t **v)
{
    for (size_t s = 0; s < e->nsteps; s++)
        if (run_one(r, e->steps[s].tx, e->steps[s].name, v))
            return -1;
    return 0;
}

int sl_tx_run_field(sl_tx_run *r, size_t i, json_t **v)
{
    if (r->present[i])
        return -1; /* given twice */
    r->present[i] = true;
    return v ? run_steps(r, &r->p->e[i], v) : 0;
}

bool sl_tx_run_dropped(const sl_tx_run *r)
{
    return r->drop;
}

int sl_tx_run_finish(sl_tx_run *r, int (*put)(void *ctx, size_t i, const json_t *v), void *ctx)
{
    const sl_tx_plan *p = r->p;
    size_t n = sl_tx_chain_len(p->c);
    for (size_t tx = 0; tx < n; tx++) {
        const sl_tx *t = sl_tx_chain_at(p->c, tx);
        int type = t->conf->type;
        if (type == SL_TX_INSERT_FIELD || type == SL_TX_HEADER_TO_VALUE) {
            /* the transform's own apply() makes the values */
            json_t *made = json_object();
            sl_change ch = {.op = SL_OP_UPSERT, .value = made};
            sl_error err;
            int rc = sl_tx_ops_of(type)->apply(t, r->rec, &ch, &err);
            for (size_t i = p->nfields; rc == 0 && i < p->n; i++) {
                if (p->e[i].born != tx)
                    continue;
                json_t *v = json_incref(json_object_get(made, p->e[i].name));
                r->present[i] = true;
                if (!v || run_steps(r, &p->e[i], &v) || (p->e[i].alive && put(ctx, i, v)))
                    rc = -1;
                json_decref(v);
            }
            json_decref(made);
            if (rc)
                return -1;
        } else if (type == SL_TX_FILTER && !r->seen[tx]) {
            /* the topic, a header, or a field the record lacks */
            if (run_one(r, tx, t->conf->field, NULL))
                return -1;
        }
    }
    for (size_t k = 0; k < p->npairs; k++)
        if (r->present[p->pairs[k][0]] && r->present[p->pairs[k][1]])
            return -1;
    return r->drop ? 1 : 0;
}
