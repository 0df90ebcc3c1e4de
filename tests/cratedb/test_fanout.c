/* test_fanout.c - fan-out (pipeline.h) end to end, on the real broker and
 * PostgreSQL, with the CrateDB stand-in:
 *  - one topic into PostgreSQL and CrateDB: each target's rows and its own
 *    offsets (PostgreSQL's stored in sluice.offsets under kafka.group.id,
 *    CrateDB's committed to Kafka under "<group.id>.crate"); CrateDB down
 *    (503 on every request) while PostgreSQL keeps writing and its offsets
 *    advance, CrateDB's stay; CrateDB back: it catches up; a restart reads
 *    nothing twice;
 *  - two PostgreSQL routes of one topic (a table and an append-only log of
 *    the same records) in one transaction, and a CrateDB route of it in its
 *    own pipeline, under kill -9: after every kill each partition's log rows
 *    are exactly the records before its stored offset and the table agrees
 *    with the log (all or nothing); at the end every record is in the log
 *    exactly once and CrateDB holds every key's last value;
 *  - child tables (routes[].explode): an order's items replaced as a whole,
 *    deleted with it, and dead-lettered by their route alone;
 *  - sluice_consumer_lag per group: CrateDB's pipeline, down, lags under
 *    "<group.id>.crate" while PostgreSQL's group is at 0, each value the
 *    broker's high watermark minus that group's committed offset; its route
 *    with transforms and table-name rules of its own. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crate_fixture.h"
#include "runner.h"
#include "scenario.h"
#include "support.h"

typedef struct waitpg {
    PGconn *c;
    const char *sql;
    int64_t want;
    ts_daemon *d;
} waitpg;

static bool pg_reaches(void *arg)
{
    waitpg *w = arg;
    return ts_pg_int(w->c, w->sql, NULL) == w->want || !ts_daemon_running(w->d);
}

static void wait_pg(PGconn *c, ts_daemon *d, const char *log, int64_t want, const char *sql)
{
    waitpg w = {c, sql, want, d};
    bool ok = ts_wait_until(pg_reaches, &w, 60000);
    int64_t got = ts_pg_int(c, sql, NULL);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(ok && got == want && ts_daemon_running(d), "%s: %" PRId64 ", expected %" PRId64 "\n%s", sql, got,
                  want, tail);
    free(tail);
}

typedef struct waitk {
    const char *group, *topic;
    int64_t want[2];
} waitk;

static bool committed_is(void *arg)
{
    waitk *w = arg;
    for (int p = 0; p < 2; p++)
        if (ts_kafka_committed(w->group, w->topic, p) != w->want[p])
            return false;
    return true;
}

static void wait_committed(const char *group, const char *topic, int64_t p0, int64_t p1, const char *log)
{
    waitk w = {group, topic, {p0, p1}};
    bool ok = ts_wait_until(committed_is, &w, 60000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(ok, "group %s committed %s[0]=%" PRId64 " [1]=%" PRId64 ", expected %" PRId64 ", %" PRId64 "\n%s",
                  group, topic, ts_kafka_committed(group, topic, 0), ts_kafka_committed(group, topic, 1), p0, p1,
                  tail);
    free(tail);
}

static bool log_has(void *arg)
{
    const char **a = arg;
    char *text = ts_read_file(a[0]);
    bool found = text && strstr(text, a[1]);
    free(text);
    return found;
}

static void produce_range(const char *topic, int from, int to, const char *tag)
{
    for (int i = from; i < to; i++) {
        char key[16], value[96];
        snprintf(key, sizeof(key), "%d", i);
        snprintf(value, sizeof(value), "{\"id\":%d,\"v\":\"%s%d\"}", i, tag, i);
        ts_produce_str(topic, i % 2, key, value);
    }
    ts_flush();
}

START_TEST(pg_and_crate_one_down)
{
    ts_kafka_start(1);
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, "fanout");
    ts_pg_exec(pg, "CREATE TABLE orders (id bigint PRIMARY KEY, v text NOT NULL)", NULL);
    cf_server *srv = cf_start();
    cf_faults(srv, "{\"refresh_interval_ms\": 0}");
    char stmt[256];
    snprintf(stmt, sizeof(stmt), "CREATE TABLE orders_c (id BIGINT PRIMARY KEY, v TEXT)");
    ck_assert_int_eq(cf_sql(srv->url, schema, stmt, NULL), 200);
    char *topic = ts_unique_name("fan"), *group = ts_unique_name("sluice_fan");
    char crate_group[300];
    snprintf(crate_group, sizeof(crate_group), "%s.crate", group);
    ts_kafka_create_topic(topic, 2);
    produce_range(topic, 0, 10, "a");

    char *dir = ts_tempdir("fanout"), *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n"
                              "  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n"
                              "  - name: to_pg\n    topics: [%s]\n    target: pg\n    table: %s.orders\n"
                              "  - name: to_crate\n    topics: [%s]\n    target: crate\n    table: orders_c\n    fan_out: true\n"
                              "batch:\n  linger_ms: 20\n"
                              "retry:\n  initial_backoff_ms: 50ms\n  max_backoff_ms: 200ms\n",
                              kafka, srv->url, schema, topic, schema, topic);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    /* the test's connection has the schema in its search_path */
    const char *pg_rows = "SELECT count(*) FROM orders", *crate_rows = "SELECT count(*) FROM orders_c";

    ts_daemon *d = ts_daemon_start(cfg, log);
    wait_pg(pg, d, log, 10, pg_rows);
    wait_pg(pg, d, log, 10, crate_rows);
    wait_committed(group, topic, 5, 5, log);
    wait_committed(crate_group, topic, 5, 5, log);
    /* PostgreSQL's offsets are stored with its rows, under the main group only */
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    ck_assert_int_eq(sc_stored_offset(pg, crate_group, topic, 0), -1);

    /* CrateDB down: every request answered 503 */
    cf_faults(srv, "{\"status\": 503, \"status_count\": 1000000}");
    produce_range(topic, 10, 20, "b");
    wait_pg(pg, d, log, 20, pg_rows);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    wait_committed(group, topic, 10, 10, log);
    const char *args[2] = {log, "[sink crate (worker 2)] write failed (attempt"};
    ck_assert_msg(ts_wait_until(log_has, args, 30000), "no failed CrateDB write logged");
    ck_assert_int_eq(ts_pg_int(pg, crate_rows, NULL), 10);
    ck_assert_int_eq(ts_kafka_committed(crate_group, topic, 0), 5);
    ck_assert_int_eq(ts_kafka_committed(crate_group, topic, 1), 5);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped while CrateDB was down");

    /* back: CrateDB catches up, PostgreSQL has nothing more to do */
    cf_faults(srv, "{\"reset\": true, \"refresh_interval_ms\": 0}");
    wait_pg(pg, d, log, 20, crate_rows);
    wait_committed(crate_group, topic, 10, 10, log);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);

    /* a restart reads nothing twice: PostgreSQL's rows are rewritten by
     * nothing (xmin unchanged), CrateDB gets no request but its new record's */
    ts_pg_exec(pg, "CREATE TABLE before AS SELECT id, xmin::text::bigint AS x FROM orders", NULL);
    long bulk_before = cf_stat_int(srv, "bulk_rows");
    produce_range(topic, 20, 21, "c");
    d = ts_daemon_start(cfg, log);
    wait_pg(pg, d, log, 21, pg_rows);
    wait_pg(pg, d, log, 21, crate_rows);
    wait_committed(crate_group, topic, 11, 10, log);
    wait_committed(group, topic, 11, 10, log);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM orders o JOIN before b USING (id) "
                                   "WHERE o.xmin::text::bigint <> b.x", NULL), 0);
    ck_assert_int_eq(cf_stat_int(srv, "bulk_rows") - bulk_before, 1);
    /* exact rows on both sides */
    const char *want = "0:a0 1:a1 2:a2 3:a3 4:a4 5:a5 6:a6 7:a7 8:a8 9:a9 10:b10 11:b11 12:b12 13:b13 14:b14 "
                       "15:b15 16:b16 17:b17 18:b18 19:b19 20:c20";
    char *got_pg = ts_pg_text(pg, "SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM orders", NULL);
    char *got_c = ts_pg_text(pg, "SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM orders_c", NULL);
    ck_assert_str_eq(got_pg, want);
    ck_assert_str_eq(got_c, want);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    /* sluice status: the main group, then crate's, each with its own offsets */
    char *out = NULL;
    ck_assert_int_eq(ts_run(&out, "status", "-c", cfg, "--json", NULL), 0);
    /* the JSON document is the first '[' onwards (librdkafka, or a wrapper, may log before it) */
    const char *doc = out[0] == '[' ? out : strstr(out, "\n[");
    json_t *st = doc ? json_loads(doc, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    ck_assert_msg(json_is_array(st) && json_array_size(st) == 2, "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(st, 0), "group")), group);
    json_t *cst = json_array_get(st, 1);
    ck_assert_str_eq(json_string_value(json_object_get(cst, "group")), crate_group);
    json_t *parts = json_object_get(cst, "partitions");
    ck_assert_uint_eq(json_array_size(parts), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *pt = json_array_get(parts, i);
        ck_assert_str_eq(json_string_value(json_object_get(pt, "route")), "to_crate");
        ck_assert_int_eq(json_integer_value(json_object_get(pt, "committed_offset")), i == 0 ? 11 : 10);
        ck_assert_int_eq(json_integer_value(json_object_get(pt, "lag")), 0);
    }
    json_t *mparts = json_object_get(json_array_get(st, 0), "partitions");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(mparts, 0), "route")), "to_pg");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(mparts, 0), "db_offset")), 11);
    json_decref(st);
    free(out);
    /* sluice offsets acts on the route's own group */
    ck_assert_int_eq(ts_run(&out, "offsets", "-c", cfg, "--route", "to_crate", "--reset-to", "earliest", "--dry-run",
                            NULL), 0);
    char want_line[400];
    snprintf(want_line, sizeof(want_line), "would set offsets of route 'to_crate', group '%s':", crate_group);
    ck_assert_msg(strstr(out, want_line), "%s", out);
    free(out);
    char *text = ts_read_file(log);
    char line[400];
    snprintf(line, sizeof(line), "fan-out: target crate has a pipeline of its own, in group '%s'", crate_group);
    ck_assert_msg(strstr(text, line), "log lacks: %s", line);
    free(text), free(got_pg), free(got_c);
    cf_stop(srv);
    PQfinish(pg);
    free(cfg), free(kafka), free(dir), free(log), free(topic), free(group), free(schema);
    ts_kafka_stop();
}
END_TEST

