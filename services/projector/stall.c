/* stall.c: timing a libev loop's iterations (see stall.h). libev calls the
 * release callback just before it polls and the acquire callback just after
 * the poll returns: the work of an iteration lies between an acquire and
 * the next release. The run-queue wait comes from the thread's schedstat
 * (Linux: run time, run-queue wait, time slices, in nanoseconds); where it
 * cannot be read the wall time stands alone. */
#include "stall.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct tw_stall {
    struct ev_loop *loop;
    void (*fn)(void *arg, double seconds);
    void *arg;
    int fd;         /* /proc/thread-self/schedstat of the loop's thread, -1 none */
    int polled;     /* an acquire has been seen */
    int64_t t0, q0; /* at the last acquire: monotonic ns, run-queue wait ns */
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t queued_ns(const tw_stall *s)
{
    char buf[128];
    long long run = 0, wait = 0;
    if (s->fd < 0)
        return 0;
    ssize_t n = pread(s->fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return sscanf(buf, "%lld %lld", &run, &wait) == 2 ? wait : 0;
}

static void on_acquire(struct ev_loop *loop)
{
    tw_stall *s = ev_userdata(loop);
    s->t0 = now_ns();
    s->q0 = queued_ns(s);
    s->polled = 1;
}

static void on_release(struct ev_loop *loop)
{
    tw_stall *s = ev_userdata(loop);
    if (!s->polled)
        return;
    int64_t worked = now_ns() - s->t0 - (queued_ns(s) - s->q0);
    s->fn(s->arg, worked > 0 ? (double)worked / 1e9 : 0.0);
}

tw_stall *tw_stall_start(struct ev_loop *loop, void (*fn)(void *arg, double seconds), void *arg)
{
    tw_stall *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->fn = fn;
    s->arg = arg;
    s->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    ev_set_userdata(loop, s);
    ev_set_loop_release_cb(loop, on_release, on_acquire);
    return s;
}

void tw_stall_stop(tw_stall *s)
{
    if (!s)
        return;
    ev_set_loop_release_cb(s->loop, 0, 0);
    ev_set_userdata(s->loop, NULL);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
