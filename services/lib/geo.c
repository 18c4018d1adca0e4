/* geo.c: unit versions and lineage in memory, and the resolution of a code
 * at a local date. Small (a province's few hundred units), rebuilt from
 * ref.unit_version and ref.unit_lineage by whoever needs it. */
#include "geo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "map.h"

typedef struct {
    int *v;
    int n, cap;
} idx_list;

typedef struct {
    tw_geo_unit u;
    int next;            /* the code's next version, -1 at the end */
    idx_list succ, pred; /* lineage, in the order it was added */
} version;

struct tw_geo {
    version *v;
    int n, cap;
    tw_map *codes; /* code -> first version index + 1 */
};

static int list_add(idx_list *l, int i)
{
    for (int k = 0; k < l->n; k++)
        if (l->v[k] == i)
            return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        int *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = i;
    return 0;
}

tw_geo *tw_geo_new(void)
{
    tw_geo *g = calloc(1, sizeof *g);
    if (!g || !(g->codes = tw_map_new())) {
        free(g);
        return NULL;
    }
    return g;
}

void tw_geo_clear(tw_geo *g)
{
    for (int i = 0; i < g->n; i++) {
        free((char *)g->v[i].u.code);
        free(g->v[i].succ.v);
        free(g->v[i].pred.v);
    }
    g->n = 0;
    tw_map_clear(g->codes);
}

void tw_geo_free(tw_geo *g)
{
    if (!g)
        return;
    tw_geo_clear(g);
    free(g->v);
    tw_map_free(g->codes);
    free(g);
}

int tw_geo_size(const tw_geo *g)
{
    return g->n;
}

static int first_of(const tw_geo *g, const char *code)
{
    return (int)(intptr_t)tw_map_get(g->codes, code) - 1;
}

static int find(const tw_geo *g, const char *code, int32_t from)
{
    for (int i = first_of(g, code); i >= 0; i = g->v[i].next)
        if (g->v[i].u.from == from)
            return i;
    return -1;
}

int tw_geo_add_version(tw_geo *g, const char *code, int32_t from, int32_t to)
{
    if (find(g, code, from) >= 0)
        return 0;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 256;
        version *nv = realloc(g->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        g->v = nv;
        g->cap = cap;
    }
    version *x = &g->v[g->n];
    memset(x, 0, sizeof *x);
    if (!(x->u.code = strdup(code)))
        return -1;
    x->u.from = from;
    x->u.to = to;
    x->next = first_of(g, code);
    if (tw_map_put(g->codes, code, (void *)(intptr_t)(g->n + 1)) < 0) {
        free((char *)x->u.code);
        return -1;
    }
    g->n++;
    return 0;
}

int tw_geo_add_lineage(tw_geo *g, const char *old_code, int32_t old_from, const char *new_code,
                       int32_t new_from)
{
    int o = find(g, old_code, old_from), n;
    if (o < 0 || !new_code)
        return 0; /* abolished: no successor to record */
    if ((n = find(g, new_code, new_from)) < 0)
        return 0;
    return list_add(&g->v[o].succ, n) < 0 || list_add(&g->v[n].pred, o) < 0 ? -1 : 0;
}

int tw_geo_parse_day(const char *s, int32_t *day)
{
    if (!strcmp(s, "-infinity")) {
        *day = TW_GEO_BEGINNING;
        return 0;
    }
    if (!strcmp(s, "infinity")) {
        *day = TW_GEO_NEVER;
        return 0;
    }
    return tw_date_parse(s, day);
}

int tw_geo_add_row(tw_geo *g, const char *kind, const char *code, const char *from,
                   const char *third, const char *fourth)
{
    int32_t d1, d2 = 0;
    if (tw_geo_parse_day(from, &d1) < 0)
        return -1;
    if (*kind == 'v')
        return third && tw_geo_parse_day(third, &d2) == 0 ? tw_geo_add_version(g, code, d1, d2)
                                                          : -1;
    if (third && (!fourth || tw_geo_parse_day(fourth, &d2) < 0))
        return -1;
    return tw_geo_add_lineage(g, code, d1, third, d2);
}

