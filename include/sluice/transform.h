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
