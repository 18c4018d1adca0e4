/* observe.c: metrics and health (see observe.h). */
#include "observe.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "stall.h"

static const char *const RESULTS[3] = {"accepted", "dead_lettered", "duplicate"};

struct tw_observe {
    const tw_config *cfg;
    const tw_parts *ps;
    const tw_consumer *c;
    const tw_lanes *ls;
    tw_metrics *m;
    tw_httpd *http;
    tw_stall *stall;
    tw_metric *events[TW_BATCH_NTYPES][3];
    tw_metric *batches_ok, *batches_failed, *reconnects, *rebalances;
    tw_metric *batch_events, *commit_seconds, *loop_stall;
    tw_metric *lag[TW_MAX_PARTS], *stored[TW_MAX_PARTS];
    tw_metric *lag_total, *kafka_up, *lanes_connected;
    int64_t last_commit_ms;   /* the last committed batch (start-up counts as one) */
    int64_t kafka_seen_ms;    /* the last statistics from librdkafka */
    int kafka_brokers_up;     /* brokers librdkafka reported UP then */
    int64_t resync_since_ms;  /* 0: not resyncing */
    int64_t waiting_since_ms; /* when /healthz first saw events waiting; 0: none wait */
    char err[600];            /* the last failure */
};

static int64_t lag_of(const tw_observe *o, int p)
{
    int64_t hi = tw_consumer_high(o->c, p), from = tw_parts_from(o->ps, p);
    return hi >= 0 && from >= 0 && hi >= from ? hi - from : -1;
}

/* Sets the gauges read at scrape time. */
static void on_collect(void *arg, tw_metrics *m)
{
    tw_observe *o = arg;
    char l[64], part[16];
    int64_t total = 0;
    for (int p = 0; p < TW_MAX_PARTS; p++) {
        if (!tw_parts_assigned(o->ps, p)) {
            tw_metric_hide(o->lag[p], 1);
            tw_metric_hide(o->stored[p], 1);
            continue;
        }
        snprintf(part, sizeof part, "%d", p);
        tw_metrics_labels(l, sizeof l, "partition", part, NULL);
        if (!o->lag[p])
            o->lag[p] =
                tw_metrics_gauge(m, "twinwatch_projector_lag",
                                 "Events on the broker not yet committed, by partition.", l);
        if (!o->stored[p])
            o->stored[p] = tw_metrics_gauge(m, "twinwatch_projector_stored_offset",
                                            "Next offset stored in PostgreSQL, by partition.", l);
        int64_t lag = lag_of(o, p), stored = tw_parts_stored(o->ps, p);
        tw_metric_hide(o->lag[p], lag < 0);
        tw_metric_set(o->lag[p], (double)lag);
        tw_metric_hide(o->stored[p], stored < 0);
        tw_metric_set(o->stored[p], (double)stored);
        total += lag > 0 ? lag : 0;
    }
    tw_metric_set(o->lag_total, (double)total);
    tw_metric_set(o->lanes_connected, tw_lanes_connected(o->ls));
    tw_metric_set(o->kafka_up, o->kafka_seen_ms ? o->kafka_brokers_up : -1);
}

