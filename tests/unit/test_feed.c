/* test_feed.c: feed files to Events and back: the JSON mapping's values and
 * refusals, the JSON lines and CSV readers, and JSON round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "uuid.h"

#define EXAMPLE_ID "0f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5"

/* The example line from the feed specification, keys in field order. */
static const char example_line[] =
    "{\"eventId\":\"" EXAMPLE_ID "\",\"agencyCode\":\"PETROLIMEX-QNA\",\"localityCode\":"
    "\"20530\",\"occurredAtMs\":\"1767225600000\",\"sourceSystem\":\"petrolimex-erp\","
    "\"sourceRef\":\"KN-2026-014\",\"supportPledged\":{\"pledgeId\":\"P-14\",\"category\":"
    "\"ECONOMIC_MODEL\",\"amountVnd\":\"150000000\",\"dueDate\":\"2026-06-30\"}}";

static tw_event *from_json(const char *json)
{
    char err[256] = "";
    tw_event *ev = tw_feed_from_json(json, strlen(json), err, sizeof err);

    if (ev == NULL)
        fail_msg("refused %s: %s", json, err);
    return ev;
}

static void assert_refused(const char *json, const char *expect)
{
    char err[256] = "";
    tw_event *ev = tw_feed_from_json(json, strlen(json), err, sizeof err);

    if (ev != NULL) {
        tw_event_free(ev);
        fail_msg("accepted %s", json);
    }
    if (strstr(err, expect) == NULL)
        fail_msg("refusal of %s says \"%s\", expected \"%s\"", json, err, expect);
}

static uint8_t *packed(const tw_event *ev, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&ev->base);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(&ev->base, buf), *len);
    return buf;
}

static void assert_same_event(const tw_event *a, const tw_event *b)
{
    size_t la, lb;
    uint8_t *pa = packed(a, &la), *pb = packed(b, &lb);

    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

static void assert_json(const tw_event *ev, const char *expect)
{
    char *json = tw_feed_to_json(ev);

    assert_non_null(json);
    assert_string_equal(json, expect);
    free(json);
}

static FILE *memfile(const char *text)
{
    FILE *f = tmpfile();

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    rewind(f);
    return f;
}

/* ---- JSON mapping --------------------------------------------------------- */

static void test_example_line(void **state)
{
    (void)state;
    tw_event *ev = from_json(example_line);

    assert_string_equal(ev->event_id, EXAMPLE_ID);
    assert_int_equal(ev->schema_version, 0);
    assert_string_equal(ev->agency_code, "PETROLIMEX-QNA");
    assert_string_equal(ev->locality_code, "20530");
    assert_true(ev->occurred_at_ms == INT64_C(1767225600000));
    assert_true(ev->recorded_at_ms == 0);
    assert_string_equal(ev->source_system, "petrolimex-erp");
    assert_string_equal(ev->source_ref, "KN-2026-014");
    assert_string_equal(ev->actor, "");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED);
    const Twinwatch__V1__SupportPledged *p = ev->support_pledged;
    assert_non_null(p);
    assert_string_equal(p->pledge_id, "P-14");
    assert_int_equal(p->category, TWINWATCH__V1__CATEGORY__ECONOMIC_MODEL);
    assert_true(p->amount_vnd == 150000000);
    assert_string_equal(p->in_kind, "");
    assert_true(p->in_kind_value_vnd == 0 && p->target_quantity == 0);
    assert_string_equal(p->unit, "");
    assert_string_equal(p->due_date, "2026-06-30");
    assert_int_equal(p->funding, TWINWATCH__V1__FUNDING_SOURCE__FUNDING_UNSPECIFIED);

    /* rendering gives the line back byte for byte */
    assert_json(ev, example_line);
    tw_event_free(ev);
}

