/* main.c: the projector. Parses arguments, loads config, wires the Kafka
 * consumer, the PostgreSQL pipeline and the batches to one libev loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "log.h"
#include "settings.h"
#include "projector.h"

static const tw_conf_def settings[] = {
    {"kafka.brokers", TW_CONF_STRING, "127.0.0.1:9092", 1, 0,
     "Kafka bootstrap servers (host:port,...)"},
    {"topic", TW_CONF_STRING, "twinwatch.events.v1", 1, 0, "events topic to project"},
    {"group.id", TW_CONF_STRING, "twinwatch-projector", 1, 0, "Kafka consumer group"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0,
     "libpq connection string (empty: PG* environment variables)"},
    {"batch.max_events", TW_CONF_INT, "3000", 1, 1000000, "close a batch at this many events"},
    {"batch.max_ms", TW_CONF_INT, "50", 1, 60000, "close a batch this long after its first event"},
    {"lanes", TW_CONF_INT, "2", 1, TW_PROJ_MAX_LANES,
     "PostgreSQL connections writing batches in parallel (partitions split among them)"},
    {"cache.max_entries", TW_CONF_INT, "40000", 0, 100000000,
     "twinnings + pledges kept in memory between batches, all lanes together (0: none)"},
    {"retry.max_ms", TW_CONF_INT, "5000", 100, 600000,
     "longest wait between reconnect attempts to PostgreSQL"},
    {"http.port", TW_CONF_INT, "0", 0, 65535,
     "port of GET /metrics and /healthz (0: not served; the examples use 9464)"},
    {"http.address", TW_CONF_STRING, "0.0.0.0", 1, 0, "address /metrics and /healthz listen on"},
    {"health.stall_ms", TW_CONF_INT, "60000", 1000, 3600000,
     "/healthz fails when events wait and no batch has committed for this long"},
    {"audit.anchor_interval_s", TW_CONF_INT, "300", 1, 86400,
     "publish the partitions' chain heads to twinwatch.audit-anchors.v1 this often (and at stop)"},
    {"log.format", TW_CONF_STRING, "text", 1, 0, "text or json"},
    {"log.level", TW_CONF_STRING, "info", 1, 0, "debug (one line per batch), info, warn, error"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void usage(FILE *out, const tw_config *cfg)
{
    fprintf(out, "usage: projector [--config FILE] [--set KEY=VALUE]... [--log-format text|json]\n"
                 "                 [--log-level debug|info|warn|error] [--print-config]\n"
                 "Projects twinwatch events from Kafka into PostgreSQL, exactly once.\n"
                 "settings (file \"key = value\", env TWINWATCH_<KEY>, or --set):\n");
    tw_config_print_help(cfg, out);
}

static void on_batch_done(void *arg, tw_batch *b, int ok, const char *err);

static void launch(tw_lane *l)
{
    tw_projector *pr = l->pr;
    tw_batch *t = l->flight;
    l->flight = l->open;
    l->open = t;
    l->open_due = 0;
    ev_timer_stop(pr->loop, &l->batch_timer);
    tw_anchors_attach(pr, l, l->flight);
    tw_batch_run(l->flight, &l->pipe, pr->stored, pr->start, l->careful_batches > 0, on_batch_done,
                 l);
}

void tw_projector_spread(tw_projector *pr)
{
    int next = 0;
    for (int p = 0; p < TW_PROJ_MAX_PARTS; p++) {
        if (pr->assigned[p]) {
            pr->lane_of[p] = (uint8_t)next;
            next = (next + 1) % pr->nlanes;
        } else {
            pr->lane_of[p] = (uint8_t)(p % pr->nlanes);
        }
    }
}

int tw_projector_busy(const tw_projector *pr)
{
    for (int i = 0; i < pr->nlanes; i++)
        if (pr->lanes[i].pipe.running)
            return 1;
    return 0;
}

void tw_projector_finish(tw_projector *pr)
{
    for (int i = 0; i < pr->nlanes; i++)
        while (pr->lanes[i].pipe.running) /* the read phase, then the write phase it starts */
            tw_pgpipe_finish(&pr->lanes[i].pipe, NULL, NULL, NULL);
}

