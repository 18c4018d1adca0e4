/* ingest.c: POST /v1/events. The body is read whole in one of the feed
 * formats twinctl publish reads (services/lib/feed.c: JSON lines or CSV;
 * or length-delimited protobuf Events), every record checked by the same
 * code as twinctl publish (tw_codec_check: stateless checks, derived ids),
 * and only a body with no bad record is published: all or nothing. The
 * reply waits for Kafka's acknowledgement of every event. Refusals name
 * each line: 403 for events of an agency other than the token's and its
 * predecessors' (gateway.agency_codes), 400 for
 * invalid ones. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "date.h"
#include "feed.h"
#include "gateway.h"
#include "log.h"

typedef enum { FMT_JSONL, FMT_CSV, FMT_PROTOBUF } body_format;

typedef struct parsed {
    tw_event **ev;
    int *line;
    size_t n, cap;
    json_t *errors;    /* [{"line", "field", "reason"}] */
    json_t *forbidden; /* [{"line", "agencyCode"}] */
} parsed;

static int format_of(const char *ct, body_format *f)
{
    size_t n;
    if (!ct)
        return -1;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; ");
    if ((n == 20 && !strncasecmp(ct, "application/x-ndjson", n)) ||
        (n == 18 && !strncasecmp(ct, "application/x-jsonl", n)) ||
        (n == 20 && !strncasecmp(ct, "application/jsonlines", n)))
        *f = FMT_JSONL;
    else if (n == 8 && !strncasecmp(ct, "text/csv", n))
        *f = FMT_CSV;
    else if (n == 22 && !strncasecmp(ct, "application/x-protobuf", n))
        *f = FMT_PROTOBUF;
    else
        return -1;
    return 0;
}

/* The field a feed refusal names at its start ("supportPledged.dueDate:
 * expected a string", "unknown field \"x.y\""), or NULL. */
static json_t *field_of(const char *reason)
{
    const char *p = reason;
    if (!strncmp(p, "unknown field \"", 15)) {
        const char *end = strchr(p + 15, '"');
        return end ? json_stringn(p + 15, (size_t)(end - p - 15)) : json_null();
    }
    while (*p && (isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '[' || *p == ']'))
        p++;
    if (p > reason && p[0] == ':' && p[1] == ' ')
        return json_stringn(reason, (size_t)(p - reason));
    return json_null();
}

static void bad_line(parsed *ps, int line, json_t *field, const char *reason)
{
    json_array_append_new(ps->errors, json_pack("{s:i, s:o, s:s}", "line", line, "field",
                                                field ? field : json_null(), "reason", reason));
}

/* Checks one parsed event and keeps it (taken). */
/* Whether the token may send events of agency: its own, or a predecessor's. */
static int may_send_for(const tw_gwcall *call, const char *agency)
{
    for (int i = 0; i < call->ncodes; i++)
        if (!strcmp(call->codes[i], agency))
            return 1;
    return 0;
}

static void take_event(tw_gwcall *call, parsed *ps, tw_event *ev, int line, int64_t now)
{
    uint8_t id[16];
    tw_reject rej;
    if (tw_codec_check(ev, now, id, &rej) < 0) {
        char reason[320];
        snprintf(reason, sizeof reason, "%s: %s", tw_reason_name(rej.reason), rej.msg);
        bad_line(ps, line, rej.field[0] ? json_string(rej.field) : NULL, reason);
        tw_event_free(ev);
        return;
    }
    if (!may_send_for(call, ev->agency_code)) {
        json_array_append_new(ps->forbidden,
                              json_pack("{s:i, s:s}", "line", line, "agencyCode", ev->agency_code));
        tw_event_free(ev);
        return;
    }
    size_t packed = twinwatch__v1__event__get_packed_size(ev);
    if (packed > call->gw->max_event_bytes) {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "the event is %zu bytes, over the topic's %zu (ingest.max_event_bytes)", packed,
                 call->gw->max_event_bytes);
        bad_line(ps, line, NULL, reason);
        tw_event_free(ev);
        return;
    }
    if (ps->n == ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : 64;
        tw_event **ne = realloc(ps->ev, ncap * sizeof *ne);
        int *nl = ne ? realloc(ps->line, ncap * sizeof *nl) : NULL;
        if (ne)
            ps->ev = ne;
        if (!nl) {
            bad_line(ps, line, NULL, "out of memory");
            tw_event_free(ev);
            return;
        }
        ps->line = nl;
        ps->cap = ncap;
    }
    ps->line[ps->n] = line;
    ps->ev[ps->n++] = ev;
}

