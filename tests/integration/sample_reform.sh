#!/usr/bin/env bash
# sample_reform.sh: the sample as ops/up loads it (issue 13): the January 2025
# units, the official conversion table and the operator's decision, the feed,
# then the events under new codes. Today's picture is in today's geography
# (no district, no xã Đắc Tôi as a current unit; xã La Dêê with its former
# communes) and equals the oracle's; the only dead letter is the split
# commune's; rebuild lands on the same digest.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
LIN=(--lineage "$S/reference/lineage-2025-07-01-da-nang.csv" --lineage "$S/reference/lineage-2025-07-01-operator.csv")
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
"$TWINCTL" load-reference "${LIN[@]}" --effective 2025-07-01 --legal-act "NQ 202/2025/QH15; 1659/NQ-UBTVQH15" >/dev/null
start_projector p1
"$TWINCTL" publish "$S/feed.jsonl" "$S/feed-sample.csv" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the sample"
"$TWINCTL" publish "$S/feed-reform.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up with feed-reform"

assert_eq "$(q "SELECT string_agg(reason || ' ' || locality_code, '; ') FROM ingest.dead_letter")" \
  "locality_ambiguous 20296" "the sample's only dead letter"
assert_eq "$(q "SELECT count(*) FROM supervision.locality_overview WHERE district_code IS NOT NULL
  OR locality_name IN ('Xã Đắc Tôi', 'Xã Zuôich', 'Thị trấn Thạnh Mỹ') OR province_code <> '48'")" 0 \
  "no district, no former commune, one province today"
assert_eq "$(q "SELECT locality_name || ' (' || array_to_string(former_names, ', ') || '), ' || twinnings
  FROM supervision.locality_overview WHERE locality_code IN ('20704', '20707') ORDER BY 1")" \
  "$(printf 'Xã La Dêê (Xã Đắc Tôi), 2\nXã Nam Giang (Xã Zuôich, Xã Chà Vàl), 1')" \
  "merged communes: Petrolimex and BĐBP in La Dêê; Công an's two twinnings one pair in Nam Giang"

now_ms=$(($(date +%s) * 1000))
"$PY" "$TW_ROOT/tests/integration/oracle.py" --agencies "$S/agencies.csv" --localities "$S/localities.csv" \
  --units "$S/localities.csv" "${LIN[@]}" --effective 2025-07-01 --now-ms "$now_ms" \
  --jsonl-feed "$S/feed.jsonl" --csv-feed "$S/feed-sample.csv" --jsonl-feed "$S/feed-reform.jsonl" \
  --geo-date 2024-12-31 --out-geo "$T/expected" \
  --out-localities "$T/expected-localities.csv" --out-summary "$T/expected.json"
psql -XAtq -c "COPY (SELECT locality_code, twinnings_active, pledges_open, pledges_fulfilled,
  pledges_cancelled, pledges_overdue, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
  gift_value_vnd, trainees, jobs, models_replicated, substantive_activities, formal_activities,
  (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_activity_ms
  FROM supervision.locality_overview ORDER BY locality_code) TO STDOUT WITH CSV HEADER" >"$T/actual.csv"
diff -u "$T/expected-localities.csv" "$T/actual.csv" >&2 || fail "locality_overview differs from the oracle"
psql -XAtq -c "COPY (SELECT locality_code, locality_name, district_code, province_code,
    former_district_code, nullif(array_to_string(former_codes, ' '), ''), twinnings, twinnings_active,
    pledges_open, pledges_fulfilled, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
    substantive_activities, formal_activities FROM supervision.locality_overview_at('2024-12-31')
    ORDER BY locality_code) TO STDOUT WITH CSV" >"$T/actual-2024.csv"
diff -u <(tail -n +2 "$T/expected-2024-12-31.csv") "$T/actual-2024.csv" >&2 ||
  fail "locality_overview_at('2024-12-31') differs from the oracle"
# the illustrative agency merger: Sở Tài chính answers for Sở KH&ĐT's open pledges
"$TWINCTL" load-reference --agency-lineage "$S/agency-lineage.csv" --by tester >/dev/null
open_khdt=$(q "SELECT count(*) FROM proj.pledge WHERE agency_code = 'SO-KHDT' AND status = 'open'")
[ "$open_khdt" -gt 0 ] || fail "the sample has open pledges of SO-KHDT"
assert_eq "$(q "SELECT new_code || ' ' || open_pledges_inherited FROM supervision.agency_succession")" \
  "SO-TAICHINH $open_khdt" "the successor answers for the open pledges"
assert_eq "$(q "SELECT string_agg(DISTINCT agency_code || '<' || pledged_by, ',') FROM supervision.inherited_pledge")" \
  "SO-TAICHINH<SO-KHDT" "inherited pledges shown under the successor"
assert_eq "$(q "SELECT valid_to FROM ref.agency WHERE code = 'SO-KHDT'")" 2025-02-28 "the predecessor ends"

# a supervisor bound to huyện Nam Giang before the reform keeps its communes,
# now under their new names: the area of the former district
q "CREATE ROLE sup_ng LOGIN IN ROLE twinwatch_supervisor;
   INSERT INTO twinwatch.supervisor_district VALUES ('sup_ng', '510')"
