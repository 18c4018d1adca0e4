/* lineage.c: twinctl load-reference --lineage. Reads a statistics office's
 * conversion table (old unit -> new unit, one row per old unit and new
 * unit, its notes in Vietnamese) into a temporary table, checks it against
 * the unit versions already known, and turns it into new versions, ended
 * old versions and lineage rows (schemas/020_unit_versions.sql). Every
 * refusal names file:line; the caller rolls the whole load back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "pg.h"
#include "lineage.h"
#include "twinctl.h"

static const char *lineage_cols[] = {"new_province_code", "new_code",          "new_name",
                                     "old_code",          "old_name",          "note",
                                     "old_district_code", "old_district_name", "old_province_code",
                                     "old_province_name"};
#define NCOLS ((int)(sizeof lineage_cols / sizeof lineage_cols[0]))

/* The statistics office's notes, and the kind each means. A row turning a
 * whole district into a special zone ("Sắp xếp toàn bộ huyện Hoàng Sa thành
 * đặc khu Hoàng Sa") has no old commune: its old unit is the district. */
static const struct {
    const char *note;
    int prefix;
    const char *kind;
} notes[] = {
    {"Nhập toàn bộ", 0, "whole"},    {"Nhập một phần", 0, "partial"}, {"Giữ nguyên", 0, "keep"},
    {"Đổi loại hình", 0, "retype"},  {"Đổi tên", 0, "rename"},        {"Giải thể", 0, "abolished"},
    {"Sắp xếp toàn bộ", 1, "whole"},
};

static const char *kind_of(const char *note)
{
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (notes[i].prefix ? !strncmp(note, notes[i].note, strlen(notes[i].note))
                            : !strcmp(note, notes[i].note))
            return notes[i].kind;
    return NULL;
}

int twctl_lineage_begin(PGconn *pg)
{
    return twctl_exec(pg, "lineage staging",
                      "CREATE TEMP TABLE lin (source text, line integer, new_prov text,"
                      " new_code text, new_name text, old_code text, old_name text, note text,"
                      " kind text, old_dist text, old_dist_name text, old_prov text,"
                      " old_prov_name text) ON COMMIT DROP");
}

int twctl_lineage_stage(PGconn *pg, const char *path, int *rows)
{
    FILE *f = fopen(path, "r");
    char err[512], line[400], lno[16];
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
    for (int i = 0; n == NCOLS && i < n; i++)
        if (strcmp(fields[i], lineage_cols[i]) != 0)
            n = -1;
    if (n != NCOLS) {
        fprintf(stderr, "%s:1: the header must be %s", path, lineage_cols[0]);
        for (int i = 1; i < NCOLS; i++)
            fprintf(stderr, ",%s", lineage_cols[i]);
        fputs(" (the statistics office's conversion table)\n", stderr);
        tw_csv_close(csv);
        fclose(f);
        return -1;
    }
    while ((n = tw_csv_next(csv, &fields, err, sizeof err)) != 0) {
        const char *kind;
        if (n == 1 && !*fields[0])
            continue;
        if (n != NCOLS) {
            if (n > 0)
                snprintf(err, sizeof err, "%d fields, the header has %d", n, NCOLS);
            fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv), err);
            bad++;
            continue;
        }
        if (!(kind = kind_of(fields[5]))) {
            fprintf(stderr,
                    "%s:%d: note \"%s\" is not one of Nhập toàn bộ, Nhập một phần, Giữ nguyên, "
                    "Đổi loại hình, Đổi tên, Giải thể, Sắp xếp toàn bộ …\n",
                    path, tw_csv_line(csv), fields[5]);
            bad++;
            continue;
        }
        if (!strcmp(kind, "abolished") != !*fields[1]) {
            fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv),
                    *fields[1] ? "an abolished unit (Giải thể) has no new_code"
                               : "new_code is empty (only an abolished unit, Giải thể, has none)");
            bad++;
            continue;
        }
        if (!*fields[3] && !*fields[6]) {
            fprintf(stderr, "%s:%d: neither old_code nor old_district_code is given\n", path,
                    tw_csv_line(csv));
            bad++;
            continue;
        }
        if (bad)
            continue;
        snprintf(lno, sizeof lno, "%d", tw_csv_line(csv));
        const char *p[] = {path,      lno,  fields[0], fields[1], fields[2], fields[3], fields[4],
                           fields[5], kind, fields[6], fields[7], fields[8], fields[9]};
        PGresult *r = PQexecParams(pg,
                                   "INSERT INTO lin VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                                   " $10, $11, $12, $13)",
                                   13, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "%s:%d: %s\n", path, tw_csv_line(csv),
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            bad++;
        }
        PQclear(r);
        (*rows)++;
    }
    tw_csv_close(csv);
    fclose(f);
    return bad;
}

