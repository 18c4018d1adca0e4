/* arena.h: a bump allocator for what lives exactly as long as one batch
 * (decoded events, their canonical bytes, map keys): allocation is a
 * pointer increment, and the whole batch is let go at once by a reset that
 * keeps the memory for the next batch. */
#ifndef TW_ARENA_H
#define TW_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct tw_arena tw_arena;

/* chunk: bytes per block (larger requests get a block of their own).
 * NULL when out of memory. */
tw_arena *tw_arena_new(size_t chunk);
void tw_arena_free(tw_arena *a);
/* n bytes aligned for any type, or NULL when out of memory. */
void *tw_arena_alloc(tw_arena *a, size_t n);
char *tw_arena_strdup(tw_arena *a, const char *s);
/* Forgets every allocation; keeps the blocks of a usual batch's size. */
void tw_arena_reset(tw_arena *a);
/* Bytes held in blocks (for tests and memory accounting). */
size_t tw_arena_held(const tw_arena *a);
/* An allocator for protobuf-c's unpack that allocates in a; its frees do
 * nothing (the reset does). Valid as long as a. */
ProtobufCAllocator *tw_arena_protobuf(tw_arena *a);

#endif
