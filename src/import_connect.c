/* import_connect.c - `sluice import-connect`: translate a Kafka Connect JDBC
 * sink configuration (Confluent's JdbcSinkConnector or Debezium's JDBC sink;
 * the JSON of the Connect REST API or a .properties file) into sluice YAML.
 *
 * Every key of the input is either translated, known to need nothing in
 * sluice, or reported: a warning each (an error with --strict). */
#include "sluice/import_connect.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

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

static void warn(importer *im, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void warn(importer *im, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(im->diag, "%s: %s: %s: ", im->path, im->strict ? "error" : "warning", key);
    vfprintf(im->diag, fmt, ap);
    fputc('\n', im->diag);
    va_end(ap);
    im->warnings++;
}

/* Appended as read; index_props() then drops repeated keys. */
static void add_prop(importer *im, const char *k, const char *v)
{
    if (im->nprops == im->cap) {
        im->cap = im->cap ? 2 * im->cap : 64;
        im->props = sl_xrealloc(im->props, im->cap * sizeof(prop));
    }
    im->props[im->nprops++] = (prop){sl_xstrdup(k), sl_xstrdup(v), false};
}

static const prop *sort_base;

static int by_key_then_position(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(sort_base[x].key, sort_base[y].key);
    return c ? c : (x > y) - (x < y);
}

/* Keep the last of each repeated key (as java.util.Properties and JSON
 * parsers do), in the input's order, and index the keys: O(n log n), where
 * a search per key added was quadratic. */
static void index_props(importer *im)
{
    size_t n = im->nprops;
    size_t *idx = sl_xmalloc((n ? n : 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_base = im->props;
    qsort(idx, n, sizeof(size_t), by_key_then_position);
    bool *drop = sl_xcalloc(n ? n : 1, sizeof(bool));
    for (size_t i = 0; i + 1 < n; i++)
        if (!strcmp(im->props[idx[i]].key, im->props[idx[i + 1]].key))
            drop[idx[i]] = true;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop[i]) {
            free(im->props[i].key);
            free(im->props[i].value);
        } else {
            im->props[kept++] = im->props[i];
        }
    }
    im->nprops = kept;
    for (size_t i = 0; i < kept; i++)
        idx[i] = i;
    sort_base = im->props;
    qsort(idx, kept, sizeof(size_t), by_key_then_position);
    free(drop);
    free(im->index);
    im->index = idx;
}

/* The value of @k, marked as translated; NULL when absent. */
static const char *take(importer *im, const char *k)
{
    size_t lo = 0, hi = im->nprops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        prop *p = &im->props[im->index[mid]];
        int c = strcmp(p->key, k);
        if (!c) {
            p->used = true;
            return p->value;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool is_true(const char *v)
{
    return v && !strcasecmp(v, "true");
}

/* ---- reading the input ---- */

static int load_json(importer *im, const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", im->path, je.line, je.column, je.text);
        return -1;
    }
    json_t *cfg = json_object_get(root, "config");
    if (!json_is_object(cfg))
        cfg = root; /* GET /connectors/NAME/config returns the bare map */
    if (!json_is_object(cfg)) {
        json_decref(root);
        snprintf(err, errlen, "%s: expected a JSON object (a connector, or its config map)", im->path);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (json_is_string(v)) {
            add_prop(im, k, json_string_value(v));
        } else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            add_prop(im, k, s);
            free(s);
        } else {
            json_decref(root);
            snprintf(err, errlen, "%s: %s: expected a string value", im->path, k);
            return -1;
        }
    }
    json_t *name = json_object_get(root, "name");
    if (json_is_string(name) && cfg != root)
        im->name = sl_xstrdup(json_string_value(name));
    json_decref(root);
    return 0;
}

/* Append code point @cp as UTF-8. */
static void put_utf8(sl_strbuf *o, unsigned long cp)
{
    if (cp < 0x80) {
        sl_strbuf_putc(o, (char)cp);
    } else if (cp < 0x800) {
        sl_strbuf_putc(o, (char)(0xC0 | (cp >> 6)));
        sl_strbuf_putc(o, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sl_strbuf_putc(o, (char)(0xE0 | (cp >> 12)));
        sl_strbuf_putc(o, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sl_strbuf_putc(o, (char)(0x80 | (cp & 0x3F)));
    } else {
        sl_strbuf_putc(o, (char)(0xF0 | (cp >> 18)));
        sl_strbuf_putc(o, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sl_strbuf_putc(o, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sl_strbuf_putc(o, (char)(0x80 | (cp & 0x3F)));
    }
}

/* The four hex digits of a \uXXXX at @s, or -1. */
static long hex4(const char *s, const char *end)
{
    if (end - s < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i];
        int d = isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* java.util.Properties' escapes in [s, end): \t \n \r \f, \uXXXX (UTF-16,
 * surrogate pairs joined), any other \c is c.  -1 with @err for a
 * malformed \u, a lone surrogate or U+0000 (no string here can hold it). */
static int unescape(const char *s, const char *end, sl_strbuf *o, const char **bad)
{
    while (s < end) {
        if (*s != '\\' || s + 1 == end) {
            sl_strbuf_putc(o, *s++);
            continue;
        }
        char c = s[1];
        s += 2;
        if (c != 'u') {
            sl_strbuf_putc(o, c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c);
            continue;
        }
        long cp = hex4(s, end);
        if (cp < 0) {
            *bad = "malformed \\uXXXX escape";
            return -1;
        }
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = end - s >= 6 && s[0] == '\\' && s[1] == 'u' ? hex4(s + 2, end) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                *bad = "\\uXXXX: a high surrogate without its low surrogate";
                return -1;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            s += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            *bad = "\\uXXXX: a low surrogate without its high surrogate";
            return -1;
        } else if (cp == 0) {
            *bad = "\\u0000: a NUL character cannot be carried";
            return -1;
        }
        put_utf8(o, (unsigned long)cp);
    }
    return 0;
}

/* One line of the file: [*s, its end), *s moved past its terminator (\n,
 * \r\n or \r, as java.util.Properties). */
static const char *next_line(const char **s, const char *end, const char **line_end)
{
    const char *b = *s, *e = b;
    while (e < end && *e != '\n' && *e != '\r')
        e++;
    *line_end = e;
    if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n')
        e += 2;
    else if (e < end)
        e++;
    *s = e;
    return b;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/* java.util.Properties (its load() reads ISO-8859-1; a file that is valid
 * UTF-8 is read as UTF-8): `key=value`, `key: value` or `key value`; a line
 * whose first non-blank character is # or ! is a comment, whole, even when
 * it ends in a backslash; other lines ending in an odd number of
 * backslashes continue on the next (its leading blanks dropped); escapes
 * as unescape(). */
static int load_properties(importer *im, const char *text, size_t len, char *err, size_t errlen)
{
    sl_strbuf line = SL_STRBUF_INIT, key = SL_STRBUF_INIT, val = SL_STRBUF_INIT;
    const char *s = text, *end = text + len;
    int lineno = 0, rc = 0;
    while (s < end && !rc) {
        sl_strbuf_reset(&line);
        int first = lineno + 1;
        bool comment = false, any = false;
        /* one logical line */
        for (;;) {
            const char *le, *b = next_line(&s, end, &le);
            lineno++;
            while (b < le && blank(*b))
                b++;
            if (!any && (b == le || *b == '#' || *b == '!')) {
                comment = true; /* blank or comment: never continued */
                break;
            }
            any = true;
            size_t bs = 0;
            while (bs < (size_t)(le - b) && le[-1 - (long)bs] == '\\')
                bs++;
            bool cont = bs % 2 == 1;
            sl_strbuf_append(&line, b, (size_t)(le - b) - (cont ? 1 : 0));
            if (!cont || s >= end)
                break;
        }
        if (comment)
            continue;
        const char *l = line.data ? line.data : "", *lend = l + line.len, *p = l;
        while (p < lend && *p != '=' && *p != ':' && !blank(*p))
            p += *p == '\\' && p + 1 < lend ? 2 : 1;
        const char *kend = p;
        while (p < lend && blank(*p))
            p++;
        if (p < lend && (*p == '=' || *p == ':'))
            p++;
        while (p < lend && blank(*p))
            p++;
        sl_strbuf_reset(&key);
        sl_strbuf_reset(&val);
        const char *bad = NULL;
        if (unescape(l, kend, &key, &bad) || unescape(p, lend, &val, &bad)) {
            snprintf(err, errlen, "%s:%d: %s", im->path, first, bad);
            rc = -1;
            break;
        }
        add_prop(im, key.data ? key.data : "", val.data ? val.data : "");
    }
    sl_strbuf_free(&line);
    sl_strbuf_free(&key);
    sl_strbuf_free(&val);
    return rc;
}

/* ---- writing YAML ---- */

/* Is the ${...} at @s one that sluice's loader keeps in a table name for
 * each record to fill: ${topic}, or a dotted name (${source.table}), never
 * ${file:...}? */
static bool table_template(const char *s)
{
    const char *end = strchr(s, '}');
    if (!end)
        return false;
    size_t n = (size_t)(end - s - 2);
    if (n == 5 && !strncmp(s + 2, "topic", 5))
        return true;
    return strncmp(s + 2, "file:", 5) && memchr(s + 2, '.', n);
}

/* A YAML double-quoted scalar that sluice's loader reads back as exactly
 * @s: every line break and control character escaped (so a value cannot
 * end its line and start keys of its own), and each ${ written $${ so
 * that nothing in it is expanded from the environment or a file.  With
 * @topic_template, the table's per-record templates stay. */
static void yq_value(sl_strbuf *o, const char *s, bool topic_template)
{
    const unsigned char *u = (const unsigned char *)s;
    sl_strbuf_putc(o, '"');
    while (*u) {
        unsigned char c = *u;
        if (c == '"' || c == '\\') {
            sl_strbuf_putc(o, '\\');
            sl_strbuf_putc(o, (char)c);
        } else if (c == '\n') {
            sl_strbuf_puts(o, "\\n");
        } else if (c == '\t') {
            sl_strbuf_puts(o, "\\t");
        } else if (c == '\r') {
            sl_strbuf_puts(o, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            sl_strbuf_printf(o, "\\x%02x", c);
        } else if (c == 0xC2 && u[1] >= 0x80 && u[1] <= 0x9F) {
            /* C1 controls, U+0085 (NEL) a line break among them */
            sl_strbuf_printf(o, "\\x%02x", u[1]);
            u++;
        } else if (c == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9)) {
            sl_strbuf_puts(o, u[2] == 0xA8 ? "\\L" : "\\P"); /* line and paragraph separators */
            u += 2;
        } else if (c == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
            sl_strbuf_puts(o, "\\uFEFF");
            u += 2;
        } else if (c == '$' && u[1] == '{' && !(topic_template && table_template((const char *)u))) {
            sl_strbuf_puts(o, "$${");
            u++;
        } else {
            sl_strbuf_putc(o, (char)c);
        }
        u++;
    }
    sl_strbuf_putc(o, '"');
}

static void yq(sl_strbuf *o, const char *s)
{
    yq_value(o, s, false);
}

/* A table name: Connect's ${topic} and the Debezium sink's ${source.table}
 * are sluice's too (check_values() has refused any other ${...}). */
static void yq_table(sl_strbuf *o, const char *s)
{
    yq_value(o, s, true);
}

/* Split a comma-separated list, trimming blanks; returns the count. */
static size_t split_list(const char *s, char ***out)
{
    size_t n = 0;
    char **v = NULL;
    while (s && *s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && s[len - 1] == ' ')
            len--;
        v = sl_xrealloc(v, (n + 1) * sizeof(char *));
        v[n] = sl_xmalloc(len + 1);
        memcpy(v[n], s, len);
        v[n][len] = '\0';
        n++;
        s = e ? e + 1 : s + strlen(s);
    }
    *out = v;
    return n;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- connection.url ---- */

typedef struct pgconn {
    sl_strbuf dsn;
    char *schema; /* currentSchema */
    long connect_timeout_s;
} pgconn;

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
    n = split_list(tmp.data, &params);
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
            warn(im, "connection.url", "the password in the URL was not copied: use ${file:...} or PGPASSWORD");
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
            warn(im, "connection.url", "JDBC parameter '%s' has no libpq equivalent; dropped", k);
            continue;
        }
        const char *val = v;
        if (!strcmp(k, "targetServerType"))
            val = !strcmp(v, "primary") || !strcmp(v, "master") ? "read-write" : "any";
        sl_strbuf_printf(&pc->dsn, "%c%s=%s", sep, carried[j].libpq, val);
        sep = '&';
    }
    free_list(params, n);
    return 0;
}

/* ---- converters ---- */

typedef struct conv {
    const char *format;     /* sluice format or key_format */
    const char *registry;   /* schema.registry.url, for avro */
} conv;

/* key.converter / value.converter -> a sluice format.  @is_value: value
 * side (json, connect-json, avro) or key side (json, string, avro). */
static conv translate_converter(importer *im, const char *side, bool is_value)
{
    conv c = {is_value ? "connect-json" : "json", NULL};
    char k[96];
    const char *cls = take(im, side);
    snprintf(k, sizeof(k), "%s.schemas.enable", side);
    const char *schemas = take(im, k);
    snprintf(k, sizeof(k), "%s.schema.registry.url", side);
    const char *reg = take(im, k);
    snprintf(k, sizeof(k), "%s.basic.auth.credentials.source", side);
    take(im, k);
    if (!cls) {
        if (is_value && !im->debezium_sink)
            warn(im, side, "not set: assumed the Connect worker's usual default, JsonConverter with schemas "
                           "(format: connect-json); check the worker's value.converter");
        return c;
    }
    const char *simple = strrchr(cls, '.') ? strrchr(cls, '.') + 1 : cls;
    if (!strcmp(simple, "JsonConverter")) {
        bool with_schema = !schemas || is_true(schemas);
        c.format = is_value ? (with_schema ? "connect-json" : "json") : "json";
    } else if (!strcmp(simple, "AvroConverter")) {
        c.format = "avro";
        c.registry = reg;
        if (!reg)
            warn(im, side, "AvroConverter without %s.schema.registry.url: set schema_registry.url by hand", side);
    } else if (!strcmp(simple, "StringConverter") && !is_value) {
        c.format = "string";
    } else {
        warn(im, side, "converter %s has no sluice equivalent; assumed %s", cls, c.format);
    }
    return c;
}

/* ---- transforms ---- */

typedef struct xforms {
    bool unwrap;              /* ExtractNewRecordState */
    bool soft_delete;         /* ... with delete.handling.mode=rewrite */
    char **add_fields;        /* ... add.fields */
    size_t nadd_fields;
    char *router_regex;       /* RegexRouter */
    char *router_replacement;
} xforms;

static void translate_transforms(importer *im, xforms *x)
{
    const char *list = take(im, "transforms");
    char **names;
    size_t n = split_list(list, &names);
    for (size_t i = 0; i < n; i++) {
        char k[256];
        snprintf(k, sizeof(k), "transforms.%s.type", names[i]);
        const char *type = take(im, k);
        const char *simple = type ? (strrchr(type, '.') ? strrchr(type, '.') + 1 : type) : "";
        if (!strcmp(simple, "ExtractNewRecordState") || !strcmp(simple, "UnwrapFromEnvelope")) {
            x->unwrap = true;
            snprintf(k, sizeof(k), "transforms.%s.delete.handling.mode", names[i]);
            const char *dh = take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.delete.tombstone.handling.mode", names[i]);
            const char *dth = take(im, k);
            if ((dh && !strcmp(dh, "rewrite")) || (dth && !strncmp(dth, "rewrite", 7)))
                x->soft_delete = true;
            snprintf(k, sizeof(k), "transforms.%s.drop.tombstones", names[i]);
            take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.add.fields", names[i]);
            x->nadd_fields = split_list(take(im, k), &x->add_fields);
            continue;
        }
        if (!strcmp(simple, "RegexRouter")) {
            snprintf(k, sizeof(k), "transforms.%s.regex", names[i]);
            const char *re = take(im, k);
            snprintf(k, sizeof(k), "transforms.%s.replacement", names[i]);
            const char *rep = take(im, k);
            if (re && rep && !x->router_regex) {
                x->router_regex = sl_xstrdup(re);
                x->router_replacement = sl_xstrdup(rep);
            } else {
                warn(im, "transforms", "RegexRouter '%s' without regex/replacement, or a second one: not translated",
                     names[i]);
            }
            continue;
        }
        snprintf(k, sizeof(k), "transforms.%s", names[i]);
        warn(im, k, "transform %s has no sluice equivalent; records will be written as they are in the topic",
             type ? type : "(no type)");
        /* its options are part of the same report */
        size_t plen = strlen(k);
        for (size_t j = 0; j < im->nprops; j++)
            if (!strncmp(im->props[j].key, k, plen) && im->props[j].key[plen] == '.')
                im->props[j].used = true;
    }
    free_list(names, n);
}

/* RegexRouter applied to one topic name (Java regex read as POSIX ERE,
 * $N replaced by groups; the whole name must match, as in Connect). */
static char *route_topic(const char *re_src, const char *rep, const char *topic, bool *ok)
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
        take(im, quiet[i]);
}

/* ---- the translation ---- */

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

static void plan_free(plan *pl)
{
    free_list(pl->keys, pl->nkeys);
    free_list(pl->x.add_fields, pl->x.nadd_fields);
    free(pl->x.router_regex);
    free(pl->x.router_replacement);
    sl_strbuf_free(&pl->pc.dsn);
    free(pl->pc.schema);
    sl_strbuf_free(&pl->kafka);
}

/* The connector: its class, name, database and topics. */
static int read_connector(importer *im, plan *pl, char *err, size_t errlen)
{
    const char *cls = take(im, "connector.class");
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
    const char *pname = take(im, "name");
    pl->name = im->name ? im->name : pname;
    if (!pl->name || !*pl->name) {
        snprintf(err, errlen, "%s: no connector name: the consumer group (connect-NAME) cannot be derived",
                 im->path);
        return -1;
    }
    const char *url = take(im, "connection.url");
    if (!url) {
        snprintf(err, errlen, "%s: no connection.url", im->path);
        return -1;
    }
    const char *user = take(im, "connection.user");
    const char *user2 = take(im, "connection.username");
    if (!user)
        user = user2;
    pl->has_password = take(im, "connection.password") != NULL;
    if (translate_url(im, url, user, &pl->pc, err, errlen))
        return -1;

    pl->topics = take(im, "topics");
    pl->topics_re = take(im, "topics.regex");
    if (!pl->topics == !pl->topics_re) {
        snprintf(err, errlen, "%s: exactly one of topics or topics.regex is needed", im->path);
        return -1;
    }
    return 0;
}

/* How records become rows: converters, transforms, table, mode, keys,
 * deletes, schema changes, batches, fields, errors; then the keys that
 * sluice has no use for. */
static void read_rows(importer *im, plan *pl)
{
    pl->vc = translate_converter(im, "value.converter", true);
    pl->kc = translate_converter(im, "key.converter", false);
    translate_transforms(im, &pl->x);

    /* the value format: a Debezium sink, or ExtractNewRecordState, reads
     * Debezium envelopes, which sluice decodes itself */
    pl->format = pl->vc.format;
    if (im->debezium_sink || pl->x.unwrap)
        pl->format = "debezium";

    pl->table = take(im, "collection.name.format");
    const char *table2 = take(im, "table.name.format");
    if (!pl->table)
        pl->table = table2;
    if (!pl->table)
        pl->table = "${topic}";

    const char *insert_mode = take(im, "insert.mode");
    pl->mode = "insert";
    if (insert_mode && !strcasecmp(insert_mode, "upsert"))
        pl->mode = "upsert";
    else if (insert_mode && !strcasecmp(insert_mode, "update")) {
        pl->mode = "upsert";
        warn(im, "insert.mode", "update has no sluice equivalent: translated as upsert (rows that do not exist "
                                "yet are inserted)");
    } else if (insert_mode && strcasecmp(insert_mode, "insert"))
        warn(im, "insert.mode", "'%s' is not insert, upsert or update; using insert", insert_mode);

    const char *pk_mode = take(im, "pk.mode");
    const char *pk_mode2 = take(im, "primary.key.mode");
    if (!pk_mode)
        pk_mode = pk_mode2;
    const char *pk_fields = take(im, "pk.fields");
    const char *pk_fields2 = take(im, "primary.key.fields");
    if (!pk_fields)
        pk_fields = pk_fields2;
    pl->nkeys = split_list(pk_fields, &pl->keys);
    pl->kafka_pk = false;
    if (pk_mode && !strcmp(pk_mode, "kafka")) {
        pl->kafka_pk = true;
        free_list(pl->keys, pl->nkeys);
        pl->nkeys = 0;
        pl->keys = NULL;
        if (!pk_fields)
            pl->nkeys = split_list("__connect_topic,__connect_partition,__connect_offset", &pl->keys);
        else
            pl->nkeys = split_list(pk_fields, &pl->keys);
    } else if (pk_mode && !strcmp(pk_mode, "record_header")) {
        warn(im, "primary.key.mode", "record_header has no sluice equivalent; the table's primary key is used");
    } else if (pk_mode && !strcmp(pk_mode, "none") && !strcmp(pl->mode, "upsert")) {
        warn(im, "pk.mode", "none with upsert: sluice takes the conflict key from the table's primary key");
    }

    const char *del = take(im, "delete.enabled");
    pl->deletes = is_true(del);
    if (!strcmp(pl->format, "debezium") && del && !pl->deletes)
        warn(im, "delete.enabled", "false: sluice applies Debezium delete events (delete_mode: hard or soft); "
                                   "there is no setting to ignore them");
    pl->trunc = take(im, "truncate.enabled");

    pl->auto_create = is_true(take(im, "auto.create"));
    pl->auto_evolve = is_true(take(im, "auto.evolve"));
    const char *evo = take(im, "schema.evolution");
    if (evo && !strcmp(evo, "basic"))
        pl->auto_create = pl->auto_evolve = true;

    pl->batch = take(im, "batch.size");
    pl->whitelist = take(im, "fields.whitelist");
    pl->include = take(im, "field.include.list");
    if (!pl->whitelist)
        pl->whitelist = pl->include;
    const char *exclude = take(im, "field.exclude.list");
    if (exclude)
        warn(im, "field.exclude.list", "sluice has no exclude list: fields are written to the columns of the same "
                                       "name the table has; drop the columns instead");

    const char *tolerance = take(im, "errors.tolerance");
    pl->dlq = take(im, "errors.deadletterqueue.topic.name");
    pl->on_error = "fail";
    if (tolerance && !strcmp(tolerance, "all"))
        pl->on_error = pl->dlq && *pl->dlq ? "dlq" : "skip";

    const char *tz = take(im, "db.timezone");
    const char *tz2 = take(im, "database.time_zone");
    const char *tz3 = take(im, "use.time.zone");
    const char *tzv = tz ? tz : tz2 ? tz2 : tz3;
    if (tzv && strcmp(tzv, "UTC"))
        warn(im, tz ? "db.timezone" : tz2 ? "database.time_zone" : "use.time.zone",
             "'%s': sluice writes timestamps as UTC instants; set the session TimeZone in the dsn "
             "(options=-c TimeZone=...) if the columns are without time zone",
             tzv);
    const char *quote = take(im, "quote.sql.identifiers");
    const char *quote2 = take(im, "quote.identifiers");
    if ((quote && !strcmp(quote, "never")) || (quote2 && !strcmp(quote2, "false")))
        warn(im, quote ? "quote.sql.identifiers" : "quote.identifiers",
             "sluice always quotes identifiers: names are case-sensitive as written");
    pl->tasks = take(im, "tasks.max");
    take_ignored(im);

}

/* consumer.override.* -> kafka:, checked against librdkafka. */
static void read_consumer(importer *im, plan *pl)
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
            warn(im, p->key, "set by sluice itself; not copied");
            continue;
        }
        char es[256];
        if (rd_kafka_conf_set(probe, k, v, es, sizeof(es)) != RD_KAFKA_CONF_OK) {
            warn(im, p->key, "not a librdkafka consumer property (%s); not copied", es);
            continue;
        }
        sl_strbuf_puts(&pl->kafka, "  ");
        yq(&pl->kafka, k);
        sl_strbuf_puts(&pl->kafka, ": ");
        yq(&pl->kafka, v);
        sl_strbuf_putc(&pl->kafka, '\n');
    }
    rd_kafka_conf_destroy(probe);
}

