/* fuzz_decode.c - libFuzzer harness for sluice's decoders: one input is one
 * record value, decoded by a route's format and, when that succeeds, mapped
 * into a table with a column of every type, as the worker does.  Built once
 * per target (tests/fuzz/meson.build passes -DFUZZ_TARGET="name"); the
 * targets are the rows of the table below, so a new decoder is one row and
 * one line in meson.build.
 *
 * Avro targets read the schemas of tests/fuzz/schemas/<target>/NN_name.avsc,
 * cached under ids 1, 2, ... without a registry process; the first input
 * byte picks the schema (modulo their number), the rest is the Avro datum
 * behind a Confluent header written here.
 *
 * The Protobuf target does the same with tests/fuzz/schemas/protobuf/NN_name.proto
 * (.proto text, as a registry may answer it); the input after the schema
 * byte starts with the message-index path.
 *
 * The JSON, Avro and Protobuf targets also read the value with their format's direct
 * reader (cells.h) and fail when it takes a record the general path would
 * reject, takes an upsert for a delete or the other way round, or builds a
 * different row.  The Avro reader plans a schema once
 * the general path has taken a record of it, as in the worker; so does
 * the Debezium JSON reader with a Connect schema (schema_cache.c).  The
 * Debezium JSON target also decodes each value twice and fails when the
 * two differ: the first reading may parse and keep the value's schema,
 * the second finds it kept, with the schemas of earlier inputs.  For a
 * record the direct reader takes, the source names it finds without
 * decoding (cells.h names(), which picks the table of a `${source.table}`
 * route) must be those the general path decodes.
 *
 * The json_transforms target gives the route a chain of transforms
 * (transform.h): the first two input bytes pick which of the sixteen in
 * tx_pool[] it has (in that order), the rest is the value.  Each chain
 * gets its own route, mapping and direct reader (or none, when the reader
 * declines the chain); the reader's row must be the general path's
 * (decode, the chain, the mapping), and a record it drops must be one the
 * general path's chain drops. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"
#include "protobuf_int.h"
#include "sluice/decoder.h"
#include "sluice/cells.h"
#include "sluice/log.h"
#include "sluice/mapping.h"
#include "sluice/registry.h"
#include "sluice/transform.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name a row of targets[]"
#endif
#ifndef FUZZ_SCHEMA_DIR
#error "FUZZ_SCHEMA_DIR must name tests/fuzz/schemas"
#endif

typedef struct fuzz_target {
    const char *name;
    sl_format format;
    bool schemas;   /* Avro or Protobuf in Confluent framing: needs the schema set */
    bool direct;    /* also the direct reader, compared with the general path */
    bool transforms; /* the route has a transform chain, picked per input */
} fuzz_target;

static const fuzz_target targets[] = {
    {"json", SL_FMT_JSON, false, true, false},
    {"avro", SL_FMT_AVRO, true, true, false},
    {"connect_json", SL_FMT_CONNECT_JSON, false, false, false},
    {"debezium_json", SL_FMT_DEBEZIUM, false, true, false},
    {"debezium_avro", SL_FMT_DEBEZIUM, true, false, false},
    {"protobuf", SL_FMT_PROTOBUF, true, true, false},
    {"json_transforms", SL_FMT_JSON, false, false, true},
};

/* json_transforms: the transforms a chain is picked from, over the columns below */
#define S(x) ((char *)(x))
static char *tx_mask[] = {S("blob"), S("u")}, *tx_mask2[] = {S("n"), S("f")}, *tx_key[] = {S("id")},
            *tx_values[] = {S("drop"), S("skip")}, *tx_hdr[] = {S("h")}, *tx_hdr_field[] = {S("name")},
            *tx_include[] = {S("id"), S("name"), S("n"), S("small"), S("ts"), S("day"), S("big"), S("local"),
                             S("f"), S("ok"), S("at"), S("meta_n"), S("blob"), S("u"), S("amount"), S("f4")};
static sl_kv tx_rename_kv[] = {{S("meta_n"), S("n"), 0}, {S("amount"), S("f"), 0}};
static sl_kv tx_cast_kv[] = {{S("small"), S("int16"), 0}, {S("f4"), S("float32"), 0}, {S("ok"), S("boolean"), 0},
                             {S("name"), S("string"), 0}};
