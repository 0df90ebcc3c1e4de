/* metrics.h - the one set of counters, gauges and histograms of the
 * process, rendered in the Prometheus text exposition format (served on
 * /metrics by the admin server, or written to `metrics_file`).
 *
 * Names are stable and documented in docs/operations.md; values are in base
 * units (seconds, bytes).  Every function is thread-safe: workers update
 * series while the admin thread renders them. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/strbuf.h"

typedef enum sl_metric_id {
    SL_M_RECORDS,          /* counter   sluice_records_total{route,topic} */
    SL_M_ROWS_WRITTEN,     /* counter   sluice_rows_written_total{target,table,op} op: upsert|insert|delete */
    SL_M_DEAD_LETTERS,     /* counter   sluice_dead_letters_total{route} */
    SL_M_SKIPPED,          /* counter   sluice_records_skipped_total{route} */
    SL_M_ERRORS,           /* counter   sluice_errors_total{target,kind} kind: retry|data|fatal */
    SL_M_RETRIES,          /* counter   sluice_retries_total{target} */
    SL_M_REBALANCES,       /* counter   sluice_rebalances_total */
    SL_M_RELOADS,          /* counter   sluice_config_reloads_total{result} result: applied|rejected */
    SL_M_FLUSH_SECONDS,    /* histogram sluice_flush_duration_seconds{target} */
    SL_M_FLUSH_ROWS,       /* histogram sluice_flush_rows{target} */
    SL_M_ASSIGNED,         /* gauge     sluice_assigned_partitions */
    SL_M_LAG,              /* gauge     sluice_consumer_lag{group,topic,partition} */
    SL_M_LAST_COMMIT,      /* gauge     sluice_last_commit_timestamp_seconds{target} (set in ms) */
    SL_M_TARGET_UP,        /* gauge     sluice_target_up{target} */
    SL_M_PAUSED,           /* gauge     sluice_paused_partitions */
    SL_M_IGNORED,          /* counter   sluice_records_ignored_total{route} tombstones, heartbeats, ... */
    SL_M_FETCH_RESTARTS,   /* counter   sluice_fetch_restarts_total */
    SL_M_UNAVAILABLE,      /* counter   sluice_unavailable_values_total{table} */
    SL_M_DIRECT_TAKEN,     /* counter   sluice_direct_records_total{route} */
    SL_M_DIRECT_DECLINED,  /* counter   sluice_direct_declined_total{route,reason} reason: route|table|record */
    SL_M_COUNT
} sl_metric_id;

typedef struct sl_metrics sl_metrics;
typedef struct sl_series sl_series;

/* sl_metrics_new() - the families, with the series every dashboard and
 * alert expects already present at 0 (per target, per route and topic). */
sl_metrics *sl_metrics_new(const sl_config *cfg);
void sl_metrics_free(sl_metrics *m);

/* sl_metrics_series() - the series of @id with these label values (as many
 * as the family has; the rest NULL), created on first use.  A family holds
 * at most admin.max_series series: past it, new label sets share the
 * family's overflow series (labels `_other`; a gauge's is never shown),
 * counted in sluice_metric_series_overflow_total.  The pointer stays valid
 * until sl_metrics_free(), and callers may keep it, except for
 * SL_M_LAG's: lag series are set by sl_metrics_kafka_stats() and
 * sl_metrics_lag_set() only, and freed by sl_metrics_lag_forget(). */
sl_series *sl_metrics_series(sl_metrics *m, sl_metric_id id, const char *l1, const char *l2, const char *l3);

/* Counters and gauges: add @n (may be negative for gauges), or set. */
void sl_series_add(sl_series *s, int64_t n);
void sl_series_set(sl_series *s, int64_t v);
int64_t sl_series_get(const sl_series *s);
/* Histograms: one observation. */
void sl_series_observe(sl_series *s, double v);
/* Gauges: hide a series until it is set again (a revoked partition's lag). */
void sl_series_hide(sl_series *s);

/* sl_metrics_add() - look up and add in one call (for rare events). */
void sl_metrics_add(sl_metrics *m, sl_metric_id id, int64_t n, const char *l1, const char *l2, const char *l3);

/* sl_metrics_kind() - the kind label of sluice_errors_total: retry, data, fatal. */
static inline const char *sl_metrics_kind(sl_errkind k)
{
    return k == SL_ERR_RETRY ? "retry" : k == SL_ERR_DATA ? "data" : "fatal";
}

/* sl_metrics_sum() - the sum of every visible series of a counter or gauge
 * family whose first label is @l1 (NULL: all). */
int64_t sl_metrics_sum(sl_metrics *m, sl_metric_id id, const char *l1);

/* sl_metrics_render() - the exposition text, plus the process metrics
 * (process_resident_memory_bytes, process_start_time_seconds,
 * process_cpu_seconds_total) and sluice_build_info. */
void sl_metrics_render(sl_metrics *m, sl_strbuf *out);

/* sl_metrics_write_file() - render into @path atomically (a temporary file
 * of an unpredictable name made with mkstemp() in @path's directory, mode
 * 0644, then renamed over @path), for node_exporter's textfile collector. */
int sl_metrics_write_file(sl_metrics *m, const char *path);

/* sl_metrics_kafka_stats() - read librdkafka's statistics JSON (the
 * stats_cb payload) of a consumer in @group and set sluice_consumer_lag for
 * every partition the consumer has assigned (desired).  Each pipeline
 * (pipeline.h) reports under its own group, so the series stay one per
 * group, topic and partition: at most (1 + fan-out targets) x partitions. */
void sl_metrics_kafka_stats(sl_metrics *m, const char *group, const char *json, size_t len);
/* sl_metrics_lag_set() - sluice_consumer_lag of a partition that
 * librdkafka's statistics cannot tell (one paused before its first fetch:
 * they learn the high watermark from fetches), measured by the worker. */
void sl_metrics_lag_set(sl_metrics *m, const char *group, const char *topic, int32_t partition, int64_t lag);
/* sl_metrics_lag_forget() - a partition was revoked from a consumer in
 * @group: free its lag series (a consumer that reports it again makes a
 * new one). */
void sl_metrics_lag_forget(sl_metrics *m, const char *group, const char *topic, int32_t partition);

#endif
