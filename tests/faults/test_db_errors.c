/* test_db_errors.c - errors raised by PostgreSQL during a write:
 *   - transient ones (serialization failure 40001, deadlock 40P01, raised by
 *     a trigger a few times) are retried and everything is written once;
 *   - a permanent one (a CHECK constraint) under on_error: fail stops the
 *     daemon naming topic[partition]@offset, with nothing stored or
 *     committed past the last good batch;
 *   - the same under on_error: dlq, to a table and to a Kafka topic: the
 *     batch is bisected, every good row is written and only the bad records
 *     become dead letters, carrying their origin and their original bytes;
 *   - libpq connections carry keepalive and tcp_user_timeout defaults the
 *     DSN may override;
 *   - a dead-letter table another session creates at the same moment is
 *     no failure of the batch. */
#include <check.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "pq_int.h"
#include "sluice/sink.h"

typedef struct env {
    PGconn *c;
    char *schema;
    char *group;
    char *dir;
    char *log;
    /* env_start_route()'s; NULL after env_start() alone */
    char *topic;
    char *routes;
    char *cfg;
} env;

static void env_start(env *e, const char *base)
{
    ts_kafka_start(1);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, base);
    e->group = ts_unique_name("sluice_dberr");
    e->dir = ts_tempdir(base);
    e->log = ts_write_file(e->dir, "sluice.log", "%s", "");
    e->topic = e->routes = e->cfg = NULL;
}

static void env_stop(env *e)
{
    PQfinish(e->c);
    ts_kafka_stop();
    free(e->schema);
    free(e->group);
    free(e->dir);
    free(e->log);
    free(e->topic);
    free(e->routes);
    free(e->cfg);
}

/* Record seq of partition 0 carries v = -1 (violating CHECK (v >= 0)) when bad(seq). */
static void produce_v(const char *topic, int64_t from, int64_t n, bool (*bad)(int64_t))
{
    char key[64], value[128];
    for (int64_t seq = from; seq < from + n; seq++) {
        int kl = snprintf(key, sizeof(key), "k%" PRId64, seq);
        int vl = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"v\":%d}", seq, bad && bad(seq) ? -1 : (int)(seq % 100));
        ts_produce(topic, 0, key, (size_t)kl, value, (size_t)vl);
    }
    ts_flush();
}

static char *route_yaml(const char *topic, const char *table, const char *extra)
{
    char *s;
    ck_assert(asprintf(&s,
                       "  - name: %s\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: %s\n"
                       "    mode: insert\n"
                       "    add_columns:\n"
                       "      kp: kafka.partition\n"
                       "      ko: kafka.offset\n"
                       "%s",
                       table, topic, table, extra ? extra : "") > 0);
    return s;
}

static char *config_with(env *e, const char *routes, int max_rows)
{
    char *kafka = ts_kafka_yaml(e->group, NULL);
    char *cfg = ts_write_file(e->dir, "sluice.yaml",
                              "%s"
                              "targets:\n"
                              "  pg:\n"
                              "    type: postgresql\n"
                              "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "    schema: %s\n"
                              "routes:\n%s"
                              "batch:\n"
                              "  max_rows: %d\n"
                              "  linger_ms: 200\n"
                              "retry:\n"
                              "  initial_backoff_ms: 50\n"
                              "  max_backoff_ms: 500\n",
                              kafka, e->schema, routes, max_rows);
    free(kafka);
    return cfg;
}

/* env_start() with one route (route_yaml()) from a new topic of one
 * partition into @table, created by @ddl; batches of @max_rows. */
static void env_start_route(env *e, const char *base, const char *ddl, const char *table, const char *extra,
                            int max_rows)
{
    env_start(e, base);
    ts_pg_exec(e->c, ddl, NULL);
    e->topic = ts_unique_name(base);
    ts_kafka_create_topic(e->topic, 1);
    e->routes = route_yaml(e->topic, table, extra);
    e->cfg = config_with(e, e->routes, max_rows);
}

typedef struct stored_arg {
    env *e;
    const char *table;
    const char *topic;
    int64_t n;
} stored_arg;

/* count(*) of @sql with one parameter, or -1 while its table does not exist */
static int64_t ts_pg_try_count(PGconn *c, const char *sql, const char *param)
{
    const char *params[] = {param};
    PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, param ? params : NULL, NULL, NULL, 0);
    int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

/* Wait until sluice has stored offset @n of @topic (rows and offsets are
 * committed together: what the route wrote is then final), at most
 * @timeout_ms and no longer than @d runs; the stored offset reached. */
static int64_t wait_stored(env *e, ts_daemon *d, const char *topic, int64_t n, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms, got;
    while ((got = fk_stored_offset(e->c, e->group, topic)) != n && ts_now_ms() < deadline && ts_daemon_running(d))
        usleep(100 * 1000);
    return got;
}

static bool rows_stored(void *arg)
{
    stored_arg *a = arg;
    char q[256], why[512];
    int64_t rows = 0;
    snprintf(q, sizeof(q), "%s.%s", a->e->schema, a->table);
    return fk_consistent(a->e->c, q, a->e->group, a->topic, &rows, why, sizeof(why)) && rows == a->n;
}

START_TEST(serialization_failures_and_deadlocks_are_retried)
{
    env e;
    env_start_route(&e, "f_transient",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int);"
                    "CREATE SEQUENCE injected;"
                    "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$"
                    " DECLARE n bigint := nextval('injected'); BEGIN"
                    "  IF n <= 3 THEN RAISE EXCEPTION 'injected serialization failure %', n USING ERRCODE = '40001'; END IF;"
                    "  IF n <= 5 THEN RAISE EXCEPTION 'injected deadlock %', n USING ERRCODE = '40P01'; END IF;"
                    "  RETURN NULL; END $$;"
                    "CREATE TRIGGER inject BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION inject()",
                    "events", NULL, 1000);
    const char *topic = e.topic, *cfg = e.cfg;
    produce_v(topic, 0, 5000, NULL);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    stored_arg a = {&e, "events", topic, 5000};
    ck_assert_msg(ts_wait_until(rows_stored, &a, 60000), "not everything was written; log:\n%s", fk_tail(d));
    ck_assert_int_ge(ts_pg_int(e.c, "SELECT last_value FROM injected", NULL), 6);
    ck_assert_msg(fk_log_count(d, "injected serialization failure") == 3 && fk_log_count(d, "injected deadlock") == 2,
                  "each injected error should be logged once as a retried write; log:\n%s", fk_tail(d));
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    char q[256];
    snprintf(q, sizeof(q), "%s.events", e.schema);
    fk_assert_exact(e.c, q, e.group, topic, 1, 5000);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* A primary that failed over answers 25006 (read-only transaction) on
 * every statement of the connections it still holds: simulated by a trigger
 * that fails every insert of the first session that writes, forever.  The
 * write must be retried on a new connection, and everything stored once. */
