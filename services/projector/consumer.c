/* consumer.c: the projector's Kafka side. Offsets live in PostgreSQL: on
 * assignment they are read there and the partitions assigned from them;
 * Kafka's own committed offsets are only a copy for lag tools. */
#include "projector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "log.h"

static int read_ok, heads_bad;

static void on_stored_offset(void *arg, int stmt, const PGresult *r)
{
    tw_projector *pr = arg;
    (void)stmt;
    for (int i = 0; i < PQntuples(r); i++) {
        long part = strtol(PQgetvalue(r, i, 0), NULL, 10);
        if (part < 0 || part >= TW_PROJ_MAX_PARTS)
            continue;
        pr->stored[part] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (!PQgetisnull(r, i, 3))
            pr->head_off[part] = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        if (!PQgetisnull(r, i, 2) && tw_chain_parse_hex(PQgetvalue(r, i, 2), pr->head[part]) < 0) {
            tw_error("p%ld: stored chain head %s is not a SHA-256; stopping", part,
                     PQgetvalue(r, i, 2));
            heads_bad = 1;
        }
    }
}

static void on_read_done(void *arg, int ok, const char *err)
{
    tw_projector *pr = arg;
    read_ok = ok && !heads_bad;
    if (!ok)
        snprintf(pr->err, sizeof pr->err, "%s", err);
    else if (heads_bad)
        snprintf(pr->err, sizeof pr->err, "a stored chain head is not a SHA-256");
}

/* Reads stored offsets (and chain heads) of the partitions in list and sets
 * their offsets. A partition without a head (nothing accepted yet) starts
 * its chain at the genesis hash. */
static int load_offsets(tw_projector *pr, rd_kafka_topic_partition_list_t *list)
{
    tw_pgparams p;
    for (int i = 0; i < TW_PROJ_MAX_PARTS; i++) {
        pr->stored[i] = -1;
        memcpy(pr->head[i], tw_chain_genesis, TW_CHAIN_HASH_LEN);
        pr->head_off[i] = -1;
    }
    tw_pgparams_clear(&p);
    tw_pgparams_text(&p, pr->topic);
    tw_pgpipe *pipe = &pr->lanes[0].pipe;
    if (!pr->lanes[0].pg) {
        snprintf(pr->err, sizeof pr->err, "not connected to PostgreSQL");
        return -1;
    }
    if (tw_pgpipe_send(pipe,
                       "SELECT kafka_partition, next_offset, chain_head, chain_offset FROM "
                       "ingest.partition_offset"
                       " WHERE topic = $1",
                       &p) < 0)
        return -1;
    heads_bad = 0;
    tw_pgpipe_finish(pipe, on_stored_offset, on_read_done, pr);
    if (!read_ok)
        return -1;
    for (int i = 0; list && i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t s = tp->partition < TW_PROJ_MAX_PARTS ? pr->stored[tp->partition] : -1;
        if (tp->partition < TW_PROJ_MAX_PARTS && pr->lost[tp->partition].from != s)
            pr->lost[tp->partition].state = 0; /* the operator moved the offset */
        tp->offset = s >= 0 ? s : RD_KAFKA_OFFSET_BEGINNING;
        /* Nothing stored: the partition starts at the broker's log start,
         * asked now so that the first batch can be checked to start there. */
        int64_t lo = -1, hi = -1;
        if (s < 0 && tp->partition < TW_PROJ_MAX_PARTS &&
            rd_kafka_query_watermark_offsets(pr->rk, pr->topic, tp->partition, &lo, &hi, 5000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            lo >= 0)
            tp->offset = lo;
        if (tp->partition < TW_PROJ_MAX_PARTS)
            pr->start[tp->partition] = s >= 0 ? s : lo;
        tw_info("p%d: assigned, starting at %s %lld", tp->partition,
                s >= 0 ? "stored offset" : "the beginning (nothing stored), offset",
                (long long)(s >= 0 ? s : lo));
    }
    return 0;
}

/* Finishes the batches being written, and forgets those being filled:
 * their messages will be read again from the stored offsets. */
static void settle_batches(tw_projector *pr)
{
    tw_projector_finish(pr);
    for (int i = 0; i < pr->nlanes; i++) {
        tw_lane *l = &pr->lanes[i];
        tw_batch_clear(l->open);
        tw_state_reset(l->cache); /* partitions may change hands */
        l->open_due = 0;
        ev_timer_stop(pr->loop, &l->batch_timer);
    }
}

/* "lanes: 0 <- p0 p4; 1 <- p2": which lane writes which assigned partition. */
static void log_lanes(const tw_projector *pr)
{
    char line[1024];
    size_t n = 0;
    line[0] = '\0';
    for (int l = 0; l < pr->nlanes && n < sizeof line; l++) {
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%d <-", l ? "; " : "", l);
        for (int p = 0; p < TW_PROJ_MAX_PARTS && n < sizeof line; p++)
            if (pr->assigned[p] && pr->lane_of[p] == l)
                n += (size_t)snprintf(line + n, sizeof line - n, " p%d", p);
    }
    tw_info("lanes: %s", line);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    tw_projector *pr = opaque;
    pr->rebalances++;
    pr->in_rebalance = 1; /* a batch finishing now must not poll Kafka from here */
    settle_batches(pr);
    memset(pr->assigned, 0, sizeof pr->assigned);
    if (pr->assignment) {
        rd_kafka_topic_partition_list_destroy(pr->assignment);
        pr->assignment = NULL;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (load_offsets(pr, parts) < 0) {
            tw_error("rebalance: cannot read stored offsets: %s; retrying", pr->err);
            pr->resync = 1;
        }
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].partition < TW_PROJ_MAX_PARTS)
                pr->assigned[parts->elems[i].partition] = 1;
        tw_projector_spread(pr);
        log_lanes(pr);
        pr->assignment = rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_assign(rk, pr->resync ? NULL : parts);
        if (pr->resync)
            tw_projector_failed(pr, "stored offsets unreadable at assignment");
    } else {
        tw_info("rebalance: %d partition(s) revoked", parts->cnt);
        rd_kafka_assign(rk, NULL);
    }
    pr->in_rebalance = 0;
}

