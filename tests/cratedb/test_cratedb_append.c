/* test_cratedb_append.c - append_key under kill -9: an append-only CrateDB
 * table whose primary key sluice fills with topic/partition/offset.  The
 * daemon is killed with SIGKILL while it writes, several times, and
 * restarted each time; records written before a kill but not committed are
 * read and written again.  At the end the table holds every record exactly
 * once (count, distinct seq, each row under its own coordinates) and the
 * group has committed the whole topic.  Over HTTP the stand-in also counts
 * the rows it was sent: more than were produced, so replays happened and
 * were absorbed.  Against the stand-in (both transports), or a real
 * CrateDB when SLUICE_TEST_CRATEDB_URL / _DSN are set.
 *
 * SLUICE_APPEND_SEED replays a run (the seed is printed). */
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

#define NPARTS 4
#define TOTAL 20000
#define KILLS 4

typedef enum { T_HTTP, T_PG } transport;

typedef struct env {
    cf_server *srv;
    const char *url, *dsn;   /* the target sluice writes to */
    const char *read_url;    /* statements (DDL, counts) go here, else to read_dsn */
    const char *read_dsn;
    char *schema;
    char *table;
    PGconn *pg;
    bool real;
} env;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One statement; the first cell of the answer as text (NULL if none). */
static char *exec_sql(const env *e, const char *sql)
{
    if (e->read_url) {
        char *body = NULL;
        long st = cf_sql(e->read_url, e->schema, sql, &body);
        ck_assert_msg(st == 200, "%s: HTTP %ld %s", sql, st, body);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        json_t *v = json_array_get(json_array_get(json_object_get(j, "rows"), 0), 0);
        char *out = !v ? NULL : json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
        json_decref(j);
        return out;
    }
    PGconn *c = PQconnectdb(e->read_dsn);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    char *out = PQntuples(r) && PQnfields(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    PQfinish(c);
    return out;
}

static int64_t count_now(const env *e, const char *what)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "REFRESH TABLE %s", e->table);
    free(exec_sql(e, sql));
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s", what, e->table);
    char *v = exec_sql(e, sql);
    int64_t n = v ? strtoll(v, NULL, 10) : -1;
    free(v);
    return n;
}

typedef struct progress {
    const env *e;
    int64_t above;
    ts_daemon *d;
} progress;

static bool grew(void *arg)
{
    progress *p = arg;
    return count_now(p->e, "count(*)") > p->above || !ts_daemon_running(p->d);
}

