/* test_credentials.c - rotating database credentials against a real
 * PostgreSQL that checks passwords (scram-sha-256 for the test's own role,
 * written into the server's pg_hba.conf): mid-stream the role's password is
 * changed on the server (ALTER ROLE) and where sluice reads it (a
 * ${file:} secret, or the file a password_command prints), and the role's
 * connections are killed (pg_terminate_backend).  sluice reconnects with
 * the new password and nothing is lost: the table holds exactly the
 * model's rows and sluice.offsets the end of every partition.  Neither
 * password ever appears in the log. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "support.h"

#define NPARTS 2
#define NKEYS 50

static PGconn *su;      /* the superuser connection of SLUICE_TEST_DSN */
static char *role;
static char *hba_path, *hba_orig;

/* ALTER ROLE / CREATE ROLE take no parameters: format() quotes them. */
static void role_sql(const char *fmt_sql, const char *password)
{
    char *sql = ts_pg_text(su, fmt_sql, role, password, NULL);
    ck_assert_ptr_nonnull(sql);
    ts_pg_exec(su, sql, NULL);
    free(sql);
}

static bool role_login_refused(void *arg)
{
    (void)arg;
    char dsn[1024];
    snprintf(dsn, sizeof(dsn), "%s user=%s password=not-the-password connect_timeout=5", getenv("SLUICE_TEST_DSN"),
             role);
    PGconn *c = PQconnectdb(dsn);
    bool refused = PQstatus(c) != CONNECTION_OK && strstr(PQerrorMessage(c), "password authentication failed");
    PQfinish(c);
    return refused;
}

/* The role logs in with a password only: a line for it ahead of the
 * server's own (which trust everyone), taken by a reload. */
static void setup_role(const char *password)
{
    su = ts_pg_connect();
    role = ts_unique_name("sluice_rot");
    role_sql("SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', $1::text, $2::text)", password);
    hba_path = ts_pg_text(su, "SHOW hba_file", NULL);
    hba_orig = ts_read_file(hba_path);
    ck_assert_ptr_nonnull(hba_orig);
    FILE *f = fopen(hba_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "host all %s 127.0.0.1/32 scram-sha-256\nhost all %s ::1/128 scram-sha-256\n%s", role, role, hba_orig);
    fclose(f);
    ts_pg_exec(su, "SELECT pg_reload_conf()", NULL);
    ck_assert_msg(ts_wait_until(role_login_refused, NULL, 30000), "the server still lets %s in without its password",
                  role);
}

