/* anchor.c: the anchor message format and reading the anchors topic back
 * (see anchor.h). */
#include "anchor.h"

#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"

struct tw_anchor_set {
    tw_anchor *a;
    size_t n, cap;
};

size_t tw_anchor_format(char *out, size_t cap, const char *topic, int32_t partition, int64_t offset,
                        const uint8_t hash[TW_CHAIN_HASH_LEN])
{
    char hex[2 * TW_CHAIN_HASH_LEN + 1];
    tw_chain_hex(hash, hex);
    int n = snprintf(out, cap, "%s %s %d %lld %s", TW_ANCHOR_MAGIC, topic, partition,
                     (long long)offset, hex);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int tw_anchor_parse(const char *msg, size_t len, tw_anchor *a)
{
    char buf[512], magic[64], hex[128];
    long long off;
    int part;
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    memset(a, 0, sizeof *a);
    if (sscanf(buf, "%63s %127s %d %lld %127s", magic, a->topic, &part, &off, hex) != 5 ||
        strcmp(magic, TW_ANCHOR_MAGIC) != 0 || part < 0 || off < 0 ||
        tw_chain_parse_hex(hex, a->hash) < 0)
        return -1;
    a->partition = part;
    a->offset = off;
    return 0;
}

static int cmp_anchor(const void *x, const void *y)
{
    const tw_anchor *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    if (c)
        return c;
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int add(tw_anchor_set *s, const tw_anchor *a)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        tw_anchor *t = realloc(s->a, cap * sizeof *t);
        if (!t)
            return -1;
        s->a = t;
        s->cap = cap;
    }
    s->a[s->n++] = *a;
    return 0;
}

tw_anchor_set *tw_anchor_read(const char *brokers, const tw_config *cfg, char *err, size_t errlen)
{
    /* enable.partition.eof is how the reading ends: a caller passing cfg
     * reserves kafka.enable.partition.eof. */
    static const char *const defaults[] = {
        "group.id",  "twinctl-audit-verify", "enable.auto.commit",   "false",
        "client.id", "twinctl-audit-verify", "enable.partition.eof", "true",
        NULL};
    char why[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    const struct rd_kafka_metadata *md = NULL;
    tw_anchor_set *s = calloc(1, sizeof *s);
    rd_kafka_conf_t *conf = tw_kafka_conf(brokers, defaults, cfg, err, errlen);
    int left = 0;
    if (!s || !conf)
        goto fail;
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        snprintf(err, errlen, "Kafka consumer for %s: %s", TW_TOPIC_ANCHORS, why);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, TW_TOPIC_ANCHORS, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "%s at %s: %s", TW_TOPIC_ANCHORS, brokers,
                 rd_kafka_err2str(e               ? e
                                  : md->topic_cnt ? md->topics[0].err
                                                  : e));
        goto fail;
    }
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        if ((e = rd_kafka_query_watermark_offsets(rk, TW_TOPIC_ANCHORS, p, &lo, &hi, 10000))) {
            snprintf(err, errlen, "%s/%d: watermarks: %s", TW_TOPIC_ANCHORS, p,
                     rd_kafka_err2str(e));
            goto fail;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(l, TW_TOPIC_ANCHORS, p)->offset = lo;
            left++;
        }
    }
    if (left && (e = rd_kafka_assign(rk, l))) {
        snprintf(err, errlen, "assign %s: %s", TW_TOPIC_ANCHORS, rd_kafka_err2str(e));
        goto fail;
    }
    /* Until every partition reports its end (partition EOF at the watermark
     * or beyond): anchors published meanwhile are welcome, not needed. */
    for (int idle = 0; left > 0;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) {
            if (++idle == 15) {
                snprintf(err, errlen, "%s: no end of partition after 15 s", TW_TOPIC_ANCHORS);
                goto fail;
            }
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            left--;
        } else if (m->err) {
            snprintf(err, errlen, "%s: %s", TW_TOPIC_ANCHORS, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto fail;
        } else {
            tw_anchor a;
            if (tw_anchor_parse(m->payload, m->len, &a) == 0 && add(s, &a) < 0) {
                snprintf(err, errlen, "out of memory reading anchors");
                rd_kafka_message_destroy(m);
                goto fail;
            }
        }
        rd_kafka_message_destroy(m);
    }
    qsort(s->a, s->n, sizeof *s->a, cmp_anchor);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_metadata_destroy(md);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return s;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    tw_anchor_free(s);
    return NULL;
}

size_t tw_anchor_count(const tw_anchor_set *s)
{
    return s->n;
}

void tw_anchor_seen(tw_anchor_set *s, const char *topic, int32_t partition, int64_t offset,
                    const uint8_t hash[TW_CHAIN_HASH_LEN])
{
    tw_anchor key;
    snprintf(key.topic, sizeof key.topic, "%s", topic);
    key.partition = partition;
    key.offset = offset;
    size_t lo = 0, hi = s->n;
    while (lo < hi) { /* the first anchor not below key */
        size_t mid = (lo + hi) / 2;
        if (cmp_anchor(&s->a[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < s->n && cmp_anchor(&s->a[lo], &key) == 0; lo++)
        s->a[lo].state = memcmp(s->a[lo].hash, hash, TW_CHAIN_HASH_LEN) == 0 ? 1 : 2;
}

int tw_anchor_report(const tw_anchor_set *s, FILE *out)
{
    int chains = 0;
    for (size_t i = 0; i < s->n; i++) {
        const tw_anchor *a = &s->a[i];
        if (a->state == 1)
            continue;
        char hex[2 * TW_CHAIN_HASH_LEN + 1];
        tw_chain_hex(a->hash, hex);
        fprintf(out,
                "chain %s/p%d: BROKEN against its anchors: the head %s published at offset "
                "%lld %s\n",
                a->topic, a->partition, hex, (long long)a->offset,
                a->state == 0 ? "is not in the database: the chain was truncated after it (or "
                                "that row is broken)"
                              : "is not that row's hash: the chain was rewritten");
        chains++;
        while (i + 1 < s->n && !strcmp(s->a[i + 1].topic, a->topic) &&
               s->a[i + 1].partition == a->partition)
            i++; /* the first bad anchor names the chain */
    }
    return chains;
}

void tw_anchor_free(tw_anchor_set *s)
{
    if (!s)
        return;
    free(s->a);
    free(s);
}
