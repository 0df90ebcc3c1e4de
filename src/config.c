/* config.c - load the configuration file through libyaml's document API
 * (every node keeps its line) and the option table in options.c. */
#include "sluice/config.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "options_int.h"
#include "sluice/admin.h"
#include "sluice/decoder.h"
#include "sluice/sink.h"
#include "sluice/log.h"
#include "sluice/redact.h"
#include "sluice/strbuf.h"
#include "sluice/transform.h"

typedef struct parser {
    const char *path;
    yaml_document_t doc;
    sl_error *err;
    sl_config *cfg; /* receives the keys whose values came from ${file:} */
    bool again;     /* sl_config_expand(): the caller masks what the files hold (sl_secret_rotate) */
} parser;

/* Remember that @key holds a value read from a secret file, written @raw. */
static void note_secret(parser *p, const char *key, const char *raw)
{
    sl_config *cfg = p->cfg;
    if (!cfg || !key)
        return;
    for (size_t i = 0; i < cfg->nsecret_keys; i++)
        if (!strcmp(cfg->secret_keys[i], key))
            return;
    cfg->secret_keys = sl_xrealloc(cfg->secret_keys, (cfg->nsecret_keys + 1) * sizeof(char *));
    cfg->secret_raw = sl_xrealloc(cfg->secret_raw, (cfg->nsecret_keys + 1) * sizeof(char *));
    cfg->secret_raw[cfg->nsecret_keys] = sl_xstrdup(raw);
    cfg->secret_keys[cfg->nsecret_keys++] = sl_xstrdup(key);
}

/* The value of @key as written, when it read a secret file; else NULL. */
static const char *secret_raw(const sl_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->nsecret_keys; i++)
        if (!strcmp(cfg->secret_keys[i], key))
            return cfg->secret_raw[i];
    return NULL;
}

static void guard_credentials(parser *p, sl_config *cfg);

