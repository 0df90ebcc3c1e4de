/* test_broker_deadletter.c - dead letters to a Kafka topic that cannot take
 * them at once, on a real broker (SLUICE_TEST_BOOTSTRAP; skipped on the
 * mock cluster):
 *   - a record larger than the dead-letter topic's max.message.bytes is
 *     dead-lettered as a truncated copy carrying sluice.truncated; one
 *     larger than librdkafka's default message.max.bytes (1 MB) but within
 *     the topic's limit is dead-lettered whole; the group commits past both;
 *   - a dead-letter topic that does not exist (the broker does not create
 *     topics) stops the worker, naming the record and the topic, with
 *     offsets committed up to the bad record and not past it;
 *   - a dead-letter topic that appears only after longer than
 *     max.poll.interval.ms, while a record refused by the database (its
 *     write's bisection) and one refused by the decoder wait for it: the
 *     worker keeps serving its consumer (no rebalance, no partition lost,
 *     librdkafka never reports the poll interval exceeded), produces them
 *     again each time librdkafka gives up on them (message.timeout.ms),
 *     commits nothing past the first of them, and dead-letters both, once
 *     each, when the topic exists. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

typedef struct env {
    PGconn *c;
    char *schema, *group, *dir, *log;
} env;

static void env_start(env *e, const char *base)
{
    ts_kafka_start(1);
    e->c = ts_pg_connect();
    e->schema = ts_pg_fresh_schema(e->c, base);
    e->group = ts_unique_name("sluice_dlqtopic");
    e->dir = ts_tempdir(base);
    e->log = ts_write_file(e->dir, "sluice.log", "%s", "");
    ts_pg_exec(e->c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
}

static void env_stop(env *e)
{
    PQfinish(e->c);
    ts_kafka_stop();
    free(e->schema);
    free(e->group);
    free(e->dir);
    free(e->log);
}

static char *route(const char *topic, const char *dlq)
{
    char *s;
    ck_assert(asprintf(&s,
                       "  - name: r_%s\n"
                       "    topics: [%s]\n"
                       "    target: pg\n"
                       "    table: events\n"
                       "    mode: insert\n"
                       "    add_columns:\n"
                       "      kp: kafka.partition\n"
                       "      ko: kafka.offset\n"
                       "    on_error: dlq\n"
                       "    dlq_topic: %s\n",
                       topic, topic, dlq) > 0);
    return s;
}

static char *config(env *e, const char *kafka_extra, const char *routes)
{
    char *kafka = ts_kafka_yaml(e->group, kafka_extra);
    char *cfg = ts_write_file(e->dir, "sluice.yaml",
                              "%s"
                              "targets:\n"
                              "  pg:\n"
                              "    type: postgresql\n"
                              "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                              "    schema: %s\n"
                              "routes:\n%s"
                              "batch:\n"
                              "  linger_ms: 50\n"
                              "retry:\n"
                              "  initial_backoff_ms: 100\n"
                              "  max_backoff_ms: 1000\n",
                              kafka, e->schema, routes);
    free(kafka);
    return cfg;
}

static void produce_good(const char *topic, int64_t seq)
{
    char v[64];
    snprintf(v, sizeof(v), "{\"seq\":%" PRId64 "}", seq);
    ts_produce_str(topic, 0, "k", v);
}

/* A value that is not JSON, of @len bytes that do not compress; free() it. */
static char *bad_value(size_t len, uint64_t seed)
{
    char *v = malloc(len);
    ck_assert(v);
    for (size_t i = 0; i < len; i++)
        v[i] = (char)(' ' + fk_rand(&seed) % 90);
    v[0] = '<'; /* not JSON whatever follows */
    return v;
}

static void wait_committed(env *e, ts_daemon *d, const char *topic, int64_t next, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (!(fk_stored_offset(e->c, e->group, topic) == next && ts_kafka_committed(e->group, topic, 0) == next)) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline,
                      "%s: stored %" PRId64 ", Kafka %" PRId64 ", expected %" PRId64 " within %d ms; log:\n%s", topic,
                      fk_stored_offset(e->c, e->group, topic), ts_kafka_committed(e->group, topic, 0), next,
                      timeout_ms, fk_tail(d));
        usleep(100 * 1000);
    }
}

#define SMALL_LIMIT 20000
#define MID_BYTES 100000
#define BIG_BYTES 2000000