static sl_kv tx_cast2_kv[] = {{S("n"), S("string"), 0}, {S("f"), S("int32"), 0}};
static sl_kv tx_static_kv[] = {{S("at"), S("12:34:56"), 0}};
static char *tx_exclude[] = {S("other")};
static const sl_transform_conf tx_pool[16] = {
    {.type = SL_TX_FILTER, .field = S("name"), .predicate = SL_PRED_IN, .values = tx_values, .nvalues = 2},
    {.type = SL_TX_FILTER, .field = S("/doc/level"), .predicate = SL_PRED_GT, .value = S("9")},
    {.type = SL_TX_FLATTEN, .delimiter = S("_")},
    {.type = SL_TX_REPLACE_FIELD, .rename = tx_rename_kv, .nrename = 2, .exclude = tx_exclude, .nexclude = 1},
    {.type = SL_TX_CAST, .spec = tx_cast_kv, .nspec = 4},
    {.type = SL_TX_TIMESTAMP_CONVERTER, .field = S("ts"), .target_type = SL_TS_TIMESTAMP, .unix_precision = SL_PREC_MS},
    {.type = SL_TX_TIMESTAMP_CONVERTER, .field = S("day"), .target_type = SL_TS_DATE, .unix_precision = SL_PREC_S},
    {.type = SL_TX_MASK_FIELD, .fields = tx_mask, .nfields = 2},
    {.type = SL_TX_INSERT_FIELD, .offset_field = S("big"), .timestamp_field = S("local"), .static_fields = tx_static_kv,
     .nstatic_fields = 1},
    {.type = SL_TX_VALUE_TO_KEY, .fields = tx_key, .nfields = 1},
    {.type = SL_TX_FILTER, .field = S("f"), .predicate = SL_PRED_LT, .value = S("0")},
    {.type = SL_TX_REPLACE_FIELD, .include = tx_include, .ninclude = 16},
    {.type = SL_TX_FILTER, .field = S("ok"), .predicate = SL_PRED_NULL, .negate = false},
    {.type = SL_TX_MASK_FIELD, .fields = tx_mask2, .nfields = 2, .value = S("7")},
    {.type = SL_TX_CAST, .spec = tx_cast2_kv, .nspec = 2},
    {.type = SL_TX_HEADER_TO_VALUE, .headers = tx_hdr, .nheaders = 1, .fields = tx_hdr_field, .nfields = 1},
};

/* One column of every type sluice converts to; the schemas and seeds use these names. */
static const struct {
    const char *name;
    sl_coltype type, elem;
    const char *type_name;
} columns[] = {
    {"id", SL_COL_INT8, 0, "bigint"},          {"name", SL_COL_TEXT, 0, "text"},
    {"small", SL_COL_INT2, 0, "smallint"},     {"n", SL_COL_INT4, 0, "integer"},
    {"amount", SL_COL_NUMERIC, 0, "numeric(12,2)"}, {"big", SL_COL_NUMERIC, 0, "numeric"},
    {"f4", SL_COL_FLOAT4, 0, "real"},          {"f", SL_COL_FLOAT8, 0, "double precision"},
    {"ok", SL_COL_BOOL, 0, "boolean"},         {"ts", SL_COL_TIMESTAMPTZ, 0, "timestamptz"},
    {"local", SL_COL_TIMESTAMP, 0, "timestamp"}, {"day", SL_COL_DATE, 0, "date"},
    {"at", SL_COL_TIME, 0, "time"},            {"u", SL_COL_UUID, 0, "uuid"},
    {"doc", SL_COL_JSONB, 0, "jsonb"},         {"js", SL_COL_JSON, 0, "json"},
    {"blob", SL_COL_BYTEA, 0, "bytea"},        {"tags", SL_COL_ARRAY, SL_COL_TEXT, "text[]"},
    {"nums", SL_COL_ARRAY, SL_COL_INT8, "bigint[]"}, {"other", SL_COL_OTHER, 0, "inet"},
    /* last: a key column CrateDB computes (GENERATED ALWAYS AS, flagged computed by its sink),
     * which neither path expects from a record */
    {"part", SL_COL_TIMESTAMPTZ, 0, "timestamp with time zone"},
};
#define NCOLS (sizeof(columns) / sizeof(columns[0]))

static struct {
    const fuzz_target *t;
    sl_table table;
    sl_route_conf route;
    sl_mapping map;
    sl_decoder dec;
    sl_registry *reg;
    int nschemas;
    sl_cells *direct;
    struct chain_route *chains[512]; /* json_transforms: the routes of the latest picks of tx_pool[] */
    sl_rowbuilder rb, fast, again;
    bool verbose; /* SLUICE_FUZZ_VERBOSE: say what became of each input (checking seeds) */
} F;

