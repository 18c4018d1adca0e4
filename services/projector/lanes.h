/* lanes.h: the lanes that write batches. A lane writes the batches of some
 * of the assigned partitions (parts.h deals them) on a PostgreSQL
 * connection of its own, in pipeline mode, with two batches: one filling,
 * one being written. One lane's batch is written while another's is being
 * filled and written: one PostgreSQL backend per lane, in parallel. Lanes
 * never share a partition, hence never a row of ingest.partition_offset:
 * each batch's compare-and-set covers its own partitions, and exactly-once
 * holds lane by lane. A lane reports what happens through callbacks. */
#ifndef TW_LANES_H
#define TW_LANES_H

#include <ev.h>
#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "config.h"
#include "parts.h"
#include "pg.h"

#define TW_MAX_LANES 16

typedef struct tw_lanes tw_lanes;

typedef struct tw_lanes_cbs {
    /* A batch is about to run: what else it records (anchors) is added. */
    void (*on_launch)(void *arg, int lane, tw_batch *b);
    /* A batch committed; the lane clears it when this returns. */
    void (*on_committed)(void *arg, int lane, const tw_batch *b);
    /* A batch failed (why NULL: it is redone with id checks, as logged). */
    void (*on_failed)(void *arg, const char *why);
    /* A lane finished a batch (committed or not) and is idle. */
    void (*on_idle)(void *arg);
    /* An open batch's time is up. */
    void (*on_due)(void *arg);
    /* A reconnect finished (err is "" when connected), or an idle lane's
     * connection was found gone (err says so). */
    void (*on_connected)(void *arg, int lane, const char *err);
    void *arg;
} tw_lanes_cbs;

/* Connects every lane (blocking: at start-up, before the loop runs). NULL
 * with the reason in err. ps is read, never written. */
tw_lanes *tw_lanes_new(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                       const tw_parts *ps, const tw_lanes_cbs *cbs, char *err, size_t errlen);
void tw_lanes_free(tw_lanes *ls);

/* Takes m (owned now) into the open batch of its partition's lane. -1 when
 * out of memory. */
int tw_lanes_add(tw_lanes *ls, rd_kafka_message_t *m, int64_t now_ms)
    __attribute__((warn_unused_result));
/* Events held in the open batches, all lanes. */
int64_t tw_lanes_held(const tw_lanes *ls);
/* Launches each idle, connected lane's open batch when it is full or due,
 * or has anything at all when flush is set; lane 0 not when skip0. */
void tw_lanes_kick(tw_lanes *ls, int flush, int skip0);
/* Is a batch (or a query) of any lane running on PostgreSQL? */
int tw_lanes_busy(const tw_lanes *ls);
/* Would tw_lanes_kick(ls, 1, 0) launch anything? */
int tw_lanes_pending(const tw_lanes *ls);
int tw_lanes_connected(const tw_lanes *ls);
int tw_lanes_count(const tw_lanes *ls);
/* After a failure: forgets the open batches, the caches of idle lanes (a
 * lane with a batch still on PostgreSQL keeps its cache whole: that
 * batch's events may not be applied yet, and applying them to an emptied
 * cache would take stored rows for new ones; it commits or fails on its
 * own), and the connections that broke. */
void tw_lanes_abort(tw_lanes *ls);
/* A revocation: forgets the open batches; once no lane is busy, every
 * cache (the partitions may change hands). */
void tw_lanes_drop_open(tw_lanes *ls);
void tw_lanes_reset_caches(tw_lanes *ls);
/* Starts reconnecting the lanes whose link is gone (on the loop, never
 * blocking it): returns how many lanes are not connected yet (0: all are),
 * fresh how many reconnects this call started. -1 when out of memory. */
int tw_lanes_reconnect(tw_lanes *ls, int *fresh);
int tw_lanes_all_connected(const tw_lanes *ls);
/* Lane's pipeline when it is connected and idle, for a statement of the
 * projector's own (offsets, losses, last anchors); NULL otherwise. */
tw_pgpipe *tw_lanes_pipe(tw_lanes *ls, int lane);

#endif
