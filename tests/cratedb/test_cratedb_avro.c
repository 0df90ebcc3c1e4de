/* test_cratedb_avro.c - Avro records (Confluent wire format, through the test
 * schema registry) into CrateDB's dialect, through both transports: HTTP
 * (the stand-in crate_server.py, executing on the test PostgreSQL) and
 * pgwire (the test PostgreSQL itself).  Kafka is librdkafka's mock cluster.
 *
 * The records use the "every type" schema of the Avro tests, with repeated
 * keys and tombstones (delete_on_tombstone, the key from an Avro key
 * record), then a second schema version that adds a field.  Each test reads
 * back every stored cell and compares it with the exact value:
 * decimals as exact text, timestamps as CrateDB keeps them.
 *
 * CrateDB stores timestamps as epoch milliseconds ("Data types",
 * TIMESTAMP).  Over HTTP sluice sends epoch milliseconds itself, so digits
 * below the millisecond are dropped by sluice, rounding toward the earlier
 * instant (floor); the stand-in stores exactly what it got.  Over pgwire
 * sluice sends the ISO text with every digit and CrateDB drops the extra
 * ones on its side; the PostgreSQL standing in for it here keeps them, so
 * the pgwire test sees microseconds.
 *
 * HTTP: auto_create makes the table from the schema in CrateDB's DDL
 * (OBJECT(DYNAMIC), ARRAY(TEXT), TIMESTAMP WITH TIME ZONE), which the
 * stand-in translates; auto_evolve then adds a column.  pgwire talks to
 * PostgreSQL directly, which cannot run CrateDB's CREATE TABLE, so that
 * table is created by the test with the PostgreSQL equivalents of the same
 * types (both tables must end with the same column list); auto_evolve's
 * ALTER TABLE ... ADD COLUMN "seen" TIMESTAMP WITH TIME ZONE runs as it is. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_support.h"
#include "crate_fixture.h"
#include "scenario.h"
#include "support.h"

#define NPARTS 2

typedef enum { T_HTTP, T_PG } transport;

/* The value schema, version 2: version 1 (ar_alltypes_schema) plus an
 * optional timestamp-micros field "seen", default null. */
static char *schema_v2(void)
{
    size_t n = strlen(ar_alltypes_schema);
    ck_assert(n > 2 && !strcmp(ar_alltypes_schema + n - 2, "]}"));
    char *s = NULL;
    if (asprintf(&s, "%.*s,{\"name\":\"seen\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":"
                     "\"timestamp-micros\"}],\"default\":null}]}",
                 (int)(n - 2), ar_alltypes_schema) < 0)
        ck_abort();
    return s;
}

static const char key_schema[] =
    "{\"type\":\"record\",\"name\":\"Key\",\"namespace\":\"sluice.test\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}";

typedef struct env {
    transport tp;
    cf_server *srv;
    ar_server *reg;
    PGconn *c;
    char *schema, *topic, *group, *dir, *log;
    int kid, vid1, vid2;
    avro_type key, v1, v2;
} env;

static void env_start(env *e, transport tp, const char *base)
{
    memset(e, 0, sizeof(*e));
    e->tp = tp;
    ts_kafka_start(1);
    e->reg = ar_start(0, NULL, NULL, false);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, base);
    e->topic = ts_unique_name(base);
    e->group = ts_unique_name("sluice_crate_avro");
    ts_kafka_create_topic(e->topic, NPARTS);
    e->dir = ts_tempdir(base);
    e->log = ts_write_file(e->dir, "sluice.log", "%s", "");
    if (tp == T_HTTP)
        e->srv = cf_start();
    char subject[256];
    snprintf(subject, sizeof(subject), "%s-key", e->topic);
    e->kid = ar_register(e->reg, subject, key_schema);
    snprintf(subject, sizeof(subject), "%s-value", e->topic);
    char *v2 = schema_v2();
    e->vid1 = ar_register(e->reg, subject, ar_alltypes_schema);
    e->vid2 = ar_register(e->reg, subject, v2);
    ck_assert_int_ne(e->vid1, e->vid2);
    at_init(&e->key, key_schema);
    at_init(&e->v1, ar_alltypes_schema);
    at_init(&e->v2, v2);
    free(v2);
    /* the test's own reads: timestamps shown in UTC, floats shortest-exact */
    ts_pg_exec(e->c, "SET TimeZone = 'UTC'", NULL);
    ts_pg_exec(e->c, "SET extra_float_digits = 0", NULL);
}

