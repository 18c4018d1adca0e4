/* main.c: devbroker, a Kafka-protocol broker for local runs and tests. It
 * wraps librdkafka's mock cluster (in-memory logs, lost on exit), announces
 * the bootstrap list, and takes fault-injection commands ("fail Fetch
 * NOT_COORDINATOR 3", "down 1", ...) on a UNIX control socket, one line each.
 *
 * Self-contained on purpose (librdkafka and libev only) so a test can build
 * it with a single compiler call. */
#ifndef _GNU_SOURCE /* CMake defines it too */
#define _GNU_SOURCE /* accept4, strsignal */
#endif
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS       64
#define MAX_CLIENTS      8
#define MUST_CHECK       __attribute__((warn_unused_result))
#define CONTROL_LINE_MAX 512

struct topic {
    const char *name;
    int partitions;
};

/* One connection on the control socket; replies go out as each line arrives. */
struct client {
    ev_io io;
    int fd; /* -1: slot free */
    size_t len;
    char buf[CONTROL_LINE_MAX];
    struct devbroker *db;
};

struct devbroker {
    int broker_cnt;
    struct topic topics[MAX_TOPICS];
    int topic_cnt;
    const char *bootstrap_file;
    int bootstrap_written; /* only then is the file ours to remove */
    const char *control_path;

    struct ev_loop *loop;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    ev_signal sigterm;
    ev_signal sigint;
    int listen_fd;
    ev_io listen_io;
    struct client clients[MAX_CLIENTS];
};

/* Kafka API names by key, as librdkafka's rdkafka_protocol.h numbers them. */
/* clang-format off */
static const char *const api_names[] = {
    [0] = "Produce", [1] = "Fetch", [2] = "ListOffsets",
    [3] = "Metadata", [8] = "OffsetCommit", [9] = "OffsetFetch",
    [10] = "FindCoordinator", [11] = "JoinGroup", [12] = "Heartbeat",
    [13] = "LeaveGroup", [14] = "SyncGroup", [15] = "DescribeGroups",
    [16] = "ListGroups", [17] = "SaslHandshake", [18] = "ApiVersions",
    [19] = "CreateTopics", [20] = "DeleteTopics", [21] = "DeleteRecords",
    [22] = "InitProducerId", [23] = "OffsetForLeaderEpoch", [24] = "AddPartitionsToTxn",
    [25] = "AddOffsetsToTxn", [26] = "EndTxn", [28] = "TxnOffsetCommit",
    [32] = "DescribeConfigs", [33] = "AlterConfigs", [36] = "SaslAuthenticate",
    [37] = "CreatePartitions", [42] = "DeleteGroups", [47] = "OffsetDelete",
};
/* clang-format on */
#define NAPIS (int)(sizeof api_names / sizeof api_names[0])

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "devbroker: %s\n", line);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: devbroker [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file FILE]\n"
            "                 [--control PATH] [--help]\n"
            "An in-memory Kafka cluster (librdkafka's mock) for local runs and tests.\n"
            "  --brokers N              brokers in the cluster, 1..32 (default 1)\n"
            "  --topic NAME:PARTITIONS  create this topic; repeatable, replaces the defaults\n"
            "                           twinwatch.{events,alerts,audit-anchors}.v1:6\n"
            "  --bootstrap-file FILE    write the bootstrap list here (atomically) once up\n"
            "  --control PATH           UNIX socket taking one command per line: ping,\n"
            "      fail REQUEST ERROR COUNT (fail Fetch NOT_COORDINATOR 3), down BROKER,\n"
            "      up BROKER, leader TOPIC PARTITION BROKER, rtt BROKER MS\n"
            "SIGTERM or SIGINT stops it; the log is lost.\n");
}

