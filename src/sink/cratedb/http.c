/* http.c - the CrateDB sink over the HTTP endpoint (libcurl).
 *
 * Every statement goes to POST <url>/_sql as {"stmt": ..., "bulk_args":
 * [[...], ...]}: one request per statement per batch, on one reused easy
 * handle (keep-alive).  The response carries one {"rowcount": n} per
 * argument set, in order; a row that failed at run time has rowcount -2
 * (with an "error" object {"code", "message"} in recent versions, an
 * "error_message" or nothing in older ones), and a statement that failed
 * analysis is a top-level {"error": {"message", "code"}} with a 4xx/5xx
 * status (reference: "HTTP endpoint": bulk operations, error handling, bulk
 * errors).  Older versions also report a failed single-row bulk, and
 * unavailable shards, as top-level errors.  HTTP 429/502/503/504 and
 * connection errors are back-pressure: SL_ERR_RETRY, and the worker pauses
 * its partitions and backs off.
 *
 * Values travel as JSON typed by the target column (json.c). */
#include <curl/curl.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cratedb_int.h"
#include "sluice/textfmt.h"
#include "sluice/log.h"
#include "sluice/credential.h"
#include "sluice/redact.h"

typedef struct http_sink {
    crate_common common; /* first: CRATE(s) */
    CURL *curl;
    struct curl_slist *headers;
    char *endpoint;      /* <url>/_sql */
    char *shown;         /* the endpoint as messages show it: no password */
    sl_strbuf body;
    sl_strbuf resp;
    char errbuf[CURL_ERROR_SIZE];
} http_sink;

#define HTTP(s) ((http_sink *)(s)->impl)

/* ---- responses ---- */

