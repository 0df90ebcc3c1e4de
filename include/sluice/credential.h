/* credential.h - a target's credentials as they are now, for each new
 * connection: `${file:}` secrets in its dsn or password read again (a
 * rotated file is used without a restart), and its password_command run
 * (a short-lived token).  What they yield is masked in every message
 * (redact.h, sl_secret_rotate()). */
#ifndef SLUICE_CREDENTIAL_H
#define SLUICE_CREDENTIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/error.h"

/* sl_cred_now() - for a new connection of @t: *@dsn its connection string
 * (NULL when it has none) and *@password the password that overrides it
 * (NULL: none beyond the dsn's or `password`'s own).  Both freshly read;
 * free() them.  SL_ERR_RETRY when a secret file cannot be read or the
 * command fails (a secret being rotated is retried like an unreachable
 * server), with the reason; the secrets themselves never appear in it. */
int sl_cred_now(const sl_target_conf *t, char **dsn, char **password, sl_error *err);

/* sl_cred_fresh() - whether @t's credentials are read at each connection
 * (a password_command, or `${file:}` in its dsn or password): a refused
 * login may then succeed with the next reading. */
bool sl_cred_fresh(const sl_target_conf *t);

/* sl_cred_command() - run @command through /bin/sh, within @timeout_ms;
 * *@out what it printed without trailing newlines (masked from now on, as
 * @what's secret).  SL_ERR_RETRY, naming @what, when it fails, prints
 * nothing or takes too long (its stderr, masked, in the message). */
int sl_cred_command(const char *what, const char *command, int64_t timeout_ms, char **out, sl_error *err);

/* sl_cred_reread() - option @key, written @raw (with ${file:}), read again
 * into *@out; the password it holds (the whole value, or a dsn's
 * password= when @is_dsn) masked from now on as @key's secret. */
int sl_cred_reread(const char *key, const char *raw, bool is_dsn, char **out, sl_error *err);

#endif
