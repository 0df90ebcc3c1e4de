/* bench-kafka - the Kafka side of sluice's benchmark.
 *
 * Starts librdkafka's mock cluster in this process (or, with --bootstrap,
 * uses a running Kafka cluster such as tests/support/kafka.sh starts), creates one
 * topic and produces a reproducible workload into it (lz4-compressed, keyed by id),
 * as JSON or, with --avro ID, as Avro in Confluent's wire format, or with
 * --debezium as Debezium change events (JsonConverter with schemas),
 * then checks with the low and high watermarks that every record is still
 * there (the mock cluster keeps at most 5 MiB per partition and silently
 * drops older data).  It prints
 *
 *   librdkafka=VERSION
 *   produced=N bytes=B partitions=P
 *   bootstrap=HOST:PORT
 *
 * and serves until SIGTERM/SIGINT or end of standard input.  While serving,
 * a line "rate R SECONDS" on standard input produces R records per second
 * for SECONDS seconds with fresh ids, the produce time embedded in the
 * record's "ts" field (microseconds), and answers "steady first_id=F count=N".
 *
 * Record i of the workload (0-based) has
 *   id     the i-th id of a permutation of 1..D for i < D (so every id
 *          appears), a pseudo-random id in 1..D afterwards (so keys repeat);
 *   device "dev-<id>-<region>", ts 2024-01-01 + i ms, temp in -10.0..49.9,
 *   ok a pseudo-random boolean, and with --columns C > 5 the extra columns
 *   c05..c<C-1> cycling through bigint, text, double and boolean.
 *
 * --avro ID encodes each value as the magic byte 0, ID as 4 big-endian bytes
 * and the Avro binary encoding of the record under the schema --avro-schema
 * prints (id long, device string, ts timestamp-micros, temp double, ok
 * boolean, extra columns long/string/double/boolean): the same values as the
 * JSON, so the same final table.  The caller registers that schema and passes
 * the id it got; this program does not talk to a registry.
 *
 * --protobuf ID encodes each value in Confluent's wire format for Protobuf
 * (magic byte 0, ID as 4 big-endian bytes, message index [0] as the single
 * byte 0) and the Protobuf encoding of the message --protobuf-schema prints
 * (.proto text: id int64, device string, ts google.protobuf.Timestamp, temp
 * double, ok bool, extra columns int64/string/double/bool), written here by
 * the encoding rules (varints, length-delimited fields, little-endian
 * doubles); the same values, so the same final table.
 *
 * --debezium writes each record as the change event Debezium's PostgreSQL
 * connector sends for a row of that table under JsonConverter with
 * schemas.enable=true: {"schema": the envelope's Connect schema (about 2 KB,
 * the same in every event), "payload": {"before": null, "after": the row,
 * "source": {...}, "op": "c" for an id's first record, "u" after it, ...}},
 * keyed by the Connect JSON key {"schema": ..., "payload": {"id": ...}}; ts
 * is an io.debezium.time.ZonedTimestamp string.  The same final table.
 *
 * --csv FILE writes every record as decoded CSV (columns, then partition and
 * offset) for loading with COPY; --expected FILE writes the final state of
 * the table (last record per id, ordered by id) in the canonical form the
 * benchmark compares against (timestamps in epoch ms, doubles times 10).
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <avro.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BASE_MS 1704067200000LL /* 2024-01-01T00:00:00Z */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench-kafka: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

typedef struct opts {
    long long records;
    long long distinct;
    int columns;
    int partitions;
    const char *topic;
    const char *csv;
    const char *expected;
    uint64_t seed;
    long long avro_id; /* schema id for Avro values; -1: JSON */
    long long protobuf_id; /* schema id for Protobuf values; -1: not Protobuf */
    bool debezium;     /* Debezium change events (JsonConverter, schemas.enable=true) */
} opts;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* One decoded record, enough to print it as JSON, CSV or canonical form. */
typedef struct rec {
    long long id;
    long long ts_us;   /* microseconds since the epoch */
    int temp10;        /* temperature times 10 */
    bool ok;
    uint64_t r;        /* drives the extra columns */
} rec;

static const char *const regions[] = {"eu-west", "eu-north", "us-east", "us-west", "ap-south", "sa-east"};

