/* test_broker_compat.c - sluice with Debian's librdkafka against a real
 * Apache Kafka broker (SLUICE_TEST_BOOTSTRAP; skipped on the mock cluster):
 * records written uncompressed and with every codec (gzip, snappy, lz4,
 * zstd) are stored exactly once, in a consumer group whose commits reach
 * both sluice.offsets and Kafka. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define NPARTS 3
#define PER_CODEC 3000

static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
#define NCODECS (int)(sizeof(codecs) / sizeof(codecs[0]))

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    int *failures = opaque;
    if (m->err && (*failures)++ == 0)
        fprintf(stderr, "delivery to %s[%d] failed: %s\n", rd_kafka_topic_name(m->rkt), (int)m->partition,
                rd_kafka_err2str(m->err));
}

/* Produce seq [first, first+n) to @topic with @codec, spread over the
 * partitions, and wait until the broker acknowledged every record. */
static void produce_with(const char *topic, const char *codec, int64_t first, int n)
{
    char es[512];
    int failures = 0;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", ts_kafka_bootstrap()}, {"compression.codec", codec},
                           {"enable.idempotence", "true"}, {"linger.ms", "20"}, {"log_level", "3"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        ck_assert_msg(rd_kafka_conf_set(c, kv[i][0], kv[i][1], es, sizeof(es)) == RD_KAFKA_CONF_OK, "%s=%s: %s",
                      kv[i][0], kv[i][1], es);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_opaque(c, &failures);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof(es));
    ck_assert_msg(p != NULL, "producer (%s): %s", codec, es);
    for (int64_t s = first; s < first + n; s++) {
        char v[160];
        /* repetitive text, so that every codec actually compresses */
        int len = snprintf(v, sizeof(v), "{\"seq\":%" PRId64 ",\"codec\":\"%s\",\"pad\":\"%s\"}", s, codec,
                           "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc");
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(s % NPARTS)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(v, (size_t)len),
                                      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 50);
        ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "producing (%s): %s", codec, rd_kafka_err2str(e));
    }
    ck_assert_msg(rd_kafka_flush(p, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR, "flush (%s) timed out", codec);
    ck_assert_msg(failures == 0, "%d records compressed with %s were not delivered", failures, codec);
    rd_kafka_destroy(p);
}

START_TEST(every_codec_is_stored_exactly_once)
{
    ts_kafka_start(1);
    ck_assert_msg(!ts_kafka_is_mock(), "this test needs a real broker");
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_compat");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, codec text NOT NULL, pad text, kp int, ko bigint)",
               NULL);
    char *topic = ts_unique_name("codecs");
    char *group = ts_unique_name("sluice_codecs");
    ts_kafka_create_topic(topic, NPARTS);
    for (int i = 0; i < NCODECS; i++)
        produce_with(topic, codecs[i], (int64_t)i * PER_CODEC, PER_CODEC);

    char *dir = ts_tempdir("broker_compat");
    char *kafka = ts_kafka_yaml(group, NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *config = fk_events_config(dir, kafka, topic, qtable, "batch:\n  max_rows: 1000\n  linger_ms: 50\n");
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(config, log);

    const int64_t total = (int64_t)NCODECS * PER_CODEC;
    int64_t deadline = ts_now_ms() + 120000;
    for (;;) {
        int64_t committed = 0;
        for (int p = 0; p < NPARTS; p++) {
            int64_t off = ts_kafka_committed(group, topic, p);
            committed += off > 0 ? off : 0;
        }
        if (committed == total)
            break;
        ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline, "only %" PRId64 " of %" PRId64 " records committed; log:\n%s",
                      committed, total, fk_tail(d));
        usleep(200 * 1000);
    }
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d after SIGTERM; log:\n%s", code, fk_tail(d));

    fk_assert_exact(c, qtable, group, topic, NPARTS, total);
    for (int i = 0; i < NCODECS; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%d", PER_CODEC);
        int64_t n = ts_pg_int(c, "SELECT count(*) FROM events WHERE codec = $1", codecs[i], NULL);
        ck_assert_msg(n == PER_CODEC, "%" PRId64 " rows written with %s stored, expected %s", n, codecs[i], want);
    }
    for (int p = 0; p < NPARTS; p++)
        ck_assert_int_eq(ts_kafka_committed(group, topic, p), ts_kafka_high_watermark(topic, p));
    printf("%" PRId64 " records in %d codecs stored once each; Kafka and sluice.offsets at the high watermarks\n",
           total, NCODECS);

    ts_daemon_free(d);
    free(log);
    free(config);
    free(kafka);
    free(dir);
    free(group);
    free(topic);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}
END_TEST

int main(void)
{
    const char *b = getenv("SLUICE_TEST_BOOTSTRAP");
    if (!b || !*b) {
        printf("SKIP: needs a real Kafka cluster (SLUICE_TEST_BOOTSTRAP; tests/run.sh starts one)\n");
        return TS_SKIP;
    }
    const TTest *tests[] = {every_codec_is_stored_exactly_once};
    return fk_main("broker_compat", tests, 1, 180);
}
