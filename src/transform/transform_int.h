/* transform_int.h - what each transform (one file each in src/transform/)
 * supplies to the chain (chain.c), and the helpers they share (field.c). */
#ifndef SLUICE_TRANSFORM_INT_H
#define SLUICE_TRANSFORM_INT_H

#include <jansson.h>

#include "sluice/transform.h"

typedef struct sl_tx {
    const sl_transform_conf *conf;
    size_t index;        /* position in the route's list, for messages */
    void *state;         /* the transform's own, from init() */
} sl_tx;

typedef struct sl_tx_ops {
    const char *name;          /* the `type:` value */
    const char *const *keys;   /* the options besides `type` that apply, NULL-terminated */
    bool shapes;               /* adds, removes, renames or retypes fields */
    bool deletes_too;          /* also runs on a delete's fields (the key columns come from them) */
    /* init() - check the settings and compile them; may be NULL.  On error,
     * *@badkey names the option at fault. */
    int (*init)(sl_tx *t, const char **badkey, sl_error *err);
    void (*fini)(sl_tx *t);    /* may be NULL */
    /* apply() - 0 keep, 1 drop the record, -1 @err (SL_ERR_DATA) */
    int (*apply)(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err);
    /* field() - what apply() does to the top-level field @name of an
     * upsert, given its value alone: *@v (NULL when absent) replaced by
     * its new value (a reference is taken over and given back); 0, 1 or
     * -1 as apply().  NULL for the transforms that do not work one field
     * at a time (plan.c then runs apply() on a one-field object). */
    int (*field)(const sl_tx *t, const sl_record *rec, const char *name, json_t **v, sl_error *err);
} sl_tx_ops;

extern const sl_tx_ops sl_tx_filter, sl_tx_replace_field, sl_tx_flatten, sl_tx_insert_field, sl_tx_header_to_value,
    sl_tx_timestamp_converter, sl_tx_value_to_key, sl_tx_cast, sl_tx_mask_field;

/* chain.c: what plan.c reads of a compiled chain */
const sl_tx_ops *sl_tx_ops_of(int type);
size_t sl_tx_chain_len(const sl_tx_chain *c);
const sl_tx *sl_tx_chain_at(const sl_tx_chain *c, size_t i);

/* field.c */
/* sl_tx_field() - @obj's field @name: a top-level name, or a JSON pointer
 * ("/a/b") into nested objects; NULL when absent. */
json_t *sl_tx_field(const json_t *obj, const char *name);
/* sl_tx_field_set() - set @name (top-level name or pointer whose parents
 * exist) to @v (stolen); returns -1 (and drops @v) when a parent is missing. */
int sl_tx_field_set(json_t *obj, const char *name, json_t *v);
/* sl_tx_text() - a scalar's text as a filter compares it: strings as they
 * are, integers in decimal, reals shortest, true/false; objects and
 * arrays as compact JSON. */
void sl_tx_text(const json_t *v, sl_strbuf *out);
/* sl_tx_number() - @v (a number, or text that is one) as a double: true. */
bool sl_tx_number(const json_t *v, double *out);
/* sl_tx_type_name() - the `type:` name of transform type @type. */
const char *sl_tx_type_name(int type);
/* sl_tx_fail() - SL_ERR_DATA "transform N (type): message"; returns -1. */
int sl_tx_fail(const sl_tx *t, sl_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
