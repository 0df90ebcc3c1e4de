/* import_emit.c - `sluice import-connect`: the plan of a translated
 * connector written out as sluice's YAML, a route per topic when a
 * RegexRouter renames topics. */
#include <ctype.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import_int.h"
#include "sluice/strbuf.h"

/* kafka:, schema_registry:, workers:, batch: and the target. */
static void emit_head(importer *im, const plan *pl, sl_strbuf *o)
{
    sl_strbuf_puts(o, "# sluice configuration imported from Kafka Connect connector ");
    im_yq(o, pl->name); /* escaped: a line break in it cannot end the comment */
    sl_strbuf_printf(o, "\n# (%s, ", im->debezium_sink ? "Debezium JDBC sink" : "Confluent JDBC sink");
    im_yq(o, im->path);
    sl_strbuf_puts(o, ").  Review it, then run `sluice --check -c FILE`.\n");
    sl_strbuf_puts(o, "kafka:\n  bootstrap.servers: ${KAFKA_BOOTSTRAP:-localhost:9092}"
                      "   # the Connect worker's bootstrap.servers\n");
    sl_strbuf_printf(o, "  group.id: ");
    im_yq_printf(o, "connect-%s", pl->name);
    sl_strbuf_puts(o, "   # the connector's group: its committed offsets carry over\n");
    if (pl->kafka.data)
        sl_strbuf_puts(o, pl->kafka.data);
    if (pl->vc.registry || pl->kc.registry) {
        sl_strbuf_puts(o, "schema_registry:\n  url: ");
        im_yq(o, pl->vc.registry ? pl->vc.registry : pl->kc.registry);
        sl_strbuf_putc(o, '\n');
    }
    if (pl->tasks) {
        long t = strtol(pl->tasks, NULL, 10);
        if (t > 1)
            sl_strbuf_printf(o, "workers: %ld   # tasks.max\n", t > 64 ? 64L : t);
    }
    if (pl->batch)
        sl_strbuf_printf(o, "batch:\n  max_rows: %ld   # batch.size\n", strtol(pl->batch, NULL, 10) > 0 ? strtol(pl->batch, NULL, 10) : 1);
    sl_strbuf_puts(o, "targets:\n  pg:\n    type: postgresql\n    dsn: ");
    im_yq(o, pl->pc.dsn.data);
    sl_strbuf_putc(o, '\n');
    if (pl->has_password)
        sl_strbuf_puts(o, "    # connection.password was not copied: give it to libpq through PGPASSWORD or a\n"
                          "    # password file, or add the URI parameter password=${file:/run/secrets/pg-password}\n");
    if (pl->pc.schema) {
        sl_strbuf_puts(o, "    schema: ");
        im_yq(o, pl->pc.schema);
        sl_strbuf_putc(o, '\n');
    }
    if (pl->pc.connect_timeout_s > 0)
        sl_strbuf_printf(o, "    connect_timeout_ms: %lds\n", pl->pc.connect_timeout_s);
    sl_strbuf_puts(o, "    delivery: at-least-once   # as the connector; exactly-once is available for PostgreSQL\n");

}

/* A route's table: table.name.format, with ${topic} the name a RegexRouter
 * gives @topic when it renames topics (@topic NULL: it does not). */
static void emit_table(importer *im, const plan *pl, sl_strbuf *o, const char *topic)
{
    if (topic) {
        bool ok;
        char *routed = im_route_topic(pl->x.router_regex, pl->x.router_replacement, topic, &ok);
        if (!ok) {
            im_warn(im, "transforms", "RegexRouter regex '%s' is not a POSIX extended expression; table left as "
                                   "table.name.format",
                 pl->x.router_regex);
            im_yq_table(o, pl->table);
        } else {
            /* table.name.format's ${topic} is the routed name */
            sl_strbuf t = SL_STRBUF_INIT;
            for (const char *s = pl->table; *s;) {
                if (!strncmp(s, "${topic}", 8)) {
                    sl_strbuf_puts(&t, routed);
                    s += 8;
                } else {
                    sl_strbuf_putc(&t, *s++);
                }
            }
            im_yq_table(o, t.data);
            sl_strbuf_free(&t);
        }
        free(routed);
    } else {
        im_yq_table(o, pl->table);
    }
}

/* Table-name rules: a RegexRouter over topics not known in advance
 * (topics.regex), and the Debezium sink's dots to underscores. */
