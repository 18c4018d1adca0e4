/* consumer.h: the projector's Kafka consumer. Offsets live in PostgreSQL,
 * not in Kafka: an assignment is reported, and the partitions start
 * fetching only when the owner hands back their stored offsets
 * (tw_consumer_assign); Kafka's own committed offsets are only a copy for
 * lag tools. Nothing here blocks the loop: a log start offset is asked of
 * the broker on a thread of the consumer's own and answered on the loop. */
#ifndef TW_CONSUMER_H
#define TW_CONSUMER_H

#include <ev.h>
#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "config.h"

typedef struct tw_consumer tw_consumer;

typedef struct tw_consumer_cbs {
    /* The group assigned these partitions (n of them, sorted); none fetch
     * until tw_consumer_assign. */
    void (*on_assign)(void *arg, const int32_t *parts, int n);
    /* The group took every partition back; call tw_consumer_unassign once
     * the batches are settled. */
    void (*on_revoke)(void *arg, int n);
    /* Messages may be waiting: call tw_consumer_poll. */
    void (*on_readable)(void *arg);
    /* p's fetch position is no longer on the broker; p is paused. */
    void (*on_out_of_range)(void *arg, int32_t p, const char *why);
    /* Answers tw_consumer_ask_log_start: lo[i] is the log start of
     * parts[i], -1 when the broker did not say. */
    void (*on_log_start)(void *arg, unsigned tag, const int32_t *parts, const int64_t *lo, int n);
    /* librdkafka's statistics (JSON). */
    void (*on_stats)(void *arg, const char *json, size_t len);
    void *arg;
} tw_consumer_cbs;

/* The kafka.* keys the consumer sets itself (refused in the config). */
extern const tw_conf_reserved tw_consumer_reserved[];
/* Checks a kafka.* value as librdkafka would, and refuses the cooperative
 * assignor, which the rebalance handling does not support. */
int tw_consumer_check(const char *key, const char *value, char *why, size_t whylen);

/* Creates the consumer and subscribes to topic. NULL with the reason in
 * err. */
tw_consumer *tw_consumer_start(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                               const tw_consumer_cbs *cbs, char *err, size_t errlen);
/* Polls until take has taken max messages or none is left, handing each
 * to take, which owns it then and returns 1 (taken), 0 (dropped) or -1
 * (stop polling); errors are logged or reported (on_out_of_range),
 * rebalances reported. */
void tw_consumer_poll(tw_consumer *c, int64_t max, int (*take)(void *arg, rd_kafka_message_t *m),
                      void *arg);
/* Asks the broker for the log start of parts (on the consumer's thread);
 * on_log_start answers with tag. -1 when out of memory. */
int tw_consumer_ask_log_start(tw_consumer *c, unsigned tag, const int32_t *parts, int n,
                              int timeout_ms) __attribute__((warn_unused_result));
/* Starts fetching the reported assignment at offsets (-1: the beginning). */
int tw_consumer_assign(tw_consumer *c, const int32_t *parts, const int64_t *offsets, int n,
                       char *err, size_t errlen) __attribute__((warn_unused_result));
/* Moves the assigned partitions' fetch positions to offsets, without
 * waiting: what was prefetched before is dropped by librdkafka once the
 * seek is done, and before that by the owner (parts.h, SEEKING). A
 * partition paused for lost offsets is resumed and the whole assignment
 * assigned again (a seek cannot leave its error state). */
int tw_consumer_seek(tw_consumer *c, const int32_t *parts, const int64_t *offsets, int n, char *err,
                     size_t errlen) __attribute__((warn_unused_result));
void tw_consumer_unassign(tw_consumer *c);
/* The broker's high watermark of p as last seen (-1 unknown); no I/O. */
int64_t tw_consumer_high(const tw_consumer *c, int32_t p);
/* Tells Kafka the offsets a batch committed (asynchronously, for lag tools). */
void tw_consumer_commit(tw_consumer *c, const tw_batch *b);
/* Closes the consumer (leaves the group) and frees it. */
void tw_consumer_close(tw_consumer *c);

#endif
