/* crate_fixture.h - the CrateDB stand-in (crate_server.py) for the tests:
 * start it on a free port over the PostgreSQL of SLUICE_TEST_DSN, inject
 * faults, read its counters.  Helpers fail the current Check test on error. */
#ifndef SLUICE_TEST_CRATE_FIXTURE_H
#define SLUICE_TEST_CRATE_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct cf_server {
    pid_t pid;
    char url[128];  /* HTTP endpoint */
    char dsn[512];  /* pgwire: the stand-in's proxy in front of the test PostgreSQL */
} cf_server;

/** cf_start() - run crate_server.py (HTTP and pgwire); returns once it listens. */
cf_server *cf_start(void);

/** cf_stop() - SIGTERM and reap; NULL is fine. */
void cf_stop(cf_server *s);

/** cf_faults() - POST @json to /_test/faults. */
void cf_faults(const cf_server *s, const char *json);

/** cf_stats() - GET /_test/stats; free() the JSON text. */
char *cf_stats(const cf_server *s);

/** cf_stat_int() - one integer counter of /_test/stats. */
long cf_stat_int(const cf_server *s, const char *name);

/**
 * cf_sql() - POST {"stmt": @stmt} to /_sql with Default-Schema @schema;
 * returns the HTTP status, the body in *@body (free() it) when not NULL.
 */
long cf_sql(const char *url, const char *schema, const char *stmt, char **body);

/** cf_post() - POST the JSON @request ({"stmt", "args" | "bulk_args"}) to /_sql. */
long cf_post(const char *url, const char *schema, const char *request, char **body);

#endif