static void env_stop(env *e)
{
    at_fini(&e->key);
    at_fini(&e->v1);
    at_fini(&e->v2);
    cf_stop(e->srv);
    ar_free(e->reg);
    PQfinish(e->c);
    free(e->schema);
    free(e->topic);
    free(e->group);
    free(e->dir);
    free(e->log);
    ts_kafka_stop();
}

/* Key @id to partition id % NPARTS: one key's records keep their order.
 * @variant < 0 is a tombstone; @version 2 sets "seen" to @seen_us, or null
 * when @seen_us is INT64_MIN. */
static void produce(env *e, int64_t id, int version, int variant, int64_t seen_us)
{
    avro_value_t f, br;
    ck_assert_int_eq(avro_value_get_by_name(&e->key.value, "id", &f, NULL), 0);
    avro_value_set_long(&f, id);
    size_t klen, vlen = 0;
    char *k = ar_wire(e->kid, &e->key.value, &klen);
    char *v = NULL;
    if (variant >= 0) {
        avro_type *t = version == 1 ? &e->v1 : &e->v2;
        ar_alltypes_fill(&t->value, id, variant);
        if (version == 2) {
            ck_assert_int_eq(avro_value_get_by_name(&t->value, "seen", &f, NULL), 0);
            if (seen_us == INT64_MIN) {
                avro_value_set_branch(&f, 0, &br);
                avro_value_set_null(&br);
            } else {
                avro_value_set_branch(&f, 1, &br);
                avro_value_set_long(&br, seen_us);
            }
        }
        v = ar_wire(version == 1 ? e->vid1 : e->vid2, &t->value, &vlen);
    }
    ts_produce(e->topic, (int32_t)(id % NPARTS), k, klen, v, vlen);
    free(k);
    free(v);
}

static char *write_config(env *e, const char *route_extra)
{
    char *kafka = sc_kafka_yaml(e->group);
    char target[512];
    if (e->tp == T_HTTP)
        snprintf(target, sizeof(target), "    url: \"%s\"\n", e->srv->url);
    else /* CrateDB reads a timestamp without an offset as UTC: so does this session */
        snprintf(target, sizeof(target), "    dsn: \"${SLUICE_TEST_DSN} options='-c TimeZone=UTC'\"\n");
    char *cfg = ts_write_file(e->dir, "sluice.yaml",
                              "%s"
                              "schema_registry:\n"
                              "  url: [\"%s\"]\n"
                              "  timeout_ms: 5000\n"
                              "targets:\n"
                              "  crate:\n"
                              "    type: cratedb\n"
                              "%s"
                              "    schema: \"%s\"\n"
                              "routes:\n"
                              "  - topics: [%s]\n"
                              "    target: crate\n"
                              "    table: alltypes\n"
                              "    format: avro\n"
                              "    key_format: avro\n"
                              "    mode: upsert\n"
                              "    delete_on_tombstone: true\n"
                              "    auto_evolve: true\n"
                              "%s"
                              "batch:\n"
                              "  max_rows: 4\n"
                              "  linger_ms: 20\n"
                              "retry:\n"
                              "  initial_backoff_ms: 20ms\n"
                              "  max_backoff_ms: 200ms\n",
                              kafka, e->reg->url, target, e->schema, e->topic, route_extra);
    free(kafka);
    return cfg;
}

/* The table pgwire writes to: what auto_create makes on CrateDB, in the
 * PostgreSQL spelling the stand-in translates it to (OBJECT(DYNAMIC) ->
 * jsonb, ARRAY(TEXT) -> text[]); see docs/avro.md, CrateDB column. */