as() { PGUSER=$1 psql -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
ng_rows="SELECT count(*) FROM proj.twinning t WHERE (ref.unit_at(t.locality_code, '2025-06-30')).parent_code = '510'"
[ "$(q "$ng_rows")" -gt 3 ] || fail "the sample has twinnings in huyện Nam Giang"
assert_eq "$(as sup_ng "$ng_rows")" "$(q "$ng_rows")" "sup_ng sees every twinning of Nam Giang's communes"
assert_eq "$(as sup_ng "SELECT count(*) FROM proj.twinning")" "$(q "$ng_rows")" "and no other"
assert_eq "$(as sup_ng "SELECT string_agg(DISTINCT former_district_code, ',') FROM supervision.locality_overview")" \
  510 "sup_ng: today's units of the Nam Giang area"
as sup_ng "SELECT string_agg(locality_name, ', ' ORDER BY locality_name) FROM supervision.locality_overview" |
  grep -q 'Xã La Dêê.*Xã Nam Giang.*Xã Thạnh Mỹ' || fail "sup_ng: La Dêê, Nam Giang, Thạnh Mỹ"

# the yearly reports, each in the geography of its 31 December
for y in 2024 2025 2026; do
  for l in vi en; do
    for f in md csv json; do
      "$TWINCTL" report annual --year $y --format $f --lang $l >"$T/r$y.$l.$f" || fail "report $y $l $f"
    done
  done
done
# every figure of every report, against report_check.py's reading of the feed files in the
# geography of 31 December (oracle.py's resolution of the reference files)
for y in 2024 2025 2026; do
  for l in vi en; do
    "$PY" "$TW_ROOT/tests/integration/report_check.py" --agencies "$S/agencies.csv" \
      --localities "$S/localities.csv" --units "$S/localities.csv" "${LIN[@]}" --effective 2025-07-01 \
      --feed "$S/feed.jsonl" --feed "$S/feed-sample.csv" --feed "$S/feed-reform.jsonl" --year $y \
      --json "$T/r$y.$l.json" --csv "$T/r$y.$l.csv" --md "$T/r$y.$l.md" --lang $l >&2 ||
      fail "report $y ($l) differs from the feed's figures in the geography of $y-12-31"
  done
done
jq() { "$PY" -c "import json,sys; d=json.load(open('$1')); print($2)"; }
assert_eq "$(jq "$T/r2024.vi.json" "d['province'] + ' | ' + d['addressee']")" \
  "Tỉnh Quảng Nam | Ban Thường vụ Tỉnh ủy Quảng Nam" "2024: addressed to Quảng Nam's Standing Committee"
grep -q '^Kính gửi Ban Thường vụ Tỉnh ủy Quảng Nam, ' "$T/r2024.vi.md" || fail "2024 md addressee"
assert_eq "$(jq "$T/r2024.vi.json" "sorted(r['locality_name'] for r in d['sections']['communes'] if r['locality_code'] in ('20704','20705'))")" \
  "['Xã La Dêê', 'Xã Đắc Tôi']" "2024: Đắc Tôi and La Dêê apart"
assert_eq "$(jq "$T/r2024.vi.json" "'510' in [r['district_code'] for r in d['sections']['districts']]")" True \
  "2024: huyện Nam Giang among the districts"
for y in 2025 2026; do
  assert_eq "$(jq "$T/r$y.en.json" "d['addressee']")" \
    "the Standing Committee of the Đà Nẵng City Party Committee" "$y: addressed to Đà Nẵng's"
  assert_eq "$(jq "$T/r$y.vi.json" "len(d['sections']['districts'])")" 0 "$y: no districts"
  assert_eq "$(jq "$T/r$y.vi.json" "[r['former_units'] for r in d['sections']['communes'] if r['locality_code'] == '20704']")" \
    "['Xã Đắc Tôi']" "$y: xã La Dêê names its former commune"
  assert_eq "$(jq "$T/r$y.vi.json" "[r for r in d['sections']['communes'] if r['locality_code'] == '20705']")" "[]" \
    "$y: no xã Đắc Tôi"
  # regrouping loses nothing: the communes' visits are the year's logged visits
  assert_eq "$(jq "$T/r$y.vi.json" "sum(int(r['visits']) for r in d['sections']['communes'])")" \
    "$(q "SELECT count(*) FROM audit.event_log WHERE event_type = 'visit'
      AND occurred_at >= supervision.year_start($y) AND occurred_at < supervision.year_end($y)")" "$y: visits"
done
grep -q '^| 2025-07-01 | NQ 202/2025/QH15; 1659/NQ-UBTVQH15 | whole | ' "$T/r2025.en.md" ||
  fail "2025: the reorganisations section names the act: $(grep -A6 'reorganisations' "$T/r2025.en.md")"
assert_eq "$(jq "$T/r2026.vi.json" "len(d['sections']['reorganisations'])")" 0 "2026: no reorganisation in force"
grep -q '^reorganisations,' "$T/r2025.vi.csv" || fail "2025 csv: reorganisations"

before=$("$TWINCTL" digest)
"$TWINCTL" rebuild --yes --by tester >/dev/null || fail "rebuild"
assert_eq "$("$TWINCTL" digest)" "$before" "digest after rebuild"
echo "sample_reform: ok"
