/* record.c - one record from Kafka: its partition's offsets consulted,
 * decoded by the route's format, mapped to a row of its table and added to
 * that table's batch; a bad one goes to the route's on_error policy.  For a
 * table the route has already written (direct.c), the record goes straight
 * into the row's cells when its format's direct reader (cells.h) takes it;
 * the general path gets the rest.  A route's transforms (transform.h) run
 * between decode and map, or inside the direct reader when it takes the
 * route. */
#include <string.h>

#include "sluice/log.h"
#include "sluice/kafka_record.h"
#include "sluice/transform.h"
#include "worker_int.h"

static size_t add_row(sl_worker *w, sl_tentry *te, const sl_record *rec, sl_op op);

/* The partition of a record being handled, looked up again: a write waited
 * for meanwhile (the table's schema moved on) serves the group, and a
 * revoke may have removed the partition, moved its entry, or given it a new
 * assignment.  NULL when the record is no longer this worker's to take. */
sl_part *sl_worker_still_assigned(sl_worker *w, const char *topic, int32_t partition, uint64_t assignment)
{
    sl_part *p = sl_parts_find(&w->parts, topic, partition);
    return p && !p->revoked && p->assignment == assignment ? p : NULL;
}

/* @topic: the record's topic name as the message holds it (rec->topic is
 * its partition entry's, which a revoke frees). */
int sl_worker_take_change(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                          uint64_t assignment, sl_change *c, sl_error *err)
{
    if (r->explode && (c->op == SL_OP_UPSERT || c->op == SL_OP_DELETE))
        return sl_worker_explode(w, r, rec, topic, assignment, c, err); /* a child table */
    return sl_worker_take_one(w, r, rec, topic, assignment, c, err);
}

int sl_worker_take_one(sl_worker *w, const sl_route_conf *r, const sl_record *rec, const char *topic,
                       uint64_t assignment, sl_change *c, sl_error *err)
{
    if (c->op == SL_OP_IGNORE) {
        sl_metrics_add(w->rt->metrics, SL_M_IGNORED, 1, r->name, NULL, NULL);
        return 0;
    }
    sl_tentry *te = sl_worker_table_for(w, r, rec, c, err);
    if (!sl_worker_still_assigned(w, topic, rec->partition, assignment))
        return 2; /* its rows must not be written under an assignment that is gone */
    if (!te && w->table_absent && c->op == SL_OP_DELETE && r->auto_create) {
        /* a delete ahead of the records that create its table (a topic
         * whose first events were trimmed, a row deleted before the
         * table's first write reached the topic): there is no row to
         * delete, and a delete carries no fields to create the table from */
        log_debug(r->name, SL_REC_FMT ": a delete for table %s, which does not exist yet; nothing to delete",
                  SL_REC_ARGS(rec), r->table);
        sl_metrics_add(w->rt->metrics, SL_M_IGNORED, 1, r->name, NULL, NULL);
        return 0;
    }
    if (!te)
        return -1;
    if (c->op == SL_OP_TRUNCATE) {
        if (r->truncate == SL_TRUNCATE_APPLY) {
            w->pending_bytes -= te->batch->bytes;
            sl_batch_truncate(te->batch);
            log_info(r->name, "truncate of %s at " SL_REC_FMT, te->table->qname, SL_REC_ARGS(rec));
        } else {
            sl_metrics_add(w->rt->metrics, SL_M_IGNORED, 1, r->name, NULL, NULL);
        }
        return 0;
    }
    if (c->op == SL_OP_DELETE && r->mode == SL_MODE_INSERT) {
        sl_metrics_add(w->rt->metrics, SL_M_IGNORED, 1, r->name, NULL, NULL);
        return 0;
    }
    if (sl_map_change(&te->map, c, rec, &w->rb, err))
        return -1;
    sl_op op = c->op;
    if (op == SL_OP_DELETE && te->map.soft_delete_col >= 0)
        op = SL_OP_UPSERT;
    sl_carry carry;
    if (sl_worker_carry_prepare(w, te, c, rec, &carry, err))
        return -1;
    sl_worker_carry_note(w, c);
    size_t at = add_row(w, te, rec, op);
    if (carry.nfill)
        sl_batch_add_carry(te->batch, at, rec->partition, rec->offset, carry.old_key, carry.fill, carry.nfill);
    if (op == SL_OP_DELETE && c->new_key && te->batch->collapse)
        sl_batch_add_stash(te->batch, at); /* dropped when its create comes into this batch (carry.c) */
    if (te->direct)
        sl_cells_learn(te->direct, c);
    /* the next records of this table may take the direct reader */
    if (!r->explode)
        sl_worker_direct_learn(w, r, te, topic, c);
    return 0;
}

