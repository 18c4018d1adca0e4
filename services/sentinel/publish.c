/* publish.c: drains alerting.outbox to twinwatch.alerts.v1, one protobuf
 * Alert per transition, keyed by alert_id, with an idempotent producer.
 * A row is marked sent only after the broker acknowledged its message (the
 * delivery report), so a crash in between publishes that transition again,
 * never loses it; consumers dedupe on (alert_id, transition_no). Woken by
 * NOTIFY twinwatch_alerts, which every transition sends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "listen.h"
#include "log.h"
#include "sentinel.h"
#include "twinwatch/v1/alert.pb-c.h"

#define FETCH_LIMIT 500

static const char *const channels[] = {"twinwatch_alerts", NULL};

struct tw_publisher {
    struct ev_loop *loop;
    tw_listener *l;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    tw_kafka_wakeup wake;
    const char *topic;
    ev_timer kick;
    int64_t fetched_upto; /* highest outbox id produced (or being produced) */
    int want_fetch, fetched_rows, in_flight;
    int64_t refused; /* lowest id librdkafka refused in this fetch, 0: none */
    int64_t *acked;  /* acknowledged ids not yet marked sent */
    size_t n_acked, cap_acked, n_marking;
    long long published, marked;
    double last_report; /* ev_time() of the last delivery report */
    long long unsent;   /* outbox rows not marked sent, at the last fetch or mark */
};

static const char *SQL_UNSENT = "SELECT count(*) FROM alerting.outbox WHERE sent_at IS NULL";

static const char *SQL_FETCH =
    "SELECT o.id, o.alert_id, a.rule, a.subject, h.state, h.severity, h.transition_no,"
    " (extract(epoch FROM (SELECT max(h2.at) FROM alerting.alert_history h2"
    "   WHERE h2.alert_id = o.alert_id AND h2.transition_no <= o.transition_no"
    "     AND h2.kind IN ('open', 'reopen'))) * 1000)::int8,"
    " (extract(epoch FROM h.at) * 1000)::int8, h.summary_vi, h.summary_en,"
    " coalesce(a.agency_code, ''), coalesce(a.locality_code, ''), coalesce(a.pledge_id, ''),"
    " coalesce(h.cause_event_id::text, ''), h.by_name, h.note"
    " FROM alerting.outbox o"
    " JOIN alerting.alert_history h USING (alert_id, transition_no)"
    " JOIN alerting.alert a USING (alert_id)"
    " WHERE o.sent_at IS NULL AND o.id > $1::int8 ORDER BY o.id LIMIT 500";

static void schedule_in(tw_publisher *p, double delay)
{
    if (!ev_is_active(&p->kick)) {
        ev_timer_set(&p->kick, delay, 0);
        ev_timer_start(p->loop, &p->kick);
    }
}

static void schedule(tw_publisher *p)
{
    schedule_in(p, 0);
}

static int state_of(const char *s)
{
    if (!strcmp(s, "acknowledged"))
        return TWINWATCH__V1__ALERT_STATE__ACKNOWLEDGED;
    if (!strcmp(s, "resolved"))
        return TWINWATCH__V1__ALERT_STATE__RESOLVED;
    return TWINWATCH__V1__ALERT_STATE__OPEN;
}

/* Produces one fetched row; the outbox id travels as the message's opaque
 * to its delivery report. */
