/* admin.c - the HTTP admin server on libmicrohttpd: GET /metrics, /healthz,
 * /readyz; everything else 404, other methods 405.
 *
 * Slow clients cannot take it over: connections are limited in all and per
 * client address, a request must have arrived whole (request line and
 * headers) within a deadline counted from its first byte's wait, not from
 * the last byte (libmicrohttpd's own timeout restarts with every byte), and
 * refusals are counted in /metrics and logged at most once per interval. */
#include "sluice/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/log.h"

/* The limits (sl_admin_limits, the admin.* options): connections in all,
 * each costing a little memory in the admin thread; when they are all open,
 * a new one evicts the open connection whose request is due first (it has
 * not sent it whole yet): a probe's request arrives at once, a slow
 * client's does not.  Connections from one client address: the others'
 * probes always find room while one client holds its share.  A request's
 * line and headers arrive within the request timeout, in total (a kubelet's
 * probe sends them in one packet).  Idle time on an open connection before
 * libmicrohttpd closes it (a response being read slowly included). */
/* Evicted connections wait for libmicrohttpd to close them. */
#define ADMIN_EVICTING 16
/* At most one warning of each kind per interval, with the count since. */
#define ADMIN_LOG_INTERVAL_MS 10000

typedef struct conn_slot {
    bool used;
    bool evicted;        /* shut down, not yet closed: not counted */
    int fd;
    struct sockaddr_storage addr;
    int64_t deadline_ms; /* the current request's line and headers are due; 0: they came */
} conn_slot;

/* What is logged at most once per ADMIN_LOG_INTERVAL_MS. */
typedef struct rate_log {
    int64_t last_ms;     /* 0: never logged */
    unsigned long pending;
    char what[160];      /* the last message, repeated with the count */
} rate_log;

struct sl_admin {
    struct MHD_Daemon *d;
    sl_admin_handlers h;
    int port;
    sl_admin_limits lim;
    pthread_mutex_t lock; /* slots, logs */
    conn_slot *slots;     /* lim.max_connections + ADMIN_EVICTING */
    size_t nslots;
    rate_log refusals, timeouts, evictions, mhd_errors;
    atomic_ullong refused_server, refused_client, timed_out, evicted;
    pthread_t deadline_thread;
    pthread_cond_t wake;
    bool stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Log @msg now if the interval passed, else count it for the next line.
 * Under a->lock. */
static void rate_limited(rate_log *r, const char *msg)
{
    int64_t now = now_ms();
    snprintf(r->what, sizeof(r->what), "%s", msg);
    r->pending++;
    if (r->last_ms && now - r->last_ms < ADMIN_LOG_INTERVAL_MS)
        return;
    if (r->pending > 1)
        log_warn("admin", "%s (%lu times in the last %d s)", r->what, r->pending, ADMIN_LOG_INTERVAL_MS / 1000);
    else
        log_warn("admin", "%s (such warnings: at most one per %d s)", r->what, ADMIN_LOG_INTERVAL_MS / 1000);
    r->pending = 0;
    r->last_ms = now;
}

/* The count left since the last line, once the interval passed.  Under a->lock. */
static void rate_flush(rate_log *r)
{
    if (r->pending && now_ms() - r->last_ms >= ADMIN_LOG_INTERVAL_MS) {
        log_warn("admin", "%s (%lu times in the last %d s)", r->what, r->pending, ADMIN_LOG_INTERVAL_MS / 1000);
        r->pending = 0;
        r->last_ms = now_ms();
    }
}

static bool same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                       sizeof(struct in6_addr));
    return false;
}

static void host_text(const struct sockaddr *sa, char *out, size_t n)
{
    const void *addr = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                                 : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, addr, out, (socklen_t)n))
        snprintf(out, n, "?");
}

