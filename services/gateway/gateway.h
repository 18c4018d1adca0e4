/* gateway.h: the agency gateway's modules. main.c wires them to one libev
 * loop: api.c (routes, bearer tokens, rate limits, JSON replies), ingest.c
 * (POST /v1/events: parse, validate, publish), status.c (GET
 * /v1/events/{id} and /v1/feed), db.c (queries on one pipelined
 * PostgreSQL connection), producer.c (Kafka, acknowledged on the loop) and
 * observe.c (/metrics, /healthz). */
#ifndef TW_GATEWAY_H
#define TW_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "httpd.h"

#include "provenance.h" /* TW_HDR_GATEWAY_TOKEN, stamped on each message */

/* ---- db.c ---- */
typedef struct tw_gwdb tw_gwdb;
/* res is NULL when the query failed (err says why); the database then
 * counts as unavailable (503). */
typedef void (*tw_gwdb_fn)(void *arg, const PGresult *res, const char *err);
tw_gwdb *tw_gwdb_start(struct ev_loop *loop, const char *conninfo, char *err, size_t errlen);
/* Queues one statement with text parameters (copied); fn runs once, on the
 * loop. -1 when out of memory. */
int tw_gwdb_query(tw_gwdb *db, const char *sql, int n, const char *const *values, tw_gwdb_fn fn,
                  void *arg) __attribute__((warn_unused_result));
int tw_gwdb_up(const tw_gwdb *db);
void tw_gwdb_stop(tw_gwdb *db);

/* ---- producer.c ---- */
typedef struct tw_gwprod tw_gwprod;
/* Called once every message of a send has its delivery report: ok when
 * Kafka acknowledged all of them, else the first error. */
typedef void (*tw_gwprod_fn)(void *arg, int ok, const char *err);
tw_gwprod *tw_gwprod_start(struct ev_loop *loop, const tw_config *cfg, char *err, size_t errlen);
/* Produces n messages (values taken: freed by librdkafka) keyed by keys,
 * each with header TW_HDR_GATEWAY_TOKEN = token_id. Returns -1 (nothing
 * left in flight, fn not called) when librdkafka refuses the first;
 * otherwise fn runs later, failed if any was refused. */
int tw_gwprod_send(tw_gwprod *p, size_t n, uint8_t **values, const size_t *lens, char **keys,
                   const char *token_id, tw_gwprod_fn fn, void *arg);
/* Whether a broker is reachable as far as librdkafka knows. */
int tw_gwprod_up(const tw_gwprod *p);
/* Messages waiting for acknowledgement. */
int tw_gwprod_queue_len(const tw_gwprod *p);
void tw_gwprod_stop(tw_gwprod *p, int flush_ms);

/* ---- observe.c ---- */
typedef struct tw_gwobs tw_gwobs;
struct tw_gateway;
/* Registers the gateway's metrics; gauges are read from gw at each scrape. */
tw_gwobs *tw_gwobs_new(struct tw_gateway *gw);
void tw_gwobs_free(tw_gwobs *o);
void tw_gwobs_request(tw_gwobs *o, const char *route, int status, double seconds);
void tw_gwobs_events(tw_gwobs *o, const char *result, size_t n);

/* ---- the service ---- */
typedef struct tw_gateway {
    struct ev_loop *loop;
    const tw_config *cfg;
    tw_httpd *http;
    tw_httpd *metrics_http; /* NULL when /metrics is served on http */
    tw_gwdb *db;
    tw_gwprod *prod;
    tw_gwobs *obs;
    struct tw_map *buckets; /* token id -> rate bucket */
    const char *topic;
    size_t max_body, max_event_bytes;
    double rate, burst; /* requests per second and bucket size per token */
    int retry_after_s;
} tw_gateway;

#define TW_GW_MAX_CODES 32

/* One API request from its arrival to its reply. */
typedef struct tw_gwcall {
    tw_gateway *gw;
    tw_http_req *req;
    const char *route; /* metrics label */
    double started;
    char token_id[24];
    char agency[128];
    /* the codes the token may send for: its agency's and its predecessors'
     * (gateway.agency_codes) */
    char codes[TW_GW_MAX_CODES][128];
    int ncodes;
    /* ingest.c */
    size_t n_events;
    json_t *event_ids;
} tw_gwcall;

/* api.c: the request handler given to httpd, and the reply helpers. */
void tw_gw_on_request(void *arg, tw_http_req *req);
/* Replies with body (taken; NULL: empty) as JSON and frees call. */
void tw_gw_reply(tw_gwcall *call, int status, json_t *body, const char *const *headers);
/* {"error": msg} with status; Retry-After when retry_after > 0. */
void tw_gw_error(tw_gwcall *call, int status, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Whether GET /metrics and /healthz of observe.c take this path; fills reply. */
int tw_gw_observe(tw_gateway *gw, const char *path, tw_http_reply *r);

/* ingest.c: POST /v1/events for an authenticated call. */
void tw_gw_ingest(tw_gwcall *call);
/* status.c: GET /v1/events/{id} and GET /v1/feed for an authenticated call. */
void tw_gw_event_status(tw_gwcall *call, const char *event_id);
void tw_gw_feed(tw_gwcall *call);

#endif
