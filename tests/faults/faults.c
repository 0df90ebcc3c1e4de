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

static struct {
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    char *bootstrap;
    int nbrokers;
    rd_kafka_t *producer;
    int failures;
    char first_failure[256];
    struct {
        char *group;
        rd_kafka_t *rk;
    } checkers[32];
} fk;

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char es[512];
    if (rd_kafka_conf_set(c, k, v, es, sizeof(es)) != RD_KAFKA_CONF_OK)
        ck_abort_msg("kafka property %s=%s: %s", k, v, es);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err && fk.failures++ == 0)
        snprintf(fk.first_failure, sizeof(fk.first_failure), "%s[%d]: %s", rd_kafka_topic_name(m->rkt),
                 (int)m->partition, rd_kafka_err2str(m->err));
}

static rd_kafka_conf_t *client_conf(void)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", fk.bootstrap);
    conf_set(c, "log_level", "2");
    return c;
}

/* start_cluster() - the mock cluster (@mock, or no SLUICE_TEST_BOOTSTRAP)
 * or the real cluster SLUICE_TEST_BOOTSTRAP names. */
static void start_cluster(int nbrokers, bool mock)
{
    char es[512];
    const char *real = getenv("SLUICE_TEST_BOOTSTRAP");
    ck_assert_msg(fk.mock == NULL && fk.bootstrap == NULL, "fk_kafka_start() called twice");
    fk.nbrokers = nbrokers > 0 ? nbrokers : 1;
    if (!mock && real && *real) {
        fk.bootstrap = strdup(real);
        return;
    }
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "log_level", "2");
    fk.mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
    ck_assert_msg(fk.mock_rk != NULL, "mock cluster handle: %s", es);
    fk.mock = rd_kafka_mock_cluster_new(fk.mock_rk, fk.nbrokers);
    ck_assert_msg(fk.mock != NULL, "could not start the mock cluster");
    fk.bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(fk.mock));
}

static void start_producer(void)
{
    char es[512];
    rd_kafka_conf_t *c;
    c = client_conf();
    conf_set(c, "enable.idempotence", "true");
    conf_set(c, "compression.codec", "lz4");
    conf_set(c, "linger.ms", "10");
    conf_set(c, "batch.size", "1000000");
    conf_set(c, "message.max.bytes", "33554432");
    conf_set(c, "queue.buffering.max.messages", "500000");
    conf_set(c, "queue.buffering.max.kbytes", "1048576");
    /* a request in flight to a broker set down is retried soon, not after 60 s */
    conf_set(c, "socket.timeout.ms", "5000");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    fk.producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
    ck_assert_msg(fk.producer != NULL, "producer: %s", es);
}

void fk_kafka_start(int nbrokers)
{
    start_cluster(nbrokers, false);
    start_producer();
}

void fk_kafka_start_mock(int nbrokers)
{
    start_cluster(nbrokers, true);
    start_producer();
}

bool fk_is_mock(void)
{
    return fk.mock != NULL;
}

void fk_kafka_stop(void)
{
    for (size_t i = 0; i < sizeof(fk.checkers) / sizeof(fk.checkers[0]); i++) {
        if (fk.checkers[i].rk) {
            rd_kafka_destroy(fk.checkers[i].rk);
            free(fk.checkers[i].group);
        }
    }
    memset(fk.checkers, 0, sizeof(fk.checkers));
    if (fk.producer) {
        rd_kafka_flush(fk.producer, 10000);
        rd_kafka_destroy(fk.producer);
    }
    if (fk.mock)
        rd_kafka_mock_cluster_destroy(fk.mock);
    if (fk.mock_rk)
        rd_kafka_destroy(fk.mock_rk);
    free(fk.bootstrap);
    memset(&fk, 0, sizeof(fk));
}

const char *fk_bootstrap(void)
{
    ck_assert_msg(fk.bootstrap != NULL, "fk_kafka_start() first");
    return fk.bootstrap;
}

rd_kafka_mock_cluster_t *fk_mock(void)
{
    ck_assert_msg(fk.mock != NULL, "fk_kafka_start() first");
    return fk.mock;
}