static void test_full_support_pledged(void **state)
{
    (void)state;
    /* every field, numbers both ways, snake_case and camelCase keys mixed */
    tw_event *ev = from_json(
        "{\"eventId\":\"" EXAMPLE_ID "\",\"schemaVersion\":1,\"agencyCode\":\"PETROLIMEX-QNA\","
        "\"locality_code\":\"20530\",\"occurredAtMs\":1767225600000,"
        "\"recorded_at_ms\":\"1767225601234\",\"sourceSystem\":\"petrolimex-erp\","
        "\"source_ref\":\"KN-2026-014\",\"actor\":\"Nguyễn Văn A\","
        "\"support_pledged\":{\"pledge_id\":\"P-14\",\"category\":\"ECONOMIC_MODEL\","
        "\"amountVnd\":150000000,\"in_kind\":\"seedlings\",\"inKindValueVnd\":\"25000000\","
        "\"targetQuantity\":1200,\"unit\":\"tree\",\"dueDate\":\"2026-06-30\","
        "\"funding\":\"MOBILISED\"}}");

    assert_string_equal(ev->event_id, EXAMPLE_ID);
    assert_int_equal(ev->schema_version, 1);
    assert_string_equal(ev->locality_code, "20530");
    assert_true(ev->occurred_at_ms == INT64_C(1767225600000));
    assert_true(ev->recorded_at_ms == INT64_C(1767225601234));
    assert_string_equal(ev->source_ref, "KN-2026-014");
    assert_string_equal(ev->actor, "Nguyễn Văn A");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED);
    const Twinwatch__V1__SupportPledged *p = ev->support_pledged;
    assert_string_equal(p->pledge_id, "P-14");
    assert_int_equal(p->category, TWINWATCH__V1__CATEGORY__ECONOMIC_MODEL);
    assert_true(p->amount_vnd == 150000000);
    assert_string_equal(p->in_kind, "seedlings");
    assert_true(p->in_kind_value_vnd == 25000000);
    assert_true(p->target_quantity == 1200);
    assert_string_equal(p->unit, "tree");
    assert_string_equal(p->due_date, "2026-06-30");
    assert_int_equal(p->funding, TWINWATCH__V1__FUNDING_SOURCE__MOBILISED);

    assert_json(ev, "{\"eventId\":\"" EXAMPLE_ID "\",\"schemaVersion\":1,\"agencyCode\":"
                    "\"PETROLIMEX-QNA\",\"localityCode\":\"20530\",\"occurredAtMs\":"
                    "\"1767225600000\",\"recordedAtMs\":\"1767225601234\",\"sourceSystem\":"
                    "\"petrolimex-erp\",\"sourceRef\":\"KN-2026-014\",\"actor\":\"Nguyễn Văn "
                    "A\",\"supportPledged\":{\"pledgeId\":\"P-14\",\"category\":"
                    "\"ECONOMIC_MODEL\",\"amountVnd\":\"150000000\",\"inKind\":\"seedlings\","
                    "\"inKindValueVnd\":\"25000000\",\"targetQuantity\":\"1200\",\"unit\":"
                    "\"tree\",\"dueDate\":\"2026-06-30\",\"funding\":\"MOBILISED\"}}");
    tw_event_free(ev);
}

