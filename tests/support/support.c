/* support.c - Kafka, PostgreSQL and daemon helpers for sluice's
 * integration tests (see support.h). */
#include "support.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sluice/textfmt.h"

#ifndef SLUICE_BIN
#error "SLUICE_BIN must name the sluice binary"
#endif

#define CTX "test support"

/* ---- Kafka ------------------------------------------------------------ */

#define MAX_CHECKERS 32

static struct {
    rd_kafka_t *mock_rk;           /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mock;
    char *bootstrap;
    rd_kafka_t *producer;
    int delivery_failures;
    char first_failure[256];
    struct {
        char *group;
        rd_kafka_t *rk;
    } checkers[MAX_CHECKERS];      /* consumers that read committed offsets */
    int nbrokers;
} kafka;

int64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        ck_abort_msg("%s: kafka property %s=%s: %s", CTX, key, value, errstr);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (kafka.delivery_failures++ == 0)
            snprintf(kafka.first_failure, sizeof(kafka.first_failure), "%s[%d]: %s",
                     rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
    }
}

static rd_kafka_conf_t *base_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", kafka.bootstrap);
    conf_set(conf, "log_level", "3");
    return conf;
}

static void start(int nbrokers, bool mock)
{
    char errstr[512];
    const char *real = getenv("SLUICE_TEST_BOOTSTRAP");

    ck_assert_msg(kafka.producer == NULL, "%s: ts_kafka_start() called twice", CTX);
    kafka.nbrokers = nbrokers > 0 ? nbrokers : 1;
    if (!mock && real && *real) {
        kafka.bootstrap = strdup(real);
    } else {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        conf_set(conf, "log_level", "3");
        kafka.mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        ck_assert_msg(kafka.mock_rk != NULL, "%s: mock cluster handle: %s", CTX, errstr);
        kafka.mock = rd_kafka_mock_cluster_new(kafka.mock_rk, kafka.nbrokers);
        ck_assert_msg(kafka.mock != NULL, "%s: could not start the mock cluster", CTX);
        kafka.bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(kafka.mock));
    }

    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "enable.idempotence", "true");  /* keeps each partition's order */
    conf_set(conf, "linger.ms", "10");
    conf_set(conf, "batch.size", "1000000");
    /* the mock cluster keeps at most 5 MiB per partition and silently drops
     * older data: compress, so that large test volumes stay whole */
    conf_set(conf, "compression.codec", "lz4");
    conf_set(conf, "message.max.bytes", "33554432"); /* values up to 32 MiB */
    conf_set(conf, "queue.buffering.max.messages", "500000");
    conf_set(conf, "queue.buffering.max.kbytes", "1048576");
    /* a request in flight to a broker set down is retried soon, not after 60 s */
    conf_set(conf, "socket.timeout.ms", "5000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    kafka.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_msg(kafka.producer != NULL, "%s: producer: %s", CTX, errstr);
}

void ts_kafka_start(int nbrokers)
{
    start(nbrokers, false);
}

void ts_kafka_start_mock(int nbrokers)
{
    start(nbrokers, true);
}

rd_kafka_mock_cluster_t *ts_kafka_mock(void)
{
    ck_assert_msg(kafka.mock != NULL, "%s: ts_kafka_start_mock() first", CTX);
    return kafka.mock;
}

char *ts_kafka_yaml(const char *group, const char *extra)
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
                 ts_kafka_bootstrap(), group, extra ? extra : "") < 0)
        ck_abort_msg("%s: out of memory", CTX);
    return s;
}

void ts_kafka_stop(void)
{
    for (int i = 0; i < MAX_CHECKERS; i++) {
        if (kafka.checkers[i].rk) {
            rd_kafka_destroy(kafka.checkers[i].rk);
            free(kafka.checkers[i].group);
        }
    }
    memset(kafka.checkers, 0, sizeof(kafka.checkers));
    if (kafka.producer) {
        rd_kafka_flush(kafka.producer, 10000);
        rd_kafka_destroy(kafka.producer);
        kafka.producer = NULL;
    }
    if (kafka.mock) {
        rd_kafka_mock_cluster_destroy(kafka.mock);
        kafka.mock = NULL;
    }
    if (kafka.mock_rk) {
        rd_kafka_destroy(kafka.mock_rk);
        kafka.mock_rk = NULL;
    }
    free(kafka.bootstrap);
    kafka.bootstrap = NULL;
}

