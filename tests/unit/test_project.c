/* test_project.c: the projection state machine against docs/projection-rules.md:
 * completeness, parking, revisions, cancellations and each stateful refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec.h"
#include "date.h"
#include "feed.h"
#include "project.h"

static tw_state *st;
static int seq;

static int setup(void **s)
{
    (void)s;
    st = tw_state_new();
    seq = 0;
    assert_int_equal(tw_state_add_agency(st, "PETROLIMEX-QNA"), 0);
    assert_int_equal(tw_state_add_agency(st, "VCB-QNA"), 0);
    assert_int_equal(tw_state_add_locality(st, "20530"), 0);
    assert_int_equal(tw_state_add_locality(st, "20533"), 0);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    tw_state_free(st);
    return 0;
}

/* Applies one event given as the JSON body for PETROLIMEX-QNA in locality
 * loc at day-of-2026 `day`; returns the reason name ("ok" if accepted). */
static const char *apply_at(const char *agency, const char *loc, int day, const char *body)
{
    static char reason[64];
    char json[1024], err[256];
    int64_t ms = (int64_t)(20454 + day) * 86400000LL; /* 20454 = 2026-01-01 */
    snprintf(json, sizeof json,
             "{\"agencyCode\":\"%s\",\"localityCode\":\"%s\",\"occurredAtMs\":\"%lld\","
             "\"sourceSystem\":\"erp\",\"sourceRef\":\"r%d\",%s}",
             agency, loc, (long long)ms, ++seq, body);
    tw_event *ev = tw_feed_from_json(json, strlen(json), err, sizeof err);
    if (!ev)
        fail_msg("bad test event: %s", err);
    uint8_t id[16];
    tw_reject rej = {0};
    int rc = tw_codec_check(ev, ms + 1000, id, &rej);
    if (rc == 0)
        rc = tw_project_apply(st, ev, id, 0, seq, &rej);
    snprintf(reason, sizeof reason, "%s", rc == 0 ? "ok" : tw_reason_name(rej.reason));
    tw_event_free(ev);
    return reason;
}

static const char *apply(int day, const char *body)
{
    return apply_at("PETROLIMEX-QNA", "20530", day, body);
}

static tw_pledge *pledge(const char *id)
{
    size_t pos = 0;
    tw_pledge *p;
    while ((p = tw_state_next_pledge(st, &pos)))
        if (!strcmp(p->pledge_id, id))
            return p;
    return NULL;
}

static tw_twinning *twinning(const char *loc)
{
    size_t pos = 0;
    tw_twinning *t;
    while ((t = tw_state_next_twinning(st, &pos)))
        if (!strcmp(t->locality_code, loc))
            return t;
    return NULL;
}

#define SIGN "\"twinningSigned\":{\"programme\":\"Kết nghĩa\",\"startDate\":\"2021-10-01\"}"

static void test_pledge_completes_on_amount_and_quantity(void **s)
{
    (void)s;
    assert_string_equal(apply(1, SIGN), "ok");
    assert_string_equal(apply(2, "\"supportPledged\":{\"pledgeId\":\"P-14\",\"category\":"
                                 "\"ECONOMIC_MODEL\",\"amountVnd\":\"150000000\","
                                 "\"targetQuantity\":\"20\",\"dueDate\":\"2026-06-30\"}"),
                        "ok");
    assert_string_equal(apply(3, "\"supportDelivered\":{\"pledgeId\":\"P-14\",\"category\":"
                                 "\"ECONOMIC_MODEL\",\"amountVnd\":\"150000000\","
                                 "\"quantity\":\"5\"}"),
                        "ok");
    assert_int_equal(pledge("P-14")->status, TW_PLEDGE_OPEN); /* 5 of 20 households */
    assert_string_equal(apply(4, "\"trainingDelivered\":{\"pledgeId\":\"P-14\",\"audience\":"
                                 "\"RESIDENTS_VOCATIONAL\",\"trainees\":15}"),
                        "ok");
    tw_pledge *p = pledge("P-14");
    assert_int_equal(p->status, TW_PLEDGE_COMPLETE);
    assert_int_equal(p->delivered_qty, 20);
    assert_int_equal(p->completed_at, (int64_t)(20454 + 4) * 86400000LL);
    tw_twinning *t = twinning("20530");
    assert_int_equal(t->substantive, 2);
    assert_int_equal(t->formal, 0);
    assert_int_equal(t->trainees, 15);
    assert_int_equal(t->delivered_vnd, 150000000);
}

