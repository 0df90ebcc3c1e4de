/* redact.h - credentials never leave the process: URLs and libpq DSNs with
 * their passwords replaced before they are formatted, and a process-wide
 * list of configured secrets that every error message and log line is
 * scrubbed of (the last line of defence, for texts sluice does not build
 * itself: libpq's and libcurl's messages). */
#ifndef SLUICE_REDACT_H
#define SLUICE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define SL_REDACTED "***"

/* sl_redact_url() - @url with the password of its userinfo (and any
 * `password=` query parameter) replaced by ***, parsed with libcurl's URL
 * API; "(a URL sluice cannot parse)" when libcurl cannot parse it.  free()
 * the result. */
char *sl_redact_url(const char *url);

/* sl_url_password() - the password of @url's userinfo (decoded), or NULL;
 * free() it. */
char *sl_url_password(const char *url);

/* sl_redact_dsn() - a libpq connection string (key=value or URI) rebuilt
 * from PQconninfoParse() with password=*** and sslpassword=***; "(a connection string libpq
 * cannot parse)" when libpq cannot parse it (its message could quote the
 * password).  free() the result. */
char *sl_redact_dsn(const char *dsn);

/* sl_dsn_parses() - whether libpq can parse @dsn at all. */
bool sl_dsn_parses(const char *dsn);

/* sl_dsn_get() - the value of @key in a libpq connection string, or NULL;
 * free() it. */
char *sl_dsn_get(const char *dsn, const char *key);

/* sl_secret_add() - remember @secret (any non-empty text) for
 * sl_secret_scrub().  Thread-safe; the list only grows (it holds what the
 * configurations loaded named: no bound is needed, none is imposed). */
void sl_secret_add(const char *secret);

/* sl_secret_rotate() - @text is now @owner's secret (a target's password
 * read again from its file or printed by its password_command): masked
 * like those of sl_secret_add(), together with the one it replaces (still
 * in messages about the connections that used it); the one before that is
 * forgotten and its memory cleared.  Bounded: two per owner. */
void sl_secret_rotate(const char *owner, const char *text);

/* sl_secret_scrub() - replace every remembered secret in the NUL-terminated
 * @buf (of @size bytes) by ***, cutting the text at @size when the masks
 * make it longer; true when something was replaced.  Secrets of 1 to 3
 * bytes are replaced where they stand as a word (not next to a letter or
 * digit: `password=ab`, `'ab'`, `u:ab@host`), longer ones everywhere. */
bool sl_secret_scrub(char *buf, size_t size);

/* sl_secret_scrub_dup() - the same on a copy of @text, never cut; sets
 * *@any (when given) if something was replaced.  free() the result. */
char *sl_secret_scrub_dup(const char *text, bool *any);

#endif
