/* direct.c - which table entry a record's direct reader (cells.h) fills:
 * per route, the entries the general path has written, found again from
 * what names the table without decoding the record, and the count of the
 * records that took the general path instead, by reason.
 *
 * A route without a template has one table: the entry the general path
 * last wrote.  A route whose table is a template of ${topic},
 * ${source.db}, ${source.schema} and ${source.table} keeps a bounded map
 * from those values (the topic, and what the format's names() finds in
 * the record) to the entry that the general path expanded them to
 * (tables.c, with the route's name rules): the same values always expand
 * to the same name, so a record goes to the table the general path would
 * give it, never another.  A record whose values the map does not hold yet
 * takes the general path, which finds (or creates) its table and teaches
 * the map.  Other templates, templated routes with transforms, and routes
 * with `explode` take the general path for every record. */
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "worker_int.h"

/* Per route: table names remembered, and the longest key kept (the values
 * that name a table). */
#define DIRECT_TABLES 1024
#define DIRECT_KEY_MAX 1024

typedef enum { DIRECT_NONE, DIRECT_OFF, DIRECT_ONE, DIRECT_TEMPLATE } direct_kind;

typedef struct direct_slot {
    char *key; /* NULL: empty */
    size_t len;
    size_t te; /* w->tables index */
} direct_slot;

struct sl_direct_route {
    direct_kind kind;
    bool topic;                      /* the template names ${topic} */
    bool name[SL_CELLS_NNAMES];      /* ... and these */
    size_t one;                      /* DIRECT_ONE: w->tables index + 1 of its table, 0 none yet */
    direct_slot *slots;              /* DIRECT_TEMPLATE: open addressing, 2 * DIRECT_TABLES */
    size_t n;
    bool full_logged;
    sl_series *taken, *declined[SL_DIRECT_NREASONS];
};

static const char *const reason_label[SL_DIRECT_NREASONS] = {"route", "table", "record"};
static const char *const name_path[SL_CELLS_NNAMES] = {"source.db", "source.schema", "source.table"};

/* What the route's template names, or false when it names anything the
 * direct path cannot find without decoding. */
static bool read_template(struct sl_direct_route *d, const char *tmpl)
{
    for (const char *s = strstr(tmpl, "${"); s; s = strstr(s, "${")) {
        const char *end = strchr(s, '}');
        if (!end)
            return false;
        size_t len = (size_t)(end - s - 2);
        bool known = false;
        if (len == 5 && !memcmp(s + 2, "topic", 5))
            known = d->topic = true;
        for (int k = 0; k < SL_CELLS_NNAMES; k++)
            if (len == strlen(name_path[k]) && !memcmp(s + 2, name_path[k], len))
                known = d->name[k] = true;
        if (!known)
            return false;
        s = end + 1;
    }
    return true;
}

static void route_init(sl_worker *w, size_t i)
{
    const sl_route_conf *r = &w->cfg->routes[i];
    struct sl_direct_route *d = &w->direct[i];
    memset(d, 0, sizeof(*d));
    const sl_format_ops *f = sl_format_lookup(r->format);
    if (!f || !f->cells) {
        d->kind = DIRECT_NONE; /* the format has no direct reader: nothing to count */
        return;
    }
    d->kind = DIRECT_ONE;
    if (strstr(r->table, "${")) {
        bool names = false;
        d->kind = read_template(d, r->table) ? DIRECT_TEMPLATE : DIRECT_OFF;
        for (int k = 0; k < SL_CELLS_NNAMES; k++)
            names = names || d->name[k];
        if (names && !f->cells->names)
            d->kind = DIRECT_OFF;
    }
    /* a chain may change what names the table (the general path expands
     * the template after it); `explode` writes child tables */
    if ((r->chain && d->kind == DIRECT_TEMPLATE) || r->explode)
        d->kind = DIRECT_OFF;
}

void sl_worker_direct_init(sl_worker *w)
{
    w->direct = sl_xcalloc(w->cfg->nroutes ? w->cfg->nroutes : 1, sizeof(*w->direct));
    for (size_t i = 0; i < w->cfg->nroutes; i++)
        route_init(w, i);
}

void sl_worker_direct_fini(sl_worker *w)
{
    if (!w->direct)
        return;
    for (size_t i = 0; i < w->cfg->nroutes; i++) {
        struct sl_direct_route *d = &w->direct[i];
        for (size_t s = 0; d->slots && s < 2 * DIRECT_TABLES; s++)
            free(d->slots[s].key);
        free(d->slots);
    }
    free(w->direct);
    w->direct = NULL;
}

static uint64_t key_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 31);
}

static direct_slot *slot_of(struct sl_direct_route *d, const char *key, size_t len)
{
    size_t mask = 2 * DIRECT_TABLES - 1, i = key_hash(key, len) & mask;
    while (d->slots[i].key && (d->slots[i].len != len || memcmp(d->slots[i].key, key, len)))
        i = (i + 1) & mask;
    return &d->slots[i];
}