#define PAIR_TOTAL 3000
#define PAIR_KEYS 50

typedef struct grew_arg {
    PGconn *c;
    const char *sql;
    int64_t above;
    ts_daemon *d;
} grew_arg;

static bool grew(void *arg)
{
    grew_arg *g = arg;
    return ts_pg_int(g->c, g->sql, NULL) > g->above || !ts_daemon_running(g->d);
}

/* Records @from..@from+@n-1 (v "s<i>") to keys i*7 % PAIR_KEYS, key k to
 * partition k % 2; o: the record's offset in its partition (@next). */
static void produce_pairs(const char *topic, int from, int n, int64_t next[2])
{
    for (int i = from; i < from + n; i++) {
        int k = (i * 7) % PAIR_KEYS, p = k % 2;
        char key[16], value[128];
        snprintf(key, sizeof(key), "%d", k);
        snprintf(value, sizeof(value), "{\"id\":%d,\"v\":\"s%d\",\"p\":%d,\"o\":%" PRId64 "}", k, i, p, next[p]++);
        ts_produce_str(topic, p, key, value);
    }
    ts_flush();
}

/* All or nothing, checked with sluice stopped: per partition, the log holds
 * exactly the records before the stored offset, and the table the last of
 * each key among them. */
static void check_pair(PGconn *pg, const char *group, const char *topic)
{
    for (int p = 0; p < 2; p++) {
        int64_t stored = sc_stored_offset(pg, group, topic, p);
        const char *part = p ? "1" : "0";
        int64_t n = ts_pg_int(pg, "SELECT count(*) FROM log WHERE p = $1", part, NULL);
        int64_t distinct = ts_pg_int(pg, "SELECT count(DISTINCT o) FROM log WHERE p = $1", part, NULL);
        int64_t top = ts_pg_int(pg, "SELECT coalesce(max(o) + 1, 0) FROM log WHERE p = $1", part, NULL);
        ck_assert_msg(n == (stored < 0 ? 0 : stored) && distinct == n && top == n,
                      "partition %d: stored offset %" PRId64 ", log rows %" PRId64 " (%" PRId64 " distinct, up to %" PRId64
                      ")", p, stored, n, distinct, top);
    }
    int64_t off = ts_pg_int(pg,
                            "SELECT count(*) FROM (SELECT DISTINCT ON (id) id, v FROM log ORDER BY id, p, o DESC) l "
                            "FULL JOIN orders t USING (id) WHERE t.v IS DISTINCT FROM l.v", NULL);
    ck_assert_msg(off == 0, "%" PRId64 " keys where the table and the log disagree", off);
}