static void on_lost_recorded(void *arg, int ok, const char *err)
{
    tw_projector *pr = arg;
    tw_lost *l = &pr->lost[pr->lost_recording];
    if (!ok) {
        char why[700];
        l->state = 1;
        snprintf(why, sizeof why, "p%d: cannot record the lost offsets: %s", pr->lost_recording,
                 err);
        tw_projector_failed(pr, why);
        return;
    }
    l->state = 3;
    tw_projector_kick(pr);
}

/* Inserts the first lost range not recorded yet, on lane 0; returns 1 if
 * it did. */
static int record_lost(tw_projector *pr)
{
    tw_pgpipe *pipe = &pr->lanes[0].pipe;
    for (int p = 0; p < TW_PROJ_MAX_PARTS; p++) {
        tw_lost *l = &pr->lost[p];
        if (l->state != 1)
            continue;
        char part[16], from[24], to[24], msg[300];
        tw_pgparams q;
        snprintf(part, sizeof part, "%d", p);
        snprintf(from, sizeof from, "%lld", (long long)l->from);
        snprintf(to, sizeof to, "%lld", (long long)l->to);
        if (l->to > l->from)
            snprintf(msg, sizeof msg,
                     "partition %d: offsets %lld..%lld were removed by the broker's retention"
                     " before they were projected (%lld events lost)",
                     p, (long long)l->from, (long long)l->to - 1, (long long)(l->to - l->from));
        else
            snprintf(msg, sizeof msg,
                     "partition %d: the stored offset %lld is no longer on the broker", p,
                     (long long)l->from);
        tw_pgparams_clear(&q);
        tw_pgparams_text(&q, pr->topic);
        tw_pgparams_text(&q, part);
        tw_pgparams_text(&q, from);
        tw_pgparams_text(&q, l->to >= 0 ? to : NULL);
        tw_pgparams_text(&q, msg);
        if (tw_pgpipe_send(pipe,
                           "INSERT INTO ingest.operational_alert (kind, topic, kafka_partition,"
                           " lost_from, lost_to, message) VALUES ('offsets_lost', $1, $2, $3, $4,"
                           " $5) ON CONFLICT DO NOTHING",
                           &q) < 0) {
            tw_projector_failed(pr, pipe->err);
            return 1;
        }
        l->state = 2;
        pr->lost_recording = p;
        tw_pgpipe_run(pipe, NULL, on_lost_recorded, pr);
        return 1;
    }
    return 0;
}

/* While a partition is paused for lost offsets: every 30 s, seek every
 * partition back to its stored offset, so that an operator's accept-loss
 * (which moves the stored offset) takes effect without a restart. */
static void on_lost_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_projector *pr = w->data;
    (void)loop;
    (void)revents;
    int any = 0;
    for (int p = 0; p < TW_PROJ_MAX_PARTS && !any; p++)
        any = pr->lost[p].state == 3 && pr->assigned[p];
    if (any && !tw_projector_busy(pr) && !pr->resync && !pr->stopping) {
        pr->retry_delay = 0;
        tw_projector_failed(pr, NULL);
    }
}

void tw_projector_kick(tw_projector *pr)
{
    if (pr->resync)
        return;
    for (int i = 0; i < pr->nlanes; i++) {
        tw_lane *l = &pr->lanes[i];
        if (l->pipe.running || !l->pg)
            continue;
        if ((i == 0 && record_lost(pr)) || tw_batch_count(l->open) == 0)
            continue;
        if (l->open_due || pr->stopping ||
            (int64_t)tw_batch_count(l->open) >= tw_config_int(pr->cfg, "batch.max_events"))
            launch(l);
    }
}

