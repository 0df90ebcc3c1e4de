/* registry.c - Schema Registry client over libcurl: fetch by id, cache
 * forever, one request per new id however many workers ask at once, and
 * failover across the configured URLs.
 *
 * Endpoints and error bodies follow Confluent's Schema Registry API
 * reference (https://docs.confluent.io/platform/current/schema-registry/develop/api.html):
 * GET /schemas/ids/{id} answers {"schema": "...", "schemaType": "..."} where
 * schemaType is omitted for Avro; a missing id is HTTP 404 with
 * {"error_code": 40403, "message": "Schema 7 not found"}; 50001..50003 are
 * back-end (store, timeout, forwarding) errors, worth retrying. */
#include "sluice/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/credential.h"
#include "sluice/log.h"
#include "sluice/redact.h"
#include "sluice/strbuf.h"
#include "wire_int.h"

#define MAX_RESPONSE (16 << 20) /* no schema is this large; bounds a misbehaving server */

typedef enum { ENTRY_FETCHING, ENTRY_READY, ENTRY_FAILED } entry_state;

typedef struct entry {
    sl_registry_schema pub;
    char *type;
    char *text;
    sl_registry_ref *refs; /* pub.refs: names and texts owned here */
    entry_state state;
    int waiters;        /* threads waiting for a fetch in progress */
    sl_error failure;   /* ENTRY_FAILED: handed to the waiters */
    struct entry *next;
} entry;

struct sl_registry {
    char **urls;
    char **shown;       /* the urls as messages show them: no password */
    size_t nurls;
    size_t preferred;   /* index of the URL that answered last */
    char *user;
    char *password;
    char *token, *token_source, *token_command; /* bearer: static, ${file:} read per request, command */
    char *ca_file;
    char *cert_file, *key_file, *key_password;  /* TLS client certificate */
    long timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t done;
    entry *entries;     /* few: one per schema id ever seen */
    long requests;
    unsigned long serial;  /* unique per registry ever created in this process */
};

/* entry_free() - an entry and all it owns (a failed fetch's partial references too). */
static void entry_free(entry *e)
{
    for (size_t i = 0; i < e->pub.nrefs; i++) {
        free((char *)e->refs[i].name);
        free((char *)e->refs[i].text);
    }
    free(e->refs);
    free(e->type);
    free(e->text);
    free(e);
}

static unsigned long next_serial;

unsigned long sl_registry_serial(const sl_registry *r)
{
    return r ? r->serial : 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

sl_registry *sl_registry_new(const sl_registry_conf *conf, sl_error *err)
{
    if (!conf || conf->nurls == 0) {
        sl_error_set(err, SL_ERR_FATAL, "schema_registry: no url configured");
        return NULL;
    }
    for (size_t i = 0; i < conf->nurls; i++) {
        if (strncmp(conf->urls[i], "http://", 7) && strncmp(conf->urls[i], "https://", 8)) {
            char *shown = sl_redact_url(conf->urls[i]);
            sl_error_set(err, SL_ERR_FATAL, "schema_registry: url \"%s\" is not http:// or https://", shown);
            free(shown);
            return NULL;
        }
    }
    pthread_once(&curl_once, curl_init_once);
    sl_registry *r = sl_xcalloc(1, sizeof(*r));
    r->urls = sl_xcalloc(conf->nurls, sizeof(char *));
    r->shown = sl_xcalloc(conf->nurls, sizeof(char *));
    for (size_t i = 0; i < conf->nurls; i++) {
        /* the paths below start with '/': drop trailing slashes of the base */
        size_t n = strlen(conf->urls[i]);
        while (n > 0 && conf->urls[i][n - 1] == '/')
            n--;
        r->urls[i] = strndup(conf->urls[i], n);
        if (!r->urls[i])
            abort();
        r->shown[i] = sl_redact_url(r->urls[i]);
        size_t sn = strlen(r->shown[i]);
        while (sn > 0 && r->shown[i][sn - 1] == '/') /* as the url: the paths start with '/' */
            r->shown[i][--sn] = '\0';
    }
    r->nurls = conf->nurls;
    r->user = conf->user ? sl_xstrdup(conf->user) : NULL;
    r->password = conf->password ? sl_xstrdup(conf->password) : NULL;
    r->ca_file = conf->ca_file ? sl_xstrdup(conf->ca_file) : NULL;
    char **own[] = {&r->token, &r->token_source, &r->token_command, &r->cert_file, &r->key_file, &r->key_password};
    const char *from[] = {conf->bearer_token, conf->bearer_token_source, conf->bearer_token_command,
                          conf->cert_file,    conf->key_file,            conf->key_password};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        *own[i] = from[i] ? sl_xstrdup(from[i]) : NULL;
    r->timeout_ms = conf->timeout_ms > 0 ? (long)conf->timeout_ms : 10000;
    r->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done, NULL);
    return r;
}

