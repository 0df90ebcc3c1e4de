/* test_admin.c - the admin server of a running daemon: /metrics counts what
 * was actually written (a trigger counts the rows PostgreSQL received),
 * passes `promtool check metrics`, and is scraped by a real Prometheus
 * server that then answers a PromQL query for a counter this test moved;
 * /readyz names an unreachable target while /healthz stays 200; a write
 * that does not return within stall_timeout fails /healthz, and is
 * cancelled on the server when sluice gives up on it at shutdown. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scenario.h"
#include "sluice/strbuf.h"
#include "support.h"

#define NPARTS 3
#define NKEYS 150
#define NEVENTS 2000
#define MORE 300

/* Sum of every sample of metric @name (any labels). */
static double metric_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    double sum = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, name, n) && (l[n] == '{' || l[n] == ' ')) {
            const char *sp = strchr(l, ' ');
            if (l[n] == '{')
                sp = strstr(l, "} ") ? strstr(l, "} ") + 1 : sp;
            sum += strtod(sp + 1, NULL);
        }
    return sum;
}

typedef struct probe {
    char url[256];
    const char *needle;
    sl_strbuf body;
    long want_status;
} probe;

static bool body_has(void *arg)
{
    probe *p = arg;
    long st = ts_http(&(ts_http_req){.url = p->url}, &p->body);
    return st == p->want_status && (!p->needle || strstr(p->body.data, p->needle));
}

static char *run_promtool(const char *text, int *rc)
{
    char *dir = ts_tempdir("promtool");
    char *path = ts_write_file(dir, "scrape.prom", "%s", text);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "promtool (Debian package prometheus) is needed");
    sl_strbuf out = SL_STRBUF_INIT;
    char buf[1024];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), p)) > 0)
        sl_strbuf_append(&out, buf, got);
    *rc = pclose(p);
    free(path);
    free(dir);
    return out.data ? out.data : strdup("");
}

