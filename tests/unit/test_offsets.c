/* The offset state machine of a worker's partitions (src/worker/offsets.c):
 * every transition - assign, take, flush, fence, revoke, lost, reset - on
 * its own, with no Kafka and no database. */
#include <check.h>
#include <stdlib.h>

#include "offsets_int.h"
#include "runner.h"

static sl_parts ps;

static void setup(void)
{
    ps = (sl_parts){0};
}

static void teardown(void)
{
    sl_parts_free(&ps);
}

/* Take the records [from, to) of @p as the worker does. */
static void take(sl_part *p, int64_t from, int64_t to)
{
    for (int64_t o = from; o < to; o++) {
        ck_assert(!sl_part_skip(p, o));
        sl_part_taken(p, o);
    }
}

START_TEST(assign_fresh)
{
    int route = 0; /* any address stands for the route */
    sl_part *p = sl_parts_assign(&ps, "orders", 3, (const struct sl_route_conf *)&route, 2);
    ck_assert_uint_eq(ps.n, 1);
    ck_assert_str_eq(p->topic, "orders");
    ck_assert_int_eq(p->partition, 3);
    ck_assert_ptr_eq(p->route, &route);
    ck_assert_uint_eq(p->target, 2);
    ck_assert_int_eq(p->db, -1);
    ck_assert_int_eq(p->safe, -1);
    ck_assert_int_eq(p->next, -1);
    ck_assert(!p->dirty && !p->needs_seek && !p->revoked);
    ck_assert_ptr_eq(sl_parts_find(&ps, "orders", 3), p);
    ck_assert_ptr_null(sl_parts_find(&ps, "orders", 4));
    ck_assert_ptr_null(sl_parts_find(&ps, "order", 3));
    /* assigned again while assigned: unchanged */
    take(p, 5, 7);
    sl_part *q = sl_parts_assign(&ps, "orders", 3, NULL, 0);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(ps.n, 1);
    ck_assert_int_eq(q->next, 7);
    ck_assert(q->dirty);
    ck_assert_ptr_eq(q->route, &route);
}
END_TEST

START_TEST(assign_stored)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(p, -1);
    ck_assert_int_eq(p->db, -1);
    ck_assert_int_eq(p->safe, -1);
    sl_part *q = sl_parts_assign(&ps, "t", 1, NULL, 0);
    sl_part_stored(q, 42);
    ck_assert_int_eq(q->db, 42);
    ck_assert_int_eq(q->safe, 42);
    ck_assert_int_eq(q->next, -1);
    ck_assert(!q->dirty);
    /* records the database holds already are skipped (auto.offset.reset
     * after an out-of-range may deliver them) */
    ck_assert(sl_part_skip(q, 0));
    ck_assert(sl_part_skip(q, 41));
    ck_assert(!sl_part_skip(q, 42));
    ck_assert_int_eq(q->safe, 42);
}
END_TEST

START_TEST(take_records)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    /* the first record seen is where a loss resumes */
    ck_assert(!sl_part_skip(p, 10));
    ck_assert_int_eq(p->safe, 10);
    sl_part_taken(p, 10);
    ck_assert_int_eq(p->next, 11);
    ck_assert(p->dirty);
    take(p, 11, 15);
    ck_assert_int_eq(p->next, 15);
    ck_assert_int_eq(p->safe, 10);
    /* delivered again after a seek: skipped */
    ck_assert(sl_part_skip(p, 10));
    ck_assert(sl_part_skip(p, 14));
    ck_assert(!sl_part_skip(p, 15));
    ck_assert_int_eq(p->safe, 10);
    ck_assert_int_eq(p->db, -1);
}
END_TEST

START_TEST(flush_exactly_once)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(p, 100);
    take(p, 100, 120);
    sl_part_handed(p);
    sl_part_flushed(p, true);
    ck_assert_int_eq(p->safe, 120);
    ck_assert_int_eq(p->db, 120);
    ck_assert_int_eq(p->next, 120);
    ck_assert(!p->dirty);
    /* nothing pending: a reset seeks nowhere */
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 0);
    ck_assert_int_eq(p->next, 120);
}
END_TEST

START_TEST(flush_at_least_once)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(p, 7, 9);
    sl_part_handed(p);
    sl_part_flushed(p, false);
    ck_assert_int_eq(p->safe, 9);
    ck_assert_int_eq(p->db, -1); /* the database holds no offsets */
    ck_assert(!p->dirty);
    ck_assert(!sl_part_skip(p, 9));
}
END_TEST

