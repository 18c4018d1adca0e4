/* tables.c: the projection tables' descriptions (tables.h) as data, and
 * the SQL and values generated from them. */
#include "tables.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "project.h"
#include "uuid.h"

enum { SQL_READ, SQL_UPSERT, SQL_COPY, SQL_DIGEST, SQL__COUNT };

struct tw_table {
    const char *name;
    const tw_column *cols;
    int ncols;
    int insert_only; /* rows are never updated: a plain INSERT */
    char *sql[SQL__COUNT];
};

#define TW_COLDEF(col, field, type, flags, upd)                                                    \
    {#col, TW_COL_##type, flags, upd, offsetof(ROW, field)},

#define ROW tw_twinning
static const tw_column twinning_cols[] = {TW_TWINNING_COLUMNS(TW_COLDEF)};
#undef ROW
#define ROW tw_pledge
static const tw_column pledge_cols[] = {TW_PLEDGE_COLUMNS(TW_COLDEF)};
#undef ROW
#define ROW tw_parked
static const tw_column parked_cols[] = {TW_PARKED_COLUMNS(TW_COLDEF)};
#undef ROW
#define ROW tw_source
static const tw_column source_cols[] = {TW_SOURCE_COLUMNS(TW_COLDEF)};
#undef ROW

#define NCOLS(a) ((int)(sizeof a / sizeof a[0]))
static struct tw_table twinning = {"proj.twinning", twinning_cols, NCOLS(twinning_cols), 0, {0}};
static struct tw_table pledge = {"proj.pledge", pledge_cols, NCOLS(pledge_cols), 0, {0}};
static struct tw_table parked = {"proj.parked_delivery", parked_cols, NCOLS(parked_cols), 1, {0}};
static struct tw_table source = {"proj.source_feed", source_cols, NCOLS(source_cols), 0, {0}};

const tw_table *const tw_twinning_table = &twinning, *const tw_pledge_table = &pledge,
                      *const tw_parked_table = &parked, *const tw_source_table = &source;

const char *tw_table_name(const tw_table *t)
{
    return t->name;
}

int tw_table_ncols(const tw_table *t)
{
    return t->ncols;
}

const tw_column *tw_table_col(const tw_table *t, int i)
{
    return &t->cols[i];
}

int tw_table_find(const tw_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name))
            return i;
    return -1;
}

/* ---- values ---- */

static const char *twinning_status_name(int s)
{
    return tw_twinning_status_name((tw_twinning_status)s);
}

static const char *pledge_status_name(int s)
{
    return tw_pledge_status_name((tw_pledge_status)s);
}

static int twinning_status_from(const char *s)
{
    return strcmp(s, "active") == 0 ? TW_TWINNING_ACTIVE : TW_TWINNING_ENDED;
}

static int pledge_status_from(const char *s)
{
    return !strcmp(s, "complete")    ? TW_PLEDGE_COMPLETE
           : !strcmp(s, "cancelled") ? TW_PLEDGE_CANCELLED
                                     : TW_PLEDGE_OPEN;
}

/* Enums stored by name. */
static const struct {
    const char *(*name)(int);
    int (*from)(const char *);
} enums[] = {
    [TW_COL_TWSTATUS] = {twinning_status_name, twinning_status_from},
    [TW_COL_CATEGORY] = {tw_category_name, tw_category_from_name},
    [TW_COL_FUNDING] = {tw_funding_name, tw_funding_from_name},
    [TW_COL_PLSTATUS] = {pledge_status_name, pledge_status_from},
};

void tw_column_get(const tw_column *c, const void *row, tw_value *v)
{
    const char *f = (const char *)row + c->offset;
    memset(v, 0, sizeof *v);
    switch (c->type) {
    case TW_COL_TEXT:
        v->kind = TW_V_TEXT;
        v->text = *(char *const *)f;
        break;
    case TW_COL_INT4:
        v->kind = TW_V_INT;
        v->i = *(const int32_t *)f;
        break;
    case TW_COL_INT8:
        v->kind = TW_V_INT;
        v->i = *(const int64_t *)f;
        break;
    case TW_COL_DATE:
        v->kind = TW_V_DATE;
        v->i = *(const int32_t *)f;
        break;
    case TW_COL_TS:
        v->kind = TW_V_TS;
        v->i = *(const int64_t *)f;
        break;
    case TW_COL_UUID:
        v->kind = TW_V_UUID;
        v->uuid = (const uint8_t *)f;
        break;
    default:
        v->kind = TW_V_TEXT;
        v->text = enums[c->type].name(*(const int *)f);
    }
}

