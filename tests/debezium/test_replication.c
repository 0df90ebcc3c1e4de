/* test_replication.c - sluice as a replication target.  A generator applies
 * random inserts, updates (key changes and unchanged-TOAST columns among
 * them), deletes and truncates to an in-memory model of three source tables
 * with rich types, and emits for each change the events the Debezium
 * PostgreSQL connector emits (JSON with and without the Connect schema,
 * mixed), keyed by primary key over several partitions.  One sluice route
 * with a topic_pattern names each target table from the event
 * (`${source.table}`), and reads the upserts under a kept schema with its
 * direct reader.  Afterwards every target table must equal the model,
 * value for value: the model is loaded into twin tables through PostgreSQL's
 * own arithmetic on the raw numbers and compared with EXCEPT ALL both ways.
 *
 * Seeds 1..3 run in CI; SLUICE_DBZ_SEEDS=N runs seeds 1..N instead.  One
 * more run kills the daemon with SIGKILL in the middle and restarts it.
 *
 * Truncates go only to the single-partition topic: a truncate event has no
 * key, so Debezium cannot order it against rows of other partitions
 * (Debezium PostgreSQL connector documentation, "truncate events"). */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scenario.h"
#include "support.h"

#define PLACEHOLDER "__debezium_unavailable_value"

typedef enum { K_INT8, K_INT4, K_TEXT, K_NUM4, K_NUM2, K_DATE, K_TS, K_TSTZ, K_TIME, K_JSON, K_UUID, K_BYTEA } kind;

typedef struct coldef {
    const char *name;
    kind k;
    bool key;
    bool toast; /* may arrive as the unchanged-TOAST placeholder */
} coldef;

typedef struct cell {
    bool null;
    int64_t i;
    char *s; /* text, JSON text, uuid, bytes as hex */
} cell;

typedef struct tabledef {
    const char *name;
    const coldef *cols;
    int ncols;
    int nslots;     /* distinct keys */
    int partitions;
    bool truncates;
    /* state */
    bool *present;
    cell *rows;     /* nslots * ncols */
    char *topic;
    json_t *key_schema, *env_schema;
} tabledef;

static const coldef accounts_cols[] = {
    {"id", K_INT8, true, false},    {"name", K_TEXT, false, false}, {"amount", K_NUM4, false, false},
    {"big", K_INT8, false, false},  {"born", K_DATE, false, false}, {"at", K_TS, false, false},
    {"atz", K_TSTZ, false, false},  {"t", K_TIME, false, false},    {"doc", K_JSON, false, true},
    {"uid", K_UUID, false, false},  {"blob", K_BYTEA, false, true},
};
static const coldef items_cols[] = {
    {"a", K_INT4, true, false}, {"b", K_TEXT, true, false}, {"qty", K_INT4, false, false},
    {"price", K_NUM2, false, false}, {"note", K_TEXT, false, true},
};
static const coldef events_cols[] = {
    {"id", K_INT4, true, false}, {"payload", K_JSON, false, false}, {"at", K_TSTZ, false, false},
};

static const char tables_sql[] =
    "CREATE TABLE accounts (id bigint PRIMARY KEY, name text, amount numeric(20,4), big bigint, born date,"
    "  at timestamp(6), atz timestamptz, t time, doc jsonb, uid uuid, blob bytea);"
    "CREATE TABLE items (a int, b text, qty int, price numeric(10,2), note text, PRIMARY KEY (a, b));"
    "CREATE TABLE events (id int PRIMARY KEY, payload jsonb, at timestamptz);"
    "CREATE TABLE exp_accounts (LIKE accounts); CREATE TABLE exp_items (LIKE items);"
    "CREATE TABLE exp_events (LIKE events)";

