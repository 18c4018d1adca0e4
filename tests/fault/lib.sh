# tests/fault/lib.sh: shared by the fault suites (DESIGN.md "Reliability").
# Source it after tests/integration/harness.sh:
#
#   . "$(dirname "$0")/../integration/harness.sh"
#   . "$(dirname "$0")/lib.sh"
#   fault_up [devbroker options]      PostgreSQL, devbroker, reference data
#   fault_produce_bg SECONDS          the scenario, spread over SECONDS
#   ... faults, with fault_start / fault_kill / fault_stop / fault_injected
#   fault_produce_wait; fault_check NAME
#
# fault_check compares the run with a reference run of the same feed with no
# fault (a second database, twinwatch_ref, on the same PostgreSQL, projected
# alongside the fault run when the faults cannot touch it, after it
# otherwise), and that reference with what the scenario generator knows the
# outcome must be.
#
# Sizes: a short scenario by default (a few thousand events, for ops/test);
# TW_FAULT_FULL=1 (ops/test --fault-full) the full one of ~200,000.
# TW_FAULT_EVENTS, TW_FAULT_PAIRS and TW_FAULT_SEED override the defaults.
# TW_FAULT_TABLE=FILE appends one summary row per test to FILE.

FAULT_HOME=$TW_ROOT/tests/fault
SCENARIO=$FAULT_HOME/scenario.py
TOPIC=twinwatch.events.v1
FAULT_FULL=${TW_FAULT_FULL:-0}
# The devbroker keeps at most 5 MB a partition (DESIGN.md, "Local runs"):
# the full scenario gets 12 partitions so that none drops its oldest events
# (fault_produce_wait checks that none did).
if [ "$FAULT_FULL" = 1 ]; then
  FAULT_EVENTS=${TW_FAULT_EVENTS:-200000}
  FAULT_PAIRS=${TW_FAULT_PAIRS:-2000}
  FAULT_PARTITIONS=${TW_FAULT_PARTITIONS:-12}
else
  FAULT_EVENTS=${TW_FAULT_EVENTS:-4000}
  FAULT_PAIRS=${TW_FAULT_PAIRS:-200}
  FAULT_PARTITIONS=${TW_FAULT_PARTITIONS:-6}
fi
FAULT_SEED=${TW_FAULT_SEED:-$(cksum <<<"${0##*/}" | cut -d' ' -f1)} # per test, stable
FAULT_GROUP=fault-projector
FAULT_INJECTED=0 # faults injected so far ("runs" in the table)
FAULT_PROCS=0    # projector processes started for the fault run
FAULT_FAILED=()  # what fault_check found wrong
FAULT_EXTRA=0    # heartbeats produced besides the scenario (fault_heartbeats), all accepted
FAULT_EXTRA_DEAD=0 # messages produced besides the scenario that are dead-lettered (soak's dlq
                   # replay), all for FAULT_EXTRA_DEAD_REASON (default undecodable)
FAULT_BROKER_LOST=0 # acknowledged messages the devbroker does not hold (FAULT_BROKER_MAY_LOSE=1)
RANDOM=$((FAULT_SEED % 32768)) # seeded: the same moments for the same seed

fault_say() { printf '%s %s\n' "$(date +%T)" "$*"; }

# fault_up [devbroker options]: the harness's PostgreSQL and devbroker (the
# events topic with FAULT_PARTITIONS partitions), the scenario's reference
# data (feedgen's codes), its Python protobuf module and its expected
# outcome ($T/expected.json).
fault_up() {
  harness_up --topic "$TOPIC:$FAULT_PARTITIONS" "$@"
  mkdir -p "$T/rss"
  "$PY" "$SCENARIO" --reference "$T/ref" --pairs "$FAULT_PAIRS"
  "$TWINCTL" load-reference --agencies "$T/ref/agencies.csv" \
    --localities "$T/ref/localities.csv" >/dev/null
  "$PY" "$SCENARIO" --events "$FAULT_EVENTS" --pairs "$FAULT_PAIRS" --seed "$FAULT_SEED" \
    --expect "$T/expected.json" --pydir "$T/py" || fail "the scenario generator failed"
  FAULT_PRODUCED=$(json_get produced)
  fault_rss_sampler
  fault_say "fault suite: $FAULT_PRODUCED messages over $FAULT_PAIRS twinnings, seed $FAULT_SEED$([ "$FAULT_FULL" = 1 ] && echo ' (full)')"
}

