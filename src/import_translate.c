/* import_translate.c - `sluice import-connect`: the keys of a Kafka Connect
 * JDBC sink configuration translated into a plan (import_int.h): the
 * connection URL, converters, transforms, and section by section what the
 * routes need. */
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

/* ---- connection.url ---- */

/* jdbc:postgresql://host[:port][,host2...]/db?k=v&... -> a libpq URI.  The
 * libpq-compatible parameters are carried (sslmode, sslrootcert, ...);
 * JDBC-only ones are reported. */
static int translate_url(importer *im, const char *url, const char *user, pgconn *pc, char *err, size_t errlen)
{
    static const char prefix[] = "jdbc:postgresql:";
    if (strncmp(url, prefix, sizeof(prefix) - 1)) {
        snprintf(err, errlen, "%s: connection.url: '%.40s...' is not a PostgreSQL JDBC URL; sluice writes to "
                              "PostgreSQL (and CrateDB, which Connect reaches through the same driver)",
                 im->path, url);
        return -1;
    }
    const char *rest = url + sizeof(prefix) - 1;
    sl_strbuf_puts(&pc->dsn, "postgresql://");
    if (user && *user) {
        for (const char *u = user; *u; u++) {
            if (isalnum((unsigned char)*u) || strchr("-._~", *u))
                sl_strbuf_putc(&pc->dsn, *u);
            else
                sl_strbuf_printf(&pc->dsn, "%%%02X", (unsigned char)*u);
        }
        sl_strbuf_putc(&pc->dsn, '@');
    }
    if (!strncmp(rest, "//", 2)) {
        rest += 2;
    } else {
        /* jdbc:postgresql:db means localhost:5432/db */
        sl_strbuf_puts(&pc->dsn, "localhost/");
    }
    const char *q = strchr(rest, '?');
    sl_strbuf_append(&pc->dsn, rest, q ? (size_t)(q - rest) : strlen(rest));
    if (!q)
        return 0;
    char sep = '?';
    char **params;
    size_t n = 0;
    /* parameters are separated by & */
    sl_strbuf tmp = SL_STRBUF_INIT;
    for (const char *s = q + 1; *s; s++)
        sl_strbuf_putc(&tmp, *s == '&' ? ',' : *s);
    n = im_split_list(tmp.data, &params);
    sl_strbuf_free(&tmp);
    static const struct { const char *jdbc, *libpq; } carried[] = {
        {"sslmode", "sslmode"}, {"sslrootcert", "sslrootcert"}, {"sslcert", "sslcert"},
        {"sslkey", "sslkey"}, {"ApplicationName", "application_name"}, {"applicationName", "application_name"},
        {"targetServerType", "target_session_attrs"}, {"options", "options"}, {"gssEncMode", "gssencmode"},
        {"sslpassword", NULL}, {"user", "user"},
    };
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(params[i], '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        const char *k = params[i];
        if (!strcmp(k, "password")) {
            im_warn(im, "connection.url", "the password in the URL was not copied: use ${file:...} or PGPASSWORD");
            continue;
        }
        if (!strcmp(k, "currentSchema")) {
            free(pc->schema);
            pc->schema = sl_xstrdup(v);
            continue;
        }
        if (!strcmp(k, "connectTimeout") || !strcmp(k, "loginTimeout")) {
            pc->connect_timeout_s = strtol(v, NULL, 10);
            continue;
        }
        size_t j;
        for (j = 0; j < sizeof(carried) / sizeof(carried[0]); j++)
            if (!strcmp(carried[j].jdbc, k))
                break;
        if (j == sizeof(carried) / sizeof(carried[0]) || !carried[j].libpq) {
            im_warn(im, "connection.url", "JDBC parameter '%s' has no libpq equivalent; dropped", k);
            continue;
        }
        const char *val = v;
        if (!strcmp(k, "targetServerType"))
            val = !strcmp(v, "primary") || !strcmp(v, "master") ? "read-write" : "any";
        sl_strbuf_printf(&pc->dsn, "%c%s=%s", sep, carried[j].libpq, val);
        sep = '&';
    }
    im_free_list(params, n);
    return 0;
}

