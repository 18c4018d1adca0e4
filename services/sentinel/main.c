/* main.c: the sentinel, twinwatch's alert engine. Parses arguments, loads
 * config, wires the evaluator and the outbox publisher to one libev loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "settings.h"
#include "sentinel.h"

static const tw_conf_def settings[] = {
    {"kafka.brokers", TW_CONF_STRING, "127.0.0.1:9092", 1, 0,
     "Kafka bootstrap servers (host:port,...)"},
    {"topic", TW_CONF_STRING, TW_TOPIC_ALERTS, 1, 0, "topic the alert transitions go to"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0,
     "libpq connection string (empty: PG* environment variables)"},
    {"retry.max_ms", TW_CONF_INT, "5000", 100, 600000,
     "longest wait between reconnect attempts to PostgreSQL"},
    {"shutdown.flush_ms", TW_CONF_INT, "5000", 0, 600000,
     "how long a stop waits for the broker to acknowledge alerts in flight"},
    {"http.port", TW_CONF_INT, "0", 0, 65535,
     "port of GET /metrics and /healthz (0: not served; the examples use 9465)"},
    {"http.address", TW_CONF_STRING, "0.0.0.0", 1, 0, "address /metrics and /healthz listen on"},
    {"log.format", TW_CONF_STRING, "text", 1, 0, "text or json"},
    {"log.level", TW_CONF_STRING, "info", 1, 0,
     "debug (one line per evaluation), info (per transition batch), warn, error"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void usage(FILE *out, const tw_config *cfg)
{
    fprintf(out,
            "usage: sentinel [--config FILE] [--set KEY=VALUE]... [--log-format text|json]\n"
            "                [--log-level debug|info|warn|error] [--print-config]\n"
            "Raises, escalates and resolves twinwatch's alerts (rules in alerting.rule_config,\n"
            "changed with twinctl rules set) and publishes each transition to Kafka.\n"
            "settings (file \"key = value\", env TWINWATCH_<KEY>, or --set):\n");
    tw_config_print_help(cfg, out);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    tw_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = EV_DEFAULT;
    ev_signal sigterm, sigint;
    tw_eval *eval = NULL;
    tw_publisher *pub = NULL;
    tw_sentinel_observe *obs = NULL;
    char err[512];
    int rc = 1;

    tw_log_init("sentinel");
    signal(SIGPIPE, SIG_IGN);
    tw_config *cfg = tw_config_new(settings, "kafka.");
    if (!cfg)
        return 1;
    tw_config_passthrough_rules(cfg, tw_kafka_check, tw_publisher_reserved);
    int st = tw_settings_load(cfg, "sentinel", usage, argc, argv);
    if (st != 0) {
        rc = st < 0 ? 2 : 0;
        goto done;
    }
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigterm);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigint);
    if (!(pub = tw_publisher_start(loop, cfg, err, sizeof err)) ||
        !(eval = tw_eval_start(loop, cfg, err, sizeof err)) ||
        !(obs = tw_sentinel_observe_start(loop, cfg, eval, pub, err, sizeof err))) {
        tw_error("%s", err);
        goto done;
    }
    tw_info("started: alerts to %s", tw_config_str(cfg, "topic"));
    ev_run(loop, 0);
    rc = 0;
done:
    tw_sentinel_observe_stop(obs);
    tw_eval_free(eval);
    tw_publisher_stop(pub, (int)tw_config_int(cfg, "shutdown.flush_ms"));
    tw_config_free(cfg);
    return rc;
}
