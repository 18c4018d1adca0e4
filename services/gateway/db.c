/* db.c: the gateway's PostgreSQL, one connection (services/lib/listen.c:
 * pipelined, reconnecting with backoff) shared by every request. Queries
 * wait in a queue; whenever the pipeline is idle, everything queued goes
 * in one round trip, and each result goes back to its request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "listen.h"
#include "log.h"

#define MAX_PARAMS 4
#define MAX_RUN    64 /* statements per round trip */

typedef struct query {
    struct query *next;
    const char *sql;
    int n;
    char *values[MAX_PARAMS];
    tw_gwdb_fn fn;
    void *arg;
    int answered;
} query;

struct tw_gwdb {
    struct ev_loop *loop;
    tw_listener *l;
    query *head, *tail; /* waiting */
    query *run[MAX_RUN];
    int nrun;
    ev_idle kick;
};

static const char *const no_channels[] = {NULL};

static void query_free(query *q)
{
    for (int i = 0; i < q->n; i++)
        free(q->values[i]);
    free(q);
}

static void on_result(void *arg, int stmt, const PGresult *res)
{
    tw_gwdb *db = arg;
    if (stmt >= 0 && stmt < db->nrun && !db->run[stmt]->answered) {
        db->run[stmt]->answered = 1;
        db->run[stmt]->fn(db->run[stmt]->arg, res, NULL);
    }
}

static void on_done(void *arg, int ok, const char *err)
{
    tw_gwdb *db = arg;
    int n = db->nrun;
    db->nrun = 0;
    for (int i = 0; i < n; i++) {
        query *q = db->run[i];
        if (!q->answered)
            q->fn(q->arg, NULL, ok ? "no result" : err);
        query_free(q);
    }
    if (db->head)
        ev_idle_start(db->loop, &db->kick);
}

/* Fails everything waiting: the database is not there. */
static void fail_waiting(tw_gwdb *db, const char *why)
{
    while (db->head) {
        query *q = db->head;
        db->head = q->next;
        q->fn(q->arg, NULL, why);
        query_free(q);
    }
    db->tail = NULL;
}

static void on_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
    tw_gwdb *db = w->data;
    (void)revents;
    ev_idle_stop(loop, w);
    if (!db->head || db->nrun)
        return;
    if (!tw_listener_ready(db->l)) {
        fail_waiting(db, "PostgreSQL is not connected");
        return;
    }
    if (tw_listener_busy(db->l)) {
        ev_idle_start(loop, w);
        return;
    }
    tw_pgpipe *p = tw_listener_pipe(db->l);
    while (db->head && db->nrun < MAX_RUN) {
        query *q = db->head;
        tw_pgparams params;
        tw_pgparams_clear(&params);
        for (int i = 0; i < q->n; i++)
            tw_pgparams_text(&params, q->values[i]);
        db->head = q->next;
        if (!db->head)
            db->tail = NULL;
        db->run[db->nrun++] = q;
        if (tw_pgpipe_send(p, q->sql, &params) < 0)
            break; /* the run reports it to every query in it */
    }
    tw_listener_run(db->l, on_result, on_done, db);
}

static void on_ready(void *arg)
{
    (void)arg;
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    (void)arg;
    (void)channel;
    (void)payload;
}

tw_gwdb *tw_gwdb_start(struct ev_loop *loop, const char *conninfo, char *err, size_t errlen)
{
    static const tw_listener_cbs cbs = {on_ready, on_notify, NULL};
    tw_gwdb *db = calloc(1, sizeof *db);
    if (!db || !(db->l = tw_listener_new(loop, conninfo, "gateway", no_channels, 5.0, &cbs, db))) {
        free(db);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->loop = loop;
    ev_idle_init(&db->kick, on_kick);
    db->kick.data = db;
    return db;
}

int tw_gwdb_query(tw_gwdb *db, const char *sql, int n, const char *const *values, tw_gwdb_fn fn,
                  void *arg)
{
    query *q = calloc(1, sizeof *q);
    if (!q || n > MAX_PARAMS)
        goto fail;
    q->sql = sql;
    q->fn = fn;
    q->arg = arg;
    for (q->n = 0; q->n < n; q->n++)
        if (values[q->n] && !(q->values[q->n] = strdup(values[q->n])))
            goto fail;
    if (db->tail)
        db->tail->next = q;
    else
        db->head = q;
    db->tail = q;
    ev_idle_start(db->loop, &db->kick);
    return 0;
fail:
    if (q)
        query_free(q);
    return -1;
}

int tw_gwdb_up(const tw_gwdb *db)
{
    return tw_listener_ready(db->l);
}

void tw_gwdb_stop(tw_gwdb *db)
{
    if (!db)
        return;
    ev_idle_stop(db->loop, &db->kick);
    if (db->nrun)
        tw_listener_finish(db->l);
    fail_waiting(db, "the gateway is stopping");
    tw_listener_free(db->l);
    free(db);
}
