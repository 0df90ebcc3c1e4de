/* config.h - the configuration file, parsed from YAML (or JSON) through one
 * declarative option table (src/options.c) that also produces
 * docs/configuration.md.  Every error names file:line:key. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"

/* auto_evolve's levels: each includes the ones before it. */
typedef enum {
    SL_EVOLVE_OFF = 0,
    SL_EVOLVE_ADD_COLUMNS, /* add a nullable column for a new field (`true`) */
    SL_EVOLVE_WIDEN,       /* also widen a column to a wider field type, relax NOT NULL */
} sl_evolve;

typedef enum { SL_DELIVERY_EXACTLY_ONCE, SL_DELIVERY_AT_LEAST_ONCE } sl_delivery;
typedef enum { SL_ROLE_ORIGIN, SL_ROLE_REPLICA } sl_replication_role;
typedef enum { SL_FMT_JSON, SL_FMT_AVRO, SL_FMT_CONNECT_JSON, SL_FMT_DEBEZIUM, SL_FMT_PROTOBUF, SL_FMT_JSON_SCHEMA } sl_format;
typedef enum { SL_KEYFMT_JSON, SL_KEYFMT_STRING, SL_KEYFMT_AVRO, SL_KEYFMT_PROTOBUF, SL_KEYFMT_JSON_SCHEMA } sl_keyformat;
/* sl_keyformat_registry() - keys in the Confluent wire format, read with
 * the schema registry. */
static inline bool sl_keyformat_registry(sl_keyformat k)
{
    return k == SL_KEYFMT_AVRO || k == SL_KEYFMT_PROTOBUF || k == SL_KEYFMT_JSON_SCHEMA;
}
typedef enum { SL_MODE_UPSERT, SL_MODE_INSERT, SL_MODE_UPDATE } sl_mode;
typedef enum { SL_ONERR_FAIL, SL_ONERR_DLQ, SL_ONERR_SKIP } sl_onerror;
typedef enum { SL_TRUNCATE_APPLY, SL_TRUNCATE_IGNORE } sl_truncate;
typedef enum { SL_DELETE_HARD, SL_DELETE_SOFT } sl_delete_mode;
typedef enum { SL_EPOCH_S, SL_EPOCH_MS, SL_EPOCH_US } sl_epoch_unit;

/* An ordered string map (YAML mapping of scalars). */
typedef struct sl_kv {
    char *key;
    char *value;
    int line;
} sl_kv;

/* One entry of a route's `transforms:` list (src/transform/, options
 * routes[].transforms[].*): which keys apply depends on `type`. */
typedef enum {
    SL_TX_FILTER, SL_TX_REPLACE_FIELD, SL_TX_FLATTEN, SL_TX_INSERT_FIELD, SL_TX_HEADER_TO_VALUE,
    SL_TX_TIMESTAMP_CONVERTER, SL_TX_VALUE_TO_KEY, SL_TX_CAST, SL_TX_MASK_FIELD
} sl_transform_type;
typedef struct sl_transform_conf {
    int type;               /* sl_transform_type */
    char *field;            /* filter, timestamp_converter */
    int predicate;          /* filter: sl_tx_predicate (transform.h) */
    char *value;            /* filter: the operand; mask_field: the replacement */
    char **values;          /* filter predicate in */
    size_t nvalues;
    bool negate;            /* filter: drop what does NOT match */
    char **include;         /* replace_field */
    size_t ninclude;
    char **exclude;
    size_t nexclude;
    sl_kv *rename;
    size_t nrename;
    char *delimiter;        /* flatten */
    sl_kv *static_fields;   /* insert_field: field -> text */
    size_t nstatic_fields;
    char *topic_field, *partition_field, *offset_field, *timestamp_field; /* insert_field */
    char **headers;         /* header_to_value */
    size_t nheaders;
    char **fields;          /* header_to_value, value_to_key, mask_field */
    size_t nfields;
    int target_type;        /* timestamp_converter: sl_tx_ts_type (transform.h) */
    char *format;           /* timestamp_converter: strftime/strptime pattern */
    int unix_precision;     /* timestamp_converter */
    sl_kv *spec;            /* cast: field -> type */
    size_t nspec;
    int line;
} sl_transform_conf;