/* Multiplier coprime to @d for the id permutation. */
static long long coprime_step(long long d)
{
    long long p = 7919;
    for (;;) {
        long long a = p, b = d;
        while (b) {
            long long t = a % b;
            a = b;
            b = t;
        }
        if (a == 1)
            return p % d ? p % d : 1;
        p += 2;
    }
}

static void make_rec(const opts *o, long long step, long long i, rec *r)
{
    uint64_t h = mix(o->seed ^ (uint64_t)i);
    if (i < o->distinct)
        r->id = (i * step) % o->distinct + 1;
    else
        r->id = (long long)(h % (uint64_t)o->distinct) + 1;
    r->ts_us = (BASE_MS + i) * 1000;
    h = mix(h);
    r->temp10 = (int)(h % 600) - 100;
    r->ok = (h >> 20) & 1;
    r->r = mix(h);
}

static void fmt_ts(char *out, size_t n, long long us)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    long long frac = us % 1000000;
    if (frac % 1000 == 0)
        snprintf(out + len, n - len, ".%03lldZ", frac / 1000);
    else
        snprintf(out + len, n - len, ".%06lldZ", frac);
}

static void fmt_temp(char *out, size_t n, int t10)
{
    snprintf(out, n, "%s%d.%d", t10 < 0 ? "-" : "", abs(t10) / 10, abs(t10) % 10);
}

/* Extra column c (5 <= c < columns): kind c % 4: 0 bigint, 1 text, 2 double, 3 boolean. */
static long long extra_int(const rec *r, int c) { return (long long)(mix(r->r + (uint64_t)c) % 1000000); }

static int json_rec(const opts *o, const rec *r, char *buf, size_t n)
{
    char ts[40], temp[16];
    fmt_ts(ts, sizeof ts, r->ts_us);
    fmt_temp(temp, sizeof temp, r->temp10);
    int len = snprintf(buf, n, "{\"id\":%lld,\"device\":\"dev-%05lld-%s\",\"ts\":\"%s\",\"temp\":%s,\"ok\":%s",
                       r->id, r->id % 100000, regions[r->id % 6], ts, temp, r->ok ? "true" : "false");
    for (int c = 5; c < o->columns; c++) {
        long long v = extra_int(r, c);
        switch (c % 4) {
        case 0: len += snprintf(buf + len, n - len, ",\"c%02d\":%lld", c, v); break;
        case 1: len += snprintf(buf + len, n - len, ",\"c%02d\":\"v%lld\"", c, v); break;
        case 2: len += snprintf(buf + len, n - len, ",\"c%02d\":%lld.%lld", c, v / 10, v % 10); break;
        default: len += snprintf(buf + len, n - len, ",\"c%02d\":%s", c, v & 1 ? "true" : "false"); break;
        }
    }
    len += snprintf(buf + len, n - len, "}");
    return len;
}

/* ---- Avro ---- */

/* Avro type of extra column c, by c % 4 as in json_rec(). */
static const char *const extra_avro_type[] = {"long", "string", "double", "boolean"};

/* The value schema for @columns columns, in the order of json_rec().  ts is
 * timestamp-micros because sluice maps it to timestamptz exactly; temp is a
 * double as in the table (the JSON's one decimal digit parses to the same
 * double as temp10 / 10.0, both being the nearest double to the decimal). */
static char *avro_schema_json(int columns)
{
    size_t n = 512 + (size_t)columns * 64;
    char *s = malloc(n);
    if (!s)
        die("out of memory");
    int len = snprintf(s, n,
                       "{\"type\":\"record\",\"name\":\"Reading\",\"namespace\":\"sluice.bench\",\"fields\":["
                       "{\"name\":\"id\",\"type\":\"long\"},"
                       "{\"name\":\"device\",\"type\":\"string\"},"
                       "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
                       "{\"name\":\"temp\",\"type\":\"double\"},"
                       "{\"name\":\"ok\",\"type\":\"boolean\"}");
    for (int c = 5; c < columns; c++)
        len += snprintf(s + len, n - (size_t)len, ",{\"name\":\"c%02d\",\"type\":\"%s\"}", c,
                        extra_avro_type[c % 4]);
    snprintf(s + len, n - (size_t)len, "]}");
    return s;
}

/* One generic record reused for every datum, and a memory writer pointed at
 * each output buffer in turn: nothing is allocated per record but the
 * strings avro-c copies into the value. */
