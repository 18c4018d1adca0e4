#!/usr/bin/env bash
# group.sh: two projectors in one consumer group share the partitions, a
# third joins mid-run and one leaves, and the projection is the same as one
# projector's: equal digests, every event once.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null

# reference: one projector
start_projector solo
"$TWINCTL" publish "$S/feed.jsonl" "$S/feed-sample.csv" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "solo projector did not catch up"
ref=$("$TWINCTL" digest)
stop_projector solo

# the same events into a second database, projected by a changing group
psql -XAtq -d postgres -c "CREATE DATABASE twinwatch2"
export PGDATABASE=twinwatch2
"$TWINCTL" migrate >/dev/null
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
start_projector g1 --set group.id=g --set batch.max_events=200
start_projector g2 --set group.id=g --set batch.max_events=200
sleep 5
start_projector g3 --set group.id=g --set batch.max_events=200
sleep 2
stop_projector g1
"$TWINCTL" wait --caught-up --timeout 120 || fail "the group did not catch up"
got=$("$TWINCTL" digest)
assert_eq "$got" "$ref" "digest of a changing group vs one projector"
assert_eq "$(q 'SELECT count(*) FROM audit.event_log')" "$(grep -c . "$S/feed.jsonl" | awk -v c="$(($(grep -c . "$S/feed-sample.csv") - 1))" '{print $1 + c}')" "events in the log"
assert_eq "$(q 'SELECT sum(duplicates) + sum(dead_lettered) FROM ingest.partition_offset')" 0 "duplicates or dead letters"
n=$(cat "$T"/g2.log "$T"/g3.log | grep -c 'assigned' || true)
[ "$n" -ge 2 ] || fail "the projectors never shared partitions"
echo "group: digest $got equal to one projector's after members joined and left"
