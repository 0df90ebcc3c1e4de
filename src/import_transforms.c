/* import_transforms.c - `sluice import-connect`: a connector's single
 * message transforms (Kafka Connect's own, Debezium's HeaderToValue,
 * Confluent's Filter) and predicates, written as a route's `transforms:`
 * list (src/transform/).  Only what has no sluice equivalent is warned
 * about: transforms of the record key, conditional transforms,
 * time-based routing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_int.h"

/* transforms.NAME.KEY, or predicates.NAME.KEY with @pfx "predicates" */
static const char *opt(importer *im, const char *pfx, const char *name, const char *key)
{
    char k[300];
    snprintf(k, sizeof(k), "%s.%s.%s", pfx, name, key);
    return im_take(im, k);
}

/* "a,b" as a YAML flow list "[a, b]" (each quoted). */
static void yq_list(sl_strbuf *o, const char *csv)
{
    char **v;
    size_t n = im_split_list(csv, &v);
    sl_strbuf_putc(o, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_strbuf_puts(o, ", ");
        im_yq(o, v[i]);
    }
    sl_strbuf_putc(o, ']');
    im_free_list(v, n);
}

/* An InsertField field name without its "!" / "?" suffix. */
static void yq_field(sl_strbuf *o, const char *f)
{
    size_t n = strlen(f);
    char *s = strndup(f, n && (f[n - 1] == '!' || f[n - 1] == '?') ? n - 1 : n);
    im_yq(o, s);
    free(s);
}

/* "a:b,c:d" as a YAML flow mapping. */
static int yq_pairs(sl_strbuf *o, const char *csv)
{
    char **v;
    size_t n = im_split_list(csv, &v);
    int rc = 0;
    sl_strbuf_putc(o, '{');
    for (size_t i = 0; i < n; i++) {
        char *colon = strchr(v[i], ':');
        if (!colon) {
            rc = -1;
            break;
        }
        *colon = '\0';
        if (i)
            sl_strbuf_puts(o, ", ");
        im_yq(o, v[i]);
        sl_strbuf_puts(o, ": ");
        im_yq(o, colon + 1);
    }
    sl_strbuf_putc(o, '}');
    im_free_list(v, n);
    return rc;
}

/* Java's SimpleDateFormat letters sluice's strptime/strftime share; NULL
 * when the pattern uses others (fractions of seconds, zones, names). */
static char *java_to_strftime(const char *j)
{
    static const struct { const char *java, *c; } map[] = {
        {"yyyy", "%Y"}, {"yy", "%y"}, {"MM", "%m"}, {"dd", "%d"}, {"HH", "%H"}, {"mm", "%M"}, {"ss", "%S"},
    };
    sl_strbuf o = SL_STRBUF_INIT;
    for (const char *s = j; *s;) {
        if (*s == '\'') { /* quoted literal text; '' is a quote */
            for (s++; *s && !(*s == '\'' && s[1] != '\''); s++) {
                if (*s == '\'')
                    s++;
                sl_strbuf_puts(&o, *s == '%' ? "%%" : (char[]){*s, 0});
            }
            if (*s)
                s++;
            continue;
        }
        if (isalpha((unsigned char)*s)) {
            size_t k;
            for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
                if (!strncmp(s, map[k].java, strlen(map[k].java)) && s[strlen(map[k].java)] != *s)
                    break;
            if (k == sizeof(map) / sizeof(map[0])) {
                sl_strbuf_free(&o);
                return NULL;
            }
            sl_strbuf_puts(&o, map[k].c);
            s += strlen(map[k].java);
            continue;
        }
        sl_strbuf_puts(&o, *s == '%' ? "%%" : (char[]){*s, 0});
        s++;
    }
    return sl_strbuf_steal(&o);
}

/* Confluent's Filter$Value condition, in the simple JsonPath forms
 * $[?(@.f OP v)] (OP ==, !=, <, <=, >, >=; v a number or 'text') and
 * $[?(@.f =~ /re/)]: 0 with the filter's keys in @o. */
static int confluent_condition(const char *cond, bool exclude, sl_strbuf *o)
{
    char field[128], op[4], rest[512];
    if (sscanf(cond, " $[?(@.%127[A-Za-z0-9_] %3[=!<>~] %511[^\n]", field, op, rest) != 3)
        return -1;
    size_t n = strlen(rest);
    if (n < 2 || strcmp(rest + n - 2, ")]"))
        return -1;
    rest[n - 2] = '\0';
    while (n > 2 && rest[strlen(rest) - 1] == ' ')
        rest[strlen(rest) - 1] = '\0';
    static const struct { const char *op, *pred; } ops[] = {
        {"==", "equals"}, {"!=", "not_equals"}, {"<", "lt"}, {"<=", "le"}, {">", "gt"}, {">=", "ge"}, {"=~", "regex"},
    };
    const char *pred = NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (!strcmp(op, ops[i].op))
            pred = ops[i].pred;
    if (!pred)
        return -1;
    char *v = rest;
    size_t vl = strlen(v);
    if (!strcmp(pred, "regex")) {
        if (vl < 2 || v[0] != '/' || v[vl - 1] != '/')
            return -1;
        v[vl - 1] = '\0';
        v++;
    } else if (vl >= 2 && (v[0] == '\'' || v[0] == '"') && v[vl - 1] == v[0]) {
        v[vl - 1] = '\0';
        v++;
    }
    sl_strbuf_puts(o, "field: ");
    im_yq(o, field);
    sl_strbuf_printf(o, ", predicate: %s, value: ", pred);
    im_yq(o, v);
    /* filter.type include keeps what matches: sluice drops what does not */
    sl_strbuf_printf(o, ", negate: %s", exclude ? "false" : "true");
    return 0;
}