typedef enum { SL_CASE_KEEP, SL_CASE_LOWER, SL_CASE_UPPER } sl_name_case;

typedef struct sl_target_conf {
    char *name;
    int type;           /* index into sl_sinks[] (sink.h): every target type lives in src/sink/ */
    char *dsn;          /* libpq connection string (postgresql, cratedb over pgwire) */
    char *url;          /* cratedb HTTP endpoint, e.g. http://127.0.0.1:4200 */
    char *schema;       /* cratedb HTTP: Default-Schema header */
    char *user;         /* cratedb HTTP basic auth */
    char *password;
    char *ca_file;
    bool insecure;      /* cratedb HTTP: skip TLS verification */
    sl_delivery delivery;
    int64_t connect_timeout_ms;
    int64_t statement_timeout_ms;
    sl_replication_role replication_role; /* postgresql: session_replication_role of every connection */
    bool insert_first;  /* postgresql: an upsert batch tries one COPY into the table first */
    char *password_command; /* run for every new connection: its output is the password (credential.h) */
    char *dsn_source;       /* dsn and password as written, when they read ${file:}: read again */
    char *password_source;  /* for every new connection (credential.h); else NULL */
    int line;
} sl_target_conf;

typedef struct sl_route_conf {
    char *name;           /* "route 1" unless given */
    char **topics;
    size_t ntopics;
    char *topic_pattern;  /* librdkafka regex subscription, starts with ^ */
    char *target_name;
    sl_target_conf *target; /* resolved, not owned */
    char *table;          /* template: ${topic}, ${source.schema}, ${source.table}, ${ENV} done */
    sl_format format;
    sl_keyformat key_format;
    sl_mode mode;
    char **key;           /* conflict key columns; NULL: primary key from the catalog */
    size_t nkey;
    bool delete_on_tombstone;
    sl_kv *columns;       /* column -> JSON pointer into the value */
    size_t ncolumns;
    sl_onerror on_error;
    char *dlq_topic;      /* dead letters to a Kafka topic ... */
    char *dlq_table;      /* ... or to a table in the route's target */
    bool auto_create;
    char *auto_create_allow; /* POSIX extended regex the created table's schema.name must match; NULL: any */
    int64_t auto_create_max; /* tables this route may create per process */
    sl_evolve auto_evolve; /* 0 (off) is false: tests read it as a boolean */
    sl_truncate truncate;
    sl_delete_mode delete_mode;
    char *soft_delete_column;
    sl_kv *add_columns;   /* column -> envelope path (debezium): source.ts_ms, op, ... */
    size_t nadd_columns;
    sl_epoch_unit epoch_unit;
    char *append_key;     /* CrateDB insert mode: key column filled with topic/partition/offset */
    char *unavailable_value; /* debezium: the connector's unavailable.value.placeholder */
    /* fan-out (pipeline.h): this route also takes topics an earlier route
     * matches first; a child route (explode) always does */
    bool fan_out;
    /* child tables from nested arrays (src/worker/explode.c) */
    char *explode;        /* JSON pointer to the array in the record's value; NULL: not a child route */
    char *explode_index;  /* the child table's column taking the element's index */
    sl_kv *explode_parent; /* child column -> JSON pointer to the parent's key value */
    size_t nexplode_parent;
    /* transforms (src/transform/): applied between decode and mapping */
    sl_transform_conf *transforms;
    size_t ntransforms;
    struct sl_tx_chain *chain;   /* compiled from transforms at load; NULL when there are none */
    /* table-name rules for the values ${...} puts into `table` (src/transform/naming.c) */
    char **name_strip_prefix;
    size_t nname_strip_prefix;
    sl_kv *name_replace;         /* POSIX extended regex -> replacement (\\1..\\9), in order */
    size_t nname_replace;
    int name_case;               /* sl_name_case */
    struct sl_name_rules *name_rules; /* compiled at load; NULL when there are none */
    int line;
} sl_route_conf;

typedef struct sl_registry_conf {
    char **urls;
    size_t nurls;
    char *user;
    char *password;
    char *bearer_token;         /* Authorization: Bearer, instead of user/password */
    char *bearer_token_source;  /* as written, when it reads ${file:}: read for each request */
    char *bearer_token_command; /* prints the token; run for each request */
    char *ca_file;
    char *cert_file;            /* TLS client certificate (PEM) ... */
    char *key_file;             /* ... its key (PEM) ... */
    char *key_password;         /* ... and the key's passphrase */
    int64_t timeout_ms;
} sl_registry_conf;