static const char pg_alltypes_sql[] =
    "CREATE TABLE alltypes (id bigint NOT NULL, b boolean, i integer, f real, d double precision, s text,"
    " raw text, fx text, color text, \"dec\" text, decfx text, day timestamptz, tms text, tus text,"
    " tsms timestamptz, tsus timestamptz, ltms timestamp, ltus timestamp, u text, opt text, tags text[],"
    " attrs jsonb, \"inner\" jsonb, PRIMARY KEY (id))";

/* What each column holds for ar_alltypes_fill()'s two variants, as
 * PostgreSQL shows it (TimeZone UTC).  NULL: SQL NULL.  Timestamps whose
 * microseconds CrateDB cannot keep have a second spelling for HTTP. */
typedef struct cell_want {
    const char *col;
    const char *v[2];      /* pgwire, and HTTP where http[variant] is NULL */
    const char *http[2];
} cell_want;

static const cell_want wants[] = {
    {"b", {"true", "false"}, {0}},
    {"i", {"-2147483648", "2147483647"}, {0}},
    {"f", {"1.5", "-0.25"}, {0}},
    {"d", {"-0.1", "1e+300"}, {0}},
    {"s", {"h\xc3\xa9llo \"quoted\"", ""}, {0}},
    /* bytes and fixed: hex text in a TEXT column */
    {"raw", {"\\x00ff10", "\\x"}, {0}},
    {"fx", {"\\x01020304", "\\x01020304"}, {0}},
    {"color", {"GREEN", "RED"}, {0}},
    /* decimals in TEXT: exact, every digit of the scale */
    {"dec", {"-123456789012345.6789", "0.0000"}, {0}},
    {"decfx", {"1.00", "-0.05"}, {0}},
    /* date -> TIMESTAMP WITH TIME ZONE at midnight UTC, before 1970 and in year 1 */
    {"day", {"1969-12-31 00:00:00+00", "0001-01-01 00:00:00+00"}, {0}},
    /* times of day -> TEXT, always with six fraction digits */
    {"tms", {"12:34:56.789000", "00:00:00.000000"}, {0}},
    {"tus", {"12:34:56.789012", "23:59:59.999999"}, {0}},
    {"tsms", {"1969-12-31 23:59:59.999+00", "2024-05-01 12:00:00.123+00"}, {0}},
    {"tsus", {"2024-05-01 12:00:00.123456+00", "0001-01-01 00:00:00+00"},
     {"2024-05-01 12:00:00.123+00", NULL}},
    {"ltms", {"1970-01-01 00:00:00", "2024-05-01 12:00:00.123"}, {0}},
    /* -86400000001 us: the floor to milliseconds is .999 of the second before */
    {"ltus", {"1969-12-30 23:59:59.999999", "2024-05-01 12:00:00.000001"},
     {"1969-12-30 23:59:59.999", "2024-05-01 12:00:00"}},
    {"u", {"0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e"}, {0}},
    {"opt", {NULL, "set"}, {0}},
    {"tags", {"{a,\"b,c\"}", "{}"}, {0}},
    {"attrs", {"{\"k\": 1}", "{\"k\": -9007199254740993}"}, {0}},
    {"inner", {"{\"x\": 7}", "{\"x\": 7}"}, {0}},
};

static void expect_cell(env *e, int64_t id, const char *col, const char *want)
{
    char sql[256], sid[32];
    snprintf(sql, sizeof(sql), "SELECT \"%s\"::text FROM alltypes WHERE id = $1", col);
    snprintf(sid, sizeof(sid), "%" PRId64, id);
    char *got = ts_pg_text(e->c, sql, sid, NULL);
    if (!want)
        ck_assert_msg(got == NULL, "%s: id %s column %s: got '%s', want NULL", e->tp == T_HTTP ? "http" : "pgwire",
                      sid, col, got);
    else
        ck_assert_msg(got && !strcmp(got, want), "%s: id %s column %s: got '%s', want '%s'",
                      e->tp == T_HTTP ? "http" : "pgwire", sid, col, got ? got : "NULL", want);
    free(got);
}

