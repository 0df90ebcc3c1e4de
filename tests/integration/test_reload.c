/* test_reload.c - SIGHUP and SIGTERM of a running daemon.
 *
 * reload: a new table for a route is taken at a batch boundary without
 * leaving the group (no rebalance): events before the reload are in the old
 * table, events after it in the new one; a change of kafka.group.id and a
 * broken file are refused with one log line, the running configuration
 * goes on; sluice_config_reloads_total counts both results.  With two
 * routes, the records of each stay in its own table across a reload, and
 * their offsets are exactly the topics' ends.
 *
 * shutdown_timeout: a write blocked on a lock past the deadline makes the
 * process exit 1 without anything of it committed, in the table, in
 * sluice.offsets or in Kafka. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "scenario.h"
#include "sluice/strbuf.h"
#include "support.h"

#define NPARTS 2


typedef struct log_wait {
    const char *path;
    const char *needle;
    int count; /* wait until the needle occurs this many times */
} log_wait;

static bool log_has(void *arg)
{
    log_wait *lw = arg;
    char *s = ts_read_file(lw->path);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, lw->needle)); p++)
        n++;
    free(s);
    return n >= lw->count;
}

static void wait_log(const char *path, const char *needle, int count)
{
    log_wait lw = {path, needle, count};
    if (!ts_wait_until(log_has, &lw, 60000)) {
        char *tail = sc_log_tail(path, 3000);
        ck_abort_msg("the log never showed '%s' %d time(s); tail:\n%s", needle, count, tail);
    }
}

static const char *config_fmt = "%s"
                                "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                "routes:\n  - name: orders\n    topics: [%s]\n    target: pg\n"
                                "    table: %s.%s\n    delete_on_tombstone: true\n"
                                "batch:\n  max_rows: %d\n  linger_ms: 20\n"
                                "log_level: %s\n"
                                "admin:\n  listen: 127.0.0.1:%d\n";

START_TEST(sighup_applies_routes_at_a_batch_boundary)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_reload");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    ts_pg_exec(c, "CREATE TABLE orders_b (LIKE orders INCLUDING ALL)", NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_reload");
    ts_kafka_create_topic(topic, NPARTS);
    int port = ts_free_port();
    char *dir = ts_tempdir("reload");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml", config_fmt, kafka, topic, schema, "orders", 100, "info", port);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    sc_model *m1 = sc_model_new(100, NPARTS, 3);
    sc_produce_orders(m1, topic, 600, 10);
    ts_daemon *d = ts_daemon_start(config, log);
    sc_wait_committed(group, topic, NPARTS, 120000, log);
    sc_assert_orders(c, "orders", m1);
    double rebalances = ts_scrape(port, "sluice_rebalances_total");
    ck_assert_msg(rebalances >= 1, "rebalances %g", rebalances);

    /* the route now writes to orders_b, in smaller batches, logging debug */
    free(ts_write_file(dir, "sluice.yaml", config_fmt, kafka, topic, schema, "orders_b", 50, "debug", port));
    ts_daemon_signal(d, SIGHUP);
    wait_log(log, "every worker uses the new configuration", 1);
    char *s = ts_read_file(log);
    ck_assert_msg(strstr(s, "applying at the next batch boundary: log_level, batch.max_rows, routes[0].table"), "%s",
                  s);
    free(s);
    ck_assert_msg(ts_scrape(port, "sluice_config_reloads_total{result=\"applied\"}") == 1, "applied reloads");

    sc_model *m2 = sc_model_new(100, NPARTS, 5);
    sc_produce_orders(m2, topic, 400, 10);
    sc_wait_committed(group, topic, NPARTS, 120000, log);
    sc_assert_orders(c, "orders_b", m2);
    sc_assert_orders(c, "orders", m1); /* untouched since the reload */

    /* refused: a new group means leaving this one */
    char *kafka2 = sc_kafka_yaml("another_group");
    free(ts_write_file(dir, "sluice.yaml", config_fmt, kafka2, topic, schema, "orders", 50, "debug", port));
    ts_daemon_signal(d, SIGHUP);
    wait_log(log, "rejected, the running configuration is kept: changing kafka.group.id needs a restart", 1);
    /* refused: not a valid file; the error names file and line */
    free(ts_write_file(dir, "sluice.yaml", "kafka: [\n"));
    ts_daemon_signal(d, SIGHUP);
    wait_log(log, "rejected, the running configuration is kept: ", 2);
    s = ts_read_file(log);
    ck_assert_msg(strstr(s, "sluice.yaml:2:"), "no file:line in the rejection:\n%s", s);
    free(s);
    ck_assert_msg(ts_scrape(port, "sluice_config_reloads_total{result=\"rejected\"}") == 2, "rejected reloads");

    /* the running configuration goes on: orders_b, same group, no rebalance */
    sc_produce_orders(m2, topic, 200, 10);
    sc_wait_committed(group, topic, NPARTS, 120000, log);
    sc_assert_orders(c, "orders_b", m2);
    sc_assert_orders(c, "orders", m1);
    ck_assert_msg(ts_scrape(port, "sluice_rebalances_total") == rebalances, "a reload made the worker rejoin");
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    sc_model_free(m1);
    sc_model_free(m2);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(kafka2);
    free(config);
    free(log);
    curl_global_cleanup();
}
END_TEST

