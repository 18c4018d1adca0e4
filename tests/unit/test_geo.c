/* test_geo.c: resolving a locality code at an event's local date through
 * the 2025 reorganisation of Đà Nẵng (real codes, from the statistics
 * office's conversion table), and twinnings following their commune. */
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
#include "geo.h"
#include "project.h"

static tw_geo *g;
static tw_state *st;
static int seq;

static int32_t day(const char *s)
{
    int32_t d;
    if (tw_geo_parse_day(s, &d) < 0)
        fail_msg("bad date %s", s);
    return d;
}

static void version(const char *code, const char *from, const char *to)
{
    assert_int_equal(tw_geo_add_version(g, code, day(from), day(to)), 0);
}

static void lineage(const char *old_code, const char *old_from, const char *new_code)
{
    assert_int_equal(
        tw_geo_add_lineage(g, old_code, day(old_from), new_code, new_code ? day("2025-07-01") : 0),
        0);
}

static int setup(void **s)
{
    (void)s;
    g = tw_geo_new();
    /* xã La Dêê 20704 + xã Đắc Tôi 20705 -> xã La Dêê 20704 */
    version("20704", "-infinity", "2025-06-30");
    version("20705", "-infinity", "2025-06-30");
    version("20704", "2025-07-01", "infinity");
    lineage("20704", "-infinity", "20704");
    lineage("20705", "-infinity", "20704");
    /* xã Chà Vàl 20707 + xã Zuôih 20701 -> xã Nam Giang 20707 */
    version("20707", "-infinity", "2025-06-30");
    version("20701", "-infinity", "2025-06-30");
    version("20707", "2025-07-01", "infinity");
    lineage("20707", "-infinity", "20707");
    lineage("20701", "-infinity", "20707");
    /* xã Hòa Liên 20296 split between phường Hải Vân 20194 and Liên Chiểu 20197 */
    version("20296", "-infinity", "2025-06-30");
    version("20194", "-infinity", "2025-06-30");
    version("20197", "-infinity", "2025-06-30");
    version("20194", "2025-07-01", "infinity");
    version("20197", "2025-07-01", "infinity");
    lineage("20194", "-infinity", "20194");
    lineage("20197", "-infinity", "20197");
    lineage("20296", "-infinity", "20194");
    lineage("20296", "-infinity", "20197");
    /* thị trấn Thạnh Mỹ -> xã Thạnh Mỹ, same code (retype) */
    version("20695", "-infinity", "2025-06-30");
    version("20695", "2025-07-01", "infinity");
    lineage("20695", "-infinity", "20695");
    /* huyện Hoàng Sa 498 -> đặc khu Hoàng Sa 20333; huyện Nam Giang 510 ends */
    version("498", "-infinity", "2025-06-30");
    version("20333", "2025-07-01", "infinity");
    lineage("498", "-infinity", "20333");
    version("510", "-infinity", "2025-06-30");
    lineage("510", "-infinity", NULL);
    /* a unit with no lineage at all */
    version("20434", "-infinity", "infinity");

    st = tw_state_new();
    seq = 0;
    tw_state_set_geo(st, g);
    assert_int_equal(tw_state_add_agency(st, "PETROLIMEX-QNA"), 0);
    assert_int_equal(tw_state_add_agency(st, "VCB-QNA"), 0);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    tw_state_free(st);
    tw_geo_free(g);
    return 0;
}

static const char *resolve(const char *code, const char *on)
{
    static char out[128];
    tw_geo_res r;
    char from[11], cands[96];
    static const char *names[] = {"valid", "mapped", "ambiguous", "abolished", "unknown"};
    tw_geo_resolve(g, code, day(on), &r);
    if (r.unit) {
        tw_date_format(r.unit->from, from);
        snprintf(out, sizeof out, "%s %s@%s", names[r.status], r.unit->code,
                 r.unit->from == TW_GEO_BEGINNING ? "-infinity" : from);
    } else {
        tw_geo_candidates_text(&r, cands, sizeof cands);
        snprintf(out, sizeof out, "%s%s%s", names[r.status], *cands ? " " : "", cands);
    }
    return out;
}