/* kafka:, schema_registry:, workers:, batch: and the target. */
static void emit_head(importer *im, const plan *pl, sl_strbuf *o)
{
    sl_strbuf_puts(o, "# sluice configuration imported from Kafka Connect connector ");
    yq(o, pl->name); /* escaped: a line break in it cannot end the comment */
    sl_strbuf_printf(o, "\n# (%s, ", im->debezium_sink ? "Debezium JDBC sink" : "Confluent JDBC sink");
    yq(o, im->path);
    sl_strbuf_puts(o, ").  Review it, then run `sluice --check -c FILE`.\n");
    sl_strbuf_puts(o, "kafka:\n  bootstrap.servers: ${KAFKA_BOOTSTRAP:-localhost:9092}"
                      "   # the Connect worker's bootstrap.servers\n");
    sl_strbuf_printf(o, "  group.id: ");
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "connect-%s", pl->name);
    yq(o, sb.data);
    sl_strbuf_free(&sb);
    sl_strbuf_puts(o, "   # the connector's group: its committed offsets carry over\n");
    if (pl->kafka.data)
        sl_strbuf_puts(o, pl->kafka.data);
    if (pl->vc.registry || pl->kc.registry) {
        sl_strbuf_puts(o, "schema_registry:\n  url: ");
        yq(o, pl->vc.registry ? pl->vc.registry : pl->kc.registry);
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
    yq(o, pl->pc.dsn.data);
    sl_strbuf_putc(o, '\n');
    if (pl->has_password)
        sl_strbuf_puts(o, "    # connection.password was not copied: give it to libpq through PGPASSWORD or a\n"
                          "    # password file, or add the URI parameter password=${file:/run/secrets/pg-password}\n");
    if (pl->pc.schema) {
        sl_strbuf_puts(o, "    schema: ");
        yq(o, pl->pc.schema);
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
        char *routed = route_topic(pl->x.router_regex, pl->x.router_replacement, topic, &ok);
        if (!ok) {
            warn(im, "transforms", "RegexRouter regex '%s' is not a POSIX extended expression; table left as "
                                   "table.name.format",
                 pl->x.router_regex);
            yq_table(o, pl->table);
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
            yq_table(o, t.data);
            sl_strbuf_free(&t);
        }
        free(routed);
    } else {
        yq_table(o, pl->table);
    }
}

