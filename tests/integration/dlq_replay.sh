#!/usr/bin/env bash
# dlq_replay.sh: twinctl dlq replay (DESIGN.md, "Validation"). An agency
# missing from the reference data gets its events dead-lettered (its
# signings as unknown_agency, and so its later events as
# twinning_not_active); replayed before the fix they are refused again (new
# dead letters, the old ones marked replayed); after twinctl load-reference
# adds the agency, a replay of the agency's dead letters, in the order the
# events occurred, makes the projection equal to that of a database that
# had the agency from the start (equal digests). Each replay is one audit
# action; a dry run and every refused replay change nothing.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
X=EVNCPC-QNA # the agency withheld
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null

# reference: the same feed with complete reference data
"$TWINCTL" load-reference --by test --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector full --set group.id=full
"$TWINCTL" wait --caught-up --timeout 120 || fail "the reference projector did not catch up"
ref=$("$TWINCTL" digest)
stop_projector full

# a second database whose reference data lacks agency X
harness_db twinwatch2
grep -v "^$X," "$S/agencies.csv" >"$T/agencies-without.csv"
"$TWINCTL" load-reference --by test --agencies "$T/agencies-without.csv" --localities "$S/localities.csv" >/dev/null
start_projector p1 --set group.id=p1
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up"
pending() { q "SELECT count(*) FROM ingest.dead_letter WHERE reason = 'unknown_agency' AND replayed_at IS NULL"; }
actions() { q "SELECT count(*) FROM audit.action_log WHERE action = 'dlq.replay'"; }
n=$(pending)
assert_eq "$(q "SELECT count(DISTINCT agency_code) FROM ingest.dead_letter WHERE reason = 'unknown_agency'")" 1 \
  "agencies dead-lettered as unknown"
all_x=$(q "SELECT count(*) FROM ingest.dead_letter WHERE agency_code = '$X'")
[ "$all_x" -eq "$n" ] || fail "every event of $X should be refused as unknown_agency: $all_x vs $n"
[ "$n" -ge 100 ] || fail "only $n events of $X dead-lettered"
[ "$("$TWINCTL" digest)" != "$ref" ] || fail "the digest should differ while $X's events are dead letters"
"$TWINCTL" status >"$T/status.out" || fail "twinctl status"
grep -qE "^unknown_agency	$n	$n	" "$T/status.out" ||
  fail "twinctl status: no \"unknown_agency $n $n\" (events, pending): $(grep -A4 'dead letters' "$T/status.out")"
"$TWINCTL" dlq list --pending --reason unknown_agency --limit 1000 >"$T/list.out"
assert_eq "$(grep -c "unknown_agency" "$T/list.out")" "$n" "dlq list --pending lines"

# a dry run sends and records nothing
"$TWINCTL" dlq replay --reason unknown_agency --by "Lê Văn C" --dry-run >"$T/dry.out" ||
  fail "dry run: $(cat "$T/dry.out")"
assert_eq "$(grep -c '^would replay dead letter' "$T/dry.out")" "$n" "dry run lines"
assert_eq "$(pending)/$(actions)" "$n/0" "pending and audit rows after a dry run"

