/* reference.c: twinctl load-reference. Agencies and localities (unit
 * versions) from CSV, checked line by line first, then upserted in one
 * transaction with the lineage files (lineage.c) and checked whole: a bad
 * file changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "date.h"
#include "lineage.h"
#include "pg.h"
#include "twinctl.h"

typedef struct {
    const char *name;
    const char **columns;
    int ncolumns;
    int optional;    /* trailing columns a file may leave out */
    int source;      /* the sql takes the row's file:line as one more parameter */
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
                                      "especially_difficult",
                                      "valid_from",
                                      "valid_to"};

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
    static const char *levels[] = {"province", "district", "commune",
                                   "ward",     "township", "special_zone"};
    size_t l = 0;
    while (l < sizeof levels / sizeof levels[0] && strcmp(f[2], levels[l]))
        l++;
    if (l == sizeof levels / sizeof levels[0]) {
        snprintf(err, errlen,
                 "level \"%s\" is not province, district, commune, ward, township or "
                 "special_zone",
                 f[2]);
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
    int32_t from = INT32_MIN, to = INT32_MAX;
    for (int i = 8; i < 10; i++)
        if (f[i] && *f[i] && tw_date_parse(f[i], i == 8 ? &from : &to) < 0) {
            snprintf(err, errlen, "%s = \"%s\": expected YYYY-MM-DD or nothing", locality_cols[i],
                     f[i]);
            return -1;
        }
    if (from > to) {
        snprintf(err, errlen, "valid_from %s is after valid_to %s", f[8], f[9]);
        return -1;
    }
    return 0;
}

static const ref_file agencies = {
    "agencies",
    agency_cols,
    3,
    0,
    0,
    "INSERT INTO ref.agency (code, name, kind) VALUES ($1, $2, $3)"
    " ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,"
    " updated_at = now()"
    " WHERE (ref.agency.name, ref.agency.kind) IS DISTINCT FROM (excluded.name, excluded.kind)",
    check_agency};

/* A version is keyed by (code, valid_from). A row without valid_from is
 * the version valid from the beginning; a row without valid_to leaves an
 * existing version's end alone (a lineage load may have set it), and a new
 * one never ends. $11 is the row's file:line. */
static const ref_file localities = {
    "localities",
    locality_cols,
    10,
    2,
    1,
    "INSERT INTO ref.unit_version AS x (code, name, level, parent_code, ethnic_minority,"
    " mountainous, border, especially_difficult, valid_from, valid_to, source)"
    " VALUES ($1, $2, $3, nullif($4, ''), $5, $6, $7, $8,"
    " coalesce(nullif($9, '')::date, '-infinity'), coalesce(nullif($10, '')::date, 'infinity'),"
    " $11)"
    " ON CONFLICT (code, valid_from) DO UPDATE SET name = excluded.name, level = excluded.level,"
    " parent_code = excluded.parent_code, ethnic_minority = excluded.ethnic_minority,"
    " mountainous = excluded.mountainous, border = excluded.border,"
    " especially_difficult = excluded.especially_difficult,"
    " valid_to = CASE WHEN $10 = '' THEN x.valid_to ELSE excluded.valid_to END,"
    " source = excluded.source, updated_at = now()",
    check_locality};

static const char *agency_lineage_cols[] = {"old_code", "new_code", "effective", "kind",
                                            "legal_act"};

static int check_agency_lineage(char **f, char *err, size_t errlen)
{
    int32_t d;
    if (!*f[0]) {
        snprintf(err, errlen, "old_code is empty");
        return -1;
    }
    if (strcmp(f[3], "whole") && strcmp(f[3], "partial") && strcmp(f[3], "rename") &&
        strcmp(f[3], "abolished")) {
        snprintf(err, errlen, "kind \"%s\" is not whole, partial, rename or abolished", f[3]);
        return -1;
    }
    if (!strcmp(f[3], "abolished") != !*f[1]) {
        snprintf(err, errlen, "%s",
                 *f[1] ? "an abolished agency has no new_code" : "new_code is empty");
        return -1;
    }
    if (!strcmp(f[0], f[1])) {
        snprintf(err, errlen, "agency %s cannot succeed itself", f[0]);
        return -1;
    }
    if (tw_date_parse(f[2], &d) < 0) {
        snprintf(err, errlen, "effective = \"%s\": expected YYYY-MM-DD", f[2]);
        return -1;
    }
    return 0;
}

/* An agency that ends is kept (its code, its history); its lineage row
 * names who answers for it from the effective date. */
static const ref_file agency_lineage = {
    "agency lineage",
    agency_lineage_cols,
    5,
    0,
    1,
    "WITH g AS (INSERT INTO ref.agency_lineage AS x (old_code, new_code, effective, kind,"
    " legal_act, source) VALUES (ref.known_agency($1), ref.known_agency($2), $3::date, $4, $5,"
    " $6)"
    " ON CONFLICT (old_code, coalesce(new_code, '')) DO UPDATE SET effective = excluded.effective,"
    " kind = excluded.kind, legal_act = excluded.legal_act, source = excluded.source"
    " RETURNING old_code, effective)"
    " UPDATE ref.agency a SET valid_to = g.effective - 1, updated_at = now() FROM g"
    " WHERE a.code = g.old_code AND a.valid_to IS DISTINCT FROM g.effective - 1",
    check_agency_lineage};

