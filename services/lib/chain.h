/* chain.h: the audit log's hash chains (DESIGN.md "Audit trail"): the
 * canonical bytes of an event-log row and hash = SHA-256(prev || canonical),
 * shared by the projector, which writes the chains, and twinctl audit
 * verify, which recomputes them. */
#ifndef TW_CHAIN_H
#define TW_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define TW_CHAIN_HASH_LEN 32

/* A chain's first row chains to 32 zero bytes. */
extern const uint8_t tw_chain_genesis[TW_CHAIN_HASH_LEN];

/* Canonical bytes of an event-log row, version 1 (README "Audit trail"):
 *   "TWE1" | event_id (16) | u32 len(topic) | topic | i32 partition |
 *   i64 offset | u32 len(payload) | payload      (integers big-endian)
 * and out = SHA-256(prev || those bytes). The same encoding is written in
 * SQL by audit.event_canonical (schemas/010_audit.sql). Returns 0, or -1
 * when libcrypto fails (allocation). */
int tw_chain_event(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t id[16], const char *topic,
                   int32_t partition, int64_t offset, const uint8_t *payload, size_t len,
                   uint8_t out[TW_CHAIN_HASH_LEN]) __attribute__((warn_unused_result));

/* The same with the event's provenance (DESIGN.md "Gateway, provenance"):
 * when provenance is not NULL the canonical bytes go on with
 *   "TWP1" | u32 len(provenance) | provenance | u32 len(sig) | sig
 * (sig may be NULL with siglen 0), as audit.event_canonical's seven-argument
 * form writes them (schemas/041). A NULL provenance (rows logged before
 * provenance existed) leaves version 1's bytes unchanged. */
int tw_chain_event_prov(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t id[16],
                        const char *topic, int32_t partition, int64_t offset,
                        const uint8_t *payload, size_t len, const char *provenance,
                        const uint8_t *sig, size_t siglen, uint8_t out[TW_CHAIN_HASH_LEN])
    __attribute__((warn_unused_result));

/* SHA-256(prev || bytes): the link of an operator-action row, whose
 * canonical bytes audit.action_canonical builds in SQL. */
int tw_chain_link(const uint8_t prev[TW_CHAIN_HASH_LEN], const uint8_t *bytes, size_t len,
                  uint8_t out[TW_CHAIN_HASH_LEN]) __attribute__((warn_unused_result));

/* Lower-case hex of a hash and a NUL into out (65 bytes). */
void tw_chain_hex(const uint8_t h[TW_CHAIN_HASH_LEN], char out[2 * TW_CHAIN_HASH_LEN + 1]);

/* Parses 64 hex digits, with or without PostgreSQL's "\x" prefix. 0 or -1. */
int tw_chain_parse_hex(const char *s, uint8_t out[TW_CHAIN_HASH_LEN])
    __attribute__((warn_unused_result));

#endif
