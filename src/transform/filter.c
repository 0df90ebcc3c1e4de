/* filter.c - drop records by a predicate over a field's value, the topic
 * or a header.  Kafka Connect's Filter (KIP-585) drops a record when its
 * predicate holds, keeps it when `negate` is set and it does not; the field
 * predicates are sluice's own, since Connect's predicates test only the
 * topic name, a header's presence and tombstones.  Field predicates filter
 * upserts only: a delete is never dropped by a row's values; the topic and
 * header predicates drop deletes too, as Connect's do tombstones. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"

typedef struct {
    regex_t re;
    bool has_re;
    double *num;     /* per operand (value, or each of values): its number */
    bool *is_num;    /* ... when it is one */
} filter_state;

static const char *const keys[] = {"field", "predicate", "value", "values", "negate", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    const sl_transform_conf *c = t->conf;
    *badkey = "predicate";
    if (c->predicate < 0)
        return sl_error_set(err, SL_ERR_FATAL, "filter needs a predicate");
    bool on_field = c->predicate != SL_PRED_TOPIC_MATCHES && c->predicate != SL_PRED_HAS_HEADER;
    bool needs_value = c->predicate != SL_PRED_NULL && c->predicate != SL_PRED_NOT_NULL && c->predicate != SL_PRED_IN;
    *badkey = "field";
    if (on_field && !c->field)
        return sl_error_set(err, SL_ERR_FATAL, "this predicate needs a field");
    if (!on_field && c->field)
        return sl_error_set(err, SL_ERR_FATAL, "this predicate tests no field");
    *badkey = "value";
    if (needs_value && !c->value)
        return sl_error_set(err, SL_ERR_FATAL, "this predicate needs a value");
    if (!needs_value && c->value)
        return sl_error_set(err, SL_ERR_FATAL, "this predicate takes no value");
    *badkey = "values";
    if ((c->predicate == SL_PRED_IN) != (c->nvalues > 0))
        return sl_error_set(err, SL_ERR_FATAL, "values go with predicate in, and it needs them");
    filter_state *s = sl_xcalloc(1, sizeof(*s));
    t->state = s;
    size_t nops = c->nvalues ? c->nvalues : 1;
    s->num = sl_xcalloc(nops, sizeof(double));
    s->is_num = sl_xcalloc(nops, sizeof(bool));
    for (size_t i = 0; i < nops; i++) {
        const char *op = c->nvalues ? c->values[i] : c->value;
        if (op) {
            json_t *j = json_string(op);
            s->is_num[i] = sl_tx_number(j, &s->num[i]);
            json_decref(j);
        }
    }
    if (c->predicate == SL_PRED_REGEX || c->predicate == SL_PRED_TOPIC_MATCHES) {
        *badkey = "value";
        if (regcomp(&s->re, c->value, REG_EXTENDED | REG_NOSUB))
            return sl_error_set(err, SL_ERR_FATAL, "invalid regular expression '%s'", c->value);
        s->has_re = true;
    }
    return 0;
}

static void fini(sl_tx *t)
{
    filter_state *s = t->state;
    if (s && s->has_re)
        regfree(&s->re);
    if (s) {
        free(s->num);
        free(s->is_num);
    }
    free(s);
}

/* -1, 0, 1 as @v compares with operand @i (its text @operand): as numbers
 * when both are, else as text; 2 when @v is null or absent (no comparison
 * holds). */
static int compare(const filter_state *s, size_t i, const json_t *v, const char *operand, sl_strbuf *tmp)
{
    if (!v || json_is_null(v))
        return 2;
    double a;
    if (s->is_num[i] && sl_tx_number(v, &a))
        return a < s->num[i] ? -1 : a > s->num[i];
    if (json_is_string(v)) {
        int r = strcmp(json_string_value(v), operand);
        return r < 0 ? -1 : r > 0;
    }
    sl_strbuf_reset(tmp);
    sl_tx_text(v, tmp);
    int r = strcmp(tmp->data ? tmp->data : "", operand);
    return r < 0 ? -1 : r > 0;
}

/* Whether the predicate holds for @rec, whose tested field has value @v (NULL: absent). */
static bool holds(const sl_tx *t, const sl_record *rec, const json_t *v)
{
    const sl_transform_conf *c = t->conf;
    const filter_state *s = t->state;
    if (c->predicate == SL_PRED_TOPIC_MATCHES)
        return regexec(&s->re, rec->topic, 0, NULL, 0) == 0;
    if (c->predicate == SL_PRED_HAS_HEADER) {
        const void *v;
        size_t n;
        return sl_record_header(rec, c->value, &v, &n) == 1;
    }
    bool null = !v || json_is_null(v);
    sl_strbuf tmp = SL_STRBUF_INIT;
    bool r = false;
    switch ((sl_tx_predicate)c->predicate) {
    case SL_PRED_NULL: r = null; break;
    case SL_PRED_NOT_NULL: r = !null; break;
    case SL_PRED_EQUALS: r = compare(s, 0, v, c->value, &tmp) == 0; break;
    case SL_PRED_NOT_EQUALS: r = !null && compare(s, 0, v, c->value, &tmp) != 0; break;
    case SL_PRED_LT: r = compare(s, 0, v, c->value, &tmp) == -1; break;
    case SL_PRED_LE: { int x = compare(s, 0, v, c->value, &tmp); r = x == -1 || x == 0; break; }
    case SL_PRED_GT: r = compare(s, 0, v, c->value, &tmp) == 1; break;
    case SL_PRED_GE: { int x = compare(s, 0, v, c->value, &tmp); r = x == 1 || x == 0; break; }
    case SL_PRED_IN:
        for (size_t i = 0; i < c->nvalues && !r; i++)
            r = compare(s, i, v, c->values[i], &tmp) == 0;
        break;
    case SL_PRED_REGEX:
        if (!null && !json_is_object(v) && !json_is_array(v)) {
            sl_tx_text(v, &tmp);
            r = regexec(&s->re, tmp.data ? tmp.data : "", 0, NULL, 0) == 0;
        }
        break;
    default: break;
    }
    sl_strbuf_free(&tmp);
    return r;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)err;
    bool on_field = t->conf->predicate != SL_PRED_TOPIC_MATCHES && t->conf->predicate != SL_PRED_HAS_HEADER;
    if (ch->op != SL_OP_UPSERT && on_field)
        return 0;
    const json_t *v = on_field ? sl_tx_field(ch->value, t->conf->field) : NULL;
    return holds(t, rec, v) != t->conf->negate ? 1 : 0;
}

static int field(const sl_tx *t, const sl_record *rec, const char *name, json_t **v, sl_error *err)
{
    (void)name;
    (void)err;
    return holds(t, rec, *v) != t->conf->negate ? 1 : 0;
}

const sl_tx_ops sl_tx_filter = {
    .name = "filter", .keys = keys, .deletes_too = true, .init = init, .fini = fini, .apply = apply, .field = field,
};
