#!/usr/bin/env bash
# tests/bench/gateway.sh: ops/bench --gateway [--events N] [--smoke]
# (DESIGN.md's gateway targets), with its own PostgreSQL and devbroker:
#   1. twinctl publish of N events (JSON lines, one agency);
#   2. the same N events through the gateway: 8 keep-alive clients posting
#      500-event NDJSON requests (each answered after Kafka's acknowledgement);
#   3. single-event posts at 200 requests/s for 10 s: p50 and p99;
#   4. the gateway's peak RSS (VmHWM) over the run.
# Targets (reported, asserted only with --assert): >= 20,000 events/s and
# >= 0.5 x twinctl publish; single-event p99 <= 20 ms; RSS <= 64 MB.
# No projector runs: this measures the front door alone.
set -euo pipefail
export LC_NUMERIC=C
. "$(dirname "$0")/../../ops/lib.sh"
cd "$TW_ROOT"
EVENTS=100000 SINGLE_S=10 ASSERT=0
while [ $# -gt 0 ]; do
  case $1 in
    --gateway) ;;
    --events) EVENTS=$2; shift ;;
    --smoke) EVENTS=5000 SINGLE_S=2 ;;
    --assert) ASSERT=1 ;;
    *) echo "ops/bench --gateway: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $EVENTS =~ ^[0-9]+$ ]] && [ "$EVENTS" -ge 500 ] || { echo "--events: at least 500" >&2; exit 2; }
PY=/usr/bin/python3
LOAD="$PY $TW_ROOT/tests/bench/gateway_load.py"
[ -x "$TW_BUILD/bin/gateway" ] || tw_build
T=$(mktemp -d /tmp/twbench-gw.XXXXXX)
chmod 755 "$T"
cleanup() {
  local rc=$?
  set +e
  tw_stop_pid "$T/gateway.pid" 5
  tw_stop_pid "$T/broker/devbroker.pid" 5
  tw_pg_stop "$T/pg" immediate
  [ $rc -eq 0 ] && rm -rf "$T" || echo "logs kept in $T" >&2
}
trap cleanup EXIT
port=$(tw_free_port)
tw_pg_start "$T/pg" "$port"
export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=twinwatch PGUSER=twinwatch TWINWATCH_ENV=$T/none
# partitions: the devbroker keeps 5 MB each; two copies of N events must fit
parts=$(((EVENTS * 2 * 200) / (4 * 1024 * 1024) + 6))
export KAFKA_BROKERS
KAFKA_BROKERS=$(tw_broker_start "$T/broker" --topic "twinwatch.events.v1:$parts")
TWINCTL=$TW_BUILD/bin/twinctl
"$TWINCTL" migrate >/dev/null
"$TWINCTL" load-reference --agencies ops/sample/agencies.csv --localities ops/sample/localities.csv >/dev/null
TOKEN=$("$TWINCTL" tokens issue --agency SO-NOIVU --name bench --by bench 2>/dev/null | tail -n 1)
$LOAD gen "$EVENTS" SO-NOIVU ops/sample/localities.csv "$T/events.jsonl"
$LOAD gen $((SINGLE_S * 200)) SO-NOIVU ops/sample/localities.csv "$T/single.jsonl"

gport=$(tw_free_port)
PGUSER=twinwatch_gateway "$TW_BUILD/bin/gateway" --set kafka.brokers="$KAFKA_BROKERS" \
  --set http.address=127.0.0.1 --set http.port="$gport" --set rate.requests_per_s=0 \
  >"$T/gateway.log" 2>&1 </dev/null &
echo $! >"$T/gateway.pid"
for _ in $(seq 1 100); do grep -q "listening on" "$T/gateway.log" && break; sleep 0.1; done
URL=http://127.0.0.1:$gport/v1/events

t0=$EPOCHREALTIME
"$TWINCTL" publish "$T/events.jsonl" >"$T/publish.out"
t1=$EPOCHREALTIME
pub_rate=$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
read -r n secs statuses <<<"$($LOAD bulk "$URL" "$TOKEN" "$T/events.jsonl" 8 500)"
[[ $statuses == 200:* ]] && [[ $statuses != *,* ]] || { echo "bulk: not every request got 200: $statuses" >&2; exit 1; }
gw_rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
read -r reqs p50 p99 sstat <<<"$($LOAD single "$URL" "$TOKEN" "$T/single.jsonl" 200 "$SINGLE_S")"
[[ $sstat == 200:* ]] && [[ $sstat != *,* ]] || { echo "single: not every request got 200: $sstat" >&2; exit 1; }
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$(cat "$T/gateway.pid")/status")
ratio=$(awk -v g="$gw_rate" -v p="$pub_rate" 'BEGIN { printf "%.2f", g / p }')

printf '\n%-52s %12s %10s\n' "ops/bench --gateway ($EVENTS events, $(nproc) cores)" value target
printf '%-52s %12s %10s\n' "twinctl publish, events/s" "$pub_rate" "-"
printf '%-52s %12s %10s\n' "gateway, 8 clients x 500-event NDJSON, events/s" "$gw_rate" ">= 20000"
printf '%-52s %12s %10s\n' "gateway / twinctl publish" "$ratio" ">= 0.5"
printf '%-52s %12s %10s\n' "single event at 200 req/s ($reqs requests), p50 ms" "$p50" "-"
printf '%-52s %12s %10s\n' "single event at 200 req/s, p99 ms" "$p99" "<= 20"
printf '%-52s %12s %10s\n' "gateway peak RSS, MB" "$((rss_kb / 1024))" "<= 64"
if [ "$ASSERT" = 1 ]; then
  awk -v g="$gw_rate" -v r="$ratio" -v p="$p99" -v m="$rss_kb" \
    'BEGIN { exit !(g >= 20000 && r >= 0.5 && p <= 20 && m <= 65536) }' || { echo "a target was missed" >&2; exit 3; }
fi
