/* config_access.c - a loaded configuration as the rest of sluice uses it:
 * a kafka: property, the route of a topic, and freeing it all through the
 * option table (options.c), so that a new option needs no line here. */
#include <stdlib.h>
#include <string.h>

#include "options_int.h"
#include "sluice/config.h"
#include "sluice/pipeline.h"
#include "sluice/transform.h"

static void free_kv(sl_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Free what the string, list and map options of @base hold: the options
 * of section @sec (SEC_TARGET, SEC_ROUTE), or with SEC_TOP those of every
 * section kept in sl_config itself.  Found through the option table, so a
 * new option is freed without a line here. */
static void free_options(void *base, opt_section sec)
{
    for (size_t i = 0; i < sl_noptions; i++) {
        const sl_option *o = &sl_options[i];
        bool in_cfg = o->section != SEC_TARGET && o->section != SEC_ROUTE && o->section != SEC_TRANSFORM;
        if (sec == SEC_TOP ? !in_cfg : o->section != sec)
            continue;
        char *where = (char *)base + o->offset;
        size_t count = o->count_off ? *(size_t *)((char *)base + o->count_off) : 0;
        if (o->type == OPT_STR)
            free(*(char **)where);
        else if (o->type == OPT_STRLIST)
            free_list(*(char ***)where, count);
        else if (o->type == OPT_MAP)
            free_kv(*(sl_kv **)where, count);
    }
}

void sl_config_free(sl_config *cfg)
{
    if (!cfg)
        return;
    free_options(cfg, SEC_TOP);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        free(cfg->targets[i].name);
        free(cfg->targets[i].dsn_source);
        free(cfg->targets[i].password_source);
        free_options(&cfg->targets[i], SEC_TARGET);
    }
    free(cfg->targets);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        sl_route_conf *r = &cfg->routes[i];
        sl_tx_chain_free(r->chain);
        sl_name_rules_free(r->name_rules);
        for (size_t t = 0; t < r->ntransforms; t++)
            free_options(&r->transforms[t], SEC_TRANSFORM);
        free(r->transforms);
        free_options(r, SEC_ROUTE);
    }
    free(cfg->routes);
    free(cfg->registry.bearer_token_source);
    free_list(cfg->secret_keys, cfg->nsecret_keys);
    free_list(cfg->secret_raw, cfg->nsecret_keys);
    free(cfg->path);
    free(cfg);
}

const char *sl_config_kafka_get(const sl_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            return cfg->kafka[i].value;
    return NULL;
}

const sl_route_conf *sl_config_route_for_topic(const sl_config *cfg, const char *topic)
{
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (sl_route_matches(&cfg->routes[i], topic))
            return &cfg->routes[i];
    return NULL;
}