static void test_parked_delivery_applied_when_pledge_arrives(void **s)
{
    (void)s;
    assert_string_equal(apply(1, SIGN), "ok");
    assert_string_equal(apply(2, "\"supportDelivered\":{\"pledgeId\":\"P-9\",\"category\":"
                                 "\"HOUSING\",\"amountVnd\":\"40000000\"}"),
                        "ok");
    assert_null(pledge("P-9"));
    assert_int_equal(twinning("20530")->delivered_vnd, 40000000);
    assert_int_equal(twinning("20530")->formal, 1);
    assert_string_equal(apply(3, "\"supportPledged\":{\"pledgeId\":\"P-9\",\"category\":"
                                 "\"HOUSING\",\"amountVnd\":\"100000000\"}"),
                        "ok");
    assert_int_equal(pledge("P-9")->delivered_vnd, 40000000);
    assert_int_equal(pledge("P-9")->status, TW_PLEDGE_OPEN);
    size_t pos = 0;
    tw_parked *k = tw_state_next_parked(st, &pos, NULL);
    assert_non_null(k);
    assert_true(k->applied);
    /* the twinning counted the delivery once, when it arrived */
    assert_int_equal(twinning("20530")->delivered_vnd, 40000000);
}

static void test_revision_recomputes_and_cancel(void **s)
{
    (void)s;
    apply(1, SIGN);
    apply(2, "\"supportPledged\":{\"pledgeId\":\"P-1\",\"amountVnd\":\"100\","
             "\"dueDate\":\"2026-03-31\"}");
    apply(3, "\"supportDelivered\":{\"pledgeId\":\"P-1\",\"amountVnd\":\"60\"}");
    assert_string_equal(apply(4, "\"pledgeRevised\":{\"pledgeId\":\"P-1\",\"newAmountVnd\":\"60\","
                                 "\"newDueDate\":\"2026-09-30\"}"),
                        "ok");
    tw_pledge *p = pledge("P-1");
    assert_int_equal(p->status, TW_PLEDGE_COMPLETE);
    int32_t due;
    assert_int_equal(tw_date_parse("2026-09-30", &due), 0);
    assert_int_equal(p->due_date, due);
    assert_string_equal(
        apply(5, "\"pledgeRevised\":{\"pledgeId\":\"P-1\",\"newAmountVnd\":\"90\"}"), "ok");
    assert_int_equal(pledge("P-1")->status, TW_PLEDGE_OPEN);
    assert_string_equal(apply(6, "\"pledgeRevised\":{\"pledgeId\":\"P-1\","
                                 "\"newDueDate\":\"2025-12-31\"}"),
                        "due_before_pledge");
    assert_string_equal(apply(7, "\"pledgeCancelled\":{\"pledgeId\":\"P-1\",\"reason\":\"x\"}"),
                        "ok");
    assert_int_equal(pledge("P-1")->status, TW_PLEDGE_CANCELLED);
    assert_string_equal(apply(8, "\"pledgeCancelled\":{\"pledgeId\":\"P-1\"}"), "pledge_cancelled");
    assert_string_equal(apply(8, "\"pledgeRevised\":{\"pledgeId\":\"P-1\",\"newAmountVnd\":\"1\"}"),
                        "pledge_cancelled");
}