static void teardown_role(void)
{
    FILE *f = fopen(hba_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(hba_orig, f);
    fclose(f);
    ts_pg_exec(su, "SELECT pg_reload_conf()", NULL);
    ts_pg_exec(su, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role, NULL);
    free(hba_path);
    free(hba_orig);
    free(role);
    PQfinish(su);
}

/* Replace @path's content at once (a secret manager's rename). */
static void put_secret(const char *dir, const char *path, const char *text)
{
    char *tmp = ts_write_file(dir, "secret.tmp", "%s\n", text);
    ck_assert_int_eq(rename(tmp, path), 0);
    free(tmp);
}

static int count_in(const char *path, const char *needle)
{
    char *s = ts_read_file(path);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

/* Kill every connection of the role; returns how many there were. */
static int kill_role_connections(void)
{
    char *n = ts_pg_text(su, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1",
                         role, NULL);
    int k = atoi(n);
    free(n);
    return k;
}

/* One daemon, two targets on the same role: "pgf" reads its password with
 * ${file:} in its dsn, "pgc" from a password_command; each target writes
 * its own topic into its own schema's orders table. */
START_TEST(rotated_password_loses_nothing)
{
    char pw1[64], pw2[64];
    snprintf(pw1, sizeof(pw1), "first-%d-secret", (int)getpid());
    snprintf(pw2, sizeof(pw2), "second-%d-secret", (int)getpid());
    setup_role(pw1);
    ts_kafka_start(1);
    char *sf = ts_pg_fresh_schema(su, "it_cred_file");
    ts_pg_exec(su, sc_orders_table_sql, NULL);
    char *sc = ts_pg_fresh_schema(su, "it_cred_cmd");
    ts_pg_exec(su, sc_orders_table_sql, NULL);
    char *tf = ts_unique_name("cred_file"), *tc = ts_unique_name("cred_cmd"), *group = ts_unique_name("sluice_cred");
    ts_kafka_create_topic(tf, NPARTS);
    ts_kafka_create_topic(tc, NPARTS);
    char *dir = ts_tempdir("cred");
    char *pwfile = ts_write_file(dir, "pw", "%s\n", pw1);
    char *runs = ts_write_file(dir, "runs", "%s", "");
    char *kafka = sc_kafka_yaml(group);
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%stargets:\n"
                                 "  pgf:\n    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN} user=%s password=${file:%s}\"\n"
                                 "  pgc:\n    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN} user=%s\"\n"
                                 "    password_command: \"echo run >> %s; cat %s\"\n"
                                 "retry:\n  initial_backoff_ms: 50\n  max_backoff_ms: 500\n"
                                 "routes:\n"
                                 "  - topics: [%s]\n    target: pgf\n    table: %s.orders\n"
                                 "    format: json\n    mode: upsert\n    delete_on_tombstone: true\n"
                                 "  - topics: [%s]\n    target: pgc\n    table: %s.orders\n"
                                 "    format: json\n    mode: upsert\n    delete_on_tombstone: true\n"
                                 "batch:\n  max_rows: 100\n  linger_ms: 20\n",
                                 kafka, role, pwfile, role, runs, pwfile, tf, sf, tc, sc);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");
    sc_model *mf = sc_model_new(NKEYS, NPARTS, 11), *mc = sc_model_new(NKEYS, NPARTS, 12);

    ts_daemon *d = ts_daemon_start(config, log);
    sc_produce_orders(mf, tf, 200, 10);
    sc_produce_orders(mc, tc, 200, 10);
    sc_wait_committed(group, tf, NPARTS, 120000, log);
    sc_wait_committed(group, tc, NPARTS, 120000, log);
    int connected = count_in(log, "connected to PostgreSQL");
    int ran = count_in(runs, "run");
    ck_assert_int_ge(connected, 2);
    ck_assert_int_ge(ran, 1);

    /* the rotation: the server first, then where sluice reads it, then
     * every connection of the old password gone */
    role_sql("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", pw2);
    put_secret(dir, pwfile, pw2);
    ck_assert_int_ge(kill_role_connections(), 2);
    sc_produce_orders(mf, tf, 200, 10);
    sc_produce_orders(mc, tc, 200, 10);
    sc_wait_committed(group, tf, NPARTS, 120000, log);
    sc_wait_committed(group, tc, NPARTS, 120000, log);
    ck_assert_msg(ts_daemon_running(d), "sluice stopped:\n%s", sc_log_tail(log, 3000));
    ck_assert_int_ge(count_in(log, "connected to PostgreSQL"), connected + 2);
    ck_assert_int_gt(count_in(runs, "run"), ran); /* run again for the new connection */
    ts_pg_exec(su, "SELECT set_config('search_path', $1, false)", sf, NULL);
    sc_assert_orders(su, "orders", mf);
    ts_pg_exec(su, "SELECT set_config('search_path', $1, false)", sc, NULL);
    sc_assert_orders(su, "orders", mc);
    sc_assert_stored_offsets_at_end(su, group, tf, NPARTS);
    sc_assert_stored_offsets_at_end(su, group, tc, NPARTS);

    ck_assert_int_eq(ts_daemon_stop(d, 60000), 0);
    ck_assert_int_eq(count_in(log, pw1), 0);
    ck_assert_int_eq(count_in(log, pw2), 0);
    char *out = NULL;
    ck_assert_int_eq(ts_run(&out, "--print-config", "-c", config, NULL), 0);
    ck_assert_msg(!strstr(out, pw1) && !strstr(out, pw2), "--print-config shows a password:\n%s", out);
    free(out);

    ts_daemon_free(d);
    sc_model_free(mf);
    sc_model_free(mc);
    free(log);
    free(config);
    free(kafka);
    free(runs);
    free(pwfile);
    free(dir);
    free(tf);
    free(tc);
    free(group);
    free(sf);
    free(sc);
    ts_kafka_stop();
    teardown_role();
}
END_TEST

int main(void)
{
    const TTest *tests[] = {rotated_password_loses_nothing};
    return sc_main("credentials", tests, 1);
}
