/* httpd.c: libmicrohttpd in external-polling mode with its own epoll set:
 * one descriptor to watch, MHD_run when it is readable or when MHD's
 * timeout (idle connections) expires. A request answered later is
 * suspended (MHD_suspend_connection) and resumed with its reply; MHD's
 * inter-thread channel is in its epoll set, so the resume wakes the ev_io.
 * MHD's own timeout is an idle timeout, which a client sending one byte a
 * second never meets: the whole-request deadline is kept here, per
 * connection, and enforced by shutting the socket down. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* One open connection, for the request deadline. */
typedef struct conn {
    struct conn *prev, *next;
    MHD_socket fd;
    double since; /* its start, or the end of its previous reply */
    int waiting;  /* suspended until the handler replies: no deadline */
    int cut;      /* shut down for its deadline already */
} conn;

struct tw_http_req {
    tw_httpd *h;
    struct MHD_Connection *c;
    conn *cn;
    char *method, *path;
    char *body;
    size_t len, cap;
    int too_large;
    int handled; /* the handler has been called */
    int replied; /* tw_http_req_reply called */
    int gone;    /* MHD finished with the connection before the reply */
    int resumed; /* a later reply: resume and queue it on the next access */
    struct MHD_Response *resp;
    int status;
};

struct tw_httpd {
    struct ev_loop *loop;
    struct MHD_Daemon *d;
    ev_io io;
    ev_timer timer, sweep;
    tw_http_request_fn fn;
    void *arg;
    tw_http_handler get_fn; /* tw_httpd_start's handler */
    void *get_arg;
    tw_httpd_opts o;
    int tls;
    int port;
    unsigned nconn;
    conn conns; /* list head */
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

/* Every second: a connection whose request has not arrived whole within
 * the deadline gets a 408 (in clear text only: a TLS stream cannot take
 * bytes from outside it) and is shut down; MHD then sees it closed. */
static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                              "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
                              "{\"error\": \"the request did not arrive whole in time (408)\"}\n";
    tw_httpd *h = w->data;
    double now = ev_now(loop);
    int cut = 0;
    (void)revents;
    _Static_assert(sizeof "{\"error\": \"the request did not arrive whole in time (408)\"}\n" - 1 ==
                       60,
                   "Content-Length of the 408 body");
    for (conn *c = h->conns.next; c != &h->conns; c = c->next) {
        if (c->waiting || c->cut || now - c->since < h->o.request_timeout_s)
            continue;
        if (!h->tls) {
            ssize_t n = send(c->fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)n; /* best effort: the client may be gone */
        }
        shutdown(c->fd, SHUT_RDWR);
        c->cut = 1;
        cut = 1;
    }
    if (cut) {
        MHD_run(h->d);
        rearm(h);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    tw_httpd *h = cls;
    conn *cn = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!(cn = calloc(1, sizeof *cn)))
            return; /* not tracked: MHD's idle timeout still applies */
        cn->fd = fi ? fi->connect_fd : MHD_INVALID_SOCKET;
        cn->since = ev_now(h->loop);
        cn->next = h->conns.next;
        cn->prev = &h->conns;
        h->conns.next->prev = cn;
        h->conns.next = cn;
        *socket_context = cn;
        h->nconn++;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (cn) {
            cn->prev->next = cn->next;
            cn->next->prev = cn->prev;
            free(cn);
            *socket_context = NULL;
        }
        if (h->nconn)
            h->nconn--;
    }
}

static void req_free(tw_http_req *r)
{
    if (!r)
        return;
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->method);
    free(r->path);
    free(r->body);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tw_httpd *h = cls;
    tw_http_req *r = *con_cls;
    (void)c;
    (void)toe;
    *con_cls = NULL;
    if (!r)
        return;
    if (r->cn) {
        r->cn->since = ev_now(h->loop); /* the next request's clock starts */
        r->cn->waiting = 0;
    }
    if (r->handled && !r->replied) {
        r->gone = 1; /* the handler still holds it: freed by its reply */
        r->cn = NULL;
        return;
    }
    req_free(r);
}