static void test_stateful_refusals(void **s)
{
    (void)s;
    assert_string_equal(apply(1, "\"visit\":{\"purpose\":\"Tết\"}"), "twinning_not_active");
    assert_string_equal(apply_at("NOBODY", "20530", 1, SIGN), "unknown_agency");
    assert_string_equal(apply_at("PETROLIMEX-QNA", "99999", 1, SIGN), "unknown_locality");
    assert_string_equal(apply(1, SIGN), "ok");
    assert_string_equal(apply(2, SIGN), "twinning_already_active");
    assert_string_equal(
        apply(2, "\"pledgeRevised\":{\"pledgeId\":\"P-404\",\"newAmountVnd\":\"1\"}"),
        "unknown_pledge");
    assert_string_equal(apply(3, "\"supportPledged\":{\"pledgeId\":\"P-2\",\"amountVnd\":\"5\"}"),
                        "ok");
    assert_string_equal(apply(3, "\"supportPledged\":{\"pledgeId\":\"P-2\",\"amountVnd\":\"5\"}"),
                        "duplicate_pledge");
    assert_string_equal(apply_at("PETROLIMEX-QNA", "20533", 4, SIGN), "ok");
    assert_string_equal(apply_at("PETROLIMEX-QNA", "20533", 5,
                                 "\"supportDelivered\":{\"pledgeId\":\"P-2\",\"amountVnd\":\"5\"}"),
                        "pledge_locality_mismatch");
    assert_string_equal(apply(6, "\"twinningEnded\":{\"reason\":\"term over\"}"), "ok");
    assert_string_equal(apply(7, "\"visit\":{}"), "twinning_not_active");
    /* heartbeats need no active twinning; signing again starts a new term */
    assert_string_equal(apply(7, "\"feedHeartbeat\":{}"), "ok");
    assert_string_equal(apply(8, SIGN), "ok");
    assert_int_equal(twinning("20530")->terms, 2);
}

static void test_pledge_without_targets_completes_at_first_delivery(void **s)
{
    (void)s;
    apply(1, SIGN);
    apply(2, "\"supportPledged\":{\"pledgeId\":\"P-3\",\"category\":\"OTHER\"}");
    assert_int_equal(pledge("P-3")->status, TW_PLEDGE_OPEN);
    apply(3, "\"trainingDelivered\":{\"pledgeId\":\"P-3\",\"trainees\":0}");
    assert_int_equal(pledge("P-3")->status, TW_PLEDGE_COMPLETE);
}

static void test_activity_mix_and_sources(void **s)
{
    (void)s;
    apply(1, SIGN);
    apply(10, "\"visit\":{\"giftValueVnd\":\"2000000\"}");
    apply(11, "\"supportDelivered\":{\"category\":\"JOB_CREATION\",\"quantity\":\"7\"}");
    apply(12, "\"supportDelivered\":{\"category\":\"MODEL_REPLICATION\",\"quantity\":\"2\"}");
    apply(13, "\"supportDelivered\":{\"category\":\"LIVELIHOOD_GOODS\",\"amountVnd\":\"9\"}");
    apply(40, "\"feedHeartbeat\":{}");
    tw_twinning *t = twinning("20530");
    assert_int_equal(t->visits, 1);
    assert_int_equal(t->gift_value_vnd, 2000000);
    assert_int_equal(t->jobs, 7);
    assert_int_equal(t->models_replicated, 2);
    assert_int_equal(t->substantive, 2);
    assert_int_equal(t->formal, 2);
    assert_int_equal(t->last_activity_at, (int64_t)(20454 + 13) * 86400000LL);
    size_t pos = 0;
    tw_source *src = tw_state_next_source(st, &pos);
    assert_non_null(src);
    assert_int_equal(src->events, 6);
    assert_int_equal(src->last_seen_at, (int64_t)(20454 + 40) * 86400000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pledge_completes_on_amount_and_quantity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_parked_delivery_applied_when_pledge_arrives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revision_recomputes_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stateful_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pledge_without_targets_completes_at_first_delivery,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_activity_mix_and_sources, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
