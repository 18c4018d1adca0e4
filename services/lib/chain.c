/* chain.c: SHA-256 links of the audit log's hash chains (see chain.h). One
 * EVP context per thread, reused: the projector hashes every accepted event. */
#include "chain.h"

#include <string.h>

#include <openssl/evp.h>

#include "uuid.h" /* tw_hex_value */

const uint8_t tw_chain_genesis[TW_CHAIN_HASH_LEN] = {0};

static _Thread_local EVP_MD_CTX *ctx;

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

/* SHA-256 of prev and the n parts, in order. */
static int digest(const uint8_t prev[TW_CHAIN_HASH_LEN], const void *const *parts,
                  const size_t *lens, int n, uint8_t out[TW_CHAIN_HASH_LEN])
{
    unsigned int len = 0;
    if (!ctx && !(ctx = EVP_MD_CTX_new()))
        return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, prev, TW_CHAIN_HASH_LEN) != 1)
        return -1;
    for (int i = 0; i < n; i++)
        if (lens[i] > 0 && EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
            return -1;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != TW_CHAIN_HASH_LEN)
        return -1;
    return 0;
}

int tw_chain_event(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t id[16], const char *topic,
                   int32_t partition, int64_t offset, const uint8_t *payload, size_t len,
                   uint8_t out[TW_CHAIN_HASH_LEN])
{
    return tw_chain_event_prov(prev, id, topic, partition, offset, payload, len, NULL, NULL, 0,
                               out);
}

int tw_chain_event_prov(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t id[16],
                        const char *topic, int32_t partition, int64_t offset,
                        const uint8_t *payload, size_t len, const char *provenance,
                        const uint8_t *sig, size_t siglen, uint8_t out[TW_CHAIN_HASH_LEN])
{
    uint8_t head[4 + 16 + 4], mid[4 + 8 + 4];
    size_t tlen = strlen(topic);
    memcpy(head, "TWE1", 4);
    memcpy(head + 4, id, 16);
    be32(head + 20, (uint32_t)tlen);
    be32(mid, (uint32_t)partition);
    be64(mid + 4, (uint64_t)offset);
    be32(mid + 12, (uint32_t)len);
    if (!provenance) {
        const void *parts[] = {head, topic, mid, payload};
        const size_t lens[] = {sizeof head, tlen, sizeof mid, len};
        return digest(prev, parts, lens, 4, out);
    }
    uint8_t ph[8], sh[4];
    size_t plen = strlen(provenance);
    memcpy(ph, "TWP1", 4);
    be32(ph + 4, (uint32_t)plen);
    be32(sh, (uint32_t)siglen);
    const void *parts[] = {head, topic, mid, payload, ph, provenance, sh, sig};
    const size_t lens[] = {sizeof head, tlen, sizeof mid, len, sizeof ph, plen, sizeof sh, siglen};
    return digest(prev, parts, lens, 8, out);
}

int tw_chain_link(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t *bytes, size_t len,
                  uint8_t out[TW_CHAIN_HASH_LEN])
{
    const void *parts[] = {bytes};
    const size_t lens[] = {len};
    return digest(prev, parts, lens, 1, out);
}

void tw_chain_hex(const uint8_t h[TW_CHAIN_HASH_LEN], char out[2 * TW_CHAIN_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < TW_CHAIN_HASH_LEN; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[2 * TW_CHAIN_HASH_LEN] = '\0';
}

int tw_chain_parse_hex(const char *s, uint8_t out[TW_CHAIN_HASH_LEN])
{
    if (s[0] == '\\' && s[1] == 'x')
        s += 2;
    for (int i = 0; i < TW_CHAIN_HASH_LEN; i++) {
        int hi = tw_hex_value(s[2 * i]), lo = hi < 0 ? -1 : tw_hex_value(s[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return s[2 * TW_CHAIN_HASH_LEN] == '\0' ? 0 : -1;
}
