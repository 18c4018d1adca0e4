/* rules.c: twinctl rules list|set. The alert rules' parameters live in
 * alerting.rule_config; a change goes through alerting.set_rule, which
 * records who made it and wakes the sentinel, so it applies at once. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"
#include "twinctl.h"

static const char *USAGE =
    "usage: twinctl rules list [--json]\n"
    "       twinctl rules set RULE KEY VALUE [--by NAME] [--note TEXT]\n"
    "Rules: pledge_overdue (grace_days 7, critical_days 30), pledge_stalled (stall_days 90),\n"
    "twinning_dormant (dormant_days 180), formalism (window_days 365, min_activities 3,\n"
    "min_substantive_pct 20), feed_silent (silence_hours 48). A change is recorded with who\n"
    "made it (--by, default the login name) and applies without a restart.\n";

static int list(PGconn *pg, int json)
{
    char line[400];
    PGresult *r = PQexec(
        pg, json ? "SELECT coalesce(json_agg(json_build_object('rule', rule, 'key', key, 'value',"
                   " value, 'help', help, 'updated_at', updated_at, 'updated_by', updated_by)"
                   " ORDER BY rule, key), '[]') FROM alerting.rule_config"
                 : "SELECT rule, key, value, updated_by, help FROM alerting.rule_config"
                   " ORDER BY rule, key");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl rules list: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return TW_EXIT_FAIL;
    }
    if (json)
        printf("%s\n", PQgetvalue(r, 0, 0));
    else
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-17s %-20s %7s  %-14s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    return TW_EXIT_OK;
}

static int set(PGconn *pg, char **args, const char *by, const char *note)
{
    char line[400];
    const char *params[5] = {args[0], args[1], args[2], by, note};
    PGresult *r = PQexecParams(pg, "SELECT alerting.set_rule($1, $2, $3::numeric, $4, $5)", 5, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl rules set %s %s %s: %s\n", args[0], args[1], args[2],
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return TW_EXIT_FAIL;
    }
    printf("%s.%s: %s -> %s (by %s)\n", args[0], args[1], PQgetvalue(r, 0, 0), args[2], by);
    PQclear(r);
    return TW_EXIT_OK;
}

int twctl_rules(int argc, char **argv)
{
    const char *by = NULL, *note = "";
    char *pos[4];
    int npos = 0, json = 0, rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return TW_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--by") || !strcmp(argv[i], "--note")) {
            if (i + 1 >= argc)
                return twctl_usage_error("rules", "%s needs a value", argv[i]);
            if (argv[i][2] == 'b')
                by = argv[++i];
            else
                note = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return twctl_usage_error("rules", "unknown option %s (twinctl rules --help)", argv[i]);
        } else if (npos < 4) {
            pos[npos++] = argv[i];
        } else {
            return twctl_usage_error("rules", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (npos == 0)
        return twctl_usage_error("rules", "list or set RULE KEY VALUE (twinctl rules --help)");
    if (!strcmp(pos[0], "list") && npos == 1) {
        PGconn *pg = twctl_pg();
        rc = list(pg, json);
        PQfinish(pg);
        return rc;
    }
    if (strcmp(pos[0], "set") != 0 || npos != 4)
        return twctl_usage_error("rules", "expected list, or set RULE KEY VALUE");
    char *end;
    strtod(pos[3], &end);
    if (!*pos[3] || *end)
        return twctl_usage_error("rules", "VALUE must be a number, not \"%s\"", pos[3]);
    if (!by) {
        struct passwd *pw = getpwuid(getuid());
        by = getenv("USER") ? getenv("USER") : pw ? pw->pw_name : "";
    }
    if (!*by)
        return twctl_usage_error("rules", "--by NAME is needed: a rule change records who made it");
    PGconn *pg = twctl_pg();
    rc = set(pg, pos + 1, by, note);
    PQfinish(pg);
    return rc;
}
