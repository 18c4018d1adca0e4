#!/usr/bin/env bash
# Self-check of tests/integration/oracle.py against numbers computed by hand
# from docs/projection-rules.md. Usage: test_oracle_selfcheck.sh REPO_ROOT
set -euo pipefail

root=${1:?usage: $0 REPO_ROOT}
oracle="$root/tests/integration/oracle.py"
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "oracle self-check FAILED: $*" >&2; exit 1; }

# Our own minimal reference data (ops/sample is not relied upon).
cat >"$work/agencies.csv" <<'EOF'
code,name,kind
SXD,Sở Xây dựng,department
EOF
cat >"$work/localities.csv" <<'EOF'
code,name,level,parent_code,ethnic_minority,mountainous,border,especially_difficult
P01,Tỉnh Mẫu,province,,false,false,false,false
D01,Huyện Núi,district,P01,true,true,false,false
C001,Xã Một,commune,D01,true,true,true,true
C002,Xã Hai,commune,D01,true,false,false,false
EOF

# now = 2026-08-01T00:00:00Z, so today (UTC+7) is 2026-08-01.
now_ms=1785542400000

# Times (UTC 02:00 of the day): 01-10 1768010400000, 01-15 1768442400000,
# 01-20 1768874400000, 02-01 1769911200000, 02-05 1770256800000,
# 03-01 1772330400000, 03-10 1773108000000, 03-15 1773540000000,
# 03-20 1773972000000, 03-28 1774663200000, 04-01 1775008800000,
# 04-02 1775095200000, 04-03 1775181600000.
# Line 10 has no eventId: it gets uuid5(uuid5(URL, "urn:twinwatch:event"),
# "qlkn\nr10") = fe424e94-a7c1-5125-816a-fe58aed6141b, which line 13 reuses
# with another amount (the conflicting duplicate).
cat >"$work/feed.jsonl" <<'EOF'
{"eventId":"00000000-0000-4000-8000-000000000001","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1768010400000","sourceSystem":"qlkn","sourceRef":"r1","twinningSigned":{"programme":"NTM 2026","startDate":"2026-01-10","endDate":"2030-12-31"}}
{"eventId":"00000000-0000-4000-8000-000000000002","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":1768442400000,"sourceSystem":"qlkn","sourceRef":"r2","supportDelivered":{"pledgeId":"P1","category":"ECONOMIC_MODEL","amountVnd":"30000000"}}
{"eventId":"00000000-0000-4000-8000-000000000003","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1768874400000","sourceSystem":"qlkn","sourceRef":"r3","supportPledged":{"pledgeId":"P1","category":"ECONOMIC_MODEL","amountVnd":"100000000","dueDate":"2026-06-30","funding":"OWN_BUDGET"}}
{"eventId":"00000000-0000-4000-8000-000000000004","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1769911200000","sourceSystem":"qlkn","sourceRef":"r4","supportDelivered":{"pledgeId":"P1","category":"HOUSING","amountVnd":19000000,"evidenceRef":"bb-04"}}
{"eventId":"00000000-0000-4000-8000-000000000005","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1770256800000","sourceSystem":"qlkn","sourceRef":"r5","supportPledged":{"pledgeId":"P2","category":"VOCATIONAL_TRAINING","amountVnd":"351000000","targetQuantity":"40","unit":"học viên","dueDate":"2026-07-31"}}
{"eventId":"00000000-0000-4000-8000-000000000006","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1772330400000","sourceSystem":"qlkn","sourceRef":"r6","trainingDelivered":{"pledgeId":"P2","audience":"RESIDENTS_VOCATIONAL","topic":"may","trainees":25,"hours":40}}
{"eventId":"00000000-0000-4000-8000-000000000007","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1773108000000","sourceSystem":"qlkn","sourceRef":"r7","visit":{"purpose":"Tết","participants":12,"giftValueVnd":"5000000"}}
{"eventId":"00000000-0000-4000-8000-000000000008","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1773540000000","sourceSystem":"qlkn","sourceRef":"r8","pledgeRevised":{"pledgeId":"P1","newAmountVnd":"49000000","reason":"scope cut"}}
{"eventId":"00000000-0000-4000-8000-000000000009","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1773972000000","sourceSystem":"qlkn","sourceRef":"r9","supportPledged":{"pledgeId":"P3","category":"SOCIAL_SECURITY","amountVnd":"20000000","dueDate":"2026-09-30"}}
{"schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1774663200000","sourceSystem":"qlkn","sourceRef":"r10","supportDelivered":{"category":"JOB_CREATION","amountVnd":"2000000","quantity":"7"}}
{"eventId":"00000000-0000-4000-8000-000000000011","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1775008800000","sourceSystem":"qlkn","sourceRef":"r11","pledgeCancelled":{"pledgeId":"P3","reason":"merged"}}
{"eventId":"00000000-0000-4000-8000-000000000007","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1773108000000","sourceSystem":"qlkn","sourceRef":"r7","visit":{"purpose":"Tết","participants":12,"giftValueVnd":"5000000"}}
{"eventId":"fe424e94-a7c1-5125-816a-fe58aed6141b","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1774663200000","sourceSystem":"qlkn","sourceRef":"r10","supportDelivered":{"category":"JOB_CREATION","amountVnd":"3000000","quantity":"7"}}
{"eventId":"00000000-0000-4000-8000-000000000014","schemaVersion":1,"agencyCode":"SXD","localityCode":"C001","occurredAtMs":"1775095200000","sourceSystem":"qlkn","sourceRef":"r14","pledgeRevised":{"pledgeId":"P9","newDueDate":"2026-12-31"}}
{"eventId":"00000000-0000-4000-8000-000000000015","schemaVersion":1,"agencyCode":"XYZ","localityCode":"C001","occurredAtMs":"1775181600000","sourceSystem":"other","sourceRef":"r15","visit":{"purpose":"khảo sát","giftValueVnd":"1"}}
EOF

