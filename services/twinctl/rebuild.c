/* rebuild.c: twinctl rebuild: recomputes every projection table from
 * audit.event_log alone with the projector's own state machine (project.h),
 * so the result is the state the live projector reached and `twinctl digest`
 * does not move. One transaction: it commits whole or not at all, and no
 * reader ever sees the tables empty or half rebuilt. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "date.h"
#include "pg.h"
#include "project.h"
#include "twinctl.h"
#include "uuid.h"

#define SHOW_REFUSED 5
#define FLUSH_AT     (1 << 20) /* bytes of COPY text per PQputCopyData */
#define DAY_MS       86400000LL
#define FIRST_AD_DAY (-719162) /* 0001-01-01 */
#define LAST_DAY     2932896   /* 9999-12-31, tw_date_format's last */
#define CYCLE_DAYS   146097    /* the Gregorian calendar repeats every 400 years */

/* seq is the order the live projector accepted the events in (each batch
 * inserts its rows in the order it applied them), so parked deliveries,
 * duplicate pledges and completion times come out as they did live. */
static const char *SQL_READ_LOG =
    "COPY (SELECT kafka_partition, kafka_offset, payload FROM audit.event_log ORDER BY seq)"
    " TO STDOUT (FORMAT binary)";

/* EXCLUSIVE keeps writers out and lets readers on: a running projector's
 * next batch waits for the commit, then goes on from the rebuilt rows. */
static const char *SQL_LOCK = "LOCK TABLE proj.twinning, proj.pledge, proj.parked_delivery,"
                              " proj.source_feed IN EXCLUSIVE MODE";
static const char *SQL_TRUNCATE =
    "TRUNCATE proj.twinning, proj.pledge, proj.parked_delivery, proj.source_feed";

enum { N_TWINNINGS, N_PLEDGES, N_PARKED, N_SOURCES };

typedef struct {
    PGconn *pg;
    tw_state *st;
    int header_done, trailer_done;
    char *out; /* COPY text not yet sent */
    size_t outlen, outcap;
    int oom;
    long long events, refused, rows[4];
    char err[512];
} rebuild;