static void parse_feed(tw_gwcall *call, parsed *ps, const char *body, size_t len,
                       tw_feed_format fmt, int64_t now)
{
    char err[700], prefix[48];
    FILE *f = fmemopen((void *)body, len, "r");
    tw_feed_reader *r;
    if (!f) {
        bad_line(ps, 0, NULL, "out of memory");
        return;
    }
    if (!(r = tw_feed_open(f, "body", fmt, err, sizeof err))) {
        /* "body:LINE: reason" */
        int line = 1;
        const char *reason = err;
        if (sscanf(err, "body:%d:", &line) == 1 && (reason = strstr(err, ": ")))
            reason += 2;
        bad_line(ps, line, field_of(reason), reason);
        fclose(f);
        return;
    }
    for (;;) {
        tw_event *ev = NULL;
        int rc = tw_feed_next(r, &ev, err, sizeof err);
        if (rc == 0)
            break;
        if (rc < 0) {
            int n = snprintf(prefix, sizeof prefix, "body:%d: ", tw_feed_line(r));
            const char *reason = !strncmp(err, prefix, (size_t)n) ? err + n : err;
            bad_line(ps, tw_feed_line(r), field_of(reason), reason);
            continue;
        }
        take_event(call, ps, ev, tw_feed_line(r), now);
    }
    tw_feed_close(r);
    fclose(f);
}

/* Length-delimited Events: a varint length, then that many bytes, again and
 * again. A record's "line" is its position (1-based). */
static void parse_protobuf(tw_gwcall *call, parsed *ps, const char *body, size_t len, int64_t now)
{
    const uint8_t *p = (const uint8_t *)body, *end = p + len;
    for (int rec = 1; p < end; rec++) {
        uint64_t n = 0;
        int shift = 0;
        while (p < end && shift < 64) {
            n |= (uint64_t)(*p & 0x7f) << shift;
            shift += 7;
            if (!(*p++ & 0x80))
                break;
            if (p == end) {
                shift = 64;
                break;
            }
        }
        if (shift >= 64 || n > (uint64_t)(end - p)) {
            char reason[160];
            snprintf(reason, sizeof reason,
                     "record %d: its length prefix is cut or says more bytes than the body has",
                     rec);
            bad_line(ps, rec, NULL, reason);
            return;
        }
        tw_reject rej;
        tw_event *ev = tw_codec_decode(p, (size_t)n, &rej);
        p += n;
        if (!ev) {
            char reason[320];
            snprintf(reason, sizeof reason, "%s: %s", tw_reason_name(rej.reason), rej.msg);
            bad_line(ps, rec, NULL, reason);
            continue;
        }
        take_event(call, ps, ev, rec, now);
    }
}

static void on_acked(void *arg, int ok, const char *err)
{
    tw_gwcall *call = arg;
    tw_gateway *gw = call->gw;
    if (!ok) {
        tw_gwobs_events(gw->obs, "unavailable", call->n_events);
        tw_gw_error(call, 503, gw->retry_after_s,
                    "%s; none of this request's events may count as accepted: send the same "
                    "request again (event ids make a retry safe)",
                    err);
        return;
    }
    tw_gwobs_events(gw->obs, "accepted", call->n_events);
    json_t *body = json_pack("{s:I, s:O}", "accepted", (json_int_t)call->n_events, "event_ids",
                             call->event_ids);
    tw_gw_reply(call, 200, body, NULL);
}