void sl_registry_free(sl_registry *r)
{
    if (!r)
        return;
    for (entry *e = r->entries, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    for (size_t i = 0; i < r->nurls; i++) {
        free(r->urls[i]);
        free(r->shown[i]);
    }
    free(r->urls);
    free(r->shown);
    free(r->user);
    free(r->password);
    free(r->ca_file);
    free(r->token);
    free(r->token_source);
    free(r->token_command);
    free(r->cert_file);
    free(r->key_file);
    free(r->key_password);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->done);
    free(r);
}

long sl_registry_requests(sl_registry *r)
{
    pthread_mutex_lock(&r->lock);
    long n = r->requests;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *opaque)
{
    sl_strbuf *sb = opaque;
    if (sb->len + size * n > MAX_RESPONSE)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    sl_strbuf_append(sb, p, size * n);
    return size * n;
}

/* The "message" of an error body, or the start of the body itself. */
static void error_message(const sl_strbuf *body, long *code, char *out, size_t outlen)
{
    *code = 0;
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *msg = NULL;
    if (j) {
        *code = (long)json_integer_value(json_object_get(j, "error_code"));
        msg = json_string_value(json_object_get(j, "message"));
    }
    snprintf(out, outlen, "%.300s", msg ? msg : body->len ? body->data : "(empty body)");
    json_decref(j);
}

/* One request to every URL in turn, starting with the preferred one, until
 * one answers with an HTTP status that is not worth retrying elsewhere.
 * 2xx: 0 with the body; other answers: -1 with @err classified. */
static int request_urls(sl_registry *r, const char *path, const char *post_body, const char *auth,
                        sl_strbuf *body, long *status, sl_error *err);

static int request(sl_registry *r, const char *path, const char *post_body, sl_strbuf *body,
                   long *status, sl_error *err)
{
    /* the bearer token as it is now: read again from its file, or printed
     * by its command, for each request (few: one per schema id) */
    char *token = NULL;
    if (r->token_command &&
        sl_cred_command("schema_registry.bearer_token_command", r->token_command, r->timeout_ms, &token, err))
        return -1;
    if (!token && r->token_source &&
        sl_cred_reread("schema_registry.bearer_token", r->token_source, false, &token, err))
        return -1;
    sl_strbuf auth = SL_STRBUF_INIT;
    if (token || r->token)
        sl_strbuf_printf(&auth, "Authorization: Bearer %s", token ? token : r->token);
    if (token)
        explicit_bzero(token, strlen(token));
    free(token);
    int rc = request_urls(r, path, post_body, auth.data, body, status, err);
    if (rc && *status == 401 && (r->token_command || r->token_source))
        err->kind = SL_ERR_RETRY; /* a token read again for the next attempt may be the new one */
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    sl_strbuf_free(&auth);
    return rc;
}