static void on_batch_done(void *arg, tw_batch *b, int ok, const char *err)
{
    tw_lane *l = arg;
    tw_projector *pr = l->pr;
    int n;
    const tw_batch_part *parts = tw_batch_parts(b, &n);

    if (!ok)
        tw_observe_batch(pr, NULL, 0, 0);
    if (!ok && tw_batch_needs_lookups(b, &l->pipe)) {
        /* A re-delivery, maybe: some events are logged already. Not a
         * failure of anything; the next batches look ids up until they
         * find none. */
        tw_info("batch of %zu events: %s; the batch is redone with id checks", tw_batch_count(b),
                l->pipe.sqlstate[0] ? "an event id is already in the log" : err);
        l->careful_batches = 10;
        tw_batch_clear(b);
        pr->retry_delay = 0;
        tw_projector_failed(pr, NULL);
        return;
    }
    if (!ok) {
        char why[1400], where[600];
        tw_batch_describe(b, where, sizeof where);
        snprintf(why, sizeof why, "batch of %zu events (%s) not committed: %s", tw_batch_count(b),
                 where, err);
        tw_batch_clear(b);
        tw_projector_failed(pr, why);
        return;
    }
    tw_batch_stats s = tw_batch_stats_get(b);
    tw_observe_batch(pr, &s, tw_batch_count(b), 1);
    if (l->careful_batches > 0)
        l->careful_batches = s.duplicates > 0 ? 10 : l->careful_batches - 1;
    for (int i = 0; i < n; i++) {
        pr->stored[parts[i].partition] = parts[i].next;
        if (parts[i].chained > 0) {
            memcpy(pr->head[parts[i].partition], parts[i].head, TW_CHAIN_HASH_LEN);
            pr->head_off[parts[i].partition] = parts[i].head_offset;
        }
    }
    tw_anchors_recorded(pr, b);
    pr->batches++;
    pr->events += (long long)tw_batch_count(b);
    pr->accepted += s.accepted;
    pr->dead += s.dead;
    pr->duplicates += s.duplicates;
    tw_debug(
        "batch %lld (lane %d): %zu events, %lld accepted, %lld dead-lettered, %lld duplicates; "
        "read %.1f ms, apply %.1f ms, write+commit %.1f ms",
        pr->batches, l->no, tw_batch_count(b), (long long)s.accepted, (long long)s.dead,
        (long long)s.duplicates, s.read_ms, s.apply_ms, s.write_ms);
    if (s.dead > 0) {
        tw_batch_log_dead(b);
        tw_info("batch %lld: %lld event(s) dead-lettered (twinctl dlq list)", pr->batches,
                (long long)s.dead);
    }
    tw_consumer_commit_kafka(pr, b);
    tw_batch_clear(b);
    tw_state_committed(l->cache);
    if ((int64_t)tw_state_size(l->cache) * pr->nlanes > tw_config_int(pr->cfg, "cache.max_entries"))
        tw_state_reset(l->cache);   /* simplest bound: start over, reloading on demand */
    if (pr->stopping || pr->resync) /* another lane failed: on_retry takes over */
        return;
    pr->retry_delay = 0;
    tw_consumer_drain(pr);
}

/* Every query of the projector looks rows up by key, a few thousand keys at
 * a time; with a large key array the planner would rather scan whole
 * tables, which grows with the log. Index probes only. */
static const char *PG_OPTIONS = "-c enable_seqscan=off -c enable_hashjoin=off"
                                " -c enable_mergejoin=off";
static const char *PG_APP = "twinwatch-projector";

static void use_connection(tw_lane *l, PGconn *c)
{
    if (l->pg)
        PQfinish(l->pg);
    l->pg = c;
    tw_pgpipe_init(&l->pipe, l->pr->loop, l->pg);
}

static void resume(tw_projector *pr)
{
    if (tw_consumer_resync(pr) < 0) {
        tw_projector_failed(pr, pr->err);
        return;
    }
    pr->resync = 0;
    tw_observe_resync(pr, 0);
    tw_info("resumed from the stored offsets");
    tw_consumer_drain(pr);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents);