typedef struct avro_enc {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    avro_writer_t writer;
} avro_enc;

static avro_enc avro_state;

static void avro_enc_init(const opts *o)
{
    char *json = avro_schema_json(o->columns);
    if (avro_schema_from_json_length(json, strlen(json), &avro_state.schema))
        die("Avro schema: %s", avro_strerror());
    free(json);
    avro_state.iface = avro_generic_class_from_schema(avro_state.schema);
    if (!avro_state.iface || avro_generic_value_new(avro_state.iface, &avro_state.value))
        die("Avro value: %s", avro_strerror());
    static char dummy[1];
    avro_state.writer = avro_writer_memory(dummy, sizeof dummy);
    if (!avro_state.writer)
        die("Avro writer: %s", avro_strerror());
}

static void avro_enc_free(void)
{
    if (!avro_state.iface)
        return;
    avro_writer_free(avro_state.writer);
    avro_value_decref(&avro_state.value);
    avro_value_iface_decref(avro_state.iface);
    avro_schema_decref(avro_state.schema);
}

static void avro_field(size_t index, avro_value_t *f)
{
    if (avro_value_get_by_index(&avro_state.value, index, f, NULL))
        die("Avro field %zu: %s", index, avro_strerror());
}

/* The record of json_rec() in Confluent's wire format; returns its length. */
static int avro_rec(const opts *o, const rec *r, char *buf, size_t n)
{
    avro_value_t f;
    char text[64];
    avro_field(0, &f);
    avro_value_set_long(&f, r->id);
    avro_field(1, &f);
    snprintf(text, sizeof text, "dev-%05lld-%s", r->id % 100000, regions[r->id % 6]);
    avro_value_set_string(&f, text);
    avro_field(2, &f);
    avro_value_set_long(&f, r->ts_us);
    avro_field(3, &f);
    avro_value_set_double(&f, r->temp10 / 10.0);
    avro_field(4, &f);
    avro_value_set_boolean(&f, r->ok);
    for (int c = 5; c < o->columns; c++) {
        long long v = extra_int(r, c);
        avro_field((size_t)c, &f);
        switch (c % 4) {
        case 0: avro_value_set_long(&f, v); break;
        case 1:
            snprintf(text, sizeof text, "v%lld", v);
            avro_value_set_string(&f, text);
            break;
        case 2: avro_value_set_double(&f, v / 10.0); break; /* as json_rec's "%lld.%lld" parses */
        default: avro_value_set_boolean(&f, v & 1); break;
        }
    }
    uint32_t id = (uint32_t)o->avro_id;
    buf[0] = 0;
    buf[1] = (char)(id >> 24);
    buf[2] = (char)(id >> 16);
    buf[3] = (char)(id >> 8);
    buf[4] = (char)id;
    avro_writer_memory_set_dest(avro_state.writer, buf + 5, (int64_t)(n - 5));
    if (avro_value_write(avro_state.writer, &avro_state.value))
        die("Avro encoding: %s", avro_strerror());
    return 5 + (int)avro_writer_tell(avro_state.writer);
}

/* ---- Protobuf ---- */

/* Protobuf type of extra column c, by c % 4 as in json_rec(). */
static const char *const extra_proto_type[] = {"int64", "string", "double", "bool"};

static char *protobuf_schema_text(int columns)
{
    size_t n = 512 + (size_t)columns * 48;
    char *s = malloc(n);
    if (!s)
        die("out of memory");
    int len = snprintf(s, n,
                       "syntax = \"proto3\";\npackage sluice.bench;\nimport \"google/protobuf/timestamp.proto\";\n"
                       "message Reading {\n  int64 id = 1;\n  string device = 2;\n  google.protobuf.Timestamp ts = 3;\n"
                       "  double temp = 4;\n  bool ok = 5;\n");
    for (int c = 5; c < columns; c++)
        len += snprintf(s + len, n - (size_t)len, "  %s c%02d = %d;\n", extra_proto_type[c % 4], c, c + 1);
    snprintf(s + len, n - (size_t)len, "}\n");
    return s;
}

static size_t pb_varint(unsigned char *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (unsigned char)v;
    return i;
}

static size_t pb_double(unsigned char *p, int field, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    size_t i = pb_varint(p, (uint64_t)field << 3 | 1);
    for (int b = 0; b < 8; b++)
        p[i++] = (unsigned char)(u >> (8 * b));
    return i;
}

