/* faults.c - helpers of the fault and bad-input tests (see faults.h). */
#include "faults.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runner.h"

#ifndef FAULTS_SRCDIR
#error "FAULTS_SRCDIR must name the source tree"
#endif

#define PGBIN "/usr/lib/postgresql/15/bin"

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char es[512];
    if (rd_kafka_conf_set(c, k, v, es, sizeof(es)) != RD_KAFKA_CONF_OK)
        ck_abort_msg("kafka property %s=%s: %s", k, v, es);
}

static char *header(const rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    char *s = malloc(len + 1);
    ck_assert(s != NULL);
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

static void *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    void *d = malloc(n ? n : 1);
    ck_assert(d != NULL);
    memcpy(d, p, n);
    return d;
}

fk_msg *fk_read_topic(const char *topic, int partitions, size_t expected, int timeout_ms, size_t *n)
{
    char es[512];
    char *group = ts_unique_name("reader");
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", ts_kafka_bootstrap());
    conf_set(c, "log_level", "2");
    conf_set(c, "group.id", group);
    conf_set(c, "enable.auto.commit", "false");
    conf_set(c, "fetch.max.bytes", "67108864");
    conf_set(c, "receive.message.max.bytes", "100000000");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    ck_assert_msg(rk != NULL, "reader: %s", es);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert(rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);

    size_t cap = expected + 16, cnt = 0;
    fk_msg *out = calloc(cap, sizeof(*out));
    ck_assert(out != NULL);
    int64_t deadline = ts_now_ms() + timeout_ms, quiet_until = -1;
    while (cnt < expected ? ts_now_ms() < deadline : ts_now_ms() < quiet_until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (cnt == cap) {
                cap *= 2;
                out = realloc(out, cap * sizeof(*out));
                ck_assert(out != NULL);
            }
            fk_msg *o = &out[cnt++];
            memset(o, 0, sizeof(*o));
            o->partition = m->partition;
            o->offset = m->offset;
            o->key = dup_bytes(m->key, m->key_len);
            o->key_len = m->key_len;
            o->value = dup_bytes(m->payload, m->len);
            o->value_len = m->len;
            o->hdr_error = header(m, "sluice.error");
            o->hdr_topic = header(m, "sluice.topic");
            o->hdr_partition = header(m, "sluice.partition");
            o->hdr_offset = header(m, "sluice.offset");
            o->hdr_route = header(m, "sluice.route");
            o->hdr_truncated = header(m, "sluice.truncated");
        }
        rd_kafka_message_destroy(m);
        if (cnt >= expected && quiet_until < 0)
            quiet_until = ts_now_ms() + 1000;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(group);
    ck_assert_msg(cnt >= expected, "read %zu of the %zu records expected in %s", cnt, expected, topic);
    *n = cnt;
    return out;
}

void fk_msgs_free(fk_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].value);
        free(m[i].hdr_error);
        free(m[i].hdr_topic);
        free(m[i].hdr_partition);
        free(m[i].hdr_offset);
        free(m[i].hdr_route);
        free(m[i].hdr_truncated);
    }
    free(m);
}

/* ---- PostgreSQL ------------------------------------------------------- */

char *fk_pg_private_start(void)
{
    char *base = ts_tempdir("faults-pg");
    ck_assert_msg(chmod(base, 0755) == 0, "chmod %s: %s", base, strerror(errno));
    char *dir, *cmd;
    ck_assert(asprintf(&dir, "%s/pg", base) > 0);
    ck_assert(asprintf(&cmd, "'%s/tests/support/pgserver.sh' start '%s' 2>&1", FAULTS_SRCDIR, dir) > 0);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "%s: %s", cmd, strerror(errno));
    char line[1024], out[4096] = "", *dsn = NULL;
    while (fgets(line, sizeof(line), p)) {
        strncat(out, line, sizeof(out) - strlen(out) - 1);
        if (!strncmp(line, "SLUICE_TEST_DSN=", 16)) {
            line[strcspn(line, "\n")] = '\0';
            dsn = strdup(line + 16);
        }
    }
    int rc = pclose(p);
    ck_assert_msg(rc == 0 && dsn, "tests/support/pgserver.sh start failed (%d):\n%s", rc, out);
    setenv("SLUICE_TEST_DSN", dsn, 1);
    free(dsn);
    free(cmd);
    free(base);
    return dir;
}