/* The options of a route of Debezium change events. */
static void emit_debezium(importer *im, const plan *pl, sl_strbuf *o)
{
    if (pl->x.soft_delete)
        sl_strbuf_puts(o, "    delete_mode: soft\n    soft_delete_column: __deleted\n");
    if (im->debezium_sink)
        sl_strbuf_printf(o, "    truncate: %s\n", is_true(pl->trunc) ? "apply" : "ignore");
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
            yq(o, col.data);
            sl_strbuf_puts(o, ": ");
            yq(o, path.data);
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
    size_t nf = split_list(pl->whitelist, &fl);
    sl_strbuf_puts(o, "    columns:   # fields.whitelist / field.include.list\n");
    for (size_t i = 0; i < nf; i++) {
        const char *f = strchr(fl[i], ':') ? strchr(fl[i], ':') + 1 : fl[i];
        sl_strbuf_puts(o, "      ");
        yq(o, f);
        sl_strbuf pointer = SL_STRBUF_INIT;
        sl_strbuf_printf(&pointer, "/%s", f);
        sl_strbuf_puts(o, ": ");
        yq(o, pointer.data);
        sl_strbuf_free(&pointer);
        sl_strbuf_putc(o, '\n');
    }
    free_list(fl, nf);
    if (r == 0)
        warn(im, pl->include ? "field.include.list" : "fields.whitelist",
             "translated to columns:, but fields not listed are still written to columns of the same "
             "name when the table has them");
}

