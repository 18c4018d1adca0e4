/* token.c: bearer tokens for the agency gateway (token.h). */
#include "token.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int tw_token_new(char *out, size_t outlen)
{
    uint8_t raw[33]; /* 256 bits, and one more byte so 44 characters use no padding */
    size_t n = strlen(TW_TOKEN_PREFIX);

    if (outlen < TW_TOKEN_MAX || RAND_bytes(raw, 32) != 1)
        return -1;
    raw[32] = 0;
    memcpy(out, TW_TOKEN_PREFIX, n);
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[n++] = B64URL[(v >> 18) & 63];
        out[n++] = B64URL[(v >> 12) & 63];
        out[n++] = B64URL[(v >> 6) & 63];
        out[n++] = B64URL[v & 63];
    }
    n--; /* the last character carries only the zero pad byte's bits */
    out[n] = '\0';
    return 0;
}

void tw_token_hash(const char *token, size_t len, uint8_t hash[32])
{
    SHA256((const unsigned char *)token, len, hash);
}