/* Records of topic @topic, ids [@from, @to), valued "<prefix><id>". */
static void produce_ids(const char *topic, int from, int to, char prefix)
{
    for (int i = from; i < to; i++) {
        char key[32], val[64];
        snprintf(key, sizeof(key), "{\"id\":%d}", i);
        snprintf(val, sizeof(val), "{\"id\":%d,\"v\":\"%c%d\"}", i, prefix, i);
        ts_produce_str(topic, 0, key, val);
    }
    ts_flush();
}

/* @table holds exactly ids [@from, @to) valued "<prefix><id>", and no other row. */
static void assert_ids(PGconn *c, const char *table, int from, int to, char prefix)
{
    char sql[512], pfx[2] = {prefix, 0}, lo[16], hi[16];
    snprintf(lo, sizeof(lo), "%d", from);
    snprintf(hi, sizeof(hi), "%d", to);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE id >= $1::bigint AND id < $2::bigint AND v = $3 || id", table);
    int64_t good = ts_pg_int(c, sql, lo, hi, pfx, NULL);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    int64_t all = ts_pg_int(c, sql, NULL);
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(id || '|' || v, ' ' ORDER BY id) FROM (SELECT * FROM %s"
             " WHERE NOT (id >= $1::bigint AND id < $2::bigint AND v = $3 || id) LIMIT 5) x", table);
    char *strays = ts_pg_text(c, sql, lo, hi, pfx, NULL);
    ck_assert_msg(good == to - from && all == to - from, "%s holds %lld rows, %lld of them its own (expected %d); "
                  "first strays: %s", table, (long long)all, (long long)good, to - from, strays ? strays : "");
    free(strays);
}

static const char *two_routes_fmt = "%s"
                                    "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                    "routes:\n"
                                    "  - name: ra\n    topics: [%s]\n    target: pg\n    table: %s.ta\n"
                                    "  - name: rb\n    topics: [%s]\n    target: pg\n    table: %s.tb\n"
                                    "batch:\n  max_rows: %d\n  linger_ms: 20\n";

/* Finding: after a SIGHUP the routes' direct-reader shortcuts pointed into
 * the emptied table cache, so that a record of one route went into the
 * table another route had built first after the reload, and its offset was
 * committed as written. */