/* Route @r of @nroutes (one per topic of @tlist when @per_topic). */
static void emit_route(importer *im, const plan *pl, sl_strbuf *o, size_t r, size_t nroutes, char **tlist, size_t nt,
                       bool per_topic)
{
    sl_strbuf_puts(o, "  - name: ");
    sl_strbuf rn = SL_STRBUF_INIT;
    if (per_topic && nroutes > 1)
        sl_strbuf_printf(&rn, "%s-%s", pl->name, tlist[r]);
    else
        sl_strbuf_puts(&rn, pl->name);
    yq(o, rn.data);
    sl_strbuf_free(&rn);
    sl_strbuf_putc(o, '\n');
    if (pl->topics_re) {
        sl_strbuf_puts(o, "    topic_pattern: ");
        sl_strbuf re = SL_STRBUF_INIT;
        /* Connect matches the whole name */
        sl_strbuf_printf(&re, "^(%s)$", pl->topics_re);
        yq(o, re.data);
        sl_strbuf_free(&re);
        sl_strbuf_putc(o, '\n');
    } else {
        sl_strbuf_puts(o, "    topics: [");
        for (size_t i = 0; i < nt; i++) {
            if (per_topic && i != r)
                continue;
            if (i && !per_topic)
                sl_strbuf_puts(o, ", ");
            yq(o, tlist[i]);
        }
        sl_strbuf_puts(o, "]\n");
    }
    sl_strbuf_puts(o, "    target: pg\n    table: ");
    emit_table(im, pl, o, per_topic ? tlist[r] : NULL);
    sl_strbuf_printf(o, "\n    format: %s\n", pl->format);
    if (strcmp(pl->kc.format, "json"))
        sl_strbuf_printf(o, "    key_format: %s\n", pl->kc.format);
    sl_strbuf_printf(o, "    mode: %s\n", pl->mode);
    if (pl->nkeys) {
        sl_strbuf_puts(o, "    key: [");
        for (size_t i = 0; i < pl->nkeys; i++) {
            if (i)
                sl_strbuf_puts(o, ", ");
            yq(o, pl->keys[i]);
        }
        sl_strbuf_puts(o, "]\n");
    }
    if (pl->kafka_pk) {
        static const char *const kcol[] = {"__connect_topic", "__connect_partition", "__connect_offset"};
        static const char *const kval[] = {"kafka.topic", "kafka.partition", "kafka.offset"};
        sl_strbuf_puts(o, "    add_columns:\n");
        for (size_t i = 0; i < 3; i++) {
            sl_strbuf_puts(o, "      ");
            yq(o, pl->nkeys > i ? pl->keys[i] : kcol[i]);
            sl_strbuf_printf(o, ": %s\n", kval[i]);
        }
    }
    if (pl->deletes && strcmp(pl->format, "debezium")) {
        if (!strcmp(pl->mode, "upsert"))
            sl_strbuf_puts(o, "    delete_on_tombstone: true\n");
        else if (r == 0)
            warn(im, "delete.enabled", "deletes need upsert mode in sluice; not translated");
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
        yq(o, pl->dlq);
        sl_strbuf_putc(o, '\n');
    }
}

