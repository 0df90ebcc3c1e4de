/* test_key_change.c - primary-key changes of rows whose out-of-line (TOAST)
 * values did not change, as Debezium's PostgreSQL connector sends them
 * under REPLICA IDENTITY DEFAULT: a delete of the old key, its tombstone,
 * and a create of the new key whose unchanged columns hold the
 * unavailable-value placeholder and whose header `__debezium.oldkey` names
 * the old key (JsonConverter with schemas, as tests/support/connect.sh sets
 * header.converter).  Through the daemon and Kafka into PostgreSQL:
 *   - old and new key in one partition: the new row gets the old row's value;
 *   - in two partitions, the create applied first: from the stored row;
 *   - in two partitions, the delete applied first and the daemon restarted
 *     before the create: the old row is gone, the value is NULL, counted in
 *     sluice_unavailable_values_total and logged with the key;
 *   - the old row updated and re-keyed in quick succession: the newest value;
 *   - one partition, the delete written by a batch before the create (a
 *     batch boundary between them): the value read before the delete;
 *   - the same with a rebalance between them that gives the partition back
 *     to the same worker: the value read before the delete;
 *   - a plain update with the placeholder keeps the stored value;
 *   - a route's own `unavailable_value`;
 *   - on_error: skip, the key change's create and a refused update of the
 *     new key in one batch: the create is applied with the carried value,
 *     the update skipped;
 *   - two targets with one table name (two databases), one worker: each
 *     create gets its own target's old row. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "sluice/strbuf.h"
#include "support.h"

#define PH "__debezium_unavailable_value"

static char *topic, *topic2, *topic3, *schema, *logpath, *group;
static int admin_port;

static const char key_schema[] =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],"
    "\"optional\":false,\"name\":\"cdc.app.docs.Key\"}";

/* One event of @id; @other: for a create the old key (header
 * __debezium.oldkey), for a delete the new key (__debezium.newkey), 0 none. */
static void event(const char *t, int part, int id, const char *op, const char *after, int other)
{
    char key[64], value[16384], hdr[512];
    snprintf(key, sizeof(key), "{\"id\":%d}", id);
    if (!strcmp(op, "d"))
        snprintf(value, sizeof(value),
                 "{\"before\":{\"id\":%d,\"title\":null,\"body\":null,\"n\":null},\"after\":null,"
                 "\"source\":{\"table\":\"docs\"},\"op\":\"d\",\"ts_ms\":1}", id);
    else
        snprintf(value, sizeof(value),
                 "{\"before\":null,\"after\":{\"id\":%d,%s},\"source\":{\"table\":\"docs\"},\"op\":\"%s\",\"ts_ms\":1}",
                 id, after, op);
    snprintf(hdr, sizeof(hdr), "{\"schema\":%s,\"payload\":{\"id\":%d}}", key_schema, other);
    const char *name = !other ? NULL : !strcmp(op, "d") ? "__debezium.newkey" : "__debezium.oldkey";
    ts_produce_header(t, part, key, strlen(key), value, strlen(value), name, other ? hdr : NULL);
    if (!strcmp(op, "d")) /* the tombstone Debezium sends after a delete */
        ts_produce(t, part, key, strlen(key), NULL, 0);
}

static void settle(void)
{
    ts_flush();
    sc_wait_committed(group, topic, 2, 120000, logpath);
    sc_wait_committed(group, topic2, 1, 120000, logpath);
    sc_wait_committed(group, topic3, 1, 120000, logpath);
}

/* The rows of @sql (one text column) joined with ';' must equal @want. */
static void expect(PGconn *c, const char *want, const char *sql)
{
    char q[2048];
    snprintf(q, sizeof(q), "SELECT coalesce(string_agg(x, ';'), '') FROM (%s) AS q(x)", sql);
    char *got = ts_pg_text(c, q, NULL);
    ck_assert_msg(got && !strcmp(got, want), "%s\n  want: %s\n  got:  %s\nlog tail:\n%s", sql, want,
                  got ? got : "(null)", sc_log_tail(logpath, 3000));
    free(got);
}

