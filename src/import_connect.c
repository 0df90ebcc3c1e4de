/* import_connect.c - `sluice import-connect`: translate a Kafka Connect JDBC
 * sink configuration (Confluent's JdbcSinkConnector or Debezium's JDBC sink;
 * the JSON of the Connect REST API or a .properties file) into sluice YAML.
 *
 * Every key of the input is either translated, known to need nothing in
 * sluice, or reported: a warning each (an error with --strict).  This file
 * reads the input and runs the command; import_translate.c reads the keys,
 * import_emit.c writes sluice's YAML. */
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

#include "import_int.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

void im_warn(importer *im, const char *key, const char *fmt, ...)
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
const char *im_take(importer *im, const char *k)
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

bool im_is_true(const char *v)
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

void im_yq(sl_strbuf *o, const char *s)
{
    yq_value(o, s, false);
}

/* A table name: Connect's ${topic} and the Debezium sink's ${source.table}
 * are sluice's too (check_values() has refused any other ${...}). */
void im_yq_table(sl_strbuf *o, const char *s)
{
    yq_value(o, s, true);
}

void im_yq_printf(sl_strbuf *o, const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = sl_xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, again);
    va_end(again);
    va_end(ap);
    im_yq(o, s);
    free(s);
}

/* Split a comma-separated list, trimming blanks; returns the count. */
size_t im_split_list(const char *s, char ***out)
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

void im_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
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
        rc = im_translate(&im, &yaml, err, sizeof(err));
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