START_TEST(metrics_scraped_by_prometheus)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_admin");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    /* what PostgreSQL was asked to write, committed or not: rolled-back
     * rows vanish with their transaction, so this counts committed rows */
    ts_pg_exec(c,
               "CREATE TABLE audit (n bigserial PRIMARY KEY, op text);"
               "CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql"
               "  SET search_path FROM CURRENT AS $$"
               "  BEGIN INSERT INTO audit (op) VALUES (TG_OP); RETURN NULL; END $$;"
               "CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders"
               "  FOR EACH ROW EXECUTE FUNCTION audit_orders()",
               NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_admin");
    ts_kafka_create_topic(topic, NPARTS);
    int port = ts_free_port();
    char *dir = ts_tempdir("admin");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "  statistics.interval.ms: \"500\"\n"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n  - name: orders\n    topics: [%s]\n    target: pg\n"
                                 "    table: %s.orders\n    delete_on_tombstone: true\n"
                                 "batch:\n  max_rows: 300\n  linger_ms: 20\n"
                                 "admin:\n  listen: 127.0.0.1:%d\n",
                                 kafka, topic, schema, port);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    sc_model *m = sc_model_new(NKEYS, NPARTS, 11);
    sc_produce_orders(m, topic, NEVENTS, 10);
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 180000, log);
    sc_assert_orders(c, "orders", m);

    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    probe p = {.body = SL_STRBUF_INIT, .want_status = 200};
    /* lag comes from librdkafka's statistics: wait for every partition at 0 */
    snprintf(p.url, sizeof(p.url), "%s/metrics", base);
    char lag0[512];
    snprintf(lag0, sizeof(lag0), "sluice_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"%d\"} 0\n", group, topic,
             NPARTS - 1);
    p.needle = lag0;
    ck_assert_msg(ts_wait_until(body_has, &p, 60000), "no lag 0 for the last partition:\n%s", p.body.data);
    const char *text = p.body.data;

    int rc;
    char *out = run_promtool(text, &rc);
    ck_assert_msg(rc == 0, "promtool check metrics on a real scrape:\n%s", out);
    free(out);

    char key[512];
    snprintf(key, sizeof(key), "sluice_records_total{route=\"orders\",topic=\"%s\"}", topic);
    double records = ts_metric(text, key);
    ck_assert_msg(records == NEVENTS, "sluice_records_total %g, produced %d:\n%s", records, NEVENTS, text);
    /* every upserted row fired the trigger once: the counts must agree.
     * Deletes cannot be compared that way (a tombstone for a key inserted
     * and deleted within one batch deletes nothing in the table), so they
     * must only add up with the batch sizes. */
    int64_t upserts = ts_pg_int(c, "SELECT count(*) FROM audit WHERE op <> 'DELETE'", NULL);
    snprintf(key, sizeof(key), "sluice_rows_written_total{target=\"pg\",table=\"%s.orders\",op=\"upsert\"}", schema);
    double up = ts_metric(text, key);
    ck_assert_msg(up == (double)upserts, "%s is %g, PostgreSQL saw %lld row writes", key, up, (long long)upserts);
    snprintf(key, sizeof(key), "sluice_rows_written_total{target=\"pg\",table=\"%s.orders\",op=\"delete\"}", schema);
    double del = ts_metric(text, key);
    ck_assert_msg(del > 0, "%s is %g", key, del);
    ck_assert_msg(metric_sum(text, "sluice_flush_rows_sum") == up + del, "flush rows %g != %g + %g",
                  metric_sum(text, "sluice_flush_rows_sum"), up, del);
    ck_assert_msg(ts_metric(text, "sluice_assigned_partitions") == NPARTS, "%s", text);
    ck_assert_msg(ts_metric(text, "sluice_target_up{target=\"pg\"}") == 1, "%s", text);
    ck_assert_msg(ts_metric(text, "sluice_paused_partitions") == 0, "%s", text);
    ck_assert_msg(ts_metric(text, "sluice_rebalances_total") >= 1, "%s", text);
    ck_assert_msg(ts_metric(text, "sluice_flush_duration_seconds_count{target=\"pg\"}") >= 1, "%s", text);
    ck_assert_msg(ts_metric(text, "sluice_last_commit_timestamp_seconds{target=\"pg\"}") > 1.7e9, "%s", text);
    ck_assert_msg(ts_metric(text, "process_resident_memory_bytes") > 1e6, "%s", text);
    ck_assert_msg(strstr(text, "sluice_build_info{version=\""), "%s", text);
    printf("---- /metrics (excerpt) ----\n");
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, "sluice_", 7) && !strstr(l, "_bucket"))
            printf("%.*s\n", (int)(strchr(l, '\n') - l), l);

    snprintf(p.url, sizeof(p.url), "%s/readyz", base);
    p.needle = "\"ready\":true";
    ck_assert_msg(ts_wait_until(body_has, &p, 10000), "/readyz: %s", p.body.data);
    printf("---- /readyz ----\n%s", p.body.data);
    snprintf(p.url, sizeof(p.url), "%s/healthz", base);
    p.needle = "ok";
    ck_assert_msg(body_has(&p), "/healthz: %s", p.body.data);

    /* a real Prometheus scrapes the daemon every second */
    int pport = ts_free_port();
    char *pdir = ts_tempdir("prometheus");
    char *pconf = ts_write_file(pdir, "prometheus.yml",
                                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                                "      - targets: ['127.0.0.1:%d']\n",
                                port);
    char plog[600], data[600], listen[64], cfgarg[600], dataarg[600], listenarg[100];
    snprintf(plog, sizeof(plog), "%s/prometheus.log", pdir);
    snprintf(data, sizeof(data), "%s/data", pdir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", pport);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", pconf);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    snprintf(listenarg, sizeof(listenarg), "--web.listen-address=%s", listen);
    fflush(stdout);
    pid_t prom = fork();
    if (prom == 0) {
        freopen(plog, "w", stdout);
        freopen(plog, "a", stderr);
        execlp("prometheus", "prometheus", cfgarg, dataarg, listenarg, (char *)NULL);
        _exit(127);
    }
    snprintf(p.url, sizeof(p.url), "http://%s/-/ready", listen);
    p.needle = NULL;
    ck_assert_msg(ts_wait_until(body_has, &p, 60000), "Prometheus did not become ready; see %s", plog);

    /* move the counter: more records */
    sc_produce_orders(m, topic, MORE, 0);
    sc_wait_committed(group, topic, NPARTS, 120000, log);
    char q[512];
    snprintf(q, sizeof(q), "sum(sluice_records_total{job=\"sluice\",topic=\"%s\"})", topic);
    CURL *cu = curl_easy_init();
    char *qe = curl_easy_escape(cu, q, 0);
    snprintf(p.url, sizeof(p.url), "http://%s/api/v1/query?query=%s", listen, qe);
    curl_free(qe);
    curl_easy_cleanup(cu);
    char want[64];
    snprintf(want, sizeof(want), "\"%d\"]", NEVENTS + MORE);
    p.needle = want;
    ck_assert_msg(ts_wait_until(body_has, &p, 60000), "PromQL %s never answered %d: %s", q, NEVENTS + MORE,
                  p.body.data);
    printf("---- PromQL %s ----\n%s\n", q, p.body.data);

    kill(prom, SIGTERM);
    int st;
    waitpid(prom, &st, 0);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    sl_strbuf_free(&p.body);
    sc_model_free(m);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
    free(pdir);
    free(pconf);
    curl_global_cleanup();
}
END_TEST

