#!/usr/bin/env bash
# metrics.sh: the projector's GET /metrics and /healthz. After the sample
# feed, every count it shows equals what PostgreSQL holds (events by outcome
# and type, stored offsets, lag 0); /healthz turns 503 naming PostgreSQL
# while the server is down and events wait, and 200 again once it is back.
# The Grafana dashboard (ops/grafana) names only metrics this scrape shows.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
port=$(tw_free_port)
start_projector p1 --set http.port="$port" --set http.address=127.0.0.1 --set health.stall_ms=3000 \
  --set retry.max_ms=500
URL=http://127.0.0.1:$port
get() { http_get "$URL$1"; }
status() { http_status "$URL$1"; }
for _ in $(seq 50); do [ "$(status /healthz)" = 200 ] && break; sleep 0.2; done
assert_eq "$(status /healthz)" 200 "/healthz once started"

"$TWINCTL" publish "$S/feed.jsonl" "$S/feed-sample.csv" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the sample"
# what the projector counted = what PostgreSQL holds
cat >"$T/check.py" <<'PY'
import re, sys
series = {}
for line in open(sys.argv[1]).read().splitlines()[1:]:
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        series[name] = float(value)
def total(prefix, **labels):
    s = 0
    for name, v in series.items():
        if name.startswith(prefix + "{") and all(f'{k}="{w}"' in name for k, w in labels.items()):
            s += v
    return s
want = {t: int(n) for t, n in (l.split() for l in open(sys.argv[2]))}
for t, n in want.items():
    got = total("twinwatch_projector_events_total", result="accepted", type=t)
    assert got == n, f"accepted {t}: /metrics {got}, event log {n}"
got = total("twinwatch_projector_events_total", result="accepted")
assert got == sum(want.values()), f"accepted in all: /metrics {got}, event log {sum(want.values())}"
dead = total("twinwatch_projector_events_total", result="dead_lettered")
assert dead == int(sys.argv[4]), f"dead-lettered: /metrics {dead}, dead letters {sys.argv[4]}"
dup = total("twinwatch_projector_events_total", result="duplicate")
assert dup == int(sys.argv[5]), f"duplicates: /metrics {dup}, offsets table {sys.argv[5]}"
for line in open(sys.argv[3]):
    p, n = line.split()
    got = series.get(f'twinwatch_projector_stored_offset{{partition="{p}"}}')
    assert got == int(n), f"p{p} stored offset: /metrics {got}, PostgreSQL {n}"
    assert series.get(f'twinwatch_projector_lag{{partition="{p}"}}') == 0, f"p{p} lag not 0"
assert series["twinwatch_projector_lag_total"] == 0
assert series['twinwatch_projector_batches_total{result="committed"}'] >= 1
assert series["twinwatch_projector_batch_events_count"] == series['twinwatch_projector_batches_total{result="committed"}']
assert series["twinwatch_projector_pg_connections_up"] >= 1
print(f"metrics: {int(sum(want.values()))} accepted, {int(dead)} dead-lettered, {int(dup)} duplicates, as PostgreSQL says")
PY
check() { # check WHEN: /metrics against PostgreSQL
  get /metrics >"$T/metrics.txt"
  assert_eq "$(head -1 "$T/metrics.txt")" 200 "/metrics status ($1)"
  psql -XAtq -F ' ' -c "SELECT event_type, count(*) FROM audit.event_log GROUP BY 1" >"$T/by-type.txt"
  q "SELECT kafka_partition || ' ' || next_offset FROM ingest.partition_offset" >"$T/offsets.txt"
  "$PY" "$T/check.py" "$T/metrics.txt" "$T/by-type.txt" "$T/offsets.txt" \
    "$(q 'SELECT count(*) FROM ingest.dead_letter')" \
    "$(q 'SELECT sum(duplicates) FROM ingest.partition_offset')" || fail "/metrics disagrees with PostgreSQL ($1)"
}
check "after the sample"
grep -q '^# TYPE twinwatch_projector_events_total counter$' "$T/metrics.txt" || fail "no events_total family"