START_TEST(pg_pair_kill9)
{
    uint64_t seed = ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    printf("fan-out pair kill -9: seed %" PRIu64 "\n", seed);
    srand((unsigned)seed);
    ts_kafka_start(1);
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, "fanpair");
    ts_pg_exec(pg, "CREATE TABLE orders (id bigint PRIMARY KEY, v text NOT NULL)", NULL);
    ts_pg_exec(pg, "CREATE TABLE log (id bigint NOT NULL, v text NOT NULL, p int NOT NULL, o bigint NOT NULL)",
               NULL);
    char *topic = ts_unique_name("fanpair"), *group = ts_unique_name("sluice_fanpair");
    ts_kafka_create_topic(topic, 2);
    int64_t next[2] = {0, 0};
    produce_pairs(topic, 0, PAIR_TOTAL, next);
    char *dir = ts_tempdir("fanpair"), *kafka = sc_kafka_yaml(group);
    /* and the same topic into CrateDB, in a pipeline of its own */
    cf_server *srv = cf_start();
    cf_faults(srv, "{\"refresh_interval_ms\": 0}");
    ck_assert_int_eq(cf_sql(srv->url, schema, "CREATE TABLE orders_c (id BIGINT PRIMARY KEY, v TEXT)", NULL), 200);
    char crate_group[300];
    snprintf(crate_group, sizeof(crate_group), "%s.crate", group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n"
                              "  - name: latest\n    topics: [%s]\n    target: pg\n    table: %s.orders\n"
                              "  - name: history\n    topics: [%s]\n    target: pg\n    table: %s.log\n    fan_out: true\n"
                              "    mode: insert\n"
                              "  - name: copy\n    topics: [%s]\n    target: crate\n    table: orders_c\n    fan_out: true\n"
                              "batch:\n  max_rows: 100\n  linger_ms: 20\n",
                              kafka, srv->url, schema, topic, schema, topic, schema, topic);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    const char *count_sql = "SELECT count(*) FROM log";
    int kills = 0;
    for (int round = 0; round < 3; round++) {
        int64_t before = ts_pg_int(pg, count_sql, NULL);
        if (before >= PAIR_TOTAL)
            break;
        ts_daemon *d = ts_daemon_start(cfg, log);
        grew_arg g = {pg, count_sql, before, d};
        bool progress = ts_wait_until(grew, &g, 60000);
        char *tail = sc_log_tail(log, 2000);
        ck_assert_msg(progress && ts_daemon_running(d), "no progress after start %d\n%s", round, tail);
        free(tail);
        usleep((useconds_t)(rand() % 150) * 1000);
        if (ts_daemon_running(d)) {
            ts_daemon_signal(d, SIGKILL);
            ck_assert(ts_daemon_wait(d, 10000));
            kills++;
        }
        ts_daemon_free(d);
        check_pair(pg, group, topic);
    }
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, 2, 60000, log);
    sc_wait_committed(crate_group, topic, 2, 60000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    check_pair(pg, group, topic);
    /* CrateDB: nothing lost (at-least-once upserts: replays are harmless) */
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM orders_c c FULL JOIN orders o USING (id) "
                                   "WHERE c.v IS DISTINCT FROM o.v", NULL), 0);
    ck_assert_int_eq(ts_pg_int(pg, count_sql, NULL), PAIR_TOTAL);
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(DISTINCT v) FROM log", NULL), PAIR_TOTAL);
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM orders", NULL), PAIR_KEYS);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    /* PostgreSQL's routes share the main group; CrateDB stores nothing there */
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM sluice.offsets WHERE group_id LIKE $1 || '.%'", group, NULL),
                     0);
    char *text = ts_read_file(log);
    ck_assert_msg(!strstr(text, "target pg has a pipeline of its own"), "a second pipeline for target pg");
    ck_assert_msg(strstr(text, "goes through 2 routes of target pg, in one transaction"), "fan-out not logged");
    free(text);
    printf("fan-out pair: %d kills, %d records in the log once each\n", kills, PAIR_TOTAL);
    ck_assert_msg(kills > 0, "sluice finished before any kill: nothing was tested");
    cf_stop(srv);
    PQfinish(pg);
    free(cfg), free(kafka), free(dir), free(log), free(topic), free(group), free(schema);
    ts_kafka_stop();
}
END_TEST

