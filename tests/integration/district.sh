#!/usr/bin/env bash
# district.sh: a supervisor bound to a district (schemas/011_district_scope.sql)
# sees only that district's rows, through the supervision views and the
# tables under them; another district's supervisor sees only his; an
# unbound supervisor sees the province.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --by test --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector p1
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up"

# the two districts with the most pledges
read -r d1 d2 <<<"$(q "SELECT string_agg(d, ' ') FROM (SELECT coalesce(l.parent_code, l.code) AS d
  FROM proj.pledge p JOIN ref.locality l ON l.code = p.locality_code
  WHERE l.level IN ('commune', 'district') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2) t")"
[ -n "$d2" ] || fail "fewer than two districts with pledges"
q "CREATE ROLE sup_d1 LOGIN IN ROLE twinwatch_supervisor;
   CREATE ROLE sup_d2 LOGIN IN ROLE twinwatch_supervisor;
   CREATE ROLE sup_all LOGIN IN ROLE twinwatch_supervisor;
   INSERT INTO twinwatch.supervisor_district VALUES ('sup_d1', '$d1'), ('sup_d2', '$d2')"
as() { PGUSER=$1 psql -XAtq -v ON_ERROR_STOP=1 -c "$2"; }

for pair in "sup_d1 $d1" "sup_d2 $d2"; do
  read -r role d <<<"$pair"
  assert_eq "$(as "$role" "SELECT string_agg(DISTINCT district_code, ',') FROM supervision.locality_overview")" \
    "$d" "$role: districts in locality_overview"
  assert_eq "$(as "$role" "SELECT string_agg(district_code, ',') FROM supervision.district_overview")" \
    "$d" "$role: rows of district_overview"
  want=$(q "SELECT count(*) FROM proj.pledge p JOIN ref.locality l ON l.code = p.locality_code
            WHERE l.code = '$d' OR l.parent_code = '$d'")
  [ "$want" -gt 0 ] || fail "no pledge in $d"
  assert_eq "$(as "$role" "SELECT count(*) FROM supervision.pledge_status")" "$want" \
    "$role: pledges in pledge_status"
  assert_eq "$(as "$role" "SELECT count(*) FROM proj.pledge p JOIN ref.locality l ON l.code = p.locality_code
    WHERE l.code <> '$d' AND coalesce(l.parent_code, '') <> '$d'")" 0 "$role: other districts' pledges"
  assert_eq "$(as "$role" "SELECT count(*) FROM proj.twinning t JOIN ref.locality l ON l.code = t.locality_code
    WHERE l.code <> '$d' AND coalesce(l.parent_code, '') <> '$d'")" 0 "$role: other districts' twinnings"
done
assert_eq "$(as sup_all "SELECT count(*) FROM supervision.pledge_status")" \
  "$(q "SELECT count(*) FROM proj.pledge")" "an unbound supervisor's pledges"
[ "$(as sup_all "SELECT count(*) FROM supervision.district_overview")" -gt 1 ] ||
  fail "an unbound supervisor sees one district"
# the province total of a district supervisor is his district's
assert_eq "$(as sup_d1 "SELECT sum(pledges_open) FROM supervision.district_overview")" \
  "$(as sup_d1 "SELECT pledges_open FROM supervision.province_overview")" "sup_d1: province = district"
echo "district: ok"