/* libmicrohttpd asks before it takes a connection (its thread). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    sl_admin *a = cls;
    pthread_mutex_lock(&a->lock);
    size_t all = 0, mine = 0, free_slots = 0;
    conn_slot *due_first = NULL;
    for (size_t i = 0; i < a->nslots; i++) {
        conn_slot *s = &a->slots[i];
        if (!s->used) {
            free_slots++;
        } else if (!s->evicted) {
            all++;
            mine += same_host(addr, &s->addr);
            if (s->deadline_ms && (!due_first || s->deadline_ms < due_first->deadline_ms))
                due_first = s;
        }
    }
    size_t most = (size_t)a->lim.max_connections, most_mine = (size_t)a->lim.max_per_client;
    if (all >= most && mine < most_mine && due_first && free_slots) {
        shutdown(due_first->fd, SHUT_RDWR); /* libmicrohttpd's next read ends it */
        due_first->evicted = true;
        all--;
        atomic_fetch_add(&a->evicted, 1);
        char host[INET6_ADDRSTRLEN], msg[160];
        host_text((const struct sockaddr *)&due_first->addr, host, sizeof(host));
        snprintf(msg, sizeof(msg), "closed a connection from %s whose request had not arrived whole: %d were "
                                   "open, the most served",
                 host, a->lim.max_connections);
        rate_limited(&a->evictions, msg);
    }
    enum MHD_Result ok = MHD_YES;
    if (all >= most || mine >= most_mine || !free_slots) {
        char host[INET6_ADDRSTRLEN], msg[160];
        host_text(addr, host, sizeof(host));
        if (all >= most) {
            atomic_fetch_add(&a->refused_server, 1);
            snprintf(msg, sizeof(msg), "refused a connection from %s: %d connections open, the most served", host,
                     a->lim.max_connections);
        } else {
            atomic_fetch_add(&a->refused_client, 1);
            snprintf(msg, sizeof(msg), "refused a connection from %s: it has %d open, the most one client may have",
                     host, a->lim.max_per_client);
        }
        rate_limited(&a->refusals, msg);
        ok = MHD_NO;
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* A connection opened or closed (libmicrohttpd's thread; closed comes
 * before its socket is closed, so the deadline thread never touches a
 * descriptor that could already belong to something else). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sl_admin *a = cls;
    pthread_mutex_lock(&a->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *peer = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = NULL;
        for (size_t i = 0; fd && i < a->nslots; i++)
            if (!a->slots[i].used) {
                conn_slot *s = &a->slots[i];
                memset(s, 0, sizeof(*s));
                s->used = true;
                s->fd = fd->connect_fd;
                if (peer && peer->client_addr) {
                    socklen_t n = peer->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                           : sizeof(struct sockaddr_in);
                    memcpy(&s->addr, peer->client_addr, n);
                }
                s->deadline_ms = now_ms() + a->lim.request_timeout_ms;
                *socket_context = s;
                break;
            }
    } else if (*socket_context) {
        conn_slot *s = *socket_context;
        s->used = false;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&a->lock);
}

static conn_slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* A response was sent: the next request on the connection has its own
 * deadline, counted from now; a connection kept alive with nothing sent
 * is closed quietly by libmicrohttpd's idle timeout before it (libmicrohttpd's
 * thread). */
static void on_completed(void *cls, struct MHD_Connection *c, void **req, enum MHD_RequestTerminationCode code)
{
    sl_admin *a = cls;
    pthread_mutex_lock(&a->lock);
    conn_slot *s = slot_of(c);
    if (s)
        s->deadline_ms = now_ms() + a->lim.idle_timeout_ms + a->lim.request_timeout_ms;
    pthread_mutex_unlock(&a->lock);
}

/* Ends the connections whose request is overdue: shutdown() makes
 * libmicrohttpd's next read see the end, and close the connection itself. */
