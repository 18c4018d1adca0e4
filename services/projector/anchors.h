/* anchors.h: the projector publishes its partitions' chain heads to
 * twinwatch.audit-anchors.v1 every audit.anchor_interval_s and at shutdown
 * (DESIGN.md "Audit trail"), so that a truncated or recomputed chain is
 * detectable from outside the database. Only committed heads are published;
 * each published anchor is then recorded in audit.anchor by the next batch
 * of its partition's lane (or at shutdown), which is bookkeeping: the copy
 * that counts is the one on Kafka. */
#ifndef TW_ANCHORS_H
#define TW_ANCHORS_H

#include <ev.h>

#include "batch.h"
#include "config.h"
#include "parts.h"
#include "pg.h"

typedef struct tw_anchors tw_anchors;

/* Creates the producer (with the consumer's kafka.* settings) and the
 * timer. ps is read, never written. NULL with the reason in err. */
tw_anchors *tw_anchors_start(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                             const tw_parts *ps, char *err, size_t errlen);
/* Hands batch b of lane the published anchors of its partitions to record. */
void tw_anchors_attach(tw_anchors *a, int lane, tw_batch *b);
/* After b committed: its anchors are recorded. */
void tw_anchors_recorded(tw_anchors *a, const tw_batch *b);
/* At shutdown, the loop stopped and the batches finished: publishes the
 * last heads (unless publish is 0: they may not be committed), records
 * what is pending on pipe (blocking; NULL: not recorded), flushes the
 * producer and frees everything. */
void tw_anchors_stop(tw_anchors *a, int publish, tw_pgpipe *pipe);

#endif
