/* offsets_int.h - the offsets of a worker's assigned partitions: exactly-once's
 * state machine, with no Kafka and no database in it (the worker performs
 * the seeks and reads that these functions decide).
 *
 * For each assigned partition the worker knows `db` (the next offset stored
 * in the database with exactly-once, -1 when none), `safe` (where
 * consumption would resume if everything pending were lost, -1 unknown),
 * `writing` (the next offset the write in flight covers, -1 none) and `next`
 * (the offset after the last record taken, -1 none yet).  A write is handed
 * [safe, next) of every dirty partition (writing = next); while it is in
 * flight the worker goes on taking records (next moves on, dirty again);
 * once it commits, safe = db = writing and those offsets are committed to
 * Kafka.  A write that fails loses everything from safe on.
 *
 * Transitions:
 *   assign   sl_parts_assign(), then sl_part_stored() with the database's offset,
 *            or sl_part_unknown() when it cannot be read yet: the partition
 *            stays paused, its records dropped, until sl_part_known() gives
 *            the offset read later (and where to seek)
 *   take     sl_part_skip() decides whether a record was seen already,
 *            sl_part_taken() records it in the pending batch
 *   hand     sl_part_handed() when the partition's records go to a write
 *   flush    sl_part_flushed() once that write committed
 *   fence    sl_part_fenced() with the offset another consumer stored
 *   revoke   sl_parts_revoke(): removed at once, or marked while a write
 *            still refers to it and removed by sl_parts_sweep() when it ends
 *   lost     nothing pending survives: sl_parts_rewind()
 *   reset    sl_parts_rewind(): where to seek so that nothing pending is
 *            lost (dirty partitions, those of a failed write) and nothing
 *            dropped is skipped (partitions whose records were dropped while
 *            paused)
 *   resume   sl_parts_refetch(): pending work kept, only the partitions
 *            whose records were dropped while paused are sought back
 *
 * Thread: the worker's own. */
#ifndef SLUICE_WORKER_OFFSETS_INT_H
#define SLUICE_WORKER_OFFSETS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_route_conf;

typedef struct sl_part {
    char *topic;
    int32_t partition;
    const struct sl_route_conf *route; /* NULL when no route matches */
    size_t target;    /* index into cfg->targets */
    int64_t db;       /* stored in the database (exactly-once), -1 none */
    int64_t safe;     /* resume point if pending work is lost, -1 unknown */
    int64_t writing;  /* next offset of the write in flight, -1 none */
    int64_t next;     /* after the last record taken, -1 none yet */
    bool dirty;       /* records taken since they last went to a write */
    bool needs_seek;  /* records were dropped while paused: seek to next */
    bool revoked;     /* revoked while a flush was retrying */
    bool unknown;     /* exactly-once, its stored offset not read yet: paused, nothing taken */
    uint64_t assignment; /* which assignment of the partition this is (sl_parts.assignments) */
    struct sl_series *records; /* the worker's records counter for it (metrics.h); not used here */
    const struct sl_fan *fan;  /* the routes its records go through when several match (fanout.c); not used here */
} sl_part;

typedef struct sl_parts {
    sl_part *v;
    size_t n, cap;
    uint64_t assignments; /* partitions assigned so far: each assignment's number */
} sl_parts;

void sl_parts_free(sl_parts *ps);

/* sl_parts_find() - the partition, or NULL when it is not assigned.  On the
 * path of every record: inline. */
static inline sl_part *sl_parts_find(sl_parts *ps, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].partition == partition && !strcmp(ps->v[i].topic, topic))
            return &ps->v[i];
    return NULL;
}

/* sl_parts_assign() - a newly assigned partition with nothing known about
 * it.  A partition revoked during a retried write and assigned again starts
 * over the same way.  An already assigned one is returned unchanged.  Each
 * new assignment gets a new number (sl_part.assignment): a record read
 * under an earlier one is not the worker's to take. */
sl_part *sl_parts_assign(sl_parts *ps, const char *topic, int32_t partition,
                         const struct sl_route_conf *route, size_t target);

/* sl_part_stored() - the database's offset read at assignment (-1: none). */
void sl_part_stored(sl_part *p, int64_t db);

/* sl_part_unknown() - the database's offset could not be read at
 * assignment: nothing of the partition may be taken until sl_part_known(). */
void sl_part_unknown(sl_part *p);

/* sl_part_known() - the database's offset @db (-1: none) read after the
 * assignment.  Returns where the partition must be sought before anything
 * of it is taken: @db, else the first record dropped meanwhile, else -1 (no
 * seek: it starts at the group's committed offset). */
int64_t sl_part_known(sl_part *p, int64_t db);

/* sl_part_skip() - true when a record at @offset was taken already (it is
 * delivered again after a seek) or is in the database already; otherwise
 * the first record seen sets the resume point. */
bool sl_part_skip(sl_part *p, int64_t offset);

/* sl_part_taken() - the record at @offset is in the pending batch (or was
 * handled as a bad record). */
void sl_part_taken(sl_part *p, int64_t offset);

/* sl_part_dropped() - a record at @offset arrived while paused and was
 * dropped: the first of them is where to seek back to. */
void sl_part_dropped(sl_part *p, int64_t offset);

/* sl_part_read_again() - the record at @offset must be read again: seek
 * back to it at the next rewind (or to where a rewind already put the
 * partition, when that is earlier). */
void sl_part_read_again(sl_part *p, int64_t offset);

/* sl_part_handed() - the records taken so far, [safe, next), go to a write. */
void sl_part_handed(sl_part *p);

/* sl_part_flushed() - the write handed [safe, writing) committed; with
 * @exactly_once the database now holds writing as well. */
void sl_part_flushed(sl_part *p, bool exactly_once);

/* sl_part_fenced() - another consumer stored @db for this partition: resume
 * there (the next rewind seeks to it). */
void sl_part_fenced(sl_part *p, int64_t db);

/* sl_part_fetch_from() - where fetching would restart from, or -1 when the
 * partition must not be sought now. */
int64_t sl_part_fetch_from(const sl_part *p);

/* sl_parts_rewind() - drop everything pending: every partition that is
 * dirty or had records dropped gets `next` set to where consumption must
 * resume, and its index stored in @seek (room for ps->n entries) when that
 * offset is known.  Returns how many were stored. */
size_t sl_parts_rewind(sl_parts *ps, size_t *seek);

/* sl_parts_refetch() - keep what is pending: only partitions whose records
 * were dropped while paused get their index stored in @seek (seek to next).
 * Returns how many were stored. */
size_t sl_parts_refetch(sl_parts *ps, size_t *seek);

/* sl_parts_revoke() - @topic[@partition] is revoked.  Outside a write it is
 * removed; while a write still refers to it (@in_flush) it is only marked.
 * Returns true when it had records pending or in a write. */
bool sl_parts_revoke(sl_parts *ps, const char *topic, int32_t partition, bool in_flush);

/* sl_parts_sweep() - remove the partitions marked revoked. */
void sl_parts_sweep(sl_parts *ps);

/* sl_parts_any_seek() - true when some partition had records dropped. */
bool sl_parts_any_seek(const sl_parts *ps);

#endif