static void emit_names(importer *im, const plan *pl, sl_strbuf *o, bool per_topic, size_t r)
{
    bool router = pl->x.router_regex && !per_topic;
    if (!router && !pl->x.dots_to_underscores)
        return;
    sl_strbuf_puts(o, "    name_replace:   # applied to each ${...} value of table, in order\n");
    if (router) {
        /* Connect's RegexRouter: the whole name must match; $N -> \\N+1
         * (the group added around the expression) */
        sl_strbuf re = SL_STRBUF_INIT, rep = SL_STRBUF_INIT;
        sl_strbuf_printf(&re, "^(%s)$", pl->x.router_regex);
        for (const char *s = pl->x.router_replacement; *s; s++) {
            if (*s == '$' && s[1] >= '0' && s[1] <= '8') {
                sl_strbuf_printf(&rep, "\\%c", s[1] + 1);
                s++;
            } else {
                if (*s == '\\')
                    sl_strbuf_putc(&rep, '\\');
                sl_strbuf_putc(&rep, *s);
            }
        }
        regex_t check;
        if (regcomp(&check, re.data, REG_EXTENDED)) {
            if (r == 0)
                im_warn(im, "transforms", "RegexRouter regex '%s' is not a POSIX extended expression; copied as it is",
                        pl->x.router_regex);
        } else {
            regfree(&check);
        }
        sl_strbuf_puts(o, "      ");
        im_yq(o, re.data);
        sl_strbuf_puts(o, ": ");
        im_yq(o, rep.data ? rep.data : "");
        sl_strbuf_puts(o, "   # RegexRouter\n");
        sl_strbuf_free(&re);
        sl_strbuf_free(&rep);
    }
    if (pl->x.dots_to_underscores)
        sl_strbuf_puts(o, "      '\\.': _   # the Debezium JDBC sink's DefaultTableNamingStrategy\n");
}

/* The options of a route of Debezium change events. */
static void emit_debezium(importer *im, const plan *pl, sl_strbuf *o)
{
    if (pl->x.soft_delete)
        sl_strbuf_puts(o, "    delete_mode: soft\n    soft_delete_column: __deleted\n");
    if (im->debezium_sink)
        sl_strbuf_printf(o, "    truncate: %s\n", im_is_true(pl->trunc) ? "apply" : "ignore");
    if (pl->x.nadd_fields) {
        sl_strbuf_puts(o, "    add_columns:\n");
        for (size_t i = 0; i < pl->x.nadd_fields; i++) {
            /* ExtractNewRecordState names them __<field>, dots as underscores */
            const char *f = pl->x.add_fields[i];
            sl_strbuf col = SL_STRBUF_INIT;
            sl_strbuf_puts(&col, "__");
            for (const char *c = f; *c; c++)
                sl_strbuf_putc(&col, *c == '.' ? '_' : *c);
            sl_strbuf path = SL_STRBUF_INIT;
            if (!strchr(f, '.') && strcmp(f, "op") && strcmp(f, "ts_ms") && strcmp(f, "before") &&
                strcmp(f, "after"))
                sl_strbuf_printf(&path, "source.%s", f);
            else
                sl_strbuf_puts(&path, f);
            sl_strbuf_puts(o, "      ");
            im_yq(o, col.data);
            sl_strbuf_puts(o, ": ");
            im_yq(o, path.data);
            sl_strbuf_putc(o, '\n');
            sl_strbuf_free(&col);
            sl_strbuf_free(&path);
        }
    }
}

/* fields.whitelist / field.include.list as columns: (warned about once, for route 0). */
static void emit_columns(importer *im, const plan *pl, sl_strbuf *o, size_t r)
{
    char **fl;
    size_t nf = im_split_list(pl->whitelist, &fl);
    sl_strbuf_puts(o, "    columns:   # fields.whitelist / field.include.list\n");
    for (size_t i = 0; i < nf; i++) {
        const char *f = strchr(fl[i], ':') ? strchr(fl[i], ':') + 1 : fl[i];
        sl_strbuf_puts(o, "      ");
        im_yq(o, f);
        sl_strbuf_puts(o, ": ");
        im_yq_printf(o, "/%s", f);
        sl_strbuf_putc(o, '\n');
    }
    im_free_list(fl, nf);
    if (r == 0)
        im_warn(im, pl->include ? "field.include.list" : "fields.whitelist",
             "translated to columns:, but fields not listed are still written to columns of the same "
             "name when the table has them");
}

