/* test_cratedb_e2e.c - the sluice daemon into CrateDB's dialect, through
 * both transports: HTTP (the stand-in crate_server.py, executing on the test
 * PostgreSQL) and pgwire (the test PostgreSQL itself).  Kafka is librdkafka's
 * mock cluster.  Every test asserts on stored rows and committed offsets:
 * upserts with repeated keys and tombstones, explicit columns, restart from
 * the committed offsets, and the failure shapes (429/503, transient and
 * permanent -2 rows, old-version top-level errors, command tags reporting no
 * row written, on_error fail). */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "scenario.h"
#include "support.h"

#define NPARTS 4

typedef enum { T_HTTP, T_PG } transport;

typedef struct env {
    transport tp;
    cf_server *srv;
    PGconn *c;
    char *schema, *topic, *group, *dir, *log;
} env;

static void env_start(env *e, transport tp, const char *base)
{
    memset(e, 0, sizeof(*e));
    e->tp = tp;
    ts_kafka_start(1);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, base);
    e->topic = ts_unique_name(base);
    e->group = ts_unique_name("sluice_crate");
    ts_kafka_create_topic(e->topic, NPARTS);
    e->dir = ts_tempdir(base);
    e->log = ts_write_file(e->dir, "sluice.log", "%s", "");
    if (tp == T_HTTP)
        e->srv = cf_start();
}

static void env_stop(env *e)
{
    cf_stop(e->srv);
    PQfinish(e->c);
    free(e->schema);
    free(e->topic);
    free(e->group);
    free(e->dir);
    free(e->log);
    ts_kafka_stop();
}

/* A config: the kafka section, one cratedb target, one route with @route_extra. */
static char *write_config(env *e, const char *table, const char *route_extra, int max_rows)
{
    char *kafka = sc_kafka_yaml(e->group);
    char target[512];
    if (e->tp == T_HTTP)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", e->srv->url);
    else
        snprintf(target, sizeof(target), "    dsn: \"${SLUICE_TEST_DSN}\"\n");
    char *cfg = ts_write_file(e->dir, "sluice.yaml",
                              "%s"
                              "targets:\n"
                              "  crate:\n"
                              "    type: cratedb\n"
                              "%s"
                              "    schema: \"%s\"\n"
                              "routes:\n"
                              "  - topics: [%s]\n"
                              "    target: crate\n"
                              "    table: %s\n"
                              "    format: json\n"
                              "    delete_on_tombstone: true\n"
                              "%s"
                              "batch:\n"
                              "  max_rows: %d\n"
                              "  linger_ms: 20\n"
                              "retry:\n"
                              "  initial_backoff_ms: 20ms\n"
                              "  max_backoff_ms: 200ms\n",
                              kafka, target, e->schema, e->topic, table, route_extra ? route_extra : "",
                              max_rows);
    free(kafka);
    return cfg;
}