const char *ts_kafka_bootstrap(void)
{
    ck_assert_msg(kafka.bootstrap != NULL, "%s: ts_kafka_start() first", CTX);
    return kafka.bootstrap;
}

bool ts_kafka_is_mock(void)
{
    return kafka.mock != NULL;
}

char *ts_unique_name(const char *base)
{
    static unsigned counter;
    char *name;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Lower case letters, digits and '_' only: valid as a topic, a group
     * and an unquoted SQL identifier alike. */
    if (asprintf(&name, "%s_%ld_%lx_%u", base, (long)getpid(), (long)(ts.tv_sec & 0xfffff),
                 counter++) < 0)
        ck_abort_msg("%s: out of memory", CTX);
    return name;
}

/* Wait until the cluster's metadata shows @topic with @partitions partitions. */
static bool topic_visible(const char *topic, int partitions)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kafka.producer, topic, NULL);
    bool ok = false;
    if (rd_kafka_metadata(kafka.producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
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
 * every broker (at most 3) unless SLUICE_TEST_REPLICATION says otherwise. */
static void create_topic_admin(const char *topic, int partitions)
{
    char errstr[512];
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = rd_kafka_metadata(kafka.producer, 0, NULL, &md, 10000);
    ck_assert_msg(me == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: metadata of %s: %s", CTX, kafka.bootstrap,
                  rd_kafka_err2str(me));
    int rf = md->broker_cnt < 3 ? md->broker_cnt : 3;
    rd_kafka_metadata_destroy(md);
    const char *rf_env = getenv("SLUICE_TEST_REPLICATION");
    if (rf_env)
        rf = atoi(rf_env);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, errstr, sizeof(errstr));
    ck_assert_msg(nt != NULL, "%s: topic %s: %s", CTX, topic, errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(kafka.producer);
    rd_kafka_CreateTopics(kafka.producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    ck_assert_msg(ev != NULL, "%s: creating topic %s timed out", CTX, topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    ck_assert_msg(res != NULL, "%s: creating topic %s: %s", CTX, topic, rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
                      "%s: creating topic %s: %s", CTX, topic, rd_kafka_topic_result_error_string(tr[i]));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

void ts_kafka_create_topic(const char *topic, int partitions)
{
    ts_kafka_bootstrap();
    if (kafka.mock) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(kafka.mock, topic, partitions, kafka.nbrokers);
        ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: mock topic %s: %s", CTX, topic,
                      rd_kafka_err2str(e));
    } else {
        create_topic_admin(topic, partitions);
    }
    int64_t deadline = ts_now_ms() + 30000;
    while (!topic_visible(topic, partitions)) {
        ck_assert_msg(ts_now_ms() < deadline, "%s: topic %s did not appear with %d partitions", CTX,
                      topic, partitions);
        usleep(100 * 1000);
    }
}

void ts_produce(const char *topic, int32_t partition, const void *key, size_t key_len,
                const void *value, size_t value_len)
{
    ts_produce_header(topic, partition, key, key_len, value, value_len, NULL, NULL);
}

void ts_produce_header(const char *topic, int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len, const char *header, const char *header_value)
{
    ck_assert_msg(kafka.producer != NULL, "%s: ts_kafka_start() first", CTX);
    for (;;) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
        if (header)
            rd_kafka_header_add(hdrs, header, -1, header_value, header_value ? -1 : 0);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            kafka.producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_headers_destroy(hdrs); /* producev owns them only on success */
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        ck_assert_msg(e == RD_KAFKA_RESP_ERR__QUEUE_FULL, "%s: producing to %s[%d]: %s", CTX, topic,
                      (int)partition, rd_kafka_err2str(e));
        rd_kafka_poll(kafka.producer, 100);
    }
    rd_kafka_poll(kafka.producer, 0);
}

void ts_produce_str(const char *topic, int32_t partition, const char *key, const char *value)
{
    ts_produce(topic, partition, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0);
}

void ts_flush(void)
{
    ck_assert_msg(kafka.producer != NULL, "%s: ts_kafka_start() first", CTX);
    rd_kafka_resp_err_t e = rd_kafka_flush(kafka.producer, 120000);
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: flush: %s", CTX, rd_kafka_err2str(e));
    ck_assert_msg(kafka.delivery_failures == 0, "%s: %d records not delivered, first: %s", CTX,
                  kafka.delivery_failures, kafka.first_failure);
}

static rd_kafka_t *checker(const char *group)
{
    char errstr[512];
    int free_slot = -1;
    for (int i = 0; i < MAX_CHECKERS; i++) {
        if (kafka.checkers[i].rk && strcmp(kafka.checkers[i].group, group) == 0)
            return kafka.checkers[i].rk;
        if (!kafka.checkers[i].rk && free_slot < 0)
            free_slot = i;
    }
    ck_assert_msg(free_slot >= 0, "%s: more than %d groups checked", CTX, MAX_CHECKERS);
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", group);
    conf_set(conf, "enable.auto.commit", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(rk != NULL, "%s: offset checker: %s", CTX, errstr);
    kafka.checkers[free_slot].rk = rk;
    kafka.checkers[free_slot].group = strdup(group);
    return rk;
}

int64_t ts_kafka_committed(const char *group, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = checker(group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* The coordinator may still be loading right after start: retry. */
    for (int attempt = 0; attempt < 20; attempt++) {
        e = rd_kafka_committed(rk, l, 10000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        usleep(200 * 1000);
    }
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: committed offset of group %s: %s", CTX,
                  group, rd_kafka_err2str(e));
    ck_assert_msg(l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: committed offset of %s[%d]: %s",
                  CTX, topic, (int)partition, rd_kafka_err2str(l->elems[0].err));
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off < 0 ? -1 : off;
}

int64_t ts_kafka_high_watermark(const char *topic, int32_t partition)
{
    int64_t lo = 0, hi = 0;
    ck_assert_msg(kafka.producer != NULL, "%s: ts_kafka_start() first", CTX);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A real broker may answer "not leader" for a moment after the topic
     * was created or a leader moved: ask again. */
    for (int attempt = 0; attempt < 50; attempt++) {
        e = rd_kafka_query_watermark_offsets(kafka.producer, topic, partition, &lo, &hi, 10000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        usleep(200 * 1000);
    }
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: watermarks of %s[%d]: %s", CTX, topic,
                  (int)partition, rd_kafka_err2str(e));
    return hi;
}

/* ---- PostgreSQL ------------------------------------------------------- */

void ts_require_pg(void)
{
    const char *dsn = getenv("SLUICE_TEST_DSN");
    if (!dsn || !*dsn) {
        printf("SKIP: SLUICE_TEST_DSN is not set (tests/run.sh starts a PostgreSQL server "
               "and sets it)\n");
        exit(TS_SKIP);
    }
}

const char *ts_pg_dsn(void)
{
    const char *dsn = getenv("SLUICE_TEST_DSN");
    ck_assert_msg(dsn && *dsn, "%s: SLUICE_TEST_DSN is not set", CTX);
    return dsn;
}

PGconn *ts_pg_connect(void)
{
    PGconn *c = PQconnectdb(ts_pg_dsn());
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s: connecting to %s: %s", CTX, ts_pg_dsn(),
                  PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

#define MAX_PARAMS 16

static PGresult *run_query(PGconn *c, const char *sql, va_list ap)
{
    const char *params[MAX_PARAMS];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(n < MAX_PARAMS, "%s: too many parameters", CTX);
        params[n++] = p;
    }
    /* Without parameters, the simple protocol: several statements may follow each other. */
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        ck_abort_msg("%s: query failed: %s\n%s", CTX, sql, msg);
    }
    return r;
}

void ts_pg_exec(PGconn *c, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PQclear(run_query(c, sql, ap));
    va_end(ap);
}

static char *single_value(PGconn *c, const char *sql, va_list ap)
{
    PGresult *r = run_query(c, sql, ap);
    char *v = NULL;
    ck_assert_msg(PQnfields(r) == 1 && PQntuples(r) <= 1,
                  "%s: expected one value, got %d rows of %d columns: %s", CTX, PQntuples(r),
                  PQnfields(r), sql);
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int64_t ts_pg_int(PGconn *c, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    char *v = single_value(c, sql, ap);
    va_end(ap);
    if (!v)
        return -1;
    char *end;
    long long n = strtoll(v, &end, 10);
    ck_assert_msg(*end == '\0', "%s: not an integer: %s (%s)", CTX, v, sql);
    free(v);
    return n;
}

char *ts_pg_text(PGconn *c, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    char *v = single_value(c, sql, ap);
    va_end(ap);
    return v;
}

void ts_pg_expect_coltype(PGconn *c, const char *table, const char *col, const char *want)
{
    char *got = ts_pg_text(c,
                           "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped",
                           table, col, NULL);
    ck_assert_msg(got && !strcmp(got, want), "column %s.%s is %s, want %s", table, col, got ? got : "missing",
                  want);
    free(got);
}

char *ts_pg_fresh_schema(PGconn *c, const char *base)
{
    char *name = ts_unique_name(base);
    char *q = PQescapeIdentifier(c, name, strlen(name));
    char sql[512];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s",
             q, q, q);
    PQfreemem(q);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s: %s", CTX, sql,
                  PQresultErrorMessage(r));
    PQclear(r);
    return name;
}

/* ---- files ------------------------------------------------------------ */

char *ts_tempdir(const char *base)
{
    const char *tmp = getenv("TMPDIR");
    char *path;
    if (asprintf(&path, "%s/sluice-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", base) < 0)
        ck_abort_msg("%s: out of memory", CTX);
    ck_assert_msg(mkdtemp(path) != NULL, "%s: mkdtemp %s: %s", CTX, path, strerror(errno));
    return path;
}

char *ts_write_file(const char *dir, const char *name, const char *fmt, ...)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        ck_abort_msg("%s: out of memory", CTX);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: writing %s: %s", CTX, path, strerror(errno));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    ck_assert_msg(fclose(f) == 0, "%s: writing %s: %s", CTX, path, strerror(errno));
    return path;
}

void ts_decimal_base64(sl_strbuf *out, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    int at = 0; /* a leading byte that only repeats the next one's sign goes */
    while (at < 7 && ((b[at] == 0x00 && !(b[at + 1] & 0x80)) || (b[at] == 0xff && (b[at + 1] & 0x80))))
        at++;
    sl_fmt_base64(out, b + at, (size_t)(8 - at));
}

char *ts_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    ck_assert_msg(buf != NULL, "%s: out of memory reading %s", CTX, path);
    buf[len] = '\0';
    return buf;
}

