/* provenance.h: who sent an event (DESIGN.md "Gateway, provenance and
 * console"), from its Kafka headers, and the agencies' Ed25519 signatures
 * (libsodium) over its canonical bytes. Shared by the projector, which
 * records provenance in the hash-chained log, twinctl publish, which stamps
 * its operator, and twinctl audit verify, which re-checks signatures. */
#ifndef TW_PROVENANCE_H
#define TW_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "codec.h"

#define TW_HDR_GATEWAY_TOKEN "tw-gateway-token" /* the gateway: its token's id */
#define TW_HDR_OPERATOR      "tw-operator"      /* twinctl publish: the operator */
#define TW_HDR_SIGNATURE     "tw-signature"     /* a direct producer: Ed25519, 64 bytes */
#define TW_HDR_GATEWAY_MAC   "tw-gateway-mac"   /* the gateway: HMAC-SHA256, 32 bytes */

#define TW_SIG_LEN        64
#define TW_KEY_LEN        32
#define TW_MAC_LEN        32
#define TW_SECRET_MAX     128
#define TW_PROVENANCE_MAX 160

/* What the headers of a message say. */
typedef struct tw_provenance {
    char who[TW_PROVENANCE_MAX]; /* "gateway:12", "twinctl:alice" or "direct" */
    int has_sig;
    uint8_t sig[TW_SIG_LEN];
    int has_mac;
    uint8_t mac[TW_MAC_LEN];
    char token_id[64]; /* of the gateway's header, "" when none */
    int bad_header;    /* a signature header that is not 64 bytes */
} tw_provenance;

/* Reads m's headers into p (m may have none). */
void tw_provenance_read(const rd_kafka_message_t *m, tw_provenance *p);

/* Whether sig is key's signature of msg. Initialises libsodium on first use;
 * -1 if it cannot be. */
int tw_sig_verify(const uint8_t sig[TW_SIG_LEN], const uint8_t *msg, size_t len,
                  const uint8_t key[TW_KEY_LEN]);

/* The secret the gateway and the projectors share (a file of at least 32
 * bytes, e.g. 64 hex digits, read as it is), so that a producer other than
 * the gateway cannot claim gateway:<token id>. Returns its length, or -1
 * with the reason in err. */
int tw_secret_load(const char *path, uint8_t *out, size_t cap, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* HMAC-SHA256(secret, token_id || 0x00 || value): the gateway's mark on a
 * message it publishes for a token. */
void tw_gateway_mac(const uint8_t *secret, size_t slen, const char *token_id, const void *value,
                    size_t len, uint8_t out[TW_MAC_LEN]);

/* An agency's registered public key (gateway.agency_key). */
typedef struct tw_agency_key {
    char agency[64];
    uint8_t key[TW_KEY_LEN];
} tw_agency_key;

/* The keys of the agencies in $1 (text[]) not revoked: the projector sends
 * it among a batch's pipelined reads (no blocking query on its loop, and a
 * key just added counts from the next batch). */
#define TW_AGENCY_KEYS_SQL                                                                         \
    "SELECT agency_code, public_key FROM gateway.agency_key"                                       \
    " WHERE revoked_at IS NULL AND agency_code = ANY($1)"

/* What the provenance check needs besides the event: the gateway's secret. */
typedef struct tw_keyring tw_keyring;
tw_keyring *tw_keyring_new(void);
void tw_keyring_free(tw_keyring *k);
/* With the gateway's secret set (copied), a gateway:<token id> provenance
 * needs a valid tw-gateway-mac; without, the header is trusted (Kafka ACLs
 * then must keep other producers from writing it). */
void tw_keyring_set_gateway_secret(tw_keyring *k, const uint8_t *secret, size_t len);

/* Judges an event's provenance, all but its signature: 0, or -1 with rej
 * set to bad_signature (a signature header that is not 64 bytes; a gateway
 * header whose MAC over value, the message as sent, does not verify) or,
 * when require is set, unauthenticated (no gateway, twinctl or signature).
 * A signed event (p->has_sig) passes here: the caller reads its agency's
 * keys (TW_AGENCY_KEYS_SQL) and judges it with tw_signature_check. */
int tw_provenance_check(const tw_keyring *k, const tw_provenance *p, const char *agency,
                        const void *value, size_t vlen, int require, tw_reject *rej);

/* 0 when one of keys[0..n) registered for agency verifies sig over canon,
 * the event's canonical bytes; else -1 with rej set to bad_signature. */
int tw_signature_check(const tw_agency_key *keys, size_t n, const char *agency,
                       const uint8_t sig[TW_SIG_LEN], const uint8_t *canon, size_t len,
                       tw_reject *rej);

#endif