static int line_of(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

static int fail(parser *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!p->path) /* sl_config_expand(): no file to cite */
        return sl_error_set(p->err, SL_ERR_FATAL, "%s: %s", key ? key : "?", msg);
    if (key)
        return sl_error_set(p->err, SL_ERR_FATAL, "%s:%d: %s: %s", p->path, line_of(n), key, msg);
    return sl_error_set(p->err, SL_ERR_FATAL, "%s:%d: %s", p->path, line_of(n), msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The content of a secret file for ${file:/path}, without its trailing
 * newline(s).  The content is never logged: errors name the path only. */
static int read_secret_file(parser *p, const yaml_node_t *n, const char *key, const char *fpath,
                            sl_strbuf *sb)
{
    if (fpath[0] != '/')
        return fail(p, n, key, "${file:%s}: the path must be absolute", fpath);
    FILE *f = fopen(fpath, "rb");
    if (!f)
        return fail(p, n, key, "${file:%s}: cannot open: %s", fpath, strerror(errno));
    char buf[65537];
    size_t got = fread(buf, 1, sizeof(buf), f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return fail(p, n, key, "${file:%s}: cannot read", fpath);
    if (got == sizeof(buf))
        return fail(p, n, key, "${file:%s}: larger than 64KiB", fpath);
    while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        got--;
    if (memchr(buf, '\0', got))
        return fail(p, n, key, "${file:%s}: contains a NUL byte", fpath);
    sl_strbuf_append(sb, buf, got);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

/* ${NAME} and ${NAME:-default} from the environment, ${file:/path} from a
 * file (secrets mounted by an orchestrator); $${ is a literal ${.  In templates
 * (@keep_templates), ${topic} and dotted names stay for per-record use. */
static int expand_env(parser *p, const yaml_node_t *n, const char *key, const char *in,
                      bool keep_templates, char **out)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    for (const char *s = in; *s;) {
        if (s[0] == '$' && s[1] == '$' && s[2] == '{') { /* $${ is a literal ${ */
            sl_strbuf_puts(&sb, "${");
            s += 3;
            continue;
        }
        if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s, '}');
            if (!end) {
                sl_strbuf_free(&sb);
                return fail(p, n, key, "unterminated ${ in \"%s\"", in);
            }
            char name[256];
            size_t len = (size_t)(end - s - 2);
            if (len == 0 || len >= sizeof(name)) {
                sl_strbuf_free(&sb);
                return fail(p, n, key, "bad variable reference in \"%s\"", in);
            }
            memcpy(name, s + 2, len);
            name[len] = '\0';
            if (!strncmp(name, "file:", 5)) {
                size_t before = sb.len;
                if (read_secret_file(p, n, key, name + 5, &sb)) {
                    sl_strbuf_free(&sb);
                    return -1;
                }
                note_secret(p, key, in);
                if (sb.len > before && !p->again) { /* never in a message or a log line (redact.h) */
                    char *secret = strndup(sb.data + before, sb.len - before);
                    sl_secret_add(secret);
                    free(secret);
                }
                s = end + 1;
                continue;
            }
            char *def = strstr(name, ":-");
            if (def) {
                *def = '\0';
                def += 2;
            }
            if (keep_templates && (!strcmp(name, "topic") || strchr(name, '.'))) {
                sl_strbuf_append(&sb, s, (size_t)(end - s + 1));
            } else {
                const char *v = getenv(name);
                if (!v && !def) {
                    sl_strbuf_free(&sb);
                    return fail(p, n, key, "environment variable %s is not set", name);
                }
                sl_strbuf_puts(&sb, v ? v : def);
            }
            s = end + 1;
        } else {
            sl_strbuf_putc(&sb, *s++);
        }
    }
    *out = sl_strbuf_steal(&sb);
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

static const sl_option *find_option(opt_section sec, const char *name)
{
    for (size_t i = 0; i < sl_noptions; i++)
        if (sl_options[i].section == sec && !strcmp(sl_options[i].name, name))
            return &sl_options[i];
    return NULL;
}

static void list_keys(opt_section sec, sl_strbuf *sb)
{
    for (size_t i = 0; i < sl_noptions; i++)
        if (sl_options[i].section == sec) {
            if (sb->len)
                sl_strbuf_puts(sb, ", ");
            sl_strbuf_puts(sb, sl_options[i].name);
        }
}

static int unknown_key(parser *p, const yaml_node_t *k, opt_section sec, const char *prefix)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    list_keys(sec, &sb);
    fail(p, k, NULL, "unknown key '%s%s' (known here: %s)", prefix, scalar(k) ? scalar(k) : "?",
         sb.data ? sb.data : "");
    sl_strbuf_free(&sb);
    return -1;
}

/* Set one option from its YAML value node. */
/* A bound of @o ("1KiB", "1s", "64"), in the option's own unit. */
static int64_t bound_value(const sl_option *o, const char *b)
{
    return o->type == OPT_SIZE ? sl_parse_size(b) : o->type == OPT_DURATION ? sl_parse_duration_ms(b)
                                                                             : strtoll(b, NULL, 10);
}

/* Store number @x for @o after checking it against the option's bounds. */
static int set_number(parser *p, const sl_option *o, const yaml_node_t *v, const char *keypath, int64_t x,
                      void *where)
{
    bool low = o->min && x < bound_value(o, o->min), high = o->max && x > bound_value(o, o->max);
    if ((low || high) && o->min && o->max)
        return fail(p, v, keypath, "must be between %s and %s", o->min, o->max);
    if (low)
        return fail(p, v, keypath, "must be at least %s", o->min);
    if (high)
        return fail(p, v, keypath, "must be at most %s", o->max);
    *(int64_t *)where = x;
    return 0;
}

static int set_option(parser *p, const sl_option *o, void *base, const yaml_node_t *v,
                      const char *keypath)
{
    char *where = (char *)base + o->offset;
    if (o->type == OPT_STRLIST) {
        char ***list = (char ***)where;
        size_t *count = (size_t *)((char *)base + o->count_off);
        if (*list)
            return fail(p, v, keypath, "given twice");
        if (v->type == YAML_SCALAR_NODE) {
            *list = sl_xcalloc(1, sizeof(char *));
            if (expand_env(p, v, keypath, scalar(v), false, &(*list)[0]))
                return -1;
            *count = 1;
            return 0;
        }
        if (v->type != YAML_SEQUENCE_NODE)
            return fail(p, v, keypath, "expected a list of strings");
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        *list = sl_xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *it = yaml_document_get_node(&p->doc, v->data.sequence.items.start[i]);
            if (!scalar(it) || !*scalar(it))
                return fail(p, it, keypath, "expected a non-empty string in the list");
            if (expand_env(p, it, keypath, scalar(it), false, &(*list)[i]))
                return -1;
            *count = i + 1;
        }
        return 0;
    }
    if (o->type == OPT_MAP) {
        sl_kv **kv = (sl_kv **)where;
        size_t *count = (size_t *)((char *)base + o->count_off);
        if (v->type != YAML_MAPPING_NODE)
            return fail(p, v, keypath, "expected a mapping of names to values");
        size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        *kv = sl_xcalloc(n ? n : 1, sizeof(sl_kv));
        for (size_t i = 0; i < n; i++) {
            yaml_node_pair_t *pr = &v->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
            yaml_node_t *val = yaml_document_get_node(&p->doc, pr->value);
            if (!scalar(k))
                return fail(p, k, keypath, "keys must be strings");
            if (!scalar(val))
                return fail(p, val, keypath, "value of '%s' must be a scalar", scalar(k));
            for (size_t j = 0; j < i; j++)
                if (!strcmp((*kv)[j].key, scalar(k)))
                    return fail(p, k, keypath, "'%s' given twice", scalar(k));
            (*kv)[i].key = sl_xstrdup(scalar(k));
            (*kv)[i].line = line_of(k);
            *count = i + 1;
            sl_strbuf entry = SL_STRBUF_INIT;
            sl_strbuf_printf(&entry, "%s.%s", keypath, scalar(k));
            int rc = expand_env(p, val, entry.data, scalar(val), false, &(*kv)[i].value);
            sl_strbuf_free(&entry);
            if (rc)
                return -1;
        }
        return 0;
    }
    const char *raw = scalar(v);
    if (!raw)
        return fail(p, v, keypath, "expected a %s, got a %s", o->type == OPT_STR ? "string" : "scalar",
                    v->type == YAML_MAPPING_NODE ? "mapping" : "list");
    char *s;
    if (expand_env(p, v, keypath, raw, o->section == SEC_ROUTE && !strcmp(o->name, "table"), &s))
        return -1;
    int rc = 0;
    switch (o->type) {
    case OPT_STR:
        if (*(char **)where)
            free(*(char **)where);
        *(char **)where = s;
        return 0;
    case OPT_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (!*s || *end || errno)
            rc = fail(p, v, keypath, "expected an integer, got '%s'", s);
        else
            rc = set_number(p, o, v, keypath, x, where);
        break;
    }
    case OPT_BOOL:
        if (parse_bool(s, (bool *)where))
            rc = fail(p, v, keypath, "expected true or false, got '%s'", s);
        break;
    case OPT_SIZE:
    case OPT_DURATION: {
        bool size = o->type == OPT_SIZE;
        int64_t x = size ? sl_parse_size(s) : sl_parse_duration_ms(s);
        if (x < 0)
            rc = fail(p, v, keypath, "expected a %s, got '%s'",
                      size ? "size such as 8MiB or 65536" : "duration such as 100ms or 5s", s);
        else
            rc = set_number(p, o, v, keypath, x, where);
        break;
    }
    case OPT_ENUM: {
        size_t k;
        for (k = 0; sl_option_enum_name(o, k); k++)
            if (!strcmp(sl_option_enum_name(o, k), s))
                break;
        bool b;
        if (!sl_option_enum_name(o, k) && o->names->if_true && parse_bool(s, &b) == 0)
            k = b ? (size_t)o->names->if_true : 0;
        if (!sl_option_enum_name(o, k)) {
            sl_strbuf sb = SL_STRBUF_INIT;
            for (size_t j = 0; sl_option_enum_name(o, j); j++) {
                if (j)
                    sl_strbuf_puts(&sb, ", ");
                sl_strbuf_puts(&sb, sl_option_enum_name(o, j));
            }
            rc = fail(p, v, keypath, "'%s' is not one of: %s", s, sb.data);
            sl_strbuf_free(&sb);
        } else {
            *(int *)where = (int)k;
        }
        break;
    }
    default:
        break;
    }
    free(s);
    return rc;
}

