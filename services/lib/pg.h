/* pg.h: PostgreSQL for the services. Connections in pipeline mode driven by
 * a libev loop (tw_pgpipe: queue statements, run them in one round trip,
 * get each result), binary array parameters so one statement carries a
 * whole batch (INSERT ... SELECT FROM unnest($1::uuid[], ...)), and a plain
 * blocking connection for command-line tools. */
#ifndef TW_PG_H
#define TW_PG_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>
#include <libpq-fe.h>

/* Array type OIDs for parameters. */
#define TW_OID_TEXT_ARRAY        1009
#define TW_OID_INT8_ARRAY        1016
#define TW_OID_INT4_ARRAY        1007
#define TW_OID_TIMESTAMPTZ_ARRAY 1185
#define TW_OID_DATE_ARRAY        1182
#define TW_OID_UUID_ARRAY        2951
#define TW_OID_BYTEA_ARRAY       1001

/* A one-dimensional array in PostgreSQL's binary format, built element by
 * element. Memory is kept across tw_pgarr_reset for the next batch. */
typedef struct tw_pgarr {
    uint32_t elem_oid, array_oid;
    size_t n;
    int has_null, oom;
    char *buf;
    size_t len, cap;
} tw_pgarr;

void tw_pgarr_init(tw_pgarr *a, uint32_t array_oid);
void tw_pgarr_reset(tw_pgarr *a);
void tw_pgarr_free(tw_pgarr *a);
void tw_pgarr_null(tw_pgarr *a);
void tw_pgarr_text(tw_pgarr *a, const char *s);            /* NULL -> null */
void tw_pgarr_bytes(tw_pgarr *a, const void *p, size_t n); /* bytea */
void tw_pgarr_int8(tw_pgarr *a, int64_t v);
void tw_pgarr_int4(tw_pgarr *a, int32_t v);
void tw_pgarr_uuid(tw_pgarr *a, const uint8_t u[16]);
void tw_pgarr_ts_ms(tw_pgarr *a, int64_t ms);  /* 0 -> null */
void tw_pgarr_date(tw_pgarr *a, int32_t days); /* TW_DATE_NONE -> null */
/* Finishes the header; returns the bytes and their length, or NULL when an
 * append ran out of memory. */
const char *tw_pgarr_data(tw_pgarr *a, int *len);

/* Parameters for one statement: up to TW_PG_MAXPARAMS binary arrays or
 * text values. */
#define TW_PG_MAXPARAMS 24
typedef struct tw_pgparams {
    int n;
    Oid types[TW_PG_MAXPARAMS];
    const char *values[TW_PG_MAXPARAMS];
    int lengths[TW_PG_MAXPARAMS];
    int formats[TW_PG_MAXPARAMS];
} tw_pgparams;

void tw_pgparams_clear(tw_pgparams *p);
/* Adds a finished array; returns -1 if the array ran out of memory. */
int tw_pgparams_array(tw_pgparams *p, tw_pgarr *a) __attribute__((warn_unused_result));
void tw_pgparams_text(tw_pgparams *p, const char *value); /* untyped text, NULL = null */

/* Callbacks of a pipeline run. on_result sees every successful result of
 * statement number stmt (0-based, in queue order); on_done is called once. */
typedef void (*tw_pgpipe_result_fn)(void *arg, int stmt, const PGresult *res);
typedef void (*tw_pgpipe_done_fn)(void *arg, int ok, const char *err);

typedef struct tw_pgpipe {
    PGconn *conn;
    struct ev_loop *loop;
    ev_io io;
    int queued, stmt, running, failed, lost;
    char err[512];
    char sqlstate[6];    /* of the first error of the last run, "" if none */
    char constraint[64]; /* the constraint that error names, "" if none */
    tw_pgpipe_result_fn on_result;
    tw_pgpipe_done_fn on_done;
    void *arg;
} tw_pgpipe;

/* Opens a connection for a service: UTF-8, TimeZone UTC, the given
 * application_name and server options (e.g. "-c enable_seqscan=off", may
 * be NULL), then non-blocking and in pipeline mode. Blocking while it
 * connects. Returns NULL with the reason in err. */
PGconn *tw_pg_connect_pipeline(const char *conninfo, const char *appname, const char *options,
                               char *err, size_t errlen);

/* The same without blocking the loop: done(arg, conn, "") with a connection
 * in pipeline mode, or done(arg, NULL, reason), once, from the loop. */
typedef void (*tw_pgconnect_fn)(void *arg, PGconn *conn, const char *err);
typedef struct tw_pgconnect {
    struct ev_loop *loop;
    ev_io io;
    ev_timer timeout;
    PGconn *conn;
    int active;
    tw_pgconnect_fn done;
    void *arg;
} tw_pgconnect;
/* Returns -1 (and never calls done) only when out of memory. */
int tw_pgconnect_start(tw_pgconnect *a, struct ev_loop *loop, const char *conninfo,
                       const char *appname, const char *options, double timeout_s,
                       tw_pgconnect_fn done, void *arg);
void tw_pgconnect_cancel(tw_pgconnect *a);

void tw_pgpipe_init(tw_pgpipe *p, struct ev_loop *loop, PGconn *conn);
/* Queues one statement. Returns -1 with p->err set if libpq refuses it. */
int tw_pgpipe_send(tw_pgpipe *p, const char *sql, const tw_pgparams *params)
    __attribute__((warn_unused_result));
/* Sends everything queued with a sync point and returns at once; the loop
 * delivers results and then on_done. */
void tw_pgpipe_run(tw_pgpipe *p, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                   void *arg);
/* Blocks until a running pipeline is done (its on_done runs), or runs the
 * queued statements to completion when none is running. For the rare
 * moments the loop must wait: rebalance and shutdown. */
void tw_pgpipe_finish(tw_pgpipe *p, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                      void *arg);

/* Blocking connection for tools. Returns NULL with the reason in err. */
PGconn *tw_pg_connect(const char *conninfo, char *err, size_t errlen);

/* Formats the first line of libpq's error message into out. */
const char *tw_pg_errline(const char *msg, char *out, size_t outlen);

#endif