static bool topic_ready(const char *topic, int partitions)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(fk.producer, topic, NULL);
    bool ok = false;
    if (rd_kafka_metadata(fk.producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
             md->topics[0].partition_cnt == partitions;
        for (int i = 0; ok && i < md->topics[0].partition_cnt; i++)
            ok = md->topics[0].partitions[i].leader >= 0;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return ok;
}

/* Create @topic through the Admin API of a real cluster, replicated on
 * every broker (at most 3). */
static void create_topic_admin(const char *topic, int partitions)
{
    char es[512];
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(fk.producer, 0, NULL, &md, 10000);
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata of %s: %s", fk.bootstrap, rd_kafka_err2str(e));
    int rf = md->broker_cnt < 3 ? md->broker_cnt : 3;
    rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, es, sizeof(es));
    ck_assert_msg(nt != NULL, "topic %s: %s", topic, es);
    rd_kafka_queue_t *q = rd_kafka_queue_new(fk.producer);
    rd_kafka_CreateTopics(fk.producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    ck_assert_msg(ev != NULL, "creating topic %s timed out", topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    ck_assert_msg(res != NULL, "creating topic %s: %s", topic, rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(rd_kafka_topic_result_error(tr[i]) == RD_KAFKA_RESP_ERR_NO_ERROR, "creating topic %s: %s",
                      topic, rd_kafka_topic_result_error_string(tr[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

void fk_create_topic(const char *topic, int partitions)
{
    if (fk.mock) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(fk.mock, topic, partitions, fk.nbrokers);
        ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "mock topic %s: %s", topic, rd_kafka_err2str(e));
    } else {
        create_topic_admin(topic, partitions);
    }
    int64_t deadline = ts_now_ms() + 30000;
    while (!topic_ready(topic, partitions)) {
        ck_assert_msg(ts_now_ms() < deadline, "topic %s did not appear", topic);
        usleep(100 * 1000);
    }
}

void fk_produce(const char *topic, int32_t partition, const void *key, size_t key_len, const void *value,
                size_t value_len)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            fk.producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        ck_assert_msg(e == RD_KAFKA_RESP_ERR__QUEUE_FULL, "producing to %s[%d]: %s", topic, (int)partition,
                      rd_kafka_err2str(e));
        rd_kafka_poll(fk.producer, 50);
    }
    rd_kafka_poll(fk.producer, 0);
}

void fk_flush(void)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(fk.producer, 120000);
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "flush: %s", rd_kafka_err2str(e));
    ck_assert_msg(fk.failures == 0, "%d records not delivered, first: %s", fk.failures, fk.first_failure);
}

int64_t fk_high_watermark(const char *topic, int32_t partition)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 30; attempt++) { /* a broker may be down for a moment */
        e = rd_kafka_query_watermark_offsets(fk.producer, topic, partition, &lo, &hi, 5000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return hi;
        usleep(200 * 1000);
    }
    ck_abort_msg("watermarks of %s[%d]: %s", topic, (int)partition, rd_kafka_err2str(e));
    return -1;
}

static rd_kafka_t *checker(const char *group)
{
    char es[512];
    size_t n = sizeof(fk.checkers) / sizeof(fk.checkers[0]), slot = n;
    for (size_t i = 0; i < n; i++) {
        if (fk.checkers[i].rk && !strcmp(fk.checkers[i].group, group))
            return fk.checkers[i].rk;
        if (!fk.checkers[i].rk && slot == n)
            slot = i;
    }
    ck_assert_msg(slot < n, "too many groups checked");
    rd_kafka_conf_t *c = client_conf();
    conf_set(c, "group.id", group);
    conf_set(c, "enable.auto.commit", "false");
    fk.checkers[slot].rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    ck_assert_msg(fk.checkers[slot].rk != NULL, "offset checker: %s", es);
    fk.checkers[slot].group = strdup(group);
    return fk.checkers[slot].rk;
}

int64_t fk_committed(const char *group, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = checker(group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 30; attempt++) {
        e = rd_kafka_committed(rk, l, 5000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        usleep(200 * 1000);
    }
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR,
                  "committed offset of %s for %s[%d]: %s", group, topic, (int)partition,
                  rd_kafka_err2str(e ? e : l->elems[0].err));
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off < 0 ? -1 : off;
}

char *fk_kafka_yaml(const char *group, const char *extra)
{
    char *s;
    if (asprintf(&s,
                 "kafka:\n"
                 "  bootstrap.servers: \"%s\"\n"
                 "  group.id: \"%s\"\n"
                 "  auto.offset.reset: earliest\n"
                 "  session.timeout.ms: \"6000\"\n"
                 "  heartbeat.interval.ms: \"500\"\n"
                 "%s",
                 fk_bootstrap(), group, extra ? extra : "") < 0)
        ck_abort_msg("out of memory");
    return s;
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
    rd_kafka_conf_t *c = client_conf();
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
    ck_assert(asprintf(&cmd, "'%s/tests/pgserver.sh' start '%s' 2>&1", FAULTS_SRCDIR, dir) > 0);
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
    ck_assert_msg(rc == 0 && dsn, "tests/pgserver.sh start failed (%d):\n%s", rc, out);
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
    ck_assert(asprintf(&cmd, "'%s/tests/pgserver.sh' stop '%s' >/dev/null 2>&1; rm -rf '%s'", FAULTS_SRCDIR, dir,
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
    for (int p = 0; p < partitions; p++) {
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", p);
        int64_t hw = fk_high_watermark(topic, p);
        int64_t st = ts_pg_int(c,
                               "SELECT next_offset FROM sluice.offsets WHERE group_id = $1 AND topic = $2"
                               " AND partition = $3",
                               group, topic, ps, NULL);
        ck_assert_msg(st == hw || (hw == 0 && st < 0),
                      "sluice.offsets holds %" PRId64 " for %s[%d], the high watermark is %" PRId64, st, topic, p,
                      hw);
    }
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