/* Checks of the staged rows against the versions known on the eve of the
 * effective date ($1). Each returns "file:line: message" lines. */
static const char *const lineage_checks[] = {
    /* an old unit must exist on the eve. Its name is not compared: the code
     * identifies it, and the statistics office's own lists spell names
     * differently ("Xã Ga Ri" in the list, "Xã Gari" in the table). */
    "SELECT l.source || ':' || l.line || ': old unit ' || coalesce(nullif(l.old_code, ''),"
    " l.old_dist) || ' (' || coalesce(nullif(l.old_name, ''), l.old_dist_name) || ') is not in the"
    " reference data on ' || ($1::date - 1) || ': load it with --localities first'"
    "  FROM lin l WHERE ref.unit_at(coalesce(nullif(l.old_code, ''), l.old_dist), $1::date - 1)"
    " IS NULL ORDER BY l.source, l.line",
    "SELECT min(l.source || ':' || l.line) || ': old province ' || l.old_prov || ' (' ||"
    " min(l.old_prov_name) || ') is not in the reference data on ' || ($1::date - 1)"
    "  FROM lin l WHERE (ref.unit_at(l.old_prov, $1::date - 1)).level IS DISTINCT FROM 'province'"
    " GROUP BY l.old_prov",
    /* one new unit, one name, one province, a level its name tells */
    "SELECT b.source || ':' || b.line || ': new unit ' || b.new_code || ' is \"' || b.new_name"
    " || '\" in province ' || b.new_prov || ' here but \"' || a.new_name || '\" in province ' ||"
    " a.new_prov || ' on line ' || a.line FROM lin a JOIN lin b ON b.new_code = a.new_code"
    " AND (a.source, a.line) < (b.source, b.line)"
    " AND (a.new_name, a.new_prov) IS DISTINCT FROM (b.new_name, b.new_prov)"
    " WHERE NOT EXISTS (SELECT 1 FROM lin c WHERE c.new_code = a.new_code"
    "  AND (c.source, c.line) < (a.source, a.line)) ORDER BY b.source, b.line",
    "SELECT l.source || ':' || l.line || ': cannot tell the level of \"' || l.new_name || '\""
    " (Xã, Phường, Thị trấn or Đặc khu)' FROM lin l"
    " WHERE l.kind <> 'abolished' AND ref.level_of_name(l.new_name) IS NULL"
    " ORDER BY l.source, l.line",
    "SELECT l.source || ':' || l.line || ': new province ' || l.new_prov || ' is not in the"
    " reference data on ' || ($1::date - 1) FROM lin l"
    " WHERE l.kind <> 'abolished' AND (ref.unit_at(l.new_prov, $1::date - 1)).level"
    " IS DISTINCT FROM 'province' ORDER BY l.source, l.line",
    /* a unit goes wholly to one new unit, or is split in parts */
    "SELECT b.source || ':' || b.line || ': old unit ' || b.old_code || ' also goes to ' ||"
    " coalesce(a.new_code, 'nothing (Giải thể)') || ' on ' || a.source || ':' || a.line ||"
    " '; a unit given to several new units must be marked Nhập một phần on every row'"
    "  FROM lin a JOIN lin b ON b.old_code = a.old_code AND a.old_code <> ''"
    "   AND (a.source, a.line) < (b.source, b.line)"
    " WHERE a.kind <> 'partial' OR b.kind <> 'partial' ORDER BY b.source, b.line",
    "SELECT min(l.source || ':' || l.line) || ': old unit ' || l.old_code || ' is split (Nhập"
    " một phần) but goes to one new unit only; where did the rest go?'"
    "  FROM lin l WHERE l.kind = 'partial' GROUP BY l.old_code"
    " HAVING count(DISTINCT l.new_code) < 2",
    /* no unit both made and unmade on the same day (codes swapping meaning) */
    "WITH RECURSIVE e AS (SELECT DISTINCT old_code AS a, new_code AS b, source, line FROM lin"
    "  WHERE old_code <> '' AND new_code <> '' AND old_code <> new_code),"
    " walk (start, at, path, source, line) AS ("
    "  SELECT a, b, ARRAY[a, b], source, line FROM e"
    "  UNION ALL SELECT w.start, e.b, w.path || e.b, w.source, w.line FROM walk w"
    "  JOIN e ON e.a = w.at WHERE NOT e.b = ANY (w.path[2:]) AND cardinality(w.path) < 50)"
    " SELECT DISTINCT ON (start) source || ':' || line || ': cycle in the lineage: ' ||"
    " array_to_string(path, ' -> ') || ' (a code cannot both end and go on on one date)'"
    "  FROM walk WHERE at = start ORDER BY start, source, line",
    /* a new unit must not collide with a later version already loaded */
    "SELECT min(l.source || ':' || l.line) || ': new unit ' || l.new_code || ' from ' || $1 ||"
    " ' overlaps its version ' || v.valid_from || ' to ' || v.valid_to || ' (' ||"
    " coalesce(nullif(v.source, ''), 'loaded before') || ')'"
    "  FROM lin l JOIN ref.unit_version v ON v.code = l.new_code AND v.valid_from >= $1::date"
    "   AND v.valid_from <> $1::date GROUP BY l.new_code, v.valid_from, v.valid_to, v.source",
    /* every unit of the provinces reorganised must have a row */
    "WITH prov AS (SELECT DISTINCT old_prov AS code FROM lin),"
    " eve AS (SELECT v.* FROM ref.unit_version v WHERE $1::date - 1 BETWEEN v.valid_from AND"
    "  v.valid_to),"
    " under AS (SELECT c.code, c.name, c.level, c.source, d.name AS parent_name FROM eve c"
    "  JOIN eve d ON d.code = c.parent_code"
    "  WHERE d.code IN (SELECT code FROM prov) OR d.parent_code IN (SELECT code FROM prov))"
    " SELECT (SELECT min(source) FROM lin) || ': no row for ' || lower(left(u.name, 1)) ||"
    " substr(u.name, 2) || ' (' || u.code || ', ' || u.parent_name || '), which ends on ' ||"
    " ($1::date - 1) || ' with its province: give its successor, or mark it abolished (note"
    " Giải thể), in this file or another --lineage file (it was loaded from ' ||"
    " coalesce(nullif(u.source, ''), 'an earlier load') || ')'"
    "  FROM under u WHERE u.code NOT IN (SELECT old_code FROM lin)"
    "   AND u.code NOT IN (SELECT old_dist FROM lin) ORDER BY u.code",
    NULL};