static int fail(rebuild *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first reason something failed; returns -1. */
static int fail(rebuild *r, const char *fmt, ...)
{
    va_list ap;
    if (r->err[0])
        return -1;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_pg(rebuild *r, const char *what, const PGresult *res)
{
    char line[400];
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(r->pg);
    return fail(r, "%s: %s", what, tw_pg_errline(msg, line, sizeof line));
}

static int load_codes(rebuild *r, const char *sql, int (*add)(tw_state *, const char *))
{
    PGresult *res = PQexec(r->pg, sql);
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_pg(r, "read the reference codes", res);
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (add(r->st, PQgetvalue(res, i, 0)) < 0) {
            fail(r, "out of memory loading the reference codes");
            goto done;
        }
    rc = 0;
done:
    PQclear(res);
    return rc;
}

/* The unit versions and lineage (geo.h): events resolve as the projector
 * resolved them. */
static int load_geo(rebuild *r, tw_geo *g)
{
    PGresult *res = PQexec(r->pg, TW_GEO_SQL);
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_pg(r, "read the geography", res);
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (tw_geo_add_row(g, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                           PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
                           PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4)) < 0) {
            fail(r, "out of memory loading the geography");
            goto done;
        }
    tw_state_set_geo(r->st, g);
    rc = 0;
done:
    PQclear(res);
    return rc;
}

/* ---- reading the log ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One logged event. It passed every check when it was accepted, so a
 * refusal now means the log and the rules (or reference data) disagree. */
static int apply_logged(rebuild *r, int32_t partition, int64_t offset, const unsigned char *bytes,
                        size_t len)
{
    tw_reject rej = {0};
    uint8_t id[16];
    int rc = -1;
    tw_event *ev = tw_codec_decode(bytes, len, &rej);

    r->events++;
    if (ev && tw_codec_check(ev, INT64_MAX / 4, id, &rej) == 0)
        rc = tw_project_apply(r->st, ev, id, partition, offset, &rej);
    if (rc < 0 && rc != -2 && r->refused++ < SHOW_REFUSED)
        fprintf(stderr, "twinctl rebuild: event %s at %d@%lld: %s: %s\n",
                ev && *ev->event_id ? ev->event_id : "(undecodable)", partition, (long long)offset,
                tw_reason_name(rej.reason), rej.msg);
    tw_event_free(ev);
    return rc == -2 ? fail(r, "out of memory after %lld events", r->events) : 0;
}

/* Applies the tuples of one CopyData message of binary COPY: an int16
 * field count, then an int32 length and the bytes of each field. The server
 * sends one message per tuple (the first also carries the header, the -1
 * trailer comes alone), so a tuple cut at a message's end is an error. */
static int parse_message(rebuild *r, const unsigned char *p, size_t n)
{
    static const unsigned char sig[11] = "PGCOPY\n\377\r\n";
    size_t pos = 0;

    if (!r->header_done) {
        if (n < 19 || memcmp(p, sig, sizeof sig) != 0 || n < 19 + (size_t)be32(p + 15))
            return fail(r, "read the event log: no binary COPY header");
        pos = 19 + (size_t)be32(p + 15); /* signature, flags, extension length, extension */
        r->header_done = 1;
    }
    while (pos < n) {
        const unsigned char *field[3];
        size_t len[3];
        if (r->trailer_done || pos + 2 > n)
            return fail(r, "read the event log: data after the COPY trailer");
        int nfields = (int16_t)(p[pos] << 8 | p[pos + 1]);
        pos += 2;
        if (nfields == -1) {
            r->trailer_done = 1;
            continue;
        }
        if (nfields != 3)
            return fail(r, "read the event log: a tuple of %d fields, not 3", nfields);
        for (int i = 0; i < 3; i++) {
            if (pos + 4 > n || be32(p + pos) == UINT32_MAX || pos + 4 + be32(p + pos) > n)
                return fail(r, "read the event log: tuple %lld: field %d NULL or cut",
                            r->events + 1, i + 1);
            len[i] = be32(p + pos);
            field[i] = p + pos + 4;
            pos += 4 + len[i];
        }
        if (len[0] != 4 || len[1] != 8)
            return fail(r, "read the event log: partition and offset of %zu and %zu bytes", len[0],
                        len[1]);
        int64_t offset = (int64_t)((uint64_t)be32(field[1]) << 32 | be32(field[1] + 4));
        if (apply_logged(r, (int32_t)be32(field[0]), offset, field[2], len[2]) < 0)
            return -1;
    }
    return 0;
}

/* Streams the whole log through the state machine, in seq order. */
static int replay_log(rebuild *r)
{
    PGresult *res = PQexec(r->pg, SQL_READ_LOG);
    char *msg;
    int n, rc = -1;

    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        fail_pg(r, "read the event log", res);
        goto done;
    }
    while ((n = PQgetCopyData(r->pg, &msg, 0)) > 0) {
        int bad = parse_message(r, (const unsigned char *)msg, (size_t)n);
        PQfreemem(msg);
        if (bad)
            goto done; /* the COPY still runs: closing the connection ends it */
    }
    if (n == -2) {
        fail_pg(r, "read the event log", NULL);
        goto done;
    }
    PQclear(res);
    res = PQgetResult(r->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_pg(r, "read the event log", res);
    else if (!r->trailer_done)
        fail(r, "read the event log: the COPY data ended without its trailer");
    else
        rc = 0;
done:
    PQclear(res);
    return rc;
}

/* ---- writing the projections: COPY text, each field followed by a tab ---- */

static char *room(rebuild *r, size_t n)
{
    if (r->outlen + n > r->outcap) {
        size_t cap = (r->outlen + n) * 2;
        char *out = r->oom ? NULL : realloc(r->out, cap);
        if (!out) {
            r->oom = 1;
            return NULL;
        }
        r->out = out;
        r->outcap = cap;
    }
    return r->out + r->outlen;
}

static void put_raw(rebuild *r, const char *s, size_t n)
{
    char *o = room(r, n + 1);
    if (!o)
        return;
    memcpy(o, s, n);
    o[n] = '\t';
    r->outlen += n + 1;
}

static void put_null(rebuild *r)
{
    put_raw(r, "\\N", 2);
}

/* Escapes the backslash, and the tab, newline and CR that would end a
 * field or a row. */
static void put_text(rebuild *r, const char *s)
{
    char *o = room(r, 2 * strlen(s) + 1), *start = o;
    if (!o)
        return;
    for (; *s; s++) {
        char c = *s;
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            *o++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        *o++ = c;
    }
    *o++ = '\t';
    r->outlen += (size_t)(o - start);
}

static void put_i64(rebuild *r, int64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    put_raw(r, p, (size_t)(end - p));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ms since the epoch as ISO text in UTC; 0 is none, as the projector writes
 * it. A day outside years 1..9999 is moved by whole 400-year cycles for
 * tw_date_format and its year put back (" BC" before year 1). */
static void put_ts(rebuild *r, int64_t ms)
{
    char date[11], buf[64];
    int64_t days = floor_div(ms, DAY_MS), t = ms - days * DAY_MS, cycles = 0, year;

    if (ms == 0) {
        put_null(r);
        return;
    }
    if (days < FIRST_AD_DAY || days > LAST_DAY)
        cycles = floor_div(FIRST_AD_DAY - days + CYCLE_DAYS - 1, CYCLE_DAYS);
    tw_date_format((int32_t)(days + cycles * CYCLE_DAYS), date);
    year = atoi(date) - 400 * cycles;
    int n = snprintf(buf, sizeof buf, "%04lld%s %02d:%02d:%02d.%03d+00%s",
                     (long long)(year > 0 ? year : 1 - year), date + 4, (int)(t / 3600000),
                     (int)(t / 60000 % 60), (int)(t / 1000 % 60), (int)(t % 1000),
                     year > 0 ? "" : " BC");
    put_raw(r, buf, (size_t)n);
}

static void put_date(rebuild *r, int32_t days)
{
    char date[11];
    if (days == TW_DATE_NONE) {
        put_null(r);
        return;
    }
    tw_date_format(days, date);
    put_raw(r, date, 10);
}

/* One row of a projection table, its columns as tables.h describes them. */
static void put_row(rebuild *r, const tw_table *t, const void *row)
{
    char id[TW_UUID_STRLEN + 1];
    for (int c = 0; c < tw_table_ncols(t); c++) {
        tw_value v;
        tw_column_get(tw_table_col(t, c), row, &v);
        switch (v.kind) {
        case TW_V_TEXT:
            if (v.text)
                put_text(r, v.text);
            else
                put_null(r);
            break;
        case TW_V_INT:
            put_i64(r, v.i);
            break;
        case TW_V_DATE:
            put_date(r, (int32_t)v.i);
            break;
        case TW_V_TS:
            put_ts(r, v.i);
            break;
        case TW_V_UUID:
            tw_uuid_format(v.uuid, id);
            put_raw(r, id, TW_UUID_STRLEN);
            break;
        }
    }
}

/* Ends the row (its last tab becomes a newline); sends a full buffer. */
static int end_row(rebuild *r, int table)
{
    if (r->oom)
        return fail(r, "out of memory writing the projections");
    r->out[r->outlen - 1] = '\n';
    r->rows[table]++;
    if (r->outlen < FLUSH_AT)
        return 0;
    if (PQputCopyData(r->pg, r->out, (int)r->outlen) != 1)
        return fail_pg(r, "send projection rows", NULL);
    r->outlen = 0;
    return 0;
}

static int write_twinnings(rebuild *r)
{
    size_t pos = 0;
    tw_twinning *t;
    while ((t = tw_state_next_twinning(r->st, &pos))) {
        put_row(r, tw_twinning_table, t);
        if (end_row(r, N_TWINNINGS) < 0)
            return -1;
    }
    return 0;
}

static int cmp_pledge(const void *a, const void *b)
{
    const tw_pledge *x = *(tw_pledge *const *)a, *y = *(tw_pledge *const *)b;
    int c = strcmp(x->agency_code, y->agency_code);
    return c ? c : strcmp(x->pledge_id, y->pledge_id);
}

/* In primary-key order, so the index grows at its right edge: about a
 * third faster to load than the state's hash order. */
static int write_pledges(rebuild *r)
{
    size_t pos = 0, n = 0;
    tw_pledge **all, *p;
    int rc = -1;

    while (tw_state_next_pledge(r->st, &pos))
        n++;
    if (!(all = malloc((n ? n : 1) * sizeof *all)))
        return fail(r, "out of memory sorting %zu pledges", n);
    for (pos = 0, n = 0; (p = tw_state_next_pledge(r->st, &pos));)
        all[n++] = p;
    qsort(all, n, sizeof *all, cmp_pledge);
    for (size_t i = 0; i < n; i++) {
        put_row(r, tw_pledge_table, all[i]);
        if (end_row(r, N_PLEDGES) < 0)
            goto done;
    }
    rc = 0;
done:
    free(all);
    return rc;
}

/* Deliveries still waiting for their pledge; an applied one has no row
 * (the projector deletes it, or never writes it). */
static int write_parked(rebuild *r)
{
    size_t pos = 0;
    tw_parked *k = NULL;
    while ((k = tw_state_next_parked(r->st, &pos, k))) {
        if (k->applied)
            continue;
        put_row(r, tw_parked_table, k);
        if (end_row(r, N_PARKED) < 0)
            return -1;
    }
    return 0;
}

static int write_sources(rebuild *r)
{
    size_t pos = 0;
    tw_source *s;
    while ((s = tw_state_next_source(r->st, &pos))) {
        put_row(r, tw_source_table, s);
        if (end_row(r, N_SOURCES) < 0)
            return -1;
    }
    return 0;
}

/* One COPY FROM STDIN: rows() fills the buffer and sends it when full; the
 * rest goes here. A failed COPY is ended with an error, so none of it stays. */
static int copy_in(rebuild *r, const char *what, const char *sql, int (*rows)(rebuild *))
{
    PGresult *res = PQexec(r->pg, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;

    if (!ok) {
        fail_pg(r, what, res);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    r->outlen = 0;
    ok = rows(r) == 0;
    if (ok && r->outlen > 0 && PQputCopyData(r->pg, r->out, (int)r->outlen) != 1)
        ok = fail_pg(r, what, NULL) == 0;
    if (PQputCopyEnd(r->pg, ok ? NULL : "twinctl rebuild failed") != 1 && ok)
        ok = fail_pg(r, what, NULL) == 0;
    while ((res = PQgetResult(r->pg))) {
        if (ok && PQresultStatus(res) != PGRES_COMMAND_OK)
            ok = fail_pg(r, what, res) == 0;
        PQclear(res);
    }
    return ok ? 0 : -1;
}

static int exec(rebuild *r, const char *what, const char *sql)
{
    PGresult *res = PQexec(r->pg, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail_pg(r, what, res);
    PQclear(res);
    return rc;
}

/* The rebuild's audit row, in its transaction. */
static int audit(rebuild *r, const char *by)
{
    char detail[200];
    snprintf(detail, sizeof detail,
             "{\"events\": %lld, \"twinnings\": %lld, \"pledges\": %lld, \"parked\": %lld,"
             " \"sources\": %lld}",
             r->events, r->rows[N_TWINNINGS], r->rows[N_PLEDGES], r->rows[N_PARKED],
             r->rows[N_SOURCES]);
    if (twctl_record_action(r->pg, by, "rebuild", "projections", detail) < 0)
        return fail(r, "the rebuild could not be recorded in the audit trail");
    return 0;
}

static int usage(void)
{
    printf("usage: twinctl rebuild --yes [--by NAME]\n"
           "Recomputes every projection table (proj.*) from audit.event_log alone, in one\n"
           "transaction; a running projector's next batch waits, then goes on from the new\n"
           "rows. Exits 1 and changes nothing if the rules now refuse a logged event.\n"
           "Recorded in the audit trail with who ran it (--by, default the login name).\n");
    return TW_EXIT_OK;
}

int twctl_rebuild(int argc, char **argv)
{
    rebuild r = {0};
    struct timespec t0, t1;
    int yes = 0, rc = TW_EXIT_FAIL;
    const char *by = NULL;
    tw_geo *geo = NULL;

    static const struct option opts[] = {{"yes", no_argument, NULL, 'y'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "yb:h", opts, NULL)) != -1;) {
        if (c == 'y')
            yes = 1;
        else if (c == 'b')
            by = optarg;
        else if (c == 'h')
            return usage();
        else
            return TW_EXIT_USAGE;
    }
    if (optind < argc)
        return twctl_usage_error("rebuild", "unexpected argument \"%s\"", argv[optind]);
    if (!yes)
        return twctl_usage_error("rebuild",
                                 "this replaces every projection table (proj.twinning, "
                                 "proj.pledge, proj.parked_delivery, proj.source_feed) with one "
                                 "recomputed from audit.event_log; run it again with --yes");
    if (!(by = twctl_by(by)))
        return twctl_usage_error("rebuild", "--by NAME is needed: a rebuild is audited");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r.pg = twctl_pg();
    if (!(r.st = tw_state_new()) || !(geo = tw_geo_new())) {
        fail(&r, "out of memory");
        goto done;
    }
    if (exec(&r, "begin", "BEGIN") < 0 ||
        exec(&r, "set work_mem", "SET LOCAL work_mem = '256MB'") < 0 ||
        exec(&r, "lock the projection tables", SQL_LOCK) < 0 ||
        load_codes(&r, "SELECT code FROM ref.agency", tw_state_add_agency) < 0 ||
        load_geo(&r, geo) < 0 || replay_log(&r) < 0)
        goto done;
    if (r.refused > 0) {
        fail(&r,
             "%lld of the %lld logged events are refused by the projection rules now (the "
             "first above): the log and the rules or the reference data disagree",
             r.refused, r.events);
        goto done;
    }
    /* TRUNCATE takes ACCESS EXCLUSIVE: readers wait from here to the
     * commit, while the rows are written, not through the replay. */
    if (exec(&r, "empty the projection tables", SQL_TRUNCATE) < 0 ||
        copy_in(&r, "write proj.twinning", tw_table_copy(tw_twinning_table), write_twinnings) < 0 ||
        copy_in(&r, "write proj.pledge", tw_table_copy(tw_pledge_table), write_pledges) < 0 ||
        copy_in(&r, "write proj.parked_delivery", tw_table_copy(tw_parked_table), write_parked) <
            0 ||
        copy_in(&r, "write proj.source_feed", tw_table_copy(tw_source_table), write_sources) < 0 ||
        audit(&r, by) < 0 || exec(&r, "commit", "COMMIT") < 0)
        goto done;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("rebuilt from %lld events in %.2f s (%.0f events/s): %lld twinnings, %lld pledges, "
           "%lld parked, %lld sources\n",
           r.events, s, (double)r.events / (s > 0 ? s : 1e-9), r.rows[N_TWINNINGS],
           r.rows[N_PLEDGES], r.rows[N_PARKED], r.rows[N_SOURCES]);
    rc = TW_EXIT_OK;
done:
    if (rc != TW_EXIT_OK) {
        fprintf(stderr, "twinctl rebuild: %s\n", r.err[0] ? r.err : "failed");
        if (PQtransactionStatus(r.pg) == PQTRANS_INTRANS ||
            PQtransactionStatus(r.pg) == PQTRANS_INERROR)
            PQclear(PQexec(r.pg, "ROLLBACK"));
        fprintf(stderr, "twinctl rebuild: rolled back; the projections are unchanged\n");
    }
    PQfinish(r.pg); /* also ends an unfinished COPY, and its transaction */
    tw_state_free(r.st);
    tw_geo_free(geo);
    free(r.out);
    return rc;
}
