/* log.c - one line per message on stderr: time, level, context, text. */
#include "sluice/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sluice/redact.h"

_Atomic sl_loglevel sl_log_level = SL_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int sl_log_parse_level(const char *name)
{
    static const char *const lower[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(name, lower[i]))
            return i;
    if (!strcasecmp(name, "warning"))
        return SL_LOG_WARN;
    return -1;
}

void sl_log_write(sl_loglevel lvl, const char *ctx, const char *fmt, ...)
{
    char msg[4096], line[4096 + 128];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_secret_scrub(msg, sizeof(msg));
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl], ctx ? ctx : "sluice");
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    /* texts from data (field names, PostgreSQL's DETAIL) may hold control
     * characters: escaped, so that one message stays one line */
    for (const unsigned char *c = (const unsigned char *)msg; *c && len < sizeof(line) - 6; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t' || *c < 0x20 || *c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            line[len++] = '\\';
            switch (*c) {
            case '\n': line[len++] = 'n'; break;
            case '\r': line[len++] = 'r'; break;
            case '\t': line[len++] = 't'; break;
            default:
                line[len++] = 'x';
                line[len++] = hex[*c >> 4];
                line[len++] = hex[*c & 15];
            }
        } else {
            line[len++] = (char)*c;
        }
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