START_TEST(read_only_server_is_retried_on_a_new_connection)
{
    env e;
    env_start_route(&e, "f_readonly",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int);"
                    "CREATE SEQUENCE ro_pid MINVALUE 0 START 1;" /* 1: armed, bound to the next writer */
                    "CREATE FUNCTION ro() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$"
                    " DECLARE bound bigint; BEGIN"
                    "  SELECT last_value INTO bound FROM ro_pid;"
                    "  IF bound = 1 THEN PERFORM setval('ro_pid', pg_backend_pid()); bound := pg_backend_pid(); END IF;"
                    "  IF bound = pg_backend_pid() THEN"
                    "   RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' USING ERRCODE = '25006';"
                    "  END IF;"
                    "  RETURN NULL; END $$;"
                    "CREATE TRIGGER ro BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION ro()",
                    "events", NULL, 1000);
    const char *topic = e.topic, *cfg = e.cfg;
    produce_v(topic, 0, 3000, NULL);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    stored_arg a = {&e, "events", topic, 3000};
    ck_assert_msg(ts_wait_until(rows_stored, &a, 60000), "not everything was written; log:\n%s", fk_tail(d));
    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));
    ck_assert_msg(fk_log_count(d, "read-only transaction") >= 1, "the read-only error was not logged; log:\n%s",
                  fk_tail(d));
    ck_assert_int_gt(ts_pg_int(e.c, "SELECT last_value FROM ro_pid", NULL), 1); /* it did bind a session */
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    char q[256];
    snprintf(q, sizeof(q), "%s.events", e.schema);
    fk_assert_exact(e.c, q, e.group, topic, 1, 3000);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* An index row too large (54000, program_limit_exceeded) is one row's
 * fault: under on_error: dlq bisection isolates it like a CHECK violation
 * instead of stopping the worker. */
START_TEST(index_row_too_large_is_a_dead_letter)
{
    env e;
    env_start_route(&e, "f_bigindex",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int, body text);"
                    "CREATE INDEX events_body ON events (body)",
                    "events", "    on_error: dlq\n    dlq_table: dead_letters\n", 1000);
    const char *topic = e.topic, *cfg = e.cfg;
    uint64_t rnd = 42;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int64_t seq = 0; seq < 200; seq++) {
        char key[32], *value = malloc(12000);
        int kl = snprintf(key, sizeof(key), "k%" PRId64, seq);
        int vl = snprintf(value, 12000, "{\"seq\":%" PRId64 ",\"v\":1,\"body\":\"", seq);
        int len = seq == 57 || seq == 133 ? 9000 : 10; /* random text: pglz cannot shrink it below 2704 bytes */
        for (int i = 0; i < len; i++)
            value[vl++] = alphabet[fk_rand(&rnd) % 64];
        vl += snprintf(value + vl, 12000 - (size_t)vl, "\"}");
        ts_produce(topic, 0, key, (size_t)kl, value, (size_t)vl);
        free(value);
    }
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    int64_t stored = wait_stored(&e, d, topic, 200, 60000);
    ck_assert_msg(stored == 200, "stored offset %" PRId64 "; log:\n%s", stored, fk_tail(d));
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(DISTINCT ko) * 1000 + count(*) FROM %s.events", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 198 * 1000 + 198);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));
    snprintf(q, sizeof(q),
             "SELECT string_agg(kafka_offset::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters"
             " WHERE topic = $1 AND error LIKE '%%index row%%'",
             e.schema);
    char *offs = ts_pg_text(e.c, q, topic, NULL);
    ck_assert_msg(offs && !strcmp(offs, "57,133"), "dead letters at %s, expected 57,133; log:\n%s", offs ? offs : "none",
                  fk_tail(d));
    free(offs);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* A table named by the record (a template) that does not exist is that
 * record's fault: dead-lettered under on_error: dlq, the other topic's
 * records stored, the daemon going on. */
START_TEST(missing_templated_table_is_a_dead_letter)
{
    env e;
    env_start(&e, "f_tmpl");
    char *t_ok = ts_unique_name("tmplok"), *t_missing = ts_unique_name("tmplmissing");
    char q[512];
    snprintf(q, sizeof(q), "CREATE TABLE \"%s\" (seq bigint NOT NULL, kp int, ko bigint, v int)", t_ok);
    ts_pg_exec(e.c, q, NULL);
    ts_kafka_create_topic(t_ok, 1);
    ts_kafka_create_topic(t_missing, 1);
    char *routes;
    ck_assert(asprintf(&routes,
                       "  - name: by_topic\n"
                       "    topics: [%s, %s]\n"
                       "    target: pg\n"
                       "    table: \"${topic}\"\n"
                       "    mode: insert\n"
                       "    add_columns: {kp: kafka.partition, ko: kafka.offset}\n"
                       "    on_error: dlq\n"
                       "    dlq_table: dead_letters\n",
                       t_ok, t_missing) > 0);
    char *cfg = config_with(&e, routes, 1000);
    produce_v(t_missing, 0, 3, NULL);
    produce_v(t_ok, 0, 50, NULL);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    stored_arg a = {&e, t_ok, t_ok, 50};
    ck_assert_msg(ts_wait_until(rows_stored, &a, 60000), "the existing table's rows were not written; log:\n%s",
                  fk_tail(d));
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters WHERE topic = $1 AND error LIKE '%%does not exist%%'",
             e.schema);
    int64_t deadline = ts_now_ms() + 30000;
    while (ts_pg_try_count(e.c, q, t_missing) != 3 && ts_now_ms() < deadline)
        usleep(100 * 1000);
    ck_assert_msg(ts_pg_try_count(e.c, q, t_missing) == 3, "the missing table's records are not dead letters; log:\n%s",
                  fk_tail(d));
    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(routes);
    free(cfg);
    free(t_ok);
    free(t_missing);
    env_stop(&e);
}
END_TEST

/* A field name beyond PostgreSQL's 63 bytes under auto_evolve: the column
 * would be created truncated and never found under the field's name, and
 * every record would run ALTER TABLE again.  Such records are dead letters;
 * the others are stored, and the table is altered at most once. */