/* ---- the daemon ------------------------------------------------------- */

#define MAX_ARGS 32

static ts_daemon *spawn_argv(const char *log_path, char **argv)
{
    ts_daemon *d = calloc(1, sizeof(*d));
    ck_assert_msg(d != NULL, "%s: out of memory", CTX);
    d->log_path = strdup(log_path);
    pid_t parent = getpid();
    fflush(NULL);
    d->pid = fork();
    ck_assert_msg(d->pid >= 0, "%s: fork: %s", CTX, strerror(errno));
    if (d->pid == 0) {
        /* Never outlive the test that started us, even when it fails. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd < 0 || null < 0)
            _exit(127);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return d;
}

/* SLUICE_TEST_WRAPPER="valgrind --error-exitcode=99 --leak-check=full"
 * runs every daemon under that command (split on spaces). */
static ts_daemon *spawn_va(const char *log_path, va_list ap)
{
    char *argv[MAX_ARGS];
    int n = 0;
    const char *wrapper = getenv("SLUICE_TEST_WRAPPER");
    char *words = wrapper && *wrapper ? strdup(wrapper) : NULL;
    if (words) {
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            ck_assert_msg(n < MAX_ARGS / 2, "%s: SLUICE_TEST_WRAPPER has too many words", CTX);
            argv[n++] = w;
        }
    }
    argv[n++] = (char *)SLUICE_BIN;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(n < MAX_ARGS - 1, "%s: too many arguments", CTX);
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;
    ts_daemon *d = spawn_argv(log_path, argv);
    free(words);
    return d;
}

ts_daemon *ts_daemon_spawn(const char *log_path, ...)
{
    va_list ap;
    va_start(ap, log_path);
    ts_daemon *d = spawn_va(log_path, ap);
    va_end(ap);
    return d;
}

ts_daemon *ts_daemon_start(const char *config, const char *log_path)
{
    return ts_daemon_spawn(log_path, "-c", config, (char *)NULL);
}

void ts_daemon_signal(ts_daemon *d, int sig)
{
    ck_assert_msg(ts_daemon_running(d), "%s: sluice (pid %d) is not running; its log is %s", CTX,
                  (int)d->pid, d->log_path);
    ck_assert_msg(kill(d->pid, sig) == 0, "%s: kill %d: %s", CTX, (int)d->pid, strerror(errno));
}

bool ts_daemon_running(ts_daemon *d)
{
    if (d->exited)
        return false;
    pid_t r = waitpid(d->pid, &d->status, WNOHANG);
    if (r == d->pid) {
        d->exited = true;
        return false;
    }
    return true;
}

static bool daemon_exited(void *arg)
{
    return !ts_daemon_running(arg);
}

bool ts_daemon_wait(ts_daemon *d, int timeout_ms)
{
    return ts_wait_until(daemon_exited, d, timeout_ms);
}

int ts_daemon_exit_code(const ts_daemon *d)
{
    ck_assert_msg(d->exited, "%s: sluice (pid %d) has not exited", CTX, (int)d->pid);
    if (WIFEXITED(d->status))
        return WEXITSTATUS(d->status);
    if (WIFSIGNALED(d->status))
        return 128 + WTERMSIG(d->status);
    return -1;
}

int ts_daemon_stop(ts_daemon *d, int timeout_ms)
{
    if (ts_daemon_running(d))
        kill(d->pid, SIGTERM);
    if (!ts_daemon_wait(d, timeout_ms))
        return -1;
    return ts_daemon_exit_code(d);
}

char *ts_daemon_log(const ts_daemon *d)
{
    char *log = ts_read_file(d->log_path);
    return log ? log : strdup("");
}

void ts_daemon_free(ts_daemon *d)
{
    if (!d)
        return;
    if (!d->exited) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &d->status, 0);
    }
    free(d->log_path);
    free(d);
}

int ts_run(char **output, ...)
{
    char *dir = ts_tempdir("run");
    char *log;
    if (asprintf(&log, "%s/output", dir) < 0)
        ck_abort_msg("%s: out of memory", CTX);
    va_list ap;
    va_start(ap, output);
    ts_daemon *d = spawn_va(log, ap);
    va_end(ap);
    ck_assert_msg(ts_daemon_wait(d, 60000), "%s: sluice did not finish within 60 s", CTX);
    int code = ts_daemon_exit_code(d);
    if (output)
        *output = ts_daemon_log(d);
    ts_daemon_free(d);
    unlink(log);
    rmdir(dir);
    free(log);
    free(dir);
    return code;
}

/* ---- waiting ---------------------------------------------------------- */

bool ts_wait_until(bool (*fn)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        if (fn(arg))
            return true;
        if (ts_now_ms() >= deadline)
            return false;
        usleep(50 * 1000);
    }
}