/* Rebalances in both groups: a second process joins (each of its
 * pipelines takes partitions from the first's), then the first is killed
 * -9 and the second takes everything over, in each group on its own. */
START_TEST(fanout_rebalance)
{
    ts_kafka_start(1);
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, "fanreb");
    ts_pg_exec(pg, "CREATE TABLE orders (id bigint PRIMARY KEY, v text NOT NULL)", NULL);
    ts_pg_exec(pg, "CREATE TABLE log (id bigint NOT NULL, v text NOT NULL, p int NOT NULL, o bigint NOT NULL)",
               NULL);
    cf_server *srv = cf_start();
    cf_faults(srv, "{\"refresh_interval_ms\": 0}");
    ck_assert_int_eq(cf_sql(srv->url, schema, "CREATE TABLE orders_c (id BIGINT PRIMARY KEY, v TEXT)", NULL), 200);
    char *topic = ts_unique_name("fanreb"), *group = ts_unique_name("sluice_fanreb");
    char crate_group[300];
    snprintf(crate_group, sizeof(crate_group), "%s.crate", group);
    ts_kafka_create_topic(topic, 2);
    char *dir = ts_tempdir("fanreb"), *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n"
                              "  - name: latest\n    topics: [%s]\n    target: pg\n    table: %s.orders\n"
                              "  - name: history\n    topics: [%s]\n    target: pg\n    table: %s.log\n    fan_out: true\n"
                              "    mode: insert\n"
                              "  - name: copy\n    topics: [%s]\n    target: crate\n    table: orders_c\n    fan_out: true\n"
                              "batch:\n  max_rows: 100\n  linger_ms: 20\n",
                              kafka, srv->url, schema, topic, schema, topic, schema, topic);
    char *log_a = ts_write_file(dir, "a.log", "%s", ""), *log_b = ts_write_file(dir, "b.log", "%s", "");
    int64_t next[2] = {0, 0};
    produce_pairs(topic, 0, 500, next);
    ts_daemon *a = ts_daemon_start(cfg, log_a);
    grew_arg g = {pg, "SELECT count(*) FROM log", 0, a};
    ck_assert(ts_wait_until(grew, &g, 60000) && ts_daemon_running(a));
    ts_daemon *b = ts_daemon_start(cfg, log_b);
    /* b holds partitions in both groups */
    const char *pg_side[2] = {log_b, "[worker 1] assigned"}, *crate_side[2] = {log_b, "[worker 2 (crate)] assigned"};
    ck_assert_msg(ts_wait_until(log_has, pg_side, 60000) && ts_wait_until(log_has, crate_side, 60000),
                  "the second process got no partition in one of the groups");
    ts_daemon_signal(a, SIGKILL);
    ck_assert(ts_daemon_wait(a, 10000));
    ts_daemon_free(a);
    /* the second half arrives while b takes a's partitions over */
    produce_pairs(topic, 500, 500, next);
    sc_wait_committed(group, topic, 2, 60000, log_b);
    sc_wait_committed(crate_group, topic, 2, 60000, log_b);
    ck_assert_int_eq(ts_daemon_stop(b, 30000), 0);
    ts_daemon_free(b);
    check_pair(pg, group, topic);
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM log", NULL), 1000);
    ck_assert_int_eq(ts_pg_int(pg, "SELECT count(*) FROM orders_c c FULL JOIN orders o USING (id) "
                                   "WHERE c.v IS DISTINCT FROM o.v", NULL), 0);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    cf_stop(srv);
    PQfinish(pg);
    free(cfg), free(kafka), free(dir), free(log_a), free(log_b), free(topic), free(group), free(schema);
    ts_kafka_stop();
}
END_TEST

