/* parts.h: what the projector knows of each partition of its topic, and the
 * one state machine that moves it. parts.c alone writes this table; every
 * other file reads it through these functions.
 *
 *   UNASSIGNED --assign--> LOADING --offsets read--> SEEKING --message at
 *   the stored offset--> ACTIVE; a failure or a new assignment sends an
 *   assigned partition back to LOADING, a revocation to UNASSIGNED.
 *
 * Beside it, a loss: a stored offset the broker no longer holds (retention
 * removed events never projected). A lost partition stays paused whatever
 * its state until an operator moves its stored offset (twinctl offsets
 * accept-loss); the loss's alert goes NONE -> TO_RECORD -> RECORDING ->
 * RECORDED. */
#ifndef TW_PARTS_H
#define TW_PARTS_H

#include <stdint.h>

#include "batch.h"
#include "chain.h"

typedef enum tw_part_state {
    TW_PART_UNASSIGNED, /* not this projector's */
    TW_PART_LOADING,    /* assigned; waiting for its stored offset and chain head */
    TW_PART_SEEKING,    /* fetching from the stored offset; anything else polled is dropped */
    TW_PART_ACTIVE,     /* its messages go to batches */
} tw_part_state;

typedef enum tw_loss_state {
    TW_LOSS_NONE,
    TW_LOSS_TO_RECORD, /* known, its operational alert not inserted yet */
    TW_LOSS_RECORDING, /* the alert's INSERT is on lane 0 */
    TW_LOSS_RECORDED,
} tw_loss_state;

typedef struct tw_parts tw_parts;

/* nlanes lanes share the partitions. NULL when out of memory. */
tw_parts *tw_parts_new(int nlanes);
void tw_parts_free(tw_parts *ps);

/* ---- assignment ---- */
/* A new assignment (the others become UNASSIGNED); the assigned ones are
 * LOADING and dealt to the lanes in turn, in partition order, so that every
 * lane gets a share whatever the assignor hands out (by number modulo
 * lanes, a round-robin assignor's even partitions all went to lane 0).
 * Unassigned partitions keep number modulo lanes. */
void tw_parts_assign(tw_parts *ps, const int32_t *parts, int n);
/* Every assigned partition back to LOADING (after a failure). */
void tw_parts_reload(tw_parts *ps);
tw_part_state tw_parts_state(const tw_parts *ps, int32_t p);
int tw_parts_assigned(const tw_parts *ps, int32_t p);
/* The lane that writes partition p's batches. */
int tw_parts_lane(const tw_parts *ps, int32_t p);
/* "0 <- p0 p4; 1 <- p2" into line: which lane writes which partition. */
void tw_parts_describe_lanes(const tw_parts *ps, char *line, size_t len);

/* ---- offsets and chain heads ---- */
/* Forgets every stored offset and head (a fresh read follows). */
void tw_parts_forget_stored(tw_parts *ps);
/* One row of ingest.partition_offset: stored next offset, chain head (NULL:
 * nothing accepted yet, the genesis hash) at head_off (-1 none). A loss the
 * operator accepted (the stored offset moved) is forgotten. */
void tw_parts_set_stored(tw_parts *ps, int32_t p, int64_t stored, const uint8_t *head,
                         int64_t head_off);
/* LOADING -> SEEKING: fetching starts at want; start is where consuming
 * began when nothing is stored (the log start, -1 unknown). */
void tw_parts_seek(tw_parts *ps, int32_t p, int64_t want, int64_t start);
/* Whether a message at offset of p goes to a batch: yes when ACTIVE; when
 * SEEKING, yes (and ACTIVE from now) if offset is where the fetch was asked
 * to start (or that was unknown), no otherwise: a message of the position
 * before the seek, prefetched, must not reach a batch. */
int tw_parts_admit(tw_parts *ps, int32_t p, int64_t offset);
/* After a batch committed: its partitions' new offsets and heads. */
void tw_parts_committed(tw_parts *ps, const tw_batch_part *parts, int n);
int64_t tw_parts_stored(const tw_parts *ps, int32_t p);
/* Where p's next batch must start: its stored offset, or where consuming
 * began when nothing is stored (-1 unknown). */
int64_t tw_parts_from(const tw_parts *ps, int32_t p);
/* The arrays tw_batch_run and tw_batch_set_heads read (TW_MAX_PARTS each). */
const int64_t *tw_parts_stored_all(const tw_parts *ps);
const int64_t *tw_parts_start_all(const tw_parts *ps);
const uint8_t (*tw_parts_heads(const tw_parts *ps))[TW_CHAIN_HASH_LEN];
/* p's committed chain head and the offset of its row (-1: none yet). */
int64_t tw_parts_head(const tw_parts *ps, int32_t p, const uint8_t **hash);

/* ---- losses ---- */
/* p's stored offset is no longer on the broker, whose log starts at lo (-1
 * unknown). Returns 1 if this loss is new (to log and record), 0 if it is
 * the one already known. */
int tw_parts_lost(tw_parts *ps, int32_t p, int64_t lo);
/* Is p known to have lost offsets (recorded or not)? */
int tw_parts_is_lost(const tw_parts *ps, int32_t p);
/* Whether the offset out of range of p is the loss already known. */
int tw_parts_loss_known(const tw_parts *ps, int32_t p);
/* The first loss to record: its partition (-1 none) and range. */
int32_t tw_parts_loss_next(const tw_parts *ps, int64_t *from, int64_t *to);
void tw_parts_loss_set(tw_parts *ps, int32_t p, tw_loss_state st);
/* Is an assigned partition paused by a recorded loss? */
int tw_parts_loss_waiting(const tw_parts *ps);

#endif
