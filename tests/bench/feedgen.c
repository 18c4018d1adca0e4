/* feedgen.c: a deterministic, realistic event load for ops/bench and the
 * fault suites. It writes reference CSVs for its agencies and communes and
 * produces protobuf Events straight to Kafka (idempotent, acks=all, lz4),
 * as fast as it can or at a fixed rate. Every event is valid, so the
 * accepted count equals the produced count. With --stamp, recorded_at_ms is
 * the wall-clock instant of producing, for latency measurements. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "date.h"
#include "kafka.h"
#include "uuid.h"

#define EVB(x) TWINWATCH__V1__EVENT__BODY_##x

typedef struct {
    char agency[32], locality[24];
    int signed_;
    long pledges[16]; /* event indices of this pair's latest pledges (their ids) */
    int npledges;
} pair;

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static long produced, failed;
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
    else
        produced++;
}

static int write_reference(const char *dir, int nagencies, int ncommunes)
{
    char path[4096];
    FILE *f;
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/agencies.csv", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "code,name,kind\n");
    for (int i = 0; i < nagencies; i++)
        fprintf(f, "BENCH-A%04d,Bench agency %d,enterprise\n", i, i);
    fclose(f);
    snprintf(path, sizeof path, "%s/localities.csv", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "code,name,level,parent_code,ethnic_minority,mountainous,border,"
               "especially_difficult\nB49,Bench province,province,,false,false,false,false\n"
               "B506,Bench district,district,B49,true,true,true,true\n");
    for (int i = 0; i < ncommunes; i++)
        fprintf(f, "B%05d,Bench commune %d,commune,B506,true,true,false,true\n", i, i);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *brokers = "127.0.0.1:9092", *topic = TW_TOPIC_EVENTS, *refdir = NULL;
    long events = 100000, rate = 0, seed = 16, npairs = 2000, start = 0;
    int stamp = 0;
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},   {"topic", required_argument, NULL, 't'},
        {"events", required_argument, NULL, 'n'},    {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},      {"pairs", required_argument, NULL, 'p'},
        {"reference", required_argument, NULL, 'R'}, {"stamp", no_argument, NULL, 'S'},
        {"start", required_argument, NULL, 'o'},     {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'b':
            brokers = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            events = atol(optarg);
            break;
        case 'r':
            rate = atol(optarg);
            break;
        case 's':
            seed = atol(optarg);
            break;
        case 'p':
            npairs = atol(optarg);
            break;
        case 'R':
            refdir = optarg;
            break;
        case 'S':
            stamp = 1;
            break;
        case 'o':
            start = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: feedgen [--brokers B] [--topic T] [--events N] [--rate R] "
                            "[--pairs K] [--seed S] [--reference DIR] [--stamp] [--start I]\n");
            return 2;
        }
    }
    if (npairs < 1 || events < 0) {
        fprintf(stderr, "feedgen: --pairs and --events must be positive\n");
        return 2;
    }
    int nagencies = (int)(npairs / 4 + 1), ncommunes = (int)npairs;
    if (refdir) {
        if (write_reference(refdir, nagencies, ncommunes) < 0) {
            fprintf(stderr, "feedgen: cannot write %s: %s\n", refdir, strerror(errno));
            return 1;
        }
        if (events == 0)
            return 0;
    }
    pair *pairs = calloc((size_t)npairs, sizeof *pairs);
    for (long i = 0; i < npairs; i++) {
        snprintf(pairs[i].agency, sizeof pairs[i].agency, "BENCH-A%04ld", i % nagencies);
        snprintf(pairs[i].locality, sizeof pairs[i].locality, "B%05ld", i); /* one per commune */
    }
    char err[512];
    rd_kafka_conf_t *conf = tw_kafka_conf(brokers, NULL, NULL, err, sizeof err);
    if (!conf || tw_kafka_set(conf, "enable.idempotence", "true", err, sizeof err) < 0 ||
        tw_kafka_set(conf, "compression.codec", "lz4", err, sizeof err) < 0 ||
        tw_kafka_set(conf, "linger.ms", rate ? "1" : "20", err, sizeof err) < 0 ||
        tw_kafka_set(conf, "batch.num.messages", "10000", err, sizeof err) < 0 ||
        tw_kafka_set(conf, "queue.buffering.max.kbytes", "262144", err, sizeof err) < 0) {
        fprintf(stderr, "feedgen: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "feedgen: %s\n", err);
        return 1;
    }
    rng_state = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
    int64_t base_ms = 1633021200000LL; /* 2021-10-01 */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Events before --start are generated but not sent, so a later run
     * continues the same story (same twinnings signed, same pledges). */
    for (long i = 0; i < start + events; i++) {
        pair *p = &pairs[rnd() % (uint64_t)npairs];
        Twinwatch__V1__Event ev = TWINWATCH__V1__EVENT__INIT;
        Twinwatch__V1__TwinningSigned ts = TWINWATCH__V1__TWINNING_SIGNED__INIT;
        Twinwatch__V1__Visit vi = TWINWATCH__V1__VISIT__INIT;
        Twinwatch__V1__SupportPledged sp = TWINWATCH__V1__SUPPORT_PLEDGED__INIT;
        Twinwatch__V1__SupportDelivered sd = TWINWATCH__V1__SUPPORT_DELIVERED__INIT;
        Twinwatch__V1__TrainingDelivered td = TWINWATCH__V1__TRAINING_DELIVERED__INIT;
        Twinwatch__V1__FeedHeartbeat hb = TWINWATCH__V1__FEED_HEARTBEAT__INIT;
        char id[TW_UUID_STRLEN + 1], ref[48], pid[64], src[48];
        snprintf(ref, sizeof ref, "EV-%ld-%ld", seed, i);
        snprintf(src, sizeof src, "%s-erp", p->agency);
        tw_uuid_event_id(src, ref, id);
        ev.event_id = id;
        ev.schema_version = 1;
        ev.agency_code = p->agency;
        ev.locality_code = p->locality;
        ev.occurred_at_ms = base_ms + (int64_t)i * 60000;
        ev.source_system = src;
        ev.source_ref = ref;
        ev.actor = "feedgen";
        unsigned roll = (unsigned)(rnd() % 100);
        if (!p->signed_) {
            p->signed_ = 1;
            ev.body_case = EVB(TWINNING_SIGNED);
            ts.programme = "Chương trình kết nghĩa";
            ts.start_date = "2021-10-01";
            ev.twinning_signed = &ts;
        } else if (roll < 15) {
            /* pledge ids carry the event index, so runs with --start never reuse one */
            snprintf(pid, sizeof pid, "P-%s-%ld", p->locality, i);
            p->pledges[p->npledges++ % 16] = i;
            ev.body_case = EVB(SUPPORT_PLEDGED);
            sp.pledge_id = pid;
            sp.category = (int)(rnd() % 10) + 1;
            sp.amount_vnd = (int64_t)(rnd() % 500 + 10) * 1000000;
            sp.target_quantity = (int64_t)(rnd() % 50);
            sp.unit = "hộ";
            sp.due_date = "2030-12-31";
            ev.support_pledged = &sp;
        } else if (roll < 55) {
            ev.body_case = EVB(SUPPORT_DELIVERED);
            if (p->npledges > 0) {
                int n = p->npledges < 16 ? p->npledges : 16;
                snprintf(pid, sizeof pid, "P-%s-%ld", p->locality, p->pledges[rnd() % (uint64_t)n]);
                sd.pledge_id = pid;
            }
            sd.category = (int)(rnd() % 10) + 1;
            sd.amount_vnd = (int64_t)(rnd() % 100 + 1) * 1000000;
            sd.quantity = (int64_t)(rnd() % 10);
            sd.evidence_ref = "BB-2026";
            ev.support_delivered = &sd;
        } else if (roll < 70) {
            ev.body_case = EVB(TRAINING_DELIVERED);
            td.audience = (int)(rnd() % 2) + 1;
            td.topic = "Kỹ thuật trồng sâm";
            td.trainees = (uint32_t)(rnd() % 40 + 5);
            td.hours = 16;
            ev.training_delivered = &td;
        } else if (roll < 95) {
            ev.body_case = EVB(VISIT);
            vi.purpose = "Thăm hỏi, tặng quà";
            vi.participants = (uint32_t)(rnd() % 20 + 2);
            vi.gift_value_vnd = (int64_t)(rnd() % 50) * 1000000;
            ev.visit = &vi;
        } else {
            ev.body_case = EVB(FEED_HEARTBEAT);
            ev.feed_heartbeat = &hb;
        }
        if (stamp) {
            ev.recorded_at_ms = tw_now_ms();
            ev.occurred_at_ms = ev.recorded_at_ms - 1000;
        }
        if (i < start)
            continue;
        size_t len;
        uint8_t *buf = tw_codec_pack(&ev, &len);
        char key[64];
        int klen = snprintf(key, sizeof key, "%s|%s", p->agency, p->locality);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                 RD_KAFKA_V_VALUE(buf, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
        if (rate > 0) {
            long n = i - start + 1;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
            double ahead = (double)n / (double)rate - el;
            if (ahead > 0.0005)
                usleep((useconds_t)(ahead * 1e6));
        }
    }
    rd_kafka_flush(rk, 120000);
    rd_kafka_destroy(rk);
    fprintf(stderr, "feedgen: %ld events produced to %s, %ld failed\n", produced, topic, failed);
    free(pairs);
    return failed || produced != events ? 1 : 0;
}
