/* report.c: twinctl report annual, the yearly report to the provincial
 * Standing Committee (DESIGN.md "Supervision views"). Every figure is the
 * year's as it stood at 24:00 local time on 31 December, computed by
 * schemas/005_scorecard.sql from the event log; this file only asks for
 * the sections and hands them to a writer (report_write.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "report.h"
#include "twinctl.h"

/* The measures of a set of (agency, locality) pairs of the year, summed
 * over rows of r_pair (supervision.pair_year, materialised once) joined to
 * r_unit u (the unit each code names on 31 December, issue 13): twinnings
 * of one agency whose communes merged are one pair. */
#define MEASURES_SQL                                                                               \
    " count(DISTINCT p.agency_code || '|' || u.code) FILTER (WHERE p.twinning_active),"            \
    " sum(p.pledges_made)::bigint, sum(p.pledged_vnd)::bigint, sum(p.delivered_vnd)::bigint,"      \
    " sum(p.pledges_due)::bigint, sum(p.fulfilled_on_time)::bigint,"                               \
    " round(100.0 * sum(p.fulfilled_on_time) / nullif(sum(p.pledges_due), 0), 1),"                 \
    " sum(p.overdue_at_year_end)::bigint, sum(p.visits)::bigint, sum(p.trainees)::bigint,"         \
    " sum(p.jobs)::bigint, sum(p.models_replicated)::bigint,"                                      \
    " sum(p.substantive_activities)::bigint, sum(p.formal_activities)::bigint,"                    \
    " round(100.0 * sum(p.substantive_activities)"                                                 \
    "       / nullif(sum(p.substantive_activities + p.formal_activities), 0), 1)"

#define MEASURES_COLS                                                                              \
    {"twinnings_active", TW_COL_INT, "Cặp kết nghĩa hoạt động", "Active twinnings"},               \
        {"pledges_made", TW_COL_INT, "Cam kết mới", "New pledges"},                                \
        {"pledged_vnd", TW_COL_VND, "Giá trị cam kết mới", "New pledges' value"},                  \
        {"delivered_vnd", TW_COL_VND, "Giá trị đã hỗ trợ", "Support delivered"},                   \
        {"pledges_due", TW_COL_INT, "Cam kết đến hạn", "Pledges due"},                             \
        {"fulfilled_on_time", TW_COL_INT, "Hoàn thành đúng hạn", "Fulfilled on time"},             \
        {"on_time_pct", TW_COL_PCT, "Tỷ lệ đúng hạn", "On time"},                                  \
        {"overdue_at_year_end", TW_COL_INT, "Quá hạn cuối năm", "Overdue at year end"},            \
        {"visits", TW_COL_INT, "Lượt thăm", "Visits"},                                             \
        {"trainees", TW_COL_INT, "Người được đào tạo", "Trainees"},                                \
        {"jobs", TW_COL_INT, "Việc làm", "Jobs"},                                                  \
        {"models_replicated", TW_COL_INT, "Mô hình nhân rộng", "Models replicated"},               \
        {"substantive_activities", TW_COL_INT, "Hoạt động thực chất", "Substantive activities"},   \
        {"formal_activities", TW_COL_INT, "Hoạt động hình thức", "Formal activities"},             \
    {                                                                                              \
        "substantive_share", TW_COL_PCT, "Tỷ lệ thực chất", "Substantive share"                    \
    }

