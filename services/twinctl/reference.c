/* reference.c: twinctl load-reference. Agencies and localities from CSV,
 * checked line by line first, then upserted in one transaction: a bad file
 * changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "pg.h"
#include "twinctl.h"

typedef struct {
    const char *name;
    const char **columns;
    int ncolumns;
    const char *sql; /* upsert with $1..$n in column order */
    int (*check)(char **f, char *err, size_t errlen);
} ref_file;

static const char *agency_cols[] = {"code", "name", "kind"};
static const char *locality_cols[] = {"code",
                                      "name",
                                      "level",
                                      "parent_code",
                                      "ethnic_minority",
                                      "mountainous",
                                      "border",
                                      "especially_difficult"};

static int check_agency(char **f, char *err, size_t errlen)
{
    static const char *kinds[] = {"department", "enterprise", "locality", "armed_forces",
                                  "association"};
    if (!*f[0] || strspn(f[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(f[0])) {
        snprintf(err, errlen, "code \"%s\" must be upper-case letters, digits, '-', '_', '.'",
                 f[0]);
        return -1;
    }
    if (!*f[1]) {
        snprintf(err, errlen, "agency %s has no name", f[0]);
        return -1;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(f[2], kinds[i]))
            return 0;
    snprintf(err, errlen,
             "kind \"%s\" is not one of department, enterprise, locality, armed_forces, "
             "association",
             f[2]);
    return -1;
}

static int check_bool(const char *v, const char *col, char *err, size_t errlen)
{
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return 0;
    snprintf(err, errlen, "%s = \"%s\": expected true or false", col, v);
    return -1;
}

static int check_locality(char **f, char *err, size_t errlen)
{
    if (!*f[0] ||
        strspn(f[0], "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") !=
            strlen(f[0])) {
        snprintf(err, errlen, "code \"%s\" must be letters, digits, '-' or '_'", f[0]);
        return -1;
    }
    if (!*f[1]) {
        snprintf(err, errlen, "locality %s has no name", f[0]);
        return -1;
    }
    if (strcmp(f[2], "province") && strcmp(f[2], "district") && strcmp(f[2], "commune")) {
        snprintf(err, errlen, "level \"%s\" is not province, district or commune", f[2]);
        return -1;
    }
    if (!strcmp(f[2], "province") != !*f[3]) {
        snprintf(err, errlen, "%s",
                 !strcmp(f[2], "province") ? "a province has no parent_code"
                                           : "parent_code is empty");
        return -1;
    }
    for (int i = 4; i < 8; i++)
        if (check_bool(f[i], locality_cols[i], err, errlen) < 0)
            return -1;
    return 0;
}

static const ref_file agencies = {
    "agencies", agency_cols, 3,
    "INSERT INTO ref.agency (code, name, kind) VALUES ($1, $2, $3)"
    " ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,"
    " updated_at = now()"
    " WHERE (ref.agency.name, ref.agency.kind) IS DISTINCT FROM (excluded.name, excluded.kind)",
    check_agency};

static const ref_file localities = {
    "localities", locality_cols, 8,
    "INSERT INTO ref.locality (code, name, level, parent_code, ethnic_minority, mountainous,"
    " border, especially_difficult) VALUES ($1, $2, $3, nullif($4, ''), $5, $6, $7, $8)"
    " ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,"
    " parent_code = excluded.parent_code, ethnic_minority = excluded.ethnic_minority,"
    " mountainous = excluded.mountainous, border = excluded.border,"
    " especially_difficult = excluded.especially_difficult, updated_at = now()",
    check_locality};

/* Reads, checks and (when pg is set) upserts one file. Returns the number
 * of bad lines, or -1 when the file cannot be read at all. */
static int load(const ref_file *rf, const char *path, PGconn *pg, int *rows)
{
    FILE *f = fopen(path, "r");
    char err[512], line[400];
    char **fields;
    int n, bad = 0;
    tw_csv *csv;

    *rows = 0;
    if (!f) {
        fprintf(stderr, "twinctl load-reference: %s: %s\n", path, strerror(errno));
        return -1;
    }
    csv = tw_csv_open(f);
    n = csv ? tw_csv_next(csv, &fields, err, sizeof err) : -1;
    if (n != rf->ncolumns) {
        fprintf(stderr, "%s:1: the header must be %s", path, rf->columns[0]);
        for (int i = 1; i < rf->ncolumns; i++)
            fprintf(stderr, ",%s", rf->columns[i]);
        fputc('\n', stderr);
        tw_csv_close(csv);
        fclose(f);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(fields[i], rf->columns[i]) != 0) {
            fprintf(stderr, "%s:1: column %d is \"%s\", expected \"%s\"\n", path, i + 1, fields[i],
                    rf->columns[i]);
            tw_csv_close(csv);
            fclose(f);
            return -1;
        }
    while ((n = tw_csv_next(csv, &fields, err, sizeof err)) != 0) {
        if (n == 1 && !*fields[0])
            continue;
        int ok = n > 0 && n == rf->ncolumns && rf->check(fields, err, sizeof err) == 0;
        if (!ok) {
            if (n > 0 && n != rf->ncolumns)
                snprintf(err, sizeof err, "%d fields, the header has %d", n, rf->ncolumns);
            fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv), err);
            bad++;
            continue;
        }
        if (pg && !bad) {
            PGresult *r = PQexecParams(pg, rf->sql, rf->ncolumns, NULL, (const char *const *)fields,
                                       NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv),
                        tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
                bad++;
            }
            PQclear(r);
        }
        (*rows)++;
    }
    tw_csv_close(csv);
    fclose(f);
    return bad;
}