/* json_transforms: one pick of tx_pool[] as a route of its own. */
typedef struct chain_route {
    unsigned pick;
    sl_route_conf route;
    sl_transform_conf tx[16];
    sl_mapping map;
    sl_decoder dec;
    sl_cells *direct; /* NULL: the reader declines the chain */
} chain_route;

static chain_route *chain_for(unsigned pick);

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sl_strbuf sb = SL_STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sl_strbuf_append(&sb, buf, n);
    fclose(f);
    return sl_strbuf_steal(&sb);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void load_schemas(void)
{
    char *u = "http://127.0.0.1:9"; /* never asked: every id is cached below */
    sl_registry_conf conf = {.urls = &u, .nurls = 1, .timeout_ms = 100};
    sl_error err;
    F.reg = sl_registry_new(&conf, &err);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", FUZZ_SCHEMA_DIR, F.t->name);
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(ents[i]->d_name);
        bool proto = len > 6 && !strcmp(ents[i]->d_name + len - 6, ".proto");
        if (proto || (len > 5 && !strcmp(ents[i]->d_name + len - 5, ".avsc"))) {
            char path[2048];
            snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
            char *text = read_text(path);
            if (text && sl_registry_put(F.reg, F.nschemas + 1, proto ? "PROTOBUF" : "AVRO", text) == 0)
                F.nschemas++;
            free(text);
        }
        free(ents[i]);
    }
    free(n >= 0 ? ents : NULL);
    if (F.nschemas == 0) {
        fprintf(stderr, "fuzz_%s: no schemas in %s\n", F.t->name, dir);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        if (!strcmp(targets[i].name, FUZZ_TARGET))
            F.t = &targets[i];
    if (!F.t)
        abort();
    sl_log_level = SL_LOG_ERROR;
    sl_table *t = &F.table;
    t->ncols = NCOLS;
    t->cols = sl_xcalloc(NCOLS, sizeof(sl_column));
    for (size_t i = 0; i < NCOLS; i++) {
        t->cols[i].name = sl_xstrdup(columns[i].name);
        t->cols[i].type_name = sl_xstrdup(columns[i].type_name);
        t->cols[i].type = columns[i].type;
        t->cols[i].elem = columns[i].elem;
    }
    t->cols[0].in_key = true;
    t->cols[NCOLS - 1].in_key = t->cols[NCOLS - 1].generated = t->cols[NCOLS - 1].computed = true;
    t->key = sl_xcalloc(2, sizeof(size_t));
    t->key[1] = NCOLS - 1;
    t->nkey = 2;
    t->schema = sl_xstrdup("public");
    t->name = sl_xstrdup("t");
    t->qname = sl_xstrdup("\"public\".\"t\"");
    F.route.name = (char *)"fuzz";
    F.route.mode = SL_MODE_UPSERT;
    F.route.format = F.t->format;
    F.route.key_format = SL_KEYFMT_JSON;
    F.route.epoch_unit = SL_EPOCH_MS;
    F.route.delete_on_tombstone = true;
    if (F.t->schemas)
        load_schemas();
    sl_error err;
    if (sl_mapping_init(&F.map, &F.route, t, &err) || sl_decoder_init(&F.dec, &F.route, F.reg, &err)) {
        fprintf(stderr, "fuzz_%s: %s\n", F.t->name, err.msg);
        abort();
    }
    if (F.t->direct && !(F.direct = sl_cells_new(&F.map, F.reg)))
        abort();
    if (F.t->transforms && !chain_for(0x0029)->direct) { /* filter, replace_field, timestamp_converter */
        fprintf(stderr, "fuzz_%s: no direct reader for a chain it reads\n", F.t->name);
        abort();
    }
    sl_rowbuilder_init(&F.rb);
    sl_rowbuilder_init(&F.fast);
    sl_rowbuilder_init(&F.again);
    F.verbose = getenv("SLUICE_FUZZ_VERBOSE") != NULL;
    /* the main thread's schema cache is not freed by a thread exit */
    atexit(sl_avro_thread_cleanup);
    atexit(sl_protobuf_thread_cleanup);
    (void)argc;
    (void)argv;
    return 0;
}