static void test_event_id_derived(void **state)
{
    (void)state;
    char id[TW_UUID_STRLEN + 1];
    tw_event *ev;

    tw_uuid_event_id("petrolimex-erp", "KN-2026-014", id);
    assert_string_equal(id, "e14366d6-6e63-5367-8f3a-ea744e9d417d"); /* python's uuid5 */

    ev = from_json("{\"sourceSystem\":\"petrolimex-erp\",\"sourceRef\":\"KN-2026-014\","
                   "\"feedHeartbeat\":{}}");
    assert_string_equal(ev->event_id, id);
    tw_event_free(ev);

    /* an empty eventId counts as missing */
    ev = from_json("{\"eventId\":\"\",\"sourceSystem\":\"petrolimex-erp\","
                   "\"sourceRef\":\"KN-2026-014\"}");
    assert_string_equal(ev->event_id, id);
    tw_event_free(ev);

    /* a given eventId is kept */
    ev = from_json("{\"eventId\":\"x-1\",\"sourceSystem\":\"a\",\"sourceRef\":\"b\"}");
    assert_string_equal(ev->event_id, "x-1");
    tw_event_free(ev);

    static const char no_id[] = "no eventId and no sourceSystem+sourceRef to derive it from";
    assert_refused("{\"agencyCode\":\"A\"}", no_id);
    assert_refused("{\"sourceSystem\":\"petrolimex-erp\"}", no_id);
    assert_refused("{\"eventId\":\"\",\"sourceSystem\":\"s\",\"sourceRef\":\"\"}", no_id);
    assert_refused("{\"eventId\":null,\"sourceSystem\":null,\"sourceRef\":\"r\"}", no_id);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
#define E "{\"eventId\":\"e\","
    /* unknown fields */
    assert_refused(E "\"supportPledgd\":{}}", "unknown field \"supportPledgd\"");
    assert_refused(E "\"supportPledged\":{\"pledgeIdd\":\"P\"}}",
                   "unknown field \"supportPledged.pledgeIdd\"");
    assert_refused(E "\"EventId\":\"x\"}", "unknown field \"EventId\"");
    /* integers */
    assert_refused(E "\"supportPledged\":{\"amountVnd\":\"abc\"}}",
                   "supportPledged.amountVnd: expected an integer");
    assert_refused(E "\"supportPledged\":{\"amountVnd\":1.5}}",
                   "supportPledged.amountVnd: expected an integer");
    assert_refused(E "\"supportPledged\":{\"amountVnd\":\"1.5\"}}",
                   "supportPledged.amountVnd: expected an integer");
    assert_refused(E "\"supportPledged\":{\"amountVnd\":\" 12\"}}",
                   "supportPledged.amountVnd: expected an integer");
    assert_refused(E "\"supportPledged\":{\"amountVnd\":true}}",
                   "supportPledged.amountVnd: expected an integer");
    assert_refused(E "\"supportPledged\":{\"amountVnd\":\"9223372036854775808\"}}",
                   "supportPledged.amountVnd: out of range for int64");
    assert_refused(E "\"occurredAtMs\":\"-9223372036854775809\"}",
                   "occurredAtMs: out of range for int64");
    assert_refused(E "\"schemaVersion\":-1}", "schemaVersion: must not be negative");
    assert_refused(E "\"schemaVersion\":\"-3\"}", "schemaVersion: must not be negative");
    assert_refused(E "\"schemaVersion\":4294967296}", "schemaVersion: out of range for uint32");
    assert_refused(E "\"visit\":{\"participants\":\"4294967296\"}}",
                   "visit.participants: out of range for uint32");
    /* strings */
    assert_refused(E "\"agencyCode\":42}", "agencyCode: expected a string");
    assert_refused(E "\"agencyCode\":[\"A\"]}", "agencyCode: expected a string");
    /* enums */
    assert_refused(E "\"supportPledged\":{\"category\":\"ECONOMIC\"}}",
                   "supportPledged.category: unknown Category value \"ECONOMIC\"");
    assert_refused(E "\"trainingDelivered\":{\"audience\":\"economic_model\"}}",
                   "trainingDelivered.audience: unknown Audience value \"economic_model\"");
    assert_refused(E "\"supportPledged\":{\"category\":true}}",
                   "supportPledged.category: expected a Category name or number");
    /* messages and the oneof */
    assert_refused(E "\"supportPledged\":\"P-14\"}", "supportPledged: expected an object");
    assert_refused(E "\"feedHeartbeat\":[]}", "feedHeartbeat: expected an object");
    assert_refused(E "\"supportPledged\":{\"pledgeId\":\"P\"},\"visit\":{}}",
                   "supportPledged and visit both given");
    assert_refused(E "\"feedHeartbeat\":{},\"pledgeCancelled\":{\"pledgeId\":\"P\"}}",
                   "feedHeartbeat and pledgeCancelled both given");
    /* one field under both names */
    assert_refused(E "\"event_id\":\"f\"}", "eventId: given twice");
    /* not JSON, not an object */
    assert_refused("{\"eventId\":", "invalid JSON");
    assert_refused("[1]", "expected a JSON object");
    assert_refused(E "\"actor\":\"a\",\"actor\":\"b\"}", "duplicate");
    /* partly built messages are freed (LeakSanitizer checks) */
    assert_refused(E "\"agencyCode\":\"A\",\"supportPledged\":{\"pledgeId\":\"P\",\"unit\":\"u\","
                     "\"category\":\"NOPE\"}}",
                   "supportPledged.category");
    assert_refused(E "\"actor\":\"a\",\"supportPledged\":{\"pledgeId\":\"P\"},\"bogus\":1}",
                   "unknown field \"bogus\"");
#undef E
}

