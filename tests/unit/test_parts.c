/* test_parts.c: the projector's partition state machine (parts.c): an
 * assignment dealt to the lanes, a seek that drops what was prefetched
 * before it, committed offsets and heads, and a loss's life until an
 * operator moves the stored offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "parts.h"

static void test_assignment_dealt_to_lanes(void **state)
{
    (void)state;
    tw_parts *ps = tw_parts_new(2);
    const int32_t mine[] = {0, 2, 4, 6}; /* a round-robin assignor's share */
    tw_parts_assign(ps, mine, 4);
    assert_int_equal(tw_parts_state(ps, 0), TW_PART_LOADING);
    assert_int_equal(tw_parts_state(ps, 1), TW_PART_UNASSIGNED);
    /* in turn, not by number modulo lanes (which gave lane 0 all four) */
    assert_int_equal(tw_parts_lane(ps, 0), 0);
    assert_int_equal(tw_parts_lane(ps, 2), 1);
    assert_int_equal(tw_parts_lane(ps, 4), 0);
    assert_int_equal(tw_parts_lane(ps, 6), 1);
    char line[128];
    tw_parts_describe_lanes(ps, line, sizeof line);
    assert_string_equal(line, "0 <- p0 p4; 1 <- p2 p6");
    tw_parts_assign(ps, NULL, 0); /* revoked */
    assert_int_equal(tw_parts_assigned(ps, 0), 0);
    tw_parts_free(ps);
}

static void test_seek_drops_what_came_before(void **state)
{
    (void)state;
    tw_parts *ps = tw_parts_new(1);
    const int32_t mine[] = {3};
    tw_parts_assign(ps, mine, 1);
    assert_int_equal(tw_parts_admit(ps, 3, 100), 0); /* LOADING: nothing goes to a batch */
    tw_parts_set_stored(ps, 3, 120, NULL, -1);
    tw_parts_seek(ps, 3, 120, -1);
    assert_int_equal(tw_parts_state(ps, 3), TW_PART_SEEKING);
    assert_int_equal(tw_parts_admit(ps, 3, 140), 0); /* prefetched from the old position */
    assert_int_equal(tw_parts_admit(ps, 3, 120), 1); /* where the seek starts */
    assert_int_equal(tw_parts_state(ps, 3), TW_PART_ACTIVE);
    assert_int_equal(tw_parts_admit(ps, 3, 121), 1);
    tw_parts_reload(ps); /* a failure: back to LOADING */
    assert_int_equal(tw_parts_state(ps, 3), TW_PART_LOADING);
    assert_int_equal(tw_parts_admit(ps, 3, 121), 0);
    tw_parts_free(ps);
}

static void test_nothing_stored_starts_at_log_start(void **state)
{
    (void)state;
    tw_parts *ps = tw_parts_new(1);
    const int32_t mine[] = {1};
    tw_parts_assign(ps, mine, 1);
    tw_parts_forget_stored(ps);
    tw_parts_seek(ps, 1, 40, 40);
    assert_int_equal(tw_parts_from(ps, 1), 40);
    assert_int_equal(tw_parts_start_all(ps)[1], 40);
    assert_int_equal(tw_parts_stored(ps, 1), -1);
    tw_batch_part bp;
    memset(&bp, 0, sizeof bp);
    bp.partition = 1;
    bp.next = 50;
    bp.chained = 2;
    bp.head_offset = 49;
    memset(bp.head, 0xab, sizeof bp.head);
    tw_parts_committed(ps, &bp, 1);
    const uint8_t *head;
    assert_int_equal(tw_parts_stored(ps, 1), 50);
    assert_int_equal(tw_parts_head(ps, 1, &head), 49);
    assert_memory_equal(head, bp.head, sizeof bp.head);
    assert_memory_equal(tw_parts_heads(ps)[1], bp.head, sizeof bp.head);
    tw_parts_free(ps);
}

static void test_loss_until_accepted(void **state)
{
    (void)state;
    tw_parts *ps = tw_parts_new(1);
    const int32_t mine[] = {5};
    int64_t from, to;
    tw_parts_assign(ps, mine, 1);
    tw_parts_set_stored(ps, 5, 10, NULL, -1);
    tw_parts_seek(ps, 5, 10, -1);
    assert_int_equal(tw_parts_lost(ps, 5, 30), 1);
    assert_int_equal(tw_parts_lost(ps, 5, 30), 0); /* known: one line per loss */
    assert_int_equal(tw_parts_loss_next(ps, &from, &to), 5);
    assert_int_equal(from, 10);
    assert_int_equal(to, 30);
    tw_parts_loss_set(ps, 5, TW_LOSS_RECORDING);
    assert_int_equal(tw_parts_loss_next(ps, &from, &to), -1);
    assert_int_equal(tw_parts_loss_waiting(ps), 0);
    tw_parts_loss_set(ps, 5, TW_LOSS_RECORDED);
    assert_int_equal(tw_parts_loss_waiting(ps), 1);
    /* a restart reads the same stored offset: still lost */
    tw_parts_reload(ps);
    tw_parts_set_stored(ps, 5, 10, NULL, -1);
    tw_parts_seek(ps, 5, 10, -1);
    assert_int_equal(tw_parts_loss_known(ps, 5), 1);
    /* twinctl offsets accept-loss moved it: forgotten */
    tw_parts_reload(ps);
    tw_parts_set_stored(ps, 5, 30, NULL, -1);
    tw_parts_seek(ps, 5, 30, -1);
    assert_int_equal(tw_parts_is_lost(ps, 5), 0);
    assert_int_equal(tw_parts_loss_waiting(ps), 0);
    tw_parts_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment_dealt_to_lanes),
        cmocka_unit_test(test_seek_drops_what_came_before),
        cmocka_unit_test(test_nothing_stored_starts_at_log_start),
        cmocka_unit_test(test_loss_until_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