/* Row @id holds variant @variant in every column, and @seen in "seen". */
static void expect_row(env *e, int64_t id, int variant, const char *seen)
{
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        const cell_want *w = &wants[i];
        expect_cell(e, id, w->col, e->tp == T_HTTP && w->http[variant] ? w->http[variant] : w->v[variant]);
    }
    expect_cell(e, id, "seen", seen);
}

/* Column name and type of every column, in order, as PostgreSQL names them. */
static char *column_types(env *e)
{
    return ts_pg_text(e->c,
                      "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)"
                      " FROM pg_attribute WHERE attrelid = 'alltypes'::regclass AND attnum > 0 AND NOT attisdropped",
                      NULL);
}

typedef struct waiting {
    env *e;
    ts_daemon *d;
} waiting;

static bool committed_or_stopped(void *arg)
{
    waiting *w = arg;
    return !ts_daemon_running(w->d) || sc_offsets_at_end(w->e->group, w->e->topic, NPARTS);
}

/* The group committed every partition to its end, the daemon still runs;
 * fails at once, with the log, when the daemon stopped. */
static void wait_committed(env *e, ts_daemon *d)
{
    waiting w = {e, d};
    ts_wait_until(committed_or_stopped, &w, 120000);
    if (!ts_daemon_running(d)) {
        char *log = ts_read_file(e->log);
        ck_abort_msg("sluice stopped with %d; log:\n%s", ts_daemon_exit_code(d), log);
    }
    sc_wait_committed(e->group, e->topic, NPARTS, 1000, e->log);
}

