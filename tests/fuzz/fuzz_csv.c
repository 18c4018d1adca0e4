/* fuzz_csv.c: the RFC 4180 reader (csv.c) that feeds and reference data go
 * through. Properties: every record's line is within the input and never goes
 * back; a refused record has a one-line reason and the reader goes on after
 * it; the fields hold no more bytes than the input; and a file read without
 * refusals, written back with every field quoted, reads back to the same
 * records (a fixed point). */
#include "fuzz.h"

#include "csv.h"

/* Reads all of data; writes the records quoted to out (if not NULL).
 * Returns the number of refusals. */
static int read_all(const uint8_t *data, size_t size, FILE *out, size_t *nrec)
{
    FILE *f = fmemopen((void *)data, size, "r");
    size_t newlines = 0, bytes = 0;
    int refused = 0, last_line = 0;
    char err[256];

    for (size_t i = 0; i < size; i++)
        newlines += data[i] == '\n' || data[i] == '\r';
    if (f == NULL) /* fmemopen refuses a 0-byte buffer */
        return 0;
    tw_csv *c = tw_csv_open(f);
    FUZZ_CHECK(c != NULL, "open");
    *nrec = 0;
    for (;;) {
        char **fields;
        err[0] = '\0';
        int n = tw_csv_next(c, &fields, err, sizeof err);
        int line = tw_csv_line(c);
        FUZZ_CHECK(line >= 1 && (size_t)line <= newlines + 1, "line %d of %zu", line, newlines);
        FUZZ_CHECK(line >= last_line, "line went back from %d to %d", last_line, line);
        last_line = line;
        if (n == 0)
            break;
        FUZZ_CHECK(++*nrec <= size, "more records (%zu) than bytes (%zu)", *nrec, size);
        if (n < 0) {
            FUZZ_CHECK(fuzz_message_ok(err, sizeof err), "refusal \"%s\"", err);
            refused++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(fields[i] != NULL, "field %d of %d is NULL", i, n);
            bytes += strlen(fields[i]);
            if (out) {
                fputc('"', out);
                for (const char *p = fields[i]; *p; p++) {
                    if (*p == '"')
                        fputc('"', out);
                    fputc(*p, out);
                }
                fputc('"', out);
                fputc(i + 1 < n ? ',' : '\n', out);
            }
        }
        FUZZ_CHECK(fields[n] == NULL, "fields not NULL-terminated");
        FUZZ_CHECK(bytes <= size, "%zu field bytes from %zu input bytes", bytes, size);
    }
    tw_csv_close(c);
    fclose(f);
    return refused;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *w1 = NULL, *w2 = NULL;
    size_t l1 = 0, l2 = 0, r1 = 0, r2 = 0;
    FILE *o1 = open_memstream(&w1, &l1);

    int refused = read_all(data, size, o1, &r1);
    fclose(o1);
    if (refused == 0 && l1 > 0) {
        FILE *o2 = open_memstream(&w2, &l2);
        FUZZ_CHECK(read_all((const uint8_t *)w1, l1, o2, &r2) == 0, "own writing refused");
        fclose(o2);
        FUZZ_CHECK(r1 == r2 && l1 == l2 && memcmp(w1, w2, l1) == 0,
                   "quoted round trip differs: %zu records, %zu bytes vs %zu, %zu", r1, l1, r2, l2);
    }
    free(w1);
    free(w2);
    return 0;
}