/* Apply the defaults of @sec to @base (before parsing). */
static void apply_defaults(parser *p, opt_section sec, void *base)
{
    for (size_t i = 0; i < sl_noptions; i++) {
        const sl_option *o = &sl_options[i];
        if (o->section != sec || !o->def)
            continue;
        yaml_node_t fake;
        memset(&fake, 0, sizeof(fake));
        fake.type = YAML_SCALAR_NODE;
        fake.data.scalar.value = (yaml_char_t *)o->def;
        fake.data.scalar.length = strlen(o->def);
        set_option(p, o, base, &fake, o->name);
    }
}

/* Parse the options of a mapping node into @base; @seen tracks required keys. */
static int parse_section(parser *p, const yaml_node_t *map, opt_section sec, void *base,
                         const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(p, map, prefix, "expected a mapping");
    /* one flag per option of the table, however long it grows */
    bool *seen = sl_xcalloc(sl_noptions, sizeof(bool));
    int rc = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; !rc && pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
        const sl_option *o = scalar(k) ? find_option(sec, scalar(k)) : NULL;
        if (o && o->type == OPT_SECTION && sec == SEC_ROUTE)
            continue; /* a route's transforms: parse_transforms() */
        if (!o || o->type == OPT_SECTION) {
            rc = unknown_key(p, k, sec, prefix);
            break;
        }
        size_t idx = (size_t)(o - sl_options);
        sl_strbuf keypath = SL_STRBUF_INIT; /* never cut: secrets are noted by path */
        sl_strbuf_printf(&keypath, "%s%s", prefix, o->name);
        rc = seen[idx] && o->type != OPT_STRLIST ? fail(p, k, keypath.data, "given twice")
                                                 : set_option(p, o, base, v, keypath.data);
        seen[idx] = true;
        sl_strbuf_free(&keypath);
    }
    for (size_t i = 0; !rc && i < sl_noptions; i++) {
        const sl_option *o = &sl_options[i];
        if (o->section == sec && o->required && o->type != OPT_SECTION && !seen[i])
            rc = fail(p, map, NULL, "missing required key '%s%s'", prefix, o->name);
    }
    free(seen);
    return rc ? -1 : 0;
}