static void chain_free(chain_route *c)
{
    sl_cells_free(c->direct);
    sl_decoder_fini(&c->dec);
    sl_mapping_fini(&c->map);
    sl_tx_chain_free(c->route.chain);
    free(c);
}

/* The route of @pick, made when first picked; a bounded cache (memory, not
 * semantics: a chain's route holds no state between records but the
 * mapper's set of fields reported as unmapped, which both paths share). */
static chain_route *chain_for(unsigned pick)
{
    chain_route **slot = &F.chains[pick % (sizeof(F.chains) / sizeof(F.chains[0]))];
    if (*slot && (*slot)->pick == pick)
        return *slot;
    if (*slot)
        chain_free(*slot);
    chain_route *c = sl_xcalloc(1, sizeof(*c));
    c->pick = pick;
    c->route = F.route;
    for (unsigned i = 0; i < 16; i++)
        if (pick & (1u << i))
            c->tx[c->route.ntransforms++] = tx_pool[i];
    c->route.transforms = c->tx;
    size_t bad;
    const char *badkey;
    sl_error e;
    if (c->route.ntransforms && !(c->route.chain = sl_tx_chain_new(&c->route, &bad, &badkey, &e))) {
        fprintf(stderr, "fuzz_%s: transforms[%zu].%s: %s\n", F.t->name, bad, badkey, e.msg);
        abort();
    }
    if (sl_mapping_init(&c->map, &c->route, &F.table, &e) || sl_decoder_init(&c->dec, &c->route, F.reg, &e)) {
        fprintf(stderr, "fuzz_%s: %s\n", F.t->name, e.msg);
        abort();
    }
    c->direct = sl_cells_new(&c->map, F.reg);
    return *slot = c;
}

static bool same_cell(sl_coltype ty, const sl_rowbuilder *a, const sl_rowbuilder *b, uint32_t i)
{
    if (a->len[i] != b->len[i] && (a->len[i] < 0 || b->len[i] < 0))
        return false;
    if (a->len[i] < 0)
        return true;
    const char *x = a->bytes.data + a->off[i], *y = b->bytes.data + b->off[i];
    if (ty == SL_COL_FLOAT8 || ty == SL_COL_FLOAT4) /* the same number, maybe spelt differently */
        return strtod(x, NULL) == strtod(y, NULL);
    return a->len[i] == b->len[i] && !memcmp(x, y, (size_t)a->len[i]);
}

/* A record the direct reader takes goes to the table that the values its
 * format's names() finds put into a table template (`${source.table}`):
 * they must be those the general path's decoding puts into sl_change.meta,
 * which names the table on the general path (src/worker/tables.c). */
