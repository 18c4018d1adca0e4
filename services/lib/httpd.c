/* httpd.c: libmicrohttpd in external-polling mode with its own epoll set:
 * one descriptor to watch, MHD_run when it is readable or when MHD's
 * timeout (idle connections) expires. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tw_httpd {
    struct ev_loop *loop;
    struct MHD_Daemon *d;
    ev_io io;
    ev_timer timer;
    tw_http_handler fn;
    void *arg;
    int port;
};

static void rearm(tw_httpd *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000.0, 0);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void on_http_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    tw_httpd *h = w->data;
    (void)loop;
    (void)revents;
    MHD_run(h->d);
    rearm(h);
}

static void on_http_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    tw_httpd *h = w->data;
    (void)loop;
    (void)revents;
    MHD_run(h->d);
    rearm(h);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    tw_httpd *h = cls;
    tw_http_reply r = {.status = 200, .content_type = "text/plain; charset=utf-8"};
    struct MHD_Response *resp;
    enum MHD_Result ok;
    (void)version;
    (void)upload;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET is served here\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Allow", "GET");
        ok = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        MHD_destroy_response(resp);
        *upload_size = 0;
        return ok;
    }
    h->fn(h->arg, url, &r);
    resp = MHD_create_response_from_buffer(r.len, r.body ? r.body : "", MHD_RESPMEM_MUST_COPY);
    if (r.free_body)
        free(r.body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r.content_type);
    ok = MHD_queue_response(c, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ok;
}

tw_httpd *tw_httpd_start(struct ev_loop *loop, const char *addr, int port, tw_http_handler fn,
                         void *arg, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    tw_httpd *h;
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "port %d is not between 0 and 65535", port);
        return NULL;
    }
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "\"%s\" is not an IPv4 address", addr);
        return NULL;
    }
    if (!(h = calloc(1, sizeof *h))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->fn = fn;
    h->arg = arg;
    errno = 0;
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ITC, (uint16_t)port, NULL, NULL, answer, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "listen on %s:%d: %s", addr, port,
                 errno ? strerror(errno) : "libmicrohttpd could not start");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *bound = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    if (!fd || !bound) {
        snprintf(err, errlen, "listen on %s:%d: libmicrohttpd has no epoll descriptor", addr, port);
        MHD_stop_daemon(h->d);
        free(h);
        return NULL;
    }
    h->port = bound->port;
    ev_io_init(&h->io, on_http_readable, fd->epoll_fd, EV_READ);
    h->io.data = h;
    ev_io_start(loop, &h->io);
    ev_timer_init(&h->timer, on_http_timeout, 1.0, 0);
    h->timer.data = h;
    rearm(h);
    return h;
}

int tw_httpd_port(const tw_httpd *h)
{
    return h->port;
}

void tw_httpd_stop(tw_httpd *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    MHD_stop_daemon(h->d);
    free(h);
}
