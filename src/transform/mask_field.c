/* mask_field.c - hide field values, as Kafka Connect's MaskField does:
 * each field becomes the empty value of its type (0, false, "", an empty
 * object or list), or the `value` replacement (a number where the field
 * is a number: Connect refuses a replacement that is not one, and so does
 * sluice).  Null and absent fields stay as they are. */
#include <stdlib.h>

#include "transform_int.h"

static const char *const keys[] = {"fields", "value", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "fields";
    if (!t->conf->nfields)
        return sl_error_set(err, SL_ERR_FATAL, "mask_field needs fields");
    return 0;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    const char *rep = t->conf->value;
    for (size_t i = 0; i < t->conf->nfields; i++) {
        const char *f = t->conf->fields[i];
        json_t *v = sl_tx_field(ch->value, f);
        if (!v || json_is_null(v))
            continue;
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
                    return sl_tx_fail(t, err, "%s: the replacement '%s' is not a number", f, rep);
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
        if (sl_tx_field_set(ch->value, f, out))
            return sl_tx_fail(t, err, "%s: cannot be set", f);
    }
    return 0;
}

const sl_tx_ops sl_tx_mask_field = {
    .name = "mask_field", .keys = keys, .init = init, .apply = apply,
};