START_TEST(take_while_writing)
{
    /* records taken while a write is in flight stay pending after it
     * commits; the commit covers only what was handed to it */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(p, 100);
    take(p, 100, 110);
    sl_part_handed(p);
    ck_assert_int_eq(p->writing, 110);
    ck_assert(!p->dirty);
    take(p, 110, 115);
    ck_assert(p->dirty);
    sl_part_flushed(p, true);
    ck_assert_int_eq(p->safe, 110);
    ck_assert_int_eq(p->db, 110);
    ck_assert_int_eq(p->writing, -1);
    ck_assert_int_eq(p->next, 115);
    ck_assert(p->dirty);
    /* the next write is expected to find 110 stored */
    sl_part_handed(p);
    sl_part_flushed(p, true);
    ck_assert_int_eq(p->db, 115);
    ck_assert(!p->dirty);
}
END_TEST

START_TEST(failed_write_rewinds_past_it)
{
    /* a write that fails while the next batch fills: both are lost, the
     * seek goes back to where the failed one began */
    sl_part *a = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(a, 0, 10);
    sl_part_handed(a);
    take(a, 10, 14);
    sl_part *b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    take(b, 50, 60);
    sl_part_handed(b); /* in the write only */
    ck_assert(sl_parts_revoke(&ps, "t", 1, true)); /* pending: in the write */
    b = sl_parts_find(&ps, "t", 1);
    b->revoked = false;
    size_t seek[2];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 2);
    ck_assert_int_eq(a->next, 0);
    ck_assert_int_eq(b->next, 50);
    ck_assert_int_eq(a->writing, -1);
    ck_assert(!a->dirty && !b->dirty);
}
END_TEST

START_TEST(refetch_keeps_pending)
{
    /* records dropped while waiting for a write: sought back to, what is
     * pending is kept */
    sl_part *a = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(a, 0, 10);
    sl_part_dropped(a, 10);
    sl_part *b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    take(b, 3, 5);
    size_t seek[2];
    ck_assert_uint_eq(sl_parts_refetch(&ps, seek), 1);
    ck_assert_uint_eq(seek[0], 0);
    ck_assert_int_eq(a->next, 10);
    ck_assert(a->dirty && !a->needs_seek);
    ck_assert_int_eq(a->safe, 0);
    ck_assert(b->dirty);
}
END_TEST

START_TEST(fence)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(p, 100);
    take(p, 100, 110);
    /* another consumer stored 150: resume there, whatever was pending */
    sl_part_fenced(p, 150);
    ck_assert_int_eq(p->db, 150);
    ck_assert_int_eq(p->safe, 150);
    ck_assert(p->dirty);
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_uint_eq(seek[0], 0);
    ck_assert_int_eq(p->next, 150);
    ck_assert(!p->dirty);
    ck_assert(sl_part_skip(p, 149));
    ck_assert(!sl_part_skip(p, 150));
}
END_TEST

START_TEST(revoke)
{
    sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part *p = sl_parts_assign(&ps, "t", 1, NULL, 0);
    take(p, 0, 3);
    sl_parts_assign(&ps, "t", 2, NULL, 0);
    /* outside a write: removed at once, the others stay */
    ck_assert(sl_parts_revoke(&ps, "t", 1, false));
    ck_assert_uint_eq(ps.n, 2);
    ck_assert_ptr_null(sl_parts_find(&ps, "t", 1));
    ck_assert_ptr_nonnull(sl_parts_find(&ps, "t", 0));
    ck_assert_ptr_nonnull(sl_parts_find(&ps, "t", 2));
    ck_assert(!sl_parts_revoke(&ps, "t", 0, false));
    ck_assert(!sl_parts_revoke(&ps, "t", 9, false)); /* not assigned */
    ck_assert_uint_eq(ps.n, 1);
}
END_TEST

START_TEST(revoke_during_flush)
{
    sl_part *a = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(a, 0, 5);
    sl_part *b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    /* while a write is retried: only marked, the write still refers to them */
    ck_assert(sl_parts_revoke(&ps, "t", 0, true));   /* had rows pending: the write cannot finish */
    ck_assert(!sl_parts_revoke(&ps, "t", 1, true));
    ck_assert_uint_eq(ps.n, 2);
    a = sl_parts_find(&ps, "t", 0);
    ck_assert(a->revoked);
    /* a revoked partition is neither rewound nor fetched */
    size_t seek[2];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 0);
    ck_assert_int_eq(sl_part_fetch_from(a), -1);
    sl_part_dropped(a, 9);
    ck_assert(!a->needs_seek);
    /* assigned again before the write ended: starts over */
    b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    ck_assert(!b->revoked);
    ck_assert_int_eq(b->next, -1);
    /* the write ends: the revoked one goes */
    sl_parts_sweep(&ps);
    ck_assert_uint_eq(ps.n, 1);
    ck_assert_ptr_null(sl_parts_find(&ps, "t", 0));
    ck_assert_ptr_nonnull(sl_parts_find(&ps, "t", 1));
}
END_TEST

