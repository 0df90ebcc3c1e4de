/* config_units.c - sizes ("8MiB", "512k") and durations ("100ms", "5s")
 * as a configuration file writes them: one parser, a table of units each. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/config.h"

/* A number with one of @units' suffixes (blanks allowed between them),
 * scaled by that suffix's factor; -1 when it is not one. */
typedef struct unit {
    const char *suffix;
    double mul;
} unit;

static int64_t parse_with_units(const char *s, const unit *units, size_t nunits, bool any_case)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < nunits; i++)
        if (any_case ? !strcasecmp(end, units[i].suffix) : !strcmp(end, units[i].suffix))
            return (int64_t)(v * units[i].mul);
    return -1;
}

int64_t sl_parse_size(const char *s)
{
    static const unit units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kb", 1000}, {"kib", 1024}, {"m", 1048576},
        {"mb", 1e6}, {"mib", 1048576}, {"g", 1073741824.0}, {"gb", 1e9}, {"gib", 1073741824.0},
    };
    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), true);
}

/* Case matters here: "m" is minutes, and "M" is not a duration. */
int64_t sl_parse_duration_ms(const char *s)
{
    static const unit units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), false);
}