static void test_version_valid_that_day(void **s)
{
    (void)s;
    assert_string_equal(resolve("20705", "2025-06-30"), "valid 20705@-infinity");
    assert_string_equal(resolve("20704", "2025-06-30"), "valid 20704@-infinity");
    assert_string_equal(resolve("20704", "2025-07-01"), "valid 20704@2025-07-01");
    assert_string_equal(resolve("20707", "2026-03-01"), "valid 20707@2025-07-01");
    assert_string_equal(resolve("20695", "2024-01-01"), "valid 20695@-infinity");
    assert_string_equal(resolve("20695", "2025-07-01"), "valid 20695@2025-07-01");
    assert_string_equal(resolve("20434", "2026-12-04"), "valid 20434@-infinity");
}

static void test_retired_code_maps_to_its_one_successor(void **s)
{
    (void)s;
    assert_string_equal(resolve("20705", "2025-07-01"), "mapped 20704@2025-07-01");
    assert_string_equal(resolve("20701", "2026-12-04"), "mapped 20707@2025-07-01");
    assert_string_equal(resolve("498", "2025-08-01"), "mapped 20333@2025-07-01");
}

static void test_split_is_ambiguous(void **s)
{
    (void)s;
    assert_string_equal(resolve("20296", "2025-07-01"), "ambiguous 20194, 20197");
    assert_string_equal(resolve("20296", "2025-06-30"), "valid 20296@-infinity");
}

static void test_new_code_for_an_old_date_maps_back(void **s)
{
    (void)s;
    /* the special zone's code before it existed: its one predecessor */
    assert_string_equal(resolve("20333", "2024-05-01"), "mapped 498@-infinity");
}

static void test_never_known_and_abolished(void **s)
{
    (void)s;
    assert_string_equal(resolve("20530", "2024-05-01"), "unknown");
    assert_string_equal(resolve("510", "2025-07-01"), "abolished");
    assert_string_equal(resolve("510", "2025-06-30"), "valid 510@-infinity");
}

static void test_lineage_codes(void **s)
{
    (void)s;
    tw_geo_res r;
    const char *codes[8];
    tw_geo_resolve(g, "20704", day("2026-01-01"), &r);
    assert_int_equal(tw_geo_lineage_codes(g, r.unit, codes, 8), 2);
    assert_string_equal(codes[0], "20704");
    assert_string_equal(codes[1], "20705");
    tw_geo_resolve(g, "20705", day("2024-01-01"), &r);
    assert_int_equal(tw_geo_lineage_codes(g, r.unit, codes, 8), 1);
}

/* Applies one event of agency in loc on local date `on`; returns the
 * reason name ("ok" if accepted, "ok mapped" if its code was mapped). */
static const char *apply_on(const char *agency, const char *loc, const char *on, const char *body)
{
    static char reason[64];
    char json[1024], err[256];
    int64_t ms = (int64_t)day(on) * 86400000LL;
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
    snprintf(reason, sizeof reason, "%s",
             rc == 0 ? (tw_project_mapped(st) ? "ok mapped" : "ok") : tw_reason_name(rej.reason));
    tw_event_free(ev);
    return reason;
}

static tw_twinning *twinning(const char *agency, const char *loc)
{
    return tw_state_find_twinning(st, agency, loc);
}

#define SIGN  "\"twinningSigned\":{\"programme\":\"Kết nghĩa\",\"startDate\":\"2021-10-01\"}"
#define VISIT "\"visit\":{\"purpose\":\"thăm\",\"giftValueVnd\":\"1000\"}"
#define PLEDGE                                                                                     \
    "\"supportPledged\":{\"pledgeId\":\"P-1\",\"category\":\"ECONOMIC_MODEL\",\"amountVnd\":"      \
    "\"100\",\"dueDate\":\"2026-06-30\"}"