static void scenario(transport tp)
{
    uint64_t seed = getenv("SLUICE_APPEND_SEED") ? strtoull(getenv("SLUICE_APPEND_SEED"), NULL, 0)
                                                 : ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    if (!seed)
        seed = 1;
    printf("append_key kill -9 over %s: seed %" PRIu64 "\n", tp == T_HTTP ? "HTTP" : "pgwire", seed);
    uint64_t rng = seed;
    env e = {0};
    const char *rurl = getenv("SLUICE_TEST_CRATEDB_URL"), *rdsn = getenv("SLUICE_TEST_CRATEDB_DSN");
    e.real = rurl || rdsn;
    if (e.real && ((tp == T_HTTP && !rurl) || (tp == T_PG && !rdsn)))
        return;
    ts_kafka_start(1);
    if (e.real) {
        e.url = rurl, e.dsn = rdsn, e.read_url = rurl, e.read_dsn = rdsn;
        e.schema = strdup("doc");
    } else {
        e.pg = ts_pg_connect();
        e.schema = ts_pg_fresh_schema(e.pg, tp == T_HTTP ? "crate_append_http" : "crate_append_pg");
        e.srv = cf_start();
        e.url = e.srv->url, e.dsn = e.srv->dsn, e.read_url = e.srv->url;
        cf_faults(e.srv, "{\"refresh_interval_ms\": 1000}");
    }
    e.table = ts_unique_name("events");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE %s (event_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, pad TEXT) CLUSTERED INTO 4 SHARDS",
             e.table);
    free(exec_sql(&e, sql));
    char *topic = ts_unique_name("append"), *group = ts_unique_name("sluice_append");
    ts_kafka_create_topic(topic, NPARTS);
    char value[160];
    for (int64_t i = 0; i < TOTAL; i++) {
        int len = snprintf(value, sizeof(value), "{\"seq\":%" PRId64 ",\"pad\":\"event %" PRId64 "\"}", i, i);
        ts_produce(topic, (int32_t)(i % NPARTS), NULL, 0, value, (size_t)len);
    }
    ts_flush();

    char *dir = ts_tempdir("crate_append"), *kafka = sc_kafka_yaml(group);
    char target[512];
    if (tp == T_HTTP)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", e.url);
    else
        snprintf(target, sizeof(target), "    dsn: \"%s\"\n", e.dsn);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%stargets:\n  crate:\n    type: cratedb\n%s    schema: \"%s\"\n"
                              "routes:\n  - topics: [%s]\n    target: crate\n    table: %s\n    format: json\n"
                              "    mode: insert\n    append_key: event_id\n"
                              "batch:\n  max_rows: 500\n  linger_ms: 20\n"
                              "retry:\n  initial_backoff_ms: 20ms\n  max_backoff_ms: 200ms\n",
                              kafka, target, e.schema, topic, e.table);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    int kills = 0;
    for (int round = 0; round < KILLS; round++) {
        int64_t before = count_now(&e, "count(*)");
        if (before >= TOTAL)
            break;
        ts_daemon *d = ts_daemon_start(cfg, log);
        progress p = {&e, before, d};
        ck_assert_msg(ts_wait_until(grew, &p, 120000), "no progress within 120 s after restart %d", round);
        /* then somewhere in the middle of the next writes */
        usleep((useconds_t)(next_rand(&rng) % 400) * 1000);
        if (ts_daemon_running(d)) {
            ts_daemon_signal(d, SIGKILL);
            ck_assert(ts_daemon_wait(d, 10000));
            kills++;
        }
        ts_daemon_free(d);
    }
    ts_daemon *d = ts_daemon_start(cfg, log);
    sc_wait_committed(group, topic, NPARTS, 300000, log);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);

    int64_t rows = count_now(&e, "count(*)"), distinct = count_now(&e, "count(DISTINCT seq)");
    ck_assert_msg(rows == TOTAL && distinct == TOTAL, "after %d kills: %" PRId64 " rows, %" PRId64
                  " distinct seq, %d records produced", kills, rows, distinct, TOTAL);
    /* each row under its own coordinates: seq i went to partition i % 4 at offset i / 4 */
    char where[512];
    snprintf(where, sizeof(where),
             "count(*) FILTER (WHERE event_id = '%s/' || (seq %% %d)::TEXT || '/' || (seq / %d)::TEXT)", topic,
             NPARTS, NPARTS);
    int64_t placed = count_now(&e, where);
    ck_assert_msg(placed == TOTAL, "%" PRId64 " of %d rows carry their own topic/partition/offset", placed, TOTAL);
    if (e.srv && tp == T_HTTP) {
        long sent = cf_stat_int(e.srv, "bulk_rows");
        printf("append_key over HTTP: %d kills, %ld rows sent for %d records, %" PRId64 " stored\n", kills, sent,
               TOTAL, rows);
        ck_assert_msg(kills == 0 || sent > TOTAL, "%d kills but only %ld rows sent: nothing was replayed", kills, sent);
    } else {
        printf("append_key over %s: %d kills, %" PRId64 " stored of %d%s\n", tp == T_HTTP ? "HTTP" : "pgwire", kills,
               rows, TOTAL, e.real ? " (real CrateDB)" : "");
    }
    ck_assert_msg(kills > 0, "the daemon finished before any kill: nothing was tested");
    if (e.real) {
        snprintf(sql, sizeof(sql), "DROP TABLE %s", e.table);
        free(exec_sql(&e, sql));
    }
    cf_stop(e.srv);
    if (e.pg)
        PQfinish(e.pg);
    free(cfg), free(kafka), free(dir), free(log), free(topic), free(group), free(e.table), free(e.schema);
    ts_kafka_stop();
}

START_TEST(http_append_kill9) { scenario(T_HTTP); }
END_TEST
START_TEST(pgwire_append_kill9) { scenario(T_PG); }
END_TEST

int main(void)
{
    if (!getenv("SLUICE_TEST_CRATEDB_URL") && !getenv("SLUICE_TEST_CRATEDB_DSN") && !getenv("SLUICE_TEST_DSN")) {
        printf("SKIP: SLUICE_TEST_DSN (for the stand-in) or SLUICE_TEST_CRATEDB_URL/_DSN is not set\n");
        return TS_SKIP;
    }
    Suite *s = suite_create("cratedb append_key");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, http_append_kill9);
    tcase_add_test(tc, pgwire_append_kill9);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
