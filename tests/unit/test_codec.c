/* test_codec.c: decoding and the stateless validation, one test per reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec.h"
#include "date.h"
#include "feed.h"

#define NOW 1764115200000LL /* 2025-11-26T00:00:00Z */

static tw_event *ev_json(const char *json)
{
    char err[256];
    tw_event *ev = tw_feed_from_json(json, strlen(json), err, sizeof err);
    if (!ev)
        fail_msg("test event did not map: %s", err);
    return ev;
}

/* Checks json and expects reason r (TW_R_OK for accepted). */
static void expect(const char *json, tw_reason r, const char *in_msg)
{
    tw_event *ev = ev_json(json);
    tw_reject rej = {0};
    uint8_t id[16];
    int rc = tw_codec_check(ev, NOW, id, &rej);
    if (r == TW_R_OK) {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, -1);
        assert_string_equal(tw_reason_name(rej.reason), tw_reason_name(r));
        if (in_msg && !strstr(rej.msg, in_msg))
            fail_msg("message \"%s\" does not name \"%s\"", rej.msg, in_msg);
    }
    tw_event_free(ev);
}

#define HEAD                                                                                       \
    "{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"PETROLIMEX-QNA\","     \
    "\"localityCode\":\"20530\",\"occurredAtMs\":\"1751328000000\",\"sourceSystem\":\"erp\","      \
    "\"sourceRef\":\"R1\","

static void test_valid_pledge(void **s)
{
    (void)s;
    expect(HEAD "\"supportPledged\":{\"pledgeId\":\"P-14\",\"category\":\"ECONOMIC_MODEL\","
                "\"amountVnd\":\"150000000\",\"dueDate\":\"2026-06-30\"}}",
           TW_R_OK, NULL);
}

static void test_missing_fields(void **s)
{
    (void)s;
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"localityCode\":\"20530\","
           "\"occurredAtMs\":\"1751328000000\",\"visit\":{}}",
           TW_R_MISSING_FIELD, "agency_code");
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"occurredAtMs\":\"1751328000000\",\"visit\":{}}",
           TW_R_MISSING_FIELD, "locality_code");
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"20530\",\"visit\":{}}",
           TW_R_MISSING_FIELD, "occurred_at_ms");
    expect(HEAD "\"pledgeCancelled\":{\"reason\":\"x\"}}", TW_R_MISSING_FIELD, "pledge_id");
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"1\",\"occurredAtMs\":\"-5\",\"visit\":{}}",
           TW_R_BAD_FIELD, "before 2000-01-01");
}

static void test_bad_fields(void **s)
{
    (void)s;
    expect("{\"eventId\":\"not-a-uuid\",\"agencyCode\":\"A\",\"localityCode\":\"1\","
           "\"occurredAtMs\":\"1751328000000\",\"visit\":{}}",
           TW_R_BAD_FIELD, "not-a-uuid");
    expect(HEAD "\"supportPledged\":{\"pledgeId\":\"P\",\"dueDate\":\"2026-02-30\"}}",
           TW_R_BAD_FIELD, "2026-02-30");
    expect(HEAD "\"supportDelivered\":{\"category\":99}}", TW_R_BAD_FIELD, "category");
    expect(HEAD "\"trainingDelivered\":{\"audience\":7}}", TW_R_BAD_FIELD, "audience");
}

static void test_future_and_amounts(void **s)
{
    (void)s;
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"1\",\"occurredAtMs\":\"1764288000001\",\"visit\":{}}",
           TW_R_FUTURE_EVENT, NULL);
    /* just under a day ahead is fine */
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"1\",\"occurredAtMs\":\"1764201600000\",\"visit\":{}}",
           TW_R_OK, NULL);
    expect(HEAD "\"supportDelivered\":{\"amountVnd\":\"-5\"}}", TW_R_BAD_AMOUNT, "negative");
    expect(HEAD "\"supportDelivered\":{\"amountVnd\":\"1000000000000001\"}}", TW_R_BAD_AMOUNT,
           "10^15");
    expect(HEAD "\"supportDelivered\":{\"amountVnd\":\"1000000000000000\"}}", TW_R_OK, NULL);
    expect(HEAD "\"visit\":{\"giftValueVnd\":\"-1\"}}", TW_R_BAD_AMOUNT, "gift_value_vnd");
}