START_TEST(long_field_name_under_auto_evolve_is_a_dead_letter)
{
    env e;
    env_start(&e, "f_longname");
    char *topic = ts_unique_name("longname");
    ts_kafka_create_topic(topic, 1);
    char *routes;
    ck_assert(asprintf(&routes,
                       "  - name: evolving\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: evolving\n"
                       "    format: connect-json\n"
                       "    key: [seq]\n"
                       "    auto_create: true\n"
                       "    auto_evolve: true\n"
                       "    on_error: dlq\n"
                       "    dlq_table: dead_letters\n",
                       topic) > 0);
    char *cfg = config_with(&e, routes, 1000);
    char longname[80];
    memset(longname, 'x', 70);
    memcpy(longname, "field_", 6);
    longname[70] = '\0';
    for (int seq = 0; seq < 10; seq++) {
        char value[1024];
        bool bad = seq % 3 == 1;
        int vl = snprintf(value, sizeof(value),
                          "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"seq\",\"type\":\"int64\"},"
                          "{\"field\":\"%s\",\"type\":\"string\",\"optional\":true}]},"
                          "\"payload\":{\"seq\":%d,\"%s\":\"v\"}}",
                          bad ? longname : "name", seq, bad ? longname : "name");
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%d", seq);
        ts_produce(topic, 0, key, (size_t)kl, value, (size_t)vl);
    }
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters WHERE error LIKE '%%63 bytes%%'", e.schema);
    int64_t deadline = ts_now_ms() + 60000;
    while (ts_pg_try_count(e.c, q, NULL) != 3 && ts_now_ms() < deadline && ts_daemon_running(d))
        usleep(100 * 1000);
    ck_assert_msg(ts_pg_try_count(e.c, q, NULL) == 3, "the long-named records are not dead letters; log:\n%s",
                  fk_tail(d));
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.evolving", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 7);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));
    ck_assert_int_eq(fk_log_count(d, "auto_evolve: added"), 0);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(routes);
    free(cfg);
    free(topic);
    env_stop(&e);
}
END_TEST

static bool bad_scattered(int64_t seq);

/* A retriable error after a bisection (here: the first dead-letter insert
 * fails with a serialization failure) rolls the transaction back; the
 * retry bisects again.  The dead letters of the rolled-back try must not
 * be written a second time: exactly once in the table, as delivery.md
 * promises. */
START_TEST(retry_after_bisection_writes_dead_letters_once)
{
    env e;
    env_start_route(&e, "f_dlqretry",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int CHECK (v >= 0));"
                    "CREATE TABLE dead_letters (id bigserial PRIMARY KEY, route text NOT NULL, topic text NOT NULL,"
                    " partition int NOT NULL, kafka_offset bigint NOT NULL, record_key bytea, record_value bytea,"
                    " error text NOT NULL, failed_at timestamptz NOT NULL DEFAULT now());"
                    "CREATE SEQUENCE injected;"
                    "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$"
                    " BEGIN IF nextval('injected') = 1 THEN"
                    "  RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001'; END IF;"
                    " RETURN NEW; END $$;"
                    "CREATE TRIGGER inject BEFORE INSERT ON dead_letters FOR EACH ROW EXECUTE FUNCTION inject()",
                    "events", "    on_error: dlq\n    dlq_table: dead_letters\n", 1000);
    const char *topic = e.topic, *cfg = e.cfg;
    char *metrics = ts_write_file(e.dir, "metrics.prom", "%s", "");
    FILE *fcfg = fopen(cfg, "a");
    ck_assert(fcfg);
    fprintf(fcfg, "metrics_file: %s\n", metrics);
    fclose(fcfg);
    produce_v(topic, 0, 300, bad_scattered);
    int nbad = 0;
    for (int64_t s = 0; s < 300; s++)
        nbad += bad_scattered(s);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(wait_stored(&e, d, topic, 300, 60000) == 300, "not everything was committed; log:\n%s",
                  fk_tail(d));
    char q[512];
    ck_assert_msg(fk_log_count(d, "injected serialization failure") >= 1, "no retry was injected; log:\n%s",
                  fk_tail(d));
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters", e.schema);
    int64_t dead = ts_pg_int(e.c, q, NULL);
    snprintf(q, sizeof(q), "SELECT count(DISTINCT kafka_offset) FROM %s.dead_letters", e.schema);
    ck_assert_msg(dead == nbad && ts_pg_int(e.c, q, NULL) == nbad, "%" PRId64 " dead letters for %d bad records",
                  dead, nbad);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.events", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 300 - nbad);
    /* counted and logged once per dead letter committed, not once per try */
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    int logged = fk_log_count(d, "dead-lettered ");
    ck_assert_msg(logged == nbad, "%d \"dead-lettered\" log lines for %d dead letters; log:\n%s", logged, nbad,
                  fk_tail(d));
    char *prom = ts_read_file(metrics);
    const char *line = strstr(prom, "sluice_dead_letters_total{route=\"events\"} ");
    ck_assert_msg(line, "no sluice_dead_letters_total for the route:\n%s", prom);
    long counted = atol(line + strlen("sluice_dead_letters_total{route=\"events\"} "));
    ck_assert_msg(counted == nbad, "sluice_dead_letters_total is %ld for %d dead letters", counted, nbad);
    free(prom);
    free(metrics);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* Table names from data (${source.table}) under auto_create: a name the
 * route's auto_create_allow does not match, or one beyond auto_create_max,
 * is the record's fault: dead-lettered, nothing created for it. */
