/* main.c: the agency gateway, twinwatch's front door for agency systems
 * that speak HTTP and not Kafka. Parses arguments, loads config, wires the
 * HTTP server, PostgreSQL and the Kafka producer to one libev loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "kafka.h"
#include "log.h"
#include "map.h"
#include "settings.h"

static const tw_conf_def settings[] = {
    {"http.address", TW_CONF_STRING, "0.0.0.0", 1, 0, "address the API listens on"},
    {"http.port", TW_CONF_INT, "8443", 0, 65535, "port of the API (0: a free one, logged)"},
    {"http.tls.cert", TW_CONF_STRING, "", 0, 0,
     "PEM certificate file: with http.tls.key, the API is HTTPS (empty: plain HTTP)"},
    {"http.tls.key", TW_CONF_STRING, "", 0, 0, "PEM private key file of http.tls.cert"},
    {"http.max_connections", TW_CONF_INT, "256", 1, 10000,
     "connections at once; more are closed as they arrive"},
    {"http.idle_timeout_s", TW_CONF_INT, "15", 1, 3600, "an idle connection is closed after this"},
    {"http.request_timeout_s", TW_CONF_INT, "30", 1, 3600,
     "a request must arrive whole within this (slow or stalled clients get 408 and are cut)"},
    {"http.retry_after_s", TW_CONF_INT, "5", 1, 3600,
     "Retry-After of a 503 (Kafka or PostgreSQL unavailable)"},
    {"metrics.port", TW_CONF_INT, "-1", -1, 65535,
     "port of GET /metrics and /healthz (-1: on the API's port; the examples use 9466)"},
    {"metrics.address", TW_CONF_STRING, "127.0.0.1", 1, 0, "address /metrics listens on"},
    {"ingest.max_body_bytes", TW_CONF_INT, "8388608", 1024, 1073741824,
     "largest POST /v1/events body; larger ones get 413 unread"},
    {"ingest.max_event_bytes", TW_CONF_INT, "1000000", 256, 100000000,
     "largest event (packed protobuf): the topic's message size"},
    {"ingest.ack_timeout_ms", TW_CONF_INT, "15000", 1000, 300000,
     "how long a request waits for Kafka's acknowledgement before 503"},
    {"rate.requests_per_s", TW_CONF_INT, "50", 0, 1000000,
     "requests a second per token, sustained (0: no limit)"},
    {"rate.burst", TW_CONF_INT, "100", 1, 1000000, "requests a token may make at once"},
    {"kafka.brokers", TW_CONF_STRING, "127.0.0.1:9092", 1, 0,
     "Kafka bootstrap servers (host:port,...)"},
    {"topic", TW_CONF_STRING, TW_TOPIC_EVENTS, 1, 0, "topic the events go to"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0,
     "libpq connection string, as role twinwatch_gateway (empty: PG* variables)"},
    {"provenance.secret_file", TW_CONF_STRING, "", 0, 0,
     "a secret (>= 32 bytes) shared with the projectors' ingest.gateway_secret_file: each "
     "message gets an HMAC, so no other producer can pass for the gateway"},
    {"shutdown.flush_ms", TW_CONF_INT, "5000", 0, 600000,
     "how long a stop waits for Kafka to acknowledge what is in flight"},
    {"log.format", TW_CONF_STRING, "text", 1, 0, "text or json"},
    {"log.level", TW_CONF_STRING, "info", 1, 0, "debug, info, warn, error"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const tw_conf_reserved reserved[] = {
    TW_KAFKA_PRODUCER_RESERVED,
    {"kafka.message.timeout.ms", "set by ingest.ack_timeout_ms"},
    {NULL, NULL},
};

static void usage(FILE *out, const tw_config *cfg)
{
    fprintf(out, "usage: gateway [--config FILE] [--set KEY=VALUE]... [--log-format text|json]\n"
                 "               [--log-level debug|info|warn|error] [--print-config]\n"
                 "Takes agency systems' events over HTTP(S) with a bearer token per agency\n"
                 "(twinctl tokens issue) and publishes them to Kafka: POST /v1/events,\n"
                 "GET /v1/events/{event_id}, GET /v1/feed.\n"
                 "settings (file \"key = value\", env TWINWATCH_<KEY>, or --set):\n");
    tw_config_print_help(cfg, out);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    tw_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* A whole file into a NUL-terminated malloc'd string. */
