/* test_pipeline.c - fan-out's pipelines (pipeline.h): which group reads
 * which (topic, target), and that a configuration without fan-out keeps
 * the main group alone. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "sluice/config.h"
#include "sluice/pipeline.h"

static sl_config *load(const char *routes)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-test-pipeline-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
               "targets:\n  pg:\n    type: postgresql\n    dsn: host=127.0.0.1\n"
               "  crate:\n    type: cratedb\n    url: http://c:4200\n"
               "routes:\n%s", routes);
    fclose(f);
    sl_error err;
    sl_config *cfg = sl_config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

START_TEST(without_fanout_one_group)
{
    /* two targets, each topic matched by one of them: as before fan-out */
    sl_config *cfg = load("  - {topics: [orders], target: pg, table: orders}\n"
                          "  - {topics: [clicks], target: crate, table: clicks}\n");
    sl_pipeline *p;
    size_t n = sl_pipelines(cfg, &p);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(p[0].group, "g");
    ck_assert_ptr_eq(sl_pipeline_route(cfg, SL_PIPE_MAIN, "clicks"), &cfg->routes[1]);
    ck_assert(sl_pipeline_subscribes(cfg, SL_PIPE_MAIN, &cfg->routes[1], "clicks"));
    sl_pipelines_free(p, n);
    sl_config_free(cfg);
}
END_TEST

START_TEST(second_target_own_group)
{
    sl_config *cfg = load("  - {name: a, topics: [orders], target: pg, table: orders}\n"
                          "  - {name: b, topics: [orders], target: pg, table: order_log, mode: insert, fan_out: true}\n"
                          "  - {name: c, topics: [orders, clicks], target: crate, table: \"${topic}\", fan_out: true}\n");
    sl_pipeline *p;
    size_t n = sl_pipelines(cfg, &p);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(p[0].group, "g");
    ck_assert_uint_eq(p[1].target, 1);
    ck_assert_str_eq(p[1].group, "g.crate");
    /* main: orders through a then b (one target, one transaction); clicks through c */
    ck_assert_ptr_eq(sl_pipeline_route(cfg, SL_PIPE_MAIN, "orders"), &cfg->routes[0]);
    ck_assert_ptr_eq(sl_pipeline_next_route(cfg, &cfg->routes[0], "orders"), &cfg->routes[1]);
    ck_assert_ptr_null(sl_pipeline_next_route(cfg, &cfg->routes[1], "orders"));
    ck_assert_ptr_eq(sl_pipeline_route(cfg, SL_PIPE_MAIN, "clicks"), &cfg->routes[2]);
    /* crate's own pipeline: orders only; clicks' home is crate, the main group writes it */
    ck_assert_ptr_eq(sl_pipeline_route(cfg, 1, "orders"), &cfg->routes[2]);
    ck_assert_ptr_null(sl_pipeline_route(cfg, 1, "clicks"));
    ck_assert(sl_pipeline_subscribes(cfg, 1, &cfg->routes[2], "orders"));
    ck_assert(!sl_pipeline_subscribes(cfg, 1, &cfg->routes[2], "clicks"));
    ck_assert(!sl_pipeline_subscribes(cfg, 1, &cfg->routes[0], "orders"));
    ck_assert(sl_pipeline_writes(cfg, SL_PIPE_MAIN, 0));
    ck_assert(sl_pipeline_writes(cfg, SL_PIPE_MAIN, 1)); /* clicks */
    ck_assert(sl_pipeline_writes(cfg, 1, 1));
    ck_assert(!sl_pipeline_writes(cfg, 1, 0));
    char *g = sl_pipeline_group(cfg, &cfg->routes[2], "orders");
    ck_assert_str_eq(g, "g.crate");
    free(g);
    g = sl_pipeline_group(cfg, &cfg->routes[2], "clicks");
    ck_assert_str_eq(g, "g");
    free(g);
    sl_pipelines_free(p, n);
    sl_config_free(cfg);
}
END_TEST

START_TEST(patterns)
{
    /* a pattern after a topic of another target it matches: fan-out; a
     * pattern that matches no earlier topic of another target: none */
    sl_config *cfg = load("  - {topics: [shop.orders], target: pg, table: orders}\n"
                          "  - {topic_pattern: \"^shop\\\\..*\", target: crate, table: t, fan_out: true}\n");
    sl_pipeline *p;
    size_t n = sl_pipelines(cfg, &p);
    ck_assert_uint_eq(n, 2);
    ck_assert(sl_pipeline_subscribes(cfg, 1, &cfg->routes[1], NULL));
    ck_assert_ptr_eq(sl_pipeline_route(cfg, 1, "shop.orders"), &cfg->routes[1]);
    ck_assert_ptr_null(sl_pipeline_route(cfg, 1, "shop.clicks"));
    ck_assert(sl_pipeline_writes(cfg, SL_PIPE_MAIN, 1)); /* the pattern may be home to shop.clicks */
    sl_pipelines_free(p, n);
    sl_config_free(cfg);
    cfg = load("  - {topics: [web.orders], target: pg, table: orders}\n"
               "  - {topic_pattern: \"^shop\\\\..*\", target: crate, table: t}\n");
    n = sl_pipelines(cfg, &p);
    ck_assert_uint_eq(n, 1);
    sl_pipelines_free(p, n);
    sl_config_free(cfg);
    /* a target only fanned out to: the main pipeline leaves it alone */
    cfg = load("  - {topics: [orders], target: pg, table: orders}\n"
               "  - {topics: [orders], target: crate, table: orders, fan_out: true}\n");
    ck_assert(!sl_pipeline_writes(cfg, SL_PIPE_MAIN, 1));
    ck_assert(sl_pipeline_writes(cfg, 1, 1));
    sl_config_free(cfg);
}
END_TEST

START_TEST(first_match_without_fan_out)
{
    /* routes that say nothing: a topic goes through the first route that
     * matches it only, as before fan-out; a catch-all pattern after a
     * specific route takes only the topics the specific one leaves */
    sl_config *cfg = load("  - {name: a, topics: [orders], target: pg, table: orders}\n"
                          "  - {name: b, topics: [orders], target: pg, table: order_log, mode: insert}\n"
                          "  - {name: c, topic_pattern: \"^.*\", target: crate, table: \"${topic}\"}\n");
    sl_pipeline *p;
    size_t n = sl_pipelines(cfg, &p);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(sl_pipeline_route(cfg, SL_PIPE_MAIN, "orders"), &cfg->routes[0]);
    ck_assert_ptr_null(sl_pipeline_next_route(cfg, &cfg->routes[0], "orders"));
    ck_assert_ptr_null(sl_pipeline_route(cfg, 1, "orders"));
    ck_assert_ptr_eq(sl_pipeline_route(cfg, SL_PIPE_MAIN, "clicks"), &cfg->routes[2]);
    ck_assert(sl_route_takes(cfg, &cfg->routes[0], "orders"));
    ck_assert(!sl_route_takes(cfg, &cfg->routes[1], "orders"));
    ck_assert(!sl_route_takes(cfg, &cfg->routes[2], "orders"));
    ck_assert(sl_route_takes(cfg, &cfg->routes[2], "clicks"));
    ck_assert(!sl_pipeline_subscribes(cfg, 1, &cfg->routes[2], NULL));
    sl_pipelines_free(p, n);
    sl_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_add_test(tc, without_fanout_one_group);
    tcase_add_test(tc, second_target_own_group);
    tcase_add_test(tc, patterns);
    tcase_add_test(tc, first_match_without_fan_out);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
