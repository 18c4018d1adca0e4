/* fuzz.h: what the libFuzzer targets of tests/fuzz share: a property check
 * that aborts (so libFuzzer keeps the input as a crash) with the reason. */
#ifndef TW_FUZZ_H
#define TW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: print why and abort, so the input is saved. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property broken at %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Whether s is a message a person reads and a log line or a text column
 * takes: not empty, shorter than cap, no control bytes, UTF-8. */
static inline int fuzz_message_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n >= cap)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = tw_pbjson_utf8_seq(p);
        if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f)))
            return 0;
        p += k;
    }
    return 1;
}

#endif
