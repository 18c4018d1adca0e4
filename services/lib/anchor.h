/* anchor.h: anchors of the audit trail's hash chains on
 * twinwatch.audit-anchors.v1: one message per published chain head, so that
 * a database whose chain was truncated or recomputed is caught against a
 * copy it does not hold. Written by the projector, read back by twinctl
 * audit verify --anchors. */
#ifndef TW_ANCHOR_H
#define TW_ANCHOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chain.h"
#include "config.h"

/* "twinwatch.audit-anchor.v1 TOPIC PARTITION OFFSET HASH" (hex): the chain
 * of TOPIC/PARTITION had, at the row of OFFSET, the head HASH. */
#define TW_ANCHOR_MAGIC "twinwatch.audit-anchor.v1"

typedef struct tw_anchor {
    char topic[128];
    int32_t partition;
    int64_t offset;
    uint8_t hash[TW_CHAIN_HASH_LEN];
    int state; /* 0 not seen, 1 the row is there with this hash, 2 with another */
} tw_anchor;

/* Formats an anchor message into out; returns its length (truncated if
 * cap is short: 256 bytes is enough for any topic name Kafka allows). */
size_t tw_anchor_format(char *out, size_t cap, const char *topic, int32_t partition, int64_t offset,
                        const uint8_t hash[TW_CHAIN_HASH_LEN]);
/* Parses a message; 0 or -1 (not an anchor). */
int tw_anchor_parse(const char *msg, size_t len, tw_anchor *a) __attribute__((warn_unused_result));

typedef struct tw_anchor_set tw_anchor_set;

/* Reads every anchor on the anchors topic at brokers, up to the high
 * watermarks at the time of the call, with the kafka.* settings of cfg
 * (may be NULL; TLS, SASL). NULL with the reason in err. */
tw_anchor_set *tw_anchor_read(const char *brokers, const tw_config *cfg, char *err, size_t errlen);
size_t tw_anchor_count(const tw_anchor_set *s);
/* The row at topic/partition/offset is intact and its hash is hash. */
void tw_anchor_seen(tw_anchor_set *s, const char *topic, int32_t partition, int64_t offset,
                    const uint8_t hash[TW_CHAIN_HASH_LEN]);
/* Prints one line per chain whose anchors are not all found intact, naming
 * its first bad anchor; returns the number of such chains. */
int tw_anchor_report(const tw_anchor_set *s, FILE *out);
void tw_anchor_free(tw_anchor_set *s);

#endif
