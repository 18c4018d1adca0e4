/* listen.h: a PostgreSQL connection on the loop that LISTENs on some
 * channels, runs one pipeline at a time and reconnects with backoff. Both
 * halves of the sentinel use one each, the gateway one. */
#ifndef TW_LISTEN_H
#define TW_LISTEN_H

#include <ev.h>
#include <libpq-fe.h>

#include "pg.h"

typedef struct tw_listener tw_listener;

typedef struct tw_listener_cbs {
    /* Connected and listening: (re)start from scratch, since notifications
     * sent while disconnected are gone. */
    void (*on_ready)(void *arg);
    /* One notification, delivered only while no pipeline runs. */
    void (*on_notify)(void *arg, const char *channel, const char *payload);
    /* The connection failed; no pipeline runs until on_ready again. */
    void (*on_down)(void *arg);
} tw_listener_cbs;

/* Starts connecting. channels is NULL-terminated and must outlive l.
 * Returns NULL when out of memory. */
tw_listener *tw_listener_new(struct ev_loop *loop, const char *conninfo, const char *appname,
                             const char *const *channels, double max_retry_s,
                             const tw_listener_cbs *cbs, void *arg);
void tw_listener_free(tw_listener *l);

/* The pipe to queue statements on; valid while tw_listener_ready(l). */
tw_pgpipe *tw_listener_pipe(tw_listener *l);
int tw_listener_ready(const tw_listener *l);
int tw_listener_busy(const tw_listener *l);

/* Runs the queued statements. on_done sees the outcome first; a failure
 * then drops the connection and reconnects after a backoff. */
void tw_listener_run(tw_listener *l, tw_pgpipe_result_fn on_result, tw_pgpipe_done_fn on_done,
                     void *arg);

/* Blocks until a running pipeline is done: shutdown only. */
void tw_listener_finish(tw_listener *l);

#endif
