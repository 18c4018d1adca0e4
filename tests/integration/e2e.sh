#!/usr/bin/env bash
# e2e.sh: the walking skeleton end to end. The sample feed (JSON lines and
# CSV), edge-case events and raw poison go through twinctl publish and the
# devbroker into PostgreSQL; the views must equal what the independent
# oracle computes from the same files, the dead letters must carry the right
# reasons, and the digest must not move when the projector restarts and
# everything is delivered again.
. "$(dirname "$0")/harness.sh"
harness_up
S=$TW_ROOT/ops/sample
D=$TW_ROOT/tests/integration/data
"$TWINCTL" load-reference --agencies "$S/agencies.csv" --localities "$S/localities.csv" >/dev/null
"$PY" "$TW_ROOT/tests/integration/listen.py" "$T/notices" >"$T/listen.out" 2>&1 &
listener=$!
for _ in $(seq 50); do grep -q listening "$T/listen.out" && break; sleep 0.1; done
grep -q listening "$T/listen.out" || fail "listen.py did not start: $(cat "$T/listen.out")"
start_projector p1 --log-format json

"$TWINCTL" publish "$S/feed.jsonl" "$S/feed-sample.csv" >"$T/publish1.out"
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up with the sample"
"$TWINCTL" publish "$D/edge.jsonl" >"$T/publish2.out"
# raw poison: random bytes, a truncated event, and an unknown body (field 40)
ev_id=0a2436663163316135322d386135372d346434652d396433352d306234663264366139613031
"$PY" "$TW_ROOT/tests/integration/produce_raw.py" "$KAFKA_BROKERS" twinwatch.events.v1 \
  fffefd0067617262616765 "${ev_id:0:60}" "${ev_id}1a01412201312801c20200"
"$TWINCTL" wait --caught-up --timeout 60 || fail "projector did not catch up with the edge cases"

now_ms=$(($(date +%s) * 1000))
"$PY" "$TW_ROOT/tests/integration/oracle.py" --agencies "$S/agencies.csv" \
  --localities "$S/localities.csv" --now-ms "$now_ms" --jsonl-feed "$S/feed.jsonl" \
  --csv-feed "$S/feed-sample.csv" --jsonl-feed "$D/edge.jsonl" \
  --out-localities "$T/expected.csv" --out-summary "$T/expected.json"

psql -XAtq -c "COPY (SELECT locality_code, twinnings_active, pledges_open, pledges_fulfilled,
  pledges_cancelled, pledges_overdue, pledged_vnd, delivered_vnd, fulfilment_pct, visits,
  gift_value_vnd, trainees, jobs, models_replicated, substantive_activities, formal_activities,
  (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_activity_ms
  FROM supervision.locality_overview ORDER BY locality_code) TO STDOUT WITH CSV HEADER" \
  >"$T/actual.csv"
if ! diff -u "$T/expected.csv" "$T/actual.csv" >"$T/views.diff"; then
  cat "$T/views.diff" >&2
  fail "supervision.locality_overview differs from the oracle"
fi
rows=$(($(wc -l <"$T/actual.csv") - 1))
[ "$rows" -ge 20 ] || fail "only $rows localities in the view: the sample did not load"

exp() { "$PY" -c "import json,sys; d=json.load(open('$T/expected.json')); print($1)"; }
assert_eq "$(q 'SELECT count(*) FROM audit.event_log')" "$(exp "d['accepted']")" "accepted events"
assert_eq "$(q 'SELECT sum(duplicates) FROM ingest.partition_offset')" "$(exp "d['duplicates']")" \
  "duplicates ignored"
# the oracle knows the feed's refusals; the three raw messages come on top
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason NOT IN ('undecodable','unknown_body')")" \
  "$(exp "sum(v for k, v in d['dead_letter_reasons'].items() if k not in ('undecodable','unknown_body'))")" \
  "dead letters from the feed"
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason = 'undecodable'")" 2 "undecodable poison"
assert_eq "$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason = 'unknown_body'")" \
  "$(($(exp "d['dead_letter_reasons'].get('unknown_body', 0)") + 1))" "unknown body"
for r in conflicting_duplicate unknown_agency unknown_pledge twinning_not_active; do
  n=$(q "SELECT count(*) FROM ingest.dead_letter WHERE reason = '$r'")
  [ "$n" -ge 1 ] || fail "the edge cases should dead-letter at least one $r"
done
# reconciliation: every message is accepted, dead-lettered or a duplicate
produced=$(q "SELECT sum(next_offset) FROM ingest.partition_offset")
sumall=$(q "SELECT sum(accepted + dead_lettered + duplicates) FROM ingest.partition_offset")
assert_eq "$sumall" "$produced" "produced = accepted + dead-lettered + duplicates"
echo "reconciliation: produced $produced = accepted $(q 'SELECT sum(accepted) FROM ingest.partition_offset') + dead $(q 'SELECT sum(dead_lettered) FROM ingest.partition_offset') + duplicates $(q 'SELECT sum(duplicates) FROM ingest.partition_offset')"

# every committed batch told its listeners what it changed (the sentinel's
# trigger): the notices add up to the events accepted, and they name the
# twinnings written (or say "all" when a batch touched too many to list)
kill "$listener"
wait "$listener" || fail "listen.py failed: $(cat "$T/listen.out")"
# the log's rows of one batch share logged_at (its transaction's start)
psql -XAtq -v ON_ERROR_STOP=1 -F $'\t' -c "SELECT logged_at, CASE WHEN event_type <> 'feed_heartbeat' THEN agency_code || '|' || locality_code END, coalesce(agency_code || '/' || pledge_id, '')
   FROM audit.event_log ORDER BY logged_at" >"$T/batches"
