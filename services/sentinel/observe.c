/* observe.c: what the sentinel shows an operator over HTTP. GET /metrics
 * (Prometheus): alerts by rule, state and severity, evaluations and their
 * latency, transitions, the outbox's unsent rows and messages in flight,
 * the next deadline. GET /healthz: 200 while both PostgreSQL connections
 * are up and the broker acknowledges what is sent, 503 with the reason
 * otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "sentinel.h"

struct tw_sentinel_observe {
    struct ev_loop *loop;
    tw_eval *eval;
    tw_publisher *pub;
    tw_metrics *m;
    tw_httpd *http;
    tw_metric *eval_seconds, *evaluations, *transitions, *published, *in_flight, *unsent,
        *next_deadline, *pg_up;
    tw_metric *alerts[TW_EVAL_MAX_COUNTS * 2];
    int nalerts;
    long long last_evaluations, last_transitions, last_published;
    double down_since; /* a PostgreSQL connection has been down since, 0: up */
};

static void on_evaluation(void *arg, double seconds, int transitions)
{
    tw_sentinel_observe *o = arg;
    (void)transitions;
    tw_metric_observe(o->eval_seconds, seconds);
}

static void on_collect(void *arg, tw_metrics *m)
{
    tw_sentinel_observe *o = arg;
    tw_eval_status es;
    tw_publisher_status ps;
    char l[160];
    tw_eval_status_get(o->eval, &es);
    tw_publisher_status_get(o->pub, &ps);
    tw_metric_add(o->evaluations, (double)(es.evaluations - o->last_evaluations));
    o->last_evaluations = es.evaluations;
    tw_metric_add(o->transitions, (double)(es.transitions - o->last_transitions));
    o->last_transitions = es.transitions;
    tw_metric_add(o->published, (double)(ps.published - o->last_published));
    o->last_published = ps.published;
    tw_metric_set(o->in_flight, ps.in_flight);
    tw_metric_set(o->unsent, (double)ps.unsent);
    tw_metric_set(o->next_deadline, es.next_deadline);
    tw_metric_set(o->pg_up, es.connected + ps.connected);
    /* every (rule, state, severity) seen so far: 0 when none is left */
    for (int i = 0; i < o->nalerts; i++)
        tw_metric_set(o->alerts[i], 0);
    for (int i = 0; i < es.ncounts; i++) {
        const tw_alert_count *c = &es.counts[i];
        if (!tw_metrics_labels(l, sizeof l, "rule", c->rule, "state", c->state, "severity",
                               c->severity, NULL))
            continue;
        tw_metric *g = tw_metrics_gauge(m, "twinwatch_sentinel_alerts",
                                        "Alerts by rule, state and severity.", l);
        if (!g)
            continue;
        int known = 0;
        for (int k = 0; k < o->nalerts; k++)
            known |= o->alerts[k] == g;
        if (!known && o->nalerts < (int)(sizeof o->alerts / sizeof o->alerts[0]))
            o->alerts[o->nalerts++] = g;
        tw_metric_set(g, (double)c->n);
    }
}

static const char *unhealthy(tw_sentinel_observe *o, char *why, size_t len)
{
    tw_eval_status es;
    tw_publisher_status ps;
    double now = ev_now(o->loop);
    tw_eval_status_get(o->eval, &es);
    tw_publisher_status_get(o->pub, &ps);
    if (es.connected && ps.connected)
        o->down_since = 0;
    else if (!o->down_since)
        o->down_since = now;
    if (o->down_since && now - o->down_since > 2) {
        snprintf(why, len, "PostgreSQL: %s down for %.0f s",
                 !es.connected && !ps.connected
                     ? "the evaluator's and the publisher's connections are"
                 : !es.connected ? "the evaluator's connection is"
                                 : "the publisher's connection is",
                 now - o->down_since);
        return why;
    }
    if (ps.in_flight > 0 && ps.last_report > 0 && now - ps.last_report > 30) {
        snprintf(why, len, "Kafka: %d alert(s) sent and not acknowledged for %.0f s", ps.in_flight,
                 now - ps.last_report);
        return why;
    }
    return NULL;
}

