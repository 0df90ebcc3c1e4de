/* chain.c - a route's transforms as one chain: checked and compiled when
 * the configuration loads, run over each decoded change (worker thread;
 * read-only, so every worker shares the route's chain). */
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"

/* indexed by sl_transform_type (config.h), in the option table's order */
static const sl_tx_ops *const ops_of[] = {
    &sl_tx_filter, &sl_tx_replace_field, &sl_tx_flatten, &sl_tx_insert_field, &sl_tx_header_to_value,
    &sl_tx_timestamp_converter, &sl_tx_value_to_key, &sl_tx_cast, &sl_tx_mask_field,
};
#define NTYPES (sizeof(ops_of) / sizeof(ops_of[0]))

struct sl_tx_chain {
    sl_tx *tx;
    size_t n;
    bool shapes;
};

const char *sl_tx_type_name(int type)
{
    return type >= 0 && (size_t)type < NTYPES ? ops_of[type]->name : "?";
}

const sl_tx_ops *sl_tx_ops_of(int type)
{
    return ops_of[type];
}

size_t sl_tx_chain_len(const sl_tx_chain *c)
{
    return c ? c->n : 0;
}

const sl_tx *sl_tx_chain_at(const sl_tx_chain *c, size_t i)
{
    return &c->tx[i];
}

bool sl_tx_key_applies(int type, const char *key)
{
    if (!strcmp(key, "type"))
        return true;
    if (type < 0 || (size_t)type >= NTYPES)
        return false;
    for (const char *const *k = ops_of[type]->keys; *k; k++)
        if (!strcmp(*k, key))
            return true;
    return false;
}

sl_tx_chain *sl_tx_chain_new(const sl_route_conf *r, size_t *bad, const char **badkey, sl_error *err)
{
    if (!r->ntransforms)
        return NULL;
    sl_tx_chain *c = sl_xcalloc(1, sizeof(*c));
    c->tx = sl_xcalloc(r->ntransforms, sizeof(sl_tx));
    for (size_t i = 0; i < r->ntransforms; i++) {
        sl_tx *t = &c->tx[i];
        t->conf = &r->transforms[i];
        t->index = i;
        const sl_tx_ops *o = ops_of[t->conf->type];
        *badkey = "type";
        c->n = i + 1; /* freed with the chain, whatever its init() left */
        if (o->init && o->init(t, badkey, err)) {
            *bad = i;
            sl_tx_chain_free(c);
            return NULL;
        }
        c->shapes |= o->shapes;
    }
    return c;
}

void sl_tx_chain_free(sl_tx_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (ops_of[c->tx[i].conf->type]->fini)
            ops_of[c->tx[i].conf->type]->fini(&c->tx[i]);
    free(c->tx);
    free(c);
}

bool sl_tx_chain_shapes(const sl_tx_chain *c)
{
    return c && c->shapes;
}

int sl_tx_apply(const sl_tx_chain *c, const sl_record *rec, sl_change *ch, sl_error *err)
{
    for (size_t i = 0; c && i < c->n; i++) {
        const sl_tx_ops *o = ops_of[c->tx[i].conf->type];
        /* a change without fields (truncate, ignore) passes every step; a
         * delete only those that shape the fields its key is found in */
        if (ch->op == SL_OP_IGNORE || ch->op == SL_OP_TRUNCATE)
            return 0;
        if (ch->op == SL_OP_DELETE && !o->deletes_too)
            continue; /* (those that do take a delete without fields as it is) */
        if (ch->op == SL_OP_UPSERT && !json_is_object(ch->value))
            return sl_tx_fail(&c->tx[i], err, "the record's value is not an object");
        int rc = o->apply(&c->tx[i], rec, ch, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            ch->op = SL_OP_IGNORE;
            ch->reason = "filtered";
            return 0;
        }
    }
    return 0;
}
