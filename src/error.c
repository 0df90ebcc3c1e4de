/* error.c - the sl_error type and SQLSTATE classification. */
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

sl_errkind sl_sqlstate_kind(const char *s)
{
    if (!s || !*s)
        return SL_ERR_RETRY; /* no SQLSTATE: the connection itself failed */
    if (!strncmp(s, "08", 2) || !strcmp(s, "40001") || !strcmp(s, "40P01") ||
        !strncmp(s, "57P0", 4) || !strncmp(s, "53", 2) || !strcmp(s, "55P03") ||
        !strncmp(s, "58", 2) || !strcmp(s, "57014") /* statement timeout / cancel */ ||
        !strcmp(s, "25006") /* read-only transaction: a primary that failed over; reconnect */)
        return SL_ERR_RETRY;
    /* 54000 program_limit_exceeded is one row's size (an index row too
     * large, an array or tsvector too long): bisection isolates it */
    if (!strncmp(s, "22", 2) || !strncmp(s, "23", 2) || !strcmp(s, "54000"))
        return SL_ERR_DATA;
    return SL_ERR_FATAL;
}
