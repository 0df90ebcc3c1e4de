/* test_broker_security.c - sluice through TLS and SASL, end to end, against
 * brokers of its own (tests/support/kafka.sh start DIR --sasl: a SASL_SSL listener
 * with SCRAM-SHA-512 and PLAIN and a certificate from a test CA made with
 * openssl) and a PostgreSQL server of its own with a certificate from a test
 * CA.  Checks that records flow with the right credentials; that a wrong
 * password gives an error naming the broker and "authentication" within
 * bounded time (non-zero exit under --check, a bounded number of log lines
 * from the daemon) and that the password appears in no output; that SCRAM
 * works on a Kafka 3 broker and, with a librdkafka older than 2.6.1, fails
 * on a Kafka 4 broker with a hint saying why; and that sslmode=verify-full
 * accepts the server's CA and rejects another one clearly.
 * Needs java, mvn and kcat (skipped without them). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "faults.h"

#define NRECORDS 200
#define WRONG_PASSWORD "Wr0ng-pa55word-for-the-test"
#define CHECK_BOUND_MS 30000

typedef struct sasl_env {
    char bootstrap[256], username[64], password[128], ca[1024];
} sasl_env;

static void read_sasl_env(const char *dir, sasl_env *e)
{
    char *path;
    ck_assert(asprintf(&path, "%s/sasl.env", dir) > 0);
    char *text = ts_read_file(path);
    ck_assert_msg(text != NULL, "no %s", path);
    memset(e, 0, sizeof(*e));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq++ = '\0';
        if (!strcmp(line, "SLUICE_TEST_SASL_BOOTSTRAP"))
            snprintf(e->bootstrap, sizeof(e->bootstrap), "%s", eq);
        else if (!strcmp(line, "SLUICE_TEST_SASL_USERNAME"))
            snprintf(e->username, sizeof(e->username), "%s", eq);
        else if (!strcmp(line, "SLUICE_TEST_SASL_PASSWORD"))
            snprintf(e->password, sizeof(e->password), "%s", eq);
        else if (!strcmp(line, "SLUICE_TEST_SASL_CA"))
            snprintf(e->ca, sizeof(e->ca), "%s", eq);
    }
    ck_assert_msg(e->bootstrap[0] && e->username[0] && e->password[0] && e->ca[0], "incomplete %s", path);
    free(text);
    free(path);
}

/* A configuration reading @topic through the SASL_SSL listener into @qtable. */
static char *sasl_config(const char *dir, const sasl_env *e, const char *mechanism, const char *password,
                         const char *group, const char *topic, const char *qtable)
{
    char *kafka;
    ck_assert(asprintf(&kafka,
                       "kafka:\n"
                       "  bootstrap.servers: \"%s\"\n"
                       "  group.id: \"%s\"\n"
                       "  auto.offset.reset: earliest\n"
                       "  session.timeout.ms: \"6000\"\n"
                       "  heartbeat.interval.ms: \"500\"\n"
                       "  security.protocol: SASL_SSL\n"
                       "  sasl.mechanism: %s\n"
                       "  sasl.username: \"%s\"\n"
                       "  sasl.password: \"%s\"\n"
                       "  ssl.ca.location: \"%s\"\n",
                       e->bootstrap, group, mechanism, e->username, password, e->ca) > 0);
    char *cfg = fk_events_config(dir, kafka, topic, qtable, "batch:\n  linger_ms: 50\n");
    free(kafka);
    return cfg;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (!strncasecmp(p, needle, n))
            return true;
    return false;
}

/* `sluice --check -c @cfg`: its exit code, output in *@out, time in *@ms. */
static int run_check(const char *cfg, char **out, int64_t *ms)
{
    int64_t t0 = ts_now_ms();
    int code = ts_run(out, "--check", "-c", cfg, NULL);
    *ms = ts_now_ms() - t0;
    return code;
}

static void produce_records(const char *topic, int partitions)
{
    for (int i = 0; i < NRECORDS; i++) {
        char v[32];
        int len = snprintf(v, sizeof(v), "{\"seq\":%d}", i);
        ts_produce(topic, i % partitions, NULL, 0, v, (size_t)len);
    }
    ts_flush();
}

/* The daemon reads every record through @cfg; exits 0 on SIGTERM. */
static void consume_all(PGconn *c, const char *cfg, const char *dir, const char *qtable, const char *group,
                        const char *topic, int partitions, const char *secret)
{
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    fk_wait_at_end(d, group, topic, partitions, 90000);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    fk_assert_exact(c, qtable, group, topic, partitions, NRECORDS);
    char *text = ts_daemon_log(d);
    ck_assert_msg(!secret || !strstr(text, secret), "the password appears in the daemon's log");
    free(text);
    ts_daemon_free(d);
    free(log);
}

/* A wrong password: --check fails in bounded time naming the broker and
 * "authentication"; the daemon keeps running, reports it a bounded number
 * of times and never prints the password. */