/* ---- randomness ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static bool chance(int pct)
{
    return (int)(rnd() % 100) < pct;
}

static const char *const words[] = {
    "plain", "O'Brien", "say \"hi\"", "back\\slash", "tab\there", "new\nline", "Zürich", "日本語",
    "emoji 😀", "", "semi;colon", "comma, too", "{braces}", "per%cent", "ǅ ligature",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static char *rnd_text(void)
{
    char buf[256] = "";
    int n = (int)rnd_range(1, 3);
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, words[rnd() % NWORDS]);
    }
    return strdup(buf);
}

static char *rnd_json(void)
{
    switch (rnd() % 6) {
    case 0:
        return strdup("null"); /* the JSON literal, not SQL NULL */
    case 1:
        return strdup("[1, 2.5, \"x\", true, null]");
    case 2: {
        json_t *o = json_pack("{s:s, s:I, s:[i,i], s:{s:b}}", "w", words[rnd() % NWORDS], "n",
                              (json_int_t)rnd_range(-1000000000000LL, 1000000000000LL), "arr", 1, 2, "nested",
                              "ok", (int)(rnd() % 2));
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
    }
    case 3:
        return strdup("\"a JSON string\"");
    case 4:
        return strdup("{}");
    default: {
        char buf[64];
        snprintf(buf, sizeof(buf), "{\"k\": %" PRId64 "}", rnd_range(-99999, 99999));
        return strdup(buf);
    }
    }
}

static char *rnd_uuid(void)
{
    char buf[40];
    uint64_t a = rnd(), b = rnd();
    snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
    return strdup(buf);
}

static char *rnd_hex(void)
{
    int n = (int)rnd_range(0, 24);
    char *s = malloc((size_t)n * 2 + 1);
    for (int i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", (unsigned)(rnd() & 0xff));
    s[2 * n] = '\0';
    return s;
}

static const int64_t int8_pool[] = {INT64_MAX, INT64_MIN, 0, -1, 1, 9007199254740993LL, -9007199254740993LL,
                                    INT64_MAX - 1, INT64_MIN + 1};

static void rnd_cell(cell *c, kind k, bool nullable)
{
    free(c->s);
    memset(c, 0, sizeof(*c));
    if (nullable && chance(10)) {
        c->null = true;
        return;
    }
    switch (k) {
    case K_INT8:
        c->i = chance(30) ? int8_pool[rnd() % 9] : (int64_t)rnd();
        break;
    case K_INT4:
        c->i = rnd_range(INT32_MIN, INT32_MAX);
        break;
    case K_NUM4:
        c->i = rnd_range(-999999999999999LL, 999999999999999LL); /* unscaled, scale 4 */
        break;
    case K_NUM2:
        c->i = rnd_range(-99999999LL, 99999999LL); /* numeric(10,2) */
        break;
    case K_DATE:
        c->i = rnd_range(-40000, 40000);
        break;
    case K_TS:
    case K_TSTZ:
        c->i = rnd_range(-2208988800000000LL, 4102444800000000LL); /* 1900 .. 2100 */
        break;
    case K_TIME:
        c->i = rnd_range(0, 86399999999LL);
        break;
    case K_TEXT:
        c->s = rnd_text();
        break;
    case K_JSON:
        c->s = rnd_json();
        break;
    case K_UUID:
        c->s = rnd_uuid();
        break;
    case K_BYTEA:
        c->s = rnd_hex();
        break;
    }
}

/* ---- encodings ---- */

static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

/* ZonedTimestamp text, as Debezium writes it for a timestamptz. */
static json_t *zoned(int64_t us)
{
    int64_t days = us / 86400000000LL - (us % 86400000000LL < 0);
    int64_t rem = us - days * 86400000000LL, y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    char buf[64];
    snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06dZ", y, m, d, (int)(rem / 3600000000LL),
             (int)(rem / 60000000 % 60), (int)(rem / 1000000 % 60), (int)(rem % 1000000));
    return json_string(buf);
}

static char *base64(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Connect Decimal: the unscaled value's bytes (ts_decimal_base64()). */
static json_t *decimal_b64(int64_t v)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    ts_decimal_base64(&sb, v);
    json_t *j = json_string(sb.data);
    sl_strbuf_free(&sb);
    return j;
}

static json_t *decimal_text(int64_t v, int scale)
{
    char buf[48];
    int64_t p = scale == 4 ? 10000 : 100;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", mag / (uint64_t)p, scale,
             mag % (uint64_t)p);
    return json_string(buf);
}