/* Parses a whole decimal number within [lo, hi]; returns -1 otherwise. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static MUST_CHECK int add_topic(struct devbroker *db, char *spec, char *err, size_t errlen)
{
    char *colon = strrchr(spec, ':');
    long parts;
    if (!colon || colon == spec) {
        snprintf(err, errlen, "--topic %s: expected NAME:PARTITIONS", spec);
        return -1;
    }
    *colon = '\0';
    if (parse_long(colon + 1, 1, 10000, &parts) < 0) {
        snprintf(err, errlen, "--topic %s: partitions must be 1..10000, not \"%s\"", spec,
                 colon + 1);
        return -1;
    }
    for (int i = 0; i < db->topic_cnt; i++) {
        if (strcmp(db->topics[i].name, spec) == 0) {
            snprintf(err, errlen, "--topic %s: given twice", spec);
            return -1;
        }
    }
    if (db->topic_cnt == MAX_TOPICS) {
        snprintf(err, errlen, "--topic %s: at most %d topics", spec, MAX_TOPICS);
        return -1;
    }
    db->topics[db->topic_cnt++] = (struct topic){spec, (int)parts};
    return 0;
}

/* Fills db from argv. Returns 0, 1 after --help, -1 on a bad argument. */
static MUST_CHECK int parse_args(struct devbroker *db, int argc, char **argv, char *err,
                                 size_t errlen)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"control", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long n;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (parse_long(optarg, 1, 32, &n) < 0) {
                snprintf(err, errlen, "--brokers must be 1..32, not \"%s\"", optarg);
                return -1;
            }
            db->broker_cnt = (int)n;
            break;
        case 't':
            if (add_topic(db, optarg, err, errlen) < 0)
                return -1;
            break;
        case 'f':
            db->bootstrap_file = optarg;
            break;
        case 'c':
            if (strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                snprintf(err, errlen, "--control %s: path too long for a UNIX socket", optarg);
                return -1;
            }
            db->control_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case ':':
            snprintf(err, errlen, "%s needs a value (see --help)", argv[optind - 1]);
            return -1;
        default:
            snprintf(err, errlen, "unknown option %s (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
        return -1;
    }
    if (db->topic_cnt == 0) {
        static char defaults[][32] = {"twinwatch.events.v1:6", "twinwatch.alerts.v1:6",
                                      "twinwatch.audit-anchors.v1:6"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            if (add_topic(db, defaults[i], err, errlen) < 0)
                return -1;
    }
    return 0;
}

/* ---- control commands ---- */

static int api_key_parse(const char *s, int16_t *key)
{
    long n;
    for (int i = 0; i < NAPIS; i++) {
        if (api_names[i] && strcasecmp(s, api_names[i]) == 0) {
            *key = (int16_t)i;
            return 0;
        }
    }
    if (parse_long(s, 0, 100, &n) < 0)
        return -1;
    *key = (int16_t)n;
    return 0;
}

/* Accepts any name rd_kafka_err2name knows (NOT_COORDINATOR, _TRANSPORT) or a number. */
static int error_parse(const char *s, rd_kafka_resp_err_t *out)
{
    long n;
    /* Kafka's own names for two codes librdkafka 2.0 spells differently. */
    if (strcasecmp(s, "NOT_LEADER_OR_FOLLOWER") == 0)
        s = "NOT_LEADER_FOR_PARTITION";
    else if (strcasecmp(s, "UNKNOWN_SERVER_ERROR") == 0)
        s = "UNKNOWN";
    for (int e = -200; e <= 100; e++) {
        if (strcasecmp(s, rd_kafka_err2name((rd_kafka_resp_err_t)e)) == 0) {
            *out = (rd_kafka_resp_err_t)e;
            return 0;
        }
    }
    if (parse_long(s, -200, 1000, &n) < 0)
        return -1;
    *out = (rd_kafka_resp_err_t)n;
    return 0;
}

