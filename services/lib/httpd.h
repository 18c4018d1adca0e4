/* httpd.h: HTTP served by libmicrohttpd driven from the service's own libev
 * loop (no thread): its epoll descriptor is watched by an ev_io, its
 * timeouts by an ev_timer. Two ways in: tw_httpd_start for GET-only
 * endpoints (/metrics, /healthz), answered at once; tw_httpd_start_opts for
 * a service that takes request bodies and may answer later (the gateway
 * answers a POST once Kafka has acknowledged it), with TLS, a bound on
 * connections, an idle timeout and a whole-request deadline. */
#ifndef TW_HTTPD_H
#define TW_HTTPD_H

#include <stddef.h>
#include <ev.h>

typedef struct tw_httpd tw_httpd;

/* What a handler answers: status, content type and a body it fills (the
 * body is copied after the handler returns; the handler may malloc it and
 * set free_body). */
typedef struct tw_http_reply {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    int free_body;
} tw_http_reply;

/* Called for every GET (other methods get 405 without it). path is the
 * request path without the query. */
typedef void (*tw_http_handler)(void *arg, const char *path, tw_http_reply *reply);

/* Listens on addr:port ("0.0.0.0", "127.0.0.1"; port 0 picks a free one,
 * see tw_httpd_port). NULL with err filled on failure ("bind
 * 127.0.0.1:9464: address in use"). */
tw_httpd *tw_httpd_start(struct ev_loop *loop, const char *addr, int port, tw_http_handler fn,
                         void *arg, char *err, size_t errlen);

/* ---- requests with bodies, answered now or later ---- */

typedef struct tw_http_req tw_http_req;

typedef struct tw_httpd_opts {
    const char *addr;         /* IPv4 address to listen on */
    int port;                 /* 0: a free one */
    unsigned conn_limit;      /* connections at once; more are closed at accept (0: 64) */
    unsigned idle_timeout_s;  /* an idle connection is closed after this (0: 10) */
    double request_timeout_s; /* a request must arrive whole within this of the connection's
                                 start or its previous reply; else 408 and closed (0: none) */
    size_t max_body;          /* larger bodies are not read: the handler sees too_large */
    const char *tls_cert_pem; /* both set: HTTPS (the PEM text, not a path) */
    const char *tls_key_pem;
} tw_httpd_opts;

/* Called once per request when its body has arrived whole, or as soon as
 * its declared length (or what has arrived) passes max_body. The handler
 * answers with tw_http_req_reply, now or later from the loop; until then
 * the connection waits (suspended, outside the request deadline). */
typedef void (*tw_http_request_fn)(void *arg, tw_http_req *req);

tw_httpd *tw_httpd_start_opts(struct ev_loop *loop, const tw_httpd_opts *o, tw_http_request_fn fn,
                              void *arg, char *err, size_t errlen);

const char *tw_http_req_method(const tw_http_req *req);
const char *tw_http_req_path(const tw_http_req *req);
/* A request header (case-insensitive name), or NULL. Valid until the reply. */
const char *tw_http_req_header(const tw_http_req *req, const char *name);
/* The body (not NUL-terminated) and its length. */
const char *tw_http_req_body(const tw_http_req *req, size_t *len);
/* Whether the body is over max_body (then it was not kept). */
int tw_http_req_too_large(const tw_http_req *req);

/* Answers req: status, content type, body (copied), and extra headers as
 * name, value pairs ending with NULL (may be NULL). Once per request; req
 * is not to be used after it. */
void tw_http_req_reply(tw_http_req *req, int status, const char *content_type, const char *body,
                       size_t len, const char *const *headers);

int tw_httpd_port(const tw_httpd *h);
/* Connections open now. */
unsigned tw_httpd_connections(const tw_httpd *h);
void tw_httpd_stop(tw_httpd *h);

#endif