/* Reads, checks and (when pg is set) upserts one file. Returns the number
 * of bad lines, or -1 when the file cannot be read at all. */
static int load(const ref_file *rf, const char *path, PGconn *pg, int *rows)
{
    FILE *f = fopen(path, "r");
    char err[512], line[400], source[600];
    char **fields;
    char *row[16] = {0};
    int n, bad = 0, width;
    tw_csv *csv;

    *rows = 0;
    if (!f) {
        fprintf(stderr, "twinctl load-reference: %s: %s\n", path, strerror(errno));
        return -1;
    }
    csv = tw_csv_open(f);
    n = csv ? tw_csv_next(csv, &fields, err, sizeof err) : -1;
    if (n < rf->ncolumns - rf->optional || n > rf->ncolumns) {
        fprintf(stderr, "%s:1: the header must be %s", path, rf->columns[0]);
        for (int i = 1; i < rf->ncolumns; i++)
            fprintf(stderr, ",%s", rf->columns[i]);
        if (rf->optional)
            fprintf(stderr, " (the last %d optional)", rf->optional);
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
    width = n;
    while ((n = tw_csv_next(csv, &fields, err, sizeof err)) != 0) {
        if (n == 1 && !*fields[0])
            continue;
        for (int i = 0; i < rf->ncolumns; i++)
            row[i] = n == width && i < n ? fields[i] : (char *)"";
        snprintf(source, sizeof source, "%s:%d", path, tw_csv_line(csv));
        row[rf->ncolumns] = source;
        int ok = n > 0 && n == width && rf->check(row, err, sizeof err) == 0;
        if (!ok) {
            if (n > 0 && n != width)
                snprintf(err, sizeof err, "%d fields, the header has %d", n, width);
            fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv), err);
            bad++;
            continue;
        }
        if (pg && !bad) {
            PGresult *r = PQexecParams(pg, rf->sql, rf->ncolumns + rf->source, NULL,
                                       (const char *const *)row, NULL, NULL, 0);
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
static int record(PGconn *pg, const char *by, const char *ag, const char *lo, const char *lins,
                  const char *effective, const char *act, int na, int nl, int ng)
{
    char line[400], sa[16], sl[16], sg[16];
    snprintf(sa, sizeof sa, "%d", na);
    snprintf(sl, sizeof sl, "%d", nl);
    snprintf(sg, sizeof sg, "%d", ng);
    const char *params[] = {by, ag, lo, sa, sl, lins, effective, act, sg};
    PGresult *r = PQexecParams(pg,
                               "SELECT audit.record_action($1, 'reference.load', 'reference',"
                               " jsonb_strip_nulls(jsonb_build_object('agencies_file', $2::text,"
                               " 'localities_file', $3::text, 'agencies', $4::int, 'localities',"
                               " $5::int, 'lineage_files', $6::text, 'effective', $7::text,"
                               " 'legal_act', $8::text, 'lineage_rows', $9::int)))",
                               9, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "twinctl load-reference: record the load in the audit trail: %s\n",
                tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
    PQclear(r);
    return ok ? 0 : -1;
}

#define MAX_LINEAGE 8

static int usage(void)
{
    printf("usage: twinctl load-reference [--agencies agencies.csv] [--localities localities.csv]\n"
           "       [--lineage conversion.csv ... --effective YYYY-MM-DD [--legal-act TEXT]]\n"
           "       [--by NAME]\n"
           "agencies.csv: code,name,kind (department, enterprise, locality, armed_forces,\n"
           "  association)\n"
           "localities.csv: code,name,level,parent_code,ethnic_minority,mountainous,border,\n"
           "  especially_difficult[,valid_from,valid_to]; level: province, district, commune,\n"
           "  ward, township, special_zone. A row without valid_from is valid from the\n"
           "  beginning; without valid_to it never ends (or keeps the end a lineage gave it).\n"
           "       [--agency-lineage agency-lineage.csv]\n"
           "agency-lineage.csv: old_code,new_code,effective,kind,legal_act (kind whole, partial,\n"
           "  rename, abolished with no new_code): the successor answers for the old agency's\n"
           "  open pledges from the effective date.\n"
           "conversion.csv: the statistics office's conversion table, as published:\n"
           "  new_province_code,new_code,new_name,old_code,old_name,note,old_district_code,\n"
           "  old_district_name,old_province_code,old_province_name; notes Nhập toàn bộ,\n"
           "  Nhập một phần, Giữ nguyên, Đổi loại hình, Đổi tên, Giải thể (abolished, no\n"
           "  new_code), Sắp xếp toàn bộ huyện … (a district turned into a special zone).\n"
           "  New units begin on --effective; the units they came from, their districts and\n"
           "  provinces end the day before. --lineage may be given up to %d times.\n"
           "Everything is checked first (overlapping versions, units ending with no successor,\n"
           "date gaps, cycles, unknown codes); any problem is printed as file:line and nothing\n"
           "is loaded. The load is recorded in the audit trail with who did it (--by, default\n"
           "the login name). Loading the same files again changes nothing.\n",
           MAX_LINEAGE);
    return TW_EXIT_OK;
}

int twctl_load_reference(int argc, char **argv)
{
    const char *ag = NULL, *lo = NULL, *by = NULL, *effective = NULL, *act = "", *al = NULL;
    const char *lin[MAX_LINEAGE];
    char lins[2048] = "";
    int nlin = 0;
    static const struct option opts[] = {{"agencies", required_argument, NULL, 'a'},
                                         {"localities", required_argument, NULL, 'l'},
                                         {"lineage", required_argument, NULL, 'g'},
                                         {"effective", required_argument, NULL, 'e'},
                                         {"legal-act", required_argument, NULL, 'x'},
                                         {"agency-lineage", required_argument, NULL, 'A'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int na = 0, nl = 0, ng = 0, nal = 0, bad = 0;
    int32_t eff;

    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "a:l:g:e:x:A:b:h", opts, NULL)) != -1;) {
        if (c == 'b')
            by = optarg;
        else if (c == 'a')
            ag = optarg;
        else if (c == 'l')
            lo = optarg;
        else if (c == 'e')
            effective = optarg;
        else if (c == 'x')
            act = optarg;
        else if (c == 'A')
            al = optarg;
        else if (c == 'g') {
            if (nlin == MAX_LINEAGE)
                return twctl_usage_error("load-reference", "at most %d --lineage files",
                                         MAX_LINEAGE);
            lin[nlin++] = optarg;
            snprintf(lins + strlen(lins), sizeof lins - strlen(lins), "%s%s", nlin > 1 ? "," : "",
                     optarg);
        } else if (c == 'h')
            return usage();
        else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("load-reference", "unexpected argument \"%s\"", argv[optind]);
    if (!ag && !lo && !nlin && !al)
        return twctl_usage_error("load-reference", "give --agencies FILE, --localities FILE, "
                                                   "--lineage FILE and/or --agency-lineage FILE");
    if (nlin && (!effective || tw_date_parse(effective, &eff) < 0))
        return twctl_usage_error("load-reference",
                                 "--lineage needs --effective YYYY-MM-DD, the first day of the new "
                                 "units");
    if (!nlin && effective)
        return twctl_usage_error("load-reference", "--effective goes with --lineage FILE");
    if (!(by = twctl_by(by)))
        return twctl_usage_error("load-reference", "--by NAME is needed: the load is audited");
    /* Check the files whole before touching the database. */
    if ((ag && (bad = load(&agencies, ag, NULL, &na)) != 0) ||
        (lo && (bad = load(&localities, lo, NULL, &nl)) != 0) ||
        (al && (bad = load(&agency_lineage, al, NULL, &nal)) != 0)) {
        fprintf(stderr, "twinctl load-reference: nothing loaded (%s)\n",
                bad < 0 ? "unreadable file" : "fix the lines above");
        return TW_EXIT_FAIL;
    }
    PGconn *pg = twctl_pg();
    int ok = twctl_exec(pg, "begin", "BEGIN") == 0 &&
             (!lo || load(&localities, lo, pg, &nl) == 0) &&
             (!ag || load(&agencies, ag, pg, &na) == 0) &&
             (!al || load(&agency_lineage, al, pg, &nal) == 0);
    if (ok && nlin) {
        int rows = 0;
        ok = twctl_lineage_begin(pg) == 0;
        for (int i = 0; ok && i < nlin; i++)
            ok = twctl_lineage_stage(pg, lin[i], &rows) == 0;
        ok = ok && twctl_lineage_apply(pg, effective, act, &ng) == 0;
    }
    ok =
        ok && twctl_geo_check(pg) == 0 &&
        record(pg, by, ag, lo, nlin ? lins : NULL, effective, nlin ? act : NULL, na, nl, ng) == 0 &&
        twctl_exec(pg, "commit", "COMMIT") == 0;
    if (!ok) {
        PQclear(PQexec(pg, "ROLLBACK"));
        PQfinish(pg);
        fprintf(stderr, "twinctl load-reference: nothing loaded\n");
        return TW_EXIT_FAIL;
    }
    PQfinish(pg);
    if (al)
        printf("reference data: %d agencies, %d agency successions loaded\n", na, nal);
    else if (nlin)
        printf("reference data: %d agencies, %d localities, %d lineage changes loaded\n", na, nl,
               ng);
    else
        printf("reference data: %d agencies, %d localities loaded\n", na, nl);
    return TW_EXIT_OK;
}
