#!/usr/bin/env bash
# geography.sh: a feed across the 2025 reorganisation on the real codes
# (issue 13). Views in today's geography and in that of 2024-12-31 and
# 2025-12-31 equal the oracle's, row for row; a split is a locality_ambiguous
# dead letter naming the candidates; a late lineage load followed by
# dlq replay --reason unknown_locality recovers an event under a new code;
# rebuild gives the same digest; alert texts name the former commune.
. "$(dirname "$0")/harness.sh"
harness_up
R=$TW_ROOT/ops/sample/reference
S=$TW_ROOT/ops/sample
"$PY" "$TW_ROOT/tests/integration/data/geo_feed.py" "$T"
cp "$S/agencies.csv" "$T/agencies.csv"
printf 'P-HOACUONG,Phường Hòa Cường,locality\nP-HAICHAU,Phường Hải Châu,locality\n' >>"$T/agencies.csv"
LIN=(--lineage "$R/lineage-2025-07-01-da-nang.csv" --lineage "$R/lineage-2025-07-01-operator.csv")

"$TWINCTL" load-reference --by tester --agencies "$T/agencies.csv" --localities "$TW_ROOT/ops/sample/localities.csv" >/dev/null
start_projector p1
"$TWINCTL" publish "$T/before.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up (before)"
assert_eq "$(q "SELECT reason || ' ' || locality_code FROM ingest.dead_letter")" "unknown_locality 20333" \
  "a code the reference data does not know yet"

# the lineage arrives late; the operator replays what it explains
"$TWINCTL" load-reference --by tester "${LIN[@]}" --effective 2025-07-01 \
  --legal-act 'Nghị quyết 1659/NQ-UBTVQH15 và 202/2025/QH15' >/dev/null
"$TWINCTL" dlq replay --reason unknown_locality --by tester >/dev/null
"$TWINCTL" publish "$T/after.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up (after)"
"$TWINCTL" publish "$T/later.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up (later)"

# dead letters: the split names its candidates; a code never known stays unknown
assert_eq "$(q "SELECT string_agg(reason || ' ' || locality_code, '; ' ORDER BY reason) FROM ingest.dead_letter
  WHERE id > (SELECT min(id) FROM ingest.dead_letter)")" \
  "locality_ambiguous 20296; twinning_not_active 20333; unknown_locality 99999" "dead letters after the reform"
q "SELECT message FROM ingest.dead_letter WHERE reason = 'locality_ambiguous'" | grep -q 'could be any of 20194, 20197' ||
  fail "the ambiguous dead letter names its candidates: $(q "SELECT message FROM ingest.dead_letter WHERE reason = 'locality_ambiguous'")"
assert_eq "$(q "SELECT count(*) FROM audit.event_log WHERE locality_code = '20705' AND occurred_at >= '2025-07-01'")" 2 \
  "the log keeps the code as sent"

# the log keeps codes as sent; the projection's reading of them is on record
assert_eq "$(q "SELECT string_agg(code_sent || '>' || unit_code, ' ' ORDER BY code_sent) FROM supervision.event_locality
  WHERE mapped")" "20701>20707 20705>20704 20705>20704 20926>20923" "events read under another unit's code"

# the views against the oracle
now_ms=$(($(date +%s) * 1000))
"$PY" "$TW_ROOT/tests/integration/oracle.py" --agencies "$T/agencies.csv" --localities "$TW_ROOT/ops/sample/localities.csv" \
  --units "$TW_ROOT/ops/sample/localities.csv" "${LIN[@]}" --effective 2025-07-01 --lineage-after 1 \
  --now-ms "$now_ms" --jsonl-feed "$T/before.jsonl" --jsonl-feed "$T/after.jsonl" \
  --jsonl-feed "$T/later.jsonl" \
  --geo-date 2024-12-31 --geo-date 2025-12-31 --out-geo "$T/expected" \
  --out-localities "$T/expected-localities.csv" --out-summary "$T/expected.json"
view() {
  psql -XAtq -c "COPY (SELECT locality_code, locality_name, district_code, province_code,
    former_district_code, nullif(array_to_string(former_codes, ' '), ''), twinnings, twinnings_active,
    pledges_open, pledges_fulfilled, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
    substantive_activities, formal_activities FROM $1 ORDER BY locality_code) TO STDOUT WITH CSV"
}
for d in today 2024-12-31 2025-12-31; do
  src="supervision.locality_overview_at('$d')"
  [ "$d" = today ] && src=supervision.locality_overview
  view "$src" >"$T/actual-$d.csv"
  if ! diff -u <(tail -n +2 "$T/expected-$d.csv") "$T/actual-$d.csv" >"$T/diff-$d.txt"; then
    cat "$T/diff-$d.txt" >&2
    fail "$src differs from the oracle"
  fi
done
psql -XAtq -c "COPY (SELECT locality_code, twinnings_active, pledges_open, pledges_fulfilled,
  pledges_cancelled, pledges_overdue, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
  gift_value_vnd, trainees, jobs, models_replicated, substantive_activities, formal_activities,
  (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_activity_ms
  FROM supervision.locality_overview ORDER BY locality_code) TO STDOUT WITH CSV HEADER" >"$T/actual-localities.csv"
diff -u "$T/expected-localities.csv" "$T/actual-localities.csv" >&2 || fail "locality_overview (e2e columns)"
# what a supervisor reads: one row for xã La Dêê, with Đắc Tôi's history
assert_eq "$(q "SELECT locality_name || ' | ' || array_to_string(former_names, ', ') || ' | ' || twinnings
  || ' | ' || former_district_name FROM supervision.locality_overview WHERE locality_code = '20704'")" \
  "Xã La Dêê | Xã Đắc Tôi | 1 | Huyện Nam Giang" "xã La Dêê today"
assert_eq "$(q "SELECT count(*) FROM supervision.locality_overview_at('2024-12-31') WHERE locality_code IN ('20704', '20705')")" 2 \
  "Đắc Tôi and La Dêê apart in 2024"
assert_eq "$(q "SELECT string_agg(province_code || ':' || localities_twinned, ' ' ORDER BY province_code)
  FROM supervision.province_overview_at('2024-12-31')")" "48:2 49:7" "provinces of 2024 (units made later counted in the unit whose code they kept)"
assert_eq "$(q "SELECT string_agg(province_code || ':' || localities_twinned, ' ') FROM supervision.province_overview")" \
  "48:7" "one province today"
assert_eq "$(q "SELECT alerting.locality_vi('20705') || ' / ' || alerting.locality_en('20701')")" \
  "xã La Dêê (trước đây xã Đắc Tôi) / Xã Nam Giang (formerly Xã Zuôich)" "alert texts (names as the January 2025 list spells them)"

# rebuild lands on the live state
before=$("$TWINCTL" digest)
"$TWINCTL" rebuild --yes --by tester >/dev/null || fail "rebuild"
assert_eq "$("$TWINCTL" digest)" "$before" "digest after rebuild"
echo "geography: ok"
