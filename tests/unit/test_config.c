/* Configuration: the option table, line numbers in errors, defaults, ${ENV}. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/kafka.h"
#include "runner.h"
#include "support.h"
#include "sluice/log.h"
#include "sluice/redact.h"

static char path[64];

static sl_config *load(const char *text, sl_error *err)
{
    snprintf(path, sizeof(path), "/tmp/sluice-test-config-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    sl_config *cfg = sl_config_load(path, err);
    unlink(path);
    return cfg;
}

/* The error must start with "FILE:LINE: " and contain @needle. */
static void expect_error(const char *text, int line, const char *needle)
{
    sl_error err;
    sl_config *cfg = load(text, &err);
    ck_assert_msg(cfg == NULL, "expected an error containing '%s'", needle);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", err.msg, prefix);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' does not contain '%s'", err.msg, needle);
}

#define BASE                                                                                      \
    "kafka:\n"                                                                                    \
    "  bootstrap.servers: 127.0.0.1:9092\n"                                                       \
    "  group.id: g\n"                                                                             \
    "targets:\n"                                                                                  \
    "  pg:\n"                                                                                     \
    "    type: postgresql\n"                                                                      \
    "    dsn: \"host=x\"\n"

START_TEST(full_example_loads_with_defaults)
{
    sl_error err;
    sl_config *cfg = load(BASE "routes:\n"
                               "  - topics: [orders, refunds]\n"
                               "    target: pg\n"
                               "    table: public.orders\n"
                               "    key: [id]\n"
                               "    delete_on_tombstone: true\n"
                               "    columns:\n"
                               "      customer_id: /customer/id\n"
                               "batch:\n"
                               "  max_rows: 500\n"
                               "  max_bytes: 8MiB\n"
                               "  linger_ms: 250ms\n"
                               "workers: 2\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->batch.max_rows, 500);
    ck_assert_int_eq(cfg->batch.max_bytes, 8 * 1024 * 1024);
    ck_assert_int_eq(cfg->batch.linger_ms, 250);
    ck_assert_int_eq(cfg->workers, 2);
    ck_assert_int_eq(cfg->retry.initial_backoff_ms, 200);
    ck_assert_int_eq(cfg->retry.max_backoff_ms, 30000);
    ck_assert_uint_eq(cfg->nroutes, 1);
    const sl_route_conf *r = &cfg->routes[0];
    ck_assert_str_eq(r->name, "route 1");
    ck_assert_uint_eq(r->ntopics, 2);
    ck_assert_str_eq(r->topics[1], "refunds");
    ck_assert_ptr_eq(r->target, &cfg->targets[0]);
    ck_assert_int_eq(r->format, SL_FMT_JSON);
    ck_assert_int_eq(r->mode, SL_MODE_UPSERT);
    ck_assert_int_eq(r->on_error, SL_ONERR_FAIL);
    ck_assert(r->delete_on_tombstone);
    ck_assert_uint_eq(r->ncolumns, 1);
    ck_assert_str_eq(r->columns[0].key, "customer_id");
    ck_assert_str_eq(r->columns[0].value, "/customer/id");
    ck_assert_int_eq(cfg->targets[0].delivery, SL_DELIVERY_EXACTLY_ONCE);
    ck_assert_str_eq(cfg->targets[0].schema, "public");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "group.id"), "g");
    ck_assert_ptr_eq(sl_config_route_for_topic(cfg, "refunds"), r);
    ck_assert_ptr_null(sl_config_route_for_topic(cfg, "other"));
    sl_config_free(cfg);
}
END_TEST

