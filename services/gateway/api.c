/* api.c: the gateway's routes (a table: method, path, handler), bearer
 * tokens checked against the database on every request (so a revocation
 * or an expiry applies to the next one), a token bucket per token, and
 * every answer as JSON, errors included ({"error": "..."}). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "log.h"
#include "map.h"
#include "token.h"

typedef struct route {
    const char *method;
    const char *path;
    int prefix; /* path is a prefix; the rest goes to the handler */
    const char *name;
    void (*fn)(tw_gwcall *call, const char *rest);
} route;

static void on_events_post(tw_gwcall *call, const char *rest)
{
    (void)rest;
    tw_gw_ingest(call);
}

static void on_event_get(tw_gwcall *call, const char *rest)
{
    tw_gw_event_status(call, rest);
}

static void on_feed_get(tw_gwcall *call, const char *rest)
{
    (void)rest;
    tw_gw_feed(call);
}

static const route routes[] = {
    {"POST", "/v1/events", 0, "post_events", on_events_post},
    {"GET", "/v1/events/", 1, "get_event", on_event_get},
    {"GET", "/v1/feed", 0, "get_feed", on_feed_get},
};

typedef struct bucket {
    double tokens, at;
} bucket;

static const char *SQL_AUTH =
    "SELECT t.token_id, t.agency_code, t.state, c.code"
    " FROM gateway.token_auth(decode($1, 'hex')) t, gateway.agency_codes(t.agency_code) c(code)"
    " ORDER BY c.code = t.agency_code DESC, c.code";

void tw_gw_reply(tw_gwcall *call, int status, json_t *body, const char *const *headers)
{
    char *text = body ? json_dumps(body, 0) : NULL;
    size_t len = text ? strlen(text) : 0;
    if (text) {
        char *nl = realloc(text, len + 2);
        if (nl) {
            text = nl;
            text[len++] = '\n';
            text[len] = '\0';
        }
    }
    tw_http_req_reply(call->req, status, "application/json; charset=utf-8", text ? text : "", len,
                      headers);
    tw_gwobs_request(call->gw->obs, call->route, status, ev_time() - call->started);
    if (status >= 500 || status == 401 || status == 403)
        tw_info("%s %s from token %s: %d", call->route, call->agency[0] ? call->agency : "-",
                call->token_id[0] ? call->token_id : "-", status);
    free(text);
    json_decref(body);
    json_decref(call->event_ids);
    free(call);
}

void tw_gw_error(tw_gwcall *call, int status, int retry_after, const char *fmt, ...)
{
    char msg[512], ra[16];
    const char *headers[5] = {NULL};
    int h = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (retry_after > 0) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        headers[h++] = "Retry-After";
        headers[h++] = ra;
    }
    if (status == 401) {
        headers[h++] = "WWW-Authenticate";
        headers[h++] = "Bearer realm=\"twinwatch\"";
    }
    tw_gw_reply(call, status, json_pack("{s:s}", "error", msg), headers);
}

/* The token bucket of a token: 1 when the request may go, else 0 with the
 * seconds until it may in *wait. */
static int take(tw_gateway *gw, const char *token_id, int *wait)
{
    double now = ev_now(gw->loop);
    bucket *b;
    if (gw->rate <= 0)
        return 1;
    if (!(b = tw_map_get(gw->buckets, token_id))) {
        if (!(b = calloc(1, sizeof *b)) || tw_map_put(gw->buckets, token_id, b) < 0) {
            free(b);
            return 1; /* out of memory: do not refuse for it */
        }
        b->tokens = gw->burst;
        b->at = now;
    }
    b->tokens += (now - b->at) * gw->rate;
    if (b->tokens > gw->burst)
        b->tokens = gw->burst;
    b->at = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    *wait = (int)ceil((1 - b->tokens) / gw->rate);
    if (*wait < 1)
        *wait = 1;
    return 0;
}

typedef struct authed {
    tw_gwcall *call;
    const route *rt;
    char rest[200];
} authed;

