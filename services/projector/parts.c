/* parts.c: the partition table and its state machine (see parts.h). The
 * only file that writes a partition's state, stored offset, chain head,
 * lane or loss. */
#include "parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct part {
    tw_part_state state;
    int64_t stored; /* next offset stored in PostgreSQL, -1 none */
    int64_t start;  /* where consuming began when nothing is stored, -1 unknown */
    int64_t want;   /* SEEKING: the offset the fetch was asked to start at, -1 any */
    int64_t head_off;
    uint8_t lane;
    struct {
        tw_loss_state state;
        int64_t from, to; /* the stored offset; the broker's log start (-1 unknown) */
    } loss;
} part;

struct tw_parts {
    int nlanes;
    part p[TW_MAX_PARTS];
    /* beside the table, as tw_batch_run and tw_batch_set_heads read them */
    int64_t stored[TW_MAX_PARTS], start[TW_MAX_PARTS];
    uint8_t head[TW_MAX_PARTS][TW_CHAIN_HASH_LEN];
};

static int valid(int32_t p)
{
    return p >= 0 && p < TW_MAX_PARTS;
}

static void spread(tw_parts *ps)
{
    int next = 0;
    for (int i = 0; i < TW_MAX_PARTS; i++) {
        if (ps->p[i].state != TW_PART_UNASSIGNED) {
            ps->p[i].lane = (uint8_t)next;
            next = (next + 1) % ps->nlanes;
        } else {
            ps->p[i].lane = (uint8_t)(i % ps->nlanes);
        }
    }
}

tw_parts *tw_parts_new(int nlanes)
{
    tw_parts *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->nlanes = nlanes;
    tw_parts_forget_stored(ps);
    for (int i = 0; i < TW_MAX_PARTS; i++)
        ps->p[i].want = -1;
    spread(ps);
    return ps;
}

void tw_parts_free(tw_parts *ps)
{
    free(ps);
}

void tw_parts_assign(tw_parts *ps, const int32_t *parts, int n)
{
    for (int i = 0; i < TW_MAX_PARTS; i++)
        ps->p[i].state = TW_PART_UNASSIGNED;
    for (int i = 0; i < n; i++)
        if (valid(parts[i]))
            ps->p[parts[i]].state = TW_PART_LOADING;
    spread(ps);
}

void tw_parts_reload(tw_parts *ps)
{
    for (int i = 0; i < TW_MAX_PARTS; i++)
        if (ps->p[i].state != TW_PART_UNASSIGNED)
            ps->p[i].state = TW_PART_LOADING;
}

tw_part_state tw_parts_state(const tw_parts *ps, int32_t p)
{
    return valid(p) ? ps->p[p].state : TW_PART_UNASSIGNED;
}

int tw_parts_assigned(const tw_parts *ps, int32_t p)
{
    return tw_parts_state(ps, p) != TW_PART_UNASSIGNED;
}

int tw_parts_lane(const tw_parts *ps, int32_t p)
{
    return valid(p) ? ps->p[p].lane : 0;
}

void tw_parts_describe_lanes(const tw_parts *ps, char *line, size_t len)
{
    size_t n = 0;
    line[0] = '\0';
    for (int l = 0; l < ps->nlanes && n < len; l++) {
        n += (size_t)snprintf(line + n, len - n, "%s%d <-", l ? "; " : "", l);
        for (int p = 0; p < TW_MAX_PARTS && n < len; p++)
            if (ps->p[p].state != TW_PART_UNASSIGNED && ps->p[p].lane == l)
                n += (size_t)snprintf(line + n, len - n, " p%d", p);
    }
}

void tw_parts_forget_stored(tw_parts *ps)
{
    for (int i = 0; i < TW_MAX_PARTS; i++) {
        ps->stored[i] = ps->p[i].stored = -1;
        ps->p[i].head_off = -1;
        memcpy(ps->head[i], tw_chain_genesis, TW_CHAIN_HASH_LEN);
    }
}

void tw_parts_set_stored(tw_parts *ps, int32_t p, int64_t stored, const uint8_t *head,
                         int64_t head_off)
{
    if (!valid(p))
        return;
    ps->stored[p] = ps->p[p].stored = stored;
    ps->p[p].head_off = head_off;
    memcpy(ps->head[p], head ? head : tw_chain_genesis, TW_CHAIN_HASH_LEN);
}

