#!/usr/bin/python3
"""sign_produce.py: an agency's own Kafka producer, for tests/integration/provenance.sh.

  keygen PRIVATE_OUT PUBLIC_PEM_OUT
      a new Ed25519 key pair (python3-cryptography)
  produce BROKERS FROM_TOPIC TO_TOPIC MODE [PRIVATE]
      reads every message of FROM_TOPIC (canonical Event bytes, as twinctl
      publish packs them) and produces it to TO_TOPIC, keyed as it was, with
      MODE: "signed" (tw-signature = PRIVATE's signature of the bytes),
      "unsigned" (no header), "wrong" (a signature of other bytes),
      "forged-gateway" (a tw-gateway-token header and no signature);
      prints the count produced
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def keygen(args):
    k = Ed25519PrivateKey.generate()
    with open(args[0], "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption()))
    with open(args[1], "wb") as f:
        f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))


def read_all(brokers, topic):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "sign-%f" % time.time(),
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    left = {p for p in parts if ends[p] > 0}
    c.assign([TopicPartition(topic, p, 0) for p in left])
    out = []
    deadline = time.time() + 30
    while left and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        out.append((m.key(), m.value()))
        if m.offset() + 1 >= ends[m.partition()]:
            left.discard(m.partition())
    c.close()
    return out


def produce(args):
    brokers, src, dst, mode = args[:4]
    key = None
    if len(args) > 4:
        with open(args[4], "rb") as f:
            key = Ed25519PrivateKey.from_private_bytes(f.read())
    msgs = read_all(brokers, src)
    errors = []
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
    for k, v in msgs:
        if mode == "signed":
            headers = [("tw-signature", key.sign(v))]
        elif mode == "wrong":
            headers = [("tw-signature", key.sign(v + b"x"))]
        elif mode == "forged-gateway":
            headers = [("tw-gateway-token", b"1")]
        else:
            headers = []
        p.produce(dst, key=k, value=v, headers=headers,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    left = p.flush(30)
    if errors or left:
        print("not acknowledged: %s %d" % (errors[:3], left), file=sys.stderr)
        sys.exit(1)
    print(len(msgs))


if __name__ == "__main__":
    {"keygen": keygen, "produce": produce}[sys.argv[1]](sys.argv[2:])
