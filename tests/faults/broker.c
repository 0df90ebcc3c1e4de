/* broker.c - private Kafka clusters for fault tests (see broker.h). */
#include "broker.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults.h"
#include "support.h"

#ifndef FAULTS_SRCDIR
#error "FAULTS_SRCDIR must name the source tree"
#endif

#define KAFKA_SH FAULTS_SRCDIR "/tests/support/kafka.sh"

/* Run tests/support/kafka.sh with @args; its output goes to @dir/kafka-sh.log. */
static void kafka_sh(const char *dir, const char *args)
{
    char *cmd;
    ck_assert(asprintf(&cmd, "'%s' %s >>'%s/kafka-sh.log' 2>&1", KAFKA_SH, args, dir) > 0);
    int rc = system(cmd);
    if (rc != 0) {
        char *path;
        ck_assert(asprintf(&path, "%s/kafka-sh.log", dir) > 0);
        char *out = ts_read_file(path);
        ck_abort_msg("tests/support/kafka.sh %s failed (%d):\n%s", args, rc, out ? out : "");
    }
    free(cmd);
}

bool fb_available(void)
{
    if (system("command -v java >/dev/null && command -v mvn >/dev/null && command -v kcat >/dev/null") != 0) {
        printf("SKIP: java, mvn and kcat are needed to run a Kafka broker\n");
        return false;
    }
    return true;
}

char *fb_start(int nbrokers, const char *extra)
{
    char *dir = ts_tempdir("kafka");
    char *args;
    ck_assert(asprintf(&args, "start '%s' --brokers %d %s", dir, nbrokers, extra ? extra : "") > 0);
    kafka_sh(dir, args);
    free(args);
    char *path;
    ck_assert(asprintf(&path, "%s/bootstrap", dir) > 0);
    char *b = ts_read_file(path);
    ck_assert_msg(b && *b, "no %s", path);
    b[strcspn(b, "\n")] = '\0';
    setenv("SLUICE_TEST_BOOTSTRAP", b, 1);
    free(b);
    free(path);
    return dir;
}

void fb_kill(const char *dir, int i)
{
    char args[4096];
    snprintf(args, sizeof(args), "kill '%s' %d", dir, i);
    kafka_sh(dir, args);
}

void fb_restart(const char *dir, int i)
{
    char args[4096];
    snprintf(args, sizeof(args), "restart '%s' %d", dir, i);
    kafka_sh(dir, args);
}

void fb_stop(char *dir)
{
    if (!dir)
        return;
    char args[4096];
    snprintf(args, sizeof(args), "stop '%s'", dir);
    kafka_sh(dir, args);
    char *cmd;
    ck_assert(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    free(dir);
}

const char *fb_address(const char *dir, int i)
{
    static char addr[64];
    char *path;
    ck_assert(asprintf(&path, "%s/ports.broker", dir) > 0);
    char *ports = ts_read_file(path);
    ck_assert_msg(ports != NULL, "no %s", path);
    const char *line = ports;
    for (int n = 1; n < i && line; n++) {
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    ck_assert_msg(line && *line, "no broker %d in %s", i, path);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", atoi(line));
    free(ports);
    free(path);
    return addr;
}

struct fb_producer {
    char *topic;
    int partitions, per_second;
    atomic_bool stop;
    atomic_llong produced;
    pthread_t thread;
};

static void *produce_loop(void *arg)
{
    fb_producer *p = arg;
    int64_t seq = 0, start = ts_now_ms();
    while (!atomic_load(&p->stop)) {
        int64_t due = (ts_now_ms() - start) * p->per_second / 1000;
        for (; seq < due; seq++) {
            char v[64];
            int len = snprintf(v, sizeof(v), "{\"seq\":%" PRId64 "}", seq);
            ts_produce(p->topic, (int32_t)(seq % p->partitions), NULL, 0, v, (size_t)len);
        }
        atomic_store(&p->produced, seq);
        usleep(10 * 1000);
    }
    return NULL;
}

fb_producer *fb_producer_start(const char *topic, int partitions, int per_second)
{
    fb_producer *p = calloc(1, sizeof(*p));
    ck_assert(p != NULL);
    p->topic = strdup(topic);
    p->partitions = partitions;
    p->per_second = per_second;
    ck_assert(pthread_create(&p->thread, NULL, produce_loop, p) == 0);
    return p;
}

int64_t fb_producer_count(fb_producer *p)
{
    return atomic_load(&p->produced);
}

int64_t fb_producer_stop(fb_producer *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    ts_flush();
    int64_t n = atomic_load(&p->produced);
    free(p->topic);
    free(p);
    return n;
}

int fb_controller(const char *dir)
{
    char *cmd;
    ck_assert(asprintf(&cmd, "'%s' controller '%s' 2>>'%s/kafka-sh.log'", KAFKA_SH, dir, dir) > 0);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "%s", cmd);
    char line[64] = "";
    if (!fgets(line, sizeof(line), p))
        line[0] = '\0';
    int rc = pclose(p);
    ck_assert_msg(rc == 0 && atoi(line) > 0, "tests/support/kafka.sh controller %s failed (%d)", dir, rc);
    free(cmd);
    return atoi(line);
}

/* A short-lived client of the cluster in use (SLUICE_TEST_BOOTSTRAP). */
static rd_kafka_t *client(void)
{
    char es[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    ck_assert(rd_kafka_conf_set(c, "bootstrap.servers", ts_kafka_bootstrap(), es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "log_level", "2", es, sizeof(es)) == RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
    ck_assert_msg(rk != NULL, "%s", es);
    return rk;
}

static int leader_of(rd_kafka_t *rk, const char *topic, int partition)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int leader = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                if (md->topics[0].partitions[i].id == partition)
                    leader = md->topics[0].partitions[i].leader;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return leader;
}

int fb_leader(const char *topic, int partition)
{
    rd_kafka_t *rk = client();
    int leader = leader_of(rk, topic, partition);
    rd_kafka_destroy(rk);
    return leader;
}

void fb_create_topic(const char *topic, int partitions, int rf, ...)
{
    char es[512];
    rd_kafka_t *rk = client();
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, es, sizeof(es));
    ck_assert_msg(nt != NULL, "topic %s: %s", topic, es);
    va_list ap;
    va_start(ap, rf);
    for (const char *kv; (kv = va_arg(ap, const char *));) {
        char key[128];
        const char *eq = strchr(kv, '=');
        ck_assert_msg(eq && (size_t)(eq - kv) < sizeof(key), "not key=value: %s", kv);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        ck_assert(rd_kafka_NewTopic_set_config(nt, key, eq + 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    va_end(ap);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    ck_assert_msg(ev != NULL, "creating %s timed out", topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    ck_assert_msg(res != NULL, "creating %s: %s", topic, rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    ck_assert_msg(n == 1 && rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR, "creating %s: %s",
                  topic, n ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    int64_t deadline = ts_now_ms() + 30000;
    for (int p = 0; p < partitions; p++)
        while (leader_of(rk, topic, p) < 0) {
            ck_assert_msg(ts_now_ms() < deadline, "%s[%d] has no leader after 30 s", topic, p);
            usleep(100 * 1000);
        }
    rd_kafka_destroy(rk);
}
