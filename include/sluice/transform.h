/* transform.h - a route's record transforms (src/transform/): a list of
 * small declarative steps applied to each decoded change before it is
 * mapped to columns (filter, replace_field, flatten, insert_field,
 * header_to_value, timestamp_converter, value_to_key, cast, mask_field),
 * and the rules that shape the values ${...} puts into a table name.
 * The configuration is sl_transform_conf (config.h); this is what runs. */
#ifndef SLUICE_TRANSFORM_H
#define SLUICE_TRANSFORM_H

#include <stdbool.h>

#include "sluice/config.h"
#include "sluice/decoder.h"
#include "sluice/error.h"
#include "sluice/kafka_record.h"
#include "sluice/strbuf.h"

typedef enum {
    SL_PRED_EQUALS, SL_PRED_NOT_EQUALS, SL_PRED_IN, SL_PRED_REGEX, SL_PRED_NULL, SL_PRED_NOT_NULL,
    SL_PRED_LT, SL_PRED_LE, SL_PRED_GT, SL_PRED_GE, SL_PRED_TOPIC_MATCHES, SL_PRED_HAS_HEADER
} sl_tx_predicate;
typedef enum { SL_TS_STRING, SL_TS_UNIX, SL_TS_DATE, SL_TS_TIME, SL_TS_TIMESTAMP } sl_tx_ts_type;
typedef enum { SL_PREC_S, SL_PREC_MS, SL_PREC_US, SL_PREC_NS } sl_tx_precision;

typedef struct sl_tx_chain sl_tx_chain;

/* sl_tx_key_applies() - whether option @key (routes[].transforms[].KEY) means
 * something for a transform of @type; the loader refuses the others. */
bool sl_tx_key_applies(int type, const char *key);

/* sl_tx_chain_new() - check and compile @r's transforms.  NULL with @err
 * ("message"), *@bad the index of the faulty transform and *@badkey its
 * key, when one is wrong. */
sl_tx_chain *sl_tx_chain_new(const sl_route_conf *r, size_t *bad, const char **badkey, sl_error *err);
void sl_tx_chain_free(sl_tx_chain *c);

/* sl_tx_chain_shapes() - whether some transform adds, removes, renames or
 * retypes fields (so a record schema no longer describes the value). */
bool sl_tx_chain_shapes(const sl_tx_chain *c);

/* sl_tx_apply() - run @c over @ch, the decoded @rec.  0: @ch is what to
 * map (a filtered record becomes SL_OP_IGNORE, reason "filtered");
 * -1 with SL_ERR_DATA naming the transform and what is wrong.  May be
 * called from several workers at once: the chain is read-only. */
int sl_tx_apply(const sl_tx_chain *c, const sl_record *rec, sl_change *ch, sl_error *err);

/* A chain compiled for a direct reader (plan.c, cells.h) that reads a
 * record's top-level fields one by one: for each field name the plan
 * knows (the table's columns and every name the chain mentions), what the
 * chain does to it -- the name it ends under (or none: dropped), and the
 * transforms that read or change its value (filter, timestamp_converter,
 * cast, mask_field), run on that value alone by those transforms' own
 * apply(); a name the plan does not know is dropped (an include list) or
 * kept as it is.  insert_field and header_to_value become fields the plan
 * adds; flatten holds for records whose fields are no objects.  Anything
 * else (value_to_key, a JSON pointer) leaves the route to the general path,
 * and so does a record in which two fields would meet under one name. */
typedef struct sl_tx_plan sl_tx_plan;
typedef struct sl_tx_run sl_tx_run;

/* sl_tx_plan_new() - @c for a table of columns @cols, or NULL when the chain
 * needs the general path for every record. */
sl_tx_plan *sl_tx_plan_new(const sl_tx_chain *c, const char *const *cols, size_t ncols);
void sl_tx_plan_free(sl_tx_plan *p);
/* The names the plan knows, 0 .. sl_tx_plan_count() - 1: the record's
 * field names first (sl_tx_plan_fields() of them), then the added ones. */
size_t sl_tx_plan_count(const sl_tx_plan *p);
size_t sl_tx_plan_fields(const sl_tx_plan *p);
const char *sl_tx_plan_name(const sl_tx_plan *p, size_t i);
/* sl_tx_plan_final() - the name field @i ends under, NULL when dropped. */
const char *sl_tx_plan_final(const sl_tx_plan *p, size_t i);
/* sl_tx_plan_steps() - whether transforms read or change field @i's value. */
bool sl_tx_plan_steps(const sl_tx_plan *p, size_t i);
/* sl_tx_plan_changes() - whether they change it (more than filters read it). */
bool sl_tx_plan_changes(const sl_tx_plan *p, size_t i);
/* sl_tx_plan_drops_others() - whether fields the plan does not know are dropped. */
bool sl_tx_plan_drops_others(const sl_tx_plan *p);
/* sl_tx_plan_no_objects() - whether a record with an object field needs the general path (flatten). */
bool sl_tx_plan_no_objects(const sl_tx_plan *p);

/* One record through a plan (per reader: not shared between threads). */
sl_tx_run *sl_tx_run_new(const sl_tx_plan *p);
void sl_tx_run_free(sl_tx_run *r);
void sl_tx_run_start(sl_tx_run *r, const sl_record *rec);
/* sl_tx_run_field() - field @i is in the record, with value *@v (a scalar,
 * taken over; NULL when sl_tx_plan_steps() is false): *@v becomes its value
 * after the chain.  -1 when the record needs the general path (the field
 * given twice, a transform refusing the value). */
int sl_tx_run_field(sl_tx_run *r, size_t i, json_t **v);
/* sl_tx_run_dropped() - whether a filter has dropped the record already
 * (the rest of it then matters only as far as it may need the general path). */
bool sl_tx_run_dropped(const sl_tx_run *r);
/* sl_tx_run_finish() - after the record's fields: each added field's name
 * index and value handed to @put (which keeps no reference; -1 from it
 * stops), the filters whose field was absent tested.  1 when a filter drops
 * the record, 0 when it is kept, -1 when it needs the general path. */
int sl_tx_run_finish(sl_tx_run *r, int (*put)(void *ctx, size_t i, const json_t *v), void *ctx);

/* Table-name rules (naming.c): compiled from the route's name_* options. */
typedef struct sl_name_rules sl_name_rules;
/* sl_name_rules_new() - NULL when @r has none or (with @err and *@badkey
 * set) when one is wrong. */
sl_name_rules *sl_name_rules_new(const sl_route_conf *r, const char **badkey, sl_error *err);
void sl_name_rules_free(sl_name_rules *n);
/* sl_name_rules_apply() - @in through the rules into @out (reset first):
 * 0, or -1 with SL_ERR_DATA when the result is no valid name. */
int sl_name_rules_apply(const sl_name_rules *n, const char *in, sl_strbuf *out, sl_error *err);

#endif
