/* admin.c - the HTTP admin server on libmicrohttpd: GET /metrics, /healthz,
 * /readyz; everything else 404, other methods 405. */
#include "sluice/admin.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"

struct sl_admin {
    struct MHD_Daemon *d;
    sl_admin_handlers h;
    int port;
};

int sl_parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len, sl_error *err)
{
    char host[256];
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return sl_error_set(err, SL_ERR_FATAL, "'%s': expected [ADDRESS]:PORT", listen);
        size_t n = (size_t)(close - listen - 1);
        if (n >= sizeof(host))
            return sl_error_set(err, SL_ERR_FATAL, "'%s': address too long", listen);
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || colon == listen)
            return sl_error_set(err, SL_ERR_FATAL, "'%s': expected HOST:PORT, e.g. 127.0.0.1:9464", listen);
        size_t n = (size_t)(colon - listen);
        if (n >= sizeof(host))
            return sl_error_set(err, SL_ERR_FATAL, "'%s': host too long", listen);
        memcpy(host, listen, n);
        host[n] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return sl_error_set(err, SL_ERR_FATAL, "'%s': the port must be a number from 0 to 65535", listen);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc || !res)
        return sl_error_set(err, SL_ERR_FATAL, "'%s': cannot resolve '%s': %s", listen, host, gai_strerror(rc));
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type, sl_strbuf *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(body->len, body->data ? body->data : (char *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    sl_strbuf_free(body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    sl_admin *a = cls;
    sl_strbuf body = SL_STRBUF_INIT;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        sl_strbuf_puts(&body, "only GET\n");
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", &body);
    }
    if (!strcmp(url, "/metrics")) {
        a->h.metrics(a->h.opaque, &body);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &body);
    }
    if (!strcmp(url, "/healthz") || !strcmp(url, "/livez")) {
        sl_strbuf why = SL_STRBUF_INIT;
        bool ok = a->h.live(a->h.opaque, &why);
        sl_strbuf_printf(&body, "%s%s\n", ok ? "ok" : "stalled: ", ok ? "" : (why.data ? why.data : ""));
        sl_strbuf_free(&why);
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &body);
    }
    if (!strcmp(url, "/readyz")) {
        bool ok = a->h.ready(a->h.opaque, &body);
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", &body);
    }
    sl_strbuf_puts(&body, "not found: try /metrics, /healthz or /readyz\n");
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", &body);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("admin", "%s", msg);
}

sl_admin *sl_admin_start(const char *listen, const sl_admin_handlers *h, sl_error *err)
{
    struct sockaddr_storage sa;
    socklen_t len;
    if (sl_parse_listen(listen, &sa, &len, err))
        return NULL;
    sl_admin *a = sl_xcalloc(1, sizeof(*a));
    a->h = *h;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!a->d) {
        free(a);
        sl_error_set(err, SL_ERR_FATAL, "admin.listen %s: cannot listen (address in use, or not local?)", listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : 0;
    return a;
}

int sl_admin_port(const sl_admin *a)
{
    return a ? a->port : 0;
}

void sl_admin_stop(sl_admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->d);
    free(a);
}