static void produce_row(tw_publisher *p, const PGresult *r, int i)
{
    Twinwatch__V1__Alert a = TWINWATCH__V1__ALERT__INIT;
    int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    a.alert_id = PQgetvalue(r, i, 1);
    a.rule = PQgetvalue(r, i, 2);
    a.subject = PQgetvalue(r, i, 3);
    a.state = state_of(PQgetvalue(r, i, 4));
    a.severity = strcmp(PQgetvalue(r, i, 5), "critical") ? TWINWATCH__V1__SEVERITY__WARNING
                                                         : TWINWATCH__V1__SEVERITY__CRITICAL;
    a.transition_no = (uint32_t)strtoul(PQgetvalue(r, i, 6), NULL, 10);
    a.opened_at_ms = strtoll(PQgetvalue(r, i, 7), NULL, 10);
    a.changed_at_ms = strtoll(PQgetvalue(r, i, 8), NULL, 10);
    a.summary = PQgetvalue(r, i, 9);
    a.summary_en = PQgetvalue(r, i, 10);
    a.agency_code = PQgetvalue(r, i, 11);
    a.locality_code = PQgetvalue(r, i, 12);
    a.pledge_id = PQgetvalue(r, i, 13);
    a.cause_event_id = PQgetvalue(r, i, 14);
    a.by = PQgetvalue(r, i, 15);
    a.note = PQgetvalue(r, i, 16);

    size_t len = twinwatch__v1__alert__get_packed_size(&a);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        tw_error("out of memory encoding alert %s #%u; retrying", a.alert_id, a.transition_no);
        if (!p->refused || id < p->refused)
            p->refused = id;
        return;
    }
    twinwatch__v1__alert__pack(&a, buf);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_KEY(a.alert_id, strlen(a.alert_id)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)id), RD_KAFKA_V_END);
    if (e) {
        free(buf);
        tw_error("produce alert %s #%u to %s: %s; retrying", a.alert_id, a.transition_no, p->topic,
                 rd_kafka_err2str(e));
        if (!p->refused || id < p->refused)
            p->refused = id;
        return;
    }
    buf = NULL; /* owned by librdkafka now */
    p->in_flight++;
    if (id > p->fetched_upto)
        p->fetched_upto = id;
}

/* The unsent count queued after a fetch or a mark, for /metrics. */
static void read_unsent(tw_publisher *p, const PGresult *r)
{
    if (PQntuples(r) == 1)
        p->unsent = atoll(PQgetvalue(r, 0, 0));
}

static void on_mark_result(void *arg, int stmt, const PGresult *r)
{
    if (stmt == 1)
        read_unsent(arg, r);
}

static void on_fetched_row(void *arg, int stmt, const PGresult *r)
{
    tw_publisher *p = arg;
    if (stmt == 1) {
        read_unsent(p, r);
        return;
    }
    p->fetched_rows = PQntuples(r);
    for (int i = 0; i < p->fetched_rows; i++)
        produce_row(p, r, i);
}

static void on_fetched(void *arg, int ok, const char *err)
{
    tw_publisher *p = arg;
    if (!ok) {
        tw_error("fetch the alert outbox: %s", err);
        p->want_fetch = 1;
        return;
    }
    if (p->fetched_rows > 0)
        tw_debug("outbox: %d transition(s) sent to %s", p->fetched_rows, p->topic);
    if (p->refused) {
        /* fetch again from the first row not handed to librdkafka, in a
         * moment: its queue is full or memory is short */
        p->fetched_upto = p->refused - 1;
        p->refused = 0;
        p->want_fetch = 1;
        schedule_in(p, 0.5);
        return;
    }
    if (p->fetched_rows == FETCH_LIMIT)
        p->want_fetch = 1;
    schedule(p);
}

static void on_marked(void *arg, int ok, const char *err)
{
    tw_publisher *p = arg;
    if (!ok) {
        tw_error("mark acknowledged alerts sent: %s; marking them again", err);
        p->n_marking = 0;
        return;
    }
    p->marked += (long long)p->n_marking;
    memmove(p->acked, p->acked + p->n_marking, (p->n_acked - p->n_marking) * sizeof *p->acked);
    p->n_acked -= p->n_marking;
    p->n_marking = 0;
    schedule(p);
}