void fk_pg_ctl(const char *dir, const char *action)
{
    char *cmd;
    ck_assert(asprintf(&cmd, "%s'%s/pg_ctl' -D '%s/data' -l '%s/postgres.log' -w -t 60 %s >/dev/null 2>&1",
                       getuid() == 0 ? "runuser -u postgres -- " : "", PGBIN, dir, dir, action) > 0);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "pg_ctl %s failed (%d): %s", action, rc, cmd);
    free(cmd);
}

void fk_pg_private_stop(char *dir)
{
    if (!dir)
        return;
    char *cmd;
    ck_assert(asprintf(&cmd, "'%s/tests/support/pgserver.sh' stop '%s' >/dev/null 2>&1; rm -rf '%s'", FAULTS_SRCDIR, dir,
                       dir) > 0);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop the server in %s\n", dir);
    free(cmd);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
    free(dir);
}

int64_t fk_pg_try_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int64_t v = -2;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1)
        v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int64_t fk_stored_offset(PGconn *c, const char *group, const char *topic)
{
    const char *params[] = {group, topic};
    PGresult *r = PQexecParams(c,
                               "SELECT coalesce(max(next_offset), -1) FROM sluice.offsets"
                               " WHERE group_id = $1 AND topic = $2",
                               2, NULL, params, NULL, NULL, 0);
    int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

bool fk_consistent(PGconn *c, const char *qtable, const char *group, const char *topic, int64_t *rows,
                   char *why, size_t whylen)
{
    char *sql;
    bool have_offsets =
        ts_pg_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'sluice' AND tablename = 'offsets'", NULL) > 0;
    /* One statement: one snapshot of both the rows and the offsets. */
    ck_assert(asprintf(&sql,
                       "SELECT coalesce(o.p, r.p), coalesce(o.n, 0), coalesce(r.cnt, 0), coalesce(r.nd, 0),"
                       "       coalesce(r.mx, -1)"
                       "  FROM (SELECT partition AS p, next_offset AS n FROM %s"
                       "         WHERE group_id = $1 AND topic = $2) o"
                       "  FULL JOIN (SELECT kp AS p, count(*) AS cnt, count(DISTINCT ko) AS nd, max(ko) AS mx"
                       "               FROM %s GROUP BY kp) r ON r.p = o.p ORDER BY 1",
                       have_offsets ? "sluice.offsets" : "(SELECT NULL::text AS group_id, NULL::text AS topic,"
                                                         " NULL::int AS partition, NULL::bigint AS next_offset"
                                                         " WHERE false) x",
                       qtable) > 0);
    const char *params[] = {group, topic};
    PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    bool ok = true;
    int64_t total = 0;
    why[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++) {
        long long p = atoll(PQgetvalue(r, i, 0)), n = atoll(PQgetvalue(r, i, 1)), cnt = atoll(PQgetvalue(r, i, 2)),
                  nd = atoll(PQgetvalue(r, i, 3)), mx = atoll(PQgetvalue(r, i, 4));
        total += cnt;
        if (cnt != n || nd != n || mx != n - 1) {
            size_t l = strlen(why);
            snprintf(why + l, whylen - l,
                     "[%lld] stored next_offset %lld, but %lld rows of %lld distinct offsets up to %lld; ", p, n,
                     cnt, nd, mx);
            ok = false;
        }
    }
    PQclear(r);
    free(sql);
    if (rows)
        *rows = total;
    return ok;
}

void fk_wait_at_end(ts_daemon *d, const char *group, const char *topic, int partitions, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int p = 0;
        while (p < partitions && ts_kafka_committed(group, topic, p) == ts_kafka_high_watermark(topic, p))
            p++;
        if (p == partitions)
            return;
        ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline, "group %s did not reach the end of %s[%d] within %d ms; log:\n%s",
                      group, topic, p, timeout_ms, fk_tail(d));
        usleep(100 * 1000);
    }
}