static double unavailable_metric(void)
{
    char url[64], series[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", admin_port);
    snprintf(series, sizeof(series), "sluice_unavailable_values_total{table=\"%s.docs\"}", schema);
    sl_strbuf b = SL_STRBUF_INIT;
    ts_http_get(url, &b);
    double v = ts_metric(b.data, series);
    sl_strbuf_free(&b);
    return v < 0 ? 0 : v; /* a series appears with its first count */
}

/* "id:title:md5(body)" of every row, or "id:title:NULL" */
static const char rows_sql[] =
    "SELECT id || ':' || title || ':' || coalesce(md5(body), 'NULL') FROM %s.docs ORDER BY id";

static void expect_rows(PGconn *c, const char *want)
{
    char q[512];
    snprintf(q, sizeof(q), rows_sql, schema);
    expect(c, want, q);
}

static char *body_md5(PGconn *c, const char *body)
{
    return ts_pg_text(c, "SELECT md5($1)", body, NULL);
}

START_TEST(key_changes_carry_unchanged_values)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    schema = ts_pg_fresh_schema(c, "dbz_keychange");
    char ddl[512];
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE %s.docs (id int PRIMARY KEY, title text, body text, n int);"
             "CREATE TABLE %s.docs2 (id int PRIMARY KEY, title text, body text, n int);"
             "CREATE TABLE %s.docs3 (id int PRIMARY KEY, title text, body text, n int CHECK (n < 100))",
             schema, schema, schema);
    ts_pg_exec(c, ddl, NULL);
    topic = ts_unique_name("keychange");
    topic2 = ts_unique_name("keychange_ph");
    ts_kafka_create_topic(topic, 2);
    ts_kafka_create_topic(topic2, 1);
    topic3 = ts_unique_name("keychange_skip");
    ts_kafka_create_topic(topic3, 1);
    group = ts_unique_name("dbz_keychange");
    admin_port = ts_free_port();
    char *dir = ts_tempdir("dbz_keychange");
    /* metadata every half second: the topic that the pattern route below
     * matches, created later, makes a rebalance soon after */
    char *kafka = ts_kafka_yaml(group, "  topic.metadata.refresh.interval.ms: \"500\"\n");
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "admin:\n  listen: 127.0.0.1:%d\n"
                                 "targets:\n  pg:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "batch:\n  max_rows: 100\n  linger_ms: 20\n"
                                 "routes:\n"
                                 "  - topics: [\"%s\"]\n    target: pg\n    table: %s.docs\n    format: debezium\n"
                                 "  - topics: [\"%s\"]\n    target: pg\n    table: %s.docs2\n    format: debezium\n"
                                 "    unavailable_value: \"@@unchanged@@\"\n"
                                 "  - topics: [\"%s\"]\n    target: pg\n    table: %s.docs3\n    format: debezium\n"
                                 "    on_error: skip\n"
                                 "  - topic_pattern: \"^%s_rb\"\n    target: pg\n    table: %s.docs2\n    format: debezium\n",
                                 kafka, admin_port, topic, schema, topic2, schema, topic3, schema, topic, schema);
    free(kafka);
    logpath = ts_write_file(dir, "sluice.log", "%s", "");

    char body[6][8200];
    for (int i = 0; i < 6; i++) {
        memset(body[i], 'a' + i, 8000);
        body[i][8000] = '\0';
    }
    /* on_error: skip: 1 -> 201, then an update of 201 the table refuses
     * (n < 100), in one batch, so that the refused row is applied record by
     * record: the key change 2 -> 202 around them holds the batch open
     * until its create (carry.c) */
    char q3[256];
    snprintf(q3, sizeof(q3), "INSERT INTO %s.docs3 VALUES (1, 't1', $1, 0), (2, 't2', $2, 0)", schema);
    ts_pg_exec(c, q3, body[0], body[1], NULL);
    event(topic3, 0, 1, "d", NULL, 201);
    event(topic3, 0, 2, "d", NULL, 202);
    event(topic3, 0, 201, "c", "\"title\":\"t1\",\"body\":\"" PH "\",\"n\":1", 1);
    event(topic3, 0, 201, "u", "\"title\":\"t1 v2\",\"body\":\"" PH "\",\"n\":500", 0);
    event(topic3, 0, 202, "c", "\"title\":\"t2\",\"body\":\"" PH "\",\"n\":1", 2);
    ts_flush();
    ts_daemon *d = ts_daemon_start(config, logpath);

    /* the snapshot: six documents with long bodies */
    for (int i = 0; i < 6; i++) {
        char after[8400];
        snprintf(after, sizeof(after), "\"title\":\"t%d\",\"body\":\"%s\",\"n\":0", i + 1, body[i]);
        event(topic, 0, i + 1, "r", after, 0);
    }
    char after2[8400];
    snprintf(after2, sizeof(after2), "\"title\":\"t1\",\"body\":\"%s\",\"n\":0", body[0]);
    event(topic2, 0, 1, "r", after2, 0);
    settle();
    char *m[6];
    for (int i = 0; i < 6; i++)
        m[i] = body_md5(c, body[i]);
    char q[256], want3[256];
    snprintf(q, sizeof(q), "SELECT id || ':' || title || ':' || coalesce(md5(body), 'NULL') || ':' || n FROM %s.docs3 ORDER BY id",
             schema);
    snprintf(want3, sizeof(want3), "201:t1:%s:1;202:t2:%s:1", m[0], m[1]);
    expect(c, want3, q);
    char want[2048];
    snprintf(want, sizeof(want), "1:t1:%s;2:t2:%s;3:t3:%s;4:t4:%s;5:t5:%s;6:t6:%s", m[0], m[1], m[2], m[3], m[4],
             m[5]);
    expect_rows(c, want);

    /* one partition: 1 -> 101 */
    event(topic, 0, 1, "d", NULL, 101);
    event(topic, 0, 101, "c", "\"title\":\"t1\",\"body\":\"" PH "\",\"n\":1", 1);
    /* two partitions, the create first: 2 -> 102 */
    event(topic, 1, 102, "c", "\"title\":\"t2\",\"body\":\"" PH "\",\"n\":1", 2);
    settle();
    event(topic, 0, 2, "d", NULL, 102);
    settle();
    snprintf(want, sizeof(want), "3:t3:%s;4:t4:%s;5:t5:%s;6:t6:%s;101:t1:%s;102:t2:%s", m[2], m[3], m[4], m[5],
             m[0], m[1]);
    expect_rows(c, want);
    ck_assert_msg(unavailable_metric() == 0, "nothing was unavailable yet: %g", unavailable_metric());

    /* two partitions, the delete first, and a restart between them (the
     * old row read before the delete was in the stopped daemon's memory):
     * 3 -> 103 finds no old row */
    event(topic, 0, 3, "d", NULL, 103);
    settle();
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    d = ts_daemon_start(config, logpath);
    event(topic, 1, 103, "c", "\"title\":\"t3\",\"body\":\"" PH "\",\"n\":1", 3);
    settle();
    snprintf(want, sizeof(want), "4:t4:%s;5:t5:%s;6:t6:%s;101:t1:%s;102:t2:%s;103:t3:NULL", m[3], m[4], m[5], m[0],
             m[1]);
    expect_rows(c, want);
    ck_assert_msg(unavailable_metric() == 1, "one value unavailable: %g", unavailable_metric());
    char *log = ts_read_file(logpath);
    char needle[256];
    snprintf(needle, sizeof(needle), "\"%s\".\"docs\": the primary-key change from (id=3) to (id=103)", schema);
    ck_assert_msg(strstr(log, needle), "no warning naming the key: %s", sc_log_tail(logpath, 3000));
    free(log);

    /* the old row updated, then re-keyed, in quick succession: 4 -> 104
     * gets the updated body, whichever batch each lands in */
    char upd[8400];
    snprintf(upd, sizeof(upd), "\"title\":\"t4\",\"body\":\"%s\",\"n\":2", body[5]);
    event(topic, 0, 4, "u", upd, 0);
    event(topic, 0, 4, "d", NULL, 104);
    event(topic, 0, 104, "c", "\"title\":\"t4\",\"body\":\"" PH "\",\"n\":3", 4);
    /* a plain update with the placeholder keeps the stored body */
    event(topic, 0, 5, "u", "\"title\":\"t5 v2\",\"body\":\"" PH "\",\"n\":1", 0);
    /* a route's own placeholder, and Debezium's default one is a value there */
    event(topic2, 0, 1, "u", "\"title\":\"t1 v2\",\"body\":\"@@unchanged@@\",\"n\":1", 0);
    settle();
    snprintf(want, sizeof(want), "5:t5 v2:%s;6:t6:%s;101:t1:%s;102:t2:%s;103:t3:NULL;104:t4:%s", m[4], m[5], m[0],
             m[1], m[5]);
    expect_rows(c, want);
    snprintf(q, sizeof(q), "SELECT title || ':' || md5(body) FROM %s.docs2", schema);
    snprintf(want, sizeof(want), "t1 v2:%s", m[0]);
    expect(c, want, q);
    ck_assert_msg(unavailable_metric() == 1, "still one value unavailable: %g", unavailable_metric());

    /* one partition, with a batch boundary between the delete and the
     * create (the delete committed before the create is produced): 6 -> 106
     * gets the body read before the delete */
    event(topic, 0, 6, "d", NULL, 106);
    settle();
    snprintf(q, sizeof(q), "SELECT count(*)::text FROM %s.docs WHERE id = 6", schema);
    expect(c, "0", q);
    event(topic, 0, 106, "c", "\"title\":\"t6\",\"body\":\"" PH "\",\"n\":1", 6);
    settle();
    snprintf(want, sizeof(want), "5:t5 v2:%s;101:t1:%s;102:t2:%s;103:t3:NULL;104:t4:%s;106:t6:%s", m[4], m[0], m[1],
             m[5], m[5]);
    expect_rows(c, want);
    ck_assert_msg(unavailable_metric() == 1, "still one value unavailable: %g", unavailable_metric());

    /* one partition, an eager rebalance between the delete and the create
     * (a new topic the pattern route matches: the default assignors revoke
     * every partition), the partition coming back to this worker: 5 -> 105
     * gets the body kept from before the delete */
    event(topic, 0, 5, "d", NULL, 105);
    settle();
    snprintf(q, sizeof(q), "SELECT count(*)::text FROM %s.docs WHERE id = 5", schema);
    expect(c, "0", q);
    double rebalances = ts_scrape(admin_port, "sluice_rebalances_total");
    char rb_topic[256];
    snprintf(rb_topic, sizeof(rb_topic), "%s_rb", topic);
    ts_kafka_create_topic(rb_topic, 1);
    for (int i = 0; ts_scrape(admin_port, "sluice_rebalances_total") < rebalances + 2; i++) {
        ck_assert_msg(i < 600, "no rebalance after the topic %s came: %s", rb_topic, sc_log_tail(logpath, 3000));
        usleep(100 * 1000);
    }
    event(topic, 0, 105, "c", "\"title\":\"t5 v3\",\"body\":\"" PH "\",\"n\":2", 5);
    settle();
    snprintf(want, sizeof(want), "101:t1:%s;102:t2:%s;103:t3:NULL;104:t4:%s;105:t5 v3:%s;106:t6:%s", m[0], m[1],
             m[5], m[4], m[5]);
    expect_rows(c, want);
    ck_assert_msg(unavailable_metric() == 1, "still one value unavailable: %g", unavailable_metric());

    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    for (int i = 0; i < 6; i++)
        free(m[i]);
    PQfinish(c);
}
END_TEST