static void test_values_accepted(void **state)
{
    (void)state;
    tw_event *ev;

    /* enums by number (as number or string); unknown numbers are left to the validator */
    ev = from_json("{\"eventId\":\"e\",\"supportPledged\":{\"category\":3}}");
    assert_int_equal(ev->support_pledged->category, TWINWATCH__V1__CATEGORY__INFRASTRUCTURE);
    tw_event_free(ev);
    ev = from_json("{\"eventId\":\"e\",\"supportDelivered\":{\"category\":\"9\"}}");
    assert_int_equal(ev->support_delivered->category, TWINWATCH__V1__CATEGORY__SOCIAL_SECURITY);
    tw_event_free(ev);
    ev = from_json("{\"eventId\":\"e\",\"supportPledged\":{\"category\":99}}");
    assert_int_equal(ev->support_pledged->category, 99);
    assert_json(ev, "{\"eventId\":\"e\",\"supportPledged\":{\"category\":99}}");
    tw_event_free(ev);

    /* integer limits */
    ev = from_json(
        "{\"eventId\":\"e\",\"schemaVersion\":\"4294967295\","
        "\"occurredAtMs\":\"-9223372036854775808\",\"recordedAtMs\":9223372036854775807}");
    assert_true(ev->schema_version == UINT32_MAX);
    assert_true(ev->occurred_at_ms == INT64_MIN);
    assert_true(ev->recorded_at_ms == INT64_MAX);
    tw_event_free(ev);

    /* null is an absent field, also for bodies */
    ev = from_json("{\"eventId\":\"e\",\"actor\":null,\"visit\":null,"
                   "\"supportPledged\":{\"pledgeId\":\"P\",\"unit\":null}}");
    assert_string_equal(ev->actor, "");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED);
    assert_string_equal(ev->support_pledged->unit, "");
    tw_event_free(ev);

    /* no body at all is the validator's business */
    ev = from_json("{\"eventId\":\"e\"}");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY__NOT_SET);
    assert_json(ev, "{\"eventId\":\"e\"}");
    tw_event_free(ev);
}

static void test_feed_heartbeat_json(void **state)
{
    (void)state;
    tw_event *ev = from_json("{\"eventId\":\"hb-1\",\"sourceSystem\":\"erp\","
                             "\"feed_heartbeat\":{}}");

    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_FEED_HEARTBEAT);
    assert_non_null(ev->feed_heartbeat);
    assert_json(ev, "{\"eventId\":\"hb-1\",\"sourceSystem\":\"erp\",\"feedHeartbeat\":{}}");
    tw_event_free(ev);
}