static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static void metrics_only(void *arg, const char *path, tw_http_reply *r)
{
    if (!tw_gw_observe(arg, path, r)) {
        r->status = 404;
        r->body = "not found: try /metrics or /healthz\n";
        r->len = strlen(r->body);
    }
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = EV_DEFAULT;
    ev_signal sigterm, sigint;
    tw_gateway gw = {.loop = loop};
    char err[512], *cert = NULL, *key = NULL;
    int rc = 1;

    tw_log_init("gateway");
    signal(SIGPIPE, SIG_IGN);
    tw_config *cfg = tw_config_new(settings, "kafka.");
    if (!cfg)
        return 1;
    tw_config_passthrough_rules(cfg, tw_kafka_check, reserved);
    int st = tw_settings_load(cfg, "gateway", usage, argc, argv);
    if (st != 0) {
        rc = st < 0 ? 2 : 0;
        goto done;
    }
    gw.cfg = cfg;
    gw.topic = tw_config_str(cfg, "topic");
    gw.max_body = (size_t)tw_config_int(cfg, "ingest.max_body_bytes");
    gw.max_event_bytes = (size_t)tw_config_int(cfg, "ingest.max_event_bytes");
    gw.rate = (double)tw_config_int(cfg, "rate.requests_per_s");
    gw.burst = (double)tw_config_int(cfg, "rate.burst");
    gw.retry_after_s = (int)tw_config_int(cfg, "http.retry_after_s");
    const char *cert_path = tw_config_str(cfg, "http.tls.cert");
    const char *key_path = tw_config_str(cfg, "http.tls.key");
    if (!*cert_path != !*key_path) {
        tw_error("http.tls.cert and http.tls.key go together: give both for HTTPS, or neither");
        rc = 2;
        goto done;
    }
    if (*cert_path && (!(cert = slurp(cert_path, err, sizeof err)) ||
                       !(key = slurp(key_path, err, sizeof err)))) {
        tw_error("http.tls: %s", err);
        goto done;
    }
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigterm);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigint);
    if (!(gw.buckets = tw_map_new()) || !(gw.obs = tw_gwobs_new(&gw))) {
        tw_error("out of memory");
        goto done;
    }
    if (!(gw.db = tw_gwdb_start(loop, tw_config_str(cfg, "pg.conninfo"), err, sizeof err)) ||
        !(gw.prod = tw_gwprod_start(loop, cfg, err, sizeof err))) {
        tw_error("%s", err);
        goto done;
    }
    tw_httpd_opts o = {
        .addr = tw_config_str(cfg, "http.address"),
        .port = (int)tw_config_int(cfg, "http.port"),
        .conn_limit = (unsigned)tw_config_int(cfg, "http.max_connections"),
        .idle_timeout_s = (unsigned)tw_config_int(cfg, "http.idle_timeout_s"),
        .request_timeout_s = (double)tw_config_int(cfg, "http.request_timeout_s"),
        .max_body = gw.max_body,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
    };
    if (!(gw.http = tw_httpd_start_opts(loop, &o, tw_gw_on_request, &gw, err, sizeof err))) {
        tw_error("http: %s", err);
        goto done;
    }
    int mport = (int)tw_config_int(cfg, "metrics.port");
    if (mport >= 0 &&
        !(gw.metrics_http = tw_httpd_start(loop, tw_config_str(cfg, "metrics.address"), mport,
                                           metrics_only, &gw, err, sizeof err))) {
        tw_error("metrics: %s", err);
        goto done;
    }
    tw_info("listening on %s://%s:%d; events to %s", cert ? "https" : "http", o.addr,
            tw_httpd_port(gw.http), gw.topic);
    if (gw.metrics_http)
        tw_info("serving /metrics and /healthz on %s:%d", tw_config_str(cfg, "metrics.address"),
                tw_httpd_port(gw.metrics_http));
    ev_run(loop, 0);
    rc = 0;
done:
    tw_httpd_stop(gw.http);
    tw_httpd_stop(gw.metrics_http);
    tw_gwprod_stop(gw.prod, (int)tw_config_int(cfg, "shutdown.flush_ms"));
    tw_gwdb_stop(gw.db);
    tw_gwobs_free(gw.obs);
    if (gw.buckets) {
        size_t pos = 0;
        void *b;
        while ((b = tw_map_next(gw.buckets, &pos, NULL)))
            free(b);
        tw_map_free(gw.buckets);
    }
    free(cert);
    free(key);
    tw_config_free(cfg);
    return rc;
}