static int translate(importer *im, sl_strbuf *o, char *err, size_t errlen)
{
    plan pl = {.pc = {SL_STRBUF_INIT, NULL, 0}, .kafka = SL_STRBUF_INIT};
    if (read_connector(im, &pl, err, errlen)) {
        plan_free(&pl);
        return -1;
    }
    read_rows(im, &pl);
    read_consumer(im, &pl);

    /* every key left over */
    for (size_t i = 0; i < im->nprops; i++)
        if (!im->props[i].used)
            warn(im, im->props[i].key, "unknown to sluice's importer; not translated");

    emit_head(im, &pl, o);

    /* routes: one, or one per topic when a RegexRouter renames topics */
    char **tlist = NULL;
    size_t nt = pl.topics ? split_list(pl.topics, &tlist) : 0;
    size_t nroutes = 1;
    bool per_topic = false;
    if (pl.x.router_regex) {
        if (!pl.topics) {
            warn(im, "transforms", "RegexRouter with topics.regex: the table cannot be computed for topics "
                                   "not yet known; table: left as table.name.format");
        } else {
            per_topic = true;
            nroutes = nt;
        }
    }
    sl_strbuf_puts(o, "routes:\n");
    for (size_t r = 0; r < nroutes; r++)
        emit_route(im, &pl, o, r, nroutes, tlist, nt, per_topic);
    free_list(tlist, nt);
    plan_free(&pl);
    return 0;
}