static json_t *bytes_b64(const char *hex)
{
    size_t n = strlen(hex) / 2;
    unsigned char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(hex + 2 * i, "%2x", &x);
        b[i] = (unsigned char)x;
    }
    char *t = base64(b, n);
    json_t *j = json_string(t);
    free(t);
    free(b);
    return j;
}

static json_t *encode(const coldef *cd, const cell *c, bool schema)
{
    if (c->null)
        return json_null();
    switch (cd->k) {
    case K_INT8:
    case K_INT4:
    case K_DATE:
    case K_TS:
    case K_TIME:
        return json_integer(c->i);
    case K_NUM4:
    case K_NUM2: /* decimal.handling.mode: precise under a schema, string without */
        return schema ? decimal_b64(c->i) : decimal_text(c->i, cd->k == K_NUM4 ? 4 : 2);
    case K_TSTZ:
        return zoned(c->i);
    case K_BYTEA:
        return bytes_b64(c->s);
    case K_TEXT:
    case K_JSON:
    case K_UUID:
        return json_string(c->s);
    }
    return json_null();
}

static json_t *col_schema(const coldef *cd)
{
    json_t *s;
    switch (cd->k) {
    case K_INT8: s = json_pack("{s:s}", "type", "int64"); break;
    case K_INT4: s = json_pack("{s:s}", "type", "int32"); break;
    case K_TEXT: s = json_pack("{s:s}", "type", "string"); break;
    case K_NUM4:
    case K_NUM2:
        s = json_pack("{s:s, s:s, s:i, s:{s:s, s:s}}", "type", "bytes", "name", "org.apache.kafka.connect.data.Decimal",
                      "version", 1, "parameters", "scale", cd->k == K_NUM4 ? "4" : "2", "connect.decimal.precision",
                      cd->k == K_NUM4 ? "20" : "10");
        break;
    case K_DATE: s = json_pack("{s:s, s:s, s:i}", "type", "int32", "name", "io.debezium.time.Date", "version", 1); break;
    case K_TS: s = json_pack("{s:s, s:s, s:i}", "type", "int64", "name", "io.debezium.time.MicroTimestamp", "version", 1); break;
    case K_TSTZ: s = json_pack("{s:s, s:s, s:i}", "type", "string", "name", "io.debezium.time.ZonedTimestamp", "version", 1); break;
    case K_TIME: s = json_pack("{s:s, s:s, s:i}", "type", "int64", "name", "io.debezium.time.MicroTime", "version", 1); break;
    case K_JSON: s = json_pack("{s:s, s:s, s:i}", "type", "string", "name", "io.debezium.data.Json", "version", 1); break;
    case K_UUID: s = json_pack("{s:s, s:s, s:i}", "type", "string", "name", "io.debezium.data.Uuid", "version", 1); break;
    case K_BYTEA: s = json_pack("{s:s}", "type", "bytes"); break;
    default: s = json_object();
    }
    json_object_set_new(s, "optional", json_boolean(!cd->key));
    json_object_set_new(s, "field", json_string(cd->name));
    return s;
}

static void build_schemas(tabledef *t, const char *prefix)
{
    json_t *kf = json_array(), *vf = json_array();
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols[i].key)
            json_array_append_new(kf, col_schema(&t->cols[i]));
        json_array_append_new(vf, col_schema(&t->cols[i]));
    }
    char name[256];
    snprintf(name, sizeof(name), "%s.public.%s.Key", prefix, t->name);
    t->key_schema = json_pack("{s:s, s:s, s:b, s:o}", "type", "struct", "name", name, "optional", 0, "fields", kf);
    snprintf(name, sizeof(name), "%s.public.%s.Value", prefix, t->name);
    json_t *before = json_pack("{s:s, s:s, s:b, s:s, s:O}", "type", "struct", "name", name, "optional", 1, "field",
                               "before", "fields", vf);
    json_t *after = json_pack("{s:s, s:s, s:b, s:s, s:o}", "type", "struct", "name", name, "optional", 1, "field",
                              "after", "fields", vf);
    json_t *source = json_pack("{s:s, s:s, s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}",
                               "type", "struct", "name", "io.debezium.connector.postgresql.Source", "field", "source",
                               "fields", "type", "string", "field", "connector", "type", "string", "field", "name",
                               "type", "int64", "field", "ts_ms", "type", "string", "field", "schema", "type",
                               "string", "field", "table", "type", "int64", "field", "lsn");
    snprintf(name, sizeof(name), "%s.public.%s.Envelope", prefix, t->name);
    t->env_schema = json_pack("{s:s, s:s, s:b, s:[o,o,o,{s:s,s:s},{s:s,s:s,s:b}]}", "type", "struct", "name", name,
                              "optional", 0, "fields", before, after, source, "type", "string", "field", "op", "type",
                              "int64", "field", "ts_ms", "optional", 1);
}

