/* credential.h - a target's credentials as they are now, for each new
 * connection: `${file:}` secrets in its dsn or password read again (a
 * rotated file is used without a restart), and its password_command run
 * (a short-lived token).  What they yield is masked in every message
 * (redact.h, sl_secret_rotate()). */
#ifndef SLUICE_CREDENTIAL_H
#define SLUICE_CREDENTIAL_H

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

#endif