static void same_names(const sl_cells_names *found, const sl_change *c)
{
    static const char *const member[SL_CELLS_NNAMES] = {"db", "schema", "table"};
    const sl_cells_names n = *found;
    const json_t *source = json_object_get(c->meta, "source");
    for (int k = 0; k < SL_CELLS_NNAMES; k++) {
        const json_t *v = json_object_get(source, member[k]);
        bool same = n.v[k] ? json_is_string(v) && json_string_length(v) == n.n[k] &&
                                 !memcmp(json_string_value(v), n.v[k], n.n[k])
                           : !json_is_string(v);
        if (!same) {
            fprintf(stderr, "source.%s: the direct path finds \"%.*s\", the general path %s\n", member[k],
                    n.v[k] ? (int)n.n[k] : 6, n.v[k] ? n.v[k] : "(none)",
                    json_is_string(v) ? json_string_value(v) : "no string");
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *value = NULL;
    size_t vlen = size;
    const sl_route_conf *route = &F.route;
    sl_mapping *map = &F.map;
    sl_decoder *dec = &F.dec;
    sl_cells *direct = F.direct;
    if (F.t->schemas) {
        if (size < 1)
            return 0;
        int id = 1 + data[0] % F.nschemas;
        vlen = size - 1 + 5;
        value = sl_xmalloc(vlen);
        value[0] = 0;
        value[1] = value[2] = value[3] = 0;
        value[4] = (unsigned char)id;
        memcpy(value + 5, data + 1, size - 1);
    } else if (F.t->transforms) {
        if (size < 2)
            return 0;
        chain_route *c = chain_for((unsigned)data[0] | (unsigned)data[1] << 8);
        route = &c->route;
        map = &c->map;
        dec = &c->dec;
        direct = c->direct;
        vlen = size - 2;
        value = sl_xmalloc(vlen ? vlen : 1);
        memcpy(value, data + 2, vlen);
    } else {
        value = sl_xmalloc(size ? size : 1); /* its own allocation: ASan sees any read past it */
        memcpy(value, data, size);
    }
    sl_record rec = {.topic = "fuzz", .partition = 0, .offset = 1, .value = (const char *)value,
                     .value_len = vlen, .key = "{\"id\":1}", .key_len = 8};
    int took = 0;
    /* in the worker's order: the names that pick the table, then map()
     * (which may take what names() read), then the general path */
    sl_cells_names names;
    bool named = sl_cells_names_of(dec, &rec, &names);
    if (direct)
        took = sl_cells_map(direct, dec, &rec, &F.fast);
    sl_change c;
    memset(&c, 0, sizeof(c));
    sl_error err;
    sl_error_clear(&err);
    bool ok = sl_decode(dec, &rec, &c, &err) == 0;
    if (ok && route->chain)
        ok = sl_tx_apply(route->chain, &rec, &c, &err) == 0;
    if (ok && (c.op == SL_OP_UPSERT || c.op == SL_OP_DELETE))
        ok = sl_map_change(map, &c, &rec, &F.rb, &err) == 0;
    if (F.verbose)
        fprintf(stderr, "%s%s: %s\n", ok ? "ok" : "refused", took == 2 ? " (dropped directly)" : took ? " (direct)" : "",
                ok ? "" : err.msg);
    if (ok && direct && c.op == SL_OP_UPSERT)
        sl_cells_learn(direct, &c);
    bool filtered = ok && c.op == SL_OP_IGNORE && c.reason && !strcmp(c.reason, "filtered");
    if ((took == 1 || took == 3) && ok && named) /* not named: the worker sends the record to the general path */
        same_names(&names, &c);
    sl_op op1 = c.op;
    sl_change_clear(&c);
    if (F.t->format == SL_FMT_DEBEZIUM && !F.t->schemas) {
        sl_error err2;
        sl_error_clear(&err2);
        memset(&c, 0, sizeof(c));
        bool ok2 = sl_decode(&F.dec, &rec, &c, &err2) == 0;
        sl_op op2 = c.op;
        bool mapped = ok2 && (op2 == SL_OP_UPSERT || op2 == SL_OP_DELETE);
        if (mapped)
            ok2 = sl_map_change(&F.map, &c, &rec, &F.again, &err2) == 0;
        sl_change_clear(&c);
        /* a tombstone depends on the delete read before it (and the first
         * reading is one): it may be ignored once and a delete the next time */
        bool tombstone = (op1 == SL_OP_DELETE || op1 == SL_OP_IGNORE) &&
                         (op2 == SL_OP_DELETE || op2 == SL_OP_IGNORE);
        if (ok != ok2 || (ok && op1 != op2 && !tombstone) || (!ok && strcmp(err.msg, err2.msg))) {
            fprintf(stderr, "a second reading of the value differs: %s / %s\n", ok ? "ok" : err.msg,
                    ok2 ? "ok" : err2.msg);
            abort();
        }
        for (uint32_t i = 0; ok && mapped && op1 == op2 && i < NCOLS; i++) {
            if (!same_cell(columns[i].type, &F.again, &F.rb, i)) {
                fprintf(stderr, "a second reading of the value differs at column %s\n", columns[i].name);
                abort();
            }
        }
    }
    if (took == 2 && !filtered) {
        fprintf(stderr, "the direct reader dropped a record the general path %s: %s\n",
                ok ? "does not drop" : "rejects", ok ? "" : err.msg);
        abort();
    }
    if (took == 1 || took == 3) {
        sl_op want = took == 1 ? SL_OP_UPSERT : SL_OP_DELETE;
        if (ok && op1 != want) {
            fprintf(stderr, "the direct reader took a record as op %d, the general path as op %d\n", want, op1);
            abort();
        }
        if (!ok) {
            fprintf(stderr, "the direct reader took a record the general path rejects: %s\n", err.msg);
            abort();
        }
        for (uint32_t i = 0; i < NCOLS; i++) {
            if (!same_cell(columns[i].type, &F.fast, &F.rb, i)) {
                fprintf(stderr, "the direct reader and the general path differ at column %s\n",
                        columns[i].name);
                abort();
            }
        }
    }
    free(value);
    return 0;
}
