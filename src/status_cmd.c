/* status_cmd.c - `sluice status`: per route and partition, the offset
 * stored in the database (exactly-once targets), the offset committed in
 * Kafka, the high watermark, the lag, and which group member holds the
 * partition.  It only reads: a consumer handle that never subscribes (so
 * never joins the group), the group description from the admin API, and
 * the targets' offset tables. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/app.h"
#include "sluice/kafka.h"
#include "sluice/pipeline.h"
#include "sluice/sink.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"
#include <jansson.h>

typedef struct prow {
    const sl_route_conf *route;
    const char *topic; /* owned by the metadata */
    int32_t partition;
    int64_t db, committed, low, high;
    char member[300];  /* "client_id@host", "" when nobody holds it */
} prow;

typedef struct status {
    const sl_config *cfg;
    prow *rows;
    size_t n;
    char group_state[64];
    size_t nmembers;
    char members_error[300]; /* why members are unknown, "" when known */
    json_t *members;         /* array of {client_id, consumer_id, host, partitions} */
    sl_strbuf errors;
} status;

/* @s with what could act on a terminal escaped: control characters (C0,
 * DEL, C1), backslashes and bytes that are not UTF-8 as \xNN; printable
 * UTF-8 kept.  free() the result. */
static char *printable(const char *s)
{
    sl_strbuf o = SL_STRBUF_INIT;
    sl_strbuf_puts(&o, "");
    const unsigned char *u = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        unsigned c = *u;
        size_t n = sl_utf8_seq(u, left);
        bool c1 = c == 0xC2 && u[1] >= 0x80 && u[1] <= 0x9F;
        if (c < 0x20 || c == 0x7F || c == '\\' || !n || c1) {
            sl_strbuf_printf(&o, "\\x%02x", c);
            n = 1;
        } else {
            sl_strbuf_append(&o, u, n);
        }
        u += n;
        left -= n;
    }
    return sl_strbuf_steal(&o);
}