static void *deadline_main(void *arg)
{
    sl_admin *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        int64_t now = now_ms();
        for (size_t i = 0; i < a->nslots; i++) {
            conn_slot *s = &a->slots[i];
            if (!s->used || s->evicted || !s->deadline_ms || now < s->deadline_ms)
                continue;
            shutdown(s->fd, SHUT_RDWR);
            s->deadline_ms = 0;
            atomic_fetch_add(&a->timed_out, 1);
            char host[INET6_ADDRSTRLEN], msg[160];
            host_text((const struct sockaddr *)&s->addr, host, sizeof(host));
            snprintf(msg, sizeof(msg), "closed a connection from %s: its request did not arrive whole within %lld ms",
                     host, (long long)a->lim.request_timeout_ms);
            rate_limited(&a->timeouts, msg);
        }
        rate_flush(&a->refusals);
        rate_flush(&a->timeouts);
        rate_flush(&a->evictions);
        rate_flush(&a->mhd_errors);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->wake, &a->lock, &ts);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* The admin server's own counters, after the process's. */
static void put_own_metrics(sl_admin *a, sl_strbuf *o)
{
    sl_strbuf_printf(o,
                     "# HELP sluice_admin_connections_refused_total Admin server connections refused: %d open in "
                     "all (server) or %d from one client address (client).\n"
                     "# TYPE sluice_admin_connections_refused_total counter\n"
                     "sluice_admin_connections_refused_total{limit=\"server\"} %llu\n"
                     "sluice_admin_connections_refused_total{limit=\"client\"} %llu\n"
                     "# HELP sluice_admin_connections_closed_total Admin server connections closed before their "
                     "request arrived whole: past its deadline of %lld ms (deadline), or to make room for a new "
                     "connection when %d were open (evicted).\n"
                     "# TYPE sluice_admin_connections_closed_total counter\n"
                     "sluice_admin_connections_closed_total{reason=\"deadline\"} %llu\n"
                     "sluice_admin_connections_closed_total{reason=\"evicted\"} %llu\n",
                     a->lim.max_connections, a->lim.max_per_client, atomic_load(&a->refused_server),
                     atomic_load(&a->refused_client), (long long)a->lim.request_timeout_ms, a->lim.max_connections,
                     atomic_load(&a->timed_out), atomic_load(&a->evicted));
}

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
    pthread_mutex_lock(&a->lock);
    conn_slot *s = slot_of(c);
    if (s)
        s->deadline_ms = 0; /* the request line and headers came in time */
    pthread_mutex_unlock(&a->lock);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        sl_strbuf_puts(&body, "only GET\n");
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", &body);
    }
    if (!strcmp(url, "/metrics")) {
        a->h.metrics(a->h.opaque, &body);
        put_own_metrics(a, &body);
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

/* libmicrohttpd's complaints come from what clients send: rate-limited. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    sl_admin *a = cls;
    char msg[160];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    pthread_mutex_lock(&a->lock);
    rate_limited(&a->mhd_errors, msg);
    pthread_mutex_unlock(&a->lock);
}

sl_admin *sl_admin_start(const char *listen, const sl_admin_limits *limits, const sl_admin_handlers *h,
                         sl_error *err)
{
    struct sockaddr_storage sa;
    socklen_t len;
    if (sl_parse_listen(listen, &sa, &len, err))
        return NULL;
    sl_admin *a = sl_xcalloc(1, sizeof(*a));
    a->h = *h;
    a->lim = *limits;
    a->nslots = (size_t)a->lim.max_connections + ADMIN_EVICTING;
    a->slots = sl_xcalloc(a->nslots, sizeof(*a->slots));
    /* libmicrohttpd counts its idle timeout in whole seconds */
    unsigned int idle_s = (unsigned int)((a->lim.idle_timeout_ms + 999) / 1000);
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->d = MHD_start_daemon(flags, 0, on_accept, a, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)a->nslots + 8 /* on_accept() refuses first */, MHD_OPTION_CONNECTION_TIMEOUT,
                            idle_s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_END);
    if (a->d && pthread_create(&a->deadline_thread, NULL, deadline_main, a)) {
        MHD_stop_daemon(a->d);
        a->d = NULL;
    }
    if (!a->d) {
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a->slots);
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
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->deadline_thread, NULL);
    MHD_stop_daemon(a->d);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->slots);
    free(a);
}