/* Runs one control line and writes the one-line answer (no newline) to out. */
static void control_run(struct devbroker *db, char *line, char *out, size_t outlen)
{
    char *argv[6], *save = NULL;
    const char *cmd, *usage = NULL;
    int argc = 0, n = db->broker_cnt;
    long a, b;
    int16_t key;
    rd_kafka_resp_err_t err;

    for (char *tok = strtok_r(line, " \t\r", &save); tok && argc < 6;
         tok = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = tok;
    cmd = argc ? argv[0] : "";
    if (strcmp(cmd, "ping") == 0) {
        usage = "ping";
        if (argc != 1)
            goto bad;
        snprintf(out, outlen, "ok pong");
        return;
    }
    if (strcmp(cmd, "fail") == 0) {
        usage = "fail REQUEST ERROR COUNT(1..100000)";
        if (argc != 4 || parse_long(argv[3], 1, 100000, &a) < 0)
            goto bad;
        if (api_key_parse(argv[1], &key) < 0) {
            snprintf(out, outlen, "error: unknown request \"%s\" (Fetch, JoinGroup, 14...)",
                     argv[1]);
            return;
        }
        if (error_parse(argv[2], &err) < 0) {
            snprintf(out, outlen, "error: unknown error \"%s\" (NOT_COORDINATOR, 7...)", argv[2]);
            return;
        }
        rd_kafka_resp_err_t *errs = malloc((size_t)a * sizeof *errs);
        if (!errs) {
            snprintf(out, outlen, "error: out of memory for %ld errors", a);
            return;
        }
        for (long i = 0; i < a; i++)
            errs[i] = err;
        /* one call: 100000 single pushes held the loop for seconds */
        rd_kafka_mock_push_request_errors_array(db->mcluster, key, (size_t)a, errs);
        free(errs);
        snprintf(out, outlen, "ok next %ld %s request(s) fail with %s", a, argv[1],
                 rd_kafka_err2name(err));
        return;
    }
    if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) {
        usage = "down BROKER | up BROKER";
        if (argc != 2 || parse_long(argv[1], 1, n, &a) < 0)
            goto bad;
        err = cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(db->mcluster, (int32_t)a)
                            : rd_kafka_mock_broker_set_up(db->mcluster, (int32_t)a);
        snprintf(out, outlen, "ok broker %ld %s", a, cmd);
    } else if (strcmp(cmd, "leader") == 0) {
        const struct topic *t = NULL;
        usage = "leader TOPIC(one of --topic) PARTITION BROKER(-1: none)";
        for (int i = 0; argc == 4 && i < db->topic_cnt; i++)
            if (strcmp(argv[1], db->topics[i].name) == 0)
                t = &db->topics[i];
        if (!t || parse_long(argv[2], 0, t->partitions - 1, &a) < 0 ||
            parse_long(argv[3], -1, n, &b) < 0 || b == 0)
            goto bad; /* the mock would create an unknown topic on the spot */
        err = rd_kafka_mock_partition_set_leader(db->mcluster, argv[1], (int32_t)a, (int32_t)b);
        snprintf(out, outlen, "ok %s [%ld] leader is broker %ld", argv[1], a, b);
    } else if (strcmp(cmd, "rtt") == 0) {
        usage = "rtt BROKER MS(0..3600000)";
        if (argc != 3 || parse_long(argv[1], 1, n, &a) < 0 ||
            parse_long(argv[2], 0, 3600000, &b) < 0)
            goto bad;
        err = rd_kafka_mock_broker_set_rtt(db->mcluster, (int32_t)a, (int)b);
        snprintf(out, outlen, "ok broker %ld rtt %ld ms", a, b);
    } else {
        snprintf(out, outlen, "error: unknown command \"%s\" (ping fail down up leader rtt)", cmd);
        return;
    }
    if (err)
        snprintf(out, outlen, "error: %s: %s", cmd, rd_kafka_err2str(err));
    return;
bad:
    snprintf(out, outlen, "error: bad arguments; usage: %s", usage);
    if (strstr(usage, "BROKER"))
        snprintf(out + strlen(out), outlen - strlen(out), " (brokers are 1..%d)", n);
}

/* ---- control socket ---- */

static void client_close(struct client *c)
{
    ev_io_stop(c->db->loop, &c->io);
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

/* Answers every complete line; a client that does not read its answers is dropped. */
static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = w->data;
    char reply[CONTROL_LINE_MAX + 1], *nl;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    (void)loop, (void)revents;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    while ((nl = strchr(c->buf, '\n')) || c->len == sizeof c->buf - 1) {
        if (nl) {
            *nl = '\0';
            control_run(c->db, c->buf, reply, CONTROL_LINE_MAX);
        } else {
            snprintf(reply, CONTROL_LINE_MAX, "error: line longer than %d bytes",
                     CONTROL_LINE_MAX - 2);
        }
        say("control: %s", reply);
        strcat(reply, "\n");
        n = (ssize_t)strlen(reply);
        if (send(c->fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n || !nl) {
            client_close(c);
            return;
        }
        c->len -= (size_t)(nl + 1 - c->buf);
        memmove(c->buf, nl + 1, c->len + 1);
    }
}

static void on_control_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct devbroker *db = w->data;
    int fd;
    (void)revents;

    while ((fd = accept4(db->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && !c; i++)
            if (db->clients[i].fd < 0)
                c = &db->clients[i];
        if (!c) {
            say("control: more than %d clients at once, refusing one", MAX_CLIENTS);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->len = 0;
        c->db = db;
        ev_io_init(&c->io, on_client_readable, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
    }
    if (errno != EAGAIN && errno != EINTR)
        say("accept on %s: %s", db->control_path, strerror(errno));
}

/* Binds the control socket, replacing a stale one left by a killed devbroker. */
static MUST_CHECK int control_open(struct devbroker *db, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", db->control_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", db->control_path, strerror(errno));
        return -1;
    }
    if (lstat(db->control_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) < 0 &&
            errno == ECONNREFUSED) {
            unlink(db->control_path);
            say("removed stale control socket %s", db->control_path);
        }
        if (probe >= 0)
            close(probe);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        snprintf(err, errlen, "bind %s: %s%s", db->control_path, strerror(e),
                 e == EADDRINUSE ? " (another devbroker running?)" : "");
        goto fail;
    }
    if (listen(fd, 16) < 0) {
        snprintf(err, errlen, "listen %s: %s", db->control_path, strerror(errno));
        unlink(db->control_path);
        goto fail;
    }
    db->listen_fd = fd;
    ev_io_init(&db->listen_io, on_control_accept, fd, EV_READ);
    db->listen_io.data = db;
    ev_io_start(db->loop, &db->listen_io);
    return 0;
fail:
    close(fd);
    return -1;
}