static void add_error(status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(status *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[600];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (st->errors.len)
        sl_strbuf_putc(&st->errors, '\n');
    sl_strbuf_puts(&st->errors, msg);
}

/* The group's members and their assignments (KIP-... DescribeConsumerGroups,
 * librdkafka 2.0). */
static void describe_group(status *st, rd_kafka_t *rk, const char *group)
{
    st->members = json_array();
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    char es[256];
    rd_kafka_AdminOptions_set_request_timeout(opt, 10000, es, sizeof(es));
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    if (!ev) {
        snprintf(st->members_error, sizeof(st->members_error), "the group description did not come back in 15 s");
    } else if (rd_kafka_event_error(ev)) {
        snprintf(st->members_error, sizeof(st->members_error), "describing the group failed: %s",
                 rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_DescribeConsumerGroups_result_t *res = rd_kafka_event_DescribeConsumerGroups_result(ev);
        size_t ng = 0;
        const rd_kafka_ConsumerGroupDescription_t **gs = rd_kafka_DescribeConsumerGroups_result_groups(res, &ng);
        for (size_t g = 0; g < ng; g++) {
            const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(gs[g]);
            if (ge) {
                snprintf(st->members_error, sizeof(st->members_error), "describing the group failed: %s",
                         rd_kafka_error_string(ge));
                continue;
            }
            snprintf(st->group_state, sizeof(st->group_state), "%s",
                     rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(gs[g])));
            st->nmembers = rd_kafka_ConsumerGroupDescription_member_count(gs[g]);
            for (size_t m = 0; m < st->nmembers; m++) {
                const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(gs[g], m);
                const char *cid = rd_kafka_MemberDescription_client_id(md);
                const char *host = rd_kafka_MemberDescription_host(md);
                const rd_kafka_topic_partition_list_t *l =
                    rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
                json_t *parts = json_array();
                /* any client may join a group with any client.id: printed
                 * as it comes, it could drive the reader's terminal */
                char *pcid = printable(cid ? cid : "?"), *phost = printable(host ? host : "?");
                char who[300];
                snprintf(who, sizeof(who), "%s@%s", pcid, phost);
                for (int i = 0; l && i < l->cnt; i++) {
                    json_array_append_new(parts, json_pack("{s:s,s:i}", "topic", l->elems[i].topic, "partition",
                                                           (int)l->elems[i].partition));
                    for (size_t r = 0; r < st->n; r++)
                        if (st->rows[r].partition == l->elems[i].partition &&
                            !strcmp(st->rows[r].topic, l->elems[i].topic))
                            snprintf(st->rows[r].member, sizeof(st->rows[r].member), "%s", who);
                }
                char *pcons = printable(rd_kafka_MemberDescription_consumer_id(md)
                                            ? rd_kafka_MemberDescription_consumer_id(md)
                                            : "");
                json_array_append_new(st->members,
                                      json_pack("{s:s,s:s,s:s,s:o}", "client_id", cid ? pcid : "", "consumer_id",
                                                pcons, "host", host ? phost : "", "partitions", parts));
                free(pcid);
                free(phost);
                free(pcons);
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
}

/* Offsets stored by exactly-once targets, per partition. */
static void read_db_offsets(status *st, const char *group)
{
    const sl_config *cfg = st->cfg;
    for (size_t t = 0; t < cfg->ntargets; t++) {
        sl_error err;
        sl_sink *s = sl_sink_new(&cfg->targets[t], 0);
        if (!s)
            continue;
        if (!sl_sink_exactly_once(s) || !s->ops->read_offsets) {
            sl_sink_free(s);
            continue;
        }
        if (s->ops->open(s, &err)) {
            add_error(st, "target %s: %s", cfg->targets[t].name, err.msg);
            sl_sink_free(s);
            continue;
        }
        for (size_t i = 0; i < st->n; i++) {
            prow *p = &st->rows[i];
            if (!p->route || p->route->target != &cfg->targets[t])
                continue;
            int64_t off = -1;
            if (s->ops->read_offsets(s, group, p->topic, &p->partition, 1, &off, &err) == 0)
                p->db = off;
            else
                add_error(st, "target %s: reading the offset of %s[%d]: %s", cfg->targets[t].name, p->topic,
                          p->partition, err.msg);
        }
        sl_sink_free(s);
    }
}

static int64_t lag_of(const prow *p)
{
    int64_t from = p->db >= 0 ? p->db : p->committed >= 0 ? p->committed : p->low;
    if (p->high < 0 || from < 0)
        return -1;
    return p->high > from ? p->high - from : 0;
}

static void cell(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%" PRId64, v);
}

static void print_table(const status *st, const char *group)
{
    printf("group %s: %s, %zu member(s)\n", group, st->group_state[0] ? st->group_state : "unknown", st->nmembers);
    size_t wr = 5, wt = 5;
    for (size_t i = 0; i < st->n; i++) {
        if (st->rows[i].route && strlen(st->rows[i].route->name) > wr)
            wr = strlen(st->rows[i].route->name);
        if (strlen(st->rows[i].topic) > wt)
            wt = strlen(st->rows[i].topic);
    }
    printf("%-*s  %-*s  %9s  %12s  %12s  %14s  %10s  %s\n", (int)wr, "ROUTE", (int)wt, "TOPIC", "PARTITION",
           "DB OFFSET", "COMMITTED", "HIGH WATERMARK", "LAG", "MEMBER");
    int64_t total = 0;
    for (size_t i = 0; i < st->n; i++) {
        const prow *p = &st->rows[i];
        char db[24], co[24], hi[24], lag[24];
        bool eo = p->route && p->route->target->delivery == SL_DELIVERY_EXACTLY_ONCE;
        if (eo)
            cell(db, sizeof(db), p->db);
        else
            snprintf(db, sizeof(db), "n/a");
        cell(co, sizeof(co), p->committed);
        cell(hi, sizeof(hi), p->high);
        int64_t l = lag_of(p);
        cell(lag, sizeof(lag), l);
        if (l > 0)
            total += l;
        printf("%-*s  %-*s  %9d  %12s  %12s  %14s  %10s  %s\n", (int)wr, p->route ? p->route->name : "(no route)",
               (int)wt, p->topic, p->partition, db, co, hi, lag,
               p->member[0] ? p->member : (st->members_error[0] ? "?" : "(none)"));
    }
    printf("total lag: %" PRId64 " record(s)\n", total);
    if (st->members_error[0])
        printf("members: unknown: %s\n", st->members_error);
    if (st->errors.len)
        printf("errors:\n%s\n", st->errors.data);
}

static json_t *status_json(const status *st, const char *group)
{
    json_t *parts = json_array();
    for (size_t i = 0; i < st->n; i++) {
        const prow *p = &st->rows[i];
        json_t *o = json_pack("{s:s?,s:s,s:i}", "route", p->route ? p->route->name : NULL, "topic", p->topic,
                              "partition", (int)p->partition);
#define NUM(k, v) json_object_set_new(o, k, (v) >= 0 ? json_integer(v) : json_null())
        NUM("db_offset", p->db);
        NUM("committed_offset", p->committed);
        NUM("low_watermark", p->low);
        NUM("high_watermark", p->high);
        NUM("lag", lag_of(p));
#undef NUM
        json_object_set_new(o, "member", p->member[0] ? json_string(p->member) : json_null());
        json_array_append_new(parts, o);
    }
    json_t *root = json_pack("{s:s,s:s?,s:O,s:o}", "group", group, "group_state",
                             st->group_state[0] ? st->group_state : NULL, "members", st->members, "partitions",
                             parts);
    if (st->members_error[0])
        json_object_set_new(root, "members_error", json_string(st->members_error));
    json_t *errs = json_array();
    for (const char *s = st->errors.data; s && *s;) {
        const char *e = strchr(s, '\n');
        json_array_append_new(errs, json_stringn(s, e ? (size_t)(e - s) : strlen(s)));
        s = e ? e + 1 : s + strlen(s);
    }
    json_object_set_new(root, "errors", errs);
    return root;
}

/* One pipeline's group (pipeline.h): in @json when asked for, else printed. */
static int status_of(const sl_config *cfg, const sl_pipeline *pipe, json_t **json)
{
    const char *group = pipe->group;
    char es[512];
    rd_kafka_conf_t *c = sl_kafka_conf(cfg, false, es, sizeof(es));
    if (!c) {
        fprintf(stderr, "sluice status: %s\n", es);
        return 1;
    }
    rd_kafka_conf_set(c, "enable.auto.commit", "false", es, sizeof(es));
    rd_kafka_conf_set(c, "client.id", "sluice-status", es, sizeof(es));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof(es));
    if (!rk) {
        fprintf(stderr, "sluice status: %s\n", es);
        return 1;
    }
    status st = {.cfg = cfg, .errors = SL_STRBUF_INIT};
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e) {
        fprintf(stderr, "sluice status: cannot read Kafka metadata from %s: %s\n",
                sl_config_kafka_get(cfg, "bootstrap.servers"), rd_kafka_err2str(e));
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return 1;
    }
    /* every partition of every topic a route takes, in topic order */
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        const sl_route_conf *r = sl_pipeline_route(cfg, pipe->target, mt->topic);
        if (!r || mt->err)
            continue;
        for (int p = 0; p < mt->partition_cnt; p++) {
            st.rows = sl_xrealloc(st.rows, (st.n + 1) * sizeof(prow));
            st.rows[st.n++] = (prow){r, mt->topic, mt->partitions[p].id, -1, -1, -1, -1, ""};
        }
    }
    /* explicit topics that do not exist */
    for (size_t r = 0; r < cfg->nroutes; r++)
        for (size_t t = 0; t < cfg->routes[r].ntopics; t++) {
            if (pipe->target != SL_PIPE_MAIN && !sl_pipeline_subscribes(cfg, pipe->target, &cfg->routes[r],
                                                                        cfg->routes[r].topics[t]))
                continue;
            bool found = false;
            for (size_t i = 0; i < st.n; i++)
                found |= !strcmp(st.rows[i].topic, cfg->routes[r].topics[t]);
            if (!found)
                add_error(&st, "route %s: topic %s does not exist", cfg->routes[r].name, cfg->routes[r].topics[t]);
        }
    /* sort: topic, partition */
    for (size_t i = 1; i < st.n; i++)
        for (size_t j = i; j > 0; j--) {
            prow *a = &st.rows[j - 1], *b = &st.rows[j];
            int c2 = strcmp(a->topic, b->topic);
            if (c2 < 0 || (c2 == 0 && a->partition <= b->partition))
                break;
            prow tmp = *a;
            *a = *b;
            *b = tmp;
        }
    if (st.n) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)st.n);
        for (size_t i = 0; i < st.n; i++)
            rd_kafka_topic_partition_list_add(l, st.rows[i].topic, st.rows[i].partition);
        e = rd_kafka_committed(rk, l, 10000);
        if (e)
            add_error(&st, "reading the group's committed offsets: %s", rd_kafka_err2str(e));
        for (size_t i = 0; i < st.n; i++) {
            rd_kafka_topic_partition_t *tp = &l->elems[i];
            st.rows[i].committed = !e && !tp->err && tp->offset >= 0 ? tp->offset : -1;
            int64_t lo = -1, hi = -1;
            rd_kafka_resp_err_t we = rd_kafka_query_watermark_offsets(rk, st.rows[i].topic, st.rows[i].partition,
                                                                      &lo, &hi, 10000);
            if (we)
                add_error(&st, "watermarks of %s[%d]: %s", st.rows[i].topic, st.rows[i].partition,
                          rd_kafka_err2str(we));
            else {
                st.rows[i].low = lo;
                st.rows[i].high = hi;
            }
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    read_db_offsets(&st, group);
    describe_group(&st, rk, group);
    if (json)
        *json = status_json(&st, group);
    else
        print_table(&st, group);
    int rc = st.errors.len ? 1 : 0;
    json_decref(st.members);
    sl_strbuf_free(&st.errors);
    free(st.rows);
    rd_kafka_metadata_destroy(md);
    /* Never subscribed: nothing to leave.  When the broker refused
     * DescribeGroups, librdkafka 2.0.2 keeps references to its brokers and
     * rd_kafka_destroy() waits for them until the connections die; the
     * process ends right after this command, so the handle is left to the
     * exit then. */
    if (!st.members_error[0])
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return rc;
}

int sl_app_status(const sl_config *cfg, bool as_json)
{
    /* the main group; with fan-out, each target's own group after it (an
     * array of them in JSON) */
    sl_pipeline *pipes = NULL;
    size_t n = sl_pipelines(cfg, &pipes);
    json_t *all = json_array();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *one = NULL;
        if (!as_json && i)
            printf("\n");
        rc |= status_of(cfg, &pipes[i], as_json ? &one : NULL);
        if (one)
            json_array_append_new(all, one);
    }
    if (as_json && json_array_size(all)) {
        char *text = json_dumps(n == 1 ? json_array_get(all, 0) : all, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    json_decref(all);
    sl_pipelines_free(pipes, n);
    return rc;
}
