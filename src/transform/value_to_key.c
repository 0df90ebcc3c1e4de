/* value_to_key.c - the record key made of value fields, as Kafka Connect's
 * ValueToKey does: the key becomes an object of `fields` (a missing field
 * is null there, as in Connect's schemaless case).  Deletes keep their
 * record key: they carry no value to take it from. */
#include "transform_int.h"

static const char *const keys[] = {"fields", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    *badkey = "fields";
    if (!t->conf->nfields)
        return sl_error_set(err, SL_ERR_FATAL, "value_to_key needs fields");
    return 0;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    (void)err;
    json_t *key = json_object();
    for (size_t i = 0; i < t->conf->nfields; i++) {
        json_t *v = sl_tx_field(ch->value, t->conf->fields[i]);
        json_object_set(key, t->conf->fields[i], v ? v : json_null());
    }
    json_decref(ch->key);
    ch->key = key;
    return 0;
}

const sl_tx_ops sl_tx_value_to_key = {
    .name = "value_to_key", .keys = keys, .init = init, .apply = apply,
};
