/* tables.h: the projection tables (proj.*), each described once: its
 * columns in table order, their types, the key, and what an upsert does to
 * each. The description declares the C structs the state machine fills
 * (project.h), and everything that moves rows is generated from it: the
 * projector's batch read (the SELECT list and the load of each row), its
 * upsert (unnest arrays, ON CONFLICT ... SET), twinctl rebuild's COPY and
 * twinctl digest's canonical rows. A new column is one line here plus its
 * migration (schemas/NNN_*.sql).
 *
 * A column: X(COLUMN, FIELD, TYPE, FLAGS, ON_CONFLICT) where FIELD is the
 * struct member holding it, TYPE one of TEXT INT4 INT8 DATE TS UUID or an
 * enum stored by name (TWSTATUS CATEGORY FUNDING PLSTATUS), FLAGS 0 or
 * TW_COL_KEY / TW_COL_NODIGEST / TW_COL_VERSION, and ON_CONFLICT the upsert's SET
 * expression: NULL for "excluded.COLUMN", "" to keep the stored value. */
#ifndef TW_TABLES_H
#define TW_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"

#define TW_COL_KEY      1 /* part of the primary key */
#define TW_COL_NODIGEST 2 /* bookkeeping, left out of twinctl digest */
/* The row's version, a compare-and-set: since the 2025 reform one
 * twinning's (or pledge's) events come under two Kafka keys, so two lanes or
 * projectors may update one row, each from what it read or cached. The
 * upsert writes the next version (the field + 1) and updates a stored row
 * only where its version is still the field's; the caller counts the rows
 * written (ingest.expect_rows), so a row changed meanwhile fails the batch,
 * which is retried from the stored offsets with the caches dropped. After a
 * commit the state holds the next version (tw_state_committed). */
#define TW_COL_VERSION 4

/* Times are ms since the epoch (0 = none); dates are days since 1970-01-01
 * (TW_DATE_NONE = none). */
#define TW_TWINNING_COLUMNS(X)                                                                     \
    X(agency_code, agency_code, TEXT, TW_COL_KEY, NULL)                                            \
    X(locality_code, locality_code, TEXT, TW_COL_KEY, NULL)                                        \
    X(status, status, TWSTATUS, 0, NULL)                                                           \
    X(programme, programme, TEXT, 0, NULL)                                                         \
    X(start_date, start_date, DATE, 0, NULL)                                                       \
    X(end_date, end_date, DATE, 0, NULL)                                                           \
    X(terms, terms, INT4, 0, NULL)                                                                 \
    X(signed_at, signed_at, TS, 0, NULL)                                                           \
    X(ended_at, ended_at, TS, 0, NULL)                                                             \
    X(visits, visits, INT8, 0, NULL)                                                               \
    X(gift_value_vnd, gift_value_vnd, INT8, 0, NULL)                                               \
    X(delivered_vnd, delivered_vnd, INT8, 0, NULL)                                                 \
    X(trainees, trainees, INT8, 0, NULL)                                                           \
    X(jobs, jobs, INT8, 0, NULL)                                                                   \
    X(models_replicated, models_replicated, INT8, 0, NULL)                                         \
    X(substantive_activities, substantive, INT8, 0, NULL)                                          \
    X(formal_activities, formal, INT8, 0, NULL)                                                    \
    X(last_activity_at, last_activity_at, TS, 0, NULL)                                             \
    X(row_version, row_version, INT8, TW_COL_NODIGEST | TW_COL_VERSION, NULL)

/* A pledge belongs to the locality that created it and keeps what it was
 * pledged as: an upsert changes only what deliveries, revisions and
 * cancellations change. */
#define TW_PLEDGE_COLUMNS(X)                                                                       \
    X(agency_code, agency_code, TEXT, TW_COL_KEY, NULL)                                            \
    X(pledge_id, pledge_id, TEXT, TW_COL_KEY, NULL)                                                \
    X(locality_code, locality_code, TEXT, 0, "")                                                   \
    X(category, category, CATEGORY, 0, "")                                                         \
    X(funding, funding, FUNDING, 0, "")                                                            \
    X(status, status, PLSTATUS, 0, NULL)                                                           \
    X(amount_vnd, amount_vnd, INT8, 0, NULL)                                                       \
    X(in_kind, in_kind, TEXT, 0, "")                                                               \
    X(in_kind_value_vnd, in_kind_value_vnd, INT8, 0, "")                                           \
    X(target_quantity, target_quantity, INT8, 0, NULL)                                             \
    X(unit, unit, TEXT, 0, "")                                                                     \
    X(due_date, due_date, DATE, 0, NULL)                                                           \
    X(pledged_at, pledged_at, TS, 0, "")                                                           \
    X(delivered_vnd, delivered_vnd, INT8, 0, NULL)                                                 \
    X(delivered_qty, delivered_qty, INT8, 0, NULL)                                                 \
    X(deliveries, deliveries, INT8, 0, NULL)                                                       \
    X(last_delivery_at, last_delivery_at, TS, 0, NULL)                                             \
    X(completed_at, completed_at, TS, 0, NULL)                                                     \
    X(cancelled_at, cancelled_at, TS, 0, NULL)                                                     \
    X(revisions, revisions, INT8, 0, NULL)                                                         \
    X(row_version, row_version, INT8, TW_COL_NODIGEST | TW_COL_VERSION, NULL)

