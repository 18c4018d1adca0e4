/* report_write.c: the yearly report's three outputs. Markdown for print
 * (one table per section, values formatted for people), CSV in long form
 * (one row per figure: section, code, name, metric, label, value) that a
 * spreadsheet can pivot, and JSON for scripts (plain numbers, ISO dates,
 * rating codes). */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "report.h"

static int is_number(tw_report_kind k)
{
    return k == TW_COL_INT || k == TW_COL_VND || k == TW_COL_PCT || k == TW_COL_PP;
}

static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

static int finish(FILE *out, char *err, size_t errlen)
{
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "writing the report failed (disk full or a closed pipe?)");
        return -1;
    }
    return 0;
}

static void md_table(const tw_report *r, const tw_report_section *s, FILE *out)
{
    char buf[512];
    int en = r->lang == TW_LANG_EN;
    PGresult *res = s->res;

    if (s->one_row) {
        fprintf(out, "| %s | %s |\n|---|---:|\n", en ? "Measure" : "Chỉ tiêu",
                en ? "Value" : "Giá trị");
        for (int j = 0; PQntuples(res) > 0 && j < s->ncols; j++) {
            fputs("| ", out);
            md_cell(out, tw_report_label(&s->cols[j], r->lang));
            fprintf(out, " | %s |\n",
                    tw_report_fmt_value(s->cols[j].kind, PQgetvalue(res, 0, j),
                                        PQgetisnull(res, 0, j), r->lang, buf, sizeof buf));
        }
        return;
    }
    if (PQntuples(res) == 0) {
        fprintf(out, "%s\n", en ? "_(none)_" : "_(không có)_");
        return;
    }
    for (int j = 0; j < s->ncols; j++) {
        fputs("| ", out);
        md_cell(out, tw_report_label(&s->cols[j], r->lang));
        fputc(' ', out);
    }
    fputs("|\n", out);
    for (int j = 0; j < s->ncols; j++)
        fputs(is_number(s->cols[j].kind) ? "|---:" : "|---", out);
    fputs("|\n", out);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int j = 0; j < s->ncols; j++) {
            fputs("| ", out);
            md_cell(out, tw_report_fmt_value(s->cols[j].kind, PQgetvalue(res, i, j),
                                             PQgetisnull(res, i, j), r->lang, buf, sizeof buf));
            fputc(' ', out);
        }
        fputs("|\n", out);
    }
}

/* "Ban Thường vụ Tỉnh ủy Quảng Nam", "Ban Thường vụ Thành ủy Đà Nẵng": the
 * Standing Committee of the year's province, in the report's language. */
void tw_report_addressee(const tw_report *r, char *out, size_t outlen)
{
    const char *p = r->province, *city = "Thành phố ", *prov = "Tỉnh ";
    int en = r->lang == TW_LANG_EN;
    if (!strncmp(p, city, strlen(city)))
        snprintf(out, outlen,
                 en ? "the Standing Committee of the %s City Party Committee"
                    : "Ban Thường vụ Thành ủy %s",
                 p + strlen(city));
    else if (!strncmp(p, prov, strlen(prov)))
        snprintf(out, outlen,
                 en ? "the Standing Committee of the %s Provincial Party Committee"
                    : "Ban Thường vụ Tỉnh ủy %s",
                 p + strlen(prov));
    else
        snprintf(out, outlen, "%s",
                 en ? "the Standing Committee of the Provincial Party Committee"
                    : "Ban Thường vụ Tỉnh ủy");
}

int tw_report_write_md(const tw_report *r, FILE *out, char *err, size_t errlen)
{
    int en = r->lang == TW_LANG_EN;
    char to[256];
    tw_report_addressee(r, to, sizeof to);
    if (en)
        fprintf(out,
                "# Twinning programmes: annual report %d\n\n"
                "To %s, under Directive "
                "16-CT/TU. Figures are as they stood at 24:00 on 31/12/%d (Viet Nam time), "
                "from the events recorded in twinwatch's audit trail, in the administrative "
                "units of that day.\n",
                r->year, to, r->year);
    else
        fprintf(out,
                "# Báo cáo kết quả thực hiện công tác kết nghĩa năm %d\n\n"
                "Kính gửi %s, theo Chỉ thị 16-CT/TU. Số liệu tính đến 24 giờ "
                "ngày 31/12/%d (giờ Việt Nam), theo các sự kiện ghi trong nhật ký kiểm toán "
                "của twinwatch, theo đơn vị hành chính tại ngày đó.\n",
                r->year, to, r->year);
    for (int k = 0; k < r->nsections; k++) {
        const tw_report_section *s = &r->sections[k];
        fprintf(out, "\n## %d. %s\n\n", k + 1, tw_report_title(s, r->lang));
        md_table(r, s, out);
        if (s->note_vi)
            fprintf(out, "\n%s\n", en ? s->note_en : s->note_vi);
    }
    return finish(out, err, errlen);
}

