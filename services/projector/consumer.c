/* consumer.c: the projector's Kafka consumer (see consumer.h). librdkafka's
 * queue wakes the loop through a pipe and is drained on the loop; the log
 * start offsets a partition with nothing stored needs are asked on a thread
 * of the consumer's own, whose answers wake the loop through an ev_async. */
#include "consumer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

/* A question for the log-start thread, and then its answer. */
typedef struct ask {
    struct ask *next;
    unsigned tag;
    int n, timeout_ms;
    int32_t *parts;
    int64_t *lo;
} ask;

struct tw_consumer {
    struct ev_loop *loop;
    const char *topic;
    tw_consumer_cbs cbs;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    tw_kafka_wakeup wake;
    int assigned[TW_MAX_PARTS]; /* handed to librdkafka */
    int paused[TW_MAX_PARTS];   /* paused for lost offsets */
    /* the log-start thread */
    pthread_t thread;
    int thread_up, stop;
    int waking;  /* the wake-up pipe is started */
    int closing; /* rd_kafka_consumer_close runs: revoke without the owner */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ask *todo, *done; /* under mu */
    ev_async answered;
};

/* ---- the log-start thread ---- */

static void *log_start_thread(void *arg)
{
    tw_consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->todo && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        ask *a = c->todo;
        c->todo = a->next;
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < a->n; i++) {
            int64_t lo = -1, hi = -1;
            if (rd_kafka_query_watermark_offsets(c->rk, c->topic, a->parts[i], &lo, &hi,
                                                 a->timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
                lo = -1;
            a->lo[i] = lo;
        }
        pthread_mutex_lock(&c->mu);
        a->next = c->done;
        c->done = a;
        ev_async_send(c->loop, &c->answered);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void free_asks(ask *a)
{
    while (a) {
        ask *next = a->next;
        free(a->parts);
        free(a->lo);
        free(a);
        a = next;
    }
}

static void on_answered(struct ev_loop *loop, ev_async *w, int revents)
{
    tw_consumer *c = w->data;
    (void)loop;
    (void)revents;
    pthread_mutex_lock(&c->mu);
    ask *a = c->done;
    c->done = NULL;
    pthread_mutex_unlock(&c->mu);
    for (ask *x = a; x; x = x->next)
        c->cbs.on_log_start(c->cbs.arg, x->tag, x->parts, x->lo, x->n);
    free_asks(a);
}

int tw_consumer_ask_log_start(tw_consumer *c, unsigned tag, const int32_t *parts, int n,
                              int timeout_ms)
{
    ask *a = calloc(1, sizeof *a);
    if (!a || !(a->parts = malloc(((size_t)n + 1) * sizeof *a->parts)) ||
        !(a->lo = malloc(((size_t)n + 1) * sizeof *a->lo))) {
        free_asks(a);
        return -1;
    }
    a->tag = tag;
    a->n = n;
    a->timeout_ms = timeout_ms;
    memcpy(a->parts, parts, (size_t)n * sizeof *parts);
    pthread_mutex_lock(&c->mu);
    ask **end = &c->todo;
    while (*end)
        end = &(*end)->next;
    *end = a;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- assignment ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    tw_consumer *c = opaque;
    if (c->closing) {
        rd_kafka_assign(rk, NULL);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int32_t list[TW_MAX_PARTS];
        int n = 0;
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].partition >= 0 && parts->elems[i].partition < TW_MAX_PARTS &&
                n < TW_MAX_PARTS)
                list[n++] = parts->elems[i].partition;
            else
                tw_error("p%d: partition number above %d is not supported; not consumed",
                         parts->elems[i].partition, TW_MAX_PARTS - 1);
        qsort(list, (size_t)n, sizeof list[0], cmp_i32);
        c->cbs.on_assign(c->cbs.arg, list, n);
    } else {
        tw_info("rebalance: %d partition(s) revoked", parts->cnt);
        c->cbs.on_revoke(c->cbs.arg, parts->cnt);
    }
    /* rd_kafka_assign follows from the loop once the owner is ready: the
     * group waits for it (the eager protocol's contract is a call to
     * assign after the callback, not inside it). */
}

static rd_kafka_topic_partition_list_t *list_of(tw_consumer *c, const int32_t *parts,
                                                const int64_t *offsets, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, c->topic, parts[i])->offset =
            offsets[i] >= 0 ? offsets[i] : RD_KAFKA_OFFSET_BEGINNING;
    return l;
}

