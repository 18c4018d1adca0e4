/* listen.c: a LISTENing PostgreSQL connection on the loop, reconnecting
 * with backoff. Notifications arrive on the socket between statements; an
 * ev_io watches it only while no pipeline runs (the pipeline's own watcher
 * reads it otherwise), and whatever libpq gathered meanwhile is delivered
 * when the pipeline is done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "listen.h"
#include "log.h"

struct tw_listener {
    struct ev_loop *loop;
    const char *conninfo, *appname;
    const char *const *channels;
    PGconn *conn;
    tw_pgpipe pipe;
    tw_pgconnect connecting;
    ev_io notify_io;
    ev_timer retry;
    double delay, max_delay;
    int ready;
    tw_listener_cbs cbs;
    void *arg;
    tw_pgpipe_result_fn user_result;
    tw_pgpipe_done_fn user_done;
    void *user_arg;
};

static void drop(tw_listener *l, const char *why)
{
    int was_ready = l->ready;
    ev_io_stop(l->loop, &l->notify_io);
    l->ready = 0;
    if (l->conn) {
        PQfinish(l->conn);
        l->conn = NULL;
    }
    tw_backoff_next(&l->delay, l->max_delay);
    tw_error("%s: %s; reconnecting in %.1fs", l->appname, why, l->delay);
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_set(&l->retry, l->delay, 0);
    ev_timer_start(l->loop, &l->retry);
    if (was_ready && l->cbs.on_down)
        l->cbs.on_down(l->arg);
}

/* Delivers what libpq holds while nothing runs, then watches the socket. */
static void deliver(tw_listener *l)
{
    PGnotify *n;
    while (l->ready && !l->pipe.running && (n = PQnotifies(l->conn))) {
        l->cbs.on_notify(l->arg, n->relname, n->extra);
        PQfreemem(n);
    }
    if (l->ready && !l->pipe.running && !ev_is_active(&l->notify_io)) {
        ev_io_set(&l->notify_io, PQsocket(l->conn), EV_READ);
        ev_io_start(l->loop, &l->notify_io);
    }
}

static void on_notify_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_listener *l = w->data;
    char line[400];
    (void)loop;
    (void)revents;
    if (!PQconsumeInput(l->conn) || PQstatus(l->conn) == CONNECTION_BAD) {
        char why[500];
        snprintf(why, sizeof why, "connection lost: %s",
                 tw_pg_errline(PQerrorMessage(l->conn), line, sizeof line));
        drop(l, why);
        return;
    }
    deliver(l);
}

static void on_run_result(void *arg, int stmt, const PGresult *r)
{
    tw_listener *l = arg;
    if (l->user_result)
        l->user_result(l->user_arg, stmt, r);
}

static void on_run_done(void *arg, int ok, const char *err)
{
    tw_listener *l = arg;
    tw_pgpipe_done_fn done = l->user_done;
    char why[600];
    l->user_done = NULL;
    if (done)
        done(l->user_arg, ok, err);
    if (!ok) {
        snprintf(why, sizeof why, "%s", err);
        drop(l, why);
        return;
    }
    l->delay = 0;
    deliver(l);
}

static void on_listening(void *arg, int ok, const char *err)
{
    tw_listener *l = arg;
    if (!ok)
        return; /* on_run_done drops the connection */
    (void)err;
    l->ready = 1;
    tw_info("%s: connected, listening", l->appname);
    l->cbs.on_ready(l->arg);
}

/* The server's notices (e.g. "terminating connection") as log lines. */
static void on_pg_notice(void *arg, const char *msg)
{
    tw_listener *l = arg;
    char line[400];
    tw_warn("%s: %s", l->appname, tw_pg_errline(msg, line, sizeof line));
}

static void on_connected(void *arg, PGconn *c, const char *err)
{
    tw_listener *l = arg;
    char sql[128];
    if (!c) {
        drop(l, err);
        return;
    }
    l->conn = c;
    PQsetNoticeProcessor(c, on_pg_notice, l);
    tw_pgpipe_init(&l->pipe, l->loop, c);
    for (int i = 0; l->channels[i]; i++) {
        snprintf(sql, sizeof sql, "LISTEN %s", l->channels[i]);
        if (tw_pgpipe_send(&l->pipe, sql, NULL) < 0) {
            drop(l, l->pipe.err);
            return;
        }
    }
    /* ready only once LISTEN is in effect: a notification before it is
     * covered by the full evaluation that on_ready starts */
    tw_listener_run(l, NULL, on_listening, l);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_listener *l = w->data;
    (void)revents;
    if (l->connecting.active || l->conn)
        return;
    if (tw_pgconnect_start(&l->connecting, loop, l->conninfo, l->appname, NULL, 10.0, on_connected,
                           l) < 0)
        drop(l, "out of memory connecting to PostgreSQL");
}

tw_listener *tw_listener_new(struct ev_loop *loop, const char *conninfo, const char *appname,
                             const char *const *channels, double max_retry_s,
                             const tw_listener_cbs *cbs, void *arg)
{
    tw_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->loop = loop;
    l->conninfo = conninfo;
    l->appname = appname;
    l->channels = channels;
    l->max_delay = max_retry_s;
    l->cbs = *cbs;
    l->arg = arg;
    ev_init(&l->notify_io, on_notify_readable);
    l->notify_io.data = l;
    ev_timer_init(&l->retry, on_retry, 0, 0);
    l->retry.data = l;
    ev_timer_start(loop, &l->retry);
    return l;
}

void tw_listener_free(tw_listener *l)
{
    if (!l)
        return;
    ev_timer_stop(l->loop, &l->retry);
    ev_io_stop(l->loop, &l->notify_io);
    ev_io_stop(l->loop, &l->pipe.io);
    tw_pgconnect_cancel(&l->connecting);
    if (l->conn)
        PQfinish(l->conn);
    free(l);
}

tw_pgpipe *tw_listener_pipe(tw_listener *l)
{
    return &l->pipe;
}

int tw_listener_ready(const tw_listener *l)
{
    return l->ready;
}

int tw_listener_busy(const tw_listener *l)
{
    return !l->ready || l->pipe.running;
}

void tw_listener_run(tw_listener *l, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                     void *arg)
{
    ev_io_stop(l->loop, &l->notify_io);
    l->user_result = on_result;
    l->user_done = on_done;
    l->user_arg = arg;
    tw_pgpipe_run(&l->pipe, on_run_result, on_run_done, l);
}

void tw_listener_finish(tw_listener *l)
{
    while (l->ready && l->pipe.running)
        tw_pgpipe_finish(&l->pipe, NULL, NULL, NULL);
}
