/* app.h - the process: run the workers, or the one-shot commands. */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include "sluice/config.h"

/* sl_app_signals_init() - first thing in main(): SIGTERM and SIGINT ask
 * the daemon to stop, SIGHUP to reload, from now on (unblocked if the
 * parent blocked them); SIGPIPE is ignored. */
void sl_app_signals_init(void);

/* sl_app_stop_signal() - the SIGTERM or SIGINT received so far, or 0. */
int sl_app_stop_signal(void);

/* sl_app_run() - run `workers` workers until SIGTERM/SIGINT or a failure.
 * Returns the process exit code. */
int sl_app_run(const sl_config *cfg);

/* sl_app_check() - validate against Kafka and every target; prints a report
 * to stdout.  Returns 0 when everything is in place, 1 otherwise. */
int sl_app_check(const sl_config *cfg);

/* sl_app_check_offline() - `sluice --check --offline`: what can be checked
 * without the network (the file, the librdkafka properties, table names). */
int sl_app_check_offline(const sl_config *cfg);

/* sl_app_status() - `sluice status`: per route and partition the offset
 * stored in the database, the group's committed offset, the high watermark,
 * the lag and the member holding it; a table, or JSON with @as_json.  Reads
 * only: it never joins the group.  Returns 1 when something could not be
 * read (said in the output), else 0. */
#include <stdbool.h>
int sl_app_status(const sl_config *cfg, bool as_json);

/* sl_app_offsets() - `sluice offsets --route R --reset-to WHERE`: rewrite the
 * stored offsets of one route (database and Kafka), refusing while the group
 * has live members.  WHERE: earliest | latest | an ISO-8601 time or epoch ms |
 * topic:partition:offset (repeatable, comma-separated). */
int sl_app_offsets(const sl_config *cfg, const char *route, const char *where, int dry_run);

#endif