static yaml_node_t *map_get(parser *p, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
        if (scalar(k) && !strcmp(scalar(k), key))
            return yaml_document_get_node(&p->doc, pr->value);
    }
    return NULL;
}

/* The settings @v of target @t, whose option paths start with @prefix. */
static int parse_target(parser *p, sl_target_conf *t, const yaml_node_t *v, const char *prefix)
{
    apply_defaults(p, SEC_TARGET, t);
    t->delivery = -1;
    if (parse_section(p, v, SEC_TARGET, t, prefix))
        return -1;
    /* the rest is the target type's own (src/sink/) */
    const char *bad = "type";
    sl_error e;
    int rc = sl_sinks[t->type]->check_conf(t, &bad, &e);
    if (rc) {
        sl_strbuf key = SL_STRBUF_INIT;
        sl_strbuf_printf(&key, "%s%s", prefix, bad);
        yaml_node_t *at = rc == -2 ? map_get(p, v, bad) : NULL;
        fail(p, at ? at : v, key.data, "%s", e.msg);
        sl_strbuf_free(&key);
        return -1;
    }
    return 0;
}

static int parse_targets(parser *p, sl_config *cfg, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(p, map, "targets", "expected a mapping of target names to settings");
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0)
        return fail(p, map, "targets", "at least one target is needed");
    cfg->targets = sl_xcalloc(n, sizeof(sl_target_conf));
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pr = &map->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
        sl_target_conf *t = &cfg->targets[i];
        cfg->ntargets = i + 1;
        t->delivery = -1;
        t->line = line_of(k);
        if (!scalar(k) || !*scalar(k))
            return fail(p, k, "targets", "target names must be non-empty strings");
        t->name = sl_xstrdup(scalar(k));
        /* never cut: --print-config finds the ${file:} values by these paths */
        sl_strbuf pb = SL_STRBUF_INIT;
        sl_strbuf_printf(&pb, "targets.%s.", t->name);
        int rc = parse_target(p, t, v, pb.data);
        if (rc == 0) {
            const char *raw;
            sl_strbuf_puts(&pb, "dsn");
            if ((raw = secret_raw(cfg, pb.data)))
                t->dsn_source = sl_xstrdup(raw);
            pb.data[pb.len -= 3] = 0;
            sl_strbuf_puts(&pb, "password");
            if ((raw = secret_raw(cfg, pb.data)))
                t->password_source = sl_xstrdup(raw);
        }
        sl_strbuf_free(&pb);
        if (rc)
            return -1;
    }
    return 0;
}