START_TEST(too_large_dead_letters_are_truncated_or_sized_for)
{
    env e;
    env_start(&e, "dlq_size");
    char *small = ts_unique_name("dlqsize_small"), *big = ts_unique_name("dlqsize_big");
    char *dlq_small = ts_unique_name("dead_small"), *dlq_big = ts_unique_name("dead_big");
    ts_kafka_create_topic(small, 1);
    ts_kafka_create_topic(big, 1);
    char limit[64];
    snprintf(limit, sizeof(limit), "max.message.bytes=%d", SMALL_LIMIT);
    fb_create_topic(dlq_small, 1, 1, limit, NULL);
    fb_create_topic(dlq_big, 1, 1, NULL);
    char *mid = bad_value(MID_BYTES, 1), *huge = bad_value(BIG_BYTES, 2);
    produce_good(small, 0);
    ts_produce(small, 0, "k", 1, mid, MID_BYTES); /* @1 */
    produce_good(small, 2);
    produce_good(big, 0);
    ts_produce(big, 0, "k", 1, huge, BIG_BYTES); /* @1 */
    produce_good(big, 2);
    ts_flush();
    char *r1 = route(small, dlq_small), *r2 = route(big, dlq_big), *routes;
    ck_assert(asprintf(&routes, "%s%s", r1, r2) > 0);
    char *cfg = config(&e, NULL, routes);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    wait_committed(&e, d, small, 3, 90000);
    wait_committed(&e, d, big, 3, 90000);

    size_t n = 0;
    fk_msg *m = fk_read_topic(dlq_small, 1, 1, 30000, &n);
    ck_assert_int_eq((int)n, 1);
    ck_assert_msg(m[0].hdr_offset && !strcmp(m[0].hdr_offset, "1"), "sluice.offset %s", m[0].hdr_offset);
    ck_assert_msg(m[0].hdr_truncated && atoll(m[0].hdr_truncated) == MID_BYTES, "sluice.truncated is %s",
                  m[0].hdr_truncated ? m[0].hdr_truncated : "missing");
    ck_assert_msg(m[0].value_len > 0 && m[0].value_len < SMALL_LIMIT && !memcmp(m[0].value, mid, m[0].value_len),
                  "the truncated dead letter holds %zu bytes, not a prefix of the record below %d", m[0].value_len,
                  SMALL_LIMIT);
    printf("%d bytes dead-lettered to a topic of max.message.bytes %d: %zu bytes kept, sluice.truncated: %s\n",
           MID_BYTES, SMALL_LIMIT, m[0].value_len, m[0].hdr_truncated);
    fk_msgs_free(m, n);

    m = fk_read_topic(dlq_big, 1, 1, 30000, &n);
    ck_assert_int_eq((int)n, 1);
    ck_assert_msg(!m[0].hdr_truncated, "a %d-byte dead letter was truncated", BIG_BYTES);
    ck_assert_msg(m[0].value_len == BIG_BYTES && !memcmp(m[0].value, huge, BIG_BYTES),
                  "the %d-byte record was dead-lettered as %zu bytes", BIG_BYTES, m[0].value_len);
    fk_msgs_free(m, n);

    char q[256];
    snprintf(q, sizeof(q), "SELECT string_agg(seq::text, ',' ORDER BY kp, seq) FROM %s.events", e.schema);
    char *rows = ts_pg_text(e.c, q, NULL);
    ck_assert_str_eq(rows, "0,0,2,2");
    free(rows);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(mid);
    free(huge);
    free(r1);
    free(r2);
    free(routes);
    free(cfg);
    free(small);
    free(big);
    free(dlq_small);
    free(dlq_big);
    env_stop(&e);
}
END_TEST

START_TEST(missing_dead_letter_topic_stops_before_the_record)
{
    env e;
    env_start(&e, "dlq_missing");
    char *topic = ts_unique_name("dlqmissing"), *dlq = ts_unique_name("dead_nowhere");
    ts_kafka_create_topic(topic, 1);
    produce_good(topic, 0);
    ts_produce_str(topic, 0, "k", "<not json>"); /* @1 */
    produce_good(topic, 2);
    ts_flush();
    char *r = route(topic, dlq);
    /* how long librdkafka waits for a new topic to appear before failing
     * what was produced to it (30 s by default) */
    char *cfg = config(&e, "  topic.metadata.propagation.max.ms: \"5000\"\n", r);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    ck_assert_msg(ts_daemon_wait(d, 90000), "sluice did not stop; log:\n%s", fk_tail(d));
    ck_assert_msg(ts_daemon_exit_code(d) != 0, "sluice exited 0; log:\n%s", fk_tail(d));
    char want[512];
    snprintf(want, sizeof(want), "cannot dead-letter %s[0]@1 to topic %s", topic, dlq);
    ck_assert_msg(fk_log_count(d, want) == 1, "the log does not say \"%s\":\n%s", want, fk_tail(d));
    /* the good record before it is written and committed, nothing past it */
    ck_assert_int_eq(fk_stored_offset(e.c, e.group, topic), 1);
    ck_assert_int_le(ts_kafka_committed(e.group, topic, 0), 1);
    char q[256];
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s.events", e.schema);
    ck_assert_int_eq(ts_pg_int(e.c, q, NULL), 1);
    ts_daemon_free(d);
    free(r);
    free(cfg);
    free(topic);
    free(dlq);
    env_stop(&e);
}
END_TEST

#define POLL_INTERVAL_MS 6000
#define OUTAGE_MS 15000