typedef struct sl_config {
    char *path;
    sl_kv *kafka;         /* passed to librdkafka as-is */
    size_t nkafka;
    sl_target_conf *targets;
    size_t ntargets;
    sl_route_conf *routes;
    size_t nroutes;
    struct {
        int64_t max_rows;
        int64_t max_bytes;
        int64_t linger_ms;
    } batch;
    struct {
        int64_t initial_backoff_ms;
        int64_t max_backoff_ms;
    } retry;
    int64_t workers;
    char *log_level;
    sl_registry_conf registry; /* registry.nurls == 0: not configured */
    char *metrics_file;        /* if set, the metrics are written here every 5 s */
    int64_t shutdown_timeout_ms;
    struct {
        char *listen;          /* HOST:PORT of the admin server; NULL: off */
        bool partition_lag;    /* sluice_consumer_lag per partition (else per topic) */
        int64_t max_series;    /* series per metric family; past it, the overflow series */
        int64_t stall_timeout_ms;
        int64_t max_connections;            /* open in all */
        int64_t max_connections_per_client; /* open from one client address */
        int64_t request_timeout_ms;         /* a request's line and headers arrive whole within it */
        int64_t idle_timeout_ms;            /* an open connection with nothing happening is closed */
    } admin;
    char **secret_keys;        /* option paths whose values came from ${file:}: never printed */
    char **secret_raw;         /* ... and each one's value as written (with its ${file:}) */
    size_t nsecret_keys;
} sl_config;

/* sl_config_load() - read, substitute ${ENV}, parse and validate @path.
 * Returns NULL with @err filled ("FILE:LINE: KEY: message") on failure. */
sl_config *sl_config_load(const char *path, sl_error *err);
void sl_config_free(sl_config *cfg);

/* sl_config_expand() - @raw with ${NAME}, ${NAME:-default} and ${file:/path}
 * substituted as the configuration's values are (secret files read again,
 * their contents remembered for masking); errors name @key.  free() *@out. */
int sl_config_expand(const char *raw, const char *key, char **out, sl_error *err);

/* sl_config_kafka_get() - the value of a kafka.* property, or NULL. */
const char *sl_config_kafka_get(const sl_config *cfg, const char *key);

/* sl_config_route_for_topic() - the first route whose topics or pattern
 * match @topic, or NULL. */
const sl_route_conf *sl_config_route_for_topic(const sl_config *cfg, const char *topic);

/* sl_config_write_docs() - the configuration reference in Markdown,
 * generated from the option table (docs/configuration.md). */
void sl_config_write_docs(FILE *out);

/* sl_config_option_names() - every documented option path ("batch.max_rows",
 * "routes[].table", ...), NULL-terminated; used by the docs test. */
const char *const *sl_config_option_names(void);

/* sl_config_print() - the effective configuration as YAML, every default
 * filled in, every secret (passwords, ${file:} values, passwords inside
 * DSNs and URLs, kafka credentials) replaced by ***.  The output loads
 * again with sl_config_load() once the secrets are put back. */
void sl_config_print(const sl_config *cfg, FILE *out);

/* sl_config_reload_diff() - what differs from @old in @nu, as option paths:
 * in @changed what a running process takes on SIGHUP, in @blocked what
 * needs a restart.  Returns true when @blocked is empty. */
struct sl_strbuf;
bool sl_config_reload_diff(const sl_config *old, const sl_config *nu, struct sl_strbuf *changed,
                           struct sl_strbuf *blocked);

/* sl_config_warn_url() - warn (naming @path and @key) when credentials
 * would go to @url over plain http://, and register the password of its
 * userinfo as a secret (redact.h). */
void sl_config_warn_url(const char *path, const char *key, const char *url, bool has_user);

/* sl_parse_size() - "8MiB", "512k", "1000" -> bytes; -1 on error. */
int64_t sl_parse_size(const char *s);
/* sl_parse_duration_ms() - "100ms", "5s", "2m", "250" (ms) -> ms; -1 on error. */
int64_t sl_parse_duration_ms(const char *s);

#endif
