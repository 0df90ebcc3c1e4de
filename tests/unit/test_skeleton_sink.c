/* The skeleton target (src/sink/skeleton/, built with -Dskeleton_sink=true):
 * a target type added as one folder and its name in src/sink/meson.build is
 * a type the configuration takes, checked by its own check_conf, and one a
 * worker would connect through its own operations. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/sink.h"
#include "runner.h"

static sl_config *load(const char *yaml, sl_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-test-skeleton-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(yaml, f);
    fclose(f);
    sl_config *cfg = sl_config_load(path, err);
    unlink(path);
    return cfg;
}

#define HEAD "kafka:\n  bootstrap.servers: k\n  group.id: g\ntargets:\n  s:\n    type: skeleton\n"
#define ROUTES "routes:\n  - topics: [t]\n    target: s\n    table: t\n"

START_TEST(a_folder_and_a_line)
{
    /* third in the list, after the two shipped types */
    ck_assert_int_eq(sl_sink_type("skeleton"), 2);
    ck_assert_ptr_null(sl_sinks[3]);
    sl_error err;
    sl_config *cfg = load(HEAD "    url: http://127.0.0.1:1\n" ROUTES, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->targets[0].type, sl_sink_type("skeleton"));
    ck_assert_int_eq(cfg->targets[0].delivery, SL_DELIVERY_AT_LEAST_ONCE);
    sl_sink *s = sl_sink_new(&cfg->targets[0], 1);
    ck_assert_int_eq(s->ops->open(s, &err), -1);
    ck_assert_str_eq(err.msg, "sink s (worker 1): the skeleton target cannot connect");
    sl_sink_free(s);
    sl_config_free(cfg);
    /* its own check of its options, naming file, line and key */
    ck_assert_ptr_null(load(HEAD ROUTES, &err));
    ck_assert_msg(strstr(err.msg, ":6: targets.s.url: a skeleton target needs a url") != NULL, "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("skeleton_sink");
    TCase *tc = tcase_create("skeleton_sink");
    tcase_add_test(tc, a_folder_and_a_line);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
