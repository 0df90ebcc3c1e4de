/* test_hostile.c - a corpus of hostile records (generated below) between
 * good ones, into a table whose name and one column name are crafted as SQL
 * injection:
 *   - under on_error: dlq (to a table, and to a Kafka topic) and skip, the
 *     pipeline stays up, every good record is in the table, every bad one is
 *     a dead letter (or counted as skipped), none is missing, and the table
 *     the injection aims at is still there;
 *   - under on_error: fail, for each bad case alone, the daemon stops,
 *     naming topic[partition]@offset, with nothing stored or committed past
 *     the bad record. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

/* The table, as a PostgreSQL identifier and as written in the configuration. */
#define EVIL_TABLE_SQL "\"evil\"\"; DROP TABLE victim; --\""
#define EVIL_TABLE_YAML "'\"evil\"\"; DROP TABLE victim; --\"'"
#define EVIL_COLUMN_SQL "\"we\"\"ird'); DROP TABLE victim; --\""
#define EVIL_COLUMN_JSON "we\\\"ird'); DROP TABLE victim; --"
#define EVIL_VALUE "'); DROP TABLE victim; --\\t\\n\\\\ \\\"quoted\\\""
#define EVIL_VALUE_STORED "'); DROP TABLE victim; --\t\n\\ \"quoted\""

static const char table_sql[] =
    "CREATE TABLE victim (x int);"
    "CREATE TABLE " EVIL_TABLE_SQL " ("
    "  seq bigint PRIMARY KEY,"
    "  body text,"
    "  small smallint CHECK (small IS NULL OR small >= 0),"
    "  u uuid,"
    "  ts timestamptz,"
    "  " EVIL_COLUMN_SQL " text,"
    "  src text, ko bigint)";

typedef struct hcase {
    const char *name;
    bool good;
    bool null_key;      /* no record key (otherwise {"seq":N}) */
    const char *fmt;    /* value, %1$lld = seq; NULL: generated */
} hcase;

/* %1$lld is the record's seq. */
static const hcase corpus[] = {
    {"plain", true, false, "{\"seq\":%1$lld,\"body\":\"plain\"}"},
    {"invalid JSON", false, false, "{\"seq\":%1$lld, oops}"},
    {"null key", true, true, "{\"seq\":%1$lld,\"body\":\"no record key\"}"},
    {"truncated JSON", false, false, "{\"seq\":%1$lld,\"body\":\"trunc"},
    {"key only in the record key", true, false, "{\"body\":\"key from the record key\"}"},
    {"empty value", false, false, ""},
    {"crafted column name", true, false, "{\"seq\":%1$lld,\"" EVIL_COLUMN_JSON "\":\"in the crafted column\"}"},
    {"JSON array, not an object", false, false, "[%1$lld,2,3]"},
    {"crafted field without a column", true, false, "{\"seq\":%1$lld,\"body\\\"; DROP TABLE victim; --\":\"x\"}"},
    {"nested 10000 deep", false, false, NULL},
    {"injection in a value", true, false, "{\"seq\":%1$lld,\"body\":\"" EVIL_VALUE "\"}"},
    {"invalid UTF-8", false, false, "{\"seq\":%1$lld,\"body\":\"\xff\xfe\xc3\x28 bad\"}"},
    {"unicode", true, false, "{\"seq\":%1$lld,\"body\":\"\xc3\xbc \xe2\x9c\x93 \xf0\x9f\x98\x80\"}"},
    {"NUL inside a string", false, false, "{\"seq\":%1$lld,\"body\":\"a\\u0000b\"}"},
    {"number out of range for smallint", false, false, "{\"seq\":%1$lld,\"small\":70000}"},
    {"number beyond double", false, false, "{\"seq\":%1$lld,\"small\":1e400}"},
    {"string into uuid", false, false, "{\"seq\":%1$lld,\"u\":\"not-a-uuid\"}"},
    {"string into timestamptz", false, false, "{\"seq\":%1$lld,\"ts\":\"not a time\"}"},
    {"key missing from value and record key", false, true, "{\"body\":\"no seq anywhere\"}"},
    {"CHECK violation", false, false, "{\"seq\":%1$lld,\"small\":-5}"},
    {"string into the bigint key", false, false, "{\"seq\":\"%1$lld-abc\"}"},
    {"valid uuid and timestamp", true, false,
     "{\"seq\":%1$lld,\"u\":\"6f1c1d2e-8a3b-4c5d-9e0f-112233445566\",\"ts\":\"2024-02-29T12:00:00Z\",\"small\":7}"},
};
#define NCASES (sizeof(corpus) / sizeof(corpus[0]))

