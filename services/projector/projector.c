/* projector.c: what follows from what the modules report (see
 * projector.h). Two procedures live here. A restart from the stored
 * offsets, after a failure or at an assignment: wait until no lane has a
 * batch on PostgreSQL (a batch of a healthy lane commits or fails on its
 * own), reconnect the lanes whose link is gone, read the stored offsets and
 * chain heads on lane 0, ask the broker for the log start of partitions
 * with nothing stored, then assign or seek. And a stop: write the open
 * batches, then break the loop. Each step waits on the loop, never in it:
 * Kafka's callbacks, /metrics, signals and the other lanes go on. */
#include "projector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchors.h"
#include "backoff.h"
#include "consumer.h"
#include "date.h"
#include "lanes.h"
#include "log.h"
#include "observe.h"
#include "parts.h"

/* Tags of the consumer's log-start answers: a restart's generation, or a
 * loss (LOSS_TAG | partition). */
#define LOSS_TAG 0x80000000u

/* Where the restart procedure stands. */
typedef enum restart_step {
    RESTART_NONE,   /* running: nothing to restart */
    RESTART_SETTLE, /* waiting for the lanes' batches, then reconnecting */
    RESTART_READ,   /* the stored offsets are being read on lane 0 */
    RESTART_ASK,    /* the broker is asked for log starts */
} restart_step;

struct tw_projector {
    struct ev_loop *loop;
    const tw_config *cfg;
    const char *topic;
    tw_parts *ps;
    tw_lanes *ls;
    tw_consumer *c;
    tw_anchors *anchors;
    tw_observe *obs;
    ev_timer retry_timer, lost_timer;
    double retry_delay;
    restart_step step;
    unsigned gen;       /* bumped at each (re)start: older answers are ignored */
    int heads_bad;      /* a stored chain head was not a SHA-256 */
    int unassign_due;   /* revoked: unassign once no batch is on PostgreSQL */
    int caches_stale;   /* the partitions changed hands: reset every cache when idle */
    int kafka_assigned; /* the assignment is handed to librdkafka (seek, not assign) */
    int32_t assignment[TW_MAX_PARTS];
    int nassigned;
    int32_t loss_recording; /* the partition whose alert is being inserted */
    int stopping;
    long long batches, events, accepted, dead, duplicates;
};

static void failed(tw_projector *pr, const char *why);
static void drain(tw_projector *pr);

/* ---- stopping ---- */

static void maybe_stop(tw_projector *pr)
{
    if (pr->stopping && !tw_lanes_busy(pr->ls) &&
        (pr->step != RESTART_NONE || !tw_lanes_pending(pr->ls)))
        ev_break(pr->loop, EVBREAK_ALL);
}

void tw_projector_stop_soon(tw_projector *pr)
{
    pr->stopping = 1;
    if (pr->step == RESTART_NONE)
        tw_lanes_kick(pr->ls, 1, 0); /* the lanes' last batches, in parallel */
    maybe_stop(pr);
}

/* ---- losses ---- */

static void on_loss_recorded(void *arg, int ok, const char *err)
{
    tw_projector *pr = arg;
    int32_t p = pr->loss_recording;
    if (!ok) {
        char why[700];
        tw_parts_loss_set(pr->ps, p, TW_LOSS_TO_RECORD);
        snprintf(why, sizeof why, "p%d: cannot record the lost offsets: %s", p, err);
        failed(pr, why);
        return;
    }
    tw_parts_loss_set(pr->ps, p, TW_LOSS_RECORDED);
    drain(pr);
}

/* Inserts the first lost range not recorded yet, on lane 0; returns 1 if
 * lane 0 is taken by it. */
