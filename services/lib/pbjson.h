/* pbjson.h: protobuf-c messages to and from the protobuf JSON mapping, by
 * walking the message descriptors, never field by field: a field added to a
 * .proto is mapped as soon as its .pb-c.c is regenerated. */
#ifndef TW_PBJSON_H
#define TW_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Parses text (len bytes, not NUL-terminated) as one JSON object, refusing
 * duplicate keys, and maps it with tw_pbjson_from_object. Returns a new
 * message of type d, or NULL with the reason in err. */
ProtobufCMessage *tw_pbjson_from_json(const ProtobufCMessageDescriptor *d, const char *text,
                                      size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Maps the JSON object obj (not taken) onto a new message of type d. Keys are
 * .proto names or lowerCamelCase JSON names; null is an absent field; enums
 * by name or number (unknown numbers pass: proto3 enums are open); 64-bit
 * integers as numbers or decimal strings; bytes as base64. Refusals name the
 * field by its path ("order.items[2].price: expected an integer").
 * Returns the message, which the caller frees with
 * protobuf_c_message_free_unpacked(m, NULL), or NULL with the reason in err. */
ProtobufCMessage *tw_pbjson_from_object(const ProtobufCMessageDescriptor *d, json_t *obj, char *err,
                                        size_t errlen) __attribute__((warn_unused_result));

/* Renders m as compact JSON text: keys in lowerCamelCase in field-number
 * order, enums by name, 64-bit integers as strings, proto3 defaults left out
 * (a set oneof member is always shown). Returns a malloc'd NUL-terminated
 * string the caller frees, or NULL if m is NULL or memory ran out. */
char *tw_pbjson_to_json(const ProtobufCMessage *m) __attribute__((warn_unused_result));

/* The field of d named key, by its .proto name or its lowerCamelCase JSON
 * name; NULL if d has no such field. */
const ProtobufCFieldDescriptor *tw_pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                     const char *key);

/* Length of the valid UTF-8 sequence at p (NUL-terminated), or 0 if the
 * bytes there are not one (overlong, surrogate, above U+10FFFF, cut short). */
size_t tw_pbjson_utf8_seq(const unsigned char *p);

/* Makes s, a message that may quote a sender's bytes, safe for a one-line
 * log and a text column: each control byte, and each byte that does not
 * start a valid UTF-8 sequence (or a sequence a truncation cut), becomes '?'.
 * Returns s. */
char *tw_pbjson_clean_text(char *s);

#endif
