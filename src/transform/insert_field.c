/* insert_field.c - add fields: fixed text (`static`) and the record's Kafka
 * coordinates, as Kafka Connect's InsertField does (topic.field,
 * partition.field, offset.field, timestamp.field, static.field/value).
 * Connect writes the timestamp as a Timestamp; sluice as its ISO 8601 UTC
 * text, which a timestamp column takes. */
#include "transform_int.h"
#include "sluice/textfmt.h"

static const char *const keys[] = {"static", "topic_field", "partition_field", "offset_field", "timestamp_field", NULL};

static int init(sl_tx *t, const char **badkey, sl_error *err)
{
    const sl_transform_conf *c = t->conf;
    *badkey = "static";
    if (!c->nstatic_fields && !c->topic_field && !c->partition_field && !c->offset_field && !c->timestamp_field)
        return sl_error_set(err, SL_ERR_FATAL, "insert_field needs static or a *_field key");
    return 0;
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)err;
    const sl_transform_conf *c = t->conf;
    for (size_t i = 0; i < c->nstatic_fields; i++)
        json_object_set_new(ch->value, c->static_fields[i].key, json_string(c->static_fields[i].value));
    if (c->topic_field)
        json_object_set_new(ch->value, c->topic_field, json_string(rec->topic));
    if (c->partition_field)
        json_object_set_new(ch->value, c->partition_field, json_integer(rec->partition));
    if (c->offset_field)
        json_object_set_new(ch->value, c->offset_field, json_integer(rec->offset));
    if (c->timestamp_field) {
        json_t *ts = json_null();
        int64_t us;
        if (rec->timestamp >= 0 && !__builtin_mul_overflow(rec->timestamp, 1000, &us)) {
            sl_strbuf sb = SL_STRBUF_INIT;
            sl_fmt_timestamp_us(&sb, us, true);
            ts = json_string(sb.data);
            sl_strbuf_free(&sb);
        }
        json_object_set_new(ch->value, c->timestamp_field, ts);
    }
    return 0;
}

const sl_tx_ops sl_tx_insert_field = {
    .name = "insert_field", .keys = keys, .shapes = true, .init = init, .apply = apply,
};