static void wrong_password(const sasl_env *e, const char *mechanism, const char *topic, const char *qtable)
{
    char *dir = ts_tempdir("broker_security_wrong");
    char *group = ts_unique_name("sluice_wrong");
    char *cfg = sasl_config(dir, e, mechanism, WRONG_PASSWORD, group, topic, qtable);
    char *out = NULL;
    int64_t ms;
    int code = run_check(cfg, &out, &ms);
    char broker[64];
    snprintf(broker, sizeof(broker), "%.*s", (int)strcspn(e->bootstrap, ","), e->bootstrap);
    printf("--- sluice --check, %s, wrong password: exit %d after %lld ms\n%s", mechanism, code, (long long)ms, out);
    ck_assert_msg(code != 0, "--check passed with a wrong password");
    ck_assert_msg(ms < CHECK_BOUND_MS, "--check took %lld ms", (long long)ms);
    ck_assert_msg(strstr(out, broker) && contains_ci(out, "authentication"),
                  "--check output does not name %s and authentication:\n%s", broker, out);
    ck_assert_msg(!strstr(out, WRONG_PASSWORD), "the password appears in --check's output");
    free(out);

    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    ts_daemon *d = ts_daemon_start(cfg, log);
    int64_t t0 = ts_now_ms();
    while (ts_now_ms() - t0 < 10000) {
        ck_assert_msg(ts_daemon_running(d), "sluice exited on a wrong password; log:\n%s", fk_tail(d));
        usleep(200 * 1000);
    }
    int reports = fk_log_count(d, "uthentication");
    int lines = fk_log_count(d, "\n");
    char *text = ts_daemon_log(d);
    ck_assert_msg(!strstr(text, WRONG_PASSWORD), "the password appears in the daemon's log");
    ck_assert_msg(reports >= 1 && strstr(text, broker), "the daemon did not report the failed authentication at %s:\n%s",
                  broker, text);
    /* librdkafka retries with a back-off growing to 10 s: a handful of lines */
    ck_assert_msg(lines < 60, "%d log lines in 10 s with a wrong password:\n%s", lines, text);
    printf("--- the daemon with a wrong password, 10 s: %d log lines, %d name authentication, the first:\n", lines,
           reports);
    const char *first = strstr(text, "uthentication");
    if (first) {
        const char *bol = first;
        while (bol > text && bol[-1] != '\n')
            bol--;
        printf("%.*s\n", (int)strcspn(bol, "\n"), bol);
    }
    free(text);
    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ts_daemon_free(d);
    free(log);
    free(cfg);
    free(group);
    free(dir);
}

static void with_sasl_broker(const char *version, const char *mechanism, bool expect_login)
{
    if (version)
        setenv("SLUICE_KAFKA_VERSION", version, 1);
    char *kdir = fb_start(1, "--sasl");
    unsetenv("SLUICE_KAFKA_VERSION");
    sasl_env e;
    read_sasl_env(kdir, &e);
    ts_kafka_start(1); /* produces through the plaintext listener */
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "broker_sasl");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *topic = ts_unique_name("sasl");
    ts_kafka_create_topic(topic, 2);
    produce_records(topic, 2);

    char *dir = ts_tempdir("broker_security");
    char *group = ts_unique_name("sluice_sasl");
    char *cfg = sasl_config(dir, &e, mechanism, e.password, group, topic, qtable);
    char *out = NULL;
    int64_t ms;
    int code = run_check(cfg, &out, &ms);
    printf("--- Kafka %s, %s over SASL_SSL, the right password: sluice --check exit %d after %lld ms\n%s",
           version ? version : "(default)", mechanism, code, (long long)ms, out);
    ck_assert_msg(!strstr(out, e.password), "the password appears in --check's output");
    if (expect_login) {
        ck_assert_msg(code == 0, "--check failed:\n%s", out);
        consume_all(c, cfg, dir, qtable, group, topic, 2, e.password);
        printf("%d records read through SASL_SSL (%s) and stored exactly once\n", NRECORDS, mechanism);
    } else {
        /* librdkafka < 2.6.1 against Kafka 4: SCRAM fails, and --check says why */
        ck_assert_msg(code != 0 && contains_ci(out, "authentication") && strstr(out, "2.6.1"),
                      "expected a failed SCRAM login with a hint naming librdkafka 2.6.1:\n%s", out);
    }
    free(out);
    wrong_password(&e, mechanism, topic, qtable);

    free(cfg);
    free(group);
    free(dir);
    free(topic);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
    fb_stop(kdir);
}

START_TEST(kafka4_sasl_ssl_plain)
{
    with_sasl_broker(NULL, "PLAIN", true);
}
END_TEST

START_TEST(kafka4_sasl_ssl_scram_sha_512)
{
    /* fixed in librdkafka 2.6.1: Kafka 4 checks the SCRAM nonce strictly */
    with_sasl_broker(NULL, "SCRAM-SHA-512", rd_kafka_version() >= 0x020601ff);
}
END_TEST

