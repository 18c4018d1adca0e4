/* provenance.c: an event's provenance from its Kafka headers, and Ed25519
 * signatures (provenance.h). */
#include "provenance.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void tw_provenance_read(const rd_kafka_message_t *m, tw_provenance *p)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t n;
    memset(p, 0, sizeof *p);
    snprintf(p->who, sizeof p->who, "direct");
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return;
    if (rd_kafka_header_get_last(hdrs, TW_HDR_GATEWAY_TOKEN, &v, &n) == 0 && v && n > 0) {
        snprintf(p->who, sizeof p->who, "gateway:%.*s", (int)n, (const char *)v);
        snprintf(p->token_id, sizeof p->token_id, "%.*s", (int)n, (const char *)v);
        if (rd_kafka_header_get_last(hdrs, TW_HDR_GATEWAY_MAC, &v, &n) == 0 && v &&
            n == TW_MAC_LEN) {
            memcpy(p->mac, v, TW_MAC_LEN);
            p->has_mac = 1;
        }
    } else if (rd_kafka_header_get_last(hdrs, TW_HDR_OPERATOR, &v, &n) == 0 && v && n > 0)
        snprintf(p->who, sizeof p->who, "twinctl:%.*s", (int)n, (const char *)v);
    if (rd_kafka_header_get_last(hdrs, TW_HDR_SIGNATURE, &v, &n) == 0 && v) {
        if (n == TW_SIG_LEN) {
            memcpy(p->sig, v, TW_SIG_LEN);
            p->has_sig = 1;
        } else {
            p->bad_header = 1;
        }
    }
}

int tw_sig_verify(const uint8_t sig[TW_SIG_LEN], const uint8_t *msg, size_t len,
                  const uint8_t key[TW_KEY_LEN])
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            return -1;
        ready = 1;
    }
    return crypto_sign_verify_detached(sig, msg, len, key) == 0;
}

int tw_secret_load(const char *path, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot start");
        if (f)
            fclose(f);
        return -1;
    }
    if (!f) {
        snprintf(err, errlen, "%s: cannot read it", path);
        return -1;
    }
    n = fread(out, 1, cap, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    if (n < 32) {
        snprintf(err, errlen, "%s: a secret of at least 32 bytes is needed (openssl rand -hex 32)",
                 path);
        return -1;
    }
    return (int)n;
}

void tw_gateway_mac(const uint8_t *secret, size_t slen, const char *token_id, const void *value,
                    size_t len, uint8_t out[TW_MAC_LEN])
{
    crypto_auth_hmacsha256_state st;
    static const uint8_t zero = 0;
    crypto_auth_hmacsha256_init(&st, secret, slen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)token_id, strlen(token_id));
    crypto_auth_hmacsha256_update(&st, &zero, 1);
    crypto_auth_hmacsha256_update(&st, value, len);
    crypto_auth_hmacsha256_final(&st, out);
}

struct tw_keyring {
    uint8_t secret[TW_SECRET_MAX]; /* the gateway's, when set */
    size_t secret_len;
};

tw_keyring *tw_keyring_new(void)
{
    return calloc(1, sizeof(tw_keyring));
}

void tw_keyring_set_gateway_secret(tw_keyring *k, const uint8_t *secret, size_t len)
{
    k->secret_len = len < sizeof k->secret ? len : sizeof k->secret;
    memcpy(k->secret, secret, k->secret_len);
}

void tw_keyring_free(tw_keyring *k)
{
    if (k)
        sodium_memzero(k, sizeof *k);
    free(k);
}

int tw_signature_check(const tw_agency_key *keys, size_t n, const char *agency,
                       const uint8_t sig[TW_SIG_LEN], const uint8_t *canon, size_t len,
                       tw_reject *rej)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i].agency, agency) && tw_sig_verify(sig, canon, len, keys[i].key) == 1)
            return 0;
    return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                         "the signature does not verify with any key registered for %s"
                         " (twinctl keys add)",
                         agency);
}

int tw_provenance_check(const tw_keyring *k, const tw_provenance *p, const char *agency,
                        const void *value, size_t vlen, int require, tw_reject *rej)
{
    if (p->token_id[0] && k && k->secret_len) {
        uint8_t mac[TW_MAC_LEN];
        tw_gateway_mac(k->secret, k->secret_len, p->token_id, value, vlen, mac);
        if (!p->has_mac || sodium_memcmp(mac, p->mac, TW_MAC_LEN) != 0)
            return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                                 "a %s header without the gateway's valid %s: not from the gateway",
                                 TW_HDR_GATEWAY_TOKEN, TW_HDR_GATEWAY_MAC);
    }
    if (p->bad_header)
        return tw_reject_set(rej, TW_R_BAD_SIGNATURE,
                             "the %s header is not a %d-byte Ed25519 signature", TW_HDR_SIGNATURE,
                             TW_SIG_LEN);
    if (p->has_sig)
        return 0; /* the caller checks it against the keys it read */
    if (require && !strcmp(p->who, "direct"))
        return tw_reject_set(rej, TW_R_UNAUTHENTICATED,
                             "ingest.require_provenance: neither through the gateway or twinctl "
                             "publish nor signed by %s",
                             agency);
    return 0;
}
