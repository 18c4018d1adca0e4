/* projector.h: the projector: one libev loop, one Kafka consumer
 * (consumer.c), lanes of batches each with its PostgreSQL connection in
 * pipeline mode (lanes.c, batch.c), the partition table (parts.c), the
 * chain anchors (anchors.c) and /metrics and /healthz (observe.c).
 * projector.c makes them, hears what each reports and decides what
 * follows: a batch committed, a batch failed and everything restarts from
 * the stored offsets, the group assigned or revoked partitions. */
#ifndef TW_PROJECTOR_H
#define TW_PROJECTOR_H

#include <ev.h>

#include "config.h"

typedef struct tw_projector tw_projector;

/* Connects to PostgreSQL (blocking, before the loop runs), creates the
 * consumer, the anchor producer and /metrics; the rest happens on loop.
 * NULL with the reason in err. */
tw_projector *tw_projector_start(struct ev_loop *loop, const tw_config *cfg, char *err,
                                 size_t errlen);
/* Stops taking messages, writes the open batches, and breaks the loop
 * once no batch is on PostgreSQL. */
void tw_projector_stop_soon(tw_projector *pr);
/* After the loop: publishes and records the last anchors, leaves the group
 * and frees everything; logs the totals. */
void tw_projector_free(tw_projector *pr);

#endif