/* A Filter's predicate (predicates.NAME.*) into @o; 1 when it drops only
 * tombstones, which sluice never writes unless delete_on_tombstone. */
static int predicate(importer *im, xforms *x, const char *tname, const char *pname, bool negate, sl_strbuf *o)
{
    const char *type = opt(im, "predicates", pname, "type");
    const char *simple = type ? (strrchr(type, '.') ? strrchr(type, '.') + 1 : type) : "";
    char k[300];
    snprintf(k, sizeof(k), "transforms.%s.predicate", tname);
    if (!strcmp(simple, "TopicNameMatches")) {
        sl_strbuf_puts(o, "predicate: topic_matches, value: ");
        im_yq_printf(o, "^(%s)$", opt(im, "predicates", pname, "pattern")); /* Connect matches the whole name */
    } else if (!strcmp(simple, "HasHeaderKey")) {
        sl_strbuf_puts(o, "predicate: has_header, value: ");
        im_yq(o, opt(im, "predicates", pname, "name"));
    } else if (!strcmp(simple, "RecordIsTombstone")) {
        if (negate) {
            im_warn(im, k, "a Filter keeping only tombstones has no sluice equivalent");
            return -1;
        }
        x->drop_tombstones = true;
        return 1;
    } else {
        im_warn(im, k, "predicate %s (%s) has no sluice equivalent", pname, type ? type : "no type");
        return -1;
    }
    sl_strbuf_printf(o, ", negate: %s", negate ? "true" : "false");
    return 0;
}