/* The value of a case for @seq; free() it. */
static char *case_value(const hcase *c, long long seq, size_t *len)
{
    char *v;
    if (c->fmt) {
        int n = asprintf(&v, c->fmt, seq);
        ck_assert(n >= 0);
        *len = (size_t)n;
        return v;
    }
    /* nested 10,000 deep */
    size_t depth = 10000;
    v = malloc(depth * 2 + 64);
    ck_assert(v != NULL);
    size_t n = (size_t)sprintf(v, "{\"seq\":%lld,\"deep\":", seq);
    memset(v + n, '[', depth);
    n += depth;
    memset(v + n, ']', depth);
    n += depth;
    v[n++] = '}';
    v[n] = '\0';
    *len = n;
    return v;
}

/* Produce the corpus to @topic (one partition), each case preceded by a good
 * record; seqs start at @base.  Fills @good_seqs and @bad_offsets (comma-separated). */
static int produce_corpus(const char *topic, long long base, char *good_seqs, size_t gl, char *bad_offsets, size_t bl)
{
    long long seq = base;
    int64_t off = 0;
    int nbad = 0;
    good_seqs[0] = bad_offsets[0] = '\0';
    for (size_t i = 0; i < NCASES; i++) {
        for (int pass = 0; pass < 2; pass++) {
            const hcase *c = pass ? &corpus[i] : &corpus[0];
            size_t vlen;
            char *v = case_value(c, seq, &vlen);
            char key[64];
            int klen = snprintf(key, sizeof(key), "{\"seq\":%lld}", seq);
            ts_produce(topic, 0, c->null_key ? NULL : key, (size_t)klen, v, vlen);
            free(v);
            if (c->good)
                snprintf(good_seqs + strlen(good_seqs), gl - strlen(good_seqs), "%s%lld", *good_seqs ? "," : "", seq);
            else {
                snprintf(bad_offsets + strlen(bad_offsets), bl - strlen(bad_offsets), "%s%" PRId64,
                         *bad_offsets ? "," : "", off);
                nbad++;
            }
            seq++;
            off++;
        }
    }
    ts_flush();
    return nbad;
}

#define BIG_SEQ 900000LL
#define BIG_BYTES (10 * 1024 * 1024)

static const char big_fetch[] =
    "  fetch.max.bytes: \"33554432\"\n"
    "  max.partition.fetch.bytes: \"16777216\"\n"
    "  receive.message.max.bytes: \"40000000\"\n";

static char *seqs_of(PGconn *c, const char *schema, const char *topic)
{
    char q[512];
    snprintf(q, sizeof(q), "SELECT coalesce(string_agg(seq::text, ',' ORDER BY seq), '') FROM %s." EVIL_TABLE_SQL
             " WHERE src = $1", schema);
    return ts_pg_text(c, q, topic, NULL);
}

typedef struct end_arg {
    PGconn *c;
    const char *group;
    const char **topics;
    int n;
} end_arg;

static bool stored_at_end(void *arg)
{
    end_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        if (fk_stored_offset(a->c, a->group, a->topics[i]) != ts_kafka_high_watermark(a->topics[i], 0))
            return false;
    }
    return true;
}

static int by_origin_offset(const void *a, const void *b)
{
    const fk_msg *x = a, *y = b;
    long long ox = x->hdr_offset ? atoll(x->hdr_offset) : -1, oy = y->hdr_offset ? atoll(y->hdr_offset) : -1;
    return (ox > oy) - (ox < oy);
}

