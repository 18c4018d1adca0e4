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

/* The kafka.* keys the publisher sets itself (refused in the config):
 * enable.idempotence=true and acks=all; linger.ms=5 and
 * client.id=twinwatch-sentinel are defaults an operator may change. */
extern const tw_conf_reserved tw_publisher_reserved[];
/* Creates the producer and starts connecting. Returns NULL with the reason
 * in err. */
tw_publisher *tw_publisher_start(struct ev_loop *loop, const tw_config *cfg, char *err,
                                 size_t errlen);
/* Waits up to timeout_ms for messages in flight, marks the acknowledged
 * ones sent (blocking: shutdown only), then frees everything. */
void tw_publisher_stop(tw_publisher *p, int timeout_ms);

/* What /metrics and /healthz show (observe.c). */
#define TW_EVAL_MAX_COUNTS 64
typedef struct tw_alert_count {
    char rule[32], state[16], severity[16];
    long long n;
} tw_alert_count;

typedef struct tw_eval_status {
    int connected;
    long long evaluations, transitions;
    double next_deadline; /* Unix time the deadline timer is armed for, 0: none */
    int ncounts;          /* alerts by rule, state and severity after the last evaluation */
    tw_alert_count counts[TW_EVAL_MAX_COUNTS];
} tw_eval_status;
void tw_eval_status_get(const tw_eval *e, tw_eval_status *st);
/* Called after each successful evaluation with its duration. */
typedef void (*tw_eval_observer)(void *arg, double seconds, int transitions);
void tw_eval_observe(tw_eval *e, tw_eval_observer fn, void *arg);

typedef struct tw_publisher_status {
    int connected;
    long long published, marked; /* acknowledged by the broker; marked sent */
    int in_flight;
    double last_report; /* Unix time of the last delivery report, 0: none */
    long long unsent;   /* outbox rows not marked sent, at the last fetch or mark */
} tw_publisher_status;
void tw_publisher_status_get(const tw_publisher *p, tw_publisher_status *st);

/* observe.c: GET /metrics and /healthz on http.port (0: not served). */
typedef struct tw_sentinel_observe tw_sentinel_observe;
tw_sentinel_observe *tw_sentinel_observe_start(struct ev_loop *loop, const tw_config *cfg,
                                               tw_eval *e, tw_publisher *p, char *err,
                                               size_t errlen);
void tw_sentinel_observe_stop(tw_sentinel_observe *o);

#endif