/* Queues the UPDATE marking acknowledged rows; returns -1 if refused. */
static int send_mark(tw_publisher *p)
{
    tw_pgarr ids;
    tw_pgparams q;
    int rc;
    tw_pgarr_init(&ids, TW_OID_INT8_ARRAY);
    for (size_t i = 0; i < p->n_acked; i++)
        tw_pgarr_int8(&ids, p->acked[i]);
    tw_pgparams_clear(&q);
    rc = tw_pgparams_array(&q, &ids);
    if (rc == 0)
        rc = tw_pgpipe_send(tw_listener_pipe(p->l),
                            "UPDATE alerting.outbox SET sent_at = clock_timestamp()"
                            " WHERE id = ANY ($1) AND sent_at IS NULL",
                            &q);
    if (rc == 0)
        rc = tw_pgpipe_send(tw_listener_pipe(p->l), SQL_UNSENT, NULL);
    tw_pgarr_free(&ids);
    if (rc == 0)
        p->n_marking = p->n_acked;
    return rc;
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_publisher *p = w->data;
    (void)loop;
    (void)revents;
    if (tw_listener_busy(p->l))
        return;
    if (p->n_acked > 0) {
        if (send_mark(p) < 0)
            tw_error("queue marking alerts sent: %s", tw_listener_pipe(p->l)->err);
        tw_listener_run(p->l, on_mark_result, on_marked, p);
        return;
    }
    if (p->want_fetch) {
        char upto[24];
        tw_pgparams q;
        p->want_fetch = 0;
        p->fetched_rows = 0;
        snprintf(upto, sizeof upto, "%lld", (long long)p->fetched_upto);
        tw_pgparams_clear(&q);
        tw_pgparams_text(&q, upto);
        if (tw_pgpipe_send(tw_listener_pipe(p->l), SQL_FETCH, &q) < 0 ||
            tw_pgpipe_send(tw_listener_pipe(p->l), SQL_UNSENT, NULL) < 0)
            tw_error("queue the outbox fetch: %s", tw_listener_pipe(p->l)->err);
        tw_listener_run(p->l, on_fetched_row, on_fetched, p);
    }
}

/* One line per alert transition the broker has acknowledged: where it went,
 * and the event that caused it (event_id) when one did. */
static void log_published(const tw_publisher *p, const rd_kafka_message_t *m, int64_t id)
{
    static const char *states[] = {"open", "acknowledged", "resolved"};
    Twinwatch__V1__Alert *a = twinwatch__v1__alert__unpack(NULL, m->len, m->payload);
    if (!a) {
        tw_error("alert outbox row %lld: published, but its message does not decode",
                 (long long)id);
        return;
    }
    tw_log_ctx where = {p->topic, m->partition, m->offset,
                        *a->cause_event_id ? a->cause_event_id : NULL};
    tw_log_at(TW_LOG_INFO, &where, "alert %s #%u %s: %s %s (%s)", a->alert_id, a->transition_no,
              (unsigned)a->state < 3 ? states[a->state] : "?", a->rule, a->subject,
              a->severity == TWINWATCH__V1__SEVERITY__CRITICAL ? "critical" : "warning");
    twinwatch__v1__alert__free_unpacked(a, NULL);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tw_publisher *p = opaque;
    int64_t id = (int64_t)(intptr_t)m->_private;
    (void)rk;
    p->in_flight--;
    p->last_report = ev_time();
    if (m->err) {
        tw_error("alert outbox row %lld not acknowledged by %s [%d]: %s; publishing it again",
                 (long long)id, p->topic, m->partition, rd_kafka_err2str(m->err));
        if (id - 1 < p->fetched_upto)
            p->fetched_upto = id - 1;
        p->want_fetch = 1;
        schedule(p);
        return;
    }
    if (p->n_acked == p->cap_acked) {
        size_t cap = p->cap_acked ? p->cap_acked * 2 : 256;
        int64_t *a = realloc(p->acked, cap * sizeof *a);
        if (!a) {
            tw_error("out of memory recording the acknowledgement of outbox row %lld; it is "
                     "published again after a restart",
                     (long long)id);
            return;
        }
        p->acked = a;
        p->cap_acked = cap;
    }
    p->acked[p->n_acked++] = id;
    p->published++;
    log_published(p, m, id);
    schedule(p);
}

