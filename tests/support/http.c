/* http.c - the loopback side of the tests' HTTP: a free port to give a
 * server, one request helper for every endpoint the tests read (sluice's
 * admin and metrics endpoints, the registry and CrateDB stand-ins), and a
 * reader of Prometheus exposition text. */
#include "support.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ts_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(s >= 0, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    ck_assert(getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);
    return ntohs(a.sin_port);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    sl_strbuf_append(ud, p, size * n);
    return size * n;
}

long ts_http(const ts_http_req *req, sl_strbuf *body)
{
    sl_strbuf_reset(body);
    CURL *c = curl_easy_init();
    ck_assert(c != NULL);
    struct curl_slist *h = NULL;
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        h = curl_slist_append(h, req->headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (req->body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : 10L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (req->ctype)
            snprintf(req->ctype, req->ctype_len, "%s", ct ? ct : "");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ck_assert_msg(rc == CURLE_OK || !req->must_answer, "%s: %s", req->url, curl_easy_strerror(rc));
    if (!body->data)
        sl_strbuf_puts(body, "");
    return status;
}

long ts_http_get(const char *url, sl_strbuf *body)
{
    return ts_http(&(ts_http_req){.url = url, .must_answer = true}, body);
}

double ts_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, series, n) && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

double ts_scrape(int port, const char *series)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    sl_strbuf b = SL_STRBUF_INIT;
    ts_http_get(url, &b);
    double v = ts_metric(b.data, series);
    sl_strbuf_free(&b);
    return v;
}
