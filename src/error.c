/* error.c - the sl_error type.  A database's own error codes are
 * classified in src/sink/ (pq.c for SQLSTATEs). */
#include "sluice/error.h"

#include <stdio.h>
#include <string.h>

#include "sluice/redact.h"

int sl_error_set(sl_error *e, sl_errkind kind, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->kind = kind;
    e->sqlstate[0] = '\0';
    e->fenced = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    sl_secret_scrub(e->msg, sizeof(e->msg)); /* errors reach logs, dead letters and metrics */
    return -1;
}

void sl_error_prefix(sl_error *e, const char *fmt, ...)
{
    if (!e)
        return;
    char pre[512], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    snprintf(e->msg, sizeof(e->msg), "%s%s", pre, old);
    sl_secret_scrub(e->msg, sizeof(e->msg));
}

void sl_error_clear(sl_error *e)
{
    if (!e)
        return;
    e->kind = SL_OK;
    e->sqlstate[0] = '\0';
    e->fenced = false;
    e->msg[0] = '\0';
}

const char *sl_errkind_name(sl_errkind kind)
{
    switch (kind) {
    case SL_OK: return "ok";
    case SL_ERR_RETRY: return "retriable";
    case SL_ERR_DATA: return "bad data";
    case SL_ERR_FATAL: return "fatal";
    }
    return "?";
}
