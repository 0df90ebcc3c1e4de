/* import_connect.h - translate a Kafka Connect JDBC sink configuration
 * (Confluent or Debezium; Connect REST JSON or .properties) into sluice YAML. */
#ifndef SLUICE_IMPORT_CONNECT_H
#define SLUICE_IMPORT_CONNECT_H

#include <stdbool.h>
#include <stdio.h>

/* sl_import_connect() - read @path, write the sluice configuration to @out
 * and one line per key that could not be translated exactly to @diag
 * ("FILE: warning: KEY: ...").  With @strict such keys are errors and
 * nothing is written.  Returns the exit code: 0, or 1 on error. */
int sl_import_connect(const char *path, bool strict, FILE *out, FILE *diag);

#endif
