/* test_cratedb_matrix.c - every table design CrateDB's guides teach, through
 * both transports, in upsert mode (repeated keys and tombstones) and insert
 * mode: the stored rows must be what the records say.
 *
 * Designs: a time series partitioned by a generated month in the primary key
 * (the recommended one), the same with the month generated from a column
 * outside the key, a PARTITIONED BY column that is not generated, a
 * CLUSTERED BY routing column, a composite key, and a plain key.
 *
 * Against the stand-in by default (HTTP: crate_server.py over the test
 * PostgreSQL; pgwire: that PostgreSQL, the tables created through the
 * stand-in so they have CrateDB's designs translated).  Against a real
 * CrateDB when SLUICE_TEST_CRATEDB_URL and/or SLUICE_TEST_CRATEDB_DSN are set:
 * the transports with a real endpoint run against it, the tables in schema
 * doc.  The rows are read back after REFRESH TABLE, through HTTP when a URL
 * is at hand, else through pgwire. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crate_fixture.h"
#include "scenario.h"
#include "runner.h"
#include "support.h"

#define NPARTS 4
#define NKEYS 40
#define NRECS 400

typedef enum { T_HTTP, T_PG } transport;

typedef struct design {
    const char *name;
    const char *ddl;      /* %s: the table */
    const char *key_cols; /* the record key's fields, as written in the JSON key */
    int kind;             /* how the key is formed: see key_json() */
} design;

/* The record's key and value for key number @k; kind picks the shape. */
enum { K_TS, K_ID_TS, K_ID_REGION, K_ID_TENANT, K_COMPOSITE, K_PLAIN };

static const design designs[] = {
    {"generated_partition",
     "CREATE TABLE %s (device TEXT, ts TIMESTAMP WITH TIME ZONE, v BIGINT,"
     " month TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('month', ts),"
     " PRIMARY KEY (device, ts, month)) CLUSTERED BY (device) INTO 4 SHARDS PARTITIONED BY (month)",
     "device, ts", K_TS},
    {"generated_outside_key",
     "CREATE TABLE %s (id BIGINT, ts TIMESTAMP WITH TIME ZONE, v BIGINT,"
     " month TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('month', ts),"
     " PRIMARY KEY (id, month)) PARTITIONED BY (month)",
     "id", K_ID_TS},
    {"partitioned_by_column",
     "CREATE TABLE %s (id BIGINT, region TEXT, v BIGINT, PRIMARY KEY (id, region)) PARTITIONED BY (region)",
     "id, region", K_ID_REGION},
    {"clustered_by_column",
     "CREATE TABLE %s (id BIGINT, tenant TEXT, v BIGINT, PRIMARY KEY (id, tenant))"
     " CLUSTERED BY (tenant) INTO 4 SHARDS",
     "id, tenant", K_ID_TENANT},
    {"composite_key", "CREATE TABLE %s (a TEXT, b BIGINT, v BIGINT, PRIMARY KEY (a, b))", "a, b", K_COMPOSITE},
    {"plain_key", "CREATE TABLE %s (id BIGINT PRIMARY KEY, v BIGINT)", "id", K_PLAIN},
};
#define NDESIGNS (sizeof(designs) / sizeof(designs[0]))

/* Where the tables live and how they are read. */
typedef struct env {
    cf_server *srv;        /* the stand-in, when no real server */
    const char *url;       /* HTTP endpoint: the real one or the stand-in */
    const char *dsn;       /* pgwire: the real one or the test PostgreSQL */
    const char *read_url;  /* statements go here when set, else to read_dsn */
    const char *read_dsn;
    char *schema;
    PGconn *pg;
    bool real;
} env;