static int record_loss(tw_projector *pr)
{
    int64_t from, to;
    int32_t p = tw_parts_loss_next(pr->ps, &from, &to);
    tw_pgpipe *pipe;
    if (p < 0 || !(pipe = tw_lanes_pipe(pr->ls, 0)))
        return 0;
    char part[16], sfrom[24], sto[24], msg[300];
    tw_pgparams q;
    snprintf(part, sizeof part, "%d", p);
    snprintf(sfrom, sizeof sfrom, "%lld", (long long)from);
    snprintf(sto, sizeof sto, "%lld", (long long)to);
    if (to > from)
        snprintf(msg, sizeof msg,
                 "partition %d: offsets %lld..%lld were removed by the broker's retention"
                 " before they were projected (%lld events lost)",
                 p, (long long)from, (long long)to - 1, (long long)(to - from));
    else
        snprintf(msg, sizeof msg, "partition %d: the stored offset %lld is no longer on the broker",
                 p, (long long)from);
    tw_pgparams_clear(&q);
    tw_pgparams_text(&q, pr->topic);
    tw_pgparams_text(&q, part);
    tw_pgparams_text(&q, sfrom);
    tw_pgparams_text(&q, to >= 0 ? sto : NULL);
    tw_pgparams_text(&q, msg);
    if (tw_pgpipe_send(pipe,
                       "INSERT INTO ingest.operational_alert (kind, topic, kafka_partition,"
                       " lost_from, lost_to, message) VALUES ('offsets_lost', $1, $2, $3, $4,"
                       " $5) ON CONFLICT DO NOTHING",
                       &q) < 0) {
        failed(pr, pipe->err);
        return 1;
    }
    tw_parts_loss_set(pr->ps, p, TW_LOSS_RECORDING);
    pr->loss_recording = p;
    tw_pgpipe_run(pipe, NULL, on_loss_recorded, pr);
    return 1;
}

/* The stored offset is below the broker's log start: retention removed
 * events this projector never saw. The partition is paused (consumer.c),
 * never skipped: the loss is an operational alert (ingest.operational_alert)
 * until an operator accepts it with twinctl offsets accept-loss. */
static void on_out_of_range(void *arg, int32_t p, const char *why)
{
    tw_projector *pr = arg;
    (void)why;
    if (tw_parts_loss_known(pr->ps, p))
        return; /* known and recorded (or being recorded): one line per loss */
    if (tw_consumer_ask_log_start(pr->c, LOSS_TAG | (unsigned)p, &p, 1, 2000) < 0)
        failed(pr, "out of memory asking for a log start");
}

static void loss_found(tw_projector *pr, int32_t p, int64_t lo)
{
    int64_t s = tw_parts_stored(pr->ps, p);
    if (!tw_parts_lost(pr->ps, p, lo))
        return;
    if (lo > s)
        tw_error("p%d: offsets %lld..%lld of %s are no longer on the broker: retention removed "
                 "%lld events never projected; the partition is paused, nothing is skipped "
                 "(operational alert raised; twinctl offsets accept-loss %d --by NAME to go on)",
                 p, (long long)s, (long long)lo - 1, pr->topic, (long long)(lo - s), p);
    else
        tw_error("p%d: the stored offset %lld of %s is no longer on the broker; the "
                 "partition is paused, nothing is skipped (operational alert raised)",
                 p, (long long)s, pr->topic);
    drain(pr);
}

/* While a partition is paused for lost offsets: every 30 s, start again
 * from the stored offsets, so that an operator's accept-loss (which moves
 * the stored offset) takes effect without a restart. */
static void on_lost_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_projector *pr = w->data;
    (void)loop;
    (void)revents;
    if (tw_parts_loss_waiting(pr->ps) && !tw_lanes_busy(pr->ls) && pr->step == RESTART_NONE &&
        !pr->stopping) {
        pr->retry_delay = 0;
        failed(pr, NULL);
    }
}

/* ---- batches ---- */

static void kick(tw_projector *pr)
{
    if (pr->step != RESTART_NONE)
        return;
    int skip0 = record_loss(pr);
    if (pr->step != RESTART_NONE) /* recording it failed at once */
        return;
    tw_lanes_kick(pr->ls, pr->stopping, skip0);
    maybe_stop(pr);
}

static int take(void *arg, rd_kafka_message_t *m)
{
    tw_projector *pr = arg;
    if (!tw_parts_admit(pr->ps, m->partition, m->offset)) {
        rd_kafka_message_destroy(m); /* read again from the stored offset */
        return 0;
    }
    if (tw_lanes_add(pr->ls, m, tw_now_ms()) < 0) {
        failed(pr, "out of memory adding to the batch");
        return -1;
    }
    return 1;
}

/* Polls while the lanes' open batches hold fewer than batch.max_events
 * each on average: a lane whose batch is still being written may take more
 * than its share meanwhile, and launches it all when its write is done. */
static void drain(tw_projector *pr)
{
    if (!pr->stopping) {
        int64_t max = tw_config_int(pr->cfg, "batch.max_events") * tw_lanes_count(pr->ls);
        tw_consumer_poll(pr->c, max - tw_lanes_held(pr->ls), take, pr);
    }
    kick(pr);
}

static void on_readable(void *arg)
{
    drain(arg);
}

static void on_launch(void *arg, int lane, tw_batch *b)
{
    tw_projector *pr = arg;
    tw_anchors_attach(pr->anchors, lane, b);
}

