/* cast.c - fields to another primitive type, as Kafka Connect's Cast does
 * (spec field:type with int8, int16, int32, int64, float32, float64,
 * boolean, string): numbers from text or numbers (fractions cut toward
 * zero), booleans from numbers (non-zero) or text ("true" in any case, as
 * Java's parseBoolean), text from anything.  Where Connect wraps an integer
 * that does not fit, sluice refuses the record (it goes to on_error). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transform_int.h"

static const char *const keys[] = {"spec", NULL};
static const char *const types[] = {"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", NULL};
static const int64_t lim[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};

static int type_of(const char *s)
{
    for (int i = 0; types[i]; i++)
        if (!strcmp(types[i], s))
            return i;
    return -1;
}

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "spec";
    if (!t->conf->nspec)
        return sl_error_set(err, SL_ERR_FATAL, "cast needs a spec");
    for (size_t i = 0; i < t->conf->nspec; i++)
        if (type_of(t->conf->spec[i].value) < 0)
            return sl_error_set(err, SL_ERR_FATAL, "%s: '%s' is not one of int8, int16, int32, int64, float32, "
                                "float64, boolean, string", t->conf->spec[i].key, t->conf->spec[i].value);
    return 0;
}

static json_t *cast_one(const sl_tx *t, const char *field, const json_t *v, int to, sl_error *err)
{
    if (to == 7) { /* string */
        sl_strbuf sb = SL_STRBUF_INIT;
        sl_tx_text(v, &sb);
        json_t *out = json_stringn(sb.data ? sb.data : "", sb.len);
        sl_strbuf_free(&sb);
        return out;
    }
    if (json_is_object(v) || json_is_array(v))
        return sl_tx_fail(t, err, "%s: an %s cannot be cast to %s", field, json_is_object(v) ? "object" : "array",
                          types[to]), NULL;
    if (to == 6) { /* boolean */
        if (json_is_boolean(v))
            return json_copy((json_t *)v);
        if (json_is_number(v))
            return json_boolean(json_number_value(v) != 0);
        return json_boolean(!strcasecmp(json_string_value(v), "true"));
    }
    double d;
    if (json_is_boolean(v))
        d = json_is_true(v);
    else if (!sl_tx_number(v, &d))
        return sl_tx_fail(t, err, "%s: '%s' is not a number", field, json_string_value(v)), NULL;
    if (to >= 4)
        return json_real(to == 4 ? (double)(float)d : d);
    if (json_is_integer(v)) {
        int64_t x = json_integer_value(v);
        if (x > lim[to] || x < -lim[to] - 1)
            return sl_tx_fail(t, err, "%s: %lld does not fit %s", field, (long long)x, types[to]), NULL;
        return json_integer(x);
    }
    if (json_is_string(v)) { /* exact for integer text */
        char *end;
        errno = 0;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (!*end && !errno) {
            if (x > lim[to] || x < -lim[to] - 1)
                return sl_tx_fail(t, err, "%s: %lld does not fit %s", field, x, types[to]), NULL;
            return json_integer(x);
        }
    }
    d = trunc(d);
    if (!(d < (double)lim[to] + 1 && d >= -(double)lim[to] - 1)) /* (2^63 itself is out) */
        return sl_tx_fail(t, err, "%s: %g does not fit %s", field, d, types[to]), NULL;
    return json_integer((json_int_t)d);
}

static int field(const sl_tx *t, const sl_record *rec, const char *name, json_t **v, sl_error *err)
{
    (void)rec;
    for (size_t i = 0; i < t->conf->nspec; i++) {
        if (strcmp(t->conf->spec[i].key, name) || !*v || json_is_null(*v))
            continue;
        json_t *out = cast_one(t, name, *v, type_of(t->conf->spec[i].value), err);
        if (!out)
            return -1;
        json_decref(*v);
        *v = out;
    }
    return 0;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    if (!json_is_object(ch->value))
        return 0;
    for (size_t i = 0; i < t->conf->nspec; i++) {
        const char *f = t->conf->spec[i].key;
        json_t *v = json_object_get(ch->value, f);
        if (!v || json_is_null(v))
            continue;
        json_t *out = cast_one(t, f, v, type_of(t->conf->spec[i].value), err);
        if (!out)
            return -1;
        json_object_set_new(ch->value, f, out);
    }
    return 0;
}

const sl_tx_ops sl_tx_cast = {
    .name = "cast", .keys = keys, .shapes = true, .deletes_too = true, .init = init, .apply = apply, .field = field,
};