static size_t pb_bytes(unsigned char *p, int field, const void *b, size_t len)
{
    size_t i = pb_varint(p, (uint64_t)field << 3 | 2);
    i += pb_varint(p + i, len);
    memcpy(p + i, b, len);
    return i + len;
}

/* proto3 leaves out fields at their default (0, "", false): so does this */
static int protobuf_rec(const opts *o, const rec *r, unsigned char *buf, size_t n)
{
    if (n < 64 + (size_t)o->columns * 24)
        die("record buffer too small");
    uint32_t id = (uint32_t)o->protobuf_id;
    unsigned char *p = buf;
    *p++ = 0;
    *p++ = (unsigned char)(id >> 24);
    *p++ = (unsigned char)(id >> 16);
    *p++ = (unsigned char)(id >> 8);
    *p++ = (unsigned char)id;
    *p++ = 0; /* message index [0] */
    char text[64];
    if (r->id) {
        *p++ = 1 << 3;
        p += pb_varint(p, (uint64_t)r->id);
    }
    int len = snprintf(text, sizeof text, "dev-%05lld-%s", r->id % 100000, regions[r->id % 6]);
    p += pb_bytes(p, 2, text, (size_t)len);
    unsigned char ts[24];
    size_t tl = 0;
    long long sec = r->ts_us / 1000000, nanos = (r->ts_us % 1000000) * 1000;
    if (sec) {
        ts[tl++] = 1 << 3;
        tl += pb_varint(ts + tl, (uint64_t)sec);
    }
    if (nanos) {
        ts[tl++] = 2 << 3;
        tl += pb_varint(ts + tl, (uint64_t)nanos);
    }
    p += pb_bytes(p, 3, ts, tl);
    if (r->temp10)
        p += pb_double(p, 4, r->temp10 / 10.0);
    if (r->ok) {
        *p++ = 5 << 3;
        *p++ = 1;
    }
    for (int c = 5; c < o->columns; c++) {
        long long v = extra_int(r, c);
        int field = c + 1;
        switch (c % 4) {
        case 0:
            if (v) {
                p += pb_varint(p, (uint64_t)field << 3);
                p += pb_varint(p, (uint64_t)v);
            }
            break;
        case 1:
            len = snprintf(text, sizeof text, "v%lld", v);
            p += pb_bytes(p, field, text, (size_t)len);
            break;
        case 2:
            if (v)
                p += pb_double(p, field, v / 10.0); /* as json_rec's "%lld.%lld" parses */
            break;
        default:
            if (v & 1) {
                p += pb_varint(p, (uint64_t)field << 3);
                *p++ = 1;
            }
            break;
        }
    }
    return (int)(p - buf);
}

/* ---- Debezium ---- */

/* Connect type of extra column c, by c % 4 as in json_rec(). */
static const char *const extra_connect_type[] = {"int64", "string", "double", "boolean"};

/* The row's Connect struct schema as Debezium's PostgreSQL connector writes
 * it for the table of column_defs() (bench.py), field @field of the envelope. */
static int dbz_row_schema(const opts *o, char *buf, size_t n, const char *field)
{
    int len = snprintf(buf, n,
                       "{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
                       "{\"type\":\"string\",\"optional\":true,\"field\":\"device\"},"
                       "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\","
                       "\"version\":1,\"field\":\"ts\"},"
                       "{\"type\":\"double\",\"optional\":true,\"field\":\"temp\"},"
                       "{\"type\":\"boolean\",\"optional\":true,\"field\":\"ok\"}");
    for (int c = 5; c < o->columns; c++)
        len += snprintf(buf + len, n - (size_t)len, ",{\"type\":\"%s\",\"optional\":true,\"field\":\"c%02d\"}",
                        extra_connect_type[c % 4], c);
    len += snprintf(buf + len, n - (size_t)len,
                    "],\"optional\":true,\"name\":\"bench.public.%s.Value\",\"field\":\"%s\"}", o->topic, field);
    return len;
}

/* The envelope's schema, built once. */
static char *dbz_schema;

