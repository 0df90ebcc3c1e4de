/* log.h - leveled logging to stderr.  Every line names its context
 * ("worker 1", "sink pg", "orders[3]@1234"), so a line read alone says where
 * it came from.  Thread-safe: one write(2) per line. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdatomic.h>

typedef enum sl_loglevel {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN,
    SL_LOG_INFO,
    SL_LOG_DEBUG,
} sl_loglevel;

/* Set at start and by a reload (the main thread) while other threads log. */
extern _Atomic sl_loglevel sl_log_level;

/* sl_log_parse_level() - "error", "warn", "info", "debug"; -1 when unknown. */
int sl_log_parse_level(const char *name);

void sl_log_write(sl_loglevel lvl, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when @lvl is logged (also for a line whose arguments cost to build). */
#define sl_log_enabled(lvl) ((lvl) <= atomic_load_explicit(&sl_log_level, memory_order_relaxed))
#define sl_log(lvl, ctx, ...)                                                  \
    do {                                                                       \
        if (sl_log_enabled(lvl))                                               \
            sl_log_write((lvl), (ctx), __VA_ARGS__);                           \
    } while (0)
#define log_error(ctx, ...) sl_log(SL_LOG_ERROR, ctx, __VA_ARGS__)
#define log_warn(ctx, ...)  sl_log(SL_LOG_WARN, ctx, __VA_ARGS__)
#define log_info(ctx, ...)  sl_log(SL_LOG_INFO, ctx, __VA_ARGS__)
#define log_debug(ctx, ...) sl_log(SL_LOG_DEBUG, ctx, __VA_ARGS__)

#endif
