/* provenance.c: an event's provenance from its Kafka headers, and Ed25519
 * signatures (provenance.h). */
#include "provenance.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void tw_provenance_read(const rd_kafka_message_t *m, tw_provenance *p)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v;
    size_t n;
    memset(p, 0, sizeof *p);
    snprintf(p->who, sizeof p->who, "direct");
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return;
    if (rd_kafka_header_get_last(hdrs, TW_HDR_GATEWAY_TOKEN, &v, &n) == 0 && v && n > 0)
        snprintf(p->who, sizeof p->who, "gateway:%.*s", (int)n, (const char *)v);
    else if (rd_kafka_header_get_last(hdrs, TW_HDR_OPERATOR, &v, &n) == 0 && v && n > 0)
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