q "SELECT DISTINCT agency_code || '|' || locality_code FROM proj.parked_delivery" >"$T/parked"
"$PY" - "$T/notices" "$T/batches" "$T/parked" <<'PYEOF' ||
import json, sys
from collections import OrderedDict
notices = [json.loads(l) for l in open(sys.argv[1])]
batches = OrderedDict()
for line in open(sys.argv[2]):
    at, tw, pl = line.rstrip("\n").split("\t")
    b = batches.setdefault(at, {"n": 0, "tw": set(), "pl": set()})
    b["n"] += 1
    if tw:  # heartbeats change only their source's row
        b["tw"].add(tw)
    if pl:
        b["pl"].add(pl)
batches = list(batches.values())
logged = set().union(*(b["tw"] for b in batches))
assert len(notices) == len(batches), f"{len(notices)} notices for {len(batches)} committed batches"
# Lanes commit concurrently: match each notice to the batch it describes. A
# notice names what the batch changed: the twinnings of its events, except
# where a delivery was only parked (its pledge not seen yet).
listed, named_all = 0, set()
for i, n in sorted(enumerate(notices), key=lambda x: bool(x[1].get("all"))):
    if n.get("all"):
        assert set(n) == {"events", "all"}, f"notice {i}: {n}"
        match = [b for b in batches if b["n"] == n["events"]]
        named_all = logged
    else:
        listed += 1
        assert n["sources"], f"notice {i} names no source system"
        named = {t.split("|")[0] for t in n["twinnings"]} | {p.split("/")[0] for p in n["pledges"]}
        assert set(n["agencies"]) >= named, f"notice {i}: agencies miss {named - set(n['agencies'])}"
        match = [b for b in batches if b["n"] == n["events"] and b["tw"] >= set(n["twinnings"])
                 and b["pl"] >= set(n["pledges"])]
        named_all |= set(n["twinnings"])
    if not match:
        raise AssertionError(f"notice {i} matches no committed batch: {str(n)[:300]}")
    batches.remove(match[0])
assert listed, "no notice listed its subjects"
parked = set(open(sys.argv[3]).read().split())
assert logged - parked <= named_all, f"twinnings changed but never named: {sorted(logged - parked - named_all)[:5]}"
print(f"notices: {len(notices)} batches, {listed} listing their subjects")
PYEOF
  fail "the projector's NOTIFYs do not match what it wrote"

# dead letters are inspectable by an operator
"$TWINCTL" dlq list --reason unknown_agency | grep -q unknown_agency || fail "dlq list"
id=$(q "SELECT min(id) FROM ingest.dead_letter WHERE reason = 'unknown_agency'")
"$TWINCTL" dlq show "$id" | grep -q '"agencyCode"' || fail "dlq show decodes the payload"

# restart: the digest stays, and re-delivering everything changes nothing
d1=$("$TWINCTL" digest)
stop_projector p1
grep -q 'stopped:' "$T/p1.log" || fail "projector did not stop cleanly on SIGTERM"
# --log-format json: every line one JSON object; one warning per dead letter,
# naming its topic, partition, offset and event id as ingest.dead_letter does
psql -XAtq -F $'\t' -c "SELECT topic, kafka_partition, kafka_offset, coalesce(event_id::text, ''), reason
  FROM ingest.dead_letter" >"$T/dead.tsv"
"$PY" - "$T/p1.log" "$T/dead.tsv" <<'PYEOF' || fail "the projector's JSON log does not match the dead letters"
import json, sys
logged = set()
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        sys.exit(f"{sys.argv[1]}:{n}: not JSON ({e}): {line[:120]!r}")
    missing = {"ts", "level", "program", "msg"} - o.keys()
    if missing:
        sys.exit(f"{sys.argv[1]}:{n}: no {sorted(missing)}: {line[:120]!r}")
    if o["msg"].startswith("dead-lettered ("):
        if o["level"] != "warn":
            sys.exit(f"{sys.argv[1]}:{n}: a dead letter logged at {o['level']}")
        reason = o["msg"][len("dead-lettered ("):].split(")")[0]
        key = (o["topic"], o["partition"], o["offset"], o["event_id"] or "", reason)
        if key in logged:
            sys.exit(f"{sys.argv[1]}:{n}: dead letter logged twice: {key}")
        logged.add(key)
rows = set()
for line in open(sys.argv[2]):
    t, p, off, eid, reason = line.rstrip("\n").split("\t")
    rows.add((t, int(p), int(off), eid, reason))
if logged != rows:
    sys.exit(f"dead letters in the log but not in ingest.dead_letter: {sorted(logged - rows)[:3]}; "
             f"in ingest.dead_letter but not logged: {sorted(rows - logged)[:3]}")
print(f"json log: {len(rows)} dead letters, each logged once with topic/partition/offset/event_id")
PYEOF
start_projector p2
"$TWINCTL" publish "$S/feed.jsonl" >/dev/null
"$TWINCTL" wait --caught-up --timeout 120 || fail "projector did not catch up after restart"
d2=$("$TWINCTL" digest)
assert_eq "$d2" "$d1" "digest after restart and re-delivery"
# the re-delivery went through the projector's duplicate path (refused, then id
# lookups), not around it
grep -q 'redone with id checks' "$T/p2.log" || fail "the re-delivered batch did not hit the duplicate check"
dups=$(q 'SELECT sum(duplicates) FROM ingest.partition_offset')
lines=$(grep -c . "$S/feed.jsonl")
assert_eq "$dups" "$(($(exp "d['duplicates']") + lines))" "re-delivered events counted as duplicates"
assert_eq "$(q 'SELECT count(*) FROM audit.event_log')" "$(exp "d['accepted']")" "no event twice in the log"
echo "e2e: $rows localities equal to the oracle, digest $d1"