static int valid_on(const version *x, int32_t day)
{
    return x->u.from <= day && day <= x->u.to;
}

/* Walks lineage from start (forward along successors, or back along
 * predecessors) to the versions valid on day, into out (deduplicated). */
static void walk(const tw_geo *g, int start, int32_t day, int forward, tw_geo_res *out)
{
    int queue[256], head = 0, tail = 0;
    queue[tail++] = start;
    while (head < tail) {
        const version *x = &g->v[queue[head++]];
        if (valid_on(x, day)) {
            int dup = 0;
            for (int k = 0; k < out->ncandidates; k++)
                dup |= out->candidates[k] == &x->u;
            if (!dup && out->ncandidates < TW_GEO_MAX_CANDIDATES)
                out->candidates[out->ncandidates++] = &x->u;
            continue;
        }
        const idx_list *l = forward ? &x->succ : &x->pred;
        for (int k = 0; k < l->n && tail < (int)(sizeof queue / sizeof queue[0]); k++) {
            const version *y = &g->v[l->v[k]];
            /* only towards the day: a successor begins after, a predecessor ends before */
            if (forward ? y->u.from <= day : y->u.to >= day)
                queue[tail++] = l->v[k];
        }
    }
}

static int by_code(const void *a, const void *b)
{
    const tw_geo_unit *x = *(const tw_geo_unit *const *)a, *y = *(const tw_geo_unit *const *)b;
    return strcmp(x->code, y->code);
}

void tw_geo_resolve(const tw_geo *g, const char *code, int32_t day, tw_geo_res *out)
{
    int latest_ended = -1, earliest = -1;

    memset(out, 0, sizeof *out);
    if (first_of(g, code) < 0) {
        out->status = TW_GEO_UNKNOWN;
        return;
    }
    for (int i = first_of(g, code); i >= 0; i = g->v[i].next) {
        const version *x = &g->v[i];
        if (valid_on(x, day)) {
            out->status = TW_GEO_VALID;
            out->unit = &x->u;
            return;
        }
        if (x->u.to < day && (latest_ended < 0 || x->u.to > g->v[latest_ended].u.to))
            latest_ended = i;
        if (x->u.from > day && (earliest < 0 || x->u.from < g->v[earliest].u.from))
            earliest = i;
    }
    if (latest_ended >= 0) {
        out->ended = g->v[latest_ended].u.to;
        walk(g, latest_ended, day, 1, out);
    } else {
        walk(g, earliest, day, 0, out);
    }
    if (out->ncandidates == 1) {
        out->status = TW_GEO_MAPPED;
        out->unit = out->candidates[0];
        out->ncandidates = 0;
        out->candidates[0] = NULL;
    } else if (out->ncandidates > 1) {
        out->status = TW_GEO_AMBIGUOUS;
        qsort(out->candidates, (size_t)out->ncandidates, sizeof out->candidates[0], by_code);
    } else {
        out->status = latest_ended >= 0 ? TW_GEO_ABOLISHED : TW_GEO_UNKNOWN;
    }
}

int tw_geo_lineage_codes(const tw_geo *g, const tw_geo_unit *u, const char **codes, int max)
{
    int queue[256], head = 0, tail = 0, n = 0;
    int start = find(g, u->code, u->from);

    if (max <= 0)
        return 0;
    codes[n++] = u->code;
    if (start < 0)
        return n;
    queue[tail++] = start;
    while (head < tail) {
        const version *x = &g->v[queue[head++]];
        for (int k = 0; k < x->pred.n; k++) {
            const version *p = &g->v[x->pred.v[k]];
            int dup = 0;
            for (int j = 0; j < n; j++)
                dup |= !strcmp(codes[j], p->u.code);
            if (!dup && n < max)
                codes[n++] = p->u.code;
            if (tail < (int)(sizeof queue / sizeof queue[0]))
                queue[tail++] = x->pred.v[k];
        }
    }
    return n;
}

void tw_geo_candidates_text(const tw_geo_res *r, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < r->ncandidates && len < outlen; k++)
        len += (size_t)snprintf(out + len, outlen - len, "%s%s", k ? ", " : "",
                                r->candidates[k]->code);
}