START_TEST(sighup_with_two_routes_keeps_each_route_in_its_table)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_reload2");
    ts_pg_exec(c, "CREATE TABLE ta (id bigint PRIMARY KEY, v text NOT NULL)", NULL);
    ts_pg_exec(c, "CREATE TABLE tb (LIKE ta INCLUDING ALL)", NULL);
    char *ta = ts_unique_name("ta"), *tb = ts_unique_name("tb");
    char *group = ts_unique_name("sluice_reload2");
    ts_kafka_create_topic(ta, 1);
    ts_kafka_create_topic(tb, 1);
    char *dir = ts_tempdir("reload2");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml", two_routes_fmt, kafka, ta, schema, tb, schema, 100);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);

    /* before the reload: ta's table is the first one the worker builds, tb's the second */
    produce_ids(ta, 0, 100, 'a');
    sc_wait_committed(group, ta, 1, 120000, log);
    produce_ids(tb, 100, 200, 'b');
    sc_wait_committed(group, tb, 1, 120000, log);

    free(ts_write_file(dir, "sluice.yaml", two_routes_fmt, kafka, ta, schema, tb, schema, 50));
    ts_daemon_signal(d, SIGHUP);
    wait_log(log, "every worker uses the new configuration", 1);

    /* after it: tb's table first, then ta's */
    produce_ids(tb, 200, 300, 'b');
    sc_wait_committed(group, tb, 1, 120000, log);
    produce_ids(ta, 300, 400, 'a');
    sc_wait_committed(group, ta, 1, 120000, log);

    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    /* each table holds its own route's records and nothing else */
    int64_t ta_rows = ts_pg_int(c, "SELECT count(*) FROM ta", NULL);
    int64_t tb_rows = ts_pg_int(c, "SELECT count(*) FROM tb", NULL);
    ck_assert_msg(ta_rows == 200 && tb_rows == 200, "ta holds %lld rows, tb %lld; 200 each expected",
                  (long long)ta_rows, (long long)tb_rows);
    assert_ids(c, "(SELECT * FROM ta WHERE id < 100) q", 0, 100, 'a');
    assert_ids(c, "(SELECT * FROM ta WHERE id >= 100) q", 300, 400, 'a');
    assert_ids(c, "(SELECT * FROM tb WHERE id < 200) q", 100, 200, 'b');
    assert_ids(c, "(SELECT * FROM tb WHERE id >= 200) q", 200, 300, 'b');
    /* and the offsets are exactly the ends of the topics, in the database and in Kafka */
    ck_assert_int_eq(sc_stored_offset(c, group, ta, 0), 200);
    ck_assert_int_eq(sc_stored_offset(c, group, tb, 0), 200);
    ck_assert_int_eq(ts_kafka_committed(group, ta, 0), 200);
    ck_assert_int_eq(ts_kafka_committed(group, tb, 0), 200);
    ts_daemon_free(d);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(ta);
    free(tb);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

static PGconn *watcher;
static bool write_blocked(void *arg)
{
    const char *schema = arg;
    return ts_pg_int(watcher,
                     "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE NOT l.granted AND c.relname = 'orders' AND n.nspname = $1",
                     schema, NULL) > 0;
}

START_TEST(sigterm_past_shutdown_timeout_commits_nothing)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    watcher = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_deadline");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_deadline");
    ts_kafka_create_topic(topic, 1);
    char *dir = ts_tempdir("deadline");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n  - topics: [%s]\n    target: pg\n    table: %s.orders\n"
                                 "shutdown_timeout: 2s\n",
                                 kafka, topic, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    /* the table is locked: the first write waits */
    PGconn *locker = ts_pg_connect();
    ts_pg_exec(locker, "BEGIN", NULL);
    char *lock = NULL;
    ck_assert(asprintf(&lock, "LOCK TABLE %s.orders IN ACCESS EXCLUSIVE MODE", schema) > 0);
    ts_pg_exec(locker, lock, NULL);
    sc_model *m = sc_model_new(50, 1, 9);
    sc_produce_orders(m, topic, 200, 0);
    ts_daemon *d = ts_daemon_start(config, log);
    ck_assert_msg(ts_wait_until(write_blocked, schema, 60000), "the write never waited on the lock");
    int64_t t0 = ts_now_ms();
    ts_daemon_signal(d, SIGTERM);
    ck_assert_msg(ts_daemon_wait(d, 15000), "still running 15 s after SIGTERM with shutdown_timeout 2s");
    int64_t took = ts_now_ms() - t0;
    int code = ts_daemon_exit_code(d);
    char *tail = sc_log_tail(log, 2000);
    ck_assert_msg(code == 1, "exit %d, expected 1; log:\n%s", code, tail);
    ck_assert_msg(took >= 1900 && took < 6000, "exited after %lld ms", (long long)took);
    ck_assert_msg(strstr(tail, "shutdown_timeout (2000 ms) passed"), "%s", tail);
    free(tail);
    ts_pg_exec(locker, "ROLLBACK", NULL);
    PQfinish(locker);
    /* nothing of the blocked write was committed anywhere */
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM orders", NULL), 0);
    ck_assert_int_eq(sc_stored_offset(c, group, topic, 0), -1);
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), -1);
    ts_daemon_free(d);
    sc_model_free(m);
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
}
END_TEST

