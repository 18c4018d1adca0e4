/* test_uuid.c: UUID text round trips and UUIDv5 against Python's uuid module
 * (the expected ids below are what python3's uuid.uuid5 prints). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "uuid.h"

static const uint8_t ns_dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                   0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

static void v5_text(const char *ns_text, const char *name, char out[TW_UUID_STRLEN + 1])
{
    uint8_t ns[16], id[16];

    assert_int_equal(tw_uuid_parse(ns_text, ns), 0);
    tw_uuid_v5(ns, name, strlen(name), id);
    tw_uuid_format(id, out);
}

static void test_parse_format_round_trip(void **state)
{
    (void)state;
    uint8_t u[16];
    char text[TW_UUID_STRLEN + 1];

    assert_int_equal(tw_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", u), 0);
    assert_memory_equal(u, ns_dns, 16);
    tw_uuid_format(u, text);
    assert_string_equal(text, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");

    /* upper case is read, lower case is written */
    assert_int_equal(tw_uuid_parse("886313E1-3B8A-5372-9B90-0C9AEE199E5D", u), 0);
    tw_uuid_format(u, text);
    assert_string_equal(text, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "886313e1-3b8a-5372-9b90-0c9aee199e5",   /* short */
        "886313e1-3b8a-5372-9b90-0c9aee199e5d0", /* long */
        "886313e1-3b8a-5372-9b90_0c9aee199e5d",  /* wrong separator */
        "886313e13b8a-5372-9b90-0c9aee199e5d0",  /* dash missing */
        "886313e1-3b8a-5372-9b90-0c9aee199e5g",  /* not hex */
        "{886313e1-3b8a-5372-9b90-0c9aee199e5d}",
        " 886313e1-3b8a-5372-9b90-0c9aee199e5d",
    };
    uint8_t u[16], before[16];

    memset(u, 0xaa, sizeof u);
    memcpy(before, u, sizeof u);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tw_uuid_parse(bad[i], u), -1);
        assert_memory_equal(u, before, 16); /* untouched on failure */
    }
    assert_int_equal(tw_uuid_parse(NULL, u), -1);
}

static void test_v5_python_vectors(void **state)
{
    (void)state;
    char text[TW_UUID_STRLEN + 1];
    char long_name[1001];

    v5_text("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", text);
    assert_string_equal(text, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    v5_text("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "", text);
    assert_string_equal(text, "4ebd0208-8328-5d69-8c44-ec50939c0967");
    v5_text("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "http://python.org/", text);
    assert_string_equal(text, "4c565f0d-3f5a-5890-b41b-20cf47701c5e");

    memset(long_name, 'a', 1000);
    long_name[1000] = '\0';
    v5_text("6ba7b810-9dad-11d1-80b4-00c04fd430c8", long_name, text);
    assert_string_equal(text, "062a6b1a-ddc3-5fcc-b238-790846e533d6");
}

static void test_twinwatch_namespace(void **state)
{
    (void)state;
    char text[TW_UUID_STRLEN + 1];

    /* uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event") */
    v5_text("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "urn:twinwatch:event", text);
    assert_string_equal(text, "a2ef5628-c057-582d-b780-859d9454c7de");
}

static void test_event_id(void **state)
{
    (void)state;
    char id[TW_UUID_STRLEN + 1], direct[TW_UUID_STRLEN + 1];

    /* uuid.uuid5(N, source_system + "\n" + source_ref) with N as above */
    tw_uuid_event_id("petrolimex-erp", "KN-2026-014", id);
    assert_string_equal(id, "e14366d6-6e63-5367-8f3a-ea744e9d417d");
    tw_uuid_event_id("erp", "R-1", id);
    assert_string_equal(id, "511cbeba-872e-506d-aeea-ef908068cea0");
    tw_uuid_event_id("hệ-thống", "mã-01", id);
    assert_string_equal(id, "a0b4b910-3d57-56d3-99c5-099af63abfe6");

    /* the same as tw_uuid_v5 over the joined name */
    v5_text("a2ef5628-c057-582d-b780-859d9454c7de", "erp\nR-1", direct);
    assert_string_equal(direct, "511cbeba-872e-506d-aeea-ef908068cea0");

    /* the separator matters: ("ab", "c") and ("a", "bc") differ */
    tw_uuid_event_id("ab", "c", id);
    tw_uuid_event_id("a", "bc", direct);
    assert_string_not_equal(id, direct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format_round_trip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_v5_python_vectors),
        cmocka_unit_test(test_twinwatch_namespace),
        cmocka_unit_test(test_event_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