/* A target that cannot be reached: /readyz says so (503) while /healthz
 * stays 200, so an orchestrator does not restart sluice for a database
 * outage. */
START_TEST(readiness_names_what_is_missing)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ts_kafka_start(1);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_ready");
    ts_kafka_create_topic(topic, 1);
    int port = ts_free_port(), dead = ts_free_port();
    char *dir = ts_tempdir("ready");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "  down:\n    type: postgresql\n"
                                 "    dsn: \"host=127.0.0.1 port=%d dbname=x connect_timeout=2\"\n"
                                 "    delivery: at-least-once\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: public.nothing_here\n"
                                 "admin:\n  listen: 127.0.0.1:%d\n",
                                 kafka, dead, topic, port);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);
    probe p = {.body = SL_STRBUF_INIT, .want_status = 503};
    snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/readyz", port);
    p.needle = "\"missing\":[\"target down is not reachable\"]";
    ck_assert_msg(ts_wait_until(body_has, &p, 60000), "/readyz: %s", p.body.data);
    ck_assert_msg(strstr(p.body.data, "\"pg\":\"up\""), "%s", p.body.data);
    ck_assert_msg(strstr(p.body.data, "\"assigned_partitions\":1"), "%s", p.body.data);
    printf("---- /readyz with a target down ----\n%s", p.body.data);
    snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/healthz", port);
    p.want_status = 200;
    p.needle = "ok";
    ck_assert_msg(body_has(&p), "/healthz must not fail because a database is down: %s", p.body.data);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    sl_strbuf_free(&p.body);
    ts_kafka_stop();
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
    curl_global_cleanup();
}
END_TEST

typedef struct health {
    char url[128];
    long status;
    sl_strbuf body;
    long want;
    const char *prefix; /* the body starts with it (the whole body when exact) */
    bool exact;
} health;

static bool health_is(void *arg)
{
    health *h = arg;
    sl_strbuf_reset(&h->body);
    h->status = ts_http(&(ts_http_req){.url = h->url}, &h->body);
    const char *b = h->body.data ? h->body.data : "";
    return h->status == h->want && (h->exact ? !strcmp(b, h->prefix) : !strncmp(b, h->prefix, strlen(h->prefix)));
}

static void wait_health(health *h, long want, const char *prefix, bool exact, int ms, const char *log)
{
    h->want = want;
    h->prefix = prefix;
    h->exact = exact;
    if (!ts_wait_until(health_is, h, ms)) {
        char *tail = sc_log_tail(log, 2000);
        ck_abort_msg("/healthz never answered %ld '%s' in %d ms; last: %ld '%s'; log:\n%s", want, prefix, ms,
                     h->status, h->body.data ? h->body.data : "", tail);
    }
}

static PGconn *watcher;
static const char *locked_schema;

static bool write_waits(void *arg)
{
    (void)arg;
    return ts_pg_int(watcher,
                     "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE NOT l.granted AND c.relname = 'orders' AND n.nspname = $1",
                     locked_schema, NULL) > 0;
}

static bool write_gone(void *arg)
{
    return !write_waits(arg);
}

/* Finding: a write hung on a lock for 25 s with stall_timeout 5s, and
 * /healthz said ok throughout (the worker's loop turns while its writer
 * waits); at shutdown the hung statement went on waiting on the server.
 * Now /healthz names the write that has not returned, says ok again once it
 * returns, and a write given up at shutdown_timeout is cancelled on the
 * server before the process exits. */
