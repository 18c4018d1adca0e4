/* map.h: a string-keyed open-addressing hash map for per-batch state. */
#ifndef TW_MAP_H
#define TW_MAP_H

#include <stddef.h>

typedef struct tw_map tw_map;

tw_map *tw_map_new(void);
/* Frees the map and its key copies; values are the caller's. */
void tw_map_free(tw_map *m);
/* Removes every entry, keeping the table's memory. */
void tw_map_clear(tw_map *m);
/* Keys are copied into a rather than malloc'd: the map must be cleared
 * before the arena is reset. */
struct tw_arena;
void tw_map_use_arena(tw_map *m, struct tw_arena *a);
void *tw_map_get(const tw_map *m, const char *key);
/* Inserts or replaces; the map keeps its own copy of key. -1 if out of memory. */
int tw_map_put(tw_map *m, const char *key, void *value) __attribute__((warn_unused_result));
size_t tw_map_count(const tw_map *m);
/* Iteration: start with *pos = 0; returns the next value or NULL at the end. */
void *tw_map_next(const tw_map *m, size_t *pos, const char **key);

#endif
