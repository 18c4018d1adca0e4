/* lineage.h: the --lineage part of twinctl load-reference (lineage.c). All
 * run inside the load's open transaction; on any failure the caller rolls
 * back, so a refused file loads nothing. */
#ifndef TWCTL_LINEAGE_H
#define TWCTL_LINEAGE_H

#include <libpq-fe.h>

/* Creates the staging table. Returns 0, or -1 (printed). */
int twctl_lineage_begin(PGconn *pg) __attribute__((warn_unused_result));
/* Reads one conversion table into staging. Returns the number of bad lines
 * (each printed as file:line: reason), or -1 when the file is unreadable. */
int twctl_lineage_stage(PGconn *pg, const char *path, int *rows)
    __attribute__((warn_unused_result));
/* Checks the staged rows against the versions valid on the eve of
 * `effective` (YYYY-MM-DD) and applies them: new versions, ended old ones,
 * lineage rows carrying `act`. Returns 0, or -1 after printing why. */
int twctl_lineage_apply(PGconn *pg, const char *effective, const char *act, int *rows)
    __attribute__((warn_unused_result));
/* Whole-table checks (overlaps, unclosed ends, date gaps, parents): the
 * number of problems printed, or -1 on a database error. */
int twctl_geo_check(PGconn *pg) __attribute__((warn_unused_result));

#endif