static void test_to_json_order_and_defaults(void **state)
{
    (void)state;
    /* keys in reverse order, defaults spelled out */
    tw_event *ev =
        from_json("{\"visit\":{\"notes\":\"\",\"giftValueVnd\":\"5000000\",\"participants\":12,"
                  "\"purpose\":\"field trip\"},\"actor\":\"\",\"recordedAtMs\":0,"
                  "\"schemaVersion\":0,\"eventId\":\"e\"}");

    assert_json(ev, "{\"eventId\":\"e\",\"visit\":{\"purpose\":\"field trip\","
                    "\"participants\":12,\"giftValueVnd\":\"5000000\"}}");
    tw_event_free(ev);

    /* a set body is shown even when all its fields are defaults */
    ev = from_json("{\"eventId\":\"e\",\"supportPledged\":{\"category\":\"CATEGORY_UNSPECIFIED\","
                   "\"amountVnd\":0}}");
    assert_json(ev, "{\"eventId\":\"e\",\"supportPledged\":{}}");
    tw_event_free(ev);

    assert_null(tw_feed_to_json(NULL));
    tw_event_free(NULL);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *lines[] = {
        example_line,
        "{\"eventId\":\"e\",\"schemaVersion\":3,\"agencyCode\":\"A\",\"occurredAtMs\":-5,"
        "\"recordedAtMs\":\"9223372036854775807\",\"actor\":\"\\\"quoted\\\"\\n\\u00e9\","
        "\"visit\":{\"purpose\":\"p\",\"participants\":4294967295,\"giftValueVnd\":\"-1\"}}",
        "{\"eventId\":\"e\",\"trainingDelivered\":{\"pledgeId\":\"P\",\"audience\":"
        "\"RESIDENTS_VOCATIONAL\",\"topic\":\"t\",\"trainees\":30,\"hours\":\"16\"}}",
        "{\"sourceSystem\":\"s\",\"sourceRef\":\"r\",\"feedHeartbeat\":{}}",
        "{\"eventId\":\"e\",\"pledgeRevised\":{\"pledgeId\":\"P\",\"newDueDate\":\"2026-12-31\","
        "\"newAmountVnd\":\"1000000000000000\",\"newTargetQuantity\":\"7\",\"reason\":\"r\"}}",
        "{\"eventId\":\"e\",\"twinningSigned\":{\"programme\":\"x\",\"startDate\":\"2026-01-01\","
        "\"endDate\":\"2030-12-31\"}}",
        "{\"eventId\":\"e\",\"supportDelivered\":{\"category\":42,\"amountVnd\":1}}",
    };

    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        tw_event *a = from_json(lines[i]);
        char *json = tw_feed_to_json(a);
        assert_non_null(json);
        tw_event *b = from_json(json);
        assert_same_event(a, b);

        /* protobuf-c's own unpack renders the same */
        size_t len;
        uint8_t *buf = packed(a, &len);
        tw_event *c = (tw_event *)protobuf_c_message_unpack(&twinwatch__v1__event__descriptor, NULL,
                                                            len, buf);
        assert_non_null(c);
        assert_json(c, json);

        free(buf);
        free(json);
        tw_event_free(a);
        tw_event_free(b);
        tw_event_free(c);
    }
}

/* ---- JSON lines reader ---------------------------------------------------- */

static void expect_next(tw_feed_reader *r, int line, tw_event **ev)
{
    char err[256] = "";
    int rc = tw_feed_next(r, ev, err, sizeof err);

    if (rc != 1)
        fail_msg("tw_feed_next gave %d (%s), expected a record at line %d", rc, err, line);
    assert_int_equal(tw_feed_line(r), line);
}

static void expect_error(tw_feed_reader *r, const char *expect)
{
    char err[256] = "";
    tw_event *ev = NULL;
    int rc = tw_feed_next(r, &ev, err, sizeof err);

    if (rc != -1) {
        tw_event_free(ev);
        fail_msg("tw_feed_next gave %d, expected the error \"%s\"", rc, expect);
    }
    assert_null(ev);
    assert_string_equal(err, expect);
}

static void expect_end(tw_feed_reader *r)
{
    char err[256] = "";
    tw_event *ev = NULL;

    assert_int_equal(tw_feed_next(r, &ev, err, sizeof err), 0);
    assert_null(ev);
    assert_int_equal(tw_feed_next(r, &ev, err, sizeof err), 0);
}

static void test_jsonl_reader(void **state)
{
    (void)state;
    char err[256] = "";
    tw_event *ev;
    FILE *f = memfile("\xef\xbb\xbf{\"eventId\":\"a\",\"feedHeartbeat\":{}}\r\n"
                      "\r\n"
                      "   \n"
                      "{\"eventId\":\"b\",\"supportPledged\":{\"amountVnd\":\"lots\"}}\r\n"
                      "{\"eventId\":\"c\",\"bogus\":1}\n"
                      "\n"
                      "{\"sourceSystem\":\"s\",\"sourceRef\":\"r\",\"feedHeartbeat\":{}}\n"
                      "{\"eventId\":\"d\"}"); /* no final newline */
    tw_feed_reader *r = tw_feed_open(f, "feed.jsonl", TW_FEED_JSONL, err, sizeof err);

    assert_non_null(r);
    expect_next(r, 1, &ev);
    assert_string_equal(ev->event_id, "a");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_FEED_HEARTBEAT);
    assert_non_null(ev->feed_heartbeat);
    tw_event_free(ev);

    expect_error(r, "feed.jsonl:4: supportPledged.amountVnd: expected an integer, got \"lots\"");
    assert_int_equal(tw_feed_line(r), 4);
    expect_error(r, "feed.jsonl:5: unknown field \"bogus\"");

    expect_next(r, 7, &ev);
    char id[TW_UUID_STRLEN + 1];
    tw_uuid_event_id("s", "r", id);
    assert_string_equal(ev->event_id, id);
    tw_event_free(ev);

    expect_next(r, 8, &ev);
    assert_string_equal(ev->event_id, "d");
    tw_event_free(ev);
    expect_end(r);

    tw_feed_close(r);
    fclose(f);
}

