#!/usr/bin/env bash
# offsets_lost.sh (fault 7): the broker's retention removes events the
# projector never saw. The projector must not skip them silently: it pauses
# the partition, logs one line naming the partition and the lost range,
# raises an operational alert with that range, and stays there until an
# operator accepts the loss (twinctl offsets accept-loss), then resumes at
# the broker's log start without a restart.
. "$(dirname "$0")/../integration/harness.sh"
FEEDGEN=$TW_BUILD/bin/feedgen
TOPIC=twinwatch.events.v1
harness_up --topic "$TOPIC:1"
"$FEEDGEN" --reference "$T/ref" --events 0 --pairs 50 >/dev/null
"$TWINCTL" load-reference --agencies "$T/ref/agencies.csv" --localities "$T/ref/localities.csv" >/dev/null

produce() { # produce N SEED
  "$FEEDGEN" --brokers "$KAFKA_BROKERS" --topic "$TOPIC" --events "$1" --seed "$2" --pairs 50 \
    >>"$T/feedgen.log" 2>&1 || fail "feedgen could not produce $1 events"
}
low_watermark() {
  $PY -c 'import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "probe"})
print(c.get_watermark_offsets(TopicPartition(sys.argv[2], 0), timeout=10)[0])' "$KAFKA_BROKERS" "$TOPIC"
}

# 1. the projector has seen the first 500 events, then stops
produce 500 1
start_projector p
"$TWINCTL" wait --caught-up --timeout 60 || fail "the projector did not catch up with 500 events"
stop_projector p
stored=$(q "SELECT next_offset FROM ingest.partition_offset WHERE kafka_partition = 0")
assert_eq "$stored" 500 "stored offset after the first 500 events"

# 2. while it is down, far more than the devbroker keeps (5 MB per partition)
produce 150000 2
low=$(low_watermark)
[ "$low" -gt 500 ] || fail "the devbroker kept everything (log start $low): produce more"
logged0=$(q "SELECT count(*) FROM audit.event_log")

# 3. restarted: paused, alert raised with the exact range, nothing skipped
start_projector p
for _ in $(seq 1 60); do
  [ "$(q "SELECT count(*) FROM ingest.operational_alert WHERE resolved_at IS NULL")" = 1 ] && break
  sleep 0.5
done
row=$(q "SELECT kind, kafka_partition, lost_from, lost_to FROM ingest.operational_alert WHERE resolved_at IS NULL")
assert_eq "$row" "offsets_lost|0|500|$low" "the operational alert (kind|partition|from|to)"
grep -q "p0: offsets 500\.\.$((low - 1)) of $TOPIC are no longer on the broker" "$T/p.log" ||
  fail "no log line naming the partition and the lost range"
sleep 3
assert_eq "$(q "SELECT next_offset FROM ingest.partition_offset WHERE kafka_partition = 0")" 500 \
  "stored offset while the loss is unaccepted (it must not skip)"
assert_eq "$(q "SELECT count(*) FROM audit.event_log")" "$logged0" "events logged while paused"
"$TWINCTL" status | grep -q "offsets_lost" || fail "twinctl status does not show the alert"
kill -0 "$(cat "$T/p.pid")" || fail "the projector exited instead of pausing"

# 4. operator's decision: bad calls refused, then the loss accepted
set +e
"$TWINCTL" offsets accept-loss 0 >"$T/al.out" 2>&1; rc=$?
set -e
assert_eq "$rc" 2 "accept-loss without --by"
grep -q -- "--by NAME is required" "$T/al.out" || fail "accept-loss without --by: $(cat "$T/al.out")"
set +e
"$TWINCTL" offsets accept-loss 3 --by ops >"$T/al.out" 2>&1; rc=$?
set -e
assert_eq "$rc" 1 "accept-loss for a partition with no alert"
grep -q "no open offsets_lost alert" "$T/al.out" || fail "accept-loss 3: $(cat "$T/al.out")"
"$TWINCTL" offsets accept-loss 0 --by "on-call" --note "retention 7d; agencies asked to re-send" \
  >"$T/al.out" || fail "accept-loss failed: $(cat "$T/al.out")"
assert_eq "$(q "SELECT resolved_by FROM ingest.operational_alert")" "on-call" "who accepted the loss"
# one audit row for the accepted loss, none for the refused attempts
assert_eq "$(q "SELECT string_agg(format('%s %s %s', action, by_name, subject), ';')
  FROM audit.action_log WHERE action LIKE 'offsets.%'")" "offsets.accept_loss on-call partition:twinwatch.events.v1/0" \
  "the audit trail of the accept-loss attempts"

# 5. the projector resumes at the log start by itself (within its 30 s check)
"$TWINCTL" wait --caught-up --timeout 90 || fail "the projector did not resume after accept-loss"
high=$((500 + 150000))
got=$(q "SELECT sum(accepted) + sum(dead_lettered) + sum(duplicates) FROM ingest.partition_offset")
assert_eq "$got" "$((500 + high - low))" "events accounted for (first 500 + those still on the broker)"
assert_eq "$(grep -c "are no longer on the broker" "$T/p.log")" 1 "log lines for one loss"
echo "offsets_lost: offsets 500..$((low - 1)) reported, paused, resumed at $low after accept-loss"
