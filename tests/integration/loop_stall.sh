#!/usr/bin/env bash
# loop_stall.sh: the projector's event loop never blocks. Through a first
# assignment of partitions with nothing stored (their log start asked of
# the broker), two rebalances (a second member joins, then leaves), a
# re-delivered feed (batches fail on known event ids and everything
# restarts from the stored offsets) and a PostgreSQL connection killed
# under it (reconnect, then restart), and signed events (their agency's
# keys read with the batch), no iteration of the loop may work
# longer than 50 ms: twinwatch_projector_loop_stall_seconds, the wall time
# of each iteration less the time the scheduler kept the thread off a CPU,
# must have every observation in its 0.05 bucket.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
port=$(tw_free_port)
start_projector p1 --set group.id=stall --set http.port="$port" --set http.address=127.0.0.1 \
  --set retry.max_ms=500
URL=http://127.0.0.1:$port
for _ in $(seq 100); do grep -q 'assigned, starting at' "$T/p1.log" && break; sleep 0.1; done
grep -q 'assigned, starting at the beginning (nothing stored)' "$T/p1.log" ||
  fail "p1 was not assigned partitions with nothing stored"

"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "p1 did not catch up with the feed"
d1=$("$TWINCTL" digest)

# a second member joins (p1's partitions revoked, some reassigned), then leaves
start_projector p2 --set group.id=stall
for _ in $(seq 300); do grep -q 'assigned, starting at' "$T/p2.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'assigned, starting at' "$T/p2.log" || fail "p2 was never assigned partitions"
stop_projector p2
for _ in $(seq 300); do [ "$(grep -c 'revoked' "$T/p1.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'revoked' "$T/p1.log")" -ge 2 ] || fail "p1 did not go through two rebalances"

# the feed again: known event ids fail batches, which restart from the
# stored offsets and are redone with id checks
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "p1 did not catch up with the re-delivered feed"
grep -q 'redone with id checks' "$T/p1.log" || fail "the re-delivery failed no batch"

# PostgreSQL drops the projector's connections: the next batch fails, the
# lanes reconnect and start again from the stored offsets
q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
   WHERE application_name = 'twinwatch-projector'" >/dev/null
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "p1 did not catch up after losing PostgreSQL"
grep -q 'reconnected to PostgreSQL' "$T/p1.log" || fail "p1 never reconnected"
assert_eq "$("$TWINCTL" digest)" "$d1" "digest after the rebalances, re-deliveries and reconnect"

# signed events (issue 15): their agency's keys are read with the batch, not
# by a blocking query on the loop; the first signed batch, and a signature no
# registered key verifies, were both loads of the keys
SIGN="$PY $(dirname "$0")/sign_produce.py"
$SIGN keygen "$T/agency.key" "$T/agency.pub.pem"
"$TWINCTL" keys add --agency SO-NOIVU --by tester "$T/agency.pub.pem" >/dev/null || fail "keys add"
NOW_MS=$(($(date +%s) * 1000))
for set in signed wrong; do
  for i in $(seq 1 20); do
    printf '{"agencyCode":"SO-NOIVU","localityCode":"20869","occurredAtMs":"%s","sourceSystem":"snv-export","sourceRef":"%s-%d","feedHeartbeat":{}}\n' \
      "$NOW_MS" "$set" "$i"
  done >"$T/$set.jsonl"
  "$TWINCTL" publish --topic "scratch.$set" "$T/$set.jsonl" >/dev/null
  assert_eq "$($SIGN produce "$KAFKA_BROKERS" "scratch.$set" twinwatch.events.v1 "$set" "$T/agency.key")" 20 \
    "$set: produced directly"
  "$TWINCTL" wait --caught-up --timeout 60 >/dev/null || fail "p1 did not catch up with the $set events"
done
assert_eq "$(q "SELECT count(*) FROM audit.event_log WHERE source_ref LIKE 'signed-%' AND signature IS NOT NULL")" \
  20 "signed events logged with their signature"
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason = 'bad_signature'")" 20 \
  "wrongly signed events dead-lettered bad_signature"

http_get "$URL/metrics" >"$T/metrics.txt"
"$PY" - "$T/metrics.txt" <<'PY' || fail "an iteration of p1's loop worked longer than 50 ms"
import re, sys
lines = open(sys.argv[1]).read().splitlines()[1:]
buckets, count = {}, None
for line in lines:
    m = re.match(r'twinwatch_projector_loop_stall_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
    if m:
        buckets[m.group(1)] = float(m.group(2))
    m = re.match(r"twinwatch_projector_loop_stall_seconds_count (\S+)", line)
    if m:
        count = float(m.group(1))
assert count and count > 100, f"too few iterations timed: {count}"
within = buckets["0.05"]
if within != count:
    over = {le: count - n for le, n in buckets.items() if n < count}
    sys.exit(f"{int(count - within)} of {int(count)} iterations worked longer than 50 ms "
             f"(iterations above each bound: {over})")
print(f"loop stall: {int(count)} iterations, all within 50 ms "
      f"({int(buckets['0.005'])} within 5 ms)")
PY
