/* producer.c: the gateway's Kafka producer, idempotent with acks=all
 * (tw_kafka_producer_conf, as twinctl publish). Delivery reports arrive on
 * the loop: librdkafka's main queue wakes an ev_io through a pipe
 * (tw_kafka_wakeup) and is drained there. A request's messages share one
 * batch, the messages' opaque; the request is answered when the batch's
 * last report is in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "kafka.h"
#include "log.h"

typedef struct batch {
    size_t in_flight;
    int enqueued_all; /* every message handed to librdkafka (or given up) */
    rd_kafka_resp_err_t err;
    char why[256];
    tw_gwprod_fn fn;
    void *arg;
} batch;

struct tw_gwprod {
    struct ev_loop *loop;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    tw_kafka_wakeup wake;
    const char *topic;
    int brokers_down;
    uint8_t secret[TW_SECRET_MAX]; /* provenance.secret_file, shared with the projectors */
    size_t secret_len;
};

static void batch_settle(batch *b)
{
    if (b->in_flight || !b->enqueued_all)
        return;
    b->fn(b->arg, b->err == RD_KAFKA_RESP_ERR_NO_ERROR, b->why);
    free(b);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tw_gwprod *p = opaque;
    batch *b = m->_private;
    (void)rk;
    if (m->err && !b->err) {
        b->err = m->err;
        snprintf(b->why, sizeof b->why, "Kafka did not acknowledge: %s", rd_kafka_err2str(m->err));
    } else if (!m->err) {
        p->brokers_down = 0;
    }
    b->in_flight--;
    batch_settle(b);
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    tw_gwprod *p = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        p->brokers_down = 1;
    tw_warn("kafka: %s", reason);
}

static void on_kafka_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_gwprod *p = w->data;
    (void)loop;
    (void)revents;
    tw_kafka_wakeup_drain(&p->wake);
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
}

tw_gwprod *tw_gwprod_start(struct ev_loop *loop, const tw_config *cfg, char *err, size_t errlen)
{
    char timeout[32], e[512];
    tw_gwprod *p = calloc(1, sizeof *p);
    rd_kafka_conf_t *conf;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->topic = tw_config_str(cfg, "topic");
    if (*tw_config_str(cfg, "provenance.secret_file")) {
        int n = tw_secret_load(tw_config_str(cfg, "provenance.secret_file"), p->secret,
                               sizeof p->secret, e, sizeof e);
        if (n < 0) {
            snprintf(err, errlen, "provenance.secret_file: %s", e);
            free(p);
            return NULL;
        }
        p->secret_len = (size_t)n;
    }
    snprintf(timeout, sizeof timeout, "%lld",
             (long long)tw_config_int(cfg, "ingest.ack_timeout_ms"));
    if (!(conf = tw_kafka_producer_conf(tw_config_str(cfg, "kafka.brokers"), "twinwatch-gateway",
                                        "2", timeout, cfg, e, sizeof e))) {
        snprintf(err, errlen, "Kafka producer: %s", e);
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_log_cb(conf, tw_kafka_log);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "Kafka producer: %s", e);
        free(p);
        return NULL;
    }
    conf = NULL; /* owned by rk now */
    p->mainq = rd_kafka_queue_get_main(p->rk);
    if (tw_kafka_wakeup_start(&p->wake, loop, p->mainq, on_kafka_ready, p, err, errlen) < 0) {
        rd_kafka_queue_destroy(p->mainq);
        rd_kafka_destroy(p->rk);
        free(p);
        return NULL;
    }
    return p;
}

int tw_gwprod_send(tw_gwprod *p, size_t n, uint8_t **values, const size_t *lens, char **keys,
                   const char *token_id, tw_gwprod_fn fn, void *arg)
{
    batch *b = calloc(1, sizeof *b);
    size_t i;
    if (!b) {
        for (i = 0; i < n; i++)
            free(values[i]);
        return -1;
    }
    b->fn = fn;
    b->arg = arg;
    for (i = 0; i < n; i++) {
        /* the MAC proves to the projectors that the gateway wrote the header */
        uint8_t mac[TW_MAC_LEN];
        if (p->secret_len)
            tw_gateway_mac(p->secret, p->secret_len, token_id, values[i], lens[i], mac);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_KEY(keys[i], strlen(keys[i])),
            RD_KAFKA_V_VALUE(values[i], lens[i]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_HEADER(TW_HDR_GATEWAY_TOKEN, token_id, (ssize_t)strlen(token_id)),
            RD_KAFKA_V_HEADER(TW_HDR_GATEWAY_MAC, mac, p->secret_len ? TW_MAC_LEN : 0),
            RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
        if (e) {
            b->err = e;
            snprintf(b->why, sizeof b->why, "Kafka refused event %zu: %s", i + 1,
                     rd_kafka_err2str(e));
            break;
        }
        values[i] = NULL; /* owned by librdkafka now */
        b->in_flight++;
    }
    for (size_t j = i; j < n; j++) {
        free(values[j]);
        values[j] = NULL;
    }
    if (b->in_flight == 0) {
        free(b);
        return -1;
    }
    b->enqueued_all = 1; /* the reports come through the loop, never from here */
    return 0;
}

int tw_gwprod_up(const tw_gwprod *p)
{
    return !p->brokers_down;
}

int tw_gwprod_queue_len(const tw_gwprod *p)
{
    return rd_kafka_outq_len(p->rk);
}

void tw_gwprod_stop(tw_gwprod *p, int flush_ms)
{
    if (!p)
        return;
    rd_kafka_flush(p->rk, flush_ms);
    tw_kafka_wakeup_stop(&p->wake, p->loop);
    rd_kafka_queue_destroy(p->mainq);
    rd_kafka_destroy(p->rk);
    free(p);
}
