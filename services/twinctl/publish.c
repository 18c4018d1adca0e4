/* publish.c: twinctl publish. Feed files (JSON lines or CSV) are checked
 * whole first — mapping and the stateless validation the projector applies —
 * and only then published as protobuf with an idempotent, acks=all
 * producer, keyed agency|locality. Exit 0 only once the broker has
 * acknowledged every message. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "date.h"
#include "feed.h"
#include "kafka.h"
#include "provenance.h"
#include "twinctl.h"

typedef struct {
    tw_event **ev;
    size_t n, cap;
} event_list;

static int push(event_list *l, tw_event *ev)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        tw_event **ne = realloc(l->ev, ncap * sizeof *ne);
        if (!ne)
            return -1;
        l->ev = ne;
        l->cap = ncap;
    }
    l->ev[l->n++] = ev;
    return 0;
}

static int format_of(const char *path, const char *given, tw_feed_format *fmt)
{
    const char *dot = strrchr(path, '.');
    if (given) {
        if (!strcmp(given, "jsonl") || !strcmp(given, "json"))
            *fmt = TW_FEED_JSONL;
        else if (!strcmp(given, "csv"))
            *fmt = TW_FEED_CSV;
        else
            return -1;
        return 0;
    }
    *fmt = dot && !strcasecmp(dot, ".csv") ? TW_FEED_CSV : TW_FEED_JSONL;
    return 0;
}

/* Reads one file into l; returns the number of bad records or -1. */
static long read_file(const char *path, tw_feed_format fmt, event_list *l, int64_t now_ms)
{
    char err[600];
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    long bad = 0;
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    tw_feed_reader *r = tw_feed_open(f, path, fmt, err, sizeof err);
    if (!r) {
        fprintf(stderr, "%s\n", err);
        if (f != stdin)
            fclose(f);
        return -1;
    }
    for (;;) {
        tw_event *ev = NULL;
        int rc = tw_feed_next(r, &ev, err, sizeof err);
        if (rc == 0)
            break;
        if (rc < 0) {
            fprintf(stderr, "%s\n", err);
            bad++;
            continue;
        }
        uint8_t id[16];
        tw_reject rej;
        if (tw_codec_check(ev, now_ms, id, &rej) < 0) {
            fprintf(stderr, "%s:%d: %s: %s\n", path, tw_feed_line(r), tw_reason_name(rej.reason),
                    rej.msg);
            tw_event_free(ev);
            bad++;
            continue;
        }
        if (push(l, ev) < 0) {
            tw_event_free(ev);
            fprintf(stderr, "%s: out of memory\n", path);
            bad = -1;
            break;
        }
    }
    tw_feed_close(r);
    if (f != stdin)
        fclose(f);
    return bad;
}

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ < 5)
            fprintf(stderr, "twinctl publish: not acknowledged: %s\n", rd_kafka_err2str(m->err));
    } else {
        delivered++;
    }
}

static int produce_all(const event_list *l, const char *topic)
{
    rd_kafka_t *rk = twctl_producer("publish", "twinctl-publish", "20", on_delivery);
    /* provenance: the projector logs these events as twinctl:<operator> */
    const char *by = twctl_by(NULL);
    if (!rk)
        return -1;
    if (!by)
        by = "unknown";
    for (size_t i = 0; i < l->n; i++) {
        const tw_event *ev = l->ev[i];
        size_t len;
        uint8_t *buf = tw_codec_pack(ev, &len);
        char key[512];
        int klen = snprintf(key, sizeof key, "%s|%s", ev->agency_code, ev->locality_code);
        rd_kafka_resp_err_t e;
        if (!buf) {
            fprintf(stderr, "twinctl publish: out of memory\n");
            break;
        }
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                      RD_KAFKA_V_VALUE(buf, len),
                                      RD_KAFKA_V_HEADER(TW_HDR_OPERATOR, by, (ssize_t)strlen(by)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 100);
        if (e) {
            fprintf(stderr, "twinctl publish: produce event %s: %s\n", ev->event_id,
                    rd_kafka_err2str(e));
            free(buf);
            failed++;
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 120000);
    if (fe)
        fprintf(stderr, "twinctl publish: %s waiting for acknowledgements\n", rd_kafka_err2str(fe));
    rd_kafka_destroy(rk);
    return (failed || fe || (size_t)delivered != l->n) ? -1 : 0;
}

int twctl_publish(int argc, char **argv)
{
    const char *given = NULL, *topic = twctl_topic();
    int skip_invalid = 0;
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"skip-invalid", no_argument, NULL, 's'},
                                         {"topic", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    event_list l = {0};
    long bad = 0;
    int rc = TW_EXIT_FAIL;

    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "f:st:h", opts, NULL)) != -1;) {
        if (c == 'f')
            given = optarg;
        else if (c == 's')
            skip_invalid = 1;
        else if (c == 't')
            topic = optarg;
        else if (c == 'h') {
            printf("usage: twinctl publish [--format jsonl|csv] [--skip-invalid] [--topic T] "
                   "FILE...\n"
                   "Checks every line, then publishes the events as protobuf to %s.\n"
                   "A bad line is listed as FILE:LINE: reason; with any, nothing is published\n"
                   "(exit 1) unless --skip-invalid, which publishes the good ones and still\n"
                   "lists the rest. The format follows the file name (.csv) unless given.\n",
                   twctl_topic());
            return TW_EXIT_OK;
        } else
            return TW_EXIT_USAGE;
    }
    if (optind >= argc)
        return twctl_usage_error("publish", "give at least one feed FILE (or - for stdin)");
    tw_feed_format fmt;
    if (given && format_of("", given, &fmt) < 0)
        return twctl_usage_error("publish", "--format %s: expected jsonl or csv", given);
    int64_t now = tw_now_ms();
    for (int i = optind; i < argc; i++) {
        format_of(argv[i], given, &fmt);
        long b = read_file(argv[i], fmt, &l, now);
        if (b < 0)
            goto done;
        bad += b;
    }
    if (bad && !skip_invalid) {
        fprintf(stderr,
                "twinctl publish: %ld invalid line(s); nothing published "
                "(--skip-invalid publishes the valid ones)\n",
                bad);
        goto done;
    }
    if (produce_all(&l, topic) < 0) {
        fprintf(stderr,
                "twinctl publish: %ld of %zu events acknowledged; publishing again is "
                "safe (event ids make it idempotent)\n",
                delivered, l.n);
        goto done;
    }
    printf("published %ld events to %s", delivered, topic);
    if (bad)
        printf(" (%ld invalid line(s) skipped)", bad);
    printf("\n");
    rc = bad ? TW_EXIT_FAIL : TW_EXIT_OK;
done:
    for (size_t i = 0; i < l.n; i++)
        tw_event_free(l.ev[i]);
    free(l.ev);
    return rc;
}