START_TEST(auto_create_allow_and_max)
{
    env e;
    env_start(&e, "f_autocreate");
    char *sample = ts_read_file(FAULTS_SRCDIR "/tests/debezium/data/pg_create.value.json");
    ck_assert_ptr_nonnull(sample);
    json_t *ev = json_loads(sample, 0, NULL);
    free(sample);
    ck_assert_ptr_nonnull(ev);
    char *topic = ts_unique_name("autocreate");
    ts_kafka_create_topic(topic, 1);
    char *routes;
    ck_assert(asprintf(&routes,
                       "  - name: cdc\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: \"${source.table}\"\n"
                       "    format: debezium\n"
                       "    key: [id]\n"
                       "    auto_create: true\n"
                       "    auto_create_allow: '^%s\\.t[0-9]$'\n"
                       "    auto_create_max: 2\n"
                       "    on_error: dlq\n"
                       "    dlq_table: dead_letters\n",
                       topic, e.schema) > 0);
    char *cfg = config_with(&e, routes, 1000);
    /* t1, t2 allowed and within the cap; evil not allowed; t3 beyond the cap; t1 again */
    const char *tables[] = {"t1", "t2", "evil", "t3", "t1"};
    for (int i = 0; i < 5; i++) {
        json_t *payload = json_object_get(ev, "payload");
        json_object_set_new(json_object_get(payload, "source"), "table", json_string(tables[i]));
        json_object_set_new(json_object_get(payload, "after"), "id", json_integer(i));
        char *v = json_dumps(ev, JSON_COMPACT);
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%d", i);
        ts_produce(topic, 0, key, (size_t)kl, v, strlen(v));
        free(v);
    }
    ts_flush();
    json_decref(ev);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(wait_stored(&e, d, topic, 5, 60000) == 5, "not everything was committed; log:\n%s", fk_tail(d));
    char q[512];
    snprintf(q, sizeof(q),
             "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '%s'", e.schema);
    char *tabs = ts_pg_text(e.c, q, NULL);
    ck_assert_str_eq(tabs, "dead_letters,t1,t2");
    free(tabs);
    snprintf(q, sizeof(q),
             "SELECT string_agg(kafka_offset::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters"
             " WHERE error LIKE '%%auto_create%%'",
             e.schema);
    char *offs = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(offs && !strcmp(offs, "2,3"), "dead letters at %s; log:\n%s", offs ? offs : "none", fk_tail(d));
    free(offs);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.t1", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 2);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(routes);
    free(cfg);
    free(topic);
    env_stop(&e);
}
END_TEST

#define FAIL_AT 1234

static bool bad_at_fail(int64_t seq)
{
    return seq == FAIL_AT;
}

START_TEST(check_violation_under_fail_stops_at_its_offset)
{
    env e;
    env_start_route(&e, "f_fail",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int CHECK (v >= 0))",
                    "events", "    on_error: fail\n", 500);
    const char *topic = e.topic, *cfg = e.cfg;
    produce_v(topic, 0, 2000, bad_at_fail);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(ts_daemon_wait(d, 60000), "sluice kept running after the bad record; log:\n%s", fk_tail(d));
    int code = ts_daemon_exit_code(d);
    ck_assert_msg(code != 0 && code < 128, "sluice exited with %d; log:\n%s", code, fk_tail(d));
    char where[256];
    snprintf(where, sizeof(where), "%s[0]@%d", topic, FAIL_AT);
    ck_assert_msg(fk_log_count(d, where) > 0, "the log does not name %s; log:\n%s", where, fk_tail(d));

    /* The batches before the bad record's batch are written, nothing at or after it. */
    char q[256], why[512];
    int64_t rows = 0;
    snprintf(q, sizeof(q), "%s.events", e.schema);
    ck_assert_msg(fk_consistent(e.c, q, e.group, topic, &rows, why, sizeof(why)), "%s", why);
    /* batches hold at most 500 records: the failing one started at FAIL_AT - 499 or later */
    ck_assert_msg(rows <= FAIL_AT && rows >= FAIL_AT - 499,
                  "%" PRId64 " rows stored, expected the batches before offset %d", rows, FAIL_AT);
    int64_t committed = ts_kafka_committed(e.group, topic, 0);
    ck_assert_msg(committed <= FAIL_AT, "Kafka holds offset %" PRId64 ", past the bad record at %d", committed,
                  FAIL_AT);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

#define DLQ_N 3000

static bool bad_scattered(int64_t seq)
{
    /* 9 bad records: first, last, neighbours, and lone ones in between */
    return seq == 0 || seq == 1 || seq == 777 || seq == 1500 || seq == 1501 || seq == 1502 || seq == 2222 ||
           seq == 2998 || seq == DLQ_N - 1;
}

