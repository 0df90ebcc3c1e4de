/* app.c - the daemon: workers on threads, signals, the admin server,
 * service-manager notifications, periodic stats, the shutdown deadline. */
#include "sluice/app.h"

#include <errno.h>
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "sluice/admin.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/registry.h"
#include "sluice/strbuf.h"
#include "sluice/pipeline.h"
#include "sluice/worker.h"

static sl_runtime *_Atomic the_runtime;
static volatile sig_atomic_t reload_requested;
static volatile sig_atomic_t stop_signal; /* SIGTERM or SIGINT received; never reset */

/* The one handler, from main()'s first line to the exit: a stop asked for
 * at any moment is kept (there is no window in which a second handler
 * replaces the first, or the default one kills the process). */
static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        reload_requested = 1;
        return;
    }
    stop_signal = sig;
    sl_runtime *rt = atomic_load(&the_runtime);
    if (rt)
        atomic_store(&rt->stop, true);
}

void sl_app_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a parent may have started us with them blocked: one sent already is
     * delivered now, to the handler */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int sl_app_stop_signal(void)
{
    return stop_signal;
}

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the admin server and the service manager are told. */
typedef struct app_state {
    const sl_config *cfg;
    sl_metrics *metrics;
    sl_runtime *rt;
    atomic_size_t nworkers;    /* running: their loops are watched */
    atomic_llong main_beat_ms; /* the main loop's last turn (monotonic) */
} app_state;

static void serve_metrics(void *opaque, sl_strbuf *out)
{
    app_state *st = opaque;
    sl_metrics_render(st->metrics, out);
}

static bool serve_live(void *opaque, sl_strbuf *why)
{
    app_state *st = opaque;
    int64_t now = mono_ms();
    int64_t idle = now - atomic_load(&st->main_beat_ms);
    if (idle > st->cfg->admin.stall_timeout_ms) {
        if (why)
            sl_strbuf_printf(why, "the main loop has not turned for %lld ms", (long long)idle);
        return false;
    }
    for (size_t i = 1; i <= atomic_load(&st->nworkers) && i <= SL_MAX_WORKERS; i++) {
        int64_t beat = atomic_load(&st->rt->worker_beat_ms[i]);
        if (beat && now - beat > st->cfg->admin.stall_timeout_ms) {
            if (why)
                sl_strbuf_printf(why, "worker %zu has not turned for %lld ms", i, (long long)(now - beat));
            return false;
        }
        /* the loop turns while its writer waits for the database: a
         * statement that does not return is a stall too (a write that
         * fails and is retried returns, and is not) */
        int64_t writing = atomic_load(&st->rt->worker_write_ms[i]);
        if (writing && now - writing > st->cfg->admin.stall_timeout_ms) {
            int t = atomic_load(&st->rt->worker_write_target[i]);
            if (why)
                sl_strbuf_printf(why, "worker %zu: a write to target %s has not returned for %lld ms", i,
                                 t >= 0 && (size_t)t < st->cfg->ntargets ? st->cfg->targets[t].name : "?",
                                 (long long)(now - writing));
            return false;
        }
    }
    return true;
}

/* Ready: partitions assigned, and every target's last connection or write
 * succeeded.  The body lists what is missing. */
static bool app_ready(app_state *st, sl_strbuf *json)
{
    bool ok = true;
    sl_strbuf missing = SL_STRBUF_INIT;
    int64_t assigned = sl_metrics_sum(st->metrics, SL_M_ASSIGNED, NULL);
    if (assigned <= 0) {
        ok = false;
        sl_strbuf_puts(&missing, "\"no partitions assigned\"");
    }
    sl_strbuf targets = SL_STRBUF_INIT;
    for (size_t i = 0; i < st->cfg->ntargets; i++) {
        const char *name = st->cfg->targets[i].name;
        bool up = sl_metrics_sum(st->metrics, SL_M_TARGET_UP, name) > 0;
        json_t *n = json_string(name);
        char *q = json_dumps(n, JSON_ENCODE_ANY);
        json_decref(n);
        sl_strbuf_printf(&targets, "%s%s:\"%s\"", i ? "," : "", q, up ? "up" : "down");
        if (!up) {
            ok = false;
            sl_strbuf_printf(&missing, "%s\"target %.*s is not reachable\"", missing.len ? "," : "",
                             (int)strlen(q) - 2, q + 1);
        }
        free(q);
    }
    if (json)
        sl_strbuf_printf(json, "{\"ready\":%s,\"assigned_partitions\":%lld,\"targets\":{%s},\"missing\":[%s]}\n",
                         ok ? "true" : "false", (long long)assigned, targets.data ? targets.data : "",
                         missing.data ? missing.data : "");
    sl_strbuf_free(&missing);
    sl_strbuf_free(&targets);
    return ok;
}