static const tw_report_col province_cols[] = {
    {"districts", TW_COL_INT, "Huyện có kết nghĩa", "Districts with twinnings"},
    {"communes", TW_COL_INT, "Xã có kết nghĩa", "Communes with twinnings"},
    MEASURES_COLS,
};
static const tw_report_col district_cols[] = {
    {"district_code", TW_COL_CODE, "Mã", "Code"},
    {"district_name", TW_COL_NAME, "Huyện", "District"},
    MEASURES_COLS,
};
static const tw_report_col commune_cols[] = {
    {"locality_code", TW_COL_CODE, "Mã", "Code"},
    {"locality_name", TW_COL_NAME, "Xã", "Commune"},
    {"district_name", TW_COL_TEXT, "Huyện (cũ)", "District (former)"},
    {"former_units", TW_COL_TEXT, "Đơn vị trước đây", "Formerly"},
    MEASURES_COLS,
};
static const tw_report_col reorg_cols[] = {
    {"effective", TW_COL_DATE, "Hiệu lực", "In force"},
    {"legal_act", TW_COL_TEXT, "Văn bản", "Legal act"},
    {"kind", TW_COL_CODE, "Hình thức", "Kind"},
    {"old_units", TW_COL_INT, "Đơn vị cũ", "Former units"},
    {"new_units", TW_COL_INT, "Đơn vị mới", "New units"},
};
static const tw_report_col scorecard_cols[] = {
    {"rank", TW_COL_INT, "Hạng", "Rank"},
    {"agency_code", TW_COL_CODE, "Mã", "Code"},
    {"agency_name", TW_COL_NAME, "Cơ quan, đơn vị", "Agency"},
    {"pledges_due", TW_COL_INT, "Cam kết đến hạn", "Pledges due"},
    {"fulfilled_on_time", TW_COL_INT, "Hoàn thành đúng hạn", "Fulfilled on time"},
    {"on_time_pct", TW_COL_PCT, "Tỷ lệ đúng hạn", "On time"},
    {"substantive_share", TW_COL_PCT, "Tỷ lệ thực chất", "Substantive share"},
    {"active_quarters", TW_COL_INT, "Số quý có hoạt động", "Active quarters"},
    {"overdue_at_year_end", TW_COL_INT, "Quá hạn cuối năm", "Overdue at year end"},
    {"rating", TW_COL_RATING, "Xếp loại", "Rating"},
};
static const tw_report_col overdue_cols[] = {
    {"agency_code", TW_COL_CODE, "Cơ quan", "Agency"},
    {"pledge_id", TW_COL_CODE, "Cam kết", "Pledge"},
    {"locality_code", TW_COL_TEXT, "Mã xã", "Locality code"},
    {"locality_name", TW_COL_TEXT, "Địa phương", "Locality"},
    {"category", TW_COL_CATEGORY, "Lĩnh vực", "Category"},
    {"due_date", TW_COL_DATE, "Hạn", "Due"},
    {"days_overdue", TW_COL_INT, "Số ngày quá hạn", "Days overdue"},
    {"amount_vnd", TW_COL_VND, "Giá trị cam kết", "Pledged"},
    {"delivered_vnd", TW_COL_VND, "Đã hỗ trợ", "Delivered"},
};
static const tw_report_col alert_cols[] = {
    {"rule", TW_COL_CODE, "Quy tắc", "Rule"},
    {"raised", TW_COL_INT, "Phát sinh", "Raised"},
    {"critical", TW_COL_INT, "Trong đó nghiêm trọng", "Of which critical"},
    {"resolved", TW_COL_INT, "Đã xử lý", "Resolved"},
    {"open_at_year_end", TW_COL_INT, "Còn mở cuối năm", "Open at year end"},
};
static const tw_report_col mix_cols[] = {
    {"year", TW_COL_CODE, "Năm", "Year"},
    {"substantive_activities", TW_COL_INT, "Hoạt động thực chất", "Substantive activities"},
    {"formal_activities", TW_COL_INT, "Hoạt động hình thức", "Formal activities"},
    {"substantive_share", TW_COL_PCT, "Tỷ lệ thực chất", "Substantive share"},
    {"change_pp", TW_COL_PP, "Thay đổi (điểm %)", "Change (points)"},
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Materialised once per report, so every section reads one snapshot. */
static const char *PREPARE_SQL[] = {
    "BEGIN ISOLATION LEVEL REPEATABLE READ",
    "CREATE TEMP TABLE r_pair ON COMMIT DROP AS SELECT * FROM supervision.pair_year($1::integer)",
    "CREATE TEMP TABLE r_pair_prev ON COMMIT DROP AS"
    " SELECT * FROM supervision.pair_year($1::integer - 1)",
    /* the geography of 31 December: each code the year's figures name, as
     * the unit it is (or became part of) that day, its district that day
     * (or the former one), its province, and the units it was made from */
    "CREATE TEMP TABLE r_unit ON COMMIT DROP AS"
    " SELECT c.sent, u.code, u.name, ref.tier(u.level) AS level,"
    "  coalesce(d.code, fd.code) AS district_code, coalesce(d.name, fd.name) AS district_name,"
    "  d.code IS NOT NULL AS district_in_force, pr.code AS province_code, pr.name AS province_name,"
    "  (SELECT string_agg(f.name, ', ' ORDER BY f.code) FROM ref.former_units(u.code, "
    "u.valid_from) f"
    "   WHERE (f.code, f.name) IS DISTINCT FROM (u.code, u.name)) AS former_units"
    " FROM (SELECT locality_code AS sent FROM r_pair UNION SELECT locality_code FROM r_pair_prev"
    "  UNION SELECT locality_code FROM supervision.pledge_year_end($1::integer)) c"
    " CROSS JOIN LATERAL ref.unit_on(c.sent, make_date($1::integer, 12, 31),"
    "  make_date($1::integer, 12, 31)) u"
    " LEFT JOIN LATERAL ref.ancestor(u.code, make_date($1::integer, 12, 31), 'district') d ON true"
    " LEFT JOIN LATERAL ref.former_district(u.code, u.valid_from) fd ON true"
    " LEFT JOIN LATERAL ref.ancestor(u.code, make_date($1::integer, 12, 31), 'province') pr"
    "  ON true WHERE u.code IS NOT NULL",
};

static tw_report_section sections[] = {
    {"province", "Toàn tỉnh", "Province totals", NULL, NULL, 1, province_cols, NCOLS(province_cols),
     "SELECT count(DISTINCT CASE WHEN u.level = 'commune' THEN u.district_code ELSE u.code END)"
     "  FILTER (WHERE u.district_in_force OR u.level = 'district'),"
     " count(DISTINCT u.code) FILTER (WHERE u.level = 'commune')," MEASURES_SQL
     " FROM r_pair p JOIN r_unit u ON u.sent = p.locality_code",
     NULL},
    {"districts", "Theo huyện", "By district", NULL, NULL, 0, district_cols, NCOLS(district_cols),
     /* districts in force on 31 December only: none after 1 July 2025 */
     "SELECT CASE WHEN u.level = 'commune' THEN u.district_code ELSE u.code END,"
     " CASE WHEN u.level = 'commune' THEN u.district_name ELSE u.name END," MEASURES_SQL
     " FROM r_pair p JOIN r_unit u ON u.sent = p.locality_code"
     " WHERE u.district_in_force OR u.level = 'district'"
     " GROUP BY 1, 2 ORDER BY 1",
     NULL},
    {"communes", "Theo xã", "By commune", NULL, NULL, 0, commune_cols, NCOLS(commune_cols),
     "SELECT u.code, u.name, u.district_name, u.former_units," MEASURES_SQL " FROM r_pair p"
     " JOIN r_unit u ON u.sent = p.locality_code AND u.level = 'commune'"
     " GROUP BY u.code, u.name, u.district_code, u.district_name, u.former_units"
     " ORDER BY u.district_code, u.code",
     NULL},
    {"scorecard", "Xếp loại cơ quan, đơn vị", "Agency scorecard",
     "Xếp loại theo bảng supervision.rating_rules (xem README): đúng hạn = sự kiện hoàn thành "
     "cam kết xảy ra không muộn hơn hạn cuối cùng; tỷ lệ thực chất = hoạt động thực chất / "
     "(thực chất + hình thức) trong năm.",
     "Rated by supervision.rating_rules (see the README): on time = the event completing the "
     "pledge occurred on or before its latest due date; substantive share = substantive / "
     "(substantive + formal) activities in the year.",
     0, scorecard_cols, NCOLS(scorecard_cols),
     "SELECT s.rank_in_year, s.agency_code, coalesce(a.name, s.agency_code), s.pledges_due,"
     " s.fulfilled_on_time, s.on_time_pct, s.substantive_share, s.active_quarters,"
     " s.overdue_at_year_end, s.rating"
     " FROM supervision.scorecard($1::integer) s LEFT JOIN ref.agency a ON a.code = s.agency_code"
     " ORDER BY s.rank_in_year",
     NULL},
    {"overdue_pledges", "Cam kết quá hạn tại thời điểm cuối năm", "Pledges overdue at year end",
     NULL, NULL, 0, overdue_cols, NCOLS(overdue_cols),
     "SELECT y.agency_code, y.pledge_id, coalesce(u.code, y.locality_code), u.name, y.category,"
     " y.due_date, make_date($1::integer, 12, 31) - y.due_date, y.amount_vnd, y.delivered_vnd"
     " FROM supervision.pledge_year_end($1::integer) y"
     " LEFT JOIN r_unit u ON u.sent = y.locality_code"
     " WHERE y.status = 'open' AND y.due_date <= make_date($1::integer, 12, 31)"
     " ORDER BY y.due_date, y.agency_code, y.pledge_id",
     NULL},
    {"alerts", "Cảnh báo trong năm", "Alerts in the year",
     "Phát sinh = mở hoặc mở lại trong năm; nghiêm trọng = cảnh báo có lúc ở mức critical trong "
     "năm; "
     "còn mở = chưa xử lý xong lúc 24 giờ ngày 31/12.",
     "Raised = opened or reopened in the year; critical = alerts critical at some moment of "
     "the year; open at year end = not resolved at 24:00 on 31/12.",
     0, alert_cols, NCOLS(alert_cols),
     "WITH h AS ("
     " SELECT a.rule, h.alert_id, h.transition_no, h.kind, h.state, h.severity, h.at,"
     "  h.at >= supervision.year_start($1::integer)"
     "  AND h.at < supervision.year_end($1::integer) AS in_year"
     " FROM alerting.alert_history h JOIN alerting.alert a ON a.alert_id = h.alert_id"
     "), last AS ("
     " SELECT DISTINCT ON (h.alert_id) h.rule, h.state FROM h"
     " WHERE h.at < supervision.year_end($1::integer)"
     " ORDER BY h.alert_id, h.at DESC, h.transition_no DESC"
     "), first AS ("
     " SELECT DISTINCT ON (h.alert_id) h.alert_id, h.rule, h.state, h.severity FROM h"
     " WHERE h.at < supervision.year_start($1::integer)"
     " ORDER BY h.alert_id, h.at DESC, h.transition_no DESC"
     "), rules AS (SELECT rule FROM alerting.rule_config UNION SELECT rule FROM alerting.alert)"
     " SELECT r.rule,"
     " (SELECT count(*) FROM h WHERE h.rule = r.rule AND h.in_year"
     "   AND h.kind IN ('open', 'reopen')),"
     " (SELECT count(*) FROM (SELECT h.alert_id FROM h WHERE h.rule = r.rule AND h.in_year"
     "   AND h.severity = 'critical' UNION SELECT f.alert_id FROM first f"
     "   WHERE f.rule = r.rule AND f.severity = 'critical' AND f.state <> 'resolved') c),"
     " (SELECT count(*) FROM h WHERE h.rule = r.rule AND h.in_year AND h.kind = 'resolve'),"
     " (SELECT count(*) FROM last WHERE last.rule = r.rule AND last.state <> 'resolved')"
     " FROM rules r ORDER BY r.rule",
     NULL},
    {"activity_mix", "Cơ cấu hoạt động thực chất và hình thức so với năm trước",
     "Substantive and formal activity compared with the previous year", NULL, NULL, 0, mix_cols,
     NCOLS(mix_cols),
     "SELECT year::text, s, f, share, share - lag(share) OVER (ORDER BY year) FROM ("
     " SELECT $1::integer - 1 AS year, coalesce(sum(substantive_activities), 0)::bigint AS s,"
     "  coalesce(sum(formal_activities), 0)::bigint AS f,"
     "  round(100.0 * sum(substantive_activities)"
     "        / nullif(sum(substantive_activities + formal_activities), 0), 1) AS share"
     " FROM r_pair_prev"
     " UNION ALL"
     " SELECT $1::integer, coalesce(sum(substantive_activities), 0)::bigint,"
     "  coalesce(sum(formal_activities), 0)::bigint,"
     "  round(100.0 * sum(substantive_activities)"
     "        / nullif(sum(substantive_activities + formal_activities), 0), 1)"
     " FROM r_pair) m ORDER BY year",
     NULL},
    {"reorganisations", "Sắp xếp đơn vị hành chính có hiệu lực trong năm",
     "Administrative reorganisations in force in the year",
     "Các xã, phường nêu trên theo đơn vị hành chính tại ngày 31/12; số liệu của đơn vị cũ "
     "được tính vào đơn vị mới.",
     "Communes and wards above are those of 31 December; figures of former units count in the "
     "units they became part of.",
     0, reorg_cols, NCOLS(reorg_cols),
     "SELECT effective, legal_act, kind, count(DISTINCT old_code), count(DISTINCT new_code)"
     " FROM ref.unit_lineage WHERE effective BETWEEN make_date($1::integer, 1, 1)"
     " AND make_date($1::integer, 12, 31)"
     " GROUP BY effective, legal_act, kind ORDER BY effective, legal_act, kind",
     NULL},
};

/* Runs sql with $1 = year (when it names $1); the result goes to *out when
 * out is given (the caller clears it). Returns 0, or -1 with err filled. */
__attribute__((warn_unused_result)) static int run(PGconn *pg, const char *sql, const char *year,
                                                   PGresult **out, char *err, size_t errlen)
{
    char line[400];
    const char *params[1] = {year};
    int n = strstr(sql, "$1") ? 1 : 0;
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: twinctl report annual --year Y [--format md|csv|json] [--lang vi|en]\n"
                 "The yearly report to the provincial Standing Committee: province totals, a\n"
                 "table per district and per commune, the agency scorecard ranked, pledges\n"
                 "overdue at year end, alerts, and the substantive/formal mix against the\n"
                 "previous year. Figures are as they stood at 24:00 on 31 December (local\n"
                 "time), from the event log, so a past year's report does not change.\n"
                 "Defaults: --format md, --lang vi.\n");
    return out == stdout ? TW_EXIT_OK : TW_EXIT_USAGE;
}

