/* test_metrics.c: the Prometheus text exposition, byte for byte, and the
 * HTTP endpoint that serves it on a libev loop (a real socket, a real
 * request). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "metrics.h"

static void test_exposition(void **state)
{
    (void)state;
    tw_metrics *m = tw_metrics_new();
    char l[128];
    static const double bounds[] = {0.01, 0.1, 1};
    tw_metric *acc = tw_metrics_counter(
        m, "twinwatch_projector_events_total", "Events by outcome and type.",
        tw_metrics_labels(l, sizeof l, "result", "accepted", "type", "visit", NULL));
    tw_metric *dead = tw_metrics_counter(
        m, "twinwatch_projector_events_total", "Events by outcome and type.",
        tw_metrics_labels(l, sizeof l, "result", "dead_lettered", "type", "unknown", NULL));
    tw_metric *lag =
        tw_metrics_gauge(m, "twinwatch_projector_lag", "Messages behind.\nPer partition.",
                         tw_metrics_labels(l, sizeof l, "partition", "3", NULL));
    tw_metric *h = tw_metrics_histogram(m, "twinwatch_projector_commit_seconds",
                                        "Batch commit latency.", NULL, bounds, 3);
    assert_non_null(acc);
    assert_non_null(dead);
    assert_non_null(lag);
    assert_non_null(h);
    /* the same series again is the same pointer; another type under the name is refused */
    assert_ptr_equal(tw_metrics_counter(m, "twinwatch_projector_events_total", "x",
                                        tw_metrics_labels(l, sizeof l, "result", "accepted", "type",
                                                          "visit", NULL)),
                     acc);
    assert_null(tw_metrics_gauge(m, "twinwatch_projector_events_total", "x", NULL));
    tw_metric_add(acc, 3);
    tw_metric_add(acc, -5); /* a counter never goes down */
    tw_metric_add(dead, 1);
    tw_metric_set(lag, 1200);
    tw_metric_observe(h, 0.005);
    tw_metric_observe(h, 0.05);
    tw_metric_observe(h, 0.05);
    tw_metric_observe(h, 7);

    char *out;
    size_t len;
    assert_int_equal(tw_metrics_render(m, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    assert_string_equal(
        out, "# HELP twinwatch_projector_commit_seconds Batch commit latency.\n"
             "# TYPE twinwatch_projector_commit_seconds histogram\n"
             "twinwatch_projector_commit_seconds_bucket{le=\"0.01\"} 1\n"
             "twinwatch_projector_commit_seconds_bucket{le=\"0.1\"} 3\n"
             "twinwatch_projector_commit_seconds_bucket{le=\"1\"} 3\n"
             "twinwatch_projector_commit_seconds_bucket{le=\"+Inf\"} 4\n"
             "twinwatch_projector_commit_seconds_sum 7.105\n"
             "twinwatch_projector_commit_seconds_count 4\n"
             "# HELP twinwatch_projector_events_total Events by outcome and type.\n"
             "# TYPE twinwatch_projector_events_total counter\n"
             "twinwatch_projector_events_total{result=\"accepted\",type=\"visit\"} 3\n"
             "twinwatch_projector_events_total{result=\"dead_lettered\",type=\"unknown\"} 1\n"
             "# HELP twinwatch_projector_lag Messages behind.\\nPer partition.\n"
             "# TYPE twinwatch_projector_lag gauge\n"
             "twinwatch_projector_lag{partition=\"3\"} 1200\n");
    free(out);
    /* a hidden series (a partition given up) is left out, its family too */
    tw_metric_hide(lag, 1);
    assert_int_equal(tw_metrics_render(m, &out, &len), 0);
    assert_null(strstr(out, "twinwatch_projector_lag"));
    free(out);
    tw_metric_hide(lag, 0);
    assert_int_equal(tw_metrics_render(m, &out, &len), 0);
    assert_non_null(strstr(out, "twinwatch_projector_lag{partition=\"3\"} 1200\n"));
    free(out);
    tw_metrics_free(m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    char l[64], tiny[12];
    assert_string_equal(tw_metrics_labels(l, sizeof l, "reason", "a \"b\"\\c\nd", NULL),
                        "reason=\"a \\\"b\\\"\\\\c\\nd\"");
    assert_null(tw_metrics_labels(tiny, sizeof tiny, "partition", "1234567", NULL));
    /* histogram bounds must ascend */
    tw_metrics *m = tw_metrics_new();
    static const double bad[] = {1, 0.5};
    assert_null(tw_metrics_histogram(m, "x_seconds", "x", NULL, bad, 2));
    tw_metrics_free(m);
}

static int collected;
static void collect(void *arg, tw_metrics *m)
{
    (void)m;
    tw_metric_set(arg, ++collected);
}

static void handler(void *arg, const char *path, tw_http_reply *r)
{
    tw_metrics *m = arg;
    if (strcmp(path, "/metrics") == 0) {
        if (tw_metrics_render(m, &r->body, &r->len) < 0) {
            r->status = 500;
            return;
        }
        r->free_body = 1;
        r->content_type = "text/plain; version=0.0.4";
    } else {
        r->status = 404;
        r->body = "no such page\n";
        r->len = strlen(r->body);
    }
}

/* Sends req to the server and runs the loop until the server closes the
 * connection; returns the whole response (malloc'd). */
static char *roundtrip(struct ev_loop *loop, int port, const char *req)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char *buf = calloc(1, 65536);
    size_t n = 0;
    for (int i = 0; i < 2000; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t r = read(fd, buf + n, 65535 - n);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        else
            usleep(1000);
    }
    close(fd);
    return buf;
}

static void test_served_on_the_loop(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    tw_metrics *m = tw_metrics_new();
    tw_metric *g = tw_metrics_gauge(m, "twinwatch_test_scrapes", "Scrapes so far.", NULL);
    tw_metrics_on_collect(m, collect, g);
    char err[256];
    tw_httpd *h = tw_httpd_start(loop, "127.0.0.1", 0, handler, m, err, sizeof err);
    assert_non_null(h);
    int port = tw_httpd_port(h);
    assert_true(port > 0);

    char *r =
        roundtrip(loop, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r, "\r\n\r\n# HELP twinwatch_test_scrapes Scrapes so far.\n"));
    assert_non_null(strstr(r, "twinwatch_test_scrapes 1\n"));
    free(r);
    r = roundtrip(loop, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "twinwatch_test_scrapes 2\n")); /* collected at every scrape */
    free(r);
    r = roundtrip(loop, port, "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    free(r);
    r = roundtrip(
        loop, port,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    free(r);

    /* the port is taken now: a second server there says so */
    tw_httpd *h2 = tw_httpd_start(loop, "127.0.0.1", port, handler, m, err, sizeof err);
    assert_null(h2);
    assert_non_null(strstr(err, "listen on 127.0.0.1:"));
    assert_null(tw_httpd_start(loop, "localhost", 0, handler, m, err, sizeof err));
    assert_string_equal(err, "\"localhost\" is not an IPv4 address");

    tw_httpd_stop(h);
    tw_metrics_free(m);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_served_on_the_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