/* Run until the group committed the whole topic; SIGTERM must exit 0. */
static void run_to_end(env *e, const char *cfg)
{
    ts_daemon *d = ts_daemon_start(cfg, e->log);
    sc_wait_committed(e->group, e->topic, NPARTS, 180000, e->log);
    int code = ts_daemon_stop(d, 60000);
    char *tail = sc_log_tail(e->log, 3000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log tail:\n%s", code, tail);
    free(tail);
    ts_daemon_free(d);
}

/* The stand-in saw neither transactions nor key columns in a SET list. */
static void assert_dialect(env *e)
{
    if (e->tp != T_HTTP)
        return;
    char *stats = cf_stats(e->srv);
    ck_assert_msg(!strstr(stats, "ROLLBACK") && !strstr(stats, "BEGIN") && !strstr(stats, "COMMIT"),
                  "transaction statements were sent: %s", stats);
    ck_assert_msg(!strstr(stats, "SET \\\"id\\\""), "a key column in a SET list: %s", stats);
    free(stats);
    ck_assert_int_eq(cf_stat_int(e->srv, "rollbacks"), 0);
}

/* ---- upserts, repeated keys, tombstones ---- */

static void orders(transport tp)
{
    env e;
    env_start(&e, tp, tp == T_HTTP ? "crate_http_orders" : "crate_pg_orders");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    sc_model *m = sc_model_new(500, NPARTS, 11);
    sc_produce_orders(m, e.topic, 20000, 10);
    char *cfg = write_config(&e, "orders", "    mode: upsert\n", 2000);
    run_to_end(&e, cfg);
    sc_assert_orders(e.c, "orders", m);
    if (tp == T_HTTP) {
        /* REFRESH TABLE is accepted, and the table counts what the model holds */
        char *body = NULL;
        ck_assert_int_eq(cf_sql(e.srv->url, e.schema, "REFRESH TABLE orders", &body), 200);
        free(body);
        long bulk = cf_stat_int(e.srv, "bulk_requests"), rows = cf_stat_int(e.srv, "bulk_rows");
        ck_assert_msg(bulk > 0 && rows >= 500 && rows <= 20000, "%ld bulk requests carried %ld rows", bulk, rows);
    }
    assert_dialect(&e);
    sc_model_free(m);
    free(cfg);
    env_stop(&e);
}

START_TEST(http_orders) { orders(T_HTTP); }
END_TEST
START_TEST(pg_orders) { orders(T_PG); }
END_TEST

/* ---- restart resumes from the committed offsets ---- */

static const char audit_sql[] =
    "CREATE TABLE audit (n bigserial PRIMARY KEY, id bigint, qty integer);"
    "CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql"
    "  SET search_path FROM CURRENT AS $$"
    "  BEGIN INSERT INTO audit (id, qty) VALUES (NEW.id, NEW.qty); RETURN NEW; END $$;"
    "CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders"
    "  FOR EACH ROW EXECUTE FUNCTION audit_orders()";

static void restart(transport tp)
{
    env e;
    env_start(&e, tp, tp == T_HTTP ? "crate_http_restart" : "crate_pg_restart");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    ts_pg_exec(e.c, audit_sql, NULL);
    sc_model *m = sc_model_new(200, NPARTS, 5);
    char *cfg = write_config(&e, "orders", "    mode: upsert\n", 500);
    sc_produce_orders(m, e.topic, 3000, 15);
    run_to_end(&e, cfg);
    sc_assert_orders(e.c, "orders", m);
    int64_t first_seqs = m->next_seq;
    int64_t mark = ts_pg_int(e.c, "SELECT coalesce(max(n), 0) FROM audit", NULL);
    sc_produce_orders(m, e.topic, 3000, 15);
    ck_assert(!sc_offsets_at_end(e.group, e.topic, NPARTS));
    run_to_end(&e, cfg);
    sc_assert_orders(e.c, "orders", m);
    char smark[32], sseq[32];
    snprintf(smark, sizeof(smark), "%" PRId64, mark);
    snprintf(sseq, sizeof(sseq), "%" PRId64, first_seqs);
    ck_assert_int_gt(ts_pg_int(e.c, "SELECT count(*) FROM audit WHERE n > $1", smark, NULL), 0);
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM audit WHERE n > $1 AND qty < $2", smark, sseq, NULL), 0);
    sc_model_free(m);
    free(cfg);
    env_stop(&e);
}

START_TEST(http_restart) { restart(T_HTTP); }
END_TEST
START_TEST(pg_restart) { restart(T_PG); }
END_TEST

/* ---- explicit columns, CrateDB types, key from the record key ---- */

static void explicit_columns(transport tp)
{
    env e;
    env_start(&e, tp, tp == T_HTTP ? "crate_http_cols" : "crate_pg_cols");
    ts_pg_exec(e.c, "CREATE DOMAIN geo_point AS double precision[]", NULL);
    ts_pg_exec(e.c,
               "CREATE TABLE readings (device text, ts timestamptz, temp double precision, ok boolean,"
               " tags text[], loc geo_point, meta jsonb, note text DEFAULT 'kept',"
               " PRIMARY KEY (device, ts))",
               NULL);
    const char *recs[][2] = {
        {"{\"d\":\"a\",\"t\":1700000000000}",
         "{\"dev\":{\"id\":\"a\"},\"time\":1700000000000,\"m\":{\"t\":21.5},\"ok\":true,\"tags\":[\"x\",\"y z\"],"
         "\"pos\":[13.4,52.5],\"meta\":{\"fw\":\"1.0\",\"n\":[1,2]}}"},
        {"{\"d\":\"a\",\"t\":1700000000000}",
         "{\"dev\":{\"id\":\"a\"},\"time\":1700000000000,\"m\":{\"t\":22.25},\"ok\":false,\"tags\":[],"
         "\"pos\":[13.5,52.6],\"meta\":{\"fw\":\"1.1\"}}"},
        {"{\"d\":\"b\",\"t\":1700000001000}",
         "{\"dev\":{\"id\":\"b\"},\"time\":\"2023-11-14T22:13:21Z\",\"m\":{\"t\":-3},\"ok\":null,"
         "\"tags\":[\"q\\\"uote\"],\"pos\":null,\"meta\":null}"},
        {"{\"d\":\"c\",\"t\":1700000002000}",
         "{\"dev\":{\"id\":\"c\"},\"time\":1700000002000,\"m\":{\"t\":1}}"},
        /* the key as the upsert spelled it: batches collapse on the mapped cells */
        {"{\"device\":\"c\",\"ts\":1700000002000}", NULL},
    };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        ts_produce_str(e.topic, 0, recs[i][0], recs[i][1]);
    ts_flush();
    char *cfg = write_config(&e, "readings",
                             "    mode: upsert\n"
                             "    columns:\n"
                             "      device: /dev/id\n"
                             "      ts: /time\n"
                             "      temp: /m/t\n"
                             "      ok: /ok\n"
                             "      tags: /tags\n"
                             "      loc: /pos\n"
                             "      meta: /meta\n",
                             100);
    run_to_end(&e, cfg);
    char *got = ts_pg_text(e.c,
                           "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', device,"
                           " to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), temp, ok, tags, loc,"
                           " meta, note), E'\\n' ORDER BY device) FROM readings",
                           NULL);
    const char *want = "a|2023-11-14 22:13:20|22.25|f|{}|{13.5,52.6}|{\"fw\": \"1.1\"}|kept\n"
                       "b|2023-11-14 22:13:21|-3||{\"q\\\"uote\"}|||kept";
    ck_assert_msg(got && !strcmp(got, want), "readings hold:\n%s\nexpected:\n%s", got ? got : "(nothing)", want);
    free(got);
    assert_dialect(&e);
    free(cfg);
    env_stop(&e);
}

START_TEST(http_explicit_columns) { explicit_columns(T_HTTP); }
END_TEST
START_TEST(pg_explicit_columns) { explicit_columns(T_PG); }
END_TEST

/* ---- failure shapes ---- */

/* Orders 0..n-1 on partition p = id % NPARTS; the one with customer
 * "poison" is the row every fault aims at. */
static int64_t produce_simple(env *e, int n, int poison_id)
{
    int64_t poison_offset = -1;
    for (int i = 0; i < n; i++) {
        char key[32], val[256];
        snprintf(key, sizeof(key), "{\"id\":%d}", i);
        snprintf(val, sizeof(val), "{\"id\":%d,\"customer\":\"%s\",\"qty\":%d}", i,
                 i == poison_id ? "poison" : "ok", i);
        if (i == poison_id) {
            ts_flush(); /* the records before it have their offsets: it gets the next */
            poison_offset = ts_kafka_high_watermark(e->topic, i % NPARTS);
        }
        ts_produce_str(e->topic, i % NPARTS, key, val);
        if (i == poison_id)
            ts_flush();
    }
    ts_flush();
    return poison_offset;
}

static void assert_simple(env *e, int n, int poison_id, bool poison_stored)
{
    char sn[16], sp[16];
    snprintf(sn, sizeof(sn), "%d", n);
    snprintf(sp, sizeof(sp), "%d", poison_id);
    int64_t good = ts_pg_int(e->c, "SELECT count(*) FROM orders WHERE id <> $1 AND id < $2 AND qty = id",
                             sp, sn, NULL);
    ck_assert_msg(good == n - 1, "%" PRId64 " of %d good rows stored", good, n - 1);
    int64_t p = ts_pg_int(e->c, "SELECT count(*) FROM orders WHERE id = $1", sp, NULL);
    ck_assert_int_eq(p, poison_stored ? 1 : 0);
}

static const char dlq_route[] = "    mode: upsert\n    on_error: dlq\n    dlq_table: dead\n";

/* 503 and 429 answers, then rows failing with a passing -2 (shards not
 * available), then a row failing for good: all good rows land, the bad one
 * is dead-lettered, the offsets reach the end. */
START_TEST(http_backpressure_and_row_errors)
{
    env e;
    env_start(&e, T_HTTP, "crate_http_faults");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    cf_faults(e.srv, "{\"status\":503,\"status_count\":3}");
    produce_simple(&e, 400, 57);
    char *cfg = write_config(&e, "orders", dlq_route, 100);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    /* the first requests were refused; now a passing row error, three times */
    cf_faults(e.srv, "{\"fail_value\":\"poison\",\"fail_code\":5002,"
                     "\"fail_message\":\"UnavailableShardsException[shard not available]\",\"fail_count\":3}");
    sc_wait_committed(e.group, e.topic, NPARTS, 120000, e.log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    assert_simple(&e, 400, 57, true);
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM pg_tables WHERE tablename = 'dead' AND schemaname = current_schema()", NULL), 0);
    ck_assert_int_ge(cf_stat_int(e.srv, "refused"), 3);

    /* now a permanent failure (field validation) and 429s */
    cf_faults(e.srv, "{\"reset\":true,\"status\":429,\"status_count\":2,\"fail_value\":\"poison\","
                     "\"fail_code\":4003,\"fail_message\":\"ColumnValidationException[bad value]\"}");
    ts_pg_exec(e.c, "DELETE FROM orders", NULL);
    for (int i = 0; i < 400; i++) {
        char key[32], val[128];
        snprintf(key, sizeof(key), "{\"id\":%d}", i);
        snprintf(val, sizeof(val), "{\"id\":%d,\"customer\":\"%s\",\"qty\":%d}", i, i == 99 ? "poison" : "ok", i);
        ts_produce_str(e.topic, i % NPARTS, key, val);
    }
    ts_flush();
    d = ts_daemon_start(cfg, e.log);
    sc_wait_committed(e.group, e.topic, NPARTS, 120000, e.log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    assert_simple(&e, 400, 99, false);
    char *err = ts_pg_text(e.c, "SELECT error FROM dead WHERE record_value LIKE '%poison%'", NULL);
    ck_assert_msg(err && strstr(err, "bad value"), "dead letter error: %s", err ? err : "(none)");
    free(err);
    assert_dialect(&e);
    free(cfg);
    env_stop(&e);
}
END_TEST

/* A server whose answer never ends (or is absurdly large) is refused at
 * 64 MiB and the write retried, instead of being buffered whole. */
START_TEST(http_huge_answer_is_refused)
{
    env e;
    env_start(&e, T_HTTP, "crate_http_huge");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    produce_simple(&e, 100, -1);
    char *cfg = write_config(&e, "orders", "    mode: upsert\n", 100);
    cf_faults(e.srv, "{\"huge_mb\":200,\"huge_count\":2}");
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    sc_wait_committed(e.group, e.topic, NPARTS, 120000, e.log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM orders WHERE qty = id", NULL), 100);
    char *all = ts_read_file(e.log);
    ck_assert_msg(strstr(all, "exceeds 64 MiB"), "the huge answers were not refused:\n%s", all);
    free(all);
    free(cfg);
    env_stop(&e);
}
END_TEST

/* Older CrateDB: -2 without a reason; alone, the row fails as a top-level
 * error.  The row is isolated and dead-lettered, the rest lands. */
START_TEST(http_old_version_errors)
{
    env e;
    env_start(&e, T_HTTP, "crate_http_old");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    cf_faults(e.srv, "{\"old_version\":true,\"fail_value\":\"poison\",\"fail_code\":4003,"
                     "\"fail_message\":\"ColumnValidationException[old bad value]\"}");
    produce_simple(&e, 300, 123);
    char *cfg = write_config(&e, "orders", dlq_route, 100);
    run_to_end(&e, cfg);
    assert_simple(&e, 300, 123, false);
    char *err = ts_pg_text(e.c, "SELECT error FROM dead", NULL);
    ck_assert_msg(err && strstr(err, "old bad value"), "dead letter error: %s", err ? err : "(none)");
    free(err);
    free(cfg);
    env_stop(&e);
}
END_TEST

/* on_error: fail - the daemon stops, and nothing from the failing row on
 * is committed for its partition. */
static void fail_stops(transport tp)
{
    env e;
    env_start(&e, tp, tp == T_HTTP ? "crate_http_fail" : "crate_pg_fail");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    if (tp == T_HTTP)
        cf_faults(e.srv, "{\"fail_value\":\"poison\",\"fail_code\":4003,\"fail_message\":\"bad\"}");
    else /* a row the server reports as "INSERT 0 0": not written, no error */
        ts_pg_exec(e.c,
                   "CREATE FUNCTION drop_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
                   " BEGIN IF NEW.customer = 'poison' THEN RETURN NULL; END IF; RETURN NEW; END $$;"
                   "CREATE TRIGGER orders_poison BEFORE INSERT OR UPDATE ON orders"
                   " FOR EACH ROW EXECUTE FUNCTION drop_poison()",
                   NULL);
    int64_t off = produce_simple(&e, 200, 42);
    char *cfg = write_config(&e, "orders", "    mode: upsert\n", 50);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    bool exited = ts_daemon_wait(d, 120000);
    char *tail = sc_log_tail(e.log, 3000);
    ck_assert_msg(exited && ts_daemon_exit_code(d) != 0, "sluice should stop with an error; log:\n%s", tail);
    ck_assert_msg(strstr(tail, "poison") || strstr(tail, "@"), "log names the row:\n%s", tail);
    free(tail);
    ts_daemon_free(d);
    int64_t committed = ts_kafka_committed(e.group, e.topic, 42 % NPARTS);
    ck_assert_msg(committed <= off, "partition %d committed %" PRId64 " past the failed row at %" PRId64,
                  42 % NPARTS, committed, off);
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM orders WHERE id = 42", NULL), 0);
    free(cfg);
    env_stop(&e);
}

START_TEST(http_fail_stops) { fail_stops(T_HTTP); }
END_TEST
START_TEST(pg_fail_stops) { fail_stops(T_PG); }
END_TEST

/* pgwire: a row reported by its command tag as not written goes to the
 * dead-letter table; the others land. */
START_TEST(pg_command_tag_dlq)
{
    env e;
    env_start(&e, T_PG, "crate_pg_tag");
    ts_pg_exec(e.c, sc_orders_table_sql, NULL);
    ts_pg_exec(e.c,
               "CREATE FUNCTION drop_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
               " BEGIN IF NEW.customer = 'poison' THEN RETURN NULL; END IF; RETURN NEW; END $$;"
               "CREATE TRIGGER orders_poison BEFORE INSERT OR UPDATE ON orders"
               " FOR EACH ROW EXECUTE FUNCTION drop_poison()",
               NULL);
    produce_simple(&e, 300, 77);
    char *cfg = write_config(&e, "orders", dlq_route, 100);
    run_to_end(&e, cfg);
    assert_simple(&e, 300, 77, false);
    char *err = ts_pg_text(e.c, "SELECT error FROM dead WHERE record_value LIKE '%poison%'", NULL);
    ck_assert_msg(err && strstr(err, "INSERT 0 0"), "dead letter error: %s", err ? err : "(none)");
    free(err);
    free(cfg);
    env_stop(&e);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        http_orders, pg_orders, http_restart, pg_restart, http_explicit_columns, pg_explicit_columns,
        http_backpressure_and_row_errors, http_old_version_errors, http_fail_stops, pg_fail_stops,
        pg_command_tag_dlq, http_huge_answer_is_refused,
    };
    return sc_main("cratedb end-to-end", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
