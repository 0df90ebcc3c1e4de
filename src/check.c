/* check.c - `sluice --check`: what a new user runs first.  Validates the
 * file (already done by the loader), then connects to Kafka and to every
 * target and checks each routed table, printing what it found. */
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/app.h"
#include "sluice/kafka.h"
#include "sluice/mapping.h"
#include "sluice/pipeline.h"
#include "sluice/redact.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"
#include "sluice/worker.h"

/* Everything the check prints, scrubbed of the configured secrets: the
 * messages of librdkafka, libpq and libcurl are quoted here as they come,
 * and may carry a password or a ${file:} value (redact.h). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *clean = sl_secret_scrub_dup(text, NULL);
    fputs(clean, stdout);
    free(clean);
    free(text);
}

/* The last error librdkafka reported for the check's handle: a failed
 * metadata request only says "transport failure", the error names the
 * broker and the cause (e.g. "SASL authentication error: ..."). */
typedef struct kafka_failure {
    rd_kafka_resp_err_t err;
    char reason[512];
} kafka_failure;

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    kafka_failure *f = opaque;
    /* keep the cause, not the "all brokers are down" that follows it */
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && f->reason[0])
        return;
    f->err = (rd_kafka_resp_err_t)err;
    snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

static rd_kafka_t *admin_handle(const sl_config *cfg, kafka_failure *f, char *es, size_t eslen)
{
    rd_kafka_conf_t *c = sl_kafka_conf(cfg, false, es, eslen);
    if (!c)
        return NULL;
    rd_kafka_conf_set(c, "enable.auto.commit", "false", es, eslen);
    if (f) {
        rd_kafka_conf_set_error_cb(c, on_kafka_error);
        rd_kafka_conf_set_opaque(c, f);
    }
    return rd_kafka_new(RD_KAFKA_CONSUMER, c, es, eslen);
}

/* librdkafka before 2.6.1 sends a SCRAM proof that Kafka 4 brokers reject
 * (they check the nonce strictly): say so when SCRAM fails there. */
static void scram_hint(const sl_config *cfg, const kafka_failure *f)
{
    const char *mech = sl_config_kafka_get(cfg, "sasl.mechanism");
    if (!mech)
        mech = sl_config_kafka_get(cfg, "sasl.mechanisms");
    if (f->err != RD_KAFKA_RESP_ERR__AUTHENTICATION || !mech || strncmp(mech, "SCRAM", 5) ||
        rd_kafka_version() >= 0x020601ff)
        return;
    say("  hint: librdkafka %s cannot log in with SCRAM to Apache Kafka 4 brokers, even with the right "
           "password (fixed in librdkafka 2.6.1); against Kafka 4 use sasl.mechanism PLAIN over SASL_SSL or a "
           "newer librdkafka. If the broker runs Kafka 3, check the user name and password.\n",
           rd_kafka_version_str());
}

static int check_table(sl_sink *s, const sl_route_conf *r, const char *tname)
{
    char *schema = NULL, *name = NULL;
    if (sl_split_table_name(tname, s->conf->schema, &schema, &name)) {
        say("    table %s: ERROR: not a valid table name\n", tname);
        return 1;
    }
    sl_table *t = NULL;
    sl_error err;
    int bad = 0;
    if (s->ops->describe(s, schema, name, &t, &err)) {
        say("    table %s.%s: ERROR: %s\n", schema, name, err.msg);
        bad = 1;
    } else if (!t) {
        if (r->auto_create) {
            say("    table %s.%s: missing; auto_create will create it from the first record's schema\n", schema, name);
        } else {
            say("    table %s.%s: ERROR: does not exist\n", schema, name);
            bad = 1;
        }
    } else {
        sl_mapping m;
        if (sl_route_apply_key(r, t, &err) || sl_mapping_init(&m, r, t, &err)) {
            say("    table %s: ERROR: %s\n", t->qname, err.msg);
            bad = 1;
        } else {
            say("    table %s: %zu columns, key (", t->qname, t->ncols);
            for (size_t k = 0; k < t->nkey; k++)
                say("%s%s", k ? ", " : "", t->cols[t->key[k]].name);
            say(")%s\n", t->nkey ? "" : " none");
            for (size_t c = 0; c < t->ncols; c++) {
                const char *src = "";
                for (size_t i = 0; i < r->ncolumns; i++)
                    if (!strcmp(r->columns[i].key, t->cols[c].name))
                        src = r->columns[i].value;
                say("      %-24s %-28s%s%s%s%s\n", t->cols[c].name, t->cols[c].type_name,
                       t->cols[c].in_key ? " key" : "", t->cols[c].generated ? " generated (not written)" : "",
                       *src ? " <- " : "", src);
            }
            sl_mapping_fini(&m);
        }
    }
    sl_table_free(t);
    free(schema);
    free(name);
    return bad;
}

/* The first line of both checks: the file loaded. */
static void say_loaded(const sl_config *cfg)
{
    say("configuration %s: ok (%zu route(s), %zu target(s), %lld worker(s))\n", cfg->path, cfg->nroutes,
        cfg->ntargets, (long long)cfg->workers);
}

/* The part of --check that needs no network: the file (already loaded),
 * the kafka: properties as librdkafka reads them, every table name. */