/* Child tables: an order and its items, the items replaced as a whole on
 * each update of the order (shrinking, growing, emptied), several versions
 * of one order in one batch, and the order's tombstone deleting them. */
START_TEST(child_tables)
{
    ts_kafka_start(1);
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, "fanchild");
    ts_pg_exec(pg, "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL)", NULL);
    ts_pg_exec(pg, "CREATE TABLE order_items (order_id bigint NOT NULL, idx int NOT NULL, sku text, qty int,"
                   " PRIMARY KEY (order_id, idx))", NULL);
    char *topic = ts_unique_name("fanchild"), *group = ts_unique_name("sluice_fanchild");
    ts_kafka_create_topic(topic, 2);
    char *dir = ts_tempdir("fanchild"), *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "routes:\n"
                              "  - name: orders\n    topics: [%s]\n    target: pg\n    table: %s.orders\n"
                              "    delete_on_tombstone: true\n"
                              "  - name: items\n    topics: [%s]\n    target: pg\n    table: %s.order_items\n"
                              "    delete_on_tombstone: true\n    explode: /items\n    explode_index: idx\n"
                              "    explode_parent:\n      order_id: /id\n"
                              "    on_error: dlq\n    dlq_table: %s.dead\n"
                              "batch:\n  linger_ms: 50\n",
                              kafka, topic, schema, topic, schema, schema);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    /* key k to partition k %% 2 */
    ts_produce_str(topic, 1, "1", "{\"id\":1,\"customer\":\"ann\",\"items\":[{\"sku\":\"A\",\"qty\":1},"
                                  "{\"sku\":\"B\",\"qty\":2},{\"sku\":\"C\",\"qty\":3}]}");
    ts_produce_str(topic, 0, "2", "{\"id\":2,\"customer\":\"bob\",\"items\":[{\"sku\":\"X\",\"qty\":1}]}");
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, log);
    wait_pg(pg, d, log, 4, "SELECT count(*) FROM order_items");
    wait_committed(group, topic, 1, 1, log);
    char *items = ts_pg_text(pg, "SELECT string_agg(order_id || '/' || idx || ':' || sku || 'x' || qty, ' ' "
                                 "ORDER BY order_id, idx) FROM order_items", NULL);
    ck_assert_str_eq(items, "1/0:Ax1 1/1:Bx2 1/2:Cx3 2/0:Xx1");
    free(items);
    /* order 1 shrinks; 3 has no items; 4 changes twice (likely one batch:
     * the rows of its first versions leave it); 2's tombstone */
    ts_produce_str(topic, 1, "1", "{\"id\":1,\"customer\":\"ann\",\"items\":[{\"sku\":\"A\",\"qty\":5}]}");
    ts_produce_str(topic, 1, "3", "{\"id\":3,\"customer\":\"cy\",\"items\":[]}");
    ts_produce_str(topic, 0, "4", "{\"id\":4,\"customer\":\"di\",\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\"},"
                                  "{\"sku\":\"c\"}]}");
    ts_produce_str(topic, 0, "4", "{\"id\":4,\"customer\":\"di\",\"items\":[{\"sku\":\"d\",\"qty\":1}]}");
    ts_produce(topic, 0, "2", 1, NULL, 0);
    /* bad for the items route only (qty), at offset 3 of partition 1: the
     * order is written, its items route dead-letters the record whole */
    ts_produce_str(topic, 1, "5", "{\"id\":5,\"customer\":\"ed\",\"items\":[{\"sku\":\"p\",\"qty\":1},"
                                  "{\"sku\":\"q\",\"qty\":\"lots\"}]}");
    ts_flush();
    wait_committed(group, topic, 4, 4, log);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    items = ts_pg_text(pg, "SELECT string_agg(order_id || '/' || idx || ':' || sku || 'x' || coalesce(qty, 0), ' ' "
                           "ORDER BY order_id, idx) FROM order_items", NULL);
    ck_assert_str_eq(items, "1/0:Ax5 4/0:dx1");
    char *orders = ts_pg_text(pg, "SELECT string_agg(id || ':' || customer, ' ' ORDER BY id) FROM orders", NULL);
    ck_assert_str_eq(orders, "1:ann 3:cy 4:di 5:ed");
    char *dead = ts_pg_text(pg, "SELECT string_agg(route || '@' || partition || ':' || kafka_offset, ' ') FROM dead",
                            NULL);
    ck_assert_str_eq(dead, "items@1:3");
    free(dead);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    free(items), free(orders);
    PQfinish(pg);
    free(cfg), free(kafka), free(dir), free(log), free(topic), free(group), free(schema);
    ts_kafka_stop();
}
END_TEST

