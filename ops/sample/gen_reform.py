#!/usr/bin/python3
"""gen_reform.py: writes ops/sample/feed-reform.jsonl, the sample's events that only make
sense with the 2025 reorganisation loaded (ops/up loads it; see README.md here):

- the 2025 Đà Nẵng pairings of lowland wards (as supporting parties) with mountainous
  communes, from the city's Resolution 02-NQ/TU (29 July 2025) and Công văn 389
  (25 August 2025): phường Hòa Cường – xã Trà Tân, phường Hải Châu – xã Hùng Sơn,
  phường Hòa Khánh – xã Sông Kôn, under the communes' new codes;
- events under new codes for twinnings signed with the old communes (Petrolimex's
  twinning with xã Đắc Tôi, 20705, reported under xã La Dêê's 20704);
- an illustrative twinning of MTTQ-TINH with xã Hòa Liên (20296, split in 2025 between
  phường Hải Vân and phường Liên Chiểu), and an event under 20296 after the split: a
  locality_ambiguous dead letter naming both.

Published after feed.jsonl is in (an event under another code than its twinning's
travels under another Kafka key; docs/projection-rules.md, "Order across codes").
Deterministic, standard library only.

    /usr/bin/python3 ops/sample/gen_reform.py --out ops/sample/feed-reform.jsonl
"""
import argparse
import json
import uuid
from datetime import datetime, timedelta, timezone

LOCAL = timezone(timedelta(hours=7))
NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event")


def ev(agency, loc, when, src, ref, body, actor="Cán bộ phụ trách"):
    ms = int(datetime.fromisoformat(when).replace(tzinfo=LOCAL).timestamp() * 1000)
    return {"eventId": str(uuid.uuid5(NS, src + "\n" + ref)), "schemaVersion": 1,
            "agencyCode": agency, "localityCode": loc, "occurredAtMs": str(ms),
            "recordedAtMs": str(ms + 3_600_000), "sourceSystem": src, "sourceRef": ref,
            "actor": actor, **body}


def events():
    out = []
    # the 2025 pairings (Công văn 389, 25 August 2025)
    hc, hcs = "P-HOACUONG", "hoacuong-egov"
    out += [
        ev(hc, "20923", "2025-08-25T09:00", hcs, "KN-2025-01", {"twinningSigned": {
            "programme": "Phường Hòa Cường kết nghĩa với xã Trà Tân (Công văn 389)",
            "startDate": "2025-08-25"}}),
        ev(hc, "20923", "2025-09-10T09:00", hcs, "CT-2025-01", {"visit": {
            "purpose": "Khảo sát, làm việc với UBND xã Trà Tân", "participants": 9}}),
        ev(hc, "20923", "2025-09-20T09:00", hcs, "KN-2025-02", {"supportPledged": {
            "pledgeId": "HC-2025-01", "category": "ECONOMIC_MODEL", "amountVnd": "150000000",
            "targetQuantity": "30", "unit": "hộ", "dueDate": "2026-06-30",
            "funding": "MOBILISED"}}),
        ev(hc, "20923", "2025-12-15T09:00", hcs, "GN-2025-01", {"supportDelivered": {
            "pledgeId": "HC-2025-01", "category": "ECONOMIC_MODEL", "amountVnd": "60000000",
            "quantity": "12", "evidenceRef": "BB-HC-01"}}),
        ev(hc, "20923", "2026-03-12T09:00", hcs, "DT-2026-01", {"trainingDelivered": {
            "pledgeId": "HC-2025-01", "audience": "RESIDENTS_VOCATIONAL",
            "topic": "Kỹ thuật trồng quế Trà My", "trainees": 18, "hours": 24}}),
        ev(hc, "20923", "2026-06-20T09:00", hcs, "GN-2026-01", {"supportDelivered": {
            "pledgeId": "HC-2025-01", "category": "ECONOMIC_MODEL", "amountVnd": "90000000",
            "evidenceRef": "BB-HC-02"}}),
    ]
    h, hs = "P-HAICHAU", "haichau-egov"
    out += [
        ev(h, "20443", "2025-08-25T10:00", hs, "KN-2025-01", {"twinningSigned": {
            "programme": "Phường Hải Châu kết nghĩa với xã Hùng Sơn (Công văn 389)",
            "startDate": "2025-08-25"}}),
        ev(h, "20443", "2025-10-05T09:00", hs, "KN-2025-02", {"supportPledged": {
            "pledgeId": "HCH-2025-01", "category": "HOUSING", "amountVnd": "200000000",
            "targetQuantity": "10", "unit": "căn nhà", "dueDate": "2026-09-30",
            "funding": "MOBILISED"}}),
        ev(h, "20443", "2026-01-20T09:00", hs, "GN-2026-01", {"supportDelivered": {
            "pledgeId": "HCH-2025-01", "category": "HOUSING", "amountVnd": "100000000",
            "quantity": "5", "evidenceRef": "BB-HCH-01"}}),
        ev(h, "20443", "2026-02-10T09:00", hs, "CT-2026-01", {"visit": {
            "purpose": "Thăm, tặng quà Tết Bính Ngọ", "participants": 12,
            "giftValueVnd": "30000000"}}),
    ]
    k, ks = "P-HOAKHANH", "hoakhanh-egov"
    out += [
        ev(k, "20476", "2025-08-26T09:00", ks, "KN-2025-01", {"twinningSigned": {
            "programme": "Phường Hòa Khánh kết nghĩa với xã Sông Kôn (Công văn 389)",
            "startDate": "2025-08-26"}}),
        ev(k, "20476", "2025-10-15T09:00", ks, "KN-2025-02", {"supportPledged": {
            "pledgeId": "HK-2025-01", "category": "JOB_CREATION", "targetQuantity": "15",
            "unit": "việc làm", "dueDate": "2026-12-31", "funding": "MOBILISED"}}),
        ev(k, "20476", "2026-05-05T09:00", ks, "GN-2026-01", {"supportDelivered": {
            "pledgeId": "HK-2025-01", "category": "JOB_CREATION", "quantity": "6",
            "evidenceRef": "HĐLĐ-HK-01"}}),
    ]
    # a new code for an old twinning: Petrolimex's system switched to La Dêê's 20704
    p, ps = "PETROLIMEX-QNA", "petrolimex-erp"
    out += [
        ev(p, "20704", "2026-09-10T09:00", ps, "CT-2026-LD-01", {"visit": {
            "purpose": "Làm việc với UBND xã La Dêê (mới) về kế hoạch 2027", "participants": 6}}),
        ev(p, "20704", "2026-10-05T09:00", ps, "GN-2026-LD-01", {"supportDelivered": {
            "category": "SOCIAL_SECURITY", "amountVnd": "40000000", "quantity": "40",
            "evidenceRef": "PX-2026-LD-01"}}),
    ]
    # illustrative: a twinning with xã Hòa Liên, split on 1 July 2025
    m, ms = "MTTQ-TINH", "mttq-export"
    out += [
        ev(m, "20296", "2023-05-19T09:00", ms, "HL-2023-01", {"twinningSigned": {
            "programme": "Kết nghĩa với xã Hòa Liên (minh họa)", "startDate": "2023-05-19"}}),
        ev(m, "20296", "2024-09-02T09:00", ms, "HL-2024-01", {"visit": {
            "purpose": "Thăm, tặng quà", "participants": 5, "giftValueVnd": "10000000"}}),
        ev(m, "20296", "2025-09-05T09:00", ms, "HL-2025-01", {"visit": {
            "purpose": "Thăm sau sắp xếp (mã cũ: không rõ phường nào)", "participants": 5}}),
    ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for e in events():
            f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