int sl_app_check_offline(const sl_config *cfg)
{
    int bad = 0;
    say_loaded(cfg);
    char es[512];
    rd_kafka_conf_t *c = sl_kafka_conf(cfg, false, es, sizeof(es));
    if (!c) {
        say("kafka: ERROR: %s\n", es);
        bad = 1;
    } else {
        rd_kafka_conf_destroy(c);
        say("kafka: %zu librdkafka propert%s accepted\n", cfg->nkafka, cfg->nkafka == 1 ? "y" : "ies");
    }
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const sl_route_conf *r = &cfg->routes[i];
        if (strstr(r->table, "${"))
            continue; /* filled per record */
        char *schema = NULL, *name = NULL;
        if (sl_split_table_name(r->table, r->target->schema, &schema, &name)) {
            say("route %s: ERROR: table %s is not a valid table name\n", r->name, r->table);
            bad = 1;
        }
        free(schema);
        free(name);
    }
    say("%s (offline: Kafka and the targets were not contacted)\n", bad ? "problems found" : "ok");
    return bad;
}

int sl_app_check(const sl_config *cfg)
{
    int bad = 0;
    say_loaded(cfg);
    char es[512];
    kafka_failure failure = {0};
    rd_kafka_t *rk = admin_handle(cfg, &failure, es, sizeof(es));
    const struct rd_kafka_metadata *md = NULL;
    if (!rk) {
        say("kafka: ERROR: %s\n", es);
        bad = 1;
    } else {
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        if (e) {
            rd_kafka_poll(rk, 0); /* serves the errors behind the failure */
            say("kafka %s: ERROR: %s\n", sl_config_kafka_get(cfg, "bootstrap.servers"),
                   failure.reason[0] ? failure.reason : rd_kafka_err2str(e));
            scram_hint(cfg, &failure);
            md = NULL;
            bad = 1;
        } else {
            say("kafka %s: ok (%d broker(s), %d topic(s))\n", sl_config_kafka_get(cfg, "bootstrap.servers"),
                   md->broker_cnt, md->topic_cnt);
        }
    }
    sl_sink **sinks = sl_xcalloc(cfg->ntargets, sizeof(*sinks));
    for (size_t t = 0; t < cfg->ntargets; t++) {
        sl_error err;
        sinks[t] = sl_sink_new(&cfg->targets[t], 0);
        if (sinks[t]->ops->open(sinks[t], &err)) {
            say("target %s (%s): ERROR: %s\n", cfg->targets[t].name, sinks[t]->ops->name, err.msg);
            bad = 1;
        } else {
            say("target %s (%s): connected, delivery %s\n", cfg->targets[t].name, sinks[t]->ops->name,
                   sl_sink_exactly_once(sinks[t]) ? "exactly-once" : "at-least-once");
        }
    }
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const sl_route_conf *r = &cfg->routes[i];
        sl_sink *s = sinks[r->target - cfg->targets];
        say("route '%s' -> target %s, table %s, format %s, mode %s, on_error %s\n", r->name, r->target->name,
               r->table, sl_format_lookup(r->format)->name, r->mode == SL_MODE_UPSERT ? "upsert" : r->mode == SL_MODE_UPDATE ? "update" : "insert",
               r->on_error == SL_ONERR_FAIL ? "fail" : r->on_error == SL_ONERR_DLQ ? "dlq" : "skip");
        /* the topics this route reads, as Kafka knows them now */
        size_t found = 0;
        for (int k = 0; md && k < md->topic_cnt; k++) {
            const char *topic = md->topics[k].topic;
            if (!sl_route_takes(cfg, r, topic)) {
                if (sl_route_matches(r, topic))
                    say("  topic %s: WARNING: goes through route '%s' first; this route takes it too only with "
                        "fan_out: true\n",
                        topic, sl_config_route_for_topic(cfg, topic)->name);
                continue;
            }
            found++;
            char *group = sl_pipeline_group(cfg, r, topic);
            const char *main_group = sl_config_kafka_get(cfg, "group.id");
            if (main_group && strcmp(group, main_group))
                say("  topic %s: %d partition(s), read in group %s (fan-out)\n", topic, md->topics[k].partition_cnt,
                    group);
            else
                say("  topic %s: %d partition(s)\n", topic, md->topics[k].partition_cnt);
            free(group);
            if (!s->connected)
                continue;
            if (strstr(r->table, "${") && !strstr(r->table, "${topic}")) {
                say("    table %s: named per record; checked when records arrive\n", r->table);
                continue;
            }
            sl_error err;
            char *tname = sl_expand_table(r->table, r->name_rules, topic, NULL, &err);
            if (!tname) {
                say("    table: ERROR: %s\n", err.msg);
                bad = 1;
                continue;
            }
            bad |= check_table(s, r, tname);
            free(tname);
        }
        for (size_t t = 0; md && t < r->ntopics; t++) {
            bool exists = false;
            for (int k = 0; k < md->topic_cnt; k++)
                exists |= !strcmp(md->topics[k].topic, r->topics[t]);
            if (!exists)
                say("  topic %s: WARNING: does not exist (yet)\n", r->topics[t]);
        }
        if (md && !found && r->topic_pattern)
            say("  pattern %s: WARNING: no topic matches (yet)\n", r->topic_pattern);
        if (md && !found && s->connected && !strstr(r->table, "${"))
            bad |= check_table(s, r, r->table);
    }
    for (size_t t = 0; t < cfg->ntargets; t++)
        sl_sink_free(sinks[t]);
    free(sinks);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    say("%s\n", bad ? "check FAILED" : "check passed");
    return bad;
}
