#!/usr/bin/env bash
# rebuild.sh: twinctl rebuild recomputes the projections from the event log
# alone and lands on exactly the live projector's state: the digest is equal
# before and after; without --yes it refuses and changes nothing; a rule or
# reference-data disagreement rolls back; a projector that keeps running on
# the rebuilt state (parking, then unparking, deliveries, some of it while a
# rebuild runs) stays equal to the next rebuild.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
D=$TW_ROOT/tests/integration/data
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector projector1 # the harness stops projector*.pid on exit

# The canonical rows behind twinctl digest, to show what differs.
rows() {
  q "SELECT line FROM (SELECT 'twinning|' || row(t.*)::text AS line FROM proj.twinning t
     UNION ALL SELECT 'pledge|' || row(p.*)::text FROM proj.pledge p
     UNION ALL SELECT 'parked|' || row(k.event_id, k.agency_code, k.pledge_id, k.locality_code,
       k.amount_vnd, k.quantity, k.occurred_at)::text FROM proj.parked_delivery k
     UNION ALL SELECT 'source|' || row(s.*)::text FROM proj.source_feed s) x ORDER BY line" >"$1"
}

# check_rebuild LABEL: digest and rows, rebuild --yes, the same digest again.
check_rebuild() {
  local before after out
  before=$("$TWINCTL" digest)
  rows "$T/before.rows"
  out=$("$TWINCTL" rebuild --yes) || fail "$1: twinctl rebuild --yes exited $?"
  echo "$1: $out"
  grep -qE '^rebuilt from [0-9]+ events in .* s \([0-9]+ events/s\): [0-9]+ twinnings, [0-9]+ pledges, [0-9]+ parked, [0-9]+ sources$' <<<"$out" ||
    fail "$1: unexpected summary: $out"
  after=$("$TWINCTL" digest)
  if [ "$after" != "$before" ]; then
    rows "$T/after.rows"
    diff -u "$T/before.rows" "$T/after.rows" >&2 || true
    echo "digest before: $before" >&2
    echo "digest after:  $after" >&2
    fail "$1: the rebuilt projection differs from the live one (rows above: - live, + rebuilt)"
  fi
}

"$TWINCTL" publish "$S/feed.jsonl" "$D/edge.jsonl" >"$T/publish1.out"
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the sample"
[ "$(q 'SELECT count(*) FROM proj.pledge')" -ge 10 ] || fail "the sample did not load"

# without --yes: usage exit, a message saying what it would do, nothing changed
d0=$("$TWINCTL" digest)
set +e
out=$("$TWINCTL" rebuild 2>&1)
rc=$?
set -e
assert_eq "$rc" 2 "twinctl rebuild without --yes"
grep -q 'replaces every projection table.*--yes' <<<"$out" || fail "no --yes message: $out"
assert_eq "$("$TWINCTL" digest)" "$d0" "digest after a refused rebuild"

check_rebuild "sample and edge cases"

# A reference code the log uses is gone: the rules now refuse logged events,
# so the rebuild names them, exits 1 and leaves the projection as it was.
agency=$(q "SELECT agency_code FROM audit.event_log ORDER BY seq LIMIT 1")
q "DELETE FROM ref.agency WHERE code = '$agency'"
set +e
out=$("$TWINCTL" rebuild --yes 2>&1)
rc=$?
set -e
assert_eq "$rc" 1 "rebuild with an agency missing from the reference data"
grep -qE "event [0-9a-f-]{36} at [0-9]+@[0-9]+: unknown_agency: agency $agency" <<<"$out" ||
  fail "the refused events are not named: $out"
grep -q 'rolled back' <<<"$out" || fail "no rollback message: $out"
assert_eq "$("$TWINCTL" digest)" "$d0" "digest after a refused rebuild"
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

# More events on the rebuilt state: a twinning of its own, deliveries naming
# pledges not seen yet (parked), a new source feed.
A=$(q "SELECT code FROM ref.agency ORDER BY code LIMIT 1")
L=$(q "SELECT code FROM ref.locality WHERE level = 'commune' AND code NOT IN
       (SELECT locality_code FROM proj.twinning WHERE agency_code = '$A') ORDER BY code LIMIT 1")
[ -n "$A" ] && [ -n "$L" ] || fail "no free agency/commune pair for the extra events"
now=$(($(date +%s) * 1000))
ev() { # N BODY: one feed line occurring N minutes ago
  printf '{"agencyCode":"%s","localityCode":"%s","sourceSystem":"rebuild-test","sourceRef":"RB-%s","occurredAtMs":"%s",%s}\n' \
    "$A" "$L" "$1" "$((now - (100 - $1) * 60000))" "$2"
}
{
  ev 1 '"twinningSigned":{"programme":"Rebuild\ttest\\with\nescapes","startDate":"2024-01-01"}'
  ev 2 '"supportDelivered":{"pledgeId":"RB-P1","category":"HOUSING","amountVnd":"4000000","quantity":"1"}'
  ev 3 '"trainingDelivered":{"pledgeId":"RB-P1","audience":"RESIDENTS_VOCATIONAL","topic":"x","trainees":3,"hours":8}'
  ev 4 '"supportDelivered":{"pledgeId":"RB-P2","category":"JOB_CREATION","amountVnd":"1000000","quantity":"2"}'
  ev 5 '"visit":{"purpose":"thăm","participants":3,"giftValueVnd":"500000"}'
} >"$T/more1.jsonl"
"$TWINCTL" publish "$T/more1.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up with more1"
[ "$(q "SELECT count(*) FROM proj.parked_delivery WHERE pledge_id LIKE 'RB-P%'")" -eq 3 ] ||
  fail "the deliveries naming unseen pledges should be parked"
assert_eq "$(q "SELECT strpos(programme, E'\t') > 0 AND strpos(programme, E'\n') > 0
  AND strpos(programme, E'\\\\') > 0 FROM proj.twinning WHERE agency_code = '$A'
  AND locality_code = '$L'")" t "tab, newline and backslash in a programme"
check_rebuild "parked deliveries and escapes"

# The pledge arrives while a rebuild runs: the projector's batch waits for
# the rebuild's commit and applies the parked deliveries on the rebuilt rows.
{
  ev 6 '"supportPledged":{"pledgeId":"RB-P1","category":"HOUSING","amountVnd":"4000000","targetQuantity":"4","unit":"hộ","dueDate":"2030-12-31"}'
  ev 7 '"pledgeRevised":{"pledgeId":"RB-P1","newTargetQuantity":"4","reason":"x"}'
} >"$T/more2.jsonl"
"$TWINCTL" publish "$T/more2.jsonl" >/dev/null &
"$TWINCTL" rebuild --yes >/dev/null || fail "rebuild while the projector runs"
wait $! || fail "publish of more2"
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up with more2"
assert_eq "$(q "SELECT status || ' ' || delivered_qty FROM proj.pledge WHERE pledge_id = 'RB-P1'")" \
  "complete 4" "pledge RB-P1 after its parked deliveries"
assert_eq "$(q "SELECT count(*) FROM proj.parked_delivery WHERE pledge_id LIKE 'RB-P%'")" 1 \
  "parked deliveries left (RB-P2's)"
check_rebuild "after the projector went on"
echo "rebuild: digest $("$TWINCTL" digest) equal to the live projection after every rebuild"