int tw_consumer_resync(tw_projector *pr)
{
    if (!pr->assignment)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(pr->assignment);
    /* paused for lost offsets (load_offsets forgets a loss the operator
     * accepted, but the partition is still paused) */
    rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(1);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].partition < TW_PROJ_MAX_PARTS && pr->lost[l->elems[i].partition].state)
            rd_kafka_topic_partition_list_add(paused, pr->topic, l->elems[i].partition);
    int rc = load_offsets(pr, l);
    if (rc == 0) {
        /* Seek back, waiting until librdkafka has done it: it purges what
         * was prefetched, and no message of the old position can reach the
         * next batch (an assign() returns before that, and messages polled
         * meanwhile skipped ahead of the stored offsets). A partition
         * paused for lost offsets is in an error state seek cannot leave:
         * it is resumed and the whole assignment assigned again (the
         * batches' offset checks catch anything that slips through). */
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (paused->cnt == 0) {
            rd_kafka_error_t *err = rd_kafka_seek_partitions(pr->rk, l, 10000);
            if (err) {
                e = rd_kafka_error_code(err);
                rd_kafka_error_destroy(err);
            }
            for (int i = 0; !e && i < l->cnt; i++)
                e = l->elems[i].err;
        } else {
            e = rd_kafka_resume_partitions(pr->rk, paused);
            if (!e)
                e = rd_kafka_assign(pr->rk, NULL);
            if (!e)
                e = rd_kafka_assign(pr->rk, l);
        }
        if (e) {
            snprintf(pr->err, sizeof pr->err, "seek back to the stored offsets: %s",
                     rd_kafka_err2str(e));
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(paused);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

void tw_consumer_on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    tw_log(level <= 3   ? TW_LOG_ERROR
           : level <= 4 ? TW_LOG_WARN
                        : TW_LOG_INFO,
           "kafka %s: %s", fac, buf);
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

/* The stored offset is below the broker's log start: retention removed
 * events this projector never saw. Pause the partition, never skip: the
 * loss is an operational alert (ingest.operational_alert) until an
 * operator accepts it with twinctl offsets accept-loss. */
static void offsets_lost(tw_projector *pr, int32_t part, const char *why)
{
    int64_t s = pr->stored[part], lo = -1, hi = -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, pr->topic, part);
    rd_kafka_pause_partitions(pr->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (pr->lost[part].state && pr->lost[part].from == s)
        return; /* known and recorded (or being recorded): one line per loss */
    if (rd_kafka_query_watermark_offsets(pr->rk, pr->topic, part, &lo, &hi, 2000) != 0)
        lo = -1;
    pr->lost[part] = (tw_lost){.from = s, .to = lo, .state = 1};
    if (lo > s)
        tw_error("p%d: offsets %lld..%lld of %s are no longer on the broker: retention removed "
                 "%lld events never projected; the partition is paused, nothing is skipped "
                 "(operational alert raised; twinctl offsets accept-loss %d --by NAME to go on)",
                 part, (long long)s, (long long)lo - 1, pr->topic, (long long)(lo - s), part);
    else
        tw_error("p%d: the stored offset %lld of %s is no longer on the broker (%s); the "
                 "partition is paused, nothing is skipped (operational alert raised)",
                 part, (long long)s, pr->topic, why);
}

static void handle_error(tw_projector *pr, rd_kafka_message_t *m)
{
    if ((m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
         m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) &&
        m->partition >= 0 && m->partition < TW_PROJ_MAX_PARTS)
        offsets_lost(pr, m->partition, rd_kafka_message_errstr(m));
    else
        tw_warn("kafka: %s", rd_kafka_message_errstr(m));
}

/* Polls while the lanes' open batches hold fewer than batch.max_events
 * each on average: a lane whose batch is still being written may take more
 * than its share meanwhile, and launches it all when its write is done. */
void tw_consumer_drain(tw_projector *pr)
{
    int64_t max = tw_config_int(pr->cfg, "batch.max_events") * pr->nlanes;
    int64_t now = tw_now_ms(), held = 0;
    if (pr->in_rebalance)
        return;
    for (int i = 0; i < pr->nlanes; i++)
        held += (int64_t)tw_batch_count(pr->lanes[i].open);
    while (!pr->stopping && held < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(pr->rk, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                handle_error(pr, m);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition < 0 || m->partition >= TW_PROJ_MAX_PARTS) {
            tw_error("p%d@%lld: partition number above %d is not supported", m->partition,
                     (long long)m->offset, TW_PROJ_MAX_PARTS - 1);
            rd_kafka_message_destroy(m);
            continue;
        }
        tw_lane *l = tw_projector_lane(pr, m->partition);
        if (tw_batch_count(l->open) == 0) {
            /* libev keeps an expired timer's absolute time: set it again,
             * or every batch after the first is due at once */
            ev_timer_set(&l->batch_timer, (double)tw_config_int(pr->cfg, "batch.max_ms") / 1000.0,
                         0);
            ev_timer_start(pr->loop, &l->batch_timer);
        }
        if (tw_batch_add(l->open, m, now) < 0) {
            tw_projector_failed(pr, "out of memory adding to the batch");
            return;
        }
        held++;
    }
    tw_projector_kick(pr);
}

/* librdkafka's statistics (statistics.interval.ms): which brokers are up,
 * for /healthz. */
static int on_kafka_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    tw_observe_kafka_stats(opaque, json, len);
    return 0; /* librdkafka frees json */
}

static void on_kafka_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_projector *pr = w->data;
    (void)loop;
    (void)revents;
    tw_kafka_wakeup_drain(&pr->wake);
    tw_consumer_drain(pr);
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
    /* The rebalance callback hands over whole assignments (eager
     * protocol): settling every lane's batches at a rebalance is what lets
     * lanes be redealt. An incremental (cooperative) assignor would need
     * incremental_assign and per-partition settling. */
    if (!strcmp(key, "partition.assignment.strategy") && strstr(value, "cooperative")) {
        snprintf(why, whylen,
                 "the projector supports the eager assignors (range, roundrobin), not %s", value);
        return -1;
    }
    return tw_kafka_check(key, value, why, whylen);
}