int twctl_report(int argc, char **argv)
{
    static const struct option opts[] = {{"year", required_argument, NULL, 'y'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    tw_report rep = {
        .year = 0, .lang = TW_LANG_VI, .sections = sections, .nsections = NCOLS(sections)};
    tw_report_format fmt = TW_FMT_MD;
    const char *year = NULL;
    char yearbuf[16], err[512];
    const char *step = "preparing";
    int rc = TW_EXIT_FAIL;
    PGconn *pg;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(argc < 2 ? stderr : stdout);
    if (strcmp(argv[1], "annual") != 0)
        return twctl_usage_error("report", "unknown report \"%s\": the one report is annual",
                                 argv[1]);
    optind = 1;
    argc--;
    argv++;
    for (int c; (c = getopt_long(argc, argv, "y:f:l:h", opts, NULL)) != -1;) {
        char *end;
        long y;
        if (c == 'y') {
            y = strtol(optarg, &end, 10);
            if (end == optarg || *end || y < 2000 || y > 9999)
                return twctl_usage_error("report", "--year %s: expected a year such as 2025",
                                         optarg);
            rep.year = (int)y;
        } else if (c == 'f') {
            if (!strcmp(optarg, "md"))
                fmt = TW_FMT_MD;
            else if (!strcmp(optarg, "csv"))
                fmt = TW_FMT_CSV;
            else if (!strcmp(optarg, "json"))
                fmt = TW_FMT_JSON;
            else
                return twctl_usage_error("report", "--format %s: expected md, csv or json", optarg);
        } else if (c == 'l') {
            if (!strcmp(optarg, "vi"))
                rep.lang = TW_LANG_VI;
            else if (!strcmp(optarg, "en"))
                rep.lang = TW_LANG_EN;
            else
                return twctl_usage_error("report", "--lang %s: expected vi or en", optarg);
        } else if (c == 'h') {
            return usage(stdout);
        } else {
            return TW_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return twctl_usage_error("report", "unexpected argument \"%s\"", argv[optind]);
    if (!rep.year)
        return twctl_usage_error("report", "give --year Y (usage: twinctl report annual --year Y"
                                           " [--format md|csv|json] [--lang vi|en])");
    snprintf(yearbuf, sizeof yearbuf, "%d", rep.year);
    year = yearbuf;

    pg = twctl_pg();
    for (size_t i = 0; i < sizeof PREPARE_SQL / sizeof PREPARE_SQL[0]; i++)
        if (run(pg, PREPARE_SQL[i], year, NULL, err, sizeof err) < 0)
            goto fail;
    for (int k = 0; k < rep.nsections; k++) {
        tw_report_section *s = &sections[k];
        if (run(pg, s->sql, year, &s->res, err, sizeof err) < 0) {
            step = s->key;
            goto fail;
        }
    }
    {
        /* the province the twinned units belong to on 31 December */
        PGresult *pr = NULL;
        if (run(pg,
                "SELECT province_name FROM r_unit WHERE province_name IS NOT NULL"
                " GROUP BY province_name ORDER BY count(*) DESC, province_name LIMIT 1",
                year, &pr, err, sizeof err) < 0) {
            step = "province";
            goto fail;
        }
        if (PQntuples(pr) > 0)
            snprintf(rep.province, sizeof rep.province, "%s", PQgetvalue(pr, 0, 0));
        PQclear(pr);
    }
    step = "commit";
    if (run(pg, "COMMIT", year, NULL, err, sizeof err) < 0)
        goto fail;
    step = "output";
    if ((fmt == TW_FMT_MD    ? tw_report_write_md(&rep, stdout, err, sizeof err)
         : fmt == TW_FMT_CSV ? tw_report_write_csv(&rep, stdout, err, sizeof err)
                             : tw_report_write_json(&rep, stdout, err, sizeof err)) < 0)
        goto fail;
    rc = TW_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "twinctl report annual --year %d: %s: %s\n", rep.year, step, err);
done:
    for (int k = 0; k < rep.nsections; k++) {
        PQclear(sections[k].res);
        sections[k].res = NULL;
    }
    PQfinish(pg);
    return rc;
}
