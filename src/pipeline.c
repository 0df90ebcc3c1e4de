/* pipeline.c - fan-out: the consumer pipelines of a configuration, and
 * which routes each of them writes a topic through (pipeline.h). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/pipeline.h"
#include "sluice/strbuf.h"

static size_t target_of(const sl_config *cfg, const sl_route_conf *r)
{
    return (size_t)(r->target - cfg->targets);
}

static bool pattern_matches(const char *pattern, const char *topic)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
        return false;
    int m = regexec(&re, topic, 0, NULL, 0);
    regfree(&re);
    return m == 0;
}

bool sl_route_matches(const sl_route_conf *r, const char *topic)
{
    for (size_t t = 0; t < r->ntopics; t++)
        if (!strcmp(r->topics[t], topic))
            return true;
    return r->topic_pattern && pattern_matches(r->topic_pattern, topic);
}

/* Whether route @r takes topics an earlier route matches first. */
static bool fans_out(const sl_route_conf *r)
{
    return r->fan_out || r->explode;
}

bool sl_route_takes(const sl_config *cfg, const sl_route_conf *r, const char *topic)
{
    return sl_route_matches(r, topic) && (fans_out(r) || sl_config_route_for_topic(cfg, topic) == r);
}

const sl_route_conf *sl_pipeline_route(const sl_config *cfg, size_t target, const char *topic)
{
    const sl_route_conf *home = sl_config_route_for_topic(cfg, topic);
    if (!home || target == SL_PIPE_MAIN)
        return home;
    if (target_of(cfg, home) == target)
        return NULL; /* the main pipeline writes it */
    for (size_t i = (size_t)(home - cfg->routes) + 1; i < cfg->nroutes; i++)
        if (target_of(cfg, &cfg->routes[i]) == target && fans_out(&cfg->routes[i]) &&
            sl_route_matches(&cfg->routes[i], topic))
            return &cfg->routes[i];
    return NULL;
}

const sl_route_conf *sl_pipeline_next_route(const sl_config *cfg, const sl_route_conf *r, const char *topic)
{
    for (size_t i = (size_t)(r - cfg->routes) + 1; i < cfg->nroutes; i++)
        if (cfg->routes[i].target == r->target && fans_out(&cfg->routes[i]) && sl_route_matches(&cfg->routes[i], topic))
            return &cfg->routes[i];
    return NULL;
}

/* Whether pattern route @r may match a topic that an earlier route of
 * another target matches first.  Two patterns are taken to overlap: which
 * topics both match is not decidable from the patterns alone. */
static bool pattern_may_fan(const sl_config *cfg, const sl_route_conf *r)
{
    if (!fans_out(r))
        return false;
    for (const sl_route_conf *e = cfg->routes; e < r; e++) {
        if (e->target == r->target)
            continue;
        if (e->topic_pattern)
            return true;
        for (size_t t = 0; t < e->ntopics; t++)
            if (pattern_matches(r->topic_pattern, e->topics[t]))
                return true;
    }
    return false;
}

bool sl_pipeline_subscribes(const sl_config *cfg, size_t target, const sl_route_conf *r, const char *topic)
{
    if (target == SL_PIPE_MAIN)
        return true; /* every topic has a home */
    if (target_of(cfg, r) != target)
        return false;
    if (!topic)
        return r->topic_pattern && pattern_may_fan(cfg, r);
    const sl_route_conf *home = sl_config_route_for_topic(cfg, topic);
    return home && home->target != r->target && fans_out(r);
}

/* The group of target @t's fan-out pipeline. */
static char *fanout_group(const sl_config *cfg, size_t t)
{
    const char *group = sl_config_kafka_get(cfg, "group.id");
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_printf(&sb, "%s.%s", group ? group : "", cfg->targets[t].name);
    return sl_strbuf_steal(&sb);
}

char *sl_pipeline_group(const sl_config *cfg, const sl_route_conf *r, const char *topic)
{
    const sl_route_conf *home = sl_config_route_for_topic(cfg, topic);
    const char *group = sl_config_kafka_get(cfg, "group.id");
    if (!home || home->target == r->target)
        return sl_xstrdup(group ? group : "");
    return fanout_group(cfg, target_of(cfg, r));
}

bool sl_pipeline_writes(const sl_config *cfg, size_t target, size_t t)
{
    if (target != SL_PIPE_MAIN)
        return target == t;
    bool routed = false;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const sl_route_conf *r = &cfg->routes[i];
        if (target_of(cfg, r) != t)
            continue;
        routed = true;
        if (r->topic_pattern)
            return true; /* which topics it is home to is known only at assignment */
        for (size_t k = 0; k < r->ntopics; k++) {
            const sl_route_conf *home = sl_config_route_for_topic(cfg, r->topics[k]);
            if (home && home->target == r->target)
                return true;
        }
    }
    return !routed; /* a target no route names is still connected (readiness) */
}

static bool has_fanout(const sl_config *cfg, size_t target)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const sl_route_conf *r = &cfg->routes[i];
        if (target_of(cfg, r) != target)
            continue;
        for (size_t t = 0; t < r->ntopics; t++)
            if (sl_pipeline_subscribes(cfg, target, r, r->topics[t]))
                return true;
        if (sl_pipeline_subscribes(cfg, target, r, NULL))
            return true;
    }
    return false;
}

size_t sl_pipelines(const sl_config *cfg, sl_pipeline **out)
{
    const char *group = sl_config_kafka_get(cfg, "group.id");
    sl_pipeline *v = sl_xcalloc(cfg->ntargets + 1, sizeof(*v));
    size_t n = 0;
    v[n++] = (sl_pipeline){.target = SL_PIPE_MAIN, .group = sl_xstrdup(group ? group : ""),
                           .name = sl_xstrdup("main")};
    for (size_t t = 0; t < cfg->ntargets; t++) {
        if (!has_fanout(cfg, t))
            continue;
        v[n++] = (sl_pipeline){.target = t, .group = fanout_group(cfg, t), .name = sl_xstrdup(cfg->targets[t].name)};
    }
    *out = v;
    return n;
}

void sl_pipelines_free(sl_pipeline *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].group);
        free(v[i].name);
    }
    free(v);
}
