/* alerts.c: twinctl alerts list|show|ack|watch, what a supervisor does with
 * the sentinel's alerts. An acknowledgement goes through
 * alerting.acknowledge as the twinwatch_supervisor role: the only way to
 * change an alert, recorded with who and why. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "twinctl.h"

static const char *USAGE =
    "usage: twinctl alerts list [--state open|acknowledged|resolved] [--rule R]\n"
    "                           [--locality CODE] [--json] [--lang vi|en]\n"
    "       twinctl alerts show ID [--lang vi|en]   history and cause events\n"
    "       twinctl alerts ack ID --by NAME --note TEXT\n"
    "       twinctl alerts watch [--count N] [--lang vi|en]   one line per transition\n";

typedef struct {
    const char *state, *rule, *locality, *by, *note, *lang, *id;
    int json, count;
} alerts_args;

static int fail_pg(const char *what, const PGresult *r)
{
    char line[400];
    fprintf(stderr, "twinctl alerts %s: %s\n", what,
            tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    return TW_EXIT_FAIL;
}

static int list(PGconn *pg, const alerts_args *a)
{
    const char *params[4] = {a->state, a->rule, a->locality, a->lang};
    int rc = TW_EXIT_OK;
    PGresult *r = PQexecParams(
        pg,
        "WITH l AS (SELECT * FROM alerting.alert"
        " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR rule = $2)"
        "   AND ($3::text IS NULL OR locality_code = $3))"
        " SELECT alert_id, rule, state, severity, transition_no,"
        "  to_char(changed_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI'),"
        "  CASE WHEN $4 = 'en' THEN summary_en ELSE summary_vi END,"
        "  row_to_json(l)::text"
        " FROM l ORDER BY CASE severity WHEN 'critical' THEN 0 ELSE 1 END, changed_at DESC",
        4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = fail_pg("list", r);
        goto done;
    }
    if (a->json) {
        printf("[");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%s%s", i ? ",\n " : "", PQgetvalue(r, i, 7));
        printf("]\n");
        goto done;
    }
    for (int i = 0; i < PQntuples(r); i++)
        printf("%s  %-16s %-12s %-8s #%-3s %s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
               PQgetvalue(r, i, 6));
    if (PQntuples(r) == 0)
        printf("no alerts%s\n", a->state || a->rule || a->locality ? " match" : "");
done:
    PQclear(r);
    return rc;
}

static int show(PGconn *pg, const alerts_args *a)
{
    const char *params[2] = {a->id, a->lang};
    int rc = TW_EXIT_FAIL;
    PGresult *h = NULL, *c = NULL;
    PGresult *r = PQexecParams(
        pg,
        "SELECT alert_id, rule, subject, state, severity, transition_no, opened_at, changed_at,"
        " coalesce(agency_code, ''), coalesce(locality_code, ''), coalesce(pledge_id, ''),"
        " CASE WHEN $2 = 'en' THEN summary_en ELSE summary_vi END, coalesce(acked_by, '')"
        " FROM alerting.alert WHERE alert_id::text = $1",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = fail_pg("show", r);
        goto done;
    }
    if (PQntuples(r) != 1) {
        fprintf(stderr, "twinctl alerts show: no alert %s (twinctl alerts list shows them)\n",
                a->id);
        goto done;
    }
    static const char *labels[] = {"alert_id",   "rule",    "subject", "state",  "severity",
                                   "transition", "opened",  "changed", "agency", "locality",
                                   "pledge",     "summary", "acked_by"};
    for (int k = 0; k < 13; k++)
        printf("%-11s %s\n", labels[k], PQgetvalue(r, 0, k));
    h = PQexecParams(pg,
                     "SELECT transition_no, kind, state, severity, at, committed_at, by_name,"
                     " note, CASE WHEN $2 = 'en' THEN summary_en ELSE summary_vi END,"
                     " coalesce(cause_event_id::text, '-')"
                     " FROM alerting.alert_history WHERE alert_id::text = $1"
                     " ORDER BY transition_no",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(h) != PGRES_TUPLES_OK) {
        rc = fail_pg("show", h);
        goto done;
    }
    printf("\nhistory:\n");
    for (int i = 0; i < PQntuples(h); i++)
        printf("  #%s %-10s %-12s %-8s at %s by %s%s%s\n      %s\n      cause %s\n",
               PQgetvalue(h, i, 0), PQgetvalue(h, i, 1), PQgetvalue(h, i, 2), PQgetvalue(h, i, 3),
               PQgetvalue(h, i, 4), PQgetvalue(h, i, 6), PQgetvalue(h, i, 7)[0] ? ": " : "",
               PQgetvalue(h, i, 7), PQgetvalue(h, i, 8), PQgetvalue(h, i, 9));
    c = PQexecParams(pg,
                     "SELECT e.event_id, e.event_type, e.occurred_at, e.source_system,"
                     " e.source_ref FROM audit.event_log e"
                     " WHERE e.event_id IN (SELECT cause_event_id FROM alerting.alert_history"
                     "  WHERE alert_id::text = $1) ORDER BY e.occurred_at",
                     1, NULL, params, NULL, NULL, 0);
    printf("\ncause events:\n");
    if (PQresultStatus(c) != PGRES_TUPLES_OK) {
        char line[400];
        /* a supervisor reads alerts, not necessarily the event log */
        printf("  (not readable here: %s)\n",
               tw_pg_errline(PQresultErrorMessage(c), line, sizeof line));
        rc = TW_EXIT_OK;
        goto done;
    }
    for (int i = 0; i < PQntuples(c); i++)
        printf("  %s %-18s occurred %s  %s/%s\n", PQgetvalue(c, i, 0), PQgetvalue(c, i, 1),
               PQgetvalue(c, i, 2), PQgetvalue(c, i, 3), PQgetvalue(c, i, 4));
    if (PQntuples(c) == 0)
        printf("  (none: the deadline alone caused it, or the log holds none)\n");
    rc = TW_EXIT_OK;
