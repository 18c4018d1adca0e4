#!/usr/bin/env bash
# actions.sh: every operator command that changes something leaves exactly
# one row in the operator chain of the audit trail, in its own transaction
# (a refused command leaves none), naming the person (--by) and the
# database role; twinctl audit trail shows a subject's events and actions
# together in time order. (offsets accept-loss: tests/fault/offsets_lost.sh)
. "$(dirname "$0")/harness.sh"
harness_up
"$TWINCTL" migrate --dir "$TW_ROOT/tests/schemas" >/dev/null
S=$TW_ROOT/ops/sample

n() { q "SELECT count(*) FROM audit.action_log"; }
# one ACTION BY ROLE SUBJECT CMD...: CMD succeeds and adds exactly that row
one() {
  local action=$1 by=$2 role=$3 subject=$4 before
  shift 4
  before=$(n)
  "$@" >"$T/cmd.out" 2>&1 || fail "$*: $(cat "$T/cmd.out")"
  assert_eq "$(n)" "$((before + 1))" "audit rows after: $*"
  assert_eq "$(q "SELECT format('%s|%s|%s|%s', action, by_name, db_role, subject)
    FROM audit.action_log ORDER BY seq DESC LIMIT 1")" "$action|$by|$role|$subject" "audit row of: $*"
}
# none CMD...: CMD fails and adds nothing
none() {
  local before
  before=$(n)
  "$@" >"$T/cmd.out" 2>&1 && fail "$* succeeded"
  assert_eq "$(n)" "$before" "audit rows after the refused: $*"
}

one reference.load "Nguyễn Văn A" twinwatch_operator reference \
  "$TWINCTL" load-reference --by "Nguyễn Văn A" --agencies "$S/agencies.csv" --localities "$S/localities.csv"
printf 'code,name,kind\nBAD,x,ministry\n' >"$T/bad.csv"
none "$TWINCTL" load-reference --by "Nguyễn Văn A" --agencies "$T/bad.csv"
assert_eq "$(q "SELECT detail->>'agencies' FROM audit.action_log WHERE action = 'reference.load'")" \
  "$(($(wc -l <"$S/agencies.csv") - 1))" "agencies counted in the load's row"

start_projector p1
head -n 400 "$S/feed.jsonl" >"$T/feed.jsonl"
"$TWINCTL" publish "$T/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up"

one rebuild "Nguyễn Văn A" twinwatch_operator projections "$TWINCTL" rebuild --yes --by "Nguyễn Văn A"
one rule.set "Trần Thị B" twinwatch_operator rule:pledge_stalled.stall_days \
  "$TWINCTL" rules set pledge_stalled stall_days 60 --by "Trần Thị B" --note "tighter"
none "$TWINCTL" rules set pledge_stalled stall_days -3 --by "Trần Thị B"
one clock.set tester twinwatch_operator clock "$TWINCTL" clock set 2027-01-01T00:00:00+07:00 --by tester
one clock.set tester twinwatch_operator clock "$TWINCTL" clock reset --by tester

# an acknowledgement, as the supervisor role (twinctl alerts ack sets it)
id=00000000-0000-5000-8000-0000000a1e17
q "INSERT INTO alerting.alert (alert_id, rule, subject, state, severity, transition_no, opened_at,
     changed_at, summary_vi, summary_en)
   VALUES ('$id', 'feed_silent', 'SRC', 'open', 'warning', 1, now(), now(), 'im lặng', 'silent');
   INSERT INTO alerting.alert_history (alert_id, transition_no, state, severity, at, kind, by_name,
     summary_vi, summary_en)
   VALUES ('$id', 1, 'open', 'warning', now() - interval '1 minute', 'open', 'sentinel', 'im lặng', 'silent')"
one alert.acknowledge "Lê Văn C" twinwatch_supervisor "alert:$id" \
  "$TWINCTL" alerts ack "$id" --by "Lê Văn C" --note "đã gọi"
none "$TWINCTL" alerts ack "$id" --by "Lê Văn C" --note "again"

# the trail of the alert: its transitions and the acknowledgement, in order
"$TWINCTL" audit trail --subject "alert:$id" >"$T/trail_alert.out"
assert_eq "$(awk '{print $2}' "$T/trail_alert.out" | paste -sd' ')" "alert action alert" \
  "kinds in the alert's trail"
grep -q 'alert.acknowledge .*by Lê Văn C (role twinwatch_supervisor)' "$T/trail_alert.out" ||
  fail "acknowledgement in the trail: $(cat "$T/trail_alert.out")"

# the trail of a pledge: every logged event naming it, in time order
read -r ag pl <<<"$(q "SELECT agency_code || ' ' || pledge_id FROM audit.event_log
  WHERE pledge_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1" | tr '/' ' ')"
"$TWINCTL" audit trail --subject "pledge:$ag/$pl" >"$T/trail_pledge.out"
assert_eq "$(wc -l <"$T/trail_pledge.out")" \
  "$(q "SELECT count(*) FROM audit.event_log WHERE agency_code = '$ag' AND pledge_id = '$pl'")" \
  "events in the pledge's trail"
sort -c -k1,1 "$T/trail_pledge.out" || fail "pledge trail not in time order: $(cat "$T/trail_pledge.out")"
grep -q ' support_pledged ' "$T/trail_pledge.out" || fail "no pledge event: $(cat "$T/trail_pledge.out")"
set +e
"$TWINCTL" audit trail --subject "pledge:nobody" >"$T/bad.out" 2>&1
[ $? -eq 2 ] || fail "trail of a malformed subject: $(cat "$T/bad.out")"
"$TWINCTL" audit trail --subject "twinning:NOBODY|0" >"$T/none.out" 2>&1
[ $? -eq 1 ] || fail "trail of an unknown twinning: $(cat "$T/none.out")"
set -e

# the operator chain holds them all, intact
"$TWINCTL" audit verify >"$T/verify.out" || fail "verify: $(cat "$T/verify.out")"
grep -q "^chain operator: $(n) rows ok" "$T/verify.out" || fail "operator chain: $(cat "$T/verify.out")"
echo "actions: ok"
