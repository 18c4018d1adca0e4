/* clock.c: twinctl clock show|set. Moves twinwatch.now() in a test database
 * (tests/schemas/900_test_clock.sql), so tests can jump days ahead. A
 * database without the test clock refuses: production runs on real time. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "twinctl.h"

static const char *USAGE =
    "usage: twinctl clock show\n"
    "       twinctl clock set TIME [--by NAME]  (e.g. 2026-09-01T08:00:00+07:00)\n"
    "       twinctl clock reset [--by NAME]     (back to real time)\n"
    "A change is audited with who made it (default the login name).\n"
    "Only in a test database: tests install the test clock with\n"
    "twinctl migrate --dir tests/schemas; production refuses.\n";

static int has_test_clock(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT to_regclass('twinwatch.test_clock') IS NOT NULL");
    int yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    return yes;
}

static int show(PGconn *pg)
{
    char line[400];
    PGresult *r = PQexec(pg, "SELECT to_char(twinwatch.now() AT TIME ZONE 'Asia/Ho_Chi_Minh',"
                             " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+07:00\"'),"
                             " twinwatch.now() - now()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "twinctl clock: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return TW_EXIT_FAIL;
    }
    printf("twinwatch.now() = %s (Asia/Ho_Chi_Minh), real time %s %s\n", PQgetvalue(r, 0, 0),
           PQgetvalue(r, 0, 1)[0] == '-' ? "" : "+", PQgetvalue(r, 0, 1));
    PQclear(r);
    return TW_EXIT_OK;
}

int twctl_clock(int argc, char **argv)
{
    char line[400];
    PGconn *pg;
    int rc = TW_EXIT_FAIL;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    const char *by = NULL;
    static const struct option opts[] = {{"by", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
    argc--; /* parsed from the subcommand on: argv[0] is show, set or reset */
    argv++;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "b:", opts, NULL)) != -1;) {
        if (c == 'b')
            by = optarg;
        else
            return TW_EXIT_USAGE;
    }
    /* getopt_long moved the operands after the subcommand to the end */
    const char *sub = argv[0], *when = optind < argc ? argv[optind] : NULL;
    int nops = argc - optind;
    int set = !strcmp(sub, "set"), reset = !strcmp(sub, "reset");
    if (!set && !reset && strcmp(sub, "show") != 0)
        return twctl_usage_error("clock", "unknown subcommand \"%s\" (show, set TIME, reset)", sub);
    if (set && nops != 1)
        return twctl_usage_error("clock", "set needs one TIME, e.g. 2026-09-01T08:00:00+07:00");
    if (!set && nops != 0)
        return twctl_usage_error("clock", "%s takes no argument", sub);
    if ((set || reset) && !(by = twctl_by(by)))
        return twctl_usage_error("clock", "--by NAME is needed: a clock change is audited");
    pg = twctl_pg();
    if (!has_test_clock(pg)) {
        fprintf(stderr, "twinctl clock: this database has no test clock: twinwatch.now() is the "
                        "real time here, and only a test database (twinctl migrate --dir "
                        "tests/schemas) can move it\n");
        goto done;
    }
    if (set || reset) {
        /* The change and its audit row (twctl_record_action) commit
         * together; the notice reaches the sentinel at the commit. */
        const char *params[1] = {set ? when : NULL};
        const Oid types[1] = {25}; /* text, cast to timestamptz in the statement */
        json_t *detail = json_pack("{s:s}", "to", set ? when : "reset");
        char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
        json_decref(detail);
        if (!text || twctl_exec(pg, "begin", "BEGIN") < 0) {
            free(text);
            goto done;
        }
        PGresult *r = PQexecParams(
            pg,
            "WITH u AS (UPDATE twinwatch.test_clock"
            " SET offset_by = coalesce($1::timestamptz - now(), '0'), set_at = now() RETURNING 1)"
            " SELECT pg_notify('twinwatch_clock', coalesce($1, 'reset')) FROM u",
            1, types, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            fprintf(stderr, "twinctl clock set %s: %s\n", set ? when : "",
                    PQresultStatus(r) == PGRES_TUPLES_OK
                        ? "the test clock row is missing"
                        : tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            PQclear(r);
            free(text);
            goto done;
        }
        PQclear(r);
        int recorded = twctl_record_action(pg, by, "clock.set", "clock", text);
        free(text);
        if (recorded < 0 || twctl_exec(pg, "commit", "COMMIT") < 0)
            goto done;
    }
    rc = show(pg);
done:
    PQfinish(pg);
    return rc;
}
