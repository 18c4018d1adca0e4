/* fuzz_codec.c: Kafka message bytes as the projector takes them: decode an
 * Event, then the stateless checks. Properties: what decodes re-encodes to
 * canonical bytes that decode and re-encode to themselves (a fixed point);
 * a refusal has a known reason and a one-line message naming the field; the
 * checks give the same verdict on the canonical bytes as on the original. */
#include "fuzz.h"

#include "codec.h"

/* A fixed "now" (2026-12-01) so the future_event check is deterministic. */
#define NOW_MS 1796083200000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_reject rej = {0}, rej2 = {0};
    uint8_t id[16], id2[16];
    size_t n1 = 0, n2 = 0;

    tw_event *ev = tw_codec_decode(data, size, &rej);
    if (ev == NULL) {
        FUZZ_CHECK(rej.reason == TW_R_UNDECODABLE, "reason %d", rej.reason);
        FUZZ_CHECK(fuzz_message_ok(rej.msg, sizeof rej.msg), "message \"%s\"", rej.msg);
        return 0;
    }
    uint8_t *canon = tw_codec_pack(ev, &n1);
    FUZZ_CHECK(canon != NULL, "pack failed");
    /* linear: at worst a short negative int32 varint widens to 10 bytes */
    FUZZ_CHECK(n1 <= 2 * size, "canonical form (%zu bytes) from %zu input bytes", n1, size);
    tw_event *ev2 = tw_codec_decode(canon, n1, &rej2);
    FUZZ_CHECK(ev2 != NULL, "canonical bytes do not decode: %s", rej2.msg);
    uint8_t *canon2 = tw_codec_pack(ev2, &n2);
    FUZZ_CHECK(canon2 != NULL && n2 == n1 && memcmp(canon, canon2, n1) == 0,
               "decode/encode is not a fixed point (%zu then %zu bytes)", n1, n2);

    int rc = tw_codec_check(ev, NOW_MS, id, &rej);
    int rc2 = tw_codec_check(ev2, NOW_MS, id2, &rej2);
    FUZZ_CHECK(rc == rc2, "verdict differs on canonical bytes: %d vs %d", rc, rc2);
    if (rc < 0) {
        FUZZ_CHECK(rej.reason > TW_R_OK && rej.reason < TW_R__COUNT, "reason %d", rej.reason);
        FUZZ_CHECK(strcmp(tw_reason_name(rej.reason), "unknown") != 0, "unnamed reason");
        FUZZ_CHECK(fuzz_message_ok(rej.msg, sizeof rej.msg), "message \"%s\"", rej.msg);
        FUZZ_CHECK(rej.reason == rej2.reason && strcmp(rej.msg, rej2.msg) == 0,
                   "refusal differs on canonical bytes: \"%s\" vs \"%s\"", rej.msg, rej2.msg);
    } else {
        FUZZ_CHECK(memcmp(id, id2, sizeof id) == 0, "event id differs on canonical bytes");
        FUZZ_CHECK(strcmp(tw_event_type(ev), "unknown") != 0, "accepted event has no type");
        /* an accepted event is shown by twinctl inspect as JSON */
        char *json = tw_feed_to_json(ev);
        FUZZ_CHECK(json != NULL, "an accepted event has no JSON form");
        free(json);
    }
    free(canon);
    free(canon2);
    tw_event_free(ev);
    tw_event_free(ev2);
    return 0;
}