done:
    PQclear(r);
    PQclear(h);
    PQclear(c);
    return rc;
}

static int ack(PGconn *pg, const alerts_args *a)
{
    const char *params[3] = {a->id, a->by, a->note};
    PGresult *r = PQexec(pg, "SET ROLE twinwatch_supervisor");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = fail_pg("ack (acknowledging needs the twinwatch_supervisor role)", r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    r = PQexecParams(pg, "SELECT alerting.acknowledge($1::uuid, $2, $3)", 3, NULL, params, NULL,
                     NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = fail_pg("ack", r);
        PQclear(r);
        return rc;
    }
    printf("alert %s acknowledged by %s (transition #%s)\n", a->id, a->by, PQgetvalue(r, 0, 0));
    PQclear(r);
    return TW_EXIT_OK;
}

/* One line per transition as its NOTIFY arrives; --count N stops after N. */
static int watch(PGconn *pg, const alerts_args *a)
{
    int seen = 0;
    PGresult *r = PQexec(pg, "LISTEN twinwatch_alerts");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = fail_pg("watch", r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    printf("watching alert transitions (Ctrl-C stops)\n");
    fflush(stdout);
    while (a->count <= 0 || seen < a->count) {
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            break;
        if (!PQconsumeInput(pg)) {
            fprintf(stderr, "twinctl alerts watch: connection lost: %s", PQerrorMessage(pg));
            return TW_EXIT_FAIL;
        }
        PGnotify *n;
        while ((n = PQnotifies(pg))) {
            const char *params[2] = {n->extra, a->lang};
            PGresult *d = PQexecParams(
                pg,
                "SELECT to_char(h.at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI:SS'),"
                " a.rule, h.kind, h.state, h.severity, a.alert_id, h.transition_no,"
                " CASE WHEN $2 = 'en' THEN h.summary_en ELSE h.summary_vi END"
                " FROM alerting.alert_history h JOIN alerting.alert a USING (alert_id)"
                " WHERE h.alert_id = ($1::json ->> 'alert_id')::uuid"
                "   AND h.transition_no = ($1::json ->> 'transition_no')::int",
                2, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(d) == PGRES_TUPLES_OK && PQntuples(d) == 1)
                printf("%s %-16s %-10s %-12s %-8s %s #%s %s\n", PQgetvalue(d, 0, 0),
                       PQgetvalue(d, 0, 1), PQgetvalue(d, 0, 2), PQgetvalue(d, 0, 3),
                       PQgetvalue(d, 0, 4), PQgetvalue(d, 0, 5), PQgetvalue(d, 0, 6),
                       PQgetvalue(d, 0, 7));
            else
                printf("%s\n", n->extra);
            fflush(stdout);
            PQclear(d);
            PQfreemem(n);
            seen++;
        }
    }
    return TW_EXIT_OK;
}

int twctl_alerts(int argc, char **argv)
{
    alerts_args a = {.lang = "vi"};
    char *pos[2];
    int npos = 0, rc;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = !strcmp(o, "--state")      ? &a.state
                            : !strcmp(o, "--rule")     ? &a.rule
                            : !strcmp(o, "--locality") ? &a.locality
                            : !strcmp(o, "--by")       ? &a.by
                            : !strcmp(o, "--note")     ? &a.note
                            : !strcmp(o, "--lang")     ? &a.lang
                                                       : NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(USAGE, stdout);
            return TW_EXIT_OK;
        } else if (!strcmp(o, "--json")) {
            a.json = 1;
        } else if (!strcmp(o, "--count")) {
            if (i + 1 >= argc || (a.count = atoi(argv[i + 1])) <= 0)
                return twctl_usage_error("alerts", "--count needs a positive number");
            i++;
        } else if (slot) {
            if (i + 1 >= argc)
                return twctl_usage_error("alerts", "%s needs a value", o);
            *slot = argv[++i];
        } else if (o[0] == '-') {
            return twctl_usage_error("alerts", "unknown option %s (twinctl alerts --help)", o);
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return twctl_usage_error("alerts", "unexpected argument \"%s\"", o);
        }
    }
    if (strcmp(a.lang, "vi") != 0 && strcmp(a.lang, "en") != 0)
        return twctl_usage_error("alerts", "--lang is vi or en, not \"%s\"", a.lang);
    if (a.state && strcmp(a.state, "open") != 0 && strcmp(a.state, "acknowledged") != 0 &&
        strcmp(a.state, "resolved") != 0)
        return twctl_usage_error("alerts", "--state is open, acknowledged or resolved, not \"%s\"",
                                 a.state);
    if (npos == 0)
        return twctl_usage_error("alerts",
                                 "list, show ID, ack ID or watch (twinctl alerts --help)");
    const char *cmd = pos[0];
    int want_id = !strcmp(cmd, "show") || !strcmp(cmd, "ack");
    if (strcmp(cmd, "list") != 0 && strcmp(cmd, "watch") != 0 && !want_id)
        return twctl_usage_error("alerts", "unknown subcommand \"%s\"", cmd);
    if (want_id && npos != 2)
        return twctl_usage_error("alerts", "%s needs an alert ID", cmd);
    if (!want_id && npos != 1)
        return twctl_usage_error("alerts", "%s takes no ID", cmd);
    if (want_id)
        a.id = pos[1];
    if (!strcmp(cmd, "ack") && (!a.by || !*a.by || !a.note || !*a.note))
        return twctl_usage_error("alerts", "ack needs --by NAME and --note TEXT: an "
                                           "acknowledgement records who and why");
    PGconn *pg = twctl_pg();
    if (!strcmp(cmd, "list"))
        rc = list(pg, &a);
    else if (!strcmp(cmd, "show"))
        rc = show(pg, &a);
    else if (!strcmp(cmd, "ack"))
        rc = ack(pg, &a);
    else
        rc = watch(pg, &a);
    PQfinish(pg);
    return rc;
}
