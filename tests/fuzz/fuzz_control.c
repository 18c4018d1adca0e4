/* fuzz_control.c: the devbroker's control socket, as a test script writes to
 * it. The devbroker is one file on purpose, so it is included here (without
 * its main) and its own reader, on_client_readable, is driven through a real
 * socket pair against a real mock cluster (3 brokers, topic t with 2
 * partitions). The first input byte sets the size of each write (1..64
 * bytes); the rest is what the client sends. Properties: every answer is one
 * line starting "ok " or "error: "; at most one answer per line sent (plus
 * one for a line too long, after which the client is dropped); the read
 * buffer never fills past its end. */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The devbroker's log lines go to /dev/null while fuzzing. */
static FILE *devbroker_log;
#undef stderr
#define stderr devbroker_log
#define TW_DEVBROKER_NO_MAIN
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#include "../../services/devbroker/main.c"
#pragma clang diagnostic pop
#undef stderr
#define stderr stderr

static struct devbroker db = {.broker_cnt = 1, .listen_fd = -1};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char a0[] = "devbroker", a1[] = "--brokers", a2[] = "3", a3[] = "--topic", a4[] = "t:2";
    char *args[] = {a0, a1, a2, a3, a4, NULL}, err[512];
    (void)argc, (void)argv;
    devbroker_log = fopen("/dev/null", "w");
    signal(SIGPIPE, SIG_IGN);
    db.loop = EV_DEFAULT;
    if (parse_args(&db, 5, args, err, sizeof err) != 0 || cluster_start(&db, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_control: %s\n", err);
        exit(1);
    }
    return 0;
}

/* Reads what the devbroker answered so far and checks each whole line. */
static size_t drain(int fd, char *acc, size_t *acclen, size_t cap)
{
    size_t answers = 0;
    ssize_t n;
    while ((n = read(fd, acc + *acclen, cap - 1 - *acclen)) > 0) {
        *acclen += (size_t)n;
        acc[*acclen] = '\0';
        char *nl;
        while ((nl = memchr(acc, '\n', *acclen)) != NULL) {
            size_t len = (size_t)(nl - acc);
            FUZZ_CHECK(len > 0 && len < CONTROL_LINE_MAX, "answer of %zu bytes", len);
            FUZZ_CHECK(strncmp(acc, "ok ", 3) == 0 || strncmp(acc, "error: ", 7) == 0,
                       "answer \"%.*s\"", (int)len, acc);
            FUZZ_CHECK(memchr(acc, '\0', len) == NULL, "NUL inside an answer");
            answers++;
            *acclen -= len + 1;
            memmove(acc, nl + 1, *acclen + 1);
        }
        FUZZ_CHECK(*acclen < CONTROL_LINE_MAX, "unterminated answer of %zu bytes", *acclen);
    }
    return answers;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    char acc[4 * CONTROL_LINE_MAX];
    size_t acclen = 0, answers = 0, newlines = 0, sent = 0;

    if (size < 1)
        return 0;
    size_t chunk = 1 + data[0] % 64;
    data++, size--;
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct client *c = &db.clients[0];
    memset(c, 0, sizeof *c);
    c->fd = sv[0];
    c->db = &db;
    ev_io_init(&c->io, on_client_readable, c->fd, EV_READ);
    c->io.data = c;

    /* a "fail" command may be taken: clear the mock's error stacks after */
    int failed = memmem(data, size, "fail", 4) != NULL;
    while (sent < size && c->fd >= 0) {
        size_t n = size - sent < chunk ? size - sent : chunk;
        FUZZ_CHECK(write(sv[1], data + sent, n) == (ssize_t)n, "write");
        for (size_t i = 0; i < n; i++)
            newlines += data[sent + i] == '\n';
        sent += n;
        on_client_readable(db.loop, &c->io, EV_READ);
        FUZZ_CHECK(c->fd < 0 || c->len < sizeof c->buf, "buffer holds %zu of %zu", c->len,
                   sizeof c->buf);
        answers += drain(sv[1], acc, &acclen, sizeof acc);
        /* one answer per line, and one more for a line too long */
        FUZZ_CHECK(answers <= newlines + 1, "%zu answers to %zu lines", answers, newlines);
    }
    FUZZ_CHECK(acclen == 0, "half an answer left: \"%s\"", acc);
    if (c->fd >= 0)
        client_close(c);
    close(sv[1]);
    if (failed)
        for (int16_t k = 0; k <= 100; k++)
            rd_kafka_mock_clear_request_errors(db.mcluster, k);
    return 0;
}