/* ---- converters ---- */

/* key.converter / value.converter -> a sluice format.  @is_value: value
 * side (json, connect-json, avro) or key side (json, string, avro). */
static conv translate_converter(importer *im, const char *side, bool is_value)
{
    conv c = {is_value ? "connect-json" : "json", NULL};
    char k[96];
    const char *cls = im_take(im, side);
    snprintf(k, sizeof(k), "%s.schemas.enable", side);
    const char *schemas = im_take(im, k);
    snprintf(k, sizeof(k), "%s.schema.registry.url", side);
    const char *reg = im_take(im, k);
    snprintf(k, sizeof(k), "%s.basic.auth.credentials.source", side);
    im_take(im, k);
    if (!cls) {
        if (is_value && !im->debezium_sink)
            im_warn(im, side, "not set: assumed the Connect worker's usual default, JsonConverter with schemas "
                           "(format: connect-json); check the worker's value.converter");
        return c;
    }
    const char *simple = strrchr(cls, '.') ? strrchr(cls, '.') + 1 : cls;
    if (!strcmp(simple, "JsonConverter")) {
        bool with_schema = !schemas || im_is_true(schemas);
        c.format = is_value ? (with_schema ? "connect-json" : "json") : "json";
    } else if (!strcmp(simple, "AvroConverter")) {
        c.format = "avro";
        c.registry = reg;
        if (!reg)
            im_warn(im, side, "AvroConverter without %s.schema.registry.url: set schema_registry.url by hand", side);
    } else if (!strcmp(simple, "StringConverter") && !is_value) {
        c.format = "string";
    } else {
        im_warn(im, side, "converter %s has no sluice equivalent; assumed %s", cls, c.format);
    }
    return c;
}

/* ---- transforms ---- */

static void translate_transforms(importer *im, xforms *x)
{
    const char *list = im_take(im, "transforms");
    char **names;
    size_t n = im_split_list(list, &names);
    for (size_t i = 0; i < n; i++) {
        char k[256];
        snprintf(k, sizeof(k), "transforms.%s.type", names[i]);
        const char *type = im_take(im, k);
        const char *simple = type ? (strrchr(type, '.') ? strrchr(type, '.') + 1 : type) : "";
        if (!strcmp(simple, "ExtractNewRecordState") || !strcmp(simple, "UnwrapFromEnvelope")) {
            x->unwrap = true;
            snprintf(k, sizeof(k), "transforms.%s.delete.handling.mode", names[i]);
            const char *dh = im_take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.delete.tombstone.handling.mode", names[i]);
            const char *dth = im_take(im, k);
            if ((dh && !strcmp(dh, "rewrite")) || (dth && !strncmp(dth, "rewrite", 7)))
                x->soft_delete = true;
            snprintf(k, sizeof(k), "transforms.%s.drop.tombstones", names[i]);
            im_take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.add.fields", names[i]);
            x->nadd_fields = im_split_list(im_take(im, k), &x->add_fields);
            continue;
        }
        if (!strcmp(simple, "RegexRouter")) {
            snprintf(k, sizeof(k), "transforms.%s.regex", names[i]);
            const char *re = im_take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.replacement", names[i]);
            const char *rep = im_take(im, k);
            if (re && rep && !x->router_regex) {
                x->router_regex = sl_xstrdup(re);
                x->router_replacement = sl_xstrdup(rep);
            } else {
                im_warn(im, "transforms", "RegexRouter '%s' without regex/replacement, or a second one: not translated",
                     names[i]);
            }
            continue;
        }
        snprintf(k, sizeof(k), "transforms.%s", names[i]);
        int rc = type ? im_translate_smt(im, x, names[i], type) : -2;
        if (rc == 0)
            continue;
        if (rc == -2)
            im_warn(im, k, "transform %s has no sluice equivalent; records will be written as they are in the topic",
                    type ? type : "(no type)");
        /* its options are part of the same report */
        size_t plen = strlen(k);
        for (size_t j = 0; j < im->nprops; j++)
            if (!strncmp(im->props[j].key, k, plen) && im->props[j].key[plen] == '.')
                im->props[j].used = true;
    }
    im_free_list(names, n);
    /* the predicates the Filters named were read with them; one no
     * transform names does nothing */
    char **preds;
    size_t np = im_split_list(im_take(im, "predicates"), &preds);
    for (size_t i = 0; i < np; i++) {
        char k[256];
        snprintf(k, sizeof(k), "predicates.%s.", preds[i]);
        for (size_t j = 0; j < im->nprops; j++)
            if (!strncmp(im->props[j].key, k, strlen(k)))
                im->props[j].used = true;
    }
    im_free_list(preds, np);
    if (im->debezium_sink) {
        /* its default naming strategy turns the dots of the resolved name into underscores */
        const char *s = im_take(im, "table.naming.strategy");
        if (!s || strstr(s, "DefaultTableNamingStrategy"))
            x->dots_to_underscores = true;
        else
            im_warn(im, "table.naming.strategy", "%s has no sluice equivalent; names are taken as table.name.format "
                    "makes them", s);
    }
}