static int parse_registry(parser *p, sl_config *cfg, const yaml_node_t *v)
{
    if (parse_section(p, v, SEC_REGISTRY, cfg, "schema_registry."))
        return -1;
    sl_registry_conf *r = &cfg->registry;
    const char *raw = secret_raw(cfg, "schema_registry.bearer_token");
    if (raw)
        r->bearer_token_source = sl_xstrdup(raw);
    const char *clash = r->bearer_token && r->bearer_token_command ? "bearer_token_command"
                        : (r->bearer_token || r->bearer_token_command) && (r->user || r->password)
                            ? (r->user ? "user" : "password")
                            : (r->cert_file != NULL) != (r->key_file != NULL) ? (r->cert_file ? "cert_file" : "key_file")
                                                                             : NULL;
    if (!clash)
        return 0;
    return fail(p, map_get(p, v, clash), clash[0] == 'c' || clash[0] == 'k' ? "schema_registry.cert_file" : "schema_registry",
                "%s", clash[0] == 'c' || clash[0] == 'k' ? "cert_file and key_file go together"
                : !strcmp(clash, "bearer_token_command")
                    ? "give one of bearer_token and bearer_token_command"
                    : "a bearer token replaces user and password: give one or the other");
}

/* ---- a route's transforms and table-name rules (src/transform/) ---- */

/* routes[i].transforms: a list of mappings, each checked against the keys
 * its type takes, then compiled into the route's chain. */
static int parse_transforms(parser *p, sl_route_conf *r, const yaml_node_t *route, const char *prefix)
{
    const yaml_node_t *seq = map_get(p, route, "transforms");
    char key[160];
    snprintf(key, sizeof(key), "%stransforms", prefix);
    if (seq) {
        if (seq->type != YAML_SEQUENCE_NODE)
            return fail(p, seq, key, "expected a list of transforms");
        size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
        r->transforms = sl_xcalloc(n ? n : 1, sizeof(sl_transform_conf));
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *v = yaml_document_get_node(&p->doc, seq->data.sequence.items.start[i]);
            sl_transform_conf *t = &r->transforms[i];
            r->ntransforms = i + 1;
            t->line = line_of(v);
            apply_defaults(p, SEC_TRANSFORM, t);
            t->predicate = t->target_type = -1; /* required by some types, defaulted by none */
            char tp[160];
            snprintf(tp, sizeof(tp), "%stransforms[%zu].", prefix, i);
            if (parse_section(p, v, SEC_TRANSFORM, t, tp))
                return -1;
            for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
                if (!sl_tx_key_applies(t->type, scalar(k))) {
                    snprintf(key, sizeof(key), "%s%s", tp, scalar(k));
                    return fail(p, k, key, "does not apply to a %s transform", sl_option_enum_name(find_option(SEC_TRANSFORM, "type"), (size_t)t->type));
                }
            }
        }
    }
    size_t bad = 0;
    const char *badkey = NULL;
    sl_error e;
    if (r->ntransforms && !(r->chain = sl_tx_chain_new(r, &bad, &badkey, &e))) {
        yaml_node_t *tn = yaml_document_get_node(&p->doc, seq->data.sequence.items.start[bad]);
        yaml_node_t *at = map_get(p, tn, badkey);
        snprintf(key, sizeof(key), "%stransforms[%zu].%s", prefix, bad, badkey);
        return fail(p, at ? at : tn, key, "%s", e.msg);
    }
    if (sl_tx_chain_shapes(r->chain) && (r->auto_create || r->auto_evolve)) {
        snprintf(key, sizeof(key), "%s%s", prefix, r->auto_create ? "auto_create" : "auto_evolve");
        return fail(p, map_get(p, route, r->auto_create ? "auto_create" : "auto_evolve"), key,
                    "a table cannot be created or evolved from the record schema when transforms change "
                    "its fields (replace_field, flatten, insert_field, header_to_value, timestamp_converter, "
                    "cast): create the table, or keep to filter, value_to_key and mask_field");
    }
    badkey = NULL;
    if (!(r->name_rules = sl_name_rules_new(r, &badkey, &e)) && badkey) {
        snprintf(key, sizeof(key), "%s%s", prefix, badkey);
        return fail(p, map_get(p, route, badkey), key, "%s", e.msg);
    }
    if (r->mode == SL_MODE_UPDATE && !sl_sinks[r->target->type]->update_mode) {
        snprintf(key, sizeof(key), "%smode", prefix);
        return fail(p, map_get(p, route, "mode"), key, "mode update is not supported by a %s target",
                    sl_sinks[r->target->type]->name);
    }
    return 0;
}