static int request_urls(sl_registry *r, const char *path, const char *post_body, const char *auth,
                        sl_strbuf *body, long *status, sl_error *err)
{
    size_t start;
    pthread_mutex_lock(&r->lock);
    start = r->preferred;
    pthread_mutex_unlock(&r->lock);
    sl_strbuf last = SL_STRBUF_INIT; /* why the last URL failed */
    for (size_t k = 0; k < r->nurls; k++) {
        size_t i = (start + k) % r->nurls;
        char url[2048];
        snprintf(url, sizeof(url), "%s%s", r->urls[i], path);
        CURL *c = curl_easy_init();
        if (!c)
            abort();
        char curlerr[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdr = curl_slist_append(NULL,
            "Accept: application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json");
        if (post_body)
            hdr = curl_slist_append(hdr, "Content-Type: application/vnd.schemaregistry.v1+json");
        if (auth)
            hdr = curl_slist_append(hdr, auth);
        sl_strbuf_reset(body);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
        if (post_body)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        if (r->user) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, r->password ? r->password : "");
        }
        if (r->ca_file)
            curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
        if (r->cert_file) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, r->cert_file);
            curl_easy_setopt(c, CURLOPT_SSLKEY, r->key_file);
            if (r->key_password)
                curl_easy_setopt(c, CURLOPT_KEYPASSWD, r->key_password);
        }
        CURLcode rc = curl_easy_perform(c);
        *status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        curl_slist_free_all(hdr);
        curl_easy_cleanup(c);
        pthread_mutex_lock(&r->lock);
        r->requests++;
        pthread_mutex_unlock(&r->lock);

        sl_strbuf_reset(&last);
        if (rc != CURLE_OK) {
            sl_strbuf_printf(&last, "%s: %s", r->shown[i], curlerr[0] ? curlerr : curl_easy_strerror(rc));
            log_warn("schema registry", "%s%s: %s", r->shown[i], path,
                     curlerr[0] ? curlerr : curl_easy_strerror(rc));
            continue;
        }
        if (*status >= 500 || *status == 429 || *status == 408) {
            char msg[320];
            long code;
            error_message(body, &code, msg, sizeof(msg));
            sl_strbuf_printf(&last, "%s: HTTP %ld: %s", r->shown[i], *status, msg);
            log_warn("schema registry", "%s%s: HTTP %ld: %s", r->shown[i], path, *status, msg);
            continue;
        }
        pthread_mutex_lock(&r->lock);
        r->preferred = i;
        pthread_mutex_unlock(&r->lock);
        sl_strbuf_free(&last);
        if (*status >= 200 && *status < 300)
            return 0;
        char msg[320];
        long code;
        error_message(body, &code, msg, sizeof(msg));
        /* only "this id does not exist" blames the record; any other answer
         * (a wrong path, a proxy's 400, 401/403) is the registry's or the
         * configuration's, and under on_error: skip would silently drop
         * every record: 4xx stops, others are retried */
        sl_errkind kind = code == 40403                     ? SL_ERR_DATA
                          : *status >= 400 && *status < 500 ? SL_ERR_FATAL
                                                            : SL_ERR_RETRY;
        if (code)
            return sl_error_set(err, kind, "schema registry %s%s: HTTP %ld, error %ld: %s", r->shown[i],
                                path, *status, code, msg);
        return sl_error_set(err, kind, "schema registry %s%s: HTTP %ld: %s", r->shown[i], path,
                            *status, msg);
    }
    sl_error_set(err, SL_ERR_RETRY, "schema registry unavailable (%s)", last.data ? last.data : "no url");
    sl_strbuf_free(&last);
    return -1;
}

/* path segment @s percent-encoded onto @out */
static void put_segment(sl_strbuf *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            sl_strbuf_putc(out, (char)*p);
        else
            sl_strbuf_printf(out, "%%%02X", *p);
    }
}

/* GET @path as a JSON object with a "schema" string; NULL with @err. */
static json_t *get_schema(sl_registry *r, const char *path, long *status, sl_error *err)
{
    sl_strbuf body = SL_STRBUF_INIT;
    int rc = request(r, path, NULL, &body, status, err);
    if (rc) {
        sl_strbuf_free(&body);
        return NULL;
    }
    json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    sl_strbuf_free(&body);
    if (!json_is_string(json_object_get(j, "schema"))) {
        json_decref(j);
        sl_error_set(err, SL_ERR_RETRY, "schema registry answered %s without a \"schema\" string", path);
        return NULL;
    }
    return j;
}

