/* reload.c - which differences between two configurations a running
 * process can take on SIGHUP, walked from the option table, whose `reload`
 * column says per option (src/options.c): routes' tables, columns, error
 * handling and row options, batch and retry settings, the log level.
 * Everything that shapes the consumer group, the connections or the
 * process (kafka:, targets, the routes' topics, formats and targets,
 * workers, the admin server) needs a restart. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "options_int.h"
#include "sluice/config.h"
#include "sluice/strbuf.h"

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool value_eq(const sl_option *o, const void *a, const void *b)
{
    const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;
    switch (o->type) {
    case OPT_STR:
        return str_eq(*(char *const *)pa, *(char *const *)pb);
    case OPT_INT:
    case OPT_SIZE:
    case OPT_DURATION:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case OPT_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case OPT_ENUM:
        return *(const int *)pa == *(const int *)pb;
    case OPT_STRLIST: {
        size_t na = *(const size_t *)((const char *)a + o->count_off);
        size_t nb = *(const size_t *)((const char *)b + o->count_off);
        if (na != nb)
            return false;
        for (size_t i = 0; i < na; i++)
            if (!str_eq((*(char **const *)pa)[i], (*(char **const *)pb)[i]))
                return false;
        return true;
    }
    case OPT_MAP: {
        size_t na = *(const size_t *)((const char *)a + o->count_off);
        size_t nb = *(const size_t *)((const char *)b + o->count_off);
        if (na != nb)
            return false;
        const sl_kv *ka = *(sl_kv *const *)pa, *kb = *(sl_kv *const *)pb;
        for (size_t i = 0; i < na; i++)
            if (!str_eq(ka[i].key, kb[i].key) || !str_eq(ka[i].value, kb[i].value))
                return false;
        return true;
    }
    case OPT_SECTION:
        return true;
    }
    return true;
}

static void note(sl_strbuf *sb, const char *prefix, const char *name)
{
    if (sb->len)
        sl_strbuf_puts(sb, ", ");
    sl_strbuf_printf(sb, "%s%s", prefix, name);
}

static void compare_section(opt_section sec, const void *a, const void *b, const char *prefix, sl_strbuf *changed,
                            sl_strbuf *blocked)
{
    for (size_t i = 0; i < sl_noptions; i++) {
        const sl_option *o = &sl_options[i];
        if (o->section != sec || o->type == OPT_SECTION || value_eq(o, a, b))
            continue;
        if (o->type == OPT_MAP) {
            /* name the keys: kafka.group.id, not kafka */
            size_t na = *(const size_t *)((const char *)a + o->count_off);
            size_t nb = *(const size_t *)((const char *)b + o->count_off);
            const sl_kv *ka = *(sl_kv *const *)((const char *)a + o->offset);
            const sl_kv *kb = *(sl_kv *const *)((const char *)b + o->offset);
            for (int pass = 0; pass < 2; pass++) {
                const sl_kv *x = pass ? kb : ka, *y = pass ? ka : kb;
                size_t nx = pass ? nb : na, ny = pass ? na : nb;
                for (size_t i = 0; i < nx; i++) {
                    size_t j = 0;
                    while (j < ny && strcmp(x[i].key, y[j].key))
                        j++;
                    if (j < ny && (pass || str_eq(x[i].value, y[j].value)))
                        continue; /* same, or seen in the first pass */
                    char name[300];
                    snprintf(name, sizeof(name), "%s.%s", o->name, x[i].key);
                    note(o->reload ? changed : blocked, prefix, name);
                }
            }
            continue;
        }
        note(o->reload ? changed : blocked, prefix, o->name);
    }
}

bool sl_config_reload_diff(const sl_config *old, const sl_config *nu, sl_strbuf *changed, sl_strbuf *blocked)
{
    compare_section(SEC_TOP, old, nu, "", changed, blocked);
    compare_section(SEC_BATCH, old, nu, "batch.", changed, blocked);
    compare_section(SEC_RETRY, old, nu, "retry.", changed, blocked);
    compare_section(SEC_REGISTRY, old, nu, "schema_registry.", changed, blocked);
    compare_section(SEC_ADMIN, old, nu, "admin.", changed, blocked);
    if (old->ntargets != nu->ntargets) {
        note(blocked, "", "targets");
    } else {
        for (size_t t = 0; t < old->ntargets; t++) {
            char prefix[200];
            snprintf(prefix, sizeof(prefix), "targets.%s.", old->targets[t].name);
            if (strcmp(old->targets[t].name, nu->targets[t].name))
                note(blocked, "targets.", nu->targets[t].name);
            else
                compare_section(SEC_TARGET, &old->targets[t], &nu->targets[t], prefix, changed, blocked);
        }
    }
    if (old->nroutes != nu->nroutes) {
        note(blocked, "", "routes (added or removed)");
    } else {
        for (size_t r = 0; r < old->nroutes; r++) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "routes[%zu].", r);
            compare_section(SEC_ROUTE, &old->routes[r], &nu->routes[r], prefix, changed, blocked);
            /* its transforms: taken on SIGHUP with the rest of the route */
            const sl_route_conf *a = &old->routes[r], *b = &nu->routes[r];
            if (a->ntransforms != b->ntransforms) {
                note(changed, prefix, "transforms");
                continue;
            }
            for (size_t t = 0; t < a->ntransforms; t++) {
                char tp[96];
                snprintf(tp, sizeof(tp), "%stransforms[%zu].", prefix, t);
                compare_section(SEC_TRANSFORM, &a->transforms[t], &b->transforms[t], tp, changed, blocked);
            }
        }
    }
    return blocked->len == 0;
}