START_TEST(kafka3_sasl_ssl_scram_sha_512)
{
    with_sasl_broker("3.9.1", "SCRAM-SHA-512", true);
}
END_TEST

/* A CA and a server certificate for 127.0.0.1 and localhost in @dir. */
static void make_ca(const char *dir, const char *name)
{
    char *cmd;
    ck_assert(asprintf(&cmd,
                       "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=%s' "
                       "-keyout %s.key -out %s.pem 2>/dev/null && "
                       "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key "
                       "-out server.csr 2>/dev/null && "
                       "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' >san.ext && "
                       "openssl x509 -req -in server.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
                       "-extfile san.ext -out server.pem 2>/dev/null && chmod 600 server.key",
                       dir, name, name, name, name, name) > 0);
    ck_assert_msg(system(cmd) == 0, "openssl failed: %s", cmd);
    free(cmd);
}

START_TEST(postgresql_verify_full)
{
    char *tls = ts_tempdir("pg_tls");
    ck_assert(chmod(tls, 0755) == 0);
    make_ca(tls, "ca");
    char *other = ts_tempdir("pg_tls_other");
    make_ca(other, "other-ca");
    if (getuid() == 0) {
        char *cmd;
        ck_assert(asprintf(&cmd, "chown postgres: '%s/server.key' '%s/server.pem'", tls, tls) > 0);
        ck_assert(system(cmd) == 0);
        free(cmd);
    }
    char *conf;
    ck_assert(asprintf(&conf, "ssl = on\nssl_cert_file = '%s/server.pem'\nssl_key_file = '%s/server.key'", tls, tls) >
              0);
    setenv("SLUICE_PG_CONF", conf, 1);
    char *pgdir = fk_pg_private_start();
    unsetenv("SLUICE_PG_CONF");
    const char *plain_dsn = ts_pg_dsn();

    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "sec_pgtls");
    ts_pg_exec(c, "CREATE TABLE events (seq bigint NOT NULL, kp int NOT NULL, ko bigint NOT NULL)", NULL);
    char qtable[256];
    snprintf(qtable, sizeof(qtable), "%s.events", schema);
    char *topic = ts_unique_name("pgtls");
    ts_kafka_create_topic(topic, 2);
    produce_records(topic, 2);

    const char *cas[2] = {"ca", "other-ca"};
    const char *dirs[2] = {tls, other};
    for (int i = 0; i < 2; i++) {
        char *dsn;
        ck_assert(asprintf(&dsn, "%s sslmode=verify-full sslrootcert=%s/%s.pem", plain_dsn, dirs[i], cas[i]) > 0);
        setenv("SLUICE_TEST_TLS_DSN", dsn, 1);
        char *dir = ts_tempdir("pg_tls_run");
        char *group = ts_unique_name("sluice_pgtls");
        char *kafka = ts_kafka_yaml(group, NULL);
        char *cfg = ts_write_file(dir, "sluice.yaml",
                                  "%s"
                                  "targets:\n"
                                  "  pg:\n"
                                  "    type: postgresql\n"
                                  "    dsn: \"${SLUICE_TEST_TLS_DSN}\"\n"
                                  "routes:\n"
                                  "  - topics: [%s]\n"
                                  "    target: pg\n"
                                  "    table: %s\n"
                                  "    mode: insert\n"
                                  "    add_columns:\n"
                                  "      kp: kafka.partition\n"
                                  "      ko: kafka.offset\n",
                                  kafka, topic, qtable);
        char *out = NULL;
        int64_t ms;
        int code = run_check(cfg, &out, &ms);
        printf("--- PostgreSQL with sslmode=verify-full, sslrootcert %s.pem: sluice --check exit %d after %lld ms\n%s",
               cas[i], code, (long long)ms, out);
        if (i == 0) {
            ck_assert_msg(code == 0, "--check failed with the server's CA:\n%s", out);
            /* verify-full: libpq connects over TLS or not at all */
            consume_all(c, cfg, dir, qtable, group, topic, 2, NULL);
            printf("%d records stored over TLS (verify-full)\n", NRECORDS);
        } else {
            ck_assert_msg(code != 0 && contains_ci(out, "certificate"),
                          "--check with another CA must fail naming the certificate:\n%s", out);
        }
        free(out);
        free(cfg);
        free(kafka);
        free(group);
        free(dir);
        free(dsn);
    }
    free(topic);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
    fk_pg_private_stop(pgdir);
    free(conf);
    free(other);
    free(tls);
}
END_TEST

int main(void)
{
    if (!fb_available())
        return TS_SKIP;
    const TTest *tests[] = {kafka4_sasl_ssl_plain, kafka4_sasl_ssl_scram_sha_512, kafka3_sasl_ssl_scram_sha_512,
                            postgresql_verify_full};
    return fk_main("broker security", tests, 4, 300);
}
