/* report.h: the yearly report to the provincial Standing Committee
 * (twinctl report annual): its sections as query results with typed,
 * labelled columns, and the writers that print them as Markdown, CSV or
 * JSON in Vietnamese or English. */
#ifndef TWCTL_REPORT_H
#define TWCTL_REPORT_H

#include <stdio.h>
#include <libpq-fe.h>

typedef enum { TW_LANG_VI = 0, TW_LANG_EN } tw_report_lang;
typedef enum { TW_FMT_MD = 0, TW_FMT_CSV, TW_FMT_JSON } tw_report_format;

/* How a column's text value (as PostgreSQL prints it) is shown. */
typedef enum {
    TW_COL_TEXT,     /* as is */
    TW_COL_CODE,     /* as is; part of the row's key in CSV */
    TW_COL_NAME,     /* as is; the row's name in CSV */
    TW_COL_INT,      /* 1.234 (vi), 1,234 (en) */
    TW_COL_VND,      /* 150.000.000 ₫ (vi), 150,000,000 VND (en) */
    TW_COL_PCT,      /* 92,5% (vi), 92.5% (en) */
    TW_COL_PP,       /* a change in percentage points: +4,8 / +4.8 */
    TW_COL_DATE,     /* 31/03/2025 (vi), 2025-03-31 (en) */
    TW_COL_RATING,   /* EXCELLENT -> Xuất sắc / Excellent */
    TW_COL_CATEGORY, /* ECONOMIC_MODEL -> Mô hình kinh tế / Economic model */
} tw_report_kind;

typedef struct tw_report_col {
    const char *key; /* the SQL column, CSV metric and JSON member */
    tw_report_kind kind;
    const char *vi, *en; /* labels */
} tw_report_col;

typedef struct tw_report_section {
    const char *key; /* JSON member, CSV section */
    const char *title_vi, *title_en;
    const char *note_vi, *note_en; /* printed under the Markdown table, or NULL */
    int one_row;                   /* a single row: a "measure | value" table, a JSON object */
    const tw_report_col *cols;
    int ncols;
    const char *sql; /* $1 = the year; its columns are cols, in order */
    PGresult *res;
} tw_report_section;

typedef struct tw_report {
    int year;
    /* The province of 31 December of the year, in whose geography the
     * report reads ("Tỉnh Quảng Nam", "Thành phố Đà Nẵng"); "" if unknown. */
    char province[160];
    tw_report_lang lang;
    tw_report_section *sections;
    int nsections;
} tw_report;

/* A value formatted for people in the report's language (Markdown); "–"
 * for NULL. Returns out. */
const char *tw_report_fmt_value(tw_report_kind kind, const char *v, int isnull, tw_report_lang lang,
                                char *out, size_t outlen);

/* The label of a column, the title of a section, in the report's language. */
const char *tw_report_label(const tw_report_col *c, tw_report_lang lang);
/* The Standing Committee the report goes to (see tw_report.province). */
void tw_report_addressee(const tw_report *r, char *out, size_t outlen);
const char *tw_report_title(const tw_report_section *s, tw_report_lang lang);

/* Writers: return 0, or -1 with err filled when writing failed. */
int tw_report_write_md(const tw_report *r, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int tw_report_write_csv(const tw_report *r, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int tw_report_write_json(const tw_report *r, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
