/* admin.h - the HTTP admin server (libmicrohttpd, its own thread):
 * /metrics, /healthz and /readyz.  What each answers is decided by the
 * caller's callbacks; this module only speaks HTTP. */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/error.h"
#include "sluice/strbuf.h"

typedef struct sl_admin_handlers {
    void *opaque;
    /* the Prometheus exposition text */
    void (*metrics)(void *opaque, sl_strbuf *out);
    /* liveness: true, or false with a reason in @why */
    bool (*live)(void *opaque, sl_strbuf *why);
    /* readiness: true or false; @json receives the body either way */
    bool (*ready)(void *opaque, sl_strbuf *json);
} sl_admin_handlers;

/* What slow or many clients may take (the admin.* options). */
typedef struct sl_admin_limits {
    int max_connections;            /* open in all */
    int max_per_client;             /* open from one client address */
    int64_t request_timeout_ms;     /* a request's line and headers arrive whole within it */
    int64_t idle_timeout_ms;        /* nothing sent or received for this long: closed */
} sl_admin_limits;

typedef struct sl_admin sl_admin;

/* sl_parse_listen() - "HOST:PORT" or "[V6]:PORT" into a socket address.
 * Returns 0, or -1 with @err naming what is wrong. */
int sl_parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len, sl_error *err);

/* sl_admin_start() - listen on @listen and serve until sl_admin_stop(),
 * within @limits. */
sl_admin *sl_admin_start(const char *listen, const sl_admin_limits *limits, const sl_admin_handlers *h,
                         sl_error *err);
/* sl_admin_port() - the port listened on (useful with port 0). */
int sl_admin_port(const sl_admin *a);
void sl_admin_stop(sl_admin *a);

#endif
