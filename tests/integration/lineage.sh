#!/usr/bin/env bash
# lineage.sh: reference data with time (issue 13). The statistics office's
# conversion table loads as published, idempotently and audited; a lineage
# that does not close, overlapping versions, a date gap, a cycle or an
# unknown code is refused with file:line and nothing is loaded.
. "$(dirname "$0")/harness.sh"
harness_up
R=$TW_ROOT/ops/sample/reference
LIN=$R/lineage-2025-07-01-da-nang.csv
OPS=$R/lineage-2025-07-01-operator.csv
ACT='Nghị quyết 1659/NQ-UBTVQH15'
state() { q "SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', code, valid_from, valid_to, name, level,
  parent_code), ',' ORDER BY code, valid_from)) || ' ' || (SELECT count(*) FROM ref.unit_lineage)
  FROM ref.unit_version"; }

"$TWINCTL" load-reference --localities "$TW_ROOT/ops/sample/localities.csv" --by tester >/dev/null
before=$(state)

# xã Quế Phước (20674) has no row in the official table: named, nothing loaded
expect 1 "lineage-2025-07-01-da-nang.csv: no row for xã Quế Phước \(20674, Huyện Quế Sơn\).*localities.csv:[0-9]+\)" \
  "$TWINCTL" load-reference --lineage "$LIN" --effective 2025-07-01 --legal-act "$ACT" --by tester
assert_eq "$(state)" "$before" "nothing loaded from an unclosed lineage"
expect 2 'needs --effective' "$TWINCTL" load-reference --lineage "$LIN" --by tester

# an unknown code in the lineage
cp "$LIN" "$T/unknown.csv"
echo '48,20704,Xã La Dêê,99999,Xã Không Có,Nhập toàn bộ,510,Huyện Nam Giang,49,Tỉnh Quảng Nam' >>"$T/unknown.csv"
expect 1 "unknown.csv:284: old unit 99999 \(Xã Không Có\) is not in the reference data on 2025-06-30" \
  "$TWINCTL" load-reference --lineage "$T/unknown.csv" --lineage "$OPS" --effective 2025-07-01 --by tester
# a note the statistics office does not use
sed '179s/Nhập toàn bộ/Nhập gần hết/' "$LIN" >"$T/note.csv"
expect 1 'note.csv:179: note "Nhập gần hết" is not one of' \
  "$TWINCTL" load-reference --lineage "$T/note.csv" --lineage "$OPS" --effective 2025-07-01 --by tester
# a cycle: Đắc Tôi into La Dêê's code and La Dêê into Đắc Tôi's
sed -e '178s/^48,20704,Xã La Dêê,20704/48,20705,Xã Đắc Tôi,20704/' "$LIN" >"$T/cycle.csv"
expect 1 'cycle.csv:(178|179): cycle in the lineage: 2070[45] -> 2070[45] -> 2070[45]' \
  "$TWINCTL" load-reference --lineage "$T/cycle.csv" --lineage "$OPS" --effective 2025-07-01 --by tester
# a split given as a whole merger into two units
sed '7s/Nhập một phần/Nhập toàn bộ/' "$LIN" >"$T/split.csv"
expect 1 'split.csv:7: old unit 20296 also goes to' \
  "$TWINCTL" load-reference --lineage "$T/split.csv" --lineage "$OPS" --effective 2025-07-01 --by tester
assert_eq "$(state)" "$before" "nothing loaded from refused lineages"

# versions: overlapping, a gap, an end with no successor
head -1 "$TW_ROOT/ops/sample/localities.csv" >"$T/v.csv"
cat >>"$T/v.csv" <<'V'
90,Tỉnh Thử,province,,false,false,false,false,,
90001,Xã Một,commune,90,false,false,false,false,2020-01-01,2022-12-31
90001,Xã Một Mới,commune,90,false,false,false,false,2022-06-01,
V
expect 1 'v.csv:4: unit 90001 from 2022-06-01 to infinity overlaps its version from 2020-01-01 to 2022-12-31 \(.*v.csv:3\)' \
  "$TWINCTL" load-reference --localities "$T/v.csv" --by tester
