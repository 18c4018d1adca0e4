/* uuid.c: canonical UUID text and RFC 4122 version 5 (SHA-1) name-based UUIDs,
 * which give feed events that carry no event_id a stable one. */
#include "uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* The RFC 4122 URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8. */
static const uint8_t url_namespace[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                          0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

static const char event_namespace_name[] = "urn:twinwatch:event";

int tw_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_dash_position(int i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

int tw_uuid_parse(const char *s, uint8_t out[16])
{
    uint8_t u[16];
    int n = 0;

    if (s == NULL)
        return -1;
    /* Stops at the first bad character, so never reads past a short string's NUL. */
    for (int i = 0; i < TW_UUID_STRLEN;) {
        if (is_dash_position(i)) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = tw_hex_value(s[i]);
        int lo = hi < 0 ? -1 : tw_hex_value(s[i + 1]);
        if (lo < 0)
            return -1;
        u[n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    if (s[TW_UUID_STRLEN] != '\0' || n != 16)
        return -1;
    memcpy(out, u, sizeof u);
    return 0;
}

void tw_uuid_format(const uint8_t u[16], char out[TW_UUID_STRLEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    char *p = out;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[u[i] >> 4];
        *p++ = digits[u[i] & 0x0f];
    }
    *p = '\0';
}

/* UUIDv5 of ns and the concatenation of n name parts. The API has no error
 * path, so a failing digest (only an allocation failure in practice) aborts
 * rather than hand out a wrong id. */
static void uuid_v5_parts(const uint8_t ns[16], const void *const *parts, const size_t *lens,
                          size_t n, uint8_t out[16])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, ns, 16) != 1)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (lens[i] > 0 && EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
            goto fail;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 16)
        goto fail;
    EVP_MD_CTX_free(ctx);

    memcpy(out, md, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x50); /* version 5 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return;

fail:
    fprintf(stderr, "tw_uuid_v5: SHA-1 digest failed (out of memory?)\n");
    abort();
}

void tw_uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16])
{
    const void *parts[1] = {name};
    size_t lens[1] = {len};

    uuid_v5_parts(ns, parts, lens, 1, out);
}

void tw_uuid_event_id(const char *source_system, const char *source_ref,
                      char out[TW_UUID_STRLEN + 1])
{
    uint8_t ns[16], id[16];
    const void *parts[3] = {source_system, "\n", source_ref};
    size_t lens[3] = {strlen(source_system), 1, strlen(source_ref)};

    /* Cheap enough to derive every time, and keeps this free of state. */
    tw_uuid_v5(url_namespace, event_namespace_name, sizeof event_namespace_name - 1, ns);
    uuid_v5_parts(ns, parts, lens, 3, id);
    tw_uuid_format(id, out);
}