START_TEST(write_hung_on_a_lock_fails_healthz_and_is_cancelled)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    watcher = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_stall");
    locked_schema = schema;
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_stall");
    ts_kafka_create_topic(topic, 1);
    int port = ts_free_port();
    char *dir = ts_tempdir("stall");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "    statement_timeout_ms: 10m\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: %s.orders\n"
                                 "    delete_on_tombstone: true\n"
                                 "admin:\n  listen: 127.0.0.1:%d\n  stall_timeout: 3s\n"
                                 "shutdown_timeout: 2s\n",
                                 kafka, topic, schema, port);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    health h = {.body = SL_STRBUF_INIT};
    snprintf(h.url, sizeof(h.url), "http://127.0.0.1:%d/healthz", port);
    ts_daemon *d = ts_daemon_start(config, log);
    wait_health(&h, 200, "ok\n", true, 60000, log);

    /* the table locked: the write waits, far below its statement timeout */
    PGconn *locker = ts_pg_connect();
    char *lock = NULL;
    ck_assert(asprintf(&lock, "LOCK TABLE %s.orders IN ACCESS EXCLUSIVE MODE", schema) > 0);
    ts_pg_exec(locker, "BEGIN", NULL);
    ts_pg_exec(locker, lock, NULL);
    sc_model *m = sc_model_new(50, 1, 21);
    sc_produce_orders(m, topic, 200, 10);
    ck_assert_msg(ts_wait_until(write_waits, NULL, 60000), "the write never waited on the lock");
    wait_health(&h, 503, "stalled: worker 1: a write to target pg has not returned for ", false, 30000, log);
    long ms = strtol(h.body.data + strlen("stalled: worker 1: a write to target pg has not returned for "), NULL, 10);
    ck_assert_msg(ms > 3000 && strstr(h.body.data, " ms\n"), "%s", h.body.data);
    printf("---- /healthz while the write waits ----\n%s", h.body.data);

    /* the write returns: live again, and everything is stored */
    ts_pg_exec(locker, "ROLLBACK", NULL);
    wait_health(&h, 200, "ok\n", true, 30000, log);
    sc_wait_committed(group, topic, 1, 60000, log);
    sc_assert_orders(c, "orders", m);
    int64_t stored = sc_stored_offset(c, group, topic, 0);
    ck_assert_int_eq(stored, ts_kafka_high_watermark(topic, 0));

    /* locked again, and sluice told to stop: past shutdown_timeout it exits
     * 1, and its statement no longer waits on the server */
    ts_pg_exec(locker, "BEGIN", NULL);
    ts_pg_exec(locker, lock, NULL);
    sc_model *m2 = sc_model_new(50, 1, 22);
    sc_produce_orders(m2, topic, 100, 0);
    ck_assert_msg(ts_wait_until(write_waits, NULL, 60000), "the second write never waited on the lock");
    ts_daemon_signal(d, SIGTERM);
    ck_assert_msg(ts_daemon_wait(d, 15000), "still running 15 s after SIGTERM with shutdown_timeout 2s");
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(ts_daemon_exit_code(d) == 1 && strstr(tail, "shutdown_timeout (2000 ms) passed"), "exit %d:\n%s",
                  ts_daemon_exit_code(d), tail);
    ck_assert_msg(ts_wait_until(write_gone, NULL, 10000), "sluice exited, its statement still waits on the lock:\n%s",
                  tail);
    ck_assert_msg(strstr(tail, "cancelling the statement in flight"), "%s", tail);
    free(tail);
    ts_pg_exec(locker, "ROLLBACK", NULL);
    PQfinish(locker);
    /* nothing of the cancelled write was committed */
    sc_assert_orders(c, "orders", m);
    ck_assert_int_eq(sc_stored_offset(c, group, topic, 0), stored);
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), stored);

    ts_daemon_free(d);
    sl_strbuf_free(&h.body);
    sc_model_free(m);
    sc_model_free(m2);
    PQfinish(watcher);
    PQfinish(c);
    ts_kafka_stop();
    free(lock);
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
    curl_global_cleanup();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {metrics_scraped_by_prometheus, readiness_names_what_is_missing,
                            write_hung_on_a_lock_fails_healthz_and_is_cancelled};
    return sc_main("integration admin", tests, 3);
}
