/* uuid.h: UUID text form and UUIDv5, used to give feed events stable ids. */
#ifndef TW_UUID_H
#define TW_UUID_H

#include <stddef.h>
#include <stdint.h>

#define TW_UUID_STRLEN 36

/* Parses the canonical 8-4-4-4-12 hex form (either case). Returns 0 or -1. */
int tw_uuid_parse(const char *s, uint8_t out[16]) __attribute__((warn_unused_result));
/* The value of one hex digit (either case), or -1. */
int tw_hex_value(char c);

/* Writes the lower-case canonical form and a NUL into out (37 bytes). */
void tw_uuid_format(const uint8_t u[16], char out[TW_UUID_STRLEN + 1]);

/* RFC 4122 name-based UUID, version 5 (SHA-1). */
void tw_uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16]);

/* The event_id a feed line gets when it has none: UUIDv5 in the twinwatch
 * event namespace (itself UUIDv5(URL namespace, "urn:twinwatch:event")) of
 * source_system "\n" source_ref. Writes the canonical form into out. */
void tw_uuid_event_id(const char *source_system, const char *source_ref,
                      char out[TW_UUID_STRLEN + 1]);

#endif