START_TEST(check_violations_under_dlq_are_isolated_by_bisection)
{
    env e;
    env_start(&e, "f_dlq");
    ts_pg_exec(e.c,
               "CREATE TABLE to_table (seq bigint NOT NULL, kp int, ko bigint, v int CHECK (v >= 0));"
               "CREATE TABLE to_topic (seq bigint NOT NULL, kp int, ko bigint, v int CHECK (v >= 0))",
               NULL);
    char *t1 = ts_unique_name("dlqtable");
    char *t2 = ts_unique_name("dlqtopic");
    char *dlq = ts_unique_name("dead");
    ts_kafka_create_topic(t1, 1);
    ts_kafka_create_topic(t2, 1);
    ts_kafka_create_topic(dlq, 1);
    char extra1[256], extra2[256];
    snprintf(extra1, sizeof(extra1), "    on_error: dlq\n    dlq_table: dead_letters\n");
    snprintf(extra2, sizeof(extra2), "    on_error: dlq\n    dlq_topic: %s\n", dlq);
    char *r1 = route_yaml(t1, "to_table", extra1), *r2 = route_yaml(t2, "to_topic", extra2);
    char *routes;
    ck_assert(asprintf(&routes, "%s%s", r1, r2) > 0);
    char *cfg = config_with(&e, routes, 3000); /* one batch holds them all: bisection isolates the bad ones */
    produce_v(t1, 0, DLQ_N, bad_scattered);
    produce_v(t2, 0, DLQ_N, bad_scattered);
    int nbad = 0;
    for (int64_t s = 0; s < DLQ_N; s++)
        nbad += bad_scattered(s);
    ts_daemon *d = ts_daemon_start(cfg, e.log);

    /* Good rows all written; the route goes on (offsets reach the end). */
    char q[1024];
    for (int i = 0; i < 2; i++) {
        const char *table = i ? "to_topic" : "to_table", *topic = i ? t2 : t1;
        snprintf(q, sizeof(q),
                 "SELECT count(*) FROM %s.%s WHERE ko IS NOT NULL", e.schema, table);
        int64_t stored = wait_stored(&e, d, topic, DLQ_N, 60000), rows = ts_pg_int(e.c, q, NULL);
        ck_assert_msg(rows == DLQ_N - nbad && stored == DLQ_N,
                      "%s: %" PRId64 " rows (expected %d), stored offset %" PRId64 "; log:\n%s", table, rows,
                      DLQ_N - nbad, stored, fk_tail(d));
        snprintf(q, sizeof(q),
                 "SELECT count(*) FROM %s.%s WHERE seq <> ko OR v < 0 OR seq IN (SELECT seq FROM %s.%s GROUP BY seq"
                 " HAVING count(*) > 1)",
                 e.schema, table, e.schema, table);
        ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 0);
    }

    /* The dead-letter table holds exactly the bad records, with their origin and bytes. */
    snprintf(q, sizeof(q),
             "SELECT string_agg(kafka_offset::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters"
             " WHERE route = 'to_table' AND topic = $1 AND partition = 0"
             "   AND convert_from(record_value, 'UTF8') = format('{\"seq\":%%s,\"v\":-1}', kafka_offset)"
             "   AND convert_from(record_key, 'UTF8') = 'k' || kafka_offset AND error LIKE '%%check%%'",
             e.schema);
    char *offs = ts_pg_text(e.c, q, t1, NULL);
    char want[256] = "";
    for (int64_t s = 0; s < DLQ_N; s++)
        if (bad_scattered(s))
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%" PRId64, *want ? "," : "", s);
    ck_assert_msg(offs && !strcmp(offs, want), "dead-letter table offsets: %s, expected %s", offs ? offs : "none",
                  want);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), nbad);
    free(offs);

    /* The dead-letter topic too: original key and value, headers naming the error and origin. */
    size_t n = 0;
    fk_msg *m = fk_read_topic(dlq, 1, (size_t)nbad, 60000, &n);
    ck_assert_int_eq((int)n, nbad);
    char got[256] = "";
    for (size_t i = 0; i < n; i++) {
        char exp_v[64], exp_k[32];
        int64_t off = m[i].hdr_offset ? atoll(m[i].hdr_offset) : -1;
        snprintf(exp_v, sizeof(exp_v), "{\"seq\":%" PRId64 ",\"v\":-1}", off);
        snprintf(exp_k, sizeof(exp_k), "k%" PRId64, off);
        ck_assert_msg(m[i].value && m[i].value_len == strlen(exp_v) && !memcmp(m[i].value, exp_v, m[i].value_len),
                      "dead letter %zu: value is not the original record", i);
        ck_assert_msg(m[i].key && m[i].key_len == strlen(exp_k) && !memcmp(m[i].key, exp_k, m[i].key_len),
                      "dead letter %zu: key is not the original key", i);
        ck_assert_msg(m[i].hdr_topic && !strcmp(m[i].hdr_topic, t2), "dead letter %zu: sluice.topic", i);
        ck_assert_msg(m[i].hdr_partition && !strcmp(m[i].hdr_partition, "0"), "dead letter %zu: sluice.partition", i);
        ck_assert_msg(m[i].hdr_route && !strcmp(m[i].hdr_route, "to_topic"), "dead letter %zu: sluice.route", i);
        ck_assert_msg(m[i].hdr_error && strstr(m[i].hdr_error, "check"), "dead letter %zu: sluice.error is %s", i,
                      m[i].hdr_error ? m[i].hdr_error : "missing");
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%" PRId64, *got ? "," : "", off);
    }
    ck_assert_msg(!strcmp(got, want), "dead-letter topic offsets: %s, expected %s", got, want);
    fk_msgs_free(m, n);

    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(r1);
    free(r2);
    free(routes);
    free(cfg);
    free(t1);
    free(t2);
    free(dlq);
    env_stop(&e);
}
END_TEST

#define NUM_N 600

static bool bad_num(int64_t seq)
{
    return seq == 0 || seq == 299 || seq == 300 || seq == NUM_N - 1;
}

/* Decimals go to a numeric(4,2) column in a binary COPY (pgbinary.c): the
 * server rounds each to the column's scale, half away from zero (12.345 is
 * 12.35, -12.345 is -12.35), and a value beyond its precision fails the
 * COPY with numeric field overflow, which bisection isolates: the bad
 * records are dead letters with that error, every other row is stored
 * once, rounded. */
START_TEST(numeric_overflow_in_a_binary_copy_is_a_dead_letter)
{
    env e;
    env_start_route(&e, "f_num",
                    "CREATE TABLE nums (seq bigint NOT NULL, kp int, ko bigint, v numeric(4,2))",
                    "nums", "    on_error: dlq\n    dlq_table: dead_letters\n", NUM_N); /* one batch holds them all */
    const char *topic = e.topic, *cfg = e.cfg;
    int nbad = 0;
    for (int64_t seq = 0; seq < NUM_N; seq++) {
        char key[32], value[128];
        int b = (int)(seq % 100) - 50;
        int kl = snprintf(key, sizeof(key), "k%" PRId64, seq);
        int vl = bad_num(seq) ? snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"v\":123.456}", seq)
                              : snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"v\":%s%d.345}", seq,
                                         b < 0 ? "-" : "", abs(b));
        nbad += bad_num(seq);
        ts_produce(topic, 0, key, (size_t)kl, value, (size_t)vl);
    }
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    int64_t stored = wait_stored(&e, d, topic, NUM_N, 60000);
    ck_assert_msg(stored == NUM_N, "stored offset %" PRId64 "; log:\n%s", stored, fk_tail(d));
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.nums", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), NUM_N - nbad);
    snprintf(q, sizeof(q),
             "SELECT count(*) FROM %s.nums WHERE seq <> ko OR v IS NULL OR v <> (seq %% 100 - 50) + "
             "CASE WHEN seq %% 100 - 50 < 0 THEN -0.35 ELSE 0.35 END"
             " OR seq IN (SELECT seq FROM %s.nums GROUP BY seq HAVING count(*) > 1)",
             e.schema, e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 0);
    snprintf(q, sizeof(q),
             "SELECT string_agg(kafka_offset::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters"
             " WHERE topic = $1 AND partition = 0 AND error LIKE '%%numeric field overflow%%'"
             "   AND convert_from(record_value, 'UTF8') = format('{\"seq\":%%s,\"v\":123.456}', kafka_offset)",
             e.schema);
    char *offs = ts_pg_text(e.c, q, topic, NULL);
    char want[64];
    snprintf(want, sizeof(want), "0,299,300,%d", NUM_N - 1);
    ck_assert_msg(offs && !strcmp(offs, want), "dead letters at %s, expected %s; log:\n%s", offs ? offs : "none",
                  want, fk_tail(d));
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), nbad);
    free(offs);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* The value of @key among @conn's connection options in effect, "" when unset. */
static const char *conninfo(PQconninfoOption *o, const char *key)
{
    for (; o && o->keyword; o++)
        if (!strcmp(o->keyword, key))
            return o->val ? o->val : "";
    return "";
}

