/* test_replica.c - a target built as replicas are: the source's schema with
 * its foreign keys, BEFORE UPDATE triggers, a domain, an enum, tsvector,
 * text[] and a table of 40 partitions, written with
 * `session_replication_role: replica`.  Through the daemon and Kafka into
 * PostgreSQL:
 *   - a child table's topic applied before its parent's: the children are
 *     stored although their parents are not yet (no foreign-key check);
 *   - updates keep the `last_update` they carry (the trigger that rewrites
 *     it at the source does not fire on the replica);
 *   - every value of the domain, enum, tsvector and text[] columns, and
 *     rows in every partition, as sent;
 * and a role that may not set session_replication_role is refused by
 * `--check` and at start, with what it needs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "support.h"

static char *schema, *logpath, *group;
static char *t_parent, *t_child, *t_meas;

static void expect(PGconn *c, const char *want, const char *sql)
{
    char q[2048];
    snprintf(q, sizeof(q), "SELECT coalesce(string_agg(x, ';'), '') FROM (%s) AS q(x)", sql);
    char *got = ts_pg_text(c, q, NULL);
    ck_assert_msg(got && !strcmp(got, want), "%s\n  want: %s\n  got:  %s\nlog tail:\n%s", sql, want,
                  got ? got : "(null)", sc_log_tail(logpath, 3000));
    free(got);
}

/* A Debezium create/update (JsonConverter without schemas) of @row. */
static void event(const char *topic, const char *key, const char *op, const char *row)
{
    char value[2048];
    snprintf(value, sizeof(value), "{\"before\":null,\"after\":%s,\"source\":{\"table\":\"x\"},\"op\":\"%s\",\"ts_ms\":1}",
             row, op);
    ts_produce(topic, 0, key, strlen(key), value, strlen(value));
}

static void create_schema(PGconn *c)
{
    schema = ts_pg_fresh_schema(c, "dbz_replica");
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SET search_path = %1$s;"
             "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
             "CREATE DOMAIN posint AS integer CHECK (VALUE > 0);"
             "CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL,"
             "  last_update timestamptz NOT NULL DEFAULT now());"
             "CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id),"
             "  qty posint, m mood, tags text[], doc tsvector, last_update timestamptz NOT NULL DEFAULT now());"
             "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS"
             "  $$BEGIN NEW.last_update := now(); RETURN NEW; END$$;"
             "CREATE TRIGGER touch BEFORE UPDATE ON parent FOR EACH ROW EXECUTE FUNCTION touch();"
             "CREATE TRIGGER touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch();"
             "CREATE TABLE meas (id bigint, at date, val double precision, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
             "DO $$ BEGIN FOR i IN 0..39 LOOP"
             "  EXECUTE format('CREATE TABLE %%I.%%I PARTITION OF %%I.meas FOR VALUES FROM (%%L) TO (%%L)',"
             "                 '%1$s', 'meas_p' || i, '%1$s', date '2024-01-01' + i * 30, date '2024-01-01' + (i + 1) * 30);"
             "END LOOP; END $$;"
             "RESET search_path",
             schema);
    ts_pg_exec(c, sql, NULL);
}

static char *config(const char *dir, const char *dsn, const char *name)
{
    char *kafka = sc_kafka_yaml(group);
    char *path = ts_write_file(dir, name,
                               "%s"
                               "targets:\n  pg:\n    type: postgresql\n    dsn: \"%s\"\n"
                               "    session_replication_role: replica\n"
                               "batch:\n  max_rows: 100\n  linger_ms: 20\n"
                               "routes:\n"
                               "  - topics: [\"%s\"]\n    target: pg\n    table: %s.parent\n    format: debezium\n"
                               "  - topics: [\"%s\"]\n    target: pg\n    table: %s.child\n    format: debezium\n"
                               "  - topics: [\"%s\"]\n    target: pg\n    table: %s.meas\n    format: debezium\n"
                               "    epoch_unit: ms\n",
                               kafka, dsn, t_parent, schema, t_child, schema, t_meas, schema);
    free(kafka);
    return path;
}

