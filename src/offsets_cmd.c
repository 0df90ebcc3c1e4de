/* offsets_cmd.c - `sluice offsets`: replay (or skip) on purpose.
 *
 * Rewrites the next offsets of one route's partitions, in the database
 * (exactly-once targets keep them in sluice.offsets, which is what a worker
 * seeks to) and in Kafka's committed offsets of the group.  It refuses
 * while the group has live members: a running worker would carry on from
 * its own position and commit over the new offsets.  Where the broker
 * cannot describe groups, it goes on only for exactly-once targets, where
 * that is safe: a live worker's next write finds the stored offsets moved,
 * rolls back, and resumes from the new ones. */
#include <ctype.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/app.h"
#include "sluice/kafka.h"
#include "sluice/pipeline.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"

/* "2024-05-01T12:00:00Z", "2024-05-01 12:00:00.250", or epoch ms. -1 if neither. */
static int64_t parse_time_ms(const char *s)
{
    char *end;
    long long ms = strtoll(s, &end, 10);
    if (*s && !*end)
        return ms;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*p == 'Z')
        p++;
    if (*p)
        return -1;
    return (int64_t)timegm(&tm) * 1000 + frac;
}

int sl_app_offsets(const sl_config *cfg, const char *route_name, const char *where, int dry_run)
{
    const sl_route_conf *r = NULL;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (!strcmp(cfg->routes[i].name, route_name))
            r = &cfg->routes[i];
    if (!r) {
        fprintf(stderr, "sluice offsets: no route named '%s' in %s\n", route_name, cfg->path);
        return 1;
    }
    /* the group of the route's pipeline (pipeline.h): known once its topics are */
    char *group = NULL;
    char es[512];
    rd_kafka_conf_t *c = sl_kafka_conf(cfg, false, es, sizeof(es));
    if (!c) {
        fprintf(stderr, "sluice offsets: %s\n", es);
        return 1;
    }
    rd_kafka_conf_set(c, "enable.auto.commit", "false", es, sizeof(es));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    if (!rk) {
        fprintf(stderr, "sluice offsets: %s\n", es);
        return 1;
    }
    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    const struct rd_kafka_group_list *groups = NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    sl_sink *sink = NULL;
    rd_kafka_t *gk = NULL; /* a consumer in the route's group, when it is not the main one */
    sl_error err;
    sink = sl_sink_new(r->target, 0);
    bool in_db = sl_sink_exactly_once(sink);
    rd_kafka_resp_err_t e;
    if ((e = rd_kafka_metadata(rk, 1, NULL, &md, 10000))) {
        fprintf(stderr, "sluice offsets: cannot read Kafka metadata: %s\n", rd_kafka_err2str(e));
        goto out;
    }
    bool explicit = strchr(where, ':') != NULL;
    int64_t when = -1;
    if (!explicit && strcmp(where, "earliest") && strcmp(where, "latest") && (when = parse_time_ms(where)) < 0) {
        fprintf(stderr, "sluice offsets: --reset-to '%s': expected earliest, latest, a time "
                        "(2024-05-01T12:00:00Z or epoch ms) or topic:partition:offset\n", where);
        goto out;
    }
    if (explicit) {
        char *copy = sl_xstrdup(where), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *c1 = strrchr(tok, ':');
            char *c0 = c1 ? memrchr(tok, ':', (size_t)(c1 - tok)) : NULL;
            if (!c0) {
                fprintf(stderr, "sluice offsets: '%s' is not topic:partition:offset\n", tok);
                free(copy);
                goto out;
            }
            *c0 = *c1 = '\0';
            if (!sl_route_takes(cfg, r, tok)) {
                fprintf(stderr, "sluice offsets: topic '%s' is not read by route '%s'\n", tok, r->name);
                free(copy);
                goto out;
            }
            rd_kafka_topic_partition_list_add(l, tok, atoi(c0 + 1))->offset = strtoll(c1 + 1, NULL, 10);
        }
        free(copy);
    } else {
        for (int t = 0; t < md->topic_cnt; t++) {
            if (!sl_route_takes(cfg, r, md->topics[t].topic))
                continue;
            for (int p = 0; p < md->topics[t].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(l, md->topics[t].topic, md->topics[t].partitions[p].id)->offset = when;
        }
        if (when >= 0 && (e = rd_kafka_offsets_for_times(rk, l, 10000))) {
            fprintf(stderr, "sluice offsets: looking up offsets for %s failed: %s\n", where, rd_kafka_err2str(e));
            goto out;
        }
        for (int i = 0; i < l->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &l->elems[i];
            int64_t lo, hi;
            if ((e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 10000))) {
                fprintf(stderr, "sluice offsets: watermarks of %s[%d]: %s\n", tp->topic, tp->partition,
                        rd_kafka_err2str(e));
                goto out;
            }
            if (!strcmp(where, "earliest"))
                tp->offset = lo;
            else if (!strcmp(where, "latest") || tp->offset < 0) /* nothing at or after that time */
                tp->offset = hi;
        }
    }
    if (l->cnt == 0) {
        fprintf(stderr, "sluice offsets: route '%s' reads no existing topic\n", r->name);
        goto out;
    }
    group = sl_pipeline_group(cfg, r, l->elems[0].topic);
    for (int i = 1; i < l->cnt; i++) {
        char *g = sl_pipeline_group(cfg, r, l->elems[i].topic);
        bool same = !strcmp(g, group);
        if (!same)
            fprintf(stderr, "sluice offsets: route '%s' writes %s in group '%s' and %s in group '%s' (fan-out); "
                            "name the partitions of one group (topic:partition:offset)\n",
                    r->name, l->elems[0].topic, group, l->elems[i].topic, g);
        free(g);
        if (!same)
            goto out;
    }
    /* committed offsets are read and written in the handle's own group:
     * a fan-out route's pipeline group needs a handle of its own */
    const char *main_group = sl_config_kafka_get(cfg, "group.id");
    if (strcmp(group, main_group ? main_group : "")) {
        rd_kafka_conf_t *gc = sl_kafka_conf(cfg, false, es, sizeof(es));
        if (gc) {
            rd_kafka_conf_set(gc, "enable.auto.commit", "false", es, sizeof(es));
            rd_kafka_conf_set(gc, "group.id", group, es, sizeof(es));
            gk = rd_kafka_new(RD_KAFKA_CONSUMER, gc, es, sizeof(es));
        }
        if (!gk) {
            fprintf(stderr, "sluice offsets: a consumer of group '%s': %s\n", group, es);
            goto out;
        }
    }
    e = rd_kafka_list_groups(rk, group, &groups, 10000);
    if (e && !in_db) {
        fprintf(stderr, "sluice offsets: cannot describe group '%s' (%s), so cannot tell whether it is stopped\n",
                group, rd_kafka_err2str(e));
        goto out;
    }
    if (e)
        fprintf(stderr, "sluice offsets: warning: cannot describe group '%s' (%s); going on: a running worker "
                        "of an exactly-once target notices the moved offsets and resumes from them\n",
                group, rd_kafka_err2str(e));
    for (int i = 0; groups && i < groups->group_cnt; i++)
        if (!strcmp(groups->groups[i].group, group) && groups->groups[i].member_cnt > 0) {
            fprintf(stderr, "sluice offsets: group '%s' has %d live member(s); stop every sluice of this group first\n",
                    group, groups->groups[i].member_cnt);
            goto out;
        }
    if (in_db && sink->ops->open(sink, &err)) {
        fprintf(stderr, "sluice offsets: target %s: %s\n", r->target->name, err.msg);
        goto out;
    }
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(l);
    rd_kafka_committed(gk ? gk : rk, committed, 10000);
    sl_offset *offs = sl_xcalloc((size_t)l->cnt, sizeof(*offs));
    printf("%s offsets of route '%s', group '%s':\n", dry_run ? "would set" : "setting", r->name, group);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t stored = -1;
        if (in_db)
            sink->ops->read_offsets(sink, group, tp->topic, &tp->partition, 1, &stored, &err);
        printf("  %s[%d]: %s%lld -> %lld\n", tp->topic, tp->partition, in_db ? "database " : "kafka ",
               (long long)(in_db ? stored : committed->elems[i].offset), (long long)tp->offset);
        offs[i] = (sl_offset){tp->topic, tp->partition, stored, tp->offset};
    }
    rd_kafka_topic_partition_list_destroy(committed);
    if (dry_run) {
        rc = 0;
    } else if (in_db && sink->ops->set_offsets(sink, group, offs, (size_t)l->cnt, &err)) {
        fprintf(stderr, "sluice offsets: writing sluice.offsets failed: %s\n", err.msg);
    } else if ((e = rd_kafka_commit(gk ? gk : rk, l, 0))) {
        fprintf(stderr, "sluice offsets: committing to Kafka failed: %s%s\n", rd_kafka_err2str(e),
                in_db ? " (the database holds the new offsets, which is what sluice resumes from)" : "");
        rc = in_db ? 0 : 1;
    } else {
        printf("done: the next start of group '%s' resumes there\n", group);
        rc = 0;
    }
    free(offs);
out:
    free(group);
    sl_sink_free(sink);
    rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (groups)
        rd_kafka_group_list_destroy(groups);
    if (gk)
        rd_kafka_destroy(gk);
    rd_kafka_destroy(rk);
    return rc;
}