int tw_consumer_start(tw_projector *pr, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;
    char why[512];
    const char *brokers = tw_config_str(pr->cfg, "kafka.brokers");

    /* A short session lets a restarted projector get its partitions back in
     * seconds rather than the 45 s librdkafka defaults to; batches commit in
     * milliseconds, so 10 s of silence really means the process is gone.
     * Prefetch is bounded by size (8 MB queued, 8 MB a fetch response) so
     * memory stays flat however deep
     * the backlog (a lower queued.min.messages than librdkafka's 100,000
     * starves the batches: 20,000 halved backlog throughput); a fetch waits
     * at most 50 ms
     * for data, which keeps produce-to-view latency low on brokers that do
     * not wake a waiting fetch (librdkafka's mock cluster does not).
     * client.id is a default too: an operator may name the client for the
     * broker's quotas and logs. */
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
    if (!(conf = tw_kafka_conf(brokers, defaults, pr->cfg, err, errlen)))
        return -1;
    if (tw_kafka_set(conf, "group.id", tw_config_str(pr->cfg, "group.id"), err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        tw_kafka_set(conf, "auto.offset.reset", "error", err, errlen) < 0 ||
        tw_kafka_set(conf, "enable.partition.eof", "false", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_log_cb(conf, tw_consumer_on_kafka_log);
    rd_kafka_conf_set_offset_commit_cb(conf, on_kafka_committed);
    rd_kafka_conf_set_stats_cb(conf, on_kafka_stats);
    rd_kafka_conf_set_opaque(conf, pr);
    if (!(pr->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        snprintf(err, errlen, "create Kafka consumer: %s", why);
        return -1;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(pr->rk);
    pr->q = rd_kafka_queue_get_consumer(pr->rk);
    if (tw_kafka_wakeup_start(&pr->wake, pr->loop, pr->q, on_kafka_ready, pr, err, errlen) < 0)
        return -1;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, pr->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(pr->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "subscribe to %s: %s", pr->topic, rd_kafka_err2str(e));
        return -1;
    }
    tw_info("subscribed to %s at %s as group %s", pr->topic, brokers,
            tw_config_str(pr->cfg, "group.id"));
    return 0;
}

void tw_consumer_commit_kafka(tw_projector *pr, const tw_batch *b)
{
    int n;
    const tw_batch_part *parts = tw_batch_parts(b, &n);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, pr->topic, parts[i].partition)->offset = parts[i].next;
    rd_kafka_commit(pr->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

void tw_consumer_close(tw_projector *pr)
{
    if (!pr->rk)
        return;
    rd_kafka_queue_io_event_enable(pr->q, -1, NULL, 0);
    tw_kafka_wakeup_stop(&pr->wake, pr->loop);
    rd_kafka_consumer_close(pr->rk);
    rd_kafka_queue_destroy(pr->q);
    if (pr->assignment)
        rd_kafka_topic_partition_list_destroy(pr->assignment);
    pr->assignment = NULL;
    rd_kafka_destroy(pr->rk);
    pr->rk = NULL;
}