#define MAX_REFS 256 /* bounds a schema's references, transitively */

/* The references of @j (an answer with "references": [{"name", "subject",
 * "version"}]) and theirs, each fetched once by name, appended to e->refs
 * after the ones they reference. */
static int fetch_refs(sl_registry *r, const json_t *j, bool serialized, entry *e, int depth, sl_error *err)
{
    size_t i;
    json_t *ref;
    if (depth > 32)
        return sl_error_set(err, SL_ERR_DATA, "schema references nest deeper than 32");
    json_array_foreach(json_object_get(j, "references"), i, ref) {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *subject = json_string_value(json_object_get(ref, "subject"));
        json_t *version = json_object_get(ref, "version");
        if (!name || !subject || !json_is_integer(version))
            return sl_error_set(err, SL_ERR_DATA, "schema reference %zu lacks a name, subject or version", i);
        bool seen = false;
        for (size_t k = 0; k < e->pub.nrefs && !seen; k++)
            seen = !strcmp(e->refs[k].name, name);
        if (seen)
            continue;
        if (e->pub.nrefs == MAX_REFS)
            return sl_error_set(err, SL_ERR_DATA, "more than %d schema references", MAX_REFS);
        sl_strbuf path = SL_STRBUF_INIT;
        sl_strbuf_puts(&path, "/subjects/");
        put_segment(&path, subject);
        sl_strbuf_printf(&path, "/versions/%" JSON_INTEGER_FORMAT "%s", json_integer_value(version),
                         serialized ? "?format=serialized" : "");
        long status = 0;
        json_t *got = get_schema(r, path.data, &status, err);
        sl_strbuf_free(&path);
        if (!got) {
            sl_error_prefix(err, "reference %s: ", name);
            return -1;
        }
        int rc = fetch_refs(r, got, serialized, e, depth + 1, err);
        if (rc == 0) {
            e->refs = sl_xrealloc(e->refs, (e->pub.nrefs + 1) * sizeof(*e->refs));
            e->refs[e->pub.nrefs].name = sl_xstrdup(name);
            e->refs[e->pub.nrefs].text = sl_xstrdup(json_string_value(json_object_get(got, "schema")));
            e->pub.nrefs++;
        }
        json_decref(got);
        if (rc)
            return -1;
    }
    return 0;
}

/* Fetch and parse one schema; fills e->type, e->text and e->refs.  A
 * Protobuf schema is asked for again as a serialized FileDescriptorProto
 * (Confluent's ?format=serialized; a registry that ignores it answers the
 * same text), and so are its references. */
static int fetch(sl_registry *r, int id, entry *e, sl_error *err)
{
    char path[96];
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    long status = 0;
    json_t *j = get_schema(r, path, &status, err);
    if (!j) {
        if (err && err->kind == SL_ERR_DATA && status == 404)
            sl_error_prefix(err, "unknown schema id %d: ", id);
        return -1;
    }
    const char *type = json_string_value(json_object_get(j, "schemaType"));
    e->type = sl_xstrdup(type ? type : "AVRO");
    bool protobuf = !strcmp(e->type, "PROTOBUF");
    if (protobuf) {
        snprintf(path, sizeof(path), "/schemas/ids/%d?format=serialized", id);
        json_t *ser = get_schema(r, path, &status, err);
        json_decref(j);
        if (!ser)
            return -1;
        j = ser;
    }
    if (fetch_refs(r, j, protobuf, e, 0, err)) {
        sl_error_prefix(err, "schema id %d: ", id);
        json_decref(j);
        return -1;
    }
    e->text = sl_xstrdup(json_string_value(json_object_get(j, "schema")));
    json_decref(j);
    return 0;
}