typedef struct waitlag {
    const char *url, *topic;
    const char *groups[2];
    sl_strbuf body;
    double got[2][2], want[2][2];
} waitlag;

/* Every (group, partition)'s sluice_consumer_lag in one scrape equals the
 * topic's high watermark minus that group's committed offset, as the
 * broker says now. */
static bool lag_matches(void *arg)
{
    waitlag *w = arg;
    if (ts_http_get(w->url, &w->body) != 200)
        return false;
    bool ok = true;
    for (int g = 0; g < 2; g++)
        for (int p = 0; p < 2; p++) {
            char series[600];
            snprintf(series, sizeof(series), "sluice_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"%d\"}",
                     w->groups[g], w->topic, p);
            int64_t committed = ts_kafka_committed(w->groups[g], w->topic, p);
            w->got[g][p] = ts_metric(w->body.data, series);
            w->want[g][p] = committed < 0 ? -2 : (double)(ts_kafka_high_watermark(w->topic, p) - committed);
            ok &= w->got[g][p] == w->want[g][p];
        }
    return ok;
}

static void wait_lag(waitlag *w, double main_lag, double fan_lag, const char *log)
{
    bool ok = ts_wait_until(lag_matches, w, 60000);
    char *tail = sc_log_tail(log, 1500);
    sl_strbuf lags = SL_STRBUF_INIT; /* the scrape's lag lines */
    for (const char *l = w->body.data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, "sluice_consumer_lag{", 20))
            sl_strbuf_append(&lags, l, strchr(l, '\n') ? (size_t)(strchr(l, '\n') - l) + 1 : strlen(l));
    ck_assert_msg(ok && w->got[0][0] == main_lag && w->got[0][1] == main_lag && w->got[1][0] == fan_lag &&
                      w->got[1][1] == fan_lag,
                  "lag of %s: %g %g (broker: %g %g), of %s: %g %g (broker: %g %g); expected %g and %g\n%s\n%s",
                  w->groups[0], w->got[0][0], w->got[0][1], w->want[0][0], w->want[0][1], w->groups[1], w->got[1][0],
                  w->got[1][1], w->want[1][0], w->want[1][1], main_lag, fan_lag, lags.data ? lags.data : "", tail);
    sl_strbuf_free(&lags);
    free(tail);
}

