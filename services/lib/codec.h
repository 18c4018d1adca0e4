/* codec.h: Event bytes in, a decoded Event or a dead-letter reason out; the
 * checks that need no state (DESIGN.md's validation list, first half). */
#ifndef TW_CODEC_H
#define TW_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "feed.h"

typedef enum {
    TW_R_OK = 0,
    TW_R_UNDECODABLE,
    TW_R_UNKNOWN_BODY,
    TW_R_MISSING_FIELD,
    TW_R_BAD_FIELD,
    TW_R_FUTURE_EVENT,
    TW_R_BAD_AMOUNT,
    TW_R_DUE_BEFORE_PLEDGE,
    TW_R_UNKNOWN_AGENCY,
    TW_R_UNKNOWN_LOCALITY,
    TW_R_TWINNING_NOT_ACTIVE,
    TW_R_TWINNING_ALREADY_ACTIVE,
    TW_R_DUPLICATE_PLEDGE,
    TW_R_UNKNOWN_PLEDGE,
    TW_R_PLEDGE_CANCELLED,
    TW_R_PLEDGE_LOCALITY_MISMATCH,
    TW_R_CONFLICTING_DUPLICATE,
    TW_R_LOCALITY_AMBIGUOUS,
    TW_R__COUNT
} tw_reason;

typedef struct tw_reject {
    tw_reason reason;
    char msg[256];
} tw_reject;

#define TW_MAX_VND         1000000000000000LL /* 10^15 */
#define TW_MIN_OCCURRED_MS 946684800000LL     /* 2000-01-01T00:00:00Z: no twinning event is older */

/* Fills rej with reason r and a formatted message; returns -1 so a check
 * can "return tw_reject_set(...)". */
int tw_reject_set(tw_reject *rej, tw_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reason's stable name ("unknown_pledge"), as stored in dead letters. */
const char *tw_reason_name(tw_reason r);

/* Unpacks an Event; NULL with rej filled when the bytes are not one. The
 * caller frees the result with tw_event_free. */
tw_event *tw_codec_decode(const void *buf, size_t len, tw_reject *rej);
/* The same with protobuf-c's allocator alloc (NULL: malloc); the event is
 * then freed however alloc's memory is. */
tw_event *tw_codec_decode_in(const void *buf, size_t len, ProtobufCAllocator *alloc,
                             tw_reject *rej);

/* Stateless checks: body known, required fields present, UUID, dates,
 * enums, amounts, occurred_at not more than a day after now_ms, due date
 * not before the pledge's local date. Returns 0, or -1 with rej filled.
 * On success the event's id is parsed into event_id. */
int tw_codec_check(const tw_event *ev, int64_t now_ms, uint8_t event_id[16], tw_reject *rej)
    __attribute__((warn_unused_result));

/* The event type name stored in the log ("support_pledged"); "unknown" for
 * none. */
const char *tw_event_type(const tw_event *ev);

/* The pledge an event names, or "" when it names none. */
const char *tw_event_pledge_id(const tw_event *ev);

/* Canonical bytes: protobuf-c's packing of the decoded event (field order,
 * defaults omitted). Returns a malloc'd buffer and its length in *len. */
uint8_t *tw_codec_pack(const tw_event *ev, size_t *len);

#endif