START_TEST(json_file_loads)
{
    sl_error err;
    sl_config *cfg = load("{\"kafka\": {\"bootstrap.servers\": \"k:9092\", \"group.id\": \"g\"},\n"
                          " \"targets\": {\"pg\": {\"type\": \"postgresql\", \"dsn\": \"host=x\"}},\n"
                          " \"routes\": [{\"topic_pattern\": \"^shop\\\\..*\", \"target\": \"pg\", \"table\": \"${topic}\"}]}\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->routes[0].topic_pattern, "^shop\\..*");
    ck_assert_str_eq(cfg->routes[0].table, "${topic}");
    ck_assert_ptr_eq(sl_config_route_for_topic(cfg, "shop.orders"), &cfg->routes[0]);
    ck_assert_ptr_null(sl_config_route_for_topic(cfg, "shopXorders"));
    sl_config_free(cfg);
}
END_TEST

START_TEST(env_substitution)
{
    setenv("SLUICE_TEST_HOST", "db.example", 1);
    unsetenv("SLUICE_TEST_UNSET");
    sl_error err;
    sl_config *cfg = load("kafka:\n  bootstrap.servers: ${SLUICE_TEST_UNSET:-k:9092}\n  group.id: g\n"
                          "targets:\n  pg:\n    type: postgresql\n    dsn: \"host=${SLUICE_TEST_HOST} port=5432\"\n"
                          "routes:\n  - topics: [t]\n    target: pg\n    table: \"${topic}_${source.table}\"\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->targets[0].dsn, "host=db.example port=5432");
    ck_assert_str_eq(sl_config_kafka_get(cfg, "bootstrap.servers"), "k:9092");
    ck_assert_str_eq(cfg->routes[0].table, "${topic}_${source.table}");
    sl_config_free(cfg);
    expect_error("kafka:\n  bootstrap.servers: k\n  group.id: g\ntargets:\n  pg:\n    type: postgresql\n"
                 "    dsn: \"host=${SLUICE_TEST_UNSET}\"\n",
                 7, "targets.pg.dsn: environment variable SLUICE_TEST_UNSET is not set");
}
END_TEST

/* auto_evolve is a level; true and false keep their old meaning */
START_TEST(auto_evolve_levels)
{
    static const struct {
        const char *v;
        sl_evolve want;
    } cases[] = {{"false", SL_EVOLVE_OFF}, {"no", SL_EVOLVE_OFF},           {"true", SL_EVOLVE_ADD_COLUMNS},
                 {"on", SL_EVOLVE_ADD_COLUMNS}, {"add_columns", SL_EVOLVE_ADD_COLUMNS}, {"widen", SL_EVOLVE_WIDEN}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    auto_evolve: %s\n",
                 cases[i].v);
        sl_error err;
        sl_config *cfg = load(yaml, &err);
        ck_assert_msg(cfg != NULL, "%s: %s", cases[i].v, err.msg);
        ck_assert_int_eq(cfg->routes[0].auto_evolve, cases[i].want);
        sl_config_free(cfg);
    }
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    auto_evolve: narrow\n", 12,
                 "routes[0].auto_evolve: 'narrow' is not one of: false, add_columns, widen");
}
END_TEST

