#!/usr/bin/python3
"""alert_consumer.py BROKERS OUT [TIMEOUT_S]: reads every message of
twinwatch.alerts.v1 from the beginning until each partition's end, decodes
the protobuf Alert with its own wire-format reader (independent of the
sentinel's protobuf-c code), and writes one line per message to OUT:
alert_id transition_no state severity rule subject key_matches create_ms.
Uses Debian's python3-confluent-kafka."""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

STATES = {0: "open", 1: "acknowledged", 2: "resolved"}
SEVERITIES = {0: "warning", 1: "critical"}


def varint(b, p):
    v = shift = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, p
        shift += 7


def decode(b):
    f = {}
    p = 0
    while p < len(b):
        k, p = varint(b, p)
        num, wt = k >> 3, k & 7
        if wt == 0:
            f[num], p = varint(b, p)
        elif wt == 2:
            n, p = varint(b, p)
            f[num] = b[p:p + n].decode()
            p += n
        elif wt == 1:
            p += 8
        elif wt == 5:
            p += 4
        else:
            raise ValueError("wire type %d" % wt)
    return f


brokers, out = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 30
topic = "twinwatch.alerts.v1"
c = Consumer({"bootstrap.servers": brokers, "group.id": "alert-check", "enable.auto.commit": False,
              "enable.partition.eof": True})
md = c.list_topics(topic, timeout=10)
parts = list(md.topics[topic].partitions)
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
ended = set()
lines = []
import time
deadline = time.time() + timeout
while len(ended) < len(parts) and time.time() < deadline:
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            ended.add(m.partition())
            continue
        raise SystemExit("alert_consumer: %s" % m.error())
    f = decode(m.value())
    key_ok = m.key().decode() == f.get(1, "")
    lines.append("%s %d %s %s %s %s %s %d" % (f.get(1, ""), f.get(6, 0), STATES[f.get(4, 0)],
                                              SEVERITIES[f.get(5, 0)], f.get(2, ""), f.get(3, ""),
                                              "key_ok" if key_ok else "key_bad",
                                              m.timestamp()[1]))
c.close()
if len(ended) < len(parts):
    raise SystemExit("alert_consumer: did not reach the end of every partition in %ss" % timeout)
with open(out, "w") as o:
    o.write("".join(l + "\n" for l in lines))