static void env_start(env *e, transport tp)
{
    memset(e, 0, sizeof(*e));
    const char *rurl = getenv("SLUICE_TEST_CRATEDB_URL"), *rdsn = getenv("SLUICE_TEST_CRATEDB_DSN");
    e->real = rurl || rdsn;
    ts_kafka_start(1);
    if (e->real) {
        e->url = rurl;
        e->dsn = rdsn;
        e->schema = strdup("doc");
        e->read_url = rurl;
        e->read_dsn = rdsn;
        return;
    }
    e->pg = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->pg, tp == T_HTTP ? "crate_matrix_http" : "crate_matrix_pg");
    e->srv = cf_start();
    e->url = e->srv->url;
    e->dsn = e->srv->dsn;
    e->read_url = e->srv->url;
}

static void env_stop(env *e)
{
    cf_stop(e->srv);
    if (e->pg)
        PQfinish(e->pg);
    free(e->schema);
    ts_kafka_stop();
}

/* One statement; the rows of the answer as JSON text ("[[...], ...]"). */
static char *exec_sql(env *e, const char *sql)
{
    if (e->read_url) {
        char *body = NULL;
        long st = cf_sql(e->read_url, e->schema, sql, &body);
        ck_assert_msg(st == 200, "%s: HTTP %ld %s", sql, st, body);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        ck_assert(j);
        char *out = json_dumps(json_object_get(j, "rows"), JSON_COMPACT);
        json_decref(j);
        return out;
    }
    PGconn *c = PQconnectdb(e->read_dsn);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *row = json_array();
        for (int k = 0; k < PQnfields(r); k++)
            json_array_append_new(row, PQgetisnull(r, i, k) ? json_null() : json_string(PQgetvalue(r, i, k)));
        json_array_append_new(rows, row);
    }
    PQclear(r);
    PQfinish(c);
    char *out = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    return out;
}

/* The value of key @k in record @seq: 2024-01..2024-06 spread the rows over
 * months (partitions) in the time-series designs. */
static void key_json(const design *d, int k, char *key, size_t klen)
{
    char ts[40];
    snprintf(ts, sizeof(ts), "2024-%02d-%02dT%02d:00:00Z", 1 + k % 6, 1 + k % 27, k % 24);
    switch (d->kind) {
    case K_TS: snprintf(key, klen, "{\"device\":\"dev%d\",\"ts\":\"%s\"}", k % 7, ts); break;
    case K_ID_TS: snprintf(key, klen, "{\"id\":%d}", k); break;
    case K_ID_REGION: snprintf(key, klen, "{\"id\":%d,\"region\":\"r%d\"}", k, k % 3); break;
    case K_ID_TENANT: snprintf(key, klen, "{\"id\":%d,\"tenant\":\"t%d\"}", k, k % 5); break;
    case K_COMPOSITE: snprintf(key, klen, "{\"a\":\"a%d\",\"b\":%d}", k % 4, k); break;
    default: snprintf(key, klen, "{\"id\":%d}", k); break;
    }
}

/* The value: the key's fields (and ts for K_ID_TS) plus v = @seq. */
static void value_json(const design *d, int k, int64_t seq, char *val, size_t vlen)
{
    char key[160];
    key_json(d, k, key, sizeof(key));
    key[strlen(key) - 1] = '\0'; /* reopen the object */
    if (d->kind == K_ID_TS)
        snprintf(val, vlen, "%s,\"ts\":\"2024-%02d-15T12:00:00Z\",\"v\":%" PRId64 "}", key, 1 + k % 6, seq);
    else
        snprintf(val, vlen, "%s,\"v\":%" PRId64 "}", key, seq);
}

/* Upsert topic: NRECS records over NKEYS keys, every 7th a tombstone, a key
 * always in the same partition; @last[k] is the key's final v or -1 when
 * deleted (or never written).  Insert topic: each key once, v = 1000 + k. */