/* ---- cluster ---- */

/* Called on librdkafka's threads; stdio keeps each line whole. */
static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        return; /* expected: this handle only hosts the mock cluster */
    say("rdkafka %s: %s", fac, buf);
}

static MUST_CHECK int cluster_start(struct devbroker *db, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_resp_err_t kerr;

    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!db->rk) {
        snprintf(err, errlen, "rd_kafka_new: %s", why);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    db->mcluster = rd_kafka_mock_cluster_new(db->rk, db->broker_cnt);
    if (!db->mcluster) {
        snprintf(err, errlen, "rd_kafka_mock_cluster_new with %d broker(s) failed", db->broker_cnt);
        goto fail;
    }
    for (int i = 0; i < db->topic_cnt; i++) {
        const struct topic *t = &db->topics[i];
        int rf = db->broker_cnt < 3 ? db->broker_cnt : 3;
        kerr = rd_kafka_mock_topic_create(db->mcluster, t->name, t->partitions, rf);
        if (kerr) {
            snprintf(err, errlen, "create topic %s (%d partitions, replication %d): %s", t->name,
                     t->partitions, rf, rd_kafka_err2str(kerr));
            goto fail;
        }
    }
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return -1;
}

/* Writes FILE.tmp then renames, so a reader never sees half a list. */
static MUST_CHECK int bootstrap_write(const char *path, const char *list, char *err, size_t errlen)
{
    char tmp[strlen(path) + 32];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "open %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\n", list);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    unlink(tmp);
    return -1;
}

/* Tears down whatever was set up, in reverse; safe after a partial start. */
static void devbroker_stop(struct devbroker *db)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (db->clients[i].fd >= 0)
            client_close(&db->clients[i]);
    if (db->listen_fd >= 0) {
        ev_io_stop(db->loop, &db->listen_io);
        close(db->listen_fd);
        unlink(db->control_path);
    }
    if (db->bootstrap_written)
        unlink(db->bootstrap_file);
    if (db->mcluster)
        rd_kafka_mock_cluster_destroy(db->mcluster);
    if (db->rk)
        rd_kafka_destroy(db->rk);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    say("%s: stopping", strsignal(w->signum));
    ev_break(loop, EVBREAK_ALL);
}

#ifndef TW_DEVBROKER_NO_MAIN /* tests/fuzz/fuzz_control.c includes this file */
int main(int argc, char **argv)
{
    static struct devbroker db = {.broker_cnt = 1, .listen_fd = -1};
    char err[512];
    const char *list;
    int rc;

    for (int i = 0; i < MAX_CLIENTS; i++)
        db.clients[i].fd = -1;
    rc = parse_args(&db, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            say("%s", err);
        return rc < 0 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    db.loop = EV_DEFAULT;
    ev_signal_init(&db.sigterm, on_stop_signal, SIGTERM);
    ev_signal_init(&db.sigint, on_stop_signal, SIGINT);
    ev_signal_start(db.loop, &db.sigterm);
    ev_signal_start(db.loop, &db.sigint);

    if (cluster_start(&db, err, sizeof err) < 0)
        goto fail;
    if (db.control_path && control_open(&db, err, sizeof err) < 0)
        goto fail;
    list = rd_kafka_mock_cluster_bootstraps(db.mcluster);
    if (db.bootstrap_file) {
        if (bootstrap_write(db.bootstrap_file, list, err, sizeof err) < 0)
            goto fail;
        db.bootstrap_written = 1;
    }
    say("listening on %s", list);
    printf("%s\n", list);
    fflush(stdout);

    ev_run(db.loop, 0);
    devbroker_stop(&db);
    say("stopped");
    return 0;
fail:
    say("%s", err);
    devbroker_stop(&db);
    return 1;
}
#endif
