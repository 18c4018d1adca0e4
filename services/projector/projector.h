/* projector.h: the projector process: one libev loop, one Kafka consumer,
 * and lanes of batches, each with its PostgreSQL connection in pipeline mode
 * and two batches (one filling, one being written). */
#ifndef TW_PROJECTOR_H
#define TW_PROJECTOR_H

#include <ev.h>
#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "chain.h"
#include "config.h"
#include "kafka.h"
#include "pg.h"

#define TW_PROJ_MAX_PARTS 256

#define TW_PROJ_MAX_LANES 16

/* A partition whose stored offset the broker no longer holds. */
typedef struct tw_lost {
    int64_t from, to; /* stored next offset; the broker's log start (-1 unknown) */
    int state;        /* 0 none, 1 to record, 2 being recorded, 3 recorded */
} tw_lost;

typedef struct tw_projector tw_projector;
typedef struct tw_observe tw_observe;

/* A lane writes the batches of some of the assigned partitions (those
 * whose number modulo the lane count is its number) on a PostgreSQL
 * connection of its own, so that one lane's batch is written while
 * another's is being filled and written: one PostgreSQL backend per lane,
 * in parallel. Lanes never share a partition, hence never a row of
 * ingest.partition_offset: each batch's compare-and-set covers its own
 * partitions, and exactly-once holds lane by lane. */
typedef struct tw_lane {
    tw_projector *pr;
    int no;
    PGconn *pg;
    tw_pgconnect connecting; /* a reconnect in progress */
    tw_pgpipe pipe;
    tw_batch *open, *flight; /* one filling, one being written */
    tw_state *cache;         /* twinnings and pledges of the lane's partitions */
    ev_timer batch_timer;
    int open_due;        /* the open batch's time is up */
    int careful_batches; /* batches left to run with event-id lookups */
} tw_lane;

struct tw_projector {
    struct ev_loop *loop;
    tw_config *cfg;
    const char *topic;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    tw_kafka_wakeup wake;
    tw_lane lanes[TW_PROJ_MAX_LANES]; /* lane 0 also reads offsets, records losses */
    int nlanes;
    ev_timer retry_timer, lost_timer;
    ev_signal sigterm, sigint;
    /* stored next offset per partition (-1 none), and which are assigned */
    int64_t stored[TW_PROJ_MAX_PARTS];
    int64_t start[TW_PROJ_MAX_PARTS]; /* where consuming started (-1 unknown) */
    /* each partition's hash-chain head: read with the stored offsets,
     * advanced by committed batches only */
    uint8_t head[TW_PROJ_MAX_PARTS][TW_CHAIN_HASH_LEN];
    int64_t head_off[TW_PROJ_MAX_PARTS]; /* the offset of the head's row (-1 none) */
    /* anchors (anchors.c): the last head published per partition, and those
     * published but not yet recorded in audit.anchor */
    rd_kafka_t *anchor_rk;
    ev_timer anchor_timer;
    int64_t anchored_off[TW_PROJ_MAX_PARTS];
    int anchor_pending[TW_PROJ_MAX_PARTS];
    int64_t pend_off[TW_PROJ_MAX_PARTS];
    uint8_t pend_hash[TW_PROJ_MAX_PARTS][TW_CHAIN_HASH_LEN];
    int assigned[TW_PROJ_MAX_PARTS];
    uint8_t lane_of[TW_PROJ_MAX_PARTS]; /* set at each assignment (tw_projector_spread) */
    tw_lost lost[TW_PROJ_MAX_PARTS];
    int lost_recording; /* the partition whose alert is being inserted */
    rd_kafka_topic_partition_list_t *assignment;
    int resync; /* partitions must seek back to the stored offsets */
    int stopping;
    int in_rebalance; /* inside the rebalance callback */
    double retry_delay;
    long long batches, events, accepted, dead, duplicates, reconnects, rebalances;
    tw_observe *obs; /* /metrics and /healthz */
    char err[600];
};

/* The lane that writes partition's batches. */
static inline tw_lane *tw_projector_lane(tw_projector *pr, int32_t partition)
{
    return &pr->lanes[pr->lane_of[partition]];
}

/* Deals the assigned partitions (pr->assigned) to the lanes in turn, in
 * partition order, so that every lane gets a share whatever the assignor
 * hands out: by number modulo lanes, a round-robin assignor's even
 * partitions all went to lane 0. Unassigned partitions keep number modulo
 * lanes. Called only between batches (at an assignment). */
void tw_projector_spread(tw_projector *pr);

/* Is a batch (or a query) of any lane running on PostgreSQL? */
int tw_projector_busy(const tw_projector *pr);
/* Finishes whatever runs on every lane, blocking (shutdown, rebalance). */
void tw_projector_finish(tw_projector *pr);

/* consumer.c */
/* The kafka.* keys the consumer sets itself (refused in the config). */
extern const tw_conf_reserved tw_consumer_reserved[];
/* Checks a kafka.* value as librdkafka would, and refuses the cooperative
 * assignor, which the rebalance callback does not support. */
int tw_consumer_check(const char *key, const char *value, char *why, size_t whylen);
/* librdkafka's log lines as the projector's own (level mapped). */
void tw_consumer_on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
int tw_consumer_start(tw_projector *pr, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Takes messages from librdkafka into the open batch while there is room. */
void tw_consumer_drain(tw_projector *pr);
/* Reads the stored offsets of the assigned partitions and seeks there. */
int tw_consumer_resync(tw_projector *pr) __attribute__((warn_unused_result));
/* Tells Kafka the offsets a batch committed (asynchronously, for lag tools). */
void tw_consumer_commit_kafka(tw_projector *pr, const tw_batch *b);
void tw_consumer_close(tw_projector *pr);

/* observe.c: metrics and health, served over HTTP when http.port is set. */
int tw_observe_start(tw_projector *pr, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void tw_observe_batch(tw_projector *pr, const tw_batch_stats *s, size_t events, int ok);
void tw_observe_resync(tw_projector *pr, int resyncing);
void tw_observe_kafka_stats(tw_projector *pr, const char *json, size_t len);
void tw_observe_stop(tw_projector *pr);

/* anchors.c */
int tw_anchors_start(tw_projector *pr, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Publishes the committed heads of assigned partitions that moved. */
void tw_anchors_publish(tw_projector *pr);
/* Hands batch b of lane l the published anchors of l's partitions to record. */
void tw_anchors_attach(tw_projector *pr, tw_lane *l, tw_batch *b);
/* After b committed: its anchors are recorded. */
void tw_anchors_recorded(tw_projector *pr, const tw_batch *b);
/* At shutdown, batches finished: publishes and records the last heads. */
void tw_anchors_stop(tw_projector *pr);

/* main.c: launches each lane's open batch when it is full or due. */
void tw_projector_kick(tw_projector *pr);
/* Aborts the batches and arranges for a reconnect/seek after a failure. */
void tw_projector_failed(tw_projector *pr, const char *why);

#endif
