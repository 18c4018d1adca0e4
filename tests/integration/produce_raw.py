#!/usr/bin/python3
"""produce_raw.py BROKERS TOPIC HEX [HEX...]: produces raw bytes (given in
hex, "-" for an empty message) as messages, for poison tests. Uses Debian's
python3-confluent-kafka; exits 1 unless every message is acknowledged."""
import sys

from confluent_kafka import Producer

brokers, topic, payloads = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []
p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all"})
for h in payloads:
    p.produce(topic, value=b"" if h == "-" else bytes.fromhex(h),
              on_delivery=lambda err, msg: errors.append(err) if err else None)
left = p.flush(30)
if errors or left:
    print(f"produce_raw: {len(errors)} failed, {left} unacknowledged: {errors[:3]}", file=sys.stderr)
    sys.exit(1)