/* Route @r of @nroutes (one per topic of @tlist when @per_topic). */
static void emit_route(importer *im, const plan *pl, sl_strbuf *o, size_t r, size_t nroutes, char **tlist, size_t nt,
                       bool per_topic)
{
    sl_strbuf_puts(o, "  - name: ");
    if (per_topic && nroutes > 1)
        im_yq_printf(o, "%s-%s", pl->name, tlist[r]);
    else
        im_yq(o, pl->name);
    sl_strbuf_putc(o, '\n');
    if (pl->topics_re) {
        sl_strbuf_puts(o, "    topic_pattern: ");
        im_yq_printf(o, "^(%s)$", pl->topics_re); /* Connect matches the whole name */
        sl_strbuf_putc(o, '\n');
    } else {
        sl_strbuf_puts(o, "    topics: [");
        for (size_t i = 0; i < nt; i++) {
            if (per_topic && i != r)
                continue;
            if (i && !per_topic)
                sl_strbuf_puts(o, ", ");
            im_yq(o, tlist[i]);
        }
        sl_strbuf_puts(o, "]\n");
    }
    sl_strbuf_puts(o, "    target: pg\n    table: ");
    emit_table(im, pl, o, per_topic ? tlist[r] : NULL);
    sl_strbuf_printf(o, "\n    format: %s\n", pl->format);
    if (strcmp(pl->kc.format, "json"))
        sl_strbuf_printf(o, "    key_format: %s\n", pl->kc.format);
    sl_strbuf_printf(o, "    mode: %s\n", pl->mode);
    emit_names(im, pl, o, per_topic, r);
    if (pl->x.yaml.len) {
        sl_strbuf_puts(o, "    transforms:   # transforms=... (docs/transforms.md)\n");
        sl_strbuf_append(o, pl->x.yaml.data, pl->x.yaml.len);
    }
    if (pl->nkeys) {
        sl_strbuf_puts(o, "    key: [");
        for (size_t i = 0; i < pl->nkeys; i++) {
            if (i)
                sl_strbuf_puts(o, ", ");
            im_yq(o, pl->keys[i]);
        }
        sl_strbuf_puts(o, "]\n");
    }
    if (pl->kafka_pk) {
        static const char *const kcol[] = {"__connect_topic", "__connect_partition", "__connect_offset"};
        static const char *const kval[] = {"kafka.topic", "kafka.partition", "kafka.offset"};
        sl_strbuf_puts(o, "    add_columns:\n");
        for (size_t i = 0; i < 3; i++) {
            sl_strbuf_puts(o, "      ");
            im_yq(o, pl->nkeys > i ? pl->keys[i] : kcol[i]);
            sl_strbuf_printf(o, ": %s\n", kval[i]);
        }
    }
    if (pl->deletes && strcmp(pl->format, "debezium") && !pl->x.drop_tombstones) {
        if (!strcmp(pl->mode, "upsert"))
            sl_strbuf_puts(o, "    delete_on_tombstone: true\n");
        else if (r == 0)
            im_warn(im, "delete.enabled", "deletes need upsert mode in sluice; not translated");
    }
    if (!strcmp(pl->format, "debezium"))
        emit_debezium(im, pl, o);
    if (pl->whitelist)
        emit_columns(im, pl, o, r);
    if (pl->auto_create)
        sl_strbuf_puts(o, "    auto_create: true\n");
    if (pl->auto_evolve)
        sl_strbuf_puts(o, "    auto_evolve: true\n");
    sl_strbuf_printf(o, "    on_error: %s\n", pl->on_error);
    if (!strcmp(pl->on_error, "dlq")) {
        sl_strbuf_puts(o, "    dlq_topic: ");
        im_yq(o, pl->dlq);
        sl_strbuf_putc(o, '\n');
    }
}

int im_translate(importer *im, sl_strbuf *o, char *err, size_t errlen)
{
    plan pl = {.pc = {SL_STRBUF_INIT, NULL, 0}, .kafka = SL_STRBUF_INIT};
    if (im_read_connector(im, &pl, err, errlen)) {
        im_plan_free(&pl);
        return -1;
    }
    im_read_rows(im, &pl);
    im_read_consumer(im, &pl);

    /* every key left over */
    for (size_t i = 0; i < im->nprops; i++)
        if (!im->props[i].used)
            im_warn(im, im->props[i].key, "unknown to sluice's importer; not translated");

    emit_head(im, &pl, o);

    /* routes: one, or one per topic when a RegexRouter renames topics */
    char **tlist = NULL;
    size_t nt = pl.topics ? im_split_list(pl.topics, &tlist) : 0;
    size_t nroutes = 1;
    bool per_topic = false;
    if (pl.x.router_regex) {
        if (pl.topics) { /* (with topics.regex: name_replace, emit_names()) */
            per_topic = true;
            nroutes = nt;
        }
    }
    sl_strbuf_puts(o, "routes:\n");
    for (size_t r = 0; r < nroutes; r++)
        emit_route(im, &pl, o, r, nroutes, tlist, nt, per_topic);
    im_free_list(tlist, nt);
    im_plan_free(&pl);
    return 0;
}