static int parse_routes(parser *p, sl_config *cfg, const yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(p, seq, "routes", "expected a list of routes");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0)
        return fail(p, seq, "routes", "at least one route is needed");
    cfg->routes = sl_xcalloc(n, sizeof(sl_route_conf));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v = yaml_document_get_node(&p->doc, seq->data.sequence.items.start[i]);
        sl_route_conf *r = &cfg->routes[i];
        cfg->nroutes = i + 1;
        r->line = line_of(v);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "routes[%zu].", i);
        apply_defaults(p, SEC_ROUTE, r);
        if (parse_section(p, v, SEC_ROUTE, r, prefix))
            return -1;
        if (!r->name) {
            char name[32];
            snprintf(name, sizeof(name), "route %zu", i + 1);
            r->name = sl_xstrdup(name);
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->routes[j].name, r->name))
                return fail(p, map_get(p, v, "name"), prefix, "route name '%s' is used twice", r->name);
        char key[128];
        snprintf(key, sizeof(key), "%stopics", prefix);
        if (!r->ntopics == !r->topic_pattern)
            return fail(p, v, key, "give exactly one of topics or topic_pattern");
        if (r->auto_create_allow) {
            snprintf(key, sizeof(key), "%sauto_create_allow", prefix);
            regex_t re;
            if (regcomp(&re, r->auto_create_allow, REG_EXTENDED | REG_NOSUB))
                return fail(p, map_get(p, v, "auto_create_allow"), key, "invalid regular expression '%s'",
                            r->auto_create_allow);
            regfree(&re);
        }
        if (r->topic_pattern) {
            snprintf(key, sizeof(key), "%stopic_pattern", prefix);
            if (r->topic_pattern[0] != '^')
                return fail(p, map_get(p, v, "topic_pattern"), key,
                            "a pattern must start with ^ (librdkafka treats other names as literal topics)");
            regex_t re;
            if (regcomp(&re, r->topic_pattern, REG_EXTENDED | REG_NOSUB))
                return fail(p, map_get(p, v, "topic_pattern"), key, "invalid regular expression '%s'",
                            r->topic_pattern);
            regfree(&re);
        }
        for (size_t t = 0; t < cfg->ntargets; t++)
            if (!strcmp(cfg->targets[t].name, r->target_name))
                r->target = &cfg->targets[t];
        snprintf(key, sizeof(key), "%starget", prefix);
        if (!r->target)
            return fail(p, map_get(p, v, "target"), key, "no target named '%s'", r->target_name);
        snprintf(key, sizeof(key), "%stable", prefix);
        if (!*r->table)
            return fail(p, map_get(p, v, "table"), key, "must not be empty");
        if (parse_transforms(p, r, v, prefix))
            return -1;
        if (r->mode == SL_MODE_INSERT && r->delete_on_tombstone) {
            snprintf(key, sizeof(key), "%sdelete_on_tombstone", prefix);
            return fail(p, map_get(p, v, "delete_on_tombstone"), key,
                        "deletes need a key: use mode upsert, or turn delete_on_tombstone off");
        }
        if (r->append_key) {
            snprintf(key, sizeof(key), "%sappend_key", prefix);
            if (sl_sinks[r->target->type]->transactional)
                return fail(p, map_get(p, v, "append_key"), key,
                            "append_key is for targets without transactions (cratedb); this one has "
                            "delivery: exactly-once");
            if (r->mode != SL_MODE_INSERT)
                return fail(p, map_get(p, v, "append_key"), key, "append_key needs mode: insert");
        }
        if (r->explode || r->nexplode_parent) {
            /* child tables (src/worker/explode.c) */
            snprintf(key, sizeof(key), "%sexplode", prefix);
            const yaml_node_t *at = map_get(p, v, r->explode ? "explode" : "explode_parent");
            if (!r->explode || (*r->explode && *r->explode != '/'))
                return fail(p, at, key, "explode needs a JSON pointer to an array ('/items'), and explode_parent "
                                        "the child columns of the parent's key");
            if (!r->nexplode_parent)
                return fail(p, at, key, "explode needs explode_parent: the child columns of the parent's key "
                                        "and where the parent holds them ('order_id: /id')");
            if (r->mode != SL_MODE_UPSERT || r->delete_mode != SL_DELETE_HARD)
                return fail(p, at, key, "a child table needs mode: upsert and delete_mode: hard");
            if (!sl_sinks[r->target->type]->transactional)
                return fail(p, at, key, "a child table is replaced in the parent's transaction: target %s has "
                                        "no transactions", r->target->name);
        }
        snprintf(key, sizeof(key), "%son_error", prefix);
        if (r->on_error == SL_ONERR_DLQ && !r->dlq_topic == !r->dlq_table)
            return fail(p, map_get(p, v, "on_error"), key, "on_error dlq needs exactly one of dlq_topic or dlq_table");
        if (r->on_error != SL_ONERR_DLQ && (r->dlq_topic || r->dlq_table))
            return fail(p, map_get(p, v, r->dlq_topic ? "dlq_topic" : "dlq_table"), key,
                        "dlq_topic/dlq_table are used only with on_error: dlq");
        if (sl_format_lookup(r->format)->needs_registry && cfg->registry.nurls == 0) {
            snprintf(key, sizeof(key), "%sformat", prefix);
            return fail(p, map_get(p, v, "format"), key, "format %s needs a schema_registry section",
                        sl_format_lookup(r->format)->name);
        }
        if (sl_keyformat_registry(r->key_format) && cfg->registry.nurls == 0) {
            snprintf(key, sizeof(key), "%skey_format", prefix);
            return fail(p, map_get(p, v, "key_format"), key, "key_format %s needs a schema_registry section",
                        r->key_format == SL_KEYFMT_AVRO       ? "avro"
                        : r->key_format == SL_KEYFMT_PROTOBUF ? "protobuf"
                                                              : "json-schema");
        }
    }
    return 0;
}