static void on_committed(void *arg, int lane, const tw_batch *b)
{
    tw_projector *pr = arg;
    int n;
    const tw_batch_part *parts = tw_batch_parts(b, &n);
    tw_batch_stats s = tw_batch_stats_get(b);
    tw_observe_batch(pr->obs, &s, tw_batch_count(b));
    tw_parts_committed(pr->ps, parts, n);
    tw_anchors_recorded(pr->anchors, b);
    pr->batches++;
    pr->events += (long long)tw_batch_count(b);
    pr->accepted += s.accepted;
    pr->dead += s.dead;
    pr->duplicates += s.duplicates;
    tw_debug(
        "batch %lld (lane %d): %zu events, %lld accepted, %lld dead-lettered, %lld duplicates; "
        "read %.1f ms, apply %.1f ms, write+commit %.1f ms",
        pr->batches, lane, tw_batch_count(b), (long long)s.accepted, (long long)s.dead,
        (long long)s.duplicates, s.read_ms, s.apply_ms, s.write_ms);
    if (s.dead > 0) {
        tw_batch_log_dead(b);
        tw_info("batch %lld: %lld event(s) dead-lettered (twinctl dlq list)", pr->batches,
                (long long)s.dead);
    }
    tw_consumer_commit(pr->c, b);
}

static void on_idle(void *arg)
{
    tw_projector *pr = arg;
    if (pr->step != RESTART_NONE) { /* another lane failed: the restart takes over */
        maybe_stop(pr);
        return;
    }
    pr->retry_delay = 0;
    drain(pr);
}

static void on_batch_failed(void *arg, const char *why)
{
    tw_projector *pr = arg;
    tw_observe_batch(pr->obs, NULL, 0);
    if (!why) /* redone with id checks: at once */
        pr->retry_delay = 0;
    failed(pr, why);
}

static void on_due(void *arg)
{
    kick(arg);
}

/* ---- the restart from the stored offsets ---- */

static void retry_in(tw_projector *pr, double s)
{
    ev_timer_stop(pr->loop, &pr->retry_timer);
    ev_timer_set(&pr->retry_timer, s, 0);
    ev_timer_start(pr->loop, &pr->retry_timer);
}

static void restart(tw_projector *pr)
{
    pr->gen = (pr->gen + 1) & ~LOSS_TAG;
    pr->step = RESTART_SETTLE;
    tw_parts_reload(pr->ps);
}

/* Aborts the batches and arranges for a reconnect and a restart from the
 * stored offsets; why NULL: an expected retry, already logged. */
static void failed(tw_projector *pr, const char *why)
{
    double max = (double)tw_config_int(pr->cfg, "retry.max_ms") / 1000.0;
    tw_lanes_abort(pr->ls);
    restart(pr);
    tw_observe_resync(pr->obs, 1, why);
    tw_backoff_next(&pr->retry_delay, max);
    if (why)
        tw_error("%s; seeking back to the stored offsets in %.1fs", why, pr->retry_delay);
    if (pr->stopping) {
        maybe_stop(pr);
        return;
    }
    retry_in(pr, pr->retry_delay);
}

static void start_fetching(tw_projector *pr, const int64_t *lo)
{
    int64_t off[TW_MAX_PARTS];
    char err[512];
    for (int i = 0; i < pr->nassigned; i++) {
        int32_t p = pr->assignment[i];
        int64_t s = tw_parts_stored(pr->ps, p), start = lo ? lo[i] : -1;
        off[i] = s >= 0 ? s : start;
        tw_parts_seek(pr->ps, p, off[i], start);
        tw_info("p%d: assigned, starting at %s %lld", p,
                s >= 0 ? "stored offset" : "the beginning (nothing stored), offset",
                (long long)off[i]);
    }
    int rc = pr->kafka_assigned
                 ? tw_consumer_seek(pr->c, pr->assignment, off, pr->nassigned, err, sizeof err)
                 : tw_consumer_assign(pr->c, pr->assignment, off, pr->nassigned, err, sizeof err);
    if (rc < 0) {
        failed(pr, err);
        return;
    }
    if (pr->kafka_assigned)
        tw_info("resumed from the stored offsets");
    pr->kafka_assigned = 1;
    pr->step = RESTART_NONE;
    tw_observe_resync(pr->obs, 0, NULL);
    drain(pr);
}

