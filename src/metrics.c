/* metrics.c - the process's counters, gauges and histograms, and their
 * Prometheus text exposition. */
#include "sluice/metrics.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef enum { COUNTER, GAUGE, HISTOGRAM } kind;

typedef struct family {
    const char *name;
    kind kind;
    const char *help;
    const char *labels[3];
    double scale;           /* rendered value = stored / scale */
    const double *bounds;   /* histograms: upper bounds, ascending */
    size_t nbounds;
} family;

static const double flush_seconds_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,     2.5,  5,     10,   30,  60};
static const double flush_rows_bounds[] = {1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000, 100000};
#define NB(a) (sizeof(a) / sizeof(a[0]))

static const family families[SL_M_COUNT] = {
    [SL_M_RECORDS] = {"sluice_records_total", COUNTER, "Records consumed, per route and topic.",
                      {"route", "topic"}, 1, NULL, 0},
    [SL_M_ROWS_WRITTEN] = {"sluice_rows_written_total", COUNTER,
                           "Rows committed to a target table, per operation (upsert, insert, delete).",
                           {"target", "table", "op"}, 1, NULL, 0},
    [SL_M_DEAD_LETTERS] = {"sluice_dead_letters_total", COUNTER, "Records dead-lettered (on_error: dlq).",
                           {"route"}, 1, NULL, 0},
    [SL_M_SKIPPED] = {"sluice_records_skipped_total", COUNTER, "Bad records skipped (on_error: skip).",
                      {"route"}, 1, NULL, 0},
    [SL_M_ERRORS] = {"sluice_errors_total", COUNTER,
                     "Failed writes to a target, by kind (retry: transient, data: bad rows, fatal).",
                     {"target", "kind"}, 1, NULL, 0},
    [SL_M_RETRIES] = {"sluice_retries_total", COUNTER, "Writes retried after a transient failure.",
                      {"target"}, 1, NULL, 0},
    [SL_M_REBALANCES] = {"sluice_rebalances_total", COUNTER,
                         "Consumer group rebalances seen by this process's workers (assign and revoke).",
                         {NULL}, 1, NULL, 0},
    [SL_M_RELOADS] = {"sluice_config_reloads_total", COUNTER,
                      "Configuration reloads on SIGHUP, by result (applied, rejected).", {"result"}, 1, NULL, 0},
    [SL_M_FLUSH_SECONDS] = {"sluice_flush_duration_seconds", HISTOGRAM,
                            "Time to write and commit one batch to a target, retries included.", {"target"}, 1,
                            flush_seconds_bounds, NB(flush_seconds_bounds)},
    [SL_M_FLUSH_ROWS] = {"sluice_flush_rows", HISTOGRAM, "Rows in one committed batch.", {"target"}, 1,
                         flush_rows_bounds, NB(flush_rows_bounds)},
    [SL_M_ASSIGNED] = {"sluice_assigned_partitions", GAUGE, "Partitions assigned to this process's workers.",
                       {NULL}, 1, NULL, 0},
    [SL_M_LAG] = {"sluice_consumer_lag", GAUGE,
                  "Records between the group's committed offset and the high watermark (librdkafka statistics), "
                  "per consumer group: kafka.group.id, and <group.id>.<target> for each fan-out pipeline.",
                  {"group", "topic", "partition"}, 1, NULL, 0},
    [SL_M_LAST_COMMIT] = {"sluice_last_commit_timestamp_seconds", GAUGE,
                          "Unix time of the last batch committed to a target.", {"target"}, 1000, NULL, 0},
    [SL_M_TARGET_UP] = {"sluice_target_up", GAUGE, "1 when the last connection or write to a target succeeded.",
                        {"target"}, 1, NULL, 0},
    [SL_M_PAUSED] = {"sluice_paused_partitions", GAUGE,
                     "Partitions paused while a write to their target is retried.", {NULL}, 1, NULL, 0},
    [SL_M_IGNORED] = {"sluice_records_ignored_total", COUNTER,
                      "Records that carry no row: tombstones without delete_on_tombstone, Debezium heartbeats "
                      "and messages, deletes in insert mode, records a transform filter dropped.",
                      {"route"}, 1, NULL, 0},
    [SL_M_FETCH_RESTARTS] = {"sluice_fetch_restarts_total", COUNTER,
                             "Fetches restarted after a full prefetch queue was emptied (librdkafka 2.0).", {NULL}, 1,
                             NULL, 0},
    [SL_M_UNAVAILABLE] = {"sluice_unavailable_values_total", COUNTER,
                          "Values a primary-key change did not send (Debezium's unavailable-value placeholder) "
                          "whose old row was gone: left NULL or default (docs/cdc.md).",
                          {"table"}, 1, NULL, 0},
    [SL_M_DIRECT_TAKEN] = {"sluice_direct_records_total", COUNTER,
                           "Records read straight into a row's cells by their format's direct reader.", {"route"},
                           1, NULL, 0},
    [SL_M_DIRECT_DECLINED] = {"sluice_direct_declined_total", COUNTER,
                              "Records of a format with a direct reader that took the general path, by reason "
                              "(route: the route needs it for all; table: the first of their table; record: the "
                              "reader declined the record).",
                              {"route", "reason"}, 1, NULL, 0},
};