START_TEST(hostile_corpus_under_dlq_and_skip)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "f_hostile");
    ts_pg_exec(c, table_sql, NULL);
    char *group = ts_unique_name("sluice_hostile");
    char *t_table = ts_unique_name("hostile_dlqtable"), *t_topic = ts_unique_name("hostile_dlqtopic"),
         *t_skip = ts_unique_name("hostile_skip"), *t_big = ts_unique_name("hostile_big"),
         *dlq = ts_unique_name("hostile_dead");
    const char *topics[] = {t_table, t_topic, t_skip, t_big};
    for (int i = 0; i < 4; i++)
        ts_kafka_create_topic(topics[i], 1);
    ts_kafka_create_topic(dlq, 1);

    char good[3][2048], bad[3][1024];
    int nbad = 0;
    for (int i = 0; i < 3; i++)
        nbad = produce_corpus(topics[i], i * 100000LL, good[i], sizeof(good[i]), bad[i], sizeof(bad[i]));
    /* a 10 MB value on its own topic (the mock cluster keeps 5 MiB of compressed data per partition) */
    char *big = malloc(BIG_BYTES + 64);
    ck_assert(big != NULL);
    int bl = sprintf(big, "{\"seq\":%lld,\"body\":\"", BIG_SEQ);
    for (int i = 0; i < BIG_BYTES; i++)
        big[bl++] = (char)('a' + (i * 7 + i / 3) % 26);
    bl += sprintf(big + bl, "\"}");
    ts_produce(t_big, 0, NULL, 0, big, (size_t)bl);
    free(big);
    ts_flush();

    char *dir = ts_tempdir("hostile");
    char *kafka = ts_kafka_yaml(group, big_fetch);
    char *cfg = ts_write_file(dir, "sluice.yaml",
                              "%s"
                              "targets:\n"
                              "  pg:\n"
                              "    type: postgresql\n"
                              "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "    schema: %s\n"
                              "routes:\n"
                              "  - name: to_table\n"
                              "    topics: [%s, %s]\n"
                              "    target: pg\n"
                              "    table: " EVIL_TABLE_YAML "\n"
                              "    key: [seq]\n"
                              "    on_error: dlq\n"
                              "    dlq_table: dead_letters\n"
                              "    add_columns: {src: kafka.topic, ko: kafka.offset}\n"
                              "  - name: to_topic\n"
                              "    topics: [%s]\n"
                              "    target: pg\n"
                              "    table: " EVIL_TABLE_YAML "\n"
                              "    on_error: dlq\n"
                              "    dlq_topic: %s\n"
                              "    add_columns: {src: kafka.topic, ko: kafka.offset}\n"
                              "  - name: skipping\n"
                              "    topics: [%s]\n"
                              "    target: pg\n"
                              "    table: " EVIL_TABLE_YAML "\n"
                              "    on_error: skip\n"
                              "    add_columns: {src: kafka.topic, ko: kafka.offset}\n"
                              "batch:\n"
                              "  max_rows: 1000\n"
                              "  linger_ms: 300\n",
                              kafka, schema, t_table, t_big, t_topic, dlq, t_skip);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);

    end_arg ea = {c, group, topics, 4};
    ck_assert_msg(ts_wait_until(stored_at_end, &ea, 120000), "sluice.offsets did not reach the end; log:\n%s",
                  fk_tail(d));
    ck_assert_msg(ts_daemon_running(d), "sluice stopped; log:\n%s", fk_tail(d));

    /* Good records in the table, exactly. */
    for (int i = 0; i < 3; i++) {
        char *got = seqs_of(c, schema, topics[i]);
        ck_assert_msg(!strcmp(got, good[i]), "%s: stored seqs\n  %s\nexpected\n  %s", topics[i], got, good[i]);
        free(got);
    }
    char q[1024];
    snprintf(q, sizeof(q), "SELECT length(body) FROM %s." EVIL_TABLE_SQL " WHERE seq = %lld", schema, BIG_SEQ);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), BIG_BYTES);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s." EVIL_TABLE_SQL " WHERE body = $1", schema);
    ck_assert_int_eq(ts_pg_int(c, q, EVIL_VALUE_STORED, NULL), 3);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s." EVIL_TABLE_SQL " WHERE " EVIL_COLUMN_SQL " = 'in the crafted column'",
             schema);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), 3);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.victim", schema);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), 0); /* still there */

    /* Bad records of the dlq_table route: in the dead-letter table, once each, bytes intact. */
    snprintf(q, sizeof(q),
             "SELECT coalesce(string_agg(kafka_offset::text, ',' ORDER BY kafka_offset), '') FROM %s.dead_letters"
             " WHERE route = 'to_table' AND topic = $1 AND partition = 0",
             schema);
    char *dead = ts_pg_text(c, q, t_table, NULL);
    ck_assert_msg(!strcmp(dead, bad[0]), "dead-letter table holds offsets\n  %s\nexpected\n  %s", dead, bad[0]);
    free(dead);
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.dead_letters", schema);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), nbad);
    for (size_t i = 0, off = 1; i < NCASES; i++, off += 2) {
        if (corpus[i].good)
            continue;
        size_t vlen;
        char *v = case_value(&corpus[i], (long long)off, &vlen);
        char offs[32], *hex = malloc(vlen * 2 + 1);
        for (size_t k = 0; k < vlen; k++)
            sprintf(hex + 2 * k, "%02x", (unsigned char)v[k]);
        hex[vlen * 2] = '\0';
        snprintf(offs, sizeof(offs), "%zu", off);
        snprintf(q, sizeof(q),
                 "SELECT count(*) FROM %s.dead_letters WHERE kafka_offset = $1::bigint AND topic = $2"
                 " AND coalesce(record_value, '') = decode($3, 'hex') AND error <> ''",
                 schema);
        ck_assert_msg(ts_pg_int(c, q, offs, t_table, hex, NULL) == 1, "dead letter for \"%s\" (offset %s) does not hold "
                      "the original value", corpus[i].name, offs);
        free(hex);
        free(v);
    }

    /* Bad records of the dlq_topic route: in the dead-letter topic, bytes and headers intact. */
    size_t n = 0;
    fk_msg *m = fk_read_topic(dlq, 1, (size_t)nbad, 60000, &n);
    ck_assert_int_eq((int)n, nbad);
    /* dead letters of decoding come first, those of a failed write after its bisection */
    qsort(m, n, sizeof(*m), by_origin_offset);
    char got[1024] = "";
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(m[i].hdr_offset && m[i].hdr_topic && m[i].hdr_partition && m[i].hdr_route && m[i].hdr_error,
                      "dead letter %zu lacks sluice.* headers", i);
        ck_assert_str_eq(m[i].hdr_topic, t_topic);
        ck_assert_str_eq(m[i].hdr_partition, "0");
        ck_assert_str_eq(m[i].hdr_route, "to_topic");
        long long off = atoll(m[i].hdr_offset);
        const hcase *hc = &corpus[(off - 1) / 2];
        size_t vlen;
        char *v = case_value(hc, 100000LL + off, &vlen);
        ck_assert_msg(!hc->good && m[i].value_len == vlen && (vlen == 0 || !memcmp(m[i].value, v, vlen)),
                      "dead letter at offset %lld (\"%s\") is not the original value", off, hc->name);
        free(v);
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld", *got ? "," : "", off);
    }
    ck_assert_msg(!strcmp(got, bad[1]), "dead-letter topic holds offsets\n  %s\nexpected\n  %s", got, bad[1]);
    fk_msgs_free(m, n);

    /* Skipped ones: counted and logged, one line each. */
    int skipped = 0;
    char *all = ts_daemon_log(d);
    for (const char *p = all; (p = strstr(p, "skipped ")); p++)
        if (!strncmp(p + 8, t_skip, strlen(t_skip)))
            skipped++;
    free(all);
    ck_assert_msg(skipped == nbad, "%d skipped records logged, expected %d", skipped, nbad);

    printf("%zu cases: %d bad records per route dead-lettered (table, topic) or skipped, the good ones stored\n",
           NCASES, nbad);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(cfg);
    free(log);
    free(kafka);
    free(dir);
    for (int i = 0; i < 4; i++)
        free((char *)topics[i]);
    free(dlq);
    free(group);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

