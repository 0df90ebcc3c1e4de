/* Metrics and the admin server: the exposition text passes promtool's
 * checks, lag comes from librdkafka's statistics JSON, and /metrics,
 * /healthz and /readyz answer over real HTTP. */
#include <check.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, prefix, strlen(prefix)))
            n++;
    return n;
}

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
    sl_metrics_kafka_stats(m, "g", stats1, strlen(stats1));
    sl_strbuf text = SL_STRBUF_INIT;
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\",partition=\"0\"} 40\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\",partition=\"1\"} 7\n"), "%s", text.data);
    ck_assert_msg(!strstr(text.data, "partition=\"-1\""), "%s", text.data);
    sl_strbuf_free(&text);
    /* partition 1 now held by another worker of the process: that worker
     * reports it; this one revoked it */
    const char *stats2 =
        "{\"topics\":{\"orders\":{\"partitions\":{"
        "\"0\":{\"partition\":0,\"desired\":true,\"consumer_lag\":0},"
        "\"1\":{\"partition\":1,\"desired\":false,\"consumer_lag\":7}}}}}";
    sl_metrics_lag_forget(m, "g", "orders", 1);
    sl_metrics_kafka_stats(m, "g", stats2, strlen(stats2));
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\",partition=\"0\"} 0\n"), "%s", text.data);
    ck_assert_msg(!strstr(text.data, "partition=\"1\""), "a revoked partition is still shown:\n%s", text.data);
    sl_strbuf_free(&text);
    /* a fan-out pipeline's consumer, in its own group, holds the same
     * partitions: its series are its own, and revoking one of them leaves
     * the main group's */
    sl_metrics_kafka_stats(m, "g.crate", stats1, strlen(stats1));
    sl_metrics_kafka_stats(m, "g", stats2, strlen(stats2));
    sl_metrics_lag_forget(m, "g.crate", "orders", 0);
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\",partition=\"0\"} 0\n"), "%s",
                  text.data);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g.crate\",topic=\"orders\",partition=\"1\"} 7\n"),
                  "%s", text.data);
    ck_assert_uint_eq(count_lines(text.data, "sluice_consumer_lag{"), 2);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
    sl_config_free(cfg);

    /* partition_lag: false -> one series per topic */
    cfg = load("admin:\n  partition_lag: false\n" "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
               "targets:\n  pg:\n    type: postgresql\n    dsn: host=x\n"
               "routes:\n  - topics: [orders]\n    target: pg\n    table: t\n");
    m = sl_metrics_new(cfg);
    sl_metrics_kafka_stats(m, "g", stats1, strlen(stats1));
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\"} 47\n"), "%s", text.data);
    /* per group: another group's partitions of the topic are not added */
    sl_metrics_kafka_stats(m, "g.crate", stats2, strlen(stats2));
    sl_strbuf_free(&text);
    sl_metrics_render(m, &text);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g\",topic=\"orders\"} 47\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_consumer_lag{group=\"g.crate\",topic=\"orders\"} 0\n"), "%s", text.data);
    ck_assert_uint_eq(count_lines(text.data, "sluice_consumer_lag{"), 2);
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
/* the admin.* options' defaults (docs/configuration.md) */
static const sl_admin_limits default_limits = {32, 4, 5000, 10000};

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
    sl_admin *a = sl_admin_start("127.0.0.1:0", &default_limits, &h, &err);
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

/* Issue 22, finding 6: metric series were never freed: under topic_pattern
 * the label sets made from topic names (and partitions, and templated
 * tables) grew without bound.  Now a family keeps admin.max_series, the
 * rest add to its `_other` series, and revoked partitions' lag is freed. */
