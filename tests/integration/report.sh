#!/usr/bin/env bash
# report.sh: twinctl report annual and supervision.agency_scorecard against
# figures report_check.py computes from the feed files themselves. The
# sample feed gives volume; tests/integration/data/report-2025.jsonl adds
# two agencies whose 2025 is known by hand:
#   TEST-A (xã A Tiêng): P-ONTIME delivered 23:30 local on its due date (on
#   time); P-LATE delivered 00:30 local the day after (late, though still the
#   due date in UTC); P-REVISED on time only against its revised due date;
#   P-OVERDUE half delivered by year end, finished in January; P-CANCELLED
#   cancelled in 2025 (not due); P-CANCEL-LATE and P-REV-LATER open at year
#   end and cancelled / moved to 2026 only in 2026 (still overdue at the end
#   of 2025); P-QTY a quantity target met at 23:59 on 31 December; a visit at
#   23:30 on 31 December counts in 2025, one at 00:10 on 1 January in 2026;
#   nothing in Q3. 7 due, 3 on time (42.9%), 5 of 7 activities substantive
#   (71.4%), 3 quarters, 3 overdue: WEAK.
#   TEST-B (xã Tà Bhinh): a pledge delivered on time, substantive 2 of 3,
#   active in every quarter, nothing overdue: EXCELLENT.
# report-2026.jsonl (a revision, a delivery and a cancellation in 2026) is
# published after the first reports: the 2025 report must not change, byte
# for byte.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
D=$TW_ROOT/tests/integration/data
cp "$S/agencies.csv" "$T/agencies.csv"
printf 'TEST-A,Đơn vị kiểm thử A,department\nTEST-B,Đơn vị kiểm thử B,enterprise\n' >>"$T/agencies.csv"
"$TWINCTL" load-reference --agencies "$T/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector p1
"$TWINCTL" publish "$S/feed.jsonl" "$D/report-2025.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up"
lines=$(cat "$S/feed.jsonl" "$D/report-2025.jsonl" | grep -c .)
assert_eq "$(q 'SELECT count(*) FROM audit.event_log')" "$lines" "every feed line accepted"
assert_eq "$(q 'SELECT count(*) FROM ingest.dead_letter')" 0 "dead letters"

# alerts as the sentinel writes them (its tables, schemas/004_alerting.sql)
psql -XAq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO alerting.alert (alert_id, rule, subject, state, severity, transition_no, opened_at,
                            changed_at, agency_code, summary_vi, summary_en) VALUES
  ('00000000-0000-4000-8000-000000000001', 'pledge_overdue', 'TEST-A/P-OVERDUE', 'resolved',
   'critical', 3, '2025-10-08 09:00+07', '2026-01-10 09:00+07', 'TEST-A', 'quá hạn', 'overdue'),
  ('00000000-0000-4000-8000-000000000002', 'twinning_dormant', 'TEST-B|20710', 'resolved',
   'warning', 2, '2024-06-01 09:00+07', '2025-03-01 09:00+07', 'TEST-B', 'ngủ', 'dormant'),
  ('00000000-0000-4000-8000-000000000003', 'formalism', 'TEST-A', 'acknowledged', 'warning', 4,
   '2025-11-30 09:00+07', '2025-12-15 09:00+07', 'TEST-A', 'hình thức', 'formalism'),
  ('00000000-0000-4000-8000-000000000004', 'feed_silent', 'report-test-test-b', 'open',
   'warning', 1, '2026-01-01 00:30+07', '2026-01-01 00:30+07', 'TEST-B', 'im lặng', 'silent'),
  ('00000000-0000-4000-8000-000000000005', 'pledge_stalled', 'TEST-A/P-QTY', 'open',
   'critical', 1, '2024-12-20 09:00+07', '2024-12-20 09:00+07', 'TEST-A', 'đình trệ', 'stalled');
INSERT INTO alerting.alert_history (alert_id, transition_no, state, severity, at, kind, by_name,
                                    summary_vi, summary_en)