static void key_put(sl_strbuf *key, const char *v, size_t n)
{
    sl_strbuf_append(key, v, n);
    sl_strbuf_putc(key, '\0');
}

static void count(sl_worker *w, const sl_route_conf *r, struct sl_direct_route *d, sl_direct_reason why)
{
    if (d->kind == DIRECT_NONE)
        return;
    if (!d->declined[why])
        d->declined[why] = sl_metrics_series(w->rt->metrics, SL_M_DIRECT_DECLINED, r->name, reason_label[why], NULL);
    sl_series_add(d->declined[why], 1);
}

void sl_worker_direct_declined(sl_worker *w, const sl_route_conf *r, sl_direct_reason why)
{
    count(w, r, &w->direct[r - w->cfg->routes], why);
}

void sl_worker_direct_taken(sl_worker *w, const sl_route_conf *r)
{
    struct sl_direct_route *d = &w->direct[r - w->cfg->routes];
    if (!d->taken)
        d->taken = sl_metrics_series(w->rt->metrics, SL_M_DIRECT_TAKEN, r->name, NULL, NULL);
    sl_series_add(d->taken, 1);
}

/* The entry w->tables[@idx - 1] when it is @r's and has a direct reader;
 * else NULL, counted. */
static sl_tentry *usable(sl_worker *w, const sl_route_conf *r, struct sl_direct_route *d, size_t idx)
{
    sl_tentry *te = idx && idx <= w->ntables ? &w->tables[idx - 1] : NULL;
    if (!te || te->route != r) {
        count(w, r, d, SL_DIRECT_TABLE);
        return NULL;
    }
    if (!te->direct) {
        count(w, r, d, SL_DIRECT_ROUTE); /* its mapping needs the general path (cells.h) */
        return NULL;
    }
    return te;
}

sl_tentry *sl_worker_direct_table(sl_worker *w, const sl_route_conf *r, sl_decoder *dec, const sl_record *rec,
                                  const char *topic)
{
    struct sl_direct_route *d = &w->direct[r - w->cfg->routes];
    switch (d->kind) {
    case DIRECT_NONE:
        return NULL;
    case DIRECT_OFF:
        count(w, r, d, SL_DIRECT_ROUTE);
        return NULL;
    case DIRECT_ONE:
        return usable(w, r, d, d->one);
    case DIRECT_TEMPLATE:
        break;
    }
    sl_cells_names names;
    bool any = false;
    for (int k = 0; k < SL_CELLS_NNAMES; k++)
        any = any || d->name[k];
    if (!d->slots || (any && !sl_cells_names_of(dec, rec, &names))) {
        count(w, r, d, d->slots ? SL_DIRECT_RECORD : SL_DIRECT_TABLE);
        return NULL;
    }
    sl_strbuf *key = &w->direct_key;
    sl_strbuf_reset(key);
    if (d->topic)
        key_put(key, topic, strlen(topic));
    for (int k = 0; k < SL_CELLS_NNAMES; k++) {
        if (!d->name[k])
            continue;
        if (!names.v[k] || !names.n[k]) { /* the general path says what is missing */
            count(w, r, d, SL_DIRECT_RECORD);
            return NULL;
        }
        key_put(key, names.v[k], names.n[k]);
    }
    direct_slot *s = slot_of(d, key->data, key->len);
    return usable(w, r, d, s->key ? s->te + 1 : 0);
}

void sl_worker_direct_learn(sl_worker *w, const sl_route_conf *r, const sl_tentry *te, const char *topic,
                            const sl_change *c)
{
    struct sl_direct_route *d = &w->direct[r - w->cfg->routes];
    size_t idx = (size_t)(te - w->tables);
    if (d->kind == DIRECT_ONE) {
        d->one = idx + 1;
        return;
    }
    if (d->kind != DIRECT_TEMPLATE)
        return;
    /* the values the general path expanded, as it read them */
    sl_strbuf *key = &w->direct_key;
    sl_strbuf_reset(key);
    if (d->topic)
        key_put(key, topic, strlen(topic));
    const json_t *source = json_object_get(c->meta, "source");
    for (int k = 0; k < SL_CELLS_NNAMES; k++) {
        if (!d->name[k])
            continue;
        const json_t *v = json_object_get(source, name_path[k] + 7);
        if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
            return;
        key_put(key, json_string_value(v), json_string_length(v));
    }
    if (key->len > DIRECT_KEY_MAX)
        return;
    if (!d->slots)
        d->slots = sl_xcalloc(2 * DIRECT_TABLES, sizeof(*d->slots));
    direct_slot *s = slot_of(d, key->data, key->len);
    if (s->key) {
        s->te = idx;
        return;
    }
    if (d->n >= DIRECT_TABLES) {
        if (!d->full_logged)
            log_info(r->name, "more than %d tables: the records of the others take the general path",
                     DIRECT_TABLES);
        d->full_logged = true;
        return;
    }
    s->key = sl_xmalloc(key->len);
    memcpy(s->key, key->data, key->len);
    s->len = key->len;
    s->te = idx;
    d->n++;
}
