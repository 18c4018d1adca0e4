/* httpd.h: a small HTTP endpoint for /metrics and /healthz, served by
 * libmicrohttpd driven from the service's own libev loop (no thread): its
 * epoll descriptor is watched by an ev_io, its timeouts by an ev_timer. */
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
int tw_httpd_port(const tw_httpd *h);
void tw_httpd_stop(tw_httpd *h);

#endif
