#!/usr/bin/python3
"""geo_feed.py OUTDIR: writes the two feeds of tests/integration/geography.sh, a
story across the 2025 reorganisation on the real codes (ops/sample/reference):
  before.jsonl  up to the lineage load: twinnings signed 2021-2024 with pre-reform
                communes, and one event under a code the reference data does not
                know yet (đặc khu Hoàng Sa, 20333, new on 1 July 2025);
  after.jsonl   after it (later.jsonl: one more, once after.jsonl is in): old codes, new codes, a reused code (20704, 20707), a split
                (xã Hòa Liên 20296: ambiguous), a retype (20695), two merging twinnings
                of one agency, a new code for a date before it existed, and the 2025
                Đà Nẵng pairings of lowland wards with mountainous communes."""
import json, os, sys, uuid
from datetime import datetime, timedelta, timezone

LOCAL = timezone(timedelta(hours=7))
NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event")
n = 0


def ev(agency, loc, day, body):
    global n
    n += 1
    ms = int(datetime.fromisoformat(day).replace(hour=9, tzinfo=LOCAL).timestamp() * 1000)
    ref = f"geo-{n:03d}"
    return {"eventId": str(uuid.uuid5(NS, "geo-test\n" + ref)), "agencyCode": agency,
            "localityCode": loc, "occurredAtMs": str(ms), "sourceSystem": "geo-test",
            "sourceRef": ref, **body}


def sign(p):
    return {"twinningSigned": {"programme": p, "startDate": "2021-10-01"}}


def visit(gift=0):
    return {"visit": {"purpose": "Thăm, làm việc", "participants": 8, "giftValueVnd": str(gift)}}


def pledge(pid, amount, due):
    return {"supportPledged": {"pledgeId": pid, "category": "ECONOMIC_MODEL",
                               "amountVnd": str(amount), "dueDate": due, "funding": "OWN_BUDGET"}}


def deliver(pid, amount, cat="ECONOMIC_MODEL"):
    return {"supportDelivered": {"pledgeId": pid, "category": cat, "amountVnd": str(amount)}}


def train(trainees):
    return {"trainingDelivered": {"audience": "LOCAL_CADRES", "topic": "Chuyển đổi số",
                                  "trainees": trainees, "hours": 16}}


before = [
    ev("PETROLIMEX-QNA", "20705", "2021-10-01", sign("Kết nghĩa với xã Đắc Tôi")),
    ev("PETROLIMEX-QNA", "20704", "2022-05-01", sign("Kết nghĩa với xã La Dêê")),
    ev("PETROLIMEX-QNA", "20705", "2024-03-01", pledge("P-DT-1", 100_000_000, "2025-12-31")),
    ev("PETROLIMEX-QNA", "20705", "2024-09-01", deliver("P-DT-1", 40_000_000)),
    ev("PETROLIMEX-QNA", "20704", "2023-02-01", visit(5_000_000)),
    ev("CONGAN-TINH", "20707", "2022-01-10", sign("Kết nghĩa với xã Chà Vàl")),
    ev("CONGAN-TINH", "20701", "2023-01-10", sign("Kết nghĩa với xã Zuôih")),
    ev("CONGAN-TINH", "20701", "2024-05-01", train(25)),
    ev("BIDV-QNA", "20695", "2023-04-01", sign("Kết nghĩa với thị trấn Thạnh Mỹ")),
    ev("BIDV-QNA", "20695", "2024-06-01", deliver("", 200_000_000, "INFRASTRUCTURE")),
    ev("VCB-QNA", "20296", "2023-03-01", sign("Kết nghĩa với xã Hòa Liên")),
    ev("VCB-QNA", "20296", "2024-10-01", visit(2_000_000)),
    ev("BDBP-TINH", "20333", "2025-09-02", sign("Đồng hành cùng đặc khu Hoàng Sa")),
]
after = [
    ev("PETROLIMEX-QNA", "20705", "2025-08-01", visit(3_000_000)),          # old code: mapped
    ev("PETROLIMEX-QNA", "20705", "2026-02-01", pledge("P-LD-2", 80_000_000, "2026-06-30")),
    ev("CONGAN-TINH", "20701", "2025-08-10", visit()),                      # Zuôih -> Nam Giang
    ev("CONGAN-TINH", "20707", "2025-10-01", train(30)),                    # reused code
    ev("BIDV-QNA", "20695", "2025-07-15", visit(1_000_000)),                # xã Thạnh Mỹ
    ev("VCB-QNA", "20296", "2025-08-20", visit()),                          # split: ambiguous
    ev("VCB-QNA", "20197", "2025-08-21", visit()),                          # a part's new code
    ev("P-HOACUONG", "20923", "2025-08-25", sign("Phường Hòa Cường – xã Trà Tân")),
    ev("P-HOACUONG", "20923", "2025-09-01", pledge("P-HC-1", 50_000_000, "2026-06-30")),
    ev("P-HAICHAU", "20443", "2025-08-25", sign("Phường Hải Châu – xã Hùng Sơn")),
    ev("P-HAICHAU", "20443", "2026-01-10", visit(4_000_000)),
    ev("BDBP-TINH", "20333", "2025-10-01", visit()),
    ev("BDBP-TINH", "20333", "2025-06-15", visit()),  # before the zone existed: huyện Hoàng Sa
    ev("PETROLIMEX-QNA", "99999", "2025-08-01", visit()),  # never a code
]
# Under another code than its twinning's, an event travels under another
# Kafka key, so maybe another partition: published once the rest is in
# (docs/projection-rules.md, "Order across codes").
later = [
    ev("PETROLIMEX-QNA", "20704", "2025-09-15", deliver("P-DT-1", 60_000_000)),  # new code
    ev("PETROLIMEX-QNA", "20704", "2026-05-01", deliver("P-LD-2", 30_000_000)),
    ev("P-HOACUONG", "20926", "2026-03-01", deliver("P-HC-1", 20_000_000)),  # Trà Giác's code
]
out = sys.argv[1]
for name, evs in (("before", before), ("after", after), ("later", later)):
    with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
        for e in evs:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
