/* error.h - the one error type of sluice.
 *
 * Every fallible function returns 0 on success or -1 on failure and fills a
 * caller-owned sl_error.  The kind tells the caller what to do next:
 *
 *   SL_ERR_RETRY  transient: the same operation may succeed later (connection
 *                 lost, serialization failure, HTTP 503, registry down).
 *                 Retry with backoff; never drop data.
 *   SL_ERR_DATA   the input is bad (one record or one row): retrying cannot
 *                 help; the route's on_error policy decides (fail/dlq/skip).
 *   SL_ERR_FATAL  configuration or schema problem, or a bug: stop the worker
 *                 without committing past the last good batch.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum sl_errkind {
    SL_OK = 0,
    SL_ERR_RETRY,
    SL_ERR_DATA,
    SL_ERR_FATAL,
} sl_errkind;

typedef struct sl_error {
    sl_errkind kind;
    char sqlstate[6]; /* the database's own error code, set and read by the sinks only; else "" */
    /* a write refused because the stored offsets moved underneath it
     * (another consumer wrote those partitions): exactly-once's fence.
     * Kind RETRY; the worker drops its pending rows and re-reads them. */
    bool fenced;
    char msg[1024];
} sl_error;

/* sl_error_set() - fill @e (may be NULL) and return -1, so that callers can
 * write `return sl_error_set(err, SL_ERR_DATA, "...", ...);`. */
int sl_error_set(sl_error *e, sl_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* sl_error_prefix() - prepend context ("orders[3]@1234: ") to an error message. */
void sl_error_prefix(sl_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sl_error_clear(sl_error *e);
const char *sl_errkind_name(sl_errkind kind);


#endif
