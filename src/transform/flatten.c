/* flatten.c - nested objects into top-level fields named by their path,
 * as Kafka Connect's Flatten does for schemaless values: {"a":{"b":1}}
 * becomes {"a_b":1}, arrays and scalars are kept as they are, an empty
 * object becomes nothing.  The delimiter defaults to `_` (Connect's is
 * `.`; import-connect writes Connect's explicitly). */
#include <string.h>

#include "transform_int.h"

static const char *const keys[] = {"delimiter", NULL};

static void flatten_into(json_t *out, const json_t *obj, sl_strbuf *path, const char *delim)
{
    size_t at = path->len;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        path->len = at;
        if (at)
            sl_strbuf_puts(path, delim);
        sl_strbuf_puts(path, k);
        if (json_is_object(v))
            flatten_into(out, v, path, delim);
        else
            json_object_set(out, path->data, v);
    }
    path->len = at;
    if (path->data)
        path->data[at] = '\0';
}

static int apply(const sl_tx *t, const sl_record *rec, sl_change *ch, sl_error *err)
{
    (void)rec;
    (void)err;
    if (!json_is_object(ch->value))
        return 0;
    json_t *out = json_object();
    sl_strbuf path = SL_STRBUF_INIT;
    flatten_into(out, ch->value, &path, t->conf->delimiter ? t->conf->delimiter : "_");
    sl_strbuf_free(&path);
    json_decref(ch->value);
    ch->value = out;
    return 0;
}

const sl_tx_ops sl_tx_flatten = {
    .name = "flatten", .keys = keys, .shapes = true, .deletes_too = true, .apply = apply,
};
