/* test_arena.c: the batch arena: alignment, reuse after a reset without
 * growing, oversized requests, and protobuf-c unpacking into it (what the
 * projector does with every event). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "arena.h"
#include "codec.h"
#include "twinwatch/v1/events.pb-c.h"

static void test_alignment_and_contents(void **state)
{
    (void)state;
    tw_arena *a = tw_arena_new(4096);
    assert_non_null(a);
    char *prev = NULL;
    for (size_t n = 1; n < 300; n++) {
        char *p = tw_arena_alloc(a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, (int)(n & 0xff), n);
        if (prev)
            assert_int_equal((unsigned char)prev[0], (n - 1) & 0xff); /* not overwritten */
        prev = p;
    }
    assert_string_equal(tw_arena_strdup(a, "Đắc Tôi"), "Đắc Tôi");
    tw_arena_free(a);
}

static void test_reset_reuses_blocks(void **state)
{
    (void)state;
    tw_arena *a = tw_arena_new(4096);
    for (int i = 0; i < 100; i++)
        assert_non_null(tw_arena_alloc(a, 1000));
    size_t held = tw_arena_held(a);
    assert_true(held >= 100 * 1000);
    for (int round = 0; round < 10; round++) {
        tw_arena_reset(a);
        for (int i = 0; i < 100; i++)
            assert_non_null(tw_arena_alloc(a, 1000));
    }
    assert_int_equal(tw_arena_held(a), held); /* a batch as large as the first costs nothing more */
    /* an oversized request gets a block of its own, given back at reset */
    char *big = tw_arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_int_equal(tw_arena_held(a), held + 100000);
    tw_arena_reset(a);
    assert_int_equal(tw_arena_held(a), held);
    tw_arena_free(a);
}

static void test_protobuf_unpack_into_arena(void **state)
{
    (void)state;
    Twinwatch__V1__Event ev = TWINWATCH__V1__EVENT__INIT;
    Twinwatch__V1__SupportPledged sp = TWINWATCH__V1__SUPPORT_PLEDGED__INIT;
    uint8_t buf[512];
    tw_reject rej;
    ev.agency_code = "PETROLIMEX-QNA";
    ev.locality_code = "20530";
    ev.body_case = TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED;
    ev.support_pledged = &sp;
    sp.pledge_id = "P-14";
    sp.amount_vnd = 150000000;
    size_t len = twinwatch__v1__event__pack(&ev, buf);

    tw_arena *a = tw_arena_new(1024);
    for (int round = 0; round < 3; round++) {
        tw_event *got = tw_codec_decode_in(buf, len, tw_arena_protobuf(a), &rej);
        assert_non_null(got);
        assert_string_equal(got->agency_code, "PETROLIMEX-QNA");
        assert_string_equal(tw_event_pledge_id(got), "P-14");
        assert_int_equal(got->support_pledged->amount_vnd, 150000000);
        tw_arena_reset(a); /* no free_unpacked: the reset is the free */
    }
    /* undecodable bytes: refused with a reason, nothing to free */
    assert_null(tw_codec_decode_in("\xff\xfe\xfd", 3, tw_arena_protobuf(a), &rej));
    assert_int_equal(rej.reason, TW_R_UNDECODABLE);
    tw_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_contents),
        cmocka_unit_test(test_reset_reuses_blocks),
        cmocka_unit_test(test_protobuf_unpack_into_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