int tw_consumer_assign(tw_consumer *c, const int32_t *parts, const int64_t *offsets, int n,
                       char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = list_of(c, parts, offsets, n);
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    memset(c->assigned, 0, sizeof c->assigned);
    memset(c->paused, 0, sizeof c->paused);
    if (e) {
        snprintf(err, errlen, "assign the partitions: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (int i = 0; i < n; i++)
        c->assigned[parts[i]] = 1;
    return 0;
}

int tw_consumer_seek(tw_consumer *c, const int32_t *parts, const int64_t *offsets, int n, char *err,
                     size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = list_of(c, parts, offsets, n);
    rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < n; i++)
        if (c->paused[parts[i]])
            rd_kafka_topic_partition_list_add(paused, c->topic, parts[i]);
    if (paused->cnt == 0) {
        /* timeout 0: the seek is queued, not waited for */
        rd_kafka_error_t *x = rd_kafka_seek_partitions(c->rk, l, 0);
        if (x) {
            e = rd_kafka_error_code(x);
            rd_kafka_error_destroy(x);
        }
    } else {
        e = rd_kafka_resume_partitions(c->rk, paused);
        if (!e)
            e = rd_kafka_assign(c->rk, NULL);
        if (!e)
            e = rd_kafka_assign(c->rk, l);
        if (!e)
            memset(c->paused, 0, sizeof c->paused);
    }
    rd_kafka_topic_partition_list_destroy(paused);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "seek back to the stored offsets: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

void tw_consumer_unassign(tw_consumer *c)
{
    rd_kafka_assign(c->rk, NULL);
    memset(c->assigned, 0, sizeof c->assigned);
    memset(c->paused, 0, sizeof c->paused);
}

/* ---- messages ---- */

static void pause_partition(tw_consumer *c, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->topic, p);
    rd_kafka_pause_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    c->paused[p] = 1;
}

void tw_consumer_poll(tw_consumer *c, int64_t max, int (*take)(void *arg, rd_kafka_message_t *m),
                      void *arg)
{
    for (int64_t n = 0; n < max;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m)
            break;
        if (m->err) {
            if ((m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                 m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) &&
                m->partition >= 0 && m->partition < TW_MAX_PARTS) {
                /* Never skip: the partition waits, paused, for an operator. */
                pause_partition(c, m->partition);
                c->cbs.on_out_of_range(c->cbs.arg, m->partition, rd_kafka_message_errstr(m));
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                tw_warn("kafka: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition < 0 || m->partition >= TW_MAX_PARTS) {
            tw_error("p%d@%lld: partition number above %d is not supported", m->partition,
                     (long long)m->offset, TW_MAX_PARTS - 1);
            rd_kafka_message_destroy(m);
            continue;
        }
        int t = take(arg, m);
        if (t < 0)
            break;
        n += t;
    }
}

int64_t tw_consumer_high(const tw_consumer *c, int32_t p)
{
    int64_t lo = -1, hi = -1;
    if (!c || rd_kafka_get_watermark_offsets(c->rk, c->topic, p, &lo, &hi) != 0)
        return -1;
    return hi;
}

/* The result of committing a batch's offsets to Kafka. Those offsets are a
 * courtesy to lag tools (PostgreSQL holds the ones that count), and a commit
 * refused while the group rebalances is routine: served here, by error code,
 * instead of by librdkafka's COMMITFAIL warning, a dozen per rebalance. */
static void on_kafka_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets)
        for (int i = 0; i < offsets->cnt && !err; i++)
            err = offsets->elems[i].err;
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__NO_OFFSET:
        return;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
        tw_debug("offsets not committed to Kafka (lag tools only): %s", rd_kafka_err2str(err));
        return;
    default:
        tw_warn("offsets not committed to Kafka, so lag tools lag behind (PostgreSQL has them): %s",
                rd_kafka_err2str(err));
    }
}

void tw_consumer_commit(tw_consumer *c, const tw_batch *b)
{
    int n;
    const tw_batch_part *parts = tw_batch_parts(b, &n);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, c->topic, parts[i].partition)->offset = parts[i].next;
    rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* librdkafka's statistics (statistics.interval.ms): which brokers are up,
 * for /healthz. */
static int on_kafka_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    tw_consumer *c = opaque;
    (void)rk;
    c->cbs.on_stats(c->cbs.arg, json, len);
    return 0; /* librdkafka frees json */
}

static void on_kafka_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_consumer *c = w->data;
    (void)loop;
    (void)revents;
    tw_kafka_wakeup_drain(&c->wake);
    c->cbs.on_readable(c->cbs.arg);
}

/* What the consumer sets itself, whatever the configuration says: a value
 * for these is refused at start-up rather than silently ignored. */
