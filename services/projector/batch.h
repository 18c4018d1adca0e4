/* batch.h: one batch of consumed messages and its trip to PostgreSQL:
 * decode and check as messages arrive; then one round trip reads what the
 * batch touches (known event ids, reference codes, twinnings, pledges,
 * parked deliveries, source feeds), the state machine applies the events in
 * order, and one more round trip writes the log, dead letters, projection
 * rows and the partitions' next offsets in a single transaction. */
#ifndef TW_BATCH_H
#define TW_BATCH_H

#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "pg.h"
#include "project.h"

/* Partitions numbered 0 .. TW_MAX_PARTS - 1 are supported. */
#define TW_MAX_PARTS 256

typedef struct tw_batch tw_batch;

/* Per-partition outcome of a committed batch. */
typedef struct tw_batch_part {
    int32_t partition;
    int64_t first;    /* the first offset the batch holds */
    int64_t hole;     /* the first offset missing inside the batch, -1 none */
    int64_t hole_end; /* the offset received after the hole */
    int64_t expected; /* stored next offset before the batch, -1 = none */
    int64_t next;     /* stored next offset after it */
    int64_t accepted, dead, duplicates;
    uint8_t head[32];    /* the partition's chain head after the batch */
    int64_t chained;     /* links the batch added to the chain (its accepted events) */
    int64_t head_offset; /* the offset of the row whose hash is head */
} tw_batch_part;

/* A batch applies its events to cache, the projector's state of its
 * partitions' twinnings and pledges, which outlives batches: the read
 * phase asks PostgreSQL only for what the cache lacks. The caller commits
 * the cache after a batch commits and resets it after any failure. */
tw_batch *tw_batch_new(const char *topic, tw_state *cache);
void tw_batch_free(tw_batch *b);
/* The chain heads (32 bytes per partition) the batch's events are chained
 * onto when written; the owner updates them from tw_batch_parts after a
 * commit, and re-reads them from PostgreSQL after a failure. */
void tw_batch_set_heads(tw_batch *b, const uint8_t (*heads)[32]);
/* The gateway's secret (provenance.h; shared by the lanes, not owned; the
 * agencies' keys are read with each batch that holds signed events) and whether an event must show
 * where it came from (ingest.require_provenance). */
struct tw_keyring;
void tw_batch_set_provenance(tw_batch *b, struct tw_keyring *keys, int require);
/* Adds a published anchor (a partition's chain head at offset) for the
 * batch's transaction to record in audit.anchor; tw_batch_clear forgets
 * them. Returns -1 when the batch holds TW_MAX_PARTS already. */
int tw_batch_add_anchor(tw_batch *b, int32_t partition, int64_t offset, const uint8_t hash[32]);
/* The anchors the batch recorded: partitions and offsets, n of them. */
int tw_batch_anchors(const tw_batch *b, const int32_t **parts, const int64_t **offsets);
/* Drops every message (their rd_kafka_message_t are destroyed). */
void tw_batch_clear(tw_batch *b);
size_t tw_batch_count(const tw_batch *b);

/* Takes ownership of m; decodes and checks it at once. Returns -1 when out
 * of memory. */
int tw_batch_add(tw_batch *b, rd_kafka_message_t *m, int64_t now_ms)
    __attribute__((warn_unused_result));

/* Runs the batch on the pipeline: read what the cache lacks, apply, write,
 * commit. stored[p] is partition p's stored next offset (-1 = none): the
 * compare-and-set expects it, and messages below it (already committed)
 * are skipped. A partition's first message must be at stored[p] (or at
 * start[p], where consuming began, when nothing is stored): a batch that
 * would leave a hole in the offsets fails instead. Event ids are not looked up unless careful: the
 * log insert then fails the batch with a unique violation if any id was already logged, and an
 * event failing a stateful check fails it too (it may be a re-delivery): tw_batch_needs_lookups,
 * and the caller runs it again, carefully. done(arg, b, ok, err) is called once; on success the
 * per-partition outcome is in tw_batch_parts. */
typedef void (*tw_batch_done_fn)(void *arg, tw_batch *b, int ok, const char *err);
void tw_batch_run(tw_batch *b, tw_pgpipe *pipe, const int64_t *stored, const int64_t *start,
                  int careful, tw_batch_done_fn done, void *arg);

const tw_batch_part *tw_batch_parts(const tw_batch *b, int *n);

/* "p0 120..4999, p3 77..80" (the offsets the batch holds), for logs. */
void tw_batch_describe(const tw_batch *b, char *out, size_t outlen);

/* After a failed run: must it be redone with event-id lookups? (an id was
 * logged already, or an event failed a stateful check unlooked-up) */
int tw_batch_needs_lookups(const tw_batch *b, const tw_pgpipe *pipe);

/* Event types counted apart: 0 is an event that did not decode (or an
 * unknown body), then the bodies in contract order. */
#define TW_BATCH_NTYPES 10
int tw_batch_type_index(const tw_event *ev);
const char *tw_batch_type_name(int t); /* "support_pledged" */

/* Totals of the last run, for logs and metrics. */
typedef struct tw_batch_stats {
    int64_t accepted, dead, duplicates, parked;
    int64_t by_type[TW_BATCH_NTYPES][3]; /* [type][0 accepted, 1 dead-lettered, 2 duplicate] */
    double read_ms, apply_ms, write_ms;  /* wall time of each phase */
} tw_batch_stats;
tw_batch_stats tw_batch_stats_get(const tw_batch *b);
/* After the commit: one warning per event the batch dead-lettered, with its
 * topic, partition, offset, event id (when it parsed) and the reason. */
void tw_batch_log_dead(const tw_batch *b);

#endif