static void on_log_start(void *arg, unsigned tag, const int32_t *parts, const int64_t *lo, int n)
{
    tw_projector *pr = arg;
    if (tag & LOSS_TAG) {
        for (int i = 0; i < n; i++)
            loss_found(pr, parts[i], lo[i]);
        return;
    }
    if (tag != pr->gen || pr->step != RESTART_ASK)
        return; /* a restart since */
    int64_t all[TW_MAX_PARTS];
    for (int i = 0; i < pr->nassigned; i++) {
        all[i] = -1;
        for (int j = 0; j < n; j++)
            if (parts[j] == pr->assignment[i])
                all[i] = lo[j];
    }
    start_fetching(pr, all);
}

static void on_stored_offset(void *arg, int stmt, const PGresult *r)
{
    tw_projector *pr = arg;
    (void)stmt;
    for (int i = 0; i < PQntuples(r); i++) {
        long part = strtol(PQgetvalue(r, i, 0), NULL, 10);
        uint8_t head[TW_CHAIN_HASH_LEN];
        int has_head = !PQgetisnull(r, i, 2);
        if (part < 0 || part >= TW_MAX_PARTS)
            continue;
        if (has_head && tw_chain_parse_hex(PQgetvalue(r, i, 2), head) < 0) {
            tw_error("p%ld: stored chain head %s is not a SHA-256; stopping", part,
                     PQgetvalue(r, i, 2));
            pr->heads_bad = 1;
            has_head = 0;
        }
        tw_parts_set_stored(pr->ps, (int32_t)part, strtoll(PQgetvalue(r, i, 1), NULL, 10),
                            has_head ? head : NULL,
                            PQgetisnull(r, i, 3) ? -1 : strtoll(PQgetvalue(r, i, 3), NULL, 10));
    }
}

static void on_offsets_read(void *arg, int ok, const char *err)
{
    tw_projector *pr = arg;
    if (pr->step != RESTART_READ)
        return; /* a failure since: the restart began again */
    if (!ok || pr->heads_bad) {
        char why[700];
        snprintf(why, sizeof why, "cannot read stored offsets: %s",
                 ok ? "a stored chain head is not a SHA-256" : err);
        failed(pr, why);
        return;
    }
    /* Nothing stored: the partition starts at the broker's log start,
     * asked now so that the first batch can be checked to start there. */
    int32_t ask[TW_MAX_PARTS];
    int n = 0;
    for (int i = 0; i < pr->nassigned; i++)
        if (tw_parts_stored(pr->ps, pr->assignment[i]) < 0)
            ask[n++] = pr->assignment[i];
    if (n == 0) {
        start_fetching(pr, NULL);
        return;
    }
    pr->step = RESTART_ASK;
    if (tw_consumer_ask_log_start(pr->c, pr->gen, ask, n, 5000) < 0)
        failed(pr, "out of memory asking for log starts");
}

/* Reads stored offsets (and chain heads) of every partition; a partition
 * without a head (nothing accepted yet) starts its chain at the genesis
 * hash. */
static void read_offsets(tw_projector *pr)
{
    tw_pgpipe *pipe = tw_lanes_pipe(pr->ls, 0);
    tw_pgparams p;
    if (!pipe) {
        failed(pr, "not connected to PostgreSQL");
        return;
    }
    tw_parts_forget_stored(pr->ps);
    tw_pgparams_clear(&p);
    tw_pgparams_text(&p, pr->topic);
    if (tw_pgpipe_send(pipe,
                       "SELECT kafka_partition, next_offset, chain_head, chain_offset FROM "
                       "ingest.partition_offset WHERE topic = $1",
                       &p) < 0) {
        failed(pr, pipe->err);
        return;
    }
    pr->heads_bad = 0;
    pr->step = RESTART_READ;
    tw_pgpipe_run(pipe, on_stored_offset, on_offsets_read, pr);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_projector *pr = w->data;
    int fresh;
    (void)loop;
    (void)revents;
    if (pr->step != RESTART_SETTLE)
        return; /* a reconnect finished after the restart moved on */
    if (tw_lanes_busy(pr->ls)) {
        retry_in(pr, 0.01);
        return;
    }
    if (pr->unassign_due) {
        tw_consumer_unassign(pr->c);
        pr->unassign_due = 0;
    }
    if (pr->caches_stale) {
        tw_lanes_reset_caches(pr->ls);
        pr->caches_stale = 0;
    }
    int waiting = tw_lanes_reconnect(pr->ls, &fresh);
    tw_observe_reconnects(pr->obs, fresh);
    if (waiting < 0) {
        failed(pr, "out of memory connecting to PostgreSQL");
        return;
    }
    if (waiting > 0)
        return; /* on_connected comes back here */
    if (pr->nassigned == 0) {
        pr->step = RESTART_NONE;
        tw_observe_resync(pr->obs, 0, NULL);
        maybe_stop(pr);
        return;
    }
    if (pr->stopping) {
        maybe_stop(pr);
        return;
    }
    read_offsets(pr);
}

