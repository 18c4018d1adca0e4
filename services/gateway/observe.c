/* observe.c: what the gateway shows an operator. GET /metrics (Prometheus):
 * requests by route and status, their latency by route, events by result
 * (accepted, invalid, forbidden, unavailable), messages waiting for Kafka's
 * acknowledgement, open connections, PostgreSQL and Kafka up. GET /healthz:
 * 200 while PostgreSQL is connected and librdkafka has a broker, 503 with
 * the reason otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "metrics.h"

struct tw_gwobs {
    tw_gateway *gw;
    tw_metrics *m;
    tw_metric *queue, *conns, *pg_up, *kafka_up;
};

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,    10};

static void on_collect(void *arg, tw_metrics *m)
{
    tw_gwobs *o = arg;
    (void)m;
    tw_metric_set(o->queue, o->gw->prod ? tw_gwprod_queue_len(o->gw->prod) : 0);
    tw_metric_set(o->conns, o->gw->http ? tw_httpd_connections(o->gw->http) : 0);
    tw_metric_set(o->pg_up, o->gw->db && tw_gwdb_up(o->gw->db));
    tw_metric_set(o->kafka_up, o->gw->prod && tw_gwprod_up(o->gw->prod));
}

tw_gwobs *tw_gwobs_new(tw_gateway *gw)
{
    tw_gwobs *o = calloc(1, sizeof *o);
    if (!o || !(o->m = tw_metrics_new())) {
        free(o);
        return NULL;
    }
    o->gw = gw;
    o->queue =
        tw_metrics_gauge(o->m, "twinwatch_gateway_producer_queue",
                         "Messages handed to the Kafka producer, not yet acknowledged.", NULL);
    o->conns =
        tw_metrics_gauge(o->m, "twinwatch_gateway_connections", "HTTP connections open now.", NULL);
    o->pg_up = tw_metrics_gauge(o->m, "twinwatch_gateway_pg_up",
                                "1 while the PostgreSQL connection is up.", NULL);
    o->kafka_up = tw_metrics_gauge(o->m, "twinwatch_gateway_kafka_up",
                                   "0 once librdkafka reports every broker down, until an "
                                   "acknowledgement.",
                                   NULL);
    /* the routes' series exist from the start, so dashboards see zeros */
    static const char *const routes[] = {"post_events", "get_event", "get_feed", NULL};
    char l[128];
    for (int i = 0; routes[i]; i++) {
        tw_metrics_histogram(o->m, "twinwatch_gateway_request_seconds",
                             "Time from a request's arrival to its reply, by route.",
                             tw_metrics_labels(l, sizeof l, "route", routes[i], NULL),
                             latency_bounds, (int)(sizeof latency_bounds / sizeof *latency_bounds));
        tw_metrics_counter(
            o->m, "twinwatch_gateway_requests_total", "Requests answered, by route and status.",
            tw_metrics_labels(l, sizeof l, "route", routes[i], "status", "200", NULL));
    }
    static const char *const results[] = {"accepted", "invalid", "forbidden", "unavailable", NULL};
    for (int i = 0; results[i]; i++)
        tw_gwobs_events(o, results[i], 0);
    tw_metrics_on_collect(o->m, on_collect, o);
    return o;
}

void tw_gwobs_free(tw_gwobs *o)
{
    if (!o)
        return;
    tw_metrics_free(o->m);
    free(o);
}

void tw_gwobs_request(tw_gwobs *o, const char *route, int status, double seconds)
{
    char l[128], st[8];
    snprintf(st, sizeof st, "%d", status);
    tw_metric *c = tw_metrics_counter(
        o->m, "twinwatch_gateway_requests_total", "Requests answered, by route and status.",
        tw_metrics_labels(l, sizeof l, "route", route, "status", st, NULL));
    if (c)
        tw_metric_add(c, 1);
    tw_metric *h =
        tw_metrics_histogram(o->m, "twinwatch_gateway_request_seconds",
                             "Time from a request's arrival to its reply, by route.",
                             tw_metrics_labels(l, sizeof l, "route", route, NULL), latency_bounds,
                             (int)(sizeof latency_bounds / sizeof *latency_bounds));
    if (h)
        tw_metric_observe(h, seconds);
}

void tw_gwobs_events(tw_gwobs *o, const char *result, size_t n)
{
    char l[64];
    tw_metric *c = tw_metrics_counter(o->m, "twinwatch_gateway_events_total",
                                      "Events in POST /v1/events bodies, by what became of them.",
                                      tw_metrics_labels(l, sizeof l, "result", result, NULL));
    if (c)
        tw_metric_add(c, (double)n);
}

int tw_gw_observe(tw_gateway *gw, const char *path, tw_http_reply *r)
{
    static char why[200];
    if (!strcmp(path, "/metrics")) {
        if (tw_metrics_render(gw->obs->m, &r->body, &r->len) < 0) {
            r->status = 500;
            r->body = "out of memory\n";
            r->len = strlen(r->body);
        } else {
            r->free_body = 1;
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        }
        return 1;
    }
    if (!strcmp(path, "/healthz")) {
        if (!tw_gwdb_up(gw->db)) {
            snprintf(why, sizeof why, "PostgreSQL is not connected\n");
            r->status = 503;
            r->body = why;
        } else if (!tw_gwprod_up(gw->prod)) {
            snprintf(why, sizeof why, "every Kafka broker is down\n");
            r->status = 503;
            r->body = why;
        } else {
            r->body = "ok\n";
        }
        r->len = strlen(r->body);
        return 1;
    }
    return 0;
}