# A CSV feed (with a UTF-8 BOM) for a second twinning: signed 02-01, a visit
# 02-10 (1770688800000), ended 05-01 (not activity); the last row sets an
# unknown field and is refused at publish.
{
  printf '\xef\xbb\xbf'
  cat <<'EOF'
eventId,agencyCode,localityCode,occurredAtMs,sourceSystem,sourceRef,type,twinningSigned.programme,visit.giftValueVnd,visit.participants,visit.colour
00000000-0000-4000-8000-000000000101,SXD,C002,1769911200000,qlkn,c1,twinning_signed,NTM,,,
00000000-0000-4000-8000-000000000102,SXD,C002,1770688800000,qlkn,c2,visit,,1000000,5,
00000000-0000-4000-8000-000000000103,SXD,C002,1777600800000,qlkn,c3,TwinningEnded,,,,
00000000-0000-4000-8000-000000000104,SXD,C002,1777600800000,qlkn,c4,visit,,1,1,blue
EOF
} >"$work/feed.csv"

"$py" "$oracle" --agencies "$work/agencies.csv" --localities "$work/localities.csv" \
  --now-ms "$now_ms" --jsonl-feed "$work/feed.jsonl" --csv-feed "$work/feed.csv" \
  --out-localities "$work/out.csv" --out-summary "$work/out.json" --partitions 6 \
  2>"$work/oracle.err" || { cat "$work/oracle.err" >&2; fail "oracle exited non-zero"; }

# C001: P1 complete (30M parked + 19M, revised down to 49M), P2 open and
# overdue (due 07-31 < today), P3 cancelled; pledged 49M + 351M = 400M,
# fulfilled 49M -> 12.25 % -> 12.3 (half up); delivered 30+19+2 = 51M;
# substantive = ECONOMIC_MODEL delivery + training + JOB_CREATION delivery;
# formal = HOUSING delivery + visit; last activity = the 03-28 delivery.
cat >"$work/expected.csv" <<'EOF'
locality_code,twinnings_active,pledges_open,pledges_fulfilled,pledges_cancelled,pledges_overdue,pledged_vnd,delivered_vnd,fulfilment_pct,visits,gift_value_vnd,trainees,jobs,models_replicated,substantive_activities,formal_activities,last_activity_ms
C001,1,1,1,1,1,400000000,51000000,12.3,1,5000000,25,7,0,3,2,1774663200000
C002,0,0,0,0,0,0,0,,1,1000000,0,0,0,0,1,1770688800000
EOF
if ! diff -u "$work/expected.csv" "$work/out.csv" >&2; then
  fail "locality CSV differs from the hand-computed one (diff above)"
fi

"$py" - "$work/out.json" <<'EOF' || fail "summary JSON differs from the hand-computed one"
import json, sys
got = json.load(open(sys.argv[1]))
want = {
    "events": 18, "accepted": 14, "duplicates": 1, "dead_letters": 3,
    "dead_letter_reasons": {"conflicting_duplicate": 1, "unknown_agency": 1, "unknown_pledge": 1},
    "refused_at_publish": 1, "parked_applied": 1, "parked_open": 0,
    "agencies": {"SXD": {"pledged_vnd": 400000000, "delivered_vnd": 51000000, "visits": 2,
                         "substantive_activities": 3, "formal_activities": 3}},
}
bad = [f"  {k}: got {got.get(k)!r}, want {v!r}" for k, v in want.items() if got.get(k) != v]
if bad:
    print("summary mismatch:\n" + "\n".join(bad), file=sys.stderr)
    sys.exit(1)
EOF

echo "oracle self-check passed"