/* The load's audit row (audit.record_action), in its transaction. */
static int record(PGconn *pg, const char *by, const char *ag, const char *lo, int na, int nl)
{
    char line[400], sa[16], sl[16];
    snprintf(sa, sizeof sa, "%d", na);
    snprintf(sl, sizeof sl, "%d", nl);
    const char *params[] = {by, ag, lo, sa, sl};
    PGresult *r = PQexecParams(pg,
                               "SELECT audit.record_action($1, 'reference.load', 'reference',"
                               " jsonb_build_object('agencies_file', $2::text, 'localities_file',"
                               " $3::text, 'agencies', $4::int, 'localities', $5::int))",
                               5, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "twinctl load-reference: record the load in the audit trail: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    PQclear(r);
    return ok ? 0 : -1;
}

int twctl_load_reference(int argc, char **argv)
{
    const char *ag = NULL, *lo = NULL, *by = NULL;
    static const struct option opts[] = {{"agencies", required_argument, NULL, 'a'},
                                         {"localities", required_argument, NULL, 'l'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int na = 0, nl = 0, bad = 0;

    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "a:l:b:h", opts, NULL)) != -1;) {
        if (c == 'b')
            by = optarg;
        else if (c == 'a')
            ag = optarg;
        else if (c == 'l')
            lo = optarg;
        else if (c == 'h') {
            printf("usage: twinctl load-reference [--agencies agencies.csv] "
                   "[--localities localities.csv] [--by NAME]\n"
                   "agencies.csv: code,name,kind (department, enterprise, locality, "
                   "armed_forces, association)\n"
                   "localities.csv: code,name,level,parent_code,ethnic_minority,mountainous,"
                   "border,especially_difficult\n"
                   "Every line is checked first; a bad line changes nothing. The load is\n"
                   "recorded in the audit trail with who did it (--by, default the login name).\n");
            return TW_EXIT_OK;
        } else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("load-reference", "unexpected argument \"%s\"", argv[optind]);
    if (!ag && !lo)
        return twctl_usage_error("load-reference", "give --agencies FILE and/or --localities FILE");
    if (!(by = twctl_by(by)))
        return twctl_usage_error("load-reference", "--by NAME is needed: the load is audited");
    /* Check both files whole before touching the database. */
    if ((ag && (bad = load(&agencies, ag, NULL, &na)) != 0) ||
        (lo && (bad = load(&localities, lo, NULL, &nl)) != 0)) {
        fprintf(stderr, "twinctl load-reference: nothing loaded (%s)\n",
                bad < 0 ? "unreadable file" : "fix the lines above");
        return TW_EXIT_FAIL;
    }
    PGconn *pg = twctl_pg();
    if (twctl_exec(pg, "begin", "BEGIN") < 0 || (lo && load(&localities, lo, pg, &nl) != 0) ||
        (ag && load(&agencies, ag, pg, &na) != 0) || record(pg, by, ag, lo, na, nl) < 0 ||
        twctl_exec(pg, "commit", "COMMIT") < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        PQfinish(pg);
        fprintf(stderr, "twinctl load-reference: nothing loaded\n");
        return TW_EXIT_FAIL;
    }
    PQfinish(pg);
    printf("reference data: %d agencies, %d localities loaded\n", na, nl);
    return TW_EXIT_OK;
}
