/* main.c: twinctl, the operator's command line. Reads the settings given
 * before the command (--config FILE or TWINWATCH_CONFIG, TWINWATCH_*
 * variables, --set), then dispatches to the command. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "settings.h"
#include "twinctl.h"

static const tw_conf_def settings[] = {
    {"kafka.brokers", TW_CONF_STRING, "127.0.0.1:9092", 1, 0,
     "Kafka bootstrap servers (host:port,...; else KAFKA_BROKERS)"},
    {"topic", TW_CONF_STRING, TW_TOPIC_EVENTS, 1, 0,
     "events topic: publish, wait, status, offsets"},
    {"pg.conninfo", TW_CONF_STRING, "", 0, 0,
     "libpq connection string (empty: PG* environment variables); the role "
     "twinwatch_operator for every command but migrate"},
    {"migrate.conninfo", TW_CONF_STRING, "", 0, 0,
     "connection for migrate, as the database owner (empty: pg.conninfo)"},
    {"log.format", TW_CONF_STRING, "text", 1, 0, "text or json"},
    {"log.level", TW_CONF_STRING, "info", 1, 0, "debug, info, warn, error"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define PUBLISH_GUARANTEE                                                                          \
    "twinctl publish exits 0 only when every event is on every in-sync replica, once "             \
    "(an idempotent producer, acks=all)"

/* What twinctl's clients set themselves: publish.c's producer, and the
 * anchors' reader (services/lib/anchor.c) that stops at each partition's end. */
static const tw_conf_reserved reserved[] = {
    {"kafka.enable.idempotence", PUBLISH_GUARANTEE},
    {"kafka.acks", PUBLISH_GUARANTEE},
    {"kafka.request.required.acks", PUBLISH_GUARANTEE},
    {"kafka.enable.partition.eof", "twinctl audit verify --anchors reads to each partition's end"},
    {NULL, NULL},
};

static tw_config *cfg;

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"migrate", twctl_migrate, "apply the numbered migrations in schemas/"},
    {"load-reference", twctl_load_reference,
     "--agencies FILE --localities FILE --lineage FILE --effective DATE: reference data"},
    {"publish", twctl_publish, "[--format jsonl|csv] [--skip-invalid] FILE...: feed -> Kafka"},
    {"wait", twctl_wait, "--caught-up [--timeout S]: until the projector has every event"},
    {"status", twctl_status, "lag per partition, dead letters, events by type"},
    {"digest", twctl_digest, "SHA-256 of the canonical projection state"},
    {"report", twctl_report, "annual --year Y [--format md|csv|json] [--lang vi|en]"},
    {"dlq", twctl_dlq,
     "list [--reason R] [--pending] | show ID | replay ID.../--reason R: dead letters"},
    {"rebuild", twctl_rebuild, "--yes: recompute every projection from the event log"},
    {"offsets", twctl_offsets, "accept-loss PARTITION --by NAME: resume after retention loss"},
    {"alerts", twctl_alerts, "list | show ID | ack ID --by NAME --note TEXT | watch"},
    {"rules", twctl_rules, "list | set RULE KEY VALUE: alert rule parameters (audited)"},
    {"clock", twctl_clock, "show | set TIME | reset: the test clock (test databases only)"},
    {"audit", twctl_audit, "verify [--from DATE | --anchors] | trail --subject S: the audit trail"},
    {"tokens", twctl_tokens,
     "issue --agency CODE --name TEXT --by NAME | list | revoke ID: gateway"},
    {"keys", twctl_keys, "add --agency CODE --by NAME FILE | list: agencies' signing keys"},
};

static void usage(FILE *out, const tw_config *c)
{
    fprintf(out, "usage: twinctl COMMAND [ARGS]   (twinctl COMMAND --help for more)\n"
                 "       twinctl [--config FILE] [--set KEY=VALUE]... [--print-config] COMMAND "
                 "[ARGS]\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nsettings (file \"key = value\" from --config or TWINWATCH_CONFIG, env "
                 "TWINWATCH_<KEY>, or --set):\n");
    tw_config_print_help(c, out);
    fprintf(out,
            "Without --config or TWINWATCH_CONFIG, variables not set are read from .local/env\n"
            "(written by ops/up): PGHOST/PGPORT/PGDATABASE/PGUSER and KAFKA_BROKERS.\n");
}

int twctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "twinctl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TW_EXIT_USAGE;
}

