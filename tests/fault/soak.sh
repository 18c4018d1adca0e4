#!/usr/bin/env bash
# soak.sh (ops/soak --minutes M; ctest fault.soak: 2 minutes): a long bad
# day. The fault scenario flows at a steady rate for TW_SOAK_MINUTES
# minutes into two projectors (one consumer group) and a running sentinel,
# while faults of the fault suites' kinds come at seeded random moments:
# SIGKILL of a projector (restarted a second later, as systemd would),
# SIGSTOP/SIGCONT of a projector or the sentinel, an immediate PostgreSQL
# restart, PostgreSQL killing the services' connections, a partition leader
# moved to another broker, a rebalance (a third projector joins, then
# leaves); and, mid-run, a reference-data load and a dlq replay.
# At the end: every produced message accepted, dead-lettered or counted
# duplicate exactly once and the digest equal to a fault-free projection of
# the same topic (fault_check); every alert transition in the history
# exactly once on the alerts topic; twinctl audit verify intact; the RSS and
# open descriptors of the processes that lived through it flat after the
# warm-up (slopes printed); no process restarted other than the killed ones.
MINUTES=${TW_SOAK_MINUTES:-2}
RATE=${TW_SOAK_RATE:-30}
export TW_FAULT_EVENTS=${TW_FAULT_EVENTS:-$((MINUTES * 60 * RATE))}
export TW_FAULT_PARTITIONS=${TW_FAULT_PARTITIONS:-6}
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
FAULT_BROKER_MAY_LOSE=1 # leader moves: see fault_produce_wait
ALERTS=twinwatch.alerts.v1
fault_up --brokers 3 --topic "$ALERTS:3" --topic twinwatch.audit-anchors.v1:3
SECS=$((MINUTES * 60))

start_sentinel() {
  PGUSER=twinwatch_sentinel "$TW_BUILD/bin/sentinel" --set kafka.brokers="$KAFKA_BROKERS" \
    >>"$T/sentinel.log" 2>&1 </dev/null &
  echo $! >"$T/sentinel.pid"
}

# ---- RSS and open descriptors, every 2 s: "SECONDS NAME PID RSS_KB FDS"
sampler() {
  (
    set +e
    while :; do
      for n in p1 p2 sentinel; do
        [ -f "$T/$n.pid" ] || continue
        pid=$(cat "$T/$n.pid")
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        [ -n "$rss" ] && echo "$SECONDS $n $pid $rss $fds"
      done
      sleep 2
    done
  ) >>"$T/usage.txt" 2>/dev/null &
  echo $! >"$T/usage-sampler.pid"
}

fault_produce_bg "$SECS"
fault_start p1
fault_start p2
start_sentinel
fault_wait_assigned p1 60
fault_wait_assigned p2 60
sentinel_pid=$(cat "$T/sentinel.pid")
T0=$SECONDS
sampler
fault_say "soak: $MINUTES min, $FAULT_PRODUCED messages at ~$RATE/s, 2 projectors + sentinel"

