/* fuzz_pbjson.c: the protobuf JSON mapping of an Event (pbjson.c), as an
 * agency's JSON line reaches it. Properties: what maps renders to JSON that
 * maps back to the same message (equal canonical protobuf bytes) and renders
 * to the same text again (a fixed point); a refusal is one line that names
 * what it refuses; the rendering is bounded by the message's size. */
#include "fuzz.h"

#include "codec.h"
#include "pbjson.h"

static const ProtobufCMessageDescriptor *D = &twinwatch__v1__event__descriptor;

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    return tw_codec_pack((const tw_event *)m, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    size_t n1 = 0, n2 = 0;

    ProtobufCMessage *m = tw_pbjson_from_json(D, (const char *)data, size, err, sizeof err);
    if (m == NULL) {
        FUZZ_CHECK(fuzz_message_ok(err, sizeof err), "refusal message \"%s\"", err);
        return 0;
    }
    char *json = tw_pbjson_to_json(m);
    FUZZ_CHECK(json != NULL, "an accepted message has no JSON form");
    /* base64 and escapes grow at most 6x (\u00XX per byte) */
    FUZZ_CHECK(strlen(json) <= 6 * size + 64, "%zu JSON bytes from %zu", strlen(json), size);
    ProtobufCMessage *m2 = tw_pbjson_from_json(D, json, strlen(json), err, sizeof err);
    FUZZ_CHECK(m2 != NULL, "own rendering refused: %s: %s", err, json);
    uint8_t *b1 = pack(m, &n1), *b2 = pack(m2, &n2);
    FUZZ_CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0,
               "JSON round trip changed the message: %s", json);
    char *json2 = tw_pbjson_to_json(m2);
    FUZZ_CHECK(json2 != NULL && strcmp(json, json2) == 0, "rendering not a fixed point: %s / %s",
               json, json2 ? json2 : "(null)");
    free(b1);
    free(b2);
    free(json);
    free(json2);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
    return 0;
}
