/* config_print.c - `sluice --print-config`: the effective configuration as
 * YAML, walked from the option table, with every secret replaced by ***. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "options_int.h"
#include "sluice/config.h"
#include "sluice/strbuf.h"
#include "sluice/transform.h"

#define MASK "***"

/* Is the value at option path @key a secret?  Names that carry credentials,
 * and every value that was read through ${file:}. */
static int is_secret(const sl_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->nsecret_keys; i++)
        if (!strcmp(cfg->secret_keys[i], key))
            return 1;
    const char *leaf = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
    static const char *const words[] = {"password", "secret", "jaas", "token", "credential", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcasestr(leaf, words[i]))
            return 1;
    /* kafka's ssl.key.pem, ssl.keystore.*, sasl.* credentials */
    if (!strncmp(key, "kafka.", 6) && (strstr(key, "ssl.key.") || strstr(key, ".pem") || strstr(key, "keystore")))
        return 1;
    return 0;
}

/* The parameters whose values are hidden in a DSN or a URL's query:
 * libpq's password and sslpassword (the client key's passphrase). */
static bool secret_param(const char *k, size_t n)
{
    return (n == 8 && !strncmp(k, "password", 8)) || (n == 11 && !strncmp(k, "sslpassword", 11));
}

/* A libpq DSN or a URL with its passwords hidden: `password=...` and
 * `sslpassword=...` in the key=value form and in a URI's query,
 * `user:***@` in URIs. */
static void mask_inline_password(const char *in, sl_strbuf *out)
{
    const char *scheme = strstr(in, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *c = auth; c < auth + alen; c++)
            if (*c == '@')
                at = c; /* the last @ ends the userinfo */
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                sl_strbuf_append(out, in, (size_t)(colon + 1 - in));
                sl_strbuf_puts(out, MASK);
                in = at;
            }
        }
        const char *q = strchr(in, '?');
        if (!q) {
            sl_strbuf_puts(out, in);
            return;
        }
        sl_strbuf_append(out, in, (size_t)(q + 1 - in));
        /* each parameter of the query (up to a #fragment) */
        for (const char *p = q + 1; *p;) {
            size_t n = strcspn(p, "&#");
            size_t klen = strcspn(p, "=&#");
            sl_strbuf_append(out, p, klen);
            if (klen < n) { /* k=v */
                sl_strbuf_putc(out, '=');
                if (secret_param(p, klen))
                    sl_strbuf_puts(out, MASK);
                else
                    sl_strbuf_append(out, p + klen + 1, n - klen - 1);
            }
            p += n;
            if (*p == '&') {
                sl_strbuf_putc(out, '&');
                p++;
            } else if (*p == '#') {
                sl_strbuf_puts(out, p);
                break;
            }
        }
        return;
    }
    /* key = value pairs; values bare or in single quotes, \ escapes */
    for (const char *s = in; *s;) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            sl_strbuf_putc(out, *s++);
            continue;
        }
        const char *k = s;
        while (*s && *s != '=' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            s++;
        size_t klen = (size_t)(s - k);
        sl_strbuf_append(out, k, klen);
        const char *eq = s;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        if (*eq != '=')
            continue; /* not a pair (libpq would refuse it): copied as it is */
        eq++;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        sl_strbuf_append(out, s, (size_t)(eq - s));
        const char *v = eq;
        if (*v == '\'') {
            for (v++; *v && *v != '\''; v++)
                if (*v == '\\' && v[1])
                    v++;
            if (*v)
                v++;
        } else {
            for (; *v && *v != ' ' && *v != '\t' && *v != '\n' && *v != '\r'; v++)
                if (*v == '\\' && v[1])
                    v++;
        }
        if (secret_param(k, klen))
            sl_strbuf_puts(out, MASK);
        else
            sl_strbuf_append(out, eq, (size_t)(v - eq));
        s = v;
    }
}

/* A YAML double-quoted scalar; with @literal, each ${ written $${ (the
 * loader's literal ${: the value was expanded once already). */
static void put_text(FILE *out, const char *s, bool literal)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (literal && c == '$' && s[1] == '{')
            fputs("$$", out);
        else if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A key or a name: the loader expands nothing in them. */
static void put_quoted(FILE *out, const char *s)
{
    put_text(out, s, false);
}

static void put_string(const sl_config *cfg, FILE *out, const char *key, const char *v)
{
    if (is_secret(cfg, key)) {
        put_quoted(out, MASK);
        return;
    }
    const char *leaf = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
    if (!strcmp(leaf, "dsn") || !strcmp(leaf, "url") || strstr(key, "schema_registry.url")) {
        sl_strbuf sb = SL_STRBUF_INIT;
        mask_inline_password(v, &sb);
        put_text(out, sb.data ? sb.data : "", true);
        sl_strbuf_free(&sb);
        return;
    }
    /* a route's table keeps its per-record templates */
    put_text(out, v, !(strncmp(key, "routes[", 7) == 0 && !strcmp(leaf, "table")));
}

static void print_value(const sl_config *cfg, FILE *out, const sl_option *o, const void *base, const char *where,
                        const char *key, int indent);

