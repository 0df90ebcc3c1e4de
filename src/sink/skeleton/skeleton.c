/* skeleton.c - the smallest target type sluice accepts, compiled only for
 * the test that counts what adding a target touches (-Dskeleton_sink=true,
 * tests/unit/test_skeleton_sink.c): its folder and its name in
 * src/sink/meson.build's sink_types.  It takes a configuration and refuses
 * to connect; a real target fills in the operations (sink.h). */
#include <stdio.h>

#include "sluice/sink.h"

static int skeleton_check_conf(sl_target_conf *t, const char **key, sl_error *err)
{
    *key = "url";
    if (!t->url)
        return sl_error_set(err, SL_ERR_FATAL, "a skeleton target needs a url");
    *key = "delivery";
    if ((int)t->delivery == SL_DELIVERY_EXACTLY_ONCE)
        return sl_error_set(err, SL_ERR_FATAL, "the skeleton target has no transactions");
    t->delivery = SL_DELIVERY_AT_LEAST_ONCE;
    return 0;
}

static const char *skeleton_column_type(const json_t *field, char *buf, size_t len)
{
    (void)field;
    snprintf(buf, len, "text");
    return buf;
}

static int skeleton_open(sl_sink *s, sl_error *err)
{
    return sl_error_set(err, SL_ERR_FATAL, "%s: the skeleton target cannot connect", s->ctx);
}

const sl_sink_ops sl_sink_skeleton = {
    .name = "skeleton",
    .title = "Skeleton",
    .check_conf = skeleton_check_conf,
    .column_type = skeleton_column_type,
    .open = skeleton_open,
};