int tw_column_set(const tw_column *c, void *row, const char *text)
{
    char *f = (char *)row + c->offset;
    switch (c->type) {
    case TW_COL_TEXT: {
        char *s = strdup(text);
        if (!s)
            return -1;
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case TW_COL_INT4:
    case TW_COL_DATE:
        *(int32_t *)f = (int32_t)strtoll(text, NULL, 10);
        return 0;
    case TW_COL_INT8:
    case TW_COL_TS:
        *(int64_t *)f = strtoll(text, NULL, 10);
        return 0;
    case TW_COL_UUID:
        return tw_uuid_parse(text, (uint8_t *)f);
    default:
        *(int *)f = enums[c->type].from(text);
        return 0;
    }
}

uint32_t tw_column_array_oid(const tw_column *c)
{
    switch (c->type) {
    case TW_COL_INT4:
        return TW_OID_INT4_ARRAY;
    case TW_COL_INT8:
        return TW_OID_INT8_ARRAY;
    case TW_COL_DATE:
        return TW_OID_DATE_ARRAY;
    case TW_COL_TS:
        return TW_OID_TIMESTAMPTZ_ARRAY;
    case TW_COL_UUID:
        return TW_OID_UUID_ARRAY;
    default:
        return TW_OID_TEXT_ARRAY;
    }
}

void tw_column_push(const tw_column *c, const void *row, tw_pgarr *a)
{
    tw_value v;
    tw_column_get(c, row, &v);
    switch (c->type) {
    case TW_COL_INT4:
        tw_pgarr_int4(a, (int32_t)v.i);
        break;
    case TW_COL_INT8:
        tw_pgarr_int8(a, (c->flags & TW_COL_VERSION) ? v.i + 1 : v.i);
        break;
    case TW_COL_DATE:
        tw_pgarr_date(a, (int32_t)v.i);
        break;
    case TW_COL_TS:
        tw_pgarr_ts_ms(a, v.i);
        break;
    case TW_COL_UUID:
        tw_pgarr_uuid(a, v.uuid);
        break;
    default:
        tw_pgarr_text(a, v.text);
    }
}

/* ---- SQL ---- */

static const char *sql_type(tw_coltype t)
{
    switch (t) {
    case TW_COL_INT4:
        return "int4";
    case TW_COL_INT8:
        return "int8";
    case TW_COL_DATE:
        return "date";
    case TW_COL_TS:
        return "timestamptz";
    case TW_COL_UUID:
        return "uuid";
    default:
        return "text";
    }
}

typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap : 256) * 2 + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s)
            abort(); /* a few hundred bytes at start-up */
        b->s = s;
        b->cap = cap;
    }
}

static const char *build_read(const tw_table *t, const char *a)
{
    buf b = {0};
    for (int i = 0; i < t->ncols; i++) {
        const tw_column *c = &t->cols[i];
        const char *sep = i ? ", " : "";
        if (c->type == TW_COL_DATE)
            put(&b, "%scoalesce(%s.%s - date '1970-01-01', -2147483648)", sep, a, c->name);
        else if (c->type == TW_COL_TS)
            put(&b, "%scoalesce((extract(epoch FROM %s.%s) * 1000)::bigint, 0)", sep, a, c->name);
        else if (c->type == TW_COL_UUID)
            put(&b, "%s%s.%s::text", sep, a, c->name);
        else
            put(&b, "%s%s.%s", sep, a, c->name);
    }
    return b.s;
}

static const char *build_upsert(const tw_table *t, const char *where)
{
    buf b = {0};
    put(&b, "INSERT INTO %s AS x (", t->name);
    for (int i = 0; i < t->ncols; i++)
        put(&b, "%s%s", i ? ", " : "", t->cols[i].name);
    put(&b, ") SELECT ");
    for (int i = 0; i < t->ncols; i++)
        put(&b, "%sunnest($%d::%s[])", i ? ", " : "", i + 1, sql_type(t->cols[i].type));
    if (t->insert_only)
        return b.s;
    put(&b, " ON CONFLICT (");
    for (int i = 0, n = 0; i < t->ncols; i++)
        if (t->cols[i].flags & TW_COL_KEY)
            put(&b, "%s%s", n++ ? ", " : "", t->cols[i].name);
    put(&b, ") DO UPDATE SET ");
    for (int i = 0, n = 0; i < t->ncols; i++) {
        const tw_column *c = &t->cols[i];
        if ((c->flags & TW_COL_KEY) || (c->update && !*c->update))
            continue;
        if (c->update)
            put(&b, "%s%s = %s", n++ ? ", " : "", c->name, c->update);
        else
            put(&b, "%s%s = excluded.%s", n++ ? ", " : "", c->name, c->name);
    }
    int guarded = 0;
    if (where) {
        put(&b, " WHERE (%s)", where);
        guarded = 1;
    }
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].flags & TW_COL_VERSION)
            put(&b, " %s x.%s = excluded.%s - 1", guarded++ ? "AND" : "WHERE", t->cols[i].name,
                t->cols[i].name);
    return b.s;
}

static const char *build_copy(const tw_table *t)
{
    buf b = {0};
    put(&b, "COPY %s (", t->name);
    for (int i = 0; i < t->ncols; i++)
        put(&b, "%s%s", i ? ", " : "", t->cols[i].name);
    put(&b, ") FROM STDIN");
    return b.s;
}

static const char *build_digest(const tw_table *t, const char *a)
{
    buf b = {0};
    put(&b, "row(");
    for (int i = 0, n = 0; i < t->ncols; i++)
        if (!(t->cols[i].flags & TW_COL_NODIGEST))
            put(&b, "%s%s.%s", n++ ? ", " : "", a, t->cols[i].name);
    put(&b, ")");
    return b.s;
}

/* One cached statement per table and kind: the alias or guard given is the
 * same at every call of a program (they are written once, in its source). */
static const char *cached(const tw_table *t, int kind, const char *s)
{
    struct tw_table *m = (struct tw_table *)t;
    if (!m->sql[kind])
        m->sql[kind] = (char *)s;
    else
        free((char *)s);
    return m->sql[kind];
}

const char *tw_table_read_list(const tw_table *t, const char *alias)
{
    return t->sql[SQL_READ] ? t->sql[SQL_READ] : cached(t, SQL_READ, build_read(t, alias));
}

const char *tw_table_upsert(const tw_table *t, const char *where)
{
    return t->sql[SQL_UPSERT] ? t->sql[SQL_UPSERT] : cached(t, SQL_UPSERT, build_upsert(t, where));
}

const char *tw_table_copy(const tw_table *t)
{
    return t->sql[SQL_COPY] ? t->sql[SQL_COPY] : cached(t, SQL_COPY, build_copy(t));
}

const char *tw_table_digest_row(const tw_table *t, const char *alias)
{
    return t->sql[SQL_DIGEST] ? t->sql[SQL_DIGEST] : cached(t, SQL_DIGEST, build_digest(t, alias));
}
