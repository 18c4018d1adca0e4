/* evaluate.c: when to evaluate the alert rules, and on which subjects.
 * Everything at start and after each reconnect (a notification missed while
 * disconnected is then never needed), the subjects a projector batch names
 * when its NOTIFY arrives (all notifications read in one loop iteration are
 * merged into one evaluation), everything when the test clock or a rule
 * changes, and at the next deadline alerting.evaluate() reports, on one
 * ev_timer re-armed after every evaluation. The rules themselves are SQL
 * (schemas/006_alerting_rules.sql). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "sentinel.h"

/* The projector's payload names subjects under these keys. */
static const char *const scope_keys[] = {"pledges", "twinnings", "agencies", "sources"};
#define N_SCOPE 4

static const char *const channels[] = {"twinwatch_projection", "twinwatch_clock", "twinwatch_rules",
                                       NULL};

struct tw_eval {
    struct ev_loop *loop;
    tw_listener *l;
    ev_timer deadline;        /* the next instant a rule changes by time alone */
    ev_timer kick;            /* zero delay: after this iteration's notifications */
    int all;                  /* next evaluation covers every subject */
    int scoped;               /* the running one covers some subjects only */
    int due;                  /* the deadline passed */
    json_t *pending[N_SCOPE]; /* subjects to evaluate, as objects (sets) */
    char scope[32];           /* what the running evaluation covers, for logs */
    ev_tstamp sent_at;
    int transitions, has_next;
    double next_in;
    char next_at[40];
    long long evaluations, transitions_total;
    int ncounts;
    tw_alert_count counts[TW_EVAL_MAX_COUNTS];
    tw_eval_observer observer;
    void *observer_arg;
};

static int pending_any(const tw_eval *e)
{
    for (int i = 0; i < N_SCOPE; i++)
        if (json_object_size(e->pending[i]) > 0)
            return 1;
    return 0;
}

static void schedule(tw_eval *e)
{
    if (!ev_is_active(&e->kick)) {
        ev_timer_set(&e->kick, 0, 0);
        ev_timer_start(e->loop, &e->kick);
    }
}

/* Merges a projector payload into the pending scope; anything unreadable
 * means every subject. */
static void merge_payload(tw_eval *e, const char *payload)
{
    json_error_t jerr;
    json_t *j = json_loads(payload, 0, &jerr);
    if (!j || !json_is_object(j)) {
        tw_warn("twinwatch_projection payload is not a JSON object (%s); evaluating every subject",
                j ? "not an object" : jerr.text);
        e->all = 1;
        json_decref(j);
        return;
    }
    if (json_is_true(json_object_get(j, "all")))
        e->all = 1;
    for (int i = 0; i < N_SCOPE && !e->all; i++) {
        json_t *arr = json_object_get(j, scope_keys[i]), *v;
        size_t k;
        json_array_foreach(arr, k, v)
        {
            if (json_is_string(v))
                json_object_set_new(e->pending[i], json_string_value(v), json_true());
        }
    }
    json_decref(j);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    tw_eval *e = arg;
    if (!strcmp(channel, "twinwatch_projection"))
        merge_payload(e, payload);
    else {
        tw_info("%s: evaluating every subject", channel);
        e->all = 1;
    }
    schedule(e);
}

static void on_result(void *arg, int stmt, const PGresult *r)
{
    tw_eval *e = arg;
    if (stmt == 1) { /* alerts by rule, state and severity, for /metrics */
        e->ncounts = 0;
        for (int i = 0; i < PQntuples(r) && e->ncounts < TW_EVAL_MAX_COUNTS; i++) {
            tw_alert_count *c = &e->counts[e->ncounts++];
            snprintf(c->rule, sizeof c->rule, "%s", PQgetvalue(r, i, 0));
            snprintf(c->state, sizeof c->state, "%s", PQgetvalue(r, i, 1));
            snprintf(c->severity, sizeof c->severity, "%s", PQgetvalue(r, i, 2));
            c->n = atoll(PQgetvalue(r, i, 3));
        }
        return;
    }
    if (PQntuples(r) != 1)
        return;
    e->transitions = atoi(PQgetvalue(r, 0, 0));
    e->has_next = !PQgetisnull(r, 0, 1);
    snprintf(e->next_at, sizeof e->next_at, "%s", e->has_next ? PQgetvalue(r, 0, 1) : "none");
    e->next_in = e->has_next ? atof(PQgetvalue(r, 0, 2)) : 0;
}