static void on_reconnected(void *arg, PGconn *c, const char *err)
{
    tw_lane *l = arg;
    if (!c) {
        tw_projector_failed(l->pr, err);
        return;
    }
    use_connection(l, c);
    tw_info("lane %d: reconnected to PostgreSQL", l->no);
    on_retry(l->pr->loop, &l->pr->retry_timer, 0);
}

/* After a failure: wait until no lane has a batch on PostgreSQL (a batch
 * of a healthy lane commits or fails on its own), reconnect the lanes
 * whose link is gone (on the loop, never blocking it: Kafka's callbacks and
 * signals still run), then seek back to the stored offsets. */
static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_projector *pr = w->data;
    int ready = 1;
    (void)revents;
    if (!pr->resync)
        return; /* a reconnect finished after resume() already ran */
    if (tw_projector_busy(pr)) {
        ev_timer_stop(loop, w);
        ev_timer_set(w, 0.01, 0);
        ev_timer_start(loop, w);
        return;
    }
    for (int i = 0; i < pr->nlanes; i++) {
        tw_lane *l = &pr->lanes[i];
        if (l->pg && PQstatus(l->pg) == CONNECTION_OK)
            continue;
        ready = 0;
        if (l->connecting.active)
            continue;
        pr->reconnects++;
        if (tw_pgconnect_start(&l->connecting, loop, tw_config_str(pr->cfg, "pg.conninfo"), PG_APP,
                               PG_OPTIONS, 10.0, on_reconnected, l) < 0) {
            tw_projector_failed(pr, "out of memory connecting to PostgreSQL");
            return;
        }
    }
    if (ready)
        resume(pr);
}

void tw_projector_failed(tw_projector *pr, const char *why)
{
    double max = (double)tw_config_int(pr->cfg, "retry.max_ms") / 1000.0;
    for (int i = 0; i < pr->nlanes; i++) {
        tw_lane *l = &pr->lanes[i];
        /* A failed batch's effects are in its lane's cache: forget them. A
         * lane with a batch still on PostgreSQL keeps its cache whole: that
         * batch's events may not be applied yet, and applying them to an
         * emptied cache would take stored rows for new ones. It commits or
         * fails on its own, and a failure comes back here. */
        if (!l->pipe.running)
            tw_state_reset(l->cache);
        tw_batch_clear(l->open);
        l->open_due = 0;
        ev_timer_stop(pr->loop, &l->batch_timer);
        if (l->pg && !l->pipe.running && PQstatus(l->pg) != CONNECTION_OK) {
            PQfinish(l->pg);
            l->pg = NULL;
        }
    }
    pr->resync = 1;
    tw_observe_resync(pr, 1);
    pr->retry_delay = pr->retry_delay <= 0 ? 0.1 : pr->retry_delay * 2;
    if (pr->retry_delay > max)
        pr->retry_delay = max;
    if (why && why != pr->err) /* for /healthz */
        snprintf(pr->err, sizeof pr->err, "%s", why);
    if (why) /* NULL: an expected retry, already logged */
        tw_error("%s; seeking back to the stored offsets in %.1fs", why, pr->retry_delay);
    if (pr->stopping) {
        ev_break(pr->loop, EVBREAK_ALL);
        return;
    }
    ev_timer_stop(pr->loop, &pr->retry_timer);
    ev_timer_set(&pr->retry_timer, pr->retry_delay, 0);
    ev_timer_start(pr->loop, &pr->retry_timer);
}