START_TEST(reassign_after_revoke_during_flush)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(p, 50);
    take(p, 50, 60);
    sl_parts_revoke(&ps, "t", 0, true);
    p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    ck_assert_uint_eq(ps.n, 1);
    ck_assert(!p->revoked && !p->dirty && !p->needs_seek);
    ck_assert_int_eq(p->db, -1);
    ck_assert_int_eq(p->safe, -1);
    ck_assert_int_eq(p->next, -1);
}
END_TEST

START_TEST(lost)
{
    /* partitions lost: everything pending is dropped and read again from
     * where each dirty partition's pending records began */
    sl_part *a = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_stored(a, 100);
    take(a, 100, 130);
    sl_part *b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    take(b, 7, 8);
    sl_part_handed(b);
    sl_part_flushed(b, false);          /* clean: not sought */
    sl_part *c = sl_parts_assign(&ps, "t", 2, NULL, 0);
    take(c, 0, 4);
    size_t seek[3];
    size_t n = sl_parts_rewind(&ps, seek);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(seek[0], 0);
    ck_assert_uint_eq(seek[1], 2);
    ck_assert_int_eq(ps.v[0].next, 100);
    ck_assert_int_eq(ps.v[1].next, 8);
    ck_assert_int_eq(ps.v[2].next, 0);
    for (size_t i = 0; i < ps.n; i++)
        ck_assert(!ps.v[i].dirty && !ps.v[i].needs_seek);
    /* the records come again and are taken again */
    ck_assert(!sl_part_skip(&ps.v[0], 100));
    ck_assert(!sl_part_skip(&ps.v[2], 0));
}
END_TEST

START_TEST(reset_after_drops)
{
    /* records dropped while paused: seek back to the first one dropped */
    sl_part *a = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(a, 0, 10);
    sl_part_handed(a);
    sl_part_flushed(a, true);
    sl_part *b = sl_parts_assign(&ps, "t", 1, NULL, 0);
    ck_assert(!sl_parts_any_seek(&ps));
    sl_part_dropped(a, 10);
    sl_part_dropped(a, 11); /* later ones do not move it */
    sl_part_dropped(b, 33); /* nothing taken yet: the first dropped sets next */
    sl_part_dropped(b, 34);
    ck_assert(sl_parts_any_seek(&ps));
    ck_assert_int_eq(a->next, 10);
    ck_assert_int_eq(b->next, 33);
    ck_assert_int_eq(sl_part_fetch_from(a), -1); /* no fetch restart before the seek */
    size_t seek[2];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 2);
    ck_assert_int_eq(a->next, 10);
    ck_assert_int_eq(b->next, 33);
    ck_assert(!sl_parts_any_seek(&ps));
    ck_assert_int_eq(sl_part_fetch_from(a), 10);
    ck_assert(!sl_part_skip(a, 10));
}
END_TEST

START_TEST(reset_dirty_wins_over_drops)
{
    /* pending rows and dropped records: the rows are dropped too, so the
     * seek goes back to where the pending ones began */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(p, 20, 25);
    sl_part_dropped(p, 25);
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_int_eq(p->next, 20);
}
END_TEST

START_TEST(reset_read_again)
{
    /* a record that must wait for a dependency is read again */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(p, 0, 4);
    sl_part_handed(p);
    sl_part_flushed(p, true);
    sl_part_read_again(p, 4);
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_int_eq(p->next, 4);
    ck_assert(!sl_part_skip(p, 4));
}
END_TEST

START_TEST(read_again_after_a_rewind_keeps_the_earlier_point)
{
    /* a write given up (rows dropped, rewound to 0) while record 4 was being
     * handled: reading 4 again must not skip 0..3 */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    take(p, 0, 4);
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_int_eq(p->next, 0);
    sl_part_read_again(p, 4);
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_int_eq(p->next, 0);
}
END_TEST

START_TEST(each_assignment_has_its_own_number)
{
    /* revoked and assigned again, removed or only marked: a new assignment */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    uint64_t first = p->assignment;
    ck_assert_uint_eq(sl_parts_assign(&ps, "t", 0, NULL, 0)->assignment, first);
    sl_parts_revoke(&ps, "t", 0, true);
    p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    uint64_t second = p->assignment;
    ck_assert_uint_ne(second, first);
    sl_parts_revoke(&ps, "t", 0, false);
    p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    ck_assert_uint_ne(p->assignment, first);
    ck_assert_uint_ne(p->assignment, second);
}
END_TEST