/* RegexRouter applied to one topic name (Java regex read as POSIX ERE,
 * $N replaced by groups; the whole name must match, as in Connect). */
char *im_route_topic(const char *re_src, const char *rep, const char *topic, bool *ok)
{
    *ok = false;
    sl_strbuf anchored = SL_STRBUF_INIT;
    sl_strbuf_printf(&anchored, "^(%s)$", re_src);
    regex_t re;
    if (regcomp(&re, anchored.data, REG_EXTENDED)) {
        sl_strbuf_free(&anchored);
        return NULL;
    }
    sl_strbuf_free(&anchored);
    regmatch_t m[10];
    *ok = true;
    if (regexec(&re, topic, 10, m, 0)) {
        regfree(&re);
        return sl_xstrdup(topic); /* no match: the name is kept */
    }
    sl_strbuf out = SL_STRBUF_INIT;
    for (const char *s = rep; *s; s++) {
        if (*s == '$' && isdigit((unsigned char)s[1])) {
            int g = s[1] - '0' + 1; /* +1: our outer group */
            if (g < 10 && m[g].rm_so >= 0)
                sl_strbuf_append(&out, topic + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
            s++;
        } else {
            sl_strbuf_putc(&out, *s);
        }
    }
    regfree(&re);
    return sl_strbuf_steal(&out);
}

/* ---- keys known to need nothing in sluice ---- */

static void take_ignored(importer *im)
{
    static const char *const quiet[] = {
        "connector.class", "name", "tasks.max", "dialect.name", "max.retries", "retry.backoff.ms",
        "connection.attempts", "connection.backoff.ms", "errors.log.enable", "errors.log.include.messages",
        "errors.deadletterqueue.context.headers.enable", "errors.deadletterqueue.topic.replication.factor",
        "errors.retry.timeout", "errors.retry.delay.max.ms", "table.types", "header.converter",
        "connection.pool.min_size", "connection.pool.max_size", "connection.pool.acquire_increment",
        "connection.pool.timeout", "use.reduction.buffer", "flush.max.retries", "flush.retry.delay.ms",
        "table.naming.strategy", "collection.naming.strategy", "column.naming.strategy", NULL,
    };
    for (size_t i = 0; quiet[i]; i++)
        im_take(im, quiet[i]);
}

/* ---- the translation ---- */

void im_plan_free(plan *pl)
{
    im_free_list(pl->keys, pl->nkeys);
    im_free_list(pl->x.add_fields, pl->x.nadd_fields);
    free(pl->x.router_regex);
    free(pl->x.router_replacement);
    sl_strbuf_free(&pl->x.yaml);
    sl_strbuf_free(&pl->pc.dsn);
    free(pl->pc.schema);
    sl_strbuf_free(&pl->kafka);
}

/* The connector: its class, name, database and topics. */
int im_read_connector(importer *im, plan *pl, char *err, size_t errlen)
{
    const char *cls = im_take(im, "connector.class");
    if (!cls) {
        snprintf(err, errlen, "%s: no connector.class: not a Kafka Connect connector configuration", im->path);
        return -1;
    }
    if (strstr(cls, "io.debezium.connector.jdbc.JdbcSinkConnector"))
        im->debezium_sink = true;
    else if (!strstr(cls, "io.confluent.connect.jdbc.JdbcSinkConnector")) {
        snprintf(err, errlen, "%s: connector.class %s: only the Confluent and Debezium JDBC sink connectors "
                              "can be imported",
                 im->path, cls);
        return -1;
    }
    const char *pname = im_take(im, "name");
    pl->name = im->name ? im->name : pname;
    if (!pl->name || !*pl->name) {
        snprintf(err, errlen, "%s: no connector name: the consumer group (connect-NAME) cannot be derived",
                 im->path);
        return -1;
    }
    const char *url = im_take(im, "connection.url");
    if (!url) {
        snprintf(err, errlen, "%s: no connection.url", im->path);
        return -1;
    }
    const char *user = im_take(im, "connection.user");
    const char *user2 = im_take(im, "connection.username");
    if (!user)
        user = user2;
    pl->has_password = im_take(im, "connection.password") != NULL;
    if (translate_url(im, url, user, &pl->pc, err, errlen))
        return -1;

    pl->topics = im_take(im, "topics");
    pl->topics_re = im_take(im, "topics.regex");
    if (!pl->topics == !pl->topics_re) {
        snprintf(err, errlen, "%s: exactly one of topics or topics.regex is needed", im->path);
        return -1;
    }
    return 0;
}

/* How records become rows: converters, transforms, table, mode, keys,
 * deletes, schema changes, batches, fields, errors; then the keys that
 * sluice has no use for. */
void im_read_rows(importer *im, plan *pl)
{
    pl->vc = translate_converter(im, "value.converter", true);
    pl->kc = translate_converter(im, "key.converter", false);
    translate_transforms(im, &pl->x);

    /* the value format: a Debezium sink, or ExtractNewRecordState, reads
     * Debezium envelopes, which sluice decodes itself */
    pl->format = pl->vc.format;
    if (im->debezium_sink || pl->x.unwrap)
        pl->format = "debezium";

    pl->table = im_take(im, "collection.name.format");
    const char *table2 = im_take(im, "table.name.format");
    if (!pl->table)
        pl->table = table2;
    if (!pl->table)
        pl->table = "${topic}";

    const char *insert_mode = im_take(im, "insert.mode");
    pl->mode = "insert";
    if (insert_mode && !strcasecmp(insert_mode, "upsert"))
        pl->mode = "upsert";
    else if (insert_mode && !strcasecmp(insert_mode, "update"))
        pl->mode = "update";
    else if (insert_mode && strcasecmp(insert_mode, "insert"))
        im_warn(im, "insert.mode", "'%s' is not insert, upsert or update; using insert", insert_mode);

    const char *pk_mode = im_take(im, "pk.mode");
    const char *pk_mode2 = im_take(im, "primary.key.mode");
    if (!pk_mode)
        pk_mode = pk_mode2;
    const char *pk_fields = im_take(im, "pk.fields");
    const char *pk_fields2 = im_take(im, "primary.key.fields");
    if (!pk_fields)
        pk_fields = pk_fields2;
    pl->nkeys = im_split_list(pk_fields, &pl->keys);
    pl->kafka_pk = false;
    if (pk_mode && !strcmp(pk_mode, "kafka")) {
        pl->kafka_pk = true;
        im_free_list(pl->keys, pl->nkeys);
        pl->nkeys = 0;
        pl->keys = NULL;
        if (!pk_fields)
            pl->nkeys = im_split_list("__connect_topic,__connect_partition,__connect_offset", &pl->keys);
        else
            pl->nkeys = im_split_list(pk_fields, &pl->keys);
    } else if (pk_mode && !strcmp(pk_mode, "record_header")) {
        im_warn(im, "primary.key.mode", "record_header has no sluice equivalent; the table's primary key is used");
    } else if (pk_mode && !strcmp(pk_mode, "none") && !strcmp(pl->mode, "upsert")) {
        im_warn(im, "pk.mode", "none with upsert: sluice takes the conflict key from the table's primary key");
    }

    const char *del = im_take(im, "delete.enabled");
    pl->deletes = im_is_true(del);
    if (!strcmp(pl->format, "debezium") && del && !pl->deletes)
        im_warn(im, "delete.enabled", "false: sluice applies Debezium delete events (delete_mode: hard or soft); "
                                   "there is no setting to ignore them");
    pl->trunc = im_take(im, "truncate.enabled");

    pl->auto_create = im_is_true(im_take(im, "auto.create"));
    pl->auto_evolve = im_is_true(im_take(im, "auto.evolve"));
    const char *evo = im_take(im, "schema.evolution");
    if (evo && !strcmp(evo, "basic"))
        pl->auto_create = pl->auto_evolve = true;

    pl->batch = im_take(im, "batch.size");
    pl->whitelist = im_take(im, "fields.whitelist");
    pl->include = im_take(im, "field.include.list");
    if (!pl->whitelist)
        pl->whitelist = pl->include;
    const char *exclude = im_take(im, "field.exclude.list");
    if (exclude)
        im_warn(im, "field.exclude.list", "sluice has no exclude list: fields are written to the columns of the same "
                                       "name the table has; drop the columns instead");

    const char *tolerance = im_take(im, "errors.tolerance");
    pl->dlq = im_take(im, "errors.deadletterqueue.topic.name");
    pl->on_error = "fail";
    if (tolerance && !strcmp(tolerance, "all"))
        pl->on_error = pl->dlq && *pl->dlq ? "dlq" : "skip";

    const char *tz = im_take(im, "db.timezone");
    const char *tz2 = im_take(im, "database.time_zone");
    const char *tz3 = im_take(im, "use.time.zone");
    const char *tzv = tz ? tz : tz2 ? tz2 : tz3;
    if (tzv && strcmp(tzv, "UTC"))
        im_warn(im, tz ? "db.timezone" : tz2 ? "database.time_zone" : "use.time.zone",
             "'%s': sluice writes timestamps as UTC instants; set the session TimeZone in the dsn "
             "(options=-c TimeZone=...) if the columns are without time zone",
             tzv);
    const char *quote = im_take(im, "quote.sql.identifiers");
    const char *quote2 = im_take(im, "quote.identifiers");
    if ((quote && !strcmp(quote, "never")) || (quote2 && !strcmp(quote2, "false")))
        im_warn(im, quote ? "quote.sql.identifiers" : "quote.identifiers",
             "sluice always quotes identifiers: names are case-sensitive as written");
    pl->tasks = im_take(im, "tasks.max");
    take_ignored(im);

}

/* consumer.override.* -> kafka:, checked against librdkafka. */
void im_read_consumer(importer *im, plan *pl)
{
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    for (size_t i = 0; i < im->nprops; i++) {
        prop *p = &im->props[i];
        if (strncmp(p->key, "consumer.override.", 18))
            continue;
        p->used = true;
        const char *k = p->key + 18;
        const char *v = p->value;
        if (!strcmp(k, "partition.assignment.strategy")) {
            v = strstr(v, "CooperativeSticky") ? "cooperative-sticky"
                : strstr(v, "RoundRobin")       ? "roundrobin"
                : strstr(v, "Range")            ? "range"
                                                : v;
        }
        if (!strcmp(k, "enable.auto.commit") || !strcmp(k, "group.id") || !strcmp(k, "bootstrap.servers")) {
            im_warn(im, p->key, "set by sluice itself; not copied");
            continue;
        }
        char es[256];
        if (rd_kafka_conf_set(probe, k, v, es, sizeof(es)) != RD_KAFKA_CONF_OK) {
            im_warn(im, p->key, "not a librdkafka consumer property (%s); not copied", es);
            continue;
        }
        sl_strbuf_puts(&pl->kafka, "  ");
        im_yq(&pl->kafka, k);
        sl_strbuf_puts(&pl->kafka, ": ");
        im_yq(&pl->kafka, v);
        sl_strbuf_putc(&pl->kafka, '\n');
    }
    rd_kafka_conf_destroy(probe);
}