/* Turning the staged rows into versions and lineage ($1 effective date,
 * $2 legal act). Idempotent: a second load of the same file changes
 * nothing. */
static const char *const lineage_apply[] = {
    /* the new units, flags from the units they were made of (until a
     * --localities load says otherwise) */
    "INSERT INTO ref.unit_version AS x (code, valid_from, name, level, parent_code,"
    " ethnic_minority, mountainous, border, especially_difficult, source)"
    " SELECT l.new_code, $1::date, min(l.new_name), ref.level_of_name(min(l.new_name)),"
    "  min(l.new_prov), bool_or(v.ethnic_minority), bool_or(v.mountainous), bool_or(v.border),"
    "  bool_or(v.especially_difficult), min(l.source || ':' || l.line)"
    "  FROM lin l LEFT JOIN LATERAL ref.unit_at(coalesce(nullif(l.old_code, ''), l.old_dist),"
    "   $1::date - 1) v ON true WHERE l.kind <> 'abolished' GROUP BY l.new_code"
    " ON CONFLICT (code, valid_from) DO UPDATE SET name = excluded.name, level = excluded.level,"
    " parent_code = excluded.parent_code, updated_at = now()"
    " WHERE (x.name, x.level, x.parent_code)"
    "  IS DISTINCT FROM (excluded.name, excluded.level, excluded.parent_code)",
    /* the new provinces keep their names */
    "INSERT INTO ref.unit_version (code, valid_from, name, level, source)"
    " SELECT DISTINCT ON (l.new_prov) l.new_prov, $1::date, v.name, 'province', l.source"
    "  FROM lin l, ref.unit_at(l.new_prov, $1::date - 1) v WHERE l.kind <> 'abolished'"
    " ON CONFLICT (code, valid_from) DO NOTHING",
    /* commune-level rows (and a district turned into a special zone) */
    "INSERT INTO ref.unit_lineage AS x (old_code, old_from, new_code, new_from, effective, kind,"
    " legal_act, note, source)"
    " SELECT v.code, v.valid_from, nullif(l.new_code, ''), CASE WHEN l.new_code <> '' THEN"
    "  $1::date END, $1::date, l.kind, $2, l.note, l.source || ':' || l.line"
    "  FROM lin l, ref.unit_at(coalesce(nullif(l.old_code, ''), l.old_dist), $1::date - 1) v"
    " ON CONFLICT (old_code, old_from, coalesce(new_code, ''), coalesce(new_from, 'infinity'))"
    " DO UPDATE SET kind = excluded.kind, legal_act = excluded.legal_act, note = excluded.note"
    " WHERE (x.kind, x.legal_act, x.note) IS DISTINCT FROM"
    "  (excluded.kind, excluded.legal_act, excluded.note)",
    /* the districts end with the district level */
    "INSERT INTO ref.unit_lineage (old_code, old_from, effective, kind, legal_act, note, source)"
    " SELECT DISTINCT ON (v.code) v.code, v.valid_from, $1::date, 'abolished', $2,"
    "  'cấp huyện kết thúc hoạt động (district level ended)', l.source || ':' || l.line"
    "  FROM lin l, ref.unit_at(l.old_dist, $1::date - 1) v"
    " WHERE l.old_code <> '' AND v.level = 'district' AND v.code IS NOT NULL"
    "  AND l.old_dist NOT IN (SELECT old_dist FROM lin WHERE old_code = '')"
    " ORDER BY v.code, l.source, l.line"
    " ON CONFLICT (old_code, old_from, coalesce(new_code, ''), coalesce(new_from, 'infinity'))"
    " DO NOTHING",
    /* the old provinces go whole into the new one */
    "INSERT INTO ref.unit_lineage (old_code, old_from, new_code, new_from, effective, kind,"
    " legal_act, source)"
    " SELECT DISTINCT ON (v.code) v.code, v.valid_from, l.new_prov, $1::date, $1::date, 'whole',"
    "  $2, l.source || ':' || l.line"
    "  FROM lin l, ref.unit_at(l.old_prov, $1::date - 1) v"
    " WHERE l.kind <> 'abolished' AND v.code IS NOT NULL ORDER BY v.code, l.source, l.line"
    " ON CONFLICT (old_code, old_from, coalesce(new_code, ''), coalesce(new_from, 'infinity'))"
    " DO NOTHING",
    /* and every old version named ends on the eve */
    "UPDATE ref.unit_version v SET valid_to = $1::date - 1, updated_at = now()"
    "  FROM ref.unit_lineage g WHERE g.effective = $1::date AND g.old_code = v.code"
    "   AND g.old_from = v.valid_from AND v.valid_to <> $1::date - 1",
    NULL};