static void run(transport tp)
{
    env e;
    env_start(&e, tp, tp == T_HTTP ? "crate_http_avro" : "crate_pg_avro");
    if (tp == T_PG)
        ts_pg_exec(e.c, pg_alltypes_sql, NULL);
    char *cfg = write_config(&e, tp == T_HTTP ? "    auto_create: true\n" : "");

    /* schema version 1: repeated keys, deletes of rows that exist, of one
     * that never did, and a key written again after its delete */
    produce(&e, 1, 1, 1, 0);
    produce(&e, 2, 1, 0, 0);
    produce(&e, 3, 1, 0, 0);
    produce(&e, 1, 1, 0, 0);  /* 1 ends as variant 0 */
    produce(&e, 4, 1, 1, 0);
    produce(&e, 3, 1, -1, 0); /* 3 deleted */
    produce(&e, 4, 1, -1, 0);
    produce(&e, 2, 1, 1, 0);  /* 2 ends as variant 1 */
    produce(&e, 5, 1, -1, 0); /* 5 never existed */
    produce(&e, 4, 1, 0, 0);  /* 4 back, as variant 0 */
    produce(&e, 6, 1, 1, 0);
    ts_flush();
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    wait_committed(&e, d);

    /* version 2 adds "seen", once the table exists: auto_evolve adds it */
    produce(&e, 6, 2, 0, 1700000000000001LL); /* 2023-11-14 22:13:20.000001Z */
    produce(&e, 7, 2, 1, INT64_MIN);
    produce(&e, 1, 2, -1, 0);                 /* 1 deleted */
    produce(&e, 8, 2, 0, -1);                 /* 1969-12-31 23:59:59.999999Z */
    ts_flush();
    wait_committed(&e, d);
    int code = ts_daemon_stop(d, 60000);
    char *log = ts_read_file(e.log);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, log);
    ck_assert_msg(strstr(log, "auto_evolve: added nullable column \"seen\" TIMESTAMP WITH TIME ZONE"),
                  "no auto_evolve line in the log:\n%s", log);
    if (tp == T_HTTP)
        ck_assert_msg(strstr(log, "auto_create: created table"), "no auto_create line in the log:\n%s", log);
    free(log);
    ts_daemon_free(d);

    /* the rows: 1, 3 and 5 deleted, the others as their last record left them */
    char *ids = ts_pg_text(e.c, "SELECT string_agg(id::text, ',' ORDER BY id) FROM alltypes", NULL);
    ck_assert_msg(ids && !strcmp(ids, "2,4,6,7,8"), "stored ids: %s, want 2,4,6,7,8", ids ? ids : "(none)");
    free(ids);
    expect_row(&e, 2, 1, NULL);
    expect_row(&e, 4, 0, NULL);
    expect_row(&e, 6, 0, tp == T_HTTP ? "2023-11-14 22:13:20+00" : "2023-11-14 22:13:20.000001+00");
    expect_row(&e, 7, 1, NULL);
    expect_row(&e, 8, 0, tp == T_HTTP ? "1969-12-31 23:59:59.999+00" : "1969-12-31 23:59:59.999999+00");

    /* the columns: the pgwire table was made by hand with the types the
     * HTTP one got from auto_create, plus the evolved column */
    char *types = column_types(&e);
    const char *want_types =
        "id bigint, b boolean, i integer, f real, d double precision, s text, raw text, fx text, color text,"
        " dec text, decfx text, day timestamp with time zone, tms text, tus text,"
        " tsms timestamp with time zone, tsus timestamp with time zone, ltms timestamp without time zone,"
        " ltus timestamp without time zone, u text, opt text, tags text[], attrs jsonb, inner jsonb,"
        " seen timestamp with time zone";
    ck_assert_msg(types && !strcmp(types, want_types), "columns:\n%s\nwant:\n%s", types ? types : "(none)",
                  want_types);
    free(types);
    /* only the key is NOT NULL: later versions may drop fields */
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'alltypes'::regclass"
                                    " AND attnum > 0 AND attnotnull", NULL), 1);
    ck_assert_int_eq(ts_pg_int(e.c, "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                                    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'alltypes'::regclass"
                                    " AND i.indisprimary AND a.attname = 'id'", NULL), 1);

    if (tp == T_HTTP) {
        /* sluice spoke CrateDB's DDL; the stand-in only translated it */
        char *stats = cf_stats(e.srv);
        const char *ddl[] = {
            "CREATE TABLE IF NOT EXISTS ", "\\\"id\\\" BIGINT NOT NULL", "\\\"inner\\\" OBJECT(DYNAMIC)",
            "\\\"attrs\\\" OBJECT(DYNAMIC)", "\\\"tags\\\" ARRAY(TEXT)", "\\\"dec\\\" TEXT",
            "\\\"day\\\" TIMESTAMP WITH TIME ZONE", "\\\"ltus\\\" TIMESTAMP WITHOUT TIME ZONE",
            "PRIMARY KEY (\\\"id\\\")", "ADD COLUMN \\\"seen\\\" TIMESTAMP WITH TIME ZONE",
        };
        for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++)
            ck_assert_msg(strstr(stats, ddl[i]), "no %s in the statements: %s", ddl[i], stats);
        ck_assert_msg(!strstr(stats, "ROLLBACK") && !strstr(stats, "BEGIN") && !strstr(stats, "COMMIT"),
                      "transaction statements were sent: %s", stats);
        ck_assert_msg(!strstr(stats, "IF NOT EXISTS \\\"seen\\\""), "CrateDB has no ADD COLUMN IF NOT EXISTS: %s",
                      stats);
        free(stats);
        ck_assert_int_eq(cf_stat_int(e.srv, "failed_rows"), 0);
    }
    free(cfg);
    env_stop(&e);
}

START_TEST(http_avro_every_type) { run(T_HTTP); }
END_TEST
START_TEST(pg_avro_every_type) { run(T_PG); }
END_TEST

/* auto_evolve: widen on CrateDB, whose ALTER TABLE has no ALTER COLUMN
 * (docs/cratedb.md): an int field made long stops the route before its
 * record, naming the field, both types and why; nothing is sent to the
 * database for it, the records before it are stored and committed. */