const tw_conf_reserved tw_consumer_reserved[] = {
    {"kafka.group.id", "the consumer group is the group.id key (group.id = ...)"},
    {"kafka.enable.auto.commit", "the projector commits offsets in PostgreSQL, with each batch"},
    {"kafka.auto.commit.enable", "the projector commits offsets in PostgreSQL, with each batch"},
    {"kafka.enable.auto.offset.store",
     "the projector commits offsets in PostgreSQL, with each batch"},
    {"kafka.auto.offset.reset",
     "the projector never skips events: a stored offset the broker no longer holds pauses the "
     "partition (auto.offset.reset=error) until twinctl offsets accept-loss"},
    {"kafka.enable.partition.eof",
     "the projector reads partitions without end-of-partition events"},
    {NULL, NULL},
};

int tw_consumer_check(const char *key, const char *value, char *why, size_t whylen)
{
    /* The rebalance handling takes whole assignments (eager protocol):
     * settling every lane's batches at a rebalance is what lets lanes be
     * redealt. An incremental (cooperative) assignor would need
     * incremental_assign and per-partition settling. */
    if (!strcmp(key, "partition.assignment.strategy") && strstr(value, "cooperative")) {
        snprintf(why, whylen,
                 "the projector supports the eager assignors (range, roundrobin), not %s", value);
        return -1;
    }
    return tw_kafka_check(key, value, why, whylen);
}

tw_consumer *tw_consumer_start(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                               const tw_consumer_cbs *cbs, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    char why[512];
    const char *brokers = tw_config_str(cfg, "kafka.brokers");
    tw_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->topic = topic;
    c->cbs = *cbs;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    ev_async_init(&c->answered, on_answered);
    c->answered.data = c;

    /* A short session lets a restarted projector get its partitions back in
     * seconds rather than the 45 s librdkafka defaults to; batches commit in
     * milliseconds, so 10 s of silence really means the process is gone.
     * Prefetch is bounded by size (8 MB queued, 8 MB a fetch response) so
     * memory stays flat however deep the backlog (a lower
     * queued.min.messages than librdkafka's 100,000 starves the batches:
     * 20,000 halved backlog throughput); a fetch waits at most 50 ms for
     * data, which keeps produce-to-view latency low on brokers that do not
     * wake a waiting fetch (librdkafka's mock cluster does not). client.id
     * is a default too: an operator may name the client for the broker's
     * quotas and logs. */
    static const char *const defaults[] = {"session.timeout.ms",
                                           "10000",
                                           "heartbeat.interval.ms",
                                           "1000",
                                           "queued.max.messages.kbytes",
                                           "8192",
                                           "fetch.max.bytes",
                                           "8388608",
                                           "fetch.wait.max.ms",
                                           "50",
                                           "statistics.interval.ms",
                                           "5000",
                                           "client.id",
                                           "twinwatch-projector",
                                           NULL};
    if (!(conf = tw_kafka_conf(brokers, defaults, cfg, err, errlen)))
        goto fail;
    if (tw_kafka_set(conf, "group.id", tw_config_str(cfg, "group.id"), err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        tw_kafka_set(conf, "auto.offset.reset", "error", err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.partition.eof", "false", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_log_cb(conf, tw_kafka_log);
    rd_kafka_conf_set_offset_commit_cb(conf, on_kafka_committed);
    rd_kafka_conf_set_stats_cb(conf, on_kafka_stats);
    rd_kafka_conf_set_opaque(conf, c);
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "create Kafka consumer: %s", why);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    if (tw_kafka_wakeup_start(&c->wake, loop, c->q, on_kafka_ready, c, err, errlen) < 0)
        goto fail;
    c->waking = 1;
    if (pthread_create(&c->thread, NULL, log_start_thread, c) != 0) {
        snprintf(err, errlen, "start the Kafka offsets thread: out of resources");
        goto fail;
    }
    c->thread_up = 1;
    ev_async_start(loop, &c->answered);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "subscribe to %s: %s", topic, rd_kafka_err2str(e));
        goto fail;
    }
    tw_info("subscribed to %s at %s as group %s", topic, brokers, tw_config_str(cfg, "group.id"));
    return c;
fail:
    tw_consumer_close(c);
    return NULL;
}

void tw_consumer_close(tw_consumer *c)
{
    if (!c)
        return;
    if (c->thread_up) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL); /* a question under way ends at its timeout */
        ev_async_stop(c->loop, &c->answered);
    }
    free_asks(c->todo);
    free_asks(c->done);
    if (c->waking) {
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
        tw_kafka_wakeup_stop(&c->wake, c->loop);
    }
    c->closing = 1;
    if (c->rk)
        rd_kafka_consumer_close(c->rk);
    if (c->q)
        rd_kafka_queue_destroy(c->q);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