START_TEST(unavailable_dead_letter_topic_keeps_the_group)
{
    env e;
    env_start(&e, "dlq_later");
    char *topic = ts_unique_name("dlqlater"), *dlq = ts_unique_name("dead_later");
    ts_kafka_create_topic(topic, 1);
    produce_good(topic, 0);
    ts_produce_str(topic, 0, "k", "{\"noseq\":1}"); /* @1: NULL into seq, refused by the write (bisection) */
    ts_produce_str(topic, 0, "k", "<not json>");    /* @2: refused by the decoder */
    produce_good(topic, 3);
    ts_flush();
    char *r = route(topic, dlq);
    char extra[256];
    snprintf(extra, sizeof(extra),
             "  max.poll.interval.ms: \"%d\"\n"
             "  topic.metadata.propagation.max.ms: \"120000\"\n"
             /* librdkafka gives a dead letter up after 5 s: sluice produces it again */
             "  message.timeout.ms: \"5000\"\n",
             POLL_INTERVAL_MS);
    char *cfg = config(&e, extra, r);
    ts_daemon *d = ts_daemon_start(cfg, e.log);
    int64_t deadline = ts_now_ms() + 60000;
    while (fk_log_count(d, "assigned ") == 0) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited; log:\n%s", fk_tail(d));
        ck_assert_msg(ts_now_ms() < deadline, "no partition assigned; log:\n%s", fk_tail(d));
        usleep(100 * 1000);
    }
    /* the outage, more than twice max.poll.interval.ms: sluice must stay up
     * and in the group all along */
    int64_t t0 = ts_now_ms();
    while (ts_now_ms() - t0 < OUTAGE_MS) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited during the outage; log:\n%s", fk_tail(d));
        usleep(200 * 1000);
    }
    ck_assert_msg(fk_log_count(d, "not acknowledged yet") >= 1, "no dead letter waited; log:\n%s", fk_tail(d));
    ck_assert_msg(fk_log_count(d, "producing it again later") >= 1, "no dead letter was produced again; log:\n%s",
                  fk_tail(d));
    /* nothing committed past @1, whose dead letter is not durable */
    ck_assert_int_le(fk_stored_offset(e.c, e.group, topic), 1);
    ck_assert_int_le(ts_kafka_committed(e.group, topic, 0), 1);
    fb_create_topic(dlq, 1, 1, NULL);
    wait_committed(&e, d, topic, 4, 60000);
    /* both dead letters, each once */
    size_t n = 0;
    fk_msg *m = fk_read_topic(dlq, 1, 2, 30000, &n);
    ck_assert_int_eq((int)n, 2);
    bool seen[2] = {false, false};
    for (size_t i = 0; i < n; i++) {
        int64_t off = m[i].hdr_offset ? atoll(m[i].hdr_offset) : -1;
        const char *want = off == 1 ? "{\"noseq\":1}" : "<not json>";
        ck_assert_msg((off == 1 || off == 2) && !seen[off - 1], "dead letter %zu: sluice.offset %s", i,
                      m[i].hdr_offset ? m[i].hdr_offset : "missing");
        seen[off - 1] = true;
        ck_assert_msg(m[i].value_len == strlen(want) && !memcmp(m[i].value, want, m[i].value_len),
                      "the dead letter of @%" PRId64 " is not the record", off);
    }
    fk_msgs_free(m, n);
    ck_assert_msg(fk_log_count(d, "dead-lettered ") == 2, "not one \"dead-lettered\" line per dead letter; log:\n%s",
                  fk_tail(d));
    /* one assignment, no revocation, no lost partitions, never evicted */
    ck_assert_msg(fk_log_count(d, "assigned ") == 1 && fk_log_count(d, "revoked ") == 0 &&
                      fk_log_count(d, "partitions lost") == 0 && fk_log_count(d, "maximum poll interval") == 0 &&
                      fk_log_count(d, "MAXPOLL") == 0,
                  "the worker left the group during the outage; log:\n%s", fk_tail(d));
    char q[256];
    snprintf(q, sizeof(q), "SELECT string_agg(seq::text, ',' ORDER BY ko) FROM %s.events", e.schema);
    char *rows = ts_pg_text(e.c, q, NULL);
    ck_assert_str_eq(rows, "0,3");
    free(rows);
    printf("dead-letter topic created after %d ms (max.poll.interval.ms %d): no rebalance, records @1 (write) "
           "and @2 (decoder) dead-lettered once each, offsets at 4\n", OUTAGE_MS, POLL_INTERVAL_MS);
    ck_assert_int_eq(ts_daemon_stop(d, 30000), 0);
    ts_daemon_free(d);
    free(r);
    free(cfg);
    free(topic);
    free(dlq);
    env_stop(&e);
}
END_TEST

int main(void)
{
    const char *b = getenv("SLUICE_TEST_BOOTSTRAP");
    if (!b || !*b) {
        printf("SKIP: needs a real Kafka cluster (SLUICE_TEST_BOOTSTRAP; tests/run.sh starts one)\n");
        return TS_SKIP;
    }
    const TTest *tests[] = {too_large_dead_letters_are_truncated_or_sized_for,
                            missing_dead_letter_topic_stops_before_the_record,
                            unavailable_dead_letter_topic_keeps_the_group};
    return fk_main("broker dead letters", tests, 3, 240);
}