static void on_request(void *arg, const char *path, tw_http_reply *r)
{
    tw_sentinel_observe *o = arg;
    static char why[300];
    if (strcmp(path, "/metrics") == 0) {
        if (tw_metrics_render(o->m, &r->body, &r->len) < 0) {
            r->status = 500;
            r->body = "out of memory\n";
        } else {
            r->free_body = 1;
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
            return;
        }
    } else if (strcmp(path, "/healthz") == 0) {
        if (unhealthy(o, why, sizeof why - 1)) {
            r->status = 503;
            strcat(why, "\n");
            r->body = why;
        } else {
            r->body = "ok\n";
        }
    } else {
        r->status = 404;
        r->body = "not found: try /metrics or /healthz\n";
    }
    r->len = strlen(r->body);
}

tw_sentinel_observe *tw_sentinel_observe_start(struct ev_loop *loop, const tw_config *cfg,
                                               tw_eval *e, tw_publisher *p, char *err,
                                               size_t errlen)
{
    static const double secs[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    tw_sentinel_observe *o = calloc(1, sizeof *o);
    if (!o || !(o->m = tw_metrics_new()))
        goto oom;
    o->loop = loop;
    o->eval = e;
    o->pub = p;
    o->eval_seconds = tw_metrics_histogram(o->m, "twinwatch_sentinel_evaluation_seconds",
                                           "Time an evaluation of the rules took.", NULL, secs, 10);
    o->evaluations =
        tw_metrics_counter(o->m, "twinwatch_sentinel_evaluations_total", "Evaluations.", NULL);
    o->transitions = tw_metrics_counter(o->m, "twinwatch_sentinel_transitions_total",
                                        "Alert transitions (open, ack, resolve, reopen, "
                                        "escalate) the evaluations made.",
                                        NULL);
    o->published = tw_metrics_counter(o->m, "twinwatch_sentinel_published_total",
                                      "Alert messages the broker acknowledged.", NULL);
    o->in_flight = tw_metrics_gauge(o->m, "twinwatch_sentinel_in_flight",
                                    "Alert messages sent, not yet acknowledged.", NULL);
    o->unsent = tw_metrics_gauge(
        o->m, "twinwatch_sentinel_outbox_unsent",
        "Outbox rows not yet marked sent (at the publisher's last fetch or mark).", NULL);
    o->next_deadline = tw_metrics_gauge(
        o->m, "twinwatch_sentinel_next_deadline_timestamp_seconds",
        "When a rule next changes by time alone (Unix time of the armed timer; 0: none).", NULL);
    o->pg_up = tw_metrics_gauge(o->m, "twinwatch_sentinel_pg_connections_up",
                                "PostgreSQL connections up (of 2: evaluator, publisher).", NULL);
    if (!o->eval_seconds || !o->evaluations || !o->transitions || !o->published || !o->in_flight ||
        !o->unsent || !o->next_deadline || !o->pg_up)
        goto oom;
    tw_metrics_on_collect(o->m, on_collect, o);
    tw_eval_observe(e, on_evaluation, o);
    int port = (int)tw_config_int(cfg, "http.port");
    if (port == 0)
        return o;
    if (!(o->http = tw_httpd_start(loop, tw_config_str(cfg, "http.address"), port, on_request, o,
                                   err, errlen))) {
        tw_sentinel_observe_stop(o);
        return NULL;
    }
    tw_info("serving /metrics and /healthz on %s:%d", tw_config_str(cfg, "http.address"),
            tw_httpd_port(o->http));
    return o;
oom:
    snprintf(err, errlen, "out of memory registering metrics");
    tw_sentinel_observe_stop(o);
    return NULL;
}

void tw_sentinel_observe_stop(tw_sentinel_observe *o)
{
    if (!o)
        return;
    tw_httpd_stop(o->http);
    tw_metrics_free(o->m);
    free(o);
}