void tw_gw_ingest(tw_gwcall *call)
{
    tw_gateway *gw = call->gw;
    body_format fmt;
    size_t len, i;
    const char *body = tw_http_req_body(call->req, &len);
    parsed ps = {.errors = json_array(), .forbidden = json_array()};
    int64_t now = tw_now_ms();
    uint8_t **values = NULL;
    size_t *lens = NULL;
    char **keys = NULL;

    if (format_of(tw_http_req_header(call->req, "Content-Type"), &fmt) < 0) {
        static const char *const accept[] = {
            "Accept", "application/x-ndjson, text/csv, application/x-protobuf", NULL};
        char msg[300];
        snprintf(msg, sizeof msg,
                 "Content-Type must be application/x-ndjson (JSON lines), text/csv or "
                 "application/x-protobuf (length-delimited Events), not \"%.100s\"",
                 tw_http_req_header(call->req, "Content-Type")
                     ? tw_http_req_header(call->req, "Content-Type")
                     : "(none)");
        json_decref(ps.errors);
        json_decref(ps.forbidden);
        tw_gw_reply(call, 415, json_pack("{s:s}", "error", msg), accept);
        return;
    }
    if (fmt == FMT_PROTOBUF)
        parse_protobuf(call, &ps, body, len, now);
    else
        parse_feed(call, &ps, body, len, fmt == FMT_CSV ? TW_FEED_CSV : TW_FEED_JSONL, now);

    if (json_array_size(ps.forbidden)) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%zu event(s) are not of agency %s (or one it succeeded), the only ones token %s "
                 "may send for; nothing published",
                 json_array_size(ps.forbidden), call->agency, call->token_id);
        tw_gwobs_events(gw->obs, "forbidden", ps.n + json_array_size(ps.forbidden));
        tw_gw_reply(
            call, 403,
            json_pack("{s:s, s:o, s:o}", "error", msg, "lines", ps.forbidden, "errors", ps.errors),
            NULL);
        ps.forbidden = ps.errors = NULL;
        goto done;
    }
    if (json_array_size(ps.errors) || ps.n == 0) {
        char msg[200];
        if (ps.n == 0 && !json_array_size(ps.errors))
            snprintf(msg, sizeof msg, "the body has no events");
        else
            snprintf(msg, sizeof msg, "%zu invalid line(s); nothing published",
                     json_array_size(ps.errors));
        tw_gwobs_events(gw->obs, "invalid", ps.n + json_array_size(ps.errors));
        tw_gw_reply(call, 400, json_pack("{s:s, s:o}", "error", msg, "errors", ps.errors), NULL);
        ps.errors = NULL;
        goto done;
    }
    values = calloc(ps.n, sizeof *values);
    lens = calloc(ps.n, sizeof *lens);
    keys = calloc(ps.n, sizeof *keys);
    call->event_ids = json_array();
    if (!values || !lens || !keys || !call->event_ids)
        goto oom;
    for (i = 0; i < ps.n; i++) {
        const tw_event *ev = ps.ev[i];
        if (!(values[i] = tw_codec_pack(ev, &lens[i])) ||
            asprintf(&keys[i], "%s|%s", ev->agency_code, ev->locality_code) < 0) {
            keys[i] = NULL;
            goto oom;
        }
        json_array_append_new(call->event_ids, json_string(ev->event_id));
    }
    call->n_events = ps.n;
    if (tw_gwprod_send(gw->prod, ps.n, values, lens, keys, call->token_id, on_acked, call) < 0) {
        tw_gwobs_events(gw->obs, "unavailable", ps.n);
        tw_gw_error(call, 503, gw->retry_after_s,
                    "Kafka does not take events now; nothing published: try again");
    }
    goto done;
oom:
    for (i = 0; values && i < ps.n; i++)
        free(values[i]);
    tw_gw_error(call, 503, gw->retry_after_s, "out of memory; nothing published");
done:
    for (i = 0; keys && i < ps.n; i++)
        free(keys[i]);
    free(keys);
    free(values);
    free(lens);
    for (i = 0; i < ps.n; i++)
        tw_event_free(ps.ev[i]);
    free(ps.ev);
    free(ps.line);
    json_decref(ps.errors);
    json_decref(ps.forbidden);
}
