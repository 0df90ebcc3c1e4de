/* Metrics and the admin server: the exposition text passes promtool's
 * checks, lag comes from librdkafka's statistics JSON, and /metrics,
 * /healthz and /readyz answer over real HTTP. */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/admin.h"
#include "sluice/config.h"
#include "sluice/metrics.h"
#include "runner.h"
#include "support.h"

static sl_config *load(const char *text)
{
    char path[96];
    snprintf(path, sizeof(path), "/tmp/sluice-test-metrics-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    sl_error err;
    sl_config *cfg = sl_config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

static const char *config_text =
    "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
    "targets:\n  pg:\n    type: postgresql\n    dsn: host=x\n"
    "routes:\n  - name: orders\n    topics: [orders, \"we\\\"ird\"]\n    target: pg\n    table: t\n";

/* promtool check metrics < @text: 0 when it passes, its output in @out. */
static int promtool(const char *text, char *out, size_t outlen)
{
    char path[96], cmd[256];
    snprintf(path, sizeof(path), "/tmp/sluice-test-metrics-%d.prom", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run promtool (Debian package prometheus)");
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    return rc;
}

START_TEST(exposition_passes_promtool)
{
    sl_config *cfg = load(config_text);
    sl_metrics *m = sl_metrics_new(cfg);
    sl_metrics_add(m, SL_M_RECORDS, 42, "orders", "orders", NULL);
    sl_metrics_add(m, SL_M_ROWS_WRITTEN, 40, "pg", "public.orders", "upsert");
    sl_metrics_add(m, SL_M_ROWS_WRITTEN, 2, "pg", "public.orders", "delete");
    sl_series *fs = sl_metrics_series(m, SL_M_FLUSH_SECONDS, "pg", NULL, NULL);
    sl_series_observe(fs, 0.003);
    sl_series_observe(fs, 0.2);
    sl_series_observe(fs, 100);
    sl_series_observe(sl_metrics_series(m, SL_M_FLUSH_ROWS, "pg", NULL, NULL), 42);
    sl_series_set(sl_metrics_series(m, SL_M_LAST_COMMIT, "pg", NULL, NULL), 1700000000250LL);
    sl_series_set(sl_metrics_series(m, SL_M_TARGET_UP, "pg", NULL, NULL), 1);
    sl_strbuf text = SL_STRBUF_INIT;
    sl_metrics_render(m, &text);
    char out[4096];
    int rc = promtool(text.data, out, sizeof(out));
    ck_assert_msg(rc == 0, "promtool check metrics failed:\n%s\n---\n%s", out, text.data);
    /* the series alerts and dashboards rely on exist before anything happened */
    ck_assert_msg(strstr(text.data, "sluice_records_total{route=\"orders\",topic=\"orders\"} 42\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_records_total{route=\"orders\",topic=\"we\\\"ird\"} 0\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_rows_written_total{target=\"pg\",table=\"public.orders\",op=\"delete\"} 2\n"),
                  "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_errors_total{target=\"pg\",kind=\"fatal\"} 0\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_flush_duration_seconds_bucket{target=\"pg\",le=\"0.005\"} 1\n"), "%s",
                  text.data);
    ck_assert_msg(strstr(text.data, "sluice_flush_duration_seconds_bucket{target=\"pg\",le=\"60\"} 2\n"), "%s",
                  text.data);
    ck_assert_msg(strstr(text.data, "sluice_flush_duration_seconds_bucket{target=\"pg\",le=\"+Inf\"} 3\n"), "%s",
                  text.data);
    ck_assert_msg(strstr(text.data, "sluice_flush_duration_seconds_sum{target=\"pg\"} 100.203\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_last_commit_timestamp_seconds{target=\"pg\"} 1700000000.25\n"), "%s",
                  text.data);
    ck_assert_msg(strstr(text.data, "sluice_config_reloads_total{result=\"rejected\"} 0\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "\nprocess_resident_memory_bytes "), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_build_info{version=\"" SLUICE_VERSION "\",librdkafka=\""), "%s",
                  text.data);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
    sl_config_free(cfg);
}
END_TEST

/* librdkafka's statistics: consumer_lag per assigned partition; partition
 * -1 and partitions no longer desired are not shown. */
START_TEST(lag_from_librdkafka_statistics)
{
    sl_config *cfg = load(config_text);
    sl_metrics *m = sl_metrics_new(cfg);
    const char *stats1 =
        "{\"name\":\"sluice#consumer-1\",\"topics\":{\"orders\":{\"topic\":\"orders\",\"partitions\":{"
        "\"0\":{\"partition\":0,\"desired\":true,\"hi_offset\":100,\"committed_offset\":60,\"consumer_lag\":40},"
        "\"1\":{\"partition\":1,\"desired\":true,\"hi_offset\":10,\"committed_offset\":-1001,\"consumer_lag\":7},"
        "\"-1\":{\"partition\":-1,\"desired\":false,\"consumer_lag\":-1}}}}}";
    sl_metrics_kafka_stats(m, stats1, strlen(stats1));
    sl_strbuf text = SL_STRBUF_INIT;
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{topic=\"orders\",partition=\"0\"} 40\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{topic=\"orders\",partition=\"1\"} 7\n"), "%s", text.data);
    ck_assert_msg(!strstr(text.data, "partition=\"-1\""), "%s", text.data);
    sl_strbuf_free(&text);
    /* partition 1 now held by another worker of the process: that worker
     * reports it; this one revoked it */
    const char *stats2 =
        "{\"topics\":{\"orders\":{\"partitions\":{"
        "\"0\":{\"partition\":0,\"desired\":true,\"consumer_lag\":0},"
        "\"1\":{\"partition\":1,\"desired\":false,\"consumer_lag\":7}}}}}";
    sl_metrics_lag_forget(m, "orders", 1);
    sl_metrics_kafka_stats(m, stats2, strlen(stats2));
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{topic=\"orders\",partition=\"0\"} 0\n"), "%s", text.data);
    ck_assert_msg(!strstr(text.data, "partition=\"1\""), "a revoked partition is still shown:\n%s", text.data);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
    sl_config_free(cfg);

    /* partition_lag: false -> one series per topic */
    cfg = load("admin:\n  partition_lag: false\n" "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
               "targets:\n  pg:\n    type: postgresql\n    dsn: host=x\n"
               "routes:\n  - topics: [orders]\n    target: pg\n    table: t\n");
    m = sl_metrics_new(cfg);
    sl_metrics_kafka_stats(m, stats1, strlen(stats1));
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{topic=\"orders\"} 47\n"), "%s", text.data);
    char out[4096];
    ck_assert_msg(promtool(text.data, out, sizeof(out)) == 0, "%s", out);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
    sl_config_free(cfg);
}
END_TEST