static void dbz_init(const opts *o)
{
    size_t n = 4096 + (size_t)o->columns * 160;
    dbz_schema = malloc(n);
    if (!dbz_schema)
        die("out of memory");
    int len = snprintf(dbz_schema, n, "{\"type\":\"struct\",\"fields\":[");
    len += dbz_row_schema(o, dbz_schema + len, n - (size_t)len, "before");
    len += snprintf(dbz_schema + len, n - (size_t)len, ",");
    len += dbz_row_schema(o, dbz_schema + len, n - (size_t)len, "after");
    snprintf(dbz_schema + len, n - (size_t)len,
             ",{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
             "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
             "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
             "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"
             "\"default\":\"false\",\"field\":\"snapshot\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
             "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],"
             "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"},"
             "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
             "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
             "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
             "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"
             "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],"
             "\"optional\":false,\"name\":\"bench.public.%s.Envelope\",\"version\":2}",
             o->topic);
}

/* The change event of json_rec()'s row; "c" for an id's first record. */
static int dbz_rec(const opts *o, const rec *r, bool first, char *buf, size_t n)
{
    long long src_ms = r->ts_us / 1000 + 5;
    int len = snprintf(buf, n, "{\"schema\":%s,\"payload\":{\"before\":null,\"after\":", dbz_schema);
    len += json_rec(o, r, buf + len, n - (size_t)len);
    len += snprintf(buf + len, n - (size_t)len,
                    ",\"source\":{\"version\":\"3.6.1.Final\",\"connector\":\"postgresql\",\"name\":\"bench\","
                    "\"ts_ms\":%lld,\"snapshot\":\"false\",\"db\":\"bench\","
                    "\"sequence\":\"[\\\"%lld\\\",\\\"%lld\\\"]\",\"ts_us\":%lld,\"ts_ns\":%lld000,"
                    "\"schema\":\"public\",\"table\":\"%s\",\"txId\":%lld,\"lsn\":%lld,\"xmin\":null},"
                    "\"transaction\":null,\"op\":\"%s\",\"ts_ms\":%lld,\"ts_us\":%lld,\"ts_ns\":%lld000}}",
                    src_ms, 24000000 + r->id * 64, 24000000 + r->id * 64 + 8, src_ms * 1000, src_ms * 1000,
                    o->topic, 700 + r->id, 24000000 + r->id * 64 + 8, first ? "c" : "u", src_ms + 3,
                    (src_ms + 3) * 1000, (src_ms + 3) * 1000);
    if (len >= (int)n)
        die("a Debezium event of %d bytes does not fit the buffer", len);
    return len;
}

/* The record key as Debezium sends it under JsonConverter with schemas. */
static int dbz_key(const opts *o, const rec *r, char *buf, size_t n)
{
    return snprintf(buf, n,
                    "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,"
                    "\"field\":\"id\"}],\"optional\":false,\"name\":\"bench.public.%s.Key\"},"
                    "\"payload\":{\"id\":%lld}}",
                    o->topic, r->id);
}

/* A record's value in the format asked for; @first: the id's first record. */
static int value_rec(const opts *o, const rec *r, bool first, char *buf, size_t n)
{
    if (o->debezium)
        return dbz_rec(o, r, first, buf, n);
    if (o->protobuf_id >= 0)
        return protobuf_rec(o, r, (unsigned char *)buf, n);
    return o->avro_id >= 0 ? avro_rec(o, r, buf, n) : json_rec(o, r, buf, n);
}

/* A record's key: the id as text, or Debezium's key. */
static int key_rec(const opts *o, const rec *r, char *buf, size_t n)
{
    return o->debezium ? dbz_key(o, r, buf, n) : snprintf(buf, n, "%lld", r->id);
}

/* CSV as COPY reads it; @canonical: ts in epoch ms, doubles times 10, t/f. */
static void csv_rec(FILE *f, const opts *o, const rec *r, bool canonical)
{
    char ts[40], temp[16];
    if (canonical) {
        fprintf(f, "%lld,dev-%05lld-%s,%lld,%d,%c", r->id, r->id % 100000, regions[r->id % 6], r->ts_us / 1000,
                r->temp10, r->ok ? 't' : 'f');
    } else {
        fmt_ts(ts, sizeof ts, r->ts_us);
        fmt_temp(temp, sizeof temp, r->temp10);
        fprintf(f, "%lld,dev-%05lld-%s,%s,%s,%c", r->id, r->id % 100000, regions[r->id % 6], ts, temp,
                r->ok ? 't' : 'f');
    }
    for (int c = 5; c < o->columns; c++) {
        long long v = extra_int(r, c);
        switch (c % 4) {
        case 0: fprintf(f, ",%lld", v); break;
        case 1: fprintf(f, ",v%lld", v); break;
        case 2:
            if (canonical)
                fprintf(f, ",%lld", v);
            else
                fprintf(f, ",%lld.%lld", v / 10, v % 10);
            break;
        default: fprintf(f, ",%c", v & 1 ? 't' : 'f'); break;
        }
    }
}