/* For the service manager: the group's first assignment has happened (it
 * may be empty when there are more members than partitions) and every
 * target is reachable. */
static bool service_ready(app_state *st)
{
    if (sl_metrics_sum(st->metrics, SL_M_REBALANCES, NULL) <= 0)
        return false;
    for (size_t i = 0; i < st->cfg->ntargets; i++)
        if (sl_metrics_sum(st->metrics, SL_M_TARGET_UP, st->cfg->targets[i].name) <= 0)
            return false;
    return true;
}

static bool serve_ready(void *opaque, sl_strbuf *json)
{
    return app_ready(opaque, json);
}

static void write_stats(sl_metrics *m, const char *path, const char *tag)
{
    int64_t rows = sl_metrics_sum(m, SL_M_ROWS_WRITTEN, NULL);
    log_info("stats", "%s records=%lld rows=%lld dead_letters=%lld skipped=%lld ignored=%lld retries=%lld "
                      "rebalances=%lld",
             tag, (long long)sl_metrics_sum(m, SL_M_RECORDS, NULL), (long long)rows,
             (long long)sl_metrics_sum(m, SL_M_DEAD_LETTERS, NULL), (long long)sl_metrics_sum(m, SL_M_SKIPPED, NULL),
             (long long)sl_metrics_sum(m, SL_M_IGNORED, NULL), (long long)sl_metrics_sum(m, SL_M_RETRIES, NULL),
             (long long)sl_metrics_sum(m, SL_M_REBALANCES, NULL));
    if (path && sl_metrics_write_file(m, path))
        log_warn("stats", "cannot write %s: %s", path, strerror(errno));
}

/* ---- reload (SIGHUP) ---- */

typedef struct reload_state {
    const sl_config *cur;     /* in use by the main thread; workers may lag one generation */
    sl_config *owned_cur;     /* cur when it was loaded here (the first one belongs to main()) */
    sl_config *retiring;      /* the previous one, freed once every worker moved on */
    bool waiting;             /* a generation is published, not yet taken by every worker */
} reload_state;

/* Every running worker took generation @gen (a stopped one never will:
 * the process is stopping then anyway). */
static bool all_took(const sl_runtime *rt, size_t nworkers, unsigned gen)
{
    for (size_t i = 1; i <= nworkers && i <= SL_MAX_WORKERS; i++)
        if (atomic_load(&rt->worker_gen[i]) != gen)
            return false;
    return true;
}

static void reload(sl_runtime *rt, app_state *st, reload_state *rs)
{
    sl_error err;
    sl_config *nu = sl_config_load(rs->cur->path, &err);
    if (!nu) {
        log_error("reload", "rejected, the running configuration is kept: %s", err.msg);
        sl_metrics_add(st->metrics, SL_M_RELOADS, 1, "rejected", NULL, NULL);
        return;
    }
    sl_strbuf changed = SL_STRBUF_INIT, blocked = SL_STRBUF_INIT;
    if (!sl_config_reload_diff(rs->cur, nu, &changed, &blocked)) {
        log_error("reload", "rejected, the running configuration is kept: changing %s needs a restart",
                  blocked.data);
        sl_metrics_add(st->metrics, SL_M_RELOADS, 1, "rejected", NULL, NULL);
    } else if (!changed.len) {
        log_info("reload", "%s: nothing changed", nu->path);
        sl_metrics_add(st->metrics, SL_M_RELOADS, 1, "applied", NULL, NULL);
    } else {
        sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
        if (!str_same(rs->cur->log_level, nu->log_level) && nu->log_level)
            atomic_store(&sl_log_level, (sl_loglevel)sl_log_parse_level(nu->log_level));
        atomic_store(&rt->next_cfg, nu);
        atomic_fetch_add(&rt->cfg_gen, 1);
        rs->retiring = rs->owned_cur; /* NULL for main()'s: never freed here */
        rs->owned_cur = nu;
        rs->cur = nu;
        rs->waiting = true;
        nu = NULL;
        log_info("reload", "applying at the next batch boundary: %s", changed.data);
        sl_metrics_add(st->metrics, SL_M_RELOADS, 1, "applied", NULL, NULL);
    }
    sl_strbuf_free(&changed);
    sl_strbuf_free(&blocked);
    sl_config_free(nu);
}