/* sluice.offsets of @group holds every partition's high watermark. */
static void assert_stored_at_end(PGconn *c, const char *group, const char *topic, int partitions)
{
    for (int p = 0; p < partitions; p++) {
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", p);
        int64_t hw = ts_kafka_high_watermark(topic, p);
        int64_t st = ts_pg_int(c,
                               "SELECT next_offset FROM sluice.offsets WHERE group_id = $1 AND topic = $2"
                               " AND partition = $3",
                               group, topic, ps, NULL);
        ck_assert_msg(st == hw || (hw == 0 && st < 0),
                      "sluice.offsets holds %" PRId64 " for %s[%d], the high watermark is %" PRId64, st, topic, p,
                      hw);
    }
}

int64_t fk_assert_as_broker(PGconn *c, const char *qtable, const char *group, const char *topic, int partitions)
{
    int64_t held = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t hw = ts_kafka_high_watermark(topic, p);
        char *sql, ps[16], want[96];
        snprintf(ps, sizeof(ps), "%d", p);
        ck_assert(asprintf(&sql,
                           "SELECT format('%%s %%s %%s %%s', count(*), count(DISTINCT ko), coalesce(min(ko), -1),"
                           " coalesce(max(ko), -1)) FROM %s WHERE kp = $1::int",
                           qtable) > 0);
        char *got = ts_pg_text(c, sql, ps, NULL);
        snprintf(want, sizeof(want), "%" PRId64 " %" PRId64 " %d %" PRId64, hw, hw, hw ? 0 : -1, hw - 1);
        ck_assert_msg(got && !strcmp(got, want),
                      "%s holds (rows, distinct offsets, min, max) = (%s) of %s[%d], the broker (%s)", qtable,
                      got ? got : "?", topic, p, want);
        free(got);
        free(sql);
        held += hw;
    }
    char *sql;
    ck_assert(asprintf(&sql, "SELECT count(*) - count(DISTINCT seq) FROM %s", qtable) > 0);
    ck_assert_int_eq(ts_pg_int(c, sql, NULL), 0);
    free(sql);
    assert_stored_at_end(c, group, topic, partitions);
    return held;
}

void fk_assert_exact(PGconn *c, const char *qtable, const char *group, const char *topic, int partitions, int64_t n)
{
    char *sql;
    ck_assert(asprintf(&sql,
                       "SELECT format('%%s %%s %%s %%s', count(*), count(DISTINCT seq), coalesce(min(seq), -1),"
                       " coalesce(max(seq), -1)) FROM %s",
                       qtable) > 0);
    char *got = ts_pg_text(c, sql, NULL);
    char want[128];
    snprintf(want, sizeof(want), "%" PRId64 " %" PRId64 " 0 %" PRId64, n, n, n - 1);
    ck_assert_msg(got && !strcmp(got, want), "%s holds (rows, distinct seq, min, max) = (%s), expected (%s)", qtable,
                  got ? got : "?", want);
    free(got);
    free(sql);
    assert_stored_at_end(c, group, topic, partitions);
}

/* ---- the daemon ------------------------------------------------------- */

long fk_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

int fk_log_count(const ts_daemon *d, const char *needle)
{
    char *log = ts_daemon_log(d);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

char *fk_tail(const ts_daemon *d)
{
    char *all = ts_daemon_log(d);
    size_t len = strlen(all);
    if (len > 3000)
        memmove(all, all + len - 3000, 3001);
    return all;
}

uint64_t fk_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

int fk_main(const char *name, const struct TTest *const *tests, int n, int timeout_s)
{
    ts_require_pg();
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines survive a failing test */
    return sl_run_tests(name, tests, (size_t)n, timeout_s, 1);
}

char *fk_events_config(const char *dir, const char *kafka, const char *topic, const char *qtable,
                       const char *tail)
{
    return ts_write_file(dir, "sluice.yaml",
                         "%s"
                         "targets:\n"
                         "  pg:\n"
                         "    type: postgresql\n"
                         "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                         "routes:\n"
                         "  - topics: [%s]\n"
                         "    target: pg\n"
                         "    table: %s\n"
                         "    mode: insert\n"
                         "    add_columns:\n"
                         "      kp: kafka.partition\n"
                         "      ko: kafka.offset\n"
                         "%s",
                         kafka, topic, qtable, tail);
}
