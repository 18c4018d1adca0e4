/* csv.c: RFC 4180 records, one character at a time. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

struct tw_csv {
    FILE *f;
    int line, start_line, first;
    char *buf;
    size_t len, cap;
    size_t *offs;
    char **fields;
    size_t nf, fcap;
};

tw_csv *tw_csv_open(FILE *f)
{
    tw_csv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->f = f;
    c->line = 1;
    c->first = 1;
    return c;
}

void tw_csv_close(tw_csv *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c->offs);
    free(c->fields);
    free(c);
}

int tw_csv_line(const tw_csv *c)
{
    return c->start_line;
}

static int put(tw_csv *c, char ch)
{
    if (c->len + 1 >= c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    c->buf[c->len++] = ch;
    return 0;
}

static int end_field(tw_csv *c)
{
    if (put(c, '\0') < 0)
        return -1;
    if (c->nf == c->fcap) {
        size_t ncap = c->fcap ? c->fcap * 2 : 16;
        size_t *no = realloc(c->offs, ncap * sizeof *no);
        if (!no)
            return -1;
        c->offs = no;
        char **nfld = realloc(c->fields, (ncap + 1) * sizeof *nfld);
        if (!nfld)
            return -1;
        c->fields = nfld;
        c->fcap = ncap;
    }
    c->offs[c->nf++] = c->len;
    return 0;
}

int tw_csv_next(tw_csv *c, char ***fields, char *err, size_t errlen)
{
    int ch, quoted = 0, after_quote = 0, any = 0;

    c->len = 0;
    c->nf = 0;
    c->start_line = c->line;
    if (c->first) {
        c->first = 0;
        int b1 = getc(c->f);
        if (b1 == 0xEF) {
            int b2 = getc(c->f), b3 = getc(c->f);
            if (b2 != 0xBB || b3 != 0xBF) {
                snprintf(err, errlen, "starts with bytes that are not UTF-8");
                return -1;
            }
        } else if (b1 != EOF) {
            ungetc(b1, c->f);
        }
    }
    for (;;) {
        ch = getc(c->f);
        if (ch == EOF) {
            if (quoted) {
                snprintf(err, errlen, "a quoted field is not closed before the end of the file");
                return -1;
            }
            if (!any)
                return 0;
            break;
        }
        any = 1;
        if (quoted) {
            if (ch == '"') {
                int next = getc(c->f);
                if (next == '"') {
                    if (put(c, '"') < 0)
                        goto oom;
                    continue;
                }
                if (next != EOF)
                    ungetc(next, c->f);
                quoted = 0;
                after_quote = 1;
                continue;
            }
            if (ch == '\n')
                c->line++;
            if (put(c, (char)ch) < 0)
                goto oom;
            continue;
        }
        if (ch == ',') {
            if (end_field(c) < 0)
                goto oom;
            after_quote = 0;
            continue;
        }
        if (ch == '\r') {
            int next = getc(c->f);
            if (next != '\n' && next != EOF)
                ungetc(next, c->f);
            ch = '\n';
        }
        if (ch == '\n') {
            c->line++;
            break;
        }
        if (after_quote) {
            snprintf(err, errlen, "text after a closing quote");
            while (ch != '\n' && ch != EOF)
                ch = getc(c->f);
            c->line++;
            return -1;
        }
        if (ch == '"' && (c->nf == 0 ? c->len == 0 : c->len == c->offs[c->nf - 1])) {
            quoted = 1;
            continue;
        }
        if (put(c, (char)ch) < 0)
            goto oom;
    }
    if (end_field(c) < 0)
        goto oom;
    size_t start = 0;
    for (size_t i = 0; i < c->nf; i++) {
        c->fields[i] = c->buf + start;
        start = c->offs[i];
    }
    c->fields[c->nf] = NULL;
    *fields = c->fields;
    return (int)c->nf;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}