static void test_jsonl_long_line(void **state)
{
    (void)state;
    enum { ACTOR_LEN = 300000 };
    char err[256] = "";
    tw_event *ev;
    FILE *f = tmpfile();

    assert_non_null(f);
    fputs("{\"eventId\":\"long\",\"actor\":\"", f);
    for (int i = 0; i < ACTOR_LEN; i++)
        fputc('x', f);
    fputs("\"}\n{\"eventId\":\"next\"}\n", f);
    rewind(f);

    tw_feed_reader *r = tw_feed_open(f, "long.jsonl", TW_FEED_JSONL, err, sizeof err);
    assert_non_null(r);
    expect_next(r, 1, &ev);
    assert_int_equal(strlen(ev->actor), ACTOR_LEN);
    tw_event_free(ev);
    expect_next(r, 2, &ev);
    assert_string_equal(ev->event_id, "next");
    tw_event_free(ev);
    expect_end(r);
    tw_feed_close(r);
    fclose(f);
}

/* ---- CSV reader ----------------------------------------------------------- */

static tw_feed_reader *open_csv(FILE *f)
{
    char err[256] = "";
    tw_feed_reader *r = tw_feed_open(f, "feed.csv", TW_FEED_CSV, err, sizeof err);

    if (r == NULL)
        fail_msg("open refused: %s", err);
    return r;
}

static void test_csv_bom_crlf_quotes(void **state)
{
    (void)state;
    char id[TW_UUID_STRLEN + 1];
    tw_event *ev;
    /* 15 columns; the visit row's purpose spans lines 3 and 4 */
    FILE *f = memfile(
        "\xef\xbb\xbf"
        "eventId,type,agencyCode,localityCode,occurredAtMs,sourceSystem,sourceRef,actor,"
        "supportPledged.pledgeId,supportPledged.category,supportPledged.amountVnd,"
        "supportPledged.inKind,supportPledged.dueDate,visit.purpose,visit.participants\r\n"
        ",supportPledged,PETROLIMEX-QNA,20530,1767225600000,petrolimex-erp,KN-2026-014,,"
        "P-14,ECONOMIC_MODEL,150000000,\"rice, 5 tonnes\",2026-06-30,,\r\n"
        "v-1,visit,PETROLIMEX-QNA,20530,1767225600000,erp,V-1,\"Trần \"\"Ba\"\"\",,,,,,"
        "\"Line one\r\nline two\",12\r\n"
        "hb-1,feedHeartbeat,PETROLIMEX-QNA,,,erp,,,,,,,,,\r\n"
        "\r\n"
        "p-2,support_pledged,PETROLIMEX-QNA,20530,\"1767225600000\",erp,P-2,,P-2,7,\"\",,,,\r\n");
    tw_feed_reader *r = open_csv(f);

    expect_next(r, 2, &ev);
    tw_uuid_event_id("petrolimex-erp", "KN-2026-014", id);
    assert_string_equal(ev->event_id, id);
    assert_string_equal(ev->agency_code, "PETROLIMEX-QNA");
    assert_string_equal(ev->locality_code, "20530");
    assert_true(ev->occurred_at_ms == INT64_C(1767225600000));
    assert_string_equal(ev->actor, "");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED);
    assert_string_equal(ev->support_pledged->pledge_id, "P-14");
    assert_int_equal(ev->support_pledged->category, TWINWATCH__V1__CATEGORY__ECONOMIC_MODEL);
    assert_true(ev->support_pledged->amount_vnd == 150000000);
    assert_string_equal(ev->support_pledged->in_kind, "rice, 5 tonnes");
    assert_string_equal(ev->support_pledged->due_date, "2026-06-30");
    /* the same event as the JSON line: one mapping for both formats */
    tw_event *same = from_json(
        "{\"eventId\":\"e14366d6-6e63-5367-8f3a-ea744e9d417d\",\"agencyCode\":\"PETROLIMEX-QNA\","
        "\"localityCode\":\"20530\",\"occurredAtMs\":\"1767225600000\",\"sourceSystem\":"
        "\"petrolimex-erp\",\"sourceRef\":\"KN-2026-014\",\"supportPledged\":{\"pledgeId\":"
        "\"P-14\",\"category\":\"ECONOMIC_MODEL\",\"amountVnd\":\"150000000\",\"inKind\":"
        "\"rice, 5 tonnes\",\"dueDate\":\"2026-06-30\"}}");
    assert_same_event(ev, same);
    tw_event_free(same);
    tw_event_free(ev);

    expect_next(r, 3, &ev);
    assert_string_equal(ev->event_id, "v-1");
    assert_string_equal(ev->actor, "Trần \"Ba\"");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_VISIT);
    assert_string_equal(ev->visit->purpose, "Line one\r\nline two");
    assert_int_equal(ev->visit->participants, 12);
    tw_event_free(ev);

    expect_next(r, 5, &ev);
    assert_string_equal(ev->event_id, "hb-1");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_FEED_HEARTBEAT);
    assert_non_null(ev->feed_heartbeat);
    assert_json(ev, "{\"eventId\":\"hb-1\",\"agencyCode\":\"PETROLIMEX-QNA\","
                    "\"sourceSystem\":\"erp\",\"feedHeartbeat\":{}}");
    tw_event_free(ev);

    expect_next(r, 7, &ev);
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_SUPPORT_PLEDGED);
    assert_int_equal(ev->support_pledged->category, TWINWATCH__V1__CATEGORY__VOCATIONAL_TRAINING);
    assert_true(ev->support_pledged->amount_vnd == 0); /* "" is an empty cell */
    tw_event_free(ev);
    expect_end(r);

    tw_feed_close(r);
    fclose(f);
}