/* Appends one reason to why (reasons are joined with "; "). */
static void add_reason(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_reason(char *why, size_t len, const char *fmt, ...)
{
    size_t n = strlen(why);
    va_list ap;
    if (n > 0 && n + 2 < len) {
        memcpy(why + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(why + n, len - n, fmt, ap);
    va_end(ap);
}

/* Why the projector is not healthy (every reason that holds), or NULL. */
static const char *unhealthy(tw_observe *o, char *why, size_t len)
{
    int64_t now = tw_now_ms(), wait = tw_config_int(o->cfg, "health.stall_ms");
    int up = tw_lanes_connected(o->ls), nlanes = tw_lanes_count(o->ls);
    why[0] = '\0';
    if (up < nlanes && o->resync_since_ms && now - o->resync_since_ms > 2000)
        add_reason(why, len, "PostgreSQL: %d of %d connections down for %.0f s: %s", nlanes - up,
                   nlanes, (double)(now - o->resync_since_ms) / 1000.0,
                   o->err[0] ? o->err : "reconnecting");
    if (o->kafka_seen_ms && o->kafka_brokers_up == 0)
        add_reason(why, len, "Kafka: no broker reachable (librdkafka statistics at %.0f s ago)",
                   (double)(now - o->kafka_seen_ms) / 1000.0);
    int64_t lag = 0;
    for (int p = 0; p < TW_MAX_PARTS; p++) {
        int64_t n = tw_parts_assigned(o->ps, p) ? lag_of(o, p) : -1;
        lag += n > 0 ? n : 0;
    }
    /* A stall is events that have waited stall_ms with nothing committed:
     * measured from when they were first seen waiting, so that events
     * arriving after a quiet hour are not a stall the moment they arrive. */
    if (lag == 0)
        o->waiting_since_ms = 0;
    else if (!o->waiting_since_ms)
        o->waiting_since_ms = now;
    int64_t since =
        o->waiting_since_ms > o->last_commit_ms ? o->waiting_since_ms : o->last_commit_ms;
    if (lag > 0 && now - since > wait)
        add_reason(why, len, "no batch committed for %.0f s while %lld events wait",
                   (double)(now - o->last_commit_ms) / 1000.0, (long long)lag);
    return why[0] ? why : NULL;
}

static void on_request(void *arg, const char *path, tw_http_reply *r)
{
    tw_observe *o = arg;
    static char why[700];
    if (strcmp(path, "/metrics") == 0) {
        if (tw_metrics_render(o->m, &r->body, &r->len) < 0) {
            r->status = 500;
            r->body = "out of memory\n";
            r->len = strlen(r->body);
            return;
        }
        r->free_body = 1;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(path, "/healthz") == 0) {
        const char *bad = unhealthy(o, why, sizeof why - 1);
        if (bad) {
            r->status = 503;
            strcat(why, "\n");
            r->body = why;
        } else {
            r->body = "ok\n";
        }
        r->len = strlen(r->body);
    } else {
        r->status = 404;
        r->body = "not found: try /metrics or /healthz\n";
        r->len = strlen(r->body);
    }
}

static void on_iteration(void *arg, double seconds)
{
    tw_observe *o = arg;
    tw_metric_observe(o->loop_stall, seconds);
}

tw_observe *tw_observe_start(struct ev_loop *loop, const tw_config *cfg, const tw_parts *ps,
                             const tw_consumer *c, const tw_lanes *ls, char *err, size_t errlen)
{
    static const double sizes[] = {1, 10, 50, 100, 500, 1000, 2500, 5000, 10000};
    static const double secs[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    static const double stall[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
    tw_observe *o = calloc(1, sizeof *o);
    char l[96];
    if (!o || !(o->m = tw_metrics_new())) {
        free(o);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->ps = ps;
    o->c = c;
    o->ls = ls;
    o->last_commit_ms = tw_now_ms();
    for (int t = 0; t < TW_BATCH_NTYPES; t++)
        for (int r = 0; r < 3; r++)
            o->events[t][r] = tw_metrics_counter(
                o->m, "twinwatch_projector_events_total",
                "Events consumed, by outcome (accepted, dead_lettered, duplicate) and type.",
                tw_metrics_labels(l, sizeof l, "result", RESULTS[r], "type", tw_batch_type_name(t),
                                  NULL));
    o->batches_ok = tw_metrics_counter(o->m, "twinwatch_projector_batches_total",
                                       "Batches, by whether they committed.",
                                       tw_metrics_labels(l, sizeof l, "result", "committed", NULL));
    o->batches_failed = tw_metrics_counter(
        o->m, "twinwatch_projector_batches_total", "Batches, by whether they committed.",
        tw_metrics_labels(l, sizeof l, "result", "failed", NULL));
    o->batch_events = tw_metrics_histogram(o->m, "twinwatch_projector_batch_events",
                                           "Events per committed batch.", NULL, sizes, 9);
    o->commit_seconds = tw_metrics_histogram(
        o->m, "twinwatch_projector_commit_seconds",
        "Time from sending a batch's writes to its commit's acknowledgement.", NULL, secs, 10);
    o->reconnects = tw_metrics_counter(o->m, "twinwatch_projector_reconnects_total",
                                       "Reconnections to PostgreSQL.", NULL);
    o->rebalances =
        tw_metrics_counter(o->m, "twinwatch_projector_rebalances_total",
                           "Consumer-group rebalances (assignments and revocations).", NULL);
    o->lag_total =
        tw_metrics_gauge(o->m, "twinwatch_projector_lag_total",
                         "Events on the broker not yet committed, all partitions.", NULL);
    o->kafka_up =
        tw_metrics_gauge(o->m, "twinwatch_projector_kafka_brokers_up",
                         "Brokers librdkafka last reported UP (-1: not reported yet).", NULL);
    o->lanes_connected = tw_metrics_gauge(o->m, "twinwatch_projector_pg_connections_up",
                                          "Lanes whose PostgreSQL connection is up.", NULL);
    o->loop_stall = tw_metrics_histogram(
        o->m, "twinwatch_projector_loop_stall_seconds",
        "How long each iteration of the event loop worked before polling again (wall time, "
        "less the time the scheduler kept the thread waiting for a CPU).",
        NULL, stall, 10);
    for (int t = 0; t < TW_BATCH_NTYPES; t++)
        for (int r = 0; r < 3; r++)
            if (!o->events[t][r])
                goto oom;
    if (!o->batches_ok || !o->batches_failed || !o->batch_events || !o->commit_seconds ||
        !o->reconnects || !o->rebalances || !o->lag_total || !o->kafka_up || !o->lanes_connected ||
        !o->loop_stall || !(o->stall = tw_stall_start(loop, on_iteration, o)))
        goto oom;
    tw_metrics_on_collect(o->m, on_collect, o);
    int port = (int)tw_config_int(cfg, "http.port");
    if (port == 0)
        return o; /* metrics kept, not served */
    if (!(o->http = tw_httpd_start(loop, tw_config_str(cfg, "http.address"), port, on_request, o,
                                   err, errlen))) {
        tw_observe_stop(o);
        return NULL;
    }
    tw_info("serving /metrics and /healthz on %s:%d", tw_config_str(cfg, "http.address"),
            tw_httpd_port(o->http));
    return o;
oom:
    snprintf(err, errlen, "out of memory registering metrics");
    tw_observe_stop(o);
    return NULL;
}

void tw_observe_batch(tw_observe *o, const tw_batch_stats *s, size_t events)
{
    if (!s) {
        tw_metric_add(o->batches_failed, 1);
        return;
    }
    for (int t = 0; t < TW_BATCH_NTYPES; t++)
        for (int r = 0; r < 3; r++)
            tw_metric_add(o->events[t][r], (double)s->by_type[t][r]);
    tw_metric_add(o->batches_ok, 1);
    tw_metric_observe(o->batch_events, (double)events);
    tw_metric_observe(o->commit_seconds, s->write_ms / 1000.0);
    o->last_commit_ms = tw_now_ms();
}

void tw_observe_resync(tw_observe *o, int resyncing, const char *why)
{
    if (why)
        snprintf(o->err, sizeof o->err, "%s", why);
    if (!resyncing)
        o->resync_since_ms = 0;
    else if (!o->resync_since_ms)
        o->resync_since_ms = tw_now_ms();
}

void tw_observe_reconnects(tw_observe *o, int n)
{
    tw_metric_add(o->reconnects, n);
}

void tw_observe_rebalance(tw_observe *o)
{
    tw_metric_add(o->rebalances, 1);
}

void tw_observe_kafka_stats(tw_observe *o, const char *json, size_t len)
{
    json_error_t e;
    json_t *root, *brokers, *b;
    const char *name;
    int up = 0;
    if (!o || !(root = json_loadb(json, len, 0, &e)))
        return;
    brokers = json_object_get(root, "brokers");
    json_object_foreach(brokers, name, b)
    {
        json_int_t id = json_integer_value(json_object_get(b, "nodeid"));
        const char *state = json_string_value(json_object_get(b, "state"));
        if (id >= 0 && state && strcmp(state, "UP") == 0)
            up++;
    }
    json_decref(root);
    o->kafka_brokers_up = up;
    o->kafka_seen_ms = tw_now_ms();
}

void tw_observe_stop(tw_observe *o)
{
    if (!o)
        return;
    tw_stall_stop(o->stall);
    tw_httpd_stop(o->http);
    tw_metrics_free(o->m);
    free(o);
}