static long get(int port, const char *path, sl_strbuf *body, char *ctype, size_t ctlen)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    return ts_http(&(ts_http_req){.url = url, .must_answer = true, .ctype = ctype, .ctype_len = ctlen}, body);
}

static bool live_flag = true, ready_flag = false;
static sl_metrics *the_metrics;

static void h_metrics(void *o, sl_strbuf *out)
{
    sl_metrics_render(the_metrics, out);
}
static bool h_live(void *o, sl_strbuf *why)
{
    if (!live_flag)
        sl_strbuf_puts(why, "worker 1 has not turned for 130000 ms");
    return live_flag;
}
static bool h_ready(void *o, sl_strbuf *json)
{
    sl_strbuf_puts(json, ready_flag ? "{\"ready\":true}" : "{\"ready\":false,\"missing\":[\"no partitions assigned\"]}");
    return ready_flag;
}

START_TEST(admin_server_over_http)
{
    the_metrics = sl_metrics_new(NULL);
    sl_metrics_add(the_metrics, SL_M_REBALANCES, 3, NULL, NULL, NULL);
    sl_admin_handlers h = {NULL, h_metrics, h_live, h_ready};
    sl_error err;
    sl_admin *a = sl_admin_start("127.0.0.1:0", &h, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    int port = sl_admin_port(a);
    ck_assert_int_gt(port, 0);
    sl_strbuf b = SL_STRBUF_INIT;
    char ct[128];
    ck_assert_int_eq(get(port, "/metrics", &b, ct, sizeof(ct)), 200);
    ck_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_msg(strstr(b.data, "\nsluice_rebalances_total 3\n"), "%s", b.data);
    ck_assert_int_eq(get(port, "/healthz", &b, NULL, 0), 200);
    ck_assert_str_eq(b.data, "ok\n");
    live_flag = false;
    ck_assert_int_eq(get(port, "/healthz", &b, NULL, 0), 503);
    ck_assert_str_eq(b.data, "stalled: worker 1 has not turned for 130000 ms\n");
    ck_assert_int_eq(get(port, "/readyz", &b, ct, sizeof(ct)), 503);
    ck_assert_str_eq(ct, "application/json");
    ck_assert_str_eq(b.data, "{\"ready\":false,\"missing\":[\"no partitions assigned\"]}");
    ready_flag = true;
    ck_assert_int_eq(get(port, "/readyz", &b, NULL, 0), 200);
    ck_assert_int_eq(get(port, "/nope", &b, NULL, 0), 404);
    sl_strbuf_free(&b);
    sl_admin_stop(a);
    sl_metrics_free(the_metrics);

    /* listen addresses are checked with a clear message */
    struct sockaddr_storage sa;
    socklen_t len;
    ck_assert_int_eq(sl_parse_listen("[::1]:9464", &sa, &len, &err), 0);
    ck_assert_int_eq(sl_parse_listen("9464", &sa, &len, &err), -1);
    ck_assert_msg(strstr(err.msg, "expected HOST:PORT"), "%s", err.msg);
    ck_assert_int_eq(sl_parse_listen("127.0.0.1:99999", &sa, &len, &err), -1);
    ck_assert_msg(strstr(err.msg, "0 to 65535"), "%s", err.msg);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exposition_passes_promtool);
    tcase_add_test(tc, lag_from_librdkafka_statistics);
    tcase_add_test(tc, admin_server_over_http);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
