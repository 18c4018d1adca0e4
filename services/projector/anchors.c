/* anchors.c: the projector publishes its partitions' chain heads to
 * twinwatch.audit-anchors.v1 every audit.anchor_interval_s and at shutdown
 * (DESIGN.md "Audit trail"), so that a truncated or recomputed chain is
 * detectable from outside the database. Only committed heads are published;
 * each published anchor is then recorded in audit.anchor by the next batch
 * of its partition's lane (or at shutdown), which is bookkeeping: the copy
 * that counts is the one on Kafka. */
#include "projector.h"

#include <stdio.h>
#include <string.h>

#include "anchor.h"
#include "log.h"

static void on_anchor_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        tw_error("anchor %.*s not published: %s (the next one covers it)", (int)m->len,
                 (const char *)m->payload, rd_kafka_err2str(m->err));
}

/* The producer takes the consumer's kafka.* settings, so librdkafka's
 * configuration warnings (a consumer property this producer ignores) would
 * be noise; the consumer gives any that matter, once. */
static void on_anchor_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (strcmp(fac, "CONFWARN") != 0)
        tw_consumer_on_kafka_log(rk, level, fac, buf);
}

static void on_anchor_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    tw_anchors_publish(w->data);
}

int tw_anchors_start(tw_projector *pr, char *err, size_t errlen)
{
    static const char *const defaults[] = {"acks", "all", "linger.ms", "5", NULL};
    char why[512];
    for (int i = 0; i < TW_PROJ_MAX_PARTS; i++)
        pr->head_off[i] = pr->anchored_off[i] = -1;
    /* The kafka.* settings apply here as to the consumer: the same broker,
     * TLS and SASL. */
    rd_kafka_conf_t *conf =
        tw_kafka_conf(tw_config_str(pr->cfg, "kafka.brokers"), defaults, pr->cfg, err, errlen);
    if (!conf)
        return -1;
    rd_kafka_conf_set_dr_msg_cb(conf, on_anchor_delivered);
    rd_kafka_conf_set_log_cb(conf, on_anchor_log);
    if (!(pr->anchor_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "Kafka producer for %s: %s", TW_TOPIC_ANCHORS, why);
        return -1;
    }
    conf = NULL; /* owned by anchor_rk now */
    double every = (double)tw_config_int(pr->cfg, "audit.anchor_interval_s");
    ev_timer_init(&pr->anchor_timer, on_anchor_due, every, every);
    pr->anchor_timer.data = pr;
    ev_timer_start(pr->loop, &pr->anchor_timer);
    return 0;
}

void tw_anchors_publish(tw_projector *pr)
{
    char msg[256], key[160];
    for (int p = 0; pr->anchor_rk && p < TW_PROJ_MAX_PARTS; p++) {
        if (!pr->assigned[p] || pr->head_off[p] < 0 || pr->head_off[p] == pr->anchored_off[p])
            continue;
        size_t n = tw_anchor_format(msg, sizeof msg, pr->topic, p, pr->head_off[p], pr->head[p]);
        snprintf(key, sizeof key, "%s/%d", pr->topic, p);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            pr->anchor_rk, RD_KAFKA_V_TOPIC(TW_TOPIC_ANCHORS), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(msg, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            tw_error("p%d: anchor not published: %s (retried at the next interval)", p,
                     rd_kafka_err2str(e));
            continue;
        }
        pr->anchored_off[p] = pr->head_off[p];
        pr->anchor_pending[p] = 1;
        pr->pend_off[p] = pr->head_off[p];
        memcpy(pr->pend_hash[p], pr->head[p], TW_CHAIN_HASH_LEN);
    }
    if (pr->anchor_rk)
        rd_kafka_poll(pr->anchor_rk, 0); /* delivery reports */
}

void tw_anchors_attach(tw_projector *pr, tw_lane *l, tw_batch *b)
{
    for (int p = 0; p < TW_PROJ_MAX_PARTS; p++)
        if (pr->lane_of[p] == l->no && pr->anchor_pending[p] &&
            tw_batch_add_anchor(b, p, pr->pend_off[p], pr->pend_hash[p]) < 0)
            break;
}

void tw_anchors_recorded(tw_projector *pr, const tw_batch *b)
{
    const int32_t *parts;
    const int64_t *offs;
    int n = tw_batch_anchors(b, &parts, &offs);
    for (int i = 0; i < n; i++)
        if (pr->pend_off[parts[i]] == offs[i])
            pr->anchor_pending[parts[i]] = 0;
}

static void on_recorded(void *arg, int ok, const char *err)
{
    (void)arg;
    if (!ok)
        tw_warn("the last anchors are published but not recorded in audit.anchor: %s", err);
}

void tw_anchors_stop(tw_projector *pr)
{
    if (!pr->anchor_rk)
        return;
    ev_timer_stop(pr->loop, &pr->anchor_timer);
    if (!pr->resync)
        tw_anchors_publish(pr);
    tw_lane *l = &pr->lanes[0];
    tw_pgarr a[3];
    tw_pgparams q;
    tw_pgarr_init(&a[0], TW_OID_INT4_ARRAY);
    tw_pgarr_init(&a[1], TW_OID_INT8_ARRAY);
    tw_pgarr_init(&a[2], TW_OID_BYTEA_ARRAY);
    for (int p = 0; p < TW_PROJ_MAX_PARTS; p++)
        if (pr->anchor_pending[p]) {
            tw_pgarr_int4(&a[0], p);
            tw_pgarr_int8(&a[1], pr->pend_off[p]);
            tw_pgarr_bytes(&a[2], pr->pend_hash[p], TW_CHAIN_HASH_LEN);
        }
    tw_pgparams_clear(&q);
    tw_pgparams_text(&q, pr->topic);
    /* The loop has stopped: a blocking statement on lane 0 holds nothing up. */
    if (a[0].n > 0 && l->pg && !l->pipe.running && tw_pgparams_array(&q, &a[0]) == 0 &&
        tw_pgparams_array(&q, &a[1]) == 0 && tw_pgparams_array(&q, &a[2]) == 0 &&
        tw_pgpipe_send(&l->pipe,
                       "INSERT INTO audit.anchor (topic, kafka_partition, kafka_offset, hash)"
                       " SELECT $1, unnest($2::int4[]), unnest($3::int8[]), unnest($4::bytea[])",
                       &q) == 0)
        tw_pgpipe_finish(&l->pipe, NULL, on_recorded, pr);
    for (int i = 0; i < 3; i++)
        tw_pgarr_free(&a[i]);
    if (rd_kafka_flush(pr->anchor_rk, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        tw_error("%d anchor(s) not published at shutdown", rd_kafka_outq_len(pr->anchor_rk));
    rd_kafka_destroy(pr->anchor_rk);
    pr->anchor_rk = NULL;
}