SELECT ('00000000-0000-4000-8000-00000000000' || a)::uuid, n, s, v, t::timestamptz, k, b, 'x', 'x'
  FROM (VALUES (1, 1, 'open', 'warning', '2025-10-08 09:00+07', 'open', 'sentinel'),
               (1, 2, 'open', 'critical', '2025-10-31 09:00+07', 'escalate', 'sentinel'),
               (1, 3, 'resolved', 'critical', '2026-01-10 09:00+07', 'resolve', 'sentinel'),
               (2, 1, 'open', 'warning', '2024-06-01 09:00+07', 'open', 'sentinel'),
               (2, 2, 'resolved', 'warning', '2025-03-01 09:00+07', 'resolve', 'sentinel'),
               (3, 1, 'open', 'warning', '2025-02-01 09:00+07', 'open', 'sentinel'),
               (3, 2, 'resolved', 'warning', '2025-05-01 09:00+07', 'resolve', 'sentinel'),
               (3, 3, 'open', 'warning', '2025-11-30 09:00+07', 'reopen', 'sentinel'),
               (3, 4, 'acknowledged', 'warning', '2025-12-15 09:00+07', 'acknowledge', 'Lê Giám Sát'),
               (4, 1, 'open', 'warning', '2026-01-01 00:30+07', 'open', 'sentinel'),
               (5, 1, 'open', 'critical', '2024-12-20 09:00+07', 'open', 'sentinel'))
       AS x(a, n, s, v, t, k, b);
SQL

check() { # check YEAR FEED... -- CHECKER-ARGS...: every format and language
  local y=$1 feeds=() f l
  shift
  while [ "$1" != -- ]; do feeds+=(--feed "$1"); shift; done
  shift
  for l in vi en; do
    for f in md csv json; do
      "$TWINCTL" report annual --year "$y" --format "$f" --lang "$l" >"$T/r$y.$l.$f" ||
        fail "report annual --year $y --format $f --lang $l: exit $?"
    done
    "$PY" "$TW_ROOT/tests/integration/report_check.py" --agencies "$T/agencies.csv" \
      --localities "$S/localities.csv" "${feeds[@]}" --year "$y" --lang "$l" \
      --json "$T/r$y.$l.json" --csv "$T/r$y.$l.csv" --md "$T/r$y.$l.md" "$@" ||
      fail "report $y ($l) differs from the figures computed from the feed"
  done
}
check 2025 "$S/feed.jsonl" "$D/report-2025.jsonl" -- \
  --expect-agency TEST-A=7,3,42.9,71.4,3,3,WEAK --expect-agency TEST-B=1,1,100,66.7,4,0,EXCELLENT
check 2024 "$S/feed.jsonl" "$D/report-2025.jsonl" --

# hand-computed figures, read from the report itself
jq() { "$PY" -c "import json,sys; d=json.load(open('$1'))['sections']; print($2)"; }
assert_eq "$(jq "$T/r2025.en.json" "[c['rating'] for c in d['scorecard'] if c['agency_code']=='TEST-A'][0]")" \
  WEAK "TEST-A's rating"
assert_eq "$(jq "$T/r2025.en.json" "sorted(o['pledge_id'] for o in d['overdue_pledges'] if o['agency_code']=='TEST-A')")" \
  "['P-CANCEL-LATE', 'P-OVERDUE', 'P-REV-LATER']" "TEST-A's pledges overdue at the end of 2025"
grep -q '^| TEST-A | P-REV-LATER | 20455 | Xã A Tiêng | Nhân rộng mô hình | 31/10/2025 | 61 | 25.000.000 ₫ | 0 ₫ |$' \
  "$T/r2025.vi.md" || fail "the vi report's overdue line for P-REV-LATER (dd/mm/yyyy, ₫)"
grep -q '^| TEST-A | P-OVERDUE | 20455 | Xã A Tiêng | Infrastructure | 2025-09-30 | 92 | 80,000,000 VND | 40,000,000 VND |$' \
  "$T/r2025.en.md" || fail "the en report's overdue line for P-OVERDUE (VND)"
assert_eq "$(q "SELECT pledges_due || ',' || fulfilled_on_time || ',' || on_time_pct || ',' ||
  substantive_share || ',' || active_quarters || ',' || overdue_at_year_end || ',' || rating
  FROM supervision.agency_scorecard WHERE year = 2025 AND agency_code = 'TEST-B'")" \
  "1,1,100.0,66.7,4,0,EXCELLENT" "supervision.agency_scorecard for TEST-B"

# alerts per rule: raised (opened or reopened in the year), critical at some
# moment of it, resolved in it, not resolved at its end. The feed_silent alert
# opened at 00:30 local on 1 January 2026 (still 31 December in UTC).
alerts() { jq "$1" "[(a['rule'], a['raised'], a['critical'], a['resolved'], a['open_at_year_end']) for a in d['alerts']]"; }
assert_eq "$(alerts "$T/r2025.en.json")" "[('feed_silent', 0, 0, 0, 0), ('formalism', 2, 0, 1, 1), ('pledge_overdue', 1, 1, 0, 1), ('pledge_stalled', 0, 1, 0, 1), ('twinning_dormant', 0, 0, 1, 0)]" \
  "alerts in 2025"