/* Finding: libpq connections had no keepalive or tcp_user_timeout settings,
 * so a server that vanished without closing them left a write waiting for
 * the kernel's timeouts.  Now they have defaults, and the DSN's own
 * settings win over them. */
START_TEST(libpq_connections_have_keepalives_and_tcp_user_timeout)
{
    const char *base = ts_pg_dsn();
    for (int overridden = 0; overridden < 2; overridden++) {
        char *dsn = NULL;
        ck_assert(asprintf(&dsn, "%s%s", base, overridden ? " keepalives_idle=7 tcp_user_timeout=5000" : "") > 0);
        sl_target_conf t = {.name = "pg", .type = sl_sink_type("postgresql"), .dsn = dsn, .connect_timeout_ms = 10000,
                            .statement_timeout_ms = 60000};
        sl_sink *s = sl_sink_new(&t, 1);
        sl_error err;
        sl_error_clear(&err);
        PGconn *c = sl_pq_connect(s, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        PQconninfoOption *o = PQconninfo(c);
        ck_assert_str_eq(conninfo(o, "keepalives"), "1");
        ck_assert_str_eq(conninfo(o, "keepalives_idle"), overridden ? "7" : "30");
        ck_assert_str_eq(conninfo(o, "keepalives_interval"), "10");
        ck_assert_str_eq(conninfo(o, "keepalives_count"), "3");
        ck_assert_str_eq(conninfo(o, "tcp_user_timeout"), overridden ? "5000" : "60000");
        ck_assert_str_eq(conninfo(o, "client_encoding"), "UTF8");
        PQconninfoFree(o);
        PQfinish(c);
        sl_sink_free(s);
        free(dsn);
    }
}
END_TEST

/* Upsert mode collapses a batch's records per key.  When the last record
 * of a key is refused (a CHECK violation) and dead-lettered, the records of
 * that key before it are still applied, one by one, as if the batch had not
 * collapsed them: found by the soak (tests/soak, seed 1), where a good
 * record followed by a bad one of the same key left the row at its value
 * from an earlier batch while the offset moved past both. */
START_TEST(refused_upsert_keeps_the_records_of_its_key_before_it)
{
    env e;
    env_start(&e, "f_collapse");
    ts_pg_exec(e.c, "CREATE TABLE kv (id bigint PRIMARY KEY, v int CHECK (v >= 0), w text)", NULL);
    char *topic = ts_unique_name("collapse");
    ts_kafka_create_topic(topic, 1);
    char *routes;
    ck_assert(asprintf(&routes,
                       "  - name: kv\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: kv\n"
                       "    mode: upsert\n"
                       "    delete_on_tombstone: true\n"
                       "    on_error: dlq\n"
                       "    dlq_table: dead_letters\n",
                       topic) > 0);
    char *cfg = config_with(&e, routes, 1000); /* one batch holds them all */
    /* key 1: good, refused; key 2: good; key 3: good, good, refused; key 4:
     * a partial record merged onto a full one, then refused; key 5: a delete
     * between two good ones, then refused */
    static const char *const values[] = {
        "{\"id\":1,\"v\":5,\"w\":\"a\"}", "{\"id\":1,\"v\":-1,\"w\":\"b\"}", "{\"id\":2,\"v\":7,\"w\":\"c\"}",
        "{\"id\":3,\"v\":1,\"w\":\"d\"}", "{\"id\":3,\"v\":2,\"w\":\"e\"}", "{\"id\":3,\"v\":-3,\"w\":\"f\"}",
        "{\"id\":4,\"v\":9,\"w\":\"g\"}", "{\"id\":4,\"w\":\"h\"}",       "{\"id\":4,\"v\":-4}",
        "{\"id\":5,\"v\":1,\"w\":\"i\"}", NULL,                           "{\"id\":5,\"v\":6,\"w\":\"j\"}",
        "{\"id\":5,\"v\":-5,\"w\":\"k\"}",
    };
    static const char *const keys[] = {"1", "1", "2", "3", "3", "3", "4", "4", "4", "5", "5", "5", "5"};
    size_t n = sizeof(values) / sizeof(values[0]);
    for (size_t i = 0; i < n; i++)
        ts_produce(topic, 0, keys[i], strlen(keys[i]), values[i], values[i] ? strlen(values[i]) : 0);
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(wait_stored(&e, d, topic, (int64_t)n, 60000) == (int64_t)n,
                  "not everything was committed; log:\n%s", fk_tail(d));
    char q[512];
    snprintf(q, sizeof(q), "SELECT string_agg(id || '=' || coalesce(v::text, '-') || coalesce(w, '-'), ',' ORDER BY id)"
                           " FROM %s.kv", e.schema);
    char *rows = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(rows && !strcmp(rows, "1=5a,2=7c,3=2e,4=9h,5=6j"), "rows: %s, expected 1=5a,2=7c,3=2e,4=9h,5=6j",
                  rows ? rows : "none");
    snprintf(q, sizeof(q), "SELECT string_agg(kafka_offset::text, ',' ORDER BY kafka_offset) FROM %s.dead_letters",
             e.schema);
    char *dead = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(dead && !strcmp(dead, "1,5,8,12"), "dead letters at offsets %s, expected 1,5,8,12",
                  dead ? dead : "none");
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    free(rows);
    free(dead);
    ts_daemon_free(d);
    free(routes);
    free(cfg);
    free(topic);
    env_stop(&e);
}
END_TEST

/* A Debezium delete for a table that auto_create has not created yet (the
 * topic's first events trimmed, or the row deleted before the table's first
 * write): nothing to delete, so it is ignored, not dead-lettered; the create
 * after it makes the table.  Found by the soak (tests/soak, seed 4), whose
 * first records of a partition were deletes. */
START_TEST(delete_before_auto_create_is_ignored)
{
    env e;
    env_start(&e, "f_delfirst");
    char *topic = ts_unique_name("delfirst");
    ts_kafka_create_topic(topic, 1);
    char *routes;
    ck_assert(asprintf(&routes,
                       "  - name: cdc\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: \"${source.table}\"\n"
                       "    format: debezium\n"
                       "    key: [id]\n"
                       "    auto_create: true\n"
                       "    on_error: dlq\n"
                       "    dlq_table: dead_letters\n",
                       topic) > 0);
    char *cfg = config_with(&e, routes, 1000);
    const char *files[] = {"pg_delete.value.json", "pg_create.value.json"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/tests/debezium/data/%s", FAULTS_SRCDIR, files[i]);
        char *text = ts_read_file(path);
        ck_assert_ptr_nonnull(text);
        json_t *ev = json_loads(text, 0, NULL);
        free(text);
        ck_assert_ptr_nonnull(ev);
        json_object_set_new(json_object_get(json_object_get(ev, "payload"), "source"), "table", json_string("tdel"));
        char *v = json_dumps(ev, JSON_COMPACT);
        ts_produce(topic, 0, "{\"id\":1}", 8, v, strlen(v));
        free(v);
        json_decref(ev);
    }
    ts_flush();
    char *metrics = ts_write_file(e.dir, "metrics.prom", "%s", "");
    FILE *fcfg = fopen(cfg, "a");
    ck_assert(fcfg);
    fprintf(fcfg, "metrics_file: %s\n", metrics);
    fclose(fcfg);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(wait_stored(&e, d, topic, 2, 60000) == 2, "not everything was committed; log:\n%s", fk_tail(d));
    char q[512];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters", e.schema);
    int64_t dead = ts_pg_try_count(e.c, q, NULL);
    ck_assert_msg(dead <= 0, "%lld dead letter(s); log:\n%s", (long long)dead, fk_tail(d));
    snprintf(q, sizeof(q), "SELECT id || ' ' || first_name FROM %s.tdel", e.schema);
    char *row = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(row && !strcmp(row, "1 Anne"), "row: %s", row ? row : "none");
    free(row);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    char *prom = ts_read_file(metrics);
    ck_assert_msg(strstr(prom, "sluice_records_ignored_total{route=\"cdc\"} 1\n"), "the delete is not counted as "
                  "ignored:\n%s", prom);
    free(prom);
    free(metrics);
    ts_daemon_free(d);
    free(routes);
    free(cfg);
    free(topic);
    env_stop(&e);
}
END_TEST

/* Two workers dead-lettering into a dlq_table not yet there create it at
 * the same moment: PostgreSQL makes the second CREATE TABLE IF NOT EXISTS
 * wait for the first's transaction, then fails it on pg_type's unique index
 * (23505).  That failed the flush's transaction, and its good batch went
 * through the isolation of bad rows for nothing.  Here the other worker is
 * the test's transaction, committed once sluice's CREATE waits for it. */
START_TEST(dead_letter_table_created_concurrently_is_no_bad_batch)
{
    env e;
    env_start_route(&e, "f_dlqrace",
                    "CREATE TABLE events (seq bigint NOT NULL, kp int, ko bigint, v int)",
                    "events", "    on_error: dlq\n    dlq_table: dead_letters\n", 1000);
    const char *topic = e.topic, *cfg = e.cfg;
    for (int64_t seq = 0; seq < 10; seq++) {
        char key[32], value[64];
        int kl = snprintf(key, sizeof(key), "k%" PRId64, seq);
        int vl = seq == 4 ? snprintf(value, sizeof(value), "{\"seq\": 4, not json")
                          : snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"v\":1}", seq);
        ts_produce(topic, 0, key, (size_t)kl, value, (size_t)vl);
    }
    ts_flush();
    PGconn *other = ts_pg_connect();
    char q[768];
    snprintf(q, sizeof(q),
             "BEGIN; CREATE TABLE %s.dead_letters (id bigserial PRIMARY KEY, route text NOT NULL, topic text NOT NULL,"
             " partition int NOT NULL, kafka_offset bigint NOT NULL, record_key bytea, record_value bytea,"
             " error text NOT NULL, failed_at timestamptz NOT NULL DEFAULT now())",
             e.schema);
    ts_pg_exec(other, q, NULL);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    /* sluice's CREATE waits for the other transaction */
    const char *waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                          " AND query LIKE 'CREATE TABLE IF NOT EXISTS %dead_letters%'";
    int64_t deadline = ts_now_ms() + 60000;
    while (ts_pg_int(e.c, waiting, NULL) != 1 && ts_now_ms() < deadline && ts_daemon_running(d))
        usleep(50 * 1000);
    ck_assert_msg(ts_pg_int(e.c, waiting, NULL) == 1, "sluice's CREATE TABLE never waited; log:\n%s", fk_tail(d));
    ts_pg_exec(other, "COMMIT", NULL);
    PQfinish(other);
    ck_assert_msg(wait_stored(&e, d, topic, 10, 60000) == 10, "not everything was committed; log:\n%s", fk_tail(d));
    snprintf(q, sizeof(q), "SELECT string_agg(kafka_offset::text, ',') FROM %s.dead_letters", e.schema);
    char *dead = ts_pg_text(e.c, q, NULL);
    ck_assert_msg(dead && !strcmp(dead, "4"), "dead letters at %s, expected 4", dead ? dead : "none");
    free(dead);
    snprintf(q, sizeof(q), "SELECT count(DISTINCT seq) * 100 + count(*) FROM %s.events", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 9 * 100 + 9);
    ck_assert_msg(fk_log_count(d, "isolating the failing rows") == 0, "the good batch was isolated row by row; "
                  "log:\n%s", fk_tail(d));
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    env_stop(&e);
}
END_TEST