START_TEST(errors_name_file_line_key)
{
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    tabel: x\n", 12,
                 "unknown key 'routes[0].tabel'");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\nbatch:\n  max_rows: lots\n", 13,
                 "batch.max_rows: expected an integer, got 'lots'");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n", 9, "missing required key 'routes[0].table'");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: nope\n    table: t\n", 10,
                 "routes[0].target: no target named 'nope'");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    mode: merge\n", 12,
                 "routes[0].mode: 'merge' is not one of: upsert, insert");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    delete_on_tombstone: maybe\n", 12,
                 "expected true or false");
    expect_error(BASE "routes:\n  - target: pg\n    table: t\n", 9, "give exactly one of topics or topic_pattern");
    expect_error(BASE "routes:\n  - topic_pattern: 'shop.*'\n    target: pg\n    table: t\n", 9, "must start with ^");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    on_error: dlq\n", 12,
                 "needs exactly one of dlq_topic or dlq_table");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    mode: insert\n"
                      "    delete_on_tombstone: true\n",
                 13, "deletes need a key");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\nworkers: 0\n", 12,
                 "workers: must be between 1 and 64");
    /* bounds come from the option table and name the value's own line */
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\nbatch:\n  linger_ms: 5\n"
                      "  max_bytes: 512\n",
                 14, "batch.max_bytes: must be at least 1KiB");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\n    auto_create_max: 0\n", 12,
                 "routes[0].auto_create_max: must be at least 1");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\nshutdown_timeout: 900ms\n", 12,
                 "shutdown_timeout: must be at least 1s");
    expect_error(BASE "routes:\n  - topics: [t]\n    target: pg\n    table: t\nworkers: 65\n", 12,
                 "workers: must be between 1 and 64");
    expect_error(BASE "routes: []\nfoo: 1\n", 9, "unknown key 'foo'");
    expect_error("kafka:\n  group.id: g\ntargets:\n  pg:\n    type: postgresql\n    dsn: x\nroutes: []\n", 2,
                 "kafka.bootstrap.servers");
    expect_error(BASE "    url: http://x\nroutes: []\n", 6, "url is for cratedb targets");
    expect_error("kafka:\n  bootstrap.servers: k\n  group.id: g\n  enable.auto.commit: true\n"
                 "targets:\n  c:\n    type: cratedb\n    url: http://x\nroutes: []\n",
                 2, "it must be false");
    expect_error("kafka:\n  bootstrap.servers: k\n  group.id: g\ntargets:\n  c:\n    type: cratedb\n    url: http://x\n"
                 "    delivery: exactly-once\n",
                 6, "CrateDB has no transactions");
    /* YAML syntax errors come from libyaml, with line and column */
    sl_error err;
    ck_assert_ptr_null(load(BASE "routes:\n  - topics: [t\n", &err));
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:10:1: ", path);
    ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s", err.msg);
}
END_TEST

/* kafka: properties go to the client that reads them: the consumer gets no
 * producer-only property (librdkafka would warn at every start), the
 * dead-letter producer no consumer-only one. */
