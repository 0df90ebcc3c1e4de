/* redact.c - URLs, DSNs and messages without credentials (see redact.h). */
#include "sluice/redact.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/strbuf.h"

char *sl_redact_url(const char *url)
{
    CURLU *h = curl_url();
    char *out = NULL;
    if (h && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME) == CURLUE_OK) {
        char *pw = NULL, *query = NULL;
        if (curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw)
            curl_url_set(h, CURLUPART_PASSWORD, SL_REDACTED, 0);
        curl_free(pw);
        if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query && strcasestr(query, "password"))
            curl_url_set(h, CURLUPART_QUERY, "password=" SL_REDACTED, 0);
        curl_free(query);
        char *s = NULL;
        if (curl_url_get(h, CURLUPART_URL, &s, 0) == CURLUE_OK && s) {
            out = sl_xstrdup(s);
            curl_free(s);
        }
    }
    curl_url_cleanup(h);
    return out ? out : sl_xstrdup("(a URL sluice cannot parse)");
}

char *sl_url_password(const char *url)
{
    CURLU *h = curl_url();
    char *out = NULL, *pw = NULL;
    if (h && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE) == CURLUE_OK && pw && *pw)
        out = sl_xstrdup(pw);
    curl_free(pw);
    curl_url_cleanup(h);
    return out;
}

char *sl_redact_dsn(const char *dsn)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    PQfreemem(errmsg); /* may quote the password: never shown */
    if (!opts)
        return sl_xstrdup("(a connection string libpq cannot parse)");
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_strbuf_puts(&sb, "");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (sb.len)
            sl_strbuf_putc(&sb, ' ');
        sl_strbuf_printf(&sb, "%s=", o->keyword);
        if (!strcmp(o->keyword, "password")) {
            sl_strbuf_puts(&sb, SL_REDACTED);
            continue;
        }
        bool quote = !*o->val || strpbrk(o->val, " \t\n'\\");
        if (quote)
            sl_strbuf_putc(&sb, '\'');
        for (const char *c = o->val; *c; c++) {
            if (*c == '\'' || *c == '\\')
                sl_strbuf_putc(&sb, '\\');
            sl_strbuf_putc(&sb, *c);
        }
        if (quote)
            sl_strbuf_putc(&sb, '\'');
    }
    PQconninfoFree(opts);
    return sl_strbuf_steal(&sb);
}

bool sl_dsn_parses(const char *dsn)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    PQfreemem(errmsg);
    PQconninfoFree(opts);
    return opts != NULL;
}

char *sl_dsn_get(const char *dsn, const char *key)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    PQfreemem(errmsg);
    char *out = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, key) && o->val)
            out = sl_xstrdup(o->val);
    PQconninfoFree(opts);
    return out;
}

/* ---- remembered secrets ---- */

#define MAX_SECRETS 64

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS];
static size_t nsecrets; /* read without the lock: entries are only appended, then published */

void sl_secret_add(const char *secret)
{
    if (!secret || strlen(secret) < 3)
        return;
    pthread_mutex_lock(&secrets_lock);
    size_t n = __atomic_load_n(&nsecrets, __ATOMIC_ACQUIRE);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
        known = !strcmp(secrets[i], secret);
    if (!known && n < MAX_SECRETS) {
        secrets[n] = sl_xstrdup(secret);
        __atomic_store_n(&nsecrets, n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&secrets_lock);
}

bool sl_secret_scrub(char *buf, size_t size)
{
    size_t n = __atomic_load_n(&nsecrets, __ATOMIC_ACQUIRE);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const char *s = secrets[i];
        size_t sl = strlen(s), ml = strlen(SL_REDACTED);
        for (char *p = strstr(buf, s); p; p = strstr(p + ml, s)) {
            size_t tail = strlen(p + sl);
            /* the secret is at least as long as the mask, or the buffer has room */
            if (ml > sl && (size_t)(p - buf) + ml + tail + 1 > size)
                tail = size - 1 - (size_t)(p - buf) - ml;
            memmove(p + ml, p + sl, tail);
            p[ml + tail] = '\0';
            memcpy(p, SL_REDACTED, ml);
            any = true;
        }
    }
    return any;
}