/* Values the translation cannot carry with their meaning. */
static int check_values(importer *im, char *err, size_t errlen)
{
    static const char *const tables[] = {"table.name.format", "collection.name.format"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        const char *v = NULL;
        for (size_t j = 0; j < im->nprops && !v; j++)
            if (!strcmp(im->props[j].key, tables[i]))
                v = im->props[j].value;
        for (const char *d = v ? strstr(v, "${") : NULL; d; d = strstr(d + 2, "${"))
            if (!table_template(d)) {
                snprintf(err, errlen, "%s: %s: '%.200s': only ${topic} and dotted names such as ${source.table} "
                                      "can be carried over (sluice reads every ${...} in a table name as a "
                                      "per-record template or expands it)",
                         im->path, tables[i], v);
                return -1;
            }
    }
    return 0;
}

/* The file, at most IMPORT_MAX_BYTES; -1 with @err otherwise. */
static int read_input(const char *path, sl_strbuf *text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char buf[8192];
    size_t got;
    int rc = 0;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (text->len + got > IMPORT_MAX_BYTES) {
            snprintf(err, errlen, "%s: larger than %d KiB: not a connector configuration", path,
                     IMPORT_MAX_BYTES / 1024);
            rc = -1;
            break;
        }
        sl_strbuf_append(text, buf, got);
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    if (!rc && text->len && memchr(text->data, '\0', text->len)) {
        snprintf(err, errlen, "%s: contains a NUL byte: not a connector configuration", path);
        rc = -1;
    }
    return rc;
}