/* One worker writing two targets whose tables have one name (the same
 * schema and table in two databases, as one feed per target database):
 * each target's key changes carry its own old rows.  Target A's delete
 * 7 -> 107 is written first and its old row kept; then target B's delete
 * and create 7 -> 107 come in one batch, its body read from B's stored
 * row; then A's create: its body is A's kept one, neither B's nor gone. */
START_TEST(key_changes_in_two_targets_with_one_table_name)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *db2 = ts_unique_name("sluice_kc");
    char sql[512];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db2);
    ts_pg_exec(c, sql, NULL);
    char *dsn2 = NULL;
    ck_assert_int_ge(asprintf(&dsn2, "%s dbname=%s", ts_pg_dsn(), db2), 0);
    PGconn *c2 = PQconnectdb(dsn2);
    ck_assert_msg(PQstatus(c2) == CONNECTION_OK, "%s: %s", dsn2, PQerrorMessage(c2));
    schema = ts_pg_fresh_schema(c, "dbz_kc2");
    char body_a[8001], body_b[8001];
    memset(body_a, 'a', 8000);
    memset(body_b, 'b', 8000);
    body_a[8000] = body_b[8000] = '\0';
    PGconn *conns[2] = {c, c2};
    const char *bodies[2] = {body_a, body_b};
    for (int i = 0; i < 2; i++) {
        snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE %s.docs (id int PRIMARY KEY, title text, body text, n int)",
                 schema, schema);
        ts_pg_exec(conns[i], sql, NULL);
        snprintf(sql, sizeof(sql), "INSERT INTO %s.docs VALUES (7, 't7', $1, 0)", schema);
        ts_pg_exec(conns[i], sql, bodies[i], NULL);
    }
    char *ta = ts_unique_name("kc2_a"), *tb = ts_unique_name("kc2_b");
    ts_kafka_create_topic(ta, 1);
    ts_kafka_create_topic(tb, 1);
    char *grp = ts_unique_name("dbz_kc2");
    char *dir = ts_tempdir("dbz_kc2");
    char *kafka = sc_kafka_yaml(grp);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "targets:\n  a:\n    type: postgresql\n    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "  b:\n    type: postgresql\n    dsn: \"%s\"\n"
                                 "batch:\n  max_rows: 100\n  linger_ms: 20\n"
                                 "routes:\n"
                                 "  - topics: [\"%s\"]\n    target: a\n    table: %s.docs\n    format: debezium\n"
                                 "  - topics: [\"%s\"]\n    target: b\n    table: %s.docs\n    format: debezium\n",
                                 kafka, dsn2, ta, schema, tb, schema);
    free(kafka);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);

    event(ta, 0, 7, "d", NULL, 107);
    ts_flush();
    sc_wait_committed(grp, ta, 1, 120000, log);
    event(tb, 0, 7, "d", NULL, 107);
    event(tb, 0, 107, "c", "\"title\":\"t7\",\"body\":\"" PH "\",\"n\":1", 7);
    ts_flush();
    sc_wait_committed(grp, tb, 1, 120000, log);
    event(ta, 0, 107, "c", "\"title\":\"t7\",\"body\":\"" PH "\",\"n\":1", 7);
    ts_flush();
    sc_wait_committed(grp, ta, 1, 120000, log);

    snprintf(sql, sizeof(sql), "SELECT id || ':' || coalesce(md5(body), 'NULL') FROM %s.docs ORDER BY id", schema);
    for (int i = 0; i < 2; i++) {
        char *m = body_md5(c, bodies[i]);
        char want[128];
        snprintf(want, sizeof(want), "107:%s", m);
        logpath = log;
        expect(conns[i], want, sql);
        free(m);
    }
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    PQfinish(c2);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s", db2);
    ts_pg_exec(c, sql, NULL);
    PQfinish(c);
    free(dsn2);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {key_changes_carry_unchanged_values, key_changes_in_two_targets_with_one_table_name};
    return sc_main("debezium key changes", tests, 2);
}
