/* header_to_value.c - record headers into fields (Debezium's HeaderToValue
 * SMT, operation copy): the header named headers[i] becomes the field
 * fields[i]; its bytes must be UTF-8 text; a missing or null header gives
 * a null field. */
#include "transform_int.h"
#include "sluice/textfmt.h"

static const char *const keys[] = {"headers", "fields", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "fields";
    if (!t->conf->nheaders || t->conf->nheaders != t->conf->nfields)
        return sl_error_set(err, SL_ERR_FATAL, "header_to_value needs as many fields as headers (at least one)");
    return 0;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    const sl_transform_conf *c = t->conf;
    for (size_t i = 0; i < c->nheaders; i++) {
        const void *v = NULL;
        size_t n = 0;
        json_t *val = json_null();
        if (sl_record_header(rec, c->headers[i], &v, &n) == 1 && v) {
            if (!sl_utf8_strict(v, n))
                return sl_tx_fail(t, err, "header '%s' is not UTF-8 text", c->headers[i]);
            val = json_stringn(v, n);
        }
        json_object_set_new(ch->value, c->fields[i], val);
    }
    return 0;
}

const sl_tx_ops sl_tx_header_to_value = {
    .name = "header_to_value", .keys = keys, .shapes = true, .init = init, .apply = apply,
};