int sl_import_connect(const char *path, bool strict, FILE *out, FILE *diag)
{
    importer im = {.path = path, .diag = diag, .strict = strict};
    char err[1024] = "";
    sl_strbuf text = SL_STRBUF_INIT, yaml = SL_STRBUF_INIT;
    int rc = read_input(path, &text, err, sizeof(err));
    if (rc == 0) {
        const char *t = text.data ? text.data : "";
        while (isspace((unsigned char)*t))
            t++;
        if (*t == '{') {
            rc = load_json(&im, t, err, sizeof(err));
        } else if (sl_utf8_strict((const unsigned char *)text.data, text.len)) {
            rc = load_properties(&im, text.data ? text.data : "", text.len, err, sizeof(err));
        } else { /* ISO-8859-1, as java.util.Properties.load(InputStream) reads it */
            sl_strbuf u = SL_STRBUF_INIT;
            for (size_t i = 0; i < text.len; i++)
                put_utf8(&u, (unsigned char)text.data[i]);
            rc = load_properties(&im, u.data, u.len, err, sizeof(err));
            sl_strbuf_free(&u);
        }
    }
    if (rc == 0) {
        index_props(&im);
        rc = check_values(&im, err, sizeof(err));
    }
    if (rc == 0)
        rc = translate(&im, &yaml, err, sizeof(err));
    if (rc)
        fprintf(diag, "%s\n", err);
    else if (strict && im.warnings) {
        fprintf(diag, "%s: %d key(s) cannot be translated exactly (--strict)\n", path, im.warnings);
        rc = -1;
    } else
        fputs(yaml.data, out);
    for (size_t i = 0; i < im.nprops; i++) {
        free(im.props[i].key);
        free(im.props[i].value);
    }
    free(im.props);
    free(im.index);
    free(im.name);
    sl_strbuf_free(&yaml);
    sl_strbuf_free(&text);
    return rc ? 1 : 0;
}