/* ---- producing ---- */

static int32_t *dr_part;
static int64_t *dr_off;
static long long dr_ok, dr_failed;
static rd_kafka_resp_err_t dr_first_err;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (!dr_failed++)
            dr_first_err = m->err;
        return;
    }
    dr_ok++;
    long long i = (long long)(intptr_t)m->_private;
    if (dr_part && i >= 0) {
        dr_part[i] = m->partition;
        dr_off[i] = m->offset;
    }
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die("%s=%s: %s", k, v, errstr);
}

static rd_kafka_t *new_producer(const char *bootstrap, const char *linger_ms)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "compression.type", "lz4");
    conf_set(c, "enable.idempotence", "true");
    conf_set(c, "linger.ms", linger_ms);
    conf_set(c, "batch.size", "1000000");
    conf_set(c, "queue.buffering.max.messages", "500000");
    conf_set(c, "queue.buffering.max.kbytes", "262144");
    conf_set(c, "log_level", "3");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
    if (!rk)
        die("producer: %s", errstr);
    return rk;
}

static void produce_one(rd_kafka_t *rk, const char *topic, const char *key, size_t klen, const char *val,
                        size_t vlen, long long idx)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                                  RD_KAFKA_V_VALUE((void *)val, vlen),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)idx), RD_KAFKA_V_END);
        if (!e)
            return;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die("produce: %s", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 10);
    }
}

static void drain(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(rk, 120000);
    if (e)
        die("flush: %s", rd_kafka_err2str(e));
    if (dr_failed)
        die("%lld records failed delivery: %s", dr_failed, rd_kafka_err2str(dr_first_err));
}

