/* observe.h: what the projector shows an operator over HTTP. GET /metrics
 * (Prometheus) counts events by outcome and type, batches, commit latency,
 * reconnects, rebalances, how long each loop iteration worked, and each
 * assigned partition's stored offset and lag; GET /healthz answers 200
 * while PostgreSQL and Kafka are reachable and batches commit, 503 with the
 * reason otherwise. It reads the partitions, the consumer and the lanes,
 * and is told the rest. */
#ifndef TW_OBSERVE_H
#define TW_OBSERVE_H

#include <ev.h>

#include "batch.h"
#include "config.h"
#include "consumer.h"
#include "lanes.h"
#include "parts.h"

typedef struct tw_observe tw_observe;

/* Registers the metrics, starts timing the loop's iterations and, when
 * http.port is set, serves them. NULL with the reason in err. */
tw_observe *tw_observe_start(struct ev_loop *loop, const tw_config *cfg, const tw_parts *ps,
                             const tw_consumer *c, const tw_lanes *ls, char *err, size_t errlen);
/* A batch committed (s its totals) or failed (s NULL). */
void tw_observe_batch(tw_observe *o, const tw_batch_stats *s, size_t events);
/* Resyncing (why: the failure, for /healthz; NULL keeps the last) or not. */
void tw_observe_resync(tw_observe *o, int resyncing, const char *why);
void tw_observe_reconnects(tw_observe *o, int n);
void tw_observe_rebalance(tw_observe *o);
/* librdkafka's statistics: which brokers are up. */
void tw_observe_kafka_stats(tw_observe *o, const char *json, size_t len);
void tw_observe_stop(tw_observe *o);

#endif