/* ---- events ---- */

typedef struct gen {
    tabledef *t;
    int ntables;
    const char *prefix;
    int64_t lsn;
    int64_t produced;
} gen;

static cell *row(tabledef *t, int slot)
{
    return &t->rows[(size_t)slot * (size_t)t->ncols];
}

/* The key columns of a slot are a function of the slot. */
static void set_key(tabledef *t, int slot)
{
    cell *r = row(t, slot);
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key)
            continue;
        free(r[i].s);
        memset(&r[i], 0, sizeof(r[i]));
        if (t->cols[i].k == K_INT8)
            r[i].i = slot < 9 ? int8_pool[slot] : (int64_t)(slot * 7919LL - 1000000007LL) * 1000003LL;
        else if (t->cols[i].k == K_INT4)
            r[i].i = t->ncols == 5 ? slot / (int)NWORDS : slot - 50; /* items: a; events: id */
        else
            r[i].s = strdup(words[slot % NWORDS]);
    }
}

static json_t *key_payload(tabledef *t, int slot)
{
    json_t *o = json_object();
    cell *r = row(t, slot);
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].key)
            json_object_set_new(o, t->cols[i].name, encode(&t->cols[i], &r[i], false));
    return o;
}

static int partition_of(tabledef *t, json_t *kp)
{
    char *s = json_dumps(kp, JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t h = 2166136261u;
    for (char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    free(s);
    return (int)(h % (uint32_t)t->partitions);
}

/* @after_toast: columns to send as the placeholder (bit per column). */
static json_t *row_json(tabledef *t, int slot, bool keys_only, uint32_t placeholder, bool schema)
{
    json_t *o = json_object();
    cell *r = row(t, slot);
    for (int i = 0; i < t->ncols; i++) {
        if (keys_only && !t->cols[i].key)
            continue;
        if (placeholder & (1u << i)) {
            if (t->cols[i].k == K_BYTEA) {
                char *b = base64((const unsigned char *)PLACEHOLDER, strlen(PLACEHOLDER));
                json_object_set_new(o, t->cols[i].name, json_string(b));
                free(b);
            } else {
                json_object_set_new(o, t->cols[i].name, json_string(PLACEHOLDER));
            }
            continue;
        }
        json_object_set_new(o, t->cols[i].name, encode(&t->cols[i], &r[i], schema));
    }
    return o;
}

static void emit(gen *g, tabledef *t, int slot, const char *op, json_t *before, json_t *after, bool schema)
{
    json_t *payload = json_pack("{s:o, s:o, s:{s:s, s:s, s:I, s:s, s:s, s:I}, s:s, s:I}", "before",
                                before ? before : json_null(), "after", after ? after : json_null(), "source",
                                "connector", "postgresql", "name", g->prefix, "ts_ms", (json_int_t)1700000000000LL,
                                "schema", "public", "table", t->name, "lsn", (json_int_t)++g->lsn, "op", op, "ts_ms",
                                (json_int_t)1700000000001LL);
    json_t *value = schema ? json_pack("{s:O, s:o}", "schema", t->env_schema, "payload", payload) : payload;
    char *v = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (slot < 0) { /* truncate: no key, one partition */
        ts_produce(t->topic, 0, NULL, 0, v, strlen(v));
    } else {
        json_t *kp = key_payload(t, slot);
        int part = partition_of(t, kp);
        json_t *key = schema ? json_pack("{s:O, s:o}", "schema", t->key_schema, "payload", kp) : kp;
        char *k = json_dumps(key, JSON_COMPACT);
        json_decref(key);
        ts_produce(t->topic, part, k, strlen(k), v, strlen(v));
        if (!strcmp(op, "d") && chance(80)) /* tombstones.on.delete (mostly on) */
            ts_produce(t->topic, part, k, strlen(k), NULL, 0);
        free(k);
    }
    free(v);
    g->produced++;
}

static int pick(tabledef *t, bool present)
{
    int n = 0;
    for (int i = 0; i < t->nslots; i++)
        n += t->present[i] == present;
    if (!n)
        return -1;
    int k = (int)(rnd() % (uint64_t)n);
    for (int i = 0; i < t->nslots; i++)
        if (t->present[i] == present && k-- == 0)
            return i;
    return -1;
}

static void fill_values(tabledef *t, int slot)
{
    cell *r = row(t, slot);
    for (int i = 0; i < t->ncols; i++)
        if (!t->cols[i].key)
            rnd_cell(&r[i], t->cols[i].k, true);
}

static void step(gen *g, bool snapshot)
{
    tabledef *t = &g->t[rnd() % (uint64_t)g->ntables];
    bool schema = chance(50);
    int r = (int)(rnd() % 100);
    if (t->truncates && r < 2 && !snapshot) {
        memset(t->present, 0, (size_t)t->nslots * sizeof(bool));
        emit(g, t, -1, "t", NULL, NULL, schema);
        return;
    }
    if (r < 40 || snapshot) { /* insert */
        int s = pick(t, false);
        if (s < 0)
            return;
        set_key(t, s);
        fill_values(t, s);
        t->present[s] = true;
        emit(g, t, s, snapshot ? "r" : "c", NULL, row_json(t, s, false, 0, schema), schema);
        return;
    }
    int s = pick(t, true);
    if (s < 0)
        return;
    if (r < 80) { /* update */
        int to = t->cols[0].key && t->ncols > 3 && chance(15) ? pick(t, false) : -1;
        if (to >= 0) { /* primary key change: delete of the old key, create of the new one */
            emit(g, t, s, "d", row_json(t, s, true, 0, schema), NULL, schema);
            set_key(t, to);
            cell *src = row(t, s), *dst = row(t, to);
            for (int i = 0; i < t->ncols; i++) {
                if (t->cols[i].key)
                    continue;
                free(dst[i].s);
                dst[i] = src[i];
                memset(&src[i], 0, sizeof(src[i]));
                if (chance(50))
                    rnd_cell(&dst[i], t->cols[i].k, true);
            }
            t->present[s] = false;
            t->present[to] = true;
            emit(g, t, to, "c", NULL, row_json(t, to, false, 0, schema), schema);
            return;
        }
        cell *rw = row(t, s);
        uint32_t placeholder = 0;
        for (int i = 0; i < t->ncols; i++) {
            if (t->cols[i].key)
                continue;
            if (t->cols[i].toast && !rw[i].null && chance(40))
                placeholder |= 1u << i; /* unchanged, TOASTed: not in the event */
            else if (chance(60))
                rnd_cell(&rw[i], t->cols[i].k, true);
        }
        emit(g, t, s, "u", NULL, row_json(t, s, false, placeholder, schema), schema);
        return;
    }
    /* delete: `before` holds only the key (REPLICA IDENTITY DEFAULT) */
    emit(g, t, s, "d", row_json(t, s, true, 0, schema), NULL, schema);
    t->present[s] = false;
}

/* ---- comparison ---- */

static void load_expected(PGconn *c, tabledef *t)
{
    char sql[2048], exprs[1536] = "";
    for (int i = 0; i < t->ncols; i++) {
        static const char *const fmt[] = {
            [K_INT8] = "$%d::bigint", [K_INT4] = "$%d::int", [K_TEXT] = "$%d",
            [K_NUM4] = "$%d::numeric / 10000", [K_NUM2] = "$%d::numeric / 100",
            [K_DATE] = "date '1970-01-01' + $%d::int",
            [K_TS] = "timestamp 'epoch' + $%d::bigint * interval '1 microsecond'",
            [K_TSTZ] = "timestamptz 'epoch' + $%d::bigint * interval '1 microsecond'",
            [K_TIME] = "time '00:00' + $%d::bigint * interval '1 microsecond'",
            [K_JSON] = "$%d::jsonb", [K_UUID] = "$%d::uuid", [K_BYTEA] = "decode($%d, 'hex')",
        };
        char one[128];
        snprintf(one, sizeof(one), fmt[t->cols[i].k], i + 1);
        if (i)
            strcat(exprs, ", ");
        strcat(exprs, one);
    }
    snprintf(sql, sizeof(sql), "INSERT INTO \"exp_%s\" VALUES (%s)", t->name, exprs);
    char trunc[128];
    snprintf(trunc, sizeof(trunc), "TRUNCATE \"exp_%s\"", t->name);
    ts_pg_exec(c, trunc, NULL);
    for (int s = 0; s < t->nslots; s++) {
        if (!t->present[s])
            continue;
        cell *r = row(t, s);
        const char *vals[16];
        char nums[16][32];
        for (int i = 0; i < t->ncols; i++) {
            if (r[i].null) {
                vals[i] = NULL;
            } else if (r[i].s) {
                vals[i] = r[i].s;
            } else {
                snprintf(nums[i], sizeof(nums[i]), "%" PRId64, r[i].i);
                vals[i] = nums[i];
            }
        }
        PGresult *res = PQexecParams(c, sql, t->ncols, NULL, vals, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
        PQclear(res);
    }
}

static void assert_equal(PGconn *c, tabledef *t, const char *log)
{
    load_expected(c, t);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(d, E'\\n') FROM (SELECT * FROM ("
             "(SELECT 'missing or different: ' || x::text FROM (SELECT * FROM \"exp_%s\" EXCEPT ALL SELECT * FROM \"%s\") x)"
             " UNION ALL "
             "(SELECT 'unexpected: ' || y::text FROM (SELECT * FROM \"%s\" EXCEPT ALL SELECT * FROM \"exp_%s\") y)"
             ") z(d) ORDER BY d LIMIT 10) w",
             t->name, t->name, t->name, t->name);
    char *diff = ts_pg_text(c, sql, NULL);
    if (diff) {
        char *tail = sc_log_tail(log, 2500);
        ck_abort_msg("table %s differs from the model:\n%s\nlog tail:\n%s", t->name, diff, tail);
    }
    char cnt[256];
    snprintf(cnt, sizeof(cnt), "SELECT count(*) FROM \"%s\"", t->name);
    int64_t n = ts_pg_int(c, cnt, NULL), want = 0;
    for (int s = 0; s < t->nslots; s++)
        want += t->present[s];
    ck_assert_int_eq(n, want);
}

/* ---- one run ---- */

static void wait_all(gen *g, const char *group, const char *log)
{
    ts_flush();
    for (int i = 0; i < g->ntables; i++)
        sc_wait_committed(group, g->t[i].topic, g->t[i].partitions, 180000, log);
}

static bool any_progress(void *arg)
{
    const char **a = arg; /* group, topic */
    for (int p = 0; p < 4; p++)
        if (ts_kafka_committed(a[0], a[1], p) > 0)
            return true;
    return false;
}

static void run(uint64_t seed, int nsteps, bool crash)
{
    rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    ts_kafka_start(1);
    PGconn *c = ts_pg_connect();
    char *schema = ts_pg_fresh_schema(c, "dbz_repl");
    ts_pg_exec(c, tables_sql, NULL);

    tabledef tables[] = {
        {"accounts", accounts_cols, 11, 120, 4, false, NULL, NULL, NULL, NULL, NULL},
        {"items", items_cols, 5, 4 * (int)NWORDS, 4, false, NULL, NULL, NULL, NULL, NULL},
        {"events", events_cols, 3, 60, 1, true, NULL, NULL, NULL, NULL, NULL},
    };
    char *prefix = ts_unique_name("srv");
    gen g = {tables, 3, prefix, 1000, 0};
    for (int i = 0; i < 3; i++) {
        tabledef *t = &tables[i];
        t->present = calloc((size_t)t->nslots, sizeof(bool));
        t->rows = calloc((size_t)t->nslots * (size_t)t->ncols, sizeof(cell));
        ck_assert(asprintf(&t->topic, "%s.public.%s", prefix, t->name) > 0);
        ts_kafka_create_topic(t->topic, t->partitions);
        build_schemas(t, prefix);
    }

    char *group = ts_unique_name("dbz_repl");
    char *dir = ts_tempdir("dbz_repl");
    char *kafka = sc_kafka_yaml(group);
    int port = ts_free_port();
    char *config = ts_write_file(dir, "sluice.yaml",
                                 "%s"
                                 "admin:\n  listen: 127.0.0.1:%d\n"
                                 "targets:\n"
                                 "  pg:\n"
                                 "    type: postgresql\n"
                                 "    dsn: \"${SLUICE_TEST_DSN}\"\n"
                                 "routes:\n"
                                 "  - name: repl\n"
                                 "    topic_pattern: '^%s\\.public\\..*'\n"
                                 "    target: pg\n"
                                 "    table: %s.${source.table}\n"
                                 "    format: debezium\n"
                                 "    epoch_unit: us\n"
                                 "batch:\n"
                                 "  max_rows: %d\n"
                                 "  linger_ms: 10\n",
                                 kafka, port, prefix, schema, crash ? 20 : 200);
    char *log = ts_write_file(dir, "sluice.log", "%s", "");

    /* a snapshot, then the stream */
    for (int i = 0; i < 60; i++)
        step(&g, true);
    int first = crash ? nsteps / 2 : nsteps;
    for (int i = 0; i < first; i++)
        step(&g, false);
    ts_flush();
    ts_daemon *d = ts_daemon_start(config, log);
    if (crash) {
        const char *a[2] = {group, tables[0].topic};
        ck_assert_msg(ts_wait_until(any_progress, a, 120000), "no progress before the kill");
        ts_daemon_signal(d, SIGKILL);
        ck_assert(ts_daemon_wait(d, 30000));
        ts_daemon_free(d);
        for (int i = first; i < nsteps; i++)
            step(&g, false);
        ts_flush();
        d = ts_daemon_start(config, log);
    }
    wait_all(&g, group, log);
    for (int i = 0; i < 3; i++)
        assert_equal(c, &tables[i], log);
    /* the upserts under a schema already checked went into the cells
     * directly, each to the table its ${source.table} names */
    double direct = ts_scrape(port, "sluice_direct_records_total{route=\"repl\"}");
    ck_assert_msg(direct > 0, "no record took the direct reader: %g", direct);
    int code = ts_daemon_stop(d, 60000);
    ck_assert_msg(code == 0, "sluice exited with %d", code);
    ts_daemon_free(d);

    for (int i = 0; i < 3; i++) {
        tabledef *t = &tables[i];
        for (int k = 0; k < t->nslots * t->ncols; k++)
            free(t->rows[k].s);
        free(t->rows);
        free(t->present);
        free(t->topic);
        json_decref(t->key_schema);
        json_decref(t->env_schema);
    }
    free(prefix);
    free(group);
    free(dir);
    free(kafka);
    free(config);
    free(log);
    free(schema);
    PQfinish(c);
    ts_kafka_stop();
}

START_TEST(replicate_seeds)
{
    const char *env = getenv("SLUICE_DBZ_SEEDS");
    int n = env ? atoi(env) : 3;
    for (int s = 1; s <= n; s++)
        run((uint64_t)s, 1500, false);
}
END_TEST

START_TEST(replicate_with_kill_and_restart)
{
    run(4242, 3000, true);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {replicate_seeds, replicate_with_kill_and_restart};
    return sc_main("debezium replication", tests, 2);
}