static void produce(const design *d, const char *upsert_topic, const char *insert_topic, int64_t *last)
{
    char key[160], val[256];
    for (int k = 0; k < NKEYS; k++)
        last[k] = -1;
    for (int i = 0; i < NRECS; i++) {
        int k = (i * 7 + i / 13) % NKEYS;
        key_json(d, k, key, sizeof(key));
        if (i % 7 == 6 && last[k] >= 0) {
            ts_produce(upsert_topic, k % NPARTS, key, strlen(key), NULL, 0);
            last[k] = -1;
        } else {
            value_json(d, k, i, val, sizeof(val));
            ts_produce(upsert_topic, k % NPARTS, key, strlen(key), val, strlen(val));
            last[k] = i;
        }
    }
    for (int k = 0; k < NKEYS; k++) {
        key_json(d, k, key, sizeof(key));
        value_json(d, k, 1000 + k, val, sizeof(val));
        ts_produce(insert_topic, k % NPARTS, key, strlen(key), val, strlen(val));
    }
    ts_flush();
}

static void run(transport tp, const design *d)
{
    env e;
    env_start(&e, tp);
    if ((tp == T_HTTP && !e.url) || (tp == T_PG && !e.dsn)) {
        /* a real server reached through the other transport only */
        env_stop(&e);
        return;
    }
    char *up = ts_unique_name(d->name), *ins = ts_unique_name(d->name);
    char *up_topic = ts_unique_name("matrix_up"), *ins_topic = ts_unique_name("matrix_ins");
    char *group = ts_unique_name("sluice_matrix");
    char sql[1024];
    snprintf(sql, sizeof(sql), d->ddl, up);
    free(exec_sql(&e, sql));
    snprintf(sql, sizeof(sql), d->ddl, ins);
    free(exec_sql(&e, sql));
    ts_kafka_create_topic(up_topic, NPARTS);
    ts_kafka_create_topic(ins_topic, NPARTS);
    int64_t last[NKEYS];
    produce(d, up_topic, ins_topic, last);

    char *dir = ts_tempdir("crate_matrix"), *kafka = sc_kafka_yaml(group);
    char target[512];
    if (tp == T_HTTP)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", e.url);
    else
        snprintf(target, sizeof(target), "    dsn: \"%s\"\n", e.dsn);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n%s    schema: \"%s\"\n"
                              "routes:\n"
                              "  - topics: [%s]\n    target: crate\n    table: %s\n    format: json\n"
                              "    mode: upsert\n    delete_on_tombstone: true\n"
                              "  - topics: [%s]\n    target: crate\n    table: %s\n    format: json\n"
                              "    mode: insert\n"
                              "batch:\n  max_rows: 50\n  linger_ms: 20\n"
                              "retry:\n  initial_backoff_ms: 20ms\n  max_backoff_ms: 200ms\n",
                              kafka, target, e.schema, up_topic, up, ins_topic, ins);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *dm = ts_daemon_start(cfg, log);
    sc_wait_committed(group, up_topic, NPARTS, 180000, log);
    sc_wait_committed(group, ins_topic, NPARTS, 180000, log);
    int code = ts_daemon_stop(dm, 60000);
    char *tail = sc_log_tail(log, 3000);
    ck_assert_msg(code == 0, "%s: sluice exited with %d; log tail:\n%s", d->name, code, tail);
    ck_assert_msg(!strstr(tail, "not written"), "%s: rows were refused:\n%s", d->name, tail);
    free(tail);
    ts_daemon_free(dm);

    /* upsert: exactly the live keys, each with its last value */
    snprintf(sql, sizeof(sql), "REFRESH TABLE %s", up);
    free(exec_sql(&e, sql));
    int64_t want_n = 0, want_sum = 0;
    for (int k = 0; k < NKEYS; k++)
        if (last[k] >= 0)
            want_n++, want_sum += last[k];
    snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(v), 0) FROM %s", up);
    char *got = exec_sql(&e, sql), want[96], want_txt[96];
    snprintf(want, sizeof(want), "[[%" PRId64 ",%" PRId64 "]]", want_n, want_sum);
    snprintf(want_txt, sizeof(want_txt), "[[\"%" PRId64 "\",\"%" PRId64 "\"]]", want_n, want_sum);
    ck_assert_msg(!strcmp(got, want) || !strcmp(got, want_txt), "%s over %s, upsert: stored %s, expected %s",
                  d->name, tp == T_HTTP ? "HTTP" : "pgwire", got, want);
    free(got);
    /* every live key's own value, by key */
    snprintf(sql, sizeof(sql), "SELECT v FROM %s ORDER BY v", up);
    got = exec_sql(&e, sql);
    json_t *rows = json_loads(got, 0, NULL);
    size_t j = 0;
    int64_t sorted[NKEYS];
    size_t ns = 0;
    for (int k = 0; k < NKEYS; k++)
        if (last[k] >= 0)
            sorted[ns++] = last[k];
    for (size_t a = 1; a < ns; a++)
        for (size_t b = a; b > 0 && sorted[b - 1] > sorted[b]; b--) {
            int64_t t = sorted[b];
            sorted[b] = sorted[b - 1];
            sorted[b - 1] = t;
        }
    ck_assert_uint_eq(json_array_size(rows), ns);
    for (j = 0; j < ns; j++) {
        json_t *v = json_array_get(json_array_get(rows, j), 0);
        int64_t x = json_is_integer(v) ? json_integer_value(v) : strtoll(json_string_value(v), NULL, 10);
        ck_assert_msg(x == sorted[j], "%s: row %zu holds v=%" PRId64 ", expected %" PRId64, d->name, j, x, sorted[j]);
    }
    json_decref(rows);
    free(got);
    /* the generated month is CrateDB's, computed from ts */
    if (d->kind == K_TS || d->kind == K_ID_TS) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE month IS NULL OR month <> date_trunc('month', ts)",
                 up);
        got = exec_sql(&e, sql);
        ck_assert_msg(!strcmp(got, "[[0]]") || !strcmp(got, "[[\"0\"]]"), "%s: months not computed: %s", d->name,
                      got);
        free(got);
    }

    /* insert: each key once */
    snprintf(sql, sizeof(sql), "REFRESH TABLE %s", ins);
    free(exec_sql(&e, sql));
    snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(v), 0) FROM %s", ins);
    got = exec_sql(&e, sql);
    int64_t isum = 0;
    for (int k = 0; k < NKEYS; k++)
        isum += 1000 + k;
    snprintf(want, sizeof(want), "[[%d,%" PRId64 "]]", NKEYS, isum);
    snprintf(want_txt, sizeof(want_txt), "[[\"%d\",\"%" PRId64 "\"]]", NKEYS, isum);
    ck_assert_msg(!strcmp(got, want) || !strcmp(got, want_txt), "%s over %s, insert: stored %s, expected %s",
                  d->name, tp == T_HTTP ? "HTTP" : "pgwire", got, want);
    free(got);
    printf("matrix %-22s %-6s upsert %" PRId64 " rows, tombstones deleted, insert %d rows: ok%s\n", d->name,
           tp == T_HTTP ? "http" : "pgwire", want_n, NKEYS, e.real ? " (real CrateDB)" : "");
    if (e.real) {
        snprintf(sql, sizeof(sql), "DROP TABLE %s", up);
        free(exec_sql(&e, sql));
        snprintf(sql, sizeof(sql), "DROP TABLE %s", ins);
        free(exec_sql(&e, sql));
    }
    free(cfg), free(kafka), free(dir), free(log), free(up), free(ins), free(up_topic), free(ins_topic), free(group);
    env_stop(&e);
}

START_TEST(http_designs) { run(T_HTTP, &designs[_i]); }
END_TEST
START_TEST(pgwire_designs) { run(T_PG, &designs[_i]); }
END_TEST

int main(void)
{
    if (!getenv("SLUICE_TEST_CRATEDB_URL") && !getenv("SLUICE_TEST_CRATEDB_DSN") && !getenv("SLUICE_TEST_DSN")) {
        printf("SKIP: SLUICE_TEST_DSN (for the stand-in) or SLUICE_TEST_CRATEDB_URL/_DSN is not set\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("cratedb matrix");
    TCase *tc = tcase_create("designs");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, http_designs, 0, (int)NDESIGNS);
    tcase_add_loop_test(tc, pgwire_designs, 0, (int)NDESIGNS);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