/* on_error: fail, one daemon per bad case, all at once. */
#define BEFORE 3

START_TEST(hostile_corpus_under_fail_stops_at_each_bad_record)
{
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "f_hfail");
    ts_pg_exec(c, table_sql, NULL);
    char *dir = ts_tempdir("hfail");
    size_t nbad = 0;
    const hcase *cases[NCASES];
    char *topics[NCASES], *groups[NCASES], *cfgs[NCASES], *logs[NCASES];
    ts_daemon *ds[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        if (corpus[i].good)
            continue;
        size_t k = nbad++;
        cases[k] = &corpus[i];
        topics[k] = ts_unique_name("hfail");
        groups[k] = ts_unique_name("sluice_hfail");
        ts_kafka_create_topic(topics[k], 1);
        long long base = (long long)k * 1000;
        for (int j = 0; j < BEFORE + 3; j++) {
            const hcase *hc = j == BEFORE ? cases[k] : &corpus[0];
            size_t vlen;
            char *v = case_value(hc, base + j, &vlen);
            char key[64];
            int klen = snprintf(key, sizeof(key), "{\"seq\":%lld}", base + j);
            ts_produce(topics[k], 0, hc->null_key ? NULL : key, (size_t)klen, v, vlen);
            free(v);
        }
        char *kafka = ts_kafka_yaml(groups[k], NULL);
        char name[32];
        snprintf(name, sizeof(name), "case%zu.yaml", k);
        cfgs[k] = ts_write_file(dir, name,
                                "%s"
                                "targets:\n"
                                "  pg:\n"
                                "    type: postgresql\n"
                                "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                "    schema: %s\n"
                                "routes:\n"
                                "  - topics: [%s]\n"
                                "    target: pg\n"
                                "    table: " EVIL_TABLE_YAML "\n"
                                "    on_error: fail\n"
                                "    add_columns: {src: kafka.topic, ko: kafka.offset}\n"
                                "batch:\n"
                                "  linger_ms: 300\n",
                                kafka, schema, topics[k]);
        free(kafka);
        snprintf(name, sizeof(name), "case%zu.log", k);
        logs[k] = ts_write_file(dir, name, "%s", "");
    }
    ts_flush();
    for (size_t k = 0; k < nbad; k++)
        ds[k] = ts_daemon_start(cfgs[k], logs[k]);

    for (size_t k = 0; k < nbad; k++) {
        const char *what = cases[k]->name;
        ck_assert_msg(ts_daemon_wait(ds[k], 120000), "\"%s\": sluice kept running; log:\n%s", what, fk_tail(ds[k]));
        int code = ts_daemon_exit_code(ds[k]);
        ck_assert_msg(code != 0 && code < 128, "\"%s\": sluice exited with %d; log:\n%s", what, code, fk_tail(ds[k]));
        char where[128];
        snprintf(where, sizeof(where), "%s[0]@%d", topics[k], BEFORE);
        ck_assert_msg(fk_log_count(ds[k], where) > 0, "\"%s\": the log does not name %s; log:\n%s", what, where,
                      fk_tail(ds[k]));
        /* nothing stored or committed past the bad record; what is stored matches the stored offset */
        int64_t stored = ts_pg_int(c,
                                   "SELECT coalesce(max(next_offset), 0) FROM sluice.offsets WHERE group_id = $1"
                                   " AND topic = $2",
                                   groups[k], topics[k], NULL);
        char q[512];
        snprintf(q, sizeof(q),
                 "SELECT format('%%s %%s', count(*), coalesce(max(ko), -1)) FROM %s." EVIL_TABLE_SQL " WHERE src = $1",
                 schema);
        char *rows = ts_pg_text(c, q, topics[k], NULL);
        char want[64];
        snprintf(want, sizeof(want), "%" PRId64 " %" PRId64, stored, stored - 1);
        ck_assert_msg(stored <= BEFORE && !strcmp(rows, want),
                      "\"%s\": stored offset %" PRId64 ", rows (count, max offset) = %s", what, stored, rows);
        free(rows);
        int64_t committed = ts_kafka_committed(groups[k], topics[k], 0);
        ck_assert_msg(committed <= BEFORE, "\"%s\": Kafka holds offset %" PRId64 ", past the bad record", what,
                      committed);
        printf("fail on %-40s stopped at %s, %" PRId64 " records before it stored\n", what, where, stored);
        ts_daemon_free(ds[k]);
        free(cfgs[k]);
        free(logs[k]);
        free(topics[k]);
        free(groups[k]);
    }
    char q[256];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.victim", schema);
    ck_assert_int_eq(ts_pg_int(c, q, NULL), 0);
    free(dir);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {hostile_corpus_under_dlq_and_skip, hostile_corpus_under_fail_stops_at_each_bad_record};
    return fk_main("faults hostile input", tests, 2, 240);
}
