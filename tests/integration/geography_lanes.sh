#!/usr/bin/env bash
# geography_lanes.sh: since the 2025 reform one twinning's (and one pledge's)
# events come under two Kafka keys, the old code and the new (issue 13), so on
# two partitions, written by two lanes or two projectors at once. Each writes
# rows computed from what it read or cached; the row version's compare-and-set
# (services/lib/tables.h, TW_COL_VERSION) must make a lost update impossible:
# many rounds of two lanes and of two projectors, with small batches, each
# equal to one lane's digest, and the views equal to the oracle's.
. "$(dirname "$0")/harness.sh"
ROUNDS=${GEO_LANES_ROUNDS:-3}
# a topic per run: each run publishes the signings and pledges first, and
# the rest once they are in (order across two keys is not kept)
topics=(--topic twinwatch.events.v1:6 --topic twinwatch.alerts.v1:6 --topic twinwatch.audit-anchors.v1:6)
for i in $(seq "$ROUNDS"); do topics+=(--topic "xk.lanes.$i:6" --topic "xk.group.$i:6"); done
harness_up "${topics[@]}"
R=$TW_ROOT/ops/sample/reference
S=$TW_ROOT/ops/sample
LIN=(--lineage "$R/lineage-2025-07-01-da-nang.csv" --lineage "$R/lineage-2025-07-01-operator.csv")
"$PY" "$TW_ROOT/tests/integration/data/cross_keys_feed.py" "$T"

load() {
  "$TWINCTL" load-reference --by tester --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
  "$TWINCTL" load-reference --by tester "${LIN[@]}" --effective 2025-07-01 --legal-act 'Nghị quyết 1659/NQ-UBTVQH15' >/dev/null
}
load
# reference: one lane, the setup (signings, pledges) in before the rest
start_projector solo --set lanes=1
"$TWINCTL" publish "$T/setup.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "solo projector did not catch up (setup)"
"$TWINCTL" publish "$T/burst.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "solo projector did not catch up"
stop_projector solo
ref=$("$TWINCTL" digest)
events=$(($(grep -c . "$T/setup.jsonl") + $(grep -c . "$T/burst.jsonl")))
assert_eq "$(q 'SELECT count(*) FROM audit.event_log')" "$events" "events logged by one lane"
assert_eq "$(q 'SELECT count(*) FROM ingest.dead_letter')" 0 "dead letters of one lane"
# what a supervisor checks: xã La Dêê and xã Nam Giang hold every visit and
# delivery, under either code
d=$("$PY" -c 'print(8 * 2 * sum(1_000_000 + i for i in range(1, 60, 2)))')
assert_eq "$(q "SELECT string_agg(locality_code || ' ' || twinnings || ' ' || visits || ' ' || delivered_vnd, '; '
  ORDER BY locality_code) FROM supervision.locality_overview WHERE locality_code IN ('20704', '20707')")" \
  "20704 8 $((8 * 60)) $d; 20707 8 $((8 * 60)) $d" "xã La Dêê, xã Nam Giang: twinnings, visits, delivered"

# the keys must split over the lanes, or the test proves nothing: the lanes
# deal a projector's partitions in turn (README, "lanes")
split=$(q "SELECT count(*) FROM (SELECT agency_code FROM audit.event_log WHERE locality_code IN ('20701', '20707')
  AND occurred_at >= '2025-07-01' GROUP BY agency_code HAVING count(DISTINCT kafka_partition % 2) = 2) s")
[ "$split" -ge 1 ] || fail "no agency's two codes landed on partitions of different lanes"

now_ms=$(($(date +%s) * 1000))
"$PY" "$TW_ROOT/tests/integration/oracle.py" --agencies "$S/agencies.csv" --localities "$S/localities.csv" \
  --units "$S/localities.csv" "${LIN[@]}" --effective 2025-07-01 --now-ms "$now_ms" \
  --jsonl-feed "$T/setup.jsonl" --jsonl-feed "$T/burst.jsonl" \
  --geo-date 2024-12-31 --geo-date 2025-12-31 --out-geo "$T/expected" \
  --out-localities "$T/expected-localities.csv" --out-summary "$T/expected.json"
view() {
  psql -XAtq -c "COPY (SELECT locality_code, locality_name, district_code, province_code,
    former_district_code, nullif(array_to_string(former_codes, ' '), ''), twinnings, twinnings_active,
    pledges_open, pledges_fulfilled, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
    substantive_activities, formal_activities FROM $1 ORDER BY locality_code) TO STDOUT WITH CSV"
}
check_oracle() {
  for d in today 2024-12-31 2025-12-31; do
    src="supervision.locality_overview_at('$d')"
    [ "$d" = today ] && src=supervision.locality_overview
    view "$src" >"$T/actual-$d.csv"
    diff -u <(tail -n +2 "$T/expected-$d.csv") "$T/actual-$d.csv" >&2 || fail "$1: $src differs from the oracle"
  done
}
check_oracle "one lane"

# the same events, many times, into fresh databases through fresh topics:
# two lanes of one projector, then two projectors of one group, small batches
retries=0
for i in $(seq "$ROUNDS"); do
  for how in lanes group; do
    harness_db "x_${how}_$i"
    load
    topic=xk.$how.$i
    if [ $how = lanes ]; then
      start_projector "l$i" --set topic=$topic --set lanes=2 --set batch.max_events=8
      logs="$T/l$i.log"
    else
      start_projector "ga$i" --set topic=$topic --set group.id="g$i" --set lanes=1 --set batch.max_events=8
      start_projector "gb$i" --set topic=$topic --set group.id="g$i" --set lanes=1 --set batch.max_events=8
      logs="$T/ga$i.log $T/gb$i.log"
    fi
    "$TWINCTL" publish --topic $topic "$T/setup.jsonl" >/dev/null
    "$TWINCTL" --set topic=$topic wait --caught-up --timeout 60 || fail "round $i ($how) did not catch up (setup)"
    "$TWINCTL" publish --topic $topic "$T/burst.jsonl" >/dev/null
    "$TWINCTL" --set topic=$topic wait --caught-up --timeout 180 || fail "round $i ($how) did not catch up"
    for p in l$i ga$i gb$i; do [ -f "$T/$p.pid" ] && stop_projector $p; done
    got=$("$TWINCTL" digest)
    assert_eq "$got" "$ref" "round $i ($how): digest vs one lane"
    assert_eq "$(q 'SELECT count(*) FROM ingest.dead_letter')" 0 "round $i ($how): dead letters"
    check_oracle "round $i ($how)"
    # shellcheck disable=SC2086
    r=$(cat $logs | grep -c 'another projector wrote the same keys' || true)
    retries=$((retries + r))
  done
done
echo "geography_lanes: $ROUNDS rounds of two lanes and of two projectors equal one lane and the oracle ($retries batch(es) refused by the row version and retried)"