/* One option of @base at @indent; nothing for unset optional values. */
static void print_option(const sl_config *cfg, FILE *out, const sl_option *o, const void *base,
                         const char *keyprefix, int indent)
{
    const char *where = (const char *)base + o->offset;
    sl_strbuf kb = SL_STRBUF_INIT; /* never cut: compared with the paths the loader noted */
    sl_strbuf_printf(&kb, "%s%s", keyprefix, o->name);
    print_value(cfg, out, o, base, where, kb.data, indent);
    sl_strbuf_free(&kb);
}

static void print_value(const sl_config *cfg, FILE *out, const sl_option *o, const void *base, const char *where,
                        const char *key, int indent)
{
    switch (o->type) {
    case OPT_STR: {
        const char *v = *(char *const *)where;
        if (!v)
            return;
        fprintf(out, "%*s%s: ", indent, "", o->name);
        put_string(cfg, out, key, v);
        fputc('\n', out);
        return;
    }
    case OPT_INT:
    case OPT_SIZE:
        fprintf(out, "%*s%s: %lld\n", indent, "", o->name, (long long)*(const int64_t *)where);
        return;
    case OPT_DURATION:
        fprintf(out, "%*s%s: %lldms\n", indent, "", o->name, (long long)*(const int64_t *)where);
        return;
    case OPT_BOOL:
        fprintf(out, "%*s%s: %s\n", indent, "", o->name, *(const bool *)where ? "true" : "false");
        return;
    case OPT_ENUM: {
        int v = *(const int *)where;
        if (v >= 0)
            fprintf(out, "%*s%s: %s\n", indent, "", o->name, sl_option_enum_name(o, (size_t)v));
        return;
    }
    case OPT_STRLIST: {
        char *const *l = *(char **const *)where;
        size_t n = *(const size_t *)((const char *)base + o->count_off);
        if (!l || !n)
            return;
        fprintf(out, "%*s%s:\n", indent, "", o->name);
        for (size_t i = 0; i < n; i++) {
            fprintf(out, "%*s  - ", indent, "");
            put_string(cfg, out, key, l[i]);
            fputc('\n', out);
        }
        return;
    }
    case OPT_MAP: {
        const sl_kv *kv = *(sl_kv *const *)where;
        size_t n = *(const size_t *)((const char *)base + o->count_off);
        if (!kv || !n)
            return;
        fprintf(out, "%*s%s:\n", indent, "", o->name);
        for (size_t i = 0; i < n; i++) {
            sl_strbuf entry = SL_STRBUF_INIT;
            sl_strbuf_printf(&entry, "%s.%s", key, kv[i].key);
            fprintf(out, "%*s  ", indent, "");
            put_quoted(out, kv[i].key);
            fputs(": ", out);
            put_string(cfg, out, entry.data, kv[i].value);
            sl_strbuf_free(&entry);
            fputc('\n', out);
        }
        return;
    }
    case OPT_SECTION:
        return;
    }
}

static void print_section(const sl_config *cfg, FILE *out, opt_section sec, const void *base,
                          const char *keyprefix, int indent)
{
    for (size_t i = 0; i < sl_noptions; i++)
        if (sl_options[i].section == sec)
            print_option(cfg, out, &sl_options[i], base, keyprefix, indent);
}

void sl_config_print(const sl_config *cfg, FILE *out)
{
    fprintf(out, "# effective configuration of %s (defaults filled in, secrets as ***)\n", cfg->path);
    print_section(cfg, out, SEC_TOP, cfg, "", 0);
    if (cfg->registry.nurls) {
        fputs("schema_registry:\n", out);
        print_section(cfg, out, SEC_REGISTRY, cfg, "schema_registry.", 2);
    }
    fputs("batch:\n", out);
    print_section(cfg, out, SEC_BATCH, cfg, "batch.", 2);
    fputs("retry:\n", out);
    print_section(cfg, out, SEC_RETRY, cfg, "retry.", 2);
    fputs("admin:\n", out);
    print_section(cfg, out, SEC_ADMIN, cfg, "admin.", 2);
    fputs("targets:\n", out);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const sl_target_conf *t = &cfg->targets[i];
        sl_strbuf prefix = SL_STRBUF_INIT;
        sl_strbuf_printf(&prefix, "targets.%s.", t->name);
        fputs("  ", out);
        put_quoted(out, t->name);
        fputs(":\n", out);
        print_section(cfg, out, SEC_TARGET, t, prefix.data, 4);
        sl_strbuf_free(&prefix);
    }
    fputs("routes:\n", out);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "routes[%zu].", i);
        fputs("  -\n", out);
        print_section(cfg, out, SEC_ROUTE, &cfg->routes[i], prefix, 4);
        const sl_route_conf *r = &cfg->routes[i];
        if (r->ntransforms)
            fputs("    transforms:\n", out);
        for (size_t t = 0; t < r->ntransforms; t++) { /* only the keys its type takes */
            char tp[96];
            snprintf(tp, sizeof(tp), "%stransforms[%zu].", prefix, t);
            fputs("      -\n", out);
            for (size_t k = 0; k < sl_noptions; k++)
                if (sl_options[k].section == SEC_TRANSFORM && sl_tx_key_applies(r->transforms[t].type, sl_options[k].name))
                    print_option(cfg, out, &sl_options[k], &r->transforms[t], tp, 8);
        }
    }
}
