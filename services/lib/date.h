/* date.h: local dates (Asia/Ho_Chi_Minh, UTC+7, no daylight saving) and the
 * time units PostgreSQL's binary format uses. */
#ifndef TW_DATE_H
#define TW_DATE_H

#include <stdint.h>

#define TW_TZ_OFFSET_MS (7LL * 3600 * 1000)
#define TW_DATE_NONE    INT32_MIN

/* Parses "YYYY-MM-DD" (a real calendar date) into days since 1970-01-01.
 * Returns 0, or -1 for anything else. */
int tw_date_parse(const char *s, int32_t *days) __attribute__((warn_unused_result));

/* Local date (days since 1970-01-01) of an instant in ms since the epoch. */
int32_t tw_date_of_ms(int64_t ms);

/* Writes "YYYY-MM-DD" into out (11 bytes). */
void tw_date_format(int32_t days, char out[11]);

/* PostgreSQL's epoch is 2000-01-01. */
int64_t tw_ms_to_pg_usec(int64_t ms);
int32_t tw_days_to_pg_date(int32_t days);

/* Milliseconds since the epoch, wall clock. */
int64_t tw_now_ms(void);

#endif
