/* status.c: what an agency's IT staff read to fix their own export.
 * GET /v1/events/{event_id}: what became of one of the caller's events;
 * GET /v1/feed: the caller's whole feed (schemas/040: gateway.event_status
 * and gateway.feed_status, which answer for the token's agency only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "uuid.h"

#define PENDING_LIMIT "200" /* pending dead letters listed in /v1/feed */

typedef struct lookup {
    tw_gwcall *call;
    char event_id[TW_UUID_STRLEN + 1];
} lookup;

static void on_event_status(void *arg, const PGresult *res, const char *err)
{
    lookup *l = arg;
    tw_gwcall *call = l->call;
    (void)err;
    if (!res) {
        tw_gw_error(call, 503, call->gw->retry_after_s, "database unavailable; try again");
    } else if (PQntuples(res) == 0) {
        /* Not in the log nor in the dead letters: on Kafka, or never sent.
         * The same answer for another agency's event: nothing leaks. */
        tw_gw_reply(call, 200,
                    json_pack("{s:s, s:s, s:s}", "event_id", l->event_id, "status", "pending",
                              "detail",
                              "not projected (yet): on Kafka if it was accepted, waiting for the "
                              "projector; if it was never accepted, send it"),
                    NULL);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:s}", "event_id", l->event_id, "status",
                              PQgetvalue(res, 0, 0), "at", PQgetvalue(res, 0, 3));
        if (!PQgetisnull(res, 0, 1)) {
            json_object_set_new(o, "reason", json_string(PQgetvalue(res, 0, 1)));
            json_object_set_new(o, "message", json_string(PQgetvalue(res, 0, 2)));
        }
        tw_gw_reply(call, 200, o, NULL);
    }
    free(l);
}

void tw_gw_event_status(tw_gwcall *call, const char *event_id)
{
    uint8_t id[16];
    lookup *l;
    if (tw_uuid_parse(event_id, id) < 0) {
        tw_gw_error(call, 400, 0, "\"%.60s\" is not an event id (a UUID)", event_id);
        return;
    }
    if (!(l = calloc(1, sizeof *l))) {
        tw_gw_error(call, 503, call->gw->retry_after_s, "out of memory");
        return;
    }
    l->call = call;
    tw_uuid_format(id, l->event_id);
    const char *params[] = {call->agency, l->event_id};
    if (tw_gwdb_query(call->gw->db,
                      "SELECT status, reason, message, at FROM gateway.event_status($1, $2::uuid)",
                      2, params, on_event_status, l) < 0) {
        free(l);
        tw_gw_error(call, 503, call->gw->retry_after_s, "out of memory");
    }
}

static void on_feed(void *arg, const PGresult *res, const char *err)
{
    tw_gwcall *call = arg;
    json_error_t jerr;
    json_t *o;
    (void)err;
    if (!res || PQntuples(res) != 1) {
        tw_gw_error(call, 503, call->gw->retry_after_s, "database unavailable; try again");
        return;
    }
    if (!(o = json_loads(PQgetvalue(res, 0, 0), 0, &jerr))) {
        tw_gw_error(call, 500, 0, "feed status: %s", jerr.text);
        return;
    }
    tw_gw_reply(call, 200, o, NULL);
}

void tw_gw_feed(tw_gwcall *call)
{
    const char *params[] = {call->agency, PENDING_LIMIT};
    if (tw_gwdb_query(call->gw->db, "SELECT gateway.feed_status($1, $2::int)", 2, params, on_feed,
                      call) < 0)
        tw_gw_error(call, 503, call->gw->retry_after_s, "out of memory");
}