static void on_kafka_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_publisher *p = w->data;
    (void)loop;
    (void)revents;
    tw_kafka_wakeup_drain(&p->wake);
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
}

static void on_ready(void *arg)
{
    tw_publisher *p = arg;
    p->want_fetch = 1;
    schedule(p);
}

static void on_down(void *arg)
{
    tw_publisher *p = arg;
    p->n_marking = 0;
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    tw_publisher *p = arg;
    (void)channel;
    (void)payload;
    p->want_fetch = 1;
    schedule(p);
}

#define ALERT_GUARANTEE                                                                            \
    "an alert is marked sent once every in-sync replica has it, and is never written twice "       \
    "(the sentinel's producer is idempotent, acks=all)"

const tw_conf_reserved tw_publisher_reserved[] = {
    {"kafka.enable.idempotence", ALERT_GUARANTEE},
    {"kafka.acks", ALERT_GUARANTEE},
    {"kafka.request.required.acks", ALERT_GUARANTEE},
    {NULL, NULL},
};

tw_publisher *tw_publisher_start(struct ev_loop *loop, const tw_config *cfg, char *err,
                                 size_t errlen)
{
    static const tw_listener_cbs cbs = {on_ready, on_notify, on_down};
    static const char *const defaults[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", "5", "client.id",
        "twinwatch-sentinel", NULL};
    rd_kafka_conf_t *conf = NULL;
    tw_publisher *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory starting the publisher");
        return NULL;
    }
    p->loop = loop;
    p->topic = tw_config_str(cfg, "topic");
    ev_init(&p->kick, on_kick);
    p->kick.data = p;
    p->wake.fds[0] = p->wake.fds[1] = -1;
    conf = tw_kafka_conf(tw_config_str(cfg, "kafka.brokers"), defaults, cfg, err, errlen);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)))
        goto fail;
    conf = NULL; /* owned by rk now */
    p->mainq = rd_kafka_queue_get_main(p->rk);
    if (tw_kafka_wakeup_start(&p->wake, loop, p->mainq, on_kafka_ready, p, err, errlen) < 0)
        goto fail;
    p->l = tw_listener_new(loop, tw_config_str(cfg, "pg.conninfo"), "twinwatch-sentinel-publisher",
                           channels, (double)tw_config_int(cfg, "retry.max_ms") / 1000.0, &cbs, p);
    if (!p->l) {
        snprintf(err, errlen, "out of memory starting the publisher");
        goto fail;
    }
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    tw_publisher_stop(p, 0);
    return NULL;
}

void tw_publisher_status_get(const tw_publisher *p, tw_publisher_status *st)
{
    memset(st, 0, sizeof *st);
    st->connected = tw_listener_ready(p->l);
    st->published = p->published;
    st->marked = p->marked;
    st->in_flight = p->in_flight;
    st->last_report = p->last_report;
    st->unsent = p->unsent;
}

void tw_publisher_stop(tw_publisher *p, int timeout_ms)
{
    if (!p)
        return;
    if (p->rk) {
        rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms); /* runs on_delivery */
        if (e)
            tw_warn("%d alert message(s) not acknowledged at shutdown; they stay in the outbox "
                    "and are published at the next start",
                    rd_kafka_outq_len(p->rk));
    }
    if (p->l && tw_listener_ready(p->l)) {
        tw_listener_finish(p->l);
        if (tw_listener_ready(p->l) && p->n_acked > 0 && send_mark(p) == 0) {
            tw_listener_run(p->l, on_mark_result, on_marked, p);
            tw_listener_finish(p->l);
        }
    }
    ev_timer_stop(p->loop, &p->kick); /* on_delivery may have started it */
    tw_info("publisher: %lld alert transition(s) published, %lld marked sent", p->published,
            p->marked);
    if (p->wake.fds[0] >= 0)
        tw_kafka_wakeup_stop(&p->wake, p->loop);
    if (p->mainq)
        rd_kafka_queue_destroy(p->mainq);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    tw_listener_free(p->l);
    free(p->acked);
    free(p);
}