declare -A done_kind=()
loaded=0 replayed=0 restarts=0
kinds=(kill stop pg_restart pg_terminate leader rebalance)
todo=("${kinds[@]}")
while fault_producing; do
  fault_sleep_ms 3000 8000
  fault_producing || break
  elapsed=$((SECONDS - T0))
  # mid-run: the reference data again (an operator's reload), then a dlq replay
  if [ "$loaded" = 0 ] && [ "$elapsed" -ge $((SECS / 3)) ]; then
    "$TWINCTL" load-reference --by soak --agencies "$T/ref/agencies.csv" \
      --localities "$T/ref/localities.csv" >>"$T/ops.log" 2>&1 || fail "load-reference mid-run"
    loaded=1
    fault_say "fault: reference data loaded again"
    continue
  fi
  if [ "$replayed" = 0 ] && [ "$elapsed" -ge $((SECS / 2)) ]; then
    # undecodable dead letters: refused again whoever reads them, so the
    # fault-free projection of the same topic refuses them too
    before=$(q "SELECT count(*) FROM ingest.dead_letter WHERE replayed_at IS NOT NULL")
    if [ "$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason = 'undecodable'
               AND replayed_at IS NULL")" -gt 0 ]; then
      "$TWINCTL" dlq replay --reason undecodable --by soak --note "soak test" >>"$T/ops.log" 2>&1 ||
        fail "dlq replay mid-run: $(tail -n 3 "$T/ops.log")"
    fi
    n=$(($(q "SELECT count(*) FROM ingest.dead_letter WHERE replayed_at IS NOT NULL") - before))
    FAULT_EXTRA_DEAD=$((FAULT_EXTRA_DEAD + n))
    replayed=1
    fault_say "fault: dlq replay of $n undecodable dead letter(s)"
    continue
  fi
  # each kind once first (in a seeded order), then at random
  if [ ${#todo[@]} -gt 0 ]; then
    fault_rand 0 $((${#todo[@]} - 1))
    kind=${todo[$FAULT_R]}
    todo=("${todo[@]:0:FAULT_R}" "${todo[@]:FAULT_R+1}")
  else
    fault_rand 0 $((${#kinds[@]} - 1))
    kind=${kinds[$FAULT_R]}
  fi
  fault_rand 1 2
  victim=p$FAULT_R
  case $kind in
    kill)
      fault_kill "$victim" KILL
      sleep 1
      fault_start "$victim" # what systemd's Restart= does
      restarts=$((restarts + 1))
      ;;
    stop)
      fault_rand 0 2
      [ "$FAULT_R" = 0 ] && victim=sentinel
      kill -STOP "$(cat "$T/$victim.pid")"
      fault_sleep_ms 1000 4000
      kill -CONT "$(cat "$T/$victim.pid")"
      ;;
    pg_restart)
      victim=""
      fault_pg_restart
      ;;
    pg_terminate)
      victim=""
      q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE usename IN ('twinwatch_projector', 'twinwatch_sentinel')" >/dev/null
      ;;
    leader)
      victim=""
      fault_rand 0 $((FAULT_PARTITIONS - 1))
      p=$FAULT_R
      fault_rand 1 3
      fault_broker leader "$TOPIC" "$p" "$FAULT_R" >/dev/null
      ;;
    rebalance)
      victim=p3
      fault_start p3
      fault_sleep_ms 3000 6000
      fault_stop p3 10
      ;;
  esac
  fault_injected
  done_kind[$kind]=$((${done_kind[$kind]:-0} + 1))
  fault_say "fault: $kind${victim:+ ($victim)} at ${elapsed}s"
  victim=""
  for n in p1 p2 sentinel; do
    tw_pid_alive "$T/$n.pid" || fail "$n exited after $kind"
  done
done
summary=""
for k in "${kinds[@]}"; do summary+=" $k=${done_kind[$k]:-0}"; done
fault_say "faults:$summary; reference load $loaded, dlq replay $replayed"
[ "$loaded" = 1 ] && [ "$replayed" = 1 ] || fail "the run ended before the reference load and the dlq replay"
[ ${#todo[@]} = 0 ] || fail "the run ended before every kind of fault came: ${todo[*]} did not"

# ---- the end: no process restarted other than the killed ones
kill "$(cat "$T/usage-sampler.pid")" 2>/dev/null || true
assert_eq "$(cat "$T/sentinel.pid")" "$sentinel_pid" "the sentinel's pid (never restarted)"
audit_ok=0
fault_caught_up 300 || fail "the projectors did not catch up"
"$TWINCTL" audit verify >"$T/verify.out" 2>&1 && audit_ok=1
[ "$audit_ok" = 1 ] || fail "twinctl audit verify: $(tail -n 5 "$T/verify.out")"

# ---- alerts: the sentinel's outbox drained, then each transition once on the topic
for _ in $(seq 300); do
  [ "$(q "SELECT count(*) FROM alerting.outbox WHERE sent_at IS NULL")" = 0 ] && break
  sleep 0.2
done
assert_eq "$(q "SELECT count(*) FROM alerting.outbox WHERE sent_at IS NULL")" 0 "alert transitions not sent"
tw_stop_pid "$T/sentinel.pid" 10
"$PY" "$TW_ROOT/tests/integration/alert_consumer.py" "$KAFKA_BROKERS" "$T/topic.txt" 60 ||
  fail "cannot read $ALERTS"
awk '{ print $1, $2 }' "$T/topic.txt" | LC_ALL=C sort >"$T/topic.sorted"
q "SELECT alert_id || ' ' || transition_no FROM alerting.alert_history" | LC_ALL=C sort >"$T/history.sorted"
dups=$(uniq -d "$T/topic.sorted" | wc -l)
[ "$dups" = 0 ] || fail "$dups alert transition(s) more than once on $ALERTS"
diff -u "$T/history.sorted" "$T/topic.sorted" >&2 ||
  fail "the alerts topic and alerting.alert_history differ (- history, + topic)"
fault_say "alerts: $(wc -l <"$T/history.sorted") transition(s), each once on $ALERTS"

# ---- RSS and descriptors after the warm-up (the first quarter)
warm=$((SECS / 4))
"$PY" - "$T/usage.txt" "$warm" "$SECS" >"$T/usage.report" <<'PY' || { cat "$T/usage.report" >&2; fail "resources grow"; }
import sys
from collections import defaultdict
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 5]
warm, secs = int(sys.argv[2]), int(sys.argv[3])
series = defaultdict(list)
for t, n, pid, rss, fds in rows:
    series[(n, pid)].append((int(t), int(rss), int(fds)))
bad = 0
t0 = min(int(r[0]) for r in rows)
for (n, pid), s in sorted(series.items()):
    w = [x for x in s if x[0] - t0 < warm]
    a = [x for x in s if x[0] - t0 >= warm]
    if not w:  # started after the warm-up (a restart): its own first quarter
        k = max(1, len(s) // 4)
        w, a = s[:k], s[k:]
    if len(a) < 5:
        print("%s (pid %s): %d samples, too short a life to judge" % (n, pid, len(s)))
        continue
    def slope(k):
        xs = [x[0] / 60.0 for x in a]; ys = [x[k] for x in a]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        d = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / d if d else 0.0
    wr, wf = max(x[1] for x in w), max(x[2] for x in w)
    ar, af = max(x[1] for x in a), max(x[2] for x in a)
    print("%-8s pid %-7s RSS %6.1f MB (warm-up peak %6.1f), slope %+7.1f kB/min; fds %3d (warm-up %3d), slope %+5.2f/min"
          % (n, pid, ar / 1024.0, wr / 1024.0, slope(1), af, wf, slope(2)))
    # flat: no more descriptors than the warm-up's peak allows for (a
    # reconnect in flight), and memory within a generous bound of it
    if af > wf + 4:
        print("  %s: descriptors grew from %d to %d" % (n, wf, af)); bad = 1
    if ar > 2 * wr + 16 * 1024:
        print("  %s: RSS grew from %d kB to %d kB" % (n, wr, ar)); bad = 1
sys.exit(bad)
PY
cat "$T/usage.report"
fault_say "projector restarts: $restarts (each after its own SIGKILL)"
fault_check soak
