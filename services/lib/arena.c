/* arena.c: blocks chained newest first; an allocation takes from the head
 * block or starts a new one. A reset keeps the standard-sized blocks (the
 * next batch will need as many) and frees oversized ones. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size, used;
    max_align_t data[];
} block;

struct tw_arena {
    block *head;  /* the block being filled */
    block *spare; /* emptied blocks of the standard size, for reuse */
    size_t chunk, held;
    ProtobufCAllocator pb;
};

static void *pb_alloc(void *ctx, size_t n)
{
    return tw_arena_alloc(ctx, n);
}

static void pb_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

tw_arena *tw_arena_new(size_t chunk)
{
    tw_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->chunk = chunk < 1024 ? 1024 : chunk;
    a->pb = (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = a};
    return a;
}

static void free_list(block *b)
{
    while (b) {
        block *n = b->next;
        free(b);
        b = n;
    }
}

void tw_arena_free(tw_arena *a)
{
    if (!a)
        return;
    free_list(a->head);
    free_list(a->spare);
    free(a);
}

void *tw_arena_alloc(tw_arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (!n)
        n = align;
    block *b = a->head;
    if (!b || b->size - b->used < n) {
        if (n <= a->chunk && a->spare) {
            b = a->spare;
            a->spare = b->next;
        } else {
            size_t size = n > a->chunk ? n : a->chunk;
            if (!(b = malloc(sizeof *b + size)))
                return NULL;
            b->size = size;
            a->held += size;
        }
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

char *tw_arena_strdup(tw_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tw_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void tw_arena_reset(tw_arena *a)
{
    block *b = a->head;
    while (b) {
        block *n = b->next;
        if (b->size == a->chunk) {
            b->next = a->spare;
            a->spare = b;
        } else {
            a->held -= b->size;
            free(b);
        }
        b = n;
    }
    a->head = NULL;
}

size_t tw_arena_held(const tw_arena *a)
{
    return a->held;
}

ProtobufCAllocator *tw_arena_protobuf(tw_arena *a)
{
    return &a->pb;
}