/* The row built in w->rb into @te's batch.  Return: its index there. */
static size_t add_row(sl_worker *w, sl_tentry *te, const sl_record *rec, sl_op op)
{
    const sl_route_conf *r = te->route;
    bool keep = r->on_error == SL_ONERR_DLQ;
    sl_row *row = sl_rowbuilder_finish(&w->rb, op, rec->topic, rec->partition, rec->offset,
                                       keep ? (rec->key ? rec->key : "") : NULL, keep ? rec->key_len : 0,
                                       keep ? (rec->value ? rec->value : "") : NULL, keep ? rec->value_len : 0);
    size_t before = te->batch->bytes;
    size_t at = sl_batch_add(te->batch, row);
    w->pending_bytes += te->batch->bytes - before;
    return at;
}

int sl_worker_bad_record(sl_worker *w, const sl_route_conf *r, const sl_record *rec, sl_error *err)
{
    int bad = err->kind == SL_ERR_FATAL ? -1
                                        : sl_worker_handle_bad(w, r, rec->topic, rec->partition, rec->offset, rec->key,
                                                               rec->key_len, rec->value, rec->value_len, err);
    if (bad == 1) {
        err->kind = SL_ERR_RETRY; /* its dead letter waits for the dead-letter topic */
        return 1;
    }
    if (bad) {
        log_error(r->name, SL_REC_FMT ": %s", SL_REC_ARGS(rec), err->msg);
        /* (a dead letter that cannot be produced: deadletter.c said so) */
        if (err->kind != SL_ERR_FATAL && r->on_error != SL_ONERR_DLQ)
            log_error(r->name, "stopping (on_error: fail): offsets are committed up to, not past, "
                               SL_REC_FMT, SL_REC_ARGS(rec));
        err->kind = SL_ERR_FATAL;
        return -1;
    }
    return 0;
}

int sl_worker_handle_record(sl_worker *w, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    sl_part *p = sl_parts_find(&w->parts, topic, m->partition);
    if (!p || p->revoked) {
        log_debug(w->ctx, "record from unassigned %s[%d]; ignored", topic, m->partition);
        return 0;
    }
    if (p->unknown) {
        /* its stored offset not read yet (paused; fetched before the pause
         * took effect): read again once it is known */
        sl_part_dropped(p, m->offset);
        return 0;
    }
    uint64_t assignment = p->assignment;
    if (sl_part_skip(p, m->offset))
        return 0;
    const sl_route_conf *r = p->route;
    if (!r && w->pipe_target != SIZE_MAX)
        return 0; /* a topic of a fan-out pipeline's pattern that the main pipeline writes */
    if (!r) {
        log_error(w->ctx, "no route for %s[%d]@%lld", topic, m->partition, (long long)m->offset);
        sl_worker_fail(w, 1);
        return -1;
    }
    sl_record rec = {
        .topic = p->topic,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .msg = m,
    };
    rd_kafka_timestamp_type_t tst;
    rec.timestamp = rd_kafka_message_timestamp(m, &tst);
    if (p->fan)
        return sl_worker_handle_fan(w, p, m, &rec, topic, assignment);
    sl_decoder *d = &w->decoders[r - w->cfg->routes];
    sl_change c;
    sl_error err;
    sl_error_clear(&err);
    int rc = 0;
    sl_tentry *te = sl_worker_direct_table(w, r, d, &rec, topic);
    int took = te ? sl_cells_map(te->direct, d, &rec, &w->rb) : 0;
    if (took)
        sl_worker_direct_taken(w, r);
    if (took == 1 || took == 3) {
        add_row(w, te, &rec, took == 1 ? SL_OP_UPSERT : SL_OP_DELETE);
    } else if (took == 2) {
        sl_metrics_add(w->rt->metrics, SL_M_IGNORED, 1, r->name, NULL, NULL); /* filtered */
    } else {
        if (te)
            sl_worker_direct_declined(w, r, SL_DIRECT_RECORD);
        rc = sl_decode(d, &rec, &c, &err);
        if (rc == 0 && r->chain && (rc = sl_tx_apply(r->chain, &rec, &c, &err)))
            sl_change_clear(&c);
        if (rc == 0) {
            rc = sl_worker_take_change(w, r, &rec, topic, assignment, &c, &err);
            sl_change_clear(&c);
        }
    }
    /* p (and rec.topic, its name) may be stale: see still_assigned() */
    if (!(p = sl_worker_still_assigned(w, topic, m->partition, assignment))) {
        /* not taken: whoever holds the partition now reads it from the
         * committed offset, which is not past it */
        log_info(w->ctx, "%s[%d]@%lld: its partition was revoked while it was handled; left to its next owner",
                 topic, m->partition, (long long)m->offset);
        return 0;
    }
    rec.topic = p->topic; /* the same name, as long as the assignment is */
    if (rc && err.kind == SL_ERR_RETRY)
        return 1;
    if (rc && sl_worker_bad_record(w, r, &rec, &err))
        return err.kind == SL_ERR_RETRY ? 1 : -1;
    sl_series_add(p->records, 1);
    sl_part_taken(p, m->offset);
    if (w->pending_rows++ == 0)
        w->first_pending_ms = sl_worker_now_ms();
    return 0;
}