static int parse_kafka(parser *p, sl_config *cfg, const yaml_node_t *map)
{
    const sl_option *o = find_option(SEC_TOP, "kafka");
    if (set_option(p, o, cfg, map, "kafka"))
        return -1;
    const char *ac = sl_config_kafka_get(cfg, "enable.auto.commit");
    if (ac && strcmp(ac, "false"))
        return fail(p, map, "kafka.enable.auto.commit", "sluice commits offsets itself, after each write; it must be false");
    if (!sl_config_kafka_get(cfg, "bootstrap.servers") && !sl_config_kafka_get(cfg, "metadata.broker.list"))
        return fail(p, map, "kafka", "missing required key 'kafka.bootstrap.servers'");
    if (!sl_config_kafka_get(cfg, "group.id"))
        return fail(p, map, "kafka", "missing required key 'kafka.group.id'");
    return 0;
}

static int parse_root(parser *p, sl_config *cfg, const yaml_node_t *root)
{
    if (!root || root->type != YAML_MAPPING_NODE)
        return fail(p, root, NULL, "the configuration must be a mapping (kafka:, targets:, routes:)");
    apply_defaults(p, SEC_TOP, cfg);
    apply_defaults(p, SEC_BATCH, cfg);
    apply_defaults(p, SEC_RETRY, cfg);
    apply_defaults(p, SEC_REGISTRY, cfg);
    apply_defaults(p, SEC_ADMIN, cfg);
    /* targets before routes, the registry before routes: routes refer to them */
    static const char *const order[] = {"kafka", "schema_registry", "batch", "retry", "admin", "targets", "routes", NULL};
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
        const sl_option *o = scalar(k) ? find_option(SEC_TOP, scalar(k)) : NULL;
        if (!o)
            return unknown_key(p, k, SEC_TOP, "");
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++)
            if (!strcmp(scalar(yaml_document_get_node(&p->doc, q->key)), scalar(k)))
                return fail(p, k, scalar(k), "given twice");
    }
    for (size_t i = 0; order[i]; i++) {
        yaml_node_t *v = map_get(p, root, order[i]);
        int rc = 0;
        if (!strcmp(order[i], "kafka"))
            rc = v ? parse_kafka(p, cfg, v) : fail(p, root, NULL, "missing required key 'kafka'");
        else if (!strcmp(order[i], "schema_registry"))
            rc = v ? parse_registry(p, cfg, v) : 0;
        else if (!strcmp(order[i], "batch"))
            rc = v ? parse_section(p, v, SEC_BATCH, cfg, "batch.") : 0;
        else if (!strcmp(order[i], "retry"))
            rc = v ? parse_section(p, v, SEC_RETRY, cfg, "retry.") : 0;
        else if (!strcmp(order[i], "admin"))
            rc = v ? parse_section(p, v, SEC_ADMIN, cfg, "admin.") : 0;
        else if (!strcmp(order[i], "targets"))
            rc = v ? parse_targets(p, cfg, v) : fail(p, root, NULL, "missing required key 'targets'");
        else if (!strcmp(order[i], "routes"))
            rc = v ? parse_routes(p, cfg, v) : fail(p, root, NULL, "missing required key 'routes'");
        if (rc)
            return -1;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
        const sl_option *o = find_option(SEC_TOP, scalar(k));
        if (o->type != OPT_SECTION && o->type != OPT_MAP && set_option(p, o, cfg, v, o->name))
            return -1;
    }
    if (cfg->retry.max_backoff_ms < cfg->retry.initial_backoff_ms)
        return fail(p, map_get(p, root, "retry"), "retry", "initial_backoff_ms must be at most max_backoff_ms");
    if (cfg->admin.listen) {
        struct sockaddr_storage sa;
        socklen_t len;
        sl_error e;
        yaml_node_t *a = map_get(p, root, "admin");
        if (sl_parse_listen(cfg->admin.listen, &sa, &len, &e))
            return fail(p, a ? map_get(p, a, "listen") : root, "admin.listen", "%s", e.msg);
    }
    if (cfg->log_level && sl_log_parse_level(cfg->log_level) < 0)
        return fail(p, map_get(p, root, "log_level"), "log_level", "'%s' is not one of: error, warn, info, debug",
                    cfg->log_level);
    guard_credentials(p, cfg);
    return 0;
}