static void produce_workload(const opts *o, const char *bootstrap, long long *bytes)
{
    long long step = o->distinct ? coprime_step(o->distinct) : 1;
    if (o->csv) {
        dr_part = calloc((size_t)o->records + 1, sizeof *dr_part);
        dr_off = calloc((size_t)o->records + 1, sizeof *dr_off);
        if (!dr_part || !dr_off)
            die("out of memory");
    }
    rd_kafka_t *rk = new_producer(bootstrap, "50");
    static char buf[65536];
    char key[256];
    *bytes = 0;
    for (long long i = 0; i < o->records; i++) {
        rec r;
        make_rec(o, step, i, &r);
        int len = value_rec(o, &r, i < o->distinct, buf, sizeof buf);
        int klen = key_rec(o, &r, key, sizeof key);
        *bytes += len;
        produce_one(rk, o->topic, key, (size_t)klen, buf, (size_t)len, i);
        rd_kafka_poll(rk, 0);
    }
    drain(rk);
    if (dr_ok != o->records)
        die("%lld of %lld records delivered", dr_ok, o->records);

    /* every record must still be there: low watermark 0, highs sum to N */
    long long total = 0;
    for (int p = 0; p < o->partitions; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi, 10000);
        if (e)
            die("watermarks of %s[%d]: %s", o->topic, p, rd_kafka_err2str(e));
        if (lo != 0)
            die("%s[%d] lost its oldest records (low watermark %" PRId64 "): the mock cluster keeps at most "
                "5 MiB per partition; use more partitions or fewer records, or a real cluster",
                o->topic, p, lo);
        total += hi;
    }
    if (total != o->records)
        die("watermarks sum to %lld, expected %lld", total, o->records);
    rd_kafka_destroy(rk);

    if (o->csv) {
        FILE *f = fopen(o->csv, "w");
        if (!f)
            die("%s: %s", o->csv, strerror(errno));
        for (long long i = 0; i < o->records; i++) {
            rec r;
            make_rec(o, step, i, &r);
            csv_rec(f, o, &r, false);
            fprintf(f, ",%d,%" PRId64 "\n", dr_part[i], dr_off[i]);
        }
        if (fclose(f))
            die("%s: %s", o->csv, strerror(errno));
    }
    if (o->expected) {
        long long *last = malloc(((size_t)o->distinct + 1) * sizeof *last);
        if (!last)
            die("out of memory");
        for (long long d = 0; d <= o->distinct; d++)
            last[d] = -1;
        for (long long i = 0; i < o->records; i++) {
            rec r;
            make_rec(o, step, i, &r);
            last[r.id] = i; /* keyed by id: one partition per id, so record order is offset order */
        }
        FILE *f = fopen(o->expected, "w");
        if (!f)
            die("%s: %s", o->expected, strerror(errno));
        for (long long d = 1; d <= o->distinct; d++) {
            if (last[d] < 0)
                continue;
            rec r;
            make_rec(o, step, last[d], &r);
            csv_rec(f, o, &r, true);
            fputc('\n', f);
        }
        if (fclose(f))
            die("%s: %s", o->expected, strerror(errno));
        free(last);
    }
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Steady rate: @rate records/s for @secs seconds, ids from *next_id on. */
static void produce_steady(const opts *o, rd_kafka_t *rk, double rate, double secs, long long *next_id)
{
    long long first = *next_id, n = (long long)(rate * secs + 0.5);
    long long start = mono_us();
    static char buf[65536];
    char key[256];
    long long step = 1;
    opts wide = *o;
    wide.distinct = 1;
    dr_ok = 0;
    for (long long k = 0; k < n && !stop_requested;) {
        long long due = (long long)((double)(mono_us() - start) * rate / 1e6) + 1;
        if (due > n)
            due = n;
        for (; k < due; k++) {
            rec r;
            make_rec(&wide, step, 1 + k, &r); /* i >= distinct: pseudo-random fields */
            r.id = first + k;
            r.ts_us = now_us();
            int len = value_rec(o, &r, true, buf, sizeof buf);
            int klen = key_rec(o, &r, key, sizeof key);
            produce_one(rk, o->topic, key, (size_t)klen, buf, (size_t)len, -1);
        }
        rd_kafka_poll(rk, 0);
        usleep(500);
    }
    drain(rk);
    *next_id = first + n;
    printf("steady first_id=%lld count=%lld delivered=%lld\n", first, n, dr_ok);
    fflush(stdout);
}

