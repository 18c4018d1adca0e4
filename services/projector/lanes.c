/* lanes.c: the lanes that write batches (see lanes.h): each lane's
 * connection, its two batches, its cache and its batch timer. */
#include "lanes.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provenance.h"

/* After a batch failed because an event id was logged already, this many
 * batches look every id up first (a re-delivery comes in runs). */
#define CAREFUL_BATCHES 10

/* Every query of the projector looks rows up by key, a few thousand keys at
 * a time; with a large key array the planner would rather scan whole
 * tables, which grows with the log. Index probes only. */
static const char *PG_OPTIONS = "-c enable_seqscan=off -c enable_hashjoin=off"
                                " -c enable_mergejoin=off";
static const char *PG_APP = "twinwatch-projector";

typedef struct lane {
    tw_lanes *ls;
    int no;
    PGconn *pg;
    tw_pgconnect connecting; /* a reconnect in progress */
    tw_pgpipe pipe;
    tw_batch *open, *flight; /* one filling, one being written */
    tw_state *cache;         /* twinnings and pledges of the lane's partitions */
    ev_timer batch_timer;
    int open_due;        /* the open batch's time is up */
    int careful_batches; /* batches left to run with event-id lookups */
} lane;

struct tw_lanes {
    struct ev_loop *loop;
    const tw_config *cfg;
    const tw_parts *ps;
    tw_lanes_cbs cbs;
    int n;
    int64_t max_events, max_cache;
    double max_s;
    ev_timer idle_check;        /* a connection dropped while its lane is idle */
    struct tw_keyring *keyring; /* the gateway's secret, for every lane's batches */
    lane l[TW_MAX_LANES];
};

static void on_batch_done(void *arg, tw_batch *b, int ok, const char *err);

static void launch(lane *l)
{
    tw_lanes *ls = l->ls;
    tw_batch *t = l->flight;
    l->flight = l->open;
    l->open = t;
    l->open_due = 0;
    ev_timer_stop(ls->loop, &l->batch_timer);
    ls->cbs.on_launch(ls->cbs.arg, l->no, l->flight);
    tw_batch_run(l->flight, &l->pipe, tw_parts_stored_all(ls->ps), tw_parts_start_all(ls->ps),
                 l->careful_batches > 0, on_batch_done, l);
}

static void on_batch_done(void *arg, tw_batch *b, int ok, const char *err)
{
    lane *l = arg;
    tw_lanes *ls = l->ls;

    if (!ok && tw_batch_needs_lookups(b, &l->pipe)) {
        /* A re-delivery, maybe: some events are logged already. Not a
         * failure of anything; the next batches look ids up until they
         * find none. */
        tw_info("batch of %zu events: %s; the batch is redone with id checks", tw_batch_count(b),
                l->pipe.sqlstate[0] ? "an event id is already in the log" : err);
        l->careful_batches = CAREFUL_BATCHES;
        tw_batch_clear(b);
        ls->cbs.on_failed(ls->cbs.arg, NULL);
        return;
    }
    if (!ok) {
        char why[1400], where[600];
        tw_batch_describe(b, where, sizeof where);
        snprintf(why, sizeof why, "batch of %zu events (%s) not committed: %s", tw_batch_count(b),
                 where, err);
        tw_batch_clear(b);
        ls->cbs.on_failed(ls->cbs.arg, why);
        return;
    }
    tw_batch_stats s = tw_batch_stats_get(b);
    if (l->careful_batches > 0)
        l->careful_batches = s.duplicates > 0 ? CAREFUL_BATCHES : l->careful_batches - 1;
    ls->cbs.on_committed(ls->cbs.arg, l->no, b);
    tw_batch_clear(b);
    tw_state_committed(l->cache);
    if ((int64_t)tw_state_size(l->cache) * ls->n > ls->max_cache)
        tw_state_reset(l->cache); /* simplest bound: start over, reloading on demand */
    ls->cbs.on_idle(ls->cbs.arg);
}

static void on_batch_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    lane *l = w->data;
    (void)loop;
    (void)revents;
    l->open_due = 1;
    l->ls->cbs.on_due(l->ls->cbs.arg);
}

