/* sink.c - the table of target types, choosing a sink for a target, and
 * flush bookkeeping. */
#include "sluice/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks_list.h"
#include "sluice/strbuf.h"

/* One entry a target type, `sl_sink_<name>` for each name of the list
 * src/sink/meson.build generates (sinks_list.h); a target's `type` is an
 * index into it. */
#define SL_SINK(name) extern const sl_sink_ops sl_sink_##name;
SL_SINK_LIST
#undef SL_SINK
#define SL_SINK(name) &sl_sink_##name,
const sl_sink_ops *const sl_sinks[] = {SL_SINK_LIST NULL};
#undef SL_SINK

sl_sink *sl_sink_new(const sl_target_conf *conf, int worker_id)
{
    const sl_sink_ops *ops = sl_sinks[conf->type];
    if (ops->transport)
        ops = ops->transport(conf);
    sl_sink *s = sl_xcalloc(1, sizeof(*s));
    s->ops = ops;
    s->conf = conf;
    pthread_mutex_init(&s->cancel_mu, NULL);
    snprintf(s->ctx, sizeof(s->ctx), "sink %s (worker %d)", conf->name, worker_id);
    return s;
}

void sl_sink_free(sl_sink *s)
{
    if (!s)
        return;
    if (s->ops->close)
        s->ops->close(s);
    pthread_mutex_destroy(&s->cancel_mu);
    free(s);
}

const char *sl_field_type(const json_t *field, const char **items)
{
    const char *t = json_string_value(json_object_get(field, "type"));
    *items = NULL;
    if (t && !strcmp(t, "array")) {
        const char *it = json_string_value(json_object_get(field, "items"));
        *items = it ? it : "";
    }
    return t ? t : "";
}

int sl_sink_type(const char *name)
{
    for (int i = 0; sl_sinks[i]; i++)
        if (!strcmp(sl_sinks[i]->name, name))
            return i;
    return -1;
}

bool sl_sink_unreachable(const sl_sink *s, const sl_error *err)
{
    return err && err->kind == SL_ERR_RETRY && (!s->ops->unreachable || s->ops->unreachable(err));
}

bool sl_sink_exactly_once(const sl_sink *s)
{
    return s->ops->transactional && s->conf->delivery == SL_DELIVERY_EXACTLY_ONCE;
}

void sl_flush_add_deadletter(sl_flush *f, const sl_route_conf *route, const char *topic,
                             int32_t partition, int64_t offset, const void *key, size_t key_len,
                             const void *value, size_t value_len, const char *error)
{
    if (f->ndead == f->dead_cap) {
        f->dead_cap = f->dead_cap ? f->dead_cap * 2 : 16;
        f->dead = sl_xrealloc(f->dead, f->dead_cap * sizeof(*f->dead));
    }
    sl_deadletter *d = &f->dead[f->ndead++];
    d->route = route;
    d->topic = topic;
    d->partition = partition;
    d->offset = offset;
    d->key_len = key ? key_len : 0;
    d->value_len = value ? value_len : 0;
    d->key = key ? memcpy(sl_xmalloc(key_len ? key_len : 1), key, key_len) : NULL;
    d->value = value ? memcpy(sl_xmalloc(value_len ? value_len : 1), value, value_len) : NULL;
    d->error = sl_xstrdup(error);
}

void sl_flush_clear_deadletters(sl_flush *f)
{
    sl_flush_truncate_deadletters(f, 0);
}

void sl_flush_truncate_deadletters(sl_flush *f, size_t keep)
{
    for (size_t i = keep; i < f->ndead; i++) {
        free((void *)f->dead[i].key);
        free((void *)f->dead[i].value);
        free(f->dead[i].error);
    }
    if (keep < f->ndead)
        f->ndead = keep;
}
