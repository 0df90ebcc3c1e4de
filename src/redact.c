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
        if (!strcmp(o->keyword, "password") || !strcmp(o->keyword, "sslpassword")) {
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

/* Secrets shorter than this are masked only as whole words (not next to a
 * letter or digit): a two-byte password is still a password, but masking
 * every "ab" inside other words would make the logs unreadable. */
#define SHORT_SECRET 4

typedef struct secret {
    char *text;
    size_t len;
    struct secret *next;
} secret;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
/* Prepended under the lock, published with a release store; read without
 * the lock (entries are never changed or freed: the list holds what the
 * configurations named, for the life of the process). */
static secret *secrets;

void sl_secret_add(const char *text)
{
    if (!text || !*text)
        return;
    pthread_mutex_lock(&secrets_lock);
    bool known = false;
    for (secret *s = secrets; s && !known; s = s->next)
        known = !strcmp(s->text, text);
    if (!known) {
        secret *s = sl_xcalloc(1, sizeof(*s));
        s->text = sl_xstrdup(text);
        s->len = strlen(text);
        s->next = secrets;
        __atomic_store_n(&secrets, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&secrets_lock);
}

static bool word_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Is the occurrence of @s at @p in @text one to mask? */
static bool masks(const secret *s, const char *text, const char *p)
{
    if (s->len >= SHORT_SECRET)
        return true;
    return (p == text || !word_char(p[-1])) && !word_char(p[s->len]);
}

/* Rotating secrets (sl_secret_rotate): per owner the current text and the
 * one before it, under a lock, so that a retired password is freed. */
#define ROTATING_MAX 64
static pthread_rwlock_t rotating_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct rotating {
    char *owner;
    secret now, before;
} rotating[ROTATING_MAX];
static size_t nrotating;

static void set_secret(secret *s, const char *text)
{
    if (s->text)
        explicit_bzero(s->text, s->len);
    free(s->text);
    s->text = text && *text ? sl_xstrdup(text) : NULL;
    s->len = s->text ? strlen(s->text) : 0;
}

void sl_secret_rotate(const char *owner, const char *text)
{
    if (!text || !*text)
        return;
    pthread_rwlock_wrlock(&rotating_lock);
    struct rotating *r = NULL;
    for (size_t i = 0; i < nrotating && !r; i++)
        if (!strcmp(rotating[i].owner, owner))
            r = &rotating[i];
    if (!r && nrotating < ROTATING_MAX) {
        r = &rotating[nrotating++];
        r->owner = sl_xstrdup(owner);
    }
    if (!r) {
        pthread_rwlock_unlock(&rotating_lock);
        sl_secret_add(text); /* more owners than targets can be: kept for good */
        return;
    }
    if (!r->now.text || strcmp(r->now.text, text)) {
        set_secret(&r->before, r->now.text);
        set_secret(&r->now, text);
    }
    pthread_rwlock_unlock(&rotating_lock);
}

/* Mask @s in @out (@next is scratch). */
static void mask_in(sl_strbuf *out, sl_strbuf *next, const secret *s, bool *any);

char *sl_secret_scrub_dup(const char *text, bool *any)
{
    sl_strbuf out = SL_STRBUF_INIT;
    sl_strbuf_puts(&out, text);
    sl_strbuf next = SL_STRBUF_INIT;
    for (const secret *s = __atomic_load_n(&secrets, __ATOMIC_ACQUIRE); s; s = s->next)
        mask_in(&out, &next, s, any);
    if (__atomic_load_n(&nrotating, __ATOMIC_ACQUIRE)) {
        pthread_rwlock_rdlock(&rotating_lock);
        for (size_t i = 0; i < nrotating; i++) {
            if (rotating[i].now.text)
                mask_in(&out, &next, &rotating[i].now, any);
            if (rotating[i].before.text)
                mask_in(&out, &next, &rotating[i].before, any);
        }
        pthread_rwlock_unlock(&rotating_lock);
    }
    sl_strbuf_free(&next);
    return sl_strbuf_steal(&out);
}

static void mask_in(sl_strbuf *out, sl_strbuf *next, const secret *s, bool *any)
{
    const char *from = out->data;
    const char *p = strstr(from, s->text);
    if (!p)
        return;
    sl_strbuf_reset(next);
    sl_strbuf_puts(next, "");
    for (; p; p = strstr(p, s->text)) {
        if (!masks(s, out->data, p)) {
            p++;
            continue;
        }
        sl_strbuf_append(next, from, (size_t)(p - from));
        sl_strbuf_puts(next, SL_REDACTED);
        if (any)
            *any = true;
        p += s->len;
        from = p;
    }
    sl_strbuf_puts(next, from);
    sl_strbuf tmp = *out;
    *out = *next;
    *next = tmp;
}

bool sl_secret_scrub(char *buf, size_t size)
{
    if (!size || (!__atomic_load_n(&secrets, __ATOMIC_ACQUIRE) && !__atomic_load_n(&nrotating, __ATOMIC_ACQUIRE)))
        return false;
    bool any = false;
    char *clean = sl_secret_scrub_dup(buf, &any);
    if (any) {
        size_t n = strlen(clean);
        if (n >= size)
            n = size - 1; /* cut: the masks make it longer */
        memcpy(buf, clean, n);
        buf[n] = '\0';
    }
    free(clean);
    return any;
}