static void test_csv_snake_case_lf(void **state)
{
    (void)state;
    tw_event *ev;
    FILE *f = memfile("event_id,type,source_system,source_ref,training_delivered.audience,"
                      "training_delivered.trainees,training_delivered.topic\n"
                      "t-1,training_delivered,erp,T-1,LOCAL_CADRES,25,bookkeeping\n"
                      "t-2,trainingDelivered,erp,T-2,,,"); /* no final newline */
    tw_feed_reader *r = open_csv(f);

    expect_next(r, 2, &ev);
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_TRAINING_DELIVERED);
    assert_int_equal(ev->training_delivered->audience, TWINWATCH__V1__AUDIENCE__LOCAL_CADRES);
    assert_int_equal(ev->training_delivered->trainees, 25);
    assert_string_equal(ev->training_delivered->topic, "bookkeeping");
    tw_event_free(ev);
    expect_next(r, 3, &ev);
    assert_string_equal(ev->event_id, "t-2");
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_TRAINING_DELIVERED);
    tw_event_free(ev);
    expect_end(r);
    tw_feed_close(r);
    fclose(f);
}

static void test_csv_heartbeat_only(void **state)
{
    (void)state;
    tw_event *ev;
    FILE *f = memfile("eventId,type\nhb-1,feedHeartbeat\nhb-2,feed_heartbeat\n");
    tw_feed_reader *r = open_csv(f);

    expect_next(r, 2, &ev);
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_FEED_HEARTBEAT);
    assert_non_null(ev->feed_heartbeat);
    assert_json(ev, "{\"eventId\":\"hb-1\",\"feedHeartbeat\":{}}");
    tw_event_free(ev);
    expect_next(r, 3, &ev);
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY_FEED_HEARTBEAT);
    tw_event_free(ev);
    expect_end(r);
    tw_feed_close(r);
    fclose(f);
}

