/* token.h: the agency gateway's bearer tokens. A token is "twgw_" and 256
 * random bits in base64url; what is stored and looked up is its SHA-256,
 * computed here for both twinctl (issue) and the gateway (each request). */
#ifndef TW_TOKEN_H
#define TW_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TW_TOKEN_PREFIX "twgw_"
#define TW_TOKEN_MAX    64 /* prefix, 43 base64url characters, NUL, room */

/* Writes a new random token into out (at least TW_TOKEN_MAX bytes).
 * Returns -1 when the system gives no random bytes. */
int tw_token_new(char *out, size_t outlen) __attribute__((warn_unused_result));

/* SHA-256 of the token's bytes as presented. */
void tw_token_hash(const char *token, size_t len, uint8_t hash[32]);

#endif