static void outcome(crate_outcome *o, crate_outcome_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void outcome(crate_outcome *o, crate_outcome_kind k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    o->kind = k;
    vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
    va_end(ap);
}

int crate_http_parse(long status, const char *body, size_t len, size_t n, crate_expect expect,
                     crate_outcome *out, sl_error *err)
{
    json_error_t jerr;
    json_t *root = body && len ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *error = root ? json_object_get(root, "error") : NULL;
    int rc = 0;
    if (status == 429 || status == 502 || status == 503 || status == 504) {
        const char *m = json_is_object(error) ? json_string_value(json_object_get(error, "message")) : NULL;
        rc = sl_error_set(err, SL_ERR_RETRY, "HTTP %ld (server busy or unavailable)%s%s", status, m ? ": " : "",
                          m ? m : "");
    } else if (json_is_object(error) || status != 200) {
        const char *m = json_is_object(error) ? json_string_value(json_object_get(error, "message")) : NULL;
        json_t *jc = json_is_object(error) ? json_object_get(error, "code") : NULL;
        int code = json_is_integer(jc) ? (int)json_integer_value(jc) : 0;
        sl_errkind kind = code ? crate_code_kind(code, m)
                        : status == 401 || status == 403 ? SL_ERR_FATAL
                        : status >= 500 || status == 408 || status == 0 ? SL_ERR_RETRY
                                                                      : SL_ERR_FATAL;
        rc = sl_error_set(err, kind, "HTTP %ld, CrateDB error %d: %s", status, code,
                          m ? m : root ? "(no message)" : "(response is not JSON)");
    } else if (!root) {
        rc = sl_error_set(err, SL_ERR_RETRY, "response is not JSON: %s", jerr.text);
    } else {
        json_t *results = json_object_get(root, "results");
        if (!json_is_array(results) || json_array_size(results) != n) {
            rc = sl_error_set(err, SL_ERR_RETRY, "response has %zu results for %zu rows",
                              json_is_array(results) ? json_array_size(results) : 0, n);
        } else {
            for (size_t i = 0; i < n; i++) {
                json_t *r = json_array_get(results, i);
                json_t *jrc = json_object_get(r, "rowcount");
                json_int_t count = json_is_integer(jrc) ? json_integer_value(jrc) : -3;
                if (count == 1 || (count == 0 && expect == CR_EXPECT_ANY)) {
                    out[i].kind = CR_OK;
                } else if (count == -2) {
                    json_t *e = json_object_get(r, "error");
                    const char *m = json_is_object(e) ? json_string_value(json_object_get(e, "message"))
                                                      : json_string_value(json_object_get(r, "error_message"));
                    json_t *jc = json_is_object(e) ? json_object_get(e, "code") : NULL;
                    if (json_is_integer(jc)) {
                        int code = (int)json_integer_value(jc);
                        sl_errkind k = crate_code_kind(code, m);
                        outcome(&out[i], code == CRATE_DOCUMENT_MISSING ? CR_MISSING
                                         : k == SL_ERR_RETRY            ? CR_RETRY
                                                                        : CR_DATA,
                                "CrateDB error %d: %s", code, m ? m : "(no message)");
                    } else if (m) {
                        outcome(&out[i], crate_message_is_data(m) ? CR_DATA : CR_UNKNOWN, "%s", m);
                    } else {
                        outcome(&out[i], CR_UNKNOWN, "rowcount -2 without an error");
                    }
                } else if (count >= 0 && count <= 1) {
                    outcome(&out[i], CR_UNKNOWN, "rowcount %d", (int)count);
                } else {
                    outcome(&out[i], CR_UNKNOWN, "unexpected rowcount %" JSON_INTEGER_FORMAT, count);
                }
            }
        }
    }
    json_decref(root);
    return rc;
}

/* ---- transport ---- */

/* A bulk answer is a few bytes per row (plus a message per failed row); a
 * server answering more than this is refused rather than buffered. */
#define MAX_RESPONSE (64 << 20)

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sl_strbuf *sb = userdata;
    if (sb->len + size * nmemb > MAX_RESPONSE)
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    sl_strbuf_append(sb, ptr, size * nmemb);
    return size * nmemb;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int http_open(sl_sink *s, sl_error *err);

/* POST the body; 0 with *status set, or -1 (SL_ERR_RETRY) when no answer. */
static void http_drop(http_sink *h);

static int post(sl_sink *s, long *status, sl_error *err)
{
    http_sink *h = HTTP(s);
    if (!h->curl && http_open(s, err))
        return -1;
    sl_strbuf_reset(&h->resp);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body.data);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
    h->errbuf[0] = '\0';
    CURLcode cc = curl_easy_perform(h->curl);
    if (cc == CURLE_WRITE_ERROR) {
        sl_strbuf_reset(&h->resp);
        return sl_error_set(err, SL_ERR_RETRY, "POST %s: the answer exceeds %d MiB; dropped", h->shown,
                            MAX_RESPONSE >> 20);
    }
    if (cc != CURLE_OK) {
        sl_errkind kind = SL_ERR_RETRY;
        /* a certificate that does not verify is configuration, not load */
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_URL_MALFORMAT ||
            cc == CURLE_UNSUPPORTED_PROTOCOL)
            kind = SL_ERR_FATAL;
        return sl_error_set(err, kind, "POST %s: %s", h->shown, h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    if (*status == 401 && sl_cred_fresh(s->conf)) {
        /* a password rotated since this handle read it: the next attempt
         * opens a new one, which reads it again (credential.h) */
        http_drop(h);
        return sl_error_set(err, SL_ERR_RETRY, "POST %s: HTTP 401: the password was refused; it is read again "
                            "for the next attempt", h->shown);
    }
    return 0;
}

static void body_start(http_sink *h, const char *sql)
{
    sl_strbuf_reset(&h->body);
    sl_strbuf_puts(&h->body, "{\"stmt\":");
    crate_json_string(&h->body, sql, strlen(sql)); /* sluice's own SQL: ASCII and quoted names */
}

static int http_bulk(sl_sink *s, const crate_stmt *st, crate_outcome *out, sl_error *err)
{
    http_sink *h = HTTP(s);
    size_t *sent = sl_xmalloc((st->nrows ? st->nrows : 1) * sizeof(size_t));
    size_t nsent = 0;
    body_start(h, st->sql);
    sl_strbuf_puts(&h->body, ",\"bulk_args\":[");
    for (size_t i = 0; i < st->nrows; i++) {
        const sl_row *r = st->b->rows[st->rows[i]];
        size_t mark = h->body.len;
        sl_strbuf_puts(&h->body, nsent ? ",[" : "[");
        int rc = 0;
        sl_error cerr;
        for (size_t k = 0; k < st->ncols && !rc; k++) {
            size_t c = st->cols[k];
            const sl_column *col = &st->table->cols[c];
            if (k)
                sl_strbuf_putc(&h->body, ',');
            if (r->len[c] < 0)
                sl_strbuf_puts(&h->body, "null");
            else if ((rc = crate_json_cell(&h->body, r->data + r->off[c], (size_t)r->len[c], col->type, col->elem,
                                           &cerr)))
                sl_error_prefix(&cerr, "column \"%s\": ", col->name);
        }
        if (rc) {
            h->body.len = mark;
            h->body.data[mark] = '\0';
            outcome(&out[i], CR_DATA, "%s", cerr.msg);
            continue;
        }
        sl_strbuf_putc(&h->body, ']');
        sent[nsent++] = i;
        out[i].kind = CR_OK;
    }
    sl_strbuf_puts(&h->body, "]}");
    if (nsent == 0) {
        free(sent);
        return 0;
    }
    long status = 0;
    int rc = post(s, &status, err);
    if (rc == 0) {
        crate_outcome *o = sl_xcalloc(nsent, sizeof(*o));
        rc = crate_http_parse(status, h->resp.data, h->resp.len, nsent, st->expect, o, err);
        for (size_t i = 0; rc == 0 && i < nsent; i++)
            out[sent[i]] = o[i];
        free(o);
    }
    free(sent);
    return rc;
}

/* Stringify a result cell the way pgwire would show it (NULL stays NULL). */
static char *cell_text(json_t *v)
{
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return sl_xstrdup(json_string_value(v));
    if (json_is_true(v))
        return sl_xstrdup("true");
    if (json_is_false(v))
        return sl_xstrdup("false");
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r = sl_xstrdup(d ? d : "");
    free(d);
    return r;
}

static int http_query(sl_sink *s, const char *sql, const char *const *args, size_t nargs, crate_result *res,
                      sl_error *err)
{
    http_sink *h = HTTP(s);
    body_start(h, sql);
    if (nargs) {
        sl_strbuf_puts(&h->body, ",\"args\":[");
        for (size_t i = 0; i < nargs; i++) {
            if (i)
                sl_strbuf_putc(&h->body, ',');
            if (!args[i])
                sl_strbuf_puts(&h->body, "null");
            else if (crate_json_string(&h->body, args[i], strlen(args[i])))
                return sl_error_set(err, SL_ERR_FATAL, "argument %zu is not UTF-8", i + 1);
        }
        sl_strbuf_putc(&h->body, ']');
    }
    sl_strbuf_putc(&h->body, '}');
    long status = 0;
    if (post(s, &status, err))
        return -1;
    json_error_t jerr;
    json_t *root = h->resp.len ? json_loadb(h->resp.data, h->resp.len, 0, &jerr) : NULL;
    json_t *error = root ? json_object_get(root, "error") : NULL;
    int rc = 0;
    if (status != 200 || json_is_object(error) || !root) {
        crate_outcome dummy;
        rc = crate_http_parse(status, h->resp.data, h->resp.len, 0, CR_EXPECT_ANY, &dummy, err);
        if (rc == 0)
            rc = sl_error_set(err, SL_ERR_RETRY, "HTTP %ld without a result", status);
        /* outside a bulk, a "data" error is the statement's fault */
        if (err->kind == SL_ERR_DATA)
            err->kind = SL_ERR_FATAL;
    } else if (res) {
        json_t *rows = json_object_get(root, "rows"), *cols = json_object_get(root, "cols");
        res->ncols = json_is_array(cols) ? json_array_size(cols) : 0;
        res->nrows = json_is_array(rows) ? json_array_size(rows) : 0;
        res->cells = sl_xcalloc(res->nrows * res->ncols + 1, sizeof(char *));
        for (size_t r = 0; r < res->nrows; r++) {
            json_t *row = json_array_get(rows, r);
            for (size_t c = 0; c < res->ncols; c++)
                res->cells[r * res->ncols + c] = cell_text(json_array_get(row, c));
        }
    }
    json_decref(root);
    if (rc)
        log_debug(s->ctx, "%s: %s", sql, err->msg);
    return rc;
}

static const crate_transport http_transport = {http_bulk, http_query};

static void http_drop(http_sink *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
    curl_slist_free_all(h->headers);
    h->headers = NULL;
}

static int http_open(sl_sink *s, sl_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (!s->impl) {
        http_sink *h = sl_xcalloc(1, sizeof(*h));
        h->common.tp = &http_transport;
        s->impl = h;
    }
    http_sink *h = HTTP(s);
    if (h->curl)
        return 0;
    const sl_target_conf *tc = s->conf;
    if (!h->endpoint) {
        size_t n = strlen(tc->url);
        while (n && tc->url[n - 1] == '/')
            n--;
        sl_strbuf e = SL_STRBUF_INIT;
        sl_strbuf_append(&e, tc->url, n);
        sl_strbuf_puts(&e, "/_sql");
        h->endpoint = sl_strbuf_steal(&e);
        h->shown = sl_redact_url(h->endpoint);
    }
    h->curl = curl_easy_init();
    if (!h->curl)
        return sl_error_set(err, SL_ERR_FATAL, "cannot initialise libcurl");
    CURL *c = h->curl;
    h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
    h->headers = curl_slist_append(h->headers, "Accept: application/json");
    h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
    char hdr[320];
    snprintf(hdr, sizeof(hdr), "Default-Schema: %s", tc->schema ? tc->schema : "doc");
    h->headers = curl_slist_append(h->headers, hdr);
    curl_easy_setopt(c, CURLOPT_URL, h->endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h->resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers when offered */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)tc->connect_timeout_ms);
    if (tc->statement_timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)tc->statement_timeout_ms);
    if (tc->user) {
        char *dsn = NULL, *fresh = NULL;
        if (sl_cred_now(tc, &dsn, &fresh, err)) {
            http_drop(h);
            return -1;
        }
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, tc->user);
        /* libcurl keeps its own copy */
        curl_easy_setopt(c, CURLOPT_PASSWORD, fresh ? fresh : tc->password ? tc->password : "");
        if (fresh)
            explicit_bzero(fresh, strlen(fresh));
        free(fresh);
        free(dsn);
    }
    if (tc->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, tc->ca_file);
    if (tc->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* one round trip proves the URL, the credentials and the schema header */
    crate_result r = {0};
    if (http_query(s, "SELECT 1", NULL, 0, &r, err)) {
        http_drop(h);
        return -1;
    }
    crate_result_free(&r);
    s->connected = true;
    log_info(s->ctx, "connected to CrateDB at %s (schema %s)", h->shown, tc->schema ? tc->schema : "doc");
    return 0;
}

