/* pg.c: libpq in pipeline mode on a libev loop, and binary array parameters. */
#include "pg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"

#define HDR 20 /* ndim, flags, elemtype, dim size, lower bound */

static uint32_t elem_of(uint32_t array_oid)
{
    switch (array_oid) {
    case TW_OID_TEXT_ARRAY:
        return 25;
    case TW_OID_INT8_ARRAY:
        return 20;
    case TW_OID_INT4_ARRAY:
        return 23;
    case TW_OID_TIMESTAMPTZ_ARRAY:
        return 1184;
    case TW_OID_DATE_ARRAY:
        return 1082;
    case TW_OID_UUID_ARRAY:
        return 2950;
    case TW_OID_BYTEA_ARRAY:
        return 17;
    default:
        return 0;
    }
}

void tw_pgarr_init(tw_pgarr *a, uint32_t array_oid)
{
    memset(a, 0, sizeof *a);
    a->array_oid = array_oid;
    a->elem_oid = elem_of(array_oid);
    a->len = HDR;
}

void tw_pgarr_reset(tw_pgarr *a)
{
    a->n = 0;
    a->has_null = 0;
    a->oom = 0;
    a->len = HDR;
}

void tw_pgarr_free(tw_pgarr *a)
{
    free(a->buf);
    a->buf = NULL;
    a->cap = 0;
}

static char *reserve(tw_pgarr *a, size_t n)
{
    if (a->oom)
        return NULL;
    if (a->len + n > a->cap) {
        size_t ncap = a->cap ? a->cap : 4096;
        while (ncap < a->len + n)
            ncap *= 2;
        char *nb = realloc(a->buf, ncap);
        if (!nb) {
            a->oom = 1;
            return NULL;
        }
        a->buf = nb;
        a->cap = ncap;
    }
    char *p = a->buf + a->len;
    a->len += n;
    return p;
}

static void put32(char *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static void put64(char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

void tw_pgarr_null(tw_pgarr *a)
{
    char *p = reserve(a, 4);
    if (!p)
        return;
    put32(p, 0xFFFFFFFFu);
    a->has_null = 1;
    a->n++;
}

void tw_pgarr_bytes(tw_pgarr *a, const void *v, size_t n)
{
    char *p = reserve(a, 4 + n);
    if (!p)
        return;
    put32(p, (uint32_t)n);
    if (n)
        memcpy(p + 4, v, n);
    a->n++;
}

void tw_pgarr_text(tw_pgarr *a, const char *s)
{
    if (!s)
        tw_pgarr_null(a);
    else
        tw_pgarr_bytes(a, s, strlen(s));
}

void tw_pgarr_int8(tw_pgarr *a, int64_t v)
{
    char *p = reserve(a, 12);
    if (!p)
        return;
    put32(p, 8);
    put64(p + 4, (uint64_t)v);
    a->n++;
}

void tw_pgarr_int4(tw_pgarr *a, int32_t v)
{
    char *p = reserve(a, 8);
    if (!p)
        return;
    put32(p, 4);
    put32(p + 4, (uint32_t)v);
    a->n++;
}

void tw_pgarr_uuid(tw_pgarr *a, const uint8_t u[16])
{
    tw_pgarr_bytes(a, u, 16);
}

void tw_pgarr_ts_ms(tw_pgarr *a, int64_t ms)
{
    if (ms == 0)
        tw_pgarr_null(a);
    else
        tw_pgarr_int8(a, tw_ms_to_pg_usec(ms));
}

void tw_pgarr_date(tw_pgarr *a, int32_t days)
{
    if (days == TW_DATE_NONE)
        tw_pgarr_null(a);
    else
        tw_pgarr_int4(a, tw_days_to_pg_date(days));
}

const char *tw_pgarr_data(tw_pgarr *a, int *len)
{
    static char empty[12];
    if (a->oom)
        return NULL;
    if (a->n == 0) {
        put32(empty, 0);
        put32(empty + 4, 0);
        put32(empty + 8, a->elem_oid);
        *len = 12;
        return empty;
    }
    put32(a->buf, 1);
    put32(a->buf + 4, (uint32_t)a->has_null);
    put32(a->buf + 8, a->elem_oid);
    put32(a->buf + 12, (uint32_t)a->n);
    put32(a->buf + 16, 1);
    *len = (int)a->len;
    return a->buf;
}

void tw_pgparams_clear(tw_pgparams *p)
{
    p->n = 0;
}

int tw_pgparams_array(tw_pgparams *p, tw_pgarr *a)
{
    int len;
    const char *d = tw_pgarr_data(a, &len);
    if (!d || p->n >= TW_PG_MAXPARAMS)
        return -1;
    p->types[p->n] = a->array_oid;
    p->values[p->n] = d;
    p->lengths[p->n] = len;
    p->formats[p->n] = 1;
    p->n++;
    return 0;
}

void tw_pgparams_text(tw_pgparams *p, const char *value)
{
    if (p->n >= TW_PG_MAXPARAMS)
        return;
    p->types[p->n] = 0;
    p->values[p->n] = value;
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->n++;
}

const char *tw_pg_errline(const char *msg, char *out, size_t outlen)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    snprintf(out, outlen, "%.*s", (int)n, msg ? msg : "");
    return out;
}

PGconn *tw_pg_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo ? conninfo : "");
    char line[400];
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "connect to PostgreSQL: %s",
                 tw_pg_errline(PQerrorMessage(c), line, sizeof line));
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET TimeZone = 'UTC'"));
    PQsetClientEncoding(c, "UTF8");
    return c;
}