/* ---- credentials ----
 * Every configured secret is remembered (redact.h), so that no error or log
 * line can carry it, whichever library wrote the text; and the ways to send
 * one in the clear are warned about. */

void sl_config_warn_url(const char *path, const char *key, const char *url, bool has_user)
{
    char *pw = sl_url_password(url);
    sl_secret_add(pw);
    if ((pw || has_user) && !strncasecmp(url, "http://", 7)) {
        char *shown = sl_redact_url(url);
        log_warn("config", "%s:%s: credentials for %s go over plain http://: anyone on the path can read them; "
                 "use https://", path, key, shown);
        free(shown);
    }
    free(pw);
}

static void guard_credentials(parser *p, sl_config *cfg)
{
    sl_secret_add(cfg->registry.password);
    sl_secret_add(cfg->registry.bearer_token);
    sl_secret_add(cfg->registry.key_password);
    for (size_t i = 0; i < cfg->registry.nurls; i++)
        sl_config_warn_url(p->path, "schema_registry.url", cfg->registry.urls[i], cfg->registry.user || cfg->registry.password);
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (sl_sinks[cfg->targets[i].type]->guard_conf)
            sl_sinks[cfg->targets[i].type]->guard_conf(&cfg->targets[i], p->path);
    /* librdkafka's secrets (sasl.password, ssl.key.password, ...) */
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (strstr(cfg->kafka[i].key, "password") || strstr(cfg->kafka[i].key, "secret"))
            sl_secret_add(cfg->kafka[i].value);
}

sl_config *sl_config_load(const char *path, sl_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error_set(err, SL_ERR_FATAL, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    parser p = {.path = path, .err = err};
    yaml_parser_t yp;
    yaml_parser_initialize(&yp);
    yaml_parser_set_input_file(&yp, f);
    sl_config *cfg = sl_xcalloc(1, sizeof(*cfg));
    p.cfg = cfg;
    cfg->path = sl_xstrdup(path);
    int rc;
    if (!yaml_parser_load(&yp, &p.doc)) {
        rc = sl_error_set(err, SL_ERR_FATAL, "%s:%zu:%zu: %s%s%s", path, yp.problem_mark.line + 1,
                          yp.problem_mark.column + 1, yp.problem ? yp.problem : "syntax error",
                          yp.context ? " " : "", yp.context ? yp.context : "");
        yaml_parser_delete(&yp);
        fclose(f);
        sl_config_free(cfg);
        return NULL;
    }
    rc = parse_root(&p, cfg, yaml_document_get_root_node(&p.doc));
    yaml_document_delete(&p.doc);
    yaml_parser_delete(&yp);
    fclose(f);
    if (rc) {
        sl_config_free(cfg);
        return NULL;
    }
    return cfg;
}

int sl_config_expand(const char *raw, const char *key, char **out, sl_error *err)
{
    parser p = {.path = NULL, .err = err, .cfg = NULL, .again = true};
    return expand_env(&p, NULL, key, raw, false, out);
}