static void test_csv_bad_rows(void **state)
{
    (void)state;
    tw_event *ev;
    FILE *f = memfile("eventId,type,supportPledged.pledgeId,supportPledged.amountVnd\n"
                      "ok-1,supportPledged,P-1,100\n"
                      "short,supportPledged\n"
                      "long,supportPledged,P,1,extra\n"
                      "v-1,visit,P-1,\n"
                      "n-1,supportPledged,P-1,12k\n"
                      "u-1,supportPledge,P-1,1\n"
                      "q-1,supportPledged,\"P\"x,1\n"
                      "ok-2,supportPledged,\"P-2\",200\n"
                      "open,supportPledged,\"P-3,\n"
                      "never closed\n");
    tw_feed_reader *r = open_csv(f);

    expect_next(r, 2, &ev);
    tw_event_free(ev);
    expect_error(r, "feed.csv:3: row has 2 cells but the header has 4");
    expect_error(r, "feed.csv:4: row has 5 cells but the header has 4");
    expect_error(r, "feed.csv:5: column \"supportPledged.pledgeId\" is set but the row's type "
                    "is \"visit\"");
    expect_error(r, "feed.csv:6: supportPledged.amountVnd: expected an integer, got \"12k\"");
    expect_error(r, "feed.csv:7: unknown type \"supportPledge\"");
    expect_error(r,
                 "feed.csv:8: text after a closing quote (a quote inside a field is written \"\")");
    expect_next(r, 9, &ev);
    assert_string_equal(ev->support_pledged->pledge_id, "P-2");
    assert_true(ev->support_pledged->amount_vnd == 200);
    tw_event_free(ev);
    expect_error(r, "feed.csv:10: a quoted field is not closed before the end of the file");
    expect_end(r);
    tw_feed_close(r);
    fclose(f);
}

static void test_csv_unknown_column(void **state)
{
    (void)state;
    FILE *f = memfile("eventId,type,agencyCodee,supportPledged.pledgeIdd\n"
                      "a,supportPledged,X,\n"
                      "b,supportPledged,,P\n"
                      "c,,,\n");
    tw_feed_reader *r = open_csv(f);
    tw_event *ev;

    expect_error(r, "feed.csv:2: unknown field \"agencyCodee\"");
    expect_error(r, "feed.csv:3: unknown field \"supportPledged.pledgeIdd\"");
    expect_next(r, 4, &ev); /* empty cells are absent fields */
    assert_int_equal(ev->body_case, TWINWATCH__V1__EVENT__BODY__NOT_SET);
    tw_event_free(ev);
    expect_end(r);
    tw_feed_close(r);
    fclose(f);
}

static void expect_open_refused(const char *text, const char *expect)
{
    char err[256] = "";
    FILE *f = memfile(text);
    tw_feed_reader *r = tw_feed_open(f, "feed.csv", TW_FEED_CSV, err, sizeof err);

    if (r != NULL) {
        tw_feed_close(r);
        fail_msg("opened a CSV with the header %s", text);
    }
    assert_string_equal(err, expect);
    fclose(f);
}

static void test_csv_bad_header(void **state)
{
    (void)state;
    expect_open_refused("", "feed.csv:1: empty file: expected a header line");
    expect_open_refused("eventId,agencyCode\n", "feed.csv:1: no \"type\" column naming each "
                                                "row's body");
    expect_open_refused("\n\neventId,type,eventId\n", "feed.csv:3: column \"eventId\" appears "
                                                      "twice");
    expect_open_refused("eventId,type,,actor\n", "feed.csv:1: column 3: bad column name \"\"");
    expect_open_refused("eventId,type,visit.\n", "feed.csv:1: column 3: bad column name "
                                                 "\"visit.\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_line),
        cmocka_unit_test(test_full_support_pledged),
        cmocka_unit_test(test_event_id_derived),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_values_accepted),
        cmocka_unit_test(test_feed_heartbeat_json),
        cmocka_unit_test(test_to_json_order_and_defaults),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_jsonl_reader),
        cmocka_unit_test(test_jsonl_long_line),
        cmocka_unit_test(test_csv_bom_crlf_quotes),
        cmocka_unit_test(test_csv_snake_case_lf),
        cmocka_unit_test(test_csv_heartbeat_only),
        cmocka_unit_test(test_csv_bad_rows),
        cmocka_unit_test(test_csv_unknown_column),
        cmocka_unit_test(test_csv_bad_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