START_TEST(reset_unknown_position)
{
    /* dirty with no resume point known cannot be sought, but is reset */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    p->dirty = true;
    size_t seek[1];
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 0);
    ck_assert(!p->dirty);
}
END_TEST

START_TEST(fetch_from)
{
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    ck_assert_int_eq(sl_part_fetch_from(p), -1); /* nothing read yet */
    take(p, 3, 6);
    ck_assert_int_eq(sl_part_fetch_from(p), 6);
}
END_TEST

START_TEST(unknown_stored_offset_read_later)
{
    /* assigned while the database could not be reached: records fetched
     * meanwhile are dropped; rewinds, refetches and fetch restarts leave it
     * alone; once read, it is sought to the stored offset, even when a
     * record after it was dropped first */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part *q = sl_parts_assign(&ps, "t", 1, NULL, 0);
    sl_part_unknown(p);
    ck_assert(p->unknown);
    sl_part_dropped(p, 12);
    sl_part_dropped(p, 13);
    sl_part_dropped(q, 4);
    ck_assert_int_eq(sl_part_fetch_from(p), -1);
    size_t seek[2];
    ck_assert_uint_eq(sl_parts_refetch(&ps, seek), 1);
    ck_assert_uint_eq(seek[0], 1);
    sl_part_dropped(q, 4);
    ck_assert_uint_eq(sl_parts_rewind(&ps, seek), 1);
    ck_assert_uint_eq(seek[0], 1);
    ck_assert(p->unknown && p->needs_seek);
    ck_assert(!sl_parts_any_seek(&ps)); /* only the unknown one is left */
    ck_assert_int_eq(sl_part_known(p, 10), 10);
    ck_assert(!p->unknown && !p->needs_seek);
    ck_assert_int_eq(p->db, 10);
    ck_assert_int_eq(p->safe, 10);
    ck_assert_int_eq(p->next, -1);
    /* from the stored offset on: 10 and 11 are taken, not skipped */
    ck_assert(sl_part_skip(p, 9));
    take(p, 10, 14);
    ck_assert_int_eq(p->safe, 10);
}
END_TEST

START_TEST(unknown_with_nothing_stored)
{
    /* nothing in the database: the group's committed offset (no seek), or
     * the first record dropped meanwhile */
    sl_part *p = sl_parts_assign(&ps, "t", 0, NULL, 0);
    sl_part_unknown(p);
    ck_assert_int_eq(sl_part_known(p, -1), -1);
    ck_assert_int_eq(p->db, -1);
    ck_assert_int_eq(p->safe, -1);
    ck_assert_int_eq(p->next, -1);
    take(p, 3, 5);
    ck_assert_int_eq(p->safe, 3);
    sl_part *q = sl_parts_assign(&ps, "t", 1, NULL, 0);
    sl_part_unknown(q);
    sl_part_dropped(q, 7);
    sl_part_dropped(q, 8);
    ck_assert_int_eq(sl_part_known(q, -1), 7);
    ck_assert(!q->needs_seek && !q->unknown);
    take(q, 7, 9);
    ck_assert_int_eq(q->safe, 7);
    /* revoked and assigned again: known until said otherwise */
    sl_part_unknown(q);
    sl_parts_revoke(&ps, "t", 1, true);
    ck_assert(!sl_parts_assign(&ps, "t", 1, NULL, 0)->unknown);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("offsets");
    TCase *tc = tcase_create("transitions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, assign_fresh);
    tcase_add_test(tc, assign_stored);
    tcase_add_test(tc, take_records);
    tcase_add_test(tc, take_while_writing);
    tcase_add_test(tc, failed_write_rewinds_past_it);
    tcase_add_test(tc, refetch_keeps_pending);
    tcase_add_test(tc, flush_exactly_once);
    tcase_add_test(tc, flush_at_least_once);
    tcase_add_test(tc, fence);
    tcase_add_test(tc, revoke);
    tcase_add_test(tc, revoke_during_flush);
    tcase_add_test(tc, reassign_after_revoke_during_flush);
    tcase_add_test(tc, lost);
    tcase_add_test(tc, reset_after_drops);
    tcase_add_test(tc, reset_dirty_wins_over_drops);
    tcase_add_test(tc, reset_read_again);
    tcase_add_test(tc, read_again_after_a_rewind_keeps_the_earlier_point);
    tcase_add_test(tc, each_assignment_has_its_own_number);
    tcase_add_test(tc, reset_unknown_position);
    tcase_add_test(tc, fetch_from);
    tcase_add_test(tc, unknown_stored_offset_read_later);
    tcase_add_test(tc, unknown_with_nothing_stored);
    suite_add_tcase(s, tc);
    int failed = sl_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
