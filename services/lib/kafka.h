/* kafka.h: librdkafka set-up shared by the services and twinctl, and the
 * glue that wakes a libev loop when a librdkafka queue turns non-empty. */
#ifndef TW_KAFKA_H
#define TW_KAFKA_H

#include <stddef.h>
#include <ev.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

#define TW_TOPIC_EVENTS  "twinwatch.events.v1"
#define TW_TOPIC_ALERTS  "twinwatch.alerts.v1"
#define TW_TOPIC_ANCHORS "twinwatch.audit-anchors.v1"

/* A conf with bootstrap.servers = brokers, then the defaults (key, value
 * pairs, NULL-terminated; may be NULL), then every kafka.* key of cfg (may
 * be NULL), so an operator's setting wins: a property the program cannot
 * let an operator change is reserved in cfg instead (config.h), refused
 * when it is set. Returns NULL with "kafka.KEY: reason" in err. */
rd_kafka_conf_t *tw_kafka_conf(const char *brokers, const char *const *defaults,
                               const tw_config *cfg, char *err, size_t errlen);

/* Whether librdkafka takes value for property key (no "kafka." prefix):
 * the tw_conf_check_fn that makes a bad kafka.* setting stop start-up
 * where it is set (file line, variable, --set). */
int tw_kafka_check(const char *key, const char *value, char *why, size_t whylen);

/* Sets one property, or fails naming it (a secret's value masked). */
int tw_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

/* librdkafka's log lines as the program's own (syslog level mapped), for
 * rd_kafka_conf_set_log_cb. */
void tw_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Wakes the loop through a non-blocking pipe when q turns non-empty. */
typedef struct tw_kafka_wakeup {
    int fds[2];
    ev_io io;
} tw_kafka_wakeup;

/* Enables wake-ups of q into the loop; cb runs on the loop and must drain
 * q with rd_kafka_queue_poll(q, 0) (or consumer_poll) until empty. */
int tw_kafka_wakeup_start(tw_kafka_wakeup *w, struct ev_loop *loop, rd_kafka_queue_t *q,
                          void (*cb)(struct ev_loop *, ev_io *, int), void *data, char *err,
                          size_t errlen) __attribute__((warn_unused_result));
void tw_kafka_wakeup_stop(tw_kafka_wakeup *w, struct ev_loop *loop);
/* Empties the pipe (call at the top of cb). */
void tw_kafka_wakeup_drain(tw_kafka_wakeup *w);

#endif
