/* batch_int.h: the batch's insides, shared by batch.c and write.c only. */
#ifndef TW_BATCH_INT_H
#define TW_BATCH_INT_H

#include <time.h>

#include "batch.h"
#include "chain.h"
#include "codec.h"
#include "geo.h"
#include "map.h"
#include "project.h"
#include "provenance.h"

typedef struct tw_entry {
    rd_kafka_message_t *rkm;
    tw_event *ev; /* NULL when undecodable */
    uint8_t id[16];
    uint8_t *canon;
    size_t canon_len;
    uint8_t prev[TW_CHAIN_HASH_LEN], hash[TW_CHAIN_HASH_LEN]; /* its chain link, when accepted */
    tw_reject *rej; /* why, when rejected (in the batch's arena) */
    char *prov;     /* provenance (provenance.h), in the arena */
    uint8_t *sig;   /* the agency's signature (TW_SIG_LEN bytes, in the arena), or NULL */
    int rejected, accepted, duplicate, stale;
} tw_entry;

typedef struct known_payload {
    size_t len;
    uint8_t bytes[];
} known_payload;

/* Read-phase key arrays. */
enum {
    RA_IDS,
    RA_AGENCIES,
    RA_LOCALITIES,
    RA_TW_A,
    RA_TW_L,
    RA_PL_A,
    RA_PL_I,
    RA_PK_A,
    RA_PK_I,
    RA_KEYS, /* the agencies of signed events */
    RA__COUNT
};

/* The read phase's statements. */
typedef enum read_stmt {
    READ_KNOWN, /* event ids already logged (careful batches only) */
    READ_AGENCIES,
    READ_LOCALITIES,
    READ_TWINNINGS,
    READ_PLEDGES,
    READ_PARKED,
    READ_GEO,  /* unit versions and lineage (geo.h), every batch */
    READ_KEYS, /* the public keys of the signed events' agencies */
    READ__COUNT
} read_stmt;

#define WA__COUNT 40

/* The projection tables a batch writes (tables.h), and room for the
 * columns of the widest. */
enum { TW_BATCH_TWINNING, TW_BATCH_PLEDGE, TW_BATCH_PARKED, TW_BATCH_SOURCE, TW_BATCH_NTABLES };
#define TW_BATCH_MAXCOLS 32
_Static_assert(TW_NCOLS(TW_TWINNING_COLUMNS) <= TW_BATCH_MAXCOLS &&
                   TW_NCOLS(TW_PLEDGE_COLUMNS) <= TW_BATCH_MAXCOLS &&
                   TW_NCOLS(TW_PARKED_COLUMNS) <= TW_BATCH_MAXCOLS &&
                   TW_NCOLS(TW_SOURCE_COLUMNS) <= TW_BATCH_MAXCOLS,
               "TW_BATCH_MAXCOLS too small for a projection table");

struct tw_batch {
    const char *topic;
    char gap[300]; /* why a run refused to commit a hole in the offsets */
    tw_entry *e;
    size_t n, cap;
    tw_batch_part parts[TW_MAX_PARTS];
    int nparts;
    tw_state *st;
    tw_map *seen;           /* event_id text -> first accepted entry in this batch */
    tw_map *known;          /* event_id text -> known_payload already in the log */
    tw_map *keys;           /* keys queued for the read phase */
    tw_geo *geo;            /* unit versions and lineage, reread each batch */
    tw_reject scratch;      /* the check under way; kept (copied) only if it rejects */
    struct tw_arena *arena; /* decoded events, canonical bytes, keys: freed by tw_batch_clear */
    tw_pgarr ra[RA__COUNT];
    tw_pgarr wa[WA__COUNT];
    tw_pgarr rows[TW_BATCH_NTABLES][TW_BATCH_MAXCOLS]; /* a column each */
    tw_source **sources;                               /* the write phase's source rows, sorted */
    size_t nsources;                                   /* room in sources */
    tw_batch_stats stats;
    const uint8_t (*heads)[TW_CHAIN_HASH_LEN]; /* the projector's chain heads, by partition */
    struct timespec phase_start;
    int oom;
    int nanchors; /* published anchors this batch records in audit.anchor */
    int32_t anchor_part[TW_MAX_PARTS];
    int64_t anchor_off[TW_MAX_PARTS];
    uint8_t anchor_hash[TW_MAX_PARTS][TW_CHAIN_HASH_LEN];
    struct tw_keyring *keyring; /* the gateway's secret (the lanes'), for gateway headers */
    tw_agency_key *akeys;       /* the keys READ_KEYS read this run, for signed events */
    size_t nakeys, cap_akeys;
    int require_provenance;
    int careful;                      /* look up every event id before applying */
    int recheck;                      /* not careful, and an event failed a stateful check */
    read_stmt read_kind[READ__COUNT]; /* what each statement sent reads */
    int nread;
    tw_pgpipe *pipe;
    tw_batch_done_fn done;
    void *done_arg;
};

/* The batch part of partition, NULL when the batch holds none of it (a
 * batch holds few partitions: a look along the list). Inline, so that
 * write.c calls nothing of batch.c, which calls it. */
static inline tw_batch_part *tw_batch_part_of(tw_batch *b, int32_t partition)
{
    for (int i = 0; i < b->nparts; i++)
        if (b->parts[i].partition == partition)
            return &b->parts[i];
    return NULL;
}
void tw_write_init(tw_batch *b);
void tw_write_free(tw_batch *b);
/* Queues the batch's write transaction on pipe. -1 on failure. */
int tw_write_queue(tw_batch *b, tw_pgpipe *pipe) __attribute__((warn_unused_result));

/* The batch's change notice for the channel twinwatch_projection (see
 * notify.c) into buf, at most TW_NOTIFY_MAX bytes; returns its length. */
#define TW_NOTIFY_MAX 7900
size_t tw_notify_payload(tw_batch *b, char *buf, size_t cap);

#endif