START_TEST(metric_series_are_bounded)
{
    sl_config *cfg = load("admin:\n  max_series: 10\n"
                          "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
                          "targets:\n  pg:\n    type: postgresql\n    dsn: host=x\n"
                          "routes:\n  - name: r\n    topic_pattern: '^t'\n    target: pg\n    table: '${topic}'\n");
    sl_metrics *m = sl_metrics_new(cfg);
    for (int i = 0; i < 100; i++) {
        char topic[16];
        snprintf(topic, sizeof(topic), "t%d", i);
        sl_metrics_add(m, SL_M_RECORDS, 2, "r", topic, NULL);
        sl_metrics_add(m, SL_M_ROWS_WRITTEN, 1, "pg", topic, "insert");
    }
    ck_assert_int_eq(sl_metrics_sum(m, SL_M_RECORDS, NULL), 200); /* nothing lost from the sums */
    sl_strbuf text = SL_STRBUF_INIT;
    sl_metrics_render(m, &text);
    ck_assert_uint_eq(count_lines(text.data, "sluice_records_total{"), 11);
    ck_assert_uint_eq(count_lines(text.data, "sluice_rows_written_total{"), 11);
    ck_assert_msg(strstr(text.data, "sluice_records_total{route=\"_other\",topic=\"_other\"} 180\n"), "%s", text.data);
    ck_assert_msg(strstr(text.data, "sluice_metric_series_overflow_total{metric=\"sluice_records_total\"} 90\n"), "%s",
                  text.data);
    char out[4096];
    ck_assert_msg(promtool(text.data, out, sizeof(out)) == 0, "%s", out);
    sl_strbuf_free(&text);

    /* lag: 10 partitions reported, then revoked: freed, so 10 others fit */
    for (int round = 0; round < 2; round++) {
        sl_strbuf stats = SL_STRBUF_INIT;
        sl_strbuf_puts(&stats, "{\"topics\":{\"t\":{\"partitions\":{");
        for (int p = 0; p < 10; p++)
            sl_strbuf_printf(&stats, "%s\"%d\":{\"partition\":%d,\"desired\":true,\"consumer_lag\":%d}", p ? "," : "",
                             round * 10 + p, round * 10 + p, p + 1);
        sl_strbuf_puts(&stats, "}}}}");
        sl_metrics_kafka_stats(m, "g", stats.data, stats.len);
        sl_strbuf_free(&stats);
        sl_metrics_render(m, &text);
        ck_assert_uint_eq(count_lines(text.data, "sluice_consumer_lag{"), 10);
        ck_assert_msg(strstr(text.data, "sluice_metric_series_overflow_total{metric=\"sluice_consumer_lag\"} 0\n"),
                      "round %d:\n%s", round, text.data);
        sl_strbuf_free(&text);
        for (int p = 0; p < 10; p++)
            sl_metrics_lag_forget(m, "g", "t", round * 10 + p);
    }
    sl_metrics_render(m, &text);
    ck_assert_uint_eq(count_lines(text.data, "sluice_consumer_lag{"), 0);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
    sl_config_free(cfg);

    /* without a configuration: the default bound, 2000 */
    m = sl_metrics_new(NULL);
    for (int i = 0; i < 5000; i++) {
        char topic[16];
        snprintf(topic, sizeof(topic), "t%d", i);
        sl_metrics_add(m, SL_M_RECORDS, 1, "r", topic, NULL);
    }
    sl_metrics_render(m, &text);
    ck_assert_uint_eq(count_lines(text.data, "sluice_records_total{"), 2001);
    ck_assert_int_eq(sl_metrics_sum(m, SL_M_RECORDS, NULL), 5000);
    sl_strbuf_free(&text);
    sl_metrics_free(m);
}
END_TEST

/* Issue 22, finding 6: metrics_file was written through the fixed name
 * PATH.tmp: whoever made that name a symlink first had the metrics written
 * wherever it pointed. */
