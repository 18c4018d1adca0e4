#!/usr/bin/python3
"""cross_keys_feed.py OUTDIR: writes setup.jsonl and burst.jsonl, one feed of tests/integration/geography_lanes.sh.
Eight agencies each signed with xã Đắc Tôi (20705) and with xã Zuôih (20701)
in 2024 and pledged in each; after the 2025 reform their sources send,
interleaved, visits and deliveries under the old codes (20705, 20701: mapped
to xã La Dêê, xã Nam Giang) and under the new ones (20704, 20707): two Kafka
keys each (agency|20705 and agency|20704, ...), so two partitions, for one
twinning row and one pledge row. (With the default partitioner, crc32, the
keys agency|20705 and agency|20704 always fall on partitions of one parity,
so one lane; agency|20701 and agency|20707 on partitions of both.) The signings and pledges (setup) go
first: order across the two keys is not kept."""
import json, os, sys, uuid
from datetime import datetime, timedelta, timezone

LOCAL = timezone(timedelta(hours=7))
NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event")
AGENCIES = ["PETROLIMEX-QNA", "EVNCPC-QNA", "VCB-QNA", "AGRIBANK-QNA", "BIDV-QNA", "VNPT-QNA",
            "VIETTEL-QNA", "SO-YTE"]
ROUNDS = 60  # per agency and code
n = 0


def ev(agency, loc, when, body):
    global n
    n += 1
    ref = f"xk-{n:05d}"
    return {"eventId": str(uuid.uuid5(NS, "cross-keys\n" + ref)), "agencyCode": agency,
            "localityCode": loc, "occurredAtMs": str(int(when.timestamp() * 1000)),
            "sourceSystem": "xk-" + agency.lower(), "sourceRef": ref, **body}


out = []
PAIRS = (("20705", "20704", "1"), ("20701", "20707", "2"))  # old, new, pledge
for a in AGENCIES:
    for old, _, pl in PAIRS:
        out.append(ev(a, old, datetime(2024, 2, 1, 9, tzinfo=LOCAL),
                      {"twinningSigned": {"programme": "Kết nghĩa " + old, "startDate": "2024-02-01"}}))
        out.append(ev(a, old, datetime(2024, 3, 1, 9, tzinfo=LOCAL),
                      {"supportPledged": {"pledgeId": f"XK-{a}-{pl}", "category": "ECONOMIC_MODEL",
                                          "amountVnd": "900000000000", "dueDate": "2027-12-31",
                                          "funding": "OWN_BUDGET"}}))
setup, out = out, []
t0 = datetime(2025, 8, 1, 8, tzinfo=LOCAL)
for i in range(ROUNDS):
    if i == ROUNDS // 2:
        for a in AGENCIES:
            out.append(ev(a, "20701", t0 + timedelta(hours=i, minutes=-30),
                          {"supportPledged": {"pledgeId": f"XK-{a}-3", "category": "ECONOMIC_MODEL",
                                              "amountVnd": "800000000000", "dueDate": "2027-12-31",
                                              "funding": "OWN_BUDGET"}}))
    for a in AGENCIES:
        for old, new, pl in PAIRS:
            for code in (old, new):
                when = t0 + timedelta(hours=i, minutes=1 if code == new else 0)
                if i % 2:
                    # Nam Giang's new code delivers on a pledge made in the
                    # middle of the burst under the old one: parked until
                    # it comes, when read first
                    pid = f"XK-{a}-3" if code == "20707" else f"XK-{a}-{pl}"
                    body = {"supportDelivered": {"pledgeId": pid, "category": "ECONOMIC_MODEL",
                                                 "amountVnd": str(1_000_000 + i)}}
                else:
                    body = {"visit": {"purpose": "Thăm, làm việc", "participants": 3,
                                      "giftValueVnd": str(100_000 + i)}}
                out.append(ev(a, code, when, body))
for name, evs in (("setup", setup), ("burst", out)):
    with open(os.path.join(sys.argv[1], name + ".jsonl"), "w", encoding="utf-8") as f:
        for e in evs:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
