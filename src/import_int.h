/* import_int.h - what the files of `sluice import-connect` share: the
 * connector's keys (import_connect.c reads them), what translating them
 * yields (import_translate.c) and the writing of sluice's YAML
 * (import_emit.c). */
#ifndef SLUICE_IMPORT_INT_H
#define SLUICE_IMPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sluice/strbuf.h"

typedef struct prop {
    char *key;
    char *value;
    bool used;
} prop;

/* The largest input read: a connector's configuration is a few KiB. */
#define IMPORT_MAX_BYTES (1024 * 1024)

typedef struct importer {
    const char *path;
    prop *props;     /* in the input's order, each key once (the last one given wins) */
    size_t nprops, cap;
    size_t *index;   /* positions in props, sorted by key: take() looks up by bisection */
    char *name; /* the connector's name (JSON "name", or the name property) */
    FILE *diag;
    int warnings;
    bool strict;
    bool debezium_sink; /* io.debezium.connector.jdbc.JdbcSinkConnector */
} importer;

/* im_warn() - a key the translation could not carry (an error with --strict). */
void im_warn(importer *im, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* im_take() - the value of @k, marked as used; NULL when absent. */
const char *im_take(importer *im, const char *k);
bool im_is_true(const char *v);
/* im_yq() - @s as a double-quoted YAML scalar; im_yq_table() the same for
 * a table name, whose ${topic} and dotted ${...} templates stay. */
void im_yq(sl_strbuf *o, const char *s);
/* im_yq_printf() - the same for the text @fmt makes. */
void im_yq_printf(sl_strbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void im_yq_table(sl_strbuf *o, const char *s);
/* im_split_list() - a comma-separated list, blanks trimmed; returns the count. */
size_t im_split_list(const char *s, char ***out);
void im_free_list(char **v, size_t n);

typedef struct pgconn {
    sl_strbuf dsn;
    char *schema; /* currentSchema */
    long connect_timeout_s;
} pgconn;

typedef struct conv {
    const char *format;     /* sluice format or key_format */
    const char *registry;   /* schema.registry.url, for avro */
} conv;

typedef struct xforms {
    bool unwrap;              /* ExtractNewRecordState */
    bool soft_delete;         /* ... with delete.handling.mode=rewrite */
    char **add_fields;        /* ... add.fields */
    size_t nadd_fields;
    char *router_regex;       /* RegexRouter */
    char *router_replacement;
    sl_strbuf yaml;           /* the other transforms, as the lines of a route's transforms: list */
    bool drop_tombstones;     /* a Filter on RecordIsTombstone */
    bool dots_to_underscores; /* the Debezium sink's DefaultTableNamingStrategy */
} xforms;

/* What translate() reads from a connector's configuration, section by
 * section, and then writes out as sluice's. */
typedef struct plan {
    const char *name;       /* the connector: its consumer group is connect-NAME */
    pgconn pc;
    bool has_password;
    const char *topics, *topics_re;
    conv vc, kc;            /* value and key converters */
    xforms x;               /* single message transforms */
    const char *format, *table, *mode;
    char **keys;            /* conflict key columns */
    size_t nkeys;
    bool kafka_pk;          /* pk.mode kafka: topic, partition and offset as the key */
    bool deletes;
    const char *trunc;
    bool auto_create, auto_evolve;
    const char *batch, *whitelist, *include;
    const char *on_error, *dlq, *tasks;
    sl_strbuf kafka;        /* consumer.override.* as kafka: lines */
} plan;

/* im_translate_smt() - transform @name of class @type into @x->yaml
 * (import_transforms.c): 0 translated (or nothing to translate), -1 warned
 * about, -2 not a transform it knows. */
int im_translate_smt(importer *im, xforms *x, const char *name, const char *type);

/* im_route_topic() - the name RegexRouter gives @topic (*@ok false when the
 * expression is not POSIX extended). */
char *im_route_topic(const char *re_src, const char *rep, const char *topic, bool *ok);
void im_plan_free(plan *pl);
/* im_read_connector(), im_read_rows(), im_read_consumer() - the sections of
 * a connector's configuration, read into @pl (import_translate.c). */
int im_read_connector(importer *im, plan *pl, char *err, size_t errlen);
void im_read_rows(importer *im, plan *pl);
void im_read_consumer(importer *im, plan *pl);
/* im_translate() - the whole configuration as sluice YAML into @o
 * (import_emit.c); -1 with @err when it cannot be translated. */
int im_translate(importer *im, sl_strbuf *o, char *err, size_t errlen);

#endif
