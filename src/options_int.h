/* options_int.h - the declarative option table (private to config.c and options.c). */
#ifndef SLUICE_OPTIONS_INT_H
#define SLUICE_OPTIONS_INT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    OPT_STR,      /* char * */
    OPT_INT,      /* int64_t */
    OPT_BOOL,     /* bool */
    OPT_SIZE,     /* int64_t bytes: 8MiB, 512KiB, 1000 */
    OPT_DURATION, /* int64_t ms: 100ms, 5s, 2m */
    OPT_ENUM,     /* int (C enum), index into names */
    OPT_STRLIST,  /* char ** + size_t count right after it; a scalar is a list of one */
    OPT_MAP,      /* sl_kv * + size_t count right after it */
    OPT_SECTION,  /* structure only (documented, parsed by hand) */
} opt_type;

typedef enum { SEC_TOP, SEC_BATCH, SEC_RETRY, SEC_REGISTRY, SEC_ADMIN, SEC_TARGET, SEC_ROUTE, SEC_TRANSFORM } opt_section;

/* The names of an OPT_ENUM's values: a list, or (for the kinds whose
 * names their ops tables hold: formats, target types) a function. */
typedef struct sl_option_enum {
    const char *const *list;        /* NULL-terminated, index = enum value */
    const char *(*name)(size_t i);  /* the name of value @i, NULL past the last */
    /* a level that also takes a boolean: `false` (also no, off) is value 0,
     * and `true` (yes, on) is value @if_true; 0: names only */
    int if_true;
} sl_option_enum;

typedef struct sl_option {
    opt_section section;
    const char *name;
    opt_type type;
    size_t offset;      /* in sl_config (top, batch, retry, registry, admin), sl_target_conf, sl_route_conf
                           or sl_transform_conf */
    size_t count_off;   /* OPT_STRLIST / OPT_MAP: offset of the size_t count */
    const char *def;    /* default, as written in a file; NULL: none */
    bool required;
    const sl_option_enum *names; /* OPT_ENUM */
    const char *doc;
    /* OPT_INT, OPT_SIZE, OPT_DURATION: the smallest and largest value
     * accepted, written as in a file ("1KiB", "1s"); NULL: no bound.  The
     * parser enforces them and the reference prints them. */
    const char *min, *max;
    /* true: a running process takes a new value on SIGHUP (reload.c);
     * false, the default: changing it needs a restart.  The reference
     * prints it in its own column. */
    bool reload;
} sl_option;

extern const sl_option sl_options[];
extern const size_t sl_noptions;

const char *sl_section_prefix(opt_section s);
/* sl_option_enum_name() - the name of value @i of OPT_ENUM @o, NULL past the last. */
const char *sl_option_enum_name(const sl_option *o, size_t i);

#endif