sed -i '4s/2022-06-01/2023-02-01/' "$T/v.csv"
expect 1 'v.csv:4: date gap: unit 90001 has no version from 2023-01-01 to 2023-01-31' \
  "$TWINCTL" load-reference --localities "$T/v.csv" --by tester
expect 1 'v.csv:3: unit 90001 \(Xã Một\) ends on 2022-12-31 with no successor and no abolished mark' \
  "$TWINCTL" load-reference --localities "$T/v.csv" --by tester
assert_eq "$(state)" "$before" "nothing loaded from refused versions"

# the operator's decision for 20674 closes it; loads are idempotent and audited
out=$("$TWINCTL" load-reference --lineage "$LIN" --lineage "$OPS" --effective 2025-07-01 --legal-act "$ACT" --by tester)
after=$(state)
"$TWINCTL" load-reference --lineage "$LIN" --lineage "$OPS" --effective 2025-07-01 --legal-act "$ACT" --by tester >/dev/null
"$TWINCTL" load-reference --localities "$TW_ROOT/ops/sample/localities.csv" --by tester >/dev/null
assert_eq "$(state)" "$after" "loading the same files again"
assert_eq "$(q "SELECT count(*) FILTER (WHERE valid_to = 'infinity') FROM ref.unit_version WHERE level <> 'province'")" 94 \
  "Đà Nẵng's commune-level units from 1 July 2025"
assert_eq "$(q "SELECT string_agg(format('%s %s %s %s', code, valid_from, valid_to, name), '; ' ORDER BY code, valid_from)
  FROM ref.unit_version WHERE code IN ('20704', '20705', '20695')")" \
  "20695 -infinity 2025-06-30 Thị trấn Thạnh Mỹ; 20695 2025-07-01 infinity Xã Thạnh Mỹ; 20704 -infinity 2025-06-30 Xã La Dêê; 20704 2025-07-01 infinity Xã La Dêê; 20705 -infinity 2025-06-30 Xã Đắc Tôi" \
  "reused codes are two versions"
assert_eq "$(q "SELECT string_agg(format('%s>%s %s', old_code, new_code, kind), ' ' ORDER BY old_code, new_code)
  FROM ref.unit_lineage WHERE old_code IN ('20296', '20695', '20705', '498', '510', '49')")" \
  "20296>20194 partial 20296>20197 partial 20695>20695 retype 20705>20704 whole 49>48 whole 498>20333 whole 510> abolished" \
  "lineage kinds from the office's notes"
assert_eq "$(q "SELECT count(*) FROM ref.unit_lineage WHERE legal_act = '$ACT'")" \
  "$(q "SELECT count(*) FROM ref.unit_lineage")" "legal act on every row"
assert_eq "$(q "SELECT count(*) FROM audit.action_log WHERE action = 'reference.load'
  AND detail->>'lineage_files' LIKE '%lineage-2025-07-01-da-nang.csv%' AND detail->>'effective' = '2025-07-01'")" 2 \
  "lineage loads in the audit trail"
# agencies: an unknown successor, then a cycle, are refused with file:line
"$TWINCTL" load-reference --agencies "$TW_ROOT/ops/sample/agencies.csv" --by tester >/dev/null
printf 'old_code,new_code,effective,kind,legal_act\nSO-KHDT,SO-KHONG-CO,2025-03-01,whole,x\n' >"$T/al.csv"
expect 1 'al.csv:2: .*SO-KHONG-CO' "$TWINCTL" load-reference --agency-lineage "$T/al.csv" --by tester
printf 'old_code,new_code,effective,kind,legal_act\nSO-KHDT,SO-TAICHINH,2025-03-01,whole,x\nSO-TAICHINH,SO-KHDT,2025-04-01,whole,y\n' >"$T/al.csv"
expect 1 'al.csv:2: cycle in the agencies. lineage: SO-KHDT -> SO-TAICHINH -> SO-KHDT' \
  "$TWINCTL" load-reference --agency-lineage "$T/al.csv" --by tester
assert_eq "$(q "SELECT count(*) FROM ref.agency_lineage")" 0 "nothing loaded from a refused agency lineage"
"$TWINCTL" audit verify >/dev/null || fail "audit verify after the loads"
echo "lineage: ok"
