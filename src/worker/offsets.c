/* offsets.c - the offset state machine of a worker's partitions (see offsets_int.h). */
#include "offsets_int.h"

#include <stdlib.h>

#include "sluice/strbuf.h"

void sl_parts_free(sl_parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i].topic);
    free(ps->v);
    ps->v = NULL;
    ps->n = ps->cap = 0;
}

sl_part *sl_parts_assign(sl_parts *ps, const char *topic, int32_t partition,
                         const struct sl_route_conf *route, size_t target)
{
    sl_part *p = sl_parts_find(ps, topic, partition);
    if (p && !p->revoked)
        return p;
    if (p) { /* revoked during a retried flush, and assigned again */
        p->revoked = p->dirty = p->needs_seek = p->unknown = false;
        p->db = p->safe = p->writing = p->next = -1;
        p->assignment = ++ps->assignments;
        return p;
    }
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->v = sl_xrealloc(ps->v, ps->cap * sizeof(sl_part));
    }
    p = &ps->v[ps->n++];
    memset(p, 0, sizeof(*p));
    p->topic = sl_xstrdup(topic);
    p->partition = partition;
    p->route = route;
    p->target = target;
    p->db = p->safe = p->writing = p->next = -1;
    p->assignment = ++ps->assignments;
    return p;
}

void sl_part_stored(sl_part *p, int64_t db)
{
    p->db = db;
    if (db >= 0)
        p->safe = db;
}

void sl_part_unknown(sl_part *p)
{
    p->unknown = true;
}

int64_t sl_part_known(sl_part *p, int64_t db)
{
    /* records dropped while unknown set next to the first of them */
    int64_t dropped = p->needs_seek ? p->next : -1;
    p->unknown = p->needs_seek = false;
    p->next = -1;
    sl_part_stored(p, db);
    if (db >= 0)
        return db;
    /* nothing stored: the group's committed offset, or the first record dropped */
    p->next = dropped;
    return dropped;
}

bool sl_part_skip(sl_part *p, int64_t offset)
{
    if (p->next >= 0 && offset < p->next)
        return true; /* already taken (delivered again after a seek) */
    if (p->db >= 0 && offset < p->db)
        return true; /* already in the database (e.g. auto.offset.reset after an out-of-range) */
    if (p->safe < 0)
        p->safe = offset;
    return false;
}

void sl_part_taken(sl_part *p, int64_t offset)
{
    p->next = offset + 1;
    p->dirty = true;
}

void sl_part_dropped(sl_part *p, int64_t offset)
{
    if (p->needs_seek || p->revoked)
        return;
    /* records arrive in order: the first one dropped is where to seek back to */
    if (p->next < 0)
        p->next = offset;
    p->needs_seek = true;
}

void sl_part_read_again(sl_part *p, int64_t offset)
{
    /* next is at most @offset (a record before it is never taken after
     * it); below it when a rewind already went further back */
    if (p->next < 0 || offset < p->next)
        p->next = offset;
    p->needs_seek = true;
}

void sl_part_handed(sl_part *p)
{
    p->writing = p->next;
    p->dirty = false;
}

void sl_part_flushed(sl_part *p, bool exactly_once)
{
    if (p->writing < 0)
        return;
    p->safe = p->writing;
    if (exactly_once)
        p->db = p->writing;
    p->writing = -1;
}

void sl_part_fenced(sl_part *p, int64_t db)
{
    p->db = p->safe = db;
    p->dirty = true; /* makes the next rewind seek there */
}

int64_t sl_part_fetch_from(const sl_part *p)
{
    return !p->revoked && !p->unknown && !p->needs_seek && p->next >= 0 ? p->next : -1;
}

size_t sl_parts_rewind(sl_parts *ps, size_t *seek)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        sl_part *p = &ps->v[i];
        bool lost = p->dirty || p->writing >= 0;
        if (p->revoked || p->unknown || (!lost && !p->needs_seek))
            continue;
        int64_t to = lost ? p->safe : p->next;
        if (to >= 0) {
            p->next = to;
            seek[n++] = i;
        }
        p->dirty = p->needs_seek = false;
        p->writing = -1;
    }
    return n;
}

size_t sl_parts_refetch(sl_parts *ps, size_t *seek)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        sl_part *p = &ps->v[i];
        if (p->revoked || p->unknown || !p->needs_seek)
            continue;
        if (p->next >= 0)
            seek[n++] = i;
        p->needs_seek = false;
    }
    return n;
}

static void remove_at(sl_parts *ps, size_t i)
{
    free(ps->v[i].topic);
    ps->v[i] = ps->v[--ps->n];
}

bool sl_parts_revoke(sl_parts *ps, const char *topic, int32_t partition, bool in_flush)
{
    sl_part *p = sl_parts_find(ps, topic, partition);
    if (!p)
        return false;
    bool pending = p->dirty || p->writing >= 0;
    if (in_flush)
        p->revoked = true;
    else
        remove_at(ps, (size_t)(p - ps->v));
    return pending;
}

void sl_parts_sweep(sl_parts *ps)
{
    for (size_t i = 0; i < ps->n;) {
        if (ps->v[i].revoked)
            remove_at(ps, i);
        else
            i++;
    }
}

bool sl_parts_any_seek(const sl_parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].needs_seek && !ps->v[i].unknown)
            return true;
    return false;
}