# replayed before the fix (the signings alone): refused again, as new dead
# letters, newer than the visits refused after them
sign_ids=$(q "SELECT string_agg(id::text, ' ' ORDER BY id) FROM ingest.dead_letter
  WHERE agency_code = '$X' AND event_type = 'twinning_signed'")
nsign=$(wc -w <<<"$sign_ids")
[ "$nsign" -ge 1 ] || fail "no signing of $X among the dead letters"
first=${sign_ids%% *}
# shellcheck disable=SC2086 # one argument per id
"$TWINCTL" dlq replay $sign_ids --by "Lê Văn C" --note "thử lại" >"$T/r1.out" ||
  fail "replay: $(cat "$T/r1.out")"
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up after the replay"
assert_eq "$(pending)" "$n" "dead letters waiting after a replay before the fix (refused again)"
"$TWINCTL" status | grep -qE "^unknown_agency	$((n + nsign))	$n	" ||
  fail "twinctl status after the replay: $("$TWINCTL" status | grep -A4 'dead letters')"
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE replayed_by = 'Lê Văn C'")" "$nsign" "rows marked replayed"
assert_eq "$(actions)" 1 "audit rows after one replay"
assert_eq "$(q "SELECT format('%s|%s|%s', by_name, detail->>'note', jsonb_array_length(detail->'replayed'))
  FROM audit.action_log WHERE action = 'dlq.replay'")" "Lê Văn C|thử lại|$nsign" "the replay's audit row"
# each replay went to the offset where the projector refused it again
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter d JOIN ingest.dead_letter a
  ON a.topic = d.topic AND a.kafka_partition = d.replayed_to_partition AND a.kafka_offset = d.replayed_to_offset
  WHERE d.replayed_by = 'Lê Văn C' AND a.event_id IS NOT DISTINCT FROM d.event_id")" "$nsign" \
  "replays found again at their recorded positions"
"$TWINCTL" dlq show "$first" >"$T/show.out" || fail "dlq show $first"
grep -q "^replayed .* by Lê Văn C, to partition [0-9]* offset [0-9]*" "$T/show.out" ||
  fail "dlq show lacks the replay: $(cat "$T/show.out")"

# refused: all or nothing, no audit row
expect 1 "dead letter $first was replayed already" "$TWINCTL" dlq replay "$first" --by x
expect 1 "no dead letter 987654321" "$TWINCTL" dlq replay 987654321 --by x
expect 2 "give dead letter IDs, or --reason R and/or --agency A: not both" \
  "$TWINCTL" dlq replay "$first" --reason unknown_agency --by x
expect 2 "give dead letter IDs, or --reason R and/or --agency A: not both" "$TWINCTL" dlq replay --by x
expect 2 "an ID is a number" "$TWINCTL" dlq replay 12x --by x
assert_eq "$(actions)" 1 "audit rows after refused replays"

# the fix, then a replay of all of X's dead letters: the signings' newer
# dead letters go out in their first arrival's place, before the visits
# (by dead letter id they would come after, and the visits be refused
# again); the projection is as if X had been known all along
"$TWINCTL" load-reference --by "Lê Văn C" --agencies "$S/agencies.csv" >/dev/null
waiting_x=$(q "SELECT count(*) FROM ingest.dead_letter WHERE agency_code = '$X' AND replayed_at IS NULL")
"$TWINCTL" dlq replay --agency "$X" --by "Lê Văn C" --note "đã bổ sung $X" >"$T/r2.out" ||
  fail "replay after the fix: $(cat "$T/r2.out")"
assert_eq "$(grep -c '^dead letter .* replayed to ' "$T/r2.out")" "$waiting_x" "dead letters of $X replayed"
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up after the second replay"
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE agency_code = '$X' AND replayed_at IS NULL")" 0 \
  "dead letters of $X waiting once $X is known"
# the rows twinctl digest hashes, to name what differs when the digests do
rows_of() {
  PGDATABASE=$1 psql -XAtq -c "SELECT 'twinning|' || row(t.*)::text FROM proj.twinning t
    UNION ALL SELECT 'pledge|' || row(p.*)::text FROM proj.pledge p
    UNION ALL SELECT 'source|' || row(s.*)::text FROM proj.source_feed s ORDER BY 1"
}
if [ "$("$TWINCTL" digest)" != "$ref" ]; then
  diff <(rows_of twinwatch) <(rows_of twinwatch2) | head -n 12 >&2
  fail "digest after the fix and replay differs from complete reference data (< complete, > replayed)"
fi
assert_eq "$(actions)" 2 "audit rows after two replays"
"$TWINCTL" dlq replay --agency "$X" --by "Lê Văn C" | grep -q "no dead letter of agency $X waits" ||
  fail "a replay with nothing waiting"
assert_eq "$(actions)" 2 "audit rows after a replay with nothing to do"
"$TWINCTL" audit verify >"$T/verify.out" || fail "audit verify after the replays: $(cat "$T/verify.out")"
stop_projector p1
echo "dlq replay: $n unknown_agency dead letters refused again before the fix; $waiting_x of $X replayed after it; digest equal to complete reference data"