static void on_auth(void *arg, const PGresult *res, const char *err)
{
    authed *a = arg;
    tw_gwcall *call = a->call;
    tw_gateway *gw = call->gw;
    int wait = 0;
    if (!res) {
        tw_warn("token lookup: %s", err);
        tw_gw_error(call, 503, gw->retry_after_s,
                    "the gateway cannot check tokens now (database unavailable); try again");
        goto done;
    }
    if (PQntuples(res) < 1) { /* a row per code the token may send for */
        tw_gw_error(call, 401, 0, "unknown token");
        goto done;
    }
    snprintf(call->token_id, sizeof call->token_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(call->agency, sizeof call->agency, "%s", PQgetvalue(res, 0, 1));
    call->ncodes = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (call->ncodes == TW_GW_MAX_CODES) {
            tw_warn("token %s: more than %d predecessor codes; the rest are refused",
                    call->token_id, TW_GW_MAX_CODES);
            break;
        }
        snprintf(call->codes[call->ncodes++], sizeof call->codes[0], "%s", PQgetvalue(res, i, 3));
    }
    const char *state = PQgetvalue(res, 0, 2);
    if (strcmp(state, "active") != 0) {
        tw_gw_error(call, 401, 0, "token %s is %s: ask the twinwatch operators for a new one",
                    call->token_id, state);
        goto done;
    }
    if (!take(gw, call->token_id, &wait)) {
        tw_gw_error(call, 429, wait,
                    "too many requests for token %s: at most %g a second (burst %g); retry after "
                    "%d s",
                    call->token_id, gw->rate, gw->burst, wait);
        goto done;
    }
    a->rt->fn(call, a->rest);
done:
    free(a);
}

/* "Bearer TOKEN" -> TOKEN, or NULL. */
static const char *bearer(const char *h)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

void tw_gw_on_request(void *arg, tw_http_req *req)
{
    tw_gateway *gw = arg;
    const char *path = tw_http_req_path(req), *method = tw_http_req_method(req);
    const route *rt = NULL;
    int path_known = 0;
    tw_gwcall *call;

    if (!gw->metrics_http && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
        tw_http_reply r = {.status = 200, .content_type = "text/plain; charset=utf-8"};
        if (tw_gw_observe(gw, path, &r)) {
            tw_http_req_reply(req, r.status, r.content_type, r.body, r.len, NULL);
            if (r.free_body)
                free(r.body);
            return;
        }
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *x = &routes[i];
        int match = x->prefix ? !strncmp(path, x->path, strlen(x->path)) && path[strlen(x->path)]
                              : !strcmp(path, x->path);
        if (!match)
            continue;
        path_known = 1;
        if (!strcmp(method, x->method)) {
            rt = x;
            break;
        }
    }
    if (!(call = calloc(1, sizeof *call))) {
        static const char oom[] = "{\"error\": \"out of memory\"}\n";
        tw_http_req_reply(req, 503, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    call->gw = gw;
    call->req = req;
    call->started = ev_time();
    call->route = rt ? rt->name : "other";
    if (!rt) {
        if (path_known) {
            static const char *const allow[] = {"Allow", "GET, POST", NULL};
            char msg[160];
            snprintf(msg, sizeof msg, "%s is not allowed on %s", method, path);
            tw_gw_reply(call, 405, json_pack("{s:s}", "error", msg), allow);
        } else {
            tw_gw_error(call, 404, 0,
                        "no such route: POST /v1/events, GET /v1/events/{event_id}, GET /v1/feed");
        }
        return;
    }
    if (tw_http_req_too_large(req)) {
        tw_gw_error(call, 413, 0,
                    "the body is over %zu bytes (ingest.max_body_bytes): split it into smaller "
                    "requests",
                    gw->max_body);
        return;
    }
    const char *token = bearer(tw_http_req_header(req, "Authorization"));
    if (!token) {
        tw_gw_error(call, 401, 0, "no token: send the header Authorization: Bearer TOKEN");
        return;
    }
    uint8_t hash[32];
    char hex[65];
    tw_token_hash(token, strlen(token), hash);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    authed *a = calloc(1, sizeof *a);
    const char *params[] = {hex};
    if (!a) {
        tw_gw_error(call, 503, gw->retry_after_s, "out of memory");
        return;
    }
    a->call = call;
    a->rt = rt;
    if (rt->prefix)
        snprintf(a->rest, sizeof a->rest, "%s", path + strlen(rt->path));
    if (tw_gwdb_query(gw->db, SQL_AUTH, 1, params, on_auth, a) < 0) {
        free(a);
        tw_gw_error(call, 503, gw->retry_after_s, "out of memory");
    }
}
