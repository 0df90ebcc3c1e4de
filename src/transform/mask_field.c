/* mask_field.c - hide field values, as Kafka Connect's MaskField does:
 * each field becomes the empty value of its type (0, false, "", an empty
 * object or list), or the `value` replacement (a number where the field
 * is a number: Connect refuses a replacement that is not one, and so does
 * sluice).  Null and absent fields stay as they are. */
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"

static const char *const keys[] = {"fields", "value", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "fields";
    if (!t->conf->nfields)
        return sl_error_set(err, SL_ERR_FATAL, "mask_field needs fields");
    return 0;
}

/* The masked value of @v (field @f, neither null nor absent), or NULL with @err. */
static json_t *mask(const sl_tx *t, const char *f, const json_t *v, sl_error *err)
{
    const char *rep = t->conf->value;
    json_t *out;
    switch (json_typeof(v)) {
    case JSON_STRING: out = json_string(rep ? rep : ""); break;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = 0;
        if (rep) {
            json_t *r = json_string(rep);
            bool ok = sl_tx_number(r, &d);
            json_decref(r);
            if (!ok)
                return sl_tx_fail(t, err, "%s: the replacement '%s' is not a number", f, rep), NULL;
        }
        bool whole = d > -9e18 && d < 9e18 && d == (double)(json_int_t)d;
        out = json_is_integer(v) && whole ? json_integer((json_int_t)d) : json_real(d);
        break;
    }
    case JSON_TRUE:
    case JSON_FALSE: out = json_false(); break;
    case JSON_OBJECT: out = json_object(); break;
    default: out = json_array(); break;
    }
    return out;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    for (size_t i = 0; i < t->conf->nfields; i++) {
        const char *f = t->conf->fields[i];
        json_t *v = sl_tx_field(ch->value, f);
        if (!v || json_is_null(v))
            continue;
        json_t *out = mask(t, f, v, err);
        if (!out)
            return -1;
        if (sl_tx_field_set(ch->value, f, out))
            return sl_tx_fail(t, err, "%s: cannot be set", f);
    }
    return 0;
}

static int field(const sl_tx *t, const sl_record *rec, const char *name, json_t **v, sl_error *err)
{
    (void)rec;
    for (size_t i = 0; i < t->conf->nfields; i++) {
        if (strcmp(t->conf->fields[i], name) || !*v || json_is_null(*v))
            continue;
        json_t *out = mask(t, name, *v, err);
        if (!out)
            return -1;
        json_decref(*v);
        *v = out;
    }
    return 0;
}

const sl_tx_ops sl_tx_mask_field = {
    .name = "mask_field", .keys = keys, .init = init, .apply = apply, .field = field,
};
