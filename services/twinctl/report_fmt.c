/* report_fmt.c: how the yearly report shows a value to a person, in
 * Vietnamese or English: digit grouping, decimal marks, money, dates,
 * ratings. Machine formats (CSV, JSON) keep PostgreSQL's plain values. */
#include <stdio.h>
#include <string.h>

#include "report.h"

const char *tw_report_label(const tw_report_col *c, tw_report_lang lang)
{
    return lang == TW_LANG_EN ? c->en : c->vi;
}

const char *tw_report_title(const tw_report_section *s, tw_report_lang lang)
{
    return lang == TW_LANG_EN ? s->title_en : s->title_vi;
}

/* Groups the integer digits of a plain number ("-1234567.5") by three with
 * sep, and writes dec for its decimal point. */
static const char *group_digits(const char *v, const char *sep, const char *dec, char *out,
                                size_t outlen)
{
    size_t o = 0;
    const char *p = v;
    const char *dot = strchr(v, '.');
    size_t intlen;
    if (*p == '-' || *p == '+') {
        if (o + 1 < outlen)
            out[o++] = *p;
        p++;
    }
    intlen = dot ? (size_t)(dot - p) : strlen(p);
    for (size_t i = 0; i < intlen && o + 4 < outlen; i++) {
        if (i > 0 && (intlen - i) % 3 == 0)
            for (const char *s = sep; *s && o + 1 < outlen; s++)
                out[o++] = *s;
        out[o++] = p[i];
    }
    if (dot) {
        for (const char *s = dec; *s && o + 1 < outlen; s++)
            out[o++] = *s;
        for (const char *s = dot + 1; *s && o + 1 < outlen; s++)
            out[o++] = *s;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
    return out;
}

static const char *rating_name(const char *v, tw_report_lang lang)
{
    static const struct {
        const char *code, *vi, *en;
    } names[] = {{"EXCELLENT", "Xuất sắc", "Excellent"},
                 {"GOOD", "Tốt", "Good"},
                 {"FAIR", "Trung bình", "Fair"},
                 {"WEAK", "Yếu", "Weak"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].code))
            return lang == TW_LANG_EN ? names[i].en : names[i].vi;
    return v;
}

static const char *category_name(const char *v, tw_report_lang lang)
{
    static const struct {
        const char *code, *vi, *en;
    } names[] = {{"ECONOMIC_MODEL", "Mô hình kinh tế", "Economic model"},
                 {"MODEL_REPLICATION", "Nhân rộng mô hình", "Model replication"},
                 {"INFRASTRUCTURE", "Cơ sở hạ tầng", "Infrastructure"},
                 {"HOUSING", "Nhà ở", "Housing"},
                 {"LIVELIHOOD_GOODS", "Hỗ trợ sinh kế", "Livelihood goods"},
                 {"CADRE_TRAINING", "Đào tạo cán bộ", "Cadre training"},
                 {"VOCATIONAL_TRAINING", "Đào tạo nghề", "Vocational training"},
                 {"JOB_CREATION", "Tạo việc làm", "Job creation"},
                 {"SOCIAL_SECURITY", "An sinh xã hội", "Social security"},
                 {"OTHER", "Khác", "Other"},
                 {"CATEGORY_UNSPECIFIED", "Chưa phân loại", "Unspecified"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].code))
            return lang == TW_LANG_EN ? names[i].en : names[i].vi;
    return v;
}

const char *tw_report_fmt_value(tw_report_kind kind, const char *v, int isnull, tw_report_lang lang,
                                char *out, size_t outlen)
{
    int en = lang == TW_LANG_EN;
    char num[64];
    int y, m, d;

    if (isnull) {
        snprintf(out, outlen, "–");
        return out;
    }
    switch (kind) {
    case TW_COL_INT:
        return group_digits(v, en ? "," : ".", en ? "." : ",", out, outlen);
    case TW_COL_VND:
        group_digits(v, en ? "," : ".", en ? "." : ",", num, sizeof num);
        snprintf(out, outlen, en ? "%s VND" : "%s ₫", num);
        return out;
    case TW_COL_PCT:
        group_digits(v, en ? "," : ".", en ? "." : ",", num, sizeof num);
        snprintf(out, outlen, "%s%%", num);
        return out;
    case TW_COL_PP:
        group_digits(v, en ? "," : ".", en ? "." : ",", num, sizeof num);
        snprintf(out, outlen, "%s%s", *v == '-' ? "" : "+", num);
        return out;
    case TW_COL_DATE:
        if (!en && sscanf(v, "%4d-%2d-%2d", &y, &m, &d) == 3)
            snprintf(out, outlen, "%02d/%02d/%04d", d, m, y);
        else
            snprintf(out, outlen, "%s", v);
        return out;
    case TW_COL_RATING:
        snprintf(out, outlen, "%s", rating_name(v, lang));
        return out;
    case TW_COL_CATEGORY:
        snprintf(out, outlen, "%s", category_name(v, lang));
        return out;
    case TW_COL_TEXT:
    case TW_COL_CODE:
    case TW_COL_NAME:
        break;
    }
    snprintf(out, outlen, "%s", v);
    return out;
}