void tw_parts_seek(tw_parts *ps, int32_t p, int64_t want, int64_t start)
{
    if (!valid(p) || ps->p[p].state == TW_PART_UNASSIGNED)
        return;
    /* the operator moved the stored offset: the loss is accepted */
    if (ps->p[p].loss.state != TW_LOSS_NONE && ps->p[p].loss.from != ps->p[p].stored)
        ps->p[p].loss.state = TW_LOSS_NONE;
    ps->p[p].state = TW_PART_SEEKING;
    ps->p[p].want = want;
    ps->start[p] = ps->p[p].start = ps->p[p].stored >= 0 ? ps->p[p].stored : start;
}

int tw_parts_admit(tw_parts *ps, int32_t p, int64_t offset)
{
    if (!valid(p))
        return 0;
    part *x = &ps->p[p];
    if (x->state == TW_PART_SEEKING && (x->want < 0 || offset == x->want))
        x->state = TW_PART_ACTIVE;
    return x->state == TW_PART_ACTIVE;
}

void tw_parts_committed(tw_parts *ps, const tw_batch_part *parts, int n)
{
    for (int i = 0; i < n; i++) {
        int32_t p = parts[i].partition;
        if (!valid(p))
            continue;
        ps->stored[p] = ps->p[p].stored = parts[i].next;
        if (parts[i].chained > 0) {
            memcpy(ps->head[p], parts[i].head, TW_CHAIN_HASH_LEN);
            ps->p[p].head_off = parts[i].head_offset;
        }
    }
}

int64_t tw_parts_stored(const tw_parts *ps, int32_t p)
{
    return valid(p) ? ps->p[p].stored : -1;
}

int64_t tw_parts_from(const tw_parts *ps, int32_t p)
{
    return !valid(p) ? -1 : ps->p[p].stored >= 0 ? ps->p[p].stored : ps->p[p].start;
}

const int64_t *tw_parts_stored_all(const tw_parts *ps)
{
    return ps->stored;
}

const int64_t *tw_parts_start_all(const tw_parts *ps)
{
    return ps->start;
}

const uint8_t (*tw_parts_heads(const tw_parts *ps))[TW_CHAIN_HASH_LEN]
{
    return (const uint8_t(*)[TW_CHAIN_HASH_LEN])ps->head;
}

int64_t tw_parts_head(const tw_parts *ps, int32_t p, const uint8_t **hash)
{
    if (!valid(p))
        return -1;
    *hash = ps->head[p];
    return ps->p[p].head_off;
}

int tw_parts_lost(tw_parts *ps, int32_t p, int64_t lo)
{
    if (!valid(p) || tw_parts_loss_known(ps, p))
        return 0;
    ps->p[p].loss.from = ps->p[p].stored;
    ps->p[p].loss.to = lo;
    ps->p[p].loss.state = TW_LOSS_TO_RECORD;
    return 1;
}

int tw_parts_is_lost(const tw_parts *ps, int32_t p)
{
    return valid(p) && ps->p[p].loss.state != TW_LOSS_NONE;
}

int tw_parts_loss_known(const tw_parts *ps, int32_t p)
{
    return tw_parts_is_lost(ps, p) && ps->p[p].loss.from == ps->p[p].stored;
}

int32_t tw_parts_loss_next(const tw_parts *ps, int64_t *from, int64_t *to)
{
    for (int p = 0; p < TW_MAX_PARTS; p++)
        if (ps->p[p].loss.state == TW_LOSS_TO_RECORD) {
            *from = ps->p[p].loss.from;
            *to = ps->p[p].loss.to;
            return p;
        }
    return -1;
}

void tw_parts_loss_set(tw_parts *ps, int32_t p, tw_loss_state st)
{
    if (valid(p))
        ps->p[p].loss.state = st;
}

int tw_parts_loss_waiting(const tw_parts *ps)
{
    for (int p = 0; p < TW_MAX_PARTS; p++)
        if (ps->p[p].loss.state == TW_LOSS_RECORDED && ps->p[p].state != TW_PART_UNASSIGNED)
            return 1;
    return 0;
}
