/* scenario.c - the orders scenario shared by the integration tests. */
#include "scenario.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "runner.h"

const char sc_orders_table_sql[] =
    "CREATE TABLE orders ("
    "  id bigint PRIMARY KEY,"
    "  customer text NOT NULL,"
    "  qty integer,"
    "  amount numeric(12,2),"
    "  ts timestamptz,"
    "  attrs jsonb,"
    "  note text)";

sc_model *sc_model_new(int nkeys, int npartitions, uint64_t seed)
{
    sc_model *m = calloc(1, sizeof(*m));
    ck_assert(m != NULL);
    m->nkeys = nkeys;
    m->npartitions = npartitions;
    m->last_seq = malloc(sizeof(*m->last_seq) * (size_t)nkeys);
    ck_assert(m->last_seq != NULL);
    for (int i = 0; i < nkeys; i++)
        m->last_seq[i] = -1;
    m->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    return m;
}

void sc_model_free(sc_model *m)
{
    if (!m)
        return;
    free(m->last_seq);
    free(m);
}

static uint64_t next_rand(sc_model *m)
{
    /* xorshift64*: deterministic, so a failing run can be replayed. */
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 2685821657736338717ULL;
}

static void iso_time(int64_t seq, char *buf, size_t len)
{
    time_t t = (time_t)(1700000000 + seq);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The fields of one order, as JSON and as the row they must become. */
static int order_json(char *buf, size_t len, int key, int64_t seq)
{
    char ts[32];
    iso_time(seq, ts, sizeof(ts));
    return snprintf(buf, len,
                    "{\"id\":%d,\"customer\":\"cust-%d\",\"qty\":%" PRId64 ",\"amount\":%" PRId64
                    ".%02d,\"ts\":\"%s\",\"attrs\":{\"tags\":[\"t%d\",\"x\"],\"n\":%" PRId64
                    "},\"note\":\"it's \\\"q\\\" \\\\ \xc3\xbc %" PRId64 "\",\"unmapped\":true}",
                    key, key, seq, seq / 100, (int)(seq % 100), ts, key % 5, seq, seq);
}

/* The same row in COPY text format (backslash doubled). */
static int order_copy_line(char *buf, size_t len, int key, int64_t seq)
{
    char ts[32];
    iso_time(seq, ts, sizeof(ts));
    return snprintf(buf, len,
                    "%d\tcust-%d\t%" PRId64 "\t%" PRId64 ".%02d\t%s\t{\"tags\": [\"t%d\", \"x\"], \"n\": %" PRId64
                    "}\tit's \"q\" \\\\ \xc3\xbc %" PRId64 "\n",
                    key, key, seq, seq / 100, (int)(seq % 100), ts, key % 5, seq, seq);
}

void sc_produce_orders(sc_model *m, const char *topic, int n, int tombstone_pct)
{
    char value[512], key[64];
    for (int i = 0; i < n; i++) {
        int k = (int)(next_rand(m) % (uint64_t)m->nkeys);
        int part = k % m->npartitions;
        int klen = snprintf(key, sizeof(key), "{\"id\":%d}", k);
        bool tomb = m->last_seq[k] >= 0 && (int)(next_rand(m) % 100) < tombstone_pct;
        if (tomb) {
            ts_produce(topic, part, key, (size_t)klen, NULL, 0);
            m->last_seq[k] = -1;
        } else {
            int64_t seq = m->next_seq++;
            int vlen = order_json(value, sizeof(value), k, seq);
            ts_produce(topic, part, key, (size_t)klen, value, (size_t)vlen);
            m->last_seq[k] = seq;
        }
    }
    ts_flush();
}

static void put_copy(PGconn *c, const char *data, size_t len)
{
    ck_assert_msg(PQputCopyData(c, data, (int)len) == 1, "COPY: %s", PQerrorMessage(c));
}

static char *diff_sample(PGconn *c, const char *from, const char *minus)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(r::text, E'\\n') FROM (SELECT x AS r FROM ("
             "SELECT id, customer, qty, amount, ts, attrs, note FROM %s EXCEPT "
             "SELECT id, customer, qty, amount, ts, attrs, note FROM %s) x ORDER BY (x).id LIMIT 5) s",
             from, minus);
    char *v = ts_pg_text(c, sql, NULL);
    return v ? v : strdup("");
}

void sc_assert_orders(PGconn *c, const char *table, const sc_model *m)
{
    char *qt = PQescapeIdentifier(c, table, strlen(table));
    char line[512];
    int64_t expected_rows = 0;

    ts_pg_exec(c, "DROP TABLE IF EXISTS pg_temp.expected_orders", NULL);
    ts_pg_exec(c, "CREATE TEMP TABLE expected_orders (LIKE orders INCLUDING DEFAULTS)", NULL);
    PGresult *r = PQexec(c, "COPY pg_temp.expected_orders (id, customer, qty, amount, ts, attrs, note) FROM STDIN");
    ck_assert_msg(PQresultStatus(r) == PGRES_COPY_IN, "COPY: %s", PQerrorMessage(c));
    PQclear(r);
    for (int k = 0; k < m->nkeys; k++) {
        if (m->last_seq[k] < 0)
            continue;
        int n = order_copy_line(line, sizeof(line), k, m->last_seq[k]);
        put_copy(c, line, (size_t)n);
        expected_rows++;
    }
    ck_assert_msg(PQputCopyEnd(c, NULL) == 1, "COPY: %s", PQerrorMessage(c));
    r = PQgetResult(c);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQresultErrorMessage(r));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);

    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", qt);
    int64_t stored = ts_pg_int(c, sql, NULL);

    char *missing = diff_sample(c, "pg_temp.expected_orders", qt);
    char *extra = diff_sample(c, qt, "pg_temp.expected_orders");
    ck_assert_msg(stored == expected_rows && !*missing && !*extra,
                  "table %s holds %" PRId64 " rows, expected %" PRId64
                  ".\nexpected but missing or different (first 5):\n%s\nstored but not expected (first 5):\n%s",
                  table, stored, expected_rows, missing, extra);
    free(missing);
    free(extra);
    PQfreemem(qt);
}

