/* pipeline.h - fan-out: which consumer pipeline reads which (topic, target).
 *
 * A topic's *home* target is the target of the first route matching it (the
 * route that alone took the topic before fan-out).  The main pipeline, in
 * the group kafka.group.id, writes each topic to its home target, through
 * every route of that target matching the topic (one transaction for them
 * all).  A route on another target matching the same topic is a fan-out
 * route: its target gets a pipeline of its own, with workers of its own in
 * the group "<group.id>.<target name>", so that its stored offsets, its
 * Kafka commits, its retries and its outages are its own.  A configuration
 * where every topic is matched by routes of one target has the main
 * pipeline only, exactly as before fan-out. */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/config.h"

/* The main pipeline's target: every home target. */
#define SL_PIPE_MAIN SIZE_MAX

typedef struct sl_pipeline {
    size_t target; /* SL_PIPE_MAIN, or the index of the fan-out target */
    char *group;   /* its group.id */
    char *name;    /* "main", or the target's name (logs, status) */
} sl_pipeline;

/* sl_pipelines() - the pipelines of @cfg: the main one first, then one per
 * target that some route may fan a topic out to, in target order.  Free
 * with sl_pipelines_free(). */
size_t sl_pipelines(const sl_config *cfg, sl_pipeline **out);
void sl_pipelines_free(sl_pipeline *v, size_t n);

/* sl_route_matches() - @r names @topic or its pattern matches it. */
bool sl_route_matches(const sl_route_conf *r, const char *topic);

/* sl_route_takes() - @r reads @topic: it matches it, and it is the first
 * route that does or it fans out (routes[].fan_out, or a child route). */
bool sl_route_takes(const sl_config *cfg, const sl_route_conf *r, const char *topic);

/* sl_pipeline_route() - the first route pipeline @target writes @topic
 * through, or NULL when the pipeline leaves the topic alone (no route, or
 * @target is the topic's home and the main pipeline writes it). */
const sl_route_conf *sl_pipeline_route(const sl_config *cfg, size_t target, const char *topic);

/* sl_pipeline_next_route() - the route after @r, on @r's target, that also
 * matches @topic (same pipeline, same transaction), or NULL. */
const sl_route_conf *sl_pipeline_next_route(const sl_config *cfg, const sl_route_conf *r, const char *topic);

/* sl_pipeline_subscribes() - whether the pipeline of @target subscribes to
 * @r's topic @topic (a name of r->topics) or, with @topic NULL, to its
 * pattern. */
bool sl_pipeline_subscribes(const sl_config *cfg, size_t target, const sl_route_conf *r, const char *topic);

/* sl_pipeline_writes() - whether the pipeline of @target may write to
 * target @t (the main pipeline: a target home to some topic, or named by
 * no route), and so connects and probes it. */
bool sl_pipeline_writes(const sl_config *cfg, size_t target, size_t t);

/* sl_pipeline_group() - the group.id of the pipeline that writes @topic
 * through route @r (a route may be home to one topic and fan out another).
 * free() it. */
char *sl_pipeline_group(const sl_config *cfg, const sl_route_conf *r, const char *topic);

#endif