int im_translate_smt(importer *im, xforms *x, const char *name, const char *type)
{
    const char *simple = strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
    char key[300];
    snprintf(key, sizeof(key), "transforms.%s", name);
    bool on_key = strstr(simple, "$Key") != NULL;
    char base[64];
    snprintf(base, sizeof(base), "%.*s", (int)strcspn(simple, "$"), simple);
    const char *cond = opt(im, "transforms", name, "predicate");
    const char *neg = opt(im, "transforms", name, "negate");
    bool negate = neg && im_is_true(neg);
    if (cond && strcmp(base, "Filter")) {
        im_warn(im, key, "%s applied only where predicate %s holds: sluice's transforms apply to every record; "
                "not translated", type, cond);
        return 0;
    }
    if (on_key) {
        im_warn(im, key, "%s transforms the record key: sluice's transforms work on the value; not translated", type);
        return 0;
    }
    sl_strbuf t = SL_STRBUF_INIT;
    int rc = 0;
    if (!strcmp(base, "Filter") && strstr(type, "io.confluent")) {
        const char *c = opt(im, "transforms", name, "filter.condition");
        const char *ft = opt(im, "transforms", name, "filter.type");
        opt(im, "transforms", name, "missing.or.null.behavior");
        sl_strbuf_puts(&t, "type: filter, ");
        if (!c || confluent_condition(c, !ft || !strcmp(ft, "exclude"), &t)) {
            im_warn(im, key, "filter.condition '%s' is not of the form $[?(@.field OP value)]; not translated",
                    c ? c : "");
            rc = -1;
        }
    } else if (!strcmp(base, "Filter")) {
        sl_strbuf_puts(&t, "type: filter, ");
        if (!cond) {
            sl_strbuf_free(&t);
            im_warn(im, key, "Filter without a predicate drops every record; not translated");
            return 0;
        }
        rc = predicate(im, x, name, cond, negate, &t);
    } else if (!strcmp(base, "ReplaceField")) {
        const char *inc = opt(im, "transforms", name, "include"), *inc2 = opt(im, "transforms", name, "whitelist");
        const char *exc = opt(im, "transforms", name, "exclude"), *exc2 = opt(im, "transforms", name, "blacklist");
        const char *ren = opt(im, "transforms", name, "renames");
        sl_strbuf_puts(&t, "type: replace_field");
        if (inc || inc2) {
            sl_strbuf_puts(&t, ", include: ");
            yq_list(&t, inc ? inc : inc2);
        }
        if (exc || exc2) {
            sl_strbuf_puts(&t, ", exclude: ");
            yq_list(&t, exc ? exc : exc2);
        }
        if (ren) {
            sl_strbuf_puts(&t, ", rename: ");
            rc = yq_pairs(&t, ren);
        }
    } else if (!strcmp(base, "Flatten")) {
        const char *d = opt(im, "transforms", name, "delimiter");
        sl_strbuf_puts(&t, "type: flatten, delimiter: ");
        im_yq(&t, d ? d : "."); /* Connect's default */
    } else if (!strcmp(base, "InsertField")) {
        static const char *const kk[] = {"topic", "partition", "offset", "timestamp"};
        sl_strbuf_puts(&t, "type: insert_field");
        for (size_t i = 0; i < 4; i++) {
            char k[32];
            snprintf(k, sizeof(k), "%s.field", kk[i]);
            const char *f = opt(im, "transforms", name, k);
            if (f) {
                sl_strbuf_printf(&t, ", %s_field: ", kk[i]);
                yq_field(&t, f);
            }
        }
        const char *sf = opt(im, "transforms", name, "static.field"), *sv = opt(im, "transforms", name, "static.value");
        if (sf) {
            sl_strbuf_puts(&t, ", static: {");
            yq_field(&t, sf);
            sl_strbuf_puts(&t, ": ");
            im_yq(&t, sv ? sv : "");
            sl_strbuf_putc(&t, '}');
        }
    } else if (!strcmp(base, "HeaderFrom")) {
        /* fields copied or moved into headers: sluice writes no headers,
         * so a move only drops the fields */
        const char *f = opt(im, "transforms", name, "fields"), *op = opt(im, "transforms", name, "operation");
        opt(im, "transforms", name, "headers");
        opt(im, "transforms", name, "replace.null.with.default");
        if (op && !strcmp(op, "move") && f) {
            sl_strbuf_puts(&t, "type: replace_field, exclude: ");
            yq_list(&t, f);
        } else {
            sl_strbuf_free(&t);
            return 0; /* a copy into headers changes nothing sluice writes */
        }
    } else if (!strcmp(simple, "HeaderToValue")) {
        const char *h = opt(im, "transforms", name, "headers"), *f = opt(im, "transforms", name, "fields");
        const char *op = opt(im, "transforms", name, "operation");
        (void)op; /* move or copy: headers are not written either way */
        sl_strbuf_puts(&t, "type: header_to_value, headers: ");
        yq_list(&t, h ? h : "");
        sl_strbuf_puts(&t, ", fields: ");
        yq_list(&t, f ? f : "");
    } else if (!strcmp(base, "TimestampConverter")) {
        const char *f = opt(im, "transforms", name, "field"), *tt = opt(im, "transforms", name, "target.type");
        const char *fmt = opt(im, "transforms", name, "format"), *p = opt(im, "transforms", name, "unix.precision");
        opt(im, "transforms", name, "replace.null.with.default");
        sl_strbuf_puts(&t, "type: timestamp_converter, field: ");
        im_yq(&t, f ? f : "");
        char lower[32] = "";
        for (size_t i = 0; tt && tt[i] && i < sizeof(lower) - 1; i++)
            lower[i] = (char)tolower((unsigned char)tt[i]), lower[i + 1] = '\0';
        sl_strbuf_printf(&t, ", target_type: %s", lower);
        if (fmt) {
            char *c = java_to_strftime(fmt);
            if (!c) {
                im_warn(im, key, "format '%s' uses SimpleDateFormat letters sluice's strftime patterns do not "
                        "cover (yyyy yy MM dd HH mm ss only); not translated", fmt);
                rc = -1;
            } else {
                sl_strbuf_puts(&t, ", format: ");
                im_yq(&t, c);
                free(c);
            }
        }
        if (p)
            sl_strbuf_printf(&t, ", unix_precision: %s", p);
        if (!f || !*lower) {
            im_warn(im, key, "TimestampConverter of the whole value (no field), or without target.type; not translated");
            rc = -1;
        }
    } else if (!strcmp(base, "ValueToKey")) {
        sl_strbuf_puts(&t, "type: value_to_key, fields: ");
        yq_list(&t, opt(im, "transforms", name, "fields"));
    } else if (!strcmp(base, "Cast")) {
        const char *spec = opt(im, "transforms", name, "spec");
        sl_strbuf_puts(&t, "type: cast, spec: ");
        if (!spec || yq_pairs(&t, spec)) {
            im_warn(im, key, "Cast of the whole value (spec without field:type) has no sluice equivalent; not translated");
            rc = -1;
        }
    } else if (!strcmp(base, "MaskField")) {
        const char *r = opt(im, "transforms", name, "replacement");
        sl_strbuf_puts(&t, "type: mask_field, fields: ");
        yq_list(&t, opt(im, "transforms", name, "fields"));
        if (r) {
            sl_strbuf_puts(&t, ", value: ");
            im_yq(&t, r);
        }
    } else {
        sl_strbuf_free(&t);
        return -2; /* not one of these */
    }
    if (rc == 0) {
        sl_strbuf_puts(&x->yaml, "      - {");
        sl_strbuf_append(&x->yaml, t.data, t.len);
        sl_strbuf_printf(&x->yaml, "}   # %s\n", name);
    }
    sl_strbuf_free(&t);
    return rc < 0 ? -1 : 0;
}