/* Create @topic on a real cluster (replication factor 1); it must not exist. */
static void create_topic(const char *bootstrap, const char *topic, int partitions)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "log_level", "3");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
    if (!rk)
        die("%s", errstr);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof errstr);
    if (!nt)
        die("topic %s: %s", topic, errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev)
        die("creating %s: no answer from %s", topic, bootstrap);
    if (rd_kafka_event_error(ev))
        die("creating %s: %s", topic, rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_topic_result_error(res[i]))
            die("creating %s: %s", topic, rd_kafka_topic_result_error_string(res[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench-kafka [options]\n"
            "  -n, --records N      records to produce before serving (default 1000000)\n"
            "  -d, --distinct D     distinct ids (default 200000)\n"
            "  -c, --columns C      columns per record, >= 5 (default 5: id, device, ts, temp, ok)\n"
            "  -p, --partitions P   partitions of the topic (default 16)\n"
            "  -t, --topic NAME     topic (default w1)\n"
            "  -s, --seed S         workload seed (default 1)\n"
            "      --bootstrap B    a running Kafka cluster to create the topic in (default: a mock cluster)\n"
            "      --avro ID        values in Avro (Confluent wire format, schema id ID) instead of JSON\n"
            "      --avro-schema    print the Avro value schema for --columns and exit\n"
            "      --protobuf ID    values in Protobuf (Confluent wire format, schema id ID) instead of JSON\n"
            "      --protobuf-schema print the Protobuf value schema (.proto) for --columns and exit\n"
            "      --debezium       values as Debezium change events (JsonConverter with schemas)\n"
            "      --csv FILE       write the records as CSV (columns, partition, offset)\n"
            "      --expected FILE  write the expected final state (canonical CSV, by id)\n"
            "Serves until SIGTERM/SIGINT or end of stdin; \"rate R SECONDS\" on stdin produces\n"
            "R records/s for SECONDS seconds with fresh ids and the produce time in ts.\n");
}

int main(int argc, char **argv)
{
    opts o = {.records = 1000000, .distinct = 200000, .columns = 5, .partitions = 16, .topic = "w1", .seed = 1,
              .avro_id = -1, .protobuf_id = -1};
    bool print_schema = false, print_proto = false;
    const char *real_bootstrap = NULL;
    static const struct option longopts[] = {
        {"records", required_argument, NULL, 'n'},  {"distinct", required_argument, NULL, 'd'},
        {"columns", required_argument, NULL, 'c'},  {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},    {"seed", required_argument, NULL, 's'},
        {"csv", required_argument, NULL, 1},        {"expected", required_argument, NULL, 2},
        {"avro", required_argument, NULL, 3},       {"avro-schema", no_argument, NULL, 4},
        {"bootstrap", required_argument, NULL, 5},  {"debezium", no_argument, NULL, 6},
        {"protobuf", required_argument, NULL, 7},   {"protobuf-schema", no_argument, NULL, 8},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:d:c:p:t:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': o.records = atoll(optarg); break;
        case 'd': o.distinct = atoll(optarg); break;
        case 'c': o.columns = atoi(optarg); break;
        case 'p': o.partitions = atoi(optarg); break;
        case 't': o.topic = optarg; break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 1: o.csv = optarg; break;
        case 2: o.expected = optarg; break;
        case 3: {
            char *end;
            errno = 0;
            o.avro_id = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || o.avro_id < 0 || o.avro_id > 0xffffffffLL)
                die("--avro %s: a schema id is a number of 4 bytes", optarg);
            break;
        }
        case 4: print_schema = true; break;
        case 5: real_bootstrap = optarg; break;
        case 6: o.debezium = true; break;
        case 7: {
            char *end;
            errno = 0;
            o.protobuf_id = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || o.protobuf_id < 0 || o.protobuf_id > 0xffffffffLL)
                die("--protobuf %s: a schema id is a number of 4 bytes", optarg);
            break;
        }
        case 8: print_proto = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.records < 0 || o.columns < 5 || o.columns > 200 || o.partitions < 1 ||
        (o.records > 0 && (o.distinct < 1 || o.distinct > o.records)))
        die("bad options (need records >= distinct >= 1, 5 <= columns <= 200, partitions >= 1)");
    if (print_schema) {
        char *json = avro_schema_json(o.columns);
        puts(json);
        free(json);
        return 0;
    }
    if (print_proto) {
        char *text = protobuf_schema_text(o.columns);
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if ((o.avro_id >= 0) + o.debezium + (o.protobuf_id >= 0) > 1)
        die("--avro, --protobuf and --debezium exclude each other");
    if (o.avro_id >= 0)
        avro_enc_init(&o);
    if (o.debezium)
        dbz_init(&o);

    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a signal ends a blocking read */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    const char *bootstrap = real_bootstrap;
    if (real_bootstrap) {
        create_topic(real_bootstrap, o.topic, o.partitions);
    } else {
        char errstr[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        conf_set(c, "log_level", "3");
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
        if (!mock_rk)
            die("%s", errstr);
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        if (!mc)
            die("cannot start the mock cluster");
        bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, o.topic, o.partitions, 1);
        if (e)
            die("creating %s: %s", o.topic, rd_kafka_err2str(e));
    }

    long long bytes = 0;
    if (o.records > 0)
        produce_workload(&o, bootstrap, &bytes);
    printf("librdkafka=%s\nproduced=%lld bytes=%lld partitions=%d\nbootstrap=%s\n", rd_kafka_version_str(),
           o.records, bytes, o.partitions, bootstrap);
    fflush(stdout);

    rd_kafka_t *steady = NULL;
    long long next_id = o.distinct + 1;
    char line[256];
    while (!stop_requested && fgets(line, sizeof line, stdin)) {
        double rate, secs;
        if (sscanf(line, "rate %lf %lf", &rate, &secs) == 2 && rate > 0 && secs > 0) {
            if (!steady)
                steady = new_producer(bootstrap, "5");
            produce_steady(&o, steady, rate, secs, &next_id);
        } else if (line[0] != '\n') {
            fprintf(stderr, "bench-kafka: unknown command: %s", line);
        }
    }
    if (steady)
        rd_kafka_destroy(steady);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    free(dr_part);
    free(dr_off);
    avro_enc_free();
    free(dbz_schema);
    return 0;
}
