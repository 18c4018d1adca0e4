/* map.c: linear probing, FNV-1a, power-of-two capacity, no deletion (the
 * state maps only grow within a batch and are cleared between batches). */
#include "map.h"

#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    void *value;
    uint64_t hash;
} slot;

struct tw_map {
    slot *slots;
    size_t cap, count;
    tw_arena *arena; /* keys live there when set: the map is cleared before it is */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

tw_map *tw_map_new(void)
{
    tw_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void tw_map_use_arena(tw_map *m, tw_arena *a)
{
    m->arena = a;
}

void tw_map_clear(tw_map *m)
{
    for (size_t i = 0; i < m->cap && !m->arena; i++)
        free(m->slots[i].key);
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

void tw_map_free(tw_map *m)
{
    if (!m)
        return;
    tw_map_clear(m);
    free(m->slots);
    free(m);
}

static slot *find(const tw_map *m, const char *key, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return &m->slots[i];
}

void *tw_map_get(const tw_map *m, const char *key)
{
    slot *s = find(m, key, fnv1a(key));
    return s->key ? s->value : NULL;
}

static int grow(tw_map *m)
{
    size_t ncap = m->cap * 2;
    slot *old = m->slots, *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!old[i].key)
            continue;
        size_t j = old[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    free(old);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int tw_map_put(tw_map *m, const char *key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    uint64_t h = fnv1a(key);
    slot *s = find(m, key, h);
    if (!s->key) {
        if (!(s->key = m->arena ? tw_arena_strdup(m->arena, key) : strdup(key)))
            return -1;
        s->hash = h;
        m->count++;
    }
    s->value = value;
    return 0;
}

size_t tw_map_count(const tw_map *m)
{
    return m->count;
}

void *tw_map_next(const tw_map *m, size_t *pos, const char **key)
{
    while (*pos < m->cap) {
        slot *s = &m->slots[(*pos)++];
        if (s->key) {
            if (key)
                *key = s->key;
            return s->value;
        }
    }
    return NULL;
}
