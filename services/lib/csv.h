/* csv.h: an RFC 4180 record reader (quoted fields, "" escapes, commas and
 * newlines inside quotes, LF or CRLF, a UTF-8 BOM skipped), shared by the
 * feed reader and the reference-data loader. */
#ifndef TW_CSV_H
#define TW_CSV_H

#include <stdio.h>
#include <stddef.h>

typedef struct tw_csv tw_csv;

tw_csv *tw_csv_open(FILE *f); /* f is not owned */
void tw_csv_close(tw_csv *c);

/* Reads one record. Returns the number of fields (>= 1), 0 at end of file,
 * -1 for a malformed record (an unterminated quote, text after a closing
 * quote) with the reason in err. Fields stay valid until the next call. */
int tw_csv_next(tw_csv *c, char ***fields, char *err, size_t errlen);

/* Line on which the record last returned started (1-based). */
int tw_csv_line(const tw_csv *c);

#endif