/* Records @from..@to-1 of the lag test: id i to partition i %% 2, at
 * offset i / 2; 3 and 7 (partition 1) are tests, which the CrateDB route's
 * filter drops. */
static void produce_lag(const char *topic, int from, int to)
{
    for (int i = from; i < to; i++) {
        char value[96];
        snprintf(value, sizeof(value), "{\"id\":%d,\"v\":\"a%d\",\"status\":\"%s\"}", i, i, i % 4 == 3 ? "test" : "ok");
        ts_produce_str(topic, i % 2, NULL, value);
    }
    ts_flush();
}

/* sluice_consumer_lag of a fan-out pipeline, under its own group: CrateDB
 * down, its pipeline lags under "<group.id>.crate" while PostgreSQL's group
 * stays at 0; CrateDB back, both at 0.  Each scraped value equals the
 * broker's high watermark minus that group's committed offset.  `sluice
 * offsets --route` of the CrateDB route sets that group's offsets alone.
 * The CrateDB route has transforms and table-name rules of its own (a
 * dotted topic into shop_orders). */
START_TEST(fanout_lag_per_group)
{
    ts_kafka_start(1);
    PGconn *pg = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(pg, "fanlag");
    ts_pg_exec(pg, "CREATE TABLE orders (id bigint PRIMARY KEY, v text NOT NULL, status text)", NULL);
    cf_server *srv = cf_start();
    cf_faults(srv, "{\"refresh_interval_ms\": 0}");
    ck_assert_int_eq(cf_sql(srv->url, schema, "CREATE TABLE shop_orders (id BIGINT PRIMARY KEY, val TEXT, "
                                              "src_partition INT, src_offset BIGINT)", NULL), 200);
    char *prefix = ts_unique_name("fanlag"), *group = ts_unique_name("sluice_fanlag");
    char topic[200], crate_group[300];
    snprintf(topic, sizeof(topic), "%s.Shop.Orders", prefix);
    snprintf(crate_group, sizeof(crate_group), "%s.crate", group);
    ts_kafka_create_topic(topic, 2);
    produce_lag(topic, 0, 2);
    int port = ts_free_port();
    char *dir = ts_tempdir("fanlag"), *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%s  statistics.interval.ms: \"300\"\n"
                              "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n"
                              "  - name: to_pg\n    topics: [%s]\n    target: pg\n    table: %s.orders\n"
                              "  - name: to_crate\n    topics: [%s]\n    target: crate\n    table: ${topic}\n"
                              "    fan_out: true\n"
                              "    name_strip_prefix: ['%s.']\n    name_replace: {'\\.': _}\n    name_case: lower\n"
                              "    transforms:\n"
                              "      - {type: filter, field: status, predicate: equals, value: test}\n"
                              "      - {type: replace_field, exclude: [status], rename: {v: val}}\n"
                              "      - {type: insert_field, partition_field: src_partition, offset_field: src_offset}\n"
                              "batch:\n  linger_ms: 20\n"
                              "retry:\n  initial_backoff_ms: 50ms\n  max_backoff_ms: 200ms\n"
                              "admin:\n  listen: 127.0.0.1:%d\n",
                              kafka, srv->url, schema, topic, schema, topic, prefix, port);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    /* the CrateDB route's offsets are its group's: set there, and only there */
    char *out = NULL;
    ck_assert_int_eq(ts_run(&out, "offsets", "-c", cfg, "--route", "to_crate", "--reset-to", "earliest", NULL), 0);
    ck_assert_msg(ts_kafka_committed(crate_group, topic, 0) == 0 && ts_kafka_committed(crate_group, topic, 1) == 0,
                  "sluice offsets did not set group %s's offsets:\n%s", crate_group, out);
    ck_assert_msg(ts_kafka_committed(group, topic, 0) == -1 && ts_kafka_committed(group, topic, 1) == -1,
                  "sluice offsets of route to_crate set the main group's offsets:\n%s", out);
    free(out);

    ts_daemon *d = ts_daemon_start(cfg, log);
    wait_committed(group, topic, 1, 1, log);
    wait_committed(crate_group, topic, 1, 1, log);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    waitlag w = {.url = url, .topic = topic, .groups = {group, crate_group}, .body = SL_STRBUF_INIT};
    wait_lag(&w, 0, 0, log);

    /* CrateDB down (its table already read): 4 more records a partition,
     * written to PostgreSQL, waiting for CrateDB */
    cf_faults(srv, "{\"status\": 503, \"status_count\": 1000000}");
    produce_lag(topic, 2, 10);
    wait_pg(pg, d, log, 10, "SELECT count(*) FROM orders");
    wait_committed(group, topic, 5, 5, log);
    wait_lag(&w, 0, 4, log);
    ck_assert_int_eq(ts_kafka_committed(crate_group, topic, 0), 1);

    /* CrateDB back: it catches up from its own offsets, and its lag is 0 */
    cf_faults(srv, "{\"reset\": true, \"refresh_interval_ms\": 0}");
    wait_committed(crate_group, topic, 5, 5, log);
    wait_lag(&w, 0, 0, log);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    /* the CrateDB route's own chain: no tests, v renamed, status dropped,
     * where each record came from */
    char *got = ts_pg_text(pg, "SELECT string_agg(concat_ws(':', id, val, src_partition, src_offset), ' ' ORDER BY id) "
                               "FROM shop_orders", NULL);
    ck_assert_str_eq(got, "0:a0:0:0 1:a1:1:0 2:a2:0:1 4:a4:0:2 5:a5:1:2 6:a6:0:3 8:a8:0:4 9:a9:1:4");
    free(got);
    got = ts_pg_text(pg, "SELECT string_agg(id || ':' || v || ':' || status, ' ' ORDER BY id) FROM orders", NULL);
    ck_assert_str_eq(got, "0:a0:ok 1:a1:ok 2:a2:ok 3:a3:test 4:a4:ok 5:a5:ok 6:a6:ok 7:a7:test 8:a8:ok 9:a9:ok");
    free(got);
    sc_assert_stored_offsets_at_end(pg, group, topic, 2);
    sl_strbuf_free(&w.body);
    cf_stop(srv);
    PQfinish(pg);
    free(cfg), free(kafka), free(dir), free(log), free(prefix), free(group), free(schema);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    if (!getenv("SLUICE_TEST_DSN")) {
        printf("SKIP: SLUICE_TEST_DSN is not set\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("fan-out");
    TCase *tc = tcase_create("fanout");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pg_and_crate_one_down);
    tcase_add_test(tc, pg_pair_kill9);
    tcase_add_test(tc, fanout_rebalance);
    tcase_add_test(tc, child_tables);
    tcase_add_test(tc, fanout_lag_per_group);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