/* A service's connection parameters: conninfo (a connection string or
 * URI; its own settings stay unless named here), application_name, UTF-8,
 * and the server options: TimeZone UTC and the service's own. */
typedef struct {
    const char *keys[5], *vals[5];
    char options[512];
} conn_params;

static void params_of(conn_params *cp, const char *conninfo, const char *appname,
                      const char *options)
{
    snprintf(cp->options, sizeof cp->options, "-c TimeZone=UTC%s%s", options ? " " : "",
             options ? options : "");
    const char *k[] = {"dbname", "application_name", "client_encoding", "options", NULL};
    const char *v[] = {conninfo ? conninfo : "", appname, "UTF8", cp->options, NULL};
    memcpy(cp->keys, k, sizeof k);
    memcpy(cp->vals, v, sizeof v);
}

static int enter_pipeline(PGconn *c, char *err, size_t errlen)
{
    char line[400];
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
        snprintf(err, errlen, "PostgreSQL pipeline mode: %s",
                 tw_pg_errline(PQerrorMessage(c), line, sizeof line));
        return -1;
    }
    return 0;
}

PGconn *tw_pg_connect_pipeline(const char *conninfo, const char *appname, const char *options,
                               char *err, size_t errlen)
{
    char line[400];
    conn_params cp;
    params_of(&cp, conninfo, appname, options);
    PGconn *c = PQconnectdbParams(cp.keys, cp.vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "connect to PostgreSQL: %s",
                 tw_pg_errline(PQerrorMessage(c), line, sizeof line));
        PQfinish(c);
        return NULL;
    }
    if (enter_pipeline(c, err, errlen) < 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* ---- connecting on the loop ---- */

static void connect_end(tw_pgconnect *a, const char *why)
{
    char err[512], line[400];
    PGconn *c = a->conn;
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->timeout);
    a->conn = NULL;
    a->active = 0;
    if (why) {
        snprintf(err, sizeof err, "connect to PostgreSQL: %s",
                 c && PQerrorMessage(c)[0] ? tw_pg_errline(PQerrorMessage(c), line, sizeof line)
                                           : why);
        PQfinish(c);
        a->done(a->arg, NULL, err);
        return;
    }
    if (enter_pipeline(c, err, sizeof err) < 0) {
        PQfinish(c);
        a->done(a->arg, NULL, err);
        return;
    }
    a->done(a->arg, c, "");
}

/* Waits for the socket in the direction libpq asks (it may be a new socket
 * after each step: several hosts, SSL negotiation). */
static void connect_wait(tw_pgconnect *a, PostgresPollingStatusType st)
{
    int fd = PQsocket(a->conn);
    if (fd < 0) {
        connect_end(a, "no socket");
        return;
    }
    ev_io_stop(a->loop, &a->io);
    ev_io_set(&a->io, fd, st == PGRES_POLLING_WRITING ? EV_WRITE : EV_READ);
    ev_io_start(a->loop, &a->io);
}

static void connect_step(tw_pgconnect *a)
{
    PostgresPollingStatusType st = PQconnectPoll(a->conn);
    if (st == PGRES_POLLING_OK)
        connect_end(a, NULL);
    else if (st == PGRES_POLLING_FAILED)
        connect_end(a, "failed");
    else
        connect_wait(a, st);
}

static void on_connect_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    connect_step(w->data);
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_pgconnect *a = w->data;
    (void)loop;
    (void)revents;
    if (PQstatus(a->conn) == CONNECTION_BAD) { /* refused at start: libpq says why */
        connect_end(a, "failed");
        return;
    }
    PQfinish(a->conn); /* libpq enforces connect_timeout only when it blocks */
    a->conn = NULL;
    connect_end(a, "timed out");
}

int tw_pgconnect_start(tw_pgconnect *a, struct ev_loop *loop, const char *conninfo,
                       const char *appname, const char *options, double timeout_s,
                       tw_pgconnect_fn done, void *arg)
{
    conn_params cp;
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->done = done;
    a->arg = arg;
    ev_init(&a->io, on_connect_io);
    a->io.data = a;
    ev_timer_init(&a->timeout, on_connect_timeout, timeout_s, 0);
    a->timeout.data = a;
    params_of(&cp, conninfo, appname, options);
    a->conn = PQconnectStartParams(cp.keys, cp.vals, 1);
    if (!a->conn)
        return -1;
    a->active = 1;
    if (PQstatus(a->conn) == CONNECTION_BAD) {
        /* reported from the loop, like every other outcome */
        ev_timer_set(&a->timeout, 0, 0);
        ev_timer_start(loop, &a->timeout);
        return 0;
    }
    ev_timer_start(loop, &a->timeout);
    connect_wait(a, PGRES_POLLING_WRITING);
    return 0;
}

