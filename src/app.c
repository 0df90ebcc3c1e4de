/* app.c - the daemon: workers on threads, signals, periodic stats. */
#include "sluice/app.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/log.h"
#include "sluice/registry.h"
#include "sluice/strbuf.h"
#include "sluice/worker.h"

static sl_runtime *the_runtime;

static void on_signal(int sig)
{
    (void)sig;
    if (the_runtime)
        atomic_store(&the_runtime->stop, true);
}

static void write_stats(const sl_runtime *rt, const char *path, const char *tag)
{
    const sl_stats *s = &rt->stats;
    char line[512];
    snprintf(line, sizeof(line),
             "{\"records\":%lld,\"rows\":%lld,\"deletes\":%lld,\"ignored\":%lld,\"skipped\":%lld,"
             "\"dead_letters\":%lld,\"flushes\":%lld,\"retries\":%lld,\"fetch_restarts\":%lld}",
             (long long)atomic_load(&s->records), (long long)atomic_load(&s->rows),
             (long long)atomic_load(&s->deletes), (long long)atomic_load(&s->ignored),
             (long long)atomic_load(&s->skipped), (long long)atomic_load(&s->dead_letters),
             (long long)atomic_load(&s->flushes), (long long)atomic_load(&s->retries),
             (long long)atomic_load(&s->fetch_restarts));
    log_info("stats", "%s %s", tag, line);
    if (!path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        log_warn("stats", "cannot write %s", tmp);
        return;
    }
    fprintf(f, "%s\n", line);
    if (fclose(f) == 0)
        rename(tmp, path);
}

int sl_app_run(const sl_config *cfg)
{
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
    the_runtime = rt;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    size_t n = (size_t)cfg->workers;
    sl_worker **ws = sl_xcalloc(n, sizeof(*ws));
    pthread_t *th = sl_xcalloc(n, sizeof(*th));
    size_t started = 0;
    for (size_t i = 0; i < n; i++) {
        ws[i] = sl_worker_new(rt, (int)i + 1);
        if (!ws[i] || pthread_create(&th[i], NULL, sl_worker_run, ws[i])) {
            atomic_store(&rt->exit_code, 1);
            atomic_store(&rt->stop, true);
            break;
        }
        started++;
    }
    log_info("sluice", "sluice %s running: %zu worker(s), %zu route(s), %zu target(s)", SLUICE_VERSION, started,
             cfg->nroutes, cfg->ntargets);
    int ticks = 0;
    while (!atomic_load(&rt->stop)) {
        usleep(100000);
        if (++ticks % 50 == 0 && cfg->metrics_file)
            write_stats(rt, cfg->metrics_file, "progress");
        else if (ticks % 600 == 0)
            write_stats(rt, NULL, "progress");
    }
    log_info("sluice", "stopping: flushing, committing and leaving the group");
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < n; i++)
        sl_worker_free(ws[i]);
    write_stats(rt, cfg->metrics_file, "final");
    int code = atomic_load(&rt->exit_code);
    the_runtime = NULL;
    sl_registry_free(rt->registry);
    free(ws);
    free(th);
    free(rt);
    log_info("sluice", "exit %d", code);
    return code;
}