static void test_due_before_pledge_local_date(void **s)
{
    (void)s;
    /* 1751302800000 = 2025-06-30T17:00:00Z = 2025-07-01 00:00 in Hanoi */
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"1\",\"occurredAtMs\":\"1751302800000\","
           "\"supportPledged\":{\"pledgeId\":\"P\",\"dueDate\":\"2025-06-30\"}}",
           TW_R_DUE_BEFORE_PLEDGE, "2025-07-01");
    expect("{\"eventId\":\"6f1c1a52-8a57-4d4e-9d35-0b4f2d6a9a01\",\"agencyCode\":\"A\","
           "\"localityCode\":\"1\",\"occurredAtMs\":\"1751302799999\","
           "\"supportPledged\":{\"pledgeId\":\"P\",\"dueDate\":\"2025-06-30\"}}",
           TW_R_OK, NULL);
}

static void test_undecodable_and_unknown_body(void **s)
{
    (void)s;
    tw_reject rej;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_null(tw_codec_decode(junk, sizeof junk, &rej));
    assert_string_equal(tw_reason_name(rej.reason), "undecodable");

    /* event_id, agency, locality, occurred_at, then field 40 (a future body) */
    const uint8_t future[] = {0x0a, 0x24, '6',  'f', '1',  'c',  '1',  'a',  '5',  '2',
                              '-',  '8',  'a',  '5', '7',  '-',  '4',  'd',  '4',  'e',
                              '-',  '9',  'd',  '3', '5',  '-',  '0',  'b',  '4',  'f',
                              '2',  'd',  '6',  'a', '9',  'a',  '0',  '1',  0x1a, 0x01,
                              'A',  0x22, 0x01, '1', 0x28, 0x01, 0xc2, 0x02, 0x00};
    tw_event *ev = tw_codec_decode(future, sizeof future, &rej);
    assert_non_null(ev);
    uint8_t id[16];
    assert_int_equal(tw_codec_check(ev, NOW, id, &rej), -1);
    assert_string_equal(tw_reason_name(rej.reason), "unknown_body");
    assert_non_null(strstr(rej.msg, "40"));
    tw_event_free(ev);
}

static void test_canonical_bytes_stable(void **s)
{
    (void)s;
    tw_event *a = ev_json(HEAD "\"visit\":{\"purpose\":\"Tết\",\"participants\":12}}");
    size_t la, lb;
    uint8_t *pa = tw_codec_pack(a, &la);
    tw_reject rej;
    tw_event *b = tw_codec_decode(pa, la, &rej);
    uint8_t *pb = tw_codec_pack(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    assert_string_equal(tw_event_type(b), "visit");
    free(pa);
    free(pb);
    tw_event_free(a);
    tw_event_free(b);
}

static void test_dates(void **s)
{
    (void)s;
    int32_t d;
    char out[11];
    assert_int_equal(tw_date_parse("2024-02-29", &d), 0);
    tw_date_format(d, out);
    assert_string_equal(out, "2024-02-29");
    assert_int_equal(tw_date_parse("2023-02-29", &d), -1);
    assert_int_equal(tw_date_parse("2023-1-01", &d), -1);
    assert_int_equal(tw_date_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    /* 16:59:59.999Z is still the same local day; 17:00Z is the next */
    assert_int_equal(tw_date_of_ms(61199999), 0);
    assert_int_equal(tw_date_of_ms(61200000), 1);
    assert_int_equal(tw_date_of_ms(-25200001), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_pledge),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_future_and_amounts),
        cmocka_unit_test(test_due_before_pledge_local_date),
        cmocka_unit_test(test_undecodable_and_unknown_body),
        cmocka_unit_test(test_canonical_bytes_stable),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
