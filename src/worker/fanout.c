/* fanout.c - one record through several routes of one target (fan-out,
 * pipeline.h): a parent and its child tables, or two tables of one topic.
 * Their rows go into the same batches and so into the same write: one
 * transaction, with the partition's offset, for all of them.
 *
 * A record is all or nothing: each route's change is decoded and its table
 * resolved first (the only steps that may wait, serving the group, and so
 * see the partition revoked), then every route's row is batched.  When a
 * route must read the record again later, or stop, after another's row was
 * batched, the worker drops what is pending and reads it again
 * (sl_worker_handle_fan() returns 3 or 4): a write never holds part of a
 * record whose offset it does not cover. */
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/pipeline.h"
#include "sluice/transform.h"
#include "worker_int.h"

const sl_fan *sl_worker_fan(sl_worker *w, const char *topic)
{
    for (size_t i = 0; i < w->nfans; i++)
        if (!strcmp(w->fans[i]->topic, topic))
            return w->fans[i]->n > 1 ? w->fans[i] : NULL;
    sl_fan *f = sl_xcalloc(1, sizeof(*f));
    f->topic = sl_xstrdup(topic);
    f->routes = sl_xcalloc(w->cfg->nroutes ? w->cfg->nroutes : 1, sizeof(size_t));
    for (const sl_route_conf *r = sl_pipeline_route(w->cfg, w->pipe_target, topic); r;
         r = sl_pipeline_next_route(w->cfg, r, topic))
        f->routes[f->n++] = (size_t)(r - w->cfg->routes);
    w->fans = sl_xrealloc(w->fans, (w->nfans + 1) * sizeof(*w->fans));
    w->fans[w->nfans++] = f;
    if (f->n > 1)
        log_info(w->ctx, "topic %s goes through %zu routes of target %s, in one transaction", topic, f->n,
                 w->cfg->routes[f->routes[0]].target->name);
    return f->n > 1 ? f : NULL;
}

void sl_worker_fans_free(sl_worker *w)
{
    for (size_t i = 0; i < w->nfans; i++) {
        free(w->fans[i]->topic);
        free(w->fans[i]->routes);
        free(w->fans[i]);
    }
    free(w->fans);
    w->fans = NULL;
    w->nfans = 0;
}

/* One route's part of the record. */
typedef struct {
    const sl_route_conf *r;
    sl_change c;
    sl_error err;
    int rc;   /* of the decoding: 0, or -1 with err */
} fan_leg;

int sl_worker_handle_fan(sl_worker *w, sl_part *p, rd_kafka_message_t *m, sl_record *rec, const char *topic,
                         uint64_t assignment)
{
    const sl_fan *fan = p->fan;
    fan_leg *legs = sl_xcalloc(fan->n, sizeof(*legs));
    int out = 0;
    /* decoded, and each table resolved: waits (describing a table, a
     * schema change) happen here, before any row of the record is batched */
    for (size_t k = 0; k < fan->n; k++) {
        fan_leg *l = &legs[k];
        l->r = &w->cfg->routes[fan->routes[k]];
        sl_error_clear(&l->err);
        l->rc = sl_decode(&w->decoders[fan->routes[k]], rec, &l->c, &l->err);
        /* each route's own transforms (transform.h) on its own decoding */
        if (l->rc == 0 && l->r->chain && (l->rc = sl_tx_apply(l->r->chain, rec, &l->c, &l->err)))
            sl_change_clear(&l->c);
        if (l->rc == 0 && l->c.op != SL_OP_IGNORE && l->c.op != SL_OP_TRUNCATE &&
            !(l->r->explode ? sl_worker_explode_table(w, l->r, rec, &l->c, &l->err)
                            : sl_worker_table_for(w, l->r, rec, &l->c, &l->err)) &&
            !(w->table_absent && l->c.op == SL_OP_DELETE && l->r->auto_create)) {
            sl_change_clear(&l->c);
            l->rc = -1;
        }
        if (!sl_worker_still_assigned(w, topic, m->partition, assignment))
            goto revoked;
    }
    p = sl_worker_still_assigned(w, topic, m->partition, assignment);
    rec->topic = p->topic;
    /* the routes the record is bad for first: none of its rows is batched yet */
    bool batched = false;
    for (size_t k = 0; k < fan->n && out == 0; k++) {
        fan_leg *l = &legs[k];
        if (l->rc && l->err.kind == SL_ERR_RETRY)
            out = 1;
        else if (l->rc && sl_worker_bad_record(w, l->r, rec, &l->err))
            out = l->err.kind == SL_ERR_RETRY ? 1 : -1;
    }
    for (size_t k = 0; k < fan->n && out == 0; k++) {
        fan_leg *l = &legs[k];
        if (l->rc)
            continue;
        sl_error err;
        sl_error_clear(&err);
        int rc = sl_worker_take_change(w, l->r, rec, topic, assignment, &l->c, &err);
        if (rc == 2) {
            /* the table resolved above waited after all; rows of the record
             * may be in a batch: what is pending is read again */
            out = batched ? 3 : 0;
            goto revoked;
        }
        if (rc && err.kind == SL_ERR_RETRY)
            out = batched ? 3 : 1;
        else if (rc && sl_worker_bad_record(w, l->r, rec, &err))
            out = err.kind == SL_ERR_RETRY ? (batched ? 3 : 1) : (batched ? 4 : -1);
        else
            batched |= rc == 0;
        if (k && out == 0)
            sl_metrics_add(w->rt->metrics, SL_M_RECORDS, 1, l->r->name, p->topic, NULL);
    }
    if (out == 0) {
        sl_series_add(p->records, 1);
        sl_part_taken(p, m->offset);
        if (w->pending_rows++ == 0)
            w->first_pending_ms = sl_worker_now_ms();
    }
    goto done;
revoked:
    log_info(w->ctx, "%s[%d]@%lld: its partition was revoked while it was handled; left to its next owner", topic,
             m->partition, (long long)m->offset);
    goto done;
done:
    for (size_t k = 0; k < fan->n; k++)
        if (legs[k].rc == 0)
            sl_change_clear(&legs[k].c);
    free(legs);
    return out;
}
