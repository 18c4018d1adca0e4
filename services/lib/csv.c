/* csv.c: RFC 4180 records, one character at a time. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

struct tw_csv {
    FILE *f;
    unsigned char pending[4]; /* bytes read ahead, returned first */
    int npending;
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

static int next_byte(tw_csv *c)
{
    if (c->npending > 0) {
        int ch = c->pending[0];
        memmove(c->pending, c->pending + 1, (size_t)--c->npending);
        return ch;
    }
    return getc(c->f);
}

static void push_back(tw_csv *c, int ch)
{
    if (ch == EOF)
        return;
    memmove(c->pending + 1, c->pending, (size_t)c->npending++);
    c->pending[0] = (unsigned char)ch;
}

/* Skips the rest of a bad record (to a newline outside quotes). */
static void skip_record(tw_csv *c, int quoted)
{
    int ch;
    while ((ch = next_byte(c)) != EOF) {
        if (ch == '"')
            quoted = !quoted;
        else if (ch == '\n') {
            c->line++;
            if (!quoted)
                return;
        }
    }
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
        int b[3];
        c->first = 0;
        for (int i = 0; i < 3; i++)
            b[i] = getc(c->f);
        if (!(b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)) /* not a BOM: keep the bytes */
            for (int i = 2; i >= 0; i--)
                push_back(c, b[i]);
    }
    for (;;) {
        ch = next_byte(c);
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
        if (ch == '\0') {
            snprintf(err, errlen, "a NUL byte in the record (is the file UTF-16 or binary?)");
            skip_record(c, quoted);
            return -1;
        }
        if (quoted) {
            if (ch == '"') {
                int next = next_byte(c);
                if (next == '"') {
                    if (put(c, '"') < 0)
                        goto oom;
                    continue;
                }
                push_back(c, next);
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
            int next = next_byte(c);
            if (next != '\n')
                push_back(c, next);
            ch = '\n';
        }
        if (ch == '\n') {
            c->line++;
            break;
        }
        if (after_quote) {
            snprintf(err, errlen,
                     "text after a closing quote (a quote inside a field is written \"\")");
            skip_record(c, 0);
            return -1;
        }
        if (ch == '"') {
            if (c->nf == 0 ? c->len == 0 : c->len == c->offs[c->nf - 1]) {
                quoted = 1;
                continue;
            }
            snprintf(err, errlen, "a quote inside an unquoted field (quote the whole field)");
            skip_record(c, 0); /* the quote was not an opening one: resume at the line's end */
            return -1;
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