bool sc_offsets_at_end(const char *group, const char *topic, int npartitions)
{
    for (int p = 0; p < npartitions; p++) {
        int64_t hw = ts_kafka_high_watermark(topic, p);
        int64_t co = ts_kafka_committed(group, topic, p);
        if (co != hw && !(hw == 0 && co < 0))
            return false;
    }
    return true;
}

typedef struct committed_arg {
    const char *group;
    const char *topic;
    int npartitions;
} committed_arg;

static bool committed_cond(void *arg)
{
    committed_arg *a = arg;
    return sc_offsets_at_end(a->group, a->topic, a->npartitions);
}

char *sc_log_tail(const char *path, size_t bytes)
{
    char *all = ts_read_file(path);
    if (!all)
        return strdup("(no log)");
    size_t len = strlen(all);
    if (len > bytes) {
        memmove(all, all + len - bytes, bytes + 1);
    }
    return all;
}

void sc_wait_committed(const char *group, const char *topic, int npartitions, int timeout_ms,
                       const char *log_path)
{
    committed_arg a = {group, topic, npartitions};
    if (ts_wait_until(committed_cond, &a, timeout_ms))
        return;
    char seen[1024] = "";
    size_t off = 0;
    for (int p = 0; p < npartitions && off < sizeof(seen) - 64; p++)
        off += (size_t)snprintf(seen + off, sizeof(seen) - off, " [%d] committed %" PRId64 " of %" PRId64,
                                p, ts_kafka_committed(group, topic, p), ts_kafka_high_watermark(topic, p));
    char *tail = log_path ? sc_log_tail(log_path, 3000) : strdup("");
    ck_abort_msg("group %s did not commit %s to its end within %d ms:%s\nlog tail:\n%s", group, topic,
                 timeout_ms, seen, tail);
    free(tail);
}

int64_t sc_stored_offset(PGconn *c, const char *group, const char *topic, int partition)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    if (ts_pg_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'sluice' AND tablename = 'offsets'",
                  NULL) == 0)
        return -1;
    return ts_pg_int(c,
                     "SELECT next_offset FROM sluice.offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
                     group, topic, part, NULL);
}

void sc_assert_stored_offsets_at_end(PGconn *c, const char *group, const char *topic, int npartitions)
{
    for (int p = 0; p < npartitions; p++) {
        int64_t hw = ts_kafka_high_watermark(topic, p);
        int64_t st = sc_stored_offset(c, group, topic, p);
        ck_assert_msg(st == hw, "sluice.offsets holds %" PRId64 " for %s[%d], the high watermark is %" PRId64,
                      st, topic, p, hw);
    }
}

char *sc_kafka_yaml(const char *group)
{
    return ts_kafka_yaml(group, NULL);
}

int sc_main(const char *name, const struct TTest *const *tests, int n)
{
    ts_require_pg();
    return sl_run_tests(name, tests, (size_t)n, 600, 0);
}