static void use_connection(lane *l, PGconn *c)
{
    if (l->pg)
        PQfinish(l->pg);
    l->pg = c;
    tw_pgpipe_init(&l->pipe, l->ls->loop, l->pg);
}

/* Once a second: a lane with nothing on PostgreSQL would learn that its
 * connection is gone only with its next batch; /healthz and a prompt
 * reconnect want it known now. A look at the socket, never a wait. */
static void on_idle_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_lanes *ls = w->data;
    char why[600], line[400];
    (void)loop;
    (void)revents;
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        if (!l->pg || l->pipe.running || l->connecting.active)
            continue;
        struct pollfd pfd = {.fd = PQsocket(l->pg), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            continue;
        if (PQconsumeInput(l->pg) && PQstatus(l->pg) == CONNECTION_OK)
            continue;
        snprintf(why, sizeof why, "lane %d: PostgreSQL connection lost while idle: %s", l->no,
                 tw_pg_errline(PQerrorMessage(l->pg), line, sizeof line));
        ls->cbs.on_connected(ls->cbs.arg, l->no, why);
        return; /* the owner's restart handles every lane */
    }
}

tw_lanes *tw_lanes_new(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                       const tw_parts *ps, const tw_lanes_cbs *cbs, char *err, size_t errlen)
{
    tw_lanes *ls = calloc(1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ls->loop = loop;
    ls->cfg = cfg;
    ls->ps = ps;
    ls->cbs = *cbs;
    ls->n = (int)tw_config_int(cfg, "lanes");
    ls->max_events = tw_config_int(cfg, "batch.max_events");
    ls->max_cache = tw_config_int(cfg, "cache.max_entries");
    ls->max_s = (double)tw_config_int(cfg, "batch.max_ms") / 1000.0;
    if (!(ls->keyring = tw_keyring_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (*tw_config_str(cfg, "ingest.gateway_secret_file")) {
        uint8_t secret[TW_SECRET_MAX];
        char why[300];
        int n = tw_secret_load(tw_config_str(cfg, "ingest.gateway_secret_file"), secret,
                               sizeof secret, why, sizeof why);
        if (n < 0) {
            snprintf(err, errlen, "ingest.gateway_secret_file: %s", why);
            goto fail;
        }
        tw_keyring_set_gateway_secret(ls->keyring, secret, (size_t)n);
    }
    ev_timer_init(&ls->idle_check, on_idle_check, 1.0, 1.0);
    ls->idle_check.data = ls;
    ev_timer_start(loop, &ls->idle_check);
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        l->ls = ls;
        l->no = i;
        ev_timer_init(&l->batch_timer, on_batch_due, ls->max_s, 0);
        l->batch_timer.data = l;
        l->cache = tw_state_new();
        l->open = l->cache ? tw_batch_new(topic, l->cache) : NULL;
        l->flight = l->cache ? tw_batch_new(topic, l->cache) : NULL;
        if (!l->open || !l->flight) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        tw_batch_set_heads(l->open, tw_parts_heads(ps));
        tw_batch_set_heads(l->flight, tw_parts_heads(ps));
        tw_batch_set_provenance(l->open, ls->keyring,
                                tw_config_bool(cfg, "ingest.require_provenance"));
        tw_batch_set_provenance(l->flight, ls->keyring,
                                tw_config_bool(cfg, "ingest.require_provenance"));
        PGconn *c = tw_pg_connect_pipeline(tw_config_str(cfg, "pg.conninfo"), PG_APP, PG_OPTIONS,
                                           err, errlen);
        if (!c)
            goto fail;
        use_connection(l, c);
    }
    return ls;
fail:
    tw_lanes_free(ls);
    return NULL;
}

void tw_lanes_free(tw_lanes *ls)
{
    if (!ls)
        return;
    ev_timer_stop(ls->loop, &ls->idle_check);
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        tw_pgconnect_cancel(&l->connecting);
        ev_timer_stop(ls->loop, &l->batch_timer);
        if (l->pg)
            ev_io_stop(ls->loop, &l->pipe.io);
        tw_batch_free(l->open);
        tw_batch_free(l->flight);
        tw_state_free(l->cache);
        if (l->pg)
            PQfinish(l->pg);
    }
    tw_keyring_free(ls->keyring);
    free(ls);
}

int tw_lanes_add(tw_lanes *ls, rd_kafka_message_t *m, int64_t now_ms)
{
    lane *l = &ls->l[tw_parts_lane(ls->ps, m->partition)];
    if (tw_batch_count(l->open) == 0) {
        /* libev keeps an expired timer's absolute time: set it again, or
         * every batch after the first is due at once */
        ev_timer_set(&l->batch_timer, ls->max_s, 0);
        ev_timer_start(ls->loop, &l->batch_timer);
    }
    return tw_batch_add(l->open, m, now_ms);
}

int64_t tw_lanes_held(const tw_lanes *ls)
{
    int64_t held = 0;
    for (int i = 0; i < ls->n; i++)
        held += (int64_t)tw_batch_count(ls->l[i].open);
    return held;
}

void tw_lanes_kick(tw_lanes *ls, int flush, int skip0)
{
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        if (l->pipe.running || !l->pg || (i == 0 && skip0) || tw_batch_count(l->open) == 0)
            continue;
        if (l->open_due || flush || (int64_t)tw_batch_count(l->open) >= ls->max_events)
            launch(l);
    }
}