/* ---- insert first (statements.c) ---- */

/* Upserts of ids [@from, @to] with v = @v, one batch, written by @s. */
static int write_ids(sl_sink *s, const sl_route_conf *r, const sl_table *t, int from, int to, const char *v,
                     sl_error *err)
{
    sl_batch *b = sl_batch_new(r, t);
    sl_rowbuilder rb = {0};
    for (int id = from; id <= to; id++) {
        char num[32];
        snprintf(num, sizeof(num), "%d", id);
        sl_rowbuilder_start(&rb, (uint32_t)t->ncols);
        sl_rowbuilder_set(&rb, 0, num, strlen(num));
        sl_rowbuilder_set(&rb, 1, v, strlen(v));
        sl_batch_add(b, sl_rowbuilder_finish(&rb, SL_OP_UPSERT, "t", 0, id, NULL, 0, NULL, 0));
    }
    sl_rowbuilder_free(&rb);
    sl_flush f = {.group_id = "g", .batches = &b, .nbatches = 1};
    sl_error_clear(err);
    int rc = s->ops->write(s, &f, err);
    sl_batch_free(b);
    return rc;
}

/* How rows of @table in [@from, @to] were last written, as the audit
 * trigger saw it: "OP STATEMENT", e.g. "INSERT COPY", with its count, or
 * "mixed". */