START_TEST(http_widen_refused)
{
    static const char w1[] = "{\"type\":\"record\",\"name\":\"Acct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
                             "{\"name\":\"qty\",\"type\":\"int\"},{\"name\":\"name\",\"type\":\"string\"}]}";
    static const char w2[] = "{\"type\":\"record\",\"name\":\"Acct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
                             "{\"name\":\"qty\",\"type\":\"long\"},{\"name\":\"name\",\"type\":\"string\"}]}";
    ts_kafka_start(1);
    ar_server *reg = ar_start(0, NULL, NULL, false);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "crate_widen");
    char *topic = ts_unique_name("crate_widen"), *group = ts_unique_name("sluice_crate_widen");
    ts_kafka_create_topic(topic, 1);
    char *dir = ts_tempdir("crate_widen");
    char *logp = ts_write_file(dir, "sluice.log", "%s", "");
    cf_server *srv = cf_start();
    char *body = NULL;
    ck_assert_int_eq(cf_sql(srv->url, schema, "CREATE TABLE accts (id BIGINT PRIMARY KEY, qty INTEGER, name TEXT)",
                            &body),
                     200);
    free(body);
    char subject[256];
    snprintf(subject, sizeof(subject), "%s-value", topic);
    int id1 = ar_register(reg, subject, w1), id2 = ar_register(reg, subject, w2);
    avro_type t1, t2;
    at_init(&t1, w1);
    at_init(&t2, w2);
    for (int v = 1; v <= 2; v++) {
        avro_type *t = v == 1 ? &t1 : &t2;
        avro_value_t f;
        avro_value_get_by_name(&t->value, "id", &f, NULL);
        avro_value_set_long(&f, v);
        avro_value_get_by_name(&t->value, "qty", &f, NULL);
        if (v == 1)
            avro_value_set_int(&f, 7);
        else
            avro_value_set_long(&f, 5000000000LL);
        avro_value_get_by_name(&t->value, "name", &f, NULL);
        avro_value_set_string(&f, v == 1 ? "one" : "two");
        size_t len;
        char *w = ar_wire(v == 1 ? id1 : id2, &t->value, &len);
        ts_produce(topic, 0, v == 1 ? "1" : "2", 1, w, len);
        free(w);
    }
    ts_flush();
    char *kafka = sc_kafka_yaml(group);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%sschema_registry:\n  url: [\"%s\"]\n  timeout_ms: 5000\n"
                              "targets:\n  crate:\n    type: cratedb\n    url: \"%s\"\n    schema: \"%s\"\n"
                              "routes:\n  - topics: [%s]\n    target: crate\n    table: accts\n    format: avro\n"
                              "    key_format: string\n    key: [id]\n    auto_evolve: widen\n"
                              "batch:\n  max_rows: 4\n  linger_ms: 20\n",
                              kafka, reg->url, srv->url, schema, topic);
    ts_daemon *d = ts_daemon_start(cfg, logp);
    ck_assert_msg(ts_daemon_wait(d, 120000), "sluice kept running past a field CrateDB cannot widen to");
    ck_assert_int_ne(ts_daemon_exit_code(d), 0);
    char *rows = ts_pg_text(c, "SELECT string_agg(id || ':' || qty || ':' || name, ',' ORDER BY id) FROM accts", NULL);
    ck_assert_str_eq(rows, "1:7:one");
    free(rows);
    ts_pg_expect_coltype(c, "accts", "qty", "integer");
    ck_assert_int_eq(ts_kafka_committed(group, topic, 0), 1);
    char want[1024];
    snprintf(want, sizeof(want),
             "%s[0]@1: route 1: auto_evolve: field \"qty\" of schema id %d is long (BIGINT) but column "
             "\"%s\".\"accts\".\"qty\" is integer: CrateDB cannot change a column's type or drop its NOT NULL (its "
             "ALTER TABLE has no ALTER COLUMN): alter the table yourself (a new table, copied) or keep the schema",
             topic, id2, schema);
    char *log = ts_read_file(logp);
    ck_assert_msg(strstr(log, want), "no '%s' in the log:\n%s", want, log);
    free(log);
    ts_daemon_free(d);
    at_fini(&t1);
    at_fini(&t2);
    cf_stop(srv);
    ar_free(reg);
    PQfinish(c);
    free(kafka);
    free(cfg);
    free(logp);
    free(dir);
    free(topic);
    free(group);
    free(schema);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {http_avro_every_type, pg_avro_every_type, http_widen_refused};
    return sc_main("cratedb avro end-to-end", tests, (int)(sizeof(tests) / sizeof(tests[0])));
}