static int queue(tw_http_req *r)
{
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

void tw_http_req_reply(tw_http_req *r, int status, const char *content_type, const char *body,
                       size_t len, const char *const *headers)
{
    if (r->replied)
        return;
    r->replied = 1;
    if (r->gone) {
        req_free(r);
        return;
    }
    r->status = status;
    r->resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (r->resp) {
        MHD_add_response_header(r->resp, "Content-Type", content_type);
        for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
            MHD_add_response_header(r->resp, headers[i], headers[i + 1]);
    }
    if (r->resumed) {
        /* answered later: the connection is suspended; the access handler
         * runs again after the resume and queues the response */
        MHD_resume_connection(r->c);
        MHD_run(r->h->d);
        rearm(r->h);
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    tw_httpd *h = cls;
    tw_http_req *r = *con_cls;
    (void)version;

    if (!r) {
        const union MHD_ConnectionInfo *si =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (!(r = calloc(1, sizeof *r)) || !(r->method = strdup(method)) ||
            !(r->path = strdup(url))) {
            req_free(r);
            return MHD_NO;
        }
        r->h = h;
        r->c = c;
        r->cn = si ? si->socket_context : NULL;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->o.max_body)
            r->too_large = 1; /* answer before reading a byte of it */
        else
            return MHD_YES;
    }
    if (r->resp) /* a reply made after a resume (or while the body was refused) */
        return queue(r);
    if (r->handled)
        return MHD_YES; /* waiting for the handler's reply */
    if (*upload_size) {
        if (!r->too_large && r->len + *upload_size > h->o.max_body) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
        }
        if (!r->too_large) {
            if (r->len + *upload_size > r->cap) {
                size_t ncap = r->cap ? r->cap : 16384;
                while (ncap < r->len + *upload_size)
                    ncap *= 2;
                if (ncap > h->o.max_body)
                    ncap = h->o.max_body;
                char *nb = realloc(r->body, ncap);
                if (!nb)
                    return MHD_NO;
                r->body = nb;
                r->cap = ncap;
            }
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    r->handled = 1;
    h->fn(h->arg, r);
    if (r->replied) {
        if (!r->resp)
            return MHD_NO;
        return queue(r);
    }
    r->resumed = 1;
    if (r->cn)
        r->cn->waiting = 1;
    MHD_suspend_connection(c);
    return MHD_YES;
}

/* tw_httpd_start's handler under the fuller API: GET and HEAD only. */
static void get_only(void *arg, tw_http_req *req)
{
    tw_httpd *h = arg;
    tw_http_reply r = {.status = 200, .content_type = "text/plain; charset=utf-8"};
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        static const char msg[] = "only GET is served here\n";
        static const char *const allow[] = {"Allow", "GET", NULL};
        tw_http_req_reply(req, MHD_HTTP_METHOD_NOT_ALLOWED, r.content_type, msg, sizeof msg - 1,
                          allow);
        return;
    }
    h->get_fn(h->get_arg, req->path, &r);
    tw_http_req_reply(req, r.status, r.content_type, r.body, r.len, NULL);
    if (r.free_body)
        free(r.body);
}

tw_httpd *tw_httpd_start_opts(struct ev_loop *loop, const tw_httpd_opts *o, tw_http_request_fn fn,
                              void *arg, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    struct MHD_OptionItem opts[12];
    int n = 0;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    tw_httpd *h;

    if (o->port < 0 || o->port > 65535) {
        snprintf(err, errlen, "port %d is not between 0 and 65535", o->port);
        return NULL;
    }
    if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "\"%s\" is not an IPv4 address", o->addr);
        return NULL;
    }
    if (!o->tls_cert_pem != !o->tls_key_pem) {
        snprintf(err, errlen, "HTTPS needs both a certificate and its key");
        return NULL;
    }
    if (!(h = calloc(1, sizeof *h))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->fn = fn;
    h->arg = arg;
    h->o = *o;
    h->conns.next = h->conns.prev = &h->conns;
    h->tls = o->tls_cert_pem != NULL;
    if (h->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "this libmicrohttpd was built without TLS (GnuTLS)");
            free(h);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key_pem};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &sa};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        o->idle_timeout_s ? o->idle_timeout_s : 10, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        o->conn_limit ? o->conn_limit : 64, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    errno = 0;
    /* in an MHD_OptionItem a function goes in value, its closure in ptr_value */
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, answer, h, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "listen on %s:%d: %s", o->addr, o->port,
                 errno ? strerror(errno) : "libmicrohttpd could not start (TLS key or cert?)");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *bound = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    if (!fd || !bound) {
        snprintf(err, errlen, "listen on %s:%d: libmicrohttpd has no epoll descriptor", o->addr,
                 o->port);
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
    ev_timer_init(&h->sweep, on_sweep, 1.0, 1.0);
    h->sweep.data = h;
    if (o->request_timeout_s > 0)
        ev_timer_start(loop, &h->sweep);
    rearm(h);
    return h;
}

tw_httpd *tw_httpd_start(struct ev_loop *loop, const char *addr, int port, tw_http_handler fn,
                         void *arg, char *err, size_t errlen)
{
    tw_httpd_opts o = {.addr = addr, .port = port, .conn_limit = 64, .idle_timeout_s = 10};
    tw_httpd *h = tw_httpd_start_opts(loop, &o, get_only, NULL, err, errlen);
    if (h) {
        h->arg = h;
        h->get_fn = fn;
        h->get_arg = arg;
    }
    return h;
}

const char *tw_http_req_method(const tw_http_req *r)
{
    return r->method;
}

const char *tw_http_req_path(const tw_http_req *r)
{
    return r->path;
}

const char *tw_http_req_header(const tw_http_req *r, const char *name)
{
    return r->gone ? NULL : MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *tw_http_req_body(const tw_http_req *r, size_t *len)
{
    *len = r->len;
    return r->body ? r->body : "";
}

int tw_http_req_too_large(const tw_http_req *r)
{
    return r->too_large;
}

int tw_httpd_port(const tw_httpd *h)
{
    return h->port;
}

unsigned tw_httpd_connections(const tw_httpd *h)
{
    return h->nconn;
}

void tw_httpd_stop(tw_httpd *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_stop(h->loop, &h->sweep);
    MHD_stop_daemon(h->d);
    for (conn *c = h->conns.next, *next; c != &h->conns; c = next) {
        next = c->next;
        free(c);
    }
    free(h);
}