static void on_evaluated(void *arg, int ok, const char *err)
{
    tw_eval *e = arg;
    double ms = (ev_time() - e->sent_at) * 1000.0;
    if (!ok) {
        tw_error("evaluation (%s) failed: %s", e->scope, err);
        e->all = 1; /* after the reconnect, everything again */
        return;
    }
    e->evaluations++;
    e->transitions_total += e->transitions;
    if (e->observer)
        e->observer(e->observer_arg, ms / 1000.0, e->transitions);
    if (e->transitions > 0)
        tw_info("evaluation (%s): %d transition(s) in %.1f ms; next deadline %s", e->scope,
                e->transitions, ms, e->next_at);
    else
        tw_debug("evaluation (%s): no transition, %.1f ms; next deadline %s", e->scope, ms,
                 e->next_at);
    /* a millisecond late rather than early; an early wake-up finds nothing
     * and re-arms for the right instant anyway */
    double in = e->next_in - ms / 1000.0 + 0.001;
    if (in < 0)
        in = 0;
    /* A scoped evaluation knows only its subjects' next deadline: it may
     * bring the timer forward, never push it back (a deadline that moved
     * later costs one full evaluation that finds nothing, then re-arms). */
    if (e->scoped && ev_is_active(&e->deadline) &&
        (!e->has_next || ev_timer_remaining(e->loop, &e->deadline) <= in)) {
        schedule(e);
        return;
    }
    ev_timer_stop(e->loop, &e->deadline);
    if (e->has_next) {
        ev_timer_set(&e->deadline, in, 0);
        ev_timer_start(e->loop, &e->deadline);
    }
    schedule(e);
}

/* Starts one evaluation if something is pending and the connection idle. */
static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_eval *e = w->data;
    tw_pgparams q;
    char *scope = NULL;
    (void)loop;
    (void)revents;
    if (tw_listener_busy(e->l) || !(e->all || e->due || pending_any(e)))
        return;
    tw_pgparams_clear(&q);
    e->scoped = !(e->all || e->due);
    if (!e->scoped) {
        snprintf(e->scope, sizeof e->scope, "%s", e->all ? "all subjects" : "deadline");
        tw_pgparams_text(&q, NULL);
    } else {
        json_t *j = json_object();
        size_t n = 0;
        for (int i = 0; i < N_SCOPE; i++) {
            json_t *arr = json_array(), *v;
            const char *k;
            json_object_foreach(e->pending[i], k, v)
            {
                (void)v;
                json_array_append_new(arr, json_string(k));
                n++;
            }
            json_object_set_new(j, scope_keys[i], arr);
        }
        scope = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!scope) {
            tw_error("out of memory building an evaluation's scope; evaluating every subject");
            e->all = 1;
            schedule(e);
            return;
        }
        snprintf(e->scope, sizeof e->scope, "%zu subjects", n);
        tw_pgparams_text(&q, scope);
    }
    for (int i = 0; i < N_SCOPE; i++)
        json_object_clear(e->pending[i]);
    e->all = e->due = 0;
    e->transitions = 0;
    e->has_next = 0;
    e->sent_at = ev_time();
    if (tw_pgpipe_send(tw_listener_pipe(e->l),
                       "SELECT transitions, next_at,"
                       " extract(epoch FROM next_at - now_at)::float8"
                       " FROM alerting.evaluate($1::jsonb)",
                       &q) < 0 ||
        tw_pgpipe_send(tw_listener_pipe(e->l),
                       "SELECT rule, state, severity, count(*) FROM alerting.alert"
                       " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                       NULL) < 0)
        tw_error("queue an evaluation: %s", tw_listener_pipe(e->l)->err);
    free(scope);
    /* a refused send fails the run, which reconnects and starts over */
    tw_listener_run(e->l, on_result, on_evaluated, e);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_eval *e = w->data;
    (void)loop;
    (void)revents;
    e->due = 1;
    schedule(e);
}

static void on_ready(void *arg)
{
    tw_eval *e = arg;
    e->all = 1;
    schedule(e);
}

tw_eval *tw_eval_start(struct ev_loop *loop, const tw_config *cfg, char *err, size_t errlen)
{
    static const tw_listener_cbs cbs = {on_ready, on_notify, NULL};
    tw_eval *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->loop = loop;
    for (int i = 0; i < N_SCOPE; i++)
        if (!(e->pending[i] = json_object()))
            goto oom;
    ev_init(&e->deadline, on_deadline);
    e->deadline.data = e;
    ev_init(&e->kick, on_kick);
    e->kick.data = e;
    e->l = tw_listener_new(loop, tw_config_str(cfg, "pg.conninfo"), "twinwatch-sentinel", channels,
                           (double)tw_config_int(cfg, "retry.max_ms") / 1000.0, &cbs, e);
    if (!e->l)
        goto oom;
    return e;
oom:
    snprintf(err, errlen, "out of memory starting the evaluator");
    tw_eval_free(e);
    return NULL;
}

void tw_eval_status_get(const tw_eval *e, tw_eval_status *st)
{
    memset(st, 0, sizeof *st);
    st->connected = tw_listener_ready(e->l);
    st->evaluations = e->evaluations;
    st->transitions = e->transitions_total;
    if (ev_is_active(&e->deadline))
        st->next_deadline = ev_now(e->loop) + ev_timer_remaining(e->loop, (ev_timer *)&e->deadline);
    st->ncounts = e->ncounts;
    memcpy(st->counts, e->counts, sizeof e->counts);
}

void tw_eval_observe(tw_eval *e, tw_eval_observer fn, void *arg)
{
    e->observer = fn;
    e->observer_arg = arg;
}

void tw_eval_free(tw_eval *e)
{
    if (!e)
        return;
    ev_timer_stop(e->loop, &e->deadline);
    ev_timer_stop(e->loop, &e->kick);
    tw_listener_free(e->l);
    for (int i = 0; i < N_SCOPE; i++)
        json_decref(e->pending[i]);
    free(e);
}