/* How many of $1, $2 a query uses (PostgreSQL refuses extra parameters). */
static int params_used(const char *sql)
{
    return strstr(sql, "$2") ? 2 : strstr(sql, "$1") ? 1 : 0;
}

/* Runs each query, printing its rows; returns how many it printed, -1 on
 * a database error. */
static int report_rows(PGconn *pg, const char *const *queries, const char *const *params)
{
    char line[400];
    int found = 0;
    for (const char *const *q = queries; *q; q++) {
        PGresult *r = PQexecParams(pg, *q, params_used(*q), NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "twinctl load-reference: check: %s\n",
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            PQclear(r);
            return -1;
        }
        for (int i = 0; i < PQntuples(r); i++)
            fprintf(stderr, "%s\n", PQgetvalue(r, i, 0));
        found += PQntuples(r);
        PQclear(r);
    }
    return found;
}

int twctl_lineage_apply(PGconn *pg, const char *effective, const char *act, int *rows)
{
    char line[400];
    const char *params[] = {effective, act};
    int bad = report_rows(pg, lineage_checks, params);

    *rows = 0;
    if (bad != 0)
        return -1;
    for (const char *const *q = lineage_apply; *q; q++) {
        PGresult *r = PQexecParams(pg, *q, params_used(*q), NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "twinctl load-reference: apply the lineage: %s\n",
                    tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            PQclear(r);
            return -1;
        }
        *rows += atoi(PQcmdTuples(r));
        PQclear(r);
    }
    return 0;
}