START_TEST(metrics_file_temporary_name_is_unpredictable)
{
    char dir[] = "/tmp/sluice-test-metrics-file-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128], victim[128], link[160];
    snprintf(path, sizeof(path), "%s/sluice.prom", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    snprintf(link, sizeof(link), "%s.tmp", path);
    FILE *f = fopen(victim, "w");
    fputs("untouched\n", f);
    fclose(f);
    ck_assert_int_eq(symlink(victim, link), 0);
    sl_metrics *m = sl_metrics_new(NULL);
    sl_metrics_add(m, SL_M_REBALANCES, 3, NULL, NULL, NULL);
    ck_assert_int_eq(sl_metrics_write_file(m, path), 0);
    sl_metrics_free(m);
    char *v = ts_read_file(victim);
    ck_assert_str_eq(v, "untouched\n");
    free(v);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", path);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    char *text = ts_read_file(path);
    ck_assert_msg(strstr(text, "sluice_rebalances_total 3\n"), "%s", text);
    free(text);
    /* nothing left behind but the three names */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    ck_assert_int_eq(entries, 3);
    unlink(link);
    unlink(victim);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* A TCP connection to 127.0.0.1:@port from the address @from (any of
 * 127/8 is this host), which sends @text and nothing more; -1 if refused
 * at once. */
static int raw_client(int port, const char *from, const char *text)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    ck_assert_msg(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0, "bind %s: %s", from, strerror(errno));
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
        close(fd);
        return -1;
    }
    if (text && send(fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* stderr (the log) into a file for the test's length. */
static int capture_log(const char *path, int *saved)
{
    fflush(stderr);
    *saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    return 0;
}

static void restore_log(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Issue 22, finding 3: 16 connections in all, none per client, and a
 * timeout restarted by every byte: 16 slow clients kept /healthz
 * unreachable, and each refusal logged a line.  Now: 4 per client address,
 * 32 in all, a full server evicts the connection whose request is due
 * first, and refusals are counted and logged once per 10 s. */
START_TEST(admin_slow_clients_leave_healthz_reachable)
{
    char logpath[96];
    snprintf(logpath, sizeof(logpath), "/tmp/sluice-test-admin-log-%d", (int)getpid());
    int saved;
    capture_log(logpath, &saved);
    live_flag = true;
    the_metrics = sl_metrics_new(NULL);
    sl_admin_handlers h = {NULL, h_metrics, h_live, h_ready};
    sl_error err;
    sl_admin *a = sl_admin_start("127.0.0.1:0", &default_limits, &h, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    int port = sl_admin_port(a);
    /* slow clients: a request line, then nothing */
    const char *line = "GET /healthz HTTP/1.1\r\n";
    int fds[80], nfds = 0;
    for (int i = 0; i < 40; i++) /* one client: 4 kept, 36 refused */
        fds[nfds++] = raw_client(port, "127.0.0.2", line);
    for (int c = 3; c <= 10; c++) /* eight more: 32 open, then the oldest make room */
        for (int i = 0; i < 4; i++) {
            char from[32];
            snprintf(from, sizeof(from), "127.0.0.%d", c);
            fds[nfds++] = raw_client(port, from, line);
        }
    int64_t t0 = mono_ms();
    sl_strbuf b = SL_STRBUF_INIT;
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    long status = ts_http(&(ts_http_req){.url = url, .timeout_s = 1}, &b);
    int64_t took = mono_ms() - t0;
    ck_assert_msg(status == 200, "/healthz answered %ld after %lld ms with 76 slow clients", status, (long long)took);
    ck_assert_msg(took < 1000, "/healthz took %lld ms", (long long)took);
    ck_assert_str_eq(b.data, "ok\n");
    ck_assert_int_eq(get(port, "/metrics", &b, NULL, 0), 200);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_refused_total{limit=\"client\"}") == 36, "%s", b.data);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_refused_total{limit=\"server\"}") == 0, "%s", b.data);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_closed_total{reason=\"evicted\"}") >= 5, "%s", b.data);
    sl_strbuf_free(&b);
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sl_admin_stop(a);
    sl_metrics_free(the_metrics);
    restore_log(saved);
    char *log = ts_read_file(logpath);
    unlink(logpath);
    size_t admin_lines = 0;
    for (const char *p = strstr(log, "[admin]"); p; p = strstr(p + 1, "[admin]"))
        admin_lines++;
    /* one line for each kind: refusals, evictions, and libmicrohttpd's
     * note of the requests the evictions cut */
    ck_assert_msg(admin_lines <= 3, "%zu log lines for 36 refusals and the evictions:\n%s", admin_lines, log);
    ck_assert_msg(strstr(log, "refused a connection from 127.0.0.2: it has 4 open, the most one client may have"),
                  "%s", log);
    free(log);
}
END_TEST

/* Issue 22, finding 3: libmicrohttpd's 10 s timeout restarts with every
 * byte, so a client sending a header line every 2 s held its connection
 * for ever; the request line and headers now have 5 s in all. */
START_TEST(admin_request_deadline_is_absolute)
{
    live_flag = true;
    the_metrics = sl_metrics_new(NULL);
    sl_admin_handlers h = {NULL, h_metrics, h_live, h_ready};
    sl_error err;
    sl_admin *a = sl_admin_start("127.0.0.1:0", &default_limits, &h, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    int port = sl_admin_port(a);
    int fd = raw_client(port, "127.0.0.1", "GET /healthz HTTP/1.1\r\n");
    ck_assert_int_ge(fd, 0);
    int64_t t0 = mono_ms(), closed_at = -1;
    /* a header line every 500 ms, for up to 25 s (past the idle timeout) */
    while (mono_ms() - t0 < 25000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 500) > 0) {
            char c;
            if (recv(fd, &c, 1, 0) <= 0) {
                closed_at = mono_ms() - t0;
                break;
            }
        }
        if (send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) {
            closed_at = mono_ms() - t0;
            break;
        }
    }
    close(fd);
    ck_assert_msg(closed_at >= 0, "a client trickling headers kept its connection for 25 s");
    ck_assert_msg(closed_at >= 4900, "closed after %lld ms, before the deadline", (long long)closed_at);
    sl_strbuf b = SL_STRBUF_INIT;
    ck_assert_int_eq(get(port, "/metrics", &b, NULL, 0), 200);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_closed_total{reason=\"deadline\"}") == 1, "%s", b.data);
    sl_strbuf_free(&b);
    /* a request that arrives whole is answered, and its connection kept */
    fd = raw_client(port, "127.0.0.1", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    char resp[256] = "";
    size_t got = 0;
    int64_t until = mono_ms() + 5000;
    while (!strstr(resp, "\r\n\r\nok\n") && mono_ms() < until && got < sizeof(resp) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            resp[got] = '\0';
        }
    }
    close(fd);
    ck_assert_msg(!strncmp(resp, "HTTP/1.1 200", 12), "%s", resp);
    sl_admin_stop(a);
    sl_metrics_free(the_metrics);
}
END_TEST

