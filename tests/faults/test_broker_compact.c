/* test_broker_compact.c - a compacted topic as the long-term store of a
 * table, on a real Kafka broker (SLUICE_TEST_BOOTSTRAP; skipped on the mock
 * cluster, which does not compact).  Many updates of few keys and some
 * tombstones are written to a topic with cleanup.policy=compact and settings
 * that make the log cleaner run within seconds; one group reads them live.
 * Once a read of the whole topic shows that the broker compacted it (fewer
 * records than offsets), a new group bootstraps an empty table from it: both
 * tables must equal the last state of every key, deleted keys absent. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

#define NPARTS 2
#define NKEYS 50
#define WAVES 20
#define PER_WAVE 500
#define DELETED_EVERY 7 /* keys 0, 7, 14, ... end deleted */

/* Records a read of the whole topic returns now (each partition read from
 * its start up to its high watermark). */
static int64_t records_in_topic(const char *topic)
{
    char es[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    ck_assert(rd_kafka_conf_set(c, "bootstrap.servers", ts_kafka_bootstrap(), es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "group.id", "sluice-test-compaction-reader", es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "enable.auto.commit", "false", es, sizeof(es)) == RD_KAFKA_CONF_OK);
    ck_assert(rd_kafka_conf_set(c, "enable.partition.eof", "true", es, sizeof(es)) == RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    ck_assert_msg(rk != NULL, "%s", es);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
    for (int p = 0; p < NPARTS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert(rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t n = 0;
    int eofs = 0;
    int64_t deadline = ts_now_ms() + 60000;
    while (eofs < NPARTS) {
        ck_assert_msg(ts_now_ms() < deadline, "reading %s took more than 60 s", topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err)
            n++;
        else
            ck_abort_msg("reading %s: %s", topic, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static char *write_config(const char *schema, const char *table, const char *group, const char *topic)
{
    char *dir = ts_tempdir("broker_compact");
    char *kafka = ts_kafka_yaml(group, NULL);
    char *path = ts_write_file(dir, "sluice.yaml",
                               "%s"
                               "targets:\n"
                               "  pg:\n"
                               "    type: postgresql\n"
                               "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                               "routes:\n"
                               "  - topics: [%s]\n"
                               "    target: pg\n"
                               "    table: %s.%s\n"
                               "    format: json\n"
                               "    mode: upsert\n"
                               "    key: [id]\n"
                               "    delete_on_tombstone: true\n"
                               "batch:\n"
                               "  linger_ms: 50\n",
                               kafka, topic, schema, table);
    free(kafka);
    free(dir);
    return path;
}

START_TEST(a_new_group_rebuilds_the_table_from_the_compacted_topic)
{
    ts_kafka_start(1);
    ck_assert_msg(!ts_kafka_is_mock(), "this test needs a real broker");
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_compact");
    ts_pg_exec(c, "CREATE TABLE live (id bigint PRIMARY KEY, v bigint NOT NULL)", NULL);
    ts_pg_exec(c, "CREATE TABLE rebuilt (id bigint PRIMARY KEY, v bigint NOT NULL)", NULL);
    char *topic = ts_unique_name("compacted");
    char *live_group = ts_unique_name("sluice_live");
    char *rebuild_group = ts_unique_name("sluice_rebuild");

    /* Roll a segment every 100 ms of writes, clean as soon as 1 % of the
     * log is dirty, drop tombstones 1 s after cleaning: the cleaner (which
     * looks every second on the test brokers) runs within the test. */
    fb_create_topic(topic, NPARTS, 1, "cleanup.policy=compact", "segment.ms=100", "min.cleanable.dirty.ratio=0.01",
                    "delete.retention.ms=1000", "min.compaction.lag.ms=0", NULL);
    for (int p = 0; p < NPARTS; p++) /* asks again until the leader answers */
        ck_assert_int_eq(ts_kafka_high_watermark(topic, p), 0);

    char *live_cfg = write_config(schema, "live", live_group, topic);
    char *dir = ts_tempdir("broker_compact_logs");
    char *live_log = ts_write_file(dir, "live.log", "%s", "");
    ts_daemon *live = ts_daemon_start(live_cfg, live_log);

    /* Many updates of few keys; the deleted keys' last record is a tombstone. */
    int64_t last_v[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        last_v[k] = -1;
    int64_t v = 0;
    for (int w = 0; w < WAVES; w++) {
        for (int i = 0; i < PER_WAVE; i++, v++) {
            int k = (int)(v % NKEYS);
            char key[16], val[64];
            snprintf(key, sizeof(key), "%d", k);
            bool last_wave = w == WAVES - 1;
            if (last_wave && k % DELETED_EVERY == 0) {
                ts_produce(topic, k % NPARTS, key, strlen(key), NULL, 0);
                last_v[k] = -1;
            } else {
                int len = snprintf(val, sizeof(val), "{\"id\":%d,\"v\":%" PRId64 "}", k, v);
                ts_produce(topic, k % NPARTS, key, strlen(key), val, (size_t)len);
                last_v[k] = v;
            }
        }
        ts_flush();
        /* the live group reads every wave before the cleaner can touch it */
        fk_wait_at_end(live, live_group, topic, NPARTS, 120000);
        usleep(150 * 1000); /* past segment.ms: the next wave starts a new segment */
    }
    int64_t offsets = 0;
    for (int p = 0; p < NPARTS; p++)
        offsets += ts_kafka_high_watermark(topic, p);
    ck_assert_int_eq(offsets, (int64_t)WAVES * PER_WAVE);

    /* The broker compacts the closed segments: wait until a full read shows it. */
    int64_t t0 = ts_now_ms(), left;
    while ((left = records_in_topic(topic)) > offsets / 2) {
        ck_assert_msg(ts_now_ms() - t0 < 120000, "the topic was not compacted within 120 s: %" PRId64
                      " of %" PRId64 " records still there", left, offsets);
        usleep(1000 * 1000);
    }
    printf("compaction: %" PRId64 " offsets written (%d keys, %d tombstones), %" PRId64
           " records left after %lld ms\n",
           offsets, NKEYS, (NKEYS + DELETED_EVERY - 1) / DELETED_EVERY, left, (long long)(ts_now_ms() - t0));

    char *rebuild_cfg = write_config(schema, "rebuilt", rebuild_group, topic);
    char *rebuild_log = ts_write_file(dir, "rebuild.log", "%s", "");
    ts_daemon *rebuild = ts_daemon_start(rebuild_cfg, rebuild_log);
    fk_wait_at_end(rebuild, rebuild_group, topic, NPARTS, 120000);
    ck_assert_int_eq(ts_daemon_stop(rebuild, 60000), 0);
    ck_assert_int_eq(ts_daemon_stop(live, 60000), 0);

    /* both tables: exactly the last state of every key */
    int64_t present = 0;
    for (int k = 0; k < NKEYS; k++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", k);
        int64_t a = ts_pg_int(c, "SELECT coalesce((SELECT v FROM live WHERE id = $1::bigint), -1)", id, NULL);
        int64_t b = ts_pg_int(c, "SELECT coalesce((SELECT v FROM rebuilt WHERE id = $1::bigint), -1)", id, NULL);
        ck_assert_msg(a == last_v[k] && b == last_v[k], "key %d: live %" PRId64 ", rebuilt %" PRId64
                      ", last written %" PRId64 " (-1: deleted)", k, a, b, last_v[k]);
        present += last_v[k] >= 0;
    }
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM live", NULL), present);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM rebuilt", NULL), present);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM (SELECT * FROM live EXCEPT SELECT * FROM rebuilt) x", NULL),
                     0);
    printf("rebuilt table equals the live one: %" PRId64 " keys, %" PRId64 " deleted keys absent from both\n",
           present, NKEYS - present);

    ts_daemon_free(rebuild);
    ts_daemon_free(live);
    free(rebuild_log);
    free(rebuild_cfg);
    free(live_log);
    free(live_cfg);
    free(dir);
    free(rebuild_group);
    free(live_group);
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
    const TTest *tests[] = {a_new_group_rebuilds_the_table_from_the_compacted_topic};
    return fk_main("broker compaction", tests, 1, 400);
}