# PostgreSQL down while events wait: 503 naming it; back: 200
tw_pg_stop "$T/pg" fast
"$TWINCTL" publish "$TW_ROOT/tests/integration/data/edge.jsonl" >/dev/null 2>&1 || true
for _ in $(seq 100); do [ "$(status /healthz)" = 503 ] && break; sleep 0.2; done
get /healthz >"$T/health-down.txt"
assert_eq "$(head -1 "$T/health-down.txt")" 503 "/healthz with PostgreSQL stopped"
grep -q 'PostgreSQL' "$T/health-down.txt" || fail "/healthz does not name PostgreSQL: $(cat "$T/health-down.txt")"
echo "while down: $(sed -n 2p "$T/health-down.txt")"
tw_pg_start "$T/pg" "$PGPORT"
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up after PostgreSQL came back"
for _ in $(seq 50); do [ "$(status /healthz)" = 200 ] && break; sleep 0.2; done
assert_eq "$(status /healthz)" 200 "/healthz after PostgreSQL is back"
check "after the edge cases, published while PostgreSQL was down" # dead letters among them
[ "$(q 'SELECT count(*) FROM ingest.dead_letter')" -gt 0 ] || fail "the edge cases should dead-letter some events"
# the Grafana dashboard names only what this scrape shows (tests/deploy/check_dashboard.py);
# and the check does catch a renamed metric
DASH=$TW_ROOT/ops/grafana/twinwatch.json
"$PY" "$TW_ROOT/tests/deploy/check_dashboard.py" "$DASH" --service projector "$T/metrics.txt" ||
  fail "ops/grafana/twinwatch.json names what the projector's /metrics does not show"
sed 's/twinwatch_projector_lag_total/twinwatch_projector_lag_sum/' "$DASH" >"$T/renamed.json"
if "$PY" "$TW_ROOT/tests/deploy/check_dashboard.py" "$T/renamed.json" --service projector \
  "$T/metrics.txt" >"$T/renamed.err" 2>&1; then
  fail "check_dashboard.py accepted a dashboard naming twinwatch_projector_lag_sum"
fi
grep -q "panel 'Consumer lag, all partitions'.*twinwatch_projector_lag_sum is not in" "$T/renamed.err" ||
  fail "check_dashboard.py did not name the panel and metric: $(cat "$T/renamed.err")"
get /metrics | grep -q '^twinwatch_projector_reconnects_total [1-9]' || fail "reconnects not counted"

# A stall with PostgreSQL up: a session holds a lock the batches need (a
# stuck migration, say). Events that arrive after a quiet spell are not a
# stall the moment they arrive; held for health.stall_ms, they are: 503
# "no batch committed" (not PostgreSQL: it is up); the lock gone, 200.
PGAPPNAME=tw-locker psql -XAtq -c "BEGIN; LOCK TABLE audit.event_log IN ACCESS EXCLUSIVE MODE;
  SELECT pg_sleep(120)" >/dev/null 2>&1 </dev/null &
locker=$!
for _ in $(seq 50); do
  [ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'audit.event_log'::regclass
    AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
  sleep 0.1
done
sleep 3.5 # the last commit is now older than health.stall_ms
"$TWINCTL" publish "$TW_ROOT/ops/sample/feed.jsonl" >/dev/null || fail "publish during the lock"
for _ in $(seq 100); do
  get /metrics | grep -q '^twinwatch_projector_lag_total [1-9]' && break
  sleep 0.1
done
get /metrics | grep -q '^twinwatch_projector_lag_total [1-9]' || fail "no lag shown while the lock blocks the batches"
get /healthz >"$T/health-new.txt"
assert_eq "$(head -1 "$T/health-new.txt")" 200 "/healthz as events arrive after a quiet spell ($(sed -n 2p "$T/health-new.txt"))"
for _ in $(seq 100); do [ "$(status /healthz)" = 503 ] && break; sleep 0.2; done
get /healthz >"$T/health-stall.txt"
assert_eq "$(head -1 "$T/health-stall.txt")" 503 "/healthz while a lock blocks the batches"
grep -q 'no batch committed for [0-9]* s while [0-9]* events wait' "$T/health-stall.txt" ||
  fail "/healthz does not name the stall: $(cat "$T/health-stall.txt")"
grep -q 'PostgreSQL' "$T/health-stall.txt" && fail "/healthz blames PostgreSQL, which is up: $(cat "$T/health-stall.txt")"
echo "while stalled: $(sed -n 2p "$T/health-stall.txt")"
# the server notices a gone client only when it next writes to it: end the
# session from the server side
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tw-locker'" >/dev/null
wait "$locker" 2>/dev/null || true
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up after the lock went"
for _ in $(seq 50); do [ "$(status /healthz)" = 200 ] && break; sleep 0.2; done
assert_eq "$(status /healthz)" 200 "/healthz once the lock is gone"
assert_eq "$(status /nothing)" 404 "unknown path"
echo "metrics: /healthz 200 -> 503 (PostgreSQL down) -> 200 -> 503 (stalled on a lock) -> 200"
