/* sentinel.h: the alert engine's two halves on one libev loop. The
 * evaluator (evaluate.c) LISTENs for the projector's batches, the test
 * clock and rule changes, calls alerting.evaluate() for the subjects named
 * (coalescing notifications that arrive meanwhile) and arms one timer for
 * the next deadline. The publisher (publish.c) drains alerting.outbox to
 * twinwatch.alerts.v1 and marks rows sent after the broker acknowledged
 * them. Each half has its own PostgreSQL connection. */
#ifndef TW_SENTINEL_H
#define TW_SENTINEL_H

#include <ev.h>

#include "config.h"

typedef struct tw_eval tw_eval;
typedef struct tw_publisher tw_publisher;

/* Starts connecting and evaluating; the first evaluation covers every
 * subject, as does the first after each reconnect. Returns NULL with the
 * reason in err. */
tw_eval *tw_eval_start(struct ev_loop *loop, const tw_config *cfg, char *err, size_t errlen);
/* Stops its watchers and closes its connection. */
void tw_eval_free(tw_eval *ev);

/* Creates the producer and starts connecting. Returns NULL with the reason
 * in err. */
tw_publisher *tw_publisher_start(struct ev_loop *loop, const tw_config *cfg, char *err,
                                 size_t errlen);
/* Waits up to timeout_ms for messages in flight, marks the acknowledged
 * ones sent (blocking: shutdown only), then frees everything. */
void tw_publisher_stop(tw_publisher *p, int timeout_ms);

#endif
