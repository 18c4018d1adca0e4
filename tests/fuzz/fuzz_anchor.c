/* fuzz_anchor.c: a message on the audit-anchors topic (anchor.c), as twinctl
 * audit verify --anchors reads it. Properties: what parses formats to the
 * canonical text, which parses to the same anchor and formats to itself (a
 * fixed point); the topic stays inside its field; a message of 512 bytes or
 * more is refused. */
#include "fuzz.h"

#include "anchor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_anchor a, b;
    char text[512], text2[512];

    if (tw_anchor_parse((const char *)data, size, &a) < 0)
        return 0;
    FUZZ_CHECK(size < 512, "a %zu-byte message parsed", size);
    FUZZ_CHECK(memchr(a.topic, '\0', sizeof a.topic) != NULL, "topic not terminated");
    FUZZ_CHECK(a.topic[0] != '\0' && a.partition >= 0 && a.offset >= 0, "empty or negative");
    size_t n = tw_anchor_format(text, sizeof text, a.topic, a.partition, a.offset, a.hash);
    FUZZ_CHECK(n > 0 && n < sizeof text && strlen(text) == n, "format length %zu", n);
    FUZZ_CHECK(tw_anchor_parse(text, n, &b) == 0, "own format refused: %s", text);
    FUZZ_CHECK(strcmp(a.topic, b.topic) == 0 && a.partition == b.partition &&
                   a.offset == b.offset && memcmp(a.hash, b.hash, sizeof a.hash) == 0,
               "format/parse changed the anchor: %s", text);
    size_t n2 = tw_anchor_format(text2, sizeof text2, b.topic, b.partition, b.offset, b.hash);
    FUZZ_CHECK(n2 == n && memcmp(text, text2, n) == 0, "not a fixed point: %s / %s", text, text2);
    return 0;
}