START_TEST(replica_schema_is_written_as_a_replica)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    create_schema(c);
    t_parent = ts_unique_name("replica_parent");
    t_child = ts_unique_name("replica_child");
    t_meas = ts_unique_name("replica_meas");
    ts_kafka_create_topic(t_parent, 1);
    ts_kafka_create_topic(t_child, 1);
    ts_kafka_create_topic(t_meas, 1);
    group = ts_unique_name("dbz_replica");
    char *dir = ts_tempdir("dbz_replica");
    char *conf = config(dir, "${SLUICE_TEST_DSN}", "sluice.yaml");
    logpath = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(conf, logpath);

    /* the children first: their parents are not there yet */
    event(t_child, "{\"id\":1}", "r",
          "{\"id\":1,\"parent_id\":10,\"qty\":3,\"m\":\"happy\",\"tags\":[\"a b\",\"c,d\",\"e\\\"f\"],"
          "\"doc\":\"'fat':2 'rat':3\",\"last_update\":\"2020-01-01T00:00:00Z\"}");
    event(t_child, "{\"id\":2}", "r",
          "{\"id\":2,\"parent_id\":20,\"qty\":1,\"m\":\"sad\",\"tags\":[],\"doc\":\"\","
          "\"last_update\":\"2020-01-02T00:00:00Z\"}");
    for (int i = 0; i < 40; i++) {
        char key[64], row[256];
        /* one row per partition: days since 1970-01-01 of 2024-01-01 + 30 i + 5 */
        int days = 19723 + 30 * i + 5;
        snprintf(key, sizeof(key), "{\"id\":%d,\"at\":%d}", i, days);
        snprintf(row, sizeof(row), "{\"id\":%d,\"at\":%d,\"val\":%d.5}", i, days, i);
        event(t_meas, key, "r", row);
    }
    ts_flush();
    sc_wait_committed(group, t_child, 1, 120000, logpath);
    sc_wait_committed(group, t_meas, 1, 120000, logpath);
    char q[1024];
    snprintf(q, sizeof(q),
             "SELECT id || '|' || parent_id || '|' || qty || '|' || m || '|' || tags::text || '|' || doc::text || '|' ||"
             " to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM %s.child ORDER BY id", schema);
    expect(c, "1|10|3|happy|{\"a b\",\"c,d\",\"e\\\"f\"}|'fat':2 'rat':3|2020-01-01 00:00;2|20|1|sad|{}||2020-01-02 00:00",
           q);
    /* then the parents, and updates that carry their last_update */
    event(t_parent, "{\"id\":10}", "r", "{\"id\":10,\"name\":\"ten\",\"last_update\":\"2020-01-01T00:00:00Z\"}");
    event(t_parent, "{\"id\":20}", "r", "{\"id\":20,\"name\":\"twenty\",\"last_update\":\"2020-01-01T00:00:00Z\"}");
    ts_flush();
    sc_wait_committed(group, t_parent, 1, 120000, logpath);
    event(t_parent, "{\"id\":10}", "u", "{\"id\":10,\"name\":\"ten v2\",\"last_update\":\"2021-06-01T12:00:00Z\"}");
    event(t_child, "{\"id\":1}", "u",
          "{\"id\":1,\"parent_id\":10,\"qty\":4,\"m\":\"ok\",\"tags\":[\"x\"],\"doc\":\"'cat':1\","
          "\"last_update\":\"2021-06-01T12:00:00Z\"}");
    event(t_meas, "{\"id\":3,\"at\":19818}", "u", "{\"id\":3,\"at\":19818,\"val\":-1}");
    ts_flush();
    sc_wait_committed(group, t_parent, 1, 120000, logpath);
    sc_wait_committed(group, t_child, 1, 120000, logpath);
    sc_wait_committed(group, t_meas, 1, 120000, logpath);
    snprintf(q, sizeof(q),
             "SELECT id || '|' || name || '|' || to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
             " FROM %s.parent ORDER BY id", schema);
    expect(c, "10|ten v2|2021-06-01 12:00;20|twenty|2020-01-01 00:00", q);
    snprintf(q, sizeof(q),
             "SELECT id || '|' || qty || '|' || m || '|' || tags::text || '|' || doc::text || '|' ||"
             " to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM %s.child WHERE id = 1", schema);
    expect(c, "1|4|ok|{x}|'cat':1|2021-06-01 12:00", q);
    /* one row in each of the 40 partitions, the updated one changed */
    snprintf(q, sizeof(q),
             "SELECT count(DISTINCT tableoid)::text || ' ' || count(*) || ' ' || sum(val) FROM %s.meas", schema);
    expect(c, "40 40 795.5", q);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);

    /* a role that may not set session_replication_role */
    ts_pg_exec(c, "DO $$ BEGIN CREATE ROLE sluice_no_replica LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                  "GRANT ALL ON DATABASE sluice_test TO sluice_no_replica", NULL);
    snprintf(q, sizeof(q), "GRANT ALL ON SCHEMA %s TO sluice_no_replica; GRANT ALL ON ALL TABLES IN SCHEMA %s TO sluice_no_replica",
             schema, schema);
    ts_pg_exec(c, q, NULL);
    char dsn[1024];
    const char *base = ts_pg_dsn();
    const char *u = strstr(base, "user=");
    ck_assert_msg(u != NULL, "SLUICE_TEST_DSN names no user: %s", base);
    snprintf(dsn, sizeof(dsn), "%.*suser=sluice_no_replica%s", (int)(u - base), base, strchr(u, ' ') ? strchr(u, ' ') : "");
    char *bad = config(dir, dsn, "noset.yaml");
    char *out = NULL;
    int rc = ts_run(&out, "--check", "-c", bad, (char *)NULL);
    ck_assert_msg(rc != 0 && strstr(out, "permission denied to set parameter \"session_replication_role\"") &&
                      strstr(out, "GRANT SET ON PARAMETER session_replication_role TO sluice_no_replica"),
                  "--check: rc %d, output:\n%s", rc, out);
    free(out);
    char *badlog = ts_write_file(dir, "noset.log", "%s", "");
    d = ts_daemon_start(bad, badlog);
    ck_assert_msg(ts_daemon_wait(d, 60000), "sluice kept running with a role that cannot be a replica: %s",
                  sc_log_tail(badlog, 3000));
    ck_assert_int_ne(ts_daemon_exit_code(d), 0);
    char *log = ts_read_file(badlog);
    ck_assert_msg(strstr(log, "GRANT SET ON PARAMETER session_replication_role TO sluice_no_replica"),
                  "no clear error at start:\n%s", log);
    free(log);
    ts_daemon_free(d);
    PQfinish(c);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {replica_schema_is_written_as_a_replica};
    return sc_main("debezium replica schema", tests, 1);
}