START_TEST(kafka_properties_split_by_client)
{
    sl_error err;
    sl_config *cfg = load("kafka:\n  bootstrap.servers: 127.0.0.1:9092\n  group.id: g\n"
                          "  message.timeout.ms: 12345\n  fetch.wait.max.ms: 77\n"
                          "targets:\n  pg:\n    type: postgresql\n    dsn: \"host=x\"\n"
                          "routes:\n  - topics: [t]\n    target: pg\n    table: t\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    char es[256], v[64];
    size_t n;
    rd_kafka_conf_t *consumer = sl_kafka_conf(cfg, false, es, sizeof(es));
    rd_kafka_conf_t *producer = sl_kafka_conf(cfg, true, es, sizeof(es));
    ck_assert(consumer && producer);
    n = sizeof(v);
    ck_assert(rd_kafka_conf_get(consumer, "fetch.wait.max.ms", v, &n) == RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "77");
    n = sizeof(v);
    ck_assert(rd_kafka_conf_get(producer, "message.timeout.ms", v, &n) == RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "12345");
    n = sizeof(v);
    v[0] = '\0';
    rd_kafka_conf_get(consumer, "message.timeout.ms", v, &n);
    ck_assert_str_ne(v, "12345");
    n = sizeof(v);
    v[0] = '\0';
    rd_kafka_conf_get(producer, "fetch.wait.max.ms", v, &n);
    ck_assert_str_ne(v, "77");
    rd_kafka_conf_destroy(consumer);
    rd_kafka_conf_destroy(producer);
    sl_config_free(cfg);
}
END_TEST

START_TEST(sizes_and_durations)
{
    ck_assert_int_eq(sl_parse_size("8MiB"), 8388608);
    ck_assert_int_eq(sl_parse_size("512k"), 524288);
    ck_assert_int_eq(sl_parse_size("1000"), 1000);
    ck_assert_int_eq(sl_parse_size("1.5GiB"), 1610612736LL);
    ck_assert_int_eq(sl_parse_size("8 parsecs"), -1);
    ck_assert_int_eq(sl_parse_duration_ms("100ms"), 100);
    ck_assert_int_eq(sl_parse_duration_ms("5s"), 5000);
    ck_assert_int_eq(sl_parse_duration_ms("2m"), 120000);
    ck_assert_int_eq(sl_parse_duration_ms("250"), 250);
    ck_assert_int_eq(sl_parse_duration_ms("-1s"), -1);
}
END_TEST


/* ${file:/path}: the file's content without its trailing newline, never
 * printed by --print-config; errors name the path, not the content. */
START_TEST(file_secrets)
{
    char secret[96], missing[96];
    snprintf(secret, sizeof(secret), "/tmp/sluice-test-secret-%d", (int)getpid());
    snprintf(missing, sizeof(missing), "/tmp/sluice-test-missing-%d", (int)getpid());
    FILE *f = fopen(secret, "w");
    fputs("pa ss'word\n", f);
    fclose(f);
    char text[1024];
    snprintf(text, sizeof(text),
             "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n  sasl.password: ${file:%s}\n"
             "targets:\n  pg:\n    type: postgresql\n    dsn: \"host=h password=${file:%s}\"\n"
             "  crate:\n    type: cratedb\n    url: http://crate:4200\n    user: crate\n"
             "    password: \"${file:%s}\"\n"
             "routes:\n  - topics: [t]\n    target: pg\n    table: \"${topic}\"\n",
             secret, secret, secret);
    sl_error err;
    sl_config *cfg = load(text, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(sl_config_kafka_get(cfg, "sasl.password"), "pa ss'word");
    ck_assert_str_eq(cfg->targets[0].dsn, "host=h password=pa ss'word");
    ck_assert_str_eq(cfg->targets[1].password, "pa ss'word");
    ck_assert_str_eq(cfg->routes[0].table, "${topic}");

    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    sl_config_print(cfg, m);
    fclose(m);
    ck_assert_msg(strstr(out, "pa ss") == NULL, "a secret was printed:\n%s", out);
    ck_assert_msg(strstr(out, "\"sasl.password\": \"***\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "dsn: \"***\"") != NULL, "%s", out);
    sl_config_free(cfg);
    free(out);

    snprintf(text, sizeof(text), BASE "    password: ${file:%s}\nroutes: []\n", missing);
    cfg = load(text, &err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err.msg, ":8: targets.pg.password: ${file:") && strstr(err.msg, "cannot open"), "%s", err.msg);
    expect_error(BASE "    password: ${file:relative/path}\nroutes: []\n", 8, "the path must be absolute");
    unlink(secret);
}
END_TEST

/* --print-config: every default filled in, passwords inside DSNs hidden, and
 * the output loads again to the same configuration. */
START_TEST(print_config_round_trips)
{
    sl_error err;
    sl_config *cfg = load("kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
                          "targets:\n  pg:\n    type: postgresql\n"
                          "    dsn: \"host=h user=u password='x y' dbname=d\"\n"
                          "  uri:\n    type: postgresql\n    dsn: \"postgresql://u:hunter2@h:5432/d?sslmode=require\"\n"
                          "routes:\n  - name: orders\n    topics: [orders, refunds]\n    target: pg\n"
                          "    table: public.orders\n    key: [id]\n    columns:\n      cid: /customer/id\n"
                          "    on_error: dlq\n    dlq_table: sluice.dead\n"
                          "  - name: \"literal $${HOME}\"\n    topics: [t]\n    target: pg\n    table: \"raw_${topic}\"\n"
                          "batch:\n  linger_ms: 250ms\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    sl_config_print(cfg, m);
    fclose(m);
    ck_assert_msg(strstr(out, "dsn: \"host=h user=u password=*** dbname=d\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "dsn: \"postgresql://u:***@h:5432/d?sslmode=require\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "hunter2") == NULL && strstr(out, "x y") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "max_rows: 30000") != NULL, "defaults missing:\n%s", out);
    ck_assert_msg(strstr(out, "linger_ms: 250ms") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "delivery: exactly-once") != NULL, "%s", out);
    sl_config *again = load(out, &err);
    ck_assert_msg(again != NULL, "printed configuration does not load: %s\n%s", err.msg, out);
    ck_assert_str_eq(again->routes[0].name, "orders");
    /* a literal ${ stays literal, a table's template stays a template */
    ck_assert_str_eq(cfg->routes[1].name, "literal ${HOME}");
    ck_assert_str_eq(again->routes[1].name, "literal ${HOME}");
    ck_assert_str_eq(again->routes[1].table, "raw_${topic}");
    ck_assert_uint_eq(again->routes[0].ntopics, 2);
    ck_assert_str_eq(again->routes[0].columns[0].value, "/customer/id");
    ck_assert_int_eq(again->routes[0].on_error, SL_ONERR_DLQ);
    ck_assert_int_eq(again->batch.linger_ms, 250);
    ck_assert_int_eq(again->batch.max_bytes, cfg->batch.max_bytes);
    ck_assert_int_eq(again->targets[1].connect_timeout_ms, cfg->targets[1].connect_timeout_ms);
    sl_config_free(again);
    sl_config_free(cfg);
    free(out);
}
END_TEST

/* docs/configuration.md and configs/ must mention every option. */
START_TEST(docs_are_generated_from_the_table)
{
    char *doc = ts_read_file(SOURCE_ROOT "/docs/configuration.md");
    ck_assert_msg(doc != NULL, "docs/configuration.md is missing");
    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    sl_config_write_docs(f);
    fclose(f);
    ck_assert_msg(strcmp(doc, gen) == 0,
                  "docs/configuration.md is out of date: regenerate it with `sluice --config-docs > docs/configuration.md`");
    char *example = ts_read_file(SOURCE_ROOT "/configs/sluice.yaml");
    ck_assert_msg(example != NULL, "configs/sluice.yaml is missing");
    for (const char *const *n = sl_config_option_names(); *n; n++) {
        const char *leaf = strrchr(*n, '.') ? strrchr(*n, '.') + 1 : *n;
        if (!strncmp(*n, "targets", 7) && !strcmp(leaf, "targets"))
            continue;
        ck_assert_msg(strstr(example, leaf) != NULL, "configs/sluice.yaml does not mention %s", *n);
    }
    free(doc);
    free(gen);
    free(example);
}
END_TEST

/* URLs and DSNs redacted with libcurl's and libpq's own parsers; messages
 * scrubbed of every configured secret; options that do not apply to a
 * target's type refused. */
START_TEST(credentials)
{
    char *s = sl_redact_url("http://user:p%40ss@host:4200/x?a=1");
    ck_assert_str_eq(s, "http://user:***@host:4200/x?a=1");
    free(s);
    s = sl_redact_url("https://host/?password=hunter2");
    ck_assert_ptr_null(strstr(s, "hunter2"));
    free(s);
    s = sl_redact_url("http://host:4200");
    ck_assert_str_eq(s, "http://host:4200/");
    free(s);
    s = sl_url_password("http://user:p%40ss@host/");
    ck_assert_str_eq(s, "p@ss");
    free(s);
    s = sl_redact_dsn("host=db port=5433 password='a b\\'c' dbname=x");
    ck_assert_ptr_null(strstr(s, "a b"));
    ck_assert_ptr_nonnull(strstr(s, "password=***"));
    ck_assert_ptr_nonnull(strstr(s, "host=db"));
    free(s);
    s = sl_redact_dsn("postgresql://u:pw1234@db/x?sslmode=require");
    ck_assert_ptr_null(strstr(s, "pw1234"));
    ck_assert_ptr_nonnull(strstr(s, "sslmode=require"));
    free(s);
    /* a malformed %-escape: libpq's message would quote the password */
    s = sl_redact_dsn("postgresql://u:pw1234@db/x?a=%zz");
    ck_assert_ptr_null(strstr(s, "pw1234"));
    free(s);
    ck_assert(!sl_dsn_parses("postgresql://u:pw1234@db/x?a=%zz"));

    sl_secret_add("topsecret-42");
    sl_error err;
    sl_error_set(&err, SL_ERR_FATAL, "connect to http://u:%s@h failed: %s", "topsecret-42", "topsecret-42!");
    ck_assert_str_eq(err.msg, "connect to http://u:***@h failed: ***!");
    sl_error_prefix(&err, "topsecret-42: ");
    ck_assert_ptr_null(strstr(err.msg, "topsecret-42"));

    /* the DSN's password, the URL's userinfo and ${file:} contents are remembered */
    sl_config *cfg = load("kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
                          "targets:\n  pg:\n    type: postgresql\n    dsn: \"host=10.1.2.3 password=dsnpass-7\"\n"
                          "  crate:\n    type: cratedb\n    url: \"http://cu:urlpass-8@crate:4200\"\n"
                          "routes:\n  - topics: [t]\n    target: pg\n    table: t\n", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    sl_config_free(cfg);
    sl_error_set(&err, SL_ERR_DATA, "dsnpass-7 urlpass-8");
    ck_assert_str_eq(err.msg, "*** ***");

    /* log lines: one per message, control characters escaped, secrets scrubbed */
    char logpath[64];
    snprintf(logpath, sizeof(logpath), "/tmp/sluice-test-log-%d", (int)getpid());
    int saved = dup(2);
    FILE *lf = fopen(logpath, "w+");
    dup2(fileno(lf), 2);
    log_error("test", "field \"a\nb\x1b[31m\" from urlpass-8\t!");
    dup2(saved, 2);
    close(saved);
    char line[256] = "";
    rewind(lf);
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), lf));
    fclose(lf);
    unlink(logpath);
    ck_assert_msg(strstr(line, "[test] field \"a\\nb\\x1b[31m\" from ***\\t!\n"), "%s", line);

    /* ca_file, insecure, user, password belong to CrateDB's HTTP url */
    expect_error(BASE "    ca_file: /etc/ssl/ca.pem\n"
                      "routes:\n  - topics: [t]\n    target: pg\n    table: t\n",
                 8, "targets.pg.ca_file: applies only to a cratedb target's HTTP url");
    expect_error(BASE "    insecure: true\n"
                      "routes:\n  - topics: [t]\n    target: pg\n    table: t\n",
                 8, "targets.pg.insecure");
}
END_TEST

static char *printed(const sl_config *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    sl_config_print(cfg, m);
    fclose(m);
    return out;
}

/* Issue 22, finding 6: --print-config showed sslpassword= (the client
 * key's passphrase) in both DSN forms. */
START_TEST(print_config_hides_sslpassword_in_both_dsn_forms)
{
    sl_error err;
    sl_config *cfg = load("kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
                          "targets:\n  kv:\n    type: postgresql\n"
                          "    dsn: \"host=h sslpassword=kp-one password = 'p w' sslpassword='kp two' dbname=d\"\n"
                          "  uri:\n    type: postgresql\n"
                          "    dsn: \"postgresql://u:pw-three@h/d?sslmode=require&sslpassword=kp-four&"
                          "password=pw-five&application_name=a\"\n"
                          "routes:\n  - topics: [t]\n    target: kv\n    table: t\n",
                          &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    char *out = printed(cfg);
    static const char *const secrets[] = {"kp-one", "p w", "kp two", "pw-three", "kp-four", "pw-five"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(!strstr(out, secrets[i]), "'%s' was printed:\n%s", secrets[i], out);
    ck_assert_msg(strstr(out, "dsn: \"host=h sslpassword=*** password = *** sslpassword=*** dbname=d\""), "%s", out);
    ck_assert_msg(strstr(out, "dsn: \"postgresql://u:***@h/d?sslmode=require&sslpassword=***&password=***&"
                              "application_name=a\""),
                  "%s", out);
    free(out);
    sl_config_free(cfg);
    /* and the log scrubber knows the passphrase */
    sl_error_set(&err, SL_ERR_FATAL, "could not load private key: kp two"); /* libpq takes the last */
    ck_assert_str_eq(err.msg, "could not load private key: ***");
    char *s = sl_redact_dsn("host=h sslpassword=kp-one");
    ck_assert_msg(!strstr(s, "kp-one"), "%s", s);
    free(s);
}
END_TEST

/* Issue 22, finding 6: a ${file:} value was printed in clear under a
 * target name of about 150 characters: the loader noted the secret's path
 * in a 160-byte buffer, --print-config looked it up in a 200-byte one. */
START_TEST(print_config_hides_file_values_under_long_target_names)
{
    char secret[96];
    snprintf(secret, sizeof(secret), "/tmp/sluice-test-secret-long-%d", (int)getpid());
    FILE *f = fopen(secret, "w");
    fputs("host=h dbname=file-only-db\n", f);
    fclose(f);
    for (size_t len = 100; len <= 600; len += 50) {
        char name[700];
        memset(name, 'n', len);
        name[len] = '\0';
        char text[2048];
        snprintf(text, sizeof(text),
                 "kafka:\n  bootstrap.servers: k:9092\n  group.id: g\n"
                 "targets:\n  %s:\n    type: postgresql\n    dsn: \"${file:%s}\"\n"
                 "routes:\n  - topics: [t]\n    target: %s\n    table: t\n",
                 name, secret, name);
        sl_error err;
        sl_config *cfg = load(text, &err);
        ck_assert_msg(cfg != NULL, "%s", err.msg);
        char *out = printed(cfg);
        ck_assert_msg(!strstr(out, "file-only-db"), "a name of %zu characters: the ${file:} value was printed:\n%s",
                      len, out);
        ck_assert_msg(strstr(out, "dsn: \"***\""), "%s", out);
        free(out);
        sl_config_free(cfg);
    }
    unlink(secret);
}
END_TEST

/* Issue 22, finding 6: the scrubber ignored secrets under 3 bytes and
 * remembered 64 at most. */
START_TEST(scrubber_masks_short_secrets_and_any_number)
{
    sl_secret_add("q7");
    sl_secret_add("Z");
    sl_error err;
    sl_error_set(&err, SL_ERR_FATAL, "password=q7 user 'Z' at u:q7@h; q77 aq7 Zed");
    ck_assert_str_eq(err.msg, "password=*** user '***' at u:***@h; q77 aq7 Zed");
    for (int i = 0; i < 200; i++) {
        char s[32];
        snprintf(s, sizeof(s), "many-secret-%03d", i);
        sl_secret_add(s);
    }
    sl_error_set(&err, SL_ERR_FATAL, "first many-secret-000, last many-secret-199, middle many-secret-100");
    ck_assert_str_eq(err.msg, "first ***, last ***, middle ***");
    /* masks longer than what they hide: cut at the buffer, never past it */
    char buf[8] = "Z Z Z Z";
    ck_assert(sl_secret_scrub(buf, sizeof(buf)));
    ck_assert_str_eq(buf, "*** ***");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, full_example_loads_with_defaults);
    tcase_add_test(tc, json_file_loads);
    tcase_add_test(tc, env_substitution);
    tcase_add_test(tc, errors_name_file_line_key);
    tcase_add_test(tc, auto_evolve_levels);
    tcase_add_test(tc, sizes_and_durations);
    tcase_add_test(tc, kafka_properties_split_by_client);
    tcase_add_test(tc, file_secrets);
    tcase_add_test(tc, credentials);
    tcase_add_test(tc, print_config_round_trips);
    tcase_add_test(tc, docs_are_generated_from_the_table);
    tcase_add_test(tc, print_config_hides_sslpassword_in_both_dsn_forms);
    tcase_add_test(tc, print_config_hides_file_values_under_long_target_names);
    tcase_add_test(tc, scrubber_masks_short_secrets_and_any_number);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? 1 : 0;
}