static void on_batch_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_lane *l = w->data;
    (void)loop;
    (void)revents;
    l->open_due = 1;
    tw_projector_kick(l->pr);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    tw_projector *pr = w->data;
    (void)revents;
    tw_info("signal %d: closing the open batch and stopping", w->signum);
    pr->stopping = 1;
    tw_projector_finish(pr);
    for (int i = 0; i < pr->nlanes; i++) {
        tw_lane *l = &pr->lanes[i];
        if (l->pg && !pr->resync && tw_batch_count(l->open) > 0)
            launch(l);
    }
    tw_projector_finish(pr); /* the lanes' last batches, in parallel */
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    tw_projector pr;
    char err[512];
    int rc = 1;

    memset(&pr, 0, sizeof pr);
    tw_log_init("projector");
    signal(SIGPIPE, SIG_IGN);
    pr.cfg = tw_config_new(settings, "kafka.");
    if (!pr.cfg)
        return 1;
    tw_config_passthrough_rules(pr.cfg, tw_consumer_check, tw_consumer_reserved);
    int st = tw_settings_load(pr.cfg, "projector", usage, argc, argv);
    if (st != 0) {
        rc = st < 0 ? 2 : 0;
        goto done;
    }

    pr.loop = EV_DEFAULT;
    pr.topic = tw_config_str(pr.cfg, "topic");
    for (int i = 0; i < TW_PROJ_MAX_PARTS; i++)
        pr.stored[i] = pr.start[i] = -1;
    pr.nlanes = (int)tw_config_int(pr.cfg, "lanes");
    tw_projector_spread(&pr);
    for (int i = 0; i < pr.nlanes; i++) {
        tw_lane *l = &pr.lanes[i];
        l->pr = &pr;
        l->no = i;
        l->cache = tw_state_new();
        l->open = l->cache ? tw_batch_new(pr.topic, l->cache) : NULL;
        l->flight = l->cache ? tw_batch_new(pr.topic, l->cache) : NULL;
        if (l->open && l->flight) {
            tw_batch_set_heads(l->open, (const uint8_t(*)[32])pr.head);
            tw_batch_set_heads(l->flight, (const uint8_t(*)[32])pr.head);
        }
        if (!l->open || !l->flight) {
            tw_error("out of memory");
            goto done;
        }
        ev_timer_init(&l->batch_timer, on_batch_due,
                      (double)tw_config_int(pr.cfg, "batch.max_ms") / 1000.0, 0);
        l->batch_timer.data = l;
    }
    ev_timer_init(&pr.lost_timer, on_lost_check, 30.0, 30.0);
    pr.lost_timer.data = &pr;
    ev_timer_start(pr.loop, &pr.lost_timer);
    ev_timer_init(&pr.retry_timer, on_retry, 0.1, 0);
    pr.retry_timer.data = &pr;
    ev_signal_init(&pr.sigterm, on_signal, SIGTERM);
    pr.sigterm.data = &pr;
    ev_signal_start(pr.loop, &pr.sigterm);
    ev_signal_init(&pr.sigint, on_signal, SIGINT);
    pr.sigint.data = &pr;
    ev_signal_start(pr.loop, &pr.sigint);

    for (int i = 0; i < pr.nlanes; i++) {
        PGconn *c = tw_pg_connect_pipeline(tw_config_str(pr.cfg, "pg.conninfo"), PG_APP, PG_OPTIONS,
                                           err, sizeof err);
        if (!c) {
            tw_error("%s", err);
            goto done;
        }
        use_connection(&pr.lanes[i], c);
    }
    if (tw_observe_start(&pr, err, sizeof err) < 0 || tw_anchors_start(&pr, err, sizeof err) < 0 ||
        tw_consumer_start(&pr, err, sizeof err) < 0) {
        tw_error("%s", err);
        goto done;
    }
    ev_run(pr.loop, 0);
    tw_anchors_stop(&pr);
    tw_consumer_close(&pr);
    tw_info("stopped: %lld batches, %lld events, %lld accepted, %lld dead-lettered, "
            "%lld duplicates",
            pr.batches, pr.events, pr.accepted, pr.dead, pr.duplicates);
    rc = 0;
done:
    tw_consumer_close(&pr);
    if (pr.anchor_rk)
        rd_kafka_destroy(pr.anchor_rk);
    for (int i = 0; i < pr.nlanes; i++) {
        tw_lane *l = &pr.lanes[i];
        tw_pgconnect_cancel(&l->connecting);
        tw_batch_free(l->open);
        tw_batch_free(l->flight);
        tw_state_free(l->cache);
        if (l->pg)
            PQfinish(l->pg);
    }
    tw_observe_stop(&pr);
    tw_config_free(pr.cfg);
    return rc;
}