/* The limits are options (admin.max_connections,
 * admin.max_connections_per_client, admin.request_timeout): 3 in all, 2
 * per client and 1 s for a request's head instead of 32, 4 and 5 s. */
START_TEST(admin_limits_are_the_configured_ones)
{
    live_flag = true;
    the_metrics = sl_metrics_new(NULL);
    sl_admin_handlers h = {NULL, h_metrics, h_live, h_ready};
    sl_admin_limits lim = {3, 2, 1000, 2000};
    sl_error err;
    sl_admin *a = sl_admin_start("127.0.0.1:0", &lim, &h, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    int port = sl_admin_port(a);
    const char *line = "GET /healthz HTTP/1.1\r\n";
    int fds[5], nfds = 0;
    for (int i = 0; i < 3; i++) /* 2 kept, 1 refused */
        fds[nfds++] = raw_client(port, "127.0.0.2", line);
    for (int i = 0; i < 2; i++) /* the first fills the server, the second evicts */
        fds[nfds++] = raw_client(port, "127.0.0.3", line);
    int64_t t0 = mono_ms();
    sl_strbuf b = SL_STRBUF_INIT;
    ck_assert_int_eq(get(port, "/healthz", &b, NULL, 0), 200);
    /* the slow connections' heads are overdue after 1 s */
    double closed = 0;
    while (mono_ms() - t0 < 4000) {
        ck_assert_int_eq(get(port, "/metrics", &b, NULL, 0), 200);
        if ((closed = ts_metric(b.data, "sluice_admin_connections_closed_total{reason=\"deadline\"}")) >= 1)
            break;
        usleep(100 * 1000);
    }
    ck_assert_msg(closed >= 1, "no connection closed at its 1 s deadline within 4 s:\n%s", b.data);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_refused_total{limit=\"client\"}") >= 1, "%s", b.data);
    ck_assert_msg(ts_metric(b.data, "sluice_admin_connections_closed_total{reason=\"evicted\"}") >= 1, "%s", b.data);
    ck_assert_msg(strstr(b.data, "refused: 3 open in all (server) or 2 from one client address"), "%s", b.data);
    ck_assert_msg(strstr(b.data, "past its deadline of 1000 ms"), "%s", b.data);
    sl_strbuf_free(&b);
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sl_admin_stop(a);
    sl_metrics_free(the_metrics);
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
    tcase_add_test(tc, metric_series_are_bounded);
    tcase_add_test(tc, metrics_file_temporary_name_is_unpredictable);
    tcase_add_test(tc, admin_slow_clients_leave_healthz_reachable);
    tcase_add_test(tc, admin_request_deadline_is_absolute);
    tcase_add_test(tc, admin_limits_are_the_configured_ones);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