static void reload_progress(sl_runtime *rt, size_t nworkers, reload_state *rs)
{
    if (!rs->waiting || !all_took(rt, nworkers, atomic_load(&rt->cfg_gen)))
        return;
    sl_config_free(rs->retiring);
    rs->retiring = NULL;
    rs->waiting = false;
    log_info("reload", "every worker uses the new configuration");
    sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
}

/* Join the workers, giving up at @deadline_ms (monotonic): then the process
 * exits 1.  Whatever a worker had not committed by then is rolled back by
 * the database when the connection goes, and read again by the group. */
static void join_or_exit(pthread_t *th, sl_worker **ws, size_t n, int64_t deadline_ms, int64_t timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        int64_t left = deadline_ms - mono_ms();
        if (left < 0)
            left = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_timedjoin_np(th[i], NULL, &ts) == ETIMEDOUT) {
            log_error("sluice", "shutdown_timeout (%lld ms) passed before the workers stopped: exiting 1; "
                                "nothing half-written was committed, the batch in flight will be read again",
                      (long long)timeout_ms);
            /* a statement waiting on a lock would go on waiting (holding
             * what it locked) after the connection is gone */
            for (size_t k = 0; k < n; k++)
                sl_worker_cancel_writes(ws[k]);
            _exit(1);
        }
    }
}

/* Fetched record sets (librdkafka's receive buffers, a megabyte or more
 * each) and batch buffers are freed and allocated again all the time.
 * glibc gives big blocks back to the kernel as soon as they are free (those
 * above its mmap threshold, and a heap's free top above its trim
 * threshold), and the next receive faults them in again, page by page: an
 * eighth of the daemon's CPU on a feed of 3 KB Debezium events.  Blocks of
 * up to 32 MiB come from the heap instead, and up to 64 MiB of a heap's free
 * top stays for reuse.  The peak is what the configuration allows, as
 * before (kafka.queued.max.messages.kbytes, batch.max_bytes): only the
 * giving back waits. */
static void keep_freed_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

