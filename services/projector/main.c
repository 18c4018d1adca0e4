/* main.c: the projector. Parses arguments, loads config, starts the
 * projector (projector.c) on one libev loop and runs it until a signal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "lanes.h"
#include "log.h"
#include "projector.h"
#include "settings.h"

static const tw_conf_def settings[] = {
    {"kafka.brokers", TW_CONF_STRING, "127.0.0.1:9092", 1, 0,
     "Kafka bootstrap servers (host:port,...)"},
    {"topic", TW_CONF_STRING, "twinwatch.events.v1", 1, 0, "events topic to project"},
    {"group.id", TW_CONF_STRING, "twinwatch-projector", 1, 0, "Kafka consumer group"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0,
     "libpq connection string (empty: PG* environment variables)"},
    {"batch.max_events", TW_CONF_INT, "3000", 1, 1000000, "close a batch at this many events"},
    {"batch.max_ms", TW_CONF_INT, "50", 1, 60000, "close a batch this long after its first event"},
    {"lanes", TW_CONF_INT, "2", 1, TW_MAX_LANES,
     "PostgreSQL connections writing batches in parallel (partitions split among them)"},
    {"cache.max_entries", TW_CONF_INT, "40000", 0, 100000000,
     "twinnings + pledges kept in memory between batches, all lanes together (0: none)"},
    {"retry.max_ms", TW_CONF_INT, "5000", 100, 600000,
     "longest wait between reconnect attempts to PostgreSQL"},
    {"http.port", TW_CONF_INT, "0", 0, 65535,
     "port of GET /metrics and /healthz (0: not served; the examples use 9464)"},
    {"http.address", TW_CONF_STRING, "0.0.0.0", 1, 0, "address /metrics and /healthz listen on"},
    {"health.stall_ms", TW_CONF_INT, "60000", 1000, 3600000,
     "/healthz fails when events wait and no batch has committed for this long"},
    {"audit.anchor_interval_s", TW_CONF_INT, "300", 1, 86400,
     "publish the partitions' chain heads to twinwatch.audit-anchors.v1 this often (and at stop)"},
    {"log.format", TW_CONF_STRING, "text", 1, 0, "text or json"},
    {"log.level", TW_CONF_STRING, "info", 1, 0, "debug (one line per batch), info, warn, error"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void usage(FILE *out, const tw_config *cfg)
{
    fprintf(out, "usage: projector [--config FILE] [--set KEY=VALUE]... [--log-format text|json]\n"
                 "                 [--log-level debug|info|warn|error] [--print-config]\n"
                 "Projects twinwatch events from Kafka into PostgreSQL, exactly once.\n"
                 "settings (file \"key = value\", env TWINWATCH_<KEY>, or --set):\n");
    tw_config_print_help(cfg, out);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    tw_info("signal %d: closing the open batch and stopping", w->signum);
    tw_projector_stop_soon(w->data);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = EV_DEFAULT;
    ev_signal sigterm, sigint;
    tw_projector *pr = NULL;
    char err[512];
    int rc = 1;

    tw_log_init("projector");
    signal(SIGPIPE, SIG_IGN);
    tw_config *cfg = tw_config_new(settings, "kafka.");
    if (!cfg)
        return 1;
    tw_config_passthrough_rules(cfg, tw_consumer_check, tw_consumer_reserved);
    int st = tw_settings_load(cfg, "projector", usage, argc, argv);
    if (st != 0) {
        rc = st < 0 ? 2 : 0;
        goto done;
    }
    if (!(pr = tw_projector_start(loop, cfg, err, sizeof err))) {
        tw_error("%s", err);
        goto done;
    }
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    sigterm.data = pr;
    ev_signal_start(loop, &sigterm);
    ev_signal_init(&sigint, on_signal, SIGINT);
    sigint.data = pr;
    ev_signal_start(loop, &sigint);
    ev_run(loop, 0);
    rc = 0;
done:
    tw_projector_free(pr);
    tw_config_free(cfg);
    return rc;
}
