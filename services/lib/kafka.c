/* kafka.c: librdkafka configuration and its libev wake-up pipe. */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int tw_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                 size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.%s = \"%s\": %s", key,
                 tw_config_is_secret(key) ? "****" : value, why);
        return -1;
    }
    return 0;
}

void tw_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    tw_log(level <= 3   ? TW_LOG_ERROR
           : level <= 4 ? TW_LOG_WARN
                        : TW_LOG_INFO,
           "kafka %s: %s", fac, buf);
}

int tw_kafka_check(const char *key, const char *value, char *why, size_t whylen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key, value, why, whylen);
    rd_kafka_conf_destroy(conf);
    return r == RD_KAFKA_CONF_OK ? 0 : -1;
}

typedef struct {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errlen;
    int failed;
} pass_ctx;

static void pass_one(void *arg, const char *key, const char *value, const char *source)
{
    pass_ctx *c = arg;
    char why[512];
    if (!c->failed && tw_kafka_set(c->conf, key + strlen("kafka."), value, why, sizeof why) < 0) {
        snprintf(c->err, c->errlen, "%s: %s", source, why);
        c->failed = 1;
    }
}

rd_kafka_conf_t *tw_kafka_conf(const char *brokers, const char *const *defaults,
                               const tw_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (brokers && *brokers && tw_kafka_set(conf, "bootstrap.servers", brokers, err, errlen) < 0)
        goto fail;
    for (int i = 0; defaults && defaults[i]; i += 2)
        if (tw_kafka_set(conf, defaults[i], defaults[i + 1], err, errlen) < 0)
            goto fail;
    if (cfg) {
        pass_ctx c = {conf, err, errlen, 0};
        tw_config_each_passthrough(cfg, pass_one, &c);
        if (c.failed)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int tw_kafka_wakeup_start(tw_kafka_wakeup *w, struct ev_loop *loop, rd_kafka_queue_t *q,
                          void (*cb)(struct ev_loop *, ev_io *, int), void *data, char *err,
                          size_t errlen)
{
    if (pipe2(w->fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe for the Kafka wake-up: %s", strerror(errno));
        return -1;
    }
    rd_kafka_queue_io_event_enable(q, w->fds[1], "1", 1);
    ev_io_init(&w->io, cb, w->fds[0], EV_READ);
    w->io.data = data;
    ev_io_start(loop, &w->io);
    return 0;
}

void tw_kafka_wakeup_stop(tw_kafka_wakeup *w, struct ev_loop *loop)
{
    ev_io_stop(loop, &w->io);
    close(w->fds[0]);
    close(w->fds[1]);
}

void tw_kafka_wakeup_drain(tw_kafka_wakeup *w)
{
    char buf[256];
    while (read(w->fds[0], buf, sizeof buf) > 0)
        ;
}