# json_get KEY [FILE]: a top-level value of a JSON file (expected.json).
json_get() {
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "${2:-$T/expected.json}"
}

# ---- producing ----

# fault_produce_bg SECONDS [RATE]: produces the scenario in the background at
# about FAULT_PRODUCED/SECONDS messages a second (or RATE), so that the
# projector is under load for that long.
fault_produce_bg() {
  local secs=$1 rate=${2:-}
  [ -n "$rate" ] || rate=$(((FAULT_PRODUCED + secs - 1) / secs))
  "$PY" "$SCENARIO" --brokers "$KAFKA_BROKERS" --topic "$TOPIC" --events "$FAULT_EVENTS" \
    --pairs "$FAULT_PAIRS" --seed "$FAULT_SEED" --pydir "$T/py" --rate "$rate" \
    >"$T/producer.out" 2>"$T/producer.log" &
  echo $! >"$T/producer.pid"
  fault_say "producing $FAULT_PRODUCED messages at $rate/s"
}

# fault_heartbeats PARTITIONS TAG: one FeedHeartbeat into each partition of
# the comma-separated list (accepted whatever the state; counted in
# FAULT_EXTRA so the checks expect them).
fault_heartbeats() {
  local out
  out=$("$PY" "$SCENARIO" --brokers "$KAFKA_BROKERS" --topic "$TOPIC" --pairs "$FAULT_PAIRS" \
    --pydir "$T/py" --heartbeats "$1" --tag "$2" 2>>"$T/producer.log") || fail "cannot produce heartbeats"
  FAULT_EXTRA=$((FAULT_EXTRA + ${out#produced }))
}

# fault_producing: true while the background producer runs.
fault_producing() { tw_pid_alive "$T/producer.pid"; }

# fault_loaded LABEL: counts a fault injected while the feed still streams
# in (FAULT_LOADED) or after it ended (noted); fault_require_load fails
# unless most were under load (the feed's duration is sized for that, but a
# slow machine may stretch the fault loop).
FAULT_LOADED=0 FAULT_UNLOADED=0
fault_loaded() {
  if fault_producing; then
    FAULT_LOADED=$((FAULT_LOADED + 1))
  else
    FAULT_UNLOADED=$((FAULT_UNLOADED + 1))
    fault_say "note: $1 after the feed ended"
  fi
}
fault_require_load() {
  fault_say "$FAULT_LOADED fault(s) under load, $FAULT_UNLOADED after the feed ended"
  [ "$FAULT_LOADED" -ge "$FAULT_UNLOADED" ] ||
    fail "most faults came after the feed ended: the feed is too short for the fault loop"
}

# fault_produce_wait [TIMEOUT]: waits for the producer; every message must
# have been acknowledged.
fault_produce_wait() {
  local t=${1:-600} pid rc=0 i
  [ -f "$T/producer.pid" ] || return 0
  pid=$(cat "$T/producer.pid")
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "the producer did not finish within ${t}s"
  wait "$pid" || rc=$?
  rm -f "$T/producer.pid"
  [ "$rc" = 0 ] || fail "the producer failed (exit $rc): $(tail -n 3 "$T/producer.log")"
  assert_eq "$(cat "$T/producer.out")" "produced $FAULT_PRODUCED" "producer's report"
  # the broker holds all of it: every log starts at 0, the ends add up
  local marks
  marks=$("$PY" -c 'import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "fault-watermarks"})
m = [c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=10) for p in range(int(sys.argv[3]))]
print(max(lo for lo, hi in m), sum(hi for lo, hi in m))' "$KAFKA_BROKERS" "$TOPIC" "$FAULT_PARTITIONS") ||
    fail "cannot read the topic's watermarks"
  [ "${marks% *}" = 0 ] ||
    fail "the devbroker dropped the oldest events of a partition (log start ${marks% *}): more partitions (TW_FAULT_PARTITIONS)"
  local held=${marks#* } want=$((FAULT_PRODUCED + FAULT_EXTRA + FAULT_EXTRA_DEAD))
  [ "$held" = "$want" ] && return 0
  # librdkafka's mock cluster (the devbroker) loses a few acknowledged
  # messages of an idempotent producer when partition leaders move while it
  # produces. broker.sh, which moves them, sets FAULT_BROKER_MAY_LOSE=1: the
  # run is then compared with the reference run of what the broker holds,
  # not with the scenario's own account, and the loss is reported.
  if [ "${FAULT_BROKER_MAY_LOSE:-0}" = 1 ] && [ "$held" -lt "$want" ]; then
    FAULT_BROKER_LOST=$((want - held))
    fault_say "NOTE: the devbroker holds $held of the $want acknowledged messages: it lost $FAULT_BROKER_LOST (its leader moves); the run is compared with the reference run of what it holds"
    return 0
  fi
  fail "the topic holds $held messages, $want were produced and acknowledged"
}

# ---- projectors ----

# fault_start NAME [--set k=v]...: a projector of the fault run (group
# $FAULT_GROUP unless given), logging to $T/NAME.log.
fault_start() {
  local name=$1
  shift
  start_projector "$name" --set group.id="$FAULT_GROUP" "$@"
  FAULT_PROCS=$((FAULT_PROCS + 1))
  echo "$name" >>"$T/projectors"
}

# fault_pid NAME: the pid of a running projector.
fault_pid() { cat "$T/$1.pid"; }

# fault_wait_assigned NAME [TIMEOUT]: until NAME logs an assignment.
fault_wait_assigned() {
  local i
  for ((i = 0; i < ${2:-60} * 10; i++)); do
    grep -q 'assigned, starting at' "$T/$1.log" 2>/dev/null && return 0
    tw_pid_alive "$T/$1.pid" || fail "$1 exited before it was assigned partitions"
    sleep 0.1
  done
  fail "$1 was not assigned partitions within ${2:-60}s"
}

# fault_rss_read PID: VmHWM (peak resident set) of a process in kB, or nothing.
fault_rss_read() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# fault_rss_sample NAME: records NAME's peak RSS so far ($T/rss/NAME.PID, kB).
# VmHWM only grows, so the last sample before a process ends is its peak.
fault_rss_sample() {
  local pid kb
  [ -f "$T/$1.pid" ] || return 0
  pid=$(cat "$T/$1.pid")
  kb=$(fault_rss_read "$pid")
  [ -n "$kb" ] || return 0
  # written aside and renamed: a reader never sees the file empty, as it
  # could between ">"'s truncation and the write. The aside file is named for
  # the writing shell too: the background sampler and fault_kill sample the
  # same projector at the same moment, and one shared aside name let one
  # writer rename the other's file away ("mv: cannot stat", a red fault.sigkill)
  echo "$kb" >"$T/rss-new.$1.$pid.$BASHPID"
  mv -f "$T/rss-new.$1.$pid.$BASHPID" "$T/rss/$1.$pid"
}

# A background sampler: every projector's peak RSS, five times a second, so
# that a SIGKILL or an exit loses at most 0.2 s of growth.
fault_rss_sampler() {
  (
    set +e
    while :; do
      [ -f "$T/projectors" ] && while read -r n; do fault_rss_sample "$n"; done <"$T/projectors"
      sleep 0.2
    done
  ) >/dev/null 2>&1 &
  echo $! >"$T/rss-sampler.pid"
}

# fault_peak_rss_kb [NAME_PATTERN]: the highest peak RSS recorded (kB).
fault_peak_rss_kb() {
  local f max=0 v
  for f in "$T"/rss/${1:-*}.*; do
    [ -f "$f" ] || continue
    v=$(cat "$f")
    [ "$v" -gt "$max" ] && max=$v
  done
  echo "$max"
}

# fault_kill NAME SIGNAL: sends SIGNAL (KILL, STOP...) to NAME; after KILL
# the process is reaped and its pid file removed.
fault_kill() {
  local pid
  pid=$(fault_pid "$1")
  fault_rss_sample "$1"
  kill -"$2" "$pid"
  if [ "$2" = KILL ] || [ "$2" = 9 ]; then
    wait "$pid" 2>/dev/null || true
    rm -f "$T/$1.pid"
  fi
}

# fault_stop NAME [SECONDS]: SIGTERM; sets FAULT_STOP_RC (exit status, 124
# when it did not exit within SECONDS, default 5, and was SIGKILLed) and
# FAULT_STOP_MS (time to exit).
fault_stop() {
  local pid t0 i
  pid=$(fault_pid "$1")
  fault_rss_sample "$1"
  t0=${EPOCHREALTIME/./}
  kill -TERM "$pid"
  for ((i = 0; i < ${2:-5} * 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  FAULT_STOP_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    FAULT_STOP_RC=124
  else
    FAULT_STOP_RC=0
    wait "$pid" || FAULT_STOP_RC=$?
  fi
  rm -f "$T/$1.pid"
}

# fault_stop_all: SIGTERM to every projector of the fault run still running.
fault_stop_all() {
  local n
  [ -f "$T/projectors" ] || return 0
  while read -r n; do
    [ -f "$T/$n.pid" ] && fault_stop "$n" 10
  done <"$T/projectors"
  return 0
}

# fault_injected [N]: counts injected faults (the table's "runs").
fault_injected() { FAULT_INJECTED=$((FAULT_INJECTED + ${1:-1})); }

# fault_rand LO HI: sets FAULT_R to a seeded random integer in [LO, HI].
# Not through $(...): a subshell would reseed RANDOM and lose the sequence.
fault_rand() { FAULT_R=$((RANDOM * 32768 + RANDOM)) && FAULT_R=$((FAULT_R % ($2 - $1 + 1) + $1)); }

# fault_sleep_ms LO HI: sleeps a seeded random number of ms in [LO, HI].
fault_sleep_ms() {
  fault_rand "$1" "$2"
  sleep "$(printf '%d.%03d' $((FAULT_R / 1000)) $((FAULT_R % 1000)))"
}

# ---- PostgreSQL ----

# fault_pg_restart: an immediate restart (a crash, then crash recovery) of
# the harness's cluster on the same port.
fault_pg_restart() {
  tw_pg_run "$(tw_pg_bin)/pg_ctl" -D "$T/pg" -m immediate -w -t 60 -l "$T/pg/server.log" \
    restart >/dev/null || fail "pg_ctl restart -m immediate failed: $(tail -n 5 "$T/pg/server.log")"
}

# fault_pg_stop [MODE]: stops the cluster (fast unless given).
fault_pg_stop() {
  tw_pg_run "$(tw_pg_bin)/pg_ctl" -D "$T/pg" -m "${1:-fast}" -w -t 60 stop >/dev/null ||
    fail "pg_ctl stop -m ${1:-fast} failed"
}

# fault_pg_start: starts it again on the same port.
fault_pg_start() { tw_pg_start "$T/pg" "$PGPORT"; }

# fault_count PATTERN NAME: lines of NAME's log matching PATTERN (grep -E).
fault_count() { grep -cE "$1" "$T/$2.log" 2>/dev/null || true; }

# fault_wait_log PATTERN NAME N [TIMEOUT]: until NAME's log has more than N
# lines matching PATTERN.
fault_wait_log() {
  local i
  for ((i = 0; i < ${4:-30} * 10; i++)); do
    [ "$(fault_count "$1" "$2")" -gt "$3" ] && return 0
    sleep 0.1
  done
  fail "$2 did not log /$1/ within ${4:-30}s"
}

# fault_pg_conn NAME: "BACKEND_PID QUEUED" for each PostgreSQL connection of
# projector NAME: the backend serving it (matched by the client's TCP port)
# and how many bytes NAME has sent that the backend has not read yet.
fault_pg_conn() {
  local port queued
  "$PY" - "$(fault_pid "$1")" "$PGPORT" <<'PY' | while read -r port queued; do
import os, sys
pid, pgport = sys.argv[1], int(sys.argv[2])
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
rows = []
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    rows += [line.split() for line in open(f).readlines()[1:]]
port = lambda addr: int(addr.rsplit(":", 1)[1], 16)
for c in rows:
    if c[9] in inodes and port(c[2]) == pgport:  # NAME's end of a connection to PostgreSQL
        for s in rows:  # the server's end: its receive queue
            if port(s[1]) == pgport and port(s[2]) == port(c[1]):
                print(port(c[1]), int(s[4].split(":")[1], 16))
PY
    echo "$(q "SELECT pid FROM pg_stat_activity WHERE client_port = $port") $queued"
  done
}

# ---- the devbroker's control socket ----

# fault_broker COMMAND...: one control command (services/devbroker/main.c:
# ping, fail REQUEST ERROR COUNT, down B, up B, leader TOPIC P B, rtt B MS);
# fails the test unless the devbroker answers "ok".
fault_broker() {
  local reply
  reply=$("$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())' "$T/broker/control.sock" "$*") || fail "devbroker control socket: $*"
  case $reply in
    ok*) fault_say "devbroker: $*: $reply" ;;
    *) fail "the devbroker refused \"$*\": $reply" ;;
  esac
}

# ---- checks ----

# fault_invariant LABEL: what must hold at any moment, whatever the faults:
# one snapshot sees as many log rows as accepted events counted and as many
# dead letters as dead-lettered events counted (rows and offsets commit
# together). Skipped when PostgreSQL is unreachable.
fault_invariant() {
  local label=$1 r
  r=$(psql -XAtq -c "SELECT (SELECT count(*) FROM audit.event_log) || ' ' ||
      coalesce((SELECT sum(accepted) FROM ingest.partition_offset), 0) || ' ' ||
      (SELECT count(*) FROM ingest.dead_letter) || ' ' ||
      coalesce((SELECT sum(dead_lettered) FROM ingest.partition_offset), 0)" 2>/dev/null) || return 0
  set -- $r
  [ "$1" = "$2" ] && [ "$3" = "$4" ] ||
    fail "$label: log rows $1 vs accepted counted $2, dead letters $3 vs dead-lettered counted $4"
}

# fault_caught_up [TIMEOUT] [DB]: until the stored offsets reach the high
# watermarks (after the producer has finished).
fault_caught_up() {
  PGDATABASE=${2:-$PGDATABASE} "$TWINCTL" wait --caught-up --timeout "${1:-120}" >/dev/null
}

# fault_results DB PREFIX: the facts fault_check compares, into $T/PREFIX.*
fault_results() {
  local db=$1 out=$T/$2
  PGDATABASE=$db "$TWINCTL" digest >"$out.digest"
  psql -XAtq -d "$db" -c "SELECT coalesce(sum(accepted), 0), coalesce(sum(dead_lettered), 0),
      coalesce(sum(duplicates), 0), coalesce(sum(next_offset), 0),
      (SELECT count(*) FROM audit.event_log), (SELECT count(DISTINCT event_id) FROM audit.event_log),
      (SELECT count(*) FROM ingest.dead_letter),
      (SELECT count(DISTINCT (kafka_partition, kafka_offset)) FROM ingest.dead_letter)
      FROM ingest.partition_offset WHERE topic = '$TOPIC'" | tr '|' ' ' >"$out.counts"
  psql -XAtq -d "$db" -c "COPY (SELECT event_id FROM audit.event_log ORDER BY 1) TO STDOUT" |
    LC_ALL=C sort >"$out.ids"
  psql -XAtq -d "$db" -c "COPY (SELECT kafka_partition || '@' || kafka_offset || ' ' || reason
      FROM ingest.dead_letter) TO STDOUT" | LC_ALL=C sort >"$out.dead"
  psql -XAtq -d "$db" -c "SELECT reason || ' ' || count(*) FROM ingest.dead_letter
      GROUP BY reason ORDER BY reason" >"$out.reasons"
}

# fault_reference_start: starts the reference run's projector: the same
# feed, no fault, into the database twinwatch_ref. Tests whose faults do not
# touch PostgreSQL or the broker start it early, so that it follows the feed
# while the fault run goes on; the others let fault_check start it after the
# fault run.
fault_reference_start() {
  FAULT_REF_T0=$SECONDS
  psql -XAtq -d postgres -c "CREATE DATABASE twinwatch_ref"
  PGDATABASE=twinwatch_ref "$TWINCTL" migrate >/dev/null
  PGDATABASE=twinwatch_ref "$TWINCTL" load-reference --agencies "$T/ref/agencies.csv" \
    --localities "$T/ref/localities.csv" >/dev/null
  start_projector reference --set pg.conninfo="dbname=twinwatch_ref" \
    --set group.id=fault-reference
}

# fault_reference: the reference run's result (once per test; the producer
# must have finished), checked against the outcome the scenario generator
# knows.
fault_reference() {
  [ -f "$T/ref.counts" ] && return 0
  [ -f "$T/reference.pid" ] || fault_reference_start
  fault_caught_up 600 twinwatch_ref || fail "the reference run did not catch up"
  stop_projector reference
  fault_results twinwatch_ref ref
  # the generator's own account of the feed, and the no-fault projection
  # must agree, or the comparison below would prove little
  local a d u
  read -r a d u _ <"$T/ref.counts"
  local want
  want="$(($(json_get accepted) + FAULT_EXTRA)) $(($(json_get dead_lettered) + FAULT_EXTRA_DEAD))"
  want+=" $(json_get duplicates)"
  if [ "$FAULT_BROKER_LOST" = 0 ]; then
    [ "$a $d $u" = "$want" ] ||
      fail "reference run: accepted, dead-lettered, duplicates = $a $d $u; the scenario says $want"
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))["dead_letter_reasons"]
if int(sys.argv[2]):
    d[sys.argv[3]] = d.get(sys.argv[3], 0) + int(sys.argv[2])
for k in sorted(d): print(k, d[k])' "$T/expected.json" "$FAULT_EXTRA_DEAD" \
      "${FAULT_EXTRA_DEAD_REASON:-undecodable}" >"$T/expected.reasons"
    diff -u "$T/expected.reasons" "$T/ref.reasons" >&2 ||
      fail "reference run: dead letters by reason differ from the scenario's (- scenario, + run)"
  else
    fault_say "NOTE: the reference run is not checked against the scenario's account ($FAULT_BROKER_LOST messages lost by the devbroker)"
  fi
  fault_say "reference run (no fault): $(cut -d' ' -f1 "$T/ref.digest"), $a accepted, $d dead-lettered, $u duplicates, $((SECONDS - FAULT_REF_T0))s"
}

# fault_check NAME: waits until the run has caught up, stops its projectors
# and compares it with the reference run: digest, accepted and dead-letter
# counts, duplicates ignored, no event twice, the reconciliation line, peak
# RSS. Appends the table row, then fails if anything differed.
fault_check() {
  local name=$1 a d u nxt logn logd deadn deadd produced
  fault_produce_wait
  produced=$((FAULT_PRODUCED + FAULT_EXTRA + FAULT_EXTRA_DEAD - FAULT_BROKER_LOST)) # what the broker holds
  fault_caught_up 300 || FAULT_FAILED+=("the run did not catch up within 300s")
  fault_stop_all
  kill "$(cat "$T/rss-sampler.pid")" 2>/dev/null || true
  rm -f "$T/rss-sampler.pid"
  fault_results "$PGDATABASE" run
  fault_reference
  read -r a d u nxt logn logd deadn deadd <"$T/run.counts"
  read -r ra rd ru _ <"$T/ref.counts"

  local digest_eq=yes lost dup
  if ! cmp -s "$T/run.digest" "$T/ref.digest"; then
    digest_eq=no
    FAULT_FAILED+=("digest $(cat "$T/run.digest") differs from the reference run's $(cat "$T/ref.digest")")
  fi
  [ "$a" = "$ra" ] || FAULT_FAILED+=("accepted $a, reference $ra")
  [ "$d" = "$rd" ] || FAULT_FAILED+=("dead-lettered $d, reference $rd")
  [ "$u" = "$ru" ] || FAULT_FAILED+=("duplicates ignored $u, reference $ru")
  [ "$logn" = "$logd" ] || FAULT_FAILED+=("$((logn - logd)) event_id(s) twice in audit.event_log")
  [ "$logn" = "$a" ] || FAULT_FAILED+=("audit.event_log has $logn rows, the partitions counted $a accepted")
  [ "$deadn" = "$d" ] || FAULT_FAILED+=("ingest.dead_letter has $deadn rows, the partitions counted $d")
  [ "$deadn" = "$deadd" ] || FAULT_FAILED+=("$((deadn - deadd)) dead letter(s) twice for one offset")
  [ "$nxt" = "$produced" ] ||
    FAULT_FAILED+=("stored next offsets add up to $nxt, $produced were produced")
  # lost: what the reference has and the run does not; duplicated: rows
  # beyond one per event, and what the run has and the reference does not
  lost=$(($(LC_ALL=C comm -23 "$T/ref.ids" "$T/run.ids" | wc -l) +
    $(LC_ALL=C comm -23 "$T/ref.dead" "$T/run.dead" | wc -l)))
  dup=$(($(LC_ALL=C comm -13 "$T/ref.ids" "$T/run.ids" | wc -l) +
    $(LC_ALL=C comm -13 "$T/ref.dead" "$T/run.dead" | wc -l) + logn - logd + deadn - deadd))
  [ "$lost" = 0 ] || FAULT_FAILED+=("$lost event(s) of the reference run missing (log or dead letters)")
  [ "$dup" = 0 ] || FAULT_FAILED+=("$dup event(s) logged or dead-lettered beyond the reference run")

  local sum=$((a + d + u)) line
  line="$name: produced $produced = accepted $a + dead-lettered $d + duplicates ignored $u"
  if [ "$sum" = "$produced" ]; then
    echo "$line"
  else
    echo "$line: DOES NOT ADD UP ($sum)"
    FAULT_FAILED+=("reconciliation: $sum accounted for, $produced produced")
  fi

  local peak per=""
  peak=$(fault_peak_rss_kb)
  for f in "$T"/rss/*.*; do
    [ -f "$f" ] || continue
    case ${f##*/} in reference.*) continue ;; esac
    per+=" ${f##*/}=$(($(cat "$f") / 1024))"
  done
  echo "$name: peak RSS $((peak / 1024)) MB over $FAULT_PROCS projector process(es):${per:- none sampled}"
  if [ -n "${TW_FAULT_TABLE:-}" ]; then
    printf '| %-13s | %5s | %8s | %-12s | %4s | %10s | %8s |\n' "$name" "$FAULT_INJECTED" \
      "$produced" "$digest_eq" "$lost" "$dup" "$((peak / 1024)) MB" >>"$TW_FAULT_TABLE"
  fi
  if [ ${#FAULT_FAILED[@]} -gt 0 ]; then
    local f
    for f in "${FAULT_FAILED[@]}"; do echo "$name: $f" >&2; done
    fail "$name: the run differs from the reference run (${#FAULT_FAILED[@]} finding(s) above)"
  fi
  echo "$name: $FAULT_INJECTED fault(s), digest $(cut -d' ' -f1 "$T/run.digest") equal to the reference run, nothing lost, nothing twice"
}