struct sl_series {
    sl_metric_id id;
    char *labels[3];
    atomic_llong value;        /* counters, gauges; histograms: count */
    atomic_llong sum_micros;   /* histograms: sum, in millionths */
    atomic_llong *buckets;     /* histograms: per bound (not cumulative) */
    atomic_bool hidden;
    bool discard;              /* a gauge's overflow: takes updates, never shown */
    sl_series *next;
};

/* Series per family when no configuration says (admin.max_series). */
#define DEFAULT_MAX_SERIES 2000

struct sl_metrics {
    pthread_mutex_t lock; /* guards the lists, not the values */
    sl_series *head[SL_M_COUNT];
    sl_series **tail[SL_M_COUNT];
    size_t nseries[SL_M_COUNT];
    size_t max_series;                  /* per family */
    sl_series *overflow[SL_M_COUNT];    /* label sets past max_series; not in the lists */
    atomic_llong overflowed[SL_M_COUNT];
    bool lag_per_partition;
    double start_time;
};

static size_t nlabels(sl_metric_id id)
{
    size_t n = 0;
    while (n < 3 && families[id].labels[n])
        n++;
    return n;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static sl_series *series_new(sl_metric_id id, const char *const l[3], size_t n)
{
    sl_series *s = sl_xcalloc(1, sizeof(*s));
    s->id = id;
    for (size_t i = 0; i < n; i++)
        s->labels[i] = sl_xstrdup(l[i]);
    if (families[id].kind == HISTOGRAM)
        s->buckets = sl_xcalloc(families[id].nbounds, sizeof(atomic_llong));
    return s;
}

static void series_free(sl_series *s)
{
    for (size_t k = 0; k < 3; k++)
        free(s->labels[k]);
    free(s->buckets);
    free(s);
}

/* The series of @id with labels @l, created (within max_series) or the
 * family's overflow series.  Under m->lock. */
static sl_series *series_locked(sl_metrics *m, sl_metric_id id, const char *const l[3])
{
    sl_series *s;
    for (s = m->head[id]; s; s = s->next)
        if (same(s->labels[0], l[0]) && same(s->labels[1], l[1]) && same(s->labels[2], l[2]))
            return s;
    size_t n = nlabels(id);
    if (m->nseries[id] >= m->max_series && n) {
        atomic_fetch_add(&m->overflowed[id], 1);
        if (!m->overflow[id]) {
            static const char *const other[3] = {"_other", "_other", "_other"};
            m->overflow[id] = series_new(id, other, n);
            /* a sum of gauges of different label sets means nothing */
            m->overflow[id]->discard = families[id].kind == GAUGE;
        }
        return m->overflow[id];
    }
    s = series_new(id, l, n);
    *m->tail[id] = s;
    m->tail[id] = &s->next;
    m->nseries[id]++;
    return s;
}

sl_series *sl_metrics_series(sl_metrics *m, sl_metric_id id, const char *l1, const char *l2, const char *l3)
{
    const char *l[3] = {l1, l2, l3};
    size_t n = nlabels(id);
    for (size_t i = n; i < 3; i++)
        l[i] = NULL;
    for (size_t i = 0; i < n; i++)
        if (!l[i])
            l[i] = "";
    pthread_mutex_lock(&m->lock);
    sl_series *s = series_locked(m, id, l);
    pthread_mutex_unlock(&m->lock);
    return s;
}

void sl_series_add(sl_series *s, int64_t n)
{
    if (s) {
        atomic_fetch_add(&s->value, n);
        atomic_store(&s->hidden, false);
    }
}

void sl_series_set(sl_series *s, int64_t v)
{
    if (s) {
        atomic_store(&s->value, v);
        atomic_store(&s->hidden, false);
    }
}

int64_t sl_series_get(const sl_series *s)
{
    return s ? atomic_load(&s->value) : 0;
}

void sl_series_hide(sl_series *s)
{
    if (s)
        atomic_store(&s->hidden, true);
}

void sl_series_observe(sl_series *s, double v)
{
    if (!s)
        return;
    const family *f = &families[s->id];
    for (size_t i = 0; i < f->nbounds; i++)
        if (v <= f->bounds[i]) {
            atomic_fetch_add(&s->buckets[i], 1);
            break;
        }
    atomic_fetch_add(&s->sum_micros, (long long)llround(v * 1e6));
    atomic_fetch_add(&s->value, 1);
}

void sl_metrics_add(sl_metrics *m, sl_metric_id id, int64_t n, const char *l1, const char *l2, const char *l3)
{
    if (m)
        sl_series_add(sl_metrics_series(m, id, l1, l2, l3), n);
}

int64_t sl_metrics_sum(sl_metrics *m, sl_metric_id id, const char *l1)
{
    int64_t sum = 0;
    pthread_mutex_lock(&m->lock);
    for (sl_series *s = m->head[id]; s; s = s->next)
        if (!atomic_load(&s->hidden) && (!l1 || (s->labels[0] && !strcmp(s->labels[0], l1))))
            sum += atomic_load(&s->value);
    const sl_series *o = m->overflow[id];
    if (o && !o->discard && !l1)
        sum += atomic_load(&o->value);
    pthread_mutex_unlock(&m->lock);
    return sum;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

sl_metrics *sl_metrics_new(const sl_config *cfg)
{
    sl_metrics *m = sl_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    for (int i = 0; i < SL_M_COUNT; i++)
        m->tail[i] = &m->head[i];
    m->start_time = now_s();
    m->lag_per_partition = true;
    m->max_series = DEFAULT_MAX_SERIES;
    if (!cfg)
        return m;
    m->lag_per_partition = cfg->admin.partition_lag;
    if (cfg->admin.max_series > 0)
        m->max_series = (size_t)cfg->admin.max_series;
    static const char *const kinds[] = {"retry", "data", "fatal"};
    for (size_t t = 0; t < cfg->ntargets; t++) {
        const char *name = cfg->targets[t].name;
        sl_metrics_series(m, SL_M_RETRIES, name, NULL, NULL);
        for (size_t k = 0; k < 3; k++)
            sl_metrics_series(m, SL_M_ERRORS, name, kinds[k], NULL);
        sl_metrics_series(m, SL_M_TARGET_UP, name, NULL, NULL);
        sl_metrics_series(m, SL_M_FLUSH_SECONDS, name, NULL, NULL);
        sl_metrics_series(m, SL_M_FLUSH_ROWS, name, NULL, NULL);
    }
    for (size_t r = 0; r < cfg->nroutes; r++) {
        const sl_route_conf *rc = &cfg->routes[r];
        for (size_t t = 0; t < rc->ntopics; t++)
            sl_metrics_series(m, SL_M_RECORDS, rc->name, rc->topics[t], NULL);
        sl_metrics_series(m, SL_M_DEAD_LETTERS, rc->name, NULL, NULL);
        sl_metrics_series(m, SL_M_SKIPPED, rc->name, NULL, NULL);
        sl_metrics_series(m, SL_M_IGNORED, rc->name, NULL, NULL);
    }
    sl_metrics_series(m, SL_M_FETCH_RESTARTS, NULL, NULL, NULL);
    sl_metrics_series(m, SL_M_REBALANCES, NULL, NULL, NULL);
    sl_metrics_series(m, SL_M_RELOADS, "applied", NULL, NULL);
    sl_metrics_series(m, SL_M_RELOADS, "rejected", NULL, NULL);
    sl_metrics_series(m, SL_M_ASSIGNED, NULL, NULL, NULL);
    sl_metrics_series(m, SL_M_PAUSED, NULL, NULL, NULL);
    return m;
}

void sl_metrics_free(sl_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < SL_M_COUNT; i++) {
        sl_series *s = m->head[i];
        while (s) {
            sl_series *next = s->next;
            series_free(s);
            s = next;
        }
        if (m->overflow[i])
            series_free(m->overflow[i]);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- exposition ---- */

static void put_label_value(sl_strbuf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sl_strbuf_putc(o, '\\');
        if (*v == '\n') {
            sl_strbuf_puts(o, "\\n");
            continue;
        }
        sl_strbuf_putc(o, *v);
    }
}

/* {a="x",b="y"} plus an optional extra label (le for buckets). */
static void put_labels(sl_strbuf *o, const family *f, char *const *labels, const char *extra_name,
                       const char *extra_value, size_t upto)
{
    size_t n = 0;
    while (n < upto && f->labels[n])
        n++;
    if (!n && !extra_name)
        return;
    sl_strbuf_putc(o, '{');
    for (size_t i = 0; i < n; i++) {
        sl_strbuf_printf(o, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_label_value(o, labels[i] ? labels[i] : "");
        sl_strbuf_putc(o, '"');
    }
    if (extra_name) {
        sl_strbuf_printf(o, "%s%s=\"", n ? "," : "", extra_name);
        put_label_value(o, extra_value);
        sl_strbuf_putc(o, '"');
    }
    sl_strbuf_putc(o, '}');
}

static void put_number(sl_strbuf *o, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        sl_strbuf_printf(o, " %.0f\n", v);
    else
        sl_strbuf_printf(o, " %.15g\n", v);
}

static void render_family(sl_metrics *m, sl_metric_id id, sl_strbuf *o)
{
    const family *f = &families[id];
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    sl_strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_names[f->kind]);
    bool per_topic = id == SL_M_LAG && !m->lag_per_partition;
    /* lag per group and topic only: sum the partitions of each */
    sl_series **done = NULL;
    size_t ndone = 0;
    sl_series *over = m->overflow[id];
    for (sl_series *s = m->head[id]; s || (over && !over->discard); s = s ? s->next : NULL) {
        if (!s) { /* the list done: the overflow series last */
            s = over;
            over = NULL;
        }
        if (atomic_load(&s->hidden))
            continue;
        if (per_topic) {
            bool seen = false;
            for (size_t i = 0; i < ndone; i++)
                if (!strcmp(done[i]->labels[0], s->labels[0]) && !strcmp(done[i]->labels[1], s->labels[1]))
                    seen = true;
            if (seen)
                continue;
            done = sl_xrealloc(done, (ndone + 1) * sizeof(*done));
            done[ndone++] = s;
            int64_t sum = 0;
            for (sl_series *t = s; t && t != m->overflow[id]; t = t->next)
                if (!atomic_load(&t->hidden) && !strcmp(t->labels[0], s->labels[0]) &&
                    !strcmp(t->labels[1], s->labels[1]))
                    sum += atomic_load(&t->value);
            sl_strbuf_puts(o, f->name);
            put_labels(o, f, s->labels, NULL, NULL, 2);
            put_number(o, (double)sum);
            continue;
        }
        if (f->kind != HISTOGRAM) {
            sl_strbuf_puts(o, f->name);
            put_labels(o, f, s->labels, NULL, NULL, 3);
            put_number(o, (double)atomic_load(&s->value) / f->scale);
            continue;
        }
        long long cum = 0;
        for (size_t b = 0; b < f->nbounds; b++) {
            char le[32];
            snprintf(le, sizeof(le), "%g", f->bounds[b]);
            cum += atomic_load(&s->buckets[b]);
            sl_strbuf_printf(o, "%s_bucket", f->name);
            put_labels(o, f, s->labels, "le", le, 3);
            put_number(o, (double)cum);
        }
        long long count = atomic_load(&s->value);
        sl_strbuf_printf(o, "%s_bucket", f->name);
        put_labels(o, f, s->labels, "le", "+Inf", 3);
        put_number(o, (double)count);
        sl_strbuf_printf(o, "%s_sum", f->name);
        put_labels(o, f, s->labels, NULL, NULL, 3);
        put_number(o, (double)atomic_load(&s->sum_micros) / 1e6);
        sl_strbuf_printf(o, "%s_count", f->name);
        put_labels(o, f, s->labels, NULL, NULL, 3);
        put_number(o, (double)count);
    }
    free(done);
}

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, rss = 0;
    int n = fscanf(f, "%ld %ld", &size, &rss);
    fclose(f);
    return n == 2 ? rss * sysconf(_SC_PAGESIZE) : -1;
}

void sl_metrics_render(sl_metrics *m, sl_strbuf *o)
{
    pthread_mutex_lock(&m->lock);
    for (int id = 0; id < SL_M_COUNT; id++)
        render_family(m, (sl_metric_id)id, o);
    pthread_mutex_unlock(&m->lock);
    sl_strbuf_puts(o, "# HELP sluice_metric_series_overflow_total Updates of a label set that got no series of its "
                      "own: the family had admin.max_series series (counters and histograms add to the series "
                      "labelled _other, gauges are dropped).\n"
                      "# TYPE sluice_metric_series_overflow_total counter\n");
    for (int id = 0; id < SL_M_COUNT; id++)
        sl_strbuf_printf(o, "sluice_metric_series_overflow_total{metric=\"%s\"} %lld\n", families[id].name,
                         (long long)atomic_load(&m->overflowed[id]));
    long rss = resident_bytes();
    if (rss >= 0)
        sl_strbuf_printf(o, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
                         rss);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    sl_strbuf_printf(o, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
                     cpu);
    sl_strbuf_printf(o, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
                     m->start_time);
    sl_strbuf_printf(o, "# HELP sluice_build_info sluice and librdkafka versions; always 1.\n"
                        "# TYPE sluice_build_info gauge\n"
                        "sluice_build_info{version=\"%s\",librdkafka=\"%s\"} 1\n",
                     SLUICE_VERSION, rd_kafka_version_str());
}

int sl_metrics_write_file(sl_metrics *m, const char *path)
{
    sl_strbuf text = SL_STRBUF_INIT;
    sl_metrics_render(m, &text);
    /* beside @path (rename() stays in one file system), under a name no
     * other user can guess and take first (a symlink at a fixed name would
     * have had the file written wherever it points) */
    sl_strbuf tmp = SL_STRBUF_INIT;
    const char *slash = strrchr(path, '/');
    if (slash)
        sl_strbuf_printf(&tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
    else
        sl_strbuf_printf(&tmp, ".%s.XXXXXX", path);
    int rc = -1;
    int fd = mkstemp(tmp.data);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        if (!f) {
            close(fd);
        } else {
            bool ok = fchmod(fd, 0644) == 0; /* the collector reads it as another user */
            ok = fputs(text.data, f) >= 0 && ok;
            ok = fclose(f) == 0 && ok;
            if (ok && rename(tmp.data, path) == 0)
                rc = 0;
        }
        if (rc) {
            int e = errno;
            unlink(tmp.data);
            errno = e;
        }
    }
    sl_strbuf_free(&tmp);
    sl_strbuf_free(&text);
    return rc;
}

void sl_metrics_kafka_stats(sl_metrics *m, const char *group, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics");
    const char *topic;
    json_t *t;
    json_object_foreach(topics, topic, t) {
        const char *pkey;
        json_t *p;
        json_object_foreach(json_object_get(t, "partitions"), pkey, p) {
            json_int_t id = json_integer_value(json_object_get(p, "partition"));
            if (id < 0)
                continue; /* the unassigned-messages pseudo partition */
            json_t *lag = json_object_get(p, "consumer_lag");
            json_t *desired = json_object_get(p, "desired");
            /* partitions of the topic held by other workers show as not
             * desired here: they are left to the worker that holds them */
            if (json_is_true(desired) && json_is_integer(lag) && json_integer_value(lag) >= 0)
                sl_metrics_lag_set(m, group, topic, (int32_t)id, json_integer_value(lag));
        }
    }
    json_decref(root);
}

void sl_metrics_lag_set(sl_metrics *m, const char *group, const char *topic, int32_t partition, int64_t lag)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", (int)partition);
    /* looked up and set under the lock: sl_metrics_lag_forget() frees lag series */
    const char *l[3] = {group, topic, p};
    pthread_mutex_lock(&m->lock);
    sl_series_set(series_locked(m, SL_M_LAG, l), lag);
    pthread_mutex_unlock(&m->lock);
}

void sl_metrics_lag_forget(sl_metrics *m, const char *group, const char *topic, int32_t partition)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", (int)partition);
    pthread_mutex_lock(&m->lock);
    /* freed, not hidden: under topic_pattern the partitions that come and
     * go are not bounded (only sl_metrics_kafka_stats() sets lag series,
     * under the lock, and no caller keeps them) */
    for (sl_series **x = &m->head[SL_M_LAG]; *x;) {
        sl_series *s = *x;
        if (!strcmp(s->labels[0], group) && !strcmp(s->labels[1], topic) && !strcmp(s->labels[2], p)) {
            *x = s->next;
            series_free(s);
            m->nseries[SL_M_LAG]--;
        } else {
            x = &s->next;
        }
    }
    m->tail[SL_M_LAG] = &m->head[SL_M_LAG];
    while (*m->tail[SL_M_LAG])
        m->tail[SL_M_LAG] = &(*m->tail[SL_M_LAG])->next;
    pthread_mutex_unlock(&m->lock);
}