/* Rows are inserted once and deleted when their pledge arrives. */
#define TW_PARKED_COLUMNS(X)                                                                       \
    X(event_id, event_id, UUID, TW_COL_KEY, NULL)                                                  \
    X(agency_code, agency_code, TEXT, 0, NULL)                                                     \
    X(pledge_id, pledge_id, TEXT, 0, NULL)                                                         \
    X(locality_code, locality_code, TEXT, 0, NULL)                                                 \
    X(amount_vnd, amount_vnd, INT8, 0, NULL)                                                       \
    X(quantity, quantity, INT8, 0, NULL)                                                           \
    X(occurred_at, occurred_at, TS, 0, NULL)                                                       \
    X(kafka_partition, partition, INT4, TW_COL_NODIGEST, NULL)                                     \
    X(kafka_offset, offset, INT8, TW_COL_NODIGEST, NULL)

/* A source system sends for every locality of its agency, so several
 * partitions (and projectors) update one row: a batch writes what it adds,
 * never an absolute value read earlier. */
#define TW_SOURCE_COLUMNS(X)                                                                       \
    X(source_system, source_system, TEXT, TW_COL_KEY, NULL)                                        \
    X(agency_code, agency_code, TEXT, 0, "")                                                       \
    X(last_seen_at, last_seen_at, TS, 0, "greatest(x.last_seen_at, excluded.last_seen_at)")        \
    X(events, events, INT8, 0, "x.events + excluded.events")

/* How many columns a table has, at compile time: TW_NCOLS(TW_PLEDGE_COLUMNS). */
#define TW_COL_ONE(col, field, type, flags, upd) +1
#define TW_NCOLS(COLUMNS)                        (0 COLUMNS(TW_COL_ONE))

/* The struct member of each column type. */
#define TW_FIELD_TEXT(f)                       char *f;
#define TW_FIELD_INT4(f)                       int32_t f;
#define TW_FIELD_INT8(f)                       int64_t f;
#define TW_FIELD_DATE(f)                       int32_t f;
#define TW_FIELD_TS(f)                         int64_t f;
#define TW_FIELD_UUID(f)                       uint8_t f[16];
#define TW_FIELD_TWSTATUS(f)                   int f; /* tw_twinning_status */
#define TW_FIELD_CATEGORY(f)                   int f;
#define TW_FIELD_FUNDING(f)                    int f;
#define TW_FIELD_PLSTATUS(f)                   int f; /* tw_pledge_status */
#define TW_FIELD(col, field, type, flags, upd) TW_FIELD_##type(field)

typedef enum tw_coltype {
    TW_COL_TEXT,
    TW_COL_INT4,
    TW_COL_INT8,
    TW_COL_DATE,
    TW_COL_TS,
    TW_COL_UUID,
    TW_COL_TWSTATUS,
    TW_COL_CATEGORY,
    TW_COL_FUNDING,
    TW_COL_PLSTATUS,
} tw_coltype;

typedef struct tw_column {
    const char *name;
    tw_coltype type;
    int flags;
    const char *update; /* see ON_CONFLICT above */
    size_t offset;      /* of its field in the row struct */
} tw_column;

typedef struct tw_table tw_table;
extern const tw_table *const tw_twinning_table, *const tw_pledge_table, *const tw_parked_table,
                                                                            *const tw_source_table;

const char *tw_table_name(const tw_table *t); /* "proj.twinning" */
int tw_table_ncols(const tw_table *t);
const tw_column *tw_table_col(const tw_table *t, int i);
/* The position of column name (-1: none). */
int tw_table_find(const tw_table *t, const char *name);

/* A column's value in row (a tw_twinning *, tw_pledge *, ...), by kind:
 * text (enums by name; NULL: null), a number (INT4, INT8), a date (days,
 * TW_DATE_NONE null), a time (ms, 0 null) or 16 uuid bytes. */
typedef struct tw_value {
    enum { TW_V_TEXT, TW_V_INT, TW_V_DATE, TW_V_TS, TW_V_UUID } kind;
    const char *text;
    int64_t i;
    const uint8_t *uuid;
} tw_value;
void tw_column_get(const tw_column *c, const void *row, tw_value *v);
/* Sets a column of row from the text of the batch read's column (see
 * tw_table_read_list). -1 when out of memory or not parsable. */
int tw_column_set(const tw_column *c, void *row, const char *text)
    __attribute__((warn_unused_result));

/* The PostgreSQL array type of the column, and its value in row appended
 * to such an array (the upsert's parameters; a TW_COL_VERSION column's
 * next value). */
uint32_t tw_column_array_oid(const tw_column *c);
void tw_column_push(const tw_column *c, const void *row, tw_pgarr *a);

/* SQL generated from the descriptions, built on first use and kept. */
/* The SELECT list of the batch read, alias.column in table order, dates as
 * days and times as ms (what tw_column_set reads). */
const char *tw_table_read_list(const tw_table *t, const char *alias);
/* INSERT ... SELECT unnest($1::type[]), ... ON CONFLICT (key) DO UPDATE
 * SET ...: one array parameter per column, in table order; where (may be
 * NULL) guards the update (the stored row is x, the new one excluded),
 * and so does the version's compare-and-set (TW_COL_VERSION). */
const char *tw_table_upsert(const tw_table *t, const char *where);
/* "COPY table (columns) FROM STDIN" */
const char *tw_table_copy(const tw_table *t);
/* "row(alias.c1, ...)": the canonical row of twinctl digest. */
const char *tw_table_digest_row(const tw_table *t, const char *alias);

#endif