static void ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *connect_with(const char *conninfo)
{
    char err[512];
    PGconn *pg = tw_pg_connect(conninfo, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "twinctl: %s\n(is the stack up? run ops/up, or set PGHOST/PGPORT)\n", err);
        exit(TW_EXIT_FAIL);
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

PGconn *twctl_pg(void)
{
    return connect_with(tw_config_str(cfg, "pg.conninfo"));
}

PGconn *twctl_pg_owner(void)
{
    const char *c = tw_config_str(cfg, "migrate.conninfo");
    return connect_with(c && *c ? c : tw_config_str(cfg, "pg.conninfo"));
}

const char *twctl_brokers(void)
{
    return tw_config_str(cfg, "kafka.brokers");
}

const char *twctl_topic(void)
{
    return tw_config_str(cfg, "topic");
}

const tw_config *twctl_config(void)
{
    return cfg;
}

rd_kafka_conf_t *twctl_kafka_conf(const char *what, const char *const *defaults)
{
    char err[512];
    rd_kafka_conf_t *conf = tw_kafka_conf(twctl_brokers(), defaults, cfg, err, sizeof err);
    if (!conf)
        fprintf(stderr, "twinctl %s: %s\n", what, err);
    else
        rd_kafka_conf_set_log_cb(conf, tw_kafka_log); /* a refused SASL handshake, brokers down */
    return conf;
}

rd_kafka_t *twctl_producer(const char *what, const char *client_id, const char *linger_ms,
                           void (*on_delivery)(rd_kafka_t *, const rd_kafka_message_t *, void *))
{
    /* enable.idempotence and acks are reserved (the reserved table above):
     * a command's exit 0 promises every message on every in-sync replica,
     * once. The rest an operator may change with kafka.* settings. */
    char err[512];
    rd_kafka_conf_t *conf = tw_kafka_producer_conf(twctl_brokers(), client_id, linger_ms, "60000",
                                                   cfg, err, sizeof err);
    rd_kafka_t *rk;
    if (!conf) {
        fprintf(stderr, "twinctl %s: %s\n", what, err);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, tw_kafka_log);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "twinctl %s: create producer: %s\n", what, err);
    }
    return rk; /* owns conf */
}

int twctl_exec(PGconn *pg, const char *what, const char *sql)
{
    char line[400];
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "twinctl: %s: %s\n", what,
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    PQclear(r);
    return ok ? 0 : -1;
}

const char *twctl_by(const char *given)
{
    if (given && *given)
        return given;
    const char *u = getenv("USER");
    if (u && *u)
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && *pw->pw_name ? pw->pw_name : NULL;
}

int twctl_record_action(PGconn *pg, const char *by, const char *action, const char *subject,
                        const char *detail_json)
{
    char line[400];
    const char *params[] = {by, action, subject, detail_json};
    PGresult *r = PQexecParams(pg, "SELECT audit.record_action($1, $2, $3, $4::jsonb)", 4, NULL,
                               params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "twinctl: record %s in the audit trail: %s\n", action,
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Whether the global option a (an argument that starts with '-') takes the
 * next argument as its value: --config, --set, -c, -s, or an abbreviation
 * getopt_long would accept. */
static int takes_value(const char *a, int *is_config)
{
    size_t n = strlen(a);
    int long_alone = n > 2 && a[1] == '-' && !strchr(a, '=');
    *is_config = !strncmp(a, "-c", 2) || !strncmp(a, "--c", 3); /* also -cFILE, --config=F */
    return !strcmp(a, "-c") || !strcmp(a, "-s") ||
           (long_alone && (!strncmp("--config", a, n) || !strncmp("--set", a, n)));
}

int main(int argc, char **argv)
{
    int cmd = 1, has_config = 0, rc;
    const char *config_env = getenv("TWINWATCH_CONFIG");

    tw_log_init("twinctl");
    /* The settings come before the command; its own options after it. */
    while (cmd < argc && argv[cmd][0] == '-' && strcmp(argv[cmd], "--") != 0) {
        int is_config, skip = takes_value(argv[cmd], &is_config);
        has_config |= is_config;
        cmd += 1 + skip;
    }
    if (cmd > argc)
        cmd = argc;
    if (config_env && !*config_env)
        config_env = NULL;
    /* .local/env points at the developer's stack: not when a file is given. */
    if (!has_config && !config_env)
        tw_config_load_local_env(TW_SOURCE_DIR);
    if (!(cfg = tw_config_new(settings, "kafka.")))
        return TW_EXIT_FAIL;
    tw_config_passthrough_rules(cfg, tw_kafka_check, reserved);

    char err[512];
    const char *kb = getenv("KAFKA_BROKERS");
    if (kb && *kb &&
        tw_config_set(cfg, "kafka.brokers", kb, "KAFKA_BROKERS", err, sizeof err) < 0) {
        fprintf(stderr, "twinctl: %s\n", err);
        rc = TW_EXIT_USAGE;
        goto done;
    }
    if (!has_config && config_env && tw_config_load_file(cfg, config_env, err, sizeof err) < 0) {
        fprintf(stderr, "twinctl: %s (TWINWATCH_CONFIG)\n", err);
        rc = TW_EXIT_USAGE;
        goto done;
    }
    int st = tw_settings_load(cfg, "twinctl", usage, cmd, argv);
    if (st != 0) {
        rc = st < 0 ? TW_EXIT_USAGE : TW_EXIT_OK;
        goto done;
    }
    if (cmd >= argc) {
        usage(stderr, cfg);
        rc = TW_EXIT_USAGE;
        goto done;
    }
    if (!strcmp(argv[cmd], "help")) {
        usage(stdout, cfg);
        rc = TW_EXIT_OK;
        goto done;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[cmd], commands[i].name)) {
            rc = commands[i].fn(argc - cmd, argv + cmd);
            goto done;
        }
    fprintf(stderr, "twinctl: unknown command \"%s\" (twinctl --help lists them)\n", argv[cmd]);
    rc = TW_EXIT_USAGE;
done:
    tw_config_free(cfg);
    return rc;
}