void tw_pgconnect_cancel(tw_pgconnect *a)
{
    if (!a->active)
        return;
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->timeout);
    PQfinish(a->conn);
    a->conn = NULL;
    a->active = 0;
}

static void on_pg_io(struct ev_loop *loop, ev_io *w, int revents);

void tw_pgpipe_init(tw_pgpipe *p, struct ev_loop *loop, PGconn *conn)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->conn = conn;
    ev_init(&p->io, on_pg_io);
    p->io.data = p;
}

int tw_pgpipe_send(tw_pgpipe *p, const char *sql, const tw_pgparams *params)
{
    char line[400];
    int ok;
    if (params)
        ok = PQsendQueryParams(p->conn, sql, params->n, params->types, params->values,
                               params->lengths, params->formats, 0);
    else
        ok = PQsendQueryParams(p->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!ok) {
        snprintf(p->err, sizeof p->err, "queue statement: %s",
                 tw_pg_errline(PQerrorMessage(p->conn), line, sizeof line));
        p->failed = 1;
        return -1;
    }
    p->queued++;
    return 0;
}

static void finish(tw_pgpipe *p)
{
    ev_io_stop(p->loop, &p->io);
    p->running = 0;
    int ok = !p->failed;
    p->failed = 0;
    tw_pgpipe_done_fn done = p->on_done;
    void *arg = p->arg;
    p->queued = 0;
    if (done)
        done(arg, ok, p->err);
}

static void fail(tw_pgpipe *p, int lost, const char *what)
{
    char line[400];
    if (!p->failed)
        snprintf(p->err, sizeof p->err, "%s: %s", what,
                 tw_pg_errline(PQerrorMessage(p->conn), line, sizeof line));
    p->failed = 1;
    p->lost |= lost;
}

/* Advances the pipeline; returns 1 when it is done, 0 to wait for I/O. */
static int step(tw_pgpipe *p, int *want_write)
{
    int fr = PQflush(p->conn);
    if (fr < 0) {
        fail(p, 1, "send to PostgreSQL");
        return 1;
    }
    *want_write = fr == 1;
    if (!PQconsumeInput(p->conn)) {
        fail(p, 1, "read from PostgreSQL");
        return 1;
    }
    while (!PQisBusy(p->conn)) {
        PGresult *r = PQgetResult(p->conn);
        if (!r) {
            p->stmt++;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return 1;
        }
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            if (p->on_result && !p->failed)
                p->on_result(p->arg, p->stmt, r);
        } else if (st != PGRES_PIPELINE_ABORTED && !p->failed) {
            char line[400];
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(p->err, sizeof p->err, "statement %d: %s", p->stmt,
                     tw_pg_errline(PQresultErrorMessage(r), line, sizeof line));
            const char *cons = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
            snprintf(p->sqlstate, sizeof p->sqlstate, "%s", state ? state : "");
            snprintf(p->constraint, sizeof p->constraint, "%s", cons ? cons : "");
            p->failed = 1;
        }
        PQclear(r);
    }
    if (PQstatus(p->conn) == CONNECTION_BAD) {
        fail(p, 1, "PostgreSQL connection lost");
        return 1;
    }
    return 0;
}

static void on_pg_io(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_pgpipe *p = w->data;
    int want_write;
    (void)revents;
    if (step(p, &want_write)) {
        finish(p);
        return;
    }
    int events = EV_READ | (want_write ? EV_WRITE : 0);
    if ((w->events & (EV_READ | EV_WRITE)) != events) {
        ev_io_stop(loop, w);
        ev_io_set(w, PQsocket(p->conn), events);
        ev_io_start(loop, w);
    }
}

static int start(tw_pgpipe *p, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done, void *arg)
{
    p->on_result = on_result;
    p->on_done = on_done;
    p->arg = arg;
    p->stmt = 0;
    p->running = 1;
    p->lost = 0;
    p->sqlstate[0] = '\0';
    p->constraint[0] = '\0';
    if (p->failed)
        return -1; /* a send failed; report it */
    p->err[0] = '\0';
    if (PQpipelineSync(p->conn) != 1) {
        fail(p, PQstatus(p->conn) == CONNECTION_BAD, "pipeline sync");
        return -1;
    }
    return 0;
}

void tw_pgpipe_run(tw_pgpipe *p, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                   void *arg)
{
    if (start(p, on_result, on_done, arg) < 0) {
        finish(p);
        return;
    }
    ev_io_set(&p->io, PQsocket(p->conn), EV_READ | EV_WRITE);
    ev_io_start(p->loop, &p->io);
}

void tw_pgpipe_finish(tw_pgpipe *p, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                      void *arg)
{
    int want_write = 1;
    if (!p->running) {
        if (start(p, on_result, on_done, arg) < 0) {
            finish(p);
            return;
        }
    } else {
        ev_io_stop(p->loop, &p->io);
    }
    for (;;) {
        if (step(p, &want_write))
            break;
        struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
        if (want_write)
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
            fail(p, 1, "poll PostgreSQL socket");
            break;
        }
    }
    finish(p);
}