static char *written_by(PGconn *c, const char *table, int from, int to)
{
    char f[16], t[16];
    snprintf(f, sizeof(f), "%d", from);
    snprintf(t, sizeof(t), "%d", to);
    return ts_pg_text(c,
                      "SELECT CASE WHEN count(DISTINCT (op, stmt)) = 1 THEN min(op) || ' ' || min(stmt) || ' ' || count(*)"
                      " ELSE 'mixed' END FROM (SELECT DISTINCT ON (id) id, op, stmt FROM audit"
                      " WHERE tbl = $1 AND id BETWEEN $2 AND $3 ORDER BY id, n DESC) a",
                      table, f, t, NULL);
}

#define EXPECT_WRITTEN(table, from, to, want)                                                                    \
    do {                                                                                                         \
        char *got_ = written_by(c, table, from, to);                                                             \
        ck_assert_msg(got_ && !strcmp(got_, want), "%s %d..%d: written by %s, want %s", table, from, to,         \
                      got_ ? got_ : "(nothing)", want);                                                          \
        free(got_);                                                                                              \
    } while (0)

/* An upsert batch of new keys goes by one COPY into the table; a batch
 * with a stored key is rolled back to its savepoint and goes through the
 * stage (its INSERT .. ON CONFLICT updates the stored row), and the next
 * batch of the table does not try again; a success halves the wait.  A
 * data error in the COPY leaves nothing behind and the stage reports it as
 * before.  insert_first: false never tries.  A BEFORE trigger records which
 * statement wrote each row (current_query()). */
START_TEST(insert_first_until_a_key_is_stored)
{
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "f_first");
    ts_pg_exec(c, "CREATE TABLE t (id bigint PRIMARY KEY, v text CHECK (v <> 'bad'))", NULL);
    ts_pg_exec(c, "CREATE TABLE t_off (id bigint PRIMARY KEY, v text)", NULL);
    ts_pg_exec(c, "CREATE TABLE audit (n bigserial, tbl text, id bigint, op text, stmt text)", NULL);
    char *sql = NULL;
    ck_assert(asprintf(&sql,
                       "CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       " INSERT INTO \"%s\".audit (tbl, id, op, stmt) VALUES (TG_TABLE_NAME, NEW.id, TG_OP,"
                       " split_part(ltrim(current_query()), ' ', 1)); RETURN NEW; END $$",
                       schema) > 0);
    ts_pg_exec(c, sql, NULL);
    free(sql);
    ts_pg_exec(c, "CREATE TRIGGER a BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION audit_row()", NULL);
    ts_pg_exec(c, "CREATE TRIGGER a BEFORE INSERT OR UPDATE ON t_off FOR EACH ROW EXECUTE FUNCTION audit_row()", NULL);

    sl_route_conf r = {.name = "r", .mode = SL_MODE_UPSERT};
    sl_error err;
    sl_sink *s[2];
    sl_table *t[2];
    sl_target_conf tc[2]; /* the sinks keep them */
    for (int i = 0; i < 2; i++) {
        tc[i] = (sl_target_conf){.name = "pg", .type = sl_sink_type("postgresql"), .dsn = (char *)ts_pg_dsn(),
                                 .connect_timeout_ms = 10000, .statement_timeout_ms = 60000, .insert_first = i == 0};
        s[i] = sl_sink_new(&tc[i], 1);
        sl_error_clear(&err);
        ck_assert_msg(s[i]->ops->describe(s[i], schema, i ? "t_off" : "t", &t[i], &err) == 0 && t[i], "%s", err.msg);
    }
    /* new keys: one COPY */
    ck_assert_msg(write_ids(s[0], &r, t[0], 1, 100, "a", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 1, 100, "INSERT COPY 100");
    /* keys 51..100 are stored: the stage's INSERT updates them and adds the rest */
    ck_assert_msg(write_ids(s[0], &r, t[0], 51, 150, "b", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 51, 100, "UPDATE INSERT 50");
    EXPECT_WRITTEN("t", 101, 150, "INSERT INSERT 50");
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM t WHERE v = 'b'", NULL), 100);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM t", NULL), 150);
    /* the next batch goes to the stage without trying; the one after tries again */
    ck_assert_msg(write_ids(s[0], &r, t[0], 201, 250, "c", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 201, 250, "INSERT INSERT 50");
    ck_assert_msg(write_ids(s[0], &r, t[0], 251, 300, "c", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 251, 300, "INSERT COPY 50");
    /* a data error: nothing of the batch stays, the stage's error is the write's */
    ck_assert_int_eq(write_ids(s[0], &r, t[0], 301, 310, "bad", &err), -1);
    ck_assert_msg(err.kind == SL_ERR_DATA && strstr(err.msg, "t_v_check"), "%s", err.msg);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM t WHERE id > 300", NULL), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM audit WHERE id > 300", NULL), 0);
    ck_assert_msg(write_ids(s[0], &r, t[0], 311, 320, "d", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 311, 320, "INSERT INSERT 10");
    ck_assert_msg(write_ids(s[0], &r, t[0], 321, 330, "d", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t", 321, 330, "INSERT COPY 10");
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM t", NULL), 270);
    /* off: always the stage */
    ck_assert_msg(write_ids(s[1], &r, t[1], 1, 20, "a", &err) == 0, "%s", err.msg);
    EXPECT_WRITTEN("t_off", 1, 20, "INSERT INSERT 20");
    for (int i = 0; i < 2; i++) {
        sl_table_free(t[i]);
        sl_sink_free(s[i]);
    }
    free(schema);
    PQfinish(c);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {insert_first_until_a_key_is_stored, serialization_failures_and_deadlocks_are_retried, read_only_server_is_retried_on_a_new_connection,
                            index_row_too_large_is_a_dead_letter, missing_templated_table_is_a_dead_letter,
                            long_field_name_under_auto_evolve_is_a_dead_letter,
                            retry_after_bisection_writes_dead_letters_once, auto_create_allow_and_max,
                            check_violation_under_fail_stops_at_its_offset,
                            check_violations_under_dlq_are_isolated_by_bisection,
                            numeric_overflow_in_a_binary_copy_is_a_dead_letter,
                            libpq_connections_have_keepalives_and_tcp_user_timeout,
                            refused_upsert_keeps_the_records_of_its_key_before_it,
                            delete_before_auto_create_is_ignored,
                            dead_letter_table_created_concurrently_is_no_bad_batch};
    return fk_main("faults database errors", tests, 15, 120);
}