static void on_connected(void *arg, int lane, const char *err)
{
    tw_projector *pr = arg;
    (void)lane;
    if (err[0])
        failed(pr, err);
    else
        on_retry(pr->loop, &pr->retry_timer, 0);
}

/* ---- the group ---- */

static void on_assign(void *arg, const int32_t *parts, int n)
{
    tw_projector *pr = arg;
    char line[1024];
    tw_observe_rebalance(pr->obs);
    tw_lanes_drop_open(pr->ls);
    memcpy(pr->assignment, parts, (size_t)n * sizeof *parts);
    pr->nassigned = n;
    pr->kafka_assigned = 0;
    pr->caches_stale = 1;
    tw_parts_assign(pr->ps, parts, n);
    tw_parts_describe_lanes(pr->ps, line, sizeof line);
    tw_info("lanes: %s", line);
    restart(pr);
    tw_observe_resync(pr->obs, 1, NULL);
    retry_in(pr, 0);
}

static void on_revoke(void *arg, int n)
{
    tw_projector *pr = arg;
    (void)n;
    tw_observe_rebalance(pr->obs);
    tw_lanes_drop_open(pr->ls);
    tw_parts_assign(pr->ps, NULL, 0);
    pr->nassigned = 0;
    pr->kafka_assigned = 0;
    pr->unassign_due = 1;
    pr->caches_stale = 1;
    restart(pr);
    retry_in(pr, 0);
}

static void on_kafka_stats(void *arg, const char *json, size_t len)
{
    tw_projector *pr = arg;
    tw_observe_kafka_stats(pr->obs, json, len);
}

/* ---- making and freeing ---- */

tw_projector *tw_projector_start(struct ev_loop *loop, const tw_config *cfg, char *err,
                                 size_t errlen)
{
    tw_projector *pr = calloc(1, sizeof *pr);
    if (!pr) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pr->loop = loop;
    pr->cfg = cfg;
    pr->topic = tw_config_str(cfg, "topic");
    ev_timer_init(&pr->lost_timer, on_lost_check, 30.0, 30.0);
    pr->lost_timer.data = pr;
    ev_timer_init(&pr->retry_timer, on_retry, 0.1, 0);
    pr->retry_timer.data = pr;
    const tw_lanes_cbs lcb = {
        on_launch, on_committed, on_batch_failed, on_idle, on_due, on_connected, pr};
    const tw_consumer_cbs ccb = {on_assign,    on_revoke,      on_readable, on_out_of_range,
                                 on_log_start, on_kafka_stats, pr};
    if (!(pr->ps = tw_parts_new((int)tw_config_int(cfg, "lanes")))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(pr->ls = tw_lanes_new(loop, cfg, pr->topic, pr->ps, &lcb, err, errlen)) ||
        !(pr->c = tw_consumer_start(loop, cfg, pr->topic, &ccb, err, errlen)) ||
        !(pr->anchors = tw_anchors_start(loop, cfg, pr->topic, pr->ps, err, errlen)) ||
        !(pr->obs = tw_observe_start(loop, cfg, pr->ps, pr->c, pr->ls, err, errlen)))
        goto fail;
    ev_timer_start(loop, &pr->lost_timer);
    return pr;
fail:
    tw_projector_free(pr);
    return NULL;
}

void tw_projector_free(tw_projector *pr)
{
    if (!pr)
        return;
    int ran = pr->obs != NULL;
    ev_timer_stop(pr->loop, &pr->lost_timer);
    ev_timer_stop(pr->loop, &pr->retry_timer);
    if (pr->anchors)
        tw_anchors_stop(pr->anchors, ran && pr->step == RESTART_NONE,
                        pr->ls ? tw_lanes_pipe(pr->ls, 0) : NULL);
    tw_consumer_close(pr->c);
    tw_observe_stop(pr->obs);
    tw_lanes_free(pr->ls);
    tw_parts_free(pr->ps);
    if (ran)
        tw_info("stopped: %lld batches, %lld events, %lld accepted, %lld dead-lettered, "
                "%lld duplicates",
                pr->batches, pr->events, pr->accepted, pr->dead, pr->duplicates);
    free(pr);
}