static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int tw_report_write_csv(const tw_report *r, FILE *out, char *err, size_t errlen)
{
    fputs("section,code,name,metric,label,value\n", out);
    for (int k = 0; k < r->nsections; k++) {
        const tw_report_section *s = &r->sections[k];
        for (int i = 0; i < PQntuples(s->res); i++) {
            char code[512] = "";
            const char *name = "";
            size_t o = 0;
            for (int j = 0; j < s->ncols; j++) {
                if (s->cols[j].kind == TW_COL_CODE)
                    o += (size_t)snprintf(code + o, o < sizeof code ? sizeof code - o : 0, "%s%s",
                                          o ? "|" : "", PQgetvalue(s->res, i, j));
                else if (s->cols[j].kind == TW_COL_NAME)
                    name = PQgetvalue(s->res, i, j);
            }
            for (int j = 0; j < s->ncols; j++) {
                if (s->cols[j].kind == TW_COL_CODE || s->cols[j].kind == TW_COL_NAME)
                    continue;
                csv_field(out, s->key);
                fputc(',', out);
                csv_field(out, code);
                fputc(',', out);
                csv_field(out, name);
                fputc(',', out);
                csv_field(out, s->cols[j].key);
                fputc(',', out);
                csv_field(out, tw_report_label(&s->cols[j], r->lang));
                fputc(',', out);
                csv_field(out, PQgetvalue(s->res, i, j)); /* "" for NULL */
                fputc('\n', out);
            }
        }
    }
    return finish(out, err, errlen);
}

static json_t *json_value(tw_report_kind kind, PGresult *res, int i, int j)
{
    const char *v = PQgetvalue(res, i, j);
    if (PQgetisnull(res, i, j))
        return json_null();
    if (kind == TW_COL_INT || kind == TW_COL_VND)
        return json_integer(strtoll(v, NULL, 10));
    if (kind == TW_COL_PCT || kind == TW_COL_PP)
        return json_real(strtod(v, NULL));
    return json_string(v);
}

static json_t *json_row(const tw_report_section *s, int i)
{
    json_t *o = json_object();
    for (int j = 0; o && j < s->ncols; j++)
        json_object_set_new(o, s->cols[j].key, json_value(s->cols[j].kind, s->res, i, j));
    return o;
}

int tw_report_write_json(const tw_report *r, FILE *out, char *err, size_t errlen)
{
    char from[16], to[16];
    json_t *doc = json_object();
    json_t *secs = json_object();
    snprintf(from, sizeof from, "%04d-01-01", r->year);
    snprintf(to, sizeof to, "%04d-12-31", r->year);
    json_object_set_new(doc, "report", json_string("annual"));
    json_object_set_new(doc, "year", json_integer(r->year));
    json_object_set_new(doc, "lang", json_string(r->lang == TW_LANG_EN ? "en" : "vi"));
    json_object_set_new(doc, "from", json_string(from));
    json_object_set_new(doc, "to", json_string(to));
    {
        char who[256];
        tw_report_addressee(r, who, sizeof who);
        json_object_set_new(doc, "province", json_string(r->province));
        json_object_set_new(doc, "addressee", json_string(who));
    }
    for (int k = 0; k < r->nsections; k++) {
        const tw_report_section *s = &r->sections[k];
        json_t *v;
        if (s->one_row) {
            v = PQntuples(s->res) > 0 ? json_row(s, 0) : json_object();
        } else {
            v = json_array();
            for (int i = 0; i < PQntuples(s->res); i++)
                json_array_append_new(v, json_row(s, i));
        }
        json_object_set_new(secs, s->key, v);
    }
    json_object_set_new(doc, "sections", secs);
    if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0) {
        json_decref(doc);
        snprintf(err, errlen, "writing the JSON report failed");
        return -1;
    }
    json_decref(doc);
    fputc('\n', out);
    return finish(out, err, errlen);
}