int tw_lanes_busy(const tw_lanes *ls)
{
    for (int i = 0; i < ls->n; i++)
        if (ls->l[i].pg && ls->l[i].pipe.running)
            return 1;
    return 0;
}

int tw_lanes_pending(const tw_lanes *ls)
{
    for (int i = 0; i < ls->n; i++)
        if (ls->l[i].pg && tw_batch_count(ls->l[i].open) > 0)
            return 1;
    return 0;
}

int tw_lanes_connected(const tw_lanes *ls)
{
    int n = 0;
    for (int i = 0; i < ls->n; i++)
        n += ls->l[i].pg && PQstatus(ls->l[i].pg) == CONNECTION_OK;
    return n;
}

int tw_lanes_count(const tw_lanes *ls)
{
    return ls->n;
}

void tw_lanes_abort(tw_lanes *ls)
{
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        if (!l->pipe.running)
            tw_state_reset(l->cache);
        tw_batch_clear(l->open);
        l->open_due = 0;
        ev_timer_stop(ls->loop, &l->batch_timer);
        if (l->pg && !l->pipe.running && PQstatus(l->pg) != CONNECTION_OK) {
            PQfinish(l->pg);
            l->pg = NULL;
        }
    }
}

void tw_lanes_drop_open(tw_lanes *ls)
{
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        tw_batch_clear(l->open);
        l->open_due = 0;
        ev_timer_stop(ls->loop, &l->batch_timer);
    }
}

void tw_lanes_reset_caches(tw_lanes *ls)
{
    for (int i = 0; i < ls->n; i++)
        tw_state_reset(ls->l[i].cache);
}

static void on_reconnected(void *arg, PGconn *c, const char *err)
{
    lane *l = arg;
    if (c) {
        use_connection(l, c);
        tw_info("lane %d: reconnected to PostgreSQL", l->no);
    }
    l->ls->cbs.on_connected(l->ls->cbs.arg, l->no, c ? "" : err);
}

int tw_lanes_reconnect(tw_lanes *ls, int *fresh)
{
    int started = 0;
    *fresh = 0;
    for (int i = 0; i < ls->n; i++) {
        lane *l = &ls->l[i];
        if (l->pg && PQstatus(l->pg) == CONNECTION_OK)
            continue;
        if (l->connecting.active) {
            started++;
            continue;
        }
        if (tw_pgconnect_start(&l->connecting, ls->loop, tw_config_str(ls->cfg, "pg.conninfo"),
                               PG_APP, PG_OPTIONS, 10.0, on_reconnected, l) < 0)
            return -1;
        started++;
        (*fresh)++;
    }
    return started;
}

int tw_lanes_all_connected(const tw_lanes *ls)
{
    return tw_lanes_connected(ls) == ls->n;
}

tw_pgpipe *tw_lanes_pipe(tw_lanes *ls, int lane)
{
    struct lane *l = &ls->l[lane];
    return l->pg && !l->pipe.running ? &l->pipe : NULL;
}
