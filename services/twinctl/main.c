/* main.c: twinctl, the operator's command line. Dispatches to commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pg.h"
#include "twinctl.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"migrate", twctl_migrate, "apply the numbered migrations in schemas/"},
    {"load-reference", twctl_load_reference,
     "--agencies FILE --localities FILE: upsert reference data"},
    {"publish", twctl_publish, "[--format jsonl|csv] [--skip-invalid] FILE...: feed -> Kafka"},
    {"wait", twctl_wait, "--caught-up [--timeout S]: until the projector has every event"},
    {"status", twctl_status, "lag per partition, dead letters, events by type"},
    {"digest", twctl_digest, "SHA-256 of the canonical projection state"},
    {"report", twctl_report, "annual --year Y [--format md|csv|json] [--lang vi|en]"},
    {"dlq", twctl_dlq, "list [--reason R] [--limit N] | show ID: dead letters"},
    {"rebuild", twctl_rebuild, "--yes: recompute every projection from the event log"},
    {"offsets", twctl_offsets, "accept-loss PARTITION --by NAME: resume after retention loss"},
    {"alerts", twctl_alerts, "list | show ID | ack ID --by NAME --note TEXT | watch"},
    {"rules", twctl_rules, "list | set RULE KEY VALUE: alert rule parameters (audited)"},
    {"clock", twctl_clock, "show | set TIME | reset: the test clock (test databases only)"},
    {"audit", twctl_audit, "verify [--from DATE | --anchors] | trail --subject S: the audit trail"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: twinctl COMMAND [ARGS]   (twinctl COMMAND --help for more)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].help);
    fprintf(out,
            "\nconnections: TWINWATCH_PG_CONNINFO or PGHOST/PGPORT/PGDATABASE/PGUSER, and\n"
            "TWINWATCH_KAFKA_BROKERS or KAFKA_BROKERS; after ops/up they come from .local/env.\n");
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

PGconn *twctl_pg(void)
{
    char err[512];
    PGconn *pg = tw_pg_connect(getenv("TWINWATCH_PG_CONNINFO"), err, sizeof err);
    if (!pg) {
        fprintf(stderr, "twinctl: %s\n(is the stack up? run ops/up, or set PGHOST/PGPORT)\n", err);
        exit(TW_EXIT_FAIL);
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

const char *twctl_brokers(void)
{
    const char *b = getenv("TWINWATCH_KAFKA_BROKERS");
    if (!b || !*b)
        b = getenv("KAFKA_BROKERS");
    return b && *b ? b : "127.0.0.1:9092";
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

int main(int argc, char **argv)
{
    tw_log_init("twinctl");
    tw_config_load_local_env(TW_SOURCE_DIR);
    if (argc < 2) {
        usage(stderr);
        return TW_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return TW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "twinctl: unknown command \"%s\" (twinctl --help lists them)\n", argv[1]);
    return TW_EXIT_USAGE;
}
