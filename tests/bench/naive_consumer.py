#!/usr/bin/python3
"""naive_consumer.py: the consumer a user would write instead of twinwatch's
projector, as ops/bench's "naive" baseline (DESIGN.md, Targets).

It uses Debian's python3-confluent-kafka, python3-psycopg2 and
python3-protobuf. It joins a new consumer group from the earliest offset,
decodes each message with the protobuf module generated from
proto/twinwatch/v1/events.proto (protoc --python_out; ops/bench generates it
into its temporary directory and passes --pb-path), and for every message:
one INSERT ... ON CONFLICT (event_id) DO NOTHING of the main columns plus the
payload, one upsert of the partition's next offset, and one COMMIT. That is
honest at-least-once-with-dedup, durable per message, and it is the shape of
most hand-written consumers.

It stops after --seconds counted from the first message, or once it has
--max-events messages, and prints one JSON line:
  {"events": N, "seconds": S, "events_per_s": R, "join_s": J}
where S runs from the first message received to the last commit, and J is
the time from subscribing to the first message (group join, not counted).

PostgreSQL comes from the PG* environment variables (libpq).
"""
import argparse
import json
import sys
import time
import uuid


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", default="twinwatch.events.v1")
    ap.add_argument("--group", required=True, help="a new consumer group")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-events", type=int, default=0, help="0: no limit")
    ap.add_argument("--pb-path", required=True,
                    help="directory holding twinwatch/v1/events_pb2.py")
    ap.add_argument("--join-timeout", type=float, default=60.0)
    a = ap.parse_args()

    sys.path.insert(0, a.pb_path)
    from twinwatch.v1 import events_pb2  # generated at run time
    from confluent_kafka import Consumer, KafkaException
    import psycopg2

    pg = psycopg2.connect("")
    cur = pg.cursor()
    cur.execute("""
      CREATE SCHEMA IF NOT EXISTS bench_naive;
      CREATE TABLE IF NOT EXISTS bench_naive.event (
        event_id uuid PRIMARY KEY, topic text NOT NULL, kafka_partition integer NOT NULL,
        kafka_offset bigint NOT NULL, event_type text NOT NULL, agency_code text NOT NULL,
        locality_code text NOT NULL, pledge_id text, occurred_at timestamptz NOT NULL,
        recorded_at timestamptz, source_system text NOT NULL, source_ref text NOT NULL,
        payload bytea NOT NULL, logged_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE IF NOT EXISTS bench_naive.partition_offset (
        topic text NOT NULL, kafka_partition integer NOT NULL, next_offset bigint NOT NULL,
        PRIMARY KEY (topic, kafka_partition));""")
    pg.commit()

    c = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": a.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    })
    c.subscribe([a.topic])

    ins = ("INSERT INTO bench_naive.event (event_id, topic, kafka_partition, kafka_offset,"
           " event_type, agency_code, locality_code, pledge_id, occurred_at, recorded_at,"
           " source_system, source_ref, payload)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s / 1000.0),"
           " to_timestamp(%s / 1000.0), %s, %s, %s)"
           " ON CONFLICT (event_id) DO NOTHING")
    off = ("INSERT INTO bench_naive.partition_offset (topic, kafka_partition, next_offset)"
           " VALUES (%s, %s, %s) ON CONFLICT (topic, kafka_partition)"
           " DO UPDATE SET next_offset = excluded.next_offset")

    t_sub = time.monotonic()
    t_first = t_last = None
    n = 0
    while True:
        now = time.monotonic()
        if t_first is None and now - t_sub > a.join_timeout:
            print("naive_consumer: no message within %.0fs of subscribing" % a.join_timeout,
                  file=sys.stderr)
            return 1
        if t_first is not None and now - t_first >= a.seconds:
            break
        if a.max_events and n >= a.max_events:
            break
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        if t_first is None:
            t_first = time.monotonic()
        ev = events_pb2.Event.FromString(m.value())
        body = ev.WhichOneof("body") or "unknown"
        pledge = None
        if body != "unknown":
            b = getattr(ev, body)
            if "pledge_id" in b.DESCRIPTOR.fields_by_name and b.pledge_id:
                pledge = b.pledge_id
        cur.execute(ins, (str(uuid.UUID(ev.event_id)), m.topic(), m.partition(), m.offset(),
                          body, ev.agency_code, ev.locality_code, pledge, ev.occurred_at_ms,
                          ev.recorded_at_ms or None, ev.source_system, ev.source_ref,
                          psycopg2.Binary(m.value())))
        cur.execute(off, (m.topic(), m.partition(), m.offset() + 1))
        pg.commit()
        n += 1
        t_last = time.monotonic()
    c.close()
    pg.close()
    secs = (t_last - t_first) if n > 1 else 0.0
    print(json.dumps({"events": n, "seconds": round(secs, 3),
                      "events_per_s": round(n / secs, 1) if secs > 0 else 0.0,
                      "join_s": round(t_first - t_sub, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
