/* avro_support.h - helpers of the Avro tests: the test schema registry
 * (tests/avro/registry_server.py, or the real one of
 * SLUICE_TEST_SCHEMA_REGISTRY), and records in Confluent's wire format
 * produced with avro-c.  Helpers fail the current Check test on error. */
#ifndef SLUICE_TEST_AVRO_SUPPORT_H
#define SLUICE_TEST_AVRO_SUPPORT_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ar_server {
    pid_t pid;     /* 0: not running (or a real registry) */
    int port;
    char url[128];
    bool real;     /* SLUICE_TEST_SCHEMA_REGISTRY */
} ar_server;

/* ar_start() - the test registry on @port (0: any free port), with basic
 * auth when @user is set; or the real registry when
 * SLUICE_TEST_SCHEMA_REGISTRY is set and @allow_real. */
ar_server *ar_start(int port, const char *user, const char *password, bool allow_real);
/* ar_start_args() - the test registry with @args (NULL-terminated:
 * --bearer-file, --tls-cert ...) on any free port; https:// when @tls. */
ar_server *ar_start_args(const char *const *args, bool tls);
/* ar_stop() - stop the process (the registry is "down"; ar_restart() brings it back on the same port). */
void ar_stop(ar_server *s);
void ar_restart(ar_server *s);
void ar_free(ar_server *s);

/* ar_register() - register @schema under @subject; returns the id. */
int ar_register(ar_server *s, const char *subject, const char *schema);
/* ar_get_count() - GET /schemas/ids/@id served so far (test registry only). */
long ar_get_count(ar_server *s, int id);

/* A schema parsed by avro-c with one reusable generic value of it. */
typedef struct avro_type {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
} avro_type;

/* at_init() - parse @json into @t (fails the test on a bad schema); at_fini() releases it. */
void at_init(avro_type *t, const char *json);
void at_fini(avro_type *t);

/* ar_wire() - @v encoded with avro-c, behind magic byte 0 and @id;
 * *@len set; free() the result. */
char *ar_wire(int id, avro_value_t *v, size_t *len);

/* ar_be_bytes() - @x as the minimal big-endian two's complement (Avro decimal); returns length. */
size_t ar_be_bytes(__int128 x, unsigned char *out);



/* The "every type" record of the tests: one field per Avro primitive and
 * logical type, nested record, array, map, enum, fixed, optional. */
extern const char ar_alltypes_schema[];
/* ar_alltypes_fill() - variant 0: ordinary values; 1: edge values (dates
 * before 1970 and year 1, negative decimals, extreme ints). */
void ar_alltypes_fill(avro_value_t *rec, int64_t id, int variant);
#endif