int sl_registry_get(sl_registry *r, int id, const sl_registry_schema **out, sl_error *err)
{
    pthread_mutex_lock(&r->lock);
    for (;;) {
        entry *e = r->entries;
        while (e && e->pub.id != id)
            e = e->next;
        if (e && e->state == ENTRY_READY) {
            pthread_mutex_unlock(&r->lock);
            *out = &e->pub;
            return 0;
        }
        if (e && e->state == ENTRY_FETCHING) {
            /* someone else is fetching it: wait for the answer */
            e->waiters++;
            while (e->state == ENTRY_FETCHING)
                pthread_cond_wait(&r->done, &r->lock);
            e->waiters--;
            if (e->state == ENTRY_READY)
                continue;
            /* that fetch failed: share its error; the last waiter removes the entry */
            if (err)
                *err = e->failure;
            if (e->waiters == 0) {
                entry **pp = &r->entries;
                while (*pp != e)
                    pp = &(*pp)->next;
                *pp = e->next;
                entry_free(e);
                pthread_cond_broadcast(&r->done); /* for threads that came in meanwhile */
            }
            pthread_mutex_unlock(&r->lock);
            return -1;
        }
        if (e && e->state == ENTRY_FAILED) {
            /* a failed fetch whose waiters have not all woken yet: wait it out */
            pthread_cond_wait(&r->done, &r->lock);
            continue;
        }
        break;
    }
    entry *e = sl_xcalloc(1, sizeof(*e));
    e->pub.id = id;
    e->state = ENTRY_FETCHING;
    e->next = r->entries;
    r->entries = e;
    pthread_mutex_unlock(&r->lock);

    sl_error local;
    sl_error *ep = err ? err : &local;
    sl_error_clear(ep);
    int rc = fetch(r, id, e, ep);

    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
        e->pub.type = e->type;
        e->pub.text = e->text;
        e->pub.refs = e->refs;
        e->state = ENTRY_READY;
        *out = &e->pub;
        log_debug("schema registry", "schema id %d (%s) cached", id, e->type);
    } else if (e->waiters > 0) {
        e->failure = *ep;
        e->state = ENTRY_FAILED;
    } else {
        entry **pp = &r->entries;
        while (*pp != e)
            pp = &(*pp)->next;
        *pp = e->next;
        entry_free(e);
    }
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int sl_registry_put(sl_registry *r, int id, const char *type, const char *text)
{
    pthread_mutex_lock(&r->lock);
    for (entry *e = r->entries; e; e = e->next) {
        if (e->pub.id == id) {
            pthread_mutex_unlock(&r->lock);
            return -1;
        }
    }
    entry *e = sl_xcalloc(1, sizeof(*e));
    e->type = sl_xstrdup(type ? type : "AVRO");
    e->text = sl_xstrdup(text);
    e->pub.id = id;
    e->pub.type = e->type;
    e->pub.text = e->text;
    e->state = ENTRY_READY;
    e->next = r->entries;
    r->entries = e;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int sl_registry_register(sl_registry *r, const char *subject, const char *schema_text, int *id,
                         sl_error *err)
{
    sl_strbuf path = SL_STRBUF_INIT;
    sl_strbuf_puts(&path, "/subjects/");
    put_segment(&path, subject); /* a path segment: percent-encoded */
    sl_strbuf_puts(&path, "/versions");
    json_t *req = json_pack("{s:s}", "schema", schema_text);
    char *post = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    sl_strbuf body = SL_STRBUF_INIT;
    long status;
    int rc = request(r, path.data, post, &body, &status, err);
    free(post);
    sl_strbuf_free(&path);
    if (rc == 0) {
        json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        json_t *jid = j ? json_object_get(j, "id") : NULL;
        if (json_is_integer(jid))
            *id = (int)json_integer_value(jid);
        else
            rc = sl_error_set(err, SL_ERR_DATA, "schema registry: registration answered without an id");
        json_decref(j);
    }
    sl_strbuf_free(&body);
    return rc;
}
