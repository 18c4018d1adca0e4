#!/usr/bin/env bash
# sentinel_metrics.sh: the sentinel's GET /metrics and /healthz. Over the
# sample (which raises dozens of alerts on today's date), the alerts by
# rule, state and severity, the transitions and the messages the broker
# acknowledged equal what PostgreSQL holds; /healthz turns 503 naming
# PostgreSQL while it is stopped, and 200 again once it is back. The Grafana
# dashboard (ops/grafana) names only metrics this scrape shows.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector p1
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the sample"
port=$(tw_free_port)
"$TW_BUILD/bin/sentinel" --set kafka.brokers="$KAFKA_BROKERS" --set http.port="$port" \
  --set http.address=127.0.0.1 --set retry.max_ms=500 >>"$T/sentinel.log" 2>&1 </dev/null &
echo $! >"$T/sentinel.pid"
URL=http://127.0.0.1:$port
get() { http_get "$URL$1"; }
status() { http_status "$URL$1"; }

# settled: alerts raised, every outbox row acknowledged and marked sent
for _ in $(seq 150); do
  [ "$(q "SELECT count(*) > 0 AND count(*) FILTER (WHERE o.sent_at IS NULL) = 0 FROM alerting.outbox o")" = t ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM alerting.alert")" -gt 0 ] || fail "the sample raised no alert"
sleep 0.5
assert_eq "$(status /healthz)" 200 "/healthz"
get /metrics >"$T/metrics.txt"
assert_eq "$(head -1 "$T/metrics.txt")" 200 "/metrics status"
psql -XAtq -F ' ' -c "SELECT rule, state, severity, count(*) FROM alerting.alert GROUP BY 1, 2, 3" >"$T/alerts.txt"
"$PY" - "$T/metrics.txt" "$T/alerts.txt" "$(q 'SELECT count(*) FROM alerting.alert_history')" \
  "$(q 'SELECT count(*) FROM alerting.outbox WHERE sent_at IS NOT NULL')" <<'PY' || fail "/metrics disagrees with PostgreSQL"
import sys, time
series = {}
for line in open(sys.argv[1]).read().splitlines()[1:]:
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        series[name] = float(value)
want = {}
for line in open(sys.argv[2]):
    rule, state, severity, n = line.split()
    want[f'twinwatch_sentinel_alerts{{rule="{rule}",state="{state}",severity="{severity}"}}'] = int(n)
got = {k: v for k, v in series.items() if k.startswith("twinwatch_sentinel_alerts{") and v}
assert got == want, f"alerts by rule/state/severity: /metrics {got}, PostgreSQL {want}"
assert series["twinwatch_sentinel_transitions_total"] == int(sys.argv[3]), \
    f"transitions: /metrics {series['twinwatch_sentinel_transitions_total']}, history {sys.argv[3]}"
assert series["twinwatch_sentinel_published_total"] == int(sys.argv[4]), \
    f"published: /metrics {series['twinwatch_sentinel_published_total']}, outbox rows sent {sys.argv[4]}"
assert series["twinwatch_sentinel_outbox_unsent"] == 0
assert series["twinwatch_sentinel_in_flight"] == 0
assert series["twinwatch_sentinel_evaluations_total"] >= 1
assert series["twinwatch_sentinel_evaluation_seconds_count"] == series["twinwatch_sentinel_evaluations_total"]
nd = series["twinwatch_sentinel_next_deadline_timestamp_seconds"]
assert nd == 0 or nd > time.time() - 5, f"next deadline {nd} is in the past"
assert series["twinwatch_sentinel_pg_connections_up"] == 2
print(f"sentinel metrics: {sum(want.values())} alerts in {len(want)} series, {sys.argv[3]} transitions, {sys.argv[4]} published, as PostgreSQL says")
PY
"$PY" "$TW_ROOT/tests/deploy/check_dashboard.py" "$TW_ROOT/ops/grafana/twinwatch.json" \
  --service sentinel "$T/metrics.txt" ||
  fail "ops/grafana/twinwatch.json names what the sentinel's /metrics does not show"

tw_pg_stop "$T/pg" fast
for _ in $(seq 100); do [ "$(status /healthz)" = 503 ] && break; sleep 0.1; done
get /healthz >"$T/health-down.txt"
assert_eq "$(head -1 "$T/health-down.txt")" 503 "/healthz with PostgreSQL stopped"
grep -q PostgreSQL "$T/health-down.txt" || fail "/healthz does not name PostgreSQL: $(cat "$T/health-down.txt")"
echo "while down: $(sed -n 2p "$T/health-down.txt")"
tw_pg_start "$T/pg" "$PGPORT"
for _ in $(seq 100); do [ "$(status /healthz)" = 200 ] && break; sleep 0.1; done
assert_eq "$(status /healthz)" 200 "/healthz after PostgreSQL is back"
tw_stop_pid "$T/sentinel.pid" 10
echo "sentinel metrics: /healthz 200 -> 503 (PostgreSQL down) -> 200"