int sl_app_run(const sl_config *cfg)
{
    keep_freed_memory();
    sl_runtime *rt = sl_xcalloc(1, sizeof(*rt));
    rt->cfg = cfg;
    if (cfg->registry.nurls) {
        sl_error err;
        rt->registry = sl_registry_new(&cfg->registry, &err);
        if (!rt->registry) {
            log_error("sluice", "schema_registry: %s", err.msg);
            free(rt);
            return 1;
        }
    }
    app_state st = {.cfg = cfg, .metrics = sl_metrics_new(cfg), .rt = rt};
    rt->metrics = st.metrics;
    atomic_store(&st.main_beat_ms, mono_ms());
    sl_admin *admin = NULL;
    if (cfg->admin.listen) {
        sl_error err;
        sl_admin_handlers h = {&st, serve_metrics, serve_live, serve_ready};
        sl_admin_limits limits = {(int)cfg->admin.max_connections, (int)cfg->admin.max_connections_per_client,
                                  cfg->admin.request_timeout_ms, cfg->admin.idle_timeout_ms};
        admin = sl_admin_start(cfg->admin.listen, &limits, &h, &err);
        if (!admin) {
            log_error("sluice", "%s", err.msg);
            sl_metrics_free(st.metrics);
            sl_registry_free(rt->registry);
            free(rt);
            return 1;
        }
        log_info("admin", "serving /metrics, /healthz and /readyz on %s (port %d)", cfg->admin.listen,
                 sl_admin_port(admin));
    }
    atomic_store(&the_runtime, rt);
    reload_state rs = {.cur = cfg};
    atomic_store(&rt->next_cfg, cfg);
    if (stop_signal) { /* received while starting (sl_app_signals_init() kept it) */
        log_info("sluice", "signal %d before the workers started: exiting", (int)stop_signal);
        atomic_store(&rt->stop, true);
    }

    /* `workers` per pipeline: the main one, then one per fan-out target (pipeline.h) */
    sl_pipeline *pipes = NULL;
    size_t npipes = sl_pipelines(cfg, &pipes);
    size_t n = (size_t)cfg->workers * npipes;
    if (n > SL_MAX_WORKERS) {
        log_error("sluice", "%zu pipelines (fan-out targets) of %lld workers each make %zu workers, more than %d",
                  npipes, (long long)cfg->workers, n, SL_MAX_WORKERS);
        n = 0;
        atomic_store(&rt->exit_code, 1);
        atomic_store(&rt->stop, true);
    }
    for (size_t i = 1; i < npipes; i++)
        log_info("sluice", "fan-out: target %s has a pipeline of its own, in group '%s'", pipes[i].name,
                 pipes[i].group);
    sl_worker **ws = sl_xcalloc(n ? n : 1, sizeof(*ws));
    pthread_t *th = sl_xcalloc(n ? n : 1, sizeof(*th));
    size_t started = 0;
    for (size_t i = 0; i < n && !atomic_load(&rt->stop); i++) {
        ws[i] = sl_worker_new(rt, (int)i + 1, i < (size_t)cfg->workers ? NULL : &pipes[i / (size_t)cfg->workers]);
        if (!ws[i] || pthread_create(&th[i], NULL, sl_worker_run, ws[i])) {
            atomic_store(&rt->exit_code, 1);
            atomic_store(&rt->stop, true);
            break;
        }
        started++;
        atomic_store(&st.nworkers, started);
    }
    if (started)
        log_info("sluice", "sluice %s running: %zu worker(s), %zu route(s), %zu target(s)", SLUICE_VERSION, started,
                 cfg->nroutes, cfg->ntargets);
    uint64_t watchdog_us = 0;
    bool watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
    bool notified_ready = false;
    int64_t last_watchdog = 0;
    int ticks = 0;
    while (!atomic_load(&rt->stop)) {
        usleep(100000);
        int64_t now = mono_ms();
        atomic_store(&st.main_beat_ms, now);
        if (!notified_ready && service_ready(&st)) {
            sd_notify(0, "READY=1\nSTATUS=in the group, every target reachable");
            notified_ready = true;
        }
        /* the watchdog is fed only while liveness holds */
        if (watchdog && now - last_watchdog >= (int64_t)(watchdog_us / 2000) && serve_live(&st, NULL)) {
            sd_notify(0, "WATCHDOG=1");
            last_watchdog = now;
        }
        if (reload_requested && !rs.waiting) {
            reload_requested = 0;
            reload(rt, &st, &rs);
        }
        reload_progress(rt, started, &rs);
        if (++ticks % 50 == 0 && rs.cur->metrics_file)
            write_stats(st.metrics, rs.cur->metrics_file, "progress");
        else if (ticks % 600 == 0)
            write_stats(st.metrics, NULL, "progress");
    }
    sd_notify(0, "STOPPING=1\nSTATUS=flushing, committing and leaving the group");
    log_info("sluice", "stopping: flushing, committing and leaving the group (shutdown_timeout %lld ms)",
             (long long)rs.cur->shutdown_timeout_ms);
    join_or_exit(th, ws, started, mono_ms() + rs.cur->shutdown_timeout_ms, rs.cur->shutdown_timeout_ms);
    for (size_t i = 0; i < n; i++)
        sl_worker_free(ws[i]);
    sl_pipelines_free(pipes, npipes);
    write_stats(st.metrics, rs.cur->metrics_file, "final");
    sl_config_free(rs.retiring);
    sl_config_free(rs.owned_cur);
    int code = atomic_load(&rt->exit_code);
    atomic_store(&the_runtime, NULL);
    sl_admin_stop(admin);
    sl_metrics_free(st.metrics);
    sl_registry_free(rt->registry);
    free(ws);
    free(th);
    free(rt);
    log_info("sluice", "exit %d", code);
    return code;
}