/* The service-manager protocol, as systemd would receive it: a datagram
 * socket named by NOTIFY_SOCKET (libsystemd's sd_notify() sends to it). */
typedef struct notified {
    int fd;
    sl_strbuf all; /* every message received, one per line */
} notified;

static void drain(notified *n)
{
    char buf[512];
    ssize_t got;
    while ((got = recv(n->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
        buf[got] = '\0';
        for (char *p = buf; *p; p++)
            if (*p == '\n')
                *p = '|';
        sl_strbuf_printf(&n->all, "%s\n", buf);
    }
}

typedef struct notify_wait {
    notified *n;
    const char *needle;
} notify_wait;

static bool got_message(void *arg)
{
    notify_wait *w = arg;
    drain(w->n);
    return w->n->all.data && strstr(w->n->all.data, w->needle);
}

static void wait_notified(notified *n, const char *needle)
{
    notify_wait w = {n, needle};
    ck_assert_msg(ts_wait_until(got_message, &w, 60000), "never notified '%s'; got:\n%s", needle,
                  n->all.data ? n->all.data : "(nothing)");
}

START_TEST(service_manager_notifications)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "it_notify");
    ts_pg_exec(c, sc_orders_table_sql, NULL);
    char *topic = ts_unique_name("orders");
    char *group = ts_unique_name("sluice_notify");
    ts_kafka_create_topic(topic, 1);
    char *dir = ts_tempdir("notify");
    notified n = {socket(AF_UNIX, SOCK_DGRAM, 0), SL_STRBUF_INIT};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", dir);
    ck_assert_msg(bind(n.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s", sa.sun_path);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1); /* no WATCHDOG_PID: meant for whichever process reads it */
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml", config_fmt, kafka, topic, schema, "orders", 100, "info", 0);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    wait_notified(&n, "READY=1");
    wait_notified(&n, "WATCHDOG=1");
    /* READY only once the group assigned and the target answered */
    char *s = ts_read_file(log);
    ck_assert_msg(strstr(s, "assigned ") && strstr(s, "connected to PostgreSQL"), "%s", s);
    free(s);
    free(ts_write_file(dir, "sluice.yaml", config_fmt, kafka, topic, schema, "orders", 50, "info", 0));
    ts_daemon_signal(d, SIGHUP);
    wait_notified(&n, "RELOADING=1");
    wait_notified(&n, "STATUS=configuration reloaded");
    ts_daemon_signal(d, SIGTERM);
    wait_notified(&n, "STOPPING=1");
    ck_assert_msg(ts_daemon_wait(d, 60000) && ts_daemon_exit_code(d) == 0, "exit after SIGTERM");
    drain(&n);
    printf("---- notifications ----\n%s", n.all.data);
    /* in order: READY before RELOADING before the second READY before STOPPING */
    const char *r1 = strstr(n.all.data, "READY=1"), *rl = strstr(n.all.data, "RELOADING=1");
    const char *r2 = rl ? strstr(rl, "READY=1") : NULL, *st = strstr(n.all.data, "STOPPING=1");
    ck_assert_msg(r1 && rl && r2 && st && r1 < rl && rl < r2 && r2 < st, "order:\n%s", n.all.data);
    close(n.fd);
    sl_strbuf_free(&n.all);
    ts_daemon_free(d);
    PQfinish(c);
    ts_kafka_stop();
    free(schema);
    free(topic);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {sighup_applies_routes_at_a_batch_boundary, sigterm_past_shutdown_timeout_commits_nothing,
                            service_manager_notifications, sighup_with_two_routes_keeps_each_route_in_its_table};
    return sc_main("integration reload", tests, 4);
}
