/* anchors.c: publishing the partitions' chain heads (see anchors.h). */
#include "anchors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "kafka.h"
#include "log.h"

struct tw_anchors {
    struct ev_loop *loop;
    const char *topic;
    const tw_parts *ps;
    rd_kafka_t *rk;
    ev_timer timer;
    /* the last head published per partition, and those published but not
     * yet recorded in audit.anchor */
    int64_t anchored_off[TW_MAX_PARTS];
    int pending[TW_MAX_PARTS];
    int64_t pend_off[TW_MAX_PARTS];
    uint8_t pend_hash[TW_MAX_PARTS][TW_CHAIN_HASH_LEN];
};

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
        tw_kafka_log(rk, level, fac, buf);
}

/* Publishes the committed heads of assigned partitions that moved. */
static void publish(tw_anchors *a)
{
    char msg[256], key[160];
    for (int p = 0; p < TW_MAX_PARTS; p++) {
        const uint8_t *head;
        int64_t off = tw_parts_head(a->ps, p, &head);
        if (!tw_parts_assigned(a->ps, p) || off < 0 || off == a->anchored_off[p])
            continue;
        size_t n = tw_anchor_format(msg, sizeof msg, a->topic, p, off, head);
        snprintf(key, sizeof key, "%s/%d", a->topic, p);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            a->rk, RD_KAFKA_V_TOPIC(TW_TOPIC_ANCHORS), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(msg, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            tw_error("p%d: anchor not published: %s (retried at the next interval)", p,
                     rd_kafka_err2str(e));
            continue;
        }
        a->anchored_off[p] = off;
        a->pending[p] = 1;
        a->pend_off[p] = off;
        memcpy(a->pend_hash[p], head, TW_CHAIN_HASH_LEN);
    }
    rd_kafka_poll(a->rk, 0); /* delivery reports */
}

static void on_anchor_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    publish(w->data);
}

tw_anchors *tw_anchors_start(struct ev_loop *loop, const tw_config *cfg, const char *topic,
                             const tw_parts *ps, char *err, size_t errlen)
{
    static const char *const defaults[] = {"acks", "all", "linger.ms", "5", NULL};
    char why[512];
    tw_anchors *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->topic = topic;
    a->ps = ps;
    for (int i = 0; i < TW_MAX_PARTS; i++)
        a->anchored_off[i] = -1;
    /* The kafka.* settings apply here as to the consumer: the same broker,
     * TLS and SASL. */
    rd_kafka_conf_t *conf =
        tw_kafka_conf(tw_config_str(cfg, "kafka.brokers"), defaults, cfg, err, errlen);
    if (!conf) {
        free(a);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_anchor_delivered);
    rd_kafka_conf_set_log_cb(conf, on_anchor_log);
    if (!(a->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "Kafka producer for %s: %s", TW_TOPIC_ANCHORS, why);
        free(a);
        return NULL;
    }
    conf = NULL; /* owned by rk now */
    double every = (double)tw_config_int(cfg, "audit.anchor_interval_s");
    ev_timer_init(&a->timer, on_anchor_due, every, every);
    a->timer.data = a;
    ev_timer_start(loop, &a->timer);
    return a;
}

void tw_anchors_attach(tw_anchors *a, int lane, tw_batch *b)
{
    for (int p = 0; p < TW_MAX_PARTS; p++)
        if (tw_parts_lane(a->ps, p) == lane && a->pending[p] &&
            tw_batch_add_anchor(b, p, a->pend_off[p], a->pend_hash[p]) < 0)
            break;
}

void tw_anchors_recorded(tw_anchors *a, const tw_batch *b)
{
    const int32_t *parts;
    const int64_t *offs;
    int n = tw_batch_anchors(b, &parts, &offs);
    for (int i = 0; i < n; i++)
        if (a->pend_off[parts[i]] == offs[i])
            a->pending[parts[i]] = 0;
}

static void on_recorded(void *arg, int ok, const char *err)
{
    (void)arg;
    if (!ok)
        tw_warn("the last anchors are published but not recorded in audit.anchor: %s", err);
}

void tw_anchors_stop(tw_anchors *a, int publish_last, tw_pgpipe *pipe)
{
    if (!a)
        return;
    ev_timer_stop(a->loop, &a->timer);
    if (publish_last)
        publish(a);
    tw_pgarr arr[3];
    tw_pgparams q;
    tw_pgarr_init(&arr[0], TW_OID_INT4_ARRAY);
    tw_pgarr_init(&arr[1], TW_OID_INT8_ARRAY);
    tw_pgarr_init(&arr[2], TW_OID_BYTEA_ARRAY);
    for (int p = 0; p < TW_MAX_PARTS; p++)
        if (a->pending[p]) {
            tw_pgarr_int4(&arr[0], p);
            tw_pgarr_int8(&arr[1], a->pend_off[p]);
            tw_pgarr_bytes(&arr[2], a->pend_hash[p], TW_CHAIN_HASH_LEN);
        }
    tw_pgparams_clear(&q);
    tw_pgparams_text(&q, a->topic);
    /* The loop has stopped: a blocking statement holds nothing up. */
    if (arr[0].n > 0 && pipe && tw_pgparams_array(&q, &arr[0]) == 0 &&
        tw_pgparams_array(&q, &arr[1]) == 0 && tw_pgparams_array(&q, &arr[2]) == 0 &&
        tw_pgpipe_send(pipe,
                       "INSERT INTO audit.anchor (topic, kafka_partition, kafka_offset, hash)"
                       " SELECT $1, unnest($2::int4[]), unnest($3::int8[]), unnest($4::bytea[])",
                       &q) == 0)
        tw_pgpipe_finish(pipe, NULL, on_recorded, a);
    for (int i = 0; i < 3; i++)
        tw_pgarr_free(&arr[i]);
    if (rd_kafka_flush(a->rk, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        tw_error("%d anchor(s) not published at shutdown", rd_kafka_outq_len(a->rk));
    rd_kafka_destroy(a->rk);
    free(a);
}