#define DELIVER                                                                                    \
    "\"supportDelivered\":{\"pledgeId\":\"P-1\",\"category\":\"ECONOMIC_MODEL\",\"amountVnd\":"    \
    "\"100\"}"

static void test_twinning_follows_its_commune(void **s)
{
    (void)s;
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20705", "2021-10-01", SIGN), "ok");
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20705", "2024-03-01", PLEDGE), "ok");
    /* after 1 July 2025: the old code is mapped, the new code names La Dêê */
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20705", "2025-08-01", VISIT), "ok mapped");
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20704", "2025-09-01", VISIT), "ok");
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20704", "2025-10-01", DELIVER), "ok");
    /* still one twinning, under the code it was signed with; re-signing is refused */
    tw_twinning *t = twinning("PETROLIMEX-QNA", "20705");
    assert_non_null(t);
    assert_int_equal(t->visits, 2);
    assert_int_equal(t->delivered_vnd, 100);
    assert_null(twinning("PETROLIMEX-QNA", "20704"));
    assert_int_equal(tw_state_find_pledge(st, "PETROLIMEX-QNA", "P-1")->status, TW_PLEDGE_COMPLETE);
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20704", "2025-11-01", SIGN),
                        "twinning_already_active");
    /* before the reform, 20704 was another commune with no twinning */
    assert_string_equal(apply_on("PETROLIMEX-QNA", "20704", "2025-06-01", VISIT),
                        "twinning_not_active");
}

static void test_two_twinnings_merge_each_history_kept(void **s)
{
    (void)s;
    assert_string_equal(apply_on("VCB-QNA", "20707", "2022-01-10", SIGN), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20701", "2023-01-10", SIGN), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20701", "2023-02-10", VISIT), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20701", "2025-08-10", VISIT), "ok mapped");
    assert_string_equal(apply_on("VCB-QNA", "20707", "2025-09-10", VISIT), "ok");
    /* each code keeps writing its own row; both rows stay, one pair in the views */
    assert_int_equal(twinning("VCB-QNA", "20707")->visits, 1);
    assert_int_equal(twinning("VCB-QNA", "20701")->visits, 2);
    /* a code with no twinning of its own goes to the first active in lineage order */
    assert_string_equal(apply_on("VCB-QNA", "20707", "2025-10-10", "\"twinningEnded\":{}"), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20707", "2025-10-11", VISIT), "ok");
    assert_int_equal(twinning("VCB-QNA", "20701")->visits, 3);
}

static void test_split_and_unknown_are_refused(void **s)
{
    (void)s;
    assert_string_equal(apply_on("VCB-QNA", "20296", "2024-01-10", SIGN), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20296", "2025-08-10", VISIT), "locality_ambiguous");
    /* the new code of one part finds the twinning with the split commune */
    assert_string_equal(apply_on("VCB-QNA", "20197", "2025-08-10", VISIT), "ok");
    assert_int_equal(twinning("VCB-QNA", "20296")->visits, 1);
    assert_string_equal(apply_on("VCB-QNA", "20530", "2024-01-10", SIGN), "unknown_locality");
    assert_string_equal(apply_on("VCB-QNA", "510", "2025-08-10", SIGN), "unknown_locality");
}

static void test_retype_keeps_the_twinning(void **s)
{
    (void)s;
    assert_string_equal(apply_on("VCB-QNA", "20695", "2023-05-01", SIGN), "ok");
    assert_string_equal(apply_on("VCB-QNA", "20695", "2025-07-02", VISIT), "ok");
    assert_int_equal(twinning("VCB-QNA", "20695")->visits, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version_valid_that_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retired_code_maps_to_its_one_successor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_split_is_ambiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_code_for_an_old_date_maps_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_known_and_abolished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lineage_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_twinning_follows_its_commune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_twinnings_merge_each_history_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_split_and_unknown_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retype_keeps_the_twinning, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