/* Whole-table checks, after every file of a load is in: what a load may
 * leave wrong whichever file it came from. */
static const char *const geo_checks[] = {
    "SELECT coalesce(nullif(b.source, ''), 'an earlier load') || ': unit ' || b.code || ' from ' ||"
    " b.valid_from || ' to ' || b.valid_to || ' overlaps its version from ' || a.valid_from ||"
    " ' to ' || a.valid_to || ' (' || coalesce(nullif(a.source, ''), 'an earlier load') || ')'"
    "  FROM ref.unit_version a JOIN ref.unit_version b ON b.code = a.code"
    "   AND b.valid_from > a.valid_from AND b.valid_from <= a.valid_to ORDER BY b.code",
    "SELECT coalesce(nullif(v.source, ''), 'an earlier load') || ': unit ' || v.code || ' (' ||"
    " v.name || ') ends on ' || v.valid_to || ' with no successor and no abolished mark: load"
    " its lineage (--lineage) in the same run'"
    "  FROM ref.unit_version v WHERE v.valid_to <> 'infinity' AND NOT EXISTS"
    "  (SELECT 1 FROM ref.unit_lineage g WHERE g.old_code = v.code AND g.old_from = v.valid_from)"
    " ORDER BY v.code, v.valid_from",
    "SELECT coalesce(nullif(g.source, ''), 'an earlier load') || ': date gap: ' || o.code || ' ends"
    " on ' || o.valid_to || ' but its successor ' || n.code || ' begins on ' || n.valid_from"
    "  FROM ref.unit_lineage g JOIN ref.unit_version o ON o.code = g.old_code"
    "   AND o.valid_from = g.old_from"
    "  JOIN ref.unit_version n ON n.code = g.new_code AND n.valid_from = g.new_from"
    " WHERE n.valid_from <> o.valid_to + 1 ORDER BY g.source",
    "SELECT coalesce(nullif(b.source, ''), 'an earlier load') || ': date gap: unit ' || b.code ||"
    " ' has no version from ' || (a.valid_to + 1) || ' to ' || (b.valid_from - 1)"
    "  FROM ref.unit_version a JOIN LATERAL (SELECT * FROM ref.unit_version n"
    "   WHERE n.code = a.code AND n.valid_from > a.valid_from ORDER BY n.valid_from LIMIT 1) b"
    "   ON true WHERE b.valid_from > a.valid_to + 1 ORDER BY b.code",
    "WITH RECURSIVE w (start, at, path, source) AS ("
    " SELECT old_code, new_code, ARRAY[old_code, new_code], source FROM ref.agency_lineage"
    "  WHERE new_code IS NOT NULL"
    " UNION ALL SELECT w.start, g.new_code, w.path || g.new_code, w.source FROM w"
    "  JOIN ref.agency_lineage g ON g.old_code = w.at AND g.new_code IS NOT NULL"
    "  WHERE NOT g.new_code = ANY (w.path[2:]) AND cardinality(w.path) < 50)"
    " SELECT DISTINCT ON (start) source || ': cycle in the agencies'' lineage: ' ||"
    " array_to_string(path, ' -> ') FROM w WHERE at = start ORDER BY start, source",
    "SELECT coalesce(nullif(v.source, ''), 'an earlier load') || ': unit ' || v.code || ' (' ||"
    " v.name || '): parent ' || v.parent_code || ' has no version on ' ||"
    " greatest(v.valid_from, '0001-01-01')"
    "  FROM ref.unit_version v WHERE v.parent_code IS NOT NULL"
    "   AND ref.unit_at(v.parent_code, greatest(v.valid_from, '0001-01-01')) IS NULL"
    " ORDER BY v.code",
    NULL};

int twctl_geo_check(PGconn *pg)
{
    return report_rows(pg, geo_checks, NULL);
}