static void http_close(sl_sink *s)
{
    http_sink *h = HTTP(s);
    if (!h)
        return;
    http_drop(h);
    crate_common_free(&h->common);
    sl_strbuf_free(&h->body);
    sl_strbuf_free(&h->resp);
    free(h->endpoint);
    free(h->shown);
    free(h);
    s->impl = NULL;
    s->connected = false;
}

static int http_describe(sl_sink *s, const char *schema, const char *name, sl_table **out, sl_error *err)
{
    if (http_open(s, err))
        return -1;
    return crate_describe(s, schema, name, out, err);
}

static int http_write(sl_sink *s, sl_flush *f, sl_error *err)
{
    if (http_open(s, err))
        return -1;
    int rc = crate_write(s, f, err);
    if (rc && err->kind == SL_ERR_RETRY)
        log_debug(s->ctx, "write to be retried: %s", err->msg);
    return rc;
}

static int http_create_table(sl_sink *s, const sl_table *def, sl_error *err)
{
    return http_open(s, err) ? -1 : crate_create_table(s, def, err);
}

static int http_add_column(sl_sink *s, const sl_table *t, const sl_column *c, sl_error *err)
{
    return http_open(s, err) ? -1 : crate_add_column(s, t, c, err);
}

const sl_sink_ops sl_sink_cratedb_http = {
    .name = "cratedb-http",
    .transactional = false,
    .column_type = crate_column_type,
    .open = http_open,
    .close = http_close,
    .describe = http_describe,
    .write = http_write,
    .read_offsets = NULL,
    .set_offsets = NULL,
    .create_table = http_create_table,
    .add_column = http_add_column,
    .title = "CrateDB",
};