assert_eq "$(alerts "$T/r2024.vi.json")" "[('feed_silent', 0, 0, 0, 0), ('formalism', 0, 0, 0, 0), ('pledge_overdue', 0, 0, 0, 0), ('pledge_stalled', 1, 1, 0, 1), ('twinning_dormant', 1, 0, 0, 1)]" \
  "alerts in 2024"
grep -qx '| formalism | 2 | 0 | 1 | 1 |' "$T/r2025.vi.md" || fail "the md alerts table"
grep -qx 'alerts,pledge_overdue,,critical,Of which critical,1' "$T/r2025.en.csv" || fail "the csv alerts rows"

# a supervisor (read-only role) gets the same report, and cannot change the
# rating formula
PGOPTIONS='-c role=twinwatch_supervisor' "$TWINCTL" report annual --year 2025 --format json >"$T/sup.json" ||
  fail "report annual as twinwatch_supervisor"
cmp -s "$T/sup.json" "$T/r2025.vi.json" || fail "the supervisor's report differs"
set +e
out=$(psql -XAtq -c "SET ROLE twinwatch_supervisor; UPDATE supervision.rating_rules SET max_overdue = 9" 2>&1)
set -e
grep -q 'permission denied' <<<"$out" || fail "a supervisor changed supervision.rating_rules: $out"

# the year is over: later events do not change its report
"$TWINCTL" publish "$D/report-2026.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up with 2026"
assert_eq "$(q "SELECT status FROM proj.pledge WHERE agency_code = 'TEST-A' AND pledge_id = 'P-CANCEL-LATE'")" \
  cancelled "P-CANCEL-LATE now"
for f in md csv json; do
  "$TWINCTL" report annual --year 2025 --format "$f" --lang vi >"$T/again.$f"
  cmp -s "$T/again.$f" "$T/r2025.vi.$f" || fail "the 2025 $f report changed after 2026 events"
done
check 2026 "$S/feed.jsonl" "$D/report-2025.jsonl" "$D/report-2026.jsonl" --
assert_eq "$(alerts "$T/r2026.en.json")" "[('feed_silent', 1, 0, 0, 1), ('formalism', 0, 0, 0, 1), ('pledge_overdue', 0, 1, 1, 0), ('pledge_stalled', 0, 1, 0, 1), ('twinning_dormant', 0, 0, 0, 0)]" \
  "alerts in 2026"
assert_eq "$(q "SELECT pledges_due || ',' || overdue_at_year_end FROM supervision.agency_scorecard
  WHERE year = 2026 AND agency_code = 'TEST-A'")" "2,2" "TEST-A in 2026 (P-REV-LATER moved into it)"

# a rule change is picked up: the published formula lives in a table
q "UPDATE supervision.rating_rules SET min_on_time_pct = 40 WHERE rating = 'FAIR'"
assert_eq "$(q "SELECT rating FROM supervision.agency_scorecard WHERE year = 2025 AND agency_code = 'TEST-A'")" \
  FAIR "TEST-A with FAIR from 40% on time"

# bad arguments: exit 2 and say what is wrong; a failure: exit 1
expect 2 '--year abc: expected a year' "$TWINCTL" report annual --year abc
expect 2 '--year 20x5: expected a year' "$TWINCTL" report annual --year 20x5
expect 2 '--format xml: expected md, csv or json' "$TWINCTL" report annual --year 2025 --format xml
expect 2 '--lang fr: expected vi or en' "$TWINCTL" report annual --year 2025 --lang fr
expect 2 'give --year Y' "$TWINCTL" report annual
expect 2 'unknown report "monthly"' "$TWINCTL" report monthly --year 2025
expect 2 'unexpected argument "extra"' "$TWINCTL" report annual --year 2025 extra
expect 2 'usage: twinctl report annual' "$TWINCTL" report
expect 0 'usage: twinctl report annual' "$TWINCTL" report --help
expect 1 'is the stack up' env PGPORT=1 "$TWINCTL" report annual --year 2025
echo "report: 2024, 2025 and 2026 in md, csv and json, vi and en, equal to the feed's figures"
