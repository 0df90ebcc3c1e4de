/* replace_field.c - keep, drop and rename top-level fields, with Kafka
 * Connect's ReplaceField semantics: a field is kept when it is not in
 * `exclude` and `include` is empty or names it (exclude wins), then
 * `rename` renames what is left.  Runs on deletes' fields too, so a
 * renamed key field still finds its column. */
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"

static const char *const keys[] = {"include", "exclude", "rename", NULL};

static bool listed(char *const *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i], name))
            return true;
    return false;
}

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    const sl_transform_conf *c = t->conf;
    *badkey = "include";
    if (!c->ninclude && !c->nexclude && !c->nrename)
        return sl_error_set(err, SL_ERR_FATAL, "replace_field needs include, exclude or rename");
    *badkey = "rename";
    for (size_t i = 0; i < c->nrename; i++)
        if (!*c->rename[i].value)
            return sl_error_set(err, SL_ERR_FATAL, "'%s' renamed to an empty name", c->rename[i].key);
    return 0;
}

/* In place: the fields dropped, then the renamed ones moved. */
static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    (void)err;
    const sl_transform_conf *c = t->conf;
    if (!json_is_object(ch->value))
        return 0;
    json_t *v = ch->value;
    if (c->ninclude) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, x) {
            if (!listed(c->include, c->ninclude, k))
                json_object_del(v, k);
        }
    }
    for (size_t i = 0; i < c->nexclude; i++)
        json_object_del(v, c->exclude[i]);
    if (!c->nrename)
        return 0;
    /* renames all read the fields as they were: a -> b and b -> a swap */
    json_t **moved = sl_xcalloc(c->nrename, sizeof(json_t *));
    for (size_t i = 0; i < c->nrename; i++) {
        json_t *x = json_object_get(v, c->rename[i].key);
        if (x)
            moved[i] = json_incref(x);
    }
    for (size_t i = 0; i < c->nrename; i++)
        if (moved[i])
            json_object_del(v, c->rename[i].key);
    for (size_t i = 0; i < c->nrename; i++)
        if (moved[i])
            json_object_set_new(v, c->rename[i].value, moved[i]);
    free(moved);
    return 0;
}

const sl_tx_ops sl_tx_replace_field = {
    .name = "replace_field", .keys = keys, .shapes = true, .deletes_too = true, .init = init, .apply = apply,
};
